//! Hostile input and resource limits: each limit just under (works) and just over (the
//! documented answer), sequence sets far larger than the mailbox, pipelining, slow and
//! never-reading clients.

mod common;
use common::*;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use liteimap::imap::conn::Limits;
use liteimap::server::Config;

fn start_with_limits(dir: &TempDir, limits: Limits) -> TestServer {
    TestServer::start_with(
        dir,
        Config {
            limits,
            auth_failure_delay: Duration::ZERO,
            ..Config::default()
        },
    )
}

fn last(lines: &[String]) -> &str {
    lines.last().map(String::as_str).unwrap_or("")
}

#[test]
fn command_line_length_just_under_and_just_over() {
    let dir = TempDir::new("line");
    let srv = TestServer::start(&dir);
    let max = Limits::default().max_line;
    assert_eq!(max, 64 * 1024);

    // `t1 LOGIN alice "ppp…"`: exactly max_line bytes before the CRLF.
    let mut c = srv.connect();
    let prefix = "t1 LOGIN alice \"";
    let password = "p".repeat(max - prefix.len() - 1);
    let line = format!("{prefix}{password}\"");
    assert_eq!(line.len(), max);
    c.send(format!("{line}\r\n").as_bytes());
    let r = c.until_tagged("t1");
    assert!(
        last(&r).starts_with("TAG NO [AUTHENTICATIONFAILED]"),
        "{r:?}"
    );
    let r = c.cmd("NOOP");
    assert_eq!(last(&r), "TAG OK NOOP completed");

    // One byte more: BYE, and the connection is closed.
    let mut c = srv.connect();
    let password = "p".repeat(max - prefix.len());
    c.send(format!("{prefix}{password}\"\r\n").as_bytes());
    assert_eq!(c.read_line(), "* BYE Command line longer than 65536 bytes");
    assert!(c.is_closed());

    // A line that never ends is cut off at the limit too (nothing waits for its CRLF).
    let mut c = srv.connect();
    c.send(&vec![b'x'; max + 10]);
    assert_eq!(c.read_line(), "* BYE Command line longer than 65536 bytes");
    assert!(c.is_closed());

    // Everyone else is still served.
    let mut other = srv.login(ALICE);
    assert_eq!(last(&other.cmd("NOOP")), "TAG OK NOOP completed");
}

#[test]
fn literal_size_just_under_and_just_over() {
    let dir = TempDir::new("literal");
    let srv = start_with_limits(
        &dir,
        Limits {
            max_literal: 1000,
            ..Limits::default()
        },
    );
    let mut c = srv.login(ALICE);
    let msg = |n: usize| {
        let mut m = b"Subject: x\r\n\r\n".to_vec();
        m.resize(n, b'a');
        m
    };
    assert!(c.append("INBOX", "", &msg(1000)).contains("OK"));
    // Synchronising: refused before the client sends a byte of it.
    let r = c.cmd_literal("APPEND INBOX", &msg(1001), "");
    assert_eq!(
        r,
        vec!["TAG NO [TOOBIG] Literal of 1001 bytes exceeds the limit of 1000 bytes"]
    );
    // Non-synchronising (LITERAL+ syntax): the bytes are on their way; skipping them would
    // mean buffering them, so the command is refused and the connection closed.
    c.send(b"t9 APPEND INBOX {1001+}\r\n");
    assert!(c.read_line().starts_with("t9 NO [TOOBIG]"));
    assert!(c.read_line().starts_with("* BYE"));
    assert!(c.is_closed());
    let mut c = srv.login(ALICE);
    let r = c.cmd("STATUS INBOX (MESSAGES)");
    assert_eq!(r[0], "* STATUS INBOX (MESSAGES 1)");
    assert_eq!(last(&r), "TAG OK STATUS completed");
}

