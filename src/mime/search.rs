//! SEARCH helpers: case-insensitive substring matching on RFC 2047-decoded header values and
//! on the charset-decoded text of text/* parts.

use super::headers::{self, Field};
use super::{MessageInfo, PartInfo, PartKind};

fn lower(s: &str) -> String {
    s.to_lowercase()
}

fn decoded_value(f: &Field<'_>) -> String {
    decode_words(f.name, f.value)
}

/// A header value with RFC 2047 encoded words decoded and folds undone (mailparse's header
/// value decoding does both).
pub(crate) fn decode_words(name: &[u8], value: &[u8]) -> String {
    let mut line = Vec::with_capacity(name.len() + value.len() + 3);
    line.extend_from_slice(name);
    line.push(b':');
    line.extend_from_slice(value);
    line.extend_from_slice(b"\r\n");
    match mailparse::parse_header(&line) {
        Ok((h, _)) => h.get_value(),
        Err(_) => String::from_utf8_lossy(&headers::unfold(value)).into_owned(),
    }
}

fn top_fields(raw: &[u8]) -> Vec<Field<'_>> {
    let bs = headers::body_start(raw, 0, raw.len());
    headers::fields(raw, 0, bs)
}

/// The raw values of the top-level header fields named `name`, in header order.
pub fn header_values(raw: &[u8], name: &str) -> Vec<Vec<u8>> {
    top_fields(raw)
        .iter()
        .filter(|f| f.name.eq_ignore_ascii_case(name.as_bytes()))
        .map(|f| headers::unfold(f.value))
        .collect()
}

/// Header fields whose value is an address list.
const ADDRESS_FIELDS: &[&str] = &[
    "From",
    "Sender",
    "Reply-To",
    "To",
    "Cc",
    "Bcc",
    "Resent-From",
    "Resent-Sender",
    "Resent-To",
    "Resent-Cc",
    "Resent-Bcc",
];

/// Does a top-level header `field` contain `needle`? An empty needle tests for presence. An
/// address field also matches on its parsed addresses — display name and `mailbox@host`,
/// comments and folding whitespace gone — so `FROM user@domain.org` finds
/// `<user (comment)@ (comment) domain.org>`, as Dovecot finds it.
pub fn header_contains(raw: &[u8], field: &str, needle: &str) -> bool {
    let needle = lower(needle);
    let addresses = is_address_field(field.as_bytes());
    top_fields(raw)
        .iter()
        .filter(|f| f.name.eq_ignore_ascii_case(field.as_bytes()))
        .any(|f| {
            needle.is_empty()
                || lower(&decoded_value(f)).contains(&needle)
                || (addresses && address_contains(f.value, &needle))
        })
}

/// Whether one of the addresses of an address-list value contains `needle` (lower case).
fn address_contains(value: &[u8], needle: &str) -> bool {
    // Parsing only deletes characters of the value (comments, quotes, folding whitespace; the
    // `@` it puts between mailbox and host is the value's own), unless it decodes an encoded
    // word. So without one, a needle whose characters (spaces aside) do not appear in the
    // value in order cannot match: most messages of a search are ruled out without parsing.
    if !value.windows(2).any(|w| w == b"=?")
        && !in_order(needle, &lower(&String::from_utf8_lossy(value)))
    {
        return false;
    }
    address_texts(value).iter().any(|t| t.contains(needle))
}

fn is_address_field(name: &[u8]) -> bool {
    ADDRESS_FIELDS
        .iter()
        .any(|a| a.as_bytes().eq_ignore_ascii_case(name))
}

/// What an address-list value matches on besides its text, lower case: each address's
/// `mailbox@host` (or group name) and its display name.
fn address_texts(value: &[u8]) -> Vec<String> {
    let text =
        |b: &Option<Vec<u8>>| lower(&String::from_utf8_lossy(b.as_deref().unwrap_or_default()));
    let mut out = Vec::new();
    for a in super::address::parse_address_list(value) {
        out.push(match &a.host {
            Some(_) => format!("{}@{}", text(&a.mailbox), text(&a.host)),
            None => text(&a.mailbox),
        });
        out.push(text(&a.name));
    }
    out
}

/// Whether the characters of `needle`, whitespace left out, appear in `hay` in the same order.
fn in_order(needle: &str, hay: &str) -> bool {
    let mut hay = hay.chars();
    needle
        .chars()
        .filter(|c| !c.is_whitespace())
        .all(|c| hay.any(|h| h == c))
}

