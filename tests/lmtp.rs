//! LMTP (RFC 2033): exact reply lines over a raw socket, and Python's smtplib.LMTP as a real
//! client. Deliveries are checked through IMAP.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::net::TcpStream;
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use common::{
    ids_masked, port_after, sqlite_only, Lines, TempDir, TestServer, ALICE, BOB, CREATED,
};
use liteimap::lmtp;

struct Lmtp {
    srv: TestServer,
    port: u16,
}

fn start(dir: &TempDir, max_message_size: u64, domains: &[&str]) -> Lmtp {
    let srv = TestServer::start(dir);
    let listener = async_std::task::block_on(lmtp::bind_tcp("127.0.0.1:0")).unwrap();
    let port = listener.local_addr().unwrap().port();
    let settings = Arc::new(lmtp::Settings {
        max_message_size,
        domains: domains.iter().map(|d| d.to_string()).collect(),
        hostname: "lmtp.test".into(),
        max_connections: 100,
        ..lmtp::Settings::default()
    });
    let ctx = srv.ctx.clone();
    std::thread::spawn(move || {
        async_std::task::block_on(lmtp::serve(ctx, settings, listener));
    });
    Lmtp { srv, port }
}

/// A raw LMTP connection: write bytes, read reply lines.
type Raw = Lines;

fn raw(port: u16) -> Raw {
    raw_on(TcpStream::connect(("127.0.0.1", port)).unwrap())
}

/// Read the LMTP greeting (whatever the host name) on a connected stream.
fn raw_on(s: TcpStream) -> Raw {
    let (raw, greeting) = Lines::from_stream(s);
    assert!(greeting.starts_with("220 ") && greeting.ends_with(" LMTP liteimap ready"));
    raw
}

const LHLO_REPLY: [&str; 5] = [
    "250-lmtp.test",
    "250-SIZE 100000",
    "250-8BITMIME",
    "250-PIPELINING",
    "250 ENHANCEDSTATUSCODES",
];

/// Run a Python script with the LMTP port as argv[1] (python3 is installed by .ci/run).
fn python(port: u16, script: &str) -> Option<String> {
    const PRELUDE: &str = r#"
import smtplib, sys
port = int(sys.argv[1])

def send(frm, rcpts, msg, opts=()):
    """One transaction; returns {recipient: "code text"} with every RCPT and DATA reply."""
    c = smtplib.LMTP('127.0.0.1', port)
    c.ehlo('client.test')
    code, resp = c.mail(frm, list(opts))
    if code != 250:
        c.quit()
        return {'MAIL': '%d %s' % (code, resp.decode())}
    out, ok = {}, []
    for r in rcpts:
        code, resp = c.rcpt(r)
        if code == 250:
            ok.append(r)
        else:
            out[r] = '%d %s' % (code, resp.decode())
    if ok:
        # smtplib reads one reply after DATA; LMTP sends one per accepted recipient.
        replies = [c.data(msg)] + [c.getreply() for _ in ok[1:]]
        for r, (code, resp) in zip(ok, replies):
            out[r] = '%d %s' % (code, resp.decode())
    c.quit()
    return out
"#;
    let out = match Command::new("python3")
        .arg("-c")
        .arg(format!("{PRELUDE}\n{script}"))
        .arg(port.to_string())
        .output()
    {
        Ok(o) => o,
        Err(e) => panic!("python3 could not run ({e}); .ci/run installs it"),
    };
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8(out.stdout).unwrap())
}

fn message_count(srv: &TestServer, user: (&str, &str), mailbox: &str) -> usize {
    let mut c = srv.login(user);
    let r = c.cmd(&format!("STATUS {mailbox} (MESSAGES)"));
    let n = r[0]
        .rsplit_once("MESSAGES ")
        .unwrap()
        .1
        .trim_end_matches(')')
        .to_string();
    n.parse().unwrap()
}

