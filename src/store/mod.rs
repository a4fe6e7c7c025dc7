//! The store. `Store` (facade.rs) is what the rest of liteimap calls; it forwards to a backend:
//! `SqliteStore` here (schema, migrations, connections and transactions of one SQLite file) or
//! `pg::PgStore` (a PostgreSQL database).
//!
//! Synchronous rusqlite only: it never sees a socket, an async runtime or an IMAP type. The
//! network side calls it through the blocking pool. One writer connection behind its own lock
//! (SQLite has one writer; queueing on our lock is fairer and cheaper than SQLite's busy-wait),
//! and a small pool of reader connections that WAL lets read while the writer writes.
//!
//! Every SQLite specific (pragmas, `user_version`, `data_version`) stays inside this module so a
//! second backend can stand beside it.

mod admin;
mod chunks;
mod facade;
mod holds;
mod mailboxes;
mod messages;
mod metadata;
mod names;
mod objid;
pub mod pg;
mod quota;
mod scan;
mod search_index;
mod sortkeys;
mod transfer;
mod urlauth;
mod users;

pub use admin::{backup, check, BackupDone, BackupProgress, CheckReport};
pub use facade::Store;
pub use holds::{ViewHold, ViewId};
pub use mailboxes::{MailboxRow, DEFAULT_FOLDERS, INBOX, SPECIAL_USES};
pub use messages::{
    AppendedMessage, Changes, Cond, FetchRow, FlagChange, FlagOp, FlagStore, MailboxCounts,
    MessageMeta, NewMessage, SelectSnapshot,
};
pub use metadata::{
    entry_name, MetadataChange, MetadataDepth, MetadataEntry, MetadataHook, MAX_ENTRIES, MAX_NAME,
    MAX_VALUE,
};
pub use names::{
    mailbox_name, mailbox_name_to_utf8, mailbox_name_utf8, NameError, MAX_MAILBOX_NAME,
};
pub use objid::{hex, random_bytes, ObjectFields, StoreTimeFields};
pub use quota::{OverQuota, Quota, QuotaLimits, QuotaResource, QuotaUsage};
pub use scan::Scan;
pub use search_index::TextPlace;
pub use sortkeys::{SortKeysRef, SortRow};
pub use transfer::{ExactMessage, ExportedMessage, MailboxExport, MetadataExport, UserExport};
pub use users::UserRow;

use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use rusqlite::{Connection, OpenFlags, OptionalExtension};

/// The schema version this binary writes. A database with a higher `user_version` was written
/// by a newer liteimap and is refused rather than misread.
pub const SCHEMA_VERSION: i64 = 11;
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
    /// The disk (or the database's size limit) is full: the write was not done. Reading goes on.
    Full,
    /// Messages named by a session's view were expunged by another session (COPY/MOVE of them
    /// does nothing).
    Expunged(String),
    /// The write would take the user past a quota limit (RFC 9208); nothing was written.
    OverQuota(OverQuota),
    /// A METADATA change would leave the user with more entries than the limit (RFC 5464
    /// `[METADATA TOOMANY]`); nothing was changed.
    MetadataTooMany(usize),
    /// SQLite failed.
    Db(rusqlite::Error),
    /// Creating the database file or its directory failed.
    Io(PathBuf, std::io::Error),
    /// The database path cannot hold a database, and why (a directory, an unwritable one, an
    /// in-memory name).
    Unusable(PathBuf, String),
    /// The database server cannot be reached (PostgreSQL: connection lost, in recovery); the
    /// write was not done and may be retried (RFC 5530 `[UNAVAILABLE]`).
    Unavailable(String),
    /// The operation is not (yet) implemented by this store backend (named).
    Unsupported(&'static str),
    /// PostgreSQL failed (its message and SQLSTATE), in a way retrying will not mend.
    Pg(String),
    /// The connection to the database server was lost while the write's COMMIT was on its
    /// way: the write may or may not have been done (RFC 5530 `[UNAVAILABLE]`, said so).
    InDoubt(String),
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
            StoreError::Full => write!(f, "the disk is full (database or disk is full)"),
            StoreError::OverQuota(q) => write!(f, "{q}"),
            StoreError::MetadataTooMany(n) => write!(f, "more than {n} metadata entries"),
            StoreError::Db(e) => write!(f, "database error: {e}"),
            StoreError::Io(p, e) => write!(f, "cannot create {}: {e}", p.display()),
            // Callers name the database path already ("cannot open database PATH: ...").
            StoreError::Unusable(_, why) => write!(f, "{why}"),
            StoreError::Unavailable(why) => write!(f, "the database is unavailable: {why}"),
            StoreError::Unsupported(what) => {
                write!(f, "{what} is not supported by this store backend")
            }
            StoreError::Pg(why) => write!(f, "PostgreSQL: {why}"),
            StoreError::InDoubt(why) => write!(
                f,
                "the database connection was lost during COMMIT, so the write may or may not have been done: {why}"
            ),
        }
    }
}

impl std::error::Error for StoreError {}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        match e.sqlite_error_code() {
            Some(rusqlite::ErrorCode::DiskFull) => StoreError::Full,
            _ => StoreError::Db(e),
        }
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Recover a lock poisoned by a panicking holder: the protected connections carry no Rust-side
/// invariants (an interrupted transaction is rolled back when it is dropped), so one panicking
/// session must not take the store away from every other.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Called after every commit with the mailboxes it changed, each with its highest modseq
/// (`u64::MAX` for a change without one, such as a deletion).
pub type CommitHook = Box<dyn Fn(&[(MailboxId, u64)]) + Send + Sync>;

/// What the timing hook is told the duration of.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Timing {
    /// A COMMIT: the transaction written to the WAL and synced to disk.
    Commit,
    /// A WAL checkpoint: the log copied back into the database file, which is synced.
    Checkpoint,
}

/// Told how long each commit and checkpoint took (the metrics' histograms).
pub type TimingHook = Box<dyn Fn(Timing, std::time::Duration) + Send + Sync>;

/// The timing hook, shared with the checkpointer thread.
type TimingSlot = Arc<std::sync::OnceLock<TimingHook>>;

/// Run `f`, telling the hook (if installed) how long it took.
fn timed<T>(slot: &TimingSlot, what: Timing, f: impl FnOnce() -> T) -> T {
    let Some(hook) = slot.get() else {
        return f();
    };
    let started = std::time::Instant::now();
    let out = f();
    hook(what, started.elapsed());
    out
}

/// WAL pages after which the checkpointer is woken (SQLite's own autocheckpoint default).
const CHECKPOINT_PAGES: i32 = 1000;
/// WAL pages after which a commit checkpoints in line, as SQLite would by itself: the bound on
/// the log when the checkpointer falls behind (or could not start).
const CHECKPOINT_INLINE_PAGES: i32 = 16 * CHECKPOINT_PAGES;
/// Frames of the WAL the checkpointer may have left uncopied for a commit to finish its
/// checkpoint in line (see `SqliteStore::after_commit`): the writer's stall for it.
const CHECKPOINT_TAIL_PAGES: i32 = CHECKPOINT_PAGES / 2;

/// SQLite's WAL hook on the writer connection: it runs on the committing thread, inside COMMIT,
/// and only notes the log's size there; the caller acts on it after the commit (see
/// `SqliteStore::after_commit`). Installing it turns SQLite's autocheckpoint off for that connection.
fn note_wal_pages(_: &rusqlite::hooks::Wal, pages: std::ffi::c_int) -> rusqlite::Result<()> {
    WAL_PAGES.with(|p| p.set(pages));
    Ok(())
}

thread_local! {
    /// The WAL's size in pages after the last commit on this thread (see `note_wal_pages`).
    static WAL_PAGES: std::cell::Cell<i32> = const { std::cell::Cell::new(0) };
    /// Mailboxes changed by the write running on this thread (see `bump_modseq`).
    static CHANGED: std::cell::RefCell<Vec<(MailboxId, u64)>> = const { std::cell::RefCell::new(Vec::new()) };
    /// The write running on this thread queued a body for the search indexer.
    static QUEUED: std::cell::Cell<bool> = const { std::cell::Cell::new(false) };
}

/// Record that the current write queued a body for the search indexer (woken at commit).
pub(crate) fn mark_queued() {
    QUEUED.with(|q| q.set(true));
}

