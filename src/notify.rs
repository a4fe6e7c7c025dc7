//! The change hub: after a commit that changes a mailbox, the sessions idling on that mailbox
//! are woken; each then asks the store what changed (notifications carry only "mailbox X
//! changed", never the change itself, so a missed or merged wake-up loses nothing).
//!
//! The hub also remembers, for every mailbox a session has selected (a [`Watch`]), the highest
//! modseq committed in this process, and counts the commits by other processes it was told
//! of: a session whose mailbox has not moved since it last looked need not ask the store.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_std::channel::{bounded, Receiver, Sender};

use crate::store::{MailboxId, UserId};

/// The registered waiters of one mailbox, each with its subscription id.
type Waiters = Vec<(u64, Sender<()>)>;

#[derive(Default)]
pub struct Notifier {
    waiters: Mutex<HashMap<MailboxId, Waiters>>,
    /// Waiters on a user's set of folders (NOTIFY's MailboxName and SubscriptionChange):
    /// woken by `publish_user` after CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE.
    user_waiters: Mutex<HashMap<UserId, Waiters>>,
    next_id: AtomicU64,
    /// Selected mailboxes: how many sessions watch each, and its highest committed modseq
    /// since the first of them started watching.
    watched: Mutex<HashMap<MailboxId, Watched>>,
    /// Bumped whenever another process changed the database (see `publish_all`).
    external: AtomicU64,
    /// Waiters on every change (the developer page's live view and its wait endpoint).
    any_waiters: Mutex<Waiters>,
    /// Bumped by every publish: a reader that saw value N and now sees more missed nothing.
    generation: AtomicU64,
}

struct Watched {
    sessions: usize,
    latest: u64,
    /// RESETKEYs of the mailbox's access key (RFC 4467 §6.1) since the first session started
    /// watching: each session tells its client once per reset it has not seen.
    key_resets: u64,
}

/// A session's interest in the latest modseq of its selected mailbox; unregisters when dropped.
pub struct Watch {
    hub: Arc<Notifier>,
    mailbox: MailboxId,
}

impl Watch {
    /// The highest modseq committed in this process since the watch began (0 if none; the
    /// largest value if the mailbox changed in a way without a modseq, such as its deletion).
    pub fn latest(&self) -> u64 {
        let w = self
            .hub
            .watched
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        w.get(&self.mailbox).map_or(0, |e| e.latest)
    }

    /// How many RESETKEYs in this process reset the mailbox's access key since the watch
    /// began (compare two readings).
    pub fn key_resets(&self) -> u64 {
        let w = self
            .hub
            .watched
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        w.get(&self.mailbox).map_or(0, |e| e.key_resets)
    }

    /// How many times other processes have changed the database (compare two readings).
    pub fn external_changes(&self) -> u64 {
        self.hub.external.load(Ordering::SeqCst)
    }
}

impl std::fmt::Debug for Watch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Watch({:?})", self.mailbox)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let mut w = self
            .hub
            .watched
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(e) = w.get_mut(&self.mailbox) {
            e.sessions -= 1;
            if e.sessions == 0 {
                w.remove(&self.mailbox);
            }
        }
    }
}

/// A registration for the changes of one or more mailboxes (and, for NOTIFY, of one user's
/// folder list): one channel woken by any of them; unregisters when dropped.
pub struct Subscription {
    hub: Arc<Notifier>,
    mailboxes: Vec<MailboxId>,
    user: Option<UserId>,
    /// Registered with `subscribe_any`.
    any: bool,
    id: u64,
    rx: Receiver<()>,
}

impl Subscription {
    /// The wake-up channel itself, for a read that races it (`Conn::wake`).
    pub fn receiver(&self) -> Receiver<()> {
        self.rx.clone()
    }

