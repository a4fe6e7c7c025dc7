//! `liteimap dev` (issue 23): the binary on port 0 for IMAP and SMTP, driven by Python's
//! smtplib and imaplib and by raw sockets for exact replies; users made on first use; the
//! temporary database; `--keep`, `--user`, `--demo-password`, `--no-auto-users`,
//! `--catch-all`, `--public`; and `serve --smtp-listen`, the same code.

mod common;

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;
use std::time::Duration;

use common::{listening_port, port_after, Client, Lines, TempDir};

const BIN: &str = env!("CARGO_BIN_EXE_liteimap");

/// A running `liteimap dev` (or `serve`): its ports, its printed block, its log.
struct Dev {
    child: Child,
    imap: u16,
    smtp: u16,
    /// What it printed on stdout (the block with addresses and credentials).
    block: String,
    log: Receiver<String>,
}

impl Dev {
    /// `liteimap dev` on port 0 for both, with `args`.
    fn start(args: &[&str]) -> Dev {
        let mut all = vec![
            "dev",
            "--imap",
            "127.0.0.1:0",
            "--smtp",
            "127.0.0.1:0",
            "--web",
            "127.0.0.1:0",
        ];
        all.extend_from_slice(args);
        Dev::spawn(&all, true)
    }

    fn spawn(args: &[&str], dev: bool) -> Dev {
        let mut child = Command::new(BIN)
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (tx, log) = std::sync::mpsc::channel();
        let err = BufReader::new(child.stderr.take().unwrap());
        std::thread::spawn(move || {
            for line in err.lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let (mut imap, mut smtp) = (None, None);
        while imap.is_none() || smtp.is_none() {
            let line = log
                .recv_timeout(Duration::from_secs(60))
                .expect("the server did not start");
            imap = imap.or_else(|| listening_port(&line));
            smtp = smtp.or_else(|| port_after(&line, "accepting SMTP on "));
        }
        let mut block = String::new();
        if dev {
            let mut out = BufReader::new(child.stdout.take().unwrap());
            while !block.contains("  database  ") {
                assert!(out.read_line(&mut block).unwrap() > 0, "{block}");
            }
        }
        Dev {
            child,
            imap: imap.unwrap(),
            smtp: smtp.unwrap(),
            block,
            log,
        }
    }

    /// The database path the block names.
    fn database(&self) -> PathBuf {
        let line = self
            .block
            .lines()
            .find_map(|l| l.strip_prefix("  database  "))
            .unwrap();
        PathBuf::from(line.rsplit_once(" (").unwrap().0)
    }

    /// Log lines until one contains `what`; every line read so far.
    fn log_until(&self, what: &str) -> String {
        let mut seen = String::new();
        loop {
            let line = self
                .log
                .recv_timeout(Duration::from_secs(60))
                .unwrap_or_else(|_| panic!("no log line with {what:?} in:\n{seen}"));
            seen.push_str(&line);
            seen.push('\n');
            if line.contains(what) {
                return seen;
            }
        }
    }

    /// SIGTERM and the exit status.
    fn stop(self) -> std::process::ExitStatus {
        self.signal("-TERM")
    }

    /// `kill SIGNAL` and the exit status.
    fn signal(mut self, signal: &str) -> std::process::ExitStatus {
        Command::new("kill")
            .args([signal, &self.child.id().to_string()])
            .status()
            .unwrap();
        self.child.wait().unwrap()
    }

    fn imap(&self) -> Client {
        let mut c = Client::connect(self.imap);
        c.greeting = c.read_line();
        c
    }
}

impl Drop for Dev {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Run a Python script with the IMAP and SMTP ports as argv[1] and argv[2].
fn python(dev: &Dev, script: &str) -> String {
    let out = Command::new("python3")
        .arg("-c")
        .arg(format!(
            "import smtplib, imaplib, sys\nimap_port, smtp_port = int(sys.argv[1]), int(sys.argv[2])\n{script}"
        ))
        .arg(dev.imap.to_string())
        .arg(dev.smtp.to_string())
        .output()
        .unwrap_or_else(|e| panic!("python3 could not run ({e}); .ci/run installs it"));
    assert!(
        out.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

/// The exact `BODY[]` of message `seq` in `mailbox`, and its flags.
fn fetch(c: &mut Client, mailbox: &str, seq: u32) -> (String, Vec<u8>) {
    let r = c.cmd(&format!("EXAMINE {mailbox}"));
    assert!(r.last().unwrap().starts_with("TAG OK"), "{r:?}");
    let r = c.cmd_bytes(&format!("FETCH {seq} (FLAGS BODY.PEEK[])"));
    let first = &r[0];
    let head_end = first.windows(2).position(|w| w == b"\r\n").unwrap();
    let head = String::from_utf8_lossy(&first[..head_end]).into_owned();
    let flags = head
        .split_once("FLAGS (")
        .and_then(|(_, f)| f.split_once(')'))
        .unwrap()
        .0
        .to_string();
    (flags, first[head_end + 2..first.len() - 1].to_vec())
}

fn count(c: &mut Client, mailbox: &str) -> String {
    c.cmd(&format!("STATUS {mailbox} (MESSAGES)"))[0].clone()
}

/// The whole path a developer takes: smtplib sends (EHLO, AUTH, two recipients, SMTPUTF8),
/// imaplib reads the exact message back from each recipient's INBOX and the sender's Sent.
#[test]
fn smtplib_sends_and_imaplib_reads_inbox_and_sent() {
    if common::sqlite_only("`liteimap dev` on its temporary SQLite file") {
        return;
    }
    let dev = Dev::start(&["--user", "alice:secret"]);
    let out = python(
        &dev,
        r#"
s = smtplib.SMTP('127.0.0.1', smtp_port)
code, _ = s.ehlo('client.test')
print(code, sorted(s.esmtp_features))
print(s.esmtp_features['auth'].strip(), s.esmtp_features['size'])
print(s.login('alice', 'secret'))
msg = b'From: alice@example.com\r\nTo: bob@example.com, demo@example.com\r\nSubject: hello\r\n\r\n.starts with a dot\r\nbye\r\n'
print(s.sendmail('alice@example.com', ['bob@example.com', 'demo@example.com'], msg))
utf8 = 'From: j\u00f6rg@example.com\r\nSubject: Gr\u00fc\u00dfe\r\n\r\n\u00fcber\r\n'.encode()
print(s.sendmail('j\u00f6rg@example.com', ['bob@example.com'], utf8, mail_options=['SMTPUTF8', 'BODY=8BITMIME']))
s.quit()

m = imaplib.IMAP4('127.0.0.1', imap_port)
print(m.login('bob', 'bobs-first-password')[0])
m.select('INBOX')
typ, data = m.fetch('1:*', '(BODY.PEEK[])')
print(data[0][1] == b'Return-Path: <alice@example.com>\r\nDelivered-To: bob@example.com\r\n' + msg)
print(data[2][1] == 'Return-Path: <j\u00f6rg@example.com>\r\nDelivered-To: bob@example.com\r\n'.encode() + utf8)
m.logout()
m = imaplib.IMAP4('127.0.0.1', imap_port)
m.login('demo', 'demo')
m.select('INBOX')
print(m.fetch('1', '(BODY.PEEK[])')[1][0][1] == b'Return-Path: <alice@example.com>\r\nDelivered-To: demo@example.com\r\n' + msg)
m.logout()
m = imaplib.IMAP4('127.0.0.1', imap_port)
m.login('alice', 'secret')
print(m.select('Sent'))
typ, data = m.fetch('1:2', '(FLAGS BODY.PEEK[])')
print(data[0][0].decode(), data[0][1] == msg, data[2][1] == utf8)
m.logout()
"#,
    );
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "250 ['8bitmime', 'auth', 'enhancedstatuscodes', 'pipelining', 'size', 'smtputf8']",
            "PLAIN LOGIN 52428800",
            "(235, b'2.7.0 authentication successful')",
            "{}",
            "{}",
            "OK",
            "True",
            "True",
            "True",
            "('OK', [b'2'])",
            "1 (FLAGS (\\Seen \\Recent) BODY[] {107} True True",
        ]
    );
    // One log line per stored copy, as LMTP writes them.
    let log = dev.log_until("to <alice>, folder Sent: delivered, UID 2");
    assert!(
        log.contains("message without Message-ID, 107 bytes, from <alice@example.com> to <bob@example.com>, folder INBOX: delivered, UID 1"),
        "{log}"
    );
    assert!(log.contains("created user bob for mail to it"), "{log}");
}

/// The exact SMTP dialogue: greeting, EHLO, LHLO refused, AUTH LOGIN step by step, pipelined
/// transaction with one reply after DATA, size limits, cancelled AUTH.
#[test]
fn smtp_replies_are_exact() {
    if common::sqlite_only("`liteimap dev` on its temporary SQLite file") {
        return;
    }
    let dev = Dev::start(&[]);
    let (mut c, greeting) = Lines::connect(dev.smtp);
    assert!(greeting.starts_with("220 ") && greeting.ends_with(" ESMTP liteimap ready"));
    assert_eq!(c.cmd("MAIL FROM:<a@b>"), "503 5.5.1 send EHLO first");
    assert_eq!(c.cmd("LHLO x"), "500 5.5.1 this is SMTP: use EHLO");
    let ehlo = c.reply("EHLO client.test");
    assert_eq!(
        ehlo[1..],
        [
            "250-SIZE 52428800",
            "250-8BITMIME",
            "250-PIPELINING",
            "250-ENHANCEDSTATUSCODES",
            "250-SMTPUTF8",
            "250 AUTH PLAIN LOGIN"
        ]
    );
    assert!(c.cmd("HELO client.test").starts_with("250 "));
    assert_eq!(
        c.cmd("AUTH"),
        "501 5.5.4 syntax: AUTH mechanism [initial-response]"
    );
    assert_eq!(
        c.cmd("AUTH CRAM-MD5"),
        "504 5.5.4 unrecognized authentication mechanism (use PLAIN or LOGIN)"
    );
    assert_eq!(c.cmd("AUTH PLAIN"), "334 ");
    assert_eq!(c.cmd("*"), "501 5.0.0 authentication cancelled");
    assert_eq!(
        c.cmd("AUTH PLAIN !!!"),
        "501 5.5.2 cannot decode the response"
    );
    // AUTH LOGIN: "Username:", "Password:"; a new user is created (dev mode).
    assert_eq!(c.cmd("AUTH LOGIN"), "334 VXNlcm5hbWU6");
    assert_eq!(c.cmd("ZXJpbg=="), "334 UGFzc3dvcmQ6"); // erin
    assert_eq!(c.cmd("c2VjcmV0"), "235 2.7.0 authentication successful"); // secret
    assert_eq!(
        c.cmd("AUTH PLAIN AGVyaW4Ac2VjcmV0"),
        "503 5.5.1 already authenticated"
    );
    assert_eq!(
        c.cmd("MAIL FROM:<j\u{f6}rg@x>"),
        "553 5.6.7 a non-ASCII address needs SMTPUTF8"
    );
    assert_eq!(
        c.cmd("MAIL FROM:<a@x> SIZE=52428801"),
        "552 5.3.4 message size exceeds fixed maximum message size (52428800 bytes)"
    );
    // Pipelined: every reply in order, one after DATA for both recipients.
    c.send("MAIL FROM:<erin@x> AUTH=<erin@x>\r\nRCPT TO:<frank@x>\r\nRCPT TO:<demo+nosuchfolder@x>\r\nRCPT TO:<a b@x>\r\nDATA\r\nSubject: p\r\n\r\n..x\r\n.\r\nNOOP\r\n");
    let replies: Vec<String> = (0..7).map(|_| c.line()).collect();
    assert_eq!(
        replies,
        [
            "250 2.1.0 sender OK",
            "250 2.1.5 <frank@x> OK",
            "250 2.1.5 <demo+nosuchfolder@x> OK",
            "550 5.1.1 <a b@x>: no such user",
            "354 3.0.0 send the message, end with a line holding only \".\"",
            "250 2.0.0 message delivered",
            "250 2.0.0 OK"
        ]
    );
    let bye = c.cmd("QUIT");
    assert!(
        bye.starts_with("221 2.0.0 ") && bye.ends_with(" closing connection"),
        "{bye}"
    );
    // frank was created by the mail to him: his first login sets his password; erin logs in
    // with hers and finds the dot-unstuffed copy in Sent.
    let mut i = dev.imap();
    assert!(i
        .cmd("LOGIN frank pw")
        .last()
        .unwrap()
        .starts_with("TAG OK"));
    assert_eq!(count(&mut i, "INBOX"), "* STATUS INBOX (MESSAGES 1)");
    let mut e = dev.imap();
    assert!(e
        .cmd("LOGIN erin secret")
        .last()
        .unwrap()
        .starts_with("TAG OK"));
    assert_eq!(
        fetch(&mut e, "Sent", 1),
        (
            "\\Seen \\Recent".to_string(),
            b"Subject: p\r\n\r\n.x\r\n".to_vec()
        )
    );
    let mut d = dev.imap();
    assert!(d
        .cmd("LOGIN demo demo")
        .last()
        .unwrap()
        .starts_with("TAG OK"));
    assert_eq!(
        fetch(&mut d, "INBOX", 1).1,
        b"Return-Path: <erin@x>\r\nDelivered-To: demo+nosuchfolder@x\r\nSubject: p\r\n\r\n.x\r\n"
    );
}

/// IMAP LOGIN and AUTHENTICATE create an unknown user with the password given; from then on
/// that password is needed.
#[test]
fn imap_logins_create_users_on_first_use() {
    if common::sqlite_only("`liteimap dev` on its temporary SQLite file") {
        return;
    }
    let dev = Dev::start(&[]);
    let mut c = dev.imap();
    assert!(c
        .cmd("LOGIN gina first")
        .last()
        .unwrap()
        .starts_with("TAG OK"));
    assert_eq!(count(&mut c, "Sent"), "* STATUS Sent (MESSAGES 0)");
    let mut c = dev.imap();
    assert_eq!(
        c.cmd("LOGIN gina second"),
        ["TAG NO [AUTHENTICATIONFAILED] Authentication failed"]
    );
    // AUTHENTICATE PLAIN with an initial response: "\0hank\0pw".
    let mut c = dev.imap();
    assert!(c
        .cmd("AUTHENTICATE PLAIN AGhhbmsAcHc=")
        .last()
        .unwrap()
        .starts_with("TAG OK"));
    let mut c = dev.imap();
    assert!(c.cmd("LOGIN hank pw").last().unwrap().starts_with("TAG OK"));
    let log = dev.log_until("created user hank at its first login");
    assert!(
        log.contains("created user gina at its first login"),
        "{log}"
    );
}

/// `--no-auto-users`: unknown users are refused everywhere, with the usual answers; demo and
/// the `--user` ones work.
#[test]
fn no_auto_users_refuses_unknown_users() {
    if common::sqlite_only("`liteimap dev` on its temporary SQLite file") {
        return;
    }
    let dev = Dev::start(&["--no-auto-users", "--user", "ivy:poison"]);
    assert!(!dev.block.contains("any other user name"), "{}", dev.block);
    let mut c = dev.imap();
    assert_eq!(
        c.cmd("LOGIN stranger pw"),
        ["TAG NO [AUTHENTICATIONFAILED] Authentication failed"]
    );
    assert!(c
        .cmd("LOGIN ivy poison")
        .last()
        .unwrap()
        .starts_with("TAG OK"));
    let (mut s, _) = Lines::connect(dev.smtp);
    s.reply("EHLO x");
    // "\0stranger\0pw", then ivy with a wrong password: refused without auto users.
    assert_eq!(
        s.cmd("AUTH PLAIN AHN0cmFuZ2VyAHB3"),
        "535 5.7.8 authentication credentials invalid"
    );
    assert_eq!(
        s.cmd("AUTH PLAIN AGl2eQB3cm9uZw=="),
        "535 5.7.8 authentication credentials invalid"
    );
    assert_eq!(s.cmd("MAIL FROM:<x@y>"), "250 2.1.0 sender OK");
    assert_eq!(
        s.cmd("RCPT TO:<stranger@example.com>"),
        "550 5.1.1 <stranger@example.com>: no such user"
    );
    assert_eq!(
        s.cmd("RCPT TO:<ivy@example.com>"),
        "250 2.1.5 <ivy@example.com> OK"
    );
    let mut c = dev.imap();
    assert_eq!(
        c.cmd("LOGIN stranger pw"),
        ["TAG NO [AUTHENTICATIONFAILED] Authentication failed"]
    );
}

/// `--user` and `--demo-password` are printed and work; `--catch-all` puts every message,
/// once, into one INBOX.
#[test]
fn users_demo_password_and_catch_all() {
    if common::sqlite_only("`liteimap dev` on its temporary SQLite file") {
        return;
    }
    let dev = Dev::start(&[
        "--user",
        "jo:pw1",
        "--user",
        "kim:pw2",
        "--demo-password",
        "sesame",
        "--catch-all",
        "kim",
    ]);
    let lines: Vec<&str> = dev.block.lines().collect();
    assert_eq!(lines[0], "liteimap dev is running (Ctrl-C stops it)");
    assert_eq!(
        lines[1],
        format!(
            "  IMAP      127.0.0.1:{}  (no TLS; LOGIN, AUTHENTICATE PLAIN/LOGIN)",
            dev.imap
        )
    );
    assert_eq!(
        lines[2],
        format!(
            "  SMTP      127.0.0.1:{}  (AUTH PLAIN/LOGIN optional)",
            dev.smtp
        )
    );
    assert!(
        lines[3].starts_with("  web       http://127.0.0.1:"),
        "{}",
        lines[3]
    );
    assert_eq!(
        lines[4..7],
        [
            "  user      demo  password sesame",
            "  user      jo  password pw1",
            "  user      kim  password pw2"
        ]
    );
    assert_eq!(
        lines[8],
        "  catch-all every SMTP message goes to the INBOX of kim"
    );
    let mut c = dev.imap();
    assert_eq!(
        c.cmd("LOGIN demo demo"),
        ["TAG NO [AUTHENTICATIONFAILED] Authentication failed"]
    );
    assert!(c
        .cmd("LOGIN demo sesame")
        .last()
        .unwrap()
        .starts_with("TAG OK"));
    let (mut s, _) = Lines::connect(dev.smtp);
    s.reply("EHLO x");
    s.send("MAIL FROM:<x@y>\r\nRCPT TO:<jo@y>\r\nRCPT TO:<nobody@z>\r\nDATA\r\nSubject: all\r\n\r\nx\r\n.\r\n");
    let replies: Vec<String> = (0..5).map(|_| s.line()).collect();
    assert_eq!(replies[4], "250 2.0.0 message delivered");
    let mut k = dev.imap();
    assert!(k.cmd("LOGIN kim pw2").last().unwrap().starts_with("TAG OK"));
    assert_eq!(count(&mut k, "INBOX"), "* STATUS INBOX (MESSAGES 1)");
    let mut j = dev.imap();
    assert!(j.cmd("LOGIN jo pw1").last().unwrap().starts_with("TAG OK"));
    assert_eq!(count(&mut j, "INBOX"), "* STATUS INBOX (MESSAGES 0)");
    // Nobody was created for the catch-all's recipients.
    let mut n = dev.imap();
    assert!(n
        .cmd("LOGIN nobody x")
        .last()
        .unwrap()
        .starts_with("TAG OK"));
    assert_eq!(count(&mut n, "INBOX"), "* STATUS INBOX (MESSAGES 0)");
}

/// The temporary database is gone after SIGTERM and after Ctrl-C (SIGINT); `--keep FILE`
/// keeps it (and uses it again).
#[test]
fn temporary_database_is_removed_and_keep_keeps_it() {
    if common::sqlite_only("`liteimap dev` on its temporary SQLite file") {
        return;
    }
    let dev = Dev::start(&[]);
    let db = dev.database();
    assert!(dev.block.ends_with(" (deleted at exit)\n"), "{}", dev.block);
    assert!(db.exists());
    let mut c = dev.imap();
    assert!(c.cmd("LOGIN lou pw").last().unwrap().starts_with("TAG OK"));
    drop(c);
    assert!(dev.stop().success());
    assert!(!db.exists());
    assert!(!db.parent().unwrap().exists());
    let dev = Dev::start(&[]);
    let db = dev.database();
    assert!(db.exists());
    assert!(dev.signal("-INT").success());
    assert!(!db.parent().unwrap().exists());

    let dir = TempDir::new("dev-keep");
    let kept = dir.path().join("kept.db");
    let dev = Dev::start(&["--keep", kept.to_str().unwrap()]);
    assert_eq!(dev.database(), kept);
    assert!(dev.block.ends_with(" (kept)\n"), "{}", dev.block);
    let mut c = dev.imap();
    assert!(c.cmd("LOGIN lou pw").last().unwrap().starts_with("TAG OK"));
    drop(c);
    assert!(dev.stop().success());
    assert!(kept.exists());
    // Again on the same file: lou is still there, with the password he set.
    let dev = Dev::start(&["--keep", kept.to_str().unwrap(), "--no-auto-users"]);
    let mut c = dev.imap();
    assert!(c.cmd("LOGIN lou pw").last().unwrap().starts_with("TAG OK"));
    drop(c);
    assert!(dev.stop().success());
}

/// A non-loopback address needs `--public`.
#[test]
fn public_is_required_beyond_loopback() {
    if common::sqlite_only("`liteimap dev` on its temporary SQLite file") {
        return;
    }
    let out = Command::new(BIN)
        .args([
            "dev",
            "--imap",
            "0.0.0.0:0",
            "--smtp",
            "127.0.0.1:0",
            "--web",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr),
        "liteimap: --imap 0.0.0.0:0 is not a loopback address; dev mode makes users on first use, so anyone who reaches it can read and send mail: add --public to listen there anyway\n"
    );
    let out = Command::new(BIN)
        .args([
            "dev",
            "--imap",
            "127.0.0.1:0",
            "--smtp",
            "0.0.0.0:0",
            "--web",
            "127.0.0.1:0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr)
        .starts_with("liteimap: --smtp 0.0.0.0:0 is not a loopback address;"));
    let dev = Dev::spawn(
        &[
            "dev",
            "--imap",
            "0.0.0.0:0",
            "--smtp",
            "0.0.0.0:0",
            "--web",
            "127.0.0.1:0",
            "--public",
        ],
        true,
    );
    assert!(dev.block.contains("  IMAP      0.0.0.0:"), "{}", dev.block);
    assert!(dev.stop().success());
}

/// `serve --demo-password` names the demo user's password (no random one to parse), and
/// `serve --smtp-listen` is the same SMTP without auto users.
#[test]
fn serve_demo_password_and_smtp_listen() {
    let dir = TempDir::new("dev-serve");
    let db = dir.database("s.db");
    let dev = Dev::spawn(
        &[
            "--db",
            db.to_str().unwrap(),
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--smtp-listen",
            "127.0.0.1:0",
            "--demo-password",
            "known",
            "--max-auth-failures",
            "2",
            "--auth-failure-delay-ms",
            "0",
        ],
        false,
    );
    let mut c = dev.imap();
    assert!(c
        .cmd("LOGIN demo known")
        .last()
        .unwrap()
        .starts_with("TAG OK"));
    let mut n = dev.imap();
    assert_eq!(
        n.cmd("LOGIN stranger pw"),
        ["TAG NO [AUTHENTICATIONFAILED] Authentication failed"]
    );
    let (mut s, _) = Lines::connect(dev.smtp);
    s.reply("EHLO x");
    // demo with a wrong password: serve checks it ("\0demo\0wrong").
    assert_eq!(
        s.cmd("AUTH PLAIN AGRlbW8Ad3Jvbmc="),
        "535 5.7.8 authentication credentials invalid"
    );
    assert_eq!(
        s.cmd("AUTH PLAIN AGRlbW8Aa25vd24="),
        "235 2.7.0 authentication successful"
    );
    s.send("MAIL FROM:<demo@x>\r\nRCPT TO:<demo@x>\r\nRCPT TO:<nobody@x>\r\nDATA\r\nSubject: s\r\n\r\nx\r\n.\r\n");
    let replies: Vec<String> = (0..5).map(|_| s.line()).collect();
    assert_eq!(replies[2], "550 5.1.1 <nobody@x>: no such user");
    assert_eq!(replies[4], "250 2.0.0 message delivered");
    assert_eq!(count(&mut c, "INBOX"), "* STATUS INBOX (MESSAGES 1)");
    assert_eq!(count(&mut c, "Sent"), "* STATUS Sent (MESSAGES 1)");
    // Failed AUTHs count as failed IMAP logins do: --max-auth-failures closes the connection.
    let (mut t, _) = Lines::connect(dev.smtp);
    t.reply("EHLO x");
    assert_eq!(
        t.cmd("AUTH PLAIN AGRlbW8Ad3Jvbmc="),
        "535 5.7.8 authentication credentials invalid"
    );
    // "other\0demo\0known": another authorization identity (not counted as a failure).
    assert_eq!(
        t.cmd("AUTH PLAIN b3RoZXIAZGVtbwBrbm93bg=="),
        "535 5.7.8 the authorization identity must be empty or the user"
    );
    assert_eq!(
        t.reply("AUTH PLAIN AGRlbW8Ad3Jvbmc="),
        ["535 5.7.8 authentication credentials invalid"]
    );
    assert_eq!(
        t.line(),
        "421 4.7.0 too many failed authentications, closing connection"
    );
    let log = dev.log_until("folder Sent: delivered, UID 1");
    assert!(
        log.contains("to <demo@x>, folder INBOX: delivered, UID 1"),
        "{log}"
    );
    drop((c, n, s));
    assert!(dev.stop().success());
}

/// The page and its API come with dev: the block names the web address, the API answers there
/// and shows the session that just logged in, with its password masked.
#[test]
fn dev_serves_the_page_and_its_api() {
    if common::sqlite_only("`liteimap dev` on its temporary SQLite file") {
        return;
    }
    let dev = Dev::start(&[]);
    let web = dev
        .block
        .lines()
        .find_map(|l| l.strip_prefix("  web       "))
        .unwrap_or_else(|| panic!("no web line in:\n{}", dev.block))
        .to_string();
    assert!(
        web.starts_with("http://127.0.0.1:") && web.ends_with('/'),
        "{web}"
    );
    let mut c = dev.imap();
    assert!(c.cmd("LOGIN demo demo").last().unwrap().contains(" OK "));
    let get = |path: &str| {
        let out = Command::new("curl")
            .args(["-s", &format!("{web}api/v1/{path}")])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap()
    };
    assert!(
        get("users").contains(r#""name":"demo""#),
        "{}",
        get("users")
    );
    let traces = get("traces");
    assert!(traces.contains(r#""protocol":"imap""#), "{traces}");
    assert!(traces.contains(r#""user":"demo""#), "{traces}");
    drop(c);
    assert!(dev.stop().success());
}
