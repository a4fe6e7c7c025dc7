//! Benchmarks that print numbers (they assert nothing). Each starts the release binary as its
//! own process on a fresh database on 127.0.0.1 and talks IMAP to it.
//!
//!   cargo bench --bench imap                 # all
//!   cargo bench --bench imap -- fetch        # FETCH/SEARCH on 10,000 messages
//!   cargo bench --bench imap -- idle [N]     # N idle connections (default 1000)
//!   cargo bench --bench imap -- import [N]   # `liteimap import` of an N-message mbox (100,000)
//!   cargo bench --bench imap -- lmtp [SECS]  # 4 LMTP clients delivering ~4 KB messages (10 s)
//!   cargo bench --bench imap -- mailbox      # LIST-STATUS over 200 folders, MOVE of 5,000
//!   cargo bench --bench imap -- prelogin [N] # N connections that never log in, each holding
//!                                            # the largest command it may (1000)
//!   cargo bench --bench imap -- guess [SECS] # 100 connections from one address guessing
//!                                            # alice's password in parallel (30 s)
//!   cargo bench --bench imap -- partbomb [N] # N sessions APPEND, then FETCH BODYSTRUCTURE of,
//!                                            # a 45 MB message of 4.5 M MIME parts (8)
//!   cargo bench --bench imap -- sort [N]     # SORT/THREAD on N threaded messages (100,000)
//!                                            # (LITEIMAP_BENCH_DB=PATH keeps the folder)
//!   cargo bench --bench imap -- resync [N]   # QRESYNC SELECT vs SELECT + FETCH 1:* (UID FLAGS)
//!                                            # after 10 flag changes and 5 expunges (100,000)

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use liteimap::store::Store;

const USER: &str = "bench";
const PASS: &str = "bench";

struct Server {
    child: Child,
    port: u16,
    dir: PathBuf,
}

