//! The PostgreSQL store: the same public API as the SQLite `Store` (same names, same domain
//! types), over a PostgreSQL database that several liteimap processes (nodes) may share.
//!
//! Blocking `postgres` clients only (the crate runs its small runtime inside each client), so
//! this module stays runtime-free like the rest of src/store. A bounded pool of connections;
//! every call runs in one transaction through [`PgStore::read`] or [`PgStore::write`], which
//! retry serialization failures and deadlocks, replace a lost connection, and map the rest
//! to `StoreError`. Across nodes, UIDs and modseqs come from the mailbox row, locked by the
//! writing transaction (`UPDATE mailboxes … RETURNING`), never from memory.
//!
//! Change notification: every write that changes mailboxes NOTIFYs [`CHANNEL`] in its own
//! transaction (so the notification is delivered exactly when the change is visible), with
//! one line per mailbox: `node mailbox modseq`. Once a commit hook is installed, a listener
//! thread with its own connection LISTENs and calls the hook for other nodes' commits; this
//! node's own commits call it directly after COMMIT, like the SQLite store. Notifications
//! sent while the listener is reconnecting are lost, so after a reconnect it calls the hook
//! for every mailbox (with its highest modseq): sessions look for what they missed.

mod mailboxes;
mod messages;
mod rest;
mod scan;
mod statements;
mod transfer;
mod users;

pub(crate) use scan::PgScan;
#[doc(hidden)]
pub use statements::prepared_on_this_thread;
pub(crate) use statements::Cached;

use std::str::FromStr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::{Duration, Instant};

use postgres::error::SqlState;
use postgres::{Client, IsolationLevel, NoTls};

use super::holds::Holds;
use super::{
    lock, CommitHook, MailboxId, MetadataHook, Result, StoreError, StoreStats, Timing, TimingHook,
    SCHEMA_VERSION,
};

/// The PostgreSQL schema, applied to an empty database.
const SCHEMA: &str = include_str!("../../../schema-pg.sql");

/// The notification channel (PostgreSQL scopes channels to the database, so one name serves
/// every database on a server).
pub const CHANNEL: &str = "liteimap_changes";

/// The most connections one store opens (the server's 16 database threads each hold at most
/// one); a call that finds them all busy waits for one.
const POOL: usize = 16;

/// How often a serialization failure or deadlock is retried before the call fails.
const RETRIES: usize = 8;

/// Reconnecting: the waits between attempts (bounded; then the call gets Unavailable).
const BACKOFF: [Duration; 4] = [
    Duration::from_millis(0),
    Duration::from_millis(50),
    Duration::from_millis(200),
    Duration::from_millis(500),
];

/// The `application_name` of the listener's connection (the pool's are `liteimap`).
pub const LISTENER_NAME: &str = "liteimap listener";

/// How long the listener waits for a notification before it looks whether the store is gone.
const LISTEN_POLL: Duration = Duration::from_millis(200);

