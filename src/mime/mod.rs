//! MIME layer: raw message bytes in, structures out. No SQL, no sockets, no IMAP wire types.
//!
//! - [`parse`] builds a [`MessageInfo`] (ENVELOPE fields plus a part tree with byte offsets into
//!   the raw message) once, at APPEND/import time. It never fails and never panics.
//! - [`MessageInfo::encode`] / [`MessageInfo::decode`] are the compact cache blob stored beside
//!   the message, so FETCH ENVELOPE/BODYSTRUCTURE never re-parses.
//! - [`MessageInfo::section`] answers FETCH BODY[section] as a slice of the raw bytes.
//! - [`MessageInfo::binary`] answers FETCH BINARY[section] with the transfer encoding undone
//!   (`transfer`).
//! - [`search`] holds the SEARCH helpers (decoded headers, decoded text parts).
//! - [`SortFields`] (`sortkey`): the SORT/THREAD keys of RFC 5256 (base subject, first
//!   address, sent date, Message-IDs) and the `i;unicode-casemap` collation (RFC 5051).
//!
//! Values are kept as sent (bytes, not decoded): ENVELOPE must carry encoded words untouched.
//! RFC 2231 parameters: continuations (`name*0`, `name*1*`, ...) are joined into one parameter;
//! if any segment was extended (`*`), the key becomes `name*` and the value stays in its
//! `charset'lang'%XX` form (not decoded), as Dovecot 2.3 sends it.
//!
//! Dovecot 2.3 is the oracle (tests/oracle). Where it follows the RFC or is merely a choice we
//! match it: `charset us-ascii` added to text/* without one, the default text/plain written in
//! lower case, an empty text/plain for a multipart without parts, the 100-level nesting cap,
//! MISSING_MAILBOX / MISSING_DOMAIN placeholders, HEADER.FIELDS framing, `.1` on a leaf.
//! Where it is a quirk we follow the RFC: invalid Content-Type → text/plain (Dovecot: `"" ""`),
//! RFC 5322 unfolding of ENVELOPE values (Dovecot collapses folds to one space and keeps a
//! leading space), quoted local parts keep their quotes, a nested multipart's body ends at its
//! close delimiter (Dovecot adds the CRLF that belongs to the outer delimiter), an opaque part
//! past the cap keeps its real size (Dovecot: 0).

mod address;
mod cache;
mod headers;
mod parse;
mod preview;
mod search;
mod section;
mod sortkey;
mod transfer;

use std::borrow::Cow;

pub use address::parse_address_list;
pub use parse::{max_parse_len, parse, parse_date};
pub use preview::{preview, PREVIEW_CHARS};
pub use search::{
    body_contains, header_contains, header_values, index_fold, index_text, text_contains,
    IndexText, IndexedField, INDEX_SEPARATOR,
};
/// For the developer page's message view (src/web/): decoded header values and texts.
pub(crate) use search::{decode_transfer, decode_words, part_text};
pub use section::{filter_header, BinaryError, SectionBytes, SectionKind};
pub use sortkey::{base_subject, casemap, message_ids, Keys, SortFields};
pub use transfer::Cte;

/// Nesting cap: a multipart or message/rfc822 at this depth (the root counts as 1) is kept as
/// an opaque application/octet-stream part, exactly where Dovecot 2.3 stops.
pub const MAX_DEPTH: usize = 100;

/// Most MIME parts in one message (every part counts: the root, each multipart and each of its
/// children, a message/rfc822 part and the root of the message in it). Dovecot 2.3 stops at
/// the same number (`mail_max_mime_parts`). Past it, the rest of the multipart being read is
/// one opaque application/octet-stream part with an empty MIME header, up to that multipart's
/// close delimiter (and each enclosing multipart ends the same way): BODYSTRUCTURE, BODY[n],
/// BINARY[n] and SEARCH all read this one parse, so they agree.
pub const MAX_PARTS: usize = 10_000;

/// The cached parse of a message is at most `PARSE_SIZE_FACTOR × size + PARSE_SIZE_SLACK`
/// bytes (plus one opaque tail per nesting level, see [`max_parse_len`]): parts past that are
/// cut exactly as past [`MAX_PARTS`]. Real mail stays far below (its parse is a few per cent
/// of its size); only thousands of near-empty parts or headers of empty address groups come
/// near.
pub const PARSE_SIZE_FACTOR: usize = 4;
pub const PARSE_SIZE_SLACK: usize = 16 * 1024;

/// Content-Type / Content-Disposition parameters `(name, value)`, in order, as sent.
pub type Params = Vec<(Vec<u8>, Vec<u8>)>;

/// One RFC 3501 §7.4.2 address. A group start has `mailbox = group name, host = None`;
/// a group end has every field `None`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Address {
    pub name: Option<Vec<u8>>,
    pub adl: Option<Vec<u8>>,
    pub mailbox: Option<Vec<u8>>,
    pub host: Option<Vec<u8>>,
}

/// ENVELOPE fields, raw (unfolded, encoded words as sent). `None` / empty list = NIL.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct EnvelopeInfo {
    pub date: Option<Vec<u8>>,
    pub subject: Option<Vec<u8>>,
    pub from: Vec<Address>,
    /// Already defaulted to `from` when the header is missing or empty (§7.4.2).
    pub sender: Vec<Address>,
    /// Already defaulted to `from` when the header is missing or empty (§7.4.2).
    pub reply_to: Vec<Address>,
    pub to: Vec<Address>,
    pub cc: Vec<Address>,
    pub bcc: Vec<Address>,
    pub in_reply_to: Option<Vec<u8>>,
    pub message_id: Option<Vec<u8>>,
}

