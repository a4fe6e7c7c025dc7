//! NOTIFY (RFC 5465): `NOTIFY NONE` and `NOTIFY SET [STATUS] (filter events) ...`, which
//! imap-codec does not model; and the two response forms it cannot encode: the
//! `[BADEVENT (...)]` code and a LIST line with RFC 5258's `OLDNAME` extended item.

use imap_codec::imap_types::response::{Code, CodeOther};

use super::lex::{LexResult, Lexer};
use super::{decode_command, ExtCommand};

/// Which mailboxes a filter of `NOTIFY SET` covers (other than the selected one).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Filter {
    /// `inboxes`: the folders mail is delivered to; here INBOX.
    Inboxes,
    /// `personal`: every folder of the user.
    Personal,
    /// `subscribed`: the subscribed folders.
    Subscribed,
    /// `subtree (names)`: each named folder and everything below it.
    Subtree(Vec<String>),
    /// `mailboxes (names)`: exactly the named folders.
    Mailboxes(Vec<String>),
}

impl Filter {
    /// Whether the folder `name` is covered; `subscribed` says if it is subscribed.
    pub fn covers(&self, name: &str, subscribed: bool) -> bool {
        match self {
            Filter::Inboxes => name == crate::store::INBOX,
            Filter::Personal => true,
            Filter::Subscribed => subscribed,
            Filter::Mailboxes(names) => names.iter().any(|n| n == name),
            Filter::Subtree(names) => names.iter().any(|n| {
                name == n
                    || name
                        .strip_prefix(n.as_str())
                        .is_some_and(|rest| rest.starts_with(crate::imap::DELIMITER))
            }),
        }
    }
}

/// The events of one filter. `None` for the whole list means `NONE`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Events {
    pub message_new: bool,
    /// The FETCH attributes of `MessageNew (...)`, as sent (parenthesised), checked by
    /// imap-codec's FETCH grammar. Only allowed for the selected mailbox.
    pub fetch: Option<String>,
    pub message_expunge: bool,
    pub flag_change: bool,
    pub mailbox_name: bool,
    pub subscription_change: bool,
    /// MailboxMetadataChange / ServerMetadataChange (RFC 5465 §5.9, with RFC 5464's METADATA).
    pub mailbox_metadata: bool,
    pub server_metadata: bool,
}

impl Events {
    /// Whether any message event (new, expunge, flags) is asked for: these are what a STATUS
    /// response reports for a folder that is not selected.
    pub fn any_message_event(&self) -> bool {
        self.message_new || self.message_expunge || self.flag_change
    }
}

/// The events this server can report. AnnotationChange needs ANNOTATE (RFC 5257), which
/// liteimap does not have: asking for it is answered `NO [BADEVENT]` (RFC 5465 §5).
pub const SUPPORTED_EVENTS: [&str; 7] = [
    "MessageNew",
    "MessageExpunge",
    "FlagChange",
    "MailboxName",
    "SubscriptionChange",
    "MailboxMetadataChange",
    "ServerMetadataChange",
];

/// Events of RFC 5465 that this server does not report.
const UNSUPPORTED_EVENTS: [&str; 1] = ["AnnotationChange"];

#[derive(Debug, Default)]
pub struct NotifySet {
    /// `STATUS`: send the current STATUS of every covered folder at once.
    pub status: bool,
    /// `selected` / `selected-delayed`: (delayed, events); `None` events means `NONE`.
    pub selected: Option<(bool, Option<Events>)>,
    /// The other filters, in the order given; the first that covers a folder decides.
    pub others: Vec<(Filter, Option<Events>)>,
    /// Events asked for that this server does not report (answered NO [BADEVENT]).
    pub unsupported: Vec<String>,
}

impl NotifySet {
    /// The events of every filter, the selected one's first.
    pub fn all_events(&self) -> impl Iterator<Item = &Events> {
        self.selected
            .iter()
            .filter_map(|(_, e)| e.as_ref())
            .chain(self.others.iter().filter_map(|(_, e)| e.as_ref()))
    }

