//! The extension layer: command forms that imap-codec does not model (LIST-EXTENDED,
//! ESEARCH's `SEARCH RETURN`, ESORT's `SORT RETURN`, MULTIAPPEND, …) are parsed here from
//! the bytes imap-codec rejected, and the responses it cannot encode are written here. Everything hand-parsed lives
//! in this module and nowhere else.
//!
//! A command reaches this layer only after imap-codec has refused it, so the standard forms
//! always go through the real parser. [`parse`] looks the command name up in [`PARSERS`];
//! a name it does not know leaves the original BAD standing.

pub mod append;
pub mod fetch;
pub mod imapurl;
pub mod lex;
pub mod list;
pub mod notify;
pub mod objid;
pub mod search;
pub mod uidonly;
pub mod urlauth;

use imap_codec::decode::Decoder;
use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::core::Tag;
use imap_codec::imap_types::IntoStatic;
use imap_codec::CommandCodec;

use self::lex::{LexResult, Lexer};
use super::state::Needs;

/// A command parsed by this layer. Each variant is dispatched by `Session::dispatch_ext`.
#[derive(Debug)]
pub enum ExtCommand {
    /// SEARCH / UID SEARCH with RETURN (ESEARCH, SEARCHRES) or with `$` in its criteria.
    Search(search::ExtSearch),
    /// SORT / UID SORT with RETURN (ESORT) or with `$` in its criteria.
    Sort(search::ExtSort),
    /// CANCELUPDATE (RFC 5267 §4.3.5): the tags of the live searches to end.
    CancelUpdate(Vec<String>),
    /// FETCH / STORE / COPY / MOVE / UID EXPUNGE on `$`, the saved result (SEARCHRES).
    Saved(search::SavedRef),
    /// APPEND of several messages at once (MULTIAPPEND).
    MultiAppend(append::MultiAppend),
    /// `CREATE name (USE (...))` (RFC 6154).
    CreateWithUse(list::CreateWithUse),
    /// LIST with selection options, several patterns or RETURN (RFC 5258, 5819, 6154).
    ListExtended(list::ListExtended),
    /// NOTIFY SET / NOTIFY NONE (RFC 5465).
    Notify(notify::Notify),
    /// GENURLAUTH, RESETKEY, URLFETCH (RFC 4467, RFC 5524).
    GenUrlAuth(urlauth::GenUrlAuth),
    ResetKey(urlauth::ResetKey),
    UrlFetch(urlauth::UrlFetch),
    /// A standard command once its OBJECTID / SAVEDATE / PREVIEW items and keys were put in
    /// marker form (`objid::rewrite`).
    Rewritten(Box<CommandBody<'static>>),
    /// STATUS asking for MAILBOXID (RFC 8474 §4.2).
    Status(objid::ExtStatus),
    /// UNAUTHENTICATE (RFC 8437).
    Unauthenticate,
    /// REPLACE / UID REPLACE (RFC 8508).
    Replace(append::Replace),
}

impl ExtCommand {
    /// The command's name, for logs and errors.
    pub fn name(&self) -> &'static str {
        match self {
            ExtCommand::Search(s) if s.uid => "UID SEARCH",
            ExtCommand::Search(_) => "SEARCH",
            ExtCommand::Sort(s) if s.uid => "UID SORT",
            ExtCommand::Sort(_) => "SORT",
            ExtCommand::CancelUpdate(_) => "CANCELUPDATE",
            ExtCommand::Saved(s) => s.display_name(),
            ExtCommand::MultiAppend(_) => "APPEND",
            ExtCommand::CreateWithUse(_) => "CREATE",
            ExtCommand::ListExtended(_) => "LIST",
            ExtCommand::Notify(_) => "NOTIFY",
            ExtCommand::GenUrlAuth(_) => "GENURLAUTH",
            ExtCommand::ResetKey(_) => "RESETKEY",
            ExtCommand::UrlFetch(_) => "URLFETCH",
            ExtCommand::Rewritten(body) => body.name(),
            ExtCommand::Status(_) => "STATUS",
            ExtCommand::Unauthenticate => "UNAUTHENTICATE",
            ExtCommand::Replace(r) if r.uid => "UID REPLACE",
            ExtCommand::Replace(_) => "REPLACE",
        }
    }

    /// The state the command needs.
    pub fn needs(&self) -> Needs {
        match self {
            ExtCommand::Search(_)
            | ExtCommand::Sort(_)
            | ExtCommand::Saved(_)
            | ExtCommand::CancelUpdate(_) => Needs::Selected,
            ExtCommand::MultiAppend(_) => Needs::Authenticated,
            ExtCommand::CreateWithUse(_) | ExtCommand::ListExtended(_) => Needs::Authenticated,
            ExtCommand::Notify(_)
            | ExtCommand::GenUrlAuth(_)
            | ExtCommand::ResetKey(_)
            | ExtCommand::UrlFetch(_) => Needs::Authenticated,
            ExtCommand::Rewritten(body) => crate::imap::session::needs(body),
            ExtCommand::Status(_) | ExtCommand::Unauthenticate => Needs::Authenticated,
            ExtCommand::Replace(_) => Needs::Selected,
        }
    }

