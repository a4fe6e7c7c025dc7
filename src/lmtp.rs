//! LMTP (RFC 2033): how an MTA (Postfix, Exim, OpenSMTPD) hands mail to liteimap.
//!
//! One task per connection. Commands are read as bounded lines; DATA is read with dot-unstuffing
//! and never buffered beyond the configured maximum message size (the rest is read and thrown
//! away, and every recipient gets `552 5.3.4`). After DATA each accepted recipient gets its own
//! reply (RFC 2033 §4.2), sent only once that recipient's copy is committed.
//!
//! Replies are collected and written when no further pipelined command is already waiting in the
//! input buffer, so a pipelining client gets its replies in one write.
//!
//! Address mapping (see README "Receiving mail"): `user@domain` → user `user`, matched exactly
//! first and then case-insensitively when exactly one user matches; `user+tag@domain` → user
//! `user`, into the folder `tag` when that user has it (else INBOX). With a domain list, other
//! domains are refused with `550 5.1.2`; an address without a domain is matched on its local part.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use async_std::io::{Read, ReadExt, Write, WriteExt};
use async_std::net::TcpListener;
use async_std::os::unix::net::UnixListener;
use async_std::prelude::FutureExt as _;

use crate::autousers::Policy;
use crate::server::Context;
use crate::store::{MailboxId, StoreError, UserId, INBOX};

/// Longest command line, CRLF included (RFC 5321 allows 512 plus extension parameters).
const MAX_COMMAND_LINE: usize = 4096;
/// Most recipients in one transaction (RFC 5321 requires at least 100).
const MAX_RECIPIENTS: usize = 1000;
/// Silence allowed between commands and within DATA (RFC 5321 §4.5.3.2 suggests 5 minutes).
const READ_TIMEOUT: Duration = Duration::from_secs(300);
const READ_CHUNK: usize = 16 * 1024;

/// Which protocol a listener speaks: the same commands, reader and limits, told apart where
/// they differ (greeting and hello verb, AUTH and SMTPUTF8, the replies after DATA).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// RFC 2033: LHLO, one reply per recipient after DATA.
    Lmtp,
    /// RFC 5321 for tests (`--smtp-listen`, `liteimap dev`): EHLO/HELO, AUTH PLAIN/LOGIN,
    /// SMTPUTF8, one reply after DATA; the authenticated sender's copy goes to its Sent.
    Smtp,
}

impl Protocol {
    pub fn name(self) -> &'static str {
        match self {
            Protocol::Lmtp => "LMTP",
            Protocol::Smtp => "SMTP",
        }
    }

    /// The label of metrics and `liteimap who`.
    pub fn label(self) -> &'static str {
        match self {
            Protocol::Lmtp => "lmtp",
            Protocol::Smtp => "smtp",
        }
    }
}

/// What the LMTP and SMTP listeners need besides the shared context.
#[derive(Clone, Debug)]
pub struct Settings {
    pub protocol: Protocol,
    /// Largest message accepted, in bytes (DATA as received, before our headers).
    pub max_message_size: u64,
    /// Accepted recipient domains, lower case; empty accepts every domain.
    pub domains: Vec<String>,
    /// The name in the greeting and the LHLO reply.
    pub hostname: String,
    /// Most simultaneous LMTP connections per listener.
    pub max_connections: usize,
    /// SMTP `--catch-all USER`: every recipient is this user's INBOX.
    pub catch_all: Option<String>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            protocol: Protocol::Lmtp,
            max_message_size: 50 * 1024 * 1024,
            domains: Vec::new(),
            hostname: hostname(),
            max_connections: 100,
            catch_all: None,
        }
    }
}

/// This machine's host name, for the greeting ("localhost" when it cannot be read).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty() && s.bytes().all(|b| b.is_ascii_graphic()))
        .unwrap_or_else(|| "localhost".into())
}

pub enum Listener {
    Tcp(TcpListener),
    /// The socket and its path, removed again at shutdown.
    Unix(UnixListener, PathBuf),
}

impl Listener {
    /// The TCP address (tests bind port 0 and need the real one).
    pub fn local_addr(&self) -> Option<std::net::SocketAddr> {
        match self {
            Listener::Tcp(l) => l.local_addr().ok(),
            Listener::Unix(..) => None,
        }
    }

    pub fn describe(&self) -> String {
        match self {
            Listener::Tcp(l) => match l.local_addr() {
                Ok(a) => a.to_string(),
                Err(_) => "tcp".into(),
            },
            Listener::Unix(_, p) => p.display().to_string(),
        }
    }
}

/// Bind an LMTP TCP listener (warning when it is not loopback: LMTP has no authentication).
pub async fn bind_tcp(addr: &str) -> Result<Listener, String> {
    bind_tcp_for(Protocol::Lmtp, addr, "127.0.0.1:24").await
}

/// Bind an SMTP TCP listener (warning when it is not loopback: it needs no authentication).
pub async fn bind_smtp(addr: &str) -> Result<Listener, String> {
    bind_tcp_for(Protocol::Smtp, addr, "127.0.0.1:1025").await
}

async fn bind_tcp_for(protocol: Protocol, addr: &str, example: &str) -> Result<Listener, String> {
    let name = protocol.name();
    let parsed: std::net::SocketAddr = addr.parse().map_err(|_| {
        format!("invalid {name} listen address {addr:?} (expected IP:PORT, e.g. {example})")
    })?;
    if !parsed.ip().is_loopback() {
        let has = match protocol {
            Protocol::Lmtp => "has no authentication",
            Protocol::Smtp => "needs no authentication",
        };
        log::warn!(
            "{name} on {parsed}: {name} {has}, so anyone who can reach this address can deliver mail to every user"
        );
    }
    let l = crate::server::listen(parsed)
        .map_err(|e| format!("cannot listen for {name} on {parsed}: {e}"))?;
    Ok(Listener::Tcp(l))
}

