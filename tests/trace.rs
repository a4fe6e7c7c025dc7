//! Protocol traces (`serve --trace DIR`, `TraceHub`): a session's exact commands and responses,
//! passwords masked, long literals shortened, one file per session, readable under COMPRESS,
//! nothing when tracing is off.

mod common;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use common::{listening_port, Client, TempDir, TestServer, ALICE};
use liteimap::server::Config;
use liteimap::trace::{TraceHub, LITERAL_HEAD};

/// A server whose traces go to `dir/traces` (and to memory).
fn traced(dir: &TempDir) -> (TestServer, PathBuf) {
    let traces = dir.path().join("traces");
    let srv = TestServer::start_with(
        dir,
        Config {
            auth_failure_delay: Duration::ZERO,
            trace_dir: Some(traces.clone()),
            ..Config::default()
        },
    );
    (srv, traces)
}

fn hub(srv: &TestServer) -> &Arc<TraceHub> {
    srv.ctx.trace.as_ref().expect("tracing is on")
}

/// The lines of the last session of `protocol`, as `C: text` / `S: text`.
fn last_session(hub: &TraceHub, protocol: &str) -> Vec<String> {
    let id = hub
        .sessions()
        .iter()
        .rev()
        .find(|s| s.protocol == protocol)
        .expect("a traced session")
        .id;
    hub.lines(id)
        .unwrap()
        .iter()
        .map(|l| format!("{}: {}", if l.from_client { "C" } else { "S" }, l.text))
        .collect()
}

/// The files in `dir`, sorted.
fn files(dir: &Path) -> Vec<PathBuf> {
    let mut f: Vec<PathBuf> = match std::fs::read_dir(dir) {
        Ok(entries) => entries.map(|e| e.unwrap().path()).collect(),
        Err(_) => Vec::new(),
    };
    f.sort();
    f
}

/// A trace file's lines without their time (`HH:MM:SS.mmm `), header lines (`#`) left out.
fn file_lines(path: &Path) -> Vec<String> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| {
            let (time, rest) = l.split_once(' ').unwrap();
            assert_eq!(time.len(), "00:00:00.000".len(), "{l}");
            rest.to_string()
        })
        .collect()
}

/// Send `tag command` (`shown` is how the trace shows it) and return the expected trace
/// lines: the command, then every response line up to the tagged one.
fn exchange(c: &mut Client, command: &str, shown: &str) -> Vec<String> {
    let tag = c.tag();
    c.send(format!("{tag} {command}\r\n").as_bytes());
    let mut expected = vec![format!("C: {tag} {shown}")];
    for l in c.until_tagged(&tag) {
        let l = match l.strip_prefix("TAG ") {
            Some(rest) => format!("{tag} {rest}"),
            None => l,
        };
        expected.push(format!("S: {l}"));
    }
    expected
}

fn read_to_end(c: &mut Client) {
    let mut rest = Vec::new();
    let _ = c.reader_mut().read_to_end(&mut rest);
}

#[test]
fn login_session_is_traced_exactly_with_the_password_masked() {
    let dir = TempDir::new("trace-login");
    let (srv, traces) = traced(&dir);
    let mut c = srv.connect();
    let mut expected = vec![format!("S: {}", c.greeting)];
    expected.extend(exchange(
        &mut c,
        "LOGIN alice wonderland",
        "LOGIN alice ***",
    ));
    expected.extend(exchange(&mut c, "SELECT INBOX", "SELECT INBOX"));
    expected.extend(exchange(&mut c, "LOGOUT", "LOGOUT"));
    read_to_end(&mut c);
    assert_eq!(last_session(hub(&srv), "imap"), expected);
    let f = files(&traces);
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(file_lines(&f[0]), expected);
    let text = std::fs::read_to_string(&f[0]).unwrap();
    assert!(!text.contains("wonderland"), "{text}");
    let name = f[0].file_name().unwrap().to_str().unwrap().to_string();
    assert!(name.ends_with("-imap-1.log"), "{name}");
    let s = &hub(&srv).sessions()[0];
    assert_eq!(
        (s.protocol.as_str(), s.user.as_deref(), s.lines),
        ("imap", Some("alice"), expected.len())
    );
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&f[0]), 0o600);
    assert_eq!(mode(&traces), 0o700);
}

