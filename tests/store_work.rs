//! How much store work a command costs (issue 16): no write where a read will do, no read where
//! nothing changed, one trip for a FETCH of small bodies. The counters are the store's own
//! (`Store::stats`); the responses are what a client depends on.
mod common;

use common::*;
use liteimap::store::StoreStats;

fn stats(srv: &TestServer) -> StoreStats {
    srv.ctx.store.stats()
}

/// (reads, writes) since `before`.
fn work(srv: &TestServer, before: StoreStats) -> (u64, u64) {
    let now = stats(srv);
    (now.reads - before.reads, now.writes - before.writes)
}

/// APPEND to the mailbox a session has selected claims \Recent in the same commit (one write,
/// not a second one to claim it); a later SELECT with nothing new to claim writes nothing, and
/// the message is \Recent in the appending session only.
#[test]
fn append_to_the_selected_mailbox_is_one_write_and_select_writes_nothing() {
    let dir = TempDir::new("work-append");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    a.cmd("SELECT INBOX");
    let before = stats(&srv);
    let r = a.cmd_literal("APPEND INBOX", &message("one", "x"), "");
    assert_eq!(r[..2], ["* 1 EXISTS", "* 1 RECENT"], "{r:?}");
    assert!(r[2].starts_with("TAG OK [APPENDUID "), "{r:?}");
    assert_eq!(
        work(&srv, before).1,
        1,
        "one write for the APPEND and its \\Recent"
    );

    let mut b = srv.login(ALICE);
    let before = stats(&srv);
    let r = b.cmd("SELECT INBOX");
    assert!(r.contains(&"* 1 EXISTS".to_string()), "{r:?}");
    assert!(r.contains(&"* 0 RECENT".to_string()), "{r:?}");
    assert_eq!(work(&srv, before).1, 0, "SELECT had nothing to claim");
    assert_eq!(
        a.cmd("FETCH 1 FLAGS"),
        vec!["* 1 FETCH (FLAGS (\\Recent))", "TAG OK FETCH completed"]
    );
}

/// A message that arrived while the session looked elsewhere is claimed by the session's own
/// APPEND in the same commit: both are \Recent there, and in no other session.
#[test]
fn append_claims_what_arrived_unseen_before_it() {
    let dir = TempDir::new("work-claim");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    a.cmd("SELECT INBOX");
    store_message(&srv, "alice", "INBOX", message("delivered", "x"));
    let before = stats(&srv);
    let r = a.cmd_literal("APPEND INBOX", &message("appended", "y"), "");
    assert_eq!(r[..2], ["* 2 EXISTS", "* 2 RECENT"], "{r:?}");
    assert!(r[2].starts_with("TAG OK [APPENDUID "), "{r:?}");
    assert_eq!(work(&srv, before).1, 1, "no second write to claim \\Recent");
    assert_eq!(
        a.cmd("FETCH 1:2 FLAGS"),
        vec![
            "* 1 FETCH (FLAGS (\\Recent))",
            "* 2 FETCH (FLAGS (\\Recent))",
            "TAG OK FETCH completed"
        ]
    );
    let mut b = srv.login(ALICE);
    let r = b.cmd("SELECT INBOX");
    assert!(r.contains(&"* 0 RECENT".to_string()), "{r:?}");
}

/// After a command, the session asks the store for changes only when a commit other than its
/// own has moved the mailbox: NOOPs on a quiet mailbox and its own STORE read nothing; another
/// session's STORE is reported at the next NOOP.
#[test]
fn no_read_without_a_change() {
    let dir = TempDir::new("work-sync");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    a.append("INBOX", "", &message("one", "x"));
    a.cmd("SELECT INBOX");
    let before = stats(&srv);
    for _ in 0..3 {
        assert_eq!(a.cmd("NOOP"), vec!["TAG OK NOOP completed"]);
    }
    assert_eq!(
        a.cmd("STORE 1 +FLAGS (\\Flagged)"),
        vec![
            "* 1 FETCH (FLAGS (\\Flagged \\Recent))",
            "TAG OK STORE completed"
        ]
    );
    assert_eq!(a.cmd("NOOP"), vec!["TAG OK NOOP completed"]);
    assert_eq!(work(&srv, before), (0, 1), "(reads, writes)");

    let mut b = srv.login(ALICE);
    b.cmd("SELECT INBOX");
    b.cmd("STORE 1 +FLAGS (\\Seen)");
    assert_eq!(
        a.cmd("NOOP"),
        vec![
            "* 1 FETCH (FLAGS (\\Flagged \\Seen \\Recent))",
            "TAG OK NOOP completed"
        ]
    );
}

