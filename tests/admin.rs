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
    if sqlite_only("`backup` copies the SQLite file (PostgreSQL has pg_dump)") {
        return;
    }
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

/// Bodies the search indexer had not reached when the store closed are not a problem: `check`
/// says how many wait (exit 0), and a store opened on the file indexes them.
#[test]
fn check_tells_the_search_index_queue() {
    let dir = TempDir::new("check-queue");
    let db = dir.path().join("q.db");
    let append = |store: &Store| {
        let uid = store.find_user("alice").unwrap().unwrap().id;
        let mb = store.mailbox(uid, "INBOX").unwrap().unwrap();
        let m = |s: &str| liteimap::message::prepare(message(s, "x"), vec![], None);
        store.append(mb.id, &[m("one"), m("two")]).unwrap();
    };
    {
        let store = Store::open(&db).unwrap();
        store.pause_search_indexer(true);
        store.create_user("alice", "x").unwrap();
        append(&store);
    }
    let o = liteimap(&db, &["check"]);
    assert_eq!(o.status.code(), Some(0), "{o:?}");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!(
            "{}: 1 users, 6 mailboxes, 2 messages, 2 bodies: no problems found\n  (2 bodies wait for the search index: the next `serve` indexes them)\n",
            db.display()
        )
    );
    Store::open(&db).unwrap().wait_search_indexer().unwrap();
    let o = liteimap(&db, &["check"]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        format!(
            "{}: 1 users, 6 mailboxes, 2 messages, 2 bodies: no problems found\n",
            db.display()
        )
    );
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
        store.wait_search_indexer().unwrap();
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

/// `liteimap serve` on `db` (users made beforehand), its stderr lines and its IMAP port.
fn serve(db: &Path, extra: &[&str]) -> (std::process::Child, mpsc::Receiver<String>, u16) {
    let mut child = Command::new(BIN)
        .arg("--db")
        .arg(db)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .args(extra)
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let rx = lines_of(&mut child);
    let port = listening_port(&wait_for(&rx, "listening on")).unwrap();
    (child, rx, port)
}

fn stop(mut child: std::process::Child, rx: &mpsc::Receiver<String>) {
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    wait_for(rx, "liteimap stopped");
    assert!(child.wait().unwrap().success());
}

/// `who`'s rows with the columns that vary between runs (ID, SINCE) checked and left out.
fn who_rows(db: &Path) -> Vec<String> {
    let o = liteimap(db, &["who"]);
    assert!(o.status.success(), "{o:?}");
    let text = String::from_utf8(o.stdout).unwrap();
    let mut lines = text.lines();
    assert_eq!(
        lines.next(),
        Some("ID\tPROTO\tUSER\tADDRESS\tMAILBOX\tSINCE\tTLS")
    );
    lines
        .map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            assert_eq!(f.len(), 7, "{l}");
            assert!(f[0].parse::<u64>().is_ok(), "{l}");
            // 2026-12-02T01:40:27Z
            assert!(
                f[5].len() == 20 && f[5].ends_with('Z') && f[5].as_bytes()[10] == b'T',
                "{l}"
            );
            [f[1], f[2], f[3], f[4], f[6]].join(" ")
        })
        .collect()
}

fn local_addr(c: &mut Client) -> String {
    c.writer_mut().local_addr().unwrap().to_string()
}

