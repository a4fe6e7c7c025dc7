//! CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 §4.3): searches kept up to date.
//!
//! `SEARCH RETURN (UPDATE ...)`, `SORT RETURN (UPDATE ...)` and their UID forms leave a
//! [`LiveSearch`] on the selected mailbox: the criteria as evaluated when the command ran
//! (sequence numbers in them stay resolved to the messages they named, as the RFC says),
//! the sort keys, and the result (UIDs; ascending for SEARCH, in sort order for SORT). The
//! change stream that produces EXISTS / EXPUNGE / FETCH (`sync.rs`) calls in here:
//! - [`Session::live_expunged`] just before the EXPUNGE (or VANISHED) responses, so the
//!   `REMOVEFROM` still names valid sequence numbers (§4.3.4);
//! - [`Session::live_changed`] after the FETCH and EXISTS responses of a batch, with the
//!   UIDs that arrived or changed flags: only those are tested against each live search
//!   (one metadata read for all of them), never the whole mailbox again; a SORT places each
//!   new match by comparing keys from the sort cache.
//!
//! Positions: SEARCH results stay in mailbox order, so they are told at position 0 (§4.3.3);
//! SORT results are told at their positions in sort order, removals first (each run at its
//! position after the runs before it were removed), then insertions (each run at its final
//! position, in ascending order), so applying them in order yields the sorted result.
//! At most [`MAX_LIVE_SEARCHES`] per session; more are answered but refused updates with
//! `NOUPDATE` (§4.3.1). They end with CANCELUPDATE or when the mailbox is left (they live in
//! the `Selected` state).

use std::cmp::Ordering;
use std::collections::BTreeSet;

use imap_codec::imap_types::core::Tag;
use imap_codec::imap_types::extensions::sort::SortCriterion;

use crate::imap::cmd::search::Crit;
use crate::imap::ext::search::{noupdate_response, update_response, UpdatePair};
use crate::imap::session::{Done, Session};
use crate::imap::{CmdError, CmdResult};

/// How many searches one session may keep updated at once (RFC 5267 §4.3.1 asks for at
/// least one). Each costs its result (4 bytes a matching message) and a test of every
/// arriving or changed message.
pub const MAX_LIVE_SEARCHES: usize = 8;

/// One search kept up to date.
#[derive(Debug)]
pub struct LiveSearch {
    /// The tag of the command that asked for it (the ESEARCH correlator).
    pub tag: String,
    /// UID SEARCH / UID SORT: tell UIDs; otherwise sequence numbers.
    pub uid: bool,
    crit: Crit,
    /// SORT's keys; `None` for SEARCH.
    sort: Option<Vec<SortCriterion>>,
    /// The matching UIDs in the requested order.
    result: Vec<u32>,
}

/// Remove from `result` the UIDs `gone` says, as REMOVEFROM pairs: runs of neighbours at
/// their 1-based position once the runs before them are removed.
fn remove_runs(result: &mut Vec<u32>, gone: impl Fn(u32) -> bool) -> Vec<UpdatePair> {
    let mut pairs: Vec<UpdatePair> = Vec::new();
    let mut kept = Vec::with_capacity(result.len());
    let mut in_run = false;
    for &u in result.iter() {
        if gone(u) {
            match pairs.last_mut() {
                Some((_, run)) if in_run => run.push(u),
                _ => pairs.push((kept.len() as u32 + 1, vec![u])),
            }
            in_run = true;
        } else {
            kept.push(u);
            in_run = false;
        }
    }
    *result = kept;
    pairs
}

/// Insert `new` (not in `result`) into `result`, which is in `cmp` order, as ADDTO pairs:
/// runs of neighbours at their final 1-based positions, ascending.
fn insert_runs(
    result: &mut Vec<u32>,
    new: &[u32],
    cmp: impl Fn(u32, u32) -> Ordering,
) -> Vec<UpdatePair> {
    let added: BTreeSet<u32> = new.iter().copied().collect();
    for &u in new {
        let at = result.partition_point(|&x| cmp(x, u) == Ordering::Less);
        result.insert(at, u);
    }
    let mut pairs: Vec<UpdatePair> = Vec::new();
    let mut prev: Option<usize> = None;
    for (i, &u) in result.iter().enumerate() {
        if !added.contains(&u) {
            continue;
        }
        match pairs.last_mut() {
            Some((_, run)) if prev == Some(i.wrapping_sub(1)) => run.push(u),
            _ => pairs.push((i as u32 + 1, vec![u])),
        }
        prev = Some(i);
    }
    pairs
}

