//! Quota, URLAUTH keys, METADATA, and the search index on PostgreSQL.

use super::mailboxes::mailbox;
use super::Cached;
use super::{big, get, get_u64, Fail, PgResult, PgStore, Tx};
use crate::store::metadata::{digest, gather};
use crate::store::quota::within;
use crate::store::urlauth::fresh_key;
use crate::store::{
    MailboxId, MailboxRow, MetadataChange, MetadataDepth, MetadataEntry, MetadataHook, Quota,
    QuotaLimits, QuotaUsage, Result, StoreError, UserId, MAX_ENTRIES,
};

fn count(v: Option<i64>) -> Option<u64> {
    v.map(|v| u64::try_from(v).unwrap_or(0))
}

/// A user's limits and exact usage (the triggers' counters; selectable mailboxes counted).
pub(crate) fn quota_of(t: &mut postgres::Transaction<'_>, user: UserId) -> PgResult<Quota> {
    let r = t
        .query_opt_c(
            "SELECT storage_limit, message_limit, mailbox_limit, storage_used, messages_used,
                    (SELECT count(*) FROM mailboxes WHERE user_id = $1 AND NOT noselect)
             FROM quota WHERE user_id = $1",
            &[&user.0],
        )?
        .ok_or_else(|| Fail::Store(StoreError::NotFound("no such user".into())))?;
    Ok(Quota {
        limits: QuotaLimits {
            storage: count(get(&r, 0)?),
            messages: count(get(&r, 1)?),
            mailboxes: count(get(&r, 2)?),
        },
        usage: QuotaUsage {
            storage: get_u64(&r, 3)?,
            messages: get_u64(&r, 4)?,
            mailboxes: get_u64(&r, 5)?,
        },
    })
}

/// Run a write that may grow `user`'s usage; refuse it (rolled back whole) when a resource it
/// grew ends over its limit. The quota row is locked first, so two nodes writing for one user
/// at once are checked one after the other.
pub(crate) fn guarded<T>(
    tx: &mut Tx<'_, '_>,
    user: UserId,
    write: impl FnOnce(&mut Tx<'_, '_>) -> PgResult<T>,
) -> PgResult<T> {
    tx.execute_c(
        "SELECT 1 FROM quota WHERE user_id = $1 FOR UPDATE",
        &[&user.0],
    )?;
    let before = quota_of(tx.t, user)?;
    let out = write(tx)?;
    let after = quota_of(tx.t, user)?;
    within(&before, &after)?;
    Ok(out)
}

/// The mailbox a METADATA request names (None: the server); it must exist and be selectable.
fn target(
    t: &mut postgres::Transaction<'_>,
    user: UserId,
    name: Option<&str>,
) -> PgResult<Option<MailboxId>> {
    let Some(name) = name else {
        return Ok(None);
    };
    match mailbox(t, user, name)? {
        Some(mb) if !mb.noselect => Ok(Some(mb.id)),
        _ => Err(StoreError::NotFound(format!("No such mailbox: {name}")).into()),
    }
}

impl PgStore {
    /// A user's quota root (limits and exact usage).
    pub fn quota(&self, user: UserId) -> Result<Quota> {
        self.read(|t| quota_of(t, user))
    }

