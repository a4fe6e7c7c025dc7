//! Accept loops, the connection limit, graceful shutdown and spawning sessions.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use async_std::channel::{Receiver, Sender};
use async_std::net::{TcpListener, TcpStream};
use async_std::prelude::FutureExt as _;
use imap_codec::imap_types::auth::AuthMechanism;
use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::extensions::utf8::Utf8Kind;
use imap_codec::imap_types::response::Capability;

use crate::dbpool::DbPool;
use crate::imap::budget::ByteBudget;
use crate::imap::conn::{Conn, Limits, Stream};
use crate::imap::session::{Session, Start};
use crate::imap::state::State;
use crate::notify::Notifier;
use crate::prelogin::{PreLogin, RefusalLog, Refused};
use crate::store::Store;
use crate::throttle::LoginThrottle;
use crate::tls::Tls;

/// Database worker threads: enough to keep both SQLite's writer and several readers busy, and
/// to let one group commit carry many writes (each waits on its thread for the commit), few
/// enough that a burst of clients cannot multiply connections and memory.
const DB_WORKERS: usize = 16;

/// How often the database is checked for commits by other processes.
const WATCH_INTERVAL: Duration = Duration::from_millis(250);

#[derive(Clone, Debug)]
pub struct Config {
    pub limits: Limits,
    /// A connection that has not logged in within this time is closed.
    pub login_timeout: Duration,
    /// Bytes the literals of all logged-in sessions may hold together (`ByteBudget`).
    pub literal_memory: usize,
    /// Bytes the commands of all connections that have not logged in may hold together.
    pub pre_auth_memory: usize,
    /// An authenticated connection silent for this long is closed.
    pub idle_timeout: Duration,
    pub max_connections: usize,
    /// Connections that have not logged in (their share of `max_connections`); None: half
    /// of it.
    pub max_pre_login_connections: Option<usize>,
    /// Connections from one IP address.
    pub max_connections_per_ip: usize,
    /// Logged-in connections of one user from one IP address (Dovecot's
    /// mail_max_userip_connections).
    pub max_user_connections_per_ip: usize,
    /// Failed logins after which a connection is closed.
    pub max_auth_failures: u32,
    /// The first failed login's delay; each further failure (on the connection, or recently
    /// from its IP address or for the same user name) doubles it, up to 16 times this (see
    /// `throttle`).
    pub auth_failure_delay: Duration,
    /// Allow LOGIN/AUTHENTICATE over cleartext from non-loopback addresses even when TLS is
    /// configured.
    pub allow_plaintext: bool,
    /// Treat clients on 127.0.0.0/8 and ::1 as local: plaintext logins allowed. Always true in
    /// the server; tests switch it off to see what a remote client sees.
    pub trust_loopback: bool,
    /// NOTIFY (RFC 5465): more responses than this at one wake-up end NOTIFY with
    /// `* OK [NOTIFICATIONOVERFLOW]` instead of flooding the client.
    pub notify_max_batch: usize,
    /// `serve --trace DIR`: one protocol trace file per session in this directory (and the
    /// traces in memory too).
    pub trace_dir: Option<std::path::PathBuf>,
    /// Keep protocol traces in memory even without `trace_dir` (the developer web page).
    pub trace_in_memory: bool,
    /// `--auto-users` (on in `liteimap dev`): an unknown user is created at its first login
    /// with the password it gave (see `autousers`).
    pub auto_users: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            limits: Limits::default(),
            login_timeout: Duration::from_secs(60),
            literal_memory: 64 * 1024 * 1024,
            pre_auth_memory: 16 * 1024 * 1024,
            idle_timeout: Duration::from_secs(30 * 60),
            max_connections: 1000,
            max_pre_login_connections: None,
            max_connections_per_ip: 100,
            max_user_connections_per_ip: 10,
            max_auth_failures: 5,
            auth_failure_delay: Duration::from_millis(500),
            allow_plaintext: false,
            trust_loopback: true,
            notify_max_batch: 1000,
            trace_dir: None,
            trace_in_memory: false,
            auto_users: false,
        }
    }
}

/// Counts of open connections per key, with guards that give the slot back when dropped.
pub struct Counter<K: std::hash::Hash + Eq + Clone> {
    counts: Mutex<HashMap<K, usize>>,
}

impl<K: std::hash::Hash + Eq + Clone> Default for Counter<K> {
    fn default() -> Self {
        Counter {
            counts: Mutex::new(HashMap::new()),
        }
    }
}