impl Server {
    fn start(dir: &Path, db: &Path, extra: &[&str]) -> Server {
        let port = free_port();
        let listen = format!("127.0.0.1:{port}");
        let mut args = vec!["--db", db.to_str().unwrap(), "serve", "--listen", &listen];
        args.extend_from_slice(extra);
        let child = Command::new(env!("CARGO_BIN_EXE_liteimap"))
            .args(&args)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start liteimap");
        for _ in 0..200 {
            if TcpStream::connect(("127.0.0.1", port)).is_ok() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        Server {
            child,
            port,
            dir: dir.to_path_buf(),
        }
    }

    /// Resident set size of the server process, in KiB.
    fn rss_kib(&self) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("liteimap-bench-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

struct Client {
    r: BufReader<TcpStream>,
    w: TcpStream,
    n: u64,
}

impl Client {
    fn login(port: u16) -> Client {
        let s = TcpStream::connect(("127.0.0.1", port)).unwrap();
        let mut c = Client {
            r: BufReader::new(s.try_clone().unwrap()),
            w: s,
            n: 0,
        };
        let mut greeting = String::new();
        c.r.read_line(&mut greeting).unwrap();
        c.cmd(&format!("LOGIN {USER} {PASS}"));
        c
    }

    /// Run a command; returns (bytes received, lines) after its tagged response.
    fn cmd(&mut self, command: &str) -> (usize, usize) {
        self.n += 1;
        let tag = format!("b{}", self.n);
        self.w
            .write_all(format!("{tag} {command}\r\n").as_bytes())
            .unwrap();
        let (mut bytes, mut lines) = (0, 0);
        let mut line = Vec::new();
        loop {
            line.clear();
            let n = self.r.read_until(b'\n', &mut line).unwrap();
            assert!(n > 0, "server closed the connection");
            bytes += n;
            lines += 1;
            if let Some(len) = literal(&line) {
                let mut buf = vec![0; len];
                self.r.read_exact(&mut buf).unwrap();
                bytes += len;
                continue;
            }
            if line.starts_with(tag.as_bytes()) {
                assert!(
                    line[tag.len()..].starts_with(b" OK"),
                    "{command}: {}",
                    String::from_utf8_lossy(&line)
                );
                return (bytes, lines);
            }
        }
    }
}

fn literal(line: &[u8]) -> Option<usize> {
    let l = line.strip_suffix(b"\r\n")?.strip_suffix(b"}")?;
    let open = l.iter().rposition(|b| *b == b'{')?;
    std::str::from_utf8(&l[open + 1..]).ok()?.parse().ok()
}

/// Fixture messages from testdata/, made distinct so none are shared.
fn corpus() -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut paths: Vec<_> = std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/testdata"))
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.extension().is_some_and(|e| e == "eml"))
        .filter(|p| !p.to_string_lossy().contains("huge-line"))
        .collect();
    paths.sort();
    for p in paths {
        let raw = std::fs::read(&p).unwrap();
        out.push(liteimap::mime::normalize_crlf(&raw).into_owned());
    }
    out
}

fn populate(db: &Path, count: usize) -> Duration {
    let store = Store::open(db).unwrap();
    let hash = liteimap::password::hash(PASS.as_bytes()).unwrap();
    let user = store.create_user(USER, &hash).unwrap();
    let inbox = store.mailbox(user, "INBOX").unwrap().unwrap().id;
    let corpus = corpus();
    let start = Instant::now();
    let mut batch = Vec::new();
    for i in 0..count {
        let base = &corpus[i % corpus.len()];
        let mut raw = format!(
            "X-Bench-Id: {i}\r\nX-Keyword: {}\r\n",
            if i % 100 == 0 { "needle" } else { "hay" }
        )
        .into_bytes();
        raw.extend_from_slice(base);
        if i % 97 == 0 {
            raw.extend_from_slice(b"\r\nzebracorn\r\n");
        }
        let date = liteimap::message::internal_date(1_600_000_000 + i as i64 * 3600, 0);
        batch.push(liteimap::message::prepare(raw, vec![], Some(date)));
        if batch.len() == 500 {
            store.append(inbox, &batch).unwrap();
            batch.clear();
        }
    }
    if !batch.is_empty() {
        store.append(inbox, &batch).unwrap();
    }
    start.elapsed()
}

fn time<T>(f: impl FnOnce() -> T) -> (Duration, T) {
    let s = Instant::now();
    let v = f();
    (s.elapsed(), v)
}

fn ms(d: Duration) -> String {
    format!("{:.1} ms", d.as_secs_f64() * 1000.0)
}

fn bench_fetch() {
    let count = 10_000;
    let dir = temp_dir("fetch");
    let db = dir.join("bench.db");
    let fill = populate(&db, count);
    println!("## FETCH and SEARCH on {count} messages (one connection, release build)");
    println!(
        "store: {count} messages parsed and stored in {} ({:.0} msg/s)",
        ms(fill),
        count as f64 / fill.as_secs_f64()
    );
    let srv = Server::start(&dir, &db, &[]);
    let mut c = Client::login(srv.port);
    let rows: Vec<(&str, String)> = vec![
        ("SELECT INBOX", "SELECT INBOX".into()),
        ("FETCH 1:* (FLAGS UID)", "FETCH 1:* (FLAGS UID)".into()),
        (
            "FETCH 1:* (ENVELOPE BODYSTRUCTURE)",
            "FETCH 1:* (ENVELOPE BODYSTRUCTURE)".into(),
        ),
        ("FETCH 1:* BODY.PEEK[]", "FETCH 1:* BODY.PEEK[]".into()),
        ("SEARCH FROM example", "SEARCH FROM example".into()),
        ("SEARCH BODY zebracorn", "SEARCH BODY zebracorn".into()),
        ("SEARCH SINCE 1-Jan-2021", "SEARCH SINCE 1-Jan-2021".into()),
        (
            "SEARCH HEADER X-Keyword needle",
            "SEARCH HEADER X-Keyword needle".into(),
        ),
        ("UID SEARCH SEEN", "UID SEARCH SEEN".into()),
    ];
    println!("| command | time | response |");
    println!("|---|---|---|");
    for (name, cmd) in rows {
        let (d, (bytes, lines)) = time(|| c.cmd(&cmd));
        println!(
            "| `{name}` | {} | {:.1} MB, {lines} lines |",
            ms(d),
            bytes as f64 / 1e6
        );
    }
    println!("server RSS after the run: {} MiB", srv.rss_kib() / 1024);
}

/// LIST-STATUS against one STATUS per folder, and a MOVE of half of a 10,000-message INBOX.
fn bench_mailbox() {
    let count = 10_000;
    let folders = 200;
    let dir = temp_dir("mailbox");
    let db = dir.join("bench.db");
    populate(&db, count);
    {
        let store = Store::open(&db).unwrap();
        let user = store.find_user(USER).unwrap().unwrap().id;
        for i in 0..folders {
            store
                .create_mailbox(user, &format!("Projects/p{i:03}"))
                .unwrap();
        }
    }
    println!(
        "## Folder commands: {folders} extra folders, {count} messages in INBOX (release build)"
    );
    let srv = Server::start(&dir, &db, &[]);
    let mut c = Client::login(srv.port);
    let (d, (_, lines)) = time(|| c.cmd("LIST \"\" * RETURN (STATUS (MESSAGES UNSEEN SIZE))"));
    println!("| command | time |");
    println!("|---|---|");
    println!(
        "| `LIST \"\" * RETURN (STATUS (MESSAGES UNSEEN SIZE))` ({lines} lines) | {} |",
        ms(d)
    );
    let names: Vec<String> = (0..folders)
        .map(|i| format!("Projects/p{i:03}"))
        .chain(
            ["INBOX", "Drafts", "Sent", "Trash", "Junk", "Archive"]
                .iter()
                .map(|s| s.to_string()),
        )
        .collect();
    let (d, _) = time(|| {
        c.cmd("LIST \"\" *");
        for n in &names {
            c.cmd(&format!("STATUS {n} (MESSAGES UNSEEN SIZE)"));
        }
    });
    println!(
        "| `LIST \"\" *`, then one `STATUS` per folder ({} round trips) | {} |",
        names.len() + 1,
        ms(d)
    );
    c.cmd("SELECT INBOX");
    let half = count / 2;
    let (d, (_, lines)) = time(|| c.cmd(&format!("UID MOVE 1:{half} Archive")));
    println!(
        "| `UID MOVE 1:{half} Archive` ({lines} response lines) | {} |",
        ms(d)
    );
    let (d, _) = time(|| c.cmd("MOVE 1:* Trash"));
    println!("| `MOVE 1:* Trash` (the other {half}) | {} |", ms(d));
}

fn bench_idle(n: usize) {
    let dir = temp_dir("idle");
    let db = dir.join("bench.db");
    populate(&db, 10);
    let limit = (n + 100).to_string();
    // All clients come from 127.0.0.1 as one user: lift the per-address limits.
    let srv = Server::start(
        &dir,
        &db,
        &[
            "--max-connections",
            &limit,
            "--max-connections-per-ip",
            &limit,
            "--max-user-connections-per-ip",
            &limit,
        ],
    );
    std::thread::sleep(Duration::from_millis(200));
    let base = srv.rss_kib();
    println!("## {n} connections idling on one mailbox");
    let port = srv.port;
    let (setup, idlers) = time(|| {
        async_std::task::block_on(async move {
            use async_std::io::prelude::*;
            use async_std::io::BufReader as ABufReader;
            use async_std::net::TcpStream as ATcp;
            let mut tasks = Vec::new();
            for i in 0..n {
                tasks.push(async_std::task::spawn(async move {
                    let s = ATcp::connect(("127.0.0.1", port)).await.unwrap();
                    let mut r = ABufReader::new(s.clone());
                    let mut w = s;
                    let mut line = String::new();
                    r.read_line(&mut line).await.unwrap();
                    w.write_all(
                        format!("a LOGIN {USER} {PASS}\r\nb SELECT INBOX\r\nc IDLE\r\n").as_bytes(),
                    )
                    .await
                    .unwrap();
                    loop {
                        line.clear();
                        r.read_line(&mut line).await.unwrap();
                        if line.starts_with('+') {
                            break;
                        }
                    }
                    let _ = i;
                    (r, w)
                }));
            }
            let mut out = Vec::new();
            for t in tasks {
                out.push(t.await);
            }
            out
        })
    });
    std::thread::sleep(Duration::from_millis(500));
    let idle = srv.rss_kib();
    println!(
        "logged in, selected and idling: {} (server RSS {} MiB before, {} MiB after: {:.1} KiB per connection)",
        ms(setup),
        base / 1024,
        idle / 1024,
        (idle.saturating_sub(base)) as f64 / n as f64
    );
    // One APPEND; time until every idler has read its EXISTS.
    let mut appender = Client::login(port);
    let msg = b"Subject: wake up\r\n\r\nhello\r\n";
    let waits = async_std::task::block_on(async move {
        use async_std::io::prelude::*;
        let start = Instant::now();
        let mut tasks = Vec::new();
        for (mut r, w) in idlers {
            tasks.push(async_std::task::spawn(async move {
                let mut line = String::new();
                loop {
                    line.clear();
                    r.read_line(&mut line).await.unwrap();
                    if line.ends_with("EXISTS\r\n") {
                        break;
                    }
                }
                let d = start.elapsed();
                drop(w);
                d
            }));
        }
        let ok = std::thread::spawn(move || {
            appender
                .w
                .write_all(format!("z APPEND INBOX {{{}+}}\r\n", msg.len()).as_bytes())
                .unwrap();
            appender.w.write_all(msg).unwrap();
            appender.w.write_all(b"\r\n").unwrap();
            let mut line = String::new();
            loop {
                line.clear();
                appender.r.read_line(&mut line).unwrap();
                if line.starts_with("z ") {
                    return start.elapsed();
                }
            }
        });
        let mut all = Vec::new();
        for t in tasks {
            all.push(t.await);
        }
        (ok.join().unwrap(), all)
    });
    let (ok, mut waits) = waits;
    waits.sort();
    println!(
        "one APPEND: its OK after {}; every idler's EXISTS: median {}, last {} (after the send)",
        ms(ok),
        ms(waits[waits.len() / 2]),
        ms(waits[waits.len() - 1])
    );
}

/// A tiny deterministic generator (xorshift64*): the corpus is the same on every run.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
}

