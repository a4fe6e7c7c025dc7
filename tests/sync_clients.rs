//! Two more real clients that people point at an IMAP server: getmail6 (fetch-and-forget,
//! remembers what it has seen by UID) and offlineimap3 (two-way Maildir sync: flags, uploads,
//! expunges). `.ci/run` installs both; a missing one fails the test rather than skipping it.

mod common;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use common::*;

fn run(program: &str, args: &[&str]) -> String {
    let out = Command::new(program)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("{program} could not run ({e}); .ci/run installs it"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{program} failed:\n{text}");
    text
}

/// The files of a Maildir folder (new and cur), by file name.
fn maildir(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        if let Ok(rd) = std::fs::read_dir(dir.join(sub)) {
            out.extend(rd.flatten().map(|e| e.path()));
        }
    }
    out.sort();
    out
}

fn maildir_with_subject(dir: &Path, subject: &str) -> Vec<PathBuf> {
    let needle = format!("Subject: {subject}");
    maildir(dir)
        .into_iter()
        .filter(|p| {
            String::from_utf8_lossy(&std::fs::read(p).unwrap())
                .lines()
                .any(|l| l.trim_end() == needle)
        })
        .collect()
}

fn make_maildir(dir: &Path) {
    for sub in ["new", "cur", "tmp"] {
        std::fs::create_dir_all(dir.join(sub)).unwrap();
    }
}

fn exists(c: &mut Client, mailbox: &str) -> usize {
    let r = c.cmd(&format!("EXAMINE {mailbox}"));
    r.iter()
        .find_map(|l| l.strip_suffix(" EXISTS")?.strip_prefix("* ")?.parse().ok())
        .unwrap_or_else(|| panic!("no EXISTS in {r:?}"))
}

#[test]
fn getmail6_fetches_each_message_once_and_deletes_on_request() {
    let dir = TempDir::new("getmail");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    for i in 1..=3 {
        assert!(c
            .append("INBOX", "", &message(&format!("gm{i}"), "body"))
            .starts_with("TAG OK"));
    }
    let mail = dir.path().join("md");
    make_maildir(&mail);
    let state = dir.path().join("getmail");
    std::fs::create_dir_all(&state).unwrap();
    // getmail refuses to deliver as root unless told which user to deliver as.
    let as_root = std::fs::metadata("/proc/self").unwrap().uid() == 0;
    if as_root {
        for d in [
            &mail,
            &mail.join("new"),
            &mail.join("cur"),
            &mail.join("tmp"),
        ] {
            std::fs::set_permissions(d, std::os::unix::fs::PermissionsExt::from_mode(0o777))
                .unwrap();
        }
    }
    let rc = |delete: bool| {
        format!(
            "[retriever]\ntype = SimpleIMAPRetriever\nserver = 127.0.0.1\nport = {port}\n\
             username = alice\npassword = {pw}\nmailboxes = (\"INBOX\",)\n\n\
             [destination]\ntype = Maildir\npath = {path}/\n{user}\n\
             [options]\nread_all = false\ndelete = {delete}\nverbose = 1\n",
            port = srv.port,
            pw = ALICE.1,
            path = mail.display(),
            user = if as_root { "user = nobody\n" } else { "" },
        )
    };
    let getmail = |delete: bool| {
        std::fs::write(state.join("getmailrc"), rc(delete)).unwrap();
        run(
            "getmail",
            &[
                &format!("--getmaildir={}", state.display()),
                "--rcfile=getmailrc",
            ],
        )
    };

    // First run: all three, each once.
    getmail(false);
    assert_eq!(maildir(&mail).len(), 3);
    for i in 1..=3 {
        assert_eq!(maildir_with_subject(&mail, &format!("gm{i}")).len(), 1);
    }
    // Second run: nothing new (getmail remembers UIDs under the same UIDVALIDITY).
    getmail(false);
    assert_eq!(maildir(&mail).len(), 3);
    // A new message: only it is fetched.
    assert!(c
        .append("INBOX", "", &message("gm4", "body"))
        .starts_with("TAG OK"));
    getmail(false);
    assert_eq!(maildir(&mail).len(), 4);
    assert_eq!(maildir_with_subject(&mail, "gm4").len(), 1);
    assert_eq!(exists(&mut c, "INBOX"), 4, "delete = false keeps the mail");
    // delete = true: what it has retrieved is removed from the server.
    getmail(true);
    assert_eq!(exists(&mut c, "INBOX"), 0);
    assert_eq!(maildir(&mail).len(), 4, "nothing fetched twice");
}

