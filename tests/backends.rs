//! The same IMAP sessions on both store backends: a SQLite file and a PostgreSQL database must
//! give a client the same answers, byte for byte apart from the identifiers that are random per
//! database (UIDVALIDITY, OBJECTID). And two servers ("nodes") on one PostgreSQL database
//! serve the same mailboxes: unique UIDs from concurrent APPENDs, IDLE woken by the other
//! node's commit, expunges seen across nodes, the `serve` binary on a `postgresql://` URL.
//! tests/common/pg.rs says where the PostgreSQL database comes from.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

use common::*;
use liteimap::server::Config;
use liteimap::store::Store;

fn config() -> Config {
    Config {
        auth_failure_delay: std::time::Duration::ZERO,
        ..Config::default()
    }
}

fn pg_server(db: &pg::TestDb, fresh: bool) -> TestServer {
    let store = Store::open_postgres(&db.url).expect("open the PostgreSQL store");
    TestServer::start_on(store, fresh, "postgresql".into(), config())
}

/// Identifiers that differ between two databases by design, masked: UIDVALIDITY is the
/// creation time, OBJECTIDs are keyed by a random per-database key.
fn masked(lines: Vec<String>) -> Vec<String> {
    lines
        .into_iter()
        .map(|l| {
            let mut out = String::new();
            let mut words = l.split(' ').peekable();
            let mut first = true;
            while let Some(w) = words.next() {
                if !first {
                    out.push(' ');
                }
                first = false;
                out.push_str(w);
                let number_follows = w.ends_with("UIDVALIDITY")
                    || w.ends_with("APPENDUID")
                    || w.ends_with("COPYUID");
                if number_follows {
                    if let Some(n) = words.next() {
                        let digits = n.trim_start_matches(|c: char| c.is_ascii_digit());
                        out.push_str(" <v>");
                        out.push_str(digits);
                        first = false;
                    }
                }
            }
            mask_ids(&out)
        })
        .collect()
}

/// `F…`, `M…` and `T…` object ids (a letter and 24 hex digits) replaced by `<id>`.
fn mask_ids(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = String::new();
    let mut i = 0;
    while i < b.len() {
        let is_id = matches!(b[i], b'F' | b'M' | b'T')
            && (i == 0 || !b[i - 1].is_ascii_alphanumeric())
            && b.len() >= i + 25
            && b[i + 1..i + 25]
                .iter()
                .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
            && b.get(i + 25).is_none_or(|c| !c.is_ascii_alphanumeric());
        if is_id {
            out.push_str("<id>");
            i += 25;
        } else {
            out.push(b[i] as char);
            i += 1;
        }
    }
    out
}

const DATE: &str = "\"02-Dec-2026 09:30:00 +0100\"";

fn mail(n: usize, subject: &str) -> Vec<u8> {
    format!(
        "From: Carol <carol@example.org>\r\nTo: alice@example.org\r\nSubject: {subject}\r\n\
         Message-ID: <m{n}@example.org>\r\nDate: Wed, 2 Dec 2026 09:{n:02}:00 +0100\r\n\
         Content-Type: text/plain\r\n\r\nhello number {n}\r\nsecond line\r\n"
    )
    .into_bytes()
}

/// Replies and other senders for SORT and THREAD: (From, Subject, extra header lines).
const THREADED: [(&str, &str, &str); 4] = [
    (
        "Alan <alan@example.org>",
        "Re: Report 1",
        "Message-ID: <r1@example.org>\r\nIn-Reply-To: <m1@example.org>\r\n\
         References: <m1@example.org>\r\nDate: Wed, 2 Dec 2026 08:00:00 +0100\r\n",
    ),
    (
        "bob@example.org",
        "[list] Fwd: Report 2",
        "Message-ID: <r2@example.org>\r\nReferences: <m2@example.org>\r\n",
    ),
    (
        "Zed <zed@example.org>",
        "Aardvark",
        "Message-ID: <r3@example.org>\r\nReferences: <m1@example.org> <r1@example.org>\r\n\
         Date: Wed, 2 Dec 2026 10:00:00 -0500\r\n",
    ),
    (
        "Carol <carol@example.org>",
        "re: REPORT 3",
        "Date: Tue, 1 Dec 2026 23:59:59 +0000\r\n",
    ),
];

