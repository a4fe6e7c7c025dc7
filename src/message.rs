//! Turning raw bytes into a message the store can keep: one place for APPEND, import and
//! delivery, so every path parses MIME once, the same way.

use chrono::{DateTime, FixedOffset, Local, Offset, Utc};

use crate::store::{NewMessage, StoreTimeFields};

/// Parse `raw` and bundle it with its flags and internal date (now, in the server's zone, when
/// none is given).
pub fn prepare(
    raw: Vec<u8>,
    flags: Vec<String>,
    date: Option<DateTime<FixedOffset>>,
) -> NewMessage {
    let date = date.unwrap_or_else(now);
    let info = crate::mime::parse(&raw);
    let fields = store_time_fields(&raw, &info);
    let sort = crate::mime::SortFields::of_message(&raw, &info.envelope);
    let parsed = info.encode();
    NewMessage {
        raw,
        parsed,
        sort,
        flags,
        internal_date: date.timestamp(),
        date_offset: date.offset().local_minus_utc(),
        fields,
    }
}

/// What OBJECTID's THREADID and PREVIEW keep of a message, made once as it is stored: its
/// preview, its Message-ID and the Message-IDs it replies to (References, then In-Reply-To).
pub fn store_time_fields(raw: &[u8], info: &crate::mime::MessageInfo) -> StoreTimeFields {
    use crate::mime::message_ids;
    let ids = |v: &Option<Vec<u8>>| v.as_deref().map(message_ids).unwrap_or_default();
    let mut parent_ids = crate::mime::header_values(raw, "References")
        .iter()
        .flat_map(|v| message_ids(v))
        .collect::<Vec<_>>();
    parent_ids.extend(ids(&info.envelope.in_reply_to));
    StoreTimeFields {
        preview: Some(crate::mime::preview(raw, info)),
        message_id: ids(&info.envelope.message_id).into_iter().next(),
        parent_ids,
    }
}

/// How the log names a message: its Message-ID header (printable ASCII, at most 200 bytes),
/// or "without Message-ID".
pub fn log_id(raw: &[u8]) -> String {
    let id = mailparse::parse_headers(raw)
        .ok()
        .and_then(|(headers, _)| {
            use mailparse::MailHeaderMap as _;
            headers.get_first_value("Message-ID")
        })
        .map(|v| v.trim().to_string())
        .filter(|v| !v.is_empty() && v.len() <= 200 && v.bytes().all(|b| b.is_ascii_graphic()));
    id.unwrap_or_else(|| "without Message-ID".into())
}

/// The current time in the server's local zone, whole seconds.
pub fn now() -> DateTime<FixedOffset> {
    let now = Utc::now();
    let offset = Local::now().offset().fix();
    DateTime::from_timestamp(now.timestamp(), 0)
        .unwrap_or(now)
        .with_timezone(&offset)
}

/// A stored internal date as the zone-aware time the client gave.
pub fn internal_date(seconds: i64, offset: i32) -> DateTime<FixedOffset> {
    let zone = FixedOffset::east_opt(offset).unwrap_or_else(|| Utc.fix());
    DateTime::from_timestamp(seconds, 0)
        .unwrap_or_default()
        .with_timezone(&zone)
}

/// Whether `raw` looks like a message: not empty, and it starts with a header field
/// (`Name:` with a printable ASCII name) or with the empty line that ends an empty header
/// section, followed by a body. Binary files and plain text fail this. The one rule `import`
/// and `deliver` apply.
pub fn looks_like_message(raw: &[u8]) -> Result<(), &'static str> {
    if raw.iter().all(|b| b.is_ascii_whitespace()) {
        return Err("empty");
    }
    let first = raw.split(|&b| b == b'\n').next().unwrap_or(raw);
    let first = first.strip_suffix(b"\r").unwrap_or(first);
    if first.is_empty() {
        return Ok(());
    }
    let name_len = first
        .iter()
        .take_while(|&&b| (33..=126).contains(&b) && b != b':')
        .count();
    let rest = &first[name_len..];
    let rest = &rest[rest
        .iter()
        .take_while(|&&b| b == b' ' || b == b'\t')
        .count()..];
    if name_len > 0 && rest.starts_with(b":") {
        Ok(())
    } else {
        Err("not a message: it does not start with a header line")
    }
}
