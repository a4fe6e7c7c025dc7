//! APPEND (RFC 3501 §6.3.11): store a message, committed before the OK. MULTIAPPEND
//! (RFC 3502): several messages in one command, all stored in one transaction or none.

use imap_codec::imap_types::core::LiteralMode;
use imap_codec::imap_types::datetime::DateTime;
use imap_codec::imap_types::extensions::binary::{Literal8, LiteralOrLiteral8};
use imap_codec::imap_types::flag::Flag;
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::response::{Code, CodeOther};

use super::flags_to_store;
use crate::imap::cmd::mailbox::nz;
use crate::imap::ext::append::{AppendData, MultiAppend, Replace};
use crate::imap::ext::search::compact_set;
use crate::imap::session::{Done, Session};
use crate::imap::state::Prefetched;
use crate::imap::{code_cannot, mailbox_name, CmdError, CmdResult};
use crate::store::{AppendedMessage, StoreError};

/// One message of an APPEND, checked and ready to store: bytes, flags, internal date.
type Checked = (
    Vec<u8>,
    Vec<String>,
    Option<chrono::DateTime<chrono::FixedOffset>>,
);

/// Check one message of an APPEND; `which` names it in errors of a MULTIAPPEND.
fn check(
    flags: &[Flag<'static>],
    date: Option<DateTime>,
    message: LiteralOrLiteral8<'static>,
    which: Option<usize>,
) -> CmdResult<Checked> {
    let flags = flags_to_store(flags).map_err(|e| match (e, which) {
        (CmdError::Bad(t), Some(i)) => CmdError::Bad(format!("Message {i}: {t}")),
        (other, _) => other,
    })?;
    let raw: Vec<u8> = match message {
        LiteralOrLiteral8::Literal(l) => l.into_inner().into_owned(),
        LiteralOrLiteral8::Literal8(l) => l.data.into_owned(),
    };
    if raw.is_empty() {
        return Err(CmdError::no_code(
            code_cannot(),
            match which {
                Some(i) => format!("Message {i} is empty; nothing was appended"),
                None => "Cannot store an empty message".into(),
            },
        ));
    }
    Ok((raw, flags, date.map(|d| *d.as_ref())))
}

impl Session {
    pub(crate) async fn cmd_append(
        &mut self,
        mailbox: Mailbox<'static>,
        flags: Vec<Flag<'static>>,
        date: Option<DateTime>,
        message: LiteralOrLiteral8<'static>,
    ) -> CmdResult<Done> {
        let name = mailbox_name(&mailbox, self.utf8_names())?;
        let msg = check(&flags, date, message, None)?;
        let size = msg.0.len();
        let appended = self.store_appended(&name, vec![msg]).await?;
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

    pub(crate) async fn cmd_multiappend(&mut self, m: MultiAppend) -> CmdResult<Done> {
        let name = mailbox_name(&m.mailbox, self.utf8_names())?;
        let count = m.messages.len();
        // Everything is checked before anything is stored: one bad message stores none.
        let mut checked = Vec::with_capacity(count);
        // A lone CATENATE message is an APPEND of one: its errors need no number.
        let numbered = count > 1;
        for (i, msg) in m.messages.into_iter().enumerate() {
            let which = numbered.then_some(i + 1);
            let message = match msg.message {
                AppendData::Literal(l) => l,
                AppendData::Catenate(parts) => {
                    let bytes = self.catenate(parts).await?;
                    LiteralOrLiteral8::Literal8(Literal8 {
                        data: bytes.into(),
                        mode: LiteralMode::Sync,
                    })
                }
            };
            checked.push(check(&msg.flags, msg.date, message, which)?);
        }
        let size: usize = checked.iter().map(|(r, _, _)| r.len()).sum();
        let appended = self.store_appended(&name, checked).await?;
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
        if count == 1 {
            return Ok(Done::with_code(
                Code::AppendUid {
                    uid_validity: nz(first.uidvalidity),
                    uid: nz(first.uid),
                },
                "APPEND completed",
            ));
        }
        // imap-codec's APPENDUID holds one UID; RFC 3502 answers with the set of them.
        let code = format!("APPENDUID {} {}", first.uidvalidity, compact_set(&uids));
        Ok(Done::with_code(
            Code::Other(CodeOther::unvalidated(code.into_bytes())),
            "APPEND completed",
        ))
    }

    /// REPLACE / UID REPLACE (RFC 8508): the new message is appended to its folder and the
    /// old one expunged from the selected folder in one transaction; `[APPENDUID]` in an
    /// untagged OK, then the old message's EXPUNGE (or VANISHED), then the tagged OK. When the
    /// append fails (no such folder: `[TRYCREATE]`, too big, …) the old message stays.
    pub(crate) async fn cmd_replace(&mut self, r: Replace) -> CmdResult<Done> {
        let sel = self
            .state
            .selected()
            .ok_or_else(|| CmdError::bad("No mailbox selected"))?;
        if sel.read_only {
            return Err(CmdError::no_code(
                code_cannot(),
                "Mailbox is read-only (EXAMINE): no message can be replaced",
            ));
        }
        let from = sel.mailbox;
        let old = if r.uid {
            if sel.view.seq(r.target).is_none() {
                return Err(CmdError::no(format!("No message with UID {}", r.target)));
            }
            r.target
        } else {
            match sel.view.uids().get(r.target as usize - 1) {
                Some(&uid) => uid,
                None => {
                    return Err(CmdError::bad(format!(
                        "Sequence number beyond the mailbox ({} messages)",
                        sel.view.len()
                    )))
                }
            }
        };
        let name = mailbox_name(&r.mailbox, self.utf8_names())?;
        let (raw, flags, date) = check(&r.flags, r.date, r.message, None)?;
        let user = self
            .state
            .user()
            .map(|u| u.id)
            .ok_or_else(|| CmdError::bad("Not logged in"))?;
        let lookup = name.clone();
        let result = self
            .db(move |s| {
                let Some(mb) = target_mailbox(s, user, &lookup)? else {
                    return Ok(None);
                };
                let msg = crate::message::prepare(raw, flags, date);
                Ok(Some(s.replace(from, old, mb.id, &msg)?))
            })
            .await?;
        let (a, modseq) = result.ok_or_else(|| {
            CmdError::no_code(Code::TryCreate, format!("No such mailbox: {name}"))
        })?;
        if let Some(sel) = self.state.selected_mut() {
            // Announced below: the next sync need not ask the store about it.
            sel.own_modseqs.insert(modseq);
        }
        self.untagged_ok(
            Some(Code::AppendUid {
                uid_validity: nz(a.uidvalidity),
                uid: nz(a.uid),
            }),
            "Replacement Message ID",
        )
        .await?;
        self.announce_expunges(&[old]).await?;
        Ok(Done::ok(if r.uid {
            "UID REPLACE completed"
        } else {
            "REPLACE completed"
        }))
    }

    /// Store checked messages in the user's folder `name`, in one transaction; `[TRYCREATE]`
    /// when it does not exist.
    async fn store_appended(
        &mut self,
        name: &str,
        messages: Vec<Checked>,
    ) -> CmdResult<Vec<AppendedMessage>> {
        let user = self
            .state
            .user()
            .map(|u| u.id)
            .ok_or_else(|| CmdError::bad("Not logged in"))?;
        let lookup = name.to_string();
        // Appending to the mailbox selected read-write claims \Recent in the same commit
        // (not in IMAP4rev2, which has no \Recent).
        let selected = self
            .state
            .selected()
            .filter(|s| !s.read_only && !self.rev2)
            .map(|s| s.mailbox);
        // Appending to the selected mailbox: the same job reads what changed since this
        // session last looked, for the sync after the command (its `* N EXISTS`), which then
        // needs no trip of its own. The count of other processes' commits is taken before.
        let view = self
            .state
            .selected()
            .map(|s| (s.mailbox, s.modseq, s.watch.external_changes()));
        let result = self
            .db(move |s| {
                let Some(mb) = target_mailbox(s, user, &lookup)? else {
                    return Ok(None);
                };
                let msgs: Vec<_> = messages
                    .into_iter()
                    .map(|(raw, flags, date)| crate::message::prepare(raw, flags, date))
                    .collect();
                let (appended, claimed) = if selected == Some(mb.id) {
                    let (appended, claimed) = s.append_claiming(mb.id, &msgs)?;
                    (appended, Some(claimed))
                } else {
                    (s.append(mb.id, &msgs)?, None)
                };
                let prefetched = match view {
                    Some((m, known, external)) if m == mb.id => {
                        // Committed already: a failed read only costs the trip it saves.
                        s.changes_since(m, known).ok().map(|changes| Prefetched {
                            known,
                            external,
                            changes,
                        })
                    }
                    _ => None,
                };
                Ok(Some((appended, claimed, prefetched)))
            })
            .await?;
        let result = result.map(|(appended, claimed, prefetched)| {
            if let Some(sel) = self.state.selected_mut() {
                if let Some(claimed) = claimed.filter(|c| !c.is_empty()) {
                    sel.claimed.push(claimed);
                }
                let same =
                    view.is_some_and(|(m, known, _)| m == sel.mailbox && known == sel.modseq);
                if let Some(p) = prefetched.filter(|_| same) {
                    sel.prefetched = Some(Box::new(p));
                }
            }
            appended
        });
        result.ok_or_else(|| CmdError::no_code(Code::TryCreate, format!("No such mailbox: {name}")))
    }
}

/// The folder an APPEND or REPLACE stores into: None when it does not exist (`[TRYCREATE]`), an
/// error when it is `\Noselect`.
fn target_mailbox(
    s: &crate::store::Store,
    user: crate::store::UserId,
    name: &str,
) -> Result<Option<crate::store::MailboxRow>, StoreError> {
    match s.mailbox(user, name)? {
        Some(mb) if !mb.noselect => Ok(Some(mb)),
        Some(_) => Err(StoreError::NotAllowed(format!(
            "{name} is \\Noselect and cannot hold messages"
        ))),
        None => Ok(None),
    }
}
