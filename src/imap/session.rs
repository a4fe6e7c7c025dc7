//! The per-connection loop: greet, read a command, check it is allowed in the current state,
//! run it, bring the client's view up to date where the RFC allows, answer with its tag.

use std::sync::Arc;
use std::time::Duration;

use async_std::prelude::FutureExt as _;
use imap_codec::imap_types::command::{Command, CommandBody};
use imap_codec::imap_types::core::{Tag, Vec1};
use imap_codec::imap_types::response::{
    Capability, Code, Data, Greeting, GreetingKind, Response, Status,
};
use imap_codec::CommandCodec;

use super::conn::{Conn, ReadError, Rejected};
use super::ext::{self, ExtCommand};
use super::state::{Needs, State, User};
use super::{text, CmdError, CmdResult};
use crate::server::Context;
use crate::store::{Store, StoreError};

/// What a successful command answers in its tagged OK.
pub struct Done {
    pub code: Option<Code<'static>>,
    pub text: String,
}

impl Done {
    pub fn ok(text: impl Into<String>) -> Self {
        Done {
            code: None,
            text: text.into(),
        }
    }

    pub fn with_code(code: Code<'static>, text: impl Into<String>) -> Self {
        Done {
            code: Some(code),
            text: text.into(),
        }
    }
}

/// How the session starts.
pub enum Start {
    /// `* OK`: the client must log in.
    Login,
    /// `* PREAUTH`: already logged in as this user (IMAP over stdin/stdout).
    PreAuth(User),
    /// `* BYE`: refused (too many connections); the text says why.
    Refuse(String),
}

/// What ends a session from outside: the server's shutdown, or `liteimap kick`.
#[derive(Clone)]
pub(crate) struct StopSignal {
    shutdown: async_std::channel::Receiver<()>,
    kicked: Option<async_std::channel::Receiver<()>>,
}

impl StopSignal {
    /// Wait for either; the BYE text says which.
    pub(crate) async fn wait(&self) -> &'static str {
        let down = async {
            let _ = self.shutdown.recv().await;
            "Server shutting down"
        };
        let kicked = async {
            match &self.kicked {
                Some(k) => {
                    let _ = k.recv().await;
                    crate::admin::KICKED
                }
                None => std::future::pending().await,
            }
        };
        down.race(kicked).await
    }
}

/// Consecutive unparseable commands after which the connection is closed.
const MAX_BAD_COMMANDS: u32 = 20;

pub struct Session {
    pub(crate) conn: Conn,
    pub(crate) ctx: Arc<Context>,
    pub(crate) state: State,
    /// The client's address, for logs.
    pub(crate) peer: String,
    pub(crate) id: u64,
    /// Whether the connection is encrypted (TLS or local stdio).
    pub(crate) secure: bool,
    /// The client's IP address (none for stdio).
    pub peer_ip: Option<std::net::IpAddr>,
    /// Failed logins on this connection.
    pub(crate) auth_failures: u32,
    /// This connection's place among those waiting to log in (none for stdio); given up at
    /// login.
    pub prelogin: Option<crate::prelogin::PreLoginSlot>,
    /// This user's slot among its connections from this address, held while logged in (and
    /// given back when the session ends).
    pub(crate) _user_slot:
        Option<crate::server::CountGuard<(crate::store::UserId, std::net::IpAddr)>>,
    bad_commands: u32,
    /// When the connection started (the login deadline counts from here).
    pub(crate) started: std::time::Instant,
    /// When the client last sent a command: with NOTIFY, reads end early to send news, and
    /// the autologout still counts from the client's last word.
    last_command: std::time::Instant,
    /// Commands read in a row that the client had sent before seeing earlier answers.
    pipelined: usize,
    /// CONDSTORE is enabled (RFC 7162 §3.1: by ENABLE, SELECT/EXAMINE (CONDSTORE) or the first
    /// command that uses a modseq): every FETCH that reports flags also reports MODSEQ.
    pub(crate) condstore: bool,
    /// QRESYNC is enabled (RFC 7162 §3.2.3, by ENABLE QRESYNC only; implies CONDSTORE):
    /// expunges are announced as `* VANISHED uids`.
    pub(crate) qresync: bool,
    /// IMAP4rev2 is enabled (RFC 9051, by `ENABLE IMAP4rev2`): no \Recent, SEARCH answers in
    /// ESEARCH form, SELECT lists the mailbox, names are UTF-8.
    pub(crate) rev2: bool,
    /// UTF8=ACCEPT is enabled (RFC 6855): mailbox names are UTF-8 both ways.
    pub(crate) utf8: bool,
    /// UIDONLY is enabled (RFC 9586): messages are named by UID only, FETCH responses are
    /// UIDFETCH, expunges are VANISHED (see `cmd::uidonly`).
    pub(crate) uidonly: bool,
    /// The logged-in user may not have UIDONLY (`liteimap user set NAME --no-uidonly`): it is
    /// not advertised, and ENABLE does not turn it on. Read at login.
    pub(crate) uidonly_withheld: bool,
    /// NOTIFY (RFC 5465) as set by the last `NOTIFY SET`; none after `NOTIFY NONE`.
    pub(crate) notify: Option<Box<super::cmd::notify::NotifyState>>,
    /// Octets the user may still store (its storage quota less its usage), as last read; makes
    /// APPENDLIMIT smaller than the literal limit (RFC 9208 §4.1 with RFC 7889).
    pub(crate) storage_left: Option<u64>,
    /// This session's line in `liteimap who` (none for a refused connection).
    registration: Option<crate::admin::Registration>,
}

