//! Messages that stay readable while a session still numbers them (RFC 2180 §4.1.1).
//!
//! Expunging removes a message's row at once, but every session that has the message in its
//! view may still FETCH it until it has been sent `* N EXPUNGE` for it (or leaves the mailbox).
//! So the store keeps, in process, the metadata of each expunged message that some open view
//! still holds, and does not delete its body while any view holds it; when the last holder
//! releases it, the body is queued for collection (`SqliteStore::collect_unheld`).
//!
//! A view is opened through `SqliteStore::select_view` and lives as a `ViewHold`: dropping it (leaving
//! the mailbox, disconnecting) releases everything it held. Nothing here survives a restart: at
//! startup nothing is held, and `SqliteStore::collect_orphans` removes bodies left behind by a crash.
//! A second backend implements the same calls (for several nodes it would keep the holds in the
//! database instead of in this process).

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::{Arc, Mutex};

use super::{lock, MailboxId, MessageMeta};

/// The identity of one open view, for the store calls that answer what that view may read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ViewId(u64);

/// An expunged message that open views still number.
struct Ghost {
    meta: MessageMeta,
    holders: HashSet<u64>,
}

#[derive(Default)]
struct Inner {
    next: u64,
    /// Open views per mailbox.
    views: HashMap<MailboxId, HashSet<u64>>,
    ghosts: HashMap<MailboxId, BTreeMap<u32, Ghost>>,
    /// Bodies whose last holder let go: deleted at the next collection unless a message or
    /// another hold uses them.
    unheld: Vec<i64>,
}

#[derive(Default)]
pub(crate) struct Holds {
    inner: Mutex<Inner>,
    /// Held while a view is registered and across every write that removes messages, so a view
    /// is either registered before a removal (and holds what it removes) or reads its snapshot
    /// after the removal committed (and never numbers what it removed).
    pub(crate) gate: Mutex<()>,
}

impl Inner {
    /// Drop `view` from the holders of the given ghosts (all of the mailbox's when `None`).
    fn release(&mut self, view: u64, mailbox: MailboxId, keep: impl Fn(u32) -> bool) {
        let Some(ghosts) = self.ghosts.get_mut(&mailbox) else {
            return;
        };
        let mut freed = Vec::new();
        ghosts.retain(|&uid, g| {
            if keep(uid) {
                return true;
            }
            g.holders.remove(&view);
            if g.holders.is_empty() {
                freed.push(g.meta.body_id);
                false
            } else {
                true
            }
        });
        if ghosts.is_empty() {
            self.ghosts.remove(&mailbox);
        }
        self.unheld.extend(freed);
    }
}

impl Holds {
    pub(crate) fn open(self: &Arc<Self>, mailbox: MailboxId) -> ViewHold {
        let _gate = lock(&self.gate);
        let mut inner = lock(&self.inner);
        inner.next += 1;
        let id = inner.next;
        inner.views.entry(mailbox).or_default().insert(id);
        ViewHold {
            holds: self.clone(),
            id,
            mailbox,
        }
    }

    /// Whether any view is open on the mailbox (a removal then has to keep what it removes).
    pub(crate) fn watched(&self, mailbox: MailboxId) -> bool {
        lock(&self.inner)
            .views
            .get(&mailbox)
            .is_some_and(|v| !v.is_empty())
    }

    /// Messages being removed from `mailbox`: every view open on it holds them. Called inside
    /// the removing transaction, before its commit.
    pub(crate) fn hold_removed(&self, mailbox: MailboxId, metas: Vec<MessageMeta>) {
        let mut inner = lock(&self.inner);
        let Some(views) = inner.views.get(&mailbox).filter(|v| !v.is_empty()).cloned() else {
            return;
        };
        let ghosts = inner.ghosts.entry(mailbox).or_default();
        for meta in metas {
            ghosts.insert(
                meta.uid,
                Ghost {
                    meta,
                    holders: views.clone(),
                },
            );
        }
    }

    /// Every body some view holds.
    pub(crate) fn held_bodies(&self) -> HashSet<i64> {
        let inner = lock(&self.inner);
        inner
            .ghosts
            .values()
            .flat_map(|g| g.values().map(|g| g.meta.body_id))
            .collect()
    }

    /// The held metadata of those of `uids` that `view` still numbers after their expunge.
    pub(crate) fn ghosts(
        &self,
        view: ViewId,
        mailbox: MailboxId,
        uids: &[u32],
    ) -> Vec<MessageMeta> {
        let inner = lock(&self.inner);
        let Some(ghosts) = inner.ghosts.get(&mailbox) else {
            return Vec::new();
        };
        uids.iter()
            .filter_map(|u| ghosts.get(u))
            .filter(|g| g.holders.contains(&view.0))
            .map(|g| g.meta.clone())
            .collect()
    }

    pub(crate) fn has_unheld(&self) -> bool {
        !lock(&self.inner).unheld.is_empty()
    }

    pub(crate) fn take_unheld(&self) -> Vec<i64> {
        std::mem::take(&mut lock(&self.inner).unheld)
    }
}

/// A session's open view of one mailbox: while it lives, messages expunged from the mailbox
/// stay readable through it until it releases them.
pub struct ViewHold {
    holds: Arc<Holds>,
    id: u64,
    mailbox: MailboxId,
}

impl ViewHold {
    pub fn id(&self) -> ViewId {
        ViewId(self.id)
    }

    pub fn mailbox(&self) -> MailboxId {
        self.mailbox
    }

    /// The view no longer numbers these UIDs (their EXPUNGE was sent, or it never had them).
    pub fn release(&self, uids: &[u32]) {
        if uids.is_empty() {
            return;
        }
        let mut inner = lock(&self.holds.inner);
        if let Some(first) = inner.ghosts.get(&self.mailbox) {
            if !uids.iter().any(|u| first.contains_key(u)) {
                return;
            }
        }
        let set: HashSet<u32> = uids.iter().copied().collect();
        inner.release(self.id, self.mailbox, |u| !set.contains(&u));
    }

    /// The view numbers exactly `uids` (ascending): release every other hold.
    pub(crate) fn retain(&self, uids: &[u32]) {
        let mut inner = lock(&self.holds.inner);
        inner.release(self.id, self.mailbox, |u| uids.binary_search(&u).is_ok());
    }
}

impl Drop for ViewHold {
    fn drop(&mut self) {
        let mut inner = lock(&self.holds.inner);
        if let Some(v) = inner.views.get_mut(&self.mailbox) {
            v.remove(&self.id);
            if v.is_empty() {
                inner.views.remove(&self.mailbox);
            }
        }
        inner.release(self.id, self.mailbox, |_| false);
    }
}

impl std::fmt::Debug for ViewHold {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ViewHold")
            .field("id", &self.id)
            .field("mailbox", &self.mailbox)
            .finish()
    }
}
