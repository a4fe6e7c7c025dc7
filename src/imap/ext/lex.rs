//! A small lexer over the bytes of one IMAP command, for the extension forms imap-codec does
//! not parse. It knows the RFC 3501 / RFC 9051 token classes (atoms, numbers, quoted strings,
//! literals, parenthesised lists) and nothing about commands: each extension's parser in this
//! module drives it.
//!
//! The input is one whole message as framed by `conn`: the command line, every literal's
//! bytes after its `{n}\r\n` announcement, and the final CRLF.

use imap_codec::imap_types::core::Tag;
use imap_codec::imap_types::IntoStatic;

/// Why an ordinary literal holding NUL is refused.
pub const NUL_IN_LITERAL: &str = "NUL in a literal: use literal8 (~{n}) for binary content";

/// A lexing error: the text for the tagged BAD.
pub type LexResult<T> = Result<T, String>;

pub struct Lexer<'a> {
    input: &'a [u8],
    pos: usize,
}

/// ATOM-CHAR: any CHAR except atom-specials (RFC 3501 §9).
fn is_atom_char(b: u8) -> bool {
    b > 0x20 && b < 0x7f && !matches!(b, b'(' | b')' | b'{' | b'%' | b'*' | b'"' | b'\\' | b']')
}

/// ASTRING-CHAR: ATOM-CHAR or resp-specials (`]`).
fn is_astring_char(b: u8) -> bool {
    is_atom_char(b) || b == b']'
}

impl<'a> Lexer<'a> {
    pub fn new(input: &'a [u8]) -> Self {
        Lexer { input, pos: 0 }
    }

