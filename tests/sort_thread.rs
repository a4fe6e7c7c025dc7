//! SORT, THREAD (RFC 5256) and SORT=DISPLAY (RFC 5957) on tests/sort_corpus/: exact responses.
//! Every expected line here is also what Dovecot 2.3.19 answers for the same folder
//! (tests/oracle/sort_compare.py --corpus-only; no differences).

mod common;
use common::*;
use std::path::Path;

/// tests/sort_corpus/*.eml in order, APPENDed with the INTERNALDATEs sort_compare.py gives them.
fn corpus_folder(srv: &TestServer) -> Client {
    let mut c = srv.login(ALICE);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/sort_corpus");
    let mut names: Vec<_> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".eml"))
        .collect();
    names.sort();
    assert_eq!(names.len(), 40);
    for (i, n) in names.iter().enumerate() {
        let raw = liteimap::mime::normalize_crlf(&std::fs::read(dir.join(n)).unwrap()).into_owned();
        let date = format!("01-Apr-2024 12:{:02}:{:02} +0000", i / 60, i % 60);
        let t = c.append_dated("INBOX", "", &date, &raw);
        assert!(t.contains("OK"), "{t}");
    }
    let r = c.cmd("SELECT INBOX");
    assert!(r.last().unwrap().contains("OK"), "{r:?}");
    c
}

fn untagged(c: &mut Client, command: &str) -> String {
    let r = c.cmd(command);
    assert!(r.last().unwrap().contains(" OK "), "{command}: {r:?}");
    assert_eq!(r.len(), 2, "{command}: {r:?}");
    r[0].trim_end().to_string()
}

/// The SORT or THREAD line of a command that succeeds (flag changes may be told after it).
fn answer(c: &mut Client, command: &str) -> String {
    let r = c.cmd(command);
    assert!(
        r.last().is_some_and(|l| l.contains(" OK ")),
        "{command}: {r:?}"
    );
    r.into_iter()
        .find(|l| l.starts_with("* SORT") || l.starts_with("* THREAD"))
        .unwrap_or_default()
}

