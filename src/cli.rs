//! Command-line interface (argh structs only; main.rs acts on them, `manpage` renders their
//! ArgsInfo as the manual page).

use std::path::PathBuf;

use argh::{ArgsInfo, FromArgs};

use crate::database::Database;

/// liteimap: an IMAP4rev1 server in one binary, with all of its state (users, folders,
/// messages, flags) in one SQLite file.
#[derive(FromArgs, ArgsInfo, Debug)]
pub struct Cli {
    /// the database: a SQLite file (created if missing; default ./liteimap.db) or a
    /// PostgreSQL URL postgresql://USER[:PASS]@HOST[:PORT]/DBNAME[?sslmode=..] (HOST may be a
    /// socket directory, %2Fpath or ?host=/path; password else PGPASSWORD or ~/.pgpass)
    #[argh(option, default = "Database::default()")]
    pub db: Database,

    /// the configuration file: `db` and every serve flag as a key (default
    /// /etc/liteimap/liteimap.toml if present, then ./liteimap.toml); flags override it
    #[argh(option)]
    pub config: Option<PathBuf>,

    #[argh(subcommand)]
    pub command: Command,
}

#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand)]
// Parsed once at start-up; boxing `Serve` would only obscure the argh derive.
#[allow(clippy::large_enum_variant)]
pub enum Command {
    Serve(Serve),
    Dev(Dev),
    User(User),
    Stdio(Stdio),
    Import(Import),
    Deliver(Deliver),
    Reindex(Reindex),
    Backup(Backup),
    Check(Check),
    Config(ConfigCmd),
    Who(Who),
    Kick(Kick),
    Migrate(Migrate),
}

/// Run the IMAP server. With no users in the database it creates the user `demo` with a random
/// password and prints both on stderr. Logs go to stderr; set RUST_LOG=debug for every command.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "serve")]
pub struct Serve {
    /// address to listen on for IMAP, IP:PORT (repeatable; default 127.0.0.1:1143)
    #[argh(option)]
    pub listen: Vec<String>,

    /// most simultaneous connections; more are greeted with BYE (default 1000)
    #[argh(option, default = "1000")]
    pub max_connections: usize,

    /// connections that have not logged in yet, a share of --max-connections; when it (or the
    /// whole limit) is full, a new connection closes the oldest waiting one of the address
    /// that has the most waiting (default: half of --max-connections)
    #[argh(option)]
    pub max_pre_login_connections: Option<usize>,

    /// seconds a connection may take to log in before it is closed; at most 10 while the
    /// --max-pre-login-connections share is three quarters full (default 60)
    #[argh(option, default = "60")]
    pub login_timeout: u64,

    /// seconds of silence after which a logged-in connection is closed (default 1800)
    #[argh(option, default = "1800")]
    pub idle_timeout: u64,

    /// largest message (APPEND literal) in bytes (default 52428800 = 50 MiB)
    #[argh(option, default = "50 * 1024 * 1024")]
    pub max_message_size: u32,

    /// bytes the literals (APPENDed messages) of all logged-in sessions may hold in memory
    /// together while they arrive and are stored; a literal that does not fit waits for room
    /// (default 67108864 = 64 MiB; one larger than this waits until it is alone)
    #[argh(option, default = "64 * 1024 * 1024")]
    pub max_literal_memory: usize,

    /// bytes the commands of all connections that have not logged in may hold in memory
    /// together (each is at most 65536 bytes, literals included); past it their literals get
    /// NO [LIMIT] and a growing command line BYE (default 16777216 = 16 MiB)
    #[argh(option, default = "16 * 1024 * 1024")]
    pub max_pre_login_memory: usize,

    /// longest command line in bytes, literals excluded (default 65536)
    #[argh(option, default = "64 * 1024")]
    pub max_line_length: usize,

    /// most literals in one command; the one over gets NO [TOOBIG] (default 1000)
    #[argh(option, default = "1000")]
    pub max_literals: usize,

    /// bytes of responses queued for a client before they are written out, even in the middle
    /// of a command: what a client that does not read can make the server hold (default
    /// 262144)
    #[argh(option, default = "256 * 1024")]
    pub max_output_buffer: usize,

