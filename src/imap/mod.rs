//! The IMAP side: framing (`conn`) and the memory its literals may take together (`budget`),
//! the per-connection loop (`session`), the state machine
//! (`state`), a session's numbering of its mailbox (`view`), turning store changes into
//! untagged responses (`sync`), ENVELOPE/BODYSTRUCTURE rendering (`render`), the THREAD
//! algorithms (`thread`, pure), one module per
//! command family (`cmd`), and the extension forms imap-codec does not model (`ext`).

pub mod budget;
pub mod cmd;
pub mod conn;
pub mod deflate;
pub mod ext;
pub mod render;
pub mod session;
pub mod sortcache;
pub mod state;
pub mod sync;
pub mod thread;
pub mod view;

use std::borrow::Cow;

use imap_codec::imap_types::core::{AString, IString, Text};
use imap_codec::imap_types::extensions::utf8::QuotedUtf8;
use imap_codec::imap_types::mailbox::{Mailbox, MailboxOther};
use imap_codec::imap_types::response::{Code, CodeOther};

use crate::store::{NameError, StoreError};

/// The hierarchy delimiter of every mailbox name.
pub const DELIMITER: char = '/';

pub use crate::store::MAX_MAILBOX_NAME;

/// How a command ended, when it did not end in OK.
#[derive(Debug)]
pub enum CmdError {
    /// Tagged BAD: the command is not valid here or its arguments are wrong.
    Bad(String),
    /// Tagged BAD with a response code (`BAD [UIDREQUIRED]`, RFC 9586).
    BadCode(Code<'static>, String),
    /// Tagged NO: the command was valid but could not be done.
    No(Option<Code<'static>>, String),
    /// The connection must end (after the untagged BYE).
    Bye(String),
}

pub type CmdResult<T = ()> = Result<T, CmdError>;

impl CmdError {
    pub fn no(text: impl Into<String>) -> Self {
        CmdError::No(None, text.into())
    }

    pub fn no_code(code: Code<'static>, text: impl Into<String>) -> Self {
        CmdError::No(Some(code), text.into())
    }

    pub fn bad(text: impl Into<String>) -> Self {
        CmdError::Bad(text.into())
    }
}

/// A response code this codec has no variant for (RFC 5530 and friends). Only ever called
/// with the constants below, never with client input.
fn other_code(code: &'static str) -> Code<'static> {
    Code::Other(CodeOther::unvalidated(code.as_bytes()))
}

pub fn code_nonexistent() -> Code<'static> {
    other_code("NONEXISTENT")
}
/// RFC 5530: a command named messages that another session expunged.
pub fn code_expungeissued() -> Code<'static> {
    other_code("EXPUNGEISSUED")
}
pub fn code_alreadyexists() -> Code<'static> {
    other_code("ALREADYEXISTS")
}
/// RFC 9051 §7.1: DELETE of a \Noselect name that still has children.
pub fn code_haschildren() -> Code<'static> {
    other_code("HASCHILDREN")
}
pub fn code_cannot() -> Code<'static> {
    other_code("CANNOT")
}
pub fn code_serverbug() -> Code<'static> {
    other_code("SERVERBUG")
}
pub fn code_authenticationfailed() -> Code<'static> {
    other_code("AUTHENTICATIONFAILED")
}
pub fn code_privacyrequired() -> Code<'static> {
    other_code("PRIVACYREQUIRED")
}
pub fn code_limit() -> Code<'static> {
    other_code("LIMIT")
}
pub fn code_clientbug() -> Code<'static> {
    other_code("CLIENTBUG")
}
/// RFC 5530: the user may not do this (SETQUOTA is the administrator's).
pub fn code_noperm() -> Code<'static> {
    other_code("NOPERM")
}
/// RFC 5530: a subsystem (the mail database) is down; the client may retry later.
pub fn code_unavailable() -> Code<'static> {
    other_code("UNAVAILABLE")
}
pub fn code_useattr() -> Code<'static> {
    other_code("USEATTR")
}

impl From<StoreError> for CmdError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::NotFound(t) => CmdError::No(Some(code_nonexistent()), t),
            StoreError::AlreadyExists(t) => CmdError::No(Some(code_alreadyexists()), t),
            StoreError::NotAllowed(t) => CmdError::No(Some(code_cannot()), t),
            // RFC 5530 has no code for it; LIMIT is the closest. Logged once by the store.
            StoreError::Full => CmdError::No(
                Some(code_limit()),
                "The server is out of disk space; nothing was changed".into(),
            ),
            StoreError::Expunged(t) => CmdError::No(Some(code_expungeissued()), t),
            StoreError::MetadataTooMany(n) => CmdError::No(
                Some(Code::Metadata(
                    imap_codec::imap_types::extensions::metadata::MetadataCode::TooMany,
                )),
                format!("At most {n} metadata entries per user; nothing was set"),
            ),
            StoreError::OverQuota(q) => {
                CmdError::No(Some(Code::OverQuota), format!("{q}; nothing was stored"))
            }
            StoreError::Unavailable(why) => {
                log::warn!("store unavailable: {why}");
                CmdError::No(
                    Some(code_unavailable()),
                    "The mail database is unavailable; nothing was changed, try again".into(),
                )
            }
            StoreError::InDoubt(why) => {
                log::warn!("store commit in doubt: {why}");
                CmdError::No(
                    Some(code_unavailable()),
                    "The mail database went away while saving; the change may or may not have been made, check before retrying".into(),
                )
            }
            StoreError::Unsupported(what) => CmdError::No(
                Some(code_cannot()),
                format!("{what} is not supported by this server's mail store"),
            ),
            other => {
                log::error!("store error: {other}");
                CmdError::No(
                    Some(code_serverbug()),
                    "Internal error; the operation was not done (see the server log)".into(),
                )
            }
        }
    }
}

