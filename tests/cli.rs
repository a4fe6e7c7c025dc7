//! The liteimap binary: --help, user management, refusing bad databases and busy ports, the
//! demo user, SIGTERM, and a crash (SIGKILL) during concurrent APPENDs.

mod common;
use common::*;

use std::collections::BTreeSet;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_liteimap");

fn run(db: &Path, args: &[&str], stdin: &str) -> Output {
    run_from(Command::new(BIN), db, args, stdin)
}

/// Run `cmd` (the binary, or a shell that execs it) on `db` with `args` and `stdin`.
fn run_from(mut cmd: Command, db: &Path, args: &[&str], stdin: &str) -> Output {
    let mut child = cmd
        .arg("--db")
        .arg(db)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The process may exit before reading its input (a bad name): a broken pipe is fine.
    let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
    child.wait_with_output().unwrap()
}

fn stderr_lines(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stderr)
        .lines()
        .map(str::to_string)
        .collect()
}

/// A running `liteimap serve`; its stderr lines arrive on `stderr`.
struct Served {
    child: Child,
    port: u16,
    stderr: mpsc::Receiver<String>,
    /// The stderr lines up to "listening on".
    startup: Vec<String>,
}

impl Served {
    fn start(db: &Path) -> Self {
        Self::start_from(Command::new(BIN), db)
    }

    /// Start `serve` through `cmd` (the binary itself, or a shell that sets the umask first).
    fn start_from(cmd: Command, db: &Path) -> Self {
        Self::start_with(cmd, db, &[])
    }

    /// As `start_from`, with more `serve` options.
    fn start_with(mut cmd: Command, db: &Path, extra: &[&str]) -> Self {
        let mut child = cmd
            .arg("--db")
            .arg(db)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let rx = lines_of(&mut child);
        let mut s = Served {
            child,
            port: 0,
            stderr: rx,
            startup: Vec::new(),
        };
        s.startup = s.wait_for_line("listening on");
        s.port = s
            .startup
            .last()
            .and_then(|l| listening_port(l))
            .expect("no port in the log line");
        s
    }

    /// Stderr lines up to and including the first that contains `needle`.
    fn wait_for_line(&self, needle: &str) -> Vec<String> {
        let mut seen = Vec::new();
        let deadline = Instant::now() + Duration::from_secs(20);
        while Instant::now() < deadline {
            match self.stderr.recv_timeout(Duration::from_millis(100)) {
                Ok(l) => {
                    let found = l.contains(needle);
                    seen.push(l);
                    if found {
                        return seen;
                    }
                }
                Err(mpsc::RecvTimeoutError::Timeout) => {}
                Err(mpsc::RecvTimeoutError::Disconnected) => break,
            }
        }
        panic!("no stderr line with {needle:?}; got {seen:?}");
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The binary started by a shell that sets umask 022 first (the usual default, which would
/// make new files world-readable).
fn with_umask_022() -> Command {
    let mut cmd = Command::new("sh");
    cmd.args(["-c", "umask 022 && exec \"$0\" \"$@\"", BIN]);
    cmd
}

fn mode(path: &Path) -> u32 {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o777
}

fn run_umask_022(db: &Path, args: &[&str], stdin: &str) -> Output {
    run_from(with_umask_022(), db, args, stdin)
}

/// Mail and password hashes are for the owner only: every command that creates the database
/// creates it 0600 (and the directories it creates for it 0700) under umask 022; the -wal and
/// -shm files follow; an existing database with group/other bits gets one warning at start.
#[test]
fn database_files_are_private_whatever_the_umask() {
    if sqlite_only("the SQLite file, its WAL and shm and their modes") {
        return;
    }
    let dir = TempDir::new("modes");
    let db = dir.path().join("state/sub/mail.db");
    let o = run_umask_022(&db, &["user", "add", "carol", "--password-stdin"], "pw\n");
    assert!(o.status.success(), "{o:?}");
    assert_eq!(mode(&dir.path().join("state")), 0o700);
    assert_eq!(mode(&dir.path().join("state/sub")), 0o700);
    assert_eq!(mode(&db), 0o600);

    let s = Served::start_from(with_umask_022(), &db);
    let mut c = Client::connect(s.port);
    c.greeting = c.read_line();
    assert!(c
        .cmd("LOGIN carol pw")
        .last()
        .unwrap()
        .starts_with("TAG OK"));
    assert!(c
        .append("INBOX", "", &message("m", "x"))
        .starts_with("TAG OK"));
    for suffix in ["-wal", "-shm"] {
        let p = dir.path().join(format!("state/sub/mail.db{suffix}"));
        assert_eq!(mode(&p), 0o600, "{}", p.display());
    }
    drop(c);
    drop(s);

    // import and deliver create a missing database just as privately (and then find no user).
    let imp = dir.path().join("imported.db");
    let o = run_umask_022(&imp, &["import", "--user", "nobody", "/nonexistent"], "");
    assert!(!o.status.success());
    assert_eq!(mode(&imp), 0o600);
    let del = dir.path().join("delivered.db");
    let o = run_umask_022(
        &del,
        &["deliver", "--user", "nobody"],
        "Subject: x\r\n\r\nx\r\n",
    );
    assert!(!o.status.success());
    assert_eq!(mode(&del), 0o600);

    // An existing database that others can read: one warning line at start, left as it is.
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    let s = Served::start(&db);
    let warnings: Vec<&String> = s
        .startup
        .iter()
        .filter(|l| l.contains("mode 644"))
        .collect();
    assert_eq!(warnings.len(), 1, "{:?}", s.startup);
    assert!(
        warnings[0].contains("other local users can read its mail"),
        "{warnings:?}"
    );
    assert_eq!(mode(&db), 0o644);
}

#[test]
fn help_of_every_command_exits_zero() {
    let dir = TempDir::new("help");
    let db = dir.path().join("h.db");
    for (args, words) in [
        (&["--help"][..], "IMAP4rev1 server"),
        (&["serve", "--help"][..], "Run the IMAP server"),
        (&["user", "--help"][..], "Manage users"),
        (&["user", "add", "--help"][..], "Create a user"),
        (&["user", "list", "--help"][..], "List users"),
        (&["user", "remove", "--help"][..], "Remove a user"),
        (
            &["user", "passwd", "--help"][..],
            "Change a user's password",
        ),
        (&["stdio", "--help"][..], "stdin/stdout"),
        (&["deliver", "--help"][..], "Store one message"),
    ] {
        let o = run(&db, args, "");
        let out = String::from_utf8_lossy(&o.stdout);
        assert!(o.status.success(), "{args:?}: {o:?}");
        assert!(out.contains("Usage:"), "{args:?}: {out}");
        assert!(out.contains(words), "{args:?}: {out}");
    }
    // --help never creates the database.
    assert!(!db.exists());
}

#[test]
fn bad_flags_exit_non_zero() {
    let dir = TempDir::new("badflag");
    let db = dir.path().join("b.db");
    for args in [
        &["--frobnicate", "serve"][..],
        &["serve", "--frobnicate"][..],
        &["user", "add"][..],
        &["user", "frob"][..],
        &[][..],
        &["serve", "--max-connections", "many"][..],
    ] {
        let o = run(&db, args, "");
        assert!(!o.status.success(), "{args:?}: {o:?}");
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&o.stdout),
            String::from_utf8_lossy(&o.stderr)
        );
        assert!(!text.trim().is_empty(), "{args:?} said nothing");
    }
    let o = run(&db, &["serve", "--listen", "nonsense"], "");
    assert!(!o.status.success());
    assert_eq!(
        stderr_lines(&o).last().unwrap(),
        "liteimap: invalid listen address \"nonsense\" (expected IP:PORT, e.g. 127.0.0.1:1143)"
    );
}

#[test]
fn user_add_list_passwd_remove() {
    let dir = TempDir::new("users");
    let db = dir.database("u.db");
    let o = run(
        &db,
        &["user", "add", "carol", "--password-stdin"],
        "s3cret\n",
    );
    assert!(o.status.success(), "{o:?}");
    assert_eq!(stderr_lines(&o), vec!["created user carol"]);
    let o = run(&db, &["user", "add", "carol", "--password-stdin"], "x\n");
    assert!(!o.status.success());
    assert_eq!(
        stderr_lines(&o),
        vec!["liteimap: user carol already exists"]
    );
    let o = run(&db, &["user", "add", "bad name", "--password-stdin"], "x\n");
    assert!(!o.status.success());
    assert_eq!(stderr_lines(&o).len(), 1, "{o:?}");
    let o = run(&db, &["user", "add", "dave", "--password-stdin"], "\n");
    assert!(!o.status.success());
    assert_eq!(
        stderr_lines(&o),
        vec!["liteimap: empty password on standard input"]
    );
    let o = run(&db, &["user", "list"], "");
    assert!(o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stdout), "carol\t0 messages\n");