#[test]
fn login_with_a_literal_password_is_masked() {
    let dir = TempDir::new("trace-login-literal");
    let (srv, _traces) = traced(&dir);
    let mut c = srv.connect();
    let r = c.cmd_literal("LOGIN alice", b"wonderland", "");
    assert!(r.last().unwrap().starts_with("TAG OK"), "{r:?}");
    let lines = last_session(hub(&srv), "imap");
    assert_eq!(
        lines[1..4],
        [
            "C: t1 LOGIN alice ***",
            "S: + Ready for literal data",
            "C: ***"
        ]
    );
    assert!(lines[4].starts_with("S: t1 OK"), "{lines:?}");
    assert!(!lines.iter().any(|l| l.contains("wonderland")));
}

#[test]
fn authenticate_plain_is_masked_with_and_without_initial_response() {
    let dir = TempDir::new("trace-auth");
    let (srv, traces) = traced(&dir);
    // "\0alice\0wonderland"
    let plain = "AGFsaWNlAHdvbmRlcmxhbmQ=";

    let mut c = srv.connect();
    let mut expected = vec![format!("S: {}", c.greeting)];
    expected.extend(exchange(
        &mut c,
        &format!("AUTHENTICATE PLAIN {plain}"),
        "AUTHENTICATE PLAIN ***",
    ));
    expected.extend(exchange(&mut c, "NOOP", "NOOP"));
    assert_eq!(last_session(hub(&srv), "imap"), expected);
    drop(c);

    let mut c = srv.connect();
    let mut expected = vec![format!("S: {}", c.greeting)];
    let tag = c.tag();
    c.send(format!("{tag} AUTHENTICATE PLAIN\r\n").as_bytes());
    expected.push(format!("C: {tag} AUTHENTICATE PLAIN"));
    let cont = c.read_line();
    assert!(cont.starts_with('+'), "{cont}");
    expected.push(format!("S: {cont}"));
    c.send(format!("{plain}\r\n").as_bytes());
    expected.push("C: ***".into());
    for l in c.until_tagged(&tag) {
        expected.push(format!("S: {}", l.replacen("TAG ", &format!("{tag} "), 1)));
    }
    assert!(expected.last().unwrap().contains(" OK "), "{expected:?}");
    expected.extend(exchange(&mut c, "NOOP", "NOOP"));
    assert_eq!(last_session(hub(&srv), "imap"), expected);
    // Two sessions, two files; neither has the password.
    let f = files(&traces);
    assert_eq!(f.len(), 2, "{f:?}");
    assert_eq!(file_lines(&f[1]), expected);
    for p in &f {
        let text = std::fs::read_to_string(p).unwrap();
        assert!(
            !text.contains(plain) && !text.contains("wonderland"),
            "{text}"
        );
    }
}

#[test]
fn a_long_append_literal_is_shortened_and_idle_done_shown() {
    let dir = TempDir::new("trace-append");
    let (srv, traces) = traced(&dir);
    let mut c = srv.login(ALICE);
    let body = format!("Subject: big\r\n\r\n{}\r\n", "0123456789".repeat(2000));
    let r = c.cmd_literal("APPEND INBOX", body.as_bytes(), "");
    assert!(r.last().unwrap().starts_with("TAG OK"), "{r:?}");
    c.cmd("SELECT INBOX");
    let fetched = c.cmd("FETCH 1 BODY.PEEK[]");
    assert!(fetched.last().unwrap().starts_with("TAG OK"), "{fetched:?}");
    let tag = c.tag();
    c.send(format!("{tag} IDLE\r\n").as_bytes());
    assert!(c.read_line().starts_with('+'));
    c.send(b"DONE\r\n");
    c.until_tagged(&tag);
    let lines = last_session(hub(&srv), "imap");
    let head: String = body.escape_default().to_string();
    // escape_default writes \r\n as the trace does, and the head is all ASCII.
    let shortened = format!("{}… ({} bytes)", &head[..LITERAL_HEAD + 4], body.len());
    let at = lines
        .iter()
        .position(|l| l.contains("APPEND INBOX"))
        .unwrap();
    assert_eq!(
        lines[at..at + 3],
        [
            format!("C: t2 APPEND INBOX {{{}}}", body.len()),
            "S: + Ready for literal data".into(),
            format!("C: {shortened}"),
        ]
    );
    let at = lines
        .iter()
        .position(|l| l == "C: t4 FETCH 1 BODY.PEEK[]")
        .unwrap();
    assert_eq!(
        lines[at + 1..at + 4],
        [
            format!("S: * 1 FETCH (BODY[] {{{}}}", body.len()),
            format!("S: {shortened}"),
            "S: )".into(),
        ]
    );
    let at = lines.iter().position(|l| l == "C: t5 IDLE").unwrap();
    assert_eq!(lines[at + 2], "C: DONE");
    assert_eq!(lines[at + 3], "S: t5 OK IDLE terminated");
    // The file never holds more of the literal than memory does.
    let f = files(&traces);
    let size = std::fs::metadata(&f[0]).unwrap().len();
    assert!(size < body.len() as u64, "{size}");
}

