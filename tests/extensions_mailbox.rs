//! Issue 8, the mailbox side: MOVE, LITERAL+/APPENDLIMIT, NAMESPACE, ID, ENABLE, CHILDREN,
//! SPECIAL-USE / CREATE-SPECIAL-USE, LIST-EXTENDED, LIST-STATUS, STATUS=SIZE. Exact responses,
//! with the RFC edge cases.

mod common;
use common::*;

/// A logged-in client with `n` messages in INBOX (subjects m1..mn), INBOX selected.
fn with_messages(srv: &TestServer, n: usize) -> Client {
    let mut c = srv.login(ALICE);
    for i in 1..=n {
        let r = c.append("INBOX", "", &message(&format!("m{i}"), "body"));
        assert!(r.starts_with("TAG OK"), "{r}");
    }
    let r = c.cmd("SELECT INBOX");
    assert_eq!(r.last().unwrap(), "TAG OK [READ-WRITE] SELECT completed");
    c
}

/// The UIDVALIDITY of a folder, from STATUS.
fn uidvalidity(c: &mut Client, mailbox: &str) -> u32 {
    let r = c.cmd(&format!("STATUS {mailbox} (UIDVALIDITY)"));
    let line = &r[0];
    let v = line.rsplit(' ').next().unwrap().trim_end_matches(')');
    v.parse().unwrap()
}

// ---- MOVE (RFC 6851) ----

#[test]
fn move_sends_copyuid_then_expunges_then_ok() {
    let dir = TempDir::new("move");
    let srv = TestServer::start(&dir);
    let mut c = with_messages(&srv, 6);
    assert_eq!(ids_masked(&c.cmd("CREATE Dest")), vec![CREATED]);
    let v = uidvalidity(&mut c, "Dest");
    // Non-contiguous source UIDs: 2, 4:5 map onto 1:3 in the target.
    assert_eq!(
        c.cmd("UID MOVE 2,4:5 Dest"),
        vec![
            format!("* OK [COPYUID {v} 2,4:5 1:3] Moved"),
            "* 2 EXPUNGE".to_string(),
            "* 3 EXPUNGE".to_string(),
            "* 3 EXPUNGE".to_string(),
            "TAG OK UID MOVE completed".to_string(),
        ]
    );
    // What is left keeps its UIDs; the moved ones keep their flags.
    assert_eq!(
        c.cmd("UID SEARCH ALL"),
        vec!["* SEARCH 1 3 6", "TAG OK UID SEARCH completed"]
    );
    // MOVE by sequence number: seq 2 is UID 3.
    assert_eq!(
        c.cmd("MOVE 2:3 Dest"),
        vec![
            format!("* OK [COPYUID {v} 3,6 4:5] Moved"),
            "* 2 EXPUNGE".to_string(),
            "* 2 EXPUNGE".to_string(),
            "TAG OK MOVE completed".to_string(),
        ]
    );
    let r = c.cmd("STATUS Dest (MESSAGES UIDNEXT)");
    assert_eq!(r[0], "* STATUS Dest (MESSAGES 5 UIDNEXT 6)");
    let r = c.cmd("EXAMINE Dest");
    assert!(r.contains(&"* 5 EXISTS".to_string()), "{r:?}");
    assert_eq!(
        c.cmd("FETCH 1:5 (UID BODY[HEADER.FIELDS (SUBJECT)])")
            .iter()
            .filter(|l| l.contains("Subject:"))
            .count(),
        5
    );
}