    // The password works over IMAP, and a changed one replaces it.
    let s = Served::start(&db);
    let mut c = Client::connect(s.port);
    c.greeting = c.read_line();
    assert_eq!(
        c.cmd("LOGIN carol s3cret"),
        vec![concat!(
            "TAG OK [CAPABILITY ",
            common::caps!(),
            "] Logged in"
        )]
    );
    assert!(c
        .append("INBOX", "", &message("m", "x"))
        .starts_with("TAG OK"));
    let o = run(
        &db,
        &["user", "passwd", "carol", "--password-stdin"],
        "n3w\n",
    );
    assert!(o.status.success(), "{o:?}");
    assert_eq!(stderr_lines(&o), vec!["changed password of carol"]);
    let mut c = Client::connect(s.port);
    c.greeting = c.read_line();
    assert_eq!(
        c.cmd("LOGIN carol s3cret"),
        vec!["TAG NO [AUTHENTICATIONFAILED] Authentication failed"]
    );
    assert_eq!(
        c.cmd("LOGIN carol n3w"),
        vec![concat!(
            "TAG OK [CAPABILITY ",
            common::caps!(),
            "] Logged in"
        )]
    );
    let o = run(&db, &["user", "list"], "");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "carol\t1 messages\n");
    let o = run(
        &db,
        &["user", "passwd", "nobody", "--password-stdin"],
        "x\n",
    );
    assert!(!o.status.success());
    assert_eq!(stderr_lines(&o), vec!["liteimap: no such user: nobody"]);

    let o = run(&db, &["user", "remove", "carol"], "");
    assert!(o.status.success(), "{o:?}");
    assert_eq!(stderr_lines(&o), vec!["removed user carol"]);
    let o = run(&db, &["user", "remove", "carol"], "");
    assert!(!o.status.success());
    assert_eq!(stderr_lines(&o), vec!["liteimap: no such user: carol"]);
    let o = run(&db, &["user", "list"], "");
    assert!(o.status.success());
    assert_eq!(String::from_utf8_lossy(&o.stdout), "");
    let mut c = Client::connect(s.port);
    c.greeting = c.read_line();
    assert_eq!(
        c.cmd("LOGIN carol n3w"),
        vec!["TAG NO [AUTHENTICATIONFAILED] Authentication failed"]
    );
}