const CASES: &[(&str, &str)] = &[
    ("SORT (ARRIVAL) UTF-8 ALL", "* SORT 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40"),
    ("SORT (REVERSE ARRIVAL) UTF-8 ALL", "* SORT 40 39 38 37 36 35 34 33 32 31 30 29 28 27 26 25 24 23 22 21 20 19 18 17 16 15 14 13 12 11 10 9 8 7 6 5 4 3 2 1"),
    // 15 and 16 have no Date: their INTERNALDATE (April) sorts them last. 30-33 share a Date:
    // sequence order, also under REVERSE.
    ("SORT (DATE) UTF-8 ALL", "* SORT 1 35 36 38 37 2 39 40 3 4 6 5 7 8 9 10 11 12 13 14 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 15 16"),
    ("SORT (REVERSE DATE) UTF-8 ALL", "* SORT 16 15 34 30 31 32 33 29 28 27 26 25 24 23 22 21 20 19 18 17 14 13 12 11 10 9 8 7 5 6 4 3 40 39 2 37 38 36 35 1"),
    // Empty base subjects first ("Re:", "Re: ", "", none), "alpha" = "Alpha", "Ete" before
    // "été" (E + U+0301 after NFKD), every Re/Fwd/[list]/(fwd)/[Fwd: ] form of "Lunch" and
    // "Planning the trip" together.
    ("SORT (SUBJECT) UTF-8 ALL", "* SORT 24 25 26 27 30 31 17 18 5 6 7 35 36 37 38 22 23 21 19 20 39 40 33 32 8 9 10 11 12 13 14 15 16 1 2 3 4 34 28 29"),
    ("SORT (SUBJECT DATE) UTF-8 ALL", "* SORT 24 25 26 27 30 31 17 18 6 5 7 35 36 38 37 22 23 21 19 20 39 40 33 32 8 9 10 11 12 13 14 15 16 1 2 3 4 34 28 29"),
    // The local part of the first From, under i;unicode-casemap: "_under" after letters.
    ("SORT (FROM) UTF-8 ALL", "* SORT 31 30 32 7 14 21 28 35 8 15 22 29 36 2 9 16 23 37 3 10 17 24 38 4 11 18 25 39 5 12 19 26 40 6 13 20 27 34 1 33"),
    ("SORT (TO) UTF-8 ALL", "* SORT 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40"),
    // Only 5 has a Cc; no Cc sorts as the empty string, first.
    ("SORT (CC) UTF-8 ALL", "* SORT 1 2 3 4 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40 5"),
    ("SORT (SIZE) UTF-8 ALL", "* SORT 17 33 25 1 18 9 26 10 27 35 19 11 34 2 28 20 12 36 3 4 13 29 21 30 37 15 14 22 5 31 38 6 7 23 39 16 24 8 32 40"),
    ("SORT (REVERSE SIZE) UTF-8 ALL", "* SORT 40 32 8 24 16 23 39 7 6 38 5 31 22 14 15 37 30 21 29 4 13 3 36 12 20 28 2 34 11 19 35 27 10 26 9 18 1 25 17 33"),
    ("SORT (DISPLAYFROM) UTF-8 ALL", "* SORT 31 30 32 7 14 21 28 35 8 15 22 29 36 2 9 16 23 37 3 10 17 24 38 4 11 18 25 39 5 12 19 26 40 6 13 20 27 34 1 33"),
    ("SORT (DISPLAYTO) UTF-8 ALL", "* SORT 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22 23 24 25 26 27 28 29 30 31 32 33 34 35 36 37 38 39 40"),
    ("UID SORT (SUBJECT) UTF-8 ALL", "* SORT 24 25 26 27 30 31 17 18 5 6 7 35 36 37 38 22 23 21 19 20 39 40 33 32 8 9 10 11 12 13 14 15 16 1 2 3 4 34 28 29"),
    ("SORT (DATE) UTF-8 SUBJECT trip", "* SORT 1 2 3 4 34"),
    ("SORT (REVERSE SUBJECT REVERSE DATE) UTF-8 OR FROM zoe SUBJECT lunch", "* SORT 1 14 13 12 11 10"),
    ("THREAD ORDEREDSUBJECT UTF-8 ALL", "* THREAD (1 (2)(3)(4)(34))(35 (36)(38)(37))(39)(40)(6 (5)(7))(8 9)(10 (11)(12)(13)(14))(17 18)(19)(20)(21)(22 23)(24 (25)(26)(27))(28 29)(30 31)(32)(33)(15 16)"),
    // (7 5 6): replies that arrived before their original; ((8)(9)): a dummy for the
    // missing parent, kept because it has two children; (10 ...): subject gathering; (19 21)
    // (20): the second "dup@x" gets an ID of its own; (23 22): the References cycle broken
    // where it would close; (24)..(27): empty base subjects are never gathered; ((30)(31)):
    // the same subject, neither a reply: a dummy holds both.
    ("THREAD REFERENCES UTF-8 ALL", "* THREAD (1 (2 3)(4 34))(35 36 (38)(37))(39 40)(7 5 6)((8)(9))(10 (11)(12)(13)(14))(17 18)(19 21)(20)(23 22)(24)(25)(26)(27)(28 29)((30)(31))(32)(33)(15 16)"),
    // REFS: no subject gathering, threads by their newest message.
    ("THREAD REFS UTF-8 ALL", "* THREAD (35 36 (38)(37))(39 40)(7 5 6)((8)(9))(10)(11)(12)(13)(14)(17)(18)(20)(19 21)(23 22)(24)(25)(26)(27)(28 29)(30)(31)(32)(33)(1 (2 3)(4 34))(15 16)"),
    ("UID THREAD REFERENCES UTF-8 ALL", "* THREAD (1 (2 3)(4 34))(35 36 (38)(37))(39 40)(7 5 6)((8)(9))(10 (11)(12)(13)(14))(17 18)(19 21)(20)(23 22)(24)(25)(26)(27)(28 29)((30)(31))(32)(33)(15 16)"),
    // A chain with a missing middle message (ch3): 37 hangs under 36 like 38.
    ("THREAD REFERENCES UTF-8 SUBJECT chain", "* THREAD (35 36 (38)(37))"),
    ("UID THREAD ORDEREDSUBJECT UTF-8 SUBJECT lunch", "* THREAD (10 (11)(12)(13)(14))"),
];