/// Write an mbox of `n` distinct messages of 2 KB–200 KB (sizes log-uniform, so most are
/// small as in real mail). Returns its size in bytes.
fn write_mbox(path: &Path, n: usize) -> u64 {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    // 1 MiB of 76-column text lines to cut message bodies from.
    let mut text = Vec::with_capacity(1 << 20);
    let alphabet = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 ";
    while text.len() < (1 << 20) {
        for _ in 0..76 {
            text.push(alphabet[(rng.next() % alphabet.len() as u64) as usize]);
        }
        text.extend_from_slice(b"\r\n");
    }
    let mut out = std::io::BufWriter::with_capacity(1 << 20, std::fs::File::create(path).unwrap());
    let mut total = 0u64;
    for i in 0..n {
        let size = (2_000.0 * 100f64.powf((rng.next() % 10_000) as f64 / 10_000.0)) as usize;
        let t = 1_500_000_000 + i as i64 * 600;
        let date = chrono::DateTime::from_timestamp(t, 0).unwrap();
        let head = format!(
            "From bench@example.org {}\r\nFrom: Bench <bench@example.org>\r\nTo: you@example.org\r\nSubject: message {i}\r\nDate: {}\r\nMessage-ID: <{i}@bench.example>\r\n\r\n",
            date.format("%a %b %e %H:%M:%S %Y"),
            date.to_rfc2822(),
        );
        out.write_all(head.as_bytes()).unwrap();
        let body = size.saturating_sub(head.len());
        let start = (rng.next() as usize % ((1 << 19) / 78)) * 78;
        let body = &text[start..start + body.min(text.len() - start - 2)];
        // Keep whole lines.
        let end = body.len() - body.len() % 78;
        out.write_all(&body[..end]).unwrap();
        out.write_all(b"\r\n").unwrap();
        total += (head.len() + end + 2) as u64;
    }
    out.flush().unwrap();
    total
}

