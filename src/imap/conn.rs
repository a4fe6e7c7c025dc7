//! One client connection: bytes in, framed IMAP messages out; typed responses in, bytes out.
//!
//! Framing is imap-codec's `Fragmentizer`: it splits the stream into lines and literals before
//! any parsing, so a malformed command is skipped at a known boundary and literal bytes are
//! never mistaken for commands. Limits are enforced here, before memory is spent: a line longer
//! than `max_line` ends the connection (the stream cannot be resynchronised), a synchronising
//! literal over `max_literal` is refused by tag before any byte of it is read (the client waits
//! for our `+`), and a non-synchronising one (LITERAL+ after login, LITERAL- before: RFC 7888;
//! over 4096 bytes before login is LITERAL-'s BAD) is refused by tag and the
//! connection closed: its bytes are already on the way, and skipping them would mean buffering
//! up to a whole message's worth (the framer keeps a message's bytes) for a command we refuse —
//! 50 MB from a stranger whose limit before login is 8 KiB. A client that reads APPENDLIMIT
//! never gets there. Once logged in, a literal first takes its size from the pool all sessions
//! share (`budget`), waiting for room: eight 45 MB APPENDs at once arrive one after another
//! instead of holding 8 × 3 copies.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use async_std::io::prelude::*;
use async_std::io::{Read, Write};
use async_std::prelude::FutureExt as _;
use imap_codec::decode::Decoder;
use imap_codec::encode::{Encoder, Fragment};
use imap_codec::fragmentizer::{
    DecodeMessageError, FragmentInfo, Fragmentizer, LiteralAnnouncement,
};
use imap_codec::imap_types::core::{LiteralMode, Tag};
use imap_codec::imap_types::response::{Greeting, Response};
use imap_codec::imap_types::IntoStatic;
use imap_codec::{GreetingCodec, ResponseCodec};

use super::budget::{ByteBudget, Hold};

/// The deepest SEARCH nesting imap-codec's parser accepts (it refuses deeper input to keep its
/// recursion off the end of the stack); `max_search_depth` can only lower it.
pub const MAX_SEARCH_DEPTH: usize = 8;

/// Anything a session can talk over: TCP, TLS over TCP, or stdin/stdout.
pub trait Stream: Read + Write + Unpin + Send {}
impl<T: Read + Write + Unpin + Send> Stream for T {}

#[derive(Clone, Debug)]
pub struct Limits {
    /// Longest command line (without its literals).
    pub max_line: usize,
    /// Largest literal, and so largest APPENDed message.
    pub max_literal: u32,
    /// Most literals in one command.
    pub max_literals: usize,
    /// Bytes of output queued before they are written out, even mid-command: a large FETCH
    /// response never accumulates in memory beyond this (plus one response line).
    pub max_output: usize,
    /// A write that makes no progress for this long (the client does not read) closes the
    /// connection.
    pub write_timeout: Duration,
    /// Commands a client may send ahead of reading their answers: the one after that many,
    /// counted while unread input was waiting each time, gets `NO [LIMIT]`.
    pub max_pipelined: usize,
    /// Deepest nesting of parenthesised / OR / NOT SEARCH keys.
    pub max_search_depth: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_line: 64 * 1024,
            max_literal: 50 * 1024 * 1024,
            max_literals: 1000,
            max_output: 256 * 1024,
            write_timeout: Duration::from_secs(60),
            max_pipelined: 1000,
            max_search_depth: MAX_SEARCH_DEPTH,
        }
    }
}

/// Why no message could be read.
#[derive(Debug)]
pub enum ReadError {
    /// The client closed the connection.
    Closed,
    /// Nothing arrived within the time allowed.
    Timeout,
    /// A line exceeded the limit; the stream cannot be resynchronised.
    LineTooLong,
    /// The connection must end with this BYE text: a command over the pre-login size, or
    /// no room left in the memory shared by the connections that have not logged in.
    Refused(String),
    Io(io::Error),
    /// `wake` fired before any byte of the next message arrived (NOTIFY has news).
    Woken,
}