/// Undo base64 / quoted-printable (others, and decoding failures, give the bytes unchanged).
pub(crate) fn decode_transfer(body: &[u8], encoding: &[u8]) -> Vec<u8> {
    let enc = String::from_utf8_lossy(encoding).to_ascii_lowercase();
    let ct = mailparse::parse_content_type("application/octet-stream");
    match mailparse::body::Body::new(body, &ct, &Some(enc)) {
        mailparse::body::Body::Base64(b) | mailparse::body::Body::QuotedPrintable(b) => {
            b.get_decoded().unwrap_or_else(|_| body.to_vec())
        }
        _ => body.to_vec(),
    }
}

pub(crate) fn part_text(raw: &[u8], p: &PartInfo) -> Option<String> {
    let body = raw.get(p.body_start..p.body_end)?;
    let mut ct = mailparse::parse_content_type("text/plain");
    ct.charset = p
        .param("charset")
        .map(|c| String::from_utf8_lossy(c).to_ascii_lowercase())
        .unwrap_or_else(|| "us-ascii".to_string());
    let enc = Some(String::from_utf8_lossy(&p.encoding).to_ascii_lowercase());
    let decoded = match mailparse::body::Body::new(body, &ct, &enc) {
        mailparse::body::Body::Base64(b) | mailparse::body::Body::QuotedPrintable(b) => {
            b.get_decoded_as_string()
        }
        mailparse::body::Body::SevenBit(b) | mailparse::body::Body::EightBit(b) => {
            b.get_as_string()
        }
        mailparse::body::Body::Binary(b) => b.get_as_string(),
    };
    Some(decoded.unwrap_or_else(|_| String::from_utf8_lossy(body).into_owned()))
}

/// Whether `found` holds for the lower-cased decoded text of a text/* part, trying the parts
/// in order until it does (BODY's parts; the search index stores the same texts).
fn any_text_part(raw: &[u8], p: &PartInfo, found: &mut impl FnMut(String) -> bool) -> bool {
    match &p.kind {
        PartKind::Multipart(children) => children.iter().any(|c| any_text_part(raw, c, found)),
        PartKind::Message(inner) => any_text_part(raw, &inner.root, found),
        PartKind::Single => {
            p.is_type("text") && part_text(raw, p).is_some_and(|t| found(lower(&t)))
        }
    }
}

/// Does the decoded text of any text/* part contain `needle`?
pub fn body_contains(raw: &[u8], info: &MessageInfo, needle: &str) -> bool {
    let needle = lower(needle);
    needle.is_empty() || any_text_part(raw, &info.root, &mut |t| t.contains(&needle))
}

/// A top-level field as SEARCH TEXT sees it: `Name: decoded value`, lower case.
fn text_line(f: &Field<'_>) -> String {
    lower(&format!(
        "{}: {}",
        String::from_utf8_lossy(f.name),
        decoded_value(f)
    ))
}

/// SEARCH TEXT: any header (name or decoded value) or the body.
pub fn text_contains(raw: &[u8], info: &MessageInfo, needle: &str) -> bool {
    let n = lower(needle);
    if n.is_empty() {
        return true;
    }
    let in_headers = top_fields(raw).iter().any(|f| text_line(f).contains(&n));
    in_headers || body_contains(raw, info, needle)
}

/// Where a header field's text goes in the search index: the fields that SEARCH has a key for
/// get their own place, every other field shares one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IndexedField {
    Subject,
    From,
    To,
    Cc,
    Bcc,
    Other,
}

impl IndexedField {
    /// The place of the field called `name` (compared as SEARCH compares field names).
    pub fn of(name: &[u8]) -> IndexedField {
        [
            ("Subject", IndexedField::Subject),
            ("From", IndexedField::From),
            ("To", IndexedField::To),
            ("Cc", IndexedField::Cc),
            ("Bcc", IndexedField::Bcc),
        ]
        .into_iter()
        .find(|(n, _)| n.as_bytes().eq_ignore_ascii_case(name))
        .map_or(IndexedField::Other, |(_, f)| f)
    }

    pub const ALL: [IndexedField; 6] = [
        IndexedField::Subject,
        IndexedField::From,
        IndexedField::To,
        IndexedField::Cc,
        IndexedField::Bcc,
        IndexedField::Other,
    ];
}

/// Joins the texts of one place in the index: a needle without it cannot match across two.
pub const INDEX_SEPARATOR: char = '\0';