pub struct CountGuard<K: std::hash::Hash + Eq + Clone> {
    counter: Arc<Counter<K>>,
    key: K,
}

impl<K: std::hash::Hash + Eq + Clone> Counter<K> {
    /// Take a slot for `key` unless `limit` are taken.
    pub fn acquire(self: &Arc<Self>, key: K, limit: usize) -> Option<CountGuard<K>> {
        let mut c = self
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let n = c.entry(key.clone()).or_insert(0);
        if *n >= limit {
            return None;
        }
        *n += 1;
        Some(CountGuard {
            counter: self.clone(),
            key,
        })
    }
}

impl<K: std::hash::Hash + Eq + Clone> Drop for CountGuard<K> {
    fn drop(&mut self) {
        let mut c = self
            .counter
            .counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(n) = c.get_mut(&self.key) {
            *n -= 1;
            if *n == 0 {
                c.remove(&self.key);
            }
        }
    }
}

/// What every session shares.
pub struct Context {
    pub store: Arc<Store>,
    /// Where sessions run their store calls.
    pub db: DbPool,
    /// The settings; SIGHUP may replace the limits (see `set_config`), so each use reads the
    /// current ones.
    config: std::sync::RwLock<Arc<Config>>,
    pub notifier: Arc<Notifier>,
    shutdown_rx: Receiver<()>,
    shutdown_tx: Mutex<Option<Sender<()>>>,
    session_ids: AtomicU64,
    active: AtomicUsize,
    /// TLS, when a certificate is configured: implicit-TLS listeners and STARTTLS.
    pub tls: Option<Arc<Tls>>,
    pub per_ip: Arc<Counter<IpAddr>>,
    pub per_user_ip: Arc<Counter<(crate::store::UserId, IpAddr)>>,
    /// Failed logins per address and per target name; an address's attempts take turns.
    pub throttle: Arc<LoginThrottle>,
    /// The memory the literals of logged-in sessions share.
    pub literal_budget: Arc<ByteBudget>,
    /// The memory the commands of connections that have not logged in share.
    pub pre_auth_budget: Arc<ByteBudget>,
    /// The connections that have not logged in.
    pub prelogin: Arc<PreLogin>,
    /// Refused connections, logged as a summary.
    pub refusals: Arc<RefusalLog>,
    /// The SORT/THREAD keys of the folders sessions sort (see `imap::sortcache`).
    pub sort_cache: Arc<crate::imap::sortcache::SortCache>,
    /// Protocol traces of the sessions: None unless `serve --trace DIR` or the developer web
    /// page asks for them (`Config::trace_dir`, `Config::trace_in_memory`).
    pub trace: Option<Arc<crate::trace::TraceHub>>,
    /// Every open session, for `liteimap who` and `kick` (see `admin`).
    pub sessions: Arc<crate::admin::Sessions>,
}

impl Context {
    pub fn new(store: Arc<Store>, config: Config) -> Arc<Self> {
        Self::with_tls(store, config, None)
    }

    pub fn with_tls(store: Arc<Store>, config: Config, tls: Option<Arc<Tls>>) -> Arc<Self> {
        let (tx, rx) = async_std::channel::bounded(1);
        let notifier = Arc::new(Notifier::default());
        let hub = notifier.clone();
        store.set_commit_hook(Box::new(move |changed| {
            // The new modseqs count at once; the wake-ups wait until the committing job has
            // handed its answer back, so the committer's OK is not queued behind thousands of
            // woken idlers (dbpool::after_reply).
            for &(m, modseq) in changed {
                hub.note(m, modseq);
            }
            let hub = hub.clone();
            let changed: Vec<crate::store::MailboxId> = changed.iter().map(|&(m, _)| m).collect();
            crate::dbpool::after_reply(move || {
                for m in changed {
                    hub.wake(m);
                }
            });
        }));
        store.set_timing_hook(Box::new(crate::metrics::store_timing));
        let db = DbPool::new(store.clone(), DB_WORKERS);
        Arc::new(Context {
            db,
            store,
            notifier,
            shutdown_rx: rx,
            shutdown_tx: Mutex::new(Some(tx)),
            session_ids: AtomicU64::new(1),
            active: AtomicUsize::new(0),
            tls,
            per_ip: Arc::default(),
            per_user_ip: Arc::default(),
            throttle: Arc::new(LoginThrottle::new(config.auth_failure_delay)),
            sort_cache: Arc::default(),
            literal_budget: ByteBudget::new(config.literal_memory),
            pre_auth_budget: ByteBudget::new(config.pre_auth_memory),
            prelogin: Arc::default(),
            refusals: Arc::default(),
            trace: (config.trace_in_memory || config.trace_dir.is_some())
                .then(|| Arc::new(crate::trace::TraceHub::new(config.trace_dir.clone()))),
            sessions: Arc::default(),
            config: std::sync::RwLock::new(Arc::new(config)),
        })
    }

