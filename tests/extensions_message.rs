//! Issue 8, message-level extensions: WITHIN (RFC 5032), BINARY (RFC 3516), ESEARCH (RFC 4731),
//! SEARCHRES (RFC 5182) and MULTIAPPEND (RFC 3502), scripted end to end.

mod common;
use common::*;

/// An INTERNALDATE `secs` seconds before now, in APPEND's date-time form.
fn ago(secs: i64) -> String {
    let t = chrono::Utc::now() - chrono::Duration::seconds(secs);
    t.format("%d-%b-%Y %H:%M:%S +0000").to_string()
}

/// INBOX with four messages dated 2001, three days ago, two hours ago and one minute ago;
/// returns the client with INBOX selected.
fn dated_mailbox(srv: &TestServer) -> Client {
    let mut c = srv.login(ALICE);
    let dates = [
        "01-Jan-2001 00:00:00 +0000".to_string(),
        ago(3 * 86400),
        ago(2 * 3600),
        ago(60),
    ];
    for (i, d) in dates.iter().enumerate() {
        let r = c.append_dated("INBOX", "", d, &message(&format!("m{i}"), "body"));
        assert!(r.starts_with("TAG OK"), "{r}");
    }
    c.cmd("SELECT INBOX");
    c
}

// ---- WITHIN ----------------------------------------------------------------------------

#[test]
fn within_younger_and_older() {
    let dir = TempDir::new("within");
    let srv = TestServer::start(&dir);
    let mut c = dated_mailbox(&srv);
    let caps = c.cmd("CAPABILITY");
    assert!(caps[0].split(' ').any(|w| w == "WITHIN"), "{caps:?}");
    let cases = [
        ("YOUNGER 600", "* SEARCH 4"),
        ("YOUNGER 86400", "* SEARCH 3 4"),
        ("OLDER 86400", "* SEARCH 1 2"),
        ("OLDER 3600", "* SEARCH 1 2 3"),
        ("YOUNGER 1", "* SEARCH"),
        // Combined with other keys: a window between one hour and four days old.
        ("OLDER 3600 YOUNGER 345600", "* SEARCH 2 3"),
        ("NOT YOUNGER 86400", "* SEARCH 1 2"),
        ("OR YOUNGER 600 OLDER 345600", "* SEARCH 1 4"),
        // Under a text key (evaluated per message, not in SQL).
        ("OR SUBJECT m0 YOUNGER 600", "* SEARCH 1 4"),
    ];
    for (criteria, want) in cases {
        assert_eq!(
            c.cmd(&format!("SEARCH {criteria}")),
            vec![want.to_string(), "TAG OK SEARCH completed".into()],
            "{criteria}"
        );
    }
    assert_eq!(
        c.cmd("UID SEARCH YOUNGER 86400"),
        vec!["* SEARCH 3 4", "TAG OK UID SEARCH completed"]
    );
    // The interval is a non-zero number (RFC 5032 §4).
    for bad in ["YOUNGER 0", "OLDER", "OLDER -5", "YOUNGER x"] {
        let r = c.cmd(&format!("SEARCH {bad}"));
        assert_eq!(r.len(), 1, "{bad}: {r:?}");
        assert!(r[0].starts_with("TAG BAD"), "{bad}: {r:?}");
    }
}

// ---- BINARY ----------------------------------------------------------------------------

/// A multipart with a quoted-printable text, a base64 blob holding NUL, a part in an encoding
/// nobody decodes, and a nested multipart.
fn binary_message() -> Vec<u8> {
    b"From: a@example.org\r\nSubject: binary\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b1\"\r\n\r\n\
--b1\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=C3=A9 soft=\r\nbreak\r\n\
--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: BASE64\r\n\r\nAAECAwBo\r\naQ==\r\n\
--b1\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: x-uuencode\r\n\r\nbegin 644 x\r\nend\r\n\
--b1\r\nContent-Type: multipart/alternative; boundary=\"b2\"\r\n\r\n--b2\r\nContent-Type: text/plain\r\n\r\nplain 7bit\r\n--b2--\r\n\
--b1--\r\n"
        .to_vec()
}

/// A single-part message whose body is base64.
fn base64_message() -> Vec<u8> {
    b"From: a@example.org\r\nSubject: b64\r\nContent-Transfer-Encoding: base64\r\n\r\naGVsbG8gd29ybGQ=\r\n".to_vec()
}

fn binary_mailbox(srv: &TestServer) -> Client {
    let mut c = srv.login(ALICE);
    assert!(c
        .append("INBOX", "", &binary_message())
        .starts_with("TAG OK"));
    assert!(c
        .append("INBOX", "", &base64_message())
        .starts_with("TAG OK"));
    c.cmd("SELECT INBOX");
    c
}