#[test]
fn junk_database_is_refused_with_one_line() {
    if sqlite_only("a file that is not a SQLite database") {
        return;
    }
    let dir = TempDir::new("junk");
    for (name, junk) in [
        ("long.db", vec![0x5au8; 8192]),
        ("short.db", b"hello, I am not a database\n".to_vec()),
    ] {
        let db = dir.path().join(name);
        std::fs::write(&db, &junk).unwrap();
        for args in [
            &["user", "list"][..],
            &["serve", "--listen", "127.0.0.1:0"][..],
        ] {
            let o = run(&db, args, "");
            assert!(!o.status.success(), "{name} {args:?}: {o:?}");
            assert_eq!(
                stderr_lines(&o),
                vec![format!(
                    "liteimap: cannot open database {}: {} is not a liteimap database",
                    db.display(),
                    db.display()
                )],
                "{name} {args:?}"
            );
        }
        assert_eq!(std::fs::read(&db).unwrap(), junk, "the file was changed");
    }
    // A SQLite database of another program.
    let db = dir.path().join("other.db");
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("CREATE TABLE t (x); INSERT INTO t VALUES (1);")
        .unwrap();
    drop(conn);
    let o = run(&db, &["user", "list"], "");
    assert!(!o.status.success());
    assert_eq!(
        stderr_lines(&o),
        vec![format!(
            "liteimap: cannot open database {}: {} is not a liteimap database",
            db.display(),
            db.display()
        )]
    );
    // A path that cannot be opened (a missing directory is created; a file in the way is not).
    let db = dir.path().join("long.db/x.db");
    let o = run(&db, &["user", "list"], "");
    assert!(!o.status.success());
    let lines = stderr_lines(&o);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with(&format!(
            "liteimap: cannot open database {}: ",
            db.display()
        )),
        "{lines:?}"
    );
}

#[test]
fn serve_on_a_busy_port_fails_with_one_line() {
    let dir = TempDir::new("busy");
    let db = dir.database("p.db");
    let o = run(&db, &["user", "add", "u", "--password-stdin"], "p\n");
    assert!(o.status.success());
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap();
    let o = Command::new(BIN)
        .arg("--db")
        .arg(&db)
        .args(["serve", "--listen", &addr.to_string()])
        .env("RUST_LOG", "info")
        .output()
        .unwrap();
    assert!(!o.status.success(), "{o:?}");
    let lines = stderr_lines(&o);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with(&format!("liteimap: cannot listen on {addr}: ")),
        "{lines:?}"
    );
}

#[test]
fn demo_user_and_sigterm() {
    let dir = TempDir::new("demo");
    let db = dir.database("d.db");
    let s = Served::start(&db);
    let o = run(&db, &["user", "list"], "");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "demo\t0 messages\n");
    drop(s);
    let db2 = dir.database("d2.db");
    let mut child = Command::new(BIN)
        .arg("--db")
        .arg(&db2)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let mut lines = Vec::new();
    let mut pass = None;
    loop {
        let mut l = String::new();
        assert!(err.read_line(&mut l).unwrap() > 0, "{lines:?}");
        if let Some(rest) =
            l.strip_prefix("liteimap: no users yet, so created user \"demo\" with password \"")
        {
            pass = Some(rest.trim_end().trim_end_matches('"').to_string());
        }
        let done = l.contains("listening on");
        lines.push(l);
        if done {
            break;
        }
    }
    let pass = pass.unwrap_or_else(|| panic!("no demo password in {lines:?}"));
    let port = lines
        .last()
        .and_then(|l| listening_port(l))
        .expect("no port in the log line");
    assert!(pass.len() >= 12, "{pass}");
    // The password is not logged anywhere else.
    assert_eq!(lines.iter().filter(|l| l.contains(&pass)).count(), 1);
    let mut c = Client::connect(port);
    c.greeting = c.read_line();
    assert_eq!(
        c.cmd(&format!("LOGIN demo \"{pass}\"")),
        vec![concat!(
            "TAG OK [CAPABILITY ",
            common::caps!(),
            "] Logged in"
        )]
    );
    c.cmd("SELECT INBOX");
    // SIGTERM: the connected client gets BYE, the process exits 0.
    let st = Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    assert_eq!(c.read_line(), "* BYE Server shutting down");
    assert!(c.is_closed());
    let status = child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    let mut rest = String::new();
    let _ = err.read_to_string(&mut rest);
    assert!(!rest.contains(&pass));
    // A second start does not create another demo user.
    let o = run(&db2, &["user", "list"], "");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "demo\t0 messages\n");
}

