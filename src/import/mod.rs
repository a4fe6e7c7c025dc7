//! Importing mail from disk: `.eml` files, directories of them, Maildir, Maildir++ and mbox
//! into a user's folders.
//!
//! Two phases. First every PATH is looked at and turned into a list of items (files, with the
//! folder each goes to); a PATH that cannot be read is fatal before anything is written. Then
//! the items are read one by one, parsed (`message::prepare`) and sent in batches to a writer
//! thread that stores each batch in one transaction (`Store::append_new`, which skips bytes the
//! folder already holds). Reading and parsing the next batch overlaps with writing the last;
//! at most two batches are in memory besides the one being filled, so memory does not grow
//! with the size of the import.

mod maildir;
mod mbox;

use std::fs::File;
use std::io::{BufRead, BufReader, IsTerminal, Read};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime};

use chrono::{DateTime, FixedOffset, Local, Offset};

use crate::store::{MailboxId, NewMessage, Store, UserId, INBOX};

pub use maildir::parse_name as maildir_name;
pub use mbox::{from_line_date, MboxReader};

/// A batch is written when it holds this many messages …
const BATCH_MESSAGES: usize = 500;
/// … or this many bytes, whichever comes first.
const BATCH_BYTES: usize = 32 << 20;
/// A single message larger than this is reported and skipped (SQLite's default blob limit is
/// 1 GB, and no client fetches such a message sensibly).
pub const MAX_MESSAGE: usize = 256 << 20;
/// Failure lines printed in the summary (all are counted).
const MAX_LISTED_FAILURES: usize = 50;

pub struct Options {
    pub user: String,
    /// The target folder (created when missing).
    pub mailbox: String,
    pub paths: Vec<PathBuf>,
}

/// What an import did.
#[derive(Debug, Default)]
pub struct Summary {
    pub imported: u64,
    pub skipped: u64,
    /// (where, why) for every message or file not imported for a reason other than being
    /// there already.
    pub failed: Vec<(String, String)>,
    /// Bytes of input read.
    pub bytes: u64,
    pub elapsed: Duration,
    /// Stopped early by Ctrl-C (everything before the stop is committed).
    pub interrupted: bool,
}

impl Summary {
    /// The closing report, several lines.
    pub fn report(&self) -> String {
        let secs = self.elapsed.as_secs_f64().max(1e-3);
        let mut s = format!(
            "import {}: {} imported, {} skipped (already there), {} failed; {} in {:.1} s ({:.0} messages/s)",
            if self.interrupted { "interrupted" } else { "done" },
            self.imported,
            self.skipped,
            self.failed.len(),
            size(self.bytes),
            secs,
            (self.imported + self.skipped) as f64 / secs,
        );
        for (what, why) in self.failed.iter().take(MAX_LISTED_FAILURES) {
            s.push_str(&format!("\n  failed: {what}: {why}"));
        }
        if self.failed.len() > MAX_LISTED_FAILURES {
            s.push_str(&format!(
                "\n  … and {} more failures",
                self.failed.len() - MAX_LISTED_FAILURES
            ));
        }
        s
    }
}

/// Bytes for people: kB below a megabyte, MB above.
fn size(bytes: u64) -> String {
    if bytes < 1_000_000 {
        format!("{:.1} kB", bytes as f64 / 1e3)
    } else {
        format!("{:.1} MB", bytes as f64 / 1e6)
    }
}

/// One file to read, and where its messages go.
struct Item {
    path: PathBuf,
    folder: usize,
    /// Set for Maildir files: the file is one message, with these hints from its name.
    maildir: Option<(Option<i64>, Vec<String>)>,
}

/// The work found under the PATHs: the target folders and the files.
#[derive(Default)]
struct Plan {
    folders: Vec<String>,
    items: Vec<Item>,
    total_bytes: u64,
    /// Problems found while looking (an unreadable subdirectory), reported, not fatal.
    failed: Vec<(String, String)>,
}

impl Plan {
    fn folder(&mut self, name: String) -> usize {
        match self.folders.iter().position(|f| *f == name) {
            Some(i) => i,
            None => {
                self.folders.push(name);
                self.folders.len() - 1
            }
        }
    }

    fn push(&mut self, path: PathBuf, folder: usize, maildir: Option<(Option<i64>, Vec<String>)>) {
        self.total_bytes += std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
        self.items.push(Item {
            path,
            folder,
            maildir,
        });
    }