/// A message that could not be decoded, with the tag when one could be recovered.
#[derive(Debug)]
pub struct Rejected {
    pub tag: Option<Tag<'static>>,
    /// The message carried a literal over the size limit (answer `NO [TOOBIG]`).
    pub too_big: bool,
    /// A short reason for a tagged BAD.
    pub reason: String,
    /// The whole message (line and literals) when it was read completely but not understood,
    /// for the extension layer (`ext`) to try; empty otherwise.
    pub raw: Vec<u8>,
}

pub struct Conn {
    stream: Box<dyn Stream>,
    frag: Fragmentizer,
    limits: Limits,
    out: Vec<u8>,
    buf: Vec<u8>,
    /// End of the last complete fragment of the current message (start of the partial line).
    fragment_end: usize,
    /// A literal was announced and its bytes are being read.
    in_literal: bool,
    literals: usize,
    /// Reads time out after this long (autologout).
    pub timeout: Duration,
    /// Reads fail with `Timeout` at this instant, however the bytes trickle in (the login
    /// deadline).
    pub deadline: Option<std::time::Instant>,
    /// The server read from the socket since `take_waited` was last called (the commands
    /// already buffered had run out).
    waited: bool,
    /// A write failed or timed out: the stream is out of step, nothing more is written.
    write_failed: bool,
    /// Whether the client has logged in: before that, literals are limited to
    /// PRE_AUTH_MAX_LITERAL (a password fits; a 50 MB upload from a stranger does not).
    pub authenticated: bool,
    /// When this channel closes, reads fail with `Refused` (the connection was chosen to
    /// make room among those waiting to log in).
    pub close_signal: Option<async_std::channel::Receiver<()>>,
    /// While set, a read that has not received any byte of its message ends with
    /// `ReadError::Woken` when this fires (NOTIFY's wake-up between commands). Only the
    /// socket read is given up then, after the output was flushed: nothing is lost.
    pub wake: Option<async_std::channel::Receiver<()>>,
    /// The pool the literals of logged-in sessions share (None: unlimited).
    literal_budget: Option<Arc<ByteBudget>>,
    /// The pool the commands of connections that have not logged in share, every byte of
    /// them (None: unlimited).
    pre_auth_budget: Option<Arc<ByteBudget>>,
    /// What the current message took from its pool; given back when the next message is
    /// read (the command has run by then).
    holds: Vec<Hold>,
    /// Bytes of the last read from the socket, and how long the message being read was just
    /// before they were enqueued: what is left of them once the message completes is the
    /// start of the next one (see `release_large_buffer`).
    last_fill: usize,
    fill_mark: Option<usize>,
    /// COMPRESS=DEFLATE is active on the stream.
    compressed: bool,
    /// The protocol trace of this session (None: tracing is off, and costs nothing).
    pub trace: Option<crate::trace::SessionTrace>,
}

/// The largest literal accepted before login.
pub const PRE_AUTH_MAX_LITERAL: u32 = 8 * 1024;

/// The largest non-synchronising literal before login, where LITERAL- is offered instead of
/// LITERAL+ (RFC 7888 §4).
pub const LITERAL_MINUS_MAX: u32 = 4096;

/// The largest command before login: its lines and all its literals together.
pub const PRE_AUTH_MAX_COMMAND: usize = 64 * 1024;

/// Why a literal is refused before any of it is read.
#[derive(Clone, Copy)]
enum Refusal {
    /// Over the literal size or count limit.
    TooBig,
    /// Before login: the command with this literal is over PRE_AUTH_MAX_COMMAND.
    CommandTooBig,
    /// Before login: the pool shared by connections that have not logged in is full.
    Busy,
    /// Before login: a non-synchronising literal over LITERAL-'s 4096 bytes (RFC 7888 §4).
    OverLiteralMinus,
}

pub const MADE_ROOM: &str = "Too many connections waiting to log in; closing the oldest";

const BUSY: &str = "Too many connections are sending commands before logging in; try again later";

/// After a message longer than this the framer is replaced: its buffer keeps the capacity of
/// the largest message it ever held (64 MiB after a 45 MB APPEND), for as long as the
/// connection lasts. Before login the bar is lower: a thousand strangers that each sent one
/// 60 KB command would otherwise keep 60 MB between them, outside the pre-login pool.
const RELEASE_BUFFER_OVER: usize = 1024 * 1024;
const PRE_AUTH_RELEASE_BUFFER_OVER: usize = 8 * 1024;

