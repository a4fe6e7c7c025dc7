//! An in-process copy of the stored SORT/THREAD keys of the folders sessions sort, so that a
//! repeated SORT or THREAD of a large folder reads nothing from the database and compares
//! small integers instead of strings. Runtime-free (a std mutex; called on the blocking pool).
//!
//! Why it can be simple: a message's keys never change (they belong to its immutable body,
//! and a UID names one message for the life of a UIDVALIDITY), so an entry is never stale —
//! it can only miss messages that arrived since it was built (read then, by UID) and hold
//! messages since expunged (dropped when the entry is next extended). Flag changes do not
//! touch it. Each criterion's order is computed once per entry, as a rank per message
//! ([`Folder::rank`]), so sorting is an integer sort.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use imap_codec::imap_types::extensions::sort::{SortCriterion, SortKey};

use crate::mime::Keys;
use crate::store::{MailboxId, Scan, SortRow, StoreError};

/// How many messages all entries together may hold (about 0.5 KB each); the least recently
/// used folders go first. A folder larger than this alone is sorted without being kept.
pub const MAX_CACHED_MESSAGES: usize = 1_000_000;

/// The keys of one folder's messages, ascending by UID.
pub struct Folder {
    uidvalidity: u32,
    items: Vec<SortRow>,
    /// `Some(m)`: the items are exactly the folder's messages in a snapshot where its highest
    /// modseq was `m`, so while it still is, `ALL` needs no listing of the folder.
    complete_at: Mutex<Option<u64>>,
    /// Per sort key, each item's rank in that key's order (equal keys, equal ranks).
    ranks: [OnceLock<Vec<u32>>; 9],
    /// Per sort key, every position in that key's order (ties by position): a single-key
    /// SORT of (most of) the folder is a walk of it, not a sort.
    orders: [OnceLock<Vec<u32>>; 9],
}

fn key_index(key: &SortKey) -> usize {
    match key {
        SortKey::Arrival => 0,
        SortKey::Cc => 1,
        SortKey::Date => 2,
        SortKey::From => 3,
        SortKey::Size => 4,
        SortKey::Subject => 5,
        SortKey::To => 6,
        SortKey::DisplayFrom => 7,
        SortKey::DisplayTo => 8,
    }
}

/// The order of items `a` and `b` under one key.
fn cmp_key(it: &[SortRow], key: &SortKey, a: usize, b: usize) -> std::cmp::Ordering {
    let (x, y) = (&it[a], &it[b]);
    match key {
        SortKey::Arrival => x.internal_date.cmp(&y.internal_date),
        SortKey::Size => x.size.cmp(&y.size),
        SortKey::Date => x.date().cmp(&y.date()),
        SortKey::Cc => x.fields.cc.cmp(&y.fields.cc),
        SortKey::From => x.fields.from.cmp(&y.fields.from),
        SortKey::To => x.fields.to.cmp(&y.fields.to),
        SortKey::Subject => x.fields.subject.cmp(&y.fields.subject),
        SortKey::DisplayFrom => x.fields.display_from.cmp(&y.fields.display_from),
        SortKey::DisplayTo => x.fields.display_to.cmp(&y.fields.display_to),
    }
}

/// Dense ranks of `n` items under `cmp`.
fn ranks_by(n: usize, cmp: impl Fn(usize, usize) -> std::cmp::Ordering) -> Vec<u32> {
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_unstable_by(|&a, &b| cmp(a, b));
    let mut ranks = vec![0u32; n];
    let mut rank = 0u32;
    for (k, &i) in order.iter().enumerate() {
        if k > 0 && cmp(order[k - 1], i) != std::cmp::Ordering::Equal {
            rank += 1;
        }
        ranks[i] = rank;
    }
    ranks
}

impl Folder {
    fn new(uidvalidity: u32, items: Vec<SortRow>, complete_at: Option<u64>) -> Folder {
        Folder {
            uidvalidity,
            items,
            complete_at: Mutex::new(complete_at),
            ranks: Default::default(),
            orders: Default::default(),
        }
    }

