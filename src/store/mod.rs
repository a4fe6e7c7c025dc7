//! The SQLite store: schema, migrations, connections and transactions.
//!
//! Synchronous rusqlite only: it never sees a socket, an async runtime or an IMAP type. The
//! network side calls it through the blocking pool. One writer connection behind its own lock
//! (SQLite has one writer; queueing on our lock is fairer and cheaper than SQLite's busy-wait),
//! and a small pool of reader connections that WAL lets read while the writer writes.
//!
//! Every SQLite specific (pragmas, `user_version`, `data_version`) stays inside this module so a
//! second backend can stand beside it.

mod holds;
mod mailboxes;
mod messages;
mod scan;
mod users;

pub use holds::{ViewHold, ViewId};
pub use mailboxes::{MailboxRow, DEFAULT_FOLDERS, INBOX, SPECIAL_USES};
pub use messages::{
    AppendedMessage, Changes, Cond, FlagChange, FlagOp, MessageMeta, NewMessage, SelectSnapshot,
};
pub use scan::Scan;
pub use users::UserRow;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

/// The schema version this binary writes. A database with a higher `user_version` was written
/// by a newer liteimap and is refused rather than misread.
pub const SCHEMA_VERSION: i64 = 2;
const SCHEMA: &str = include_str!("../../schema.sql");

/// How many idle reader connections are kept open.
const READER_POOL: usize = 8;

/// The identity of a user row; handed out only by this module.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct UserId(pub(crate) i64);

/// The identity of a mailbox row; handed out only by this module.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct MailboxId(pub(crate) i64);

#[derive(Debug)]
pub enum StoreError {
    /// The file exists but is not a liteimap database.
    NotLiteimap(PathBuf),
    /// The database was written by a newer liteimap.
    TooNew { found: i64, supported: i64 },
    /// A named thing does not exist ("no such mailbox", "no such user").
    NotFound(String),
    /// A name is already taken.
    AlreadyExists(String),
    /// The operation is not allowed on this object (with the reason).
    NotAllowed(String),
    /// Messages named by a session's view were expunged by another session (COPY/MOVE of them
    /// does nothing).
    Expunged(String),
    /// SQLite failed.
    Db(rusqlite::Error),
}

impl fmt::Display for StoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            StoreError::NotLiteimap(p) => write!(f, "{} is not a liteimap database", p.display()),
            StoreError::TooNew { found, supported } => write!(
                f,
                "database schema version {found} is newer than this liteimap supports ({supported}); upgrade liteimap"
            ),
            StoreError::NotFound(what) => write!(f, "{what}"),
            StoreError::AlreadyExists(what) => write!(f, "{what}"),
            StoreError::NotAllowed(what) | StoreError::Expunged(what) => write!(f, "{what}"),
            StoreError::Db(e) => write!(f, "database error: {e}"),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Db(e)
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Recover a lock poisoned by a panicking holder: the protected connections carry no Rust-side
/// invariants (an interrupted transaction is rolled back when it is dropped), so one panicking
/// session must not take the store away from every other.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Called after every commit with the mailboxes it changed.
pub type CommitHook = Box<dyn Fn(&[MailboxId]) + Send + Sync>;

thread_local! {
    /// Mailboxes changed by the write transaction running on this thread (see `bump_modseq`).
    static CHANGED: std::cell::RefCell<Vec<MailboxId>> = const { std::cell::RefCell::new(Vec::new()) };
}

/// Record that the current write transaction changes `mailbox`.
pub(crate) fn mark_changed(mailbox: MailboxId) {
    CHANGED.with(|c| {
        let mut c = c.borrow_mut();
        if !c.contains(&mailbox) {
            c.push(mailbox);
        }
    });
}

pub struct Store {
    path: PathBuf,
    writer: Mutex<Connection>,
    readers: Mutex<Vec<Connection>>,
    on_commit: std::sync::OnceLock<CommitHook>,
    /// Expunged messages that open views still number (see `holds`).
    holds: std::sync::Arc<holds::Holds>,
}

