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

#[test]
fn mime_part_bomb_is_cut_into_one_opaque_tail_seen_alike_by_every_command() {
    use liteimap::mime::MAX_PARTS;
    let dir = TempDir::new("partbomb");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    let mut raw = b"Subject: bomb\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n".to_vec();
    let mut tail_start = 0;
    for i in 0..MAX_PARTS + 10 {
        raw.extend_from_slice(b"--b\r\n");
        if i == MAX_PARTS - 1 {
            tail_start = raw.len();
        }
        raw.extend_from_slice(format!("Content-Type: text/plain\r\n\r\nw{i}x\r\n").as_bytes());
    }
    let tail_end = raw.len() - 2;
    raw.extend_from_slice(b"--b--\r\n");
    assert!(c.append("INBOX", "", &raw).contains("OK"));
    c.cmd("SELECT INBOX");

    // The root and MAX_PARTS - 1 parts, then one opaque part for the rest.
    let r = c.cmd("FETCH 1 BODYSTRUCTURE");
    assert_eq!(last(&r), "TAG OK FETCH completed");
    let bs = r.join("\n");
    assert_eq!(bs.matches("\"plain\"").count(), MAX_PARTS - 1);
    assert_eq!(bs.matches("\"octet-stream\"").count(), 1);
    let tail_len = tail_end - tail_start;
    assert!(
        bs.contains(&format!("(\"application\" \"octet-stream\" NIL NIL NIL \"7bit\" {tail_len} NIL NIL NIL NIL) \"mixed\"")),
        "{}",
        &bs[bs.len().saturating_sub(300)..]
    );

    // BODY[n] of the last real part and of the tail; BINARY agrees.
    let r = c.cmd(&format!("FETCH 1 BODY.PEEK[{}]", MAX_PARTS - 1));
    assert_eq!(
        r[0],
        format!(
            "* 1 FETCH (BODY[{}] {{6}}\r\nw{}x)",
            MAX_PARTS - 1,
            MAX_PARTS - 2
        )
    );
    let tail = String::from_utf8_lossy(&raw[tail_start..tail_end]).into_owned();
    let r = c.cmd(&format!("FETCH 1 BODY.PEEK[{MAX_PARTS}]"));
    assert_eq!(
        r[0],
        format!("* 1 FETCH (BODY[{MAX_PARTS}] {{{tail_len}}}\r\n{tail})")
    );
    assert!(tail.starts_with(&format!(
        "Content-Type: text/plain\r\n\r\nw{}x",
        MAX_PARTS - 1
    )));
    assert!(tail.ends_with(&format!("w{}x", MAX_PARTS + 9)));
    let r = c.cmd(&format!("FETCH 1 BINARY.PEEK[{MAX_PARTS}]"));
    assert_eq!(
        r[0],
        format!("* 1 FETCH (BINARY[{MAX_PARTS}] {{{tail_len}}}\r\n{tail})")
    );
    let r = c.cmd(&format!("FETCH 1 BODY.PEEK[{}]", MAX_PARTS + 1));
    assert_eq!(
        r[0],
        format!("* 1 FETCH (BODY[{}] {{0}}\r\n)", MAX_PARTS + 1)
    );

    // SEARCH looks into text parts only: the words of the opaque tail are not text.
    assert_eq!(c.cmd("SEARCH BODY w5x")[0], "* SEARCH 1");
    assert_eq!(
        c.cmd(&format!("SEARCH BODY w{}x", MAX_PARTS - 2))[0],
        "* SEARCH 1"
    );
    assert_eq!(
        c.cmd(&format!("SEARCH BODY w{}x", MAX_PARTS + 5))[0],
        "* SEARCH"
    );
}

#[test]
fn commands_pipelined_behind_a_large_append_still_run() {
    // After a message over 1 MiB the framer is replaced (to give its buffer back); the bytes
    // the client sent behind it must survive that.
    let dir = TempDir::new("bigpipe");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    let mut msg = b"Subject: big\r\n\r\n".to_vec();
    msg.resize(3 * 1024 * 1024 + 17, b'x');
    // LITERAL+: the literal and two more commands in one write.
    let mut burst = format!("a1 APPEND INBOX {{{}+}}\r\n", msg.len()).into_bytes();
    burst.extend_from_slice(&msg);
    burst.extend_from_slice(b"\r\na2 NOOP\r\na3 STATUS INBOX (MESSAGES)\r\n");
    c.send(&burst);
    assert!(c
        .until_tagged("a1")
        .last()
        .unwrap()
        .starts_with("TAG OK [APPENDUID"));
    assert_eq!(c.until_tagged("a2"), vec!["TAG OK NOOP completed"]);
    assert_eq!(
        c.until_tagged("a3"),
        vec!["* STATUS INBOX (MESSAGES 1)", "TAG OK STATUS completed"]
    );
    // Synchronising: after the "+", the literal with the next command right behind it.
    c.send(format!("b1 APPEND INBOX {{{}}}\r\n", msg.len()).as_bytes());
    assert!(c.read_line().starts_with('+'));
    let mut rest = msg.clone();
    rest.extend_from_slice(b"\r\nb2 STATUS INBOX (MESSAGES)\r\n");
    c.send(&rest);
    assert!(c
        .until_tagged("b1")
        .last()
        .unwrap()
        .starts_with("TAG OK [APPENDUID"));
    assert_eq!(
        c.until_tagged("b2"),
        vec!["* STATUS INBOX (MESSAGES 2)", "TAG OK STATUS completed"]
    );
}

