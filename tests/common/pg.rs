//! A fresh PostgreSQL database for each test.
//!
//! With `LITEIMAP_TEST_PG` set (a base conninfo, e.g. `host=/run/postgresql user=postgres` or
//! `postgresql://postgres@127.0.0.1:5432/postgres`), each test gets a new database on that
//! server, dropped when the test's [`TestDb`] goes. Otherwise the first test of the process
//! starts ONE throwaway cluster (Debian's /usr/lib/postgresql/<newest>/bin initdb + postgres, data
//! under a temporary directory, Unix socket only, no TCP port, run as `nobody` when we are
//! root). A small shell keeper owns it: it waits for end of file on its stdin, a pipe only
//! this test process holds, so however the process ends (even SIGKILL) the keeper stops the
//! server and removes the directory. PostgreSQL missing: the test fails, saying so.
//!
//! The cluster is one per process even where the process holds several copies of this module
//! (tests/on_postgres.rs has one per test file): its directory is named after the process,
//! made under a lock, and a copy that finds it running uses it. A test that stops and starts
//! its server ([`OwnCluster`]) gets a cluster of its own.

#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Mutex, OnceLock};

/// Debian's server binaries of the newest installed major version
/// (`/usr/lib/postgresql/<major>/bin`; 15 on bookworm, 17 on trixie).
fn bin_dir() -> String {
    let mut majors: Vec<u32> = std::fs::read_dir("/usr/lib/postgresql")
        .map(|d| {
            d.filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect()
        })
        .unwrap_or_default();
    majors.sort_unstable();
    match majors.last() {
        Some(m) => format!("/usr/lib/postgresql/{m}/bin"),
        None => "/usr/lib/postgresql/<none installed>/bin".to_string(),
    }
}

/// The keeper script: start the server, poll pg_isready (bounded), say "ready" (or "failed"
/// and the log), then obey the lines of its stdin — `stop` (a fast shutdown, as `pg_ctl stop
/// -m fast`; answers "stopped") and `start` (answers "ready" again) — until stdin closes, then
/// stop the server and remove everything.
const KEEPER: &str = r#"
dir="$1"; run="$2"; bin="$3"
start() {
    $run "$bin/postgres" -D "$dir/data" -k "$dir" -c listen_addresses= -c fsync=off \
        -c synchronous_commit=off -c full_page_writes=off -c max_connections=200 \
        >>"$dir/log" 2>&1 &
    pid=$!
    n=0
    until "$bin/pg_isready" -q -h "$dir" -U postgres; do
        n=$((n + 1))
        if [ $n -gt 600 ] || ! kill -0 $pid 2>/dev/null; then
            echo failed; cat "$dir/log"; kill -INT $pid 2>/dev/null; wait $pid
            rm -rf "$dir" "$dir.lock"; exit 1
        fi
        sleep 0.05
    done
    echo ready
}
start
while read -r command; do
    case "$command" in
        stop) kill -INT $pid; wait $pid; echo stopped ;;
        start) start ;;
    esac
done
kill -INT $pid 2>/dev/null; wait $pid
rm -rf "$dir" "$dir.lock"
"#;

struct Cluster {
    /// The socket directory (host=…).
    dir: String,
    /// The keeper, whose stdin we hold (the shared cluster's is closed at exit), and the
    /// lines it answers; None in a copy of this module that found the process's shared
    /// cluster already running.
    keeper: Option<Mutex<Keeper>>,
}

struct Keeper {
    child: Child,
    answers: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Cluster {
    /// Tell the keeper `command` and wait for its answer `expect`.
    fn tell(&self, command: &str, expect: &str) {
        use std::io::Write;
        let keeper = self
            .keeper
            .as_ref()
            .expect("a cluster this copy of the module started");
        let mut k = keeper.lock().unwrap_or_else(|e| e.into_inner());
        let stdin = k.child.stdin.as_mut().expect("keeper stdin");
        writeln!(stdin, "{command}").expect("tell the PostgreSQL keeper");
        match k.answers.next() {
            Some(Ok(l)) if l == expect => {}
            other => panic!("PostgreSQL keeper answered {other:?} to {command}, not {expect}"),
        }
    }

    fn base(&self) -> String {
        format!("host={} user=postgres", self.dir)
    }
}

fn am_root() -> bool {
    Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false)
}