/// UID FETCH BODY[] of small messages is one trip to the store: their rows and bodies in one
/// read, their \Seen in one write, and no read for changes afterwards (the change is its own).
#[test]
fn fetch_of_small_bodies_is_one_read_and_one_write() {
    let dir = TempDir::new("work-fetch");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    for s in ["one", "two", "three"] {
        a.append("INBOX", "", &message(s, "body"));
    }
    a.cmd("SELECT INBOX");
    let before = stats(&srv);
    let r = a.cmd("UID FETCH 1:3 BODY[]");
    let heads: Vec<&String> = r.iter().filter(|l| l.starts_with("* ")).collect();
    assert_eq!(heads.len(), 3, "{r:?}");
    for (i, h) in heads.iter().enumerate() {
        assert!(
            h.starts_with(&format!("* {} FETCH (UID {} BODY[] {{", i + 1, i + 1)),
            "{r:?}"
        );
    }
    assert_eq!(
        r.iter()
            .filter(|l| l.ends_with(" FLAGS (\\Seen \\Recent))"))
            .count(),
        3,
        "{r:?}"
    );
    assert_eq!(r.last().unwrap(), "TAG OK UID FETCH completed");
    assert_eq!(work(&srv, before), (1, 1), "(reads, writes)");
}

/// Trips from the session to a database thread (`DbPool` jobs) since `before`.
fn trips(srv: &TestServer, before: u64) -> u64 {
    srv.ctx.db.jobs() - before
}

/// The cheap commands of a mixed load are one trip each to a database thread (none for a NOOP
/// with nothing new): LOGIN checks the password and reads the user's quota (APPENDLIMIT) in
/// one job, SELECT, STORE and FETCH FLAGS are one job, and a NOOP after another session's
/// change is the one read of that change.
#[test]
fn cheap_commands_are_one_trip_each() {
    let dir = TempDir::new("work-trips");
    let srv = TestServer::start(&dir);
    let before = srv.ctx.db.jobs();
    let mut a = srv.login(ALICE);
    assert_eq!(trips(&srv, before), 1, "LOGIN");
    for s in ["one", "two"] {
        a.append("INBOX", "", &message(s, "x"));
    }
    let cases = [
        ("SELECT INBOX", 1),
        ("NOOP", 0),
        ("STORE 1 +FLAGS (\\Flagged)", 1),
        ("FETCH 1:2 (FLAGS)", 1),
        ("UID FETCH 1:2 (UID FLAGS RFC822.SIZE)", 1),
        ("NOOP", 0),
    ];
    for (command, want) in cases {
        let before = srv.ctx.db.jobs();
        let r = a.cmd(command);
        assert!(r.last().unwrap().starts_with("TAG OK"), "{command}: {r:?}");
        assert_eq!(trips(&srv, before), want, "{command}: {r:?}");
    }
    let mut b = srv.login(ALICE);
    b.cmd("SELECT INBOX");
    b.cmd("STORE 2 +FLAGS (\\Seen)");
    let before = srv.ctx.db.jobs();
    assert_eq!(
        a.cmd("NOOP"),
        vec![
            "* 2 FETCH (FLAGS (\\Seen \\Recent))",
            "TAG OK NOOP completed"
        ]
    );
    assert_eq!(trips(&srv, before), 1, "NOOP after another session's STORE");
}

/// EXPUNGE is one trip and one write: the expunging session announces what it removed in its
/// answer, so its own view keeps nothing and the body goes in the same commit (no second
/// write after the expunge to collect it). Another session that still numbers the message
/// keeps it readable until it is told.
#[test]
fn expunge_is_one_trip_and_one_write() {
    let dir = TempDir::new("work-expunge");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    for s in ["one", "two", "three"] {
        a.append("INBOX", "", &message(s, s));
    }
    a.cmd("SELECT INBOX");
    a.cmd("STORE 2 +FLAGS.SILENT (\\Deleted)");
    let (before, jobs) = (stats(&srv), srv.ctx.db.jobs());
    assert_eq!(
        a.cmd("EXPUNGE"),
        vec!["* 2 EXPUNGE", "TAG OK EXPUNGE completed"]
    );
    assert_eq!(trips(&srv, jobs), 1, "EXPUNGE");
    assert_eq!(work(&srv, before).1, 1, "one write, the body included");
    assert_eq!(
        table_rows(&srv, "bodies"),
        2,
        "the body went with the message"
    );

    // B still numbers message 2 when A expunges it: B reads it until told, then it goes.
    let mut b = srv.login(ALICE);
    b.cmd("SELECT INBOX");
    a.cmd("STORE 2 +FLAGS.SILENT (\\Deleted)");
    assert_eq!(
        a.cmd("EXPUNGE"),
        vec!["* 2 EXPUNGE", "TAG OK EXPUNGE completed"]
    );
    assert_eq!(table_rows(&srv, "bodies"), 2, "held by B's view");
    let r = b.cmd("FETCH 2 BODY.PEEK[TEXT]");
    assert_eq!(r[0], "* 2 FETCH (BODY[TEXT] {7}\r\nthree\r\n)", "{r:?}");
    assert_eq!(b.cmd("NOOP"), vec!["* 2 EXPUNGE", "TAG OK NOOP completed"]);
    assert_eq!(table_rows(&srv, "bodies"), 1);
}

