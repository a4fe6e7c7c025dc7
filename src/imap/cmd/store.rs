//! STORE, COPY and their UID forms (RFC 3501 §6.4.6, §6.4.7, §6.4.8).

use std::collections::BTreeSet;

use imap_codec::imap_types::command::StoreModifier;
use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::extensions::uidplus::{UidElement, UidSet};
use imap_codec::imap_types::fetch::MessageDataItem;
use imap_codec::imap_types::flag::{Flag, StoreResponse, StoreType};
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::response::Code;
use imap_codec::imap_types::sequence::{SeqOrUid, Sequence, SequenceSet};

use super::{fetch_flags, flags_to_store};
use crate::imap::cmd::fetch::modseq_item;
use crate::imap::cmd::mailbox::nz;
use crate::imap::session::{Done, Session};
use crate::imap::{code_cannot, mailbox_name, CmdError, CmdResult};
use crate::store::{FlagOp, FlagStore, StoreError};

impl Session {
    /// The UIDs a command names, in ascending order; a sequence number beyond the mailbox is
    /// an error (RFC 3501), a UID that does not exist is ignored (§6.4.8).
    pub(crate) fn target_uids(&self, set: &SequenceSet, uid: bool) -> CmdResult<Vec<u32>> {
        let sel = self
            .state
            .selected()
            .ok_or_else(|| CmdError::bad("No mailbox selected"))?;
        if !uid && !sel.view.seqs_in_range(set) {
            return Err(CmdError::bad(format!(
                "Sequence number beyond the mailbox ({} messages)",
                sel.view.len()
            )));
        }
        let idx = if uid {
            sel.view.resolve_uids(set)
        } else {
            sel.view.resolve_seqs(set)
        };
        Ok(idx
            .into_iter()
            .filter_map(|i| sel.view.uids().get(i).copied())
            .collect())
    }

    pub(crate) async fn cmd_store(
        &mut self,
        set: SequenceSet,
        kind: StoreType,
        response: StoreResponse,
        flags: Vec<Flag<'static>>,
        uid: bool,
        modifiers: Vec<StoreModifier>,
    ) -> CmdResult<Done> {
        let unchanged_since = modifiers
            .iter()
            .map(|StoreModifier::UnchangedSince(n)| *n)
            .next();
        // RFC 7162 §3.1: UNCHANGEDSINCE enables CONDSTORE.
        self.condstore |= unchanged_since.is_some();
        let (mailbox, read_only) = match self.state.selected() {
            Some(s) => (s.mailbox, s.read_only),
            None => return Err(CmdError::bad("No mailbox selected")),
        };
        if read_only {
            return Err(CmdError::no_code(
                code_cannot(),
                "Mailbox is read-only (EXAMINE): flags cannot be changed",
            ));
        }
        let uids = self.target_uids(&set, uid)?;
        let flags = flags_to_store(&flags)?;
        let op = match kind {
            StoreType::Replace => FlagOp::Replace,
            StoreType::Add => FlagOp::Add,
            StoreType::Remove => FlagOp::Remove,
        };
        let new_keywords: BTreeSet<String> = match self.state.selected() {
            Some(sel) if op != FlagOp::Remove => flags
                .iter()
                .filter(|f| {
                    !f.starts_with('\\') && !sel.keywords.iter().any(|k| k.eq_ignore_ascii_case(f))
                })
                .cloned()
                .collect(),
            _ => BTreeSet::new(),
        };
        let FlagStore {
            modseq,
            changes,
            modified,
        } = self
            .db(move |s| match unchanged_since {
                Some(n) => s.store_flags_unchanged_since(mailbox, &uids, op, &flags, n),
                None => s
                    .store_flags(mailbox, &uids, op, &flags)
                    .map(|(modseq, changes)| FlagStore {
                        modseq,
                        changes,
                        modified: Vec::new(),
                    }),
            })
            .await?;
        if let Some(sel) = self.state.selected_mut() {
            sel.own_modseqs.insert(modseq);
        }
        let condstore = self.condstore;
        if !new_keywords.is_empty() {
            self.announce_keywords(new_keywords).await?;
        }
        let answer = response == StoreResponse::Answer;
        if answer || condstore {
            for ch in &changes {
                // With CONDSTORE, .SILENT still reports the new modseq of what changed
                // (RFC 7162 §3.1.3), and only that.
                if !answer && !ch.changed {
                    continue;
                }
                let Some(sel) = self.state.selected() else {
                    break;
                };
                let Some(seq) = sel.view.seq(ch.uid) else {
                    continue;
                };
                let recent = sel.recent.contains(&ch.uid);
                let mut items = Vec::with_capacity(3);
                if uid {
                    items.push(MessageDataItem::Uid(nz(ch.uid)));
                }
                if answer {
                    items.push(MessageDataItem::Flags(fetch_flags(&ch.flags, recent)));
                }
                if condstore {
                    items.push(modseq_item(ch.modseq));
                }
                self.send_fetch(seq, ch.uid, items).await?;
            }
        }
        // RFC 7162 §3.1.3: the messages that failed UNCHANGEDSINCE, as UIDs for UID STORE and
        // as sequence numbers otherwise.
        let failed: Vec<u32> = match self.state.selected() {
            Some(_) if uid => modified,
            Some(sel) => modified.iter().filter_map(|u| sel.view.seq(*u)).collect(),
            None => Vec::new(),
        };
        if let Some(set) = sequence_set(&failed) {
            return Ok(Done::with_code(
                Code::Modified(set),
                "Conditional STORE failed",
            ));
        }
        // A message another session expunged, that this one still numbers, takes the change
        // and loses it with the message: OK, as Dovecot answers (RFC 2180 §4.2 allows either).
        Ok(Done::ok(if uid {
            "UID STORE completed"
        } else {
            "STORE completed"
        }))
    }

