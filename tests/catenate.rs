//! CATENATE (RFC 4469): messages made of text and parts of existing messages named by IMAP
//! URLs; BADURL and TOOBIG store nothing; another user's messages are not reachable.

mod common;

use std::time::Duration;

use common::{Client, TempDir, TestServer, ALICE, BOB};
use liteimap::server::Config;

const HEADER: &[u8] = b"From: a@example.com\r\nSubject: parts\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n";
const PART1_MIME: &[u8] = b"Content-Type: text/plain\r\n\r\n";

fn source() -> Vec<u8> {
    let mut m = HEADER.to_vec();
    m.extend_from_slice(b"--b\r\n");
    m.extend_from_slice(PART1_MIME);
    m.extend_from_slice(
        b"first part\r\n--b\r\nContent-Type: text/plain\r\n\r\nsecond\r\n--b--\r\n",
    );
    m
}

/// Send a whole command at once (its literals as LITERAL+ `{n+}`), return the responses.
fn send(c: &mut Client, command: &[u8]) -> Vec<String> {
    let tag = c.tag();
    let mut line = format!("{tag} ").into_bytes();
    line.extend_from_slice(command);
    line.extend_from_slice(b"\r\n");
    c.send(&line);
    c.until_tagged(&tag)
}

fn uidvalidity(c: &mut Client, mailbox: &str) -> String {
    let l = c.cmd(&format!("STATUS {mailbox} (UIDVALIDITY)"));
    let v = l[0].rsplit_once(' ').unwrap().1.trim_end_matches(')');
    v.to_string()
}

fn messages(c: &mut Client, mailbox: &str) -> String {
    c.cmd(&format!("STATUS {mailbox} (MESSAGES)"))[0].clone()
}

fn body(c: &mut Client, mailbox: &str, uid: u32) -> String {
    assert!(c
        .cmd(&format!("EXAMINE {mailbox}"))
        .last()
        .unwrap()
        .starts_with("TAG OK"));
    let l = c.cmd(&format!("UID FETCH {uid} BODY.PEEK[]"));
    let first = &l[0];
    let at = first.find("}\r\n").unwrap();
    first[at + 3..first.len() - 1].to_string()
}

#[test]
fn message_from_parts_of_existing_messages() {
    let dir = TempDir::new("catenate-parts");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    assert!(a.append("INBOX", "", &source()).contains("OK"));
    let v = uidvalidity(&mut a, "INBOX");
    let dv = uidvalidity(&mut a, "Drafts");
    let text = b"\r\n--new\r\n";
    let mut cmd = format!(
        "APPEND Drafts (\\Seen) CATENATE (URL \"/INBOX;UIDVALIDITY={v}/;UID=1/;SECTION=HEADER\" TEXT {{{}+}}\r\n",
        text.len()
    )
    .into_bytes();
    cmd.extend_from_slice(text);
    cmd.extend_from_slice(
        b" URL \"imap://alice@localhost/INBOX/;UID=1/;SECTION=1.MIME\" URL \"/INBOX/;UID=1/;SECTION=1\" URL \"/INBOX/;UID=1/;PARTIAL=6.4\")",
    );
    assert_eq!(
        send(&mut a, &cmd),
        vec![format!("TAG OK [APPENDUID {dv} 1] APPEND completed")]
    );
    let mut want = HEADER.to_vec();
    want.extend_from_slice(text);
    want.extend_from_slice(PART1_MIME);
    want.extend_from_slice(b"first part");
    want.extend_from_slice(b"a@ex");
    assert_eq!(body(&mut a, "Drafts", 1), String::from_utf8(want).unwrap());
    assert_eq!(
        a.cmd("UID FETCH 1 FLAGS")[0],
        "* 1 FETCH (UID 1 FLAGS (\\Seen \\Recent))"
    );

    // Relative to the selected mailbox, and inside a MULTIAPPEND.
    assert!(a.cmd("SELECT INBOX").last().unwrap().starts_with("TAG OK"));
    assert_eq!(
        send(
            &mut a,
            b"APPEND Drafts {3+}\r\nabc CATENATE (URL \"/;UID=1/;SECTION=2\" TEXT {2+}\r\n!!)"
        ),
        vec![format!("TAG OK [APPENDUID {dv} 2:3] APPEND completed")]
    );
    assert_eq!(body(&mut a, "Drafts", 3), "second!!");
}

