//! What SORT and THREAD (RFC 5256) compare: the base subject (§2.1), the first address of a
//! list, the sent date, Message-IDs and References, and the `i;unicode-casemap` collation
//! (RFC 5051) every string key is compared under.

use unicode_normalization::UnicodeNormalization;

use super::headers;
use super::search::decode_words;
use super::{parse_date, Address, EnvelopeInfo};

/// The canonical form of `s` under `i;unicode-casemap` (RFC 5051 §2): each character mapped
/// to its (simple) titlecase, then fully decomposed (NFKD). Two strings compare as their
/// canonical forms do, code point by code point — which is how Rust orders `String`s.
pub fn casemap(s: &str) -> String {
    let mut t = String::with_capacity(s.len());
    for c in s.chars() {
        titlecase(c, &mut t);
    }
    if t.is_ascii() {
        return t;
    }
    t.nfkd().collect()
}

/// UnicodeData.txt's simple titlecase mapping (field 14). The standard library knows only the
/// full uppercase mapping; the two differ for the DŽ/LJ/NJ/DZ digraphs (their titlecase is the
/// mixed-case form), for Georgian Mkhedruli (no titlecase since Unicode 11, though it has
/// uppercase Mtavruli), for the Greek letters with ypogegrammeni, and for characters whose full
/// uppercase is several characters (ß → SS) and that have no simple mapping at all.
fn titlecase(c: char, out: &mut String) {
    let cp = c as u32;
    let mapped = match cp {
        0x01C4..=0x01C6 => Some(0x01C5),
        0x01C7..=0x01C9 => Some(0x01C8),
        0x01CA..=0x01CC => Some(0x01CB),
        0x01F1..=0x01F3 => Some(0x01F2),
        0x10D0..=0x10FA | 0x10FD..=0x10FF => Some(cp),
        0x1F80..=0x1FAF => Some(cp | 0x8),
        0x1FB3 | 0x1FBC => Some(0x1FBC),
        0x1FC3 | 0x1FCC => Some(0x1FCC),
        0x1FF3 | 0x1FFC => Some(0x1FFC),
        _ => None,
    };
    if let Some(m) = mapped.and_then(char::from_u32) {
        out.push(m);
        return;
    }
    let mut up = c.to_uppercase();
    match (up.next(), up.next()) {
        (Some(u), None) => out.push(u),
        // Several characters: a SpecialCasing mapping, which has no simple counterpart.
        _ => out.push(c),
    }
}

/// The base subject of RFC 5256 §2.1 (before collation) and whether the extraction found it
/// to be a reply or forward (a `Re:`/`Fw:`/`Fwd:` leader, a `(fwd)` trailer or a `[fwd: ...]`
/// wrapper), which THREAD=REFERENCES' subject gathering needs.
pub fn base_subject(raw: &[u8]) -> (String, bool) {
    let decoded = decode_words(b"Subject", raw);
    // Step 1: tabs and continuations to a space, runs of spaces to one.
    let mut s = String::with_capacity(decoded.len());
    for c in decoded.chars() {
        let c = if matches!(c, '\t' | '\r' | '\n') {
            ' '
        } else {
            c
        };
        if c == ' ' && s.ends_with(' ') {
            continue;
        }
        s.push(c);
    }
    let mut s: &str = &s;
    let mut reply = false;
    loop {
        // Step 2: trailers.
        loop {
            if let Some(t) = s.strip_suffix(' ') {
                s = t;
            } else if s.len() >= 5 && s.is_char_boundary(s.len() - 5) && {
                let tail = &s[s.len() - 5..];
                tail.eq_ignore_ascii_case("(fwd)")
            } {
                s = &s[..s.len() - 5];
                reply = true;
            } else {
                break;
            }
        }
        // Steps 3 to 5: leaders and blobs, until neither matches.
        loop {
            if let Some(t) = s.strip_prefix(' ') {
                s = t;
                continue;
            }
            if let Some(n) = leader(s) {
                s = &s[n..];
                reply = true;
                continue;
            }
            if let Some(n) = blob(s) {
                if !s[n..].is_empty() {
                    s = &s[n..];
                    continue;
                }
            }
            break;
        }
        // Step 6: a `[fwd: ...]` wrapper.
        let lower_start = s.get(..5).is_some_and(|h| h.eq_ignore_ascii_case("[fwd:"));
        if lower_start && s.ends_with(']') && s.len() >= 6 {
            s = &s[5..s.len() - 1];
            reply = true;
            continue;
        }
        break;
    }
    (s.to_string(), reply)
}

/// `subj-blob = "[" *BLOBCHAR "]" *WSP`: its length at the start of `s`.
fn blob(s: &str) -> Option<usize> {
    let rest = s.strip_prefix('[')?;
    let close = rest.find(['[', ']'])?;
    if !rest[close..].starts_with(']') {
        return None;
    }
    let mut n = 1 + close + 1;
    n += s[n..].len() - s[n..].trim_start_matches([' ', '\t']).len();
    Some(n)
}