#[test]
fn literals_of_logged_in_sessions_wait_for_room_in_the_shared_pool() {
    let dir = TempDir::new("litpool");
    let srv = TestServer::start_with(
        &dir,
        Config {
            literal_memory: 100_000,
            auth_failure_delay: Duration::ZERO,
            ..Config::default()
        },
    );
    let msg = |n: usize| {
        let mut m = b"Subject: x\r\n\r\n".to_vec();
        m.resize(n, b'a');
        m
    };
    let mut a = srv.login(ALICE);
    let mut b = srv.login(BOB);
    a.send(b"a1 APPEND INBOX {80000}\r\n");
    assert!(a.read_line().starts_with('+'));
    assert_eq!(srv.ctx.literal_budget.used(), 80_000);
    // 80,000 + 30,000 bytes do not fit: b's literal waits for a's command to finish.
    b.send(b"b1 APPEND INBOX {30000}\r\n");
    assert!(!b.has_data());
    a.send(&msg(80_000));
    a.send(b"\r\n");
    assert!(a
        .until_tagged("a1")
        .last()
        .unwrap()
        .starts_with("TAG OK [APPENDUID"));
    // a reads its next command: the pool is free, b goes on.
    a.send(b"a2 NOOP\r\n");
    assert_eq!(a.until_tagged("a2"), vec!["TAG OK NOOP completed"]);
    assert!(b.read_line().starts_with('+'));
    b.send(&msg(30_000));
    b.send(b"\r\n");
    assert!(b
        .until_tagged("b1")
        .last()
        .unwrap()
        .starts_with("TAG OK [APPENDUID"));
    // A literal larger than the whole pool waits until it is alone, then goes through.
    assert!(b.append("INBOX", "", &msg(150_000)).contains("OK"));
    // So does a MULTIAPPEND whose literals together are larger: it does not wait for itself.
    let m = msg(60_000);
    b.send(b"b2 APPEND INBOX {60000+}\r\n");
    b.send(&m);
    b.send(b" {60000+}\r\n");
    b.send(&m);
    b.send(b"\r\n");
    assert!(b
        .until_tagged("b2")
        .last()
        .unwrap()
        .starts_with("TAG OK [APPENDUID"));
}

/// Send `TAG LOGIN {8000}` and up to `n` more 8,000-byte literals, each after its `+`;
/// returns the server's answer to the first announcement it does not continue.
fn login_with_literals(c: &mut Client, tag: &str, n: usize) -> String {
    let chunk = vec![b'u'; 8000];
    c.send(format!("{tag} LOGIN {{8000}}\r\n").as_bytes());
    for _ in 0..n {
        let l = c.read_line();
        if !l.starts_with('+') {
            return l;
        }
        c.send(&chunk);
        c.send(b" {8000}\r\n");
    }
    c.read_line()
}

