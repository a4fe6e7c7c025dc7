//! NOTIFY (RFC 5465): events from a second session and from another process reach a session
//! between its commands, with the exact responses; NOTIFY NONE, BADEVENT, overflow, and the
//! sequence-number rules (`selected-delayed` holds EXPUNGE back).

mod common;

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use common::{message, Client, TempDir, TestServer, ALICE};
use liteimap::server::Config;

/// The `UIDVALIDITY n` of a STATUS line, replaced by `UIDVALIDITY V` so lines compare exactly.
fn no_uidvalidity(line: &str) -> String {
    match line.find("UIDVALIDITY ") {
        Some(i) => {
            let rest = &line[i + 12..];
            let end = rest
                .find(|c: char| !c.is_ascii_digit())
                .unwrap_or(rest.len());
            format!("{}UIDVALIDITY V{}", &line[..i], &rest[end..])
        }
        None => line.to_string(),
    }
}

fn ok(lines: &[String]) {
    assert!(lines.last().unwrap().starts_with("TAG OK"), "{lines:?}");
}

#[test]
fn status_at_set_and_events_from_a_second_session() {
    let dir = TempDir::new("notify-second");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    let mut b = srv.login(ALICE);
    let lines = a.cmd(
        "NOTIFY SET STATUS (personal (MessageNew MessageExpunge MailboxName SubscriptionChange))",
    );
    let lines: Vec<String> = lines.iter().map(|l| no_uidvalidity(l)).collect();
    assert_eq!(
        lines,
        vec![
            "* STATUS Archive (MESSAGES 0 UIDNEXT 1 UIDVALIDITY V UNSEEN 0)",
            "* STATUS Drafts (MESSAGES 0 UIDNEXT 1 UIDVALIDITY V UNSEEN 0)",
            "* STATUS INBOX (MESSAGES 0 UIDNEXT 1 UIDVALIDITY V UNSEEN 0)",
            "* STATUS Junk (MESSAGES 0 UIDNEXT 1 UIDVALIDITY V UNSEEN 0)",
            "* STATUS Sent (MESSAGES 0 UIDNEXT 1 UIDVALIDITY V UNSEEN 0)",
            "* STATUS Trash (MESSAGES 0 UIDNEXT 1 UIDVALIDITY V UNSEEN 0)",
            "TAG OK NOTIFY completed",
        ]
    );

    // A message arrives through the second session: a STATUS without any command from a.
    assert!(b.append("INBOX", "", &message("hi", "x")).contains("OK"));
    assert_eq!(
        no_uidvalidity(&a.read_line()),
        "* STATUS INBOX (MESSAGES 1 UIDNEXT 2 UIDVALIDITY V UNSEEN 1)"
    );
    // Expunged elsewhere: STATUS again.
    ok(&b.cmd("SELECT INBOX"));
    ok(&b.cmd("STORE 1 +FLAGS (\\Deleted)"));
    ok(&b.cmd("EXPUNGE"));
    assert_eq!(
        no_uidvalidity(&a.read_line()),
        "* STATUS INBOX (MESSAGES 0 UIDNEXT 2 UIDVALIDITY V UNSEEN 0)"
    );

    // MailboxName: create, rename (with OLDNAME), delete; SubscriptionChange.
    ok(&b.cmd("CREATE Foo"));
    assert_eq!(a.read_line(), "* LIST () \"/\" Foo");
    ok(&b.cmd("RENAME Foo Bar"));
    assert_eq!(a.read_line(), "* LIST () \"/\" Bar (\"OLDNAME\" (Foo))");
    ok(&b.cmd("SUBSCRIBE Bar"));
    assert_eq!(a.read_line(), "* LIST (\\Subscribed) \"/\" Bar");
    ok(&b.cmd("UNSUBSCRIBE Bar"));
    assert_eq!(a.read_line(), "* LIST () \"/\" Bar");
    ok(&b.cmd("DELETE Bar"));
    assert_eq!(a.read_line(), "* LIST (\\NonExistent) \"/\" Bar");

    // NOTIFY NONE: nothing more arrives (NOOP answers alone).
    assert_eq!(a.cmd("NOTIFY NONE"), vec!["TAG OK NOTIFY completed"]);
    assert!(b.append("INBOX", "", &message("hi", "x")).contains("OK"));
    ok(&b.cmd("CREATE Later"));
    assert_eq!(a.cmd("NOOP"), vec!["TAG OK NOOP completed"]);
}

