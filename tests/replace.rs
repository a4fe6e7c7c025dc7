//! Issue 19: REPLACE (RFC 8508), scripted end to end with exact responses.

mod common;
use common::*;

#[test]
fn replace_within_the_selected_mailbox_and_into_another() {
    let dir = TempDir::new("replace");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    for s in ["one", "two", "three"] {
        assert!(c
            .append("Drafts", "\\Draft", &message(s, "v1"))
            .starts_with("TAG OK"));
    }
    let r = c.cmd("SELECT Drafts");
    let v = r
        .iter()
        .find_map(|l| l.strip_prefix("* OK [UIDVALIDITY "))
        .and_then(|l| l.split(']').next())
        .unwrap()
        .to_string();
    // A second session watches the folder.
    let mut other = srv.login(ALICE);
    other.cmd("SELECT Drafts");
    // REPLACE 2: the new version is appended, the old one expunged, in that order.
    let new = message("two", "v2");
    assert_eq!(
        c.cmd_literal("REPLACE 2 Drafts (\\Seen \\Draft)", &new, ""),
        vec![
            format!("* OK [APPENDUID {v} 4] Replacement Message ID"),
            "* 2 EXPUNGE".to_string(),
            "* 3 EXISTS".to_string(),
            "* 3 RECENT".to_string(),
            "TAG OK REPLACE completed".to_string(),
        ]
    );
    assert_eq!(
        c.cmd("FETCH 1:* (UID FLAGS)")[..3],
        [
            "* 1 FETCH (UID 1 FLAGS (\\Draft \\Recent))",
            "* 2 FETCH (UID 3 FLAGS (\\Draft \\Recent))",
            "* 3 FETCH (UID 4 FLAGS (\\Seen \\Draft \\Recent))",
        ]
    );
    // The other session learns both at its next NOOP.
    assert_eq!(
        other.cmd("NOOP"),
        vec![
            "* 2 EXPUNGE".to_string(),
            "* 3 EXISTS".to_string(),
            "* 0 RECENT".to_string(),
            "TAG OK NOOP completed".to_string(),
        ]
    );
    // UID REPLACE into another folder.
    let r = c.cmd("STATUS INBOX (UIDVALIDITY)");
    let inbox_v = r[0]
        .strip_prefix("* STATUS INBOX (UIDVALIDITY ")
        .and_then(|l| l.strip_suffix(')'))
        .unwrap()
        .to_string();
    assert_eq!(
        c.cmd_literal("UID REPLACE 3 INBOX", &message("three", "sent"), ""),
        vec![
            format!("* OK [APPENDUID {inbox_v} 1] Replacement Message ID"),
            "* 2 EXPUNGE".to_string(),
            "TAG OK UID REPLACE completed".to_string(),
        ]
    );
    // With QRESYNC the old message is told as VANISHED.
    let mut q = srv.login(ALICE);
    q.cmd("ENABLE QRESYNC");
    q.cmd("SELECT INBOX");
    assert_eq!(
        q.cmd_literal("UID REPLACE 1 INBOX", &message("three", "sent again"), ""),
        vec![
            format!("* OK [APPENDUID {inbox_v} 2] Replacement Message ID"),
            "* VANISHED 1".to_string(),
            "* 1 EXISTS".to_string(),
            "* 1 RECENT".to_string(),
            "TAG OK UID REPLACE completed".to_string(),
        ]
    );
    drop(q);
    c.cmd("UNSELECT");
    assert_eq!(
        c.cmd("STATUS INBOX (MESSAGES)")[0],
        "* STATUS INBOX (MESSAGES 1)"
    );
    assert_eq!(
        c.cmd("STATUS Drafts (MESSAGES)")[0],
        "* STATUS Drafts (MESSAGES 2)"
    );
    // Restart: all of it was committed.
    drop(c);
    drop(other);
    srv.stop();
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    assert_eq!(
        c.cmd("STATUS Drafts (MESSAGES UIDNEXT)")[0],
        "* STATUS Drafts (MESSAGES 2 UIDNEXT 5)"
    );
}

#[test]
fn replace_refusals_leave_the_old_message() {
    let dir = TempDir::new("replace-no");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    assert!(c
        .append("Drafts", "", &message("one", "v1"))
        .starts_with("TAG OK"));
    assert_eq!(
        c.cmd_literal("REPLACE 1 Drafts", b"x", ""),
        vec!["TAG BAD REPLACE needs a selected mailbox (SELECT or EXAMINE first)".to_string()]
    );
    c.cmd("SELECT Drafts");
    assert_eq!(
        c.cmd_literal("REPLACE 1 Nowhere", &message("one", "v2"), ""),
        vec!["TAG NO [TRYCREATE] No such mailbox: Nowhere".to_string()]
    );
    assert_eq!(
        c.cmd_literal("REPLACE 2 Drafts", &message("one", "v2"), ""),
        vec!["TAG BAD Sequence number beyond the mailbox (1 messages)".to_string()]
    );
    assert_eq!(
        c.cmd_literal("UID REPLACE 9 Drafts", &message("one", "v2"), ""),
        vec!["TAG NO No message with UID 9".to_string()]
    );
    c.cmd("EXAMINE Drafts");
    assert_eq!(
        c.cmd_literal("REPLACE 1 Drafts", &message("one", "v2"), ""),
        vec![
            "TAG NO [CANNOT] Mailbox is read-only (EXAMINE): no message can be replaced"
                .to_string()
        ]
    );
    assert_eq!(c.cmd("FETCH 1 (UID)")[0], "* 1 FETCH (UID 1)");
    assert_eq!(
        c.cmd("STATUS INBOX (MESSAGES)")[0],
        "* STATUS INBOX (MESSAGES 0)"
    );
}
