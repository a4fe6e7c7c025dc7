//! `--db`: a SQLite file, or a PostgreSQL database named by a `postgresql://` (or `postgres://`)
//! URL with libpq's conventions. The URL is parsed by the PostgreSQL client crate; what libpq
//! adds around it is here: defaults from `PGHOST`, `PGPORT`, `PGUSER` and `PGDATABASE`, the
//! password from the URL, else `PGPASSWORD`, else the password file (`PGPASSFILE`, else
//! `~/.pgpass`; ignored with a warning when group or others may read it, as libpq does), and
//! `sslmode` (there is no TLS connector yet, so only the modes that may go without TLS).
//!
//! What is shown of a URL (logs, errors, `who`, metrics) never carries its password.

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use crate::store::{Store, StoreError};

/// libpq's default port, and its socket directory on Debian.
const DEFAULT_PORT: u16 = 5432;
const DEFAULT_SOCKET_DIR: &str = "/var/run/postgresql";

/// Where the store is: the value of `--db`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Database {
    /// A SQLite file.
    Sqlite(PathBuf),
    /// A PostgreSQL database: the URL as given (shown redacted).
    Postgres(PgUrl),
}

/// A `postgresql://` URL as given on the command line or in the configuration file.
#[derive(Clone, PartialEq, Eq)]
pub struct PgUrl(String);

impl fmt::Debug for PgUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "PgUrl({})", redact(&self.0))
    }
}

impl Default for Database {
    fn default() -> Database {
        Database::Sqlite(PathBuf::from("liteimap.db"))
    }
}

impl FromStr for Database {
    type Err = String;

    /// A URL by its scheme; anything else is a file path. A URL is parsed when the store is
    /// opened, so no error echoes the value with its password (as a usage error would).
    fn from_str(s: &str) -> Result<Database, String> {
        Ok(if is_url(s) {
            Database::Postgres(PgUrl(s.to_string()))
        } else {
            Database::Sqlite(PathBuf::from(s))
        })
    }
}

/// Shown without the password.
impl fmt::Display for Database {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Database::Sqlite(p) => write!(f, "{}", p.display()),
            Database::Postgres(u) => f.write_str(&redact(&u.0)),
        }
    }
}

fn is_url(s: &str) -> bool {
    s.starts_with("postgresql://") || s.starts_with("postgres://")
}

/// The URL with the password (between `user:` and `@`, or a `password=` parameter) replaced
/// by `***`.
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_string();
    };
    let mut out = url.to_string();
    // Up to the last '@' before the query: a password with an unencoded '/' or '@' is still
    // covered (a '@' in the path at worst hides more than the password).
    let query = out.find('?').unwrap_or(out.len()).max(scheme_end);
    if let Some(at) = out[scheme_end..query].rfind('@') {
        let userinfo = scheme_end..scheme_end + at;
        if let Some(colon) = out[userinfo.clone()].find(':') {
            out.replace_range(scheme_end + colon + 1..userinfo.end, "***");
        }
    }
    if let Some(q) = out.find('?') {
        let query: Vec<String> = out[q + 1..]
            .split('&')
            .map(|kv| match kv.split_once('=') {
                Some((k, _)) if k == "password" => format!("{k}=***"),
                _ => kv.to_string(),
            })
            .collect();
        out.replace_range(q + 1.., &query.join("&"));
    }
    out
}

/// What the password resolution reads from the environment (a parameter, so the tests need
/// not change the process's own).
pub struct Env<'a> {
    pub var: &'a dyn Fn(&str) -> Option<String>,
    pub home: Option<PathBuf>,
}

impl Env<'_> {
    /// The process's environment.
    pub fn process() -> Env<'static> {
        Env {
            var: &|k| std::env::var(k).ok().filter(|v| !v.is_empty()),
            home: std::env::var_os("HOME").map(PathBuf::from),
        }
    }
}

impl PgUrl {
    fn parsed(&self) -> Result<postgres::Config, String> {
        let redacted = redact(&self.0);
        // The client crate knows disable, prefer and require; libpq's verify-ca and
        // verify-full need a TLS connector, as require does (refused in `conninfo`).
        if self.0.contains("sslmode=verify-") {
            return Err(no_tls(&redacted));
        }
        postgres::Config::from_str(&self.0).map_err(|e| format!("{redacted}: {e}"))
    }