    /// The settings now.
    pub fn config(&self) -> Arc<Config> {
        self.config
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Replace the settings (SIGHUP): new connections and commands use them; a connection
    /// keeps the line and literal limits it started with. The memory pools keep their size.
    pub fn set_config(&self, config: Config) {
        self.throttle.set_base(config.auth_failure_delay);
        *self
            .config
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::new(config);
    }

    pub fn next_session_id(&self) -> u64 {
        self.session_ids.fetch_add(1, Ordering::Relaxed)
    }

    /// A receiver whose `recv` fails once shutdown has begun.
    pub fn shutdown_signal(&self) -> Receiver<()> {
        self.shutdown_rx.clone()
    }

    /// Begin shutdown: every session says BYE, listeners stop accepting.
    pub fn shutdown(&self) {
        let tx = self
            .shutdown_tx
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        drop(tx);
    }

    pub fn is_shutting_down(&self) -> bool {
        self.shutdown_rx.is_closed()
    }

    /// Notice commits by other processes on the same database file (an import, `deliver`, a
    /// second server): SQLite's `data_version` changes when another connection commits. We do
    /// not know which mailbox changed, so every waiting session re-checks its own.
    pub fn watch_other_processes(self: &Arc<Self>) {
        // PostgreSQL has no data_version: its backend tells other nodes' commits itself.
        if !self.store.is_sqlite() {
            return;
        }
        let ctx = self.clone();
        async_std::task::spawn(async move {
            let store = ctx.store.clone();
            let mut last = async_std::task::spawn_blocking({
                let s = store.clone();
                move || s.data_version().ok()
            })
            .await;
            while !ctx.is_shutting_down() {
                async_std::task::sleep(WATCH_INTERVAL).await;
                let s = store.clone();
                let now = async_std::task::spawn_blocking(move || s.data_version().ok()).await;
                if now.is_some() && now != last {
                    log::debug!("database changed by another process");
                    ctx.notifier.publish_all();
                    last = now;
                }
            }
        });
    }

    pub fn active_connections(&self) -> usize {
        self.active.load(Ordering::SeqCst)
    }

    /// How many connections may wait to log in at once.
    pub fn pre_login_share(&self) -> usize {
        let config = self.config();
        config
            .max_pre_login_connections
            .unwrap_or(config.max_connections / 2)
            .clamp(1, config.max_connections.max(1))
    }

    /// The time a connection has to log in, counted from its start: shorter while the
    /// pre-login share is nearly full.
    pub fn login_timeout_now(&self) -> Duration {
        let timeout = self.config().login_timeout;
        if self.prelogin.is_busy(self.pre_login_share()) {
            timeout.min(crate::prelogin::BUSY_LOGIN_TIMEOUT)
        } else {
            timeout
        }
    }

    /// CAPABILITY for a state: what we advertise is exactly what works. `login_allowed` is the
    /// plaintext policy's verdict for this connection.
    pub fn capabilities(
        &self,
        state: &State,
        secure: bool,
        login_allowed: bool,
        storage_left: Option<u64>,
        uidonly: bool,
        max_literal: u32,
    ) -> Vec1<Capability<'static>> {
        let mut caps = vec![Capability::Imap4Rev1];
        match state {
            State::NotAuthenticated => {
                if self.tls.is_some() && !secure {
                    caps.push(Capability::StartTls);
                }
                if login_allowed {
                    caps.push(Capability::SaslIr);
                    caps.push(Capability::Auth(AuthMechanism::Plain));
                    caps.push(Capability::Auth(AuthMechanism::Login));
                } else {
                    caps.push(Capability::LoginDisabled);
                }
                // RFC 7888 §4: before login non-synchronising literals are capped (at 4096
                // bytes, within the 8 KiB pre-login literal limit), which is LITERAL-, not
                // LITERAL+ (literals of any size the server takes). LITERAL+ after login is a
                // superset of LITERAL-, so both are never offered together.
                caps.push(Capability::LiteralMinus);
                caps.push(Capability::Id);
                // RFC 9051: offered beside IMAP4rev1; a client turns it on with ENABLE.
                caps.extend(named_capability("IMAP4rev2"));
            }
            _ => {
                caps.push(Capability::Idle);
                caps.push(Capability::Unselect);
                caps.push(Capability::UidPlus);
                caps.push(Capability::Move);
                caps.push(Capability::LiteralPlus);
                // RFC 7889: the largest message APPEND accepts on this connection (less where
                // the storage quota leaves less room).
                let max = u64::from(max_literal);
                let limit = storage_left.map_or(max, |left| max.min(left));
                if let Ok(c) = Capability::try_from(format!("APPENDLIMIT={limit}")) {
                    caps.push(c);
                }
                caps.push(Capability::Namespace);
                caps.push(Capability::Id);
                caps.push(Capability::Enable);
                caps.push(Capability::CondStore);
                caps.push(Capability::QResync);
                for name in [
                    "CHILDREN",
                    "SPECIAL-USE",
                    "CREATE-SPECIAL-USE",
                    "LIST-EXTENDED",
                    "LIST-STATUS",
                    "STATUS=SIZE",
                ] {
                    if let Ok(c) = Capability::try_from(name) {
                        caps.push(c);
                    }
                }
                caps.push(Capability::Within);
                caps.push(Capability::Binary);
                caps.extend(named_capability("ESEARCH"));
                caps.extend(named_capability("SEARCHRES"));
                caps.extend(named_capability("MULTIAPPEND"));
                // RFC 5256 / 5957 / 5255: SORT, THREAD and the collation they compare with.
                caps.extend(named_capability("SORT"));
                caps.extend(named_capability("SORT=DISPLAY"));
                for alg in crate::imap::cmd::sort::ALGORITHMS {
                    caps.extend(Capability::try_from(format!("THREAD={alg}")).ok());
                }
                caps.extend(named_capability("I18NLEVEL=1"));
                caps.extend(named_capability("ESORT"));
                caps.extend(named_capability("PARTIAL"));
                caps.extend(named_capability("IMAP4rev2"));
                caps.push(Capability::Utf8(Utf8Kind::Accept));
                caps.extend(named_capability("NOTIFY"));
                caps.extend(named_capability("CATENATE"));
                caps.extend(named_capability("URLAUTH"));
                caps.extend(named_capability("URLAUTH=BINARY"));
                caps.extend(named_capability("URL-PARTIAL"));
                caps.extend(crate::imap::cmd::quota::capabilities());
                caps.extend(crate::imap::cmd::metadata::capabilities());
                caps.push(crate::imap::cmd::compress::capability());
                // RFC 8474, 8514, 8970, 8437, 8508 (issue 19).
                for name in [
                    "OBJECTID",
                    "SAVEDATE",
                    "PREVIEW",
                    "UNAUTHENTICATE",
                    "REPLACE",
                ] {
                    caps.extend(named_capability(name));
                }
                // RFC 5267 §4: searches kept up to date (issue 18).
                caps.extend(named_capability("CONTEXT=SEARCH"));
                caps.extend(named_capability("CONTEXT=SORT"));
                // RFC 9586, unless withheld from this user (`user set NAME --no-uidonly`).
                if uidonly {
                    caps.extend(named_capability(crate::imap::cmd::uidonly::CAPABILITY));
                }
            }
        }
        Vec1::unvalidated(caps)
    }
}

