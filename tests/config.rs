//! `liteimap.toml`: a running server configured by the file, flags overriding it, SIGHUP
//! re-reading it, `liteimap config check`, and the keys matching `serve`'s flags.

mod common;
use common::*;

use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Command, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_liteimap");

fn add_user(db: &Path) {
    let mut c = Command::new(BIN)
        .arg("--db")
        .arg(db)
        .args(["user", "add", "alice", "--password-stdin"])
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut c.stdin.take().unwrap(), b"wonderland\n").unwrap();
    assert!(c.wait().unwrap().success());
}

/// The file gives the database and the limits; a flag on the command line overrides its key
/// (here a listen address the file gets wrong). SIGHUP applies a changed limit to new
/// connections, names a changed key that needs a restart, and one the command line overrides.
#[test]
fn a_server_runs_from_the_file_and_flags_override_it() {
    let dir = TempDir::new("config-serve");
    let db = dir.database("mail.db");
    add_user(&db);
    let conf = dir.path().join("liteimap.toml");
    let text = format!(
        "# liteimap configuration\ndb = \"{}\"\nlisten = [\"nonsense\"]\nmax-message-size = 4096\n",
        db.display()
    );
    std::fs::write(&conf, &text).unwrap();
    let mut child = Command::new(BIN)
        .arg("--config")
        .arg(&conf)
        .args(["serve", "--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let rx = lines_of(&mut child);
    let line = wait_for(&rx, "listening on");
    assert!(
        line.contains(&format!("database {}", db.display())),
        "{line}"
    );
    let port = listening_port(&line).unwrap();
    let mut c = Client::connect(port);
    c.greeting = c.read_line();
    let r = c.cmd("LOGIN alice wonderland");
    assert!(r[0].contains(" APPENDLIMIT=4096 "), "{r:?}");
    // SIGHUP with the file changed: the new limit applies to new connections, the others are
    // named, the server goes on.
    let newer = text
        .replace("4096", "8192")
        .replace("nonsense", "also nonsense")
        + "max-connections-per-ip = 3\nlmtp-domain = [\"example.org\"]\n";
    std::fs::write(&conf, newer).unwrap();
    let st = Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
    let c_ = conf.display();
    let line = wait_for(&rx, "SIGHUP: listen changed");
    assert!(
        line.ends_with(&format!(
            "SIGHUP: listen changed in {c_}, but --listen on the command line overrides it"
        )),
        "{line}"
    );
    let line = wait_for(&rx, "SIGHUP: lmtp-domain changed");
    assert!(
        line.ends_with(&format!(
            "SIGHUP: lmtp-domain changed in {c_}; restart liteimap to apply it (SIGHUP applies only the limits; listeners, sockets, the database, TLS file paths and memory pools are fixed while the server runs)"
        )),
        "{line}"
    );
    let line = wait_for(&rx, "SIGHUP: applied");
    assert!(
        line.ends_with(&format!(
            "SIGHUP: applied max-connections-per-ip, max-message-size from {c_} (to new connections and commands)"
        )),
        "{line}"
    );
    let mut d = Client::connect(port);
    d.greeting = d.read_line();
    let r = d.cmd("LOGIN alice wonderland");
    assert!(r[0].contains(" APPENDLIMIT=8192 "), "{r:?}");
    // A connection keeps the literal limit it started with, and says so.
    let r = c.cmd("CAPABILITY");
    assert!(r[0].contains(" APPENDLIMIT=4096 "), "{r:?}");
    // The new per-address limit (3): c and d are two, a third fits, a fourth does not.
    let mut e = Client::connect(port);
    assert!(e.read_line().starts_with("* OK "));
    let mut f = Client::connect(port);
    assert_eq!(
        f.read_line(),
        "* BYE Too many connections from your address (limit 3)"
    );
    drop((d, e, f));
    // A broken file on SIGHUP is reported and the running settings stay.
    std::fs::write(&conf, "\nlisten = [\n").unwrap();
    Command::new("kill")
        .args(["-HUP", &child.id().to_string()])
        .status()
        .unwrap();
    let line = wait_for(&rx, "keeping the running settings");
    assert!(line.contains(": line 2: "), "{line}");
    assert_eq!(c.cmd("NOOP"), ["TAG OK NOOP completed"]);
    let _ = child.kill();
    let _ = child.wait();
}

#[test]
fn config_check_reports_problems_with_their_lines() {
    let dir = TempDir::new("config-check");
    let conf = dir.path().join("l.toml");
    let check = |text: &str| {
        std::fs::write(&conf, text).unwrap();
        let o = Command::new(BIN)
            .arg("--config")
            .arg(&conf)
            .args(["config", "check"])
            .output()
            .unwrap();
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned(),
        )
    };
    let c = conf.display();
    assert_eq!(
        check("listen = [\"127.0.0.1:1143\"]\nmax-search-depth = 8\nallow-plaintext = true\n"),
        (Some(0), format!("{c}: ok\n"))
    );
    assert_eq!(
        check("listen = [\"127.0.0.1:1143\"]\nfrobnicate = 1\nmax_connections = 5\n"),
        (
            Some(1),
            format!(
                "{c}: line 2: unknown key \"frobnicate\" (the keys are db and the serve flags without --)\n\
                 {c}: line 3: unknown key \"max_connections\" (the keys are db and the serve flags without --)\n"
            )
        )
    );
    let (code, out) = check("idle-timeout = 60\nmax-connections = \"many\"\n");
    assert_eq!(code, Some(1));
    assert!(
        out.starts_with(&format!("{c}: line 2: invalid type")),
        "{out}"
    );
    assert_eq!(
        check("\nmax-search-depth = 9\n"),
        (
            Some(1),
            format!("{c}: line 2: max-search-depth 9 is out of range (1 to 8)\n")
        )
    );
    assert_eq!(
        check("tls-listen = [\"993\"]\ncert = \"c.pem\"\nkey = \"k.pem\"\n"),
        (
            Some(1),
            format!("{c}: line 1: tls-listen: invalid address \"993\" (expected IP:PORT, e.g. 127.0.0.1:1143)\n")
        )
    );
}

/// Every serve flag is a key of the file and every key but `db` is a serve flag.
#[test]
fn the_file_has_a_key_for_every_serve_flag() {
    let o = Command::new(BIN)
        .args(["serve", "--help"])
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&o.stdout);
    let flags: BTreeSet<String> = help
        .split_whitespace()
        .filter_map(|w| w.strip_prefix("--"))
        .map(|w| {
            w.trim_end_matches(|c: char| !c.is_ascii_alphanumeric())
                .to_string()
        })
        .filter(|w| !w.is_empty() && w != "help")
        .collect();
    let keys: BTreeSet<String> = liteimap::config::KEY_NAMES
        .iter()
        .filter(|k| **k != "db")
        .map(|k| k.to_string())
        .collect();
    assert_eq!(flags, keys);
}

