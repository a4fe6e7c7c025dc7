//! CONTEXT=SEARCH and CONTEXT=SORT (RFC 5267 §4.3): searches kept up to date with ADDTO and
//! REMOVEFROM as another session (or this one) appends, changes flags and expunges.
//! The SEARCH exchanges are the ones tests/oracle/context_dovecot.txt records from Dovecot
//! 2.3.19 (same lines, except where README's CONTEXT section says why).

mod common;
use common::*;

fn msg(subject: &str) -> Vec<u8> {
    format!("Subject: {subject}\r\nFrom: x@y\r\n\r\nbody\r\n").into_bytes()
}

/// `tag command`, every line up to the tagged one (whose tag reads "TAG").
fn tagged(c: &mut Client, tag: &str, command: &str) -> Vec<String> {
    c.send(format!("{tag} {command}\r\n").as_bytes());
    c.until_tagged(tag)
}

/// A session with Box selected holding mango, kiwi, apple (UIDs 1-3), and a second session
/// with Box selected too.
fn two_sessions(srv: &TestServer) -> (Client, Client) {
    let mut a = srv.login(ALICE);
    let mut b = srv.login(ALICE);
    a.cmd("CREATE Box");
    for s in ["mango", "kiwi", "apple"] {
        assert!(b.append("Box", "", &msg(s)).contains("OK"));
    }
    assert!(a.cmd("SELECT Box").last().unwrap().contains("OK"));
    assert!(b.cmd("SELECT Box").last().unwrap().contains("OK"));
    (a, b)
}