#[test]
fn move_of_nothing_and_to_missing_or_readonly_folders() {
    let dir = TempDir::new("move-edge");
    let srv = TestServer::start(&dir);
    let mut c = with_messages(&srv, 2);
    c.cmd("CREATE Dest");
    // UIDs that do not exist: nothing moves, no COPYUID, no EXPUNGE.
    assert_eq!(
        c.cmd("UID MOVE 50:60 Dest"),
        vec!["TAG OK UID MOVE completed"]
    );
    // A sequence number beyond the mailbox is an error, as for COPY.
    assert_eq!(
        c.cmd("MOVE 5 Dest"),
        vec!["TAG BAD Sequence number beyond the mailbox (2 messages)"]
    );
    // A missing target: NO [TRYCREATE], and nothing is removed.
    assert_eq!(
        c.cmd("UID MOVE 1:* Nowhere"),
        vec!["TAG NO [TRYCREATE] No such mailbox: Nowhere"]
    );
    assert_eq!(
        c.cmd("UID SEARCH ALL"),
        vec!["* SEARCH 1 2", "TAG OK UID SEARCH completed"]
    );
    // Read-only: EXAMINE'd mailboxes cannot lose messages.
    c.cmd("EXAMINE INBOX");
    assert_eq!(
        c.cmd("MOVE 1 Dest"),
        vec!["TAG NO [CANNOT] Mailbox is read-only (EXAMINE): messages cannot be moved out of it"]
    );
    // MOVE needs a selected mailbox.
    c.cmd("UNSELECT");
    assert_eq!(
        c.cmd("MOVE 1 Dest"),
        vec!["TAG BAD MOVE needs a selected mailbox (SELECT or EXAMINE first)"]
    );
    assert_eq!(
        c.cmd("STATUS INBOX (MESSAGES)")[0],
        "* STATUS INBOX (MESSAGES 2)"
    );
}

#[test]
fn move_within_the_same_mailbox_gives_new_uids() {
    let dir = TempDir::new("move-self");
    let srv = TestServer::start(&dir);
    let mut c = with_messages(&srv, 2);
    let v = uidvalidity(&mut c, "INBOX");
    assert_eq!(
        c.cmd("UID MOVE 1 INBOX"),
        vec![
            format!("* OK [COPYUID {v} 1 3] Moved"),
            "* 1 EXPUNGE".to_string(),
            "* 2 EXISTS".to_string(),
            "* 2 RECENT".to_string(),
            "TAG OK UID MOVE completed".to_string(),
        ]
    );
    assert_eq!(
        c.cmd("FETCH 1:* (UID)"),
        vec![
            "* 1 FETCH (UID 2)",
            "* 2 FETCH (UID 3)",
            "TAG OK FETCH completed"
        ]
    );
}

#[test]
fn other_sessions_see_a_move_as_expunge_and_exists() {
    let dir = TempDir::new("move-sync");
    let srv = TestServer::start(&dir);
    let mut a = with_messages(&srv, 3);
    a.cmd("CREATE Dest");
    let mut inbox_watcher = srv.login(ALICE);
    inbox_watcher.cmd("SELECT INBOX");
    let mut dest_watcher = srv.login(ALICE);
    dest_watcher.cmd("SELECT Dest");
    assert!(a
        .cmd("UID MOVE 2 Dest")
        .last()
        .unwrap()
        .starts_with("TAG OK"));
    assert_eq!(
        inbox_watcher.cmd("NOOP"),
        vec!["* 2 EXPUNGE", "TAG OK NOOP completed"]
    );
    assert_eq!(
        dest_watcher.cmd("NOOP"),
        vec!["* 1 EXISTS", "* 1 RECENT", "TAG OK NOOP completed"]
    );
    // Held back during a FETCH by sequence number (RFC 3501 §7.4.1), like any expunge.
    assert!(a
        .cmd("UID MOVE 3 Dest")
        .last()
        .unwrap()
        .starts_with("TAG OK"));
    assert_eq!(
        inbox_watcher.cmd("FETCH 1 (UID)"),
        vec!["* 1 FETCH (UID 1)", "TAG OK FETCH completed"]
    );
    assert_eq!(
        inbox_watcher.cmd("NOOP"),
        vec!["* 2 EXPUNGE", "TAG OK NOOP completed"]
    );
}

// ---- LITERAL+ (RFC 7888) and APPENDLIMIT (RFC 7889) ----

fn small_limit_server(dir: &TempDir) -> TestServer {
    let mut config = liteimap::server::Config {
        auth_failure_delay: std::time::Duration::ZERO,
        ..liteimap::server::Config::default()
    };
    config.limits.max_literal = 1000;
    TestServer::start_with(dir, config)
}

