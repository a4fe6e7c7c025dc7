//! The one place that turns store changes into untagged EXISTS / RECENT / EXPUNGE / FETCH FLAGS.
//!
//! A selected session remembers the highest modseq it has taken into account. At each point
//! where the RFC lets the server speak, it asks the store what changed since then (unless the
//! notifier shows that nothing but its own changes has been committed since) and tells its
//! client, in an order that keeps every sequence number valid when it is sent:
//! expunges first (only where allowed; otherwise they wait in `pending_expunges` and the
//! messages keep their numbers), then flag changes, then new messages as EXISTS, then what
//! the arrivals and changes did to searches kept with RETURN (UPDATE) (`cmd::context`).

use std::collections::BTreeSet;

use imap_codec::imap_types::fetch::MessageDataItem;
use imap_codec::imap_types::response::Data;
use imap_codec::imap_types::sequence::SequenceSet;

use super::cmd::fetch::modseq_item;
use super::cmd::mailbox::nz;
use super::cmd::store::sequence_set;
use super::cmd::{fetch_flags, flag_from_store, SYSTEM_FLAGS};
use super::session::Session;
use super::view::MailboxView;
use super::{CmdError, CmdResult};

impl Session {
    /// Bring the client's view up to date. `allow_expunge` is false while a command that uses
    /// sequence numbers is being answered (RFC 3501 §7.4.1).
    pub(crate) async fn sync(&mut self, allow_expunge: bool) -> CmdResult {
        let Some(sel) = self.state.selected_mut() else {
            return Ok(());
        };
        // RFC 4467 §6.1: another session reset this mailbox's access key.
        let resets = sel.watch.key_resets();
        if resets != sel.key_resets_seen {
            sel.key_resets_seen = resets;
            self.untagged_ok(
                Some(crate::imap::ext::urlauth::urlmech_code()),
                "Mailbox access key reset",
            )
            .await?;
        }
        let Some(sel) = self.state.selected_mut() else {
            return Ok(());
        };
        let (mailbox, known) = (sel.mailbox, sel.modseq);
        let has_pending = !sel.pending_expunges.is_empty();
        // Nothing to ask the store when no commit has moved the mailbox past what this session
        // knows, or only its own commits have (their effects are already reported), and no
        // other process has written since the last look.
        let external = sel.watch.external_changes();
        if external == sel.external_seen && !(allow_expunge && has_pending) {
            let latest = sel.watch.latest();
            if latest <= known {
                return Ok(());
            }
            // A live search (RFC 5267 §4.3) must also see this session's own changes.
            if sel.live.is_empty() && (known + 1..=latest).all(|m| sel.own_modseqs.contains(&m)) {
                sel.modseq = latest;
                sel.own_modseqs.retain(|m| *m > latest);
                return Ok(());
            }
        }
        // Read by this command's own job (an APPEND here) after its commit: no second trip.
        let changes = match sel.prefetched.take().filter(|p| p.known == known) {
            Some(p) => {
                // Other processes' commits counted after that read are asked for next time.
                sel.external_seen = p.external;
                Ok(p.changes)
            }
            None => {
                sel.external_seen = external;
                self.db(move |s| s.changes_since(mailbox, known)).await
            }
        };
        let changes = match changes {
            Ok(c) => c,
            Err(crate::store::StoreError::NotFound(_)) => {
                return Err(CmdError::Bye("The selected mailbox was deleted".into()))
            }
            Err(e) => return Err(e.into()),
        };
        if changes.highest_modseq <= known && !(allow_expunge && has_pending) {
            return Ok(());
        }

        // Sort the changes against the view.
        let Some(sel) = self.state.selected_mut() else {
            return Ok(());
        };
        let max_known = sel.view.max_uid().unwrap_or(0);
        let mut new_uids = Vec::new();
        let mut flag_updates = Vec::new();
        // Arrived or changed, for the live searches (this session's own changes included).
        let mut touched = Vec::new();
        for (uid, modseq, flags) in changes.changed {
            if uid > max_known {
                new_uids.push(uid);
                flag_updates.push((uid, modseq, flags)); // for its keywords; no seq yet, so no FETCH
            } else if sel.view.seq(uid).is_some() && !sel.pending_expunges.contains(&uid) {
                touched.push(uid);
                if !sel.own_modseqs.contains(&modseq) {
                    flag_updates.push((uid, modseq, flags));
                }
            }
        }
        let mut never_numbered = Vec::new();
        for uid in changes.expunged {
            if sel.view.seq(uid).is_some() {
                sel.pending_expunges.insert(uid);
            } else {
                never_numbered.push(uid);
            }
        }
        // Added and expunged before this client heard of them: nothing to keep readable.
        sel.hold.release(&never_numbered);
        sel.modseq = sel.modseq.max(changes.highest_modseq);
        let upto = sel.modseq;
        sel.own_modseqs.retain(|m| *m > upto);
        let read_only = sel.read_only;

        // 1. Expunges, where allowed.
        if allow_expunge && !sel.pending_expunges.is_empty() {
            let gone: Vec<u32> = std::mem::take(&mut sel.pending_expunges)
                .into_iter()
                .collect();
            self.announce_expunges(&gone).await?;
        }

        // 2. Flag changes by others, and a new FLAGS list if they brought new keywords.
        let mut new_keywords = BTreeSet::new();
        if let Some(sel) = self.state.selected() {
            for (_, _, flags) in &flag_updates {
                for f in flags {
                    if !f.starts_with('\\')
                        && !sel.keywords.iter().any(|k| k.eq_ignore_ascii_case(f))
                    {
                        new_keywords.insert(f.clone());
                    }
                }
            }
        }
        if !new_keywords.is_empty() {
            self.announce_keywords(new_keywords).await?;
        }
        let condstore = self.condstore;
        for (uid, modseq, flags) in flag_updates {
            let Some(sel) = self.state.selected() else {
                break;
            };
            let Some(seq) = sel.view.seq(uid) else {
                continue;
            };
            let recent = sel.recent.contains(&uid);
            let mut items = vec![MessageDataItem::Flags(fetch_flags(&flags, recent))];
            // RFC 7162 §3.1: once CONDSTORE is on, an unsolicited FETCH carries MODSEQ.
            if condstore {
                items.push(modseq_item(modseq));
            }
            self.send_fetch(seq, uid, items).await?;
        }

        // 3. New messages: EXISTS, and RECENT for those this session is first to see.
        if !new_uids.is_empty() {
            // UIDs this session already claimed (its own APPEND did) need no write.
            let (mut claimed, unclaimed): (Vec<u32>, Vec<u32>) = {
                let Some(sel) = self.state.selected() else {
                    return Ok(());
                };
                new_uids
                    .iter()
                    .partition(|u| sel.claimed.iter().any(|r| r.contains(u)))
            };
            // RFC 9051 has no \Recent: a rev2 session claims none and announces no RECENT.
            if !read_only && !self.rev2 && !unclaimed.is_empty() {
                claimed.extend(
                    self.db(move |s| s.claim_recent(mailbox, &unclaimed))
                        .await?,
                );
            }
            let Some(sel) = self.state.selected_mut() else {
                return Ok(());
            };
            let newest = new_uids.last().copied().unwrap_or(0);
            sel.claimed.retain(|r| r.end > newest + 1);
            for uid in &new_uids {
                sel.view.push(*uid);
            }
            sel.recent.extend(claimed);
            let exists = sel.view.len();
            let recent = sel.recent.len() as u32;
            self.data(Data::Exists(exists)).await?;
            if !self.rev2 {
                self.data(Data::Recent(recent)).await?;
            }
        }

        // 4. What the changes and arrivals did to live searches (after the EXISTS that
        //    numbers the new messages, RFC 5267 §4.3.3).
        touched.extend(new_uids);
        self.live_changed(touched).await
    }