/// Record that the current write changes `mailbox` in a way that has no modseq (deletion).
pub(crate) fn mark_changed(mailbox: MailboxId) {
    mark_changed_at(mailbox, u64::MAX);
}

/// Record that the current write takes `mailbox` to `modseq`.
pub(crate) fn mark_changed_at(mailbox: MailboxId, modseq: u64) {
    CHANGED.with(|c| merge_changed(&mut c.borrow_mut(), mailbox, modseq));
}

fn merge_changed(list: &mut Vec<(MailboxId, u64)>, mailbox: MailboxId, modseq: u64) {
    match list.iter_mut().find(|(m, _)| *m == mailbox) {
        Some((_, at)) => *at = (*at).max(modseq),
        None => list.push((mailbox, modseq)),
    }
}

/// What a write runs on: the writer connection, inside the batch's transaction and the write's
/// own savepoint (see `SqliteStore::write`). It derefs to the connection; only the store makes one,
/// so a function that takes it can only be called from inside a write.
pub struct Transaction<'c> {
    conn: &'c Connection,
}

impl std::ops::Deref for Transaction<'_> {
    type Target = Connection;
    fn deref(&self) -> &Connection {
        self.conn
    }
}

/// The most writes one commit takes; a steady stream of writers still gets its commits.
const MAX_BATCH: usize = 64;

/// The writer connection and the batch (group commit) open on it.
struct Writer {
    conn: Connection,
    /// The batch whose transaction is open on `conn`, if one is.
    batch: Option<Arc<Batch>>,
    /// Writes run in the open batch, and the mailboxes they changed.
    writes: usize,
    changed: Vec<(MailboxId, u64)>,
    /// A write in the open batch queued a body for the search indexer.
    queued: bool,
    /// Writes in the open batch not counted in `stats` (see `write_locked`).
    uncounted: usize,
}

/// How a batch's commit went: Ok, or SQLite's (extended) error code and message, which every
/// member turns back into its own error.
type Outcome = std::result::Result<(), (i32, String)>;

/// One group commit: its members wait here until the one that commits tells them how it went.
#[derive(Default)]
struct Batch {
    outcome: Mutex<Option<Outcome>>,
    done: Condvar,
}

impl Batch {
    fn finish(&self, outcome: Outcome) {
        *lock(&self.outcome) = Some(outcome);
        self.done.notify_all();
    }

    fn wait(&self) -> Outcome {
        let mut o = lock(&self.outcome);
        loop {
            if let Some(outcome) = o.as_ref() {
                return outcome.clone();
            }
            o = self.done.wait(o).unwrap_or_else(PoisonError::into_inner);
        }
    }
}

/// How a write ended inside its savepoint.
enum Ran<T> {
    Done(T),
    Failed(StoreError),
    Panicked(Box<dyn std::any::Any + Send>),
}

/// Counters of the store's work, for logs and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StoreStats {
    /// Transactions committed.
    pub commits: u64,
    /// Writes those commits carried (every `SqliteStore::write` that was part of a commit).
    pub writes: u64,
    /// Read transactions (`SqliteStore::read`).
    pub reads: u64,
}

/// The store: what `SqliteStore::open` returns and the facade holds. Its state is shared with the
/// threads it owns (the checkpointer's wake-up, the search indexer, which writes through the
/// same write path as everyone else); see [`StoreShared`].
pub struct SqliteStore {
    shared: Arc<StoreShared>,
    /// The search indexer's thread (see `search_index::Indexer`), joined on drop.
    indexer: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl std::ops::Deref for SqliteStore {
    type Target = StoreShared;
    fn deref(&self) -> &StoreShared {
        &self.shared
    }
}

/// The store's state: the connections, the group commit, the hooks. Held by the `Store` and
/// by the search indexer's thread; callers use it through `Store`.
#[doc(hidden)]
pub struct StoreShared {
    path: PathBuf,
    /// The permission bits of an existing database file that others may read (see `open`).
    loose_mode: Option<u32>,
    writer: Mutex<Writer>,
    /// Writes waiting for the writer connection: while there are any, a finished write leaves
    /// the transaction open for them and the last one commits for all.
    waiting: AtomicUsize,
    commits: AtomicU64,
    batched_writes: AtomicU64,
    reads: AtomicU64,
    readers: Mutex<Vec<Connection>>,
    on_commit: std::sync::OnceLock<CommitHook>,
    timing: TimingSlot,
    /// Told of every committed METADATA change (see `metadata`).
    on_metadata: std::sync::OnceLock<MetadataHook>,
    /// The last write failed for a full disk (logged once until a write succeeds again).
    full: AtomicBool,
    /// Tests only: every write fails as on a full disk.
    simulate_full: AtomicBool,
    /// Expunged messages that open views still number (see `holds`).
    holds: std::sync::Arc<holds::Holds>,
    /// Wakes the checkpointer thread, which copies the WAL back into the database on its own
    /// connection (PASSIVE), so a commit never waits for a checkpoint while it holds the writer.
    /// The thread ends when the store (and with it this sender) is dropped.
    checkpoint: Mutex<Option<std::sync::mpsc::SyncSender<()>>>,
    /// The checkpointer thread, joined when the store is dropped (see `Drop`).
    checkpointer: Mutex<Option<std::thread::JoinHandle<()>>>,
    /// Frames of the WAL the checkpointer's last checkpoint had copied back (0: none since a
    /// commit finished one; see `after_commit`).
    checkpointed: Arc<std::sync::atomic::AtomicI32>,
    /// The search indexer's controls: woken after a commit that queued bodies for the index.
    indexer_ctl: Arc<search_index::Indexer>,
}

impl SqliteStore {
    /// Open (creating if needed) and migrate the database at `path`. A new file (and a missing
    /// directory for it) is created for the owner only, whatever the umask.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        unusable_path(path)?;
        let loose_mode = create_private(path)?;
        let conn = open_connection(path, true).map_err(|e| explain_open_failure(path, e))?;
        migrate(&conn, path).map_err(|e| explain_open_failure(path, e))?;
        objid::ensure_key(&conn)?;
        let timing = TimingSlot::default();
        let checkpointed = Arc::new(std::sync::atomic::AtomicI32::new(0));
        let started = start_checkpointer(path, timing.clone(), checkpointed.clone());
        let (checkpoint, checkpointer) = match started {
            Some((tx, thread)) => (Some(tx), Some(thread)),
            None => (None, None),
        };
        if checkpoint.is_some() {
            conn.wal_hook(Some(note_wal_pages));
        }
        let shared = Arc::new(StoreShared {
            path: path.to_path_buf(),
            loose_mode,
            writer: Mutex::new(Writer {
                conn,
                batch: None,
                writes: 0,
                changed: Vec::new(),
                queued: false,
                uncounted: 0,
            }),
            waiting: AtomicUsize::new(0),
            commits: AtomicU64::new(0),
            batched_writes: AtomicU64::new(0),
            reads: AtomicU64::new(0),
            readers: Mutex::new(Vec::new()),
            on_commit: std::sync::OnceLock::new(),
            timing,
            on_metadata: std::sync::OnceLock::new(),
            full: AtomicBool::new(false),
            simulate_full: AtomicBool::new(false),
            holds: Default::default(),
            checkpoint: Mutex::new(checkpoint),
            checkpointer: Mutex::new(checkpointer),
            checkpointed,
            indexer_ctl: Default::default(),
        });
        // A queue left by the last run (or by `liteimap import`) drains from the start.
        let indexer = search_index::start_indexer(&shared);
        Ok(SqliteStore {
            shared,
            indexer: Mutex::new(indexer),
        })
    }

    /// Install the function told about every committed change (the notifier). Once only.
    pub fn set_commit_hook(&self, hook: CommitHook) {
        let _ = self.on_commit.set(hook);
    }

    /// Install the function told how long commits and checkpoints take. Once only.
    pub fn set_timing_hook(&self, hook: TimingHook) {
        let _ = self.timing.set(hook);
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The permission bits of the database file when it already existed with group or other
    /// bits set (mail and password hashes readable by other local users), for a warning.
    pub fn loose_mode(&self) -> Option<u32> {
        self.loose_mode
    }
}

impl StoreShared {
    /// Run `f` on a reader connection (a snapshot of the last commit).
    pub(crate) fn read<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.read_quiet(f)
    }

