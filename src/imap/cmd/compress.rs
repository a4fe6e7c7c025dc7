//! COMPRESS=DEFLATE (RFC 4978). The tagged OK goes out uncompressed; from the byte after it
//! both directions are raw deflate (`imap::deflate`), over TLS or plain TCP alike. A second
//! COMPRESS is `NO [COMPRESSIONACTIVE]`. Like STARTTLS it changes the stream under the
//! connection, so it runs outside the normal dispatch (the session's `compress`).

use imap_codec::imap_types::core::Tag;
use imap_codec::imap_types::extensions::compress::CompressionAlgorithm;
use imap_codec::imap_types::response::{Capability, Code};

use super::super::session::{Done, Session};
use super::super::CmdError;

/// COMPRESS=DEFLATE, advertised after login.
pub fn capability() -> Capability<'static> {
    Capability::Compress {
        algorithm: CompressionAlgorithm::Deflate,
    }
}

impl Session {
    /// Returns false when the connection must end.
    pub(crate) async fn compress(&mut self, tag: Tag<'static>) -> bool {
        if self.conn.is_compressed() {
            return self
                .tagged(
                    tag,
                    Err(CmdError::no_code(
                        Code::CompressionActive,
                        "DEFLATE is already active",
                    )),
                )
                .await;
        }
        if !self.tagged(tag, Ok(Done::ok("DEFLATE active"))).await
            || self.conn.flush().await.is_err()
        {
            return false;
        }
        self.conn.start_deflate();
        log::debug!("session {} ({}): DEFLATE active", self.id, self.peer);
        true
    }
}