#[test]
fn literal_plus_is_advertised_and_needs_no_continuation() {
    let dir = TempDir::new("literal-plus");
    let srv = small_limit_server(&dir);
    let mut c = srv.connect();
    // Before login LITERAL- (non-synchronising literals up to 4096 bytes), after it LITERAL+.
    assert!(c.greeting.contains(" LITERAL- "), "{}", c.greeting);
    assert!(!c.greeting.contains("LITERAL+"), "{}", c.greeting);
    assert!(!c.greeting.contains("APPENDLIMIT"), "{}", c.greeting);
    // Before login, in LOGIN: no "+" is sent, the bytes just follow.
    c.send(b"l1 LOGIN {5+}\r\nalice {10+}\r\nwonderland\r\n");
    let r = c.until_tagged("l1");
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(r[0].starts_with("TAG OK [CAPABILITY "), "{r:?}");
    // After login: APPENDLIMIT is the configured maximum message size.
    assert!(r[0].contains(" LITERAL+ APPENDLIMIT=1000 "), "{r:?}");
    assert!(!r[0].contains("LITERAL-"), "{r:?}");
    let m = message("plus", "x");
    c.send(format!("a1 APPEND INBOX (\\Seen) {{{}+}}\r\n", m.len()).as_bytes());
    c.send(&m);
    c.send(b"\r\n");
    let r = c.until_tagged("a1");
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(r[0].starts_with("TAG OK [APPENDUID "), "{r:?}");
    // Exactly at the limit is accepted.
    let mut exact = message("exact", "");
    exact.resize(1000, b'x');
    c.send(b"a2 APPEND INBOX {1000+}\r\n");
    c.send(&exact);
    c.send(b"\r\n");
    assert!(c.until_tagged("a2")[0].starts_with("TAG OK [APPENDUID "));
    assert_eq!(
        c.cmd("STATUS INBOX (MESSAGES)")[0],
        "* STATUS INBOX (MESSAGES 2)"
    );
}

#[test]
fn literal_plus_over_the_limit_is_refused_and_the_connection_closed() {
    let dir = TempDir::new("literal-plus-big");
    let srv = small_limit_server(&dir);
    // After login: the message limit.
    let mut c = srv.login(ALICE);
    // The answer comes at the announcement, without waiting for the bytes (which a test must
    // not send: the socket closes, and unread input would make the kernel reset it).
    c.send(b"nl APPEND INBOX {1001+}\r\n");
    assert_eq!(
        c.read_line(),
        "nl NO [TOOBIG] Literal of 1001 bytes exceeds the limit of 1000 bytes"
    );
    assert_eq!(
        c.read_line(),
        "* BYE Non-synchronising literal over the size limit"
    );
    assert!(c.is_closed());
    // Nothing was stored.
    let mut d = srv.login(ALICE);
    assert_eq!(
        d.cmd("STATUS INBOX (MESSAGES)")[0],
        "* STATUS INBOX (MESSAGES 0)"
    );
    // Before login a literal may have 8 KiB, whatever the message limit; a non-synchronising
    // one 4096 bytes (LITERAL-, RFC 7888 §4: tagged BAD [TOOBIG] over that).
    let dir2 = TempDir::new("literal-plus-prelogin");
    let srv2 = TestServer::start(&dir2);
    let mut e = srv2.connect();
    e.send(b"l0 LOGIN alice {4096+}\r\n");
    e.send(&[b'x'; 4096]);
    e.send(b"\r\n");
    let r = e.until_tagged("l0");
    assert!(r[0].starts_with("TAG NO [AUTHENTICATIONFAILED]"), "{r:?}");
    e.send(b"l1 LOGIN alice {4097+}\r\n");
    assert_eq!(
        e.read_line(),
        "l1 BAD [TOOBIG] Non-synchronising literal of 4097 bytes before login: LITERAL- allows at most 4096"
    );
    assert_eq!(
        e.read_line(),
        "* BYE Non-synchronising literal over the size limit"
    );
    assert!(e.is_closed());
    // A synchronising literal over the limit is still refused before any byte is sent, and
    // the session goes on.
    let mut f = srv2.connect();
    f.send(b"l2 LOGIN alice {8193}\r\n");
    assert_eq!(
        f.read_line(),
        "l2 NO [TOOBIG] Literal of 8193 bytes exceeds the limit of 8192 bytes before login"
    );
    assert_eq!(f.cmd("NOOP"), vec!["TAG OK NOOP completed"]);
}

