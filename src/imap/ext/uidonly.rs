//! UIDONLY (RFC 9586): the forms imap-codec has no model for. Once a client has enabled it,
//! every FETCH response is a `UIDFETCH` response, `* <uid> UIDFETCH (<msg-att>)` (RFC 9586
//! §3.3, `uidfetch-resp = uniqueid SP "UIDFETCH" SP msg-att`), and commands that use message
//! sequence numbers are refused with `BAD [UIDREQUIRED]` (§3.2).
//!
//! A UIDFETCH response is encoded by imap-codec as the FETCH response it replaces, numbered with
//! the UID instead of the sequence number, and its first line is rewritten here: the two forms
//! differ only in the word after the number.

use imap_codec::imap_types::response::{Code, CodeOther};

/// `[UIDREQUIRED]` (RFC 9586 §3.2): the command used message sequence numbers.
pub fn code_uidrequired() -> Code<'static> {
    Code::Other(CodeOther::unvalidated(b"UIDREQUIRED".as_slice()))
}

/// The first line of an encoded FETCH response, `* <n> FETCH (…`, as the UIDFETCH response
/// `* <n> UIDFETCH (…` (the caller numbered it with the UID). Anything else is returned as it
/// was.
pub fn uidfetch(mut line: Vec<u8>) -> Vec<u8> {
    let Some(rest) = line.strip_prefix(b"* ") else {
        return line;
    };
    let digits = rest.iter().take_while(|b| b.is_ascii_digit()).count();
    if digits == 0 || !rest[digits..].starts_with(b" FETCH ") {
        return line;
    }
    // After "* ", the number and its space.
    let at = 2 + digits + 1;
    line.splice(at..at, b"UID".iter().copied());
    line
}

#[cfg(test)]
mod tests {
    use super::*;
    use imap_codec::encode::{Encoder, Fragment};
    use imap_codec::imap_types::core::{IString, Literal, NString, Vec1};
    use imap_codec::imap_types::fetch::{MessageDataItem, Section};
    use imap_codec::imap_types::flag::FlagFetch;
    use imap_codec::imap_types::response::{Data, Response, Status};
    use imap_codec::ResponseCodec;
    use std::num::{NonZeroU32, NonZeroU64};

    fn first_line_as_uidfetch(r: &Response<'_>) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, f) in ResponseCodec::default().encode(r).enumerate() {
            let (Fragment::Line { data } | Fragment::Literal { data, .. }) = f;
            out.extend(if i == 0 { uidfetch(data) } else { data });
        }
        out
    }

    #[test]
    fn uidfetch_responses_as_rfc_9586_shows_them() {
        // RFC 9586 §3.3: the UID in front, no sequence number anywhere.
        let r = Response::Data(Data::Fetch {
            seq: NonZeroU32::new(25996).unwrap(),
            items: Vec1::unvalidated(vec![
                MessageDataItem::Flags(vec![FlagFetch::Flag(
                    imap_codec::imap_types::flag::Flag::Seen,
                )]),
                MessageDataItem::ModSeq(NonZeroU64::new(12).unwrap()),
            ]),
        });
        assert_eq!(
            first_line_as_uidfetch(&r),
            b"* 25996 UIDFETCH (FLAGS (\\Seen) MODSEQ (12))\r\n".to_vec()
        );
        // A literal that looks like a FETCH line is data: only the first line is rewritten.
        let r = Response::Data(Data::Fetch {
            seq: NonZeroU32::new(7).unwrap(),
            items: Vec1::from(MessageDataItem::BodyExt {
                section: Some(Section::Text(None)),
                origin: None,
                data: NString(Some(IString::Literal(
                    Literal::try_from(b"* 1 FETCH (x)\r\n".as_slice()).unwrap(),
                ))),
            }),
        });
        assert_eq!(
            first_line_as_uidfetch(&r),
            b"* 7 UIDFETCH (BODY[TEXT] {15}\r\n* 1 FETCH (x)\r\n)\r\n".to_vec()
        );
    }

    #[test]
    fn other_lines_are_left_alone() {
        for line in [
            b"* 3 EXISTS\r\n".as_slice(),
            b"* OK [UIDNEXT 4] x\r\n",
            b"* FETCH (x)\r\n",
            b"a1 OK FETCH completed\r\n",
            b"",
        ] {
            assert_eq!(uidfetch(line.to_vec()), line.to_vec());
        }
    }

    #[test]
    fn uidrequired_code() {
        let s = Status::bad(
            Some(imap_codec::imap_types::core::Tag::try_from("a3").unwrap()),
            Some(code_uidrequired()),
            "Message sequence numbers are not allowed after ENABLE UIDONLY",
        )
        .unwrap();
        assert_eq!(
            ResponseCodec::default()
                .encode(&Response::Status(s))
                .dump(),
            b"a3 BAD [UIDREQUIRED] Message sequence numbers are not allowed after ENABLE UIDONLY\r\n"
                .to_vec()
        );
    }
}