    /// `read` not counted in `stats` (the search indexer's: the counters are clients' work).
    fn read_quiet<T>(&self, f: impl FnOnce(&Connection) -> Result<T>) -> Result<T> {
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

    /// Run `f` as one write: all of it or nothing. The commit has reached the disk
    /// (synchronous=FULL) before this returns Ok.
    ///
    /// Group commit: concurrent writes share one transaction and one fsync. Each write runs in
    /// its own SAVEPOINT on the writer connection; one that fails (or panics) is rolled back to
    /// its savepoint alone and gets its own error. A write that finishes while others wait for
    /// the connection leaves the transaction open for them; the last of the batch commits, runs
    /// the commit hook once with every mailbox the batch changed, and only then is any member
    /// answered. If the commit fails, every member gets the error: none was told it succeeded.
    pub(crate) fn write<T>(&self, f: impl FnOnce(&Transaction) -> Result<T>) -> Result<T> {
        if self.simulate_full.load(Ordering::Relaxed) {
            let refused = Err(StoreError::Full);
            self.note_disk_state(&refused);
            return refused;
        }
        let result = self.write_in_batch(f);
        self.note_disk_state(&result);
        result
    }

    /// `write` without the disk-state bookkeeping: the group commit itself.
    fn write_in_batch<T>(&self, f: impl FnOnce(&Transaction) -> Result<T>) -> Result<T> {
        self.waiting.fetch_add(1, Ordering::SeqCst);
        let w = lock(&self.writer);
        self.waiting.fetch_sub(1, Ordering::SeqCst);
        self.write_locked(w, true, f)
    }

    /// `write`, but only if nobody is writing or waiting to: `None` (and nothing run) when the
    /// writer is busy. The search indexer's way in, so it never makes a client write wait for
    /// the lock (a client that comes while it runs joins its batch, as with any write).
    pub(crate) fn write_if_idle<T>(
        &self,
        f: impl FnOnce(&Transaction) -> Result<T>,
    ) -> Option<Result<T>> {
        if self.waiting.load(Ordering::SeqCst) > 0 || self.simulate_full.load(Ordering::Relaxed) {
            return None;
        }
        let w = match self.writer.try_lock() {
            Ok(w) => w,
            Err(std::sync::TryLockError::Poisoned(p)) => p.into_inner(),
            Err(std::sync::TryLockError::WouldBlock) => return None,
        };
        if self.waiting.load(Ordering::SeqCst) > 0 {
            return None;
        }
        let result = self.write_locked(w, false, f);
        self.note_disk_state(&result);
        Some(result)
    }

    /// The group commit, on the writer connection `w` holds. A write not `counted` (the
    /// indexer's) is left out of `stats`, and so is a commit that carried only such writes.
    fn write_locked<T>(
        &self,
        mut w: MutexGuard<'_, Writer>,
        counted: bool,
        f: impl FnOnce(&Transaction) -> Result<T>,
    ) -> Result<T> {
        let batch = match &w.batch {
            Some(b) => b.clone(),
            None => {
                w.conn
                    .execute_batch("BEGIN IMMEDIATE")
                    .map_err(StoreError::from)?;
                let b = Arc::new(Batch::default());
                w.batch = Some(b.clone());
                b
            }
        };
        let ran = run_in_savepoint(&w.conn, f);
        if matches!(ran, Ran::Done(_)) {
            let changed = CHANGED.with(|c| std::mem::take(&mut *c.borrow_mut()));
            for (m, modseq) in changed {
                merge_changed(&mut w.changed, m, modseq);
            }
            w.queued |= QUEUED.with(|q| q.replace(false));
        }
        w.writes += 1;
        if !counted {
            w.uncounted += 1;
        }
        // SQLite rolls a transaction back by itself after some errors (disk full, I/O): then
        // the whole batch is lost, and nobody in it may be told otherwise.
        let lost = w.conn.is_autocommit();
        let outcome = if !lost && w.writes < MAX_BATCH && self.waiting.load(Ordering::SeqCst) > 0 {
            drop(w);
            batch.wait()
        } else {
            let committed: Outcome = if lost {
                Err((
                    rusqlite::ffi::SQLITE_ABORT,
                    "the transaction was rolled back by the database".into(),
                ))
            } else {
                timed(&self.timing, Timing::Commit, || {
                    w.conn.execute_batch("COMMIT")
                })
                .map_err(|e| {
                    if !w.conn.is_autocommit() {
                        let _ = w.conn.execute_batch("ROLLBACK");
                    }
                    let code = e
                        .sqlite_error()
                        .map_or(rusqlite::ffi::SQLITE_ERROR, |x| x.extended_code);
                    (code, e.to_string())
                })
            };
            let changed = std::mem::take(&mut w.changed);
            let writes = std::mem::take(&mut w.writes) - std::mem::take(&mut w.uncounted);
            let queued = std::mem::take(&mut w.queued);
            w.batch = None;
            if committed.is_ok() {
                self.after_commit(&w.conn);
            }
            drop(w);
            if committed.is_ok() {
                if writes > 0 {
                    self.commits.fetch_add(1, Ordering::Relaxed);
                    self.batched_writes
                        .fetch_add(writes as u64, Ordering::Relaxed);
                }
                if !changed.is_empty() {
                    if let Some(hook) = self.on_commit.get() {
                        hook(&changed);
                    }
                }
                if queued {
                    self.indexer_ctl.kick();
                }
            }
            batch.finish(committed.clone());
            committed
        };
        match ran {
            Ran::Panicked(payload) => std::panic::resume_unwind(payload),
            Ran::Failed(e) => Err(e),
            Ran::Done(value) => match outcome {
                Ok(()) => Ok(value),
                // Through `From`, so a disk that fills at COMMIT is `Full` like any other write.
                Err((code, why)) => Err(StoreError::from(rusqlite::Error::SqliteFailure(
                    rusqlite::ffi::Error::new(code),
                    Some(format!("commit failed: {why}")),
                ))),
            },
        }
    }

    /// After a commit on the writer: wake the checkpointer once the WAL has grown past
    /// `CHECKPOINT_PAGES`; past `CHECKPOINT_INLINE_PAGES` (the checkpointer is behind or gone)
    /// checkpoint here, as SQLite's autocheckpoint would have.
    ///
    /// SQLite starts the log over (writes from its first frame again) only when a write begins
    /// with every frame copied back. Under a steady stream of commits the checkpointer never
    /// gets there (each commit adds frames while it copies), so the log only grew, and every
    /// commit's fsync also had to write the file's new size (on ext4 a journal commit: 3–6× the
    /// cost of syncing an overwrite). So once the checkpointer has copied all but the last
    /// `CHECKPOINT_TAIL_PAGES`, the commit copies the rest here, holding the writer: no write
    /// comes between that checkpoint and the next BEGIN, which then starts the log over.
    fn after_commit(&self, conn: &Connection) {
        let pages = WAL_PAGES.with(|p| p.replace(0));
        if pages < CHECKPOINT_PAGES {
            return;
        }
        // More than the log holds: counted in the log before it started over.
        let copied = self.checkpointed.load(Ordering::Relaxed);
        if copied > 0 && copied <= pages && pages - copied <= CHECKPOINT_TAIL_PAGES {
            self.checkpointed.store(0, Ordering::Relaxed);
            let _ = timed(&self.timing, Timing::Checkpoint, || {
                passive_checkpoint(conn)
            });
            return;
        }
        let woken = lock(&self.checkpoint).as_ref().is_some_and(|tx| {
            !matches!(
                tx.try_send(()),
                Err(std::sync::mpsc::TrySendError::Disconnected(_))
            )
        });
        if !woken || pages >= CHECKPOINT_INLINE_PAGES {
            let _ = timed(&self.timing, Timing::Checkpoint, || {
                passive_checkpoint(conn)
            });
        }
    }
}

/// `PRAGMA wal_checkpoint(PASSIVE)`: copy back what no reader still needs, waiting for nobody.
/// Returns the frames of the log copied back so far (SQLite's third column).
fn passive_checkpoint(conn: &Connection) -> rusqlite::Result<i32> {
    conn.query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(2))
}