#[test]
fn updates_follow_another_sessions_changes() {
    let dir = TempDir::new("context-updates");
    let srv = TestServer::start(&dir);
    let (mut a, mut b) = two_sessions(&srv);
    // UPDATE alone: an empty ESEARCH, then updates only.
    assert_eq!(
        tagged(&mut a, "s1", "SEARCH RETURN (UPDATE) UNSEEN"),
        ["* ESEARCH (TAG \"s1\")", "TAG OK SEARCH completed"]
    );
    assert_eq!(
        tagged(&mut a, "s2", "UID SEARCH RETURN (UPDATE COUNT) SEEN"),
        [
            "* ESEARCH (TAG \"s2\") UID COUNT 0",
            "TAG OK UID SEARCH completed"
        ]
    );
    assert_eq!(
        tagged(&mut a, "s3", "UID SEARCH RETURN (UPDATE MIN) ALL"),
        [
            "* ESEARCH (TAG \"s3\") UID MIN 1",
            "TAG OK UID SEARCH completed"
        ]
    );
    // A tag that names a live search cannot be used again for one (§4.3).
    let r = tagged(&mut a, "s1", "SEARCH RETURN (UPDATE) ALL");
    assert_eq!(
        r,
        ["TAG BAD Tag reuse: s1 already names a search with UPDATE"]
    );
    // Sorted by subject: apple(3) kiwi(2) mango(1).
    assert_eq!(
        tagged(&mut a, "s5", "SORT RETURN (UPDATE ALL) (SUBJECT) UTF-8 ALL"),
        ["* ESEARCH (TAG \"s5\") ALL 3,2,1", "TAG OK SORT completed"]
    );

    // A flag change: message 1 stops being UNSEEN and starts being SEEN.
    b.cmd("STORE 1 +FLAGS.SILENT (\\Seen)");
    assert_eq!(
        a.cmd("NOOP"),
        [
            "* 1 FETCH (FLAGS (\\Seen \\Recent))",
            "* ESEARCH (TAG \"s1\") REMOVEFROM (0 1)",
            "* ESEARCH (TAG \"s2\") UID ADDTO (0 1)",
            "TAG OK NOOP completed"
        ]
    );
    // A new message: after the EXISTS; the SORT places it at its position (after apple).
    assert!(b.append("Box", "", &msg("banana")).contains("OK"));
    assert_eq!(
        a.cmd("NOOP"),
        [
            "* 4 EXISTS",
            "* 3 RECENT",
            "* ESEARCH (TAG \"s1\") ADDTO (0 4)",
            "* ESEARCH (TAG \"s3\") UID ADDTO (0 4)",
            "* ESEARCH (TAG \"s5\") ADDTO (2 4)",
            "TAG OK NOOP completed"
        ]
    );
    // This session's own STORE: after its FETCH, before its tagged answer.
    assert_eq!(
        a.cmd("STORE 2 +FLAGS (\\Seen)"),
        [
            "* 2 FETCH (FLAGS (\\Seen \\Recent))",
            "* ESEARCH (TAG \"s1\") REMOVEFROM (0 2)",
            "* ESEARCH (TAG \"s2\") UID ADDTO (0 2)",
            "TAG OK STORE completed"
        ]
    );
    // An expunge: REMOVEFROM first, while sequence number 1 is still valid. Sorted, mango
    // (UID 1) was at position 4 of apple banana kiwi mango.
    b.cmd("STORE 1 +FLAGS.SILENT (\\Deleted)");
    b.cmd("EXPUNGE");
    assert_eq!(
        a.cmd("NOOP"),
        [
            "* ESEARCH (TAG \"s2\") UID REMOVEFROM (0 1)",
            "* ESEARCH (TAG \"s3\") UID REMOVEFROM (0 1)",
            "* ESEARCH (TAG \"s5\") REMOVEFROM (4 1)",
            "* 1 EXPUNGE",
            "TAG OK NOOP completed"
        ]
    );
    // CANCELUPDATE: s1 ends; an unknown tag makes the answer NO (as Dovecot).
    assert_eq!(
        a.cmd("CANCELUPDATE \"s1\" \"zz\""),
        ["TAG NO No search with UPDATE has the tag zz"]
    );
    assert_eq!(
        a.cmd("CANCELUPDATE \"s2\""),
        ["TAG OK CANCELUPDATE completed, no further updates"]
    );
    // Under IDLE: cherry (UID 5, sequence number 4) goes between banana and kiwi.
    let tag = a.tag();
    a.send(format!("{tag} IDLE\r\n").as_bytes());
    assert_eq!(a.read_line(), "+ idling");
    assert!(b.append("Box", "", &msg("cherry")).contains("OK"));
    assert_eq!(a.read_line(), "* 4 EXISTS");
    assert_eq!(a.read_line(), "* 2 RECENT");
    assert_eq!(a.read_line(), "* ESEARCH (TAG \"s3\") UID ADDTO (0 5)");
    assert_eq!(a.read_line(), "* ESEARCH (TAG \"s5\") ADDTO (3 4)");
    a.send(b"DONE\r\n");
    assert_eq!(a.until_tagged(&tag), ["TAG OK IDLE terminated"]);
    // The sorted result the client kept is what SORT answers now.
    assert_eq!(
        a.cmd("SORT (SUBJECT) UTF-8 ALL"),
        ["* SORT 2 3 4 1", "TAG OK SORT completed"]
    );
    // Leaving the mailbox ends every live search.
    a.cmd("UNSELECT");
    a.cmd("SELECT Box");
    assert!(b.append("Box", "", &msg("date")).contains("OK"));
    assert_eq!(
        a.cmd("NOOP"),
        ["* 5 EXISTS", "* 0 RECENT", "TAG OK NOOP completed"]
    );
    assert_eq!(
        a.cmd("CANCELUPDATE \"s3\""),
        ["TAG NO No search with UPDATE has the tag s3"]
    );
}

