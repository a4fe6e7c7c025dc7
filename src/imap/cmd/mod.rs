//! One module per command family. Each adds `cmd_*` methods to `Session`; dispatch and the
//! state check live in `session.rs`.

pub mod append;
pub mod auth;
pub mod catenate;
pub mod compress;
pub mod context;
pub mod esearch;
pub mod fetch;
pub mod idle;
pub mod info;
pub mod list_ext;
pub mod mailbox;
pub mod metadata;
pub mod notify;
pub mod quota;
pub mod search;
pub mod select;
pub mod sort;
pub mod store;
pub mod uidonly;
pub mod urlauth;

use imap_codec::imap_types::flag::{Flag, FlagFetch, FlagPerm};
use imap_codec::imap_types::IntoStatic;

use super::{CmdError, CmdResult};

/// The system flags every mailbox supports.
pub const SYSTEM_FLAGS: [Flag<'static>; 5] = [
    Flag::Answered,
    Flag::Flagged,
    Flag::Deleted,
    Flag::Seen,
    Flag::Draft,
];

/// SYSTEM_FLAGS as text, in the same order (FETCH sorts every message's flags by it).
const SYSTEM_FLAG_NAMES: [&str; 5] = ["\\Answered", "\\Flagged", "\\Deleted", "\\Seen", "\\Draft"];

/// Flags from a client (APPEND, STORE) as the store keeps them. `\Recent` cannot be set by a
/// client and is ignored; any other unknown system flag is an error.
pub fn flags_to_store(flags: &[Flag]) -> CmdResult<Vec<String>> {
    let mut out: Vec<String> = Vec::with_capacity(flags.len());
    for f in flags {
        if let Flag::Extension(_) = f {
            let name = f.to_string();
            if name.eq_ignore_ascii_case("\\Recent") {
                continue;
            }
            return Err(CmdError::bad(format!("Unknown system flag {name}")));
        }
        let s = f.to_string();
        if !out.iter().any(|o| o.eq_ignore_ascii_case(&s)) {
            out.push(s);
        }
    }
    Ok(out)
}

/// A stored flag as the wire type; `None` for a value that is not a valid flag.
pub fn flag_from_store(s: &str) -> Option<Flag<'static>> {
    Flag::try_from(s).ok().map(IntoStatic::into_static)
}

/// A message's flags for a FETCH response, in one canonical order wherever they come from:
/// system flags as in FLAGS, then keywords alphabetically (case-insensitively), then \Recent.
pub fn fetch_flags(stored: &[String], recent: bool) -> Vec<FlagFetch<'static>> {
    let rank = |s: &str| {
        SYSTEM_FLAG_NAMES
            .iter()
            .position(|f| f.eq_ignore_ascii_case(s))
            .unwrap_or(SYSTEM_FLAG_NAMES.len())
    };
    let mut out: Vec<FlagFetch<'static>> = Vec::with_capacity(stored.len() + usize::from(recent));
    match stored {
        [] => {}
        [one] => out.extend(flag_from_store(one).map(FlagFetch::Flag)),
        _ => {
            let mut sorted: Vec<&String> = stored.iter().collect();
            sorted.sort_by_cached_key(|s| (rank(s), s.to_ascii_lowercase()));
            out.extend(
                sorted
                    .into_iter()
                    .filter_map(|s| flag_from_store(s))
                    .map(FlagFetch::Flag),
            );
        }
    }
    if recent {
        out.push(FlagFetch::Recent);
    }
    out
}

/// PERMANENTFLAGS: every system flag, and new keywords (`\*`) when writable.
pub fn permanent_flags(read_only: bool) -> Vec<FlagPerm<'static>> {
    if read_only {
        return Vec::new();
    }
    let mut out: Vec<FlagPerm<'static>> =
        SYSTEM_FLAGS.iter().cloned().map(FlagPerm::Flag).collect();
    out.push(FlagPerm::Asterisk);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn system_flag_names_match_the_wire_flags() {
        let names: Vec<String> = SYSTEM_FLAGS.iter().map(|f| f.to_string()).collect();
        assert_eq!(names, SYSTEM_FLAG_NAMES);
    }

    fn names(flags: Vec<FlagFetch<'static>>) -> Vec<String> {
        flags
            .iter()
            .map(|f| match f {
                FlagFetch::Flag(f) => f.to_string(),
                FlagFetch::Recent => "\\Recent".to_string(),
            })
            .collect()
    }

    #[test]
    fn fetch_flags_order() {
        let stored: Vec<String> = ["zeta", "\\seen", "Alpha", "\\Answered"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let got = names(fetch_flags(&stored, true));
        assert_eq!(got, ["\\Answered", "\\Seen", "Alpha", "zeta", "\\Recent"]);
        let one = names(fetch_flags(&stored[1..2], false));
        assert_eq!(one, ["\\Seen"]);
        assert!(fetch_flags(&[], false).is_empty());
    }
}
