//! The stored SORT/THREAD keys of each body (table `sort_keys`, schema 4): written once when a
//! body is stored ([`store_sort_keys`], called from the one insert path of bodies), filled for
//! the bodies of an older database by the migration ([`sort_keys_for_stored_bodies`]), and
//! read back column by column ([`sort_rows`]) so that a SORT reads only the keys it compares.

use rusqlite::{params, Connection};

use super::messages::for_uids;
use super::{MailboxId, Result, Transaction};
use crate::mime::{self, Keys, MessageInfo, SortFields};

/// What SORT and THREAD read of one message: its row and the stored keys asked for (the
/// others are left empty).
#[derive(Clone, Debug)]
pub struct SortRow {
    pub uid: u32,
    /// 0 unless asked for.
    pub size: u32,
    pub internal_date: i64,
    pub fields: SortFields,
}

impl SortRow {
    /// RFC 5256's DATE: the sent date, or INTERNALDATE when there is none.
    pub fn date(&self) -> i64 {
        self.fields.date.unwrap_or(self.internal_date)
    }
}

/// A [`SortRow`] borrowed from the database's row: what [`Scan::sort_keys_each`] hands out,
/// so that a caller keeping the keys its own way copies each string once and allocates none
/// per message. Keys not asked for are empty.
///
/// [`Scan::sort_keys_each`]: super::Scan::sort_keys_each
#[derive(Clone, Copy, Debug, Default)]
pub struct SortKeysRef<'a> {
    pub uid: u32,
    /// 0 unless asked for.
    pub size: u32,
    pub internal_date: i64,
    /// The collated base subject.
    pub subject: &'a str,
    pub reply: bool,
    /// The Date header as unix seconds, when it parses.
    pub sent_date: Option<i64>,
    pub from: &'a str,
    pub to: &'a str,
    pub cc: &'a str,
    pub display_from: &'a str,
    pub display_to: &'a str,
    pub message_id: Option<&'a str>,
    /// The References as the row holds them (see [`SortKeysRef::references`]).
    pub(crate) refs: &'a str,
}

impl<'a> SortKeysRef<'a> {
    /// RFC 5256's DATE: the sent date, or INTERNALDATE when there is none.
    pub fn date(&self) -> i64 {
        self.sent_date.unwrap_or(self.internal_date)
    }

    /// The References (or first In-Reply-To), oldest first.
    pub fn references(&self) -> impl Iterator<Item = &'a str> {
        self.refs.split(REFS_SEPARATOR).filter(|s| !s.is_empty())
    }

    /// The owned row.
    pub fn to_row(&self) -> SortRow {
        SortRow {
            uid: self.uid,
            size: self.size,
            internal_date: self.internal_date,
            fields: SortFields {
                subject: self.subject.into(),
                reply: self.reply,
                date: self.sent_date,
                from: self.from.into(),
                to: self.to.into(),
                cc: self.cc.into(),
                display_from: self.display_from.into(),
                display_to: self.display_to.into(),
                message_id: self.message_id.map(str::to_string),
                references: self.references().map(str::to_string).collect(),
            },
        }
    }
}

/// The References separator in the `refs` column: a Message-ID as
/// [`mime::message_ids`] returns it never holds whitespace.
const REFS_SEPARATOR: char = ' ';

/// The store-time hook: keep the keys of the body just inserted as `body_id`.
pub(crate) fn store_sort_keys(tx: &Transaction, body_id: i64, keys: &SortFields) -> Result<()> {
    let refs = keys.references.join(&REFS_SEPARATOR.to_string());
    tx.prepare_cached(
        "INSERT OR REPLACE INTO sort_keys (body_id, subject, reply, sent_date, from_key, to_key,
             cc_key, display_from, display_to, message_id, refs)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
    )?
    .execute(params![
        body_id,
        keys.subject,
        keys.reply,
        keys.date,
        keys.from,
        keys.to,
        keys.cc,
        keys.display_from,
        keys.display_to,
        keys.message_id,
        refs,
    ])?;
    Ok(())
}

/// The keys of a stored body, from its cached envelope (a full parse only when the cache is
/// from another parser version) and its header block.
pub(crate) fn sort_keys_of_body(raw: &[u8], parsed: &[u8]) -> SortFields {
    let envelope = match MessageInfo::decode_envelope(parsed) {
        Some(e) => e,
        None => mime::parse(raw).envelope,
    };
    SortFields::of_message(raw, &envelope)
}

