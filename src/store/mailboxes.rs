//! Folders and subscriptions of one user. Names are full hierarchical names with '/' as the
//! delimiter; callers have passed them through `names::mailbox_name` (INBOX normalised), and
//! the writes that create a name check it again, so no path stores one IMAP cannot address.

use rusqlite::{params, Connection, OptionalExtension, Row};

use super::{messages, now, MailboxId, Result, SqliteStore, StoreError, Transaction, UserId};

pub const INBOX: &str = "INBOX";
pub const DELIMITER: char = '/';

/// The special-use attributes a folder can carry (RFC 6154 §2). `\All` and `\Flagged` are
/// left out: they describe virtual folders, which this store does not have.
pub const SPECIAL_USES: [&str; 5] = ["\\Archive", "\\Drafts", "\\Junk", "\\Sent", "\\Trash"];

/// The folders every new user starts with, all subscribed, with their special use.
pub const DEFAULT_FOLDERS: [(&str, Option<&str>); 6] = [
    (INBOX, None),
    ("Drafts", Some("\\Drafts")),
    ("Sent", Some("\\Sent")),
    ("Trash", Some("\\Trash")),
    ("Junk", Some("\\Junk")),
    ("Archive", Some("\\Archive")),
];

/// Names clients commonly give special folders, most usual first: the schema-2 migration
/// tags an existing folder of one of these names, so accounts from before SPECIAL-USE get the
/// attributes on the folders they already use.
pub(crate) const WELL_KNOWN_NAMES: [(&str, &[&str]); 5] = [
    ("\\Drafts", &["Drafts", "Draft"]),
    (
        "\\Sent",
        &["Sent", "Sent Messages", "Sent Items", "Sent Mail"],
    ),
    (
        "\\Trash",
        &["Trash", "Deleted Messages", "Deleted Items", "Deleted"],
    ),
    ("\\Junk", &["Junk", "Spam", "Junk E-mail"]),
    ("\\Archive", &["Archive", "Archives"]),
];

#[derive(Clone, Debug)]
pub struct MailboxRow {
    pub id: MailboxId,
    pub name: String,
    pub uidvalidity: u32,
    pub uidnext: u32,
    pub highest_modseq: u64,
    pub noselect: bool,
    pub special_use: Option<String>,
}

const COLUMNS: &str = "id, name, uidvalidity, uidnext, highest_modseq, noselect, special_use";

fn row(r: &Row) -> rusqlite::Result<MailboxRow> {
    Ok(MailboxRow {
        id: MailboxId(r.get(0)?),
        name: r.get(1)?,
        uidvalidity: r.get(2)?,
        uidnext: r.get(3)?,
        highest_modseq: r.get::<_, i64>(4)? as u64,
        noselect: r.get(5)?,
        special_use: r.get(6)?,
    })
}

/// The names of the ancestors of `name`, outermost first: "a/b/c" → ["a", "a/b"].
pub(crate) fn ancestors(name: &str) -> Vec<&str> {
    name.match_indices(DELIMITER)
        .map(|(i, _)| &name[..i])
        .filter(|p| !p.is_empty())
        .collect()
}

/// A name about to be created must be one `mailbox_name` gives back unchanged.
pub(crate) fn check_name(name: &str) -> Result<()> {
    match super::mailbox_name(name.as_bytes()) {
        Ok(n) if n == name => Ok(()),
        Ok(n) => Err(StoreError::NotAllowed(format!(
            "mailbox name {name} is stored as {n}"
        ))),
        Err(e) => Err(StoreError::NotAllowed(e.to_string())),
    }
}

impl SqliteStore {
    pub fn mailbox(&self, user: UserId, name: &str) -> Result<Option<MailboxRow>> {
        self.read(|c| mailbox(c, user, name))
    }

    pub fn mailboxes(&self, user: UserId) -> Result<Vec<MailboxRow>> {
        self.read(|c| {
            let mut st = c.prepare_cached(&format!(
                "SELECT {COLUMNS} FROM mailboxes WHERE user_id = ?1 ORDER BY name"
            ))?;
            let rows = st.query_map([user.0], row)?;
            Ok(rows.collect::<rusqlite::Result<Vec<_>>>()?)
        })
    }

    pub fn create_mailbox(&self, user: UserId, name: &str) -> Result<MailboxRow> {
        check_name(name)?;
        self.write(|tx| super::quota::guarded(tx, user, || create_mailbox(tx, user, name)))
    }