#[test]
fn binary_decodes_parts() {
    let dir = TempDir::new("binary");
    let srv = TestServer::start(&dir);
    let mut c = binary_mailbox(&srv);
    let caps = c.cmd("CAPABILITY");
    assert!(caps[0].split(' ').any(|w| w == "BINARY"), "{caps:?}");
    // Quoted-printable undone (soft line break gone); a plain literal, as it holds no NUL.
    assert_eq!(
        c.cmd("FETCH 1 (BINARY.PEEK[1])"),
        vec![
            "* 1 FETCH (BINARY[1] {15}\r\nCafé softbreak)",
            "TAG OK FETCH completed"
        ]
    );
    // Base64 with NUL inside: a literal8.
    let r = c.cmd_bytes("FETCH 1 (BINARY.PEEK[2])");
    assert_eq!(
        r[0],
        b"* 1 FETCH (BINARY[2] ~{7}\r\n\x00\x01\x02\x03\x00hi)".to_vec()
    );
    assert!(r[1].ends_with(b" OK FETCH completed"));
    // BINARY.SIZE is the decoded size; a nested leaf decodes too.
    assert_eq!(
        c.cmd("FETCH 1 (BINARY.SIZE[1] BINARY.SIZE[2] BINARY.SIZE[4.1])"),
        vec![
            "* 1 FETCH (BINARY.SIZE[1] 15 BINARY.SIZE[2] 7 BINARY.SIZE[4.1] 10)",
            "TAG OK FETCH completed"
        ]
    );
    assert_eq!(
        c.cmd("FETCH 1 (BINARY.PEEK[4.1])"),
        vec![
            "* 1 FETCH (BINARY[4.1] {10}\r\nplain 7bit)",
            "TAG OK FETCH completed"
        ]
    );
    // Partial: offsets count decoded octets; the response carries the origin as BODY's does
    // (RFC 3516 §4.3 text, as Dovecot sends it; the ABNF omits it, erratum 7246).
    assert_eq!(
        c.cmd("FETCH 1 (BINARY.PEEK[1]<5.4>)"),
        vec![
            "* 1 FETCH (BINARY[1]<5> {4}\r\n sof)",
            "TAG OK FETCH completed"
        ]
    );
    let r = c.cmd_bytes("FETCH 1 (BINARY.PEEK[2]<3.3>)");
    assert_eq!(r[0], b"* 1 FETCH (BINARY[2]<3> ~{3}\r\n\x03\x00h)".to_vec());
    let r = c.cmd_bytes("FETCH 1 (UID BINARY.PEEK[2]<0.7> BINARY.PEEK[1] BODY.PEEK[1]<0.4>)");
    assert_eq!(
        r[0],
        b"* 1 FETCH (UID 1 BINARY[2]<0> ~{7}\r\n\x00\x01\x02\x03\x00hi BINARY[1] {15}\r\nCaf\xc3\xa9 softbreak BODY[1]<0> {4}\r\nCaf=)".to_vec()
    );
    assert_eq!(
        c.cmd("FETCH 1 (BINARY.PEEK[1]<100.5>)"),
        vec![
            "* 1 FETCH (BINARY[1]<100> {0}\r\n)",
            "TAG OK FETCH completed"
        ]
    );
    // A part that does not exist is empty, as BODY[] answers.
    assert_eq!(
        c.cmd("FETCH 1 (BINARY.PEEK[9] BINARY.SIZE[9])"),
        vec![
            "* 1 FETCH (BINARY[9] {0}\r\n BINARY.SIZE[9] 0)",
            "TAG OK FETCH completed"
        ]
    );
    // BINARY[] of a single-part message: its header, then the decoded body; [1] the body.
    let header = "From: a@example.org\r\nSubject: b64\r\nContent-Transfer-Encoding: base64\r\n\r\n";
    let whole = format!("{header}hello world");
    assert_eq!(
        c.cmd("UID FETCH 2 (BINARY.PEEK[] BINARY.SIZE[] BINARY.PEEK[1])"),
        vec![
            format!(
                "* 2 FETCH (UID 2 BINARY[] {{{}}}\r\n{whole} BINARY.SIZE[] {} BINARY[1] {{11}}\r\nhello world)",
                whole.len(),
                whole.len()
            ),
            "TAG OK UID FETCH completed".to_string()
        ]
    );
    // PEEK left \Seen alone.
    assert_eq!(
        c.cmd("FETCH 1:2 (FLAGS)"),
        vec![
            "* 1 FETCH (FLAGS (\\Recent))",
            "* 2 FETCH (FLAGS (\\Recent))",
            "TAG OK FETCH completed"
        ]
    );
}