    /// Whether any filter asks for metadata changes (then the session watches the entries).
    pub fn wants_metadata(&self) -> bool {
        self.all_events()
            .any(|e| e.mailbox_metadata || e.server_metadata)
    }
}

#[derive(Debug)]
pub enum Notify {
    None,
    Set(NotifySet),
}

pub fn parse_notify(lx: &mut Lexer<'_>) -> LexResult<ExtCommand> {
    if lx.keyword("NONE") {
        lx.end()?;
        return Ok(ExtCommand::Notify(Notify::None));
    }
    if !lx.keyword("SET") {
        return Err("NOTIFY: expected SET or NONE".into());
    }
    let mut set = NotifySet::default();
    lx.sp()?;
    if lx.keyword("STATUS") {
        set.status = true;
        lx.sp()?;
    }
    loop {
        group(lx, &mut set)?;
        if lx.at_end() {
            break;
        }
        lx.sp()?;
    }
    lx.end()?;
    Ok(ExtCommand::Notify(Notify::Set(set)))
}

/// One `(filter events)`.
fn group(lx: &mut Lexer<'_>, set: &mut NotifySet) -> LexResult<()> {
    lx.expect(b'(', "'(' to start a NOTIFY event group")?;
    let word = lx.atom()?.to_ascii_lowercase();
    let selected = match word.as_str() {
        "selected" => Some(false),
        "selected-delayed" => Some(true),
        _ => None,
    };
    let filter = match word.as_str() {
        "selected" | "selected-delayed" => None,
        "inboxes" => Some(Filter::Inboxes),
        "personal" => Some(Filter::Personal),
        "subscribed" => Some(Filter::Subscribed),
        "subtree" => {
            lx.sp()?;
            Some(Filter::Subtree(mailboxes(lx)?))
        }
        "mailboxes" => {
            lx.sp()?;
            Some(Filter::Mailboxes(mailboxes(lx)?))
        }
        other => return Err(format!("NOTIFY: unknown mailbox filter {other}")),
    };
    lx.sp()?;
    let events = if lx.keyword("NONE") {
        None
    } else {
        Some(events(lx, selected.is_some(), &mut set.unsupported)?)
    };
    lx.expect(b')', "')' to end a NOTIFY event group")?;
    match (selected, filter) {
        (Some(delayed), _) => {
            if set.selected.is_some() {
                return Err("NOTIFY: the selected mailbox is named twice".into());
            }
            set.selected = Some((delayed, events));
        }
        (None, Some(f)) => set.others.push((f, events)),
        (None, None) => return Err("NOTIFY: missing mailbox filter".into()),
    }
    Ok(())
}

/// `mailbox` or `(mailbox mailbox ...)`, as store names.
fn mailboxes(lx: &mut Lexer<'_>) -> LexResult<Vec<String>> {
    let raw = if lx.peek() == Some(b'(') {
        lx.list(|l| l.astring())?
    } else {
        vec![lx.astring()?]
    };
    if raw.is_empty() {
        return Err("NOTIFY: empty mailbox list".into());
    }
    raw.iter()
        .map(|m| crate::store::mailbox_name(m).map_err(|e| format!("NOTIFY: {e}")))
        .collect()
}

fn events(lx: &mut Lexer<'_>, selected: bool, unsupported: &mut Vec<String>) -> LexResult<Events> {
    let mut ev = Events::default();
    lx.expect(b'(', "'(' to start the NOTIFY events")?;
    loop {
        let name = lx.atom()?;
        match name.to_ascii_lowercase().as_str() {
            "messagenew" => {
                ev.message_new = true;
                if lx.rest().starts_with(b" (") {
                    lx.sp()?;
                    if !selected {
                        return Err(
                            "NOTIFY: FETCH attributes of MessageNew are only for the selected mailbox"
                                .into(),
                        );
                    }
                    ev.fetch = Some(fetch_attributes(lx)?);
                }
            }
            "messageexpunge" => ev.message_expunge = true,
            "flagchange" => ev.flag_change = true,
            "mailboxname" => ev.mailbox_name = true,
            "subscriptionchange" => ev.subscription_change = true,
            "mailboxmetadatachange" => ev.mailbox_metadata = true,
            "servermetadatachange" => ev.server_metadata = true,
            lower => match UNSUPPORTED_EVENTS
                .iter()
                .find(|e| e.eq_ignore_ascii_case(lower))
            {
                Some(e) => {
                    if !unsupported.iter().any(|u| u == e) {
                        unsupported.push((*e).to_string());
                    }
                }
                None => return Err(format!("NOTIFY: unknown event {name}")),
            },
        }
        if lx.eat(b')') {
            break;
        }
        lx.sp()?;
    }
    // RFC 5465 §5: FlagChange and AnnotationChange come with MessageNew and MessageExpunge.
    if ev.flag_change && !(ev.message_new && ev.message_expunge) {
        return Err("NOTIFY: FlagChange needs MessageNew and MessageExpunge too".into());
    }
    Ok(ev)
}

