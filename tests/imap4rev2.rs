//! Issue 19, first part: IMAP4rev2 (RFC 9051) beside IMAP4rev1, UTF8=ACCEPT (RFC 6855), and
//! ENABLE/CAPABILITY saying exactly what works. A rev1 session and a rev2 session on the same
//! mailbox at the same time each get their own RFC's answers.

mod common;
use common::*;

fn ok(r: &[String]) {
    assert!(r.last().is_some_and(|l| l.starts_with("TAG OK")), "{r:?}");
}

/// The tag the client's next command will carry (ESEARCH responses quote it).
fn next_tag(c: &Client) -> String {
    format!("t{}", c.peek_tag())
}

#[test]
fn enable_says_exactly_what_it_enabled() {
    let dir = TempDir::new("rev2-enable");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    // UTF8=ONLY is not offered, X-FOO is unknown: neither is reported.
    assert_eq!(
        c.cmd("ENABLE IMAP4rev2 UTF8=ONLY X-FOO utf8=accept"),
        vec!["* ENABLED IMAP4rev2 UTF8=ACCEPT", "TAG OK ENABLE completed"]
    );
    // Enabling again reports it again (a client never concludes it is off).
    assert_eq!(
        c.cmd("ENABLE IMAP4REV2"),
        vec!["* ENABLED IMAP4REV2", "TAG OK ENABLE completed"]
    );
    assert_eq!(
        c.cmd("CAPABILITY"),
        vec![
            concat!("* CAPABILITY ", caps!()).to_string(),
            "TAG OK CAPABILITY completed".to_string()
        ]
    );
    // Before login IMAP4rev2 is offered, UTF8=ACCEPT (ENABLE needs a login) is not.
    let mut pre = srv.connect();
    assert_eq!(
        pre.cmd("CAPABILITY"),
        vec![
            "* CAPABILITY IMAP4REV1 SASL-IR AUTH=PLAIN AUTH=LOGIN LITERAL- ID IMAP4rev2",
            "TAG OK CAPABILITY completed"
        ]
    );
}

