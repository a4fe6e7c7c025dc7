//! Several `liteimap serve` processes ("nodes") on one PostgreSQL database, and faults: the
//! built binary, started twice on one database, each on 127.0.0.1:0 (the port read from its
//! log). Concurrent APPENDs through both, IDLE on one node seeing the other's changes,
//! `\Recent` claimed once, SIGKILL of a node while its clients append, the database server
//! stopped and started under load, and `serve` refusing an unreachable or newer database.
//! No timing assertions: loops are bounded and waits have generous deadlines.
//! tests/common/pg.rs says where the PostgreSQL databases come from.

mod common;
use common::pg;

use std::collections::{BTreeMap, HashSet};
use std::io::{BufRead, Write};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::sync::{Arc, Barrier};
use std::time::{Duration, Instant};

use common::*;
use liteimap::store::Store;

/// The longest any single wait of these tests may take before the test fails.
const DEADLINE: Duration = Duration::from_secs(120);

/// A database with the user alice.
fn database_with_alice_pg(db: &pg::TestDb) {
    let store = Store::open_postgres(&db.url).expect("open the PostgreSQL store");
    let hash = liteimap::password::hash(ALICE.1.as_bytes()).unwrap();
    store.create_user(ALICE.0, &hash).unwrap();
}

/// One `liteimap --db URL serve` process, killed (SIGKILL) when dropped.
struct Node {
    child: Child,
    port: u16,
    /// Its log lines (read all along, so the pipe never fills).
    _log: Receiver<String>,
}

impl Node {
    fn start(url: &str) -> Node {
        let mut child = Command::new(env!("CARGO_BIN_EXE_liteimap"))
            .args(["--db", url, "serve", "--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start liteimap serve");
        let log = lines_of(&mut child);
        let line = wait_for(&log, "listening on");
        let port = listening_port(&line).unwrap_or_else(|| panic!("no port in {line:?}"));
        Node {
            child,
            port,
            _log: log,
        }
    }

    /// A connection logged in as alice, whose reads wait up to [`DEADLINE`] (a command held
    /// up by a database outage is slow, not hung).
    fn login(&self) -> Client {
        login(self.port)
    }

    /// SIGKILL, and wait for the process to be gone.
    fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn login(port: u16) -> Client {
    let mut c = Client::connect(port);
    c.reader_mut()
        .get_ref()
        .set_read_timeout(Some(DEADLINE))
        .unwrap();
    c.greeting = c.read_line();
    let r = c.cmd(&format!("LOGIN {} {}", ALICE.0, ALICE.1));
    assert!(
        r.last().unwrap().starts_with("TAG OK"),
        "login failed: {r:?}"
    );
    c
}

/// What one APPEND came to, for a client that may lose its server.
#[derive(Debug)]
enum Appended {
    /// `OK [APPENDUID v uid]`.
    Uid(u32),
    /// A tagged NO or BAD: the whole line.
    Refused(String),
    /// The connection ended (the node died).
    Gone,
    /// No answer within [`DEADLINE`].
    Hung,
}

/// One response line, `None` when the connection ended, `Err` when nothing came in time.
fn try_line(c: &mut Client) -> Result<Option<String>, ()> {
    let mut line = Vec::new();
    match c.reader_mut().read_until(b'\n', &mut line) {
        Ok(0) => Ok(None),
        Ok(_) => Ok(Some(String::from_utf8_lossy(&line).trim_end().to_string())),
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
            ) =>
        {
            Err(())
        }
        Err(_) => Ok(None),
    }
}

/// APPEND `subject` to INBOX in one write (LITERAL+), tolerating a server that goes away.
fn try_append(c: &mut Client, subject: &str) -> Appended {
    let tag = c.tag();
    let msg = message(subject, "sent while the cluster was busy");
    let mut data = format!("{tag} APPEND INBOX {{{}+}}\r\n", msg.len()).into_bytes();
    data.extend_from_slice(&msg);
    data.extend_from_slice(b"\r\n");
    if c.writer_mut().write_all(&data).is_err() {
        return Appended::Gone;
    }
    loop {
        match try_line(c) {
            Err(()) => return Appended::Hung,
            Ok(None) => return Appended::Gone,
            Ok(Some(l)) => {
                let Some(rest) = l.strip_prefix(&format!("{tag} ")) else {
                    continue;
                };
                return match appended_uid(rest) {
                    Some(uid) => Appended::Uid(uid),
                    None => Appended::Refused(l),
                };
            }
        }
    }
}

/// The UID of `OK [APPENDUID validity uid] …`.
fn appended_uid(tagged_rest: &str) -> Option<u32> {
    let rest = tagged_rest.strip_prefix("OK [APPENDUID ")?;
    rest.split(' ').nth(1)?.trim_end_matches(']').parse().ok()
}

/// One appender's report: who (the client's name), the subject, the outcome.
type Report = (String, String, Appended);

/// A client of `port` appending `name-N` messages until `stop` is set, it loses its server,
/// or `limit` appends are done; every outcome goes to `tx`.
fn appender(
    port: u16,
    name: String,
    limit: usize,
    stop: Arc<AtomicBool>,
    tx: Sender<Report>,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let mut c = login(port);
        for i in 0..limit {
            if stop.load(Ordering::SeqCst) {
                return;
            }
            let subject = format!("{name}-{i}");
            let r = try_append(&mut c, &subject);
            let end = matches!(r, Appended::Gone | Appended::Hung);
            if tx.send((name.clone(), subject, r)).is_err() || end {
                return;
            }
        }
    })
}