/// STATUS reads the folder's row, its counters and its MAILBOXID in one snapshot: one trip,
/// one read transaction.
#[test]
fn status_is_one_read() {
    let dir = TempDir::new("work-status");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    a.append("INBOX", "\\Seen", &message("one", "x"));
    a.append("INBOX", "", &message("two", "y"));
    let (before, jobs) = (stats(&srv), srv.ctx.db.jobs());
    assert_eq!(
        a.cmd("STATUS INBOX (MESSAGES UNSEEN)"),
        vec![
            "* STATUS INBOX (MESSAGES 2 UNSEEN 1)",
            "TAG OK STATUS completed"
        ]
    );
    assert_eq!(trips(&srv, jobs), 1, "STATUS");
    assert_eq!(work(&srv, before), (1, 0), "(reads, writes)");
    let r = a.cmd("STATUS INBOX (MESSAGES MAILBOXID)");
    assert!(
        r[0].starts_with("* STATUS INBOX (MESSAGES 2 MAILBOXID (F"),
        "{r:?}"
    );
    assert_eq!(work(&srv, before), (2, 0), "(reads, writes)");
    let r = a.cmd("STATUS Nosuch (MESSAGES)");
    assert!(r[0].starts_with("TAG NO [NONEXISTENT]"), "{r:?}");
}

/// SELECT reads the folder by name, then its snapshot with its MAILBOXID: two reads in one
/// trip, and no write when there is nothing to claim as \Recent.
#[test]
fn select_is_one_trip_of_two_reads() {
    let dir = TempDir::new("work-select");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    a.append("INBOX", "", &message("one", "x"));
    a.cmd("SELECT INBOX");
    a.cmd("UNSELECT");
    let (before, jobs) = (stats(&srv), srv.ctx.db.jobs());
    let r = a.cmd("SELECT INBOX");
    assert!(
        r.iter().any(|l| l.starts_with("* OK [MAILBOXID (F")),
        "{r:?}"
    );
    assert_eq!(r.last().unwrap(), "TAG OK [READ-WRITE] SELECT completed");
    assert_eq!(trips(&srv, jobs), 1, "SELECT");
    assert_eq!(work(&srv, before), (2, 0), "(reads, writes)");
}

/// APPEND to the selected mailbox is one trip: the job that appends also reads what changed
/// for the sync after it, so the session's own `* N EXISTS` needs no second trip. Changes by
/// another session made before still arrive with it, and later ones at the next command.
#[test]
fn append_to_the_selected_mailbox_is_one_trip() {
    let dir = TempDir::new("work-append-selected");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    let mut b = srv.login(ALICE);
    a.append("INBOX", "", &message("one", "x"));
    assert!(a.cmd("SELECT INBOX").last().unwrap().starts_with("TAG OK"));
    b.cmd("SELECT INBOX");
    b.cmd("STORE 1 +FLAGS.SILENT (\\Flagged)");
    let before = srv.ctx.db.jobs();
    let r = a.cmd_literal("APPEND INBOX", &message("two", "y"), "");
    assert_eq!(
        trips(&srv, before),
        1,
        "APPEND to the selected mailbox: {r:?}"
    );
    assert_eq!(r[0], "* 1 FETCH (FLAGS (\\Flagged \\Recent))", "{r:?}");
    assert_eq!(r[1], "* 2 EXISTS", "{r:?}");
    assert_eq!(r[2], "* 2 RECENT", "{r:?}");
    assert!(r[3].starts_with("TAG OK [APPENDUID "), "{r:?}");
    assert_eq!(r.len(), 4, "{r:?}");
    b.cmd("NOOP");
    b.cmd("STORE 2 +FLAGS.SILENT (\\Seen)");
    assert_eq!(
        a.cmd("NOOP"),
        vec![
            "* 2 FETCH (FLAGS (\\Seen \\Recent))",
            "TAG OK NOOP completed"
        ]
    );
    // Not selected: nothing to read after it.
    let mut c = srv.login(ALICE);
    let before = srv.ctx.db.jobs();
    assert!(c
        .append("INBOX", "", &message("three", "z"))
        .starts_with("TAG OK"));
    assert_eq!(trips(&srv, before), 1, "APPEND while not selected");
}