/// VmHWM (peak resident set) of a live process, in KiB.
fn peak_kib(pid: u32) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// One import of an n-message mbox into a fresh database: (seconds, MB of mbox, peak KiB).
fn import_once(n: usize) -> (f64, f64, u64) {
    let dir = temp_dir(&format!("import-{n}"));
    let mbox = dir.join("bench.mbox");
    let db = dir.join("bench.db");
    let (wrote, bytes) = time(|| write_mbox(&mbox, n));
    println!(
        "  wrote {n} messages, {:.0} MB of mbox, in {:.1} s",
        bytes as f64 / 1e6,
        wrote.as_secs_f64()
    );
    {
        let store = Store::open(&db).unwrap();
        let hash = liteimap::password::hash(PASS.as_bytes()).unwrap();
        store.create_user(USER, &hash).unwrap();
    }
    let start = Instant::now();
    let mut child = Command::new(env!("CARGO_BIN_EXE_liteimap"))
        .arg("--db")
        .arg(&db)
        .args(["import", "--user", USER])
        .arg(&mbox)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("start liteimap import");
    let pid = child.id();
    let mut peak = 0;
    // VmHWM only grows: the last reading before the process exits is its peak (to within the
    // 20 ms between readings).
    while child.try_wait().unwrap().is_none() {
        if let Some(p) = peak_kib(pid) {
            peak = peak.max(p);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let secs = start.elapsed().as_secs_f64();
    let mut err = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut err)
        .unwrap();
    let summary = err.lines().find(|l| l.starts_with("import ")).unwrap_or("");
    println!("  {summary}");
    assert!(summary.contains(&format!("{n} imported")), "{err}");
    let db_mb = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0) as f64 / 1e6;
    println!("  database {db_mb:.0} MB");
    let _ = std::fs::remove_dir_all(&dir);
    (secs, bytes as f64 / 1e6, peak)
}

fn bench_import(n: usize) {
    println!("## liteimap import: generated mbox of 2 KB-200 KB messages into a fresh database");
    println!("| messages | MB | time | messages/s | MB/s | peak RSS (VmHWM) |");
    println!("|---|---|---|---|---|---|");
    let mut rows = Vec::new();
    for count in [n / 10, n] {
        let (secs, mb, peak) = import_once(count.max(1));
        rows.push(format!(
            "| {count} | {mb:.0} | {secs:.1} s | {:.0} | {:.1} | {:.0} MiB |",
            count as f64 / secs,
            mb / secs,
            peak as f64 / 1024.0
        ));
    }
    for r in rows {
        println!("{r}");
    }
}

/// A ~4 KB message, different for every delivery.
fn lmtp_message(client: usize, n: usize) -> String {
    let mut m = format!(
        "From: Sender <sender@example.net>\r\nTo: {USER}@example.org\r\nSubject: bench {client}-{n}\r\nDate: Mon, 23 Nov 2026 10:00:00 +0000\r\nMessage-ID: <{client}.{n}@example.net>\r\nContent-Type: text/plain; charset=utf-8\r\n\r\n"
    );
    let mut line = 0;
    while m.len() < 4000 {
        m.push_str(&format!(
            "line {line} of message {n} from client {client}: the quick brown fox jumps over the lazy dog\r\n"
        ));
        line += 1;
    }
    m
}

