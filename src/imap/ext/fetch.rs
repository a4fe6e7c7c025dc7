//! FETCH responses imap-codec cannot encode: a partial BINARY answer with its origin,
//! `BINARY[1.2]<5> {10}` (RFC 3516 §4.3 and RFC 9051 §7.5.2 text: `BINARY[<section-binary>]
//! <<number>>`; their ABNF omits the origin, erratum 7246). imap-types has no origin field for
//! BINARY, so the response is encoded by imap-codec and the origin is written in here, the one
//! place it is.
//!
//! And the fast path of the most common FETCH, `FETCH 1:* (UID FLAGS)` and its kin (only UID,
//! FLAGS and MODSEQ items, see [`MetaFetch`]): a client syncing a large folder asks it of every
//! message, and building imap-types values and running the codec per message was most of its
//! cost. The flag list, the only part with anything to encode, is still encoded by imap-codec,
//! once per distinct set of flags; the numbers are decimal. Known-answer tests compare every
//! byte with imap-codec's encoding of the same values.

use std::num::{NonZeroU32, NonZeroU64};

use imap_codec::encode::{Encoder, Fragment};
use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::fetch::{MessageDataItem, MessageDataItemName};
use imap_codec::imap_types::flag::FlagFetch;
use imap_codec::imap_types::response::{Data, Response};
use imap_codec::ResponseCodec;

use super::search::push_number;

/// An item the FETCH fast path answers.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MetaItem {
    Uid,
    Flags,
    ModSeq,
}

