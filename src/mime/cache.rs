//! The cached parse stored beside each message: a compact, versioned, hand-written binary
//! form of [`MessageInfo`]. Layout: `b"LM"`, version byte, then the message. Integers are
//! LEB128 varints; byte strings are length-prefixed; an optional string is `0` for None or
//! `len + 1`. Decoding never panics and rejects anything malformed or trailing.

use super::{Address, EnvelopeInfo, MessageInfo, PartInfo, PartKind, MAX_DEPTH};

const MAGIC: &[u8; 2] = b"LM";
/// Bumped when the parse itself changes (2: envelopes list every address field of a name,
/// comment-only groups are empty, a nested multipart reusing its parent's boundary keeps its
/// parts), so a
/// parse cached by an older binary is not served: FETCH then parses the raw message again.
const VERSION: u8 = 2;

struct W(Vec<u8>);

impl W {
    fn uvar(&mut self, mut v: u64) {
        loop {
            let b = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                self.0.push(b);
                return;
            }
            self.0.push(b | 0x80);
        }
    }
    fn bytes(&mut self, b: &[u8]) {
        self.uvar(b.len() as u64);
        self.0.extend_from_slice(b);
    }
    fn opt(&mut self, b: Option<&[u8]>) {
        match b {
            None => self.uvar(0),
            Some(b) => {
                self.uvar(b.len() as u64 + 1);
                self.0.extend_from_slice(b);
            }
        }
    }
    fn params(&mut self, p: &[(Vec<u8>, Vec<u8>)]) {
        self.uvar(p.len() as u64);
        for (k, v) in p {
            self.bytes(k);
            self.bytes(v);
        }
    }
    fn addrs(&mut self, a: &[Address]) {
        self.uvar(a.len() as u64);
        for a in a {
            self.opt(a.name.as_deref());
            self.opt(a.adl.as_deref());
            self.opt(a.mailbox.as_deref());
            self.opt(a.host.as_deref());
        }
    }
    fn message(&mut self, m: &MessageInfo) {
        self.envelope(&m.envelope);
        self.part(&m.root);
    }
    fn envelope(&mut self, e: &EnvelopeInfo) {
        self.opt(e.date.as_deref());
        self.opt(e.subject.as_deref());
        for list in [&e.from, &e.sender, &e.reply_to, &e.to, &e.cc, &e.bcc] {
            self.addrs(list);
        }
        self.opt(e.in_reply_to.as_deref());
        self.opt(e.message_id.as_deref());
    }
    fn part(&mut self, p: &PartInfo) {
        self.part_fields(p);
        match &p.kind {
            PartKind::Single => self.uvar(0),
            PartKind::Multipart(children) => {
                self.uvar(1);
                self.uvar(children.len() as u64);
                for c in children {
                    self.part(c);
                }
            }
            PartKind::Message(m) => {
                self.uvar(2);
                self.message(m);
            }
        }
    }
    /// Everything of a part but its kind and children.
    fn part_fields(&mut self, p: &PartInfo) {
        self.bytes(&p.media_type);
        self.bytes(&p.subtype);
        self.params(&p.params);
        self.opt(p.id.as_deref());
        self.opt(p.description.as_deref());
        self.bytes(&p.encoding);
        self.opt(p.md5.as_deref());
        match &p.disposition {
            None => self.uvar(0),
            Some((d, params)) => {
                self.uvar(1);
                self.bytes(d);
                self.params(params);
            }
        }
        self.uvar(p.language.len() as u64);
        for l in &p.language {
            self.bytes(l);
        }
        self.opt(p.location.as_deref());
        self.uvar(u64::from(p.lines));
        self.uvar(p.header_start as u64);
        self.uvar(p.body_start as u64);
        self.uvar(p.body_end as u64);
    }
}

struct R<'a> {
    b: &'a [u8],
    i: usize,
}