impl Store {
    /// Open (creating if needed) and migrate the database at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        let writer = open_connection(path, true)?;
        migrate(&writer, path)?;
        Ok(Store {
            path: path.to_path_buf(),
            writer: Mutex::new(writer),
            readers: Mutex::new(Vec::new()),
            on_commit: std::sync::OnceLock::new(),
            holds: Default::default(),
        })
    }

    /// Install the function told about every committed change (the notifier). Once only.
    pub fn set_commit_hook(&self, hook: CommitHook) {
        let _ = self.on_commit.set(hook);
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Run `f` on a reader connection (a snapshot of the last commit).
    pub fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        let conn = match lock(&self.readers).pop() {
            Some(c) => c,
            None => open_connection(&self.path, false)?,
        };
        // One deferred transaction: every query in `f` sees the same snapshot.
        let result = conn
            .unchecked_transaction()
            .map_err(StoreError::from)
            .and_then(|tx| {
                let value = f(&tx);
                tx.finish()?;
                value
            });
        let mut pool = lock(&self.readers);
        if pool.len() < READER_POOL {
            pool.push(conn);
        }
        result
    }

    /// Run `f` in a write transaction that commits when `f` returns Ok and rolls back otherwise.
    /// The commit has reached the disk (synchronous=FULL) before this returns.
    pub fn write<T>(&self, f: impl FnOnce(&Transaction) -> Result<T>) -> Result<T> {
        let mut conn = lock(&self.writer);
        CHANGED.with(|c| c.borrow_mut().clear());
        let result = (|| {
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let value = f(&tx)?;
            tx.commit()?;
            Ok(value)
        })();
        drop(conn);
        let changed = CHANGED.with(|c| std::mem::take(&mut *c.borrow_mut()));
        if result.is_ok() && !changed.is_empty() {
            if let Some(hook) = self.on_commit.get() {
                hook(&changed);
            }
        }
        result
    }

    /// A number that changes whenever another connection (in this process or another) commits;
    /// used to notice writes by a second process.
    pub fn data_version(&self) -> Result<i64> {
        let conn = lock(&self.writer);
        Ok(conn.query_row("PRAGMA data_version", [], |r| r.get(0))?)
    }

    /// `PRAGMA integrity_check`, for tests and `liteimap check`.
    pub fn integrity_check(&self) -> Result<String> {
        self.read(|c| Ok(c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?))
    }
}

fn open_connection(path: &Path, create: bool) -> Result<Connection> {
    let mut flags = OpenFlags::SQLITE_OPEN_READ_WRITE
        | OpenFlags::SQLITE_OPEN_NO_MUTEX
        | OpenFlags::SQLITE_OPEN_URI;
    if create {
        flags |= OpenFlags::SQLITE_OPEN_CREATE;
    }
    let conn = Connection::open_with_flags(path, flags)?;
    conn.busy_timeout(Duration::from_secs(10))?;
    // A file that is not SQLite at all fails on the first statement that reads it.
    conn.pragma_update(None, "journal_mode", "WAL")
        .map_err(|e| not_a_database(path, e))?;
    // FULL: an APPEND answered OK survives power loss, not only a crash of the process.
    conn.pragma_update(None, "synchronous", "FULL")?;
    conn.pragma_update(None, "foreign_keys", "ON")?;
    conn.set_prepared_statement_cache_capacity(64);
    Ok(conn)
}

fn not_a_database(path: &Path, e: rusqlite::Error) -> StoreError {
    match e {
        rusqlite::Error::SqliteFailure(ref err, _)
            if err.code == rusqlite::ErrorCode::NotADatabase =>
        {
            StoreError::NotLiteimap(path.to_path_buf())
        }
        other => StoreError::Db(other),
    }
}

/// Bring the schema to SCHEMA_VERSION: an empty file gets schema.sql; a liteimap database with
/// an older version runs one step per version; anything else is refused.
fn migrate(conn: &Connection, path: &Path) -> Result<()> {
    let version: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .map_err(|e| not_a_database(path, e))?;
    if version > SCHEMA_VERSION {
        return Err(StoreError::TooNew {
            found: version,
            supported: SCHEMA_VERSION,
        });
    }
    if version == 0 {
        let tables: i64 = conn.query_row(
            "SELECT count(*) FROM sqlite_master WHERE type = 'table'",
            [],
            |r| r.get(0),
        )?;
        if tables > 0 {
            return Err(StoreError::NotLiteimap(path.to_path_buf()));
        }
        conn.execute_batch(&format!(
            "BEGIN IMMEDIATE; {SCHEMA}; PRAGMA user_version = {SCHEMA_VERSION}; COMMIT;"
        ))?;
        return Ok(());
    }
    let marker: Option<String> = conn
        .query_row(
            "SELECT value FROM liteimap_meta WHERE key = 'application'",
            [],
            |r| r.get(0),
        )
        .ok();
    if marker.as_deref() != Some("liteimap") {
        return Err(StoreError::NotLiteimap(path.to_path_buf()));
    }
    // One step per version, each in its own transaction that also sets user_version.
    if version < 2 {
        migrate_step(conn, 2, mailboxes::tag_well_known_folders)?;
    }
    Ok(())
}

/// Run one migration step and record its version, all or nothing.
fn migrate_step(
    conn: &Connection,
    to: i64,
    step: impl FnOnce(&Transaction) -> Result<()>,
) -> Result<()> {
    let tx = conn.unchecked_transaction()?;
    step(&tx)?;
    tx.execute_batch(&format!("PRAGMA user_version = {to}"))?;
    tx.commit()?;
    Ok(())
}