/// What a part contains beyond its own body bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartKind {
    /// A leaf (or an opaque part at [`MAX_DEPTH`], or past [`MAX_PARTS`]).
    Single,
    /// multipart/*: its children in order (may be empty when the boundary is missing or never
    /// found; the renderer then sends one empty text/plain part as Dovecot does).
    Multipart(Vec<PartInfo>),
    /// message/rfc822: the embedded message.
    Message(Box<MessageInfo>),
}

/// One MIME part. Offsets are absolute into the raw message: the part's MIME header is
/// `raw[header_start..body_start]` (including the blank line, if any) and its body
/// `raw[body_start..body_end]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartInfo {
    /// Media type as sent (e.g. `text`, `TEXT`); defaults are lowercase.
    pub media_type: Vec<u8>,
    pub subtype: Vec<u8>,
    /// Content-Type parameters (`boundary` included for multiparts), as sent.
    pub params: Params,
    pub id: Option<Vec<u8>>,
    pub description: Option<Vec<u8>>,
    /// Content-Transfer-Encoding as sent; `7bit` when missing.
    pub encoding: Vec<u8>,
    pub md5: Option<Vec<u8>>,
    pub disposition: Option<(Vec<u8>, Params)>,
    pub language: Vec<Vec<u8>>,
    pub location: Option<Vec<u8>>,
    /// Line count of the body (LF count; meaningful for text/* and message/rfc822).
    pub lines: u32,
    pub header_start: usize,
    pub body_start: usize,
    pub body_end: usize,
    pub kind: PartKind,
}

/// Everything FETCH ENVELOPE / BODYSTRUCTURE / BODY[section] needs about one message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MessageInfo {
    pub envelope: EnvelopeInfo,
    /// The message's top-level part: its header is the message header.
    pub root: PartInfo,
}

impl PartInfo {
    /// Body size in octets.
    pub fn size(&self) -> usize {
        self.body_end.saturating_sub(self.body_start)
    }

    pub fn is_type(&self, t: &str) -> bool {
        self.media_type.eq_ignore_ascii_case(t.as_bytes())
    }

    pub fn is_subtype(&self, t: &str) -> bool {
        self.subtype.eq_ignore_ascii_case(t.as_bytes())
    }

    /// Value of a Content-Type parameter (case-insensitive name).
    pub fn param(&self, name: &str) -> Option<&[u8]> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name.as_bytes()))
            .map(|(_, v)| v.as_slice())
    }
}

impl MessageInfo {
    /// The Date header as unix seconds.
    pub fn sent_date(&self) -> Option<i64> {
        parse::parse_date(self.envelope.date.as_deref()?).map(|d| d.timestamp())
    }

    /// The Date header's calendar day in the header's own timezone (SEARCH SENT*).
    pub fn sent_day(&self) -> Option<chrono::NaiveDate> {
        parse::parse_date(self.envelope.date.as_deref()?).map(|d| d.date_naive())
    }

    /// The part's content with base64 / quoted-printable undone (no charset conversion).
    /// `path` empty means the message body.
    pub fn decoded_part(&self, raw: &[u8], path: &[u32]) -> Option<Vec<u8>> {
        let part = if path.is_empty() {
            &self.root
        } else {
            section::resolve(self, path)?
        };
        let body = raw.get(part.body_start..part.body_end)?;
        Some(search::decode_transfer(body, &part.encoding))
    }
}

/// IMAP strings and literals cannot carry NUL: BODY[...] answers replace it by 0x80, as
/// Dovecot does (BINARY[...] sends the real bytes in a literal8).
pub fn without_nul(bytes: Cow<'_, [u8]>) -> Cow<'_, [u8]> {
    if !bytes.contains(&0) {
        return bytes;
    }
    Cow::Owned(
        bytes
            .iter()
            .map(|&b| if b == 0 { 0x80 } else { b })
            .collect(),
    )
}

/// Bare LF → CRLF. A message already in CRLF (or without any LF) is borrowed unchanged.
pub fn normalize_crlf(raw: &[u8]) -> Cow<'_, [u8]> {
    let mut prev = 0u8;
    let needs = raw.iter().any(|&b| {
        let bare = b == b'\n' && prev != b'\r';
        prev = b;
        bare
    });
    if !needs {
        return Cow::Borrowed(raw);
    }
    let mut out = Vec::with_capacity(raw.len() + raw.len() / 32 + 2);
    let mut prev = 0u8;
    for &b in raw {
        if b == b'\n' && prev != b'\r' {
            out.push(b'\r');
        }
        out.push(b);
        prev = b;
    }
    Cow::Owned(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crlf_normalization() {
        assert!(matches!(normalize_crlf(b"a\r\nb\r\n"), Cow::Borrowed(_)));
        assert_eq!(&*normalize_crlf(b"a\nb\r\nc\n"), b"a\r\nb\r\nc\r\n");
        assert_eq!(&*normalize_crlf(b"\n\n"), b"\r\n\r\n");
    }
}
