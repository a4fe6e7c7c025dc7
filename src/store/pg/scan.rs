//! `Store::scan` on PostgreSQL: the [`Scan`] calls answered within one read-only REPEATABLE
//! READ transaction (one snapshot for the whole SEARCH, SORT or THREAD), by the same
//! functions PgStore's own calls use.

use super::messages::{
    header, highest_modseq, messages_with, parsed, read_range, search, sort_keys_each,
};
use super::{into_store, Fail, PgResult, PgStore};
use crate::mime::Keys;
use crate::store::{Cond, MailboxId, MessageMeta, Result, Scan, SortKeysRef, StoreError};

/// What a [`Scan`] asks of a PostgreSQL transaction. A trait object, so that `Scan` needs no
/// second lifetime for the transaction's.
pub(crate) trait PgScan {
    fn search(&mut self, mailbox: MailboxId, cond: &Cond) -> Result<Vec<u32>>;
    fn highest_modseq(&mut self, mailbox: MailboxId) -> Result<u64>;
    fn messages(
        &mut self,
        mailbox: MailboxId,
        uids: &[u32],
        with_size: bool,
    ) -> Result<Vec<MessageMeta>>;
    fn sort_keys_each(
        &mut self,
        mailbox: MailboxId,
        uids: &[u32],
        keys: Keys,
        with_size: bool,
        f: &mut dyn FnMut(&SortKeysRef<'_>),
    ) -> Result<()>;
    fn raw(&mut self, body_id: i64) -> Result<Vec<u8>>;
    fn parsed(&mut self, body_id: i64) -> Result<Vec<u8>>;
    fn header(&mut self, body_id: i64) -> Result<Vec<u8>>;
}

fn done<T>(r: PgResult<T>) -> Result<T> {
    r.map_err(into_store)
}

impl PgScan for postgres::Transaction<'_> {
    fn search(&mut self, mailbox: MailboxId, cond: &Cond) -> Result<Vec<u32>> {
        done(search(self, mailbox, cond))
    }

    fn highest_modseq(&mut self, mailbox: MailboxId) -> Result<u64> {
        done(highest_modseq(self, mailbox))
    }

    fn messages(
        &mut self,
        mailbox: MailboxId,
        uids: &[u32],
        with_size: bool,
    ) -> Result<Vec<MessageMeta>> {
        done(messages_with(self, mailbox, uids, with_size))
    }

    fn sort_keys_each(
        &mut self,
        mailbox: MailboxId,
        uids: &[u32],
        keys: Keys,
        with_size: bool,
        f: &mut dyn FnMut(&SortKeysRef<'_>),
    ) -> Result<()> {
        done(sort_keys_each(self, mailbox, uids, keys, with_size, f))
    }

    fn raw(&mut self, body_id: i64) -> Result<Vec<u8>> {
        done(read_range(self, body_id, None))
    }

    fn parsed(&mut self, body_id: i64) -> Result<Vec<u8>> {
        done(parsed(self, body_id))
    }

    fn header(&mut self, body_id: i64) -> Result<Vec<u8>> {
        done(header(self, body_id))
    }
}

impl PgStore {
    /// Run `f` with a [`Scan`] over one snapshot of the database.
    pub fn scan<T>(&self, f: impl FnOnce(&Scan<'_>) -> Result<T>) -> Result<T> {
        // `read` runs its body again only when BEGIN failed (before `f` ran) or for a
        // serialization failure, which a read-only transaction does not get.
        let mut f = Some(f);
        self.read(|t| {
            let f = f.take().ok_or_else(|| {
                Fail::Store(StoreError::Unavailable(
                    "the scan's transaction failed".into(),
                ))
            })?;
            Ok(f(&Scan::postgres(t))?)
        })
    }
}
