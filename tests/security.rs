//! Safe on the open internet: strangers holding connections never lock out a user with a
//! password, refusals are summed up in the log, and guessing passwords is slowed per address
//! and per target user across connections.

mod common;
use common::*;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};
use std::time::Duration;

use liteimap::server::Config;

fn small_server(dir: &TempDir) -> TestServer {
    TestServer::start_with(
        dir,
        Config {
            max_connections: 20,
            max_user_connections_per_ip: 100,
            auth_failure_delay: Duration::ZERO,
            ..Config::default()
        },
    )
}

#[test]
fn strangers_holding_the_pre_login_share_do_not_lock_out_a_user() {
    let dir = TempDir::new("share");
    let srv = small_server(&dir);
    assert_eq!(srv.ctx.pre_login_share(), 10);
    // Ten idle connections fill the share of those that have not logged in; from the eighth
    // on (three quarters), the time to log in is cut to 10 s.
    let mut idle: Vec<Client> = (0..7).map(|_| srv.connect()).collect();
    assert_eq!(srv.ctx.login_timeout_now(), Duration::from_secs(60));
    idle.push(srv.connect());
    assert_eq!(srv.ctx.login_timeout_now(), Duration::from_secs(10));
    idle.extend((0..2).map(|_| srv.connect()));
    assert!(idle.iter().all(|c| c.greeting.starts_with("* OK")));
    assert_eq!(srv.ctx.prelogin.count(), 10);
    // A user connects all the same: the oldest stranger makes room, and the user logs in.
    let mut alice = srv.login(ALICE);
    assert_eq!(
        idle[0].read_line(),
        "* BYE Too many connections waiting to log in; closing the oldest"
    );
    assert!(idle[0].is_closed());
    assert_eq!(srv.ctx.prelogin.count(), 9);
    // Strangers keep coming (bounded): each closes the oldest waiting one, never alice.
    for _ in 0..30 {
        idle.remove(0);
        let c = srv.connect();
        assert!(c.greeting.starts_with("* OK"), "{}", c.greeting);
        idle.push(c);
    }
    assert_eq!(srv.ctx.prelogin.count(), 10);
    assert_eq!(alice.cmd("NOOP"), vec!["TAG OK NOOP completed"]);
    // The whole limit: 10 logged in (plus alice) and the share of strangers fill the 20.
    let mut users: Vec<Client> = (0..5).map(|_| srv.login(ALICE)).collect();
    users.extend((0..5).map(|_| srv.login(BOB)));
    let mut newest = srv.connect();
    assert!(newest.greeting.starts_with("* OK"));
    assert_eq!(last_line(&newest.cmd("LOGIN bob builder")), "TAG OK");
    // Logged in now: alice twice and bob six times over, 12 in all; 8 more fill the limit, the
    // remaining strangers making room for them. Then a newcomer is refused.
    let more: Vec<Client> = (0..8).map(|_| srv.login(BOB)).collect();
    assert_eq!(srv.ctx.prelogin.count(), 0);
    let _keep = (more, users);
    let mut refused = Client::connect(srv.port);
    assert_eq!(
        refused.read_line(),
        "* BYE Too many connections (limit 20); try again later"
    );
    let summary = srv.ctx.refusals.take_summary().unwrap_or_default();
    assert!(
        summary.contains("refused 1 connections over --max-connections"),
        "{summary}"
    );
    assert!(summary.contains("closed "), "{summary}");
}

/// The first word of the tagged line's status, `TAG OK` / `TAG NO`.
fn last_line(lines: &[String]) -> String {
    lines
        .last()
        .map(|l| l.split(' ').take(2).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

#[test]
fn refused_connections_are_logged_as_a_summary_not_one_line_each() {
    let dir = TempDir::new("logflood");
    let db = dir.path().join("t.db");
    database_with_alice(&db);
    let port = free_port();
    let mut child = Command::new(env!("CARGO_BIN_EXE_liteimap"))
        .arg("--db")
        .arg(&db)
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .args([
            "--max-connections",
            "4",
            "--max-user-connections-per-ip",
            "10",
        ])
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let mut lines = Vec::new();
    let mut until = |needle: &str, lines: &mut Vec<String>| loop {
        line.clear();
        assert!(
            log.read_line(&mut line).unwrap() > 0,
            "log ended: {lines:?}"
        );
        lines.push(line.clone());
        if line.contains(needle) {
            return;
        }
    };
    until("listening on", &mut lines);
    // Four users fill --max-connections; thirty more connections are refused, and ten
    // strangers waiting to log in are closed one after another to make room.
    let users: Vec<Client> = (0..3)
        .map(|_| {
            let mut c = Client::connect(port);
            c.read_line();
            assert_eq!(last_line(&c.cmd("LOGIN alice wonderland")), "TAG OK");
            c
        })
        .collect();
    let mut strangers = Vec::new();
    for _ in 0..10 {
        let mut c = Client::connect(port);
        assert!(c.read_line().starts_with("* OK"));
        strangers.push(c);
    }
    let mut last = Client::connect(port);
    assert!(last.read_line().starts_with("* OK"));
    assert_eq!(last_line(&last.cmd("LOGIN alice wonderland")), "TAG OK");
    for _ in 0..30 {
        let mut c = Client::connect(port);
        assert!(c
            .read_line()
            .starts_with("* BYE Too many connections (limit 4)"));
    }
    // A login after all that, to know the log has caught up.
    let _keep = (users, strangers);
    drop(last);
    let mut probe = (0..250)
        .find_map(|_| {
            let mut c = Client::connect(port);
            if c.read_line().starts_with("* OK") {
                return Some(c);
            }
            std::thread::sleep(Duration::from_millis(20));
            None
        })
        .expect("a slot comes back when a session ends");
    probe.cmd("LOGIN alice nottheone");
    until("login failed", &mut lines);
    let warnings: Vec<&String> = lines.iter().filter(|l| l.contains("WARN")).collect();
    // The first of each kind at once; the rest go into the summary a minute later.
    assert_eq!(warnings.len(), 2, "{warnings:#?}");
    assert!(warnings[0].contains("closing the oldest to make room"));
    assert!(warnings[1].contains("refusing connections: 4 already open"));
    let _ = child.kill();
    let _ = child.wait();
}
