//! `liteimap import` and `serve --import` (issue 6): each source kind, internal dates, flags,
//! idempotency, files that are not messages, and a running server seeing an import made by
//! another process.

mod common;
use common::*;

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

fn import(db: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_liteimap"))
        .arg("--db")
        .arg(db)
        .arg("import")
        .args(args)
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

/// Runs an import that must succeed; returns its stderr (the summary).
fn import_ok(db: &Path, args: &[&str]) -> String {
    let out = import(db, args);
    let err = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "import failed: {err}");
    err
}

fn write(path: &Path, bytes: &[u8]) {
    if let Some(p) = path.parent() {
        std::fs::create_dir_all(p).unwrap();
    }
    std::fs::write(path, bytes).unwrap();
}

fn select(c: &mut Client, mailbox: &str) -> Vec<String> {
    let r = c.cmd(&format!("SELECT {mailbox}"));
    assert!(r.last().unwrap().starts_with("TAG OK"), "{r:?}");
    r
}

/// BODY.PEEK[] of message `seq` as raw bytes.
fn body(c: &mut Client, seq: u32) -> Vec<u8> {
    let lines = c.cmd_bytes(&format!("FETCH {seq} BODY.PEEK[]"));
    let first = &lines[0];
    let start = first.windows(2).position(|w| w == b"}\r").unwrap() + 3;
    let mut b = first[start..].to_vec();
    assert_eq!(b.pop(), Some(b')'));
    b
}

fn fetch(c: &mut Client, what: &str) -> Vec<String> {
    let r = c.cmd(&format!("FETCH 1:* ({what})"));
    assert!(r.last().unwrap().starts_with("TAG OK"), "{r:?}");
    r[..r.len() - 1].to_vec()
}

const LF_MESSAGE: &[u8] = b"From: a@example.org\nSubject: lf\nDate: Mon, 7 Feb 1994 21:52:25 -0800\n\nline one\nline two\n";

#[test]
fn eml_file_is_stored_crlf_and_fetches_back_identical() {
    let dir = TempDir::new("imp-eml");
    let srv = TestServer::start(&dir);
    let f = dir.path().join("one.eml");
    write(&f, LF_MESSAGE);
    let err = import_ok(&srv.db, &["--user", "alice", f.to_str().unwrap()]);
    assert!(err.contains("1 imported, 0 skipped"), "{err}");
    let mut c = srv.login(ALICE);
    select(&mut c, "INBOX");
    let want = liteimap::mime::normalize_crlf(LF_MESSAGE).into_owned();
    assert_eq!(body(&mut c, 1), want);
    // No Received header: the Date header is the internal date.
    assert_eq!(
        fetch(&mut c, "INTERNALDATE FLAGS"),
        vec!["* 1 FETCH (INTERNALDATE \"07-Feb-1994 21:52:25 -0800\" FLAGS (\\Recent))"]
    );
}