fn fetch_raw(srv: &TestServer, user: (&str, &str), mailbox: &str, seq: u32) -> Vec<u8> {
    let mut c = srv.login(user);
    assert!(c
        .cmd(&format!("EXAMINE {mailbox}"))
        .last()
        .unwrap()
        .starts_with("TAG OK"));
    let r = c.cmd_bytes(&format!("FETCH {seq} BODY.PEEK[]"));
    let first = &r[0];
    let start = first.windows(2).position(|w| w == b"\r\n").unwrap() + 2;
    // "* n FETCH (BODY[] {len}\r\n<bytes>)"
    first[start..first.len() - 1].to_vec()
}

#[test]
fn lhlo_capabilities_and_sequence_errors() {
    let dir = TempDir::new("lmtp-seq");
    let l = start(&dir, 100_000, &[]);
    let mut c = raw(l.port);
    assert_eq!(c.cmd("MAIL FROM:<a@b.c>"), "503 5.5.1 send LHLO first");
    assert_eq!(c.cmd("EHLO x"), "500 5.5.1 this is LMTP: use LHLO");
    assert_eq!(c.cmd("LHLO"), "501 5.5.4 syntax: LHLO hostname");
    c.send("LHLO client.test\r\n");
    assert_eq!(c.lines(5), LHLO_REPLY);
    assert_eq!(
        c.cmd("RCPT TO:<alice@x.org>"),
        "503 5.5.1 need MAIL before RCPT"
    );
    assert_eq!(c.cmd("DATA"), "503 5.5.1 need MAIL before DATA");
    assert_eq!(c.cmd("MAIL FROM:<a@b.c>"), "250 2.1.0 sender OK");
    assert_eq!(c.cmd("MAIL FROM:<a@b.c>"), "503 5.5.1 nested MAIL command");
    assert_eq!(
        c.cmd("RCPT TO:<nobody@x.org>"),
        "550 5.1.1 <nobody@x.org>: no such user"
    );
    assert_eq!(c.cmd("DATA"), "503 5.5.1 no valid recipients");
    assert_eq!(
        c.cmd("RCPT TO:alice"),
        "501 5.1.3 bad recipient address: expected <address>"
    );
    assert_eq!(c.cmd("RSET"), "250 2.0.0 OK");
    assert_eq!(
        c.cmd("RCPT TO:<alice@x.org>"),
        "503 5.5.1 need MAIL before RCPT"
    );
    assert_eq!(c.cmd("MAIL FROM:<> BODY=8BITMIME"), "250 2.1.0 sender OK");
    assert_eq!(c.cmd("RSET"), "250 2.0.0 OK");
    assert_eq!(
        c.cmd("MAIL FROM:<a@b.c> FOO=1"),
        "555 5.5.4 unsupported parameter FOO"
    );
    assert_eq!(
        c.cmd("MAIL FROM:<a@b.c> BODY=BINARYMIME"),
        "501 5.5.4 BODY must be 7BIT or 8BITMIME"
    );
    assert_eq!(c.cmd("NOOP"), "250 2.0.0 OK");
    assert_eq!(
        c.cmd("VRFY alice"),
        "252 2.5.0 cannot VRFY user, but will accept message"
    );
    assert_eq!(c.cmd("EXPN list"), "502 5.5.1 command not implemented");
    assert_eq!(c.cmd("FROB"), "500 5.5.2 command unrecognized");
    let long = format!("NOOP {}", "x".repeat(10_000));
    assert_eq!(c.cmd(&long), "500 5.5.2 line too long");
    assert_eq!(c.cmd("QUIT"), "221 2.0.0 lmtp.test closing connection");
}

