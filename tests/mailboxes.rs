//! Mailbox commands (CREATE DELETE RENAME SUBSCRIBE LIST LSUB STATUS APPEND CLOSE EXPUNGE),
//! UID and sequence-number rules, and isolation between users.

mod common;
use common::*;

fn ok(r: Vec<String>, what: &str) {
    // CREATE's OK carries the new folder's MAILBOXID (RFC 8474 §4.1), random per database.
    let want = match what {
        "CREATE" => CREATED.to_string(),
        _ => format!("TAG OK {what} completed"),
    };
    assert_eq!(ids_masked(&r), vec![want]);
}

fn uidvalidity_of(lines: &[String]) -> u32 {
    lines
        .iter()
        .find_map(|l| {
            l.strip_prefix("* OK [UIDVALIDITY ")
                .or_else(|| l.split("UIDVALIDITY ").nth(1))
        })
        .and_then(|l| l.split([']', ')', ' ']).next())
        .unwrap()
        .parse()
        .unwrap()
}

/// (uidvalidity, uid) from `TAG OK [APPENDUID v uid] APPEND completed`.
fn appenduid(line: &str) -> (u32, u32) {
    let rest = line
        .strip_prefix("TAG OK [APPENDUID ")
        .unwrap_or_else(|| panic!("{line}"));
    let mut it = rest.split(']').next().unwrap().split(' ');
    (
        it.next().unwrap().parse().unwrap(),
        it.next().unwrap().parse().unwrap(),
    )
}

#[test]
fn create_makes_intermediate_levels_and_handles_trailing_delimiter() {
    let dir = TempDir::new("create");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    ok(c.cmd("CREATE a/b/c"), "CREATE");
    ok(c.cmd("CREATE t/"), "CREATE");
    assert_eq!(
        c.cmd("LIST \"\" *"),
        vec![
            "* LIST (\\HasNoChildren \\Archive) \"/\" Archive",
            "* LIST (\\HasNoChildren \\Drafts) \"/\" Drafts",
            "* LIST (\\HasNoChildren) \"/\" INBOX",
            "* LIST (\\HasNoChildren \\Junk) \"/\" Junk",
            "* LIST (\\HasNoChildren \\Sent) \"/\" Sent",
            "* LIST (\\HasNoChildren \\Trash) \"/\" Trash",
            "* LIST (\\HasChildren) \"/\" a",
            "* LIST (\\HasChildren) \"/\" a/b",
            "* LIST (\\HasNoChildren) \"/\" a/b/c",
            "* LIST (\\HasNoChildren) \"/\" t",
            "TAG OK LIST completed",
        ]
    );
    // The intermediate levels are real folders.
    assert_eq!(
        c.cmd("SELECT a/b").last().unwrap(),
        "TAG OK [READ-WRITE] SELECT completed"
    );
    assert_eq!(
        c.cmd("CREATE a/b"),
        vec!["TAG NO [ALREADYEXISTS] mailbox a/b already exists"]
    );
    assert_eq!(
        c.cmd("CREATE t/"),
        vec!["TAG NO [ALREADYEXISTS] mailbox t already exists"]
    );
    for inbox in ["INBOX", "inbox", "InBoX/"] {
        assert_eq!(
            c.cmd(&format!("CREATE {inbox}")),
            vec!["TAG NO [ALREADYEXISTS] INBOX always exists"],
            "{inbox}"
        );
    }
    // A child of INBOX is fine.
    ok(c.cmd("CREATE inbox/child"), "CREATE");
    assert_eq!(
        c.cmd("LIST \"\" INBOX*"),
        vec![
            "* LIST (\\HasChildren) \"/\" INBOX",
            "* LIST (\\HasNoChildren) \"/\" INBOX/child",
            "TAG OK LIST completed",
        ]
    );
    for bad in ["a//b", "\"/abs\"", "\"x*\"", "\"\"", "a/../b"] {
        let r = c.cmd(&format!("CREATE {bad}"));
        assert!(r[0].starts_with("TAG NO [CANNOT] "), "{bad}: {r:?}");
    }
}

#[test]
fn delete_rules() {
    let dir = TempDir::new("delete");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    assert_eq!(
        c.cmd("DELETE INBOX"),
        vec!["TAG NO [CANNOT] INBOX cannot be deleted"]
    );
    assert_eq!(
        c.cmd("DELETE inbox"),
        vec!["TAG NO [CANNOT] INBOX cannot be deleted"]
    );
    assert_eq!(
        c.cmd("DELETE nosuch"),
        vec!["TAG NO [NONEXISTENT] no such mailbox: nosuch"]
    );
    ok(c.cmd("CREATE p/c"), "CREATE");
    c.append("p", "", &message("in-p", "x"));
    ok(c.cmd("DELETE p"), "DELETE");
    assert_eq!(
        c.cmd("LIST \"\" *"),
        vec![
            "* LIST (\\HasNoChildren \\Archive) \"/\" Archive",
            "* LIST (\\HasNoChildren \\Drafts) \"/\" Drafts",
            "* LIST (\\HasNoChildren) \"/\" INBOX",
            "* LIST (\\HasNoChildren \\Junk) \"/\" Junk",
            "* LIST (\\HasNoChildren \\Sent) \"/\" Sent",
            "* LIST (\\HasNoChildren \\Trash) \"/\" Trash",
            "* LIST (\\Noselect \\HasChildren) \"/\" p",
            "* LIST (\\HasNoChildren) \"/\" p/c",
            "TAG OK LIST completed",
        ]
    );
    let r = c.cmd("DELETE p");
    assert_eq!(
        r,
        vec!["TAG NO [HASCHILDREN] p has inferior hierarchical names and is already \\Noselect"]
    );
    assert_eq!(
        c.cmd("SELECT p"),
        vec!["TAG NO [CANNOT] p is \\Noselect: it only holds other folders"]
    );
    assert_eq!(
        c.cmd("STATUS p (MESSAGES)"),
        vec!["TAG NO [NONEXISTENT] No such mailbox: p"]
    );
    let r = c.append("p", "", &message("x", "y"));
    assert!(r.starts_with("TAG NO "), "{r}");
    ok(c.cmd("DELETE p/c"), "DELETE");
    ok(c.cmd("DELETE p"), "DELETE");
    assert_eq!(
        c.cmd("LIST \"\" *"),
        vec![
            "* LIST (\\HasNoChildren \\Archive) \"/\" Archive",
            "* LIST (\\HasNoChildren \\Drafts) \"/\" Drafts",
            "* LIST (\\HasNoChildren) \"/\" INBOX",
            "* LIST (\\HasNoChildren \\Junk) \"/\" Junk",
            "* LIST (\\HasNoChildren \\Sent) \"/\" Sent",
            "* LIST (\\HasNoChildren \\Trash) \"/\" Trash",
            "TAG OK LIST completed"
        ]
    );
    // CREATE of a \Noselect name makes it a real folder again.
    ok(c.cmd("CREATE q/r"), "CREATE");
    ok(c.cmd("DELETE q"), "DELETE");
    ok(c.cmd("CREATE q"), "CREATE");
    assert_eq!(
        c.cmd("LIST \"\" q"),
        vec!["* LIST (\\HasChildren) \"/\" q", "TAG OK LIST completed"]
    );
}

