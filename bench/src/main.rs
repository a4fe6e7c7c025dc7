//! liteimap-bench: the same IMAP load against liteimap and against Dovecot, on this machine, in
//! one run, printed side by side with their ratio. See README.md, "liteimap vs Dovecot".
//!
//! Layout: `imap` (a small load client), `gen` (deterministic mail), `servers` (start, measure
//! and stop each server), `workloads` (append, mixed, big mailbox, idle).

mod gen;
mod imap;
mod servers;
mod workloads;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use argh::FromArgs;

use servers::{Dovecot, Liteimap, Server};
use workloads::{Better, Figure, Params};

/// Run the same IMAP workloads against liteimap and Dovecot (if installed) on 127.0.0.1 and
/// print both figures and their ratio.
#[derive(FromArgs)]
struct Args {
    /// smaller and shorter: the whole run in under a minute
    #[argh(switch)]
    quick: bool,

    /// the liteimap binary (default target/release/liteimap)
    #[argh(option, default = "PathBuf::from(\"target/release/liteimap\")")]
    liteimap: PathBuf,

    /// measure liteimap alone even if Dovecot is installed
    #[argh(switch)]
    no_dovecot: bool,

    /// workloads to run: append, mixed, mixed-cheap, big, idle (repeatable; default all)
    #[argh(option)]
    only: Vec<String>,

    /// seed of the generated mail and of every client's choices (default 1)
    #[argh(option, default = "1")]
    seed: u64,

    /// concurrent clients in append and mixed (default 16)
    #[argh(option, default = "16")]
    clients: usize,

    /// messages in the big folder (default 100000; --quick 2000)
    #[argh(option)]
    big: Option<usize>,

    /// idle connections to liteimap (default 10000; --quick 1000)
    #[argh(option)]
    idle: Option<usize>,

    /// idle connections to Dovecot, one imap process each (default 2000; --quick 200); memory
    /// at the liteimap count is extrapolated from it and marked
    #[argh(option)]
    dovecot_idle: Option<usize>,

    /// seconds each of append and mixed runs per server (default 15; --quick 3)
    #[argh(option)]
    seconds: Option<u64>,

    /// keep the temporary directory (databases, Maildirs, logs) for inspection
    #[argh(switch)]
    keep: bool,

    /// also load the big folder into a database without the search index (`serve --no-fts`)
    /// and measure its import, size and the big-folder workload there
    #[argh(switch)]
    also_no_fts: bool,

    /// run liteimap on this database instead of a new SQLite file in the temporary directory:
    /// a postgresql:// URL (as liteimap --db takes it) of an empty database, or a file; the
    /// benchmark's users are added (or their passwords reset)
    #[argh(option)]
    db: Option<String>,

    /// with --db: start this many liteimap serve processes (nodes) on that one database and
    /// share the clients of append and mixed among them (default 1)
    #[argh(option, default = "1")]
    nodes: usize,
}

/// The servers this run started, to stop if it overruns its time limit or is interrupted.
/// Atomics, not a lock: the signal handler reads them.
static CHILDREN: [AtomicU32; 8] = [const { AtomicU32::new(0) }; 8];

