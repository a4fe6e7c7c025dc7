//! URLAUTH (RFC 4467), URLAUTH=BINARY (RFC 5524), URL-PARTIAL (RFC 5550): GENURLAUTH signs a
//! URL to one's own message; URLFETCH answers it to the users it authorizes and NIL to
//! everyone else; RESETKEY, ;EXPIRE= and tampering end it.

mod common;

use common::{Client, TempDir, TestServer, ALICE, BOB};

const MSG: &[u8] = b"From: a@example.com\r\nSubject: urlauth\r\nMIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"b\"\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nfirst\r\n--b\r\nContent-Type: application/octet-stream\r\nContent-Transfer-Encoding: base64\r\n\r\nAGhlbGxv\r\n--b--\r\n";

fn ok(lines: &[String]) {
    assert!(lines.last().unwrap().starts_with("TAG OK"), "{lines:?}");
}

fn send(c: &mut Client, command: &str) -> Vec<String> {
    c.cmd(command)
}

/// GENURLAUTH one URL; returns the authorized URL.
fn authorize(c: &mut Client, url: &str) -> String {
    let lines = send(c, &format!("GENURLAUTH \"{url}\" INTERNAL"));
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert_eq!(lines[1], "TAG OK GENURLAUTH completed");
    let got = lines[0]
        .strip_prefix("* GENURLAUTH \"")
        .and_then(|l| l.strip_suffix('"'))
        .unwrap()
        .to_string();
    let (rump, token) = got.rsplit_once(":internal:").unwrap();
    assert_eq!(rump, url);
    assert_eq!(token.len(), 64);
    assert!(token.bytes().all(|b| b.is_ascii_hexdigit()));
    got
}

fn urlfetch(c: &mut Client, url: &str) -> Vec<String> {
    send(c, &format!("URLFETCH \"{url}\""))
}

fn nil(url: &str) -> Vec<String> {
    vec![
        format!("* URLFETCH \"{url}\" NIL"),
        "TAG OK URLFETCH completed".into(),
    ]
}

fn setup() -> (TempDir, TestServer, Client, Client, Client, String) {
    let dir = TempDir::new("urlauth");
    let srv = TestServer::start(&dir);
    let hash = liteimap::password::hash(b"carolpw").unwrap();
    srv.ctx.store.create_user("carol", &hash).unwrap();
    let mut a = srv.login(ALICE);
    let b = srv.login(BOB);
    let c = srv.login(("carol", "carolpw"));
    assert!(a.append("INBOX", "", MSG).contains("OK"));
    let v = a.cmd("STATUS INBOX (UIDVALIDITY)")[0]
        .rsplit_once(' ')
        .unwrap()
        .1
        .trim_end_matches(')')
        .to_string();
    (dir, srv, a, b, c, v)
}

