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
    let addresses = ADDRESS_FIELDS.iter().any(|a| a.eq_ignore_ascii_case(field));
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
    let text =
        |b: &Option<Vec<u8>>| lower(&String::from_utf8_lossy(b.as_deref().unwrap_or_default()));
    super::address::parse_address_list(value).iter().any(|a| {
        let spec = match &a.host {
            Some(_) => format!("{}@{}", text(&a.mailbox), text(&a.host)),
            None => text(&a.mailbox),
        };
        spec.contains(needle) || text(&a.name).contains(needle)
    })
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

fn any_text_part(raw: &[u8], p: &PartInfo, needle: &str) -> bool {
    match &p.kind {
        PartKind::Multipart(children) => children.iter().any(|c| any_text_part(raw, c, needle)),
        PartKind::Message(inner) => any_text_part(raw, &inner.root, needle),
        PartKind::Single => {
            p.is_type("text") && part_text(raw, p).is_some_and(|t| lower(&t).contains(needle))
        }
    }
}

/// Does the decoded text of any text/* part contain `needle`?
pub fn body_contains(raw: &[u8], info: &MessageInfo, needle: &str) -> bool {
    let needle = lower(needle);
    needle.is_empty() || any_text_part(raw, &info.root, &needle)
}

/// SEARCH TEXT: any header (name or decoded value) or the body.
pub fn text_contains(raw: &[u8], info: &MessageInfo, needle: &str) -> bool {
    let n = lower(needle);
    if n.is_empty() {
        return true;
    }
    let in_headers = top_fields(raw).iter().any(|f| {
        let line = format!("{}: {}", String::from_utf8_lossy(f.name), decoded_value(f));
        lower(&line).contains(&n)
    });
    in_headers || body_contains(raw, info, needle)
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