#[test]
fn binary_errors_and_seen() {
    let dir = TempDir::new("binary-errors");
    let srv = TestServer::start(&dir);
    let mut c = binary_mailbox(&srv);
    // An encoding the server cannot undo: NO [UNKNOWN-CTE], for BINARY and BINARY.SIZE.
    for item in ["BINARY.PEEK[3]", "BINARY.SIZE[3]", "BINARY[3]"] {
        let r = c.cmd(&format!("FETCH 1 ({item})"));
        assert_eq!(r.len(), 1, "{item}: {r:?}");
        assert!(r[0].starts_with("TAG NO [UNKNOWN-CTE] "), "{item}: {r:?}");
        assert!(r[0].contains("x-uuencode"), "{r:?}");
    }
    // A multipart part, a multipart message and a message/rfc822 part are 7bit, 8bit or
    // binary, which decode to themselves: BINARY answers their bytes as they are (what BODY
    // answers), BINARY.SIZE their length.
    let nested = b"Subject: outer\r\nContent-Type: multipart/mixed; boundary=\"x\"\r\n\r\n--x\r\nContent-Type: message/rfc822\r\n\r\nSubject: inner\r\nContent-Transfer-Encoding: base64\r\n\r\naGk=\r\n--x--\r\n";
    assert!(c.append("INBOX", "", nested).starts_with("TAG OK"));
    c.cmd("NOOP");
    for (n, section) in [(1, "4"), (1, ""), (3, "1"), (3, "")] {
        let body = c.cmd(&format!("FETCH {n} (BODY.PEEK[{section}])"));
        let binary = c.cmd(&format!("FETCH {n} (BINARY.PEEK[{section}])"));
        assert_eq!(
            binary[0],
            body[0].replace(&format!("BODY[{section}]"), &format!("BINARY[{section}]")),
            "{n} {section}"
        );
        assert_eq!(binary[1], "TAG OK FETCH completed");
        let len = body[0].split_once("}\r\n").unwrap().1.len() - 1;
        assert_eq!(
            c.cmd(&format!("FETCH {n} (BINARY.SIZE[{section}])")),
            vec![
                format!("* {n} FETCH (BINARY.SIZE[{section}] {len})"),
                "TAG OK FETCH completed".to_string()
            ]
        );
    }
    let inner = "Subject: inner\r\nContent-Transfer-Encoding: base64\r\n\r\naGk=";
    assert_eq!(
        c.cmd("FETCH 3 (BINARY.PEEK[1])"),
        vec![
            format!("* 3 FETCH (BINARY[1] {{{}}}\r\n{inner})", inner.len()),
            "TAG OK FETCH completed".to_string()
        ]
    );
    assert_eq!(
        c.cmd("FETCH 3 (BINARY.PEEK[1.1])"),
        vec![
            "* 3 FETCH (BINARY[1.1] {2}\r\nhi)",
            "TAG OK FETCH completed"
        ]
    );
    // BINARY takes part numbers only.
    for bad in [
        "BINARY[1.TEXT]",
        "BINARY[HEADER]",
        "BINARY[0]",
        "BINARY.SIZE[1]<0.5>",
    ] {
        let r = c.cmd(&format!("FETCH 1 ({bad})"));
        assert!(r[0].starts_with("TAG BAD"), "{bad}: {r:?}");
    }
    // Without PEEK, \Seen is set and reported in the same response.
    assert_eq!(
        c.cmd("FETCH 2 (BINARY[1])"),
        vec![
            "* 2 FETCH (BINARY[1] {11}\r\nhello world FLAGS (\\Seen \\Recent))",
            "TAG OK FETCH completed"
        ]
    );
    // BINARY.SIZE alone does not.
    c.cmd("FETCH 1 (BINARY.SIZE[1])");
    assert_eq!(
        c.cmd("FETCH 1 (FLAGS)"),
        vec!["* 1 FETCH (FLAGS (\\Recent))", "TAG OK FETCH completed"]
    );
    // In a read-only session BINARY does not set it either.
    c.cmd("EXAMINE INBOX");
    c.cmd("FETCH 1 (BINARY[1])");
    assert_eq!(
        c.cmd("FETCH 1 (FLAGS)"),
        vec!["* 1 FETCH (FLAGS ())", "TAG OK FETCH completed"]
    );
}

#[test]
fn append_literal8_keeps_nul() {
    let dir = TempDir::new("literal8");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    let raw = b"Subject: nul\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: binary\r\n\r\na\x00b\x00c\r\n";
    let tag = c.tag();
    c.send(format!("{tag} APPEND INBOX (\\Flagged) ~{{{}}}\r\n", raw.len()).as_bytes());
    assert!(c.read_line().starts_with('+'));
    c.send(raw);
    c.send(b"\r\n");
    let r = c.until_tagged(&tag);
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(r[0].starts_with("TAG OK [APPENDUID "), "{r:?}");
    c.cmd("SELECT INBOX");
    // Stored as sent: the size counts every octet, BINARY gives the NULs back in a literal8.
    let r = c.cmd_bytes("FETCH 1 (RFC822.SIZE BINARY.PEEK[1])");
    let mut want =
        format!("* 1 FETCH (RFC822.SIZE {} BINARY[1] ~{{7}}\r\n", raw.len()).into_bytes();
    want.extend_from_slice(b"a\x00b\x00c\r\n)");
    assert_eq!(r[0], want);
    let r = c.cmd_bytes("FETCH 1 (BINARY.PEEK[])");
    let mut want = format!("* 1 FETCH (BINARY[] ~{{{}}}\r\n", raw.len()).into_bytes();
    want.extend_from_slice(raw);
    want.push(b')');
    assert_eq!(r[0], want);
    // BODY[] cannot carry NUL: sent as 0x80, as before.
    let r = c.cmd_bytes("FETCH 1 (BODY.PEEK[TEXT])");
    assert_eq!(
        r[0],
        b"* 1 FETCH (BODY[TEXT] {7}\r\na\x80b\x80c\r\n)".to_vec()
    );
    // A non-synchronising literal8 works too.
    let tag = c.tag();
    c.send(format!("{tag} APPEND INBOX ~{{{}+}}\r\n", raw.len()).as_bytes());
    c.send(raw);
    c.send(b"\r\n");
    let r = c.until_tagged(&tag);
    assert!(r.last().unwrap().starts_with("TAG OK [APPENDUID "), "{r:?}");
    // In an ordinary literal NUL is not allowed (RFC 3501 CHAR8): BAD, saying why. (Dovecot
    // accepts it.) Nothing is stored.
    assert_eq!(
        c.cmd_literal("APPEND INBOX", raw, ""),
        vec!["TAG BAD NUL in a literal: use literal8 (~{n}) for binary content"]
    );
    assert_eq!(
        c.cmd_literal("APPEND INBOX (\\Seen)", raw, ""),
        vec!["TAG BAD NUL in a literal: use literal8 (~{n}) for binary content"]
    );
    assert_eq!(
        c.cmd("STATUS INBOX (MESSAGES)"),
        vec!["* STATUS INBOX (MESSAGES 2)", "TAG OK STATUS completed"]
    );
}

