//! TLS and login hardening: implicit TLS and STARTTLS with real clients (Python's imaplib,
//! curl), the plaintext policy, STARTTLS command injection, growing failure delays, per-address
//! limits, hostile mailbox names, certificate reload on SIGHUP.

mod common;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use common::*;
use liteimap::server::{self, Config, Context};
use liteimap::tls::Tls;

/// A self-signed certificate for localhost, written as PEM files.
fn make_cert(dir: &Path, name: &str) -> (PathBuf, PathBuf) {
    let c = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert = dir.join(format!("{name}.crt"));
    let key = dir.join(format!("{name}.key"));
    std::fs::write(&cert, c.cert.pem()).unwrap();
    std::fs::write(&key, c.key_pair.serialize_pem()).unwrap();
    (cert, key)
}

struct TlsServer {
    plain: u16,
    implicit: u16,
    ctx: Arc<Context>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for TlsServer {
    fn drop(&mut self) {
        self.ctx.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn start(dir: &TempDir, config: Config) -> TlsServer {
    let (cert, key) = make_cert(dir.path(), "server");
    start_with_tls(dir, config, Tls::load(&cert, &key).unwrap())
}

fn start_with_tls(dir: &TempDir, config: Config, tls: Arc<Tls>) -> TlsServer {
    let store = Arc::new(common::open_store(&dir.database("tls.db")));
    for (u, p) in [ALICE, BOB] {
        store
            .create_user(u, &liteimap::password::hash(p.as_bytes()).unwrap())
            .unwrap();
    }
    let ctx = Context::with_tls(store, config, Some(tls));
    let bind = |tls| {
        async_std::task::block_on(server::bind_all(&["127.0.0.1:0".to_string()], tls)).unwrap()
    };
    let (plain, implicit) = (bind(false), bind(true));
    let ports = (
        plain[0].local_addr().unwrap().port(),
        implicit[0].local_addr().unwrap().port(),
    );
    let c = ctx.clone();
    let thread = std::thread::spawn(move || {
        async_std::task::block_on(server::serve_with_tls(c, plain, implicit));
    });
    TlsServer {
        plain: ports.0,
        implicit: ports.1,
        ctx,
        thread: Some(thread),
    }
}

/// A client that is treated as remote: the loopback exemption is off.
fn remote() -> Config {
    Config {
        trust_loopback: false,
        auth_failure_delay: Duration::ZERO,
        ..Config::default()
    }
}

fn python(script: &str) -> Option<String> {
    let out = match Command::new("python3").args(["-c", script]).output() {
        Ok(o) => o,
        Err(e) => panic!("python3 could not run ({e}); .ci/run installs it"),
    };
    assert!(
        out.status.success(),
        "python failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    Some(String::from_utf8_lossy(&out.stdout).into_owned())
}

const PY_PRELUDE: &str = "import imaplib, ssl, socket\nctx = ssl.create_default_context()\nctx.check_hostname = False\nctx.verify_mode = ssl.CERT_NONE\n";

#[test]
fn implicit_tls_and_starttls_with_imaplib() {
    let dir = TempDir::new("tls-imaplib");
    let srv = start(&dir, remote());
    let script = format!(
        "{PY_PRELUDE}
M = imaplib.IMAP4_SSL('127.0.0.1', {implicit}, ssl_context=ctx)
print(M.capabilities)
print(M.login('alice', 'wonderland')[0])
print(M.select('INBOX')[0])
M.logout()
P = imaplib.IMAP4('127.0.0.1', {plain})
print(P.capabilities)
print(P.starttls(ssl_context=ctx)[0])
print(P.capabilities)
print(P.login('alice', 'wonderland')[0])
P.logout()
",
        implicit = srv.implicit,
        plain = srv.plain
    );
    let Some(out) = python(&script) else { return };
    let lines: Vec<&str> = out.lines().collect();
    // Implicit TLS: logins allowed, no STARTTLS offered.
    assert_eq!(
        lines[0],
        "('IMAP4REV1', 'SASL-IR', 'AUTH=PLAIN', 'AUTH=LOGIN', 'LITERAL-', 'ID', 'IMAP4REV2')"
    );
    assert_eq!(lines[1], "OK");
    assert_eq!(lines[2], "OK");
    // Cleartext from "afar": STARTTLS and LOGINDISABLED; after STARTTLS, logins allowed.
    assert_eq!(
        lines[3],
        "('IMAP4REV1', 'STARTTLS', 'LOGINDISABLED', 'LITERAL-', 'ID', 'IMAP4REV2')"
    );
    assert_eq!(lines[4], "OK");
    assert_eq!(
        lines[5],
        "('IMAP4REV1', 'SASL-IR', 'AUTH=PLAIN', 'AUTH=LOGIN', 'LITERAL-', 'ID', 'IMAP4REV2')"
    );
    assert_eq!(lines[6], "OK");
}

#[test]
fn curl_over_implicit_tls_and_starttls() {
    let dir = TempDir::new("tls-curl");
    let srv = start(&dir, remote());
    let mut c = Client::connect(srv.plain);
    c.read_line();
    // Put a message in over a loopback-trusted path: STARTTLS is required here, so use the
    // store directly.
    drop(c);
    let store = srv.ctx.store.clone();
    let user = store.find_user("alice").unwrap().unwrap();
    let inbox = store.mailbox(user.id, "INBOX").unwrap().unwrap().id;
    let raw = message("over-tls", "secret body");
    store
        .append(
            inbox,
            &[liteimap::message::prepare(raw.clone(), vec![], None)],
        )
        .unwrap();
    for url in [
        format!("imaps://127.0.0.1:{}/INBOX;UID=1", srv.implicit),
        format!("imap://127.0.0.1:{}/INBOX;UID=1", srv.plain),
    ] {
        let out = match Command::new("curl")
            .args([
                "-s",
                "-k",
                "--ssl-reqd",
                "--url",
                &url,
                "--user",
                "alice:wonderland",
            ])
            .output()
        {
            Ok(o) => o,
            Err(e) => panic!("curl could not run ({e}); .ci/run installs it"),
        };
        assert!(
            out.status.success(),
            "{url}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.stdout, raw, "{url}");
    }
}

#[test]
fn plaintext_policy_refuses_logins_before_starttls() {
    let dir = TempDir::new("tls-policy");
    let srv = start(&dir, remote());
    let mut c = Client::connect(srv.plain);
    assert_eq!(
        c.read_line(),
        "* OK [CAPABILITY IMAP4REV1 STARTTLS LOGINDISABLED LITERAL- ID IMAP4rev2] liteimap ready"
    );
    assert_eq!(
        c.cmd("LOGIN alice wonderland"),
        vec!["TAG NO [PRIVACYREQUIRED] Logins need TLS on this connection: use STARTTLS first"]
    );
    assert_eq!(
        c.cmd("AUTHENTICATE PLAIN AGFsaWNlAHdvbmRlcmxhbmQ="),
        vec!["TAG NO [PRIVACYREQUIRED] Logins need TLS on this connection: use STARTTLS first"]
    );
    // Loopback clients (the default) may log in without TLS.
    drop(c);
    let dir2 = TempDir::new("tls-policy-local");
    let local = start(
        &dir2,
        Config {
            auth_failure_delay: Duration::ZERO,
            ..Config::default()
        },
    );
    let mut c = Client::connect(local.plain);
    assert_eq!(
        c.read_line(),
        "* OK [CAPABILITY IMAP4REV1 STARTTLS SASL-IR AUTH=PLAIN AUTH=LOGIN LITERAL- ID IMAP4rev2] liteimap ready"
    );
    assert!(c
        .cmd("LOGIN alice wonderland")
        .last()
        .unwrap()
        .starts_with("TAG OK"));
    // --allow-plaintext lifts the policy for remote clients.
    let dir3 = TempDir::new("tls-policy-allow");
    let allow = start(
        &dir3,
        Config {
            allow_plaintext: true,
            ..remote()
        },
    );
    let mut c = Client::connect(allow.plain);
    assert!(c.read_line().contains("AUTH=PLAIN"));
    assert!(c
        .cmd("LOGIN alice wonderland")
        .last()
        .unwrap()
        .starts_with("TAG OK"));
}

#[test]
fn commands_pipelined_behind_starttls_are_not_executed() {
    let dir = TempDir::new("tls-inject");
    let srv = start(
        &dir,
        Config {
            allow_plaintext: true,
            ..remote()
        },
    );
    let script = format!(
        "{PY_PRELUDE}
s = socket.create_connection(('127.0.0.1', {plain}))
f = s.makefile('rb')
f.readline()
s.sendall(b'a STARTTLS\\r\\nb LOGIN alice wonderland\\r\\n')
print(f.readline().decode().strip())
t = ctx.wrap_socket(s)
t.sendall(b'c SELECT INBOX\\r\\n')
g = t.makefile('rb')
print(g.readline().decode().strip())
t.sendall(b'd LOGOUT\\r\\n')
print(g.readline().decode().strip())
print(g.readline().decode().strip())
",
        plain = srv.plain
    );
    let Some(out) = python(&script) else { return };
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "a OK Begin TLS negotiation now");
    // `b LOGIN` was never run: SELECT finds the session not logged in, and no `b` answer came.
    assert_eq!(lines[1], "c BAD SELECT needs a login first");
    assert_eq!(lines[2], "* BYE liteimap logging out");
    assert_eq!(lines[3], "d OK LOGOUT completed");
}

#[test]
fn failed_logins_slow_down_then_bye_and_the_address_stays_slow() {
    let dir = TempDir::new("tls-brute");
    let delay = Duration::from_millis(100);
    let srv = TestServer::start_with(
        &dir,
        Config {
            auth_failure_delay: delay,
            max_auth_failures: 3,
            ..Config::default()
        },
    );
    let mut c = srv.connect();
    let mut took = Vec::new();
    for _ in 0..2 {
        let t = Instant::now();
        assert_eq!(
            c.cmd("LOGIN alice wrong"),
            vec!["TAG NO [AUTHENTICATIONFAILED] Authentication failed"]
        );
        took.push(t.elapsed());
    }
    assert!(took[0] >= delay, "{took:?}");
    assert!(took[1] >= delay * 2, "{took:?}");
    // An unknown user is answered the same way.
    let t = Instant::now();
    let tag = c.tag();
    c.send(format!("{tag} LOGIN nosuchuser wrong\r\n").as_bytes());
    assert_eq!(c.read_line(), "* BYE Too many failed logins (3)");
    assert!(t.elapsed() >= delay * 4, "{:?}", t.elapsed());
    assert!(c.is_closed());
    // A new connection from the same address starts slow, not afresh.
    let mut d = srv.connect();
    let t = Instant::now();
    assert_eq!(
        d.cmd("LOGIN bob wrong"),
        vec!["TAG NO [AUTHENTICATIONFAILED] Authentication failed"]
    );
    assert!(t.elapsed() >= delay * 8, "{:?}", t.elapsed());
    // A successful login clears the address's record.
    assert!(d
        .cmd("LOGIN bob builder")
        .last()
        .unwrap()
        .starts_with("TAG OK"));
}

#[test]
fn connection_limits_per_address_and_per_user() {
    let dir = TempDir::new("tls-limits");
    let srv = TestServer::start_with(
        &dir,
        Config {
            max_connections_per_ip: 3,
            max_user_connections_per_ip: 1,
            auth_failure_delay: Duration::ZERO,
            ..Config::default()
        },
    );
    let mut a = srv.login(ALICE);
    let mut b = srv.connect();
    assert_eq!(
        b.cmd("LOGIN alice wonderland"),
        vec!["TAG NO [LIMIT] Too many connections for this user from your address (limit 1)"]
    );
    // Another user from the same address is fine.
    assert!(b
        .cmd("LOGIN bob builder")
        .last()
        .unwrap()
        .starts_with("TAG OK"));
    let mut c = srv.connect();
    // The fourth connection from this address is greeted with BYE.
    let mut d = Client::connect(srv.port);
    assert_eq!(
        d.read_line(),
        "* BYE Too many connections from your address (limit 3)"
    );
    // A slot comes back when its session ends.
    a.cmd("LOGOUT");
    assert!(a.is_closed());
    std::thread::sleep(Duration::from_millis(100));
    assert!(c
        .cmd("LOGIN alice wonderland")
        .last()
        .unwrap()
        .starts_with("TAG OK"));
}

#[test]
fn hostile_mailbox_names_touch_nothing() {
    let dir = TempDir::new("tls-names");
    let srv = TestServer::start(&dir);
    let mut bob = srv.login(BOB);
    assert!(bob
        .cmd("CREATE private")
        .last()
        .unwrap()
        .starts_with("TAG OK"));
    let mut c = srv.login(ALICE);
    let long = "x".repeat(10_000);
    for (cmd, expect) in [
        (
            "SELECT ../x",
            "TAG NO [CANNOT] Mailbox name has a . or .. level",
        ),
        (
            "CREATE ../x",
            "TAG NO [CANNOT] Mailbox name has a . or .. level",
        ),
        (
            "CREATE a/../../b",
            "TAG NO [CANNOT] Mailbox name has a . or .. level",
        ),
        (
            "CREATE \"%\"",
            "TAG NO [CANNOT] Mailbox name contains a wildcard character (* or %)",
        ),
        (
            "CREATE \"a*\"",
            "TAG NO [CANNOT] Mailbox name contains a wildcard character (* or %)",
        ),
        (
            "SELECT private",
            "TAG NO [NONEXISTENT] No such mailbox: private",
        ),
        (
            "STATUS private (MESSAGES)",
            "TAG NO [NONEXISTENT] No such mailbox: private",
        ),
        (
            "SELECT bob/private",
            "TAG NO [NONEXISTENT] No such mailbox: bob/private",
        ),
        ("CREATE \"a\\\\b\"", CREATED),
    ] {
        assert_eq!(ids_masked(&c.cmd(cmd)), vec![expect], "{cmd}");
    }
    let r = c.cmd_literal("CREATE", long.as_bytes(), "");
    assert_eq!(
        r,
        vec!["TAG NO [LIMIT] Mailbox name longer than 1024 bytes"]
    );
    let r = c.cmd_literal("CREATE", b"a\x01b", "");
    assert_eq!(
        r,
        vec!["TAG NO [CANNOT] Mailbox name contains byte 0x01: names are 7-bit (modified UTF-7)"]
    );
    // A NUL byte cannot even be sent in an IMAP string.
    let r = c.cmd_literal("CREATE", b"a\x00b", "");
    assert!(r.last().unwrap().starts_with("TAG BAD"), "{r:?}");
    let m = message("x", "y");
    let r = c.append("private", "", &m);
    assert_eq!(r, "TAG NO [TRYCREATE] No such mailbox: private");
    // LIST shows only alice's folders whatever the pattern.
    let r = c.cmd("LIST \"\" *");
    assert!(r.iter().all(|l| !l.contains("private")), "{r:?}");
    // Nothing of bob's changed.
    let r = bob.cmd("LIST \"\" *");
    assert_eq!(r.len(), 8, "{r:?}");
}

/// `serve` with this certificate and key, expected to fail at start.
fn serve_once(db: &Path, cert: &Path, key: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_liteimap"))
        .arg("--db")
        .arg(db)
        .args(["serve", "--listen", "127.0.0.1:0", "--cert"])
        .arg(cert)
        .arg("--key")
        .arg(key)
        .output()
        .unwrap()
}

#[test]
fn missing_certificate_is_one_clear_line() {
    let dir = TempDir::new("tls-missing");
    let exe = env!("CARGO_BIN_EXE_liteimap");
    let db = dir.database("m.db");
    let out = serve_once(
        &db,
        Path::new("/nonexistent/cert.pem"),
        Path::new("/nonexistent/key.pem"),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err.lines().last().unwrap_or_default();
    assert_eq!(
        last,
        "liteimap: cannot read /nonexistent/cert.pem: No such file or directory (os error 2)"
    );
    let (cert, _) = make_cert(dir.path(), "c");
    let out = Command::new(exe)
        .args(["--db", db.to_str().unwrap(), "serve", "--cert"])
        .arg(&cert)
        .arg("--key")
        .arg(&cert)
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no PEM private key (PKCS#8, RSA or EC) in"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn sighup_reloads_the_certificate_without_dropping_connections() {
    let dir = TempDir::new("tls-hup");
    let (cert, key) = make_cert(dir.path(), "live");
    let db = dir.database("h.db");
    let exe = env!("CARGO_BIN_EXE_liteimap");
    let st = Command::new(exe)
        .args([
            "--db",
            db.to_str().unwrap(),
            "user",
            "add",
            "alice",
            "--password-stdin",
        ])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            c.stdin.take().unwrap().write_all(b"wonderland\n")?;
            c.wait()
        })
        .unwrap();
    assert!(st.success());
    let (mut child, port, log) = serve_tls(&db, &cert, &key);
    // The rest of the log is drained so the server never blocks on a full pipe.
    std::thread::spawn(move || log.for_each(drop));
    // One long-lived TLS session, its certificate, then a new certificate and SIGHUP; the old
    // session keeps working and a new one gets the new certificate.
    let script = format!(
        "{PY_PRELUDE}
import hashlib, os, subprocess, time, shutil
def fp(sock): return hashlib.sha256(sock.getpeercert(binary_form=True)).hexdigest()[:16]
M = imaplib.IMAP4_SSL('127.0.0.1', {port}, ssl_context=ctx)
M.login('alice', 'wonderland')
first = fp(M.sock)
shutil.copy('{newcert}', '{cert}')
shutil.copy('{newkey}', '{key}')
os.kill({pid}, 1)
time.sleep(0.5)
N = imaplib.IMAP4_SSL('127.0.0.1', {port}, ssl_context=ctx)
second = fp(N.sock)
print(first != second)
print(M.noop()[0])
print(N.login('alice', 'wonderland')[0])
",
        port = port,
        cert = cert.display(),
        key = key.display(),
        newcert = make_cert(dir.path(), "next").0.display(),
        newkey = dir.path().join("next.key").display(),
        pid = child.id()
    );
    let out = python(&script);
    let _ = child.kill();
    let _ = child.wait();
    let Some(out) = out else { return };
    assert_eq!(out, "True\nOK\nOK\n");
}

#[test]
fn the_systemd_unit_names_flags_the_binary_accepts() {
    let unit = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/dist/liteimap.service"
    ))
    .unwrap();
    let exec = unit
        .lines()
        .find_map(|l| l.strip_prefix("ExecStart="))
        .unwrap();
    let args: Vec<&str> = exec.split_whitespace().skip(1).collect();
    // Every flag parses: the same command line with --help appended after `serve` prints help.
    let serve = args.iter().position(|a| *a == "serve").unwrap();
    let mut check: Vec<&str> = args[..=serve].to_vec();
    check.push("--help");
    let out = Command::new(env!("CARGO_BIN_EXE_liteimap"))
        .args(&check)
        .output()
        .unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in args[serve + 1..].iter().filter(|a| a.starts_with("--")) {
        assert!(help.contains(flag), "{flag} is not a serve flag");
    }
    // Whatever the service writes is for its own user only.
    for line in ["UMask=0077", "StateDirectoryMode=0700"] {
        assert!(unit.lines().any(|l| l == line), "the unit lacks {line}");
    }
}

/// The unit's ExecStart, run as it stands with the shipped config file, except for loopback
/// ports (0: any free one), a temporary database and a made certificate: all four listeners
/// (IPv4 and IPv6, STARTTLS and implicit TLS) come up and greet, after the install step that
/// adds the first user. Its ExecStartPre (config check) passes on the same file.
#[test]
fn the_systemd_units_exec_start_serves_on_loopback() {
    use std::io::{BufRead, BufReader};
    let root = env!("CARGO_MANIFEST_DIR");
    let unit = std::fs::read_to_string(format!("{root}/dist/liteimap.service")).unwrap();
    for line in [
        "RuntimeDirectory=liteimap",
        "StateDirectory=liteimap",
        "Type=notify",
    ] {
        assert!(unit.lines().any(|l| l == line), "the unit lacks {line}");
    }
    let dir = TempDir::new("unit");
    let (cert, key) = make_cert(dir.path(), "unit");
    let db = dir.database("mail.db");
    let conf = dir.path().join("liteimap.toml");
    let shipped = std::fs::read_to_string(format!("{root}/dist/liteimap.toml")).unwrap();
    let local = shipped
        .replace("/var/lib/liteimap/mail.db", &db.display().to_string())
        .replace("/etc/liteimap/fullchain.pem", &cert.display().to_string())
        .replace("/etc/liteimap/privkey.pem", &key.display().to_string())
        .replace("0.0.0.0:143", "127.0.0.1:0")
        .replace("0.0.0.0:993", "127.0.0.1:0")
        .replace("[::]:143", "[::1]:0")
        .replace("[::]:993", "[::1]:0");
    std::fs::write(&conf, local).unwrap();
    let command = |key: &str| -> Vec<String> {
        let line = unit
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}=")))
            .unwrap();
        line.split_whitespace()
            .skip(1)
            .map(|a| match a {
                "/etc/liteimap/liteimap.toml" => conf.display().to_string(),
                other => other.into(),
            })
            .collect()
    };
    let bin = env!("CARGO_BIN_EXE_liteimap");
    let pre = Command::new(bin)
        .args(command("ExecStartPre"))
        .output()
        .unwrap();
    assert!(pre.status.success(), "{pre:?}");
    // The install step: a real user before the first start (the file gives the database).
    let mut add = Command::new(bin)
        .arg("--config")
        .arg(&conf)
        .args(["user", "add", "you@example.org", "--password-stdin"])
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut add.stdin.take().unwrap(), b"secret\n").unwrap();
    assert!(add.wait().unwrap().success());
    // (On PostgreSQL the database is not a file.)
    assert!(on_postgres() || db.exists());
    let mut child = Command::new(bin)
        .args(command("ExecStart"))
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut ports = Vec::new();
    let mut log = Vec::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(p) = listening_port(&line) {
            let v6 = line.contains("[::1]");
            ports.push((p, v6, line.contains("IMAP over TLS")));
        }
        log.push(line);
        if ports.len() == 4 {
            break;
        }
    }
    assert_eq!(ports.len(), 4, "{log:?}");
    assert!(!log.iter().any(|l| l.contains("demo")), "{log:?}");
    for (port, v6, implicit) in ports {
        let addr: std::net::SocketAddr = if v6 {
            (std::net::Ipv6Addr::LOCALHOST, port).into()
        } else {
            (std::net::Ipv4Addr::LOCALHOST, port).into()
        };
        let s = std::net::TcpStream::connect(addr).unwrap();
        if implicit {
            // A TLS listener waits for a ClientHello; a plain one greets at once.
            continue;
        }
        let mut c = Client::from_stream(s);
        assert!(c.read_line().starts_with("* OK"), "{addr}");
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn literals_are_small_until_login() {
    let dir = TempDir::new("tls-prelogin");
    let srv = TestServer::start(&dir);
    let mut c = srv.connect();
    let tag = c.tag();
    c.send(format!("{tag} LOGIN alice {{9000}}\r\n").as_bytes());
    assert_eq!(
        c.read_line(),
        format!(
            "{tag} NO [TOOBIG] Literal of 9000 bytes exceeds the limit of 8192 bytes before login"
        )
    );
    // The connection goes on; a password in a literal is fine.
    let r = c.cmd_literal("LOGIN alice", b"wonderland", "");
    assert!(r.last().unwrap().starts_with("TAG OK"), "{r:?}");
    // Logged in, the configured limit applies.
    let big = vec![b'x'; 100_000];
    let mut m = message("big", "");
    m.extend_from_slice(&big);
    assert!(c.append("INBOX", "", &m).starts_with("TAG OK"));
}

/// The DER of the first certificate in a PEM file.
fn cert_der(pem: &Path) -> Vec<u8> {
    let mut r = std::io::BufReader::new(std::fs::File::open(pem).unwrap());
    rustls_pemfile::certs(&mut r).unwrap().remove(0)
}

/// A TLS client (rustls) on the implicit-TLS port that trusts only `trusted` (DER).
fn tls_client(
    port: u16,
    trusted: &[u8],
) -> rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream> {
    let mut roots = rustls::RootCertStore::empty();
    roots.add(&rustls::Certificate(trusted.to_vec())).unwrap();
    let config = rustls::ClientConfig::builder()
        .with_safe_defaults()
        .with_root_certificates(roots)
        .with_no_client_auth();
    let conn =
        rustls::ClientConnection::new(Arc::new(config), "localhost".try_into().unwrap()).unwrap();
    let sock = std::net::TcpStream::connect(("127.0.0.1", port)).unwrap();
    // Only a safety net against a hung test: every read below ends long before.
    sock.set_read_timeout(Some(Duration::from_secs(30)))
        .unwrap();
    rustls::StreamOwned::new(conn, sock)
}

/// Everything the server sends until the end of the stream, and how it ended: Ok for a TLS
/// close_notify, the error otherwise (an unexpected EOF: the TCP connection closed without it).
fn read_to_end(
    tls: &mut rustls::StreamOwned<rustls::ClientConnection, std::net::TcpStream>,
) -> (String, std::io::Result<()>) {
    use std::io::Read;
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    let end = loop {
        match tls.read(&mut buf) {
            Ok(0) => break Ok(()),
            Ok(n) => got.extend_from_slice(&buf[..n]),
            Err(e) => break Err(e),
        }
    };
    (String::from_utf8_lossy(&got).into_owned(), end)
}

/// After LOGOUT, and after the BYE of a shutdown, the server ends TLS with close_notify: the
/// client can tell a finished session from a connection cut by someone in between.
#[test]
fn logout_and_bye_end_tls_with_close_notify() {
    use std::io::Write;
    let dir = TempDir::new("tls-close");
    let (cert, key) = make_cert(dir.path(), "server");
    let srv = start_with_tls(&dir, remote(), Tls::load(&cert, &key).unwrap());
    let der = cert_der(&cert);

    let mut c = tls_client(srv.implicit, &der);
    c.write_all(b"a LOGIN alice wonderland\r\nb LOGOUT\r\n")
        .unwrap();
    let (text, end) = read_to_end(&mut c);
    assert!(
        text.ends_with("* BYE liteimap logging out\r\nb OK LOGOUT completed\r\n"),
        "{text}"
    );
    assert!(end.is_ok(), "no close_notify after LOGOUT: {end:?}");

    let mut c = tls_client(srv.implicit, &der);
    c.write_all(b"a LOGIN alice wonderland\r\n").unwrap();
    // The tagged OK has arrived once the line ends with "Logged in".
    let mut seen = String::new();
    while !seen.contains("Logged in\r\n") {
        let mut buf = [0u8; 4096];
        let n = std::io::Read::read(&mut c, &mut buf).unwrap();
        assert!(n > 0, "{seen}");
        seen.push_str(&String::from_utf8_lossy(&buf[..n]));
    }
    srv.ctx.shutdown();
    let (text, end) = read_to_end(&mut c);
    assert_eq!(text, "* BYE Server shutting down\r\n");
    assert!(end.is_ok(), "no close_notify after BYE: {end:?}");
}

/// A key that is not the certificate's: refused at start with one line and a non-zero exit;
/// on reload the old pair stays in use (and handshakes keep working with it).
#[test]
fn mismatched_key_and_certificate_are_refused() {
    let dir = TempDir::new("tls-mismatch");
    let (cert, key) = make_cert(dir.path(), "one");
    let (other_cert, other_key) = make_cert(dir.path(), "two");
    let out = serve_once(&dir.database("m.db"), &cert, &other_key);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        err.lines().last().unwrap_or_default(),
        format!(
            "liteimap: the private key in {} does not match the certificate in {} (every TLS handshake would fail)",
            other_key.display(),
            cert.display()
        ),
        "{err}"
    );

    let tls = Tls::load(&cert, &key).unwrap();
    let srv = start_with_tls(&dir, remote(), tls.clone());
    let first_der = cert_der(&cert);
    // The certificate is renewed but the key is not: the reload is refused, the old pair kept.
    std::fs::copy(&other_cert, &cert).unwrap();
    let why = tls.reload().unwrap_err();
    assert!(why.contains("does not match the certificate"), "{why}");
    // The first certificate still serves: a client trusting only it completes the handshake.
    let mut c = tls_client(srv.implicit, &first_der);
    let mut buf = [0u8; 256];
    let n = std::io::Read::read(&mut c, &mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("* OK "));
    // Both files renewed together: accepted.
    std::fs::copy(&other_key, &key).unwrap();
    tls.reload().unwrap();
    let mut c = tls_client(srv.implicit, &cert_der(&other_cert));
    let n = std::io::Read::read(&mut c, &mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("* OK "));
}