#[test]
fn user_access_fetch_and_refusals() {
    let (_dir, _srv, mut a, mut b, mut c, v) = setup();
    let base = format!("imap://alice@localhost/INBOX;UIDVALIDITY={v}/;UID=1");
    let url = authorize(&mut a, &format!("{base};URLAUTH=user+bob"));
    // Bob, whom it names, gets the message.
    assert_eq!(
        urlfetch(&mut b, &url),
        vec![
            format!(
                "* URLFETCH \"{url}\" {{{}}}\r\n{}",
                MSG.len(),
                String::from_utf8_lossy(MSG)
            ),
            "TAG OK URLFETCH completed".into()
        ]
    );
    // Nobody else: not carol, not even alice, the owner.
    assert_eq!(urlfetch(&mut c, &url), nil(&url));
    assert_eq!(urlfetch(&mut a, &url), nil(&url));
    // A changed token, or the token on another URL, authorizes nothing.
    let (rump, token) = url.rsplit_once(":internal:").unwrap();
    let flipped = format!(
        "{rump}:internal:{}{}",
        if token.starts_with('0') { "1" } else { "0" },
        &token[1..]
    );
    assert_eq!(urlfetch(&mut b, &flipped), nil(&flipped));
    let other = url.replacen(";UID=1", ";UID=2", 1);
    assert_eq!(urlfetch(&mut b, &other), nil(&other));
    let as_carol = url.replacen("user+bob", "user+carol", 1);
    assert_eq!(urlfetch(&mut c, &as_carol), nil(&as_carol));
    // Without the token the URL is not authorized at all.
    assert_eq!(urlfetch(&mut b, rump), nil(rump));
    // RESETKEY: every URL signed with the old key is dead.
    ok(&a.cmd("RESETKEY INBOX"));
    assert_eq!(urlfetch(&mut b, &url), nil(&url));
    // A new one works again, with another token.
    let again = authorize(&mut a, &format!("{base};URLAUTH=user+bob"));
    assert_ne!(again, url);
    assert!(urlfetch(&mut b, &again)[0].ends_with(&format!(
        "{{{}}}\r\n{}",
        MSG.len(),
        String::from_utf8_lossy(MSG)
    )));
    ok(&a.cmd("RESETKEY"));
    assert_eq!(urlfetch(&mut b, &again), nil(&again));
    assert_eq!(
        a.cmd("RESETKEY Nope"),
        vec!["TAG NO [NONEXISTENT] No such mailbox: Nope"]
    );
}

#[test]
fn authuser_anonymous_submit_and_expire() {
    let (_dir, _srv, mut a, mut b, mut c, _v) = setup();
    let base = "imap://alice@localhost/INBOX/;UID=1/;SECTION=1";
    for access in ["authuser", "anonymous"] {
        let url = authorize(&mut a, &format!("{base};URLAUTH={access}"));
        for who in [&mut b, &mut c, &mut a] {
            assert_eq!(
                urlfetch(who, &url),
                vec![
                    format!("* URLFETCH \"{url}\" {{5}}\r\nfirst"),
                    "TAG OK URLFETCH completed".to_string()
                ]
            );
        }
    }
    // submit+bob is for a submission server, which this server does not have.
    let url = authorize(&mut a, &format!("{base};URLAUTH=submit+bob"));
    assert_eq!(urlfetch(&mut b, &url), nil(&url));
    // ;EXPIRE= ahead works; in the past it cannot even be made.
    let url = authorize(
        &mut a,
        &format!("{base};EXPIRE=2999-01-01T00:00:00Z;URLAUTH=user+bob"),
    );
    assert_eq!(
        urlfetch(&mut b, &url)[0],
        format!("* URLFETCH \"{url}\" {{5}}\r\nfirst")
    );
    assert_eq!(
        a.cmd(&format!(
            "GENURLAUTH \"{base};EXPIRE=2000-01-01T00:00:00Z;URLAUTH=user+bob\" INTERNAL"
        )),
        vec!["TAG NO GENURLAUTH: ;EXPIRE= is invalid or in the past"]
    );
    // A URL with an expiry made up later does not match its token.
    let moved = url.replacen("2999", "3000", 1);
    assert_eq!(urlfetch(&mut b, &moved), nil(&moved));
}