#[test]
fn delete_of_selected_mailbox_leaves_selected_state() {
    let dir = TempDir::new("delsel");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    ok(c.cmd("CREATE gone"), "CREATE");
    c.cmd("SELECT gone");
    ok(c.cmd("DELETE gone"), "DELETE");
    assert_eq!(
        c.cmd("CHECK"),
        vec!["TAG BAD CHECK needs a selected mailbox (SELECT or EXAMINE first)"]
    );
}

#[test]
fn rename_moves_children_and_refuses_existing_targets() {
    let dir = TempDir::new("rename");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    ok(c.cmd("CREATE a/b/c"), "CREATE");
    ok(c.cmd("CREATE z"), "CREATE");
    c.append("a/b", "", &message("m", "x"));
    ok(c.cmd("RENAME a x/y"), "RENAME");
    assert_eq!(
        c.cmd("LIST \"\" *"),
        vec![
            "* LIST (\\HasNoChildren \\Archive) \"/\" Archive",
            "* LIST (\\HasNoChildren \\Drafts) \"/\" Drafts",
            "* LIST (\\HasNoChildren) \"/\" INBOX",
            "* LIST (\\HasNoChildren \\Junk) \"/\" Junk",
            "* LIST (\\HasNoChildren \\Sent) \"/\" Sent",
            "* LIST (\\HasNoChildren \\Trash) \"/\" Trash",
            "* LIST (\\HasChildren) \"/\" x",
            "* LIST (\\HasChildren) \"/\" x/y",
            "* LIST (\\HasChildren) \"/\" x/y/b",
            "* LIST (\\HasNoChildren) \"/\" x/y/b/c",
            "* LIST (\\HasNoChildren) \"/\" z",
            "TAG OK LIST completed",
        ]
    );
    let r = c.cmd("STATUS x/y/b (MESSAGES)");
    assert_eq!(
        r,
        vec!["* STATUS x/y/b (MESSAGES 1)", "TAG OK STATUS completed"]
    );
    assert_eq!(
        c.cmd("RENAME z x"),
        vec!["TAG NO [ALREADYEXISTS] mailbox x already exists"]
    );
    assert_eq!(
        c.cmd("RENAME nosuch q"),
        vec!["TAG NO [NONEXISTENT] no such mailbox: nosuch"]
    );
    assert_eq!(
        c.cmd("RENAME z INBOX"),
        vec!["TAG NO [ALREADYEXISTS] mailbox INBOX already exists"]
    );
    assert_eq!(
        c.cmd("RENAME x x/y/q"),
        vec!["TAG NO [CANNOT] cannot rename x into its own hierarchy"]
    );
}

#[test]
fn rename_inbox_moves_messages_and_keeps_uidnext() {
    let dir = TempDir::new("renameinbox");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    for i in 0..3 {
        c.append(
            "INBOX",
            if i == 0 { "\\Seen" } else { "" },
            &message(&format!("m{i}"), "x"),
        );
    }
    let before = c.cmd("STATUS INBOX (UIDNEXT UIDVALIDITY)");
    let v = uidvalidity_of(&before);
    assert_eq!(
        before,
        vec![
            format!("* STATUS INBOX (UIDNEXT 4 UIDVALIDITY {v})"),
            "TAG OK STATUS completed".into()
        ]
    );
    ok(c.cmd("CREATE inbox/kid"), "CREATE");
    ok(c.cmd("RENAME INBOX old"), "RENAME");
    assert_eq!(
        c.cmd("STATUS INBOX (MESSAGES UIDNEXT UIDVALIDITY UNSEEN)"),
        vec![
            format!("* STATUS INBOX (MESSAGES 0 UIDNEXT 4 UIDVALIDITY {v} UNSEEN 0)"),
            "TAG OK STATUS completed".into()
        ]
    );
    assert_eq!(
        c.cmd("STATUS old (MESSAGES UNSEEN)"),
        vec![
            "* STATUS old (MESSAGES 3 UNSEEN 2)",
            "TAG OK STATUS completed"
        ]
    );
    // INBOX's children stay where they are.
    assert_eq!(
        c.cmd("LIST \"\" *"),
        vec![
            "* LIST (\\HasNoChildren \\Archive) \"/\" Archive",
            "* LIST (\\HasNoChildren \\Drafts) \"/\" Drafts",
            "* LIST (\\HasChildren) \"/\" INBOX",
            "* LIST (\\HasNoChildren) \"/\" INBOX/kid",
            "* LIST (\\HasNoChildren \\Junk) \"/\" Junk",
            "* LIST (\\HasNoChildren \\Sent) \"/\" Sent",
            "* LIST (\\HasNoChildren \\Trash) \"/\" Trash",
            "* LIST (\\HasNoChildren) \"/\" old",
            "TAG OK LIST completed",
        ]
    );
    // A new message in INBOX gets a UID after the moved ones.
    let r = c.append("INBOX", "", &message("new", "x"));
    assert_eq!(appenduid(&r), (v, 4));
    assert_eq!(
        c.cmd("RENAME INBOX old"),
        vec!["TAG NO [ALREADYEXISTS] mailbox old already exists"]
    );
    // The new folder continues the UIDs it was given.
    let r = c.cmd("SELECT old");
    let v_old = uidvalidity_of(&r);
    assert!(r.contains(&"* 3 EXISTS".to_string()), "{r:?}");
    assert!(r.contains(&"* 0 RECENT".to_string()), "{r:?}");
    assert!(
        r.contains(&"* OK [UIDNEXT 4] Predicted next UID".to_string()),
        "{r:?}"
    );
    let r = c.append("old", "", &message("more", "x"));
    assert_eq!(appenduid(&r), (v_old, 4));
    c.cmd("CLOSE");
    // Renaming INBOX again, into a hierarchy that does not exist yet.
    ok(c.cmd("RENAME INBOX arch/2020"), "RENAME");
    assert_eq!(
        c.cmd("STATUS arch/2020 (MESSAGES UIDNEXT)"),
        vec![
            "* STATUS arch/2020 (MESSAGES 1 UIDNEXT 5)",
            "TAG OK STATUS completed"
        ]
    );
    assert_eq!(
        c.cmd("STATUS INBOX (MESSAGES UIDNEXT)"),
        vec![
            "* STATUS INBOX (MESSAGES 0 UIDNEXT 5)",
            "TAG OK STATUS completed"
        ]
    );
}

#[test]
fn rename_inbox_while_selected() {
    let dir = TempDir::new("renameinboxsel");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    c.append("INBOX", "", &message("m1", "x"));
    c.append("INBOX", "", &message("m2", "x"));
    c.cmd("SELECT INBOX");
    let r = c.cmd("RENAME INBOX moved");
    assert_eq!(
        r,
        vec!["* 1 EXPUNGE", "* 1 EXPUNGE", "TAG OK RENAME completed"]
    );
    assert_eq!(c.cmd("NOOP"), vec!["TAG OK NOOP completed"]);
}

