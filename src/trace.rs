//! Protocol traces: what clients sent and what the server answered, per session.
//!
//! Stub on the web branch (issue 23): the trace branch owns this file and records the
//! sessions; here every call answers empty, so the web API and page can be built against the
//! same interface.

/// Protocol traces: what clients sent and what the server answered, per session.
pub struct TraceHub {
    _private: (),
}

impl TraceHub {
    /// Sessions kept in memory (the last few hundred), oldest first.
    pub fn sessions(&self) -> Vec<TraceSummary> {
        Vec::new()
    }

    /// One session's lines, or None when it is unknown or has been dropped.
    pub fn lines(&self, _id: u64) -> Option<Vec<TraceLine>> {
        None
    }
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct TraceSummary {
    pub id: u64,
    /// "imap", "smtp" or "lmtp"
    pub protocol: String,
    /// client address
    pub peer: String,
    /// once logged in / authenticated
    pub user: Option<String>,
    pub started_unix_ms: u64,
    /// session still running
    pub open: bool,
    pub lines: usize,
}

#[derive(Clone, Debug, serde::Serialize)]
pub struct TraceLine {
    pub at_unix_ms: u64,
    pub from_client: bool,
    /// one protocol line, passwords masked, long literals shortened
    pub text: String,
}