fn threaded(i: usize) -> Vec<u8> {
    let (from, subject, extra) = THREADED[i];
    format!(
        "From: {from}\r\nTo: alice@example.org\r\nSubject: {subject}\r\n{extra}\
         Content-Type: text/plain\r\n\r\nreply {i} with a longer body to sort by size\r\n"
    )
    .into_bytes()
}

/// A session of two clients that touches most of what a store does, as a transcript.
fn transcript(srv: &TestServer) -> Vec<String> {
    let mut out = Vec::new();
    let mut a = srv.login(ALICE);
    let mut log = |what: &str, lines: Vec<String>| {
        out.push(format!("== {what}"));
        out.extend(masked(lines));
    };
    log("create", a.cmd("CREATE Work/2026"));
    log("list", a.cmd("LIST \"\" \"*\""));
    log("subscribe", a.cmd("SUBSCRIBE Work"));
    log("lsub", a.cmd("LSUB \"\" \"*\""));
    for (n, flags) in [(1, "(\\Seen)"), (2, "()"), (3, "(\\Flagged $Work)")] {
        let m = mail(n, &format!("Report {n}"));
        let r = a.cmd_literal(&format!("APPEND INBOX {flags} {DATE}"), &m, "");
        log("append", r);
    }
    for i in 0..THREADED.len() {
        let r = a.cmd_literal(&format!("APPEND INBOX () {DATE}"), &threaded(i), "");
        log("append threaded", r);
    }
    log("enable", a.cmd("ENABLE CONDSTORE"));
    log("select", a.cmd("SELECT INBOX"));
    log(
        "fetch",
        a.cmd("FETCH 1:* (UID FLAGS RFC822.SIZE INTERNALDATE ENVELOPE MODSEQ)"),
    );
    log(
        "body",
        a.cmd("FETCH 2 (BODY[HEADER.FIELDS (SUBJECT)] BODY[TEXT]<0.10>)"),
    );
    let mut b = srv.login(ALICE);
    log("object ids", a.cmd("FETCH 1:* (EMAILID THREADID)"));
    log("b select", b.cmd("EXAMINE INBOX"));
    log("store", a.cmd("STORE 2 +FLAGS (\\Deleted \\Answered)"));
    log(
        "unchangedsince",
        a.cmd("STORE 1 (UNCHANGEDSINCE 1) +FLAGS (x)"),
    );
    log("b noop", b.cmd("NOOP"));
    log("search", a.cmd("UID SEARCH UNSEEN"));
    log("search text", a.cmd("UID SEARCH BODY \"number 3\""));
    log(
        "search header",
        a.cmd("SEARCH FROM carol SUBJECT \"Report 1\""),
    );
    // SORT, THREAD and ESEARCH read the stored sort keys, headers and bodies in one scan.
    for cmd in [
        "SORT (DATE) UTF-8 ALL",
        "SORT (SUBJECT) UTF-8 ALL",
        "SORT (FROM) UTF-8 ALL",
        "SORT (REVERSE ARRIVAL) UTF-8 ALL",
        "SORT (SIZE REVERSE DATE) UTF-8 UNSEEN",
        "SORT (DISPLAYFROM TO CC) UTF-8 ALL",
        "UID SORT (REVERSE SUBJECT DATE) UTF-8 NOT FROM carol",
        "THREAD REFERENCES UTF-8 ALL",
        "THREAD ORDEREDSUBJECT UTF-8 ALL",
        "UID THREAD REFERENCES UTF-8 BODY reply",
        "SEARCH RETURN (MIN MAX COUNT) ALL",
        "UID SEARCH RETURN (MIN MAX COUNT ALL) SUBJECT report",
        "SEARCH RETURN (COUNT) BODY \"longer body\"",
        "SEARCH HEADER In-Reply-To m1@example.org",
        "SEARCH TEXT \"number 2\"",
    ] {
        log(cmd, a.cmd(cmd));
    }
    log(
        "changedsince",
        a.cmd("UID FETCH 1:* (FLAGS) (CHANGEDSINCE 4)"),
    );
    log("expunge", a.cmd("EXPUNGE"));
    log("b noop after expunge", b.cmd("NOOP"));
    log("copy", a.cmd("COPY 1:2 Work/2026"));
    log("move", a.cmd("UID MOVE 3 Work"));
    // The kept keys after the expunge and the move, and one (DISPLAYTO) not read before.
    for cmd in [
        "SORT (DISPLAYTO CC REVERSE DATE) UTF-8 ALL",
        "SORT (SUBJECT) UTF-8 UNSEEN",
        "THREAD REFS UTF-8 ALL",
    ] {
        log(cmd, a.cmd(cmd));
    }
    log(
        "status",
        a.cmd("STATUS Work/2026 (MESSAGES UIDNEXT UNSEEN RECENT SIZE)"),
    );
    log("b fetch", b.cmd("FETCH 1:* (UID FLAGS)"));
    log("rename", a.cmd("RENAME Work Play"));
    log("list after", a.cmd("LIST \"\" \"*\""));
    log("select copy", a.cmd("SELECT Play/2026"));
    log(
        "fetch copy",
        a.cmd("FETCH 1:* (UID FLAGS BODY.PEEK[HEADER.FIELDS (MESSAGE-ID)])"),
    );
    log("delete", a.cmd("DELETE Play"));
    log("getquota", a.cmd("GETQUOTAROOT INBOX"));
    log(
        "metadata",
        a.cmd("SETMETADATA INBOX (/private/comment \"mine\")"),
    );
    log("getmetadata", a.cmd("GETMETADATA INBOX /private/comment"));
    log("logout", a.cmd("LOGOUT"));
    out
}