/// The subject of every message in INBOX by UID, read through `c`.
fn subjects_by_uid(c: &mut Client) -> BTreeMap<u32, String> {
    c.cmd("SELECT INBOX");
    let r = c.cmd("UID FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (SUBJECT)])");
    assert_eq!(r.last().unwrap(), "TAG OK UID FETCH completed", "{r:?}");
    r.iter()
        .filter(|l| l.starts_with("* "))
        .map(|l| {
            let uid: u32 = l
                .split_once("(UID ")
                .and_then(|(_, rest)| rest.split(' ').next())
                .and_then(|u| u.parse().ok())
                .unwrap_or_else(|| panic!("no UID in {l:?}"));
            let subject = l
                .split_once("Subject: ")
                .map(|(_, s)| s.split("\r\n").next().unwrap_or("").to_string())
                .unwrap_or_else(|| panic!("no Subject in {l:?}"));
            (uid, subject)
        })
        .collect()
}

/// Every acknowledged APPEND (uid → subject) is in the mailbox with its subject, and no UID
/// was acknowledged twice.
fn assert_all_there(acked: &[(u32, String)], there: &BTreeMap<u32, String>) {
    let mut seen = HashSet::new();
    for (uid, subject) in acked {
        assert!(seen.insert(*uid), "UID {uid} acknowledged twice");
        assert_eq!(
            there.get(uid),
            Some(subject),
            "acknowledged UID {uid} ({subject}) is not in the mailbox"
        );
    }
}

/// Lines of `c` up to (and including) the first one `want` accepts; panics on a tagged line,
/// the end of the connection or silence past [`DEADLINE`].
fn read_until(c: &mut Client, want: impl Fn(&str) -> bool) -> Vec<String> {
    let mut lines = Vec::new();
    loop {
        let l = c.read_line();
        let done = want(&l);
        lines.push(l);
        if done {
            return lines;
        }
    }
}

/// Alice on `db`, and two nodes serving it.
fn two_nodes(db: &pg::TestDb) -> (Node, Node) {
    database_with_alice_pg(db);
    let url = db.url();
    (Node::start(&url), Node::start(&url))
}

/// One [`appender`] per port (named `c0`, `c1`, …), their reports, and the flag that stops
/// them.
#[allow(clippy::type_complexity)]
fn appenders(
    ports: &[u16],
    limit: usize,
) -> (
    Vec<std::thread::JoinHandle<()>>,
    Receiver<Report>,
    Arc<AtomicBool>,
) {
    let (tx, rx) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let threads = ports
        .iter()
        .enumerate()
        .map(|(i, &port)| appender(port, format!("c{i}"), limit, stop.clone(), tx.clone()))
        .collect();
    (threads, rx, stop)
}

