//! The four workloads. Each takes the port of a running server and returns its figures; the
//! same parameters and seed give the same commands and bytes whichever server answers.

use std::time::{Duration, Instant};

use async_std::task;

use crate::gen::{self, Rng};
use crate::imap::{Conn, Status};
use crate::servers::PASSWORD;

/// Which way a figure is better.
#[derive(Clone, Copy, PartialEq, Eq)]
pub enum Better {
    Higher,
    Lower,
    /// A count that describes the run (no ratio is printed).
    Neither,
}

pub struct Figure {
    pub workload: &'static str,
    pub metric: String,
    pub value: f64,
    pub better: Better,
    /// Printed after the value (e.g. "*" for an extrapolated figure).
    pub mark: &'static str,
}

fn fig(workload: &'static str, metric: impl Into<String>, value: f64, better: Better) -> Figure {
    Figure {
        workload,
        metric: metric.into(),
        value,
        better,
        mark: "",
    }
}

type Result<T> = std::result::Result<T, String>;

fn err(e: impl std::fmt::Display) -> String {
    e.to_string()
}

/// Latencies of one kind of command.
#[derive(Default)]
pub struct Latencies(Vec<Duration>);

impl Latencies {
    pub fn push(&mut self, d: Duration) {
        self.0.push(d);
    }
    pub fn extend(&mut self, o: Latencies) {
        self.0.extend(o.0);
    }
    /// The q-quantile in milliseconds.
    pub fn ms(&mut self, q: f64) -> f64 {
        if self.0.is_empty() {
            return f64::NAN;
        }
        self.0.sort_unstable();
        let i = ((self.0.len() as f64 * q) as usize).min(self.0.len() - 1);
        self.0[i].as_secs_f64() * 1000.0
    }
}

#[derive(Clone)]
pub struct Params {
    pub seed: u64,
    pub clients: usize,
    pub append_time: Duration,
    pub mixed_time: Duration,
    /// Users u0..u(users-1) (argon2id at liteimap's cost) and c0.. (a cheap argon2id).
    pub users: usize,
    /// Messages put into each user's INBOX before the mixed workload.
    pub seed_messages: usize,
    pub big: usize,
    pub idle: usize,
}

pub fn user(prefix: &str, i: usize) -> String {
    format!("{prefix}{i}")
}

async fn login(port: u16, user: &str) -> Result<Conn> {
    let mut c = Conn::connect(port).await.map_err(err)?;
    c.ok(&format!("LOGIN {user} {PASSWORD}"))
        .await
        .map_err(|e| format!("LOGIN {user}: {e}"))?;
    Ok(c)
}

/// Messages that differ in a first header line, so that no server can share their bodies.
fn unique(template: &[u8], tag: &str) -> Vec<u8> {
    let mut m = format!("X-Bench-Id: {tag}\r\n").into_bytes();
    m.extend_from_slice(template);
    m
}

fn templates(seed: u64, count: usize, min: usize, max: usize) -> Vec<Vec<u8>> {
    let mut rng = Rng::new(seed);
    (0..count)
        .map(|i| {
            let size = rng.size(min, max);
            gen::message(&mut rng, i as u64, size)
        })
        .collect()
}