#[test]
fn sort_and_thread_answers_match_dovecot() {
    let dir = TempDir::new("sort-thread");
    let srv = TestServer::start(&dir);
    let mut c = corpus_folder(&srv);
    for (command, want) in CASES {
        assert_eq!(untagged(&mut c, command), *want, "{command}");
    }
}

#[test]
fn sort_and_thread_number_by_session_view() {
    let dir = TempDir::new("sort-view");
    let srv = TestServer::start(&dir);
    let mut c = corpus_folder(&srv);
    // Expunge messages 1 and 2: sequence numbers shift, UIDs do not.
    c.cmd("STORE 1:2 +FLAGS.SILENT (\\Deleted)");
    c.cmd("EXPUNGE");
    assert_eq!(
        untagged(&mut c, "SORT (DATE) UTF-8 SUBJECT trip"),
        "* SORT 1 2 32"
    );
    assert_eq!(
        untagged(&mut c, "UID SORT (DATE) UTF-8 SUBJECT trip"),
        "* SORT 3 4 34"
    );
    assert_eq!(
        untagged(&mut c, "THREAD REFERENCES UTF-8 SUBJECT trip"),
        "* THREAD ((1)(2 32))"
    );
    assert_eq!(
        untagged(&mut c, "UID THREAD REFERENCES UTF-8 SUBJECT trip"),
        "* THREAD ((3)(4 34))"
    );
    assert_eq!(untagged(&mut c, "SORT (SIZE) UTF-8 99"), "* SORT");
    assert_eq!(
        untagged(&mut c, "THREAD REFS UTF-8 UNSEEN SEEN"),
        "* THREAD"
    );
}

/// The keys of a sorted folder are kept in memory between commands: a message another
/// session appends is sorted in, an expunged one is gone, and a folder deleted and created
/// again under the same name (new UIDVALIDITY, UIDs from 1 again) is sorted by its own keys.
#[test]
fn sort_sees_changes_by_another_session() {
    let dir = TempDir::new("sort-changes");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    let mut b = srv.login(ALICE);
    a.cmd("CREATE Box");
    let msg = |subject: &str| format!("Subject: {subject}\r\nFrom: x@y\r\n\r\nbody\r\n");
    for s in ["mango", "kiwi"] {
        assert!(b.append("Box", "", msg(s).as_bytes()).contains("OK"));
    }
    a.cmd("SELECT Box");
    assert_eq!(
        untagged(&mut a, "UID SORT (SUBJECT) UTF-8 ALL"),
        "* SORT 2 1"
    );
    assert!(b.append("Box", "", msg("apple").as_bytes()).contains("OK"));
    let r = a.cmd("NOOP");
    assert_eq!(r[0], "* 3 EXISTS", "{r:?}");
    assert_eq!(
        untagged(&mut a, "UID SORT (SUBJECT) UTF-8 ALL"),
        "* SORT 3 2 1"
    );
    assert_eq!(
        untagged(&mut a, "SORT (REVERSE SUBJECT) UTF-8 ALL"),
        "* SORT 1 2 3"
    );
    b.cmd("SELECT Box");
    b.cmd("UID STORE 2 +FLAGS.SILENT (\\Deleted)");
    b.cmd("EXPUNGE");
    let r = a.cmd("NOOP");
    assert_eq!(r[0], "* 2 EXPUNGE", "{r:?}");
    assert_eq!(
        untagged(&mut a, "UID SORT (SUBJECT) UTF-8 ALL"),
        "* SORT 3 1"
    );
    assert_eq!(
        untagged(&mut a, "THREAD ORDEREDSUBJECT UTF-8 ALL"),
        "* THREAD (1)(2)"
    );
    a.cmd("UNSELECT");
    b.cmd("UNSELECT");
    assert!(b.cmd("DELETE Box").last().unwrap().contains("OK"));
    b.cmd("CREATE Box");
    for s in ["zebra", "banana"] {
        assert!(b.append("Box", "", msg(s).as_bytes()).contains("OK"));
    }
    a.cmd("SELECT Box");
    assert_eq!(
        untagged(&mut a, "UID SORT (SUBJECT) UTF-8 ALL"),
        "* SORT 2 1"
    );
    assert_eq!(
        untagged(&mut a, "THREAD ORDEREDSUBJECT UTF-8 ALL"),
        "* THREAD (1)(2)"
    );
}