pub fn register_child(pid: u32) {
    for slot in &CHILDREN {
        if slot
            .compare_exchange(0, pid, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
        {
            return;
        }
    }
}

/// A server stopped normally: forget it (its pid may be reused).
pub fn unregister_child(pid: u32) {
    for slot in &CHILDREN {
        let _ = slot.compare_exchange(pid, 0, Ordering::SeqCst, Ordering::SeqCst);
    }
}

/// SIGTERM to every server started (Dovecot's master then stops its own children).
/// Async-signal-safe: atomics and kill(2) only.
fn stop_children() {
    for slot in &CHILDREN {
        let pid = slot.load(Ordering::SeqCst);
        if pid != 0 {
            unsafe {
                libc::kill(pid as libc::pid_t, libc::SIGTERM);
            }
        }
    }
}

/// Ctrl-C, SIGTERM or SIGHUP: Dovecot runs as a daemon in its own session and would outlive
/// the tool, so stop the servers before going (the temporary directory is left behind).
extern "C" fn on_signal(_: libc::c_int) {
    stop_children();
    unsafe { libc::_exit(130) }
}

fn stop_on_signals() {
    for sig in [libc::SIGINT, libc::SIGTERM, libc::SIGHUP] {
        unsafe {
            libc::signal(
                sig,
                on_signal as extern "C" fn(libc::c_int) as libc::sighandler_t,
            );
        }
    }
}

/// Every run stops by itself: past `limit` the servers are stopped and the tool exits.
fn watchdog(limit: Duration, tmp: PathBuf, keep: bool) {
    std::thread::spawn(move || {
        std::thread::sleep(limit);
        eprintln!("liteimap-bench: time limit of {limit:?} reached; stopping the servers");
        stop_children();
        std::thread::sleep(Duration::from_secs(3));
        for slot in &CHILDREN {
            let pid = slot.load(Ordering::SeqCst);
            if pid != 0 {
                unsafe {
                    libc::kill(pid as libc::pid_t, libc::SIGKILL);
                }
            }
        }
        if !keep {
            let _ = std::fs::remove_dir_all(&tmp);
        }
        std::process::exit(2);
    });
}

/// 10,000 connections need 10,000 descriptors on each side: lift the soft limit to the hard
/// one (and the hard one too when root). Children (the servers) inherit it.
fn raise_nofile(want: u64) {
    unsafe {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut r) != 0 {
            return;
        }
        let up = libc::rlimit {
            rlim_cur: want,
            rlim_max: want.max(r.rlim_max),
        };
        if libc::setrlimit(libc::RLIMIT_NOFILE, &up) != 0 {
            r.rlim_cur = r.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &r);
        }
    }
}

fn log(s: String) {
    eprintln!("{s}");
}

/// Users as both servers get them: u0.. with an argon2id hash at liteimap's own cost, c0.. and
/// the big and idle users with a cheap argon2id (m=8 KiB, t=1), so that 10,000 logins or a
/// login-heavy loop measure IMAP work rather than password hashing. Same PHC strings on both.
fn accounts(users: usize) -> Result<Vec<(String, String)>, String> {
    use argon2::password_hash::{PasswordHasher, SaltString};
    let salt = SaltString::from_b64("bGl0ZWltYXAtYmVuY2g").map_err(|e| e.to_string())?;
    let full = argon2::Argon2::default()
        .hash_password(servers::PASSWORD.as_bytes(), &salt)
        .map_err(|e| e.to_string())?
        .to_string();
    let cheap_params = argon2::Params::new(8, 1, 1, None).map_err(|e| e.to_string())?;
    let cheap = argon2::Argon2::new(
        argon2::Algorithm::Argon2id,
        argon2::Version::V0x13,
        cheap_params,
    )
    .hash_password(servers::PASSWORD.as_bytes(), &salt)
    .map_err(|e| e.to_string())?
    .to_string();
    let mut out: Vec<(String, String)> = (0..users)
        .map(|i| (workloads::user("u", i), full.clone()))
        .collect();
    out.extend((0..users).map(|i| (workloads::user("c", i), cheap.clone())));
    out.push(("big".into(), cheap.clone()));
    out.push(("idler".into(), cheap));
    Ok(out)
}

struct Plan {
    params: Params,
    workloads: Vec<String>,
    dovecot_idle: usize,
    maildir: Option<PathBuf>,
    also_no_fts: bool,
    /// --db as given (a URL keeps its password: it is passed on to liteimap, never shown).
    db: Option<String>,
    /// liteimap serve processes on the database (--nodes).
    nodes: usize,
}

impl Plan {
    fn runs(&self, w: &str) -> bool {
        self.workloads.iter().any(|x| x == w)
    }
}

/// Run the chosen workloads against one started server.
fn run_all(
    srv: &dyn Server,
    plan: &Plan,
    idle_count: usize,
    memory: &dyn Fn() -> u64,
) -> Result<Vec<Figure>, String> {
    let port = srv.port();
    let ports = srv.ports();
    let p = &plan.params;
    let mut out = Vec::new();
    async_std::task::block_on(async {
        if plan.runs("append") {
            log(format!(
                "  append: {} clients for {:?}",
                p.clients, p.append_time
            ));
            out.extend(workloads::append(&ports, p).await?);
        }
        if plan.runs("mixed") || plan.runs("mixed-cheap") {
            log(format!(
                "  seeding {} INBOXes with {} messages each",
                p.users * 2,
                p.seed_messages
            ));
            workloads::seed_mailboxes(&ports, p).await?;
        }
        if plan.runs("mixed") {
            log(format!(
                "  mixed (argon2id logins): {} clients for {:?}",
                p.clients, p.mixed_time
            ));
            out.extend(workloads::mixed(&ports, p, "mixed", "u").await?);
        }
        if plan.runs("mixed-cheap") {
            log(format!(
                "  mixed (cheap logins): {} clients for {:?}",
                p.clients, p.mixed_time
            ));
            out.extend(workloads::mixed(&ports, p, "mixed-cheap", "c").await?);
        }
        if plan.runs("big") {
            log(format!("  big mailbox: {} messages", p.big));
            out.extend(workloads::big(port, p, &log).await?);
        }
        if plan.runs("idle") {
            log(format!("  idle: {idle_count} connections"));
            let r = workloads::idle(port, idle_count, memory, &log).await?;
            out.extend(r.figures(p.idle));
        }
        Ok::<_, String>(())
    })?;
    Ok(out)
}

