//! The configuration file, `liteimap.toml`: `db` and every `serve` flag as a key (the flag's
//! name without `--`). It is turned into command-line arguments placed before the ones given,
//! so a flag on the command line overrides the file's key, and the one set of checks (argh's
//! parsing, `serve`'s ranges) applies to both.

use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Where the file is looked for when `--config` is not given, first found wins.
pub const DEFAULT_PATHS: &[&str] = &["/etc/liteimap/liteimap.toml", "liteimap.toml"];

/// The keys and their types. Only for checking: the values are passed on as arguments.
#[derive(Deserialize, Debug)]
#[serde(deny_unknown_fields, rename_all = "kebab-case")]
#[allow(dead_code)]
struct Keys {
    db: Option<PathBuf>,
    listen: Option<Vec<String>>,
    max_connections: Option<u64>,
    max_pre_login_connections: Option<u64>,
    login_timeout: Option<u64>,
    idle_timeout: Option<u64>,
    max_message_size: Option<u32>,
    max_literal_memory: Option<u64>,
    max_pre_login_memory: Option<u64>,
    max_line_length: Option<u64>,
    max_literals: Option<u64>,
    max_output_buffer: Option<u64>,
    write_timeout: Option<u64>,
    max_pipelined: Option<u64>,
    max_search_depth: Option<u64>,
    tls_listen: Option<Vec<String>>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
    allow_plaintext: Option<bool>,
    max_connections_per_ip: Option<u64>,
    max_user_connections_per_ip: Option<u64>,
    max_auth_failures: Option<u32>,
    auth_failure_delay_ms: Option<u64>,
    import: Option<Vec<PathBuf>>,
    user: Option<String>,
    lmtp_listen: Option<Vec<String>>,
    lmtp_socket: Option<Vec<PathBuf>>,
    lmtp_domain: Option<Vec<String>>,
    metrics_listen: Option<String>,
    web_listen: Option<String>,
    no_fts: Option<bool>,
    trace: Option<PathBuf>,
    smtp_listen: Option<Vec<String>>,
    auto_users: Option<bool>,
    catch_all: Option<String>,
    demo_password: Option<String>,
    admin_socket: Option<PathBuf>,
}

/// Keys that are not `serve` flags.
const GLOBAL_KEYS: &[&str] = &["db"];

/// A parsed, type-checked configuration file.
#[derive(Clone, Debug, PartialEq)]
pub struct File {
    pub path: PathBuf,
    text: String,
    table: toml::Table,
}

/// One problem in the file, with its line (1-based) when known.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Problem {
    pub line: Option<usize>,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(l) => write!(f, "line {l}: {}", self.message),
            None => write!(f, "{}", self.message),
        }
    }
}

/// The file to use: `--config FILE` (which must exist), else the first of `DEFAULT_PATHS`
/// that exists, else none.
pub fn locate(explicit: Option<&Path>) -> Option<PathBuf> {
    if let Some(p) = explicit {
        return Some(p.to_path_buf());
    }
    DEFAULT_PATHS
        .iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
}

impl File {
    /// Read and check `path`: every unknown key and the first badly typed value, each with its
    /// line.
    pub fn load(path: &Path) -> Result<File, Vec<Problem>> {
        let text = std::fs::read_to_string(path).map_err(|e| {
            vec![Problem {
                line: None,
                message: format!("cannot read {}: {e}", path.display()),
            }]
        })?;
        Self::parse(path, text)
    }