    /// Wait until the mailbox may have changed.
    pub async fn changed(&self) {
        // The sender lives in the hub until this subscription is dropped, so recv only
        // fails if the hub is gone; then nothing will ever wake us and waiting forever is right.
        if self.rx.recv().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

/// Remove the waiter `id` from `key`'s list, and the list once it is empty.
fn unregister<K: std::hash::Hash + Eq>(map: &mut HashMap<K, Waiters>, key: &K, id: u64) {
    if let Some(list) = map.get_mut(key) {
        list.retain(|(i, _)| *i != id);
        if list.is_empty() {
            map.remove(key);
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        let mut w = self
            .hub
            .waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for m in &self.mailboxes {
            unregister(&mut w, m, self.id);
        }
        drop(w);
        if let Some(user) = &self.user {
            let mut u = self
                .hub
                .user_waiters
                .lock()
                .unwrap_or_else(PoisonError::into_inner);
            unregister(&mut u, user, self.id);
        }
        if self.any {
            self.hub
                .any_waiters
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .retain(|(i, _)| *i != self.id);
        }
    }
}

impl Notifier {
    pub fn subscribe(self: &Arc<Self>, mailbox: MailboxId) -> Subscription {
        self.subscribe_many(&[mailbox], None)
    }

    /// One subscription woken by a change to any of `mailboxes`, and by `publish_user(user)`
    /// (NOTIFY watches all of a user's folders through it).
    pub fn subscribe_many(
        self: &Arc<Self>,
        mailboxes: &[MailboxId],
        user: Option<UserId>,
    ) -> Subscription {
        // Capacity 1: wake-ups that arrive while one is pending merge into it.
        let (tx, rx) = bounded(1);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        {
            let mut w = self.waiters.lock().unwrap_or_else(PoisonError::into_inner);
            for m in mailboxes {
                w.entry(*m).or_default().push((id, tx.clone()));
            }
        }
        if let Some(u) = user {
            self.user_waiters
                .lock()
                .unwrap_or_else(PoisonError::into_inner)
                .entry(u)
                .or_default()
                .push((id, tx));
        }
        Subscription {
            hub: self.clone(),
            mailboxes: mailboxes.to_vec(),
            user,
            any: false,
            id,
            rx,
        }
    }

    /// One subscription woken by every change this hub hears of: any mailbox, any user's
    /// folder list, other processes' commits. Read `generation` after subscribing: a change
    /// after that reading wakes the subscription.
    pub fn subscribe_any(self: &Arc<Self>) -> Subscription {
        let (tx, rx) = bounded(1);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.any_waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .push((id, tx));
        Subscription {
            hub: self.clone(),
            mailboxes: Vec::new(),
            user: None,
            any: true,
            id,
            rx,
        }
    }

    /// How many changes the hub has announced so far (it only grows).
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Count a change and wake the `subscribe_any` subscriptions.
    fn publish_any(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        let w = self
            .any_waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for (_, tx) in w.iter() {
            let _ = tx.try_send(());
        }
    }

    /// `user`'s folder list or subscriptions changed (in this process): wake its NOTIFY
    /// sessions.
    pub fn publish_user(&self, user: UserId) {
        self.publish_any();
        let w = self
            .user_waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if let Some(list) = w.get(&user) {
            for (_, tx) in list {
                let _ = tx.try_send(());
            }
        }
    }

    /// Start watching `mailbox`'s latest modseq. Call it before reading the mailbox's state,
    /// so that no commit after that read can go unseen.
    pub fn watch(self: &Arc<Self>, mailbox: MailboxId) -> Watch {
        self.watched
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(mailbox)
            .or_insert(Watched {
                sessions: 0,
                latest: 0,
                key_resets: 0,
            })
            .sessions += 1;
        Watch {
            hub: self.clone(),
            mailbox,
        }
    }

    /// `mailbox` changed, up to `modseq`, in a commit of this process: remember the modseq
    /// for the sessions watching it and wake everyone waiting on it.
    pub fn publish(&self, mailbox: MailboxId, modseq: u64) {
        self.note(mailbox, modseq);
        self.wake(mailbox);
    }

    /// The first half of `publish`: remember the modseq, so that a session looking after the
    /// commit knows the mailbox moved, without waking anyone yet.
    pub fn note(&self, mailbox: MailboxId, modseq: u64) {
        if let Some(e) = self
            .watched
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .get_mut(&mailbox)
        {
            e.latest = e.latest.max(modseq);
        }
    }

    /// The second half of `publish`: wake everyone waiting on `mailbox`.
    pub fn wake(&self, mailbox: MailboxId) {
        self.publish_any();
        let w = self.waiters.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(list) = w.get(&mailbox) {
            for (_, tx) in list {
                let _ = tx.try_send(());
            }
        }
    }

    /// RESETKEY replaced the access keys of `mailboxes`: count it for the sessions that have
    /// one of them selected, and wake those waiting on them (an IDLE tells at once).
    pub fn publish_key_reset(&self, mailboxes: &[MailboxId]) {
        {
            let mut w = self.watched.lock().unwrap_or_else(PoisonError::into_inner);
            for m in mailboxes {
                if let Some(e) = w.get_mut(m) {
                    e.key_resets += 1;
                }
            }
        }
        let w = self.waiters.lock().unwrap_or_else(PoisonError::into_inner);
        for m in mailboxes {
            for (_, tx) in w.get(m).into_iter().flatten() {
                let _ = tx.try_send(());
            }
        }
    }

    /// Wake everyone (another process changed the database; we do not know where).
    pub fn publish_all(&self) {
        self.external.fetch_add(1, Ordering::SeqCst);
        self.publish_any();
        let w = self.waiters.lock().unwrap_or_else(PoisonError::into_inner);
        for list in w.values() {
            for (_, tx) in list {
                let _ = tx.try_send(());
            }
        }
        drop(w);
        let u = self
            .user_waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        for list in u.values() {
            for (_, tx) in list {
                let _ = tx.try_send(());
            }
        }
    }

    /// How many subscriptions are registered (for tests and logs).
    pub fn waiting(&self) -> usize {
        let w = self.waiters.lock().unwrap_or_else(PoisonError::into_inner);
        w.values().map(Vec::len).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakes_only_its_mailbox_and_unregisters() {
        let hub = Arc::new(Notifier::default());
        let a = hub.subscribe(MailboxId(1));
        let b = hub.subscribe(MailboxId(2));
        hub.publish(MailboxId(1), 2);
        hub.publish(MailboxId(1), 3); // merged with the first
        assert!(a.rx.try_recv().is_ok());
        assert!(a.rx.try_recv().is_err());
        assert!(b.rx.try_recv().is_err());
        hub.publish_all();
        assert!(b.rx.try_recv().is_ok());
        drop(a);
        assert_eq!(hub.waiting(), 1);
    }

    #[test]
    fn one_subscription_for_several_mailboxes_and_a_user() {
        let hub = Arc::new(Notifier::default());
        let s = hub.subscribe_many(&[MailboxId(1), MailboxId(2)], Some(UserId(7)));
        hub.publish(MailboxId(2), 1);
        assert!(s.rx.try_recv().is_ok());
        hub.publish_user(UserId(8));
        assert!(s.rx.try_recv().is_err());
        hub.publish_user(UserId(7));
        assert!(s.rx.try_recv().is_ok());
        hub.publish_all();
        assert!(s.rx.try_recv().is_ok());
        assert_eq!(hub.waiting(), 2);
        drop(s);
        assert_eq!(hub.waiting(), 0);
        assert!(hub.user_waiters.lock().unwrap().is_empty());
    }

    #[test]
    fn an_any_subscription_hears_every_change_and_counts_them() {
        let hub = Arc::new(Notifier::default());
        let s = hub.subscribe_any();
        let g = hub.generation();
        hub.publish(MailboxId(3), 1);
        assert!(s.rx.try_recv().is_ok());
        assert_eq!(hub.generation(), g + 1);
        hub.publish_user(UserId(1));
        hub.publish_all(); // merged with the previous wake-up
        assert!(s.rx.try_recv().is_ok());
        assert!(s.rx.try_recv().is_err());
        assert_eq!(hub.generation(), g + 3);
        drop(s);
        assert!(hub.any_waiters.lock().unwrap().is_empty());
    }

    #[test]
    fn watches_keep_the_latest_modseq_while_someone_watches() {
        let hub = Arc::new(Notifier::default());
        hub.publish(MailboxId(1), 5); // nobody watches: not remembered
        let a = hub.watch(MailboxId(1));
        assert_eq!(a.latest(), 0);
        hub.publish(MailboxId(1), 7);
        hub.publish(MailboxId(1), 6); // a smaller one never lowers it
        let b = hub.watch(MailboxId(1));
        assert_eq!((a.latest(), b.latest()), (7, 7));
        drop(a);
        drop(b);
        assert!(hub.watched.lock().unwrap().is_empty());
        let c = hub.watch(MailboxId(2));
        let before = c.external_changes();
        hub.publish_all();
        assert_eq!(c.external_changes(), before + 1);
    }

    #[test]
    fn key_resets_are_counted_per_watched_mailbox_and_wake_its_waiters() {
        let hub = Arc::new(Notifier::default());
        hub.publish_key_reset(&[MailboxId(1)]); // nobody watches: not remembered
        let a = hub.watch(MailboxId(1));
        let b = hub.watch(MailboxId(2));
        let s = hub.subscribe(MailboxId(1));
        assert_eq!((a.key_resets(), b.key_resets()), (0, 0));
        hub.publish_key_reset(&[MailboxId(1), MailboxId(3)]);
        assert_eq!((a.key_resets(), b.key_resets()), (1, 0));
        assert!(s.rx.try_recv().is_ok());
        hub.publish_key_reset(&[MailboxId(1), MailboxId(2)]);
        assert_eq!((a.key_resets(), b.key_resets()), (2, 1));
    }
}