impl LiveSearch {
    /// The changes to this (unsorted) search's result: `matched` are those of `touched` that
    /// match now. SEARCH results are in UID order and told at position 0.
    fn update_unsorted(&mut self, touched: &[u32], matched: &[u32]) -> (Vec<u32>, Vec<u32>) {
        let now = |u: &u32| matched.binary_search(u).is_ok();
        let had = |r: &[u32], u: &u32| r.binary_search(u).is_ok();
        let removed: Vec<u32> = touched
            .iter()
            .filter(|u| !now(u) && had(&self.result, u))
            .copied()
            .collect();
        let added: Vec<u32> = touched
            .iter()
            .filter(|u| now(u) && !had(&self.result, u))
            .copied()
            .collect();
        self.result.retain(|u| removed.binary_search(u).is_err());
        self.result.extend(&added);
        self.result.sort_unstable();
        (removed, added)
    }
}

impl Session {
    /// Before a search with UPDATE runs: a tag already naming a live search is refused
    /// (RFC 5267 §4.3).
    pub(crate) fn check_live_tag(&self, tag: &Tag<'static>) -> CmdResult<()> {
        let reused = self
            .state
            .selected()
            .is_some_and(|s| s.live.iter().any(|l| l.tag == tag.inner()));
        if reused {
            return Err(CmdError::bad(format!(
                "Tag reuse: {} already names a search with UPDATE",
                tag.inner()
            )));
        }
        Ok(())
    }

    /// After a search with UPDATE was answered: keep it, or say NOUPDATE when the session
    /// has [`MAX_LIVE_SEARCHES`] already.
    pub(crate) async fn keep_live(
        &mut self,
        tag: &Tag<'static>,
        uid: bool,
        crit: Crit,
        sort: Option<Vec<SortCriterion>>,
        mut result: Vec<u32>,
    ) -> CmdResult {
        let Some(sel) = self.state.selected_mut() else {
            return Ok(());
        };
        if sel.live.len() >= MAX_LIVE_SEARCHES {
            let text = format!(
                "Too many searches with UPDATE (the limit is {MAX_LIVE_SEARCHES}); \
                 CANCELUPDATE one first"
            );
            return self.send_line(&noupdate_response(tag.inner(), &text)).await;
        }
        if sort.is_none() {
            result.sort_unstable();
        }
        sel.live.push(LiveSearch {
            tag: tag.inner().to_string(),
            uid,
            crit,
            sort,
            result,
        });
        Ok(())
    }

    /// CANCELUPDATE: end the named live searches. As Dovecot does, a tag that names none
    /// makes the answer NO, after the others have ended.
    pub(crate) fn cmd_cancel_update(&mut self, tags: Vec<String>) -> CmdResult<Done> {
        let sel = self
            .state
            .selected_mut()
            .ok_or_else(|| CmdError::bad("No mailbox selected"))?;
        let mut unknown = Vec::new();
        for t in tags {
            let before = sel.live.len();
            sel.live.retain(|l| l.tag != t);
            if sel.live.len() == before {
                unknown.push(t);
            }
        }
        if !unknown.is_empty() {
            return Err(CmdError::no(format!(
                "No search with UPDATE has the tag {}",
                unknown.join(", ")
            )));
        }
        Ok(Done::ok("CANCELUPDATE completed, no further updates"))
    }

    async fn send_line(&mut self, line: &[u8]) -> CmdResult {
        self.conn
            .send_raw(line)
            .await
            .map_err(|e| CmdError::Bye(format!("write failed: {e}")))
    }

    /// The numbers a live search tells for `uids`: UIDs, or their sequence numbers now.
    fn live_numbers(&self, uid: bool, pairs: Vec<UpdatePair>) -> Vec<UpdatePair> {
        pairs
            .into_iter()
            .map(|(pos, uids)| (pos, self.numbers_of(&uids, uid)))
            .collect()
    }

    /// `uids` are about to be announced as expunged (the view still numbers them): REMOVEFROM
    /// for each live search that held any of them.
    pub(crate) async fn live_expunged(&mut self, uids: &[u32]) -> CmdResult {
        let Some(sel) = self.state.selected_mut() else {
            return Ok(());
        };
        if sel.live.is_empty() {
            return Ok(());
        }
        let mut gone = uids.to_vec();
        gone.sort_unstable();
        let mut lines = Vec::new();
        for live in sel.live.iter_mut() {
            let gone_here = |u: u32| gone.binary_search(&u).is_ok();
            let pairs = if live.sort.is_some() {
                remove_runs(&mut live.result, gone_here)
            } else {
                let removed: Vec<u32> = live
                    .result
                    .iter()
                    .copied()
                    .filter(|u| gone_here(*u))
                    .collect();
                live.result.retain(|u| !gone_here(*u));
                vec![(0, removed)]
            };
            lines.push((live.tag.clone(), live.uid, pairs));
        }
        for (tag, uid, pairs) in lines {
            let removed = self.live_numbers(uid, pairs);
            if let Some(line) = update_response(&tag, uid, &removed, &[]) {
                self.send_line(&line).await?;
            }
        }
        Ok(())
    }