/// Schema 7: the `sort_keys` table (its block in schema.sql), filled for every body already
/// stored.
pub(crate) fn sort_keys_for_stored_bodies(tx: &Transaction) -> Result<()> {
    tx.execute_batch(super::schema_block(
        "-- Schema 7: what SORT and THREAD",
        "-- Schema 8: the search index",
    )?)?;
    let ids = super::body_ids(tx)?;
    // One body in memory at a time.
    let mut read = tx.prepare("SELECT raw, parsed FROM bodies WHERE id = ?1")?;
    for id in ids {
        let (raw, parsed): (Vec<u8>, Vec<u8>) =
            read.query_row([id], |r| Ok((r.get(0)?, r.get(1)?)))?;
        store_sort_keys(tx, id, &sort_keys_of_body(&raw, &parsed))?;
    }
    Ok(())
}

/// One row of a sort-key query, whichever database it came from: integer and text columns
/// by index (NULL as None), text borrowed from the row.
pub(crate) trait KeyRow {
    type Error;
    fn int(&self, i: usize) -> std::result::Result<Option<i64>, Self::Error>;
    fn text(&self, i: usize) -> std::result::Result<Option<&str>, Self::Error>;
}

impl KeyRow for rusqlite::Row<'_> {
    type Error = rusqlite::Error;
    #[inline]
    fn int(&self, i: usize) -> rusqlite::Result<Option<i64>> {
        self.get(i)
    }
    #[inline]
    fn text(&self, i: usize) -> rusqlite::Result<Option<&str>> {
        self.get_ref(i)?.as_str_or_null().map_err(|e| {
            rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
        })
    }
}

/// The columns (of `messages m LEFT JOIN sort_keys k`) a sort-key query selects: the UID and
/// INTERNALDATE always, then each asked-for key in a fixed order ([`sort_row`] reads them back).
pub(crate) fn sort_columns(keys: Keys, with_size: bool) -> String {
    let wanted: [(bool, &str); 10] = [
        (with_size, "m.size"),
        (keys.subject, "k.subject"),
        (keys.subject, "k.reply"),
        (keys.date, "k.sent_date"),
        (keys.from, "k.from_key"),
        (keys.to, "k.to_key"),
        (keys.cc, "k.cc_key"),
        (keys.display_from, "k.display_from"),
        (keys.display_to, "k.display_to"),
        (keys.ids, "k.message_id, k.refs"),
    ];
    let mut columns = String::from("m.uid, m.internal_date");
    for (on, col) in wanted {
        if on {
            columns.push_str(", ");
            columns.push_str(col);
        }
    }
    columns
}

/// A row of the [`sort_columns`] query, borrowed; a body without stored keys reads as empty
/// keys.
#[inline]
pub(crate) fn sort_row<R: KeyRow + ?Sized>(
    r: &R,
    keys: Keys,
    with_size: bool,
) -> std::result::Result<SortKeysRef<'_>, R::Error> {
    let mut i = 2;
    let mut next = || {
        i += 1;
        i - 1
    };
    let mut row = SortKeysRef {
        uid: r.int(0)?.unwrap_or(0).clamp(0, u32::MAX as i64) as u32,
        internal_date: r.int(1)?.unwrap_or(0),
        ..SortKeysRef::default()
    };
    let text = |i: usize| -> std::result::Result<&str, R::Error> { Ok(r.text(i)?.unwrap_or("")) };
    if with_size {
        row.size = r.int(next())?.unwrap_or(0).clamp(0, u32::MAX as i64) as u32;
    }
    if keys.subject {
        row.subject = text(next())?;
        row.reply = r.int(next())?.unwrap_or(0) != 0;
    }
    if keys.date {
        row.sent_date = r.int(next())?;
    }
    if keys.from {
        row.from = text(next())?;
    }
    if keys.to {
        row.to = text(next())?;
    }
    if keys.cc {
        row.cc = text(next())?;
    }
    if keys.display_from {
        row.display_from = text(next())?;
    }
    if keys.display_to {
        row.display_to = text(next())?;
    }
    if keys.ids {
        row.message_id = r.text(next())?;
        row.refs = text(next())?;
    }
    Ok(row)
}

