//! ESEARCH (RFC 4731), SEARCHRES (RFC 5182) and ESORT (RFC 5267 §3): the forms imap-codec
//! does not parse.
//!
//! - `SEARCH RETURN (MIN MAX COUNT ALL SAVE) criteria` and its UID variant. Only the RETURN
//!   clause is read here; the criteria go back through imap-codec's own SEARCH parser (as
//!   `x SEARCH criteria`), so no search-key grammar is written twice.
//! - `$`, the saved result, as the sequence set of FETCH / STORE / COPY / MOVE / UID EXPUNGE
//!   and inside SEARCH criteria. The command is kept as bytes and `$` is replaced by the saved
//!   messages when it runs ([`substitute`]), as UIDs or as the current sequence numbers
//!   depending on where it stands; the result goes through imap-codec like any command.
//! - `SORT RETURN (...)` and SORT with `$`, kept as bytes the same way ([`ExtSort`]).
//! - The `* ESEARCH` response ([`esearch_response`], [`esort_response`] in sort order) and the
//!   compact sequence-set form ([`compact_set`]) it and MULTIAPPEND's APPENDUID use.
//! - `* SORT` and `* THREAD` of many messages ([`sort_response`], [`thread_response`]):
//!   forms imap-codec models, written here byte for byte as it does, only faster.

use imap_codec::imap_types::extensions::thread::Thread;

use super::lex::{LexResult, Lexer};
use super::{ExtCommand, NOT_THIS_FORM};
use crate::imap::view::MailboxView;

/// RFC 4731 / RFC 5182 result options.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReturnOpts {
    pub min: bool,
    pub max: bool,
    pub count: bool,
    pub all: bool,
    pub save: bool,
    /// PARTIAL (RFC 9394): a window of the result by position, 1-based; negative positions
    /// count from the end (-1 is the last).
    pub partial: Option<Partial>,
    /// UPDATE (RFC 5267 §4.3): keep the search and tell ADDTO / REMOVEFROM as it changes.
    pub update: bool,
    /// CONTEXT (RFC 5267 §4.2): a hint that the search will be repeated; nothing to do.
    pub context: bool,
}

/// A PARTIAL range: `low:high` from the start, or `-low:-high` from the end; `low` is the
/// smaller magnitude, and the response echoes the range in that order (`3:1` → `1:3`, as
/// Dovecot does and RFC 9394's examples write it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Partial {
    pub from_end: bool,
    pub low: u32,
    pub high: u32,
}

impl Partial {
    /// `1:100`, `100:1`, `-1:-100`; no zero, no mixed signs (RFC 9394 §3).
    fn parse(s: &str) -> Option<Partial> {
        let (a, b) = s.split_once(':')?;
        let num = |t: &str| -> Option<i64> {
            let digits = t.strip_prefix('-').unwrap_or(t);
            if digits.is_empty() || !digits.bytes().all(|c| c.is_ascii_digit()) {
                return None;
            }
            let v: i64 = t.parse().ok()?;
            (v != 0 && v.unsigned_abs() <= u64::from(u32::MAX)).then_some(v)
        };
        let (first, second) = (num(a)?, num(b)?);
        if (first < 0) != (second < 0) {
            return None;
        }
        let (x, y) = (first.unsigned_abs() as u32, second.unsigned_abs() as u32);
        Some(Partial {
            from_end: first < 0,
            low: x.min(y),
            high: x.max(y),
        })
    }

    fn echo(&self) -> String {
        let sign = if self.from_end { "-" } else { "" };
        format!("{sign}{}:{sign}{}", self.low, self.high)
    }

    /// The part of `found` (in result order) this window covers.
    pub fn window<'a>(&self, found: &'a [u32]) -> &'a [u32] {
        let len = found.len();
        let (lo, hi) = (self.low as usize, self.high as usize);
        let (start, end) = if self.from_end {
            (len.saturating_sub(hi), len.saturating_sub(lo - 1))
        } else {
            ((lo - 1).min(len), hi.min(len))
        };
        &found[start..end.max(start)]
    }
}

impl ReturnOpts {
    /// Whether an ESEARCH response is sent: SAVE alone suppresses it (RFC 5182 §2.4).
    /// With UPDATE the response is sent even when it carries nothing, as Dovecot does: the
    /// client learns the search was taken.
    pub fn answers(&self) -> bool {
        self.min || self.max || self.count || self.all || self.partial.is_some() || self.update
    }

    /// The part of the result SAVE keeps: with MIN and/or MAX but neither ALL nor COUNT only
    /// those messages, otherwise all of them (RFC 5182 §2.4).
    pub fn saved_part(&self, found: &[u32]) -> Vec<u32> {
        if let Some(p) = self.partial {
            // With PARTIAL, SAVE keeps the window the client asked for.
            return p.window(found).to_vec();
        }
        if (self.min || self.max) && !(self.all || self.count) {
            let mut out = Vec::new();
            if let (true, Some(&first)) = (self.min, found.first()) {
                out.push(first);
            }
            if let (true, Some(&last)) = (self.max, found.last()) {
                if out.last() != Some(&last) {
                    out.push(last);
                }
            }
            out
        } else {
            found.to_vec()
        }
    }
}