// ---- ESEARCH ---------------------------------------------------------------------------

/// INBOX with six messages; 1, 3, 4 and 6 are \Seen, 2 and 5 \Flagged. Returns the client with
/// INBOX selected.
fn search_mailbox(srv: &TestServer) -> Client {
    let mut c = srv.login(ALICE);
    for (i, flags) in [
        "\\Seen",
        "\\Flagged",
        "\\Seen",
        "\\Seen",
        "\\Flagged",
        "\\Seen",
    ]
    .iter()
    .enumerate()
    {
        let r = c.append("INBOX", flags, &message(&format!("s{}", i + 1), "text"));
        assert!(r.starts_with("TAG OK"), "{r}");
    }
    c.cmd("SELECT INBOX");
    c
}

/// Send `command` with tag "T1"... and return the lines, the tagged one with "TAG".
fn tagged(c: &mut Client, command: &str) -> (String, Vec<String>) {
    let tag = format!("t{}", c.peek_tag());
    (tag, c.cmd(command))
}

#[test]
fn esearch_return_options() {
    let dir = TempDir::new("esearch");
    let srv = TestServer::start(&dir);
    let mut c = search_mailbox(&srv);
    let caps = c.cmd("CAPABILITY");
    assert!(caps[0].split(' ').any(|w| w == "ESEARCH"), "{caps:?}");
    let cases = [
        (
            "SEARCH RETURN (MIN MAX COUNT ALL) SEEN",
            " MIN 1 MAX 6 COUNT 4 ALL 1,3:4,6",
        ),
        ("SEARCH RETURN (ALL MIN) SEEN", " MIN 1 ALL 1,3:4,6"),
        ("SEARCH RETURN (COUNT) SEEN", " COUNT 4"),
        ("SEARCH RETURN (MAX) FLAGGED", " MAX 5"),
        // RETURN () is ALL (RFC 4731 §3.1).
        ("SEARCH RETURN () FLAGGED", " ALL 2,5"),
        (
            "search return (count all) charset utf-8 all",
            " COUNT 6 ALL 1:6",
        ),
        // No match: MIN, MAX and ALL are left out, COUNT is 0.
        ("SEARCH RETURN (MIN MAX COUNT ALL) DELETED", " COUNT 0"),
        ("SEARCH RETURN (MIN MAX ALL) DELETED", ""),
        (
            "UID SEARCH RETURN (MIN MAX COUNT ALL) UNSEEN",
            " UID MIN 2 MAX 5 COUNT 2 ALL 2,5",
        ),
    ];
    for (command, want) in cases {
        let (tag, r) = tagged(&mut c, command);
        let ok = if command.starts_with("UID") {
            "TAG OK UID SEARCH completed"
        } else {
            "TAG OK SEARCH completed"
        };
        assert_eq!(
            r,
            vec![format!("* ESEARCH (TAG \"{tag}\"){want}"), ok.to_string()],
            "{command}"
        );
    }
    // The criteria go through the ordinary SEARCH parser: a literal works, errors are errors.
    let tag = c.tag();
    c.send(format!("{tag} SEARCH RETURN (COUNT) SUBJECT {{2}}\r\n").as_bytes());
    assert!(c.read_line().starts_with('+'));
    c.send(b"s3\r\n");
    assert_eq!(
        c.until_tagged(&tag),
        vec![
            format!("* ESEARCH (TAG \"{tag}\") COUNT 1"),
            "TAG OK SEARCH completed".into()
        ]
    );
    for bad in [
        "SEARCH RETURN (FOO) ALL",
        "SEARCH RETURN ALL",
        "SEARCH RETURN (COUNT)",
        "SEARCH RETURN (COUNT) FROBNICATE",
        "SEARCH RETURN (COUNT) SEEN)",
    ] {
        let r = c.cmd(bad);
        assert_eq!(r.len(), 1, "{bad}: {r:?}");
        assert!(r[0].starts_with("TAG BAD"), "{bad}: {r:?}");
    }
    let r = c.cmd("SEARCH RETURN (COUNT) CHARSET KOI8-R ALL");
    assert!(r[0].starts_with("TAG NO [BADCHARSET"), "{r:?}");
    // UID SEARCH of UIDs beyond sequence numbers: after an expunge the two differ.
    c.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)");
    c.cmd("EXPUNGE");
    let (tag, r) = tagged(&mut c, "SEARCH RETURN (ALL) SEEN");
    assert_eq!(r[0], format!("* ESEARCH (TAG \"{tag}\") ALL 2:3,5"));
    let (tag, r) = tagged(&mut c, "UID SEARCH RETURN (ALL MIN) SEEN");
    assert_eq!(
        r[0],
        format!("* ESEARCH (TAG \"{tag}\") UID MIN 3 ALL 3:4,6")
    );
    // Plain SEARCH is unchanged.
    assert_eq!(
        c.cmd("SEARCH SEEN"),
        vec!["* SEARCH 2 3 5", "TAG OK SEARCH completed"]
    );
    // Needs a selected mailbox.
    c.cmd("UNSELECT");
    let r = c.cmd("SEARCH RETURN (COUNT) ALL");
    assert!(
        r[0].starts_with("TAG BAD") && r[0].contains("selected"),
        "{r:?}"
    );
}