/// Append in a loop over a raw socket until the connection breaks; the UIDs answered OK (each
/// also sent to `acks` as soon as its OK is read).
fn append_until_broken(port: u16, id: usize, acks: mpsc::Sender<u32>) -> Vec<u32> {
    let mut ok = Vec::new();
    let Ok(s) = TcpStream::connect(("127.0.0.1", port)) else {
        return ok;
    };
    let _ = s.set_read_timeout(Some(Duration::from_secs(10)));
    let mut w = s.try_clone().unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    let read = |r: &mut BufReader<TcpStream>, line: &mut String| -> bool {
        line.clear();
        matches!(r.read_line(line), Ok(n) if n > 0)
    };
    if !read(&mut r, &mut line) {
        return ok;
    }
    if w.write_all(b"l LOGIN crash test\r\n").is_err() || !read(&mut r, &mut line) {
        return ok;
    }
    assert!(line.starts_with("l OK"), "{line}");
    for n in 0.. {
        let msg = message(
            &format!("t{id}-{n}"),
            &"crash test body line\r\n".repeat(20),
        );
        let tag = format!("a{n}");
        if w.write_all(format!("{tag} APPEND INBOX {{{}}}\r\n", msg.len()).as_bytes())
            .is_err()
            || !read(&mut r, &mut line)
        {
            return ok;
        }
        if !line.starts_with('+') {
            return ok;
        }
        if w.write_all(&msg).is_err() || w.write_all(b"\r\n").is_err() {
            return ok;
        }
        loop {
            if !read(&mut r, &mut line) {
                return ok;
            }
            if line.starts_with(&format!("{tag} ")) {
                break;
            }
        }
        let Some(rest) = line.strip_prefix(&format!("{tag} OK [APPENDUID ")) else {
            panic!("{line}");
        };
        let uid: u32 = rest.split([' ', ']']).nth(1).unwrap().parse().unwrap();
        ok.push(uid);
        let _ = acks.send(uid);
    }
    ok
}

/// SIGKILL right after an OK, three times over, with eight clients appending at once (so their
/// appends share commits, see group commit in src/store/mod.rs): every UID answered OK is in
/// the database the crash left behind.
#[test]
fn every_acknowledged_append_survives_sigkill() {
    let dir = TempDir::new("crash");
    let db = dir.database("c.db");
    let o = run(&db, &["user", "add", "crash", "--password-stdin"], "test\n");
    assert!(o.status.success(), "{o:?}");
    let mut unique: BTreeSet<u32> = BTreeSet::new();
    for round in 0..3 {
        let mut s = Served::start(&db);
        let port = s.port;
        let (tx, rx) = mpsc::channel();
        let threads: Vec<_> = (0..8)
            .map(|i| {
                let tx = tx.clone();
                std::thread::spawn(move || append_until_broken(port, i, tx))
            })
            .collect();
        drop(tx);
        // Kill the moment the 40th OK of this round has been read (bounded: the clients'
        // reads time out after 10 s if the server stops answering).
        let mut seen = 0;
        while seen < 40 {
            if rx.recv().is_err() {
                break;
            }
            seen += 1;
        }
        s.child.kill().unwrap(); // SIGKILL
        s.child.wait().unwrap();
        let mut acked = Vec::new();
        for t in threads {
            acked.extend(t.join().unwrap());
        }
        eprintln!(
            "round {round}: {} appends acknowledged before SIGKILL",
            acked.len()
        );
        let before = unique.len();
        unique.extend(acked.iter().copied());
        assert_eq!(
            unique.len(),
            before + acked.len(),
            "a UID was given out twice"
        );
        assert!(
            acked.len() >= 40,
            "too few appends before the kill: {}",
            acked.len()
        );

        // The database as left by the crash (SQLite's WAL included).
        sqlite_integrity_ok(&db);
        let store = open_store(&db);
        let user = store.find_user("crash").unwrap().unwrap();
        let inbox = store.mailbox(user.id, "INBOX").unwrap().unwrap();
        let present: BTreeSet<u32> = store
            .messages(inbox.id, &(1..=100_000).collect::<Vec<u32>>())
            .unwrap()
            .into_iter()
            .map(|m| m.uid)
            .collect();
        drop(store);
        let missing: Vec<_> = unique.difference(&present).collect();
        assert!(missing.is_empty(), "acknowledged but lost: {missing:?}");
    }

    // The restarted server agrees, and goes on with higher UIDs.
    let s = Served::start(&db);
    let mut c = Client::connect(s.port);
    c.greeting = c.read_line();
    c.cmd("LOGIN crash test");
    let r = c.cmd("STATUS INBOX (MESSAGES UIDNEXT)");
    let fields: Vec<u32> = r[0]
        .trim_start_matches("* STATUS INBOX (")
        .trim_end_matches(')')
        .split(' ')
        .filter_map(|f| f.parse().ok())
        .collect();
    let (messages, uidnext) = (fields[0], fields[1]);
    assert!(
        messages as usize >= unique.len(),
        "{r:?} vs {}",
        unique.len()
    );
    assert!(uidnext > *unique.iter().max().unwrap(), "{r:?}");
    let r = c.cmd("SELECT INBOX");
    assert!(r.contains(&format!("* {messages} EXISTS")), "{r:?}");
    let r = c.append("INBOX", "", &message("after", "x"));
    assert!(
        r.starts_with("TAG OK [APPENDUID ") && r.contains(&format!(" {uidnext}] ")),
        "{r}"
    );
    sqlite_integrity_ok(&db);
}

/// SQLite's `PRAGMA integrity_check` of the file `db` passes (PostgreSQL: nothing to check).
fn sqlite_integrity_ok(db: &Path) {
    if on_postgres() {
        return;
    }
    let conn = rusqlite::Connection::open(db).unwrap();
    let check: String = conn
        .query_row("PRAGMA integrity_check", [], |r| r.get(0))
        .unwrap();
    assert_eq!(check, "ok");
}

