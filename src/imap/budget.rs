//! A pool of bytes that connections share: what the literals being received may hold in
//! memory together. `conn` takes a share when a literal is announced (before any of its bytes
//! are read) and gives it back when the command has run.
//!
//! Two pools exist (see `server::Context`): one for logged-in sessions, where a literal waits
//! for room (the client waits for our `+`; a non-synchronising literal waits in the socket),
//! and one for connections that have not logged in, where a literal that does not fit is
//! refused: a stranger is not worth a queue.

use std::sync::Arc;

use async_std::sync::{Condvar, Mutex};

pub struct ByteBudget {
    total: usize,
    used: Mutex<usize>,
    freed: Condvar,
}

/// Bytes taken from a [`ByteBudget`], given back when dropped.
pub struct Hold {
    budget: Arc<ByteBudget>,
    bytes: usize,
}

impl ByteBudget {
    pub fn new(total: usize) -> Arc<Self> {
        Arc::new(ByteBudget {
            total,
            used: Mutex::new(0),
            freed: Condvar::new(),
        })
    }

    pub fn total(&self) -> usize {
        self.total
    }

    /// Bytes taken now (for tests and logs: it blocks the calling thread on the lock).
    pub fn used(&self) -> usize {
        *async_std::task::block_on(self.used.lock())
    }

    /// Take `bytes` now, or None when they do not fit.
    pub async fn try_take(self: &Arc<Self>, bytes: usize) -> Option<Hold> {
        let mut used = self.used.lock().await;
        if used.saturating_add(bytes) > self.total {
            return None;
        }
        *used += bytes;
        Some(Hold {
            budget: self.clone(),
            bytes,
        })
    }

    /// Take `bytes`, waiting until they fit, or until the caller, who holds `mine` already
    /// (earlier literals of the same command), is the only one holding any: a command whose
    /// literals are larger than the pool runs alone instead of waiting for itself.
    pub async fn take(self: &Arc<Self>, bytes: usize, mine: usize) -> Hold {
        let guard = self.used.lock().await;
        let mut used = self
            .freed
            .wait_until(guard, |used| {
                used.saturating_add(bytes) <= self.total || *used <= mine
            })
            .await;
        *used += bytes;
        Hold {
            budget: self.clone(),
            bytes,
        }
    }
}

impl Hold {
    pub fn bytes(&self) -> usize {
        self.bytes
    }
}

impl Drop for Hold {
    fn drop(&mut self) {
        // Drop cannot await. The lock is only ever held for a few instructions (a waiter
        // gives it up while it waits), so blocking for it is brief; the count is right the
        // moment the hold is gone.
        let mut used = match self.budget.used.try_lock() {
            Some(u) => u,
            None => async_std::task::block_on(self.budget.used.lock()),
        };
        *used = used.saturating_sub(self.bytes);
        drop(used);
        self.budget.freed.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn takes_waits_and_gives_back() {
        async_std::task::block_on(async {
            let b = ByteBudget::new(100);
            let a = b.try_take(60).await;
            assert!(a.is_some());
            assert!(b.try_take(50).await.is_none());
            let c = b.try_take(40).await;
            assert!(c.is_some());
            assert_eq!(b.used(), 100);
            drop(a);
            assert_eq!(b.used(), 40);
            // A waiter is let in once room is given back.
            let b2 = b.clone();
            let waiter = async_std::task::spawn(async move {
                let first = b2.take(70, 0).await;
                // The same command's next literal does not wait for the first.
                let second = b2.take(70, 70).await;
                first.bytes + second.bytes
            });
            drop(c);
            assert_eq!(waiter.await, 140);
            assert_eq!(b.used(), 0);
        });
    }
}
