//! `liteimap migrate`: a database filled through IMAP is copied SQLite → PostgreSQL → SQLite,
//! and a client sees the same thing on all three (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, UIDs,
//! flags, modseqs, dates, sizes, object ids, bodies, folders, subscriptions, metadata,
//! quotas, the old password); an interrupted copy goes on where it stopped; targets holding
//! other data, and the source itself, are refused.
//! tests/common/pg.rs says where the PostgreSQL database comes from.

mod common;
use common::pg;

use std::path::Path;
use std::process::{Command, Output};

use common::*;
use liteimap::server::Config;
use liteimap::store::{QuotaLimits, Store};

fn config() -> Config {
    Config {
        auth_failure_delay: std::time::Duration::ZERO,
        ..Config::default()
    }
}

/// `liteimap migrate ARGS…`.
fn migrate(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_liteimap"))
        .arg("migrate")
        .args(args)
        .output()
        .unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

/// A message of about `kib` KiB of text (more than one 256 KiB piece for a large one).
fn big_message(kib: usize) -> Vec<u8> {
    let mut m = message("big", "").to_vec();
    m.truncate(m.len() - 2);
    for i in 0..kib * 16 {
        m.extend_from_slice(
            format!("line {i:08} of a large body, 64 bytes long ........\r\n").as_bytes(),
        );
    }
    m
}

/// Fill alice's and bob's mail through IMAP: folders (nested, one \Noselect, one with a
/// special use), flags and keywords, \Deleted kept, expunged gaps, a large body, metadata,
/// subscriptions; then quota limits and a withheld capability through the store.
fn fill(srv: &TestServer) {
    let mut a = srv.login(ALICE);
    for name in ["Work/Project", "Old/Child", "Lists"] {
        assert!(a
            .cmd(&format!("CREATE {name}"))
            .last()
            .unwrap()
            .contains("OK"));
    }
    assert!(
        a.cmd("DELETE Old").last().unwrap().contains("OK"),
        "Old becomes \\Noselect"
    );
    a.cmd("SUBSCRIBE Lists");
    a.cmd("UNSUBSCRIBE Junk");
    a.cmd("SUBSCRIBE Nowhere");
    for i in 0..12 {
        let flags = match i % 4 {
            0 => "\\Seen",
            1 => "\\Seen \\Flagged $Label1",
            2 => "",
            _ => "\\Answered Todo",
        };
        let r = a.append_dated(
            "INBOX",
            flags,
            &format!("{:02}-Mar-2024 10:{i:02}:00 +0130", i + 1),
            &message(&format!("m{i}"), &format!("body {i}")),
        );
        assert!(r.contains("OK"), "{r}");
    }
    a.cmd("SELECT INBOX");
    a.cmd("UID STORE 2,5,6 +FLAGS (\\Deleted)");
    a.cmd("UID EXPUNGE 2,5");
    a.cmd("UID STORE 8 +FLAGS (Later)");
    a.cmd("UID COPY 3:4 Work/Project");
    assert!(a
        .append("Work/Project", "\\Seen", &big_message(700))
        .contains("OK"));
    assert!(a
        .append("Lists", "", &message("list", "hello"))
        .contains("OK"));
    a.cmd("SELECT Lists");
    a.cmd("STORE 1 +FLAGS (\\Deleted)");
    a.cmd("EXPUNGE");
    assert!(a
        .append("Lists", "", &message("list2", "again"))
        .contains("OK"));
    assert!(a
        .cmd("SETMETADATA INBOX (/private/comment \"alice's inbox\")")
        .last()
        .unwrap()
        .contains("OK"));
    assert!(a
        .cmd("SETMETADATA \"\" (/private/vendor/x \"server entry\")")
        .last()
        .unwrap()
        .contains("OK"));
    a.cmd("LOGOUT");
    let mut b = srv.login(BOB);
    for i in 0..3 {
        assert!(b
            .append("Sent", "\\Seen", &message(&format!("b{i}"), "bob's"))
            .contains("OK"));
    }
    assert!(b.append("INBOX", "", &message("b-in", "x")).contains("OK"));
    b.cmd("LOGOUT");
    srv.ctx
        .store
        .set_quota(
            "bob",
            QuotaLimits {
                storage: Some(10 << 20),
                messages: Some(1000),
                mailboxes: None,
            },
        )
        .unwrap();
    srv.ctx
        .store
        .set_capability_withheld("bob", "UIDONLY", true)
        .unwrap();
}

/// What a client sees of both users: every folder's state, messages and bodies, the folder
/// list, subscriptions, metadata, quotas, capabilities. EXAMINE, so reading changes nothing.
fn transcript(port: u16) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    for user in [ALICE, BOB] {
        let mut c = Client::connect(port);
        c.greeting = c.read_line();
        let login = c.cmd(&format!("LOGIN {} {}", user.0, user.1));
        assert!(login.last().unwrap().contains("OK"), "{login:?}");
        let list = c.cmd("LIST \"\" \"*\" RETURN (SPECIAL-USE)");
        out.extend(c.cmd_bytes("ENABLE QRESYNC"));
        for cmd in [
            "CAPABILITY",
            "LSUB \"\" \"*\"",
            "GETMETADATA \"\" (/private/vendor/x)",
            "GETMETADATA INBOX (/private/comment)",
            "GETQUOTAROOT INBOX",
        ] {
            out.extend(c.cmd_bytes(cmd));
        }
        for line in &list {
            if !line.starts_with("* LIST") {
                continue;
            }
            out.push(line.clone().into_bytes());
            if line.contains("\\Noselect") {
                continue;
            }
            let name = line
                .rsplit(' ')
                .next()
                .unwrap()
                .trim_matches('"')
                .to_string();
            out.extend(c.cmd_bytes(&format!(
                "STATUS {name} (MESSAGES UIDNEXT UIDVALIDITY UNSEEN HIGHESTMODSEQ SIZE MAILBOXID)"
            )));
            out.extend(c.cmd_bytes(&format!("EXAMINE {name} (CONDSTORE)")));
            out.extend(c.cmd_bytes(
                "UID FETCH 1:* (UID FLAGS MODSEQ INTERNALDATE RFC822.SIZE EMAILID THREADID SAVEDATE)",
            ));
            out.extend(c.cmd_bytes("UID FETCH 1:* (BODY.PEEK[] ENVELOPE BODYSTRUCTURE)"));
            out.extend(c.cmd_bytes("UID SEARCH UNDELETED"));
            out.extend(c.cmd_bytes("UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)"));
        }
        c.cmd("LOGOUT");
    }
    out
}

