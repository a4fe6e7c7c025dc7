//! Protocol traces: what clients sent and what the server answered, per session.
//!
//! A session (IMAP, SMTP or LMTP) that runs while tracing is on (`serve --trace DIR`, or the
//! developer web page) owns a `SessionTrace`; the framing layers call it with each line and
//! literal read and each response queued (IMAP: `imap::conn`, after TLS and after COMPRESS
//! inflation; SMTP/LMTP: `lmtp`). When tracing is off the connection's `Option` is `None` and
//! nothing is formatted or allocated.
//!
//! What is kept (the limits are the constants below):
//! - Passwords are masked as `***`: LOGIN's password argument, AUTHENTICATE's initial response
//!   and every line the client sends until the AUTHENTICATE is answered (SASL PLAIN and LOGIN
//!   carry the password there), SMTP `AUTH`'s initial response and every line the client sends
//!   until a reply other than `334`.
//! - A literal (APPEND bodies, FETCH BODY[] answers) or a DATA content is one line: its first
//!   `LITERAL_HEAD` bytes and `… (N bytes)`. A line over `LINE_HEAD` bytes is shortened alike.
//!   The empty line that ends a command after its last literal is left out.
//! - Control characters and bytes that are not UTF-8 are shown escaped (`\r`, `\n`, `\t`,
//!   `\u{1b}`, `\xff`).
//! - In memory, a session keeps at most `MAX_LINES` lines and `MAX_BYTES` of text (then one
//!   marker line; later lines are dropped), and the hub the last `MAX_SESSIONS` sessions.
//! - A trace file (one per session, 0600, in a directory created 0700) gets a header line and
//!   then `TIME C: text` / `TIME S: text` lines, written as the session runs (buffered, flushed
//!   whenever the session writes to its client), up to `MAX_FILE_BYTES` (then a marker). A
//!   write error is logged once and only stops that session's file.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::fs::File;
use std::io::{BufWriter, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};

/// Sessions the hub keeps in memory (the oldest go first).
pub const MAX_SESSIONS: usize = 300;
/// Lines one session keeps in memory.
pub const MAX_LINES: usize = 2000;
/// Bytes one session keeps in memory: its lines' text and their bookkeeping. With
/// `MAX_SESSIONS`, the hub holds at most about 38 MiB (a session dropped from the hub keeps
/// nothing in memory, even while it still runs).
pub const MAX_BYTES: usize = 128 * 1024;
/// Bytes written to one session's trace file.
pub const MAX_FILE_BYTES: u64 = 16 * 1024 * 1024;
/// Longest line shown whole; a longer one is its first `LINE_HEAD` bytes and its length.
pub const LINE_HEAD: usize = 1000;
/// Bytes of a literal or DATA content shown.
pub const LITERAL_HEAD: usize = 100;
/// What a password is shown as.
pub const MASK: &str = "***";

/// The marker after which a session's later lines are not kept in memory.
pub const MEMORY_FULL: &str = "… (trace limit reached: later lines are not kept)";
/// The marker after which a trace file gets no more lines.
pub const FILE_FULL: &str = "… (trace file limit reached: later lines are not written)";

/// Protocol traces: what clients sent and what the server answered, per session.
pub struct TraceHub {
    /// Where trace files go; none: in memory only.
    dir: Option<PathBuf>,
    sessions: Mutex<VecDeque<Arc<Mutex<Record>>>>,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct TraceSummary {
    pub id: u64,
    /// "imap", "smtp" or "lmtp".
    pub protocol: String,
    /// The client's address.
    pub peer: String,
    /// Once logged in / authenticated.
    pub user: Option<String>,
    pub started_unix_ms: u64,
    /// The session is still running.
    pub open: bool,
    pub lines: usize,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct TraceLine {
    pub at_unix_ms: u64,
    pub from_client: bool,
    /// One protocol line, passwords masked, long literals shortened.
    pub text: String,
}

/// The protocol of a traced session.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    Imap,
    Smtp,
    Lmtp,
}

impl Protocol {
    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Imap => "imap",
            Protocol::Smtp => "smtp",
            Protocol::Lmtp => "lmtp",
        }
    }
}

/// One session as the hub keeps it.
struct Record {
    summary: TraceSummary,
    lines: Vec<TraceLine>,
    bytes: usize,
    full: bool,
}

