//! The liteimap executable: parse the command line, set up logging, run one command.

use std::io::{BufRead, IsTerminal};
use std::process::ExitCode;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use std::time::{Duration, Instant};

use argh::FromArgs;
use liteimap::cli::{
    Backup, Cli, Command, Deliver, Dev, Import, Kick, Migrate, Serve, Stdio, User, UserAction, Who,
};
use liteimap::imap::conn::{Limits, MAX_SEARCH_DEPTH};
use liteimap::imap::session::Start;
use liteimap::server::{self, Config, Context};
use liteimap::store::Store;
use liteimap::tls::Tls;
use liteimap::{admin, config, deliver, import, lmtp, password, stdio};
use std::path::PathBuf;

fn main() -> ExitCode {
    let (cli, file, given) = parse_args();
    if let Command::Deliver(d) = &cli.command {
        // Silent unless RUST_LOG asks: an MTA reads stderr as the reason of a failure, which
        // is its one line; RUST_LOG=info adds one line per delivered message.
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("off"))
            .format_timestamp_millis()
            .init();
        return run_deliver(&cli, d, file.as_ref());
    }
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp_millis()
        .init();
    match run(cli, file, given) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("liteimap: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The global options: they go before the command (`liteimap --db FILE serve`).
const GLOBAL_OPTIONS: &[&str] = &["--db", "--config"];

/// The index of the command in `args` (the first argument that is neither a global option nor
/// its value).
fn command_index(args: &[String]) -> Option<usize> {
    let mut i = 0;
    while i < args.len() {
        if GLOBAL_OPTIONS.contains(&args[i].as_str()) {
            i += 2;
            continue;
        }
        if !args[i].starts_with('-') {
            return Some(i);
        }
        i += 1;
    }
    None
}

/// The value of `--name VALUE` or `--name=VALUE` in `args`.
fn option_value(args: &[String], name: &str) -> Option<String> {
    let prefix = format!("{name}=");
    args.iter().enumerate().find_map(|(i, a)| {
        if a == name {
            args.get(i + 1).cloned()
        } else {
            a.strip_prefix(&prefix).map(str::to_string)
        }
    })
}

/// argh's `from_env`, with `-h` for `--help`, `--version`/`-V`, the configuration file merged
/// in (its `db` unless `--db` is given; its serve keys unless the flag is given), usage errors
/// on one `liteimap:` line (with a hint when a global option follows the command), and a usage
/// error of `deliver` exiting with EX_USAGE (64): an MTA reads our exit status, not our text.
/// Also returns the serve flags given on the command line (SIGHUP's reload applies them over
/// the file again).
fn parse_args() -> (Cli, Option<config::File>, Vec<String>) {
    let args: Vec<String> = std::env::args().collect();
    let cmd = args.first().map(String::as_str).unwrap_or("liteimap");
    let cmd = cmd.rsplit('/').next().unwrap_or(cmd).to_string();
    let mut rest: Vec<String> = args
        .iter()
        .skip(1)
        .map(|a| {
            if a == "-h" {
                "--help".into()
            } else {
                a.clone()
            }
        })
        .collect();
    if matches!(rest.first().map(String::as_str), Some("--version" | "-V")) {
        println!("liteimap {}", env!("CARGO_PKG_VERSION"));
        std::process::exit(0);
    }
    // Not an argh subcommand, so `--help` does not list it: the manual page in roff, for the
    // Debian package's build (dist/debian/build) or `liteimap man | man -l -`.
    if rest == ["man"] {
        use std::io::Write as _;
        let _ = write!(
            std::io::stdout(),
            "{}",
            liteimap::manpage::render(env!("CARGO_PKG_VERSION"), env!("CARGO_PKG_DESCRIPTION"))
        );
        std::process::exit(0);
    }
    let given = command_index(&rest)
        .filter(|&i| rest[i] == "serve")
        .map(|i| rest[i + 1..].to_vec())
        .unwrap_or_default();
    let file = merge_config(&mut rest);
    let refs: Vec<&str> = rest.iter().map(String::as_str).collect();
    let cli = Cli::from_args(&[&cmd], &refs).unwrap_or_else(|early| {
        let code = match early.status {
            Ok(()) => {
                // `liteimap --help | head` closes the pipe early: not an error worth a panic.
                use std::io::Write as _;
                let _ = writeln!(std::io::stdout(), "{}", early.output);
                0
            }
            Err(()) => {
                eprintln!("liteimap: {}", usage_error(&early.output, &refs));
                if refs.contains(&"deliver") {
                    i32::from(deliver::EX_USAGE)
                } else {
                    1
                }
            }
        };
        std::process::exit(code)
    });
    (cli, file, given)
}

/// Load the configuration file (unless the command is `config`, which reads it itself, or
/// help is asked for) and put its settings into `args`, behind the command line's own.
fn merge_config(args: &mut Vec<String>) -> Option<config::File> {
    let index = command_index(args);
    let before = &args[..index.unwrap_or(args.len())];
    let explicit = option_value(before, "--config").map(PathBuf::from);
    let db_given = option_value(before, "--db").is_some();
    let command = index.map(|i| args[i].clone());
    // `dev` needs nothing configured: a broken or foreign file must not stop it.
    if args.iter().any(|a| a == "--help") || matches!(command.as_deref(), Some("config" | "dev")) {
        return None;
    }
    let path = config::locate(explicit.as_deref())?;
    let file = config::File::load(&path).unwrap_or_else(|problems| {
        for p in problems {
            eprintln!("liteimap: {}: {p}", path.display());
        }
        // An MTA retries a temporary failure: a broken file must not bounce mail.
        let deliver = command.as_deref() == Some("deliver");
        std::process::exit(if deliver {
            i32::from(deliver::EX_TEMPFAIL)
        } else {
            1
        })
    });
    if let Some(i) = index.filter(|_| command.as_deref() == Some("serve")) {
        let extra = file.serve_args(&args[i + 1..]);
        args.splice(i + 1..i + 1, extra);
    }
    if !db_given {
        if let Some(db) = file.db() {
            args.splice(0..0, ["--db".to_string(), db.display().to_string()]);
        }
    }
    Some(file)
}

/// argh's usage error as one line, with a hint where it helps.
fn usage_error(output: &str, args: &[&str]) -> String {
    let mut text = String::new();
    for line in output.lines().map(str::trim).filter(|l| !l.is_empty()) {
        if !text.is_empty() {
            text.push_str(if text.ends_with(':') { " " } else { "; " });
        }
        text.push_str(line);
    }
    // A global option after the command: argh calls it unrecognised.
    let owned: Vec<String> = args.iter().map(|a| a.to_string()).collect();
    let first_command = command_index(&owned);
    let misplaced = GLOBAL_OPTIONS.iter().find(|opt| {
        args.iter()
            .position(|a| a == *opt || a.starts_with(&format!("{opt}=")))
            .is_some_and(|i| first_command.is_some_and(|c| i > c))
    });
    match misplaced {
        Some(opt) => format!(
            "{text} ({opt} goes before the command: liteimap {opt} FILE {} ...)",
            first_command.map_or("", |c| args[c])
        ),
        None => format!("{text} (run liteimap --help)"),
    }
}

/// `deliver`: no logging setup (stderr carries exactly one line per failure). The outcome is
/// told to a server running on the database, for its metrics, when its admin socket is there.
fn run_deliver(cli: &Cli, d: &Deliver, file: Option<&config::File>) -> ExitCode {
    let result = deliver::deliver(
        &cli.db,
        &d.user,
        &d.mailbox,
        d.max_message_size,
        std::io::stdin().lock(),
    );
    let outcome = match &result {
        Ok(_) => "delivered",
        Err(e) if e.exit_code() == deliver::EX_TEMPFAIL || e.exit_code() == deliver::EX_IOERR => {
            "failed"
        }
        Err(_) => "refused",
    };
    let socket = admin_socket(cli, file, None).unwrap_or_default();
    if socket.exists() {
        if let Err(e) = admin::ask(&socket, &format!("delivered {outcome}")) {
            log::debug!("not counted in the server's metrics: {e}");
        }
    }
    match result {
        Ok(_) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("liteimap deliver: {e}");
            ExitCode::from(e.exit_code())
        }
    }
}

