//! URLAUTH (RFC 4467), URLAUTH=BINARY (RFC 5524), URL-PARTIAL (RFC 5550): GENURLAUTH signs
//! a URL to one of the user's messages, URLFETCH returns what a signed URL names to whoever
//! the URL authorizes, RESETKEY invalidates a mailbox's signed URLs.
//!
//! The INTERNAL mechanism: the token is HMAC-SHA256 over the URL up to and including
//! `;URLAUTH=access` (RFC 4467 §2.4's "rump"), keyed with the mailbox access key (32 random
//! bytes kept per mailbox by the store, never sent), written as 64 hex digits. Access
//! identifiers: `anonymous` (anyone logged in: URLFETCH needs a login here), `authuser` (any
//! user of this server), `user+NAME` (only NAME). `submit+NAME` is accepted by GENURLAUTH but
//! never authorizes a URLFETCH: there is no submission server to act for NAME. An `;EXPIRE=`
//! in the past makes the URL authorize nothing.
//!
//! Every refusal of URLFETCH is the same `NIL`, so a reader learns nothing of another user's
//! folders from it.

use hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::imap::cmd::catenate::{partial, url_bytes, url_target, UrlAccess};
use crate::imap::ext::imapurl::{self, ImapUrl};
use crate::imap::ext::urlauth::{
    encode_genurlauth, encode_urlfetch, urlmech_code, FetchUrl, Fetched, GenUrlAuth, ResetKey,
    UrlFetch,
};
use crate::imap::render::body_structure;
use crate::imap::session::{Done, Session};
use crate::imap::{code_nonexistent, validate_name, CmdError, CmdResult};
use crate::store::Store;

type HmacSha256 = Hmac<Sha256>;

/// The one mechanism (RFC 4467 §7: INTERNAL is required).
const MECHANISM: &str = "internal";

/// The INTERNAL token of `rump` under `key`.
fn token(key: &[u8], rump: &str) -> Option<String> {
    let mut mac = HmacSha256::new_from_slice(key).ok()?;
    mac.update(rump.as_bytes());
    Some(
        mac.finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect(),
    )
}

/// Whether `token` (hex) is the INTERNAL token of `rump` under `key` (compared in constant
/// time by the hmac crate).
fn token_matches(key: &[u8], rump: &str, token: &str) -> bool {
    if token.len() % 2 != 0 {
        return false;
    }
    let bytes: Option<Vec<u8>> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(token.get(i..i + 2)?, 16).ok())
        .collect();
    let (Some(bytes), Ok(mut mac)) = (bytes, HmacSha256::new_from_slice(key)) else {
        return false;
    };
    mac.update(rump.as_bytes());
    mac.verify_slice(&bytes).is_ok()
}

/// Whether an access identifier is one RFC 4467 §3 defines.
fn valid_access(access: &str) -> bool {
    let lower = access.to_ascii_lowercase();
    lower == "anonymous"
        || lower == "authuser"
        || ["user+", "submit+"]
            .iter()
            .any(|p| lower.starts_with(p) && access.len() > p.len())
}

/// Whether `access` lets the logged-in `reader` fetch.
fn access_allows(access: &str, reader: &str) -> bool {
    let lower = access.to_ascii_lowercase();
    match lower.as_str() {
        "anonymous" | "authuser" => true,
        _ if lower.starts_with("user+") => &access[5..] == reader,
        _ => false,
    }
}

/// `;EXPIRE=` still ahead (or absent). An unreadable one has expired.
fn not_expired(expire: &Option<String>) -> bool {
    match expire {
        None => true,
        Some(e) => chrono::DateTime::parse_from_rfc3339(e).is_ok_and(|t| t > chrono::Utc::now()),
    }
}

/// Check an authorized URL for `reader` (store side): the owner, whose key signed it, and
/// whose message it names. Err is for logs only.
fn authorize(s: &Store, url: &ImapUrl, reader: &str) -> Result<UrlAccess, String> {
    let access = url.access.as_deref().ok_or("no ;URLAUTH=")?;
    let (Some(mech), Some(tok)) = (&url.mechanism, &url.token) else {
        return Err("the URL is not authorized (no token)".into());
    };
    if !url.absolute || !mech.eq_ignore_ascii_case(MECHANISM) {
        return Err("not an absolute URL with the INTERNAL mechanism".into());
    }
    if !access_allows(access, reader) {
        return Err(format!("access {access} does not include {reader}"));
    }
    if !not_expired(&url.expire) {
        return Err("expired".into());
    }
    let owner_name = url.user.as_deref().ok_or("no owner in the URL")?;
    let mailbox = url.mailbox.as_deref().ok_or("no mailbox in the URL")?;
    let owner = s
        .find_user(owner_name)
        .map_err(|e| e.to_string())?
        .ok_or("no such owner")?;
    let (_, key) = s
        .urlauth_key(owner.id, mailbox, false)
        .map_err(|e| e.to_string())?
        .ok_or("no such mailbox")?;
    let key = key.ok_or("the mailbox has no access key")?;
    if !token_matches(&key, &url.rump, tok) {
        return Err("wrong token".into());
    }
    Ok(UrlAccess {
        owner: owner.id,
        owner_name: owner.name,
        selected: None,
    })
}