    /// `touched` (the view numbers them all, none is waiting to be expunged) arrived or had
    /// their flags changed, and their FETCH / EXISTS responses are out: test them against
    /// every live search and tell what starts or stops matching.
    pub(crate) async fn live_changed(&mut self, mut touched: Vec<u32>) -> CmdResult {
        let crits: Vec<Crit> = match self.state.selected() {
            Some(sel) if !sel.live.is_empty() && !touched.is_empty() => {
                sel.live.iter().map(|l| l.crit.clone()).collect()
            }
            _ => return Ok(()),
        };
        touched.sort_unstable();
        touched.dedup();
        let matched = self.matches_among(crits, touched.clone()).await?;
        for (i, matched) in matched.into_iter().enumerate() {
            self.live_update(i, &touched, &matched).await?;
        }
        Ok(())
    }

    /// [`Session::live_changed`] for the `i`th live search.
    async fn live_update(&mut self, i: usize, touched: &[u32], matched: &[u32]) -> CmdResult {
        let Some(live) = self.state.selected_mut().and_then(|s| s.live.get_mut(i)) else {
            return Ok(());
        };
        let (tag, uid) = (live.tag.clone(), live.uid);
        let (removed, added) = match live.sort.clone() {
            None => {
                let (removed, added) = live.update_unsorted(touched, matched);
                (vec![(0, removed)], vec![(0, added)])
            }
            Some(criteria) => {
                let now = |u: u32| matched.binary_search(&u).is_ok();
                let was = |u: u32| touched.binary_search(&u).is_ok();
                let removed = remove_runs(&mut live.result, |u| was(u) && !now(u));
                let held: BTreeSet<u32> = live.result.iter().copied().collect();
                let new: Vec<u32> = matched
                    .iter()
                    .copied()
                    .filter(|u| !held.contains(u))
                    .collect();
                let added = if new.is_empty() {
                    Vec::new()
                } else {
                    let mut wanted: Vec<u32> =
                        held.iter().copied().chain(new.iter().copied()).collect();
                    wanted.sort_unstable();
                    let need = crate::imap::sortcache::Need::sort(&criteria);
                    let folder = self.folder_keys(wanted, need).await?;
                    let Some(live) = self.state.selected_mut().and_then(|s| s.live.get_mut(i))
                    else {
                        return Ok(());
                    };
                    let cmp = |a: u32, b: u32| match (folder.position(a), folder.position(b)) {
                        (Some(x), Some(y)) => folder.compare(&criteria, x, y),
                        _ => a.cmp(&b),
                    };
                    insert_runs(&mut live.result, &new, cmp)
                };
                (removed, added)
            }
        };
        let removed = self.live_numbers(uid, removed);
        let added = self.live_numbers(uid, added);
        if let Some(line) = update_response(&tag, uid, &removed, &added) {
            self.send_line(&line).await?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn removals_are_runs_at_their_positions() {
        let mut r = vec![9, 4, 7, 1, 3, 8];
        let pairs = remove_runs(&mut r, |u| [4, 7, 3].contains(&u));
        // Removing 4 7 at 2 leaves 9 1 3 8; then 3 is at 3.
        assert_eq!(pairs, vec![(2, vec![4, 7]), (3, vec![3])]);
        assert_eq!(r, vec![9, 1, 8]);
        assert!(remove_runs(&mut r, |_| false).is_empty());
    }

    #[test]
    fn insertions_are_runs_at_their_final_positions() {
        // Descending order (as SORT (REVERSE ARRIVAL) would have it).
        let mut r = vec![9, 7, 3];
        let pairs = insert_runs(&mut r, &[8, 1, 2, 10], |a, b| b.cmp(&a));
        assert_eq!(r, vec![10, 9, 8, 7, 3, 2, 1]);
        assert_eq!(pairs, vec![(1, vec![10]), (3, vec![8]), (6, vec![2, 1])]);
        // Applying the pairs in order to the old result gives the new one.
        let mut old = vec![9, 7, 3];
        for (pos, uids) in &pairs {
            for (k, u) in uids.iter().enumerate() {
                old.insert(*pos as usize - 1 + k, *u);
            }
        }
        assert_eq!(old, r);
    }
}
