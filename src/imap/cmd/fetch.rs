//! FETCH and UID FETCH (RFC 3501 §6.4.5, §6.4.8).
//!
//! Metadata (flags, dates, sizes) comes from one query per chunk of messages; ENVELOPE and
//! BODYSTRUCTURE from the parse cached at APPEND time; sections are slices of the raw message,
//! BINARY[] sections (RFC 3516) those slices with their transfer encoding undone.
//! Responses are written chunk by chunk, so a `FETCH 1:*` of a large mailbox never holds more
//! than one chunk in memory.

use std::num::NonZeroU32;

use imap_codec::imap_types::core::{IString, Literal, LiteralMode, NString, NString8, Vec1};
use imap_codec::imap_types::datetime::DateTime;
use imap_codec::imap_types::extensions::binary::Literal8;
use imap_codec::imap_types::fetch::{
    Macro, MacroOrMessageDataItemNames, MessageDataItem, MessageDataItemName, Section,
};
use imap_codec::imap_types::response::{Code, Data};
use imap_codec::imap_types::sequence::SequenceSet;

use super::fetch_flags;
use crate::imap::cmd::mailbox::nz;
use crate::imap::session::{Done, Session};
use crate::imap::{render, CmdError, CmdResult};
use crate::mime::{self, BinaryError, MessageInfo, SectionKind};
use crate::store::{FlagOp, MessageMeta};

/// Messages per store round trip.
const CHUNK: usize = 256;
/// Messages per store round trip when only metadata (flags, UID, dates, size) is fetched: each
/// round trip to a database thread costs two context switches, and a row is small.
const META_CHUNK: usize = 2048;

/// What a FETCH needs from the store beyond the metadata.
#[derive(Default)]
struct Needs {
    /// RFC822.SIZE: the only item that needs the body's size (read from the bodies table).
    size: bool,
    parsed: bool,
    raw: bool,
    /// A non-PEEK body item: sets \Seen.
    sets_seen: bool,
}

