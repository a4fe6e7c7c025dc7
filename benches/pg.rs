//! PostgreSQL store benchmarks (issue 21): they print numbers and assert nothing. DB is a
//! conninfo of an empty (or liteimap) database, e.g. `host=/tmp/pg user=postgres dbname=b`.
//!
//!   cargo bench --profile dev --bench pg -- notify DB [N]   # N appends (200) on node A, each
//!                                                           # timed until node B's commit
//!                                                           # hook hears it (LISTEN/NOTIFY)
//!   cargo bench --profile dev --bench pg -- append DB [N]   # N appends (2,000) from 8
//!                                                           # threads on one node, then on
//!                                                           # two nodes (4 threads each)

use std::sync::{mpsc, Arc, Mutex};
use std::time::{Duration, Instant};

use liteimap::message::prepare;
use liteimap::store::pg::PgStore;
use liteimap::store::MailboxId;

fn inbox(store: &PgStore) -> MailboxId {
    let user = match store.find_user("bench").unwrap() {
        Some(u) => u.id,
        None => store.create_user("bench", "x").unwrap(),
    };
    store.mailbox(user, "INBOX").unwrap().unwrap().id
}

fn message(i: usize) -> liteimap::store::NewMessage {
    let raw = format!(
        "From: a@example.org\r\nSubject: bench {i}\r\n\r\nbody {i} {:?}\r\n",
        Instant::now()
    );
    prepare(raw.into_bytes(), Vec::new(), None)
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    sorted[((sorted.len() - 1) as f64 * p) as usize]
}

fn notify(db: &str, n: usize) {
    let a = PgStore::open(db).unwrap();
    let b = PgStore::open(db).unwrap();
    let (tx, rx) = mpsc::channel::<(MailboxId, u64, Instant)>();
    let tx = Mutex::new(tx);
    b.set_commit_hook(Box::new(move |changed| {
        let now = Instant::now();
        for &(m, modseq) in changed {
            let _ = tx.lock().unwrap().send((m, modseq, now));
        }
    }));
    let ib = inbox(&a);
    let mut after_commit = Vec::with_capacity(n);
    let mut whole = Vec::with_capacity(n);
    for i in 0..n {
        let started = Instant::now();
        let got = a.append(ib, &[message(i)]).unwrap();
        let committed = Instant::now();
        loop {
            let (m, modseq, heard) = rx
                .recv_timeout(Duration::from_secs(10))
                .expect("B heard nothing");
            if m == ib && modseq == got[0].modseq {
                after_commit.push(heard.saturating_duration_since(committed));
                whole.push(heard - started);
                break;
            }
        }
    }
    after_commit.sort();
    whole.sort();
    println!(
        "notify: {n} appends on A heard by B's hook: after A's commit returned median {:?} p99 {:?} max {:?}; from the start of the APPEND median {:?} p99 {:?}",
        percentile(&after_commit, 0.5),
        percentile(&after_commit, 0.99),
        after_commit[n - 1],
        percentile(&whole, 0.5),
        percentile(&whole, 0.99),
    );
}

fn append(db: &str, n: usize) {
    for nodes in [1usize, 2] {
        let stores: Vec<Arc<PgStore>> = (0..nodes)
            .map(|_| Arc::new(PgStore::open(db).unwrap()))
            .collect();
        let ib = inbox(&stores[0]);
        let threads = 8;
        let started = Instant::now();
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                let s = stores[t % nodes].clone();
                std::thread::spawn(move || {
                    for i in 0..n / threads {
                        s.append(ib, &[message(t * n + i)]).unwrap();
                    }
                })
            })
            .collect();
        for h in handles {
            h.join().unwrap();
        }
        let secs = started.elapsed().as_secs_f64();
        println!(
            "append: {} single-message appends to one mailbox from {threads} threads on {nodes} node(s): {:.2} s, {:.0}/s",
            n / threads * threads,
            secs,
            (n / threads * threads) as f64 / secs
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["notify", db] => notify(db, 200),
        ["notify", db, n] => notify(db, n.parse().unwrap()),
        ["append", db] => append(db, 2000),
        ["append", db, n] => append(db, n.parse().unwrap()),
        _ => eprintln!("usage: pg notify|append CONNINFO [N]"),
    }
}
