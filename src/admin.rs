//! The admin socket: `liteimap who` and `liteimap kick USER` ask a running server over a Unix
//! socket that only the server's owner can use (mode 0600, and the peer's uid checked with
//! SO_PEERCRED).
//!
//! The exchange is one request line and a reply, then the server closes the connection:
//! `who` or `kick USER` (or `delivered RESULT` from `liteimap deliver`, for the metrics); the
//! reply's first line is `ok` or `no TEXT`, the lines after it are the output to print. Lines
//! rather than JSON: every field is a name, an address or a number, the client is this same
//! binary, and no new crate is needed.
//!
//! `Sessions` is the table the answers come from: every IMAP and LMTP session registers when it
//! starts and leaves when it ends; IMAP sessions update their user and selected mailbox before
//! each tagged answer, so what `who` shows is what the client has been told.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Read as _, Write as _};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::SystemTime;

use async_std::channel::{Receiver, Sender};
use async_std::io::prelude::{BufReadExt as _, ReadExt as _, WriteExt as _};
use async_std::os::unix::net::{UnixListener, UnixStream};
use async_std::prelude::FutureExt as _;

use crate::server::Context;

/// The BYE text a kicked IMAP session gets.
pub const KICKED: &str = "Disconnected by the server's administrator";

/// The longest request line read.
const MAX_REQUEST: u64 = 1024;

/// What `who` shows of one session.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SessionInfo {
    pub id: u64,
    /// "imap" or "lmtp".
    pub protocol: &'static str,
    /// The client's address (for a Unix socket, its path).
    pub peer: String,
    pub since: SystemTime,
    pub tls: bool,
    /// None before login (and for LMTP).
    pub user: Option<String>,
    pub mailbox: Option<String>,
}

struct Entry {
    info: SessionInfo,
    /// Dropped by `kick`: the session's `kicked` receiver then fails, which ends it.
    kick: Option<Sender<()>>,
}

/// Every open session (see the module's comment).
#[derive(Default)]
pub struct Sessions {
    map: Mutex<BTreeMap<u64, Entry>>,
}

/// A session's place in `Sessions`, removed when dropped.
pub struct Registration {
    sessions: Arc<Sessions>,
    id: u64,
    /// Fails (its sender is gone) once the session is kicked.
    pub kicked: Receiver<()>,
}

impl Drop for Registration {
    fn drop(&mut self) {
        self.sessions.lock().remove(&self.id);
    }
}

impl Sessions {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<u64, Entry>> {
        self.map.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn register(
        self: &Arc<Self>,
        id: u64,
        protocol: &'static str,
        peer: &str,
        tls: bool,
    ) -> Registration {
        let (tx, rx) = async_std::channel::bounded(1);
        let info = SessionInfo {
            id,
            protocol,
            peer: peer.to_string(),
            since: SystemTime::now(),
            tls,
            user: None,
            mailbox: None,
        };
        self.lock().insert(
            id,
            Entry {
                info,
                kick: Some(tx),
            },
        );
        Registration {
            sessions: self.clone(),
            id,
            kicked: rx,
        }
    }

    /// A session's state now (copied only when it changed).
    pub fn update(&self, id: u64, user: Option<&str>, mailbox: Option<&str>, tls: bool) {
        let mut map = self.lock();
        let Some(e) = map.get_mut(&id) else { return };
        if e.info.user.as_deref() != user {
            e.info.user = user.map(str::to_string);
        }
        if e.info.mailbox.as_deref() != mailbox {
            e.info.mailbox = mailbox.map(str::to_string);
        }
        e.info.tls = tls;
    }

    /// The open sessions, oldest first.
    pub fn list(&self) -> Vec<SessionInfo> {
        self.lock().values().map(|e| e.info.clone()).collect()
    }