fn run_liteimap(
    plan: &Plan,
    tmp: &Path,
    binary: &Path,
    users: &[(String, String)],
) -> Result<Vec<Figure>, String> {
    let mut figs = liteimap_on(plan, &tmp.join("liteimap"), binary, users, true)?;
    if plan.also_no_fts && plan.maildir.is_some() {
        log("liteimap without the search index:".into());
        let only_big = Plan {
            params: plan.params.clone(),
            workloads: vec!["big".into()],
            dovecot_idle: plan.dovecot_idle,
            maildir: plan.maildir.clone(),
            also_no_fts: false,
            db: None,
            nodes: 1,
        };
        let without = liteimap_on(
            &only_big,
            &tmp.join("liteimap-no-fts"),
            binary,
            users,
            false,
        )?;
        figs.extend(without.into_iter().map(|mut f| {
            f.metric = format!("no index: {}", f.metric);
            f
        }));
    }
    Ok(figs)
}

/// One liteimap database in `dir`, with or without the search index: import, size, workloads.
fn liteimap_on(
    plan: &Plan,
    dir: &Path,
    binary: &Path,
    users: &[(String, String)],
    fts: bool,
) -> Result<Vec<Figure>, String> {
    use liteimap::database::Database;
    std::fs::create_dir_all(dir).map_err(|e| e.to_string())?;
    // The value handed to liteimap's --db, and what it names (shown without a password).
    let arg = match &plan.db {
        Some(given) => given.clone(),
        None => dir.join("liteimap.db").display().to_string(),
    };
    let db: Database = arg.parse()?;
    log(format!("  database {db}"));
    {
        let store = db
            .open()
            .map_err(|e| format!("cannot open database {db}: {e}"))?;
        for (name, hash) in users {
            match store.create_user(name, hash) {
                Err(liteimap::store::StoreError::AlreadyExists(_)) => {
                    store.set_password(name, hash)
                }
                other => other.map(drop),
            }
            .map_err(|e| format!("{e:?}"))?;
        }
        if !fts {
            store.drop_search_index().map_err(|e| format!("{e:?}"))?;
        }
    }
    let mut pre = Vec::new();
    if let Some(maildir) = &plan.maildir {
        log(format!("  liteimap import of {} messages", plan.params.big));
        let t = Instant::now();
        Liteimap::import(binary, &arg, "big", maildir)?;
        let s = t.elapsed().as_secs_f64();
        // A SQLite file's size with its log; PostgreSQL's is the server's business (NaN: "-").
        let size = match db.sqlite_path() {
            Some(file) => ["", "-wal"]
                .iter()
                .filter_map(|x| std::fs::metadata(format!("{}{x}", file.display())).ok())
                .map(|m| m.len() as f64)
                .sum(),
            None => f64::NAN,
        };
        log(format!(
            "    {s:.1} s ({:.0} messages/s), database {} MB",
            plan.params.big as f64 / s,
            fmt(size / 1e6)
        ));
        pre.push(Figure {
            workload: "big mailbox",
            metric: "loading: liteimap import (s)".into(),
            value: s,
            better: Better::Lower,
            mark: "",
        });
        pre.push(Figure {
            workload: "big mailbox",
            metric: "loading: liteimap database (MB)".into(),
            value: size / 1e6,
            better: Better::Lower,
            mark: "",
        });
    }
    let extra: &[&str] = if fts { &[] } else { &["--no-fts"] };
    let mut nodes = Vec::new();
    for n in 0..plan.nodes {
        let log = match n {
            0 => dir.join("liteimap.log"),
            n => dir.join(format!("liteimap-node{}.log", n + 1)),
        };
        nodes.push(Liteimap::start_with(binary, &arg, &log, extra)?);
    }
    let srv = servers::Nodes(nodes);
    let pids = srv.pids();
    let memory = move || {
        pids.iter()
            .map(|&p| servers::memory_of_tree(p).rss_kib)
            .sum()
    };
    let mut figs = run_all(&srv, plan, plan.params.idle, &memory)?;
    pre.append(&mut figs);
    Ok(pre)
}

