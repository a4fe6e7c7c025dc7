//! STORE, COPY and their UID forms end to end (issue 3).

mod common;
use common::*;

fn three(srv: &TestServer) -> Client {
    let mut c = srv.login(ALICE);
    c.append("INBOX", "", &message("one", "body one"));
    c.append("INBOX", "", &message("two", "body two"));
    c.append("INBOX", "\\Flagged", &message("three", "body three"));
    c
}

#[test]
fn store_forms() {
    let dir = TempDir::new("store-forms");
    let srv = TestServer::start(&dir);
    let mut c = three(&srv);
    let sel = c.cmd("SELECT INBOX");
    assert!(sel.contains(&"* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted".to_string()));
    // FLAGS replaces; a new keyword is announced first with an untagged FLAGS.
    assert_eq!(
        c.cmd("STORE 1 FLAGS (\\Answered $Label1)"),
        vec![
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label1)",
            "* 1 FETCH (FLAGS (\\Answered $Label1 \\Recent))",
            "TAG OK STORE completed"
        ]
    );
    // +FLAGS adds (\Recent stays in the answer; it cannot be stored).
    let r = c.cmd("STORE 1:2 +FLAGS (\\Seen Junk)");
    assert_eq!(
        r[0],
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label1 Junk)"
    );
    assert_eq!(r.len(), 4);
    assert!(r[1].starts_with("* 1 FETCH (FLAGS ("), "{r:?}");
    let mut f1: Vec<&str> = r[1]["* 1 FETCH (FLAGS (".len()..r[1].len() - 2]
        .split(' ')
        .collect();
    f1.sort();
    assert_eq!(f1, ["$Label1", "Junk", "\\Answered", "\\Recent", "\\Seen"]);
    assert_eq!(r[2], "* 2 FETCH (FLAGS (\\Seen Junk \\Recent))");
    // -FLAGS removes, keywords matched case-insensitively; no new FLAGS line.
    assert_eq!(
        c.cmd("STORE 2 -FLAGS (junk \\SEEN)"),
        vec!["* 2 FETCH (FLAGS (\\Recent))", "TAG OK STORE completed"]
    );
    // Known keyword in another case: no FLAGS announcement.
    assert_eq!(
        c.cmd("STORE 2 +FLAGS ($label1)"),
        vec![
            "* 2 FETCH (FLAGS ($label1 \\Recent))",
            "TAG OK STORE completed"
        ]
    );
    // .SILENT forms: nothing but the tagged OK.
    assert_eq!(
        c.cmd("STORE 2 FLAGS.SILENT (\\Draft \\Deleted)"),
        vec!["TAG OK STORE completed"]
    );
    assert_eq!(
        c.cmd("STORE 2 +FLAGS.SILENT (\\Flagged)"),
        vec!["TAG OK STORE completed"]
    );
    assert_eq!(
        c.cmd("STORE 2 -FLAGS.SILENT (\\Draft)"),
        vec!["TAG OK STORE completed"]
    );
    assert_eq!(
        c.cmd("FETCH 2 FLAGS"),
        vec![
            "* 2 FETCH (FLAGS (\\Flagged \\Deleted \\Recent))",
            "TAG OK FETCH completed"
        ]
    );
    // FLAGS () clears everything; \Recent stays.
    assert_eq!(
        c.cmd("STORE 2 FLAGS ()"),
        vec!["* 2 FETCH (FLAGS (\\Recent))", "TAG OK STORE completed"]
    );
    // Every system flag.
    assert_eq!(
        c.cmd("STORE 3 FLAGS (\\Seen \\Answered \\Flagged \\Deleted \\Draft)"),
        vec![
            "* 3 FETCH (FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\Recent))",
            "TAG OK STORE completed"
        ]
    );
    assert_eq!(
        c.cmd("STORE 1 +FLAGS (\\Bogus)"),
        vec!["TAG BAD Unknown system flag \\Bogus"]
    );
    assert_eq!(
        c.cmd("STORE 4 +FLAGS (\\Seen)"),
        vec!["TAG BAD Sequence number beyond the mailbox (3 messages)"]
    );
    // Another session sees the stored flags.
    let mut d = srv.login(ALICE);
    let r = d.cmd("EXAMINE INBOX");
    assert_eq!(
        r[0],
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Label1 Junk)"
    );
    assert_eq!(
        d.cmd("FETCH 2:3 FLAGS"),
        vec![
            "* 2 FETCH (FLAGS ())",
            "* 3 FETCH (FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft))",
            "TAG OK FETCH completed"
        ]
    );
}

