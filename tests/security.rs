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
    let db = dir.database("t.db");
    database_with_alice(&db);
    let mut child = Command::new(env!("CARGO_BIN_EXE_liteimap"))
        .arg("--db")
        .arg(&db)
        .args(["serve", "--listen", "127.0.0.1:0"])
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
    let port = lines
        .last()
        .and_then(|l| listening_port(l))
        .expect("no port in the log line");
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

const FAILED: &str = "TAG NO [AUTHENTICATIONFAILED] Authentication failed";

#[test]
fn failed_logins_count_per_address_and_per_name_across_connections() {
    let dir = TempDir::new("bruteforce");
    let srv = small_server(&dir);
    let local: std::net::IpAddr = [127, 0, 0, 1].into();
    let mut c1 = srv.connect();
    let mut c2 = srv.connect();
    // A wrong password and an unknown user get the same answer.
    assert_eq!(c1.cmd("LOGIN alice wrong"), vec![FAILED]);
    assert_eq!(c1.cmd("LOGIN alice wrong2"), vec![FAILED]);
    assert_eq!(c2.cmd("LOGIN Alice wrong3"), vec![FAILED]);
    assert_eq!(c2.cmd("LOGIN nosuchuser wrong"), vec![FAILED]);
    assert_eq!(
        c2.cmd("AUTHENTICATE PLAIN AG5vc3VjaHVzZXIAd3Jvbmc="),
        vec![FAILED]
    );
    let throttle = &srv.ctx.throttle;
    assert_eq!(throttle.address_failures(local), 5);
    assert_eq!(throttle.user_failures("alice"), 3);
    assert_eq!(throttle.user_failures("nosuchuser"), 2);
    // Logging into one's own account clears nobody's count: not the address's, not alice's.
    let mut bob = srv.connect();
    assert_eq!(last_line(&bob.cmd("LOGIN bob builder")), "TAG OK");
    assert_eq!(throttle.address_failures(local), 5);
    assert_eq!(throttle.user_failures("alice"), 3);
    // The right password still works: counting slows guessing, it locks nobody out.
    assert_eq!(last_line(&c1.cmd("LOGIN alice wonderland")), "TAG OK");
    assert_eq!(throttle.user_failures("alice"), 3);
}

#[test]
fn parallel_guesses_from_one_address_take_turns() {
    let dir = TempDir::new("parallel-guess");
    // Room for all twenty in the pre-login share.
    let srv = TestServer::start_with(
        &dir,
        Config {
            max_connections: 100,
            auth_failure_delay: Duration::ZERO,
            ..Config::default()
        },
    );
    let port = srv.port;
    // A first failure makes the address one that takes turns (a good address logs in in
    // parallel; see only_a_failing_address_takes_turns).
    let mut first = srv.connect();
    assert_eq!(first.cmd("LOGIN alice guess"), vec![FAILED.to_string()]);
    // Twenty connections, each sending one guess at the same moment (bounded: one each).
    let barrier = std::sync::Arc::new(std::sync::Barrier::new(20));
    let answers: Vec<Vec<String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..20)
            .map(|i| {
                let barrier = barrier.clone();
                s.spawn(move || {
                    let mut c = Client::connect(port);
                    c.read_line();
                    barrier.wait();
                    c.cmd(&format!("LOGIN alice guess{i}"))
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert!(answers.iter().all(|a| a == &vec![FAILED.to_string()]));
    // They were checked one after another, and every one counted for the address and name.
    assert_eq!(srv.ctx.throttle.max_in_flight(), 1);
    let local: std::net::IpAddr = [127, 0, 0, 1].into();
    assert_eq!(srv.ctx.throttle.address_failures(local), 21);
    assert_eq!(srv.ctx.throttle.user_failures("alice"), 21);
}

#[test]
fn a_guess_waiting_for_its_turn_can_still_be_closed_to_make_room() {
    let dir = TempDir::new("turn-evict");
    let srv = small_server(&dir);
    // Another attempt from this address is under way (the test holds its turn).
    let local: std::net::IpAddr = [127, 0, 0, 1].into();
    let address = srv.ctx.throttle.address(local);
    // The address has failed before, so its attempts take turns.
    srv.ctx.throttle.failure(Some(local), "somebody");
    let turn = async_std::task::block_on(srv.ctx.throttle.turn(Some(&address)));
    let mut waiting = srv.connect();
    let tag = waiting.tag();
    waiting.send(format!("{tag} LOGIN alice wonderland\r\n").as_bytes());
    // Ten newer connections fill the share: the waiting one, the oldest, makes room at once,
    // although its turn has not come.
    let _newer: Vec<Client> = (0..10).map(|_| srv.connect()).collect();
    assert_eq!(
        waiting.read_line(),
        "* BYE Too many connections waiting to log in; closing the oldest"
    );
    assert!(waiting.is_closed());
    drop(turn);
}
