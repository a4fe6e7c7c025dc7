//! NOTIFY (RFC 5465): once set, the session is told of changes without asking, between
//! commands, through the same change hub IDLE waits on (no polling of its own; commits by
//! other processes arrive through the hub's `data_version` watcher, as for IDLE).
//!
//! - The selected mailbox (`selected` / `selected-delayed`): the usual `sync` path sends
//!   EXISTS / FETCH FLAGS / EXPUNGE (VANISHED with QRESYNC), with expunges held back under
//!   `selected-delayed` until a command that may expunge; MessageNew's FETCH attributes are
//!   answered by a UID FETCH of the new messages.
//! - Other folders: the session keeps a snapshot of its user's folders (name, UIDVALIDITY,
//!   UIDNEXT, counts, subscriptions) and, at each wake-up, compares it with the store's:
//!   message changes become STATUS responses, created / deleted / renamed folders LIST
//!   responses (MailboxName), subscription changes LIST responses (SubscriptionChange).
//!   Comparing state rather than recording events means a merged or missed wake-up loses
//!   nothing, and commits of other processes are seen like this process's own.
//! - More than `notify_max_batch` responses at one wake-up: `* OK [NOTIFICATIONOVERFLOW]` and
//!   NOTIFY is off, as after `NOTIFY NONE` (RFC 5465 §5.8).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet, HashMap};

use imap_codec::encode::Encoder;
use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::flag::FlagNameAttribute;
use imap_codec::imap_types::response::{Data, Response};
use imap_codec::imap_types::status::{StatusDataItem, StatusDataItemName};
use imap_codec::ResponseCodec;

use crate::imap::cmd::mailbox::{list_data, status_items};
use crate::imap::cmd::metadata::wire_entry;
use crate::imap::cmd::store::sequence_set;
use crate::imap::ext::notify::NotifySet;
use crate::imap::ext::notify::{code_badevent, code_overflow, with_oldname, Events, Notify};
use crate::imap::session::{Done, Session};
use crate::imap::{wire_mailbox, CmdError, CmdResult};
use crate::notify::Subscription;
use crate::store::MailboxCounts;
use crate::store::{MailboxId, MailboxRow, Store, StoreError, UserId};
use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::extensions::metadata::{Entry, MetadataResponse};
use imap_codec::imap_types::mailbox::Mailbox;

/// One folder as NOTIFY last reported it.
#[derive(Clone, Debug)]
struct Folder {
    row: MailboxRow,
    /// As `Store::counts` gives them.
    counts: MailboxCounts,
}

#[derive(Default)]
struct Snapshot {
    folders: HashMap<MailboxId, Folder>,
    subscribed: BTreeSet<String>,
    /// The user's metadata entries (mailbox None: server entries) with a digest of each value;
    /// read only while a filter asks for metadata events.
    metadata: BTreeMap<(Option<MailboxId>, String), u64>,
}

/// A session's NOTIFY: what it asked for, what it last reported, and its wake-up.
pub struct NotifyState {
    set: NotifySet,
    snapshot: Snapshot,
    subscription: Subscription,
}

impl NotifyState {
    /// The wake-up channel (see `Conn::wake`).
    pub fn receiver(&self) -> async_std::channel::Receiver<()> {
        self.subscription.receiver()
    }
}

impl std::fmt::Debug for NotifyState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "NotifyState({} folders)", self.snapshot.folders.len())
    }
}