#[test]
fn genurlauth_refusals() {
    let (_dir, _srv, mut a, mut b, _c, _v) = setup();
    assert!(b
        .append("INBOX", "", b"Subject: bob\r\n\r\nbob's\r\n")
        .contains("OK"));
    // Only one's own messages can be authorized.
    assert_eq!(
        a.cmd("GENURLAUTH \"imap://bob@localhost/INBOX/;UID=1;URLAUTH=user+alice\" INTERNAL"),
        vec!["TAG NO GENURLAUTH: the URL must name your own user (imap://you@host/...)"]
    );
    assert_eq!(
        a.cmd("GENURLAUTH \"imap://alice@localhost/INBOX/;UID=9;URLAUTH=authuser\" INTERNAL"),
        vec!["TAG NO GENURLAUTH: no such message"]
    );
    assert_eq!(
        a.cmd("GENURLAUTH \"imap://alice@localhost/Nope/;UID=1;URLAUTH=authuser\" INTERNAL"),
        vec!["TAG NO GENURLAUTH: no such mailbox"]
    );
    assert_eq!(
        a.cmd("GENURLAUTH \"/INBOX/;UID=1;URLAUTH=authuser\" INTERNAL"),
        vec!["TAG BAD GENURLAUTH: the URL must be absolute (imap://user@host/mailbox/;UID=...)"]
    );
    assert_eq!(
        a.cmd("GENURLAUTH \"imap://alice@localhost/INBOX/;UID=1\" INTERNAL"),
        vec!["TAG BAD GENURLAUTH: the URL has no ;URLAUTH= access identifier"]
    );
    assert_eq!(
        a.cmd("GENURLAUTH \"imap://alice@localhost/INBOX/;UID=1;URLAUTH=everyone\" INTERNAL"),
        vec!["TAG BAD GENURLAUTH: invalid access identifier everyone"]
    );
    assert_eq!(
        a.cmd("GENURLAUTH \"imap://alice@localhost/INBOX/;UID=1;URLAUTH=authuser\" XSHA1"),
        vec!["TAG NO GENURLAUTH: unknown mechanism XSHA1 (INTERNAL is supported)"]
    );
    // Before login, none of it.
    let mut anon = Client::connect(_srv.port);
    anon.read_line();
    assert_eq!(
        anon.cmd("URLFETCH \"x\""),
        vec!["TAG BAD URLFETCH needs a login first"]
    );
}

#[test]
fn binary_bodypartstructure_and_partial() {
    let (_dir, _srv, mut a, mut b, _c, _v) = setup();
    let url = authorize(
        &mut a,
        "imap://alice@localhost/INBOX/;UID=1/;SECTION=2;URLAUTH=authuser",
    );
    let lines = b.cmd_bytes(&format!("URLFETCH (\"{url}\" BODYPARTSTRUCTURE BINARY)"));
    let mut want = format!(
        "* URLFETCH (\"{url}\" (BODYPARTSTRUCTURE (\"application\" \"octet-stream\" NIL NIL NIL \"base64\" 8 NIL NIL NIL NIL)) (BINARY ~{{6}}\r\n"
    )
    .into_bytes();
    want.extend_from_slice(b"\x00hello))");
    assert_eq!(lines[0], want, "{}", String::from_utf8_lossy(&lines[0]));
    // URL-PARTIAL: a range of the part (here of its encoded bytes, as BODY gives them).
    let url = authorize(
        &mut a,
        "imap://alice@localhost/INBOX/;UID=1/;SECTION=2/;PARTIAL=1.4;URLAUTH=authuser",
    );
    assert_eq!(
        b.cmd(&format!("URLFETCH (\"{url}\" BODY)")),
        vec![
            format!("* URLFETCH (\"{url}\" (BODY {{4}}\r\nGhlb))"),
            "TAG OK URLFETCH completed".into()
        ]
    );
    let lines = b.cmd_bytes(&format!("URLFETCH (\"{url}\" BINARY)"));
    assert_eq!(
        lines[0],
        format!("* URLFETCH (\"{url}\" (BINARY {{4}}\r\nhell))").into_bytes()
    );
    // Refused in the extended form: NIL in its place.
    let bad = url.replacen("authuser", "user+nobody", 1);
    assert_eq!(
        b.cmd(&format!("URLFETCH (\"{bad}\" BODYPARTSTRUCTURE)"))[0],
        format!("* URLFETCH (\"{bad}\" NIL)")
    );
}