/// The stored keys `keys` (and the size when `with_size`) of the messages `uids`
/// (ascending), handed to `f` one message at a time in UID order. A body without stored keys
/// reads as empty keys.
pub(crate) fn sort_keys_each(
    c: &Connection,
    mailbox: MailboxId,
    uids: &[u32],
    keys: Keys,
    with_size: bool,
    f: &mut dyn FnMut(&SortKeysRef<'_>),
) -> Result<()> {
    let columns = sort_columns(keys, with_size);
    let from = "messages m LEFT JOIN sort_keys k ON k.body_id = m.body_id";
    for_uids(c, mailbox, uids, &columns, from, |r| {
        f(&sort_row(r, keys, with_size)?);
        Ok(())
    })?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{SqliteStore, SCHEMA_VERSION};
    use super::*;

    const PLAIN: &str = "From: Ann <ann@example.org>\r\nTo: bob@example.org\r\n\
        Subject: Re: [list] Hello\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\n\
        Message-ID: <one@example.org>\r\nReferences: <root@x> <mid@x>\r\n\r\nbody\r\n";
    const BARE: &str = "Subject: Fwd: plain\r\nIn-Reply-To: <parent@x>\r\n\r\nno date\r\n";

    fn scan_all(store: &SqliteStore, mailbox: MailboxId, uids: &[u32]) -> Vec<SortRow> {
        store
            .scan(|s| s.sort_rows(mailbox, uids, Keys::ALL, true))
            .unwrap()
    }

    fn plain_keys() -> SortFields {
        SortFields {
            subject: "HELLO".into(),
            reply: true,
            date: Some(1_796_119_200),
            from: "ANN".into(),
            to: "BOB".into(),
            cc: String::new(),
            display_from: "ANN".into(),
            display_to: "BOB@EXAMPLE.ORG".into(),
            message_id: Some("one@example.org".into()),
            references: vec!["root@x".into(), "mid@x".into()],
        }
    }

    fn bare_keys() -> SortFields {
        SortFields {
            subject: "PLAIN".into(),
            reply: true,
            references: vec!["parent@x".into()],
            ..SortFields::default()
        }
    }

    /// A database as liteimap with schema 3 wrote it (no sort_keys table): one body with a
    /// cached parse of this parser's version and one whose cache is unreadable (re-parsed),
    /// the first held twice. After the migration every message has its keys, and later
    /// APPENDs and COPYs keep them.
    #[test]
    fn migrates_a_version_3_database_filling_sort_keys() {
        let (dir, path) = super::super::v3_database("v3-sortkeys", |c| {
            let parsed = mime::parse(PLAIN.as_bytes()).encode();
            c.execute_batch(
                "INSERT INTO users (id, name, password_hash, created) VALUES (1, 'a', 'x', 0);
                 INSERT INTO mailboxes (id, user_id, name, uidvalidity, uidnext) VALUES
                   (1, 1, 'INBOX', 1, 4), (2, 1, 'Archive', 2, 1);",
            )
            .unwrap();
            c.execute(
                "INSERT INTO bodies (id, user_id, hash, size, parsed, raw) VALUES
                   (10, 1, x'01', ?1, ?2, CAST(?3 AS BLOB)), (11, 1, x'02', ?4, x'aa', CAST(?5 AS BLOB))",
                params![PLAIN.len(), parsed, PLAIN, BARE.len(), BARE],
            )
            .unwrap();
            c.execute_batch(
                "INSERT INTO messages (id, mailbox_id, uid, body_id, internal_date, modseq) VALUES
                   (1, 1, 1, 10, 100, 1), (2, 1, 2, 11, 200, 1), (3, 1, 3, 10, 300, 1);",
            )
            .unwrap();
        });
        let store = SqliteStore::open(&path).unwrap();
        let version: i64 = store
            .read(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let inbox = MailboxId(1);
        let rows = scan_all(&store, inbox, &[1, 2, 3]);
        let got: Vec<(u32, u32, i64, SortFields)> = rows
            .into_iter()
            .map(|r| (r.uid, r.size, r.internal_date, r.fields))
            .collect();
        assert_eq!(
            got,
            vec![
                (1, PLAIN.len() as u32, 100, plain_keys()),
                (2, BARE.len() as u32, 200, bare_keys()),
                (3, PLAIN.len() as u32, 300, plain_keys()),
            ]
        );
        // Only the asked-for keys are read.
        let dates = store
            .scan(|s| {
                s.sort_rows(
                    inbox,
                    &[2, 3],
                    Keys {
                        date: true,
                        ..Keys::default()
                    },
                    false,
                )
            })
            .unwrap();
        let dates: Vec<(u32, u32, SortFields)> = dates
            .into_iter()
            .map(|r| (r.uid, r.size, r.fields))
            .collect();
        let date_only = SortFields {
            date: plain_keys().date,
            ..SortFields::default()
        };
        assert_eq!(
            dates,
            vec![(2, 0, SortFields::default()), (3, 0, date_only)]
        );
        // A COPY carries the keys over; a new APPEND stores its own.
        let (_, pairs) = store.copy(inbox, &[2], MailboxId(2)).unwrap();
        let copied = scan_all(&store, MailboxId(2), &[pairs[0].1]);
        assert_eq!(copied[0].fields, bare_keys());
        let new =
            crate::message::prepare(PLAIN.replace("Hello", "Other").into_bytes(), vec![], None);
        let uid = store.append(inbox, &[new]).unwrap()[0].uid;
        let appended = scan_all(&store, inbox, &[uid]);
        assert_eq!(appended[0].fields.subject, "OTHER");
        assert_eq!(appended[0].fields.references, plain_keys().references);
        assert_eq!(store.integrity_check().unwrap(), "ok");
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