    /// The next byte, not consumed.
    pub fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    /// The bytes not consumed yet.
    pub fn rest(&self) -> &'a [u8] {
        &self.input[self.pos.min(self.input.len())..]
    }

    /// Consume `b` if it is next.
    pub fn eat(&mut self, b: u8) -> bool {
        if self.peek() == Some(b) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// Consume the next `n` bytes (the caller has looked at them through `rest`).
    pub fn skip(&mut self, n: usize) {
        self.pos = (self.pos + n).min(self.input.len());
    }

    /// Require `b` next.
    pub fn expect(&mut self, b: u8, what: &str) -> LexResult<()> {
        if self.eat(b) {
            Ok(())
        } else {
            Err(format!("Expected {what}"))
        }
    }

    /// One space.
    pub fn sp(&mut self) -> LexResult<()> {
        self.expect(b' ', "a space")
    }

    /// The command's end: CRLF and nothing after it.
    pub fn end(&mut self) -> LexResult<()> {
        if self.rest() == b"\r\n" {
            self.pos = self.input.len();
            Ok(())
        } else {
            Err("Unexpected characters after the command".into())
        }
    }

    /// Whether only the final CRLF is left.
    pub fn at_end(&self) -> bool {
        self.rest() == b"\r\n"
    }

    /// Consume `word` (case-insensitively) when it is next and is followed by a delimiter
    /// (space, parenthesis, CRLF or the end), so `ALL` does not match the start of `ALLX`.
    pub fn keyword(&mut self, word: &str) -> bool {
        let rest = self.rest();
        let n = word.len();
        if rest.len() >= n
            && rest[..n].eq_ignore_ascii_case(word.as_bytes())
            && matches!(rest.get(n), None | Some(b' ' | b'(' | b')' | b'\r'))
        {
            self.pos += n;
            true
        } else {
            false
        }
    }

    /// The tag and the space after it.
    pub fn tag(&mut self) -> LexResult<Tag<'static>> {
        let start = self.pos;
        while self.peek().is_some_and(|b| is_astring_char(b) && b != b'+') {
            self.pos += 1;
        }
        let raw = &self.input[start..self.pos];
        let tag = std::str::from_utf8(raw)
            .ok()
            .and_then(|s| Tag::try_from(s).ok())
            .map(|t| t.into_static())
            .ok_or_else(|| "Missing or invalid tag".to_string())?;
        self.sp()?;
        Ok(tag)
    }

    /// An atom (one or more ATOM-CHARs).
    pub fn atom(&mut self) -> LexResult<&'a str> {
        self.run(is_atom_char, "an atom")
    }

    /// A flag: `\Word` or a keyword atom, returned with its backslash.
    pub fn flag(&mut self) -> LexResult<&'a str> {
        let start = self.pos;
        self.eat(b'\\');
        self.run(is_atom_char, "a flag")?;
        Ok(self.str_from(start))
    }

    /// A run of `[0-9:*,$]`: a sequence set as written (`$` is SEARCHRES), for the caller to
    /// interpret.
    pub fn sequence_set(&mut self) -> LexResult<&'a str> {
        self.run(
            |b| b.is_ascii_digit() || matches!(b, b':' | b'*' | b',' | b'$'),
            "a sequence set",
        )
    }

    /// A number (RFC 3501 `number`: up to 2^32-1).
    pub fn number(&mut self) -> LexResult<u32> {
        self.number64()?
            .try_into()
            .map_err(|_| "Number out of range".to_string())
    }

    /// A 63-bit number (RFC 9051 `number64`).
    pub fn number64(&mut self) -> LexResult<u64> {
        let digits = self.run(|b| b.is_ascii_digit(), "a number")?;
        digits
            .parse::<u64>()
            .ok()
            .filter(|n| *n <= i64::MAX as u64)
            .ok_or_else(|| "Number out of range".to_string())
    }

    /// A quoted string or a literal (`{n}`, `{n+}`, and `~{n}` when `literal8`), as bytes. An
    /// ordinary literal may not hold NUL.
    pub fn string(&mut self, literal8: bool) -> LexResult<Vec<u8>> {
        match self.peek() {
            Some(b'"') => self.quoted(),
            // RFC 3501 CHAR8 excludes NUL: the only reason imap-codec refuses an otherwise
            // good command with such a literal, so say it.
            Some(b'{') => match self.literal()? {
                l if l.contains(&0) => Err(NUL_IN_LITERAL.into()),
                l => Ok(l.to_vec()),
            },
            Some(b'~') if literal8 => {
                self.pos += 1;
                self.literal().map(<[u8]>::to_vec)
            }
            _ => Err("Expected a string".into()),
        }
    }

    /// An astring: an atom (with `]` allowed) or a string.
    pub fn astring(&mut self) -> LexResult<Vec<u8>> {
        match self.peek() {
            Some(b'"' | b'{') => self.string(false),
            _ => self
                .run(is_astring_char, "a string")
                .map(|s| s.as_bytes().to_vec()),
        }
    }

    /// A list-mailbox (LIST pattern): an astring that may contain `%` and `*`.
    pub fn list_mailbox(&mut self) -> LexResult<Vec<u8>> {
        match self.peek() {
            Some(b'"' | b'{') => self.string(false),
            _ => self
                .run(
                    |b| is_astring_char(b) || b == b'%' || b == b'*',
                    "a mailbox pattern",
                )
                .map(|s| s.as_bytes().to_vec()),
        }
    }

    /// `(`, items separated by single spaces, `)`: calls `item` for each, returns them. An
    /// empty list `()` is allowed.
    pub fn list<T>(
        &mut self,
        mut item: impl FnMut(&mut Self) -> LexResult<T>,
    ) -> LexResult<Vec<T>> {
        self.expect(b'(', "'('")?;
        let mut items = Vec::new();
        if self.eat(b')') {
            return Ok(items);
        }
        loop {
            items.push(item(self)?);
            if self.eat(b')') {
                return Ok(items);
            }
            self.sp()?;
        }
    }

    fn quoted(&mut self) -> LexResult<Vec<u8>> {
        self.expect(b'"', "'\"'")?;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None | Some(b'\r' | b'\n') => return Err("Unterminated quoted string".into()),
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c @ (b'"' | b'\\')) => {
                            out.push(c);
                            self.pos += 1;
                        }
                        _ => return Err("Invalid escape in quoted string".into()),
                    }
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    /// `{n}` or `{n+}`, CRLF, then n bytes (already read by the framer).
    fn literal(&mut self) -> LexResult<&'a [u8]> {
        self.expect(b'{', "'{'")?;
        let n = self.number()? as usize;
        self.eat(b'+');
        self.expect(b'}', "'}'")?;
        self.expect(b'\r', "CRLF after a literal announcement")?;
        self.expect(b'\n', "CRLF after a literal announcement")?;
        let start = self.pos;
        let end = start
            .checked_add(n)
            .filter(|e| *e <= self.input.len())
            .ok_or_else(|| "Literal is shorter than announced".to_string())?;
        self.pos = end;
        Ok(&self.input[start..end])
    }

    fn run(&mut self, accept: impl Fn(u8) -> bool, what: &str) -> LexResult<&'a str> {
        let start = self.pos;
        while self.peek().is_some_and(&accept) {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(format!("Expected {what}"));
        }
        Ok(self.str_from(start))
    }

    /// The consumed bytes from `start`; only ever called on ASCII runs.
    fn str_from(&self, start: usize) -> &'a str {
        std::str::from_utf8(&self.input[start..self.pos]).unwrap_or_default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_of_a_command() {
        let raw = b"a1 APPEND \"Sent \\\"x\\\"\" (\\Seen $Work) {3}\r\nabc ~{2+}\r\n\x00b\r\n";
        let mut l = Lexer::new(raw);
        assert_eq!(l.tag().unwrap().inner(), "a1");
        assert!(l.keyword("append"));
        l.sp().unwrap();
        assert_eq!(l.astring().unwrap(), b"Sent \"x\"");
        l.sp().unwrap();
        let flags = l.list(|l| l.flag().map(str::to_string)).unwrap();
        assert_eq!(flags, ["\\Seen", "$Work"]);
        l.sp().unwrap();
        assert_eq!(l.string(false).unwrap(), b"abc");
        l.sp().unwrap();
        assert!(l.string(false).is_err(), "literal8 only where allowed");
        assert_eq!(l.string(true).unwrap(), b"\x00b");
        l.end().unwrap();
    }

    #[test]
    fn keywords_need_a_delimiter() {
        let mut l = Lexer::new(b"ALLX ALL)");
        assert!(!l.keyword("ALL"));
        assert_eq!(l.atom().unwrap(), "ALLX");
        l.sp().unwrap();
        assert!(l.keyword("all"));
        assert!(l.eat(b')'));
    }

    #[test]
    fn malformed_input_is_an_error_not_a_panic() {
        assert!(Lexer::new(b"{99}\r\nab").string(false).is_err());
        assert!(Lexer::new(b"{4294967296}\r\n").string(false).is_err());
        assert!(Lexer::new(b"\"abc").string(false).is_err());
        assert!(Lexer::new(b"\"a\\b\"").string(false).is_err());
        assert!(Lexer::new(b"99999999999999999999").number64().is_err());
        assert!(Lexer::new(b"4294967296").number().is_err());
        assert!(Lexer::new(b"+x SEARCH").tag().is_err());
        assert!(Lexer::new(b"(a b").list(|l| l.atom()).is_err());
        assert_eq!(
            Lexer::new(b"()").list(|l| l.atom()).unwrap(),
            Vec::<&str>::new()
        );
        assert_eq!(Lexer::new(b"1:*,$,4").sequence_set().unwrap(), "1:*,$,4");
        assert!(Lexer::new(b"x\r\n").end().is_err());
    }
}