fn bench_lmtp(secs: u64) {
    const CLIENTS: usize = 4;
    let dir = temp_dir("lmtp");
    let db = dir.join("bench.db");
    populate(&db, 0);
    let lmtp_port = free_port();
    let lmtp_addr = format!("127.0.0.1:{lmtp_port}");
    let srv = Server::start(&dir, &db, &["--lmtp-listen", &lmtp_addr]);
    for _ in 0..200 {
        if TcpStream::connect(("127.0.0.1", lmtp_port)).is_ok() {
            break;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    println!("## LMTP: {CLIENTS} clients delivering ~4 KB messages for {secs} s (release build)");
    let deadline = Instant::now() + Duration::from_secs(secs);
    let start = Instant::now();
    let threads: Vec<_> = (0..CLIENTS)
        .map(|client| {
            std::thread::spawn(move || {
                let s = TcpStream::connect(("127.0.0.1", lmtp_port)).unwrap();
                s.set_nodelay(true).unwrap();
                let mut r = BufReader::new(s.try_clone().unwrap());
                let mut w = s;
                let mut line = String::new();
                let mut reply = |r: &mut BufReader<TcpStream>| {
                    line.clear();
                    r.read_line(&mut line).unwrap();
                    line.clone()
                };
                reply(&mut r);
                w.write_all(b"LHLO bench.test\r\n").unwrap();
                while reply(&mut r).starts_with("250-") {}
                let mut latencies = Vec::new();
                let mut n = 0;
                while Instant::now() < deadline {
                    let msg = lmtp_message(client, n);
                    let t = Instant::now();
                    // MAIL, RCPT and DATA pipelined in one write, as Postfix does.
                    w.write_all(
                        format!(
                            "MAIL FROM:<sender@example.net> SIZE={}\r\nRCPT TO:<{USER}@example.org>\r\nDATA\r\n",
                            msg.len()
                        )
                        .as_bytes(),
                    )
                    .unwrap();
                    for want in ["250", "250", "354"] {
                        let got = reply(&mut r);
                        assert!(got.starts_with(want), "{got}");
                    }
                    w.write_all(msg.as_bytes()).unwrap();
                    w.write_all(b".\r\n").unwrap();
                    let got = reply(&mut r);
                    assert!(got.starts_with("250 "), "{got}");
                    latencies.push(t.elapsed());
                    n += 1;
                }
                w.write_all(b"QUIT\r\n").unwrap();
                latencies
            })
        })
        .collect();
    let mut all: Vec<Duration> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let elapsed = start.elapsed();
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p) as usize).min(all.len() - 1)];
    println!(
        "{} deliveries in {:.1} s: {:.0} deliveries/s; latency (MAIL to final 250) p50 {}, p99 {}, max {}",
        all.len(),
        elapsed.as_secs_f64(),
        all.len() as f64 / elapsed.as_secs_f64(),
        ms(pct(0.5)),
        ms(pct(0.99)),
        ms(all[all.len() - 1])
    );
    let store = Store::open(&db).unwrap();
    let user = store.find_user(USER).unwrap().unwrap();
    let inbox = store.mailbox(user.id, "INBOX").unwrap().unwrap();
    println!(
        "messages in INBOX afterwards: {}; server RSS {} MiB",
        store.counts(inbox.id).unwrap().messages,
        srv.rss_kib() / 1024
    );
}

/// A 45 MB message of 4.5 million 10-byte MIME parts, `id` making each copy distinct.
fn part_bomb(id: usize) -> Vec<u8> {
    let parts = 4_500_000;
    let mut raw =
        format!("Subject: part bomb {id}\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n")
            .into_bytes();
    raw.reserve(parts * 10 + 16);
    for _ in 0..parts {
        raw.extend_from_slice(b"--b\r\nabc\r\n");
    }
    raw.extend_from_slice(b"--b--\r\n");
    raw
}

