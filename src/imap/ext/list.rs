//! The mailbox-side forms imap-codec does not parse: `CREATE name (USE (...))` (RFC 6154
//! CREATE-SPECIAL-USE) and the extended LIST (RFC 5258 LIST-EXTENDED, RFC 5819 LIST-STATUS,
//! RFC 6154 SPECIAL-USE options), plus the one response form imap-codec cannot encode: a LIST
//! line with extended data items (`("CHILDINFO" ("SUBSCRIBED"))`).

use imap_codec::imap_types::status::StatusDataItemName;

use super::lex::{LexResult, Lexer};
use super::ExtCommand;

/// `CREATE name (USE (attr ...))`.
#[derive(Debug)]
pub struct CreateWithUse {
    /// The name as sent (validated by the command, like a plain CREATE's).
    pub mailbox: Vec<u8>,
    /// The use attributes as sent, with their backslash (`\Sent`); checked by the command so
    /// that an unknown one is `NO [USEATTR]`, not BAD.
    pub uses: Vec<String>,
}

/// LIST selection options (RFC 5258 §3.1, RFC 6154 §5).
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Selection {
    pub subscribed: bool,
    pub remote: bool,
    pub recursive_match: bool,
    pub special_use: bool,
}

/// LIST return options (RFC 5258 §3.2, RFC 6154 §5, RFC 5819).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Return {
    pub children: bool,
    pub subscribed: bool,
    pub special_use: bool,
    /// `STATUS (...)`: a STATUS response after each selectable mailbox.
    pub status: Option<Vec<StatusDataItemName>>,
    /// `MAILBOXID` among the STATUS items (RFC 8474 §4.2).
    pub status_mailbox_id: bool,
}

/// An extended LIST.
#[derive(Debug)]
pub struct ListExtended {
    pub selection: Selection,
    pub reference: Vec<u8>,
    /// One or more patterns (`LIST "" ("INBOX" "Sent*")`).
    pub patterns: Vec<Vec<u8>>,
    pub ret: Return,
}

/// `CREATE`: only the form with parameters reaches this layer (imap-codec parses the rest).
pub fn parse_create(lx: &mut Lexer<'_>) -> LexResult<ExtCommand> {
    let mailbox = lx.astring()?;
    lx.sp()?;
    let mut uses = None;
    lx.list(|lx| {
        if lx.keyword("USE") {
            lx.sp()?;
            if uses.is_some() {
                return Err("USE given twice".to_string());
            }
            uses = Some(lx.list(|lx| lx.flag().map(str::to_string))?);
            Ok(())
        } else {
            let name = lx.atom().unwrap_or("");
            Err(format!("Unknown CREATE parameter {name}"))
        }
    })?;
    lx.end()?;
    let uses = uses.ok_or_else(|| "CREATE parameters without USE".to_string())?;
    Ok(ExtCommand::CreateWithUse(CreateWithUse { mailbox, uses }))
}

/// `LIST [(selection)] reference (pattern | (patterns)) [RETURN (options)]`.
pub fn parse_list(lx: &mut Lexer<'_>) -> LexResult<ExtCommand> {
    let mut selection = Selection::default();
    if lx.peek() == Some(b'(') {
        lx.list(|lx| {
            let name = lx.atom()?;
            match name.to_ascii_uppercase().as_str() {
                "SUBSCRIBED" => selection.subscribed = true,
                "REMOTE" => selection.remote = true,
                "RECURSIVEMATCH" => selection.recursive_match = true,
                "SPECIAL-USE" => selection.special_use = true,
                _ => return Err(format!("Unknown LIST selection option {name}")),
            }
            Ok(())
        })?;
        lx.sp()?;
        // RFC 5258 §3.1: RECURSIVEMATCH alone would select nothing to recurse for.
        if selection.recursive_match && !selection.subscribed && !selection.special_use {
            return Err("RECURSIVEMATCH needs another selection option".into());
        }
    }
    let reference = lx.astring()?;
    lx.sp()?;
    let patterns = if lx.peek() == Some(b'(') {
        let p = lx.list(Lexer::list_mailbox)?;
        if p.is_empty() {
            return Err("Empty list of mailbox patterns".into());
        }
        p
    } else {
        vec![lx.list_mailbox()?]
    };
    let mut ret = Return::default();
    if !lx.at_end() {
        lx.sp()?;
        if !lx.keyword("RETURN") {
            return Err("Expected RETURN".into());
        }
        lx.sp()?;
        lx.list(|lx| {
            let name = lx.atom()?;
            match name.to_ascii_uppercase().as_str() {
                "CHILDREN" => ret.children = true,
                "SUBSCRIBED" => ret.subscribed = true,
                "SPECIAL-USE" => ret.special_use = true,
                "STATUS" => {
                    lx.sp()?;
                    let items = lx.list(super::objid::status_item)?;
                    ret.status_mailbox_id = items.contains(&None);
                    ret.status = Some(items.into_iter().flatten().collect());
                }
                _ => return Err(format!("Unknown LIST return option {name}")),
            }
            Ok(())
        })?;
    }
    lx.end()?;
    Ok(ExtCommand::ListExtended(ListExtended {
        selection,
        reference,
        patterns,
        ret,
    }))
}