impl Session {
    pub(crate) async fn cmd_fetch(
        &mut self,
        set: SequenceSet,
        items: MacroOrMessageDataItemNames<'static>,
        uid: bool,
    ) -> CmdResult<Done> {
        let mut items = match items {
            MacroOrMessageDataItemNames::Macro(m) => expand_macro(m),
            MacroOrMessageDataItemNames::MessageDataItemNames(v) => v,
        };
        if uid && !items.contains(&MessageDataItemName::Uid) {
            // RFC 3501 §6.4.8: UID FETCH always answers the UID.
            items.insert(0, MessageDataItemName::Uid);
        }
        let mut needs = Needs::default();
        for item in &items {
            match item {
                MessageDataItemName::Rfc822Size => needs.size = true,
                MessageDataItemName::Envelope
                | MessageDataItemName::Body
                | MessageDataItemName::BodyStructure => needs.parsed = true,
                MessageDataItemName::BodyExt { section, peek, .. } => {
                    needs.raw = true;
                    needs.parsed |= section.is_some();
                    needs.sets_seen |= !peek;
                }
                MessageDataItemName::Rfc822 | MessageDataItemName::Rfc822Text => {
                    needs.raw = true;
                    needs.parsed = true;
                    needs.sets_seen = true;
                }
                MessageDataItemName::Rfc822Header => {
                    needs.raw = true;
                    needs.parsed = true;
                }
                MessageDataItemName::Binary { peek, .. } => {
                    needs.raw = true;
                    needs.parsed = true;
                    needs.sets_seen |= !peek;
                }
                MessageDataItemName::BinarySize { .. } => {
                    needs.raw = true;
                    needs.parsed = true;
                }
                _ => {}
            }
        }

        let sel = self
            .state
            .selected()
            .ok_or_else(|| CmdError::bad("No mailbox selected"))?;
        if !uid && !sel.view.seqs_in_range(&set) {
            return Err(CmdError::bad(format!(
                "Sequence number beyond the mailbox ({} messages)",
                sel.view.len()
            )));
        }
        let indices = if uid {
            sel.view.resolve_uids(&set)
        } else {
            sel.view.resolve_seqs(&set)
        };
        let mailbox = sel.mailbox;
        let mark_seen = needs.sets_seen && !sel.read_only;
        let targets: Vec<(u32, u32)> = indices
            .into_iter()
            .filter_map(|i| {
                let uid = sel.view.uids().get(i).copied()?;
                Some((i as u32 + 1, uid))
            })
            .collect();

        let mut missing = 0usize;
        let chunk_len = if needs.parsed || needs.raw {
            CHUNK
        } else {
            META_CHUNK
        };
        for chunk in targets.chunks(chunk_len) {
            let uids: Vec<u32> = chunk.iter().map(|(_, u)| *u).collect();
            let want_parsed = needs.parsed;
            let want_size = needs.size;
            let query = uids.clone();
            // Boxed: a MessageInfo is large, and the rows are moved around by value.
            let mut rows: Vec<(MessageMeta, Option<Box<MessageInfo>>)> = self
                .db(move |s| {
                    let metas = s.messages_with(mailbox, &query, want_size)?;
                    let mut out = Vec::with_capacity(metas.len());
                    for m in metas {
                        let info = if want_parsed {
                            let blob = s.parsed(m.body_id)?;
                            // A missing or unreadable cache is rebuilt from the raw message.
                            Some(Box::new(match MessageInfo::decode(&blob) {
                                Some(i) => i,
                                None => mime::parse(&s.raw(m.body_id)?),
                            }))
                        } else {
                            None
                        };
                        out.push((m, info));
                    }
                    Ok(out)
                })
                .await?;
            missing += uids.len() - rows.len();

            // A BINARY that will fail (multipart, unknown encoding) ends the FETCH at that
            // message: neither it nor the ones after it get \Seen.
            let failing = rows
                .iter()
                .position(|(_, info)| binary_refused(&items, info.as_deref()))
                .unwrap_or(rows.len());
            let mut seen_now = std::collections::HashSet::new();
            if mark_seen {
                let unseen: Vec<u32> = rows[..failing]
                    .iter()
                    .filter(|(m, _)| !m.flags.iter().any(|f| f.eq_ignore_ascii_case("\\Seen")))
                    .map(|(m, _)| m.uid)
                    .collect();
                if !unseen.is_empty() {
                    let (modseq, changes) = self
                        .db(move |s| {
                            s.store_flags(mailbox, &unseen, FlagOp::Add, &["\\Seen".to_string()])
                        })
                        .await?;
                    if let Some(sel) = self.state.selected_mut() {
                        sel.own_modseqs.insert(modseq);
                    }
                    for ch in changes {
                        if let Some((m, _)) = rows.iter_mut().find(|(m, _)| m.uid == ch.uid) {
                            m.flags = ch.flags;
                            seen_now.insert(ch.uid);
                        }
                    }
                }
            }

            for (meta, info) in rows {
                let Some(sel) = self.state.selected() else {
                    break;
                };
                let Some(seq) = sel.view.seq(meta.uid) else {
                    continue;
                };
                let recent = sel.recent.contains(&meta.uid);
                let raw = if needs.raw {
                    let body = meta.body_id;
                    Some(self.db(move |s| s.raw(body)).await?)
                } else {
                    None
                };
                let mut out = Vec::with_capacity(items.len() + 1);
                for item in &items {
                    out.push(fetch_item(
                        item,
                        &meta,
                        info.as_deref(),
                        raw.as_deref(),
                        recent,
                    )?);
                }
                if seen_now.contains(&meta.uid) && !items.contains(&MessageDataItemName::Flags) {
                    // The \Seen side effect is reported in the same response.
                    out.push(MessageDataItem::Flags(fetch_flags(&meta.flags, recent)));
                }
                let Ok(items_out) = Vec1::try_from(out) else {
                    continue;
                };
                self.data(Data::Fetch {
                    seq: nz(seq),
                    items: items_out,
                })
                .await?;
            }
        }
        if missing > 0 && !uid {
            // RFC 2180 §4.1.2: data for the messages that still exist, then NO.
            return Err(CmdError::no(format!(
                "{missing} of the requested messages were expunged by another session"
            )));
        }
        Ok(Done::ok(if uid {
            "UID FETCH completed"
        } else {
            "FETCH completed"
        }))
    }
}