// ---- Real client: Python's IMAPClient --------------------------------------------------

const IMAPCLIENT_SCRIPT: &str = r#"
import datetime, sys
from imapclient import IMAPClient
c = IMAPClient("127.0.0.1", port=int(sys.argv[1]), ssl=False)
c.login("alice", "wonderland")
for cap in (b"ESEARCH", b"WITHIN"):
    assert c.has_capability(cap), (cap, c.capabilities())
now = datetime.datetime.now(datetime.timezone.utc)
for i, age in enumerate([3 * 86400, 7200, 60]):
    flags = [] if i == 1 else [b"\\Seen"]
    c.append("INBOX", b"Subject: m%d\r\n\r\nbody\r\n" % i, flags=flags,
             msg_time=now - datetime.timedelta(seconds=age))
c.select_folder("INBOX")
print("YOUNGER", sorted(c.search(["YOUNGER", 3600])))
print("OLDER", sorted(c.search(["OLDER", 3600])))
print("WINDOW", sorted(c.search(["OLDER", 600, "YOUNGER", 86400])))
# IMAPClient has no RETURN options: send through its imaplib connection and read the
# untagged ESEARCH it collected.
imap = c._imap
typ, _ = imap._simple_command("SEARCH", "RETURN", "(MIN MAX COUNT ALL)", "SEEN")
assert typ == "OK", typ
print("ESEARCH", imap.untagged_responses.pop("ESEARCH")[0].decode())
typ, _ = imap.uid("SEARCH", "RETURN", "(COUNT)", "UNSEEN")
assert typ == "OK", typ
print("UID ESEARCH", imap.untagged_responses.pop("ESEARCH")[0].decode())
typ, _ = imap._simple_command("SEARCH", "RETURN", "(MIN MAX ALL)", "DELETED")
print("NONE", imap.untagged_responses.pop("ESEARCH")[0].decode())
c.logout()
print("DONE")
"#;

#[test]
fn imapclient_esearch_and_within() {
    let dir = TempDir::new("imapclient-esearch");
    let srv = TestServer::start(&dir);
    let stdout = python(IMAPCLIENT_SCRIPT, &[&srv.port.to_string()]);
    // imaplib numbers its tags itself; compare without them.
    let lines: Vec<String> = stdout
        .lines()
        .map(|l| {
            let Some(at) = l.find("(TAG \"") else {
                return l.to_string();
            };
            let end = l[at + 6..]
                .find('"')
                .map(|e| at + 6 + e + 2)
                .unwrap_or(l.len());
            format!("{}(TAG){}", &l[..at], &l[end..])
        })
        .collect();
    assert_eq!(
        lines,
        vec![
            "YOUNGER [3]",
            "OLDER [1, 2]",
            "WINDOW [2]",
            "ESEARCH (TAG) MIN 1 MAX 3 COUNT 2 ALL 1,3",
            "UID ESEARCH (TAG) UID COUNT 1",
            "NONE (TAG)",
            "DONE"
        ]
    );
}

// ---- SEARCHRES -------------------------------------------------------------------------

