//! LOGIN and AUTHENTICATE (PLAIN, RFC 4616, and LOGIN as clients use it), with SASL-IR.

use std::borrow::Cow;

use imap_codec::imap_types::auth::{AuthMechanism, AuthenticateData};
use imap_codec::imap_types::core::{AString, Tag};
use imap_codec::imap_types::response::{Code, CommandContinuationRequest, Response};
use imap_codec::imap_types::secret::Secret;
use imap_codec::AuthenticateDataCodec;

use crate::autousers::{self, parse_plain, Policy};
use crate::imap::conn::{ReadError, MADE_ROOM};
use crate::imap::session::{Done, Session};
use crate::imap::state::{State, User};
use crate::imap::{
    code_authenticationfailed, code_limit, code_privacyrequired, lossy, CmdError, CmdResult,
};
use crate::throttle::{LoginThrottle, Turn};
use async_std::prelude::FutureExt as _;

/// The longest user name or password considered; longer ones fail without hashing.
const MAX_CREDENTIAL: usize = 1024;

impl Session {
    pub(crate) async fn cmd_login(
        &mut self,
        username: AString<'static>,
        password: Secret<AString<'static>>,
    ) -> CmdResult<Done> {
        self.require_privacy()?;
        let user = lossy(username.as_ref()).into_owned();
        let pass = password.declassify().as_ref().to_vec();
        self.authenticate_user(user, pass).await
    }

    pub(crate) async fn cmd_authenticate(
        &mut self,
        tag: &Tag<'static>,
        mechanism: AuthMechanism<'static>,
        initial: Option<Secret<Cow<'static, [u8]>>>,
    ) -> CmdResult<Done> {
        self.require_privacy()?;
        let initial = initial.map(|s| s.declassify().to_vec());
        match mechanism {
            AuthMechanism::Plain => {
                let response = match initial {
                    Some(r) => r,
                    None => self.sasl_step(b"").await?,
                };
                let (authz, user, pass) = parse_plain(&response).ok_or_else(|| {
                    CmdError::bad("Malformed PLAIN response (authzid NUL authcid NUL password)")
                })?;
                if !authz.is_empty() && authz != user {
                    log::info!(
                        "session {} ({}): refused authorization identity {:?} for {:?}",
                        self.id,
                        self.peer,
                        lossy(&authz),
                        lossy(&user)
                    );
                    return Err(CmdError::no_code(
                        code_authenticationfailed(),
                        "Authorization identity must be empty or equal the user",
                    ));
                }
                self.authenticate_user(lossy(&user).into_owned(), pass)
                    .await
            }
            AuthMechanism::Login => {
                // Some clients send the user name as an initial response.
                let user = match initial {
                    Some(u) => u,
                    None => self.sasl_step(b"Username:").await?,
                };
                let pass = self.sasl_step(b"Password:").await?;
                self.authenticate_user(lossy(&user).into_owned(), pass)
                    .await
            }
            other => {
                let _ = tag;
                Err(CmdError::no(format!(
                    "Unsupported authentication mechanism {}",
                    other.as_ref()
                )))
            }
        }
    }

    /// The plaintext policy: no password over an unprotected connection from afar.
    fn require_privacy(&self) -> CmdResult {
        if self.login_allowed() {
            return Ok(());
        }
        Err(CmdError::no_code(
            code_privacyrequired(),
            "Logins need TLS on this connection: use STARTTLS first",
        ))
    }

    /// Send a SASL challenge and read the client's base64 answer (`*` cancels).
    async fn sasl_step(&mut self, challenge: &[u8]) -> CmdResult<Vec<u8>> {
        let cont = CommandContinuationRequest::base64(challenge.to_vec());
        self.conn
            .send(&Response::CommandContinuationRequest(cont))
            .await
            .map_err(|e| CmdError::Bye(e.to_string()))?;
        match self.conn.read(&AuthenticateDataCodec::default()).await {
            Ok(Ok(AuthenticateData::Continue(data))) => Ok(data.declassify().to_vec()),
            Ok(Ok(AuthenticateData::Cancel)) => Err(CmdError::bad("AUTHENTICATE cancelled")),
            Ok(Err(_)) => Err(CmdError::bad("Invalid base64 in AUTHENTICATE response")),
            Err(ReadError::Closed) => Err(CmdError::Bye("connection closed".into())),
            Err(ReadError::Timeout) => Err(CmdError::Bye("Autologout: idle for too long".into())),
            Err(ReadError::LineTooLong) => {
                Err(CmdError::Bye("AUTHENTICATE response too long".into()))
            }
            Err(ReadError::Io(e)) => Err(CmdError::Bye(e.to_string())),
            Err(ReadError::Refused(why)) => Err(CmdError::Bye(why)),
            Err(ReadError::Woken) => Err(CmdError::bad("AUTHENTICATE interrupted")),
        }
    }