/// A response NOTIFY sends: one imap-codec encodes, or a LIST line with OLDNAME.
enum Out {
    Data(Data<'static>),
    Raw(Vec<u8>),
}

/// Read the user's folders, reusing the counts of those whose UIDNEXT and HIGHESTMODSEQ have
/// not moved (every message change moves the modseq).
fn read_snapshot(
    s: &Store,
    user: UserId,
    old: &HashMap<MailboxId, Folder>,
    metadata: bool,
) -> Result<Snapshot, StoreError> {
    let mut folders = HashMap::new();
    for row in s.mailboxes(user)? {
        let counts = match old.get(&row.id) {
            Some(f)
                if f.row.uidnext == row.uidnext
                    && f.row.highest_modseq == row.highest_modseq
                    && f.row.uidvalidity == row.uidvalidity =>
            {
                f.counts
            }
            _ if row.noselect => MailboxCounts::default(),
            _ => s.counts(row.id)?,
        };
        folders.insert(row.id, Folder { row, counts });
    }
    let subscribed = s.subscriptions(user)?.into_iter().collect();
    let metadata = if metadata {
        s.metadata_digests(user)?
            .into_iter()
            .map(|(mailbox, name, digest)| ((mailbox, name), digest))
            .collect()
    } else {
        BTreeMap::new()
    };
    Ok(Snapshot {
        folders,
        subscribed,
        metadata,
    })
}

impl NotifySet {
    /// The events for the folder `name` (not the selected one): those of the first filter
    /// that covers it.
    fn events_for(&self, name: &str, subscribed: bool) -> Option<&Events> {
        self.others
            .iter()
            .find(|(f, _)| f.covers(name, subscribed))
            .and_then(|(_, e)| e.as_ref())
    }
}

impl Session {
    pub(crate) async fn cmd_notify(&mut self, notify: Notify) -> CmdResult<Done> {
        let set = match notify {
            Notify::None => {
                self.notify = None;
                return Ok(Done::ok("NOTIFY completed"));
            }
            Notify::Set(set) => set,
        };
        if !set.unsupported.is_empty() {
            return Err(CmdError::no_code(
                code_badevent(),
                format!(
                    "NOTIFY: these events are not supported: {}",
                    set.unsupported.join(" ")
                ),
            ));
        }
        let user = self.user_id()?;
        // Subscribe before reading, so no commit after the read goes unseen.
        let ids = self
            .db(move |s| {
                Ok(s.mailboxes(user)?
                    .into_iter()
                    .map(|m| m.id)
                    .collect::<Vec<_>>())
            })
            .await?;
        let subscription = self.ctx.notifier.subscribe_many(&ids, Some(user));
        let metadata = set.wants_metadata();
        let snapshot = self
            .db(move |s| read_snapshot(s, user, &HashMap::new(), metadata))
            .await?;
        if set.status {
            let mut out = Vec::new();
            let mut folders: Vec<&Folder> = snapshot.folders.values().collect();
            folders.sort_by(|a, b| a.row.name.cmp(&b.row.name));
            let selected = self.state.selected().map(|s| s.mailbox);
            for f in folders {
                let subscribed = snapshot.subscribed.contains(&f.row.name);
                if Some(f.row.id) != selected
                    && !f.row.noselect
                    && set
                        .events_for(&f.row.name, subscribed)
                        .is_some_and(Events::any_message_event)
                {
                    out.push(self.notify_status(f)?);
                }
            }
            self.send_notifications(out).await?;
        }
        self.notify = Some(Box::new(NotifyState {
            set,
            snapshot,
            subscription,
        }));
        Ok(Done::ok("NOTIFY completed"))
    }

