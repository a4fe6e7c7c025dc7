//! FETCH and UID FETCH end to end (issue 3): every data item, section and partial form, the
//! \Seen side effect, sequence sets, and the testdata fixtures over the wire.

mod common;
use common::*;

fn concat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Every fixture APPENDed, then `FETCH n (ENVELOPE BODYSTRUCTURE)` must equal X.expected
/// byte for byte (literals included).
#[test]
fn fixtures_over_the_wire() {
    let dir = TempDir::new("fx-wire");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    let names = fixture_names();
    assert!(names.len() >= 25);
    for name in &names {
        let raw = fixture(name);
        if raw.contains(&0) {
            // RFC 3501 literals cannot carry NUL (APPEND answers BAD); such mail arrives by
            // import/delivery, which goes through the same `message::prepare`.
            assert_eq!(
                c.append("INBOX", "", &raw),
                "TAG BAD NUL in a literal: use literal8 (~{n}) for binary content"
            );
            store_message(&srv, "alice", "INBOX", raw);
            continue;
        }
        let r = c.append("INBOX", "", &raw);
        assert!(r.starts_with("TAG OK [APPENDUID "), "{name}: {r}");
    }
    c.cmd("SELECT INBOX");
    let mut failed = Vec::new();
    for (i, name) in names.iter().enumerate() {
        let n = i + 1;
        let (env, bs) = expected(name);
        let want = vec![
            concat(&[format!("* {n} FETCH (").as_bytes(), &env, b" ", &bs, b")"]),
            format!("t{} OK FETCH completed", c.peek_tag()).into_bytes(),
        ];
        let got = c.cmd_bytes(&format!("FETCH {n} (ENVELOPE BODYSTRUCTURE)"));
        if got != want {
            eprintln!(
                "--- {name}\nwant: {:?}\ngot:  {:?}",
                want.iter()
                    .map(|l| String::from_utf8_lossy(l))
                    .collect::<Vec<_>>(),
                got.iter()
                    .map(|l| String::from_utf8_lossy(l))
                    .collect::<Vec<_>>()
            );
            failed.push(name.clone());
        }
    }
    assert!(
        failed.is_empty(),
        "fixtures differ over the wire: {failed:?}"
    );
}

const DATE: &str = "14-Jul-2020 02:44:25 -0700";

/// Three messages: a dated plain one, a message/rfc822 forward, a flagged alternative.
fn three(srv: &TestServer) -> Client {
    let mut c = srv.login(ALICE);
    c.append_dated("INBOX", "", DATE, &message("one", "hello one"));
    c.append("INBOX", "", &fixture("rfc822-nested"));
    c.append("INBOX", "\\Flagged", &fixture("alternative"));
    c
}

fn lit(prefix: &str, body: &str, suffix: &str) -> String {
    format!("{prefix} {{{}}}\r\n{body}{suffix}", body.len())
}

const ONE_HEADER: &str = "From: Alice <alice@example.org>\r\nTo: Bob <bob@example.org>\r\nSubject: one\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <one@example.org>\r\n\r\n";
const ONE_ENVELOPE: &str = r#"ENVELOPE ("Mon, 7 Feb 1994 21:52:25 -0800" "one" (("Alice" NIL "alice" "example.org")) (("Alice" NIL "alice" "example.org")) (("Alice" NIL "alice" "example.org")) (("Bob" NIL "bob" "example.org")) NIL NIL NIL "<one@example.org>")"#;