    /// seconds a write to a client may make no progress (the client does not read) before
    /// the connection is closed (default 60)
    #[argh(option, default = "60")]
    pub write_timeout: u64,

    /// commands a client may send ahead of reading the answers; the next one gets NO [LIMIT]
    /// (default 1000)
    #[argh(option, default = "1000")]
    pub max_pipelined: usize,

    /// deepest nesting of SEARCH keys in parentheses, OR and NOT (default 8, at most 8)
    #[argh(option, default = "8")]
    pub max_search_depth: usize,

    /// address for implicit-TLS IMAP (the port 993 kind), IP:PORT (repeatable; needs --cert
    /// and --key)
    #[argh(option)]
    pub tls_listen: Vec<String>,

    /// PEM certificate chain, leaf first; with --key enables TLS: implicit-TLS listeners and
    /// STARTTLS on the plain ones. SIGHUP reloads it.
    #[argh(option)]
    pub cert: Option<PathBuf>,

    /// PEM private key (PKCS#8, RSA or EC) for --cert
    #[argh(option)]
    pub key: Option<PathBuf>,

    /// allow LOGIN/AUTHENTICATE over cleartext from non-loopback addresses even with TLS
    /// configured (by default such clients must use STARTTLS first)
    #[argh(switch)]
    pub allow_plaintext: bool,

    /// most connections from one IP address (default 100)
    #[argh(option, default = "100")]
    pub max_connections_per_ip: usize,

    /// most logged-in connections of one user from one IP address (default 10)
    #[argh(option, default = "10")]
    pub max_user_connections_per_ip: usize,

    /// failed logins after which a connection is closed (default 5)
    #[argh(option, default = "5")]
    pub max_auth_failures: u32,

    /// milliseconds before answering the first failed login; doubles with each further failure
    /// of the connection, its address or the user name, up to 16 times; an address's logins
    /// take turns, each waiting for the previous answer (default 500)
    #[argh(option, default = "500")]
    pub auth_failure_delay_ms: u64,

    /// import mail (.eml file, directory, Maildir, Maildir++ or mbox) into the INBOX of
    /// --user before serving (repeatable)
    #[argh(option)]
    pub import: Vec<PathBuf>,

    /// the user --import fills (default demo)
    #[argh(option)]
    pub user: Option<String>,
    /// address to accept LMTP deliveries on, IP:PORT (repeatable; LMTP has no authentication,
    /// so keep it on loopback)
    #[argh(option)]
    pub lmtp_listen: Vec<String>,

    /// path of a Unix socket to accept LMTP deliveries on (created 0660; a stale one is replaced)
    #[argh(option)]
    pub lmtp_socket: Vec<PathBuf>,

    /// recipient domain LMTP accepts (repeatable; default: every domain)
    #[argh(option)]
    pub lmtp_domain: Vec<String>,

    /// keep no search index: SEARCH reads every message again, and the index's disk space
    /// (about half the mail's size) is freed for reuse. Without it, a missing index is built
    /// at start.
    #[argh(switch)]
    pub no_fts: bool,
    /// address to serve OpenMetrics/Prometheus text on at /metrics, IP:PORT (no
    /// authentication: keep it on loopback or behind a firewall)
    #[argh(option)]
    pub metrics_listen: Option<String>,
    /// directory to write a protocol trace of every IMAP and LMTP session to, one file per
    /// session (created 0700 when missing; files 0600; passwords masked, long literals
    /// shortened)
    #[argh(option)]
    pub trace: Option<PathBuf>,
    /// address of the developer web page and its JSON API (/ and /api/v1), IP:PORT on
    /// loopback only: it shows every user's mail without a login
    #[argh(option)]
    pub web_listen: Option<String>,

    /// address to accept SMTP on, IP:PORT (repeatable): a mail sink for tests that stores
    /// every message in its local recipients' INBOX (and, after AUTH, in the sender's Sent);
    /// it relays nothing and needs no authentication, so keep it on loopback
    #[argh(option)]
    pub smtp_listen: Vec<String>,

