//! MULTIAPPEND (RFC 3502): `APPEND mailbox [flags] [date] literal [flags] [date] literal ...`,
//! where each message may also be `CATENATE (TEXT literal / URL url ...)` (RFC 4469), and
//! UTF8=ACCEPT's `UTF8 (~{n})` in place of a literal (RFC 6855 §4).
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

/// One part of `CATENATE (...)` (RFC 4469): literal text, or a URL to a message or part.
#[derive(Debug, PartialEq, Eq)]
pub enum CatPart {
    Text(Vec<u8>),
    Url(String),
}

/// The content of one message of an APPEND.
#[derive(Debug)]
pub enum AppendData {
    Literal(LiteralOrLiteral8<'static>),
    /// `CATENATE (TEXT {n} URL "..." ...)`: the message is put together from the parts.
    Catenate(Vec<CatPart>),
}

/// One message of a MULTIAPPEND (or the one message of an APPEND with CATENATE).
#[derive(Debug)]
pub struct AppendMessage {
    pub flags: Vec<Flag<'static>>,
    pub date: Option<DateTime>,
    pub message: AppendData,
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

/// `CATENATE (part part ...)` after the keyword: `TEXT literal` / `URL astring`.
fn catenate(lx: &mut Lexer<'_>) -> LexResult<Vec<CatPart>> {
    lx.sp()?;
    let parts = lx.list(|l| {
        if l.keyword("TEXT") {
            l.sp()?;
            if !matches!(l.peek(), Some(b'{' | b'~')) {
                return Err("CATENATE: TEXT takes a literal".into());
            }
            Ok(CatPart::Text(l.string(true)?))
        } else if l.keyword("URL") {
            l.sp()?;
            let url = l.astring()?;
            String::from_utf8(url)
                .map(CatPart::Url)
                .map_err(|_| "CATENATE: a URL is ASCII".to_string())
        } else {
            Err("CATENATE: expected TEXT or URL".into())
        }
    })?;
    if parts.is_empty() {
        return Err("CATENATE: no parts".into());
    }
    Ok(parts)
}

pub fn append(lx: &mut Lexer<'_>) -> LexResult<ExtCommand> {
    let start = lx.rest();
    lx.astring()?;
    let mailbox_src = consumed(start, lx);
    // Each message: the bytes of its flags and date (for imap-codec) and its content (the
    // literal's bytes, or the CATENATE parts).
    let mut pieces: Vec<(Vec<u8>, Option<Vec<CatPart>>)> = Vec::new();
    let mut utf8_form = false;
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
        let prefix = consumed(msg_start, lx);
        if lx.keyword("CATENATE") {
            // Flags and date only (without the space before CATENATE).
            let prefix = prefix.strip_suffix(b" ").unwrap_or(prefix);
            pieces.push((prefix.to_vec(), Some(catenate(lx)?)));
        } else if lx.keyword("UTF8") {
            // RFC 6855 §4: `UTF8 (~{n})`, a message with UTF-8 headers, is its literal8.
            let mut piece = prefix.to_vec();
            lx.sp()?;
            lx.expect(b'(', "'(' after UTF8")?;
            if lx.peek() != Some(b'~') {
                return Err(format!(
                    "Message {} of APPEND: UTF8 takes a literal8 (~{{n}})",
                    pieces.len() + 1
                ));
            }
            let literal = lx.rest();
            lx.string(true)?;
            piece.extend_from_slice(consumed(literal, lx));
            lx.expect(b')', "')' after the UTF8 literal8")?;
            utf8_form = true;
            pieces.push((piece, None));
        } else {
            if !matches!(lx.peek(), Some(b'{' | b'~')) {
                return Err(format!(
                    "Message {} of APPEND: expected a literal with the message",
                    pieces.len() + 1
                ));
            }
            lx.string(true)?;
            pieces.push((consumed(msg_start, lx).to_vec(), None));
        }
        if lx.at_end() {
            break;
        }
    }
    lx.end()?;
    if pieces.len() < 2 && !utf8_form && pieces.iter().all(|(_, c)| c.is_none()) {
        // A single message imap-codec refused: its own BAD stands.
        return Err(NOT_THIS_FORM.into());
    }
    let mut mailbox = None;
    let mut messages = Vec::with_capacity(pieces.len());
    for (i, (piece, parts)) in pieces.into_iter().enumerate() {
        let mut args = mailbox_src.to_vec();
        args.push(b' ');
        args.extend_from_slice(&piece);
        if parts.is_some() {
            // Flags and date through imap-codec's grammar, with a stand-in message.
            if !piece.is_empty() {
                args.push(b' ');
            }
            args.extend_from_slice(b"{1}\r\nx");
        }
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
            message: match parts {
                Some(p) => AppendData::Catenate(p),
                None => AppendData::Literal(message),
            },
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
            AppendData::Literal(LiteralOrLiteral8::Literal8(l)) if l.data.as_ref() == b"\x00f"
        ));
    }

    #[test]
    fn utf8_form_is_its_literal8() {
        let m = multi(b"a APPEND INBOX (\\Seen) UTF8 (~{3}\r\n\xc3\xa4x)\r\n");
        assert_eq!(m.messages.len(), 1);
        assert_eq!(m.messages[0].flags, vec![Flag::Seen]);
        assert!(matches!(
            &m.messages[0].message,
            AppendData::Literal(LiteralOrLiteral8::Literal8(l)) if l.data.as_ref() == "äx".as_bytes()
        ));
        let m = multi(b"a APPEND INBOX utf8 (~{1}\r\nx) {1}\r\ny\r\n");
        assert_eq!(m.messages.len(), 2);
        for bad in [
            b"a APPEND INBOX UTF8 ({1}\r\nx)\r\n" as &[u8],
            b"a APPEND INBOX UTF8 (~{1}\r\nx\r\n",
            b"a APPEND INBOX UTF8 ~{1}\r\nx\r\n",
        ] {
            assert!(
                matches!(parse(bad), Some(Err(_))),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn catenate_alone_and_among_others() {
        let m = multi(
            b"a APPEND Drafts (\\Seen) CATENATE (URL \"/INBOX;UIDVALIDITY=1/;UID=2/;SECTION=HEADER\" TEXT {4}\r\nab\r\n URL /;UID=3)\r\n",
        );
        assert_eq!(m.messages.len(), 1);
        assert_eq!(m.messages[0].flags, vec![Flag::Seen]);
        let AppendData::Catenate(parts) = &m.messages[0].message else {
            panic!()
        };
        assert_eq!(
            parts,
            &vec![
                CatPart::Url("/INBOX;UIDVALIDITY=1/;UID=2/;SECTION=HEADER".into()),
                CatPart::Text(b"ab\r\n".to_vec()),
                CatPart::Url("/;UID=3".into()),
            ]
        );
        let m = multi(b"a APPEND INBOX {2}\r\nab CATENATE (TEXT {1}\r\nc)\r\n");
        assert_eq!(m.messages.len(), 2);
        assert!(matches!(m.messages[1].message, AppendData::Catenate(_)));
        for bad in [
            b"a APPEND INBOX CATENATE ()\r\n" as &[u8],
            b"a APPEND INBOX CATENATE (TEXT \"x\")\r\n",
            b"a APPEND INBOX CATENATE (FOO x)\r\n",
            b"a APPEND INBOX CATENATE TEXT {1}\r\nx\r\n",
        ] {
            assert!(
                matches!(parse(bad), Some(Err(_))),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
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
