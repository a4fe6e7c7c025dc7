//! SELECT, EXAMINE, CLOSE, UNSELECT and EXPUNGE: entering and leaving the selected state.

use std::collections::BTreeSet;

use imap_codec::imap_types::command::SelectParameter;
use imap_codec::imap_types::flag::Flag;
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::response::{Code, Data};

use super::{flag_from_store, permanent_flags, SYSTEM_FLAGS};
use crate::imap::cmd::mailbox::{nz, nz64};
use crate::imap::session::{Done, Session};
use crate::imap::state::{Selected, State};
use crate::imap::view::MailboxView;
use crate::imap::{code_cannot, code_nonexistent, mailbox_name, CmdError, CmdResult};

impl Session {
    pub(crate) async fn cmd_select(
        &mut self,
        mailbox: Mailbox<'static>,
        parameters: Vec<SelectParameter>,
        read_only: bool,
    ) -> CmdResult<Done> {
        let mut resync = None;
        for p in parameters {
            match p {
                SelectParameter::CondStore => self.condstore = true,
                // RFC 7162 §3.2.5: QRESYNC parameters without ENABLE QRESYNC are BAD.
                SelectParameter::QResync { .. } if !self.qresync => {
                    return Err(CmdError::bad(
                        "QRESYNC parameters need ENABLE QRESYNC first",
                    ))
                }
                SelectParameter::QResync {
                    uid_validity,
                    mod_sequence_value,
                    known_uids,
                    ..
                } => resync = Some((uid_validity.get(), mod_sequence_value.get(), known_uids)),
            }
        }
        // Whatever happens next, the previous mailbox is no longer selected (RFC 3501 §6.3.1);
        // RFC 7162 §3.2.11: `[CLOSED]` marks where its responses end.
        if self.state.selected().is_some() {
            self.state.deselect();
            self.untagged_ok(Some(Code::Closed), "Previous mailbox closed")
                .await?;
        }
        let name = mailbox_name(&mailbox, self.utf8_names())?;
        let user = self
            .state
            .user()
            .cloned()
            .ok_or_else(|| CmdError::bad("Not logged in"))?;
        let lookup = name.clone();
        let uid = user.id;
        let notifier = self.ctx.notifier.clone();
        // RFC 9051 has no \Recent: a rev2 session claims none, leaving them to rev1 sessions.
        let claim_recent = !read_only && !self.rev2;
        let (snapshot, hold, watch, external_seen) = self
            .db(move |s| {
                let mb = s.mailbox(uid, &lookup)?.ok_or_else(|| {
                    crate::store::StoreError::NotFound(format!("No such mailbox: {lookup}"))
                })?;
                if mb.noselect {
                    return Err(crate::store::StoreError::NotAllowed(format!(
                        "{lookup} is \\Noselect: it only holds other folders"
                    )));
                }
                // Watched before the snapshot is read: no later commit goes unnoticed.
                let watch = notifier.watch(mb.id);
                let external_seen = (watch.external_changes(), watch.key_resets());
                let (snapshot, hold) = s.select_view(mb.id, claim_recent)?;
                Ok((snapshot, hold, watch, external_seen))
            })
            .await
            .map_err(|e| match e {
                crate::store::StoreError::NotFound(t) => CmdError::no_code(code_nonexistent(), t),
                crate::store::StoreError::NotAllowed(t) => CmdError::no_code(code_cannot(), t),
                other => CmdError::from(other),
            })?;
        let mut snapshot = snapshot;
        if self.rev2 {
            snapshot.recent.clear();
        }
        let keywords = snapshot.keywords.clone();

        let mb = &snapshot.mailbox;
        let view = MailboxView::new(snapshot.uids.clone());
        let mut flags: Vec<Flag<'static>> = SYSTEM_FLAGS.to_vec();
        flags.extend(keywords.iter().filter_map(|k| flag_from_store(k)));
        self.data(Data::Flags(flags)).await?;
        self.untagged_ok(
            Some(Code::PermanentFlags(permanent_flags(read_only))),
            if read_only {
                "No permanent flags permitted"
            } else {
                "Flags permitted"
            },
        )
        .await?;
        self.data(Data::Exists(view.len())).await?;
        // RFC 9051 §6.3.2: no RECENT and no UNSEEN code in rev2; it lists the mailbox instead.
        if self.rev2 {
            let written = match &mailbox {
                Mailbox::Other(o) => std::str::from_utf8(o.as_ref()).ok(),
                Mailbox::Inbox => None,
            };
            self.list_selected(mb, written).await?;
        } else {
            self.data(Data::Recent(snapshot.recent.len() as u32))
                .await?;
        }
        if let Some(seq) = snapshot
            .first_unseen
            // RFC 9586: no message sequence numbers in responses, so no UNSEEN either.
            .filter(|_| !self.rev2 && !self.uidonly)
            .and_then(|u| view.seq(u))
        {
            self.untagged_ok(
                Some(Code::Unseen(nz(seq))),
                &format!("Message {seq} is first unseen"),
            )
            .await?;
        }
        self.untagged_ok(Some(Code::UidValidity(nz(mb.uidvalidity))), "UIDs valid")
            .await?;
        self.untagged_ok(Some(Code::UidNext(nz(mb.uidnext))), "Predicted next UID")
            .await?;
        // RFC 8474 §4.1.
        self.untagged_ok(
            Some(crate::imap::ext::objid::mailbox_id_code(
                &snapshot.object_id,
            )),
            "Ok",
        )
        .await?;
        // RFC 4467 §7: the mechanisms this mailbox's URLs can be authorized with.
        self.untagged_ok(
            Some(crate::imap::ext::urlauth::urlmech_code()),
            "URLAUTH mechanisms",
        )
        .await?;
        // RFC 7162 §3.1.2.1: every mailbox keeps modseqs, so every SELECT reports the highest
        // (never NOMODSEQ); a new, empty mailbox has 1 at the least (modseqs are nonzero).
        self.untagged_ok(
            Some(Code::HighestModSeq(nz64(mb.highest_modseq))),
            "Highest",
        )
        .await?;

        let selected = Selected {
            mailbox: mb.id,
            name: mb.name.clone(),
            uidvalidity: mb.uidvalidity,
            read_only,
            view,
            modseq: mb.highest_modseq,
            own_modseqs: BTreeSet::new(),
            pending_expunges: BTreeSet::new(),
            recent: snapshot.recent.iter().copied().collect(),
            claimed: Vec::new(),
            watch,
            external_seen: external_seen.0,
            key_resets_seen: external_seen.1,
            keywords: keywords.into_iter().collect(),
            hold,
            saved_search: Vec::new(),
            live: Vec::new(),
            prefetched: None,
        };
        // The snapshot may be newer than the row read before it; sync catches up from the
        // row's modseq, which is never newer than the snapshot.
        self.state = State::Selected(user, Box::new(selected));
        // A wrong UIDVALIDITY makes it a plain SELECT (RFC 7162 §3.2.5).
        if let Some((_, since, known)) = resync.filter(|r| r.0 == snapshot.mailbox.uidvalidity) {
            self.resync(since, known.as_ref()).await?;
        }
        log::debug!("session {} ({}): selected {}", self.id, self.peer, name);
        if read_only {
            Ok(Done::with_code(Code::ReadOnly, "EXAMINE completed"))
        } else {
            Ok(Done::with_code(Code::ReadWrite, "SELECT completed"))
        }
    }

