//! The one rule for mailbox names. Every path that names a folder — IMAP commands, `import
//! --mailbox` and the folders an import creates, `deliver --mailbox`, LMTP `user+folder@` —
//! passes the name through [`mailbox_name`], so a folder that exists can always be selected,
//! renamed and deleted over IMAP.

use std::fmt;

use super::mailboxes::{DELIMITER, INBOX};

/// Longest mailbox name accepted, in bytes.
pub const MAX_MAILBOX_NAME: usize = 1024;

/// Why a name was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NameError {
    /// Longer than MAX_MAILBOX_NAME bytes.
    TooLong,
    /// Not a name this server stores (the reason, for the client).
    Invalid(String),
}

impl fmt::Display for NameError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NameError::TooLong => write!(f, "Mailbox name longer than {MAX_MAILBOX_NAME} bytes"),
            NameError::Invalid(why) => f.write_str(why),
        }
    }
}

fn invalid(why: impl Into<String>) -> NameError {
    NameError::Invalid(why.into())
}

/// The stored form of a mailbox name as a client or an administrator wrote it: INBOX in any
/// case is "INBOX", also as the first level of a longer name. A name is 7-bit printable text in
/// valid modified UTF-7 (RFC 3501 §5.1.3, kept as written), without wildcards, and without
/// empty, `.` or `..` hierarchy levels.
pub fn mailbox_name(bytes: &[u8]) -> Result<String, NameError> {
    if bytes.is_empty() {
        return Err(invalid("Empty mailbox name"));
    }
    if bytes.len() > MAX_MAILBOX_NAME {
        return Err(NameError::TooLong);
    }
    if let Some(b) = bytes.iter().find(|b| **b < 0x20 || **b >= 0x7f) {
        return Err(invalid(format!(
            "Mailbox name contains byte 0x{b:02x}: names are 7-bit (modified UTF-7)"
        )));
    }
    if bytes.iter().any(|b| *b == b'*' || *b == b'%') {
        return Err(invalid(
            "Mailbox name contains a wildcard character (* or %)",
        ));
    }
    // Only printable ASCII is left, so this is the same text.
    let mut name = String::from_utf8_lossy(bytes).into_owned();
    let first = name.split(DELIMITER).next().unwrap_or_default().len();
    if name[..first].eq_ignore_ascii_case(INBOX) {
        name.replace_range(..first, INBOX);
    }
    if name.split(DELIMITER).any(str::is_empty) {
        return Err(invalid("Mailbox name has an empty hierarchy level"));
    }
    if name
        .split(DELIMITER)
        .any(|level| level == "." || level == "..")
    {
        return Err(invalid("Mailbox name has a . or .. level"));
    }
    check_modified_utf7(&name)?;
    Ok(name)
}

/// Every `&` starts a shift to modified BASE64 that `-` ends (`&-` is a literal `&`); the
/// BASE64 is UTF-16 that ends on a character boundary with zero padding bits, has no unpaired
/// surrogate, and encodes no US-ASCII (which must be written as itself); a shift does not
/// directly follow another. So each name has one spelling.
fn check_modified_utf7(name: &str) -> Result<(), NameError> {
    let bytes = name.as_bytes();
    let mut i = 0;
    while let Some(p) = bytes[i..].iter().position(|b| *b == b'&') {
        let start = i + p;
        let Some(len) = bytes[start + 1..].iter().position(|b| *b == b'-') else {
            return Err(invalid(format!(
                "Mailbox name is not valid modified UTF-7: {:?} is not ended by '-'",
                &name[start..]
            )));
        };
        let end = start + 1 + len;
        // Two shifts in a row spell what one shift spells ("&AOQ-&AOQ-" is "&AOQA5A-"): one
        // folder would have two names. Dovecot refuses them too; `&-` (an ampersand) is fine.
        if len > 0 && bytes.get(end + 1) == Some(&b'&') && bytes.get(end + 2) != Some(&b'-') {
            return Err(invalid(format!(
                "Mailbox name is not valid modified UTF-7: {:?} has two shifts in a row; write them as one",
                &name[start..]
            )));
        }
        decode_shifted(&bytes[start + 1..end])
            .map(drop)
            .map_err(|why| {
                invalid(format!(
                    "Mailbox name is not valid modified UTF-7: {:?} {why}",
                    &name[start..=end]
                ))
            })?;
        i = end + 1;
    }
    Ok(())
}