#[test]
fn a_session_gets_the_same_answers_from_sqlite_and_from_postgresql() {
    let dir = TempDir::new("backends-same");
    let sqlite = TestServer::start(&dir);
    let expected = transcript(&sqlite);
    sqlite.stop();
    // Not a comparison of two failures: every command of the transcript succeeds on SQLite.
    let refused: Vec<&String> = expected
        .iter()
        .filter(|l| l.starts_with("TAG NO") || l.starts_with("TAG BAD"))
        .collect();
    assert!(refused.is_empty(), "{refused:?}");

    let db = pg::fresh_db();
    let postgres = pg_server(&db, true);
    let got = transcript(&postgres);
    postgres.stop();

    for (i, (e, g)) in expected.iter().zip(&got).enumerate() {
        assert_eq!(
            e,
            g,
            "line {i} differs; PostgreSQL transcript:\n{}",
            got.join("\n")
        );
    }
    assert_eq!(expected.len(), got.len(), "{}", got.join("\n"));
}

#[test]
fn two_nodes_on_one_database_give_unique_uids_and_see_each_others_changes() {
    let db = pg::fresh_db();
    let node_a = pg_server(&db, true);
    let node_b = pg_server(&db, false);

    // B idles on INBOX; A's APPEND wakes it through the database's notifications.
    let mut idler = node_b.login(ALICE);
    idler.cmd("SELECT INBOX");
    idler.send(b"i IDLE\r\n");
    assert_eq!(idler.read_line(), "+ idling");
    let mut a = node_a.login(ALICE);
    let r = a.append("INBOX", "", &mail(1, "first"));
    assert!(r.contains("OK [APPENDUID "), "{r}");
    assert_eq!(idler.read_line(), "* 1 EXISTS");
    assert_eq!(idler.read_line(), "* 1 RECENT");
    idler.send(b"DONE\r\n");
    assert_eq!(idler.until_tagged("i"), vec!["TAG OK IDLE terminated"]);

    // Both nodes append at once: every UID is handed out once.
    let threads: Vec<_> = [node_a.port, node_b.port, node_a.port, node_b.port]
        .into_iter()
        .enumerate()
        .map(|(t, port)| {
            std::thread::spawn(move || {
                let mut c = Client::connect(port);
                c.greeting = c.read_line();
                c.cmd(&format!("LOGIN {} {}", ALICE.0, ALICE.1));
                (0..10)
                    .map(|i| {
                        let r = c.append("INBOX", "", &mail(10 + t * 10 + i, "burst"));
                        let uid = r
                            .split(' ')
                            .nth(4)
                            .and_then(|u| u.trim_end_matches(']').parse::<u32>().ok());
                        uid.unwrap_or_else(|| panic!("no APPENDUID in {r}"))
                    })
                    .collect::<Vec<u32>>()
            })
        })
        .collect();
    let mut uids: Vec<u32> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    uids.sort_unstable();
    assert_eq!(uids, (2..=41).collect::<Vec<u32>>());

    // An expunge on A reaches B's session as EXPUNGE at its next NOOP, with B's numbers.
    let r = idler.cmd("NOOP");
    let exists: Vec<&String> = r.iter().filter(|l| l.ends_with(" EXISTS")).collect();
    assert_eq!(exists, vec!["* 41 EXISTS"], "{r:?}");
    a.cmd("SELECT INBOX");
    a.cmd("STORE 1,41 +FLAGS (\\Deleted)");
    assert_eq!(
        a.cmd("EXPUNGE"),
        vec!["* 1 EXPUNGE", "* 40 EXPUNGE", "TAG OK EXPUNGE completed"]
    );
    let r = idler.cmd("NOOP");
    let expunged: Vec<&String> = r.iter().filter(|l| l.ends_with("EXPUNGE")).collect();
    assert_eq!(expunged, vec!["* 1 EXPUNGE", "* 40 EXPUNGE"], "{r:?}");
    assert_eq!(
        idler.cmd("FETCH 1 (UID)"),
        vec!["* 1 FETCH (UID 2)", "TAG OK FETCH completed"]
    );
    node_a.stop();
    node_b.stop();
}