#[test]
fn compressed_session_is_traced_readably() {
    use flate2::write::DeflateEncoder;
    let dir = TempDir::new("trace-compress");
    let (srv, _traces) = traced(&dir);
    let mut c = srv.login(ALICE);
    let r = c.cmd("COMPRESS DEFLATE");
    assert_eq!(r, ["TAG OK DEFLATE active"]);
    let mut z = DeflateEncoder::new(Vec::new(), flate2::Compression::default());
    z.write_all(b"t3 NOOP\r\nt4 LOGOUT\r\n").unwrap();
    z.flush().unwrap();
    c.send(z.get_ref());
    read_to_end(&mut c);
    let lines = last_session(hub(&srv), "imap");
    let n = lines.len();
    assert_eq!(
        lines[n - 5..],
        [
            "C: t3 NOOP",
            "S: t3 OK NOOP completed",
            "C: t4 LOGOUT",
            "S: * BYE liteimap logging out",
            "S: t4 OK LOGOUT completed",
        ]
    );
}

#[test]
fn lmtp_session_is_traced() {
    let dir = TempDir::new("trace-lmtp");
    let (srv, traces) = traced(&dir);
    let listener = async_std::task::block_on(liteimap::lmtp::bind_tcp("127.0.0.1:0")).unwrap();
    let port = listener.local_addr().unwrap().port();
    let settings = Arc::new(liteimap::lmtp::Settings {
        hostname: "lmtp.test".into(),
        ..liteimap::lmtp::Settings::default()
    });
    let ctx = srv.ctx.clone();
    std::thread::spawn(move || {
        async_std::task::block_on(liteimap::lmtp::serve(ctx, settings, listener));
    });
    let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut r = BufReader::new(s.try_clone().unwrap());
    let mut w = s;
    let message = format!("Subject: hi\r\n\r\n{}\r\n", "z".repeat(300));
    w.write_all(
        format!(
            "LHLO client\r\nMAIL FROM:<s@x>\r\nRCPT TO:<alice@x>\r\nDATA\r\n{message}.\r\nQUIT\r\n"
        )
        .as_bytes(),
    )
    .unwrap();
    let mut got = String::new();
    r.read_to_string(&mut got).unwrap();
    assert!(
        got.ends_with("221 2.0.0 lmtp.test closing connection\r\n"),
        "{got}"
    );
    let lines = last_session(hub(&srv), "lmtp");
    let shortened = format!(
        "{}… ({} bytes)",
        &message.escape_default().to_string()[..LITERAL_HEAD + 4],
        message.len()
    );
    let delivered = lines
        .iter()
        .find(|l| l.starts_with("S: 250 2.0.0 <alice@x>"))
        .unwrap()
        .clone();
    assert_eq!(
        lines,
        [
            "S: 220 lmtp.test LMTP liteimap ready".to_string(),
            "C: LHLO client".into(),
            "S: 250-lmtp.test".into(),
            format!("S: 250-SIZE {}", 50 * 1024 * 1024),
            "S: 250-8BITMIME".into(),
            "S: 250-PIPELINING".into(),
            "S: 250 ENHANCEDSTATUSCODES".into(),
            "C: MAIL FROM:<s@x>".into(),
            "S: 250 2.1.0 sender OK".into(),
            "C: RCPT TO:<alice@x>".into(),
            "S: 250 2.1.5 <alice@x> OK".into(),
            "C: DATA".into(),
            "S: 354 3.0.0 send the message, end with a line holding only \".\"".into(),
            format!("C: {shortened}"),
            delivered,
            "C: QUIT".into(),
            "S: 221 2.0.0 lmtp.test closing connection".into(),
        ]
    );
    let f = files(&traces);
    let lmtp: Vec<_> = f
        .iter()
        .filter(|p| p.to_str().unwrap().contains("-lmtp-"))
        .collect();
    assert_eq!(lmtp.len(), 1, "{f:?}");
    assert_eq!(file_lines(lmtp[0]), lines);
}