#[test]
fn subscribe_unsubscribe_and_lsub() {
    let dir = TempDir::new("lsub");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    ok(c.cmd("CREATE a/b"), "CREATE");
    ok(c.cmd("CREATE c"), "CREATE");
    ok(c.cmd("SUBSCRIBE a/b"), "SUBSCRIBE");
    ok(c.cmd("SUBSCRIBE c"), "SUBSCRIBE");
    ok(c.cmd("SUBSCRIBE c"), "SUBSCRIBE");
    ok(c.cmd("SUBSCRIBE inbox"), "SUBSCRIBE");
    // RFC 3501 §6.3.6: subscribing to a name that does not exist is allowed.
    ok(c.cmd("SUBSCRIBE ghost"), "SUBSCRIBE");
    assert_eq!(
        c.cmd("LSUB \"\" *"),
        vec![
            "* LSUB (\\HasNoChildren) \"/\" Archive",
            "* LSUB (\\HasNoChildren) \"/\" Drafts",
            "* LSUB (\\HasNoChildren) \"/\" INBOX",
            "* LSUB (\\HasNoChildren) \"/\" Junk",
            "* LSUB (\\HasNoChildren) \"/\" Sent",
            "* LSUB (\\HasNoChildren) \"/\" Trash",
            "* LSUB (\\HasNoChildren) \"/\" a/b",
            "* LSUB (\\HasNoChildren) \"/\" c",
            "* LSUB (\\Noselect) \"/\" ghost",
            "TAG OK LSUB completed",
        ]
    );
    // %: the unsubscribed parent a is listed \Noselect.
    assert_eq!(
        c.cmd("LSUB \"\" %"),
        vec![
            "* LSUB (\\HasNoChildren) \"/\" Archive",
            "* LSUB (\\HasNoChildren) \"/\" Drafts",
            "* LSUB (\\HasNoChildren) \"/\" INBOX",
            "* LSUB (\\HasNoChildren) \"/\" Junk",
            "* LSUB (\\HasNoChildren) \"/\" Sent",
            "* LSUB (\\HasNoChildren) \"/\" Trash",
            "* LSUB (\\Noselect \\HasChildren) \"/\" a",
            "* LSUB (\\HasNoChildren) \"/\" c",
            "* LSUB (\\Noselect) \"/\" ghost",
            "TAG OK LSUB completed",
        ]
    );
    assert_eq!(
        c.cmd("LSUB \"a/\" %"),
        vec![
            "* LSUB (\\HasNoChildren) \"/\" a/b",
            "TAG OK LSUB completed"
        ]
    );
    ok(c.cmd("UNSUBSCRIBE c"), "UNSUBSCRIBE");
    ok(c.cmd("UNSUBSCRIBE ghost"), "UNSUBSCRIBE");
    assert_eq!(
        c.cmd("UNSUBSCRIBE c"),
        vec!["TAG NO [NONEXISTENT] not subscribed to c"]
    );
    assert_eq!(
        c.cmd("LSUB \"\" *"),
        vec![
            "* LSUB (\\HasNoChildren) \"/\" Archive",
            "* LSUB (\\HasNoChildren) \"/\" Drafts",
            "* LSUB (\\HasNoChildren) \"/\" INBOX",
            "* LSUB (\\HasNoChildren) \"/\" Junk",
            "* LSUB (\\HasNoChildren) \"/\" Sent",
            "* LSUB (\\HasNoChildren) \"/\" Trash",
            "* LSUB (\\HasNoChildren) \"/\" a/b",
            "TAG OK LSUB completed",
        ]
    );
    assert_eq!(c.cmd("LSUB \"\" \"\""), vec!["TAG OK LSUB completed"]);
}

#[test]
fn list_wildcards_and_references() {
    let dir = TempDir::new("list");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    ok(c.cmd("CREATE a/b/c"), "CREATE");
    ok(c.cmd("CREATE a/d"), "CREATE");
    ok(c.cmd("CREATE &AOQ-pfel"), "CREATE");
    assert_eq!(
        c.cmd("LIST \"\" \"\""),
        vec!["* LIST (\\Noselect) \"/\" \"\"", "TAG OK LIST completed"]
    );
    assert_eq!(
        c.cmd("LIST \"\" %"),
        vec![
            "* LIST (\\HasNoChildren) \"/\" &AOQ-pfel",
            "* LIST (\\HasNoChildren \\Archive) \"/\" Archive",
            "* LIST (\\HasNoChildren \\Drafts) \"/\" Drafts",
            "* LIST (\\HasNoChildren) \"/\" INBOX",
            "* LIST (\\HasNoChildren \\Junk) \"/\" Junk",
            "* LIST (\\HasNoChildren \\Sent) \"/\" Sent",
            "* LIST (\\HasNoChildren \\Trash) \"/\" Trash",
            "* LIST (\\HasChildren) \"/\" a",
            "TAG OK LIST completed",
        ]
    );
    assert_eq!(
        c.cmd("LIST \"\" *"),
        vec![
            "* LIST (\\HasNoChildren) \"/\" &AOQ-pfel",
            "* LIST (\\HasNoChildren \\Archive) \"/\" Archive",
            "* LIST (\\HasNoChildren \\Drafts) \"/\" Drafts",
            "* LIST (\\HasNoChildren) \"/\" INBOX",
            "* LIST (\\HasNoChildren \\Junk) \"/\" Junk",
            "* LIST (\\HasNoChildren \\Sent) \"/\" Sent",
            "* LIST (\\HasNoChildren \\Trash) \"/\" Trash",
            "* LIST (\\HasChildren) \"/\" a",
            "* LIST (\\HasChildren) \"/\" a/b",
            "* LIST (\\HasNoChildren) \"/\" a/b/c",
            "* LIST (\\HasNoChildren) \"/\" a/d",
            "TAG OK LIST completed",
        ]
    );
    let a_children = vec![
        "* LIST (\\HasChildren) \"/\" a/b",
        "* LIST (\\HasNoChildren) \"/\" a/d",
        "TAG OK LIST completed",
    ];
    assert_eq!(c.cmd("LIST \"a/\" %"), a_children);
    assert_eq!(c.cmd("LIST \"\" \"a/%\""), a_children);
    assert_eq!(c.cmd("LIST a/ %"), a_children);
    assert_eq!(
        c.cmd("LIST \"a/\" *"),
        vec![
            "* LIST (\\HasChildren) \"/\" a/b",
            "* LIST (\\HasNoChildren) \"/\" a/b/c",
            "* LIST (\\HasNoChildren) \"/\" a/d",
            "TAG OK LIST completed",
        ]
    );
    assert_eq!(
        c.cmd("LIST \"\" a/%/%"),
        vec![
            "* LIST (\\HasNoChildren) \"/\" a/b/c",
            "TAG OK LIST completed"
        ]
    );
    for inbox in ["inbox", "InBox", "INBOX"] {
        assert_eq!(
            c.cmd(&format!("LIST \"\" {inbox}")),
            vec![
                "* LIST (\\HasNoChildren) \"/\" INBOX",
                "TAG OK LIST completed"
            ],
            "{inbox}"
        );
    }
    assert_eq!(c.cmd("LIST \"\" nosuch"), vec!["TAG OK LIST completed"]);
    assert_eq!(
        c.cmd("LIST \"\" A"),
        vec!["TAG OK LIST completed"],
        "names other than INBOX are case-sensitive"
    );
    assert_eq!(
        c.cmd("LIST \"\" \"&AOQ-*\""),
        vec![
            "* LIST (\\HasNoChildren) \"/\" &AOQ-pfel",
            "TAG OK LIST completed"
        ]
    );
}

