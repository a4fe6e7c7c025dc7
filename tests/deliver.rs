//! `liteimap deliver`: each sysexits exit code, and an IDLE session in a running server seeing
//! a message delivered by this other process.

mod common;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use common::{TempDir, TestServer, ALICE};

fn deliver(db: &Path, args: &[&str], stdin: Stdio, input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_liteimap"))
        .arg("--db")
        .arg(db)
        .arg("deliver")
        .args(args)
        .stdin(stdin)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    if let Some(mut s) = child.stdin.take() {
        // The child may exit before reading everything (usage errors).
        let _ = s.write_all(input);
    }
    child.wait_with_output().unwrap()
}

fn code_and_err(o: &Output) -> (i32, String) {
    (
        o.status.code().unwrap(),
        String::from_utf8_lossy(&o.stderr).into_owned(),
    )
}

/// A database with the user alice (INBOX only).
fn setup(dir: &TempDir) -> std::path::PathBuf {
    let db = dir.database("d.db");
    let store = common::open_store(&db);
    store.create_user("alice", "x").unwrap();
    db
}

fn count(db: &Path, mailbox: &str) -> u32 {
    let store = common::open_store(db);
    let u = store.find_user("alice").unwrap().unwrap();
    let mb = store.mailbox(u.id, mailbox).unwrap().unwrap();
    store.counts(mb.id).unwrap().messages
}

const MSG: &[u8] = b"From sender@example.net Mon Nov 23 10:00:00 2026\nReturn-Path: <sender@example.net>\nSubject: hi\n\nbody\n";

#[test]
fn exit_codes() {
    let dir = TempDir::new("deliver-codes");
    let db = setup(&dir);

    // 0: stored, with the mbox envelope line dropped and LF turned into CRLF.
    let o = deliver(&db, &["--user", "alice"], Stdio::piped(), MSG);
    assert_eq!(code_and_err(&o), (0, String::new()));
    let store = common::open_store(&db);
    let u = store.find_user("alice").unwrap().unwrap();
    let inbox = store.mailbox(u.id, "INBOX").unwrap().unwrap();
    let m = store.messages(inbox.id, &[1]).unwrap();
    assert_eq!(
        store.raw(m[0].body_id).unwrap(),
        b"Return-Path: <sender@example.net>\r\nSubject: hi\r\n\r\nbody\r\n"
    );
    drop(store);

    // 64: usage.
    let o = deliver(&db, &[], Stdio::piped(), MSG);
    assert_eq!(o.status.code(), Some(64));
    let o = deliver(&db, &["--user", ""], Stdio::piped(), MSG);
    assert_eq!(
        code_and_err(&o),
        (64, "liteimap deliver: --user must not be empty\n".into())
    );

    // 65: empty, or larger than the limit.
    let o = deliver(&db, &["--user", "alice"], Stdio::piped(), b"");
    assert_eq!(
        code_and_err(&o),
        (65, "liteimap deliver: empty message\n".into())
    );
    // A binary blob is not a message: refused as `import` refuses it, nothing stored.
    let o = deliver(
        &db,
        &["--user", "alice"],
        Stdio::piped(),
        b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR",
    );
    assert_eq!(
        code_and_err(&o),
        (
            65,
            "liteimap deliver: not a message: it does not start with a header line\n".into()
        )
    );
    let o = deliver(
        &db,
        &["--user", "alice", "--max-message-size", "10"],
        Stdio::piped(),
        MSG,
    );
    assert_eq!(
        code_and_err(&o),
        (
            65,
            "liteimap deliver: message larger than the limit of 10 bytes\n".into()
        )
    );

    // 67: no such user.
    let o = deliver(&db, &["--user", "zed"], Stdio::piped(), MSG);
    assert_eq!(
        code_and_err(&o),
        (67, "liteimap deliver: no such user: zed\n".into())
    );

    // 73: no such mailbox (never created, never replaced by INBOX).
    let o = deliver(
        &db,
        &["--user", "alice", "--mailbox", "Projects"],
        Stdio::piped(),
        MSG,
    );
    assert_eq!(
        code_and_err(&o),
        (73, "liteimap deliver: no such mailbox: Projects\n".into())
    );

    // 74: standard input cannot be read (a directory).
    let d = std::fs::File::open(dir.path()).unwrap();
    let o = deliver(&db, &["--user", "alice"], Stdio::from(d), b"");
    let (code, err) = code_and_err(&o);
    assert_eq!(code, 74, "{err}");
    assert!(
        err.starts_with("liteimap deliver: cannot read the message from standard input:"),
        "{err}"
    );

    // --mailbox names an existing folder: stored there (INBOX in any case means INBOX).
    let store = common::open_store(&db);
    let u = store.find_user("alice").unwrap().unwrap();
    store.create_mailbox(u.id, "Projects").unwrap();
    drop(store);
    let o = deliver(
        &db,
        &["--user", "alice", "--mailbox", "Projects"],
        Stdio::piped(),
        MSG,
    );
    assert_eq!(code_and_err(&o), (0, String::new()));
    let o = deliver(
        &db,
        &["--user", "alice", "--mailbox", "inbox"],
        Stdio::piped(),
        MSG,
    );
    assert_eq!(code_and_err(&o), (0, String::new()));
    assert_eq!(count(&db, "Projects"), 1);
    assert_eq!(count(&db, "INBOX"), 2);
}