/// This process's shared cluster: the one another copy of this module started, or a new one.
/// The lock file (removed by the keeper with the directory) makes the check and the start one
/// step.
fn shared_cluster() -> Cluster {
    let dir = std::env::temp_dir().join(format!("liteimap-pg-{}", std::process::id()));
    let dir = dir.to_string_lossy().into_owned();
    let lock = std::fs::File::create(format!("{dir}.lock")).expect("create the cluster lock");
    // flock (File::lock is newer than the MSRV): held until `lock` closes at the return; a
    // second open file of the same process waits for it as another process would.
    // SAFETY: flock on the descriptor of a file this function holds open.
    let locked = unsafe { libc::flock(std::os::fd::AsRawFd::as_raw_fd(&lock), libc::LOCK_EX) };
    assert_eq!(locked, 0, "lock the cluster lock");
    let running = std::path::Path::new(&dir).join(".s.PGSQL.5432").exists()
        && postgres::Client::connect(&format!("host={dir} user=postgres"), postgres::NoTls).is_ok();
    if running {
        return Cluster { dir, keeper: None };
    }
    // Left by an earlier process of the same id whose keeper did not finish.
    let _ = std::fs::remove_dir_all(&dir);
    new_cluster(dir)
}

/// A cluster of its own for one test, in a directory no other copy of this module looks for.
fn own_cluster() -> Cluster {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let dir = std::env::temp_dir().join(format!("liteimap-pg-{}-{nanos}", std::process::id()));
    new_cluster(dir.to_string_lossy().into_owned())
}

fn new_cluster(dir: String) -> Cluster {
    let bin = bin_dir();
    let initdb = format!("{bin}/initdb");
    assert!(
        std::path::Path::new(&initdb).exists(),
        "PostgreSQL is not installed: {initdb} is missing. Install Debian's postgresql package \
         (apt-get install postgresql) or set LITEIMAP_TEST_PG to a base conninfo of a server \
         the tests may create databases on"
    );
    std::fs::create_dir_all(&dir).expect("create the cluster directory");
    // Root may not run PostgreSQL: then the server runs as nobody, owning the directory.
    let run = if am_root() {
        let ok = Command::new("chown")
            .args(["nobody:nogroup", &dir])
            .status()
            .is_ok_and(|s| s.success());
        assert!(ok, "cannot chown {dir} to nobody");
        "setpriv --reuid=nobody --regid=nogroup --clear-groups --".to_string()
    } else {
        String::new()
    };
    let init = Command::new("sh")
        .arg("-c")
        .arg(format!(
            "cd / && {run} {initdb} -D {dir}/data -A trust -U postgres --no-sync -E UTF8 --locale=C"
        ))
        .output()
        .expect("run initdb");
    if !init.status.success() {
        let _ = std::fs::remove_dir_all(&dir);
        panic!(
            "initdb failed: {}{}",
            String::from_utf8_lossy(&init.stdout),
            String::from_utf8_lossy(&init.stderr)
        );
    }
    let mut keeper = Command::new("sh")
        .arg("-c")
        .arg(KEEPER)
        .args(["keeper", &dir, &run, &bin])
        .current_dir("/")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start the PostgreSQL keeper");
    let out = keeper.stdout.take().expect("keeper stdout");
    let mut lines = BufReader::new(out).lines();
    match lines.next() {
        Some(Ok(l)) if l == "ready" => {}
        first => {
            let rest: Vec<String> = lines.map_while(|l| l.ok()).collect();
            panic!("PostgreSQL did not start: {first:?}\n{}", rest.join("\n"));
        }
    }
    Cluster {
        dir,
        keeper: Some(Mutex::new(Keeper {
            child: keeper,
            answers: lines,
        })),
    }
}

static CLUSTER: OnceLock<Cluster> = OnceLock::new();
static NEXT: AtomicUsize = AtomicUsize::new(0);

/// A database made for one test; dropped (on a shared server) when this goes.
pub struct TestDb {
    /// The conninfo of the database, as `PgStore::open` takes it.
    pub url: String,
    admin: String,
    name: String,
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Ok(mut c) = postgres::Client::connect(&self.admin, postgres::NoTls) {
            let _ = c.batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ));
        }
    }
}

/// `base` with its database replaced by `db`.
fn with_dbname(base: &str, db: &str) -> String {
    if let Some(rest) = base
        .strip_prefix("postgresql://")
        .or_else(|| base.strip_prefix("postgres://"))
    {
        let (authority, query) = match rest.split_once('?') {
            Some((a, q)) => (a, Some(q)),
            None => (rest, None),
        };
        let authority = authority.split_once('/').map_or(authority, |(a, _)| a);
        match query {
            Some(q) => format!("postgresql://{authority}/{db}?{q}"),
            None => format!("postgresql://{authority}/{db}"),
        }
    } else {
        format!("{base} dbname={db}")
    }
}

