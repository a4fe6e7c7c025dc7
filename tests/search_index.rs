//! The search index (issue 24): every text key gives the same answer with the index as with
//! the full scan — short and long needles, non-ASCII, header and body keys, encoded words,
//! parsed addresses, the testdata fixtures, after COPY and EXPUNGE, and after a rebuild; and
//! the same before the indexer has taken the stored bodies in (they wait in its queue).

mod common;
use common::*;

/// Messages beside the fixtures: the shapes where folding, decoding or parsing decide.
fn extra_messages() -> Vec<Vec<u8>> {
    let mut v: Vec<Vec<u8>> = vec![
        "From: Σίσυφος <sis@example.gr>\r\nTo: ΟΔΟΣ <odos@example.gr>\r\nSubject: ΟΔΟΣ και οδος\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nΟΔΟΣ ΟΔΟΣΣ Straße İstanbul ǅemal ﬁsh\r\n".as_bytes().to_vec(),
        b"From: <user-from (comment)@ (comment) domain.org>\r\nTo: \"Quoted, Name\" <q@x.org>, group: a@b.c, d@e.f;\r\nCc: Some (x) One <one@x.org>\r\nBcc: hidden@example.net\r\nSender: sender@example.com\r\nReply-To: =?UTF-8?Q?J=C3=BCrgen?= <juergen@example.de>\r\nSubject: =?UTF-8?Q?Gr=C3=BC=C3=9Fe?= aus =?ISO-8859-1?B?S/Zsbg==?=\r\nX-Priority: urgent-ish\r\n\r\nplain body with zebracorn\r\n".to_vec(),
        b"From: html@example.com\r\nSubject: html\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\nU2VjcmV0IGJhc2U2NCBwYXlsb2Fk\r\n--b\r\nContent-Type: text/html; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<p><b>Caf=E9</b> cr=E8me br=FBl=E9e</p>\r\n--b\r\nContent-Type: application/octet-stream\r\n\r\nsecretword\r\n--b--\r\n".to_vec(),
        b"From: ru@example.ru\r\nSubject: koi\r\nContent-Type: text/plain; charset=koi8-r\r\nContent-Transfer-Encoding: 8bit\r\n\r\n\xf0\xd2\xc9\xd7\xc5\xd4 \xcd\xc9\xd2\r\n".to_vec(),
        b"Subject: broken\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!not base64 zebracorn!!!\r\n".to_vec(),
    ];
    for i in 0..6 {
        v.push(message(
            &format!("number {i} meeting"),
            &format!("body {i} of the meeting notes, zebra{i} report"),
        ));
    }
    v
}

const NEEDLES: &[&str] = &[
    "",
    "a",
    "ab",
    "abc",
    "the",
    "alice",
    "Alice@Example.ORG",
    "example",
    "user-from@domain.org",
    "USER-FROM@DOMAIN",
    "comment",
    "some one",
    "quoted, name",
    "secret",
    "Secret base64 payload",
    "secretword",
    "café crème",
    "CRÈME BRÛLÉE",
    "<b>caf",
    "οδος",
    "ΟΔΟΣ",
    "οδοσ",
    "δοσσ",
    "straße",
    "STRASSE",
    "i\u{307}stanbul",
    "istanbul",
    "ǆemal",
    "fish",
    "ﬁsh",
    "привет",
    "мир",
    "zebracorn",
    "zebra3",
    "number 4",
    "meeting notes",
    "grüße",
    "köln",
    "jürgen",
    "=?utf-8?",
    "multipart/alternative",
    "content-type: text",
    "subject: alpha",
    "from: alice",
    "x-priority: urgent",
    "urgent-ish",
    "\"",
    "a\"b",
    "not base64",
    "hidden@example",
    "sender@",
    "odos@example.gr",
    "sis@",
    "this needle is far too long to be in any message of this mailbox at all, really",
    "body 2 of the meeting notes, zebra2 report",
];

const HEADER_NAMES: &[&str] = &["from", "X-Priority", "Reply-To", "Content-Type"];

/// Each key with each needle, and a few combinations (`all`), or the BODY, TEXT and FROM
/// queries only.
fn queries(all: bool) -> Vec<(String, Vec<u8>)> {
    let mut q = Vec::new();
    for n in NEEDLES {
        for key in ["BODY", "TEXT", "FROM", "SUBJECT", "TO", "CC", "BCC"] {
            q.push((key.to_string(), n.as_bytes().to_vec()));
        }
        if !all {
            q.truncate(q.len() - 4);
            continue;
        }
        for h in HEADER_NAMES {
            q.push((format!("HEADER {h}"), n.as_bytes().to_vec()));
        }
        // Combinations, with the needle also as a quoted string where it can be one.
        if n.chars()
            .all(|c| c.is_ascii_alphanumeric() || " @.-,".contains(c))
        {
            q.push((format!("OR BODY \"{n}\" FROM"), b"alice".to_vec()));
            q.push((format!("NOT BODY \"{n}\" TEXT"), b"meeting".to_vec()));
            q.push((format!("SEEN SUBJECT \"{n}\" TEXT"), b"the".to_vec()));
        }
    }
    q
}