/// The admin socket: the command's --admin-socket, else the configuration file's key, else
/// beside a SQLite database. A PostgreSQL database has no place beside it (and several nodes
/// may serve it): there the socket must be given.
fn admin_socket(
    cli: &Cli,
    file: Option<&config::File>,
    explicit: Option<&std::path::Path>,
) -> Result<PathBuf, String> {
    let given = explicit.map(std::path::Path::to_path_buf).or_else(|| {
        file.and_then(|f| f.string("admin-socket"))
            .map(PathBuf::from)
    });
    match (given, cli.db.sqlite_path()) {
        (Some(p), _) => Ok(p),
        (None, Some(db)) => Ok(admin::default_path(db)),
        (None, None) => Err(NO_DEFAULT_ADMIN_SOCKET.into()),
    }
}

/// Why a PostgreSQL database has no default admin socket.
const NO_DEFAULT_ADMIN_SOCKET: &str = "the database is PostgreSQL, so there is no admin socket beside it: give --admin-socket PATH (or the admin-socket key), the one liteimap serve was started with";

/// `who` and `kick`: one request to the running server; its output on stdout, a `no` reply on
/// stderr with exit status 1.
fn run_admin(path: &std::path::Path, request: &str) -> Result<(), String> {
    let (ok, text) = admin::ask(path, request)?;
    if !ok {
        eprintln!("liteimap: {text}");
        std::process::exit(1);
    }
    print!("{text}");
    Ok(())
}

fn open_store(cli: &Cli) -> Result<Arc<Store>, String> {
    let store = cli
        .db
        .open()
        .map_err(|e| format!("cannot open database {}: {e}", cli.db))?;
    if let Some(mode) = store.loose_mode() {
        log::warn!(
            "{} has mode {mode:03o}: other local users can read its mail and password hashes; run chmod 600 on it (and on its -wal and -shm files)",
            cli.db
        );
    }
    Ok(Arc::new(store))
}