/// Bind an LMTP Unix socket at `path`: a stale socket left by a crashed server is removed, a
/// socket some live process answers on is not, and a file that is not a socket is never touched.
/// The socket is made 0660 (owner and group: put the MTA's user in liteimap's group).
pub async fn bind_unix(path: &Path) -> Result<Listener, String> {
    use std::os::unix::fs::PermissionsExt;
    crate::admin::clear_stale_socket(path, "LMTP socket")?;
    let l = UnixListener::bind(path)
        .await
        .map_err(|e| format!("cannot listen for LMTP on {}: {e}", path.display()))?;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o660))
        .map_err(|e| format!("cannot set permissions of {}: {e}", path.display()))?;
    Ok(Listener::Unix(l, path.to_path_buf()))
}

/// Accept LMTP connections until shutdown.
pub async fn serve(ctx: Arc<Context>, settings: Arc<Settings>, listener: Listener) {
    let stop = ctx.shutdown_signal();
    let active = Arc::new(AtomicUsize::new(0));
    loop {
        let accepted = async {
            Some(match &listener {
                Listener::Tcp(l) => l.accept().await.map(|(s, p)| {
                    let _ = s.set_nodelay(true);
                    (Conn::Tcp(s), p.to_string())
                }),
                Listener::Unix(l, path) => l
                    .accept()
                    .await
                    .map(|(s, _)| (Conn::Unix(s), path.display().to_string())),
            })
        };
        let shutdown = async {
            let _ = stop.recv().await;
            None
        };
        let (conn, peer) = match accepted.race(shutdown).await {
            None => break,
            Some(Ok(pair)) => pair,
            Some(Err(e)) => {
                log::warn!("{} accept failed: {e}", settings.protocol.name());
                async_std::task::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        let ctx = ctx.clone();
        let settings = settings.clone();
        let active = active.clone();
        async_std::task::spawn(async move {
            let over = active.fetch_add(1, Ordering::SeqCst) >= settings.max_connections;
            let _count = Counted(active);
            if over {
                log::warn!(
                    "{}: refusing {peer}: too many connections",
                    settings.protocol.name()
                );
                let _ = conn
                    .write_all(b"421 4.3.2 too many connections, try again later\r\n")
                    .await;
                return;
            }
            match conn {
                Conn::Tcp(s) => run_connection(ctx, settings, s, &peer).await,
                Conn::Unix(s) => run_connection(ctx, settings, s, &peer).await,
            }
        });
    }
    if let Listener::Unix(_, path) = &listener {
        let _ = std::fs::remove_file(path);
    }
    // Idle connections answer 421 at once; a delivery in progress gets a moment to commit and
    // reply, so the MTA does not retry a message that was in fact stored.
    let deadline = std::time::Instant::now() + Duration::from_secs(5);
    while active.load(Ordering::SeqCst) > 0 && std::time::Instant::now() < deadline {
        async_std::task::sleep(Duration::from_millis(10)).await;
    }
}

/// One open connection in the listener's count, however its task ends.
struct Counted(Arc<AtomicUsize>);

impl Drop for Counted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

enum Conn {
    Tcp(async_std::net::TcpStream),
    Unix(async_std::os::unix::net::UnixStream),
}

impl Conn {
    async fn write_all(&self, bytes: &[u8]) -> std::io::Result<()> {
        match self {
            Conn::Tcp(s) => s.clone().write_all(bytes).await,
            Conn::Unix(s) => s.clone().write_all(bytes).await,
        }
    }
}

async fn run_connection<S>(ctx: Arc<Context>, settings: Arc<Settings>, stream: S, peer: &str)
where
    S: Read + Write + Clone + Unpin + Send + 'static,
{
    let name = settings.protocol.name();
    log::debug!("{name} {peer}: connected");
    let traced = match settings.protocol {
        Protocol::Lmtp => crate::trace::Protocol::Lmtp,
        Protocol::Smtp => crate::trace::Protocol::Smtp,
    };
    // One id for the log, `liteimap who` and the trace. Listed by `who` while it lasts (an
    // LMTP or SMTP session has no IMAP user to kick).
    let id = ctx.next_session_id();
    let _listed = ctx
        .sessions
        .register(id, settings.protocol.label(), peer, false);
    let mut session = Session {
        settings,
        input: Input::new(stream.clone()),
        output: stream,
        pending: Vec::new(),
        greeted: false,
        txn: None,
        trace: (ctx.trace.as_ref()).map(|hub| hub.start(traced, id, peer)),
        user: None,
        auth_failures: 0,
        peer: peer.to_string(),
        ctx,
    };
    match session.run().await {
        Ok(()) => log::debug!("{name} {peer}: disconnected"),
        Err(e) => log::info!("{name} {peer}: connection ended: {e}"),
    }
}

/// A read buffer that also tells whether more input is already waiting (pipelining).
struct Input<S> {
    stream: S,
    buf: Vec<u8>,
    start: usize,
    end: usize,
}

enum Line {
    Text(Vec<u8>),
    TooLong,
    Eof,
}

impl<S: Read + Unpin> Input<S> {
    fn new(stream: S) -> Self {
        Input {
            stream,
            buf: vec![0; READ_CHUNK],
            start: 0,
            end: 0,
        }
    }

    fn buffered(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Read more when the buffer is empty; Ok(false) at end of input.
    async fn fill(&mut self) -> std::io::Result<bool> {
        if self.start < self.end {
            return Ok(true);
        }
        self.start = 0;
        self.end = 0;
        let n = async_std::io::timeout(READ_TIMEOUT, self.stream.read(&mut self.buf)).await?;
        self.end = n;
        Ok(n > 0)
    }

    /// One line (CRLF or LF ending stripped) of at most `max` bytes; longer lines are read to
    /// their end and reported as too long.
    async fn line(&mut self, max: usize) -> std::io::Result<Line> {
        let mut line = Vec::new();
        let mut too_long = false;
        loop {
            if !self.fill().await? {
                return Ok(Line::Eof);
            }
            let avail = self.buffered();
            let (take, done) = match avail.iter().position(|&b| b == b'\n') {
                Some(i) => (i + 1, true),
                None => (avail.len(), false),
            };
            if !too_long {
                if line.len() + take > max {
                    too_long = true;
                    line = Vec::new();
                } else {
                    line.extend_from_slice(&avail[..take]);
                }
            }
            self.start += take;
            if done {
                if too_long {
                    return Ok(Line::TooLong);
                }
                line.pop();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                return Ok(Line::Text(line));
            }
        }
    }

    /// The DATA content up to the line holding only ".", dot-unstuffed. At most `max` bytes
    /// are kept; Ok(None) when the message was larger (it has still been read to its end).
    async fn data(&mut self, max: u64) -> std::io::Result<Option<Vec<u8>>> {
        #[derive(PartialEq)]
        enum At {
            LineStart,
            Dot,
            DotCr,
            Inside,
        }
        let max = usize::try_from(max).unwrap_or(usize::MAX);
        let mut sink = Sink {
            msg: Vec::new(),
            over: false,
            max,
        };
        let mut at = At::LineStart;
        loop {
            if !self.fill().await? {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::UnexpectedEof,
                    "connection closed during DATA",
                ));
            }
            let avail = &self.buf[self.start..self.end];
            let mut i = 0;
            while i < avail.len() {
                let b = avail[i];
                match at {
                    At::Inside => {
                        let end = match avail[i..].iter().position(|&c| c == b'\n') {
                            Some(p) => {
                                at = At::LineStart;
                                i + p + 1
                            }
                            None => avail.len(),
                        };
                        sink.keep(&avail[i..end]);
                        i = end;
                        continue;
                    }
                    At::LineStart => {
                        if b == b'.' {
                            at = At::Dot;
                        } else {
                            sink.keep(&[b]);
                            at = if b == b'\n' {
                                At::LineStart
                            } else {
                                At::Inside
                            };
                        }
                    }
                    At::Dot => {
                        if b == b'\r' {
                            at = At::DotCr;
                        } else if b == b'\n' {
                            self.start += i + 1;
                            return Ok(sink.finish());
                        } else {
                            // The first dot of a line is always the stuffing (RFC 5321 §4.5.2).
                            sink.keep(&[b]);
                            at = At::Inside;
                        }
                    }
                    At::DotCr => {
                        if b == b'\n' {
                            self.start += i + 1;
                            return Ok(sink.finish());
                        }
                        sink.keep(b"\r");
                        sink.keep(&[b]);
                        at = At::Inside;
                    }
                }
                i += 1;
            }
            self.start = self.end;
        }
    }
}

/// DATA content kept up to the limit; past it, nothing more is kept.
struct Sink {
    msg: Vec<u8>,
    over: bool,
    max: usize,
}

impl Sink {
    fn keep(&mut self, bytes: &[u8]) {
        if self.over {
            return;
        }
        if self.msg.len() + bytes.len() <= self.max {
            self.msg.extend_from_slice(bytes);
        } else {
            self.over = true;
            self.msg = Vec::new();
        }
    }

    fn finish(self) -> Option<Vec<u8>> {
        (!self.over).then_some(self.msg)
    }
}

/// An accepted recipient: the address as given, and where its copy goes.
struct Recipient {
    address: String,
    mailbox: MailboxId,
    /// The folder's name, for the log.
    folder: String,
}

struct Transaction {
    sender: String,
    recipients: Vec<Recipient>,
    /// MAIL FROM carried SMTPUTF8 (RFC 6531): addresses may be UTF-8.
    utf8: bool,
}

/// The user an SMTP session authenticated as (its copy goes to the user's Sent).
struct Sender {
    id: UserId,
    name: String,
}

struct Session<S> {
    ctx: Arc<Context>,
    settings: Arc<Settings>,
    input: Input<S>,
    output: S,
    /// Replies not yet written (flushed when no pipelined input is waiting).
    pending: Vec<u8>,
    greeted: bool,
    txn: Option<Transaction>,
    /// SMTP AUTH succeeded as this user.
    user: Option<Sender>,
    /// Failed SMTP AUTH attempts on this connection.
    auth_failures: u32,
    /// The client's address (or "unix"), for the log.
    peer: String,
    /// The protocol trace (None: tracing is off).
    trace: Option<crate::trace::SessionTrace>,
}

/// One message stored into one folder: where, for the log, and the outcome.
struct Copy {
    mailbox: MailboxId,
    raw: Vec<u8>,
    flags: Vec<String>,
    /// The recipient address (or the sender's, for its Sent copy).
    address: String,
    folder: String,
}

impl<S: Read + Write + Clone + Unpin + Send> Session<S> {
    fn reply(&mut self, line: &str) {
        if let Some(t) = &mut self.trace {
            t.server_line(line.as_bytes());
        }
        self.pending.extend_from_slice(line.as_bytes());
        self.pending.extend_from_slice(b"\r\n");
    }

    fn smtp(&self) -> bool {
        self.settings.protocol == Protocol::Smtp
    }

    /// "LMTP" or "SMTP", for the log.
    fn name(&self) -> &'static str {
        self.settings.protocol.name()
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        if let Some(t) = &mut self.trace {
            t.flush();
        }
        if !self.pending.is_empty() {
            let out = std::mem::take(&mut self.pending);
            self.output.write_all(&out).await?;
            self.output.flush().await?;
        }
        Ok(())
    }

    /// The next command line; None when the connection ended or the server shuts down (the
    /// 421 is then already sent).
    async fn next_line(&mut self) -> std::io::Result<Option<Line>> {
        if self.input.buffered().is_empty() {
            self.flush().await?;
        }
        let stop = self.ctx.shutdown_signal();
        let read = async { Some(self.input.line(MAX_COMMAND_LINE).await) };
        let shutdown = async {
            let _ = stop.recv().await;
            None
        };
        match read.race(shutdown).await {
            None => {
                self.reply("421 4.3.2 server shutting down");
                self.flush().await?;
                Ok(None)
            }
            Some(l) => Ok(Some(l?)),
        }
    }

    async fn run(&mut self) -> std::io::Result<()> {
        let greeting = format!(
            "220 {} {} liteimap ready",
            self.settings.hostname,
            if self.smtp() { "ESMTP" } else { "LMTP" }
        );
        self.reply(&greeting);
        loop {
            let line = match self.next_line().await? {
                None | Some(Line::Eof) => return Ok(()),
                Some(Line::TooLong) => {
                    self.reply("500 5.5.2 line too long");
                    continue;
                }
                Some(Line::Text(l)) => l,
            };
            if let Some(t) = &mut self.trace {
                t.client_line(&line);
            }
            let line = String::from_utf8_lossy(&line).into_owned();
            let (verb, arg) = match line.split_once(' ') {
                Some((v, a)) => (v.to_ascii_uppercase(), a.trim()),
                None => (line.trim().to_ascii_uppercase(), ""),
            };
            match (verb.as_str(), self.settings.protocol) {
                ("LHLO", Protocol::Lmtp) | ("EHLO", Protocol::Smtp) => self.hello(arg, true),
                ("HELO", Protocol::Smtp) => self.hello(arg, false),
                ("HELO" | "EHLO", Protocol::Lmtp) => self.reply("500 5.5.1 this is LMTP: use LHLO"),
                ("LHLO", Protocol::Smtp) => self.reply("500 5.5.1 this is SMTP: use EHLO"),
                ("AUTH", Protocol::Smtp) => {
                    if !self.auth(arg).await? {
                        return Ok(());
                    }
                }
                ("MAIL", _) => self.mail(arg),
                ("RCPT", _) => self.rcpt(arg).await,
                ("DATA", _) => self.data(arg).await?,
                ("RSET", _) => {
                    self.txn = None;
                    self.reply("250 2.0.0 OK");
                }
                ("NOOP", _) => self.reply("250 2.0.0 OK"),
                ("QUIT", _) => {
                    let bye = format!("221 2.0.0 {} closing connection", self.settings.hostname);
                    self.reply(&bye);
                    return self.flush().await;
                }
                ("VRFY", _) => self.reply("252 2.5.0 cannot VRFY user, but will accept message"),
                ("EXPN" | "HELP" | "TURN" | "ETRN" | "BDAT" | "STARTTLS" | "AUTH", _) => {
                    self.reply("502 5.5.1 command not implemented")
                }
                _ => self.reply("500 5.5.2 command unrecognized"),
            }
        }
    }

    /// LHLO (LMTP), EHLO (`extended`) or HELO (SMTP).
    fn hello(&mut self, arg: &str, extended: bool) {
        if arg.is_empty() {
            let verb = match (self.smtp(), extended) {
                (false, _) => "LHLO",
                (true, true) => "EHLO",
                (true, false) => "HELO",
            };
            return self.reply(&format!("501 5.5.4 syntax: {verb} hostname"));
        }
        self.greeted = true;
        self.txn = None;
        if !extended {
            let line = format!("250 {}", self.settings.hostname);
            return self.reply(&line);
        }
        let mut lines = vec![
            self.settings.hostname.clone(),
            format!("SIZE {}", self.settings.max_message_size),
            "8BITMIME".into(),
            "PIPELINING".into(),
            "ENHANCEDSTATUSCODES".into(),
        ];
        if self.smtp() {
            lines.push("SMTPUTF8".into());
            lines.push("AUTH PLAIN LOGIN".into());
        }
        let last = lines.len() - 1;
        for (i, l) in lines.iter().enumerate() {
            let sep = if i == last { ' ' } else { '-' };
            self.reply(&format!("250{sep}{l}"));
        }
    }

    /// SMTP AUTH (RFC 4954) with PLAIN (RFC 4616) or LOGIN. Ok(false) when the connection
    /// ended meanwhile.
    async fn auth(&mut self, arg: &str) -> std::io::Result<bool> {
        if !self.greeted {
            self.reply("503 5.5.1 send EHLO first");
            return Ok(true);
        }
        if self.user.is_some() {
            self.reply("503 5.5.1 already authenticated");
            return Ok(true);
        }
        if self.txn.is_some() {
            self.reply("503 5.5.1 AUTH is not allowed during a mail transaction");
            return Ok(true);
        }
        let (mechanism, initial) = match arg.split_once(' ') {
            Some((m, i)) => (m.to_ascii_uppercase(), Some(i.trim())),
            None => (arg.to_ascii_uppercase(), None),
        };
        // RFC 4954 §4: "=" is an empty initial response.
        let initial = initial.map(|i| if i == "=" { "" } else { i });
        let credentials = match mechanism.as_str() {
            "PLAIN" => {
                let response = match initial {
                    Some(r) => Some(r.to_string()),
                    None => self.sasl_step("").await?,
                };
                let Some(response) = response else {
                    return Ok(false);
                };
                decode_base64(&response).and_then(|r| split_plain(&r))
            }
            "LOGIN" => {
                let user = match initial {
                    Some(u) => Some(u.to_string()),
                    // "Username:"
                    None => self.sasl_step("VXNlcm5hbWU6").await?,
                };
                let Some(user) = user else {
                    return Ok(false);
                };
                // "Password:"
                let Some(pass) = self.sasl_step("UGFzc3dvcmQ6").await? else {
                    return Ok(false);
                };
                match (decode_base64(&user), decode_base64(&pass)) {
                    (Ok(u), Ok(p)) => Ok((u, p)),
                    (Err(why), _) | (_, Err(why)) => Err(why),
                }
            }
            "" => {
                self.reply("501 5.5.4 syntax: AUTH mechanism [initial-response]");
                return Ok(true);
            }
            _ => {
                self.reply("504 5.5.4 unrecognized authentication mechanism (use PLAIN or LOGIN)");
                return Ok(true);
            }
        };
        let (user, pass) = match credentials {
            Ok(c) => c,
            Err(AuthError::Cancelled) => {
                self.reply("501 5.0.0 authentication cancelled");
                return Ok(true);
            }
            Err(AuthError::Malformed) => {
                self.reply("501 5.5.2 cannot decode the response");
                return Ok(true);
            }
            Err(AuthError::Identity) => {
                self.reply("535 5.7.8 the authorization identity must be empty or the user");
                return Ok(true);
            }
        };
        let name = String::from_utf8_lossy(&user).into_owned();
        let policy = if self.ctx.config().auto_users {
            Policy::CreateAnyPassword
        } else {
            Policy::Existing
        };
        let lookup = name.clone();
        let found = self
            .ctx
            .db
            .run(move |store| crate::autousers::login(store, &lookup, &pass, policy))
            .await;
        match found {
            Ok(Some(row)) => {
                log::info!("SMTP {}: authenticated as {}", self.peer, row.name);
                self.user = Some(Sender {
                    id: row.id,
                    name: row.name,
                });
                self.reply("235 2.7.0 authentication successful");
            }
            Ok(None) => {
                // Throttled as IMAP logins are: the same counts per address and per name, the
                // same doubling delay, the connection closed after --max-auth-failures.
                self.auth_failures += 1;
                let ip = self
                    .peer
                    .parse::<std::net::SocketAddr>()
                    .ok()
                    .map(|a| a.ip());
                let throttle = &self.ctx.throttle;
                let (from_ip, for_name) = throttle.failure(ip, &name);
                log::info!(
                    "SMTP {}: authentication failed for {name:?} ({} on this connection, {from_ip} recently from this address, {for_name} recently for this name)",
                    self.peer,
                    self.auth_failures
                );
                let delay = throttle.delay(self.auth_failures.max(from_ip).max(for_name));
                async_std::task::sleep(delay).await;
                self.reply("535 5.7.8 authentication credentials invalid");
                if self.auth_failures >= self.ctx.config().max_auth_failures {
                    self.reply("421 4.7.0 too many failed authentications, closing connection");
                    self.flush().await?;
                    return Ok(false);
                }
            }
            Err(e) => {
                log::warn!("SMTP: authenticating {name:?}: {e}");
                self.reply("454 4.7.0 temporary authentication failure");
            }
        }
        Ok(true)
    }

    /// Send a 334 challenge and read the client's answer line: Some(Ok(..)) with the base64
    /// text ("*" cancels: Err), None when the connection ended.
    async fn sasl_step(&mut self, challenge: &str) -> std::io::Result<Option<String>> {
        self.reply(&format!("334 {challenge}"));
        match self.next_line().await? {
            None | Some(Line::Eof) => Ok(None),
            // A line too long for a command is too long for a credential: it fails to decode.
            Some(Line::TooLong) => Ok(Some("!".into())),
            Some(Line::Text(l)) => Ok(Some(String::from_utf8_lossy(&l).into_owned())),
        }
    }

    fn mail(&mut self, arg: &str) {
        if !self.greeted {
            let hello = if self.smtp() { "EHLO" } else { "LHLO" };
            return self.reply(&format!("503 5.5.1 send {hello} first"));
        }
        if self.txn.is_some() {
            return self.reply("503 5.5.1 nested MAIL command");
        }
        let Some(rest) = strip_prefix_ci(arg, "FROM:") else {
            return self.reply("501 5.5.4 syntax: MAIL FROM:<address>");
        };
        let (sender, params) = match parse_path(rest, self.smtp()) {
            Ok(p) => p,
            Err(why) => return self.reply(&format!("501 5.1.7 bad sender address: {why}")),
        };
        let mut utf8 = false;
        for p in params.split_ascii_whitespace() {
            let (key, value) = p.split_once('=').unwrap_or((p, ""));
            match key.to_ascii_uppercase().as_str() {
                "SIZE" => match value.parse::<u64>() {
                    Ok(n) if n > self.settings.max_message_size => {
                        return self.reply(&format!(
                            "552 5.3.4 message size exceeds fixed maximum message size ({} bytes)",
                            self.settings.max_message_size
                        ))
                    }
                    Ok(_) => {}
                    Err(_) => return self.reply("501 5.5.4 bad SIZE parameter"),
                },
                "BODY" => {
                    if !value.eq_ignore_ascii_case("7BIT")
                        && !value.eq_ignore_ascii_case("8BITMIME")
                    {
                        return self.reply("501 5.5.4 BODY must be 7BIT or 8BITMIME");
                    }
                }
                "SMTPUTF8" if self.smtp() && value.is_empty() => utf8 = true,
                // RFC 4954 §5: the identity a relaying client submits for; nothing to check
                // for a sink that relays nothing.
                "AUTH" if self.smtp() => {}
                _ => return self.reply(&format!("555 5.5.4 unsupported parameter {key}")),
            }
        }
        if !utf8 && !sender.is_ascii() {
            return self.reply("553 5.6.7 a non-ASCII address needs SMTPUTF8");
        }
        self.txn = Some(Transaction {
            sender,
            recipients: Vec::new(),
            utf8,
        });
        self.reply("250 2.1.0 sender OK");
    }

    async fn rcpt(&mut self, arg: &str) {
        let Some((count, utf8)) = self.txn.as_ref().map(|t| (t.recipients.len(), t.utf8)) else {
            return self.reply("503 5.5.1 need MAIL before RCPT");
        };
        let Some(rest) = strip_prefix_ci(arg, "TO:") else {
            return self.reply("501 5.5.4 syntax: RCPT TO:<address>");
        };
        let address = match parse_path(rest, self.smtp()) {
            Ok((a, "")) => a,
            Ok((_, params)) => {
                return self.reply(&format!("555 5.5.4 unsupported parameter {params}"))
            }
            Err(why) => return self.reply(&format!("501 5.1.3 bad recipient address: {why}")),
        };
        if !utf8 && !address.is_ascii() {
            return self.reply("553 5.6.7 a non-ASCII address needs SMTPUTF8");
        }
        if count >= MAX_RECIPIENTS {
            return self.reply("452 4.5.3 too many recipients");
        }
        let parsed = match &self.settings.catch_all {
            Some(user) => Target::parse(user, &[]),
            None => Target::parse(&address, &self.settings.domains),
        };
        let target = match parsed {
            Ok(t) => t,
            Err(TargetError::Empty) => return self.reply("501 5.1.3 bad recipient address: empty"),
            Err(TargetError::Domain) => {
                log::info!(
                    "{} {}: refused <{address}>: domain not handled here",
                    self.name(),
                    self.peer
                );
                crate::metrics::delivery(self.settings.protocol.label(), "refused");
                return self.reply(&format!("550 5.1.2 <{address}>: domain not handled here"));
            }
        };
        let create = self.smtp() && self.ctx.config().auto_users;
        let found = self
            .ctx
            .db
            .run(move |store| target.resolve_or_create(store, create))
            .await;
        match found {
            Ok(Some((mailbox, folder))) => {
                if let Some(t) = self.txn.as_mut() {
                    t.recipients.push(Recipient {
                        address: address.clone(),
                        mailbox,
                        folder,
                    });
                }
                self.reply(&format!("250 2.1.5 <{address}> OK"));
            }
            Ok(None) => {
                log::info!(
                    "{} {}: refused <{address}>: no such user",
                    self.name(),
                    self.peer
                );
                crate::metrics::delivery(self.settings.protocol.label(), "refused");
                self.reply(&format!("550 5.1.1 <{address}>: no such user"))
            }
            Err(e) => {
                log::warn!("{}: looking up <{address}>: {e}", self.name());
                self.reply(&format!(
                    "451 4.3.0 <{address}>: temporary failure, try again later"
                ));
            }
        }
    }

    async fn data(&mut self, arg: &str) -> std::io::Result<()> {
        if !arg.is_empty() {
            self.reply("501 5.5.4 syntax: DATA");
            return Ok(());
        }
        match &self.txn {
            None => {
                self.reply("503 5.5.1 need MAIL before DATA");
                return Ok(());
            }
            Some(t) if t.recipients.is_empty() => {
                self.reply("503 5.5.1 no valid recipients");
                return Ok(());
            }
            Some(_) => {}
        }
        self.reply("354 3.0.0 send the message, end with a line holding only \".\"");
        self.flush().await?;
        let content = self.input.data(self.settings.max_message_size).await?;
        if let (Some(t), Some(c)) = (&mut self.trace, &content) {
            t.client_literal(c);
        }
        let Some(txn) = self.txn.take() else {
            return Ok(());
        };
        let Some(content) = content else {
            for r in &txn.recipients {
                log::info!(
                    "{} {}: refused a message to <{}>: larger than {} bytes",
                    self.name(),
                    self.peer,
                    r.address,
                    self.settings.max_message_size
                );
                crate::metrics::delivery(self.settings.protocol.label(), "refused");
                let line = format!(
                    "552 5.3.4 <{}>: message too big (limit {} bytes)",
                    r.address, self.settings.max_message_size
                );
                self.reply(&line);
                if self.smtp() {
                    // SMTP: one reply for the message.
                    break;
                }
            }
            return Ok(());
        };
        let content = crate::mime::normalize_crlf(&content).into_owned();
        let message_id = crate::message::log_id(&content);
        let mut copies: Vec<Copy> = Vec::new();
        for r in &txn.recipients {
            // SMTP: one copy per folder, however many recipients lead there (a catch-all,
            // or the same user twice).
            if self.smtp() && copies.iter().any(|c| c.mailbox == r.mailbox) {
                continue;
            }
            copies.push(Copy {
                mailbox: r.mailbox,
                raw: delivery_copy(&txn.sender, &r.address, &content),
                flags: Vec::new(),
                address: r.address.clone(),
                folder: r.folder.clone(),
            });
        }
        let mut failure = None;
        if let Some(user) = self.user.as_ref().filter(|_| self.smtp()) {
            let id = user.id;
            match self.ctx.db.run(move |store| sent_folder(store, id)).await {
                Ok((mailbox, folder)) => copies.push(Copy {
                    mailbox,
                    raw: content.clone(),
                    flags: vec!["\\Seen".into()],
                    address: user.name.clone(),
                    folder,
                }),
                Err(e) => {
                    log::warn!("SMTP: the Sent folder of {}: {e}", user.name);
                    failure = Some(format!(
                        "451 4.3.0 <{}>: temporary failure, try again later",
                        user.name
                    ));
                }
            }
        }
        for copy in copies {
            let Copy {
                mailbox,
                raw,
                flags,
                address,
                folder,
            } = copy;
            let stored = self
                .ctx
                .db
                .run(move |store| {
                    let msg = crate::message::prepare(raw, flags, None);
                    store.append(mailbox, &[msg])
                })
                .await;
            crate::metrics::delivery(
                self.settings.protocol.label(),
                if stored.is_ok() {
                    "delivered"
                } else {
                    "failed"
                },
            );
            let result = match &stored {
                Ok(a) => format!("delivered, UID {}", a.first().map_or(0, |a| a.uid)),
                Err(e) => format!("not delivered: {e}"),
            };
            log::info!(
                "{} {}: message {message_id}, {} bytes, from <{}> to <{address}>, folder {folder}: {result}",
                self.name(),
                self.peer,
                content.len(),
                txn.sender,
            );
            let line = match stored {
                Ok(_) => format!("250 2.0.0 <{address}> delivered"),
                Err(e) => self.failure_reply(&address, e),
            };
            if !self.smtp() {
                // Each recipient's reply goes out as soon as its copy is committed.
                self.reply(&line);
                self.flush().await?;
            } else if failure.is_none() && !line.starts_with("250") {
                failure = Some(line);
            }
        }
        if self.smtp() {
            // One reply, once every copy is committed (or the first failure).
            let line = failure.unwrap_or_else(|| "250 2.0.0 message delivered".into());
            self.reply(&line);
        }
        Ok(())
    }

    /// The reply for a copy the store did not take.
    fn failure_reply(&self, address: &str, e: StoreError) -> String {
        match e {
            StoreError::NotFound(_) => format!("550 5.1.1 <{address}>: mailbox no longer exists"),
            // RFC 3463 X.2.2 "mailbox full" is a persistent transient failure: the user can
            // make room. A message larger than the whole quota never fits: 552 (RFC 5321
            // "exceeded storage allocation"), permanent.
            StoreError::OverQuota(q) if q.never_fits => {
                format!("552 5.2.2 <{address}>: message {q}")
            }
            StoreError::OverQuota(q) => {
                format!("452 4.2.2 <{address}>: mailbox full ({q}), try again later")
            }
            // RFC 3463 4.3.1: mail system full (the store logs it once).
            StoreError::Full => {
                format!("452 4.3.1 <{address}>: insufficient system storage, try again later")
            }
            e => {
                log::warn!("{}: delivering to <{address}>: {e}", self.name());
                format!("451 4.3.0 <{address}>: temporary failure, try again later")
            }
        }
    }
}