/// The output buffer's usual size (it grows to `max_output` while a large answer is written).
const OUTPUT_BUFFER: usize = 4096;
/// Reads in the middle of a message, or from a client sending fast.
const READ_BUFFER: usize = 4096;
/// Reads of a connection waiting for its next command: enough for the commands an idle
/// client sends (DONE, NOOP, a FETCH), without 4 KiB per idle connection.
const IDLE_READ_BUFFER: usize = 512;

fn fragmentizer(limits: &Limits) -> Fragmentizer {
    let max_message = (limits.max_literal as u64)
        .saturating_add(limits.max_line as u64 * 2)
        .min(u32::MAX as u64) as u32;
    Fragmentizer::new(max_message)
}

impl Conn {
    pub fn new(stream: Box<dyn Stream>, limits: Limits, timeout: Duration) -> Self {
        Conn {
            stream,
            frag: fragmentizer(&limits),
            limits,
            out: Vec::with_capacity(OUTPUT_BUFFER),
            buf: vec![0; READ_BUFFER],
            fragment_end: 0,
            in_literal: false,
            literals: 0,
            timeout,
            deadline: None,
            waited: false,
            write_failed: false,
            authenticated: false,
            close_signal: None,
            wake: None,
            literal_budget: None,
            pre_auth_budget: None,
            holds: Vec::new(),
            last_fill: 0,
            fill_mark: None,
            compressed: false,
            trace: None,
        }
    }

    /// Share memory with other connections: once logged in, a literal waits until its size
    /// fits in `literal`; before login, every byte of a command must fit in `pre_auth`, or
    /// the command is refused.
    pub fn set_budgets(&mut self, literal: Arc<ByteBudget>, pre_auth: Arc<ByteBudget>) {
        self.literal_budget = Some(literal);
        self.pre_auth_budget = Some(pre_auth);
    }

    /// Before login: make sure the current message holds `bytes` of the pre-login pool.
    /// False when the pool has no room (nothing more is taken).
    async fn hold_pre_auth(&mut self, bytes: usize) -> bool {
        let Some(budget) = self.pre_auth_budget.clone() else {
            return true;
        };
        let held: usize = self.holds.iter().map(Hold::bytes).sum();
        if bytes <= held {
            return true;
        }
        match budget.try_take(bytes - held).await {
            Some(h) => {
                self.holds.push(h);
                true
            }
            None => false,
        }
    }

    /// Take the stream out (for a TLS handshake); the connection is unusable until
    /// `set_stream`.
    pub fn take_stream(&mut self) -> Box<dyn Stream> {
        let placeholder: Box<dyn Stream> = Box::new(async_std::io::Cursor::new(Vec::new()));
        std::mem::replace(&mut self.stream, placeholder)
    }

    /// Continue on a new stream (after a STARTTLS handshake). Bytes the client pipelined
    /// before the switch are discarded with the old framer, never executed.
    pub fn set_stream(&mut self, stream: Box<dyn Stream>) {
        self.stream = stream;
        self.frag = fragmentizer(&self.limits);
        self.reset_message();
    }

    /// Whether COMPRESS=DEFLATE is active.
    pub fn is_compressed(&self) -> bool {
        self.compressed
    }

    /// Switch both directions to raw deflate (RFC 4978), after the tagged OK has been written
    /// out uncompressed. What the client sent after its COMPRESS command is already
    /// compressed: it is taken back from the framer (which holds only what the current read
    /// brought, so little) and inflated first.
    pub fn start_deflate(&mut self) {
        let mut early = Vec::new();
        loop {
            match self.frag.progress() {
                Some(_) if self.frag.is_message_complete() => {
                    early.extend_from_slice(self.frag.message_bytes());
                }
                Some(_) => {}
                None => {
                    early.extend_from_slice(self.frag.message_bytes());
                    break;
                }
            }
        }
        let plain = self.take_stream();
        self.stream = Box::new(super::deflate::Deflate::new(plain, &early));
        self.frag = fragmentizer(&self.limits);
        self.reset_message();
        self.compressed = true;
    }

