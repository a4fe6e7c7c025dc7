//! CONDSTORE (RFC 7162 §3.1): modseqs at SELECT, in FETCH, STORE, SEARCH, ESEARCH and STATUS,
//! the commands that enable it, other sessions' changes, and modseqs across a restart. Exact
//! responses. A new mailbox starts at modseq 1; every append, flag change and expunge takes
//! the next one.

mod common;
use common::*;

/// Alice's INBOX with three messages (modseqs 2, 3 and 4).
fn three_messages(srv: &TestServer) -> Client {
    let mut c = srv.login(ALICE);
    for i in 1..=3 {
        c.append("INBOX", "", &message(&format!("m{i}"), "body"));
    }
    c
}

#[test]
fn condstore_every_form() {
    let dir = TempDir::new("condstore-forms");
    let srv = TestServer::start(&dir);
    let mut c = three_messages(&srv);
    assert!(c.cmd("CAPABILITY")[0].contains(" ENABLE CONDSTORE "));
    assert_eq!(
        c.cmd("ENABLE CONDSTORE"),
        vec!["* ENABLED CONDSTORE", "TAG OK ENABLE completed"]
    );
    // Asked again, it is still on (Dovecot answers the same).
    assert_eq!(
        c.cmd("ENABLE CONDSTORE"),
        vec!["* ENABLED CONDSTORE", "TAG OK ENABLE completed"]
    );
    let r = c.cmd("EXAMINE INBOX");
    assert!(
        r.contains(&"* OK [HIGHESTMODSEQ 4] Highest".to_string()),
        "{r:?}"
    );
    assert!(!r.iter().any(|l| l.contains("NOMODSEQ")), "{r:?}");
    let r = c.cmd("SELECT INBOX");
    // RFC 7162 §3.2.11: the responses of the mailbox that was open end here.
    assert_eq!(r[0], "* OK [CLOSED] Previous mailbox closed");
    assert!(
        r.contains(&"* OK [HIGHESTMODSEQ 4] Highest".to_string()),
        "{r:?}"
    );

    assert_eq!(
        c.cmd("FETCH 1:3 (UID MODSEQ)"),
        vec![
            "* 1 FETCH (UID 1 MODSEQ (2))",
            "* 2 FETCH (UID 2 MODSEQ (3))",
            "* 3 FETCH (UID 3 MODSEQ (4))",
            "TAG OK FETCH completed",
        ]
    );
    // A flag change answers its new modseq.
    assert_eq!(
        c.cmd("STORE 2 +FLAGS (\\Seen)"),
        vec![
            "* 2 FETCH (FLAGS (\\Seen \\Recent) MODSEQ (5))",
            "TAG OK STORE completed"
        ]
    );
    // CHANGEDSINCE: only what changed after it, with MODSEQ added.
    assert_eq!(
        c.cmd("FETCH 1:* (FLAGS) (CHANGEDSINCE 4)"),
        vec![
            "* 2 FETCH (FLAGS (\\Seen \\Recent) MODSEQ (5))",
            "TAG OK FETCH completed"
        ]
    );
    assert_eq!(
        c.cmd("UID FETCH 1:* (FLAGS) (CHANGEDSINCE 5)"),
        vec!["TAG OK UID FETCH completed"]
    );
    // UNCHANGEDSINCE: message 2 changed after 4 and is left alone; .SILENT still reports the
    // modseq of what did change.
    assert_eq!(
        c.cmd("UID STORE 1:3 (UNCHANGEDSINCE 4) +FLAGS.SILENT (\\Flagged)"),
        vec![
            "* 1 FETCH (UID 1 MODSEQ (6))",
            "* 3 FETCH (UID 3 MODSEQ (6))",
            "TAG OK [MODIFIED 2] Conditional STORE failed",
        ]
    );
    assert_eq!(
        c.cmd("FETCH 2 (FLAGS)"),
        vec![
            "* 2 FETCH (FLAGS (\\Seen \\Recent))",
            "TAG OK FETCH completed"
        ]
    );
    // UNCHANGEDSINCE 0 always fails; the set is in sequence numbers for STORE.
    assert_eq!(
        c.cmd("STORE 1:3 (UNCHANGEDSINCE 0) FLAGS (\\Seen)"),
        vec!["TAG OK [MODIFIED 1:3] Conditional STORE failed"]
    );
    // A message whose flags already are so passes and keeps its modseq.
    assert_eq!(
        c.cmd("STORE 1 (UNCHANGEDSINCE 6) +FLAGS (\\Flagged)"),
        vec![
            "* 1 FETCH (FLAGS (\\Flagged \\Recent) MODSEQ (6))",
            "TAG OK STORE completed"
        ]
    );

    // SEARCH MODSEQ: at least that modseq; the result ends with the highest.
    assert_eq!(
        c.cmd("SEARCH MODSEQ 6"),
        vec!["* SEARCH 1 3 (MODSEQ 6)", "TAG OK SEARCH completed"]
    );
    assert_eq!(
        c.cmd("UID SEARCH MODSEQ \"/flags/\\\\flagged\" priv 5"),
        vec!["* SEARCH 1 2 3 (MODSEQ 6)", "TAG OK UID SEARCH completed"]
    );
    assert_eq!(
        c.cmd("SEARCH SEEN MODSEQ 5"),
        vec!["* SEARCH 2 (MODSEQ 5)", "TAG OK SEARCH completed"]
    );
    assert_eq!(
        c.cmd("SEARCH MODSEQ 7"),
        vec!["* SEARCH", "TAG OK SEARCH completed"]
    );
    // Without MODSEQ in the criteria, no (MODSEQ n).
    assert_eq!(
        c.cmd("SEARCH FLAGGED"),
        vec!["* SEARCH 1 3", "TAG OK SEARCH completed"]
    );
    let tag = format!("t{}", c.peek_tag());
    assert_eq!(
        c.cmd("UID SEARCH RETURN (MIN COUNT) MODSEQ 5"),
        vec![
            format!("* ESEARCH (TAG \"{tag}\") UID MIN 1 COUNT 3 MODSEQ 6"),
            "TAG OK UID SEARCH completed".to_string(),
        ]
    );
    // MIN alone: the modseq of that message.
    let tag = format!("t{}", c.peek_tag());
    assert_eq!(
        c.cmd("SEARCH RETURN (MAX) SEEN MODSEQ 1"),
        vec![
            format!("* ESEARCH (TAG \"{tag}\") MAX 2 MODSEQ 5"),
            "TAG OK SEARCH completed".to_string(),
        ]
    );
    assert_eq!(
        c.cmd("STATUS INBOX (HIGHESTMODSEQ MESSAGES)"),
        vec![
            "* STATUS INBOX (HIGHESTMODSEQ 6 MESSAGES 3)",
            "TAG OK STATUS completed"
        ]
    );
    // QRESYNC's forms are BAD until ENABLE QRESYNC (RFC 7162 §3.2.5, §3.2.6).
    assert_eq!(
        c.cmd("UID FETCH 1:* (FLAGS) (CHANGEDSINCE 1 VANISHED)"),
        vec!["TAG BAD VANISHED needs ENABLE QRESYNC first"]
    );
    assert_eq!(
        c.cmd("SELECT INBOX (QRESYNC (1 2))"),
        vec!["TAG BAD QRESYNC parameters need ENABLE QRESYNC first"]
    );
}

