//! QRESYNC (RFC 7162 §3.2): ENABLE QRESYNC, `* VANISHED` instead of `* N EXPUNGE`, SELECT with
//! QRESYNC parameters (`* VANISHED (EARLIER)` and the changed messages in one round trip, also
//! after a restart), `UID FETCH … (CHANGEDSINCE n VANISHED)`. Exact responses.

mod common;
use common::*;

fn uidvalidity(r: &[String]) -> u32 {
    r.iter()
        .find_map(|l| l.strip_prefix("* OK [UIDVALIDITY "))
        .and_then(|l| l.split(']').next())
        .and_then(|v| v.parse().ok())
        .unwrap()
}

/// The responses between the HIGHESTMODSEQ line and the tagged one.
fn after_highest(r: &[String]) -> Vec<String> {
    let at = r
        .iter()
        .position(|l| l.starts_with("* OK [HIGHESTMODSEQ "))
        .unwrap();
    r[at + 1..].to_vec()
}

#[test]
fn qresync_vanished_and_resync_across_a_restart() {
    let dir = TempDir::new("qresync");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    for i in 1..=5 {
        a.append("INBOX", "", &message(&format!("m{i}"), "body")); // modseqs 2..=6
    }
    assert_eq!(
        a.cmd("ENABLE QRESYNC"),
        vec!["* ENABLED QRESYNC", "TAG OK ENABLE completed"]
    );
    let v = uidvalidity(&a.cmd("SELECT INBOX"));
    a.cmd("STORE 1:3 +FLAGS.SILENT (\\Deleted)"); // modseq 7
                                                  // Its own EXPUNGE is told by UID (RFC 7162 §3.2.10).
    assert_eq!(
        a.cmd("EXPUNGE"),
        vec!["* VANISHED 1:3", "TAG OK EXPUNGE completed"]
    ); // modseq 8
    assert_eq!(
        a.cmd("STORE 1 +FLAGS.SILENT (\\Seen)"),
        vec!["* 1 FETCH (MODSEQ (9))", "TAG OK STORE completed"]
    );
    // Another session's expunge, too.
    let mut b = srv.login(ALICE);
    b.cmd("SELECT INBOX");
    b.cmd("STORE 2 +FLAGS.SILENT (\\Deleted)"); // modseq 10
    b.cmd("EXPUNGE"); // modseq 11
    assert_eq!(a.cmd("NOOP"), vec!["* VANISHED 5", "TAG OK NOOP completed"]);
    a.cmd("LOGOUT");
    b.cmd("LOGOUT");
    srv.stop();

    // A client that last saw modseq 6 comes back after a restart: one SELECT tells it all.
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    c.cmd("ENABLE QRESYNC");
    let r = c.cmd(&format!("SELECT INBOX (QRESYNC ({v} 6))"));
    assert!(
        r.contains(&"* OK [HIGHESTMODSEQ 11] Highest".to_string()),
        "{r:?}"
    );
    assert_eq!(
        after_highest(&r),
        vec![
            "* VANISHED (EARLIER) 1:3,5",
            "* 1 FETCH (UID 4 FLAGS (\\Seen) MODSEQ (9))",
            "TAG OK [READ-WRITE] SELECT completed",
        ]
    );
    // With the UIDs it knows, only those are reported vanished.
    let r = c.cmd(&format!("EXAMINE INBOX (QRESYNC ({v} 6 2:4))"));
    assert_eq!(r[0], "* OK [CLOSED] Previous mailbox closed");
    assert_eq!(
        after_highest(&r),
        vec![
            "* VANISHED (EARLIER) 2:3",
            "* 1 FETCH (UID 4 FLAGS (\\Seen) MODSEQ (9))",
            "TAG OK [READ-ONLY] EXAMINE completed",
        ]
    );
    // From modseq 9 on only the second expunge is news.
    let r = c.cmd(&format!("EXAMINE INBOX (QRESYNC ({v} 9))"));
    assert_eq!(
        after_highest(&r),
        vec![
            "* VANISHED (EARLIER) 5",
            "TAG OK [READ-ONLY] EXAMINE completed"
        ]
    );
    // A wrong UIDVALIDITY is a plain EXAMINE.
    let r = c.cmd(&format!(
        "EXAMINE INBOX (QRESYNC ({} 6))",
        v.wrapping_add(1)
    ));
    assert_eq!(
        after_highest(&r),
        vec!["TAG OK [READ-ONLY] EXAMINE completed"]
    );
    // UID FETCH ... (CHANGEDSINCE n VANISHED): the vanished UIDs of the set, then the changes.
    assert_eq!(
        c.cmd("UID FETCH 1:* (FLAGS) (CHANGEDSINCE 6 VANISHED)"),
        vec![
            "* VANISHED (EARLIER) 1:3,5",
            "* 1 FETCH (UID 4 FLAGS (\\Seen) MODSEQ (9))",
            "TAG OK UID FETCH completed",
        ]
    );
    assert_eq!(
        c.cmd("UID FETCH 3:4 (FLAGS) (CHANGEDSINCE 6 VANISHED)"),
        vec![
            "* VANISHED (EARLIER) 3",
            "* 1 FETCH (UID 4 FLAGS (\\Seen) MODSEQ (9))",
            "TAG OK UID FETCH completed",
        ]
    );
    assert_eq!(
        c.cmd("FETCH 1:* (FLAGS) (CHANGEDSINCE 6 VANISHED)"),
        vec!["TAG BAD VANISHED needs UID FETCH and CHANGEDSINCE"]
    );
    assert_eq!(
        c.cmd("UID FETCH 1:* (FLAGS) (VANISHED)"),
        vec!["TAG BAD VANISHED needs UID FETCH and CHANGEDSINCE"]
    );
}

#[test]
fn qresync_move_is_vanished() {
    let dir = TempDir::new("qresync-move");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    for i in 1..=3 {
        a.append("INBOX", "", &message(&format!("m{i}"), "body"));
    }
    a.cmd("ENABLE QRESYNC");
    a.cmd("SELECT INBOX");
    let r = a.cmd("MOVE 2 Archive");
    assert_eq!(r.len(), 3, "{r:?}");
    assert!(r[0].starts_with("* OK [COPYUID "), "{r:?}");
    assert_eq!(r[1..], ["* VANISHED 2", "TAG OK MOVE completed"]);
    // Without QRESYNC the same is an EXPUNGE by sequence number.
    let mut b = srv.login(ALICE);
    b.cmd("SELECT INBOX");
    let r = b.cmd("MOVE 2 Archive");
    assert_eq!(r[1..], ["* 2 EXPUNGE", "TAG OK MOVE completed"]);
    assert_eq!(a.cmd("NOOP"), vec!["* VANISHED 3", "TAG OK NOOP completed"]);
}