#[test]
fn status_items_and_missing_folder() {
    let dir = TempDir::new("status");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    ok(c.cmd("CREATE f"), "CREATE");
    let r = c.cmd("STATUS f (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)");
    let v = uidvalidity_of(&r);
    assert_eq!(
        r,
        vec![
            format!("* STATUS f (MESSAGES 0 RECENT 0 UIDNEXT 1 UIDVALIDITY {v} UNSEEN 0)"),
            "TAG OK STATUS completed".into()
        ]
    );
    c.append("f", "\\Seen", &message("1", "x"));
    c.append("f", "", &message("2", "x"));
    c.append("f", "\\Deleted", &message("3", "x"));
    assert_eq!(
        c.cmd("STATUS f (MESSAGES RECENT UIDNEXT UIDVALIDITY UNSEEN)"),
        vec![
            format!("* STATUS f (MESSAGES 3 RECENT 3 UIDNEXT 4 UIDVALIDITY {v} UNSEEN 2)"),
            "TAG OK STATUS completed".into()
        ]
    );
    // SELECT claims \Recent; STATUS afterwards says 0 recent.
    c.cmd("SELECT f");
    c.cmd("UNSELECT");
    assert_eq!(
        c.cmd("STATUS f (RECENT MESSAGES)"),
        vec![
            "* STATUS f (RECENT 0 MESSAGES 3)",
            "TAG OK STATUS completed"
        ]
    );
    assert_eq!(
        c.cmd("STATUS nosuch (MESSAGES)"),
        vec!["TAG NO [NONEXISTENT] No such mailbox: nosuch"]
    );
    assert_eq!(
        c.cmd("STATUS inbox (MESSAGES)"),
        vec!["* STATUS INBOX (MESSAGES 0)", "TAG OK STATUS completed"]
    );
    let r = c.cmd("STATUS f (FROB)");
    assert!(r[0].starts_with("TAG BAD "), "{r:?}");
}

#[test]
fn append_flags_date_trycreate_and_appenduid() {
    let dir = TempDir::new("append");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    let r = c.append("INBOX", "", &message("1", "x"));
    let (v, uid) = appenduid(&r);
    assert_eq!(uid, 1);
    assert_eq!(r, format!("TAG OK [APPENDUID {v} 1] APPEND completed"));
    let r = c.cmd_literal(
        "APPEND INBOX (\\Seen \\Flagged) \"14-Jul-2020 02:44:25 -0700\"",
        &message("2", "x"),
        "",
    );
    assert_eq!(
        r,
        vec![format!("TAG OK [APPENDUID {v} 2] APPEND completed")]
    );
    let r = c.cmd_literal(
        "APPEND INBOX \"14-Jul-2020 02:44:25 -0700\"",
        &message("3", "x"),
        "",
    );
    assert_eq!(
        r,
        vec![format!("TAG OK [APPENDUID {v} 3] APPEND completed")]
    );
    let r = c.cmd_literal(
        "APPEND INBOX (\\Seen) \" 4-Jul-2020 02:44:25 +0000\"",
        &message("4", "x"),
        "",
    );
    assert_eq!(
        r,
        vec![format!("TAG OK [APPENDUID {v} 4] APPEND completed")]
    );
    assert_eq!(
        c.append("nosuch", "", &message("x", "y")),
        "TAG NO [TRYCREATE] No such mailbox: nosuch"
    );
    assert_eq!(
        c.append("inbox", "", &message("5", "x")),
        format!("TAG OK [APPENDUID {v} 5] APPEND completed")
    );
    // A bad date is a BAD, and the session goes on.
    let r = c.cmd_literal(
        "APPEND INBOX \"31-Foo-2020 02:44:25 -0700\"",
        &message("x", "y"),
        "",
    );
    assert!(
        r.last().unwrap().starts_with("TAG BAD") || r.last().unwrap().contains(" BAD "),
        "{r:?}"
    );
    assert_eq!(c.cmd("NOOP"), vec!["TAG OK NOOP completed"]);
    assert_eq!(
        c.cmd("STATUS INBOX (MESSAGES UNSEEN UIDNEXT)"),
        vec![
            "* STATUS INBOX (MESSAGES 5 UNSEEN 3 UIDNEXT 6)",
            "TAG OK STATUS completed"
        ]
    );
    // In the selected state, APPEND to the selected mailbox shows up as EXISTS.
    c.cmd("SELECT INBOX");
    let r = c.cmd_literal("APPEND INBOX", &message("6", "x"), "");
    assert_eq!(
        r,
        vec![
            "* 6 EXISTS".to_string(),
            "* 6 RECENT".into(),
            format!("TAG OK [APPENDUID {v} 6] APPEND completed")
        ]
    );
    assert_eq!(
        c.append("INBOX", "", b""),
        "TAG NO [CANNOT] Cannot store an empty message"
    );
}

#[test]
fn close_expunges_silently_and_examine_close_expunges_nothing() {
    let dir = TempDir::new("close");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    for i in 1..=4 {
        let flags = if i % 2 == 0 { "\\Deleted" } else { "" };
        c.append("INBOX", flags, &message(&format!("m{i}"), "x"));
    }
    c.cmd("EXAMINE INBOX");
    assert_eq!(c.cmd("CLOSE"), vec!["TAG OK CLOSE completed"]);
    assert_eq!(
        c.cmd("STATUS INBOX (MESSAGES)"),
        vec!["* STATUS INBOX (MESSAGES 4)", "TAG OK STATUS completed"]
    );
    c.cmd("SELECT INBOX");
    assert_eq!(c.cmd("UNSELECT"), vec!["TAG OK UNSELECT completed"]);
    assert_eq!(
        c.cmd("STATUS INBOX (MESSAGES)"),
        vec!["* STATUS INBOX (MESSAGES 4)", "TAG OK STATUS completed"],
        "UNSELECT expunges nothing"
    );
    c.cmd("SELECT INBOX");
    assert_eq!(c.cmd("CLOSE"), vec!["TAG OK CLOSE completed"]);
    assert_eq!(
        c.cmd("STATUS INBOX (MESSAGES UIDNEXT)"),
        vec![
            "* STATUS INBOX (MESSAGES 2 UIDNEXT 5)",
            "TAG OK STATUS completed"
        ]
    );
    let r = c.cmd("SELECT INBOX");
    assert!(r.contains(&"* 2 EXISTS".to_string()), "{r:?}");
}

#[test]
fn expunge_numbers_with_several_deleted() {
    let dir = TempDir::new("expunge");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    // Deleted: 2, 3, 5, 8 of 8.
    for i in 1..=8 {
        let flags = if [2, 3, 5, 8].contains(&i) {
            "\\Deleted"
        } else {
            ""
        };
        c.append("INBOX", flags, &message(&format!("m{i}"), "x"));
    }
    c.cmd("SELECT INBOX");
    assert_eq!(
        c.cmd("EXPUNGE"),
        vec![
            "* 2 EXPUNGE",
            "* 2 EXPUNGE",
            "* 3 EXPUNGE",
            "* 5 EXPUNGE",
            "TAG OK EXPUNGE completed"
        ]
    );
    assert_eq!(c.cmd("EXPUNGE"), vec!["TAG OK EXPUNGE completed"]);
    // The view now has 4 messages; a new one is number 5 with UID 9.
    let r = c.cmd_literal("APPEND INBOX (\\Deleted)", &message("m9", "x"), "");
    assert_eq!(r[0], "* 5 EXISTS");
    assert_eq!(appenduid(r.last().unwrap()).1, 9);
    assert_eq!(
        c.cmd("EXPUNGE"),
        vec!["* 5 EXPUNGE", "TAG OK EXPUNGE completed"]
    );
}

