//! RFC 2180 §4.1.1: a message another session expunged stays readable — body, structure,
//! flags — for every session that still numbers it, until that session is sent its
//! `* N EXPUNGE` (or leaves the mailbox). Its body is deleted once no view holds it.

mod common;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use common::*;

fn select(c: &mut Client, mailbox: &str) {
    let r = c.cmd(&format!("SELECT {mailbox}"));
    assert!(r.last().unwrap().starts_with("TAG OK"), "{r:?}");
}

fn count(srv: &TestServer, table: &str) -> i64 {
    table_rows(srv, table)
}

/// A and B select INBOX with three messages; A expunges the second.
fn expunged_under_b(srv: &TestServer) -> (Client, Client) {
    let mut a = srv.login(ALICE);
    let mut b = srv.login(ALICE);
    for i in 1..=3 {
        a.append(
            "INBOX",
            "",
            &message(&format!("m{i}"), &format!("body {i}")),
        );
    }
    assert!(a.cmd("CREATE dst").last().unwrap().starts_with("TAG OK"));
    select(&mut a, "INBOX");
    select(&mut b, "INBOX");
    a.cmd("STORE 2 +FLAGS.SILENT (\\Deleted)");
    assert_eq!(
        a.cmd("EXPUNGE"),
        vec!["* 2 EXPUNGE", "TAG OK EXPUNGE completed"]
    );
    (a, b)
}

#[test]
fn fetch_store_copy_of_a_message_expunged_elsewhere() {
    let dir = TempDir::new("xe-exact");
    let srv = TestServer::start(&dir);
    let (_a, mut b) = expunged_under_b(&srv);
    let raw = String::from_utf8(message("m2", "body 2")).unwrap();
    // FETCH serves the message as it was: flags, size, body, structure; OK.
    assert_eq!(
        b.cmd("FETCH 2 (UID FLAGS RFC822.SIZE BODY.PEEK[])"),
        vec![
            format!(
                "* 2 FETCH (UID 2 FLAGS (\\Deleted) RFC822.SIZE {} BODY[] {{{}}}\r\n{raw})",
                raw.len(),
                raw.len()
            ),
            "TAG OK FETCH completed".to_string(),
        ]
    );
    let r = b.cmd("FETCH 2 (ENVELOPE BODYSTRUCTURE)");
    assert_eq!(r.len(), 2, "{r:?}");
    assert!(
        r[0].starts_with("* 2 FETCH (ENVELOPE (\"Mon, 7 Feb 1994 21:52:25 -0800\" \"m2\""),
        "{r:?}"
    );
    assert!(r[0].contains("BODYSTRUCTURE (\"TEXT\" \"plain\""), "{r:?}");
    assert_eq!(r[1], "TAG OK FETCH completed");
    // UID FETCH too (it may carry the pending EXPUNGE only after the data).
    let r = b.cmd("UID FETCH 1:3 (UID BODY.PEEK[TEXT])");
    assert_eq!(
        r,
        vec![
            "* 1 FETCH (UID 1 BODY[TEXT] {8}\r\nbody 1\r\n)",
            "* 2 FETCH (UID 2 BODY[TEXT] {8}\r\nbody 2\r\n)",
            "* 3 FETCH (UID 3 BODY[TEXT] {8}\r\nbody 3\r\n)",
            "* 2 EXPUNGE",
            "TAG OK UID FETCH completed",
        ]
    );
}

