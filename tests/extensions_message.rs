//! Issue 8, message-level extensions: WITHIN (RFC 5032), BINARY (RFC 3516), ESEARCH (RFC 4731),
//! SEARCHRES (RFC 5182) and MULTIAPPEND (RFC 3502), scripted end to end.

mod common;
use common::*;

/// An INTERNALDATE `secs` seconds before now, in APPEND's date-time form.
fn ago(secs: i64) -> String {
    let t = chrono::Utc::now() - chrono::Duration::seconds(secs);
    t.format("%d-%b-%Y %H:%M:%S +0000").to_string()
}

/// INBOX with four messages dated 2001, three days ago, two hours ago and one minute ago;
/// returns the client with INBOX selected.
fn dated_mailbox(srv: &TestServer) -> Client {
    let mut c = srv.login(ALICE);
    let dates = [
        "01-Jan-2001 00:00:00 +0000".to_string(),
        ago(3 * 86400),
        ago(2 * 3600),
        ago(60),
    ];
    for (i, d) in dates.iter().enumerate() {
        let r = c.append_dated("INBOX", "", d, &message(&format!("m{i}"), "body"));
        assert!(r.starts_with("TAG OK"), "{r}");
    }
    c.cmd("SELECT INBOX");
    c
}

// ---- WITHIN ----------------------------------------------------------------------------

#[test]
fn within_younger_and_older() {
    let dir = TempDir::new("within");
    let srv = TestServer::start(&dir);
    let mut c = dated_mailbox(&srv);
    let caps = c.cmd("CAPABILITY");
    assert!(caps[0].split(' ').any(|w| w == "WITHIN"), "{caps:?}");
    let cases = [
        ("YOUNGER 600", "* SEARCH 4"),
        ("YOUNGER 86400", "* SEARCH 3 4"),
        ("OLDER 86400", "* SEARCH 1 2"),
        ("OLDER 3600", "* SEARCH 1 2 3"),
        ("YOUNGER 1", "* SEARCH"),
        // Combined with other keys: a window between one hour and four days old.
        ("OLDER 3600 YOUNGER 345600", "* SEARCH 2 3"),
        ("NOT YOUNGER 86400", "* SEARCH 1 2"),
        ("OR YOUNGER 600 OLDER 345600", "* SEARCH 1 4"),
        // Under a text key (evaluated per message, not in SQL).
        ("OR SUBJECT m0 YOUNGER 600", "* SEARCH 1 4"),
    ];
    for (criteria, want) in cases {
        assert_eq!(
            c.cmd(&format!("SEARCH {criteria}")),
            vec![want.to_string(), "TAG OK SEARCH completed".into()],
            "{criteria}"
        );
    }
    assert_eq!(
        c.cmd("UID SEARCH YOUNGER 86400"),
        vec!["* SEARCH 3 4", "TAG OK UID SEARCH completed"]
    );
    // The interval is a non-zero number (RFC 5032 §4).
    for bad in ["YOUNGER 0", "OLDER", "OLDER -5", "YOUNGER x"] {
        let r = c.cmd(&format!("SEARCH {bad}"));
        assert_eq!(r.len(), 1, "{bad}: {r:?}");
        assert!(r[0].starts_with("TAG BAD"), "{bad}: {r:?}");
    }
}
