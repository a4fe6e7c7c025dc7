//! SEARCH and UID SEARCH end to end (issue 3): every RFC 3501 key, combinations, charsets.

mod common;
use common::*;

fn alpha() -> Vec<u8> {
    b"From: Alice Liddell <alice@example.org>\r\nTo: Bob <bob@example.org>\r\nCc: Carol <carol@example.net>\r\nBcc: dave@example.net\r\nSubject: Alpha Meeting\r\nDate: Mon, 7 Feb 1994 23:52:25 -0800\r\nX-Priority: urgent-ish\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\nU2VjcmV0IGJhc2U2NCBwYXlsb2Fk\r\n".to_vec()
}

fn latin1() -> Vec<u8> {
    b"From: Zoe <zoe@example.com>\r\nTo: team@example.com\r\nSubject: latin\r\nDate: Tue, 21 Dec 2021 01:00:00 +0100\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=ISO-8859-1\r\nContent-Transfer-Encoding: 8bit\r\n\r\nCaf\xe9 cr\xe8me br\xfbl\xe9e\r\n".to_vec()
}

/// Five messages with known flags, internal dates, headers and bodies; returns a client with
/// INBOX selected (so all five are \Recent in its session) and the sizes.
fn mailbox(srv: &TestServer) -> (Client, Vec<usize>) {
    let mut c = srv.login(ALICE);
    let msgs: Vec<(&str, &str, Vec<u8>)> = vec![
        ("\\Answered", "01-Jan-2020 00:30:00 +0100", alpha()),
        (
            "\\Flagged $Work",
            "14-Jul-2020 02:44:25 -0700",
            fixture("encoded-words"),
        ),
        (
            "\\Seen \\Deleted",
            "15-Jul-2020 10:00:00 +0000",
            fixture("mixed-attachments"),
        ),
        ("\\Draft", "20-Dec-2021 23:30:00 +0000", latin1()),
        (
            "\\Seen \\Flagged",
            "01-Mar-2022 12:00:00 +0000",
            fixture("rfc822-nested"),
        ),
    ];
    let mut sizes = Vec::new();
    for (flags, date, raw) in msgs {
        let r = c.append_dated("INBOX", flags, date, &raw);
        assert!(r.starts_with("TAG OK"), "{r}");
        sizes.push(raw.len());
    }
    c.cmd("SELECT INBOX");
    (c, sizes)
}

/// The SEARCH line for `criteria`, after checking the tagged OK.
fn search(c: &mut Client, criteria: &str) -> String {
    let r = c.cmd(&format!("SEARCH {criteria}"));
    assert_eq!(r.len(), 2, "SEARCH {criteria}: {r:?}");
    assert_eq!(r[1], "TAG OK SEARCH completed", "SEARCH {criteria}");
    r[0].clone()
}

fn hits(c: &mut Client, criteria: &str) -> String {
    search(c, criteria)
        .strip_prefix("* SEARCH")
        .unwrap()
        .trim()
        .to_string()
}

#[test]
fn flag_keys() {
    let dir = TempDir::new("search-flags");
    let srv = TestServer::start(&dir);
    let (mut c, _) = mailbox(&srv);
    let cases = [
        ("ALL", "1 2 3 4 5"),
        ("ANSWERED", "1"),
        ("UNANSWERED", "2 3 4 5"),
        ("DELETED", "3"),
        ("UNDELETED", "1 2 4 5"),
        ("DRAFT", "4"),
        ("UNDRAFT", "1 2 3 5"),
        ("FLAGGED", "2 5"),
        ("UNFLAGGED", "1 3 4"),
        ("SEEN", "3 5"),
        ("UNSEEN", "1 2 4"),
        ("KEYWORD $Work", "2"),
        ("KEYWORD $work", "2"),
        ("UNKEYWORD $Work", "1 3 4 5"),
        ("KEYWORD $Nothing", ""),
        ("UNKEYWORD $Nothing", "1 2 3 4 5"),
        // This session selected first: all five are \Recent here.
        ("RECENT", "1 2 3 4 5"),
        ("NEW", "1 2 4"),
        ("OLD", ""),
    ];
    for (crit, want) in cases {
        assert_eq!(hits(&mut c, crit), want, "SEARCH {crit}");
    }
    // Another session: nothing is recent there.
    let mut d = srv.login(ALICE);
    d.cmd("SELECT INBOX");
    assert_eq!(hits(&mut d, "RECENT"), "");
    assert_eq!(hits(&mut d, "NEW"), "");
    assert_eq!(hits(&mut d, "OLD"), "1 2 3 4 5");
    // Flag keys see STORE immediately.
    c.cmd("STORE 1:2 +FLAGS.SILENT (\\Seen)");
    assert_eq!(hits(&mut c, "SEEN"), "1 2 3 5");
    assert_eq!(hits(&mut c, "NEW"), "4");
}