/// Workload 1: `clients` connections APPEND 1–100 KB messages for a fixed time. Client `c`
/// connects to `ports[c % ports.len()]` (several nodes share the clients).
pub async fn append(ports: &[u16], p: &Params) -> Result<Vec<Figure>> {
    let mut conns = Vec::new();
    for c in 0..p.clients {
        let mut conn = login(ports[c % ports.len()], &user("u", c % p.users)).await?;
        // Several clients may share a user: the folder may already exist.
        conn.cmd("CREATE Append").await.map_err(err)?;
        conns.push(conn);
    }
    let start = Instant::now();
    let deadline = start + p.append_time;
    let tasks: Vec<_> = conns
        .into_iter()
        .enumerate()
        .map(|(c, mut conn)| {
            let pool = templates(p.seed ^ (c as u64 + 1) << 20, 16, 1_000, 100_000);
            task::spawn(async move {
                let mut lat = Latencies::default();
                let (mut n, mut bytes) = (0usize, 0usize);
                while Instant::now() < deadline {
                    let m = unique(&pool[n % pool.len()], &format!("append-{c}-{n}"));
                    let t = Instant::now();
                    let r = conn.append("Append", &m).await.map_err(err)?;
                    if r.status != Status::Ok {
                        return Err(format!("APPEND: {:?}", r.status));
                    }
                    lat.push(t.elapsed());
                    n += 1;
                    bytes += m.len();
                }
                let _ = conn.cmd("LOGOUT").await;
                Ok::<_, String>((lat, n, bytes))
            })
        })
        .collect();
    let mut all = Latencies::default();
    let (mut n, mut bytes) = (0, 0);
    for t in tasks {
        let (l, c, b) = t.await?;
        all.extend(l);
        n += c;
        bytes += b;
    }
    let secs = start.elapsed().as_secs_f64();
    Ok(vec![
        fig("append", "messages/s", n as f64 / secs, Better::Higher),
        fig("append", "MB/s", bytes as f64 / secs / 1e6, Better::Higher),
        fig("append", "latency p50 (ms)", all.ms(0.5), Better::Lower),
        fig("append", "latency p99 (ms)", all.ms(0.99), Better::Lower),
    ])
}

/// Fill every mixed-workload INBOX (u* and c* users) with `seed_messages` messages (untimed).
pub async fn seed_mailboxes(ports: &[u16], p: &Params) -> Result<()> {
    let mut users: Vec<String> = (0..p.users).map(|i| user("u", i)).collect();
    users.extend((0..p.users).map(|i| user("c", i)));
    let per_task = users.len().div_ceil(p.clients.max(1));
    let pool = templates(p.seed ^ 0x5eed, 32, 1_000, 20_000);
    let tasks: Vec<_> = users
        .chunks(per_task)
        .enumerate()
        .map(|(i, chunk)| {
            let port = ports[i % ports.len()];
            let chunk = chunk.to_vec();
            let pool = pool.clone();
            let n = p.seed_messages;
            task::spawn(async move {
                for u in chunk {
                    let mut c = login(port, &u).await?;
                    for i in 0..n {
                        let m = unique(&pool[i % pool.len()], &format!("seed-{u}-{i}"));
                        c.ok_append(&m).await?;
                    }
                    let _ = c.cmd("LOGOUT").await;
                }
                Ok::<_, String>(())
            })
        })
        .collect();
    for t in tasks {
        t.await?;
    }
    Ok(())
}

impl Conn {
    async fn ok_append(&mut self, m: &[u8]) -> Result<()> {
        let r = self.append("INBOX", m).await.map_err(err)?;
        if r.status != Status::Ok {
            return Err(format!("APPEND: {:?}", r.status));
        }
        Ok(())
    }
}

const MIXED_COMMANDS: [&str; 9] = [
    "connect",
    "LOGIN",
    "SELECT",
    "FETCH 1:* (UID FLAGS ENVELOPE)",
    "UID FETCH BODY[]",
    "UID STORE +FLAGS",
    "EXPUNGE",
    "APPEND",
    "LOGOUT",
];