    pub fn limits(&self) -> &Limits {
        &self.limits
    }

    fn reset_message(&mut self) {
        self.fragment_end = 0;
        self.in_literal = false;
        self.literals = 0;
        self.fill_mark = None;
    }

    /// Replace the framer after a large message, keeping the bytes the client already sent
    /// after it (they are the tail of the last read: the framer consumes everything it is
    /// given before asking for more).
    fn release_large_buffer(&mut self) {
        let len = self.frag.message_bytes().len();
        let Some(mark) = self.fill_mark else {
            return;
        };
        let over = if self.authenticated {
            RELEASE_BUFFER_OVER
        } else {
            PRE_AUTH_RELEASE_BUFFER_OVER
        };
        if len <= over || self.frag.is_max_message_size_exceeded() {
            return;
        }
        let consumed = len.saturating_sub(mark);
        let Some(rest) = self.buf.get(consumed..self.last_fill) else {
            return;
        };
        let mut frag = fragmentizer(&self.limits);
        frag.enqueue_bytes(rest);
        self.frag = frag;
    }

    /// Queue a greeting.
    pub fn greet(&mut self, greeting: &Greeting) {
        self.queue(&GreetingCodec::default().encode(greeting).dump());
    }

    /// The output buffer of a connection that was waiting is allocated again at its first
    /// response, at its usual size.
    fn reserve_output(&mut self) {
        if self.out.capacity() == 0 {
            self.out.reserve(OUTPUT_BUFFER);
        }
    }

    /// Queue bytes for the client, and show them in the trace.
    fn queue(&mut self, bytes: &[u8]) {
        self.reserve_output();
        self.out.extend_from_slice(bytes);
        if let Some(t) = &mut self.trace {
            t.server_bytes(bytes);
        }
    }

