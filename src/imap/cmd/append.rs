//! APPEND (RFC 3501 §6.3.11): store a message, committed before the OK.

use imap_codec::imap_types::datetime::DateTime;
use imap_codec::imap_types::extensions::binary::LiteralOrLiteral8;
use imap_codec::imap_types::flag::Flag;
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::response::Code;

use super::flags_to_store;
use crate::imap::cmd::mailbox::nz;
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