fn run(cli: Cli, file: Option<config::File>, given: Vec<String>) -> Result<(), String> {
    match &cli.command {
        Command::Serve(s) => serve(&cli, s, file, None, given),
        Command::Dev(d) => run_dev(d),
        Command::Config(_) => config_check(&cli),
        Command::User(u) => user(&cli, u),
        Command::Stdio(s) => run_stdio(&cli, s),
        Command::Import(i) => run_import(&cli, i),
        Command::Reindex(_) => run_reindex(&cli),
        Command::Backup(b) => run_backup(&cli, b),
        Command::Check(_) => run_check(&cli),
        Command::Who(Who { admin_socket: a }) => {
            run_admin(&admin_socket(&cli, file.as_ref(), a.as_deref())?, "who")
        }
        Command::Kick(Kick {
            user,
            admin_socket: a,
        }) => run_admin(
            &admin_socket(&cli, file.as_ref(), a.as_deref())?,
            &format!("kick {user}"),
        ),
        Command::Migrate(m) => run_migrate(m),
        Command::Deliver(d) => match run_deliver(&cli, d, file.as_ref()) {
            c if c == ExitCode::SUCCESS => Ok(()),
            _ => Err("delivery failed".into()),
        },
    }
}

/// `migrate`: exit 0 when copied and checked, 3 when stopped by --limit, 1 otherwise.
fn run_migrate(args: &Migrate) -> Result<(), String> {
    let same = match (args.from.sqlite_path(), args.to.sqlite_path()) {
        (Some(a), Some(b)) => {
            a == b || matches!((a.canonicalize(), b.canonicalize()), (Ok(x), Ok(y)) if x == y)
        }
        _ => args.from == args.to,
    };
    if same {
        return Err(format!(
            "migrate: source and target are the same database ({})",
            args.from
        ));
    }
    if let Some(p) = args.from.sqlite_path() {
        if !p.exists() {
            return Err(format!(
                "migrate: the source {} does not exist",
                p.display()
            ));
        }
    }
    let open = |db: &liteimap::database::Database| {
        db.open()
            .map_err(|e| format!("cannot open database {db}: {e}"))
    };
    let from = open(&args.from)?;
    let to = open(&args.to)?;
    eprintln!("migrate: from {} to {}", args.from, args.to);
    let opts = liteimap::migrate::Options {
        page_messages: args.page_messages.max(1),
        limit: args.limit,
        ..Default::default()
    };
    match liteimap::migrate::run(&from, &to, opts, &mut |line| eprintln!("{line}")) {
        Ok(liteimap::migrate::Outcome::Done(_)) => Ok(()),
        Ok(liteimap::migrate::Outcome::Stopped(_)) => {
            drop((from, to));
            std::process::exit(3)
        }
        Err(e) => Err(format!("migrate: {e}")),
    }
}

fn run_backup(cli: &Cli, args: &Backup) -> Result<(), String> {
    let db = cli.db.sqlite_path().ok_or_else(|| {
        format!(
            "backup copies a SQLite file; {} is PostgreSQL: use its own tools (pg_dump, or a base backup with WAL archiving)",
            cli.db
        )
    })?;
    let bar = indicatif::ProgressBar::new(0);
    bar.set_style(
        indicatif::ProgressStyle::with_template("backup {bar:40} {pos}/{len} pages {percent}%")
            .map_err(|e| e.to_string())?,
    );
    let started = std::time::Instant::now();
    let done = liteimap::store::backup(db, &args.file, &mut |p| {
        bar.set_length(p.total);
        bar.set_position(p.copied);
    })
    .map_err(|e| format!("backup of {} failed: {e}", db.display()))?;
    bar.finish_and_clear();
    eprintln!(
        "backup: {} pages ({} bytes) of {} copied to {} in {:.1} s; integrity_check ok",
        done.pages,
        done.bytes,
        db.display(),
        args.file.display(),
        started.elapsed().as_secs_f64()
    );
    Ok(())
}