    /// End every session of `user` (they say BYE at their next step: at once when waiting for
    /// a command or in IDLE, after the command they are running otherwise). Returns how many.
    pub fn kick(&self, user: &str) -> usize {
        let mut n = 0;
        for e in self.lock().values_mut() {
            if e.info.user.as_deref() == Some(user) && e.kick.take().is_some() {
                n += 1;
            }
        }
        n
    }
}

/// The longest path a Unix socket can have (sun_path's 108 bytes less the final NUL).
pub const MAX_PATH: usize = 107;

/// The default socket path: beside the database, `DB.admin.sock`.
pub fn default_path(db: &Path) -> PathBuf {
    let mut p = db.as_os_str().to_owned();
    p.push(".admin.sock");
    PathBuf::from(p)
}

/// Make room for a Unix socket at `path`: a stale socket (nobody answers on it) is removed; a
/// live one, or a file that is not a socket, is an error naming `what` the socket is for.
pub fn clear_stale_socket(path: &Path, what: &str) -> Result<(), String> {
    use std::os::unix::fs::FileTypeExt;
    let Ok(meta) = std::fs::symlink_metadata(path) else {
        return Ok(());
    };
    if !meta.file_type().is_socket() {
        return Err(format!(
            "cannot use {} for the {what}: it exists and is not a socket",
            path.display()
        ));
    }
    if std::os::unix::net::UnixStream::connect(path).is_ok() {
        return Err(format!(
            "cannot use {} for the {what}: another process is listening on it",
            path.display()
        ));
    }
    std::fs::remove_file(path)
        .map_err(|e| format!("cannot remove stale socket {}: {e}", path.display()))
}

/// The bound admin socket; its file is removed when this is dropped (at shutdown, or when
/// start-up fails after binding).
pub struct Listener {
    listener: UnixListener,
    path: PathBuf,
}

impl Listener {
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

/// Bind the admin socket at `path`, 0600. A live socket there means another server runs on
/// this database (or uses this path): refused.
pub async fn bind(path: &Path) -> Result<Listener, String> {
    use std::os::unix::fs::PermissionsExt;
    clear_stale_socket(path, "admin socket").map_err(|e| {
        if e.contains("another process is listening") {
            format!("{e} (is another liteimap serving this database? give it its own --admin-socket otherwise)")
        } else {
            e
        }
    })?;
    let listener = UnixListener::bind(path)
        .await
        .map_err(|e| format!("cannot listen on the admin socket {}: {e}", path.display()))?;
    let l = Listener {
        listener,
        path: path.to_path_buf(),
    };
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
        .map_err(|e| format!("cannot set permissions of {}: {e}", path.display()))?;
    Ok(l)
}

/// Answer admin requests until shutdown; the socket file goes with the listener.
pub async fn serve(ctx: Arc<Context>, listener: Listener) {
    let stop = ctx.shutdown_signal();
    loop {
        let accepted = async { Some(listener.listener.accept().await) };
        let shutdown = async {
            let _ = stop.recv().await;
            None
        };
        match accepted.race(shutdown).await {
            None => break,
            Some(Ok((stream, _))) => {
                let ctx = ctx.clone();
                async_std::task::spawn(async move {
                    if let Err(e) = answer(&ctx, stream).await {
                        log::debug!("admin socket: {e}");
                    }
                });
            }
            Some(Err(e)) => {
                log::warn!("admin socket: accept failed: {e}");
                async_std::task::sleep(std::time::Duration::from_millis(100)).await;
            }
        }
    }
}

/// The uid of the process at the other end of `stream` (SO_PEERCRED).
fn peer_uid(stream: &UnixStream) -> std::io::Result<u32> {
    use std::os::fd::AsRawFd;
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes of the sizes given, and the descriptor is
    // the open socket `stream` owns for the duration of the call.
    let rc = unsafe {
        libc::getsockopt(
            stream.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(cred.uid)
}

/// This process's uid.
fn own_uid() -> u32 {
    // SAFETY: getuid has no preconditions and cannot fail.
    unsafe { libc::getuid() }
}

async fn answer(ctx: &Context, stream: UnixStream) -> std::io::Result<()> {
    let mut out = stream.clone();
    let uid = peer_uid(&stream)?;
    // The request is read first in every case, so the client's write never meets a closed
    // socket.
    let mut line = String::new();
    async_std::io::BufReader::new(stream)
        .take(MAX_REQUEST)
        .read_line(&mut line)
        .await?;
    if uid != own_uid() {
        log::warn!("admin socket: refused a connection from uid {uid}");
        return out
            .write_all(b"no only the server's own user may ask\n")
            .await;
    }
    let reply = request(ctx, line.trim_end_matches(['\r', '\n']));
    out.write_all(reply.as_bytes()).await
}

/// The reply to one request line.
fn request(ctx: &Context, line: &str) -> String {
    let (verb, arg) = line.split_once(' ').unwrap_or((line, ""));
    match verb {
        "who" => {
            let mut reply = String::from("ok\n");
            reply.push_str(&who_table(&ctx.sessions.list()));
            reply
        }
        "kick" if !arg.is_empty() => {
            let n = ctx.sessions.kick(arg);
            log::info!("admin: kick {arg}: {n} sessions ended");
            match n {
                0 => format!("no no sessions of {arg}\n"),
                1 => format!("ok\nended 1 session of {arg}\n"),
                n => format!("ok\nended {n} sessions of {arg}\n"),
            }
        }
        "delivered" => {
            if let Some(result) = crate::metrics::DELIVERY_RESULTS.iter().find(|r| **r == arg) {
                crate::metrics::delivery("deliver", result);
            }
            "ok\n".into()
        }
        _ => format!(
            "no unknown request {:?} (try who, or kick USER)\n",
            shown(line)
        ),
    }
}

/// A name as shown in the table: control characters (a tab, a newline) escaped.
fn shown(s: &str) -> String {
    s.chars()
        .flat_map(|c| {
            if c.is_control() || c == '\\' {
                c.escape_default().collect::<Vec<_>>()
            } else {
                vec![c]
            }
        })
        .collect()
}

/// `who`'s output: a header, then one tab-separated line per session.
pub fn who_table(sessions: &[SessionInfo]) -> String {
    let mut out = String::from("ID\tPROTO\tUSER\tADDRESS\tMAILBOX\tSINCE\tTLS\n");
    for s in sessions {
        let since = chrono::DateTime::<chrono::Utc>::from(s.since)
            .format("%Y-%m-%dT%H:%M:%SZ")
            .to_string();
        out.push_str(&format!(
            "{}\t{}\t{}\t{}\t{}\t{since}\t{}\n",
            s.id,
            s.protocol,
            s.user.as_deref().map_or("-".into(), shown),
            shown(&s.peer),
            s.mailbox.as_deref().map_or("-".into(), shown),
            if s.tls { "yes" } else { "no" },
        ));
    }
    out
}

/// The client side: send `request` to the server at `path` and return the reply's output, or
/// the reason it was refused (`Ok(false, text)` for a `no` reply).
pub fn ask(path: &Path, request: &str) -> Result<(bool, String), String> {
    let mut s = std::os::unix::net::UnixStream::connect(path).map_err(|e| {
        format!(
            "cannot reach the server's admin socket {}: {e} (is liteimap serve running on this database? see --admin-socket)",
            path.display()
        )
    })?;
    // A server that hangs must not hang `deliver` (its MTA waits for it) or the operator.
    let limit = Some(std::time::Duration::from_secs(10));
    s.set_read_timeout(limit)
        .and_then(|()| s.set_write_timeout(limit))
        .map_err(|e| format!("admin socket {}: {e}", path.display()))?;
    // Should the server have answered already, its reply says more than our write's error.
    let written = s.write_all(format!("{request}\n").as_bytes());
    let mut reader = BufReader::new(s);
    let mut status = String::new();
    let read = reader.read_line(&mut status);
    if status.is_empty() {
        let e = written
            .err()
            .or(read.err())
            .map_or("no reply".into(), |e| e.to_string());
        return Err(format!("admin socket {}: {e}", path.display()));
    }
    let mut rest = String::new();
    reader
        .read_to_string(&mut rest)
        .map_err(|e| format!("admin socket {}: {e}", path.display()))?;
    let status = status.trim_end();
    match status.strip_prefix("no ") {
        Some(why) => Ok((false, why.to_string())),
        None if status == "ok" => Ok((true, rest)),
        None => Err(format!(
            "admin socket {}: unexpected reply {status:?}",
            path.display()
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kick_ends_only_that_users_sessions_and_who_escapes_names() {
        let s = Arc::new(Sessions::default());
        let a = s.register(1, "imap", "127.0.0.1:1", false);
        let b = s.register(2, "imap", "127.0.0.1:2", true);
        let c = s.register(3, "lmtp", "/run/l.sock", false);
        s.update(1, Some("alice"), Some("In\tbox"), false);
        s.update(2, Some("bob"), None, true);
        assert_eq!(s.kick("carol"), 0);
        assert_eq!(s.kick("alice"), 1);
        assert!(a.kicked.is_closed());
        assert!(!b.kicked.is_closed() && !c.kicked.is_closed());
        // A second kick finds it already on its way out.
        assert_eq!(s.kick("alice"), 0);
        let table = who_table(&s.list());
        let rows: Vec<Vec<&str>> = table
            .lines()
            .map(|l| l.split('\t').filter(|f| !f.ends_with('Z')).collect())
            .collect();
        assert_eq!(
            rows,
            [
                vec!["ID", "PROTO", "USER", "ADDRESS", "MAILBOX", "SINCE", "TLS"],
                vec!["1", "imap", "alice", "127.0.0.1:1", "In\\tbox", "no"],
                vec!["2", "imap", "bob", "127.0.0.1:2", "-", "yes"],
                vec!["3", "lmtp", "-", "/run/l.sock", "-", "no"],
            ]
        );
        drop(a);
        assert_eq!(s.list().len(), 2);
    }
}
