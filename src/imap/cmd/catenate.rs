//! CATENATE (RFC 4469): `APPEND box CATENATE (TEXT {n} URL "…")`, also as messages of a
//! MULTIAPPEND. The message is put together from literal text and parts of messages this
//! user can read, named by IMAP URLs (RFC 5092); a URL that names nothing readable is
//! `NO [BADURL url]`, a result over the message size limit `NO [TOOBIG]`, and in both cases
//! nothing is stored (the parts are resolved before anything is written).

use imap_codec::imap_types::response::Code;

use crate::imap::cmd::fetch::section_spec;
use crate::imap::ext::append::CatPart;
use crate::imap::ext::imapurl::{self, code_badurl, ImapUrl};
use crate::imap::session::Session;
use crate::imap::{CmdError, CmdResult};
use crate::mime::{MessageInfo, SectionKind};
use crate::store::{MailboxId, Store, UserId};

/// Whose message a URL names, and how the reader may reach it.
pub(crate) struct UrlAccess {
    /// The owner of the mailbox the URL names.
    pub owner: UserId,
    /// The owner's name (a URL with another `user@` names nothing of this owner's).
    pub owner_name: String,
    /// The mailbox to use when the URL names none (`/;UID=…`): the selected one.
    pub selected: Option<MailboxId>,
}

/// A message a URL names, read whole, with the section it names.
pub(crate) struct UrlTarget {
    pub raw: Vec<u8>,
    pub info: Option<MessageInfo>,
    pub path: Vec<u32>,
    pub kind: SectionKind,
}

/// The message `url` names in `access.owner`'s mailboxes (store side, runs on a worker), with
/// its parsed structure when `with_info` or a section needs it. Err is the reason for a
/// BADURL: shown to the owner (it is about their own folders), never to a user reading
/// through URLAUTH.
pub(crate) fn url_target(
    s: &Store,
    access: &UrlAccess,
    url: &ImapUrl,
    with_info: bool,
) -> Result<UrlTarget, String> {
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
    let (path, kind) = match &url.section {
        None => (Vec::new(), SectionKind::Full),
        Some(text) => section_spec(&imapurl::section(text).ok_or("invalid section")?),
    };
    let info = if with_info || url.section.is_some() {
        let parsed = s.parsed(meta.body_id).map_err(|e| e.to_string())?;
        Some(MessageInfo::decode(&parsed).ok_or("unreadable message structure")?)
    } else {
        None
    };
    Ok(UrlTarget {
        raw,
        info,
        path,
        kind,
    })
}

/// `;PARTIAL=offset[.length]` of some bytes (RFC 5092 §3.3, RFC 5550).
pub(crate) fn partial(bytes: Vec<u8>, range: Option<(u32, Option<u32>)>) -> Vec<u8> {
    match range {
        None => bytes,
        Some((offset, length)) => {
            let start = (offset as usize).min(bytes.len());
            let end = match length {
                Some(l) => start.saturating_add(l as usize).min(bytes.len()),
                None => bytes.len(),
            };
            bytes[start..end].to_vec()
        }
    }
}

/// The bytes `url` names (see [`url_target`]).
pub(crate) fn url_bytes(s: &Store, access: &UrlAccess, url: &ImapUrl) -> Result<Vec<u8>, String> {
    let t = url_target(s, access, url, false)?;
    let bytes = match &t.info {
        None => t.raw,
        Some(info) => info
            .section(&t.raw, &t.path, &t.kind)
            .ok_or("no such section")?
            .into_owned(),
    };
    Ok(partial(bytes, url.partial))
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
}