/// Human-readable text for a status response: printable ASCII only (IMAP text is 7-bit, without
/// CR or LF), never empty.
pub fn text(s: impl Into<String>) -> Text<'static> {
    let s: String = s.into();
    let clean: String = s
        .chars()
        .map(|c| {
            if c == ' ' || c.is_ascii_graphic() {
                c
            } else {
                '?'
            }
        })
        .collect();
    let clean = if clean.trim().is_empty() {
        "Done".to_string()
    } else {
        clean
    };
    // Printable ASCII that is not blank is always valid text.
    Text::try_from(clean).unwrap_or_else(|_| Text::unvalidated("Done"))
}

/// The store's name for a mailbox the client named, validated: INBOX in any case is "INBOX";
/// names are 7-bit (modified UTF-7 is kept as sent) without control characters or wildcards,
/// with no empty hierarchy levels. A session that speaks UTF-8 (`utf8`: UTF8=ACCEPT or
/// IMAP4rev2 enabled) writes names in UTF-8, which are stored in modified UTF-7.
pub fn mailbox_name(mailbox: &Mailbox, utf8: bool) -> CmdResult<String> {
    let bytes: &[u8] = match mailbox {
        Mailbox::Inbox => return Ok(crate::store::INBOX.to_string()),
        Mailbox::Other(other) => other.as_ref(),
    };
    validate_name(bytes, utf8)
}

/// Validation shared by mailbox names and LIST references: the store's one rule for names
/// (`store::mailbox_name`, or `store::mailbox_name_utf8` for a UTF-8 session), answered as
/// `NO [LIMIT]` (too long) or `NO [CANNOT]` with the reason.
pub fn validate_name(bytes: &[u8], utf8: bool) -> CmdResult<String> {
    let stored = if utf8 {
        crate::store::mailbox_name_utf8(bytes)
    } else {
        crate::store::mailbox_name(bytes)
    };
    stored.map_err(|e| match e {
        NameError::TooLong => CmdError::no_code(code_limit(), e.to_string()),
        NameError::Invalid(why) => CmdError::no_code(code_cannot(), why),
    })
}

/// A stored name as a session sees it: UTF-8 for a session that speaks it, else as stored
/// (modified UTF-7). LIST patterns are matched against this form.
pub fn shown_name(stored: &str, utf8: bool) -> Cow<'_, str> {
    if utf8 && stored.contains('&') {
        Cow::Owned(crate::store::mailbox_name_to_utf8(stored))
    } else {
        Cow::Borrowed(stored)
    }
}

/// The wire form of a stored mailbox name: for a UTF-8 session a quoted UTF-8 string (RFC
/// 6855 §3), otherwise the modified UTF-7 it is stored in.
pub fn wire_mailbox(name: &str, utf8: bool) -> Mailbox<'static> {
    if name == crate::store::INBOX {
        return Mailbox::Inbox;
    }
    let shown = shown_name(name, utf8).into_owned();
    let astring = if shown.is_ascii() {
        AString::try_from(shown)
    } else {
        QuotedUtf8::try_from(shown).map(|q| AString::String(IString::QuotedUtf8(q)))
    };
    match astring {
        Ok(a) => match MailboxOther::try_from(a) {
            Ok(o) => Mailbox::Other(o),
            Err(_) => Mailbox::Inbox,
        },
        // Stored names passed `validate_name`, so they always convert.
        Err(_) => Mailbox::Inbox,
    }
}

/// Lossy text of client bytes for logs and messages.
pub fn lossy(bytes: &[u8]) -> Cow<'_, str> {
    String::from_utf8_lossy(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        fn m(s: &str) -> Mailbox<'_> {
            Mailbox::try_from(s).unwrap()
        }
        assert_eq!(mailbox_name(&m("inbox"), false).unwrap(), "INBOX");
        assert_eq!(mailbox_name(&m("a/b"), false).unwrap(), "a/b");
        assert_eq!(mailbox_name(&m("&AOQ-"), false).unwrap(), "&AOQ-");
        assert_eq!(mailbox_name(&m("inBox/x"), false).unwrap(), "INBOX/x");
        assert_eq!(mailbox_name(&m("inboxes/x"), false).unwrap(), "inboxes/x");
        for bad in ["a//b", "/a", "a/", "x*", "%", "../x", "a/../b"] {
            assert!(mailbox_name(&m(bad), false).is_err(), "{bad}");
        }
        assert!(mailbox_name(&m(&"x".repeat(2000)), false).is_err());
        assert!(validate_name(b"a\x00b", false).is_err());
        assert!(validate_name("ä".as_bytes(), false).is_err());
        assert_eq!(text("a\r\nb ä").inner(), "a??b ?");
        assert_eq!(text("").inner(), "Done");
    }
}