// ---- NAMESPACE (RFC 2342), ID (RFC 2971), ENABLE (RFC 5161) ----

#[test]
fn namespace_id_and_enable() {
    let dir = TempDir::new("info");
    let srv = TestServer::start(&dir);
    let mut c = srv.connect();
    // ID works (and is advertised) before login; NIL and a list are both accepted.
    assert!(c.greeting.contains(" ID"), "{}", c.greeting);
    let ours = format!(
        "* ID (\"name\" \"liteimap\" \"version\" \"{}\")",
        env!("CARGO_PKG_VERSION")
    );
    assert_eq!(
        c.cmd("ID NIL"),
        vec![ours.clone(), "TAG OK ID completed".into()]
    );
    assert_eq!(
        c.cmd("ID (\"name\" \"Thunderbird\" \"version\" \"128.0\" \"os\" NIL)"),
        vec![ours.clone(), "TAG OK ID completed".into()]
    );
    // More than 30 pairs is a client error (RFC 2971 §3.3).
    let many: Vec<String> = (0..31).map(|i| format!("\"k{i}\" \"v\"")).collect();
    assert_eq!(
        c.cmd(&format!("ID ({})", many.join(" "))),
        vec!["TAG BAD ID takes at most 30 field-value pairs"]
    );
    // NAMESPACE and ENABLE need a login.
    assert_eq!(
        c.cmd("NAMESPACE"),
        vec!["TAG BAD NAMESPACE needs a login first"]
    );
    assert_eq!(
        c.cmd("ENABLE CONDSTORE"),
        vec!["TAG BAD ENABLE needs a login first"]
    );
    let r = c.cmd("LOGIN alice wonderland");
    assert!(
        r[0].contains(
            " NAMESPACE ID ENABLE CONDSTORE QRESYNC CHILDREN SPECIAL-USE CREATE-SPECIAL-USE LIST-EXTENDED LIST-STATUS STATUS=SIZE WITHIN BINARY ESEARCH SEARCHRES MULTIAPPEND SORT SORT=DISPLAY THREAD=ORDEREDSUBJECT THREAD=REFERENCES THREAD=REFS I18NLEVEL=1 ESORT PARTIAL"
        ),
        "{r:?}"
    );
    assert_eq!(
        c.cmd("NAMESPACE"),
        vec![
            "* NAMESPACE ((\"\" \"/\")) NIL NIL",
            "TAG OK NAMESPACE completed"
        ]
    );
    assert_eq!(c.cmd("ID NIL"), vec![ours, "TAG OK ID completed".into()]);
    // CONDSTORE is enabled; unknown names are ignored (RFC 5161 §3.1).
    assert_eq!(
        c.cmd("ENABLE CONDSTORE X-UNKNOWN"),
        vec!["* ENABLED CONDSTORE", "TAG OK ENABLE completed"]
    );
    assert_eq!(
        c.cmd("ENABLE X-UNKNOWN"),
        vec!["* ENABLED", "TAG OK ENABLE completed"]
    );
    // ENABLE is for the authenticated state only (RFC 5161 §3.1).
    c.cmd("SELECT INBOX");
    assert_eq!(
        c.cmd("ENABLE CONDSTORE"),
        vec!["TAG BAD ENABLE is only valid before a mailbox is selected"]
    );
    assert_eq!(
        c.cmd("NAMESPACE"),
        vec![
            "* NAMESPACE ((\"\" \"/\")) NIL NIL",
            "TAG OK NAMESPACE completed"
        ]
    );
}

// ---- CHILDREN (RFC 3348) ----

#[test]
fn children_attributes_follow_the_hierarchy() {
    let dir = TempDir::new("children");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    assert!(c.cmd("CAPABILITY")[0].contains(" CHILDREN"));
    c.cmd("CREATE top/mid/leaf");
    c.cmd("SUBSCRIBE top/mid");
    assert_eq!(
        c.cmd("LIST top *"),
        vec![
            "* LIST (\\HasChildren) \"/\" top",
            "* LIST (\\HasChildren) \"/\" top/mid",
            "* LIST (\\HasNoChildren) \"/\" top/mid/leaf",
            "TAG OK LIST completed",
        ]
    );
    // LSUB says whether any child exists, subscribed or not.
    assert_eq!(
        c.cmd("LSUB top/ *"),
        vec![
            "* LSUB (\\HasChildren) \"/\" top/mid",
            "TAG OK LSUB completed"
        ]
    );
    c.cmd("DELETE top/mid/leaf");
    assert_eq!(
        c.cmd("LIST top/ %"),
        vec![
            "* LIST (\\HasNoChildren) \"/\" top/mid",
            "TAG OK LIST completed"
        ]
    );
}

