//! The part tree: headers, Content-* fields, multipart splitting and embedded messages, all
//! as byte offsets into the raw message.

use super::address::parse_address_list;
use super::cache::{envelope_len, part_len};
use super::headers::{self, first, unfold, Field, Lexer};
use super::{
    Address, EnvelopeInfo, MessageInfo, Params, PartInfo, PartKind, MAX_DEPTH, MAX_PARTS,
    PARSE_SIZE_FACTOR, PARSE_SIZE_SLACK,
};

/// The fields a part's structure is read from.
const PART_FIELDS: &[&str] = &[
    "Content-Type",
    "Content-Transfer-Encoding",
    "Content-Disposition",
    "Content-Language",
    "Content-ID",
    "Content-Description",
    "Content-MD5",
    "Content-Location",
];

/// The fields a message's envelope is read from (its root part's are [`PART_FIELDS`]).
const ENVELOPE_FIELDS: &[&str] = &[
    "Date",
    "Subject",
    "From",
    "Sender",
    "Reply-To",
    "To",
    "Cc",
    "Bcc",
    "In-Reply-To",
    "Message-ID",
];

/// The envelope's address fields: every occurrence counts (up to
/// [`headers::REPEATED_FIELDS_KEPT`] of each name).
const ADDRESS_FIELDS: &[&str] = &["From", "Sender", "Reply-To", "To", "Cc", "Bcc"];

/// RFC 2231 segments of one parameter: (index, extended, value).
type Segments = Vec<(u32, bool, Vec<u8>)>;

/// What is left of a message's allowance: parts, and bytes of cached parse. Parts are taken in
/// document order (a container before its children), so the cut falls at the first part that
/// does not fit, wherever it is nested.
struct Budget {
    parts: usize,
    bytes: usize,
}

impl Budget {
    fn for_message(raw_len: usize) -> Self {
        Budget {
            parts: MAX_PARTS,
            bytes: raw_len
                .saturating_mul(PARSE_SIZE_FACTOR)
                .saturating_add(PARSE_SIZE_SLACK),
        }
    }

    /// Take one part of `cost` bytes; false (nothing taken) when it does not fit.
    fn take(&mut self, cost: usize) -> bool {
        if self.parts == 0 || cost > self.bytes {
            return false;
        }
        self.parts -= 1;
        self.bytes -= cost;
        true
    }

    /// Take `cost` bytes without a part (an envelope); false when they do not fit.
    fn take_bytes(&mut self, cost: usize) -> bool {
        if cost > self.bytes {
            return false;
        }
        self.bytes -= cost;
        true
    }
}

/// Parse any bytes into a [`MessageInfo`]. Never fails, never panics. At most [`MAX_PARTS`]
/// parts, and at most [`max_parse_len`] bytes once encoded: past either, the rest of the
/// enclosing multipart is one opaque part (see [`PartKind`]).
pub fn parse(raw: &[u8]) -> MessageInfo {
    let mut budget = Budget::for_message(raw.len());
    parse_message(raw, 0, raw.len(), 0, &mut budget).unwrap_or_else(|| MessageInfo {
        envelope: EnvelopeInfo::default(),
        root: opaque_tail(0, raw.len()),
    })
}

/// The longest cached parse ([`MessageInfo::encode`]) of a message of `raw_len` bytes: the
/// budget, plus the opaque tails (one per open multipart, so at most [`MAX_DEPTH`]) and the
/// blob's own header.
pub fn max_parse_len(raw_len: usize) -> usize {
    raw_len
        .saturating_mul(PARSE_SIZE_FACTOR)
        .saturating_add(PARSE_SIZE_SLACK)
        .saturating_add((MAX_DEPTH + 1) * part_len(&opaque_tail(usize::MAX, usize::MAX)))
        .saturating_add(3)
}

