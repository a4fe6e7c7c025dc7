//! Accounts on PostgreSQL (the SQLite store's users.rs, same calls).

use super::mailboxes::{create_mailbox_with_use, subscribe_in};
use super::messages::delete_orphan_bodies;
use super::Cached;
use super::{get, get_u64, PgResult, PgStore, Tx};
use crate::store::mailboxes::DEFAULT_FOLDERS;
use crate::store::{now, MailboxId, Result, StoreError, UserId, UserRow};

fn user_row(r: &postgres::Row) -> PgResult<UserRow> {
    Ok(UserRow {
        id: UserId(get(r, 0)?),
        name: get(r, 1)?,
        password_hash: get(r, 2)?,
    })
}

pub(crate) fn find_user(
    t: &mut postgres::Transaction<'_>,
    name: &str,
) -> PgResult<Option<UserRow>> {
    t.query_opt_c(
        "SELECT id, name, password_hash FROM users WHERE name = $1",
        &[&name],
    )?
    .map(|r| user_row(&r))
    .transpose()
}

fn no_user(name: &str) -> super::Fail {
    super::Fail::Store(StoreError::NotFound(format!("no such user: {name}")))
}

impl PgStore {
    /// Create a user with the default folders, all subscribed.
    pub fn create_user(&self, name: &str, password_hash: &str) -> Result<UserId> {
        self.write(|tx| {
            if find_user(tx.t, name)?.is_some() {
                return Err(StoreError::AlreadyExists(format!("user {name} already exists")).into());
            }
            let id: i64 = get(
                &tx.query_one_c(
                    "INSERT INTO users (name, password_hash, created) VALUES ($1, $2, $3) RETURNING id",
                    &[&name, &password_hash, &now()],
                )?,
                0,
            )?;
            let id = UserId(id);
            for (folder, special_use) in DEFAULT_FOLDERS {
                let uses: Vec<&str> = special_use.into_iter().collect();
                create_mailbox_with_use(tx, id, folder, &uses)?;
                subscribe_in(tx.t, id, folder)?;
            }
            Ok(id)
        })
    }

    pub fn find_user(&self, name: &str) -> Result<Option<UserRow>> {
        self.read(|t| find_user(t, name))
    }

    /// The user a delivery address names: the exact name, else the one user whose name matches
    /// ignoring ASCII case (none when two users differ only in case).
    pub fn find_user_for_delivery(&self, name: &str) -> Result<Option<UserRow>> {
        self.read(|t| {
            if let Some(u) = find_user(t, name)? {
                return Ok(Some(u));
            }
            let rows = t.query_c(
                "SELECT id, name, password_hash FROM users WHERE lower(name) = lower($1) LIMIT 2",
                &[&name],
            )?;
            if rows.len() == 1 {
                Ok(Some(user_row(&rows[0])?))
            } else {
                Ok(None)
            }
        })
    }

    /// All users with their message counts, by name.
    pub fn list_users(&self) -> Result<Vec<(String, u64)>> {
        self.read(|t| {
            t.query_c(
                "SELECT u.name, (SELECT count(*) FROM messages m JOIN mailboxes b ON m.mailbox_id = b.id WHERE b.user_id = u.id)
                 FROM users u ORDER BY u.name",
                &[],
            )?
            .iter()
            .map(|r| Ok((get(r, 0)?, get_u64(r, 1)?)))
            .collect()
        })
    }

    /// The capabilities withheld from `user`, as CAPABILITY spells them.
    pub fn withheld_capabilities(&self, user: UserId) -> Result<Vec<String>> {
        self.read(|t| {
            t.query_c(
                "SELECT capability FROM withheld_capabilities WHERE user_id = $1 ORDER BY capability",
                &[&user.0],
            )?
            .iter()
            .map(|r| get(r, 0))
            .collect()
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
            let user = find_user(tx.t, name)?.ok_or_else(|| no_user(name))?;
            if withheld {
                tx.execute_c(
                    "INSERT INTO withheld_capabilities (user_id, capability) VALUES ($1, $2)
                     ON CONFLICT DO NOTHING",
                    &[&user.id.0, &capability],
                )?;
            } else {
                tx.execute_c(
                    "DELETE FROM withheld_capabilities WHERE user_id = $1 AND capability = $2",
                    &[&user.id.0, &capability],
                )?;
            }
            Ok(())
        })
    }

    /// Every user's withheld capabilities, by user name; users with none are left out.
    pub fn all_withheld_capabilities(&self) -> Result<Vec<(String, String)>> {
        self.read(|t| {
            t.query_c(
                "SELECT u.name, w.capability FROM withheld_capabilities w
                 JOIN users u ON u.id = w.user_id ORDER BY u.name, w.capability",
                &[],
            )?
            .iter()
            .map(|r| Ok((get(r, 0)?, get(r, 1)?)))
            .collect()
        })
    }

    pub fn user_count(&self) -> Result<u64> {
        self.read(|t| get_u64(&t.query_one_c("SELECT count(*) FROM users", &[])?, 0))
    }

    /// Remove a user and everything it owns.
    pub fn remove_user(&self, name: &str) -> Result<()> {
        self.write(|tx: &mut Tx<'_, '_>| {
            let boxes = tx.query_c(
                "SELECT b.id FROM mailboxes b JOIN users u ON u.id = b.user_id WHERE u.name = $1",
                &[&name],
            )?;
            for r in &boxes {
                tx.changed(MailboxId(get(r, 0)?));
            }
            if tx.execute_c("DELETE FROM users WHERE name = $1", &[&name])? == 0 {
                return Err(no_user(name));
            }
            delete_orphan_bodies(tx.t, &self.holds)?;
            Ok(())
        })
    }

    pub fn set_password(&self, name: &str, password_hash: &str) -> Result<()> {
        self.write(|tx| {
            let n = tx.execute_c(
                "UPDATE users SET password_hash = $2 WHERE name = $1",
                &[&name, &password_hash],
            )?;
            if n == 0 {
                return Err(no_user(name));
            }
            Ok(())
        })
    }
}