// ---- SPECIAL-USE (RFC 6154): default folders ----

#[test]
fn new_users_get_the_special_folders_subscribed() {
    let dir = TempDir::new("special-use");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(BOB);
    assert!(c.cmd("CAPABILITY")[0].contains(" SPECIAL-USE"));
    assert_eq!(
        c.cmd("LIST \"\" *"),
        vec![
            "* LIST (\\HasNoChildren \\Archive) \"/\" Archive",
            "* LIST (\\HasNoChildren \\Drafts) \"/\" Drafts",
            "* LIST (\\HasNoChildren) \"/\" INBOX",
            "* LIST (\\HasNoChildren \\Junk) \"/\" Junk",
            "* LIST (\\HasNoChildren \\Sent) \"/\" Sent",
            "* LIST (\\HasNoChildren \\Trash) \"/\" Trash",
            "TAG OK LIST completed",
        ]
    );
    assert_eq!(c.cmd("LSUB \"\" *").len(), 7);
    // The attribute belongs to the folder: it follows a RENAME.
    c.cmd("RENAME Sent \"Sent Items\"");
    assert_eq!(
        c.cmd("LIST \"\" Sent*"),
        vec![
            "* LIST (\\HasNoChildren \\Sent) \"/\" \"Sent Items\"",
            "TAG OK LIST completed"
        ]
    );
    // Each of them holds mail like any folder.
    for name in ["Drafts", "\"Sent Items\"", "Trash", "Junk", "Archive"] {
        let r = c.append(name, "", &message("s", "x"));
        assert!(r.starts_with("TAG OK [APPENDUID "), "{name}: {r}");
    }
}

// ---- CREATE-SPECIAL-USE (RFC 6154 §3) ----

#[test]
fn create_with_use_and_unknown_use_attributes() {
    let dir = TempDir::new("create-use");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    assert!(c.cmd("CAPABILITY")[0].contains(" CREATE-SPECIAL-USE "));
    assert_eq!(
        ids_masked(&c.cmd("CREATE \"Old Mail\" (USE (\\Archive \\archive))")),
        vec![CREATED]
    );
    assert_eq!(
        ids_masked(&c.cmd("CREATE Outbox/Sent (USE (\\Sent \\Drafts))")),
        vec![CREATED]
    );
    assert_eq!(
        c.cmd("LIST \"\" (\"Old Mail\" Outbox*)"),
        vec![
            "* LIST (\\HasNoChildren \\Archive) \"/\" \"Old Mail\"",
            "* LIST (\\HasChildren) \"/\" Outbox",
            "* LIST (\\HasNoChildren \\Sent \\Drafts) \"/\" Outbox/Sent",
            "TAG OK LIST completed",
        ]
    );
    // A use this server does not support: NO [USEATTR], and nothing is created.
    assert_eq!(
        c.cmd("CREATE Everything (USE (\\All))"),
        vec!["TAG NO [USEATTR] Special use \\All is not supported"]
    );
    assert_eq!(
        c.cmd("CREATE Other (USE (\\Sent \\Important))"),
        vec!["TAG NO [USEATTR] Special use \\Important is not supported"]
    );
    assert_eq!(c.cmd("LIST \"\" Everything"), vec!["TAG OK LIST completed"]);
    // Other CREATE rules hold as without USE; malformed parameters are BAD.
    assert_eq!(
        c.cmd("CREATE Sent (USE (\\Sent))"),
        vec!["TAG NO [ALREADYEXISTS] mailbox Sent already exists"]
    );
    assert_eq!(
        c.cmd("CREATE inbox (USE (\\Sent))"),
        vec!["TAG NO [ALREADYEXISTS] INBOX always exists"]
    );
    assert_eq!(
        c.cmd("CREATE x (COLOR (red))"),
        vec!["TAG BAD Unknown CREATE parameter COLOR"]
    );
}