fn run_check(cli: &Cli) -> Result<(), String> {
    let db = cli.db.sqlite_path().ok_or_else(|| {
        format!(
            "check examines a SQLite file; {} is PostgreSQL: use its own tools (amcheck, pg_dump to /dev/null)",
            cli.db
        )
    })?;
    let report =
        liteimap::store::check(db).map_err(|e| format!("cannot check {}: {e}", db.display()))?;
    print!("{}: {}", db.display(), report.render());
    if !report.problems.is_empty() {
        std::process::exit(1);
    }
    Ok(())
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
    if !interrupted {
        // The imported bodies were queued for the search index: index them before exiting
        // (a server started later would, but SEARCH checks queued bodies one by one).
        let queued = store.search_index_queue().unwrap_or(0);
        if queued > 0 {
            let started = Instant::now();
            store
                .wait_search_indexer()
                .map_err(|e| format!("cannot index the imported messages: {e}"))?;
            log::info!(
                "search index: {queued} imported messages indexed in {:.1} s",
                started.elapsed().as_secs_f64()
            );
        }
    }
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

/// `value` of `--flag` within `min..=max`, or an error that says the range.
fn in_range<T: PartialOrd + std::fmt::Display>(
    flag: &str,
    value: T,
    min: T,
    max: Option<T>,
) -> Result<T, String> {
    let too_big = max.as_ref().is_some_and(|m| value > *m);
    if value < min || too_big {
        return Err(match max {
            Some(m) => format!("--{flag} {value} is out of range ({min} to {m})"),
            None => format!("--{flag} {value} is too small (at least {min})"),
        });
    }
    Ok(value)
}

/// The server's settings from the `serve` flags, every value checked.
fn serve_config(args: &Serve) -> Result<Config, String> {
    Ok(Config {
        limits: Limits {
            max_line: in_range("max-line-length", args.max_line_length, 1024, None)?,
            max_literal: in_range("max-message-size", args.max_message_size, 1, None)?,
            max_literals: in_range("max-literals", args.max_literals, 1, None)?,
            max_output: in_range("max-output-buffer", args.max_output_buffer, 4096, None)?,
            write_timeout: Duration::from_secs(in_range(
                "write-timeout",
                args.write_timeout,
                1,
                None,
            )?),
            max_pipelined: in_range("max-pipelined", args.max_pipelined, 1, None)?,
            max_search_depth: in_range(
                "max-search-depth",
                args.max_search_depth,
                1,
                Some(MAX_SEARCH_DEPTH),
            )?,
        },
        login_timeout: Duration::from_secs(in_range("login-timeout", args.login_timeout, 1, None)?),
        literal_memory: in_range(
            "max-literal-memory",
            args.max_literal_memory,
            64 * 1024,
            None,
        )?,
        pre_auth_memory: in_range(
            "max-pre-login-memory",
            args.max_pre_login_memory,
            64 * 1024,
            None,
        )?,
        idle_timeout: Duration::from_secs(in_range("idle-timeout", args.idle_timeout, 1, None)?),
        max_connections: in_range("max-connections", args.max_connections, 1, None)?,
        max_pre_login_connections: args
            .max_pre_login_connections
            .map(|n| {
                in_range(
                    "max-pre-login-connections",
                    n,
                    1,
                    Some(args.max_connections),
                )
            })
            .transpose()?,
        max_connections_per_ip: in_range(
            "max-connections-per-ip",
            args.max_connections_per_ip,
            1,
            None,
        )?,
        max_user_connections_per_ip: in_range(
            "max-user-connections-per-ip",
            args.max_user_connections_per_ip,
            1,
            None,
        )?,
        max_auth_failures: in_range("max-auth-failures", args.max_auth_failures, 1, None)?,
        auth_failure_delay: Duration::from_millis(args.auth_failure_delay_ms),
        allow_plaintext: args.allow_plaintext,
        trace_dir: args.trace.clone(),
        // The developer page shows each session's trace.
        trace_in_memory: args.web_listen.is_some(),
        auto_users: args.auto_users,
        ..Config::default()
    })
}

/// Every `serve` setting checked and every listener bound, before anything is written to the
/// database: a busy port or a typo must not leave a half-started server behind.
struct Bound {
    plain: Vec<async_std::net::TcpListener>,
    implicit: Vec<async_std::net::TcpListener>,
    lmtp: Vec<lmtp::Listener>,
    smtp: Vec<lmtp::Listener>,
    metrics: Option<tiny_http::Server>,
    web: Option<tiny_http::Server>,
    /// None when the default path is too long for a Unix socket.
    admin: Option<admin::Listener>,
    /// Every network listener is on a loopback address (Unix sockets are local anyway).
    loopback_only: bool,
}

async fn bind_serve(
    cli: &Cli,
    args: &Serve,
    listen: &[String],
    tls: bool,
) -> Result<Bound, String> {
    // First: a live socket here means another server runs on this database.
    let admin = match (&args.admin_socket, cli.db.sqlite_path()) {
        (Some(path), _) => Some(admin::bind(path).await?),
        // Said once every listener is bound: a serve that fails says one line.
        (None, None) => None,
        (None, Some(db)) => {
            let path = admin::default_path(db);
            if path.as_os_str().len() > admin::MAX_PATH {
                log::warn!(
                    "no admin socket: {} is too long for a Unix socket; give --admin-socket a shorter path for liteimap who and kick",
                    path.display()
                );
                None
            } else {
                Some(admin::bind(&path).await?)
            }
        }
    };
    let plain = server::bind_all(listen, tls).await?;
    let implicit = server::bind_all(&args.tls_listen, true).await?;
    let mut lmtp_listeners = Vec::new();
    for a in &args.lmtp_listen {
        lmtp_listeners.push(lmtp::bind_tcp(a).await?);
    }
    for p in &args.lmtp_socket {
        lmtp_listeners.push(lmtp::bind_unix(p).await?);
    }
    let mut smtp = Vec::new();
    for a in &args.smtp_listen {
        smtp.push(lmtp::bind_smtp(a).await?);
    }
    let metrics = args
        .metrics_listen
        .as_deref()
        .map(liteimap::metrics::bind)
        .transpose()?;
    let web = args
        .web_listen
        .as_deref()
        .map(liteimap::web::bind)
        .transpose()?;
    let loopback_only = plain
        .iter()
        .chain(&implicit)
        .filter_map(|l| l.local_addr().ok())
        .chain(
            lmtp_listeners
                .iter()
                .chain(&smtp)
                .filter_map(lmtp::Listener::local_addr),
        )
        .all(|a| a.ip().is_loopback());
    if args.admin_socket.is_none() && cli.db.sqlite_path().is_none() {
        log::info!("no admin socket: {NO_DEFAULT_ADMIN_SOCKET}");
    }
    Ok(Bound {
        plain,
        implicit,
        lmtp: lmtp_listeners,
        smtp,
        metrics,
        web,
        admin,
        loopback_only,
    })
}

/// With no users yet: on loopback-only listeners, create `demo` with a random password (or
/// --demo-password) and print both (a first try on one's own machine); on a public listener,
/// refuse to start.
fn first_user(cli: &Cli, args: &Serve, store: &Store, loopback_only: bool) -> Result<(), String> {
    if store.user_count().map_err(|e| e.to_string())? > 0 {
        return Ok(());
    }
    if !loopback_only {
        return Err(format!(
            "no users yet and listening beyond loopback; add one first: liteimap --db {} user add NAME",
            cli.db
        ));
    }
    let pass = args
        .demo_password
        .clone()
        .unwrap_or_else(password::generate);
    let hash = user_hash(args.auto_users, &pass)?;
    store
        .create_user("demo", &hash)
        .map_err(|e| e.to_string())?;
    eprintln!("liteimap: no users yet, so created user \"demo\" with password \"{pass}\"");
    eprintln!(
        "liteimap: (change it with: liteimap --db {} user passwd demo)",
        cli.db
    );
    Ok(())
}

/// The hash of a password the server sets: cheap under --auto-users (test accounts).
fn user_hash(cheap: bool, pass: &str) -> Result<String, String> {
    if cheap {
        password::hash_cheap(pass.as_bytes())
    } else {
        password::hash(pass.as_bytes())
    }
}

/// `serve`; `dev` (from `liteimap dev`) prints its block of addresses and credentials once
/// every listener is bound.
fn serve(
    cli: &Cli,
    args: &Serve,
    file: Option<config::File>,
    dev: Option<&DevInfo>,
    given: Vec<String>,
) -> Result<(), String> {
    let config = serve_config(args)?;
    if args.demo_password.as_deref() == Some("") {
        return Err("--demo-password must not be empty".into());
    }
    if let Some(f) = &file {
        log::info!("configuration from {}", f.path.display());
    }
    if args.import.is_empty() && args.user.is_some() {
        return Err("--user only says whose INBOX --import fills".into());
    }
    for p in &args.import {
        std::fs::metadata(p).map_err(|e| format!("cannot import {}: {e}", p.display()))?;
    }
    if let Some(dir) = &args.trace {
        liteimap::trace::prepare_dir(dir)
            .map_err(|e| format!("cannot use {} for --trace: {e}", dir.display()))?;
        log::info!("protocol traces go to {}", dir.display());
    }
    let tls = match (&args.cert, &args.key) {
        (Some(cert), Some(key)) => Some(Tls::load(cert, key)?),
        (None, None) if args.tls_listen.is_empty() => None,
        (None, None) => return Err("--tls-listen needs --cert and --key".into()),
        _ => return Err("--cert and --key go together".into()),
    };
    let store = open_store(cli)?;
    if let Some(u) = args.user.as_deref().filter(|u| *u != "demo") {
        if store.find_user(u).map_err(|e| e.to_string())?.is_none() {
            return Err(format!("no such user: {u} (for --import)"));
        }
    }
    if let Some(u) = args.catch_all.as_deref().filter(|_| !args.auto_users) {
        if store.find_user(u).map_err(|e| e.to_string())?.is_none() {
            return Err(format!("no such user: {u} (for --catch-all)"));
        }
    }
    let listen = if args.listen.is_empty() {
        vec!["127.0.0.1:1143".to_string()]
    } else {
        args.listen.clone()
    };
    let lmtp_settings = Arc::new(lmtp::Settings {
        protocol: lmtp::Protocol::Lmtp,
        max_message_size: u64::from(args.max_message_size),
        domains: args
            .lmtp_domain
            .iter()
            .map(|d| d.trim_end_matches('.').to_ascii_lowercase())
            .collect(),
        hostname: lmtp::hostname(),
        max_connections: args.max_connections,
        catch_all: None,
    });
    // SMTP: LMTP's code and limits, every domain local, the catch-all.
    let smtp_settings = Arc::new(lmtp::Settings {
        protocol: lmtp::Protocol::Smtp,
        domains: Vec::new(),
        catch_all: args.catch_all.clone(),
        ..(*lmtp_settings).clone()
    });
    let bound = async_std::task::block_on(bind_serve(cli, args, &listen, tls.is_some()))?;
    first_user(cli, args, &store, bound.loopback_only)?;
    let indexed = store.search_index_on().map_err(|e| e.to_string())?;
    if args.no_fts && indexed {
        store.drop_search_index().map_err(|e| e.to_string())?;
        log::info!("search index dropped (--no-fts): SEARCH reads every message");
    } else if !store.is_sqlite() {
        // PostgreSQL has no full-text index yet: text keys are matched by reading messages.
        log::info!("no search index on PostgreSQL: SEARCH BODY/TEXT reads every message");
    } else if !args.no_fts && !indexed {
        log::info!("building the search index (once; serve --no-fts goes without)");
        build_search_index(&store)?;
    }
    match store.search_index_queue() {
        Ok(0) | Err(_) => {}
        Ok(n) => {
            log::info!("search index: {n} stored messages queued; indexing them in the background")
        }
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
    }
    // At startup no session holds an expunged message: bodies left behind by a crash while
    // some were held go now (not in `stdio` or `deliver`, which run beside a live server).
    if let Err(e) = store.collect_orphans() {
        log::warn!("collecting unused message bodies: {e}");
    }
    let ctx = Context::with_tls(store, config, tls);
    // Signals are handled before anything says the server is up: a SIGHUP (reload) or
    // SIGTERM sent as soon as the "listening" line appears must not meet the default action,
    // which ends the process.
    watch_signals(ctx.clone(), file, given)?;
    let Bound {
        plain,
        implicit,
        lmtp: lmtp_listeners,
        smtp: smtp_listeners,
        metrics,
        web,
        admin,
        ..
    } = bound;
    if let Some(m) = metrics {
        if let Some(a) = m.server_addr().to_ip() {
            log::info!("liteimap serving metrics on http://{a}/metrics");
        }
        liteimap::metrics::serve(m, ctx.clone());
    }
    let web_addr = web.as_ref().and_then(|w| w.server_addr().to_ip());
    if let Some(w) = web {
        if let Some(a) = w.server_addr().to_ip() {
            log::info!("liteimap serving the web page on http://{a}/ (API under /api/v1)");
        }
        liteimap::web::serve(w, ctx.clone());
    }
    async_std::task::block_on(async {
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
                log::info!("liteimap listening on {a} ({kind}; database {})", cli.db);
            }
        }
        let mut lmtp_tasks = Vec::new();
        for l in lmtp_listeners {
            log::info!("liteimap accepting LMTP on {}", l.describe());
            let (ctx, settings) = (ctx.clone(), lmtp_settings.clone());
            lmtp_tasks.push(async_std::task::spawn(lmtp::serve(ctx, settings, l)));
        }
        let imap_addrs: Vec<std::net::SocketAddr> =
            plain.iter().filter_map(|l| l.local_addr().ok()).collect();
        let smtp_addrs: Vec<std::net::SocketAddr> = smtp_listeners
            .iter()
            .filter_map(lmtp::Listener::local_addr)
            .collect();
        for l in smtp_listeners {
            log::info!("liteimap accepting SMTP on {}", l.describe());
            let (ctx, settings) = (ctx.clone(), smtp_settings.clone());
            lmtp_tasks.push(async_std::task::spawn(lmtp::serve(ctx, settings, l)));
        }
        if let Some(dev) = dev {
            dev.print(&imap_addrs, &smtp_addrs, web_addr);
        }
        let admin_task = admin.map(|admin| {
            log::info!(
                "liteimap admin socket {} (liteimap who, liteimap kick USER)",
                admin.path().display()
            );
            async_std::task::spawn(admin::serve(ctx.clone(), admin))
        });
        // Every listener is bound and logged: tell systemd (Type=notify) we are up.
        liteimap::sdnotify::notify("READY=1");
        server::serve_with_tls(ctx.clone(), plain, implicit).await;
        for t in lmtp_tasks {
            t.await;
        }
        if let Some(t) = admin_task {
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
/// reloads the TLS certificate (established connections keep theirs) and re-reads the
/// configuration file: the limits apply at once, each other changed key is named as taking a
/// restart.
fn watch_signals(
    ctx: Arc<Context>,
    mut file: Option<config::File>,
    given: Vec<String>,
) -> Result<(), String> {
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
                if let Some(running) = &mut file {
                    reread_config(&ctx, running, &given);
                }
                continue;
            }
            log::info!("signal {sig}: shutting down");
            liteimap::sdnotify::notify("STOPPING=1");
            ctx.shutdown();
            return;
        }
    });
    Ok(())
}