    /// Tell the client what changed since the last look (between commands: no command is
    /// running, so expunges may go out unless `selected-delayed` holds them back).
    pub(crate) async fn deliver_notifications(&mut self) -> CmdResult {
        let Some(n) = self.notify.take() else {
            return Ok(());
        };
        let mut n = *n;
        // 1. The selected mailbox, through the one sync path.
        if let (Some((delayed, Some(events))), Some(sel)) = (&n.set.selected, self.state.selected())
        {
            let before = sel.view.max_uid().unwrap_or(0);
            let (delayed, fetch) = (*delayed, events.fetch.clone());
            if let Err(e) = self.sync(!delayed).await {
                self.notify = Some(Box::new(n));
                return Err(e);
            }
            if let (Some(atts), Some(sel)) = (fetch, self.state.selected()) {
                let new: Vec<u32> = sel
                    .view
                    .uids()
                    .iter()
                    .copied()
                    .filter(|u| *u > before)
                    .collect();
                // The attributes were checked by imap-codec at NOTIFY SET.
                let items =
                    crate::imap::ext::decode_command("UID FETCH", format!("1 {atts}").as_bytes());
                if let (
                    Some(set),
                    Some(CommandBody::Fetch {
                        macro_or_item_names,
                        ..
                    }),
                ) = (sequence_set(&new), items)
                {
                    // The messages may be gone again by now; the FETCH then says less.
                    let _ = self
                        .cmd_fetch(set, macro_or_item_names, true, Vec::new())
                        .await;
                }
            }
        }

        // 2. The other folders: compare with the last snapshot.
        let user = self.user_id()?;
        let old = std::mem::take(&mut n.snapshot.folders);
        let old_for_read = old.clone();
        let metadata = n.set.wants_metadata();
        let new = match self
            .db(move |s| read_snapshot(s, user, &old_for_read, metadata))
            .await
        {
            Ok(s) => s,
            Err(e) => {
                n.snapshot.folders = old;
                self.notify = Some(Box::new(n));
                return Err(e.into());
            }
        };
        let mut out = self.notify_diff(&n.set, &old, &n.snapshot.subscribed, &new)?;
        out.extend(self.metadata_diff(&n.set, &n.snapshot.metadata, &new)?);
        let ids_changed = {
            let mut a: Vec<_> = old.keys().collect();
            let mut b: Vec<_> = new.folders.keys().collect();
            a.sort();
            b.sort();
            a != b
        };
        if ids_changed {
            let ids: Vec<MailboxId> = new.folders.keys().copied().collect();
            n.subscription = self.ctx.notifier.subscribe_many(&ids, Some(user));
        }
        n.snapshot = new;
        if out.len() > self.ctx.config().notify_max_batch {
            // RFC 5465 §5.8: too much to tell; the client resynchronises itself.
            self.untagged_ok(
                Some(code_overflow()),
                "Too many changes to notify; NOTIFY is now off",
            )
            .await?;
            return self.flush_now().await;
        }
        self.notify = Some(Box::new(n));
        self.send_notifications(out).await?;
        self.flush_now().await
    }

    /// The responses for the differences between two snapshots.
    fn notify_diff(
        &self,
        set: &NotifySet,
        old: &HashMap<MailboxId, Folder>,
        old_subscribed: &BTreeSet<String>,
        new: &Snapshot,
    ) -> CmdResult<Vec<Out>> {
        let selected = self.state.selected().map(|s| s.mailbox);
        let mut out = Vec::new();
        let mut gone: Vec<&Folder> = old
            .iter()
            .filter(|(id, _)| !new.folders.contains_key(id))
            .map(|(_, f)| f)
            .collect();
        gone.sort_by(|a, b| a.row.name.cmp(&b.row.name));
        for f in gone {
            let was_subscribed = old_subscribed.contains(&f.row.name);
            if set
                .events_for(&f.row.name, was_subscribed)
                .is_some_and(|e| e.mailbox_name)
            {
                out.push(Out::Data(list_data(
                    attrs(&["NonExistent"]),
                    wire_mailbox(&f.row.name, self.utf8_names()),
                    false,
                )));
            }
        }
        let mut now: Vec<&Folder> = new.folders.values().collect();
        now.sort_by(|a, b| a.row.name.cmp(&b.row.name));
        for f in now {
            let name = &f.row.name;
            let Some(ev) = set.events_for(name, new.subscribed.contains(name)) else {
                continue;
            };
            let Some(before) = old.get(&f.row.id) else {
                if ev.mailbox_name {
                    out.push(Out::Data(list_data(
                        Vec::new(),
                        wire_mailbox(name, self.utf8_names()),
                        false,
                    )));
                }
                continue;
            };
            if before.row.name != *name && ev.mailbox_name {
                let encode = |name: &str| {
                    ResponseCodec::default()
                        .encode(&Response::Data(list_data(
                            Vec::new(),
                            wire_mailbox(name, self.utf8_names()),
                            false,
                        )))
                        .dump()
                };
                out.push(Out::Raw(with_oldname(
                    encode(name),
                    &encode(&before.row.name),
                )));
            }
            if Some(f.row.id) == selected || f.row.noselect {
                continue;
            }
            let (b, a) = (&before.row, &f.row);
            let arrived = a.uidnext - b.uidnext.min(a.uidnext);
            let new_messages = arrived > 0 || a.uidvalidity != b.uidvalidity;
            let expunged = f.counts.messages < before.counts.messages + arrived;
            let other = a.highest_modseq != b.highest_modseq && !new_messages && !expunged;
            if (new_messages && ev.message_new)
                || (expunged && ev.message_expunge)
                || (other && ev.flag_change)
            {
                out.push(self.notify_status(f)?);
            }
        }
        // Subscriptions, also of names that are no folder.
        for name in old_subscribed.symmetric_difference(&new.subscribed) {
            if set
                .events_for(name, true)
                .is_some_and(|e| e.subscription_change)
            {
                let a = if new.subscribed.contains(name) {
                    attrs(&["Subscribed"])
                } else {
                    Vec::new()
                };
                out.push(Out::Data(list_data(
                    a,
                    wire_mailbox(name, self.utf8_names()),
                    false,
                )));
            }
        }
        Ok(out)
    }

