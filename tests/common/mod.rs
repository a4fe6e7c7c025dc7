//! Test harness: the real server on 127.0.0.1:0 with a temporary database, and a raw IMAP
//! client that sends lines and collects responses until the tagged one.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::Duration;

use liteimap::server::{self, Config, Context};
use liteimap::store::Store;

pub const ALICE: (&str, &str) = ("alice", "wonderland");
pub const BOB: (&str, &str) = ("bob", "builder");

/// A fresh temporary directory, removed when dropped.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "liteimap-it-{name}-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

pub struct TestServer {
    pub port: u16,
    pub db: PathBuf,
    pub ctx: Arc<Context>,
    thread: Option<JoinHandle<()>>,
}

impl TestServer {
    /// A server on a new database with the users alice and bob.
    pub fn start(dir: &TempDir) -> Self {
        Self::start_with(dir, Config::default())
    }

    pub fn start_with(dir: &TempDir, config: Config) -> Self {
        let db = dir.path().join("test.db");
        let fresh = !db.exists();
        let store = Arc::new(Store::open(&db).unwrap());
        if fresh {
            for (u, p) in [ALICE, BOB] {
                store
                    .create_user(u, &liteimap::password::hash(p.as_bytes()).unwrap())
                    .unwrap();
            }
        }
        let ctx = Context::new(store, config);
        let listeners =
            async_std::task::block_on(server::bind_all(&["127.0.0.1:0".to_string()])).unwrap();
        let port = listeners[0].local_addr().unwrap().port();
        let c = ctx.clone();
        let thread = std::thread::spawn(move || {
            async_std::task::block_on(server::serve(c, listeners));
        });
        TestServer {
            port,
            db,
            ctx,
            thread: Some(thread),
        }
    }

    /// A connection that has read the greeting.
    pub fn connect(&self) -> Client {
        let mut c = Client::connect(self.port);
        c.greeting = c.read_line();
        c
    }

    /// A connection logged in as `user`.
    pub fn login(&self, user: (&str, &str)) -> Client {
        let mut c = self.connect();
        let r = c.cmd(&format!("LOGIN {} {}", user.0, user.1));
        assert!(r.last().unwrap().contains("OK"), "login failed: {r:?}");
        c
    }

    /// Shut down gracefully and wait for the server thread.
    pub fn stop(mut self) {
        self.ctx.shutdown();
        if let Some(t) = self.thread.take() {
            t.join().unwrap();
        }
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.ctx.shutdown();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

pub struct Client {
    reader: BufReader<TcpStream>,
    writer: TcpStream,
    next_tag: usize,
    pub greeting: String,
}

impl Client {
    pub fn connect(port: u16) -> Self {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        Client {
            reader: BufReader::new(s.try_clone().unwrap()),
            writer: s,
            next_tag: 1,
            greeting: String::new(),
        }
    }

    pub fn send(&mut self, bytes: &[u8]) {
        self.writer.write_all(bytes).unwrap();
    }

    /// One response line without CRLF; a literal `{n}` at its end is read and appended
    /// (with the CRLF inside kept), followed by the rest of the line.
    pub fn read_line(&mut self) -> String {
        let mut out = Vec::new();
        loop {
            let mut line = Vec::new();
            let n = self.reader.read_until(b'\n', &mut line).unwrap();
            assert!(
                n > 0,
                "connection closed; got so far: {:?}",
                String::from_utf8_lossy(&out)
            );
            if line.ends_with(b"\r\n") {
                line.truncate(line.len() - 2);
            }
            out.extend_from_slice(&line);
            if let Some(len) = literal_len(&line) {
                let mut lit = vec![0; len];
                self.reader.read_exact(&mut lit).unwrap();
                out.extend_from_slice(b"\r\n");
                out.extend_from_slice(&lit);
                continue;
            }
            return String::from_utf8_lossy(&out).into_owned();
        }
    }

    /// Whether the server has closed the connection (reads EOF within the timeout).
    pub fn is_closed(&mut self) -> bool {
        let mut buf = [0u8; 1];
        matches!(self.reader.read(&mut buf), Ok(0) | Err(_))
    }

    pub fn tag(&mut self) -> String {
        let t = format!("t{}", self.next_tag);
        self.next_tag += 1;
        t
    }

    /// Send `TAG command` and return every line up to and including the tagged one; the tag
    /// is replaced by "TAG" in the last line so tests can compare exact text.
    pub fn cmd(&mut self, command: &str) -> Vec<String> {
        let tag = self.tag();
        self.send(format!("{tag} {command}\r\n").as_bytes());
        self.until_tagged(&tag)
    }

    /// Read lines until the tagged response for `tag`.
    pub fn until_tagged(&mut self, tag: &str) -> Vec<String> {
        let mut lines = Vec::new();
        loop {
            let l = self.read_line();
            if let Some(rest) = l.strip_prefix(&format!("{tag} ")) {
                lines.push(format!("TAG {rest}"));
                return lines;
            }
            lines.push(l);
        }
    }

    /// Send a command with a synchronising literal: waits for the `+` before the data.
    pub fn cmd_literal(&mut self, prefix: &str, literal: &[u8], suffix: &str) -> Vec<String> {
        let tag = self.tag();
        self.send(format!("{tag} {prefix} {{{}}}\r\n", literal.len()).as_bytes());
        let cont = self.read_line();
        if !cont.starts_with('+') {
            return vec![cont.replacen(&format!("{tag} "), "TAG ", 1)];
        }
        self.send(literal);
        self.send(format!("{suffix}\r\n").as_bytes());
        self.until_tagged(&tag)
    }

    /// APPEND a message; returns the tagged line.
    pub fn append(&mut self, mailbox: &str, flags: &str, message: &[u8]) -> String {
        let prefix = if flags.is_empty() {
            format!("APPEND {mailbox}")
        } else {
            format!("APPEND {mailbox} ({flags})")
        };
        self.cmd_literal(&prefix, message, "").pop().unwrap()
    }
}

fn literal_len(line: &[u8]) -> Option<usize> {
    let l = line.strip_suffix(b"}")?;
    let open = l.iter().rposition(|b| *b == b'{')?;
    let digits = &l[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

/// A small RFC 5322 message.
pub fn message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Alice <alice@example.org>\r\nTo: Bob <bob@example.org>\r\nSubject: {subject}\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <{subject}@example.org>\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}
