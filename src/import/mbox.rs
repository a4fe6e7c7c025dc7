//! Splitting an mbox file into messages, streaming (a multi-gigabyte export is never held in
//! memory whole).
//!
//! The rules (documented in README.md, "Importing mail"):
//! - A separator is a line that starts with `From ` at the very start of the file or right after
//!   an empty line. A `From ` line anywhere else belongs to the message body.
//! - The empty line before a separator (and the one at the end of the file) is the format's, not
//!   the message's: it is dropped.
//! - mboxrd unquoting: a line matching `>+From ` loses one `>`.
//! - `Content-Length:` headers are ignored: writers get them wrong, and the separator rule above
//!   does not need them.

use std::io::{self, BufRead};

use chrono::{DateTime, FixedOffset, NaiveDateTime};

/// One message of an mbox, as written in the file (line endings untouched).
pub struct MboxMessage {
    /// The `From ` line that introduced it, without its line ending.
    pub from_line: Vec<u8>,
    pub raw: Vec<u8>,
    /// Larger than the reader's limit; `raw` holds only its beginning.
    pub oversized: bool,
}

pub struct MboxReader<R> {
    reader: R,
    /// The `From ` line of the next message, once read.
    next_from: Option<Vec<u8>>,
    max_message: usize,
    /// Bytes consumed from the reader so far.
    pub consumed: u64,
    done: bool,
}

fn is_blank(line: &[u8]) -> bool {
    line == b"\n" || line == b"\r\n"
}

/// `>From `, `>>From `, … (an mboxrd-quoted body line).
fn is_quoted_from(line: &[u8]) -> bool {
    let gt = line.iter().take_while(|&&b| b == b'>').count();
    gt > 0 && line[gt..].starts_with(b"From ")
}

fn trim_eol(line: &[u8]) -> &[u8] {
    let l = line.strip_suffix(b"\n").unwrap_or(line);
    l.strip_suffix(b"\r").unwrap_or(l)
}

impl<R: BufRead> MboxReader<R> {
    pub fn new(reader: R, max_message: usize) -> Self {
        MboxReader {
            reader,
            next_from: None,
            max_message,
            consumed: 0,
            done: false,
        }
    }

    fn read_line(&mut self, line: &mut Vec<u8>) -> io::Result<bool> {
        line.clear();
        let n = self.reader.read_until(b'\n', line)?;
        self.consumed += n as u64;
        Ok(n > 0)
    }

    /// The next message, or None at the end of the file.
    pub fn next_message(&mut self) -> io::Result<Option<MboxMessage>> {
        if self.done {
            return Ok(None);
        }
        let mut line = Vec::new();
        let from_line = match self.next_from.take() {
            Some(f) => f,
            None => {
                // The start of the file: skip leading empty lines, then expect a separator.
                loop {
                    if !self.read_line(&mut line)? {
                        self.done = true;
                        return Ok(None);
                    }
                    if !is_blank(&line) {
                        break;
                    }
                }
                if !line.starts_with(b"From ") {
                    return Err(io::Error::new(
                        io::ErrorKind::InvalidData,
                        "not an mbox file: it does not start with a \"From \" line",
                    ));
                }
                trim_eol(&line).to_vec()
            }
        };
        let mut raw = Vec::new();
        let mut oversized = false;
        // Where the last line, if it was empty, starts in `raw` (it is dropped at a separator).
        let mut blank_at: Option<usize> = None;
        loop {
            if !self.read_line(&mut line)? {
                self.done = true;
                break;
            }
            if blank_at.is_some() && line.starts_with(b"From ") {
                self.next_from = Some(trim_eol(&line).to_vec());
                break;
            }
            let start = raw.len();
            blank_at = is_blank(&line).then_some(start);
            if oversized {
                continue;
            }
            let body = if is_quoted_from(&line) {
                &line[1..]
            } else {
                &line[..]
            };
            if raw.len() + body.len() > self.max_message {
                oversized = true;
                continue;
            }
            raw.extend_from_slice(body);
        }
        if let Some(at) = blank_at {
            raw.truncate(at.min(raw.len()));
        }
        Ok(Some(MboxMessage {
            from_line,
            raw,
            oversized,
        }))
    }
}