    /// Check a user name and password; on success enter the authenticated state. An unknown
    /// user and a wrong password take the same time and get the same answer.
    async fn authenticate_user(&mut self, user: String, pass: Vec<u8>) -> CmdResult<Done> {
        let name = user.clone();
        // One attempt at a time from an address, across its connections (see `throttle`).
        let throttle = self.ctx.throttle.clone();
        let address = self.peer_ip.map(|ip| throttle.address(ip));
        let turn = wait_for_turn(
            &throttle,
            address.as_deref(),
            self.prelogin.as_ref().map(|p| p.evicted.clone()),
            self.started + self.ctx.login_timeout_now(),
        )
        .await?;
        let found = if user.len() > MAX_CREDENTIAL || pass.len() > MAX_CREDENTIAL {
            None
        } else {
            let policy = if self.ctx.config().auto_users {
                Policy::Create
            } else {
                Policy::Existing
            };
            // One trip: the check, and on success what APPENDLIMIT (the user's quota) and
            // CAPABILITY (what is withheld from the user) say.
            self.db(move |s| {
                let Some(row) = autousers::login(s, &user, &pass, policy)? else {
                    return Ok(None);
                };
                // A failure leaves APPENDLIMIT out; the store refuses over-quota writes.
                let left = s.quota(row.id).ok().and_then(|q| q.storage_left());
                let withheld = s.withheld_capabilities(row.id);
                Ok(Some((row, left, withheld)))
            })
            .await?
        };
        match found {
            Some((row, storage_left, withheld)) => {
                drop(turn);
                if let Some(ip) = self.peer_ip {
                    let limit = self.ctx.config().max_user_connections_per_ip;
                    let Some(slot) = self.ctx.per_user_ip.acquire((row.id, ip), limit) else {
                        log::info!(
                            "session {} ({}): refused login of {}: {limit} connections from this address",
                            self.id,
                            self.peer,
                            row.name
                        );
                        return Err(CmdError::no_code(
                            code_limit(),
                            format!(
                                "Too many connections for this user from your address (limit {limit})"
                            ),
                        ));
                    };
                    self._user_slot = Some(slot);
                }
                crate::metrics::login(true);
                log::info!(
                    "session {} ({}): logged in as {}",
                    self.id,
                    self.peer,
                    row.name
                );
                // No longer waiting to log in: out of the pre-login share.
                self.prelogin = None;
                self.state = State::Authenticated(User {
                    id: row.id,
                    name: row.name,
                });
                self.storage_left = storage_left;
                self.uidonly_withheld = self.withheld_uidonly(withheld);
                Ok(Done::with_code(
                    Code::Capability(self.capabilities()),
                    "Logged in",
                ))
            }
            None => {
                self.auth_failures += 1;
                crate::metrics::login(false);
                let (from_ip, for_name) = throttle.failure(self.peer_ip, &name);
                log::info!(
                    "session {} ({}): login failed for user {:?} ({} on this connection, {} recently from this address, {} recently for this name)",
                    self.id,
                    self.peer,
                    name,
                    self.auth_failures,
                    from_ip,
                    for_name
                );
                // Each failure doubles the wait before the answer, counting this
                // connection's failures, its address's and the name's recent ones: neither a
                // new connection nor a new address starts a guesser afresh. The address's
                // next attempt waits for this answer.
                let n = self.auth_failures.max(from_ip).max(for_name);
                async_std::task::sleep(throttle.delay(n)).await;
                drop(turn);
                if self.auth_failures >= self.ctx.config().max_auth_failures {
                    return Err(CmdError::Bye(format!(
                        "Too many failed logins ({})",
                        self.auth_failures
                    )));
                }
                Err(CmdError::no_code(
                    code_authenticationfailed(),
                    "Authentication failed",
                ))
            }
        }
    }
}

/// Wait for the address's turn to check a password, as a connection that has not logged in:
/// still closed to make room (`evicted` closes), and still bound by its login deadline,
/// meanwhile (a queue of guesses must not hold connections beyond them).
async fn wait_for_turn<'a>(
    throttle: &'a LoginThrottle,
    address: Option<&'a crate::throttle::Address>,
    evicted: Option<async_std::channel::Receiver<()>>,
    deadline: std::time::Instant,
) -> CmdResult<Turn<'a>> {
    let made_room = async {
        crate::prelogin::made_room(evicted).await;
        None
    };
    let turn = async { Some(throttle.turn(address).await) };
    let left = deadline.saturating_duration_since(std::time::Instant::now());
    match async_std::future::timeout(left, turn.race(made_room)).await {
        Ok(Some(t)) => Ok(t),
        Ok(None) => Err(CmdError::Bye(MADE_ROOM.into())),
        Err(_) => Err(CmdError::Bye("Autologout: idle for too long".into())),
    }
}
