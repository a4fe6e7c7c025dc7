//! `liteimap migrate --from A --to B`: copy every user, folder and message from one store to
//! another (SQLite or PostgreSQL, either way) with their UIDVALIDITY, UIDs, modseqs, dates,
//! flags and object ids, so that clients keep their caches; through the store's export and
//! import calls only (`store::transfer`).
//!
//! - Resumable: the target is marked with the source's OBJECTID key when the copy begins and
//!   unmarked when the final check passes. A marked target is where an interrupted run left
//!   off: users and folders already there are reused, and each folder's copy goes on after the
//!   highest UID it holds (pages are whole transactions, so no message is half there or twice).
//! - Bounded memory: pages of at most `page_messages` messages and `page_bytes` bytes (one
//!   message is always held whole: its parse needs all of it).
//! - Checked: at the end users, folders, and per folder the UIDVALIDITY, UIDNEXT,
//!   HIGHESTMODSEQ, message count and bytes must be equal on both sides.

use std::time::Instant;

use crate::store::{ExactMessage, MailboxExport, MailboxId, Store, StoreError};

/// How `run` pages and stops.
#[derive(Clone, Copy, Debug)]
pub struct Options {
    /// Messages per page (one read of the source, one transaction in the target).
    pub page_messages: usize,
    /// Bytes per page (a page ends after the message that reaches it).
    pub page_bytes: usize,
    /// Stop (as if interrupted) once this many messages were copied in this run.
    pub limit: Option<u64>,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            page_messages: 500,
            page_bytes: 16 << 20,
            limit: None,
        }
    }
}

/// What a run copied (this run only: a resumed run does not count what was there).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Copied {
    pub users: u64,
    pub folders: u64,
    pub messages: u64,
    pub bytes: u64,
}

/// How a run ended.
#[derive(Debug)]
pub enum Outcome {
    /// Everything copied and checked; the target is unmarked and ready to serve.
    Done(Copied),
    /// Stopped at `Options::limit`; run again to go on.
    Stopped(Copied),
}

/// Why a run failed.
#[derive(Debug)]
pub enum Error {
    /// The target cannot be used (not empty, the same database, another migration's).
    Refused(String),
    /// A store call failed.
    Store(String, StoreError),
    /// The final check found differences (one line each).
    Differs(Vec<String>),
}

impl std::fmt::Display for Error {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Error::Refused(why) => write!(f, "{why}"),
            Error::Store(what, e) => write!(f, "{what}: {e}"),
            Error::Differs(lines) => write!(
                f,
                "the check after copying found {} difference(s):\n  {}",
                lines.len(),
                lines.join("\n  ")
            ),
        }
    }
}

fn at(what: impl FnOnce() -> String) -> impl FnOnce(StoreError) -> Error {
    move |e| Error::Store(what(), e)
}

