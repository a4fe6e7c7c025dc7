//! IMAP URLs (RFC 5092) naming a message or a part of one, as CATENATE (RFC 4469) and URLAUTH
//! (RFC 4467) take them: `imap://user@host/INBOX;UIDVALIDITY=n/;UID=n/;SECTION=s/;PARTIAL=o.l`,
//! the absolute path `/INBOX;UIDVALIDITY=n/;UID=n…`, and `/;UID=n…` for the selected mailbox;
//! with `;EXPIRE=` and `;URLAUTH=access[:mech:token]` at the end. No kept crate parses this
//! scheme (the `url` crate would only split the generic syntax, leaving all of this to do).

use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::fetch::{MacroOrMessageDataItemNames, MessageDataItemName, Section};
use imap_codec::imap_types::response::{Code, CodeOther};

/// A parsed IMAP message URL.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ImapUrl {
    /// `user` of `imap://user@host/`; `None` for a path-only URL.
    pub user: Option<String>,
    /// Whether the URL starts with `imap://` (an absolute URL, which URLAUTH requires).
    pub absolute: bool,
    /// The mailbox (store name); `None`: the selected one (`/;UID=…`).
    pub mailbox: Option<String>,
    pub uidvalidity: Option<u32>,
    pub uid: u32,
    /// The section as written (decoded), e.g. `1.2`, `HEADER`, `1.MIME`.
    pub section: Option<String>,
    /// `;PARTIAL=offset[.length]` (RFC 5550 / RFC 5092).
    pub partial: Option<(u32, Option<u32>)>,
    /// `;EXPIRE=` as written (an RFC 3339 date-time).
    pub expire: Option<String>,
    /// `;URLAUTH=access` (`anonymous`, `authuser`, `user+NAME`, `submit+NAME`).
    pub access: Option<String>,
    /// `:mechanism:token` after the access identifier (an authorized URL).
    pub mechanism: Option<String>,
    pub token: Option<String>,
    /// The URL up to and including `;URLAUTH=access`: what the token signs (RFC 4467 §2.4).
    pub rump: String,
}

/// %-decoding (RFC 3986 §2.1) into bytes, then UTF-8.
fn pct_decode(s: &str) -> Result<String, String> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' {
            let hex = b
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or_else(|| "invalid %-escape".to_string())?;
            out.push(hex);
            i += 3;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| "invalid %-escape".into())
}

/// `name=value` of a `;NAME=value` parameter, name compared without case.
fn param<'a>(seg: &'a str, name: &str) -> Option<&'a str> {
    let (n, v) = seg.split_once('=')?;
    n.eq_ignore_ascii_case(name).then_some(v)
}

fn number(v: &str, what: &str) -> Result<u32, String> {
    v.parse::<u32>()
        .ok()
        .filter(|n| *n > 0 || what == "offset")
        .ok_or_else(|| format!("invalid {what} in URL"))
}