#[test]
fn condstore_is_enabled_by_first_use() {
    let dir = TempDir::new("condstore-enable");
    let srv = TestServer::start(&dir);
    let mut c = three_messages(&srv);
    c.cmd("SELECT INBOX");
    // Not enabled yet: a STORE answers flags only.
    assert_eq!(
        c.cmd("STORE 1 +FLAGS (\\Seen)"),
        vec![
            "* 1 FETCH (FLAGS (\\Seen \\Recent))",
            "TAG OK STORE completed"
        ]
    );
    // FETCH MODSEQ enables CONDSTORE (RFC 7162 §3.1)...
    assert_eq!(
        c.cmd("FETCH 1 (MODSEQ)"),
        vec!["* 1 FETCH (MODSEQ (5))", "TAG OK FETCH completed"]
    );
    // ... so from now on every FETCH that reports flags carries MODSEQ.
    assert_eq!(
        c.cmd("STORE 1 -FLAGS (\\Seen)"),
        vec![
            "* 1 FETCH (FLAGS (\\Recent) MODSEQ (6))",
            "TAG OK STORE completed"
        ]
    );
    // The \Seen a BODY[] fetch sets is reported with its modseq.
    let r = c.cmd("FETCH 2 (BODY[TEXT])");
    assert_eq!(
        r.last().map(String::as_str),
        Some("TAG OK FETCH completed"),
        "{r:?}"
    );
    assert!(
        r[r.len() - 2].ends_with(" FLAGS (\\Seen \\Recent) MODSEQ (7))"),
        "{r:?}"
    );

    // So does LIST-STATUS with HIGHESTMODSEQ.
    let mut e = srv.login(ALICE);
    assert_eq!(
        e.cmd("LIST \"\" INBOX RETURN (STATUS (HIGHESTMODSEQ))"),
        vec![
            "* LIST (\\HasNoChildren) \"/\" INBOX",
            "* STATUS INBOX (HIGHESTMODSEQ 7)",
            "TAG OK LIST completed",
        ]
    );
    e.cmd("SELECT INBOX");
    assert_eq!(
        e.cmd("STORE 3 +FLAGS (\\Flagged)"),
        vec![
            "* 3 FETCH (FLAGS (\\Flagged) MODSEQ (8))",
            "TAG OK STORE completed"
        ]
    );

    // SELECT ... (CONDSTORE) enables it for a new session.
    let mut d = srv.login(ALICE);
    let r = d.cmd("SELECT INBOX (CONDSTORE)");
    assert!(
        r.contains(&"* OK [HIGHESTMODSEQ 8] Highest".to_string()),
        "{r:?}"
    );
    assert_eq!(
        d.cmd("STORE 3 +FLAGS (\\Answered)"),
        vec![
            "* 3 FETCH (FLAGS (\\Answered \\Flagged) MODSEQ (9))",
            "TAG OK STORE completed"
        ]
    );
}