/// A capability imap-codec has no variant for (only ever called with constants).
fn named_capability(name: &'static str) -> Option<Capability<'static>> {
    imap_codec::imap_types::core::Atom::try_from(name)
        .ok()
        .map(Capability::from)
}

/// Runs a session, turning a panic into a logged error for that connection only.
struct CatchUnwind(Pin<Box<dyn Future<Output = ()> + Send>>);

impl Future for CatchUnwind {
    type Output = Result<(), String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<Self::Output> {
        let inner = self.0.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| inner.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(())) => Poll::Ready(Ok(())),
            Err(payload) => {
                let msg = payload
                    .downcast_ref::<&str>()
                    .map(|s| s.to_string())
                    .or_else(|| payload.downcast_ref::<String>().cloned())
                    .unwrap_or_else(|| "unknown panic".into());
                Poll::Ready(Err(msg))
            }
        }
    }
}

/// Decrements the active-connection count when a session ends, however it ends.
struct ActiveGuard(Arc<Context>);

impl Drop for ActiveGuard {
    fn drop(&mut self) {
        self.0.active.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Run one session in its own task: TLS handshake first for an implicit-TLS listener.
pub fn spawn_session(ctx: Arc<Context>, stream: TcpStream, peer: SocketAddr, implicit_tls: bool) {
    ctx.active.fetch_add(1, Ordering::SeqCst);
    let guard = ActiveGuard(ctx.clone());
    async_std::task::spawn(async move {
        let _guard = guard;
        let ip = peer.ip();
        let limit = ctx.config().max_connections_per_ip;
        let Some(_ip_slot) = ctx.per_ip.acquire(ip, limit) else {
            ctx.refusals.note(Refused::PerAddress, limit);
            let why = format!("Too many connections from your address (limit {limit})");
            let conn = Conn::new(
                Box::new(stream),
                ctx.config().limits.clone(),
                Duration::from_secs(5),
            );
            Session::new(conn, ctx.clone(), peer.to_string(), false)
                .run(Start::Refuse(why))
                .await;
            return;
        };
        // Waiting to log in from now on (the TLS handshake included).
        let slot = ctx.prelogin.register(ip);
        let (stream, secure): (Box<dyn Stream>, bool) = match (&ctx.tls, implicit_tls) {
            (Some(tls), true) => {
                let handshake = tls.acceptor().accept(stream);
                match async_std::future::timeout(TLS_HANDSHAKE_TIMEOUT, handshake).await {
                    Ok(Ok(s)) => (Box::new(s), true),
                    Ok(Err(e)) => {
                        log::info!("{peer}: TLS handshake failed: {e}");
                        return;
                    }
                    Err(_) => {
                        log::info!("{peer}: TLS handshake timed out");
                        return;
                    }
                }
            }
            _ => (Box::new(stream), false),
        };
        let peer = peer.to_string();
        let timeout = ctx.config().login_timeout;
        let mut conn = Conn::new(stream, ctx.config().limits.clone(), timeout);
        conn.set_budgets(ctx.literal_budget.clone(), ctx.pre_auth_budget.clone());
        let mut session = Session::new(conn, ctx.clone(), peer.clone(), secure);
        session.peer_ip = Some(ip);
        session.prelogin = Some(slot);
        let id = session.id;
        log::info!(
            "session {id} ({peer}): connected{}",
            if secure { " (TLS)" } else { "" }
        );
        match CatchUnwind(Box::pin(session.run(Start::Login))).await {
            Ok(()) => log::info!("session {id} ({peer}): disconnected"),
            Err(panic) => log::error!(
                "session {id} ({peer}): internal error (panic): {panic}; connection closed"
            ),
        }
    });
}

/// Time a client has to complete the TLS handshake.
const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

/// Pending connections the kernel queues before we accept them. std's fixed 128 overflows when
/// a thousand clients reconnect at once (after a restart, a network blip), and the overflow
/// costs them seconds of SYN back-off.
const LISTEN_BACKLOG: i32 = 1024;

/// A listening TCP socket on `addr`. An IPv6 socket takes IPv6 only (IPV6_V6ONLY): on a
/// default Linux host (`net.ipv6.bindv6only=0`) `[::]:143` would otherwise claim IPv4 too, and
/// the `0.0.0.0:143` listener beside it would fail with "Address already in use".
pub fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    if addr.is_ipv6() {
        socket.set_only_v6(true)?;
    }
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    socket.set_nonblocking(true)?;
    let std_listener: std::net::TcpListener = socket.into();
    Ok(TcpListener::from(std_listener))
}

/// Bind every address, failing with one clear line for the first that cannot be bound.
/// `protected`: whether passwords on these listeners are protected by TLS (implicit TLS, or
/// STARTTLS required by the plaintext policy); otherwise a non-loopback address is warned of.
pub async fn bind_all(addrs: &[String], protected: bool) -> Result<Vec<TcpListener>, String> {
    let mut out = Vec::new();
    for a in addrs {
        let addr: SocketAddr = a.parse().map_err(|_| {
            format!("invalid listen address {a:?} (expected IP:PORT, e.g. 127.0.0.1:1143)")
        })?;
        let l = listen(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        if !protected && !addr.ip().is_loopback() {
            log::warn!("listening on {addr} without TLS: passwords cross the network in the clear");
        }
        out.push(l);
    }
    Ok(out)
}

/// Accept on every listener until shutdown, then wait (briefly) for the sessions to say BYE.
/// Each listener is plain (STARTTLS offered when TLS is configured) or implicit TLS.
pub async fn serve(ctx: Arc<Context>, listeners: Vec<TcpListener>) {
    serve_with_tls(ctx, listeners, Vec::new()).await
}

pub async fn serve_with_tls(
    ctx: Arc<Context>,
    plain: Vec<TcpListener>,
    implicit_tls: Vec<TcpListener>,
) {
    ctx.watch_other_processes();
    async_std::task::spawn(crate::prelogin::summarise(
        ctx.refusals.clone(),
        ctx.shutdown_signal(),
    ));
    let mut tasks = Vec::new();
    for (listener, tls) in plain
        .into_iter()
        .map(|l| (l, false))
        .chain(implicit_tls.into_iter().map(|l| (l, true)))
    {
        let ctx = ctx.clone();
        tasks.push(async_std::task::spawn(accept_loop(ctx, listener, tls)));
    }
    for t in tasks {
        t.await;
    }
    // Sessions have been told to stop; give them a moment to send BYE and close.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while ctx.active_connections() > 0 && std::time::Instant::now() < deadline {
        async_std::task::sleep(Duration::from_millis(10)).await;
    }
}

async fn accept_loop(ctx: Arc<Context>, listener: TcpListener, implicit_tls: bool) {
    let stop = ctx.shutdown_signal();
    loop {
        let accept = async { Some(listener.accept().await) };
        let shutdown = async {
            let _ = stop.recv().await;
            None
        };
        let (stream, peer) = match accept.race(shutdown).await {
            None => return,
            Some(Ok(pair)) => pair,
            Some(Err(e)) => {
                // Out of file descriptors and the like: back off instead of spinning.
                log::warn!("accept failed: {e}");
                async_std::task::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let _ = stream.set_nodelay(true);
        // Strangers never lock out a newcomer: when their share, or the whole limit, is full,
        // the oldest of the busiest address makes room (see `prelogin`).
        let share = ctx.pre_login_share();
        let full = ctx.active_connections() >= ctx.config().max_connections;
        if full || ctx.prelogin.count() >= share {
            if ctx.prelogin.evict_one() {
                ctx.refusals.note(Refused::Evicted, share);
            } else {
                ctx.refusals
                    .note(Refused::MaxConnections, ctx.config().max_connections);
                refuse(ctx.clone(), stream, peer.to_string());
                continue;
            }
        }
        spawn_session(ctx.clone(), stream, peer, implicit_tls);
    }
}

/// Greet with BYE and close, without counting against the limit.
fn refuse(ctx: Arc<Context>, stream: TcpStream, peer: String) {
    async_std::task::spawn(async move {
        let conn = Conn::new(
            Box::new(stream),
            ctx.config().limits.clone(),
            Duration::from_secs(5),
        );
        let why = format!(
            "Too many connections (limit {}); try again later",
            ctx.config().max_connections
        );
        let s = Session::new(conn, ctx.clone(), peer, false);
        s.run(Start::Refuse(why)).await;
    });
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::PoisonError;

    /// `--listen 0.0.0.0:P --listen [::]:P` (the shipped unit's form) binds both: the IPv6
    /// socket does not claim IPv4's port. Nothing connects; only the binding is tested.
    #[test]
    fn ipv6_wildcard_and_ipv4_wildcard_bind_the_same_port() {
        let v6 = async_std::task::block_on(bind_all(&["[::]:0".to_string()], true));
        let Ok(v6) = v6 else {
            // A host without IPv6 at all has nothing to collide with.
            return;
        };
        let port = v6[0].local_addr().unwrap().port();
        let v4 = async_std::task::block_on(bind_all(&[format!("0.0.0.0:{port}")], true));
        assert!(v4.is_ok(), "{:?}", v4.err());
    }

    #[test]
    fn a_panicking_session_is_caught_and_the_lock_it_held_stays_usable() {
        let shared = Arc::new(Mutex::new(7));
        let held = shared.clone();
        let result = async_std::task::block_on(CatchUnwind(Box::pin(async move {
            let _guard = held.lock().unwrap_or_else(PoisonError::into_inner);
            panic!("session bug");
        })));
        assert_eq!(result, Err("session bug".to_string()));
        // The mutex is poisoned; the server's lock helpers take it anyway, data intact.
        assert!(shared.is_poisoned());
        assert_eq!(*shared.lock().unwrap_or_else(PoisonError::into_inner), 7);
        // A session that does not panic is unaffected.
        let ok = async_std::task::block_on(CatchUnwind(Box::pin(async {})));
        assert_eq!(ok, Ok(()));
    }
}
