//! Folders and subscriptions on PostgreSQL (the SQLite store's mailboxes.rs, same calls and
//! rules; the name checks and hierarchy helpers are that module's).

use super::messages::{delete_orphan_bodies, expunge_all, move_all};
use super::rest::guarded;
use super::Cached;
use super::{get, get_u32, get_u64, Fail, PgResult, PgStore, Tx};
use crate::store::mailboxes::{ancestors, check_name, DELIMITER, INBOX};
use crate::store::{now, MailboxId, MailboxRow, Result, StoreError, UserId};

pub(crate) const COLUMNS: &str =
    "id, name, uidvalidity, uidnext, highest_modseq, noselect, special_use";

pub(crate) fn row(r: &postgres::Row) -> PgResult<MailboxRow> {
    Ok(MailboxRow {
        id: MailboxId(get(r, 0)?),
        name: get(r, 1)?,
        uidvalidity: get_u32(r, 2)?,
        uidnext: get_u32(r, 3)?,
        highest_modseq: get_u64(r, 4)?,
        noselect: get(r, 5)?,
        special_use: get(r, 6)?,
    })
}

pub(crate) fn mailbox(
    t: &mut postgres::Transaction<'_>,
    user: UserId,
    name: &str,
) -> PgResult<Option<MailboxRow>> {
    t.query_opt_c(
        &format!("SELECT {COLUMNS} FROM mailboxes WHERE user_id = $1 AND name = $2"),
        &[&user.0, &name],
    )?
    .map(|r| row(&r))
    .transpose()
}

pub(crate) fn gone() -> Fail {
    Fail::Store(StoreError::NotFound("mailbox no longer exists".into()))
}

pub(crate) fn mailbox_by_id(
    t: &mut postgres::Transaction<'_>,
    id: MailboxId,
) -> PgResult<MailboxRow> {
    t.query_opt_c(
        &format!("SELECT {COLUMNS} FROM mailboxes WHERE id = $1"),
        &[&id.0],
    )?
    .map(|r| row(&r))
    .transpose()?
    .ok_or_else(gone)
}

fn not_found(name: &str) -> Fail {
    Fail::Store(StoreError::NotFound(format!("no such mailbox: {name}")))
}

/// A UIDVALIDITY never used before in this database: time-based and strictly increasing,
/// taken under the lock of its liteimap_meta row, so two nodes never hand out the same one.
fn next_uidvalidity(t: &mut postgres::Transaction<'_>) -> PgResult<u32> {
    let last: i64 = t
        .query_opt_c(
            "SELECT value FROM liteimap_meta WHERE key = 'last_uidvalidity' FOR UPDATE",
            &[],
        )?
        .and_then(|r| r.try_get::<_, String>(0).ok())
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let candidate = now().clamp(1, u32::MAX as i64 / 2);
    let value = if last >= candidate {
        last + 1
    } else {
        candidate
    };
    let Ok(v) = u32::try_from(value) else {
        return Err(StoreError::NotAllowed("UIDVALIDITY space exhausted".into()).into());
    };
    t.execute_c(
        "INSERT INTO liteimap_meta (key, value) VALUES ('last_uidvalidity', $1)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[&value.to_string()],
    )?;
    Ok(v)
}

fn insert_mailbox(t: &mut postgres::Transaction<'_>, user: UserId, name: &str) -> PgResult<()> {
    let v = i64::from(next_uidvalidity(t)?);
    t.execute_c(
        "INSERT INTO mailboxes (user_id, name, uidvalidity) VALUES ($1, $2, $3)",
        &[&user.0, &name, &v],
    )?;
    Ok(())
}