/// Workload 2: `clients` connections, each looping over random users: connect, LOGIN,
/// SELECT, FETCH of the folder's UID FLAGS ENVELOPE, BODY[] of three messages, STORE +FLAGS
/// \Deleted on one of them, EXPUNGE, APPEND, LOGOUT. `prefix` picks the users (`u`: argon2id at
/// liteimap's cost, `c`: a cheap argon2id, so the figures show the IMAP work alone).
pub async fn mixed(
    ports: &[u16],
    p: &Params,
    workload: &'static str,
    prefix: &'static str,
) -> Result<Vec<Figure>> {
    let start = Instant::now();
    let deadline = start + p.mixed_time;
    let tasks: Vec<_> = (0..p.clients)
        .map(|c| {
            let port = ports[c % ports.len()];
            let seed = p.seed ^ (c as u64 + 1) << 32;
            let users = p.users;
            let pool = templates(seed, 16, 1_000, 20_000);
            task::spawn(async move {
                let mut rng = Rng::new(seed);
                let mut lat: Vec<Latencies> =
                    MIXED_COMMANDS.iter().map(|_| Default::default()).collect();
                let (mut sessions, mut commands, mut refused) = (0usize, 0usize, 0usize);
                let mut n = 0;
                while Instant::now() < deadline {
                    let u = user(prefix, rng.below(users));
                    let mut timed = |i: usize, t: Instant, r: &crate::imap::Response| {
                        lat[i].push(t.elapsed());
                        commands += usize::from(i > 0);
                        if r.status != Status::Ok {
                            if refused < 3 {
                                eprintln!(
                                    "    {}: {}",
                                    MIXED_COMMANDS[i],
                                    String::from_utf8_lossy(&r.tagged).trim_end()
                                );
                            }
                            refused += 1;
                        }
                    };
                    let t = Instant::now();
                    let mut conn = Conn::connect(port).await.map_err(err)?;
                    timed(0, t, &crate::imap::Response::ok());
                    let t = Instant::now();
                    let r = conn
                        .cmd(&format!("LOGIN {u} {PASSWORD}"))
                        .await
                        .map_err(err)?;
                    timed(1, t, &r);
                    if r.status != Status::Ok {
                        return Err(format!("LOGIN {u}: {:?}", r.status));
                    }
                    let t = Instant::now();
                    let r = conn.cmd("SELECT INBOX").await.map_err(err)?;
                    timed(2, t, &r);
                    let t = Instant::now();
                    let r = conn
                        .cmd("FETCH 1:* (UID FLAGS ENVELOPE)")
                        .await
                        .map_err(err)?;
                    timed(3, t, &r);
                    let uids = r.numbers_after(b"UID ");
                    if !uids.is_empty() {
                        let pick: Vec<String> = (0..3)
                            .map(|_| uids[rng.below(uids.len())].to_string())
                            .collect();
                        let set = pick.join(",");
                        let t = Instant::now();
                        let r = conn
                            .cmd(&format!("UID FETCH {set} BODY[]"))
                            .await
                            .map_err(err)?;
                        timed(4, t, &r);
                        let t = Instant::now();
                        let r = conn
                            .cmd(&format!("UID STORE {} +FLAGS (\\Deleted)", pick[0]))
                            .await
                            .map_err(err)?;
                        timed(5, t, &r);
                        let t = Instant::now();
                        let r = conn.cmd("EXPUNGE").await.map_err(err)?;
                        timed(6, t, &r);
                    }
                    let m = unique(&pool[n % pool.len()], &format!("mixed-{c}-{n}"));
                    n += 1;
                    let t = Instant::now();
                    let r = conn.append("INBOX", &m).await.map_err(err)?;
                    timed(7, t, &r);
                    let t = Instant::now();
                    let r = conn.cmd("LOGOUT").await.map_err(err)?;
                    timed(8, t, &r);
                    sessions += 1;
                }
                Ok::<_, String>((lat, sessions, commands, refused))
            })
        })
        .collect();
    let mut lat: Vec<Latencies> = MIXED_COMMANDS.iter().map(|_| Default::default()).collect();
    let (mut sessions, mut commands, mut refused) = (0, 0, 0);
    for t in tasks {
        let (l, s, c, r) = t.await?;
        for (a, b) in lat.iter_mut().zip(l) {
            a.extend(b);
        }
        sessions += s;
        commands += c;
        refused += r;
    }
    let secs = start.elapsed().as_secs_f64();
    let mut out = vec![
        fig(
            workload,
            "commands/s",
            commands as f64 / secs,
            Better::Higher,
        ),
        fig(
            workload,
            "sessions/s",
            sessions as f64 / secs,
            Better::Higher,
        ),
        fig(
            workload,
            "commands answered NO/BAD",
            refused as f64,
            Better::Neither,
        ),
    ];
    for (name, l) in MIXED_COMMANDS.iter().zip(lat.iter_mut()) {
        out.push(fig(
            workload,
            format!("{name} p50 (ms)"),
            l.ms(0.5),
            Better::Lower,
        ));
        out.push(fig(
            workload,
            format!("{name} p99 (ms)"),
            l.ms(0.99),
            Better::Lower,
        ));
    }
    Ok(out)
}