// ---- LIST-EXTENDED (RFC 5258), LIST-STATUS (RFC 5819), STATUS=SIZE (RFC 8438) ----

/// alice with: a/b (a unsubscribed, a/b subscribed), c (subscribed), d/e/f (only f
/// subscribed), "ghost" subscribed but never created; defaults unsubscribed except INBOX.
fn list_fixture(srv: &TestServer) -> Client {
    let mut c = srv.login(ALICE);
    for n in ["Drafts", "Sent", "Trash", "Junk", "Archive"] {
        c.cmd(&format!("UNSUBSCRIBE {n}"));
    }
    for n in ["a/b", "c", "d/e/f"] {
        assert_eq!(ids_masked(&c.cmd(&format!("CREATE {n}"))), vec![CREATED]);
    }
    for n in ["a/b", "c", "d/e/f", "ghost"] {
        c.cmd(&format!("SUBSCRIBE {n}"));
    }
    c
}

#[test]
fn list_extended_subscribed_nonexistent_and_multiple_patterns() {
    let dir = TempDir::new("list-ext");
    let srv = TestServer::start(&dir);
    let mut c = list_fixture(&srv);
    assert!(c.cmd("CAPABILITY")[0].contains(" LIST-EXTENDED "));
    // SUBSCRIBED: subscribed names only, \Subscribed on each, \NonExistent for ghost.
    assert_eq!(
        c.cmd("LIST (SUBSCRIBED) \"\" *"),
        vec![
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" INBOX",
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" a/b",
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" c",
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" d/e/f",
            "* LIST (\\NonExistent \\Subscribed) \"/\" ghost",
            "TAG OK LIST completed",
        ]
    );
    // RETURN (SUBSCRIBED) on an ordinary LIST; several patterns; REMOTE changes nothing here.
    assert_eq!(
        c.cmd("LIST (REMOTE) \"\" (c \"a*\" INBOX) RETURN (SUBSCRIBED CHILDREN)"),
        vec![
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" INBOX",
            "* LIST (\\HasChildren) \"/\" a",
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" a/b",
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" c",
            "TAG OK LIST completed",
        ]
    );
    // SPECIAL-USE selection: only the folders with a special use.
    assert_eq!(
        c.cmd("LIST (SPECIAL-USE) \"\" *"),
        vec![
            "* LIST (\\HasNoChildren \\Archive) \"/\" Archive",
            "* LIST (\\HasNoChildren \\Drafts) \"/\" Drafts",
            "* LIST (\\HasNoChildren \\Junk) \"/\" Junk",
            "* LIST (\\HasNoChildren \\Sent) \"/\" Sent",
            "* LIST (\\HasNoChildren \\Trash) \"/\" Trash",
            "TAG OK LIST completed",
        ]
    );
    assert_eq!(
        c.cmd("LIST \"\" % RETURN (SPECIAL-USE)")[3],
        "* LIST (\\HasNoChildren \\Junk) \"/\" Junk"
    );
    // Malformed: BAD with the reason; the plain forms still go through imap-codec.
    assert_eq!(
        c.cmd("LIST (RECURSIVEMATCH) \"\" *"),
        vec!["TAG BAD RECURSIVEMATCH needs another selection option"]
    );
    assert_eq!(
        c.cmd("LIST (BOGUS) \"\" *"),
        vec!["TAG BAD Unknown LIST selection option BOGUS"]
    );
    assert_eq!(
        c.cmd("LIST \"\" \"\" RETURN ()"),
        vec!["* LIST (\\Noselect) \"/\" \"\"", "TAG OK LIST completed"]
    );
}

