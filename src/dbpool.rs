//! A fixed pool of worker threads that run store calls for the async side.
//!
//! rusqlite blocks, so store calls must leave the async executor. A fixed pool (rather than a
//! thread per concurrent call) bounds what a burst of clients can cost: at most `workers`
//! SQLite reader connections, threads and allocator arenas exist, however many sessions wait.

use std::cell::RefCell;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};

use crate::store::{Store, StoreError};

type Job = Box<dyn FnOnce(&Store) + Send>;
/// Actions a job leaves for after its reply (see `after_reply`).
type Later = Vec<Box<dyn FnOnce()>>;

thread_local! {
    /// On a database worker while a job runs: what to do once the job has handed its reply
    /// back (see `after_reply`). `None` on every other thread.
    static AFTER_REPLY: RefCell<Option<Later>> = const { RefCell::new(None) };
}

/// Run `f` once the job running on this database worker has handed its reply back, or at
/// once on any other thread. The commit hook wakes the sessions idling on a changed mailbox
/// so: a commit that wakes 10,000 idlers must not queue their 10,000 tasks on the executor
/// ahead of the one waiting for the commit's own answer.
pub fn after_reply(f: impl FnOnce() + 'static) {
    let f: Box<dyn FnOnce()> = Box::new(f);
    let now = AFTER_REPLY.with(|a| match a.borrow_mut().as_mut() {
        Some(later) => {
            later.push(f);
            None
        }
        None => Some(f),
    });
    if let Some(f) = now {
        f();
    }
}

/// Run one job on this worker, then what it left for after its reply.
fn run_job(job: Job, store: &Store) {
    AFTER_REPLY.with(|a| *a.borrow_mut() = Some(Vec::new()));
    // A panicking job must not take the worker with it: the session that submitted it sees
    // its reply channel close and reports an internal error.
    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(store)));
    // Taken before they run: one of them that asks for more runs it at once.
    let later = AFTER_REPLY
        .with(|a| a.borrow_mut().take())
        .unwrap_or_default();
    for f in later {
        let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(f));
    }
}

pub struct DbPool {
    queue: Mutex<mpsc::Sender<Job>>,
    /// Jobs handed to the workers: each is a trip from a session's task to a database thread
    /// and back (`liteimap_database_jobs_total`).
    jobs: AtomicU64,
}

impl DbPool {
    pub fn new(store: Arc<Store>, workers: usize) -> DbPool {
        let (tx, rx) = mpsc::channel::<Job>();
        let rx = Arc::new(Mutex::new(rx));
        for i in 0..workers.max(1) {
            let rx = rx.clone();
            let store = store.clone();
            let spawned = std::thread::Builder::new()
                .name(format!("db-{i}"))
                .spawn(move || loop {
                    let job = rx.lock().unwrap_or_else(PoisonError::into_inner).recv();
                    let Ok(job) = job else { return };
                    run_job(job, &store);
                });
            if let Err(e) = spawned {
                log::error!("cannot start database worker: {e}");
            }
        }
        DbPool {
            queue: Mutex::new(tx),
            jobs: AtomicU64::new(0),
        }
    }

    /// How many jobs have been handed to the workers so far.
    pub fn jobs(&self) -> u64 {
        self.jobs.load(Ordering::Relaxed)
    }

    /// Run `f` on a worker; the future resolves to its result.
    pub fn run<T, F>(&self, f: F) -> impl Future<Output = Result<T, StoreError>> + Send + 'static
    where
        F: FnOnce(&Store) -> Result<T, StoreError> + Send + 'static,
        T: Send + 'static,
    {
        self.jobs.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = async_std::channel::bounded(1);
        let job: Job = Box::new(move |store| {
            let _ = tx.try_send(f(store));
        });
        let sent = self
            .queue
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .send(job)
            .is_ok();
        async move {
            if !sent {
                return Err(StoreError::NotAllowed(
                    "the database workers have stopped".into(),
                ));
            }
            rx.recv().await.unwrap_or_else(|_| {
                Err(StoreError::NotAllowed(
                    "internal error while accessing the database (see the server log)".into(),
                ))
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// What a job leaves for after its reply runs once the reply is there to be read: by the
    /// time the deferred action has run, the job's future is ready without waiting. Elsewhere
    /// `after_reply` runs the action at once.
    #[test]
    fn deferred_actions_run_after_the_reply() {
        let dir = std::env::temp_dir().join(format!("liteimap-dbpool-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let store = Arc::new(Store::open(&dir.join("t.db")).unwrap());
        let pool = DbPool::new(store, 2);
        for round in 0..20 {
            let (done_tx, done_rx) = std::sync::mpsc::channel();
            let reply = pool.run(move |_| {
                after_reply(move || {
                    let _ = done_tx.send(());
                });
                Ok(round)
            });
            done_rx.recv().unwrap();
            let mut reply = std::pin::pin!(reply);
            let mut cx = std::task::Context::from_waker(std::task::Waker::noop());
            let ready = reply.as_mut().poll(&mut cx);
            assert!(
                matches!(ready, std::task::Poll::Ready(Ok(r)) if r == round),
                "round {round}: {ready:?}"
            );
        }
        let ran = std::rc::Rc::new(std::cell::Cell::new(false));
        let r = ran.clone();
        after_reply(move || r.set(true));
        assert!(ran.get(), "not on a worker: at once");
        drop(pool);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
