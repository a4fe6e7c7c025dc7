//! QUOTA (RFC 9208): exact GETQUOTA / GETQUOTAROOT / SETQUOTA answers, `NO [OVERQUOTA]` for
//! APPEND, MULTIAPPEND, COPY, MOVE, CREATE and REPLACE leaving nothing stored, usage after EXPUNGE, COPY,
//! MOVE and DELETE, STATUS DELETED-STORAGE, APPENDLIMIT from the remaining storage, and the
//! `user quota` / `user list` commands.

mod common;

use std::process::Command;

use common::{ids_masked, message, TempDir, TestServer, ALICE, CREATED};
use liteimap::store::QuotaLimits;

fn limits(srv: &TestServer, storage: Option<u64>, messages: Option<u64>, mailboxes: Option<u64>) {
    srv.ctx
        .store
        .set_quota(
            "alice",
            QuotaLimits {
                storage,
                messages,
                mailboxes,
            },
        )
        .unwrap();
}

fn usage(srv: &TestServer) -> (u64, u64, u64) {
    let u = srv.ctx.store.find_user("alice").unwrap().unwrap();
    let q = srv.ctx.store.quota(u.id).unwrap();
    (q.usage.storage, q.usage.messages, q.usage.mailboxes)
}

/// The octets of all of alice's messages, counted from scratch (what the counters must equal).
fn recount(srv: &TestServer) -> (u64, u64) {
    let store = &srv.ctx.store;
    let u = store.find_user("alice").unwrap().unwrap();
    let (mut octets, mut n) = (0, 0);
    for mb in store.mailboxes(u.id).unwrap() {
        let c = store.counts(mb.id).unwrap();
        octets += c.size;
        n += u64::from(c.messages);
    }
    (octets, n)
}

/// A message of exactly `size` octets.
fn sized(size: usize) -> Vec<u8> {
    let head = b"Subject: q\r\n\r\n";
    let mut m = head.to_vec();
    m.resize(size, b'x');
    m
}

#[test]
fn capabilities_and_exact_answers() {
    let dir = TempDir::new("quota-answers");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    let caps = c.cmd("CAPABILITY");
    assert_eq!(caps[0], concat!("* CAPABILITY ", common::caps!()));
    // No limits: no quota root.
    assert_eq!(
        c.cmd("GETQUOTAROOT INBOX"),
        ["* QUOTAROOT INBOX", "TAG OK GETQUOTAROOT completed"]
    );
    assert_eq!(
        c.cmd("GETQUOTA \"\""),
        ["TAG NO [NONEXISTENT] No such quota root: \"\""]
    );
    limits(&srv, Some(10 * 1024), Some(5), Some(8));
    assert!(c
        .append("INBOX", "", &sized(1500))
        .starts_with("TAG OK [APPENDUID "));
    assert_eq!(
        c.cmd("GETQUOTAROOT INBOX"),
        [
            "* QUOTAROOT INBOX \"\"",
            "* QUOTA \"\" (STORAGE 2 10 MESSAGE 1 5 MAILBOX 6 8)",
            "TAG OK GETQUOTAROOT completed"
        ]
    );
    assert_eq!(
        c.cmd("GETQUOTA \"\""),
        [
            "* QUOTA \"\" (STORAGE 2 10 MESSAGE 1 5 MAILBOX 6 8)",
            "TAG OK GETQUOTA completed"
        ]
    );
    assert_eq!(
        c.cmd("GETQUOTA \"other\""),
        ["TAG NO [NONEXISTENT] No such quota root: \"other\""]
    );
    assert_eq!(
        c.cmd("GETQUOTAROOT nosuch"),
        ["TAG NO [NONEXISTENT] No such mailbox: nosuch"]
    );
    assert_eq!(
        c.cmd("SETQUOTA \"\" (STORAGE 100000)"),
        ["TAG NO [NOPERM] Quota limits are set by the administrator (liteimap user quota)"]
    );
    // Only a storage limit: the others are not listed.
    limits(&srv, Some(10 * 1024), None, None);
    assert_eq!(
        c.cmd("GETQUOTA \"\""),
        ["* QUOTA \"\" (STORAGE 2 10)", "TAG OK GETQUOTA completed"]
    );
    // APPENDLIMIT: the 10240 - 1500 octets left, smaller than the literal limit.
    let caps = c.cmd("CAPABILITY");
    assert_eq!(
        caps[0],
        concat!("* CAPABILITY ", common::caps!())
            .replace("APPENDLIMIT=52428800", "APPENDLIMIT=8740")
    );
}