    /// Set a user's limits (the admin command).
    pub fn set_quota(&self, name: &str, limits: QuotaLimits) -> Result<()> {
        self.write(|tx| {
            let n = tx.execute_c(
                "UPDATE quota SET storage_limit = $2, message_limit = $3, mailbox_limit = $4
                 WHERE user_id = (SELECT id FROM users WHERE name = $1)",
                &[
                    &name,
                    &limits.storage.map(big),
                    &limits.messages.map(big),
                    &limits.mailboxes.map(big),
                ],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("no such user: {name}")).into());
            }
            Ok(())
        })
    }

    /// Every user's quota root, by name.
    pub fn quotas(&self) -> Result<Vec<(String, Quota)>> {
        self.read(|t| {
            let users: Vec<(i64, String)> = t
                .query_c("SELECT id, name FROM users ORDER BY name", &[])?
                .iter()
                .map(|r| Ok((get(r, 0)?, get(r, 1)?)))
                .collect::<PgResult<_>>()?;
            users
                .into_iter()
                .map(|(id, name)| Ok((name, quota_of(t, UserId(id))?)))
                .collect()
        })
    }

    /// `user`'s folder `name` and its URLAUTH access key; with `create`, one is made when it
    /// has none. `Ok(None)`: no such folder.
    pub fn urlauth_key(
        &self,
        user: UserId,
        name: &str,
        create: bool,
    ) -> Result<Option<(MailboxRow, Option<Vec<u8>>)>> {
        let lookup =
            |t: &mut postgres::Transaction<'_>| -> PgResult<Option<(MailboxRow, Option<Vec<u8>>)>> {
                let Some(mb) = mailbox(t, user, name)? else {
                    return Ok(None);
                };
                let key = t
                    .query_opt_c(
                        "SELECT key FROM urlauth_keys WHERE mailbox_id = $1",
                        &[&mb.id.0],
                    )?
                    .map(|r| get(&r, 0))
                    .transpose()?;
                Ok(Some((mb, key)))
            };
        let found = self.read(lookup)?;
        if !create || !matches!(found, Some((_, None))) {
            return Ok(found);
        }
        self.write(|tx| {
            if let Some((mb, None)) = lookup(tx.t)? {
                tx.execute_c(
                    "INSERT INTO urlauth_keys (mailbox_id, key) VALUES ($1, $2) ON CONFLICT DO NOTHING",
                    &[&mb.id.0, &fresh_key()],
                )?;
            }
            lookup(tx.t)
        })
    }

    /// RESETKEY: forget the access key of `user`'s folder `name`, or of all of them; the
    /// folders whose keys were reset, `None` when `name` is no folder of the user.
    pub fn reset_urlauth_keys(
        &self,
        user: UserId,
        name: Option<&str>,
    ) -> Result<Option<Vec<MailboxId>>> {
        self.write(|tx| match name {
            Some(name) => {
                let Some(mb) = mailbox(tx.t, user, name)? else {
                    return Ok(None);
                };
                tx.execute_c("DELETE FROM urlauth_keys WHERE mailbox_id = $1", &[&mb.id.0])?;
                Ok(Some(vec![mb.id]))
            }
            None => {
                tx.execute_c(
                    "DELETE FROM urlauth_keys WHERE mailbox_id IN (SELECT id FROM mailboxes WHERE user_id = $1)",
                    &[&user.0],
                )?;
                tx.query_c("SELECT id FROM mailboxes WHERE user_id = $1 ORDER BY id", &[&user.0])?
                    .iter()
                    .map(|r| get(r, 0).map(MailboxId))
                    .collect::<PgResult<Vec<_>>>()
                    .map(Some)
            }
        })
    }

    /// Run `hook` after every committed metadata change of this node. Once only.
    pub fn set_metadata_hook(&self, hook: MetadataHook) {
        let _ = self.on_metadata.set(hook);
    }

    /// GETMETADATA: for each name, itself (None when missing, at depth 0 only) and, by
    /// `depth`, its children or descendants that exist, by name.
    pub fn metadata(
        &self,
        user: UserId,
        mailbox: Option<&str>,
        names: &[String],
        depth: MetadataDepth,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>> {
        self.read(|t| {
            let target = target(t, user, mailbox)?.map_or(0, |m| m.0);
            // Both lookups need the transaction; `gather` calls them one at a time.
            let t = std::cell::RefCell::new(t);
            gather(
                names,
                depth,
                |name| {
                    t.borrow_mut()
                        .query_opt_c(
                            "SELECT value FROM metadata
                             WHERE user_id = $1 AND coalesce(mailbox_id, 0) = $2 AND name = $3",
                            &[&user.0, &target, &name],
                        )?
                        .map(|r| get(&r, 0))
                        .transpose()
                },
                |prefix| {
                    t.borrow_mut()
                        .query_c(
                            "SELECT name, value FROM metadata
                             WHERE user_id = $1 AND coalesce(mailbox_id, 0) = $2
                               AND left(name, length($3)) = $3
                             ORDER BY name COLLATE \"C\"",
                            &[&user.0, &target, &prefix],
                        )?
                        .iter()
                        .map(|r| {
                            Ok(MetadataEntry {
                                name: get(r, 0)?,
                                value: get(r, 1)?,
                            })
                        })
                        .collect()
                },
            )
        })
    }

    /// Every entry of `user` with a digest of its value (what NOTIFY compares).
    pub fn metadata_digests(&self, user: UserId) -> Result<Vec<(Option<MailboxId>, String, u64)>> {
        self.read(|t| {
            t.query_c(
                "SELECT mailbox_id, name, value FROM metadata WHERE user_id = $1",
                &[&user.0],
            )?
            .iter()
            .map(|r| {
                Ok((
                    get::<Option<i64>>(r, 0)?.map(MailboxId),
                    get(r, 1)?,
                    digest(&get::<Vec<u8>>(r, 2)?),
                ))
            })
            .collect()
        })
    }

    /// SETMETADATA: every change (a value, or None to remove the entry) or none; refused with
    /// `MetadataTooMany` past MAX_ENTRIES entries.
    pub fn set_metadata(
        &self,
        user: UserId,
        mailbox: Option<&str>,
        changes: &[(String, Option<Vec<u8>>)],
    ) -> Result<()> {
        let target = self.write(|tx| {
            // One user's SETMETADATA at a time (the entry count is checked at the end).
            tx.execute_c("SELECT 1 FROM users WHERE id = $1 FOR UPDATE", &[&user.0])?;
            let target = target(tx.t, user, mailbox)?;
            let key = target.map_or(0, |m| m.0);
            for (name, value) in changes {
                tx.execute_c(
                    "DELETE FROM metadata WHERE user_id = $1 AND coalesce(mailbox_id, 0) = $2 AND name = $3",
                    &[&user.0, &key, name],
                )?;
                if let Some(v) = value {
                    tx.execute_c(
                        "INSERT INTO metadata (user_id, mailbox_id, name, value) VALUES ($1, $2, $3, $4)",
                        &[&user.0, &target.map(|m| m.0), name, v],
                    )?;
                }
            }
            let n = get_u64(
                &tx.query_one_c("SELECT count(*) FROM metadata WHERE user_id = $1", &[&user.0])?,
                0,
            )?;
            if n as usize > MAX_ENTRIES {
                return Err(StoreError::MetadataTooMany(MAX_ENTRIES).into());
            }
            Ok(target)
        })?;
        if let Some(hook) = self.on_metadata.get() {
            hook(&MetadataChange {
                user,
                mailbox: target,
                entries: changes.iter().map(|(n, _)| n.clone()).collect(),
            });
        }
        Ok(())
    }

    /// No search index on PostgreSQL (yet): SEARCH's text keys scan the messages.
    pub fn search_index_on(&self) -> Result<bool> {
        Ok(false)
    }

    /// Not built on PostgreSQL: there is no FTS5 (a pg_trgm index is the planned equivalent).
    pub fn build_search_index(&self, _progress: &mut dyn FnMut(u64, u64)) -> Result<u64> {
        Err(StoreError::Unsupported("build_search_index"))
    }

    /// Nothing to drop: there is no index.
    pub fn drop_search_index(&self) -> Result<()> {
        Ok(())
    }

    /// No index, so nothing waits for it.
    pub fn search_index_queue(&self) -> Result<u64> {
        Ok(0)
    }

    /// No indexer to hold (tests).
    pub fn pause_search_indexer(&self, _paused: bool) {}

    /// No indexer to wait for.
    pub fn wait_search_indexer(&self) -> Result<()> {
        Ok(())
    }
}
