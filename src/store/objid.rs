//! Object identifiers (OBJECTID, RFC 8474), save dates (SAVEDATE, RFC 8514) and previews
//! (PREVIEW, RFC 8970): what the store keeps for them and the one function that fills them in
//! when a message is stored ([`store_time_fields`]).
//!
//! Ids are keyed hashes: a random key kept in `liteimap_meta` (made once per database) hashed
//! with what identifies the object. They are stable across restarts and RENAME, never reused
//! (a recreated mailbox has a new UIDVALIDITY; a body is identified by its user and content),
//! and, without the key, they tell one user nothing about another's data (row ids, which count
//! every user's messages, never show through).
//! - MAILBOXID `F…`: the mailbox's row id and UIDVALIDITY; computed, not stored.
//! - EMAILID `M…`: the body's user and content hash. Copies and moves share the body, so COPY
//!   and MOVE keep the EMAILID (RFC 8474 §5.1), and so does appending the same bytes again.
//! - THREADID `T…`: the thread of the first of the user's messages whose Message-ID the new
//!   message's References or In-Reply-To name; otherwise a new thread (keyed by the body).
//!   Messages stored before schema 4 have none (NIL, which RFC 8474 §5.2 allows).

use blake2::{Blake2b512, Digest};
use rusqlite::{params, Connection, OptionalExtension};

use super::{MailboxRow, Result, Transaction};

/// What message.rs derives from the bytes for these extensions, once, when a message is stored.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoreTimeFields {
    /// The PREVIEW text (RFC 8970), at most 256 characters.
    pub preview: Option<String>,
    /// The Message-ID, without its angle brackets.
    pub message_id: Option<String>,
    /// The Message-IDs of References, then In-Reply-To, in order.
    pub parent_ids: Vec<String>,
}

/// The extension fields of one stored message, as FETCH answers them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectFields {
    pub uid: u32,
    pub email_id: Option<String>,
    pub thread_id: Option<String>,
    /// Unix seconds; migrated messages have their internal date.
    pub save_date: Option<i64>,
    /// `None` for messages stored before schema 4 (the caller computes it from the bytes).
    pub preview: Option<String>,
    pub body_id: i64,
}

pub(crate) const KEY: &str = "object_id_key";

/// Make the database's id key if it has none (a new database, or one older than schema 4).
pub(crate) fn ensure_key(c: &Connection) -> Result<()> {
    let have: Option<String> = c
        .query_row(
            "SELECT value FROM liteimap_meta WHERE key = ?1",
            [KEY],
            |r| r.get(0),
        )
        .optional()?;
    if have.is_none() {
        c.execute(
            "INSERT OR IGNORE INTO liteimap_meta (key, value) VALUES (?1, ?2)",
            params![KEY, hex(&random_bytes())],
        )?;
    }
    Ok(())
}

/// 32 unpredictable bytes: from the kernel, or where it cannot be read, a hash of what varies
/// per process and per moment. For the id key and the markers that must not occur in data.
pub fn random_bytes() -> Vec<u8> {
    use std::io::Read;
    let mut buf = vec![0u8; 32];
    if std::fs::File::open("/dev/urandom")
        .and_then(|mut f| f.read_exact(&mut buf))
        .is_ok()
    {
        return buf;
    }
    let mut h = Blake2b512::new();
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    h.update(now.as_nanos().to_le_bytes());
    h.update(std::process::id().to_le_bytes());
    let on_heap = Box::new(0u8);
    h.update((&*on_heap as *const u8 as usize).to_le_bytes());
    h.finalize()[..32].to_vec()
}

/// Lowercase hex digits of `bytes`.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

pub(crate) fn key(c: &Connection) -> Result<String> {
    Ok(
        c.prepare_cached("SELECT value FROM liteimap_meta WHERE key = ?1")?
            .query_row([KEY], |r| r.get(0))
            .optional()?
            .unwrap_or_default(),
    )
}

/// `prefix` and 24 hex digits of the keyed hash of `parts`.
fn keyed_id(key: &str, prefix: char, parts: &[&[u8]]) -> String {
    let mut h = Blake2b512::new();
    h.update(key.as_bytes());
    for p in parts {
        h.update((p.len() as u64).to_le_bytes());
        h.update(p);
    }
    format!("{prefix}{}", hex(&h.finalize()[..12]))
}

/// The MAILBOXID of a mailbox.
pub(crate) fn mailbox_id(c: &Connection, mb: &MailboxRow) -> Result<String> {
    Ok(mailbox_id_with_key(&key(c)?, mb))
}

/// The MAILBOXID of a mailbox under the database's id key (both backends).
pub(crate) fn mailbox_id_with_key(key: &str, mb: &MailboxRow) -> String {
    keyed_id(
        key,
        'F',
        &[
            b"mailbox",
            &mb.id.0.to_le_bytes(),
            &mb.uidvalidity.to_le_bytes(),
        ],
    )
}

/// The EMAILID of a body of `user` with content hash `hash`, and the THREADID it starts when
/// it replies to nothing stored (both backends).
pub(crate) fn body_ids(key: &str, user: i64, hash: &[u8]) -> (String, String) {
    let user_bytes = user.to_le_bytes();
    (
        keyed_id(key, 'M', &[b"email", &user_bytes, hash]),
        keyed_id(key, 'T', &[b"thread", &user_bytes, hash]),
    )
}