/// The two RFCs side by side on one INBOX: the rev1 session gets \Recent, RECENT, UNSEEN and
/// `* SEARCH`; the rev2 one gets none of them, a LIST line at SELECT, and `* ESEARCH`.
#[test]
fn a_rev1_and_a_rev2_session_on_the_same_mailbox() {
    let dir = TempDir::new("rev2-side-by-side");
    let srv = TestServer::start(&dir);
    let mut rev1 = srv.login(ALICE);
    let mut rev2 = srv.login(ALICE);
    let mut other = srv.login(ALICE);
    ok(&rev2.cmd("ENABLE IMAP4rev2"));
    for i in 1..=2 {
        assert!(other
            .append("INBOX", "", &message(&format!("m{i}"), "hello"))
            .starts_with("TAG OK"));
    }
    let uv = uidvalidity(&mut other, "INBOX");
    // rev2 selects first: it claims no \Recent, so the rev1 session still gets them.
    let sel = rev2.cmd("SELECT INBOX");
    let mbid = mailbox_id(&sel);
    assert_eq!(
        sel,
        vec![
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
            "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted",
            "* 2 EXISTS",
            "* LIST (\\HasNoChildren) \"/\" INBOX",
            &format!("* OK [UIDVALIDITY {uv}] UIDs valid"),
            "* OK [UIDNEXT 3] Predicted next UID",
            &format!("* OK [MAILBOXID ({mbid})] Ok"),
            common::URLMECH,
            "* OK [HIGHESTMODSEQ 3] Highest",
            "TAG OK [READ-WRITE] SELECT completed",
        ]
    );
    assert_eq!(
        rev1.cmd("SELECT INBOX"),
        vec![
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)",
            "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted",
            "* 2 EXISTS",
            "* 2 RECENT",
            "* OK [UNSEEN 1] Message 1 is first unseen",
            &format!("* OK [UIDVALIDITY {uv}] UIDs valid"),
            "* OK [UIDNEXT 3] Predicted next UID",
            &format!("* OK [MAILBOXID ({mbid})] Ok"),
            common::URLMECH,
            "* OK [HIGHESTMODSEQ 3] Highest",
            "TAG OK [READ-WRITE] SELECT completed",
        ]
    );
    assert_eq!(
        rev1.cmd("FETCH 1:2 FLAGS"),
        vec![
            "* 1 FETCH (FLAGS (\\Recent))",
            "* 2 FETCH (FLAGS (\\Recent))",
            "TAG OK FETCH completed"
        ]
    );
    assert_eq!(
        rev2.cmd("FETCH 1:2 FLAGS"),
        vec![
            "* 1 FETCH (FLAGS ())",
            "* 2 FETCH (FLAGS ())",
            "TAG OK FETCH completed"
        ]
    );
    // New mail: EXISTS to both, RECENT only to rev1 (which claims it).
    assert!(other
        .append("INBOX", "", &message("m3", "hello"))
        .starts_with("TAG OK"));
    assert_eq!(
        rev2.cmd("NOOP"),
        vec!["* 3 EXISTS", "TAG OK NOOP completed"]
    );
    assert_eq!(
        rev1.cmd("NOOP"),
        vec!["* 3 EXISTS", "* 3 RECENT", "TAG OK NOOP completed"]
    );
    // A rev2 session's own APPEND to its mailbox claims no \Recent either.
    assert_eq!(
        rev2.cmd_literal("APPEND INBOX", &message("m4", "hello"), ""),
        vec![
            "* 4 EXISTS".to_string(),
            format!("TAG OK [APPENDUID {uv} 4] APPEND completed")
        ]
    );
    assert_eq!(
        rev1.cmd("NOOP"),
        vec!["* 4 EXISTS", "* 4 RECENT", "TAG OK NOOP completed"]
    );
    assert_eq!(
        rev2.cmd("FETCH 4 FLAGS"),
        vec!["* 4 FETCH (FLAGS ())", "TAG OK FETCH completed"]
    );

    // SEARCH: `* SEARCH` for rev1, `* ESEARCH ... ALL` for rev2 (RFC 9051 §6.4.4).
    assert_eq!(
        rev1.cmd("SEARCH ALL"),
        vec!["* SEARCH 1 2 3 4", "TAG OK SEARCH completed"]
    );
    ok(&rev2.cmd("STORE 2:3 +FLAGS.SILENT (\\Deleted)"));
    // The rev1 session learns of the change with its own \Recent.
    assert_eq!(
        rev1.cmd("NOOP"),
        vec![
            "* 2 FETCH (FLAGS (\\Deleted \\Recent))",
            "* 3 FETCH (FLAGS (\\Deleted \\Recent))",
            "TAG OK NOOP completed"
        ]
    );
    let t = next_tag(&rev2);
    assert_eq!(
        rev2.cmd("SEARCH UNDELETED"),
        vec![
            format!("* ESEARCH (TAG \"{t}\") ALL 1,4"),
            "TAG OK SEARCH completed".into()
        ]
    );
    let t = next_tag(&rev2);
    assert_eq!(
        rev2.cmd("UID SEARCH DELETED"),
        vec![
            format!("* ESEARCH (TAG \"{t}\") UID ALL 2:3"),
            "TAG OK UID SEARCH completed".into()
        ]
    );
    // Nothing found: no ALL at all.
    let t = next_tag(&rev2);
    assert_eq!(
        rev2.cmd("SEARCH SUBJECT nowhere"),
        vec![
            format!("* ESEARCH (TAG \"{t}\")"),
            "TAG OK SEARCH completed".into()
        ]
    );
    // An explicit RETURN is answered as it always was.
    let t = next_tag(&rev2);
    assert_eq!(
        rev2.cmd("SEARCH RETURN (COUNT) ALL"),
        vec![
            format!("* ESEARCH (TAG \"{t}\") COUNT 4"),
            "TAG OK SEARCH completed".into()
        ]
    );

    // STATUS DELETED (RFC 9051 §6.3.11) and SIZE, for either session.
    let size: usize = (1..=4)
        .map(|i| message(&format!("m{i}"), "hello").len())
        .sum();
    for c in [&mut rev1, &mut rev2] {
        assert_eq!(
            c.cmd("STATUS INBOX (MESSAGES DELETED SIZE)"),
            vec![
                format!("* STATUS INBOX (MESSAGES 4 DELETED 2 SIZE {size})"),
                "TAG OK STATUS completed".into()
            ]
        );
    }
    // Mail no session has seen yet is RECENT to rev1, not to rev2.
    assert!(other
        .append("INBOX", "", &message("m5", "hello"))
        .starts_with("TAG OK"));
    assert_eq!(
        other.cmd("STATUS INBOX (RECENT)"),
        vec!["* STATUS INBOX (RECENT 1)", "TAG OK STATUS completed"]
    );
    assert_eq!(
        rev2.cmd("STATUS INBOX (RECENT)"),
        vec![
            "* STATUS INBOX (RECENT 0)",
            "* 5 EXISTS",
            "TAG OK STATUS completed"
        ]
    );
    assert_eq!(
        rev2.cmd("LIST \"\" INBOX RETURN (STATUS (DELETED))"),
        vec![
            "* LIST (\\HasNoChildren) \"/\" INBOX",
            "* STATUS INBOX (DELETED 2)",
            "TAG OK LIST completed"
        ]
    );

    // Selecting another mailbox: `[CLOSED]` first, then the new mailbox's responses.
    ok(&other.cmd("CREATE Archive/2024"));
    let r = rev2.cmd("EXAMINE Archive/2024");
    assert_eq!(r[0], "* OK [CLOSED] Previous mailbox closed");
    assert!(
        r.contains(&"* LIST (\\HasNoChildren) \"/\" Archive/2024".to_string()),
        "{r:?}"
    );
    assert!(!r.iter().any(|l| l.contains("RECENT")), "{r:?}");
    assert_eq!(r.last().unwrap(), "TAG OK [READ-ONLY] EXAMINE completed");
}