/// The rest of a multipart, `raw[start..end]`, as one part with an empty MIME header: what is
/// left when the budget runs out. Every view of the message (BODYSTRUCTURE, BODY[n], BINARY,
/// SEARCH) sees the same part, because they all read this parse.
fn opaque_tail(start: usize, end: usize) -> PartInfo {
    PartInfo {
        media_type: b"application".to_vec(),
        subtype: b"octet-stream".to_vec(),
        params: Vec::new(),
        id: None,
        description: None,
        encoding: b"7bit".to_vec(),
        md5: None,
        disposition: None,
        language: Vec::new(),
        location: None,
        lines: 0,
        header_start: start,
        body_start: start,
        body_end: end,
        kind: PartKind::Single,
    }
}

/// None when not even the message's root part fits the budget.
fn parse_message(
    raw: &[u8],
    start: usize,
    end: usize,
    depth: usize,
    budget: &mut Budget,
) -> Option<MessageInfo> {
    let body_start = headers::body_start(raw, start, end);
    let fields = headers::named(
        raw,
        start,
        body_start,
        &[ENVELOPE_FIELDS, PART_FIELDS],
        ADDRESS_FIELDS,
    );
    let root = parse_part(raw, start, body_start, end, &fields, false, depth, budget)?;
    let mut envelope = envelope(&fields);
    // Address lists are copied (Sender and Reply-To default to From): a header of tiny
    // groups could outgrow the message. What does not fit is left out (NIL).
    if !budget.take_bytes(envelope_len(&envelope)) {
        envelope = EnvelopeInfo::default();
    }
    Some(MessageInfo { envelope, root })
}