#[test]
fn literals_per_command_just_under_and_just_over() {
    let dir = TempDir::new("literals");
    let srv = start_with_limits(
        &dir,
        Limits {
            max_literals: 3,
            ..Limits::default()
        },
    );
    let mut c = srv.login(ALICE);
    c.cmd("SELECT INBOX");
    // Sends `SEARCH SUBJECT {1} a SUBJECT {1} a …` with `n` literals; the tagged answer.
    let search = |c: &mut Client, n: usize| -> String {
        let tag = c.tag();
        c.send(format!("{tag} SEARCH SUBJECT {{1}}\r\n").as_bytes());
        for i in 1..=n {
            let cont = c.read_line();
            if !cont.starts_with('+') {
                return cont.replacen(&tag, "TAG", 1);
            }
            if i < n {
                c.send(b"a SUBJECT {1}\r\n");
            } else {
                c.send(b"a\r\n");
            }
        }
        last(&c.until_tagged(&tag)).to_string()
    };
    assert_eq!(search(&mut c, 3), "TAG OK SEARCH completed");
    assert_eq!(
        search(&mut c, 4),
        "TAG NO [TOOBIG] Too many literals in one command (limit 3)"
    );
    assert_eq!(last(&c.cmd("NOOP")), "TAG OK NOOP completed");
}

/// `NOT NOT … SEEN` with `n` NOTs, and the same with parentheses.
fn nested(n: usize) -> (String, String) {
    (
        format!("{}SEEN", "NOT ".repeat(n)),
        format!("{}SEEN{}", "(".repeat(n), ")".repeat(n)),
    )
}

#[test]
fn search_nesting_depth() {
    let dir = TempDir::new("nesting");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    c.append("INBOX", "", &message("one", "body"));
    c.cmd("SELECT INBOX");
    let (nots, parens) = nested(8);
    assert_eq!(
        last(&c.cmd(&format!("SEARCH {nots}"))),
        "TAG OK SEARCH completed"
    );
    assert_eq!(
        last(&c.cmd(&format!("SEARCH {parens}"))),
        "TAG OK SEARCH completed"
    );
    let r = c.cmd(&format!("SEARCH OR {} ALL", nested(7).0));
    assert_eq!(r, ["* SEARCH 1", "TAG OK SEARCH completed"]);
    let (nots, parens) = nested(9);
    for q in [nots, parens] {
        assert_eq!(
            last(&c.cmd(&format!("UID SEARCH {q}"))),
            "TAG BAD Could not parse command (SEARCH keys may nest at most 8 deep: \
             parentheses, NOT, OR)"
        );
    }
    // Deep nesting elsewhere is just unparseable.
    assert_eq!(
        last(&c.cmd(&format!("FETCH 1 {}", "(".repeat(20)))),
        "TAG BAD Could not parse command"
    );
}

#[test]
fn search_nesting_depth_configured_lower() {
    let dir = TempDir::new("nesting2");
    let srv = start_with_limits(
        &dir,
        Limits {
            max_search_depth: 3,
            ..Limits::default()
        },
    );
    let mut c = srv.login(ALICE);
    c.cmd("SELECT INBOX");
    assert_eq!(
        last(&c.cmd("SEARCH NOT (OR SEEN DRAFT)")),
        "TAG OK SEARCH completed"
    );
    assert_eq!(
        last(&c.cmd("SEARCH NOT (OR SEEN NOT DRAFT)")),
        "TAG BAD SEARCH keys nested 4 deep (parentheses, NOT, OR); the limit is 3"
    );
}

#[test]
fn pipelined_commands_just_under_and_just_over() {
    let dir = TempDir::new("pipeline");
    let srv = start_with_limits(
        &dir,
        Limits {
            max_pipelined: 5,
            ..Limits::default()
        },
    );
    let mut c = srv.login(ALICE);
    let batch = |c: &mut Client, n: usize| -> Vec<String> {
        // The server is waiting for input when the batch arrives.
        std::thread::sleep(Duration::from_millis(200));
        let tags: Vec<String> = (0..n).map(|_| c.tag()).collect();
        let mut bytes = Vec::new();
        for t in &tags {
            bytes.extend_from_slice(format!("{t} NOOP\r\n").as_bytes());
        }
        c.send(&bytes);
        tags.iter()
            .map(|t| last(&c.until_tagged(t)).to_string())
            .collect()
    };
    // The first command plus 5 sent ahead of its answer: all run.
    let r = batch(&mut c, 6);
    assert!(r.iter().all(|l| l == "TAG OK NOOP completed"), "{r:?}");
    // One more: it is refused, and so is every later one of the same burst.
    let r = batch(&mut c, 8);
    assert!(r[..6].iter().all(|l| l == "TAG OK NOOP completed"), "{r:?}");
    for l in &r[6..] {
        assert_eq!(
            l,
            "TAG NO [LIMIT] More than 5 commands sent ahead of their answers; read the \
             responses, then send it again"
        );
    }
    // A client that reads its answers starts afresh.
    assert_eq!(last(&c.cmd("NOOP")), "TAG OK NOOP completed");
    let r = batch(&mut c, 6);
    assert!(r.iter().all(|l| l == "TAG OK NOOP completed"), "{r:?}");
}