#[test]
fn deleted_message_keeps_its_number_and_uids_are_never_reused() {
    let dir = TempDir::new("uids");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    c.append("INBOX", "", &message("1", "x"));
    c.append("INBOX", "\\Deleted", &message("2", "x"));
    c.append("INBOX", "", &message("3", "x"));
    let r = c.cmd("SELECT INBOX");
    assert!(r.contains(&"* 3 EXISTS".to_string()), "{r:?}");
    // A second session sees the \Deleted message counted too.
    let mut d = srv.login(ALICE);
    assert_eq!(
        d.cmd("STATUS INBOX (MESSAGES)"),
        vec!["* STATUS INBOX (MESSAGES 3)", "TAG OK STATUS completed"]
    );
    assert_eq!(
        c.cmd("EXPUNGE"),
        vec!["* 2 EXPUNGE", "TAG OK EXPUNGE completed"]
    );
    // Expunge the last one too, then append: UIDs 2 and 3 are not reused.
    c.cmd("CLOSE");
    let r = c.append("INBOX", "\\Deleted", &message("4", "x"));
    assert_eq!(appenduid(&r).1, 4);
    c.cmd("SELECT INBOX");
    assert_eq!(
        c.cmd("EXPUNGE"),
        vec!["* 3 EXPUNGE", "TAG OK EXPUNGE completed"]
    );
    c.cmd("CLOSE");
    let r = c.append("INBOX", "", &message("5", "x"));
    assert_eq!(appenduid(&r).1, 5);
    assert_eq!(
        c.cmd("STATUS INBOX (MESSAGES UIDNEXT)"),
        vec![
            "* STATUS INBOX (MESSAGES 3 UIDNEXT 6)",
            "TAG OK STATUS completed"
        ]
    );
}

#[test]
fn uidnext_and_uidvalidity_survive_a_restart() {
    let dir = TempDir::new("restart");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    ok(c.cmd("CREATE f"), "CREATE");
    for _ in 0..3 {
        c.append("f", "", &message("x", "y"));
    }
    c.cmd("SELECT f");
    c.cmd("CLOSE");
    // Expunge the last one so UIDNEXT is not max(uid)+1.
    c.append("f", "\\Deleted", &message("x", "y"));
    c.cmd("SELECT f");
    c.cmd("CLOSE");
    let before = c.cmd("STATUS f (MESSAGES UIDNEXT UIDVALIDITY)");
    let inbox_before = c.cmd("STATUS INBOX (UIDNEXT UIDVALIDITY)");
    let v = uidvalidity_of(&before);
    assert_eq!(
        before[0],
        format!("* STATUS f (MESSAGES 3 UIDNEXT 5 UIDVALIDITY {v})")
    );
    drop(c);
    srv.stop();
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    assert_eq!(c.cmd("STATUS f (MESSAGES UIDNEXT UIDVALIDITY)"), before);
    assert_eq!(c.cmd("STATUS INBOX (UIDNEXT UIDVALIDITY)"), inbox_before);
    let r = c.append("f", "", &message("x", "y"));
    assert_eq!(appenduid(&r), (v, 5));
    // Deleted and created again: a new UIDVALIDITY, UIDs from 1.
    ok(c.cmd("DELETE f"), "DELETE");
    ok(c.cmd("CREATE f"), "CREATE");
    let after = c.cmd("STATUS f (MESSAGES UIDNEXT UIDVALIDITY)");
    let v2 = uidvalidity_of(&after);
    assert_ne!(v, v2);
    assert_eq!(
        after[0],
        format!("* STATUS f (MESSAGES 0 UIDNEXT 1 UIDVALIDITY {v2})")
    );
    // Also when the name was a \Noselect parent in between.
    ok(c.cmd("CREATE f/kid"), "CREATE");
    ok(c.cmd("DELETE f"), "DELETE");
    ok(c.cmd("CREATE f"), "CREATE");
    let v3 = uidvalidity_of(&c.cmd("STATUS f (UIDVALIDITY)"));
    assert!(v3 != v2 && v3 != v, "{v} {v2} {v3}");
}

#[test]
fn another_sessions_append_is_seen_at_noop() {
    let dir = TempDir::new("exists");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    a.append("INBOX", "", &message("1", "x"));
    a.cmd("SELECT INBOX");
    let mut b = srv.login(ALICE);
    b.append("INBOX", "", &message("2", "x"));
    b.append("INBOX", "", &message("3", "x"));
    assert_eq!(
        a.cmd("NOOP"),
        vec!["* 3 EXISTS", "* 3 RECENT", "TAG OK NOOP completed"]
    );
    assert_eq!(a.cmd("NOOP"), vec!["TAG OK NOOP completed"]);
    // Another session's expunge is seen at NOOP too.
    b.append("INBOX", "\\Deleted", &message("4", "x"));
    assert_eq!(
        a.cmd("NOOP"),
        vec!["* 4 EXISTS", "* 4 RECENT", "TAG OK NOOP completed"]
    );
    b.cmd("SELECT INBOX");
    assert_eq!(
        b.cmd("EXPUNGE"),
        vec!["* 4 EXPUNGE", "TAG OK EXPUNGE completed"]
    );
    assert_eq!(a.cmd("NOOP"), vec!["* 4 EXPUNGE", "TAG OK NOOP completed"]);
}

#[test]
fn users_cannot_reach_each_others_folders() {
    let dir = TempDir::new("isolation");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    ok(a.cmd("CREATE secret"), "CREATE");
    a.append("secret", "", &message("s", "x"));
    a.append("INBOX", "", &message("i", "x"));
    let mut b = srv.login(BOB);
    assert_eq!(
        b.cmd("SELECT secret"),
        vec!["TAG NO [NONEXISTENT] No such mailbox: secret"]
    );
    assert_eq!(
        b.cmd("EXAMINE secret"),
        vec!["TAG NO [NONEXISTENT] No such mailbox: secret"]
    );
    assert_eq!(
        b.cmd("STATUS secret (MESSAGES)"),
        vec!["TAG NO [NONEXISTENT] No such mailbox: secret"]
    );
    assert_eq!(
        b.append("secret", "", &message("x", "y")),
        "TAG NO [TRYCREATE] No such mailbox: secret"
    );
    assert_eq!(
        b.cmd("RENAME secret mine"),
        vec!["TAG NO [NONEXISTENT] no such mailbox: secret"]
    );
    assert_eq!(
        b.cmd("DELETE secret"),
        vec!["TAG NO [NONEXISTENT] no such mailbox: secret"]
    );
    assert_eq!(
        b.cmd("LIST \"\" *"),
        vec![
            "* LIST (\\HasNoChildren \\Archive) \"/\" Archive",
            "* LIST (\\HasNoChildren \\Drafts) \"/\" Drafts",
            "* LIST (\\HasNoChildren) \"/\" INBOX",
            "* LIST (\\HasNoChildren \\Junk) \"/\" Junk",
            "* LIST (\\HasNoChildren \\Sent) \"/\" Sent",
            "* LIST (\\HasNoChildren \\Trash) \"/\" Trash",
            "TAG OK LIST completed"
        ]
    );
    assert_eq!(
        b.cmd("STATUS INBOX (MESSAGES)"),
        vec!["* STATUS INBOX (MESSAGES 0)", "TAG OK STATUS completed"]
    );
    // Bob may have a folder of the same name; it is his own.
    ok(b.cmd("CREATE secret"), "CREATE");
    ok(b.cmd("DELETE secret"), "DELETE");
    assert_eq!(
        a.cmd("STATUS secret (MESSAGES)"),
        vec!["* STATUS secret (MESSAGES 1)", "TAG OK STATUS completed"]
    );
    assert_eq!(
        a.cmd("STATUS INBOX (MESSAGES)"),
        vec!["* STATUS INBOX (MESSAGES 1)", "TAG OK STATUS completed"]
    );
}