/// Time one command (best of `runs`), checking it succeeds; returns (ms, response).
async fn best_of(c: &mut Conn, command: &str, runs: usize) -> Result<(f64, crate::imap::Response)> {
    let mut best = f64::INFINITY;
    let mut last = None;
    for _ in 0..runs {
        let t = Instant::now();
        let r = c.ok(command).await.map_err(err)?;
        best = best.min(t.elapsed().as_secs_f64() * 1000.0);
        last = Some(r);
    }
    last.map(|r| (best, r)).ok_or_else(|| "no run".to_string())
}

/// Workload 3: one folder of `p.big` messages (user `big`, loaded before the server started):
/// the first SELECT (Dovecot builds its index here), then the best of three runs of each command.
pub async fn big(port: u16, p: &Params, log: &dyn Fn(String)) -> Result<Vec<Figure>> {
    let w = "big mailbox";
    let mut c = login(port, "big").await?;
    let (first, r) = best_of(&mut c, "SELECT INBOX", 1).await?;
    let exists = r
        .lines
        .iter()
        .find_map(|l| {
            let s = std::str::from_utf8(l).ok()?;
            s.strip_prefix("* ")?
                .strip_suffix(" EXISTS\r\n")?
                .parse::<usize>()
                .ok()
        })
        .unwrap_or(0);
    if exists != p.big {
        return Err(format!(
            "big folder has {exists} messages, expected {}",
            p.big
        ));
    }
    let (select, _) = best_of(&mut c, "SELECT INBOX", 3).await?;
    let (fetch, r) = best_of(&mut c, "FETCH 1:* (UID FLAGS)", 3).await?;
    let fetched = r.lines.len();
    let uids = r.numbers_after(b"UID ");
    let since = gen::imap_date(gen::EPOCH + (p.big as i64 / 2) * 600);
    let mut out = vec![
        fig(w, "messages in the folder", exists as f64, Better::Neither),
        fig(w, "first SELECT after loading (ms)", first, Better::Lower),
        fig(w, "SELECT (ms)", select, Better::Lower),
        fig(w, "FETCH 1:* (UID FLAGS) (ms)", fetch, Better::Lower),
    ];
    log(format!(
        "    {exists} messages; FETCH returned {fetched} lines"
    ));
    for (name, cmd) in [
        ("UID SEARCH SINCE", format!("UID SEARCH SINCE {since}")),
        (
            "UID SEARCH FROM",
            format!("UID SEARCH FROM {}", gen::SENDER),
        ),
        (
            "UID SEARCH BODY",
            format!("UID SEARCH BODY {}", gen::NEEDLE),
        ),
        (
            "UID SEARCH TEXT",
            format!("UID SEARCH TEXT {}", gen::NEEDLE),
        ),
        (
            "UID SEARCH SUBJECT",
            format!("UID SEARCH SUBJECT \"{}\"", gen::SUBJECT),
        ),
    ] {
        // Five runs, the best as the figure and the spread in the log (a shared machine).
        let mut times = Vec::new();
        let mut last = None;
        for _ in 0..5 {
            let (ms, r) = best_of(&mut c, &cmd, 1).await?;
            times.push(ms);
            last = Some(r);
        }
        let r = last.ok_or("no run")?;
        times.sort_by(f64::total_cmp);
        let ms = times[0];
        log(format!(
            "    {cmd}: {ms:.1} ms (5 runs: {}), {} hits",
            times
                .iter()
                .map(|t| format!("{t:.1}"))
                .collect::<Vec<_>>()
                .join(", "),
            hits_of(&r)
        ));
        out.push(fig(w, format!("{name} (ms)"), ms, Better::Lower));
    }
    let _ = c.cmd("LOGOUT").await;
    out.extend(resync(port, &uids, log).await?);
    Ok(out)
}

/// How many bytes and untagged lines a response took on the wire.
fn size_of(r: &crate::imap::Response) -> (usize, usize) {
    let bytes = r.lines.iter().map(Vec::len).sum::<usize>() + r.tagged.len();
    (bytes, r.lines.len())
}

