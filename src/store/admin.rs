//! Operator commands on the database file: a consistent online copy (`liteimap backup`) and a
//! consistency check (`liteimap check`). Both work beside a running server: they use their own
//! connections and only read the live file.

use std::path::Path;
use std::time::Duration;

use rusqlite::{Connection, OpenFlags};

use super::{Result, StoreError};

/// How far a backup has come, in database pages.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackupProgress {
    pub copied: u64,
    pub total: u64,
}

/// A finished backup.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct BackupDone {
    pub pages: u64,
    pub bytes: u64,
}

/// Pages copied per step: progress is reported between steps.
const PAGES_PER_STEP: i32 = 1024;

/// Open an existing liteimap database for reading only (never created, never migrated).
fn open_existing(path: &Path) -> Result<Connection> {
    if !path.is_file() {
        return Err(StoreError::Unusable(
            path.to_path_buf(),
            "no such database file".into(),
        ));
    }
    let conn = Connection::open_with_flags(
        path,
        OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
    )?;
    conn.busy_timeout(Duration::from_secs(10))?;
    Ok(conn)
}

/// Copy the database at `src` to the new file `dst` with SQLite's online backup API, calling
/// `progress` between steps, then run `integrity_check` on the copy. The copy is one snapshot:
/// the source is read inside one read transaction, so commits made meanwhile by a running
/// server (WAL lets it go on writing) are not in it and do not restart the copy. `dst` must not
/// exist; it is created 0600. A copy that fails its check is removed.
pub fn backup(
    src: &Path,
    dst: &Path,
    progress: &mut dyn FnMut(BackupProgress),
) -> Result<BackupDone> {
    use std::os::unix::fs::OpenOptionsExt;
    let source = open_existing(src)?;
    // The file is made first, exclusively and private; SQLite then writes into it.
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(dst)
        .map_err(|e| StoreError::Io(dst.to_path_buf(), e))?;
    let result = copy_and_verify(&source, dst, progress);
    if result.is_err() {
        let _ = std::fs::remove_file(dst);
    }
    result
}

fn copy_and_verify(
    source: &Connection,
    dst: &Path,
    progress: &mut dyn FnMut(BackupProgress),
) -> Result<BackupDone> {
    // One snapshot for the whole copy (see `backup`).
    source.execute_batch("BEGIN")?;
    source.query_row("SELECT count(*) FROM sqlite_master", [], |_| Ok(()))?;
    let mut dest = Connection::open(dst)?;
    let pages = {
        let b = rusqlite::backup::Backup::new(source, &mut dest)?;
        loop {
            let step = b.step(PAGES_PER_STEP)?;
            let p = b.progress();
            let total = p.pagecount.max(0) as u64;
            progress(BackupProgress {
                copied: total.saturating_sub(p.remaining.max(0) as u64),
                total,
            });
            match step {
                rusqlite::backup::StepResult::Done => break total,
                rusqlite::backup::StepResult::More => {}
                rusqlite::backup::StepResult::Busy | rusqlite::backup::StepResult::Locked => {
                    std::thread::sleep(Duration::from_millis(50))
                }
                _ => {}
            }
        }
    };
    source.execute_batch("COMMIT")?;
    // A backup is a database of its own: no -wal beside it.
    dest.pragma_update(None, "journal_mode", "DELETE")?;
    let problems = integrity(&dest)?;
    if !problems.is_empty() {
        return Err(StoreError::Unusable(
            dst.to_path_buf(),
            format!("the copy fails integrity_check: {}", problems.join("; ")),
        ));
    }
    drop(dest);
    let bytes = std::fs::metadata(dst)
        .map_err(|e| StoreError::Io(dst.to_path_buf(), e))?
        .len();
    Ok(BackupDone { pages, bytes })
}

/// `PRAGMA integrity_check`'s findings (empty when it says "ok").
fn integrity(conn: &Connection) -> Result<Vec<String>> {
    let mut st = conn.prepare("PRAGMA integrity_check")?;
    let rows = st.query_map([], |r| r.get::<_, String>(0))?;
    let lines = rows.collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(lines.into_iter().filter(|l| l != "ok").collect())
}

/// What `check` found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// One readable line per problem.
    pub problems: Vec<String>,
    /// What was looked at: users, mailboxes, messages, bodies.
    pub users: u64,
    pub mailboxes: u64,
    pub messages: u64,
    pub bodies: u64,
    /// Bodies the search indexer has not reached yet (not a problem: a running server
    /// indexes them, and SEARCH checks them meanwhile).
    pub index_queue: u64,
}