/// SIGHUP with a renewed certificate but the old key: the running server says why in its log,
/// keeps the old pair, and handshakes go on with it.
#[test]
fn sighup_with_a_mismatched_pair_keeps_the_old_one() {
    let dir = TempDir::new("tls-hup-mismatch");
    let (cert, key) = make_cert(dir.path(), "live");
    let (other_cert, _) = make_cert(dir.path(), "other");
    let first_der = cert_der(&cert);
    let (mut child, port, mut lines) = serve_tls(&dir.database("h.db"), &cert, &key);
    let mut until = |needle: &str| -> String {
        for line in lines.by_ref() {
            let line = line.unwrap();
            if line.contains(needle) {
                return line;
            }
        }
        panic!("the server ended without logging {needle:?}");
    };
    std::fs::copy(&other_cert, &cert).unwrap();
    let st = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let line = until("SIGHUP");
    assert!(
        line.ends_with(&format!(
            "SIGHUP: the private key in {} does not match the certificate in {} (every TLS handshake would fail); keeping the old certificate",
            key.display(),
            cert.display()
        )),
        "{line}"
    );
    let mut c = tls_client(port, &first_der);
    let mut buf = [0u8; 256];
    let n = std::io::Read::read(&mut c, &mut buf).unwrap();
    assert!(String::from_utf8_lossy(&buf[..n]).starts_with("* OK "));
    let _ = child.kill();
    let _ = child.wait();
}