fn expand_macro(m: Macro) -> Vec<MessageDataItemName<'static>> {
    use MessageDataItemName as N;
    let mut v = vec![N::Flags, N::InternalDate, N::Rfc822Size];
    match m {
        Macro::All => v.push(N::Envelope),
        Macro::Full => {
            v.push(N::Envelope);
            v.push(N::Body);
        }
        // FAST, and any macro a later imap-codec adds: the common core.
        _ => {}
    }
    v
}

/// The path and kind of a section specifier.
fn section_spec(section: &Option<Section>) -> (Vec<u32>, SectionKind) {
    let path = |p: &imap_codec::imap_types::fetch::Part| -> Vec<u32> {
        p.0.as_ref().iter().map(|n| n.get()).collect()
    };
    let names = |v: &Vec1<imap_codec::imap_types::core::AString>| -> Vec<String> {
        v.as_ref()
            .iter()
            .map(|a| String::from_utf8_lossy(a.as_ref()).into_owned())
            .collect()
    };
    match section {
        None => (vec![], SectionKind::Full),
        Some(Section::Part(p)) => (path(p), SectionKind::Full),
        Some(Section::Header(p)) => (
            p.as_ref().map(path).unwrap_or_default(),
            SectionKind::Header,
        ),
        Some(Section::HeaderFields(p, f)) => (
            p.as_ref().map(path).unwrap_or_default(),
            SectionKind::HeaderFields(names(f)),
        ),
        Some(Section::HeaderFieldsNot(p, f)) => (
            p.as_ref().map(path).unwrap_or_default(),
            SectionKind::HeaderFieldsNot(names(f)),
        ),
        Some(Section::Text(p)) => (p.as_ref().map(path).unwrap_or_default(), SectionKind::Text),
        Some(Section::Mime(p)) => (path(p), SectionKind::Mime),
    }
}

/// Body bytes as an IMAP literal (NUL bytes, which no IMAP string may carry, become 0x80).
fn literal(bytes: &[u8]) -> NString<'static> {
    let clean = mime::without_nul(std::borrow::Cow::Borrowed(bytes)).into_owned();
    match Literal::try_from(clean) {
        Ok(l) => NString(Some(IString::Literal(l))),
        Err(_) => NString(None),
    }
}

fn date_time(meta: &MessageMeta) -> DateTime {
    let dt = crate::message::internal_date(meta.internal_date, meta.date_offset);
    DateTime::try_from(dt).unwrap_or_else(|_| {
        DateTime::try_from(crate::message::internal_date(0, 0))
            .unwrap_or_else(|_| DateTime::unvalidated(crate::message::internal_date(0, 0)))
    })
}

/// Whether one of the BINARY items cannot be answered for this message.
fn binary_refused(items: &[MessageDataItemName<'static>], info: Option<&MessageInfo>) -> bool {
    let Some(info) = info else {
        return false;
    };
    items.iter().any(|item| match item {
        MessageDataItemName::Binary { section, .. }
        | MessageDataItemName::BinarySize { section } => {
            let path: Vec<u32> = section.iter().map(|n| n.get()).collect();
            info.binary_part(&path).is_err()
        }
        _ => false,
    })
}

/// BINARY[section] (RFC 3516): the decoded part, or why it cannot be given.
fn binary_section<'a>(
    info: Option<&MessageInfo>,
    raw: &'a [u8],
    section: &[NonZeroU32],
) -> CmdResult<std::borrow::Cow<'a, [u8]>> {
    let path: Vec<u32> = section.iter().map(|n| n.get()).collect();
    let name = || {
        path.iter()
            .map(|n| n.to_string())
            .collect::<Vec<_>>()
            .join(".")
    };
    let parsed;
    let info = match info {
        Some(i) => i,
        None => {
            parsed = mime::parse(raw);
            &parsed
        }
    };
    match info.binary(raw, &path) {
        // A part that does not exist is an empty string, as for BODY[].
        Ok(data) => Ok(data.unwrap_or_default()),
        Err(BinaryError::NotLeaf) => Err(CmdError::no(format!(
            "BINARY[{}] is a multipart or message part; BINARY takes leaf parts only",
            name()
        ))),
        Err(BinaryError::UnknownCte(cte)) => Err(CmdError::no_code(
            Code::UnknownCte,
            format!(
                "BINARY[{}]: cannot decode Content-Transfer-Encoding {}",
                name(),
                crate::imap::lossy(&cte)
            ),
        )),
    }
}

