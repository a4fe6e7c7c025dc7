//! FETCH and UID FETCH (RFC 3501 §6.4.5, §6.4.8).
//!
//! Metadata (flags, dates, sizes) comes from one query per chunk of messages; ENVELOPE and
//! BODYSTRUCTURE from the parse cached at APPEND time; sections are byte ranges of the raw
//! message, streamed from the database in chunks (only HEADER.FIELDS reads its header block
//! whole, to filter it). Responses are written as they are made, so neither a `FETCH 1:*` of a
//! large mailbox nor a `BODY[]` of a 50 MB message is ever held in memory. BINARY[] sections
//! (RFC 3516) are the exception: their transfer encoding is undone on the whole message, read
//! at once (up to the message size limit).

use std::num::NonZeroU32;

use imap_codec::encode::{Encoder, Fragment};
use imap_codec::imap_types::command::FetchModifier;
use imap_codec::imap_types::core::{IString, Literal, LiteralMode, NString, NString8, Vec1};
use imap_codec::imap_types::datetime::DateTime;
use imap_codec::imap_types::extensions::binary::Literal8;
use imap_codec::imap_types::fetch::{
    Macro, MacroOrMessageDataItemNames, MessageDataItem, MessageDataItemName, Section,
};
use imap_codec::imap_types::response::{Code, Data, Response};
use imap_codec::imap_types::sequence::SequenceSet;
use imap_codec::ResponseCodec;

use super::fetch_flags;
use crate::imap::cmd::mailbox::{nz, nz64};
use crate::imap::ext::fetch::{encode_with_binary_origins, meta_items, BinaryOrigin, MetaFetch};
use crate::imap::ext::objid::{self, ObjItem, ObjValue};
use crate::imap::session::{Done, Session};
use crate::imap::{render, CmdError, CmdResult};
use crate::mime::{self, BinaryError, MessageInfo, SectionBytes, SectionKind};
use crate::store::{FetchRow, FlagChange, FlagOp, MessageMeta, StoreError};

/// A message being answered: metadata, its parse (boxed: a MessageInfo is large, and rows are
/// moved around by value), and the whole raw message when it was read inline.
type Row = (MessageMeta, Option<Box<MessageInfo>>, Option<Vec<u8>>);

/// The \Seen a FETCH set: the change's modseq and the messages' flags afterwards.
type Seen = Option<(u64, Vec<FlagChange>)>;

/// Messages per store round trip.
const CHUNK: usize = 256;
/// Messages up to this size are read whole with their metadata when a body item is fetched;
/// larger ones are streamed in STREAM_CHUNK pieces.
const INLINE_EACH: usize = 256 * 1024;
/// The most bytes of whole messages one round trip reads.
const INLINE_BUDGET: usize = 2 * 1024 * 1024;
/// Messages per store round trip when only metadata (flags, UID, dates, size) is fetched: each
/// round trip to a database thread costs two context switches, and a row is small.
const META_CHUNK: usize = 2048;