/// Sessions APPEND a MIME part bomb each, all at once, then FETCH its BODYSTRUCTURE, all at
/// once; the server's resident set is sampled throughout.
fn bench_part_bomb(sessions: usize) {
    let dir = temp_dir("partbomb");
    let db = dir.join("bench.db");
    populate(&db, 1);
    let srv = Server::start(&dir, &db, &["--max-user-connections-per-ip", "100"]);
    let port = srv.port;
    std::thread::sleep(Duration::from_millis(300));
    let idle = srv.rss_kib();
    println!(
        "## {sessions} sessions: APPEND, then FETCH BODYSTRUCTURE of a 45 MB / 4.5 M-part message"
    );
    let messages: Vec<Vec<u8>> = (0..sessions).map(part_bomb).collect();
    let size = messages[0].len();
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let peak = std::sync::Arc::new(std::sync::atomic::AtomicU64::new(0));
    let pid = srv.child.id();
    let sampler = {
        let (stop, peak) = (stop.clone(), peak.clone());
        std::thread::spawn(move || {
            use std::sync::atomic::Ordering;
            while !stop.load(Ordering::SeqCst) {
                let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
                    .unwrap_or_default()
                    .lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
                    .unwrap_or(0);
                peak.fetch_max(rss, Ordering::SeqCst);
                std::thread::sleep(Duration::from_millis(20));
            }
        })
    };
    let phase = |name: &str, f: &(dyn Fn(&mut Client, usize, &[u8]) + Sync)| {
        peak.store(0, std::sync::atomic::Ordering::SeqCst);
        let (d, _) = time(|| {
            std::thread::scope(|scope| {
                for (i, m) in messages.iter().enumerate() {
                    scope.spawn(move || {
                        let mut c = Client::login(port);
                        f(&mut c, i, m);
                    });
                }
            })
        });
        let p = peak.load(std::sync::atomic::Ordering::SeqCst);
        println!(
            "| {name} | {} | peak RSS {} MiB (+{} MiB over idle) |",
            ms(d),
            p / 1024,
            p.saturating_sub(idle) / 1024
        );
    };
    println!(
        "message: {:.1} MB; server RSS idle {} MiB",
        size as f64 / 1e6,
        idle / 1024
    );
    println!("| phase | time | server memory |");
    println!("|---|---|---|");
    phase("APPEND", &|c, _, m| {
        c.n += 1;
        let tag = format!("b{}", c.n);
        c.w.write_all(format!("{tag} APPEND INBOX {{{}}}\r\n", m.len()).as_bytes())
            .unwrap();
        let mut line = String::new();
        c.r.read_line(&mut line).unwrap();
        assert!(line.starts_with('+'), "APPEND refused: {line}");
        c.w.write_all(m).unwrap();
        c.w.write_all(b"\r\n").unwrap();
        loop {
            line.clear();
            c.r.read_line(&mut line).unwrap();
            if line.starts_with(&tag) {
                assert!(line.contains("OK"), "APPEND: {line}");
                break;
            }
        }
    });
    // Each session its own message (the first in INBOX is populate's).
    phase("FETCH BODYSTRUCTURE", &|c, i, _| {
        c.cmd("SELECT INBOX");
        c.cmd(&format!("FETCH {} BODYSTRUCTURE", i + 2));
    });
    stop.store(true, std::sync::atomic::Ordering::SeqCst);
    let _ = sampler.join();
    let db_size = std::fs::metadata(&db).map(|m| m.len()).unwrap_or(0)
        + std::fs::metadata(dir.join("bench.db-wal"))
            .map(|m| m.len())
            .unwrap_or(0);
    println!(
        "database + WAL afterwards: {:.1} MB for {:.1} MB of mail",
        db_size as f64 / 1e6,
        (size * sessions) as f64 / 1e6
    );
}

/// Connections that never log in, each sending LOGIN with 8 KiB literals until refused and then
/// holding the half-sent command open: the server's RSS before and after.
fn bench_prelogin(n: usize) {
    let dir = temp_dir("prelogin");
    let db = dir.join("bench.db");
    populate(&db, 1);
    let limit = (n + 100).to_string();
    let srv = Server::start(
        &dir,
        &db,
        &[
            "--max-connections",
            &limit,
            "--max-connections-per-ip",
            &limit,
        ],
    );
    std::thread::sleep(Duration::from_millis(300));
    let idle = srv.rss_kib();
    println!("## {n} connections that never log in, each with LOGIN literals up to its limit");
    let chunk = vec![b'u'; 8000];
    let mut held = Vec::new();
    let (mut accepted, mut refused) = (0usize, 0usize);
    let (d, _) = time(|| {
        for _ in 0..n {
            let s = TcpStream::connect(("127.0.0.1", srv.port)).unwrap();
            s.set_nodelay(true).unwrap();
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut w = s;
            let mut line = String::new();
            r.read_line(&mut line).unwrap();
            w.write_all(b"a LOGIN {8000}\r\n").unwrap();
            // Literals until one is refused (at most 1000, the old per-command limit); the
            // last one accepted is left half sent, so the command stays open.
            for i in 0..1000 {
                line.clear();
                if r.read_line(&mut line).unwrap_or(0) == 0 || !line.starts_with('+') {
                    break;
                }
                if i == 7 {
                    w.write_all(&chunk[..4000]).unwrap();
                    accepted += 4000;
                    line.clear();
                    break;
                }
                accepted += chunk.len();
                w.write_all(&chunk).unwrap();
                w.write_all(b" {8000}\r\n").unwrap();
            }
            if line.contains("NO") {
                refused += 1;
            }
            held.push((r, w));
        }
    });
    std::thread::sleep(Duration::from_millis(500));
    let after = srv.rss_kib();
    println!(
        "{} literal bytes accepted from {n} connections in {}, {refused} commands refused; \
         server RSS {} MiB idle, {} MiB with them open (+{} MiB)",
        accepted,
        ms(d),
        idle / 1024,
        after / 1024,
        after.saturating_sub(idle) / 1024
    );
}

