//! SORT / UID SORT (RFC 5256, SORT=DISPLAY of RFC 5957) and THREAD / UID THREAD (RFC 5256;
//! ORDEREDSUBJECT, REFERENCES and Dovecot's REFS). imap-codec parses both commands and
//! encodes both responses; the criteria run through SEARCH (`search_uids`), then the matching
//! messages' keys (`mime::SortFields`, computed when each message was stored) are read from
//! the store on the blocking pool.

use std::cmp::Ordering;
use std::num::NonZeroU32;

use imap_codec::imap_types::core::{Charset, Vec1};
use imap_codec::imap_types::extensions::sort::{SortCriterion, SortKey};
use imap_codec::imap_types::extensions::thread::ThreadingAlgorithm;
use imap_codec::imap_types::response::Data;
use imap_codec::imap_types::search::SearchKey;

use crate::imap::session::{Done, Session};
use crate::imap::thread::{self, ThreadMsg};
use crate::imap::{CmdError, CmdResult};
use crate::mime::{Keys, SortFields};
use crate::store::{MailboxId, Scan, StoreError};

/// One message with everything SORT and THREAD compare.
#[derive(Debug, Clone)]
pub struct Keyed {
    pub uid: u32,
    pub size: u32,
    pub internal_date: i64,
    pub fields: SortFields,
}

impl Keyed {
    /// RFC 5256's DATE: the sent date, or INTERNALDATE when there is none.
    pub fn date(&self) -> i64 {
        self.fields.date.unwrap_or(self.internal_date)
    }
}

/// The keys `keys` of the messages `uids` (ascending), in that order, as the store keeps
/// them (computed when each message was stored). The size only when `with_size`.
pub fn keyed(
    scan: &Scan,
    mailbox: MailboxId,
    uids: &[u32],
    keys: Keys,
    with_size: bool,
) -> Result<Vec<Keyed>, StoreError> {
    let rows = scan.sort_rows(mailbox, uids, keys, with_size)?;
    Ok(rows
        .into_iter()
        .map(|row| Keyed {
            uid: row.uid,
            size: row.size,
            internal_date: row.internal_date,
            fields: row.fields,
        })
        .collect())
}

fn compare_key(key: &SortKey, a: &Keyed, b: &Keyed) -> Ordering {
    let (fa, fb) = (&a.fields, &b.fields);
    match key {
        SortKey::Arrival => a.internal_date.cmp(&b.internal_date),
        SortKey::Cc => fa.cc.cmp(&fb.cc),
        SortKey::Date => a.date().cmp(&b.date()),
        SortKey::From => fa.from.cmp(&fb.from),
        SortKey::Size => a.size.cmp(&b.size),
        SortKey::Subject => fa.subject.cmp(&fb.subject),
        SortKey::To => fa.to.cmp(&fb.to),
        SortKey::DisplayFrom => fa.display_from.cmp(&fb.display_from),
        SortKey::DisplayTo => fa.display_to.cmp(&fb.display_to),
    }
}

/// Sort by the criteria in turn. Messages that match exactly stay in mailbox order (RFC 5256:
/// by sequence number, = UID order), ascending whatever REVERSE said: REVERSE reverses its
/// key only (Dovecot agrees, e.g. `SORT (REVERSE DATE)` on equal dates).
pub fn sort(items: &mut [Keyed], criteria: &[SortCriterion]) {
    items.sort_by(|a, b| {
        for c in criteria {
            let o = compare_key(&c.key, a, b);
            let o = if c.reverse { o.reverse() } else { o };
            if o != Ordering::Equal {
                return o;
            }
        }
        a.uid.cmp(&b.uid)
    });
}

/// The keys a SORT compares.
fn keys_of(criteria: &[SortCriterion]) -> Keys {
    let mut k = Keys::default();
    for c in criteria {
        match c.key {
            SortKey::Arrival | SortKey::Size => {}
            SortKey::Cc => k.cc = true,
            SortKey::Date => k.date = true,
            SortKey::From => k.from = true,
            SortKey::Subject => k.subject = true,
            SortKey::To => k.to = true,
            SortKey::DisplayFrom => k.display_from = true,
            SortKey::DisplayTo => k.display_to = true,
        }
    }
    k
}

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