/// Migration steps: (version reached, step). PostgreSQL databases start at version 10 (the
/// SQLite schema version whose tables schema-pg.sql has), so there are none yet; a step added
/// here keeps the SQLite number when its meaning matches.
type Step = fn(&mut postgres::Transaction<'_>) -> std::result::Result<(), Fail>;
const STEPS: [(i64, Step); 1] = [(11, no_search_queue)];

/// SQLite's version 11 queues bodies for its search indexer; PostgreSQL has no search index
/// (text keys read the messages), so the version only moves, keeping the numbers aligned.
fn no_search_queue(_: &mut postgres::Transaction<'_>) -> std::result::Result<(), Fail> {
    Ok(())
}

/// What a transaction body fails with: a database error (inspected for retry, lost
/// connections, a full disk) or a store error of its own.
pub(crate) enum Fail {
    Pg(postgres::Error),
    Store(StoreError),
}

impl From<postgres::Error> for Fail {
    fn from(e: postgres::Error) -> Self {
        Fail::Pg(e)
    }
}

impl From<StoreError> for Fail {
    fn from(e: StoreError) -> Self {
        Fail::Store(e)
    }
}

pub(crate) type PgResult<T> = std::result::Result<T, Fail>;

/// How one attempt of a transaction went.
enum Attempt<T> {
    Done(T, Vec<(MailboxId, u64)>),
    /// BEGIN failed: nothing ran.
    NotBegun(postgres::Error),
    Failed(Fail),
    /// The connection was lost during COMMIT: the write may or may not have landed.
    InDoubt(postgres::Error),
}

/// Whether the error is one PostgreSQL asks to retry the transaction for.
fn retryable(e: &postgres::Error) -> bool {
    matches!(
        e.code(),
        Some(c) if *c == SqlState::T_R_SERIALIZATION_FAILURE
            || *c == SqlState::T_R_DEADLOCK_DETECTED
            // Two nodes creating the same row at once: the retry sees the winner's row.
            || *c == SqlState::UNIQUE_VIOLATION
    )
}

/// Whether the connection is gone (or the server is shutting down / in recovery).
fn lost(e: &postgres::Error) -> bool {
    let io = std::error::Error::source(e).is_some_and(|s| s.is::<std::io::Error>());
    e.is_closed()
        || io
        || matches!(
            e.code(),
            Some(c) if *c == SqlState::ADMIN_SHUTDOWN
                || *c == SqlState::CRASH_SHUTDOWN
                || *c == SqlState::CANNOT_CONNECT_NOW
                || *c == SqlState::READ_ONLY_SQL_TRANSACTION
        )
}

/// A database error as the store reports it.
fn store_error(e: postgres::Error) -> StoreError {
    if lost(&e) {
        return StoreError::Unavailable(format!("lost the PostgreSQL connection: {e}"));
    }
    match e.code() {
        Some(c) if *c == SqlState::DISK_FULL => StoreError::Full,
        _ => StoreError::Pg(match e.as_db_error() {
            Some(db) => format!("{} ({})", db.message(), db.code().code()),
            None => e.to_string(),
        }),
    }
}

fn into_store(f: Fail) -> StoreError {
    match f {
        Fail::Pg(e) => store_error(e),
        Fail::Store(e) => e,
    }
}

/// What a write body runs on: the transaction, and the mailboxes it changed (with their new
/// highest modseq; `u64::MAX` for a change without one, such as a deletion).
pub(crate) struct Tx<'a, 'c> {
    pub(crate) t: &'a mut postgres::Transaction<'c>,
    changed: Vec<(MailboxId, u64)>,
}

impl<'a, 'c> std::ops::Deref for Tx<'a, 'c> {
    type Target = postgres::Transaction<'c>;
    fn deref(&self) -> &Self::Target {
        self.t
    }
}

impl std::ops::DerefMut for Tx<'_, '_> {
    fn deref_mut(&mut self) -> &mut Self::Target {
        self.t
    }
}

impl Tx<'_, '_> {
    /// Record that this write takes `mailbox` to `modseq`.
    pub(crate) fn changed_at(&mut self, mailbox: MailboxId, modseq: u64) {
        merge(&mut self.changed, mailbox, modseq);
    }

    /// Record a change of `mailbox` that has no modseq (deletion).
    pub(crate) fn changed(&mut self, mailbox: MailboxId) {
        self.changed_at(mailbox, u64::MAX);
    }
}

/// The connections of a store: those idle, and how many are open (idle or in use).
struct Pool {
    idle: Vec<Conn>,
    open: usize,
}

/// A pooled connection and the statements prepared on it.
struct Conn {
    client: Client,
    statements: statements::Statements,
}

impl From<Client> for Conn {
    fn from(client: Client) -> Conn {
        Conn {
            client,
            statements: Default::default(),
        }
    }
}

/// Add a mailbox's change to a list of them (the highest modseq per mailbox).
fn merge(list: &mut Vec<(MailboxId, u64)>, mailbox: MailboxId, modseq: u64) {
    match list.iter_mut().find(|(m, _)| *m == mailbox) {
        Some((_, at)) => *at = (*at).max(modseq),
        None => list.push((mailbox, modseq)),
    }
}

/// A PostgreSQL-backed store. Send + Sync: every method may be called from any thread.
pub struct PgStore {
    config: postgres::Config,
    pool: Mutex<Pool>,
    /// Signalled when a connection is given back or closed.
    freed: Condvar,
    /// This process's name in notifications, so the listener skips its own.
    node: u64,
    on_commit: Arc<OnceLock<CommitHook>>,
    timing: OnceLock<TimingHook>,
    on_metadata: OnceLock<MetadataHook>,
    holds: Arc<Holds>,
    commits: AtomicU64,
    writes: AtomicU64,
    reads: AtomicU64,
    /// Tells the listener thread to end (set when the store is dropped).
    stop: Arc<AtomicBool>,
    listener: Mutex<Option<std::thread::JoinHandle<()>>>,
}

impl PgStore {
    /// Connect to the database `conninfo` names (a libpq URL or key=value string, password
    /// included), create the schema in an empty database or migrate an older one. A database
    /// of a newer schema is refused (`TooNew`); an unreachable server is `Unavailable`.
    pub fn open(conninfo: &str) -> Result<PgStore> {
        let mut config = postgres::Config::from_str(conninfo).map_err(|e| {
            StoreError::Unavailable(format!(
                "cannot parse the PostgreSQL connection string: {e}"
            ))
        })?;
        if config.get_connect_timeout().is_none() {
            config.connect_timeout(Duration::from_secs(10));
        }
        config.application_name("liteimap");
        let mut client = connect(&config)?;
        migrate(&mut client)?;
        let node = u64::from_le_bytes(super::random_bytes()[..8].try_into().unwrap_or([0; 8]));
        Ok(PgStore {
            config,
            pool: Mutex::new(Pool {
                idle: vec![client.into()],
                open: 1,
            }),
            freed: Condvar::new(),
            node,
            on_commit: Arc::default(),
            timing: OnceLock::new(),
            on_metadata: OnceLock::new(),
            holds: Arc::default(),
            commits: AtomicU64::new(0),
            writes: AtomicU64::new(0),
            reads: AtomicU64::new(0),
            stop: Arc::default(),
            listener: Mutex::new(None),
        })
    }

    /// Install the function told about every committed change, this node's and (through
    /// LISTEN) every other node's on the same database. Once only.
    pub fn set_commit_hook(&self, hook: CommitHook) {
        if self.on_commit.set(hook).is_ok() {
            self.start_listener();
        }
    }

    /// Install the function told how long commits take. Once only.
    pub fn set_timing_hook(&self, hook: TimingHook) {
        let _ = self.timing.set(hook);
    }

    /// Commits so far (each carries one write here: PostgreSQL does its own group commit),
    /// and the reads.
    pub fn stats(&self) -> StoreStats {
        StoreStats {
            commits: self.commits.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            reads: self.reads.load(Ordering::Relaxed),
        }
    }

    /// An idle connection, or a new one while fewer than [`POOL`] are open (reconnecting with
    /// bounded backoff), or else the next one given back.
    fn take(&self) -> Result<Conn> {
        let mut pool = lock(&self.pool);
        loop {
            while let Some(c) = pool.idle.pop() {
                if !c.client.is_closed() {
                    return Ok(c);
                }
                pool.open -= 1;
            }
            if pool.open < POOL {
                pool.open += 1;
                break;
            }
            pool = self
                .freed
                .wait(pool)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        drop(pool);
        let made = connect(&self.config);
        if made.is_err() {
            self.closed();
        }
        made.map(Conn::from)
    }

    /// A connection taken is back (or, closed, gone).
    fn give_back(&self, c: Conn) {
        if c.client.is_closed() {
            return self.closed();
        }
        lock(&self.pool).idle.push(c);
        self.freed.notify_one();
    }

    fn closed(&self) {
        lock(&self.pool).open -= 1;
        self.freed.notify_one();
    }

    /// Run `f` in one read-only transaction (one snapshot: REPEATABLE READ).
    pub(crate) fn read<T>(
        &self,
        mut f: impl FnMut(&mut postgres::Transaction<'_>) -> PgResult<T>,
    ) -> Result<T> {
        self.reads.fetch_add(1, Ordering::Relaxed);
        self.run(true, |t| f(t.t))
    }

    /// Run `f` as one write: all of it or nothing, committed before this returns Ok. `f` may
    /// run more than once (a serialization failure or deadlock is retried from the start).
    pub(crate) fn write<T>(&self, f: impl FnMut(&mut Tx<'_, '_>) -> PgResult<T>) -> Result<T> {
        self.run(false, f)
    }

    fn run<T>(
        &self,
        read_only: bool,
        mut f: impl FnMut(&mut Tx<'_, '_>) -> PgResult<T>,
    ) -> Result<T> {
        let mut attempt = 0;
        loop {
            attempt += 1;
            let mut conn = self.take()?;
            let outcome = {
                let _statements = statements::Installed::new(&mut conn.statements);
                self.once(&mut conn.client, read_only, &mut f)
            };
            let dead = match &outcome {
                Attempt::NotBegun(e) | Attempt::Failed(Fail::Pg(e)) => lost(e),
                Attempt::InDoubt(_) => true,
                _ => false,
            };
            if dead {
                // Not back into the pool, even if the client has not noticed yet.
                drop(conn);
                self.closed();
            } else {
                self.give_back(conn);
            }
            match outcome {
                Attempt::Done(v, changed) => {
                    if !read_only {
                        self.commits.fetch_add(1, Ordering::Relaxed);
                        self.writes.fetch_add(1, Ordering::Relaxed);
                        if !changed.is_empty() {
                            if let Some(hook) = self.on_commit.get() {
                                hook(&changed);
                            }
                        }
                    }
                    return Ok(v);
                }
                // Nothing ran yet: a pooled connection that died meanwhile is replaced.
                Attempt::NotBegun(e) if lost(&e) && attempt <= BACKOFF.len() => continue,
                Attempt::NotBegun(e) => return Err(store_error(e)),
                Attempt::Failed(Fail::Pg(e)) if retryable(&e) && attempt < RETRIES => continue,
                Attempt::Failed(e) => return Err(into_store(e)),
                // Not retried: doing it again could do it twice.
                Attempt::InDoubt(e) => return Err(StoreError::InDoubt(e.to_string())),
            }
        }
    }

    /// One attempt of a transaction on `client`: begin, run `f`, NOTIFY, commit.
    fn once<T>(
        &self,
        client: &mut Client,
        read_only: bool,
        f: &mut impl FnMut(&mut Tx<'_, '_>) -> PgResult<T>,
    ) -> Attempt<T> {
        let begun = if read_only {
            client
                .build_transaction()
                .isolation_level(IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
        } else {
            client.transaction()
        };
        let mut t = match begun {
            Ok(t) => t,
            Err(e) => return Attempt::NotBegun(e),
        };
        let mut tx = Tx {
            t: &mut t,
            changed: Vec::new(),
        };
        let ran = f(&mut tx);
        let changed = std::mem::take(&mut tx.changed);
        let v = match ran {
            Ok(v) => v,
            Err(e) => return Attempt::Failed(e),
        };
        if !changed.is_empty() {
            if let Err(e) = notify(&mut t, self.node, &changed) {
                return Attempt::Failed(Fail::Pg(e));
            }
        }
        let started = Instant::now();
        let committed = t.commit();
        if let Some(hook) = self.timing.get().filter(|_| !read_only) {
            hook(Timing::Commit, started.elapsed());
        }
        match committed {
            Ok(()) => Attempt::Done(v, changed),
            // The COMMIT went out (or may have) and no answer came: it may have landed.
            Err(e) if lost(&e) && !read_only => Attempt::InDoubt(e),
            Err(e) => Attempt::Failed(Fail::Pg(e)),
        }
    }

    /// The listener: one thread with its own connection, LISTENing on [`CHANNEL`] and calling
    /// the commit hook for every other node's commit. It reconnects (with backoff) when the
    /// connection is lost, and ends when the store is dropped.
    fn start_listener(&self) {
        let mut config = self.config.clone();
        // Told apart from the pool's connections in pg_stat_activity.
        config.application_name(LISTENER_NAME);
        let hook = self.on_commit.clone();
        let stop = self.stop.clone();
        let node = self.node;
        let thread = std::thread::Builder::new()
            .name("pg-listen".into())
            .spawn(move || listen(config, hook, stop, node));
        match thread {
            Ok(t) => *lock(&self.listener) = Some(t),
            Err(e) => log::error!("cannot start the PostgreSQL listener thread: {e}"),
        }
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(t) = lock(&self.listener).take() {
            let _ = t.join();
        }
    }
}

/// Connect, retrying a refused or failed connection a few times with growing waits.
fn connect(config: &postgres::Config) -> Result<Client> {
    let mut last = None;
    for wait in BACKOFF {
        std::thread::sleep(wait);
        match config.connect(NoTls) {
            Ok(c) => return Ok(c),
            Err(e) if e.as_db_error().is_some() && !lost(&e) => {
                // Authentication failed, no such database, ...: retrying will not help.
                return Err(StoreError::Unavailable(format!(
                    "cannot connect to PostgreSQL: {e}"
                )));
            }
            Err(e) => last = Some(e),
        }
    }
    let hosts: Vec<String> = config
        .get_hosts()
        .iter()
        .map(|h| match h {
            postgres::config::Host::Tcp(name) => name.clone(),
            postgres::config::Host::Unix(path) => path.display().to_string(),
        })
        .collect();
    Err(StoreError::Unavailable(format!(
        "cannot connect to PostgreSQL at {} (port {:?}): {}",
        if hosts.is_empty() {
            "localhost".into()
        } else {
            hosts.join(",")
        },
        config.get_ports(),
        last.map_or_else(|| "no attempt made".into(), |e| e.to_string())
    )))
}

/// Create the schema in an empty database, run the migration steps an older one needs, refuse
/// a newer one or a database that is not liteimap's.
fn migrate(client: &mut Client) -> Result<()> {
    let run = |client: &mut Client| -> PgResult<()> {
        let mut t = client.transaction()?;
        // One node at a time creates or migrates (the others wait here, then see the result).
        t.batch_execute("SELECT pg_advisory_xact_lock(7169001)")?;
        let has_version: bool = t
            .query_one("SELECT to_regclass('schema_version') IS NOT NULL", &[])?
            .try_get(0)?;
        if !has_version {
            let tables: i64 = t
                .query_one(
                    "SELECT count(*) FROM pg_catalog.pg_tables WHERE schemaname = current_schema()",
                    &[],
                )?
                .try_get(0)?;
            if tables > 0 {
                return Err(Fail::Store(StoreError::NotAllowed(
                    "the PostgreSQL database has tables but is not a liteimap database (no schema_version table); give an empty database".into(),
                )));
            }
            t.batch_execute(SCHEMA)?;
            t.execute(
                "INSERT INTO schema_version (version) VALUES ($1)",
                &[&SCHEMA_VERSION],
            )?;
            // The OBJECTID key (as SQLite's objid::ensure_key makes it).
            t.execute(
                "INSERT INTO liteimap_meta (key, value) VALUES ($1, $2)",
                &[&super::objid::KEY, &super::hex(&super::random_bytes())],
            )?;
            return Ok(t.commit()?);
        }
        let version: i64 = t
            .query_opt("SELECT max(version) FROM schema_version", &[])?
            .and_then(|r| r.try_get::<_, Option<i64>>(0).ok().flatten())
            .unwrap_or(0);
        if version > SCHEMA_VERSION {
            return Err(Fail::Store(StoreError::TooNew {
                found: version,
                supported: SCHEMA_VERSION,
            }));
        }
        if version < 10 {
            return Err(Fail::Store(StoreError::NotAllowed(format!(
                "PostgreSQL schema version {version} was never written by liteimap"
            ))));
        }
        for (to, step) in STEPS {
            if version < to {
                step(&mut t)?;
                t.execute("UPDATE schema_version SET version = $1", &[&to])?;
            }
        }
        Ok(t.commit()?)
    };
    run(client).map_err(into_store)
}

/// NOTIFY the other nodes of the mailboxes this transaction changed (delivered at COMMIT).
fn notify(
    t: &mut postgres::Transaction<'_>,
    node: u64,
    changed: &[(MailboxId, u64)],
) -> std::result::Result<(), postgres::Error> {
    let payload: Vec<String> = changed
        .iter()
        .map(|(m, modseq)| format!("{node} {} {modseq}", m.0))
        .collect();
    // A payload is limited to 8000 bytes: send the lines in parts well below it.
    for part in payload.chunks(200) {
        t.execute_c("SELECT pg_notify($1, $2)", &[&CHANNEL, &part.join("\n")])?;
    }
    Ok(())
}

/// Parse a notification's payload into the changes of other nodes.
fn parse_payload(payload: &str, own: u64) -> Vec<(MailboxId, u64)> {
    payload
        .lines()
        .filter_map(|line| {
            let mut it = line.split(' ');
            let node: u64 = it.next()?.parse().ok()?;
            let mailbox: i64 = it.next()?.parse().ok()?;
            let modseq: u64 = it.next()?.parse().ok()?;
            (node != own).then_some((MailboxId(mailbox), modseq))
        })
        .collect()
}

/// The listener's wait after its `failures`-th failure in a row (growing, at most 3.2 s; cut
/// short when the store goes).
fn back_off(failures: &mut u32, stop: &AtomicBool) {
    *failures += 1;
    let wait = Duration::from_millis(100 << (*failures).min(5));
    let until = Instant::now() + wait;
    while Instant::now() < until && !stop.load(Ordering::Relaxed) {
        std::thread::sleep(LISTEN_POLL.min(wait));
    }
}

fn listen(
    config: postgres::Config,
    hook: Arc<OnceLock<CommitHook>>,
    stop: Arc<AtomicBool>,
    node: u64,
) {
    let mut failures = 0u32;
    // Until the first attempt to connect, nobody can have missed a notification.
    let mut first_attempt = true;
    while !stop.load(Ordering::Relaxed) {
        let reconnect = !std::mem::take(&mut first_attempt);
        let mut client = match config.connect(NoTls) {
            Ok(c) => c,
            Err(e) => {
                if failures == 0 {
                    log::warn!("PostgreSQL listener cannot connect: {e}; retrying");
                }
                back_off(&mut failures, &stop);
                continue;
            }
        };
        if let Err(e) = client.batch_execute(&format!("LISTEN {CHANNEL}")) {
            log::warn!("PostgreSQL LISTEN failed: {e}");
            back_off(&mut failures, &stop);
            continue;
        }
        if reconnect {
            // Notifications sent while we were away are lost: every mailbox may have changed.
            if let Some(h) = hook.get() {
                match resync_all(&mut client, h) {
                    Ok(n) => log::info!(
                        "PostgreSQL listener reconnected; told the sessions of {n} mailboxes to look for changes"
                    ),
                    Err(e) => {
                        log::warn!("PostgreSQL listener cannot read the mailboxes: {e}");
                        back_off(&mut failures, &stop);
                        continue;
                    }
                }
            }
        }
        failures = 0;
        loop {
            if stop.load(Ordering::Relaxed) {
                return;
            }
            let mut batch = Vec::new();
            let mut gone = false;
            {
                use postgres::fallible_iterator::FallibleIterator;
                let mut notes = client.notifications();
                // Wait for one (bounded, to notice the store going), then take those already
                // here without waiting: the hook hears a commit as soon as it arrives.
                let first = notes.timeout_iter(LISTEN_POLL).next();
                match first {
                    Ok(Some(n)) => {
                        batch.extend(parse_payload(n.payload(), node));
                        let mut more = notes.iter();
                        loop {
                            match more.next() {
                                Ok(Some(n)) => {
                                    batch.extend(parse_payload(n.payload(), node));
                                    if batch.len() > 1000 {
                                        break;
                                    }
                                }
                                Ok(None) => break,
                                Err(_) => {
                                    gone = true;
                                    break;
                                }
                            }
                        }
                    }
                    Ok(None) => {}
                    Err(_) => gone = true,
                }
            }
            if !batch.is_empty() {
                let mut merged: Vec<(MailboxId, u64)> = Vec::new();
                for (m, modseq) in batch {
                    merge(&mut merged, m, modseq);
                }
                if let Some(h) = hook.get() {
                    h(&merged);
                }
            }
            if gone || client.is_closed() {
                log::warn!("PostgreSQL listener lost its connection; reconnecting");
                break;
            }
        }
    }
}

/// After the listener reconnected: call `hook` for every mailbox with its highest modseq, in
/// batches, as if each had just changed. Sessions whose view is older read the changes they
/// missed; the others find nothing new. LISTEN runs before this read, so a commit after it
/// arrives as a notification. Returns how many mailboxes were told.
fn resync_all(
    client: &mut Client,
    hook: &CommitHook,
) -> std::result::Result<usize, postgres::Error> {
    use postgres::fallible_iterator::FallibleIterator;
    const BATCH: usize = 1000;
    let mut rows = client.query_raw(
        "SELECT id, highest_modseq FROM mailboxes",
        std::iter::empty::<i64>(),
    )?;
    let mut batch = Vec::with_capacity(BATCH);
    let mut told = 0;
    while let Some(r) = rows.next()? {
        let modseq: i64 = r.try_get(1)?;
        batch.push((MailboxId(r.try_get(0)?), u64::try_from(modseq).unwrap_or(0)));
        if batch.len() == BATCH {
            hook(&batch);
            told += batch.len();
            batch.clear();
        }
    }
    if !batch.is_empty() {
        hook(&batch);
        told += batch.len();
    }
    Ok(told)
}

/// Row access that reports a type mismatch as an error rather than a panic.
pub(crate) fn get<'a, T: postgres::types::FromSql<'a>>(
    r: &'a postgres::Row,
    i: usize,
) -> PgResult<T> {
    Ok(r.try_get(i)?)
}

/// A u32 column (UIDs, UIDVALIDITY) stored as BIGINT.
pub(crate) fn get_u32(r: &postgres::Row, i: usize) -> PgResult<u32> {
    let v: i64 = r.try_get(i)?;
    u32::try_from(v).map_err(|_| {
        Fail::Store(StoreError::NotAllowed(format!(
            "value {v} out of range in the database"
        )))
    })
}

/// A u64 column (modseqs, counts) stored as BIGINT.
pub(crate) fn get_u64(r: &postgres::Row, i: usize) -> PgResult<u64> {
    let v: i64 = r.try_get(i)?;
    Ok(u64::try_from(v).unwrap_or(0))
}

/// A u64 as BIGINT.
pub(crate) fn big(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn payload_skips_own_node_and_bad_lines() {
        let p = "7 12 40\n8 13 41\nnonsense\n8 x 1";
        assert_eq!(parse_payload(p, 7), vec![(MailboxId(13), 41)]);
    }
}