/// `*subj-blob subj-refwd`, where `subj-refwd = ("re" / ("fw" ["d"])) *WSP [subj-blob] ":"`:
/// its length at the start of `s`.
fn leader(s: &str) -> Option<usize> {
    let mut n = 0;
    while let Some(b) = blob(&s[n..]) {
        n += b;
    }
    let word = s.get(n..n + 2)?;
    if word.eq_ignore_ascii_case("re") {
        n += 2;
    } else if word.eq_ignore_ascii_case("fw") {
        n += 2;
        if s[n..].starts_with(['d', 'D']) {
            n += 1;
        }
    } else {
        return None;
    }
    n += s[n..].len() - s[n..].trim_start_matches([' ', '\t']).len();
    if let Some(b) = blob(&s[n..]) {
        n += b;
    }
    s[n..].starts_with(':').then_some(n + 1)
}

/// The first address of a list as ENVELOPE has it: a group's start marker counts (its
/// `addr-mailbox` is the group name), as Dovecot reads RFC 5256; an end marker does not.
fn first(list: &[Address]) -> Option<&Address> {
    list.iter()
        .find(|a| a.mailbox.is_some() || a.host.is_some())
}

fn lossy(b: &Option<Vec<u8>>) -> String {
    b.as_deref()
        .map(|b| String::from_utf8_lossy(b).into_owned())
        .unwrap_or_default()
}

/// RFC 5256's address key: the `addr-mailbox` (local part) of the first address.
fn mailbox_key(list: &[Address]) -> String {
    first(list)
        .map(|a| casemap(&lossy(&a.mailbox)))
        .unwrap_or_default()
}

/// RFC 5957's display key: the first address's display name (RFC 2047-decoded) when it has a
/// non-empty one, else its `addr-spec` (`mailbox@host`).
fn display_key(list: &[Address]) -> String {
    let Some(a) = first(list) else {
        return String::new();
    };
    if let Some(name) = a.name.as_deref() {
        let decoded = decode_words(b"X", name);
        let trimmed = decoded.trim();
        if !trimmed.is_empty() {
            return casemap(trimmed);
        }
    }
    match &a.host {
        Some(_) => casemap(&format!("{}@{}", lossy(&a.mailbox), lossy(&a.host))),
        None => casemap(&lossy(&a.mailbox)),
    }
}

/// Every key SORT and THREAD need from one message, computed from its envelope (and its
/// header block, for References).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SortFields {
    /// The collated base subject.
    pub subject: String,
    /// Whether the subject is a reply or forward (see [`base_subject`]).
    pub reply: bool,
    /// The Date header as unix seconds, when it parses.
    pub date: Option<i64>,
    pub from: String,
    pub to: String,
    pub cc: String,
    pub display_from: String,
    pub display_to: String,
    /// The Message-ID (without its angle brackets), when it has a valid one.
    pub message_id: Option<String>,
    /// The References (or, without valid ones, the first In-Reply-To), oldest first.
    pub references: Vec<String>,
}

/// Which of [`SortFields`] to compute (the others stay empty): a command pays only for the
/// keys it compares.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Keys {
    pub subject: bool,
    pub date: bool,
    pub from: bool,
    pub to: bool,
    pub cc: bool,
    pub display_from: bool,
    pub display_to: bool,
    /// Message-ID and References / In-Reply-To (THREAD REFERENCES, REFS).
    pub ids: bool,
}

impl Keys {
    pub const ALL: Keys = Keys {
        subject: true,
        date: true,
        from: true,
        to: true,
        cc: true,
        display_from: true,
        display_to: true,
        ids: true,
    };
}

impl SortFields {
    /// Every key of one message. `header` is its top-level header block, needed only for
    /// References (THREAD); without it `references` falls back to In-Reply-To.
    pub fn new(e: &EnvelopeInfo, header: Option<&[u8]>) -> SortFields {
        SortFields::some(e, header, Keys::ALL)
    }

    /// Every key of the message `raw` whose envelope is `e`: what the store keeps for it.
    pub fn of_message(raw: &[u8], e: &EnvelopeInfo) -> SortFields {
        let end = headers::body_start(raw, 0, raw.len());
        SortFields::new(e, Some(&raw[..end]))
    }

