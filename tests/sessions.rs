//! Many sessions on one mailbox: what each learns of the others' changes, and when (RFC 3501
//! §7.4.1, RFC 2177 IDLE, RFC 2180), \Recent, autologout, PREAUTH over stdio.

mod common;
use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::Duration;

use common::*;
use liteimap::server::Config;

fn select(c: &mut Client, mailbox: &str) -> Vec<String> {
    let r = c.cmd(&format!("SELECT {mailbox}"));
    assert!(r.last().unwrap().starts_with("TAG OK"), "{r:?}");
    r
}

fn fill(c: &mut Client, n: usize) {
    for i in 1..=n {
        let r = c.append("INBOX", "", &message(&format!("m{i}"), "body"));
        assert!(r.starts_with("TAG OK"), "{r}");
    }
}

#[test]
fn append_in_one_session_is_exists_in_another_at_noop() {
    let dir = TempDir::new("s-append");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    let mut b = srv.login(ALICE);
    fill(&mut a, 2);
    select(&mut b, "INBOX");
    fill(&mut a, 1);
    // RECENT counts every message recent in this session: the two claimed at SELECT and
    // the new one.
    assert_eq!(
        b.cmd("NOOP"),
        vec!["* 3 EXISTS", "* 3 RECENT", "TAG OK NOOP completed"]
    );
    // Nothing new: nothing said.
    assert_eq!(b.cmd("NOOP"), vec!["TAG OK NOOP completed"]);
}

#[test]
fn own_append_to_selected_mailbox_is_announced_before_ok() {
    let dir = TempDir::new("s-own");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    select(&mut a, "INBOX");
    let tag = a.tag();
    let m = message("x", "y");
    a.send(format!("{tag} APPEND INBOX {{{}}}\r\n", m.len()).as_bytes());
    assert!(a.read_line().starts_with('+'));
    a.send(&m);
    a.send(b"\r\n");
    let r = a.until_tagged(&tag);
    assert_eq!(r[0], "* 1 EXISTS");
    assert_eq!(r[1], "* 1 RECENT");
    assert!(r[2].starts_with("TAG OK [APPENDUID "), "{r:?}");
}

#[test]
fn idle_pushes_exists_at_once_and_done_ends_it() {
    let dir = TempDir::new("s-idle");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    let mut b = srv.login(ALICE);
    fill(&mut a, 1);
    select(&mut b, "INBOX");
    let tag = b.tag();
    b.send(format!("{tag} IDLE\r\n").as_bytes());
    assert_eq!(b.read_line(), "+ idling");
    fill(&mut a, 1);
    assert_eq!(b.read_line(), "* 2 EXISTS");
    assert_eq!(b.read_line(), "* 2 RECENT");
    // A flag change by A reaches B while it idles.
    assert!(a.cmd("SELECT INBOX").last().unwrap().starts_with("TAG OK"));
    assert_eq!(
        a.cmd("STORE 1 +FLAGS (\\Flagged)"),
        vec!["* 1 FETCH (FLAGS (\\Flagged))", "TAG OK STORE completed"]
    );
    // B holds message 1 as \\Recent (it selected first).
    assert_eq!(b.read_line(), "* 1 FETCH (FLAGS (\\Flagged \\Recent))");
    // An expunge is pushed too: IDLE is an allowed point. Whether B hears of the \\Deleted
    // flag before the EXPUNGE depends on when its wake-up runs (both are allowed by RFC 3501:
    // a FETCH for a message about to go is optional), so the FETCH may or may not come first.
    a.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)");
    a.cmd("EXPUNGE");
    let mut line = b.read_line();
    if line.contains("FETCH") {
        assert_eq!(line, "* 1 FETCH (FLAGS (\\Flagged \\Deleted \\Recent))");
        line = b.read_line();
    }
    assert_eq!(line, "* 1 EXPUNGE");
    b.send(b"DONE\r\n");
    assert_eq!(b.until_tagged(&tag), vec!["TAG OK IDLE terminated"]);
    assert_eq!(
        b.cmd("FETCH 1 (UID)"),
        vec!["* 1 FETCH (UID 2)", "TAG OK FETCH completed"]
    );
}