impl Session {
    pub fn new(mut conn: Conn, ctx: Arc<Context>, peer: String, secure: bool) -> Self {
        let id = ctx.next_session_id();
        if let Some(hub) = &ctx.trace {
            conn.trace = Some(hub.start(crate::trace::Protocol::Imap, id, &peer));
        }
        Session {
            conn,
            ctx,
            state: State::NotAuthenticated,
            peer,
            id,
            secure,
            peer_ip: None,
            auth_failures: 0,
            prelogin: None,
            _user_slot: None,
            bad_commands: 0,
            pipelined: 0,
            started: std::time::Instant::now(),
            last_command: std::time::Instant::now(),
            condstore: false,
            qresync: false,
            rev2: false,
            utf8: false,
            uidonly: false,
            uidonly_withheld: false,
            notify: None,
            storage_left: None,
            registration: None,
        }
    }

    /// Run the store call `f` on a database worker. The future does not borrow the session.
    pub(crate) fn db<T, F>(
        &self,
        f: F,
    ) -> impl std::future::Future<Output = Result<T, StoreError>> + Send + 'static
    where
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        self.ctx.db.run(f)
    }

    /// Queue an untagged data response.
    pub(crate) async fn data(&mut self, data: Data<'_>) -> CmdResult {
        self.conn
            .send(&Response::Data(data))
            .await
            .map_err(|e| CmdError::Bye(format!("write failed: {e}")))
    }

    /// Send a response and write it out at once.
    pub(crate) async fn send_now(&mut self, response: Response<'_>) -> CmdResult {
        self.conn
            .send(&response)
            .await
            .map_err(|e| CmdError::Bye(format!("write failed: {e}")))?;
        self.flush_now().await
    }

    pub(crate) async fn flush_now(&mut self) -> CmdResult {
        self.conn
            .flush()
            .await
            .map_err(|e| CmdError::Bye(format!("write failed: {e}")))
    }

    /// Queue an untagged `* OK [code] text`.
    pub(crate) async fn untagged_ok(&mut self, code: Option<Code<'static>>, t: &str) -> CmdResult {
        let status = Status::ok(None, code, text(t)).map_err(|_| CmdError::bad("invalid text"))?;
        self.conn
            .send(&Response::Status(status))
            .await
            .map_err(|e| CmdError::Bye(format!("write failed: {e}")))
    }

    /// An error outside any command (a NOTIFY delivery): BYE ends the session (false);
    /// anything else is logged and the session goes on.
    async fn end_on(&mut self, e: CmdError) -> bool {
        match e {
            CmdError::Bye(t) => {
                log::info!("session {} ({}): closing: {t}", self.id, self.peer);
                self.bye(&t).await;
                false
            }
            CmdError::No(_, t) | CmdError::Bad(t) | CmdError::BadCode(_, t) => {
                log::warn!(
                    "session {} ({}): notification failed: {t}",
                    self.id,
                    self.peer
                );
                true
            }
        }
    }

    async fn bye(&mut self, t: &str) {
        let Ok(bye) = Status::bye(None, text(t));
        let _ = self.conn.send(&Response::Status(bye)).await;
        let _ = self.conn.flush().await;
    }

    /// The shutdown and kick signals, for the waits that must end on either.
    pub(crate) fn stop_signal(&self) -> StopSignal {
        StopSignal {
            shutdown: self.ctx.shutdown_signal(),
            kicked: self.registration.as_ref().map(|r| r.kicked.clone()),
        }
    }

    /// Tell `liteimap who` this session's user, selected mailbox and TLS as they are now.
    fn publish(&self) {
        if self.registration.is_some() {
            self.ctx.sessions.update(
                self.id,
                self.state.user().map(|u| u.name.as_str()),
                self.state.selected().map(|s| s.name.as_str()),
                self.secure,
            );
        }
    }

    pub(crate) async fn tagged(&mut self, tag: Tag<'static>, result: CmdResult<Done>) -> bool {
        // Before the answer: once a client has read it, `who` shows its new state.
        self.publish();
        let status = match result {
            Ok(done) => Status::ok(Some(tag), done.code, text(done.text)),
            Err(CmdError::No(code, t)) => Status::no(Some(tag), code, text(t)),
            Err(CmdError::Bad(t)) => Status::bad(Some(tag), None, text(t)),
            Err(CmdError::BadCode(code, t)) => Status::bad(Some(tag), Some(code), text(t)),
            Err(CmdError::Bye(t)) => {
                log::info!("session {} ({}): closing: {t}", self.id, self.peer);
                self.bye(&t).await;
                return false;
            }
        };
        match status {
            Ok(s) => self.conn.send(&Response::Status(s)).await.is_ok(),
            Err(_) => false,
        }
    }

    /// Whether this session reads and writes mailbox names in UTF-8 (UTF8=ACCEPT, RFC 6855;
    /// IMAP4rev2, RFC 9051 §5.1) rather than modified UTF-7.
    pub(crate) fn utf8_names(&self) -> bool {
        self.utf8 || self.rev2
    }

    /// The capabilities for the current state and connection.
    pub(crate) fn capabilities(&self) -> Vec1<Capability<'static>> {
        self.ctx.capabilities(
            &self.state,
            self.secure,
            self.login_allowed(),
            self.storage_left,
            !self.uidonly_withheld,
            self.conn.limits().max_literal,
        )
    }

    /// The plaintext policy: passwords only over TLS, unless no TLS is configured, the client
    /// is on this machine, or --allow-plaintext says otherwise.
    pub(crate) fn login_allowed(&self) -> bool {
        self.secure
            || self.ctx.tls.is_none()
            || self.ctx.config().allow_plaintext
            || self
                .peer_ip
                .is_none_or(|ip| ip.is_loopback() && self.ctx.config().trust_loopback)
    }

    pub async fn run(mut self, start: Start) {
        let greeting = match &start {
            Start::Login => Greeting {
                kind: GreetingKind::Ok,
                code: Some(Code::Capability(self.capabilities())),
                text: text("liteimap ready"),
            },
            Start::PreAuth(user) => {
                self.state = State::Authenticated(user.clone());
                self.refresh_withheld().await;
                Greeting {
                    kind: GreetingKind::PreAuth,
                    code: Some(Code::Capability(self.capabilities())),
                    text: text(format!("liteimap: logged in as {}", user.name)),
                }
            }
            Start::Refuse(why) => Greeting {
                kind: GreetingKind::Bye,
                code: None,
                text: text(why.as_str()),
            },
        };
        if !matches!(start, Start::Refuse(_)) {
            self.registration = Some(self.ctx.sessions.register(
                self.id,
                "imap",
                &self.peer,
                self.secure,
            ));
            self.publish();
        }
        self.conn.greet(&greeting);
        if !matches!(start, Start::Refuse(_)) {
            self.main_loop().await;
        }
        // Off the list before the client sees the end: `who` after its EOF no longer shows it.
        self.registration = None;
        self.conn.close().await;
        // Leaving releases what this session's view held.
        self.state = State::Logout;
        self.collect_unheld().await;
    }

    fn read_timeout(&self) -> Duration {
        match self.state {
            State::NotAuthenticated => self.ctx.config().login_timeout,
            _ => self.ctx.config().idle_timeout,
        }
    }

    /// Before login the time is counted from the connection's start, not per read: a client
    /// that dribbles a byte now and then cannot stay without logging in.
    fn read_deadline(&self) -> Option<std::time::Instant> {
        match self.state {
            State::NotAuthenticated => Some(self.started + self.ctx.login_timeout_now()),
            _ if self.notify.is_some() => Some(self.last_command + self.ctx.config().idle_timeout),
            _ => None,
        }
    }

    async fn main_loop(&mut self) {
        let stop_signal = self.stop_signal();
        loop {
            self.conn.timeout = self.read_timeout();
            self.conn.deadline = self.read_deadline();
            self.conn.authenticated = self.state.user().is_some();
            if let (Some(t), Some(user)) = (&mut self.conn.trace, self.state.user()) {
                t.set_user(&user.name);
            }
            // Waiting to log in, the connection may be closed to make room for a newer one.
            self.conn.close_signal = self.prelogin.as_ref().map(|p| p.evicted.clone());
            // With NOTIFY, a wait for the next command ends early to tell the news.
            self.conn.wake = self.notify.as_ref().map(|n| n.receiver());
            let read = async { Ok(self.conn.read(&CommandCodec::default()).await) };
            let stop = async { Err(stop_signal.wait().await) };
            let incoming = match read.race(stop).await {
                Err(why) => {
                    if why == crate::admin::KICKED {
                        log::info!("session {} ({}): kicked", self.id, self.peer);
                    }
                    self.bye(why).await;
                    return;
                }
                Ok(r) => r,
            };
            self.conn.wake = None;
            match incoming {
                Err(ReadError::Woken) => {
                    if let Err(e) = self.deliver_notifications().await {
                        if !self.end_on(e).await {
                            return;
                        }
                    }
                    continue;
                }
                Err(ReadError::Closed) => return,
                Err(ReadError::Timeout) => {
                    log::info!("session {} ({}): autologout", self.id, self.peer);
                    self.bye("Autologout: idle for too long").await;
                    return;
                }
                Err(ReadError::LineTooLong) => {
                    log::info!("session {} ({}): line too long", self.id, self.peer);
                    self.bye(&format!(
                        "Command line longer than {} bytes",
                        self.conn.limits().max_line
                    ))
                    .await;
                    return;
                }
                Err(ReadError::Io(e)) => {
                    log::debug!("session {} ({}): read error: {e}", self.id, self.peer);
                    return;
                }
                Err(ReadError::Refused(why)) => {
                    // Counted in the refusal summary when it is to make room; no line each.
                    log::debug!("session {} ({}): closing: {why}", self.id, self.peer);
                    self.bye(&why).await;
                    return;
                }
                Ok(message) => {
                    self.last_command = std::time::Instant::now();
                    // Every message counts towards the pipelining limit, whichever parser
                    // understands it.
                    if self.conn.take_waited() {
                        self.pipelined = 0;
                    } else {
                        self.pipelined += 1;
                    }
                    let go_on = match message {
                        Err(rejected) => self.reject(rejected).await,
                        Ok(command) => {
                            self.bad_commands = 0;
                            match self.over_pipelining_limit() {
                                Some(refusal) => self.tagged(command.tag, Err(refusal)).await,
                                None => self.execute(command).await,
                            }
                        }
                    };
                    if !go_on {
                        return;
                    }
                }
            }
            if matches!(self.state, State::Logout) {
                return;
            }
            if !self.conn.has_pipelined_input() && self.conn.flush().await.is_err() {
                return;
            }
        }
    }

    /// `NO [LIMIT]` for a command beyond `--max-pipelined` sent ahead of its answers.
    fn over_pipelining_limit(&self) -> Option<CmdError> {
        let limit = self.conn.limits().max_pipelined;
        (self.pipelined > limit).then(|| {
            CmdError::No(
                Some(super::code_limit()),
                format!(
                    "More than {limit} commands sent ahead of their answers; \
                     read the responses, then send it again"
                ),
            )
        })
    }

    async fn reject(&mut self, mut r: Rejected) -> bool {
        // A form imap-codec does not model may be an extension's (ext).
        match ext::parse(&r.raw) {
            Some(Ok((tag, command))) => {
                self.bad_commands = 0;
                return match self.over_pipelining_limit() {
                    Some(refusal) => self.tagged(tag, Err(refusal)).await,
                    None => self.execute_ext(tag, command).await,
                };
            }
            Some(Err((tag, reason))) => {
                r.tag = Some(tag);
                r.reason = reason;
            }
            None => {}
        }
        self.bad_commands += 1;
        if self.bad_commands > MAX_BAD_COMMANDS {
            self.bye("Too many invalid commands").await;
            return false;
        }
        log::debug!(
            "session {} ({}): rejected: {}",
            self.id,
            self.peer,
            r.reason
        );
        let status = match (r.tag, r.too_big) {
            (Some(tag), true) => Status::no(Some(tag), Some(Code::TooBig), text(r.reason)),
            (Some(tag), false) => Status::bad(Some(tag), None, text(r.reason)),
            (None, _) => Status::bad(None, None, text(r.reason)),
        };
        match status {
            Ok(s) => self.conn.send(&Response::Status(s)).await.is_ok(),
            Err(_) => false,
        }
    }

    /// Run one command. Returns false when the connection must end.
    async fn execute(&mut self, command: Command<'static>) -> bool {
        let Command { tag, body } = command;
        let name = body.name();
        log::debug!(
            "session {} ({}): {} {}",
            self.id,
            self.peer,
            tag.inner(),
            name
        );
        if let Err(why) = allowed(&self.state, name, needs(&body)) {
            return self.tagged(tag, Err(CmdError::Bad(why))).await;
        }
        if let Some(refused) = self
            .uidonly
            .then(|| super::cmd::uidonly::refusal(&body))
            .flatten()
        {
            return self.tagged(tag, Err(refused)).await;
        }
        if matches!(body, CommandBody::StartTLS) {
            return self.starttls(tag).await;
        }
        if matches!(body, CommandBody::Compress { .. }) {
            return self.compress(tag).await;
        }
        let uses_seqs = uses_sequence_numbers(&body);
        let started = std::time::Instant::now();
        // A command's future is boxed for its run: inline, the connection's future would be
        // as large as the largest command's (FETCH, SEARCH, APPEND…) for as long as the
        // connection lasts, idle or not. IDLE, which is waited in for hours, stays inline.
        let result = match body {
            CommandBody::Idle => self.cmd_idle().await,
            body => Box::pin(self.dispatch(&tag, body)).await,
        };
        let go_on = self.finish(tag, result, uses_seqs).await;
        crate::metrics::command(name, started.elapsed());
        go_on
    }

    /// Run one command parsed by the extension layer, exactly as `execute` runs the others.
    async fn execute_ext(&mut self, tag: Tag<'static>, command: ExtCommand) -> bool {
        let name = command.name();
        log::debug!(
            "session {} ({}): {} {} (extension form)",
            self.id,
            self.peer,
            tag.inner(),
            name
        );
        if let Err(why) = allowed(&self.state, name, command.needs()) {
            return self.tagged(tag, Err(CmdError::Bad(why))).await;
        }
        if let Some(refused) = self
            .uidonly
            .then(|| super::cmd::uidonly::ext_refusal(&command))
            .flatten()
        {
            return self.tagged(tag, Err(refused)).await;
        }
        let uses_seqs = command.uses_sequence_numbers();
        let started = std::time::Instant::now();
        // Boxed, as in `execute`.
        let result = Box::pin(self.dispatch_ext(&tag, command)).await;
        let go_on = self.finish(tag, result, uses_seqs).await;
        crate::metrics::command(name, started.elapsed());
        go_on
    }

    /// Bring the client up to date before the tagged answer, where the RFC allows: no
    /// EXPUNGE during a command that uses sequence numbers (RFC 3501 §7.4.1). Then answer.
    async fn finish(
        &mut self,
        tag: Tag<'static>,
        result: CmdResult<Done>,
        uses_seqs: bool,
    ) -> bool {
        let result = match result {
            Err(CmdError::Bye(t)) => Err(CmdError::Bye(t)),
            other => match self.sync(!uses_seqs).await {
                Ok(()) => other,
                Err(e) => Err(e),
            },
        };
        self.collect_unheld().await;
        self.tagged(tag, result).await
    }

    /// Delete the bodies of expunged messages that the last view holding them let go of
    /// (this session's EXPUNGE responses, or a session that left its mailbox). A failure only
    /// delays the deletion to the next collection (or the next start).
    pub(crate) async fn collect_unheld(&mut self) {
        if self.ctx.store.has_unheld() {
            if let Err(e) = self.db(|s| s.collect_unheld()).await {
                log::warn!("session {}: collecting expunged bodies: {e}", self.id);
            }
        }
    }

    /// The commands of the extension layer.
    async fn dispatch_ext(&mut self, tag: &Tag<'static>, command: ExtCommand) -> CmdResult<Done> {
        match command {
            ExtCommand::Search(s) => self.cmd_ext_search(tag, s).await,
            ExtCommand::Sort(s) => self.cmd_ext_sort(tag, s).await,
            ExtCommand::Saved(s) => self.cmd_saved(tag, s).await,
            ExtCommand::CancelUpdate(tags) => self.cmd_cancel_update(tags),
            ExtCommand::MultiAppend(m) => self.cmd_multiappend(m).await,
            ExtCommand::CreateWithUse(c) => self.cmd_create_with_use(c).await,
            ExtCommand::ListExtended(l) => self.cmd_list_extended(l).await,
            ExtCommand::Notify(n) => self.cmd_notify(n).await,
            ExtCommand::GenUrlAuth(g) => self.cmd_genurlauth(g).await,
            ExtCommand::ResetKey(r) => self.cmd_resetkey(r).await,
            ExtCommand::UrlFetch(f) => self.cmd_urlfetch(f).await,
            ExtCommand::Rewritten(body) => self.dispatch(tag, *body).await,
            ExtCommand::Status(s) => self.cmd_status_with_id(s).await,
            ExtCommand::Unauthenticate => self.cmd_unauthenticate().await,
            ExtCommand::Replace(r) => self.cmd_replace(r).await,
        }
    }

    pub(crate) async fn dispatch(
        &mut self,
        tag: &Tag<'static>,
        body: CommandBody<'static>,
    ) -> CmdResult<Done> {
        use CommandBody as C;
        match body {
            C::Capability => self.cmd_capability().await,
            C::Noop => Ok(Done::ok("NOOP completed")),
            C::Logout => self.cmd_logout().await,
            C::Login { username, password } => self.cmd_login(username, password).await,
            C::Authenticate {
                mechanism,
                initial_response,
            } => {
                self.cmd_authenticate(tag, mechanism, initial_response)
                    .await
            }
            C::Select {
                mailbox,
                parameters,
            } => self.cmd_select(mailbox, parameters, false).await,
            C::Examine {
                mailbox,
                parameters,
            } => self.cmd_select(mailbox, parameters, true).await,
            C::Create { mailbox } => self.cmd_create(mailbox).await,
            C::Delete { mailbox } => self.cmd_delete(mailbox).await,
            C::Rename { from, to } => self.cmd_rename(from, to).await,
            C::Subscribe { mailbox } => self.cmd_subscribe(mailbox, true).await,
            C::Unsubscribe { mailbox } => self.cmd_subscribe(mailbox, false).await,
            C::List {
                reference,
                mailbox_wildcard,
            } => self.cmd_list(reference, mailbox_wildcard, false).await,
            C::Lsub {
                reference,
                mailbox_wildcard,
            } => self.cmd_list(reference, mailbox_wildcard, true).await,
            C::Status {
                mailbox,
                item_names,
            } => self.cmd_status(mailbox, item_names.into_owned()).await,
            C::Append {
                mailbox,
                flags,
                date,
                message,
            } => self.cmd_append(mailbox, flags, date, message).await,
            C::Check => Ok(Done::ok("CHECK completed")),
            C::Idle => self.cmd_idle().await,
            C::Close => self.cmd_close().await,
            C::Unselect => self.cmd_unselect().await,
            C::Expunge => self.cmd_expunge(None).await,
            C::ExpungeUid { sequence_set } => {
                let uids = self.target_uids(&sequence_set, true)?;
                self.cmd_expunge(Some(uids)).await
            }
            C::Fetch {
                sequence_set,
                macro_or_item_names,
                uid,
                modifiers,
            } => {
                self.cmd_fetch(sequence_set, macro_or_item_names, uid, modifiers)
                    .await
            }
            C::Store {
                sequence_set,
                kind,
                response,
                flags,
                uid,
                modifiers,
            } => {
                self.cmd_store(sequence_set, kind, response, flags, uid, modifiers)
                    .await
            }
            C::Copy {
                sequence_set,
                mailbox,
                uid,
            } => self.cmd_copy(sequence_set, mailbox, uid).await,
            C::Move {
                sequence_set,
                mailbox,
                uid,
            } => self.cmd_move(sequence_set, mailbox, uid).await,
            C::Namespace => self.cmd_namespace().await,
            C::Id { parameters } => self.cmd_id(parameters).await,
            C::Enable { capabilities } => self.cmd_enable(capabilities.into_inner()).await,
            C::Search {
                charset,
                criteria,
                uid,
            } => self.cmd_search(tag, charset, criteria, uid).await,
            C::Sort {
                sort_criteria,
                charset,
                search_criteria,
                uid,
            } => {
                self.cmd_sort(sort_criteria, charset, search_criteria, uid)
                    .await
            }
            C::Thread {
                algorithm,
                charset,
                search_criteria,
                uid,
            } => {
                self.cmd_thread(algorithm, charset, search_criteria, uid)
                    .await
            }
            C::GetQuota { root } => self.cmd_getquota(root).await,
            C::GetQuotaRoot { mailbox } => self.cmd_getquotaroot(mailbox).await,
            C::SetQuota { .. } => Err(super::cmd::quota::setquota_refused()),
            C::GetMetadata {
                options,
                mailbox,
                entries,
            } => self.cmd_getmetadata(options, mailbox, entries).await,
            C::SetMetadata {
                mailbox,
                entry_values,
            } => self.cmd_setmetadata(mailbox, entry_values).await,
            other => Err(CmdError::bad(format!("{} is not supported", other.name()))),
        }
    }

    /// UNAUTHENTICATE (RFC 8437): back to the not-authenticated state, as if the connection
    /// were new: the selected mailbox is closed without expunging, what ENABLE turned on is
    /// off again, and the user's connection slot is given back. The login deadline starts
    /// anew.
    async fn cmd_unauthenticate(&mut self) -> CmdResult<Done> {
        self.state.deselect();
        self.state = State::NotAuthenticated;
        self.condstore = false;
        self.qresync = false;
        self.uidonly = false;
        self.uidonly_withheld = false;
        self._user_slot = None;
        self.auth_failures = 0;
        self.started = std::time::Instant::now();
        Ok(Done::ok("UNAUTHENTICATE completed"))
    }

    async fn cmd_capability(&mut self) -> CmdResult<Done> {
        self.refresh_storage_left().await;
        self.data(Data::Capability(self.capabilities())).await?;
        Ok(Done::ok("CAPABILITY completed"))
    }

    async fn cmd_logout(&mut self) -> CmdResult<Done> {
        let Ok(bye) = Status::bye(None, text("liteimap logging out"));
        self.conn
            .send(&Response::Status(bye))
            .await
            .map_err(|e| CmdError::Bye(e.to_string()))?;
        self.state = State::Logout;
        Ok(Done::ok("LOGOUT completed"))
    }

    /// STARTTLS (RFC 3501 §6.2.1): OK, then the handshake on the same socket. Whatever the
    /// client pipelined behind the command is discarded, never executed: it was not protected.
    async fn starttls(&mut self, tag: Tag<'static>) -> bool {
        let Some(tls) = self.ctx.tls.clone() else {
            return self
                .tagged(
                    tag,
                    Err(CmdError::bad(
                        "STARTTLS is not available: the server has no certificate",
                    )),
                )
                .await;
        };
        if self.secure {
            return self
                .tagged(tag, Err(CmdError::bad("TLS is already active")))
                .await;
        }
        if !self
            .tagged(tag, Ok(Done::ok("Begin TLS negotiation now")))
            .await
            || self.conn.flush().await.is_err()
        {
            return false;
        }
        let plain = self.conn.take_stream();
        let handshake = tls.acceptor().accept(plain);
        match async_std::future::timeout(Duration::from_secs(30), handshake).await {
            Ok(Ok(stream)) => {
                // set_stream starts a fresh framer: pipelined cleartext bytes are gone.
                self.conn.set_stream(Box::new(stream));
                self.secure = true;
                log::debug!("session {} ({}): TLS established", self.id, self.peer);
                true
            }
            Ok(Err(e)) => {
                log::info!(
                    "session {} ({}): STARTTLS handshake failed: {e}",
                    self.id,
                    self.peer
                );
                false
            }
            Err(_) => {
                log::info!(
                    "session {} ({}): STARTTLS handshake timed out",
                    self.id,
                    self.peer
                );
                false
            }
        }
    }
}