#[test]
fn sort_and_thread_errors_and_capabilities() {
    let dir = TempDir::new("sort-errors");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    let caps = c.cmd("CAPABILITY");
    for cap in [
        " SORT ",
        " SORT=DISPLAY ",
        " THREAD=ORDEREDSUBJECT ",
        " THREAD=REFERENCES ",
        " THREAD=REFS ",
        " I18NLEVEL=1",
    ] {
        assert!(caps[0].contains(cap), "{cap} missing: {}", caps[0]);
    }
    let r = c.cmd("SORT (DATE) UTF-8 ALL");
    assert!(r[0].contains("BAD") && r[0].contains("SELECT"), "{r:?}");
    c.cmd("SELECT INBOX");
    let r = c.cmd("THREAD FROBNICATE UTF-8 ALL");
    assert!(
        r[0].contains("BAD Unknown threading algorithm FROBNICATE"),
        "{r:?}"
    );
    let r = c.cmd("SORT (DATE) KOI8-R ALL");
    assert!(r[0].contains("NO [BADCHARSET (UTF-8 US-ASCII)]"), "{r:?}");
    let r = c.cmd("SORT (NOSUCHKEY) UTF-8 ALL");
    assert!(r[0].contains(" BAD "), "{r:?}");
    let r = c.cmd("SORT () UTF-8 ALL");
    assert!(r[0].contains(" BAD "), "{r:?}");
}

/// ESORT (RFC 5267 §3). Dovecot 2.3.19 gives the same numbers, with COUNT after ALL (the
/// order of ESEARCH return data is free, RFC 4731 §3.1).
#[test]
fn esort_return_options() {
    let dir = TempDir::new("esort");
    let srv = TestServer::start(&dir);
    let mut c = corpus_folder(&srv);
    let caps = c.cmd("CAPABILITY");
    assert!(caps[0].contains(" ESORT"), "{}", caps[0]);
    for (command, want) in [
        (
            "SORT RETURN (MIN MAX COUNT ALL) (SUBJECT) UTF-8 ALL",
            "* ESEARCH (TAG \"TAG\") MIN 24 MAX 29 COUNT 40 ALL 24:27,30:31,17:18,5:7,35:38,22:23,21,19:20,39:40,33,32,8:16,1:4,34,28:29",
        ),
        (
            "UID SORT RETURN (MIN MAX COUNT ALL) (REVERSE DATE) UTF-8 SUBJECT trip",
            "* ESEARCH (TAG \"TAG\") UID MIN 34 MAX 1 COUNT 5 ALL 34,4,3,2,1",
        ),
        ("SORT RETURN () (DATE) UTF-8 SUBJECT trip", "* ESEARCH (TAG \"TAG\") ALL 1:4,34"),
        ("SORT RETURN (COUNT) (DATE) UTF-8 SUBJECT nothing", "* ESEARCH (TAG \"TAG\") COUNT 0"),
        ("SORT RETURN (MIN MAX ALL) (DATE) UTF-8 SUBJECT nothing", "* ESEARCH (TAG \"TAG\")"),
        ("SORT RETURN (ALL) (SIZE) UTF-8 1:10", "* ESEARCH (TAG \"TAG\") ALL 1,9:10,2:8"),
        ("SORT RETURN (ALL) (REVERSE ARRIVAL) UTF-8 1:5,8", "* ESEARCH (TAG \"TAG\") ALL 8,5,4,3,2,1"),
    ] {
        let tag = format!("t{}", c.peek_tag());
        let got = untagged(&mut c, command).replace(&format!("\"{tag}\""), "\"TAG\"");
        assert_eq!(got, want, "{command}");
    }
    // SAVE keeps the set (no answer); `$` then works in SORT criteria.
    let r = c.cmd("SORT RETURN (SAVE) (DATE) UTF-8 SUBJECT lunch");
    assert_eq!(r.len(), 1, "{r:?}");
    assert!(r[0].contains("OK"), "{r:?}");
    assert_eq!(
        untagged(&mut c, "SORT (REVERSE DATE) UTF-8 $"),
        "* SORT 14 13 12 11 10"
    );
    assert_eq!(untagged(&mut c, "UID SEARCH $"), "* SEARCH 10 11 12 13 14");
    let r = c.cmd("SORT RETURN (FROBNICATE) (DATE) UTF-8 ALL");
    assert!(
        r[0].contains("BAD Unknown SORT RETURN option FROBNICATE"),
        "{r:?}"
    );
}