/// The number of UIDs in the `* VANISHED (EARLIER) set` lines.
fn vanished_of(r: &crate::imap::Response) -> usize {
    let mut n = 0;
    for line in &r.lines {
        let Some(set) = line
            .strip_prefix(b"* VANISHED (EARLIER) ")
            .and_then(|l| l.strip_suffix(b"\r\n"))
        else {
            continue;
        };
        for part in String::from_utf8_lossy(set).split(',') {
            let mut ends = part.split(':').map(|x| x.parse::<usize>().unwrap_or(0));
            let a = ends.next().unwrap_or(0);
            let b = ends.next().unwrap_or(a);
            n += a.max(b) - a.min(b) + 1;
        }
    }
    n
}

/// Part of workload 3, on the same folder (`uids`: its UIDs in order): a client that last saw the
/// folder at some HIGHESTMODSEQ comes back after another session flagged 10 messages and
/// expunged 5. A QRESYNC SELECT (RFC 7162) against a plain SELECT + FETCH 1:* (UID FLAGS):
/// best time of three fresh sessions each, bytes and lines of the responses.
async fn resync(port: u16, uids: &[u32], log: &dyn Fn(String)) -> Result<Vec<Figure>> {
    let w = "big mailbox";
    if uids.len() < 100 {
        return Err(format!(
            "resync needs 100 messages, the folder has {}",
            uids.len()
        ));
    }
    // Session A: the client's last state.
    let mut a = login(port, "big").await?;
    a.ok("ENABLE QRESYNC").await.map_err(err)?;
    let r = a.ok("SELECT INBOX").await.map_err(err)?;
    let validity = r.numbers_after(b"[UIDVALIDITY ").first().copied();
    let modseq = r.numbers_after(b"[HIGHESTMODSEQ ").first().copied();
    let _ = a.cmd("LOGOUT").await;
    let (Some(validity), Some(modseq)) = (validity, modseq) else {
        return Err("SELECT after ENABLE QRESYNC: no UIDVALIDITY or HIGHESTMODSEQ".into());
    };
    // Session B: 10 flag changes and 5 expunges spread over the folder, on distinct messages.
    let n = uids.len();
    let pick = |idx: &mut dyn Iterator<Item = usize>| {
        idx.map(|i| uids[i].to_string())
            .collect::<Vec<_>>()
            .join(",")
    };
    let flagged = pick(&mut (0..10).map(|i| (2 * i + 1) * n / 20));
    let deleted = pick(&mut (0..5).map(|j| (4 * j + 1) * n / 20 + 1));
    let mut b = login(port, "big").await?;
    b.ok("SELECT INBOX").await.map_err(err)?;
    b.ok(&format!("UID STORE {flagged} +FLAGS.SILENT (\\Flagged)"))
        .await
        .map_err(err)?;
    b.ok(&format!("UID STORE {deleted} +FLAGS.SILENT (\\Deleted)"))
        .await
        .map_err(err)?;
    b.ok(&format!("UID EXPUNGE {deleted}")).await.map_err(err)?;
    let _ = b.cmd("LOGOUT").await;
    // Sessions C: QRESYNC SELECT.
    let qresync = format!("SELECT INBOX (QRESYNC ({validity} {modseq}))");
    let mut best_q = f64::INFINITY;
    let mut q = None;
    for _ in 0..3 {
        let mut c = login(port, "big").await?;
        c.ok("ENABLE QRESYNC").await.map_err(err)?;
        let t = Instant::now();
        let r = c.ok(&qresync).await.map_err(err)?;
        best_q = best_q.min(t.elapsed().as_secs_f64() * 1000.0);
        let _ = c.cmd("LOGOUT").await;
        q = Some(r);
    }
    let q = q.ok_or("no QRESYNC run")?;
    let (q_bytes, q_lines) = size_of(&q);
    let vanished = vanished_of(&q);
    let changed = q.lines.iter().filter(|l| find_fetch(l)).count();
    // Sessions D: plain SELECT + FETCH 1:* (UID FLAGS).
    let mut best_p = f64::INFINITY;
    let mut plain = (0, 0);
    for _ in 0..3 {
        let mut d = login(port, "big").await?;
        let t = Instant::now();
        let s = d.ok("SELECT INBOX").await.map_err(err)?;
        let f = d.ok("FETCH 1:* (UID FLAGS)").await.map_err(err)?;
        best_p = best_p.min(t.elapsed().as_secs_f64() * 1000.0);
        let _ = d.cmd("LOGOUT").await;
        let (sb, sl) = size_of(&s);
        let (fb, fl) = size_of(&f);
        plain = (sb + fb, sl + fl);
    }
    log(format!(
        "    QRESYNC SELECT: {vanished} UIDs vanished, {changed} FETCH lines, {q_lines} lines, {q_bytes} bytes; \
         SELECT + FETCH: {} lines, {} bytes",
        plain.1, plain.0
    ));
    if vanished != 5 || changed != 10 {
        log(format!(
            "    WARNING: expected 5 vanished UIDs and 10 FETCH lines, got {vanished} and {changed}"
        ));
    }
    let what = "after 10 changes + 5 expunges";
    Ok(vec![
        fig(
            w,
            format!("QRESYNC SELECT {what} (ms)"),
            best_q,
            Better::Lower,
        ),
        fig(
            w,
            format!("QRESYNC SELECT {what} (bytes)"),
            q_bytes as f64,
            Better::Lower,
        ),
        fig(
            w,
            format!("QRESYNC SELECT {what} (lines)"),
            q_lines as f64,
            Better::Lower,
        ),
        fig(
            w,
            "QRESYNC SELECT: VANISHED UIDs",
            vanished as f64,
            Better::Neither,
        ),
        fig(
            w,
            "QRESYNC SELECT: FETCH lines",
            changed as f64,
            Better::Neither,
        ),
        fig(
            w,
            "SELECT + FETCH 1:* (UID FLAGS) (ms)",
            best_p,
            Better::Lower,
        ),
        fig(
            w,
            "SELECT + FETCH 1:* (UID FLAGS) (bytes)",
            plain.0 as f64,
            Better::Lower,
        ),
        fig(
            w,
            "SELECT + FETCH 1:* (UID FLAGS) (lines)",
            plain.1 as f64,
            Better::Lower,
        ),
    ])
}

