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
        "* OK [CAPABILITY IMAP4REV1 SASL-IR AUTH=PLAIN AUTH=LOGIN LITERAL- ID IMAP4rev2] liteimap ready"
    );
    assert_eq!(
        c.cmd("SELECT INBOX"),
        vec!["TAG BAD SELECT needs a login first"]
    );
    let r = c.cmd("LOGIN alice wonderland");
    assert_eq!(
        r,
        vec![concat!(
            "TAG OK [CAPABILITY ",
            common::caps!(),
            "] Logged in"
        )]
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
            format!("* OK [MAILBOXID ({})] Ok", mailbox_id(&r)),
            common::URLMECH.into(),
            "* OK [HIGHESTMODSEQ 6] Highest".into(),
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

const CAPS_AUTH: &str = concat!("TAG OK [CAPABILITY ", common::caps!(), "] Logged in");

/// Select INBOX and return the tagged line (the untagged lines are checked elsewhere).
fn tagged(lines: &[String]) -> &str {
    lines.last().unwrap()
}

#[test]
fn capability_and_noop_in_every_state() {
    let dir = TempDir::new("caps");
    let srv = TestServer::start(&dir);
    let mut c = srv.connect();
    assert_eq!(
        c.cmd("CAPABILITY"),
        vec![
            "* CAPABILITY IMAP4REV1 SASL-IR AUTH=PLAIN AUTH=LOGIN LITERAL- ID IMAP4rev2",
            "TAG OK CAPABILITY completed"
        ]
    );
    assert_eq!(c.cmd("NOOP"), vec!["TAG OK NOOP completed"]);
    assert_eq!(c.cmd("LOGIN alice wonderland"), vec![CAPS_AUTH]);
    assert_eq!(
        c.cmd("CAPABILITY"),
        vec![
            concat!("* CAPABILITY ", common::caps!()),
            "TAG OK CAPABILITY completed"
        ]
    );
    assert_eq!(c.cmd("NOOP"), vec!["TAG OK NOOP completed"]);
    assert_eq!(
        tagged(&c.cmd("SELECT INBOX")),
        "TAG OK [READ-WRITE] SELECT completed"
    );
    assert_eq!(c.cmd("NOOP"), vec!["TAG OK NOOP completed"]);
    assert_eq!(
        c.cmd("CAPABILITY"),
        vec![
            concat!("* CAPABILITY ", common::caps!()),
            "TAG OK CAPABILITY completed"
        ]
    );
}

#[test]
fn wrong_state_commands_get_bad_and_the_session_goes_on() {
    let dir = TempDir::new("wrongstate");
    let srv = TestServer::start(&dir);
    let mut c = srv.connect();
    for (cmd, name) in [
        ("EXAMINE INBOX", "EXAMINE"),
        ("CREATE x", "CREATE"),
        ("DELETE x", "DELETE"),
        ("RENAME x y", "RENAME"),
        ("SUBSCRIBE x", "SUBSCRIBE"),
        ("UNSUBSCRIBE x", "UNSUBSCRIBE"),
        ("LIST \"\" *", "LIST"),
        ("LSUB \"\" *", "LSUB"),
        ("STATUS INBOX (MESSAGES)", "STATUS"),
        ("CHECK", "CHECK"),
        ("CLOSE", "CLOSE"),
        ("EXPUNGE", "EXPUNGE"),
        ("UNSELECT", "UNSELECT"),
    ] {
        assert_eq!(
            c.cmd(cmd),
            vec![format!("TAG BAD {name} needs a login first")],
            "{cmd}"
        );
    }
    // An APPEND before login: its literal is read, then refused.
    let r = c.cmd_literal("APPEND INBOX", &message("early", "x"), "");
    assert_eq!(r, vec!["TAG BAD APPEND needs a login first"]);
    assert_eq!(
        c.cmd("FETCH 1 FLAGS"),
        vec!["TAG BAD FETCH needs a login first"]
    );
    assert_eq!(c.cmd("LOGIN alice wonderland"), vec![CAPS_AUTH]);
    assert_eq!(
        c.cmd("STATUS INBOX (MESSAGES)"),
        vec!["* STATUS INBOX (MESSAGES 0)", "TAG OK STATUS completed"],
        "the APPEND before login stored nothing"
    );
    for (cmd, name) in [
        ("CHECK", "CHECK"),
        ("CLOSE", "CLOSE"),
        ("EXPUNGE", "EXPUNGE"),
        ("UNSELECT", "UNSELECT"),
        ("FETCH 1 FLAGS", "FETCH"),
        ("UID FETCH 1 FLAGS", "FETCH"),
        ("STORE 1 +FLAGS (\\Seen)", "STORE"),
        ("SEARCH ALL", "SEARCH"),
        ("COPY 1 INBOX", "COPY"),
    ] {
        assert_eq!(
            c.cmd(cmd),
            vec![format!(
                "TAG BAD {name} needs a selected mailbox (SELECT or EXAMINE first)"
            )],
            "{cmd}"
        );
    }
    assert_eq!(
        c.cmd("AUTHENTICATE PLAIN AGFsaWNlAHdvbmRlcmxhbmQ="),
        vec!["TAG BAD AUTHENTICATE: already logged in"]
    );
    assert_eq!(
        tagged(&c.cmd("SELECT INBOX")),
        "TAG OK [READ-WRITE] SELECT completed"
    );
    assert_eq!(
        c.cmd("LOGIN alice wonderland"),
        vec!["TAG BAD LOGIN: already logged in"]
    );
    // Still selected: CHECK works.
    assert_eq!(c.cmd("CHECK"), vec!["TAG OK CHECK completed"]);
}

#[test]
fn garbled_lines_get_bad_and_the_next_command_works() {
    let dir = TempDir::new("garbled");
    let srv = TestServer::start(&dir);
    let mut c = srv.connect();
    c.send(b"\r\n");
    let l = c.read_line();
    assert!(l.starts_with("* BAD "), "{l}");
    c.send(b"a1 FROBNICATE now\r\n");
    let l = c.read_line();
    assert!(l.starts_with("a1 BAD "), "{l}");
    c.send(b"a2 LOGIN alice\r\n");
    let l = c.read_line();
    assert!(l.starts_with("a2 BAD "), "{l}");
    c.send(b"a3 SELECT\r\n");
    let l = c.read_line();
    assert!(l.starts_with("a3 BAD "), "{l}");
    c.send(b"no-space-at-all\r\n");
    let l = c.read_line();
    assert!(l.contains(" BAD "), "{l}");
    assert_eq!(c.cmd("NOOP"), vec!["TAG OK NOOP completed"]);
    assert_eq!(c.cmd("LOGIN alice wonderland"), vec![CAPS_AUTH]);
    c.send(b"b1 LIST \"\r\n");
    let l = c.read_line();
    assert!(l.starts_with("b1 BAD ") || l.starts_with("* BAD "), "{l}");
    assert_eq!(c.cmd("NOOP"), vec!["TAG OK NOOP completed"]);
}

#[test]
fn login_failures_look_the_same() {
    let dir = TempDir::new("loginfail");
    let srv = TestServer::start(&dir);
    let mut c = srv.connect();
    let fail = vec!["TAG NO [AUTHENTICATIONFAILED] Authentication failed"];
    assert_eq!(c.cmd("LOGIN alice wrong"), fail);
    assert_eq!(c.cmd("LOGIN mallory wonderland"), fail);
    assert_eq!(c.cmd("LOGIN ALICE wonderland"), fail);
    assert_eq!(c.cmd("AUTHENTICATE PLAIN AGFsaWNlAHdyb25n"), fail);
    // Still not authenticated.
    assert_eq!(
        c.cmd("SELECT INBOX"),
        vec!["TAG BAD SELECT needs a login first"]
    );
    assert_eq!(c.cmd("LOGIN \"alice\" \"wonderland\""), vec![CAPS_AUTH]);
}

#[test]
fn authenticate_plain_with_initial_response() {
    let dir = TempDir::new("plainir");
    let srv = TestServer::start(&dir);
    let mut c = srv.connect();
    assert_eq!(
        c.cmd("AUTHENTICATE PLAIN AGFsaWNlAHdvbmRlcmxhbmQ="),
        vec![CAPS_AUTH]
    );
    assert_eq!(
        tagged(&c.cmd("SELECT INBOX")),
        "TAG OK [READ-WRITE] SELECT completed"
    );
}

#[test]
fn authenticate_plain_with_continuation() {
    let dir = TempDir::new("plaincont");
    let srv = TestServer::start(&dir);
    let mut c = srv.connect();
    c.send(b"a1 AUTHENTICATE PLAIN\r\n");
    assert_eq!(c.read_line(), "+ ");
    c.send(b"AGFsaWNlAHdvbmRlcmxhbmQ=\r\n");
    assert_eq!(c.until_tagged("a1"), vec![CAPS_AUTH]);
    assert_eq!(c.cmd("NOOP"), vec!["TAG OK NOOP completed"]);
}

#[test]
fn authenticate_cancelled_and_malformed() {
    let dir = TempDir::new("plaincancel");
    let srv = TestServer::start(&dir);
    let mut c = srv.connect();
    c.send(b"a1 AUTHENTICATE PLAIN\r\n");
    assert_eq!(c.read_line(), "+ ");
    c.send(b"*\r\n");
    assert_eq!(c.until_tagged("a1"), vec!["TAG BAD AUTHENTICATE cancelled"]);
    c.send(b"a2 AUTHENTICATE PLAIN\r\n");
    assert_eq!(c.read_line(), "+ ");
    c.send(b"!!!not-base64\r\n");
    let r = c.until_tagged("a2");
    assert_eq!(r, vec!["TAG BAD Invalid base64 in AUTHENTICATE response"]);
    // "alice\0wonderland" without the authzid separator: malformed.
    assert_eq!(
        c.cmd("AUTHENTICATE PLAIN YWxpY2UAd29uZGVybGFuZA=="),
        vec!["TAG BAD Malformed PLAIN response (authzid NUL authcid NUL password)"]
    );
    assert_eq!(
        c.cmd("AUTHENTICATE CRAM-MD5"),
        vec!["TAG NO Unsupported authentication mechanism CRAM-MD5"]
    );
    // Not logged in after all of that; the session goes on.
    assert_eq!(
        c.cmd("CREATE x"),
        vec!["TAG BAD CREATE needs a login first"]
    );
    assert_eq!(
        c.cmd("AUTHENTICATE PLAIN AGFsaWNlAHdvbmRlcmxhbmQ="),
        vec![CAPS_AUTH]
    );
}

#[test]
fn authenticate_plain_with_foreign_authorization_identity() {
    let dir = TempDir::new("plainauthz");
    let srv = TestServer::start(&dir);
    let mut c = srv.connect();
    // authzid "bob", authcid "alice": alice may not act as bob.
    assert_eq!(
        c.cmd("AUTHENTICATE PLAIN Ym9iAGFsaWNlAHdvbmRlcmxhbmQ="),
        vec![
            "TAG NO [AUTHENTICATIONFAILED] Authorization identity must be empty or equal the user"
        ]
    );
    // authzid equal to the user is fine.
    let same = "YWxpY2UAYWxpY2UAd29uZGVybGFuZA=="; // alice\0alice\0wonderland
    assert_eq!(
        c.cmd(&format!("AUTHENTICATE PLAIN {same}")),
        vec![CAPS_AUTH]
    );
}

#[test]
fn authenticate_login() {
    let dir = TempDir::new("authlogin");
    let srv = TestServer::start(&dir);
    let mut c = srv.connect();
    c.send(b"a1 AUTHENTICATE LOGIN\r\n");
    assert_eq!(c.read_line(), "+ VXNlcm5hbWU6"); // "Username:"
    c.send(b"YWxpY2U=\r\n");
    assert_eq!(c.read_line(), "+ UGFzc3dvcmQ6"); // "Password:"
    c.send(b"d29uZGVybGFuZA==\r\n");
    assert_eq!(c.until_tagged("a1"), vec![CAPS_AUTH]);

    // Wrong password through AUTHENTICATE LOGIN: the same NO as LOGIN.
    let mut c = srv.connect();
    c.send(b"a1 AUTHENTICATE LOGIN YWxpY2U=\r\n");
    assert_eq!(c.read_line(), "+ UGFzc3dvcmQ6");
    c.send(b"eHh4\r\n");
    assert_eq!(
        c.until_tagged("a1"),
        vec!["TAG NO [AUTHENTICATIONFAILED] Authentication failed"]
    );
}

#[test]
fn select_close_unselect_and_failed_select_transitions() {
    let dir = TempDir::new("transitions");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    let not_selected = "TAG BAD CHECK needs a selected mailbox (SELECT or EXAMINE first)";
    // authenticated → selected → (CLOSE) authenticated
    assert_eq!(
        tagged(&c.cmd("SELECT INBOX")),
        "TAG OK [READ-WRITE] SELECT completed"
    );
    assert_eq!(c.cmd("CHECK"), vec!["TAG OK CHECK completed"]);
    assert_eq!(c.cmd("CLOSE"), vec!["TAG OK CLOSE completed"]);
    assert_eq!(c.cmd("CHECK"), vec![not_selected]);
    // → (EXAMINE) selected → (UNSELECT) authenticated
    assert_eq!(
        tagged(&c.cmd("EXAMINE INBOX")),
        "TAG OK [READ-ONLY] EXAMINE completed"
    );
    assert_eq!(c.cmd("CHECK"), vec!["TAG OK CHECK completed"]);
    assert_eq!(c.cmd("UNSELECT"), vec!["TAG OK UNSELECT completed"]);
    assert_eq!(c.cmd("CHECK"), vec![not_selected]);
    // selected → failed SELECT → authenticated
    assert_eq!(
        tagged(&c.cmd("SELECT INBOX")),
        "TAG OK [READ-WRITE] SELECT completed"
    );
    // The failed command still closed the selected mailbox: `[CLOSED]` says so (RFC 7162
    // §3.2.11).
    assert_eq!(
        c.cmd("SELECT nosuch"),
        vec![
            "* OK [CLOSED] Previous mailbox closed",
            "TAG NO [NONEXISTENT] No such mailbox: nosuch"
        ]
    );
    assert_eq!(c.cmd("CHECK"), vec![not_selected]);
    // selected → failed EXAMINE → authenticated
    assert_eq!(
        tagged(&c.cmd("EXAMINE INBOX")),
        "TAG OK [READ-ONLY] EXAMINE completed"
    );
    // The failed command still closed the selected mailbox: `[CLOSED]` says so (RFC 7162
    // §3.2.11).
    assert_eq!(
        c.cmd("EXAMINE nosuch"),
        vec![
            "* OK [CLOSED] Previous mailbox closed",
            "TAG NO [NONEXISTENT] No such mailbox: nosuch"
        ]
    );
    assert_eq!(c.cmd("CHECK"), vec![not_selected]);
    // selected → SELECT of another folder → selected there
    assert_eq!(ids_masked(&c.cmd("CREATE other")), vec![CREATED]);
    assert_eq!(
        tagged(&c.cmd("SELECT INBOX")),
        "TAG OK [READ-WRITE] SELECT completed"
    );
    assert_eq!(
        tagged(&c.cmd("EXAMINE other")),
        "TAG OK [READ-ONLY] EXAMINE completed"
    );
    assert_eq!(
        c.cmd("EXPUNGE"),
        vec!["TAG NO [CANNOT] Mailbox is read-only (EXAMINE): nothing can be expunged"]
    );
}

#[test]
fn logout_from_every_state() {
    let dir = TempDir::new("logout");
    let srv = TestServer::start(&dir);
    let bye = vec!["* BYE liteimap logging out", "TAG OK LOGOUT completed"];
    // not authenticated
    let mut c = srv.connect();
    assert_eq!(c.cmd("LOGOUT"), bye);
    assert!(c.is_closed());
    // authenticated
    let mut c = srv.login(ALICE);
    assert_eq!(c.cmd("LOGOUT"), bye);
    assert!(c.is_closed());
    // selected
    let mut c = srv.login(ALICE);
    assert_eq!(
        tagged(&c.cmd("SELECT INBOX")),
        "TAG OK [READ-WRITE] SELECT completed"
    );
    assert_eq!(c.cmd("LOGOUT"), bye);
    assert!(c.is_closed());
    // selected read-only
    let mut c = srv.login(ALICE);
    assert_eq!(
        tagged(&c.cmd("EXAMINE INBOX")),
        "TAG OK [READ-ONLY] EXAMINE completed"
    );
    assert_eq!(c.cmd("LOGOUT"), bye);
    assert!(c.is_closed());
}

#[test]
fn examine_is_read_only() {
    let dir = TempDir::new("examine");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    c.append("INBOX", "\\Seen", &message("a", "b"));
    c.append("INBOX", "", &message("b", "b"));
    let r = c.cmd("EXAMINE INBOX");
    let v = r
        .iter()
        .find_map(|l| l.strip_prefix("* OK [UIDVALIDITY "))
        .and_then(|l| l.split(']').next())
        .unwrap()
        .to_string();
    assert_eq!(
        r,
        vec![
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)".to_string(),
            "* OK [PERMANENTFLAGS ()] No permanent flags permitted".into(),
            "* 2 EXISTS".into(),
            "* 2 RECENT".into(),
            "* OK [UNSEEN 2] Message 2 is first unseen".into(),
            format!("* OK [UIDVALIDITY {v}] UIDs valid"),
            "* OK [UIDNEXT 3] Predicted next UID".into(),
            format!("* OK [MAILBOXID ({})] Ok", mailbox_id(&r)),
            common::URLMECH.into(),
            "* OK [HIGHESTMODSEQ 3] Highest".into(),
            "TAG OK [READ-ONLY] EXAMINE completed".into(),
        ]
    );
    // EXAMINE shows \Recent without claiming it: the next SELECT still sees both as recent.
    c.cmd("CLOSE");
    let r = c.cmd("SELECT INBOX");
    assert!(r.contains(&"* 2 RECENT".to_string()), "{r:?}");
}

