//! Accounts. The store keeps only the password hash; hashing lives in `crate::password`.

use rusqlite::{params, Connection, OptionalExtension};

use super::{mailboxes, now, Result, SqliteStore, StoreError, Transaction, UserId};

#[derive(Clone, Debug)]
pub struct UserRow {
    pub id: UserId,
    pub name: String,
    pub password_hash: String,
}

impl SqliteStore {
    /// Create a user with the default folders (INBOX, Drafts, Sent, Trash, Junk, Archive; see
    /// `mailboxes::DEFAULT_FOLDERS`), all subscribed.
    pub fn create_user(&self, name: &str, password_hash: &str) -> Result<UserId> {
        self.write(|tx| create_user(tx, name, password_hash))
    }

    pub fn find_user(&self, name: &str) -> Result<Option<UserRow>> {
        self.read(|c| find_user(c, name))
    }

    /// The user a delivery address names: the exact name, else the one user whose name matches
    /// ignoring ASCII case (none when two users differ only in case: we would have to guess).
    pub fn find_user_for_delivery(&self, name: &str) -> Result<Option<UserRow>> {
        self.read(|c| {
            if let Some(u) = find_user(c, name)? {
                return Ok(Some(u));
            }
            let mut st = c.prepare_cached(
                "SELECT id, name, password_hash FROM users WHERE name = ?1 COLLATE NOCASE LIMIT 2",
            )?;
            let mut rows = st
                .query_map([name], |r| {
                    Ok(UserRow {
                        id: UserId(r.get(0)?),
                        name: r.get(1)?,
                        password_hash: r.get(2)?,
                    })
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok(if rows.len() == 1 { rows.pop() } else { None })
        })
    }

    /// All users with their message counts, by name.
    pub fn list_users(&self) -> Result<Vec<(String, u64)>> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT u.name, (SELECT count(*) FROM messages m JOIN mailboxes b ON m.mailbox_id = b.id WHERE b.user_id = u.id)
                 FROM users u ORDER BY u.name",
            )?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get::<_, i64>(1)? as u64)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// The capabilities withheld from `user` (`user set NAME --no-uidonly`), as CAPABILITY
    /// spells them.
    pub fn withheld_capabilities(&self, user: UserId) -> Result<Vec<String>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT capability FROM withheld_capabilities WHERE user_id = ?1
                 ORDER BY capability",
            )?;
            let rows = st.query_map([user.0], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// Withhold `capability` from the user `name`, or offer it again (`withheld` false).
    pub fn set_capability_withheld(
        &self,
        name: &str,
        capability: &str,
        withheld: bool,
    ) -> Result<()> {
        self.write(|tx| {
            let user: Option<i64> = tx
                .query_row("SELECT id FROM users WHERE name = ?1", [name], |r| r.get(0))
                .optional()?;
            let Some(user) = user else {
                return Err(StoreError::NotFound(format!("no such user: {name}")));
            };
            if withheld {
                tx.execute(
                    "INSERT OR IGNORE INTO withheld_capabilities (user_id, capability)
                     VALUES (?1, ?2)",
                    rusqlite::params![user, capability],
                )?;
            } else {
                tx.execute(
                    "DELETE FROM withheld_capabilities WHERE user_id = ?1 AND capability = ?2",
                    rusqlite::params![user, capability],
                )?;
            }
            Ok(())
        })
    }

    /// Every user's withheld capabilities, by user name (for `user list`); users with none
    /// are left out.
    pub fn all_withheld_capabilities(&self) -> Result<Vec<(String, String)>> {
        self.read(|c| {
            let mut st = c.prepare(
                "SELECT u.name, w.capability FROM withheld_capabilities w
                 JOIN users u ON u.id = w.user_id ORDER BY u.name, w.capability",
            )?;
            let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    pub fn user_count(&self) -> Result<u64> {
        self.read(|c| {
            Ok(c.query_row("SELECT count(*) FROM users", [], |r| r.get::<_, i64>(0))? as u64)
        })
    }

    /// Remove a user and everything it owns.
    pub fn remove_user(&self, name: &str) -> Result<()> {
        self.write(|tx| {
            // Sessions that have one of its folders selected must hear that it is gone.
            let mut st = tx.prepare(
                "SELECT b.id FROM mailboxes b JOIN users u ON u.id = b.user_id WHERE u.name = ?1",
            )?;
            for id in st.query_map([name], |r| r.get(0))? {
                super::mark_changed(super::MailboxId(id?));
            }
            drop(st);
            let n = tx.execute("DELETE FROM users WHERE name = ?1", [name])?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("no such user: {name}")));
            }
            super::messages::delete_orphan_bodies(tx, &self.holds)?;
            Ok(())
        })
    }

    pub fn set_password(&self, name: &str, password_hash: &str) -> Result<()> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE users SET password_hash = ?2 WHERE name = ?1",
                params![name, password_hash],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("no such user: {name}")));
            }
            Ok(())
        })
    }
}

pub(crate) fn create_user(tx: &Transaction, name: &str, password_hash: &str) -> Result<UserId> {
    if find_user(tx, name)?.is_some() {
        return Err(StoreError::AlreadyExists(format!(
            "user {name} already exists"
        )));
    }
    tx.execute(
        "INSERT INTO users (name, password_hash, created) VALUES (?1, ?2, ?3)",
        params![name, password_hash, now()],
    )?;
    let id = UserId(tx.last_insert_rowid());
    for (name, special_use) in mailboxes::DEFAULT_FOLDERS {
        let uses: Vec<&str> = special_use.into_iter().collect();
        mailboxes::create_mailbox_with_use(tx, id, name, &uses)?;
        mailboxes::subscribe_in(tx, id, name)?;
    }
    Ok(id)
}

pub(crate) fn find_user(c: &Connection, name: &str) -> Result<Option<UserRow>> {
    Ok(
        c.prepare_cached("SELECT id, name, password_hash FROM users WHERE name = ?1")?
            .query_row([name], |r| {
                Ok(UserRow {
                    id: UserId(r.get(0)?),
                    name: r.get(1)?,
                    password_hash: r.get(2)?,
                })
            })
            .optional()?,
    )
}

/// Schema 9: the table of capabilities withheld from a user (its block at the end of
/// schema.sql).
pub(crate) fn add_withheld_capabilities(tx: &Transaction) -> Result<()> {
    tx.execute_batch(super::schema_block(
        "CREATE TABLE withheld_capabilities (",
        "-- end of withheld capabilities",
    )?)?;
    Ok(())
}