enum AuthError {
    Cancelled,
    Malformed,
    /// PLAIN named an authorization identity other than the user.
    Identity,
}

/// A SASL response line: "*" cancels (RFC 4954 §4); otherwise base64.
fn decode_base64(line: &str) -> Result<Vec<u8>, AuthError> {
    use base64::Engine as _;
    if line == "*" {
        return Err(AuthError::Cancelled);
    }
    base64::engine::general_purpose::STANDARD
        .decode(line)
        .map_err(|_| AuthError::Malformed)
}

/// PLAIN's `authzid NUL authcid NUL password`; the authorization identity must be empty or
/// the user itself.
fn split_plain(data: &[u8]) -> Result<(Vec<u8>, Vec<u8>), AuthError> {
    match crate::autousers::parse_plain(data) {
        Some((authz, user, pass)) if authz.is_empty() || authz == user => Ok((user, pass)),
        Some(_) => Err(AuthError::Identity),
        None => Err(AuthError::Malformed),
    }
}

/// The folder an authenticated SMTP sender's copy goes to: its \Sent folder, else the one
/// named Sent, else a new Sent with the \Sent special use.
fn sent_folder(
    store: &crate::store::Store,
    user: UserId,
) -> crate::store::Result<(MailboxId, String)> {
    let folders = store.mailboxes(user)?;
    let special = folders.iter().find(|m| {
        !m.noselect
            && m.special_use
                .as_deref()
                .is_some_and(|u| u.split(' ').any(|u| u == "\\Sent"))
    });
    if let Some(m) = special.or_else(|| folders.iter().find(|m| !m.noselect && m.name == "Sent")) {
        return Ok((m.id, m.name.clone()));
    }
    let m = store.create_mailbox_with_use(user, "Sent", &["\\Sent"])?;
    Ok((m.id, m.name))
}