/// RFC 3501 §6: which commands each state accepts. The text names the problem.
/// The state a command of imap-codec's needs.
pub(crate) fn needs(body: &CommandBody) -> Needs {
    use CommandBody as C;
    match body {
        C::Capability | C::Noop | C::Logout | C::Id { .. } => Needs::Any,
        C::StartTLS | C::Login { .. } | C::Authenticate { .. } => Needs::NotAuthenticated,
        C::Check
        | C::Close
        | C::Expunge
        | C::ExpungeUid { .. }
        | C::Search { .. }
        | C::Sort { .. }
        | C::Thread { .. }
        | C::Fetch { .. }
        | C::Store { .. }
        | C::Copy { .. }
        | C::Move { .. }
        | C::Unselect => Needs::Selected,
        _ => Needs::Authenticated,
    }
}

/// Whether a command that needs `needs` may run in `state`; the BAD text when not.
fn allowed(state: &State, name: &str, needs: Needs) -> Result<(), String> {
    match (state, needs) {
        (_, Needs::Any) => Ok(()),
        (State::NotAuthenticated, Needs::NotAuthenticated) => Ok(()),
        (State::NotAuthenticated, _) => Err(format!("{name} needs a login first")),
        (_, Needs::NotAuthenticated) => Err(format!("{name}: already logged in")),
        (State::Authenticated(_), Needs::Selected) => Err(format!(
            "{name} needs a selected mailbox (SELECT or EXAMINE first)"
        )),
        (State::Logout, _) => Err("logging out".into()),
        _ => Ok(()),
    }
}

/// Commands during which no EXPUNGE may be sent (RFC 3501 §7.4.1; COPY and MOVE by sequence
/// number too, as clients pipeline them with FETCH).
pub(crate) fn uses_sequence_numbers(body: &CommandBody) -> bool {
    use CommandBody as C;
    matches!(
        body,
        C::Fetch { uid: false, .. }
            | C::Store { uid: false, .. }
            | C::Search { uid: false, .. }
            | C::Copy { uid: false, .. }
            | C::Move { uid: false, .. }
            | C::Sort { uid: false, .. }
            | C::Thread { uid: false, .. }
    )
}
