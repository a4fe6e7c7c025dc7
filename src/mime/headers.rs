//! Header block splitting, field iteration and the small lexer shared by the structured-field
//! parsers (Content-Type, addresses). Works on bytes: header values may carry 8-bit garbage.

/// One header field inside a header block. Offsets are absolute.
#[derive(Debug, Clone, Copy)]
pub struct Field<'a> {
    pub name: &'a [u8],
    /// Raw value after the colon, folding included, final line break excluded.
    pub value: &'a [u8],
    /// Start of the field's first line.
    pub start: usize,
    /// Start of the value (just after the colon).
    pub vstart: usize,
    /// End of the field's last line, line break included.
    pub end: usize,
}

/// End of the line starting at `i` (index just past its LF, or `end`).
fn line_end(raw: &[u8], i: usize, end: usize) -> usize {
    match raw.get(i..end).and_then(|s| memchr(b'\n', s)) {
        Some(p) => i + p + 1,
        None => end,
    }
}

pub fn memchr(needle: u8, hay: &[u8]) -> Option<usize> {
    hay.iter().position(|&b| b == needle)
}

fn is_blank_line(line: &[u8]) -> bool {
    line == b"\n" || line == b"\r\n"
}

/// Where the body of the entity in `raw[start..end]` begins: just after the first empty line,
/// or `end` when the header never ends (header-only message).
pub fn body_start(raw: &[u8], start: usize, end: usize) -> usize {
    let end = end.min(raw.len());
    let mut i = start;
    while i < end {
        let le = line_end(raw, i, end);
        if is_blank_line(&raw[i..le]) {
            return le;
        }
        i = le;
    }
    end
}

/// The fields of the header block `raw[start..end]` (stops at the first empty line).
/// A line that is neither a field nor a continuation is skipped.
pub fn fields(raw: &[u8], start: usize, end: usize) -> Vec<Field<'_>> {
    fields_where(raw, start, end, |_| true)
}

/// The first field of each name in `names` in the header block `raw[start..end]`, in header
/// order:
/// what the MIME parse needs, in memory that does not grow with the header (a header of
/// millions of short fields would otherwise cost ~50 bytes of `Field` per 4 bytes of input).
pub fn first_of<'a>(raw: &'a [u8], start: usize, end: usize, names: &[&[&str]]) -> Vec<Field<'a>> {
    named(raw, start, end, names, &[])
}

/// How many fields of one name [`named`] keeps of the names it keeps repeatedly: real mail has
/// two or three `To:` fields at most; the bound keeps a header of a million `To:` lines cheap.
pub const REPEATED_FIELDS_KEPT: usize = 64;

/// As [`first_of`], and also up to [`REPEATED_FIELDS_KEPT`] fields of each name in `repeated`
/// (address fields, whose every occurrence the envelope lists).
pub fn named<'a>(
    raw: &'a [u8],
    start: usize,
    end: usize,
    once: &[&[&str]],
    repeated: &[&str],
) -> Vec<Field<'a>> {
    // How many fields of each name are kept so far: the names in `once` in order, then those in
    // `repeated` (a name in both counts as repeated).
    let names: Vec<&str> = once.iter().flat_map(|l| l.iter().copied()).collect();
    let mut kept = vec![0usize; names.len() + repeated.len()];
    fields_where(raw, start, end, |name| {
        let find = |list: &[&str]| {
            list.iter()
                .position(|n| n.as_bytes().eq_ignore_ascii_case(name))
        };
        let (slot, cap) = match (find(repeated), find(&names)) {
            (Some(i), _) => (names.len() + i, REPEATED_FIELDS_KEPT),
            (None, Some(i)) => (i, 1),
            (None, None) => return false,
        };
        let keep = kept[slot] < cap;
        kept[slot] += usize::from(keep);
        keep
    })
}