impl R<'_> {
    fn uvar(&mut self) -> Option<u64> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = *self.b.get(self.i)?;
            self.i += 1;
            v |= u64::from(b & 0x7f).checked_shl(shift)?;
            if b & 0x80 == 0 {
                return Some(v);
            }
        }
        None
    }
    fn usize(&mut self) -> Option<usize> {
        usize::try_from(self.uvar()?).ok()
    }
    /// A count of items each at least one byte long: bounded by what is left.
    fn count(&mut self) -> Option<usize> {
        let n = self.usize()?;
        (n <= self.b.len() - self.i).then_some(n)
    }
    fn take(&mut self, n: usize) -> Option<Vec<u8>> {
        let end = self.i.checked_add(n)?;
        let v = self.b.get(self.i..end)?.to_vec();
        self.i = end;
        Some(v)
    }
    fn bytes(&mut self) -> Option<Vec<u8>> {
        let n = self.usize()?;
        self.take(n)
    }
    fn opt(&mut self) -> Option<Option<Vec<u8>>> {
        match self.usize()? {
            0 => Some(None),
            n => self.take(n - 1).map(Some),
        }
    }
    fn params(&mut self) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
        let n = self.count()?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push((self.bytes()?, self.bytes()?));
        }
        Some(out)
    }
    fn addrs(&mut self) -> Option<Vec<Address>> {
        let n = self.count()?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            out.push(Address {
                name: self.opt()?,
                adl: self.opt()?,
                mailbox: self.opt()?,
                host: self.opt()?,
            });
        }
        Some(out)
    }
    fn message(&mut self, depth: usize) -> Option<MessageInfo> {
        let envelope = self.envelope()?;
        Some(MessageInfo {
            envelope,
            root: self.part(depth)?,
        })
    }
    fn envelope(&mut self) -> Option<EnvelopeInfo> {
        let date = self.opt()?;
        let subject = self.opt()?;
        let from = self.addrs()?;
        let sender = self.addrs()?;
        let reply_to = self.addrs()?;
        let to = self.addrs()?;
        let cc = self.addrs()?;
        let bcc = self.addrs()?;
        Some(EnvelopeInfo {
            date,
            subject,
            from,
            sender,
            reply_to,
            to,
            cc,
            bcc,
            in_reply_to: self.opt()?,
            message_id: self.opt()?,
        })
    }
    fn part(&mut self, depth: usize) -> Option<PartInfo> {
        if depth > MAX_DEPTH + 1 {
            return None;
        }
        let media_type = self.bytes()?;
        let subtype = self.bytes()?;
        let params = self.params()?;
        let id = self.opt()?;
        let description = self.opt()?;
        let encoding = self.bytes()?;
        let md5 = self.opt()?;
        let disposition = match self.uvar()? {
            0 => None,
            1 => Some((self.bytes()?, self.params()?)),
            _ => return None,
        };
        let n = self.count()?;
        let mut language = Vec::with_capacity(n);
        for _ in 0..n {
            language.push(self.bytes()?);
        }
        let location = self.opt()?;
        let lines = u32::try_from(self.uvar()?).ok()?;
        let header_start = self.usize()?;
        let body_start = self.usize()?;
        let body_end = self.usize()?;
        let kind = match self.uvar()? {
            0 => PartKind::Single,
            1 => {
                let n = self.count()?;
                let mut children = Vec::with_capacity(n);
                for _ in 0..n {
                    children.push(self.part(depth + 1)?);
                }
                PartKind::Multipart(children)
            }
            2 => PartKind::Message(Box::new(self.message(depth + 1)?)),
            _ => return None,
        };
        Some(PartInfo {
            media_type,
            subtype,
            params,
            id,
            description,
            encoding,
            md5,
            disposition,
            language,
            location,
            lines,
            header_start,
            body_start,
            body_end,
            kind,
        })
    }
}

/// Encoded size of a part's own fields, its children left out (they are charged on their
/// own): what a part costs against the parse budget.
pub(super) fn part_len(p: &PartInfo) -> usize {
    let mut w = W(Vec::with_capacity(64));
    w.part_fields(p);
    // The kind tag and a multipart's child count take at most 11 more bytes.
    w.0.len() + 11
}

/// Encoded size of an envelope.
pub(super) fn envelope_len(e: &EnvelopeInfo) -> usize {
    let mut w = W(Vec::with_capacity(64));
    w.envelope(e);
    w.0.len()
}

impl MessageInfo {
    /// Serialize for the database (see the module doc for the layout).
    pub fn encode(&self) -> Vec<u8> {
        let mut w = W(Vec::with_capacity(256));
        w.0.extend_from_slice(MAGIC);
        w.0.push(VERSION);
        w.message(self);
        w.0
    }

    /// Only the envelope of an encoded message (it comes first): what SORT and THREAD need,
    /// without building the part tree. None for anything else (never panics).
    pub fn decode_envelope(bytes: &[u8]) -> Option<EnvelopeInfo> {
        let rest = bytes.strip_prefix(MAGIC)?;
        let (&version, body) = rest.split_first()?;
        if version != VERSION {
            return None;
        }
        R { b: body, i: 0 }.envelope()
    }

    /// Inverse of [`MessageInfo::encode`]; None for anything else (never panics).
    pub fn decode(bytes: &[u8]) -> Option<MessageInfo> {
        let rest = bytes.strip_prefix(MAGIC)?;
        let (&version, body) = rest.split_first()?;
        if version != VERSION {
            return None;
        }
        let mut r = R { b: body, i: 0 };
        let m = r.message(0)?;
        (r.i == body.len()).then_some(m)
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    #[test]
    fn round_trip_and_garbage() {
        let raw = b"From: A <a@b.c>\r\nTo: g: x@y.z;\r\nContent-Type: multipart/mixed; boundary=q\r\n\r\n--q\r\nContent-Type: message/rfc822\r\n\r\nSubject: in\r\n\r\nhi\r\n--q--\r\n";
        let info = parse(raw);
        let blob = info.encode();
        assert_eq!(MessageInfo::decode(&blob), Some(info.clone()));
        assert_eq!(MessageInfo::decode_envelope(&blob), Some(info.envelope));
        for cut in 0..blob.len() {
            assert!(MessageInfo::decode(&blob[..cut]).is_none());
        }
        let mut junk = blob.clone();
        for i in 3..junk.len() {
            junk[i] ^= 0xff;
            let _ = MessageInfo::decode(&junk);
            junk[i] ^= 0xff;
        }
        assert!(
            MessageInfo::decode(b"LM\x01\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff").is_none()
        );
    }
}