/// A parenthesised list of FETCH attributes, taken as written (balanced parentheses and
/// brackets, quoted strings, no literals) and checked by imap-codec's FETCH grammar.
fn fetch_attributes(lx: &mut Lexer<'_>) -> LexResult<String> {
    let rest = lx.rest();
    let mut depth = 0usize;
    let mut quoted = false;
    let mut end = None;
    let mut i = 0;
    while i < rest.len() {
        let b = rest[i];
        match (quoted, b) {
            (_, b'\r' | b'\n' | b'{') if !quoted => break,
            (true, b'\\') => i += 1,
            (true, b'"') => quoted = false,
            (false, b'"') => quoted = true,
            (false, b'(' | b'[') => depth += 1,
            (false, b')' | b']') => {
                depth = depth.saturating_sub(1);
                if depth == 0 {
                    end = Some(i + 1);
                    break;
                }
            }
            _ => {}
        }
        i += 1;
    }
    let Some(end) = end else {
        return Err("NOTIFY: unterminated FETCH attribute list of MessageNew".into());
    };
    let text = std::str::from_utf8(&rest[..end])
        .map_err(|_| "NOTIFY: invalid FETCH attributes".to_string())?
        .to_string();
    if decode_command("FETCH", format!("1 {text}").as_bytes()).is_none() {
        return Err("NOTIFY: invalid FETCH attributes of MessageNew".into());
    }
    lx.skip(end);
    Ok(text)
}

/// `[BADEVENT (event ...)]` (RFC 5465 §8): the events this server supports.
pub fn code_badevent() -> Code<'static> {
    let mut c = b"BADEVENT (".to_vec();
    c.extend_from_slice(SUPPORTED_EVENTS.join(" ").as_bytes());
    c.push(b')');
    Code::Other(CodeOther::unvalidated(c))
}

/// `[NOTIFICATIONOVERFLOW]` (RFC 5465 §5.8).
pub fn code_overflow() -> Code<'static> {
    Code::Other(CodeOther::unvalidated(&b"NOTIFICATIONOVERFLOW"[..]))
}

