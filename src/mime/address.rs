//! RFC 5322 address-list parser for ENVELOPE: quoted strings, comments, angle addresses,
//! source routes and groups. Encoded words stay as sent (mailparse's addrparse decodes them,
//! which ENVELOPE must not).

use super::headers::Lexer;
use super::Address;

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Atom(Vec<u8>),
    Quoted(Vec<u8>),
    Special(u8),
    Comment(Vec<u8>),
    /// A quoted string without its closing quote (it ran to the end of the value).
    Broken,
}

fn is_atext(b: u8) -> bool {
    b > b' ' && b != 0x7f && !b"()<>[]:;@\\,.\"".contains(&b)
}

fn tokenize(value: &[u8]) -> Vec<Tok> {
    let mut lx = Lexer::new(value);
    let mut out = Vec::new();
    while let Some(b) = lx.peek() {
        match b {
            b' ' | b'\t' | b'\r' | b'\n' => lx.i += 1,
            b'(' => {
                if let Some(c) = lx.skip_cfws() {
                    out.push(Tok::Comment(c));
                }
            }
            b'"' => match lx.quoted_checked() {
                (q, true) => out.push(Tok::Quoted(q)),
                (_, false) => out.push(Tok::Broken),
            },
            b'[' => {
                // Domain literal: keep it verbatim, brackets included.
                let s = lx.i;
                lx.i += 1;
                lx.take_while(|c| c != b']');
                if lx.peek() == Some(b']') {
                    lx.i += 1;
                }
                out.push(Tok::Atom(value[s..lx.i].to_vec()));
            }
            b'<' | b'>' | b':' | b';' | b'@' | b',' | b'.' | b'\\' | b']' | b')' => {
                lx.i += 1;
                out.push(Tok::Special(b));
            }
            _ => {
                let a = lx.take_while(is_atext);
                if a.is_empty() {
                    lx.i += 1; // unreachable in practice; guarantees progress
                } else {
                    out.push(Tok::Atom(a.to_vec()));
                }
            }
        }
    }
    out
}

/// Display name from phrase tokens: words joined by one space, '.' glued to the word before.
/// An empty phrase (`"" <a@b>`) is no name, as Dovecot sends it.
fn phrase(toks: &[Tok]) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    for t in toks {
        match t {
            Tok::Atom(w) | Tok::Quoted(w) => {
                if !out.is_empty() && out.last() != Some(&b' ') {
                    out.push(b' ');
                }
                out.extend_from_slice(w);
            }
            Tok::Special(b'.') => out.push(b'.'),
            Tok::Special(c) => out.push(*c),
            Tok::Comment(_) | Tok::Broken => {}
        }
    }
    (!out.is_empty()).then_some(out)
}

/// Concatenate tokens without spaces (local part, domain, route); quoted strings keep quotes.
fn glue(toks: &[Tok]) -> Vec<u8> {
    let mut out = Vec::new();
    for t in toks {
        match t {
            Tok::Atom(w) => out.extend_from_slice(w),
            Tok::Quoted(w) => {
                out.push(b'"');
                for &b in w {
                    if b == b'"' || b == b'\\' {
                        out.push(b'\\');
                    }
                    out.push(b);
                }
                out.push(b'"');
            }
            Tok::Special(c) => out.push(*c),
            Tok::Comment(_) | Tok::Broken => {}
        }
    }
    out
}

fn last_comment(toks: &[Tok]) -> Option<Vec<u8>> {
    toks.iter().rev().find_map(|t| match t {
        Tok::Comment(c) if !c.is_empty() => Some(c.clone()),
        _ => None,
    })
}

/// Host used when an address has no domain: NIL would read as a group marker (§7.4.2).
pub const MISSING_DOMAIN: &[u8] = b"MISSING_DOMAIN";
/// Mailbox used when an address has no local part.
pub const MISSING_MAILBOX: &[u8] = b"MISSING_MAILBOX";