    pub fn parse(path: &Path, text: String) -> Result<File, Vec<Problem>> {
        let table: toml::Table = toml::from_str(&text).map_err(|e| vec![problem(&text, &e)])?;
        let mut problems: Vec<Problem> = table
            .keys()
            .filter(|k| !known(k))
            .map(|k| Problem {
                line: key_line(&text, k),
                message: format!(
                    "unknown key {k:?} (the keys are db and the serve flags without --)"
                ),
            })
            .collect();
        if problems.is_empty() {
            if let Err(e) = toml::from_str::<Keys>(&text) {
                problems.push(problem(&text, &e));
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(File {
            path: path.to_path_buf(),
            text,
            table,
        })
    }

    /// The line a key is set on, for messages about its value.
    pub fn line_of(&self, key: &str) -> Option<usize> {
        key_line(&self.text, key)
    }

    /// The `db` key.
    pub fn db(&self) -> Option<PathBuf> {
        self.table
            .get("db")
            .and_then(toml::Value::as_str)
            .map(PathBuf::from)
    }

    /// A key's value when it is a string (`admin-socket` for `who` and `kick`).
    pub fn string(&self, key: &str) -> Option<&str> {
        self.table.get(key).and_then(toml::Value::as_str)
    }

    /// The serve flags the file sets, as arguments, leaving out those whose flag is in
    /// `given` (the command line's own: they override).
    pub fn serve_args(&self, given: &[String]) -> Vec<String> {
        let mut out = Vec::new();
        for (key, value) in &self.table {
            if GLOBAL_KEYS.contains(&key.as_str()) {
                continue;
            }
            if overridden(key, given) {
                continue;
            }
            let flag = format!("--{key}");
            let values: Vec<&toml::Value> = match value {
                toml::Value::Array(a) => a.iter().collect(),
                v => vec![v],
            };
            for v in values {
                match v {
                    toml::Value::Boolean(true) => out.push(flag.clone()),
                    toml::Value::Boolean(false) => {}
                    toml::Value::String(s) => out.extend([flag.clone(), s.clone()]),
                    other => out.extend([flag.clone(), other.to_string()]),
                }
            }
        }
        out
    }

    /// The keys whose values differ between two versions of the file.
    pub fn changed_keys(&self, newer: &File) -> Vec<String> {
        let mut keys: Vec<String> = self
            .table
            .keys()
            .chain(newer.table.keys())
            .filter(|k| self.table.get(*k) != newer.table.get(*k))
            .cloned()
            .collect();
        keys.sort();
        keys.dedup();
        keys
    }
}

/// Whether the flag of `key` is among the command line's arguments `given`.
pub fn overridden(key: &str, given: &[String]) -> bool {
    let flag = format!("--{key}");
    given
        .iter()
        .any(|g| *g == flag || g.starts_with(&format!("{flag}=")))
}

/// Whether `key` is a key of the file.
fn known(key: &str) -> bool {
    KEY_NAMES.contains(&key)
}

/// Every key, in the order of `Keys` (kept equal to it by a test).
pub const KEY_NAMES: &[&str] = &[
    "db",
    "listen",
    "max-connections",
    "max-pre-login-connections",
    "login-timeout",
    "idle-timeout",
    "max-message-size",
    "max-literal-memory",
    "max-pre-login-memory",
    "max-line-length",
    "max-literals",
    "max-output-buffer",
    "write-timeout",
    "max-pipelined",
    "max-search-depth",
    "tls-listen",
    "cert",
    "key",
    "allow-plaintext",
    "max-connections-per-ip",
    "max-user-connections-per-ip",
    "max-auth-failures",
    "auth-failure-delay-ms",
    "import",
    "user",
    "lmtp-listen",
    "lmtp-socket",
    "lmtp-domain",
    "metrics-listen",
    "web-listen",
    "no-fts",
    "trace",
    "smtp-listen",
    "auto-users",
    "catch-all",
    "demo-password",
    "admin-socket",
];

/// The keys SIGHUP applies while the server runs (to new connections and commands); every
/// other key takes a restart. The memory pools (`max-literal-memory`, `max-pre-login-memory`)
/// keep the size they started with, and LMTP the size and connection limits it started with.
pub const LIVE_KEYS: &[&str] = &[
    "max-connections",
    "max-pre-login-connections",
    "login-timeout",
    "idle-timeout",
    "max-message-size",
    "max-line-length",
    "max-literals",
    "max-output-buffer",
    "write-timeout",
    "max-pipelined",
    "max-search-depth",
    "allow-plaintext",
    "max-connections-per-ip",
    "max-user-connections-per-ip",
    "max-auth-failures",
    "auth-failure-delay-ms",
];

/// The 1-based line of `key = …` at the top level.
fn key_line(text: &str, key: &str) -> Option<usize> {
    text.lines()
        .position(|l| {
            let l = l.trim_start();
            let rest = l
                .strip_prefix(key)
                .or_else(|| l.strip_prefix(&format!("\"{key}\"")));
            rest.is_some_and(|r| r.trim_start().starts_with('='))
        })
        .map(|i| i + 1)
}

fn problem(text: &str, e: &toml::de::Error) -> Problem {
    let line = e
        .span()
        .map(|s| text.get(..s.start).unwrap_or(text).matches('\n').count() + 1);
    Problem {
        line,
        message: e.message().trim().to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_key_is_a_field_and_back() {
        // A file with every key parses (types aside: a wrong type is reported, not an
        // unknown key), and a field not in KEY_NAMES would be an unknown key.
        for k in KEY_NAMES {
            let text = format!("{k} = 1\n");
            let err = File::parse(Path::new("t.toml"), text).err();
            if let Some(p) = err {
                assert!(!p[0].message.contains("unknown"), "{k}: {p:?}");
            }
        }
    }

    #[test]
    fn unknown_keys_and_bad_values_have_their_lines() {
        let text =
            "db = \"x.db\"\nlisten = [\"127.0.0.1:1\"]\nfrobnicate = 1\nmax_connections = 3\n";
        let p = File::parse(Path::new("t.toml"), text.into()).unwrap_err();
        assert_eq!(
            p.iter().map(ToString::to_string).collect::<Vec<_>>(),
            [
                "line 3: unknown key \"frobnicate\" (the keys are db and the serve flags without --)",
                "line 4: unknown key \"max_connections\" (the keys are db and the serve flags without --)",
            ]
        );
        let p = File::parse(
            Path::new("t.toml"),
            "listen = []\nmax-search-depth = \"deep\"\n".into(),
        )
        .unwrap_err();
        assert_eq!(p.len(), 1);
        assert_eq!(p[0].line, Some(2), "{p:?}");
        assert!(p[0].message.contains("invalid type"), "{p:?}");
        let p = File::parse(Path::new("t.toml"), "\nlisten = [\n".into()).unwrap_err();
        assert_eq!(p[0].line, Some(2), "{p:?}");
        assert_eq!(p[0].message, "unclosed array, expected `]`");
    }

    #[test]
    fn flags_on_the_command_line_override_the_file() {
        let f = File::parse(
            Path::new("t.toml"),
            "db = \"m.db\"\nlisten = [\"127.0.0.1:1\", \"[::1]:1\"]\nallow-plaintext = true\nmax-connections = 7\nidle-timeout = 5\n".into(),
        )
        .unwrap();
        assert_eq!(f.db(), Some(PathBuf::from("m.db")));
        assert_eq!(
            f.serve_args(&[
                "--listen".into(),
                "127.0.0.1:2".into(),
                "--idle-timeout=9".into()
            ]),
            ["--allow-plaintext", "--max-connections", "7"]
        );
        assert_eq!(
            f.serve_args(&[]),
            [
                "--allow-plaintext",
                "--idle-timeout",
                "5",
                "--listen",
                "127.0.0.1:1",
                "--listen",
                "[::1]:1",
                "--max-connections",
                "7"
            ]
        );
    }
}