fn sqlite_transcript(db: &Path) -> Vec<Vec<u8>> {
    let srv = TestServer::start_on(Store::open(db).unwrap(), false, db.into(), config());
    let t = transcript(srv.port);
    srv.stop();
    t
}

fn pg_transcript(url: &str) -> Vec<Vec<u8>> {
    let store = Store::open_postgres(url).unwrap();
    let srv = TestServer::start_on(store, false, "postgresql".into(), config());
    let t = transcript(srv.port);
    srv.stop();
    t
}

/// The first difference of two transcripts, readable.
fn assert_same(a: &[Vec<u8>], b: &[Vec<u8>], what: &str) {
    for (i, (x, y)) in a.iter().zip(b).enumerate() {
        assert!(
            x == y,
            "{what}: line {i} differs:\n  source: {}\n  target: {}",
            String::from_utf8_lossy(&x[..x.len().min(300)]),
            String::from_utf8_lossy(&y[..y.len().min(300)])
        );
    }
    assert_eq!(a.len(), b.len(), "{what}: transcripts differ in length");
}

/// A SQLite database filled by `fill`, its server stopped.
fn filled_sqlite(dir: &TempDir) -> std::path::PathBuf {
    let srv = TestServer::start(dir);
    fill(&srv);
    let db = srv.db.clone();
    srv.stop();
    db
}