impl SqliteStore {
    /// Commits so far, the writes they carried, and the reads.
    pub fn stats(&self) -> StoreStats {
        StoreStats {
            commits: self.commits.load(Ordering::Relaxed),
            writes: self.batched_writes.load(Ordering::Relaxed),
            reads: self.reads.load(Ordering::Relaxed),
        }
    }
}

impl StoreShared {
    /// Log the start and the end of a full disk once each, not once per refused write.
    fn note_disk_state<T>(&self, result: &Result<T>) {
        match result {
            Err(StoreError::Full) => {
                if !self.full.swap(true, Ordering::Relaxed) {
                    log::error!(
                        "{}: database or disk is full: changes are refused (APPEND gets NO [LIMIT]) until space is freed; SELECT skips the \\Recent claim and FETCH the \\Seen flag",
                        self.path.display()
                    );
                }
            }
            Ok(_) => {
                if self.full.swap(false, Ordering::Relaxed) {
                    log::info!("{}: writes succeed again", self.path.display());
                }
            }
            Err(_) => {}
        }
    }
}

impl SqliteStore {
    /// Tests only: make every write fail as it does on a full disk (`StoreError::Full`), for
    /// the paths where a real full disk is not deterministic (an UPDATE in place may or may
    /// not need a new page). Not reachable from the command line.
    #[doc(hidden)]
    pub fn simulate_full_disk(&self, on: bool) {
        self.simulate_full.store(on, Ordering::Relaxed);
    }

    /// A number that changes whenever another connection (in this process or another) commits;
    /// used to notice writes by a second process.
    pub fn data_version(&self) -> Result<i64> {
        let w = lock(&self.writer);
        Ok(w.conn.query_row("PRAGMA data_version", [], |r| r.get(0))?)
    }

    /// `PRAGMA integrity_check`, for tests and `liteimap check`.
    pub fn integrity_check(&self) -> Result<String> {
        self.read(|c| Ok(c.query_row("PRAGMA integrity_check", [], |r| r.get(0))?))
    }
}

/// Create the database file with mode 0600 (and a missing directory for it with 0700) before
/// SQLite opens it: SQLite gives the -wal and -shm files the main file's permission bits, so all
/// three stay private whatever the umask. An existing file is left as it is; its mode is
/// returned when group or other bits are set.
/// Refuse what cannot be a liteimap database before SQLite gets a chance to say something
/// vaguer: an in-memory database (gone at exit, and each connection would get its own, empty
/// one) and a directory.
fn unusable_path(path: &Path) -> Result<()> {
    let name = path.to_string_lossy();
    if name == ":memory:" || (name.starts_with("file:") && name.contains("memory")) {
        return Err(StoreError::Unusable(
            path.to_path_buf(),
            "an in-memory database would lose all mail at exit; give a file path, e.g. --db /var/lib/liteimap/mail.db".into(),
        ));
    }
    if path.is_dir() {
        return Err(StoreError::Unusable(
            path.to_path_buf(),
            format!(
                "is a directory; give the database file, e.g. --db {}",
                path.join("liteimap.db").display()
            ),
        ));
    }
    Ok(())
}

/// SQLite's "unable to open database file" and "attempt to write a readonly database" do not
/// say which file: WAL mode creates `-wal` and `-shm` files beside the database, so the
/// directory must be writable, not only the file. Say so when that is the cause.
fn explain_open_failure(path: &Path, e: StoreError) -> StoreError {
    let StoreError::Db(ref db) = e else { return e };
    let code = db.sqlite_error_code();
    if !matches!(
        code,
        Some(rusqlite::ErrorCode::CannotOpen | rusqlite::ErrorCode::ReadOnly)
    ) {
        return e;
    }
    let dir = match path.parent().filter(|d| !d.as_os_str().is_empty()) {
        Some(d) => d.to_path_buf(),
        None => PathBuf::from("."),
    };
    let probe = dir.join(format!(".liteimap-write-test-{}", std::process::id()));
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)
    {
        Ok(_) => {
            let _ = std::fs::remove_file(&probe);
            if std::fs::OpenOptions::new().write(true).open(path).is_err() {
                return StoreError::Unusable(
                    path.to_path_buf(),
                    "the file is not writable by this user (liteimap needs to read and write it)"
                        .into(),
                );
            }
            e
        }
        Err(io) => StoreError::Unusable(
            path.to_path_buf(),
            format!(
                "directory {} is not writable by this user ({io}); SQLite creates the -wal and -shm files beside the database, so the directory must be writable too",
                dir.display()
            ),
        ),
    }
}

fn create_private(path: &Path) -> Result<Option<u32>> {
    use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
    let io = |p: &Path| {
        let p = p.to_path_buf();
        move |e| StoreError::Io(p, e)
    };
    // A URI or an in-memory name is SQLite's to interpret, not a file name.
    let name = path.to_string_lossy();
    if name.starts_with("file:") || name == ":memory:" {
        return Ok(None);
    }
    match std::fs::metadata(path) {
        Ok(meta) => {
            let mode = meta.permissions().mode() & 0o777;
            return Ok((mode & 0o077 != 0).then_some(mode));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(io(path)(e)),
    }
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        if !dir.exists() {
            std::fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(dir)
                .map_err(io(dir))?;
        }
    }
    match std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
    {
        // The umask may have taken owner bits away: set the mode exactly.
        Ok(file) => file
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(io(path))?,
        // Another process created it meanwhile: it is that one's file now.
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(io(path)(e)),
    }
    Ok(None)
}

/// The checkpointer: a thread with its own connection that runs a PASSIVE checkpoint each time
/// a commit wakes it (never blocking the writer or a reader). None if it cannot start; commits
/// then checkpoint in line.
fn start_checkpointer(
    path: &Path,
    timing: TimingSlot,
    checkpointed: Arc<std::sync::atomic::AtomicI32>,
) -> Option<(std::sync::mpsc::SyncSender<()>, std::thread::JoinHandle<()>)> {
    let conn = open_connection(path, false).ok()?;
    // One pending wake-up is enough: a checkpoint copies everything committed before it.
    let (tx, rx) = std::sync::mpsc::sync_channel::<()>(1);
    let spawned = std::thread::Builder::new()
        .name("checkpoint".into())
        .spawn(move || {
            while rx.recv().is_ok() {
                match timed(&timing, Timing::Checkpoint, || passive_checkpoint(&conn)) {
                    Ok(frames) => checkpointed.store(frames, Ordering::Relaxed),
                    Err(e) => log::warn!("WAL checkpoint failed: {e}"),
                }
            }
        });
    match spawned {
        Ok(thread) => Some((tx, thread)),
        Err(e) => {
            log::warn!("cannot start the WAL checkpointer (commits checkpoint themselves): {e}");
            None
        }
    }
}

/// A dropped store is closed when `drop` returns: the checkpointer thread ends (and closes its
/// connection) before the writer's connection closes, so the writer's is the last one and its
/// close copies the WAL back and removes it — a file copied right after holds everything.
impl Drop for SqliteStore {
    fn drop(&mut self) {
        // The indexer first: it holds the shared state (and writes through the writer).
        self.indexer_ctl.stop();
        if let Some(thread) = lock(&self.indexer).take() {
            let _ = thread.join();
        }
        lock(&self.checkpoint).take();
        if let Some(thread) = lock(&self.checkpointer).take() {
            let _ = thread.join();
        }
    }
}

/// Run one write of a batch in its own savepoint: released when `f` succeeds, rolled back
/// (alone) when it fails or panics.
fn run_in_savepoint<T>(conn: &Connection, f: impl FnOnce(&Transaction) -> Result<T>) -> Ran<T> {
    CHANGED.with(|c| c.borrow_mut().clear());
    QUEUED.with(|q| q.set(false));
    if let Err(e) = conn.execute_batch("SAVEPOINT write") {
        return Ran::Failed(e.into());
    }
    let tx = Transaction { conn };
    let ran = match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| f(&tx))) {
        Ok(Ok(value)) => match conn.execute_batch("RELEASE write") {
            Ok(()) => return Ran::Done(value),
            Err(e) => Ran::Failed(e.into()),
        },
        Ok(Err(e)) => Ran::Failed(e),
        Err(payload) => Ran::Panicked(payload),
    };
    // If even the rollback fails, the transaction is in an unknown state: end it, and the
    // batch with it (the caller sees the connection back in autocommit).
    if !conn.is_autocommit()
        && conn
            .execute_batch("ROLLBACK TO write; RELEASE write")
            .is_err()
    {
        let _ = conn.execute_batch("ROLLBACK");
    }
    ran
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
    if version < 3 {
        migrate_rebuild_step(conn, 3, messages::bodies_per_user)?;
    }
    for (to, step) in ADDING_STEPS {
        if version < to {
            migrate_step(conn, to, step)?;
        }
    }
    Ok(())
}

