//! APPEND (RFC 3501 §6.3.11): store a message, committed before the OK. MULTIAPPEND
//! (RFC 3502): several messages in one command, all stored in one transaction or none.

use imap_codec::imap_types::datetime::DateTime;
use imap_codec::imap_types::extensions::binary::LiteralOrLiteral8;
use imap_codec::imap_types::flag::Flag;
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::response::{Code, CodeOther};

use super::flags_to_store;
use crate::imap::cmd::mailbox::nz;
use crate::imap::ext::append::MultiAppend;
use crate::imap::ext::search::compact_set;
use crate::imap::session::{Done, Session};
use crate::imap::{code_cannot, mailbox_name, CmdError, CmdResult};
use crate::store::StoreError;

impl Session {
    pub(crate) async fn cmd_append(
        &mut self,
        mailbox: Mailbox<'static>,
        flags: Vec<Flag<'static>>,
        date: Option<DateTime>,
        message: LiteralOrLiteral8<'static>,
    ) -> CmdResult<Done> {
        let name = mailbox_name(&mailbox)?;
        let user = self
            .state
            .user()
            .map(|u| u.id)
            .ok_or_else(|| CmdError::bad("Not logged in"))?;
        let flags = flags_to_store(&flags)?;
        let raw: Vec<u8> = match message {
            LiteralOrLiteral8::Literal(l) => l.into_inner().into_owned(),
            LiteralOrLiteral8::Literal8(l) => l.data.into_owned(),
        };
        if raw.is_empty() {
            return Err(CmdError::no_code(
                code_cannot(),
                "Cannot store an empty message",
            ));
        }
        let date = date.map(|d| *d.as_ref());
        let size = raw.len();
        let lookup = name.clone();
        let result = self
            .db(move |s| {
                let mb = match s.mailbox(user, &lookup)? {
                    Some(mb) if !mb.noselect => mb,
                    Some(_) => {
                        return Err(StoreError::NotAllowed(format!(
                            "{lookup} is \\Noselect and cannot hold messages"
                        )))
                    }
                    None => return Ok(None),
                };
                let msg = crate::message::prepare(raw, flags, date);
                Ok(Some(s.append(mb.id, std::slice::from_ref(&msg))?))
            })
            .await?;
        let Some(appended) = result else {
            return Err(CmdError::no_code(
                Code::TryCreate,
                format!("No such mailbox: {name}"),
            ));
        };
        let Some(a) = appended.first() else {
            return Err(CmdError::no("Nothing was appended"));
        };
        log::debug!(
            "session {} ({}): appended {size} bytes to {name} as UID {}",
            self.id,
            self.peer,
            a.uid
        );
        Ok(Done::with_code(
            Code::AppendUid {
                uid_validity: nz(a.uidvalidity),
                uid: nz(a.uid),
            },
            "APPEND completed",
        ))
    }
}

impl Session {
    pub(crate) async fn cmd_multiappend(&mut self, m: MultiAppend) -> CmdResult<Done> {
        let name = mailbox_name(&m.mailbox)?;
        let user = self
            .state
            .user()
            .map(|u| u.id)
            .ok_or_else(|| CmdError::bad("Not logged in"))?;
        let count = m.messages.len();
        // Everything is checked before anything is stored: one bad message stores none.
        let mut prepared = Vec::with_capacity(count);
        for (i, msg) in m.messages.into_iter().enumerate() {
            let flags = flags_to_store(&msg.flags).map_err(|e| match e {
                CmdError::Bad(t) => CmdError::Bad(format!("Message {}: {t}", i + 1)),
                other => other,
            })?;
            let raw: Vec<u8> = match msg.message {
                LiteralOrLiteral8::Literal(l) => l.into_inner().into_owned(),
                LiteralOrLiteral8::Literal8(l) => l.data.into_owned(),
            };
            if raw.is_empty() {
                return Err(CmdError::no_code(
                    code_cannot(),
                    format!("Message {} is empty; nothing was appended", i + 1),
                ));
            }
            prepared.push((raw, flags, msg.date.map(|d| *d.as_ref())));
        }
        let size: usize = prepared.iter().map(|(r, _, _)| r.len()).sum();
        let lookup = name.clone();
        let result = self
            .db(move |s| {
                let mb = match s.mailbox(user, &lookup)? {
                    Some(mb) if !mb.noselect => mb,
                    Some(_) => {
                        return Err(StoreError::NotAllowed(format!(
                            "{lookup} is \\Noselect and cannot hold messages"
                        )))
                    }
                    None => return Ok(None),
                };
                let msgs: Vec<_> = prepared
                    .into_iter()
                    .map(|(raw, flags, date)| crate::message::prepare(raw, flags, date))
                    .collect();
                Ok(Some(s.append(mb.id, &msgs)?))
            })
            .await?;
        let Some(appended) = result else {
            return Err(CmdError::no_code(
                Code::TryCreate,
                format!("No such mailbox: {name}"),
            ));
        };
        let Some(first) = appended.first() else {
            return Err(CmdError::no("Nothing was appended"));
        };
        let uids: Vec<u32> = appended.iter().map(|a| a.uid).collect();
        log::debug!(
            "session {} ({}): appended {count} messages ({size} bytes) to {name} as UIDs {}",
            self.id,
            self.peer,
            compact_set(&uids)
        );
        // imap-codec's APPENDUID holds one UID; RFC 3502 answers with the set of them.
        let code = format!("APPENDUID {} {}", first.uidvalidity, compact_set(&uids));
        Ok(Done::with_code(
            Code::Other(CodeOther::unvalidated(code.into_bytes())),
            "APPEND completed",
        ))
    }
}
