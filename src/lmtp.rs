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

use crate::server::Context;
use crate::store::{MailboxId, StoreError, INBOX};

/// Longest command line, CRLF included (RFC 5321 allows 512 plus extension parameters).
const MAX_COMMAND_LINE: usize = 4096;
/// Most recipients in one transaction (RFC 5321 requires at least 100).
const MAX_RECIPIENTS: usize = 1000;
/// Silence allowed between commands and within DATA (RFC 5321 §4.5.3.2 suggests 5 minutes).
const READ_TIMEOUT: Duration = Duration::from_secs(300);
const READ_CHUNK: usize = 16 * 1024;

/// What the LMTP listeners need besides the shared context.
#[derive(Clone, Debug)]
pub struct Settings {
    /// Largest message accepted, in bytes (DATA as received, before our headers).
    pub max_message_size: u64,
    /// Accepted recipient domains, lower case; empty accepts every domain.
    pub domains: Vec<String>,
    /// The name in the greeting and the LHLO reply.
    pub hostname: String,
    /// Most simultaneous LMTP connections per listener.
    pub max_connections: usize,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            max_message_size: 50 * 1024 * 1024,
            domains: Vec::new(),
            hostname: hostname(),
            max_connections: 100,
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
    let parsed: std::net::SocketAddr = addr.parse().map_err(|_| {
        format!("invalid LMTP listen address {addr:?} (expected IP:PORT, e.g. 127.0.0.1:24)")
    })?;
    if !parsed.ip().is_loopback() {
        log::warn!(
            "LMTP on {parsed}: LMTP has no authentication, so anyone who can reach this address can deliver mail to every user"
        );
    }
    let l = crate::server::listen(parsed)
        .map_err(|e| format!("cannot listen for LMTP on {parsed}: {e}"))?;
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
                log::warn!("LMTP accept failed: {e}");
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
                log::warn!("LMTP: refusing {peer}: too many connections");
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
    log::debug!("LMTP {peer}: connected");
    // Listed by `liteimap who` while it lasts (LMTP has no user to kick).
    let _listed = ctx
        .sessions
        .register(ctx.next_session_id(), "lmtp", peer, false);
    let mut session = Session {
        ctx,
        settings,
        input: Input::new(stream.clone()),
        output: stream,
        pending: Vec::new(),
        greeted: false,
        txn: None,
        peer: peer.to_string(),
    };
    match session.run().await {
        Ok(()) => log::debug!("LMTP {peer}: disconnected"),
        Err(e) => log::info!("LMTP {peer}: connection ended: {e}"),
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
    /// The client's address (or "unix"), for the log.
    peer: String,
}

impl<S: Read + Write + Clone + Unpin + Send> Session<S> {
    fn reply(&mut self, line: &str) {
        self.pending.extend_from_slice(line.as_bytes());
        self.pending.extend_from_slice(b"\r\n");
    }

    async fn flush(&mut self) -> std::io::Result<()> {
        if !self.pending.is_empty() {
            let out = std::mem::take(&mut self.pending);
            self.output.write_all(&out).await?;
            self.output.flush().await?;
        }
        Ok(())
    }