    /// MailboxMetadataChange / ServerMetadataChange (RFC 5465 §5.9): for every mailbox (and
    /// the server) whose entries were set, changed or removed since the last snapshot, the
    /// unsolicited `* METADATA name entry ...` of RFC 5464 §4.4.2 (no values), when a filter covering it
    /// asks for them.
    fn metadata_diff(
        &self,
        set: &NotifySet,
        old: &BTreeMap<(Option<MailboxId>, String), u64>,
        new: &Snapshot,
    ) -> CmdResult<Vec<Out>> {
        let mut changed: BTreeMap<Option<MailboxId>, Vec<String>> = BTreeMap::new();
        let keys: BTreeSet<&(Option<MailboxId>, String)> =
            old.keys().chain(new.metadata.keys()).collect();
        for k in keys {
            if old.get(k) != new.metadata.get(k) {
                changed.entry(k.0).or_default().push(k.1.clone());
            }
        }
        let selected = self.state.selected().map(|s| s.mailbox);
        let mut out = Vec::new();
        for (mailbox, names) in changed {
            let (wire, wanted) = match mailbox {
                None => (
                    Mailbox::try_from("").map_err(|_| CmdError::bad("server mailbox name"))?,
                    set.all_events().any(|e| e.server_metadata),
                ),
                Some(id) => {
                    // A folder that is gone took its entries along (MailboxName tells).
                    let Some(f) = new.folders.get(&id) else {
                        continue;
                    };
                    let events = if Some(id) == selected {
                        set.selected.as_ref().and_then(|(_, e)| e.as_ref())
                    } else {
                        set.events_for(&f.row.name, new.subscribed.contains(&f.row.name))
                    };
                    (
                        wire_mailbox(&f.row.name, self.utf8_names()),
                        events.is_some_and(|e| e.mailbox_metadata),
                    )
                }
            };
            let entries: Vec<Entry<'static>> = names.into_iter().filter_map(wire_entry).collect();
            if let (true, Ok(entries)) = (wanted, Vec1::try_from(entries)) {
                out.push(Out::Data(Data::Metadata {
                    mailbox: wire,
                    items: MetadataResponse::WithoutValues(entries),
                }));
            }
        }
        Ok(out)
    }

    /// `* STATUS name (MESSAGES UIDNEXT UIDVALIDITY UNSEEN [HIGHESTMODSEQ])`, the items
    /// Dovecot sends too (HIGHESTMODSEQ once CONDSTORE is on, RFC 7162 §3.1).
    fn notify_status(&self, f: &Folder) -> CmdResult<Out> {
        let mut names = vec![
            StatusDataItemName::Messages,
            StatusDataItemName::UidNext,
            StatusDataItemName::UidValidity,
            StatusDataItemName::Unseen,
        ];
        if self.condstore {
            names.push(StatusDataItemName::HighestModSeq);
        }
        let items: Vec<StatusDataItem> = status_items(&f.row, f.counts, &names)?;
        Ok(Out::Data(Data::Status {
            mailbox: wire_mailbox(&f.row.name, self.utf8_names()),
            items: Cow::Owned(items),
        }))
    }

    async fn send_notifications(&mut self, out: Vec<Out>) -> CmdResult {
        for o in out {
            match o {
                Out::Data(d) => self.data(d).await?,
                Out::Raw(bytes) => self
                    .conn
                    .send_raw(&bytes)
                    .await
                    .map_err(|e| CmdError::Bye(format!("write failed: {e}")))?,
            }
        }
        Ok(())
    }
}

fn attrs(names: &[&'static str]) -> Vec<FlagNameAttribute<'static>> {
    names
        .iter()
        .filter_map(|n| imap_codec::imap_types::core::Atom::try_from(*n).ok())
        .map(FlagNameAttribute::from)
        .collect()
}
