//! Maildir and Maildir++ layout: which directories are folders, which files are messages, and
//! what a message's file name says (delivery time, flags).

use std::io;
use std::path::{Path, PathBuf};

/// A directory with `cur` and `new` subdirectories is a Maildir (`tmp` may be missing from a
/// copied or archived one; its files are deliveries in progress and never imported).
pub fn is_maildir(dir: &Path) -> bool {
    dir.join("cur").is_dir() && dir.join("new").is_dir()
}

/// The Maildir++ folders under `root`: directories named `.Sub.Folder` that are Maildirs, as
/// (`Sub/Folder`, path), sorted by name. Empty name parts (`.a..b`) are dropped.
pub fn subfolders(root: &Path) -> io::Result<Vec<(String, PathBuf)>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(root)? {
        let entry = entry?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let Some(rest) = name.strip_prefix('.') else {
            continue;
        };
        let path = entry.path();
        if rest.is_empty() || rest == "." || !is_maildir(&path) {
            continue;
        }
        let folder = rest
            .split('.')
            .filter(|p| !p.is_empty())
            .collect::<Vec<_>>()
            .join("/");
        if !folder.is_empty() {
            out.push((folder, path));
        }
    }
    out.sort();
    Ok(out)
}

/// One message file of a Maildir.
pub struct MaildirFile {
    pub path: PathBuf,
    /// The delivery time from the file name (unix seconds).
    pub timestamp: Option<i64>,
    pub flags: Vec<String>,
}

/// The messages of a Maildir (`new` and `cur`, not `tmp`), oldest first by the time in their
/// names, then by name, so that UIDs follow delivery order.
pub fn messages(dir: &Path) -> io::Result<Vec<MaildirFile>> {
    let mut out = Vec::new();
    for sub in ["new", "cur"] {
        for entry in std::fs::read_dir(dir.join(sub))? {
            let entry = entry?;
            let name = entry.file_name();
            let Some(name) = name.to_str() else {
                // Not UTF-8: still a message, just without a time or flags in its name.
                out.push(MaildirFile {
                    path: entry.path(),
                    timestamp: None,
                    flags: Vec::new(),
                });
                continue;
            };
            if name.starts_with('.') || entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let (timestamp, flags) = parse_name(name);
            out.push(MaildirFile {
                path: entry.path(),
                timestamp,
                flags,
            });
        }
    }
    out.sort_by(|a, b| {
        (a.timestamp.unwrap_or(i64::MAX), &a.path).cmp(&(b.timestamp.unwrap_or(i64::MAX), &b.path))
    });
    Ok(out)
}

/// `1700000000.M1P2.host:2,FS` → (1700000000, [\Flagged, \Seen]). The time is the number
/// before the first `.`; flags follow `:2,` (or `!2,`, the variant for file systems without
/// `:`). Lower-case letters are Dovecot keywords and are ignored.
pub fn parse_name(name: &str) -> (Option<i64>, Vec<String>) {
    let timestamp = name
        .split('.')
        .next()
        .filter(|t| !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|t| t.parse().ok());
    let info = name
        .rfind(":2,")
        .or_else(|| name.rfind("!2,"))
        .map(|i| &name[i + 3..])
        .unwrap_or("");
    let mut flags = Vec::new();
    for c in info.chars() {
        let flag = match c {
            'S' => "\\Seen",
            'R' => "\\Answered",
            'F' => "\\Flagged",
            'T' => "\\Deleted",
            'D' => "\\Draft",
            _ => continue,
        };
        if !flags.iter().any(|f| f == flag) {
            flags.push(flag.to_string());
        }
    }
    (timestamp, flags)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        let (t, f) = parse_name("1700000000.M1P2.host,S=123:2,FRSTDa");
        assert_eq!(t, Some(1_700_000_000));
        assert_eq!(
            f,
            vec!["\\Flagged", "\\Answered", "\\Seen", "\\Deleted", "\\Draft"]
        );
        assert_eq!(parse_name("1700000000.x"), (Some(1_700_000_000), vec![]));
        assert_eq!(parse_name("abc.def:2,S").0, None);
        assert_eq!(parse_name("17.x!2,S").1, vec!["\\Seen"]);
    }
}