fn run_dovecot(plan: &Plan, tmp: &Path, users: &[(String, String)]) -> Result<Vec<Figure>, String> {
    let dir = tmp.join("dovecot");
    let srv = Dovecot::start(&dir, users)?;
    let master = srv.master_pid();
    let memory = move || servers::memory_of_tree(master).pss_kib;
    let r = run_all(&srv, plan, plan.dovecot_idle, &memory);
    if r.is_err() {
        log(format!("  see {}", srv.log_path().display()));
    }
    r
}

fn fmt(v: f64) -> String {
    if v.is_nan() {
        "-".into()
    } else if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 10.0 {
        format!("{v:.1}")
    } else {
        format!("{v:.2}")
    }
}

fn print_table(lite: &[Figure], dove: Option<&[Figure]>, title: &str) {
    let mut rows = vec![[
        "workload".to_string(),
        "metric".into(),
        "liteimap".into(),
        "dovecot".into(),
        "ratio".into(),
    ]];
    for f in lite {
        let d = dove.and_then(|d| {
            d.iter()
                .find(|g| g.workload == f.workload && g.metric == f.metric)
        });
        let (dv, ratio) = match d {
            Some(d)
                if d.value != 0.0
                    && f.value.is_finite()
                    && d.value.is_finite()
                    && f.better != Better::Neither =>
            {
                let r = f.value / d.value;
                let ahead = match (f.better, r) {
                    (_, r) if (r - 1.0).abs() < 0.005 => "",
                    (Better::Higher, r) if r > 1.0 => " L",
                    (Better::Lower, r) if r < 1.0 => " L",
                    _ => " D",
                };
                (
                    format!("{}{}", fmt(d.value), d.mark),
                    format!("{r:.2}{ahead}"),
                )
            }
            Some(d) => (format!("{}{}", fmt(d.value), d.mark), "-".into()),
            None => ("-".into(), "-".into()),
        };
        rows.push([
            f.workload.to_string(),
            f.metric.clone(),
            format!("{}{}", fmt(f.value), f.mark),
            dv,
            ratio,
        ]);
    }
    let widths: Vec<usize> = (0..5)
        .map(|i| rows.iter().map(|r| r[i].len()).max().unwrap_or(0))
        .collect();
    println!("{title}");
    for (n, r) in rows.iter().enumerate() {
        let cells: Vec<String> = r
            .iter()
            .enumerate()
            .map(|(i, c)| {
                if i < 2 {
                    format!("{c:<w$}", w = widths[i])
                } else {
                    format!("{c:>w$}", w = widths[i])
                }
            })
            .collect();
        println!("| {} |", cells.join(" | "));
        if n == 0 {
            let dashes: Vec<String> = widths
                .iter()
                .enumerate()
                .map(|(i, w)| {
                    if i < 2 {
                        "-".repeat(w + 2)
                    } else {
                        format!("{}:", "-".repeat(w + 1))
                    }
                })
                .collect();
            println!("|{}|", dashes.join("|"));
        }
    }
}