/// An addr-spec from tokens. `angle`: it was written inside `<>`, so even an empty one is an
/// address (Dovecot sends `<>` as MISSING_MAILBOX@MISSING_DOMAIN). Unparsable input gives the
/// same placeholders, as Dovecot does.
fn addr_spec(
    toks: &[Tok],
    name: Option<Vec<u8>>,
    adl: Option<Vec<u8>>,
    angle: bool,
) -> Option<Address> {
    let words: Vec<Tok> = toks
        .iter()
        .filter(|t| !matches!(t, Tok::Comment(_)))
        .cloned()
        .collect();
    if words.is_empty() && name.is_none() && !angle {
        // Only comments (or nothing): an address Dovecot still counts, without a name.
        if toks.is_empty() {
            return None;
        }
        return addr_spec(&[], None, None, true);
    }
    if words.contains(&Tok::Broken) {
        return Some(Address {
            name: None,
            adl: None,
            mailbox: Some(MISSING_MAILBOX.to_vec()),
            host: Some(MISSING_DOMAIN.to_vec()),
        });
    }
    let at = words.iter().position(|t| *t == Tok::Special(b'@'));
    let (local, domain) = match at {
        Some(p) => (glue(&words[..p]), Some(glue(&words[p + 1..]))),
        None => (glue(&words), None),
    };
    let mailbox = if local.is_empty() {
        MISSING_MAILBOX.to_vec()
    } else {
        local
    };
    let host = match domain {
        Some(d) if !d.is_empty() => d,
        _ => MISSING_DOMAIN.to_vec(),
    };
    Some(Address {
        name,
        adl,
        mailbox: Some(mailbox),
        host: Some(host),
    })
}

