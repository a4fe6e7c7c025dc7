//! Content-Transfer-Encoding decoding (RFC 2045 §6) for FETCH BINARY (RFC 3516): the part's
//! bytes as they were before the sender encoded them. Lenient like mail readers are: bytes
//! outside the base64 alphabet are skipped, a malformed `=` escape in quoted-printable is kept
//! as it is, so a damaged part still gives its recoverable content rather than an error.

use std::borrow::Cow;

/// The transfer encodings this server can undo.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cte {
    /// 7bit, 8bit, binary: the bytes are the content.
    Identity,
    Base64,
    QuotedPrintable,
}

impl Cte {
    /// The encoding named by a Content-Transfer-Encoding value (any case); `None` when unknown
    /// (x-uuencode and other private encodings: RFC 3516 answers those with `[UNKNOWN-CTE]`).
    pub fn from_name(name: &[u8]) -> Option<Cte> {
        let is = |n: &str| name.eq_ignore_ascii_case(n.as_bytes());
        if is("7bit") || is("8bit") || is("binary") || name.is_empty() {
            Some(Cte::Identity)
        } else if is("base64") {
            Some(Cte::Base64)
        } else if is("quoted-printable") {
            Some(Cte::QuotedPrintable)
        } else {
            None
        }
    }

    pub fn decode(self, body: &[u8]) -> Cow<'_, [u8]> {
        match self {
            Cte::Identity => Cow::Borrowed(body),
            Cte::Base64 => Cow::Owned(base64(body)),
            Cte::QuotedPrintable => Cow::Owned(quoted_printable(body)),
        }
    }
}

fn base64_value(b: u8) -> Option<u32> {
    Some(match b {
        b'A'..=b'Z' => b - b'A',
        b'a'..=b'z' => b - b'a' + 26,
        b'0'..=b'9' => b - b'0' + 52,
        b'+' => 62,
        b'/' => 63,
        _ => return None,
    } as u32)
}

/// RFC 2045 §6.8: characters outside the alphabet (line breaks, stray bytes) are ignored; `=`
/// ends the data. A dangling single sextet at the end carries no whole octet and is dropped.
fn base64(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len() / 4 * 3 + 3);
    let mut acc: u32 = 0;
    let mut bits = 0u32;
    for &b in body {
        if b == b'=' {
            break;
        }
        let Some(v) = base64_value(b) else {
            continue;
        };
        acc = (acc << 6) | v;
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    out
}

fn hex_value(b: u8) -> Option<u8> {
    match b {
        b'0'..=b'9' => Some(b - b'0'),
        b'A'..=b'F' => Some(b - b'A' + 10),
        b'a'..=b'f' => Some(b - b'a' + 10),
        _ => None,
    }
}

/// RFC 2045 §6.7: `=XY` is the octet XY; `=` at the end of a line (after optional transport
/// padding) is a soft line break and disappears; whitespace at the end of a line is transport
/// padding and is removed. Line breaks themselves stay as they are (CRLF in stored mail).
fn quoted_printable(body: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(body.len());
    for line in body.split_inclusive(|&b| b == b'\n') {
        let (content, eol): (&[u8], &[u8]) = if let Some(c) = line.strip_suffix(b"\r\n") {
            (c, b"\r\n")
        } else if let Some(c) = line.strip_suffix(b"\n") {
            (c, b"\n")
        } else {
            (line, b"")
        };
        let mut content = content;
        while let Some((&last, rest)) = content.split_last() {
            if last == b' ' || last == b'\t' {
                content = rest;
            } else {
                break;
            }
        }
        let (content, soft) = match content.strip_suffix(b"=") {
            Some(c) => (c, true),
            None => (content, false),
        };
        let mut i = 0;
        while i < content.len() {
            let b = content[i];
            if b == b'=' {
                let hi = content.get(i + 1).copied().and_then(hex_value);
                let lo = content.get(i + 2).copied().and_then(hex_value);
                if let (Some(hi), Some(lo)) = (hi, lo) {
                    out.push(hi << 4 | lo);
                    i += 3;
                    continue;
                }
            }
            out.push(b);
            i += 1;
        }
        if !soft {
            out.extend_from_slice(eol);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert_eq!(Cte::from_name(b"BASE64"), Some(Cte::Base64));
        assert_eq!(
            Cte::from_name(b"Quoted-Printable"),
            Some(Cte::QuotedPrintable)
        );
        assert_eq!(Cte::from_name(b"8bit"), Some(Cte::Identity));
        assert_eq!(Cte::from_name(b"x-uuencode"), None);
    }

    #[test]
    fn base64_known_answers() {
        let d = |s: &[u8]| Cte::Base64.decode(s).into_owned();
        assert_eq!(d(b"aGVsbG8="), b"hello");
        assert_eq!(d(b"aGVs\r\nbG8gd29y\r\nbGQ=\r\n"), b"hello world");
        assert_eq!(d(b"AAEC/w=="), [0, 1, 2, 255]);
        // Stray characters are skipped, not fatal.
        assert_eq!(d(b"aG!V*sbG8"), b"hello");
        assert_eq!(d(b""), b"");
        // A lone trailing sextet is no octet.
        assert_eq!(d(b"aGVsbG8h" as &[u8]), b"hello!");
        assert_eq!(d(b"aGVsbG8hQ"), b"hello!");
    }

    #[test]
    fn quoted_printable_known_answers() {
        let d = |s: &[u8]| Cte::QuotedPrintable.decode(s).into_owned();
        assert_eq!(d(b"Caf=C3=A9 =3D x\r\n"), "Café = x\r\n".as_bytes());
        assert_eq!(d(b"soft=\r\nbreak\r\n"), b"softbreak\r\n");
        assert_eq!(d(b"pad   \r\nend=  \r\nx"), b"pad\r\nendx");
        assert_eq!(d(b"lower =c3=a9"), "lower é".as_bytes());
        // Malformed escapes stay as they are.
        assert_eq!(d(b"a=ZZb=4"), b"a=ZZb=4");
        assert_eq!(d(b"nul=00"), b"nul\0");
    }
}