/// An untagged `* N FETCH (` line.
fn find_fetch(line: &[u8]) -> bool {
    line.starts_with(b"* ") && line.windows(8).any(|w| w == b" FETCH (")
}

/// Numbers in the `* SEARCH` line.
fn hits_of(r: &crate::imap::Response) -> usize {
    r.lines
        .iter()
        .filter(|l| l.starts_with(b"* SEARCH"))
        .map(|l| {
            l.split(|b| *b == b' ')
                .filter(|w| w.first().is_some_and(u8::is_ascii_digit))
                .count()
        })
        .sum()
}

/// Workload 4: `n` connections of one user logged in, INBOX selected, in IDLE; then one
/// APPEND, timed until every idler has read its `* N EXISTS`. `memory` reads the server's memory in KiB.
pub async fn idle(
    port: u16,
    n: usize,
    memory: &dyn Fn() -> u64,
    log: &dyn Fn(String),
) -> Result<IdleResult> {
    let before = memory();
    let start = Instant::now();
    // At most 200 logins in flight: a burst of thousands of SYNs only measures the backlog.
    let (tokens_tx, tokens_rx) = async_std::channel::bounded::<()>(200);
    for _ in 0..200 {
        let _ = tokens_tx.send(()).await;
    }
    let tasks: Vec<_> = (0..n)
        .map(|_| {
            let (tx, rx) = (tokens_tx.clone(), tokens_rx.clone());
            task::spawn(async move {
                let _ = rx.recv().await;
                let r = async {
                    let mut c = login(port, "idler").await?;
                    c.ok("SELECT INBOX").await.map_err(err)?;
                    c.idle().await.map_err(err)?;
                    Ok::<_, String>(c)
                }
                .await;
                let _ = tx.send(()).await;
                r
            })
        })
        .collect();
    let mut idlers = Vec::with_capacity(n);
    for t in tasks {
        idlers.push(t.await?);
    }
    let setup = start.elapsed();
    log(format!("    {n} idling after {:.1} s", setup.as_secs_f64()));
    task::sleep(Duration::from_secs(1)).await;
    let after = memory();
    let mut appender = login(port, "idler").await?;
    let sent = Instant::now();
    let waiters: Vec<_> = idlers
        .into_iter()
        .map(|mut c| {
            task::spawn(async move {
                let r = c.wait_exists(Duration::from_secs(30)).await;
                (r.map(|_| sent.elapsed()), c)
            })
        })
        .collect();
    appender
        .ok_append(b"Subject: wake up\r\n\r\nNew mail for every idler.\r\n")
        .await?;
    let append_ok = sent.elapsed();
    let mut reached = Latencies::default();
    let mut missed = 0;
    let mut conns = Vec::new();
    for w in waiters {
        let (r, c) = w.await;
        match r {
            Ok(d) => reached.push(d),
            Err(_) => missed += 1,
        }
        conns.push(c);
    }
    drop(conns);
    Ok(IdleResult {
        connections: n,
        before_kib: before,
        after_kib: after,
        setup,
        append_ok,
        median_ms: reached.ms(0.5),
        last_ms: reached.ms(1.0),
        missed,
    })
}

