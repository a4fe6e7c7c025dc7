//! CATENATE (RFC 4469): `APPEND box CATENATE (TEXT {n} URL "…")`, also as messages of a
//! MULTIAPPEND. The message is put together from literal text and parts of messages this
//! user can read, named by IMAP URLs (RFC 5092); a URL that names nothing readable is
//! `NO [BADURL url]`, a result over the message size limit `NO [TOOBIG]`, and in both cases
//! nothing is stored (the parts are resolved before anything is written).

use imap_codec::imap_types::response::{Code, CodeOther};

use crate::imap::cmd::fetch::section_spec;
use crate::imap::ext::append::CatPart;
use crate::imap::ext::imapurl::{self, ImapUrl};
use crate::imap::session::Session;
use crate::imap::{CmdError, CmdResult};
use crate::mime::MessageInfo;
use crate::store::{MailboxId, Store, UserId};

/// `[BADURL url]` (RFC 4469 §6); the URL is written as an astring (quoted when needed).
pub(crate) fn code_badurl(url: &str) -> Code<'static> {
    let mut c = b"BADURL ".to_vec();
    if !url.is_empty()
        && url
            .bytes()
            .all(|b| b.is_ascii_graphic() && !b"(){%*\"\\]".contains(&b))
    {
        c.extend_from_slice(url.as_bytes());
    } else {
        c.push(b'"');
        for b in url.bytes().filter(|b| *b >= 0x20 && *b < 0x7f) {
            if b == b'"' || b == b'\\' {
                c.push(b'\\');
            }
            c.push(b);
        }
        c.push(b'"');
    }
    Code::Other(CodeOther::unvalidated(c))
}

/// Whose message a URL names, and how the reader may reach it.
pub(crate) struct UrlAccess {
    /// The owner of the mailbox the URL names.
    pub owner: UserId,
    /// The owner's name (a URL with another `user@` names nothing of this owner's).
    pub owner_name: String,
    /// The mailbox to use when the URL names none (`/;UID=…`): the selected one.
    pub selected: Option<MailboxId>,
}

/// The bytes `url` names in `access.owner`'s mailboxes (store side, runs on a worker). Err is
/// the reason for a BADURL: shown to the owner (it is about their own folders), never to a
/// user reading through URLAUTH.
pub(crate) fn url_bytes(s: &Store, access: &UrlAccess, url: &ImapUrl) -> Result<Vec<u8>, String> {
    if let Some(user) = &url.user {
        if *user != access.owner_name {
            return Err(format!("the URL is for user {user}"));
        }
    }
    let mailbox = match &url.mailbox {
        Some(name) => {
            let mb = s
                .mailbox(access.owner, name)
                .map_err(|e| e.to_string())?
                .ok_or("no such mailbox")?;
            if url.uidvalidity.is_some_and(|v| v != mb.uidvalidity) {
                return Err("UIDVALIDITY differs".into());
            }
            mb.id
        }
        None => {
            let id = access.selected.ok_or("no mailbox selected")?;
            if let Some(v) = url.uidvalidity {
                if s.mailbox_by_id(id).map_err(|e| e.to_string())?.uidvalidity != v {
                    return Err("UIDVALIDITY differs".into());
                }
            }
            id
        }
    };
    let meta = s
        .messages(mailbox, &[url.uid])
        .map_err(|e| e.to_string())?
        .into_iter()
        .next()
        .ok_or("no such message")?;
    let raw = s.raw(meta.body_id).map_err(|e| e.to_string())?;
    let bytes = match &url.section {
        None => raw,
        Some(text) => {
            let section = imapurl::section(text).ok_or("invalid section")?;
            let (path, kind) = section_spec(&section);
            let parsed = s.parsed(meta.body_id).map_err(|e| e.to_string())?;
            let info = MessageInfo::decode(&parsed).ok_or("unreadable message structure")?;
            info.section(&raw, &path, &kind)
                .ok_or("no such section")?
                .into_owned()
        }
    };
    Ok(match url.partial {
        None => bytes,
        Some((offset, length)) => {
            let start = (offset as usize).min(bytes.len());
            let end = match length {
                Some(l) => start.saturating_add(l as usize).min(bytes.len()),
                None => bytes.len(),
            };
            bytes[start..end].to_vec()
        }
    })
}

impl Session {
    /// The message CATENATE's parts make, or `NO [BADURL]` / `NO [TOOBIG]`.
    pub(crate) async fn catenate(&mut self, parts: Vec<CatPart>) -> CmdResult<Vec<u8>> {
        let max = self.conn.limits().max_literal as usize;
        let user = self
            .state
            .user()
            .cloned()
            .ok_or_else(|| CmdError::bad("Not logged in"))?;
        let selected = self.state.selected().map(|s| s.mailbox);
        let mut out = Vec::new();
        for part in parts {
            let bytes = match part {
                CatPart::Text(t) => t,
                CatPart::Url(text) => {
                    let access = UrlAccess {
                        owner: user.id,
                        owner_name: user.name.clone(),
                        selected,
                    };
                    let result = match imapurl::parse(&text) {
                        Err(why) => Err(why),
                        // An authorized URL may name another user's message (RFC 4469 §5):
                        // its failures say nothing more than that.
                        Ok(url) if url.access.is_some() => self
                            .urlauth_bytes(&url)
                            .await
                            .map_err(|_| "the URL does not authorize this access".to_string()),
                        Ok(url) => self
                            .db(move |s| Ok(url_bytes(s, &access, &url)))
                            .await
                            .map_err(CmdError::from)?,
                    };
                    match result {
                        Ok(b) => b,
                        Err(why) => {
                            return Err(CmdError::no_code(
                                code_badurl(&text),
                                format!("CATENATE: {why}; nothing was appended"),
                            ));
                        }
                    }
                }
            };
            out.extend_from_slice(&bytes);
            if out.len() > max {
                return Err(CmdError::no_code(
                    Code::TooBig,
                    format!("CATENATE: the message exceeds the limit of {max} bytes; nothing was appended"),
                ));
            }
        }
        Ok(out)
    }

    /// Placeholder until URLAUTH: an authorized URL is refused like any unreadable one.
    pub(crate) async fn urlauth_bytes(&mut self, _url: &ImapUrl) -> Result<Vec<u8>, String> {
        Err("URLAUTH is not supported".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn badurl_codes() {
        let text = |c: Code<'static>| match c {
            Code::Other(o) => String::from_utf8(o.inner().to_vec()).unwrap(),
            _ => panic!(),
        };
        assert_eq!(text(code_badurl("/INBOX/;UID=1")), "BADURL /INBOX/;UID=1");
        assert_eq!(
            text(code_badurl("/a b/;UID=\"1\"")),
            "BADURL \"/a b/;UID=\\\"1\\\"\""
        );
        assert_eq!(text(code_badurl("")), "BADURL \"\"");
    }
}