/// Every body's id, in order: for the migrations that rework each body, one at a time.
fn body_ids(tx: &Transaction) -> Result<Vec<i64>> {
    let mut st = tx.prepare("SELECT id FROM bodies ORDER BY id")?;
    let rows = st.query_map([], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<_>>()?)
}

/// One migration step: its work inside the transaction that also sets user_version.
type MigrationStep = fn(&Transaction) -> Result<()>;

/// The steps from version 4 on, each adding tables or columns of one extension (their blocks at
/// the end of schema.sql), by the version they bring the file to.
const ADDING_STEPS: [(i64, MigrationStep); 8] = [
    (4, urlauth::add_keys_table),
    (5, quota_and_metadata),
    (6, objid::objectid_savedate_preview),
    (7, sortkeys::sort_keys_for_stored_bodies),
    (8, search_index::add_search_index),
    (9, users::add_withheld_capabilities),
    (10, chunks::chunked_bodies_and_message_sizes),
    (11, search_index::add_index_queue),
];
// The last step brings a file to the version this binary writes.
const _: () = assert!(ADDING_STEPS[ADDING_STEPS.len() - 1].0 == SCHEMA_VERSION);

/// Schema 5: QUOTA's table and counters, METADATA's table.
fn quota_and_metadata(tx: &Transaction) -> Result<()> {
    quota::quota_counters(tx)?;
    metadata::metadata_table(tx)
}

/// The part of schema.sql from `start` up to the line `end`: a later version's block, which
/// its migration step runs as it stands there.
fn schema_block(start: &str, end: &str) -> Result<&'static str> {
    let missing = || StoreError::NotAllowed(format!("schema.sql has no block {start:?}…{end:?}"));
    let from = SCHEMA.find(start).ok_or_else(missing)?;
    let len = SCHEMA[from..].find(end).ok_or_else(missing)?;
    Ok(&SCHEMA[from..from + len])
}

/// A step that rebuilds a table other tables refer to (SQLite's "make other kinds of table
/// schema changes" procedure): foreign keys are off while it runs, which SQLite allows only
/// outside a transaction, and checked before the step commits.
fn migrate_rebuild_step(
    conn: &Connection,
    to: i64,
    step: impl FnOnce(&Transaction) -> Result<()>,
) -> Result<()> {
    conn.execute_batch("PRAGMA foreign_keys = OFF")?;
    let result = migrate_step(conn, to, |tx| {
        step(tx)?;
        let broken: Option<String> = tx
            .query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
            .optional()?;
        match broken {
            Some(table) => Err(StoreError::NotAllowed(format!(
                "migration to schema {to} left a broken reference in table {table}"
            ))),
            None => Ok(()),
        }
    });
    conn.execute_batch("PRAGMA foreign_keys = ON")?;
    result
}

/// Run one migration step and record its version, all or nothing.
fn migrate_step(
    conn: &Connection,
    to: i64,
    step: impl FnOnce(&Transaction) -> Result<()>,
) -> Result<()> {
    let tx = conn.unchecked_transaction()?;
    step(&Transaction { conn: &tx })?;
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
        pub store: SqliteStore,
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
        let store = SqliteStore::open(&dir.join("t.db")).unwrap();
        TempDb { dir, store }
    }
}

#[cfg(test)]
/// schema.sql without the blocks later versions added: the tables of schema 3 (with the
/// URLAUTH table, which version 4 creates only if missing). Later blocks go at the end of
/// schema.sql, after QUOTA's.
pub(crate) fn schema_v3() -> String {
    let start = SCHEMA.find("-- QUOTA (RFC 9208)").unwrap();
    SCHEMA[..start].to_string()
}

/// A database as schema 3 left it (`schema_v3()` at user_version 3), in a fresh directory
/// `liteimap-<tag>-<pid>` of the temp dir, filled by `fill`: what the migration tests open.
/// Returns the directory (to remove) and the file.
#[cfg(test)]
pub(crate) fn v3_database(tag: &str, fill: impl FnOnce(&Connection)) -> (PathBuf, PathBuf) {
    old_database(tag, &schema_v3(), 3, fill)
}

