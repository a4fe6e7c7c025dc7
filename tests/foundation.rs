//! The foundation end to end: greeting, state machine, mailbox commands, UIDs across restarts.

mod common;
use common::*;

#[test]
fn greeting_login_logout() {
    let dir = TempDir::new("greet");
    let srv = TestServer::start(&dir);
    let mut c = srv.connect();
    assert_eq!(
        c.greeting,
        "* OK [CAPABILITY IMAP4REV1 SASL-IR AUTH=PLAIN AUTH=LOGIN] liteimap ready"
    );
    assert_eq!(
        c.cmd("SELECT INBOX"),
        vec!["TAG BAD SELECT needs a login first"]
    );
    let r = c.cmd("LOGIN alice wonderland");
    assert_eq!(
        r,
        vec!["TAG OK [CAPABILITY IMAP4REV1 IDLE UNSELECT UIDPLUS] Logged in"]
    );
    assert_eq!(
        c.cmd("LOGIN alice wonderland"),
        vec!["TAG BAD LOGIN: already logged in"]
    );
    assert_eq!(
        c.cmd("LOGOUT"),
        vec!["* BYE liteimap logging out", "TAG OK LOGOUT completed"]
    );
    assert!(c.is_closed());
}

#[test]
fn select_reports_counts_and_expunge_numbers() {
    let dir = TempDir::new("select");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    for i in 1..=5 {
        let flags = if i % 2 == 1 { "\\Deleted" } else { "\\Seen" };
        let r = c.append("INBOX", flags, &message(&format!("m{i}"), "body"));
        assert!(r.starts_with("TAG OK [APPENDUID "), "{r}");
    }
    let r = c.cmd("SELECT INBOX");
    let uidvalidity = r
        .iter()
        .find_map(|l| l.strip_prefix("* OK [UIDVALIDITY "))
        .and_then(|l| l.split(']').next())
        .unwrap()
        .to_string();
    assert_eq!(
        r,
        vec![
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)".to_string(),
            "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted".into(),
            "* 5 EXISTS".into(),
            "* 5 RECENT".into(),
            "* OK [UNSEEN 1] Message 1 is first unseen".into(),
            format!("* OK [UIDVALIDITY {uidvalidity}] UIDs valid"),
            "* OK [UIDNEXT 6] Predicted next UID".into(),
            "TAG OK [READ-WRITE] SELECT completed".into(),
        ]
    );
    // Messages 1, 3 and 5 are \Deleted: each EXPUNGE number is valid when it is sent.
    assert_eq!(
        c.cmd("EXPUNGE"),
        vec![
            "* 1 EXPUNGE",
            "* 2 EXPUNGE",
            "* 3 EXPUNGE",
            "TAG OK EXPUNGE completed"
        ]
    );
}