/// The stored copy for one recipient: our trace headers, then the message as received.
pub fn delivery_copy(sender: &str, recipient: &str, content: &[u8]) -> Vec<u8> {
    let head = format!("Return-Path: <{sender}>\r\nDelivered-To: {recipient}\r\n");
    let mut raw = Vec::with_capacity(head.len() + content.len());
    raw.extend_from_slice(head.as_bytes());
    raw.extend_from_slice(content);
    raw
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    let head = s.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| s[prefix.len()..].trim_start())
}

/// `<address> params` → (address, params). The address may be empty (`<>`, the null sender);
/// a source route (`<@a,@b:user@d>`) is dropped. Only printable ASCII is accepted, and with
/// `utf8` (SMTP, which offers SMTPUTF8) also non-ASCII characters; control characters never,
/// which keeps CR, LF and the like out of the headers we write.
fn parse_path(s: &str, utf8: bool) -> Result<(String, &str), &'static str> {
    let s = s.trim_start();
    let Some(inner) = s.strip_prefix('<') else {
        return Err("expected <address>");
    };
    let mut in_quotes = false;
    let mut escaped = false;
    let mut close = None;
    for (i, c) in inner.char_indices() {
        if escaped {
            escaped = false;
        } else if c == '\\' && in_quotes {
            escaped = true;
        } else if c == '"' {
            in_quotes = !in_quotes;
        } else if c == '>' && !in_quotes {
            close = Some(i);
            break;
        }
    }
    let close = close.ok_or("missing '>'")?;
    let mut addr = &inner[..close];
    let params = inner[close + 1..].trim();
    if addr.starts_with('@') {
        addr = addr
            .split_once(':')
            .map(|(_, a)| a)
            .ok_or("bad source route")?;
    }
    if addr.len() > 320 {
        return Err("address too long");
    }
    if !addr.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        if !utf8 {
            return Err("only printable ASCII is accepted");
        }
        if addr.chars().any(char::is_control) {
            return Err("control characters are not accepted");
        }
    }
    Ok((addr.to_string(), params))
}

