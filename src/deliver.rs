//! `liteimap deliver`: one message from standard input into a mailbox, for an MTA's
//! `mailbox_command`. Failures map to sysexits.h codes so the MTA retries (75) or bounces
//! (everything else) as it should.

use std::fmt;
use std::io::Read;

use crate::store::StoreError;

/// sysexits.h
pub const EX_OK: u8 = 0;
pub const EX_USAGE: u8 = 64;
pub const EX_DATAERR: u8 = 65;
pub const EX_NOUSER: u8 = 67;
pub const EX_CANTCREAT: u8 = 73;
pub const EX_IOERR: u8 = 74;
pub const EX_TEMPFAIL: u8 = 75;

#[derive(Debug)]
pub enum DeliverError {
    Usage(String),
    /// Empty or larger than the limit.
    Data(String),
    NoUser(String),
    /// The named mailbox does not exist (or cannot hold messages). We do not create it, nor fall
    /// back to INBOX: a wrong `--mailbox` in the MTA's configuration should show, not hide.
    NoMailbox(String),
    Io(std::io::Error),
    /// The user's quota (RFC 9208) has no room: temporary (the user can delete mail), or
    /// permanent when the message alone is larger than the limit.
    OverQuota(crate::store::OverQuota),
    /// The database is busy, locked, unreadable or failed: the MTA should try again later.
    Temporary(StoreError),
}

impl DeliverError {
    pub fn exit_code(&self) -> u8 {
        match self {
            DeliverError::Usage(_) => EX_USAGE,
            DeliverError::Data(_) => EX_DATAERR,
            DeliverError::NoUser(_) => EX_NOUSER,
            DeliverError::NoMailbox(_) => EX_CANTCREAT,
            DeliverError::Io(_) => EX_IOERR,
            // As for a message over the size limit: it can never be delivered.
            DeliverError::OverQuota(q) if q.never_fits => EX_DATAERR,
            DeliverError::OverQuota(_) | DeliverError::Temporary(_) => EX_TEMPFAIL,
        }
    }
}

impl fmt::Display for DeliverError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DeliverError::Usage(s) | DeliverError::Data(s) => write!(f, "{s}"),
            DeliverError::NoUser(u) => write!(f, "no such user: {u}"),
            DeliverError::NoMailbox(m) => write!(f, "no such mailbox: {m}"),
            DeliverError::Io(e) => write!(f, "cannot read the message from standard input: {e}"),
            DeliverError::OverQuota(q) if q.never_fits => write!(f, "message {q}"),
            DeliverError::OverQuota(q) => write!(f, "mailbox full: {q}, try again later"),
            DeliverError::Temporary(e) => write!(f, "temporary failure, try again later: {e}"),
        }
    }
}

impl From<StoreError> for DeliverError {
    fn from(e: StoreError) -> Self {
        DeliverError::Temporary(e)
    }
}

/// Read one message from `input` (at most `max_size` bytes) and store it in `mailbox` of `user`.
/// Returns the new message's UID.
pub fn deliver(
    db: &crate::database::Database,
    user: &str,
    mailbox: &str,
    max_size: u64,
    input: impl Read,
) -> Result<u32, DeliverError> {
    if user.is_empty() {
        return Err(DeliverError::Usage("--user must not be empty".into()));
    }
    if mailbox.is_empty() {
        return Err(DeliverError::Usage("--mailbox must not be empty".into()));
    }
    // The store's one rule for names; a bad --mailbox is the MTA configuration's mistake.
    let name = crate::store::mailbox_name(mailbox.as_bytes())
        .map_err(|e| DeliverError::Usage(format!("invalid --mailbox {mailbox:?}: {e}")))?;
    let mut raw = Vec::new();
    input
        .take(max_size.saturating_add(1))
        .read_to_end(&mut raw)
        .map_err(DeliverError::Io)?;
    if raw.len() as u64 > max_size {
        return Err(DeliverError::Data(format!(
            "message larger than the limit of {max_size} bytes"
        )));
    }
    let raw = strip_envelope_line(&raw);
    if raw.iter().all(u8::is_ascii_whitespace) {
        return Err(DeliverError::Data("empty message".into()));
    }
    // The rule `import` applies: a random binary blob is refused, not stored.
    crate::message::looks_like_message(raw).map_err(|why| DeliverError::Data(why.into()))?;
    let raw = crate::mime::normalize_crlf(raw).into_owned();
    let store = db.open()?;
    let row = store
        .find_user(user)?
        .ok_or_else(|| DeliverError::NoUser(user.to_string()))?;
    let mb = match store.mailbox(row.id, &name)? {
        Some(mb) if !mb.noselect => mb,
        _ => return Err(DeliverError::NoMailbox(mailbox.to_string())),
    };
    let (size, message_id) = (raw.len(), crate::message::log_id(&raw));
    let msg = crate::message::prepare(raw, Vec::new(), None);
    let appended = store.append(mb.id, &[msg]).map_err(|e| match e {
        StoreError::NotFound(_) => DeliverError::NoMailbox(mailbox.to_string()),
        StoreError::OverQuota(q) => DeliverError::OverQuota(q),
        e => DeliverError::Temporary(e),
    })?;
    let uid = appended.first().map(|a| a.uid).unwrap_or(0);
    log::info!(
        "deliver: message {message_id}, {size} bytes, to {user}, folder {name}: delivered, UID {uid}"
    );
    Ok(uid)
}

/// Drop an mbox envelope line (`From sender date`) that some MTAs put before the headers.
fn strip_envelope_line(raw: &[u8]) -> &[u8] {
    if raw.starts_with(b"From ") {
        match raw.iter().position(|&b| b == b'\n') {
            Some(i) => &raw[i + 1..],
            None => &[],
        }
    } else {
        raw
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn envelope_line() {
        assert_eq!(
            strip_envelope_line(b"From a@b Mon Jan 1\nSubject: x\n"),
            b"Subject: x\n"
        );
        assert_eq!(strip_envelope_line(b"From: a@b\n"), b"From: a@b\n");
    }
}