/// A database made by `schema` (an older version's part of schema.sql) at user_version
/// `version`, in a fresh directory `liteimap-<tag>-<pid>` of the temp dir, filled by `fill`.
#[cfg(test)]
pub(crate) fn old_database(
    tag: &str,
    schema: &str,
    version: i64,
    fill: impl FnOnce(&Connection),
) -> (PathBuf, PathBuf) {
    let dir = std::env::temp_dir().join(format!("liteimap-{tag}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(format!("v{version}.db"));
    let c = Connection::open(&path).unwrap();
    c.execute_batch(&format!("{schema}; PRAGMA user_version = {version};"))
        .unwrap();
    fill(&c);
    (dir, path)
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
        let err = SqliteStore::open(&t.dir.join("t.db")).err().unwrap();
        assert!(matches!(err, StoreError::TooNew { found: 99, .. }), "{err}");
    }

    #[test]
    fn refuses_foreign_files() {
        let t = temp_store();
        let junk = t.dir.join("junk.db");
        std::fs::write(&junk, vec![b'x'; 4096]).unwrap();
        let err = SqliteStore::open(&junk).err().unwrap();
        assert!(matches!(err, StoreError::NotLiteimap(_)), "{err}");

        let other = t.dir.join("other.db");
        let c = Connection::open(&other).unwrap();
        c.execute_batch("CREATE TABLE t(x)").unwrap();
        drop(c);
        let err = SqliteStore::open(&other).err().unwrap();
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
            c.execute_batch(&format!("{}; PRAGMA user_version = 1;", schema_v3()))
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
        let store = SqliteStore::open(&path).unwrap();
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
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.integrity_check().unwrap(), "ok");
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A database that cannot grow (SQLite's max_page_count: the same SQLITE_FULL as a full
    /// disk): the APPEND that does not fit fails as `Full` and leaves nothing behind, every
    /// APPEND before it is intact, reading and SELECT go on, and writes work again once there
    /// is room.
    #[test]
    fn a_full_database_refuses_writes_and_loses_nothing() {
        let t = temp_store();
        let user = t.store.create_user("u", "x").unwrap();
        let inbox = t.store.mailbox(user, INBOX).unwrap().unwrap().id;
        let pages: i64 = t
            .store
            .read(|c| Ok(c.query_row("PRAGMA page_count", [], |r| r.get(0))?))
            .unwrap();
        let limit = |n: i64| {
            let w = lock(&t.store.writer);
            w.conn.pragma_update(None, "max_page_count", n).unwrap();
        };
        limit(pages + 40);
        let msg = |i: usize| {
            let raw = format!("Subject: {i}\r\n\r\n{}\r\n", "x".repeat(20_000)).into_bytes();
            crate::message::prepare(raw, Vec::new(), None)
        };
        let mut stored = Vec::new();
        let err = loop {
            assert!(stored.len() < 100, "the size limit never took effect");
            match t.store.append(inbox, &[msg(stored.len())]) {
                Ok(a) => stored.push(a[0].uid),
                Err(e) => break e,
            }
        };
        assert!(matches!(err, StoreError::Full), "{err}");
        assert!(!stored.is_empty());
        let snapshot = t.store.select(inbox, true).unwrap();
        assert_eq!(snapshot.uids, stored);
        for (i, m) in t.store.messages(inbox, &stored).unwrap().iter().enumerate() {
            let raw = t.store.raw(m.body_id).unwrap();
            assert!(raw.starts_with(format!("Subject: {i}\r\n").as_bytes()));
        }
        assert_eq!(t.store.integrity_check().unwrap(), "ok");
        limit(pages + 1000);
        t.store.append(inbox, &[msg(stored.len())]).unwrap();
        assert_eq!(
            t.store.counts(inbox).unwrap().messages as usize,
            stored.len() + 1
        );
    }

    /// A database as liteimap with schema 3 wrote it (no URLAUTH keys): version 4 adds the
    /// key table, the folders stay, and keys can be made and reset afterwards.
    #[test]
    fn migrates_a_version_3_database_to_withheld_capabilities() {
        let (dir, path) = v3_database("v3-withheld", |c| {
            c.execute_batch(
                "INSERT INTO users (id, name, password_hash, created) VALUES
                   (1, 'a', 'x', 0), (2, 'b', 'y', 0);",
            )
            .unwrap();
        });
        let store = SqliteStore::open(&path).unwrap();
        let version: i64 = store
            .read(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        // Nothing is withheld from the users that were there.
        assert!(store.withheld_capabilities(UserId(1)).unwrap().is_empty());
        assert!(store.all_withheld_capabilities().unwrap().is_empty());
        store.set_capability_withheld("a", "UIDONLY", true).unwrap();
        store.set_capability_withheld("a", "UIDONLY", true).unwrap();
        assert_eq!(
            store.withheld_capabilities(UserId(1)).unwrap(),
            vec!["UIDONLY".to_string()]
        );
        assert!(store.withheld_capabilities(UserId(2)).unwrap().is_empty());
        assert_eq!(
            store.all_withheld_capabilities().unwrap(),
            vec![("a".to_string(), "UIDONLY".to_string())]
        );
        assert!(matches!(
            store.set_capability_withheld("nobody", "UIDONLY", true),
            Err(StoreError::NotFound(_))
        ));
        store
            .set_capability_withheld("a", "UIDONLY", false)
            .unwrap();
        assert!(store.withheld_capabilities(UserId(1)).unwrap().is_empty());
        // The setting goes with its user.
        store.set_capability_withheld("b", "UIDONLY", true).unwrap();
        store.remove_user("b").unwrap();
        assert!(store.all_withheld_capabilities().unwrap().is_empty());
        assert_eq!(store.integrity_check().unwrap(), "ok");
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn migrates_a_version_3_database_to_urlauth_keys() {
        let (dir, path) = v3_database("v3-urlauth", |c| {
            c.execute_batch(
                "DROP TABLE urlauth_keys;
                 INSERT INTO users (id, name, password_hash, created) VALUES (1, 'a', 'x', 0);
                 INSERT INTO mailboxes (id, user_id, name, uidvalidity, uidnext) VALUES
                   (1, 1, 'INBOX', 7, 3), (2, 1, 'Archive', 8, 1);",
            )
            .unwrap();
        });
        let store = SqliteStore::open(&path).unwrap();
        let version: i64 = store
            .read(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let user = UserId(1);
        let (mb, key) = store.urlauth_key(user, "INBOX", false).unwrap().unwrap();
        assert_eq!((mb.uidvalidity, mb.uidnext, key), (7, 3, None));
        let (_, key) = store.urlauth_key(user, "INBOX", true).unwrap().unwrap();
        let key = key.unwrap();
        assert_eq!(key.len(), urlauth::KEY_LEN);
        // The same key until RESETKEY; another folder's is another.
        let (_, again) = store.urlauth_key(user, "INBOX", true).unwrap().unwrap();
        assert_eq!(again.as_ref(), Some(&key));
        let (_, other) = store.urlauth_key(user, "Archive", true).unwrap().unwrap();
        assert_ne!(other.as_ref(), Some(&key));
        let inbox = store.mailbox(user, "INBOX").unwrap().unwrap().id;
        assert_eq!(
            store.reset_urlauth_keys(user, Some("INBOX")).unwrap(),
            Some(vec![inbox])
        );
        assert_eq!(
            store.urlauth_key(user, "INBOX", false).unwrap().unwrap().1,
            None
        );
        assert!(store
            .urlauth_key(user, "Archive", false)
            .unwrap()
            .unwrap()
            .1
            .is_some());
        assert_eq!(store.reset_urlauth_keys(user, Some("Nope")).unwrap(), None);
        let all = store.reset_urlauth_keys(user, None).unwrap().unwrap();
        assert!(all.contains(&inbox) && all.len() >= 2, "{all:?}");
        assert_eq!(
            store
                .urlauth_key(user, "Archive", false)
                .unwrap()
                .unwrap()
                .1,
            None
        );
        assert!(store.urlauth_key(user, "Nope", true).unwrap().is_none());
        assert_eq!(store.integrity_check().unwrap(), "ok");
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A database as liteimap with schema 3 wrote it (no quota or metadata table): the migration counts
    /// every user's messages and octets (a body two copies share counts twice, as RFC822.SIZE
    /// does), and from then on the counters follow every write.
    #[test]
    fn migrates_a_version_3_database_to_quota_counters() {
        let (dir, path) = v3_database("v3-quota", |c| {
            assert!(!schema_v3().contains("quota ("));
            c.execute_batch(
                "INSERT INTO users (id, name, password_hash, created) VALUES
                   (1, 'a', 'x', 0), (2, 'b', 'x', 0), (3, 'empty', 'x', 0);
                 INSERT INTO mailboxes (id, user_id, name, uidvalidity, uidnext) VALUES
                   (1, 1, 'INBOX', 1, 3), (2, 1, 'Archive', 2, 2), (3, 2, 'INBOX', 3, 2),
                   (4, 3, 'INBOX', 4, 1);
                 INSERT INTO bodies (id, user_id, hash, size, parsed, raw) VALUES
                   (10, 1, x'01', 100, x'', x''), (11, 1, x'02', 40, x'', x''),
                   (12, 2, x'03', 7, x'', x'');
                 INSERT INTO messages (id, mailbox_id, uid, body_id, internal_date, modseq) VALUES
                   (1, 1, 1, 10, 0, 1), (2, 1, 2, 11, 0, 1), (3, 2, 1, 10, 0, 1),
                   (4, 3, 1, 12, 0, 1);",
            )
            .unwrap();
        });
        let store = SqliteStore::open(&path).unwrap();
        let version: i64 = store
            .read(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let usage = |id: i64| {
            let q = store.quota(UserId(id)).unwrap();
            assert_eq!(q.limits, QuotaLimits::default());
            (q.usage.storage, q.usage.messages, q.usage.mailboxes)
        };
        assert_eq!(usage(1), (240, 3, 2));
        assert_eq!(usage(2), (7, 1, 1));
        assert_eq!(usage(3), (0, 0, 1));
        // The triggers are in place: an append and an expunge move the counters.
        let raw = b"Subject: x\r\n\r\nhello\r\n".to_vec();
        let n = raw.len() as u64;
        store
            .append(
                MailboxId(3),
                &[crate::message::prepare(raw, Vec::new(), None)],
            )
            .unwrap();
        assert_eq!(usage(2), (7 + n, 2, 1));
        store
            .store_flags(MailboxId(1), &[1], FlagOp::Add, &["\\Deleted".to_string()])
            .unwrap();
        store.expunge(MailboxId(1), Some(&[1])).unwrap();
        assert_eq!(usage(1), (140, 2, 2));
        // A user created after the migration has its row.
        let new = store.create_user("new", "x").unwrap();
        assert_eq!(store.quota(new).unwrap().usage.messages, 0);
        // The metadata table is there, empty.
        store
            .set_metadata(
                UserId(1),
                Some("INBOX"),
                &[("/private/x".into(), Some(b"1".to_vec()))],
            )
            .unwrap();
        assert_eq!(
            store
                .metadata(
                    UserId(1),
                    Some("INBOX"),
                    &["/private/x".into()],
                    MetadataDepth::Zero
                )
                .unwrap(),
            [("/private/x".to_string(), Some(b"1".to_vec()))]
        );
        assert_eq!(store.integrity_check().unwrap(), "ok");
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A database as liteimap with schema 2 wrote it, where bodies were deduplicated across
    /// users: a body held by three users (twice by the first), one held by one user, and one
    /// no message uses.
    #[test]
    fn migrates_a_version_2_database_to_per_user_bodies() {
        let dir = std::env::temp_dir().join(format!("liteimap-v2-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("v2.db");
        {
            let c = Connection::open(&path).unwrap();
            // Schema 2 is schema.sql with the bodies table as it was then.
            c.execute_batch(&format!(
                "{};
                 DROP TABLE bodies;
                 CREATE TABLE bodies (
                     id     INTEGER PRIMARY KEY,
                     hash   BLOB    NOT NULL UNIQUE,
                     size   INTEGER NOT NULL,
                     parsed BLOB    NOT NULL,
                     raw    BLOB    NOT NULL
                 );
                 PRAGMA user_version = 2;",
                schema_v3()
            ))
            .unwrap();
            c.execute_batch(
                "INSERT INTO users (id, name, password_hash, created) VALUES
                   (1, 'a', 'x', 0), (2, 'b', 'x', 0), (3, 'c', 'x', 0);
                 INSERT INTO mailboxes (id, user_id, name, uidvalidity, uidnext) VALUES
                   (1, 1, 'INBOX', 1, 3), (2, 1, 'Archive', 2, 2), (3, 2, 'INBOX', 3, 3),
                   (4, 3, 'INBOX', 4, 2);
                 INSERT INTO bodies (id, hash, size, parsed, raw) VALUES
                   (10, x'01', 6, x'aa', CAST('shared' AS BLOB)),
                   (11, x'02', 4, x'bb', CAST('mine' AS BLOB)),
                   (12, x'03', 6, x'cc', CAST('orphan' AS BLOB));
                 INSERT INTO messages (id, mailbox_id, uid, body_id, internal_date, modseq) VALUES
                   (1, 1, 1, 10, 0, 1), (2, 1, 2, 11, 0, 1), (3, 2, 1, 10, 0, 1),
                   (4, 3, 1, 10, 0, 1), (5, 3, 2, 11, 0, 1), (6, 4, 1, 10, 0, 1);
                 INSERT INTO flags (message_id, flag) VALUES (4, '\\Seen');",
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        // (message, user, raw, hash, parsed)
        type Row = (i64, i64, String, Vec<u8>, Vec<u8>);
        let q = |sql: &str| -> Vec<Row> {
            store
                .read(|c| {
                    let mut st = c.prepare(sql)?;
                    let rows = st.query_map([], |r| {
                        Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
                    })?;
                    Ok(rows.collect::<rusqlite::Result<_>>()?)
                })
                .unwrap()
        };
        // (message, user, raw, hash, parsed): every message has its own user's body, with the
        // same bytes, hash and cached parse as before.
        let rows = q(
            "SELECT m.id, b.user_id,
                    CAST((SELECT data FROM body_chunks WHERE body_id = b.id) AS TEXT), b.hash, b.parsed
                      FROM messages m JOIN bodies b ON b.id = m.body_id
                      JOIN mailboxes mb ON mb.id = m.mailbox_id
                      WHERE b.user_id = mb.user_id ORDER BY m.id",
        );
        let shared = (b"\x01".to_vec(), b"\xaa".to_vec());
        let mine = (b"\x02".to_vec(), b"\xbb".to_vec());
        let row = |m: i64, u: i64, raw: &str, (h, p): &(Vec<u8>, Vec<u8>)| {
            (m, u, raw.to_string(), h.clone(), p.clone())
        };
        assert_eq!(
            rows,
            vec![
                row(1, 1, "shared", &shared),
                row(2, 1, "mine", &mine),
                row(3, 1, "shared", &shared),
                row(4, 2, "shared", &shared),
                row(5, 2, "mine", &mine),
                row(6, 3, "shared", &shared),
            ]
        );
        let body_of = |m: i64| -> i64 {
            store
                .read(|c| {
                    Ok(
                        c.query_row("SELECT body_id FROM messages WHERE id = ?1", [m], |r| {
                            r.get(0)
                        })?,
                    )
                })
                .unwrap()
        };
        // The first holder keeps the row (and within a user the body stays shared); the others
        // got copies; the unused body is gone.
        assert_eq!((body_of(1), body_of(3)), (10, 10));
        assert_eq!(body_of(2), 11);
        assert_ne!(body_of(4), body_of(6));
        assert_ne!(body_of(5), 11);
        let bodies: i64 = store
            .read(|c| Ok(c.query_row("SELECT count(*) FROM bodies", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(bodies, 5);
        let version: i64 = store
            .read(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let fk: Option<String> = store
            .read(|c| {
                Ok(c.query_row("PRAGMA foreign_key_check", [], |r| r.get(0))
                    .optional()?)
            })
            .unwrap();
        assert_eq!(fk, None);
        assert_eq!(store.integrity_check().unwrap(), "ok");
        // Foreign keys are on again, flags stayed, and removing a user leaves the others' mail.
        let fks: bool = store
            .read(|c| Ok(c.query_row("PRAGMA foreign_keys", [], |r| r.get(0))?))
            .unwrap();
        let fks_writer: bool = lock(&store.writer)
            .conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))
            .unwrap();
        assert!(fks && fks_writer);
        let b = store.find_user("b").unwrap().unwrap();
        let b_inbox = store.mailbox(b.id, INBOX).unwrap().unwrap().id;
        assert_eq!(
            store.messages(b_inbox, &[1]).unwrap()[0].flags,
            vec!["\\Seen"]
        );
        store.remove_user("a").unwrap();
        assert_eq!(store.raw(body_of(4)).unwrap(), b"shared");
        drop(store);
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.integrity_check().unwrap(), "ok");
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A message of 1 MiB (256 pages of the log), the `i`-th of a test.
    fn mib_message(i: usize) -> messages::NewMessage {
        let mut raw = format!("Subject: {i}\r\n\r\n").into_bytes();
        raw.resize(1 << 20, b'a' + i as u8);
        unparsed_message(raw)
    }

    /// A message of `raw` bytes stored without its parse, flags or dates.
    fn unparsed_message(raw: Vec<u8>) -> messages::NewMessage {
        messages::NewMessage {
            raw,
            parsed: Vec::new(),
            flags: Vec::new(),
            internal_date: 0,
            date_offset: 0,
            fields: Default::default(),
            sort: Default::default(),
        }
    }

    /// Group commit: writes queued behind a held writer run as one batch, each in its own
    /// savepoint. The failing one is rolled back alone and gets its own error; its neighbours
    /// commit, in one commit, and the hook hears of every mailbox the batch changed.
    /// Without the checkpointer thread, commits still bound the WAL: once it passes
    /// CHECKPOINT_PAGES a commit checkpoints in line and the log starts over.
    #[test]
    fn commits_bound_the_wal_when_the_checkpointer_is_gone() {
        let t = temp_store();
        *lock(&t.store.checkpoint) = None;
        // No reader beside the writer (the indexer's would hold back the log's restart).
        t.store.pause_search_indexer(true);
        let user = t.store.create_user("w", "x").unwrap();
        let inbox = t.store.mailbox(user, INBOX).unwrap().unwrap().id;
        for i in 0..12 {
            t.store.append(inbox, &[mib_message(i)]).unwrap();
        }
        // 12 MiB written in 12 commits: without a checkpoint the log would hold over 3,000
        // pages of 4 KiB.
        let (busy, log): (i64, i64) = Connection::open(t.dir.join("t.db"))
            .unwrap()
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| {
                Ok((r.get(0)?, r.get(1)?))
            })
            .unwrap();
        assert_eq!(busy, 0);
        assert!(log < 2 * CHECKPOINT_PAGES as i64, "{log} pages in the WAL");
        assert_eq!(t.store.select(inbox, false).unwrap().uids.len(), 12);
    }

    /// A steady stream of commits still starts the WAL over: when the checkpointer has copied
    /// the log back but for frames committed while it ran, the next commit copies those in
    /// line, and the write after it begins at the log's first frame (the file stops growing).
    /// The checkpointer's wake-ups come to the test, which runs its checkpoint.
    #[test]
    fn a_commit_finishes_the_checkpointers_work_and_the_log_starts_over() {
        let t = temp_store();
        let (tx, wakeups) = std::sync::mpsc::sync_channel::<()>(1);
        *lock(&t.store.checkpoint) = Some(tx);
        t.store.pause_search_indexer(true);
        let user = t.store.create_user("w", "x").unwrap();
        let inbox = t.store.mailbox(user, INBOX).unwrap().unwrap().id;
        let mib = mib_message;
        let open = || Connection::open(t.dir.join("t.db")).unwrap();
        // 1 MiB per commit: the fifth passes CHECKPOINT_PAGES and wakes the checkpointer.
        let mut n = 0;
        while wakeups.try_recv().is_err() {
            assert!(n < 8, "no wake-up after {n} MiB");
            t.store.append(inbox, &[mib(n)]).unwrap();
            n += 1;
        }
        // The checkpointer runs while a write is in progress: it copies what was committed
        // before, and the write's frames land behind it.
        let m = mib(n);
        t.store
            .write(|tx| {
                let copied = passive_checkpoint(&open())?;
                assert!(copied >= CHECKPOINT_PAGES, "{copied} frames copied");
                t.store.checkpointed.store(copied, Ordering::Relaxed);
                messages::append(tx, inbox, std::slice::from_ref(&m))
            })
            .unwrap();
        t.store.append(inbox, &[mib(n + 1)]).unwrap();
        let frames: i64 = open()
            .query_row("PRAGMA wal_checkpoint(PASSIVE)", [], |r| r.get(1))
            .unwrap();
        assert!(
            frames < CHECKPOINT_TAIL_PAGES as i64,
            "the log did not start over: {frames} frames"
        );
        assert_eq!(t.store.select(inbox, false).unwrap().uids.len(), n + 2);
        assert_eq!(t.store.integrity_check().unwrap(), "ok");
    }

    #[test]
    fn a_failing_write_in_a_batch_fails_alone() {
        let t = temp_store();
        let store = Arc::new(SqliteStore::open(&t.dir.join("t.db")).unwrap());
        let user = store.create_user("g", "x").unwrap();
        let inbox = store.mailbox(user, INBOX).unwrap().unwrap().id;
        let junk = store.mailbox(user, "Junk").unwrap().unwrap().id;
        let heard = Arc::new(Mutex::new(Vec::new()));
        let h = heard.clone();
        store.set_commit_hook(Box::new(move |changed| {
            lock(&h).push(changed.to_vec());
        }));
        let msg = |text: &str| unparsed_message(text.as_bytes().to_vec());
        let before = store.stats();

        let held = lock(&store.writer);
        let mut threads = Vec::new();
        for (i, mailbox) in [(0, inbox), (1, junk), (2, inbox), (3, junk)] {
            let s = store.clone();
            let m = msg(&format!("Subject: {i}\r\n\r\nbody {i}\r\n"));
            threads.push(std::thread::spawn(move || {
                if i == 2 {
                    // Changes something, then fails: the change must not survive.
                    s.write(|tx| {
                        messages::append(tx, mailbox, std::slice::from_ref(&m))?;
                        Err::<(), _>(StoreError::NotAllowed("refused on purpose".into()))
                    })
                    .map(|_| 0)
                } else {
                    s.append(mailbox, &[m]).map(|a| a[0].uid)
                }
            }));
        }
        // Bounded: the four threads reach the lock within seconds or the test fails.
        let deadline = std::time::Instant::now() + Duration::from_secs(60);
        while store.waiting.load(Ordering::SeqCst) < 4 {
            assert!(std::time::Instant::now() < deadline, "writers never queued");
            std::thread::yield_now();
        }
        drop(held);
        let results: Vec<_> = threads.into_iter().map(|t| t.join().unwrap()).collect();

        assert!(matches!(&results[2], Err(StoreError::NotAllowed(t)) if t == "refused on purpose"));
        let mut uids: Vec<u32> = [0, 1, 3]
            .iter()
            .map(|&i| *results[i].as_ref().unwrap())
            .collect();
        uids.sort_unstable();
        // Inbox got one message (the failed append's UID was rolled back too), Junk two.
        assert_eq!(uids, vec![1, 1, 2]);
        assert_eq!(store.select(inbox, false).unwrap().uids, vec![1]);
        assert_eq!(store.select(junk, false).unwrap().uids, vec![1, 2]);
        let after = store.stats();
        assert_eq!(
            after.commits - before.commits,
            1,
            "one commit for the batch"
        );
        assert_eq!(after.writes - before.writes, 4);
        let mut heard: Vec<MailboxId> = lock(&heard).concat().into_iter().map(|(m, _)| m).collect();
        heard.sort();
        assert_eq!(heard, vec![inbox.min(junk), inbox.max(junk)]);
    }

    /// A write that panics is rolled back like a failing one; the store stays usable.
    #[test]
    fn a_panicking_write_is_rolled_back() {
        let t = temp_store();
        let user = t.store.create_user("p", "x").unwrap();
        let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            t.store.write(|tx| {
                tx.execute("UPDATE users SET name = 'changed' WHERE id = ?1", [user.0])?;
                if user.0 > 0 {
                    panic!("on purpose");
                }
                Ok(())
            })
        }));
        assert!(panicked.is_err());
        assert!(t.store.find_user("p").unwrap().is_some());
        t.store.create_user("q", "x").unwrap();
        assert!(t.store.find_user("changed").unwrap().is_none());
    }

    /// Schema 4 (OBJECTID, SAVEDATE, PREVIEW) on a database as schema 3 wrote it: every body
    /// gets an EMAILID, every message its internal date as save date; threads and previews of
    /// the old messages stay empty; new messages get all of them.
    #[test]
    fn migrates_a_version_3_database_to_object_ids() {
        let (dir, path) = v3_database("v3-objid", |c| {
            c.execute_batch(
                "INSERT INTO users (id, name, password_hash, created) VALUES (1, 'a', 'x', 0);
                 INSERT INTO mailboxes (id, user_id, name, uidvalidity, uidnext) VALUES
                   (1, 1, 'INBOX', 1, 3);
                 INSERT INTO bodies (id, user_id, hash, size, parsed, raw) VALUES
                   (10, 1, x'01', 4, x'', CAST('Message-ID: <old@x>

old' AS BLOB)),
                   (11, 1, x'02', 4, x'', CAST('mine' AS BLOB));
                 INSERT INTO messages (id, mailbox_id, uid, body_id, internal_date, modseq) VALUES
                   (1, 1, 1, 10, 1000000000, 1), (2, 1, 2, 11, 1100000000, 1);",
            )
            .unwrap();
        });
        let store = SqliteStore::open(&path).unwrap();
        let version: i64 = store
            .read(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let inbox = MailboxId(1);
        let old = store.object_fields(inbox, &[1, 2]).unwrap();
        assert_eq!(old.len(), 2);
        assert_eq!(old[0].save_date, Some(1000000000));
        assert_eq!(old[1].save_date, Some(1100000000));
        let (e0, e1) = (
            old[0].email_id.clone().unwrap(),
            old[1].email_id.clone().unwrap(),
        );
        assert!(e0.starts_with('M') && e0.len() == 25, "{e0}");
        assert_ne!(e0, e1);
        assert_eq!(
            (old[0].thread_id.as_ref(), old[0].preview.as_ref()),
            (None, None)
        );
        // A reply to a migrated message starts its own thread (the old one has none).
        let reply = crate::message::prepare(
            b"Message-ID: <new@x>
In-Reply-To: <old@x>

hello"
                .to_vec(),
            Vec::new(),
            None,
        );
        store.append(inbox, &[reply]).unwrap();
        let new = store.object_fields(inbox, &[3]).unwrap();
        assert!(new[0]
            .thread_id
            .as_ref()
            .is_some_and(|t| t.starts_with('T')));
        assert_eq!(new[0].preview.as_deref(), Some("hello"));
        assert!(new[0].save_date.unwrap() > 1100000000);
        assert_ne!(new[0].thread_id, old[0].email_id);
        assert_eq!(
            store
                .mailbox_object_id(&store.mailbox_by_id(inbox).unwrap())
                .unwrap(),
            store
                .mailbox_object_id(&store.mailbox_by_id(inbox).unwrap())
                .unwrap()
        );
        drop(store);
        // Reopening keeps the ids (the key is in the file).
        let store = SqliteStore::open(&path).unwrap();
        assert_eq!(
            store.object_fields(inbox, &[1]).unwrap()[0]
                .email_id
                .as_deref(),
            Some(e0.as_str())
        );
        assert_eq!(store.integrity_check().unwrap(), "ok");
        drop(store);
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn reopen_keeps_schema() {
        let t = temp_store();
        let s = SqliteStore::open(&t.dir.join("t.db")).unwrap();
        assert_eq!(s.integrity_check().unwrap(), "ok");
    }
}