#[test]
fn recent_belongs_to_the_first_read_write_session() {
    let dir = TempDir::new("recent");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    let mut b = srv.login(ALICE);
    let mut e = srv.login(ALICE);
    a.cmd("SELECT INBOX");
    b.cmd("SELECT INBOX");
    e.cmd("EXAMINE INBOX");
    let mut w = srv.login(ALICE);
    w.append("INBOX", "", &message("1", "x"));
    assert_eq!(
        a.cmd("NOOP"),
        vec!["* 1 EXISTS", "* 1 RECENT", "TAG OK NOOP completed"]
    );
    assert_eq!(
        b.cmd("NOOP"),
        vec!["* 1 EXISTS", "* 0 RECENT", "TAG OK NOOP completed"]
    );
    assert_eq!(
        e.cmd("NOOP"),
        vec!["* 1 EXISTS", "* 0 RECENT", "TAG OK NOOP completed"]
    );
    // A later SELECT does not see it as recent either.
    let r = w.cmd("SELECT INBOX");
    assert!(r.contains(&"* 0 RECENT".to_string()), "{r:?}");
}

#[test]
fn expunge_of_a_message_not_yet_announced() {
    let dir = TempDir::new("unannounced");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    a.append("INBOX", "", &message("1", "x"));
    a.append("INBOX", "\\Deleted", &message("2", "x"));
    a.cmd("SELECT INBOX");
    let mut b = srv.login(ALICE);
    b.append("INBOX", "\\Deleted", &message("3", "x"));
    b.append("INBOX", "", &message("4", "x"));
    // A's EXPUNGE removes message 2 (known) and UID 3 (never announced): only "* 2 EXPUNGE"
    // refers to A's view; UID 4 arrives as the new message 2.
    let r = a.cmd("EXPUNGE");
    assert_eq!(
        r,
        vec![
            "* 2 EXPUNGE",
            "* 2 EXISTS",
            "* 2 RECENT",
            "TAG OK EXPUNGE completed"
        ]
    );
    assert_eq!(
        a.cmd("STATUS INBOX (MESSAGES UIDNEXT)"),
        vec![
            "* STATUS INBOX (MESSAGES 2 UIDNEXT 5)",
            "TAG OK STATUS completed"
        ]
    );
}

#[test]
fn close_after_rename_of_the_selected_mailbox() {
    let dir = TempDir::new("renamesel");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    ok(c.cmd("CREATE f"), "CREATE");
    c.append("f", "\\Deleted", &message("1", "x"));
    c.append("f", "", &message("2", "x"));
    c.cmd("SELECT f");
    ok(c.cmd("RENAME f g"), "RENAME");
    assert_eq!(c.cmd("NOOP"), vec!["TAG OK NOOP completed"]);
    ok(c.cmd("CLOSE"), "CLOSE");
    assert_eq!(
        c.cmd("STATUS g (MESSAGES)"),
        vec!["* STATUS g (MESSAGES 1)", "TAG OK STATUS completed"]
    );
}

/// (UID, internal_date, date_offset, flags) of every message in alice's `mailbox`, by UID,
/// read through the store (either backend).
fn stored(srv: &TestServer, mailbox: &str) -> Vec<(u32, i64, i64, String)> {
    let store = &srv.ctx.store;
    let alice = store.find_user(ALICE.0).unwrap().unwrap();
    let mb = store.mailbox(alice.id, mailbox).unwrap().unwrap();
    store
        .messages(mb.id, &(1..=1000).collect::<Vec<u32>>())
        .unwrap()
        .into_iter()
        .map(|m| {
            let mut flags = m.flags;
            // In the order of the SQLite table's NOCASE collation.
            flags.sort_by_key(|f| f.to_ascii_lowercase());
            let flags = flags.join(" ");
            (m.uid, m.internal_date, i64::from(m.date_offset), flags)
        })
        .collect()
}

#[test]
fn append_stores_flags_keywords_and_the_internal_date() {
    let dir = TempDir::new("appendstore");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    let r = c.cmd_literal(
        "APPEND INBOX (\\seen $Forwarded Junk \\Recent \\SEEN) \"14-Jul-2020 02:44:25 -0700\"",
        &message("1", "x"),
        "",
    );
    assert!(r[0].starts_with("TAG OK [APPENDUID "), "{r:?}");
    let r = c.cmd_literal(
        "APPEND INBOX () \" 1-Jan-2000 00:00:00 +0130\"",
        &message("2", "x"),
        "",
    );
    assert!(r[0].starts_with("TAG OK [APPENDUID "), "{r:?}");
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    c.append(
        "INBOX",
        "\\Flagged \\Answered \\Draft \\Deleted",
        &message("3", "x"),
    );
    let rows = stored(&srv, "INBOX");
    assert_eq!(rows.len(), 3);
    assert_eq!(
        rows[0],
        (
            1,
            1594719865,
            -7 * 3600,
            "$Forwarded \\Seen Junk".to_string()
        )
    );
    assert_eq!(rows[1], (2, 946679400, 5400, String::new()));
    assert_eq!(rows[2].0, 3);
    assert!((rows[2].1 - before).abs() <= 5, "{rows:?}");
    assert_eq!(rows[2].3, "\\Answered \\Deleted \\Draft \\Flagged");
    // The keywords show up in FLAGS on SELECT.
    let r = c.cmd("SELECT INBOX");
    assert_eq!(
        r[0],
        "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft $Forwarded Junk)"
    );
    assert_eq!(r[4], "* OK [UNSEEN 2] Message 2 is first unseen");
    // An unknown system flag is a BAD, and nothing is stored.
    let r = c.cmd_literal("APPEND INBOX (\\Frob)", &message("4", "x"), "");
    assert_eq!(r, vec!["TAG BAD Unknown system flag \\Frob"]);
    assert_eq!(stored(&srv, "INBOX").len(), 3);
}

