//! UIDONLY (RFC 9586): after `ENABLE UIDONLY` FETCH responses are UIDFETCH, expunges are
//! VANISHED, SELECT names no sequence number, and every command that takes message sequence
//! numbers is refused with `BAD [UIDREQUIRED]`; a rev1 session on the same mailbox goes on as
//! before; `liteimap user set NAME --no-uidonly` withholds the extension from a user.

mod common;
use common::*;

const BIN: &str = env!("CARGO_BIN_EXE_liteimap");

/// `liteimap --db DB ARGS…`.
fn run_cli(db: &std::path::Path, args: &[&str]) -> std::process::Output {
    std::process::Command::new(BIN)
        .arg("--db")
        .arg(db)
        .args(args)
        .output()
        .unwrap()
}

fn enable_uidonly(c: &mut Client) {
    assert_eq!(
        c.cmd("ENABLE UIDONLY"),
        vec!["* ENABLED UIDONLY", "TAG OK ENABLE completed"]
    );
}

/// RFC 9586 §3.3 and its examples: UID FETCH answers `* uid UIDFETCH (…)` without a UID item
/// unless asked for; STORE, unsolicited flag changes (from another session, in IDLE or at
/// NOOP) and expunges (VANISHED, also during IDLE) name messages by UID only. The rev1 session
/// doing the changes on the same mailbox sees sequence numbers throughout.
#[test]
fn uidfetch_and_vanished_beside_a_rev1_session() {
    let dir = TempDir::new("uidonly-fetch");
    let srv = TestServer::start(&dir);
    let mut rev1 = srv.login(ALICE);
    for (i, flags) in ["", "\\Seen", ""].iter().enumerate() {
        let r = rev1.append("INBOX", flags, &message(&format!("m{}", i + 1), "hello"));
        assert!(r.starts_with("TAG OK"), "{r}");
    }
    let uv = uidvalidity(&mut rev1, "INBOX");
    let mut u = srv.login(ALICE);
    enable_uidonly(&mut u);
    let sel = u.cmd("SELECT INBOX");
    // No `[UNSEEN 1]`: it is a sequence number.
    assert_eq!(
        sel,
        vec![
            "* FLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft)".to_string(),
            "* OK [PERMANENTFLAGS (\\Answered \\Flagged \\Deleted \\Seen \\Draft \\*)] Flags permitted".into(),
            "* 3 EXISTS".into(),
            "* 3 RECENT".into(),
            format!("* OK [UIDVALIDITY {uv}] UIDs valid"),
            "* OK [UIDNEXT 4] Predicted next UID".into(),
            format!("* OK [MAILBOXID ({})] Ok", mailbox_id(&sel)),
            URLMECH.into(),
            "* OK [HIGHESTMODSEQ 4] Highest".into(),
            "TAG OK [READ-WRITE] SELECT completed".into(),
        ]
    );
    assert_eq!(
        u.cmd("UID FETCH 1:* (FLAGS)"),
        vec![
            "* 1 UIDFETCH (FLAGS (\\Recent))",
            "* 2 UIDFETCH (FLAGS (\\Seen \\Recent))",
            "* 3 UIDFETCH (FLAGS (\\Recent))",
            "TAG OK UID FETCH completed",
        ]
    );
    assert_eq!(
        u.cmd("UID FETCH 2 (UID RFC822.SIZE)"),
        vec![
            format!(
                "* 2 UIDFETCH (UID 2 RFC822.SIZE {})",
                message("m2", "hello").len()
            ),
            "TAG OK UID FETCH completed".into(),
        ]
    );

    // The rev1 session expunges message 1: it hears `* 1 EXPUNGE`, the UIDONLY one
    // `* VANISHED 1`; from here sequence number and UID differ.
    assert!(rev1
        .cmd("SELECT INBOX")
        .last()
        .unwrap()
        .starts_with("TAG OK"));
    assert_eq!(
        rev1.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)"),
        vec!["TAG OK STORE completed"]
    );
    assert_eq!(
        rev1.cmd("EXPUNGE"),
        vec!["* 1 EXPUNGE", "TAG OK EXPUNGE completed"]
    );
    assert_eq!(u.cmd("NOOP"), vec!["* VANISHED 1", "TAG OK NOOP completed"]);
    // Another session's flag change: an unsolicited UIDFETCH.
    assert_eq!(
        rev1.cmd("STORE 2 +FLAGS (\\Flagged)"),
        vec!["* 2 FETCH (FLAGS (\\Flagged))", "TAG OK STORE completed"]
    );
    assert_eq!(
        u.cmd("NOOP"),
        vec![
            "* 3 UIDFETCH (FLAGS (\\Flagged \\Recent))",
            "TAG OK NOOP completed"
        ]
    );
    // Its own STORE and a streamed body section.
    assert_eq!(
        u.cmd("UID STORE 2 +FLAGS (\\Answered)"),
        vec![
            "* 2 UIDFETCH (FLAGS (\\Answered \\Seen \\Recent))",
            "TAG OK UID STORE completed"
        ]
    );
    assert_eq!(
        rev1.cmd("NOOP"),
        vec![
            "* 1 FETCH (FLAGS (\\Answered \\Seen))",
            "TAG OK NOOP completed"
        ]
    );
    assert_eq!(
        u.cmd("UID FETCH 3 (BODY.PEEK[TEXT])"),
        vec![
            "* 3 UIDFETCH (BODY[TEXT] {7}\r\nhello\r\n)",
            "TAG OK UID FETCH completed"
        ]
    );
    // With CONDSTORE on, MODSEQ comes along, as in a FETCH.
    let r = u.cmd("UID FETCH 3 (FLAGS MODSEQ)");
    assert_eq!(r.len(), 2, "{r:?}");
    assert!(
        r[0].starts_with("* 3 UIDFETCH (FLAGS (\\Flagged \\Recent) MODSEQ ("),
        "{r:?}"
    );

    // In IDLE: new mail is counted (EXISTS is no sequence number), a flag change is a
    // UIDFETCH with its MODSEQ, an expunge a VANISHED.
    let tag = u.tag();
    u.send(format!("{tag} IDLE\r\n").as_bytes());
    assert_eq!(u.read_line(), "+ idling");
    assert!(rev1
        .append("INBOX", "", &message("m4", "hello"))
        .starts_with("TAG OK"));
    assert_eq!(u.read_line(), "* 3 EXISTS");
    // (The appending session took \Recent for it.)
    assert_eq!(u.read_line(), "* 2 RECENT");
    assert_eq!(
        rev1.cmd("UID STORE 4 +FLAGS.SILENT (\\Deleted)"),
        vec!["TAG OK UID STORE completed"]
    );
    let line = u.read_line();
    assert!(
        line.starts_with("* 4 UIDFETCH (FLAGS (\\Deleted) MODSEQ ("),
        "{line}"
    );
    assert_eq!(
        rev1.cmd("EXPUNGE"),
        vec!["* 3 EXPUNGE", "TAG OK EXPUNGE completed"]
    );
    assert_eq!(u.read_line(), "* VANISHED 4");
    u.send(b"DONE\r\n");
    assert_eq!(u.until_tagged(&tag), vec!["TAG OK IDLE terminated"]);

    // Its own UID EXPUNGE is a VANISHED too; the rev1 session hears EXPUNGE.
    u.cmd("UID STORE 2 +FLAGS.SILENT (\\Deleted)");
    assert_eq!(
        u.cmd("UID EXPUNGE 2"),
        vec!["* VANISHED 2", "TAG OK EXPUNGE completed"]
    );
    assert_eq!(
        rev1.cmd("NOOP"),
        vec!["* 1 EXPUNGE", "TAG OK NOOP completed"]
    );
    assert_eq!(
        rev1.cmd("FETCH 1 (UID)"),
        vec!["* 1 FETCH (UID 3)", "TAG OK FETCH completed"]
    );
    assert_eq!(
        u.cmd("UID SEARCH ALL"),
        vec!["* SEARCH 3", "TAG OK UID SEARCH completed"]
    );
}

