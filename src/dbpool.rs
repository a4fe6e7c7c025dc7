//! A fixed pool of worker threads that run store calls for the async side.
//!
//! rusqlite blocks, so store calls must leave the async executor. A fixed pool (rather than a
//! thread per concurrent call) bounds what a burst of clients can cost: at most `workers`
//! SQLite reader connections, threads and allocator arenas exist, however many sessions wait.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex, PoisonError};

use crate::store::{Store, StoreError};

type Job = Box<dyn FnOnce(&Store) + Send>;

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
                    // A panicking job must not take the worker with it: the session that
                    // submitted it sees its reply channel close and reports an internal error.
                    let _ = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| job(&store)));
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
