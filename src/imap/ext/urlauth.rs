//! URLAUTH (RFC 4467) with URLAUTH=BINARY (RFC 5524): the commands GENURLAUTH, RESETKEY and
//! URLFETCH, which imap-codec does not model, and their responses (`* GENURLAUTH`,
//! `* URLFETCH`) and the `[URLMECH …]` response code, which it cannot encode.

use imap_codec::imap_types::response::{Code, CodeOther};

use super::lex::{LexResult, Lexer};
use super::ExtCommand;

/// `[URLMECH INTERNAL]` (RFC 4467 §7): the mechanisms a mailbox's URLs can be authorized
/// with, sent at SELECT / EXAMINE, in RESETKEY's tagged OK, and to the user's sessions that
/// have the mailbox selected when its key is reset. INTERNAL is the only one, and it carries
/// no data.
pub fn urlmech_code() -> Code<'static> {
    Code::Other(CodeOther::unvalidated(b"URLMECH INTERNAL".as_slice()))
}

#[derive(Debug, PartialEq, Eq)]
pub struct GenUrlAuth {
    /// (URL, mechanism) pairs.
    pub urls: Vec<(String, String)>,
}

#[derive(Debug, PartialEq, Eq)]
pub struct ResetKey {
    /// The mailbox whose key to reset (all of the user's when `None`), as sent.
    pub mailbox: Option<Vec<u8>>,
    pub mechanisms: Vec<String>,
}

/// One URL of URLFETCH and what RFC 5524 asks of it (none: the plain RFC 4467 form).
#[derive(Debug, Default, PartialEq, Eq)]
pub struct FetchUrl {
    pub url: String,
    /// Whether the URL came in parentheses (RFC 5524's form, answered in the same form).
    pub extended: bool,
    pub body: bool,
    pub binary: bool,
    pub bodypartstructure: bool,
}

#[derive(Debug, PartialEq, Eq)]
pub struct UrlFetch {
    pub urls: Vec<FetchUrl>,
}

fn url(lx: &mut Lexer<'_>) -> LexResult<String> {
    String::from_utf8(lx.astring()?).map_err(|_| "A URL is ASCII".to_string())
}

pub fn parse_genurlauth(lx: &mut Lexer<'_>) -> LexResult<ExtCommand> {
    let mut urls = Vec::new();
    loop {
        let u = url(lx)?;
        lx.sp()?;
        let mech = lx.atom()?.to_string();
        urls.push((u, mech));
        if lx.at_end() {
            break;
        }
        lx.sp()?;
    }
    lx.end()?;
    Ok(ExtCommand::GenUrlAuth(GenUrlAuth { urls }))
}

pub fn parse_resetkey(lx: &mut Lexer<'_>) -> LexResult<ExtCommand> {
    let mut r = ResetKey {
        mailbox: None,
        mechanisms: Vec::new(),
    };
    if !lx.at_end() {
        r.mailbox = Some(lx.astring()?);
        while !lx.at_end() {
            lx.sp()?;
            r.mechanisms.push(lx.atom()?.to_string());
        }
    }
    lx.end()?;
    Ok(ExtCommand::ResetKey(r))
}

pub fn parse_urlfetch(lx: &mut Lexer<'_>) -> LexResult<ExtCommand> {
    let mut urls = Vec::new();
    loop {
        if lx.eat(b'(') {
            let mut f = FetchUrl {
                url: url(lx)?,
                extended: true,
                ..FetchUrl::default()
            };
            while !lx.eat(b')') {
                lx.sp()?;
                match lx.atom()?.to_ascii_uppercase().as_str() {
                    "BODY" => f.body = true,
                    "BINARY" => f.binary = true,
                    "BODYPARTSTRUCTURE" => f.bodypartstructure = true,
                    other => return Err(format!("URLFETCH: unknown item {other}")),
                }
            }
            if f.body && f.binary {
                return Err("URLFETCH: BODY and BINARY together".into());
            }
            urls.push(f);
        } else {
            urls.push(FetchUrl {
                url: url(lx)?,
                ..FetchUrl::default()
            });
        }
        if lx.at_end() {
            break;
        }
        lx.sp()?;
    }
    lx.end()?;
    Ok(ExtCommand::UrlFetch(UrlFetch { urls }))
}