#[test]
fn inbox_is_case_insensitive_in_patterns_and_lsub() {
    let dir = TempDir::new("inboxcase");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    ok(c.cmd("CREATE Inbox/kid"), "CREATE");
    ok(c.cmd("SUBSCRIBE inbox"), "SUBSCRIBE");
    ok(c.cmd("SUBSCRIBE inbox/kid"), "SUBSCRIBE");
    let all = vec![
        "* LIST (\\HasChildren) \"/\" INBOX",
        "* LIST (\\HasNoChildren) \"/\" INBOX/kid",
        "TAG OK LIST completed",
    ];
    assert_eq!(c.cmd("LIST \"\" INBOX*"), all);
    assert_eq!(c.cmd("LIST \"\" inbox*"), all);
    assert_eq!(c.cmd("LIST \"\" Inbox/*").len(), 2);
    assert_eq!(c.cmd("LIST inbox/ %").len(), 2);
    assert_eq!(
        c.cmd("LSUB \"\" *"),
        vec![
            "* LSUB (\\HasNoChildren) \"/\" Archive",
            "* LSUB (\\HasNoChildren) \"/\" Drafts",
            "* LSUB (\\HasChildren) \"/\" INBOX",
            "* LSUB (\\HasNoChildren) \"/\" INBOX/kid",
            "* LSUB (\\HasNoChildren) \"/\" Junk",
            "* LSUB (\\HasNoChildren) \"/\" Sent",
            "* LSUB (\\HasNoChildren) \"/\" Trash",
            "TAG OK LSUB completed",
        ]
    );
    assert_eq!(
        c.cmd("STATUS iNbOx/kid (MESSAGES)"),
        vec!["* STATUS INBOX/kid (MESSAGES 0)", "TAG OK STATUS completed"]
    );
    ok(c.cmd("RENAME inbox/kid INBOX/grown"), "RENAME");
    ok(c.cmd("DELETE inbox/grown"), "DELETE");
    assert_eq!(
        c.cmd("LIST \"\" *"),
        vec![
            "* LIST (\\HasNoChildren \\Archive) \"/\" Archive",
            "* LIST (\\HasNoChildren \\Drafts) \"/\" Drafts",
            "* LIST (\\HasNoChildren) \"/\" INBOX",
            "* LIST (\\HasNoChildren \\Junk) \"/\" Junk",
            "* LIST (\\HasNoChildren \\Sent) \"/\" Sent",
            "* LIST (\\HasNoChildren \\Trash) \"/\" Trash",
            "TAG OK LIST completed"
        ]
    );
}

#[test]
fn selected_mailbox_deleted_by_another_session() {
    let dir = TempDir::new("delother");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    ok(a.cmd("CREATE f"), "CREATE");
    a.append("f", "", &message("1", "x"));
    a.cmd("SELECT f");
    let mut b = srv.login(ALICE);
    ok(b.cmd("DELETE f"), "DELETE");
    // The view cannot be kept consistent with a folder that is gone: BYE and close.
    a.send(b"n1 NOOP\r\n");
    assert_eq!(a.read_line(), "* BYE The selected mailbox was deleted");
    assert!(a.is_closed());
    // Deleted with children (only a \Noselect name stays): the same. Otherwise a CREATE of
    // the name would revive it under the session with a new UIDVALIDITY and UIDs from 1 again.
    ok(b.cmd("CREATE p/c"), "CREATE");
    b.append("p", "", &message("1", "x"));
    b.append("p", "", &message("2", "x"));
    let mut a = srv.login(ALICE);
    a.cmd("SELECT p");
    let mut a2 = srv.login(ALICE);
    a2.cmd("SELECT p");
    ok(b.cmd("DELETE p"), "DELETE");
    a2.send(b"n1 NOOP\r\n");
    assert_eq!(a2.read_line(), "* BYE The selected mailbox was deleted");
    ok(b.cmd("CREATE p"), "CREATE");
    assert!(b
        .append("p", "", &message("3", "x"))
        .contains(" 1] APPEND completed"));
    a.send(b"n1 NOOP\r\n");
    assert_eq!(a.read_line(), "* BYE The selected mailbox was deleted");
    assert!(a.is_closed());
}

#[test]
fn uid_expunge_of_uidplus() {
    let dir = TempDir::new("uidexpunge");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    // UIDs 1..=5; 1, 2, 4 and 5 are \Deleted.
    for i in 1..=5 {
        c.append(
            "INBOX",
            if i == 3 { "" } else { "\\Deleted" },
            &message(&format!("{i}"), "x"),
        );
    }
    c.cmd("SELECT INBOX");
    // Only the \Deleted ones among the named UIDs go; 99 does not exist.
    assert_eq!(
        c.cmd("UID EXPUNGE 2:4,99"),
        vec!["* 2 EXPUNGE", "* 3 EXPUNGE", "TAG OK EXPUNGE completed"]
    );
    assert_eq!(c.cmd("UID EXPUNGE 2:3"), vec!["TAG OK EXPUNGE completed"]);
    assert_eq!(
        c.cmd("UID EXPUNGE 5:*"),
        vec!["* 3 EXPUNGE", "TAG OK EXPUNGE completed"]
    );
    assert_eq!(
        c.cmd("STATUS INBOX (MESSAGES)"),
        vec!["* STATUS INBOX (MESSAGES 2)", "TAG OK STATUS completed"]
    );
    c.cmd("EXAMINE INBOX");
    assert_eq!(
        c.cmd("UID EXPUNGE 1"),
        vec!["TAG NO [CANNOT] Mailbox is read-only (EXAMINE): nothing can be expunged"]
    );
    c.cmd("CLOSE");
    assert_eq!(
        c.cmd("UID EXPUNGE 1"),
        vec!["TAG BAD EXPUNGE needs a selected mailbox (SELECT or EXAMINE first)"]
    );
}

#[test]
fn names_that_need_quoting_round_trip() {
    let dir = TempDir::new("quoting");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    ok(c.cmd("CREATE \"my folder\""), "CREATE");
    ok(c.cmd("CREATE \"q\\\"uote\""), "CREATE");
    ok(c.cmd_literal("CREATE", b"lit{x}", ""), "CREATE");
    assert_eq!(
        c.cmd("LIST \"\" *"),
        vec![
            "* LIST (\\HasNoChildren \\Archive) \"/\" Archive",
            "* LIST (\\HasNoChildren \\Drafts) \"/\" Drafts",
            "* LIST (\\HasNoChildren) \"/\" INBOX",
            "* LIST (\\HasNoChildren \\Junk) \"/\" Junk",
            "* LIST (\\HasNoChildren \\Sent) \"/\" Sent",
            "* LIST (\\HasNoChildren \\Trash) \"/\" Trash",
            "* LIST (\\HasNoChildren) \"/\" \"lit{x}\"",
            "* LIST (\\HasNoChildren) \"/\" \"my folder\"",
            "* LIST (\\HasNoChildren) \"/\" \"q\\\"uote\"",
            "TAG OK LIST completed",
        ]
    );
    assert_eq!(
        c.cmd("STATUS \"my folder\" (MESSAGES)"),
        vec![
            "* STATUS \"my folder\" (MESSAGES 0)",
            "TAG OK STATUS completed"
        ]
    );
    assert!(c
        .append("\"my folder\"", "", &message("1", "x"))
        .starts_with("TAG OK [APPENDUID "));
    assert_eq!(
        c.cmd("SELECT \"my folder\"").last().unwrap(),
        "TAG OK [READ-WRITE] SELECT completed"
    );
    assert_eq!(
        c.cmd("SELECT \"\""),
        vec![
            "* OK [CLOSED] Previous mailbox closed",
            "TAG NO [CANNOT] Empty mailbox name"
        ]
    );
    ok(c.cmd("CREATE \"[Gmail]/Sent Mail\""), "CREATE");
    let r = c.cmd("LIST \"\" \"[Gmail]*\"");
    assert_eq!(r.len(), 3, "{r:?}");
    assert_eq!(r[1], "* LIST (\\HasNoChildren) \"/\" \"[Gmail]/Sent Mail\"");
    assert_eq!(
        c.cmd("SELECT \"[nope]\""),
        vec!["TAG NO [NONEXISTENT] No such mailbox: [nope]"]
    );
    assert_eq!(c.cmd("NOOP"), vec!["TAG OK NOOP completed"]);
}