    fn add_maildir(&mut self, dir: &Path, folder: usize) {
        match maildir::messages(dir) {
            Ok(files) => {
                for f in files {
                    self.push(f.path, folder, Some((f.timestamp, f.flags)));
                }
            }
            Err(e) => self
                .failed
                .push((dir.display().to_string(), format!("cannot read: {e}"))),
        }
    }

    /// A plain directory: its `.eml` files, recursively, in name order.
    fn add_eml_tree(&mut self, dir: &Path, folder: usize) {
        let entries = match std::fs::read_dir(dir) {
            Ok(rd) => rd.collect::<std::io::Result<Vec<_>>>(),
            Err(e) => Err(e),
        };
        let mut entries = match entries {
            Ok(e) => e,
            Err(e) => {
                self.failed
                    .push((dir.display().to_string(), format!("cannot read: {e}")));
                return;
            }
        };
        entries.sort_by_key(|e| e.file_name());
        for e in entries {
            let path = e.path();
            // Symbolic links to directories are not followed (no loops); links to files are.
            let is_dir = e.file_type().is_ok_and(|t| t.is_dir());
            if is_dir {
                self.add_eml_tree(&path, folder);
            } else if path
                .extension()
                .is_some_and(|x| x.eq_ignore_ascii_case("eml"))
            {
                self.push(path, folder, None);
            }
        }
    }
}