/// A string as IMAP writes it: quoted when it can be, a literal otherwise.
pub fn string(out: &mut Vec<u8>, s: &[u8]) {
    if s.iter().all(|b| (0x20..0x7f).contains(b)) {
        out.push(b'"');
        for &b in s {
            if b == b'"' || b == b'\\' {
                out.push(b'\\');
            }
            out.push(b);
        }
        out.push(b'"');
    } else {
        literal(out, s, false);
    }
}

/// `{n}CRLF data`, or `~{n}CRLF data` when `binary` allows and the data holds NUL.
pub fn literal(out: &mut Vec<u8>, data: &[u8], binary: bool) {
    if binary && data.contains(&0) {
        out.push(b'~');
    }
    out.extend_from_slice(format!("{{{}}}\r\n", data.len()).as_bytes());
    out.extend_from_slice(data);
}

/// `* GENURLAUTH url url ...`
pub fn encode_genurlauth(urls: &[String]) -> Vec<u8> {
    let mut out = b"* GENURLAUTH".to_vec();
    for u in urls {
        out.push(b' ');
        string(&mut out, u.as_bytes());
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// What URLFETCH found for one URL.
#[derive(Debug, Default)]
pub struct Fetched {
    /// The data (BODY, or the plain form); `None` is NIL.
    pub body: Option<Vec<u8>>,
    /// BINARY's decoded data; `None` is NIL.
    pub binary: Option<Vec<u8>>,
    /// The body structure as imap-codec encoded it.
    pub bodypartstructure: Option<Vec<u8>>,
}

/// One `* URLFETCH` response: `url nstring` (RFC 4467), or for the parenthesised request
/// `(url (BODYPARTSTRUCTURE ...) (BINARY ~{n}...))` (RFC 5524 §4); `found` None: NIL.
pub fn encode_urlfetch(req: &FetchUrl, found: Option<&Fetched>) -> Vec<u8> {
    let mut out = b"* URLFETCH ".to_vec();
    if !req.extended {
        string(&mut out, req.url.as_bytes());
        out.push(b' ');
        match found.and_then(|f| f.body.as_deref()) {
            Some(data) => literal(&mut out, data, false),
            None => out.extend_from_slice(b"NIL"),
        }
        out.extend_from_slice(b"\r\n");
        return out;
    }
    out.push(b'(');
    string(&mut out, req.url.as_bytes());
    match found {
        None => out.extend_from_slice(b" NIL"),
        Some(f) => {
            if req.bodypartstructure {
                out.extend_from_slice(b" (BODYPARTSTRUCTURE ");
                match &f.bodypartstructure {
                    Some(bs) => out.extend_from_slice(bs),
                    None => out.extend_from_slice(b"NIL"),
                }
                out.push(b')');
            }
            let data = if req.binary {
                Some(("BINARY", &f.binary, true))
            } else if req.body {
                Some(("BODY", &f.body, false))
            } else {
                None
            };
            if let Some((name, data, binary)) = data {
                out.extend_from_slice(format!(" ({name} ").as_bytes());
                match data {
                    Some(d) => literal(&mut out, d, binary),
                    None => out.extend_from_slice(b"NIL"),
                }
                out.push(b')');
            }
        }
    }
    out.extend_from_slice(b")\r\n");
    out
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    fn cmd(raw: &[u8]) -> ExtCommand {
        match parse(raw) {
            Some(Ok((_, c))) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn urlmech_code_encodes_as_rfc_4467_shows_it() {
        use imap_codec::encode::Encoder;
        use imap_codec::imap_types::core::Tag;
        use imap_codec::imap_types::response::{Response, Status};
        use imap_codec::ResponseCodec;
        let untagged = Status::ok(None, Some(urlmech_code()), "mechs").unwrap();
        assert_eq!(
            ResponseCodec::default()
                .encode(&Response::Status(untagged))
                .dump(),
            b"* OK [URLMECH INTERNAL] mechs\r\n".to_vec()
        );
        let tag = Tag::try_from("a32").unwrap();
        let tagged = Status::ok(Some(tag), Some(urlmech_code()), "mechs").unwrap();
        assert_eq!(
            ResponseCodec::default()
                .encode(&Response::Status(tagged))
                .dump(),
            b"a32 OK [URLMECH INTERNAL] mechs\r\n".to_vec()
        );
    }

    #[test]
    fn commands() {
        let ExtCommand::GenUrlAuth(g) = cmd(
            b"a GENURLAUTH \"imap://a@h/INBOX/;UID=1;URLAUTH=anonymous\" INTERNAL \"imap://a@h/x/;UID=2;URLAUTH=authuser\" internal\r\n",
        ) else {
            panic!()
        };
        assert_eq!(g.urls.len(), 2);
        assert_eq!(g.urls[1].1, "internal");
        let ExtCommand::ResetKey(r) = cmd(b"a RESETKEY\r\n") else {
            panic!()
        };
        assert_eq!(r.mailbox, None);
        let ExtCommand::ResetKey(r) = cmd(b"a RESETKEY INBOX INTERNAL\r\n") else {
            panic!()
        };
        assert_eq!(
            (r.mailbox.as_deref(), r.mechanisms.len()),
            (Some(&b"INBOX"[..]), 1)
        );
        let ExtCommand::UrlFetch(f) =
            cmd(b"a URLFETCH \"u1\" (\"u2\" BODYPARTSTRUCTURE BINARY) (u3)\r\n")
        else {
            panic!()
        };
        assert_eq!(f.urls.len(), 3);
        assert!(!f.urls[0].extended);
        assert!(f.urls[1].extended && f.urls[1].binary && f.urls[1].bodypartstructure);
        assert!(f.urls[2].extended && !f.urls[2].body);
        for bad in [
            &b"a URLFETCH\r\n"[..],
            b"a URLFETCH (u BOGUS)\r\n",
            b"a URLFETCH (u BODY BINARY)\r\n",
            b"a GENURLAUTH u\r\n",
            b"a RESETKEY INBOX (x)\r\n",
        ] {
            assert!(
                matches!(parse(bad), Some(Err(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn responses() {
        assert_eq!(
            encode_genurlauth(&["imap://a@h/x;URLAUTH=anonymous:internal:ab".into()]),
            b"* GENURLAUTH \"imap://a@h/x;URLAUTH=anonymous:internal:ab\"\r\n"
        );
        let plain = FetchUrl {
            url: "u".into(),
            ..FetchUrl::default()
        };
        let data = Fetched {
            body: Some(b"hi".to_vec()),
            binary: Some(b"\x00x".to_vec()),
            bodypartstructure: Some(b"(\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 2 1)".to_vec()),
        };
        assert_eq!(
            encode_urlfetch(&plain, Some(&data)),
            b"* URLFETCH \"u\" {2}\r\nhi\r\n"
        );
        assert_eq!(encode_urlfetch(&plain, None), b"* URLFETCH \"u\" NIL\r\n");
        let ext = FetchUrl {
            url: "u".into(),
            extended: true,
            binary: true,
            bodypartstructure: true,
            ..FetchUrl::default()
        };
        assert_eq!(
            encode_urlfetch(&ext, Some(&data)),
            &b"* URLFETCH (\"u\" (BODYPARTSTRUCTURE (\"TEXT\" \"PLAIN\" NIL NIL NIL \"7BIT\" 2 1)) (BINARY ~{2}\r\n\x00x))\r\n"[..]
        );
        assert_eq!(encode_urlfetch(&ext, None), b"* URLFETCH (\"u\" NIL)\r\n");
    }
}