#[test]
fn concurrent_appends_through_two_serve_processes_get_unique_increasing_uids() {
    let db = pg::fresh_db();
    let (a, b) = two_nodes(&db);
    let (threads, rx, _) = appenders(&[a.port, b.port, a.port, b.port], 15);
    for t in threads {
        t.join().unwrap();
    }
    let mut acked = Vec::new();
    let mut per_client: BTreeMap<String, Vec<u32>> = BTreeMap::new();
    for (name, subject, r) in rx {
        match r {
            Appended::Uid(uid) => {
                per_client.entry(name).or_default().push(uid);
                acked.push((uid, subject));
            }
            other => panic!("{subject}: {other:?}"),
        }
    }
    // Each client's UIDs increase; together they are 1..=60, each once.
    for (name, uids) in &per_client {
        assert!(uids.windows(2).all(|w| w[0] < w[1]), "{name}: {uids:?}");
    }
    let mut all: Vec<u32> = acked.iter().map(|(u, _)| *u).collect();
    all.sort_unstable();
    assert_eq!(all, (1..=60).collect::<Vec<u32>>());
    // Both nodes serve all 60, with the subjects their appenders sent.
    for node in [&a, &b] {
        assert_all_there(&acked, &subjects_by_uid(&mut node.login()));
    }
}

#[test]
fn idle_on_one_node_sees_the_other_nodes_append_flags_and_expunge() {
    let db = pg::fresh_db();
    let (a, b) = two_nodes(&db);
    let mut writer = a.login();
    for i in 1..=3 {
        assert!(writer
            .append("INBOX", "", &message(&format!("m{i}"), "x"))
            .starts_with("TAG OK"));
    }
    let mut idler = b.login();
    let r = idler.cmd("SELECT INBOX");
    assert!(r.contains(&"* 3 EXISTS".to_string()), "{r:?}");
    idler.send(b"i IDLE\r\n");
    assert_eq!(idler.read_line(), "+ idling");

    let r = writer.append("INBOX", "", &message("m4", "x"));
    assert!(r.starts_with("TAG OK [APPENDUID "), "{r}");
    assert_eq!(
        read_until(&mut idler, |l| l.ends_with("EXISTS")),
        ["* 4 EXISTS"]
    );
    assert_eq!(idler.read_line(), "* 4 RECENT");

    writer.cmd("SELECT INBOX");
    let r = writer.cmd("STORE 2 +FLAGS.SILENT (\\Flagged)");
    assert_eq!(r, ["TAG OK STORE completed"]);
    assert_eq!(idler.read_line(), "* 2 FETCH (FLAGS (\\Flagged \\Recent))");

    // A expunges its messages 1 and 3; B's session is told in its own numbering: 1, then 2
    // (UID 3 moved up when UID 1 went).
    writer.cmd("STORE 1,3 +FLAGS.SILENT (\\Deleted)");
    assert_eq!(
        idler.read_line(),
        "* 1 FETCH (FLAGS (\\Deleted \\Recent))",
        "B sees the flags before the expunge"
    );
    assert_eq!(idler.read_line(), "* 3 FETCH (FLAGS (\\Deleted \\Recent))");
    assert_eq!(
        writer.cmd("EXPUNGE"),
        ["* 1 EXPUNGE", "* 2 EXPUNGE", "TAG OK EXPUNGE completed"]
    );
    assert_eq!(idler.read_line(), "* 1 EXPUNGE");
    assert_eq!(idler.read_line(), "* 2 EXPUNGE");
    idler.send(b"DONE\r\n");
    assert_eq!(idler.until_tagged("i"), ["TAG OK IDLE terminated"]);
    assert_eq!(
        idler.cmd("FETCH 1:* (UID FLAGS)"),
        [
            "* 1 FETCH (UID 2 FLAGS (\\Flagged \\Recent))",
            "* 2 FETCH (UID 4 FLAGS (\\Recent))",
            "TAG OK FETCH completed"
        ]
    );
}

