//! `liteimap migrate` on PostgreSQL: the export and import calls of `store::transfer`, with
//! the same meaning as the SQLite store's.

use super::mailboxes::mailbox;
use super::messages::{id_key, insert_body, insert_flags, owner};
use super::users::find_user;
use super::Cached;
use super::{big, get, get_u32, get_u64, Fail, PgResult, PgStore};
use crate::store::messages::content_hash;
use crate::store::objid::KEY;
use crate::store::transfer::{
    ExactMessage, ExportedMessage, MailboxExport, MetadataExport, UserExport, MIGRATION_KEY,
};
use crate::store::{MailboxId, Result, StoreError, UserId};

fn meta_set(t: &mut postgres::Transaction<'_>, key: &str, value: &str) -> PgResult<()> {
    t.execute_c(
        "INSERT INTO liteimap_meta (key, value) VALUES ($1, $2)
         ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        &[&key, &value],
    )?;
    Ok(())
}

impl PgStore {
    /// See `SqliteStore::export_users`.
    pub fn export_users(&self) -> Result<Vec<UserExport>> {
        self.read(|t| {
            t.query_c(
                "SELECT name, password_hash, created FROM users ORDER BY name",
                &[],
            )?
            .iter()
            .map(|r| {
                Ok(UserExport {
                    name: get(r, 0)?,
                    password_hash: get(r, 1)?,
                    created: get(r, 2)?,
                })
            })
            .collect()
        })
    }

    /// See `SqliteStore::import_user`.
    pub fn import_user(&self, user: &UserExport) -> Result<UserId> {
        self.write(|tx| {
            if let Some(u) = find_user(tx.t, &user.name)? {
                return Ok(u.id);
            }
            let id: i64 = get(
                &tx.query_one_c(
                    "INSERT INTO users (name, password_hash, created) VALUES ($1, $2, $3)
                     RETURNING id",
                    &[&user.name, &user.password_hash, &user.created],
                )?,
                0,
            )?;
            Ok(UserId(id))
        })
    }

    /// See `SqliteStore::export_mailboxes`.
    pub fn export_mailboxes(&self, user: UserId) -> Result<Vec<MailboxExport>> {
        self.read(|t| {
            t.query_c(
                "SELECT b.id, b.name, b.uidvalidity, b.uidnext, b.highest_modseq, b.recent_floor,
                        b.noselect, b.special_use, k.key
                 FROM mailboxes b LEFT JOIN urlauth_keys k ON k.mailbox_id = b.id
                 WHERE b.user_id = $1 ORDER BY b.name",
                &[&user.0],
            )?
            .iter()
            .map(|r| {
                Ok(MailboxExport {
                    id: get(r, 0)?,
                    name: get(r, 1)?,
                    uidvalidity: get_u32(r, 2)?,
                    uidnext: get_u32(r, 3)?,
                    highest_modseq: get_u64(r, 4)?,
                    recent_floor: get_u32(r, 5)?,
                    noselect: get(r, 6)?,
                    special_use: get(r, 7)?,
                    urlauth_key: get(r, 8)?,
                })
            })
            .collect()
        })
    }