    /// CREATE with special-use attributes (RFC 6154 CREATE-SPECIAL-USE): `uses` holds members
    /// of SPECIAL_USES, checked by the caller.
    pub fn create_mailbox_with_use(
        &self,
        user: UserId,
        name: &str,
        uses: &[&str],
    ) -> Result<MailboxRow> {
        check_name(name)?;
        self.write(|tx| {
            super::quota::guarded(tx, user, || create_mailbox_with_use(tx, user, name, uses))
        })
    }

    /// RFC 3501 DELETE: a folder with children keeps its name as \Noselect and loses its messages.
    pub fn delete_mailbox(&self, user: UserId, name: &str) -> Result<()> {
        let _gates = self.holds.all_gates();
        self.write(|tx| {
            if name.eq_ignore_ascii_case(INBOX) {
                return Err(StoreError::NotAllowed("INBOX cannot be deleted".into()));
            }
            let mb = mailbox(tx, user, name)?
                .ok_or_else(|| StoreError::NotFound(format!("no such mailbox: {name}")))?;
            let has_children: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM mailboxes WHERE user_id = ?1 AND substr(name, 1, length(?2) + 1) = ?2 || '/')",
                params![user.0, name],
                |r| r.get(0),
            )?;
            super::mark_changed(mb.id);
            // Through the expunge path, so sessions that have the folder selected can still
            // read what they number until they notice the deletion.
            messages::expunge_all(tx, &self.holds, mb.id)?;
            if has_children {
                if mb.noselect {
                    return Err(StoreError::NotAllowed(format!(
                        "{name} has inferior hierarchical names and is already \\Noselect"
                    )));
                }
                tx.execute("UPDATE mailboxes SET noselect = 1 WHERE id = ?1", [mb.id.0])?;
                super::metadata::forget_mailbox(tx, mb.id)?;
            } else {
                tx.execute("DELETE FROM mailboxes WHERE id = ?1", [mb.id.0])?;
            }
            messages::delete_orphan_bodies(tx, &self.holds)?;
            Ok(())
        })
    }

    /// RFC 3501 RENAME. Children move with their parent; renaming INBOX moves its messages to a
    /// new folder and leaves INBOX empty (its children stay where they are).
    pub fn rename_mailbox(&self, user: UserId, from: &str, to: &str) -> Result<()> {
        check_name(to)?;
        self.write(|tx| {
            let src = mailbox(tx, user, from)?
                .ok_or_else(|| StoreError::NotFound(format!("no such mailbox: {from}")))?;
            if let Some(existing) = mailbox(tx, user, to)? {
                if !existing.noselect || from == INBOX {
                    return Err(StoreError::AlreadyExists(format!("mailbox {to} already exists")));
                }
            }
            if to.eq_ignore_ascii_case(INBOX) {
                return Err(StoreError::NotAllowed("cannot rename a mailbox to INBOX".into()));
            }
            if from == INBOX {
                // A new mailbox: within the mailbox quota.
                return super::quota::guarded(tx, user, || {
                    let dst = create_mailbox(tx, user, to)?;
                    messages::move_all(tx, src.id, dst.id)
                });
            }
            if to.starts_with(&format!("{from}{DELIMITER}")) {
                return Err(StoreError::NotAllowed(format!(
                    "cannot rename {from} into its own hierarchy"
                )));
            }
            // A \Noselect placeholder at the target is replaced by the renamed folder.
            tx.execute(
                "DELETE FROM mailboxes WHERE user_id = ?1 AND name = ?2 AND noselect = 1",
                params![user.0, to],
            )?;
            for parent in ancestors(to) {
                ensure_placeholder(tx, user, parent)?;
            }
            let children: Vec<(i64, String)> = {
                let mut st = tx.prepare(
                    "SELECT id, name FROM mailboxes WHERE user_id = ?1 AND substr(name, 1, length(?2) + 1) = ?2 || '/'",
                )?;
                let rows = st.query_map(params![user.0, from], |r| Ok((r.get(0)?, r.get(1)?)))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            for (id, name) in children {
                let new_name = format!("{to}{}", &name[from.len()..]);
                if mailbox(tx, user, &new_name)?.is_some() {
                    return Err(StoreError::AlreadyExists(format!("mailbox {new_name} already exists")));
                }
                tx.execute("UPDATE mailboxes SET name = ?2 WHERE id = ?1", params![id, new_name])?;
            }
            tx.execute("UPDATE mailboxes SET name = ?2 WHERE id = ?1", params![src.id.0, to])?;
            Ok(())
        })
    }

    pub fn subscribe(&self, user: UserId, name: &str) -> Result<()> {
        self.write(|tx| {
            tx.execute(
                "INSERT OR IGNORE INTO subscriptions (user_id, name) VALUES (?1, ?2)",
                params![user.0, name],
            )?;
            Ok(())
        })
    }

    pub fn unsubscribe(&self, user: UserId, name: &str) -> Result<()> {
        self.write(|tx| {
            let n = tx.execute(
                "DELETE FROM subscriptions WHERE user_id = ?1 AND name = ?2",
                params![user.0, name],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound(format!("not subscribed to {name}")));
            }
            Ok(())
        })
    }

    pub fn subscriptions(&self, user: UserId) -> Result<Vec<String>> {
        self.read(|c| {
            let mut st = c.prepare_cached(
                "SELECT name FROM subscriptions WHERE user_id = ?1 ORDER BY name",
            )?;
            let rows = st.query_map([user.0], |r| r.get(0))?;
            Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
        })
    }
}

