//! The change hub: after a commit that changes a mailbox, the sessions idling on that mailbox
//! are woken; each then asks the store what changed (notifications carry only "mailbox X
//! changed", never the change itself, so a missed or merged wake-up loses nothing).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use async_std::channel::{bounded, Receiver, Sender};

use crate::store::MailboxId;

/// The registered waiters of one mailbox, each with its subscription id.
type Waiters = Vec<(u64, Sender<()>)>;

#[derive(Default)]
pub struct Notifier {
    waiters: Mutex<HashMap<MailboxId, Waiters>>,
    next_id: AtomicU64,
}

/// A registration for one mailbox's changes; unregisters when dropped.
pub struct Subscription {
    hub: Arc<Notifier>,
    mailbox: MailboxId,
    id: u64,
    rx: Receiver<()>,
}

impl Subscription {
    /// Wait until the mailbox may have changed.
    pub async fn changed(&self) {
        // The sender lives in the hub until this subscription is dropped, so recv only
        // fails if the hub is gone; then nothing will ever wake us and waiting forever is right.
        if self.rx.recv().await.is_err() {
            std::future::pending::<()>().await;
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
        if let Some(list) = w.get_mut(&self.mailbox) {
            list.retain(|(id, _)| *id != self.id);
            if list.is_empty() {
                w.remove(&self.mailbox);
            }
        }
    }
}

impl Notifier {
    pub fn subscribe(self: &Arc<Self>, mailbox: MailboxId) -> Subscription {
        // Capacity 1: wake-ups that arrive while one is pending merge into it.
        let (tx, rx) = bounded(1);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        self.waiters
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .entry(mailbox)
            .or_default()
            .push((id, tx));
        Subscription {
            hub: self.clone(),
            mailbox,
            id,
            rx,
        }
    }

    /// Wake everyone waiting on `mailbox`.
    pub fn publish(&self, mailbox: MailboxId) {
        let w = self.waiters.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(list) = w.get(&mailbox) {
            for (_, tx) in list {
                let _ = tx.try_send(());
            }
        }
    }

    /// Wake everyone (another process changed the database; we do not know where).
    pub fn publish_all(&self) {
        let w = self.waiters.lock().unwrap_or_else(PoisonError::into_inner);
        for list in w.values() {
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
        hub.publish(MailboxId(1));
        hub.publish(MailboxId(1)); // merged with the first
        assert!(a.rx.try_recv().is_ok());
        assert!(a.rx.try_recv().is_err());
        assert!(b.rx.try_recv().is_err());
        hub.publish_all();
        assert!(b.rx.try_recv().is_ok());
        drop(a);
        assert_eq!(hub.waiting(), 1);
    }
}
