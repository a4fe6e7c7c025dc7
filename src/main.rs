//! The liteimap executable: parse the command line, set up logging, run one command.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use argh::FromArgs;
use liteimap::cli::{Cli, Command, Deliver, Import, Serve, Stdio, User, UserAction};
use liteimap::imap::conn::{Limits, MAX_SEARCH_DEPTH};
use liteimap::imap::session::Start;
use liteimap::server::{self, Config, Context};
use liteimap::store::Store;
use liteimap::tls::Tls;
use liteimap::{deliver, import, lmtp, password, stdio};

fn main() -> ExitCode {
    let cli = parse_args();
    if let Command::Deliver(d) = &cli.command {
        return run_deliver(&cli, d);
    }
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp_millis()
        .init();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("liteimap: {e}");
            ExitCode::FAILURE
        }
    }
}

/// argh's `from_env`, except that a usage error of `deliver` exits with EX_USAGE (64): an MTA
/// reads our exit status, not our text.
fn parse_args() -> Cli {
    let args: Vec<String> = std::env::args().collect();
    let cmd = args.first().map(String::as_str).unwrap_or("liteimap");
    let cmd = cmd.rsplit('/').next().unwrap_or(cmd);
    let rest: Vec<&str> = args.iter().skip(1).map(String::as_str).collect();
    Cli::from_args(&[cmd], &rest).unwrap_or_else(|early| {
        let code = match early.status {
            Ok(()) => {
                // `liteimap --help | head` closes the pipe early: not an error worth a panic.
                use std::io::Write as _;
                let _ = writeln!(std::io::stdout(), "{}", early.output);
                0
            }
            Err(()) => {
                eprintln!("{}\nRun {cmd} --help for more information.", early.output);
                if rest.contains(&"deliver") {
                    i32::from(deliver::EX_USAGE)
                } else {
                    1
                }
            }
        };
        std::process::exit(code)
    })
}