#[test]
fn recent_is_claimed_once_across_nodes() {
    let db = pg::fresh_db();
    let (a, b) = two_nodes(&db);
    let mut writer = a.login();
    let mut sessions: Vec<Client> = [&a, &b, &a, &b].iter().map(|n| n.login()).collect();
    for round in 1..=3 {
        for i in 0..4 {
            let r = writer.append("INBOX", "", &message(&format!("r{round}-{i}"), "x"));
            assert!(r.starts_with("TAG OK"), "{r}");
        }
        // Four sessions, two per node, SELECT at once: each new message is \Recent in exactly
        // one of them.
        let barrier = Arc::new(Barrier::new(sessions.len()));
        let threads: Vec<_> = sessions
            .drain(..)
            .map(|mut c| {
                let barrier = barrier.clone();
                std::thread::spawn(move || {
                    barrier.wait();
                    let r = c.cmd("SELECT INBOX");
                    let recent: u32 = r
                        .iter()
                        .find_map(|l| l.strip_prefix("* ")?.strip_suffix(" RECENT"))
                        .and_then(|n| n.parse().ok())
                        .unwrap_or_else(|| panic!("no RECENT in {r:?}"));
                    assert!(r.contains(&format!("* {} EXISTS", round * 4)), "{r:?}");
                    c.cmd("UNSELECT");
                    (c, recent)
                })
            })
            .collect();
        let mut total = 0;
        for t in threads {
            let (c, recent) = t.join().unwrap();
            total += recent;
            sessions.push(c);
        }
        assert_eq!(
            total, 4,
            "round {round}: the 4 new messages are recent once each"
        );
    }
}

#[test]
fn a_node_killed_while_its_clients_append_loses_nothing_it_acknowledged() {
    let db = pg::fresh_db();
    let (a, b) = two_nodes(&db);
    let url = db.url();
    let (tx, rx) = mpsc::channel();
    let stop = Arc::new(AtomicBool::new(false));
    let on_a: Vec<_> = (0..2)
        .map(|i| appender(a.port, format!("a{i}"), 2000, stop.clone(), tx.clone()))
        .collect();
    let on_b = appender(b.port, "b".into(), 2000, stop.clone(), tx.clone());
    drop(tx);

    let mut acked = Vec::new();
    // OKs per client of A: killed once both have some (so both are logged in).
    let mut from_a: BTreeMap<String, usize> = BTreeMap::new();
    let mut from_b_after_kill = 0;
    let mut a = Some(a);
    let mut gone = 0;
    let start = Instant::now();
    while gone < 2 || from_b_after_kill < 5 {
        assert!(start.elapsed() < DEADLINE * 2, "no progress: {acked:?}");
        let (name, subject, r) = match rx.recv_timeout(DEADLINE) {
            Ok(report) => report,
            Err(e) => panic!("appenders silent ({e:?})"),
        };
        match r {
            Appended::Uid(uid) => {
                acked.push((uid, subject));
                if name.starts_with('a') {
                    *from_a.entry(name).or_default() += 1;
                } else if a.is_none() {
                    from_b_after_kill += 1;
                }
            }
            // A's clients lose their node, and only A's.
            Appended::Gone if name.starts_with('a') && a.is_none() => gone += 1,
            other => panic!("{name} {subject}: {other:?}"),
        }
        if a.is_some() && from_a.len() == 2 && from_a.values().all(|&n| n >= 5) {
            a.take().unwrap().kill();
        }
    }
    stop.store(true, Ordering::SeqCst);
    for t in on_a {
        t.join().unwrap();
    }
    on_b.join().unwrap();
    // Whatever was still queued from B before it stopped.
    for (name, subject, r) in rx.try_iter() {
        match r {
            Appended::Uid(uid) => acked.push((uid, subject)),
            other => panic!("{name} {subject}: {other:?}"),
        }
    }

    // B has everything anyone was told OK for; a restarted A serves it again.
    assert_all_there(&acked, &subjects_by_uid(&mut b.login()));
    let a = Node::start(&url);
    let mut c = a.login();
    assert!(c
        .append("INBOX", "", &message("after-restart", "x"))
        .starts_with("TAG OK [APPENDUID "));
    let there = subjects_by_uid(&mut c);
    assert_all_there(&acked, &there);
    assert_eq!(
        there.values().last().map(String::as_str),
        Some("after-restart")
    );
}