    /// Queue a response; writes out when enough has accumulated.
    pub async fn send(&mut self, response: &Response<'_>) -> io::Result<()> {
        if self.write_failed {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        // Each fragment straight into the output buffer: no whole-response copy first (one
        // allocation and copy saved per response, which a FETCH of 100,000 messages feels).
        self.reserve_output();
        let start = self.out.len();
        for fragment in ResponseCodec::default().encode(response) {
            let (Fragment::Line { data } | Fragment::Literal { data, .. }) = fragment;
            self.out.extend_from_slice(&data);
        }
        if let Some(t) = &mut self.trace {
            t.server_bytes(&self.out[start..]);
        }
        if self.out.len() >= self.limits.max_output {
            self.flush().await?;
        }
        Ok(())
    }

    /// Queue bytes that are already encoded: a streamed literal's header and data, or a
    /// response of the extension layer (`ext`) that imap-codec cannot encode (ESEARCH);
    /// writes out when enough has accumulated.
    pub async fn send_raw(&mut self, bytes: &[u8]) -> io::Result<()> {
        if self.write_failed {
            return Err(io::ErrorKind::BrokenPipe.into());
        }
        self.queue(bytes);
        if self.out.len() >= self.limits.max_output {
            self.flush().await?;
        }
        Ok(())
    }

    /// Write out everything queued. Each write must make progress within the write timeout:
    /// a client that stops reading is disconnected, and its queued output freed, instead of
    /// holding memory until the idle timeout.
    pub async fn flush(&mut self) -> io::Result<()> {
        if self.write_failed {
            return Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "an earlier write failed",
            ));
        }
        // The trace file first: once the client has read an answer, the file shows it.
        if let Some(t) = &mut self.trace {
            t.flush();
        }
        let result = self.write_out().await;
        if result.is_err() {
            self.discard_output();
        }
        result
    }

    async fn write_out(&mut self) -> io::Result<()> {
        let mut written = 0;
        while written < self.out.len() {
            let n = match async_std::future::timeout(
                self.limits.write_timeout,
                self.stream.write(&self.out[written..]),
            )
            .await
            {
                Ok(r) => r?,
                Err(_) => {
                    return Err(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "client does not read its responses",
                    ));
                }
            };
            if n == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            written += n;
            crate::metrics::bytes_out(n);
        }
        let flushed = async_std::future::timeout(self.limits.write_timeout, self.stream.flush());
        match flushed.await {
            Ok(r) => r?,
            Err(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::TimedOut,
                    "client does not read its responses",
                ));
            }
        }
        self.out.clear();
        if self.out.capacity() > self.limits.max_output * 2 {
            self.out.shrink_to(OUTPUT_BUFFER);
        }
        Ok(())
    }

    /// Write out everything queued and end the stream. On TLS this sends close_notify, so the
    /// client can tell the server ended the session (after LOGOUT or BYE) from a connection cut
    /// by someone else; on plain TCP it is a FIN. Bounded by the write timeout like any write.
    pub async fn close(&mut self) {
        if self.flush().await.is_err() {
            return;
        }
        let stream = &mut self.stream;
        let close = std::future::poll_fn(|cx| std::pin::Pin::new(&mut **stream).poll_close(cx));
        let _ = async_std::future::timeout(self.limits.write_timeout, close).await;
    }

    /// Before a read: a connection waiting for its next command (most of them, most of the
    /// time: idle clients, IDLE) keeps no output buffer and a small read buffer; one in the
    /// middle of a message, or whose last read filled the small buffer (a client sending
    /// fast), reads into the full one. Reads only from here, after the framer has taken the
    /// last fill, so no unread byte is lost with the buffer.
    fn fit_buffers(&mut self) {
        if self.out.is_empty() && self.out.capacity() > 0 {
            self.out = Vec::new();
        }
        let waiting = self.frag.message_bytes().is_empty() && self.last_fill < IDLE_READ_BUFFER;
        let want = if waiting {
            IDLE_READ_BUFFER
        } else {
            READ_BUFFER
        };
        if self.buf.len() != want {
            self.buf = vec![0; want];
        }
    }

    /// Drop queued output and its memory (the connection is being given up).
    fn discard_output(&mut self) {
        self.out = Vec::new();
        self.write_failed = true;
    }

    async fn fill(&mut self) -> Result<(), ReadError> {
        self.flush().await.map_err(ReadError::Io)?;
        self.fit_buffers();
        if self
            .deadline
            .is_some_and(|d| d <= std::time::Instant::now())
        {
            return Err(ReadError::Timeout);
        }
        // Every command of the buffer has been answered (and the answers flushed) before
        // this read: what arrives now counts afresh towards the pipelining limit. Telling
        // by whether the bytes were already waiting in the socket would misjudge a quick
        // client that answered before this task was scheduled again.
        self.waited = true;
        let mut wait = match self.deadline {
            Some(d) => d
                .saturating_duration_since(std::time::Instant::now())
                .min(self.timeout),
            None => self.timeout,
        };
        // A literal holding room in a shared pool must keep coming: one that stalls for the
        // write timeout is given up (its room back to the others), not kept till autologout.
        if !self.holds.is_empty() {
            wait = wait.min(self.limits.write_timeout);
        }
        let close = self.close_signal.clone();
        let closed = async {
            crate::prelogin::made_room(close).await;
            None
        };
        let wake = self
            .wake
            .clone()
            .filter(|_| self.frag.message_bytes().is_empty());
        let woken = async {
            match wake {
                Some(rx) if rx.recv().await.is_ok() => Some(Err(ReadError::Woken)),
                _ => std::future::pending().await,
            }
        };
        let read = async {
            Some(Ok(async_std::future::timeout(
                wait,
                self.stream.read(&mut self.buf),
            )
            .await))
        };
        let n = match read.race(woken).race(closed).await {
            None => {
                return Err(ReadError::Refused(MADE_ROOM.into()));
            }
            Some(Err(e)) => return Err(e),
            Some(Ok(Err(_))) => return Err(ReadError::Timeout),
            Some(Ok(Ok(Err(e)))) => return Err(ReadError::Io(e)),
            Some(Ok(Ok(Ok(n)))) => n,
        };
        if n == 0 {
            return Err(ReadError::Closed);
        }
        self.last_fill = n;
        crate::metrics::bytes_in(n);
        let len = self.frag.message_bytes().len();
        self.fill_mark = Some(len);
        if !self.authenticated {
            if len > PRE_AUTH_MAX_COMMAND {
                return Err(ReadError::Refused(format!(
                    "Command longer than {PRE_AUTH_MAX_COMMAND} bytes before login"
                )));
            }
            if !self.hold_pre_auth(len + n).await {
                log::info!("closing: no room left for commands before login");
                return Err(ReadError::Refused(BUSY.into()));
            }
        }
        self.frag.enqueue_bytes(&self.buf[..n]);
        Ok(())
    }

    /// Read until one whole message (line plus literals) has arrived, answering literal
    /// announcements on the way. Messages refused on the way (a literal over the limit) are
    /// answered here and skipped.
    async fn next_message(&mut self) -> Result<(), ReadError> {
        loop {
            let Some(info) = self.frag.progress() else {
                if !self.in_literal
                    && self.frag.message_bytes().len()
                        - self.fragment_end.min(self.frag.message_bytes().len())
                        > self.limits.max_line + 2
                {
                    return Err(ReadError::LineTooLong);
                }
                self.fill().await?;
                continue;
            };
            match info {
                FragmentInfo::Line {
                    start,
                    end,
                    announcement,
                    ..
                } => {
                    if end - start > self.limits.max_line + 2 {
                        return Err(ReadError::LineTooLong);
                    }
                    // `fill` checks before it adds a read, so the read that ends the line can
                    // carry the command past the limit: the whole command is checked here too,
                    // however the bytes arrived (its final CRLF not counted, as for max_line).
                    if !self.authenticated && end > PRE_AUTH_MAX_COMMAND + 2 {
                        return Err(ReadError::Refused(format!(
                            "Command longer than {PRE_AUTH_MAX_COMMAND} bytes before login"
                        )));
                    }
                    if let Some(t) = &mut self.trace {
                        // (A message over the size limit keeps no bytes: nothing to show.)
                        let line = self
                            .frag
                            .message_bytes()
                            .get(start..end)
                            .unwrap_or_default();
                        if start == 0 {
                            t.client_line(line);
                        } else {
                            t.client_continued(line);
                        }
                    }
                    self.fragment_end = end;
                    if let Some(LiteralAnnouncement { mode, length }) = announcement {
                        self.literals += 1;
                        // Before login the whole command counts, and must fit in the pool.
                        let command = end.saturating_add(length as usize);
                        let refusal = if !self.authenticated
                            && mode == LiteralMode::NonSync
                            && length > LITERAL_MINUS_MAX
                        {
                            Some(Refusal::OverLiteralMinus)
                        } else if length > self.max_literal()
                            || self.literals > self.limits.max_literals
                        {
                            Some(Refusal::TooBig)
                        } else if self.authenticated {
                            None
                        } else if command > PRE_AUTH_MAX_COMMAND {
                            Some(Refusal::CommandTooBig)
                        } else if !self.hold_pre_auth(command).await {
                            log::info!(
                                "refusing a literal: no room left for commands before login"
                            );
                            Some(Refusal::Busy)
                        } else {
                            None
                        };
                        let over = refusal.is_some();
                        match mode {
                            LiteralMode::Sync if over => {
                                // The client waits for our "+": refuse now, read nothing.
                                let tag = self.frag.decode_tag().map(|t| t.into_static());
                                // The room goes back before the client hears of it.
                                self.holds.clear();
                                self.refuse_literal(tag, length, refusal).await?;
                                self.release_large_buffer();
                                self.frag.skip_message();
                                self.reset_message();
                                continue;
                            }
                            LiteralMode::Sync => {
                                self.take_budget(length).await;
                                self.queue(b"+ Ready for literal data\r\n");
                                self.flush().await.map_err(ReadError::Io)?;
                            }
                            LiteralMode::NonSync if over => {
                                // The bytes are coming anyway (see the module doc): refuse and
                                // close rather than buffer them.
                                let tag = self.frag.decode_tag().map(|t| t.into_static());
                                self.refuse_literal(tag, length, refusal).await?;
                                log::info!(
                                    "closing: non-synchronising literal of {length} bytes over the limit"
                                );
                                self.queue(
                                    b"* BYE Non-synchronising literal over the size limit\r\n",
                                );
                                self.flush().await.map_err(ReadError::Io)?;
                                return Err(ReadError::Closed);
                            }
                            // Its bytes wait in the socket until there is room.
                            LiteralMode::NonSync => self.take_budget(length).await,
                        }
                        self.in_literal = true;
                    }
                }
                FragmentInfo::Literal { start, end } => {
                    if let Some(t) = &mut self.trace {
                        t.client_literal(
                            self.frag
                                .message_bytes()
                                .get(start..end)
                                .unwrap_or_default(),
                        );
                    }
                    self.fragment_end = end;
                    self.in_literal = false;
                }
            }
            if self.frag.is_message_complete() {
                return Ok(());
            }
        }
    }

    /// Room for a literal of `length` bytes in the shared pool, waiting for it (logged in).
    async fn take_budget(&mut self, length: u32) {
        if !self.authenticated {
            return;
        }
        if let Some(budget) = self.literal_budget.clone() {
            let mine = self.holds.iter().map(Hold::bytes).sum();
            self.holds.push(budget.take(length as usize, mine).await);
        }
    }

    /// The largest literal accepted now.
    fn max_literal(&self) -> u32 {
        if self.authenticated {
            self.limits.max_literal
        } else {
            self.limits.max_literal.min(PRE_AUTH_MAX_LITERAL)
        }
    }

    async fn refuse_literal(
        &mut self,
        tag: Option<Tag<'static>>,
        length: u32,
        refusal: Option<Refusal>,
    ) -> Result<(), ReadError> {
        let mut status = "NO";
        let (code, text) = match refusal {
            // RFC 7888 §4: tagged BAD with TOOBIG.
            Some(Refusal::OverLiteralMinus) => {
                status = "BAD";
                (
                    "TOOBIG",
                    format!(
                        "Non-synchronising literal of {length} bytes before login: \
                         LITERAL- allows at most {LITERAL_MINUS_MAX}"
                    ),
                )
            }
            Some(Refusal::CommandTooBig) => (
                "TOOBIG",
                format!(
                    "Command of more than {PRE_AUTH_MAX_COMMAND} bytes (literals included) before login"
                ),
            ),
            Some(Refusal::Busy) => ("LIMIT", BUSY.to_string()),
            _ => ("TOOBIG", self.too_big_text(length)),
        };
        let line = match tag {
            Some(t) => format!("{} {status} [{code}] {text}\r\n", t.inner()),
            None => format!("* BAD [{code}] {text}\r\n"),
        };
        self.queue(line.as_bytes());
        self.flush().await.map_err(ReadError::Io)
    }

    fn too_big_text(&self, length: u32) -> String {
        if self.literals > self.limits.max_literals {
            format!(
                "Too many literals in one command (limit {})",
                self.limits.max_literals
            )
        } else {
            format!(
                "Literal of {length} bytes exceeds the limit of {} bytes{}",
                self.max_literal(),
                if self.authenticated {
                    ""
                } else {
                    " before login"
                }
            )
        }
    }

    /// Read and decode the next message with `codec`.
    pub async fn read<C>(
        &mut self,
        codec: &C,
    ) -> Result<Result<C::Message<'static>, Rejected>, ReadError>
    where
        C: Decoder,
        for<'a> C::Message<'a>: IntoStatic<Static = C::Message<'static>>,
    {
        // The previous command has run: its literals' room goes back to the pool.
        self.holds.clear();
        self.next_message().await?;
        let result = self.decode(codec);
        self.release_large_buffer();
        self.reset_message();
        Ok(result)
    }

    fn decode<C>(&self, codec: &C) -> Result<C::Message<'static>, Rejected>
    where
        C: Decoder,
        for<'a> C::Message<'a>: IntoStatic<Static = C::Message<'static>>,
    {
        let tag = || self.frag.decode_tag().map(|t| t.into_static());
        let result = match self.frag.decode_message(codec) {
            Ok(message) => Ok(message.into_static()),
            Err(DecodeMessageError::MessageTooLong { .. }) => Err(Rejected {
                tag: tag(),
                too_big: true,
                reason: "Command exceeds the size limit".into(),
                raw: Vec::new(),
            }),
            Err(DecodeMessageError::MessagePoisoned { .. }) => Err(Rejected {
                tag: tag(),
                too_big: true,
                reason: "Literal exceeds the size limit".into(),
                raw: Vec::new(),
            }),
            Err(DecodeMessageError::DecodingRemainder { .. }) => Err(Rejected {
                tag: tag(),
                too_big: false,
                reason: "Unexpected characters after the command".into(),
                raw: self.frag.message_bytes().to_vec(),
            }),
            Err(DecodeMessageError::DecodingFailure(_)) => Err(Rejected {
                tag: tag(),
                too_big: false,
                reason: if maybe_deep_search(self.frag.message_bytes()) {
                    format!(
                        "Could not parse command (SEARCH keys may nest at most \
                         {MAX_SEARCH_DEPTH} deep: parentheses, NOT, OR)"
                    )
                } else {
                    "Could not parse command".into()
                },
                raw: self.frag.message_bytes().to_vec(),
            }),
        };
        result
    }

    /// Whether the server read from the socket since the last call; false means the command
    /// was already buffered, received before the previous one was answered (pipelined).
    pub fn take_waited(&mut self) -> bool {
        std::mem::take(&mut self.waited)
    }

    /// Whether the client has already sent bytes that have not been read as a message yet.
    pub fn has_pipelined_input(&self) -> bool {
        !self.frag.message_bytes().is_empty()
    }
}