#[test]
fn bad_urls_store_nothing() {
    let dir = TempDir::new("catenate-bad");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    let mut b = srv.login(BOB);
    assert!(a.append("INBOX", "", &source()).contains("OK"));
    assert!(b
        .append("INBOX", "", b"Subject: bob's\r\n\r\nsecret\r\n")
        .contains("OK"));
    let v = uidvalidity(&mut a, "INBOX");
    let wrong = v.parse::<u64>().unwrap() + 1;
    for (url, why) in [
        ("/INBOX/;UID=99".to_string(), "no such message"),
        (
            format!("/INBOX;UIDVALIDITY={wrong}/;UID=1"),
            "UIDVALIDITY differs",
        ),
        ("/Nope/;UID=1".to_string(), "no such mailbox"),
        ("/INBOX/;UID=1/;SECTION=9".to_string(), "no such section"),
        (
            "/INBOX/;UID=1/;SECTION=1.BOGUS".to_string(),
            "invalid section",
        ),
        (";UID=1".to_string(), "no mailbox selected"),
        (
            "http://example.com/".to_string(),
            "not an IMAP URL to a message",
        ),
        // Another user's message, by naming the user, is not this user's to read.
        (
            "imap://bob@localhost/INBOX/;UID=1".to_string(),
            "the URL is for user bob",
        ),
    ] {
        let cmd = format!("APPEND Drafts CATENATE (TEXT {{2+}}\r\nhi URL \"{url}\")");
        assert_eq!(
            send(&mut a, cmd.as_bytes()),
            vec![format!(
                "TAG NO [BADURL {url}] CATENATE: {why}; nothing was appended"
            )],
            "{url}"
        );
    }
    // In a MULTIAPPEND, one bad URL stores none of the messages.
    let cmd = b"APPEND Drafts {3+}\r\nabc CATENATE (URL /INBOX/;UID=7)";
    assert_eq!(
        send(&mut a, cmd),
        vec!["TAG NO [BADURL /INBOX/;UID=7] CATENATE: no such message; nothing was appended"]
    );
    assert_eq!(messages(&mut a, "Drafts"), "* STATUS Drafts (MESSAGES 0)");
    // Bob's own view of his message is untouched, and his URL works for him.
    assert_eq!(
        send(
            &mut b,
            b"APPEND Drafts CATENATE (URL \"imap://bob@localhost/INBOX/;UID=1/;SECTION=TEXT\")"
        )[0]
        .split(']')
        .next()
        .unwrap()
        .split(' ')
        .take(3)
        .collect::<Vec<_>>(),
        vec!["TAG", "OK", "[APPENDUID"]
    );
    assert_eq!(body(&mut b, "Drafts", 1), "secret\r\n");
}

#[test]
fn too_big_and_malformed() {
    let dir = TempDir::new("catenate-big");
    let mut config = Config {
        auth_failure_delay: Duration::ZERO,
        ..Config::default()
    };
    config.limits.max_literal = 300;
    let srv = TestServer::start_with(&dir, config);
    let mut a = srv.login(ALICE);
    let src = source();
    assert!(src.len() > 150 && src.len() <= 300);
    assert!(a.append("INBOX", "", &src).contains("OK"));
    assert_eq!(
        send(&mut a, b"APPEND Drafts CATENATE (URL /INBOX/;UID=1 URL /INBOX/;UID=1)"),
        vec!["TAG NO [TOOBIG] CATENATE: the message exceeds the limit of 300 bytes; nothing was appended"]
    );
    assert_eq!(messages(&mut a, "Drafts"), "* STATUS Drafts (MESSAGES 0)");
    assert_eq!(
        send(&mut a, b"APPEND Drafts CATENATE ()"),
        vec!["TAG BAD CATENATE: no parts"]
    );
    assert_eq!(
        send(&mut a, b"APPEND Drafts CATENATE (TEXT \"x\")"),
        vec!["TAG BAD CATENATE: TEXT takes a literal"]
    );
    // A missing target: TRYCREATE, as for APPEND.
    assert_eq!(
        send(&mut a, b"APPEND Nope CATENATE (URL /INBOX/;UID=1)"),
        vec!["TAG NO [TRYCREATE] No such mailbox: Nope"]
    );
}