#[test]
fn catenate_with_an_authorized_url() {
    let (_dir, _srv, mut a, mut b, mut c, _v) = setup();
    let url = authorize(
        &mut a,
        "imap://alice@localhost/INBOX/;UID=1/;SECTION=1;URLAUTH=user+bob",
    );
    let ok_line = b.cmd(&format!("APPEND Drafts CATENATE (URL \"{url}\")"));
    assert!(ok_line[0].starts_with("TAG OK [APPENDUID "), "{ok_line:?}");
    ok(&b.cmd("EXAMINE Drafts"));
    assert_eq!(
        b.cmd("FETCH 1 BODY.PEEK[]")[0],
        "* 1 FETCH (BODY[] {5}\r\nfirst)"
    );
    // Carol is not authorized: BADURL, with nothing said about alice's folders.
    assert_eq!(
        c.cmd(&format!("APPEND Drafts CATENATE (URL \"{url}\")")),
        vec![format!("TAG NO [BADURL {url}] CATENATE: the URL does not authorize this access; nothing was appended")]
    );
}

/// RFC 4467 §6.1 and §7: SELECT and EXAMINE name the mechanisms (`[URLMECH INTERNAL]`);
/// RESETKEY of a mailbox answers them in its tagged OK, and each other session of the user
/// that has the mailbox selected gets an untagged `OK [URLMECH INTERNAL]` (at once while it
/// idles), the resetting session and other users' sessions none.
#[test]
fn resetkey_tells_the_users_other_sessions_that_have_the_mailbox_selected() {
    let (_dir, srv, mut a, mut b, _c, _v) = setup();
    let mut a2 = srv.login(ALICE);
    let mut a3 = srv.login(ALICE);
    let sel = a2.cmd("EXAMINE INBOX");
    let at = sel
        .iter()
        .position(|l| l.starts_with("* OK [MAILBOXID"))
        .unwrap();
    assert_eq!(sel[at + 1], common::URLMECH);
    assert!(sel[at + 2].starts_with("* OK [HIGHESTMODSEQ "), "{sel:?}");
    assert!(a.cmd("SELECT INBOX").contains(&common::URLMECH.to_string()));
    ok(&a3.cmd("CREATE Other"));
    ok(&a3.cmd("SELECT Other"));
    ok(&b.cmd("SELECT INBOX"));
    assert_eq!(
        a.cmd("RESETKEY INBOX"),
        vec!["TAG OK [URLMECH INTERNAL] RESETKEY completed"]
    );
    assert_eq!(
        a2.cmd("NOOP"),
        vec![
            "* OK [URLMECH INTERNAL] Mailbox access key reset",
            "TAG OK NOOP completed"
        ]
    );
    // Told once; a session with another folder selected, and another user's, hear nothing.
    assert_eq!(a2.cmd("NOOP"), vec!["TAG OK NOOP completed"]);
    assert_eq!(a3.cmd("NOOP"), vec!["TAG OK NOOP completed"]);
    assert_eq!(b.cmd("NOOP"), vec!["TAG OK NOOP completed"]);
    assert_eq!(a.cmd("NOOP"), vec!["TAG OK NOOP completed"]);
    // RESETKEY without a mailbox resets them all: Other's session is told too, while idling.
    let tag = a3.tag();
    a3.send(format!("{tag} IDLE\r\n").as_bytes());
    assert_eq!(a3.read_line(), "+ idling");
    assert_eq!(a.cmd("RESETKEY"), vec!["TAG OK RESETKEY completed"]);
    assert_eq!(
        a3.read_line(),
        "* OK [URLMECH INTERNAL] Mailbox access key reset"
    );
    a3.send(b"DONE\r\n");
    assert_eq!(a3.until_tagged(&tag), vec!["TAG OK IDLE terminated"]);
    assert_eq!(
        a2.cmd("NOOP"),
        vec![
            "* OK [URLMECH INTERNAL] Mailbox access key reset",
            "TAG OK NOOP completed"
        ]
    );
    assert_eq!(b.cmd("NOOP"), vec!["TAG OK NOOP completed"]);
}