    /// Remove UIDs from the view and send `* N EXPUNGE` for each, in a valid order.
    pub(crate) async fn announce_expunges(&mut self, uids: &[u32]) -> CmdResult {
        // REMOVEFROM while the view still numbers them (RFC 5267 §4.3.4).
        self.live_expunged(uids).await?;
        let Some(sel) = self.state.selected_mut() else {
            return Ok(());
        };
        let seqs = sel.view.remove_all(uids);
        for uid in uids {
            sel.recent.remove(uid);
            sel.pending_expunges.remove(uid);
        }
        // Released before the responses go out: once the client has them it cannot name these
        // messages any more, and a write that fails ends the session, which releases anyway.
        sel.hold.release(uids);
        if self.qresync || self.uidonly {
            // RFC 7162 §3.2.10: with QRESYNC, expunges are told by UID, in one response; RFC
            // 9586 §3 asks the same of UIDONLY.
            let mut sorted = uids.to_vec();
            sorted.sort_unstable();
            if let Some(set) = sequence_set(&sorted) {
                self.data(Data::Vanished {
                    earlier: false,
                    known_uids: set,
                })
                .await?;
            }
            return Ok(());
        }
        for seq in seqs {
            self.data(Data::Expunge(nz(seq))).await?;
        }
        Ok(())
    }