    fn complete_at(&self) -> Option<u64> {
        *self
            .complete_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn set_complete_at(&self, modseq: u64) {
        *self
            .complete_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(modseq);
    }

    pub fn items(&self) -> &[SortRow] {
        &self.items
    }

    /// The positions in [`Folder::items`] of `uids` (ascending); UIDs it does not hold are
    /// left out.
    pub fn positions(&self, uids: &[u32]) -> Vec<usize> {
        if uids.len() == self.items.len() && self.items.iter().zip(uids).all(|(k, &u)| k.uid == u) {
            return (0..uids.len()).collect();
        }
        let mut out = Vec::with_capacity(uids.len());
        let mut from = 0;
        for &u in uids {
            if let Ok(k) = self.items[from..].binary_search_by_key(&u, |k| k.uid) {
                out.push(from + k);
                from += k + 1;
            }
        }
        out
    }

    /// Each item's rank under `key`, computed on first use.
    pub fn rank(&self, key: &SortKey) -> &[u32] {
        let it = &self.items;
        self.ranks[key_index(key)].get_or_init(|| ranks_by(it.len(), |a, b| cmp_key(it, key, a, b)))
    }

    /// Every position, ascending by `key` (ties by position), computed on first use.
    fn order(&self, key: &SortKey) -> &[u32] {
        self.orders[key_index(key)].get_or_init(|| {
            let rank = self.rank(key);
            let mut packed: Vec<u64> = (0..self.items.len())
                .map(|i| (u64::from(rank[i]) << 32) | i as u64)
                .collect();
            packed.sort_unstable();
            packed.into_iter().map(|p| p as u32).collect()
        })
    }

    /// The items at `positions` (ascending) in the order of one key, from the kept order of
    /// the whole folder: ascending, or REVERSE, where each run of equal keys keeps its
    /// ascending positions (ties in UID order either way).
    fn by_order(&self, positions: &[usize], criterion: &SortCriterion) -> Vec<usize> {
        let n = self.items.len();
        let order = self.order(&criterion.key);
        let asc: Vec<usize> = if positions.len() == n {
            order.iter().map(|&p| p as usize).collect()
        } else {
            let mut keep = vec![false; n];
            for &p in positions {
                keep[p] = true;
            }
            order
                .iter()
                .map(|&p| p as usize)
                .filter(|&p| keep[p])
                .collect()
        };
        if !criterion.reverse {
            return asc;
        }
        let rank = self.rank(&criterion.key);
        let mut out = Vec::with_capacity(asc.len());
        let mut end = asc.len();
        while end > 0 {
            let r = rank[asc[end - 1]];
            let mut start = end - 1;
            while start > 0 && rank[asc[start - 1]] == r {
                start -= 1;
            }
            out.extend_from_slice(&asc[start..end]);
            end = start;
        }
        out
    }

    /// The position in [`Folder::items`] of `uid`.
    pub fn position(&self, uid: u32) -> Option<usize> {
        self.items.binary_search_by_key(&uid, |k| k.uid).ok()
    }

    /// The order of the items at positions `a` and `b` under `criteria` (REVERSE reversing
    /// its own key only), ties in UID order: where [`Folder::sort`] puts them, found by
    /// comparing keys, so one message can be placed without ranking the whole folder.
    pub fn compare(&self, criteria: &[SortCriterion], a: usize, b: usize) -> std::cmp::Ordering {
        criteria
            .iter()
            .map(|c| {
                let o = cmp_key(&self.items, &c.key, a, b);
                if c.reverse {
                    o.reverse()
                } else {
                    o
                }
            })
            .find(|o| o.is_ne())
            .unwrap_or_else(|| a.cmp(&b))
    }

    /// The items at `positions` (ascending) sorted by `criteria` in turn (REVERSE reversing
    /// its own key only), ties in UID order (RFC 5256: by sequence number).
    pub fn sort(&self, mut positions: Vec<usize>, criteria: &[SortCriterion]) -> Vec<usize> {
        if let [one] = criteria {
            // Most of the folder: walk the key's kept order (built once) instead of sorting.
            let ascending = positions
                .windows(2)
                .all(|w| w[0] < w[1] && w[1] < self.items.len());
            if ascending && positions.len() * 4 >= self.items.len() && !positions.is_empty() {
                return self.by_order(&positions, one);
            }
        }
        let keys: Vec<(&[u32], bool)> = criteria
            .iter()
            .map(|c| (self.rank(&c.key), c.reverse))
            .collect();
        let rank = |(r, reverse): (&[u32], bool), i: usize| {
            if reverse {
                u32::MAX - r[i]
            } else {
                r[i]
            }
        };
        if let [one] = keys[..] {
            // One key: one integer sort of (rank, position), positions being UID order.
            let mut packed: Vec<u64> = positions
                .iter()
                .map(|&i| (u64::from(rank(one, i)) << 32) | i as u64)
                .collect();
            packed.sort_unstable();
            return packed
                .into_iter()
                .map(|p| (p & 0xffff_ffff) as usize)
                .collect();
        }
        positions.sort_by(|&a, &b| {
            keys.iter()
                .map(|&k| rank(k, a).cmp(&rank(k, b)))
                .find(|o| o.is_ne())
                .unwrap_or_else(|| a.cmp(&b))
        });
        positions
    }
}

struct Entry {
    folder: Arc<Folder>,
    used: u64,
}

#[derive(Default)]
pub struct SortCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    folders: HashMap<MailboxId, Entry>,
    clock: u64,
}