#[test]
fn store_in_one_session_is_fetch_flags_in_another_and_not_echoed() {
    let dir = TempDir::new("s-store");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    let mut b = srv.login(ALICE);
    fill(&mut a, 2);
    select(&mut a, "INBOX");
    select(&mut b, "INBOX");
    // A selected first, so it holds both messages as \\Recent.
    assert_eq!(
        a.cmd("STORE 2 +FLAGS (\\Answered $Done)"),
        vec![
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Done)",
            "* 2 FETCH (FLAGS (\\Answered $Done \\Recent))",
            "TAG OK STORE completed"
        ]
    );
    // A is not told twice.
    assert_eq!(a.cmd("NOOP"), vec!["TAG OK NOOP completed"]);
    assert_eq!(
        b.cmd("NOOP"),
        vec![
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Done)",
            "* 2 FETCH (FLAGS (\\Answered $Done))",
            "TAG OK NOOP completed"
        ]
    );
}

#[test]
fn expunge_elsewhere_waits_while_fetch_by_sequence_number_runs() {
    let dir = TempDir::new("s-expunge");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    let mut b = srv.login(ALICE);
    fill(&mut a, 4);
    select(&mut a, "INBOX");
    select(&mut b, "INBOX");
    a.cmd("STORE 2 +FLAGS.SILENT (\\Deleted)");
    assert_eq!(
        a.cmd("EXPUNGE"),
        vec!["* 2 EXPUNGE", "TAG OK EXPUNGE completed"]
    );
    // B still numbers 4 messages: FETCH 3 is still UID 3, no EXPUNGE during FETCH.
    let r = b.cmd("FETCH 3:4 (UID)");
    assert_eq!(
        r,
        vec![
            "* 3 FETCH (UID 3)",
            "* 4 FETCH (UID 4)",
            "TAG OK FETCH completed"
        ]
    );
    // The vanished message is still readable for B, which still numbers it (RFC 2180
    // §4.1.1; tests/expunged_elsewhere.rs has the rest).
    assert_eq!(
        b.cmd("FETCH 2 (UID)"),
        vec!["* 2 FETCH (UID 2)", "TAG OK FETCH completed"]
    );
    // SEARCH by sequence number sees the old numbering too.
    assert_eq!(
        b.cmd("SEARCH ALL"),
        vec!["* SEARCH 1 3 4", "TAG OK SEARCH completed"]
    );
    // At NOOP the expunge arrives; then the numbers shift.
    assert_eq!(b.cmd("NOOP"), vec!["* 2 EXPUNGE", "TAG OK NOOP completed"]);
    assert_eq!(
        b.cmd("FETCH 3 (UID)"),
        vec!["* 3 FETCH (UID 4)", "TAG OK FETCH completed"]
    );
}

#[test]
fn uid_commands_may_carry_pending_expunges() {
    let dir = TempDir::new("s-uid");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    let mut b = srv.login(ALICE);
    fill(&mut a, 3);
    select(&mut a, "INBOX");
    select(&mut b, "INBOX");
    a.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)");
    a.cmd("EXPUNGE");
    let r = b.cmd("UID FETCH 3 (FLAGS)");
    assert_eq!(
        r,
        vec![
            "* 3 FETCH (UID 3 FLAGS ())",
            "* 1 EXPUNGE",
            "TAG OK UID FETCH completed"
        ]
    );
}

#[test]
fn three_sessions_expunging_overlapping_sets() {
    let dir = TempDir::new("s-three");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    let mut b = srv.login(ALICE);
    let mut c = srv.login(ALICE);
    fill(&mut a, 6);
    for s in [&mut a, &mut b, &mut c] {
        select(s, "INBOX");
    }
    a.cmd("STORE 1:3 +FLAGS.SILENT (\\Deleted)");
    b.cmd("STORE 2:4 +FLAGS.SILENT (\\Deleted)");
    let ra = a.cmd("EXPUNGE");
    let rb = b.cmd("EXPUNGE");
    // A removed 1..4 (B's flags had landed); B learns of them as expunges of its own view.
    assert_eq!(ra.last().unwrap(), "TAG OK EXPUNGE completed");
    assert_eq!(rb.last().unwrap(), "TAG OK EXPUNGE completed");
    let rc = c.cmd("NOOP");
    let expunges: Vec<&String> = rc.iter().filter(|l| l.ends_with("EXPUNGE")).collect();
    assert_eq!(expunges.len(), 4, "{rc:?}");
    for s in [&mut a, &mut b, &mut c] {
        s.cmd("NOOP");
        assert_eq!(
            s.cmd("FETCH 1:* (UID)"),
            vec![
                "* 1 FETCH (UID 5)",
                "* 2 FETCH (UID 6)",
                "TAG OK FETCH completed"
            ]
        );
    }
}