pub(crate) fn mailbox(c: &Connection, user: UserId, name: &str) -> Result<Option<MailboxRow>> {
    Ok(c.prepare_cached(&format!(
        "SELECT {COLUMNS} FROM mailboxes WHERE user_id = ?1 AND name = ?2"
    ))?
    .query_row(params![user.0, name], row)
    .optional()?)
}

pub(crate) fn mailbox_by_id(c: &Connection, id: MailboxId) -> Result<MailboxRow> {
    c.prepare_cached(&format!("SELECT {COLUMNS} FROM mailboxes WHERE id = ?1"))?
        .query_row([id.0], row)
        .optional()?
        .ok_or_else(|| StoreError::NotFound("mailbox no longer exists".into()))
}

/// A UIDVALIDITY never used before in this database: time-based so that a database rebuilt
/// from scratch does not repeat old values, and strictly increasing so that two folders created
/// in the same second (or a folder deleted and created again) still differ.
fn next_uidvalidity(tx: &Transaction) -> Result<u32> {
    let last: Option<i64> = tx
        .query_row(
            "SELECT value FROM liteimap_meta WHERE key = 'last_uidvalidity'",
            [],
            |r| r.get::<_, String>(0),
        )
        .optional()?
        .and_then(|s| s.parse().ok());
    let candidate = now().clamp(1, u32::MAX as i64 / 2);
    let value = match last {
        Some(l) if l >= candidate => l + 1,
        _ => candidate,
    };
    if value > u32::MAX as i64 {
        return Err(StoreError::NotAllowed("UIDVALIDITY space exhausted".into()));
    }
    tx.execute(
        "INSERT OR REPLACE INTO liteimap_meta (key, value) VALUES ('last_uidvalidity', ?1)",
        [value.to_string()],
    )?;
    Ok(value as u32)
}

fn ensure_placeholder(tx: &Transaction, user: UserId, name: &str) -> Result<()> {
    if mailbox(tx, user, name)?.is_none() {
        let v = next_uidvalidity(tx)?;
        tx.execute(
            "INSERT INTO mailboxes (user_id, name, uidvalidity) VALUES (?1, ?2, ?3)",
            params![user.0, name, v],
        )?;
    }
    Ok(())
}

/// `create_mailbox`, then the special-use attributes (space-separated in one column).
pub(crate) fn create_mailbox_with_use(
    tx: &Transaction,
    user: UserId,
    name: &str,
    uses: &[&str],
) -> Result<MailboxRow> {
    let mut row = create_mailbox(tx, user, name)?;
    if !uses.is_empty() {
        let value = uses.join(" ");
        tx.execute(
            "UPDATE mailboxes SET special_use = ?2 WHERE id = ?1",
            params![row.id.0, value],
        )?;
        row.special_use = Some(value);
    }
    Ok(row)
}

/// Subscribe inside a transaction (new users' default folders).
pub(crate) fn subscribe_in(tx: &Transaction, user: UserId, name: &str) -> Result<()> {
    tx.execute(
        "INSERT OR IGNORE INTO subscriptions (user_id, name) VALUES (?1, ?2)",
        params![user.0, name],
    )?;
    Ok(())
}

