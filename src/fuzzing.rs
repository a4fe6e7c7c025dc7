//! Entry points for the `cargo fuzz` targets in `fuzz/` (not part of the server): one IMAP
//! session run over an in-memory stream against a scratch database.
//!
//! The database and the Context are made once per process; each run gets a fresh user with a
//! few test messages, so runs do not see each other's mailboxes, and the user is removed after.

use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::task::{Context as TaskContext, Poll};
use std::time::Duration;

use async_std::io::{Read, Write};

use crate::imap::conn::Conn;
use crate::imap::session::{Session, Start};
use crate::imap::state::User;
use crate::server::{Config, Context};
use crate::store::Store;

/// The state a fuzzed session starts in before the input is read.
#[derive(Clone, Copy, Debug)]
pub enum FuzzState {
    /// Greeted with OK: the input must log in (the password is `secret`).
    NotAuthenticated,
    /// Greeted with PREAUTH.
    Authenticated,
    /// PREAUTH, then `SELECT INBOX` (three messages).
    Selected,
    /// PREAUTH, then `EXAMINE INBOX`.
    ReadOnly,
}

/// Input bytes, then end of stream; output is discarded.
struct Scripted {
    input: Vec<u8>,
    at: usize,
}

impl Read for Scripted {
    fn poll_read(
        mut self: Pin<&mut Self>,
        _cx: &mut TaskContext<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        let n = buf.len().min(self.input.len() - self.at);
        buf[..n].copy_from_slice(&self.input[self.at..self.at + n]);
        self.at += n;
        Poll::Ready(Ok(n))
    }
}

impl Write for Scripted {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Poll::Ready(Ok(buf.len()))
    }
    fn poll_flush(self: Pin<&mut Self>, _cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(self: Pin<&mut Self>, _cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

struct Shared {
    ctx: Arc<Context>,
    hash: String,
    runs: AtomicU64,
}

fn shared() -> &'static Shared {
    static SHARED: OnceLock<Shared> = OnceLock::new();
    SHARED.get_or_init(|| {
        let dir = std::env::temp_dir().join(format!("liteimap-fuzz-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("temporary directory for the fuzz database");
        let store = Arc::new(Store::open(&dir.join("fuzz.db")).expect("fuzz database"));
        let config = Config {
            auth_failure_delay: Duration::ZERO,
            login_timeout: Duration::from_secs(5),
            idle_timeout: Duration::from_secs(5),
            ..Config::default()
        };
        Shared {
            ctx: Context::new(store, config),
            hash: crate::password::hash(b"secret").expect("password hash"),
            runs: AtomicU64::new(0),
        }
    })
}

const MESSAGES: [&[u8]; 3] = [
    b"From: Alice <alice@example.org>\r\nTo: bob@example.org\r\nSubject: one\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\n\r\nHello\r\n",
    b"From: =?utf-8?q?J=C3=B6rg?= <j@example.org>\r\nSubject: two\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nfirst\r\n--b\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\n\r\ninner body\r\n--b--\r\n",
    b"Subject: three\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8gd29ybGQ=\r\n",
];

/// Run one session in `state` on `input` until the input ends or the session does.
pub fn run_session(state: FuzzState, input: &[u8]) {
    let shared = shared();
    let n = shared.runs.fetch_add(1, Ordering::SeqCst);
    let name = format!("fuzz{n}");
    let store = &shared.ctx.store;
    let Ok(id) = store.create_user(&name, &shared.hash) else {
        return;
    };
    if let Ok(Some(inbox)) = store.mailbox(id, "INBOX") {
        let messages: Vec<_> = MESSAGES
            .iter()
            .map(|m| crate::message::prepare(m.to_vec(), vec![], None))
            .collect();
        let _ = store.append(inbox.id, &messages);
    }
    let mut script = Vec::new();
    match state {
        FuzzState::NotAuthenticated | FuzzState::Authenticated => {}
        FuzzState::Selected => script.extend_from_slice(b"s SELECT INBOX\r\n"),
        FuzzState::ReadOnly => script.extend_from_slice(b"s EXAMINE INBOX\r\n"),
    }
    let login = if matches!(state, FuzzState::NotAuthenticated) {
        // The input logs in as this run's user with `LOGIN user secret`; `user` stands for it.
        let replaced = replace_all(input, b"user", name.as_bytes());
        script.extend_from_slice(&replaced);
        Start::Login
    } else {
        script.extend_from_slice(input);
        Start::PreAuth(User {
            id,
            name: name.clone(),
        })
    };
    let stream = Scripted {
        input: script,
        at: 0,
    };
    let ctx = shared.ctx.clone();
    let conn = Conn::new(
        Box::new(stream),
        ctx.config().limits.clone(),
        ctx.config().idle_timeout,
    );
    let session = Session::new(conn, ctx, "fuzz".into(), true);
    async_std::task::block_on(session.run(login));
    let _ = store.remove_user(&name);
}

fn replace_all(input: &[u8], from: &[u8], to: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(input.len());
    let mut i = 0;
    while i < input.len() {
        if input[i..].starts_with(from) {
            out.extend_from_slice(to);
            i += from.len();
        } else {
            out.push(input[i]);
            i += 1;
        }
    }
    out
}