/// SEARCH or UID SEARCH as this layer took it.
#[derive(Debug)]
pub struct ExtSearch {
    pub uid: bool,
    /// `None`: a plain SEARCH (it came here for its `$`), answered with `* SEARCH`.
    pub ret: Option<ReturnOpts>,
    /// `[CHARSET x] criteria`, as sent (may hold `$`, literals), without the final CRLF.
    pub criteria: Vec<u8>,
}

/// SORT or UID SORT with RETURN (ESORT) or with `$` in its criteria.
#[derive(Debug)]
pub struct ExtSort {
    pub uid: bool,
    /// `None`: a plain SORT (it came here for its `$`), answered with `* SORT`.
    pub ret: Option<ReturnOpts>,
    /// `(keys) charset criteria`, as sent, without the final CRLF.
    pub args: Vec<u8>,
}

/// FETCH / STORE / COPY / MOVE / UID EXPUNGE with `$` as its sequence set.
#[derive(Debug)]
pub struct SavedRef {
    pub uid: bool,
    pub name: &'static str,
    /// The arguments after the command name, as sent, without the final CRLF.
    pub args: Vec<u8>,
}

impl SavedRef {
    /// The full command name, for logs and errors.
    pub fn display_name(&self) -> &'static str {
        match (self.uid, self.name) {
            (true, "FETCH") => "UID FETCH",
            (true, "STORE") => "UID STORE",
            (true, "COPY") => "UID COPY",
            (true, "MOVE") => "UID MOVE",
            (true, _) => "UID EXPUNGE",
            (false, name) => name,
        }
    }
}

/// The rest of the message without its final CRLF.
fn rest_of_command(lx: &Lexer<'_>) -> Vec<u8> {
    let rest = lx.rest();
    rest.strip_suffix(b"\r\n").unwrap_or(rest).to_vec()
}

/// `RETURN (options) ` when it is next (the lexer is then past its trailing space).
fn return_opts(lx: &mut Lexer<'_>, command: &str) -> LexResult<Option<ReturnOpts>> {
    if !lx.keyword("RETURN") {
        return Ok(None);
    }
    lx.sp()?;
    let words = lx.list(|l| l.atom().map(str::to_ascii_uppercase))?;
    let mut opts = ReturnOpts::default();
    let mut words = words.into_iter();
    while let Some(w) = words.next() {
        match w.as_str() {
            "MIN" => opts.min = true,
            "MAX" => opts.max = true,
            "COUNT" => opts.count = true,
            "ALL" => opts.all = true,
            "SAVE" => opts.save = true,
            "UPDATE" => opts.update = true,
            "CONTEXT" => opts.context = true,
            "PARTIAL" => {
                let range = words.next().unwrap_or_default();
                opts.partial = Some(Partial::parse(&range).ok_or_else(|| {
                    format!("PARTIAL needs a range like 1:100 or -1:-100, not \"{range}\"")
                })?);
            }
            other => return Err(format!("Unknown {command} RETURN option {other}")),
        }
    }
    if opts.all && opts.partial.is_some() {
        return Err("RETURN cannot have both ALL and PARTIAL (RFC 9394 §3)".into());
    }
    // RETURN () means ALL (RFC 4731 §3.1, RFC 5267 §3.1); so does RETURN (CONTEXT), a mere
    // hint. RETURN (UPDATE) asks for updates only, as Dovecot reads it.
    let hint_only = ReturnOpts {
        context: false,
        ..opts
    };
    if hint_only == ReturnOpts::default() {
        opts.all = true;
    }
    lx.sp()?;
    Ok(Some(opts))
}

/// `[RETURN (...)] rest` of SEARCH or SORT: the options and the rest as sent. Neither RETURN
/// nor `$`: a malformed plain command, imap-codec's rejection stands.
fn returned(lx: &mut Lexer<'_>, command: &str) -> LexResult<(Option<ReturnOpts>, Vec<u8>)> {
    let ret = return_opts(lx, command)?;
    let rest = rest_of_command(lx);
    if ret.is_none() && !has_saved_marker(&rest, true) {
        return Err(NOT_THIS_FORM.into());
    }
    Ok((ret, rest))
}

fn parse_search(lx: &mut Lexer<'_>, uid: bool) -> LexResult<ExtCommand> {
    let (ret, criteria) = returned(lx, "SEARCH")?;
    Ok(ExtCommand::Search(ExtSearch { uid, ret, criteria }))
}

pub fn search(lx: &mut Lexer<'_>) -> LexResult<ExtCommand> {
    parse_search(lx, false)
}

pub fn uid_search(lx: &mut Lexer<'_>) -> LexResult<ExtCommand> {
    parse_search(lx, true)
}

/// `SORT RETURN (...) (keys) charset criteria` (ESORT, RFC 5267 §3) and SORT with `$` in
/// its criteria; the part after RETURN goes back through imap-codec's SORT parser.
fn parse_sort(lx: &mut Lexer<'_>, uid: bool) -> LexResult<ExtCommand> {
    let (ret, args) = returned(lx, "SORT")?;
    Ok(ExtCommand::Sort(ExtSort { uid, ret, args }))
}

pub fn sort(lx: &mut Lexer<'_>) -> LexResult<ExtCommand> {
    parse_sort(lx, false)
}

pub fn uid_sort(lx: &mut Lexer<'_>) -> LexResult<ExtCommand> {
    parse_sort(lx, true)
}

