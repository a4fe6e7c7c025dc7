//! `--metrics-listen ADDR`: OpenMetrics text at `http://ADDR/metrics`.
//!
//! The format is `prometheus-client`'s encoder; HTTP is `tiny_http` on its own thread (it
//! needs no async runtime, so the same server can carry a later JSON API beside /metrics).
//! Counters are bumped where things happen (one call each); gauges that the server already
//! knows (connections, database and WAL size, commits, database jobs) are read at scrape time.

use std::sync::{Arc, LazyLock};
use std::time::Duration;

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::Registry;

use crate::prelogin::Refused;
use crate::server::Context;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ResultLabel {
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DeliveryLabel {
    via: &'static str,
    result: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct DirectionLabel {
    direction: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CommandLabel {
    command: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct StateLabel {
    state: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct ReasonLabel {
    reason: &'static str,
}

type CommandHistograms = Family<CommandLabel, Histogram, fn() -> Histogram>;

struct Metrics {
    registry: Registry,
    logins: Family<ResultLabel, Counter>,
    commands: CommandHistograms,
    deliveries: Family<DeliveryLabel, Counter>,
    bytes: Family<DirectionLabel, Counter>,
    idling: Gauge,
    commit_seconds: Histogram,
    checkpoint_seconds: Histogram,
    rejected: Family<ReasonLabel, Counter>,
    connections: Family<StateLabel, Gauge>,
    database_bytes: Gauge,
    wal_bytes: Gauge,
    search_index_queue: Gauge,
    commits: Counter,
    writes: Counter,
    jobs: Counter,
}

fn command_histogram() -> Histogram {
    // 0.1 ms to ~26 s, ×4 per bucket.
    Histogram::new(exponential_buckets(0.0001, 4.0, 10))
}

static METRICS: LazyLock<Metrics> = LazyLock::new(|| {
    let mut registry = Registry::with_prefix("liteimap");
    let m = Metrics {
        logins: Family::default(),
        commands: Family::new_with_constructor(command_histogram as fn() -> Histogram),
        deliveries: Family::default(),
        bytes: Family::default(),
        idling: Gauge::default(),
        commit_seconds: command_histogram(),
        checkpoint_seconds: command_histogram(),
        rejected: Family::default(),
        connections: Family::default(),
        database_bytes: Gauge::default(),
        wal_bytes: Gauge::default(),
        search_index_queue: Gauge::default(),
        commits: Counter::default(),
        writes: Counter::default(),
        jobs: Counter::default(),
        registry: Registry::default(),
    };
    registry.register(
        "logins",
        "LOGIN and AUTHENTICATE attempts",
        m.logins.clone(),
    );
    registry.register(
        "command_duration_seconds",
        "IMAP commands by name, from reading the command to its tagged answer",
        m.commands.clone(),
    );
    registry.register(
        "deliveries",
        "Messages delivered by LMTP (per recipient) and by liteimap deliver (reported over the admin socket): delivered, refused (no such user or folder, domain, too big) or failed",
        m.deliveries.clone(),
    );
    registry.register(
        "imap_bytes",
        "Bytes of IMAP read from clients (in) and written to them (out), as the protocol sees them (inside TLS, uncompressed under COMPRESS)",
        m.bytes.clone(),
    );
    registry.register(
        "idle_sessions",
        "IMAP sessions in IDLE now",
        m.idling.clone(),
    );
    registry.register(
        "commit_duration_seconds",
        "Database COMMITs: writing the transaction to the WAL and its fsync (synchronous=FULL)",
        m.commit_seconds.clone(),
    );
    registry.register(
        "checkpoint_duration_seconds",
        "WAL checkpoints: copying the log into the database file and its fsync",
        m.checkpoint_seconds.clone(),
    );
    registry.register(
        "rejected_connections",
        "Connections refused or closed by a limit, by reason",
        m.rejected.clone(),
    );
    registry.register(
        "connections",
        "Open IMAP connections by state",
        m.connections.clone(),
    );
    registry.register(
        "database_bytes",
        "Size of the database file",
        m.database_bytes.clone(),
    );
    registry.register(
        "wal_bytes",
        "Size of the database's write-ahead log",
        m.wal_bytes.clone(),
    );
    registry.register(
        "search_index_queue",
        "Stored bodies the search indexer has not reached yet (SEARCH checks them one by one)",
        m.search_index_queue.clone(),
    );
    registry.register(
        "commits",
        "Database commits (each may carry several writes)",
        m.commits.clone(),
    );
    registry.register("writes", "Database writes", m.writes.clone());
    registry.register(
        "database_jobs",
        "Store calls handed from a session to a database thread (one trip there and back each)",
        m.jobs.clone(),
    );
    Metrics { registry, ..m }
});

/// A login attempt's outcome.
pub fn login(ok: bool) {
    METRICS
        .logins
        .get_or_create(&ResultLabel {
            result: if ok { "ok" } else { "failed" },
        })
        .inc();
}

/// A finished IMAP command and how long it took.
pub fn command(name: &str, took: Duration) {
    METRICS
        .commands
        .get_or_create(&CommandLabel {
            command: name.to_ascii_uppercase(),
        })
        .observe(took.as_secs_f64());
}

/// The outcomes a delivery is counted under.
pub const DELIVERY_RESULTS: &[&str] = &["delivered", "refused", "failed"];

/// A delivery's outcome (one of `DELIVERY_RESULTS`) by `via`: "lmtp" (per recipient) or
/// "deliver".
pub fn delivery(via: &'static str, result: &'static str) {
    METRICS
        .deliveries
        .get_or_create(&DeliveryLabel { via, result })
        .inc();
}

/// Bytes read from an IMAP client.
pub fn bytes_in(n: usize) {
    METRICS
        .bytes
        .get_or_create(&DirectionLabel { direction: "in" })
        .inc_by(n as u64);
}

/// Bytes written to an IMAP client.
pub fn bytes_out(n: usize) {
    METRICS
        .bytes
        .get_or_create(&DirectionLabel { direction: "out" })
        .inc_by(n as u64);
}

/// A session in IDLE while this lives.
pub struct Idling(());

pub fn idling() -> Idling {
    METRICS.idling.inc();
    Idling(())
}

impl Drop for Idling {
    fn drop(&mut self) {
        METRICS.idling.dec();
    }
}

/// The store's timings (installed as its timing hook by `server::Context`).
pub fn store_timing(what: crate::store::Timing, took: Duration) {
    let h = match what {
        crate::store::Timing::Commit => &METRICS.commit_seconds,
        crate::store::Timing::Checkpoint => &METRICS.checkpoint_seconds,
    };
    h.observe(took.as_secs_f64());
}

/// A connection refused or closed by a limit.
pub fn rejected(why: Refused) {
    let reason = match why {
        Refused::MaxConnections => "max_connections",
        Refused::PerAddress => "per_address",
        Refused::Evicted => "evicted_pre_login",
    };
    METRICS
        .rejected
        .get_or_create(&ReasonLabel { reason })
        .inc();
}

/// The metrics as OpenMetrics text, with the gauges read from `ctx` now.
pub fn render(ctx: &Context) -> String {
    let m = &*METRICS;
    let active = ctx.active_connections() as i64;
    let waiting = ctx.prelogin.count() as i64;
    m.connections
        .get_or_create(&StateLabel { state: "pre_login" })
        .set(waiting);
    m.connections
        .get_or_create(&StateLabel { state: "logged_in" })
        .set((active - waiting).max(0));
    let size = |p: std::path::PathBuf| std::fs::metadata(p).map_or(0, |m| m.len() as i64);
    // The file sizes of a SQLite database; PostgreSQL's are the server's to report.
    if let Some(db) = ctx.store.path().map(std::path::Path::to_path_buf) {
        let mut wal = db.clone().into_os_string();
        wal.push("-wal");
        m.database_bytes.set(size(db));
        m.wal_bytes.set(size(wal.into()));
    }
    if let Ok(n) = ctx.store.search_index_queue() {
        m.search_index_queue.set(n as i64);
    }
    let stats = ctx.store.stats();
    m.commits
        .inc_by(stats.commits.saturating_sub(m.commits.get()));
    m.writes.inc_by(stats.writes.saturating_sub(m.writes.get()));
    m.jobs.inc_by(ctx.db.jobs().saturating_sub(m.jobs.get()));
    let mut out = String::new();
    if let Err(e) = prometheus_client::encoding::text::encode(&mut out, &m.registry) {
        log::warn!("metrics: encoding failed: {e}");
    }
    out
}

/// Bind the metrics endpoint (before anything is written, like the other listeners).
pub fn bind(addr: &str) -> Result<tiny_http::Server, String> {
    let parsed: std::net::SocketAddr = addr.parse().map_err(|_| {
        format!("invalid metrics listen address {addr:?} (expected IP:PORT, e.g. 127.0.0.1:9143)")
    })?;
    tiny_http::Server::http(parsed)
        .map_err(|e| format!("cannot listen for metrics on {parsed}: {e}"))
}

/// Serve /metrics on its own thread until the process ends.
pub fn serve(server: tiny_http::Server, ctx: Arc<Context>) {
    std::thread::spawn(move || {
        for request in server.incoming_requests() {
            let response = if request.url() == "/metrics"
                && *request.method() == tiny_http::Method::Get
            {
                let body = render(&ctx);
                let mut r = tiny_http::Response::from_string(body);
                if let Ok(h) = tiny_http::Header::from_bytes(
                    "Content-Type",
                    "application/openmetrics-text; version=1.0.0; charset=utf-8",
                ) {
                    r.add_header(h);
                }
                r
            } else {
                tiny_http::Response::from_string("not found; try /metrics\n").with_status_code(404)
            };
            if let Err(e) = request.respond(response) {
                log::debug!("metrics: answering a scrape: {e}");
            }
        }
    });
}