#[test]
fn filters_choose_the_folders() {
    let dir = TempDir::new("notify-filters");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    let mut b = srv.login(ALICE);
    ok(&b.cmd("CREATE Lists"));
    ok(&b.cmd("CREATE Lists/rust"));
    ok(&b.cmd("CREATE Other"));
    // Only the Lists subtree (the first filter), and Other with no events at all.
    ok(&a.cmd("NOTIFY SET (mailboxes Other NONE) (subtree Lists (MessageNew MessageExpunge))"));
    assert!(b.append("Other", "", &message("o", "x")).contains("OK"));
    assert!(b.append("INBOX", "", &message("i", "x")).contains("OK"));
    assert!(b
        .append("Lists/rust", "", &message("r", "x"))
        .contains("OK"));
    assert_eq!(
        no_uidvalidity(&a.read_line()),
        "* STATUS Lists/rust (MESSAGES 1 UIDNEXT 2 UIDVALIDITY V UNSEEN 1)"
    );
    assert_eq!(a.cmd("NOOP"), vec!["TAG OK NOOP completed"]);
}

#[test]
fn selected_mailbox_events_with_fetch_attributes() {
    let dir = TempDir::new("notify-selected");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    let mut b = srv.login(ALICE);
    assert!(b.append("INBOX", "", &message("one", "x")).contains("OK"));
    ok(&a.cmd("SELECT INBOX"));
    assert_eq!(
        a.cmd("NOTIFY SET (selected (MessageNew (UID FLAGS) MessageExpunge FlagChange)) (personal (MessageNew MessageExpunge))"),
        vec!["TAG OK NOTIFY completed"]
    );
    assert!(b.append("INBOX", "", &message("two", "x")).contains("OK"));
    assert_eq!(a.read_line(), "* 2 EXISTS");
    // Both are \Recent here: this session selected the mailbox first.
    assert_eq!(a.read_line(), "* 2 RECENT");
    assert_eq!(a.read_line(), "* 2 FETCH (UID 2 FLAGS (\\Recent))");
    ok(&b.cmd("SELECT INBOX"));
    ok(&b.cmd("STORE 1 +FLAGS.SILENT (\\Flagged)"));
    assert_eq!(a.read_line(), "* 1 FETCH (FLAGS (\\Flagged \\Recent))");
    ok(&b.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)"));
    assert_eq!(
        a.read_line(),
        "* 1 FETCH (FLAGS (\\Flagged \\Deleted \\Recent))"
    );
    ok(&b.cmd("EXPUNGE"));
    // `selected`: the expunge is told at once, between commands.
    assert_eq!(a.read_line(), "* 1 EXPUNGE");
    // The numbers the client holds are the server's: message 1 is now UID 2.
    assert_eq!(
        a.cmd("FETCH 1 (UID)"),
        vec!["* 1 FETCH (UID 2)", "TAG OK FETCH completed"]
    );
    // Other folders still come as STATUS; the selected one never does.
    assert!(b.append("Sent", "", &message("s", "x")).contains("OK"));
    assert_eq!(
        no_uidvalidity(&a.read_line()),
        "* STATUS Sent (MESSAGES 1 UIDNEXT 2 UIDVALIDITY V UNSEEN 1)"
    );
}

#[test]
fn selected_delayed_holds_expunges_for_a_command() {
    let dir = TempDir::new("notify-delayed");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    let mut b = srv.login(ALICE);
    assert!(b.append("INBOX", "", &message("one", "x")).contains("OK"));
    ok(&a.cmd("SELECT INBOX"));
    ok(&a.cmd("NOTIFY SET (selected-delayed (MessageNew MessageExpunge))"));
    ok(&b.cmd("SELECT INBOX"));
    ok(&b.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)"));
    ok(&b.cmd("EXPUNGE"));
    assert!(b.append("INBOX", "", &message("two", "x")).contains("OK"));
    // The new message is told (after the flag change), the expunge is not: message 1 keeps
    // its number until a command that allows EXPUNGE.
    let mut got = vec![a.read_line()];
    while !got.last().unwrap().starts_with("* 2 EXISTS") {
        got.push(a.read_line());
    }
    assert!(got.iter().all(|l| !l.contains("EXPUNGE")), "{got:?}");
    // Message 2 is \Recent for the session that appended it while selected.
    assert_eq!(a.read_line(), "* 1 RECENT");
    assert_eq!(
        a.cmd("FETCH 2 (UID)"),
        vec!["* 2 FETCH (UID 2)", "TAG OK FETCH completed"]
    );
    assert_eq!(a.cmd("NOOP"), vec!["* 1 EXPUNGE", "TAG OK NOOP completed"]);
}