#[test]
fn sqlite_to_postgresql_and_back_keeps_what_clients_cache() {
    let dir = TempDir::new("migrate-roundtrip");
    let source = filled_sqlite(&dir);
    let before = sqlite_transcript(&source);
    let has = |needle: &[u8]| {
        before
            .iter()
            .any(|l| l.windows(needle.len()).any(|w| w == needle))
    };
    for needle in [
        &b"* OK [HIGHESTMODSEQ"[..],
        b"MAILBOXID (F",
        b"EMAILID (M",
        b"THREADID (T",
        b"$Label1",
        b"\\Deleted",
        b"Later",
        b"\\Noselect",
        b"/private/comment",
        b"* VANISHED (EARLIER) 2,5",
        b"line 00011199 of a large body",
    ] {
        assert!(
            has(needle),
            "the transcript shows {}",
            String::from_utf8_lossy(needle)
        );
    }
    if std::env::var_os("MIGRATE_DUMP").is_some() {
        for l in &before {
            eprintln!("{}", String::from_utf8_lossy(&l[..l.len().min(200)]));
        }
    }

    let pgdb = pg::fresh_db();
    let url = pgdb.url();
    let out = migrate(&["--from", source.to_str().unwrap(), "--to", &url]);
    assert!(out.status.success(), "{}", stderr(&out));
    let log = stderr(&out);
    assert!(
        log.contains("migrate: 2 users, 17 folders, 18 messages"),
        "{log}"
    );
    assert!(log.contains("migrate: done in"), "{log}");
    assert!(log.contains("MB/s"), "progress shows the rate: {log}");
    assert_same(&before, &pg_transcript(&url), "SQLite → PostgreSQL");

    let back = dir.path().join("back.db");
    let out = migrate(&["--from", &url, "--to", back.to_str().unwrap()]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_same(&before, &sqlite_transcript(&back), "PostgreSQL → SQLite");

    // The copy is a sound database: `check` finds nothing, and new folders and messages
    // still get fresh UIDVALIDITY and UIDs after the copied ones.
    let check = Command::new(env!("CARGO_BIN_EXE_liteimap"))
        .args(["--db", back.to_str().unwrap(), "check"])
        .output()
        .unwrap();
    assert!(
        check.status.success(),
        "{}",
        String::from_utf8_lossy(&check.stdout)
    );
    let srv = TestServer::start_on(Store::open(&back).unwrap(), false, back.clone(), config());
    let mut c = srv.login(ALICE);
    let inbox_validity: u64 = uidvalidity(&mut c, "INBOX").parse().unwrap();
    c.cmd("CREATE Fresh");
    let fresh_validity: u64 = uidvalidity(&mut c, "Fresh").parse().unwrap();
    assert!(fresh_validity > inbox_validity);
    let r = c.append("INBOX", "", &message("after", "x"));
    assert!(r.contains(" 13] APPEND completed"), "UIDNEXT was 13: {r}");
    srv.stop();
}

#[test]
fn an_interrupted_migration_goes_on_where_it_stopped() {
    let dir = TempDir::new("migrate-resume");
    let source = filled_sqlite(&dir);
    let before = sqlite_transcript(&source);
    let pgdb = pg::fresh_db();
    let url = pgdb.url();
    let src = source.to_str().unwrap();

    // Stopped twice part-way (in the middle of a folder: pages of 2), then run to the end.
    for limit in ["3", "8"] {
        let out = migrate(&[
            "--from",
            src,
            "--to",
            &url,
            "--limit",
            limit,
            "--page-messages",
            "2",
        ]);
        assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
        assert!(stderr(&out).contains(&format!("stopped after {limit} messages")));
    }
    let out = migrate(&["--from", src, "--to", &url, "--page-messages", "2"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let log = stderr(&out);
    assert!(
        log.contains("interrupted copy of this source; going on"),
        "{log}"
    );
    assert!(
        log.contains(", 7 messages, "),
        "only the rest was copied: {log}"
    );
    assert_same(&before, &pg_transcript(&url), "resumed SQLite → PostgreSQL");

    // Finished: the same migration again is refused (the target is a finished copy now).
    let out = migrate(&["--from", src, "--to", &url]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("finished copy"), "{}", stderr(&out));
}

#[test]
fn a_migration_killed_mid_copy_goes_on_where_it_stopped() {
    let dir = TempDir::new("migrate-kill");
    let source = dir.path().join("src.db");
    database_with_alice(&source);
    {
        let store = Store::open(&source).unwrap();
        let user = store.find_user("alice").unwrap().unwrap().id;
        let inbox = store.mailbox(user, "INBOX").unwrap().unwrap().id;
        let msgs: Vec<_> = (0..2000)
            .map(|i| liteimap::message::prepare(message(&format!("k{i}"), "x"), vec![], None))
            .collect();
        store.append(inbox, &msgs).unwrap();
    }
    let target = dir.path().join("dst.db");
    let mut child = Command::new(env!("CARGO_BIN_EXE_liteimap"))
        .args([
            "migrate",
            "--from",
            source.to_str().unwrap(),
            "--to",
            target.to_str().unwrap(),
            "--page-messages",
            "1",
        ])
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let lines = lines_of(&mut child);
    // The INBOX's copy has begun (folders go by name: Archive, Drafts, INBOX, …): kill it
    // there, one transaction per message.
    wait_for(&lines, "alice/INBOX:");
    child.kill().unwrap();
    let status = child.wait().unwrap();
    assert!(!status.success(), "killed mid-copy");
    let out = migrate(&[
        "--from",
        source.to_str().unwrap(),
        "--to",
        target.to_str().unwrap(),
    ]);
    assert!(out.status.success(), "{}", stderr(&out));
    let log = stderr(&out);
    assert!(log.contains("going on"), "{log}");
    let store = Store::open(&target).unwrap();
    let user = store.find_user("alice").unwrap().unwrap().id;
    let inbox = store.mailbox(user, "INBOX").unwrap().unwrap();
    assert_eq!(store.counts(inbox.id).unwrap().messages, 2000);
    assert_eq!(inbox.uidnext, 2001);
    let uids = store.select(inbox.id, false).unwrap().uids;
    assert_eq!(uids, (1..=2000).collect::<Vec<u32>>(), "each message once");
}

#[test]
fn migrate_refuses_the_source_itself_and_targets_holding_other_data() {
    let dir = TempDir::new("migrate-refuse");
    let a = dir.path().join("a.db");
    let b = dir.path().join("b.db");
    database_with_alice(&a);
    database_with_alice(&b);
    let (a, b) = (a.to_str().unwrap(), b.to_str().unwrap());

    let out = migrate(&["--from", a, "--to", a]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("the same database"),
        "{}",
        stderr(&out)
    );
    let out = migrate(&[
        "--from",
        a,
        "--to",
        &format!("{}/../a.db", dir.path().join("x").display()),
    ]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));

    let out = migrate(&["--from", a, "--to", b]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("already holds data (1 user(s))"),
        "{}",
        stderr(&out)
    );

    let missing = dir.path().join("missing.db");
    let out = migrate(&["--from", missing.to_str().unwrap(), "--to", b]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("does not exist"), "{}", stderr(&out));
    assert!(!missing.exists());

    // A target left half-done by a migration from `a` takes no other source, and is no
    // source itself until finished.
    let c = dir.path().join("c.db");
    let c = c.to_str().unwrap();
    let out = migrate(&["--from", a, "--to", c, "--limit", "0"]);
    assert_eq!(out.status.code(), Some(3), "{}", stderr(&out));
    let out = migrate(&["--from", b, "--to", c]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        stderr(&out).contains("unfinished migration of another database"),
        "{}",
        stderr(&out)
    );
    let d = dir.path().join("d.db");
    let out = migrate(&["--from", c, "--to", d.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stderr(&out).contains("the source is the target of an unfinished migration"));
    let out = migrate(&["--from", a, "--to", c]);
    assert!(out.status.success(), "{}", stderr(&out));
}
