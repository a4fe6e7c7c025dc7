//! Quotas (RFC 9208): one quota root per user, with limits on storage, messages and mailboxes.
//!
//! Storage and message usage are counters in the `quota` table that schema.sql's triggers keep
//! exact in the statement that inserts or deletes a message row, whichever writer runs it; the
//! mailbox count is counted in the writing transaction (a user has few mailboxes). A write that
//! can grow usage runs inside `guarded`: usage is read before and after it in the same
//! transaction, and a resource that grew past its limit fails the write, which rolls it back
//! whole (nothing partially stored). Shrinking is never refused, and a write that leaves usage
//! where it was (a MOVE) succeeds even over the limit.

use rusqlite::{params, Connection, OptionalExtension};

use super::{Result, SqliteStore, StoreError, Transaction, UserId};

/// A limit per resource; `None` is no limit. Storage is in octets.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuotaLimits {
    pub storage: Option<u64>,
    pub messages: Option<u64>,
    pub mailboxes: Option<u64>,
}

/// What a user uses: octets of all its messages (one per copy), messages, selectable mailboxes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QuotaUsage {
    pub storage: u64,
    pub messages: u64,
    pub mailboxes: u64,
}

/// A user's quota root: its limits and its usage.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Quota {
    pub limits: QuotaLimits,
    pub usage: QuotaUsage,
}

impl Quota {
    /// Octets that may still be stored; `None` without a storage limit.
    pub fn storage_left(&self) -> Option<u64> {
        self.limits
            .storage
            .map(|l| l.saturating_sub(self.usage.storage))
    }
}

/// The resource a refused write would have taken past its limit.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum QuotaResource {
    Storage,
    Messages,
    Mailboxes,
}

impl QuotaResource {
    pub fn name(self) -> &'static str {
        match self {
            QuotaResource::Storage => "storage",
            QuotaResource::Messages => "message",
            QuotaResource::Mailboxes => "mailbox",
        }
    }
}

/// Why a write was refused: the resource, and whether it could never fit (the write alone is
/// larger than the limit, so waiting or deleting other mail does not help).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct OverQuota {
    pub resource: QuotaResource,
    pub never_fits: bool,
}

impl std::fmt::Display for OverQuota {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.never_fits {
            write!(f, "larger than the {} quota", self.resource.name())
        } else {
            write!(f, "{} quota exceeded", self.resource.name())
        }
    }
}

impl SqliteStore {
    /// A user's quota root (limits and exact usage).
    pub fn quota(&self, user: UserId) -> Result<Quota> {
        self.read(|c| quota(c, user.0))
    }

    /// Set a user's limits (the admin command; IMAP SETQUOTA is refused).
    pub fn set_quota(&self, name: &str, limits: QuotaLimits) -> Result<()> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE quota SET storage_limit = ?2, message_limit = ?3, mailbox_limit = ?4
                 WHERE user_id = (SELECT id FROM users WHERE name = ?1)",
                params![
                    name,
                    limits.storage.map(clamp),
                    limits.messages.map(clamp),
                    limits.mailboxes.map(clamp)
                ],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("no such user: {name}")));
            }
            Ok(())
        })
    }

    /// Every user's quota root, by name (for `user list`).
    pub fn quotas(&self) -> Result<Vec<(String, Quota)>> {
        self.read(|c| {
            let mut st = c.prepare("SELECT id, name FROM users ORDER BY name")?;
            let users = st
                .query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get::<_, String>(1)?)))?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            users
                .into_iter()
                .map(|(id, name)| Ok((name, quota(c, id)?)))
                .collect()
        })
    }
}

fn clamp(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn count(v: Option<i64>) -> Option<u64> {
    v.map(|v| u64::try_from(v).unwrap_or(0))
}

pub(crate) fn quota(c: &Connection, user: i64) -> Result<Quota> {
    type Row = (Option<i64>, Option<i64>, Option<i64>, i64, i64);
    let row: Option<Row> = c
        .prepare_cached(
            "SELECT storage_limit, message_limit, mailbox_limit, storage_used, messages_used
             FROM quota WHERE user_id = ?1",
        )?
        .query_row([user], |r| {
            Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
        })
        .optional()?;
    let (sl, ml, bl, su, mu) = row.ok_or_else(|| StoreError::NotFound("no such user".into()))?;
    let mailboxes: i64 = c
        .prepare_cached("SELECT count(*) FROM mailboxes WHERE user_id = ?1 AND noselect = 0")?
        .query_row([user], |r| r.get(0))?;
    Ok(Quota {
        limits: QuotaLimits {
            storage: count(sl),
            messages: count(ml),
            mailboxes: count(bl),
        },
        usage: QuotaUsage {
            storage: count(Some(su)).unwrap_or(0),
            messages: count(Some(mu)).unwrap_or(0),
            mailboxes: count(Some(mailboxes)).unwrap_or(0),
        },
    })
}

/// Run a write that may grow `user`'s usage; refuse it (the caller's savepoint rolls it back)
/// when a resource it grew ends over its limit.
pub(crate) fn guarded<T>(
    tx: &Transaction,
    user: UserId,
    write: impl FnOnce() -> Result<T>,
) -> Result<T> {
    let before = quota(tx, user.0)?;
    let out = write()?;
    let after = quota(tx, user.0)?;
    within(&before, &after)?;
    Ok(out)
}

/// Refuse a write that took a resource from `before` to `after` past its limit (growth only:
/// shrinking, or staying over a limit, is allowed). Both backends' `guarded`.
pub(crate) fn within(before: &Quota, after: &Quota) -> Result<()> {
    let checks = [
        (
            QuotaResource::Storage,
            before.usage.storage,
            after.usage.storage,
            after.limits.storage,
        ),
        (
            QuotaResource::Messages,
            before.usage.messages,
            after.usage.messages,
            after.limits.messages,
        ),
        (
            QuotaResource::Mailboxes,
            before.usage.mailboxes,
            after.usage.mailboxes,
            after.limits.mailboxes,
        ),
    ];
    for (resource, was, now, limit) in checks {
        if let Some(limit) = limit {
            if now > was && now > limit {
                return Err(StoreError::OverQuota(OverQuota {
                    resource,
                    never_fits: now - was > limit,
                }));
            }
        }
    }
    Ok(())
}

/// Schema 4: the quota table and its triggers (schema.sql's block), with every existing user's
/// counters computed once from its messages.
pub(crate) fn quota_counters(tx: &Transaction) -> Result<()> {
    tx.execute_batch(super::schema_block(
        "CREATE TABLE quota (",
        "-- end of QUOTA",
    )?)?;
    tx.execute_batch(
        "INSERT INTO quota (user_id, storage_used, messages_used)
         SELECT u.id,
                (SELECT coalesce(sum(b.size), 0) FROM messages m JOIN bodies b ON b.id = m.body_id
                 WHERE b.user_id = u.id),
                (SELECT count(*) FROM messages m JOIN bodies b ON b.id = m.body_id
                 WHERE b.user_id = u.id)
         FROM users u;",
    )?;
    Ok(())
}