    /// The connection string for the PostgreSQL store (libpq key=value form): the URL's
    /// settings, libpq's environment defaults for what it leaves out, and the password.
    pub fn conninfo(&self, env: &Env) -> Result<String, String> {
        use postgres::config::{Host, SslMode};
        let config = self.parsed()?;
        let redacted = redact(&self.0);
        if config.get_ssl_mode() == SslMode::Require {
            return Err(no_tls(&redacted));
        }
        let var = env.var;
        let hosts: Vec<String> = match config.get_hosts() {
            [] => vec![var("PGHOST").unwrap_or_else(|| DEFAULT_SOCKET_DIR.into())],
            hosts => hosts
                .iter()
                .map(|h| match h {
                    Host::Tcp(name) => name.clone(),
                    Host::Unix(dir) => dir.display().to_string(),
                })
                .collect(),
        };
        let port = match config.get_ports() {
            [] => match var("PGPORT") {
                Some(p) => p
                    .parse::<u16>()
                    .map_err(|_| format!("PGPORT {p:?} is not a port number"))?,
                None => DEFAULT_PORT,
            },
            [p, ..] => *p,
        };
        let user = match config.get_user() {
            Some(u) => u.to_string(),
            None => var("PGUSER")
                .or_else(|| var("USER"))
                .or_else(|| var("LOGNAME"))
                .ok_or_else(|| {
                    format!("{redacted}: no user name: give one (postgresql://USER@HOST/DB) or set PGUSER")
                })?,
        };
        let dbname = match config.get_dbname() {
            Some(d) => d.to_string(),
            None => var("PGDATABASE").unwrap_or_else(|| user.clone()),
        };
        let password = match config.get_password() {
            Some(p) => Some(
                String::from_utf8(p.to_vec())
                    .map_err(|_| format!("{redacted}: the password is not UTF-8"))?,
            ),
            None => var("PGPASSWORD").or_else(|| {
                let file = var("PGPASSFILE")
                    .map(PathBuf::from)
                    .or_else(|| env.home.as_ref().map(|h| h.join(".pgpass")))?;
                let host = hosts.first().map_or("", String::as_str);
                pgpass_lookup(&file, host, port, &dbname, &user)
            }),
        };
        let mut out = vec![
            format!("host={}", quote(&hosts.join(","))),
            format!("port={port}"),
            format!("user={}", quote(&user)),
            format!("dbname={}", quote(&dbname)),
            // No TLS connector: never attempt TLS (prefer would fall back to this anyway).
            "sslmode=disable".to_string(),
        ];
        if let Some(p) = password {
            out.push(format!("password={}", quote(&p)));
        }
        out.push(format!(
            "application_name={}",
            quote(config.get_application_name().unwrap_or("liteimap"))
        ));
        if let Some(t) = config.get_connect_timeout() {
            out.push(format!("connect_timeout={}", t.as_secs().max(1)));
        }
        if let Some(o) = config.get_options() {
            out.push(format!("options={}", quote(o)));
        }
        Ok(out.join(" "))
    }
}

fn no_tls(redacted: &str) -> String {
    format!(
        "{redacted}: sslmode require, verify-ca and verify-full need TLS, which liteimap cannot speak to PostgreSQL yet; use a Unix socket (host=/path) or a trusted network with sslmode=disable or prefer"
    )
}

/// A key=value value in single quotes, `\` and `'` escaped.
fn quote(v: &str) -> String {
    format!("'{}'", v.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// The password for (host, port, dbname, user) from a libpq password file: lines
/// `hostname:port:database:username:password`, `*` matching anything, `\` escaping `:` and
/// `\`, `#` starting a comment; the first matching line wins. A Unix socket in libpq's
/// default directory also matches `localhost`. Not used (with a warning on stderr, as libpq
/// gives) when it is not a plain file or group or others have any access to it.
pub fn pgpass_lookup(
    file: &Path,
    host: &str,
    port: u16,
    dbname: &str,
    user: &str,
) -> Option<String> {
    use std::os::unix::fs::PermissionsExt;
    let meta = std::fs::metadata(file).ok()?;
    if !meta.is_file() {
        eprintln!(
            "liteimap: password file \"{}\" is not a plain file",
            file.display()
        );
        return None;
    }
    if meta.permissions().mode() & 0o077 != 0 {
        eprintln!(
            "liteimap: password file \"{}\" has group or world access; permissions should be u=rw (0600) or less (ignored)",
            file.display()
        );
        return None;
    }
    let text = std::fs::read_to_string(file).ok()?;
    let port = port.to_string();
    let local = host.starts_with('/') && (host == DEFAULT_SOCKET_DIR || host == "/run/postgresql");
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(pgpass_fields)
        .find(|f| {
            let is = |field: &str, v: &str| field == "*" || field == v;
            (is(&f[0], host) || (local && is(&f[0], "localhost")))
                && is(&f[1], &port)
                && is(&f[2], dbname)
                && is(&f[3], user)
        })
        .map(|mut f| f.swap_remove(4))
}

/// A password file line's five fields (unescaped), or None for a line with fewer.
fn pgpass_fields(line: &str) -> Option<Vec<String>> {
    let mut fields = vec![String::new()];
    let mut chars = line.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => {
                if let Some(next) = chars.next() {
                    fields.last_mut()?.push(next);
                }
            }
            // The password is the rest of the line: a later ':' is its own.
            ':' if fields.len() < 5 => fields.push(String::new()),
            c => fields.last_mut()?.push(c),
        }
    }
    (fields.len() == 5).then_some(fields)
}