pub struct IdleResult {
    pub connections: usize,
    pub before_kib: u64,
    pub after_kib: u64,
    pub setup: Duration,
    pub append_ok: Duration,
    pub median_ms: f64,
    pub last_ms: f64,
    pub missed: usize,
}

impl IdleResult {
    pub fn per_connection_kib(&self) -> f64 {
        self.after_kib.saturating_sub(self.before_kib) as f64 / self.connections.max(1) as f64
    }

    /// Figures, with memory at `target` connections extrapolated (and marked) if fewer ran.
    pub fn figures(&self, target: usize) -> Vec<Figure> {
        let w = "idle";
        let per = self.per_connection_kib();
        let mut at_target = fig(
            w,
            format!("server memory at {target} idlers (MiB)"),
            (self.before_kib as f64 + per * target as f64) / 1024.0,
            Better::Lower,
        );
        if self.connections < target {
            at_target.mark = "*";
        }
        vec![
            fig(
                w,
                "connections measured",
                self.connections as f64,
                Better::Neither,
            ),
            fig(
                w,
                "logins+SELECT+IDLE per s",
                self.connections as f64 / self.setup.as_secs_f64(),
                Better::Higher,
            ),
            fig(
                w,
                "server memory before (MiB)",
                self.before_kib as f64 / 1024.0,
                Better::Lower,
            ),
            fig(w, "memory per idle connection (KiB)", per, Better::Lower),
            at_target,
            fig(
                w,
                "APPEND answered OK (ms)",
                self.append_ok.as_secs_f64() * 1000.0,
                Better::Lower,
            ),
            fig(
                w,
                "EXISTS reached median idler (ms)",
                self.median_ms,
                Better::Lower,
            ),
            fig(
                w,
                "EXISTS reached every idler (ms)",
                self.last_ms,
                Better::Lower,
            ),
            fig(
                w,
                "idlers not reached in 30 s",
                self.missed as f64,
                Better::Lower,
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap::Response;

    fn response(lines: &[&[u8]]) -> Response {
        Response {
            status: Status::Ok,
            lines: lines.iter().map(|l| l.to_vec()).collect(),
            tagged: b"b1 OK done\r\n".to_vec(),
        }
    }

    #[test]
    fn vanished_uids_are_counted_over_ranges() {
        let r = response(&[
            b"* OK [HIGHESTMODSEQ 9] x\r\n",
            b"* VANISHED (EARLIER) 3,7:9,20\r\n",
            b"* 4 FETCH (UID 10 FLAGS (\\Flagged) MODSEQ (8))\r\n",
        ]);
        assert_eq!(vanished_of(&r), 5);
        assert_eq!(r.lines.iter().filter(|l| find_fetch(l)).count(), 1);
        assert_eq!(size_of(&r), (26 + 31 + 48 + 12, 3));
    }
}
