//! Test harness: the real server on 127.0.0.1:0 with a temporary database, and a raw IMAP
//! client that sends lines and collects responses until the tagged one.
#![allow(dead_code)]

pub mod pg;

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Duration;

use liteimap::server::{self, Config, Context};
use liteimap::store::Store;

/// The capabilities a logged-in session is offered, in the server's order: the one list the
/// tests that assert CAPABILITY exactly compare against (`concat!("* CAPABILITY ", caps!())`).
/// Not `#[macro_export]`ed: tests/on_postgres.rs holds one copy of this module per test file,
/// and each is imported with the module (`use common::*` or `common::caps!()`).
#[allow(unused_macros)]
macro_rules! caps {
    () => {
        "IMAP4REV1 IDLE UNSELECT UIDPLUS MOVE LITERAL+ APPENDLIMIT=52428800 NAMESPACE ID ENABLE CONDSTORE QRESYNC CHILDREN SPECIAL-USE CREATE-SPECIAL-USE LIST-EXTENDED LIST-STATUS STATUS=SIZE WITHIN BINARY ESEARCH SEARCHRES MULTIAPPEND SORT SORT=DISPLAY THREAD=ORDEREDSUBJECT THREAD=REFERENCES THREAD=REFS I18NLEVEL=1 ESORT PARTIAL IMAP4rev2 UTF8=ACCEPT NOTIFY CATENATE URLAUTH URLAUTH=BINARY URL-PARTIAL QUOTA QUOTA=RES-STORAGE QUOTA=RES-MESSAGE QUOTA=RES-MAILBOX METADATA-SERVER METADATA COMPRESS=DEFLATE OBJECTID SAVEDATE PREVIEW UNAUTHENTICATE REPLACE CONTEXT=SEARCH CONTEXT=SORT UIDONLY"
    };
}
#[allow(unused_imports)]
pub(crate) use caps;

/// The store the integration tests run on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// The backend of this test binary: PostgreSQL in tests/on_postgres.rs, which holds the test
/// files as its modules (this module is then `on_postgres::FILE::common`), SQLite in the test
/// files' own binaries. Known at compile time, per module: nothing to set, nothing to forget.
pub const BACKEND: Backend = if const_starts_with(module_path!(), "on_postgres::") {
    Backend::Postgres
} else {
    Backend::Sqlite
};

/// Whether the tests of this binary run on PostgreSQL.
pub fn on_postgres() -> bool {
    BACKEND == Backend::Postgres
}

/// The mark of a test about SQLite itself (the file, its WAL, `backup`, `check`, a full disk,
/// the search index): `if sqlite_only("why") { return; }` first in the test. On PostgreSQL it
/// says so on stderr and the test returns. `grep -rn 'sqlite_only(' tests/` lists them all.
pub fn sqlite_only(why: &str) -> bool {
    if on_postgres() {
        eprintln!("SQLite only, not run on PostgreSQL: {why}");
    }
    on_postgres()
}

/// Run `sqlite` or `postgres` (one batch of SQL, the same change in each dialect) on the
/// server's database, on a connection of its own: for states the protocol cannot make.
pub fn execute_sql(srv: &TestServer, sqlite: &str, postgres: &str) {
    match BACKEND {
        Backend::Sqlite => rusqlite::Connection::open(&srv.db)
            .unwrap()
            .execute_batch(sqlite)
            .unwrap(),
        Backend::Postgres => pg::execute(srv.db.to_str().unwrap(), postgres),
    }
}

const fn const_starts_with(s: &str, prefix: &str) -> bool {
    let (s, p) = (s.as_bytes(), prefix.as_bytes());
    if s.len() < p.len() {
        return false;
    }
    let mut i = 0;
    while i < p.len() {
        if s[i] != p[i] {
            return false;
        }
        i += 1;
    }
    true
}

pub const ALICE: (&str, &str) = ("alice", "wonderland");
pub const BOB: (&str, &str) = ("bob", "builder");