#[test]
fn recent_is_claimed_by_one_session_only() {
    let dir = TempDir::new("s-recent");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    let mut b = srv.login(ALICE);
    let mut e = srv.login(ALICE);
    fill(&mut a, 2);
    assert!(select(&mut a, "INBOX").contains(&"* 2 RECENT".to_string()));
    assert!(select(&mut b, "INBOX").contains(&"* 0 RECENT".to_string()));
    fill(&mut e, 1);
    // Both see EXISTS; only the first to look gets it as recent.
    assert_eq!(
        a.cmd("NOOP"),
        vec!["* 3 EXISTS", "* 3 RECENT", "TAG OK NOOP completed"]
    );
    assert_eq!(
        b.cmd("NOOP"),
        vec!["* 3 EXISTS", "* 0 RECENT", "TAG OK NOOP completed"]
    );
    assert_eq!(
        a.cmd("FETCH 3 (FLAGS)"),
        vec!["* 3 FETCH (FLAGS (\\Recent))", "TAG OK FETCH completed"]
    );
    assert_eq!(
        b.cmd("FETCH 3 (FLAGS)"),
        vec!["* 3 FETCH (FLAGS ())", "TAG OK FETCH completed"]
    );
    assert_eq!(
        a.cmd("SEARCH RECENT"),
        vec!["* SEARCH 1 2 3", "TAG OK SEARCH completed"]
    );
    assert_eq!(
        b.cmd("SEARCH NEW"),
        vec!["* SEARCH", "TAG OK SEARCH completed"]
    );
    // EXAMINE neither claims nor shows a claimed message as recent.
    let r = e.cmd("EXAMINE INBOX");
    assert!(r.contains(&"* 0 RECENT".to_string()), "{r:?}");
}