    /// The keys `keys` names; the rest are left empty.
    pub fn some(e: &EnvelopeInfo, header: Option<&[u8]>, keys: Keys) -> SortFields {
        let (subject, reply) = match (&e.subject, keys.subject) {
            (Some(s), true) => base_subject(s),
            _ => Default::default(),
        };
        let mut references = Vec::new();
        if let (Some(h), true) = (header, keys.ids) {
            let end = headers::body_start(h, 0, h.len());
            for f in headers::fields(h, 0, end) {
                if f.name.eq_ignore_ascii_case(b"References") {
                    references = message_ids(f.value);
                    break;
                }
            }
        }
        if references.is_empty() && keys.ids {
            references = e
                .in_reply_to
                .as_deref()
                .map(message_ids)
                .unwrap_or_default()
                .into_iter()
                .take(1)
                .collect();
        }
        let key = |want: bool, f: fn(&[Address]) -> String, list: &[Address]| {
            if want {
                f(list)
            } else {
                String::new()
            }
        };
        SortFields {
            subject: casemap(&subject),
            reply,
            date: if keys.date {
                e.date
                    .as_deref()
                    .and_then(parse_date)
                    .map(|d| d.timestamp())
            } else {
                None
            },
            from: key(keys.from, mailbox_key, &e.from),
            to: key(keys.to, mailbox_key, &e.to),
            cc: key(keys.cc, mailbox_key, &e.cc),
            display_from: key(keys.display_from, display_key, &e.from),
            display_to: key(keys.display_to, display_key, &e.to),
            message_id: if keys.ids {
                e.message_id
                    .as_deref()
                    .and_then(|m| message_ids(m).into_iter().next())
            } else {
                None
            },
            references,
        }
    }
}

/// The Message-IDs in a header value: each `<...>` with a non-empty, `@`-bearing inside
/// (folding whitespace removed), in order. Comments and anything outside brackets are skipped.
pub fn message_ids(value: &[u8]) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = value;
    while let Some(open) = rest.iter().position(|&b| b == b'<') {
        let after = &rest[open + 1..];
        let Some(close) = after.iter().position(|&b| b == b'>') else {
            break;
        };
        let inner: Vec<u8> = after[..close]
            .iter()
            .copied()
            .filter(|b| !b.is_ascii_whitespace())
            .collect();
        if !inner.is_empty() && inner.contains(&b'@') && !inner.contains(&b'<') {
            out.push(String::from_utf8_lossy(&inner).into_owned());
        }
        rest = &after[close + 1..];
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn base(s: &str) -> (String, bool) {
        base_subject(s.as_bytes())
    }

    #[test]
    fn base_subject_rfc5256_rules() {
        assert_eq!(base("Hello"), ("Hello".into(), false));
        assert_eq!(base("Re: Hello"), ("Hello".into(), true));
        assert_eq!(base("RE:  re: Fwd: FW: Hello"), ("Hello".into(), true));
        assert_eq!(base("Re[2]: Hello"), ("Hello".into(), true));
        assert_eq!(base("[list] Re: Hello"), ("Hello".into(), true));
        assert_eq!(base("Re: [list] Hello"), ("Hello".into(), true));
        assert_eq!(base("[list] Hello"), ("Hello".into(), false));
        // A blob that is the whole subject stays.
        assert_eq!(base("[list]"), ("[list]".into(), false));
        assert_eq!(base("Hello (fwd) (FWD)  "), ("Hello".into(), true));
        assert_eq!(base("[Fwd: Re: Hello]"), ("Hello".into(), true));
        assert_eq!(base("Hello\t  world"), ("Hello world".into(), false));
        // Only a leader: the base subject is empty.
        assert_eq!(base("Re:"), ("".into(), true));
        assert_eq!(base("Re: "), ("".into(), true));
        // Not leaders: no colon, or letters that only start a word.
        assert_eq!(base("Reply"), ("Reply".into(), false));
        assert_eq!(base("Fwd Hello"), ("Fwd Hello".into(), false));
        assert_eq!(base("Regarding: x"), ("Regarding: x".into(), false));
        // RFC 2047 is decoded first.
        assert_eq!(
            base("=?utf-8?q?Re=3A_Gr=C3=BC=C3=9Fe?="),
            ("Grüße".into(), true)
        );
    }

    #[test]
    fn casemap_is_titlecase_then_nfkd() {
        assert_eq!(casemap("abc"), "ABC");
        assert_eq!(casemap("a_b"), "A_B");
        // é → É → E + combining acute.
        assert_eq!(casemap("é"), "E\u{301}");
        assert_eq!(casemap("É"), casemap("e\u{301}"));
        // ß has no simple titlecase: it stays (and does not become SS).
        assert_eq!(casemap("ß"), "ß");
        // The digraphs titlecase to their mixed form, then decompose.
        assert_eq!(casemap("ǆ"), "Dz\u{30c}");
        assert_eq!(casemap("Ǆ"), casemap("ǆ"));
        // Compatibility decomposition: the ligature becomes two (lowercase) letters.
        assert_eq!(casemap("ﬁ"), "fi");
        assert_eq!(casemap("Ⅳ"), "IV");
    }

    #[test]
    fn message_ids_in_headers() {
        assert_eq!(
            message_ids(b"<a@b> (comment) <c@d>\r\n <e\r\n @f>"),
            ["a@b", "c@d", "e@f"]
        );
        assert!(message_ids(b"no ids here").is_empty());
        assert!(message_ids(b"<> <nothing>").is_empty());
        assert_eq!(message_ids(b"<a@b"), Vec::<String>::new());
    }
}
