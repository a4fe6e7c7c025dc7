//! The PostgreSQL store through its public API: users, mailboxes, append, select, flags,
//! expunge, changes, copy/move, search, quota; two stores on one database as two nodes.
//! Each test gets a fresh database (tests/common/pg.rs says where from).

#[path = "common/pg.rs"]
mod pg;

use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use liteimap::message::prepare;
use liteimap::mime::Keys;
use liteimap::store::pg::PgStore;
use liteimap::store::{
    Cond, FlagOp, MailboxId, NewMessage, QuotaLimits, StoreError, TextPlace, UserId,
};

fn open(db: &pg::TestDb) -> PgStore {
    PgStore::open(&db.url).expect("open the PostgreSQL store")
}

fn msg(subject: &str, flags: &[&str]) -> NewMessage {
    let raw = format!("From: a@example.org\r\nSubject: {subject}\r\n\r\nbody of {subject}\r\n");
    prepare(
        raw.into_bytes(),
        flags.iter().map(|f| f.to_string()).collect(),
        None,
    )
}

fn inbox(s: &PgStore, user: UserId) -> MailboxId {
    s.mailbox(user, "INBOX").unwrap().unwrap().id
}

fn strings(v: &[&str]) -> Vec<String> {
    v.iter().map(|s| s.to_string()).collect()
}