#[test]
fn uid_store_and_read_only() {
    let dir = TempDir::new("store-uid");
    let srv = TestServer::start(&dir);
    let mut c = three(&srv);
    c.cmd("SELECT INBOX");
    c.cmd("STORE 2 +FLAGS.SILENT (\\Deleted)");
    c.cmd("EXPUNGE");
    // UIDs 1, 3 are now sequence numbers 1, 2.
    assert_eq!(
        c.cmd("UID STORE 3 +FLAGS (\\Seen)"),
        vec![
            "* 2 FETCH (UID 3 FLAGS (\\Flagged \\Seen \\Recent))",
            "TAG OK UID STORE completed"
        ]
    );
    assert_eq!(
        c.cmd("UID STORE 1:* -FLAGS (\\Flagged)"),
        vec![
            "* 1 FETCH (UID 1 FLAGS (\\Recent))",
            "* 2 FETCH (UID 3 FLAGS (\\Seen \\Recent))",
            "TAG OK UID STORE completed"
        ]
    );
    // UIDs that do not exist: OK, nothing changed.
    assert_eq!(
        c.cmd("UID STORE 2 +FLAGS (\\Seen)"),
        vec!["TAG OK UID STORE completed"]
    );
    assert_eq!(
        c.cmd("UID STORE 3 +FLAGS.SILENT (\\Answered)"),
        vec!["TAG OK UID STORE completed"]
    );
    // EXAMINE: STORE is refused, flags untouched.
    c.cmd("EXAMINE INBOX");
    for cmd in [
        "STORE 1 +FLAGS (\\Seen)",
        "UID STORE 1 FLAGS.SILENT ()",
        "STORE 1:* -FLAGS (\\Answered)",
    ] {
        assert_eq!(
            c.cmd(cmd),
            vec!["TAG NO [CANNOT] Mailbox is read-only (EXAMINE): flags cannot be changed"],
            "{cmd}"
        );
    }
    assert_eq!(
        c.cmd("FETCH 1:* FLAGS"),
        vec![
            "* 1 FETCH (FLAGS ())",
            "* 2 FETCH (FLAGS (\\Answered \\Seen))",
            "TAG OK FETCH completed"
        ]
    );
}