/// Seconds since the epoch, for timestamps the store writes itself.
pub(crate) fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as i64)
        .unwrap_or(0)
}

#[cfg(test)]
pub(crate) mod testutil {
    use super::*;

    pub struct TempDb {
        pub dir: PathBuf,
        pub store: Store,
    }

    impl Drop for TempDb {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.dir);
        }
    }

    pub fn temp_store() -> TempDb {
        use std::sync::atomic::{AtomicUsize, Ordering};
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "liteimap-store-test-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Store::open(&dir.join("t.db")).unwrap();
        TempDb { dir, store }
    }
}

#[cfg(test)]
mod tests {
    use super::testutil::temp_store;
    use super::*;

    #[test]
    fn refuses_newer_schema() {
        let t = temp_store();
        t.store
            .write(|tx| Ok(tx.execute_batch("PRAGMA user_version = 99")?))
            .unwrap();
        let err = Store::open(&t.dir.join("t.db")).err().unwrap();
        assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
    }

    #[test]
    fn refuses_foreign_files() {
        let t = temp_store();
        let junk = t.dir.join("junk.db");
        std::fs::write(&junk, vec![b'x'; 4096]).unwrap();
        let err = Store::open(&junk).err().unwrap();
        assert!(matches!(err, StoreError::NotLiteimap(_)), "{err}");

        let other = t.dir.join("other.db");
        let c = Connection::open(&other).unwrap();
        c.execute_batch("CREATE TABLE t(x)").unwrap();
        drop(c);
        let err = Store::open(&other).err().unwrap();
        assert!(matches!(err, StoreError::NotLiteimap(_)), "{err}");
    }

    /// A database as liteimap with schema 1 wrote it: users with folders, no special uses.
    #[test]
    fn migrates_a_version_1_database() {
        let dir = std::env::temp_dir().join(format!("liteimap-v1-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("v1.db");
        {
            let c = Connection::open(&path).unwrap();
            // Schema 1 is schema.sql as it stands (the special_use column was there from the
            // start; version 2 only fills it in).
            c.execute_batch(&format!("{SCHEMA}; PRAGMA user_version = 1;"))
                .unwrap();
            c.execute_batch(
                "INSERT INTO users (id, name, password_hash, created) VALUES (1, 'old', 'x', 0), (2, 'other', 'x', 0);
                 INSERT INTO mailboxes (user_id, name, uidvalidity) VALUES
                   (1, 'INBOX', 1), (1, 'Sent Messages', 2), (1, 'Sent', 3), (1, 'Spam', 4),
                   (1, 'Trash', 5), (1, 'Projects/Drafts', 6),
                   (2, 'INBOX', 7), (2, 'Junk', 8);
                 UPDATE mailboxes SET noselect = 1 WHERE name = 'Trash';",
            )
            .unwrap();
        }
        let store = Store::open(&path).unwrap();
        let version: i64 = store
            .read(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let uses = |user: &str| -> Vec<(String, Option<String>)> {
            let u = store.find_user(user).unwrap().unwrap();
            store
                .mailboxes(u.id)
                .unwrap()
                .into_iter()
                .map(|m| (m.name, m.special_use))
                .collect()
        };
        let s = |x: &str| Some(x.to_string());
        assert_eq!(
            uses("old"),
            vec![
                ("INBOX".into(), None),
                // Top-level only, and a \Noselect name cannot hold sent mail.
                ("Projects/Drafts".into(), None),
                // "Sent" is preferred over "Sent Messages".
                ("Sent".into(), s("\\Sent")),
                ("Sent Messages".into(), None),
                ("Spam".into(), s("\\Junk")),
                ("Trash".into(), None),
            ]
        );
        assert_eq!(
            uses("other"),
            vec![("INBOX".into(), None), ("Junk".into(), s("\\Junk"))]
        );
        // No folders were created for existing users; new users get the defaults.
        let id = store.create_user("new", "x").unwrap();
        let names: Vec<String> = store
            .mailboxes(id)
            .unwrap()
            .into_iter()
            .map(|m| m.name)
            .collect();
        assert_eq!(
            names,
            vec!["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"]
        );
        assert_eq!(store.subscriptions(id).unwrap().len(), 6);
        // Opening again changes nothing.
        drop(store);
        let store = Store::open(&path).unwrap();
        assert_eq!(store.integrity_check().unwrap(), "ok");
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn reopen_keeps_schema() {
        let t = temp_store();
        let s = Store::open(&t.dir.join("t.db")).unwrap();
        assert_eq!(s.integrity_check().unwrap(), "ok");
    }
}