/// A LIST line as imap-codec encoded it (ending in CRLF) with the `OLDNAME` extended item
/// (RFC 5465 §5.4, RFC 5258) for a renamed folder. `old_line` is the LIST line imap-codec
/// encoded for the old name: its mailbox (after the delimiter) is taken as written.
pub fn with_oldname(mut line: Vec<u8>, old_line: &[u8]) -> Vec<u8> {
    let old = old_line.strip_suffix(b"\r\n").unwrap_or(old_line);
    let old = old
        .windows(4)
        .position(|w| w == b"\"/\" ")
        .map_or(&b"NIL"[..], |i| &old[i + 4..]);
    if line.ends_with(b"\r\n") {
        line.truncate(line.len() - 2);
    }
    line.extend_from_slice(b" (\"OLDNAME\" (");
    line.extend_from_slice(old);
    line.extend_from_slice(b"))\r\n");
    line
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    fn notify(raw: &[u8]) -> Notify {
        match parse(raw) {
            Some(Ok((_, ExtCommand::Notify(n)))) => n,
            other => panic!("{other:?}"),
        }
    }

    fn bad(raw: &[u8]) -> String {
        match parse(raw) {
            Some(Err((_, why))) => why,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn none_and_set() {
        assert!(matches!(notify(b"a NOTIFY NONE\r\n"), Notify::None));
        let Notify::Set(s) = notify(
            b"a NOTIFY SET STATUS (selected (MessageNew (UID BODY.PEEK[HEADER.FIELDS (From)]) MessageExpunge FlagChange)) (subtree (Lists \"a b\") (MessageNew MessageExpunge)) (mailboxes inbox (MailboxName)) (personal NONE)\r\n",
        ) else {
            panic!()
        };
        assert!(s.status);
        let (delayed, ev) = s.selected.unwrap();
        let ev = ev.unwrap();
        assert!(!delayed && ev.message_new && ev.message_expunge && ev.flag_change);
        assert_eq!(
            ev.fetch.as_deref(),
            Some("(UID BODY.PEEK[HEADER.FIELDS (From)])")
        );
        assert_eq!(
            s.others[0].0,
            Filter::Subtree(vec!["Lists".into(), "a b".into()])
        );
        assert_eq!(s.others[1].0, Filter::Mailboxes(vec!["INBOX".into()]));
        assert!(s.others[1].1.as_ref().unwrap().mailbox_name);
        assert_eq!(s.others[2], (Filter::Personal, None));
        assert!(s.unsupported.is_empty());

        let Notify::Set(s) = notify(
            b"a NOTIFY SET (selected-delayed (MessageNew MessageExpunge)) (inboxes (MessageNew AnnotationChange MailboxMetadataChange))\r\n",
        ) else {
            panic!()
        };
        assert!(s.selected.unwrap().0);
        assert_eq!(s.unsupported, vec!["AnnotationChange"]);
        assert!(s.others[0].1.as_ref().unwrap().mailbox_metadata);
    }

    #[test]
    fn malformed() {
        for (raw, why) in [
            (&b"a NOTIFY\r\n"[..], "expected SET or NONE"),
            (b"a NOTIFY SET\r\n", "Expected a space"),
            (
                b"a NOTIFY SET (bogus (MessageNew))\r\n",
                "unknown mailbox filter",
            ),
            (b"a NOTIFY SET (personal (Bogus))\r\n", "unknown event"),
            (
                b"a NOTIFY SET (personal (MessageNew (UID) MessageExpunge))\r\n",
                "only for the selected",
            ),
            (
                b"a NOTIFY SET (selected (MessageNew (NOTANATT) MessageExpunge))\r\n",
                "invalid FETCH",
            ),
            (
                b"a NOTIFY SET (personal (FlagChange))\r\n",
                "FlagChange needs",
            ),
            (
                b"a NOTIFY SET (selected NONE) (selected-delayed NONE)\r\n",
                "named twice",
            ),
            (b"a NOTIFY SET (mailboxes () (MessageNew))\r\n", "empty"),
            (b"a NOTIFY NONE x\r\n", "Unexpected"),
        ] {
            let got = bad(raw);
            assert!(got.contains(why), "{}: {got}", String::from_utf8_lossy(raw));
        }
    }

    #[test]
    fn filters_cover() {
        let t = Filter::Subtree(vec!["Lists".into()]);
        assert!(t.covers("Lists", false) && t.covers("Lists/x", false));
        assert!(!t.covers("Listsx", false) && !t.covers("INBOX", false));
        assert!(Filter::Inboxes.covers("INBOX", false));
        assert!(!Filter::Inboxes.covers("Sent", true));
        assert!(Filter::Subscribed.covers("Sent", true));
    }

    #[test]
    fn encoded_forms() {
        let Code::Other(c) = code_badevent() else {
            panic!()
        };
        assert_eq!(
            c.inner(),
            b"BADEVENT (MessageNew MessageExpunge FlagChange MailboxName SubscriptionChange MailboxMetadataChange ServerMetadataChange)"
        );
        assert_eq!(
            with_oldname(
                b"* LIST () \"/\" New\r\n".to_vec(),
                b"* LIST () \"/\" \"Old x\"\r\n"
            ),
            b"* LIST () \"/\" New (\"OLDNAME\" (\"Old x\"))\r\n"
        );
    }
}
