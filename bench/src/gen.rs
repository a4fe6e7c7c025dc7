//! Deterministic test mail: the same seed gives the same bytes for both servers.

use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// xorshift64*: tiny, fast, and the same sequence on every run.
#[derive(Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // Spread small seeds; never zero (xorshift's fixed point).
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }

    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n.max(1) as u64) as usize
    }

    /// A size between `min` and `max`, log-uniform (most mail is small).
    pub fn size(&mut self, min: usize, max: usize) -> usize {
        let f = (self.next() % 10_000) as f64 / 10_000.0;
        (min as f64 * (max as f64 / min as f64).powf(f)) as usize
    }
}

const WORDS: &[&str] = &[
    "the", "of", "and", "mailbox", "server", "message", "folder", "report", "meeting", "invoice",
    "project", "review", "tomorrow", "please", "thanks", "attached", "schedule", "release",
    "budget", "client", "update", "question", "answer", "draft", "final", "week", "monday",
    "friday", "office", "team", "notes", "summary", "ticket", "deploy", "backup", "quarter",
];

/// The word that `UID SEARCH BODY` looks for: in one message of every hundred.
pub const NEEDLE: &str = "zebracorn";
/// The sender that `UID SEARCH FROM` looks for: one of a hundred senders.
pub const SENDER: &str = "s07.bench";
/// What `UID SEARCH SUBJECT` looks for: in the subjects of messages 4242 and 42420–42429.
pub const SUBJECT: &str = "number 4242";
/// Unix time of message 0; message i is i × 10 minutes later.
pub const EPOCH: i64 = 1_600_000_000;

/// Message `i` of a corpus, about `size` bytes, CRLF line ends.
pub fn message(rng: &mut Rng, i: u64, size: usize) -> Vec<u8> {
    let t = EPOCH + i as i64 * 600;
    let mut m = format!(
        "From: Sender {k} <s{k:02}.bench@example.net>\r\nTo: user@example.org\r\n\
         Subject: {} {} number {i}\r\nDate: {}\r\nMessage-ID: <{i}.{}@bench.example>\r\n\
         MIME-Version: 1.0\r\nContent-Type: text/plain; charset=us-ascii\r\n\r\n",
        WORDS[rng.below(WORDS.len())],
        WORDS[rng.below(WORDS.len())],
        rfc2822(t),
        rng.next() % 1_000_000,
        k = i % 100,
    )
    .into_bytes();
    let mut line = 0;
    while m.len() < size {
        let mut l = 0;
        while l < 70 {
            let w = if line == 3 && l == 0 && i % 100 == 50 {
                NEEDLE
            } else {
                WORDS[rng.below(WORDS.len())]
            };
            m.extend_from_slice(w.as_bytes());
            m.push(b' ');
            l += w.len() + 1;
        }
        m.extend_from_slice(b"\r\n");
        line += 1;
    }
    m
}

/// RFC 2822 date in UTC, without a date library.
fn rfc2822(t: i64) -> String {
    let (days, secs) = (t.div_euclid(86_400), t.rem_euclid(86_400));
    let (y, m, d) = civil(days);
    const DOW: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    format!(
        "{}, {d} {} {y} {:02}:{:02}:{:02} +0000",
        DOW[days.rem_euclid(7) as usize],
        MONTHS[m as usize - 1],
        secs / 3600,
        secs / 60 % 60,
        secs % 60
    )
}

pub const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

/// Days since 1970-01-01 to (year, month, day) (H. Hinnant's civil_from_days).
pub fn civil(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// IMAP date (`1-Jan-2021`) of a Unix time.
pub fn imap_date(t: i64) -> String {
    let (y, m, d) = civil(t.div_euclid(86_400));
    format!("{d}-{}-{y}", MONTHS[m as usize - 1])
}

/// Write `n` messages of 1–10 KB as a Maildir (`cur/`, LF line ends as Dovecot stores them).
/// Each file is named after its date and has that date as its mtime, so both servers take the
/// same INTERNALDATE from it (Dovecot from the mtime, `liteimap import` from the name).
pub fn write_maildir(dir: &Path, n: usize, seed: u64) -> std::io::Result<u64> {
    for sub in ["cur", "new", "tmp"] {
        std::fs::create_dir_all(dir.join(sub))?;
    }
    // Several writers: creating 100,000 files is bound by the file system's latency. Each
    // message has its own generator, so the bytes do not depend on the split.
    const WRITERS: u64 = 8;
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..WRITERS)
            .map(|w| {
                s.spawn(move || -> std::io::Result<u64> {
                    let mut total = 0;
                    for i in (w..n as u64).step_by(WRITERS as usize) {
                        let mut rng = Rng::new(seed ^ i.wrapping_mul(0x1000_0000_01B3));
                        let size = rng.size(1_000, 10_000);
                        let raw = message(&mut rng, i, size);
                        let lf: Vec<u8> = raw.into_iter().filter(|&b| b != b'\r').collect();
                        let t = EPOCH + i as i64 * 600;
                        let path = dir.join(format!("cur/{t}.M{i}P1.bench:2,"));
                        let mut f = std::fs::File::create(&path)?;
                        f.write_all(&lf)?;
                        f.set_modified(SystemTime::UNIX_EPOCH + Duration::from_secs(t as u64))?;
                        total += lf.len() as u64;
                    }
                    Ok(total)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(std::io::Error::other("writer panicked")))
            })
            .sum()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates() {
        assert_eq!(rfc2822(0), "Thu, 1 Jan 1970 00:00:00 +0000");
        assert_eq!(rfc2822(1_600_000_000), "Sun, 13 Sep 2020 12:26:40 +0000");
        assert_eq!(imap_date(1_600_000_000), "13-Sep-2020");
    }

    #[test]
    fn same_seed_same_bytes() {
        let a = message(&mut Rng::new(5), 50, 3000);
        let b = message(&mut Rng::new(5), 50, 3000);
        assert_eq!(a, b);
        assert!(a.len() >= 3000);
        assert!(String::from_utf8(a).unwrap().contains(NEEDLE));
    }
}
