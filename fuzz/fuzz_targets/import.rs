//! The import parsers on arbitrary bytes: mbox splitting (with a small message limit, so the
//! oversized path runs too), `From ` line dates, Maildir file names, the message check and the
//! internal-date fallbacks.
#![no_main]

use libfuzzer_sys::fuzz_target;
use liteimap::import::{
    from_line_date, internal_date, looks_like_message, maildir_name, MboxReader,
};

fuzz_target!(|data: &[u8]| {
    let mut reader = MboxReader::new(std::io::Cursor::new(data), 4096);
    while let Ok(Some(m)) = reader.next_message() {
        let hint = from_line_date(&m.from_line);
        let _ = looks_like_message(&m.raw);
        let _ = internal_date(&m.raw, hint, None);
    }
    let name = String::from_utf8_lossy(data);
    let _ = maildir_name(&name);
    let _ = from_line_date(data);
    let _ = looks_like_message(data);
    let _ = internal_date(data, None, None);
});
