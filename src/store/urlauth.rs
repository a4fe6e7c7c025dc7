//! URLAUTH (RFC 4467): the mailbox access key of each of a user's mailboxes. A key is made
//! on first use, replaced by RESETKEY, and goes with its mailbox (DELETE; a new mailbox of the
//! same name has a new key). Keys are read only by the owner's id and never leave the server:
//! callers get them to compute or check a token.

use rusqlite::{params, OptionalExtension};

use super::{mailboxes, MailboxId, MailboxRow, Result, SqliteStore, Transaction, UserId};

/// Bytes in a mailbox access key (the HMAC-SHA256 key of the INTERNAL mechanism).
pub const KEY_LEN: usize = 32;

pub(crate) fn fresh_key() -> Vec<u8> {
    use argon2::password_hash::rand_core::{OsRng, RngCore};
    let mut key = vec![0u8; KEY_LEN];
    OsRng.fill_bytes(&mut key);
    key
}

impl SqliteStore {
    /// `user`'s folder `name` and its access key; with `create`, a key is made when it has
    /// none (GENURLAUTH), otherwise a folder without one gives `None` for the key (URLFETCH:
    /// no key, no valid token). `Ok(None)`: no such folder.
    pub fn urlauth_key(
        &self,
        user: UserId,
        name: &str,
        create: bool,
    ) -> Result<Option<(MailboxRow, Option<Vec<u8>>)>> {
        let lookup = |c: &rusqlite::Connection| -> Result<Option<(MailboxRow, Option<Vec<u8>>)>> {
            let Some(mb) = mailboxes::mailbox(c, user, name)? else {
                return Ok(None);
            };
            let key: Option<Vec<u8>> = c
                .prepare_cached("SELECT key FROM urlauth_keys WHERE mailbox_id = ?1")?
                .query_row([mb.id.0], |r| r.get(0))
                .optional()?;
            Ok(Some((mb, key)))
        };
        let found = self.read(lookup)?;
        if !create || !matches!(found, Some((_, None))) {
            return Ok(found);
        }
        self.write(|tx: &Transaction| {
            if let Some((mb, None)) = lookup(tx)? {
                tx.prepare_cached(
                    "INSERT OR IGNORE INTO urlauth_keys (mailbox_id, key) VALUES (?1, ?2)",
                )?
                .execute(params![mb.id.0, fresh_key()])?;
            }
            lookup(tx)
        })
    }

    /// RESETKEY: forget the access key of `user`'s folder `name`, or of all of them; every
    /// URL authorized with it stops working. The folders whose keys were reset (the sessions
    /// that have one selected are told, RFC 4467 §6.1); `None` when `name` is no folder of
    /// the user.
    pub fn reset_urlauth_keys(
        &self,
        user: UserId,
        name: Option<&str>,
    ) -> Result<Option<Vec<MailboxId>>> {
        self.write(|tx| match name {
            Some(name) => {
                let Some(mb) = mailboxes::mailbox(tx, user, name)? else {
                    return Ok(None);
                };
                tx.prepare_cached("DELETE FROM urlauth_keys WHERE mailbox_id = ?1")?
                    .execute([mb.id.0])?;
                Ok(Some(vec![mb.id]))
            }
            None => {
                tx.prepare_cached(
                    "DELETE FROM urlauth_keys WHERE mailbox_id IN
                       (SELECT id FROM mailboxes WHERE user_id = ?1)",
                )?
                .execute([user.0])?;
                let ids = tx
                    .prepare_cached("SELECT id FROM mailboxes WHERE user_id = ?1 ORDER BY id")?
                    .query_map([user.0], |r| r.get(0).map(MailboxId))?
                    .collect::<std::result::Result<Vec<_>, _>>()?;
                Ok(Some(ids))
            }
        })
    }
}

/// Schema 4: the table of mailbox access keys (URLAUTH). `IF NOT EXISTS`: the tests that
/// build older versions start from today's schema.sql, which has it.
pub(crate) fn add_keys_table(tx: &Transaction) -> Result<()> {
    tx.execute_batch(
        "CREATE TABLE IF NOT EXISTS urlauth_keys (
             mailbox_id INTEGER PRIMARY KEY REFERENCES mailboxes(id) ON DELETE CASCADE,
             key        BLOB    NOT NULL
         );",
    )?;
    Ok(())
}
