//! Moving a database's contents to another store exactly (`liteimap migrate`): the export
//! calls read users, folders and messages as they are (UIDs, modseqs, dates, flags, object
//! ids), the import calls write them back with those same values — never taking new UIDs or
//! modseqs — so a client's cache (UIDVALIDITY, UIDs, MODSEQs, OBJECTIDs) stays valid. Both
//! backends implement every call (`pg/transfer.rs`); the domain types live here.
//!
//! The cached MIME parse, the SORT/THREAD keys, the preview and the Message-ID are not
//! exported: the importer rebuilds them from the bytes (`message::prepare`), so the target
//! holds what this binary's parser makes. The ids that cannot be rebuilt (they depend on the
//! source's row ids, key and storing order) are carried: EMAILID, THREADID, the mailbox row
//! id with the OBJECTID key (MAILBOXID), UIDVALIDITY, the URLAUTH access keys.

use rusqlite::{params, OptionalExtension};

use super::messages::{content_hash, NewMessage};
use super::{MailboxId, Result, SqliteStore, StoreError, Transaction, UserId};

/// A user as `migrate` copies it (quota limits, withheld capabilities and subscriptions go
/// through their own calls).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserExport {
    pub name: String,
    pub password_hash: String,
    /// Unix seconds.
    pub created: i64,
}

/// A folder with everything a client's cache depends on.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MailboxExport {
    /// The row id in the source (part of MAILBOXID); kept in the target.
    pub id: i64,
    pub name: String,
    pub uidvalidity: u32,
    pub uidnext: u32,
    pub highest_modseq: u64,
    /// Messages from this UID on are \Recent to the next session that claims them.
    pub recent_floor: u32,
    pub noselect: bool,
    pub special_use: Option<String>,
    /// The URLAUTH access key, when one was made.
    pub urlauth_key: Option<Vec<u8>>,
}

/// One message as it is stored: its row, flags, object ids and bytes.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ExportedMessage {
    pub uid: u32,
    pub modseq: u64,
    pub internal_date: i64,
    pub date_offset: i32,
    pub save_date: Option<i64>,
    pub flags: Vec<String>,
    pub email_id: Option<String>,
    pub thread_id: Option<String>,
    pub raw: Vec<u8>,
}

/// A message to write with its own UID and modseq: `msg` carries the bytes, the rebuilt
/// parse and keys, the flags and the internal date.
pub struct ExactMessage {
    pub uid: u32,
    pub modseq: u64,
    pub save_date: Option<i64>,
    pub email_id: Option<String>,
    pub thread_id: Option<String>,
    pub msg: NewMessage,
}

/// One METADATA entry of a user: its folder (None: a server entry), name and value.
pub type MetadataExport = (Option<String>, String, Vec<u8>);

/// The `liteimap_meta` key naming the database a migration into this one copies from.
pub(crate) const MIGRATION_KEY: &str = "migrating_from";

fn already(uid: u32) -> StoreError {
    StoreError::AlreadyExists(format!("UID {uid} is already in the target folder"))
}