/// `CANCELUPDATE "tag" *(SP "tag")` (RFC 5267 §4.3.5): the tags of the searches whose
/// updates end.
pub fn cancel_update(lx: &mut Lexer<'_>) -> LexResult<ExtCommand> {
    let mut tags = Vec::new();
    loop {
        if lx.peek() != Some(b'"') {
            return Err("CANCELUPDATE takes one or more quoted tags".into());
        }
        let tag = lx.string(false)?;
        tags.push(String::from_utf8_lossy(&tag).into_owned());
        if lx.at_end() {
            lx.end()?;
            return Ok(ExtCommand::CancelUpdate(tags));
        }
        lx.sp()?;
    }
}

fn parse_saved(lx: &mut Lexer<'_>, uid: bool, name: &'static str) -> LexResult<ExtCommand> {
    let args = rest_of_command(lx);
    if !has_saved_marker(&args, false) {
        return Err(NOT_THIS_FORM.into());
    }
    Ok(ExtCommand::Saved(SavedRef { uid, name, args }))
}

pub fn fetch(lx: &mut Lexer<'_>) -> LexResult<ExtCommand> {
    parse_saved(lx, false, "FETCH")
}
pub fn uid_fetch(lx: &mut Lexer<'_>) -> LexResult<ExtCommand> {
    parse_saved(lx, true, "FETCH")
}
pub fn store(lx: &mut Lexer<'_>) -> LexResult<ExtCommand> {
    parse_saved(lx, false, "STORE")
}
pub fn uid_store(lx: &mut Lexer<'_>) -> LexResult<ExtCommand> {
    parse_saved(lx, true, "STORE")
}
pub fn copy(lx: &mut Lexer<'_>) -> LexResult<ExtCommand> {
    parse_saved(lx, false, "COPY")
}
pub fn uid_copy(lx: &mut Lexer<'_>) -> LexResult<ExtCommand> {
    parse_saved(lx, true, "COPY")
}
pub fn r#move(lx: &mut Lexer<'_>) -> LexResult<ExtCommand> {
    parse_saved(lx, false, "MOVE")
}
pub fn uid_move(lx: &mut Lexer<'_>) -> LexResult<ExtCommand> {
    parse_saved(lx, true, "MOVE")
}
pub fn uid_expunge(lx: &mut Lexer<'_>) -> LexResult<ExtCommand> {
    parse_saved(lx, true, "EXPUNGE")
}

/// One token of a command's arguments: its byte range, and whether it is an atom (only atoms
/// can be `$` or a search-key name).
pub(super) struct Token {
    pub start: usize,
    pub end: usize,
    pub atom: bool,
}

/// Split arguments into tokens, stepping over quoted strings and literals (whose bytes are
/// never looked into) and treating parentheses as separators.
pub(super) fn tokens(bytes: &[u8]) -> Vec<Token> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b' ' | b'(' | b')' | b'\r' | b'\n' => i += 1,
            b'"' => {
                let start = i;
                i += 1;
                while i < bytes.len() && bytes[i] != b'"' {
                    i += if bytes[i] == b'\\' { 2 } else { 1 };
                }
                i = (i + 1).min(bytes.len());
                out.push(Token {
                    start,
                    end: i,
                    atom: false,
                });
            }
            b'{' | b'~' if literal_at(bytes, i).is_some() => {
                let (start, end) = (i, literal_at(bytes, i).unwrap_or(bytes.len()));
                i = end;
                out.push(Token {
                    start,
                    end,
                    atom: false,
                });
            }
            _ => {
                let start = i;
                while i < bytes.len() && !matches!(bytes[i], b' ' | b'(' | b')' | b'\r' | b'\n') {
                    i += 1;
                }
                out.push(Token {
                    start,
                    end: i,
                    atom: true,
                });
            }
        }
    }
    out
}

/// The end of a literal (`{n}` / `{n+}` / `~{n}`, CRLF, n bytes) starting at `i`.
fn literal_at(bytes: &[u8], i: usize) -> Option<usize> {
    let mut j = i;
    if bytes.get(j) == Some(&b'~') {
        j += 1;
    }
    if bytes.get(j) != Some(&b'{') {
        return None;
    }
    j += 1;
    let digits_start = j;
    while bytes.get(j).is_some_and(u8::is_ascii_digit) {
        j += 1;
    }
    let n: usize = std::str::from_utf8(bytes.get(digits_start..j)?)
        .ok()?
        .parse()
        .ok()?;
    if bytes.get(j) == Some(&b'+') {
        j += 1;
    }
    if bytes.get(j..j + 3) != Some(b"}\r\n") {
        return None;
    }
    Some((j + 3).saturating_add(n).min(bytes.len()))
}

/// Search keys whose next argument is a string (so a `$` there is text, not the saved result).
const STRING_KEYS: &[&str] = &[
    "BCC",
    "BODY",
    "CC",
    "FROM",
    "SUBJECT",
    "TEXT",
    "TO",
    "KEYWORD",
    "UNKEYWORD",
    "HEADER",
    "CHARSET",
];

/// Where a `$` stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Marker {
    Seqs,
    Uids,
}