impl Record {
    fn push(&mut self, line: TraceLine) {
        if self.full {
            return;
        }
        let bytes = line.text.len() + std::mem::size_of::<TraceLine>();
        if self.lines.len() + 1 >= MAX_LINES || self.bytes + bytes > MAX_BYTES {
            self.full = true;
            self.lines.push(TraceLine {
                at_unix_ms: line.at_unix_ms,
                from_client: false,
                text: MEMORY_FULL.into(),
            });
            return;
        }
        self.bytes += bytes;
        self.lines.push(line);
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// `ms` since the epoch in UTC, formatted with chrono's `format`.
fn utc(ms: u64, format: &str) -> String {
    chrono::DateTime::from_timestamp_millis(ms as i64)
        .map(|t| t.format(format).to_string())
        .unwrap_or_default()
}

/// Create the trace directory (0700) when it is missing.
pub fn prepare_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

impl TraceHub {
    /// A hub keeping traces in memory, and writing one file per session into `dir` when given
    /// (created when missing; when it cannot be, that is logged and only memory is used).
    pub fn new(dir: Option<PathBuf>) -> Self {
        let dir = dir.filter(|d| match prepare_dir(d) {
            Ok(()) => true,
            Err(e) => {
                log::error!("trace directory {}: {e}; no trace files", d.display());
                false
            }
        });
        TraceHub {
            dir,
            sessions: Mutex::new(VecDeque::new()),
        }
    }

    /// Start tracing session `id` (the id in the server's log) of `protocol` from `peer`.
    pub fn start(&self, protocol: Protocol, id: u64, peer: &str) -> SessionTrace {
        let started = now_ms();
        let record = Arc::new(Mutex::new(Record {
            summary: TraceSummary {
                id,
                protocol: protocol.as_str().into(),
                peer: peer.into(),
                user: None,
                started_unix_ms: started,
                open: true,
                lines: 0,
            },
            lines: Vec::new(),
            bytes: 0,
            full: false,
        }));
        {
            let mut sessions = lock(&self.sessions);
            sessions.push_back(record.clone());
            while sessions.len() > MAX_SESSIONS {
                sessions.pop_front();
            }
        }
        let file = self
            .dir
            .as_deref()
            .and_then(|dir| TraceFile::create(dir, started, protocol, id, peer));
        SessionTrace {
            protocol,
            record: Arc::downgrade(&record),
            file,
            user: None,
            auth: None,
            login: Login::None,
            out: Splitter::default(),
        }
    }

    /// Sessions kept in memory (the last few hundred), oldest first.
    pub fn sessions(&self) -> Vec<TraceSummary> {
        let sessions: Vec<_> = lock(&self.sessions).iter().cloned().collect();
        sessions
            .iter()
            .map(|r| {
                let r = lock(r);
                TraceSummary {
                    lines: r.lines.len(),
                    ..r.summary.clone()
                }
            })
            .collect()
    }

    /// One session's lines, or None when it is unknown or has been dropped.
    pub fn lines(&self, id: u64) -> Option<Vec<TraceLine>> {
        let record = lock(&self.sessions)
            .iter()
            .find(|r| lock(r).summary.id == id)
            .cloned()?;
        let lines = lock(&record).lines.clone();
        Some(lines)
    }
}

/// One session's trace file.
struct TraceFile {
    path: PathBuf,
    w: BufWriter<File>,
    written: u64,
    full: bool,
}

impl TraceFile {
    fn create(dir: &Path, started: u64, protocol: Protocol, id: u64, peer: &str) -> Option<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        let name = format!(
            "{}-{}-{id}.log",
            utc(started, "%Y%m%dT%H%M%S%.3fZ"),
            protocol.as_str()
        );
        let path = dir.join(name);
        let file = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&path);
        let mut f = match file {
            Ok(f) => TraceFile {
                path,
                w: BufWriter::new(f),
                written: 0,
                full: false,
            },
            Err(e) => {
                log::warn!(
                    "trace file {}: {e}; session {id} is not traced",
                    path.display()
                );
                return None;
            }
        };
        let header = format!(
            "# liteimap {} session {id} from {peer}, started {}",
            protocol.as_str(),
            utc(started, "%Y-%m-%dT%H:%M:%S%.3fZ")
        );
        f.write_line(&header).then_some(f)
    }