/// UID SORT with REVERSE: several arrivals at once are told as runs at their final
/// positions, removals as runs at theirs; the client's list, patched in order, is the sort.
#[test]
fn sorted_updates_in_runs() {
    let dir = TempDir::new("context-runs");
    let srv = TestServer::start(&dir);
    let (mut a, mut b) = two_sessions(&srv);
    // REVERSE SUBJECT: mango(1) kiwi(2) apple(3).
    assert_eq!(
        tagged(
            &mut a,
            "r1",
            "UID SORT RETURN (UPDATE COUNT) (REVERSE SUBJECT) UTF-8 UNFLAGGED"
        ),
        [
            "* ESEARCH (TAG \"r1\") UID COUNT 3",
            "TAG OK UID SORT completed"
        ]
    );
    for s in ["lemon", "zucchini", "banana", "aardvark"] {
        assert!(b.append("Box", "", &msg(s)).contains("OK"));
    }
    // zucchini(5) mango(1) lemon(4) kiwi(2) banana(6) apple(3) aardvark(7).
    assert_eq!(
        a.cmd("NOOP"),
        [
            "* 7 EXISTS",
            "* 3 RECENT",
            "* ESEARCH (TAG \"r1\") UID ADDTO (1 5 3 4 5 6 7 7)",
            "TAG OK NOOP completed"
        ]
    );
    // Flagging mango and lemon takes them out (one run at 2); unflagging mango puts it back.
    b.cmd("UID STORE 1,4 +FLAGS.SILENT (\\Flagged)");
    assert_eq!(
        a.cmd("NOOP"),
        [
            "* 1 FETCH (FLAGS (\\Flagged \\Recent))",
            "* 4 FETCH (FLAGS (\\Flagged))",
            "* ESEARCH (TAG \"r1\") UID REMOVEFROM (2 1,4)",
            "TAG OK NOOP completed"
        ]
    );
    b.cmd("UID STORE 1 -FLAGS.SILENT (\\Flagged)");
    b.cmd("UID STORE 3 +FLAGS.SILENT (\\Flagged)");
    assert_eq!(
        a.cmd("NOOP"),
        [
            "* 1 FETCH (FLAGS (\\Recent))",
            "* 3 FETCH (FLAGS (\\Flagged \\Recent))",
            "* ESEARCH (TAG \"r1\") UID REMOVEFROM (4 3) ADDTO (2 1)",
            "TAG OK NOOP completed"
        ]
    );
    assert_eq!(
        a.cmd("UID SORT (REVERSE SUBJECT) UTF-8 UNFLAGGED"),
        ["* SORT 5 1 2 6 7", "TAG OK UID SORT completed"]
    );
    // This session's own EXPUNGE: REMOVEFROM before each EXPUNGE response is sent.
    a.cmd("UID STORE 2,6 +FLAGS.SILENT (\\Deleted)");
    assert_eq!(
        a.cmd("EXPUNGE"),
        [
            "* ESEARCH (TAG \"r1\") UID REMOVEFROM (3 2,6)",
            "* 2 EXPUNGE",
            "* 5 EXPUNGE",
            "TAG OK EXPUNGE completed"
        ]
    );
}

/// Sequence-number criteria are evaluated when the command runs (RFC 5267 §4.3): a live
/// `SEARCH 2:*` keeps meaning the messages that were 2 and 3 then.
#[test]
fn sequence_numbers_in_criteria_stay_fixed() {
    let dir = TempDir::new("context-seqs");
    let srv = TestServer::start(&dir);
    let (mut a, mut b) = two_sessions(&srv);
    assert_eq!(
        tagged(&mut a, "q1", "SEARCH RETURN (UPDATE ALL) 2:* UNSEEN"),
        ["* ESEARCH (TAG \"q1\") ALL 2:3", "TAG OK SEARCH completed"]
    );
    assert!(b.append("Box", "", &msg("new")).contains("OK"));
    b.cmd("STORE 3 +FLAGS.SILENT (\\Seen)");
    assert_eq!(
        a.cmd("NOOP"),
        [
            "* 3 FETCH (FLAGS (\\Seen \\Recent))",
            "* 4 EXISTS",
            "* 3 RECENT",
            "* ESEARCH (TAG \"q1\") REMOVEFROM (0 3)",
            "TAG OK NOOP completed"
        ]
    );
}