#[test]
fn pipelined_transaction_gets_one_reply_per_recipient() {
    let dir = TempDir::new("lmtp-pipe");
    let l = start(&dir, 100_000, &[]);
    let mut c = raw(l.port);
    // Everything in one write: commands, the message and QUIT.
    c.send(concat!(
        "LHLO client.test\r\n",
        "MAIL FROM:<sender@example.net> SIZE=60\r\n",
        "RCPT TO:<alice@example.org>\r\n",
        "RCPT TO:<nobody@example.org>\r\n",
        "RCPT TO:<Bob@example.org>\r\n",
        "DATA\r\n",
        "Subject: pipelined\r\n\r\nhello\r\n.\r\n",
        "QUIT\r\n"
    ));
    assert_eq!(c.lines(5), LHLO_REPLY);
    assert_eq!(
        c.lines(6),
        [
            "250 2.1.0 sender OK",
            "250 2.1.5 <alice@example.org> OK",
            "550 5.1.1 <nobody@example.org>: no such user",
            "250 2.1.5 <Bob@example.org> OK",
            "354 3.0.0 send the message, end with a line holding only \".\"",
            "250 2.0.0 <alice@example.org> delivered",
        ]
    );
    assert_eq!(
        c.lines(2),
        [
            "250 2.0.0 <Bob@example.org> delivered",
            "221 2.0.0 lmtp.test closing connection"
        ]
    );
    assert_eq!(
        fetch_raw(&l.srv, ALICE, "INBOX", 1),
        b"Return-Path: <sender@example.net>\r\nDelivered-To: alice@example.org\r\nSubject: pipelined\r\n\r\nhello\r\n"
    );
    // "Bob" found user bob: the one user whose name matches ignoring case.
    assert_eq!(
        fetch_raw(&l.srv, BOB, "INBOX", 1),
        b"Return-Path: <sender@example.net>\r\nDelivered-To: Bob@example.org\r\nSubject: pipelined\r\n\r\nhello\r\n"
    );
}

#[test]
fn oversize_message_is_refused_for_every_recipient() {
    let dir = TempDir::new("lmtp-big");
    let l = start(&dir, 1000, &[]);
    let mut c = raw(l.port);
    c.send("LHLO client.test\r\n");
    c.lines(5);
    assert_eq!(
        c.cmd("MAIL FROM:<a@b.c> SIZE=1001"),
        "552 5.3.4 message size exceeds fixed maximum message size (1000 bytes)"
    );
    // Without a SIZE declaration the limit is enforced while reading DATA.
    assert_eq!(c.cmd("MAIL FROM:<a@b.c>"), "250 2.1.0 sender OK");
    c.cmd("RCPT TO:<alice@x>");
    c.cmd("RCPT TO:<bob@x>");
    assert!(c.cmd("DATA").starts_with("354 "));
    c.send("Subject: big\r\n\r\n");
    for _ in 0..100 {
        c.send(&format!("{}\r\n", "y".repeat(78)));
    }
    c.send(".\r\n");
    assert_eq!(
        c.lines(2),
        [
            "552 5.3.4 <alice@x>: message too big (limit 1000 bytes)",
            "552 5.3.4 <bob@x>: message too big (limit 1000 bytes)",
        ]
    );
    // The connection stays usable and nothing was stored.
    assert_eq!(c.cmd("NOOP"), "250 2.0.0 OK");
    assert_eq!(message_count(&l.srv, ALICE, "INBOX"), 0);
    // Exactly at the limit is fine.
    c.cmd("MAIL FROM:<a@b.c>");
    c.cmd("RCPT TO:<alice@x>");
    c.cmd("DATA");
    let body = format!("Subject: fits\r\n\r\n{}\r\n", "z".repeat(1000 - 19));
    assert_eq!(body.len(), 1000);
    c.send(&format!("{body}.\r\n"));
    assert_eq!(c.line(), "250 2.0.0 <alice@x> delivered");
}

#[test]
fn domain_list_and_plus_tags() {
    let dir = TempDir::new("lmtp-dom");
    let l = start(&dir, 100_000, &["example.org"]);
    let mut imap = l.srv.login(ALICE);
    assert_eq!(ids_masked(&imap.cmd("CREATE lists")), vec![CREATED]);
    let mut c = raw(l.port);
    c.send("LHLO client.test\r\n");
    c.lines(5);
    c.cmd("MAIL FROM:<a@b.c>");
    assert_eq!(
        c.cmd("RCPT TO:<alice@other.net>"),
        "550 5.1.2 <alice@other.net>: domain not handled here"
    );
    assert_eq!(
        c.cmd("RCPT TO:<alice+lists@Example.ORG>"),
        "250 2.1.5 <alice+lists@Example.ORG> OK"
    );
    assert_eq!(
        c.cmd("RCPT TO:<alice+nosuchfolder@example.org>"),
        "250 2.1.5 <alice+nosuchfolder@example.org> OK"
    );
    c.cmd("DATA");
    c.send("Subject: tagged\r\n\r\nx\r\n.\r\n");
    assert_eq!(
        c.lines(2),
        [
            "250 2.0.0 <alice+lists@Example.ORG> delivered",
            "250 2.0.0 <alice+nosuchfolder@example.org> delivered",
        ]
    );
    assert_eq!(message_count(&l.srv, ALICE, "lists"), 1);
    assert_eq!(message_count(&l.srv, ALICE, "INBOX"), 1);
}