#[test]
fn refusals_store_nothing() {
    let dir = TempDir::new("quota-refusals");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    limits(&srv, Some(4000), Some(3), Some(7));
    let ok = c.append("INBOX", "", &sized(1000));
    assert!(ok.starts_with("TAG OK [APPENDUID "), "{ok}");
    // APPEND over the storage limit.
    assert_eq!(
        c.append("INBOX", "", &sized(3500)),
        "TAG NO [OVERQUOTA] storage quota exceeded; nothing was stored"
    );
    // A message larger than the whole quota.
    assert_eq!(
        c.append("INBOX", "", &sized(4500)),
        "TAG NO [OVERQUOTA] larger than the storage quota; nothing was stored"
    );
    assert_eq!(usage(&srv), (1000, 1, 6));
    // MULTIAPPEND: the second message does not fit, so neither is stored.
    let tag = c.tag();
    let a = sized(1000);
    let b = sized(2500);
    c.send(format!("{tag} APPEND INBOX {{{}+}}\r\n", a.len()).as_bytes());
    c.send(&a);
    c.send(format!(" {{{}+}}\r\n", b.len()).as_bytes());
    c.send(&b);
    c.send(b"\r\n");
    assert_eq!(
        c.until_tagged(&tag),
        ["TAG NO [OVERQUOTA] storage quota exceeded; nothing was stored"]
    );
    assert_eq!(usage(&srv), (1000, 1, 6));
    // Two more fit the storage; the message limit (3) then refuses COPY of both.
    assert!(c.append("INBOX", "", &sized(1001)).starts_with("TAG OK"));
    c.cmd("SELECT INBOX");
    limits(&srv, Some(5000), Some(3), Some(7));
    assert_eq!(
        c.cmd("COPY 1:2 Archive"),
        ["TAG NO [OVERQUOTA] message quota exceeded; nothing was stored"]
    );
    assert_eq!(
        c.cmd("STATUS Archive (MESSAGES)")[0],
        "* STATUS Archive (MESSAGES 0)"
    );
    // MOVE changes nothing in usage: allowed even at the message limit.
    limits(&srv, Some(5000), Some(2), Some(7));
    let r = c.cmd("MOVE 1 Archive");
    assert_eq!(r.last().unwrap(), "TAG OK MOVE completed");
    assert_eq!(usage(&srv), (2001, 2, 6));
    // CREATE past the mailbox limit (6 default folders + 1 = 7 allowed).
    assert_eq!(ids_masked(&c.cmd("CREATE one")), [CREATED]);
    assert_eq!(
        c.cmd("CREATE two"),
        ["TAG NO [OVERQUOTA] mailbox quota exceeded; nothing was stored"]
    );
    assert_eq!(c.cmd("LIST \"\" two"), ["TAG OK LIST completed"]);
    assert_eq!(usage(&srv), (2001, 2, 7));
    assert_eq!(recount(&srv), (2001, 2));
}