/// PARTIAL (RFC 9394) on SEARCH and SORT: a window of the result by position. The positive
/// windows are what Dovecot 2.3.19 answers (it has RFC 5267's PARTIAL, without negative
/// ranges, and puts COUNT after PARTIAL).
#[test]
fn partial_windows_of_search_and_sort() {
    let dir = TempDir::new("partial");
    let srv = TestServer::start(&dir);
    let mut c = corpus_folder(&srv);
    let caps = c.cmd("CAPABILITY");
    assert!(caps[0].contains(" PARTIAL"), "{}", caps[0]);
    for (command, want) in [
        (
            "SORT RETURN (PARTIAL 1:5) (DATE) UTF-8 ALL",
            "PARTIAL (1:5 1,35:36,38,37)",
        ),
        (
            "SORT RETURN (PARTIAL -1:-3) (DATE) UTF-8 ALL",
            "PARTIAL (-1:-3 34,15:16)",
        ),
        (
            "UID SORT RETURN (COUNT PARTIAL 2:3) (REVERSE DATE) UTF-8 SUBJECT trip",
            "UID COUNT 5 PARTIAL (2:3 4,3)",
        ),
        (
            "SEARCH RETURN (PARTIAL 3:1) SUBJECT lunch",
            "PARTIAL (1:3 10:12)",
        ),
        (
            "SEARCH RETURN (PARTIAL -3:-2) SUBJECT lunch",
            "PARTIAL (-2:-3 12:13)",
        ),
        (
            "UID SEARCH RETURN (MIN PARTIAL -1:-2) SUBJECT lunch",
            "UID MIN 10 PARTIAL (-1:-2 13:14)",
        ),
        (
            "SEARCH RETURN (PARTIAL 100:200) ALL",
            "PARTIAL (100:200 NIL)",
        ),
    ] {
        let tag = format!("t{}", c.peek_tag());
        let got = untagged(&mut c, command);
        assert_eq!(
            got,
            format!("* ESEARCH (TAG \"{tag}\") {want}"),
            "{command}"
        );
    }
    // SAVE with PARTIAL answers the window and keeps it.
    let tag = format!("t{}", c.peek_tag());
    assert_eq!(
        untagged(&mut c, "SEARCH RETURN (SAVE PARTIAL 1:2) SUBJECT lunch"),
        format!("* ESEARCH (TAG \"{tag}\") PARTIAL (1:2 10:11)")
    );
    assert_eq!(untagged(&mut c, "UID SEARCH $"), "* SEARCH 10 11");
    for bad in [
        "SEARCH RETURN (ALL PARTIAL 1:5) ALL",
        "SEARCH RETURN (PARTIAL 0:5) ALL",
        "SORT RETURN (PARTIAL 1:-5) (DATE) UTF-8 ALL",
    ] {
        let r = c.cmd(bad);
        assert!(r[0].contains(" BAD "), "{bad}: {r:?}");
    }
}

const IMAPCLIENT_SCRIPT: &str = r#"
import datetime, sys
from imapclient import IMAPClient
c = IMAPClient("127.0.0.1", port=int(sys.argv[1]), ssl=False)
c.login("alice", "wonderland")
assert c.has_capability("SORT") and c.has_capability("THREAD=REFERENCES"), c.capabilities()
msgs = [
    ("Zebra", "a@x", None, 3),
    ("Re: Zebra", "b@x", "a@x", 1),
    ("apple", "c@x", None, 2),
    ("Re: Re: Zebra", "d@x", "b@x", 4),
]
for subject, mid, parent, day in msgs:
    h = "From: u@example.org\r\nSubject: %s\r\nMessage-ID: <%s>\r\nDate: %d Jan 2024 10:00:00 +0000\r\n" % (subject, mid, day)
    if parent:
        h += "In-Reply-To: <%s>\r\n" % parent
    c.append("INBOX", (h + "\r\nbody\r\n").encode())