/// Where a recipient address points: a user name, and the folder a `+tag` names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Target {
    /// The whole local part (tried first as a user name: a user may have '+' in its name).
    pub local: String,
    /// The local part before the first '+', and the tag after it.
    pub detail: Option<(String, String)>,
}

#[derive(Debug, PartialEq, Eq)]
pub enum TargetError {
    Empty,
    Domain,
}

impl Target {
    /// Split `address` and check its domain against `domains` (lower case; empty = any).
    pub fn parse(address: &str, domains: &[String]) -> Result<Target, TargetError> {
        let (local, domain) = match address.rsplit_once('@') {
            Some((l, d)) => (l, Some(d)),
            None => (address, None),
        };
        if let Some(d) = domain {
            let d = d.trim_end_matches('.').to_ascii_lowercase();
            if !domains.is_empty() && !domains.contains(&d) {
                return Err(TargetError::Domain);
            }
        }
        let local = unquote(local);
        if local.is_empty() {
            return Err(TargetError::Empty);
        }
        let detail = local
            .split_once('+')
            .filter(|(u, _)| !u.is_empty())
            .map(|(u, t)| (u.to_string(), t.to_string()));
        Ok(Target { local, detail })
    }

    /// The mailbox this recipient's copy goes to, or None for no such user.
    /// The folder (its id and name) a message for this recipient goes to, if any.
    pub fn resolve(
        &self,
        store: &crate::store::Store,
    ) -> crate::store::Result<Option<(MailboxId, String)>> {
        if let Some(user) = store.find_user_for_delivery(&self.local)? {
            return inbox(store, user.id);
        }
        let Some((name, tag)) = &self.detail else {
            return Ok(None);
        };
        let Some(user) = store.find_user_for_delivery(name)? else {
            return Ok(None);
        };
        // A tag that is no valid mailbox name (by the store's one rule) names no folder.
        if let Ok(folder) = crate::store::mailbox_name(tag.as_bytes()) {
            if let Some(mb) = store.mailbox(user.id, &folder)? {
                if !mb.noselect {
                    return Ok(Some((mb.id, folder)));
                }
            }
        }
        inbox(store, user.id)
    }
}

