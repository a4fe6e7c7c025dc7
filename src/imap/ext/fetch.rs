//! FETCH responses imap-codec cannot encode: a partial BINARY answer with its origin,
//! `BINARY[1.2]<5> {10}` (RFC 3516 §4.3 and RFC 9051 §7.5.2 text: `BINARY[<section-binary>]
//! <<number>>`; their ABNF omits the origin, erratum 7246). imap-types has no origin field for
//! BINARY, so the response is encoded by imap-codec and the origin is written in here, the one
//! place it is.

use imap_codec::encode::{Encoder, Fragment};
use imap_codec::imap_types::response::Response;
use imap_codec::ResponseCodec;

/// A BINARY item of a response: its section and, when partial, the origin the client asked for.
pub struct BinaryOrigin {
    pub section: Vec<u32>,
    pub origin: Option<u32>,
}

/// Encode `response` with the origin of each partial BINARY item; `origins` names every BINARY
/// item of the response, in order. The data of a BINARY item is always a literal or literal8 (see
/// `cmd::fetch::binary_value`), so its encoding ends a line fragment with
/// `BINARY[section] {n}\r\n` or `BINARY[section] ~{n}\r\n`; a quoted string cannot end one so.
pub fn encode_with_binary_origins(response: &Response<'_>, origins: &[BinaryOrigin]) -> Vec<u8> {
    let mut pending = origins.iter().peekable();
    let mut out = Vec::new();
    for fragment in ResponseCodec::default().encode(response) {
        match fragment {
            Fragment::Line { data } => match pending.peek().and_then(|o| with_origin(&data, o)) {
                Some(line) => {
                    pending.next();
                    out.extend_from_slice(&line);
                }
                None => out.extend_from_slice(&data),
            },
            Fragment::Literal { data, .. } => out.extend_from_slice(&data),
        }
    }
    out
}

/// When `line` ends with the item's literal announcement: the line, with `<origin>` after the
/// item's `]` when it has one.
fn with_origin(line: &[u8], o: &BinaryOrigin) -> Option<Vec<u8>> {
    let section = o
        .section
        .iter()
        .map(|n| n.to_string())
        .collect::<Vec<_>>()
        .join(".");
    let item = format!("BINARY[{section}] ");
    let body = line.strip_suffix(b"\r\n")?;
    let brace = body.iter().rposition(|&b| b == b'{')?;
    let mut start = brace;
    if start > 0 && body[start - 1] == b'~' {
        start -= 1;
    }
    let announce = &body[start..];
    let digits = announce
        .strip_prefix(b"~")
        .unwrap_or(announce)
        .strip_prefix(b"{")?
        .strip_suffix(b"}")?;
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let before = body[..start].strip_suffix(item.as_bytes())?;
    let Some(origin) = o.origin else {
        return Some(line.to_vec());
    };
    let mut out = before.to_vec();
    out.extend_from_slice(format!("BINARY[{section}]<{origin}> ").as_bytes());
    out.extend_from_slice(announce);
    out.extend_from_slice(b"\r\n");
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use imap_codec::imap_types::core::{IString, Literal, LiteralMode, NString, NString8, Vec1};
    use imap_codec::imap_types::extensions::binary::Literal8;
    use imap_codec::imap_types::fetch::MessageDataItem;
    use imap_codec::imap_types::response::Data;
    use std::num::NonZeroU32;

    fn nz(n: u32) -> NonZeroU32 {
        NonZeroU32::new(n).unwrap()
    }

    fn binary(section: &[u32], data: &[u8]) -> MessageDataItem<'static> {
        let value = if data.contains(&0) {
            NString8::Literal8(Literal8 {
                data: data.to_vec().into(),
                mode: LiteralMode::Sync,
            })
        } else {
            NString8::NString(NString(Some(IString::Literal(
                Literal::try_from(data.to_vec()).unwrap(),
            ))))
        };
        MessageDataItem::Binary {
            section: section.iter().map(|&n| nz(n)).collect(),
            value,
        }
    }

    fn fetch(items: Vec<MessageDataItem<'static>>) -> Response<'static> {
        Response::Data(Data::Fetch {
            seq: nz(1),
            items: Vec1::try_from(items).unwrap(),
        })
    }

    #[test]
    fn origins_follow_the_section() {
        let r = fetch(vec![
            MessageDataItem::Uid(nz(7)),
            binary(&[5], b"\x00abcdef"),
            binary(&[1], b"0123456789"),
            binary(&[], b"From: a"),
        ]);
        let origins = [
            BinaryOrigin {
                section: vec![5],
                origin: Some(0),
            },
            BinaryOrigin {
                section: vec![1],
                origin: None,
            },
            BinaryOrigin {
                section: vec![],
                origin: Some(20),
            },
        ];
        assert_eq!(
            encode_with_binary_origins(&r, &origins),
            b"* 1 FETCH (UID 7 BINARY[5]<0> ~{7}\r\n\x00abcdef BINARY[1] {10}\r\n0123456789 BINARY[]<20> {7}\r\nFrom: a)\r\n"
                .to_vec()
        );
    }

    #[test]
    fn nested_sections_and_data_that_looks_like_an_item() {
        // The literal data of the first item mentions the second one's text: it is a literal
        // fragment, never rewritten.
        let r = fetch(vec![
            binary(&[1], b"BINARY[2.1] {3}\r\n"),
            binary(&[2, 1], b"abc"),
            binary(&[2, 1], b"b"),
        ]);
        let origins = [
            BinaryOrigin {
                section: vec![1],
                origin: None,
            },
            BinaryOrigin {
                section: vec![2, 1],
                origin: None,
            },
            BinaryOrigin {
                section: vec![2, 1],
                origin: Some(1),
            },
        ];
        assert_eq!(
            encode_with_binary_origins(&r, &origins),
            b"* 1 FETCH (BINARY[1] {17}\r\nBINARY[2.1] {3}\r\n BINARY[2.1] {3}\r\nabc BINARY[2.1]<1> {1}\r\nb)\r\n".to_vec()
        );
        // Without origins it is exactly imap-codec's encoding.
        assert_eq!(
            encode_with_binary_origins(&r, &[]),
            ResponseCodec::default().encode(&r).dump()
        );
    }
}