/// What URLFETCH answers for one authorized URL (store side).
fn fetch_one(s: &Store, req: &FetchUrl, reader: &str) -> Result<Fetched, String> {
    let url = imapurl::parse(&req.url)?;
    let access = authorize(s, &url, reader)?;
    let mut out = Fetched::default();
    if !req.extended || req.body {
        out.body = Some(url_bytes(s, &access, &url)?);
    }
    if req.binary || req.bodypartstructure {
        let t = url_target(s, &access, &url, true)?;
        let info = t.info.as_ref().ok_or("no structure")?;
        // BINARY and BODYPARTSTRUCTURE name a body part: the whole message or a part.
        if t.kind != crate::mime::SectionKind::Full {
            return Err("BINARY and BODYPARTSTRUCTURE need a body part".into());
        }
        let (part, _) = info
            .binary_part(&t.path)
            .map_err(|_| "unknown transfer encoding")?
            .ok_or("no such part")?;
        if req.bodypartstructure {
            out.bodypartstructure = Some(encode_structure(part));
        }
        if req.binary {
            // An encoding this server cannot undo: NIL data (RFC 5524 §4).
            out.binary = info
                .binary(&t.raw, &t.path)
                .ok()
                .flatten()
                .map(|d| partial(d.into_owned(), url.partial));
        }
    }
    Ok(out)
}

/// A part's BODYSTRUCTURE as imap-codec writes it (taken from an encoded FETCH response).
fn encode_structure(part: &crate::mime::PartInfo) -> Vec<u8> {
    use imap_codec::encode::Encoder;
    use imap_codec::imap_types::core::Vec1;
    use imap_codec::imap_types::fetch::MessageDataItem;
    use imap_codec::imap_types::response::{Data, Response};
    let item = MessageDataItem::BodyStructure(body_structure(part, true));
    let line = imap_codec::ResponseCodec::default()
        .encode(&Response::Data(Data::Fetch {
            seq: std::num::NonZeroU32::MIN,
            items: Vec1::from(item),
        }))
        .dump();
    let prefix = b"* 1 FETCH (BODYSTRUCTURE ";
    line.strip_prefix(&prefix[..])
        .and_then(|l| l.strip_suffix(&b")\r\n"[..]))
        .map_or_else(|| b"NIL".to_vec(), <[u8]>::to_vec)
}

impl Session {
    pub(crate) async fn cmd_genurlauth(&mut self, g: GenUrlAuth) -> CmdResult<Done> {
        let user = self
            .state
            .user()
            .cloned()
            .ok_or_else(|| CmdError::bad("Not logged in"))?;
        let mut out = Vec::with_capacity(g.urls.len());
        for (text, mech) in g.urls {
            if !mech.eq_ignore_ascii_case(MECHANISM) {
                return Err(CmdError::no(format!(
                    "GENURLAUTH: unknown mechanism {mech} (INTERNAL is supported)"
                )));
            }
            let url =
                imapurl::parse(&text).map_err(|e| CmdError::bad(format!("GENURLAUTH: {e}")))?;
            let access = url.access.clone().ok_or_else(|| {
                CmdError::bad("GENURLAUTH: the URL has no ;URLAUTH= access identifier")
            })?;
            if url.token.is_some() {
                return Err(CmdError::bad("GENURLAUTH: the URL is already authorized"));
            }
            if !url.absolute || url.mailbox.is_none() {
                return Err(CmdError::bad(
                    "GENURLAUTH: the URL must be absolute (imap://user@host/mailbox/;UID=...)",
                ));
            }
            if !valid_access(&access) {
                return Err(CmdError::bad(format!(
                    "GENURLAUTH: invalid access identifier {access}"
                )));
            }
            if url.user.as_deref() != Some(user.name.as_str()) {
                return Err(CmdError::no(
                    "GENURLAUTH: the URL must name your own user (imap://you@host/...)",
                ));
            }
            if !not_expired(&url.expire) {
                return Err(CmdError::no(
                    "GENURLAUTH: ;EXPIRE= is invalid or in the past",
                ));
            }
            let mailbox = url.mailbox.clone().unwrap_or_default();
            let owner = UrlAccess {
                owner: user.id,
                owner_name: user.name.clone(),
                selected: None,
            };
            let key = self
                .db(move |s| {
                    // The URL must name a message of the user's (its bytes are not kept).
                    let named = url_bytes(s, &owner, &url).map(|_| ());
                    Ok(match named {
                        Ok(()) => Ok(s
                            .urlauth_key(owner.owner, &mailbox, true)?
                            .and_then(|(_, k)| k)),
                        Err(why) => Err(why),
                    })
                })
                .await?;
            let key = match key {
                Ok(Some(k)) => k,
                Ok(None) => return Err(CmdError::no("GENURLAUTH: no such mailbox")),
                Err(why) => return Err(CmdError::no(format!("GENURLAUTH: {why}"))),
            };
            let rump = imapurl::parse(&text)
                .map(|u| u.rump)
                .map_err(CmdError::bad)?;
            let tok = token(&key, &rump).ok_or_else(|| CmdError::no("GENURLAUTH: bad key"))?;
            out.push(format!("{rump}:{MECHANISM}:{tok}"));
        }
        self.conn
            .send_raw(&encode_genurlauth(&out))
            .await
            .map_err(|e| CmdError::Bye(format!("write failed: {e}")))?;
        Ok(Done::ok("GENURLAUTH completed"))
    }