/// RFC 9586 §3.2 and §4.1: each form that takes message sequence numbers gets
/// `BAD [UIDREQUIRED]` and changes nothing; the UID forms go on working.
#[test]
fn sequence_number_forms_are_refused_with_uidrequired() {
    let dir = TempDir::new("uidonly-refused");
    let srv = TestServer::start(&dir);
    let mut u = srv.login(ALICE);
    for i in 1..=3 {
        u.append("INBOX", "", &message(&format!("m{i}"), "x"));
    }
    let uv = uidvalidity(&mut u, "INBOX");
    enable_uidonly(&mut u);
    assert_eq!(
        u.cmd("ENABLE QRESYNC"),
        vec!["* ENABLED QRESYNC", "TAG OK ENABLE completed"]
    );
    // QRESYNC's message sequence match data names messages by number (RFC 9586 §4.1).
    let refused = |what: &str| {
        vec![format!(
            "TAG BAD [UIDREQUIRED] {what}: message sequence numbers are not allowed after ENABLE UIDONLY; use UIDs"
        )]
    };
    assert_eq!(
        u.cmd(&format!("SELECT INBOX (QRESYNC ({uv} 1 1:3 (1:2 1:2)))")),
        refused("QRESYNC's sequence match data")
    );
    // Without it, QRESYNC's resynchronisation comes as UIDFETCH (with no UID item).
    let r = u.cmd(&format!("SELECT INBOX (QRESYNC ({uv} 1 1:3))"));
    let at = r
        .iter()
        .position(|l| l.starts_with("* OK [HIGHESTMODSEQ "))
        .unwrap();
    assert_eq!(
        r[at + 1..].to_vec(),
        vec![
            "* 1 UIDFETCH (FLAGS (\\Recent) MODSEQ (2))",
            "* 2 UIDFETCH (FLAGS (\\Recent) MODSEQ (3))",
            "* 3 UIDFETCH (FLAGS (\\Recent) MODSEQ (4))",
            "TAG OK [READ-WRITE] SELECT completed",
        ]
    );
    assert_eq!(
        u.cmd("UID SEARCH RETURN (SAVE) ALL"),
        vec!["TAG OK UID SEARCH completed"]
    );
    for (command, what) in [
        ("FETCH 1 (FLAGS)", "FETCH"),
        ("FETCH 1:* FAST", "FETCH"),
        ("STORE 1 +FLAGS (\\Deleted)", "STORE"),
        ("COPY 1 Archive", "COPY"),
        ("MOVE 1 Archive", "MOVE"),
        ("SEARCH ALL", "SEARCH"),
        ("SEARCH RETURN (COUNT) ALL", "SEARCH"),
        ("SORT (DATE) UTF-8 ALL", "SORT"),
        ("SORT RETURN (COUNT) (DATE) UTF-8 ALL", "SORT"),
        ("THREAD REFERENCES UTF-8 ALL", "THREAD"),
        ("FETCH $ (FLAGS)", "FETCH"),
        ("STORE $ +FLAGS (\\Deleted)", "STORE"),
        ("UID SEARCH 1:2", "A sequence set in SEARCH"),
        ("UID SEARCH OR UID 1 2", "A sequence set in SEARCH"),
        ("UID SEARCH NOT (SEEN 3)", "A sequence set in SEARCH"),
        ("UID SEARCH RETURN (ALL) 1", "A sequence set in SEARCH"),
        ("UID SORT (DATE) UTF-8 1", "A sequence set in SEARCH"),
        (
            "UID SORT RETURN (ALL) (DATE) UTF-8 1",
            "A sequence set in SEARCH",
        ),
        ("UID THREAD REFERENCES UTF-8 *", "A sequence set in SEARCH"),
    ] {
        assert_eq!(u.cmd(command), refused(what), "{command}");
    }
    assert_eq!(
        u.cmd_literal("REPLACE 1 INBOX", &message("r", "x"), ""),
        refused("REPLACE")
    );
    // Nothing was changed, copied or moved; the UID forms answer.
    assert_eq!(
        u.cmd("UID FETCH 1:* (FLAGS)"),
        vec![
            "* 1 UIDFETCH (FLAGS (\\Recent))",
            "* 2 UIDFETCH (FLAGS (\\Recent))",
            "* 3 UIDFETCH (FLAGS (\\Recent))",
            "TAG OK UID FETCH completed",
        ]
    );
    assert_eq!(
        u.cmd("UID SEARCH UID 2:*"),
        vec!["* SEARCH 2 3", "TAG OK UID SEARCH completed"]
    );
    let tag = format!("t{}", u.peek_tag());
    assert_eq!(
        u.cmd("UID SEARCH RETURN (MIN COUNT) ALL"),
        vec![
            format!("* ESEARCH (TAG \"{tag}\") UID MIN 1 COUNT 3"),
            "TAG OK UID SEARCH completed".into(),
        ]
    );
    assert_eq!(
        u.cmd("STATUS Archive (MESSAGES)"),
        vec!["* STATUS Archive (MESSAGES 0)", "TAG OK STATUS completed"]
    );
    let archive = uidvalidity(&mut srv.login(ALICE), "Archive");
    assert_eq!(
        u.cmd("UID MOVE 3 Archive"),
        vec![
            format!("* OK [COPYUID {archive} 3 1] Moved"),
            "* VANISHED 3".into(),
            "TAG OK UID MOVE completed".into(),
        ]
    );
}