    /// create unknown users on first use, for tests: an IMAP LOGIN/AUTHENTICATE or SMTP AUTH
    /// creates the user with the password given (SMTP AUTH then takes any password), and SMTP
    /// mail to an unknown user creates it without a password (its first login sets one); such
    /// users get a cheap password hash
    #[argh(switch)]
    pub auto_users: bool,

    /// deliver every SMTP message to this user's INBOX, whatever its recipients
    #[argh(option)]
    pub catch_all: Option<String>,

    /// the password of the user `demo` made when the database has no users (default: a
    /// random one, printed)
    #[argh(option)]
    pub demo_password: Option<String>,

    /// path of the admin socket `liteimap who` and `kick` talk to (created 0600, for this
    /// user only; default: beside the database, DB.admin.sock; a stale one is replaced, a
    /// live one means another server uses this database and is refused)
    #[argh(option)]
    pub admin_socket: Option<PathBuf>,
}

/// A throwaway mail server for developing and testing mail clients and apps that send mail,
/// nothing to configure: a temporary database (deleted at exit, also on Ctrl-C/SIGTERM),
/// IMAP on 127.0.0.1:1143, SMTP on 127.0.0.1:1025, a web page and JSON API showing the mail and
/// each session's protocol trace on http://127.0.0.1:8025/, the user demo (password demo), and
/// any other user created at its first login or by mail to it. Runs `serve` with these
/// settings.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "dev")]
pub struct Dev {
    /// the IMAP address, IP:PORT (default 127.0.0.1:1143)
    #[argh(option, default = "String::from(\"127.0.0.1:1143\")")]
    pub imap: String,

    /// the SMTP address, IP:PORT (default 127.0.0.1:1025)
    #[argh(option, default = "String::from(\"127.0.0.1:1025\")")]
    pub smtp: String,

    /// the web page and its JSON API, IP:PORT on loopback (default 127.0.0.1:8025)
    #[argh(option, default = "String::from(\"127.0.0.1:8025\")")]
    pub web: String,

    /// also write a protocol trace file per session into DIR (the page shows them anyway)
    #[argh(option)]
    pub trace: Option<PathBuf>,

    /// keep the database in FILE, or a postgresql:// URL (used again if it exists), instead
    /// of a temporary one
    #[argh(option)]
    pub keep: Option<Database>,

    /// import mail (.eml file, directory, Maildir, Maildir++ or mbox) into demo's INBOX at
    /// start (repeatable)
    #[argh(option)]
    pub import: Vec<PathBuf>,

    /// create a user NAME with password PASS at start (repeatable)
    #[argh(option)]
    pub user: Vec<String>,

    /// the password of the user demo (default demo)
    #[argh(option, default = "String::from(\"demo\")")]
    pub demo_password: String,

    /// do not create unknown users on first login or for mail to them: only demo and the
    /// --user ones exist
    #[argh(switch)]
    pub no_auto_users: bool,

    /// deliver every SMTP message to this user's INBOX, whatever its recipients
    #[argh(option)]
    pub catch_all: Option<String>,

    /// allow addresses that are not loopback (anyone who reaches them can read and send mail)
    #[argh(switch)]
    pub public: bool,
}

/// Manage users: add, list, remove, passwd, quota, set.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "user")]
pub struct User {
    #[argh(subcommand)]
    pub action: UserAction,
}

#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand)]
pub enum UserAction {
    Add(UserAdd),
    List(UserList),
    Remove(UserRemove),
    Passwd(UserPasswd),
    Quota(UserQuota),
    Set(UserSet),
}

/// Create a user with the default folders (INBOX, Drafts, Sent, Trash, Junk, Archive). Prompts
/// for the password twice, without echo.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "add")]
pub struct UserAdd {
    /// the user name (the IMAP login)
    #[argh(positional)]
    pub name: String,

    /// read the password from the first line of standard input instead of prompting
    #[argh(switch)]
    pub password_stdin: bool,
}

/// List users, how many messages each has, and their quota usage and limits.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "list")]
pub struct UserList {}

/// Remove a user with all of its folders and messages.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "remove")]
pub struct UserRemove {
    /// the user name
    #[argh(positional)]
    pub name: String,
}