    /// Write one line; false after a write error (logged here).
    fn write_line(&mut self, line: &str) -> bool {
        if self.full {
            return true;
        }
        let mut text = line;
        if self.written + line.len() as u64 + 1 > MAX_FILE_BYTES {
            self.full = true;
            text = FILE_FULL;
        }
        self.written += text.len() as u64 + 1;
        match writeln!(self.w, "{text}") {
            Ok(()) => true,
            Err(e) => {
                self.failed(&e);
                false
            }
        }
    }

    fn failed(&self, e: &std::io::Error) {
        log::warn!(
            "trace file {}: {e}; tracing of this session stops",
            self.path.display()
        );
    }
}

/// An IMAP LOGIN whose literals are being read.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Login {
    None,
    /// The user name is the next literal.
    UserLiteral,
    /// Everything after the user name is the password.
    Secret,
}

/// One traced session. Dropping it marks the session closed and flushes its file.
pub struct SessionTrace {
    protocol: Protocol,
    /// The hub's copy (gone once the hub has dropped the session).
    record: Weak<Mutex<Record>>,
    file: Option<TraceFile>,
    user: Option<String>,
    /// An authentication exchange is under way: the client's lines are masked until it is
    /// answered (IMAP: by the tagged response with this tag; SMTP: by a reply other than 334).
    auth: Option<Vec<u8>>,
    login: Login,
    /// The IMAP server's output, split into lines and literals.
    out: Splitter,
}

impl SessionTrace {
    fn push(&mut self, from_client: bool, text: String) {
        let at_unix_ms = now_ms();
        if let Some(f) = &mut self.file {
            let line = format!(
                "{} {}: {text}",
                utc(at_unix_ms, "%H:%M:%S%.3f"),
                if from_client { "C" } else { "S" }
            );
            if !f.write_line(&line) {
                self.file = None;
            }
        }
        if let Some(r) = self.record.upgrade() {
            lock(&r).push(TraceLine {
                at_unix_ms,
                from_client,
                text,
            });
        }
    }

    /// The client logged in (or authenticated) as `user`.
    pub fn set_user(&mut self, user: &str) {
        if self.user.as_deref() == Some(user) {
            return;
        }
        self.user = Some(user.to_string());
        if let Some(r) = self.record.upgrade() {
            lock(&r).summary.user = Some(user.to_string());
        }
        if let Some(f) = &mut self.file {
            if !f.write_line(&format!("# user {user}")) {
                self.file = None;
            }
        }
    }

    /// Write what the trace file has buffered.
    pub fn flush(&mut self) {
        if let Some(f) = &mut self.file {
            if let Err(e) = f.w.flush() {
                f.failed(&e);
                self.file = None;
            }
        }
    }

    /// A line from the client (its line ending stripped here): an SMTP/LMTP command or
    /// AUTH answer, or the line that begins an IMAP message (a command, an AUTHENTICATE
    /// answer, IDLE's DONE).
    pub fn client_line(&mut self, line: &[u8]) {
        let line = strip_eol(line);
        let text = if self.auth.is_some() {
            MASK.to_string()
        } else {
            match self.protocol {
                Protocol::Imap => self.imap_command(line),
                Protocol::Smtp | Protocol::Lmtp => self.smtp_command(line),
            }
        };
        self.push(true, text);
    }

    /// IMAP: a line that continues a message after one of its literals.
    pub fn client_continued(&mut self, line: &[u8]) {
        let line = strip_eol(line);
        if line.is_empty() {
            return;
        }
        let text = match self.login {
            Login::None => shown(line, LINE_HEAD),
            Login::UserLiteral | Login::Secret => {
                self.login = Login::Secret;
                MASK.to_string()
            }
        };
        self.push(true, text);
    }

    /// A literal from the IMAP client, or the content of SMTP/LMTP DATA.
    pub fn client_literal(&mut self, bytes: &[u8]) {
        let text = match self.login {
            Login::None => shown(bytes, LITERAL_HEAD),
            Login::UserLiteral => {
                self.login = Login::Secret;
                shown(bytes, LINE_HEAD)
            }
            Login::Secret => MASK.to_string(),
        };
        self.push(true, text);
    }

    /// IMAP: bytes queued for the client (any part of the output stream: responses,
    /// continuation requests, streamed literals).
    pub fn server_bytes(&mut self, bytes: &[u8]) {
        let mut done = Vec::new();
        self.out.feed(bytes, &mut done);
        for piece in done {
            if let (Some(tag), Some(head)) = (&self.auth, &piece.line_head) {
                if head.len() > tag.len() && head.starts_with(tag) && head[tag.len()] == b' ' {
                    self.auth = None;
                }
            }
            self.push(false, piece.text);
        }
    }