/// 100 connections from 127.0.0.1 guessing a password in parallel for `secs` seconds (a
/// connection that gets BYE after its failures reconnects): how many guesses were answered.
fn bench_guess(secs: u64) {
    let dir = temp_dir("guess");
    let db = dir.join("bench.db");
    populate(&db, 1);
    let srv = Server::start(&dir, &db, &["--max-connections-per-ip", "300"]);
    let port = srv.port;
    std::thread::sleep(Duration::from_millis(300));
    println!("## 100 connections from one address guessing in parallel for {secs} s");
    let end = Instant::now() + Duration::from_secs(secs);
    let answered = std::sync::atomic::AtomicU64::new(0);
    std::thread::scope(|scope| {
        for t in 0..100 {
            let answered = &answered;
            scope.spawn(move || {
                let mut n = 0u64;
                while Instant::now() < end {
                    let Ok(s) = TcpStream::connect(("127.0.0.1", port)) else {
                        return;
                    };
                    let _ = s.set_read_timeout(Some(Duration::from_secs(1)));
                    let mut r = BufReader::new(s.try_clone().unwrap());
                    let mut w = s;
                    let mut line = String::new();
                    let _ = r.read_line(&mut line);
                    // Up to this connection's failure limit, then a new connection.
                    for _ in 0..5 {
                        n += 1;
                        if w.write_all(format!("g{n} LOGIN {USER} wrong{t}x{n}\r\n").as_bytes())
                            .is_err()
                        {
                            break;
                        }
                        line.clear();
                        // Wait for the answer, or give up at the end of the run.
                        let got = loop {
                            match r.read_line(&mut line) {
                                Ok(0) => break false,
                                Ok(_) => break true,
                                Err(_) if Instant::now() < end => continue,
                                Err(_) => break false,
                            }
                        };
                        if !got {
                            return;
                        }
                        answered.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                        if line.starts_with("* BYE") || Instant::now() >= end {
                            break;
                        }
                    }
                }
            });
        }
    });
    let n = answered.load(std::sync::atomic::Ordering::SeqCst);
    println!(
        "{n} guesses answered in {secs} s: {:.2} guesses/s",
        n as f64 / secs as f64
    );
}

/// N messages in threads of up to 8 (each reply references its thread's earlier messages),
/// with varied subjects, senders and dates, for SORT and THREAD.
fn populate_threads(db: &Path, count: usize) -> Duration {
    let store = Store::open(db).unwrap();
    let hash = liteimap::password::hash(PASS.as_bytes()).unwrap();
    let user = store.create_user(USER, &hash).unwrap();
    let inbox = store.mailbox(user, "INBOX").unwrap().unwrap().id;
    let start = Instant::now();
    let mut batch = Vec::new();
    for i in 0..count {
        let thread = i / 8;
        let pos = i % 8;
        let refs: Vec<String> = (0..pos)
            .map(|p| format!("<{}@bench>", thread * 8 + p))
            .collect();
        let subject = if pos == 0 {
            format!(
                "Topic {} about {}",
                thread % 5000,
                ["cats", "dogs", "Ärger", "zebras"][thread % 4]
            )
        } else {
            format!(
                "Re: [list] Topic {} about {}",
                thread % 5000,
                ["cats", "dogs", "Ärger", "zebras"][thread % 4]
            )
        };
        let sent = 1_600_000_000 + ((i * 7919) % count) as i64 * 60;
        let date = chrono::DateTime::from_timestamp(sent, 0)
            .unwrap()
            .to_rfc2822();
        let mut raw = format!(
            "From: User {u} <user{u}@example.org>\r\nTo: list{l}@example.org\r\nSubject: {subject}\r\nDate: {date}\r\nMessage-ID: <{i}@bench>\r\n",
            u = (i * 31) % 997,
            l = i % 13
        );
        if !refs.is_empty() {
            raw.push_str(&format!("References: {}\r\n", refs.join(" ")));
        }
        raw.push_str(&format!("\r\nmessage {i}\r\n{}\r\n", "x".repeat(i % 500)));
        let internal = liteimap::message::internal_date(1_600_000_000 + i as i64 * 60, 0);
        batch.push(liteimap::message::prepare(
            raw.into_bytes(),
            vec![],
            Some(internal),
        ));
        if batch.len() == 1000 {
            store.append(inbox, &batch).unwrap();
            batch.clear();
        }
    }
    if !batch.is_empty() {
        store.append(inbox, &batch).unwrap();
    }
    start.elapsed()
}

/// With `LITEIMAP_BENCH_DB=PATH` the folder is kept in PATH (filled when it does not exist
/// yet, reused otherwise), so repeated runs and profilers skip the filling.
fn bench_sort(count: usize) {
    let dir = temp_dir("sort");
    let kept = std::env::var_os("LITEIMAP_BENCH_DB").map(PathBuf::from);
    let db = kept.clone().unwrap_or_else(|| dir.join("bench.db"));
    println!(
        "## SORT and THREAD on {count} messages in threads of 8 (one connection, release build)"
    );
    if kept.as_ref().is_some_and(|p| p.exists()) {
        println!("store: reusing {}", db.display());
    } else {
        let fill = populate_threads(&db, count);
        println!("store: {count} messages stored in {}", ms(fill));
    }
    let srv = Server::start(&dir, &db, &[]);
    let mut c = Client::login(srv.port);
    c.cmd("SELECT INBOX");
    println!("| command | first | repeats: min | median | max | response |");
    println!("|---|---|---|---|---|---|");
    for cmd in [
        "SORT (DATE) UTF-8 ALL",
        "SORT (SUBJECT) UTF-8 ALL",
        "SORT (REVERSE ARRIVAL) UTF-8 ALL",
        "SORT (FROM) UTF-8 ALL",
        "SORT RETURN (MIN MAX COUNT) (DATE) UTF-8 ALL",
        "SORT RETURN (PARTIAL 1:50) (DATE) UTF-8 ALL",
        "THREAD REFERENCES UTF-8 ALL",
        "THREAD ORDEREDSUBJECT UTF-8 ALL",
        "THREAD REFS UTF-8 ALL",
    ] {
        const REPEAT: usize = 5;
        let (first, _) = time(|| c.cmd(cmd));
        let mut again = Vec::with_capacity(REPEAT);
        let mut bytes = 0;
        for _ in 0..REPEAT {
            let (d, (b, _)) = time(|| c.cmd(cmd));
            again.push(d);
            bytes = b;
        }
        again.sort();
        println!(
            "| `{cmd}` | {} | {} | {} | {} | {:.1} MB |",
            ms(first),
            ms(again[0]),
            ms(again[REPEAT / 2]),
            ms(again[REPEAT - 1]),
            bytes as f64 / 1e6
        );
    }
    println!("server RSS after the run: {} MiB", srv.rss_kib() / 1024);
}

