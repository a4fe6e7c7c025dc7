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
use std::sync::{Arc, Mutex, MutexGuard};

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

/// How many gates the mailboxes share (by id): a removal's commit only delays the SELECTs and
/// removals of the mailboxes behind the same gate.
const GATES: usize = 64;

pub(crate) struct Holds {
    inner: Mutex<Inner>,
    /// One is held while a view of a mailbox is registered and across every write that removes
    /// messages from it (commit and fsync included), so a view is either registered before a
    /// removal (and holds what it removes) or reads its snapshot after the removal committed
    /// (and never numbers what it removed). Per mailbox (striped), not one for the store: a
    /// SELECT never waits for another mailbox's EXPUNGE to reach the disk, and expunges of
    /// different mailboxes share a group commit.
    gates: [Mutex<()>; GATES],
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

impl Default for Holds {
    fn default() -> Holds {
        Holds {
            inner: Mutex::default(),
            gates: std::array::from_fn(|_| Mutex::new(())),
        }
    }
}

impl Holds {
    /// The gate of `mailbox` (see `gates`).
    pub(crate) fn gate(&self, mailbox: MailboxId) -> MutexGuard<'_, ()> {
        lock(&self.gates[mailbox.0.rem_euclid(GATES as i64) as usize])
    }

    /// Every gate, in one order (so two such callers cannot deadlock): for removals whose
    /// mailboxes are known only inside their transaction.
    pub(crate) fn all_gates(&self) -> Vec<MutexGuard<'_, ()>> {
        self.gates.iter().map(lock).collect()
    }

    pub(crate) fn open(self: &Arc<Self>, mailbox: MailboxId) -> ViewHold {
        let _gate = self.gate(mailbox);
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

    /// Whether any view other than `told` is open on the mailbox (a removal then has to keep
    /// what it removes).
    pub(crate) fn watched(&self, mailbox: MailboxId, told: Option<ViewId>) -> bool {
        lock(&self.inner)
            .views
            .get(&mailbox)
            .is_some_and(|v| v.iter().any(|&id| Some(ViewId(id)) != told))
    }

    /// Messages being removed from `mailbox`: every view open on it holds them, except `told`,
    /// the view of the session removing them, which announces the removal in its answer (and
    /// so never reads them again). Called inside the removing transaction, before its commit.
    pub(crate) fn hold_removed(
        &self,
        mailbox: MailboxId,
        metas: Vec<MessageMeta>,
        told: Option<ViewId>,
    ) {
        let mut inner = lock(&self.inner);
        let Some(mut views) = inner.views.get(&mailbox).cloned() else {
            return;
        };
        if let Some(t) = told {
            views.remove(&t.0);
        }
        if views.is_empty() {
            return;
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A removal holds only its own mailbox's gate across its commit: a view of another
    /// mailbox opens meanwhile (with one gate for the store, this would wait for that commit,
    /// here forever), and a view of the same mailbox has to wait.
    #[test]
    fn a_removal_gates_only_its_own_mailbox() {
        let holds = Arc::new(Holds::default());
        let (a, b) = (MailboxId(1), MailboxId(2));
        let removing = holds.gate(a);
        let view = holds.open(b);
        assert_eq!(view.mailbox(), b);
        let same = a.0.rem_euclid(GATES as i64) as usize;
        assert!(holds.gates[same].try_lock().is_err(), "a's SELECT waits");
        drop(removing);
        assert!(holds.gates[same].try_lock().is_ok());
        let all = holds.all_gates();
        assert_eq!(all.len(), GATES);
    }
}