impl Target {
    /// `resolve`, and with `create` (SMTP under `--auto-users`) an unknown user is created
    /// first: the name before `+tag` when there is a tag, else the whole local part.
    pub fn resolve_or_create(
        &self,
        store: &crate::store::Store,
        create: bool,
    ) -> crate::store::Result<Option<(MailboxId, String)>> {
        if let Some(found) = self.resolve(store)? {
            return Ok(Some(found));
        }
        if !create {
            return Ok(None);
        }
        let name = self.detail.as_ref().map_or(&self.local, |(u, _)| u);
        if crate::autousers::create_recipient(store, name)?.is_none() {
            return Ok(None);
        }
        self.resolve(store)
    }
}

fn inbox(
    store: &crate::store::Store,
    user: crate::store::UserId,
) -> crate::store::Result<Option<(MailboxId, String)>> {
    Ok(store
        .mailbox(user, INBOX)?
        .map(|m| (m.id, INBOX.to_string())))
}

/// A quoted local part (`"john smith"`) without its quotes and escapes.
fn unquote(local: &str) -> String {
    match local.strip_prefix('"').and_then(|l| l.strip_suffix('"')) {
        Some(inner) => {
            let mut out = String::new();
            let mut esc = false;
            for c in inner.chars() {
                if esc || c != '\\' {
                    out.push(c);
                    esc = false;
                } else {
                    esc = true;
                }
            }
            out
        }
        None => local.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// DATA through buffers of every small size, so each state meets a chunk boundary.
    #[test]
    fn data_unstuffing_across_chunk_boundaries() {
        let wire: &[u8] = b"a\r\n..b\r\n.\rc\r\n.x\r\n\r\n.\r\nNOOP\r\n";
        let want: &[u8] = b"a\r\n.b\r\n\rc\r\nx\r\n\r\n";
        for size in 1..=wire.len() {
            let mut input = Input {
                stream: async_std::io::Cursor::new(wire.to_vec()),
                buf: vec![0; size],
                start: 0,
                end: 0,
            };
            let got = async_std::task::block_on(input.data(1000)).unwrap();
            assert_eq!(got.as_deref(), Some(want), "buffer of {size}");
            // The pipelined command after the dot is left for the command reader.
            match async_std::task::block_on(input.line(100)).unwrap() {
                Line::Text(l) => assert_eq!(l, b"NOOP"),
                _ => panic!("no NOOP line"),
            }
            // One byte under the content's size: refused, still read to the end.
            let mut input = Input {
                stream: async_std::io::Cursor::new(wire.to_vec()),
                buf: vec![0; size],
                start: 0,
                end: 0,
            };
            let got = async_std::task::block_on(input.data(want.len() as u64 - 1)).unwrap();
            assert_eq!(got, None);
            assert!(matches!(
                async_std::task::block_on(input.line(100)).unwrap(),
                Line::Text(l) if l == b"NOOP"
            ));
        }
        // A bare LF ends the message too.
        let mut input = Input::new(async_std::io::Cursor::new(b"x\n.\n".to_vec()));
        let got = async_std::task::block_on(input.data(1000)).unwrap();
        assert_eq!(got.as_deref(), Some(&b"x\n"[..]));
    }

    #[test]
    fn paths() {
        assert_eq!(parse_path("<a@b.c>", false).unwrap(), ("a@b.c".into(), ""));
        assert_eq!(
            parse_path(" <a@b.c> SIZE=10 BODY=8BITMIME", false).unwrap(),
            ("a@b.c".into(), "SIZE=10 BODY=8BITMIME")
        );
        assert_eq!(parse_path("<>", false).unwrap(), ("".into(), ""));
        assert_eq!(
            parse_path("<@x,@y:u@d>", false).unwrap(),
            ("u@d".into(), "")
        );
        assert_eq!(
            parse_path("<\"a>b\"@d>", false).unwrap(),
            ("\"a>b\"@d".into(), "")
        );
        assert!(parse_path("a@b", false).is_err());
        assert!(parse_path("<a@b", false).is_err());
        assert!(parse_path("<a\u{7f}@b>", false).is_err());
        assert!(parse_path("<j\u{f6}rg@b>", false).is_err());
        assert_eq!(
            parse_path("<j\u{f6}rg@b> SMTPUTF8", true).unwrap(),
            ("j\u{f6}rg@b".into(), "SMTPUTF8")
        );
        assert!(parse_path("<a\u{85}@b>", true).is_err());
    }

    #[test]
    fn targets() {
        let any: Vec<String> = vec![];
        let t = Target::parse("alice+lists@example.org", &any).unwrap();
        assert_eq!(t.local, "alice+lists");
        assert_eq!(t.detail, Some(("alice".into(), "lists".into())));
        let only = vec!["example.org".to_string()];
        assert!(Target::parse("alice@Example.ORG.", &only).is_ok());
        assert_eq!(
            Target::parse("alice@other.org", &only),
            Err(TargetError::Domain)
        );
        assert_eq!(Target::parse("\"al\\ice\"@x", &any).unwrap().local, "alice");
        assert_eq!(Target::parse("@x", &any), Err(TargetError::Empty));
        assert_eq!(Target::parse("+tag@x", &any).unwrap().detail, None);
    }
}