/// `deliver`: no logging setup (stderr carries exactly one line per failure).
fn run_deliver(cli: &Cli, d: &Deliver) -> ExitCode {
    match deliver::deliver(
        &cli.db,
        &d.user,
        &d.mailbox,
        d.max_message_size,
        std::io::stdin().lock(),
    ) {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("liteimap deliver: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

fn open_store(cli: &Cli) -> Result<Arc<Store>, String> {
    let store = Store::open(&cli.db)
        .map_err(|e| format!("cannot open database {}: {e}", cli.db.display()))?;
    if let Some(mode) = store.loose_mode() {
        log::warn!(
            "{} has mode {mode:03o}: other local users can read its mail and password hashes; run chmod 600 on it (and on its -wal and -shm files)",
            cli.db.display()
        );
    }
    Ok(Arc::new(store))
}

fn run(cli: Cli) -> Result<(), String> {
    match &cli.command {
        Command::Serve(s) => serve(&cli, s),
        Command::User(u) => user(&cli, u),
        Command::Stdio(s) => run_stdio(&cli, s),
        Command::Import(i) => run_import(&cli, i),
        Command::Reindex(_) => run_reindex(&cli),
        Command::Deliver(d) => match run_deliver(&cli, d) {
            c if c == ExitCode::SUCCESS => Ok(()),
            _ => Err("delivery failed".into()),
        },
    }
}

fn run_reindex(cli: &Cli) -> Result<(), String> {
    let store = open_store(cli)?;
    build_search_index(&store)
}

/// Build the search index, logging progress every two seconds and at the end.
fn build_search_index(store: &Store) -> Result<(), String> {
    let started = Instant::now();
    let mut last = started;
    let n = store
        .build_search_index(&mut |done, total| {
            if last.elapsed() >= Duration::from_secs(2) {
                last = Instant::now();
                let pct = (done * 100).checked_div(total).unwrap_or(100);
                log::info!("search index: {done} of {total} messages ({pct}%)");
            }
        })
        .map_err(|e| format!("cannot build the search index: {e}"))?;
    log::info!(
        "search index: {n} messages indexed in {:.1} s",
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn run_import(cli: &Cli, args: &Import) -> Result<(), String> {
    if args.paths.is_empty() {
        return Err("import: name at least one file or directory".into());
    }
    let store = open_store(cli)?;
    let opts = import::Options {
        user: args.user.clone(),
        mailbox: args.mailbox.clone(),
        paths: args.paths.clone(),
    };
    let interrupted = import_with_interrupt(&store, &opts)?;
    drop(store);
    if interrupted {
        // Conventional status of a process stopped by SIGINT; the database is consistent.
        std::process::exit(130);
    }
    Ok(())
}

/// Run an import with Ctrl-C stopping it after the current batch (a second Ctrl-C ends the
/// process at once; SQLite's transactions keep the file consistent either way). Prints the
/// summary; returns whether it was interrupted.
fn import_with_interrupt(store: &Arc<Store>, opts: &import::Options) -> Result<bool, String> {
    use signal_hook::consts::SIGINT;
    let stop = Arc::new(AtomicBool::new(false));
    let kill_on_second = signal_hook::flag::register_conditional_default(SIGINT, stop.clone())
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let set_on_first = signal_hook::flag::register(SIGINT, stop.clone())
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    let result = import::run(store, opts, &stop);
    signal_hook::low_level::unregister(set_on_first);
    signal_hook::low_level::unregister(kill_on_second);
    let summary = result?;
    eprintln!("{}", summary.report());
    Ok(summary.interrupted)
}

fn serve(cli: &Cli, args: &Serve) -> Result<(), String> {
    let store = open_store(cli)?;
    let indexed = store.search_index_on().map_err(|e| e.to_string())?;
    if args.no_fts && indexed {
        store.drop_search_index().map_err(|e| e.to_string())?;
        log::info!("search index dropped (--no-fts): SEARCH reads every message");
    } else if !args.no_fts && !indexed {
        log::info!("building the search index (once; serve --no-fts goes without)");
        build_search_index(&store)?;
    }
    if store.user_count().map_err(|e| e.to_string())? == 0 {
        let pass = password::generate();
        let hash = password::hash(pass.as_bytes())?;
        store
            .create_user("demo", &hash)
            .map_err(|e| e.to_string())?;
        eprintln!("liteimap: no users yet, so created user \"demo\" with password \"{pass}\"");
        eprintln!(
            "liteimap: (change it with: liteimap --db {} user passwd demo)",
            cli.db.display()
        );
    }
    if !args.import.is_empty() {
        let opts = import::Options {
            user: args.user.clone().unwrap_or_else(|| "demo".into()),
            mailbox: "INBOX".into(),
            paths: args.import.clone(),
        };
        if import_with_interrupt(&store, &opts)? {
            return Err("import interrupted; not serving".into());
        }
    } else if args.user.is_some() {
        return Err("--user only says whose INBOX --import fills".into());
    }
    let listen = if args.listen.is_empty() {
        vec!["127.0.0.1:1143".to_string()]
    } else {
        args.listen.clone()
    };
    let config = Config {
        limits: Limits {
            max_line: args.max_line_length.max(1024),
            max_literal: args.max_message_size,
            max_literals: args.max_literals.max(1),
            max_output: args.max_output_buffer.max(4096),
            write_timeout: Duration::from_secs(args.write_timeout.max(1)),
            max_pipelined: args.max_pipelined.max(1),
            max_search_depth: args.max_search_depth.clamp(1, MAX_SEARCH_DEPTH),
        },
        login_timeout: Duration::from_secs(args.login_timeout.max(1)),
        literal_memory: args.max_literal_memory.max(64 * 1024),
        pre_auth_memory: args.max_pre_login_memory.max(64 * 1024),
        idle_timeout: Duration::from_secs(args.idle_timeout.max(1)),
        max_connections: args.max_connections,
        max_pre_login_connections: args.max_pre_login_connections,
        max_connections_per_ip: args.max_connections_per_ip.max(1),
        max_user_connections_per_ip: args.max_user_connections_per_ip.max(1),
        max_auth_failures: args.max_auth_failures.max(1),
        auth_failure_delay: Duration::from_millis(args.auth_failure_delay_ms),
        allow_plaintext: args.allow_plaintext,
        ..Config::default()
    };
    let tls = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => Some(Tls::load(cert, key)?),
        (None, None) if args.tls_listen.is_empty() => None,
        (None, None) => return Err("--tls-listen needs --cert and --key".into()),
        _ => return Err("--cert and --key go together".into()),
    };
    let lmtp_settings = Arc::new(lmtp::Settings {
        max_message_size: u64::from(args.max_message_size),
        domains: args
            .lmtp_domain
            .iter()
            .map(|d| d.trim_end_matches('.').to_ascii_lowercase())
            .collect(),
        hostname: lmtp::hostname(),
        max_connections: args.max_connections,
    });
    // At startup no session holds an expunged message: bodies left behind by a crash while
    // some were held go now (not in `stdio` or `deliver`, which run beside a live server).
    if let Err(e) = store.collect_orphans() {
        log::warn!("collecting unused message bodies: {e}");
    }
    let ctx = Context::with_tls(store, config, tls);
    async_std::task::block_on(async {
        // Signals are handled before anything says the server is up: a SIGHUP (reload) or
        // SIGTERM sent as soon as the "listening" line appears must not meet the default
        // action, which ends the process.
        watch_signals(ctx.clone())?;
        let plain = server::bind_all(&listen, ctx.tls.is_some()).await?;
        let implicit = server::bind_all(&args.tls_listen, true).await?;
        for (l, kind) in plain
            .iter()
            .map(|l| {
                (
                    l,
                    if ctx.tls.is_some() {
                        "IMAP, STARTTLS"
                    } else {
                        "IMAP"
                    },
                )
            })
            .chain(implicit.iter().map(|l| (l, "IMAP over TLS")))
        {
            if let Ok(a) = l.local_addr() {
                log::info!(
                    "liteimap listening on {a} ({kind}; database {})",
                    cli.db.display()
                );
            }
        }
        let mut lmtp_listeners = Vec::new();
        for a in &args.lmtp_listen {
            lmtp_listeners.push(lmtp::bind_tcp(a).await?);
        }
        for p in &args.lmtp_socket {
            lmtp_listeners.push(lmtp::bind_unix(p).await?);
        }
        let mut lmtp_tasks = Vec::new();
        for l in lmtp_listeners {
            log::info!("liteimap accepting LMTP on {}", l.describe());
            let (ctx, settings) = (ctx.clone(), lmtp_settings.clone());
            lmtp_tasks.push(async_std::task::spawn(lmtp::serve(ctx, settings, l)));
        }
        server::serve_with_tls(ctx.clone(), plain, implicit).await;
        for t in lmtp_tasks {
            t.await;
        }
        let w = ctx.store.stats();
        // Its own target, so that RUST_LOG=warn,liteimap::stats=info shows it alone.
        log::info!(target: "liteimap::stats", "{} writes in {} commits", w.writes, w.commits);
        log::info!("liteimap stopped");
        Ok(())
    })
}

/// SIGINT and SIGTERM start a graceful shutdown: BYE to every session, then exit 0. SIGHUP
/// reloads the TLS certificate; established connections keep theirs.
fn watch_signals(ctx: Arc<Context>) -> Result<(), String> {
    use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])
        .map_err(|e| format!("cannot install signal handlers: {e}"))?;
    std::thread::spawn(move || {
        for sig in signals.forever() {
            if sig == SIGHUP {
                match &ctx.tls {
                    Some(tls) => match tls.reload() {
                        Ok(()) => log::info!("SIGHUP: certificate reloaded"),
                        Err(e) => log::error!("SIGHUP: {e}; keeping the old certificate"),
                    },
                    None => log::info!("SIGHUP: no TLS configured, nothing to reload"),
                }
                continue;
            }
            log::info!("signal {sig}: shutting down");
            ctx.shutdown();
            return;
        }
    });
    Ok(())
}

fn read_password(from_stdin: bool) -> Result<String, String> {
    if from_stdin || !std::io::stdin().is_terminal() {
        let mut line = String::new();
        std::io::stdin()
            .lock()
            .read_line(&mut line)
            .map_err(|e| format!("cannot read password: {e}"))?;
        let p = line.trim_end_matches(['\r', '\n']).to_string();
        if p.is_empty() {
            return Err("empty password on standard input".into());
        }
        return Ok(p);
    }
    let p = rpassword::prompt_password("Password: ")
        .map_err(|e| format!("cannot read password: {e}"))?;
    let again = rpassword::prompt_password("Password again: ")
        .map_err(|e| format!("cannot read password: {e}"))?;
    if p != again {
        return Err("the passwords differ".into());
    }
    if p.is_empty() {
        return Err("empty password".into());
    }
    Ok(p)
}

fn valid_user_name(name: &str) -> Result<(), String> {
    if name.is_empty()
        || name.len() > 255
        || !name
            .bytes()
            .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'\\')
    {
        return Err(format!(
            "invalid user name {name:?}: use 1-255 printable ASCII characters without spaces, quotes or backslashes"
        ));
    }
    Ok(())
}

fn user(cli: &Cli, u: &User) -> Result<(), String> {
    let store = open_store(cli)?;
    match &u.action {
        UserAction::Add(a) => {
            valid_user_name(&a.name)?;
            let pass = read_password(a.password_stdin)?;
            let hash = password::hash(pass.as_bytes())?;
            store
                .create_user(&a.name, &hash)
                .map_err(|e| e.to_string())?;
            eprintln!("created user {}", a.name);
        }
        UserAction::List(_) => {
            let quotas: std::collections::HashMap<String, liteimap::store::Quota> = store
                .quotas()
                .map_err(|e| e.to_string())?
                .into_iter()
                .collect();
            for (name, count) in store.list_users().map_err(|e| e.to_string())? {
                // Users without limits keep the old two-column line (scripts read it).
                match quotas.get(&name).filter(|q| q.limits != Default::default()) {
                    Some(q) => println!("{name}\t{count} messages\t{}", quota_line(q)),
                    None => println!("{name}\t{count} messages"),
                }
            }
        }
        UserAction::Quota(q) => {
            let row = store
                .find_user(&q.name)
                .map_err(|e| e.to_string())?
                .ok_or_else(|| format!("no such user: {}", q.name))?;
            let old = store.quota(row.id).map_err(|e| e.to_string())?.limits;
            let limits = liteimap::store::QuotaLimits {
                storage: q.storage.unwrap_or(old.storage),
                messages: q.messages.unwrap_or(old.messages),
                mailboxes: q.mailboxes.unwrap_or(old.mailboxes),
            };
            store
                .set_quota(&q.name, limits)
                .map_err(|e| e.to_string())?;
            let now = store.quota(row.id).map_err(|e| e.to_string())?;
            eprintln!("quota of {}: {}", q.name, quota_line(&now));
        }
        UserAction::Remove(r) => {
            store.remove_user(&r.name).map_err(|e| e.to_string())?;
            eprintln!("removed user {}", r.name);
        }
        UserAction::Passwd(p) => {
            if store
                .find_user(&p.name)
                .map_err(|e| e.to_string())?
                .is_none()
            {
                return Err(format!("no such user: {}", p.name));
            }
            let pass = read_password(p.password_stdin)?;
            let hash = password::hash(pass.as_bytes())?;
            store
                .set_password(&p.name, &hash)
                .map_err(|e| e.to_string())?;
            eprintln!("changed password of {}", p.name);
        }
    }
    Ok(())
}

/// `storage 12345/1048576 messages 3/- mailboxes 6/10` (used/limit, `-` for no limit).
fn quota_line(q: &liteimap::store::Quota) -> String {
    let limit = |l: Option<u64>| l.map_or_else(|| "-".to_string(), |l| l.to_string());
    format!(
        "storage {}/{} messages {}/{} mailboxes {}/{}",
        q.usage.storage,
        limit(q.limits.storage),
        q.usage.messages,
        limit(q.limits.messages),
        q.usage.mailboxes,
        limit(q.limits.mailboxes)
    )
}

fn run_stdio(cli: &Cli, s: &Stdio) -> Result<(), String> {
    let store = open_store(cli)?;
    let row = store
        .find_user(&s.user)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no such user: {}", s.user))?;
    let ctx = Context::new(store, Config::default());
    async_std::task::block_on(stdio::run(ctx, row.id, row.name));
    let _ = Start::Login;
    Ok(())
}
