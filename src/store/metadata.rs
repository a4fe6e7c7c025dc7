//! Mailbox and server annotations (RFC 5464 METADATA) of one user.
//!
//! Entry names arrive validated and lower-cased (`entry_name`); values are bytes. A server entry
//! belongs to the user (its "server" is its own: with one user per account, `/shared` is
//! visible to that user only). Limits: `MAX_VALUE` octets per value, `MAX_ENTRIES` entries per
//! user over the server and all its mailboxes, `MAX_NAME` octets per name.
//!
//! After a change commits, the metadata hook (if set) hears which entries of which mailbox
//! changed: the event a NOTIFY implementation turns into MailboxMetadataChange /
//! ServerMetadataChange (RFC 5465 §5.9 and §5.10).

use rusqlite::{params, Connection, OptionalExtension};

use super::mailboxes::mailbox;
use super::{MailboxId, Result, SqliteStore, StoreError, Transaction, UserId};

/// The largest value an entry may hold (RFC 5464 `[METADATA MAXSIZE n]`).
pub const MAX_VALUE: usize = 64 * 1024;
/// The most entries one user may have, server and mailbox entries together
/// (`[METADATA TOOMANY]` beyond).
pub const MAX_ENTRIES: usize = 256;
/// The longest entry name, in octets.
pub const MAX_NAME: usize = 1024;

/// How far below each named entry GETMETADATA looks (RFC 5464 §4.2.2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetadataDepth {
    /// The entry only.
    Zero,
    /// The entry and its immediate children.
    One,
    /// The entry and all of its descendants.
    Infinity,
}

/// One stored entry.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataEntry {
    pub name: String,
    pub value: Vec<u8>,
}

/// What a committed SETMETADATA changed: for NOTIFY's MailboxMetadataChange (a mailbox) or
/// ServerMetadataChange (`mailbox` None).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MetadataChange {
    pub user: UserId,
    pub mailbox: Option<MailboxId>,
    /// The entry names set or removed.
    pub entries: Vec<String>,
}

/// Called after every committed metadata change.
pub type MetadataHook = Box<dyn Fn(&MetadataChange) + Send + Sync>;

/// Why an entry name is refused (the BAD text).
pub fn entry_name(raw: &[u8]) -> std::result::Result<String, &'static str> {
    let name = std::str::from_utf8(raw).map_err(|_| "Entry names must be UTF-8")?;
    if name.len() > MAX_NAME {
        return Err("Entry name too long");
    }
    let lower = name.to_ascii_lowercase();
    if !(lower == "/private"
        || lower == "/shared"
        || lower.starts_with("/private/")
        || lower.starts_with("/shared/"))
    {
        return Err("Entry names begin with /private or /shared");
    }
    if lower.bytes().any(|b| b == b'*' || b == b'%') {
        return Err("Entry names cannot contain * or %");
    }
    if lower.chars().any(char::is_control) {
        return Err("Entry names cannot contain control characters");
    }
    if lower.ends_with('/') {
        return Err("Entry names cannot end with /");
    }
    if lower.contains("//") {
        return Err("Entry names cannot contain //");
    }
    Ok(lower)
}

impl SqliteStore {
    /// Run `hook` after every committed metadata change (set once, by the server).
    pub fn set_metadata_hook(&self, hook: MetadataHook) {
        let _ = self.on_metadata.set(hook);
    }