#[test]
fn searchres_save_and_dollar() {
    let dir = TempDir::new("searchres");
    let srv = TestServer::start(&dir);
    let mut c = search_mailbox(&srv);
    let caps = c.cmd("CAPABILITY");
    assert!(caps[0].split(' ').any(|w| w == "SEARCHRES"), "{caps:?}");
    // Before any SAVE, $ is empty: no data, no error.
    assert_eq!(
        c.cmd("FETCH $ (FLAGS)"),
        vec!["TAG OK FETCH completed (the saved search result is empty)"]
    );
    assert_eq!(
        c.cmd("SEARCH $"),
        vec!["* SEARCH", "TAG OK SEARCH completed"]
    );
    // SAVE alone: no ESEARCH response (RFC 5182 §2.4), just OK.
    assert_eq!(
        c.cmd("SEARCH RETURN (SAVE) FLAGGED"),
        vec!["TAG OK SEARCH completed"]
    );
    assert_eq!(
        c.cmd("FETCH $ (FLAGS)"),
        vec![
            "* 2 FETCH (FLAGS (\\Flagged \\Recent))",
            "* 5 FETCH (FLAGS (\\Flagged \\Recent))",
            "TAG OK FETCH completed"
        ]
    );
    assert_eq!(
        c.cmd("UID FETCH $ (UID)"),
        vec![
            "* 2 FETCH (UID 2)",
            "* 5 FETCH (UID 5)",
            "TAG OK UID FETCH completed"
        ]
    );
    // With MIN (and neither ALL nor COUNT) only the minimum is saved; with ALL, everything.
    let (tag, r) = tagged(&mut c, "SEARCH RETURN (MIN SAVE) SEEN");
    assert_eq!(r[0], format!("* ESEARCH (TAG \"{tag}\") MIN 1"));
    assert_eq!(
        c.cmd("SEARCH $"),
        vec!["* SEARCH 1", "TAG OK SEARCH completed"]
    );
    let (tag, r) = tagged(&mut c, "SEARCH RETURN (MIN MAX SAVE) SEEN");
    assert_eq!(r[0], format!("* ESEARCH (TAG \"{tag}\") MIN 1 MAX 6"));
    assert_eq!(
        c.cmd("SEARCH $"),
        vec!["* SEARCH 1 6", "TAG OK SEARCH completed"]
    );
    let (tag, r) = tagged(&mut c, "UID SEARCH RETURN (SAVE ALL) SEEN");
    assert_eq!(r[0], format!("* ESEARCH (TAG \"{tag}\") UID ALL 1,3:4,6"));
    // $ inside criteria: as a sequence set, after UID, under NOT and OR; a "$" string is text.
    for (criteria, want) in [
        ("$", "* SEARCH 1 3 4 6"),
        ("$ SUBJECT s3", "* SEARCH 3"),
        ("NOT $", "* SEARCH 2 5"),
        ("OR $ FLAGGED", "* SEARCH 1 2 3 4 5 6"),
        ("UID $", "* SEARCH 1 3 4 6"),
        ("SUBJECT $", "* SEARCH"),
    ] {
        assert_eq!(
            c.cmd(&format!("SEARCH {criteria}")),
            vec![want.to_string(), "TAG OK SEARCH completed".into()],
            "{criteria}"
        );
    }
    // A saved result survives a new SEARCH without SAVE, and drives STORE.
    c.cmd("SEARCH FLAGGED");
    assert_eq!(
        c.cmd("STORE $ +FLAGS (\\Answered)"),
        vec![
            "* 1 FETCH (FLAGS (\\Answered \\Seen \\Recent))",
            "* 3 FETCH (FLAGS (\\Answered \\Seen \\Recent))",
            "* 4 FETCH (FLAGS (\\Answered \\Seen \\Recent))",
            "* 6 FETCH (FLAGS (\\Answered \\Seen \\Recent))",
            "TAG OK STORE completed"
        ]
    );
    // After an EXPUNGE the saved messages keep their identity: sequence numbers move, the
    // expunged one drops out.
    c.cmd("STORE 3 +FLAGS.SILENT (\\Deleted)");
    assert_eq!(
        c.cmd("EXPUNGE"),
        vec!["* 3 EXPUNGE", "TAG OK EXPUNGE completed"]
    );
    assert_eq!(
        c.cmd("FETCH $ (UID)"),
        vec![
            "* 1 FETCH (UID 1)",
            "* 3 FETCH (UID 4)",
            "* 5 FETCH (UID 6)",
            "TAG OK FETCH completed"
        ]
    );
    assert_eq!(
        c.cmd("UID SEARCH $"),
        vec!["* SEARCH 1 4 6", "TAG OK UID SEARCH completed"]
    );
    // COPY $ (with COPYUID), UID STORE $ and UID EXPUNGE $.
    c.cmd("CREATE Saved");
    let r = c.cmd("COPY $ Saved");
    assert!(
        r[0].starts_with("TAG OK [COPYUID ") && r[0].contains(" 1,4,6 1:3]"),
        "{r:?}"
    );
    c.cmd("UID STORE $ +FLAGS.SILENT (\\Deleted)");
    assert_eq!(
        c.cmd("UID EXPUNGE $"),
        vec![
            "* 1 EXPUNGE",
            "* 2 EXPUNGE",
            "* 3 EXPUNGE",
            "TAG OK EXPUNGE completed"
        ]
    );
    // Everything saved is gone now: $ is empty.
    assert_eq!(
        c.cmd("SEARCH $"),
        vec!["* SEARCH", "TAG OK SEARCH completed"]
    );
    // Pipelined: SAVE then FETCH $ in one write are run in order.
    let (t1, t2) = (c.tag(), c.tag());
    c.send(format!("{t1} SEARCH RETURN (SAVE) ALL\r\n{t2} FETCH $ (UID)\r\n").as_bytes());
    assert_eq!(c.until_tagged(&t1), vec!["TAG OK SEARCH completed"]);
    assert_eq!(
        c.until_tagged(&t2),
        vec![
            "* 1 FETCH (UID 2)",
            "* 2 FETCH (UID 5)",
            "TAG OK FETCH completed"
        ]
    );
    // A failed SAVE search empties $ (RFC 5182 §2.1): NO and BAD alike.
    let r = c.cmd("SEARCH RETURN (SAVE) CHARSET KOI8-R ALL");
    assert!(r[0].starts_with("TAG NO [BADCHARSET"), "{r:?}");
    assert_eq!(
        c.cmd("SEARCH $"),
        vec!["* SEARCH", "TAG OK SEARCH completed"]
    );
    c.cmd("SEARCH RETURN (SAVE) ALL");
    let r = c.cmd("SEARCH RETURN (SAVE) FROBNICATE");
    assert!(r[0].starts_with("TAG BAD"), "{r:?}");
    assert_eq!(
        c.cmd("SEARCH $"),
        vec!["* SEARCH", "TAG OK SEARCH completed"]
    );
    // SELECT, EXAMINE, UNSELECT and CLOSE reset it.
    for reset in ["SELECT INBOX", "EXAMINE INBOX", "UNSELECT", "CLOSE"] {
        c.cmd("SELECT INBOX");
        c.cmd("SEARCH RETURN (SAVE) ALL");
        assert_eq!(
            c.cmd("SEARCH $"),
            vec!["* SEARCH 1 2", "TAG OK SEARCH completed"]
        );
        c.cmd(reset);
        c.cmd("SELECT INBOX");
        assert_eq!(
            c.cmd("SEARCH $"),
            vec!["* SEARCH", "TAG OK SEARCH completed"],
            "after {reset}"
        );
    }
    // $ is a whole sequence set, never part of one; and needs a selected mailbox.
    let r = c.cmd("FETCH 1,$ (UID)");
    assert!(r[0].starts_with("TAG BAD"), "{r:?}");
    c.cmd("UNSELECT");
    let r = c.cmd("FETCH $ (UID)");
    assert!(
        r[0].starts_with("TAG BAD") && r[0].contains("selected"),
        "{r:?}"
    );
}