/// At most 8 live searches a session: the 9th is answered, but refused updates with
/// NOUPDATE (§4.3.1); cancelling one makes room.
#[test]
fn noupdate_beyond_the_limit() {
    let dir = TempDir::new("context-limit");
    let srv = TestServer::start(&dir);
    let (mut a, mut b) = two_sessions(&srv);
    for i in 1..=8 {
        let t = format!("n{i}");
        assert_eq!(
            tagged(&mut a, &t, "UID SEARCH RETURN (UPDATE COUNT) ALL"),
            [
                format!("* ESEARCH (TAG \"{t}\") UID COUNT 3"),
                "TAG OK UID SEARCH completed".to_string()
            ]
        );
    }
    assert_eq!(
        tagged(&mut a, "n9", "UID SORT RETURN (UPDATE COUNT) (DATE) UTF-8 ALL"),
        [
            "* ESEARCH (TAG \"n9\") UID COUNT 3",
            "* NO [NOUPDATE \"n9\"] Too many searches with UPDATE (the limit is 8); CANCELUPDATE one first",
            "TAG OK UID SORT completed"
        ]
    );
    a.cmd("CANCELUPDATE \"n1\" \"n2\" \"n3\" \"n4\" \"n5\" \"n6\" \"n7\"");
    assert_eq!(
        tagged(&mut a, "n10", "SEARCH RETURN (UPDATE) ALL"),
        ["* ESEARCH (TAG \"n10\")", "TAG OK SEARCH completed"]
    );
    assert!(b.append("Box", "", &msg("x")).contains("OK"));
    assert_eq!(
        a.cmd("NOOP"),
        [
            "* 4 EXISTS",
            "* 3 RECENT",
            "* ESEARCH (TAG \"n8\") UID ADDTO (0 4)",
            "* ESEARCH (TAG \"n10\") ADDTO (0 4)",
            "TAG OK NOOP completed"
        ]
    );
}

/// UPDATE does not interact with the other options (§4.3): PARTIAL shapes the first answer,
/// the updates cover the whole result, also outside the window; SAVE keeps its set.
#[test]
fn partial_and_save_with_update() {
    let dir = TempDir::new("context-partial");
    let srv = TestServer::start(&dir);
    let (mut a, mut b) = two_sessions(&srv);
    assert_eq!(
        tagged(
            &mut a,
            "p1",
            "SORT RETURN (UPDATE PARTIAL 1:1 SAVE) (SUBJECT) UTF-8 ALL"
        ),
        [
            "* ESEARCH (TAG \"p1\") PARTIAL (1:1 3)",
            "TAG OK SORT completed"
        ]
    );
    assert!(b.append("Box", "", &msg("zebra")).contains("OK"));
    assert_eq!(
        a.cmd("NOOP"),
        [
            "* 4 EXISTS",
            "* 3 RECENT",
            "* ESEARCH (TAG \"p1\") ADDTO (4 4)",
            "TAG OK NOOP completed"
        ]
    );
    // `$` is what the SORT saved, not the live result.
    assert_eq!(
        a.cmd("UID SEARCH $"),
        ["* SEARCH 3", "TAG OK UID SEARCH completed"]
    );
}

/// Text keys are tested on the arriving messages' bytes; a COPY into the folder arrives like
/// an APPEND; with QRESYNC the REMOVEFROM precedes the VANISHED.
#[test]
fn text_keys_copies_and_vanished() {
    let dir = TempDir::new("context-text");
    let srv = TestServer::start(&dir);
    let (mut a, mut b) = two_sessions(&srv);
    a.cmd("UNSELECT");
    assert_eq!(
        a.cmd("ENABLE QRESYNC"),
        ["* ENABLED QRESYNC", "TAG OK ENABLE completed"]
    );
    assert!(a.cmd("SELECT Box").last().unwrap().contains("OK"));
    assert_eq!(
        tagged(&mut a, "v1", "UID SEARCH RETURN (UPDATE ALL) SUBJECT an"),
        [
            "* ESEARCH (TAG \"v1\") UID ALL 1",
            "TAG OK UID SEARCH completed"
        ]
    );
    b.cmd("CREATE Other");
    assert!(b.append("Other", "", &msg("banana")).contains("OK"));
    assert!(b.append("Other", "", &msg("fig")).contains("OK"));
    b.cmd("SELECT Other");
    assert!(b.cmd("COPY 1:2 Box").last().unwrap().contains("OK"));
    let r = a.cmd("NOOP");
    assert_eq!(
        r,
        [
            "* 5 EXISTS",
            "* 2 RECENT",
            "* ESEARCH (TAG \"v1\") UID ADDTO (0 4)",
            "TAG OK NOOP completed"
        ]
    );
    b.cmd("SELECT Box");
    b.cmd("UID STORE 1:2 +FLAGS.SILENT (\\Deleted)");
    b.cmd("EXPUNGE");
    let r = a.cmd("NOOP");
    assert_eq!(
        r,
        [
            "* ESEARCH (TAG \"v1\") UID REMOVEFROM (0 1)",
            "* VANISHED 1:2",
            "TAG OK NOOP completed"
        ]
    );
}