impl SortCache {
    /// The keys of `mailbox` covering at least `wanted` (ascending), read from the store where
    /// the cached entry lacks them. `known` (ascending) is every UID the asking session
    /// numbers: an extended entry keeps only those of its messages (the others are expunged or
    /// will be read again when asked for).
    pub fn folder(
        &self,
        scan: &Scan,
        mailbox: MailboxId,
        uidvalidity: u32,
        known: &[u32],
        wanted: &[u32],
    ) -> Result<Arc<Folder>, StoreError> {
        let cached = self.cached(mailbox, uidvalidity);
        let have: &[SortRow] = cached.as_deref().map(Folder::items).unwrap_or(&[]);
        let missing: Vec<u32> = wanted
            .iter()
            .copied()
            .filter(|u| have.binary_search_by_key(u, |k| k.uid).is_err())
            .collect();
        if missing.is_empty() {
            if let Some(f) = cached {
                return Ok(f);
            }
        }
        let fresh = scan.sort_rows(mailbox, &missing, Keys::ALL, true)?;
        let mut items: Vec<SortRow> = Vec::with_capacity(have.len() + fresh.len());
        items.extend(
            have.iter()
                .filter(|k| known.binary_search(&k.uid).is_ok())
                .cloned(),
        );
        items.extend(fresh);
        items.sort_by_key(|k| k.uid);
        let folder = Arc::new(Folder::new(uidvalidity, items, None));
        self.keep(mailbox, folder.clone());
        Ok(folder)
    }