/// What a FETCH needs from the store beyond the metadata.
#[derive(Default)]
struct Needs {
    /// The body's size (read from the bodies table): RFC822.SIZE, and every body item, whose
    /// byte ranges end at it.
    size: bool,
    parsed: bool,
    /// BINARY items: the whole raw message, to decode.
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
        modifiers: Vec<FetchModifier>,
    ) -> CmdResult<Done> {
        let mut items = match items {
            MacroOrMessageDataItemNames::Macro(m) => expand_macro(m),
            MacroOrMessageDataItemNames::MessageDataItemNames(v) => v,
        };
        let mut changed_since = None;
        let mut vanished = false;
        for m in modifiers {
            match m {
                FetchModifier::ChangedSince(n) => changed_since = Some(n.get()),
                FetchModifier::Vanished => vanished = true,
            }
        }
        if vanished {
            // RFC 7162 §3.2.6: only UID FETCH, with CHANGEDSINCE, once QRESYNC is enabled.
            if !self.qresync {
                return Err(CmdError::bad("VANISHED needs ENABLE QRESYNC first"));
            }
            let (true, Some(since)) = (uid, changed_since) else {
                return Err(CmdError::bad("VANISHED needs UID FETCH and CHANGEDSINCE"));
            };
            let mailbox = self
                .state
                .selected()
                .map(|s| s.mailbox)
                .ok_or_else(|| CmdError::bad("No mailbox selected"))?;
            let gone = self
                .db(move |s| s.changes_since(mailbox, since))
                .await?
                .expunged;
            self.vanished_earlier(&gone, Some(&set)).await?;
        }
        if changed_since.is_some() && !items.contains(&MessageDataItemName::ModSeq) {
            // RFC 7162 §3.1.4.1: CHANGEDSINCE implies the MODSEQ item.
            items.push(MessageDataItemName::ModSeq);
        }
        if items.contains(&MessageDataItemName::ModSeq) {
            // RFC 7162 §3.1: a MODSEQ item or CHANGEDSINCE enables CONDSTORE.
            self.condstore = true;
        }
        let condstore = self.condstore;
        // OBJECTID / SAVEDATE / PREVIEW items (in marker form, see ext::objid): answered apart.
        let ext_items: Vec<ObjItem> = items.iter().filter_map(objid::fetch_item).collect();
        items.retain(|i| objid::fetch_item(i).is_none());
        if uid && !self.uidonly && !items.contains(&MessageDataItemName::Uid) {
            // RFC 3501 §6.4.8: UID FETCH always answers the UID (UIDFETCH starts with it,
            // and has it as an item only when asked, RFC 9586 §3.3).
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
                    needs.size = true;
                    needs.parsed |= section.is_some();
                    needs.sets_seen |= !peek;
                }
                MessageDataItemName::Rfc822 | MessageDataItemName::Rfc822Text => {
                    needs.size = true;
                    needs.parsed = true;
                    needs.sets_seen = true;
                }
                MessageDataItemName::Rfc822Header => {
                    needs.size = true;
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
        let view = sel.hold.id();
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
        // Body items read small messages whole in the same job and snapshot as their
        // metadata, so they are answered without another trip (and cannot vanish between).
        let wants_body = items.iter().any(|i| {
            matches!(
                i,
                MessageDataItemName::BodyExt { .. }
                    | MessageDataItemName::Rfc822
                    | MessageDataItemName::Rfc822Text
                    | MessageDataItemName::Rfc822Header
                    | MessageDataItemName::Binary { .. }
                    | MessageDataItemName::BinarySize { .. }
            )
        });
        let inline = if wants_body {
            (INLINE_EACH, INLINE_BUDGET)
        } else {
            (0, 0)
        };
        // The common metadata-only forms (UID, FLAGS, MODSEQ) read only those and skip
        // imap-types and the codec per message (ext::fetch).
        let mut fast = meta_items(&items)
            .filter(|_| ext_items.is_empty() && !mark_seen && !self.uidonly)
            .map(MetaFetch::new);
        let fast_read = fast.is_some();
        let with_modseq = items.contains(&MessageDataItemName::ModSeq);
        let want_parsed = needs.parsed;
        let want_size = needs.size;
        let ctx = self.ctx.clone();
        // One job per chunk: the rows, their parse, small bodies, and the \Seen they get.
        let submit = |uids: Vec<u32>| {
            let query = uids;
            let job_items = if mark_seen { items.clone() } else { Vec::new() };
            ctx.db.run(move |s| {
                if fast_read {
                    let mut metas = s.view_flags(view, mailbox, &query, with_modseq)?;
                    let all = metas.len();
                    if let Some(n) = changed_since {
                        metas.retain(|m| m.modseq > n);
                    }
                    let skipped = all - metas.len();
                    let rows: Vec<Row> = metas.into_iter().map(|m| (m, None, None)).collect();
                    return Ok((rows, None, skipped));
                }
                // Messages expunged since this view numbered them are still answered
                // (RFC 2180 §4.1.1): the store keeps them until the view lets go.
                let mut fetched =
                    s.fetch_rows(view, mailbox, &query, want_size, want_parsed, inline)?;
                let all = fetched.len();
                if let Some(n) = changed_since {
                    fetched.retain(|r| r.meta.modseq > n);
                }
                let skipped = all - fetched.len();
                let mut rows: Vec<Row> = Vec::with_capacity(fetched.len());
                for FetchRow { meta, parsed, raw } in fetched {
                    let info = match parsed {
                        // A missing or unreadable cache is rebuilt from the raw message.
                        Some(blob) => Some(Box::new(match MessageInfo::decode(&blob) {
                            Some(i) => i,
                            None => match &raw {
                                Some(raw) => mime::parse(raw),
                                None => match s.raw(meta.body_id) {
                                    Ok(raw) => mime::parse(&raw),
                                    // Gone with no hold on it (another process removed
                                    // it): as if expunged before this view numbered it.
                                    Err(StoreError::NotFound(_)) => continue,
                                    Err(e) => return Err(e),
                                },
                            },
                        })),
                        None => None,
                    };
                    rows.push((meta, info, raw));
                }
                if !mark_seen {
                    return Ok((rows, None, skipped));
                }
                // A BINARY that will fail (multipart, unknown encoding) ends the FETCH at
                // that message: neither it nor the ones after it get \Seen.
                let failing = rows
                    .iter()
                    .position(|(_, info, _)| binary_refused(&job_items, info.as_deref()))
                    .unwrap_or(rows.len());
                let unseen: Vec<u32> = rows[..failing]
                    .iter()
                    .filter(|(m, _, _)| !m.flags.iter().any(|f| f.eq_ignore_ascii_case("\\Seen")))
                    .map(|(m, _, _)| m.uid)
                    .collect();
                if unseen.is_empty() {
                    return Ok((rows, None, skipped));
                }
                // On a full disk the flag cannot be written: the data is served without it
                // (the store logs the full disk once).
                match s.store_flags(mailbox, &unseen, FlagOp::Add, &["\\Seen".into()]) {
                    Ok(seen) => Ok((rows, Some(seen), skipped)),
                    Err(StoreError::Full) => Ok((rows, None, skipped)),
                    Err(e) => Err(e),
                }
            })
        };
        let mut chunks = targets.chunks(chunk_len);
        let uids_of =
            |chunk: &[(u32, u32)]| -> Vec<u32> { chunk.iter().map(|(_, u)| *u).collect() };
        let mut next = chunks.next().map(|c| (c.len(), submit(uids_of(c))));
        while let Some((asked, job)) = next.take() {
            let (mut rows, seen, skipped): (Vec<Row>, Seen, usize) = job.await?;
            // The next chunk is read while this one is encoded and sent (the database
            // threads and this task run side by side). Not when the job sets \Seen: a
            // message is flagged only once the ones before it have been answered.
            if !mark_seen {
                next = chunks.next().map(|c| (c.len(), submit(uids_of(c))));
            }
            // Those left out because they did not change after CHANGEDSINCE are not missing.
            missing += asked - rows.len() - skipped;
            let mut ext_values = if ext_items.is_empty() {
                std::collections::HashMap::new()
            } else {
                let want: Vec<u32> = rows.iter().map(|(m, _, _)| m.uid).collect();
                let items = ext_items.clone();
                self.db(move |s| object_values(s, mailbox, &want, &items))
                    .await?
            };

            let mut seen_now = std::collections::HashSet::new();
            if let Some((modseq, changes)) = seen {
                if let Some(sel) = self.state.selected_mut() {
                    sel.own_modseqs.insert(modseq);
                }
                for ch in changes {
                    if let Some((m, _, _)) = rows.iter_mut().find(|(m, _, _)| m.uid == ch.uid) {
                        m.flags = ch.flags;
                        m.modseq = ch.modseq;
                        seen_now.insert(ch.uid);
                    }
                }
            }

            if let Some(fast) = fast.as_mut() {
                // Only UID, FLAGS and MODSEQ: one buffer for the chunk (see ext::fetch).
                let Some(sel) = self.state.selected() else {
                    break;
                };
                let mut out = Vec::with_capacity(rows.len() * 40);
                for (meta, _, _) in &rows {
                    let Some(seq) = sel.view.seq(meta.uid) else {
                        continue;
                    };
                    let recent = sel.recent.contains(&meta.uid);
                    fast.encode(
                        &mut out,
                        nz(seq),
                        NonZeroU32::new(meta.uid).unwrap_or(NonZeroU32::MIN),
                        nz64(meta.modseq),
                        (&meta.flags, recent),
                        || fetch_flags(&meta.flags, recent),
                    );
                }
                self.conn
                    .send_raw(&out)
                    .await
                    .map_err(|e| CmdError::Bye(format!("write failed: {e}")))?;
                continue;
            }
            for (meta, info, inline_raw) in rows {
                let Some(sel) = self.state.selected() else {
                    break;
                };
                let Some(seq) = sel.view.seq(meta.uid) else {
                    continue;
                };
                // The number the response starts with: the UID for a UIDFETCH.
                let seq = self.fetch_number(seq, meta.uid);
                let recent = sel.recent.contains(&meta.uid);
                // BINARY decodes the whole message: read it for this message alone.
                let fetched_raw = if needs.raw && inline_raw.is_none() {
                    let body = meta.body_id;
                    match self.db(move |s| s.raw(body)).await {
                        Ok(raw) => Some(raw),
                        Err(StoreError::NotFound(_)) => {
                            missing += 1;
                            continue;
                        }
                        Err(e) => return Err(e.into()),
                    }
                } else {
                    None
                };
                // The whole message when it is in memory: sections are cut from it.
                let whole = inline_raw.as_deref().or(fetched_raw.as_deref());
                let raw = if needs.raw { whole } else { None };
                let mut out = Vec::with_capacity(items.len() + 1);
                let mut streams = Vec::new();
                let mut origins = Vec::new();
                for item in &items {
                    if let Some(data) = binary_item(item, info.as_deref(), raw) {
                        if let MessageDataItemName::Binary {
                            section, partial, ..
                        } = item
                        {
                            origins.push(BinaryOrigin {
                                section: section.iter().map(|n| n.get()).collect(),
                                origin: partial.map(|(start, _)| start),
                            });
                        }
                        out.push(data?);
                        continue;
                    }
                    let data = match plan_item(item, &meta, info.as_deref(), recent) {
                        Planned::Ready(data) => data,
                        Planned::Body {
                            item: body_item,
                            bytes,
                            partial,
                        } => {
                            let value = match bytes {
                                // A part that does not exist is an empty string, as Dovecot
                                // answers.
                                None => literal(b""),
                                // The whole message is at hand for BINARY: a literal, so a
                                // response with BINARY origins is encoded in one piece.
                                Some(SectionBytes::Range(s, e)) if raw.is_some() => {
                                    let (s, e) = apply_partial(s, e, partial);
                                    literal(raw.and_then(|w| w.get(s..e)).unwrap_or_default())
                                }
                                Some(SectionBytes::Range(s, e)) => {
                                    streams.push(apply_partial(s, e, partial));
                                    placeholder()
                                }
                                Some(SectionBytes::Filtered {
                                    start,
                                    end,
                                    names,
                                    keep,
                                }) => {
                                    let header = match whole {
                                        Some(w) => w[start.min(w.len())..end.min(w.len())].to_vec(),
                                        None => {
                                            let body = meta.body_id;
                                            self.db(move |s| s.raw_range(body, start, end - start))
                                                .await?
                                        }
                                    };
                                    let bytes = mime::filter_header(&header, &names, keep);
                                    let (s, e) = apply_partial(0, bytes.len(), partial);
                                    literal(&bytes[s..e])
                                }
                            };
                            body_item.with(value)
                        }
                    };
                    out.push(data);
                }
                if seen_now.contains(&meta.uid) && !items.contains(&MessageDataItemName::Flags) {
                    // The \Seen side effect is reported in the same response.
                    out.push(MessageDataItem::Flags(fetch_flags(&meta.flags, recent)));
                    if condstore && !items.contains(&MessageDataItemName::ModSeq) {
                        // RFC 7162 §3.1: an unasked-for flag change carries its modseq.
                        out.push(modseq_item(meta.modseq));
                    }
                }
                let ext = ext_values.remove(&meta.uid).unwrap_or_default();
                let write_failed = |e: std::io::Error| CmdError::Bye(format!("write failed: {e}"));
                let Ok(items_out) = Vec1::try_from(out) else {
                    if !ext.is_empty() {
                        let bytes = self.fetch_bytes(objid::fetch_response(seq, &ext));
                        self.conn.send_raw(&bytes).await.map_err(write_failed)?;
                    }
                    continue;
                };
                let response = Data::Fetch {
                    seq: nz(seq),
                    items: items_out,
                };
                if origins.iter().any(|o| o.origin.is_some()) {
                    let bytes = encode_with_binary_origins(&Response::Data(response), &origins);
                    let bytes = self.fetch_bytes(objid::append_fetch_items(bytes, &ext));
                    self.conn.send_raw(&bytes).await.map_err(write_failed)?;
                } else if streams.is_empty() && ext.is_empty() && !self.uidonly {
                    self.data(response).await?;
                } else if streams.is_empty() {
                    let bytes = ResponseCodec::default()
                        .encode(&Response::Data(response))
                        .dump();
                    let bytes = self.fetch_bytes(objid::append_fetch_items(bytes, &ext));
                    self.conn.send_raw(&bytes).await.map_err(write_failed)?;
                } else if !self
                    .send_streamed(response, meta.body_id, whole, &streams, &ext)
                    .await?
                {
                    missing += 1;
                }
            }
            if mark_seen {
                next = chunks.next().map(|c| (c.len(), submit(uids_of(c))));
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

/// The OBJECTID / SAVEDATE / PREVIEW answers of the messages `uids`, by UID. A preview the
/// store lacks (a message stored before schema 4) is made from the message now.
fn object_values(
    s: &crate::store::Store,
    mailbox: crate::store::MailboxId,
    uids: &[u32],
    items: &[ObjItem],
) -> Result<std::collections::HashMap<u32, Vec<ObjValue>>, StoreError> {
    let mut out = std::collections::HashMap::new();
    for f in s.object_fields(mailbox, uids)? {
        let mut values = Vec::with_capacity(items.len());
        for item in items {
            values.push(match item {
                ObjItem::EmailId => match &f.email_id {
                    Some(id) => ObjValue::EmailId(id.clone()),
                    None => continue,
                },
                ObjItem::ThreadId => ObjValue::ThreadId(f.thread_id.clone()),
                ObjItem::SaveDate => ObjValue::SaveDate(f.save_date.map(|t| {
                    let local = crate::message::now().offset().local_minus_utc();
                    objid::date_time(crate::message::internal_date(t, local))
                })),
                ObjItem::Preview => ObjValue::Preview(Some(match &f.preview {
                    Some(p) => p.clone(),
                    None => {
                        let raw = s.raw(f.body_id)?;
                        mime::preview(&raw, &mime::parse(&raw))
                    }
                })),
            });
        }
        out.insert(f.uid, values);
    }
    Ok(out)
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
pub(crate) fn section_spec(section: &Option<Section>) -> (Vec<u32>, SectionKind) {
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

/// The answer to a BINARY or BINARY.SIZE item; `None` for every other item.
fn binary_item(
    item: &MessageDataItemName<'static>,
    info: Option<&MessageInfo>,
    raw: Option<&[u8]>,
) -> Option<CmdResult<MessageDataItem<'static>>> {
    let raw = raw.unwrap_or_default();
    Some(match item {
        MessageDataItemName::Binary {
            section, partial, ..
        } => binary_section(info, raw, section).map(|data| {
            // The origin (`BINARY[1]<5>`) is written by the extension layer when the
            // response is encoded: imap-types has no field for it.
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
        }),
        MessageDataItemName::BinarySize { section } => {
            binary_section(info, raw, section).map(|data| MessageDataItem::BinarySize {
                section: section.clone(),
                size: u32::try_from(data.len()).unwrap_or(u32::MAX),
            })
        }
        _ => return None,
    })
}

/// A body item, waiting for its bytes.
enum BodyItem {
    Rfc822,
    Rfc822Header,
    Rfc822Text,
    BodyExt {
        section: Option<Section<'static>>,
        origin: Option<u32>,
    },
}

impl BodyItem {
    fn with(self, data: NString<'static>) -> MessageDataItem<'static> {
        match self {
            BodyItem::Rfc822 => MessageDataItem::Rfc822(data),
            BodyItem::Rfc822Header => MessageDataItem::Rfc822Header(data),
            BodyItem::Rfc822Text => MessageDataItem::Rfc822Text(data),
            BodyItem::BodyExt { section, origin } => MessageDataItem::BodyExt {
                section,
                origin,
                data,
            },
        }
    }
}

/// What one FETCH item answers: data at hand, or a body item and where its bytes are.
// Short-lived, one per item being answered: boxing the data would only add allocations.
#[allow(clippy::large_enum_variant)]
enum Planned {
    Ready(MessageDataItem<'static>),
    Body {
        item: BodyItem,
        /// `None`: the part does not exist.
        bytes: Option<SectionBytes>,
        partial: Option<(u32, NonZeroU32)>,
    },
}

/// `<start.count>` of the bytes `s..e`.
fn apply_partial(s: usize, e: usize, partial: Option<(u32, NonZeroU32)>) -> (usize, usize) {
    match partial {
        Some((start, count)) => {
            let s = s.saturating_add(start as usize).min(e);
            (s, s.saturating_add(count.get() as usize).min(e))
        }
        None => (s, e),
    }
}

fn plan_item(
    item: &MessageDataItemName<'static>,
    meta: &MessageMeta,
    info: Option<&MessageInfo>,
    recent: bool,
) -> Planned {
    use MessageDataItemName as N;
    let size = meta.size as usize;
    let body_start = || info.map(|i| i.root.body_start.min(size));
    let ready = Planned::Ready;
    let body = |item, bytes| Planned::Body {
        item,
        bytes,
        partial: None,
    };
    match item {
        N::Uid => ready(MessageDataItem::Uid(
            NonZeroU32::new(meta.uid).unwrap_or(NonZeroU32::MIN),
        )),
        N::Flags => ready(MessageDataItem::Flags(fetch_flags(&meta.flags, recent))),
        N::InternalDate => ready(MessageDataItem::InternalDate(date_time(meta))),
        N::Rfc822Size => ready(MessageDataItem::Rfc822Size(meta.size)),
        N::Envelope => ready(MessageDataItem::Envelope(match info {
            Some(i) => render::envelope(&i.envelope),
            None => render::envelope(&Default::default()),
        })),
        N::Body => ready(MessageDataItem::Body(match info {
            Some(i) => render::body_structure(&i.root, false),
            None => render::body_structure(&mime::parse(b"").root, false),
        })),
        N::BodyStructure => ready(MessageDataItem::BodyStructure(match info {
            Some(i) => render::body_structure(&i.root, true),
            None => render::body_structure(&mime::parse(b"").root, true),
        })),
        N::Rfc822 => body(BodyItem::Rfc822, Some(SectionBytes::Range(0, size))),
        N::Rfc822Header => body(
            BodyItem::Rfc822Header,
            Some(SectionBytes::Range(0, body_start().unwrap_or(size))),
        ),
        N::Rfc822Text => body(
            BodyItem::Rfc822Text,
            Some(SectionBytes::Range(body_start().unwrap_or(0), size)),
        ),
        N::BodyExt {
            section, partial, ..
        } => {
            let (path, kind) = section_spec(section);
            let bytes = match info {
                Some(i) => i.section_bytes(size, &path, &kind),
                None if path.is_empty() && kind == SectionKind::Full => {
                    Some(SectionBytes::Range(0, size))
                }
                None => None,
            };
            Planned::Body {
                item: BodyItem::BodyExt {
                    section: section.clone(),
                    origin: partial.map(|(start, _)| start),
                },
                bytes,
                partial: *partial,
            }
        }
        // Answered by binary_item before any item is planned.
        N::Binary { .. } | N::BinarySize { .. } => ready(MessageDataItem::Rfc822Size(meta.size)),
        N::ModSeq => ready(modseq_item(meta.modseq)),
    }
}

/// `MODSEQ (n)` for a FETCH response.
pub(crate) fn modseq_item(modseq: u64) -> MessageDataItem<'static> {
    MessageDataItem::ModSeq(crate::imap::cmd::mailbox::nz64(modseq))
}

/// Bytes per database read while a body is streamed. Each read opens the blob afresh (no
/// transaction is held across network writes), and SQLite walks a blob's overflow pages from
/// its start to reach an offset, so smaller chunks cost quadratically more page lookups.
const STREAM_CHUNK: usize = 1024 * 1024;

/// The stand-in for a streamed literal while the rest of its response is encoded: random per
/// process, so no message data can be mistaken for it.
fn marker() -> &'static [u8] {
    static MARKER: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    MARKER.get_or_init(|| {
        let random = crate::store::random_bytes();
        format!("liteimap-stream-{}", crate::store::hex(&random[..16])).into_bytes()
    })
}

fn placeholder() -> NString<'static> {
    literal(marker())
}

impl Session {
    /// Send a FETCH response whose body literals (the placeholders, in order) are the byte
    /// ranges `streams` of the stored body: the codec encodes everything else, and each range
    /// is read from the database and written out a chunk at a time, so a 50 MB message costs
    /// a chunk of memory, not 50 MB (or twice that, encoded).
    async fn send_streamed(
        &mut self,
        response: Data<'static>,
        body_id: i64,
        whole: Option<&[u8]>,
        streams: &[(usize, usize)],
        ext: &[ObjValue],
    ) -> CmdResult<bool> {
        let broken = |e: std::io::Error| CmdError::Bye(format!("write failed: {e}"));
        // The first chunk of every literal is read before any byte of the response is sent:
        // a body that is gone (which a hold prevents within this process) skips the response
        // instead of ending the connection after a literal length it cannot fill. Most
        // messages fit in one chunk; one read inline is in memory already.
        let mut first = Vec::with_capacity(streams.len());
        for &(start, end) in streams.iter().filter(|_| whole.is_none()) {
            let len = STREAM_CHUNK.min(end - start);
            match self.db(move |s| s.raw_range(body_id, start, len)).await {
                Ok(chunk) if chunk.len() == len => first.push(chunk),
                Ok(_) | Err(StoreError::NotFound(_)) => return Ok(false),
                Err(e) => return Err(e.into()),
            }
        }
        let mut first = first.into_iter();
        let marker = marker();
        let announce = format!("{{{}}}\r\n", marker.len());
        let mut ranges = streams.iter();
        let mut fragments = ResponseCodec::default()
            .encode(&Response::Data(response))
            .peekable();
        let mut first_line = true;
        while let Some(fragment) = fragments.next() {
            let data = match fragment {
                // The response's first line names it FETCH or UIDFETCH.
                Fragment::Line { data } if first_line => {
                    first_line = false;
                    self.fetch_bytes(data)
                }
                Fragment::Line { data } | Fragment::Literal { data, .. } => data,
            };
            // The response's last line takes the OBJECTID / SAVEDATE / PREVIEW items.
            let data = if fragments.peek().is_none() {
                objid::append_fetch_items(data, ext)
            } else {
                data
            };
            let placeholder_next = matches!(
                fragments.peek(),
                Some(Fragment::Literal { data, .. }) if data == marker
            );
            let line = match data.strip_suffix(announce.as_bytes()) {
                Some(line) if placeholder_next => line,
                _ => {
                    self.conn.send_raw(&data).await.map_err(broken)?;
                    continue;
                }
            };
            fragments.next();
            let &(start, end) = ranges
                .next()
                .ok_or_else(|| CmdError::Bye("internal error: FETCH streaming".into()))?;
            self.conn.send_raw(line).await.map_err(broken)?;
            // The literal's length is announced before its bytes are read: from here on, a
            // failure can only end the connection.
            let header = format!("{{{}}}\r\n", end - start);
            self.conn
                .send_raw(header.as_bytes())
                .await
                .map_err(broken)?;
            if let Some(w) = whole {
                let bytes = w.get(start..end).ok_or_else(|| {
                    CmdError::Bye("internal error: section beyond the message".into())
                })?;
                let bytes = mime::without_nul(std::borrow::Cow::Borrowed(bytes));
                self.conn.send_raw(&bytes).await.map_err(broken)?;
                continue;
            }
            let mut at = start;
            let mut prefetched = first.next();
            while at < end {
                let len = STREAM_CHUNK.min(end - at);
                let chunk = match prefetched.take() {
                    Some(chunk) => chunk,
                    None => self
                        .db(move |s| s.raw_range(body_id, at, len))
                        .await
                        .map_err(|e| CmdError::Bye(format!("cannot read the message: {e}")))?,
                };
                if chunk.len() != len {
                    return Err(CmdError::Bye(
                        "the message was removed while being sent".into(),
                    ));
                }
                let chunk = mime::without_nul(std::borrow::Cow::Owned(chunk));
                self.conn.send_raw(&chunk).await.map_err(broken)?;
                at += len;
            }
        }
        Ok(true)
    }
}
