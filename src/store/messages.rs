//! Messages, flags, expunges and the per-mailbox change log (modseq).
//!
//! Every change to a mailbox takes the mailbox's next modseq inside its transaction; all rows a
//! transaction touches share that modseq, which the call returns so that the session that made
//! the change can recognise it and not report it to itself twice.

use std::collections::HashMap;

use blake2::{Blake2b512, Digest};
use rusqlite::{params, Connection, OptionalExtension};

use super::holds::{Holds, ViewHold, ViewId};
use super::mailboxes::{mailbox_by_id, MailboxRow};
use super::sortkeys::store_sort_keys;
use super::{quota, MailboxId, Result, SqliteStore, StoreError, Transaction, UserId};
use crate::mime::SortFields;

/// A message to be stored. `parsed` is the MIME layer's serialized parse of `raw`.
pub struct NewMessage {
    pub raw: Vec<u8>,
    pub parsed: Vec<u8>,
    pub flags: Vec<String>,
    /// Unix seconds.
    pub internal_date: i64,
    /// Seconds east of UTC of the zone the date was given in.
    pub date_offset: i32,
    /// Preview and thread references, derived from the bytes (OBJECTID, PREVIEW).
    pub fields: super::StoreTimeFields,
    /// What SORT and THREAD compare, kept with the body (`message::prepare` computes it).
    pub sort: SortFields,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AppendedMessage {
    pub uidvalidity: u32,
    pub uid: u32,
    pub modseq: u64,
}

/// What SELECT/EXAMINE needs to build a session's view.
#[derive(Clone, Debug)]
pub struct SelectSnapshot {
    pub mailbox: MailboxRow,
    /// All UIDs, ascending: the session's sequence numbers.
    pub uids: Vec<u32>,
    /// UIDs that are \Recent in this session.
    pub recent: Vec<u32>,
    /// The lowest UID without \Seen.
    pub first_unseen: Option<u32>,
    /// Keywords used by any message of the mailbox (for the FLAGS response).
    pub keywords: Vec<String>,
    /// The mailbox's MAILBOXID (RFC 8474), read with the rest.
    pub object_id: String,
}

/// What STATUS reports of a mailbox.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct MailboxCounts {
    pub messages: u32,
    /// Messages no session has claimed as \Recent yet.
    pub recent: u32,
    /// Messages without \Seen.
    pub unseen: u32,
    /// Messages with \Deleted (STATUS DELETED, RFC 9051).
    pub deleted: u32,
    /// The octets an EXPUNGE would free: the sizes of those messages (STATUS DELETED-STORAGE,
    /// RFC 9208 §4.4).
    pub deleted_size: u64,
    /// The sum of the messages' sizes (STATUS SIZE, RFC 8438).
    pub size: u64,
}

/// One message's metadata, as FETCH needs it.
#[derive(Clone, Debug)]
pub struct MessageMeta {
    pub uid: u32,
    pub body_id: i64,
    pub size: u32,
    pub internal_date: i64,
    pub date_offset: i32,
    pub modseq: u64,
    pub flags: Vec<String>,
}

/// A message as FETCH reads it (see `SqliteStore::fetch_rows`).
#[derive(Clone, Debug)]
pub struct FetchRow {
    pub meta: MessageMeta,
    /// The MIME layer's cached parse, when asked for.
    pub parsed: Option<Vec<u8>>,
    /// The raw message, when asked for and small enough.
    pub raw: Option<Vec<u8>>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FlagOp {
    Replace,
    Add,
    Remove,
}

/// The result of a flag change: for each message, its UID, its flags afterwards and whether
/// they changed.
#[derive(Clone, Debug)]
pub struct FlagChange {
    pub uid: u32,
    pub flags: Vec<String>,
    pub changed: bool,
    /// The message's modseq afterwards (the change's when `changed`, its own otherwise).
    pub modseq: u64,
}

/// What a conditional flag change did (RFC 7162 `UNCHANGEDSINCE`).
#[derive(Clone, Debug, Default)]
pub struct FlagStore {
    /// The modseq the change took.
    pub modseq: u64,
    /// The messages it applied to, ascending by UID.
    pub changes: Vec<FlagChange>,
    /// The UIDs left alone because they changed after the given modseq, ascending.
    pub modified: Vec<u32>,
}

/// What changed in a mailbox since a modseq.
#[derive(Clone, Debug, Default)]
pub struct Changes {
    pub highest_modseq: u64,
    /// UIDs removed, ascending.
    pub expunged: Vec<u32>,
    /// Messages added or changed, ascending by UID, with their modseq and current flags.
    pub changed: Vec<(u32, u64, Vec<String>)>,
}

/// A SEARCH condition the store answers in SQL (flags, internal dates, sizes); text keys are
/// the MIME layer's job. Dates are calendar days of the internal date in the zone it was given
/// in, as RFC 3501 asks ("disregarding time and timezone").
#[derive(Clone, Debug, PartialEq)]
pub enum Cond {
    All,
    HasFlag(String),
    DateBefore(chrono::NaiveDate),
    DateOn(chrono::NaiveDate),
    DateSince(chrono::NaiveDate),
    /// Internal date at or after this instant (unix seconds).
    After(i64),
    /// Internal date before this instant (unix seconds).
    Before(i64),
    Larger(u32),
    Smaller(u32),
    /// The message's modseq is at least this (RFC 7162 `SEARCH MODSEQ`).
    ModSeqAtLeast(u64),
    /// OBJECTID (RFC 8474) and SAVEDATE (RFC 8514) keys. Answered in SQL only: a search that
    /// nests one under a text key resolves it to UIDs first (`needs_sql`).
    EmailId(String),
    ThreadId(String),
    /// Calendar days of the save date, in the server's zone.
    SavedBefore(chrono::NaiveDate),
    SavedOn(chrono::NaiveDate),
    SavedSince(chrono::NaiveDate),
    Not(Box<Cond>),
    And(Vec<Cond>),
    Or(Box<Cond>, Box<Cond>),
}

impl Cond {
    /// The SQL expression over `m` (messages) and `d` (bodies), with its parameters appended.
    fn sql(&self, params: &mut Vec<rusqlite::types::Value>) -> String {
        use rusqlite::types::Value;
        let day = "date(m.internal_date + m.date_offset, 'unixepoch')";
        match self {
            Cond::All => "1".into(),
            Cond::HasFlag(f) => {
                params.push(Value::Text(f.clone()));
                "EXISTS (SELECT 1 FROM flags f WHERE f.message_id = m.id AND f.flag = ?)".into()
            }
            Cond::DateBefore(d) => {
                params.push(Value::Text(d.format("%Y-%m-%d").to_string()));
                format!("{day} < ?")
            }
            Cond::DateOn(d) => {
                params.push(Value::Text(d.format("%Y-%m-%d").to_string()));
                format!("{day} = ?")
            }
            Cond::DateSince(d) => {
                params.push(Value::Text(d.format("%Y-%m-%d").to_string()));
                format!("{day} >= ?")
            }
            Cond::After(t) => {
                params.push(Value::Integer(*t));
                "m.internal_date >= ?".into()
            }
            Cond::Before(t) => {
                params.push(Value::Integer(*t));
                "m.internal_date < ?".into()
            }
            Cond::Larger(n) => {
                params.push(Value::Integer(*n as i64));
                "m.size > ?".into()
            }
            Cond::Smaller(n) => {
                params.push(Value::Integer(*n as i64));
                "m.size < ?".into()
            }
            Cond::ModSeqAtLeast(n) => {
                params.push(Value::Integer(i64::try_from(*n).unwrap_or(i64::MAX)));
                "m.modseq >= ?".into()
            }
            Cond::EmailId(id) => {
                params.push(Value::Text(id.clone()));
                "d.email_id = ?".into()
            }
            Cond::ThreadId(id) => {
                params.push(Value::Text(id.clone()));
                "d.thread_id = ?".into()
            }
            Cond::SavedBefore(d) | Cond::SavedOn(d) | Cond::SavedSince(d) => {
                params.push(Value::Text(d.format("%Y-%m-%d").to_string()));
                let op = match self {
                    Cond::SavedBefore(_) => "<",
                    Cond::SavedOn(_) => "=",
                    _ => ">=",
                };
                format!("date(m.save_date, 'unixepoch', 'localtime') {op} ?")
            }
            Cond::Not(c) => format!("NOT ({})", c.sql(params)),
            Cond::And(cs) if cs.is_empty() => "1".into(),
            Cond::And(cs) => cs
                .iter()
                .map(|c| format!("({})", c.sql(params)))
                .collect::<Vec<_>>()
                .join(" AND "),
            Cond::Or(a, b) => format!("({}) OR ({})", a.sql(params), b.sql(params)),
        }
    }

    /// Whether the condition looks at the message's size.
    pub fn needs_size(&self) -> bool {
        match self {
            Cond::Larger(_) | Cond::Smaller(_) => true,
            Cond::Not(c) => c.needs_size(),
            Cond::And(cs) => cs.iter().any(Cond::needs_size),
            Cond::Or(a, b) => a.needs_size() || b.needs_size(),
            _ => false,
        }
    }

    /// Whether the condition looks at the body's row (in SQL: the bodies table `d`), as the
    /// OBJECTID keys do.
    fn needs_body_row(&self) -> bool {
        match self {
            Cond::EmailId(_) | Cond::ThreadId(_) => true,
            Cond::Not(c) => c.needs_body_row(),
            Cond::And(cs) => cs.iter().any(Cond::needs_body_row),
            Cond::Or(a, b) => a.needs_body_row() || b.needs_body_row(),
            _ => false,
        }
    }

    /// Whether only SQL can answer the condition (`matches` cannot: the metadata lacks it).
    pub fn needs_sql(&self) -> bool {
        match self {
            Cond::EmailId(_)
            | Cond::ThreadId(_)
            | Cond::SavedBefore(_)
            | Cond::SavedOn(_)
            | Cond::SavedSince(_) => true,
            Cond::Not(c) => c.needs_sql(),
            Cond::And(cs) => cs.iter().any(Cond::needs_sql),
            Cond::Or(a, b) => a.needs_sql() || b.needs_sql(),
            _ => false,
        }
    }