/// The date of an mbox `From sender date` line: asctime (`Wed Jan  1 00:00:00 2024`, taken as
/// UTC), with a numeric zone before or after the year, or an RFC 2822 date.
pub fn from_line_date(line: &[u8]) -> Option<DateTime<FixedOffset>> {
    let text = String::from_utf8_lossy(line.strip_prefix(b"From ")?);
    let mut words = text.split_whitespace();
    words.next()?; // the envelope sender
    let rest = words.collect::<Vec<_>>().join(" ");
    if let Ok(d) = NaiveDateTime::parse_from_str(&rest, "%a %b %e %H:%M:%S %Y") {
        return Some(d.and_utc().fixed_offset());
    }
    for fmt in ["%a %b %e %H:%M:%S %z %Y", "%a %b %e %H:%M:%S %Y %z"] {
        if let Ok(d) = DateTime::parse_from_str(&rest, fmt) {
            return Some(d);
        }
    }
    crate::mime::parse_date(rest.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(data: &[u8]) -> Vec<(String, String)> {
        let mut r = MboxReader::new(data, 1 << 20);
        let mut out = Vec::new();
        while let Some(m) = r.next_message().unwrap() {
            out.push((
                String::from_utf8_lossy(&m.from_line).into_owned(),
                String::from_utf8_lossy(&m.raw).into_owned(),
            ));
        }
        assert_eq!(r.consumed, data.len() as u64);
        out
    }

    #[test]
    fn separators_need_a_blank_line_before_them() {
        let data = b"From a@x Mon Jan  1 00:00:00 2024\nSubject: 1\n\nbody\nFrom here on, text\n>From quoted\n>>From twice\n\nFrom b@x Tue Jan  2 00:00:00 2024\nSubject: 2\n\nlast\n\n";
        let got = split(data);
        assert_eq!(got.len(), 2);
        assert_eq!(
            got[0].1,
            "Subject: 1\n\nbody\nFrom here on, text\nFrom quoted\n>From twice\n"
        );
        assert_eq!(got[1].0, "From b@x Tue Jan  2 00:00:00 2024");
        assert_eq!(got[1].1, "Subject: 2\n\nlast\n");
    }

    #[test]
    fn crlf_and_no_final_blank_line() {
        let got = split(b"From a Mon Jan  1 00:00:00 2024\r\nA: b\r\n\r\nx\r\n");
        assert_eq!(got[0].1, "A: b\r\n\r\nx\r\n");
        assert!(MboxReader::new(&b"Subject: no\n"[..], 100)
            .next_message()
            .is_err());
    }

    #[test]
    fn oversized_messages_are_flagged() {
        let data = b"From a Mon Jan  1 00:00:00 2024\nA: 0123456789\n\nFrom b Mon Jan  1 00:00:00 2024\nA: b\n";
        let mut r = MboxReader::new(&data[..], 8);
        assert!(r.next_message().unwrap().unwrap().oversized);
        let m = r.next_message().unwrap().unwrap();
        assert!(!m.oversized);
        assert_eq!(m.raw, b"A: b\n");
    }

    #[test]
    fn from_line_dates() {
        let d = from_line_date(b"From MAILER-DAEMON Fri Jul  8 12:08:34 2011").unwrap();
        assert_eq!(d.to_rfc3339(), "2011-07-08T12:08:34+00:00");
        let d = from_line_date(b"From a@b Mon Feb 7 21:52:25 -0800 1994").unwrap();
        assert_eq!(d.timestamp(), 760686745);
        assert!(from_line_date(b"From nobody").is_none());
    }
}