/// The stored form of a name a UTF-8 client wrote (UTF8=ACCEPT, RFC 6855 §3; IMAP4rev2,
/// RFC 9051 §5.1): normalised to NFC (Net-Unicode, RFC 5198), written in modified UTF-7 (an
/// `&` as `&-`), then held to the same rule as every other name. So one folder has one stored
/// name whichever encoding the client speaks.
pub fn mailbox_name_utf8(bytes: &[u8]) -> Result<String, NameError> {
    use unicode_normalization::UnicodeNormalization;
    if bytes.len() > MAX_MAILBOX_NAME {
        return Err(NameError::TooLong);
    }
    let text =
        std::str::from_utf8(bytes).map_err(|_| invalid("Mailbox name is not valid UTF-8"))?;
    if let Some(c) = text.chars().find(|c| c.is_control()) {
        return Err(invalid(format!(
            "Mailbox name contains control character U+{:04X}",
            u32::from(c)
        )));
    }
    let text: String = text.nfc().collect();
    mailbox_name(encode_modified_utf7(&text).as_bytes())
}

/// A stored name as UTF-8 text, for the sessions that speak UTF-8 (the inverse of
/// [`mailbox_name_utf8`]). Stored names are valid modified UTF-7, so nothing is lost.
pub fn mailbox_name_to_utf8(stored: &str) -> String {
    let bytes = stored.as_bytes();
    let mut out = String::with_capacity(stored.len());
    let mut i = 0;
    while let Some(p) = bytes[i..].iter().position(|b| *b == b'&') {
        out.push_str(&stored[i..i + p]);
        let start = i + p + 1;
        let Some(len) = bytes[start..].iter().position(|b| *b == b'-') else {
            // Not stored by this server's rules: shown as it is.
            out.push_str(&stored[start - 1..]);
            return out;
        };
        match decode_shifted(&bytes[start..start + len]) {
            Ok(s) if len == 0 => {
                debug_assert!(s.is_empty());
                out.push('&');
            }
            Ok(s) => out.push_str(&s),
            Err(_) => out.push_str(&stored[start - 1..=start + len]),
        }
        i = start + len + 1;
    }
    out.push_str(&stored[i..]);
    out
}

/// UTF-8 text in modified UTF-7 (RFC 3501 §5.1.3): printable US-ASCII stands for itself
/// (`&` as `&-`), every run of other characters is UTF-16 in modified BASE64 between `&`
/// and `-`.
fn encode_modified_utf7(text: &str) -> String {
    const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+,";
    let mut out = String::with_capacity(text.len() * 2);
    let mut run: Vec<u16> = Vec::new();
    let flush = |run: &mut Vec<u16>, out: &mut String| {
        if run.is_empty() {
            return;
        }
        out.push('&');
        let (mut bits, mut nbits) = (0u32, 0);
        for unit in run.drain(..) {
            bits = (bits << 16) | u32::from(unit);
            nbits += 16;
            while nbits >= 6 {
                nbits -= 6;
                out.push(B64[((bits >> nbits) & 63) as usize] as char);
            }
            bits &= (1 << nbits) - 1;
        }
        if nbits > 0 {
            out.push(B64[((bits << (6 - nbits)) & 63) as usize] as char);
        }
        out.push('-');
    };
    for c in text.chars() {
        if (' '..='~').contains(&c) {
            flush(&mut run, &mut out);
            out.push(c);
            if c == '&' {
                out.push('-');
            }
        } else {
            let mut buf = [0u16; 2];
            run.extend_from_slice(c.encode_utf16(&mut buf));
        }
    }
    flush(&mut run, &mut out);
    out
}