#[test]
fn before_login_a_whole_command_is_at_most_64_kib_and_refused_unread() {
    let dir = TempDir::new("prelogin");
    let srv = TestServer::start(&dir);
    let mut c = srv.connect();
    // Each literal is under the 8 KiB pre-login limit; the ninth would take the command past
    // 64 KiB and is refused before the client sends a byte of it (no "+" for it).
    let r = login_with_literals(&mut c, "a1", 1000);
    assert_eq!(
        r,
        "a1 NO [TOOBIG] Command of more than 65536 bytes (literals included) before login"
    );
    assert_eq!(srv.ctx.pre_auth_budget.used(), 0);
    // The connection goes on; a non-synchronising literal (LITERAL-: at most 4096 bytes each
    // before login) over the command limit closes it (its bytes are on the way), after
    // sixteen literals of the same command were accepted.
    let r = c.cmd("NOOP");
    assert_eq!(last(&r), "TAG OK NOOP completed");
    let mut burst = b"a2 LOGIN".to_vec();
    for _ in 0..17 {
        burst.extend_from_slice(b" {4000+}\r\n");
        burst.extend_from_slice(&[b'u'; 4000]);
    }
    c.send(&burst);
    assert_eq!(
        c.read_line(),
        "a2 NO [TOOBIG] Command of more than 65536 bytes (literals included) before login"
    );
    assert!(c.read_line().starts_with("* BYE"));
    assert!(c.is_closed());
    // A long line is part of the command too: lines after a literal count.
    let mut c = srv.connect();
    c.send(b"a3 LOGIN {8000}\r\n");
    assert!(c.read_line().starts_with('+'));
    c.send(&[b'u'; 8000]);
    c.send(b" \"");
    c.send(&vec![b'p'; 60_000]);
    c.send(b"\"\r\n");
    assert_eq!(
        c.read_line(),
        "* BYE Command longer than 65536 bytes before login"
    );
    // One byte over (the final CRLF not counted), in one write: the read that completes the
    // line must not carry the command past the limit (it did whenever that read began below
    // the limit).
    let mut c = srv.connect();
    c.send(b"a5 LOGIN {8000}\r\n");
    assert!(c.read_line().starts_with('+'));
    let mut rest = vec![b'u'; 8000];
    rest.extend_from_slice(b" \"");
    rest.extend_from_slice(&vec![b'p'; 65_537 + 2 - 17 - 8000 - 2 - 3]);
    rest.extend_from_slice(b"\"\r\n");
    c.send(&rest);
    assert_eq!(
        c.read_line(),
        "* BYE Command longer than 65536 bytes before login"
    );
    // Once logged in, only the normal limits apply: a tenth literal is asked for.
    let mut c = srv.login(ALICE);
    let r = login_with_literals(&mut c, "a4", 9);
    assert!(r.starts_with('+'), "{r}");
}

#[test]
fn commands_before_login_share_a_bounded_pool() {
    let dir = TempDir::new("prepool");
    let srv = TestServer::start_with(
        &dir,
        Config {
            pre_auth_memory: 20_000,
            auth_failure_delay: Duration::ZERO,
            ..Config::default()
        },
    );
    // Two strangers each hold a LOGIN with an 8,000-byte literal half sent: 16,034 bytes.
    let mut a = srv.connect();
    let mut b = srv.connect();
    for (c, tag) in [(&mut a, "a1"), (&mut b, "b1")] {
        c.send(format!("{tag} LOGIN {{8000}}\r\n").as_bytes());
        assert!(c.read_line().starts_with('+'));
        c.send(&[b'u'; 4000]);
    }
    assert_eq!(srv.ctx.pre_auth_budget.used(), 16_034);
    // A third has no room: refused before a byte of its literal is read.
    let mut c = srv.connect();
    c.send(b"c1 LOGIN {8000}\r\n");
    assert_eq!(
        c.read_line(),
        "c1 NO [LIMIT] Too many connections are sending commands before logging in; try again later"
    );
    // A small command still fits.
    assert_eq!(last(&c.cmd("NOOP")), "TAG OK NOOP completed");
    // a finishes (and fails) its LOGIN; once it has read its next command, its room is back.
    a.send(&[b'u'; 4000]);
    a.send(b" x\r\n");
    assert_eq!(
        a.until_tagged("a1"),
        vec!["TAG NO [AUTHENTICATIONFAILED] Authentication failed"]
    );
    assert_eq!(last(&a.cmd("NOOP")), "TAG OK NOOP completed");
    c.send(b"c2 LOGIN {8000}\r\n");
    assert!(c.read_line().starts_with('+'));
    c.send(&[b'u'; 8000]);
    c.send(b" x\r\n");
    assert_eq!(
        c.until_tagged("c2"),
        vec!["TAG NO [AUTHENTICATIONFAILED] Authentication failed"]
    );
    // Logging in gives the room back: b's whole literal is dropped with the connection.
    drop(b);
    let mut d = srv.login(ALICE);
    assert!(d.append("INBOX", "", &[b'm'; 30_000]).contains("OK"));
}

#[test]
fn literal_that_stalls_gives_its_room_back() {
    let dir = TempDir::new("litstall");
    let srv = TestServer::start_with(
        &dir,
        Config {
            limits: Limits {
                write_timeout: Duration::from_millis(300),
                ..Limits::default()
            },
            literal_memory: 100_000,
            auth_failure_delay: Duration::ZERO,
            ..Config::default()
        },
    );
    let mut a = srv.login(ALICE);
    a.send(b"a1 APPEND INBOX {90000}\r\n");
    assert!(a.read_line().starts_with('+'));
    a.send(b"Subject: half\r\n\r\n");
    assert_eq!(srv.ctx.literal_budget.used(), 90_000);
    // Nothing more comes: the connection is closed and its room given back.
    assert_eq!(a.read_line(), "* BYE Autologout: idle for too long");
    assert!(a.is_closed());
    let mut b = srv.login(BOB);
    let mut m = b"Subject: x\r\n\r\n".to_vec();
    m.resize(90_000, b'a');
    assert!(b.append("INBOX", "", &m).contains("OK"));
}