/// The `$` markers among the arguments: (token index, kind). In a command other than SEARCH
/// only its first argument, the sequence set, can be one.
fn markers(
    bytes: &[u8],
    toks: &[Token],
    is_search: bool,
    uid_command: bool,
) -> Vec<(usize, Marker)> {
    let text = |t: &Token| &bytes[t.start..t.end];
    let is_dollar = |t: &Token| t.atom && text(t) == b"$";
    if !is_search {
        return match toks.first() {
            Some(t) if is_dollar(t) => vec![(
                0,
                if uid_command {
                    Marker::Uids
                } else {
                    Marker::Seqs
                },
            )],
            _ => Vec::new(),
        };
    }
    let key = |i: usize, name: &str| {
        toks.get(i)
            .is_some_and(|t| t.atom && text(t).eq_ignore_ascii_case(name.as_bytes()))
    };
    let mut out = Vec::new();
    for (i, t) in toks.iter().enumerate() {
        if !is_dollar(t) {
            continue;
        }
        let prev = i.checked_sub(1);
        let is_string_arg = prev.is_some_and(|p| STRING_KEYS.iter().any(|k| key(p, k)))
            || i.checked_sub(2).is_some_and(|p| key(p, "HEADER"));
        if is_string_arg {
            continue;
        }
        let kind = if prev.is_some_and(|p| key(p, "UID")) {
            Marker::Uids
        } else {
            Marker::Seqs
        };
        out.push((i, kind));
    }
    out
}

/// Whether the arguments use `$`.
fn has_saved_marker(args: &[u8], is_search: bool) -> bool {
    !markers(args, &tokens(args), is_search, false).is_empty()
}

/// The arguments with every `$` replaced by the saved messages still in `view`: UIDs where a
/// UID set stands, their current sequence numbers elsewhere. `None` when the saved result is
/// empty and `$` is a command's own sequence set (the command then does nothing, RFC 5182
/// §2.1). In SEARCH an empty `$` becomes a key that matches nothing.
pub fn substitute(
    args: &[u8],
    saved: &[u32],
    view: &MailboxView,
    is_search: bool,
    uid_command: bool,
) -> Option<Vec<u8>> {
    let toks = tokens(args);
    let found = markers(args, &toks, is_search, uid_command);
    let uids: Vec<u32> = saved
        .iter()
        .copied()
        .filter(|u| view.seq(*u).is_some())
        .collect();
    let seqs: Vec<u32> = uids.iter().filter_map(|u| view.seq(*u)).collect();
    let mut out = Vec::with_capacity(args.len() + 16);
    let mut at = 0;
    for (i, kind) in found {
        let t = &toks[i];
        out.extend_from_slice(&args[at..t.start]);
        let set = match kind {
            Marker::Uids => &uids,
            Marker::Seqs => &seqs,
        };
        if set.is_empty() {
            if !is_search {
                return None;
            }
            // UIDs are below 2^32-1 (the store refuses the last one), so this matches nothing.
            out.extend_from_slice(match kind {
                Marker::Uids => b"4294967295" as &[u8],
                Marker::Seqs => b"UID 4294967295",
            });
        } else {
            out.extend_from_slice(compact_set(set).as_bytes());
        }
        at = t.end;
    }
    out.extend_from_slice(&args[at..]);
    Some(out)
}

/// Ascending numbers as a sequence set with runs compressed: `1:3,5,7:8`.
pub fn compact_set(nums: &[u32]) -> String {
    let mut sorted = nums.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    ordered_set(&sorted)
}

/// `* ESEARCH (TAG "t") [UID] [MIN n] [MAX n] [COUNT n] [ALL set]` for `found` (ascending
/// numbers, sequence numbers or UIDs as `uid` says). MIN, MAX and ALL are left out when
/// nothing matched; COUNT is always given when asked (RFC 4731 §3.1). `modseq` is the
/// `MODSEQ n` of a search that used MODSEQ (RFC 7162 §3.1.5), left out when nothing matched.
pub fn esearch_response(
    tag: &str,
    uid: bool,
    opts: &ReturnOpts,
    found: &[u32],
    modseq: Option<u64>,
) -> Vec<u8> {
    eresponse(tag, uid, opts, found, compact_set, modseq)
}

/// Numbers in the order given as a sequence set: only ascending runs are compressed, so the
/// set keeps a SORT's order (`24:27,30:31,17`; RFC 5267 §3.2).
pub fn ordered_set(nums: &[u32]) -> String {
    let mut out = String::new();
    let mut i = 0;
    while i < nums.len() {
        let start = nums[i];
        let mut end = start;
        while i + 1 < nums.len() && end.checked_add(1) == Some(nums[i + 1]) {
            i += 1;
            end = nums[i];
        }
        if !out.is_empty() {
            out.push(',');
        }
        if start == end {
            out.push_str(&start.to_string());
        } else {
            out.push_str(&format!("{start}:{end}"));
        }
        i += 1;
    }
    out
}

/// The ESORT answer (RFC 5267 §3.2): `found` in sort order; MIN and MAX are the first and
/// last message of that order, ALL keeps it.
pub fn esort_response(tag: &str, uid: bool, opts: &ReturnOpts, found: &[u32]) -> Vec<u8> {
    eresponse(tag, uid, opts, found, ordered_set, None)
}