/// The fields for which `keep(name)` holds, asked once per field in header order; a
/// continuation line belongs to the field before it, kept or not.
fn fields_where<'a>(
    raw: &'a [u8],
    start: usize,
    end: usize,
    mut keep: impl FnMut(&[u8]) -> bool,
) -> Vec<Field<'a>> {
    let end = end.min(raw.len());
    let mut out: Vec<Field<'_>> = Vec::new();
    let mut i = start.min(end);
    let mut last_kept = false;
    while i < end {
        let le = line_end(raw, i, end);
        let line = &raw[i..le];
        if is_blank_line(line) {
            break;
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            if last_kept {
                if let Some(f) = out.last_mut() {
                    f.end = le;
                    f.value = &raw[f.vstart..trim_eol_end(raw, f.vstart, le)];
                }
            }
        } else if let Some(colon) = memchr(b':', line) {
            let mut name = &line[..colon];
            while let Some((&last, rest)) = name.split_last() {
                if last == b' ' || last == b'\t' {
                    name = rest;
                } else {
                    break;
                }
            }
            last_kept = keep(name);
            if last_kept {
                let vstart = i + colon + 1;
                out.push(Field {
                    name,
                    value: &raw[vstart..trim_eol_end(raw, vstart, le)],
                    start: i,
                    vstart,
                    end: le,
                });
            }
        } else {
            last_kept = false;
        }
        i = le;
    }
    out
}

/// `le` minus a trailing LF / CRLF, but never before `floor`.
fn trim_eol_end(raw: &[u8], floor: usize, le: usize) -> usize {
    let mut e = le;
    if e > floor && raw.get(e - 1) == Some(&b'\n') {
        e -= 1;
        if e > floor && raw.get(e - 1) == Some(&b'\r') {
            e -= 1;
        }
    }
    e
}

/// Unfold a raw value: drop CR and LF, trim surrounding whitespace.
pub fn unfold(value: &[u8]) -> Vec<u8> {
    let v: Vec<u8> = value
        .iter()
        .copied()
        .filter(|&b| b != b'\r' && b != b'\n')
        .collect();
    trim(&v).to_vec()
}

pub fn trim(v: &[u8]) -> &[u8] {
    let is_ws = |b: &u8| *b == b' ' || *b == b'\t';
    let s = v.iter().position(|b| !is_ws(b)).unwrap_or(v.len());
    let e = v.iter().rposition(|b| !is_ws(b)).map_or(s, |p| p + 1);
    &v[s..e.max(s)]
}

/// First field with this name (case-insensitive).
pub fn first<'a>(fields: &[Field<'a>], name: &str) -> Option<Field<'a>> {
    fields
        .iter()
        .find(|f| f.name.eq_ignore_ascii_case(name.as_bytes()))
        .copied()
}

/// A tiny cursor over a structured header value.
pub struct Lexer<'a> {
    pub s: &'a [u8],
    pub i: usize,
}

impl<'a> Lexer<'a> {
    pub fn new(s: &'a [u8]) -> Self {
        Lexer { s, i: 0 }
    }

    pub fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }

    /// Skip whitespace and comments; returns the text of the last comment seen.
    pub fn skip_cfws(&mut self) -> Option<Vec<u8>> {
        let mut comment = None;
        loop {
            match self.peek() {
                Some(b' ' | b'\t' | b'\r' | b'\n') => self.i += 1,
                Some(b'(') => comment = Some(self.comment()),
                _ => return comment,
            }
        }
    }

    /// Read a (possibly nested) comment starting at '('; returns its inner text.
    fn comment(&mut self) -> Vec<u8> {
        let mut depth = 0usize;
        let mut out = Vec::new();
        while let Some(b) = self.peek() {
            self.i += 1;
            match b {
                b'(' => {
                    if depth > 0 {
                        out.push(b);
                    }
                    depth += 1;
                }
                b')' => {
                    depth = depth.saturating_sub(1);
                    if depth == 0 {
                        break;
                    }
                    out.push(b);
                }
                b'\\' => {
                    if let Some(n) = self.peek() {
                        out.push(n);
                        self.i += 1;
                    }
                }
                _ => out.push(b),
            }
        }
        out
    }

    /// Read a quoted string starting at '"'; returns its unescaped content.
    pub fn quoted(&mut self) -> Vec<u8> {
        self.quoted_checked().0
    }

    /// Like [`Lexer::quoted`], also telling whether the closing quote was there.
    pub fn quoted_checked(&mut self) -> (Vec<u8>, bool) {
        let mut out = Vec::new();
        self.i += 1;
        while let Some(b) = self.peek() {
            self.i += 1;
            match b {
                b'"' => return (out, true),
                b'\\' => {
                    if let Some(n) = self.peek() {
                        out.push(n);
                        self.i += 1;
                    }
                }
                b'\r' | b'\n' => {}
                _ => out.push(b),
            }
        }
        (out, false)
    }

    /// Read bytes while `pred` holds.
    pub fn take_while(&mut self, pred: impl Fn(u8) -> bool) -> &'a [u8] {
        let s = self.i;
        while let Some(b) = self.peek() {
            if !pred(b) {
                break;
            }
            self.i += 1;
        }
        &self.s[s..self.i]
    }
}