#[test]
fn the_database_restarted_under_load_costs_no_acknowledged_write_and_nodes_recover() {
    let cluster = pg::OwnCluster::start();
    let db = cluster.fresh_db();
    let (a, b) = two_nodes(&db);
    let (threads, rx, stop) = appenders(&[a.port, b.port, a.port, b.port], 5000);

    #[derive(Clone, Copy, Debug, PartialEq)]
    enum Phase {
        Before,
        Down,
        Up,
    }
    let mut phase = Phase::Before;
    let mut acked = Vec::new();
    let mut refused_while_down: HashSet<String> = HashSet::new();
    let mut ok_after: HashSet<String> = HashSet::new();
    let mut ok_after_count = 0;
    // Clients that had an OK before the stop (so all four are logged in when it comes).
    let mut ok_before: HashSet<String> = HashSet::new();
    let start = Instant::now();
    loop {
        assert!(start.elapsed() < DEADLINE * 3, "no recovery: {acked:?}");
        let (name, subject, r) = match rx.recv_timeout(DEADLINE) {
            Ok(report) => report,
            Err(RecvTimeoutError::Timeout) => panic!("appenders silent"),
            Err(RecvTimeoutError::Disconnected) => panic!("appenders ended early"),
        };
        match r {
            Appended::Uid(uid) => {
                acked.push((uid, subject));
                if phase == Phase::Up {
                    ok_after.insert(name);
                    ok_after_count += 1;
                } else if phase == Phase::Before {
                    ok_before.insert(name);
                }
            }
            // In flight or sent while the database is down: NO [UNAVAILABLE], nothing else.
            Appended::Refused(line) if line.contains(" NO [UNAVAILABLE] ") => {
                if phase == Phase::Down {
                    refused_while_down.insert(name);
                }
            }
            other => panic!("{name} {subject}: {other:?} (phase {phase:?})"),
        }
        if phase == Phase::Before && ok_before.len() == 4 && acked.len() >= 20 {
            cluster.stop_server();
            phase = Phase::Down;
        } else if phase == Phase::Down && refused_while_down.len() == 4 {
            cluster.start_server();
            phase = Phase::Up;
        } else if phase == Phase::Up && ok_after.len() == 4 && ok_after_count >= 20 {
            break;
        }
    }
    stop.store(true, Ordering::SeqCst);
    for t in threads {
        t.join().unwrap();
    }
    for (name, subject, r) in rx.try_iter() {
        match r {
            Appended::Uid(uid) => acked.push((uid, subject)),
            Appended::Refused(line) if line.contains(" NO [UNAVAILABLE] ") => {}
            other => panic!("{name} {subject}: {other:?}"),
        }
    }
    // Every acknowledged APPEND is there, seen from both nodes (neither was restarted).
    for node in [&a, &b] {
        assert_all_there(&acked, &subjects_by_uid(&mut node.login()));
    }
}

/// `serve` on `url`: its exit status and standard error.
fn serve_refused(url: &str) -> String {
    let out = Command::new(env!("CARGO_BIN_EXE_liteimap"))
        .args(["--db", url, "serve", "--listen", "127.0.0.1:0"])
        .stdin(Stdio::null())
        .output()
        .expect("run liteimap serve");
    assert!(!out.status.success(), "serve started on {url}");
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(err.lines().count(), 1, "one line, not: {err}");
    err
}

