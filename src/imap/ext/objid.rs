//! OBJECTID (RFC 8474), SAVEDATE (RFC 8514) and PREVIEW (RFC 8970): the FETCH items, SEARCH
//! keys, STATUS item and response forms imap-codec does not model.
//!
//! Requests: [`rewrite`] turns each extension item or key into a standard form that carries a
//! per-process random marker — the FETCH item `EMAILID` into `BODY.PEEK[HEADER.FIELDS
//! (<marker>-EMAILID)]`, the SEARCH key `EMAILID x` into `HEADER <marker>-EMAILID x` — so the
//! command still goes through imap-codec's own FETCH and SEARCH parsers (and through the
//! ESEARCH and `$` forms of this layer); [`fetch_item`] and [`search_key`] recognise the
//! markers afterwards. No client can send a marker: it is random and never shown.
//! Responses: [`append_fetch_items`] adds the items to a FETCH response imap-codec encoded,
//! [`with_mailbox_id`] adds `MAILBOXID (…)` to a STATUS response, [`mailbox_id_code`] is the
//! `[MAILBOXID (…)]` response code.

use std::sync::OnceLock;

use imap_codec::imap_types::core::AString;
use imap_codec::imap_types::fetch::{MessageDataItemName, Section};
use imap_codec::imap_types::response::{Code, CodeOther};

use super::search::{tokens, Token};
use crate::store::Cond;

/// A FETCH item of these extensions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ObjItem {
    EmailId,
    ThreadId,
    SaveDate,
    /// `PREVIEW` or `PREVIEW (LAZY)`: answered the same (the preview is always at hand).
    Preview,
}

/// A FETCH item's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ObjValue {
    EmailId(String),
    ThreadId(Option<String>),
    /// Already in RFC 3501 date-time form (`01-Feb-2024 10:00:00 +0000`, without quotes).
    SaveDate(Option<String>),
    Preview(Option<String>),
}

fn marker() -> &'static str {
    static MARKER: OnceLock<String> = OnceLock::new();
    MARKER.get_or_init(|| {
        let random = crate::store::random_bytes();
        format!("liteimap-objid-{}", crate::store::hex(&random[..12]))
    })
}

const FETCH_ITEMS: &[(&str, ObjItem)] = &[
    ("EMAILID", ObjItem::EmailId),
    ("THREADID", ObjItem::ThreadId),
    ("SAVEDATE", ObjItem::SaveDate),
    ("PREVIEW", ObjItem::Preview),
];

/// Search keys of these extensions and how many arguments each takes.
const SEARCH_KEYS: &[(&str, usize)] = &[
    ("EMAILID", 1),
    ("THREADID", 1),
    ("SAVEDBEFORE", 1),
    ("SAVEDON", 1),
    ("SAVEDSINCE", 1),
    ("SAVEDATESUPPORTED", 0),
];

/// How many arguments a standard search key (or SEARCH / SORT / THREAD prefix word) takes, so
/// that an argument that happens to read `EMAILID` (`SUBJECT EMAILID`) is left alone.
fn standard_args(word: &str) -> usize {
    match word {
        "BCC" | "BODY" | "CC" | "FROM" | "SUBJECT" | "TEXT" | "TO" | "KEYWORD" | "UNKEYWORD"
        | "BEFORE" | "ON" | "SINCE" | "SENTBEFORE" | "SENTON" | "SENTSINCE" | "LARGER"
        | "SMALLER" | "UID" | "OLDER" | "YOUNGER" | "CHARSET" | "PARTIAL" | "MODSEQ" => 1,
        "HEADER" => 2,
        _ => 0,
    }
}

/// The command with its extension items and keys in marker form; `Ok(None)` when it has
/// none; `Err` for a malformed extension key (its BAD text).
pub fn rewrite(raw: &[u8]) -> Result<Option<Vec<u8>>, String> {
    let toks = tokens(raw);
    let word = |t: &Token| String::from_utf8_lossy(&raw[t.start..t.end]).to_ascii_uppercase();
    // tag [UID] name args
    let mut at = 1;
    if toks.get(at).is_some_and(|t| t.atom && word(t) == "UID") {
        at += 1;
    }
    let Some(name) = toks.get(at).filter(|t| t.atom).map(word) else {
        return Ok(None);
    };
    let args = &toks[at + 1..];
    let edits = match name.as_str() {
        "FETCH" => fetch_edits(raw, args),
        "SEARCH" | "SORT" | "THREAD" => search_edits(raw, args)?,
        _ => return Ok(None),
    };
    if edits.is_empty() {
        return Ok(None);
    }
    let mut out = Vec::with_capacity(raw.len() + 64 * edits.len());
    let mut last = 0;
    for (start, end, replacement) in edits {
        out.extend_from_slice(&raw[last..start]);
        out.extend_from_slice(replacement.as_bytes());
        last = end;
    }
    out.extend_from_slice(&raw[last..]);
    Ok(Some(out))
}

