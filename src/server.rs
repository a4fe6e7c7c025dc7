//! Accept loops, the connection limit, graceful shutdown and spawning sessions.

use std::future::Future;
use std::net::SocketAddr;
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
use imap_codec::imap_types::response::Capability;

use crate::dbpool::DbPool;
use crate::imap::conn::{Conn, Limits, Stream};
use crate::imap::session::{Session, Start};
use crate::imap::state::State;
use crate::notify::Notifier;
use crate::store::Store;

/// Database worker threads: enough to keep both SQLite's writer and several readers busy,
/// few enough that a burst of clients cannot multiply connections and memory.
const DB_WORKERS: usize = 8;

/// How often the database is checked for commits by other processes.
const WATCH_INTERVAL: Duration = Duration::from_millis(250);

#[derive(Clone, Debug)]
pub struct Config {
    pub limits: Limits,
    /// A connection that has not logged in within this time is closed.
    pub login_timeout: Duration,
    /// An authenticated connection silent for this long is closed.
    pub idle_timeout: Duration,
    pub max_connections: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            limits: Limits::default(),
            login_timeout: Duration::from_secs(60),
            idle_timeout: Duration::from_secs(30 * 60),
            max_connections: 1000,
        }
    }
}

/// What every session shares.
pub struct Context {
    pub store: Arc<Store>,
    /// Where sessions run their store calls.
    pub db: DbPool,
    pub config: Config,
    pub notifier: Arc<Notifier>,
    shutdown_rx: Receiver<()>,
    shutdown_tx: Mutex<Option<Sender<()>>>,
    session_ids: AtomicU64,
    active: AtomicUsize,
}

impl Context {
    pub fn new(store: Arc<Store>, config: Config) -> Arc<Self> {
        let (tx, rx) = async_std::channel::bounded(1);
        let notifier = Arc::new(Notifier::default());
        let hub = notifier.clone();
        store.set_commit_hook(Box::new(move |changed| {
            for m in changed {
                hub.publish(*m);
            }
        }));
        let db = DbPool::new(store.clone(), DB_WORKERS);
        Arc::new(Context {
            db,
            store,
            config,
            notifier,
            shutdown_rx: rx,
            shutdown_tx: Mutex::new(Some(tx)),
            session_ids: AtomicU64::new(1),
            active: AtomicUsize::new(0),
        })
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

    /// CAPABILITY for a state: what we advertise is exactly what works.
    pub fn capabilities(&self, state: &State, _secure: bool) -> Vec1<Capability<'static>> {
        let mut caps = vec![Capability::Imap4Rev1];
        match state {
            State::NotAuthenticated => {
                caps.push(Capability::SaslIr);
                caps.push(Capability::Auth(AuthMechanism::Plain));
                caps.push(Capability::Auth(AuthMechanism::Login));
            }
            _ => {
                caps.push(Capability::Idle);
                caps.push(Capability::Unselect);
                caps.push(Capability::UidPlus);
            }
        }
        Vec1::unvalidated(caps)
    }
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

/// Run one session on `stream` in its own task.
pub fn spawn_session(
    ctx: Arc<Context>,
    stream: Box<dyn Stream>,
    peer: String,
    secure: bool,
    start: Start,
) {
    ctx.active.fetch_add(1, Ordering::SeqCst);
    let guard = ActiveGuard(ctx.clone());
    async_std::task::spawn(async move {
        let _guard = guard;
        let timeout = ctx.config.login_timeout;
        let conn = Conn::new(stream, ctx.config.limits.clone(), timeout);
        let session = Session::new(conn, ctx.clone(), peer.clone(), secure);
        let id = session.id;
        log::info!("session {id} ({peer}): connected");
        match CatchUnwind(Box::pin(session.run(start))).await {
            Ok(()) => log::info!("session {id} ({peer}): disconnected"),
            Err(panic) => log::error!(
                "session {id} ({peer}): internal error (panic): {panic}; connection closed"
            ),
        }
    });
}

/// Pending connections the kernel queues before we accept them. std's fixed 128 overflows when
/// a thousand clients reconnect at once (after a restart, a network blip), and the overflow
/// costs them seconds of SYN back-off.
const LISTEN_BACKLOG: i32 = 1024;

fn listen(addr: SocketAddr) -> std::io::Result<TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.bind(&addr.into())?;
    socket.listen(LISTEN_BACKLOG)?;
    socket.set_nonblocking(true)?;
    let std_listener: std::net::TcpListener = socket.into();
    Ok(TcpListener::from(std_listener))
}

/// Bind every address, failing with one clear line for the first that cannot be bound.
pub async fn bind_all(addrs: &[String]) -> Result<Vec<TcpListener>, String> {
    let mut out = Vec::new();
    for a in addrs {
        let addr: SocketAddr = a.parse().map_err(|_| {
            format!("invalid listen address {a:?} (expected IP:PORT, e.g. 127.0.0.1:1143)")
        })?;
        let l = listen(addr).map_err(|e| format!("cannot listen on {addr}: {e}"))?;
        if !addr.ip().is_loopback() {
            log::warn!("listening on {addr} without TLS: passwords cross the network in the clear");
        }
        out.push(l);
    }
    Ok(out)
}

/// Accept on every listener until shutdown, then wait (briefly) for the sessions to say BYE.
pub async fn serve(ctx: Arc<Context>, listeners: Vec<TcpListener>) {
    ctx.watch_other_processes();
    let mut tasks = Vec::new();
    for listener in listeners {
        let ctx = ctx.clone();
        tasks.push(async_std::task::spawn(accept_loop(ctx, listener)));
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

async fn accept_loop(ctx: Arc<Context>, listener: TcpListener) {
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
        let peer_s = peer.to_string();
        if ctx.active_connections() >= ctx.config.max_connections {
            log::warn!(
                "refusing {peer_s}: {} connections already open",
                ctx.config.max_connections
            );
            refuse(ctx.clone(), stream, peer_s);
            continue;
        }
        let secure = false;
        spawn_session(ctx.clone(), Box::new(stream), peer_s, secure, Start::Login);
    }
}

/// Greet with BYE and close, without counting against the limit.
fn refuse(ctx: Arc<Context>, stream: TcpStream, peer: String) {
    async_std::task::spawn(async move {
        let conn = Conn::new(
            Box::new(stream),
            ctx.config.limits.clone(),
            Duration::from_secs(5),
        );
        let why = format!(
            "Too many connections (limit {}); try again later",
            ctx.config.max_connections
        );
        let s = Session::new(conn, ctx.clone(), peer, false);
        s.run(Start::Refuse(why)).await;
    });
}