    pub(crate) async fn cmd_copy(
        &mut self,
        set: SequenceSet,
        target: Mailbox<'static>,
        uid: bool,
    ) -> CmdResult<Done> {
        let (uidvalidity, pairs) = self.copy_or_move(set, target, uid, false).await?;
        let text = if uid {
            "UID COPY completed"
        } else {
            "COPY completed"
        };
        match copyuid(uidvalidity, &pairs) {
            Some(code) => Ok(Done::with_code(code, text)),
            None => Ok(Done::ok(text)),
        }
    }

    /// MOVE and UID MOVE (RFC 6851): copy and expunge in one transaction, then
    /// `* OK [COPYUID ...]` before the `* N EXPUNGE` responses (§4.3), then the tagged OK. An
    /// empty set, or UIDs that no longer exist, move nothing and answer a plain OK.
    pub(crate) async fn cmd_move(
        &mut self,
        set: SequenceSet,
        target: Mailbox<'static>,
        uid: bool,
    ) -> CmdResult<Done> {
        if self.state.selected().is_some_and(|s| s.read_only) {
            return Err(CmdError::no_code(
                code_cannot(),
                "Mailbox is read-only (EXAMINE): messages cannot be moved out of it",
            ));
        }
        let (uidvalidity, pairs) = self.copy_or_move(set, target, uid, true).await?;
        if let Some(code) = copyuid(uidvalidity, &pairs) {
            self.untagged_ok(Some(code), "Moved").await?;
        }
        let gone: Vec<u32> = pairs.iter().map(|p| p.0).collect();
        self.announce_expunges(&gone).await?;
        Ok(Done::ok(if uid {
            "UID MOVE completed"
        } else {
            "MOVE completed"
        }))
    }