/// Whether a command that failed to parse is a SEARCH with more nesting operators than the
/// parser accepts, so the client learns why (the parser does not say).
fn maybe_deep_search(message: &[u8]) -> bool {
    let upper = message.to_ascii_uppercase();
    let mut words = upper
        .split(|b| b.is_ascii_whitespace())
        .filter(|w| !w.is_empty());
    let _tag = words.next();
    let is_search = match words.next() {
        Some(b"SEARCH") => true,
        Some(b"UID") => words.next() == Some(b"SEARCH"),
        _ => false,
    };
    if !is_search {
        return false;
    }
    let operators = upper.iter().filter(|&&b| b == b'(').count()
        + upper
            .split(|b| b.is_ascii_whitespace() || *b == b'(' || *b == b')')
            .filter(|w| *w == b"NOT" || *w == b"OR")
            .count();
    operators > MAX_SEARCH_DEPTH
}

#[cfg(test)]
mod tests {
    use super::*;
    use imap_codec::imap_types::response::{Response, Status};
    use imap_codec::CommandCodec;

    fn conn(input: Vec<u8>) -> Conn {
        let stream = async_std::io::Cursor::new(input);
        Conn::new(Box::new(stream), Limits::default(), Duration::from_secs(5))
    }

    /// A connection waiting for its next command keeps no output buffer and a 512-byte read
    /// buffer; answering allocates the output buffer again. Idle connections are most of a
    /// server's connections: 7.5 KiB less each.
    #[test]
    fn a_waiting_connection_keeps_small_buffers() {
        async_std::task::block_on(async {
            let mut c = conn(b"a NOOP\r\nb NOOP\r\n".to_vec());
            assert!(c.read(&CommandCodec::default()).await.is_ok());
            assert_eq!((c.out.capacity(), c.buf.len()), (0, IDLE_READ_BUFFER));
            let ok = Response::Status(Status::ok(None, None, "done").unwrap());
            c.send(&ok).await.unwrap();
            assert!(c.out.capacity() >= OUTPUT_BUFFER);
            // The second command was in the first read: no read, nothing released.
            assert!(c.read(&CommandCodec::default()).await.is_ok());
            assert!(c.out.capacity() >= OUTPUT_BUFFER);
            // Waiting for a third: the answers are written out and the buffer let go.
            assert!(matches!(
                c.read(&CommandCodec::default()).await,
                Err(ReadError::Closed)
            ));
            assert_eq!(c.out.capacity(), 0);
        });
    }

    /// A command longer than the small buffer is read on with the full one, and whole.
    #[test]
    fn a_long_command_is_read_with_the_full_buffer() {
        async_std::task::block_on(async {
            let line = format!("a SEARCH SUBJECT \"{}\"\r\n", "x".repeat(3000));
            let mut c = conn(line.into_bytes());
            let read = c.read(&CommandCodec::default()).await;
            assert!(matches!(read, Ok(Ok(_))), "{read:?}");
            assert_eq!(c.buf.len(), READ_BUFFER);
        });
    }
}