fn envelope(fields: &[Field<'_>]) -> EnvelopeInfo {
    let get = |n: &str| first(fields, n).map(|f| unfold(f.value));
    // Several fields of one name (a second To: added by a list, a mailer's bug): every
    // address of each, in order, as Dovecot lists them.
    let addrs = |n: &str| -> Vec<Address> {
        fields
            .iter()
            .filter(|f| f.name.eq_ignore_ascii_case(n.as_bytes()))
            .flat_map(|f| parse_address_list(f.value))
            .collect()
    };
    let from = addrs("From");
    let mut sender = addrs("Sender");
    if sender.is_empty() {
        sender = from.clone();
    }
    let mut reply_to = addrs("Reply-To");
    if reply_to.is_empty() {
        reply_to = from.clone();
    }
    EnvelopeInfo {
        date: get("Date"),
        subject: get("Subject"),
        from,
        sender,
        reply_to,
        to: addrs("To"),
        cc: addrs("Cc"),
        bcc: addrs("Bcc"),
        in_reply_to: get("In-Reply-To"),
        message_id: get("Message-ID"),
    }
}

/// The part `raw[header_start..body_end]` and everything in it; None when the part itself does
/// not fit the budget (its children may be cut short, see [`opaque_tail`]).
#[allow(clippy::too_many_arguments)]
fn parse_part(
    raw: &[u8],
    header_start: usize,
    body_start: usize,
    body_end: usize,
    fields: &[Field<'_>],
    in_digest: bool,
    depth: usize,
    budget: &mut Budget,
) -> Option<PartInfo> {
    let ct = first(fields, "Content-Type").and_then(|f| parse_content_type(f.value));
    let (media_type, subtype, params) = match ct {
        Some(ct) => ct,
        None if in_digest => (b"message".to_vec(), b"rfc822".to_vec(), Vec::new()),
        None => (
            b"text".to_vec(),
            b"plain".to_vec(),
            vec![(b"charset".to_vec(), b"us-ascii".to_vec())],
        ),
    };
    let mut params = params;
    // RFC 2045 §5.2 gives text/plain a default charset; Dovecot extends it to every text/*
    // part without one, and clients are used to seeing it.
    if media_type.eq_ignore_ascii_case(b"text")
        && !params
            .iter()
            .any(|(k, _)| k.eq_ignore_ascii_case(b"charset"))
    {
        params.push((b"charset".to_vec(), b"us-ascii".to_vec()));
    }
    // Dovecot sends the RFC 2045 default type in lower case however it was written; match it.
    let is_default = media_type.eq_ignore_ascii_case(b"text")
        && subtype.eq_ignore_ascii_case(b"plain")
        && params.len() == 1
        && params[0].0.eq_ignore_ascii_case(b"charset")
        && params[0].1.eq_ignore_ascii_case(b"us-ascii");
    let (media_type, subtype) = if is_default {
        params = vec![(b"charset".to_vec(), b"us-ascii".to_vec())];
        (b"text".to_vec(), b"plain".to_vec())
    } else {
        (media_type, subtype)
    };
    let get = |n: &str| first(fields, n).map(|f| unfold(f.value));
    let encoding = first(fields, "Content-Transfer-Encoding")
        .map(|f| {
            let mut lx = Lexer::new(f.value);
            lx.skip_cfws();
            lx.take_while(headers::is_token_char).to_vec()
        })
        .filter(|e| !e.is_empty())
        .unwrap_or_else(|| b"7bit".to_vec());
    let disposition = first(fields, "Content-Disposition").and_then(|f| {
        let mut lx = Lexer::new(f.value);
        lx.skip_cfws();
        let d = lx.take_while(headers::is_token_char).to_vec();
        (!d.is_empty()).then(|| (d, parse_params(&mut lx)))
    });
    let language = first(fields, "Content-Language")
        .map(|f| parse_language(f.value))
        .unwrap_or_default();
    let mut part = PartInfo {
        media_type,
        subtype,
        params,
        id: get("Content-ID"),
        description: get("Content-Description"),
        encoding,
        md5: get("Content-MD5"),
        disposition,
        language,
        location: get("Content-Location"),
        lines: 0,
        header_start,
        body_start,
        body_end,
        kind: PartKind::Single,
    };
    let body = raw.get(body_start..body_end).unwrap_or_default();
    let nests = part.is_type("multipart") || (part.is_type("message") && part.is_subtype("rfc822"));
    if nests && depth + 1 >= MAX_DEPTH {
        // Past the cap the part is opaque; Dovecot sends it as application/octet-stream
        // (keeping the parameters), which every client can parse.
        make_opaque(&mut part);
    }
    // The part's own fields are charged before its children: a container always fits
    // before anything inside it.
    if !budget.take(part_len(&part)) {
        return None;
    }
    if part.is_type("multipart") {
        let digest = part.is_subtype("digest");
        let mut children = Vec::new();
        if let Some(b) = part.param("boundary").filter(|b| !b.is_empty()) {
            let mut ranges = MultipartSplit::new(raw, body_start, body_end, b);
            while let Some((s, e)) = ranges.next() {
                let bs = headers::body_start(raw, s, e);
                let f = headers::first_of(raw, s, bs, &[PART_FIELDS]);
                match parse_part(raw, s, bs, e, &f, digest, depth + 1, budget) {
                    Some(child) => children.push(child),
                    None => {
                        // Out of budget: this part and every later one are one opaque
                        // part, up to the multipart's close delimiter.
                        let last = ranges.last().map_or(e, |(_, e)| e);
                        children.push(opaque_tail(s, last));
                        break;
                    }
                }
            }
        }
        part.kind = PartKind::Multipart(children);
    } else if part.is_type("message") && part.is_subtype("rfc822") {
        part.lines = count_lines(body);
        match parse_message(raw, body_start, body_end, depth + 1, budget) {
            Some(inner) => part.kind = PartKind::Message(Box::new(inner)),
            // Not even the embedded message's root fits: the part stays a leaf.
            None => make_opaque(&mut part),
        }
    } else if part.is_type("text") {
        part.lines = count_lines(body);
    }
    Some(part)
}

/// A part whose contents are not looked into: application/octet-stream, parameters kept.
fn make_opaque(part: &mut PartInfo) {
    part.media_type = b"application".to_vec();
    part.subtype = b"octet-stream".to_vec();
    part.lines = 0;
}

fn count_lines(body: &[u8]) -> u32 {
    let n = body.iter().filter(|&&b| b == b'\n').count();
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// The parts of `raw[start..end]` split at `--boundary` lines, one byte range (header
/// included) at a time, so a message of millions of parts costs nothing past the budget. The
/// line break before a delimiter belongs to the delimiter (RFC 2046 §5.1.1). A delimiter line
/// is `--boundary`, optionally `--`, then only whitespace (RFC 2046): a line starting `--d10`
/// is not a delimiter of boundary `d1`.
///
/// A part that is itself a multipart with the same boundary (forbidden by RFC 2046 §5.1.1, but
/// old mailers write it) keeps its own parts, as Dovecot parses it: the delimiters up to its
/// close delimiter are its own, and the outer multipart goes on after that.
struct MultipartSplit<'a> {
    raw: &'a [u8],
    delim: Vec<u8>,
    end: usize,
    /// Where the next line starts.
    i: usize,
    /// Start of the part being read (after its delimiter line).
    open: Option<usize>,
    /// The close delimiter was seen (or the end reached).
    done: bool,
    /// How many multiparts reusing the boundary are open inside the current part: the
    /// delimiters are theirs until as many close delimiters have gone by. One pass, no rescans.
    reused: usize,
}

impl<'a> MultipartSplit<'a> {
    fn new(raw: &'a [u8], start: usize, end: usize, boundary: &[u8]) -> Self {
        let mut delim = Vec::with_capacity(boundary.len() + 2);
        delim.extend_from_slice(b"--");
        delim.extend_from_slice(boundary);
        MultipartSplit {
            raw,
            delim,
            end: end.min(raw.len()),
            i: start,
            open: None,
            done: false,
            reused: 0,
        }
    }

    /// Whether the part starting at `at` is a multipart with this same boundary.
    fn reuses_boundary(&self, at: usize) -> bool {
        reuses_boundary(self.raw, at, self.end, &self.delim[2..])
    }
}

impl Iterator for MultipartSplit<'_> {
    type Item = (usize, usize);

    fn next(&mut self) -> Option<(usize, usize)> {
        if self.done {
            return None;
        }
        let raw = self.raw;
        while self.i < self.end {
            let i = self.i;
            let le = match raw.get(i..self.end).and_then(|s| headers::memchr(b'\n', s)) {
                Some(p) => i + p + 1,
                None => self.end,
            };
            self.i = le;
            let line = &raw[i..le];
            let rest = line.strip_prefix(self.delim.as_slice()).map(|r| {
                let close = r.starts_with(b"--");
                let tail = if close { &r[2..] } else { r };
                (close, tail.iter().all(|b| b.is_ascii_whitespace()))
            });
            let Some((close, true)) = rest else {
                continue;
            };
            if self.reused > 0 {
                if close {
                    self.reused -= 1;
                } else if self.reused < MAX_REUSED_BOUNDARY && self.reuses_boundary(le) {
                    self.reused += 1;
                }
                continue;
            }
            self.done = close;
            let found = self.open.map(|ps| {
                let mut pe = i;
                if pe > ps && raw[pe - 1] == b'\n' {
                    pe -= 1;
                    if pe > ps && raw[pe - 1] == b'\r' {
                        pe -= 1;
                    }
                }
                (ps, pe)
            });
            self.open = (!close).then_some(le);
            if !close && self.reuses_boundary(le) {
                self.reused = 1;
            }
            if found.is_some() || close {
                return found;
            }
        }
        self.done = true;
        self.open.take().map(|ps| (ps, self.end))
    }
}

#[cfg(test)]
fn split_multipart(raw: &[u8], start: usize, end: usize, boundary: &[u8]) -> Vec<(usize, usize)> {
    MultipartSplit::new(raw, start, end, boundary).collect()
}

/// How many multiparts inside one another may reuse one boundary (real mail has one or two).
const MAX_REUSED_BOUNDARY: usize = 8;

/// Whether the part starting at `start` is a multipart with the same `boundary`.
fn reuses_boundary(raw: &[u8], start: usize, end: usize, boundary: &[u8]) -> bool {
    let body_start = headers::body_start(raw, start, end);
    let fields = headers::fields(raw, start, body_start);
    let Some((media_type, _, params)) =
        first(&fields, "Content-Type").and_then(|f| parse_content_type(f.value))
    else {
        return false;
    };
    media_type.eq_ignore_ascii_case(b"multipart")
        && params
            .iter()
            .any(|(k, v)| k.eq_ignore_ascii_case(b"boundary") && v.as_slice() == boundary)
}

/// `type/subtype *(; param)`; None when the type cannot be read (the caller uses the default).
fn parse_content_type(value: &[u8]) -> Option<(Vec<u8>, Vec<u8>, Params)> {
    let mut lx = Lexer::new(value);
    lx.skip_cfws();
    let t = lx.take_while(headers::is_token_char).to_vec();
    lx.skip_cfws();
    if t.is_empty() || lx.peek() != Some(b'/') {
        return None;
    }
    lx.i += 1;
    lx.skip_cfws();
    let st = lx.take_while(headers::is_token_char).to_vec();
    if st.is_empty() {
        return None;
    }
    Some((t, st, parse_params(&mut lx)))
}

fn parse_params(lx: &mut Lexer<'_>) -> Params {
    let mut out = Vec::new();
    loop {
        lx.skip_cfws();
        match lx.peek() {
            None => break,
            Some(b';') => lx.i += 1,
            Some(_) => {
                lx.i += 1; // junk between parameters
                continue;
            }
        }
        lx.skip_cfws();
        let k = lx.take_while(headers::is_token_char).to_vec();
        if k.is_empty() {
            continue;
        }
        lx.skip_cfws();
        if lx.peek() != Some(b'=') {
            continue;
        }
        lx.i += 1;
        lx.skip_cfws();
        let v = if lx.peek() == Some(b'"') {
            lx.quoted()
        } else {
            lx.take_while(|b| !matches!(b, b' ' | b'\t' | b'\r' | b'\n' | b';' | b'(' | b'"'))
                .to_vec()
        };
        out.push((k, v));
    }
    merge_rfc2231(out)
}

/// RFC 2231: join `name*0`, `name*1*`, ... into one parameter (`name*` when any segment is
/// extended, value kept encoded). Plain parameters come first, merged ones after.
fn merge_rfc2231(params: Params) -> Params {
    let mut plain = Vec::new();
    // (base, segments: (index, extended, value))
    let mut groups: Vec<(Vec<u8>, Segments)> = Vec::new();
    for (k, v) in params {
        let Some(star) = k.iter().position(|&b| b == b'*') else {
            plain.push((k, v));
            continue;
        };
        let base = k[..star].to_vec();
        let rest = &k[star + 1..];
        let (num, extended) = match rest.strip_suffix(b"*") {
            Some(n) => (n, true),
            None => (rest, false),
        };
        let idx = if num.is_empty() {
            Some(0)
        } else {
            std::str::from_utf8(num)
                .ok()
                .and_then(|s| s.parse::<u32>().ok())
        };
        let (Some(idx), false) = (idx, base.is_empty()) else {
            plain.push((k, v));
            continue;
        };
        let extended = extended || num.is_empty();
        match groups
            .iter_mut()
            .find(|(b, _)| b.eq_ignore_ascii_case(&base))
        {
            Some((_, segs)) => segs.push((idx, extended, v)),
            None => groups.push((base, vec![(idx, extended, v)])),
        }
    }
    for (mut base, mut segs) in groups {
        segs.sort_by_key(|s| s.0);
        let extended = segs.iter().any(|s| s.1);
        let mut value = Vec::new();
        for (_, _, v) in segs {
            value.extend_from_slice(&v);
        }
        if extended {
            base.push(b'*');
        }
        plain.push((base, value));
    }
    plain
}

fn parse_language(value: &[u8]) -> Vec<Vec<u8>> {
    let mut lx = Lexer::new(value);
    let mut out = Vec::new();
    loop {
        lx.skip_cfws();
        match lx.peek() {
            None => break,
            Some(b',') => lx.i += 1,
            Some(_) => {
                let t = lx.take_while(headers::is_token_char);
                if t.is_empty() {
                    lx.i += 1;
                } else {
                    out.push(t.to_vec());
                }
            }
        }
    }
    out
}

/// Date header → date-time in the header's own offset. Tries RFC 2822 strictly (chrono), then
/// mailparse's lenient parser (UTC).
pub fn parse_date(value: &[u8]) -> Option<chrono::DateTime<chrono::FixedOffset>> {
    let s = String::from_utf8_lossy(value);
    // Drop comments such as "(PST)" which chrono does not accept everywhere.
    let mut clean = String::with_capacity(s.len());
    let mut depth = 0usize;
    for c in s.chars() {
        match c {
            '(' => depth += 1,
            ')' => depth = depth.saturating_sub(1),
            _ if depth == 0 => clean.push(c),
            _ => {}
        }
    }
    let clean = clean.split_whitespace().collect::<Vec<_>>().join(" ");
    if let Ok(d) = chrono::DateTime::parse_from_rfc2822(&clean) {
        return Some(d);
    }
    // mailparse accepts nearly anything; insist on a time of day and a year-like number.
    let has_year = clean
        .split(|c: char| !c.is_ascii_digit())
        .any(|n| n.len() == 4);
    if !clean.contains(':') || !has_year {
        return None;
    }
    let ts = mailparse::dateparse(&clean).ok()?;
    chrono::DateTime::from_timestamp(ts, 0).map(|d| d.fixed_offset())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_type_with_comments_and_2231() {
        let (t, st, p) = parse_content_type(
            b"Text/HTML (rich) ; charset = \"UTF-8\" (c); name*0=\"a b\"; name*1*=%41; x=y",
        )
        .unwrap_or_default();
        assert_eq!((t.as_slice(), st.as_slice()), (&b"Text"[..], &b"HTML"[..]));
        assert_eq!(
            p,
            vec![
                (b"charset".to_vec(), b"UTF-8".to_vec()),
                (b"x".to_vec(), b"y".to_vec()),
                (b"name*".to_vec(), b"a b%41".to_vec()),
            ]
        );
        assert!(parse_content_type(b"garbage").is_none());
    }

    #[test]
    fn reused_boundary_keeps_the_inner_parts() {
        let inner = "Content-Type: multipart/alternative; boundary=b\r\n\r\n--b\r\n\r\none\r\n--b\r\n\r\ntwo\r\n--b--";
        let raw = format!("--b\r\n{inner}\r\n--b\r\n\r\nthree\r\n--b--\r\n");
        let parts = split_multipart(raw.as_bytes(), 0, raw.len(), b"b");
        let texts: Vec<&str> = parts.iter().map(|&(s, e)| &raw[s..e]).collect();
        assert_eq!(texts, vec![inner, "\r\nthree"]);
        // Never closed: the inner multipart runs to the end, one pass (thousands of reusing
        // parts cost no rescans).
        let open = "--b\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n".repeat(5000);
        let parts = split_multipart(open.as_bytes(), 0, open.len(), b"b");
        assert_eq!(parts.len(), 1);
    }

    #[test]
    fn multipart_split() {
        let raw = b"pre\r\n--b\r\nA: 1\r\n\r\none\r\n--b\r\n\r\ntwo\r\n--b--\r\nepi";
        let parts = split_multipart(raw, 0, raw.len(), b"b");
        let got: Vec<&[u8]> = parts.iter().map(|&(s, e)| &raw[s..e]).collect();
        assert_eq!(got, vec![&b"A: 1\r\n\r\none"[..], &b"\r\ntwo"[..]]);
    }

    fn count_parts(p: &PartInfo) -> usize {
        1 + match &p.kind {
            PartKind::Single => 0,
            PartKind::Multipart(c) => c.iter().map(count_parts).sum(),
            PartKind::Message(m) => count_parts(&m.root),
        }
    }

    fn bomb(parts: usize, part: &[u8]) -> Vec<u8> {
        let mut raw =
            b"Subject: bomb\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n".to_vec();
        for _ in 0..parts {
            raw.extend_from_slice(b"--b\r\n");
            raw.extend_from_slice(part);
            raw.extend_from_slice(b"\r\n");
        }
        raw.extend_from_slice(b"--b--\r\n");
        raw
    }

    #[test]
    fn parts_past_the_limit_are_one_opaque_tail() {
        let part = b"Content-Type: text/plain\r\n\r\nhello there, this is a part";
        let raw = bomb(MAX_PARTS + 500, part);
        let info = parse(&raw);
        let PartKind::Multipart(children) = &info.root.kind else {
            panic!("root is not a multipart");
        };
        // The root and MAX_PARTS - 1 children fit; the rest is one part.
        assert_eq!(children.len(), MAX_PARTS);
        assert_eq!(count_parts(&info.root), MAX_PARTS + 1);
        let tail = &children[MAX_PARTS - 1];
        assert_eq!(tail.media_type, b"application");
        assert_eq!(tail.subtype, b"octet-stream");
        assert_eq!(tail.kind, PartKind::Single);
        assert_eq!(tail.header_start, tail.body_start);
        // From the first part that did not fit up to the close delimiter.
        let body = &raw[tail.body_start..tail.body_end];
        assert!(body.starts_with(part));
        assert!(body.ends_with(b"this is a part"));
        assert_eq!(body.len(), 501 * part.len() + 500 * 7);
        assert!(raw[tail.body_end..].starts_with(b"\r\n--b--"));
        assert_eq!(MessageInfo::decode(&info.encode()), Some(info));
    }

    #[test]
    fn nested_multiparts_each_end_in_one_tail() {
        // An inner multipart that runs out, then more parts of the outer one.
        let inner = bomb(MAX_PARTS, b"\r\na part of a few words");
        let inner = inner
            .strip_prefix(b"Subject: bomb\r\n".as_slice())
            .unwrap_or_default();
        let mut raw = b"Content-Type: multipart/mixed; boundary=o\r\n\r\n--o\r\n".to_vec();
        raw.extend_from_slice(inner);
        raw.extend_from_slice(b"\r\n--o\r\n\r\nlater\r\n--o\r\n\r\nlast\r\n--o--\r\n");
        let info = parse(&raw);
        assert_eq!(count_parts(&info.root), MAX_PARTS + 2);
        let PartKind::Multipart(outer) = &info.root.kind else {
            panic!("root is not a multipart");
        };
        assert_eq!(outer.len(), 2);
        let tail = &raw[outer[1].body_start..outer[1].body_end];
        assert_eq!(tail, b"\r\nlater\r\n--o\r\n\r\nlast");
    }

    #[test]
    fn the_cached_parse_stays_a_small_multiple_of_the_message() {
        // Empty parts (5 bytes each) would cost ~11 times their size; empty address groups
        // in From (copied to Sender and Reply-To) ~9 times; deep nesting; a normal message.
        let mut from = b"From: ".to_vec();
        from.extend(b"g:;".repeat(20_000));
        from.extend_from_slice(b"\r\n\r\nbody\r\n");
        let mut nested = Vec::new();
        for _ in 0..200 {
            nested.extend_from_slice(b"Content-Type: message/rfc822\r\nFrom: a@b\r\n\r\n");
        }
        let cases = [
            bomb(3000, b""),
            bomb(MAX_PARTS * 3, b""),
            bomb(
                MAX_PARTS * 2,
                b"Content-Type: text/plain; a=1; b=2; c=3\r\n\r\n",
            ),
            from,
            nested,
            b"x".to_vec(),
            Vec::new(),
        ];
        for raw in cases {
            let blob = parse(&raw).encode();
            assert!(
                blob.len() <= max_parse_len(raw.len()),
                "{} bytes of parse for {} bytes of message",
                blob.len(),
                raw.len()
            );
        }
        assert!(max_parse_len(1_000_000) < 5_000_000);
        // A message well inside the limits is parsed whole.
        let raw = bomb(500, b"Content-Type: text/plain\r\n\r\nhi");
        assert_eq!(count_parts(&parse(&raw).root), 501);
    }

    #[test]
    fn dates() {
        let d = parse_date(b"Mon, 7 Feb 1994 21:52:25 -0800 (PST)");
        assert_eq!(d.map(|d| d.timestamp()), Some(760686745));
        assert_eq!(
            d.map(|d| d.date_naive()),
            chrono::NaiveDate::from_ymd_opt(1994, 2, 7)
        );
        assert!(parse_date(b"not a date").is_none());
    }
}