/// Change a user's password. Prompts twice, without echo.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "passwd")]
pub struct UserPasswd {
    /// the user name
    #[argh(positional)]
    pub name: String,

    /// read the password from the first line of standard input instead of prompting
    #[argh(switch)]
    pub password_stdin: bool,
}

/// Set a user's quota limits (RFC 9208: its one quota root ""). Each limit given replaces the
/// old one; "none" removes it; a limit not given stays as it was.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "quota")]
pub struct UserQuota {
    /// the user name
    #[argh(positional)]
    pub name: String,

    /// storage limit in octets, or with a suffix K, M, G or T (powers of 1024), or "none"
    #[argh(option, from_str_fn(parse_quota_size))]
    pub storage: Option<Option<u64>>,

    /// the most messages the user may keep, or "none"
    #[argh(option, from_str_fn(parse_quota_count))]
    pub messages: Option<Option<u64>>,

    /// the most mailboxes the user may have, or "none"
    #[argh(option, from_str_fn(parse_quota_count))]
    pub mailboxes: Option<Option<u64>>,
}

/// Change a user's settings: withhold a capability from it or offer it again. Takes effect at
/// the user's next login.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "set")]
pub struct UserSet {
    /// the user name
    #[argh(positional)]
    pub name: String,

    /// withhold UIDONLY (RFC 9586): not advertised, and ENABLE UIDONLY enables nothing (for a
    /// client that enables it and then sends sequence numbers anyway)
    #[argh(switch)]
    pub no_uidonly: bool,

    /// offer UIDONLY again (the default)
    #[argh(switch)]
    pub uidonly: bool,
}

/// `none` (no limit) or a count.
fn parse_quota_count(s: &str) -> Result<Option<u64>, String> {
    if s.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    s.parse()
        .map(Some)
        .map_err(|_| format!("expected a number or \"none\", not {s:?}"))
}

/// `none`, or octets with an optional K/M/G/T suffix (powers of 1024, as quota tools mean them).
pub fn parse_quota_size(s: &str) -> Result<Option<u64>, String> {
    if s.eq_ignore_ascii_case("none") {
        return Ok(None);
    }
    let (digits, unit) = match s.char_indices().last() {
        Some((i, c)) if c.is_ascii_alphabetic() => (&s[..i], c.to_ascii_uppercase()),
        _ => (s, 'B'),
    };
    let shift = match unit {
        'B' => 0,
        'K' => 10,
        'M' => 20,
        'G' => 30,
        'T' => 40,
        _ => return Err(format!("unknown size unit in {s:?} (use K, M, G or T)")),
    };
    let n: u64 = digits
        .parse()
        .map_err(|_| format!("expected a size such as 500M or \"none\", not {s:?}"))?;
    n.checked_mul(1u64 << shift)
        .map(Some)
        .ok_or_else(|| format!("size {s:?} is too large"))
}

/// Store one message read from standard input (for an MTA's mailbox_command). Exit codes follow
/// sysexits.h: 0 stored, 64 usage, 65 empty or oversized message (or larger than the quota), 67 no such user, 73 no such
/// mailbox, 74 cannot read standard input, 75 temporary failure (database busy; the MTA retries).
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "deliver")]
pub struct Deliver {
    /// the user to deliver to
    #[argh(option)]
    pub user: String,

    /// the folder to deliver into (default INBOX; it must exist)
    #[argh(option, default = "String::from(\"INBOX\")")]
    pub mailbox: String,

    /// largest message in bytes (default 52428800 = 50 MiB)
    #[argh(option, default = "50 * 1024 * 1024")]
    pub max_message_size: u64,
}

/// Speak IMAP on stdin/stdout, already logged in as a user (PREAUTH), for mail clients that
/// tunnel through a command (mutt `tunnel`, mbsync `Tunnel`, offlineimap `preauthtunnel`).
/// Logs go to stderr only.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "stdio")]
pub struct Stdio {
    /// the user to log in as
    #[argh(option)]
    pub user: String,
}