#[test]
fn serve_refuses_an_unreachable_database_and_a_newer_schema_with_one_line() {
    let nowhere = std::env::temp_dir().join(format!("liteimap-no-pg-{}", std::process::id()));
    let err = serve_refused(&format!(
        "postgresql://postgres@/x?host={}",
        nowhere.display()
    ));
    assert!(
        err.starts_with("liteimap: cannot open database ") && err.contains("PostgreSQL"),
        "{err}"
    );

    let db = pg::fresh_db();
    database_with_alice_pg(&db);
    let mut c = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    c.batch_execute("UPDATE schema_version SET version = 99")
        .unwrap();
    let err = serve_refused(&db.url());
    assert!(
        err.starts_with("liteimap: cannot open database ")
            && err.contains("schema version 99 is newer than this liteimap supports"),
        "{err}"
    );
}

#[test]
fn idle_hears_a_change_made_while_its_nodes_listener_was_reconnecting() {
    let db = pg::fresh_db();
    let (a, b) = two_nodes(&db);
    let mut writer = a.login();
    assert!(writer
        .append("INBOX", "", &message("before", "x"))
        .starts_with("TAG OK"));
    let mut idler = b.login();
    idler.cmd("SELECT INBOX");
    idler.send(b"i IDLE\r\n");
    assert_eq!(idler.read_line(), "+ idling");

    // No new connections to the database, and the listeners' connections cut: a commit now
    // notifies nobody. A commits through a connection its pool already holds.
    let mut admin = db.admin();
    let name = db.name();
    admin
        .batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS false"))
        .unwrap();
    let listeners: Vec<i32> = admin
        .query(
            "SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = $2",
            &[&name, &liteimap::store::pg::LISTENER_NAME],
        )
        .unwrap()
        .iter()
        .map(|r| r.get(0))
        .collect();
    assert_eq!(listeners.len(), 2, "one listener per node");
    for pid in listeners {
        // The timeout: wait until it is really gone (and so hears nothing more).
        let gone: bool = admin
            .query_one("SELECT pg_terminate_backend($1, 60000)", &[&pid])
            .unwrap()
            .get(0);
        assert!(gone, "listener {pid} still there");
    }
    let r = writer.append("INBOX", "", &message("meanwhile", "x"));
    assert!(r.starts_with("TAG OK [APPENDUID "), "{r}");
    admin
        .batch_execute(&format!("ALTER DATABASE {name} ALLOW_CONNECTIONS true"))
        .unwrap();

    // B's listener reconnects and makes its sessions look: the IDLE hears of the message.
    assert_eq!(
        read_until(&mut idler, |l| l.ends_with("EXISTS")),
        ["* 2 EXISTS"]
    );
    assert_eq!(idler.read_line(), "* 2 RECENT");
    idler.send(b"DONE\r\n");
    assert_eq!(idler.until_tagged("i"), ["TAG OK IDLE terminated"]);
}

#[test]
fn a_commit_cut_off_by_a_lost_connection_is_reported_as_in_doubt() {
    let db = pg::fresh_db();
    let (a, _b) = two_nodes(&db);
    let mut c = a.login();
    // At COMMIT (a deferred trigger), the server drops the connection of the transaction that
    // adds a message: the client's COMMIT gets no answer.
    let mut admin = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    admin
        .batch_execute(
            "CREATE FUNCTION cut_off() RETURNS trigger LANGUAGE plpgsql AS
                 $$ BEGIN PERFORM pg_terminate_backend(pg_backend_pid()); RETURN NULL; END $$;
             CREATE CONSTRAINT TRIGGER cut_off AFTER INSERT ON messages
                 DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION cut_off();",
        )
        .unwrap();
    let r = c.append("INBOX", "", &message("cut", "x"));
    assert_eq!(
        r,
        "TAG NO [UNAVAILABLE] The mail database went away while saving; the change may or may \
         not have been made, check before retrying"
    );
    // Not retried by the store (that could store it twice); the node goes on serving.
    admin
        .batch_execute("DROP TRIGGER cut_off ON messages")
        .unwrap();
    let r = c.append("INBOX", "", &message("after", "x"));
    assert!(r.starts_with("TAG OK [APPENDUID "), "{r}");
}