#[test]
fn header_keys() {
    let dir = TempDir::new("search-headers");
    let srv = TestServer::start(&dir);
    let (mut c, _) = mailbox(&srv);
    let cases = [
        ("FROM alice", "1"),
        ("FROM \"ALICE LIDDELL\"", "1"),
        ("FROM example", "1 2 3 4 5"),
        ("TO bob@example.org", "1"),
        ("TO team@", "3 4"),
        ("CC carol", "1"),
        ("CC someone", ""),
        ("BCC dave", "1"),
        ("SUBJECT meeting", "1"),
        ("SUBJECT \"alpha meeting\"", "1"),
        ("SUBJECT fwd:", "5"),
        ("SUBJECT \"\"", "1 2 3 4 5"),
        ("HEADER X-Priority urgent", "1"),
        ("HEADER x-priority \"\"", "1"),
        ("HEADER Message-ID <enc-1@example.de>", "2"),
        ("HEADER X-Absent \"\"", ""),
        // Only the message's own header, not that of an attached message/rfc822.
        ("HEADER Cc someone", ""),
    ];
    for (crit, want) in cases {
        assert_eq!(hits(&mut c, crit), want, "SEARCH {crit}");
    }
}

#[test]
fn encoded_words_and_charsets() {
    let dir = TempDir::new("search-charset");
    let srv = TestServer::start(&dir);
    let (mut c, _) = mailbox(&srv);
    // An RFC 2047 subject is found by its decoded text, in any case; a literal carries UTF-8.
    let r = c.cmd_literal(
        "SEARCH CHARSET UTF-8 SUBJECT",
        "grüße aus köln".as_bytes(),
        "",
    );
    assert_eq!(r, vec!["* SEARCH 2", "TAG OK SEARCH completed"]);
    let r = c.cmd_literal("SEARCH CHARSET UTF-8 FROM", "MÜLLER".as_bytes(), "");
    assert_eq!(r, vec!["* SEARCH 2", "TAG OK SEARCH completed"]);
    let r = c.cmd_literal("SEARCH CHARSET UTF-8 TO", "jérôme".as_bytes(), "");
    assert_eq!(r, vec!["* SEARCH 2", "TAG OK SEARCH completed"]);
    // The encoded form itself is not what is searched.
    assert_eq!(hits(&mut c, "SUBJECT R3LDvMOfZSBhdXMgS8O2bG4"), "");
    // US-ASCII is accepted; other charsets get [BADCHARSET].
    assert_eq!(hits(&mut c, "CHARSET US-ASCII SUBJECT latin"), "4");
    assert_eq!(hits(&mut c, "CHARSET utf-8 SUBJECT latin"), "4");
    assert_eq!(
        c.cmd("SEARCH CHARSET ISO-8859-1 SUBJECT latin"),
        vec!["TAG NO [BADCHARSET (UTF-8 US-ASCII)] Charset ISO-8859-1 is not supported"]
    );
    assert_eq!(
        c.cmd("UID SEARCH CHARSET KOI8-R ALL"),
        vec!["TAG NO [BADCHARSET (UTF-8 US-ASCII)] Charset KOI8-R is not supported"]
    );
}

#[test]
fn body_and_text_keys() {
    let dir = TempDir::new("search-body");
    let srv = TestServer::start(&dir);
    let (mut c, _) = mailbox(&srv);
    let cases = [
        // base64 body, decoded.
        ("BODY \"base64 payload\"", "1"),
        ("BODY U2VjcmV0", ""),
        // quoted-printable parts, decoded; case-insensitive.
        ("BODY quarterly", ""),
        ("TEXT quarterly", "3"),
        // A message/rfc822 part's body is part of the body.
        ("BODY \"original body\"", "5"),
        ("BODY nowhere-at-all", ""),
        // TEXT: headers and body.
        ("TEXT \"alpha meeting\"", "1"),
        ("TEXT \"base64 payload\"", "1"),
        ("TEXT zoe@example.com", "4"),
        ("BODY zoe@example.com", ""),
    ];
    for (crit, want) in cases {
        assert_eq!(hits(&mut c, crit), want, "SEARCH {crit}");
    }
    // Non-ASCII needles in UTF-8 literals: an ISO-8859-1 body, a QP UTF-8 body.
    for (key, needle, want) in [
        ("BODY", "CRÈME BRÛLÉE", "* SEARCH 4"),
        ("TEXT", "café", "* SEARCH 4"),
        ("BODY", "grüße!", "* SEARCH 2"),
        ("BODY", "très long, donc", "* SEARCH 3"),
    ] {
        let r = c.cmd_literal(
            &format!("SEARCH CHARSET UTF-8 {key}"),
            needle.as_bytes(),
            "",
        );
        assert_eq!(r, vec![want, "TAG OK SEARCH completed"], "{key} {needle}");
    }
}

