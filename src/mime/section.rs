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

fn slice(raw: &[u8], s: usize, e: usize) -> Option<Cow<'_, [u8]>> {
    raw.get(s..e).map(Cow::Borrowed)
}

/// HEADER.FIELDS (`keep = true`): the listed fields verbatim (folding kept), then CRLF.
/// HEADER.FIELDS.NOT (`keep = false`): the header block minus the listed fields, everything
/// else verbatim (unparsable lines and the blank line included). Both as Dovecot does.
fn filter_fields<'a>(
    raw: &'a [u8],
    start: usize,
    end: usize,
    names: &[String],
    keep: bool,
) -> Cow<'a, [u8]> {
    let listed = |f: &headers::Field<'_>| {
        names
            .iter()
            .any(|n| n.as_bytes().eq_ignore_ascii_case(f.name))
    };
    let fields = headers::fields(raw, start, end);
    let mut out = Vec::new();
    if keep {
        for f in fields.iter().filter(|f| listed(f)) {
            out.extend_from_slice(raw.get(f.start..f.end).unwrap_or_default());
        }
        out.extend_from_slice(b"\r\n");
    } else {
        let mut at = start;
        for f in fields.iter().filter(|f| listed(f)) {
            out.extend_from_slice(raw.get(at..f.start).unwrap_or_default());
            at = f.end;
        }
        out.extend_from_slice(raw.get(at..end).unwrap_or_default());
    }
    Cow::Owned(out)
}

/// HEADER / HEADER.FIELDS / TEXT of a message entity.
fn message_section<'a>(
    raw: &'a [u8],
    msg: &MessageInfo,
    kind: &SectionKind,
) -> Option<Cow<'a, [u8]>> {
    let r = &msg.root;
    match kind {
        SectionKind::Full => slice(raw, r.header_start, r.body_end),
        SectionKind::Header => slice(raw, r.header_start, r.body_start),
        SectionKind::Text => slice(raw, r.body_start, r.body_end),
        SectionKind::HeaderFields(n) => {
            Some(filter_fields(raw, r.header_start, r.body_start, n, true))
        }
        SectionKind::HeaderFieldsNot(n) => {
            Some(filter_fields(raw, r.header_start, r.body_start, n, false))
        }
        SectionKind::Mime => None,
    }
}

impl MessageInfo {
    /// BODY[path.kind]. `None` when the part does not exist or the specifier does not apply
    /// (HEADER/TEXT of a part that is not message/rfc822, MIME without a part).
    pub fn section<'a>(
        &self,
        raw: &'a [u8],
        path: &[u32],
        kind: &SectionKind,
    ) -> Option<Cow<'a, [u8]>> {
        if path.is_empty() {
            return message_section(raw, self, kind);
        }
        let part = resolve(self, path)?;
        match kind {
            SectionKind::Full => slice(raw, part.body_start, part.body_end),
            SectionKind::Mime => slice(raw, part.header_start, part.body_start),
            _ => match &part.kind {
                PartKind::Message(inner) => message_section(raw, inner, kind),
                _ => None,
            },
        }
    }
}

/// Why a BINARY[section] cannot be answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BinaryError {
    /// The section is not a leaf (a multipart, or a message/rfc822 part): RFC 9051 §6.4.5
    /// allows BINARY of leaf parts only.
    NotLeaf,
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
        match part.kind {
            PartKind::Multipart(_) => return Err(BinaryError::NotLeaf),
            // BINARY[] of a message is its header and decoded body; a message/rfc822 part
            // within it is not a leaf.
            PartKind::Message(_) if !path.is_empty() => return Err(BinaryError::NotLeaf),
            _ => {}
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
            return Ok(slice(raw, part.header_start, part.body_end));
        }
        let header = raw
            .get(part.header_start..part.body_start)
            .unwrap_or_default();
        let mut out = header.to_vec();
        out.extend_from_slice(&cte.decode(body));
        Ok(Some(Cow::Owned(out)))
    }
}