#[test]
fn serve_runs_on_a_postgresql_url_and_keeps_uids_across_restarts() {
    let db = pg::fresh_db();
    let url = db.url();
    let bin = env!("CARGO_BIN_EXE_liteimap");
    let hash_in = Command::new(bin)
        .args(["--db", &url, "user", "add", ALICE.0, "--password-stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let out = {
        let mut child = hash_in;
        use std::io::Write;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(format!("{}\n", ALICE.1).as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    };
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let mut first_validity = String::new();
    for round in 0..2 {
        let mut child = Command::new(bin)
            .args(["--db", &url, "serve", "--listen", "127.0.0.1:0"])
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let mut err = BufReader::new(child.stderr.take().unwrap());
        let mut seen = String::new();
        let port = loop {
            let mut line = String::new();
            assert!(
                err.read_line(&mut line).unwrap() > 0,
                "serve ended early:\n{seen}"
            );
            seen.push_str(&line);
            if let Some(p) = listening_port(&line) {
                break p;
            }
        };
        let mut c = Client::connect(port);
        c.greeting = c.read_line();
        assert!(c
            .cmd("LOGIN alice wonderland")
            .last()
            .unwrap()
            .contains("OK"));
        let r = c.append("INBOX", "", &mail(round, "restart"));
        assert!(
            r.contains(&format!(" {}] APPEND completed", round + 1)),
            "{r}"
        );
        let v = uidvalidity(&mut c, "INBOX");
        if round == 0 {
            first_validity = v;
        } else {
            assert_eq!(v, first_validity, "UIDVALIDITY changed across a restart");
        }
        c.cmd("LOGOUT");
        child.kill().unwrap();
        child.wait().unwrap();
    }
}