/// A `+folder` tag is a mailbox name by IMAP's one rule: `inbox/x` is INBOX/x, and a tag that
/// is no valid name (`..`, a wildcard, bad modified UTF-7) names no folder, so INBOX gets it.
#[test]
fn plus_tags_follow_the_imap_rule_for_names() {
    let dir = TempDir::new("lmtp-names");
    let l = start(&dir, 100_000, &[]);
    let mut imap = l.srv.login(ALICE);
    assert_eq!(ids_masked(&imap.cmd("CREATE INBOX/lists")), vec![CREATED]);
    let mut c = raw(l.port);
    c.send("LHLO client.test\r\n");
    c.lines(5);
    c.cmd("MAIL FROM:<a@b.c>");
    let rcpts = ["alice+inbox/lists@x", "alice+../etc@x", "alice+&Jjo@x"];
    for r in rcpts {
        assert_eq!(
            c.cmd(&format!("RCPT TO:<{r}>")),
            format!("250 2.1.5 <{r}> OK")
        );
    }
    c.cmd("DATA");
    c.send("Subject: tagged\r\n\r\nx\r\n.\r\n");
    assert_eq!(
        c.lines(3),
        rcpts.map(|r| format!("250 2.0.0 <{r}> delivered"))
    );
    assert_eq!(message_count(&l.srv, ALICE, "INBOX/lists"), 1);
    assert_eq!(message_count(&l.srv, ALICE, "INBOX"), 2);
}

#[test]
fn smtplib_single_and_multiple_recipients() {
    let dir = TempDir::new("lmtp-py");
    let l = start(&dir, 100_000, &[]);
    let Some(out) = python(
        l.port,
        r#"
print(send('s@example.net', ['alice@example.org'], 'Subject: one\r\n\r\nhi\r\n'))
c = smtplib.LMTP('127.0.0.1', port)
refused = c.sendmail('s@example.net', ['alice@example.org', 'ghost@example.org', 'bob@example.org'],
                     'Subject: three\r\n\r\nhi\r\n')
print(sorted(refused.items()))
print(c.getreply())  # the second accepted recipient's reply after DATA
c.quit()
"#,
    ) else {
        return;
    };
    assert_eq!(
        out,
        concat!(
            "{'alice@example.org': '250 2.0.0 <alice@example.org> delivered'}\n",
            "[('ghost@example.org', (550, b'5.1.1 <ghost@example.org>: no such user'))]\n",
            "(250, b'2.0.0 <bob@example.org> delivered')\n"
        )
    );
    assert_eq!(message_count(&l.srv, ALICE, "INBOX"), 2);
    assert_eq!(message_count(&l.srv, BOB, "INBOX"), 1);
}

#[test]
fn smtplib_dot_stuffing_arrives_unstuffed() {
    let dir = TempDir::new("lmtp-dots");
    let l = start(&dir, 100_000, &[]);
    let body = "Subject: dots\r\n\r\n.\r\n..two\r\n.three\r\n . space\r\nend.\r\n.\r\n.";
    let Some(out) = python(
        l.port,
        &format!(
            "print(send('s@example.net', ['alice@example.org'], {body:?} + '\\r\\n'))",
            body = body
        ),
    ) else {
        return;
    };
    assert!(out.contains("250 2.0.0"), "{out}");
    let want =
        format!("Return-Path: <s@example.net>\r\nDelivered-To: alice@example.org\r\n{body}\r\n");
    assert_eq!(
        String::from_utf8(fetch_raw(&l.srv, ALICE, "INBOX", 1)).unwrap(),
        want
    );
}

