//! MULTIAPPEND (RFC 3502): `APPEND mailbox [flags] [date] literal [flags] [date] literal ...`.
//! imap-codec parses an APPEND of one message only; here the command is split at its messages
//! and each `mailbox message` is handed back to imap-codec's APPEND parser, so flags, dates
//! and literal8 are read by the real grammar. REPLACE (RFC 8508) is APPEND's arguments after
//! a message number, handed to the same parser.

use imap_codec::imap_types::command::CommandBody;
use imap_codec::imap_types::datetime::DateTime;
use imap_codec::imap_types::extensions::binary::LiteralOrLiteral8;
use imap_codec::imap_types::flag::Flag;
use imap_codec::imap_types::mailbox::Mailbox;

use super::lex::{LexResult, Lexer};
use super::{decode_command, ExtCommand, NOT_THIS_FORM};

/// One message of a MULTIAPPEND.
#[derive(Debug)]
pub struct AppendMessage {
    pub flags: Vec<Flag<'static>>,
    pub date: Option<DateTime>,
    pub message: LiteralOrLiteral8<'static>,
}

#[derive(Debug)]
pub struct MultiAppend {
    pub mailbox: Mailbox<'static>,
    pub messages: Vec<AppendMessage>,
}

/// The bytes consumed between two positions of the lexer (`before` is an earlier `rest()`).
fn consumed<'a>(before: &'a [u8], lx: &Lexer<'a>) -> &'a [u8] {
    &before[..before.len() - lx.rest().len()]
}

pub fn append(lx: &mut Lexer<'_>) -> LexResult<ExtCommand> {
    let start = lx.rest();
    lx.astring()?;
    let mailbox_src = consumed(start, lx);
    let mut pieces: Vec<&[u8]> = Vec::new();
    loop {
        lx.sp()?;
        let msg_start = lx.rest();
        if lx.peek() == Some(b'(') {
            lx.list(|l| l.flag().map(|_| ()))?;
            lx.sp()?;
        }
        if lx.peek() == Some(b'"') {
            lx.string(false)?;
            lx.sp()?;
        }
        if !matches!(lx.peek(), Some(b'{' | b'~')) {
            return Err(format!(
                "Message {} of APPEND: expected a literal with the message",
                pieces.len() + 1
            ));
        }
        lx.string(true)?;
        pieces.push(consumed(msg_start, lx));
        if lx.at_end() {
            break;
        }
    }
    lx.end()?;
    if pieces.len() < 2 {
        // A single message imap-codec refused: its own BAD stands.
        return Err(NOT_THIS_FORM.into());
    }
    let mut mailbox = None;
    let mut messages = Vec::with_capacity(pieces.len());
    for (i, piece) in pieces.into_iter().enumerate() {
        let mut args = mailbox_src.to_vec();
        args.push(b' ');
        args.extend_from_slice(piece);
        let Some(CommandBody::Append {
            mailbox: m,
            flags,
            date,
            message,
        }) = decode_command("APPEND", &args)
        else {
            return Err(format!(
                "Message {} of APPEND: invalid flags, date or message",
                i + 1
            ));
        };
        mailbox.get_or_insert(m);
        messages.push(AppendMessage {
            flags,
            date,
            message,
        });
    }
    let mailbox = mailbox.ok_or_else(|| "APPEND without a message".to_string())?;
    Ok(ExtCommand::MultiAppend(MultiAppend { mailbox, messages }))
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    fn multi(raw: &[u8]) -> MultiAppend {
        match parse(raw) {
            Some(Ok((_, ExtCommand::MultiAppend(m)))) => m,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn splits_messages() {
        let m = multi(
            b"a APPEND Drafts (\\Seen) \"01-Jan-2020 10:00:00 +0100\" {2}\r\nab {3+}\r\ncde (\\Flagged $X) ~{2}\r\n\x00f\r\n",
        );
        assert_eq!(m.mailbox, Mailbox::try_from("Drafts").unwrap());
        assert_eq!(m.messages.len(), 3);
        assert_eq!(m.messages[0].flags, vec![Flag::Seen]);
        assert!(m.messages[0].date.is_some());
        assert!(m.messages[1].flags.is_empty() && m.messages[1].date.is_none());
        assert_eq!(m.messages[2].flags.len(), 2);
        assert!(matches!(
            &m.messages[2].message,
            LiteralOrLiteral8::Literal8(l) if l.data.as_ref() == b"\x00f"
        ));
    }

    #[test]
    fn malformed() {
        // One message is imap-codec's business: its rejection (a bad date here) stands.
        assert!(parse(b"a APPEND INBOX \"x\" {2}\r\nab\r\n").is_none());
        for bad in [
            b"a APPEND INBOX {2}\r\nab \"x\"\r\n" as &[u8],
            b"a APPEND INBOX {2}\r\nab (\\Seen) \"not a date\" {1}\r\nx\r\n",
            b"a APPEND INBOX {2}\r\nab  {1}\r\nx\r\n",
            b"a APPEND INBOX {2}\r\nab {1}\r\nx)\r\n",
        ] {
            assert!(
                matches!(parse(bad), Some(Err(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }
}

/// `REPLACE n mailbox [flags] [date] message` and `UID REPLACE uid …` (RFC 8508 §3): the
/// message number or UID, then APPEND's arguments, which imap-codec's APPEND parser reads.
#[derive(Debug)]
pub struct Replace {
    pub uid: bool,
    /// The message number, or the UID for UID REPLACE.
    pub target: u32,
    pub mailbox: Mailbox<'static>,
    pub flags: Vec<Flag<'static>>,
    pub date: Option<DateTime>,
    pub message: LiteralOrLiteral8<'static>,
}

fn parse_replace(lx: &mut Lexer<'_>, uid: bool) -> LexResult<ExtCommand> {
    let target = lx.number()?;
    if target == 0 {
        return Err("REPLACE needs a message number or UID above 0".into());
    }
    lx.sp()?;
    let rest = lx.rest();
    let args = rest.strip_suffix(b"\r\n").unwrap_or(rest);
    let Some(CommandBody::Append {
        mailbox,
        flags,
        date,
        message,
    }) = decode_command("APPEND", args)
    else {
        return Err("REPLACE needs a mailbox, optional flags and date, and a message".into());
    };
    Ok(ExtCommand::Replace(Replace {
        uid,
        target,
        mailbox,
        flags,
        date,
        message,
    }))
}

pub fn replace(lx: &mut Lexer<'_>) -> LexResult<ExtCommand> {
    parse_replace(lx, false)
}

pub fn uid_replace(lx: &mut Lexer<'_>) -> LexResult<ExtCommand> {
    parse_replace(lx, true)
}
