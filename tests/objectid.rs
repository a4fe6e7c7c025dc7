//! Issue 19, second part: OBJECTID (RFC 8474), SAVEDATE (RFC 8514), PREVIEW (RFC 8970) and
//! UNAUTHENTICATE (RFC 8437), scripted end to end with exact responses. Ids are random per
//! database, so a test reads an id from one response and expects exactly it in the others.

mod common;
use common::*;

/// The id inside `NAME (id)` in `line`, checked to be an RFC 8474 objectid with our prefix.
fn id_after(line: &str, name: &str, prefix: char) -> String {
    let at = line
        .find(&format!("{name} ("))
        .unwrap_or_else(|| panic!("no {name} in {line}"));
    let rest = &line[at + name.len() + 2..];
    let id = &rest[..rest.find(')').unwrap()];
    assert_eq!(id.len(), 25, "{line}");
    assert!(id.starts_with(prefix), "{line}");
    assert!(id[1..].bytes().all(|b| b.is_ascii_hexdigit()), "{line}");
    id.to_string()
}

fn select_id(c: &mut Client, mailbox: &str) -> String {
    let r = c.cmd(&format!("SELECT {mailbox}"));
    let line = r
        .iter()
        .find(|l| l.starts_with("* OK [MAILBOXID"))
        .unwrap_or_else(|| panic!("{r:?}"));
    let id = id_after(line, "MAILBOXID", 'F');
    assert_eq!(line, &format!("* OK [MAILBOXID ({id})] Ok"));
    id
}

#[test]
fn mailbox_ids_in_select_status_and_list_survive_rename_and_restart() {
    let dir = TempDir::new("objid-mailbox");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    // CREATE answers the new folder's MAILBOXID (RFC 8474 §4.1).
    let created = c.cmd("CREATE Work");
    assert_eq!(ids_masked(&created), vec![CREATED]);
    let work = select_id(&mut c, "Work");
    assert_eq!(
        created,
        vec![format!("TAG OK [MAILBOXID ({work})] CREATE completed")]
    );
    let inbox = select_id(&mut c, "INBOX");
    assert_ne!(work, inbox);
    // EXAMINE answers the same.
    let r = c.cmd("EXAMINE Work");
    assert!(
        r.contains(&format!("* OK [MAILBOXID ({work})] Ok")),
        "{r:?}"
    );
    assert_eq!(
        c.cmd("STATUS Work (MESSAGES MAILBOXID)"),
        vec![
            format!("* STATUS Work (MESSAGES 0 MAILBOXID ({work}))"),
            "TAG OK STATUS completed".into()
        ]
    );
    assert_eq!(
        c.cmd("STATUS work (MAILBOXID)"),
        vec!["TAG NO [NONEXISTENT] No such mailbox: work".to_string()]
    );
    assert_eq!(
        c.cmd("STATUS inbox (MAILBOXID UIDNEXT)"),
        vec![
            format!("* STATUS INBOX (UIDNEXT 1 MAILBOXID ({inbox}))"),
            "TAG OK STATUS completed".into()
        ]
    );
    // RENAME keeps it.
    c.cmd("UNSELECT");
    assert_eq!(
        c.cmd("RENAME Work Play").last().unwrap(),
        "TAG OK RENAME completed"
    );
    assert_eq!(
        c.cmd("STATUS Play (MAILBOXID)"),
        vec![
            format!("* STATUS Play (MAILBOXID ({work}))"),
            "TAG OK STATUS completed".into()
        ]
    );
    // LIST-STATUS.
    let r = c.cmd("LIST \"\" Play RETURN (STATUS (MESSAGES MAILBOXID))");
    assert_eq!(
        r,
        vec![
            "* LIST (\\HasNoChildren) \"/\" Play".to_string(),
            format!("* STATUS Play (MESSAGES 0 MAILBOXID ({work}))"),
            "TAG OK LIST completed".into()
        ]
    );
    // Another user's INBOX has another id.
    let mut b = srv.login(BOB);
    assert_ne!(select_id(&mut b, "INBOX"), inbox);
    drop(b);
    drop(c);
    srv.stop();
    // A restart keeps it; a folder deleted and made again has a new one.
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    assert_eq!(select_id(&mut c, "Play"), work);
    assert_eq!(select_id(&mut c, "INBOX"), inbox);
    c.cmd("UNSELECT");
    c.cmd("DELETE Play");
    c.cmd("CREATE Play");
    assert_ne!(select_id(&mut c, "Play"), work);
}