/// Python's imaplib, a real client with its own parser, against the server.
const IMAPLIB_SCRIPT: &str = r#"
import imaplib, sys
port = int(sys.argv[1])
m = imaplib.IMAP4("127.0.0.1", port)
print("caps", " ".join(sorted(m.capabilities)))
print("login", m.login("alice", "wonderland")[0])
print("create", m.create("Work/Projects")[0], m.create("Stash")[0])
typ, data = m.list()
print("list", typ, [d.decode() for d in data])
msg = b"From: a@example.org\r\nSubject: %d\r\n\r\nbody %d\r\n"
for i in range(3):
    typ, data = m.append("Work/Projects", "(\\Seen)" if i == 0 else None, None, msg % (i, i))
    print("append", typ, data[0].decode().split(" ", 2)[2])
typ, data = m.append("Work/Projects", "(\\Deleted)", imaplib.Time2Internaldate(1594719865), msg % (3, 3))
print("append", typ, data[0].decode().split(" ", 2)[2])
typ, data = m.select("Work/Projects")
print("select", typ, data, m.untagged_responses.get("RECENT"), m.untagged_responses.get("UIDNEXT"))
typ, data = m.status("Work/Projects", "(MESSAGES RECENT UIDNEXT UNSEEN)")
print("status", typ, data[0].decode())
typ, data = m.expunge()
print("expunge", typ, data)
print("close", m.close()[0])
typ, data = m.status("Work/Projects", "(MESSAGES UIDNEXT)")
print("status", typ, data[0].decode())
print("rename", m.rename("Stash", "Work/Stash")[0])
print("delete", m.delete("Work")[0])
typ, data = m.list("\"\"", "*")
print("list", typ, [d.decode() for d in data])
typ, data = m.select("Nope")
print("select", typ, data)
print("logout", m.logout()[0])
"#;

