//! SORT / UID SORT (RFC 5256, SORT=DISPLAY of RFC 5957) and THREAD / UID THREAD (RFC 5256;
//! ORDEREDSUBJECT, REFERENCES and Dovecot's REFS). imap-codec parses both commands and
//! encodes both responses; the criteria run through SEARCH (`search_uids`), then the matching
//! messages' keys (`mime::SortFields`, computed when each message was stored) come from the
//! server's `SortCache`, which reads the store only for messages it does not hold yet.

use std::num::NonZeroU32;
use std::sync::Arc;

use imap_codec::imap_types::core::{Charset, Vec1};
use imap_codec::imap_types::extensions::sort::SortCriterion;
use imap_codec::imap_types::extensions::thread::ThreadingAlgorithm;
use imap_codec::imap_types::search::SearchKey;

use crate::imap::cmd::search::Crit;
use crate::imap::session::{Done, Session};
use crate::imap::sortcache::{Folder, Need, SortCache};
use crate::imap::thread;
use crate::imap::{CmdError, CmdResult};
use crate::store::{MailboxId, Scan, StoreError};

/// Which THREAD algorithms this server runs (the capability names after `THREAD=`).
pub const ALGORITHMS: [&str; 3] = ["ORDEREDSUBJECT", "REFERENCES", "REFS"];

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Algorithm {
    OrderedSubject,
    References,
    Refs,
}

fn algorithm(a: &ThreadingAlgorithm) -> Option<Algorithm> {
    match a {
        ThreadingAlgorithm::OrderedSubject => Some(Algorithm::OrderedSubject),
        ThreadingAlgorithm::References => Some(Algorithm::References),
        ThreadingAlgorithm::Other(o) if o.as_ref().eq_ignore_ascii_case("REFS") => {
            Some(Algorithm::Refs)
        }
        _ => None,
    }
}

impl Algorithm {
    /// The stored keys the algorithm reads.
    fn need(self) -> Need {
        match self {
            Algorithm::OrderedSubject => Need::SUBJECT | Need::DATE,
            Algorithm::References => Need::SUBJECT | Need::DATE | Need::IDS,
            Algorithm::Refs => Need::DATE | Need::IDS,
        }
    }
}

impl Session {
    /// The number a client sees for each of `uids`: itself for UID SORT/THREAD, else its
    /// sequence number in this session's view (`None` when it has none).
    fn number_each(&self, uids: &[u32], by_uid: bool) -> Vec<Option<NonZeroU32>> {
        if by_uid {
            return uids.iter().map(|&u| NonZeroU32::new(u)).collect();
        }
        match self.state.selected() {
            Some(s) => s
                .view
                .seq_each(uids)
                .into_iter()
                .map(|n| n.and_then(NonZeroU32::new))
                .collect(),
            None => vec![None; uids.len()],
        }
    }

    /// The keys `need` of the folder (from the server's [`SortCache`], extended from the
    /// store on the blocking pool) and the positions in it of the matching messages, in UID
    /// order.
    async fn keyed_matches(
        &mut self,
        charset: Charset<'static>,
        criteria: Vec1<SearchKey<'static>>,
        need: Need,
    ) -> CmdResult<(Arc<Folder>, Vec<usize>, Crit)> {
        let (crit, want_modseq) = self.search_crit(Some(charset), criteria)?;
        if crit.is_all() && !want_modseq {
            // ALL: the folder's cached keys answer it, listed again only after a change.
            let (folder, positions) = self
                .with_sort_cache(move |scan, cache, mailbox, uidvalidity, known| {
                    cache.all(scan, mailbox, uidvalidity, known, need)
                })
                .await?;
            return Ok((folder, positions, crit));
        }
        let (found, crit) = self.search_crit_run(crit, want_modseq).await?;
        let found = found.uids;
        let folder = self.folder_keys(found.clone(), need).await?;
        let (folder, positions) = async_std::task::spawn_blocking(move || {
            let positions = folder.positions(&found);
            (folder, positions)
        })
        .await;
        Ok((folder, positions, crit))
    }

    /// The keys `need` of the selected folder covering at least `wanted` (ascending), from
    /// the server's [`SortCache`] (the store is read only for what it lacks).
    pub(crate) async fn folder_keys(
        &mut self,
        wanted: Vec<u32>,
        need: Need,
    ) -> CmdResult<Arc<Folder>> {
        self.with_sort_cache(move |scan, cache, mailbox, uidvalidity, known| {
            cache.folder(scan, mailbox, uidvalidity, known, &wanted, need)
        })
        .await
    }