/// Parse an address-list header value into ENVELOPE addresses.
pub fn parse_address_list(value: &[u8]) -> Vec<Address> {
    let toks = tokenize(value);
    let mut out = Vec::new();
    let mut i = 0;
    let mut in_group = false;
    while i < toks.len() {
        match toks[i] {
            Tok::Special(b',') => {
                i += 1;
                continue;
            }
            Tok::Special(b';') => {
                if in_group {
                    out.push(Address::default());
                    in_group = false;
                }
                i += 1;
                continue;
            }
            _ => {}
        }
        // Find what ends this address: ':' (group), '<' (angle addr), ',' / ';' / end.
        let mut j = i;
        while j < toks.len() {
            match toks[j] {
                Tok::Special(b':') if !in_group => break,
                Tok::Special(b'<' | b',' | b';') => break,
                _ => j += 1,
            }
        }
        match toks.get(j) {
            Some(Tok::Special(b':')) => {
                let name = phrase(&toks[i..j]).unwrap_or_default();
                out.push(Address {
                    name: None,
                    adl: None,
                    mailbox: Some(name),
                    host: None,
                });
                in_group = true;
                i = j + 1;
            }
            Some(Tok::Special(b'<')) => {
                let name = phrase(&toks[i..j]);
                let k = toks[j..]
                    .iter()
                    .position(|t| *t == Tok::Special(b'>'))
                    .map_or(toks.len(), |p| j + p);
                let inner = &toks[j + 1..k.max(j + 1)];
                // Source route: "@a,@b:" before the addr-spec.
                let (adl, spec) = match inner.first() {
                    Some(Tok::Special(b'@')) => {
                        match inner.iter().position(|t| *t == Tok::Special(b':')) {
                            Some(c) => (Some(glue(&inner[..c])), &inner[c + 1..]),
                            None => (None, inner),
                        }
                    }
                    _ => (None, inner),
                };
                if let Some(a) = addr_spec(spec, name, adl, true) {
                    out.push(a);
                }
                // Skip whatever trails the '>' up to the next separator.
                i = k + 1;
                while i < toks.len() && !matches!(toks[i], Tok::Special(b',' | b';')) {
                    i += 1;
                }
            }
            _ => {
                let seg = &toks[i..j];
                let has_words = seg.iter().any(|t| !matches!(t, Tok::Comment(_)));
                if in_group && !has_words {
                    // `group: (comment) ;` is an empty group: only its start and end markers.
                    // The MISSING_* placeholders are for a lone address, never in a group.
                    i = j;
                    continue;
                }
                let name = if has_words { last_comment(seg) } else { None };
                if let Some(a) = addr_spec(seg, name, None, false) {
                    out.push(a);
                }
                i = j;
            }
        }
    }
    if in_group {
        out.push(Address::default());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn a(name: Option<&str>, adl: Option<&str>, mb: Option<&str>, host: Option<&str>) -> Address {
        let v = |s: Option<&str>| s.map(|s| s.as_bytes().to_vec());
        Address {
            name: v(name),
            adl: v(adl),
            mailbox: v(mb),
            host: v(host),
        }
    }

    #[test]
    fn simple_and_angle() {
        assert_eq!(
            parse_address_list(b"joe@example.com, Jane Doe <jane@example.org>"),
            vec![
                a(None, None, Some("joe"), Some("example.com")),
                a(Some("Jane Doe"), None, Some("jane"), Some("example.org")),
            ]
        );
    }

    #[test]
    fn quoted_name_with_comma() {
        assert_eq!(
            parse_address_list(br#""Doe, John \"JD\"" <john@x.org>"#),
            vec![a(
                Some(r#"Doe, John "JD""#),
                None,
                Some("john"),
                Some("x.org")
            )]
        );
    }

    #[test]
    fn groups() {
        assert_eq!(
            parse_address_list(b"undisclosed-recipients:;"),
            vec![
                a(None, None, Some("undisclosed-recipients"), None),
                a(None, None, None, None)
            ]
        );
        assert_eq!(
            parse_address_list(b"Team: a@x.org, B <b@y.org>; c@z.org"),
            vec![
                a(None, None, Some("Team"), None),
                a(None, None, Some("a"), Some("x.org")),
                a(Some("B"), None, Some("b"), Some("y.org")),
                a(None, None, None, None),
                a(None, None, Some("c"), Some("z.org")),
            ]
        );
        // A group whose only content is a comment is empty: its markers, no placeholder.
        assert_eq!(
            parse_address_list(b"group:;, group2: (foo) ;"),
            vec![
                a(None, None, Some("group"), None),
                a(None, None, None, None),
                a(None, None, Some("group2"), None),
                a(None, None, None, None),
            ]
        );
        assert_eq!(
            parse_address_list(b"g3: (c) , x@y.org;"),
            vec![
                a(None, None, Some("g3"), None),
                a(None, None, Some("x"), Some("y.org")),
                a(None, None, None, None),
            ]
        );
    }

    #[test]
    fn comments() {
        assert_eq!(
            parse_address_list(b"john@x.org (John Smith)"),
            vec![a(Some("John Smith"), None, Some("john"), Some("x.org"))]
        );
        assert_eq!(
            parse_address_list(b"Jim (the man) <jim (box) @ (dom) y.org>"),
            vec![a(Some("Jim"), None, Some("jim"), Some("y.org"))]
        );
    }

    #[test]
    fn missing_host_and_route() {
        assert_eq!(
            parse_address_list(b"localuser"),
            vec![a(None, None, Some("localuser"), Some("MISSING_DOMAIN"))]
        );
        assert_eq!(
            parse_address_list(b"R <@a.org,@b.org:user@c.org>"),
            vec![a(
                Some("R"),
                Some("@a.org,@b.org"),
                Some("user"),
                Some("c.org")
            )]
        );
    }

    #[test]
    fn encoded_words_untouched() {
        assert_eq!(
            parse_address_list(b"=?UTF-8?Q?J=C3=B6rg?= <j@x.de>"),
            vec![a(
                Some("=?UTF-8?Q?J=C3=B6rg?="),
                None,
                Some("j"),
                Some("x.de")
            )]
        );
    }

    #[test]
    fn garbage_does_not_panic() {
        for s in [
            &b"<<<"[..],
            b">>",
            b"@",
            b":;:;",
            b"\"",
            b"(",
            b"a@",
            b"<@",
            b"\xff\x00",
        ] {
            let _ = parse_address_list(s);
        }
    }
}