#[test]
fn smtplib_oversize_and_tag_folder() {
    let dir = TempDir::new("lmtp-pybig");
    let l = start(&dir, 2000, &[]);
    let mut imap = l.srv.login(ALICE);
    assert_eq!(ids_masked(&imap.cmd("CREATE lists")), vec![CREATED]);
    let Some(out) = python(
        l.port,
        r#"
big = 'Subject: big\r\n\r\n' + ('x' * 70 + '\r\n') * 100
# sendmail declares SIZE= (the server advertises SIZE): refused at MAIL.
c = smtplib.LMTP('127.0.0.1', port)
try:
    c.sendmail('s@example.net', ['alice@example.org'], big)
except smtplib.SMTPSenderRefused as e:
    print(e.smtp_code, e.smtp_error.decode())
c.quit()
# Without SIZE=: refused after the final dot, per recipient.
print(send('s@example.net', ['alice@example.org', 'bob@example.org'], big))
print(send('s@example.net', ['alice+lists@example.org'], 'Subject: t\r\n\r\nx\r\n'))
"#,
    ) else {
        return;
    };
    assert_eq!(
        out,
        concat!(
            "552 5.3.4 message size exceeds fixed maximum message size (2000 bytes)\n",
            "{'alice@example.org': '552 5.3.4 <alice@example.org>: message too big (limit 2000 bytes)', ",
            "'bob@example.org': '552 5.3.4 <bob@example.org>: message too big (limit 2000 bytes)'}\n",
            "{'alice+lists@example.org': '250 2.0.0 <alice+lists@example.org> delivered'}\n"
        )
    );
    assert_eq!(message_count(&l.srv, ALICE, "INBOX"), 0);
    assert_eq!(message_count(&l.srv, ALICE, "lists"), 1);
}

#[test]
fn idle_session_sees_lmtp_delivery_at_once() {
    let dir = TempDir::new("lmtp-idle");
    let l = start(&dir, 100_000, &[]);
    let mut b = l.srv.login(ALICE);
    assert!(b.cmd("SELECT INBOX").last().unwrap().starts_with("TAG OK"));
    let tag = b.tag();
    b.send(format!("{tag} IDLE\r\n").as_bytes());
    assert_eq!(b.read_line(), "+ idling");
    let t0 = std::time::Instant::now();
    let delivered = python(
        l.port,
        "print(send('s@example.net', ['alice@example.org'], 'Subject: idle\\r\\n\\r\\nhi\\r\\n'))",
    );
    if delivered.is_none() {
        let mut c = raw(l.port);
        c.send("LHLO x\r\nMAIL FROM:<s@example.net>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\n");
        c.lines(8);
        c.send("Subject: idle\r\n\r\nhi\r\n.\r\n");
        assert_eq!(c.line(), "250 2.0.0 <alice@example.org> delivered");
    }
    assert_eq!(b.read_line(), "* 1 EXISTS");
    assert_eq!(b.read_line(), "* 1 RECENT");
    // The in-process commit hook, not the 250 ms cross-process watcher (python start-up included).
    assert!(t0.elapsed() < Duration::from_secs(5));
    b.send(b"DONE\r\n");
    assert_eq!(b.until_tagged(&tag), vec!["TAG OK IDLE terminated"]);
}