impl SqliteStore {
    /// Every user, by name.
    pub fn export_users(&self) -> Result<Vec<UserExport>> {
        self.read(|c| {
            let mut st =
                c.prepare("SELECT name, password_hash, created FROM users ORDER BY name")?;
            let rows = st.query_map([], |r| {
                Ok(UserExport {
                    name: r.get(0)?,
                    password_hash: r.get(1)?,
                    created: r.get(2)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Create the user as exported, without default folders; an existing user of that name
    /// (an interrupted migration) is returned as it is.
    pub fn import_user(&self, user: &UserExport) -> Result<UserId> {
        self.write(|tx| {
            if let Some(u) = super::users::find_user(tx, &user.name)? {
                return Ok(u.id);
            }
            tx.execute(
                "INSERT INTO users (name, password_hash, created) VALUES (?1, ?2, ?3)",
                params![user.name, user.password_hash, user.created],
            )?;
            Ok(UserId(tx.last_insert_rowid()))
        })
    }

    /// Every folder of `user` with its counters and access key, by name.
    pub fn export_mailboxes(&self, user: UserId) -> Result<Vec<MailboxExport>> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT b.id, b.name, b.uidvalidity, b.uidnext, b.highest_modseq, b.recent_floor,
                        b.noselect, b.special_use, k.key
                 FROM mailboxes b LEFT JOIN urlauth_keys k ON k.mailbox_id = b.id
                 WHERE b.user_id = ?1 ORDER BY b.name",
            )?;
            let rows = st.query_map([user.0], |r| {
                Ok(MailboxExport {
                    id: r.get(0)?,
                    name: r.get(1)?,
                    uidvalidity: r.get(2)?,
                    uidnext: r.get(3)?,
                    highest_modseq: r.get::<_, i64>(4)? as u64,
                    recent_floor: r.get(5)?,
                    noselect: r.get(6)?,
                    special_use: r.get(7)?,
                    urlauth_key: r.get(8)?,
                })
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Create `user`'s folder with the exported row id, UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ,
    /// \Recent floor, special use and access key; an existing folder of that name (an
    /// interrupted migration) is returned as it is. Later folders of the target get a larger
    /// UIDVALIDITY than any imported one.
    pub fn import_mailbox(&self, user: UserId, mb: &MailboxExport) -> Result<MailboxId> {
        self.write(|tx| {
            if let Some(m) = super::mailboxes::mailbox(tx, user, &mb.name)? {
                return Ok(m.id);
            }
            tx.execute(
                "INSERT INTO mailboxes (id, user_id, name, uidvalidity, uidnext, highest_modseq,
                     recent_floor, noselect, special_use)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    mb.id,
                    user.0,
                    mb.name,
                    mb.uidvalidity,
                    mb.uidnext,
                    mb.highest_modseq as i64,
                    mb.recent_floor,
                    mb.noselect,
                    mb.special_use
                ],
            )?;
            if let Some(key) = &mb.urlauth_key {
                tx.execute(
                    "INSERT INTO urlauth_keys (mailbox_id, key) VALUES (?1, ?2)",
                    params![mb.id, key],
                )?;
            }
            tx.execute(
                "INSERT INTO liteimap_meta (key, value) VALUES ('last_uidvalidity', ?1)
                 ON CONFLICT (key) DO UPDATE SET value = max(CAST(value AS INTEGER), ?1)",
                [mb.uidvalidity as i64],
            )?;
            Ok(MailboxId(mb.id))
        })
    }

    /// Up to `limit` messages of `mailbox` with a UID above `after_uid`, ascending, stopping
    /// after the message that takes their bytes past `max_bytes` (always at least one).
    pub fn export_messages(
        &self,
        mailbox: MailboxId,
        after_uid: u32,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<ExportedMessage>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT m.id, m.uid, m.modseq, m.internal_date, m.date_offset, m.save_date,
                        d.email_id, d.thread_id, m.body_id
                 FROM messages m JOIN bodies d ON d.id = m.body_id
                 WHERE m.mailbox_id = ?1 AND m.uid > ?2 ORDER BY m.uid LIMIT ?3",
            )?;
            let mut flags_of =
                c.prepare_cached("SELECT flag FROM flags WHERE message_id = ?1 ORDER BY flag")?;
            let mut rows = st.query(params![mailbox.0, after_uid, limit.max(1) as i64])?;
            let mut out = Vec::new();
            let mut bytes = 0usize;
            while let Some(r) = rows.next()? {
                let id: i64 = r.get(0)?;
                let body: i64 = r.get(8)?;
                let flags = flags_of
                    .query_map([id], |f| f.get(0))?
                    .collect::<rusqlite::Result<Vec<String>>>()?;
                let raw = super::chunks::read(c, body)?;
                bytes += raw.len();
                out.push(ExportedMessage {
                    uid: r.get(1)?,
                    modseq: r.get::<_, i64>(2)? as u64,
                    internal_date: r.get(3)?,
                    date_offset: r.get(4)?,
                    save_date: r.get(5)?,
                    flags,
                    email_id: r.get(6)?,
                    thread_id: r.get(7)?,
                    raw,
                });
                if bytes >= max_bytes {
                    break;
                }
            }
            Ok(out)
        })
    }

    /// Write messages into `mailbox` with their own UIDs, modseqs, dates, flags and object
    /// ids, in one transaction; the folder's counters are not touched (`import_mailbox` set
    /// them). No quota is checked: the limits came with the user, the usage with the source.
    /// A UID already in the folder is refused (nothing is ever stored twice).
    pub fn import_exact(&self, mailbox: MailboxId, msgs: &[ExactMessage]) -> Result<()> {
        self.write(|tx| {
            let user = super::messages::owner(tx, mailbox)?;
            for m in msgs {
                import_one(tx, mailbox, user, m)?;
            }
            Ok(())
        })
    }

    /// The highest UID stored in `mailbox` (0 when it holds none): where an interrupted copy
    /// goes on.
    pub fn max_uid(&self, mailbox: MailboxId) -> Result<u32> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT coalesce(max(uid), 0) FROM messages WHERE mailbox_id = ?1",
                [mailbox.0],
                |r| r.get(0),
            )?)
        })
    }

    /// Up to `limit` expunged UIDs of `mailbox` above `after_uid` with the modseq of their
    /// removal (what QRESYNC's VANISHED reports), ascending.
    pub fn export_expunged(
        &self,
        mailbox: MailboxId,
        after_uid: u32,
        limit: usize,
    ) -> Result<Vec<(u32, u64)>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT uid, modseq FROM expunged WHERE mailbox_id = ?1 AND uid > ?2
                 ORDER BY uid LIMIT ?3",
            )?;
            let rows = st.query_map(params![mailbox.0, after_uid, limit as i64], |r| {
                Ok((r.get(0)?, r.get::<_, i64>(1)? as u64))
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Record expunged UIDs of `mailbox` (those already recorded are left as they are).
    pub fn import_expunged(&self, mailbox: MailboxId, rows: &[(u32, u64)]) -> Result<()> {
        self.write(|tx| {
            let mut st = tx.prepare_cached(
                "INSERT OR IGNORE INTO expunged (mailbox_id, uid, modseq) VALUES (?1, ?2, ?3)",
            )?;
            for (uid, modseq) in rows {
                st.execute(params![mailbox.0, uid, *modseq as i64])?;
            }
            Ok(())
        })
    }

    /// Every METADATA entry of `user`, server entries first.
    pub fn export_metadata(&self, user: UserId) -> Result<Vec<MetadataExport>> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT b.name, e.name, e.value FROM metadata e
                 LEFT JOIN mailboxes b ON b.id = e.mailbox_id
                 WHERE e.user_id = ?1 ORDER BY b.name IS NOT NULL, b.name, e.name",
            )?;
            let rows = st.query_map([user.0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Write METADATA entries of `user` as they are (an entry already there is replaced; no
    /// limit is checked and nobody is notified: the entries were valid in the source).
    pub fn import_metadata(&self, user: UserId, rows: &[MetadataExport]) -> Result<()> {
        self.write(|tx| {
            for (mailbox, name, value) in rows {
                let mb = match mailbox {
                    Some(n) => Some(
                        super::mailboxes::mailbox(tx, user, n)?
                            .ok_or_else(|| StoreError::NotFound(format!("no folder {n}")))?
                            .id
                            .0,
                    ),
                    None => None,
                };
                tx.execute(
                    "DELETE FROM metadata WHERE user_id = ?1 AND mailbox_id IS ?2 AND name = ?3",
                    params![user.0, mb, name],
                )?;
                tx.execute(
                    "INSERT INTO metadata (user_id, mailbox_id, name, value) VALUES (?1, ?2, ?3, ?4)",
                    params![user.0, mb, name, value],
                )?;
            }
            Ok(())
        })
    }

    /// The database's OBJECTID key: equal keys mean the same ids (the target of a migration
    /// takes its source's).
    pub fn object_id_key(&self) -> Result<String> {
        self.read(super::objid::key)
    }

    /// The key of the database a migration into this one copies from (`set_migration`).
    pub fn migration(&self) -> Result<Option<String>> {
        self.read(|c| {
            Ok(c.query_row(
                "SELECT value FROM liteimap_meta WHERE key = ?1",
                [MIGRATION_KEY],
                |r| r.get(0),
            )
            .optional()?)
        })
    }

    /// `Some(key)`: this database is the target of a migration from the database whose
    /// OBJECTID key is `key`, and takes that key (so MAILBOXID and EMAILID stay the same).
    /// `None`: the migration is finished.
    pub fn set_migration(&self, source_key: Option<&str>) -> Result<()> {
        self.write(|tx| {
            match source_key {
                Some(key) => {
                    for k in [MIGRATION_KEY, super::objid::KEY] {
                        tx.execute(
                            "INSERT OR REPLACE INTO liteimap_meta (key, value) VALUES (?1, ?2)",
                            params![k, key],
                        )?;
                    }
                }
                None => {
                    tx.execute("DELETE FROM liteimap_meta WHERE key = ?1", [MIGRATION_KEY])?;
                }
            }
            Ok(())
        })
    }
}

/// One message of `import_exact`.
fn import_one(tx: &Transaction, mailbox: MailboxId, user: i64, m: &ExactMessage) -> Result<()> {
    let taken = tx
        .prepare_cached("SELECT 1 FROM messages WHERE mailbox_id = ?1 AND uid = ?2")?
        .query_row(params![mailbox.0, m.uid], |_| Ok(()))
        .optional()?
        .is_some();
    if taken {
        return Err(already(m.uid));
    }
    let hash = content_hash(&m.msg.raw);
    let body = super::messages::insert_hashed_body(tx, user, &hash, &m.msg)?;
    tx.prepare_cached("UPDATE bodies SET email_id = ?2, thread_id = ?3 WHERE id = ?1")?
        .execute(params![body, m.email_id, m.thread_id])?;
    tx.prepare_cached(
        "INSERT INTO messages (mailbox_id, uid, body_id, internal_date, date_offset, modseq, save_date, size)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![
        mailbox.0,
        m.uid,
        body,
        m.msg.internal_date,
        m.msg.date_offset,
        m.modseq as i64,
        m.save_date,
        m.msg.raw.len() as i64
    ])?;
    super::messages::insert_flags(tx, tx.last_insert_rowid(), &m.msg.flags)
}