fn mail(id: &str, extra: &str, body: &str) -> Vec<u8> {
    format!(
        "From: a@example.org\r\nSubject: {id}\r\nMessage-ID: <{id}@example.org>\r\n{extra}\r\n{body}\r\n"
    )
    .into_bytes()
}

#[test]
fn email_and_thread_ids_in_fetch_and_search() {
    let dir = TempDir::new("objid-email");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    c.cmd("CREATE Other");
    let msgs = [
        mail("root", "", "first"),
        mail("reply", "In-Reply-To: <root@example.org>\r\n", "second"),
        mail("alone", "", "third"),
        mail(
            "deep",
            "References: <nowhere@example.org> <reply@example.org>\r\n",
            "fourth",
        ),
    ];
    for m in &msgs {
        assert!(c.append("INBOX", "", m).starts_with("TAG OK"));
    }
    c.cmd("SELECT INBOX");
    let r = c.cmd("FETCH 1:4 (EMAILID THREADID)");
    assert_eq!(r.len(), 5, "{r:?}");
    let email: Vec<String> = r[..4].iter().map(|l| id_after(l, "EMAILID", 'M')).collect();
    let thread: Vec<String> = r[..4]
        .iter()
        .map(|l| id_after(l, "THREADID", 'T'))
        .collect();
    for i in 0..4 {
        assert_eq!(
            r[i],
            format!(
                "* {} FETCH (EMAILID ({}) THREADID ({}))",
                i + 1,
                email[i],
                thread[i]
            )
        );
    }
    assert_eq!(r[4], "TAG OK FETCH completed");
    // The reply joins the root's thread, and so does a message whose References name it.
    assert_eq!(thread[1], thread[0]);
    assert_eq!(thread[3], thread[0]);
    assert_ne!(thread[2], thread[0]);
    assert_ne!(email[0], email[1]);
    // UID FETCH, mixed with standard items (the extension items come last).
    assert_eq!(
        c.cmd("UID FETCH 3 (FLAGS EMAILID)"),
        vec![
            format!("* 3 FETCH (UID 3 FLAGS (\\Recent) EMAILID ({}))", email[2]),
            "TAG OK UID FETCH completed".into()
        ]
    );
    // SEARCH keys, alone, combined, under a text key, and with ESEARCH.
    let search = |c: &mut Client, q: &str| c.cmd(&format!("SEARCH {q}"))[0].clone();
    assert_eq!(
        search(&mut c, &format!("EMAILID {}", email[1])),
        "* SEARCH 2"
    );
    assert_eq!(
        search(&mut c, &format!("THREADID {}", thread[0])),
        "* SEARCH 1 2 4"
    );
    assert_eq!(
        search(&mut c, &format!("NOT THREADID {}", thread[0])),
        "* SEARCH 3"
    );
    assert_eq!(
        search(&mut c, &format!("OR SUBJECT alone EMAILID {}", email[0])),
        "* SEARCH 1 3"
    );
    assert_eq!(search(&mut c, "EMAILID Mnothing"), "* SEARCH");
    // A key's argument that reads like an extension key is only an argument.
    assert_eq!(search(&mut c, "SUBJECT EMAILID"), "* SEARCH");
    assert_eq!(
        c.cmd(&format!("UID SEARCH RETURN (COUNT) THREADID {}", thread[0]))[0],
        "* ESEARCH (TAG \"t16\") UID COUNT 3"
    );
    // SORT and THREAD take the keys too.
    assert_eq!(
        c.cmd(&format!("SORT (SUBJECT) UTF-8 THREADID {}", thread[0]))[0],
        "* SORT 4 2 1"
    );
    assert_eq!(
        c.cmd(&format!("THREAD REFERENCES UTF-8 THREADID {}", thread[0]))[0],
        "* THREAD (1 2 4)"
    );
    // COPY and MOVE keep the EMAILID (the body is shared) and the THREADID.
    c.cmd("COPY 1 Other");
    c.cmd("UID MOVE 2 Other");
    c.cmd("SELECT Other");
    assert_eq!(
        c.cmd("FETCH 1:2 (EMAILID THREADID)")[..2],
        [
            format!(
                "* 1 FETCH (EMAILID ({}) THREADID ({}))",
                email[0], thread[0]
            ),
            format!(
                "* 2 FETCH (EMAILID ({}) THREADID ({}))",
                email[1], thread[0]
            ),
        ]
    );
    // The same message stored by another user has other ids: nothing to compare across users.
    let mut b = srv.login(BOB);
    assert!(b.append("INBOX", "", &msgs[0]).starts_with("TAG OK"));
    b.cmd("SELECT INBOX");
    let r = b.cmd("FETCH 1 (EMAILID THREADID)");
    assert_ne!(id_after(&r[0], "EMAILID", 'M'), email[0]);
    assert_ne!(id_after(&r[0], "THREADID", 'T'), thread[0]);
    assert_eq!(
        b.cmd(&format!("SEARCH EMAILID {}", email[0]))[0],
        "* SEARCH"
    );
    drop(b);
    drop(c);
    srv.stop();
    // Stable across a restart.
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    c.cmd("SELECT INBOX");
    assert_eq!(
        // UID 2 moved out: UID 3 is message 2 now.
        c.cmd("UID FETCH 3 (EMAILID THREADID)")[0],
        format!(
            "* 2 FETCH (UID 3 EMAILID ({}) THREADID ({}))",
            email[2], thread[2]
        )
    );
}