/// Case-insensitive find of an ASCII needle.
fn find_ci(hay: &str, needle: &str) -> Option<usize> {
    hay.as_bytes()
        .windows(needle.len())
        .position(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

pub fn parse(url: &str) -> Result<ImapUrl, String> {
    let mut u = ImapUrl::default();
    let relative: String;
    let path = if url.len() >= 7 && url[..7].eq_ignore_ascii_case("imap://") {
        u.absolute = true;
        let rest = &url[7..];
        let slash = rest.find('/').ok_or("URL without a path")?;
        let authority = &rest[..slash];
        if let Some((userinfo, _host)) = authority.rsplit_once('@') {
            let user = match find_ci(userinfo, ";AUTH=") {
                Some(i) => &userinfo[..i],
                None => userinfo,
            };
            if !user.is_empty() {
                u.user = Some(pct_decode(user)?);
            }
        }
        &rest[slash..]
    } else if url.starts_with('/') {
        url
    } else if url.len() >= 5 && url[..5].eq_ignore_ascii_case(";UID=") {
        // A reference relative to the selected mailbox's URL (RFC 3986 §4.2), as Dovecot
        // accepts it: the same as `/;UID=`.
        relative = format!("/{url}");
        &relative
    } else {
        return Err("not an IMAP URL to a message".into());
    };
    // `;URLAUTH=` and what follows (RFC 4467 §2.3): access, then `:mech:token`.
    let (body, auth) = match find_ci(path, ";URLAUTH=") {
        Some(i) => (&path[..i], Some(&path[i + 9..])),
        None => (path, None),
    };
    if let Some(auth) = auth {
        let mut it = auth.splitn(3, ':');
        let access = it.next().unwrap_or_default();
        if access.is_empty() {
            return Err("empty URLAUTH access identifier".into());
        }
        u.access = Some(pct_decode(access)?);
        match (it.next(), it.next()) {
            (Some(m), Some(t)) if !m.is_empty() && !t.is_empty() => {
                u.mechanism = Some(m.to_string());
                u.token = Some(t.to_string());
            }
            (None, None) => {}
            _ => return Err("invalid URLAUTH mechanism or token".into()),
        }
        let end = url.len() - auth.len() + access.len();
        u.rump = url[..end].to_string();
    }
    let (body, expire) = match find_ci(body, ";EXPIRE=") {
        Some(i) => (&body[..i], Some(&body[i + 8..])),
        None => (body, None),
    };
    u.expire = expire.map(str::to_string);
    let uid_at = find_ci(body, "/;UID=").ok_or("URL names no message (;UID=)")?;
    let mailbox = &body[1.min(body.len())..uid_at.max(1)];
    if uid_at > 0 {
        let (name, validity) = match find_ci(mailbox, ";UIDVALIDITY=") {
            Some(i) => (&mailbox[..i], Some(&mailbox[i + 13..])),
            None => (mailbox, None),
        };
        let name = pct_decode(name)?;
        u.mailbox =
            Some(crate::store::mailbox_name(name.as_bytes()).map_err(|e| format!("mailbox: {e}"))?);
        u.uidvalidity = validity.map(|v| number(v, "UIDVALIDITY")).transpose()?;
    }
    let mut segs = body[uid_at + 2..].split("/;");
    let uid = segs
        .next()
        .and_then(|s| param(s, "UID"))
        .ok_or("invalid ;UID=")?;
    u.uid = number(uid, "UID")?;
    for seg in segs {
        if let Some(v) = param(seg, "SECTION") {
            if u.section.is_some() || u.partial.is_some() {
                return Err("misplaced ;SECTION=".into());
            }
            u.section = Some(pct_decode(v)?);
        } else if let Some(v) = param(seg, "PARTIAL") {
            if u.partial.is_some() {
                return Err("two ;PARTIAL=".into());
            }
            let (o, l) = match v.split_once('.') {
                Some((o, l)) => (number(o, "offset")?, Some(number(l, "length")?)),
                None => (number(v, "offset")?, None),
            };
            u.partial = Some((o, l));
        } else {
            return Err(format!("unknown URL part ;{seg}"));
        }
    }
    Ok(u)
}

/// `[BADURL url]` (RFC 4469 §6): the URL as an atom when it can be one, else quoted (control
/// characters dropped: a response code holds no literal).
pub fn code_badurl(url: &str) -> Code<'static> {
    let mut c = b"BADURL ".to_vec();
    if !url.is_empty()
        && url
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"(){%*\"\\]".contains(&b))
    {
        c.extend_from_slice(url.as_bytes());
    } else {
        let printable: Vec<u8> = url.bytes().filter(|b| (0x20..0x7f).contains(b)).collect();
        super::urlauth::string(&mut c, &printable);
    }
    Code::Other(CodeOther::unvalidated(c))
}

