//! Real clients against the server (issue 3): Python's imaplib and curl's imap://.
//! The clients are installed by `.ci/run`; a missing one fails the test.

mod common;
use common::*;

use std::process::Command;

const SCRIPT: &str = r#"
import imaplib, os, sys
port = int(sys.argv[1])
testdata = sys.argv[2]
names = sys.argv[3].split(",")
m = imaplib.IMAP4("127.0.0.1", port)
m.login("alice", "wonderland")
typ, data = m.select("INBOX")
assert typ == "OK" and int(data[0]) == len(names), (typ, data)
for i, name in enumerate(names, 1):
    raw = open(os.path.join(testdata, name + ".eml"), "rb").read()
    raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    typ, data = m.fetch(str(i), "(BODY.PEEK[] RFC822.SIZE)")
    assert typ == "OK", (name, typ, data)
    assert data[0][1] == raw, name
    assert ("RFC822.SIZE %d" % len(raw)).encode() in data[0][0] + data[1], (name, data)
    typ, data = m.uid("fetch", str(i), "(ENVELOPE BODYSTRUCTURE)")
    assert typ == "OK", (name, typ, data)
    expected = open(os.path.join(testdata, name + ".expected"), "rb").read()
    got = b"".join(p if isinstance(p, bytes) else b"".join(p) for p in data)
    env, bs = expected.split(b"\n")[:2] if b"{" not in expected else (None, None)
    if env is not None:
        assert env in got and bs in got, (name, got, expected)
typ, data = m.search(None, "SUBJECT", "meeting")
print("SUBJECT meeting", data[0].decode())
typ, data = m.uid("search", None, "FROM", "example.com")
print("UID FROM example.com", len(data[0].split()))
m.literal = "Grüße".encode("utf-8")
typ, data = m.search("UTF-8", "BODY")
print("BODY Grüße", data[0].decode())
typ, data = m.search(None, "SEEN")
print("SEEN", data[0].decode())
m.store("1", "+FLAGS", "(\\Flagged)")
typ, data = m.search(None, "FLAGGED")
print("FLAGGED", data[0].decode())
m.logout()
print("DONE")
"#;

#[test]
fn python_imaplib() {
    let dir = TempDir::new("imaplib");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    // Fixtures without NUL and of a sane size (imaplib handles the rest, but keep it quick).
    let names: Vec<String> = fixture_names()
        .into_iter()
        .filter(|n| n != "huge-line" && !fixture(n).contains(&0))
        .collect();
    for n in &names {
        assert!(c.append("INBOX", "", &fixture(n)).starts_with("TAG OK"));
    }
    let stdout = python(
        SCRIPT,
        &[
            &srv.port.to_string(),
            &testdata().to_string_lossy(),
            &names.join(","),
        ],
    );
    let pos = |n: &str| names.iter().position(|x| x == n).unwrap() + 1;
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines[0], format!("SUBJECT meeting {}", pos("plain")));
    assert!(lines[1].starts_with("UID FROM example.com "), "{stdout}");
    assert_eq!(lines[2], format!("BODY Grüße {}", pos("encoded-words")));
    // imaplib peeked: nothing became \Seen.
    assert_eq!(lines[3], "SEEN ");
    assert_eq!(lines[4], "FLAGGED 1");
    assert_eq!(lines[5], "DONE");
}

#[test]
fn curl_fetch_by_uid() {
    let dir = TempDir::new("curl");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    c.append("INBOX", "", &message("first", "not this one"));
    let raw = fixture("mixed-attachments");
    let r = c.append("INBOX", "", &raw);
    assert!(r.contains(" 2] "), "{r}");
    let out = Command::new("curl")
        .args(["-s", "--max-time", "20", "--url"])
        .arg(format!("imap://127.0.0.1:{}/INBOX;UID=2", srv.port))
        .args(["--user", "alice:wonderland"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "curl failed: {:?} {}",
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&raw)
    );
    assert_eq!(out.stdout, raw);
}