/// Check the database at `path` without changing it: SQLite's integrity_check, foreign keys,
/// bodies no message uses, bodies used across users, bodies whose bytes and size disagree,
/// messages whose size is not their body's, UIDNEXT above every UID (present and
/// expunged), and each mailbox's HIGHESTMODSEQ at or above every modseq in it.
pub fn check(path: &Path) -> Result<CheckReport> {
    let conn = open_existing(path)?;
    conn.execute_batch("BEGIN")?;
    let is_liteimap: bool = conn
        .query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'liteimap_meta'",
            [],
            |r| r.get::<_, i64>(0),
        )
        .map_err(|e| super::not_a_database(path, e))?
        > 0;
    if !is_liteimap {
        return Err(StoreError::NotLiteimap(path.to_path_buf()));
    }
    let mut report = CheckReport::default();
    for line in integrity(&conn)? {
        report.problems.push(format!("integrity_check: {line}"));
    }
    {
        let mut st = conn.prepare("PRAGMA foreign_key_check")?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, Option<i64>>(1)?,
                r.get::<_, String>(2)?,
            ))
        })?;
        for row in rows {
            let (table, rowid, parent) = row?;
            report.problems.push(format!(
                "foreign key: {table} row {} refers to a missing {parent} row",
                rowid.map_or("?".into(), |r| r.to_string())
            ));
        }
    }
    let count = |sql: &str| conn.query_row(sql, [], |r| r.get::<_, i64>(0));
    report.users = count("SELECT count(*) FROM users")? as u64;
    report.mailboxes = count("SELECT count(*) FROM mailboxes")? as u64;
    report.messages = count("SELECT count(*) FROM messages")? as u64;
    report.bodies = count("SELECT count(*) FROM bodies")? as u64;
    // Since schema 11 the search index has a queue.
    let queued = count(
        "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'search_pending'",
    )? > 0;
    if queued {
        report.index_queue = count("SELECT count(*) FROM search_pending")? as u64;
    }
    let orphans = count(
        "SELECT count(*) FROM bodies WHERE NOT EXISTS (SELECT 1 FROM messages WHERE body_id = bodies.id)",
    )?;
    if orphans > 0 {
        report.problems.push(format!(
            "{orphans} message bodies no message uses (wasted space: the next `serve` start removes them; a running server may still hold them for a session that has not seen an EXPUNGE yet)"
        ));
    }
    let shared = count(
        "SELECT count(*) FROM messages m JOIN mailboxes mb ON mb.id = m.mailbox_id
         JOIN bodies b ON b.id = m.body_id WHERE b.user_id != mb.user_id",
    )?;
    if shared > 0 {
        report.problems.push(format!(
            "{shared} messages use a body that belongs to another user"
        ));
    }
    // Since schema 10 a body's bytes are pieces and each message carries its body's size.
    let chunked =
        count("SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'body_chunks'")?
            > 0;
    if chunked {
        let short = count(
            "SELECT count(*) FROM bodies b WHERE b.size != (SELECT coalesce(sum(length(data)), -1)
             FROM body_chunks WHERE body_id = b.id)",
        )?;
        if short > 0 {
            report.problems.push(format!(
                "{short} message bodies whose stored bytes are not as many as their size says"
            ));
        }
        let sizes = count(
            "SELECT count(*) FROM messages m JOIN bodies b ON b.id = m.body_id
             WHERE m.size != b.size",
        )?;
        if sizes > 0 {
            report
                .problems
                .push(format!("{sizes} messages whose size is not their body's"));
        }
    }
    let mut per_mailbox = |sql: &str, what: &str| -> Result<()> {
        let mut st = conn.prepare(sql)?;
        let rows = st.query_map([], |r| {
            Ok((
                r.get::<_, String>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?;
        for row in rows {
            let (user, mailbox, have, limit) = row?;
            report.problems.push(format!(
                "{user} {mailbox:?}: {what} ({have} against {limit})"
            ));
        }
        Ok(())
    };
    per_mailbox(
        "SELECT u.name, mb.name, max(m.uid), mb.uidnext FROM mailboxes mb
         JOIN users u ON u.id = mb.user_id JOIN messages m ON m.mailbox_id = mb.id
         GROUP BY mb.id HAVING max(m.uid) >= mb.uidnext",
        "a message's UID is not below UIDNEXT",
    )?;
    per_mailbox(
        "SELECT u.name, mb.name, max(e.uid), mb.uidnext FROM mailboxes mb
         JOIN users u ON u.id = mb.user_id JOIN expunged e ON e.mailbox_id = mb.id
         GROUP BY mb.id HAVING max(e.uid) >= mb.uidnext",
        "an expunged UID is not below UIDNEXT",
    )?;
    per_mailbox(
        "SELECT u.name, mb.name, max(m.modseq), mb.highest_modseq FROM mailboxes mb
         JOIN users u ON u.id = mb.user_id JOIN messages m ON m.mailbox_id = mb.id
         GROUP BY mb.id HAVING max(m.modseq) > mb.highest_modseq",
        "a message's modseq is above HIGHESTMODSEQ",
    )?;
    per_mailbox(
        "SELECT u.name, mb.name, max(e.modseq), mb.highest_modseq FROM mailboxes mb
         JOIN users u ON u.id = mb.user_id JOIN expunged e ON e.mailbox_id = mb.id
         GROUP BY mb.id HAVING max(e.modseq) > mb.highest_modseq",
        "an expunge's modseq is above HIGHESTMODSEQ",
    )?;
    per_mailbox(
        "SELECT u.name, mb.name, count(*), 0 FROM mailboxes mb
         JOIN users u ON u.id = mb.user_id JOIN messages m ON m.mailbox_id = mb.id
         JOIN expunged e ON e.mailbox_id = mb.id AND e.uid = m.uid GROUP BY mb.id",
        "UIDs both present and expunged",
    )?;
    conn.execute_batch("COMMIT")?;
    Ok(report)
}

impl CheckReport {
    /// The report as text: a summary line, then one line per problem.
    pub fn render(&self) -> String {
        let mut out = format!(
            "{} users, {} mailboxes, {} messages, {} bodies: {}\n",
            self.users,
            self.mailboxes,
            self.messages,
            self.bodies,
            match self.problems.len() {
                0 => "no problems found".to_string(),
                1 => "1 problem".to_string(),
                n => format!("{n} problems"),
            }
        );
        if self.index_queue > 0 {
            out.push_str(&format!(
                "  ({} bodies wait for the search index: the next `serve` indexes them)\n",
                self.index_queue
            ));
        }
        for p in &self.problems {
            out.push_str("  ");
            out.push_str(p);
            out.push('\n');
        }
        out
    }
}