/// `liteimap deliver` into the database of the running server.
fn deliver(srv: &TestServer, subject: &str) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_liteimap"))
        .arg("--db")
        .arg(&srv.db)
        .args(["deliver", "--user", "alice"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(format!("Subject: {subject}\n\nbody\n").as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "{out:?}");
}

#[test]
fn events_from_another_process() {
    let dir = TempDir::new("notify-process");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    ok(&a.cmd("NOTIFY SET (inboxes (MessageNew MessageExpunge))"));
    deliver(&srv, "from outside");
    assert_eq!(
        no_uidvalidity(&a.read_line()),
        "* STATUS INBOX (MESSAGES 1 UIDNEXT 2 UIDVALIDITY V UNSEEN 1)"
    );
    // The selected mailbox: EXISTS and the FETCH of MessageNew, without a command.
    ok(&a.cmd("SELECT INBOX"));
    ok(&a.cmd("NOTIFY SET (selected (MessageNew (UID) MessageExpunge))"));
    deliver(&srv, "second");
    assert_eq!(a.read_line(), "* 2 EXISTS");
    assert_eq!(a.read_line(), "* 2 RECENT");
    assert_eq!(a.read_line(), "* 2 FETCH (UID 2)");
}

#[test]
fn unsupported_events_and_malformed_sets() {
    let dir = TempDir::new("notify-bad");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    assert_eq!(
        a.cmd("NOTIFY SET (personal (MessageNew MessageExpunge AnnotationChange))"),
        vec!["TAG NO [BADEVENT (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange MailboxMetadataChange ServerMetadataChange)] NOTIFY: these events are not supported: AnnotationChange"]
    );
    assert_eq!(
        a.cmd("NOTIFY SET (personal (MessageNew (UID) MessageExpunge))"),
        vec!["TAG BAD NOTIFY: FETCH attributes of MessageNew are only for the selected mailbox"]
    );
    assert_eq!(
        a.cmd("NOTIFY SET (personal (FlagChange))"),
        vec!["TAG BAD NOTIFY: FlagChange needs MessageNew and MessageExpunge too"]
    );
    let mut c = Client::connect(srv.port);
    c.read_line();
    assert_eq!(
        c.cmd("NOTIFY NONE"),
        vec!["TAG BAD NOTIFY needs a login first"]
    );
}

#[test]
fn too_many_changes_at_once_overflow() {
    let dir = TempDir::new("notify-overflow");
    let srv = TestServer::start_with(
        &dir,
        Config {
            auth_failure_delay: Duration::ZERO,
            notify_max_batch: 2,
            ..Config::default()
        },
    );
    let mut a = srv.login(ALICE);
    let mut b = srv.login(ALICE);
    ok(&b.cmd("CREATE P/a"));
    ok(&b.cmd("CREATE P/b"));
    ok(&a.cmd("NOTIFY SET (personal (MailboxName))"));
    // One RENAME moves three folders: three LIST responses, over the limit of two.
    ok(&b.cmd("RENAME P Q"));
    assert_eq!(
        a.read_line(),
        "* OK [NOTIFICATIONOVERFLOW] Too many changes to notify; NOTIFY is now off"
    );
    ok(&b.cmd("CREATE Z"));
    assert_eq!(a.cmd("NOOP"), vec!["TAG OK NOOP completed"]);
}

/// MailboxMetadataChange and ServerMetadataChange (RFC 5465 §5.9): entries set, changed or
/// removed by a second session arrive as RFC 5464's unsolicited `* METADATA name entry ...` (§4.4.2),
/// for the folders a filter with the event covers (and the server, `""`), without values.
#[test]
fn metadata_changes_from_a_second_session() {
    let dir = TempDir::new("notify-metadata");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    let mut b = srv.login(ALICE);
    ok(&a.cmd(
        "NOTIFY SET (mailboxes (INBOX) (MailboxMetadataChange ServerMetadataChange)) (personal (MailboxName))",
    ));
    ok(&b.cmd("SETMETADATA INBOX (/private/comment \"first\")"));
    assert_eq!(a.read_line(), "* METADATA INBOX /private/comment");
    // A changed value and a new entry in one command: one response, names in order.
    ok(&b.cmd("SETMETADATA INBOX (/private/comment \"second\" /shared/comment \"x\")"));
    assert_eq!(
        a.read_line(),
        "* METADATA INBOX /private/comment /shared/comment"
    );
    // Removed (NIL).
    ok(&b.cmd("SETMETADATA INBOX (/shared/comment NIL)"));
    assert_eq!(a.read_line(), "* METADATA INBOX /shared/comment");
    // A server entry: the filter above asked for ServerMetadataChange.
    ok(&b.cmd("SETMETADATA \"\" (/private/vendor/x \"1\")"));
    assert_eq!(a.read_line(), "* METADATA \"\" /private/vendor/x");
    // A folder no MailboxMetadataChange filter covers: nothing; the next event shows it.
    ok(&b.cmd("SETMETADATA Archive (/private/comment \"quiet\")"));
    ok(&b.cmd("CREATE Next"));
    assert_eq!(a.read_line(), "* LIST () \"/\" Next");
    // Setting the same value again changes nothing and sends nothing.
    ok(&b.cmd("SETMETADATA INBOX (/private/comment \"second\")"));
    ok(&b.cmd("CREATE Last"));
    assert_eq!(a.read_line(), "* LIST () \"/\" Last");
}
