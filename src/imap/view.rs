//! MailboxView: one session's numbering of a selected mailbox.
//!
//! The view is the UIDs in ascending order; a message's sequence number is its index + 1. It is
//! built from the store on SELECT and afterwards changes only when the session tells its client
//! (`* N EXISTS` appends, `* N EXPUNGE` removes), never behind the client's back. Sequence-set
//! resolution costs memory proportional to the messages that exist, never to the numeric range
//! a client names (`1:4294967295` is as cheap as `1:*`).

use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};

#[derive(Clone, Debug, Default)]
pub struct MailboxView {
    uids: Vec<u32>,
}

impl MailboxView {
    pub fn new(uids: Vec<u32>) -> Self {
        debug_assert!(uids.windows(2).all(|w| w[0] < w[1]));
        MailboxView { uids }
    }

    /// The number of messages the client knows of (its last EXISTS).
    pub fn len(&self) -> u32 {
        self.uids.len() as u32
    }

    pub fn is_empty(&self) -> bool {
        self.uids.is_empty()
    }

    pub fn uids(&self) -> &[u32] {
        &self.uids
    }

    pub fn max_uid(&self) -> Option<u32> {
        self.uids.last().copied()
    }

    /// The UID of sequence number `seq`.
    pub fn uid(&self, seq: u32) -> Option<u32> {
        self.uids.get((seq as usize).checked_sub(1)?).copied()
    }

    /// The sequence number of `uid`.
    pub fn seq(&self, uid: u32) -> Option<u32> {
        self.uids.binary_search(&uid).ok().map(|i| i as u32 + 1)
    }

    /// The sequence numbers of `uids` (any order), in the same order, leaving out UIDs the
    /// view does not number.
    pub fn seqs_of(&self, uids: &[u32]) -> Vec<u32> {
        self.seq_each(uids).into_iter().flatten().collect()
    }

    /// The sequence number of each of `uids` (any order), `None` for a UID the view does not
    /// number. For many UIDs of a view whose UIDs are not too sparse (at most four UIDs of
    /// range per message, as in most folders) a table from UID to number makes it one lookup
    /// each instead of a binary search (a SORT of 100,000 messages).
    pub fn seq_each(&self, uids: &[u32]) -> Vec<Option<u32>> {
        let (Some(&first), Some(&last)) = (self.uids.first(), self.uids.last()) else {
            return vec![None; uids.len()];
        };
        let span = (last - first) as usize + 1;
        if uids.len() < 64 || span > self.uids.len().saturating_mul(4) {
            return uids.iter().map(|&u| self.seq(u)).collect();
        }
        let mut table = vec![0u32; span];
        for (i, &u) in self.uids.iter().enumerate() {
            table[(u - first) as usize] = i as u32 + 1;
        }
        uids.iter()
            .map(|&u| {
                let at = usize::try_from(u.checked_sub(first)?).ok()?;
                table.get(at).copied().filter(|&n| n != 0)
            })
            .collect()
    }

    /// Add a new message at the end (the caller then sends `* N EXISTS`).
    pub fn push(&mut self, uid: u32) {
        if self.uids.last().is_none_or(|&last| last < uid) {
            self.uids.push(uid);
        }
    }

    /// Remove a message; returns the sequence number it had, to send as `* N EXPUNGE`.
    pub fn remove(&mut self, uid: u32) -> Option<u32> {
        let i = self.uids.binary_search(&uid).ok()?;
        self.uids.remove(i);
        Some(i as u32 + 1)
    }

    /// Remove several messages; returns the `* N EXPUNGE` numbers to send, in order. As in the
    /// RFC 3501 §7.4.1 example, they ascend and each accounts for the removals sent before it
    /// (removing 3, 4, 7 and 11 announces 3, 3, 5, 8), so each is valid when it is sent.
    pub fn remove_all(&mut self, uids: &[u32]) -> Vec<u32> {
        let mut seqs: Vec<u32> = uids.iter().filter_map(|u| self.seq(*u)).collect();
        seqs.sort_unstable();
        seqs.dedup();
        for (i, s) in seqs.iter_mut().enumerate() {
            *s -= i as u32;
        }
        let mut keep = Vec::with_capacity(self.uids.len().saturating_sub(seqs.len()));
        let mut j = 0;
        let mut sorted = uids.to_vec();
        sorted.sort_unstable();
        for &u in &self.uids {
            while j < sorted.len() && sorted[j] < u {
                j += 1;
            }
            if j < sorted.len() && sorted[j] == u {
                continue;
            }
            keep.push(u);
        }
        self.uids = keep;
        seqs
    }