/// `UID SEARCH CHARSET UTF-8 <key> <needle as a literal>`: the `* SEARCH` line.
fn uid_search(c: &mut Client, key: &str, needle: &[u8]) -> String {
    let r = c.cmd_literal(&format!("UID SEARCH CHARSET UTF-8 {key}"), needle, "");
    assert_eq!(r.len(), 2, "{key} {needle:?}: {r:?}");
    assert!(r[1].starts_with("TAG OK"), "{key} {needle:?}: {r:?}");
    r[0].clone()
}

/// All queries in INBOX, and BODY, TEXT and FROM in Archive (the copies).
fn all_results(c: &mut Client) -> Vec<String> {
    let mut out = Vec::new();
    for (mailbox, all) in [("INBOX", true), ("Archive", false)] {
        c.cmd(&format!("SELECT {mailbox}"));
        for (key, needle) in queries(all) {
            let line = uid_search(c, &key, &needle);
            out.push(format!(
                "{mailbox} {key} {:?} -> {line}",
                String::from_utf8_lossy(&needle)
            ));
        }
    }
    out
}

#[test]
fn the_index_gives_the_scans_results() {
    let dir = TempDir::new("search-index");
    let srv = TestServer::start(&dir);
    let store = srv.ctx.store.clone();
    assert!(store.search_index_on().unwrap());
    // Everything is stored (and some expunged) while the indexer is held: the first pass
    // answers from the queue alone, as right after an APPEND (issue 16).
    store.pause_search_indexer(true);
    let mut c = srv.login(ALICE);
    // Each search sends a literal after the server's `+`: without this, Nagle's algorithm holds
    // the second write for the first's (delayed) acknowledgement.
    c.writer_mut().set_nodelay(true).unwrap();
    let mut n = 0;
    for name in fixture_names() {
        store_message(&srv, "alice", "INBOX", fixture(&name));
        n += 1;
    }
    for m in extra_messages() {
        let r = c.append("INBOX", "\\Seen", &m);
        assert!(r.starts_with("TAG OK"), "{r}");
        n += 1;
    }
    // Copies share bodies; expunging one copy keeps the body (and its index entry) for the
    // other, expunging the only copy removes both.
    c.cmd("SELECT INBOX");
    let r = c.cmd(&format!("UID COPY {}:{} Archive", n - 12, n));
    assert!(r.last().unwrap().starts_with("TAG OK"), "{r:?}");
    let r = c.cmd(&format!(
        "UID STORE 1:5,{}:{} +FLAGS.SILENT (\\Deleted)",
        n - 8,
        n - 6
    ));
    assert!(r.last().unwrap().starts_with("TAG OK"), "{r:?}");
    c.cmd("EXPUNGE");
    let r = c.append(
        "INBOX",
        "",
        &message("after expunge", "zebracorn again, from alice"),
    );
    assert!(r.starts_with("TAG OK"), "{r}");

    assert!(store.search_index_queue().unwrap() > 0);
    let queued = all_results(&mut c);
    store.pause_search_indexer(false);
    store.wait_search_indexer().unwrap();
    assert_eq!(store.search_index_queue().unwrap(), 0);

    let t = std::time::Instant::now();
    let indexed = all_results(&mut c);
    eprintln!("indexed pass {:?}", t.elapsed());
    assert_eq!(indexed.len(), queued.len());
    for (a, b) in indexed.iter().zip(&queued) {
        assert_eq!(a, b, "indexed and queued differ");
    }
    // The comparison is not vacuous: the needles hit, and the index narrowed the candidates.
    let hits = indexed.iter().filter(|l| !l.ends_with("* SEARCH")).count();
    assert!(hits > 200, "only {hits} queries found anything");
    let inbox = store
        .mailbox(store.find_user("alice").unwrap().unwrap().id, "INBOX")
        .unwrap()
        .unwrap()
        .id;
    let narrowed = store
        .scan(|s| s.text_candidates(inbox, liteimap::store::TextPlace::Body, "zebracorn"))
        .unwrap()
        .expect("the index answers");
    assert!(!narrowed.is_empty() && narrowed.len() < 10, "{narrowed:?}");

    store.drop_search_index().unwrap();
    assert!(!store.search_index_on().unwrap());
    let t = std::time::Instant::now();
    let scanned = all_results(&mut c);
    eprintln!("scan pass {:?}", t.elapsed());
    assert_eq!(indexed.len(), scanned.len());
    for (a, b) in indexed.iter().zip(&scanned) {
        assert_eq!(a, b, "index and scan differ");
    }

    // Built again from the stored bodies: the same answers.
    store.build_search_index(&mut |_, _| {}).unwrap();
    let rebuilt = all_results(&mut c);
    for (a, b) in rebuilt.iter().zip(&scanned) {
        assert_eq!(a, b, "rebuilt index and scan differ");
    }
}