    /// See `SqliteStore::import_mailbox`. The row id is given explicitly, so the identity
    /// sequence is moved past it for the folders made later.
    pub fn import_mailbox(&self, user: UserId, mb: &MailboxExport) -> Result<MailboxId> {
        self.write(|tx| {
            if let Some(m) = mailbox(tx.t, user, &mb.name)? {
                return Ok(m.id);
            }
            tx.execute_c(
                "INSERT INTO mailboxes (id, user_id, name, uidvalidity, uidnext, highest_modseq,
                     recent_floor, noselect, special_use)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
                &[
                    &mb.id,
                    &user.0,
                    &mb.name,
                    &i64::from(mb.uidvalidity),
                    &i64::from(mb.uidnext),
                    &big(mb.highest_modseq),
                    &i64::from(mb.recent_floor),
                    &mb.noselect,
                    &mb.special_use,
                ],
            )?;
            tx.execute_c(
                "SELECT setval(pg_get_serial_sequence('mailboxes', 'id'),
                               (SELECT max(id) FROM mailboxes))",
                &[],
            )?;
            if let Some(key) = &mb.urlauth_key {
                tx.execute_c(
                    "INSERT INTO urlauth_keys (mailbox_id, key) VALUES ($1, $2)",
                    &[&mb.id, key],
                )?;
            }
            tx.execute_c(
                "INSERT INTO liteimap_meta (key, value) VALUES ('last_uidvalidity', $1::bigint::text)
                 ON CONFLICT (key) DO UPDATE
                 SET value = greatest(liteimap_meta.value::bigint, $1::bigint)::text",
                &[&i64::from(mb.uidvalidity)],
            )?;
            Ok(MailboxId(mb.id))
        })
    }

    /// See `SqliteStore::export_messages`.
    pub fn export_messages(
        &self,
        mailbox: MailboxId,
        after_uid: u32,
        limit: usize,
        max_bytes: usize,
    ) -> Result<Vec<ExportedMessage>> {
        self.read(|t| {
            let rows = t.query_c(
                "SELECT m.uid, m.modseq, m.internal_date, m.date_offset, m.save_date,
                        d.email_id, d.thread_id, m.body_id,
                        coalesce((SELECT array_agg(f.flag ORDER BY lower(f.flag)) FROM flags f
                                  WHERE f.message_id = m.id), '{}')
                 FROM messages m JOIN bodies d ON d.id = m.body_id
                 WHERE m.mailbox_id = $1 AND m.uid > $2 ORDER BY m.uid LIMIT $3",
                &[
                    &mailbox.0,
                    &i64::from(after_uid),
                    &i64::try_from(limit.max(1)).unwrap_or(i64::MAX),
                ],
            )?;
            let mut out = Vec::with_capacity(rows.len());
            let mut bytes = 0usize;
            for r in &rows {
                let body: i64 = get(r, 7)?;
                let raw = super::messages::read_range(t, body, None)?;
                bytes += raw.len();
                out.push(ExportedMessage {
                    uid: get_u32(r, 0)?,
                    modseq: get_u64(r, 1)?,
                    internal_date: get(r, 2)?,
                    date_offset: get(r, 3)?,
                    save_date: get(r, 4)?,
                    email_id: get(r, 5)?,
                    thread_id: get(r, 6)?,
                    flags: get(r, 8)?,
                    raw,
                });
                if bytes >= max_bytes {
                    break;
                }
            }
            Ok(out)
        })
    }

    /// See `SqliteStore::import_exact`.
    pub fn import_exact(&self, mailbox: MailboxId, msgs: &[ExactMessage]) -> Result<()> {
        self.write(|tx| {
            let user = owner(tx.t, mailbox)?;
            for m in msgs {
                let taken = tx
                    .query_opt_c(
                        "SELECT 1 FROM messages WHERE mailbox_id = $1 AND uid = $2",
                        &[&mailbox.0, &i64::from(m.uid)],
                    )?
                    .is_some();
                if taken {
                    return Err(Fail::Store(StoreError::AlreadyExists(format!(
                        "UID {} is already in the target folder",
                        m.uid
                    ))));
                }
                let body = insert_body(tx.t, user, &content_hash(&m.msg.raw), &m.msg)?;
                tx.execute_c(
                    "UPDATE bodies SET email_id = $2, thread_id = $3 WHERE id = $1",
                    &[&body, &m.email_id, &m.thread_id],
                )?;
                let id: i64 = get(
                    &tx.query_one_c(
                        "INSERT INTO messages (mailbox_id, uid, body_id, internal_date, date_offset,
                             modseq, save_date, size)
                         VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                        &[
                            &mailbox.0,
                            &i64::from(m.uid),
                            &body,
                            &m.msg.internal_date,
                            &m.msg.date_offset,
                            &big(m.modseq),
                            &m.save_date,
                            &(m.msg.raw.len() as i64),
                        ],
                    )?,
                    0,
                )?;
                insert_flags(tx.t, id, &m.msg.flags)?;
            }
            Ok(())
        })
    }

    /// See `SqliteStore::max_uid`.
    pub fn max_uid(&self, mailbox: MailboxId) -> Result<u32> {
        self.read(|t| {
            get_u32(
                &t.query_one_c(
                    "SELECT coalesce(max(uid), 0) FROM messages WHERE mailbox_id = $1",
                    &[&mailbox.0],
                )?,
                0,
            )
        })
    }

    /// See `SqliteStore::export_expunged`.
    pub fn export_expunged(
        &self,
        mailbox: MailboxId,
        after_uid: u32,
        limit: usize,
    ) -> Result<Vec<(u32, u64)>> {
        self.read(|t| {
            t.query_c(
                "SELECT uid, modseq FROM expunged WHERE mailbox_id = $1 AND uid > $2
                 ORDER BY uid LIMIT $3",
                &[
                    &mailbox.0,
                    &i64::from(after_uid),
                    &i64::try_from(limit).unwrap_or(i64::MAX),
                ],
            )?
            .iter()
            .map(|r| Ok((get_u32(r, 0)?, get_u64(r, 1)?)))
            .collect()
        })
    }

    /// See `SqliteStore::import_expunged`.
    pub fn import_expunged(&self, mailbox: MailboxId, rows: &[(u32, u64)]) -> Result<()> {
        let uids: Vec<i64> = rows.iter().map(|(u, _)| i64::from(*u)).collect();
        let modseqs: Vec<i64> = rows.iter().map(|(_, m)| big(*m)).collect();
        self.write(|tx| {
            tx.execute_c(
                "INSERT INTO expunged (mailbox_id, uid, modseq)
                 SELECT $1, u, m FROM unnest($2::bigint[], $3::bigint[]) AS x(u, m)
                 ON CONFLICT DO NOTHING",
                &[&mailbox.0, &uids, &modseqs],
            )?;
            Ok(())
        })
    }

    /// See `SqliteStore::export_metadata`.
    pub fn export_metadata(&self, user: UserId) -> Result<Vec<MetadataExport>> {
        self.read(|t| {
            t.query_c(
                "SELECT b.name, e.name, e.value FROM metadata e
                 LEFT JOIN mailboxes b ON b.id = e.mailbox_id
                 WHERE e.user_id = $1 ORDER BY b.name IS NOT NULL, b.name, e.name",
                &[&user.0],
            )?
            .iter()
            .map(|r| Ok((get(r, 0)?, get(r, 1)?, get(r, 2)?)))
            .collect()
        })
    }

    /// See `SqliteStore::import_metadata`.
    pub fn import_metadata(&self, user: UserId, rows: &[MetadataExport]) -> Result<()> {
        self.write(|tx| {
            for (folder, name, value) in rows {
                let mb = match folder {
                    Some(n) => Some(
                        mailbox(tx.t, user, n)?
                            .ok_or_else(|| StoreError::NotFound(format!("no folder {n}")))?
                            .id
                            .0,
                    ),
                    None => None,
                };
                tx.execute_c(
                    "DELETE FROM metadata WHERE user_id = $1 AND mailbox_id IS NOT DISTINCT FROM $2
                     AND name = $3",
                    &[&user.0, &mb, name],
                )?;
                tx.execute_c(
                    "INSERT INTO metadata (user_id, mailbox_id, name, value) VALUES ($1, $2, $3, $4)",
                    &[&user.0, &mb, name, value],
                )?;
            }
            Ok(())
        })
    }

    /// See `SqliteStore::object_id_key`.
    pub fn object_id_key(&self) -> Result<String> {
        self.read(id_key)
    }

    /// See `SqliteStore::migration`.
    pub fn migration(&self) -> Result<Option<String>> {
        self.read(|t| {
            t.query_opt_c(
                "SELECT value FROM liteimap_meta WHERE key = $1",
                &[&MIGRATION_KEY],
            )?
            .map(|r| get(&r, 0))
            .transpose()
        })
    }

    /// See `SqliteStore::set_migration`.
    pub fn set_migration(&self, source_key: Option<&str>) -> Result<()> {
        self.write(|tx| {
            match source_key {
                Some(key) => {
                    meta_set(tx.t, MIGRATION_KEY, key)?;
                    meta_set(tx.t, KEY, key)?;
                }
                None => {
                    tx.execute_c(
                        "DELETE FROM liteimap_meta WHERE key = $1",
                        &[&MIGRATION_KEY],
                    )?;
                }
            }
            Ok(())
        })
    }
}
