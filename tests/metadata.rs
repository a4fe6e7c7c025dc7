//! METADATA (RFC 5464): exact GETMETADATA / SETMETADATA exchanges on the server and on
//! mailboxes, MAXSIZE and DEPTH, NIL deleting, the limits' response codes, entries following
//! RENAME and going with DELETE, another user seeing none of them, and the change hook.

mod common;

use std::sync::{Arc, Mutex};

use common::{TempDir, TestServer, ALICE, BOB};

#[test]
fn get_and_set_exact() {
    let dir = TempDir::new("metadata-exact");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    assert_eq!(
        c.cmd("GETMETADATA \"\" /shared/comment"),
        [
            "* METADATA \"\" (/shared/comment NIL)",
            "TAG OK GETMETADATA completed"
        ]
    );
    assert_eq!(
        c.cmd("SETMETADATA \"\" (/shared/comment \"my server\")"),
        ["TAG OK SETMETADATA completed"]
    );
    assert_eq!(
        c.cmd(
            "SETMETADATA INBOX (/private/Comment \"mine\" /shared/a/b \"x\" /shared/a/b/c \"yy\")"
        ),
        ["TAG OK SETMETADATA completed"]
    );
    // Entry names match case-insensitively.
    assert_eq!(
        c.cmd("GETMETADATA INBOX (/PRIVATE/comment /shared/nothing)"),
        [
            "* METADATA INBOX (/private/comment \"mine\" /shared/nothing NIL)",
            "TAG OK GETMETADATA completed"
        ]
    );
    assert_eq!(
        c.cmd("GETMETADATA (DEPTH 1) INBOX /shared/a"),
        [
            "* METADATA INBOX (/shared/a/b \"x\")",
            "TAG OK GETMETADATA completed"
        ]
    );
    assert_eq!(
        c.cmd("GETMETADATA (DEPTH infinity) INBOX /shared"),
        [
            "* METADATA INBOX (/shared/a/b \"x\" /shared/a/b/c \"yy\")",
            "TAG OK GETMETADATA completed"
        ]
    );
    assert_eq!(
        c.cmd("GETMETADATA (MAXSIZE 1 DEPTH infinity) INBOX /shared"),
        [
            "* METADATA INBOX (/shared/a/b \"x\")",
            "TAG OK [METADATA LONGENTRIES 2] GETMETADATA completed"
        ]
    );
    assert_eq!(
        c.cmd("GETMETADATA (MAXSIZE 0) INBOX /private/comment"),
        ["TAG OK [METADATA LONGENTRIES 4] GETMETADATA completed"]
    );
    assert_eq!(
        c.cmd("GETMETADATA (DEPTH 1) \"\" /shared"),
        [
            "* METADATA \"\" (/shared/comment \"my server\")",
            "TAG OK GETMETADATA completed"
        ]
    );
    // A value with NUL comes back as a literal8; NIL removes an entry.
    c.send(b"b1 SETMETADATA INBOX (/private/bin ~{3+}\r\na\x00b)\r\n");
    assert_eq!(c.until_tagged("b1"), ["TAG OK SETMETADATA completed"]);
    let r = c.cmd_bytes("GETMETADATA INBOX /private/bin");
    assert_eq!(
        r[0],
        b"* METADATA INBOX (/private/bin ~{3}\r\na\x00b)".to_vec()
    );
    assert_eq!(
        c.cmd("SETMETADATA INBOX (/private/comment NIL /private/bin NIL /private/never NIL)"),
        ["TAG OK SETMETADATA completed"]
    );
    assert_eq!(
        c.cmd("GETMETADATA INBOX (/private/comment /private/bin)"),
        [
            "* METADATA INBOX (/private/comment NIL /private/bin NIL)",
            "TAG OK GETMETADATA completed"
        ]
    );
    // Refusals.
    assert_eq!(
        c.cmd("SETMETADATA INBOX (/foo \"x\")"),
        ["TAG BAD Entry names begin with /private or /shared"]
    );
    assert_eq!(
        c.cmd("SETMETADATA INBOX (\"/shared/a*\" \"x\")"),
        ["TAG BAD Entry names cannot contain * or %"]
    );
    assert_eq!(
        c.cmd("SETMETADATA INBOX (/shared/ \"x\")"),
        ["TAG BAD Entry names cannot end with /"]
    );
    assert_eq!(
        c.cmd("GETMETADATA nosuch /shared/comment"),
        ["TAG NO [NONEXISTENT] No such mailbox: nosuch"]
    );
    assert_eq!(
        c.cmd("SETMETADATA nosuch (/shared/comment \"x\")"),
        ["TAG NO [NONEXISTENT] No such mailbox: nosuch"]
    );
    let big = vec![b'v'; liteimap::store::MAX_VALUE + 1];
    assert_eq!(
        c.cmd_literal("SETMETADATA INBOX (/private/big", &big, ")"),
        [format!(
            "TAG NO [METADATA MAXSIZE {}] A metadata value holds at most {} octets; nothing was set",
            liteimap::store::MAX_VALUE,
            liteimap::store::MAX_VALUE
        )]
    );
    // The entries are alice's alone: bob sees none of them, on the server or on his INBOX.
    let mut b = srv.login(BOB);
    assert_eq!(
        b.cmd("GETMETADATA (DEPTH infinity) \"\" /shared"),
        ["TAG OK GETMETADATA completed"]
    );
    assert_eq!(
        b.cmd("GETMETADATA (DEPTH infinity) INBOX /shared"),
        ["TAG OK GETMETADATA completed"]
    );
}