fn decode_shifted(run: &[u8]) -> Result<String, &'static str> {
    let mut bits: u32 = 0;
    let mut nbits = 0;
    let mut units = Vec::with_capacity(run.len() * 6 / 16);
    for &c in run {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b',' => 63,
            _ => return Err("has a character outside modified BASE64 (A-Z a-z 0-9 + ,)"),
        };
        bits = (bits << 6) | u32::from(v);
        nbits += 6;
        if nbits >= 16 {
            nbits -= 16;
            units.push((bits >> nbits) as u16);
            bits &= (1 << nbits) - 1;
        }
    }
    if nbits >= 6 || bits != 0 {
        return Err("does not end on a UTF-16 character");
    }
    let mut text = String::with_capacity(units.len() * 2);
    for c in char::decode_utf16(units) {
        let c = c.map_err(|_| "has an unpaired UTF-16 surrogate")?;
        if c.is_ascii() {
            return Err("encodes US-ASCII, which is written as itself");
        }
        text.push(c);
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ok(s: &str) -> String {
        mailbox_name(s.as_bytes()).unwrap_or_else(|e| panic!("{s}: {e}"))
    }

    fn why(s: &str) -> String {
        match mailbox_name(s.as_bytes()) {
            Err(e) => e.to_string(),
            Ok(n) => panic!("{s} accepted as {n}"),
        }
    }

    #[test]
    fn inbox_and_levels() {
        assert_eq!(ok("inbox"), "INBOX");
        assert_eq!(ok("inBox/x"), "INBOX/x");
        assert_eq!(ok("inboxes/x"), "inboxes/x");
        assert_eq!(ok("a/b"), "a/b");
        for bad in [
            "a//b", "/a", "a/", "x*", "%", "../x", "a/../b", ".", "..", "a/.",
        ] {
            assert!(mailbox_name(bad.as_bytes()).is_err(), "{bad}");
        }
        assert_eq!(
            mailbox_name("x".repeat(1025).as_bytes()),
            Err(NameError::TooLong)
        );
        assert!(mailbox_name(b"a\x00b").is_err());
        assert!(mailbox_name("ä".as_bytes()).is_err());
        assert!(mailbox_name(b"").is_err());
    }

    #[test]
    fn modified_utf7() {
        // ä, ☺, 日本語, an ampersand, and U+1F600 as a surrogate pair.
        for good in [
            "&AOQ-",
            "&Jjo-",
            "&ZeVnLIqe-",
            "Tom &- Jerry",
            "&2D3eAA-",
            "a&AOQ-b/&AOQ-",
        ] {
            assert_eq!(ok(good), good);
        }
        assert!(why("&Jjo").contains("\"&Jjo\" is not ended by '-'"));
        assert!(why("a&").contains("not ended"));
        assert!(why("&AOQ").contains("not ended"));
        // One or two BASE64 characters are not a UTF-16 unit; padding bits must be zero.
        assert!(why("&A-").contains("does not end on a UTF-16 character"));
        assert!(why("&AO-").contains("does not end on a UTF-16 character"));
        assert!(why("&AOR-").contains("does not end on a UTF-16 character"));
        assert!(why("&AOQ=-").contains("outside modified BASE64"));
        assert!(why("&AO/-").contains("outside modified BASE64"));
        // "&AEE-" is "A", which must be written as itself; so is a control character.
        assert!(why("&AEE-").contains("encodes US-ASCII"));
        assert!(why("&AAA-").contains("encodes US-ASCII"));
        // A high surrogate alone.
        assert!(why("&2D0-").contains("unpaired UTF-16 surrogate"));
        // Two shifts in a row are one shift written twice.
        assert!(why("&AOQ-&AOQ-").contains("\"&AOQ-&AOQ-\" has two shifts in a row"));
        assert_eq!(ok("&AOQ-&-&AOQ-"), "&AOQ-&-&AOQ-");
        assert_eq!(ok("&AOQA5A-"), "&AOQA5A-");
    }

    #[test]
    fn utf8_names_are_stored_in_modified_utf7() {
        let utf8 = |s: &str| mailbox_name_utf8(s.as_bytes()).unwrap_or_else(|e| panic!("{s}: {e}"));
        // RFC 3501 §5.1.3's example, and the names of the tests above.
        assert_eq!(
            utf8("~peter/mail/日本語/台北"),
            "~peter/mail/&ZeVnLIqe-/&U,BTFw-"
        );
        assert_eq!(utf8("ä"), "&AOQ-");
        assert_eq!(utf8("äå"), "&AOQA5Q-");
        assert_eq!(utf8("☺"), "&Jjo-");
        assert_eq!(utf8("😀"), "&2D3eAA-");
        assert_eq!(utf8("Tom & Jerry"), "Tom &- Jerry");
        assert_eq!(utf8("a&AOQ-b"), "a&-AOQ-b");
        assert_eq!(utf8("inbox/Entwürfe"), "INBOX/Entw&APw-rfe");
        // NFC: a + combining diaeresis is stored as ä.
        assert_eq!(utf8("a\u{308}"), "&AOQ-");
        for bad in ["a\u{7}b", "x\u{85}", "a//ä", "ä*", "%"] {
            assert!(mailbox_name_utf8(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert!(mailbox_name_utf8(b"\xff").is_err());
        assert_eq!(
            mailbox_name_utf8("ä".repeat(600).as_bytes()),
            Err(NameError::TooLong)
        );
        // Each way and back.
        for s in [
            "~peter/mail/日本語/台北",
            "Tom & Jerry",
            "a&AOQ-b",
            "😀x",
            "plain",
            "&",
        ] {
            assert_eq!(mailbox_name_to_utf8(&utf8(s)), s);
        }
        assert_eq!(mailbox_name_to_utf8("&AOQ-&-&AOQ-"), "ä&ä");
    }
}