/// A fresh temporary directory, removed when dropped; on PostgreSQL also the databases its
/// tests named (see [`TempDir::database`]), dropped with it.
pub struct TempDir(pub PathBuf, Mutex<HashMap<String, pg::TestDb>>);

impl TempDir {
    pub fn new(name: &str) -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        // The module path keeps the copies of this module in tests/on_postgres.rs (each with
        // its own counter) apart.
        let module = module_path!().replace("::", "-");
        let dir = std::env::temp_dir().join(format!(
            "liteimap-it-{name}-{}-{module}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::SeqCst)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        TempDir(dir, Mutex::new(HashMap::new()))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }

    /// The database a test calls `name` (`"test.db"`), as `--db` takes it: on SQLite the file
    /// `name` in this directory, on PostgreSQL the `postgresql://` URL of a database made for
    /// this directory and name at the first call. Whether it is new: on SQLite the file does
    /// not exist yet; on PostgreSQL this is the first call for the name.
    pub fn database_fresh(&self, name: &str) -> (PathBuf, bool) {
        match BACKEND {
            Backend::Sqlite => {
                let db = self.0.join(name);
                let fresh = !db.exists();
                (db, fresh)
            }
            Backend::Postgres => {
                let mut dbs = self.1.lock().unwrap();
                let fresh = !dbs.contains_key(name);
                let db = dbs.entry(name.to_string()).or_insert_with(pg::fresh_db);
                (PathBuf::from(db.url()), fresh)
            }
        }
    }

    /// [`TempDir::database_fresh`] without the flag: the `--db` of the database `name`.
    pub fn database(&self, name: &str) -> PathBuf {
        self.database_fresh(name).0
    }
}

/// Open the store a `--db` value names (a SQLite file or a `postgresql://` URL), as the
/// binary does.
pub fn open_store(db: &Path) -> Store {
    let db: liteimap::database::Database = db.to_str().unwrap().parse().unwrap();
    db.open().unwrap()
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
    /// A server on a new database with the users alice and bob. Failed logins are answered
    /// without the growing delay (tests of the delay set it themselves).
    pub fn start(dir: &TempDir) -> Self {
        Self::start_with(
            dir,
            Config {
                auth_failure_delay: Duration::ZERO,
                ..Config::default()
            },
        )
    }

    /// [`TestServer::start`] with `config`, on the backend of this binary: the database
    /// `test.db` of `dir` ([`TempDir::database`]), made with alice and bob when new.
    pub fn start_with(dir: &TempDir, config: Config) -> Self {
        let (db, fresh) = dir.database_fresh("test.db");
        let store = open_store(&db);
        Self::start_on(store, fresh, db, config)
    }

    /// A server on `store` (any backend), adding alice and bob when `fresh`; `db` is what
    /// the test calls its database.
    pub fn start_on(store: Store, fresh: bool, db: PathBuf, config: Config) -> Self {
        let store = Arc::new(store);
        if fresh {
            for (u, p) in [ALICE, BOB] {
                store
                    .create_user(u, &liteimap::password::hash(p.as_bytes()).unwrap())
                    .unwrap();
            }
        }
        let ctx = Context::new(store, config);
        let listeners =
            async_std::task::block_on(server::bind_all(&["127.0.0.1:0".to_string()], false))
                .unwrap();
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

/// A connection whose receive buffer is fixed small (64 KiB), so a client that stops reading
/// stalls the server's writes soon instead of after the kernel's auto-tuned megabytes.
pub fn small_buffer_stream(port: u16) -> TcpStream {
    use socket2::{Domain, Socket, Type};
    let s = Socket::new(Domain::IPV4, Type::STREAM, None).unwrap();
    s.set_recv_buffer_size(64 * 1024).unwrap();
    let addr: std::net::SocketAddr = ([127, 0, 0, 1], port).into();
    s.connect(&addr.into()).unwrap();
    s.into()
}

impl Client {
    pub fn connect(port: u16) -> Self {
        Self::from_stream(TcpStream::connect(("127.0.0.1", port)).unwrap())
    }

    pub fn from_stream(s: TcpStream) -> Self {
        s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
        // A literal and the rest of its line go out as two writes; with Nagle the second waits
        // for the delayed ACK of the first (~40 ms per literal command on loopback).
        s.set_nodelay(true).unwrap();
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
        String::from_utf8_lossy(&self.read_line_bytes()).into_owned()
    }

    /// [`Client::read_line`] as raw bytes (literals may hold 8-bit data).
    pub fn read_line_bytes(&mut self) -> Vec<u8> {
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
            return out;
        }
    }

    /// The socket, for writes below the level of commands.
    pub fn writer_mut(&mut self) -> &mut TcpStream {
        &mut self.writer
    }

    /// The buffered reader, for reads below the level of lines.
    pub fn reader_mut(&mut self) -> &mut BufReader<TcpStream> {
        &mut self.reader
    }

    /// Whether something (or the end of the connection) can be read without waiting.
    pub fn has_data(&mut self) -> bool {
        if !self.reader.buffer().is_empty() {
            return true;
        }
        let s = self.reader.get_ref();
        let _ = s.set_nonblocking(true);
        let mut b = [0u8; 1];
        let r = s.peek(&mut b);
        let _ = s.set_nonblocking(false);
        r.is_ok()
    }

    /// Whether the server has closed the connection (reads EOF within the timeout).
    pub fn is_closed(&mut self) -> bool {
        let mut buf = [0u8; 1];
        matches!(self.reader.read(&mut buf), Ok(0) | Err(_))
    }

    /// The number of the tag the next command will use (`t{n}`).
    pub fn peek_tag(&self) -> usize {
        self.next_tag
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

    /// [`Client::cmd`] with raw byte lines (the tagged line keeps its real tag).
    pub fn cmd_bytes(&mut self, command: &str) -> Vec<Vec<u8>> {
        let tag = self.tag();
        self.send(format!("{tag} {command}\r\n").as_bytes());
        let mut lines = Vec::new();
        loop {
            let l = self.read_line_bytes();
            let done = l.starts_with(format!("{tag} ").as_bytes());
            lines.push(l);
            if done {
                return lines;
            }
        }
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

/// APPEND with flags (may be empty) and an explicit internal date; returns the tagged line.
impl Client {
    pub fn append_dated(
        &mut self,
        mailbox: &str,
        flags: &str,
        date: &str,
        message: &[u8],
    ) -> String {
        let prefix = format!("APPEND {mailbox} ({flags}) \"{date}\"");
        self.cmd_literal(&prefix, message, "").pop().unwrap()
    }
}

/// A mailbox's UIDVALIDITY, read with STATUS.
pub fn uidvalidity(c: &mut Client, mailbox: &str) -> String {
    let r = c.cmd(&format!("STATUS {mailbox} (UIDVALIDITY)"));
    r[0].rsplit(' ')
        .next()
        .unwrap()
        .trim_end_matches(')')
        .to_string()
}

/// A new database at `db` (a file, or a URL from [`TempDir::database`]) with the user alice,
/// for tests that run the binary.
pub fn database_with_alice(db: &Path) {
    let store = open_store(db);
    let hash = liteimap::password::hash(ALICE.1.as_bytes()).unwrap();
    store.create_user(ALICE.0, &hash).unwrap();
}

/// The port in a `liteimap listening on 127.0.0.1:PORT (…)` log line. A test starts the binary
/// with `--listen 127.0.0.1:0` and reads the port it got, rather than reserving a free port and
/// releasing it for the child, which another test may take in between.
pub fn listening_port(line: &str) -> Option<u16> {
    port_after(line, "listening on ")
}

/// The port of the `host:port` that follows `marker` in a log line.
pub fn port_after(line: &str, marker: &str) -> Option<u16> {
    let (_, rest) = line.split_once(marker)?;
    let addr = rest.split_whitespace().next()?;
    addr.rsplit_once(':')?.1.parse().ok()
}

/// How many rows a table of the server's database holds (read on a connection of its own;
/// the tables have the same names in both schemas).
pub fn table_rows(srv: &TestServer, table: &str) -> i64 {
    let sql = format!("SELECT count(*) FROM {table}");
    match BACKEND {
        Backend::Sqlite => {
            let db = rusqlite::Connection::open(&srv.db).unwrap();
            db.query_row(&sql, [], |r| r.get(0)).unwrap()
        }
        Backend::Postgres => pg::query_one_i64(srv.db.to_str().unwrap(), &sql),
    }
}

/// Put a message straight into the store (the import/delivery path), for bytes that APPEND
/// cannot carry.
pub fn store_message(srv: &TestServer, user: &str, mailbox: &str, raw: Vec<u8>) {
    let store = &srv.ctx.store;
    let u = store.find_user(user).unwrap().unwrap();
    let mb = store.mailbox(u.id, mailbox).unwrap().unwrap();
    store
        .append(mb.id, &[liteimap::message::prepare(raw, vec![], None)])
        .unwrap();
}

/// The `testdata/` directory.
pub fn testdata() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata")
}

/// The fixture names (`X` for `testdata/X.eml`), sorted.
pub fn fixture_names() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(testdata())
        .unwrap()
        .filter_map(|e| {
            let name = e.ok()?.file_name().into_string().ok()?;
            name.strip_suffix(".eml").map(str::to_string)
        })
        .collect();
    names.sort();
    names
}

/// A fixture as it is APPENDed: CRLF-normalized, with huge-line.eml's `@@HUGE_LINE@@` marker
/// expanded to 1 MiB of `x` as tests/mime_fixtures.rs does.
pub fn fixture(name: &str) -> Vec<u8> {
    const HUGE_MARKER: &[u8] = b"@@HUGE_LINE@@";
    let raw = std::fs::read(testdata().join(format!("{name}.eml"))).unwrap();
    let raw = match raw
        .windows(HUGE_MARKER.len())
        .position(|w| w == HUGE_MARKER)
    {
        Some(p) => {
            let mut v = raw[..p].to_vec();
            v.extend(std::iter::repeat_n(b'x', 1024 * 1024));
            v.extend_from_slice(&raw[p + HUGE_MARKER.len()..]);
            v
        }
        None => raw,
    };
    liteimap::mime::normalize_crlf(&raw).into_owned()
}

/// The two lines of `testdata/X.expected`: the ENVELOPE item and the BODYSTRUCTURE item.
pub fn expected(name: &str) -> (Vec<u8>, Vec<u8>) {
    let want = std::fs::read(testdata().join(format!("{name}.expected"))).unwrap();
    let want = want.strip_suffix(b"\n").unwrap_or(&want);
    // Literals inside hold CRLF only; the separator is the one bare LF.
    let sep = want
        .iter()
        .enumerate()
        .position(|(i, b)| *b == b'\n' && (i == 0 || want[i - 1] != b'\r'))
        .unwrap();
    (want[..sep].to_vec(), want[sep + 1..].to_vec())
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

/// The MAILBOXID (RFC 8474) in a SELECT or EXAMINE response (random per database).
pub fn mailbox_id(lines: &[String]) -> String {
    lines
        .iter()
        .find_map(|l| l.strip_prefix("* OK [MAILBOXID ("))
        .and_then(|l| l.split(')').next())
        .unwrap_or_default()
        .to_string()
}

/// `lines` with every MAILBOXID (random per database) written `F…`, for exact comparisons:
/// CREATE answers `TAG OK [MAILBOXID (F…)] CREATE completed`.
pub fn ids_masked<S: AsRef<str>>(lines: &[S]) -> Vec<String> {
    lines
        .iter()
        .map(|l| {
            let l = l.as_ref();
            match l.find("MAILBOXID (F") {
                Some(at) => {
                    let start = at + "MAILBOXID (F".len();
                    let end = l[start..].find(')').map_or(l.len(), |e| start + e);
                    format!("{}…{}", &l[..start], &l[end..])
                }
                None => l.to_string(),
            }
        })
        .collect()
}

/// The line of every SELECT and EXAMINE (after MAILBOXID, before HIGHESTMODSEQ) naming the
/// URLAUTH mechanisms of the mailbox (RFC 4467 §7).
pub const URLMECH: &str = "* OK [URLMECH INTERNAL] URLAUTH mechanisms";

/// The tagged answer of a successful CREATE, as `ids_masked` shows it.
pub const CREATED: &str = "TAG OK [MAILBOXID (F…)] CREATE completed";

/// A small RFC 5322 message.
pub fn message(subject: &str, body: &str) -> Vec<u8> {
    format!(
        "From: Alice <alice@example.org>\r\nTo: Bob <bob@example.org>\r\nSubject: {subject}\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <{subject}@example.org>\r\n\r\n{body}\r\n"
    )
    .into_bytes()
}

/// Run a Python script (`python3 -c SCRIPT ARGS…`) and return its standard output. Python and
/// the modules the script imports (imaplib; IMAPClient from PyPI) are installed by `.ci/run`:
/// a missing one fails the test, it is never skipped.
pub fn python(script: &str, args: &[&str]) -> String {
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("python3 could not run ({e}); .ci/run installs it"));
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "the Python client failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}

/// A raw SMTP or LMTP connection: write text, read reply lines (CRLF stripped).
pub struct Lines {
    r: BufReader<TcpStream>,
    w: TcpStream,
}

impl Lines {
    /// A connection to `port` on loopback, with the greeting it read.
    pub fn connect(port: u16) -> (Lines, String) {
        Lines::from_stream(TcpStream::connect(("127.0.0.1", port)).unwrap())
    }

    /// A connected stream, with the greeting it read.
    pub fn from_stream(s: TcpStream) -> (Lines, String) {
        s.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
        let mut c = Lines {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
        };
        let greeting = c.line();
        (c, greeting)
    }

    pub fn send(&mut self, s: &str) {
        self.w.write_all(s.as_bytes()).unwrap();
    }

    pub fn line(&mut self) -> String {
        let mut l = String::new();
        self.r.read_line(&mut l).unwrap();
        assert!(l.ends_with("\r\n"), "not a full line: {l:?}");
        l.truncate(l.len() - 2);
        l
    }

    pub fn lines(&mut self, n: usize) -> Vec<String> {
        (0..n).map(|_| self.line()).collect()
    }

    /// Send one command line and read its one-line reply.
    pub fn cmd(&mut self, c: &str) -> String {
        self.send(&format!("{c}\r\n"));
        self.line()
    }

    /// Send one command line and read its reply, every line of a multi-line one.
    pub fn reply(&mut self, c: &str) -> Vec<String> {
        self.send(&format!("{c}\r\n"));
        let mut lines = vec![self.line()];
        while lines.last().unwrap().as_bytes().get(3) == Some(&b'-') {
            lines.push(self.line());
        }
        lines
    }
}

/// The lines a child writes on stderr, as they come.
pub fn lines_of(child: &mut std::process::Child) -> std::sync::mpsc::Receiver<String> {
    let (tx, rx) = std::sync::mpsc::channel();
    let err = child.stderr.take().unwrap();
    std::thread::spawn(move || {
        for line in BufReader::new(err).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    rx
}

/// The next line containing `needle` (the lines before it are skipped).
pub fn wait_for(rx: &std::sync::mpsc::Receiver<String>, needle: &str) -> String {
    let mut seen = Vec::new();
    loop {
        match rx.recv_timeout(Duration::from_secs(20)) {
            Ok(l) if l.contains(needle) => return l,
            Ok(l) => seen.push(l),
            Err(_) => panic!("no line with {needle:?}; got {seen:?}"),
        }
    }
}

/// A child process (a `serve` a test started itself) killed and reaped when this goes, also
/// when the test fails half-way, so no server outlives its test.
pub struct KillOnDrop(pub std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}