// ---- MULTIAPPEND -----------------------------------------------------------------------

/// MESSAGES and UIDNEXT of INBOX.
fn inbox_status(c: &mut Client) -> String {
    c.cmd("STATUS INBOX (MESSAGES UIDNEXT)").remove(0)
}

/// Send a whole command at once (non-synchronising literals) and return its lines.
fn send_whole(c: &mut Client, command: &[u8]) -> Vec<String> {
    let tag = c.tag();
    let mut line = format!("{tag} ").into_bytes();
    line.extend_from_slice(command);
    c.send(&line);
    c.until_tagged(&tag)
}

#[test]
fn multiappend_all_or_nothing() {
    let dir = TempDir::new("multiappend");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    let caps = c.cmd("CAPABILITY");
    assert!(caps[0].split(' ').any(|w| w == "MULTIAPPEND"), "{caps:?}");
    // One message first, so the set of new UIDs does not start at 1.
    assert!(c
        .append("INBOX", "", &message("zero", "x"))
        .starts_with("TAG OK"));
    // Three messages with synchronising literals: a "+" for each.
    let (m1, m2, m3) = (
        message("one", "1"),
        message("two", "2"),
        message("three", "3"),
    );
    let tag = c.tag();
    c.send(format!("{tag} APPEND INBOX (\\Seen) {{{}}}\r\n", m1.len()).as_bytes());
    assert!(c.read_line().starts_with('+'));
    c.send(&m1);
    c.send(
        format!(
            " (\\Flagged $Work) \"05-Mar-2021 08:30:00 +0100\" {{{}}}\r\n",
            m2.len()
        )
        .as_bytes(),
    );
    assert!(c.read_line().starts_with('+'));
    c.send(&m2);
    c.send(format!(" {{{}}}\r\n", m3.len()).as_bytes());
    assert!(c.read_line().starts_with('+'));
    c.send(&m3);
    c.send(b"\r\n");
    let r = c.until_tagged(&tag);
    let uidvalidity = r[0]
        .strip_prefix("TAG OK [APPENDUID ")
        .and_then(|t| t.split(' ').next())
        .unwrap_or_else(|| panic!("{r:?}"))
        .to_string();
    assert_eq!(
        r,
        vec![format!(
            "TAG OK [APPENDUID {uidvalidity} 2:4] APPEND completed"
        )]
    );
    c.cmd("SELECT INBOX");
    assert_eq!(
        c.cmd("FETCH 2:4 (FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (SUBJECT)])")[1],
        "* 3 FETCH (FLAGS (\\Flagged $Work \\Recent) INTERNALDATE \"05-Mar-2021 08:30:00 +0100\" BODY[HEADER.FIELDS (SUBJECT)] {16}\r\nSubject: two\r\n\r\n)"
    );
    let r = c.cmd("UID FETCH 2,4 (FLAGS RFC822.SIZE)");
    assert_eq!(
        r[..2],
        [
            format!(
                "* 2 FETCH (UID 2 FLAGS (\\Seen \\Recent) RFC822.SIZE {})",
                m1.len()
            ),
            format!(
                "* 4 FETCH (UID 4 FLAGS (\\Recent) RFC822.SIZE {})",
                m3.len()
            ),
        ]
    );
    c.cmd("UNSELECT");

    // One bad message among three: nothing is stored, UIDNEXT does not move.
    let before = inbox_status(&mut c);
    let with = |second: &[u8], flags3: &str| {
        let mut cmd = format!("APPEND INBOX {{{}+}}\r\n", m1.len()).into_bytes();
        cmd.extend_from_slice(&m1);
        cmd.extend_from_slice(format!(" {{{}+}}\r\n", second.len()).as_bytes());
        cmd.extend_from_slice(second);
        cmd.extend_from_slice(format!(" ({flags3}) {{{}+}}\r\n", m3.len()).as_bytes());
        cmd.extend_from_slice(&m3);
        cmd.extend_from_slice(b"\r\n");
        cmd
    };
    let r = send_whole(&mut c, &with(b"", "\\Seen"));
    assert!(
        r[0].starts_with("TAG NO [CANNOT] Message 2 is empty"),
        "{r:?}"
    );
    let r = send_whole(&mut c, &with(&m2, "\\Bogus"));
    assert!(r[0].starts_with("TAG BAD Message 3: "), "{r:?}");
    let mut bad_date = format!("APPEND INBOX {{{}+}}\r\n", m1.len()).into_bytes();
    bad_date.extend_from_slice(&m1);
    bad_date.extend_from_slice(
        format!(" \"31-Foo-2021 00:00:00 +0000\" {{{}+}}\r\n", m2.len()).as_bytes(),
    );
    bad_date.extend_from_slice(&m2);
    bad_date.extend_from_slice(b"\r\n");
    let r = send_whole(&mut c, &bad_date);
    assert!(r[0].starts_with("TAG BAD Message 2 of APPEND"), "{r:?}");
    assert_eq!(inbox_status(&mut c), before);

    // A folder that does not exist: [TRYCREATE], nothing created.
    let mut cmd = format!("APPEND Nowhere {{{}+}}\r\n", m1.len()).into_bytes();
    cmd.extend_from_slice(&m1);
    cmd.extend_from_slice(format!(" {{{}+}}\r\n", m2.len()).as_bytes());
    cmd.extend_from_slice(&m2);
    cmd.extend_from_slice(b"\r\n");
    let r = send_whole(&mut c, &cmd);
    assert!(r[0].starts_with("TAG NO [TRYCREATE]"), "{r:?}");
    assert!(c.cmd("STATUS Nowhere (MESSAGES)")[0].starts_with("TAG NO"));

    // literal8 among them, into the selected mailbox: EXISTS arrives with the OK.
    c.cmd("SELECT INBOX");
    let bin = b"Subject: bin\r\n\r\n\x00\x01\r\n";
    let mut cmd = format!("APPEND INBOX {{{}+}}\r\n", m1.len()).into_bytes();
    cmd.extend_from_slice(&m1);
    cmd.extend_from_slice(format!(" ~{{{}+}}\r\n", bin.len()).as_bytes());
    cmd.extend_from_slice(bin);
    cmd.extend_from_slice(b"\r\n");
    let r = send_whole(&mut c, &cmd);
    assert_eq!(r[0], "* 6 EXISTS");
    assert_eq!(
        r.last().unwrap(),
        &format!("TAG OK [APPENDUID {uidvalidity} 5:6] APPEND completed")
    );
    let r = c.cmd_bytes("FETCH 6 (BINARY.PEEK[1])");
    assert_eq!(r[0], b"* 6 FETCH (BINARY[1] ~{4}\r\n\x00\x01\r\n)".to_vec());
}