#[test]
fn store_is_ok_and_copy_move_are_expungeissued() {
    let dir = TempDir::new("xe-store");
    let srv = TestServer::start(&dir);
    let (_a, mut b) = expunged_under_b(&srv);
    // The change dies with the message: OK, and no FETCH for it.
    assert_eq!(
        b.cmd("STORE 2 +FLAGS (\\Seen)"),
        vec!["TAG OK STORE completed"]
    );
    assert_eq!(
        b.cmd("STORE 1:3 +FLAGS (\\Flagged)"),
        vec![
            "* 1 FETCH (FLAGS (\\Flagged))",
            "* 3 FETCH (FLAGS (\\Flagged))",
            "TAG OK STORE completed"
        ]
    );
    // COPY and MOVE copy nothing when one of the messages is gone.
    for cmd in ["COPY 2 dst", "COPY 1:3 dst", "MOVE 1:2 dst"] {
        let r = b.cmd(cmd);
        assert_eq!(r.len(), 1, "{cmd}: {r:?}");
        assert!(r[0].starts_with("TAG NO [EXPUNGEISSUED] "), "{cmd}: {r:?}");
    }
    // A UID command may carry the pending EXPUNGE (as Dovecot's COPY does).
    let r = b.cmd("UID MOVE 2 dst");
    assert_eq!(r.len(), 2, "{r:?}");
    assert_eq!(r[0], "* 2 EXPUNGE");
    assert!(r[1].starts_with("TAG NO [EXPUNGEISSUED] "), "{r:?}");
    assert_eq!(
        b.cmd("STATUS dst (MESSAGES)"),
        vec!["* STATUS dst (MESSAGES 0)", "TAG OK STATUS completed"]
    );
    // Once told, the numbers have moved on.
    assert!(b
        .cmd("COPY 1:2 dst")
        .last()
        .unwrap()
        .starts_with("TAG OK [COPYUID "));
}