/// A folder created in UTF-8 by a UTF8=ACCEPT session is one folder with two spellings: the
/// rev1 session lists, selects and renames it in modified UTF-7.
#[test]
fn one_utf8_name_two_encodings() {
    let dir = TempDir::new("rev2-utf8-names");
    let srv = TestServer::start(&dir);
    let mut utf8 = srv.login(ALICE);
    let mut rev1 = srv.login(ALICE);
    assert_eq!(
        utf8.cmd("ENABLE UTF8=ACCEPT"),
        vec!["* ENABLED UTF8=ACCEPT", "TAG OK ENABLE completed"]
    );
    ok(&utf8.cmd("CREATE \"Entwürfe/日本語\""));
    ok(&utf8.cmd("CREATE \"Tom & Jerry\""));
    assert_eq!(
        rev1.cmd("LIST \"\" *"),
        vec![
            "* LIST (\\HasNoChildren \\Archive) \"/\" Archive",
            "* LIST (\\HasNoChildren \\Drafts) \"/\" Drafts",
            "* LIST (\\HasChildren) \"/\" Entw&APw-rfe",
            "* LIST (\\HasNoChildren) \"/\" Entw&APw-rfe/&ZeVnLIqe-",
            "* LIST (\\HasNoChildren) \"/\" INBOX",
            "* LIST (\\HasNoChildren \\Junk) \"/\" Junk",
            "* LIST (\\HasNoChildren \\Sent) \"/\" Sent",
            "* LIST (\\HasNoChildren) \"/\" \"Tom &- Jerry\"",
            "* LIST (\\HasNoChildren \\Trash) \"/\" Trash",
            "TAG OK LIST completed",
        ]
    );
    // The UTF-8 session's patterns are UTF-8 and match what it sees.
    assert_eq!(
        utf8.cmd("LIST \"\" \"Entwü*\""),
        vec![
            "* LIST (\\HasChildren) \"/\" \"Entwürfe\"",
            "* LIST (\\HasNoChildren) \"/\" \"Entwürfe/日本語\"",
            "TAG OK LIST completed",
        ]
    );
    assert_eq!(
        utf8.cmd("LIST \"\" \"Tom*\""),
        vec![
            "* LIST (\\HasNoChildren) \"/\" \"Tom & Jerry\"",
            "TAG OK LIST completed",
        ]
    );
    assert_eq!(
        rev1.cmd("LIST \"\" Entw&APw-rfe/%"),
        vec![
            "* LIST (\\HasNoChildren) \"/\" Entw&APw-rfe/&ZeVnLIqe-",
            "TAG OK LIST completed",
        ]
    );
    // A rev1 session writes names in 7 bits: UTF-8 from it is refused, as before.
    let r = rev1.cmd("CREATE \"Größe\"");
    assert!(
        r[0].starts_with("TAG NO [CANNOT] Mailbox name contains byte 0xc3"),
        "{r:?}"
    );
    // To the UTF-8 session, "&AOQ-" is five characters, not "ä".
    ok(&utf8.cmd("CREATE &AOQ-"));
    assert_eq!(
        rev1.cmd("LIST \"\" &*"),
        vec![
            "* LIST (\\HasNoChildren) \"/\" &-AOQ-",
            "TAG OK LIST completed"
        ]
    );

    // Mail in it, by either spelling; STATUS and SELECT answer in the session's spelling.
    assert!(rev1
        .append("Entw&APw-rfe/&ZeVnLIqe-", "", &message("m1", "x"))
        .starts_with("TAG OK"));
    assert_eq!(
        utf8.cmd("STATUS \"Entwürfe/日本語\" (MESSAGES)"),
        vec![
            "* STATUS \"Entwürfe/日本語\" (MESSAGES 1)",
            "TAG OK STATUS completed"
        ]
    );
    assert_eq!(
        rev1.cmd("STATUS Entw&APw-rfe/&ZeVnLIqe- (MESSAGES)"),
        vec![
            "* STATUS Entw&APw-rfe/&ZeVnLIqe- (MESSAGES 1)",
            "TAG OK STATUS completed"
        ]
    );
    ok(&utf8.cmd("SELECT \"Entwürfe/日本語\""));
    ok(&utf8.cmd("COPY 1 \"Tom & Jerry\""));
    assert_eq!(
        rev1.cmd("STATUS \"Tom &- Jerry\" (MESSAGES)"),
        vec![
            "* STATUS \"Tom &- Jerry\" (MESSAGES 1)",
            "TAG OK STATUS completed"
        ]
    );
    // RENAME in UTF-8 moves the children; the rev1 session finds them under the new name.
    ok(&utf8.cmd("RENAME \"Entwürfe\" \"Brouillons é\""));
    assert_eq!(
        rev1.cmd("LIST \"\" Brouillons*"),
        vec![
            "* LIST (\\HasChildren) \"/\" \"Brouillons &AOk-\"",
            "* LIST (\\HasNoChildren) \"/\" \"Brouillons &AOk-/&ZeVnLIqe-\"",
            "TAG OK LIST completed",
        ]
    );
    // Subscriptions and LSUB keep the one name too.
    ok(&utf8.cmd("SUBSCRIBE \"Brouillons é\""));
    assert_eq!(
        rev1.cmd("LSUB \"\" Brou*"),
        vec![
            "* LSUB (\\HasChildren) \"/\" \"Brouillons &AOk-\"",
            "TAG OK LSUB completed"
        ]
    );
    assert_eq!(
        utf8.cmd("LSUB \"\" Brou*"),
        vec![
            "* LSUB (\\HasChildren) \"/\" \"Brouillons é\"",
            "TAG OK LSUB completed"
        ]
    );
    // Names not allowed in either spelling are refused with the reason.
    let r = utf8.cmd("CREATE \"a\u{7}b\"");
    assert_eq!(
        r,
        vec!["TAG NO [CANNOT] Mailbox name contains control character U+0007"]
    );
}