#[test]
fn other_sessions_changes_carry_modseq() {
    let dir = TempDir::new("condstore-sessions");
    let srv = TestServer::start(&dir);
    let mut a = three_messages(&srv);
    assert_eq!(
        a.cmd("ENABLE CONDSTORE"),
        vec!["* ENABLED CONDSTORE", "TAG OK ENABLE completed"]
    );
    a.cmd("EXAMINE INBOX");
    // A session without CONDSTORE.
    let mut plain = srv.login(ALICE);
    plain.cmd("EXAMINE INBOX");

    let mut b = srv.login(ALICE);
    b.cmd("SELECT INBOX");
    b.cmd("STORE 2 +FLAGS.SILENT (\\Flagged)");
    assert_eq!(
        a.cmd("NOOP"),
        vec![
            "* 2 FETCH (FLAGS (\\Flagged \\Recent) MODSEQ (5))",
            "TAG OK NOOP completed"
        ]
    );
    assert_eq!(
        plain.cmd("NOOP"),
        vec![
            "* 2 FETCH (FLAGS (\\Flagged \\Recent))",
            "TAG OK NOOP completed"
        ]
    );
    // What the other session told A is also what CHANGEDSINCE gives.
    assert_eq!(
        a.cmd("FETCH 1:* (UID) (CHANGEDSINCE 4)"),
        vec!["* 2 FETCH (UID 2 MODSEQ (5))", "TAG OK FETCH completed"]
    );
}

#[test]
fn modseqs_survive_a_restart() {
    let dir = TempDir::new("condstore-restart");
    let srv = TestServer::start(&dir);
    let mut c = three_messages(&srv);
    c.cmd("SELECT INBOX");
    c.cmd("STORE 1 +FLAGS (\\Seen)");
    c.cmd("LOGOUT");
    srv.stop();

    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    let r = c.cmd("EXAMINE INBOX (CONDSTORE)");
    assert!(
        r.contains(&"* OK [HIGHESTMODSEQ 5] Highest".to_string()),
        "{r:?}"
    );
    assert_eq!(
        c.cmd("FETCH 1:* (FLAGS) (CHANGEDSINCE 3)"),
        vec![
            "* 1 FETCH (FLAGS (\\Seen) MODSEQ (5))",
            // \Recent went to the session before the restart.
            "* 3 FETCH (FLAGS () MODSEQ (4))",
            "TAG OK FETCH completed",
        ]
    );
    assert_eq!(
        c.cmd("STATUS INBOX (HIGHESTMODSEQ)"),
        vec![
            "* STATUS INBOX (HIGHESTMODSEQ 5)",
            "TAG OK STATUS completed"
        ]
    );
}

// ---- A real client: IMAPClient's CONDSTORE calls ----

const IMAPCLIENT_CONDSTORE: &str = r#"
import sys, imapclient
port = int(sys.argv[1])
c = imapclient.IMAPClient("127.0.0.1", port=port, ssl=False)
c.login("alice", "wonderland")
assert c.has_capability("CONDSTORE")
for i in range(3):
    c.append("INBOX", b"Subject: m%d\r\n\r\nbody %d\r\n" % (i, i))
info = c.select_folder("INBOX", readonly=True)
print("highestmodseq", info[b"HIGHESTMODSEQ"])
w = imapclient.IMAPClient("127.0.0.1", port=port, ssl=False)
w.login("alice", "wonderland")
w.select_folder("INBOX")
w.add_flags([2], [imapclient.SEEN])
w.logout()
res = c.fetch([1, 2, 3], ["FLAGS"], modifiers=["CHANGEDSINCE 4"])
for uid in sorted(res):
    print("changed", uid, res[uid][b"MODSEQ"], res[uid][b"FLAGS"])
print("search", c.search(["MODSEQ", 5]))
res = c.fetch([1, 2, 3], ["MODSEQ"])
print("modseqs", [res[u][b"MODSEQ"] for u in sorted(res)])
c.logout()
print("DONE")
"#;

#[test]
fn imapclient_condstore() {
    let dir = TempDir::new("condstore-imapclient");
    let srv = TestServer::start(&dir);
    let stdout = python(IMAPCLIENT_CONDSTORE, &[&srv.port.to_string()]);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        vec![
            "highestmodseq 4",
            // EXAMINE claims no \Recent, so the messages are still recent to it.
            "changed 2 (5,) (b'\\\\Seen', b'\\\\Recent')",
            "search [2]",
            "modseqs [(2,), (5,), (4,)]",
            "DONE",
        ]
    );
}