    /// Indices (seq - 1) named by a sequence-number set, ascending and without duplicates.
    /// Numbers beyond the mailbox are ignored here; the caller decides whether that is an error.
    pub fn resolve_seqs(&self, set: &SequenceSet) -> Vec<usize> {
        let n = self.uids.len() as u32;
        if n == 0 {
            return Vec::new();
        }
        ranges(set, n)
            .into_iter()
            .filter(|&(lo, _)| lo <= n)
            .flat_map(|(lo, hi)| (lo as usize - 1)..(hi.min(n) as usize))
            .collect()
    }

    /// Whether every number of a sequence-number set names a message (RFC 3501: a number
    /// beyond the mailbox is an error for FETCH/STORE/COPY by sequence number).
    pub fn seqs_in_range(&self, set: &SequenceSet) -> bool {
        let n = self.uids.len() as u32;
        set.0.as_ref().iter().all(|seq| {
            let ok = |s: &SeqOrUid| match s {
                SeqOrUid::Asterisk => n > 0,
                SeqOrUid::Value(v) => v.get() <= n,
            };
            match seq {
                Sequence::Single(s) => ok(s),
                Sequence::Range(a, b) => ok(a) && ok(b),
            }
        })
    }

    /// Indices (seq - 1) named by a UID set, ascending and without duplicates. Non-existent UIDs
    /// are ignored; `N:*` always includes the highest UID (RFC 3501 §6.4.8).
    pub fn resolve_uids(&self, set: &SequenceSet) -> Vec<usize> {
        let Some(max) = self.max_uid() else {
            return Vec::new();
        };
        let mut out = Vec::new();
        for (lo, hi) in ranges(set, max) {
            let start = self.uids.partition_point(|&u| u < lo);
            let end = self.uids.partition_point(|&u| u <= hi);
            out.extend(start..end);
        }
        out
    }
}

/// The set as sorted, merged, inclusive ranges, with `*` standing for `star` and ranges written
/// backwards turned round. Its size is that of the set as written, never of the numbers.
fn ranges(set: &SequenceSet, star: u32) -> Vec<(u32, u32)> {
    let value = |s: &SeqOrUid| match s {
        SeqOrUid::Asterisk => star,
        SeqOrUid::Value(v) => v.get(),
    };
    let mut out: Vec<(u32, u32)> = set
        .0
        .as_ref()
        .iter()
        .map(|seq| {
            let (a, b) = match seq {
                Sequence::Single(s) => (value(s), value(s)),
                Sequence::Range(a, b) => (value(a), value(b)),
            };
            (a.min(b), a.max(b))
        })
        .collect();
    merge(&mut out);
    out
}

