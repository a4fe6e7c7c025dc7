//! PREVIEW (RFC 8970): the start of a message's text, made once when the message is stored.
//!
//! The first text/plain or text/html part (depth first, skipping attachments), decoded
//! (transfer encoding and charset), HTML reduced to its text, whitespace runs collapsed to
//! one space, cut to at most 256 characters (RFC 8970 §3). No text part: the empty string.

use super::search::part_text;
use super::{MessageInfo, PartInfo, PartKind};

/// RFC 8970 §3: at most 256 characters.
pub const PREVIEW_CHARS: usize = 256;

/// The preview of a parsed message.
pub fn preview(raw: &[u8], info: &MessageInfo) -> String {
    let Some(part) = first_text(&info.root) else {
        return String::new();
    };
    let text = part_text(raw, part).unwrap_or_default();
    let text = if part.is_subtype("html") {
        html_text(&text)
    } else {
        text
    };
    collapse(&text)
}

/// The first text/plain or text/html leaf that is not an attachment, in MIME order.
fn first_text(p: &PartInfo) -> Option<&PartInfo> {
    match &p.kind {
        PartKind::Multipart(children) => children.iter().find_map(first_text),
        // An attached message is not this message's text.
        PartKind::Message(_) => None,
        PartKind::Single => {
            let attachment = p
                .disposition
                .as_ref()
                .is_some_and(|(d, _)| d.eq_ignore_ascii_case(b"attachment"));
            (p.is_type("text") && (p.is_subtype("plain") || p.is_subtype("html")) && !attachment)
                .then_some(p)
        }
    }
}

/// Whitespace runs become one space, the ends are trimmed, and at most PREVIEW_CHARS remain.
fn collapse(text: &str) -> String {
    let words = text.split_whitespace().collect::<Vec<_>>().join(" ");
    // Control characters have no place in a one-line preview.
    words
        .chars()
        .filter(|c| !c.is_control())
        .take(PREVIEW_CHARS)
        .collect()
}

/// The text of an HTML document: tags dropped (block tags become spaces), `<script>`,
/// `<style>` and `<head>` dropped with their content, comments dropped, and the common
/// character references decoded.
fn html_text(html: &str) -> String {
    let mut out = String::with_capacity(html.len() / 2);
    let lower = html.to_ascii_lowercase();
    let mut i = 0;
    let bytes = html.as_bytes();
    while i < bytes.len() {
        if lower[i..].starts_with("<!--") {
            i = lower[i..].find("-->").map_or(bytes.len(), |e| i + e + 3);
            continue;
        }
        if bytes[i] == b'<' {
            let close = lower[i..].find('>').map_or(bytes.len(), |e| i + e + 1);
            let name: String = lower[i + 1..close.min(lower.len())]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric())
                .collect();
            i = close;
            if matches!(name.as_str(), "script" | "style" | "head" | "title") {
                let end_tag = format!("</{name}");
                i = lower[i..].find(&end_tag).map_or(bytes.len(), |e| {
                    let at = i + e;
                    lower[at..].find('>').map_or(bytes.len(), |g| at + g + 1)
                });
            }
            out.push(' ');
            continue;
        }
        if bytes[i] == b'&' {
            if let Some((c, len)) = entity(&html[i..]) {
                out.push(c);
                i += len;
                continue;
            }
        }
        // Whole characters: `i` only ever stops on ASCII bytes above.
        let ch_len = html[i..].chars().next().map_or(1, char::len_utf8);
        out.push_str(&html[i..i + ch_len]);
        i += ch_len;
    }
    out
}

/// A character reference at the start of `s`: the character and the reference's length.
fn entity(s: &str) -> Option<(char, usize)> {
    // Bytes, not a str slice: the 12th byte may fall inside a character.
    let end = s.bytes().take(12).position(|b| b == b';')?;
    let name = &s[1..end];
    let c = match name {
        "amp" => '&',
        "lt" => '<',
        "gt" => '>',
        "quot" => '"',
        "apos" => '\'',
        "nbsp" => ' ',
        _ => {
            let num = name.strip_prefix('#')?;
            let code = match num.strip_prefix(['x', 'X']) {
                Some(hex) => u32::from_str_radix(hex, 16).ok()?,
                None => num.parse().ok()?,
            };
            char::from_u32(code)?
        }
    };
    Some((c, end + 1))
}

#[cfg(test)]
mod tests {
    use super::super::parse;
    use super::*;

    fn of(raw: &[u8]) -> String {
        preview(raw, &parse(raw))
    }

    #[test]
    fn plain_text_is_collapsed_and_cut() {
        assert_eq!(
            of(b"Subject: x\r\n\r\n  Hello,\r\n\r\n\tworld  \r\n"),
            "Hello, world"
        );
        let long = format!("Subject: x\r\n\r\n{}\r\n", "ab ".repeat(200));
        let p = of(long.as_bytes());
        assert_eq!(p.chars().count(), 256);
        assert!(p.starts_with("ab ab"));
    }

    #[test]
    fn first_text_part_decoded() {
        let raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: image/png\r\n\r\nxx\r\n--b\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\nCaf=E9 cr=E8me=\r\n br=FBl=E9e\r\n--b--\r\n";
        assert_eq!(of(raw), "Café crème brûlée");
    }

    #[test]
    fn html_is_reduced_to_text() {
        let raw = b"Content-Type: text/html; charset=utf-8\r\n\r\n<html><head><title>T</title><style>p{}</style></head><body><p>Hi&nbsp;&amp; <b>by\xc3\xa9</b></p><!-- c --><script>x()</script>&#233;&#x41;</body></html>\r\n";
        assert_eq!(of(raw), "Hi & byé éA");
    }

    #[test]
    fn no_text_part_is_empty() {
        let raw = b"Content-Type: application/pdf\r\n\r\n%PDF\r\n";
        assert_eq!(of(raw), "");
    }
}