#[test]
fn who_lists_sessions_and_kick_ends_one_users_only() {
    let dir = TempDir::new("who-kick");
    let db = dir.path().join("m.db");
    {
        let store = Store::open(&db).unwrap();
        for (u, p) in [ALICE, BOB] {
            let hash = liteimap::password::hash(p.as_bytes()).unwrap();
            store.create_user(u, &hash).unwrap();
        }
    }
    let (child, rx, port) = serve(
        &db,
        &[
            "--auth-failure-delay-ms",
            "0",
            "--lmtp-listen",
            "127.0.0.1:0",
        ],
    );
    let lmtp_port = port_after(&wait_for(&rx, "accepting LMTP on "), "accepting LMTP on ").unwrap();
    let socket = dir.path().join("m.db.admin.sock");
    use std::os::unix::fs::{FileTypeExt, PermissionsExt};
    let meta = std::fs::metadata(&socket).unwrap();
    assert!(meta.file_type().is_socket());
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);

    let mut selected = Client::connect(port);
    selected.greeting = selected.read_line();
    selected.cmd("LOGIN alice wonderland");
    selected.cmd("SELECT INBOX");
    let mut idling = Client::connect(port);
    idling.greeting = idling.read_line();
    idling.cmd("LOGIN alice wonderland");
    idling.cmd("SELECT Sent");
    idling.send(b"I1 IDLE\r\n");
    assert_eq!(idling.read_line(), "+ idling");
    let mut bob = Client::connect(port);
    bob.greeting = bob.read_line();
    bob.cmd("LOGIN bob builder");
    let mut stranger = Client::connect(port);
    stranger.greeting = stranger.read_line();
    let mut mta = Client::connect(lmtp_port);
    assert!(mta.read_line().starts_with("220 "));
    assert_eq!(
        who_rows(&db),
        [
            format!("imap alice {} INBOX no", local_addr(&mut selected)),
            format!("imap alice {} Sent no", local_addr(&mut idling)),
            format!("imap bob {} - no", local_addr(&mut bob)),
            format!("imap - {} - no", local_addr(&mut stranger)),
            format!("lmtp - {} - no", local_addr(&mut mta)),
        ]
    );

    let o = liteimap(&db, &["kick", "alice"]);
    assert!(o.status.success(), "{o:?}");
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "ended 2 sessions of alice\n"
    );
    for c in [&mut selected, &mut idling] {
        assert_eq!(
            c.read_line(),
            "* BYE Disconnected by the server's administrator"
        );
        assert!(c.is_closed());
    }
    assert_eq!(bob.cmd("NOOP"), ["TAG OK NOOP completed"]);
    assert_eq!(
        who_rows(&db),
        [
            format!("imap bob {} - no", local_addr(&mut bob)),
            format!("imap - {} - no", local_addr(&mut stranger)),
            format!("lmtp - {} - no", local_addr(&mut mta)),
        ]
    );
    let o = liteimap(&db, &["kick", "alice"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "liteimap: no sessions of alice\n"
    );

    // A second server on the same database is refused: the socket is live.
    let o = liteimap(&db, &["serve", "--listen", "127.0.0.1:0"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains("admin socket: another process is listening on it (is another liteimap serving this database?"),
        "{err}"
    );
    drop((bob, stranger, mta));
    stop(child, &rx);
    assert!(!socket.exists(), "the socket outlived the server");
    let o = liteimap(&db, &["who"]);
    assert_eq!(o.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("cannot reach the server's admin socket"),
        "{o:?}"
    );

    // A stale socket (a crashed server's) is replaced; --admin-socket puts it elsewhere.
    let elsewhere = dir.path().join("admin.sock");
    drop(std::os::unix::net::UnixListener::bind(&elsewhere).unwrap());
    assert!(elsewhere.exists());
    let (child, rx, _) = serve(&db, &["--admin-socket", elsewhere.to_str().unwrap()]);
    assert!(!socket.exists());
    let o = liteimap(&db, &["who", "--admin-socket", elsewhere.to_str().unwrap()]);
    assert_eq!(
        String::from_utf8_lossy(&o.stdout),
        "ID\tPROTO\tUSER\tADDRESS\tMAILBOX\tSINCE\tTLS\n"
    );
    stop(child, &rx);
    assert!(!elsewhere.exists());
}

/// Only the server's own user may ask: the socket's mode keeps others out, and should it be
/// opened up, the peer's uid (SO_PEERCRED) still does. Needs root to act as another user; a
/// run as an ordinary user skips it.
#[test]
fn another_user_cannot_use_the_admin_socket() {
    let root = Command::new("id").arg("-u").output().unwrap().stdout == b"0\n";
    if !root || !Path::new("/usr/bin/setpriv").exists() {
        return;
    }
    let dir = TempDir::new("who-uid");
    let db = dir.path().join("m.db");
    drop(Store::open(&db).unwrap());
    let (child, rx, _) = serve(&db, &[]);
    let socket = dir.path().join("m.db.admin.sock");
    let as_nobody = || {
        Command::new("/usr/bin/setpriv")
            .args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN])
            .arg("who")
            .arg("--admin-socket")
            .arg(&socket)
            .current_dir(dir.path())
            .output()
            .unwrap()
    };
    let o = as_nobody();
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(err.contains("Permission denied"), "{err}");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&socket, std::fs::Permissions::from_mode(0o666)).unwrap();
    let o = as_nobody();
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        String::from_utf8_lossy(&o.stderr),
        "liteimap: only the server's own user may ask\n"
    );
    wait_for(&rx, "admin socket: refused a connection from uid 65534");
    stop(child, &rx);
}

/// A database whose default socket path would be too long for a Unix socket still serves,
/// without who and kick, and says how to get them.
#[test]
fn a_database_path_too_long_for_the_socket_serves_without_it() {
    let dir = TempDir::new("who-long");
    let deep = dir.path().join("d".repeat(100));
    std::fs::create_dir(&deep).unwrap();
    let db = deep.join("m.db");
    database_with_alice(&db);
    let mut child = Command::new(BIN)
        .arg("--db")
        .arg(&db)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let rx = lines_of(&mut child);
    let line = wait_for(&rx, "no admin socket: ");
    assert!(
        line.ends_with("m.db.admin.sock is too long for a Unix socket; give --admin-socket a shorter path for liteimap who and kick"),
        "{line}"
    );
    wait_for(&rx, "listening on");
    stop(child, &rx);
}