#[test]
fn copy_and_uid_copy() {
    let dir = TempDir::new("copy");
    let srv = TestServer::start(&dir);
    let mut c = three(&srv);
    c.cmd("CREATE Archive");
    let v = uidvalidity(&mut c, "Archive");
    c.cmd("SELECT INBOX");
    c.cmd("STORE 1 +FLAGS.SILENT (\\Answered $Label1)");
    // Non-contiguous source UIDs; new UIDs in the target.
    assert_eq!(
        c.cmd("COPY 1,3 Archive"),
        vec![format!("TAG OK [COPYUID {v} 1,3 1:2] COPY completed")]
    );
    assert_eq!(
        c.cmd("UID COPY 3:1 Archive"),
        vec![format!("TAG OK [COPYUID {v} 1:3 3:5] UID COPY completed")]
    );
    // UIDs that match nothing: nothing copied, no COPYUID.
    assert_eq!(
        c.cmd("UID COPY 10:20 Archive"),
        vec!["TAG OK UID COPY completed"]
    );
    assert_eq!(
        c.cmd("COPY 4 Archive"),
        vec!["TAG BAD Sequence number beyond the mailbox (3 messages)"]
    );
    assert_eq!(
        c.cmd("STATUS Archive (MESSAGES UIDNEXT)"),
        vec![
            "* STATUS Archive (MESSAGES 5 UIDNEXT 6)",
            "TAG OK STATUS completed"
        ]
    );
    // Flags are copied (and the copies are \Recent for the session that selects first).
    let mut d = srv.login(ALICE);
    d.cmd("SELECT Archive");
    let r = d.cmd("FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (Subject)])");
    let subject = |s: &str| {
        format!(
            "BODY[HEADER.FIELDS (Subject)] {{{}}}\r\nSubject: {s}\r\n\r\n)",
            s.len() + 13
        )
    };
    let flags1 = r[0].clone();
    assert!(
        flags1
            == format!(
                "* 1 FETCH (UID 1 FLAGS (\\Answered $Label1 \\Recent) {}",
                subject("one")
            )
            || flags1
                == format!(
                    "* 1 FETCH (UID 1 FLAGS ($Label1 \\Answered \\Recent) {}",
                    subject("one")
                ),
        "{flags1}"
    );
    assert_eq!(
        r[1..],
        [
            format!(
                "* 2 FETCH (UID 2 FLAGS (\\Flagged \\Recent) {}",
                subject("three")
            ),
            format!(
                "* 3 FETCH (UID 3 FLAGS ({}\\Recent) {}",
                &flags1["* 1 FETCH (UID 1 FLAGS (".len()..flags1.find("\\Recent").unwrap()],
                subject("one")
            ),
            format!("* 4 FETCH (UID 4 FLAGS (\\Recent) {}", subject("two")),
            format!(
                "* 5 FETCH (UID 5 FLAGS (\\Flagged \\Recent) {}",
                subject("three")
            ),
            "TAG OK FETCH completed".to_string(),
        ]
    );
    // Copies share the stored body: still three bodies for eight messages.
    let (bodies, messages) = (table_rows(&srv, "bodies"), table_rows(&srv, "messages"));
    assert_eq!((bodies, messages), (3, 8));
    // The copy's flags are its own.
    d.cmd("STORE 1 FLAGS.SILENT (\\Deleted)");
    assert_eq!(
        c.cmd("FETCH 1 FLAGS")[0].replace("$Label1 \\Answered", "\\Answered $Label1"),
        "* 1 FETCH (FLAGS (\\Answered $Label1 \\Recent))"
    );
}

#[test]
fn copy_failures_are_all_or_nothing() {
    let dir = TempDir::new("copy-fail");
    let srv = TestServer::start(&dir);
    let mut c = three(&srv);
    c.cmd("CREATE Parent/child");
    c.cmd("DELETE Parent");
    c.cmd("SELECT INBOX");
    assert_eq!(
        c.cmd("COPY 1:* Nope"),
        vec!["TAG NO [TRYCREATE] No such mailbox: Nope"]
    );
    assert_eq!(
        c.cmd("UID COPY 1:* Nope/deeper"),
        vec!["TAG NO [TRYCREATE] No such mailbox: Nope/deeper"]
    );
    // Parent is \Noselect now (it has a child): nothing is copied.
    assert_eq!(
        c.cmd("COPY 1:* Parent"),
        vec!["TAG NO [CANNOT] Parent is \\Noselect and cannot hold messages"]
    );
    assert_eq!(table_rows(&srv, "messages"), 3);
    // Another user's mailbox names are not reachable.
    let mut b = srv.login(BOB);
    b.cmd("CREATE Shared");
    assert_eq!(
        c.cmd("COPY 1 Shared"),
        vec!["TAG NO [TRYCREATE] No such mailbox: Shared"]
    );
}

#[test]
fn copy_into_selected_mailbox() {
    let dir = TempDir::new("copy-self");
    let srv = TestServer::start(&dir);
    let mut c = three(&srv);
    let v = uidvalidity(&mut c, "INBOX");
    c.cmd("SELECT INBOX");
    assert_eq!(
        c.cmd("COPY 2:3 INBOX"),
        vec![
            "* 5 EXISTS".to_string(),
            "* 5 RECENT".to_string(),
            format!("TAG OK [COPYUID {v} 2:3 4:5] COPY completed")
        ]
    );
    assert_eq!(
        c.cmd("FETCH 4:5 (UID FLAGS)"),
        vec![
            "* 4 FETCH (UID 4 FLAGS (\\Recent))",
            "* 5 FETCH (UID 5 FLAGS (\\Flagged \\Recent))",
            "TAG OK FETCH completed"
        ]
    );
    // COPY from an EXAMINEd mailbox is allowed (the source is only read).
    c.cmd("CREATE Archive");
    c.cmd("EXAMINE INBOX");
    let va = uidvalidity(&mut c, "Archive");
    assert_eq!(
        c.cmd("COPY 5 Archive"),
        vec![format!("TAG OK [COPYUID {va} 5 1] COPY completed")]
    );
}