    pub(crate) async fn cmd_resetkey(&mut self, r: ResetKey) -> CmdResult<Done> {
        let user = self.user_id()?;
        if let Some(m) = r
            .mechanisms
            .iter()
            .find(|m| !m.eq_ignore_ascii_case(MECHANISM))
        {
            return Err(CmdError::no(format!(
                "RESETKEY: unknown mechanism {m} (INTERNAL is supported)"
            )));
        }
        let utf8 = self.utf8_names();
        let name = r
            .mailbox
            .as_deref()
            .map(|n| validate_name(n, utf8))
            .transpose()?;
        let shown = name.clone();
        let one = name.is_some();
        let reset = self
            .db(move |s| s.reset_urlauth_keys(user, name.as_deref()))
            .await?;
        let Some(reset) = reset else {
            return Err(CmdError::no_code(
                code_nonexistent(),
                format!("No such mailbox: {}", shown.unwrap_or_default()),
            ));
        };
        // RFC 4467 §6.1: the user's other sessions with one of these selected are told with
        // an untagged `OK [URLMECH …]`; this one learns it from the tagged answer.
        self.ctx.notifier.publish_key_reset(&reset);
        if let Some(sel) = self
            .state
            .selected_mut()
            .filter(|s| reset.contains(&s.mailbox))
        {
            sel.key_resets_seen = sel.watch.key_resets();
        }
        // RFC 4467 §6.1's example: the mechanisms of the mailbox whose key was made anew.
        if one {
            return Ok(Done::with_code(urlmech_code(), "RESETKEY completed"));
        }
        Ok(Done::ok("RESETKEY completed"))
    }

    pub(crate) async fn cmd_urlfetch(&mut self, f: UrlFetch) -> CmdResult<Done> {
        let reader = self
            .state
            .user()
            .map(|u| u.name.clone())
            .ok_or_else(|| CmdError::bad("Not logged in"))?;
        for req in f.urls {
            let who = reader.clone();
            let (req, found) = self
                .db(move |s| {
                    let found = fetch_one(s, &req, &who);
                    Ok((req, found))
                })
                .await?;
            let found = match found {
                Ok(f) => Some(f),
                Err(why) => {
                    log::debug!("session {}: URLFETCH {}: {why}", self.id, req.url);
                    None
                }
            };
            self.conn
                .send_raw(&encode_urlfetch(&req, found.as_ref()))
                .await
                .map_err(|e| CmdError::Bye(format!("write failed: {e}")))?;
        }
        Ok(Done::ok("URLFETCH completed"))
    }

    /// The bytes an authorized URL in CATENATE names (RFC 4469 §5), for the logged-in user.
    pub(crate) async fn urlauth_bytes(&mut self, url: &ImapUrl) -> Result<Vec<u8>, String> {
        let reader = self
            .state
            .user()
            .map(|u| u.name.clone())
            .ok_or("not logged in")?;
        let url = url.clone();
        self.db(move |s| {
            Ok(authorize(s, &url, &reader).and_then(|access| url_bytes(s, &access, &url)))
        })
        .await
        .map_err(|e| e.to_string())?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_access() {
        let key = [7u8; 32];
        let t = token(&key, "imap://a@h/INBOX/;UID=1;URLAUTH=anonymous").unwrap();
        assert_eq!(t.len(), 64);
        assert!(token_matches(
            &key,
            "imap://a@h/INBOX/;UID=1;URLAUTH=anonymous",
            &t
        ));
        assert!(!token_matches(
            &key,
            "imap://a@h/INBOX/;UID=2;URLAUTH=anonymous",
            &t
        ));
        assert!(!token_matches(
            &[8u8; 32],
            "imap://a@h/INBOX/;UID=1;URLAUTH=anonymous",
            &t
        ));
        assert!(!token_matches(&key, "x", "zz"));
        assert!(!token_matches(&key, "x", "abc"));
        assert!(valid_access("user+fred") && valid_access("Anonymous") && valid_access("submit+x"));
        assert!(!valid_access("user+") && !valid_access("everyone"));
        assert!(access_allows("user+fred", "fred") && !access_allows("user+fred", "bob"));
        assert!(access_allows("authuser", "bob") && !access_allows("submit+bob", "bob"));
        assert!(not_expired(&None));
        assert!(!not_expired(&Some("2000-01-01T00:00:00Z".into())));
        assert!(not_expired(&Some("2999-01-01T00:00:00Z".into())));
        assert!(!not_expired(&Some("soon".into())));
    }
}