#[test]
fn date_and_size_keys() {
    let dir = TempDir::new("search-dates");
    let srv = TestServer::start(&dir);
    let (mut c, sizes) = mailbox(&srv);
    let cases = [
        // Internal dates, in the zone they were given (RFC 3501: time and zone disregarded).
        ("ON 1-Jan-2020", "1"),
        ("ON 31-Dec-2019", ""),
        ("ON 14-Jul-2020", "2"),
        ("BEFORE 14-Jul-2020", "1"),
        ("BEFORE 15-Jul-2020", "1 2"),
        ("SINCE 15-Jul-2020", "3 4 5"),
        ("SINCE 1-Jan-2020", "1 2 3 4 5"),
        ("SINCE 2-Mar-2022", ""),
        ("BEFORE 1-Jan-2020", ""),
        // Date: headers, their own day.
        ("SENTON 7-Feb-1994", "1"),
        ("SENTON 8-Feb-1994", ""),
        ("SENTBEFORE 4-Jan-2024", "1 3 4"),
        ("SENTSINCE 5-Jan-2024", "2 5"),
        ("SENTON 21-Dec-2021", "4"),
        ("SENTBEFORE 1-Jan-1990", ""),
    ];
    for (crit, want) in cases {
        assert_eq!(hits(&mut c, crit), want, "SEARCH {crit}");
    }
    let mut by_size: Vec<(usize, usize)> = sizes.iter().copied().zip(1..).collect();
    by_size.sort();
    let (small, small_n) = by_size[0];
    let (big, big_n) = by_size[4];
    assert_eq!(
        hits(&mut c, &format!("SMALLER {}", small + 1)),
        small_n.to_string()
    );
    assert_eq!(hits(&mut c, &format!("SMALLER {small}")), "");
    assert_eq!(
        hits(&mut c, &format!("LARGER {}", big - 1)),
        big_n.to_string()
    );
    assert_eq!(hits(&mut c, &format!("LARGER {big}")), "");
    assert_eq!(
        hits(&mut c, &format!("LARGER {small} SMALLER {big}"))
            .split(' ')
            .count(),
        3
    );
    // A size key under a text key is evaluated per message, not in SQL: the size must still be
    // there (alice is message 1).
    let mut want: Vec<usize> = vec![1, big_n];
    want.sort();
    want.dedup();
    let want = want
        .iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(" ");
    assert_eq!(
        hits(&mut c, &format!("OR FROM alice LARGER {}", big - 1)),
        want
    );
    assert_eq!(
        hits(&mut c, &format!("NOT OR FROM alice SMALLER {}", small + 1))
            .split(' ')
            .filter(|n| *n == "1" || *n == small_n.to_string())
            .count(),
        0
    );
}

#[test]
fn sequence_and_uid_keys() {
    let dir = TempDir::new("search-seqs");
    let srv = TestServer::start(&dir);
    let (mut c, _) = mailbox(&srv);
    // Expunge message 3 so that UIDs and sequence numbers differ: UIDs 1 2 4 5.
    c.cmd("EXPUNGE");
    let cases = [
        ("1:2", "1 2"),
        ("*", "4"),
        ("3:*", "3 4"),
        ("4:2", "2 3 4"),
        ("2,4", "2 4"),
        ("1:100", "1 2 3 4"),
        ("UID 4", "3"),
        ("UID 3", ""),
        ("UID 1:*", "1 2 3 4"),
        ("UID 100:*", "4"),
        ("UID 2:4 NOT 2", "3"),
    ];
    for (crit, want) in cases {
        assert_eq!(hits(&mut c, crit), want, "SEARCH {crit}");
    }
    // UID SEARCH answers UIDs.
    let r = c.cmd("UID SEARCH 3:4");
    assert_eq!(r, vec!["* SEARCH 4 5", "TAG OK UID SEARCH completed"]);
    let r = c.cmd("UID SEARCH FLAGGED");
    assert_eq!(r, vec!["* SEARCH 2 5", "TAG OK UID SEARCH completed"]);
    let r = c.cmd("UID SEARCH UID 3:4");
    assert_eq!(r, vec!["* SEARCH 4", "TAG OK UID SEARCH completed"]);
    let r = c.cmd("UID SEARCH SUBJECT nothing-matches");
    assert_eq!(r, vec!["* SEARCH", "TAG OK UID SEARCH completed"]);
}