/// A keyword the session has not announced yet, arriving on a new message (APPEND or COPY by
/// any session), is announced with `* FLAGS` before the client can see it in a FETCH.
#[test]
fn keywords_of_new_messages_are_announced() {
    let dir = TempDir::new("kw-new");
    let srv = TestServer::start(&dir);
    let mut c = three(&srv);
    c.cmd("CREATE Other");
    c.cmd("SELECT INBOX");
    let mut d = srv.login(ALICE);
    d.append("INBOX", "$Important \\Seen", &message("four", "x"));
    assert_eq!(
        c.cmd("NOOP"),
        vec![
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Important)",
            "* 4 EXISTS",
            "* 4 RECENT",
            "TAG OK NOOP completed"
        ]
    );
    // Known already: not announced again.
    d.append("INBOX", "$important", &message("five", "x"));
    assert_eq!(
        c.cmd("NOOP"),
        vec!["* 5 EXISTS", "* 5 RECENT", "TAG OK NOOP completed"]
    );
    // Via COPY from another mailbox.
    d.append("Other", "Later", &message("six", "x"));
    d.cmd("SELECT Other");
    d.cmd("COPY 1 INBOX");
    assert_eq!(
        c.cmd("NOOP"),
        vec![
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Important Later)",
            "* 6 EXISTS",
            "* 6 RECENT",
            "TAG OK NOOP completed"
        ]
    );
    // The session's own APPEND into the selected mailbox.
    let v = uidvalidity_of(&srv);
    assert_eq!(
        c.cmd_literal("APPEND INBOX ($Own)", &message("seven", "x"), ""),
        vec![
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Important $Own Later)"
                .to_string(),
            "* 7 EXISTS".to_string(),
            "* 7 RECENT".to_string(),
            format!("TAG OK [APPENDUID {v} 7] APPEND completed"),
        ]
    );
}

fn uidvalidity_of(srv: &TestServer) -> u32 {
    let store = &srv.ctx.store;
    let u = store.find_user("alice").unwrap().unwrap();
    store.mailbox(u.id, "INBOX").unwrap().unwrap().uidvalidity
}

/// Stored bodies are shared within one user only: the same bytes APPENDed by two users are two
/// bodies (an APPEND never finds, and is never sped up by, another user's copy), while one
/// user's APPENDs, COPY and MOVE of the same bytes share one.
#[test]
fn bodies_are_never_shared_between_users() {
    let dir = TempDir::new("bodies-per-user");
    let srv = TestServer::start(&dir);
    let raw = message("same", "identical bytes");
    let mut a = srv.login(ALICE);
    let mut b = srv.login(BOB);
    assert!(a.append("INBOX", "", &raw).starts_with("TAG OK"));
    assert!(a.append("Archive", "", &raw).starts_with("TAG OK"));
    assert!(b.append("INBOX", "", &raw).starts_with("TAG OK"));
    a.cmd("SELECT INBOX");
    assert!(a
        .cmd("COPY 1 Drafts")
        .last()
        .unwrap()
        .ends_with("COPY completed"));
    assert!(a
        .cmd("MOVE 1 Trash")
        .last()
        .unwrap()
        .contains("MOVE completed"));
    let body_ids = |user: &str, folders: &[&str]| -> Vec<i64> {
        let store = &srv.ctx.store;
        let u = store.find_user(user).unwrap().unwrap();
        folders
            .iter()
            .flat_map(|f| {
                let mb = store.mailbox(u.id, f).unwrap().unwrap();
                let uids = store.select(mb.id, false).unwrap().uids;
                store.messages(mb.id, &uids).unwrap()
            })
            .map(|m| m.body_id)
            .collect()
    };
    let alice = body_ids("alice", &["Archive", "Drafts", "Trash"]);
    let bob = body_ids("bob", &["INBOX"]);
    assert_eq!(alice.len(), 3);
    assert!(alice.iter().all(|id| *id == alice[0]), "{alice:?}");
    assert_eq!(bob.len(), 1);
    assert_ne!(bob[0], alice[0]);
}