#[test]
fn save_dates_in_fetch_and_search() {
    let dir = TempDir::new("objid-savedate");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    let r = c.append_dated(
        "INBOX",
        "",
        "01-Jan-2001 00:00:00 +0000",
        &message("old", "x"),
    );
    assert!(r.starts_with("TAG OK"), "{r}");
    c.cmd("SELECT INBOX");
    let r = c.cmd("FETCH 1 (INTERNALDATE SAVEDATE)");
    // Saved now, whatever the internal date says.
    let today = chrono::Local::now();
    let line = &r[0];
    assert!(
        line.starts_with("* 1 FETCH (INTERNALDATE \"01-Jan-2001 00:00:00 +0000\" SAVEDATE \""),
        "{line}"
    );
    let saved = &line[line.find("SAVEDATE \"").unwrap() + 10..line.len() - 2];
    let parsed = chrono::DateTime::parse_from_str(saved.trim_start(), "%d-%b-%Y %H:%M:%S %z")
        .unwrap_or_else(|e| panic!("{saved}: {e}"));
    assert!(
        (today.timestamp() - parsed.timestamp()).abs() < 3600,
        "{saved}"
    );
    let day = today.format("%d-%b-%Y").to_string();
    for (q, want) in [
        (format!("SAVEDON {day}"), "* SEARCH 1"),
        (format!("SAVEDSINCE {day}"), "* SEARCH 1"),
        (format!("SAVEDBEFORE {day}"), "* SEARCH"),
        ("SAVEDBEFORE 1-Jan-2000".to_string(), "* SEARCH"),
        ("SAVEDSINCE \"1-Jan-2000\"".to_string(), "* SEARCH 1"),
        ("SAVEDATESUPPORTED".to_string(), "* SEARCH 1"),
        ("SAVEDON 1-Jan-2001".to_string(), "* SEARCH"),
        ("ON 1-Jan-2001".to_string(), "* SEARCH 1"),
    ] {
        assert_eq!(c.cmd(&format!("SEARCH {q}"))[0], want, "{q}");
    }
    assert_eq!(
        c.cmd("SEARCH SAVEDON 31-Foo-2024"),
        vec!["TAG BAD SAVEDON needs a date like 1-Feb-2024, not 31-Foo-2024".to_string()]
    );
}