/// Import mail into a folder: .eml files, directories of them (recursively), a Maildir, a
/// Maildir++ tree (its .Sub.Folder directories become folders) or an mbox file. Messages
/// already in the folder (the same bytes) are skipped, so running it again is harmless.
/// Ctrl-C stops after the current batch with everything so far stored.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "import")]
pub struct Import {
    /// the user whose folder receives the mail
    #[argh(option)]
    pub user: String,

    /// the folder (default INBOX; created when missing)
    #[argh(option, default = "String::from(\"INBOX\")")]
    pub mailbox: String,

    /// files and directories to import
    #[argh(positional, greedy)]
    pub paths: Vec<PathBuf>,
}

/// Build the search index again from every stored message, with progress (run it while no
/// server writes to the database: it is one transaction). Also turns the index back on after
/// `serve --no-fts`.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "reindex")]
pub struct Reindex {}

/// Copy the database to a new file while the server may be running (SQLite's online backup
/// API: one consistent snapshot), showing progress, and verify the copy with integrity_check.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "backup")]
pub struct Backup {
    /// the new file (must not exist; created 0600)
    #[argh(positional)]
    pub file: PathBuf,
}

/// Check the database without changing it: SQLite's integrity_check, foreign keys, unused or
/// shared message bodies, UIDNEXT above every UID, HIGHESTMODSEQ at or above every modseq.
/// Prints a report; exits 1 when it found problems.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "check")]
pub struct Check {}

/// The configuration file: `liteimap config check` reads it as `serve` would and reports every
/// unknown key and bad value with its line.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "config")]
pub struct ConfigCmd {
    #[argh(subcommand)]
    pub action: ConfigAction,
}

#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand)]
pub enum ConfigAction {
    Check(ConfigCheck),
}

/// Check the configuration file (--config, or the default one) without starting anything;
/// exit 1 with one line per problem.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "check")]
pub struct ConfigCheck {}

/// The names `user add` (and the web API) accept: 1-255 printable ASCII characters without
/// spaces, quotes or backslashes (LOGIN can send them as atoms or plain quoted strings).
pub fn valid_user_name(name: &str) -> Result<(), String> {
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

/// List the running server's sessions (through its admin socket): id, protocol (imap, lmtp),
/// user ("-" before login), client address, selected mailbox, since when (UTC), TLS or not.
/// Tab-separated, a header line first.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "who")]
pub struct Who {
    /// the server's admin socket (default: the admin-socket key of the configuration file,
    /// else DB.admin.sock beside the database)
    #[argh(option)]
    pub admin_socket: Option<PathBuf>,
}

/// End every session of a user on the running server: each gets a BYE and is closed (one
/// running a command finishes it first). Exits 1 when the user has no session.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "kick")]
pub struct Kick {
    /// the user name
    #[argh(positional)]
    pub user: String,

    /// the server's admin socket (default: the admin-socket key of the configuration file,
    /// else DB.admin.sock beside the database)
    #[argh(option)]
    pub admin_socket: Option<PathBuf>,
}

/// Copy every user (password hashes, quotas, withheld capabilities, subscriptions, metadata),
/// folder (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, special use) and message (UIDs, modseqs,
/// dates, flags, object ids) from one database to another, SQLite or PostgreSQL either way, so
/// that clients keep their caches. The target must be empty, or an interrupted copy of the same
/// source (the run then goes on where it stopped). Stop the server first. Progress on stderr;
/// at the end users, folders and per folder UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, messages and
/// bytes are compared: exit 1 with the differences, 3 when stopped by --limit.
#[derive(FromArgs, ArgsInfo, Debug)]
#[argh(subcommand, name = "migrate")]
pub struct Migrate {
    /// the database to copy from: a SQLite file or a postgresql:// URL
    #[argh(option)]
    pub from: Database,

    /// the database to copy into (a new SQLite file, or an empty PostgreSQL database)
    #[argh(option)]
    pub to: Database,

    /// stop after copying this many messages (run again to go on)
    #[argh(option)]
    pub limit: Option<u64>,

    /// messages per transaction (default 500)
    #[argh(option, default = "500")]
    pub page_messages: usize,
}