/// (start, end, replacement) of each extension FETCH item, outside section brackets.
fn fetch_edits(raw: &[u8], args: &[Token]) -> Vec<(usize, usize, String)> {
    let mut edits = Vec::new();
    let mut depth = 0i32;
    // The first argument is the sequence set.
    let mut i = 1;
    while i < args.len() {
        let t = &args[i];
        let text = &raw[t.start..t.end];
        let opens = text.iter().filter(|&&b| b == b'[').count() as i32;
        let closes = text.iter().filter(|&&b| b == b']').count() as i32;
        if depth == 0 && t.atom {
            let upper = String::from_utf8_lossy(text).to_ascii_uppercase();
            if let Some((name, _)) = FETCH_ITEMS.iter().find(|(n, _)| *n == upper) {
                let mut end = t.end;
                if *name == "PREVIEW" {
                    // `PREVIEW (LAZY)` (RFC 8970 §3): the modifier list goes with the item.
                    let rest = &raw[end..];
                    let upper_rest =
                        String::from_utf8_lossy(&rest[..rest.len().min(16)]).to_ascii_uppercase();
                    if let Some(m) = ["  (LAZY)", " (LAZY)"]
                        .iter()
                        .find(|m| upper_rest.starts_with(**m))
                    {
                        end += m.len();
                        i += 1;
                    }
                }
                edits.push((
                    t.start,
                    end,
                    format!("BODY.PEEK[HEADER.FIELDS ({}-{name})]", marker()),
                ));
            }
        }
        depth += opens - closes;
        i += 1;
    }
    edits
}

/// (start, end, replacement) of each extension SEARCH key in key position.
fn search_edits(raw: &[u8], args: &[Token]) -> Result<Vec<(usize, usize, String)>, String> {
    let mut edits = Vec::new();
    let mut skip = 0usize;
    let mut i = 0;
    while i < args.len() {
        let t = &args[i];
        i += 1;
        if skip > 0 {
            skip -= 1;
            continue;
        }
        if !t.atom {
            continue;
        }
        let upper = String::from_utf8_lossy(&raw[t.start..t.end]).to_ascii_uppercase();
        let Some((name, n)) = SEARCH_KEYS.iter().find(|(k, _)| *k == upper) else {
            skip = standard_args(&upper);
            continue;
        };
        let (end, value) = if *n == 1 {
            let v = args
                .get(i)
                .ok_or_else(|| format!("{name} needs an argument"))?;
            i += 1;
            let value = &raw[v.start..v.end];
            if name.starts_with("SAVED") && save_day(value).is_none() {
                return Err(format!(
                    "{name} needs a date like 1-Feb-2024, not {}",
                    String::from_utf8_lossy(value)
                ));
            }
            (v.end, String::from_utf8_lossy(value).into_owned())
        } else {
            (t.end, "\"\"".to_string())
        };
        edits.push((t.start, end, format!("HEADER {}-{name} {value}", marker())));
    }
    Ok(edits)
}

/// A SEARCH date (`1-Feb-2024`, also quoted).
fn save_day(value: &[u8]) -> Option<chrono::NaiveDate> {
    let s = std::str::from_utf8(value).ok()?;
    let s = s
        .strip_prefix('"')
        .and_then(|s| s.strip_suffix('"'))
        .unwrap_or(s);
    chrono::NaiveDate::parse_from_str(s, "%d-%b-%Y").ok()
}

fn marked(name: &[u8]) -> Option<&str> {
    let m = marker();
    let s = std::str::from_utf8(name).ok()?;
    s.strip_prefix(m)?.strip_prefix('-')
}

/// The extension item a rewritten FETCH item stands for.
pub fn fetch_item(item: &MessageDataItemName<'_>) -> Option<ObjItem> {
    let MessageDataItemName::BodyExt {
        section: Some(Section::HeaderFields(None, fields)),
        ..
    } = item
    else {
        return None;
    };
    let [field] = fields.as_ref() else {
        return None;
    };
    let name = marked(field.as_ref())?;
    FETCH_ITEMS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, item)| *item)
}