/// A STATUS item name (RFC 3501, STATUS=SIZE, CONDSTORE's HIGHESTMODSEQ, and QUOTA's
/// DELETED / DELETED-STORAGE).
pub(super) fn status_item(lx: &mut Lexer<'_>) -> LexResult<StatusDataItemName> {
    let name = lx.atom()?;
    Ok(match name.to_ascii_uppercase().as_str() {
        "HIGHESTMODSEQ" => StatusDataItemName::HighestModSeq,
        "MESSAGES" => StatusDataItemName::Messages,
        "RECENT" => StatusDataItemName::Recent,
        "UIDNEXT" => StatusDataItemName::UidNext,
        "UIDVALIDITY" => StatusDataItemName::UidValidity,
        "UNSEEN" => StatusDataItemName::Unseen,
        "SIZE" => StatusDataItemName::Size,
        "DELETED" => StatusDataItemName::Deleted,
        "DELETED-STORAGE" => StatusDataItemName::DeletedStorage,
        _ => return Err(format!("Unknown STATUS item {name}")),
    })
}

/// A LIST line as imap-codec encoded it (ending in CRLF) with the CHILDINFO extended item
/// (RFC 5258 §3.5) for `reasons` (e.g. `SUBSCRIBED`) appended.
pub fn with_childinfo(line: Vec<u8>, reasons: &[&str]) -> Vec<u8> {
    if reasons.is_empty() {
        return line;
    }
    let mut item = b"(\"CHILDINFO\" (".to_vec();
    for (i, r) in reasons.iter().enumerate() {
        if i > 0 {
            item.push(b' ');
        }
        item.extend_from_slice(&quoted(r));
    }
    item.extend_from_slice(b"))");
    with_extended_item(line, &item)
}

/// A LIST line with the OLDNAME extended item (RFC 9051 §6.3.2): the name as the client wrote
/// it, when that is not the (normalised) name the line shows. `old` is a validated name (no
/// control characters).
pub fn with_oldname(line: Vec<u8>, old: &str) -> Vec<u8> {
    let mut item = b"(\"OLDNAME\" (".to_vec();
    item.extend_from_slice(&quoted(old));
    item.extend_from_slice(b"))");
    with_extended_item(line, &item)
}

fn with_extended_item(mut line: Vec<u8>, item: &[u8]) -> Vec<u8> {
    if line.ends_with(b"\r\n") {
        line.truncate(line.len() - 2);
    }
    line.push(b' ');
    line.extend_from_slice(item);
    line.extend_from_slice(b"\r\n");
    line
}