impl Database {
    /// The SQLite file, if the store is one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            Database::Sqlite(p) => Some(p),
            Database::Postgres(_) => None,
        }
    }

    /// Open the store. PostgreSQL over a Unix socket that is not there is refused here, with
    /// the socket's name, rather than by a connection attempt.
    pub fn open(&self) -> Result<Store, StoreError> {
        match self {
            Database::Sqlite(p) => Store::open(p),
            Database::Postgres(url) => {
                let unusable = |why: String| StoreError::Unusable(redact(&url.0).into(), why);
                let conninfo = url.conninfo(&Env::process()).map_err(unusable)?;
                let config =
                    postgres::Config::from_str(&conninfo).map_err(|e| unusable(e.to_string()))?;
                let port = config.get_ports().first().copied().unwrap_or(DEFAULT_PORT);
                let sockets: Vec<PathBuf> = config
                    .get_hosts()
                    .iter()
                    .filter_map(|h| match h {
                        postgres::config::Host::Unix(dir) => {
                            Some(dir.join(format!(".s.PGSQL.{port}")))
                        }
                        postgres::config::Host::Tcp(_) => None,
                    })
                    .collect();
                if sockets.len() == config.get_hosts().len() && !sockets.iter().any(|s| s.exists())
                {
                    return Err(StoreError::Unavailable(format!(
                        "no PostgreSQL server is listening on {} (is it running, and is that its socket directory?)",
                        sockets
                            .iter()
                            .map(|s| s.display().to_string())
                            .collect::<Vec<_>>()
                            .join(", ")
                    )));
                }
                Store::open_postgres(&conninfo)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn conninfo(url: &str, vars: &[(&str, &str)], home: Option<&Path>) -> Result<String, String> {
        let vars: HashMap<String, String> = vars
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let var = move |k: &str| vars.get(k).cloned();
        let env = Env {
            var: &var,
            home: home.map(Path::to_path_buf),
        };
        match url.parse::<Database>()? {
            Database::Postgres(u) => u.conninfo(&env),
            Database::Sqlite(p) => Err(format!("parsed as a file: {}", p.display())),
        }
    }

    fn temp_dir(tag: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("liteimap-dburl-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    fn write_mode(path: &Path, text: &str, mode: u32) {
        use std::os::unix::fs::PermissionsExt;
        std::fs::write(path, text).unwrap();
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).unwrap();
    }

    #[test]
    fn paths_stay_files_and_urls_are_postgres() {
        assert_eq!(
            "mail.db".parse::<Database>(),
            Ok(Database::Sqlite("mail.db".into()))
        );
        assert_eq!(
            "/var/lib/postgresql://x".parse::<Database>(),
            Ok(Database::Sqlite("/var/lib/postgresql://x".into()))
        );
        assert!(matches!(
            "postgres://u@h/d".parse::<Database>(),
            Ok(Database::Postgres(_))
        ));
        let e = conninfo("postgresql://u:pw@h:notaport/d", &[], None).unwrap_err();
        assert!(e.starts_with("postgresql://u:***@h:notaport/d: "), "{e}");
    }

    #[test]
    fn url_parts_become_conninfo() {
        assert_eq!(
            conninfo("postgresql://mail:s3cr%27t@db.example:6432/imap", &[], None).unwrap(),
            "host='db.example' port=6432 user='mail' dbname='imap' sslmode=disable password='s3cr\\'t' application_name='liteimap'"
        );
        // A Unix socket directory, percent-encoded in the host or as a parameter.
        assert_eq!(
            conninfo("postgresql://mail@%2Frun%2Fpg/imap", &[], None).unwrap(),
            "host='/run/pg' port=5432 user='mail' dbname='imap' sslmode=disable application_name='liteimap'"
        );
        assert_eq!(
            conninfo("postgresql:///imap?host=/tmp/s&user=mail&port=7000&sslmode=prefer", &[], None)
                .unwrap(),
            "host='/tmp/s' port=7000 user='mail' dbname='imap' sslmode=disable application_name='liteimap'"
        );
    }

    #[test]
    fn environment_fills_what_the_url_leaves_out() {
        let env = [
            ("PGHOST", "/run/x"),
            ("PGPORT", "5433"),
            ("PGUSER", "alice"),
            ("USER", "root"),
        ];
        assert_eq!(
            conninfo("postgresql://", &env, None).unwrap(),
            "host='/run/x' port=5433 user='alice' dbname='alice' sslmode=disable application_name='liteimap'"
        );
        let with_db = [("USER", "bob"), ("PGDATABASE", "mail")];
        assert_eq!(
            conninfo("postgres://", &with_db, None).unwrap(),
            "host='/var/run/postgresql' port=5432 user='bob' dbname='mail' sslmode=disable application_name='liteimap'"
        );
        assert!(conninfo("postgresql://", &[], None)
            .unwrap_err()
            .contains("no user name"));
    }

    #[test]
    fn password_from_url_then_pgpassword_then_file() {
        let dir = temp_dir("pw");
        write_mode(
            &dir.join(".pgpass"),
            "# comment\nother:*:*:*:nope\ndb:5432:imap:mail:fromfile\n",
            0o600,
        );
        let home = Some(dir.as_path());
        let url = "postgresql://mail@db/imap";
        assert!(conninfo(url, &[], home)
            .unwrap()
            .contains("password='fromfile'"));
        assert!(conninfo(url, &[("PGPASSWORD", "fromenv")], home)
            .unwrap()
            .contains("password='fromenv'"));
        assert!(conninfo(
            "postgresql://mail:fromurl@db/imap",
            &[("PGPASSWORD", "fromenv")],
            home
        )
        .unwrap()
        .contains("password='fromurl'"));
        // PGPASSFILE instead of ~/.pgpass.
        write_mode(&dir.join("other"), "*:*:*:*:elsewhere\n", 0o600);
        let other = dir.join("other").display().to_string();
        assert!(conninfo(url, &[("PGPASSFILE", &other)], home)
            .unwrap()
            .contains("password='elsewhere'"));
        // No match: no password at all.
        assert!(!conninfo("postgresql://mail@db/other", &[], home)
            .unwrap()
            .contains("password"));
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn password_file_format_and_mode() {
        let dir = temp_dir("pgpass");
        let file = dir.join("pgpass");
        write_mode(
            &file,
            "h\\:x:*:db:u:first\n*:5432:*:u:pass:with\\:colons\nlocalhost:*:*:*:local\n",
            0o600,
        );
        // `\:` in a field is a colon; the first matching line wins.
        assert_eq!(
            pgpass_lookup(&file, "h:x", 1, "db", "u").as_deref(),
            Some("first")
        );
        assert_eq!(
            pgpass_lookup(&file, "h:x", 1, "other", "u"),
            None,
            "port 1 matches no other line"
        );
        assert_eq!(
            pgpass_lookup(&file, "any", 5432, "any", "u").as_deref(),
            Some("pass:with:colons")
        );
        // The default socket directory matches localhost; another directory does not.
        assert_eq!(
            pgpass_lookup(&file, DEFAULT_SOCKET_DIR, 1, "d", "v").as_deref(),
            Some("local")
        );
        assert_eq!(pgpass_lookup(&file, "/tmp/sock", 1, "d", "v"), None);
        // Group- or world-readable: ignored, as libpq does.
        write_mode(&file, "*:*:*:*:secret\n", 0o640);
        assert_eq!(pgpass_lookup(&file, "h", 1, "d", "u"), None);
        write_mode(&file, "*:*:*:*:secret\n", 0o400);
        assert_eq!(
            pgpass_lookup(&file, "h", 1, "d", "u").as_deref(),
            Some("secret")
        );
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn tls_modes_are_refused_clearly() {
        for mode in ["require", "verify-ca", "verify-full"] {
            let e =
                conninfo(&format!("postgresql://u:pw@h/d?sslmode={mode}"), &[], None).unwrap_err();
            assert!(e.contains("need TLS"), "{mode}: {e}");
            assert!(!e.contains("pw@"), "{e}");
        }
    }

    #[test]
    fn shown_urls_carry_no_password() {
        assert_eq!(
            redact("postgresql://mail:s3cret@db:5432/imap"),
            "postgresql://mail:***@db:5432/imap"
        );
        assert_eq!(
            redact("postgresql://db/imap?user=u&password=s3cret&sslmode=disable"),
            "postgresql://db/imap?user=u&password=***&sslmode=disable"
        );
        assert_eq!(redact("postgres://mail@db/imap"), "postgres://mail@db/imap");
        assert_eq!(
            redact("postgresql://mail:a/b@c@db/imap"),
            "postgresql://mail:***@db/imap"
        );
        let db: Database = "postgresql://m:pw@h/d".parse().unwrap();
        assert_eq!(db.to_string(), "postgresql://m:***@h/d");
        assert!(!format!("{db:?}").contains("pw"));
    }
}
