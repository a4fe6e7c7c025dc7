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
        if s.name.endswith("_sum") or s.name in ("liteimap_database_bytes", "liteimap_wal_bytes", "liteimap_commits_total", "liteimap_writes_total", "liteimap_database_jobs_total"):
            print(f"{s.name}{{{labels}}} positive={s.value > 0}")
        else:
            print(f"{s.name}{{{labels}}} {s.value:g}")
"#;

#[test]
fn metrics_are_openmetrics_text_a_parser_reads() {
    let dir = TempDir::new("metrics");
    let db = dir.path().join("m.db");
    {
        let store = liteimap::store::Store::open(&db).unwrap();
        store
            .create_user("alice", &liteimap::password::hash(b"wonderland").unwrap())
            .unwrap();
    }
    let mut child = Command::new(env!("CARGO_BIN_EXE_liteimap"))
        .arg("--db")
        .arg(&db)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--metrics-listen",
            "127.0.0.1:0",
        ])
        .args(["--auth-failure-delay-ms", "0"])
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let (mut url, mut port) = (None, None);
    while url.is_none() || port.is_none() {
        let mut l = String::new();
        assert!(err.read_line(&mut l).unwrap() > 0);
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
    c.cmd("LOGIN alice nope");
    c.cmd("LOGIN alice wonderland");
    c.cmd("SELECT INBOX");
    c.cmd("NOOP");
    c.cmd("NOOP");
    // A command's time is recorded once its answer is written: the answer to the next command
    // means the last NOOP is counted.
    c.cmd("CAPABILITY");
    let out = python(PARSE, &[&url]);
    let lines: Vec<&str> = out.lines().collect();
    for want in [
        "liteimap_logins_total{result=failed} 1",
        "liteimap_logins_total{result=ok} 1",
        "liteimap_command_duration_seconds_count{command=LOGIN} 2",
        "liteimap_command_duration_seconds_count{command=SELECT} 1",
        "liteimap_command_duration_seconds_count{command=NOOP} 2",
        "liteimap_command_duration_seconds_sum{command=NOOP} positive=True",
        "liteimap_connections{state=logged_in} 1",
        "liteimap_connections{state=pre_login} 0",
        "liteimap_database_bytes{} positive=True",
        "liteimap_commits_total{} positive=True",
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
    let _ = child.kill();
    let _ = child.wait();
}