/// A new, empty database.
pub fn fresh_db() -> TestDb {
    let base = match std::env::var("LITEIMAP_TEST_PG") {
        Ok(b) if !b.trim().is_empty() => b,
        _ => CLUSTER.get_or_init(shared_cluster).base(),
    };
    db_on(&base)
}

/// A new, empty database on the server `base` names.
fn db_on(base: &str) -> TestDb {
    let admin = with_dbname(base, "postgres");
    // The module path's hash keeps apart the counters of the copies of this module in one
    // process (tests/on_postgres.rs).
    let copy = module_path!()
        .bytes()
        .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
            (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
        });
    let name = format!(
        "liteimap_test_{}_{:08x}_{}",
        std::process::id(),
        copy as u32,
        NEXT.fetch_add(1, Ordering::SeqCst)
    );
    let mut c = postgres::Client::connect(&admin, postgres::NoTls)
        .unwrap_or_else(|e| panic!("cannot connect to the test PostgreSQL ({admin}): {e}"));
    c.batch_execute(&format!("CREATE DATABASE {name}"))
        .unwrap_or_else(|e| panic!("CREATE DATABASE {name}: {e}"));
    TestDb {
        url: with_dbname(base, &name),
        admin,
        name,
    }
}

impl TestDb {
    /// The database's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// A connection to the server's `postgres` database (for what a database cannot do to
    /// itself, such as refusing new connections).
    pub fn admin(&self) -> postgres::Client {
        postgres::Client::connect(&self.admin, postgres::NoTls)
            .unwrap_or_else(|e| panic!("cannot connect to {}: {e}", self.admin))
    }

    /// The database as a `postgresql://` URL (what `liteimap --db` takes) when its conninfo is
    /// `host=… user=… dbname=…`.
    pub fn url(&self) -> String {
        url_of(&self.url)
    }
}

/// The `postgresql://` URL of a conninfo (`host=… user=… dbname=… [port=…]`); a URL as it is.
pub fn url_of(conninfo: &str) -> String {
    if conninfo.starts_with("postgres") {
        return conninfo.to_string();
    }
    let mut host = String::new();
    let mut user = String::new();
    let mut dbname = String::new();
    let mut port = String::new();
    for pair in conninfo.split_whitespace() {
        match pair.split_once('=') {
            Some(("host", v)) => host = v.to_string(),
            Some(("user", v)) => user = v.to_string(),
            Some(("dbname", v)) => dbname = v.to_string(),
            Some(("port", v)) => port = v.to_string(),
            _ => {}
        }
    }
    let port = if port.is_empty() {
        String::new()
    } else {
        format!("&port={port}")
    };
    format!("postgresql://{user}@/{dbname}?host={host}{port}")
}

/// A throwaway cluster of one test's own (even when `LITEIMAP_TEST_PG` names a server), which
/// the test may stop and start again under load. Removed when this goes.
pub struct OwnCluster(Cluster);

impl OwnCluster {
    pub fn start() -> OwnCluster {
        OwnCluster(own_cluster())
    }

    /// A new, empty database on this cluster.
    pub fn fresh_db(&self) -> TestDb {
        db_on(&self.0.base())
    }

    /// Shut the server down fast (as `pg_ctl stop -m fast`: sessions are terminated, in-flight
    /// transactions rolled back) and wait until it is down.
    pub fn stop_server(&self) {
        self.0.tell("stop", "stopped");
    }

    /// Start the server again and wait until it accepts connections.
    pub fn start_server(&self) {
        self.0.tell("start", "ready");
    }
}

impl Drop for OwnCluster {
    fn drop(&mut self) {
        if let Some(keeper) = self.0.keeper.as_mut() {
            let k = keeper.get_mut().unwrap_or_else(|e| e.into_inner());
            // End of file on its stdin: the keeper stops the server and removes the directory.
            drop(k.child.stdin.take());
            let _ = k.child.wait();
        }
    }
}

/// Run the batch `sql` on the database `url`, on a connection of its own.
pub fn execute(url: &str, sql: &str) {
    let mut c = postgres::Client::connect(url, postgres::NoTls)
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
    c.batch_execute(sql)
        .unwrap_or_else(|e| panic!("{sql}: {e}"));
}

/// The one number `sql` (a `SELECT count(*) …`) gives on the database `url`, read on a
/// connection of its own.
pub fn query_one_i64(url: &str, sql: &str) -> i64 {
    let mut c = postgres::Client::connect(url, postgres::NoTls)
        .unwrap_or_else(|e| panic!("cannot connect to {url}: {e}"));
    c.query_one(sql, &[]).unwrap().get(0)
}