/// Reopening a folder of `count` messages after 10 flag changes and 5 expunges (issue 17):
/// a QRESYNC SELECT against a plain SELECT + `FETCH 1:* (UID FLAGS)`, bytes and time.
fn bench_resync(count: usize) {
    let dir = temp_dir("resync");
    let db = dir.join("bench.db");
    let fill = populate(&db, count);
    let (uidvalidity, modseq) = {
        let store = Store::open(&db).unwrap();
        let user = store.find_user(USER).unwrap().unwrap().id;
        let mb = store.mailbox(user, "INBOX").unwrap().unwrap();
        (mb.uidvalidity, mb.highest_modseq)
    };
    println!("## Resync of {count} messages after 10 flag changes and 5 expunges (release build)");
    println!("store: {count} messages in {}", ms(fill));
    let srv = Server::start(&dir, &db, &[]);
    // Another client changes the folder after the resyncing client last saw modseq `modseq`.
    let mut w = Client::login(srv.port);
    w.cmd("SELECT INBOX");
    let step = count / 16;
    for k in 1..=10 {
        w.cmd(&format!("UID STORE {} +FLAGS.SILENT (\\Flagged)", k * step));
    }
    let gone: Vec<String> = (11..=15).map(|k| (k * step).to_string()).collect();
    let gone = gone.join(",");
    w.cmd(&format!("UID STORE {gone} +FLAGS.SILENT (\\Deleted)"));
    w.cmd(&format!("UID EXPUNGE {gone}"));
    w.cmd("LOGOUT");

    println!("| reopening the folder | time | response |");
    println!("|---|---|---|");
    let mut c = Client::login(srv.port);
    c.cmd("ENABLE QRESYNC");
    let (d, (bytes, lines)) =
        time(|| c.cmd(&format!("SELECT INBOX (QRESYNC ({uidvalidity} {modseq}))")));
    println!(
        "| `SELECT INBOX (QRESYNC (v m))` | {} | {bytes} bytes, {lines} lines |",
        ms(d)
    );
    c.cmd("LOGOUT");
    let mut c = Client::login(srv.port);
    let (d, ((b1, l1), (b2, l2))) =
        time(|| (c.cmd("SELECT INBOX"), c.cmd("FETCH 1:* (UID FLAGS)")));
    println!(
        "| `SELECT INBOX` + `FETCH 1:* (UID FLAGS)` | {} | {} bytes, {} lines |",
        ms(d),
        b1 + b2,
        l1 + l2
    );
}

fn main() {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| !a.starts_with("--"))
        .collect();
    let which = args.first().map(String::as_str).unwrap_or("all");
    match which {
        "fetch" => bench_fetch(),
        "idle" => bench_idle(args.get(1).and_then(|n| n.parse().ok()).unwrap_or(1000)),
        "import" => bench_import(args.get(1).and_then(|n| n.parse().ok()).unwrap_or(100_000)),
        "lmtp" => bench_lmtp(args.get(1).and_then(|n| n.parse().ok()).unwrap_or(10)),
        "mailbox" => bench_mailbox(),
        "prelogin" => bench_prelogin(args.get(1).and_then(|n| n.parse().ok()).unwrap_or(1000)),
        "guess" => bench_guess(args.get(1).and_then(|n| n.parse().ok()).unwrap_or(30)),
        "resync" => bench_resync(args.get(1).and_then(|n| n.parse().ok()).unwrap_or(100_000)),
        "partbomb" => bench_part_bomb(args.get(1).and_then(|n| n.parse().ok()).unwrap_or(8)),
        "sort" => bench_sort(args.get(1).and_then(|n| n.parse().ok()).unwrap_or(100_000)),
        _ => {
            bench_fetch();
            println!();
            bench_idle(1000);
            println!();
            bench_lmtp(10);
            println!();
            bench_mailbox();
            println!();
            bench_sort(100_000);
        }
    }
}