/// SIGHUP's look at the configuration file: a broken file, or one with a bad value, is reported
/// and ignored; the limits it changes (`config::LIVE_KEYS`) apply to new connections and
/// commands from now on; each other changed key is named as taking a restart, and a key the
/// command line overrides as having no effect.
fn reread_config(ctx: &Context, running: &mut config::File, given: &[String]) {
    let path = running.path.clone();
    let keep = |problem: &dyn std::fmt::Display| {
        log::error!(
            "SIGHUP: {}: {problem}; keeping the running settings",
            path.display()
        );
    };
    let newer = match config::File::load(&path) {
        Ok(f) => f,
        Err(problems) => {
            for p in problems {
                keep(&p);
            }
            return;
        }
    };
    let changed = running.changed_keys(&newer);
    if changed.is_empty() {
        log::info!("SIGHUP: {} unchanged", path.display());
        return;
    }
    // The same arguments serve started with: the file's keys, then the command line's flags.
    let mut args = vec!["serve".to_string()];
    args.extend(newer.serve_args(given));
    args.extend(given.iter().cloned());
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let parsed = match Cli::from_args(&["liteimap"], &refs) {
        Ok(c) => c,
        Err(early) => return keep(&usage_error(&early.output, &[])),
    };
    let Command::Serve(serve) = &parsed.command else {
        return keep(&"internal error: not a serve command");
    };
    let config = match serve_config(serve) {
        Ok(c) => c,
        Err(e) => return keep(&e),
    };
    let mut live = Vec::new();
    for key in changed {
        if config::overridden(&key, given) {
            log::info!(
                "SIGHUP: {key} changed in {}, but --{key} on the command line overrides it",
                path.display()
            );
        } else if config::LIVE_KEYS.contains(&key.as_str()) {
            live.push(key);
        } else {
            log::warn!(
                "SIGHUP: {key} changed in {}; restart liteimap to apply it (SIGHUP applies only the limits; listeners, sockets, the database, TLS file paths and memory pools are fixed while the server runs)",
                path.display()
            );
        }
    }
    let old = ctx.config();
    ctx.set_config(Config {
        trust_loopback: old.trust_loopback,
        notify_max_batch: old.notify_max_batch,
        ..config
    });
    if !live.is_empty() {
        log::info!(
            "SIGHUP: applied {} from {} (to new connections and commands)",
            live.join(", "),
            path.display()
        );
    }
    *running = newer;
}