/// Copy `from` into `to`. `say` gets the progress lines (the CLI prints them on stderr).
pub fn run(
    from: &Store,
    to: &Store,
    opts: Options,
    say: &mut dyn FnMut(&str),
) -> Result<Outcome, Error> {
    let source_key = from
        .object_id_key()
        .map_err(at(|| "reading the source".into()))?;
    if from
        .migration()
        .map_err(at(|| "reading the source".into()))?
        .is_some()
    {
        return Err(Error::Refused(
            "the source is the target of an unfinished migration; finish that one first".into(),
        ));
    }
    match to.migration().map_err(at(|| "reading the target".into()))? {
        Some(k) if k == source_key => {
            say("migrate: the target holds an interrupted copy of this source; going on")
        }
        Some(_) => {
            return Err(Error::Refused(
                "the target is the unfinished migration of another database".into(),
            ))
        }
        None => {
            let target_key = to
                .object_id_key()
                .map_err(at(|| "reading the target".into()))?;
            if target_key == source_key {
                return Err(Error::Refused(
                    "the target is a finished copy of this source, or the same database".into(),
                ));
            }
            let users = to
                .user_count()
                .map_err(at(|| "reading the target".into()))?;
            if users > 0 {
                return Err(Error::Refused(format!(
                    "the target already holds data ({users} user(s)); give an empty database"
                )));
            }
            to.set_migration(Some(&source_key))
                .map_err(at(|| "marking the target".into()))?;
        }
    }
    let mut progress = Progress::new(from)?;
    say(&format!(
        "migrate: {} users, {} folders, {} messages, {} to copy",
        progress.total.users,
        progress.total.folders,
        progress.total.messages,
        mb(progress.total.bytes)
    ));
    for user in from
        .export_users()
        .map_err(at(|| "listing the users".into()))?
    {
        let name = user.name.clone();
        let err = |what: &str| {
            let what = format!("{what} of user {name}");
            at(move || what)
        };
        let src = from
            .find_user(&name)
            .map_err(err("reading"))?
            .ok_or_else(|| Error::Refused(format!("user {name} vanished from the source")))?
            .id;
        let dst = to.import_user(&user).map_err(err("creating"))?;
        for cap in from.withheld_capabilities(src).map_err(err("reading"))? {
            to.set_capability_withheld(&name, &cap, true)
                .map_err(err("withholding capabilities"))?;
        }
        let limits = from.quota(src).map_err(err("reading the quota"))?.limits;
        to.set_quota(&name, limits)
            .map_err(err("setting the quota"))?;
        for sub in from.subscriptions(src).map_err(err("reading"))? {
            to.subscribe(dst, &sub).map_err(err("subscribing"))?;
        }
        for mb in from
            .export_mailboxes(src)
            .map_err(err("reading the folders"))?
        {
            let target = to
                .import_mailbox(dst, &mb)
                .map_err(err(&format!("creating folder {}", mb.name)))?;
            if copy_folder(from, to, &name, &mb, target, &opts, &mut progress, say)? {
                return Ok(Outcome::Stopped(progress.copied));
            }
            progress.copied.folders += 1;
        }
        let entries = from.export_metadata(src).map_err(err("reading metadata"))?;
        to.import_metadata(dst, &entries)
            .map_err(err("writing metadata"))?;
        progress.copied.users += 1;
    }
    let differences = compare(from, to)?;
    if !differences.is_empty() {
        return Err(Error::Differs(differences));
    }
    to.set_migration(None)
        .map_err(at(|| "unmarking the target".into()))?;
    let secs = progress.started.elapsed().as_secs_f64();
    say(&format!(
        "migrate: done in {secs:.1} s: {} users, {} folders, {} messages, {} copied in this run; checked: users, folders, UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, messages and bytes per folder are equal",
        progress.copied.users,
        progress.copied.folders,
        progress.copied.messages,
        mb(progress.copied.bytes)
    ));
    Ok(Outcome::Done(progress.copied))
}

/// Totals of the source and what was copied so far, for the progress lines.
struct Progress {
    total: Copied,
    copied: Copied,
    started: Instant,
    last_line: Instant,
}

impl Progress {
    fn new(from: &Store) -> Result<Progress, Error> {
        let mut total = Copied::default();
        let reading = || at(|| "counting the source".into());
        for (name, _) in from.list_users().map_err(reading())? {
            total.users += 1;
            let Some(u) = from.find_user(&name).map_err(reading())? else {
                continue;
            };
            for mb in from.mailboxes(u.id).map_err(reading())? {
                total.folders += 1;
                let c = from.counts(mb.id).map_err(reading())?;
                total.messages += u64::from(c.messages);
                total.bytes += c.size;
            }
        }
        let now = Instant::now();
        Ok(Progress {
            total,
            copied: Copied::default(),
            started: now,
            last_line: now,
        })
    }

    fn line(&self, user: &str, folder: &str) -> String {
        let secs = self.started.elapsed().as_secs_f64().max(1e-3);
        format!(
            "migrate: {user}/{folder}: users {}/{}, folders {}/{}, messages {}/{}, {} of {}, {:.0} messages/s, {:.1} MB/s",
            self.copied.users,
            self.total.users,
            self.copied.folders,
            self.total.folders,
            self.copied.messages,
            self.total.messages,
            mb(self.copied.bytes),
            mb(self.total.bytes),
            self.copied.messages as f64 / secs,
            self.copied.bytes as f64 / secs / 1e6,
        )
    }
}