#[test]
fn stdio_is_preauthenticated() {
    let dir = TempDir::new("stdio");
    let db = dir.database("s.db");
    let o = run(&db, &["user", "add", "erin", "--password-stdin"], "pw\n");
    assert!(o.status.success());
    let o = run(
        &db,
        &["stdio", "--user", "erin"],
        "a1 LOGIN erin pw\r\na2 CREATE box\r\na3 STATUS box (MESSAGES)\r\na4 LOGOUT\r\n",
    );
    assert!(o.status.success(), "{o:?}");
    let out = String::from_utf8_lossy(&o.stdout);
    let lines: Vec<&str> = out.split("\r\n").collect();
    assert_eq!(
        ids_masked(&lines),
        vec![
            concat!(
                "* PREAUTH [CAPABILITY ",
                common::caps!(),
                "] liteimap: logged in as erin"
            ),
            "a1 BAD LOGIN: already logged in",
            "a2 OK [MAILBOXID (F…)] CREATE completed",
            "* STATUS box (MESSAGES 0)",
            "a3 OK STATUS completed",
            "* BYE liteimap logging out",
            "a4 OK LOGOUT completed",
            "",
        ]
    );
    let o = run(&db, &["stdio", "--user", "nobody"], "");
    assert!(!o.status.success());
    assert_eq!(stderr_lines(&o), vec!["liteimap: no such user: nobody"]);
}

#[test]
fn sigint_says_bye_and_exits_zero() {
    let dir = TempDir::new("sigint");
    let db = dir.database("i.db");
    let o = run(&db, &["user", "add", "u", "--password-stdin"], "p\n");
    assert!(o.status.success());
    let mut s = Served::start(&db);
    let mut c = Client::connect(s.port);
    c.greeting = c.read_line();
    let mut d = Client::connect(s.port);
    d.greeting = d.read_line();
    assert_eq!(
        c.cmd("LOGIN u p")[0],
        concat!("TAG OK [CAPABILITY ", common::caps!(), "] Logged in")
    );
    let st = Command::new("kill")
        .args(["-INT", &s.child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    for client in [&mut c, &mut d] {
        assert_eq!(client.read_line(), "* BYE Server shutting down");
        assert!(client.is_closed());
    }
    let status = s.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
    s.wait_for_line("liteimap stopped");
    // Nothing listens any more.
    assert!(TcpStream::connect(("127.0.0.1", s.port)).is_err());
}

#[test]
fn newer_database_is_refused_and_left_alone() {
    if sqlite_only(
        "the SQLite file's user_version (tests/pg_store.rs refuses a newer schema_version)",
    ) {
        return;
    }
    let dir = TempDir::new("newer");
    let db = dir.path().join("n.db");
    let o = run(&db, &["user", "add", "u", "--password-stdin"], "p\n");
    assert!(o.status.success());
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch("PRAGMA user_version = 99").unwrap();
    drop(conn);
    for args in [
        &["user", "list"][..],
        &["serve", "--listen", "127.0.0.1:0"][..],
    ] {
        let o = run(&db, args, "");
        assert!(!o.status.success(), "{args:?}");
        let lines = stderr_lines(&o);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(
            lines[0].starts_with(&format!(
                "liteimap: cannot open database {}: ",
                db.display()
            )) && lines[0].contains("newer"),
            "{lines:?}"
        );
    }
    let conn = rusqlite::Connection::open(&db).unwrap();
    let v: i64 = conn
        .query_row("PRAGMA user_version", [], |r| r.get(0))
        .unwrap();
    assert_eq!(v, 99);
}

#[test]
fn serve_listens_on_every_address_given() {
    let dir = TempDir::new("twolisten");
    let db = dir.database("l.db");
    let o = run(&db, &["user", "add", "u", "--password-stdin"], "p\n");
    assert!(o.status.success());
    let mut child = Command::new(BIN)
        .arg("--db")
        .arg(&db)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--listen",
            "127.0.0.1:0",
        ])
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Both listeners are bound before either is logged; each log line names its port.
    let mut ports = Vec::new();
    for line in BufReader::new(child.stderr.take().unwrap()).lines() {
        let line = line.unwrap();
        if let Some(p) = listening_port(&line) {
            ports.push(p);
            if ports.len() == 2 {
                break;
            }
        }
    }
    assert_eq!(ports.len(), 2, "the server did not log two listeners");
    assert_ne!(ports[0], ports[1]);
    for p in ports {
        let mut c = Client::connect(p);
        c.greeting = c.read_line();
        assert_eq!(
            c.cmd("LOGIN u p")[0],
            concat!("TAG OK [CAPABILITY ", common::caps!(), "] Logged in")
        );
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn info_log_has_connections_and_failed_logins_but_no_secrets() {
    let dir = TempDir::new("log");
    let db = dir.database("g.db");
    let o = run(&db, &["user", "add", "u", "--password-stdin"], "RightPw1\n");
    assert!(o.status.success());
    let mut s = Served::start(&db);
    let mut c = Client::connect(s.port);
    c.greeting = c.read_line();
    assert_eq!(
        c.cmd("LOGIN u WrongPw7"),
        vec!["TAG NO [AUTHENTICATIONFAILED] Authentication failed"]
    );
    assert_eq!(
        c.cmd("LOGIN u RightPw1")[0],
        concat!("TAG OK [CAPABILITY ", common::caps!(), "] Logged in")
    );
    assert!(c
        .append("INBOX", "", &message("SubjectMark", "BodyMark"))
        .starts_with("TAG OK"));
    c.cmd("LOGOUT");
    assert!(c.is_closed());
    let lines = s.wait_for_line("disconnected");
    let _ = Command::new("kill")
        .args(["-TERM", &s.child.id().to_string()])
        .status();
    let _ = s.child.wait();
    let mut all = lines;
    while let Ok(l) = s.stderr.recv_timeout(Duration::from_millis(500)) {
        all.push(l);
    }
    let text = all.join("\n");
    assert!(text.contains("): connected"), "{text}");
    assert!(text.contains("login failed for user \"u\""), "{text}");
    assert!(text.contains("): disconnected"), "{text}");
    for secret in ["WrongPw7", "RightPw1", "SubjectMark", "BodyMark"] {
        assert!(!text.contains(secret), "{secret} in the log:\n{text}");
    }
}

/// `serve --no-fts` empties the search index and stops keeping it; `reindex` builds it again
/// from the stored messages (issue 24).
#[test]
fn no_fts_and_reindex() {
    if sqlite_only("the FTS5 search index") {
        return;
    }
    let dir = TempDir::new("reindex");
    let db = dir.path().join("r.db");
    database_with_alice(&db);
    let indexed = || {
        liteimap::store::Store::open(&db)
            .unwrap()
            .search_index_on()
            .unwrap()
    };
    {
        let store = liteimap::store::Store::open(&db).unwrap();
        let u = store.find_user("alice").unwrap().unwrap();
        let inbox = store.mailbox(u.id, "INBOX").unwrap().unwrap().id;
        let m = liteimap::message::prepare(message("one", "indexed text"), vec![], None);
        store.append(inbox, &[m]).unwrap();
    }
    assert!(indexed());
    let srv = Served::start_with(Command::new(BIN), &db, &["--no-fts"]);
    assert!(
        srv.startup
            .iter()
            .any(|l| l.contains("search index dropped")),
        "{:?}",
        srv.startup
    );
    drop(srv);
    assert!(!indexed());
    let o = run(&db, &["reindex"], "");
    assert!(o.status.success(), "{o:?}");
    let lines = stderr_lines(&o);
    assert!(
        lines
            .iter()
            .any(|l| l.contains("search index: 1 messages indexed")),
        "{lines:?}"
    );
    assert!(indexed());
}

/// `serve` binds every listener before it writes anything: on a busy port no demo user is
/// made and no password is printed.
#[test]
fn serve_on_a_busy_port_creates_no_demo_user() {
    let dir = TempDir::new("busy-demo");
    let db = dir.database("d.db");
    let busy = TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = busy.local_addr().unwrap().to_string();
    let o = run(&db, &["serve", "--listen", &addr], "");
    assert!(!o.status.success());
    let lines = stderr_lines(&o);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(
        lines[0].starts_with("liteimap: cannot listen on"),
        "{lines:?}"
    );
    let o = run(&db, &["user", "list"], "");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "");
    // A missing --import path is refused before anything is made too.
    let o = run(
        &db,
        &[
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--import",
            "/nonexistent/mail",
        ],
        "",
    );
    assert_eq!(
        stderr_lines(&o),
        ["liteimap: cannot import /nonexistent/mail: No such file or directory (os error 2)"]
    );
    let o = run(&db, &["user", "list"], "");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "");
}

