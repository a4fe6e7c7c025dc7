//! mbsync (isync) syncing through `Tunnel "liteimap … stdio --user …"`: every message arrives,
//! flags round-trip, a message written locally is uploaded.

mod common;
use std::path::Path;
use std::process::Command;

use common::*;

fn maildir_files(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for sub in ["cur", "new"] {
        if let Ok(rd) = std::fs::read_dir(dir.join(sub)) {
            for e in rd.flatten() {
                out.push(e.file_name().to_string_lossy().into_owned());
            }
        }
    }
    out.sort();
    out
}

fn run_mbsync(config: &Path) {
    let out = Command::new("mbsync")
        .args(["-c", config.to_str().unwrap(), "-a"])
        .output()
        .expect("mbsync (Debian package isync) could not run; .ci/run installs it");
    assert!(
        out.status.success(),
        "mbsync failed: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn mbsync_through_a_preauth_tunnel() {
    let dir = TempDir::new("mbsync");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    for i in 1..=3 {
        let flags = if i == 1 { "\\Flagged" } else { "" };
        assert!(c
            .append("INBOX", flags, &message(&format!("m{i}"), "hello"))
            .starts_with("TAG OK"));
    }
    assert!(c.cmd("CREATE Work").last().unwrap().starts_with("TAG OK"));
    assert!(c
        .append("Work", "", &message("w1", "work"))
        .starts_with("TAG OK"));
    c.cmd("LOGOUT");
    let db = srv.db.clone();
    srv.stop();

    let mail = dir.path().join("mail");
    std::fs::create_dir_all(&mail).unwrap();
    let config = dir.path().join("mbsyncrc");
    std::fs::write(
        &config,
        format!(
            "IMAPStore remote\nTunnel \"{exe} --db {db} stdio --user alice\"\nSSLType None\n\n\
             MaildirStore local\nPath {mail}/\nInbox {mail}/INBOX\nSubFolders Verbatim\n\n\
             Channel sync\nFar :remote:\nNear :local:\nPatterns *\nCreate Both\nExpunge Both\nSyncState *\n",
            exe = env!("CARGO_BIN_EXE_liteimap"),
            db = db.display(),
            mail = mail.display()
        ),
    )
    .unwrap();

    // 1. Pull: every message arrives, with its flags.
    run_mbsync(&config);
    let inbox = maildir_files(&mail.join("INBOX"));
    assert_eq!(inbox.len(), 3, "{inbox:?}");
    assert_eq!(
        inbox.iter().filter(|f| f.ends_with(":2,F")).count(),
        1,
        "{inbox:?}"
    );
    assert_eq!(maildir_files(&mail.join("Work")).len(), 1);

    // 2. Flags set locally reach the server; a local message is uploaded.
    let target = inbox.iter().find(|f| !f.ends_with(":2,F")).unwrap().clone();
    let sub = if mail.join("INBOX/new").join(&target).exists() {
        "new"
    } else {
        "cur"
    };
    let from = mail.join("INBOX").join(sub).join(&target);
    let base = target.split(":2,").next().unwrap();
    std::fs::rename(&from, mail.join("INBOX/cur").join(format!("{base}:2,RS"))).unwrap();
    std::fs::write(
        mail.join("INBOX/new/1700000000.local.host"),
        message("local", "written by mutt"),
    )
    .unwrap();
    // mbsync waits a second after recent directory changes; that is fine.
    run_mbsync(&config);

    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    c.cmd("SELECT INBOX");
    let r = c.cmd("FETCH 1:* (FLAGS ENVELOPE)");
    assert_eq!(r.len(), 5, "{r:?}");
    assert!(
        r.iter().any(|l| l.contains("FLAGS (\\Answered \\Seen)")),
        "{r:?}"
    );
    assert!(r.iter().any(|l| l.contains("\"local\"")), "{r:?}");
    assert_eq!(
        c.cmd("SEARCH FLAGGED"),
        vec!["* SEARCH 1", "TAG OK SEARCH completed"]
    );
}