#[test]
fn schema_is_created_then_reopened_and_a_newer_one_refused() {
    let db = pg::fresh_db();
    {
        let s = open(&db);
        s.create_user("alice", "hash").unwrap();
    }
    // Reopening finds the schema and the data.
    let s = open(&db);
    assert_eq!(s.user_count().unwrap(), 1);
    drop(s);
    let mut c = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    c.batch_execute("UPDATE schema_version SET version = 99")
        .unwrap();
    match PgStore::open(&db.url) {
        Err(StoreError::TooNew {
            found: 99,
            supported,
        }) => {
            assert_eq!(supported, liteimap::store::SCHEMA_VERSION)
        }
        other => panic!("expected TooNew, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn unreachable_server_is_unavailable_with_a_clear_text() {
    let dir = std::env::temp_dir().join(format!("liteimap-pg-nothing-{}", std::process::id()));
    let url = format!(
        "host={} user=postgres dbname=x connect_timeout=2",
        dir.display()
    );
    match PgStore::open(&url) {
        Err(StoreError::Unavailable(why)) => {
            assert!(why.contains("cannot connect to PostgreSQL"), "{why}")
        }
        other => panic!("expected Unavailable, got {:?}", other.map(|_| ())),
    }
}

#[test]
fn users_login_data_and_capabilities() {
    let db = pg::fresh_db();
    let s = open(&db);
    let id = s.create_user("Alice", "h1").unwrap();
    assert!(matches!(
        s.create_user("Alice", "h2"),
        Err(StoreError::AlreadyExists(_))
    ));
    let u = s.find_user("Alice").unwrap().unwrap();
    assert_eq!((u.id, u.password_hash.as_str()), (id, "h1"));
    assert!(s.find_user("alice").unwrap().is_none());
    assert_eq!(s.find_user_for_delivery("alice").unwrap().unwrap().id, id);
    s.set_password("Alice", "h3").unwrap();
    assert_eq!(s.find_user("Alice").unwrap().unwrap().password_hash, "h3");
    s.set_capability_withheld("Alice", "UIDONLY", true).unwrap();
    assert_eq!(s.withheld_capabilities(id).unwrap(), vec!["UIDONLY"]);
    assert_eq!(
        s.all_withheld_capabilities().unwrap(),
        vec![("Alice".to_string(), "UIDONLY".to_string())]
    );
    s.set_capability_withheld("Alice", "UIDONLY", false)
        .unwrap();
    assert!(s.withheld_capabilities(id).unwrap().is_empty());
    // The default folders, all subscribed.
    let names: Vec<String> = s
        .mailboxes(id)
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .collect();
    assert_eq!(
        names,
        strings(&["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"])
    );
    assert_eq!(s.subscriptions(id).unwrap(), names);
    let sent = s.mailbox(id, "Sent").unwrap().unwrap();
    assert_eq!(sent.special_use.as_deref(), Some("\\Sent"));
    s.append(inbox(&s, id), &[msg("one", &[])]).unwrap();
    assert_eq!(s.list_users().unwrap(), vec![("Alice".to_string(), 1)]);
    s.remove_user("Alice").unwrap();
    assert_eq!(s.user_count().unwrap(), 0);
    assert!(matches!(
        s.remove_user("Alice"),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn mailboxes_create_rename_delete_subscribe() {
    let db = pg::fresh_db();
    let s = open(&db);
    let u = s.create_user("u", "x").unwrap();
    let ab = s.create_mailbox(u, "a/b").unwrap();
    assert!(s.mailbox(u, "a").unwrap().is_some());
    assert!(matches!(
        s.create_mailbox(u, "a/b"),
        Err(StoreError::AlreadyExists(_))
    ));
    s.rename_mailbox(u, "a", "x/y").unwrap();
    let names: Vec<String> = s
        .mailboxes(u)
        .unwrap()
        .into_iter()
        .map(|m| m.name)
        .filter(|n| n.starts_with('x') || n.starts_with('a'))
        .collect();
    assert_eq!(names, strings(&["x", "x/y", "x/y/b"]));
    // The renamed folder keeps its id and UIDVALIDITY.
    let moved = s.mailbox(u, "x/y/b").unwrap().unwrap();
    assert_eq!((moved.id, moved.uidvalidity), (ab.id, ab.uidvalidity));
    // A folder with children becomes \Noselect; created again it has a new UIDVALIDITY.
    s.delete_mailbox(u, "x/y").unwrap();
    assert!(s.mailbox(u, "x/y").unwrap().unwrap().noselect);
    s.delete_mailbox(u, "x/y/b").unwrap();
    s.delete_mailbox(u, "x/y").unwrap();
    assert!(s.mailbox(u, "x/y").unwrap().is_none());
    let again = s.create_mailbox(u, "x/y/b").unwrap();
    assert!(again.uidvalidity > ab.uidvalidity);
    assert!(matches!(
        s.delete_mailbox(u, "INBOX"),
        Err(StoreError::NotAllowed(_))
    ));
    s.subscribe(u, "nowhere").unwrap();
    assert!(s.subscriptions(u).unwrap().contains(&"nowhere".to_string()));
    s.unsubscribe(u, "nowhere").unwrap();
    assert!(matches!(
        s.unsubscribe(u, "nowhere"),
        Err(StoreError::NotFound(_))
    ));
    // RENAME INBOX moves its messages and leaves INBOX empty, UIDNEXT kept.
    let ib = inbox(&s, u);
    s.append(ib, &[msg("1", &[]), msg("2", &[])]).unwrap();
    s.rename_mailbox(u, "INBOX", "Old").unwrap();
    let old = s.mailbox(u, "Old").unwrap().unwrap();
    assert_eq!(s.select(old.id, false).unwrap().uids, vec![1, 2]);
    let ib_row = s.mailbox_by_id(ib).unwrap();
    assert_eq!(ib_row.uidnext, 3);
    assert!(s.select(ib, false).unwrap().uids.is_empty());
    // Another user sees none of it.
    let v = s.create_user("v", "x").unwrap();
    assert!(s.mailbox(v, "Old").unwrap().is_none());
    assert!(s.delete_mailbox(v, "Old").is_err());
}

#[test]
fn append_select_fetch_and_recent_claimed_once() {
    let db = pg::fresh_db();
    let s = open(&db);
    let u = s.create_user("u", "x").unwrap();
    let ib = inbox(&s, u);
    let big: Vec<u8> = (0..700_000u32).map(|i| (i % 251) as u8).collect();
    let mut large = msg("large", &[]);
    large.raw = big.clone();
    let a = s
        .append(
            ib,
            &[msg("one", &["\\Seen"]), msg("two", &["$Label"]), large],
        )
        .unwrap();
    assert_eq!(a.iter().map(|m| m.uid).collect::<Vec<_>>(), vec![1, 2, 3]);
    let first = s.select(ib, true).unwrap();
    assert_eq!(first.uids, vec![1, 2, 3]);
    assert_eq!(first.recent, vec![1, 2, 3]);
    assert_eq!(first.first_unseen, Some(2));
    assert_eq!(first.keywords, vec!["$Label"]);
    assert_eq!(first.mailbox.uidnext, 4);
    // A second SELECT finds nothing \Recent: it was claimed.
    assert!(s.select(ib, true).unwrap().recent.is_empty());
    let metas = s.messages(ib, &[1, 2, 3]).unwrap();
    assert_eq!(metas[0].flags, vec!["\\Seen"]);
    assert_eq!(metas[2].size as usize, big.len());
    assert_eq!(s.raw(metas[2].body_id).unwrap(), big);
    // Ranges across piece boundaries (256 KiB pieces) and past the end.
    let at = 256 * 1024 - 10;
    assert_eq!(
        s.raw_range(metas[2].body_id, at, 300_000).unwrap(),
        big[at..at + 300_000]
    );
    assert_eq!(
        s.raw_range(metas[2].body_id, 699_990, 100).unwrap(),
        big[699_990..]
    );
    assert!(s
        .raw_range(metas[2].body_id, 800_000, 10)
        .unwrap()
        .is_empty());
    let (snap, view) = s.select_view(ib, false).unwrap();
    assert_eq!(snap.uids.len(), 3);
    let rows = s
        .fetch_rows(view.id(), ib, &[1, 2, 3], true, true, (1000, 10_000))
        .unwrap();
    assert_eq!(rows.len(), 3);
    assert!(rows[0].raw.as_deref().unwrap().starts_with(b"From: a@"));
    assert!(rows[2].raw.is_none(), "larger than raw_each");
    assert!(rows.iter().all(|r| r.parsed.is_some()));
    // append_claiming: the appender's session sees its message \Recent, nobody else.
    let (appended, recent) = s.append_claiming(ib, &[msg("four", &[])]).unwrap();
    assert_eq!(appended[0].uid, 4);
    assert_eq!(recent, 4..5);
    assert!(s.claim_recent(ib, &[4]).unwrap().is_empty());
    let c = s.counts(ib).unwrap();
    assert_eq!((c.messages, c.recent, c.unseen), (4, 0, 3));
}

#[test]
fn flags_expunge_and_changes_since() {
    let db = pg::fresh_db();
    let s = open(&db);
    let u = s.create_user("u", "x").unwrap();
    let ib = inbox(&s, u);
    s.append(ib, &[msg("1", &[]), msg("2", &[]), msg("3", &[])])
        .unwrap();
    let base = s.highest_modseq(ib).unwrap();
    let (modseq, ch) = s
        .store_flags(ib, &[1, 2], FlagOp::Add, &strings(&["\\Deleted", "$Work"]))
        .unwrap();
    assert_eq!(modseq, base + 1);
    assert!(ch.iter().all(|c| c.changed && c.modseq == modseq));
    // Adding what is there (any case) changes nothing and takes no modseq.
    let (none, ch) = s
        .store_flags(ib, &[1], FlagOp::Add, &strings(&["$WORK"]))
        .unwrap();
    assert_eq!(none, 0);
    assert!(!ch[0].changed);
    assert_eq!(s.highest_modseq(ib).unwrap(), modseq);
    assert_eq!(s.keywords(ib).unwrap(), vec!["$Work"]);
    // UNCHANGEDSINCE: message 1 changed after `base`, so it is left alone.
    let fs = s
        .store_flags_unchanged_since(ib, &[1, 3], FlagOp::Add, &strings(&["\\Seen"]), base)
        .unwrap();
    assert_eq!(fs.modified, vec![1]);
    assert_eq!(fs.changes.len(), 1);
    assert_eq!(fs.changes[0].uid, 3);
    let c = s.counts(ib).unwrap();
    assert_eq!((c.deleted, c.unseen), (2, 2));
    assert_eq!(
        s.search(ib, &Cond::HasFlag("\\deleted".into())).unwrap(),
        vec![1, 2]
    );
    // EXPUNGE of the \Deleted among the given UIDs only.
    let (m1, gone) = s.expunge(ib, Some(&[2])).unwrap();
    assert_eq!(gone, vec![2]);
    let (m2, gone) = s.expunge(ib, None).unwrap();
    assert_eq!(gone, vec![1]);
    assert!(m2 > m1);
    assert_eq!(s.expunge(ib, None).unwrap(), (0, vec![]));
    let changes = s.changes_since(ib, base).unwrap();
    assert_eq!(changes.expunged, vec![1, 2]);
    assert_eq!(changes.highest_modseq, m2);
    assert_eq!(changes.changed.len(), 1);
    assert_eq!(changes.changed[0].0, 3);
    assert_eq!(changes.changed[0].2, vec!["\\Seen"]);
    // A deleted mailbox is an error to its sessions, not "no news".
    let other = s.create_mailbox(u, "gone").unwrap();
    s.delete_mailbox(u, "gone").unwrap();
    assert!(matches!(
        s.changes_since(other.id, 0),
        Err(StoreError::NotFound(_))
    ));
}

#[test]
fn expunged_messages_stay_readable_through_an_open_view() {
    let db = pg::fresh_db();
    let s = open(&db);
    let u = s.create_user("u", "x").unwrap();
    let ib = inbox(&s, u);
    s.append(ib, &[msg("kept", &["\\Deleted"])]).unwrap();
    let (_, view) = s.select_view(ib, false).unwrap();
    s.expunge(ib, None).unwrap();
    let rows = s
        .fetch_rows(view.id(), ib, &[1], true, false, (10_000, 10_000))
        .unwrap();
    assert_eq!(rows.len(), 1, "RFC 2180: still readable by the view");
    assert!(rows[0].raw.as_deref().unwrap().starts_with(b"From:"));
    view.release(&[1]);
    drop(view);
    assert!(s.has_unheld());
    s.collect_unheld().unwrap();
    s.collect_orphans().unwrap();
}

#[test]
fn copy_move_replace_and_search() {
    let db = pg::fresh_db();
    let s = open(&db);
    let u = s.create_user("u", "x").unwrap();
    let ib = inbox(&s, u);
    let arch = s.mailbox(u, "Archive").unwrap().unwrap();
    let mut old = msg("old", &["\\Flagged"]);
    old.internal_date = 1_000_000_000;
    s.append(ib, &[old, msg("new", &[]), msg("third", &[])])
        .unwrap();
    let (uv, pairs) = s.copy(ib, &[1, 2], arch.id).unwrap();
    assert_eq!(uv, arch.uidvalidity);
    assert_eq!(pairs, vec![(1, 1), (2, 2)]);
    assert_eq!(
        s.messages(arch.id, &[1]).unwrap()[0].flags,
        vec!["\\Flagged"]
    );
    let (_, pairs) = s.move_messages(ib, &[3], arch.id).unwrap();
    assert_eq!(pairs, vec![(3, 3)]);
    assert_eq!(s.select(ib, false).unwrap().uids, vec![1, 2]);
    // A message gone since: nothing is copied.
    assert!(matches!(
        s.copy(ib, &[1, 3], arch.id),
        Err(StoreError::Expunged(_))
    ));
    let (appended, modseq) = s.replace(ib, 2, ib, &msg("replacement", &[])).unwrap();
    assert_eq!(appended.uid, 4);
    assert!(modseq > appended.modseq);
    assert_eq!(s.select(ib, false).unwrap().uids, vec![1, 4]);
    // Search: flags, dates, sizes, NOT/OR.
    assert_eq!(
        s.search(ib, &Cond::HasFlag("\\FLAGGED".into())).unwrap(),
        vec![1]
    );
    let day = chrono::NaiveDate::from_ymd_opt(2001, 9, 9).unwrap();
    assert_eq!(
        s.search(ib, &Cond::DateBefore(day.succ_opt().unwrap()))
            .unwrap(),
        vec![1]
    );
    assert_eq!(
        s.search(ib, &Cond::DateSince(day.succ_opt().unwrap()))
            .unwrap(),
        vec![4]
    );
    assert_eq!(
        s.search(ib, &Cond::Not(Box::new(Cond::HasFlag("\\Flagged".into()))))
            .unwrap(),
        vec![4]
    );
    assert_eq!(
        s.search(
            ib,
            &Cond::Or(
                Box::new(Cond::Larger(1_000_000)),
                Box::new(Cond::Smaller(1_000_000))
            )
        )
        .unwrap(),
        vec![1, 4]
    );
    assert_eq!(s.search(ib, &Cond::All).unwrap(), vec![1, 4]);
}

/// SEARCH, SORT and THREAD read through a scan: headers (one longer than a body piece, its
/// empty line just past the first piece), whole bodies, cached parses, the stored sort keys,
/// and no search index (every message is a candidate for a text key).
#[test]
fn a_scan_reads_headers_bodies_and_sort_keys() {
    let db = pg::fresh_db();
    let s = open(&db);
    let u = s.create_user("u", "x").unwrap();
    let ib = inbox(&s, u);
    const PIECE: usize = 256 * 1024;
    let mut long = format!("X-Pad: {}\r\n", "p".repeat(PIECE - 10)).into_bytes();
    long.extend_from_slice(b"Subject: Re: long\r\nMessage-ID: <l@x>\r\n\r\n");
    let head_len = long.len();
    long.extend(vec![b'z'; PIECE]);
    let short = b"From: b@x\r\nSubject: short\r\nDate: Tue, 1 Dec 2026 10:00:00 +0000\r\n\
        References: <l@x>\r\n\r\nbody\r\n"
        .to_vec();
    let headless = b"Subject: no body\r\n".to_vec();
    s.append(
        ib,
        &[
            prepare(long.clone(), vec![], None),
            prepare(short.clone(), strings(&["\\Seen"]), None),
            prepare(headless.clone(), vec![], None),
        ],
    )
    .unwrap();
    let bodies: Vec<i64> = s
        .messages(ib, &[1, 2, 3])
        .unwrap()
        .iter()
        .map(|m| m.body_id)
        .collect();
    let keys = Keys {
        subject: true,
        date: true,
        ids: true,
        ..Keys::default()
    };
    s.scan(|scan| {
        assert_eq!(scan.header(bodies[0])?, long[..head_len]);
        assert_eq!(scan.header(bodies[1])?, short[..short.len() - 6]);
        assert_eq!(scan.header(bodies[2])?, headless);
        assert_eq!(scan.raw(bodies[0])?, long);
        assert_eq!(scan.parsed(bodies[1])?, s.parsed(bodies[1]).unwrap());
        assert_eq!(scan.search(ib, &Cond::HasFlag("\\Seen".into()))?, vec![2]);
        let metas = scan.messages(ib, &[1, 3], true)?;
        let got: Vec<(u32, u32)> = metas.iter().map(|m| (m.uid, m.size)).collect();
        assert_eq!(
            got,
            vec![(1, long.len() as u32), (3, headless.len() as u32)]
        );
        let rows = scan.sort_rows(ib, &[1, 2, 3], keys, false)?;
        assert_eq!(
            rows.iter().map(|r| r.uid).collect::<Vec<_>>(),
            vec![1, 2, 3]
        );
        assert_eq!(
            (rows[0].fields.subject.as_str(), rows[0].fields.reply),
            ("LONG", true)
        );
        assert_eq!(rows[0].fields.message_id.as_deref(), Some("l@x"));
        assert_eq!(rows[1].fields.date, Some(1_796_119_200));
        assert_eq!(rows[1].fields.references, vec!["l@x".to_string()]);
        assert_eq!(rows[2].fields.date, None);
        assert_eq!(scan.text_candidates(ib, TextPlace::Body, "body")?, None);
        assert!(matches!(
            scan.header(bodies[2] + 1000),
            Err(StoreError::NotFound(_))
        ));
        Ok(())
    })
    .unwrap();
}

#[test]
fn quota_limits_appends_and_counts_usage() {
    let db = pg::fresh_db();
    let s = open(&db);
    let u = s.create_user("u", "x").unwrap();
    let ib = inbox(&s, u);
    s.append(ib, &[msg("1", &[])]).unwrap();
    let q = s.quota(u).unwrap();
    assert_eq!(q.usage.messages, 1);
    assert_eq!(q.usage.mailboxes, 6);
    s.set_quota(
        "u",
        QuotaLimits {
            messages: Some(2),
            ..QuotaLimits::default()
        },
    )
    .unwrap();
    s.append(ib, &[msg("2", &[])]).unwrap();
    assert!(matches!(
        s.append(ib, &[msg("3", &[])]),
        Err(StoreError::OverQuota(_))
    ));
    // Nothing of the refused append was stored, and no UID was used.
    assert_eq!(s.select(ib, false).unwrap().uids, vec![1, 2]);
    assert_eq!(s.mailbox_by_id(ib).unwrap().uidnext, 3);
    assert_eq!(s.quotas().unwrap()[0].1.usage.messages, 2);
}

#[test]
fn two_nodes_append_concurrently_with_unique_increasing_uids() {
    let db = pg::fresh_db();
    let a = Arc::new(open(&db));
    let b = Arc::new(open(&db));
    let u = a.create_user("u", "x").unwrap();
    let ib = inbox(&a, u);
    let mut threads = Vec::new();
    // 20 threads per node: more than a store's 16 connections, so some wait for one.
    for n in 0..40 {
        let node = if n % 2 == 0 { a.clone() } else { b.clone() };
        threads.push(std::thread::spawn(move || {
            let mut uids = Vec::new();
            for i in 0..3 {
                let got = node.append(ib, &[msg(&format!("{n}-{i}"), &[])]).unwrap();
                uids.push(got[0].uid);
            }
            uids
        }));
    }
    let mut all = Vec::new();
    for t in threads {
        let uids = t.join().unwrap();
        assert!(uids.windows(2).all(|w| w[0] < w[1]), "{uids:?}");
        all.extend(uids);
    }
    all.sort_unstable();
    assert_eq!(
        all,
        (1..=120).collect::<Vec<u32>>(),
        "every UID once, none lost"
    );
    assert_eq!(b.select(ib, false).unwrap().uids.len(), 120);
    // \Recent is claimed once across the nodes.
    let first = a.select(ib, true).unwrap();
    let second = b.select(ib, true).unwrap();
    assert_eq!(first.recent.len() + second.recent.len(), 120);
}

#[test]
fn a_change_on_one_node_is_seen_by_the_other_and_wakes_its_hook() {
    let db = pg::fresh_db();
    let a = open(&db);
    let b = open(&db);
    let (tx, rx) = mpsc::channel::<Vec<(MailboxId, u64)>>();
    let tx = std::sync::Mutex::new(tx);
    b.set_commit_hook(Box::new(move |changed| {
        let _ = tx.lock().unwrap().send(changed.to_vec());
    }));
    let u = a.create_user("u", "x").unwrap();
    let ib = inbox(&a, u);
    let base = b.highest_modseq(ib).unwrap();
    let appended = a.append(ib, &[msg("hello", &[])]).unwrap();
    let changes = b.changes_since(ib, base).unwrap();
    assert_eq!(changes.changed.len(), 1);
    assert_eq!(changes.changed[0].0, appended[0].uid);
    // B's hook hears A's append (through LISTEN/NOTIFY); bounded wait, not a sleep.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        let got = rx
            .recv_timeout(left)
            .expect("B's commit hook was not called");
        if got.contains(&(ib, appended[0].modseq)) {
            break;
        }
    }
    // B's own commits call its hook directly.
    b.store_flags(ib, &[1], FlagOp::Add, &strings(&["\\Seen"]))
        .unwrap();
    let got = rx.recv_timeout(Duration::from_secs(30)).unwrap();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0].0, ib);
}

#[test]
fn metadata_and_urlauth_keys() {
    let db = pg::fresh_db();
    let s = open(&db);
    let u = s.create_user("u", "x").unwrap();
    s.set_metadata(
        u,
        Some("INBOX"),
        &[
            ("/private/comment".into(), Some(b"hi".to_vec())),
            ("/private/comment/sub".into(), Some(b"x".to_vec())),
        ],
    )
    .unwrap();
    let got = s
        .metadata(
            u,
            Some("INBOX"),
            &strings(&["/private/comment", "/private/none"]),
            liteimap::store::MetadataDepth::Zero,
        )
        .unwrap();
    assert_eq!(
        got,
        vec![
            ("/private/comment".to_string(), Some(b"hi".to_vec())),
            ("/private/none".to_string(), None)
        ]
    );
    assert_eq!(s.metadata_digests(u).unwrap().len(), 2);
    let (mb, key) = s.urlauth_key(u, "INBOX", true).unwrap().unwrap();
    assert_eq!(key.as_ref().map(Vec::len), Some(32));
    assert_eq!(s.urlauth_key(u, "INBOX", false).unwrap().unwrap().1, key);
    assert_eq!(
        s.reset_urlauth_keys(u, Some("INBOX")).unwrap(),
        Some(vec![mb.id])
    );
    assert_eq!(s.urlauth_key(u, "INBOX", false).unwrap().unwrap().1, None);
}

/// The backends of the store's database other than `admin`'s own.
const OTHERS: &str = "SELECT pid FROM pg_stat_activity
     WHERE datname = current_database() AND pid <> pg_backend_pid() AND application_name = 'liteimap'";

#[test]
fn connections_dropped_by_the_server_are_replaced() {
    let db = pg::fresh_db();
    let s = open(&db);
    let u = s.create_user("u", "x").unwrap();
    let mut admin = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    let killed = admin
        .query(
            &format!("SELECT pg_terminate_backend(pid) FROM ({OTHERS}) o"),
            &[],
        )
        .unwrap();
    assert!(!killed.is_empty());
    // The pooled connection is dead; the next calls reconnect and succeed.
    let ib = inbox(&s, u);
    assert_eq!(s.append(ib, &[msg("after", &[])]).unwrap()[0].uid, 1);
}

#[test]
fn a_call_in_flight_when_its_connection_dies_is_unavailable_and_nothing_is_half_done() {
    let db = pg::fresh_db();
    let s = Arc::new(open(&db));
    let u = s.create_user("u", "x").unwrap();
    let ib = inbox(&s, u);
    let mut admin = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    let mut lock = admin.transaction().unwrap();
    lock.execute(
        "SELECT 1 FROM mailboxes m JOIN users u ON u.id = m.user_id
         WHERE u.name = 'u' AND m.name = 'INBOX' FOR UPDATE OF m",
        &[],
    )
    .unwrap();
    let node = s.clone();
    let appending = std::thread::spawn(move || node.append(ib, &[msg("lost", &[])]));
    // Wait (bounded) until the append waits for the row lock, then kill its connection.
    let mut watcher = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    let mut victim = None;
    for _ in 0..10_000 {
        let rows = watcher
            .query(&format!("{OTHERS} AND wait_event_type = 'Lock'"), &[])
            .unwrap();
        if let Some(r) = rows.first() {
            victim = Some(r.get::<_, i32>(0));
            break;
        }
    }
    let victim = victim.expect("the append never waited for the mailbox lock");
    watcher
        .execute("SELECT pg_terminate_backend($1)", &[&victim])
        .unwrap();
    match appending.join().unwrap() {
        Err(StoreError::Unavailable(_)) => {}
        other => panic!("expected Unavailable, got {other:?}"),
    }
    lock.rollback().unwrap();
    // Nothing of it was stored; the store goes on serving with the next UID.
    assert!(s.select(ib, false).unwrap().uids.is_empty());
    assert_eq!(s.append(ib, &[msg("next", &[])]).unwrap()[0].uid, 1);
}

#[test]
fn bodies_get_an_email_id_and_replies_their_parents_thread() {
    let db = pg::fresh_db();
    let s = open(&db);
    let u = s.create_user("u", "x").unwrap();
    let ib = inbox(&s, u);
    let parent = prepare(
        b"Message-ID: <p@x>\r\nSubject: a\r\n\r\nfirst\r\n".to_vec(),
        vec![],
        None,
    );
    let reply = prepare(
        b"Message-ID: <r@x>\r\nIn-Reply-To: <p@x>\r\nSubject: Re: a\r\n\r\nsecond\r\n".to_vec(),
        vec![],
        None,
    );
    let other = prepare(b"Subject: b\r\n\r\nthird\r\n".to_vec(), vec![], None);
    s.append(ib, &[parent]).unwrap();
    s.append(ib, &[reply, other]).unwrap();
    let mut c = postgres::Client::connect(&db.url, postgres::NoTls).unwrap();
    let rows = c
        .query("SELECT email_id, thread_id FROM bodies ORDER BY id", &[])
        .unwrap();
    let ids: Vec<(String, String)> = rows.iter().map(|r| (r.get(0), r.get(1))).collect();
    assert_eq!(ids.len(), 3);
    assert!(ids
        .iter()
        .all(|(e, t)| e.starts_with('M') && t.starts_with('T')));
    assert_eq!(ids[0].1, ids[1].1, "the reply joins its parent's thread");
    assert_ne!(ids[0].1, ids[2].1);
    let thread = Cond::ThreadId(ids[0].1.clone());
    assert_eq!(s.search(ib, &thread).unwrap(), vec![1, 2]);
    assert_eq!(
        s.search(ib, &Cond::EmailId(ids[2].0.clone())).unwrap(),
        vec![3]
    );
}

#[test]
fn statements_are_prepared_once_per_connection_and_reused() {
    let db = pg::fresh_db();
    let s = open(&db);
    let user = s.create_user("alice", "h").unwrap();
    let ib = inbox(&s, user);
    s.append(ib, &[msg("warm", &[])]).unwrap();
    s.select(ib, true).unwrap();
    let before = liteimap::store::pg::prepared_on_this_thread();
    // One thread, so the pool hands back the same connection: nothing new to prepare.
    for i in 0..20 {
        s.append(ib, &[msg(&format!("m{i}"), &["\\Seen"])]).unwrap();
        s.select(ib, true).unwrap();
    }
    let prepared = liteimap::store::pg::prepared_on_this_thread() - before;
    assert!(
        prepared <= 2,
        "20 APPENDs and SELECTs prepared {prepared} statements: the cache is not used"
    );
    assert_eq!(s.counts(ib).unwrap().messages, 21);
}