#[test]
fn previews_of_plain_html_and_non_text_messages() {
    let dir = TempDir::new("objid-preview");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    let long = "word ".repeat(100);
    let msgs: Vec<Vec<u8>> = vec![
        b"Subject: a\r\n\r\n  Hello,\r\n\r\n\tworld \"quoted\"\r\n".to_vec(),
        b"Subject: b\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<html><head><style>p{}</style></head><body><p>Caf\xc3\xa9 &amp; <b>cr\xc3\xa8me</b></p></body></html>\r\n".to_vec(),
        b"Subject: c\r\nContent-Type: application/pdf\r\n\r\n%PDF\r\n".to_vec(),
        format!("Subject: d\r\n\r\n{long}\r\n").into_bytes(),
    ];
    for m in &msgs {
        assert!(c.append("INBOX", "", m).starts_with("TAG OK"));
    }
    c.cmd("SELECT INBOX");
    let r = c.cmd_bytes("FETCH 1:3 (PREVIEW)");
    assert_eq!(r[0], b"* 1 FETCH (PREVIEW \"Hello, world \\\"quoted\\\"\")");
    // Not ASCII: a literal.
    assert_eq!(r[1], "* 2 FETCH (PREVIEW {14}\r\nCafé & crème)".as_bytes());
    assert_eq!(r[2], b"* 3 FETCH (PREVIEW \"\")");
    // At most 256 characters; LAZY is accepted and answered the same.
    let want = format!("* 4 FETCH (UID 4 PREVIEW \"{}\")", &long.trim_end()[..256]);
    assert_eq!(
        c.cmd("UID FETCH 4 (PREVIEW (LAZY))"),
        vec![want, "TAG OK UID FETCH completed".to_string()]
    );
    // With a streamed body item, and without \Seen.
    let r = c.cmd_bytes("FETCH 1 (BODY.PEEK[TEXT] PREVIEW)");
    assert_eq!(
        r[0],
        b"* 1 FETCH (BODY[TEXT] {29}\r\n  Hello,\r\n\r\n\tworld \"quoted\"\r\n PREVIEW \"Hello, world \\\"quoted\\\"\")"
    );
    assert_eq!(c.cmd("FETCH 1 (FLAGS)")[0], "* 1 FETCH (FLAGS (\\Recent))");
}

#[test]
fn unauthenticate_returns_to_the_not_authenticated_state() {
    let dir = TempDir::new("objid-unauth");
    let srv = TestServer::start(&dir);
    let mut c = srv.connect();
    let before = c.cmd("CAPABILITY");
    assert!(!before[0].contains("UNAUTHENTICATE"), "{before:?}");
    assert_eq!(
        c.cmd("UNAUTHENTICATE"),
        vec!["TAG BAD UNAUTHENTICATE needs a login first".to_string()]
    );
    c.cmd("LOGIN alice wonderland");
    assert_eq!(
        c.cmd("CAPABILITY"),
        vec![
            format!("* CAPABILITY {}", caps!()),
            "TAG OK CAPABILITY completed".into()
        ]
    );
    c.cmd("SELECT INBOX");
    assert_eq!(
        c.cmd("UNAUTHENTICATE"),
        vec!["TAG OK UNAUTHENTICATE completed".to_string()]
    );
    assert_eq!(
        c.cmd("SELECT INBOX"),
        vec!["TAG BAD SELECT needs a login first".to_string()]
    );
    assert_eq!(c.cmd("CAPABILITY")[0], before[0]);
    let r = c.cmd("LOGIN bob builder");
    assert!(
        r.last().unwrap().starts_with("TAG OK [CAPABILITY "),
        "{r:?}"
    );
    assert_eq!(
        c.cmd("SELECT INBOX").last().unwrap(),
        "TAG OK [READ-WRITE] SELECT completed"
    );
}
