//! IMAP over standard input and output, pre-authenticated (RFC 3501 PREAUTH greeting).

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context as TaskContext, Poll};

use async_std::io::{Read, Stdin, Stdout, Write};

use crate::imap::conn::Conn;
use crate::imap::session::{Session, Start};
use crate::imap::state::User;
use crate::server::Context;
use crate::store::UserId;

/// stdin and stdout as one duplex stream.
struct Duplex {
    input: Stdin,
    output: Stdout,
}

impl Read for Duplex {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &mut [u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.input).poll_read(cx, buf)
    }
}

impl Write for Duplex {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut TaskContext<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.output).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.output).poll_flush(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut TaskContext<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.output).poll_close(cx)
    }
}

/// Serve one pre-authenticated session on stdin/stdout until the client logs out or closes.
pub async fn run(ctx: Arc<Context>, id: UserId, name: String) {
    let stream = Duplex {
        input: async_std::io::stdin(),
        output: async_std::io::stdout(),
    };
    ctx.watch_other_processes();
    let conn = Conn::new(
        Box::new(stream),
        ctx.config().limits.clone(),
        ctx.config().idle_timeout,
    );
    let session = Session::new(conn, ctx.clone(), "stdio".into(), true);
    session.run(Start::PreAuth(User { id, name })).await;
}
