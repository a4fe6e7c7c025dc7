//! Memory of the real server process (the `liteimap` binary, so its RSS is its own): ten clients
//! fetching a 50 MB message together, and a client that asks for everything and never reads.

mod common;
use common::*;

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_liteimap");
const MIB: u64 = 1024 * 1024;

/// A `liteimap serve` process, killed when dropped.
struct Server {
    child: Child,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Server {
    fn start(db: &Path, extra: &[&str]) -> Server {
        let mut child = Command::new(BIN)
            .arg("--db")
            .arg(db)
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(["--max-user-connections-per-ip", "100"])
            .args(extra)
            .env("RUST_LOG", "info")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // The port is in the line that says the server listens; the rest of the log is
        // drained so the server never blocks on a full pipe.
        let mut log = BufReader::new(child.stderr.take().unwrap()).lines();
        let port = log
            .by_ref()
            .map_while(Result::ok)
            .find_map(|l| listening_port(&l))
            .expect("server did not start");
        std::thread::spawn(move || log.for_each(drop));
        Server { child, port }
    }

    /// A `/proc/<pid>/status` field in bytes (VmRSS, VmHWM).
    fn status_kib(&self, field: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
            .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
            .unwrap()
            * 1024
    }

    fn rss(&self) -> u64 {
        self.status_kib("VmRSS")
    }
}

/// A database with alice, and `messages` delivered into her INBOX by `liteimap deliver` (its
/// own process, so the server starts without having seen them).
fn database(dir: &TempDir, messages: &[Vec<u8>]) -> std::path::PathBuf {
    let db = dir.database("mem.db");
    let run = |args: &[&str], input: &[u8]| {
        let mut child = Command::new(BIN)
            .arg("--db")
            .arg(&db)
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{args:?}: {:?}", out);
    };
    run(
        &["user", "add", "alice", "--password-stdin"],
        b"wonderland\n",
    );
    for m in messages {
        run(&["deliver", "--user", "alice"], m);
    }
    db
}

/// A message of exactly `size` bytes: headers, then 78-byte lines.
fn big_message(size: usize, fill: u8) -> Vec<u8> {
    let mut m = message("big", "").to_vec();
    let mut line = vec![fill; 76];
    line.extend_from_slice(b"\r\n");
    while m.len() + line.len() <= size {
        m.extend_from_slice(&line);
    }
    m.resize(size, fill);
    m
}

/// Log in, select INBOX; the stream after the tagged OK of SELECT.
fn logged_in(port: u16) -> BufReader<TcpStream> {
    login_on(TcpStream::connect(("127.0.0.1", port)).unwrap())
}

fn login_on(s: TcpStream) -> BufReader<TcpStream> {
    s.set_read_timeout(Some(Duration::from_secs(120))).unwrap();
    let mut r = BufReader::new(s);
    let mut line = String::new();
    r.read_line(&mut line).unwrap();
    for (tag, cmd) in [("l", "LOGIN alice wonderland"), ("s", "SELECT INBOX")] {
        r.get_mut()
            .write_all(format!("{tag} {cmd}\r\n").as_bytes())
            .unwrap();
        loop {
            line.clear();
            r.read_line(&mut line).unwrap();
            assert!(!line.is_empty(), "closed during {cmd}");
            if line.starts_with(&format!("{tag} ")) {
                assert!(line.starts_with(&format!("{tag} OK")), "{line}");
                break;
            }
        }
    }
    r
}

#[test]
fn ten_clients_fetching_a_50_mb_message_stay_under_100_mb_above_idle() {
    const SIZE: usize = 50_000_000;
    let dir = TempDir::new("mem50");
    let msg = big_message(SIZE, b'z');
    let db = database(&dir, &[msg]);
    let srv = Server::start(&db, &[]);
    let mut clients: Vec<BufReader<TcpStream>> = (0..10).map(|_| logged_in(srv.port)).collect();
    std::thread::sleep(Duration::from_millis(300));
    let idle = srv.rss();

    // Sample the server's RSS while the clients read.
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let pid = srv.child.id();
    let sampler = {
        let stop = stop.clone();
        std::thread::spawn(move || {
            let mut peak = 0u64;
            while !stop.load(std::sync::atomic::Ordering::SeqCst) {
                if let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
                    if let Some(kib) = s
                        .lines()
                        .find_map(|l| l.strip_prefix("VmRSS:"))
                        .and_then(|v| v.split_whitespace().next()?.parse::<u64>().ok())
                    {
                        peak = peak.max(kib * 1024);
                    }
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            peak
        })
    };
    let started = Instant::now();
    let readers: Vec<_> = clients
        .drain(..)
        .map(|mut r| {
            std::thread::spawn(move || {
                r.get_mut().write_all(b"f FETCH 1 BODY.PEEK[]\r\n").unwrap();
                let mut line = String::new();
                r.read_line(&mut line).unwrap();
                assert_eq!(line, format!("* 1 FETCH (BODY[] {{{SIZE}}}\r\n"));
                let mut left = SIZE;
                let mut buf = vec![0; 256 * 1024];
                let mut tail = Vec::new();
                while left > 0 {
                    let n = r.read(&mut buf[..left.min(256 * 1024)]).unwrap();
                    assert!(n > 0, "closed with {left} bytes to go");
                    left -= n;
                    if left < 100 {
                        tail.extend_from_slice(&buf[..n]);
                    }
                }
                assert!(tail.ends_with(b"zzz"));
                let mut rest = String::new();
                r.read_line(&mut rest).unwrap();
                assert_eq!(rest, ")\r\n");
                rest.clear();
                r.read_line(&mut rest).unwrap();
                assert!(rest.starts_with("f OK"), "{rest}");
            })
        })
        .collect();
    for t in readers {
        t.join().unwrap();
    }
    let elapsed = started.elapsed();
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let peak = sampler.join().unwrap().max(srv.rss());
    let hwm = srv.status_kib("VmHWM");
    eprintln!(
        "10 × 50 MB FETCH in {elapsed:?}: idle RSS {} MiB, peak RSS {} MiB (+{} MiB), VmHWM {} MiB",
        idle / MIB,
        peak / MIB,
        peak.saturating_sub(idle) / MIB,
        hwm / MIB
    );
    assert!(
        peak < idle + 100 * MIB,
        "peak {} MiB over idle {} MiB",
        peak / MIB,
        idle / MIB
    );
}

#[test]
fn a_client_that_never_reads_is_dropped_and_its_memory_returned() {
    let dir = TempDir::new("memnoread");
    let msgs: Vec<Vec<u8>> = (0..4).map(|i| big_message(8_000_000, b'a' + i)).collect();
    let db = database(&dir, &msgs);
    let srv = Server::start(&db, &["--write-timeout", "1"]);
    let mut c = login_on(small_buffer_stream(srv.port));
    let mut other = logged_in(srv.port);
    let idle = srv.rss();
    c.get_mut()
        .write_all(b"x FETCH 1:* BODY.PEEK[]\r\n")
        .unwrap();
    let mut peak = 0;
    for _ in 0..60 {
        peak = peak.max(srv.rss());
        std::thread::sleep(Duration::from_millis(100));
    }
    // Dropped by now: what was sent, then the end (not a read timeout).
    c.get_ref()
        .set_read_timeout(Some(Duration::from_secs(10)))
        .unwrap();
    let mut got = 0usize;
    let mut buf = vec![0; 256 * 1024];
    let end = loop {
        match c.read(&mut buf) {
            Ok(0) => break None,
            Ok(n) => got += n,
            Err(e) => break Some(e.kind()),
        }
    };
    assert!(
        matches!(end, None | Some(std::io::ErrorKind::ConnectionReset)),
        "{end:?} after {got} bytes"
    );
    assert!(got < 32_000_000, "everything arrived: {got}");
    let after = srv.rss();
    eprintln!(
        "never-reading client: idle RSS {} MiB, peak {} MiB, after the drop {} MiB, {} bytes sent",
        idle / MIB,
        peak / MIB,
        after / MIB,
        got
    );
    assert!(peak < idle + 20 * MIB, "peak {peak} idle {idle}");
    // The server still serves others.
    other.get_mut().write_all(b"n NOOP\r\n").unwrap();
    let mut line = String::new();
    other.read_line(&mut line).unwrap();
    assert!(line.starts_with("n OK"), "{line}");
}