/// On a listener beyond loopback, an empty database is refused with the way to add a user,
/// and no demo account is created.
#[test]
fn serve_on_a_public_listener_with_no_users_refuses() {
    let dir = TempDir::new("public-nouser");
    let db = dir.database("p.db");
    let o = run(&db, &["serve", "--listen", "0.0.0.0:0"], "");
    assert!(!o.status.success());
    assert_eq!(
        stderr_lines(&o).last().unwrap(),
        &format!(
            "liteimap: no users yet and listening beyond loopback; add one first: liteimap --db {} user add NAME",
            db.display()
        )
    );
    let o = run(&db, &["user", "list"], "");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "");
}

/// Database paths that cannot work say why, on one line.
#[test]
fn database_errors_say_why() {
    if sqlite_only("SQLite paths that cannot work (a directory, :memory:)") {
        return;
    }
    let dir = TempDir::new("dberr");
    let cases: Vec<(std::path::PathBuf, String)> = vec![
        (
            dir.path().to_path_buf(),
            format!(
                "liteimap: cannot open database {0}: is a directory; give the database file, e.g. --db {0}/liteimap.db",
                dir.path().display()
            ),
        ),
        (
            ":memory:".into(),
            "liteimap: cannot open database :memory:: an in-memory database would lose all mail at exit; give a file path, e.g. --db /var/lib/liteimap/mail.db".into(),
        ),
    ];
    for (db, want) in cases {
        let o = run(&db, &["user", "list"], "");
        assert!(!o.status.success());
        assert_eq!(stderr_lines(&o), [want]);
    }
    // A missing directory is created (0700), as the README says.
    let nested = dir.path().join("new/sub/mail.db");
    assert!(run(&nested, &["user", "list"], "").status.success());
    assert_eq!(mode(nested.parent().unwrap()), 0o700);
}

/// A database in a directory the user cannot write: SQLite would say "unable to open database
/// file"; liteimap names the directory and the -wal/-shm files. Run as `nobody` when the
/// suite runs as root (root writes anywhere).
#[test]
fn a_database_in_a_read_only_directory_says_the_directory_must_be_writable() {
    if sqlite_only("the SQLite file's directory") {
        return;
    }
    use std::os::unix::fs::PermissionsExt;
    let dir = TempDir::new("dbro");
    let ro = dir.path().join("ro");
    std::fs::create_dir(&ro).unwrap();
    let db = ro.join("mail.db");
    assert!(run(&db, &["user", "add", "u", "--password-stdin"], "p\n")
        .status
        .success());
    std::fs::remove_file(ro.join("mail.db-wal")).ok();
    std::fs::remove_file(ro.join("mail.db-shm")).ok();
    std::fs::set_permissions(&db, std::fs::Permissions::from_mode(0o644)).unwrap();
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o555)).unwrap();
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
    let root = String::from_utf8_lossy(&Command::new("id").arg("-u").output().unwrap().stdout)
        .trim()
        == "0";
    let cmd = if root {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=65534", "--regid=65534", "--clear-groups", BIN]);
        c
    } else {
        Command::new(BIN)
    };
    let o = run_from(cmd, &db, &["user", "list"], "");
    std::fs::set_permissions(&ro, std::fs::Permissions::from_mode(0o755)).unwrap();
    assert!(!o.status.success());
    let lines = stderr_lines(&o);
    let want = format!(
        "liteimap: cannot open database {}: directory {} is not writable by this user",
        db.display(),
        ro.display()
    );
    // The mode warning (644) may come first; the error is the last line.
    assert!(lines.last().unwrap().starts_with(&want), "{lines:?}");
    assert!(lines.last().unwrap().contains("-wal and -shm"), "{lines:?}");
}