#[test]
fn tracing_off_keeps_nothing() {
    let dir = TempDir::new("trace-off");
    let srv = TestServer::start(&dir);
    assert!(srv.ctx.trace.is_none());
    let mut c = srv.login(ALICE);
    c.cmd("LOGOUT");
    let entries: Vec<_> = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| !n.starts_with("test.db"))
        .collect();
    assert!(entries.is_empty(), "{entries:?}");
}

#[test]
fn serve_trace_creates_the_directory_and_writes_a_file_per_session() {
    let dir = TempDir::new("trace-serve");
    let db = dir.database("t.db");
    common::database_with_alice(&db);
    let traces = dir.path().join("a/traces");
    let mut child = Command::new(env!("CARGO_BIN_EXE_liteimap"))
        .arg("--db")
        .arg(&db)
        .args(["serve", "--listen", "127.0.0.1:0", "--trace"])
        .arg(&traces)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut port = None;
    let mut log = Vec::new();
    while port.is_none() {
        let mut line = String::new();
        if err.read_line(&mut line).unwrap() == 0 {
            break;
        }
        port = listening_port(&line);
        log.push(line);
    }
    let port = port.unwrap_or_else(|| panic!("no listening line: {log:?}"));
    std::thread::spawn(move || {
        let mut rest = String::new();
        let _ = err.read_to_string(&mut rest);
    });
    for _ in 0..2 {
        let mut c = Client::connect(port);
        c.greeting = c.read_line();
        c.cmd("LOGIN alice wonderland");
        c.cmd("LOGOUT");
        read_to_end(&mut c);
    }
    let _ = child.kill();
    let _ = child.wait();
    use std::os::unix::fs::PermissionsExt;
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&traces), 0o700);
    let f = files(&traces);
    assert_eq!(f.len(), 2, "{f:?}");
    for p in &f {
        assert_eq!(mode(p), 0o600);
        let lines = file_lines(p);
        assert_eq!(lines[1], "C: t1 LOGIN alice ***", "{lines:?}");
        assert_eq!(lines.last().unwrap(), "S: t2 OK LOGOUT completed");
    }
}

#[test]
fn starttls_session_is_traced_in_clear_text() {
    use liteimap::server::{self, Context};
    let dir = TempDir::new("trace-tls");
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let (cert, key) = (dir.path().join("s.crt"), dir.path().join("s.key"));
    std::fs::write(&cert, c.cert.pem()).unwrap();
    std::fs::write(&key, c.key_pair.serialize_pem()).unwrap();
    let tls = liteimap::tls::Tls::load(&cert, &key).unwrap();
    let db = dir.database("t.db");
    common::database_with_alice(&db);
    let store = Arc::new(common::open_store(&db));
    let config = Config {
        trace_in_memory: true,
        ..Config::default()
    };
    let ctx = Context::with_tls(store, config, Some(tls));
    let plain =
        async_std::task::block_on(server::bind_all(&["127.0.0.1:0".to_string()], true)).unwrap();
    let port = plain[0].local_addr().unwrap().port();
    let c = ctx.clone();
    let thread = std::thread::spawn(move || {
        async_std::task::block_on(server::serve_with_tls(c, plain, Vec::new()));
    });
    let out = common::python(
        "import imaplib, ssl, sys
ctx = ssl.create_default_context()
ctx.check_hostname = False
ctx.verify_mode = ssl.CERT_NONE
P = imaplib.IMAP4('127.0.0.1', int(sys.argv[1]))
print(P.starttls(ssl_context=ctx)[0])
print(P.login('alice', 'wonderland')[0])
P.logout()
",
        &[&port.to_string()],
    );
    assert_eq!(out, "OK\nOK\n");
    let lines = last_session(ctx.trace.as_ref().unwrap(), "imap");
    ctx.shutdown();
    let _ = thread.join();
    let starttls = lines
        .iter()
        .position(|l| l.starts_with("C: ") && l.ends_with(" STARTTLS"))
        .expect("STARTTLS traced");
    let login = lines
        .iter()
        .position(|l| l.starts_with("C: ") && l.ends_with(" LOGIN alice ***"))
        .unwrap_or_else(|| panic!("LOGIN traced masked: {lines:?}"));
    assert!(starttls < login, "{lines:?}");
    // What TLS carried is shown as the commands it carried: no handshake bytes, no password.
    assert!(
        lines
            .iter()
            .all(|l| !l.contains("\\x") && !l.contains("wonderland")),
        "{lines:?}"
    );
    assert!(
        lines.last().unwrap().contains(" OK LOGOUT completed"),
        "{lines:?}"
    );
}