#[test]
fn list_extended_recursivematch_over_unsubscribed_parents() {
    let dir = TempDir::new("list-recursive");
    let srv = TestServer::start(&dir);
    let mut c = list_fixture(&srv);
    // %: a and d are not subscribed but have subscribed descendants that % does not reach:
    // listed with CHILDINFO. ghost exists only as a subscription.
    assert_eq!(
        c.cmd("LIST (SUBSCRIBED RECURSIVEMATCH) \"\" %"),
        vec![
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" INBOX",
            "* LIST (\\HasChildren) \"/\" a (\"CHILDINFO\" (\"SUBSCRIBED\"))",
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" c",
            "* LIST (\\HasChildren) \"/\" d (\"CHILDINFO\" (\"SUBSCRIBED\"))",
            "* LIST (\\NonExistent \\Subscribed) \"/\" ghost",
            "TAG OK LIST completed",
        ]
    );
    // d/%: d/e is the unsubscribed parent of d/e/f.
    assert_eq!(
        c.cmd("LIST (SUBSCRIBED RECURSIVEMATCH) d/ %"),
        vec![
            "* LIST (\\HasChildren) \"/\" d/e (\"CHILDINFO\" (\"SUBSCRIBED\"))",
            "TAG OK LIST completed",
        ]
    );
    // *: every subscribed descendant is listed itself, so no parent is listed for it.
    assert_eq!(
        c.cmd("LIST (SUBSCRIBED RECURSIVEMATCH) \"\" d*"),
        vec![
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" d/e/f",
            "TAG OK LIST completed",
        ]
    );
    // A subscribed parent with a subscribed child % does not reach: \Subscribed and CHILDINFO.
    c.cmd("SUBSCRIBE a");
    assert_eq!(
        c.cmd("LIST (SUBSCRIBED RECURSIVEMATCH) \"\" a"),
        vec![
            "* LIST (\\HasChildren \\Subscribed) \"/\" a (\"CHILDINFO\" (\"SUBSCRIBED\"))",
            "TAG OK LIST completed",
        ]
    );
    // Without RECURSIVEMATCH the unsubscribed parents are not listed.
    assert_eq!(
        c.cmd("LIST (SUBSCRIBED) \"\" d/%"),
        vec!["TAG OK LIST completed"]
    );
}

#[test]
fn list_status_skips_noselect_and_nonexistent() {
    let dir = TempDir::new("list-status");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    assert!(c.cmd("CAPABILITY")[0].contains(" LIST-STATUS STATUS=SIZE "));
    c.cmd("CREATE p/q");
    c.cmd("DELETE p"); // p stays as \Noselect: it has a child
    c.cmd("SUBSCRIBE nothere");
    let m1 = message("one", "hello");
    let m2 = message("two", "world!");
    c.append("p/q", "\\Seen", &m1);
    c.append("p/q", "", &m2);
    let size = m1.len() + m2.len();
    let r = c.cmd("LIST \"\" (p* nothere) RETURN (STATUS (MESSAGES UNSEEN SIZE))");
    assert_eq!(
        r,
        vec![
            "* LIST (\\Noselect \\HasChildren) \"/\" p".to_string(),
            "* LIST (\\HasNoChildren) \"/\" p/q".to_string(),
            format!("* STATUS p/q (MESSAGES 2 UNSEEN 1 SIZE {size})"),
            "TAG OK LIST completed".to_string(),
        ]
    );
    // With SUBSCRIBED: a subscription without a folder gets no STATUS either.
    let r = c.cmd("LIST (SUBSCRIBED) \"\" * RETURN (STATUS (MESSAGES))");
    assert_eq!(
        r,
        vec![
            "* LIST (\\HasNoChildren \\Subscribed \\Archive) \"/\" Archive",
            "* STATUS Archive (MESSAGES 0)",
            "* LIST (\\HasNoChildren \\Subscribed \\Drafts) \"/\" Drafts",
            "* STATUS Drafts (MESSAGES 0)",
            "* LIST (\\HasNoChildren \\Subscribed) \"/\" INBOX",
            "* STATUS INBOX (MESSAGES 0)",
            "* LIST (\\HasNoChildren \\Subscribed \\Junk) \"/\" Junk",
            "* STATUS Junk (MESSAGES 0)",
            "* LIST (\\HasNoChildren \\Subscribed \\Sent) \"/\" Sent",
            "* STATUS Sent (MESSAGES 0)",
            "* LIST (\\HasNoChildren \\Subscribed \\Trash) \"/\" Trash",
            "* STATUS Trash (MESSAGES 0)",
            "* LIST (\\NonExistent \\Subscribed) \"/\" nothere",
            "TAG OK LIST completed",
        ]
    );
    // STATUS=SIZE on its own: the bytes of every message.
    assert_eq!(
        c.cmd("STATUS p/q (SIZE MESSAGES)"),
        vec![
            format!("* STATUS p/q (SIZE {size} MESSAGES 2)"),
            "TAG OK STATUS completed".to_string(),
        ]
    );
    assert_eq!(
        c.cmd("LIST \"\" p/q RETURN (STATUS (DELETED DELETED-STORAGE))"),
        vec![
            "* LIST (\\HasNoChildren) \"/\" p/q",
            "* STATUS p/q (DELETED 0 DELETED-STORAGE 0)",
            "TAG OK LIST completed",
        ]
    );
    assert_eq!(
        c.cmd("LIST \"\" p/q RETURN (STATUS (UNDELETED))"),
        vec!["TAG BAD Unknown STATUS item UNDELETED"]
    );
}