/// A quoted string (UTF-8 allowed, RFC 6855 §3) with `"` and `\` escaped.
fn quoted(s: &str) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len() + 2);
    out.push(b'"');
    for b in s.bytes() {
        if b == b'"' || b == b'\\' {
            out.push(b'\\');
        }
        out.push(b);
    }
    out.push(b'"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::imap::ext::parse;

    fn list(raw: &[u8]) -> ListExtended {
        match parse(raw) {
            Some(Ok((_, ExtCommand::ListExtended(l)))) => l,
            other => panic!("{other:?}"),
        }
    }

    fn bad(raw: &[u8]) -> String {
        match parse(raw) {
            Some(Err((_, e))) => e,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn extended_list_forms() {
        let l = list(b"a LIST (SUBSCRIBED RECURSIVEMATCH) \"\" % RETURN (CHILDREN)\r\n");
        assert!(l.selection.subscribed && l.selection.recursive_match);
        assert_eq!(l.patterns, vec![b"%".to_vec()]);
        assert!(l.ret.children);
        let l = list(b"a list \"\" (\"INBOX\" Sent* {3}\r\nx/%) return (status (messages size) special-use)\r\n");
        assert_eq!(
            l.patterns,
            vec![b"INBOX".to_vec(), b"Sent*".to_vec(), b"x/%".to_vec()]
        );
        assert_eq!(
            l.ret.status,
            Some(vec![StatusDataItemName::Messages, StatusDataItemName::Size])
        );
        assert!(l.ret.special_use);
        let l = list(b"a LIST \"\" * RETURN (STATUS (HIGHESTMODSEQ))\r\n");
        assert_eq!(l.ret.status, Some(vec![StatusDataItemName::HighestModSeq]));
        let l = list(b"a LIST \"\" * RETURN (STATUS (deleted DELETED-STORAGE))\r\n");
        assert_eq!(
            l.ret.status,
            Some(vec![
                StatusDataItemName::Deleted,
                StatusDataItemName::DeletedStorage
            ])
        );
        let l = list(b"a LIST () \"\" * RETURN ()\r\n");
        assert_eq!(l.selection, Selection::default());
        assert_eq!(l.ret, Return::default());
    }

    #[test]
    fn malformed_lists_are_bad_with_a_reason() {
        assert_eq!(
            bad(b"a LIST (RECURSIVEMATCH) \"\" *\r\n"),
            "RECURSIVEMATCH needs another selection option"
        );
        assert_eq!(
            bad(b"a LIST (FOO) \"\" *\r\n"),
            "Unknown LIST selection option FOO"
        );
        assert_eq!(
            bad(b"a LIST \"\" * RETURN (BAR)\r\n"),
            "Unknown LIST return option BAR"
        );
        assert_eq!(
            bad(b"a LIST \"\" * RETURN (STATUS (UNDELETED))\r\n"),
            "Unknown STATUS item UNDELETED"
        );
        assert_eq!(bad(b"a LIST \"\" ()\r\n"), "Empty list of mailbox patterns");
        assert_eq!(bad(b"a LIST \"\" * x\r\n"), "Expected RETURN");
    }

    #[test]
    fn create_with_use() {
        match parse(b"a CREATE \"My Sent\" (USE (\\Sent \\Archive))\r\n") {
            Some(Ok((_, ExtCommand::CreateWithUse(c)))) => {
                assert_eq!(c.mailbox, b"My Sent");
                assert_eq!(c.uses, vec!["\\Sent", "\\Archive"]);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            bad(b"a CREATE x (COLOR (red))\r\n"),
            "Unknown CREATE parameter COLOR"
        );
        assert_eq!(bad(b"a CREATE x ()\r\n"), "CREATE parameters without USE");
    }

    #[test]
    fn childinfo_is_appended_to_the_list_line() {
        assert_eq!(
            with_childinfo(b"* LIST () \"/\" Foo\r\n".to_vec(), &["SUBSCRIBED"]),
            b"* LIST () \"/\" Foo (\"CHILDINFO\" (\"SUBSCRIBED\"))\r\n"
        );
        assert_eq!(
            with_childinfo(b"* LIST () \"/\" Foo\r\n".to_vec(), &[]),
            b"* LIST () \"/\" Foo\r\n"
        );
    }

    #[test]
    fn oldname_is_appended_to_the_list_line() {
        assert_eq!(
            with_oldname(
                "* LIST () \"/\" \"ä\"\r\n".as_bytes().to_vec(),
                "a\u{308}\"\\"
            ),
            "* LIST () \"/\" \"ä\" (\"OLDNAME\" (\"a\u{308}\\\"\\\\\"))\r\n".as_bytes()
        );
    }
}