#[test]
fn metadata_items_and_macros() {
    let dir = TempDir::new("fetch-meta");
    let srv = TestServer::start(&dir);
    let mut c = three(&srv);
    c.cmd("SELECT INBOX");
    let meta = format!(r#"FLAGS (\Recent) INTERNALDATE "{DATE}" RFC822.SIZE 156"#);
    assert_eq!(
        c.cmd("FETCH 1 (FLAGS INTERNALDATE RFC822.SIZE UID)"),
        vec![
            format!("* 1 FETCH ({meta} UID 1)"),
            "TAG OK FETCH completed".into()
        ]
    );
    assert_eq!(c.cmd("FETCH 1 FAST")[0], format!("* 1 FETCH ({meta})"));
    assert_eq!(
        c.cmd("FETCH 1 ALL")[0],
        format!("* 1 FETCH ({meta} {ONE_ENVELOPE})")
    );
    assert_eq!(
        c.cmd("FETCH 1 FULL")[0],
        format!(
            r#"* 1 FETCH ({meta} {ONE_ENVELOPE} BODY ("TEXT" "plain" ("charset" "us-ascii") NIL NIL "7bit" 11 1))"#
        )
    );
    assert_eq!(
        c.cmd("FETCH 3 (FLAGS UID)"),
        vec![
            "* 3 FETCH (FLAGS (\\Flagged \\Recent) UID 3)",
            "TAG OK FETCH completed"
        ]
    );
    // Nothing here was a body fetch: nothing became \Seen.
    assert_eq!(c.cmd("SEARCH SEEN")[0], "* SEARCH");
}

#[test]
fn body_without_extensions() {
    let dir = TempDir::new("fetch-body");
    let srv = TestServer::start(&dir);
    let mut c = three(&srv);
    c.cmd("SELECT INBOX");
    assert_eq!(
        c.cmd("FETCH 3 BODY")[0],
        r#"* 3 FETCH (BODY (("TEXT" "plain" ("charset" "utf-8") NIL NIL "7bit" 30 1)("TEXT" "html" ("charset" "utf-8") NIL NIL "7bit" 70 1) "alternative"))"#
    );
    assert_eq!(
        c.cmd("FETCH 2 BODY")[0],
        r#"* 2 FETCH (BODY (("TEXT" "plain" ("charset" "us-ascii") NIL NIL "7bit" 26 0)("MESSAGE" "RFC822" NIL NIL "forwarded message" "7bit" 220 ("Thu, 04 Jan 2024 18:30:00 +0000" "original" (("Original Sender" NIL "orig" "example.com")) (("Original Sender" NIL "orig" "example.com")) (("Original Sender" NIL "orig" "example.com")) ((NIL NIL "fwd" "example.org")) ((NIL NIL "someone" "example.com")) NIL NIL "<orig-1@example.com>") ("TEXT" "plain" ("charset" "us-ascii") NIL NIL "7bit" 38 1) 8) "mixed"))"#
    );
    // BODY and BODYSTRUCTURE of a leaf differ only by the extension data.
    assert_eq!(
        c.cmd("FETCH 1 (BODY BODYSTRUCTURE)")[0],
        r#"* 1 FETCH (BODY ("TEXT" "plain" ("charset" "us-ascii") NIL NIL "7bit" 11 1) BODYSTRUCTURE ("TEXT" "plain" ("charset" "us-ascii") NIL NIL "7bit" 11 1 NIL NIL NIL NIL))"#
    );
}

#[test]
fn rfc822_items() {
    let dir = TempDir::new("fetch-rfc822");
    let srv = TestServer::start(&dir);
    let mut c = three(&srv);
    c.cmd("SELECT INBOX");
    // RFC822.HEADER is BODY.PEEK[HEADER]: no \Seen.
    assert_eq!(
        c.cmd("FETCH 1 RFC822.HEADER"),
        vec![
            format!("* 1 FETCH ({}", lit("RFC822.HEADER", ONE_HEADER, ")")),
            "TAG OK FETCH completed".into()
        ]
    );
    // RFC822.TEXT is BODY[TEXT]: sets \Seen, reported in the same response.
    assert_eq!(
        c.cmd("FETCH 1 RFC822.TEXT"),
        vec![
            format!(
                "* 1 FETCH ({}",
                lit("RFC822.TEXT", "hello one\r\n", " FLAGS (\\Seen \\Recent))")
            ),
            "TAG OK FETCH completed".into()
        ]
    );
    // RFC822 is BODY[]: message 2 becomes \Seen.
    let raw = String::from_utf8(fixture("rfc822-nested")).unwrap();
    assert_eq!(
        c.cmd("FETCH 2 RFC822"),
        vec![
            format!(
                "* 2 FETCH ({}",
                lit("RFC822", &raw, " FLAGS (\\Seen \\Recent))")
            ),
            "TAG OK FETCH completed".into()
        ]
    );
    // Already \Seen: no extra FLAGS.
    assert_eq!(
        c.cmd("FETCH 2 RFC822.SIZE")[0],
        format!("* 2 FETCH (RFC822.SIZE {})", raw.len())
    );
    assert_eq!(
        c.cmd("FETCH 1 (RFC822.SIZE RFC822)")[0],
        format!(
            "* 1 FETCH (RFC822.SIZE 156 {}",
            lit("RFC822", &format!("{ONE_HEADER}hello one\r\n"), ")")
        )
    );
}

#[test]
fn header_sections() {
    let dir = TempDir::new("fetch-header");
    let srv = TestServer::start(&dir);
    let mut c = three(&srv);
    c.cmd("SELECT INBOX");
    assert_eq!(
        c.cmd("FETCH 1 BODY.PEEK[HEADER]")[0],
        format!("* 1 FETCH ({}", lit("BODY[HEADER]", ONE_HEADER, ")"))
    );
    // Field names match case-insensitively; fields come in message order; the response
    // echoes the names as asked.
    assert_eq!(
        c.cmd("FETCH 1 BODY.PEEK[HEADER.FIELDS (Subject FROM)]")[0],
        format!(
            "* 1 FETCH ({}",
            lit(
                "BODY[HEADER.FIELDS (Subject FROM)]",
                "From: Alice <alice@example.org>\r\nSubject: one\r\n\r\n",
                ")"
            )
        )
    );
    assert_eq!(
        c.cmd("FETCH 1 BODY.PEEK[HEADER.FIELDS.NOT (Subject FROM Date)]")[0],
        format!(
            "* 1 FETCH ({}",
            lit(
                "BODY[HEADER.FIELDS.NOT (Subject FROM Date)]",
                "To: Bob <bob@example.org>\r\nMessage-ID: <one@example.org>\r\n\r\n",
                ")"
            )
        )
    );
    // A field the message does not have: just the blank line.
    assert_eq!(
        c.cmd("FETCH 1 BODY.PEEK[HEADER.FIELDS (X-Nothing)]")[0],
        format!(
            "* 1 FETCH ({}",
            lit("BODY[HEADER.FIELDS (X-Nothing)]", "\r\n", ")")
        )
    );
    assert_eq!(
        c.cmd("FETCH 1 BODY.PEEK[TEXT]")[0],
        format!("* 1 FETCH ({}", lit("BODY[TEXT]", "hello one\r\n", ")"))
    );
    // PEEK never sets \Seen.
    assert_eq!(c.cmd("FETCH 1 FLAGS")[0], "* 1 FETCH (FLAGS (\\Recent))");
}

#[test]
fn part_sections() {
    let dir = TempDir::new("fetch-parts");
    let srv = TestServer::start(&dir);
    let mut c = three(&srv);
    c.cmd("SELECT INBOX");
    // Part 1 of a non-multipart message is its body.
    assert_eq!(
        c.cmd("FETCH 1 BODY.PEEK[1]")[0],
        format!("* 1 FETCH ({}", lit("BODY[1]", "hello one\r\n", ")"))
    );
    assert_eq!(
        c.cmd("FETCH 3 BODY.PEEK[1]")[0],
        format!(
            "* 3 FETCH ({}",
            lit("BODY[1]", "Shall we have lunch at noon?\r\n", ")")
        )
    );
    let inner_header = "From: Original Sender <orig@example.com>\r\nTo: fwd@example.org\r\nCc: someone@example.com\r\nSubject: original\r\nDate: Thu, 04 Jan 2024 18:30:00 +0000\r\nMessage-ID: <orig-1@example.com>\r\n\r\n";
    let inner_text = "This is the original body.\r\nTwo lines.";
    assert_eq!(
        c.cmd("FETCH 2 (BODY.PEEK[2.HEADER] BODY.PEEK[2.TEXT])")[0],
        format!(
            "* 2 FETCH ({} {}",
            lit("BODY[2.HEADER]", inner_header, ""),
            lit("BODY[2.TEXT]", inner_text, ")")
        )
    );
    // The message/rfc822 part itself is the whole inner message; 2.1 is its body.
    assert_eq!(
        c.cmd("FETCH 2 BODY.PEEK[2]")[0],
        format!(
            "* 2 FETCH ({}",
            lit("BODY[2]", &format!("{inner_header}{inner_text}"), ")")
        )
    );
    assert_eq!(
        c.cmd("FETCH 2 BODY.PEEK[2.1]")[0],
        format!("* 2 FETCH ({}", lit("BODY[2.1]", inner_text, ")"))
    );
    assert_eq!(
        c.cmd("FETCH 2 BODY.PEEK[2.MIME]")[0],
        format!(
            "* 2 FETCH ({}",
            lit(
                "BODY[2.MIME]",
                "Content-Type: message/rfc822\r\nContent-Description: forwarded message\r\n\r\n",
                ")"
            )
        )
    );
    assert_eq!(
        c.cmd("FETCH 2 BODY.PEEK[2.HEADER.FIELDS (subject)]")[0],
        format!(
            "* 2 FETCH ({}",
            lit(
                "BODY[2.HEADER.FIELDS (subject)]",
                "Subject: original\r\n\r\n",
                ")"
            )
        )
    );
    // Parts that do not exist: an empty string.
    for (n, sec) in [(2, "3"), (1, "2"), (3, "1.5"), (2, "2.7")] {
        assert_eq!(
            c.cmd(&format!("FETCH {n} BODY.PEEK[{sec}]")),
            vec![
                format!("* {n} FETCH (BODY[{sec}] {{0}}\r\n)"),
                "TAG OK FETCH completed".into()
            ]
        );
    }
}

#[test]
fn partial_fetches() {
    let dir = TempDir::new("fetch-partial");
    let srv = TestServer::start(&dir);
    let mut c = three(&srv);
    c.cmd("SELECT INBOX");
    let whole = format!("{ONE_HEADER}hello one\r\n");
    assert_eq!(
        c.cmd("FETCH 1 BODY.PEEK[]<0.10>")[0],
        format!("* 1 FETCH ({}", lit("BODY[]<0>", &whole[..10], ")"))
    );
    assert_eq!(
        c.cmd("FETCH 1 BODY.PEEK[]<2.5>")[0],
        format!("* 1 FETCH ({}", lit("BODY[]<2>", "om: A", ")"))
    );
    // Count past the end: truncated.
    assert_eq!(
        c.cmd("FETCH 1 BODY.PEEK[TEXT]<6.100>")[0],
        format!("* 1 FETCH ({}", lit("BODY[TEXT]<6>", "one\r\n", ")"))
    );
    // Origin at / beyond the end: empty.
    assert_eq!(
        c.cmd("FETCH 1 BODY.PEEK[TEXT]<11.5>")[0],
        "* 1 FETCH (BODY[TEXT]<11> {0}\r\n)"
    );
    assert_eq!(
        c.cmd("FETCH 1 BODY.PEEK[]<2000.5>")[0],
        "* 1 FETCH (BODY[]<2000> {0}\r\n)"
    );
    assert_eq!(
        c.cmd("FETCH 3 BODY.PEEK[2]<0.10>")[0],
        format!("* 3 FETCH ({}", lit("BODY[2]<0>", "<html><bod", ")"))
    );
    // A non-PEEK partial fetch still sets \Seen.
    assert_eq!(
        c.cmd("FETCH 1 BODY[]<0.4>")[0],
        format!(
            "* 1 FETCH ({}",
            lit("BODY[]<0>", "From", " FLAGS (\\Seen \\Recent))")
        )
    );
}

#[test]
fn seen_side_effect() {
    let dir = TempDir::new("fetch-seen");
    let srv = TestServer::start(&dir);
    let mut c = three(&srv);
    // EXAMINE: a body fetch sets nothing.
    c.cmd("EXAMINE INBOX");
    assert_eq!(
        c.cmd("FETCH 1 BODY[TEXT]")[0],
        format!("* 1 FETCH ({}", lit("BODY[TEXT]", "hello one\r\n", ")"))
    );
    assert_eq!(c.cmd("FETCH 1:3 RFC822.TEXT").len(), 4);
    assert_eq!(c.cmd("SEARCH SEEN")[0], "* SEARCH");
    c.cmd("SELECT INBOX");
    // With FLAGS asked for, the new flags appear once, in its place.
    assert_eq!(
        c.cmd("FETCH 1 (FLAGS BODY[TEXT])")[0],
        format!(
            "* 1 FETCH (FLAGS (\\Seen \\Recent) {}",
            lit("BODY[TEXT]", "hello one\r\n", ")")
        )
    );
    assert_eq!(
        c.cmd("FETCH 3 BODY[1]")[0],
        format!(
            "* 3 FETCH ({}",
            lit(
                "BODY[1]",
                "Shall we have lunch at noon?\r\n",
                " FLAGS (\\Flagged \\Seen \\Recent))"
            )
        )
    );
    // Already seen: no FLAGS added.
    assert_eq!(
        c.cmd("FETCH 1 BODY[TEXT]")[0],
        format!("* 1 FETCH ({}", lit("BODY[TEXT]", "hello one\r\n", ")"))
    );
    assert_eq!(c.cmd("SEARCH SEEN")[0], "* SEARCH 1 3");
    // Another session sees the change as \Seen, persisted.
    let mut d = srv.login(ALICE);
    d.cmd("EXAMINE INBOX");
    assert_eq!(
        d.cmd("FETCH 1:* FLAGS"),
        vec![
            "* 1 FETCH (FLAGS (\\Seen))",
            "* 2 FETCH (FLAGS ())",
            "* 3 FETCH (FLAGS (\\Flagged \\Seen))",
            "TAG OK FETCH completed"
        ]
    );
}

#[test]
fn sequence_sets() {
    let dir = TempDir::new("fetch-seqs");
    let srv = TestServer::start(&dir);
    let mut c = three(&srv);
    c.cmd("SELECT INBOX");
    let uids = |c: &mut Client, cmd: &str| c.cmd(cmd);
    assert_eq!(
        uids(&mut c, "FETCH 3:1 UID"),
        vec![
            "* 1 FETCH (UID 1)",
            "* 2 FETCH (UID 2)",
            "* 3 FETCH (UID 3)",
            "TAG OK FETCH completed"
        ]
    );
    assert_eq!(
        uids(&mut c, "FETCH * UID"),
        vec!["* 3 FETCH (UID 3)", "TAG OK FETCH completed"]
    );
    assert_eq!(
        uids(&mut c, "FETCH *:2 UID"),
        vec![
            "* 2 FETCH (UID 2)",
            "* 3 FETCH (UID 3)",
            "TAG OK FETCH completed"
        ]
    );
    assert_eq!(
        uids(&mut c, "FETCH 3,1,1:1 UID"),
        vec![
            "* 1 FETCH (UID 1)",
            "* 3 FETCH (UID 3)",
            "TAG OK FETCH completed"
        ]
    );
    assert_eq!(
        uids(&mut c, "FETCH 4 UID"),
        vec!["TAG BAD Sequence number beyond the mailbox (3 messages)"]
    );
    assert_eq!(
        uids(&mut c, "FETCH 1:4 UID"),
        vec!["TAG BAD Sequence number beyond the mailbox (3 messages)"]
    );
}

#[test]
fn uid_fetch() {
    let dir = TempDir::new("fetch-uid");
    let srv = TestServer::start(&dir);
    let mut c = three(&srv);
    // Make the UIDs non-contiguous: 1, 3, 4 after expunging UID 2 and appending.
    c.cmd("SELECT INBOX");
    c.cmd("STORE 2 +FLAGS.SILENT (\\Deleted)");
    c.cmd("EXPUNGE");
    c.append("INBOX", "", &message("four", "x"));
    c.cmd("NOOP");
    assert_eq!(
        c.cmd("UID FETCH 1:* FLAGS"),
        vec![
            "* 1 FETCH (UID 1 FLAGS (\\Recent))",
            "* 2 FETCH (UID 3 FLAGS (\\Flagged \\Recent))",
            "* 3 FETCH (UID 4 FLAGS (\\Recent))",
            "TAG OK UID FETCH completed"
        ]
    );
    // UID always included, even when not asked; once when asked.
    assert_eq!(
        c.cmd("UID FETCH 3 RFC822.SIZE")[0],
        format!(
            "* 2 FETCH (UID 3 RFC822.SIZE {})",
            fixture("alternative").len()
        )
    );
    assert_eq!(c.cmd("UID FETCH 4 (UID)")[0], "* 3 FETCH (UID 4)");
    // Nothing matches: OK, no data.
    assert_eq!(
        c.cmd("UID FETCH 2"),
        vec!["TAG BAD Could not parse command"]
    );
    assert_eq!(c.cmd("UID FETCH 2 UID"), vec!["TAG OK UID FETCH completed"]);
    assert_eq!(
        c.cmd("UID FETCH 100:200 FLAGS"),
        vec!["TAG OK UID FETCH completed"]
    );
    // n:* beyond the highest UID still names the last message.
    assert_eq!(
        c.cmd("UID FETCH 100:* UID"),
        vec!["* 3 FETCH (UID 4)", "TAG OK UID FETCH completed"]
    );
    assert_eq!(
        c.cmd("UID FETCH 2,4,2:3 UID"),
        vec![
            "* 2 FETCH (UID 3)",
            "* 3 FETCH (UID 4)",
            "TAG OK UID FETCH completed"
        ]
    );
    // UID FETCH with a body item: \Seen reported alongside.
    assert_eq!(
        c.cmd("UID FETCH 4 BODY[TEXT]")[0],
        format!(
            "* 3 FETCH (UID 4 {}",
            lit("BODY[TEXT]", "x\r\n", " FLAGS (\\Seen \\Recent))")
        )
    );
}

/// RFC 3501 §9 (seq-number): a sequence number beyond the mailbox is BAD, "This includes
/// `*` if the selected mailbox is empty"; UIDs that match nothing are not an error.
#[test]
fn empty_mailbox_sequence_numbers_are_bad() {
    let dir = TempDir::new("fetch-empty");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    c.cmd("CREATE Empty");
    c.cmd("SELECT Empty");
    for cmd in [
        "FETCH 1 FLAGS",
        "FETCH 1:* FLAGS",
        "FETCH * FLAGS",
        "STORE 1 +FLAGS (\\Seen)",
        "STORE *:1 FLAGS ()",
        "COPY 1:* INBOX",
    ] {
        assert_eq!(
            c.cmd(cmd),
            vec!["TAG BAD Sequence number beyond the mailbox (0 messages)"],
            "{cmd}"
        );
    }
    assert_eq!(
        c.cmd("UID FETCH 1:* FLAGS"),
        vec!["TAG OK UID FETCH completed"]
    );
    assert_eq!(
        c.cmd("UID STORE 1:* +FLAGS (\\Seen)"),
        vec!["TAG OK UID STORE completed"]
    );
    assert_eq!(
        c.cmd("UID COPY 1:* INBOX"),
        vec!["TAG OK UID COPY completed"]
    );
    assert_eq!(
        c.cmd("SEARCH ALL"),
        vec!["* SEARCH", "TAG OK SEARCH completed"]
    );
}

/// The metadata-only forms (UID, FLAGS, MODSEQ in any order: the fast path of ext::fetch)
/// answer as every other FETCH does: flags in canonical order with keywords and \Recent, a
/// message another session expunged (still numbered here, RFC 2180 §4.1.1), CHANGEDSINCE, and
/// byte for byte the items the general path (here with INTERNALDATE) gives the same messages.
#[test]
fn metadata_only_fetch_answers_as_the_general_path() {
    let dir = TempDir::new("fetch-meta-fast");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    let mut b = srv.login(ALICE);
    a.append("INBOX", "$Junk \\Seen \\Answered", &message("one", "1"));
    a.append("INBOX", "", &message("two", "2"));
    a.append("INBOX", "\\Flagged Zeta", &message("three", "3"));
    // A claims \Recent; B selects after it and gets none.
    a.cmd("SELECT INBOX");
    b.cmd("SELECT INBOX");
    a.cmd("STORE 2 +FLAGS.SILENT (\\Deleted)");
    assert_eq!(
        a.cmd("EXPUNGE"),
        vec!["* 2 EXPUNGE", "TAG OK EXPUNGE completed"]
    );
    assert_eq!(
        b.cmd("FETCH 1:* (UID FLAGS)"),
        vec![
            "* 1 FETCH (UID 1 FLAGS (\\Answered \\Seen $Junk))",
            "* 2 FETCH (UID 2 FLAGS (\\Deleted))",
            "* 3 FETCH (UID 3 FLAGS (\\Flagged Zeta))",
            "TAG OK FETCH completed",
        ]
    );
    assert_eq!(
        a.cmd("UID FETCH 1:* (FLAGS)"),
        vec![
            "* 1 FETCH (UID 1 FLAGS (\\Answered \\Seen $Junk \\Recent))",
            "* 2 FETCH (UID 3 FLAGS (\\Flagged Zeta \\Recent))",
            "TAG OK UID FETCH completed",
        ]
    );
    // The same items through the general path, INTERNALDATE taken out again.
    let general: Vec<String> = a
        .cmd("FETCH 1:* (FLAGS MODSEQ INTERNALDATE UID)")
        .into_iter()
        .map(|l| match (l.find(" INTERNALDATE \""), l.find(" UID ")) {
            (Some(s), Some(e)) => format!("{}{}", &l[..s], &l[e..]),
            _ => l,
        })
        .collect();
    assert_eq!(a.cmd("FETCH 1:* (FLAGS MODSEQ UID)"), general);
    let modseq: u64 = general[1]
        .split("MODSEQ (")
        .nth(1)
        .and_then(|r| r.split(')').next())
        .and_then(|n| n.parse().ok())
        .unwrap();
    a.cmd("STORE 1 -FLAGS.SILENT (\\Seen)");
    let changed = a.cmd(&format!("FETCH 1:* (UID FLAGS) (CHANGEDSINCE {modseq})"));
    assert_eq!(changed.len(), 2, "{changed:?}");
    assert!(
        changed[0].starts_with("* 1 FETCH (UID 1 FLAGS (\\Answered $Junk \\Recent) MODSEQ ("),
        "{changed:?}"
    );
    let general = a.cmd(&format!(
        "FETCH 1:* (UID FLAGS RFC822.SIZE) (CHANGEDSINCE {modseq})"
    ));
    let size = general[0].find(" RFC822.SIZE ").unwrap();
    let modseq_at = general[0].find(" MODSEQ (").unwrap();
    assert_eq!(
        changed[0],
        format!("{}{}", &general[0][..size], &general[0][modseq_at..])
    );
}