    async fn run(&mut self) -> std::io::Result<()> {
        let greeting = format!("220 {} LMTP liteimap ready", self.settings.hostname);
        self.reply(&greeting);
        let stop = self.ctx.shutdown_signal();
        loop {
            if self.input.buffered().is_empty() {
                self.flush().await?;
            }
            let read = async { Some(self.input.line(MAX_COMMAND_LINE).await) };
            let shutdown = async {
                let _ = stop.recv().await;
                None
            };
            let line = match read.race(shutdown).await {
                None => {
                    self.reply("421 4.3.2 server shutting down");
                    return self.flush().await;
                }
                Some(l) => l?,
            };
            let line = match line {
                Line::Eof => return Ok(()),
                Line::TooLong => {
                    self.reply("500 5.5.2 line too long");
                    continue;
                }
                Line::Text(l) => l,
            };
            let line = String::from_utf8_lossy(&line).into_owned();
            let (verb, arg) = match line.split_once(' ') {
                Some((v, a)) => (v.to_ascii_uppercase(), a.trim()),
                None => (line.trim().to_ascii_uppercase(), ""),
            };
            match verb.as_str() {
                "LHLO" => self.lhlo(arg),
                "MAIL" => self.mail(arg),
                "RCPT" => self.rcpt(arg).await,
                "DATA" => self.data(arg).await?,
                "RSET" => {
                    self.txn = None;
                    self.reply("250 2.0.0 OK");
                }
                "NOOP" => self.reply("250 2.0.0 OK"),
                "QUIT" => {
                    let bye = format!("221 2.0.0 {} closing connection", self.settings.hostname);
                    self.reply(&bye);
                    return self.flush().await;
                }
                "VRFY" => self.reply("252 2.5.0 cannot VRFY user, but will accept message"),
                "HELO" | "EHLO" => self.reply("500 5.5.1 this is LMTP: use LHLO"),
                "EXPN" | "HELP" | "TURN" | "ETRN" | "BDAT" | "STARTTLS" | "AUTH" => {
                    self.reply("502 5.5.1 command not implemented")
                }
                _ => self.reply("500 5.5.2 command unrecognized"),
            }
        }
    }

    fn lhlo(&mut self, arg: &str) {
        if arg.is_empty() {
            return self.reply("501 5.5.4 syntax: LHLO hostname");
        }
        self.greeted = true;
        self.txn = None;
        let lines = [
            format!("250-{}", self.settings.hostname),
            format!("250-SIZE {}", self.settings.max_message_size),
            "250-8BITMIME".into(),
            "250-PIPELINING".into(),
            "250 ENHANCEDSTATUSCODES".into(),
        ];
        for l in lines {
            self.reply(&l);
        }
    }