// ---- A real client: Python's IMAPClient (PyPI; .ci/run installs it) ----

const IMAPCLIENT_SCRIPT: &str = r#"
import sys, imapclient
from imapclient.imapclient import SENT, DRAFTS, TRASH, JUNK, ARCHIVE, DELETED
port = int(sys.argv[1])
c = imapclient.IMAPClient("127.0.0.1", port=port, ssl=False)
print("id", [x.decode() for x in c.id_({"name": "imapclient-test"})[0]])
c.login("alice", "wonderland")
for cap in (b"MOVE", b"UIDPLUS", b"NAMESPACE", b"SPECIAL-USE", b"LITERAL+"):
    assert c.has_capability(cap.decode()), cap
ns = c.namespace()
print("namespace", ns.personal, ns.other, ns.shared)
for use in (SENT, DRAFTS, TRASH, JUNK, ARCHIVE):
    print("special", use.decode(), c.find_special_folder(use))
c.select_folder("INBOX")
for i in range(4):
    c.append("INBOX", b"Subject: m%d\r\n\r\nbody %d\r\n" % (i, i))
uids = c.search("ALL")
print("uids", uids)
c.move(uids[1:3], c.find_special_folder(ARCHIVE))
print("after move", c.search("ALL"), c.folder_status("Archive", ["MESSAGES"])[b"MESSAGES"])
c.add_flags(uids, [DELETED])
c.uid_expunge([uids[0]])
print("after uid expunge", c.search("ALL"))
c.logout()
print("DONE")
"#;

#[test]
fn python_imapclient_move_expunge_namespace_id_special_use() {
    let dir = TempDir::new("imapclient");
    let srv = TestServer::start(&dir);
    let stdout = python(IMAPCLIENT_SCRIPT, &[&srv.port.to_string()]);
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        lines,
        vec![
            format!(
                "id ['name', 'liteimap', 'version', '{}']",
                env!("CARGO_PKG_VERSION")
            )
            .as_str(),
            "namespace (('', '/'),) None None",
            "special \\Sent Sent",
            "special \\Drafts Drafts",
            "special \\Trash Trash",
            "special \\Junk Junk",
            "special \\Archive Archive",
            "uids [1, 2, 3, 4]",
            "after move [1, 4] 2",
            "after uid expunge [4]",
            "DONE",
        ]
    );
}

#[test]
fn move_of_a_saved_search_result() {
    let dir = TempDir::new("move-saved");
    let srv = TestServer::start(&dir);
    let mut c = with_messages(&srv, 4);
    c.cmd("STORE 2,4 +FLAGS (\\Flagged)");
    assert_eq!(
        c.cmd("UID SEARCH RETURN (SAVE) FLAGGED"),
        vec!["TAG OK UID SEARCH completed"]
    );
    let v = uidvalidity(&mut c, "Archive");
    assert_eq!(
        c.cmd("UID MOVE $ Archive"),
        vec![
            format!("* OK [COPYUID {v} 2,4 1:2] Moved"),
            "* 2 EXPUNGE".to_string(),
            "* 3 EXPUNGE".to_string(),
            "TAG OK UID MOVE completed".to_string(),
        ]
    );
    // The moved messages are gone from $, so a second MOVE moves nothing.
    assert_eq!(
        c.cmd("MOVE $ Archive"),
        vec!["TAG OK MOVE completed (the saved search result is empty)"]
    );
}