    /// SMTP/LMTP: one reply line (without its line ending).
    pub fn server_line(&mut self, line: &[u8]) {
        if self.auth.is_some() && !line.starts_with(b"334") {
            self.auth = None;
        }
        self.push(false, shown(line, LINE_HEAD));
    }

    fn imap_command(&mut self, line: &[u8]) -> String {
        self.login = Login::None;
        let (tag, rest) = split_word(line);
        let (command, args) = split_word(rest);
        // Where the arguments start in `line`.
        let at = (tag.len() + 1 + command.len() + 1).min(line.len());
        if command.eq_ignore_ascii_case(b"LOGIN") {
            return match first_argument(args) {
                Argument::Literal => {
                    self.login = Login::UserLiteral;
                    shown(line, LINE_HEAD)
                }
                Argument::Len(n) => {
                    self.login = Login::Secret;
                    masked_after(line, at + n)
                }
            };
        }
        if command.eq_ignore_ascii_case(b"AUTHENTICATE") {
            self.auth = Some(tag.to_vec());
            let (mechanism, _) = split_word(args);
            return masked_after(line, at + mechanism.len());
        }
        shown(line, LINE_HEAD)
    }

    fn smtp_command(&mut self, line: &[u8]) -> String {
        let (verb, args) = split_word(line);
        if verb.eq_ignore_ascii_case(b"AUTH") {
            self.auth = Some(Vec::new());
            let (mechanism, _) = split_word(args);
            return masked_after(line, (verb.len() + 1 + mechanism.len()).min(line.len()));
        }
        shown(line, LINE_HEAD)
    }
}

impl Drop for SessionTrace {
    fn drop(&mut self) {
        self.flush();
        if let Some(r) = self.record.upgrade() {
            lock(&r).summary.open = false;
        }
    }
}

fn strip_eol(line: &[u8]) -> &[u8] {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    line.strip_suffix(b"\r").unwrap_or(line)
}

/// The first word and what follows the space after it.
fn split_word(s: &[u8]) -> (&[u8], &[u8]) {
    match s.iter().position(|&b| b == b' ') {
        Some(i) => (&s[..i], &s[i + 1..]),
        None => (s, &[]),
    }
}

enum Argument {
    /// The argument is a literal (the next fragment).
    Literal,
    /// The argument is the first this many bytes (0 when it cannot be told: mask it all).
    Len(usize),
}

/// The extent of the first IMAP argument of `args`: a quoted string, a literal or an atom.
fn first_argument(args: &[u8]) -> Argument {
    match args.first() {
        Some(b'{') | Some(b'~') => Argument::Literal,
        Some(b'"') => {
            let mut escaped = false;
            for (i, &b) in args.iter().enumerate().skip(1) {
                match b {
                    _ if escaped => escaped = false,
                    b'\\' => escaped = true,
                    b'"' => return Argument::Len(i + 1),
                    _ => {}
                }
            }
            Argument::Len(0)
        }
        _ => Argument::Len(split_word(args).0.len()),
    }
}

/// `line` up to `at`, and ` ***` when anything followed.
fn masked_after(line: &[u8], at: usize) -> String {
    let at = at.min(line.len());
    let mut s = shown(line[..at].trim_ascii_end(), LINE_HEAD);
    if !line[at..].trim_ascii().is_empty() {
        s.push(' ');
        s.push_str(MASK);
    }
    s
}

/// `bytes` escaped, at most `head` of them, then `… (N bytes)` when there were more.
fn shown(bytes: &[u8], head: usize) -> String {
    shown_of(&bytes[..bytes.len().min(head)], bytes.len())
}

/// The first bytes of something `total` bytes long, escaped, with the length when shortened.
fn shown_of(head: &[u8], total: usize) -> String {
    let mut s = String::with_capacity(head.len() + 16);
    escape_into(&mut s, head);
    if total > head.len() {
        let _ = write!(s, "… ({total} bytes)");
    }
    s
}