    /// Whether the command addresses messages by sequence number (no EXPUNGE may be sent
    /// while it runs, RFC 3501 §7.4.1).
    pub fn uses_sequence_numbers(&self) -> bool {
        match self {
            ExtCommand::Search(s) => !s.uid,
            ExtCommand::Sort(s) => !s.uid,
            ExtCommand::Saved(s) => !s.uid,
            ExtCommand::CancelUpdate(_) => false,
            ExtCommand::MultiAppend(_) => false,
            ExtCommand::CreateWithUse(_) | ExtCommand::ListExtended(_) => false,
            ExtCommand::Notify(_)
            | ExtCommand::GenUrlAuth(_)
            | ExtCommand::ResetKey(_)
            | ExtCommand::UrlFetch(_) => false,
            ExtCommand::Rewritten(body) => crate::imap::session::uses_sequence_numbers(body),
            ExtCommand::Status(_) | ExtCommand::Unauthenticate => false,
            ExtCommand::Replace(r) => !r.uid,
        }
    }
}

/// A parser for one command: called with the lexer just after the command name and its
/// space (when the command has arguments).
type Parser = fn(&mut Lexer<'_>) -> LexResult<ExtCommand>;

/// The extension forms: (`UID` prefix, command name, parser).
const PARSERS: &[(bool, &str, Parser)] = &[
    (false, "SEARCH", search::search),
    (true, "SEARCH", search::uid_search),
    (false, "SORT", search::sort),
    (true, "SORT", search::uid_sort),
    (false, "CANCELUPDATE", search::cancel_update),
    (false, "FETCH", search::fetch),
    (true, "FETCH", search::uid_fetch),
    (false, "STORE", search::store),
    (true, "STORE", search::uid_store),
    (false, "COPY", search::copy),
    (true, "COPY", search::uid_copy),
    (false, "MOVE", search::r#move),
    (true, "MOVE", search::uid_move),
    (true, "EXPUNGE", search::uid_expunge),
    (false, "APPEND", append::append),
    (false, "CREATE", list::parse_create),
    (false, "LIST", list::parse_list),
    (false, "NOTIFY", notify::parse_notify),
    (false, "GENURLAUTH", urlauth::parse_genurlauth),
    (false, "RESETKEY", urlauth::parse_resetkey),
    (false, "URLFETCH", urlauth::parse_urlfetch),
    (false, "STATUS", objid::parse_status),
    (false, "UNAUTHENTICATE", unauthenticate),
    (false, "REPLACE", append::replace),
    (true, "REPLACE", append::uid_replace),
];

/// `UNAUTHENTICATE` (RFC 8437 §2): no arguments.
fn unauthenticate(lx: &mut Lexer<'_>) -> LexResult<ExtCommand> {
    lx.end()?;
    Ok(ExtCommand::Unauthenticate)
}

/// Decode `x <command> <args>` with imap-codec: a standard form this layer rebuilt (criteria
/// after `RETURN`, a command with `$` replaced, one message of a MULTIAPPEND).
pub fn decode_command(command: &str, args: &[u8]) -> Option<CommandBody<'static>> {
    let mut line = format!("x {command} ").into_bytes();
    line.extend_from_slice(args);
    line.extend_from_slice(b"\r\n");
    match CommandCodec::default().decode(&line) {
        Ok((b"", cmd)) => Some(cmd.body.into_static()),
        _ => None,
    }
}

/// What a parser returns for a command that is not its extension form after all (e.g. a
/// FETCH without `$`): the original rejection then stands, as for an unknown name.
pub const NOT_THIS_FORM: &str = "(not an extension form)";

/// The result of [`parse`]: the command, or its tag and why it is malformed.
pub type Parsed = Result<(Tag<'static>, ExtCommand), (Tag<'static>, String)>;

/// Parse a message imap-codec refused. `None`: it is not a form of this layer (the original
/// rejection stands); `Some(Err(..))`: it is, but malformed (tagged BAD with the reason).
pub fn parse(raw: &[u8]) -> Option<Parsed> {
    // OBJECTID / SAVEDATE / PREVIEW items and keys: put in marker form, the command may be a
    // standard one (or one of the forms below) after all.
    match objid::rewrite(raw) {
        Ok(None) => parse_forms(raw),
        Ok(Some(rewritten)) => match CommandCodec::default().decode(&rewritten) {
            Ok((b"", cmd)) => Some(Ok((
                cmd.tag.into_static(),
                ExtCommand::Rewritten(Box::new(cmd.body.into_static())),
            ))),
            _ => parse_forms(&rewritten),
        },
        Err(e) => {
            let tag = Lexer::new(raw).tag().ok()?;
            Some(Err((tag, e)))
        }
    }
}

/// [`parse`] for the forms of [`PARSERS`].
fn parse_forms(raw: &[u8]) -> Option<Parsed> {
    let mut lx = Lexer::new(raw);
    let tag = lx.tag().ok()?;
    let mut name = lx.atom().ok()?;
    let uid = name.eq_ignore_ascii_case("UID");
    if uid {
        lx.sp().ok()?;
        name = lx.atom().ok()?;
    }
    let (_, _, parser) = PARSERS
        .iter()
        .find(|(u, n, _)| *u == uid && n.eq_ignore_ascii_case(name))?;
    if !lx.at_end() {
        if let Err(e) = lx.sp() {
            return Some(Err((tag, e)));
        }
    }
    match parser(&mut lx) {
        Ok(cmd) => Some(Ok((tag, cmd))),
        Err(e) if e == NOT_THIS_FORM => None,
        Err(e) => Some(Err((tag, e))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unknown_forms_are_left_to_the_original_rejection() {
        assert!(parse(b"a1 FROBNICATE x\r\n").is_none());
        assert!(parse(b"a1 UID FROBNICATE x\r\n").is_none());
        assert!(parse(b"\r\n").is_none());
        assert!(parse(b"").is_none());
    }
}