#[test]
fn another_connection_writing_the_file_wakes_an_idler() {
    let dir = TempDir::new("s-process");
    let srv = TestServer::start(&dir);
    let mut b = srv.login(ALICE);
    select(&mut b, "INBOX");
    let tag = b.tag();
    b.send(format!("{tag} IDLE\r\n").as_bytes());
    assert_eq!(b.read_line(), "+ idling");
    // A second process: the binary appending through its own connection to the file.
    let exe = env!("CARGO_BIN_EXE_liteimap");
    let mut child = Command::new(exe)
        .args(["--db", srv.db.to_str().unwrap(), "stdio", "--user", "alice"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let m = message("other-process", "hi");
    input
        .write_all(format!("a APPEND INBOX {{{}+}}\r\n", m.len()).as_bytes())
        .unwrap();
    input.write_all(&m).unwrap();
    input.write_all(b"\r\nb LOGOUT\r\n").unwrap();
    drop(input);
    let started = std::time::Instant::now();
    assert_eq!(b.read_line(), "* 1 EXISTS");
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "{:?}",
        started.elapsed()
    );
    assert_eq!(b.read_line(), "* 1 RECENT");
    let _ = child.wait();
    b.send(b"DONE\r\n");
    assert_eq!(b.until_tagged(&tag), vec!["TAG OK IDLE terminated"]);
}

#[test]
fn shutdown_says_bye_to_idlers() {
    let dir = TempDir::new("s-bye");
    let srv = TestServer::start(&dir);
    let mut b = srv.login(ALICE);
    select(&mut b, "INBOX");
    b.send(b"i IDLE\r\n");
    assert_eq!(b.read_line(), "+ idling");
    srv.ctx.shutdown();
    assert_eq!(b.read_line(), "* BYE Server shutting down");
    assert!(b.is_closed());
}

#[test]
fn autologout_before_login_and_when_idle() {
    let dir = TempDir::new("s-timeout");
    let config = Config {
        login_timeout: Duration::from_secs(1),
        idle_timeout: Duration::from_secs(2),
        ..Config::default()
    };
    let srv = TestServer::start_with(&dir, config);
    let mut c = srv.connect();
    assert_eq!(c.read_line(), "* BYE Autologout: idle for too long");
    assert!(c.is_closed());
    // Logged in: the longer timeout applies, and activity resets it.
    let mut d = srv.login(ALICE);
    std::thread::sleep(Duration::from_millis(1500));
    assert_eq!(d.cmd("NOOP"), vec!["TAG OK NOOP completed"]);
    assert_eq!(d.read_line(), "* BYE Autologout: idle for too long");
}

#[test]
fn stdio_speaks_preauth() {
    let dir = TempDir::new("s-stdio");
    let srv = TestServer::start(&dir);
    let db = srv.db.clone();
    srv.stop();
    let exe = env!("CARGO_BIN_EXE_liteimap");
    let mut child = Command::new(exe)
        .args(["--db", db.to_str().unwrap(), "stdio", "--user", "alice"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    let mut out = BufReader::new(child.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(
        line,
        concat!(
            "* PREAUTH [CAPABILITY ",
            common::caps!(),
            "] liteimap: logged in as alice\r\n"
        )
    );
    input
        .write_all(b"a LOGIN alice wonderland\r\nb SELECT INBOX\r\nc LOGOUT\r\n")
        .unwrap();
    let mut all = String::new();
    loop {
        line.clear();
        if out.read_line(&mut line).unwrap() == 0 {
            break;
        }
        all.push_str(&line);
    }
    assert!(all.contains("a BAD LOGIN: already logged in\r\n"), "{all}");
    assert!(
        all.contains("b OK [READ-WRITE] SELECT completed\r\n"),
        "{all}"
    );
    assert!(
        all.ends_with("* BYE liteimap logging out\r\nc OK LOGOUT completed\r\n"),
        "{all}"
    );
    assert!(child.wait().unwrap().success());
    // Unknown user: one clear line, non-zero exit.
    let o = Command::new(exe)
        .args(["--db", db.to_str().unwrap(), "stdio", "--user", "nobody"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    assert!(!o.status.success());
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "liteimap: no such user: nobody\n"
    );
}

/// A commit's wake-ups go out after the committer's own answer (dbpool::after_reply): the
/// appender gets its OK, and every idler on the mailbox still gets its EXISTS.
#[test]
fn every_idler_hears_of_an_append_and_the_appender_gets_its_ok() {
    let dir = TempDir::new("s-idlers");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    fill(&mut a, 1);
    let mut idlers: Vec<(Client, String)> = (0..4)
        .map(|_| {
            let mut c = srv.login(ALICE);
            select(&mut c, "INBOX");
            let tag = c.tag();
            c.send(format!("{tag} IDLE\r\n").as_bytes());
            assert_eq!(c.read_line(), "+ idling");
            (c, tag)
        })
        .collect();
    // Not selected, as the benchmark's appender: its answer is the APPEND's alone.
    let r = a.append("INBOX", "", &message("wake", "up"));
    assert!(r.starts_with("TAG OK [APPENDUID "), "{r}");
    for (c, tag) in &mut idlers {
        assert_eq!(c.read_line(), "* 2 EXISTS");
        // Which idler claims the new message as \Recent is whichever looks first.
        let recent = c.read_line();
        assert!(recent.ends_with(" RECENT"), "{recent}");
        c.send(b"DONE\r\n");
        assert_eq!(c.until_tagged(tag), vec!["TAG OK IDLE terminated"]);
    }
    // A second commit reaches them too, now by a selected appender (STORE).
    select(&mut a, "INBOX");
    a.cmd("STORE 1 +FLAGS.SILENT (\\Flagged)");
    for (i, (c, _)) in idlers.iter_mut().enumerate() {
        // The first to select holds message 1 as \Recent.
        let flags = if i == 0 {
            "* 1 FETCH (FLAGS (\\Flagged \\Recent))"
        } else {
            "* 1 FETCH (FLAGS (\\Flagged))"
        };
        assert_eq!(c.cmd("NOOP"), vec![flags, "TAG OK NOOP completed"]);
    }
}
