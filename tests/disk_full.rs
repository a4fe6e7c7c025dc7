//! A full disk: changes get a clear `NO [LIMIT]`, reading goes on (SELECT without its \Recent
//! claim, FETCH BODY[] without setting \Seen), and nothing acknowledged is lost.
//!
//! The store's test knob makes every write fail as SQLite does on a full disk (the store's own
//! unit test fills a size-limited database for real): whether an in-place UPDATE finds room on
//! a really full disk depends on page layout, so only the knob makes these paths deterministic.

mod common;
use common::*;

const OUT_OF_SPACE: &str = "NO [LIMIT] The server is out of disk space; nothing was changed";

#[test]
fn full_disk_refuses_changes_and_still_serves_mail() {
    let dir = TempDir::new("disk-full");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    for i in 1..=2 {
        let r = c.append("INBOX", "", &message(&format!("m{i}"), "body"));
        assert!(r.starts_with("TAG OK [APPENDUID "), "{r}");
    }
    srv.ctx.store.simulate_full_disk(true);

    // A change is refused with the reason, not as an internal error.
    let r = c.append("INBOX", "", &message("m3", "body"));
    assert_eq!(r, format!("TAG {OUT_OF_SPACE}"));
    assert_eq!(c.cmd("CREATE Later"), vec![format!("TAG {OUT_OF_SPACE}")]);

    // SELECT opens the mailbox; the \Recent claim it cannot write is skipped.
    let r = c.cmd("SELECT INBOX");
    assert!(r.contains(&"* 2 EXISTS".to_string()), "{r:?}");
    assert!(r.contains(&"* 0 RECENT".to_string()), "{r:?}");
    assert_eq!(r.last().unwrap(), "TAG OK [READ-WRITE] SELECT completed");

    // FETCH BODY[] serves the message; \Seen cannot be set, so it is not reported either.
    let m1 = message("m1", "body");
    let r = c.cmd_bytes("FETCH 1 BODY[]");
    let mut want = format!("* 1 FETCH (BODY[] {{{}}}\r\n", m1.len()).into_bytes();
    want.extend_from_slice(&m1);
    want.extend_from_slice(b")");
    assert_eq!(r[0], want);
    assert_eq!(r.len(), 2, "{r:?}");
    assert!(r[1].ends_with(b" OK FETCH completed"), "{r:?}");
    assert_eq!(
        c.cmd("STORE 2 +FLAGS (\\Flagged)"),
        vec![format!("TAG {OUT_OF_SPACE}")]
    );

    // Space again: both acknowledged messages are there, unchanged, and writing works.
    srv.ctx.store.simulate_full_disk(false);
    assert_eq!(
        c.cmd("FETCH 1:* FLAGS"),
        vec![
            "* 1 FETCH (FLAGS ())",
            "* 2 FETCH (FLAGS ())",
            "TAG OK FETCH completed"
        ]
    );
    let r = c.append("INBOX", "", &message("m3", "body"));
    assert!(r.starts_with("TAG OK [APPENDUID "), "{r}");
    let mut other = srv.login(ALICE);
    let r = other.cmd("SELECT INBOX");
    assert!(r.contains(&"* 3 EXISTS".to_string()), "{r:?}");
}