    /// QRESYNC at SELECT (RFC 7162 §3.2.5.1): `* VANISHED (EARLIER)` for the UIDs expunged
    /// after `since` (only those in `known` when the client gave it), then a FETCH (UID FLAGS
    /// MODSEQ) of every message changed or added after it.
    pub(crate) async fn resync(&mut self, since: u64, known: Option<&SequenceSet>) -> CmdResult {
        let Some(sel) = self.state.selected() else {
            return Ok(());
        };
        let mailbox = sel.mailbox;
        let changes = self.db(move |s| s.changes_since(mailbox, since)).await?;
        self.vanished_earlier(&changes.expunged, known).await?;
        for (uid, modseq, flags) in changes.changed {
            let Some(sel) = self.state.selected() else {
                break;
            };
            let Some(seq) = sel.view.seq(uid) else {
                continue;
            };
            let recent = sel.recent.contains(&uid);
            let items = vec![
                MessageDataItem::Uid(nz(uid)),
                MessageDataItem::Flags(fetch_flags(&flags, recent)),
                modseq_item(modseq),
            ];
            self.send_fetch(seq, uid, items).await?;
        }
        Ok(())
    }

    /// `* VANISHED (EARLIER) uids` for those of `expunged` (ascending) within `set` (all when
    /// `None`). UIDs this session still numbers are left out: it announces them with a plain
    /// VANISHED when they leave its view.
    pub(crate) async fn vanished_earlier(
        &mut self,
        expunged: &[u32],
        set: Option<&SequenceSet>,
    ) -> CmdResult {
        let Some(sel) = self.state.selected() else {
            return Ok(());
        };
        let gone: Vec<u32> = expunged
            .iter()
            .copied()
            .filter(|u| sel.view.seq(*u).is_none())
            .collect();
        let gone = match set {
            Some(set) => {
                let v = MailboxView::new(gone);
                v.resolve_uids(set)
                    .into_iter()
                    .filter_map(|i| v.uids().get(i).copied())
                    .collect()
            }
            None => gone,
        };
        if let Some(known_uids) = sequence_set(&gone) {
            self.data(Data::Vanished {
                earlier: true,
                known_uids,
            })
            .await?;
        }
        Ok(())
    }

    /// Keywords seen for the first time in this mailbox: send the extended FLAGS list.
    pub(crate) async fn announce_keywords(&mut self, new: BTreeSet<String>) -> CmdResult {
        let Some(sel) = self.state.selected_mut() else {
            return Ok(());
        };
        sel.keywords.extend(new);
        let mut flags = SYSTEM_FLAGS.to_vec();
        flags.extend(sel.keywords.iter().filter_map(|k| flag_from_store(k)));
        self.data(Data::Flags(flags)).await
    }
}
