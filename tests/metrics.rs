//! `--metrics-listen`: a running server scraped over HTTP (curl), the text parsed by the
//! Prometheus project's own OpenMetrics parser (Python's prometheus_client, installed by
//! .ci/run), and the samples a dashboard reads checked after known traffic.

mod common;
use common::*;

use std::io::{BufRead, BufReader};
use std::process::{Command, Stdio};

const PARSE: &str = r#"
import subprocess, sys
from prometheus_client.openmetrics.parser import text_string_to_metric_families
text = subprocess.run(["curl", "-sS", "--fail", sys.argv[1]], check=True,
                      capture_output=True, text=True).stdout
for family in text_string_to_metric_families(text):
    for s in family.samples:
        labels = ",".join(f"{k}={v}" for k, v in sorted(s.labels.items()) if k != "le")
        if s.name.endswith("_bucket"):
            continue
        if s.name.endswith("_sum") or s.name in ("liteimap_database_bytes", "liteimap_wal_bytes", "liteimap_commits_total", "liteimap_writes_total", "liteimap_commit_duration_seconds_count", "liteimap_database_jobs_total") or (s.name == "liteimap_imap_bytes_total" and s.labels["direction"] == "out"):
            print(f"{s.name}{{{labels}}} positive={s.value > 0}")
        else:
            print(f"{s.name}{{{labels}}} {s.value:g}")
"#;

#[test]
fn metrics_are_openmetrics_text_a_parser_reads() {
    let dir = TempDir::new("metrics");
    let db = dir.database("m.db");
    {
        let store = common::open_store(&db);
        store
            .create_user("alice", &liteimap::password::hash(b"wonderland").unwrap())
            .unwrap();
    }
    // The admin socket (how `deliver` reports to the server) is beside a SQLite file by
    // default; PostgreSQL has no default place for it: the configuration file gives it.
    let conf = dir.path().join("liteimap.toml");
    let socket = dir.path().join("admin.sock");
    std::fs::write(&conf, format!("admin-socket = \"{}\"\n", socket.display())).unwrap();
    let admin_socket: Vec<&std::ffi::OsStr> = if on_postgres() {
        vec!["--config".as_ref(), conf.as_os_str()]
    } else {
        vec![]
    };
    let mut child = KillOnDrop(
        Command::new(env!("CARGO_BIN_EXE_liteimap"))
            .args(&admin_socket)
            .arg("--db")
            .arg(&db)
            .args([
                "serve",
                "--listen",
                "127.0.0.1:0",
                "--metrics-listen",
                "127.0.0.1:0",
                "--lmtp-listen",
                "127.0.0.1:0",
            ])
            .args(["--auth-failure-delay-ms", "0"])
            .env("RUST_LOG", "info")
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    );
    let mut err = BufReader::new(child.0.stderr.take().unwrap());
    let (mut url, mut port, mut lmtp) = (None, None, None);
    while url.is_none() || port.is_none() || lmtp.is_none() {
        let mut l = String::new();
        assert!(err.read_line(&mut l).unwrap() > 0);
        if let Some(p) = port_after(&l, "accepting LMTP on ") {
            lmtp = Some(p);
        }
        if let Some(u) = l.split_whitespace().find(|w| w.starts_with("http://")) {
            url = Some(u.to_string());
        }
        if let Some(p) = listening_port(&l) {
            port = Some(p);
        }
    }
    let (url, port) = (url.unwrap(), port.unwrap());
    let mut c = Client::connect(port);
    c.greeting = c.read_line();
    // Every byte the clients send, to compare with liteimap_imap_bytes_total{direction=in}.
    let mut sent = 0;
    for (i, command) in [
        "LOGIN alice nope",
        "LOGIN alice wonderland",
        "SELECT INBOX",
        "NOOP",
        "NOOP",
        // A command's time is recorded once its answer is written: the answer to the next
        // command means the last NOOP is counted.
        "CAPABILITY",
    ]
    .iter()
    .enumerate()
    {
        sent += format!("t{} {command}\r\n", i + 1).len();
        c.cmd(command);
    }
    let mut idler = Client::connect(port);
    idler.greeting = idler.read_line();
    idler.cmd("LOGIN alice wonderland");
    idler.send(b"t2 IDLE\r\n");
    assert_eq!(idler.read_line(), "+ idling");
    sent += "t1 LOGIN alice wonderland\r\nt2 IDLE\r\n".len();
    // LMTP: one recipient delivered, one refused.
    let mut m = Client::connect(lmtp.unwrap());
    assert!(m.read_line().starts_with("220 "));
    m.send(b"LHLO test\r\n");
    while m.read_line().starts_with("250-") {}
    for (line, want) in [
        ("MAIL FROM:<a@example.org>", "250 "),
        ("RCPT TO:<alice@example.org>", "250 "),
        ("RCPT TO:<nobody@example.org>", "550 "),
        ("DATA", "354 "),
        ("Subject: hi\r\n\r\nhello\r\n.", "250 "),
    ] {
        m.send(format!("{line}\r\n").as_bytes());
        let r = m.read_line();
        assert!(r.starts_with(want), "{line}: {r}");
    }
    // `deliver` beside the server tells it the outcome over the admin socket.
    for (user, code) in [("alice", 0), ("nobody", 67)] {
        let mut d = Command::new(env!("CARGO_BIN_EXE_liteimap"))
            .arg("--db")
            .arg(&db)
            .args(&admin_socket)
            .args(["deliver", "--user", user])
            .stdin(Stdio::piped())
            .spawn()
            .unwrap();
        std::io::Write::write_all(&mut d.stdin.take().unwrap(), b"Subject: x\r\n\r\ny\r\n")
            .unwrap();
        assert_eq!(d.wait().unwrap().code(), Some(code));
    }
    let out = python(PARSE, &[&url]);
    let lines: Vec<&str> = out.lines().collect();
    let bytes_in = format!("liteimap_imap_bytes_total{{direction=in}} {sent}");
    for want in [
        "liteimap_logins_total{result=failed} 1",
        "liteimap_logins_total{result=ok} 2",
        "liteimap_command_duration_seconds_count{command=LOGIN} 3",
        "liteimap_command_duration_seconds_count{command=SELECT} 1",
        "liteimap_command_duration_seconds_count{command=NOOP} 2",
        "liteimap_command_duration_seconds_sum{command=NOOP} positive=True",
        "liteimap_connections{state=logged_in} 2",
        "liteimap_connections{state=pre_login} 0",
        // The file's size; PostgreSQL's database sizes are the server's to report.
        if on_postgres() {
            "liteimap_database_bytes{} positive=False"
        } else {
            "liteimap_database_bytes{} positive=True"
        },
        "liteimap_commits_total{} positive=True",
        bytes_in.as_str(),
        "liteimap_imap_bytes_total{direction=out} positive=True",
        "liteimap_idle_sessions{} 1",
        "liteimap_commit_duration_seconds_count{} positive=True",
        "liteimap_commit_duration_seconds_sum{} positive=True",
        "liteimap_checkpoint_duration_seconds_count{} 0",
        "liteimap_deliveries_total{result=delivered,via=lmtp} 1",
        "liteimap_deliveries_total{result=refused,via=lmtp} 1",
        "liteimap_deliveries_total{result=delivered,via=deliver} 1",
        "liteimap_deliveries_total{result=refused,via=deliver} 1",
        "liteimap_database_jobs_total{} positive=True",
    ] {
        assert!(lines.contains(&want), "no {want:?} in {lines:#?}");
    }
    // Anything but /metrics is 404.
    let o = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(url.replace("/metrics", "/other"))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "404");
}