#[test]
fn combinations() {
    let dir = TempDir::new("search-combos");
    let srv = TestServer::start(&dir);
    let (mut c, _) = mailbox(&srv);
    let cases = [
        ("FLAGGED SEEN", "5"),
        ("NOT SEEN", "1 2 4"),
        ("NOT NOT SEEN", "3 5"),
        ("OR ANSWERED DRAFT", "1 4"),
        ("OR SEEN FROM alice", "1 3 5"),
        ("OR (SEEN FLAGGED) SUBJECT latin", "4 5"),
        ("(FLAGGED)", "2 5"),
        ("((FLAGGED) (UNSEEN))", "2"),
        ("NOT (FLAGGED SEEN)", "1 2 3 4"),
        ("NOT OR FLAGGED SEEN", "1 4"),
        ("OR OR ANSWERED DRAFT DELETED", "1 3 4"),
        ("OR NOT FROM example OR TEXT quarterly 2", "2 3"),
        ("NOT BODY \"base64 payload\"", "2 3 4 5"),
        ("1:3 NOT DELETED OR BODY payload SUBJECT aus", "1 2"),
        ("UNDELETED SINCE 1-Jan-2021 OR TEXT original DRAFT", "4 5"),
        ("OR (TO team@ SEEN) (NOT TO team@ FLAGGED)", "2 3 5"),
        ("ALL ALL 2:*", "2 3 4 5"),
        ("NOT ALL", ""),
    ];
    for (crit, want) in cases {
        assert_eq!(hits(&mut c, crit), want, "SEARCH {crit}");
    }
}

#[test]
fn only_messages_the_session_knows() {
    let dir = TempDir::new("search-known");
    let srv = TestServer::start(&dir);
    let (mut c, _) = mailbox(&srv);
    // Another session appends; this one has not been told yet when SEARCH runs.
    let mut d = srv.login(ALICE);
    d.append("INBOX", "", &message("late", "late body"));
    let r = c.cmd("SEARCH SUBJECT late");
    let search_line = r.iter().position(|l| l.starts_with("* SEARCH")).unwrap();
    let exists = r.iter().position(|l| l == "* 6 EXISTS");
    match exists {
        // Told before the search ran: it may be found.
        Some(e) if e < search_line => assert_eq!(r[search_line], "* SEARCH 6"),
        // Told afterwards (or not yet): it must not be in the result.
        _ => assert_eq!(r[search_line], "* SEARCH"),
    }
    c.cmd("NOOP");
    assert_eq!(hits(&mut c, "SUBJECT late"), "6");
}

/// FROM/TO/CC/BCC match the parsed addresses as well as the header text (as Dovecot does):
/// comments and whitespace inside an address do not hide it; several To: fields all count.
#[test]
fn address_keys_match_parsed_addresses() {
    let dir = TempDir::new("search-addr");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    let raw = b"From: <user-from (comment)@ (comment) domain.org>\r\nTo: t1@example.org\r\nTo: T3 <t3 @ example.org>\r\nCc: group:;, group2: (foo) ;\r\nBcc: b1 @ x.org\r\nSubject: a\r\n\r\nbody\r\n";
    assert!(c.append("INBOX", "", raw).starts_with("TAG OK"));
    assert!(c
        .append("INBOX", "", &message("other", "x"))
        .starts_with("TAG OK"));
    c.cmd("SELECT INBOX");
    for (criteria, want) in [
        ("FROM user-from@domain.org", "* SEARCH 1"),
        ("FROM \"user-from@domain.org\"", "* SEARCH 1"),
        ("FROM comment", "* SEARCH 1"),
        ("TO t3@example.org", "* SEARCH 1"),
        ("TO t1@example.org", "* SEARCH 1"),
        ("CC group2", "* SEARCH 1"),
        ("BCC b1@x.org", "* SEARCH 1"),
        ("FROM alice@example.org", "* SEARCH 2"),
        ("TO user-from@domain.org", "* SEARCH"),
    ] {
        assert_eq!(
            c.cmd(&format!("SEARCH {criteria}")),
            vec![want, "TAG OK SEARCH completed"],
            "{criteria}"
        );
    }
    // ENVELOPE lists the addresses of both To: fields, and the comment-only group is empty.
    let r = c.cmd("FETCH 1 (ENVELOPE)");
    assert_eq!(
        r[0],
        "* 1 FETCH (ENVELOPE (NIL \"a\" ((NIL NIL \"user-from\" \"domain.org\")) ((NIL NIL \"user-from\" \"domain.org\")) ((NIL NIL \"user-from\" \"domain.org\")) ((NIL NIL \"t1\" \"example.org\")(\"T3\" NIL \"t3\" \"example.org\")) ((NIL NIL \"group\" NIL)(NIL NIL NIL NIL)(NIL NIL \"group2\" NIL)(NIL NIL NIL NIL)) ((NIL NIL \"b1\" \"x.org\")) NIL NIL))"
    );
}