#[test]
fn lsub_marks_a_subscribed_folder_deleted_to_noselect() {
    let dir = TempDir::new("lsubnoselect");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    ok(c.cmd("CREATE p/c"), "CREATE");
    ok(c.cmd("SUBSCRIBE p"), "SUBSCRIBE");
    ok(c.cmd("SUBSCRIBE p/c"), "SUBSCRIBE");
    assert_eq!(
        c.cmd("LSUB \"\" *"),
        vec![
            "* LSUB (\\HasNoChildren) \"/\" Archive",
            "* LSUB (\\HasNoChildren) \"/\" Drafts",
            "* LSUB (\\HasNoChildren) \"/\" INBOX",
            "* LSUB (\\HasNoChildren) \"/\" Junk",
            "* LSUB (\\HasNoChildren) \"/\" Sent",
            "* LSUB (\\HasNoChildren) \"/\" Trash",
            "* LSUB (\\HasChildren) \"/\" p",
            "* LSUB (\\HasNoChildren) \"/\" p/c",
            "TAG OK LSUB completed"
        ]
    );
    ok(c.cmd("DELETE p"), "DELETE");
    // The subscription stays (RFC 3501 §6.3.6), but p can no longer be selected.
    assert_eq!(
        c.cmd("LSUB \"\" *"),
        vec![
            "* LSUB (\\HasNoChildren) \"/\" Archive",
            "* LSUB (\\HasNoChildren) \"/\" Drafts",
            "* LSUB (\\HasNoChildren) \"/\" INBOX",
            "* LSUB (\\HasNoChildren) \"/\" Junk",
            "* LSUB (\\HasNoChildren) \"/\" Sent",
            "* LSUB (\\HasNoChildren) \"/\" Trash",
            "* LSUB (\\Noselect \\HasChildren) \"/\" p",
            "* LSUB (\\HasNoChildren) \"/\" p/c",
            "TAG OK LSUB completed"
        ]
    );
    assert_eq!(
        c.cmd("LSUB \"\" %"),
        vec![
            "* LSUB (\\HasNoChildren) \"/\" Archive",
            "* LSUB (\\HasNoChildren) \"/\" Drafts",
            "* LSUB (\\HasNoChildren) \"/\" INBOX",
            "* LSUB (\\HasNoChildren) \"/\" Junk",
            "* LSUB (\\HasNoChildren) \"/\" Sent",
            "* LSUB (\\HasNoChildren) \"/\" Trash",
            "* LSUB (\\Noselect \\HasChildren) \"/\" p",
            "TAG OK LSUB completed"
        ]
    );
}

#[test]
fn concurrent_expunges_and_appends_keep_numbers_valid() {
    let dir = TempDir::new("concurrent");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    a.append("INBOX", "\\Deleted", &message("1", "x"));
    a.append("INBOX", "", &message("2", "x"));
    a.append("INBOX", "\\Deleted", &message("3", "x"));
    a.cmd("SELECT INBOX");
    let mut b = srv.login(ALICE);
    b.cmd("SELECT INBOX");
    assert_eq!(
        b.cmd("EXPUNGE"),
        vec!["* 1 EXPUNGE", "* 2 EXPUNGE", "TAG OK EXPUNGE completed"]
    );
    // A's own EXPUNGE finds nothing left to remove, and reports B's removals.
    assert_eq!(
        a.cmd("EXPUNGE"),
        vec!["* 1 EXPUNGE", "* 2 EXPUNGE", "TAG OK EXPUNGE completed"]
    );
    // Removals are sent before new messages, so every number is valid when it is sent.
    // A's view is [2]. B adds 4 (\Deleted); A learns of it.
    b.append("INBOX", "\\Deleted", &message("4", "x"));
    assert_eq!(
        a.cmd("NOOP"),
        vec!["* 2 EXISTS", "* 1 RECENT", "TAG OK NOOP completed"]
    );
    // B adds 5 and removes 4: A hears of the removal first, then of the new message, which
    // took number 2 again.
    b.append("INBOX", "", &message("5", "x"));
    assert_eq!(
        b.cmd("EXPUNGE"),
        vec!["* 2 EXPUNGE", "TAG OK EXPUNGE completed"]
    );
    assert_eq!(
        a.cmd("NOOP"),
        vec![
            "* 2 EXPUNGE",
            "* 2 EXISTS",
            "* 1 RECENT",
            "TAG OK NOOP completed"
        ]
    );
    assert_eq!(
        a.cmd("STATUS INBOX (MESSAGES UIDNEXT)"),
        vec![
            "* STATUS INBOX (MESSAGES 2 UIDNEXT 6)",
            "TAG OK STATUS completed"
        ]
    );
}

/// Modified UTF-7 (RFC 3501 §5.1.3) is checked by the one rule for names: a shift that is not
/// ended, BASE64 that stops mid-character, and `&` sequences that spell printable ASCII are
/// refused with the reason, by every command that names a mailbox; valid ones work.
#[test]
fn invalid_modified_utf7_names_are_refused() {
    let dir = TempDir::new("mutf7");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    assert_eq!(
        c.cmd("CREATE &Jjo"),
        vec!["TAG NO [CANNOT] Mailbox name is not valid modified UTF-7: \"&Jjo\" is not ended by '-'"]
    );
    assert_eq!(
        c.cmd("CREATE a/&AO-"),
        vec!["TAG NO [CANNOT] Mailbox name is not valid modified UTF-7: \"&AO-\" does not end on a UTF-16 character"]
    );
    assert_eq!(
        c.cmd("CREATE &AEE-"),
        vec!["TAG NO [CANNOT] Mailbox name is not valid modified UTF-7: \"&AEE-\" encodes US-ASCII, which is written as itself"]
    );
    for cmd in [
        "SELECT &Jjo",
        "RENAME INBOX &Jjo",
        "DELETE &Jjo",
        "STATUS &Jjo (MESSAGES)",
        "SUBSCRIBE &Jjo",
    ] {
        let r = c.cmd(cmd);
        assert_eq!(r.len(), 1, "{cmd}: {r:?}");
        assert!(
            r[0].starts_with("TAG NO [CANNOT] Mailbox name is not valid modified UTF-7"),
            "{cmd}: {r:?}"
        );
    }
    let r = c.append("&Jjo", "", &message("m", "x"));
    assert!(
        r.starts_with("TAG NO [CANNOT] Mailbox name is not valid"),
        "{r}"
    );
    // ☺, an ampersand, and "Tom & Jerry" are fine.
    ok(c.cmd("CREATE &Jjo-"), "CREATE");
    ok(c.cmd("CREATE \"Tom &- Jerry\""), "CREATE");
    assert_eq!(
        c.cmd("LIST \"\" *&*"),
        vec![
            "* LIST (\\HasNoChildren) \"/\" &Jjo-",
            "* LIST (\\HasNoChildren) \"/\" \"Tom &- Jerry\"",
            "TAG OK LIST completed",
        ]
    );
}
