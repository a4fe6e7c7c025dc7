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
                "TAG BAD Could not parse command"
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