/// `* SORT n n n` (RFC 5256 §4), byte for byte what imap-codec writes for
/// `Data::Sort(numbers, None)` (`* SORT` alone when nothing matched): written here because
/// imap-codec formats each number through `fmt::Write`, most of the time of a 100,000-message
/// SORT. Zeros (no message has them) are left out.
pub fn sort_response(numbers: &[u32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(8 + numbers.len() * 7);
    out.extend_from_slice(b"* SORT");
    for &n in numbers.iter().filter(|&&n| n != 0) {
        out.push(b' ');
        push_number(&mut out, n);
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// `* THREAD (…)(…)` (RFC 5256 §4), byte for byte what imap-codec writes for
/// `Data::Thread(threads)` (imap-types' `Display` of each thread, one string each), written
/// straight into one buffer.
pub fn thread_response(threads: &[Thread]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + threads.len() * 16);
    out.extend_from_slice(b"* THREAD");
    if !threads.is_empty() {
        out.push(b' ');
    }
    for t in threads {
        // The same walk as imap-types' Display: an explicit stack, so no recursion.
        out.push(b'(');
        let mut stack: Vec<std::slice::Iter<'_, Thread>> = vec![open_thread(&mut out, t)];
        while let Some(answers) = stack.last_mut() {
            match answers.next() {
                Some(child) => {
                    out.push(b'(');
                    let next = open_thread(&mut out, child);
                    stack.push(next);
                }
                None => {
                    stack.pop();
                    out.push(b')');
                }
            }
        }
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// A thread's own numbers (after its opening parenthesis), and its answers to write next.
fn open_thread<'a>(out: &mut Vec<u8>, t: &'a Thread) -> std::slice::Iter<'a, Thread> {
    match t {
        Thread::Members { prefix, answers } => {
            for (i, n) in prefix.as_ref().iter().enumerate() {
                if i > 0 {
                    out.push(b' ');
                }
                push_number(out, n.get());
            }
            match answers {
                Some(a) => {
                    out.push(b' ');
                    a.as_ref().iter()
                }
                None => [].iter(),
            }
        }
        Thread::Nested { answers } => answers.as_ref().iter(),
    }
}

/// `n` in decimal (FETCH's fast path writes numbers with it too).
pub(crate) fn push_number(out: &mut Vec<u8>, n: impl Into<u64>) {
    let mut digits = [0u8; 20];
    let mut at = digits.len();
    let mut v: u64 = n.into();
    loop {
        at -= 1;
        digits[at] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    out.extend_from_slice(&digits[at..]);
}

/// One ADDTO or REMOVEFROM pair (RFC 5267 §4.3.3-4): a context position (0 for SEARCH,
/// whose results stay in mailbox order) and the numbers inserted or removed there, in the
/// requested order.
pub type UpdatePair = (u32, Vec<u32>);

/// `* ESEARCH (TAG "t") [UID] [REMOVEFROM (...)] [ADDTO (...)]`: the changes to a live
/// search, removals first. At position 0 the numbers are written as the shortest set, else
/// in the order given. `None` when there is nothing to tell.
pub fn update_response(
    tag: &str,
    uid: bool,
    removed: &[UpdatePair],
    added: &[UpdatePair],
) -> Option<Vec<u8>> {
    let pairs = |name: &str, list: &[UpdatePair]| -> String {
        let items: Vec<String> = list
            .iter()
            .filter(|(_, nums)| !nums.is_empty())
            .map(|(pos, nums)| {
                let set = if *pos == 0 {
                    compact_set(nums)
                } else {
                    ordered_set(nums)
                };
                format!("{pos} {set}")
            })
            .collect();
        if items.is_empty() {
            String::new()
        } else {
            format!(" {name} ({})", items.join(" "))
        }
    };
    let data = pairs("REMOVEFROM", removed) + &pairs("ADDTO", added);
    if data.is_empty() {
        return None;
    }
    let uid = if uid { " UID" } else { "" };
    Some(format!("* ESEARCH (TAG \"{tag}\"){uid}{data}\r\n").into_bytes())
}

/// `* NO [NOUPDATE "tag"] text` (RFC 5267 §4.3.1): the search was answered, but it will not
/// be kept up to date.
pub fn noupdate_response(tag: &str, text: &str) -> Vec<u8> {
    format!("* NO [NOUPDATE \"{tag}\"] {text}\r\n").into_bytes()
}

fn eresponse(
    tag: &str,
    uid: bool,
    opts: &ReturnOpts,
    found: &[u32],
    set: fn(&[u32]) -> String,
    modseq: Option<u64>,
) -> Vec<u8> {
    // A tag is astring characters without quotes or backslashes, so it quotes as it is.
    let mut line = format!("* ESEARCH (TAG \"{tag}\")");
    if uid {
        line.push_str(" UID");
    }
    if let (true, Some(min)) = (opts.min, found.first()) {
        line.push_str(&format!(" MIN {min}"));
    }
    if let (true, Some(max)) = (opts.max, found.last()) {
        line.push_str(&format!(" MAX {max}"));
    }
    if opts.count {
        line.push_str(&format!(" COUNT {}", found.len()));
    }
    if opts.all && !found.is_empty() {
        line.push_str(&format!(" ALL {}", set(found)));
    }
    if let Some(p) = opts.partial {
        let part = p.window(found);
        let part = if part.is_empty() {
            "NIL".to_string()
        } else {
            set(part)
        };
        line.push_str(&format!(" PARTIAL ({} {part})", p.echo()));
    }
    if let (Some(m), false) = (modseq, found.is_empty()) {
        line.push_str(&format!(" MODSEQ {m}"));
    }
    line.push_str("\r\n");
    line.into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(raw: &str) -> ExtCommand {
        match super::super::parse(raw.as_bytes()) {
            Some(Ok((_, cmd))) => cmd,
            other => panic!("{raw}: {other:?}"),
        }
    }

    #[test]
    fn sort_response_is_what_imap_codec_writes() {
        use imap_codec::encode::Encoder;
        use imap_codec::imap_types::response::{Data, Response};
        use std::num::NonZeroU32;
        let cases: [&[u32]; 5] = [
            &[],
            &[1],
            &[9, 10, 99, 100, 1, 4_294_967_295],
            &[3, 0, 2],
            &[1_000_000, 123_456_789, 7],
        ];
        for nums in cases {
            let nz: Vec<NonZeroU32> = nums.iter().filter_map(|&n| NonZeroU32::new(n)).collect();
            let codec = imap_codec::ResponseCodec::default()
                .encode(&Response::Data(Data::Sort(nz, None)))
                .dump();
            assert_eq!(sort_response(nums), codec, "{nums:?}");
        }
        assert_eq!(sort_response(&[5, 12, 3]), b"* SORT 5 12 3\r\n");
        assert_eq!(sort_response(&[]), b"* SORT\r\n");
    }

    #[test]
    fn thread_response_is_what_imap_codec_writes() {
        use imap_codec::encode::Encoder;
        use imap_codec::imap_types::core::{Vec1, Vec2};
        use imap_codec::imap_types::response::{Data, Response};
        use std::num::NonZeroU32;
        let n = |v: u32| NonZeroU32::new(v).unwrap();
        let leaf = |v: u32| Thread::Members {
            prefix: Vec1::from(n(v)),
            answers: None,
        };
        let chain = Thread::Members {
            prefix: Vec1::try_from(vec![n(2), n(10), n(4_294_967_295)]).unwrap(),
            answers: Some(Vec2::try_from(vec![leaf(7), leaf(9)]).unwrap()),
        };
        let nested = Thread::Nested {
            answers: Vec2::try_from(vec![leaf(3), chain.clone(), leaf(12)]).unwrap(),
        };
        let deep = Thread::Members {
            prefix: Vec1::from(n(1)),
            answers: Some(Vec2::try_from(vec![nested.clone(), chain.clone()]).unwrap()),
        };
        let cases: Vec<Vec<Thread>> = vec![
            vec![],
            vec![leaf(1)],
            vec![leaf(5), chain, leaf(6)],
            vec![nested, deep, leaf(99)],
        ];
        for threads in cases {
            let codec = imap_codec::ResponseCodec::default()
                .encode(&Response::Data(Data::Thread(threads.clone())))
                .dump();
            assert_eq!(
                String::from_utf8_lossy(&thread_response(&threads)),
                String::from_utf8_lossy(&codec)
            );
        }
        assert_eq!(thread_response(&[leaf(4)]), b"* THREAD (4)\r\n");
    }

    #[test]
    fn return_options() {
        let ExtCommand::Search(s) = parsed("a UID SEARCH RETURN (min Count) CHARSET UTF-8 ALL\r\n")
        else {
            panic!()
        };
        assert!(s.uid);
        let o = s.ret.unwrap();
        assert!(o.min && o.count && !o.max && !o.all && !o.save);
        assert_eq!(s.criteria, b"CHARSET UTF-8 ALL");
        let ExtCommand::Search(s) = parsed("a SEARCH RETURN () SEEN\r\n") else {
            panic!()
        };
        assert_eq!(
            s.ret,
            Some(ReturnOpts {
                all: true,
                ..Default::default()
            })
        );
        let bad = super::super::parse(b"a SEARCH RETURN (FOO) ALL\r\n");
        assert!(matches!(bad, Some(Err(_))), "{bad:?}");
        let bad = super::super::parse(b"a SEARCH RETURN ALL\r\n");
        assert!(matches!(bad, Some(Err(_))), "{bad:?}");
        // Not an extension form: the rejection of a malformed plain SEARCH or FETCH stands.
        assert!(super::super::parse(b"a SEARCH FROBNICATE\r\n").is_none());
        assert!(super::super::parse(b"a UID FETCH 2\r\n").is_none());
        assert!(super::super::parse(b"a FETCH 1 +FLAGS ($)\r\n").is_none());
        assert!(super::super::parse(b"a FETCH $ (FLAGS\r\n").is_some());
    }

    #[test]
    fn dollar_positions() {
        let view = MailboxView::new(vec![3, 5, 7, 9, 10]);
        let saved = [5, 7, 8, 10];
        let sub = |args: &str, search: bool, uid: bool| {
            substitute(args.as_bytes(), &saved, &view, search, uid)
                .map(|v| String::from_utf8(v).unwrap())
        };
        assert_eq!(sub("$ (FLAGS)", false, false).unwrap(), "2:3,5 (FLAGS)");
        assert_eq!(sub("$ (FLAGS)", false, true).unwrap(), "5,7,10 (FLAGS)");
        assert_eq!(
            sub("$ +FLAGS ($)", false, false).unwrap(),
            "2:3,5 +FLAGS ($)"
        );
        assert_eq!(
            sub("UID $ OR $ SUBJECT $ (HEADER $ $)", true, true).unwrap(),
            "UID 5,7,10 OR 2:3,5 SUBJECT $ (HEADER $ $)"
        );
        assert_eq!(
            sub("SUBJECT {1}\r\n$ $", true, false).unwrap(),
            "SUBJECT {1}\r\n$ 2:3,5"
        );
        assert_eq!(sub("\"$\" $", true, false).unwrap(), "\"$\" 2:3,5");
        let empty = |args: &str, search: bool| {
            substitute(args.as_bytes(), &[8], &view, search, false)
                .map(|v| String::from_utf8(v).unwrap())
        };
        assert_eq!(empty("$ FLAGS", false), None);
        assert_eq!(
            empty("$ UID $", true).unwrap(),
            "UID 4294967295 UID 4294967295"
        );
    }

    #[test]
    fn partial_ranges() {
        let ExtCommand::Search(s) = parsed("a SEARCH RETURN (COUNT PARTIAL -1:-3) ALL\r\n") else {
            panic!()
        };
        let p = s.ret.unwrap().partial.unwrap();
        let found = [2, 4, 6, 8, 10];
        assert_eq!(p.window(&found), [6, 8, 10]);
        let p = Partial::parse("2:3").unwrap();
        assert_eq!(p.window(&found), [4, 6]);
        let p = Partial::parse("3:2").unwrap();
        assert_eq!(p.window(&found), [4, 6]);
        assert!(Partial::parse("6:9").unwrap().window(&found).is_empty());
        assert_eq!(Partial::parse("-5:-9").unwrap().window(&found), [2]);
        assert_eq!(
            Partial::parse("1:4294967295").unwrap().window(&found),
            found
        );
        for bad in [
            "0:5",
            "1:-5",
            "-1:5",
            "1",
            "a:b",
            "1:",
            ":2",
            "1:4294967296",
            "--1:-2",
        ] {
            assert!(Partial::parse(bad).is_none(), "{bad}");
        }
        for (raw, why) in [
            (
                "a SEARCH RETURN (PARTIAL 0:1) ALL\r\n",
                "PARTIAL needs a range like 1:100 or -1:-100, not \"0:1\"",
            ),
            (
                "a SEARCH RETURN (PARTIAL) ALL\r\n",
                "PARTIAL needs a range like 1:100 or -1:-100, not \"\"",
            ),
            (
                "a SORT RETURN (ALL PARTIAL 1:2) (DATE) UTF-8 ALL\r\n",
                "RETURN cannot have both ALL and PARTIAL (RFC 9394 §3)",
            ),
        ] {
            match super::super::parse(raw.as_bytes()) {
                Some(Err((_, e))) => assert_eq!(e, why, "{raw}"),
                other => panic!("{raw}: {other:?}"),
            }
        }
        let opts = ReturnOpts {
            count: true,
            partial: Partial::parse("-1:-2"),
            ..Default::default()
        };
        assert_eq!(
            esearch_response("a3", true, &opts, &[3, 4, 9], None),
            b"* ESEARCH (TAG \"a3\") UID COUNT 3 PARTIAL (-1:-2 4,9)\r\n"
        );
        assert_eq!(
            esort_response("a4", false, &opts, &[9, 4, 3]),
            b"* ESEARCH (TAG \"a4\") COUNT 3 PARTIAL (-1:-2 4,3)\r\n"
        );
        assert_eq!(
            esearch_response("a5", false, &opts, &[], None),
            b"* ESEARCH (TAG \"a5\") COUNT 0 PARTIAL (-1:-2 NIL)\r\n"
        );
        assert_eq!(opts.saved_part(&[3, 4, 9]), [4, 9]);
    }

    #[test]
    fn sort_return_forms() {
        let ExtCommand::Sort(s) =
            parsed("a UID SORT RETURN (max ALL) (REVERSE DATE) UTF-8 ALL\r\n")
        else {
            panic!()
        };
        assert!(s.uid);
        let o = s.ret.unwrap();
        assert!(o.max && o.all && !o.min && !o.count && !o.save);
        assert_eq!(s.args, b"(REVERSE DATE) UTF-8 ALL");
        let ExtCommand::Sort(s) = parsed("a SORT RETURN () (DATE) UTF-8 SEEN\r\n") else {
            panic!()
        };
        assert!(!s.uid && s.ret.unwrap().all);
        let ExtCommand::Sort(s) = parsed("a SORT (DATE) UTF-8 $\r\n") else {
            panic!()
        };
        assert!(s.ret.is_none());
        // A plain SORT without `$` is not this layer's: imap-codec's answer stands.
        assert!(super::super::parse(b"a SORT (DATE) UTF-8 BLAH\r\n").is_none());
        match super::super::parse(b"a SORT RETURN (FUZZY) (DATE) UTF-8 ALL\r\n") {
            Some(Err((_, why))) => assert_eq!(why, "Unknown SORT RETURN option FUZZY"),
            other => panic!("{other:?}"),
        }
        // Sort order kept: only ascending runs are compressed.
        assert_eq!(
            ordered_set(&[24, 25, 26, 30, 31, 17, 5, 4, 3]),
            "24:26,30:31,17,5,4,3"
        );
        let all = ReturnOpts {
            min: true,
            max: true,
            count: true,
            all: true,
            save: false,
            partial: None,
            ..Default::default()
        };
        assert_eq!(
            esort_response("a2", false, &all, &[8, 5, 4, 6, 7]),
            b"* ESEARCH (TAG \"a2\") MIN 8 MAX 7 COUNT 5 ALL 8,5,4,6:7\r\n"
        );
    }

    #[test]
    fn response_forms() {
        assert_eq!(compact_set(&[1, 2, 3, 5, 7, 8, 10]), "1:3,5,7:8,10");
        assert_eq!(compact_set(&[4]), "4");
        let all = ReturnOpts {
            min: true,
            max: true,
            count: true,
            all: true,
            save: false,
            partial: None,
            ..Default::default()
        };
        assert_eq!(
            esearch_response("a1", true, &all, &[2, 3, 4, 9], None),
            b"* ESEARCH (TAG \"a1\") UID MIN 2 MAX 9 COUNT 4 ALL 2:4,9\r\n"
        );
        assert_eq!(
            esearch_response("a1", false, &all, &[], None),
            b"* ESEARCH (TAG \"a1\") COUNT 0\r\n"
        );
        // RFC 7162 §3.1.5: a search that used MODSEQ ends with the highest modseq, except
        // when nothing matched.
        assert_eq!(
            esearch_response("a1", true, &all, &[2, 3, 4, 9], Some(917)),
            b"* ESEARCH (TAG \"a1\") UID MIN 2 MAX 9 COUNT 4 ALL 2:4,9 MODSEQ 917\r\n"
        );
        assert_eq!(
            esearch_response("a1", false, &all, &[], Some(917)),
            b"* ESEARCH (TAG \"a1\") COUNT 0\r\n"
        );
        let min_save = ReturnOpts {
            min: true,
            save: true,
            ..Default::default()
        };
        assert_eq!(min_save.saved_part(&[3, 4, 5]), vec![3]);
        let all_save = ReturnOpts {
            min: true,
            all: true,
            save: true,
            ..Default::default()
        };
        assert_eq!(all_save.saved_part(&[3, 4, 5]), vec![3, 4, 5]);
        assert!(!ReturnOpts {
            save: true,
            ..Default::default()
        }
        .answers());
    }

    #[test]
    fn update_and_cancel_forms() {
        let ExtCommand::Search(s) = parsed("a UID SEARCH RETURN (UPDATE count) DELETED\r\n") else {
            panic!()
        };
        let o = s.ret.unwrap();
        assert!(o.update && o.count && !o.all && !o.context);
        // UPDATE alone asks for no result, only updates (an empty ESEARCH, as Dovecot).
        let ExtCommand::Sort(s) = parsed("a SORT RETURN (UPDATE) (DATE) UTF-8 ALL\r\n") else {
            panic!()
        };
        let o = s.ret.unwrap();
        assert!(o.update && !o.all && o.answers());
        assert_eq!(
            esort_response("a", false, &o, &[3, 1]),
            b"* ESEARCH (TAG \"a\")\r\n"
        );
        // CONTEXT is a hint: RETURN (CONTEXT) is RETURN (), that is ALL.
        let ExtCommand::Search(s) = parsed("a SEARCH RETURN (CONTEXT) ALL\r\n") else {
            panic!()
        };
        let o = s.ret.unwrap();
        assert!(o.context && o.all);
        let ExtCommand::CancelUpdate(tags) = parsed("a CANCELUPDATE \"B01\" \"x\\\\y\"\r\n") else {
            panic!()
        };
        assert_eq!(tags, ["B01", "x\\y"]);
        for (raw, why) in [
            (
                "a CANCELUPDATE\r\n",
                "CANCELUPDATE takes one or more quoted tags",
            ),
            (
                "a CANCELUPDATE B01\r\n",
                "CANCELUPDATE takes one or more quoted tags",
            ),
            (
                "a CANCELUPDATE \"B01\" \r\n",
                "CANCELUPDATE takes one or more quoted tags",
            ),
            ("a CANCELUPDATE \"B01\"x\r\n", "Expected a space"),
        ] {
            match super::super::parse(raw.as_bytes()) {
                Some(Err((_, e))) => assert!(e.contains(why) || e == why, "{raw}: {e}"),
                other => panic!("{raw}: {other:?}"),
            }
        }
    }

    #[test]
    fn update_lines() {
        assert_eq!(
            update_response("B01", true, &[], &[(0, vec![32769, 32768])]).unwrap(),
            b"* ESEARCH (TAG \"B01\") UID ADDTO (0 32768:32769)\r\n"
        );
        assert_eq!(
            update_response(
                "s5",
                false,
                &[(2, vec![4, 7]), (3, vec![3])],
                &[(1, vec![5, 6])]
            )
            .unwrap(),
            b"* ESEARCH (TAG \"s5\") REMOVEFROM (2 4,7 3 3) ADDTO (1 5:6)\r\n"
        );
        assert_eq!(
            update_response("s", false, &[(0, vec![])], &[(0, vec![])]),
            None
        );
        assert_eq!(
            noupdate_response("B02", "Too many"),
            b"* NO [NOUPDATE \"B02\"] Too many\r\n"
        );
    }
}