/// The server's log lines on stderr.
type Log = std::io::Lines<std::io::BufReader<std::process::ChildStderr>>;

/// `serve` with plain IMAP and implicit TLS both on 127.0.0.1:0, logging at info. Returns the
/// child, the TLS port (read from its "listening on" line, so no port is reserved and
/// released), and the rest of its log.
fn serve_tls(db: &Path, cert: &Path, key: &Path) -> (std::process::Child, u16, Log) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_liteimap"))
        .arg("--db")
        .arg(db)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(["--tls-listen", "127.0.0.1:0"])
        .arg("--cert")
        .arg(cert)
        .arg("--key")
        .arg(key)
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut log = std::io::BufRead::lines(std::io::BufReader::new(child.stderr.take().unwrap()));
    let port = log
        .by_ref()
        .map_while(Result::ok)
        .find(|l| l.contains("IMAP over TLS"))
        .and_then(|l| listening_port(&l))
        .unwrap_or_else(|| panic!("the server ended without logging its TLS port"));
    (child, port, log)
}

/// COMPRESS=DEFLATE (RFC 4978) inside TLS: deflate runs over the TLS stream, both ways
/// (Python's zlib against the server), and a second COMPRESS is refused.
#[test]
fn compress_over_tls_with_python_zlib() {
    let dir = TempDir::new("tls-compress");
    let srv = start(&dir, remote());
    let script = format!(
        "{PY_PRELUDE}
import zlib
s = ctx.wrap_socket(socket.create_connection(('127.0.0.1', {implicit})))
f = s.makefile('rb')
f.readline()
s.sendall(b'a1 LOGIN alice wonderland\\r\\n')
print(f.readline().split(b' ')[1].decode())
s.sendall(b'a2 COMPRESS DEFLATE\\r\\n')
print(f.readline().decode().rstrip())
comp = zlib.compressobj(6, zlib.DEFLATED, -15)
decomp = zlib.decompressobj(-15)
s.sendall(comp.compress(b'a3 COMPRESS DEFLATE\\r\\na4 EXAMINE INBOX\\r\\n') + comp.flush(zlib.Z_SYNC_FLUSH))
got = b''
while not b'a4 ' in got:
    got += decomp.decompress(s.recv(65536))
lines = got.decode().split('\\r\\n')
print(lines[0])
print(lines[-2])
",
        implicit = srv.implicit
    );
    let out = python(&script).unwrap();
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "OK",
            "a2 OK DEFLATE active",
            "a3 NO [COMPRESSIONACTIVE] DEFLATE is already active",
            "a4 OK [READ-ONLY] EXAMINE completed",
        ]
    );
}