/// The condition a rewritten SEARCH key stands for (`HEADER <marker>-KEY value`).
pub fn search_key(name: &AString<'_>, value: &AString<'_>) -> Option<Cond> {
    let key = marked(name.as_ref())?;
    let value = String::from_utf8_lossy(value.as_ref()).into_owned();
    let day = || save_day(value.as_bytes());
    Some(match key {
        "EMAILID" => Cond::EmailId(value),
        "THREADID" => Cond::ThreadId(value),
        "SAVEDBEFORE" => Cond::SavedBefore(day()?),
        "SAVEDON" => Cond::SavedOn(day()?),
        "SAVEDSINCE" => Cond::SavedSince(day()?),
        // Every message of every mailbox here has a save date (RFC 8514 §4).
        "SAVEDATESUPPORTED" => Cond::All,
        _ => return None,
    })
}

/// An IMAP string for `s`: quoted when it is printable ASCII, a literal otherwise.
fn string(s: &str) -> String {
    if s.bytes().all(|b| (0x20..0x7f).contains(&b)) {
        format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
    } else {
        format!("{{{}}}\r\n{s}", s.len())
    }
}

/// The items as they appear in a FETCH response, space-separated.
pub fn encode_items(values: &[ObjValue]) -> String {
    let nil_or = |v: &Option<String>, f: &dyn Fn(&str) -> String| match v {
        Some(s) => f(s),
        None => "NIL".to_string(),
    };
    values
        .iter()
        .map(|v| match v {
            ObjValue::EmailId(id) => format!("EMAILID ({id})"),
            ObjValue::ThreadId(t) => format!("THREADID {}", nil_or(t, &|s| format!("({s})"))),
            ObjValue::SaveDate(d) => format!("SAVEDATE {}", nil_or(d, &|s| format!("\"{s}\""))),
            ObjValue::Preview(p) => format!("PREVIEW {}", nil_or(p, &string)),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

/// A FETCH response line (as imap-codec encoded it, ending in `)\r\n`) with `values` added
/// at its end.
pub fn append_fetch_items(mut encoded: Vec<u8>, values: &[ObjValue]) -> Vec<u8> {
    if values.is_empty() || !encoded.ends_with(b")\r\n") {
        return encoded;
    }
    encoded.truncate(encoded.len() - 3);
    encoded.push(b' ');
    encoded.extend_from_slice(encode_items(values).as_bytes());
    encoded.extend_from_slice(b")\r\n");
    encoded
}

/// A FETCH response of extension items only.
pub fn fetch_response(seq: u32, values: &[ObjValue]) -> Vec<u8> {
    format!("* {seq} FETCH ({})\r\n", encode_items(values)).into_bytes()
}

/// A STATUS response (as imap-codec encoded it) with `MAILBOXID (id)` added to its items.
pub fn with_mailbox_id(mut encoded: Vec<u8>, id: &str) -> Vec<u8> {
    if !encoded.ends_with(b")\r\n") {
        return encoded;
    }
    encoded.truncate(encoded.len() - 3);
    if !encoded.ends_with(b"(") {
        encoded.push(b' ');
    }
    encoded.extend_from_slice(format!("MAILBOXID ({id}))\r\n").as_bytes());
    encoded
}

/// `[MAILBOXID (id)]` for SELECT and EXAMINE (RFC 8474 §4.1). The id is the store's
/// (letters and digits only).
pub fn mailbox_id_code(id: &str) -> Code<'static> {
    Code::Other(CodeOther::unvalidated(
        format!("MAILBOXID ({id})").into_bytes(),
    ))
}

/// RFC 3501 date-time, without the quotes.
pub fn date_time(t: chrono::DateTime<chrono::FixedOffset>) -> String {
    t.format("%d-%b-%Y %H:%M:%S %z").to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rw(s: &str) -> String {
        let out = rewrite(s.as_bytes())
            .unwrap()
            .unwrap_or_else(|| s.as_bytes().to_vec());
        String::from_utf8(out).unwrap().replace(marker(), "M")
    }

    #[test]
    fn fetch_items_become_marked_sections() {
        assert_eq!(
            rw("a FETCH 1:* (UID EMAILID THREADID)\r\n"),
            "a FETCH 1:* (UID BODY.PEEK[HEADER.FIELDS (M-EMAILID)] BODY.PEEK[HEADER.FIELDS (M-THREADID)])\r\n"
        );
        assert_eq!(
            rw("a UID FETCH 1 (PREVIEW (LAZY) savedate)\r\n"),
            "a UID FETCH 1 (BODY.PEEK[HEADER.FIELDS (M-PREVIEW)] BODY.PEEK[HEADER.FIELDS (M-SAVEDATE)])\r\n"
        );
        assert_eq!(
            rw("a FETCH 1 PREVIEW\r\n"),
            "a FETCH 1 BODY.PEEK[HEADER.FIELDS (M-PREVIEW)]\r\n"
        );
        // A header field that is called EMAILID is a header field.
        assert!(rewrite(b"a FETCH 1 (BODY[HEADER.FIELDS (EMAILID)])\r\n")
            .unwrap()
            .is_none());
        assert!(rewrite(b"a FETCH 1 (FLAGS)\r\n").unwrap().is_none());
    }

    #[test]
    fn search_keys_become_marked_headers() {
        assert_eq!(
            rw("a SEARCH EMAILID Mabc NOT THREADID T1\r\n"),
            "a SEARCH HEADER M-EMAILID Mabc NOT HEADER M-THREADID T1\r\n"
        );
        assert_eq!(
            rw("a UID SEARCH RETURN (COUNT) SAVEDSINCE 1-Feb-2024 SAVEDATESUPPORTED\r\n"),
            "a UID SEARCH RETURN (COUNT) HEADER M-SAVEDSINCE 1-Feb-2024 HEADER M-SAVEDATESUPPORTED \"\"\r\n"
        );
        // Arguments of other keys are left alone.
        assert!(rewrite(b"a SEARCH SUBJECT EMAILID HEADER THREADID x\r\n")
            .unwrap()
            .is_none());
        assert!(rewrite(b"a SEARCH SAVEDON 31-Foo-2024\r\n").is_err());
        assert!(rewrite(b"a SEARCH EMAILID\r\n").is_err());
    }

    #[test]
    fn responses() {
        let vals = [
            ObjValue::EmailId("M1".into()),
            ObjValue::ThreadId(None),
            ObjValue::SaveDate(Some("01-Feb-2024 10:00:00 +0000".into())),
            ObjValue::Preview(Some("Hi \"you\"".into())),
        ];
        assert_eq!(
            append_fetch_items(b"* 1 FETCH (UID 4)\r\n".to_vec(), &vals),
            b"* 1 FETCH (UID 4 EMAILID (M1) THREADID NIL SAVEDATE \"01-Feb-2024 10:00:00 +0000\" PREVIEW \"Hi \\\"you\\\"\")\r\n".to_vec()
        );
        assert_eq!(
            fetch_response(2, &[ObjValue::Preview(Some("Café".into()))]),
            b"* 2 FETCH (PREVIEW {5}\r\nCaf\xc3\xa9)\r\n".to_vec()
        );
        assert_eq!(
            with_mailbox_id(b"* STATUS INBOX (MESSAGES 1)\r\n".to_vec(), "F1"),
            b"* STATUS INBOX (MESSAGES 1 MAILBOXID (F1))\r\n".to_vec()
        );
        assert_eq!(
            with_mailbox_id(b"* STATUS INBOX ()\r\n".to_vec(), "F1"),
            b"* STATUS INBOX (MAILBOXID (F1))\r\n".to_vec()
        );
    }
}

/// `STATUS mailbox (items)` with MAILBOXID among the items.
#[derive(Debug)]
pub struct ExtStatus {
    pub mailbox: imap_codec::imap_types::mailbox::Mailbox<'static>,
    pub items: Vec<imap_codec::imap_types::status::StatusDataItemName>,
}

/// A STATUS item name, or `None` for MAILBOXID.
pub(super) fn status_item(
    lx: &mut super::lex::Lexer<'_>,
) -> super::lex::LexResult<Option<imap_codec::imap_types::status::StatusDataItemName>> {
    if lx.keyword("MAILBOXID") {
        return Ok(None);
    }
    super::list::status_item(lx).map(Some)
}

/// STATUS with MAILBOXID (the others are imap-codec's).
pub fn parse_status(lx: &mut super::lex::Lexer<'_>) -> super::lex::LexResult<super::ExtCommand> {
    let before = lx.rest();
    lx.astring()?;
    let source = &before[..before.len() - lx.rest().len()];
    lx.sp()?;
    let items = lx.list(status_item)?;
    lx.end()?;
    if !items.contains(&None) {
        return Err(super::NOT_THIS_FORM.into());
    }
    // The mailbox name as imap-codec reads it (INBOX in any case, literals, quoting).
    let mut args = source.to_vec();
    args.extend_from_slice(b" (MESSAGES)");
    let Some(imap_codec::imap_types::command::CommandBody::Status { mailbox, .. }) =
        super::decode_command("STATUS", &args)
    else {
        return Err("Invalid mailbox name".into());
    };
    Ok(super::ExtCommand::Status(ExtStatus {
        mailbox,
        items: items.into_iter().flatten().collect(),
    }))
}