#[test]
fn entries_follow_rename_and_go_with_delete() {
    let dir = TempDir::new("metadata-mailboxes");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    c.cmd("CREATE foo/sub");
    c.cmd("SETMETADATA foo (/private/x \"1\")");
    c.cmd("SETMETADATA foo/sub (/private/y \"2\")");
    assert_eq!(c.cmd("RENAME foo bar"), ["TAG OK RENAME completed"]);
    assert_eq!(
        c.cmd("GETMETADATA bar /private/x"),
        [
            "* METADATA bar (/private/x \"1\")",
            "TAG OK GETMETADATA completed"
        ]
    );
    assert_eq!(
        c.cmd("GETMETADATA bar/sub /private/y"),
        [
            "* METADATA bar/sub (/private/y \"2\")",
            "TAG OK GETMETADATA completed"
        ]
    );
    // DELETE of a folder with children keeps its name (\Noselect) but not its entries.
    assert_eq!(c.cmd("DELETE bar"), ["TAG OK DELETE completed"]);
    assert_eq!(
        c.cmd("GETMETADATA bar /private/x"),
        ["TAG NO [NONEXISTENT] No such mailbox: bar"]
    );
    c.cmd("CREATE bar");
    assert_eq!(
        c.cmd("GETMETADATA bar /private/x"),
        [
            "* METADATA bar (/private/x NIL)",
            "TAG OK GETMETADATA completed"
        ]
    );
    assert_eq!(c.cmd("DELETE bar/sub"), ["TAG OK DELETE completed"]);
    c.cmd("CREATE bar/sub");
    assert_eq!(
        c.cmd("GETMETADATA bar/sub /private/y"),
        [
            "* METADATA bar/sub (/private/y NIL)",
            "TAG OK GETMETADATA completed"
        ]
    );
    // Entries survive a restart.
    c.cmd("SETMETADATA \"\" (/private/kept \"yes\")");
    drop(c);
    srv.stop();
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    assert_eq!(
        c.cmd("GETMETADATA \"\" /private/kept"),
        [
            "* METADATA \"\" (/private/kept \"yes\")",
            "TAG OK GETMETADATA completed"
        ]
    );
}

#[test]
fn too_many_entries_set_nothing() {
    let dir = TempDir::new("metadata-toomany");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    let max = liteimap::store::MAX_ENTRIES;
    let entries: Vec<String> = (0..max - 1)
        .map(|i| format!("/private/e{i} \"v\""))
        .collect();
    assert_eq!(
        c.cmd(&format!("SETMETADATA INBOX ({})", entries.join(" "))),
        ["TAG OK SETMETADATA completed"]
    );
    assert_eq!(
        c.cmd("SETMETADATA \"\" (/private/last \"v\" /private/over \"v\")"),
        [format!(
            "TAG NO [METADATA TOOMANY] At most {max} metadata entries per user; nothing was set"
        )]
    );
    assert_eq!(
        c.cmd("GETMETADATA \"\" /private/last"),
        [
            "* METADATA \"\" (/private/last NIL)",
            "TAG OK GETMETADATA completed"
        ]
    );
    // Replacing a value and removing one to make room both work at the limit.
    assert_eq!(
        c.cmd("SETMETADATA \"\" (/private/last \"v\")"),
        ["TAG OK SETMETADATA completed"]
    );
    assert_eq!(
        c.cmd("SETMETADATA INBOX (/private/e0 \"w\")"),
        ["TAG OK SETMETADATA completed"]
    );
    assert_eq!(
        c.cmd("SETMETADATA INBOX (/private/e1 NIL /private/new \"v\")"),
        ["TAG OK SETMETADATA completed"]
    );
}

/// A change as the hook reported it: the mailbox's name (None: the server) and the entries.
type Heard = (Option<String>, Vec<String>);

/// The hook a NOTIFY implementation listens on: one event per committed SETMETADATA.
#[test]
fn change_hook_hears_committed_changes() {
    let dir = TempDir::new("metadata-hook");
    let srv = TestServer::start(&dir);
    let heard: Arc<Mutex<Vec<Heard>>> = Arc::default();
    let h = heard.clone();
    let store = srv.ctx.store.clone();
    srv.ctx
        .store
        .set_metadata_hook(Box::new(move |change: &liteimap::store::MetadataChange| {
            let name = change.mailbox.map(|m| store.mailbox_by_id(m).unwrap().name);
            h.lock().unwrap().push((name, change.entries.clone()));
        }));
    let mut c = srv.login(ALICE);
    c.cmd("SETMETADATA INBOX (/private/a \"1\" /shared/b NIL)");
    c.cmd("SETMETADATA \"\" (/shared/comment \"x\")");
    c.cmd("SETMETADATA INBOX (/foo \"refused\")");
    assert_eq!(
        *heard.lock().unwrap(),
        [
            (
                Some("INBOX".to_string()),
                vec!["/private/a".to_string(), "/shared/b".to_string()]
            ),
            (None, vec!["/shared/comment".to_string()]),
        ]
    );
}