fn main() {
    let args: Args = argh::from_env();
    let quick = args.quick;
    let all = ["append", "mixed", "mixed-cheap", "big", "idle"];
    let workloads: Vec<String> = if args.only.is_empty() {
        all.iter().map(|s| s.to_string()).collect()
    } else {
        args.only.clone()
    };
    if let Some(w) = workloads.iter().find(|w| !all.contains(&w.as_str())) {
        eprintln!(
            "liteimap-bench: unknown workload {w} (known: {})",
            all.join(", ")
        );
        std::process::exit(64);
    }
    if args.nodes != 1 && (args.nodes == 0 || args.db.is_none()) {
        eprintln!("liteimap-bench: --nodes N (N ≥ 1) shares one database: give it with --db");
        std::process::exit(2);
    }
    if args.also_no_fts && args.db.is_some() {
        eprintln!("liteimap-bench: --also-no-fts loads a SQLite file of its own; not with --db");
        std::process::exit(64);
    }
    let secs = Duration::from_secs(args.seconds.unwrap_or(if quick { 3 } else { 15 }));
    let params = Params {
        seed: args.seed,
        clients: args.clients.max(1),
        append_time: secs,
        mixed_time: secs,
        users: 100,
        seed_messages: if quick { 5 } else { 20 },
        big: args.big.unwrap_or(if quick { 2_000 } else { 100_000 }),
        idle: args.idle.unwrap_or(if quick { 1_000 } else { 10_000 }),
    };
    let dovecot_idle = args
        .dovecot_idle
        .unwrap_or(if quick { 200 } else { 2_000 })
        .min(params.idle);
    if !args.liteimap.exists() {
        eprintln!(
            "liteimap-bench: no liteimap binary at {} (cargo build --release, or --liteimap PATH)",
            args.liteimap.display()
        );
        std::process::exit(66);
    }
    let with_dovecot = !args.no_dovecot && Dovecot::installed();
    if !args.no_dovecot && !with_dovecot {
        eprintln!("liteimap-bench: Dovecot is not installed (apt-get install dovecot-imapd); measuring liteimap alone");
    }
    raise_nofile(65_536);
    stop_on_signals();
    let tmp = std::env::temp_dir().join(format!("liteimap-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&tmp);
    if let Err(e) = std::fs::create_dir_all(&tmp) {
        eprintln!("liteimap-bench: {}: {e}", tmp.display());
        std::process::exit(73);
    }
    // Generous bounds: the quick set takes under a minute, the full one a few minutes.
    watchdog(
        Duration::from_secs(if quick { 180 } else { 900 }),
        tmp.clone(),
        args.keep,
    );
    let started = Instant::now();
    let code = match run(&args, params, workloads, dovecot_idle, with_dovecot, &tmp) {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("liteimap-bench: {e}");
            1
        }
    };
    if args.keep {
        eprintln!("kept {}", tmp.display());
    } else {
        let _ = std::fs::remove_dir_all(&tmp);
    }
    eprintln!("total time {:.0} s", started.elapsed().as_secs_f64());
    std::process::exit(code);
}

fn run(
    args: &Args,
    params: Params,
    workloads: Vec<String>,
    dovecot_idle: usize,
    with_dovecot: bool,
    tmp: &Path,
) -> Result<(), String> {
    let users = accounts(params.users)?;
    let mut plan = Plan {
        params,
        workloads,
        dovecot_idle,
        maildir: None,
        also_no_fts: args.also_no_fts,
        db: args.db.clone(),
        nodes: args.nodes,
    };
    if plan.runs("big") {
        // One Maildir for both: liteimap imports it, Dovecot serves it in place.
        let maildir = tmp.join("dovecot/mail/big/Maildir");
        let t = Instant::now();
        let bytes = gen::write_maildir(&maildir, plan.params.big, plan.params.seed)
            .map_err(|e| format!("writing {}: {e}", maildir.display()))?;
        log(format!(
            "wrote {} messages ({:.0} MB) as a Maildir in {:.1} s",
            plan.params.big,
            bytes as f64 / 1e6,
            t.elapsed().as_secs_f64()
        ));
        plan.maildir = Some(maildir);
    }
    log("liteimap:".into());
    let lite = run_liteimap(&plan, tmp, &args.liteimap, &users)?;
    let dove = if with_dovecot {
        log("dovecot:".into());
        Some(run_dovecot(&plan, tmp, &users)?)
    } else {
        None
    };
    let p = &plan.params;
    print_table(
        &lite,
        dove.as_deref(),
        &format!(
            "liteimap-bench{}{} seed {}: {} clients, {:?} per timed workload, {} messages in the big folder, {} idlers (Dovecot {})",
            if args.quick { " --quick" } else { "" },
            if plan.nodes > 1 { format!(" (liteimap on {} nodes)", plan.nodes) } else { String::new() },
            p.seed,
            p.clients,
            p.append_time,
            p.big,
            p.idle,
            plan.dovecot_idle
        ),
    );
    println!("ratio = liteimap / dovecot; L = liteimap ahead, D = Dovecot ahead.");
    if plan.dovecot_idle < p.idle && dove.is_some() {
        println!(
            "* extrapolated: memory before + {} × the per-connection memory measured with {} idlers.",
            p.idle, plan.dovecot_idle
        );
    }
    Ok(())
}