c.select_folder("INBOX")
print("SUBJECT", c.sort(["SUBJECT"]))
print("REVERSE DATE", c.sort(["REVERSE DATE"]))
print("SEEN", c.sort("ARRIVAL", ["UNSEEN"]))
print("REFERENCES", c.thread("REFERENCES"))
print("ORDEREDSUBJECT", c.thread("ORDEREDSUBJECT"))
c.logout()
"#;

#[test]
fn imapclient_sort_and_thread() {
    let dir = TempDir::new("imapclient-sort");
    let srv = TestServer::start(&dir);
    let out = python(IMAPCLIENT_SCRIPT, &[&srv.port.to_string()]);
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "SUBJECT [3, 1, 2, 4]",
            "REVERSE DATE [4, 1, 3, 2]",
            "SEEN [1, 2, 3, 4]",
            "REFERENCES ((3,), (1, 2, 4))",
            "ORDEREDSUBJECT ((2, (1,), (4,)), (3,))",
        ]
    );
}

/// What SORT and THREAD of ALL answer from the kept keys follows every change: a message
/// another session expunged or appended but this one has not been told of yet is left out
/// (as a search leaves it out), flag changes keep the answer, and REVERSE keeps equal keys
/// in sequence order, the first time and when repeated.
#[test]
fn sort_all_follows_changes_not_yet_announced() {
    let dir = TempDir::new("sort-all-untold");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    let mut b = srv.login(ALICE);
    a.cmd("CREATE Box");
    let msg = |subject: &str| format!("Subject: {subject}\r\nFrom: x@y\r\n\r\nbody\r\n");
    for s in ["pear", "fig", "pear", "fig", "apple"] {
        assert!(b.append("Box", "", msg(s).as_bytes()).contains("OK"));
    }
    a.cmd("SELECT Box");
    for _ in 0..2 {
        assert_eq!(
            answer(&mut a, "SORT (SUBJECT) UTF-8 ALL"),
            "* SORT 5 2 4 1 3"
        );
        assert_eq!(
            answer(&mut a, "SORT (REVERSE SUBJECT) UTF-8 ALL"),
            "* SORT 1 3 2 4 5"
        );
    }
    b.cmd("SELECT Box");
    b.cmd("UID STORE 1 +FLAGS.SILENT (\\Flagged)");
    assert_eq!(
        answer(&mut a, "SORT (REVERSE SUBJECT) UTF-8 ALL"),
        "* SORT 1 3 2 4 5"
    );
    // Expunged by b, appended by b: a has heard of neither.
    b.cmd("UID STORE 2 +FLAGS.SILENT (\\Deleted)");
    b.cmd("EXPUNGE");
    assert!(b.append("Box", "", msg("banana").as_bytes()).contains("OK"));
    assert_eq!(answer(&mut a, "SORT (SUBJECT) UTF-8 ALL"), "* SORT 5 4 1 3");
    a.cmd("NOOP");
    assert_eq!(
        answer(&mut a, "SORT (SUBJECT) UTF-8 ALL"),
        "* SORT 4 5 3 1 2"
    );
    assert_eq!(
        answer(&mut a, "THREAD ORDEREDSUBJECT UTF-8 ALL"),
        "* THREAD (1 2)(3)(4)(5)"
    );
    assert_eq!(
        answer(&mut a, "UID SORT (SUBJECT) UTF-8 ALL"),
        "* SORT 5 6 4 1 3"
    );
}