#[test]
fn locked_database_is_a_temporary_failure() {
    if common::sqlite_only("SQLite's write lock held by another connection") {
        return;
    }
    let dir = TempDir::new("deliver-locked");
    let db = setup(&dir);
    // Another writer holds the write lock for longer than deliver's busy timeout.
    let holder = rusqlite::Connection::open(&db).unwrap();
    holder.execute_batch("BEGIN IMMEDIATE").unwrap();
    let o = deliver(&db, &["--user", "alice"], Stdio::piped(), MSG);
    let (code, err) = code_and_err(&o);
    assert_eq!(code, 75, "{err}");
    assert!(
        err.starts_with("liteimap deliver: temporary failure, try again later:"),
        "{err}"
    );
    assert_eq!(err.lines().count(), 1, "{err}");
    holder.execute_batch("ROLLBACK").unwrap();
    assert_eq!(count(&db, "INBOX"), 0);
}

#[test]
fn idle_session_sees_delivery_by_another_process() {
    let dir = TempDir::new("deliver-idle");
    let srv = TestServer::start(&dir);
    let mut b = srv.login(ALICE);
    assert!(b.cmd("SELECT INBOX").last().unwrap().starts_with("TAG OK"));
    let tag = b.tag();
    b.send(format!("{tag} IDLE\r\n").as_bytes());
    assert_eq!(b.read_line(), "+ idling");
    let o = deliver(&srv.db, &["--user", "alice"], Stdio::piped(), MSG);
    assert_eq!(code_and_err(&o), (0, String::new()));
    let done = Instant::now();
    assert_eq!(b.read_line(), "* 1 EXISTS");
    assert_eq!(b.read_line(), "* 1 RECENT");
    // The data_version watcher polls every 250 ms.
    assert!(
        done.elapsed() < Duration::from_secs(2),
        "{:?}",
        done.elapsed()
    );
    b.send(b"DONE\r\n");
    assert_eq!(b.until_tagged(&tag), vec!["TAG OK IDLE terminated"]);
}

/// `--mailbox` goes through the same rule for names as IMAP: `..` levels, wildcards and invalid
/// modified UTF-7 are a usage error (nothing stored), and `inbox/x` is the folder INBOX/x.
#[test]
fn mailbox_names_follow_the_imap_rule() {
    let dir = TempDir::new("deliver-names");
    let db = setup(&dir);
    for bad in ["../etc", "bad*name", "&Jjo", "a//b"] {
        let o = deliver(
            &db,
            &["--user", "alice", "--mailbox", bad],
            Stdio::piped(),
            MSG,
        );
        let (code, err) = code_and_err(&o);
        assert_eq!(code, 64, "{bad}: {err}");
        assert!(
            err.starts_with(&format!("liteimap deliver: invalid --mailbox {bad:?}: ")),
            "{bad}: {err}"
        );
    }
    assert_eq!(count(&db, "INBOX"), 0);
    let store = common::open_store(&db);
    let u = store.find_user("alice").unwrap().unwrap();
    store.create_mailbox(u.id, "INBOX/lists").unwrap();
    drop(store);
    let o = deliver(
        &db,
        &["--user", "alice", "--mailbox", "inbox/lists"],
        Stdio::piped(),
        MSG,
    );
    assert_eq!(code_and_err(&o), (0, String::new()));
    assert_eq!(count(&db, "INBOX/lists"), 1);
}

/// QUOTA: over the quota is EX_TEMPFAIL (75; the MTA keeps the message and retries, as for a
/// full mailbox), a message larger than the whole quota EX_DATAERR (65, as for one over
/// --max-message-size); nothing is stored either way.
#[test]
fn over_quota_exit_codes() {
    let dir = TempDir::new("deliver-quota");
    let db = setup(&dir);
    let set = |storage| {
        common::open_store(&db)
            .set_quota(
                "alice",
                liteimap::store::QuotaLimits {
                    storage: Some(storage),
                    ..Default::default()
                },
            )
            .unwrap()
    };
    set(100);
    let o = deliver(&db, &["--user", "alice"], Stdio::piped(), MSG);
    assert_eq!(code_and_err(&o), (0, String::new()));
    let o = deliver(&db, &["--user", "alice"], Stdio::piped(), MSG);
    assert_eq!(
        code_and_err(&o),
        (
            75,
            "liteimap deliver: mailbox full: storage quota exceeded, try again later\n".into()
        )
    );
    set(10);
    let o = deliver(&db, &["--user", "alice"], Stdio::piped(), MSG);
    assert_eq!(
        code_and_err(&o),
        (
            65,
            "liteimap deliver: message larger than the storage quota\n".into()
        )
    );
    assert_eq!(count(&db, "INBOX"), 1);
}

/// With RUST_LOG=info, one line per delivered message (Message-ID, size, user, folder, UID);
/// by default a delivery prints nothing.
#[test]
fn a_delivery_is_logged_with_rust_log_info() {
    let dir = TempDir::new("deliver-log");
    let db = setup(&dir);
    let msg = b"Message-ID: <m1@example.net>\r\nSubject: logged\r\n\r\nbody\r\n";
    let o = deliver(&db, &["--user", "alice"], Stdio::piped(), msg);
    assert_eq!(code_and_err(&o), (0, String::new()));
    let o = Command::new(env!("CARGO_BIN_EXE_liteimap"))
        .arg("--db")
        .arg(&db)
        .args(["deliver", "--user", "alice"])
        .env("RUST_LOG", "info")
        .stdin(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            c.stdin.take().unwrap().write_all(msg)?;
            c.wait_with_output()
        })
        .unwrap();
    assert!(o.status.success());
    let err = String::from_utf8_lossy(&o.stderr);
    let lines: Vec<&str> = err.lines().collect();
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].ends_with(&format!(
            "deliver: message <m1@example.net>, {} bytes, to alice, folder INBOX: delivered, UID 2",
            msg.len()
        )),
        "{lines:?}"
    );
}