    /// The keys of all of `mailbox`'s messages and the positions among them of those in
    /// `known` (ascending; the UIDs the asking session numbers): what `ALL` matches. The
    /// folder is listed only when its highest modseq moved since the cached entry was last
    /// found complete; when the listing shows the same messages the entry (and the orders it
    /// keeps) stays.
    pub fn all(
        &self,
        scan: &Scan,
        mailbox: MailboxId,
        uidvalidity: u32,
        known: &[u32],
    ) -> Result<(Arc<Folder>, Vec<usize>), StoreError> {
        let modseq = scan.highest_modseq(mailbox)?;
        let cached = self.cached(mailbox, uidvalidity);
        if let Some(f) = cached.as_ref().filter(|f| f.complete_at() == Some(modseq)) {
            return Ok((f.clone(), f.positions(known)));
        }
        let existing = scan.search(mailbox, &crate::store::Cond::All)?;
        let have: &[SortRow] = cached.as_deref().map(Folder::items).unwrap_or(&[]);
        if have.len() == existing.len() && have.iter().zip(&existing).all(|(k, &u)| k.uid == u) {
            if let Some(f) = cached {
                f.set_complete_at(modseq);
                let positions = f.positions(known);
                return Ok((f, positions));
            }
        }
        let missing: Vec<u32> = existing
            .iter()
            .copied()
            .filter(|u| have.binary_search_by_key(u, |k| k.uid).is_err())
            .collect();
        let fresh = scan.sort_rows(mailbox, &missing, Keys::ALL, true)?;
        let mut items: Vec<SortRow> = Vec::with_capacity(existing.len());
        items.extend(
            have.iter()
                .filter(|k| existing.binary_search(&k.uid).is_ok())
                .cloned(),
        );
        items.extend(fresh);
        items.sort_by_key(|k| k.uid);
        let folder = Arc::new(Folder::new(uidvalidity, items, Some(modseq)));
        self.keep(mailbox, folder.clone());
        let positions = folder.positions(known);
        Ok((folder, positions))
    }

    /// The cached entry of `mailbox` if it is of this UIDVALIDITY, marked as used.
    fn cached(&self, mailbox: MailboxId, uidvalidity: u32) -> Option<Arc<Folder>> {
        let mut g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        g.clock += 1;
        let now = g.clock;
        g.folders
            .get_mut(&mailbox)
            .filter(|e| e.folder.uidvalidity == uidvalidity)
            .map(|e| {
                e.used = now;
                e.folder.clone()
            })
    }

    fn keep(&self, mailbox: MailboxId, folder: Arc<Folder>) {
        let mut g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        g.folders.remove(&mailbox);
        if folder.items.len() > MAX_CACHED_MESSAGES {
            return;
        }
        let mut total: usize = g
            .folders
            .values()
            .map(|e| e.folder.items.len())
            .sum::<usize>()
            + folder.items.len();
        while total > MAX_CACHED_MESSAGES {
            let Some((&oldest, _)) = g.folders.iter().min_by_key(|(_, e)| e.used) else {
                break;
            };
            if let Some(e) = g.folders.remove(&oldest) {
                total -= e.folder.items.len();
            }
        }
        g.clock += 1;
        let used = g.clock;
        g.folders.insert(mailbox, Entry { folder, used });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mime::SortFields;

    fn folder(n: u32) -> Folder {
        // Few distinct subjects and sizes: long runs of equal keys.
        let items = (1..=n)
            .map(|uid| SortRow {
                uid: uid * 3,
                size: (uid * 7) % 5,
                internal_date: i64::from((uid * 13) % 11),
                fields: SortFields {
                    subject: ["b", "a", "c"][(uid % 3) as usize].into(),
                    ..SortFields::default()
                },
            })
            .collect();
        Folder::new(1, items, None)
    }

    /// The walk of a key's kept order gives what sorting by (rank, position) gives, REVERSE
    /// keeping ties in UID order, for the whole folder and for part of it.
    #[test]
    fn kept_order_matches_a_sort_with_ties_in_uid_order() {
        let f = folder(200);
        for key in [
            SortKey::Subject,
            SortKey::Size,
            SortKey::Arrival,
            SortKey::Cc,
        ] {
            for reverse in [false, true] {
                let c = SortCriterion {
                    reverse,
                    key: key.clone(),
                };
                for positions in [
                    (0..200).collect::<Vec<usize>>(),
                    (0..200).filter(|p| p % 3 != 1).collect(),
                ] {
                    let mut want = positions.clone();
                    want.sort_by(|&a, &b| f.compare(std::slice::from_ref(&c), a, b));
                    assert_eq!(f.sort(positions, std::slice::from_ref(&c)), want);
                }
            }
        }
    }
}