fn mb(bytes: u64) -> String {
    format!("{:.1} MB", bytes as f64 / 1e6)
}

/// Copy one folder's messages after the highest UID the target holds, then its expunged
/// UIDs. True when the run stopped at its limit.
#[allow(clippy::too_many_arguments)]
fn copy_folder(
    from: &Store,
    to: &Store,
    user: &str,
    mb: &MailboxExport,
    target: MailboxId,
    opts: &Options,
    progress: &mut Progress,
    say: &mut dyn FnMut(&str),
) -> Result<bool, Error> {
    let source = MailboxId(mb.id);
    let what = |verb: &str| {
        let what = format!("{verb} {user}/{}", mb.name);
        at(move || what)
    };
    let mut after = to.max_uid(target).map_err(what("reading"))?;
    let mut first = true;
    loop {
        if let Some(limit) = opts.limit {
            if progress.copied.messages >= limit {
                say(&format!(
                    "migrate: stopped after {} messages (--limit); run the same command again to go on",
                    progress.copied.messages
                ));
                return Ok(true);
            }
        }
        let page_size = match opts.limit {
            Some(limit) => opts
                .page_messages
                .min(usize::try_from(limit - progress.copied.messages).unwrap_or(usize::MAX)),
            None => opts.page_messages,
        };
        let page = from
            .export_messages(source, after, page_size, opts.page_bytes)
            .map_err(what("reading messages of"))?;
        let Some(last) = page.last() else {
            break;
        };
        after = last.uid;
        if std::mem::take(&mut first) {
            say(&progress.line(user, &mb.name));
        }
        let mut bytes = 0u64;
        let batch: Vec<ExactMessage> = page
            .into_iter()
            .map(|m| {
                bytes += m.raw.len() as u64;
                let date = crate::message::internal_date(m.internal_date, m.date_offset);
                let mut msg = crate::message::prepare(m.raw, m.flags, Some(date));
                msg.internal_date = m.internal_date;
                msg.date_offset = m.date_offset;
                ExactMessage {
                    uid: m.uid,
                    modseq: m.modseq,
                    save_date: m.save_date,
                    email_id: m.email_id,
                    thread_id: m.thread_id,
                    msg,
                }
            })
            .collect();
        to.import_exact(target, &batch)
            .map_err(what("writing messages of"))?;
        progress.copied.messages += batch.len() as u64;
        progress.copied.bytes += bytes;
        if progress.last_line.elapsed().as_secs() >= 2 {
            progress.last_line = Instant::now();
            say(&progress.line(user, &mb.name));
        }
    }
    let mut after = 0;
    loop {
        let rows = from
            .export_expunged(source, after, 10_000)
            .map_err(what("reading expunged UIDs of"))?;
        let Some(&(last, _)) = rows.last() else {
            break;
        };
        to.import_expunged(target, &rows)
            .map_err(what("writing expunged UIDs of"))?;
        after = last;
    }
    Ok(false)
}