/// `liteimap user set NAME --no-uidonly`: that user's CAPABILITY (after login and in LOGIN's
/// OK) leaves UIDONLY out and its `ENABLE UIDONLY` enables nothing (sequence numbers keep
/// working); other users keep it; `user list` shows it; `--uidonly` gives it back.
#[test]
fn uidonly_can_be_withheld_from_one_user() {
    let dir = TempDir::new("uidonly-withheld");
    let srv = TestServer::start(&dir);
    let cli = |args: &[&str]| {
        let out = run_cli(&srv.db, args);
        assert!(out.status.success(), "{args:?}: {out:?}");
        (
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let (_, said) = cli(&["user", "set", "alice", "--no-uidonly"]);
    assert_eq!(said, "UIDONLY withheld from alice (from its next login)\n");
    let (list, _) = cli(&["user", "list"]);
    assert_eq!(
        list,
        "alice\t0 messages\twithheld UIDONLY\nbob\t0 messages\n"
    );
    let without = caps!().strip_suffix(" UIDONLY").unwrap();

    let mut a = srv.connect();
    let login = a.cmd("LOGIN alice wonderland");
    assert_eq!(
        login,
        vec![format!("TAG OK [CAPABILITY {without}] Logged in")]
    );
    assert_eq!(
        a.cmd("CAPABILITY"),
        vec![
            format!("* CAPABILITY {without}"),
            "TAG OK CAPABILITY completed".into()
        ]
    );
    assert_eq!(
        a.cmd("ENABLE UIDONLY CONDSTORE"),
        vec!["* ENABLED CONDSTORE", "TAG OK ENABLE completed"]
    );
    a.append("INBOX", "", &message("m", "x"));
    assert!(a.cmd("SELECT INBOX").last().unwrap().starts_with("TAG OK"));
    assert_eq!(
        a.cmd("FETCH 1 (UID)"),
        vec!["* 1 FETCH (UID 1)", "TAG OK FETCH completed"]
    );
    // Bob still has it.
    let mut b = srv.login(BOB);
    assert_eq!(
        b.cmd("CAPABILITY"),
        vec![
            concat!("* CAPABILITY ", caps!()).to_string(),
            "TAG OK CAPABILITY completed".into()
        ]
    );
    enable_uidonly(&mut b);

    let (_, said) = cli(&["user", "set", "alice", "--uidonly"]);
    assert_eq!(said, "UIDONLY offered to alice (from its next login)\n");
    let (list, _) = cli(&["user", "list"]);
    assert_eq!(list, "alice\t1 messages\nbob\t0 messages\n");
    let mut a2 = srv.login(ALICE);
    assert_eq!(
        a2.cmd("CAPABILITY"),
        vec![
            concat!("* CAPABILITY ", caps!()).to_string(),
            "TAG OK CAPABILITY completed".into()
        ]
    );
    enable_uidonly(&mut a2);
    // Neither or both switches: refused, nothing changed.
    for args in [
        &["user", "set", "alice"][..],
        &["user", "set", "alice", "--uidonly", "--no-uidonly"],
    ] {
        assert!(!run_cli(&srv.db, args).status.success(), "{args:?}");
    }
    let out = run_cli(&srv.db, &["user", "set", "nobody", "--no-uidonly"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such user: nobody"));
}

/// NOTIFY (RFC 5465) in a UIDONLY session (RFC 9586 §4): MessageNew's FETCH attributes come
/// as UIDFETCH (with UID, since it is asked for), FlagChange as UIDFETCH, MessageExpunge as
/// VANISHED, without a command.
#[test]
fn notify_events_name_messages_by_uid() {
    let dir = TempDir::new("uidonly-notify");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    let mut b = srv.login(ALICE);
    assert!(b.append("INBOX", "", &message("one", "x")).contains("OK"));
    enable_uidonly(&mut a);
    assert!(a.cmd("SELECT INBOX").last().unwrap().starts_with("TAG OK"));
    assert_eq!(
        a.cmd("NOTIFY SET (selected (MessageNew (UID FLAGS) MessageExpunge FlagChange))"),
        vec!["TAG OK NOTIFY completed"]
    );
    assert!(b.append("INBOX", "", &message("two", "x")).contains("OK"));
    assert_eq!(a.read_line(), "* 2 EXISTS");
    assert_eq!(a.read_line(), "* 2 RECENT");
    assert_eq!(a.read_line(), "* 2 UIDFETCH (UID 2 FLAGS (\\Recent))");
    assert!(b.cmd("SELECT INBOX").last().unwrap().starts_with("TAG OK"));
    assert_eq!(
        b.cmd("STORE 1 +FLAGS.SILENT (\\Flagged \\Deleted)"),
        vec!["TAG OK STORE completed"]
    );
    assert_eq!(
        a.read_line(),
        "* 1 UIDFETCH (FLAGS (\\Flagged \\Deleted \\Recent))"
    );
    assert_eq!(
        b.cmd("EXPUNGE"),
        vec!["* 1 EXPUNGE", "TAG OK EXPUNGE completed"]
    );
    assert_eq!(a.read_line(), "* VANISHED 1");
    assert_eq!(
        a.cmd("UID FETCH 2 (FLAGS)"),
        vec![
            "* 2 UIDFETCH (FLAGS (\\Recent))",
            "TAG OK UID FETCH completed"
        ]
    );
}