    /// The entries GETMETADATA asks for on the server (`mailbox` None) or a mailbox of `user`:
    /// for each name, itself (None when it does not exist, at depth 0 only) and, by `depth`,
    /// its children or descendants that exist, by name.
    pub fn metadata(
        &self,
        user: UserId,
        mailbox: Option<&str>,
        names: &[String],
        depth: MetadataDepth,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>> {
        self.read(|c| {
            let target = target(c, user, mailbox)?;
            gather(
                names,
                depth,
                |name| value(c, user, target, name),
                |prefix| below(c, user, target, prefix),
            )
        })
    }

    /// Every entry of `user` (server entries with mailbox None) with a digest of its value:
    /// what NOTIFY compares to tell MailboxMetadataChange and ServerMetadataChange.
    pub fn metadata_digests(&self, user: UserId) -> Result<Vec<(Option<MailboxId>, String, u64)>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT mailbox_id, name, value FROM metadata WHERE user_id = ?1",
            )?;
            let rows = st.query_map([user.0], |r| {
                Ok((
                    r.get::<_, Option<i64>>(0)?.map(MailboxId),
                    r.get::<_, String>(1)?,
                    digest(&r.get::<_, Vec<u8>>(2)?),
                ))
            })?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    /// SETMETADATA: every change (a value, or None to remove the entry) or none. Refused with
    /// `MetadataTooMany` when the user would have more than MAX_ENTRIES entries.
    pub fn set_metadata(
        &self,
        user: UserId,
        mailbox: Option<&str>,
        changes: &[(String, Option<Vec<u8>>)],
    ) -> Result<()> {
        let target = self.write(|tx| {
            let target = target(tx, user, mailbox)?;
            for (name, value) in changes {
                set(tx, user, target, name, value.as_deref())?;
            }
            let count: i64 = tx.query_row(
                "SELECT count(*) FROM metadata WHERE user_id = ?1",
                [user.0],
                |r| r.get(0),
            )?;
            if count as usize > MAX_ENTRIES {
                return Err(StoreError::MetadataTooMany(MAX_ENTRIES));
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
}

/// The mailbox a request names (None: the server), which must exist and be selectable.
fn target(c: &Connection, user: UserId, name: Option<&str>) -> Result<Option<MailboxId>> {
    let Some(name) = name else {
        return Ok(None);
    };
    match mailbox(c, user, name)? {
        Some(mb) if !mb.noselect => Ok(Some(mb.id)),
        _ => Err(StoreError::NotFound(format!("No such mailbox: {name}"))),
    }
}

fn value(
    c: &Connection,
    user: UserId,
    target: Option<MailboxId>,
    name: &str,
) -> Result<Option<Vec<u8>>> {
    Ok(c.prepare_cached(
        "SELECT value FROM metadata
             WHERE user_id = ?1 AND coalesce(mailbox_id, 0) = ?2 AND name = ?3",
    )?
    .query_row(params![user.0, target.map_or(0, |m| m.0), name], |r| {
        r.get(0)
    })
    .optional()?)
}

/// One entry GETMETADATA answers: its name and value (None: it does not exist).
pub(crate) type Found = (String, Option<Vec<u8>>);

/// GETMETADATA's answer (both backends): for each name, itself (None when missing, at depth 0
/// only) and, by `depth`, the entries `below` lists under `name/` (children at depth 1, every
/// descendant at infinity), by name.
pub(crate) fn gather<E>(
    names: &[String],
    depth: MetadataDepth,
    mut own: impl FnMut(&str) -> std::result::Result<Option<Vec<u8>>, E>,
    mut below: impl FnMut(&str) -> std::result::Result<Vec<MetadataEntry>, E>,
) -> std::result::Result<Vec<Found>, E> {
    let mut out = Vec::new();
    for name in names {
        let value = own(name)?;
        if depth == MetadataDepth::Zero {
            out.push((name.clone(), value));
            continue;
        }
        if let Some(v) = value {
            out.push((name.clone(), Some(v)));
        }
        let prefix = format!("{name}/");
        for e in below(&prefix)? {
            if depth == MetadataDepth::One && e.name[prefix.len()..].contains('/') {
                continue;
            }
            out.push((e.name, Some(e.value)));
        }
    }
    Ok(out)
}

/// The digest of an entry's value NOTIFY compares (both backends).
pub(crate) fn digest(value: &[u8]) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut h = std::collections::hash_map::DefaultHasher::new();
    value.hash(&mut h);
    h.finish()
}

/// The entries whose names start with `prefix`, by name.
fn below(
    c: &Connection,
    user: UserId,
    target: Option<MailboxId>,
    prefix: &str,
) -> Result<Vec<MetadataEntry>> {
    let mut st = c.prepare_cached(
        "SELECT name, value FROM metadata
         WHERE user_id = ?1 AND coalesce(mailbox_id, 0) = ?2
           AND substr(name, 1, length(?3)) = ?3
         ORDER BY name",
    )?;
    let rows = st.query_map(params![user.0, target.map_or(0, |m| m.0), prefix], |r| {
        Ok(MetadataEntry {
            name: r.get(0)?,
            value: r.get(1)?,
        })
    })?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

fn set(
    tx: &Transaction,
    user: UserId,
    target: Option<MailboxId>,
    name: &str,
    value: Option<&[u8]>,
) -> Result<()> {
    tx.prepare_cached(
        "DELETE FROM metadata WHERE user_id = ?1 AND coalesce(mailbox_id, 0) = ?2 AND name = ?3",
    )?
    .execute(params![user.0, target.map_or(0, |m| m.0), name])?;
    if let Some(v) = value {
        tx.prepare_cached(
            "INSERT INTO metadata (user_id, mailbox_id, name, value) VALUES (?1, ?2, ?3, ?4)",
        )?
        .execute(params![user.0, target.map(|m| m.0), name, v])?;
    }
    Ok(())
}

/// A mailbox deleted down to a `\Noselect` name keeps its row: its entries go now.
pub(crate) fn forget_mailbox(tx: &Transaction, mailbox: MailboxId) -> Result<()> {
    tx.prepare_cached("DELETE FROM metadata WHERE mailbox_id = ?1")?
        .execute([mailbox.0])?;
    Ok(())
}

/// Schema 4's metadata table (schema.sql's block).
pub(crate) fn metadata_table(tx: &Transaction) -> Result<()> {
    tx.execute_batch(super::schema_block(
        "CREATE TABLE metadata (",
        "-- end of METADATA",
    )?)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names() {
        assert_eq!(
            entry_name(b"/Private/Comment"),
            Ok("/private/comment".into())
        );
        assert_eq!(entry_name(b"/shared"), Ok("/shared".into()));
        assert_eq!(
            entry_name(b"/foo"),
            Err("Entry names begin with /private or /shared")
        );
        assert_eq!(
            entry_name(b"/privatex"),
            Err("Entry names begin with /private or /shared")
        );
        assert_eq!(
            entry_name(b"/shared/a*"),
            Err("Entry names cannot contain * or %")
        );
        assert_eq!(
            entry_name(b"/shared/"),
            Err("Entry names cannot end with /")
        );
        assert_eq!(
            entry_name(b"/shared/a//b"),
            Err("Entry names cannot contain //")
        );
        assert_eq!(
            entry_name(b"/shared/a\x01"),
            Err("Entry names cannot contain control characters")
        );
        assert!(entry_name(format!("/shared/{}", "x".repeat(MAX_NAME)).as_bytes()).is_err());
    }
}