/// The kind of a PATH, by the rules in README.md ("Importing mail").
fn plan(paths: &[PathBuf], target: &str) -> Result<Plan, String> {
    let mut plan = Plan::default();
    let root = plan.folder(target.to_string());
    for path in paths {
        let meta =
            std::fs::metadata(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if !meta.is_dir() {
            // Fail now rather than after an hour of importing the other PATHs.
            File::open(path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
            plan.push(path.clone(), root, None);
            continue;
        }
        let subs = maildir::subfolders(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        if maildir::is_maildir(path) || !subs.is_empty() {
            if maildir::is_maildir(path) {
                plan.add_maildir(path, root);
            }
            for (name, dir) in subs {
                let f = plan.folder(subfolder_name(target, &name));
                plan.add_maildir(&dir, f);
            }
        } else {
            plan.add_eml_tree(path, root);
        }
    }
    Ok(plan)
}

/// Maildir++ folder `Sub/Folder` imported into `target`. The root of a Maildir++ tree is its
/// INBOX and `.Sent` is INBOX's sibling, so into INBOX the folders become top-level folders;
/// into any other target they go beneath it.
fn subfolder_name(target: &str, sub: &str) -> String {
    if target == INBOX {
        sub.to_string()
    } else {
        format!("{target}/{sub}")
    }
}

/// A folder name from `--mailbox` or a Maildir++ tree, through the store's one rule for names
/// (INBOX in any case is INBOX, also as the first level of a longer name).
pub fn normalize_mailbox(name: &str) -> Result<String, String> {
    crate::store::mailbox_name(name.as_bytes())
        .map_err(|e| format!("invalid mailbox name {name:?}: {e}"))
}

/// The folder's id, creating it (and its parents) when missing.
fn ensure_folder(store: &Store, user: UserId, name: &str) -> Result<MailboxId, String> {
    let found = store
        .mailbox(user, name)
        .map_err(|e| format!("mailbox {name}: {e}"))?;
    match found {
        Some(mb) if !mb.noselect => Ok(mb.id),
        _ => {
            log::info!("import: creating folder {name}");
            store
                .create_mailbox(user, name)
                .map(|mb| mb.id)
                .map_err(|e| format!("cannot create mailbox {name}: {e}"))
        }
    }
}

pub use crate::message::looks_like_message;

/// The internal date of an imported message, first found of: `hint` (the Maildir file name's
/// time or the mbox `From ` line's date), the first Received header's date (after its last
/// `;`), the Date header, the file's modification time.
pub fn internal_date(
    raw: &[u8],
    hint: Option<DateTime<FixedOffset>>,
    mtime: Option<SystemTime>,
) -> DateTime<FixedOffset> {
    if let Some(d) = hint {
        return d;
    }
    if let Ok((headers, _)) = mailparse::parse_headers(raw) {
        let received = headers
            .iter()
            .find(|h| h.get_key_ref().eq_ignore_ascii_case("Received"))
            .and_then(|h| {
                let v = h.get_value_raw();
                let at = v.iter().rposition(|&b| b == b';')?;
                crate::mime::parse_date(&v[at + 1..])
            });
        if let Some(d) = received {
            return d;
        }
        let date = headers
            .iter()
            .find(|h| h.get_key_ref().eq_ignore_ascii_case("Date"))
            .and_then(|h| crate::mime::parse_date(h.get_value_raw()));
        if let Some(d) = date {
            return d;
        }
    }
    mtime
        .and_then(|t| t.duration_since(SystemTime::UNIX_EPOCH).ok())
        .and_then(|d| local_time(d.as_secs() as i64))
        .unwrap_or_else(crate::message::now)
}

/// Unix seconds in the server's local zone.
fn local_time(secs: i64) -> Option<DateTime<FixedOffset>> {
    let offset = Local::now().offset().fix();
    DateTime::from_timestamp(secs, 0).map(|d| d.with_timezone(&offset))
}

struct Batch {
    mailbox: MailboxId,
    msgs: Vec<NewMessage>,
}

/// Counters shared with the writer thread and the progress display.
#[derive(Default)]
struct Counters {
    imported: AtomicU64,
    skipped: AtomicU64,
}

/// Import `opts.paths` into `opts.user`'s `opts.mailbox`. Stops after the current batch when
/// `stop` becomes true. Errors are fatal ones (no such user, an unreadable PATH, the database
/// failing); a file or message that cannot be imported is in the summary instead.
pub fn run(store: &Arc<Store>, opts: &Options, stop: &AtomicBool) -> Result<Summary, String> {
    let started = Instant::now();
    let user = store
        .find_user(&opts.user)
        .map_err(|e| e.to_string())?
        .ok_or_else(|| format!("no such user: {}", opts.user))?;
    let target = normalize_mailbox(&opts.mailbox)?;
    let mut plan = plan(&opts.paths, &target)?;
    // Every folder name is checked before the first one is created.
    let names = plan
        .folders
        .iter()
        .map(|n| normalize_mailbox(n))
        .collect::<Result<Vec<_>, _>>()?;
    let mut ids = Vec::with_capacity(names.len());
    for name in &names {
        ids.push(ensure_folder(store, user.id, name)?);
    }
    log::info!(
        "import: {} files, {}, into {} folder(s) of {}",
        plan.items.len(),
        size(plan.total_bytes),
        plan.folders.len(),
        user.name
    );

    let counters = Arc::new(Counters::default());
    let (tx, rx) = sync_channel::<Batch>(1);
    let writer = {
        let store = store.clone();
        let counters = counters.clone();
        std::thread::Builder::new()
            .name("import-writer".into())
            .spawn(move || -> Result<(), String> {
                for batch in rx {
                    let started = Instant::now();
                    let stored = store
                        .append_new(batch.mailbox, &batch.msgs)
                        .map_err(|e| format!("database: {e}"))?;
                    let new = stored.iter().filter(|s| **s).count() as u64;
                    counters.imported.fetch_add(new, Ordering::Relaxed);
                    counters
                        .skipped
                        .fetch_add(stored.len() as u64 - new, Ordering::Relaxed);
                    log::debug!(
                        "import: batch of {} committed in {:?}",
                        stored.len(),
                        started.elapsed()
                    );
                }
                Ok(())
            })
            .map_err(|e| format!("cannot start the writer thread: {e}"))?
    };

    let mut reader = Reader {
        tx,
        ids,
        batch: None,
        batch_bytes: 0,
        failed: std::mem::take(&mut plan.failed),
        bytes: 0,
        messages: 0,
        progress: Progress::new(plan.total_bytes, counters.clone()),
        broken: false,
    };
    let mut interrupted = false;
    for item in &plan.items {
        if stop.load(Ordering::Relaxed) {
            interrupted = true;
            break;
        }
        reader.item(item, stop);
        if reader.broken {
            break;
        }
    }
    interrupted |= stop.load(Ordering::Relaxed) && !reader.broken;
    reader.flush();
    reader.progress.finish();
    let Reader {
        tx, failed, bytes, ..
    } = reader;
    drop(tx);
    let written = writer
        .join()
        .map_err(|_| "the writer thread panicked".to_string())?;
    written?;
    Ok(Summary {
        imported: counters.imported.load(Ordering::Relaxed),
        skipped: counters.skipped.load(Ordering::Relaxed),
        failed,
        bytes,
        elapsed: started.elapsed(),
        interrupted,
    })
}

/// The reading side: files → messages → batches.
struct Reader {
    tx: SyncSender<Batch>,
    ids: Vec<MailboxId>,
    batch: Option<Batch>,
    batch_bytes: usize,
    failed: Vec<(String, String)>,
    bytes: u64,
    messages: u64,
    progress: Progress,
    /// The writer has stopped (a database error, returned from its join).
    broken: bool,
}

impl Reader {
    fn fail(&mut self, what: String, why: impl Into<String>) {
        let why = why.into();
        log::debug!("import: {what}: {why}");
        self.failed.push((what, why));
    }

    fn item(&mut self, item: &Item, stop: &AtomicBool) {
        let what = item.path.display().to_string();
        let mut file = match File::open(&item.path) {
            Ok(f) => f,
            Err(e) => return self.fail(what, format!("cannot read: {e}")),
        };
        let meta = file.metadata().ok();
        let mtime = meta.as_ref().and_then(|m| m.modified().ok());
        let size = meta.as_ref().map(|m| m.len()).unwrap_or(0);
        if let Some((timestamp, flags)) = &item.maildir {
            if size > MAX_MESSAGE as u64 {
                self.bytes += size;
                return self.fail(what, format!("too large ({size} bytes)"));
            }
            let mut raw = Vec::with_capacity(size as usize);
            if let Err(e) = file.read_to_end(&mut raw) {
                return self.fail(what, format!("cannot read: {e}"));
            }
            self.bytes += raw.len() as u64;
            let hint = timestamp.and_then(local_time);
            self.message(item.folder, what, raw, flags.clone(), hint, mtime);
            return;
        }
        let mut buf = BufReader::with_capacity(1 << 20, file);
        let is_mbox = match buf.fill_buf() {
            Ok(head) => head.starts_with(b"From "),
            Err(e) => return self.fail(what, format!("cannot read: {e}")),
        };
        if is_mbox {
            return self.mbox(item, what, buf, mtime, stop);
        }
        if size > MAX_MESSAGE as u64 {
            self.bytes += size;
            return self.fail(what, format!("too large ({size} bytes)"));
        }
        let mut raw = Vec::with_capacity(size as usize);
        if let Err(e) = buf.read_to_end(&mut raw) {
            return self.fail(what, format!("cannot read: {e}"));
        }
        self.bytes += raw.len() as u64;
        self.message(item.folder, what, raw, Vec::new(), None, mtime);
    }

    fn mbox(
        &mut self,
        item: &Item,
        what: String,
        buf: BufReader<File>,
        mtime: Option<SystemTime>,
        stop: &AtomicBool,
    ) {
        let mut reader = MboxReader::new(buf, MAX_MESSAGE);
        let mut n = 0u64;
        loop {
            if stop.load(Ordering::Relaxed) || self.broken {
                return;
            }
            let before = reader.consumed;
            let next = reader.next_message();
            self.bytes += reader.consumed - before;
            let m = match next {
                Ok(Some(m)) => m,
                Ok(None) => return,
                Err(e) => {
                    return self.fail(
                        format!("{what} (after message {n})"),
                        format!("cannot read: {e}"),
                    )
                }
            };
            n += 1;
            let label = format!("{what} (message {n})");
            if m.oversized {
                self.fail(label, format!("too large (over {MAX_MESSAGE} bytes)"));
                continue;
            }
            let hint = from_line_date(&m.from_line);
            self.message(item.folder, label, m.raw, Vec::new(), hint, mtime);
        }
    }

    fn message(
        &mut self,
        folder: usize,
        what: String,
        raw: Vec<u8>,
        flags: Vec<String>,
        hint: Option<DateTime<FixedOffset>>,
        mtime: Option<SystemTime>,
    ) {
        if let Err(why) = looks_like_message(&raw) {
            return self.fail(what, why);
        }
        let raw = match crate::mime::normalize_crlf(&raw) {
            std::borrow::Cow::Borrowed(_) => raw,
            std::borrow::Cow::Owned(v) => v,
        };
        let date = internal_date(&raw, hint, mtime);
        let len = raw.len();
        let msg = crate::message::prepare(raw, flags, Some(date));
        let mailbox = self.ids[folder];
        if self.batch.as_ref().is_some_and(|b| b.mailbox != mailbox) {
            self.flush();
        }
        let batch = self.batch.get_or_insert_with(|| Batch {
            mailbox,
            msgs: Vec::new(),
        });
        batch.msgs.push(msg);
        self.batch_bytes += len;
        self.messages += 1;
        if batch.msgs.len() >= BATCH_MESSAGES || self.batch_bytes >= BATCH_BYTES {
            self.flush();
        }
        self.progress.update(self.messages, self.bytes);
    }

    fn flush(&mut self) {
        self.batch_bytes = 0;
        if let Some(b) = self.batch.take() {
            if !b.msgs.is_empty() && self.tx.send(b).is_err() {
                self.broken = true;
            }
        }
    }
}

/// A progress bar on a terminal; a log line every two seconds otherwise.
struct Progress {
    bar: Option<indicatif::ProgressBar>,
    total: u64,
    counters: Arc<Counters>,
    started: Instant,
    last: Instant,
}

impl Progress {
    fn new(total: u64, counters: Arc<Counters>) -> Self {
        let bar = std::io::stderr().is_terminal().then(|| {
            let bar = indicatif::ProgressBar::new(total);
            let style = indicatif::ProgressStyle::with_template(
                "{elapsed_precise} [{wide_bar}] {binary_bytes}/{binary_total_bytes} {binary_bytes_per_sec} ETA {eta} {msg}",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar());
            bar.set_style(style.progress_chars("=> "));
            bar
        });
        Progress {
            bar,
            total,
            counters,
            started: Instant::now(),
            last: Instant::now(),
        }
    }

    fn update(&mut self, messages: u64, bytes: u64) {
        let now = Instant::now();
        if let Some(bar) = &self.bar {
            bar.set_position(bytes);
            if now.duration_since(self.last) >= Duration::from_millis(100) {
                self.last = now;
                bar.set_message(format!(
                    "{messages} messages ({} new, {} skipped)",
                    self.counters.imported.load(Ordering::Relaxed),
                    self.counters.skipped.load(Ordering::Relaxed)
                ));
            }
            return;
        }
        if now.duration_since(self.last) < Duration::from_secs(2) {
            return;
        }
        self.last = now;
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        let rate = bytes as f64 / secs;
        let eta = if rate > 0.0 {
            format!("{:.0} s", (self.total.saturating_sub(bytes)) as f64 / rate)
        } else {
            "?".into()
        };
        log::info!(
            "import: {messages} messages read ({} new, {} skipped), {:.1} of {:.1} MB ({:.0}%), {:.1} MB/s, {:.0} messages/s, ETA {eta}",
            self.counters.imported.load(Ordering::Relaxed),
            self.counters.skipped.load(Ordering::Relaxed),
            bytes as f64 / 1e6,
            self.total as f64 / 1e6,
            if self.total > 0 { bytes as f64 * 100.0 / self.total as f64 } else { 100.0 },
            rate / 1e6,
            messages as f64 / secs,
        );
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_shapes() {
        assert!(looks_like_message(b"Subject: x\r\n\r\nhi").is_ok());
        assert!(looks_like_message(b"X-Odd-Name : x\n\nhi").is_ok());
        assert!(looks_like_message(b"\r\nbody only").is_ok());
        assert_eq!(looks_like_message(b""), Err("empty"));
        assert_eq!(looks_like_message(b" \n\n"), Err("empty"));
        assert!(looks_like_message(b"\x89PNG\r\n\x1a\n\0\0").is_err());
        assert!(looks_like_message(b"just some text: here\n").is_err());
    }

    #[test]
    fn date_order() {
        let raw = b"Received: from a by b; Tue, 8 Feb 1994 10:00:00 +0000\r\nReceived: from c; Mon, 7 Feb 1994 00:00:00 +0000\r\nDate: Sun, 6 Feb 1994 00:00:00 +0000\r\n\r\n";
        let hint = crate::message::internal_date(1_000_000_000, 0);
        assert_eq!(internal_date(raw, Some(hint), None), hint);
        assert_eq!(internal_date(raw, None, None).timestamp(), 760701600);
        let raw = b"Received: no date here\r\nDate: Sun, 6 Feb 1994 00:00:00 +0100\r\n\r\n";
        assert_eq!(internal_date(raw, None, None).timestamp(), 760489200);
        let mtime = SystemTime::UNIX_EPOCH + Duration::from_secs(1_234_567_890);
        assert_eq!(
            internal_date(b"Subject: x\r\n\r\n", None, Some(mtime)).timestamp(),
            1_234_567_890
        );
    }

    #[test]
    fn mailbox_names() {
        assert_eq!(normalize_mailbox("inbox").unwrap(), "INBOX");
        assert_eq!(normalize_mailbox("Inbox/a").unwrap(), "INBOX/a");
        assert_eq!(normalize_mailbox("Inboxes").unwrap(), "Inboxes");
        assert!(normalize_mailbox("a//b").is_err());
        assert!(normalize_mailbox("../etc").is_err());
        assert!(normalize_mailbox("bad*name").is_err());
        assert!(normalize_mailbox("&Jjo").is_err());
        assert_eq!(subfolder_name("INBOX", "Sent"), "Sent");
        assert_eq!(subfolder_name("old", "a/b"), "old/a/b");
    }
}
