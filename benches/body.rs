//! Store-level benchmarks of body storage (issue 16): they print numbers and assert nothing,
//! and call the store in-process, so `valgrind --tool=callgrind` counts exactly what one
//! operation costs (`--toggle-collect` on the function named below).
//!
//!   cargo bench --bench body -- stream DB [MB]   # store one MB-megabyte body (50) in DB
//!                                                # (unless it holds one), then read it back
//!                                                # in 1 MiB ranges (what FETCH BODY[]
//!                                                # streams): raw_range
//!   cargo bench --bench body -- fill DB [N]      # N small messages (100,000) in DB's INBOX
//!   cargo bench --bench body -- sizes DB         # the sizes of every message of DB's INBOX
//!                                                # (FETCH 1:* (RFC822.SIZE)): messages_with,
//!                                                # and its STATUS counters: counts
//!
//! `--profile dev` builds them against the debug liteimap (dependencies, SQLite included,
//! are optimised in that profile too).

use std::path::Path;
use std::time::Instant;

use liteimap::store::{MailboxId, Store};

/// The size of one read of `stream`, as FETCH's streaming reads.
const STREAM_CHUNK: usize = 1024 * 1024;

fn inbox(store: &Store) -> MailboxId {
    let user = match store.find_user("bench").unwrap() {
        Some(u) => u.id,
        None => store.create_user("bench", "x").unwrap(),
    };
    store.mailbox(user, "INBOX").unwrap().unwrap().id
}

fn stream(db: &Path, mb: usize) {
    let store = Store::open(db).unwrap();
    let inbox = inbox(&store);
    let size = mb * 1_000_000;
    let started = Instant::now();
    // A second run reads the body the first stored (to measure the reads alone).
    if store.counts(inbox).unwrap().messages == 0 {
        let mut raw = b"Subject: big\r\n\r\n".to_vec();
        raw.extend((raw.len()..size).map(|i| if i % 78 == 77 { b'\n' } else { b'z' }));
        let msg = liteimap::message::prepare(raw, vec![], None);
        store.append(inbox, &[msg]).unwrap();
    }
    let stored = started.elapsed();
    let body = store.messages(inbox, &[1]).unwrap()[0].body_id;
    let started = Instant::now();
    let mut at = 0;
    let mut reads = 0;
    while at < size {
        at += store.raw_range(body, at, STREAM_CHUNK).unwrap().len();
        reads += 1;
    }
    println!(
        "stream: {mb} MB stored in {:.0} ms, read in {reads} ranges of 1 MiB in {:.0} ms",
        stored.as_secs_f64() * 1000.0,
        started.elapsed().as_secs_f64() * 1000.0
    );
}

fn fill(db: &Path, n: usize) {
    let store = Store::open(db).unwrap();
    let inbox = inbox(&store);
    let started = Instant::now();
    for first in (0..n).step_by(500) {
        let batch: Vec<_> = (first..n.min(first + 500))
            .map(|i| {
                let raw = format!(
                    "From: a{}@example.com\r\nSubject: message {i}\r\n\r\n{}\r\n",
                    i % 97,
                    "x".repeat(200 + i % 3000)
                );
                liteimap::message::prepare(raw.into_bytes(), vec![], None)
            })
            .collect();
        store.append(inbox, &batch).unwrap();
    }
    println!(
        "fill: {n} messages in {:.1} s",
        started.elapsed().as_secs_f64()
    );
}

fn sizes(db: &Path) {
    let store = Store::open(db).unwrap();
    let inbox = inbox(&store);
    let uids: Vec<u32> = (1..=store.counts(inbox).unwrap().messages).collect();
    for round in 0..3 {
        let started = Instant::now();
        let metas = store.messages_with(inbox, &uids, true).unwrap();
        let read = started.elapsed();
        let started = Instant::now();
        let counts = store.counts(inbox).unwrap();
        let counted = started.elapsed();
        let total: u64 = metas.iter().map(|m| m.size as u64).sum();
        println!(
            "sizes round {round}: {} messages ({total} octets) in {:.1} ms; STATUS counters ({} octets) in {:.1} ms",
            metas.len(),
            read.as_secs_f64() * 1000.0,
            counts.size,
            counted.as_secs_f64() * 1000.0
        );
    }
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let db = |i: usize| Path::new(args.get(i).map(String::as_str).unwrap_or("body-bench.db"));
    let num =
        |i: usize, default: usize| args.get(i).and_then(|a| a.parse().ok()).unwrap_or(default);
    match args.first().map(String::as_str) {
        Some("stream") => stream(db(1), num(2, 50)),
        Some("fill") => fill(db(1), num(2, 100_000)),
        Some("sizes") => sizes(db(1)),
        _ => eprintln!("usage: body (stream DB [MB] | fill DB [N] | sizes DB)"),
    }
}
