//! Two servers ("nodes") on one PostgreSQL database serve the same mailboxes: unique UIDs
//! from concurrent APPENDs, IDLE woken by the other node's commit, expunges seen across
//! nodes, and the `serve` binary on a `postgresql://` URL.
//! tests/common/pg.rs says where the PostgreSQL database comes from.

mod common;
#[path = "common/pg.rs"]
mod pg;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;
use liteimap::server::Config;
use liteimap::store::Store;

fn config() -> Config {
    Config {
        auth_failure_delay: std::time::Duration::ZERO,
        ..Config::default()
    }
}

fn pg_server(db: &pg::TestDb, fresh: bool) -> TestServer {
    let store = Store::open_postgres(&db.url).expect("open the PostgreSQL store");
    TestServer::start_on(store, fresh, "postgresql".into(), config())
}

fn mail(n: usize, subject: &str) -> Vec<u8> {
    format!(
        "From: Carol <carol@example.org>\r\nTo: alice@example.org\r\nSubject: {subject}\r\n\
         Message-ID: <m{n}@example.org>\r\nDate: Wed, 2 Dec 2026 09:{n:02}:00 +0100\r\n\
         Content-Type: text/plain\r\n\r\nhello number {n}\r\nsecond line\r\n"
    )
    .into_bytes()
}

#[test]
fn two_nodes_on_one_database_give_unique_uids_and_see_each_others_changes() {
    let db = pg::fresh_db();
    let node_a = pg_server(&db, true);
    let node_b = pg_server(&db, false);

    // B idles on INBOX; A's APPEND wakes it through the database's notifications.
    let mut idler = node_b.login(ALICE);
    idler.cmd("SELECT INBOX");
    idler.send(b"i IDLE\r\n");
    assert_eq!(idler.read_line(), "+ idling");
    let mut a = node_a.login(ALICE);
    let r = a.append("INBOX", "", &mail(1, "first"));
    assert!(r.contains("OK [APPENDUID "), "{r}");
    assert_eq!(idler.read_line(), "* 1 EXISTS");
    assert_eq!(idler.read_line(), "* 1 RECENT");
    idler.send(b"DONE\r\n");
    assert_eq!(idler.until_tagged("i"), vec!["TAG OK IDLE terminated"]);

    // Both nodes append at once: every UID is handed out once.
    let threads: Vec<_> = [node_a.port, node_b.port, node_a.port, node_b.port]
        .into_iter()
        .enumerate()
        .map(|(t, port)| {
            std::thread::spawn(move || {
                let mut c = Client::connect(port);
                c.greeting = c.read_line();
                c.cmd(&format!("LOGIN {} {}", ALICE.0, ALICE.1));
                (0..10)
                    .map(|i| {
                        let r = c.append("INBOX", "", &mail(10 + t * 10 + i, "burst"));
                        let uid = r
                            .split(' ')
                            .nth(4)
                            .and_then(|u| u.trim_end_matches(']').parse::<u32>().ok());
                        uid.unwrap_or_else(|| panic!("no APPENDUID in {r}"))
                    })
                    .collect::<Vec<u32>>()
            })
        })
        .collect();
    let mut uids: Vec<u32> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    uids.sort_unstable();
    assert_eq!(uids, (2..=41).collect::<Vec<u32>>());

    // An expunge on A reaches B's session as EXPUNGE at its next NOOP, with B's numbers.
    let r = idler.cmd("NOOP");
    let exists: Vec<&String> = r.iter().filter(|l| l.ends_with(" EXISTS")).collect();
    assert_eq!(exists, vec!["* 41 EXISTS"], "{r:?}");
    a.cmd("SELECT INBOX");
    a.cmd("STORE 1,41 +FLAGS (\\Deleted)");
    assert_eq!(
        a.cmd("EXPUNGE"),
        vec!["* 1 EXPUNGE", "* 40 EXPUNGE", "TAG OK EXPUNGE completed"]
    );
    let r = idler.cmd("NOOP");
    let expunged: Vec<&String> = r.iter().filter(|l| l.ends_with("EXPUNGE")).collect();
    assert_eq!(expunged, vec!["* 1 EXPUNGE", "* 40 EXPUNGE"], "{r:?}");
    assert_eq!(
        idler.cmd("FETCH 1 (UID)"),
        vec!["* 1 FETCH (UID 2)", "TAG OK FETCH completed"]
    );
    node_a.stop();
    node_b.stop();
}

/// The `postgresql://` URL of a test database's conninfo (`host=… user=… dbname=…`).
fn url_of(conninfo: &str) -> String {
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

#[test]
fn serve_runs_on_a_postgresql_url_and_keeps_uids_across_restarts() {
    let db = pg::fresh_db();
    let url = url_of(&db.url);
    let bin = env!("CARGO_BIN_EXE_liteimap");
    let hash_in = Command::new(bin)
        .args(["--db", &url, "user", "add", ALICE.0, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = {
        let mut child = hash_in;
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{}\n", ALICE.1).as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut first_validity = String::new();
    for round in 0..2 {
        let mut child = Command::new(bin)
            .args(["--db", &url, "serve", "--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut seen = String::new();
        let port = loop {
            let mut line = String::new();
            assert!(
                err.read_line(&mut line).unwrap() > 0,
                "serve ended early:\n{seen}"
            );
            seen.push_str(&line);
            if let Some(p) = listening_port(&line) {
                break p;
            }
        };
        let mut c = Client::connect(port);
        c.greeting = c.read_line();
        assert!(c
            .cmd("LOGIN alice wonderland")
            .last()
            .unwrap()
            .contains("OK"));
        let r = c.append("INBOX", "", &mail(round, "restart"));
        assert!(
            r.contains(&format!(" {}] APPEND completed", round + 1)),
            "{r}"
        );
        let v = uidvalidity(&mut c, "INBOX");
        if round == 0 {
            first_validity = v;
        } else {
            assert_eq!(v, first_validity, "UIDVALIDITY changed across a restart");
        }
        c.cmd("LOGOUT");
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