/// Schema 2: give each user's folders of a well-known name their special use, where the
/// user has no folder with that use yet. Folders are not created: an existing account keeps
/// exactly the folders it had.
pub(crate) fn tag_well_known_folders(tx: &Transaction) -> Result<()> {
    let users: Vec<i64> = {
        let mut st = tx.prepare("SELECT id FROM users")?;
        let rows = st.query_map([], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for user in users {
        for (attr, names) in WELL_KNOWN_NAMES {
            let taken: bool = tx.query_row(
                "SELECT EXISTS (SELECT 1 FROM mailboxes WHERE user_id = ?1 AND (' ' || special_use || ' ') LIKE ('% ' || ?2 || ' %'))",
                params![user, attr],
                |r| r.get(0),
            )?;
            if taken {
                continue;
            }
            for name in names {
                let n = tx.execute(
                    "UPDATE mailboxes SET special_use = ?3 WHERE user_id = ?1 AND name = ?2 AND noselect = 0 AND special_use IS NULL",
                    params![user, name, attr],
                )?;
                if n > 0 {
                    break;
                }
            }
        }
    }
    Ok(())
}

/// Create `name` and any missing ancestors (RFC 3501 CREATE creates intermediate levels).
/// A \Noselect placeholder of that name becomes a real folder with a fresh UIDVALIDITY.
pub(crate) fn create_mailbox(tx: &Transaction, user: UserId, name: &str) -> Result<MailboxRow> {
    if let Some(existing) = mailbox(tx, user, name)? {
        if !existing.noselect {
            return Err(StoreError::AlreadyExists(format!(
                "mailbox {name} already exists"
            )));
        }
        // A new mailbox under the old name, with a new id: a session that still has the old
        // one selected then learns it is gone instead of seeing its UIDs start again at 1.
        tx.execute("DELETE FROM mailboxes WHERE id = ?1", [existing.id.0])?;
        let v = next_uidvalidity(tx)?;
        tx.execute(
            "INSERT INTO mailboxes (user_id, name, uidvalidity) VALUES (?1, ?2, ?3)",
            params![user.0, name, v],
        )?;
    } else {
        for parent in ancestors(name) {
            if mailbox(tx, user, parent)?.is_none() {
                let v = next_uidvalidity(tx)?;
                tx.execute(
                    "INSERT INTO mailboxes (user_id, name, uidvalidity) VALUES (?1, ?2, ?3)",
                    params![user.0, parent, v],
                )?;
            }
        }
        let v = next_uidvalidity(tx)?;
        tx.execute(
            "INSERT INTO mailboxes (user_id, name, uidvalidity) VALUES (?1, ?2, ?3)",
            params![user.0, name, v],
        )?;
    }
    mailbox(tx, user, name)?.ok_or_else(|| StoreError::NotFound(name.to_string()))
}

#[cfg(test)]
mod tests {
    use super::super::testutil::temp_store;
    use super::*;

    #[test]
    fn ancestors_of_names() {
        assert_eq!(ancestors("a/b/c"), vec!["a", "a/b"]);
        assert!(ancestors("a").is_empty());
    }

    #[test]
    fn create_delete_create_changes_uidvalidity() {
        let t = temp_store();
        let u = t.store.create_user("u", "x").unwrap();
        let a = t.store.create_mailbox(u, "a/b").unwrap();
        assert!(t.store.mailbox(u, "a").unwrap().is_some());
        t.store.delete_mailbox(u, "a/b").unwrap();
        let b = t.store.create_mailbox(u, "a/b").unwrap();
        assert_ne!(a.uidvalidity, b.uidvalidity);
    }

    #[test]
    fn delete_with_children_becomes_noselect() {
        let t = temp_store();
        let u = t.store.create_user("u", "x").unwrap();
        t.store.create_mailbox(u, "p").unwrap();
        t.store.create_mailbox(u, "p/c").unwrap();
        t.store.delete_mailbox(u, "p").unwrap();
        assert!(t.store.mailbox(u, "p").unwrap().unwrap().noselect);
        assert!(matches!(
            t.store.delete_mailbox(u, "p"),
            Err(StoreError::NotAllowed(_))
        ));
        t.store.delete_mailbox(u, "p/c").unwrap();
        t.store.delete_mailbox(u, "p").unwrap();
        assert!(t.store.mailbox(u, "p").unwrap().is_none());
    }

    #[test]
    fn rename_moves_children() {
        let t = temp_store();
        let u = t.store.create_user("u", "x").unwrap();
        t.store.create_mailbox(u, "a/b/c").unwrap();
        t.store.rename_mailbox(u, "a", "x/y").unwrap();
        let names: Vec<String> = t
            .store
            .mailboxes(u)
            .unwrap()
            .into_iter()
            .map(|m| m.name)
            .filter(|n| n.starts_with('x') || n.starts_with('a'))
            .collect();
        assert_eq!(names, vec!["x", "x/y", "x/y/b", "x/y/b/c"]);
    }

    #[test]
    fn users_are_isolated() {
        let t = temp_store();
        let a = t.store.create_user("a", "x").unwrap();
        let b = t.store.create_user("b", "x").unwrap();
        t.store.create_mailbox(a, "secret").unwrap();
        assert!(t.store.mailbox(b, "secret").unwrap().is_none());
        assert!(t.store.delete_mailbox(b, "secret").is_err());
        assert!(t.store.rename_mailbox(b, "secret", "mine").is_err());
        assert!(t.store.mailbox(a, "secret").unwrap().is_some());
    }
}