/// Users, folders and per folder UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ, messages and bytes:
/// one line per difference.
fn compare(from: &Store, to: &Store) -> Result<Vec<String>, Error> {
    let mut out = Vec::new();
    let reading = || at(|| "checking".into());
    // Sorted here: a PostgreSQL collation may order names unlike SQLite.
    let mut a = from.list_users().map_err(reading())?;
    let mut b = to.list_users().map_err(reading())?;
    a.sort();
    b.sort();
    let names = |v: &[(String, u64)]| v.iter().map(|(n, _)| n.clone()).collect::<Vec<_>>();
    if names(&a) != names(&b) {
        out.push(format!(
            "users: source {} ({}), target {} ({})",
            a.len(),
            names(&a).join(" "),
            b.len(),
            names(&b).join(" ")
        ));
        return Ok(out);
    }
    for (name, _) in &a {
        let (Some(ua), Some(ub)) = (
            from.find_user(name).map_err(reading())?,
            to.find_user(name).map_err(reading())?,
        ) else {
            out.push(format!("user {name}: missing"));
            continue;
        };
        if ua.password_hash != ub.password_hash {
            out.push(format!("user {name}: password hash differs"));
        }
        let mut fa = from.mailboxes(ua.id).map_err(reading())?;
        let mut fb = to.mailboxes(ub.id).map_err(reading())?;
        fa.sort_by(|x, y| x.name.cmp(&y.name));
        fb.sort_by(|x, y| x.name.cmp(&y.name));
        let folder_names =
            |v: &[crate::store::MailboxRow]| v.iter().map(|m| m.name.clone()).collect::<Vec<_>>();
        if folder_names(&fa) != folder_names(&fb) {
            out.push(format!(
                "user {name}: folders differ: source {:?}, target {:?}",
                folder_names(&fa),
                folder_names(&fb)
            ));
            continue;
        }
        for (x, y) in fa.iter().zip(&fb) {
            let cx = from.counts(x.id).map_err(reading())?;
            let cy = to.counts(y.id).map_err(reading())?;
            let mut diff = |what: &str, p: String, q: String| {
                if p != q {
                    out.push(format!("{name}/{}: {what}: source {p}, target {q}", x.name));
                }
            };
            diff(
                "UIDVALIDITY",
                x.uidvalidity.to_string(),
                y.uidvalidity.to_string(),
            );
            diff("UIDNEXT", x.uidnext.to_string(), y.uidnext.to_string());
            diff(
                "HIGHESTMODSEQ",
                x.highest_modseq.to_string(),
                y.highest_modseq.to_string(),
            );
            diff("messages", cx.messages.to_string(), cy.messages.to_string());
            diff("bytes", cx.size.to_string(), cy.size.to_string());
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Dir(std::path::PathBuf);

    impl Drop for Dir {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    #[test]
    fn the_final_check_names_every_difference() {
        let dir =
            Dir(std::env::temp_dir().join(format!("liteimap-migrate-{}", std::process::id())));
        std::fs::create_dir_all(&dir.0).unwrap();
        let from = Store::open(&dir.0.join("a.db")).unwrap();
        let to = Store::open(&dir.0.join("b.db")).unwrap();
        let user = from.create_user("alice", "hash").unwrap();
        let inbox = from.mailbox(user, "INBOX").unwrap().unwrap().id;
        let m = || crate::message::prepare(b"Subject: x\r\n\r\nbody\r\n".to_vec(), vec![], None);
        from.append(inbox, &[m()]).unwrap();
        let mut lines = Vec::new();
        let done = run(&from, &to, Options::default(), &mut |l| {
            lines.push(l.to_string())
        });
        assert!(
            matches!(done, Ok(Outcome::Done(c)) if c.messages == 1 && c.folders == 6),
            "{done:?}"
        );
        assert!(compare(&from, &to).unwrap().is_empty());

        let target = to.find_user("alice").unwrap().unwrap().id;
        let copy = to.mailbox(target, "INBOX").unwrap().unwrap().id;
        to.append(copy, &[m()]).unwrap();
        to.create_mailbox(target, "Extra").unwrap();
        assert_eq!(
            compare(&from, &to).unwrap(),
            vec![format!(
                "user alice: folders differ: source {:?}, target {:?}",
                ["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"],
                ["Archive", "Drafts", "Extra", "INBOX", "Junk", "Sent", "Trash"]
            )]
        );
        to.delete_mailbox(target, "Extra").unwrap();
        assert_eq!(
            compare(&from, &to).unwrap(),
            vec![
                "alice/INBOX: UIDNEXT: source 2, target 3".to_string(),
                "alice/INBOX: HIGHESTMODSEQ: source 2, target 3".to_string(),
                "alice/INBOX: messages: source 1, target 2".to_string(),
                "alice/INBOX: bytes: source 20, target 40".to_string(),
            ]
        );
    }
}