fn thread_msgs(items: Vec<Keyed>) -> Vec<ThreadMsg> {
    items
        .into_iter()
        .map(|k| ThreadMsg {
            date: k.date(),
            subject: k.fields.subject,
            reply: k.fields.reply,
            message_id: k.fields.message_id,
            references: k.fields.references,
        })
        .collect()
}

impl Session {
    /// The number a client sees for `uid`: itself for UID SORT/THREAD, else its sequence
    /// number in this session's view.
    fn number_of(&self, uid: u32, by_uid: bool) -> Option<NonZeroU32> {
        let n = if by_uid {
            Some(uid)
        } else {
            self.state.selected().and_then(|s| s.view.seq(uid))
        };
        n.and_then(NonZeroU32::new)
    }

    /// The matching messages with their keys, read on the blocking pool.
    async fn keyed_matches(
        &mut self,
        charset: Charset<'static>,
        criteria: Vec1<SearchKey<'static>>,
        keys: Keys,
        with_size: bool,
    ) -> CmdResult<Vec<Keyed>> {
        let found = self.search_found(Some(charset), criteria).await?.uids;
        let sel = self
            .state
            .selected()
            .ok_or_else(|| CmdError::bad("No mailbox selected"))?;
        let mailbox = sel.mailbox;
        let store = self.ctx.store.clone();
        let items = async_std::task::spawn_blocking(move || {
            store.scan(|scan| keyed(scan, mailbox, &found, keys, with_size))
        })
        .await?;
        Ok(items)
    }

    /// The UIDs of the matching messages in sort order.
    pub(crate) async fn sorted_uids(
        &mut self,
        criteria: Vec1<SortCriterion>,
        charset: Charset<'static>,
        search: Vec1<SearchKey<'static>>,
    ) -> CmdResult<Vec<u32>> {
        let keys = keys_of(criteria.as_ref());
        let with_size = criteria.as_ref().iter().any(|c| c.key == SortKey::Size);
        let mut items = self.keyed_matches(charset, search, keys, with_size).await?;
        sort(&mut items, criteria.as_ref());
        Ok(items.into_iter().map(|k| k.uid).collect())
    }

    /// The numbers a client sees for `uids`, in the same order.
    pub(crate) fn numbers_of(&self, uids: &[u32], by_uid: bool) -> Vec<u32> {
        uids.iter()
            .filter_map(|&u| self.number_of(u, by_uid))
            .map(NonZeroU32::get)
            .collect()
    }

    pub(crate) async fn cmd_sort(
        &mut self,
        criteria: Vec1<SortCriterion>,
        charset: Charset<'static>,
        search: Vec1<SearchKey<'static>>,
        uid: bool,
    ) -> CmdResult<Done> {
        let uids = self.sorted_uids(criteria, charset, search).await?;
        let numbers: Vec<NonZeroU32> = uids
            .iter()
            .filter_map(|&u| self.number_of(u, uid))
            .collect();
        self.data(Data::Sort(numbers, None)).await?;
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
        let keys = Keys {
            subject: true,
            date: true,
            ids: alg != Algorithm::OrderedSubject,
            ..Keys::default()
        };
        let items = self.keyed_matches(charset, search, keys, false).await?;
        let uids: Vec<u32> = items.iter().map(|k| k.uid).collect();
        let msgs = thread_msgs(items);
        let forest = async_std::task::spawn_blocking(move || match alg {
            Algorithm::OrderedSubject => thread::ordered_subject(&msgs),
            Algorithm::References => thread::references(&msgs),
            Algorithm::Refs => thread::refs(&msgs),
        })
        .await;
        let numbers: Vec<Option<NonZeroU32>> =
            uids.iter().map(|&u| self.number_of(u, uid)).collect();
        let threads = thread::to_wire(&forest, &|i| numbers.get(i).copied().flatten());
        self.data(Data::Thread(threads)).await?;
        Ok(Done::ok(if uid {
            "UID THREAD completed"
        } else {
            "THREAD completed"
        }))
    }
}