/// RFC 2045 token character.
pub fn is_token_char(b: u8) -> bool {
    b > b' ' && b != 0x7f && !b"()<>@,;:\\\"/[]?=".contains(&b)
}

#[cfg(test)]
mod tests {
    #[test]
    fn named_keeps_repeated_address_fields_up_to_the_cap() {
        let mut raw = Vec::new();
        for i in 0..1000 {
            raw.extend_from_slice(format!("To: t{i}@x\r\nSubject: s{i}\r\n").as_bytes());
        }
        raw.extend_from_slice(b"\r\nbody");
        let kept = super::named(&raw, 0, raw.len(), &[&["subject", "to"]], &["to", "cc"]);
        let to: Vec<&[u8]> = kept
            .iter()
            .filter(|f| f.name == b"To")
            .map(|f| f.value)
            .collect();
        assert_eq!(to.len(), super::REPEATED_FIELDS_KEPT);
        assert_eq!(to[0], b" t0@x");
        assert_eq!(to[1], b" t1@x");
        // A name only in `once` keeps its first field.
        let subjects: Vec<&[u8]> = kept
            .iter()
            .filter(|f| f.name == b"Subject")
            .map(|f| f.value)
            .collect();
        assert_eq!(subjects, vec![&b" s0"[..]]);
    }

    #[test]
    fn first_of_keeps_one_field_per_name_however_long_the_header() {
        let mut raw = Vec::new();
        for i in 0..100_000 {
            raw.extend_from_slice(
                format!("X-{i}: y\r\nContent-Type: text/x{i}\r\n  folded\r\n").as_bytes(),
            );
        }
        raw.extend_from_slice(b"Subject: s\r\n\r\nbody");
        let kept = super::first_of(&raw, 0, raw.len(), &[&["content-type", "subject", "to"]]);
        let got: Vec<(&[u8], &[u8])> = kept.iter().map(|f| (f.name, f.value)).collect();
        assert_eq!(
            got,
            vec![
                (&b"Content-Type"[..], &b" text/x0\r\n  folded"[..]),
                (&b"Subject"[..], &b" s"[..]),
            ]
        );
        // The same fields as the whole list gives.
        let all = super::fields(&raw, 0, raw.len());
        assert_eq!(all.len(), 200_001);
        assert_eq!(all[1].value, kept[0].value);
    }

    use super::*;

    #[test]
    fn fields_and_folding() {
        let raw = b"Subject: a\r\n b\r\nX:y\r\nbroken line\r\n\r\nbody";
        let f = fields(raw, 0, raw.len());
        assert_eq!(f.len(), 2);
        assert_eq!(f[0].value, b" a\r\n b");
        assert_eq!(unfold(f[0].value), b"a b");
        assert_eq!(&raw[f[0].start..f[0].end], b"Subject: a\r\n b\r\n");
        assert_eq!(body_start(raw, 0, raw.len()), raw.len() - 4);
        assert_eq!(body_start(b"\r\nx", 0, 3), 2);
        assert_eq!(body_start(b"A: b", 0, 4), 4);
    }
}