/// Sort and merge overlapping or adjacent inclusive ranges in place.
fn merge(ranges: &mut Vec<(u32, u32)>) {
    ranges.sort_unstable();
    let mut out: Vec<(u32, u32)> = Vec::with_capacity(ranges.len());
    for &(lo, hi) in ranges.iter() {
        match out.last_mut() {
            Some(last) if lo <= last.1.saturating_add(1) => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    *ranges = out;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn seqs_of_agrees_with_seq_for_dense_and_sparse_views() {
        let dense: Vec<u32> = (10..300).filter(|u| u % 7 != 0).collect();
        let sparse: Vec<u32> = (1..200).map(|u| u * 1000).collect();
        for uids in [dense, sparse] {
            let v = MailboxView::new(uids.clone());
            // Any order, UIDs the view lacks (below, between, above) left out.
            let mut asked: Vec<u32> = (0..400_000)
                .step_by(997)
                .chain(uids.iter().copied())
                .collect();
            asked.reverse();
            let want: Vec<u32> = asked.iter().filter_map(|&u| v.seq(u)).collect();
            assert_eq!(v.seqs_of(&asked), want);
            let each: Vec<Option<u32>> = asked.iter().map(|&u| v.seq(u)).collect();
            assert_eq!(v.seq_each(&asked), each);
            let few = &asked[asked.len() - 10..];
            let want: Vec<u32> = few.iter().filter_map(|&u| v.seq(u)).collect();
            assert_eq!(v.seqs_of(few), want);
        }
        assert!(MailboxView::default().seqs_of(&[1, 2]).is_empty());
    }

    fn set(s: &str) -> SequenceSet {
        SequenceSet::try_from(s).unwrap()
    }

    fn view() -> MailboxView {
        MailboxView::new(vec![3, 5, 9, 10, 20])
    }

    #[test]
    fn sequence_numbers() {
        let v = view();
        assert_eq!(v.resolve_seqs(&set("1:*")), vec![0, 1, 2, 3, 4]);
        assert_eq!(v.resolve_seqs(&set("*")), vec![4]);
        assert_eq!(v.resolve_seqs(&set("4:2")), vec![1, 2, 3]);
        assert_eq!(v.resolve_seqs(&set("*:4")), vec![3, 4]);
        assert_eq!(v.resolve_seqs(&set("2,2,1:2")), vec![0, 1]);
        assert_eq!(v.resolve_seqs(&set("1:4294967295")), vec![0, 1, 2, 3, 4]);
        assert_eq!(v.resolve_seqs(&set("7")), Vec::<usize>::new());
        assert!(v.seqs_in_range(&set("1:5,*")));
        assert!(!v.seqs_in_range(&set("1:6")));
        assert!(!MailboxView::default().seqs_in_range(&set("*")));
    }

    #[test]
    fn uids() {
        let v = view();
        assert_eq!(v.resolve_uids(&set("1:*")), vec![0, 1, 2, 3, 4]);
        assert_eq!(v.resolve_uids(&set("4:9")), vec![1, 2]);
        assert_eq!(v.resolve_uids(&set("100:*")), vec![4]);
        assert_eq!(v.resolve_uids(&set("*:100")), vec![4]);
        assert_eq!(v.resolve_uids(&set("6:8")), Vec::<usize>::new());
        assert_eq!(v.resolve_uids(&set("10,3,10")), vec![0, 3]);
        assert!(MailboxView::default().resolve_uids(&set("1:*")).is_empty());
    }

    #[test]
    fn huge_sets_stay_small() {
        let v = view();
        let many: Vec<String> = (1..=100_000).map(|i| i.to_string()).collect();
        let s = set(&many.join(","));
        assert_eq!(v.resolve_seqs(&s).len(), 5);
        assert_eq!(v.resolve_uids(&s).len(), 5);
    }

    #[test]
    fn a_million_messages_cost_what_they_are() {
        let v = MailboxView::new((1..=1_000_000).map(|u| u * 2).collect());
        assert_eq!(v.resolve_uids(&set("1:*")).len(), 1_000_000);
        assert_eq!(v.resolve_uids(&set("*:1")).len(), 1_000_000);
        assert_eq!(v.resolve_seqs(&set("*:1")).len(), 1_000_000);
        assert_eq!(v.resolve_uids(&set("1:4294967295")).len(), 1_000_000);
        assert_eq!(v.resolve_uids(&set("2000001:4294967295")).len(), 0);
        assert_eq!(v.resolve_uids(&set("4294967295:*")), vec![999_999]);
    }

    #[test]
    fn expunge_numbering() {
        let mut v = view();
        // Removing UIDs 5 and 10 (seq 2 and 4): 2 first, then 4 has become 3.
        assert_eq!(v.remove_all(&[10, 5]), vec![2, 3]);
        assert_eq!(v.uids(), &[3, 9, 20]);
        assert_eq!(v.remove(20), Some(3));
        assert_eq!(v.seq(9), Some(2));
        v.push(21);
        assert_eq!(v.uid(3), Some(21));
    }
}
