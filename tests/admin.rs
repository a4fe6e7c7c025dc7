//! Operator commands: `liteimap backup` while a session writes, and `liteimap check` on a
//! sound database and on damaged copies.

mod common;
use common::*;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc, Arc};

use liteimap::store::Store;

const BIN: &str = env!("CARGO_BIN_EXE_liteimap");

fn liteimap(db: &Path, args: &[&str]) -> Output {
    Command::new(BIN)
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .unwrap()
}

fn inbox_count(db: &Path, user: &str) -> u32 {
    let store = Store::open(db).unwrap();
    let u = store.find_user(user).unwrap().unwrap();
    let mb = store.mailbox(u.id, "INBOX").unwrap().unwrap();
    store.counts(mb.id).unwrap().messages
}

/// A backup taken while a session APPENDs is one consistent snapshot: it passes `check`,
/// holds at least what was committed before it started and at most what was committed when it
/// ended, and the server's data goes on growing meanwhile.
#[test]
fn backup_while_a_session_appends_is_consistent() {
    let dir = TempDir::new("backup");
    let srv = TestServer::start(&dir);
    // ~9 MB to start with: the copy takes several steps of 1024 pages.
    let filler = "x".repeat(30_000);
    for i in 0..300 {
        store_message(
            &srv,
            "alice",
            "INBOX",
            message(&format!("fill{i}"), &filler),
        );
    }
    let stop = Arc::new(AtomicBool::new(false));
    let (acked_tx, acked_rx) = mpsc::channel();
    let writer = {
        let stop = stop.clone();
        let mut c = srv.login(ALICE);
        std::thread::spawn(move || {
            // Bounded: at most 2000 APPENDs, stopping early once the backup is done.
            for i in 0..2000 {
                if stop.load(Ordering::SeqCst) {
                    break;
                }
                let r = c.append(
                    "INBOX",
                    "",
                    &message(&format!("live{i}"), "during the backup"),
                );
                assert!(r.starts_with("TAG OK"), "{r}");
                let _ = acked_tx.send(i);
            }
        })
    };
    // The writer is going before the backup starts.
    for _ in 0..5 {
        acked_rx.recv().unwrap();
    }
    let before = inbox_count(&srv.db, "alice");
    let copy = dir.path().join("copy.db");
    let o = liteimap(&srv.db, &["backup", copy.to_str().unwrap()]);
    let after = inbox_count(&srv.db, "alice");
    stop.store(true, Ordering::SeqCst);
    writer.join().unwrap();
    assert!(o.status.success(), "{o:?}");
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("integrity_check ok"), "{err}");
    assert!(err.starts_with("backup: "), "{err}");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&copy).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let o = liteimap(&copy, &["check"]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout).lines().next().unwrap(),
        format!(
            "{}: 2 users, 12 mailboxes, {n} messages, {n} bodies: no problems found",
            copy.display(),
            n = inbox_count(&copy, "alice")
        )
    );
    let in_copy = inbox_count(&copy, "alice");
    assert!(
        (before..=after).contains(&in_copy),
        "{before} <= {in_copy} <= {after}"
    );
    // The live database went on: it holds everything the writer was told OK.
    assert!(inbox_count(&srv.db, "alice") >= after);
    // An existing file is never overwritten.
    let o = liteimap(&srv.db, &["backup", copy.to_str().unwrap()]);
    assert!(!o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("File exists"), "{err}");
}

/// `check` on copies damaged in the ways it looks for: each problem is one readable line and
/// the exit status is 1; the sound original passes with 0.
#[test]
fn check_reports_each_kind_of_damage() {
    let dir = TempDir::new("check");
    let db = dir.path().join("good.db");
    {
        let store = Store::open(&db).unwrap();
        for u in ["alice", "bob"] {
            store.create_user(u, "x").unwrap();
            let uid = store.find_user(u).unwrap().unwrap().id;
            let mb = store.mailbox(uid, "INBOX").unwrap().unwrap();
            for i in 0..3 {
                store
                    .append(
                        mb.id,
                        &[liteimap::message::prepare(
                            message(&format!("{u}{i}"), "x"),
                            vec![],
                            None,
                        )],
                    )
                    .unwrap();
            }
        }
    }
    let o = liteimap(&db, &["check"]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!(
            "{}: 2 users, 12 mailboxes, 6 messages, 6 bodies: no problems found\n",
            db.display()
        )
    );
    let bad = dir.path().join("bad.db");
    std::fs::copy(&db, &bad).unwrap();
    {
        let c = rusqlite::Connection::open(&bad).unwrap();
        c.execute_batch(
            "PRAGMA foreign_keys = OFF;
             UPDATE mailboxes SET uidnext = 2, highest_modseq = 1
                 WHERE name = 'INBOX' AND user_id = (SELECT id FROM users WHERE name = 'alice');
             INSERT INTO bodies (user_id, hash, size, parsed)
                 VALUES ((SELECT id FROM users WHERE name = 'bob'), x'00', 1, x'');
             INSERT INTO body_chunks (body_id, start, data) VALUES ((SELECT max(id) FROM bodies), 0, x'00');
             DELETE FROM body_chunks WHERE body_id = (SELECT min(b.id) FROM bodies b
                 JOIN users u ON u.id = b.user_id WHERE u.name = 'bob');
             UPDATE messages SET body_id = (SELECT max(id) FROM bodies)
                 WHERE uid = 1 AND mailbox_id = (SELECT mb.id FROM mailboxes mb JOIN users u
                     ON u.id = mb.user_id WHERE u.name = 'alice' AND mb.name = 'INBOX');
             INSERT INTO flags (message_id, flag) VALUES (99999, '\\Seen');",
        )
        .unwrap();
    }
    let o = liteimap(&bad, &["check"]);
    assert_eq!(o.status.code(), Some(1), "{o:?}");
    let out = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(
        lines,
        [
            format!(
                "{}: 2 users, 12 mailboxes, 6 messages, 7 bodies: 7 problems",
                bad.display()
            )
            .as_str(),
            "  foreign key: flags row ? refers to a missing messages row",
            "  1 message bodies no message uses (wasted space: the next `serve` start removes them; a running server may still hold them for a session that has not seen an EXPUNGE yet)",
            "  1 messages use a body that belongs to another user",
            "  1 message bodies whose stored bytes are not as many as their size says",
            "  1 messages whose size is not their body's",
            "  alice \"INBOX\": a message's UID is not below UIDNEXT (3 against 2)",
            "  alice \"INBOX\": a message's modseq is above HIGHESTMODSEQ (4 against 1)",
        ]
    );
    // Not a database at all: one line, exit 1.
    let junk = dir.path().join("junk.db");
    std::fs::write(&junk, vec![b'j'; 8192]).unwrap();
    let o = liteimap(&junk, &["check"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        format!(
            "liteimap: cannot check {0}: {0} is not a liteimap database\n",
            junk.display()
        )
    );
}