/// Fill in a newly inserted body's EMAILID, THREADID, Message-ID and preview: the store-time
/// work of OBJECTID and PREVIEW, in the inserting transaction.
pub(crate) fn store_time_fields(
    tx: &Transaction,
    user: i64,
    body: i64,
    hash: &[u8],
    fields: &StoreTimeFields,
) -> Result<()> {
    let key = key(tx)?;
    let (email_id, own_thread) = body_ids(&key, user, hash);
    let mut thread_id = None;
    {
        let mut parent = tx.prepare_cached(
            "SELECT thread_id FROM bodies
             WHERE user_id = ?1 AND message_id = ?2 AND thread_id IS NOT NULL LIMIT 1",
        )?;
        for id in &fields.parent_ids {
            if let Some(t) = parent
                .query_row(params![user, id], |r| r.get::<_, String>(0))
                .optional()?
            {
                thread_id = Some(t);
                break;
            }
        }
    }
    let thread_id = thread_id.unwrap_or(own_thread);
    tx.prepare_cached(
        "UPDATE bodies SET email_id = ?2, thread_id = ?3, message_id = ?4, preview = ?5
         WHERE id = ?1",
    )?
    .execute(params![
        body,
        email_id,
        thread_id,
        fields.message_id,
        fields.preview
    ])?;
    Ok(())
}

/// The extension fields of the messages `uids` of a mailbox (ascending; missing UIDs left out).
pub(crate) fn object_fields(
    c: &Connection,
    mailbox: super::MailboxId,
    uids: &[u32],
) -> Result<Vec<ObjectFields>> {
    let mut st = c.prepare_cached(
        "SELECT m.uid, d.email_id, d.thread_id, m.save_date, d.preview, m.body_id
         FROM messages m JOIN bodies d ON d.id = m.body_id
         WHERE m.mailbox_id = ?1 AND m.uid = ?2",
    )?;
    let mut out = Vec::with_capacity(uids.len());
    for &u in uids {
        let row = st
            .query_row(params![mailbox.0, u], |r| {
                Ok(ObjectFields {
                    uid: r.get(0)?,
                    email_id: r.get(1)?,
                    thread_id: r.get(2)?,
                    save_date: r.get(3)?,
                    preview: r.get(4)?,
                    body_id: r.get(5)?,
                })
            })
            .optional()?;
        out.extend(row);
    }
    Ok(out)
}

/// Schema 4: the columns of OBJECTID, SAVEDATE and PREVIEW (the same block as in schema.sql),
/// the id key, an EMAILID for every body, and each message's internal date as its save date
/// (the moment it was saved is not known; RFC 8514 §3 lets the server fall back on it).
/// Threads, Message-IDs and previews of older messages stay empty: THREADID is NIL for them,
/// and FETCH PREVIEW computes their preview from the bytes.
pub(crate) fn objectid_savedate_preview(tx: &Transaction) -> Result<()> {
    // Tolerant of columns already there: older test databases are built from today's schema.
    for (table, column, kind) in [
        ("bodies", "email_id", "TEXT"),
        ("bodies", "thread_id", "TEXT"),
        ("bodies", "message_id", "TEXT"),
        ("bodies", "preview", "TEXT"),
        ("messages", "save_date", "INTEGER"),
    ] {
        let present: bool = tx.query_row(
            "SELECT count(*) > 0 FROM pragma_table_info(?1) WHERE name = ?2",
            params![table, column],
            |r| r.get(0),
        )?;
        if !present {
            tx.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))?;
        }
    }
    tx.execute_batch(
        "CREATE INDEX IF NOT EXISTS bodies_message_id ON bodies(user_id, message_id);
         CREATE INDEX IF NOT EXISTS bodies_email_id ON bodies(email_id);
         CREATE INDEX IF NOT EXISTS bodies_thread_id ON bodies(thread_id);
         UPDATE messages SET save_date = internal_date WHERE save_date IS NULL;",
    )?;
    ensure_key(tx)?;
    let key = key(tx)?;
    let bodies: Vec<(i64, i64, Vec<u8>)> = {
        let mut st = tx.prepare("SELECT id, user_id, hash FROM bodies")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let mut set = tx.prepare("UPDATE bodies SET email_id = ?2 WHERE id = ?1")?;
    for (id, user, hash) in bodies {
        set.execute(params![
            id,
            keyed_id(&key, 'M', &[b"email", &user.to_le_bytes(), &hash])
        ])?;
    }
    Ok(())
}

impl super::SqliteStore {
    /// The MAILBOXID (RFC 8474) of a mailbox.
    pub fn mailbox_object_id(&self, mb: &MailboxRow) -> Result<String> {
        self.read(|c| mailbox_id(c, mb))
    }

    /// The MAILBOXID of the user's folder `name`, for CREATE's answer (`None` when it is
    /// gone again already).
    pub fn created_mailbox_id(&self, user: super::UserId, name: &str) -> Result<Option<String>> {
        match self.mailbox(user, name)? {
            Some(mb) => self.mailbox_object_id(&mb).map(Some),
            None => Ok(None),
        }
    }

    /// EMAILID, THREADID, save date and stored preview of the messages `uids` (ascending;
    /// UIDs no longer in the mailbox are left out).
    pub fn object_fields(
        &self,
        mailbox: super::MailboxId,
        uids: &[u32],
    ) -> Result<Vec<ObjectFields>> {
        self.read(|c| object_fields(c, mailbox, uids))
    }
}