#[test]
fn offlineimap3_syncs_both_ways() {
    let dir = TempDir::new("offlineimap");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    assert!(c
        .append("INBOX", "\\Flagged", &message("oi1", "one"))
        .starts_with("TAG OK"));
    for i in 2..=3 {
        assert!(c
            .append("INBOX", "", &message(&format!("oi{i}"), "body"))
            .starts_with("TAG OK"));
    }
    assert!(c.cmd("CREATE Work").last().unwrap().starts_with("TAG OK"));
    assert!(c
        .append("Work", "", &message("work1", "work"))
        .starts_with("TAG OK"));

    let local = dir.path().join("mail");
    std::fs::create_dir_all(&local).unwrap();
    let rc = dir.path().join("offlineimaprc");
    std::fs::write(
        &rc,
        format!(
            "[general]\naccounts = a\nmetadata = {meta}\n\n\
             [Account a]\nlocalrepository = L\nremoterepository = R\n\n\
             [Repository L]\ntype = Maildir\nlocalfolders = {local}\n\n\
             [Repository R]\ntype = IMAP\nremotehost = 127.0.0.1\nremoteport = {port}\n\
             remoteuser = alice\nremotepass = {pw}\nssl = no\nstarttls = no\n",
            meta = dir.path().join("meta").display(),
            local = local.display(),
            port = srv.port,
            pw = ALICE.1,
        ),
    )
    .unwrap();
    let sync = || {
        run(
            "offlineimap",
            &["-c", rc.to_str().unwrap(), "-o", "-u", "basic"],
        )
    };

    // 1. Pull: every folder and message, with the \Flagged flag as F in the file name.
    sync();
    let inbox = local.join("INBOX");
    assert_eq!(maildir(&inbox).len(), 3);
    assert_eq!(maildir(&local.join("Work")).len(), 1);
    let flagged = maildir_with_subject(&inbox, "oi1");
    assert_eq!(flagged.len(), 1);
    let name = flagged[0]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    assert!(name.ends_with(":2,F"), "{name}");

    // 2. Push: a message written locally is uploaded; a message marked seen locally is
    // \Seen on the server.
    std::fs::write(
        inbox.join("new").join("1.local"),
        message("uploaded", "from the laptop"),
    )
    .unwrap();
    let two = maildir_with_subject(&inbox, "oi2").remove(0);
    let two_name = two.file_name().unwrap().to_string_lossy().into_owned();
    let base = two_name.split(":2,").next().unwrap();
    std::fs::rename(&two, inbox.join("cur").join(format!("{base}:2,S"))).unwrap();
    sync();
    c.cmd("SELECT INBOX");
    let seen = c.cmd("UID SEARCH SEEN");
    let uploaded = c.cmd("SEARCH SUBJECT uploaded");
    assert_eq!(seen[0], "* SEARCH 2", "{seen:?}");
    assert_eq!(uploaded[0], "* SEARCH 4", "{uploaded:?}");

    // 3. An expunge on the server removes the local file.
    assert!(c
        .cmd("UID STORE 3 +FLAGS.SILENT (\\Deleted)")
        .last()
        .unwrap()
        .starts_with("TAG OK"));
    assert!(c.cmd("EXPUNGE").last().unwrap().starts_with("TAG OK"));
    sync();
    assert!(maildir_with_subject(&inbox, "oi3").is_empty());
    assert_eq!(maildir(&inbox).len(), 3);
}