    /// The same condition evaluated on one message's metadata (for conditions nested under a
    /// text key, which SQL cannot answer). Not for a condition that `needs_sql`.
    pub fn matches(&self, m: &MessageMeta) -> bool {
        let day = || crate::message::internal_date(m.internal_date, m.date_offset).date_naive();
        match self {
            Cond::All => true,
            Cond::HasFlag(f) => m.flags.iter().any(|x| x.eq_ignore_ascii_case(f)),
            Cond::DateBefore(d) => day() < *d,
            Cond::DateOn(d) => day() == *d,
            Cond::DateSince(d) => day() >= *d,
            Cond::After(t) => m.internal_date >= *t,
            Cond::Before(t) => m.internal_date < *t,
            Cond::Larger(n) => m.size > *n,
            Cond::Smaller(n) => m.size < *n,
            Cond::ModSeqAtLeast(n) => m.modseq >= *n,
            // Resolved to UIDs by SQL before any per-message evaluation (see `needs_sql`).
            Cond::EmailId(_)
            | Cond::ThreadId(_)
            | Cond::SavedBefore(_)
            | Cond::SavedOn(_)
            | Cond::SavedSince(_) => false,
            Cond::Not(c) => !c.matches(m),
            Cond::And(cs) => cs.iter().all(|c| c.matches(m)),
            Cond::Or(a, b) => a.matches(m) || b.matches(m),
        }
    }
}

/// Take the mailbox's next modseq (the same for every row this transaction touches).
fn bump_modseq(tx: &Transaction, mailbox: MailboxId) -> Result<u64> {
    let m: i64 = tx
        .prepare_cached(
            "UPDATE mailboxes SET highest_modseq = highest_modseq + 1 WHERE id = ?1 RETURNING highest_modseq",
        )?
        .query_row([mailbox.0], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::NotFound("mailbox no longer exists".into()))?;
    super::mark_changed_at(mailbox, m as u64);
    Ok(m as u64)
}

pub(crate) fn content_hash(raw: &[u8]) -> Vec<u8> {
    let mut h = Blake2b512::new();
    h.update(raw);
    h.finalize()[..32].to_vec()
}

/// The user whose mailbox this is: bodies are shared only among that user's messages.
pub(crate) fn owner(tx: &Transaction, mailbox: MailboxId) -> Result<i64> {
    tx.prepare_cached("SELECT user_id FROM mailboxes WHERE id = ?1")?
        .query_row([mailbox.0], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::NotFound("mailbox no longer exists".into()))
}

fn owner_id(tx: &Transaction, mailbox: MailboxId) -> Result<UserId> {
    owner(tx, mailbox).map(UserId)
}

/// `append` within the owner's quota.
fn guarded_append(
    tx: &Transaction,
    mailbox: MailboxId,
    msgs: &[NewMessage],
) -> Result<Vec<AppendedMessage>> {
    quota::guarded(tx, owner_id(tx, mailbox)?, || append(tx, mailbox, msgs))
}

/// Store the body once per user; the same bytes appended again by that user are shared.
fn insert_body(tx: &Transaction, user: i64, m: &NewMessage) -> Result<i64> {
    insert_hashed_body(tx, user, &content_hash(&m.raw), m)
}

/// Never shared across users: finding another user's copy would make an APPEND measurably
/// faster, which tells the appender that someone else holds exactly this message.
pub(crate) fn insert_hashed_body(
    tx: &Transaction,
    user: i64,
    hash: &[u8],
    m: &NewMessage,
) -> Result<i64> {
    if let Some(id) = tx
        .prepare_cached("SELECT id FROM bodies WHERE user_id = ?1 AND hash = ?2")?
        .query_row(params![user, hash], |r| r.get(0))
        .optional()?
    {
        return Ok(id);
    }
    tx.prepare_cached("INSERT INTO bodies (user_id, hash, size, parsed) VALUES (?1, ?2, ?3, ?4)")?
        .execute(params![user, hash, m.raw.len() as i64, m.parsed])?;
    let body = tx.last_insert_rowid();
    super::chunks::write(tx, body, &m.raw)?;
    super::objid::store_time_fields(tx, user, body, hash, &m.fields)?;
    store_sort_keys(tx, body, &m.sort)?;
    super::search_index::index_new_body(tx, body)?;
    Ok(body)
}

pub(crate) fn insert_flags(tx: &Transaction, message_id: i64, flags: &[String]) -> Result<()> {
    let mut st =
        tx.prepare_cached("INSERT OR IGNORE INTO flags (message_id, flag) VALUES (?1, ?2)")?;
    for f in flags {
        st.execute(params![message_id, f])?;
    }
    Ok(())
}

impl SqliteStore {
    /// Append messages to a mailbox, all or nothing, in one transaction. Returns their UIDs.
    pub fn append(&self, mailbox: MailboxId, msgs: &[NewMessage]) -> Result<Vec<AppendedMessage>> {
        self.write(|tx| guarded_append(tx, mailbox, msgs))
    }

    /// Append the messages whose bytes are not already in the mailbox (import: running it
    /// twice stores nothing the second time), in one transaction. A message repeated within
    /// `msgs` is stored once. Returns, per message, whether it was stored.
    pub fn append_new(&self, mailbox: MailboxId, msgs: &[NewMessage]) -> Result<Vec<bool>> {
        self.write(|tx| append_new(tx, mailbox, msgs))
    }

    /// Load a mailbox for SELECT (`claim_recent`) or EXAMINE. Claiming makes the messages that
    /// arrived since the last claim \Recent in this session only; it writes only when there is
    /// something to claim, otherwise the whole load is one read. On a full disk the claim is
    /// skipped (nothing is \Recent to this session) and the mailbox still opens.
    pub fn select(&self, mailbox: MailboxId, claim_recent: bool) -> Result<SelectSnapshot> {
        let read = self.read(|c| {
            let mb = mailbox_by_id(c, mailbox)?;
            if claim_recent && has_unclaimed(c, mailbox)? {
                return Ok(None);
            }
            snapshot(c, mb, false).map(Some)
        })?;
        if let Some(snapshot) = read {
            return Ok(snapshot);
        }
        match self.write(|tx| snapshot(tx, mailbox_by_id(tx, mailbox)?, true)) {
            // Unclaimed, nothing is \Recent to this session (another may claim them later).
            Err(StoreError::Full) => {
                let mut unclaimed =
                    self.read(|c| snapshot(c, mailbox_by_id(c, mailbox)?, false))?;
                unclaimed.recent.clear();
                Ok(unclaimed)
            }
            claimed => claimed,
        }
    }

    /// As `select`, and open the session's view of the mailbox: until the view releases them
    /// (or is dropped), messages expunged from the mailbox stay readable through it.
    pub fn select_view(
        &self,
        mailbox: MailboxId,
        claim_recent: bool,
    ) -> Result<(SelectSnapshot, ViewHold)> {
        let hold = self.holds.open(mailbox);
        let snapshot = self.select(mailbox, claim_recent)?;
        // Removals between registering and the snapshot left holds on UIDs it never saw.
        hold.retain(&snapshot.uids);
        Ok((snapshot, hold))
    }

    /// As `messages_with`, for a view: UIDs expunged since, that the view still numbers, are
    /// answered from what the store kept of them (RFC 2180 §4.1.1).
    pub fn view_messages(
        &self,
        view: ViewId,
        mailbox: MailboxId,
        uids: &[u32],
        with_size: bool,
    ) -> Result<Vec<MessageMeta>> {
        let mut metas = self.messages_with(mailbox, uids, with_size)?;
        self.add_held(view, mailbox, uids, &mut metas);
        Ok(metas)
    }

    /// What `FETCH 1:* (UID FLAGS)` and its kin read (the FETCH fast path): for a view, the
    /// UID, flags and (when `with_modseq`) modseq of the messages with these UIDs, held ones
    /// included as in `view_messages`; every other field is 0. Without the modseq the message
    /// rows come from the (mailbox, uid) index alone, with no seek into the table per message.
    pub fn view_flags(
        &self,
        view: ViewId,
        mailbox: MailboxId,
        uids: &[u32],
        with_modseq: bool,
    ) -> Result<Vec<MessageMeta>> {
        let columns = if with_modseq {
            "m.uid, m.id, m.modseq"
        } else {
            "m.uid, m.id"
        };
        let mut metas = self.read(|c| {
            let mut ids: Vec<(i64, usize)> = Vec::with_capacity(uids.len());
            let mut metas = for_uids(c, mailbox, uids, columns, "messages m", |r| {
                ids.push((r.get(1)?, ids.len()));
                Ok(MessageMeta {
                    uid: r.get(0)?,
                    body_id: 0,
                    size: 0,
                    internal_date: 0,
                    date_offset: 0,
                    modseq: if with_modseq {
                        r.get::<_, i64>(2)? as u64
                    } else {
                        0
                    },
                    flags: Vec::new(),
                })
            })?;
            attach_flags(c, &mut metas, ids)?;
            Ok(metas)
        })?;
        self.add_held(view, mailbox, uids, &mut metas);
        flags_only(&mut metas, with_modseq);
        Ok(metas)
    }

    /// Add to `metas` (the rows found of `uids`, ascending) what the view still holds of the
    /// others: messages expunged since it numbered them.
    fn add_held(
        &self,
        view: ViewId,
        mailbox: MailboxId,
        uids: &[u32],
        metas: &mut Vec<MessageMeta>,
    ) {
        add_held(&self.holds, view, mailbox, uids, metas);
    }

    /// Whether bodies released by the last holder wait for `collect_unheld`.
    pub fn has_unheld(&self) -> bool {
        self.holds.has_unheld()
    }

    /// Delete the bodies that views have let go of and no message uses.
    pub fn collect_unheld(&self) -> Result<()> {
        let bodies = self.holds.take_unheld();
        if bodies.is_empty() {
            return Ok(());
        }
        self.write(|tx| {
            let held = self.holds.held_bodies();
            let mut gc = tx.prepare_cached(
                "DELETE FROM bodies WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM messages WHERE body_id = ?1)",
            )?;
            for b in bodies.iter().filter(|b| !held.contains(b)) {
                gc.execute([b])?;
            }
            Ok(())
        })
    }

    /// Delete every body no message uses and no view holds: at startup nothing is held, so
    /// this removes what a crash left behind while views held expunged messages.
    pub fn collect_orphans(&self) -> Result<()> {
        self.write(|tx| delete_orphan_bodies(tx, &self.holds))
    }