/// Decoded data for BINARY[]: a literal8 (`~{n}`) when it holds NUL, which no IMAP string may
/// carry; an ordinary literal otherwise (RFC 3516 §4.3).
fn binary_value(data: &[u8]) -> NString8<'static> {
    if data.contains(&0) {
        NString8::Literal8(Literal8 {
            data: std::borrow::Cow::Owned(data.to_vec()),
            mode: LiteralMode::Sync,
        })
    } else {
        NString8::NString(literal(data))
    }
}

fn fetch_item(
    item: &MessageDataItemName<'static>,
    meta: &MessageMeta,
    info: Option<&MessageInfo>,
    raw: Option<&[u8]>,
    recent: bool,
) -> CmdResult<MessageDataItem<'static>> {
    use MessageDataItemName as N;
    let raw = raw.unwrap_or_default();
    let whole = || info.map(|i| (i.root.body_start, raw.len()));
    Ok(match item {
        N::Uid => MessageDataItem::Uid(NonZeroU32::new(meta.uid).unwrap_or(NonZeroU32::MIN)),
        N::Flags => MessageDataItem::Flags(fetch_flags(&meta.flags, recent)),
        N::InternalDate => MessageDataItem::InternalDate(date_time(meta)),
        N::Rfc822Size => MessageDataItem::Rfc822Size(meta.size),
        N::Envelope => MessageDataItem::Envelope(match info {
            Some(i) => render::envelope(&i.envelope),
            None => render::envelope(&Default::default()),
        }),
        N::Body => MessageDataItem::Body(match info {
            Some(i) => render::body_structure(&i.root, false),
            None => render::body_structure(&mime::parse(b"").root, false),
        }),
        N::BodyStructure => MessageDataItem::BodyStructure(match info {
            Some(i) => render::body_structure(&i.root, true),
            None => render::body_structure(&mime::parse(b"").root, true),
        }),
        N::Rfc822 => MessageDataItem::Rfc822(literal(raw)),
        N::Rfc822Header => {
            let end = whole().map(|(b, _)| b).unwrap_or(raw.len()).min(raw.len());
            MessageDataItem::Rfc822Header(literal(&raw[..end]))
        }
        N::Rfc822Text => {
            let start = whole().map(|(b, _)| b).unwrap_or(0).min(raw.len());
            MessageDataItem::Rfc822Text(literal(&raw[start..]))
        }
        N::BodyExt {
            section, partial, ..
        } => {
            let (path, kind) = section_spec(section);
            let bytes = match info {
                Some(i) => i.section(raw, &path, &kind),
                None if path.is_empty() && kind == SectionKind::Full => {
                    Some(std::borrow::Cow::Borrowed(raw))
                }
                None => None,
            };
            // A part that does not exist is an empty string, as Dovecot answers.
            let bytes = bytes.unwrap_or_default();
            let (origin, data) = match partial {
                Some((start, count)) => {
                    let s = (*start as usize).min(bytes.len());
                    let e = s.saturating_add(count.get() as usize).min(bytes.len());
                    (Some(*start), &bytes[s..e])
                }
                None => (None, &bytes[..]),
            };
            MessageDataItem::BodyExt {
                section: section.clone(),
                origin,
                data: literal(data),
            }
        }
        N::Binary {
            section, partial, ..
        } => {
            let data = binary_section(info, raw, section)?;
            // The response carries no origin: RFC 3516's grammar has none for BINARY (see
            // RFC 9051 erratum 7246), unlike BODY[]<origin>.
            let data = match partial {
                Some((start, count)) => {
                    let s = (*start as usize).min(data.len());
                    let e = s.saturating_add(count.get() as usize).min(data.len());
                    &data[s..e]
                }
                None => &data[..],
            };
            MessageDataItem::Binary {
                section: section.clone(),
                value: binary_value(data),
            }
        }
        N::BinarySize { section } => MessageDataItem::BinarySize {
            section: section.clone(),
            size: u32::try_from(binary_section(info, raw, section)?.len()).unwrap_or(u32::MAX),
        },
        N::ModSeq => MessageDataItem::ModSeq(
            std::num::NonZeroU64::new(meta.modseq).unwrap_or(std::num::NonZeroU64::MIN),
        ),
    })
}