#[test]
fn unix_socket_replaces_stale_socket_and_delivers() {
    use std::os::unix::fs::PermissionsExt;
    use std::os::unix::net::UnixStream;
    let dir = TempDir::new("lmtp-unix");
    let srv = TestServer::start(&dir);
    let path = dir.path().join("lmtp.sock");
    // A socket left behind by a crashed server (nobody listens on it).
    drop(std::os::unix::net::UnixListener::bind(&path).unwrap());
    let listener = async_std::task::block_on(lmtp::bind_unix(&path)).unwrap();
    let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o660);
    // A second server on the same path is refused while the first listens; a regular file is
    // never removed.
    let err = async_std::task::block_on(lmtp::bind_unix(&path))
        .err()
        .unwrap();
    assert!(err.contains("another process is listening"), "{err}");
    let file = dir.path().join("not-a-socket");
    std::fs::write(&file, b"keep me").unwrap();
    let err = async_std::task::block_on(lmtp::bind_unix(&file))
        .err()
        .unwrap();
    assert!(err.contains("is not a socket"), "{err}");
    assert_eq!(std::fs::read(&file).unwrap(), b"keep me");

    let settings = Arc::new(lmtp::Settings {
        hostname: "lmtp.test".into(),
        ..lmtp::Settings::default()
    });
    let ctx = srv.ctx.clone();
    let t = std::thread::spawn(move || {
        async_std::task::block_on(lmtp::serve(ctx, settings, listener));
    });
    let s = UnixStream::connect(&path).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    w.write_all(
        b"LHLO x\r\nMAIL FROM:<s@x>\r\nRCPT TO:<alice@x>\r\nDATA\r\nSubject: unix\r\n\r\nhi\r\n.\r\nQUIT\r\n",
    )
    .unwrap();
    let mut all = String::new();
    for _ in 0..11 {
        r.read_line(&mut all).unwrap();
    }
    assert!(
        all.ends_with(
            "250 2.0.0 <alice@x> delivered\r\n221 2.0.0 lmtp.test closing connection\r\n"
        ),
        "{all}"
    );
    assert_eq!(message_count(&srv, ALICE, "INBOX"), 1);
    // Shutdown removes the socket.
    srv.ctx.shutdown();
    t.join().unwrap();
    assert!(!path.exists());
}

#[test]
fn shutdown_says_421_to_idle_connections() {
    let dir = TempDir::new("lmtp-stop");
    let l = start(&dir, 100_000, &[]);
    let mut c = raw(l.port);
    c.send("LHLO client.test\r\n");
    assert_eq!(c.lines(5), LHLO_REPLY);
    l.srv.ctx.shutdown();
    assert_eq!(c.line(), "421 4.3.2 server shutting down");
}

/// The binary's flags: `--lmtp-listen` (with the warning off loopback), `--lmtp-socket` and
/// `--lmtp-domain`, then SIGTERM removes the socket.
#[test]
fn serve_flags_start_lmtp_listeners() {
    use std::os::unix::net::UnixStream;
    use std::process::Stdio;
    let dir = TempDir::new("lmtp-bin");
    let db = dir.database("b.db");
    let store = common::open_store(&db);
    store.create_user("alice", "x").unwrap();
    drop(store);
    let sock = dir.path().join("lmtp.sock");
    let mut child = Command::new(env!("CARGO_BIN_EXE_liteimap"))
        .arg("--db")
        .arg(&db)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--lmtp-listen", "0.0.0.0:0"])
        .arg("--lmtp-socket")
        .arg(&sock)
        .args(["--lmtp-domain", "Example.ORG"])
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut log = String::new();
    while log.matches("accepting LMTP on").count() < 2 {
        assert!(err.read_line(&mut log).unwrap() > 0, "{log}");
    }
    assert!(log.contains("LMTP has no authentication"), "{log}");
    let lmtp_port = log
        .lines()
        .find_map(|l| port_after(l, "accepting LMTP on "))
        .expect("no LMTP port in the log");

    let mut c = raw_on(TcpStream::connect(("127.0.0.1", lmtp_port)).unwrap());
    assert!(c.cmd("LHLO x").starts_with("250-"));

    let s = UnixStream::connect(&sock).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    w.write_all(b"LHLO x\r\nMAIL FROM:<s@x>\r\nRCPT TO:<alice@elsewhere.net>\r\nRCPT TO:<alice@example.org>\r\nDATA\r\nSubject: bin\r\n\r\nhi\r\n.\r\n").unwrap();
    let mut lines = Vec::new();
    for _ in 0..11 {
        let mut l = String::new();
        r.read_line(&mut l).unwrap();
        lines.push(l.trim_end().to_string());
    }
    assert_eq!(
        lines[7..],
        [
            "550 5.1.2 <alice@elsewhere.net>: domain not handled here",
            "250 2.1.5 <alice@example.org> OK",
            "354 3.0.0 send the message, end with a line holding only \".\"",
            "250 2.0.0 <alice@example.org> delivered",
        ]
    );
    drop((r, w, c));
    // One log line per refusal and per delivered message.
    let mut more = String::new();
    while !more.contains("delivered, UID") {
        assert!(err.read_line(&mut more).unwrap() > 0, "{more}");
    }
    assert!(
        more.contains(": refused <alice@elsewhere.net>: domain not handled here"),
        "{more}"
    );
    assert!(
        more.contains(
            "message without Message-ID, 20 bytes, from <s@x> to <alice@example.org>, folder INBOX: delivered, UID 1"
        ),
        "{more}"
    );
    // SIGTERM: a graceful stop that removes the socket.
    Command::new("kill")
        .arg(child.id().to_string())
        .status()
        .unwrap();
    assert!(child.wait().unwrap().success());
    assert!(!sock.exists());
}

