//! MessageInfo → imap-types values for FETCH ENVELOPE / BODY / BODYSTRUCTURE.
//!
//! Message data is never fed to the `unvalidated` constructors (they panic in debug builds):
//! every string goes through `TryFrom`, quoted when it can be and a literal otherwise (8-bit
//! bytes, CR, LF). NUL, which no IMAP string may carry, is replaced by U+FFFD in UTF-8 (as Dovecot does).

use imap_codec::imap_types::body::{
    BasicFields, Body, BodyStructure, Disposition, Language, Location, MultiPartExtensionData,
    SinglePartExtensionData, SpecificFields,
};
use imap_codec::imap_types::core::{IString, NString, Quoted, Vec1};
use imap_codec::imap_types::envelope::{Address, Envelope};

use crate::mime::{self, EnvelopeInfo, PartInfo, PartKind};

fn istring(v: &[u8]) -> IString<'static> {
    let v: Vec<u8> = if v.contains(&0) {
        let mut out = Vec::with_capacity(v.len() + 8);
        for &b in v {
            if b == 0 {
                out.extend_from_slice("\u{fffd}".as_bytes());
            } else {
                out.push(b);
            }
        }
        out
    } else {
        v.to_vec()
    };
    IString::try_from(v).unwrap_or_else(|_| IString::Quoted(Quoted::unvalidated("")))
}

fn nstring(v: Option<&[u8]>) -> NString<'static> {
    NString(v.map(istring))
}

fn params(p: &[(Vec<u8>, Vec<u8>)]) -> Vec<(IString<'static>, IString<'static>)> {
    p.iter().map(|(k, v)| (istring(k), istring(v))).collect()
}

fn addresses(list: &[mime::Address]) -> Vec<Address<'static>> {
    list.iter()
        .map(|a| Address {
            name: nstring(a.name.as_deref()),
            adl: nstring(a.adl.as_deref()),
            mailbox: nstring(a.mailbox.as_deref()),
            host: nstring(a.host.as_deref()),
        })
        .collect()
}

/// ENVELOPE (RFC 3501 §7.4.2).
pub fn envelope(e: &EnvelopeInfo) -> Envelope<'static> {
    Envelope {
        date: nstring(e.date.as_deref()),
        subject: nstring(e.subject.as_deref()),
        from: addresses(&e.from),
        sender: addresses(&e.sender),
        reply_to: addresses(&e.reply_to),
        to: addresses(&e.to),
        cc: addresses(&e.cc),
        bcc: addresses(&e.bcc),
        in_reply_to: nstring(e.in_reply_to.as_deref()),
        message_id: nstring(e.message_id.as_deref()),
    }
}

fn u32_of(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

fn disposition_tail(p: &PartInfo) -> Disposition<'static> {
    Disposition {
        disposition: p
            .disposition
            .as_ref()
            .map(|(d, ps)| (istring(d), params(ps))),
        tail: Some(Language {
            language: p.language.iter().map(|l| istring(l)).collect(),
            tail: Some(Location {
                location: nstring(p.location.as_deref()),
                extensions: Vec::new(),
            }),
        }),
    }
}

/// What Dovecot sends for a multipart without any part (missing or absent boundary): one
/// empty text/plain part, since BODYSTRUCTURE needs at least one.
fn empty_text_part(extended: bool) -> BodyStructure<'static> {
    BodyStructure::Single {
        body: Body {
            basic: BasicFields {
                parameter_list: vec![(istring(b"charset"), istring(b"us-ascii"))],
                id: NString(None),
                description: NString(None),
                content_transfer_encoding: istring(b"7bit"),
                size: 0,
            },
            specific: SpecificFields::Text {
                subtype: istring(b"plain"),
                number_of_lines: 0,
            },
        },
        extension_data: extended.then(|| SinglePartExtensionData {
            md5: NString(None),
            tail: Some(Disposition {
                disposition: None,
                tail: Some(Language {
                    language: Vec::new(),
                    tail: Some(Location {
                        location: NString(None),
                        extensions: Vec::new(),
                    }),
                }),
            }),
        }),
    }
}

/// BODY (`extended = false`) or BODYSTRUCTURE (`extended = true`, with extension data).
pub fn body_structure(p: &PartInfo, extended: bool) -> BodyStructure<'static> {
    if let PartKind::Multipart(children) = &p.kind {
        let bodies: Vec<BodyStructure<'static>> = children
            .iter()
            .map(|c| body_structure(c, extended))
            .collect();
        let bodies =
            Vec1::try_from(bodies).unwrap_or_else(|_| Vec1::from(empty_text_part(extended)));
        return BodyStructure::Multi {
            bodies,
            subtype: istring(&p.subtype),
            extension_data: extended.then(|| MultiPartExtensionData {
                parameter_list: params(&p.params),
                tail: Some(disposition_tail(p)),
            }),
        };
    }
    let basic = BasicFields {
        parameter_list: params(&p.params),
        id: nstring(p.id.as_deref()),
        description: nstring(p.description.as_deref()),
        content_transfer_encoding: istring(&p.encoding),
        size: u32_of(p.size()),
    };
    let specific = match &p.kind {
        PartKind::Message(inner) => SpecificFields::Message {
            envelope: Box::new(envelope(&inner.envelope)),
            body_structure: Box::new(body_structure(&inner.root, extended)),
            number_of_lines: p.lines,
        },
        _ if p.is_type("text") => SpecificFields::Text {
            subtype: istring(&p.subtype),
            number_of_lines: p.lines,
        },
        _ => SpecificFields::Basic {
            r#type: istring(&p.media_type),
            subtype: istring(&p.subtype),
        },
    };
    BodyStructure::Single {
        body: Body { basic, specific },
        extension_data: extended.then(|| SinglePartExtensionData {
            md5: nstring(p.md5.as_deref()),
            tail: Some(disposition_tail(p)),
        }),
    }
}