/// Usage errors are one `liteimap:` line; -h, --version and -V work; a global option after
/// the command gets a hint; out-of-range values are refused, not clamped.
#[test]
fn usage_errors_are_one_line_with_hints() {
    let dir = TempDir::new("usage");
    let db = dir.path().join("u.db");
    let bin = |args: &[&str]| Command::new(BIN).args(args).output().unwrap();
    for args in [&["--version"][..], &["-V"][..]] {
        let o = bin(args);
        assert!(o.status.success(), "{args:?}");
        assert_eq!(
            String::from_utf8_lossy(&o.stdout),
            format!("liteimap {}\n", env!("CARGO_PKG_VERSION"))
        );
    }
    for args in [&["-h"][..], &["serve", "-h"][..]] {
        let o = bin(args);
        assert!(o.status.success(), "{args:?}");
        assert!(String::from_utf8_lossy(&o.stdout).contains("Usage:"));
    }
    let o = bin(&["--frobnicate", "serve"]);
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr_lines(&o),
        ["liteimap: Unrecognized argument: --frobnicate (run liteimap --help)"]
    );
    let o = bin(&["serve", "--db", "x.db"]);
    assert_eq!(
        stderr_lines(&o),
        ["liteimap: Unrecognized argument: --db (--db goes before the command: liteimap --db FILE serve ...)"]
    );
    for (flag, value, want) in [
        (
            "--max-search-depth",
            "9",
            "--max-search-depth 9 is out of range (1 to 8)",
        ),
        (
            "--max-search-depth",
            "0",
            "--max-search-depth 0 is out of range (1 to 8)",
        ),
        (
            "--max-line-length",
            "10",
            "--max-line-length 10 is too small (at least 1024)",
        ),
        (
            "--max-connections",
            "0",
            "--max-connections 0 is too small (at least 1)",
        ),
    ] {
        let o = run(&db, &["serve", "--listen", "127.0.0.1:0", flag, value], "");
        assert!(!o.status.success());
        assert_eq!(stderr_lines(&o), [format!("liteimap: {want}")]);
    }
    // Refused before the database is touched.
    assert!(!db.exists());
}

/// CI runs exactly the test command README.md gives (quick start and Testing section).
#[test]
fn ci_runs_the_readme_test_command() {
    let root = env!("CARGO_MANIFEST_DIR");
    let readme = std::fs::read_to_string(format!("{root}/README.md")).unwrap();
    let ci = std::fs::read_to_string(format!("{root}/.ci/run")).unwrap();
    let ci_cmd: Vec<&str> = ci
        .lines()
        .filter(|l| l.trim_start().starts_with("cargo test"))
        .collect();
    assert_eq!(ci_cmd, ["cargo test --locked --no-fail-fast"]);
    let testing = readme.split("## Testing").nth(1).unwrap();
    let first_code = testing.split("```sh\n").nth(1).unwrap().lines().next();
    assert_eq!(first_code, Some(ci_cmd[0]));
    assert!(readme.contains(&format!("{}    # the whole test suite", ci_cmd[0])));
}

/// Under systemd's Type=notify: READY=1 arrives on $NOTIFY_SOCKET once the listeners are
/// bound (a client connecting right then is served), STOPPING=1 at SIGTERM.
#[test]
fn serve_tells_systemd_when_it_is_ready_and_stopping() {
    use std::os::unix::net::UnixDatagram;
    let dir = TempDir::new("notify");
    let db = dir.database("n.db");
    let sock_path = dir.path().join("notify.sock");
    let sock = UnixDatagram::bind(&sock_path).unwrap();
    sock.set_read_timeout(Some(Duration::from_secs(20)))
        .unwrap();
    let mut child = Command::new(BIN)
        .arg("--db")
        .arg(&db)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .env("NOTIFY_SOCKET", &sock_path)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut buf = [0u8; 256];
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"READY=1");
    // By now the port has been logged and accepts.
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let port = loop {
        let mut l = String::new();
        assert!(err.read_line(&mut l).unwrap() > 0);
        if let Some(p) = listening_port(&l) {
            break p;
        }
    };
    let mut c = Client::connect(port);
    assert!(c.read_line().starts_with("* OK"));
    Command::new("kill")
        .args(["-TERM", &child.id().to_string()])
        .status()
        .unwrap();
    let n = sock.recv(&mut buf).unwrap();
    assert_eq!(&buf[..n], b"STOPPING=1");
    assert!(child.wait().unwrap().success());
}

// --db postgresql://…: every command that opens the store refuses an unreachable server with
// one line (no password in it) and the exit code of any open failure; the SQLite-only commands
// say so; --help names the URL form. No server is needed: the socket directory does not exist.