/// A full disk is a temporary failure the MTA retries (RFC 3463 4.3.1), not a generic error.
#[test]
fn full_disk_is_insufficient_storage() {
    if sqlite_only("the full disk is simulated in the SQLite store (PostgreSQL maps its 53100 to the same error in src/store/pg)") {
        return;
    }
    let dir = TempDir::new("lmtp-full");
    let l = start(&dir, 100_000, &[]);
    l.srv.ctx.store.simulate_full_disk(true);
    let mut c = raw(l.port);
    c.send("LHLO client.test\r\n");
    c.lines(5);
    c.cmd("MAIL FROM:<a@b.c>");
    assert_eq!(c.cmd("RCPT TO:<alice@x>"), "250 2.1.5 <alice@x> OK");
    c.cmd("DATA");
    c.send("Subject: full\r\n\r\nx\r\n.\r\n");
    assert_eq!(
        c.lines(1),
        ["452 4.3.1 <alice@x>: insufficient system storage, try again later"]
    );
    l.srv.ctx.store.simulate_full_disk(false);
    assert_eq!(message_count(&l.srv, ALICE, "INBOX"), 0);
}

/// QUOTA (RFC 9208): a recipient over its quota gets 452 4.2.2 (mailbox full, RFC 3463: a
/// persistent transient failure the MTA retries), one for whom the message alone is larger than
/// the quota a permanent 552 5.2.2; the other recipients of the same message get their copies.
#[test]
fn over_quota_recipients_get_their_own_replies() {
    let dir = TempDir::new("lmtp-quota");
    let l = start(&dir, 100_000, &[]);
    let store = &l.srv.ctx.store;
    let set = |storage| {
        store
            .set_quota(
                "alice",
                liteimap::store::QuotaLimits {
                    storage: Some(storage),
                    ..Default::default()
                },
            )
            .unwrap()
    };
    let body = "x".repeat(300);
    let mut c = raw(l.port);
    c.send("LHLO client.test\r\n");
    c.lines(5);
    set(500);
    // The first copy fits; the second would take alice past 500 octets.
    for expected in [
        "250 2.0.0 <alice@x> delivered",
        "452 4.2.2 <alice@x>: mailbox full (storage quota exceeded), try again later",
    ] {
        c.cmd("MAIL FROM:<a@b.c>");
        c.cmd("RCPT TO:<alice@x>");
        c.cmd("RCPT TO:<bob@x>");
        c.cmd("DATA");
        c.send(&format!("Subject: q\r\n\r\n{body}\r\n.\r\n"));
        assert_eq!(c.lines(2), [expected, "250 2.0.0 <bob@x> delivered"]);
    }
    set(100);
    c.cmd("MAIL FROM:<a@b.c>");
    c.cmd("RCPT TO:<alice@x>");
    c.cmd("DATA");
    c.send(&format!("Subject: q\r\n\r\n{body}\r\n.\r\n"));
    assert_eq!(
        c.lines(1),
        ["552 5.2.2 <alice@x>: message larger than the storage quota"]
    );
    assert_eq!(message_count(&l.srv, ALICE, "INBOX"), 1);
    assert_eq!(message_count(&l.srv, BOB, "INBOX"), 2);
}