/// Create `name` and any missing ancestors; a \Noselect placeholder of that name becomes a
/// real folder with a new id and UIDVALIDITY.
pub(crate) fn create_mailbox(
    tx: &mut Tx<'_, '_>,
    user: UserId,
    name: &str,
) -> PgResult<MailboxRow> {
    if let Some(existing) = mailbox(tx.t, user, name)? {
        if !existing.noselect {
            return Err(StoreError::AlreadyExists(format!("mailbox {name} already exists")).into());
        }
        tx.execute_c("DELETE FROM mailboxes WHERE id = $1", &[&existing.id.0])?;
        tx.changed(existing.id);
    } else {
        for parent in ancestors(name) {
            if mailbox(tx.t, user, parent)?.is_none() {
                insert_mailbox(tx.t, user, parent)?;
            }
        }
    }
    insert_mailbox(tx.t, user, name)?;
    mailbox(tx.t, user, name)?.ok_or_else(|| not_found(name))
}

/// `create_mailbox`, then the special-use attributes (space-separated in one column).
pub(crate) fn create_mailbox_with_use(
    tx: &mut Tx<'_, '_>,
    user: UserId,
    name: &str,
    uses: &[&str],
) -> PgResult<MailboxRow> {
    let mut row = create_mailbox(tx, user, name)?;
    if !uses.is_empty() {
        let value = uses.join(" ");
        tx.execute_c(
            "UPDATE mailboxes SET special_use = $2 WHERE id = $1",
            &[&row.id.0, &value],
        )?;
        row.special_use = Some(value);
    }
    Ok(row)
}

pub(crate) fn subscribe_in(
    t: &mut postgres::Transaction<'_>,
    user: UserId,
    name: &str,
) -> PgResult<()> {
    t.execute_c(
        "INSERT INTO subscriptions (user_id, name) VALUES ($1, $2) ON CONFLICT DO NOTHING",
        &[&user.0, &name],
    )?;
    Ok(())
}

/// The folders below `name` (id, full name).
fn children(
    t: &mut postgres::Transaction<'_>,
    user: UserId,
    name: &str,
) -> PgResult<Vec<(i64, String)>> {
    let prefix = format!("{name}{DELIMITER}");
    t.query_c(
        "SELECT id, name FROM mailboxes WHERE user_id = $1 AND left(name, length($2)) = $2",
        &[&user.0, &prefix],
    )?
    .iter()
    .map(|r| Ok((get(r, 0)?, get(r, 1)?)))
    .collect()
}

impl PgStore {
    pub fn mailbox(&self, user: UserId, name: &str) -> Result<Option<MailboxRow>> {
        self.read(|t| mailbox(t, user, name))
    }

    pub fn mailboxes(&self, user: UserId) -> Result<Vec<MailboxRow>> {
        self.read(|t| {
            t.query_c(
                &format!("SELECT {COLUMNS} FROM mailboxes WHERE user_id = $1 ORDER BY name COLLATE \"C\""),
                &[&user.0],
            )?
            .iter()
            .map(row)
            .collect()
        })
    }

    pub fn create_mailbox(&self, user: UserId, name: &str) -> Result<MailboxRow> {
        check_name(name)?;
        self.write(|tx| guarded(tx, user, |tx| create_mailbox(tx, user, name)))
    }

    /// CREATE with special-use attributes (RFC 6154 CREATE-SPECIAL-USE).
    pub fn create_mailbox_with_use(
        &self,
        user: UserId,
        name: &str,
        uses: &[&str],
    ) -> Result<MailboxRow> {
        check_name(name)?;
        self.write(|tx| guarded(tx, user, |tx| create_mailbox_with_use(tx, user, name, uses)))
    }

