//! FETCH BODY[section] (RFC 3501 §6.4.5): every answer is a slice of the raw message, except
//! HEADER.FIELDS / HEADER.FIELDS.NOT which are filtered copies.

use std::borrow::Cow;

use super::headers;
use super::transfer::Cte;
use super::{MessageInfo, PartInfo, PartKind};

/// The text part of a section specifier.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionKind {
    /// `BODY[]` or `BODY[1.2]`.
    Full,
    Header,
    HeaderFields(Vec<String>),
    HeaderFieldsNot(Vec<String>),
    Text,
    /// `N.MIME`: the part's own MIME header (only with a non-empty path).
    Mime,
}

/// Part `n` (1-based) of a message: the children of a multipart root, or the root itself as
/// part 1 of a non-multipart message.
fn nth_of_message(msg: &MessageInfo, n: u32) -> Option<&PartInfo> {
    match &msg.root.kind {
        PartKind::Multipart(children) => children.get(usize::try_from(n).ok()?.checked_sub(1)?),
        _ => (n == 1).then_some(&msg.root),
    }
}

/// Resolve a non-empty part path.
///
/// Like Dovecot, a leaf reached as a child of a multipart also answers to `.1` (itself), once:
/// `BODY[2.1]` is part 2 when part 2 is a leaf, `BODY[2.1.1]` does not exist. RFC 3501 only
/// numbers the parts of multiparts and messages; this is the lenient reading clients meet.
pub(crate) fn resolve<'m>(msg: &'m MessageInfo, path: &[u32]) -> Option<&'m PartInfo> {
    let (&first, rest) = path.split_first()?;
    let mut part = nth_of_message(msg, first)?;
    // A non-multipart message body was reached through its "part 1" already.
    let mut self_used = !matches!(msg.root.kind, PartKind::Multipart(_));
    for &n in rest {
        (part, self_used) = match &part.kind {
            PartKind::Multipart(children) => (
                children.get(usize::try_from(n).ok()?.checked_sub(1)?)?,
                false,
            ),
            PartKind::Message(inner) => (
                nth_of_message(inner, n)?,
                !matches!(inner.root.kind, PartKind::Multipart(_)),
            ),
            PartKind::Single if n == 1 && !self_used => (part, true),
            PartKind::Single => return None,
        };
    }
    Some(part)
}

/// Where the bytes of a section are: a range of the raw message, or a header block to filter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SectionBytes {
    /// `raw[start..end]`, sent as is (FETCH streams it from the database).
    Range(usize, usize),
    /// HEADER.FIELDS (`keep = true`) or HEADER.FIELDS.NOT (`keep = false`) of the header block
    /// `raw[start..end]`.
    Filtered {
        start: usize,
        end: usize,
        names: Vec<String>,
        keep: bool,
    },
}

/// HEADER.FIELDS (`keep = true`): the listed fields verbatim (folding kept), then CRLF.
/// HEADER.FIELDS.NOT (`keep = false`): the header block minus the listed fields, everything
/// else verbatim (unparsable lines and the blank line included). Both as Dovecot does.
pub fn filter_header(header: &[u8], names: &[String], keep: bool) -> Vec<u8> {
    let listed = |f: &headers::Field<'_>| {
        names
            .iter()
            .any(|n| n.as_bytes().eq_ignore_ascii_case(f.name))
    };
    let fields = headers::fields(header, 0, header.len());
    let mut out = Vec::new();
    if keep {
        for f in fields.iter().filter(|f| listed(f)) {
            out.extend_from_slice(header.get(f.start..f.end).unwrap_or_default());
        }
        out.extend_from_slice(b"\r\n");
    } else {
        let mut at = 0;
        for f in fields.iter().filter(|f| listed(f)) {
            out.extend_from_slice(header.get(at..f.start).unwrap_or_default());
            at = f.end;
        }
        out.extend_from_slice(header.get(at..).unwrap_or_default());
    }
    out
}

/// HEADER / HEADER.FIELDS / TEXT of a message entity.
fn message_section(msg: &MessageInfo, kind: &SectionKind) -> Option<SectionBytes> {
    let r = &msg.root;
    let filtered = |names: &Vec<String>, keep| SectionBytes::Filtered {
        start: r.header_start,
        end: r.body_start,
        names: names.clone(),
        keep,
    };
    match kind {
        SectionKind::Full => Some(SectionBytes::Range(r.header_start, r.body_end)),
        SectionKind::Header => Some(SectionBytes::Range(r.header_start, r.body_start)),
        SectionKind::Text => Some(SectionBytes::Range(r.body_start, r.body_end)),
        SectionKind::HeaderFields(n) => Some(filtered(n, true)),
        SectionKind::HeaderFieldsNot(n) => Some(filtered(n, false)),
        SectionKind::Mime => None,
    }
}

