//! IDLE (RFC 2177): changes are pushed while the client waits; DONE ends it.

use async_std::prelude::FutureExt as _;
use imap_codec::imap_types::response::{CommandContinuationRequest, Response};
use imap_codec::IdleDoneCodec;

use crate::imap::conn::ReadError;
use crate::imap::session::{Done, Session};
use crate::imap::{text, CmdError, CmdResult};

enum Wake {
    Done(Result<Result<(), ()>, ReadError>),
    Changed,
    /// NOTIFY (RFC 5465) has news for folders other than the selected one.
    Notified,
    /// Server shutdown or `liteimap kick`, with the BYE text.
    Stop(&'static str),
}

impl Session {
    pub(crate) async fn cmd_idle(&mut self) -> CmdResult<Done> {
        let cont = CommandContinuationRequest::basic(None, text("idling"))
            .map_err(|_| CmdError::bad("invalid continuation"))?;
        self.send_now(Response::CommandContinuationRequest(cont))
            .await?;
        // In the authenticated state there is nothing to watch but the connection.
        let subscription = self
            .state
            .selected()
            .map(|s| self.ctx.notifier.subscribe(s.mailbox));
        let _idling = crate::metrics::idling();
        let stop_signal = self.stop_signal();
        // Changes made between the last command and the subscription.
        Box::pin(self.sync(true)).await?;
        self.flush_now().await?;
        loop {
            // Taken afresh each time: a delivery may have replaced NOTIFY's subscription.
            let notify = self.notify.as_ref().map(|n| n.receiver());
            let notified = async {
                match &notify {
                    Some(rx) if rx.recv().await.is_ok() => Wake::Notified,
                    _ => std::future::pending().await,
                }
            };
            let done = async {
                let r = self.conn.read(&IdleDoneCodec::default()).await;
                Wake::Done(r.map(|m| m.map(|_| ()).map_err(|_| ())))
            };
            let changed = async {
                match &subscription {
                    Some(s) => s.changed().await,
                    None => std::future::pending::<()>().await,
                }
                Wake::Changed
            };
            let stop = async { Wake::Stop(stop_signal.wait().await) };
            match done.race(changed).race(notified).race(stop).await {
                Wake::Done(Ok(Ok(()))) => return Ok(Done::ok("IDLE terminated")),
                Wake::Done(Ok(Err(()))) => return Err(CmdError::bad("Expected DONE to end IDLE")),
                Wake::Done(Err(ReadError::Timeout)) => {
                    return Err(CmdError::Bye("Autologout: idle for too long".into()))
                }
                Wake::Done(Err(ReadError::LineTooLong)) => {
                    return Err(CmdError::Bye("Line too long".into()))
                }
                Wake::Done(Err(ReadError::Closed)) => {
                    return Err(CmdError::Bye("connection closed".into()))
                }
                Wake::Done(Err(ReadError::Io(e))) => return Err(CmdError::Bye(e.to_string())),
                Wake::Done(Err(ReadError::Refused(why))) => return Err(CmdError::Bye(why)),
                // IDLE's reads are never given a NOTIFY wake-up.
                Wake::Done(Err(ReadError::Woken)) => continue,
                Wake::Stop(why) => return Err(CmdError::Bye(why.into())),
                // Boxed: an idler's future holds none of their state while it waits.
                Wake::Changed => {
                    Box::pin(self.sync(true)).await?;
                    self.flush_now().await?;
                }
                Wake::Notified => Box::pin(self.deliver_notifications()).await?,
            }
        }
    }
}