    /// The work shared by COPY and MOVE: resolve the set and the target folder, then copy
    /// (or move) in one transaction. A missing target is `NO [TRYCREATE]`.
    async fn copy_or_move(
        &mut self,
        set: SequenceSet,
        target: Mailbox<'static>,
        uid: bool,
        remove: bool,
    ) -> CmdResult<(u32, Vec<(u32, u32)>)> {
        let from = self
            .state
            .selected()
            .map(|s| s.mailbox)
            .ok_or_else(|| CmdError::bad("No mailbox selected"))?;
        let user = self
            .state
            .user()
            .map(|u| u.id)
            .ok_or_else(|| CmdError::bad("Not logged in"))?;
        let uids = self.target_uids(&set, uid)?;
        let name = mailbox_name(&target, self.utf8_names())?;
        let lookup = name.clone();
        let result = self
            .db(move |s| {
                let dst = match s.mailbox(user, &lookup)? {
                    Some(mb) if !mb.noselect => mb,
                    Some(_) => {
                        return Err(StoreError::NotAllowed(format!(
                            "{lookup} is \\Noselect and cannot hold messages"
                        )))
                    }
                    None => return Ok(None),
                };
                if remove {
                    Ok(Some(s.move_messages(from, &uids, dst.id)?))
                } else {
                    Ok(Some(s.copy(from, &uids, dst.id)?))
                }
            })
            .await?;
        result.ok_or_else(|| CmdError::no_code(Code::TryCreate, format!("No such mailbox: {name}")))
    }
}

/// `[COPYUID v source destination]` (RFC 4315) for (source, destination) UID pairs.
pub(crate) fn copyuid(uidvalidity: u32, pairs: &[(u32, u32)]) -> Option<Code<'static>> {
    let src = uid_set(pairs.iter().map(|p| p.0))?;
    let dst = uid_set(pairs.iter().map(|p| p.1))?;
    Some(Code::CopyUid {
        uid_validity: nz(uidvalidity),
        source: src,
        destination: dst,
    })
}

/// A UID set that keeps the given order (COPYUID pairs the n-th source with the n-th
/// destination), with consecutive runs as ranges.
fn uid_set(uids: impl Iterator<Item = u32>) -> Option<UidSet> {
    let elems: Vec<UidElement> = runs(uids)
        .into_iter()
        .map(|(lo, hi)| {
            if lo == hi {
                UidElement::Single(nz(lo))
            } else {
                UidElement::Range(nz(lo), nz(hi))
            }
        })
        .collect();
    Vec1::try_from(elems).ok().map(UidSet)
}

/// Consecutive numbers as (first, last) runs, in the given order.
fn runs(numbers: impl Iterator<Item = u32>) -> Vec<(u32, u32)> {
    let mut runs: Vec<(u32, u32)> = Vec::new();
    for u in numbers {
        match runs.last_mut() {
            Some((_, hi)) if hi.checked_add(1) == Some(u) => *hi = u,
            _ => runs.push((u, u)),
        }
    }
    runs
}

/// Numbers as a sequence set with consecutive runs as ranges (`[MODIFIED 1:3,7]`); `None`
/// when there are none.
pub(crate) fn sequence_set(numbers: &[u32]) -> Option<SequenceSet> {
    let seqs: Vec<Sequence> = runs(numbers.iter().copied())
        .into_iter()
        .map(|(lo, hi)| {
            if lo == hi {
                Sequence::Single(SeqOrUid::Value(nz(lo)))
            } else {
                Sequence::Range(SeqOrUid::Value(nz(lo)), SeqOrUid::Value(nz(hi)))
            }
        })
        .collect();
    SequenceSet::try_from(seqs).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use imap_codec::encode::Encoder;
    use imap_codec::imap_types::response::{Response, Status};

    #[test]
    fn copyuid_keeps_runs_and_order() {
        let code = copyuid(7, &[(1, 10), (2, 11), (5, 12), (9, 13)]).unwrap();
        let status = Status::ok(None, Some(code), "x").unwrap();
        let out = imap_codec::ResponseCodec::default()
            .encode(&Response::Status(status))
            .dump();
        assert_eq!(out, b"* OK [COPYUID 7 1:2,5,9 10:13] x\r\n");
        assert!(copyuid(7, &[]).is_none());
    }
}