/// The server keeps only the keys commands asked for, and reads a key the first time a
/// command needs it: a SORT by a second key after a first, a THREAD after SORTs, and new keys
/// after an APPEND, an expunge (told and not yet told) and flag changes (criteria that are not
/// ALL) all answer as if every key had been read at once.
#[test]
fn sort_by_new_keys_after_others_and_after_changes() {
    // (From, To, Cc, Subject, day of December, body length, Message-ID, References)
    type Spec = (
        &'static str,
        &'static str,
        &'static str,
        &'static str,
        u32,
        usize,
        &'static str,
        &'static str,
    );
    let msg = |(from, to, cc, subject, day, len, id, refs): Spec| {
        let refs = if refs.is_empty() {
            String::new()
        } else {
            format!("References: <{refs}@t>\r\n")
        };
        format!(
            "From: {from}\r\nTo: {to}@x.org\r\nCc: {cc}@x.org\r\nSubject: {subject}\r\n\
             Date: {day:02} Dec 2026 10:00:00 +0000\r\nMessage-ID: <{id}@t>\r\n{refs}\r\n{}\r\n",
            "x".repeat(len)
        )
    };
    let first: [Spec; 5] = [
        (
            "Yves <carol@x.org>",
            "tom",
            "zed",
            "Re: melon",
            5,
            300,
            "m1",
            "m3",
        ),
        ("alice@x.org", "sam", "amy", "apple", 2, 100, "m2", ""),
        ("erin@x.org", "una", "bob", "melon", 1, 500, "m3", ""),
        ("bob@x.org", "rob", "kim", "Re: apple", 4, 0, "m4", "m2"),
        ("Abe <dave@x.org>", "pat", "eve", "banana", 3, 200, "m5", ""),
    ];
    let dir = TempDir::new("sort-new-keys");
    let srv = TestServer::start(&dir);
    let mut a = srv.login(ALICE);
    let mut b = srv.login(ALICE);
    a.cmd("CREATE Box");
    for m in first {
        assert!(b.append("Box", "", msg(m).as_bytes()).contains("OK"));
    }
    a.cmd("SELECT Box");
    assert_eq!(
        answer(&mut a, "SORT (SUBJECT) UTF-8 ALL"),
        "* SORT 2 4 5 1 3"
    );
    assert_eq!(answer(&mut a, "SORT (FROM) UTF-8 ALL"), "* SORT 2 4 1 5 3");
    assert_eq!(answer(&mut a, "SORT (SIZE) UTF-8 ALL"), "* SORT 4 2 5 1 3");
    assert_eq!(
        answer(&mut a, "THREAD REFERENCES UTF-8 ALL"),
        "* THREAD (3 1)(2 4)(5)"
    );
    // A new message: the kept keys are extended, a new one read for all six.
    let sixth = (
        "amos@x.org",
        "quin",
        "ann",
        "Re: banana",
        1,
        400,
        "m6",
        "m5",
    );
    assert!(b.append("Box", "", msg(sixth).as_bytes()).contains("OK"));
    let r = a.cmd("NOOP");
    assert_eq!(r[0], "* 6 EXISTS", "{r:?}");
    assert_eq!(answer(&mut a, "SORT (TO) UTF-8 ALL"), "* SORT 5 6 4 2 1 3");
    assert_eq!(
        answer(&mut a, "SORT (FROM) UTF-8 ALL"),
        "* SORT 2 6 4 1 5 3"
    );
    assert_eq!(
        answer(&mut a, "THREAD REFERENCES UTF-8 ALL"),
        "* THREAD (3 1)(2 4)(5 6)"
    );
    // Expunged by b, not yet told to a: left out of a new key's answer.
    b.cmd("SELECT Box");
    b.cmd("UID STORE 2 +FLAGS.SILENT (\\Deleted)");
    b.cmd("EXPUNGE");
    assert_eq!(answer(&mut a, "SORT (CC) UTF-8 ALL"), "* SORT 6 3 5 4 1");
    let r = a.cmd("NOOP");
    assert_eq!(r[0], "* 2 EXPUNGE", "{r:?}");
    // 3 and 6 share a Date: sequence order.
    assert_eq!(answer(&mut a, "SORT (DATE) UTF-8 ALL"), "* SORT 2 5 4 3 1");
    // 4's parent is gone: it is a thread of its own.
    assert_eq!(
        answer(&mut a, "THREAD REFERENCES UTF-8 ALL"),
        "* THREAD (2 1)(4 5)(3)"
    );
    // Flag changes, and criteria that are not ALL, with keys not read yet.
    b.cmd("UID STORE 1,5 +FLAGS.SILENT (\\Flagged)");
    assert_eq!(
        answer(&mut a, "SORT (DISPLAYFROM) UTF-8 FLAGGED"),
        "* SORT 4 1"
    );
    assert_eq!(
        answer(&mut a, "SORT (REVERSE SIZE) UTF-8 UNFLAGGED"),
        "* SORT 2 5 3"
    );
    assert_eq!(
        answer(&mut a, "UID SORT (DISPLAYTO) UTF-8 UNFLAGGED"),
        "* SORT 6 4 3"
    );
    assert_eq!(
        answer(&mut a, "THREAD REFS UTF-8 FLAGGED"),
        "* THREAD (4)(1)"
    );
}