#[test]
fn python_imaplib_session() {
    let dir = TempDir::new("imaplib");
    let srv = TestServer::start(&dir);
    let out = match std::process::Command::new("python3")
        .args(["-c", IMAPLIB_SCRIPT, &srv.port.to_string()])
        .output()
    {
        Ok(o) => o,
        Err(e) => panic!("python3 could not run ({e}); .ci/run installs it"),
    };
    assert!(
        out.status.success(),
        "imaplib failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    let lines: Vec<&str> = stdout.lines().collect();
    let expected = vec![
        "caps AUTH=LOGIN AUTH=PLAIN ID IMAP4REV1 IMAP4REV2 LITERAL- SASL-IR",
        "login OK",
        "create OK OK",
        r#"list OK ['(\\HasNoChildren \\Archive) "/" Archive', '(\\HasNoChildren \\Drafts) "/" Drafts', '(\\HasNoChildren) "/" INBOX', '(\\HasNoChildren \\Junk) "/" Junk', '(\\HasNoChildren \\Sent) "/" Sent', '(\\HasNoChildren) "/" Stash', '(\\HasNoChildren \\Trash) "/" Trash', '(\\HasChildren) "/" Work', '(\\HasNoChildren) "/" Work/Projects']"#,
        "append OK 1] APPEND completed",
        "append OK 2] APPEND completed",
        "append OK 3] APPEND completed",
        "append OK 4] APPEND completed",
        "select OK [b'4'] [b'4'] [b'5']",
        // The SELECT claimed \Recent, so STATUS says 0.
        "status OK Work/Projects (MESSAGES 4 RECENT 0 UIDNEXT 5 UNSEEN 3)",
        "expunge OK [b'4']",
        "close OK",
        "status OK Work/Projects (MESSAGES 3 UIDNEXT 5)",
        "rename OK",
        "delete OK",
        r#"list OK ['(\\HasNoChildren \\Archive) "/" Archive', '(\\HasNoChildren \\Drafts) "/" Drafts', '(\\HasNoChildren) "/" INBOX', '(\\HasNoChildren \\Junk) "/" Junk', '(\\HasNoChildren \\Sent) "/" Sent', '(\\HasNoChildren \\Trash) "/" Trash', '(\\Noselect \\HasChildren) "/" Work', '(\\HasNoChildren) "/" Work/Projects', '(\\HasNoChildren) "/" Work/Stash']"#,
        "select NO [b'[NONEXISTENT] No such mailbox: Nope']",
        "logout BYE",
    ];
    assert_eq!(
        lines,
        expected,
        "stderr: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn login_with_literals_and_pipelined_commands() {
    let dir = TempDir::new("literal-login");
    let srv = TestServer::start(&dir);
    let mut c = srv.connect();
    c.send(b"a1 LOGIN {5}\r\n");
    assert_eq!(c.read_line(), "+ Ready for literal data");
    c.send(b"alice {10}\r\n");
    assert_eq!(c.read_line(), "+ Ready for literal data");
    c.send(b"wonderland\r\n");
    assert_eq!(c.until_tagged("a1"), vec![CAPS_AUTH]);
    // Three commands in one write are answered in order.
    c.send(b"p1 NOOP\r\np2 CREATE pipe\r\np3 STATUS pipe (MESSAGES)\r\n");
    assert_eq!(c.until_tagged("p1"), vec!["TAG OK NOOP completed"]);
    assert_eq!(ids_masked(&c.until_tagged("p2")), vec![CREATED]);
    assert_eq!(
        c.until_tagged("p3"),
        vec!["* STATUS pipe (MESSAGES 0)", "TAG OK STATUS completed"]
    );
}

#[test]
fn limits_connections_literals_lines_and_bad_commands() {
    use liteimap::server::Config;
    let dir = TempDir::new("limits");
    let mut config = Config {
        max_connections: 2,
        ..Config::default()
    };
    config.limits.max_literal = 1000;
    config.limits.max_line = 2048;
    let srv = TestServer::start_with(&dir, config);
    let mut a = srv.login(ALICE);
    let mut b = srv.connect();
    // Over the limit, a connection that has not logged in makes room (see tests/security.rs)...
    let mut c = srv.login(BOB);
    assert_eq!(
        b.read_line(),
        "* BYE Too many connections waiting to log in; closing the oldest"
    );
    assert!(b.is_closed());
    // ... and when all are logged in: a BYE greeting, then the connection closes.
    let mut d = Client::connect(srv.port);
    assert_eq!(
        d.read_line(),
        "* BYE Too many connections (limit 2); try again later"
    );
    assert!(d.is_closed());
    assert_eq!(c.cmd("NOOP"), vec!["TAG OK NOOP completed"]);
    c.cmd("LOGOUT");
    // (The slot of a closed session is freed just after its socket closes: retry the
    // greeting briefly.)
    let connect = || {
        for _ in 0..100 {
            let c = srv.connect();
            if c.greeting.starts_with("* OK ") {
                return c;
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        panic!("no free connection slot");
    };
    let mut b = connect();
    // A literal over the limit is refused before the client sends it; the session goes on.
    let r = a.cmd_literal("APPEND INBOX", &vec![b'x'; 1001], "");
    assert_eq!(
        r,
        vec!["TAG NO [TOOBIG] Literal of 1001 bytes exceeds the limit of 1000 bytes"]
    );
    assert_eq!(a.cmd("NOOP"), vec!["TAG OK NOOP completed"]);
    // (A non-synchronising literal over the limit closes the connection: see
    // tests/extensions_mailbox.rs, literal_plus_*.)
    assert!(a
        .append("INBOX", "", &message("fits", "x"))
        .starts_with("TAG OK [APPENDUID "));
    // Too many garbled lines in a row end the connection.
    for i in 0..20 {
        b.send(format!("x{i} GARBAGE\r\n").as_bytes());
        assert_eq!(b.read_line(), format!("x{i} BAD Could not parse command"));
    }
    b.send(b"x20 GARBAGE\r\n");
    assert_eq!(b.read_line(), "* BYE Too many invalid commands");
    assert!(b.is_closed());
    // A command line over the limit: BYE and close.
    let mut d = connect();
    d.send(format!("t1 LOGIN {} x\r\n", "a".repeat(3000)).as_bytes());
    assert_eq!(d.read_line(), "* BYE Command line longer than 2048 bytes");
    assert!(d.is_closed());
    // The slots are free again.
    let mut e = connect();
    assert_eq!(e.cmd("NOOP"), vec!["TAG OK NOOP completed"]);
}

#[test]
fn login_timeout_says_bye() {
    use liteimap::server::Config;
    let dir = TempDir::new("timeout");
    let config = Config {
        login_timeout: std::time::Duration::from_millis(300),
        ..Config::default()
    };
    let srv = TestServer::start_with(&dir, config);
    let mut c = srv.connect();
    assert_eq!(c.read_line(), "* BYE Autologout: idle for too long");
    assert!(c.is_closed());
}

#[test]
fn shutdown_says_bye_to_every_session() {
    let dir = TempDir::new("shutdown");
    let srv = TestServer::start(&dir);
    let mut a = srv.connect();
    let mut b = srv.login(ALICE);
    b.cmd("SELECT INBOX");
    srv.stop();
    assert_eq!(a.read_line(), "* BYE Server shutting down");
    assert!(a.is_closed());
    assert_eq!(b.read_line(), "* BYE Server shutting down");
    assert!(b.is_closed());
}

#[test]
fn idle_timeout_after_login_says_bye() {
    use liteimap::server::Config;
    let dir = TempDir::new("idle");
    let config = Config {
        idle_timeout: std::time::Duration::from_millis(400),
        ..Config::default()
    };
    let srv = TestServer::start_with(&dir, config);
    let mut c = srv.login(ALICE);
    c.cmd("SELECT INBOX");
    assert_eq!(c.read_line(), "* BYE Autologout: idle for too long");
    assert!(c.is_closed());
}