#[test]
fn pipelined_extension_commands_count_too() {
    let dir = TempDir::new("pipeline-ext");
    let srv = start_with_limits(
        &dir,
        Limits {
            max_pipelined: 2,
            ..Limits::default()
        },
    );
    let mut c = srv.login(ALICE);
    c.cmd("SELECT INBOX");
    std::thread::sleep(Duration::from_millis(200));
    // SEARCH RETURN is parsed by the extension layer, not by imap-codec: the limit is the same.
    let tags: Vec<String> = (0..4).map(|_| c.tag()).collect();
    let mut bytes = Vec::new();
    for t in &tags {
        bytes.extend_from_slice(format!("{t} SEARCH RETURN (COUNT) ALL\r\n").as_bytes());
    }
    c.send(&bytes);
    let r: Vec<String> = tags
        .iter()
        .map(|t| last(&c.until_tagged(t)).to_string())
        .collect();
    assert!(
        r[..3].iter().all(|l| l == "TAG OK SEARCH completed"),
        "{r:?}"
    );
    assert!(
        r[3].starts_with("TAG NO [LIMIT] More than 2 commands"),
        "{r:?}"
    );
}

#[test]
fn login_timeout_counts_from_the_connection_not_per_byte() {
    let dir = TempDir::new("logintimeout");
    let srv = TestServer::start_with(
        &dir,
        Config {
            login_timeout: Duration::from_secs(2),
            auth_failure_delay: Duration::ZERO,
            ..Config::default()
        },
    );
    // Logging in within the time works, and a logged-in client is not held to it.
    let mut ok = srv.connect();
    assert!(last(&ok.cmd("LOGIN alice wonderland")).starts_with("TAG OK"));

    // A client that dribbles a byte every 300 ms (never a whole line) is still cut off.
    let started = Instant::now();
    let mut slow = srv.connect();
    let mut closed_after = None;
    for b in b"t1 NOOP NOOP NOOP NOOP NOOP NOOP NOOP NOOP"
        .iter()
        .cycle()
        .take(30)
    {
        if slow.writer_mut().write_all(&[*b]).is_err() {
            closed_after = Some(started.elapsed());
            break;
        }
        std::thread::sleep(Duration::from_millis(300));
        if slow.has_data() {
            assert_eq!(slow.read_line(), "* BYE Autologout: idle for too long");
            closed_after = Some(started.elapsed());
            break;
        }
    }
    let closed_after = closed_after.expect("the dribbling client was not disconnected");
    assert!(
        closed_after >= Duration::from_secs(2) && closed_after < Duration::from_secs(5),
        "{closed_after:?}"
    );
    std::thread::sleep(Duration::from_millis(500));
    assert_eq!(last(&ok.cmd("NOOP")), "TAG OK NOOP completed");
}

#[test]
fn slow_client_one_byte_at_a_time_is_served_and_others_are_not_held_up() {
    let dir = TempDir::new("slow");
    let srv = TestServer::start(&dir);
    let mut slow = srv.login(ALICE);
    let mut fast = srv.login(BOB);
    let mut fast_done = 0;
    for b in b"s1 NOOP\r\n" {
        slow.send(&[*b]);
        // Meanwhile another client gets answers at once.
        let t = Instant::now();
        assert_eq!(last(&fast.cmd("NOOP")), "TAG OK NOOP completed");
        assert!(t.elapsed() < Duration::from_secs(2));
        fast_done += 1;
        std::thread::sleep(Duration::from_millis(400));
    }
    assert_eq!(slow.until_tagged("s1"), ["TAG OK NOOP completed"]);
    assert_eq!(fast_done, 9);
}