    fn mail(&mut self, arg: &str) {
        if !self.greeted {
            return self.reply("503 5.5.1 send LHLO first");
        }
        if self.txn.is_some() {
            return self.reply("503 5.5.1 nested MAIL command");
        }
        let Some(rest) = strip_prefix_ci(arg, "FROM:") else {
            return self.reply("501 5.5.4 syntax: MAIL FROM:<address>");
        };
        let (sender, params) = match parse_path(rest) {
            Ok(p) => p,
            Err(why) => return self.reply(&format!("501 5.1.7 bad sender address: {why}")),
        };
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
                _ => return self.reply(&format!("555 5.5.4 unsupported parameter {key}")),
            }
        }
        self.txn = Some(Transaction {
            sender,
            recipients: Vec::new(),
        });
        self.reply("250 2.1.0 sender OK");
    }

    async fn rcpt(&mut self, arg: &str) {
        let Some(count) = self.txn.as_ref().map(|t| t.recipients.len()) else {
            return self.reply("503 5.5.1 need MAIL before RCPT");
        };
        let Some(rest) = strip_prefix_ci(arg, "TO:") else {
            return self.reply("501 5.5.4 syntax: RCPT TO:<address>");
        };
        let address = match parse_path(rest) {
            Ok((a, "")) => a,
            Ok((_, params)) => {
                return self.reply(&format!("555 5.5.4 unsupported parameter {params}"))
            }
            Err(why) => return self.reply(&format!("501 5.1.3 bad recipient address: {why}")),
        };
        if count >= MAX_RECIPIENTS {
            return self.reply("452 4.5.3 too many recipients");
        }
        let target = match Target::parse(&address, &self.settings.domains) {
            Ok(t) => t,
            Err(TargetError::Empty) => return self.reply("501 5.1.3 bad recipient address: empty"),
            Err(TargetError::Domain) => {
                log::info!(
                    "LMTP {}: refused <{address}>: domain not handled here",
                    self.peer
                );
                crate::metrics::delivery("lmtp", "refused");
                return self.reply(&format!("550 5.1.2 <{address}>: domain not handled here"));
            }
        };
        let found = self.ctx.db.run(move |store| target.resolve(store)).await;
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
                log::info!("LMTP {}: refused <{address}>: no such user", self.peer);
                crate::metrics::delivery("lmtp", "refused");
                self.reply(&format!("550 5.1.1 <{address}>: no such user"))
            }
            Err(e) => {
                log::warn!("LMTP: looking up <{address}>: {e}");
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
        let Some(txn) = self.txn.take() else {
            return Ok(());
        };
        let Some(content) = content else {
            for r in &txn.recipients {
                log::info!(
                    "LMTP {}: refused a message to <{}>: larger than {} bytes",
                    self.peer,
                    r.address,
                    self.settings.max_message_size
                );
                crate::metrics::delivery("lmtp", "refused");
                let line = format!(
                    "552 5.3.4 <{}>: message too big (limit {} bytes)",
                    r.address, self.settings.max_message_size
                );
                self.reply(&line);
            }
            return Ok(());
        };
        let content: Arc<Vec<u8>> = Arc::new(crate::mime::normalize_crlf(&content).into_owned());
        let message_id = crate::message::log_id(&content);
        for r in &txn.recipients {
            let raw = delivery_copy(&txn.sender, &r.address, &content);
            let mailbox = r.mailbox;
            let stored = self
                .ctx
                .db
                .run(move |store| {
                    let msg = crate::message::prepare(raw, Vec::new(), None);
                    store.append(mailbox, &[msg])
                })
                .await;
            crate::metrics::delivery(
                "lmtp",
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
                "LMTP {}: message {message_id}, {} bytes, from <{}> to <{}>, folder {}: {result}",
                self.peer,
                content.len(),
                txn.sender,
                r.address,
                r.folder
            );
            let line = match stored {
                Ok(_) => format!("250 2.0.0 <{}> delivered", r.address),
                Err(StoreError::NotFound(_)) => {
                    format!("550 5.1.1 <{}>: mailbox no longer exists", r.address)
                }
                // RFC 3463 X.2.2 "mailbox full" is a persistent transient failure: the user can
                // make room. A message larger than the whole quota never fits: 552 (RFC 5321
                // "exceeded storage allocation"), permanent.
                Err(StoreError::OverQuota(q)) if q.never_fits => {
                    format!("552 5.2.2 <{}>: message {q}", r.address)
                }
                Err(StoreError::OverQuota(q)) => format!(
                    "452 4.2.2 <{}>: mailbox full ({q}), try again later",
                    r.address
                ),
                // RFC 3463 4.3.1: mail system full (the store logs it once).
                Err(StoreError::Full) => format!(
                    "452 4.3.1 <{}>: insufficient system storage, try again later",
                    r.address
                ),
                Err(e) => {
                    log::warn!("LMTP: delivering to <{}>: {e}", r.address);
                    format!(
                        "451 4.3.0 <{}>: temporary failure, try again later",
                        r.address
                    )
                }
            };
            // Each recipient's reply goes out as soon as its copy is committed.
            self.reply(&line);
            self.flush().await?;
        }
        Ok(())
    }
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
/// a source route (`<@a,@b:user@d>`) is dropped. Only printable ASCII is accepted (no SMTPUTF8),
/// which also keeps CR, LF and other controls out of the headers we write.
fn parse_path(s: &str) -> Result<(String, &str), &'static str> {
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
        return Err("only printable ASCII is accepted");
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
        assert_eq!(parse_path("<a@b.c>").unwrap(), ("a@b.c".into(), ""));
        assert_eq!(
            parse_path(" <a@b.c> SIZE=10 BODY=8BITMIME").unwrap(),
            ("a@b.c".into(), "SIZE=10 BODY=8BITMIME")
        );
        assert_eq!(parse_path("<>").unwrap(), ("".into(), ""));
        assert_eq!(parse_path("<@x,@y:u@d>").unwrap(), ("u@d".into(), ""));
        assert_eq!(parse_path("<\"a>b\"@d>").unwrap(), ("\"a>b\"@d".into(), ""));
        assert!(parse_path("a@b").is_err());
        assert!(parse_path("<a@b").is_err());
        assert!(parse_path("<a\u{7f}@b>").is_err());
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