/// UTF-8 text as it is; control characters and bytes that are not UTF-8 escaped.
fn escape_into(out: &mut String, bytes: &[u8]) {
    for chunk in bytes.utf8_chunks() {
        for c in chunk.valid().chars() {
            match c {
                '\r' => out.push_str("\\r"),
                '\n' => out.push_str("\\n"),
                '\t' => out.push_str("\\t"),
                c if c.is_control() => {
                    let _ = write!(out, "\\u{{{:x}}}", c as u32);
                }
                c => out.push(c),
            }
        }
        for b in chunk.invalid() {
            let _ = write!(out, "\\x{b:02x}");
        }
    }
}

/// A finished line or literal of the output stream.
struct Piece {
    text: String,
    /// A line's first bytes (to tell a tagged response); None for a literal.
    line_head: Option<Vec<u8>>,
}

/// Splits an IMAP output stream, fed in any pieces, into lines and literals, keeping only
/// the first bytes of each and the last bytes of a line (where a literal is announced).
#[derive(Default)]
struct Splitter {
    head: Vec<u8>,
    tail: Vec<u8>,
    len: usize,
    /// Bytes of the current literal still to come.
    literal: Option<u64>,
}

/// Bytes kept of a long line's end: enough for a literal announcement.
const TAIL: usize = 32;

impl Splitter {
    fn feed(&mut self, mut bytes: &[u8], done: &mut Vec<Piece>) {
        while !bytes.is_empty() {
            if let Some(left) = self.literal {
                let take = (left.min(bytes.len() as u64)) as usize;
                self.keep_head(&bytes[..take], LITERAL_HEAD);
                bytes = &bytes[take..];
                let left = left - take as u64;
                self.literal = Some(left);
                if left == 0 {
                    self.literal = None;
                    done.push(Piece {
                        text: shown_of(&self.head, self.len),
                        line_head: None,
                    });
                    self.reset();
                }
                continue;
            }
            let (part, end) = match bytes.iter().position(|&b| b == b'\n') {
                Some(i) => (&bytes[..i], true),
                None => (bytes, false),
            };
            self.keep_head(part, LINE_HEAD + 1);
            let from = part.len().saturating_sub(TAIL);
            self.tail.extend_from_slice(&part[from..]);
            let over = self.tail.len().saturating_sub(TAIL);
            self.tail.drain(..over);
            bytes = &bytes[part.len()..];
            if end {
                bytes = &bytes[1..];
                self.end_line(done);
            }
        }
    }

    fn keep_head(&mut self, bytes: &[u8], max: usize) {
        let room = max.saturating_sub(self.head.len()).min(bytes.len());
        self.head.extend_from_slice(&bytes[..room]);
        self.len += bytes.len();
    }

    fn end_line(&mut self, done: &mut Vec<Piece>) {
        if self.tail.last() == Some(&b'\r') {
            self.tail.pop();
            self.len -= 1;
        }
        self.head.truncate(self.len.min(LINE_HEAD));
        done.push(Piece {
            text: shown_of(&self.head, self.len),
            line_head: Some(std::mem::take(&mut self.head)),
        });
        let literal = announced_literal(&self.tail);
        self.reset();
        match literal {
            Some(0) => done.push(Piece {
                text: String::new(),
                line_head: None,
            }),
            Some(n) => self.literal = Some(n),
            None => {}
        }
    }

    fn reset(&mut self) {
        self.head.clear();
        self.tail.clear();
        self.len = 0;
    }
}