    /// RFC 3501 DELETE: a folder with children keeps its name as \Noselect and loses its
    /// messages.
    pub fn delete_mailbox(&self, user: UserId, name: &str) -> Result<()> {
        let _gates = self.holds.all_gates();
        self.write(|tx| {
            if name.eq_ignore_ascii_case(INBOX) {
                return Err(StoreError::NotAllowed("INBOX cannot be deleted".into()).into());
            }
            let mb = mailbox(tx.t, user, name)?.ok_or_else(|| not_found(name))?;
            let has_children = !children(tx.t, user, name)?.is_empty();
            tx.changed(mb.id);
            expunge_all(tx, &self.holds, mb.id)?;
            if has_children {
                if mb.noselect {
                    return Err(StoreError::NotAllowed(format!(
                        "{name} has inferior hierarchical names and is already \\Noselect"
                    ))
                    .into());
                }
                tx.execute_c(
                    "UPDATE mailboxes SET noselect = true WHERE id = $1",
                    &[&mb.id.0],
                )?;
                tx.execute_c("DELETE FROM metadata WHERE mailbox_id = $1", &[&mb.id.0])?;
            } else {
                tx.execute_c("DELETE FROM mailboxes WHERE id = $1", &[&mb.id.0])?;
            }
            delete_orphan_bodies(tx.t, &self.holds)?;
            Ok(())
        })
    }

    /// RFC 3501 RENAME. Children move with their parent; renaming INBOX moves its messages to
    /// a new folder and leaves INBOX empty.
    pub fn rename_mailbox(&self, user: UserId, from: &str, to: &str) -> Result<()> {
        check_name(to)?;
        self.write(|tx| {
            let src = mailbox(tx.t, user, from)?.ok_or_else(|| not_found(from))?;
            if let Some(existing) = mailbox(tx.t, user, to)? {
                if !existing.noselect || from == INBOX {
                    return Err(
                        StoreError::AlreadyExists(format!("mailbox {to} already exists")).into(),
                    );
                }
            }
            if to.eq_ignore_ascii_case(INBOX) {
                return Err(
                    StoreError::NotAllowed("cannot rename a mailbox to INBOX".into()).into(),
                );
            }
            if from == INBOX {
                return guarded(tx, user, |tx| {
                    let dst = create_mailbox(tx, user, to)?;
                    move_all(tx, src.id, dst.id)
                });
            }
            if to.starts_with(&format!("{from}{DELIMITER}")) {
                return Err(StoreError::NotAllowed(format!(
                    "cannot rename {from} into its own hierarchy"
                ))
                .into());
            }
            tx.execute_c(
                "DELETE FROM mailboxes WHERE user_id = $1 AND name = $2 AND noselect",
                &[&user.0, &to],
            )?;
            for parent in ancestors(to) {
                if mailbox(tx.t, user, parent)?.is_none() {
                    insert_mailbox(tx.t, user, parent)?;
                }
            }
            for (id, name) in children(tx.t, user, from)? {
                let new_name = format!("{to}{}", &name[from.len()..]);
                if mailbox(tx.t, user, &new_name)?.is_some() {
                    return Err(StoreError::AlreadyExists(format!(
                        "mailbox {new_name} already exists"
                    ))
                    .into());
                }
                tx.execute_c(
                    "UPDATE mailboxes SET name = $2 WHERE id = $1",
                    &[&id, &new_name],
                )?;
            }
            tx.execute_c(
                "UPDATE mailboxes SET name = $2 WHERE id = $1",
                &[&src.id.0, &to],
            )?;
            Ok(())
        })
    }

    pub fn subscribe(&self, user: UserId, name: &str) -> Result<()> {
        self.write(|tx| subscribe_in(tx.t, user, name))
    }

    pub fn unsubscribe(&self, user: UserId, name: &str) -> Result<()> {
        self.write(|tx| {
            let n = tx.execute_c(
                "DELETE FROM subscriptions WHERE user_id = $1 AND name = $2",
                &[&user.0, &name],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("not subscribed to {name}")).into());
            }
            Ok(())
        })
    }

    pub fn subscriptions(&self, user: UserId) -> Result<Vec<String>> {
        self.read(|t| {
            t.query_c(
                "SELECT name FROM subscriptions WHERE user_id = $1 ORDER BY name COLLATE \"C\"",
                &[&user.0],
            )?
            .iter()
            .map(|r| get(r, 0))
            .collect()
        })
    }
}
