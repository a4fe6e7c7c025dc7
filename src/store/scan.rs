//! Reading many messages in one snapshot, for SEARCH, SORT and THREAD: one read transaction
//! for the whole scan (not one per message), on either backend. On SQLite, header-only reads
//! of stored bodies go through SQLite's incremental blob I/O, so a header-keyed search reads
//! a few KiB of each body instead of all of it; on PostgreSQL the scan runs in one read-only
//! REPEATABLE READ transaction (src/store/pg/scan.rs).

use std::cell::RefCell;

use rusqlite::blob::Blob;
use rusqlite::{Connection, OptionalExtension, MAIN_DB};

use super::messages::{highest_modseq, messages_with, search};
use super::pg::PgScan;
use super::sortkeys::{sort_keys_each, SortKeysRef, SortRow};
use super::{Cond, MailboxId, MessageMeta, Result, SqliteStore, StoreError, TextPlace};
use crate::mime::Keys;

/// How much of a body one blob read takes; most headers fit in the first read.
const HEADER_CHUNK: usize = 4096;

/// Reads within one read transaction: every call sees the same snapshot.
pub struct Scan<'c>(Inner<'c>);

/// The backend's part of a scan.
enum Inner<'c> {
    Sqlite(SqliteScan<'c>),
    /// The read-only transaction, behind a RefCell: its queries need `&mut`.
    Postgres(RefCell<&'c mut (dyn PgScan + 'c)>),
}

/// A scan of a SQLite database.
struct SqliteScan<'c> {
    conn: &'c Connection,
    /// One blob handle, moved from row to row (`sqlite3_blob_reopen` is much cheaper than
    /// opening a handle per body).
    blob: RefCell<Option<Blob<'c>>>,
}

impl SqliteStore {
    /// Run `f` with a [`Scan`] over one snapshot of the database.
    pub fn scan<T>(&self, f: impl FnOnce(&Scan<'_>) -> Result<T>) -> Result<T> {
        self.read(|c| {
            let scan = Scan(Inner::Sqlite(SqliteScan {
                conn: c,
                blob: RefCell::new(None),
            }));
            f(&scan)
        })
    }
}

fn gone() -> StoreError {
    StoreError::NotFound("message body no longer exists".into())
}

impl<'c> Scan<'c> {
    /// A scan within a PostgreSQL read transaction.
    pub(crate) fn postgres(t: &'c mut (dyn PgScan + 'c)) -> Scan<'c> {
        Scan(Inner::Postgres(RefCell::new(t)))
    }

    /// As [`SqliteStore::search`].
    #[inline]
    pub fn search(&self, mailbox: MailboxId, cond: &Cond) -> Result<Vec<u32>> {
        match &self.0 {
            Inner::Sqlite(s) => s.search(mailbox, cond),
            Inner::Postgres(p) => p.borrow_mut().search(mailbox, cond),
        }
    }

    /// As [`SqliteStore::highest_modseq`]. Every write that adds or removes a message of the
    /// mailbox raises it, so in two snapshots with the same value the mailbox holds the same
    /// messages.
    #[inline]
    pub fn highest_modseq(&self, mailbox: MailboxId) -> Result<u64> {
        match &self.0 {
            Inner::Sqlite(s) => s.highest_modseq(mailbox),
            Inner::Postgres(p) => p.borrow_mut().highest_modseq(mailbox),
        }
    }

    /// As [`SqliteStore::messages`]; without `with_size` the bodies are not looked at (one page read
    /// per message saved) and `size` is 0.
    #[inline]
    pub fn messages(
        &self,
        mailbox: MailboxId,
        uids: &[u32],
        with_size: bool,
    ) -> Result<Vec<MessageMeta>> {
        match &self.0 {
            Inner::Sqlite(s) => s.messages(mailbox, uids, with_size),
            Inner::Postgres(p) => p.borrow_mut().messages(mailbox, uids, with_size),
        }
    }

    /// The stored SORT/THREAD keys `keys` (and the size when `with_size`) of the messages
    /// `uids` (ascending), in UID order.
    pub fn sort_rows(
        &self,
        mailbox: MailboxId,
        uids: &[u32],
        keys: Keys,
        with_size: bool,
    ) -> Result<Vec<SortRow>> {
        let mut rows = Vec::with_capacity(uids.len());
        self.sort_keys_each(mailbox, uids, keys, with_size, &mut |r| {
            rows.push(r.to_row())
        })?;
        Ok(rows)
    }

    /// As [`Scan::sort_rows`], each message's keys handed to `f` as the database's row holds
    /// them (nothing allocated per message), in UID order.
    #[inline]
    pub fn sort_keys_each(
        &self,
        mailbox: MailboxId,
        uids: &[u32],
        keys: Keys,
        with_size: bool,
        f: &mut dyn FnMut(&SortKeysRef<'_>),
    ) -> Result<()> {
        match &self.0 {
            Inner::Sqlite(s) => sort_keys_each(s.conn, mailbox, uids, keys, with_size, f),
            Inner::Postgres(p) => p
                .borrow_mut()
                .sort_keys_each(mailbox, uids, keys, with_size, f),
        }
    }

    /// The UIDs (ascending) of the messages that may contain `needle` at `place`, narrowed by
    /// the search index; `None` when the index is off or cannot help with this needle (fewer
    /// than three characters): then every message may. A text key's matcher decides. There is
    /// no search index on PostgreSQL (yet): always `None` there.
    #[inline]
    pub fn text_candidates(
        &self,
        mailbox: MailboxId,
        place: TextPlace,
        needle: &str,
    ) -> Result<Option<Vec<u32>>> {
        match &self.0 {
            Inner::Sqlite(s) => s.text_candidates(mailbox, place, needle),
            Inner::Postgres(_) => Ok(None),
        }
    }

    /// As [`SqliteStore::raw`].
    #[inline]
    pub fn raw(&self, body_id: i64) -> Result<Vec<u8>> {
        match &self.0 {
            Inner::Sqlite(s) => s.raw(body_id),
            Inner::Postgres(p) => p.borrow_mut().raw(body_id),
        }
    }

    /// As [`SqliteStore::parsed`].
    #[inline]
    pub fn parsed(&self, body_id: i64) -> Result<Vec<u8>> {
        match &self.0 {
            Inner::Sqlite(s) => s.parsed(body_id),
            Inner::Postgres(p) => p.borrow_mut().parsed(body_id),
        }
    }

    /// The header block of a stored body: its bytes up to and including the first empty line
    /// (all of it when there is none).
    #[inline]
    pub fn header(&self, body_id: i64) -> Result<Vec<u8>> {
        match &self.0 {
            Inner::Sqlite(s) => s.header(body_id),
            Inner::Postgres(p) => p.borrow_mut().header(body_id),
        }
    }
}