    pub(crate) async fn cmd_close(&mut self) -> CmdResult<Done> {
        if let Some(sel) = self.state.selected() {
            if !sel.read_only {
                // CLOSE expunges silently: no untagged EXPUNGE responses.
                let mb = sel.mailbox;
                self.db(move |s| s.expunge(mb, None)).await?;
            }
        }
        self.state.deselect();
        Ok(Done::ok("CLOSE completed"))
    }

    pub(crate) async fn cmd_unselect(&mut self) -> CmdResult<Done> {
        self.state.deselect();
        Ok(Done::ok("UNSELECT completed"))
    }

    /// UID EXPUNGE (RFC 4315, advertised with UIDPLUS): only the `\Deleted` messages among
    /// the UIDs of `set` that this session's view holds.
    /// EXPUNGE, and UID EXPUNGE when `only` names the UIDs (RFC 4315).
    pub(crate) async fn cmd_expunge(&mut self, only: Option<Vec<u32>>) -> CmdResult<Done> {
        let (mb, read_only, view) = match self.state.selected() {
            Some(s) => (s.mailbox, s.read_only, s.hold.id()),
            None => return Err(CmdError::bad("No mailbox selected")),
        };
        if read_only {
            return Err(CmdError::no_code(
                code_cannot(),
                "Mailbox is read-only (EXAMINE): nothing can be expunged",
            ));
        }
        // Every UID gone is announced below, so this view need not keep them readable.
        let (modseq, gone) = self
            .db(move |s| s.expunge_in_view(view, mb, only.as_deref()))
            .await?;
        if let Some(sel) = self.state.selected_mut().filter(|_| !gone.is_empty()) {
            // Announced below: the next sync need not ask the store about it.
            sel.own_modseqs.insert(modseq);
        }
        self.announce_expunges(&gone).await?;
        Ok(Done::ok("EXPUNGE completed"))
    }
}