impl MessageInfo {
    /// Where BODY[path.kind] is in a raw message of `raw_len` bytes. `None` when the part does
    /// not exist or the specifier does not apply (HEADER/TEXT of a part that is not
    /// message/rfc822, MIME without a part).
    pub fn section_bytes(
        &self,
        raw_len: usize,
        path: &[u32],
        kind: &SectionKind,
    ) -> Option<SectionBytes> {
        let found = if path.is_empty() {
            message_section(self, kind)?
        } else {
            let part = resolve(self, path)?;
            match kind {
                SectionKind::Full => SectionBytes::Range(part.body_start, part.body_end),
                SectionKind::Mime => SectionBytes::Range(part.header_start, part.body_start),
                _ => match &part.kind {
                    PartKind::Message(inner) => message_section(inner, kind)?,
                    _ => return None,
                },
            }
        };
        // A cached parse that does not fit the message (it cannot happen, but the cache is
        // data from disk) answers nothing rather than reading out of bounds.
        let (s, e) = match &found {
            SectionBytes::Range(s, e)
            | SectionBytes::Filtered {
                start: s, end: e, ..
            } => (*s, *e),
        };
        (s <= e && e <= raw_len).then_some(found)
    }

    /// BODY[path.kind] of `raw` (see [`MessageInfo::section_bytes`]).
    pub fn section<'a>(
        &self,
        raw: &'a [u8],
        path: &[u32],
        kind: &SectionKind,
    ) -> Option<Cow<'a, [u8]>> {
        match self.section_bytes(raw.len(), path, kind)? {
            SectionBytes::Range(s, e) => raw.get(s..e).map(Cow::Borrowed),
            SectionBytes::Filtered {
                start,
                end,
                names,
                keep,
            } => Some(Cow::Owned(filter_header(
                raw.get(start..end)?,
                &names,
                keep,
            ))),
        }
    }
}

/// Why a BINARY[section] cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BinaryError {
    /// The part's Content-Transfer-Encoding is not one this server can decode (as sent).
    UnknownCte(Vec<u8>),
}

impl MessageInfo {
    /// The part BINARY[path] decodes and its encoding; `Ok(None)` when it does not exist. Needs
    /// only the structure, so a FETCH can refuse before it has any side effect (\Seen).
    pub fn binary_part(&self, path: &[u32]) -> Result<Option<(&PartInfo, Cte)>, BinaryError> {
        let part = if path.is_empty() {
            &self.root
        } else {
            match resolve(self, path) {
                Some(p) => p,
                None => return Ok(None),
            }
        };
        // A multipart or message/rfc822 part may only be 7bit, 8bit or binary (RFC 2045
        // §6.4, RFC 2046 §5.2.1), which decode to themselves: its bytes as they are, whatever
        // its header claims. (Dovecot instead decodes every leaf inside and rewrites their
        // Content-Transfer-Encoding headers; RFC 3516 asks for no such rewriting.)
        if matches!(part.kind, PartKind::Multipart(_) | PartKind::Message(_)) {
            return Ok(Some((part, Cte::Identity)));
        }
        let cte = Cte::from_name(&part.encoding)
            .ok_or_else(|| BinaryError::UnknownCte(part.encoding.clone()))?;
        Ok(Some((part, cte)))
    }

    /// BINARY[path] (RFC 3516): the part's body with its Content-Transfer-Encoding undone.
    /// `BINARY[]` is the message's header followed by its decoded body. `Ok(None)` when the
    /// part does not exist.
    pub fn binary<'a>(
        &self,
        raw: &'a [u8],
        path: &[u32],
    ) -> Result<Option<Cow<'a, [u8]>>, BinaryError> {
        let Some((part, cte)) = self.binary_part(path)? else {
            return Ok(None);
        };
        let Some(body) = raw.get(part.body_start..part.body_end) else {
            return Ok(None);
        };
        if !path.is_empty() {
            return Ok(Some(cte.decode(body)));
        }
        if cte == Cte::Identity {
            return Ok(raw.get(part.header_start..part.body_end).map(Cow::Borrowed));
        }
        let header = raw
            .get(part.header_start..part.body_start)
            .unwrap_or_default();
        let mut out = header.to_vec();
        out.extend_from_slice(&cte.decode(body));
        Ok(Some(Cow::Owned(out)))
    }
}