/// The items of a FETCH as the fast path answers them, in the client's order; `None` when one
/// of them is anything but UID, FLAGS or MODSEQ (or there are none).
pub fn meta_items(items: &[MessageDataItemName<'_>]) -> Option<Vec<MetaItem>> {
    if items.is_empty() {
        return None;
    }
    items
        .iter()
        .map(|i| match i {
            MessageDataItemName::Uid => Some(MetaItem::Uid),
            MessageDataItemName::Flags => Some(MetaItem::Flags),
            MessageDataItemName::ModSeq => Some(MetaItem::ModSeq),
            _ => None,
        })
        .collect()
}

/// Distinct flag sets whose encoding is kept during one FETCH; past this, more are encoded
/// each time (a folder has a handful in practice).
const FLAG_SETS: usize = 64;

/// Writes `* n FETCH (UID u FLAGS (...) MODSEQ (m))` responses, byte for byte what imap-codec
/// writes for the same items. Made for one FETCH: it keeps the encoding of the flag sets it met.
pub struct MetaFetch {
    items: Vec<MetaItem>,
    /// A message's stored flags and whether it is \Recent → `FLAGS (...)` as imap-codec
    /// encodes it.
    flag_sets: Vec<(Vec<String>, bool, Vec<u8>)>,
    /// The entry the last message used: neighbours usually share their flags.
    last: usize,
}

impl MetaFetch {
    pub fn new(items: Vec<MetaItem>) -> MetaFetch {
        MetaFetch {
            items,
            flag_sets: Vec::new(),
            last: 0,
        }
    }

    /// Append one message's response to `out`. `flags` are its stored flags (the cache key),
    /// `flag_values` makes their wire form (called once per distinct set and `recent`).
    pub fn encode(
        &mut self,
        out: &mut Vec<u8>,
        seq: NonZeroU32,
        uid: NonZeroU32,
        modseq: NonZeroU64,
        (flags, recent): (&[String], bool),
        flag_values: impl Fn() -> Vec<FlagFetch<'static>>,
    ) {
        out.extend_from_slice(b"* ");
        push_number(out, seq.get());
        out.extend_from_slice(b" FETCH (");
        for i in 0..self.items.len() {
            if i > 0 {
                out.push(b' ');
            }
            match self.items[i] {
                MetaItem::Uid => {
                    out.extend_from_slice(b"UID ");
                    push_number(out, uid.get());
                }
                MetaItem::ModSeq => {
                    out.extend_from_slice(b"MODSEQ (");
                    push_number(out, modseq.get());
                    out.push(b')');
                }
                MetaItem::Flags => {
                    let at = self.flag_set(flags, recent, &flag_values);
                    out.extend_from_slice(&self.flag_sets[at].2);
                }
            }
        }
        out.extend_from_slice(b")\r\n");
    }

    /// The index in `flag_sets` of these flags' encoding, made if needed.
    fn flag_set(
        &mut self,
        flags: &[String],
        recent: bool,
        flag_values: &dyn Fn() -> Vec<FlagFetch<'static>>,
    ) -> usize {
        let same = |e: &(Vec<String>, bool, Vec<u8>)| e.1 == recent && e.0 == flags;
        if self.flag_sets.get(self.last).is_some_and(same) {
            return self.last;
        }
        if let Some(at) = self.flag_sets.iter().position(same) {
            self.last = at;
            return at;
        }
        let encoded = flags_item(flag_values());
        if self.flag_sets.len() >= FLAG_SETS {
            // Full: the slot after the last one used is recycled.
            let at = (self.last + 1) % FLAG_SETS;
            self.flag_sets[at] = (flags.to_vec(), recent, encoded);
            self.last = at;
        } else {
            self.flag_sets.push((flags.to_vec(), recent, encoded));
            self.last = self.flag_sets.len() - 1;
        }
        self.last
    }
}

/// `FLAGS (...)` as imap-codec encodes the item: cut from its encoding of a whole response.
fn flags_item(flags: Vec<FlagFetch<'static>>) -> Vec<u8> {
    let response = Response::Data(Data::Fetch {
        seq: NonZeroU32::MIN,
        items: Vec1::from(MessageDataItem::Flags(flags)),
    });
    let encoded = ResponseCodec::default().encode(&response).dump();
    encoded
        .strip_prefix(b"* 1 FETCH (")
        .and_then(|e| e.strip_suffix(b")\r\n"))
        .map(<[u8]>::to_vec)
        // imap-codec writes a FETCH response so; anything else would be a new codec's change,
        // and the safe answer is the empty list.
        .unwrap_or_else(|| b"FLAGS ()".to_vec())
}

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
    use imap_codec::imap_types::core::{IString, Literal, LiteralMode, NString, NString8};
    use imap_codec::imap_types::extensions::binary::Literal8;
    use imap_codec::imap_types::IntoStatic;

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

    /// imap-codec's encoding of the same response the fast path writes.
    fn codec_meta(
        items: &[MetaItem],
        seq: u32,
        uid: u32,
        modseq: u64,
        flags: &[FlagFetch<'static>],
    ) -> Vec<u8> {
        let items: Vec<MessageDataItem<'static>> = items
            .iter()
            .map(|i| match i {
                MetaItem::Uid => MessageDataItem::Uid(nz(uid)),
                MetaItem::Flags => MessageDataItem::Flags(flags.to_vec()),
                MetaItem::ModSeq => MessageDataItem::ModSeq(NonZeroU64::new(modseq).unwrap()),
            })
            .collect();
        ResponseCodec::default()
            .encode(&Response::Data(Data::Fetch {
                seq: nz(seq),
                items: Vec1::try_from(items).unwrap(),
            }))
            .dump()
    }

    #[test]
    fn meta_fetch_is_byte_for_byte_imap_codec() {
        use imap_codec::imap_types::flag::Flag;
        let kw = |s: &'static str| FlagFetch::Flag(Flag::try_from(s).unwrap());
        let sets: Vec<(Vec<String>, bool, Vec<FlagFetch<'static>>)> = vec![
            (vec![], false, vec![]),
            (vec![], true, vec![FlagFetch::Recent]),
            (
                vec!["\\Seen".into()],
                false,
                vec![FlagFetch::Flag(Flag::Seen)],
            ),
            (
                vec!["\\seen".into(), "\\Answered".into(), "$Forwarded".into()],
                true,
                vec![
                    FlagFetch::Flag(Flag::Answered),
                    FlagFetch::Flag(Flag::Seen),
                    kw("$Forwarded"),
                    FlagFetch::Recent,
                ],
            ),
            (
                vec![
                    "Junk".into(),
                    "\\Deleted".into(),
                    "\\Draft".into(),
                    "\\Flagged".into(),
                ],
                false,
                vec![
                    FlagFetch::Flag(Flag::Flagged),
                    FlagFetch::Flag(Flag::Deleted),
                    FlagFetch::Flag(Flag::Draft),
                    kw("Junk"),
                ],
            ),
        ];
        let orders = [
            vec![MetaItem::Uid, MetaItem::Flags],
            vec![MetaItem::Flags],
            vec![MetaItem::Flags, MetaItem::Uid],
            vec![MetaItem::Uid, MetaItem::Flags, MetaItem::ModSeq],
            vec![MetaItem::ModSeq, MetaItem::Uid],
            vec![MetaItem::Uid],
            vec![MetaItem::Flags, MetaItem::Flags],
        ];
        let numbers = [
            (1, 1, 1),
            (9, 10, 99),
            (100_000, 4_294_967_295, u64::MAX / 2),
        ];
        for items in &orders {
            let mut fast = MetaFetch::new(items.clone());
            // Twice over: the second round answers from the kept encodings.
            for round in 0..2 {
                for (stored, recent, wire) in &sets {
                    for &(seq, uid, modseq) in &numbers {
                        let mut out = Vec::new();
                        let made = std::cell::Cell::new(false);
                        fast.encode(
                            &mut out,
                            nz(seq),
                            nz(uid),
                            NonZeroU64::new(modseq).unwrap(),
                            (stored, *recent),
                            || {
                                made.set(true);
                                wire.clone()
                            },
                        );
                        assert_eq!(
                            String::from_utf8(out).unwrap(),
                            String::from_utf8(codec_meta(items, seq, uid, modseq, wire)).unwrap(),
                            "{items:?} {stored:?} {recent}"
                        );
                        assert!(!(made.get() && round == 1), "encoded again: {stored:?}");
                    }
                }
            }
        }
        // Messages appended one after another in one buffer.
        let mut fast = MetaFetch::new(vec![MetaItem::Uid, MetaItem::Flags]);
        let mut out = Vec::new();
        for (seq, uid) in [(1, 3), (2, 5)] {
            fast.encode(
                &mut out,
                nz(seq),
                nz(uid),
                NonZeroU64::MIN,
                (&[], false),
                Vec::new,
            );
        }
        assert_eq!(
            out,
            b"* 1 FETCH (UID 3 FLAGS ())\r\n* 2 FETCH (UID 5 FLAGS ())\r\n"
        );
    }

    #[test]
    fn meta_fetch_past_its_kept_flag_sets() {
        let mut fast = MetaFetch::new(vec![MetaItem::Flags]);
        for n in 0..FLAG_SETS * 2 + 3 {
            let name = format!("k{n}");
            let wire = vec![FlagFetch::Flag(
                imap_codec::imap_types::flag::Flag::try_from(name.as_str())
                    .unwrap()
                    .into_static(),
            )];
            for _ in 0..2 {
                let mut out = Vec::new();
                fast.encode(
                    &mut out,
                    nz(1),
                    nz(1),
                    NonZeroU64::MIN,
                    (std::slice::from_ref(&name), false),
                    || wire.clone(),
                );
                assert_eq!(out, codec_meta(&[MetaItem::Flags], 1, 1, 1, &wire));
            }
        }
        assert!(fast.flag_sets.len() <= FLAG_SETS);
    }

    #[test]
    fn meta_items_only_for_uid_flags_modseq() {
        use MessageDataItemName as N;
        assert_eq!(
            meta_items(&[N::Uid, N::Flags, N::ModSeq]),
            Some(vec![MetaItem::Uid, MetaItem::Flags, MetaItem::ModSeq])
        );
        assert_eq!(meta_items(&[N::Uid, N::Rfc822Size]), None);
        assert_eq!(meta_items(&[N::InternalDate]), None);
        assert_eq!(meta_items(&[]), None);
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