/// `liteimap config check`: the file's keys and types, then the values as `serve` checks them.
fn config_check(cli: &Cli) -> Result<(), String> {
    let Some(path) = config::locate(cli.config.as_deref()) else {
        return Err(format!(
            "no configuration file: give --config FILE, or create {}",
            config::DEFAULT_PATHS.join(" or ")
        ));
    };
    let fail = |problems: Vec<String>| -> Result<(), String> {
        for p in &problems {
            println!("{}: {p}", path.display());
        }
        std::process::exit(1)
    };
    let file = match config::File::load(&path) {
        Ok(f) => f,
        Err(problems) => return fail(problems.iter().map(ToString::to_string).collect()),
    };
    let mut args = vec!["serve".to_string()];
    args.extend(file.serve_args(&[]));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let line = |msg: &str| -> String {
        // "--max-search-depth 9 is out of range": name the key's line.
        let key = msg
            .split_whitespace()
            .find_map(|w| w.strip_prefix("--"))
            .unwrap_or("");
        match file.line_of(key) {
            Some(n) => format!("line {n}: {}", msg.replace(&format!("--{key}"), key)),
            None => msg.to_string(),
        }
    };
    let parsed = match Cli::from_args(&["liteimap"], &refs) {
        Ok(c) => c,
        Err(early) => return fail(vec![line(&usage_error(&early.output, &[]))]),
    };
    let Command::Serve(serve) = &parsed.command else {
        return Err("internal error: not a serve command".into());
    };
    let mut problems = Vec::new();
    if let Err(e) = serve_config(serve) {
        problems.push(line(&e));
    }
    for (key, addrs) in [
        ("listen", &serve.listen),
        ("tls-listen", &serve.tls_listen),
        ("lmtp-listen", &serve.lmtp_listen),
        ("smtp-listen", &serve.smtp_listen),
    ] {
        for a in addrs {
            if a.parse::<std::net::SocketAddr>().is_err() {
                let at = file
                    .line_of(key)
                    .map_or(String::new(), |n| format!("line {n}: "));
                problems.push(format!(
                    "{at}{key}: invalid address {a:?} (expected IP:PORT, e.g. 127.0.0.1:1143)"
                ));
            }
        }
    }
    if !problems.is_empty() {
        return fail(problems);
    }
    println!("{}: ok", path.display());
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

fn user(cli: &Cli, u: &User) -> Result<(), String> {
    let store = open_store(cli)?;
    match &u.action {
        UserAction::Add(a) => {
            liteimap::cli::valid_user_name(&a.name)?;
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
            let mut withheld: std::collections::HashMap<String, Vec<String>> = Default::default();
            for (name, capability) in store
                .all_withheld_capabilities()
                .map_err(|e| e.to_string())?
            {
                withheld.entry(name).or_default().push(capability);
            }
            for (name, count) in store.list_users().map_err(|e| e.to_string())? {
                // Users without limits or settings keep the old two-column line (scripts
                // read it); the others get a column each.
                let mut line = format!("{name}\t{count} messages");
                if let Some(q) = quotas.get(&name).filter(|q| q.limits != Default::default()) {
                    line.push_str(&format!("\t{}", quota_line(q)));
                }
                if let Some(w) = withheld.get(&name) {
                    line.push_str(&format!("\twithheld {}", w.join(" ")));
                }
                println!("{line}");
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
        UserAction::Set(s) => {
            let withhold = match (s.no_uidonly, s.uidonly) {
                (true, false) => true,
                (false, true) => false,
                (true, true) => return Err("give --uidonly or --no-uidonly, not both".into()),
                (false, false) => {
                    return Err("nothing to set: give --uidonly or --no-uidonly".into())
                }
            };
            store
                .set_capability_withheld(
                    &s.name,
                    liteimap::imap::cmd::uidonly::CAPABILITY,
                    withhold,
                )
                .map_err(|e| e.to_string())?;
            if withhold {
                eprintln!("UIDONLY withheld from {} (from its next login)", s.name);
            } else {
                eprintln!("UIDONLY offered to {} (from its next login)", s.name);
            }
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

/// What `liteimap dev` prints once every listener is bound (stdout; the log stays on stderr).
struct DevInfo {
    db: liteimap::database::Database,
    temporary: bool,
    /// demo and the --user ones, with their passwords.
    users: Vec<(String, String)>,
    auto_users: bool,
    catch_all: Option<String>,
}

impl DevInfo {
    fn print(
        &self,
        imap: &[std::net::SocketAddr],
        smtp: &[std::net::SocketAddr],
        web: Option<std::net::SocketAddr>,
    ) {
        use std::fmt::Write as _;
        let mut out = String::from("liteimap dev is running (Ctrl-C stops it)\n");
        for a in imap {
            let _ = writeln!(
                out,
                "  IMAP      {a}  (no TLS; LOGIN, AUTHENTICATE PLAIN/LOGIN)"
            );
        }
        for a in smtp {
            let _ = writeln!(out, "  SMTP      {a}  (AUTH PLAIN/LOGIN optional)");
        }
        if let Some(a) = web {
            let _ = writeln!(out, "  web       http://{a}/");
        }
        for (name, pass) in &self.users {
            let _ = writeln!(out, "  user      {name}  password {pass}");
        }
        if self.auto_users {
            out.push_str("  any other user name logs in with the password it first gives; mail to an unknown address creates its user\n");
        }
        if let Some(c) = &self.catch_all {
            let _ = writeln!(
                out,
                "  catch-all every SMTP message goes to the INBOX of {c}"
            );
        }
        let _ = writeln!(
            out,
            "  database  {}{}",
            self.db,
            if self.temporary {
                " (deleted at exit)"
            } else {
                " (kept)"
            }
        );
        use std::io::Write as _;
        let mut stdout = std::io::stdout().lock();
        let _ = stdout.write_all(out.as_bytes());
        let _ = stdout.flush();
    }
}

/// The temporary directory of `liteimap dev`'s database (and its -wal and -shm files),
/// removed when dropped: at the end of `serve`, after Ctrl-C or SIGTERM as after an error.
struct DevDir(PathBuf);

impl DevDir {
    fn create() -> Result<DevDir, String> {
        use std::os::unix::fs::DirBuilderExt;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let dir =
            std::env::temp_dir().join(format!("liteimap-dev-{}-{nanos:08x}", std::process::id()));
        std::fs::DirBuilder::new()
            .mode(0o700)
            .create(&dir)
            .map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
        Ok(DevDir(dir))
    }
}

impl Drop for DevDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.0) {
            eprintln!("liteimap: cannot remove {}: {e}", self.0.display());
        }
    }
}

/// `liteimap dev`: `serve` with preset options (one code path: every serve option reaches
/// dev by one line below), on a temporary database unless --keep.
fn run_dev(d: &Dev) -> Result<(), String> {
    for (flag, a) in [("--imap", &d.imap), ("--smtp", &d.smtp), ("--web", &d.web)] {
        let addr: std::net::SocketAddr = a
            .parse()
            .map_err(|_| format!("{flag} {a:?}: expected IP:PORT, e.g. 127.0.0.1:1143"))?;
        if !addr.ip().is_loopback() && !d.public {
            return Err(format!(
                "{flag} {addr} is not a loopback address; dev mode makes users on first use, so anyone who reaches it can read and send mail: add --public to listen there anyway"
            ));
        }
    }
    if d.demo_password.is_empty() {
        return Err("--demo-password must not be empty".into());
    }
    let mut users = vec![("demo".to_string(), d.demo_password.clone())];
    for u in &d.user {
        let (name, pass) = u
            .split_once(':')
            .filter(|(_, p)| !p.is_empty())
            .ok_or_else(|| format!("--user {u:?}: expected NAME:PASS"))?;
        liteimap::cli::valid_user_name(name)?;
        users.push((name.to_string(), pass.to_string()));
    }
    let temp = match &d.keep {
        Some(_) => None,
        None => Some(DevDir::create()?),
    };
    let db = match (&temp, &d.keep) {
        (Some(t), _) => liteimap::database::Database::Sqlite(t.0.join("liteimap.db")),
        (None, Some(k)) => k.clone(),
        (None, None) => return Err("internal error: no database".into()),
    };
    {
        let store = db
            .open()
            .map_err(|e| format!("cannot open database {db}: {e}"))?;
        for (name, pass) in &users {
            let hash = password::hash_cheap(pass.as_bytes())?;
            match store.create_user(name, &hash) {
                Ok(_) => {}
                Err(liteimap::store::StoreError::AlreadyExists(_)) => {
                    store.set_password(name, &hash).map_err(|e| e.to_string())?
                }
                Err(e) => return Err(e.to_string()),
            }
        }
    }
    let mut args: Vec<String> = vec![
        "--listen".into(),
        d.imap.clone(),
        "--smtp-listen".into(),
        d.smtp.clone(),
        "--demo-password".into(),
        d.demo_password.clone(),
    ];
    if !d.no_auto_users {
        args.push("--auto-users".into());
    }
    if !d.public {
        // Tests of wrong passwords get their answer at once (on loopback only).
        args.extend(["--auth-failure-delay-ms".into(), "0".into()]);
    }
    if let Some(c) = &d.catch_all {
        args.extend(["--catch-all".into(), c.clone()]);
    }
    for p in &d.import {
        args.extend(["--import".into(), p.display().to_string()]);
    }
    // The page and its API (which turns the in-memory protocol traces on); the page is
    // loopback only even with --public (serve refuses anything else).
    args.extend(["--web-listen".into(), d.web.clone()]);
    if let Some(t) = &d.trace {
        args.extend(["--trace".into(), t.display().to_string()]);
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let preset = Serve::from_args(&["liteimap dev"], &refs)
        .map_err(|e| format!("dev: {}", e.output.trim()))?;
    let info = DevInfo {
        db: db.clone(),
        temporary: temp.is_some(),
        users,
        auto_users: !d.no_auto_users,
        catch_all: d.catch_all.clone(),
    };
    let cli = Cli {
        db,
        config: None,
        command: Command::Serve(preset),
    };
    let Command::Serve(preset) = &cli.command else {
        return Err("internal error: not a serve command".into());
    };
    let result = serve(&cli, preset, None, Some(&info), args.clone());
    // The database goes with its directory, however serve ended.
    drop(temp);
    result
}