/// IMAP4rev2 mailbox names are UTF-8 too (RFC 9051 §5.1), without UTF8=ACCEPT.
#[test]
fn rev2_sessions_speak_utf8_names() {
    let dir = TempDir::new("rev2-names");
    let srv = TestServer::start(&dir);
    let mut rev1 = srv.login(ALICE);
    let mut rev2 = srv.login(ALICE);
    ok(&rev1.cmd("CREATE &AOQ-rger"));
    assert_eq!(
        rev2.cmd("ENABLE IMAP4rev2"),
        vec!["* ENABLED IMAP4rev2", "TAG OK ENABLE completed"]
    );
    let r = rev2.cmd("SELECT \"ärger\"");
    assert!(
        r.contains(&"* LIST (\\HasNoChildren) \"/\" \"ärger\"".to_string()),
        "{r:?}"
    );
    ok(&r);
    // The same name written decomposed (a + U+0308) is the same folder; SELECT says which
    // spelling it took it for (RFC 9051 §6.3.2 OLDNAME).
    let r = rev2.cmd("EXAMINE \"a\u{308}rger\"");
    assert_eq!(r[0], "* OK [CLOSED] Previous mailbox closed");
    assert!(
        r.contains(
            &"* LIST (\\HasNoChildren) \"/\" \"ärger\" (\"OLDNAME\" (\"a\u{308}rger\"))"
                .to_string()
        ),
        "{r:?}"
    );
    ok(&r);
}