    /// Append to the mailbox a session has selected read-write, claiming \Recent in the same
    /// transaction: the appending session is the first to see its messages (and any others
    /// that arrived unclaimed), so no second write claims them later. Returns the appended
    /// messages and the UIDs that are \Recent for that session (up to the new UIDNEXT).
    pub fn append_claiming(
        &self,
        mailbox: MailboxId,
        msgs: &[NewMessage],
    ) -> Result<(Vec<AppendedMessage>, std::ops::Range<u32>)> {
        self.write(|tx| {
            let appended = guarded_append(tx, mailbox, msgs)?;
            let (floor, next): (u32, u32) = tx
                .prepare_cached("SELECT recent_floor, uidnext FROM mailboxes WHERE id = ?1")?
                .query_row([mailbox.0], |r| Ok((r.get(0)?, r.get(1)?)))?;
            tx.prepare_cached("UPDATE mailboxes SET recent_floor = uidnext WHERE id = ?1")?
                .execute([mailbox.0])?;
            Ok((appended, floor..next))
        })
    }

    /// Claim \Recent for the given newly seen UIDs: returns those this session is first to see
    /// (none on a full disk, where the claim cannot be written).
    pub fn claim_recent(&self, mailbox: MailboxId, uids: &[u32]) -> Result<Vec<u32>> {
        let Some(&max) = uids.iter().max() else {
            return Ok(Vec::new());
        };
        let claimed = self.write(|tx| {
            let floor: u32 = tx.query_row(
                "SELECT recent_floor FROM mailboxes WHERE id = ?1",
                [mailbox.0],
                |r| r.get(0),
            )?;
            if max >= floor {
                tx.execute(
                    "UPDATE mailboxes SET recent_floor = ?2 WHERE id = ?1",
                    params![mailbox.0, max as i64 + 1],
                )?;
            }
            Ok(uids.iter().copied().filter(|&u| u >= floor).collect())
        });
        match claimed {
            Err(StoreError::Full) => Ok(Vec::new()),
            other => other,
        }
    }

    pub fn mailbox_by_id(&self, mailbox: MailboxId) -> Result<MailboxRow> {
        self.read(|c| mailbox_by_id(c, mailbox))
    }

    /// Metadata of the messages with these UIDs (ascending; UIDs that no longer exist are
    /// missing from the result).
    pub fn messages(&self, mailbox: MailboxId, uids: &[u32]) -> Result<Vec<MessageMeta>> {
        self.read(|c| messages(c, mailbox, uids))
    }

    /// As `messages`; without `with_size`, `size` is 0.
    pub fn messages_with(
        &self,
        mailbox: MailboxId,
        uids: &[u32],
        with_size: bool,
    ) -> Result<Vec<MessageMeta>> {
        self.read(|c| messages_with(c, mailbox, uids, with_size))
    }

    /// What FETCH reads of the messages with these UIDs, all from one snapshot (so a message
    /// listed is also readable): metadata; the cached parse when `with_parsed`; and the raw
    /// bytes of each message of at most `raw_each` bytes, while their total stays within
    /// `raw_budget` (larger ones are left to `raw_range`).
    pub fn fetch_rows(
        &self,
        view: ViewId,
        mailbox: MailboxId,
        uids: &[u32],
        with_size: bool,
        with_parsed: bool,
        (raw_each, raw_budget): (usize, usize),
    ) -> Result<Vec<FetchRow>> {
        self.read(|c| {
            let mut metas = messages_with(c, mailbox, uids, with_size || raw_budget > 0)?;
            // Expunged since the view numbered them: still answered (RFC 2180 §4.1.1).
            self.add_held(view, mailbox, uids, &mut metas);
            // A body gone with no hold on it (another process removed the message) is as if
            // expunged before the view numbered it: left out.
            let found = |read: Result<Vec<u8>>| match read {
                Ok(v) => Ok(Some(v)),
                Err(StoreError::NotFound(_)) => Ok(None),
                Err(e) => Err(e),
            };
            fetch_parts(metas, with_parsed, (raw_each, raw_budget), |part, body| {
                found(match part {
                    Part::Parsed => parsed(c, body),
                    Part::Raw => super::chunks::read(c, body),
                })
            })
        })
    }

    /// The raw bytes of a stored body.
    pub fn raw(&self, body_id: i64) -> Result<Vec<u8>> {
        self.read(|c| super::chunks::read(c, body_id))
    }

    /// Up to `len` bytes of a stored body from `offset` (fewer at its end, none past it), read
    /// from the pieces of it that hold them: FETCH streams a large message in chunks instead of
    /// loading it whole.
    pub fn raw_range(&self, body_id: i64, offset: usize, len: usize) -> Result<Vec<u8>> {
        self.read(|c| super::chunks::read_range(c, body_id, offset, len))
    }

    /// The MIME layer's cached parse of a stored body.
    pub fn parsed(&self, body_id: i64) -> Result<Vec<u8>> {
        self.read(|c| parsed(c, body_id))
    }

    /// REPLACE (RFC 8508): append `msg` to `to` and expunge the message `old` of `from`, in one
    /// transaction. Nothing changes when either fails (the old message gone since: Expunged).
    /// Returns the appended message and the expunge's modseq.
    pub fn replace(
        &self,
        from: MailboxId,
        old: u32,
        to: MailboxId,
        msg: &NewMessage,
    ) -> Result<(AppendedMessage, u64)> {
        // Guarded as an APPEND is (RFC 8508 §3.4: over quota, the old message stays).
        self.write(|tx| {
            quota::guarded(tx, owner_id(tx, to)?, || {
                let rows = source_rows(tx, from, &[old])?;
                all_present(&rows, &[old])?;
                let appended = append(tx, to, std::slice::from_ref(msg))?
                    .pop()
                    .ok_or_else(|| StoreError::NotAllowed("nothing was appended".into()))?;
                // Bumped after the append: within one mailbox the expunge is the later change.
                let modseq = bump_modseq(tx, from)?;
                let removed: Vec<(u32, i64, i64)> = rows
                    .iter()
                    .map(|&(uid, id, body, _, _, _)| (uid, id, body))
                    .collect();
                remove_messages(tx, &self.holds, from, &removed, modseq, None)?;
                Ok((appended, modseq))
            })
        })
    }

    /// Change flags. Returns the new modseq (0 when no message changed, which takes none) and,
    /// for every message of `uids` that still exists, its flags afterwards and whether they
    /// changed.
    pub fn store_flags(
        &self,
        mailbox: MailboxId,
        uids: &[u32],
        op: FlagOp,
        flags: &[String],
    ) -> Result<(u64, Vec<FlagChange>)> {
        self.write(|tx| store_flags(tx, mailbox, uids, op, flags, None))
            .map(|r| (r.modseq, r.changes))
    }

    /// Change flags only on the messages of `uids` whose modseq is at most `unchanged_since`
    /// (RFC 7162 §3.1.3); the others are listed in `modified`, untouched.
    pub fn store_flags_unchanged_since(
        &self,
        mailbox: MailboxId,
        uids: &[u32],
        op: FlagOp,
        flags: &[String],
        unchanged_since: u64,
    ) -> Result<FlagStore> {
        self.write(|tx| store_flags(tx, mailbox, uids, op, flags, Some(unchanged_since)))
    }

    /// Remove the messages flagged \Deleted (only those among `uids`, when given). Returns the
    /// modseq of the change and the removed UIDs, ascending.
    pub fn expunge(&self, mailbox: MailboxId, uids: Option<&[u32]>) -> Result<(u64, Vec<u32>)> {
        let _gate = self.holds.gate(mailbox);
        self.write(|tx| expunge_deleted(tx, &self.holds, mailbox, uids, None))
    }

    /// As `expunge`, by the session whose view `view` is (of `mailbox`): it announces the
    /// expunges in its answer, so its view keeps nothing of them, and a body no other view
    /// holds is deleted in the same commit (not by a second write after the answer).
    pub fn expunge_in_view(
        &self,
        view: ViewId,
        mailbox: MailboxId,
        uids: Option<&[u32]>,
    ) -> Result<(u64, Vec<u32>)> {
        let _gate = self.holds.gate(mailbox);
        self.write(|tx| expunge_deleted(tx, &self.holds, mailbox, uids, Some(view)))
    }

    /// Remove every message from `user`'s folders, or from every user's when `None`, in one
    /// commit through the expunge path (sessions that have a folder selected see EXPUNGEs and
    /// can read what they number until then); the folders stay. Returns how many went.
    pub fn purge_mail(&self, user: Option<UserId>) -> Result<u64> {
        let _gates = self.holds.all_gates();
        self.write(|tx| {
            let owner = user.map(|u| u.0);
            let boxes: Vec<(i64, i64)> = {
                let mut st = tx.prepare_cached(
                    "SELECT b.id, (SELECT count(*) FROM messages m WHERE m.mailbox_id = b.id)
                     FROM mailboxes b WHERE ?1 IS NULL OR b.user_id = ?1 ORDER BY b.id",
                )?;
                let r = st.query_map([owner], |r| Ok((r.get(0)?, r.get(1)?)))?;
                r.collect::<rusqlite::Result<_>>()?
            };
            let mut removed = 0;
            for (id, count) in boxes.into_iter().filter(|(_, n)| *n > 0) {
                expunge_all(tx, &self.holds, MailboxId(id))?;
                removed += count as u64;
            }
            delete_orphan_bodies(tx, &self.holds)?;
            Ok(removed)
        })
    }

    /// Copy messages to another mailbox of the same user, all or nothing. Copies share the body.
    /// Returns the target's UIDVALIDITY and (source UID, new UID) pairs.
    pub fn copy(
        &self,
        from: MailboxId,
        uids: &[u32],
        to: MailboxId,
    ) -> Result<(u32, Vec<(u32, u32)>)> {
        self.write(|tx| quota::guarded(tx, owner_id(tx, to)?, || copy(tx, from, uids, to)))
    }

    /// Move messages to another mailbox of the same user (RFC 6851): the copies and the
    /// removal from the source commit together, so no other session ever sees a message in
    /// both places or in neither. Returns the target's UIDVALIDITY and (source UID, new UID)
    /// pairs; the source UIDs are the ones expunged, ascending.
    pub fn move_messages(
        &self,
        from: MailboxId,
        uids: &[u32],
        to: MailboxId,
    ) -> Result<(u32, Vec<(u32, u32)>)> {
        let _gate = self.holds.gate(from);
        self.write(|tx| {
            quota::guarded(tx, owner_id(tx, to)?, || {
                move_messages(tx, &self.holds, from, uids, to)
            })
        })
    }