/// The section of a URL as FETCH's grammar reads it (imap-codec), e.g. `1.2.HEADER`.
pub fn section(text: &str) -> Option<Option<Section<'static>>> {
    if text.is_empty() {
        return Some(None);
    }
    let args = format!("1 BODY.PEEK[{text}]");
    match super::decode_command("FETCH", args.as_bytes())? {
        CommandBody::Fetch {
            macro_or_item_names: MacroOrMessageDataItemNames::MessageDataItemNames(items),
            ..
        } => match items.into_iter().next()? {
            MessageDataItemName::BodyExt { section, .. } => Some(section),
            _ => None,
        },
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn absolute_and_relative() {
        let u = parse("imap://alice@mail.example;AUTH=*/INBOX;UIDVALIDITY=385759045/;UID=20/;SECTION=1.2/;PARTIAL=0.1024").unwrap();
        assert_eq!(u.user.as_deref(), Some("alice"));
        assert!(u.absolute);
        assert_eq!(u.mailbox.as_deref(), Some("INBOX"));
        assert_eq!(u.uidvalidity, Some(385759045));
        assert_eq!(u.uid, 20);
        assert_eq!(u.section.as_deref(), Some("1.2"));
        assert_eq!(u.partial, Some((0, Some(1024))));
        let u =
            parse("/Lists%2Fa%20b;uidvalidity=7/;uid=3/;section=HEADER.FIELDS%20(FROM)").unwrap();
        assert_eq!(u.mailbox.as_deref(), Some("Lists/a b"));
        assert_eq!(u.section.as_deref(), Some("HEADER.FIELDS (FROM)"));
        assert!(!u.absolute && u.user.is_none());
        let u = parse("/;UID=5/;PARTIAL=10").unwrap();
        assert_eq!((u.mailbox, u.uid, u.partial), (None, 5, Some((10, None))));
        let u = parse(";uid=6/;SECTION=2").unwrap();
        assert_eq!((u.mailbox, u.uid), (None, 6));
        let u = parse("/inbox/a/;UID=5").unwrap();
        assert_eq!(u.mailbox.as_deref(), Some("INBOX/a"));
    }

    #[test]
    fn urlauth_parts() {
        let url = "imap://joe@example.com/INBOX/;uid=20/;section=1.2;expire=2026-12-01T00:00:00Z;urlauth=user+fred:internal:91354a473744909de610943775f92038";
        let u = parse(url).unwrap();
        assert_eq!(u.expire.as_deref(), Some("2026-12-01T00:00:00Z"));
        assert_eq!(u.access.as_deref(), Some("user+fred"));
        assert_eq!(u.mechanism.as_deref(), Some("internal"));
        assert_eq!(u.token.as_deref(), Some("91354a473744909de610943775f92038"));
        assert_eq!(
            u.rump,
            "imap://joe@example.com/INBOX/;uid=20/;section=1.2;expire=2026-12-01T00:00:00Z;urlauth=user+fred"
        );
        assert_eq!(u.section.as_deref(), Some("1.2"));
        let u = parse("imap://joe@h/INBOX/;UID=1;URLAUTH=anonymous").unwrap();
        assert_eq!((u.access.as_deref(), u.token), (Some("anonymous"), None));
        assert_eq!(u.rump, "imap://joe@h/INBOX/;UID=1;URLAUTH=anonymous");
    }

    #[test]
    fn refused() {
        for bad in [
            "http://x/INBOX/;UID=1",
            "INBOX/;UID=1",
            "/INBOX",
            "/INBOX/;UID=0",
            "/INBOX/;UID=x",
            "/INBOX;UIDVALIDITY=q/;UID=1",
            "/INBOX/;UID=1/;BOGUS=2",
            "/INBOX/;UID=1/;PARTIAL=1.0",
            "/IN%ZZ/;UID=1",
            "/a//b/;UID=1",
            "imap://h/INBOX/;UID=1;URLAUTH=",
            "imap://h/INBOX/;UID=1;URLAUTH=user+x:internal",
        ] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn badurl_codes() {
        let text = |c: Code<'static>| match c {
            Code::Other(o) => String::from_utf8(o.inner().to_vec()).unwrap(),
            _ => panic!(),
        };
        assert_eq!(text(code_badurl("/INBOX/;UID=1")), "BADURL /INBOX/;UID=1");
        assert_eq!(
            text(code_badurl("/a b/;UID=\"1\"\r")),
            "BADURL \"/a b/;UID=\\\"1\\\"\""
        );
        assert_eq!(text(code_badurl("")), "BADURL \"\"");
    }

    #[test]
    fn sections_by_the_fetch_grammar() {
        assert_eq!(section(""), Some(None));
        assert!(matches!(section("1.2"), Some(Some(Section::Part(_)))));
        assert!(matches!(
            section("HEADER"),
            Some(Some(Section::Header(None)))
        ));
        assert!(section("1.BOGUS").is_none());
    }
}