/// APPEND of a message with 8-bit (UTF-8) header fields, plain and in RFC 6855's `UTF8
/// (~{n})` form; SEARCH finds it by a UTF-8 string without CHARSET.
#[test]
fn append_utf8_headers_and_search_without_charset() {
    let dir = TempDir::new("rev2-utf8-append");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    ok(&c.cmd("ENABLE UTF8=ACCEPT"));
    let uv = uidvalidity(&mut c, "INBOX");
    let msg = "From: Jörg <jörg@example.org>\r\nTo: bob@example.org\r\nSubject: Grüße aus Köln\r\n\r\nHallo\r\n"
        .as_bytes();
    let tag = c.tag();
    let mut cmd = format!("{tag} APPEND INBOX UTF8 (~{{{}+}}\r\n", msg.len()).into_bytes();
    cmd.extend_from_slice(msg);
    cmd.extend_from_slice(b")\r\n");
    c.send(&cmd);
    let r = c.until_tagged(&tag);
    assert_eq!(
        r,
        vec![format!("TAG OK [APPENDUID {uv} 1] APPEND completed")]
    );
    // And as an ordinary literal, as RFC 9051 allows.
    assert_eq!(
        c.append("INBOX", "", msg),
        format!("TAG OK [APPENDUID {uv} 2] APPEND completed")
    );
    ok(&c.cmd("SELECT INBOX"));
    assert_eq!(
        c.cmd("SEARCH SUBJECT \"grüße\""),
        vec!["* SEARCH 1 2", "TAG OK SEARCH completed"]
    );
    assert_eq!(
        c.cmd("SEARCH FROM \"jörg\""),
        vec!["* SEARCH 1 2", "TAG OK SEARCH completed"]
    );
    let r = c.cmd_bytes("FETCH 1 BODY.PEEK[HEADER.FIELDS (SUBJECT)]");
    let text = String::from_utf8(r[0].clone()).unwrap();
    assert_eq!(
        text,
        "* 1 FETCH (BODY[HEADER.FIELDS (SUBJECT)] {30}\r\nSubject: Grüße aus Köln\r\n\r\n)"
    );
    // BINARY (RFC 3516, part of rev2): the decoded part, as literal8 when it has NUL.
    let r = c.cmd_bytes("FETCH 1 BINARY.PEEK[1]");
    assert_eq!(
        String::from_utf8_lossy(&r[0]),
        "* 1 FETCH (BINARY[1] {7}\r\nHallo\r\n)"
    );
    // The UTF8 form needs a literal8.
    let r = c.cmd("APPEND INBOX UTF8 ({1+}\r\nx)");
    assert_eq!(
        r,
        vec!["TAG BAD Message 1 of APPEND: UTF8 takes a literal8 (~{n})"]
    );
}

/// Python's imaplib after `enable('UTF8=ACCEPT')` sends and reads mailbox names in UTF-8.
#[test]
fn python_imaplib_utf8_accept() {
    let dir = TempDir::new("rev2-python");
    let srv = TestServer::start(&dir);
    let script = r#"
import imaplib, sys
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
m.login("alice", "wonderland")
# imaplib keeps the greeting's capabilities; ENABLE is offered after login.
m.capabilities = tuple(m.capability()[1][0].decode().upper().split())
print("enable", m.enable("UTF8=ACCEPT")[0])
print("create", m.create('"Größe/日本語"')[0])
typ, data = m.list('""', '"Gr*"')
print("list", typ, [d.decode("utf-8") for d in data])
typ, data = m.select('"Größe/日本語"')
print("select", typ, data)
m.logout()
m = imaplib.IMAP4("127.0.0.1", int(sys.argv[1]))
m.login("alice", "wonderland")
typ, data = m.list('""', '"Gr*"')
print("rev1 list", typ, [d.decode("ascii") for d in data])
m.logout()
"#;
    let out = python(script, &[&srv.port.to_string()]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        vec![
            "enable OK",
            "create OK",
            r#"list OK ['(\\HasChildren) "/" "Größe"', '(\\HasNoChildren) "/" "Größe/日本語"']"#,
            "select OK [b'0']",
            r#"rev1 list OK ['(\\HasChildren) "/" Gr&APYA3w-e', '(\\HasNoChildren) "/" Gr&APYA3w-e/&ZeVnLIqe-']"#,
        ]
    );
}