    /// Run `f` on the blocking pool with one snapshot of the store, the server's
    /// [`SortCache`], the selected folder (its id and UIDVALIDITY) and the UIDs this session
    /// numbers.
    async fn with_sort_cache<T: Send + 'static>(
        &mut self,
        f: impl FnOnce(&Scan, &SortCache, MailboxId, u32, &[u32]) -> Result<T, StoreError>
            + Send
            + 'static,
    ) -> CmdResult<T> {
        let sel = self
            .state
            .selected()
            .ok_or_else(|| CmdError::bad("No mailbox selected"))?;
        let (mailbox, uidvalidity) = (sel.mailbox, sel.uidvalidity);
        let known = sel.view.uids().to_vec();
        let store = self.ctx.store.clone();
        let cache = self.ctx.sort_cache.clone();
        Ok(async_std::task::spawn_blocking(move || {
            store.scan(|scan| f(scan, &cache, mailbox, uidvalidity, &known))
        })
        .await?)
    }

    /// The UIDs of the matching messages in sort order, and the search criteria as
    /// evaluated (for a live SORT, RFC 5267 §4.3).
    pub(crate) async fn sorted_uids(
        &mut self,
        criteria: Vec1<SortCriterion>,
        charset: Charset<'static>,
        search: Vec1<SearchKey<'static>>,
    ) -> CmdResult<(Vec<u32>, Crit)> {
        let need = Need::sort(criteria.as_ref());
        let (folder, positions, crit) = self.keyed_matches(charset, search, need).await?;
        let sorted = async_std::task::spawn_blocking(move || {
            let order = folder.sort(positions, criteria.as_ref());
            order.into_iter().map(|i| folder.uid(i)).collect()
        })
        .await;
        Ok((sorted, crit))
    }

    /// The numbers a client sees for `uids`, in the same order (those this session does not
    /// number left out).
    pub(crate) fn numbers_of(&self, uids: &[u32], by_uid: bool) -> Vec<u32> {
        if by_uid {
            return uids.iter().copied().filter(|&u| u != 0).collect();
        }
        self.state
            .selected()
            .map(|s| s.view.seqs_of(uids))
            .unwrap_or_default()
    }

    pub(crate) async fn cmd_sort(
        &mut self,
        criteria: Vec1<SortCriterion>,
        charset: Charset<'static>,
        search: Vec1<SearchKey<'static>>,
        uid: bool,
    ) -> CmdResult<Done> {
        let (uids, _) = self.sorted_uids(criteria, charset, search).await?;
        let numbers = self.numbers_of(&uids, uid);
        self.conn
            .send_raw(&crate::imap::ext::search::sort_response(&numbers))
            .await
            .map_err(|e| CmdError::Bye(format!("write failed: {e}")))?;
        Ok(Done::ok(if uid {
            "UID SORT completed"
        } else {
            "SORT completed"
        }))
    }

    pub(crate) async fn cmd_thread(
        &mut self,
        algorithm_name: ThreadingAlgorithm<'static>,
        charset: Charset<'static>,
        search: Vec1<SearchKey<'static>>,
        uid: bool,
    ) -> CmdResult<Done> {
        let Some(alg) = algorithm(&algorithm_name) else {
            return Err(CmdError::bad(format!(
                "Unknown threading algorithm {algorithm_name}; this server has {}",
                ALGORITHMS.join(", ")
            )));
        };
        let (folder, positions, _) = self.keyed_matches(charset, search, alg.need()).await?;
        let uids: Vec<u32> = positions.iter().map(|&i| folder.uid(i)).collect();
        let forest = async_std::task::spawn_blocking(move || {
            let msgs = folder.thread_msgs(&positions, alg != Algorithm::Refs);
            match alg {
                Algorithm::OrderedSubject => thread::ordered_subject(&msgs),
                Algorithm::References => thread::references(&msgs),
                Algorithm::Refs => thread::refs(&msgs),
            }
        })
        .await;
        let numbers = self.number_each(&uids, uid);
        let threads = thread::to_wire(&forest, &|i| numbers.get(i).copied().flatten());
        self.conn
            .send_raw(&crate::imap::ext::search::thread_response(&threads))
            .await
            .map_err(|e| CmdError::Bye(format!("write failed: {e}")))?;
        Ok(Done::ok(if uid {
            "UID THREAD completed"
        } else {
            "THREAD completed"
        }))
    }
}