impl SqliteScan<'_> {
    fn search(&self, mailbox: MailboxId, cond: &Cond) -> Result<Vec<u32>> {
        search(self.conn, mailbox, cond)
    }

    fn highest_modseq(&self, mailbox: MailboxId) -> Result<u64> {
        highest_modseq(self.conn, mailbox)
    }

    /// As [`SqliteStore::messages`]; without `with_size` the bodies are not looked at (one page read
    /// per message saved) and `size` is 0.
    fn messages(
        &self,
        mailbox: MailboxId,
        uids: &[u32],
        with_size: bool,
    ) -> Result<Vec<MessageMeta>> {
        messages_with(self.conn, mailbox, uids, with_size)
    }

    /// The UIDs (ascending) of the messages that may contain `needle` at `place`, narrowed by
    /// the search index; `None` when the index is off or cannot help with this needle (fewer
    /// than three characters): then every message may. A text key's matcher decides.
    fn text_candidates(
        &self,
        mailbox: MailboxId,
        place: TextPlace,
        needle: &str,
    ) -> Result<Option<Vec<u32>>> {
        super::search_index::candidates(self.conn, mailbox, place, needle)
    }

    /// As [`SqliteStore::raw`].
    fn raw(&self, body_id: i64) -> Result<Vec<u8>> {
        super::chunks::read(self.conn, body_id)
    }

    /// As [`SqliteStore::parsed`].
    fn parsed(&self, body_id: i64) -> Result<Vec<u8>> {
        self.column("SELECT parsed FROM bodies WHERE id = ?1", body_id)
    }

    fn column(&self, sql: &str, body_id: i64) -> Result<Vec<u8>> {
        self.conn
            .prepare_cached(sql)?
            .query_row([body_id], |r| r.get(0))
            .optional()?
            .ok_or_else(gone)
    }

    /// The header block of a stored body: its bytes up to and including the first empty line
    /// (all of it when there is none). Reads the body's first piece in chunks and stops
    /// there (a header longer than the piece goes on with the next pieces).
    fn header(&self, body_id: i64) -> Result<Vec<u8>> {
        let first: i64 = self
            .conn
            .prepare_cached("SELECT rowid FROM body_chunks WHERE body_id = ?1 AND start = 0")?
            .query_row([body_id], |r| r.get(0))
            .optional()?
            .ok_or_else(gone)?;
        let mut slot = self.blob.borrow_mut();
        let moved = match slot.as_mut() {
            Some(b) => b.reopen(first).is_ok(),
            None => false,
        };
        if !moved {
            // A handle whose reopen failed is unusable: open a fresh one (and report a body
            // that is really missing as such).
            *slot = None;
            let b = self
                .conn
                .blob_open(MAIN_DB, c"body_chunks", c"data", first, true)
                .map_err(|e| match e {
                    rusqlite::Error::SqliteFailure(ref f, _)
                        if f.code == rusqlite::ErrorCode::Unknown =>
                    {
                        gone()
                    }
                    other => StoreError::Db(other),
                })?;
            *slot = Some(b);
        }
        let Some(blob) = slot.as_ref() else {
            return Err(gone());
        };
        let total = blob.len();
        let mut buf: Vec<u8> = Vec::new();
        let mut scanned = 0;
        while buf.len() < total {
            let start = buf.len();
            let want = (total - start).min(HEADER_CHUNK.max(start));
            buf.resize(start + want, 0);
            let got = blob.read_at(&mut buf[start..], start)?;
            buf.truncate(start + got);
            if got == 0 {
                break;
            }
            if let Some(end) = header_end(&buf, scanned) {
                buf.truncate(end);
                return Ok(buf);
            }
            // Resume at the last line start that may begin an empty line.
            scanned = buf.len().saturating_sub(2);
        }
        if total < super::chunks::CHUNK {
            return Ok(buf);
        }
        // A header as long as the first piece: on through the rest of the body.
        let mut rest = buf;
        rest.extend_from_slice(&super::chunks::read_range(
            self.conn,
            body_id,
            total,
            usize::MAX,
        )?);
        if let Some(end) = header_end(&rest, scanned) {
            rest.truncate(end);
        }
        Ok(rest)
    }
}