#[test]
fn sequence_sets_stay_proportional_to_the_mailbox() {
    let dir = TempDir::new("seqsets");
    // A 100,000-member set is ~590 KB of command line.
    let srv = start_with_limits(
        &dir,
        Limits {
            max_line: 1024 * 1024,
            ..Limits::default()
        },
    );
    let mut c = srv.login(ALICE);
    for i in 0..3 {
        c.append("INBOX", "", &message(&format!("m{i}"), "body"));
    }
    c.cmd("SELECT INBOX");
    let r = c.cmd("UID FETCH 1:4294967295 (UID)");
    assert_eq!(
        r,
        [
            "* 1 FETCH (UID 1)",
            "* 2 FETCH (UID 2)",
            "* 3 FETCH (UID 3)",
            "TAG OK UID FETCH completed"
        ]
    );
    let r = c.cmd("UID FETCH *:1 (UID)");
    assert_eq!(r.len(), 4, "{r:?}");
    let r = c.cmd("FETCH *:1 (UID)");
    assert_eq!(r.len(), 4, "{r:?}");
    assert_eq!(
        last(&c.cmd("FETCH 1:4294967295 (UID)")),
        "TAG BAD Sequence number beyond the mailbox (3 messages)"
    );
    let many: Vec<String> = (1..=100_000).map(|i| i.to_string()).collect();
    let many = many.join(",");
    let r = c.cmd(&format!("UID FETCH {many} (UID)"));
    assert_eq!(r.len(), 4, "{:?}", &r[r.len().saturating_sub(2)..]);
    let r = c.cmd(&format!("UID SEARCH UID {many}"));
    assert_eq!(r, ["* SEARCH 1 2 3", "TAG OK UID SEARCH completed"]);
    let r = c.cmd(&format!("UID STORE {many} +FLAGS.SILENT (\\Seen)"));
    assert_eq!(last(&r), "TAG OK UID STORE completed");
    let r = c.cmd("UID SEARCH UID 2:4294967295 SEEN");
    assert_eq!(r, ["* SEARCH 2 3", "TAG OK UID SEARCH completed"]);
}

#[test]
fn client_that_never_reads_is_disconnected_and_others_are_served() {
    let dir = TempDir::new("noread");
    let srv = start_with_limits(
        &dir,
        Limits {
            write_timeout: Duration::from_secs(1),
            ..Limits::default()
        },
    );
    // 4 × 4 MB: more than the socket buffers hold.
    for i in 0..4u8 {
        let mut m = message(&format!("big{i}"), "");
        m.extend(std::iter::repeat_n(b'a' + i, 4 * 1024 * 1024));
        store_message(&srv, "alice", "INBOX", m);
    }
    let mut c = Client::from_stream(small_buffer_stream(srv.port));
    c.read_line();
    assert!(last(&c.cmd("LOGIN alice wonderland")).starts_with("TAG OK"));
    c.cmd("SELECT INBOX");
    c.send(b"x FETCH 1:* BODY[]\r\n");
    // Not reading. Others are served meanwhile.
    let mut other = srv.login(ALICE);
    other.cmd("SELECT INBOX");
    assert_eq!(
        last(&other.cmd("FETCH 1 RFC822.SIZE")),
        "TAG OK FETCH completed"
    );
    std::thread::sleep(Duration::from_secs(3));
    // Now read what was sent: part of the response, then the end of the connection.
    let mut got = 0usize;
    let mut buf = vec![0; 64 * 1024];
    let stream = c.writer_mut();
    stream
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let reader = c.reader_mut();
    let end = loop {
        match reader.read(&mut buf) {
            Ok(0) => break None,
            Ok(n) => got += n,
            Err(e) => break Some(e.kind()),
        }
    };
    // Closed by the server (EOF, or a reset for the bytes it never took), not a read timeout.
    assert!(
        matches!(end, None | Some(std::io::ErrorKind::ConnectionReset)),
        "{end:?}"
    );
    assert!(got < 16 * 1024 * 1024, "the whole response arrived: {got}");
    assert_eq!(
        last(&other.cmd("FETCH 4 RFC822.SIZE")),
        "TAG OK FETCH completed"
    );
}