#[test]
fn bodies_go_when_the_last_view_lets_go() {
    let dir = TempDir::new("xe-rows");
    let srv = TestServer::start(&dir);
    let (mut a, mut b) = expunged_under_b(&srv);
    let mut c = srv.login(ALICE);
    select(&mut c, "INBOX");
    // B still numbers message 2, so its body stays; C selected after the expunge and never
    // numbered it.
    assert_eq!((count(&srv, "messages"), count(&srv, "bodies")), (2, 3));
    a.cmd("NOOP");
    c.cmd("NOOP");
    assert_eq!(count(&srv, "bodies"), 3);
    // B is told: the body goes.
    assert_eq!(b.cmd("NOOP"), vec!["* 2 EXPUNGE", "TAG OK NOOP completed"]);
    assert_eq!(count(&srv, "bodies"), 2);

    // Leaving the mailbox lets go too: UNSELECT, SELECT elsewhere, CLOSE, LOGOUT, or the
    // connection dropping without a word.
    let leave: [&dyn Fn(&mut Client); 4] = [
        &|s| assert_eq!(s.cmd("UNSELECT"), vec!["TAG OK UNSELECT completed"]),
        &|s| select(s, "dst"),
        &|s| assert!(s.cmd("LOGOUT").last().unwrap().starts_with("TAG OK")),
        &|s| s.writer_mut().shutdown(std::net::Shutdown::Both).unwrap(),
    ];
    for (i, how) in leave.iter().enumerate() {
        let mut holder = srv.login(ALICE);
        select(&mut holder, "INBOX");
        let n = a.append("INBOX", "\\Deleted", &message(&format!("x{i}"), "gone"));
        assert!(n.starts_with("TAG OK"), "{n}");
        holder.cmd("NOOP");
        a.cmd("NOOP");
        let before = count(&srv, "bodies");
        a.cmd("EXPUNGE");
        assert_eq!(
            count(&srv, "bodies"),
            before,
            "held by the other view ({i})"
        );
        // B and C never numbered the new message; they let go at their next command.
        b.cmd("NOOP");
        c.cmd("NOOP");
        assert_eq!(
            count(&srv, "bodies"),
            before,
            "held by the other view ({i})"
        );
        how(&mut holder);
        if i >= 2 {
            // The session's end is seen by the server on its own time: wait for the
            // connection to be closed (EOF), then for the server to have collected.
            assert!(holder.is_closed());
        }
        // Any later command collects what was let go of.
        for _ in 0..1000 {
            a.cmd("NOOP");
            if count(&srv, "bodies") == before - 1 {
                break;
            }
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        assert_eq!(count(&srv, "bodies"), before - 1, "released ({i})");
    }
    assert_eq!(count(&srv, "messages"), count(&srv, "bodies"));
}

/// The load in issue 15: one session expunges a message every 20 ms while 8 others fetch
/// every body of the mailbox over and over. Bounded by iterations, not by time.
#[test]
fn fetchers_never_fail_under_a_steady_expunger() {
    let dir = TempDir::new("xe-load");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    const MESSAGES: usize = 120;
    const EXPUNGES: usize = 100;
    for i in 0..MESSAGES {
        let body = format!("body {i} {}", "x".repeat(2000 + i * 37));
        assert!(a
            .append("INBOX", "", &message(&format!("m{i}"), &body))
            .starts_with("TAG OK"));
    }
    select(&mut a, "INBOX");
    let done = Arc::new(AtomicBool::new(false));
    let port = srv.port;
    let fetchers: Vec<_> = (0..8)
        .map(|n| {
            let done = done.clone();
            std::thread::spawn(move || {
                let mut c = Client::connect(port);
                c.read_line();
                c.cmd("LOGIN alice wonderland");
                select(&mut c, "INBOX");
                let (mut rounds, mut fetched) = (0usize, 0usize);
                let mut failures = Vec::new();
                while !done.load(Ordering::SeqCst) || rounds < 3 {
                    let cmd = if n % 2 == 0 {
                        "UID FETCH 1:* (UID FLAGS BODY.PEEK[])"
                    } else {
                        "FETCH 1:* (FLAGS BODYSTRUCTURE BODY.PEEK[TEXT])"
                    };
                    let r = c.cmd(cmd);
                    let tagged = r.last().unwrap();
                    if !tagged.starts_with("TAG OK") {
                        failures.push(tagged.clone());
                    }
                    fetched += r.iter().filter(|l| l.contains(" FETCH (")).count();
                    rounds += 1;
                    assert!(rounds < 10_000);
                }
                c.cmd("LOGOUT");
                (failures, fetched)
            })
        })
        .collect();
    for i in 1..=EXPUNGES {
        a.cmd(&format!("UID STORE {i} +FLAGS.SILENT (\\Deleted)"));
        let r = a.cmd(&format!("UID EXPUNGE {i}"));
        assert_eq!(r.last().unwrap(), "TAG OK EXPUNGE completed");
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    done.store(true, Ordering::SeqCst);
    let mut total = 0;
    for f in fetchers {
        // A fetcher dropped mid-response panics in its reader ("connection closed").
        let (failures, fetched) = f.join().expect("a fetcher was dropped");
        assert!(failures.is_empty(), "{failures:?}");
        total += fetched;
    }
    assert!(total > 0);
    // Every fetcher has logged out: nothing holds the expunged bodies any more.
    for _ in 0..1000 {
        a.cmd("NOOP");
        if count(&srv, "bodies") == (MESSAGES - EXPUNGES) as i64 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    assert_eq!(count(&srv, "messages"), (MESSAGES - EXPUNGES) as i64);
    assert_eq!(count(&srv, "bodies"), (MESSAGES - EXPUNGES) as i64);
}

/// At startup nothing is held: bodies a crash left behind are collected.
#[test]
fn startup_collects_bodies_nothing_uses() {
    let dir = TempDir::new("xe-startup");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    a.append("INBOX", "", &message("keep", "k"));
    drop(a);
    let store = &srv.ctx.store;
    execute_sql(
        &srv,
        "INSERT INTO bodies (user_id, hash, size, parsed) SELECT id, x'00', 1, x'' FROM users LIMIT 1;
         INSERT INTO body_chunks (body_id, start, data) VALUES ((SELECT max(id) FROM bodies), 0, x'41');",
        "INSERT INTO bodies (user_id, hash, size, parsed) SELECT id, '\\x00', 1, '' FROM users LIMIT 1;
         INSERT INTO body_chunks (body_id, start, data) VALUES ((SELECT max(id) FROM bodies), 0, '\\x41');",
    );
    assert_eq!(count(&srv, "bodies"), 2);
    assert_eq!(count(&srv, "body_chunks"), 2);
    store.collect_orphans().unwrap();
    assert_eq!(count(&srv, "bodies"), 1);
    // The body's bytes go with it.
    assert_eq!(count(&srv, "body_chunks"), 1);
}