/// The length of the literal a line ends by announcing (`{N}`, `{N+}`, `~{N}`).
fn announced_literal(end: &[u8]) -> Option<u64> {
    let inner = end.strip_suffix(b"}")?;
    let open = inner.iter().rposition(|&b| b == b'{')?;
    let digits = &inner[open + 1..];
    let digits = digits.strip_suffix(b"+").unwrap_or(digits);
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(digits).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(hub: &TraceHub, id: u64) -> Vec<String> {
        hub.lines(id)
            .unwrap()
            .iter()
            .map(|l| format!("{}{}", if l.from_client { "C: " } else { "S: " }, l.text))
            .collect()
    }

    #[test]
    fn imap_login_password_is_masked() {
        let hub = TraceHub::new(None);
        let mut t = hub.start(Protocol::Imap, 1, "peer");
        t.client_line(b"a LOGIN alice wonderland\r\n");
        t.client_line(b"b LOGIN \"al ice\" \"won \\\" der\"\r\n");
        t.client_line(b"c login alice {10}\r\n");
        t.client_literal(b"wonderland");
        t.client_continued(b"\r\n");
        t.client_line(b"d LOGIN {5}\r\n");
        t.client_literal(b"alice");
        t.client_continued(b" {10}\r\n");
        t.client_literal(b"wonderland");
        t.client_continued(b"\r\n");
        t.client_line(b"e LOGIN \"unterminated secret\r\n");
        t.client_line(b"f LOGIN alice\r\n");
        t.client_line(b"g SELECT INBOX\r\n");
        assert_eq!(
            texts(&hub, 1),
            [
                "C: a LOGIN alice ***",
                "C: b LOGIN \"al ice\" ***",
                "C: c login alice ***",
                "C: ***",
                "C: d LOGIN {5}",
                "C: alice",
                "C: ***",
                "C: ***",
                "C: e LOGIN ***",
                "C: f LOGIN alice",
                "C: g SELECT INBOX",
            ]
        );
    }

    #[test]
    fn imap_authenticate_is_masked_until_answered() {
        let hub = TraceHub::new(None);
        let mut t = hub.start(Protocol::Imap, 1, "peer");
        t.client_line(b"a AUTHENTICATE PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=\r\n");
        t.server_bytes(b"a OK done\r\n");
        t.client_line(b"b AUTHENTICATE PLAIN\r\n");
        t.server_bytes(b"+ \r\n");
        t.client_line(b"AGFsaWNlAHdvbmRlcmxhbmQ=\r\n");
        t.server_bytes(b"* OK not yet\r\nbb OK not this one\r\n");
        t.client_line(b"more\r\n");
        t.server_bytes(b"b NO [AUTHENTICATIONFAILED] nope\r\n");
        t.client_line(b"c NOOP\r\n");
        assert_eq!(
            texts(&hub, 1),
            [
                "C: a AUTHENTICATE PLAIN ***",
                "S: a OK done",
                "C: b AUTHENTICATE PLAIN",
                "S: + ",
                "C: ***",
                "S: * OK not yet",
                "S: bb OK not this one",
                "C: ***",
                "S: b NO [AUTHENTICATIONFAILED] nope",
                "C: c NOOP",
            ]
        );
    }

    #[test]
    fn smtp_auth_is_masked_until_a_final_reply() {
        let hub = TraceHub::new(None);
        let mut t = hub.start(Protocol::Smtp, 7, "peer");
        t.client_line(b"AUTH PLAIN AGFsaWNlAHdvbmRlcmxhbmQ=\r\n");
        t.server_line(b"235 2.7.0 ok");
        t.client_line(b"auth login\r\n");
        t.server_line(b"334 VXNlcm5hbWU6");
        t.client_line(b"YWxpY2U=\r\n");
        t.server_line(b"334 UGFzc3dvcmQ6");
        t.client_line(b"d29uZGVybGFuZA==\r\n");
        t.server_line(b"535 5.7.8 no");
        t.client_line(b"MAIL FROM:<a@b>\r\n");
        assert_eq!(
            texts(&hub, 7),
            [
                "C: AUTH PLAIN ***",
                "S: 235 2.7.0 ok",
                "C: auth login",
                "S: 334 VXNlcm5hbWU6",
                "C: ***",
                "S: 334 UGFzc3dvcmQ6",
                "C: ***",
                "S: 535 5.7.8 no",
                "C: MAIL FROM:<a@b>",
            ]
        );
        assert_eq!(hub.sessions()[0].protocol, "smtp");
    }

    #[test]
    fn output_is_split_into_lines_and_shortened_literals_in_any_pieces() {
        let hub = TraceHub::new(None);
        let mut t = hub.start(Protocol::Imap, 1, "peer");
        let body = vec![b'x'; 5000];
        let mut out = b"* 1 FETCH (BODY[] {5000}\r\n".to_vec();
        out.extend_from_slice(&body);
        out.extend_from_slice(b")\r\n* 2 FETCH (BODY[] {0}\r\n)\r\na OK\r\n");
        for chunk in out.chunks(7) {
            t.server_bytes(chunk);
        }
        let x100 = "x".repeat(LITERAL_HEAD);
        assert_eq!(
            texts(&hub, 1),
            [
                "S: * 1 FETCH (BODY[] {5000}".to_string(),
                format!("S: {x100}… (5000 bytes)"),
                "S: )".into(),
                "S: * 2 FETCH (BODY[] {0}".into(),
                "S: ".into(),
                "S: )".into(),
                "S: a OK".into(),
            ]
        );
    }

    #[test]
    fn long_lines_keep_their_head_and_announcement() {
        let hub = TraceHub::new(None);
        let mut t = hub.start(Protocol::Imap, 1, "peer");
        let mut line = b"* SEARCH".to_vec();
        line.extend_from_slice(&b" 1".repeat(2000));
        line.extend_from_slice(b" {3}\r\nabc\r\n");
        t.server_bytes(&line);
        let lines = texts(&hub, 1);
        assert_eq!(lines.len(), 3);
        assert!(lines[0].ends_with("… (4012 bytes)"), "{}", lines[0]);
        assert_eq!(lines[0].len(), 3 + LINE_HEAD + "… (4012 bytes)".len());
        assert_eq!(lines[1], "S: abc");
        assert_eq!(lines[2], "S: ");
    }

    #[test]
    fn binary_and_invalid_utf8_are_escaped() {
        let hub = TraceHub::new(None);
        let mut t = hub.start(Protocol::Imap, 1, "peer");
        t.client_line(b"a \\Seen \xff\xfe \x1b[0m caf\xc3\xa9 \t\r\n");
        t.client_literal(b"line 1\r\nline 2\0\xc3");
        assert_eq!(
            texts(&hub, 1),
            [
                "C: a \\Seen \\xff\\xfe \\u{1b}[0m café \\t",
                "C: line 1\\r\\nline 2\\u{0}\\xc3",
            ]
        );
    }

    #[test]
    fn memory_is_bounded_per_session_and_in_sessions() {
        let hub = TraceHub::new(None);
        let mut t = hub.start(Protocol::Imap, 1, "peer");
        for _ in 0..MAX_LINES * 2 {
            t.client_line(b"a NOOP\r\n");
        }
        let lines = hub.lines(1).unwrap();
        assert_eq!(lines.len(), MAX_LINES);
        assert_eq!(lines.last().unwrap().text, MEMORY_FULL);
        let big = vec![b'y'; LINE_HEAD];
        let mut t2 = hub.start(Protocol::Imap, 2, "peer");
        for _ in 0..MAX_BYTES / LINE_HEAD * 2 {
            t2.client_line(&big);
        }
        let lines = hub.lines(2).unwrap();
        let each = std::mem::size_of::<TraceLine>();
        let bytes: usize = lines.iter().map(|l| l.text.len() + each).sum();
        assert!(bytes <= MAX_BYTES + MEMORY_FULL.len() + each, "{bytes}");
        assert_eq!(lines.last().unwrap().text, MEMORY_FULL);
        for id in 3..MAX_SESSIONS as u64 + 10 {
            drop(hub.start(Protocol::Lmtp, id, "peer"));
        }
        let sessions = hub.sessions();
        assert_eq!(sessions.len(), MAX_SESSIONS);
        assert_eq!(sessions[0].id, 10);
        assert!(hub.lines(1).is_none());
        assert!(!sessions[0].open);
        // A session the hub dropped goes on without keeping anything.
        t.client_line(b"a NOOP\r\n");
        assert!(hub.lines(1).is_none());
        drop(t);
        drop(t2);
    }

    #[test]
    fn a_write_error_stops_only_the_file() {
        let hub = TraceHub::new(None);
        let mut t = hub.start(Protocol::Imap, 1, "peer");
        let full = std::fs::OpenOptions::new().write(true).open("/dev/full");
        let Ok(full) = full else {
            return;
        };
        t.file = Some(TraceFile {
            path: "/dev/full".into(),
            w: BufWriter::with_capacity(64, full),
            written: 0,
            full: false,
        });
        for _ in 0..10 {
            t.client_line(b"a NOOP\r\n");
            t.flush();
        }
        assert!(t.file.is_none());
        assert_eq!(hub.lines(1).unwrap().len(), 10);
    }

    #[test]
    fn summary_shows_user_and_open() {
        let hub = TraceHub::new(None);
        let mut t = hub.start(Protocol::Imap, 5, "127.0.0.1:1234");
        t.set_user("alice");
        t.client_line(b"a NOOP\r\n");
        let s = &hub.sessions()[0];
        assert_eq!(
            (s.id, s.user.as_deref(), s.open, s.lines, s.peer.as_str()),
            (5, Some("alice"), true, 1, "127.0.0.1:1234")
        );
        drop(t);
        assert!(!hub.sessions()[0].open);
    }
}