#[test]
fn directory_tree_in_name_order_with_non_messages_reported() {
    let dir = TempDir::new("imp-dir");
    let srv = TestServer::start(&dir);
    let src = dir.path().join("mail");
    write(&src.join("b.eml"), &message("b", "x"));
    write(&src.join("a/c.eml"), &message("c", "x"));
    write(&src.join("a/a.EML"), &message("a", "x"));
    write(&src.join("notes.txt"), b"Subject: not an eml\n\nignored\n");
    write(&src.join("z/empty.eml"), b"");
    write(&src.join("z/binary.eml"), b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR");
    let out = import(
        &srv.db,
        &[
            "--user",
            "alice",
            "--mailbox",
            "Saved/Mail",
            src.to_str().unwrap(),
        ],
    );
    let err = String::from_utf8_lossy(&out.stderr);
    // Files that are not messages are reported, not fatal.
    assert!(out.status.success(), "{err}");
    assert!(
        err.contains("3 imported, 0 skipped (already there), 2 failed"),
        "{err}"
    );
    assert!(err.contains("z/empty.eml: empty"), "{err}");
    assert!(
        err.contains("z/binary.eml: not a message: it does not start with a header line"),
        "{err}"
    );
    let mut c = srv.login(ALICE);
    // The missing folder and its parent were created.
    assert_eq!(
        c.cmd("LIST \"\" Saved*"),
        vec![
            "* LIST (\\HasChildren) \"/\" Saved",
            "* LIST (\\HasNoChildren) \"/\" Saved/Mail",
            "TAG OK LIST completed"
        ]
    );
    select(&mut c, "Saved/Mail");
    assert_eq!(
        fetch(&mut c, "BODY.PEEK[HEADER.FIELDS (SUBJECT)]")
            .iter()
            .map(|l| {
                let s = l.split("Subject: ").nth(1).unwrap_or("");
                s.split('\r').next().unwrap_or("").to_string()
            })
            .collect::<Vec<_>>(),
        vec!["a", "c", "b"]
    );
}

#[test]
fn missing_user_or_path_is_fatal() {
    let dir = TempDir::new("imp-fatal");
    let srv = TestServer::start(&dir);
    let f = dir.path().join("one.eml");
    write(&f, LF_MESSAGE);
    let out = import(&srv.db, &["--user", "nobody", f.to_str().unwrap()]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no such user: nobody"));
    let missing = dir.path().join("missing");
    let out = import(
        &srv.db,
        &[
            "--user",
            "alice",
            f.to_str().unwrap(),
            missing.to_str().unwrap(),
        ],
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot read"));
    // Nothing was imported: the bad PATH was found before any write.
    let mut c = srv.login(ALICE);
    assert!(select(&mut c, "INBOX").contains(&"* 0 EXISTS".to_string()));
}

const MBOX: &[u8] = b"From alice@example.org Mon Jan  1 10:00:00 2024\n\
Received: from x by y; Tue, 2 Jan 2024 00:00:00 +0000\n\
From: alice@example.org\n\
Subject: one\n\
Content-Length: 5\n\
\n\
Hello.\n\
From here on the body goes on (no blank line before: not a separator).\n\
>From the quoted line\n\
>>From twice quoted\n\
\n\
From bob@example.org Tue Jan  2 11:30:00 2024\n\
From: bob@example.org\n\
Subject: two\n\
Content-Length: 99999\n\
\n\
Second.\n\
\n\
From carol@example.org Wed Jan  3 12:00:00 2024\n\
From: carol@example.org\n\
Subject: three\n\
\n\
Third.\n\
\n";

#[test]
fn mbox_with_tricky_from_lines() {
    let dir = TempDir::new("imp-mbox");
    let srv = TestServer::start(&dir);
    let f = dir.path().join("export.mbox");
    write(&f, MBOX);
    let err = import_ok(&srv.db, &["--user", "alice", f.to_str().unwrap()]);
    assert!(err.contains("3 imported, 0 skipped"), "{err}");
    let mut c = srv.login(ALICE);
    select(&mut c, "INBOX");
    assert_eq!(
        body(&mut c, 1),
        b"Received: from x by y; Tue, 2 Jan 2024 00:00:00 +0000\r\n\
From: alice@example.org\r\n\
Subject: one\r\n\
Content-Length: 5\r\n\
\r\n\
Hello.\r\n\
From here on the body goes on (no blank line before: not a separator).\r\n\
From the quoted line\r\n\
>From twice quoted\r\n"
            .to_vec()
    );
    assert_eq!(
        body(&mut c, 2),
        b"From: bob@example.org\r\nSubject: two\r\nContent-Length: 99999\r\n\r\nSecond.\r\n"
            .to_vec()
    );
    assert_eq!(
        body(&mut c, 3),
        b"From: carol@example.org\r\nSubject: three\r\n\r\nThird.\r\n".to_vec()
    );
    // The From line's date wins over Received.
    assert_eq!(
        fetch(&mut c, "INTERNALDATE"),
        vec![
            "* 1 FETCH (INTERNALDATE \"01-Jan-2024 10:00:00 +0000\")",
            "* 2 FETCH (INTERNALDATE \"02-Jan-2024 11:30:00 +0000\")",
            "* 3 FETCH (INTERNALDATE \"03-Jan-2024 12:00:00 +0000\")",
        ]
    );
}

#[test]
fn received_date_comes_before_date_header() {
    let dir = TempDir::new("imp-received");
    let srv = TestServer::start(&dir);
    let f = dir.path().join("r.eml");
    write(
        &f,
        b"Received: from a by b with ESMTP id 1;\r\n\tWed, 9 Feb 1994 08:00:00 +0100\r\nReceived: from c; Tue, 8 Feb 1994 00:00:00 +0000\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\nSubject: r\r\n\r\nx\r\n",
    );
    import_ok(&srv.db, &["--user", "alice", f.to_str().unwrap()]);
    let mut c = srv.login(ALICE);
    select(&mut c, "INBOX");
    assert_eq!(
        fetch(&mut c, "INTERNALDATE"),
        vec!["* 1 FETCH (INTERNALDATE \"09-Feb-1994 08:00:00 +0100\")"]
    );
}

/// A Maildir with flags in names, a message in new/, and one in tmp/ that is not imported.
fn maildir(root: &Path) {
    for d in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(root.join(d)).unwrap();
    }
    write(
        &root.join("cur/1700000100.M2P1.host,S=10:2,FS"),
        &message("seen-flagged", "x"),
    );
    write(
        &root.join("cur/1700000000.M1P1.host:2,RSTD"),
        &message("all", "x"),
    );
    write(&root.join("new/1700000200.M3P1.host"), &message("new", "x"));
    write(&root.join("tmp/1700000300.M4P1.host"), &message("tmp", "x"));
}

#[test]
fn maildir_flags_dates_and_order() {
    let dir = TempDir::new("imp-maildir");
    let srv = TestServer::start(&dir);
    let md = dir.path().join("Maildir");
    maildir(&md);
    let err = import_ok(&srv.db, &["--user", "alice", md.to_str().unwrap()]);
    assert!(err.contains("3 imported"), "{err}");
    let mut c = srv.login(ALICE);
    select(&mut c, "INBOX");
    let lines = fetch(
        &mut c,
        "FLAGS INTERNALDATE BODY.PEEK[HEADER.FIELDS (SUBJECT)]",
    );
    assert_eq!(lines.len(), 3, "{lines:?}");
    // Oldest delivery first; flags from ":2,"; the date from the name (in the server's zone).
    let expect = [
        (
            1_700_000_000,
            "\\Answered \\Deleted \\Seen \\Draft \\Recent",
            "all",
        ),
        (1_700_000_100, "\\Flagged \\Seen \\Recent", "seen-flagged"),
        (1_700_000_200, "\\Recent", "new"),
    ];
    for (line, (t, flags, subject)) in lines.iter().zip(expect) {
        let date = liteimap::message::internal_date(t, 0)
            .with_timezone(&chrono::Local)
            .format("%d-%b-%Y %H:%M:%S %z")
            .to_string();
        assert!(line.contains(&format!("FLAGS ({flags})")), "{line}");
        assert!(line.contains(&format!("INTERNALDATE \"{date}\"")), "{line}");
        assert!(line.contains(&format!("Subject: {subject}")), "{line}");
    }
}

#[test]
fn maildir_plus_plus_tree_and_second_import_skips_everything() {
    let dir = TempDir::new("imp-mdpp");
    let srv = TestServer::start(&dir);
    let md = dir.path().join("Maildir");
    maildir(&md);
    maildir(&md.join(".Sent"));
    write(
        &md.join(".Work.Projects/cur/1700000500.M9P9.host:2,S"),
        &message("project", "x"),
    );
    std::fs::create_dir_all(md.join(".Work.Projects/new")).unwrap();
    std::fs::create_dir_all(md.join(".Empty/cur")).unwrap();
    std::fs::create_dir_all(md.join(".Empty/new")).unwrap();
    // Into INBOX: the Maildir++ folders are top-level folders.
    let err = import_ok(&srv.db, &["--user", "alice", md.to_str().unwrap()]);
    assert!(err.contains("7 imported, 0 skipped"), "{err}");
    // Into another folder: beneath it.
    let err = import_ok(
        &srv.db,
        &["--user", "alice", "--mailbox", "Old", md.to_str().unwrap()],
    );
    assert!(err.contains("7 imported, 0 skipped"), "{err}");
    let mut c = srv.login(ALICE);
    assert_eq!(
        c.cmd("LIST \"\" *"),
        vec![
            "* LIST (\\HasNoChildren \\Archive) \"/\" Archive",
            "* LIST (\\HasNoChildren \\Drafts) \"/\" Drafts",
            "* LIST (\\HasNoChildren) \"/\" Empty",
            "* LIST (\\HasNoChildren) \"/\" INBOX",
            "* LIST (\\HasNoChildren \\Junk) \"/\" Junk",
            "* LIST (\\HasChildren) \"/\" Old",
            "* LIST (\\HasNoChildren) \"/\" Old/Empty",
            "* LIST (\\HasNoChildren) \"/\" Old/Sent",
            "* LIST (\\HasChildren) \"/\" Old/Work",
            "* LIST (\\HasNoChildren) \"/\" Old/Work/Projects",
            // Maildir++'s .Sent lands in the new user's \Sent folder.
            "* LIST (\\HasNoChildren \\Sent) \"/\" Sent",
            "* LIST (\\HasNoChildren \\Trash) \"/\" Trash",
            "* LIST (\\HasChildren) \"/\" Work",
            "* LIST (\\HasNoChildren) \"/\" Work/Projects",
            "TAG OK LIST completed"
        ]
    );
    assert_eq!(
        c.cmd("STATUS Work/Projects (MESSAGES)"),
        vec![
            "* STATUS Work/Projects (MESSAGES 1)",
            "TAG OK STATUS completed"
        ]
    );
    assert_eq!(
        c.cmd("STATUS Sent (MESSAGES)"),
        vec!["* STATUS Sent (MESSAGES 3)", "TAG OK STATUS completed"]
    );
    let before = c.cmd("STATUS INBOX (MESSAGES UIDNEXT HIGHESTMODSEQ)");
    // The same bytes again: all skipped, nothing changes.
    let err = import_ok(&srv.db, &["--user", "alice", md.to_str().unwrap()]);
    assert!(
        err.contains("0 imported, 7 skipped (already there), 0 failed"),
        "{err}"
    );
    assert_eq!(
        c.cmd("STATUS INBOX (MESSAGES UIDNEXT HIGHESTMODSEQ)"),
        before
    );
}

#[test]
fn idle_session_sees_an_import_by_another_process() {
    let dir = TempDir::new("imp-idle");
    let srv = TestServer::start(&dir);
    let mut c = srv.login(ALICE);
    select(&mut c, "INBOX");
    let tag = c.tag();
    c.send(format!("{tag} IDLE\r\n").as_bytes());
    assert_eq!(c.read_line(), "+ idling");
    let f = dir.path().join("export.mbox");
    write(&f, MBOX);
    import_ok(&srv.db, &["--user", "alice", f.to_str().unwrap()]);
    let started = std::time::Instant::now();
    assert_eq!(c.read_line(), "* 3 EXISTS");
    assert!(started.elapsed() < Duration::from_secs(2));
    assert_eq!(c.read_line(), "* 3 RECENT");
    c.send(b"DONE\r\n");
    assert_eq!(c.until_tagged(&tag), vec!["TAG OK IDLE terminated"]);
}

fn have(program: &str, arg: &str) -> bool {
    Command::new(program)
        .arg(arg)
        .output()
        .is_ok_and(|o| o.status.success())
}

const SCRIPT: &str = r#"
import imaplib, os, sys
port, testdata, names = int(sys.argv[1]), sys.argv[2], sys.argv[3].split(",")
m = imaplib.IMAP4("127.0.0.1", port)
m.login("alice", "wonderland")
typ, data = m.list()
assert typ == "OK" and b'(\\HasNoChildren) "/" INBOX' in data, data
typ, data = m.select("INBOX")
assert typ == "OK" and int(data[0]) == len(names), (data, len(names))
for i, name in enumerate(names, 1):
    raw = open(os.path.join(testdata, name + ".eml"), "rb").read()
    raw = raw.replace(b"\r\n", b"\n").replace(b"\n", b"\r\n")
    typ, data = m.fetch(str(i), "(BODY.PEEK[])")
    assert typ == "OK" and data[0][1] == raw.replace(b"\0", b"\x80"), name
m.logout()
print("DONE", len(names))
"#;

#[test]
fn serve_import_testdata_for_imaplib_and_curl() {
    // Both clients are installed by .ci/run; a missing one is a failure, not a skip.
    assert!(have("python3", "--version"), "python3 is missing");
    assert!(have("curl", "--version"), "curl is missing");
    let dir = TempDir::new("imp-serve");
    let db = dir.database("serve.db");
    database_with_alice(&db);
    let log = std::fs::File::create(dir.path().join("serve.log")).unwrap();
    let _child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_liteimap"))
            .arg("--db")
            .arg(&db)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(["--user", "alice", "--import"])
            .arg(testdata())
            .stdin(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap(),
    );
    // The server logs its port once it listens (after the import): wait for that line.
    let mut port = None;
    for _ in 0..1500 {
        let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default();
        port = log.lines().find_map(listening_port);
        if port.is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let log = std::fs::read_to_string(dir.path().join("serve.log")).unwrap_or_default();
    let port = port.unwrap_or_else(|| panic!("server did not start: {log}"));
    // Every fixture but the one with no header at all, in file-name order.
    let names: Vec<String> = fixture_names()
        .into_iter()
        .filter(|n| n != "no-header-text")
        .collect();
    assert!(
        log.contains(&format!("{} imported, 0 skipped", names.len())),
        "{log}"
    );
    assert!(log.contains("no-header-text.eml: not a message"), "{log}");
    {
        let out = Command::new("python3")
            .arg("-c")
            .arg(SCRIPT)
            .arg(port.to_string())
            .arg(testdata())
            .arg(names.join(","))
            .output()
            .unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            out.status.success(),
            "imaplib failed:\n{stdout}\n{}",
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(stdout.trim(), format!("DONE {}", names.len()));
    }
    {
        let run = |url: String| {
            let out = Command::new("curl")
                .args([
                    "-s",
                    "--max-time",
                    "20",
                    "--user",
                    "alice:wonderland",
                    "--url",
                ])
                .arg(url)
                .output()
                .unwrap();
            assert!(out.status.success(), "curl failed: {:?}", out.status);
            out.stdout
        };
        let list = run(format!("imap://127.0.0.1:{port}/"));
        assert_eq!(
            String::from_utf8_lossy(&list),
            concat!(
                "* LIST (\\HasNoChildren \\Archive) \"/\" Archive\r\n",
                "* LIST (\\HasNoChildren \\Drafts) \"/\" Drafts\r\n",
                "* LIST (\\HasNoChildren) \"/\" INBOX\r\n",
                "* LIST (\\HasNoChildren \\Junk) \"/\" Junk\r\n",
                "* LIST (\\HasNoChildren \\Sent) \"/\" Sent\r\n",
                "* LIST (\\HasNoChildren \\Trash) \"/\" Trash\r\n",
            )
        );
        let i = names.iter().position(|n| n == "plain").unwrap() + 1;
        let got = run(format!("imap://127.0.0.1:{port}/INBOX;UID={i}"));
        let want = std::fs::read(testdata().join("plain.eml")).unwrap();
        assert_eq!(got, liteimap::mime::normalize_crlf(&want).into_owned());
    }
    let _ = std::io::stdout().flush();
}

#[test]
fn ctrl_c_stops_after_a_batch_and_a_rerun_finishes() {
    let dir = TempDir::new("imp-sigint");
    let srv = TestServer::start(&dir);
    let f = dir.path().join("big.mbox");
    let n = 20_000;
    let mut mbox = Vec::new();
    for i in 0..n {
        mbox.extend_from_slice(b"From x@example.org Mon Jan  1 00:00:00 2024\n");
        mbox.extend_from_slice(&message(&format!("m{i}"), &"filler ".repeat(100)));
        mbox.extend_from_slice(b"\n");
    }
    write(&f, &mbox);
    let mut child = Command::new(env!("CARGO_BIN_EXE_liteimap"))
        .arg("--db")
        .arg(&srv.db)
        .args(["import", "--user", "alice"])
        .arg(&f)
        .stdin(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Interrupt once the first batch is committed.
    let user = srv.ctx.store.find_user("alice").unwrap().unwrap();
    let inbox = srv.ctx.store.mailbox(user.id, "INBOX").unwrap().unwrap().id;
    while srv.ctx.store.counts(inbox).unwrap().messages == 0 {
        assert!(child.try_wait().unwrap().is_none(), "finished too soon");
        std::thread::sleep(Duration::from_millis(10));
    }
    let kill = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(kill.success());
    let out = child.wait_with_output().unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    let line = err
        .lines()
        .find(|l| l.starts_with("import interrupted: "))
        .unwrap_or_else(|| panic!("{err}"));
    let done: u32 = line["import interrupted: ".len()..]
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(done > 0 && done < n, "{line}");
    // The batch being filled at the signal is committed too; the database holds exactly what
    // the summary says.
    assert_eq!(srv.ctx.store.counts(inbox).unwrap().messages, done);
    match BACKEND {
        Backend::Sqlite => assert_eq!(srv.ctx.store.integrity_check().unwrap(), "ok"),
        Backend::Postgres => assert!(matches!(
            srv.ctx.store.integrity_check(),
            Err(liteimap::store::StoreError::Unsupported(_))
        )),
    }
    let err = import_ok(&srv.db, &["--user", "alice", f.to_str().unwrap()]);
    assert!(
        err.contains(&format!("{} imported, {done} skipped", n - done)),
        "{err}"
    );
}

#[test]
fn file_time_is_the_last_resort_date() {
    let dir = TempDir::new("imp-mtime");
    let srv = TestServer::start(&dir);
    let f = dir.path().join("undated.eml");
    write(&f, b"Subject: no dates at all\r\n\r\nx\r\n");
    let t = std::time::UNIX_EPOCH + Duration::from_secs(1_234_567_890);
    std::fs::File::options()
        .write(true)
        .open(&f)
        .unwrap()
        .set_modified(t)
        .unwrap();
    import_ok(&srv.db, &["--user", "alice", f.to_str().unwrap()]);
    let mut c = srv.login(ALICE);
    select(&mut c, "INBOX");
    let date = liteimap::message::internal_date(1_234_567_890, 0)
        .with_timezone(&chrono::Local)
        .format("%d-%b-%Y %H:%M:%S %z")
        .to_string();
    assert_eq!(
        fetch(&mut c, "INTERNALDATE"),
        vec![format!("* 1 FETCH (INTERNALDATE \"{date}\")")]
    );
}

/// `--mailbox` and the folders of a Maildir++ tree go through IMAP's one rule for names, before
/// anything is written: no folder appears that IMAP could not select, rename or delete.
#[test]
fn mailbox_names_follow_the_imap_rule() {
    let dir = TempDir::new("imp-names");
    let srv = TestServer::start(&dir);
    let f = dir.path().join("one.eml");
    write(&f, LF_MESSAGE);
    for bad in ["bad*name", "../etc", "a/../b", "&Jjo", "x//y"] {
        let out = import(
            &srv.db,
            &["--user", "alice", "--mailbox", bad, f.to_str().unwrap()],
        );
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{bad}: {err}");
        assert!(
            err.contains(&format!("invalid mailbox name {bad:?}: ")),
            "{bad}: {err}"
        );
    }
    let md = dir.path().join("Maildir");
    maildir(&md);
    maildir(&md.join(".We*rd"));
    let out = import(&srv.db, &["--user", "alice", md.to_str().unwrap()]);
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{err}");
    assert!(
        err.contains("invalid mailbox name \"We*rd\": Mailbox name contains a wildcard"),
        "{err}"
    );
    let mut c = srv.login(ALICE);
    // Only the six default folders, and nothing in INBOX.
    assert_eq!(c.cmd("LIST \"\" *").len(), 7);
    assert!(select(&mut c, "INBOX").contains(&"* 0 EXISTS".to_string()));
}