    /// Everything that changed in `mailbox` after `modseq`.
    pub fn changes_since(&self, mailbox: MailboxId, modseq: u64) -> Result<Changes> {
        self.read(|c| changes_since(c, mailbox, modseq))
    }

    /// The mailbox's highest modseq (cheap; tells whether `changes_since` has anything).
    pub fn highest_modseq(&self, mailbox: MailboxId) -> Result<u64> {
        self.read(|c| highest_modseq(c, mailbox))
    }

    /// UIDs (ascending) of the messages that satisfy `cond`.
    pub fn search(&self, mailbox: MailboxId, cond: &Cond) -> Result<Vec<u32>> {
        self.read(|c| search(c, mailbox, cond))
    }

    /// Keywords (flags without a backslash) used by any message of the mailbox.
    pub fn keywords(&self, mailbox: MailboxId) -> Result<Vec<String>> {
        self.read(|c| keywords(c, mailbox))
    }

    /// STATUS counters of a mailbox.
    pub fn counts(&self, mailbox: MailboxId) -> Result<MailboxCounts> {
        self.read(|c| counts(c, mailbox))
    }

    /// STATUS of the user's folder `name` in one read (one snapshot): its row, its counters
    /// and, with `object_id`, its MAILBOXID (RFC 8474). `None` when there is no such folder or
    /// it is \Noselect.
    pub fn mailbox_status(
        &self,
        user: UserId,
        name: &str,
        object_id: bool,
    ) -> Result<Option<(MailboxRow, MailboxCounts, Option<String>)>> {
        self.read(|c| {
            let Some(row) = super::mailboxes::mailbox(c, user, name)?.filter(|r| !r.noselect)
            else {
                return Ok(None);
            };
            let counts = counts(c, row.id)?;
            let id = if object_id {
                Some(super::objid::mailbox_id(c, &row)?)
            } else {
                None
            };
            Ok(Some((row, counts, id)))
        })
    }
}

/// What FETCH reads of a body besides its row.
pub(crate) enum Part {
    Parsed,
    Raw,
}

/// FETCH's rows from the messages' metadata: the cached parse when `with_parsed`, and the raw
/// bytes of each message of at most `raw_each` bytes while their total stays within
/// `raw_budget`, read through `read` (None: the body is gone, and its message left out).
/// Both backends' `fetch_rows`.
pub(crate) fn fetch_parts<E>(
    metas: Vec<MessageMeta>,
    with_parsed: bool,
    (raw_each, raw_budget): (usize, usize),
    mut read: impl FnMut(Part, i64) -> std::result::Result<Option<Vec<u8>>, E>,
) -> std::result::Result<Vec<FetchRow>, E> {
    let mut left = raw_budget;
    let mut out = Vec::with_capacity(metas.len());
    for meta in metas {
        let parsed = if with_parsed {
            match read(Part::Parsed, meta.body_id)? {
                Some(p) => Some(p),
                None => continue,
            }
        } else {
            None
        };
        let size = meta.size as usize;
        let raw = if raw_each > 0 && size <= raw_each && size <= left {
            match read(Part::Raw, meta.body_id)? {
                Some(r) => {
                    left -= size;
                    Some(r)
                }
                None => continue,
            }
        } else {
            None
        };
        out.push(FetchRow { meta, parsed, raw });
    }
    Ok(out)
}

/// `view_flags`'s rows on both backends: every field but the UID, the flags and (when
/// `with_modseq`) the modseq set to 0, held messages' too.
pub(crate) fn flags_only(metas: &mut [MessageMeta], with_modseq: bool) {
    for m in metas {
        m.body_id = 0;
        m.size = 0;
        m.internal_date = 0;
        m.date_offset = 0;
        if !with_modseq {
            m.modseq = 0;
        }
    }
}

/// Add to `metas` (the rows found of `uids`, ascending) what `holds` keeps for the view of
/// the others: messages expunged since it numbered them. Both backends' views.
pub(crate) fn add_held(
    holds: &Holds,
    view: ViewId,
    mailbox: MailboxId,
    uids: &[u32],
    metas: &mut Vec<MessageMeta>,
) {
    if metas.len() < uids.len() {
        let missing: Vec<u32> = uids
            .iter()
            .copied()
            .filter(|u| metas.binary_search_by_key(u, |m| m.uid).is_err())
            .collect();
        metas.extend(holds.ghosts(view, mailbox, &missing));
        metas.sort_by_key(|m| m.uid);
    }
}

fn counts(c: &Connection, mailbox: MailboxId) -> Result<MailboxCounts> {
    Ok(c.prepare_cached(
        "SELECT count(*),
                coalesce(sum(m.uid >= b.recent_floor), 0),
                coalesce(sum(NOT EXISTS (SELECT 1 FROM flags f WHERE f.message_id = m.id AND f.flag = '\\Seen')), 0),
                count(del.message_id),
                coalesce(sum(m.size), 0),
                coalesce(sum(CASE WHEN del.message_id IS NOT NULL THEN m.size END), 0)
         FROM mailboxes b JOIN messages m ON m.mailbox_id = b.id
         LEFT JOIN flags del ON del.message_id = m.id AND del.flag = '\\Deleted'
         WHERE b.id = ?1",
    )?
    .query_row([mailbox.0], |r| {
        Ok(MailboxCounts {
            messages: r.get::<_, i64>(0)? as u32,
            recent: r.get::<_, i64>(1)? as u32,
            unseen: r.get::<_, i64>(2)? as u32,
            deleted: r.get::<_, i64>(3)? as u32,
            size: r.get::<_, i64>(4)? as u64,
            deleted_size: r.get::<_, i64>(5)? as u64,
        })
    })?)
}

/// The mailbox's highest modseq; 0 when there is no such mailbox.
pub(crate) fn highest_modseq(c: &Connection, mailbox: MailboxId) -> Result<u64> {
    Ok(
        c.prepare_cached("SELECT highest_modseq FROM mailboxes WHERE id = ?1")?
            .query_row([mailbox.0], |r| r.get::<_, i64>(0))
            .optional()?
            .map(|m| m as u64)
            .unwrap_or(0),
    )
}

fn keywords(c: &Connection, mailbox: MailboxId) -> Result<Vec<String>> {
    let mut st = c.prepare_cached(
        "SELECT DISTINCT f.flag FROM flags f JOIN messages m ON m.id = f.message_id
         WHERE m.mailbox_id = ?1 AND substr(f.flag, 1, 1) <> '\\' ORDER BY 1",
    )?;
    let rows = st.query_map([mailbox.0], |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<Vec<String>>>()?)
}

pub(crate) fn search(c: &Connection, mailbox: MailboxId, cond: &Cond) -> Result<Vec<u32>> {
    let mut params = vec![rusqlite::types::Value::Integer(mailbox.0)];
    let expr = cond.sql(&mut params);
    // Only an OBJECTID key needs the bodies table; joining it otherwise reads a page of every
    // body.
    let join = if cond.needs_body_row() {
        "JOIN bodies d ON d.id = m.body_id"
    } else {
        ""
    };
    let mut st = c.prepare_cached(&format!(
        "SELECT m.uid FROM messages m {join}
         WHERE m.mailbox_id = ? AND ({expr}) ORDER BY m.uid"
    ))?;
    let rows = st.query_map(rusqlite::params_from_iter(params.iter()), |r| r.get(0))?;
    Ok(rows.collect::<rusqlite::Result<Vec<u32>>>()?)
}

pub(crate) fn append(
    tx: &Transaction,
    mailbox: MailboxId,
    msgs: &[NewMessage],
) -> Result<Vec<AppendedMessage>> {
    let mb = mailbox_by_id(tx, mailbox)?;
    if mb.noselect {
        return Err(StoreError::NotAllowed(format!(
            "{} cannot hold messages",
            mb.name
        )));
    }
    let modseq = bump_modseq(tx, mailbox)?;
    let user = owner(tx, mailbox)?;
    let mut uid = mb.uidnext;
    let mut out = Vec::with_capacity(msgs.len());
    for m in msgs {
        if uid == u32::MAX {
            return Err(StoreError::NotAllowed("mailbox has run out of UIDs".into()));
        }
        let body = insert_body(tx, user, m)?;
        tx.prepare_cached(
            "INSERT INTO messages (mailbox_id, uid, body_id, internal_date, date_offset, modseq, save_date, size) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![mailbox.0, uid, body, m.internal_date, m.date_offset, modseq as i64, super::now(), m.raw.len() as i64])?;
        insert_flags(tx, tx.last_insert_rowid(), &m.flags)?;
        out.push(AppendedMessage {
            uidvalidity: mb.uidvalidity,
            uid,
            modseq,
        });
        uid += 1;
    }
    tx.prepare_cached("UPDATE mailboxes SET uidnext = ?2 WHERE id = ?1")?
        .execute(params![mailbox.0, uid])?;
    Ok(out)
}

pub(crate) fn append_new(
    tx: &Transaction,
    mailbox: MailboxId,
    msgs: &[NewMessage],
) -> Result<Vec<bool>> {
    let mb = mailbox_by_id(tx, mailbox)?;
    if mb.noselect {
        return Err(StoreError::NotAllowed(format!(
            "{} cannot hold messages",
            mb.name
        )));
    }
    // The modseq is taken only when something is stored: a batch of duplicates changes nothing
    // and wakes nobody.
    let mut modseq = None;
    let user = owner(tx, mailbox)?;
    let mut uid = mb.uidnext;
    let mut out = Vec::with_capacity(msgs.len());
    for m in msgs {
        let hash = content_hash(&m.raw);
        let present = tx
            .prepare_cached(
                "SELECT 1 FROM bodies b JOIN messages m ON m.body_id = b.id
                 WHERE b.user_id = ?3 AND b.hash = ?1 AND m.mailbox_id = ?2 LIMIT 1",
            )?
            .query_row(params![hash, mailbox.0, user], |_| Ok(()))
            .optional()?
            .is_some();
        if present {
            out.push(false);
            continue;
        }
        if uid == u32::MAX {
            return Err(StoreError::NotAllowed("mailbox has run out of UIDs".into()));
        }
        let modseq = match modseq {
            Some(m) => m,
            None => *modseq.insert(bump_modseq(tx, mailbox)?),
        };
        let body = insert_hashed_body(tx, user, &hash, m)?;
        tx.prepare_cached(
            "INSERT INTO messages (mailbox_id, uid, body_id, internal_date, date_offset, modseq, save_date, size) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )?
        .execute(params![mailbox.0, uid, body, m.internal_date, m.date_offset, modseq as i64, super::now(), m.raw.len() as i64])?;
        insert_flags(tx, tx.last_insert_rowid(), &m.flags)?;
        out.push(true);
        uid += 1;
    }
    if uid != mb.uidnext {
        tx.prepare_cached("UPDATE mailboxes SET uidnext = ?2 WHERE id = ?1")?
            .execute(params![mailbox.0, uid])?;
    }
    Ok(out)
}

/// The cached parse of a stored body.
fn parsed(c: &Connection, body_id: i64) -> Result<Vec<u8>> {
    c.prepare_cached("SELECT parsed FROM bodies WHERE id = ?1")?
        .query_row([body_id], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::NotFound("message body no longer exists".into()))
}

/// Whether messages arrived since the last claim of \Recent.
fn has_unclaimed(c: &Connection, mailbox: MailboxId) -> Result<bool> {
    Ok(
        c.prepare_cached("SELECT recent_floor < uidnext FROM mailboxes WHERE id = ?1")?
            .query_row([mailbox.0], |r| r.get::<_, bool>(0))
            .optional()?
            .unwrap_or(false),
    )
}

fn snapshot(c: &Connection, mb: MailboxRow, claim: bool) -> Result<SelectSnapshot> {
    let mailbox = mb.id;
    let floor: u32 = c
        .prepare_cached("SELECT recent_floor FROM mailboxes WHERE id = ?1")?
        .query_row([mailbox.0], |r| r.get(0))?;
    let mut uids = Vec::new();
    {
        let mut st =
            c.prepare_cached("SELECT uid FROM messages WHERE mailbox_id = ?1 ORDER BY uid")?;
        let mut rows = st.query([mailbox.0])?;
        while let Some(r) = rows.next()? {
            uids.push(r.get(0)?);
        }
    }
    let first_unseen = c
        .prepare_cached(
            "SELECT m.uid FROM messages m WHERE m.mailbox_id = ?1
               AND NOT EXISTS (SELECT 1 FROM flags f WHERE f.message_id = m.id AND f.flag = '\\Seen')
             ORDER BY m.uid LIMIT 1",
        )?
        .query_row([mailbox.0], |r| r.get(0))
        .optional()?;
    let start = uids.partition_point(|&u| u < floor);
    let recent = uids[start..].to_vec();
    if claim {
        c.prepare_cached("UPDATE mailboxes SET recent_floor = uidnext WHERE id = ?1")?
            .execute([mailbox.0])?;
    }
    let keywords = keywords(c, mailbox)?;
    let object_id = super::objid::mailbox_id(c, &mb)?;
    Ok(SelectSnapshot {
        mailbox: mb,
        uids,
        recent,
        first_unseen,
        keywords,
        object_id,
    })
}

/// Rows for `uids` (ascending), fetched by point lookups when the set is sparse and by one range
/// scan when it is dense, so `1:*` on a large mailbox is one query.
pub(crate) fn for_uids<T>(
    c: &Connection,
    mailbox: MailboxId,
    uids: &[u32],
    columns: &str,
    from: &str,
    mut f: impl FnMut(&rusqlite::Row) -> Result<T>,
) -> Result<Vec<T>> {
    let (Some(&lo), Some(&hi)) = (uids.first(), uids.last()) else {
        return Ok(Vec::new());
    };
    let mut out = Vec::with_capacity(uids.len());
    let span = (hi - lo) as usize + 1;
    if uids.len() * 8 < span && uids.len() < 2000 {
        let mut st = c.prepare_cached(&format!(
            "SELECT {columns} FROM {from} WHERE m.mailbox_id = ?1 AND m.uid = ?2"
        ))?;
        for &u in uids {
            let mut rows = st.query(params![mailbox.0, u])?;
            while let Some(r) = rows.next()? {
                out.push(f(r)?);
            }
        }
    } else {
        let mut st = c.prepare_cached(&format!(
            "SELECT {columns} FROM {from} WHERE m.mailbox_id = ?1 AND m.uid BETWEEN ?2 AND ?3 ORDER BY m.uid"
        ))?;
        let mut rows = st.query(params![mailbox.0, lo, hi])?;
        while let Some(r) = rows.next()? {
            let uid: u32 = r.get(0)?;
            if uids.binary_search(&uid).is_ok() {
                out.push(f(r)?);
            }
        }
    }
    Ok(out)
}

/// Flags of the messages with these UIDs, keyed by UID.
fn flags_of(c: &Connection, mailbox: MailboxId, uids: &[u32]) -> Result<HashMap<u32, Vec<String>>> {
    let pairs = for_uids(
        c,
        mailbox,
        uids,
        "m.uid, f.flag",
        "messages m JOIN flags f ON f.message_id = m.id",
        |r| Ok((r.get::<_, u32>(0)?, r.get::<_, String>(1)?)),
    )?;
    let mut map: HashMap<u32, Vec<String>> = HashMap::new();
    for (uid, flag) in pairs {
        map.entry(uid).or_default().push(flag);
    }
    Ok(map)
}

pub(crate) fn messages(
    c: &Connection,
    mailbox: MailboxId,
    uids: &[u32],
) -> Result<Vec<MessageMeta>> {
    messages_with(c, mailbox, uids, true)
}

/// As `messages`; without `with_size`, `size` is 0.
///
/// Two ordered reads: the message rows (one scan of the mailbox's UID index), then their flags.
/// When the rows' ids are dense (a folder filled in order, the usual case) the flags come from
/// one range scan of the flags key over those ids, instead of one probe of it per message,
/// which was most of the cost of a `FETCH 1:* (UID FLAGS)` of 100,000 messages.
pub(crate) fn messages_with(
    c: &Connection,
    mailbox: MailboxId,
    uids: &[u32],
    with_size: bool,
) -> Result<Vec<MessageMeta>> {
    let columns = if with_size {
        "m.uid, m.body_id, m.internal_date, m.date_offset, m.modseq, m.id, m.size"
    } else {
        "m.uid, m.body_id, m.internal_date, m.date_offset, m.modseq, m.id"
    };
    let mut ids: Vec<(i64, usize)> = Vec::with_capacity(uids.len());
    let mut metas = for_uids(c, mailbox, uids, columns, "messages m", |r| {
        ids.push((r.get(5)?, ids.len()));
        Ok(MessageMeta {
            uid: r.get(0)?,
            body_id: r.get(1)?,
            internal_date: r.get(2)?,
            date_offset: r.get(3)?,
            modseq: r.get::<_, i64>(4)? as u64,
            size: if with_size {
                r.get::<_, i64>(6)?.clamp(0, u32::MAX as i64) as u32
            } else {
                0
            },
            flags: Vec::new(),
        })
    })?;
    attach_flags(c, &mut metas, ids)?;
    Ok(metas)
}

/// Fill in the flags of `metas`, whose message ids (with each one's index) are `ids`.
fn attach_flags(
    c: &Connection,
    metas: &mut [MessageMeta],
    mut ids: Vec<(i64, usize)>,
) -> Result<()> {
    ids.sort_unstable();
    let (Some(&(lo, _)), Some(&(hi, _))) = (ids.first(), ids.last()) else {
        return Ok(());
    };
    // A range scan reads the flags of every message between: worth it while most are ours.
    let span = hi.saturating_sub(lo).saturating_add(1) as u64;
    if span <= ids.len() as u64 * 4 {
        let mut st = c.prepare_cached(
            "SELECT message_id, flag FROM flags WHERE message_id BETWEEN ?1 AND ?2",
        )?;
        let mut rows = st.query([lo, hi])?;
        while let Some(r) = rows.next()? {
            let id: i64 = r.get(0)?;
            if let Ok(k) = ids.binary_search_by_key(&id, |&(i, _)| i) {
                metas[ids[k].1].flags.push(r.get(1)?);
            }
        }
    } else {
        let mut st = c.prepare_cached("SELECT flag FROM flags WHERE message_id = ?1")?;
        for &(id, at) in &ids {
            let mut rows = st.query([id])?;
            while let Some(r) = rows.next()? {
                metas[at].flags.push(r.get(0)?);
            }
        }
    }
    Ok(())
}

/// A message's flags after `op` with `flags` (flags match case-insensitively; the first
/// spelling is kept), and whether they differ from `old`. Both backends' STORE.
pub(crate) fn apply_flags(old: &[String], op: FlagOp, flags: &[String]) -> (Vec<String>, bool) {
    let has = |list: &[String], f: &str| list.iter().any(|x| x.eq_ignore_ascii_case(f));
    let new: Vec<String> = match op {
        FlagOp::Replace => {
            let mut n: Vec<String> = Vec::new();
            for f in flags {
                if !has(&n, f) {
                    n.push(f.clone());
                }
            }
            n
        }
        FlagOp::Add => {
            let mut n = old.to_vec();
            for f in flags {
                if !has(&n, f) {
                    n.push(f.clone());
                }
            }
            n
        }
        FlagOp::Remove => old.iter().filter(|o| !has(flags, o)).cloned().collect(),
    };
    let changed = new.len() != old.len() || new.iter().any(|f| !has(old, f));
    (new, changed)
}

fn store_flags(
    tx: &Transaction,
    mailbox: MailboxId,
    uids: &[u32],
    op: FlagOp,
    flags: &[String],
    unchanged_since: Option<u64>,
) -> Result<FlagStore> {
    let ids = for_uids(
        tx,
        mailbox,
        uids,
        "m.uid, m.id, m.modseq",
        "messages m",
        |r| {
            Ok((
                r.get::<_, u32>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)? as u64,
            ))
        },
    )?;
    let (ids, modified): (Vec<_>, Vec<_>) = ids
        .into_iter()
        .partition(|(_, _, m)| unchanged_since.is_none_or(|n| *m <= n));
    let modified = modified.into_iter().map(|(uid, _, _)| uid).collect();
    let mut before = flags_of(tx, mailbox, uids)?;
    // Taken at the first message that changes: a STORE that changes nothing leaves the
    // mailbox's HIGHESTMODSEQ where it was (and answers modseq 0).
    let mut modseq = 0;
    let mut out = Vec::with_capacity(ids.len());
    let mut del = tx.prepare_cached("DELETE FROM flags WHERE message_id = ?1 AND flag = ?2")?;
    let mut del_all = tx.prepare_cached("DELETE FROM flags WHERE message_id = ?1")?;
    let mut touch = tx.prepare_cached("UPDATE messages SET modseq = ?2 WHERE id = ?1")?;
    for (uid, id, old_modseq) in ids {
        let old = before.remove(&uid).unwrap_or_default();
        let (new, changed) = apply_flags(&old, op, flags);
        if changed {
            if modseq == 0 {
                modseq = bump_modseq(tx, mailbox)?;
            }
            match op {
                FlagOp::Remove => {
                    for f in flags {
                        del.execute(params![id, f])?;
                    }
                }
                FlagOp::Replace => {
                    del_all.execute([id])?;
                    insert_flags(tx, id, &new)?;
                }
                FlagOp::Add => insert_flags(tx, id, flags)?,
            }
            touch.execute(params![id, modseq as i64])?;
        }
        out.push(FlagChange {
            uid,
            flags: new,
            changed,
            modseq: if changed { modseq } else { old_modseq },
        });
    }
    Ok(FlagStore {
        modseq,
        changes: out,
        modified,
    })
}

/// Remove messages, recording them in `expunged`, and drop bodies no copy uses any more and no
/// open view still numbers (those are kept until the views release them; see `holds`).
fn remove_messages(
    tx: &Transaction,
    holds: &Holds,
    mailbox: MailboxId,
    rows: &[(u32, i64, i64)],
    modseq: u64,
    told: Option<ViewId>,
) -> Result<()> {
    if holds.watched(mailbox, told) {
        let uids: Vec<u32> = rows.iter().map(|r| r.0).collect();
        holds.hold_removed(mailbox, messages_with(tx, mailbox, &uids, true)?, told);
    }
    let held = holds.held_bodies();
    let mut rec = tx.prepare_cached(
        "INSERT OR REPLACE INTO expunged (mailbox_id, uid, modseq) VALUES (?1, ?2, ?3)",
    )?;
    let mut del = tx.prepare_cached("DELETE FROM messages WHERE id = ?1")?;
    let mut gc = tx.prepare_cached(
        "DELETE FROM bodies WHERE id = ?1 AND NOT EXISTS (SELECT 1 FROM messages WHERE body_id = ?1)",
    )?;
    for &(uid, id, body) in rows {
        rec.execute(params![mailbox.0, uid, modseq as i64])?;
        del.execute([id])?;
        if !held.contains(&body) {
            gc.execute([body])?;
        }
    }
    Ok(())
}

fn expunge_deleted(
    tx: &Transaction,
    holds: &Holds,
    mailbox: MailboxId,
    only: Option<&[u32]>,
    told: Option<ViewId>,
) -> Result<(u64, Vec<u32>)> {
    let mut rows: Vec<(u32, i64, i64)> = {
        let mut st = tx.prepare_cached(
            "SELECT m.uid, m.id, m.body_id FROM messages m JOIN flags f ON f.message_id = m.id
             WHERE m.mailbox_id = ?1 AND f.flag = '\\Deleted' ORDER BY m.uid",
        )?;
        let r = st.query_map([mailbox.0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        r.collect::<rusqlite::Result<_>>()?
    };
    if let Some(only) = only {
        rows.retain(|(uid, _, _)| only.binary_search(uid).is_ok());
    }
    if rows.is_empty() {
        return Ok((0, Vec::new()));
    }
    let modseq = bump_modseq(tx, mailbox)?;
    remove_messages(tx, holds, mailbox, &rows, modseq, told)?;
    Ok((modseq, rows.into_iter().map(|(uid, _, _)| uid).collect()))
}

/// Remove every message of a mailbox (DELETE of a folder that keeps its name as \Noselect).
pub(crate) fn expunge_all(tx: &Transaction, holds: &Holds, mailbox: MailboxId) -> Result<()> {
    let rows: Vec<(u32, i64, i64)> = {
        let mut st = tx.prepare_cached(
            "SELECT uid, id, body_id FROM messages WHERE mailbox_id = ?1 ORDER BY uid",
        )?;
        let r = st.query_map([mailbox.0], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))?;
        r.collect::<rusqlite::Result<_>>()?
    };
    if !rows.is_empty() {
        let modseq = bump_modseq(tx, mailbox)?;
        remove_messages(tx, holds, mailbox, &rows, modseq, None)?;
    }
    Ok(())
}

/// RENAME INBOX: every message moves to `to` (a new folder, so the UIDs can stay as they are)
/// and INBOX is left empty with its UIDVALIDITY and UIDNEXT unchanged.
pub(crate) fn move_all(tx: &Transaction, from: MailboxId, to: MailboxId) -> Result<()> {
    let src = mailbox_by_id(tx, from)?;
    let modseq = bump_modseq(tx, from)?;
    tx.execute(
        "INSERT OR REPLACE INTO expunged (mailbox_id, uid, modseq) SELECT ?1, uid, ?2 FROM messages WHERE mailbox_id = ?1",
        params![from.0, modseq as i64],
    )?;
    let dst_modseq = bump_modseq(tx, to)?;
    tx.execute(
        "UPDATE messages SET mailbox_id = ?2, modseq = ?3 WHERE mailbox_id = ?1",
        params![from.0, to.0, dst_modseq as i64],
    )?;
    tx.execute(
        "UPDATE mailboxes SET uidnext = ?2, recent_floor = ?2 WHERE id = ?1",
        params![to.0, src.uidnext],
    )?;
    Ok(())
}

/// A message to copy: uid, message id, body id, internal date, date offset.
type SourceRow = (u32, i64, i64, i64, i32, i64);

/// The rows of `uids` in `from` that COPY and MOVE work on.
fn source_rows(tx: &Transaction, from: MailboxId, uids: &[u32]) -> Result<Vec<SourceRow>> {
    for_uids(
        tx,
        from,
        uids,
        "m.uid, m.id, m.body_id, m.internal_date, m.date_offset, m.size",
        "messages m",
        |r| {
            Ok((
                r.get::<_, u32>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, i32>(4)?,
                r.get::<_, i64>(5)?,
            ))
        },
    )
}

fn copy(
    tx: &Transaction,
    from: MailboxId,
    uids: &[u32],
    to: MailboxId,
) -> Result<(u32, Vec<(u32, u32)>)> {
    let rows = source_rows(tx, from, uids)?;
    all_present(&rows, uids)?;
    copy_rows(tx, &rows, to)
}

/// COPY and MOVE are all or nothing: a message expunged since the session numbered it cannot be
/// copied (RFC 2180 §4.4.1), so nothing is.
fn all_present(rows: &[SourceRow], uids: &[u32]) -> Result<()> {
    if rows.len() < uids.len() {
        return Err(StoreError::Expunged(format!(
            "{} of the requested messages were expunged by another session; nothing was copied",
            uids.len() - rows.len()
        )));
    }
    Ok(())
}

/// Copy `rows` into `to` with new UIDs (bodies shared, flags copied); the UID pairs.
fn copy_rows(
    tx: &Transaction,
    rows: &[SourceRow],
    to: MailboxId,
) -> Result<(u32, Vec<(u32, u32)>)> {
    let dst = mailbox_by_id(tx, to)?;
    if dst.noselect {
        return Err(StoreError::NotAllowed(format!(
            "{} cannot hold messages",
            dst.name
        )));
    }
    if rows.is_empty() {
        return Ok((dst.uidvalidity, Vec::new()));
    }
    let modseq = bump_modseq(tx, to)?;
    let mut uid = dst.uidnext;
    let mut pairs = Vec::with_capacity(rows.len());
    let mut ins = tx.prepare_cached(
        "INSERT INTO messages (mailbox_id, uid, body_id, internal_date, date_offset, modseq, save_date, size) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?;
    let mut fl = tx.prepare_cached(
        "INSERT INTO flags (message_id, flag) SELECT ?2, flag FROM flags WHERE message_id = ?1",
    )?;
    for &(src_uid, id, body, date, offset, size) in rows {
        if uid == u32::MAX {
            return Err(StoreError::NotAllowed(
                "target mailbox has run out of UIDs".into(),
            ));
        }
        ins.execute(params![
            to.0,
            uid,
            body,
            date,
            offset,
            modseq as i64,
            super::now(),
            size
        ])?;
        fl.execute(params![id, tx.last_insert_rowid()])?;
        pairs.push((src_uid, uid));
        uid += 1;
    }
    tx.execute(
        "UPDATE mailboxes SET uidnext = ?2 WHERE id = ?1",
        params![to.0, uid],
    )?;
    Ok((dst.uidvalidity, pairs))
}

fn move_messages(
    tx: &Transaction,
    holds: &Holds,
    from: MailboxId,
    uids: &[u32],
    to: MailboxId,
) -> Result<(u32, Vec<(u32, u32)>)> {
    // Read once, before the copy: a move within one mailbox adds rows there.
    let rows = source_rows(tx, from, uids)?;
    all_present(&rows, uids)?;
    let (uidvalidity, pairs) = copy_rows(tx, &rows, to)?;
    if !rows.is_empty() {
        let modseq = bump_modseq(tx, from)?;
        let removed: Vec<(u32, i64, i64)> = rows
            .iter()
            .map(|&(uid, id, body, _, _, _)| (uid, id, body))
            .collect();
        // The copies share the bodies, so none of them is collected here.
        remove_messages(tx, holds, from, &removed, modseq, None)?;
    }
    Ok((uidvalidity, pairs))
}

fn changes_since(c: &Connection, mailbox: MailboxId, modseq: u64) -> Result<Changes> {
    // A mailbox deleted under a session is an error the session must act on, not "no news";
    // so is one deleted down to a \Noselect name, which a CREATE may revive with UIDs from 1.
    let highest: i64 = c
        .prepare_cached("SELECT highest_modseq FROM mailboxes WHERE id = ?1 AND noselect = 0")?
        .query_row([mailbox.0], |r| r.get(0))
        .optional()?
        .ok_or_else(|| StoreError::NotFound("mailbox no longer exists".into()))?;
    let mut ch = Changes {
        highest_modseq: highest as u64,
        ..Changes::default()
    };
    if highest as u64 <= modseq {
        return Ok(ch);
    }
    {
        let mut st = c.prepare_cached(
            "SELECT uid FROM expunged WHERE mailbox_id = ?1 AND modseq > ?2 ORDER BY uid",
        )?;
        let rows = st.query_map(params![mailbox.0, modseq as i64], |r| r.get(0))?;
        ch.expunged = rows.collect::<rusqlite::Result<_>>()?;
    }
    let mut st = c.prepare_cached(
        "SELECT m.uid, m.modseq, f.flag FROM messages m LEFT JOIN flags f ON f.message_id = m.id
         WHERE m.mailbox_id = ?1 AND m.modseq > ?2 ORDER BY m.uid",
    )?;
    let mut rows = st.query(params![mailbox.0, modseq as i64])?;
    while let Some(r) = rows.next()? {
        let uid: u32 = r.get(0)?;
        let m = r.get::<_, i64>(1)? as u64;
        let flag: Option<String> = r.get(2)?;
        match ch.changed.last_mut() {
            Some((u, _, flags)) if *u == uid => flags.extend(flag),
            _ => ch.changed.push((uid, m, flag.into_iter().collect())),
        }
    }
    Ok(ch)
}

/// Schema 3: each user gets its own copy of a body that several users' messages share (bodies
/// were deduplicated across users before, a side channel). The table is rebuilt with its
/// `user_id` column and per-user uniqueness; a shared body stays with the lowest user id that
/// holds it (same row id, so most messages keep their reference) and is copied once for each
/// other user, whose messages are pointed at the copy. Bodies no message uses are dropped.
pub(crate) fn bodies_per_user(tx: &Transaction) -> Result<()> {
    tx.execute_batch(
        "CREATE TABLE bodies_per_user (
             id      INTEGER PRIMARY KEY,
             user_id INTEGER NOT NULL REFERENCES users(id) ON DELETE CASCADE,
             hash    BLOB    NOT NULL,
             size    INTEGER NOT NULL,
             parsed  BLOB    NOT NULL,
             raw     BLOB    NOT NULL,
             UNIQUE (user_id, hash)
         );
         INSERT INTO bodies_per_user (id, user_id, hash, size, parsed, raw)
             SELECT b.id, o.user_id, b.hash, b.size, b.parsed, b.raw
             FROM bodies b
             JOIN (SELECT m.body_id, min(mb.user_id) AS user_id
                   FROM messages m JOIN mailboxes mb ON mb.id = m.mailbox_id
                   GROUP BY m.body_id) o ON o.body_id = b.id;",
    )?;
    let others: Vec<(i64, i64)> = {
        let mut st = tx.prepare(
            "SELECT DISTINCT m.body_id, mb.user_id
             FROM messages m
             JOIN mailboxes mb ON mb.id = m.mailbox_id
             JOIN bodies_per_user b ON b.id = m.body_id
             WHERE mb.user_id != b.user_id",
        )?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    for (body, user) in others {
        tx.execute(
            "INSERT INTO bodies_per_user (user_id, hash, size, parsed, raw)
             SELECT ?2, hash, size, parsed, raw FROM bodies_per_user WHERE id = ?1",
            params![body, user],
        )?;
        let copy = tx.last_insert_rowid();
        tx.execute(
            "UPDATE messages SET body_id = ?3
             WHERE body_id = ?1 AND mailbox_id IN (SELECT id FROM mailboxes WHERE user_id = ?2)",
            params![body, user, copy],
        )?;
    }
    tx.execute_batch(
        "DROP TABLE bodies;
         ALTER TABLE bodies_per_user RENAME TO bodies;",
    )?;
    Ok(())
}

/// Drop bodies that no message uses and no view holds (after removing a user or a folder).
pub(crate) fn delete_orphan_bodies(tx: &Transaction, holds: &Holds) -> Result<()> {
    let orphans: Vec<i64> = {
        let mut st = tx.prepare_cached(
            "SELECT id FROM bodies WHERE NOT EXISTS (SELECT 1 FROM messages WHERE body_id = bodies.id)",
        )?;
        let rows = st.query_map([], |r| r.get(0))?;
        rows.collect::<rusqlite::Result<_>>()?
    };
    let held = holds.held_bodies();
    let mut del = tx.prepare_cached("DELETE FROM bodies WHERE id = ?1")?;
    for id in orphans.iter().filter(|id| !held.contains(id)) {
        del.execute([id])?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::temp_store;
    use super::*;

    fn msg(text: &str, flags: &[&str]) -> NewMessage {
        NewMessage {
            raw: text.as_bytes().to_vec(),
            parsed: Vec::new(),
            flags: flags.iter().map(|s| s.to_string()).collect(),
            internal_date: 1_700_000_000,
            date_offset: 3600,
            fields: Default::default(),
            sort: Default::default(),
        }
    }

    #[test]
    fn append_new_skips_bytes_already_in_the_mailbox() {
        let t = temp_store();
        let u = t.store.create_user("u", "x").unwrap();
        let inbox = t.store.mailbox(u, "INBOX").unwrap().unwrap().id;
        let other = t.store.create_mailbox(u, "other").unwrap().id;
        t.store.append(other, &[msg("b", &[])]).unwrap();
        let before = t.store.highest_modseq(inbox).unwrap();
        let got = t
            .store
            .append_new(inbox, &[msg("a", &[]), msg("b", &[]), msg("a", &[])])
            .unwrap();
        // "b" lives in another folder only, so it is new here; the second "a" is a repeat.
        assert_eq!(got, vec![true, true, false]);
        let mid = t.store.highest_modseq(inbox).unwrap();
        assert_eq!(mid, before + 1);
        let again = t
            .store
            .append_new(inbox, &[msg("b", &[]), msg("a", &[])])
            .unwrap();
        assert_eq!(again, vec![false, false]);
        // Nothing stored: no modseq taken, UIDs unchanged.
        assert_eq!(t.store.highest_modseq(inbox).unwrap(), mid);
        assert_eq!(t.store.select(inbox, false).unwrap().uids, vec![1, 2]);
        assert_eq!(t.store.mailbox_by_id(inbox).unwrap().uidnext, 3);
    }

    #[test]
    fn purge_mail_empties_one_users_folders_or_everyones() {
        let t = temp_store();
        let a = t.store.create_user("a", "x").unwrap();
        let b = t.store.create_user("b", "x").unwrap();
        let a_inbox = t.store.mailbox(a, "INBOX").unwrap().unwrap().id;
        let a_sent = t.store.mailbox(a, "Sent").unwrap().unwrap().id;
        let b_inbox = t.store.mailbox(b, "INBOX").unwrap().unwrap().id;
        t.store
            .append(a_inbox, &[msg("1", &[]), msg("2", &[])])
            .unwrap();
        t.store.append(a_sent, &[msg("3", &["\\Seen"])]).unwrap();
        t.store.append(b_inbox, &[msg("4", &[])]).unwrap();
        assert_eq!(t.store.purge_mail(Some(a)).unwrap(), 3);
        for m in [a_inbox, a_sent] {
            assert!(t.store.select(m, false).unwrap().uids.is_empty());
            // The expunge path: the removals are in the change log, UIDs are not reused.
            assert_eq!(
                t.store.changes_since(m, 0).unwrap().expunged.len() as u32 + 1,
                t.store.mailbox_by_id(m).unwrap().uidnext
            );
        }
        assert_eq!(t.store.select(b_inbox, false).unwrap().uids, vec![1]);
        assert_eq!(t.store.purge_mail(None).unwrap(), 1);
        assert!(t.store.select(b_inbox, false).unwrap().uids.is_empty());
        assert_eq!(t.store.purge_mail(None).unwrap(), 0);
        assert_eq!(t.store.mailboxes(a).unwrap().len(), 6);
    }

    /// Flags read back per message, whether the folder's message ids are dense (one range
    /// scan of the flags) or spread out among another folder's (one probe per message).
    #[test]
    fn messages_carry_their_own_flags_dense_or_interleaved() {
        let t = temp_store();
        let u = t.store.create_user("u", "x").unwrap();
        let dense = t.store.mailbox(u, "INBOX").unwrap().unwrap().id;
        let sparse = t.store.create_mailbox(u, "sparse").unwrap().id;
        let other = t.store.create_mailbox(u, "other").unwrap().id;
        let flags_of = |i: usize| -> Vec<&'static str> {
            match i % 4 {
                0 => vec![],
                1 => vec!["\\Seen"],
                2 => vec!["$Label1", "\\Flagged", "\\Seen"],
                _ => vec!["\\Deleted"],
            }
        };
        let batch: Vec<NewMessage> = (0..40)
            .map(|i| msg(&format!("dense {i}"), &flags_of(i)))
            .collect();
        t.store.append(dense, &batch).unwrap();
        for i in 0..40 {
            // Ten messages of another folder between two of this one's: ids 11 apart.
            let filler: Vec<NewMessage> = (0..10)
                .map(|j| msg(&format!("filler {i} {j}"), &["\\Answered"]))
                .collect();
            t.store.append(other, &filler).unwrap();
            t.store
                .append(sparse, &[msg(&format!("sparse {i}"), &flags_of(i))])
                .unwrap();
        }
        let sorted = |i: usize| {
            let mut f: Vec<String> = flags_of(i).iter().map(|s| s.to_lowercase()).collect();
            f.sort();
            f
        };
        for mailbox in [dense, sparse] {
            let uids: Vec<u32> = (1..=40).collect();
            for with_size in [false, true] {
                let metas = t.store.messages_with(mailbox, &uids, with_size).unwrap();
                assert_eq!(metas.len(), 40);
                for (i, m) in metas.iter().enumerate() {
                    assert_eq!(m.uid, i as u32 + 1);
                    let mut got: Vec<String> = m.flags.iter().map(|f| f.to_lowercase()).collect();
                    got.sort();
                    assert_eq!(got, sorted(i), "uid {} of mailbox {mailbox:?}", m.uid);
                }
            }
            // A subset, and a UID that does not exist.
            let metas = t.store.messages(mailbox, &[2, 3, 99]).unwrap();
            assert_eq!(metas.iter().map(|m| m.uid).collect::<Vec<_>>(), vec![2, 3]);
            assert_eq!(metas[0].flags, vec!["\\Seen".to_string()]);
            assert_eq!(metas[1].flags.len(), 3);
        }
    }

    fn body_rows(t: &super::super::testutil::TempDb) -> Vec<(i64, Vec<u8>)> {
        t.store
            .read(|c| {
                let mut st = c.prepare("SELECT id, user_id FROM bodies ORDER BY id")?;
                let rows = st.query_map([], |r| Ok((r.get::<_, i64>(0)?, r.get(1)?)))?;
                let rows = rows.collect::<rusqlite::Result<Vec<(i64, i64)>>>()?;
                rows.into_iter()
                    .map(|(id, user)| Ok((user, super::super::chunks::read(c, id)?)))
                    .collect()
            })
            .unwrap()
    }

    /// The same bytes from two users are two bodies (no user can time an APPEND to learn what
    /// another holds); from one user, in any of its folders or through append_new (import),
    /// one body.
    #[test]
    fn bodies_are_shared_within_one_user_only() {
        let t = temp_store();
        let a = t.store.create_user("a", "x").unwrap();
        let b = t.store.create_user("b", "x").unwrap();
        let a_inbox = t.store.mailbox(a, "INBOX").unwrap().unwrap().id;
        let a_other = t.store.create_mailbox(a, "other").unwrap().id;
        let b_inbox = t.store.mailbox(b, "INBOX").unwrap().unwrap().id;
        t.store.append(a_inbox, &[msg("same", &[])]).unwrap();
        t.store.append(b_inbox, &[msg("same", &[])]).unwrap();
        assert_eq!(
            body_rows(&t),
            vec![(a.0, b"same".to_vec()), (b.0, b"same".to_vec())]
        );
        t.store.append(a_other, &[msg("same", &[])]).unwrap();
        t.store.append_new(a_inbox, &[msg("same", &[])]).unwrap();
        t.store.append_new(a_other, &[msg("same", &[])]).unwrap();
        t.store.copy(a_inbox, &[1], a_other).unwrap();
        assert_eq!(body_rows(&t).len(), 2);
        // The other user's copy outlives the first user's removal, and vice versa.
        t.store.remove_user("a").unwrap();
        assert_eq!(body_rows(&t), vec![(b.0, b"same".to_vec())]);
    }

    /// Raw bytes are read only when asked for, within the limits; flags come with the rows.
    #[test]
    fn fetch_rows_read_bodies_only_when_asked() {
        let t = temp_store();
        let s = &t.store;
        let u = s.create_user("f", "x").unwrap();
        let mb = s.mailbox(u, super::super::INBOX).unwrap().unwrap().id;
        s.append(
            mb,
            &[
                msg("Subject: a\r\n\r\n12345\r\n", &["\\Seen", "$x"]),
                msg("Subject: bb\r\n\r\n1\r\n", &[]),
            ],
        )
        .unwrap();
        let (_, hold) = s.select_view(mb, false).unwrap();
        let rows = s
            .fetch_rows(hold.id(), mb, &[1, 2], false, false, (0, 0))
            .unwrap();
        assert!(rows.iter().all(|r| r.raw.is_none() && r.parsed.is_none()));
        let mut flags = rows[0].meta.flags.clone();
        flags.sort();
        assert_eq!(flags, vec!["$x", "\\Seen"]);
        assert!(rows[1].meta.flags.is_empty());
        // Room for the first message only.
        let rows = s
            .fetch_rows(hold.id(), mb, &[1, 2], true, false, (100, 26))
            .unwrap();
        assert_eq!(
            rows[0].raw.as_deref(),
            Some(&b"Subject: a\r\n\r\n12345\r\n"[..])
        );
        assert!(rows[1].raw.is_none());
    }

    #[test]
    fn uids_are_never_reused() {
        let t = temp_store();
        let u = t.store.create_user("u", "x").unwrap();
        let inbox = t.store.mailbox(u, "INBOX").unwrap().unwrap().id;
        let a = t
            .store
            .append(inbox, &[msg("a", &["\\Deleted"]), msg("b", &[])])
            .unwrap();
        assert_eq!(a.iter().map(|m| m.uid).collect::<Vec<_>>(), vec![1, 2]);
        let (_, gone) = t.store.expunge(inbox, None).unwrap();
        assert_eq!(gone, vec![1]);
        let c = t.store.append(inbox, &[msg("c", &[])]).unwrap();
        assert_eq!(c[0].uid, 3);
        let snap = t.store.select(inbox, true).unwrap();
        assert_eq!(snap.uids, vec![2, 3]);
        assert_eq!(snap.recent, vec![2, 3]);
        // The next session finds nothing recent.
        assert!(t.store.select(inbox, true).unwrap().recent.is_empty());
    }

    #[test]
    fn copies_share_bodies_and_flags() {
        let t = temp_store();
        let u = t.store.create_user("u", "x").unwrap();
        let inbox = t.store.mailbox(u, "INBOX").unwrap().unwrap().id;
        let other = t.store.create_mailbox(u, "other").unwrap().id;
        t.store
            .append(inbox, &[msg("hello", &["\\Seen", "$Work"])])
            .unwrap();
        let (_, pairs) = t.store.copy(inbox, &[1], other).unwrap();
        assert_eq!(pairs, vec![(1, 1)]);
        let m = t.store.messages(other, &[1]).unwrap();
        assert_eq!(m.len(), 1);
        let mut f = m[0].flags.clone();
        f.sort();
        assert_eq!(f, vec!["$Work", "\\Seen"]);
        let bodies: i64 = t
            .store
            .read(|c| Ok(c.query_row("SELECT count(*) FROM bodies", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(bodies, 1);
    }

    #[test]
    fn move_is_copy_and_expunge_in_one_commit() {
        let t = temp_store();
        let u = t.store.create_user("u", "x").unwrap();
        let inbox = t.store.mailbox(u, "INBOX").unwrap().unwrap().id;
        let other = t.store.create_mailbox(u, "other").unwrap().id;
        t.store
            .append(
                inbox,
                &[msg("a", &["\\Seen"]), msg("b", &[]), msg("c", &[])],
            )
            .unwrap();
        let base = t.store.highest_modseq(inbox).unwrap();
        // A UID that no longer exists moves nothing at all.
        let err = t.store.move_messages(inbox, &[1, 3, 7], other).unwrap_err();
        assert!(matches!(err, StoreError::Expunged(_)), "{err}");
        let (_, pairs) = t.store.move_messages(inbox, &[1, 3], other).unwrap();
        assert_eq!(pairs, vec![(1, 1), (3, 2)]);
        let ch = t.store.changes_since(inbox, base).unwrap();
        assert_eq!(ch.expunged, vec![1, 3]);
        assert_eq!(
            t.store.messages(other, &[1]).unwrap()[0].flags,
            vec!["\\Seen"]
        );
        assert_eq!(t.store.messages(inbox, &[1, 2, 3]).unwrap().len(), 1);
        // Within one mailbox: new UIDs, the old ones gone, the body kept.
        let (_, pairs) = t.store.move_messages(inbox, &[2], inbox).unwrap();
        assert_eq!(pairs, vec![(2, 4)]);
        assert_eq!(t.store.messages(inbox, &[2, 4]).unwrap().len(), 1);
        assert!(!t
            .store
            .raw(t.store.messages(inbox, &[4]).unwrap()[0].body_id)
            .unwrap()
            .is_empty());
        // Nothing to move: nothing changes.
        let m = t.store.highest_modseq(other).unwrap();
        assert!(t
            .store
            .move_messages(inbox, &[], other)
            .unwrap()
            .1
            .is_empty());
        assert!(t.store.move_messages(inbox, &[99], other).is_err());
        assert_eq!(t.store.highest_modseq(other).unwrap(), m);
    }

    #[test]
    fn expunged_messages_stay_readable_while_a_view_holds_them() {
        let t = temp_store();
        let u = t.store.create_user("u", "x").unwrap();
        let inbox = t.store.mailbox(u, "INBOX").unwrap().unwrap().id;
        t.store
            .append(inbox, &[msg("a", &["\\Deleted"]), msg("b", &[])])
            .unwrap();
        let bodies = || -> i64 {
            t.store
                .read(|c| Ok(c.query_row("SELECT count(*) FROM bodies", [], |r| r.get(0))?))
                .unwrap()
        };
        let (snap, held) = t.store.select_view(inbox, false).unwrap();
        assert_eq!(snap.uids, vec![1, 2]);
        assert_eq!(t.store.expunge(inbox, None).unwrap().1, vec![1]);
        // A view opened after the expunge never numbered UID 1 and cannot read it.
        let (_, later) = t.store.select_view(inbox, false).unwrap();
        let got = |v: &ViewHold| -> Vec<u32> {
            t.store
                .view_messages(v.id(), inbox, &[1, 2], true)
                .unwrap()
                .iter()
                .map(|m| m.uid)
                .collect()
        };
        assert_eq!(got(&held), vec![1, 2]);
        assert_eq!(got(&later), vec![2]);
        let m = &t.store.view_messages(held.id(), inbox, &[1], true).unwrap()[0];
        assert_eq!(
            (m.size, m.flags.clone()),
            (1, vec!["\\Deleted".to_string()])
        );
        assert_eq!(t.store.raw(m.body_id).unwrap(), b"a");
        assert_eq!(bodies(), 2);
        // A collection before the release deletes nothing.
        t.store.collect_unheld().unwrap();
        assert_eq!(bodies(), 2);
        held.release(&[1]);
        assert!(t.store.has_unheld());
        t.store.collect_unheld().unwrap();
        assert_eq!(bodies(), 1);
        assert!(t.store.messages(inbox, &[1]).unwrap().is_empty());
        // Dropping a view releases it as well.
        t.store.append(inbox, &[msg("c", &["\\Deleted"])]).unwrap();
        let (_, v) = t.store.select_view(inbox, false).unwrap();
        drop(later);
        drop(held);
        t.store.expunge(inbox, None).unwrap();
        assert_eq!(bodies(), 2);
        drop(v);
        t.store.collect_unheld().unwrap();
        assert_eq!(bodies(), 1);
    }

    #[test]
    fn flag_ops_and_changes() {
        let t = temp_store();
        let u = t.store.create_user("u", "x").unwrap();
        let inbox = t.store.mailbox(u, "INBOX").unwrap().unwrap().id;
        t.store
            .append(inbox, &[msg("a", &[]), msg("b", &["\\Seen"])])
            .unwrap();
        let base = t.store.highest_modseq(inbox).unwrap();
        let (m, out) = t
            .store
            .store_flags(inbox, &[1, 2], FlagOp::Add, &["\\seen".to_string()])
            .unwrap();
        assert_eq!(
            out.iter().map(|o| o.changed).collect::<Vec<_>>(),
            vec![true, false]
        );
        let ch = t.store.changes_since(inbox, base).unwrap();
        assert_eq!(ch.highest_modseq, m);
        assert_eq!(ch.changed.len(), 1);
        assert_eq!(ch.changed[0].0, 1);
        let (_, out) = t
            .store
            .store_flags(inbox, &[1, 2], FlagOp::Remove, &["\\SEEN".to_string()])
            .unwrap();
        assert!(out.iter().all(|o| o.flags.is_empty()));
    }
}