/// Index just past the first empty line ("\n" or "\r\n" at the start of a line) of `buf`,
/// looking at lines that start at or after `from`.
pub(crate) fn header_end(buf: &[u8], from: usize) -> Option<usize> {
    let blank_at = |i: usize| -> Option<usize> {
        match buf.get(i..) {
            Some([b'\n', ..]) => Some(i + 1),
            Some([b'\r', b'\n', ..]) => Some(i + 2),
            _ => None,
        }
    };
    if from == 0 {
        if let Some(e) = blank_at(0) {
            return Some(e);
        }
    }
    let mut i = from;
    while let Some(p) = buf
        .get(i..)
        .and_then(|s| s.iter().position(|&b| b == b'\n'))
    {
        let line_start = i + p + 1;
        if let Some(e) = blank_at(line_start) {
            return Some(e);
        }
        i = line_start;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::super::testutil::temp_store;
    use super::super::NewMessage;
    use super::*;

    #[test]
    fn header_end_finds_the_first_empty_line() {
        assert_eq!(header_end(b"A: 1\r\n\r\nbody", 0), Some(8));
        assert_eq!(header_end(b"A: 1\n\nbody", 0), Some(6));
        assert_eq!(header_end(b"\r\nbody", 0), Some(2));
        assert_eq!(header_end(b"\nbody", 0), Some(1));
        assert_eq!(header_end(b"A: 1\r\nB: 2\r\n", 0), None);
        assert_eq!(header_end(b"A: 1\r\nB: 2\r", 0), None);
        // Resuming where the previous chunk ended, inside the line break.
        assert_eq!(header_end(b"A: 1\r\n\r\n", 4), Some(8));
        assert_eq!(header_end(b"A: 1\r\n\r\n", 5), Some(8));
    }

    fn stored(raw: &[u8]) -> (super::super::testutil::TempDb, i64) {
        let t = temp_store();
        let u = t.store.create_user("u", "x").unwrap();
        let inbox = t.store.mailbox(u, "INBOX").unwrap().unwrap().id;
        t.store
            .append(
                inbox,
                &[NewMessage {
                    raw: raw.to_vec(),
                    parsed: Vec::new(),
                    flags: Vec::new(),
                    internal_date: 1_700_000_000,
                    date_offset: 0,
                    fields: Default::default(),
                    sort: Default::default(),
                }],
            )
            .unwrap();
        let body = t.store.messages(inbox, &[1]).unwrap()[0].body_id;
        (t, body)
    }

    #[test]
    fn header_reads_up_to_the_empty_line() {
        // A header longer than one chunk, with the blank line right at a chunk boundary.
        for pad in [
            0,
            10,
            HEADER_CHUNK - 12,
            HEADER_CHUNK - 11,
            HEADER_CHUNK - 10,
        ] {
            let mut raw = format!("X-Pad: {}\r\n", "p".repeat(pad)).into_bytes();
            raw.extend_from_slice(b"From: a@b\r\n\r\n");
            let head_len = raw.len();
            raw.extend_from_slice(&vec![b'z'; 3 * HEADER_CHUNK]);
            let (t, body) = stored(&raw);
            let head = t.store.scan(|s| s.header(body)).unwrap();
            assert_eq!(head, raw[..head_len], "pad {pad}");
            assert_eq!(t.store.scan(|s| s.raw(body)).unwrap(), raw);
        }
    }

    #[test]
    fn header_only_message_is_read_whole() {
        let raw = b"From: a@b\r\nSubject: no body\r\n";
        let (t, body) = stored(raw);
        assert_eq!(t.store.scan(|s| s.header(body)).unwrap(), raw);
        // The same handle moves between rows and reports a missing one.
        let err = t
            .store
            .scan(|s| {
                s.header(body)?;
                s.header(body + 1000)
            })
            .unwrap_err();
        assert!(matches!(err, StoreError::NotFound(_)), "{err}");
    }
}