#[test]
fn multiappend_size_limits() {
    let dir = TempDir::new("multiappend-limits");
    let srv = TestServer::start_with(
        &dir,
        liteimap::server::Config {
            auth_failure_delay: std::time::Duration::ZERO,
            limits: liteimap::imap::conn::Limits {
                max_line: 1024,
                max_literal: 1000,
                ..Default::default()
            },
            ..Default::default()
        },
    );
    let mut c = srv.login(ALICE);
    let before = inbox_status(&mut c);
    // A literal over the limit, announced after the first message: refused by tag before it
    // is sent, and nothing stored.
    let m1 = message("one", "1");
    let tag = c.tag();
    c.send(format!("{tag} APPEND INBOX {{{}}}\r\n", m1.len()).as_bytes());
    assert!(c.read_line().starts_with('+'));
    c.send(&m1);
    c.send(b" {5000}\r\n");
    let r = c.until_tagged(&tag);
    assert!(r[0].starts_with("TAG NO [TOOBIG]"), "{r:?}");
    // Messages each under the limit that together exceed the command size limit.
    let big = message("big", &"x".repeat(700));
    assert!(big.len() < 1000);
    let mut cmd = b"APPEND INBOX".to_vec();
    for _ in 0..5 {
        cmd.extend_from_slice(format!(" {{{}+}}\r\n", big.len()).as_bytes());
        cmd.extend_from_slice(&big);
    }
    cmd.extend_from_slice(b"\r\n");
    let r = send_whole(&mut c, &cmd);
    assert!(r.last().unwrap().starts_with("TAG NO [TOOBIG]"), "{r:?}");
    assert_eq!(inbox_status(&mut c), before);
    // The connection is still in step.
    assert_eq!(c.cmd("NOOP"), vec!["TAG OK NOOP completed"]);
}