#[test]
fn usage_follows_expunge_copy_move_delete() {
    let dir = TempDir::new("quota-usage");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    for i in 0..3 {
        assert!(c
            .append(
                "INBOX",
                "",
                &message(&format!("m{i}"), &"y".repeat(100 * (i + 1)))
            )
            .starts_with("TAG OK"));
    }
    let total = recount(&srv).0;
    assert_eq!(usage(&srv), (total, 3, 6));
    c.cmd("SELECT INBOX");
    // COPY counts every copy (as RFC822.SIZE does), though the body is stored once.
    c.cmd("COPY 1:3 Archive");
    assert_eq!(usage(&srv), (2 * total, 6, 6));
    c.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)");
    let size1 = {
        let r = c.cmd("FETCH 1 RFC822.SIZE");
        r[0].trim_end_matches(')')
            .rsplit(' ')
            .next()
            .unwrap()
            .parse::<u64>()
            .unwrap()
    };
    assert_eq!(
        c.cmd("STATUS INBOX (DELETED DELETED-STORAGE)")[0],
        format!("* STATUS INBOX (DELETED 1 DELETED-STORAGE {size1})")
    );
    c.cmd("EXPUNGE");
    assert_eq!(usage(&srv), (2 * total - size1, 5, 6));
    assert_eq!(
        c.cmd("STATUS INBOX (DELETED DELETED-STORAGE)")[0],
        "* STATUS INBOX (DELETED 0 DELETED-STORAGE 0)"
    );
    c.cmd("MOVE 1 Trash");
    assert_eq!(usage(&srv), (2 * total - size1, 5, 6));
    c.cmd("UNSELECT");
    assert_eq!(c.cmd("DELETE Archive"), ["TAG OK DELETE completed"]);
    let left = recount(&srv);
    assert_eq!(left.1, 2);
    assert_eq!(usage(&srv), (left.0, 2, 5));
    // Many sessions appending at once: the counters stay exact.
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let port = srv.port;
            std::thread::spawn(move || {
                let mut c = common::Client::connect(port);
                c.read_line();
                c.cmd(&format!("LOGIN {} {}", ALICE.0, ALICE.1));
                for i in 0..10 {
                    let r = c.append("INBOX", "", &message(&format!("t{t}-{i}"), "z"));
                    assert!(r.starts_with("TAG OK"), "{r}");
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let all = recount(&srv);
    assert_eq!(all.1, 42);
    assert_eq!(usage(&srv), (all.0, 42, 5));
}

#[test]
fn user_quota_command_and_list() {
    let dir = TempDir::new("quota-cli");
    let db = dir.database("q.db");
    common::database_with_alice(&db);
    let run = |args: &[&str]| {
        let o = Command::new(env!("CARGO_BIN_EXE_liteimap"))
            .arg("--db")
            .arg(&db)
            .arg("user")
            .args(args)
            .output()
            .unwrap();
        (
            o.status.code().unwrap(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
            String::from_utf8_lossy(&o.stderr).into_owned(),
        )
    };
    assert_eq!(run(&["list"]).1, "alice\t0 messages\n");
    assert_eq!(
        run(&["quota", "alice", "--storage", "2M", "--messages", "100"]),
        (
            0,
            String::new(),
            "quota of alice: storage 0/2097152 messages 0/100 mailboxes 6/-\n".into()
        )
    );
    assert_eq!(
        run(&["quota", "alice", "--mailboxes", "20", "--messages", "none"]).2,
        "quota of alice: storage 0/2097152 messages 0/- mailboxes 6/20\n"
    );
    assert_eq!(
        run(&["list"]).1,
        "alice\t0 messages\tstorage 0/2097152 messages 0/- mailboxes 6/20\n"
    );
    let (code, _, err) = run(&["quota", "nobody", "--storage", "1K"]);
    assert_eq!(
        (code, err.trim_end()),
        (1, "liteimap: no such user: nobody")
    );
    let (code, _, err) = run(&["quota", "alice", "--storage", "12Q"]);
    assert_ne!(code, 0);
    assert!(err.contains("unknown size unit"), "{err}");
}

/// REPLACE (RFC 8508 §3.4) is held to the quota like APPEND, counting what it frees: over the
/// limit the old message stays and nothing new is stored; within it the swap happens.
#[test]
fn replace_over_quota_keeps_the_old_message() {
    let dir = TempDir::new("quota-replace");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    limits(&srv, Some(3000), None, None);
    for _ in 0..2 {
        assert!(c.append("INBOX", "", &sized(1000)).starts_with("TAG OK"));
    }
    c.cmd("SELECT INBOX");
    // 2000 - 1000 + 2500 = 3500 octets: over.
    assert_eq!(
        c.cmd_literal("REPLACE 1 INBOX", &sized(2500), ""),
        vec!["TAG NO [OVERQUOTA] storage quota exceeded; nothing was stored".to_string()]
    );
    assert_eq!(usage(&srv).0, 2000);
    assert_eq!(
        c.cmd("UID FETCH 1:* RFC822.SIZE"),
        vec![
            "* 1 FETCH (UID 1 RFC822.SIZE 1000)",
            "* 2 FETCH (UID 2 RFC822.SIZE 1000)",
            "TAG OK UID FETCH completed"
        ]
    );
    // 2000 - 1000 + 1500 = 2500: within.
    let r = c.cmd_literal("REPLACE 1 INBOX", &sized(1500), "");
    assert_eq!(r.last().unwrap(), "TAG OK REPLACE completed", "{r:?}");
    assert_eq!(usage(&srv).0, 2500);
    assert_eq!(recount(&srv).0, 2500);
}