/// A socket directory no server listens in (the password must never be shown).
const NOWHERE: &str = "postgresql://mail:s3cret@%2Fnonexistent%2Fliteimap-pg/imap";
const NOWHERE_SHOWN: &str = "postgresql://mail:***@%2Fnonexistent%2Fliteimap-pg/imap";

/// `liteimap --db URL ARGS`, with no password from the environment or a password file.
fn on_url(url: &str, args: &[&str], stdin: &str) -> Output {
    let mut cmd = Command::new(BIN);
    cmd.env("HOME", "/nonexistent")
        .env_remove("PGPASSWORD")
        .env_remove("PGPASSFILE");
    run_from(cmd, Path::new(url), args, stdin)
}

fn stderr_text(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn serve_refuses_an_unreachable_postgresql_server_with_one_line() {
    let o = on_url(NOWHERE, &["serve", "--listen", "127.0.0.1:0"], "");
    assert_eq!(o.status.code(), Some(1), "{}", stderr_text(&o));
    assert_eq!(
        stderr_lines(&o),
        [format!(
            "liteimap: cannot open database {NOWHERE_SHOWN}: the database is unavailable: no PostgreSQL server is listening on /nonexistent/liteimap-pg/.s.PGSQL.5432 (is it running, and is that its socket directory?)"
        )]
    );
}

#[test]
fn every_store_command_refuses_an_unreachable_postgresql_server() {
    let unavailable = format!("cannot open database {NOWHERE_SHOWN}: the database is unavailable");
    for args in [
        &["user", "list"][..],
        &["user", "add", "bob"],
        &["import", "--user", "bob", "/dev/null"],
        &["stdio", "--user", "bob"],
        &["reindex"],
    ] {
        let o = on_url(NOWHERE, args, "pw\npw\n");
        let err = stderr_text(&o);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {err}");
        assert!(err.contains(&unavailable), "{args:?}: {err}");
        assert!(!err.contains("s3cret"), "{args:?}: {err}");
    }
    // dev --keep takes a URL too.
    let o = Command::new(BIN)
        .args(["dev", "--keep", NOWHERE])
        .env("HOME", "/nonexistent")
        .output()
        .unwrap();
    let err = stderr_text(&o);
    assert_eq!(o.status.code(), Some(1), "{err}");
    assert!(err.contains(&unavailable), "{err}");
    assert!(!err.contains("s3cret"), "{err}");
    // deliver: a temporary failure, which the MTA retries.
    let o = on_url(
        NOWHERE,
        &["deliver", "--user", "bob"],
        "Subject: hi\r\n\r\nhello\r\n",
    );
    let err = stderr_text(&o);
    assert_eq!(o.status.code(), Some(75), "{err}");
    assert!(
        err.starts_with("liteimap deliver: temporary failure, try again later: the database is unavailable: no PostgreSQL server is listening on /nonexistent/liteimap-pg/"),
        "{err}"
    );
    assert!(!err.contains("s3cret"), "{err}");
}

#[test]
fn the_configuration_files_db_key_takes_a_postgresql_url() {
    let dir = std::env::temp_dir().join(format!("liteimap-db-url-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let conf = dir.join("l.toml");
    std::fs::write(&conf, format!("db = \"{NOWHERE}\"\n")).unwrap();
    let o = Command::new(BIN)
        .args(["--config", conf.to_str().unwrap(), "user", "list"])
        .output()
        .unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    assert_eq!(o.status.code(), Some(1));
    let err = stderr_text(&o);
    assert!(
        err.contains(&format!("cannot open database {NOWHERE_SHOWN}:")),
        "{err}"
    );
}

#[test]
fn postgresql_tls_sslmodes_are_refused_with_the_reason() {
    for mode in ["require", "verify-full"] {
        let url = format!("postgresql://mail:s3cret@db.invalid/imap?sslmode={mode}");
        let o = on_url(&url, &["user", "list"], "");
        let err = stderr_text(&o);
        assert_eq!(o.status.code(), Some(1), "{err}");
        assert!(
            err.contains("need TLS, which liteimap cannot speak to PostgreSQL yet"),
            "{err}"
        );
        assert!(!err.contains("s3cret"), "{err}");
    }
}

#[test]
fn sqlite_only_commands_say_so_on_postgresql() {
    let o = on_url(NOWHERE, &["backup", "/tmp/never-written.db"], "");
    assert_eq!(o.status.code(), Some(1));
    assert_eq!(
        stderr_lines(&o),
        [format!("liteimap: backup copies a SQLite file; {NOWHERE_SHOWN} is PostgreSQL: use its own tools (pg_dump, or a base backup with WAL archiving)")]
    );
    let o = on_url(NOWHERE, &["check"], "");
    assert_eq!(o.status.code(), Some(1));
    let err = stderr_text(&o);
    assert!(err.contains("check examines a SQLite file"), "{err}");
    // No admin socket beside a PostgreSQL database: who and kick need it named.
    for args in [&["who"][..], &["kick", "bob"]] {
        let o = on_url(NOWHERE, args, "");
        assert_eq!(o.status.code(), Some(1));
        let err = stderr_text(&o);
        assert!(
            err.contains("there is no admin socket beside it: give --admin-socket PATH"),
            "{err}"
        );
    }
}

#[test]
fn help_names_the_postgresql_url_form() {
    let o = Command::new(BIN).arg("--help").output().unwrap();
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("postgresql://USER[:PASS]@HOST[:PORT]/DBNAME"),
        "{out}"
    );
    assert!(out.contains("PGPASSWORD or ~/.pgpass"), "{out}");
}