/// The shipped example file is valid.
#[test]
fn the_shipped_config_file_checks_ok() {
    let conf = concat!(env!("CARGO_MANIFEST_DIR"), "/dist/liteimap.toml");
    let o = Command::new(BIN)
        .args(["--config", conf, "config", "check"])
        .output()
        .unwrap();
    assert_eq!(
        (
            o.status.code(),
            String::from_utf8_lossy(&o.stdout).into_owned()
        ),
        (Some(0), format!("{conf}: ok\n"))
    );
}

/// A broken file stops every command with its line; `deliver` exits 75 (the MTA retries)
/// rather than bouncing the message.
#[test]
fn a_broken_file_stops_commands_and_deliver_defers() {
    let dir = TempDir::new("config-broken");
    let conf = dir.path().join("l.toml");
    std::fs::write(&conf, "db = \"x.db\"\nlisten = 5 5\n").unwrap();
    let run = |args: &[&str]| {
        Command::new(BIN)
            .arg("--config")
            .arg(&conf)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap()
    };
    let o = run(&["user", "list"]);
    assert_eq!(o.status.code(), Some(1));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.starts_with(&format!("liteimap: {}: line 2: ", conf.display())),
        "{err}"
    );
    let o = run(&["deliver", "--user", "alice"]);
    assert_eq!(o.status.code(), Some(75));
    // --help still works: it never reads the file.
    assert!(run(&["serve", "--help"]).status.success());
}