/// What the search index keeps of a message: every text the SEARCH matchers above compare a
/// needle with, folded by [`index_fold`], joined by [`INDEX_SEPARATOR`]. So whenever a
/// matcher finds a needle, the folded needle is a substring of the indexed text (the index
/// never misses a match; it may find more, which the matchers then rule out).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct IndexText {
    /// Per [`IndexedField`] (indexed by `field as usize`, [`IndexedField::ALL`] order): the `Name: value` lines of its
    /// fields (SEARCH TEXT's form, which contains the decoded value header keys compare), and
    /// for address fields the parsed addresses and display names.
    pub headers: [String; 6],
    /// The decoded text of each text/* part (SEARCH BODY).
    pub body: String,
}

/// The lower case of the SEARCH matchers, with the one letter whose lower case depends on its
/// neighbours (Σ → σ or final ς) made one: then folding a text piece by piece gives the pieces
/// of the folded whole, and a needle found in a text stays found after both are folded.
pub fn index_fold(s: &str) -> String {
    lower(s).replace('ς', "σ")
}

fn push_piece(to: &mut String, piece: &str) {
    if !to.is_empty() {
        to.push(INDEX_SEPARATOR);
    }
    // Already lower case: only the final sigma is left to fold.
    to.push_str(&piece.replace('ς', "σ"));
}

/// The [`IndexText`] of a message.
pub fn index_text(raw: &[u8], info: &MessageInfo) -> IndexText {
    let mut out = IndexText::default();
    for f in top_fields(raw) {
        let place = IndexedField::of(f.name);
        let slot = &mut out.headers[place as usize];
        push_piece(slot, &text_line(&f));
        if is_address_field(f.name) {
            for t in address_texts(f.value) {
                if !t.is_empty() {
                    push_piece(slot, &t);
                }
            }
        }
    }
    any_text_part(raw, &info.root, &mut |t| {
        push_piece(&mut out.body, &t);
        false
    });
    out
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    #[test]
    fn encoded_subject() {
        let raw = b"Subject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= aus =?ISO-8859-1?B?S/Zsbg==?=\r\n\r\nx";
        assert!(header_contains(raw, "subject", "GRÜßE"));
        assert!(header_contains(raw, "SUBJECT", "köln"));
        assert!(header_contains(raw, "Subject", ""));
        assert!(!header_contains(raw, "From", ""));
        assert!(!header_contains(raw, "Subject", "xyz"));
    }

    #[test]
    fn in_order_rules_out_only_what_cannot_match() {
        assert!(in_order(
            "user-from@domain.org",
            "<user-from (comment)@ (comment) domain.org>"
        ));
        assert!(in_order("some one", "some (x) one <one@x.org>"));
        assert!(!in_order("s07.bench", "sender <s12@bench.example>"));
        assert!(!in_order("ba", "ab"));
        assert!(in_order("", "ab"));
    }

    #[test]
    fn address_fields_match_parsed_addresses() {
        let raw = b"From: <user-from (comment)@ (comment) domain.org>\r\nTo: Some (x) One <one@x.org>\r\nTo: two@y.org\r\nCc: g: (c) ;\r\nSubject: user-from@domain.org\r\n\r\nx";
        assert!(header_contains(raw, "From", "user-from@domain.org"));
        assert!(header_contains(raw, "FROM", "USER-FROM@DOMAIN"));
        // The header text still counts, comments and all.
        assert!(header_contains(raw, "From", "comment"));
        assert!(header_contains(raw, "To", "some one"));
        assert!(header_contains(raw, "To", "two@y.org"));
        assert!(header_contains(raw, "Cc", "g"));
        assert!(!header_contains(raw, "To", "user-from@domain.org"));
        // Only address fields are parsed as addresses.
        assert!(!header_contains(raw, "Subject", "user-from@domain.orgx"));
    }

    #[test]
    fn base64_and_qp_bodies() {
        let raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\nSGVsbG8gV29ybGQ=\r\n--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=E9 cr=E8me=\r\n br=FBl=E9e\r\n--b\r\nContent-Type: application/octet-stream\r\n\r\nsecretword\r\n--b--\r\n";
        let info = parse(raw);
        assert!(body_contains(raw, &info, "hello world"));
        assert!(body_contains(raw, &info, "CAFÉ CRÈME"));
        assert!(body_contains(raw, &info, "crème brûlée"));
        assert!(!body_contains(raw, &info, "secretword"));
        assert!(text_contains(raw, &info, "multipart/mixed"));
        assert!(text_contains(raw, &info, "hello"));
    }

    #[test]
    fn latin1_plain() {
        let raw = b"Content-Type: text/plain; charset=ISO-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\nNa\xefve fa\xe7ade\r\n";
        let info = parse(raw);
        assert!(body_contains(raw, &info, "NAÏVE FAÇADE"));
    }
}
