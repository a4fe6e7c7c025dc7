//! Messages, flags, expunges and the change log on PostgreSQL (the SQLite store's
//! messages.rs, same calls and rules).
//!
//! Every write that changes a mailbox first locks its row with `UPDATE mailboxes SET
//! highest_modseq = highest_modseq + 1 … RETURNING`: the UIDs it assigns (from `uidnext`) and
//! its modseq come from that row inside the transaction, so concurrent writers on any node
//! queue on the row and never share a UID or a modseq.

use postgres::types::ToSql;

use super::mailboxes::{gone, mailbox_by_id, row, COLUMNS};
use super::rest::guarded;
use super::Cached;
use super::{big, get, get_u32, get_u64, Fail, PgResult, PgStore, Tx};
use crate::mime::Keys;
use crate::store::chunks::CHUNK;
use crate::store::holds::{Holds, ViewHold, ViewId};
use crate::store::messages::{add_held, apply_flags, content_hash, fetch_parts, flags_only, Part};
use crate::store::objid::{body_ids, mailbox_id_with_key, ObjectFields, KEY};
use crate::store::scan::header_end;
use crate::store::sortkeys::{sort_columns, sort_row, KeyRow, SortKeysRef};
use crate::store::{
    now, AppendedMessage, Changes, Cond, FetchRow, FlagChange, FlagOp, FlagStore, MailboxCounts,
    MailboxId, MailboxRow, MessageMeta, NewMessage, Result, SelectSnapshot, StoreError, UserId,
};

type Param = Box<dyn ToSql + Sync>;

/// Lock the mailbox row and take its next modseq (the same for every row this transaction
/// touches in it); the row as it is now, with that modseq.
fn lock_mailbox(tx: &mut Tx<'_, '_>, mailbox: MailboxId) -> PgResult<MailboxRow> {
    let mb = tx
        .query_opt_c(
            &format!(
                "UPDATE mailboxes SET highest_modseq = highest_modseq + 1 WHERE id = $1
                 RETURNING {COLUMNS}"
            ),
            &[&mailbox.0],
        )?
        .map(|r| row(&r))
        .transpose()?
        .ok_or_else(gone)?;
    tx.changed_at(mailbox, mb.highest_modseq);
    Ok(mb)
}

/// `lock_mailbox`, where a mailbox that is gone has no messages to change (as on SQLite).
fn lock_or_nothing(tx: &mut Tx<'_, '_>, mailbox: MailboxId) -> PgResult<MailboxRow> {
    match lock_mailbox(tx, mailbox) {
        Err(Fail::Store(StoreError::NotFound(_))) => {
            Err(Fail::Store(StoreError::NotFound(NOTHING.into())))
        }
        other => other,
    }
}

pub(crate) fn owner(t: &mut postgres::Transaction<'_>, mailbox: MailboxId) -> PgResult<UserId> {
    t.query_opt_c("SELECT user_id FROM mailboxes WHERE id = $1", &[&mailbox.0])?
        .map(|r| get(&r, 0).map(UserId))
        .transpose()?
        .ok_or_else(gone)
}

fn cannot_hold(mb: &MailboxRow) -> PgResult<()> {
    if mb.noselect {
        return Err(StoreError::NotAllowed(format!("{} cannot hold messages", mb.name)).into());
    }
    Ok(())
}

fn no_uids() -> Fail {
    StoreError::NotAllowed("mailbox has run out of UIDs".into()).into()
}

/// The database's OBJECTID key (made when the schema is created).
pub(crate) fn id_key(t: &mut postgres::Transaction<'_>) -> PgResult<String> {
    Ok(
        t.query_opt_c("SELECT value FROM liteimap_meta WHERE key = $1", &[&KEY])?
            .map(|r| get(&r, 0))
            .transpose()?
            .unwrap_or_default(),
    )
}

/// Store the body once per user (never shared across users); its pieces and sort keys.
pub(crate) fn insert_body(
    t: &mut postgres::Transaction<'_>,
    user: UserId,
    hash: &[u8],
    m: &NewMessage,
) -> PgResult<i64> {
    if let Some(r) = t.query_opt_c(
        "SELECT id FROM bodies WHERE user_id = $1 AND hash = $2",
        &[&user.0, &hash],
    )? {
        return get(&r, 0);
    }
    let size = m.raw.len() as i64;
    // OBJECTID: EMAILID from the database's id key; THREADID of the first stored parent.
    let key = id_key(t)?;
    let (email_id, own_thread) = body_ids(&key, user.0, hash);
    let mut thread_id = None;
    for parent in &m.fields.parent_ids {
        if let Some(r) = t.query_opt_c(
            "SELECT thread_id FROM bodies
             WHERE user_id = $1 AND message_id = $2 AND thread_id IS NOT NULL LIMIT 1",
            &[&user.0, &text(parent)],
        )? {
            thread_id = Some(get::<String>(&r, 0)?);
            break;
        }
    }
    let thread_id = thread_id.unwrap_or(own_thread);
    let body: i64 = get(
        &t.query_one_c(
            "INSERT INTO bodies (user_id, hash, size, parsed, email_id, thread_id, message_id, preview)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            &[
                &user.0,
                &hash,
                &size,
                &m.parsed,
                &email_id,
                &thread_id,
                &m.fields.message_id.as_deref().map(text),
                &m.fields.preview,
            ],
        )?,
        0,
    )?;
    let pieces: Vec<&[u8]> = if m.raw.is_empty() {
        vec![&[][..]]
    } else {
        m.raw.chunks(CHUNK).collect()
    };
    for (i, piece) in pieces.into_iter().enumerate() {
        t.execute_c(
            "INSERT INTO body_chunks (body_id, start, data) VALUES ($1, $2, $3)",
            &[&body, &((i * CHUNK) as i64), &piece],
        )?;
    }
    let k = &m.sort;
    t.execute_c(
        "INSERT INTO sort_keys (body_id, subject, reply, sent_date, from_key, to_key, cc_key,
             display_from, display_to, message_id, refs)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        &[
            &body,
            &text(&k.subject),
            &i64::from(k.reply),
            &k.date,
            &text(&k.from),
            &text(&k.to),
            &text(&k.cc),
            &text(&k.display_from),
            &text(&k.display_to),
            &k.message_id.as_deref().map(text),
            &text(&k.references.join(" ")),
        ],
    )?;
    Ok(body)
}

/// A header-derived string as a PostgreSQL `text` can hold it: that type has no NUL (22021
/// "invalid byte sequence"), which a header may carry (the message itself is `bytea`). NUL
/// becomes U+0001, the next character up, so SORT and THREAD compare these keys as they
/// compare SQLite's, which keeps the NUL (only a key holding a real U+0001 there ties).
fn text(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains('\0') {
        std::borrow::Cow::Owned(s.replace('\0', "\u{1}"))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

fn insert_message(
    t: &mut postgres::Transaction<'_>,
    mailbox: MailboxId,
    uid: u32,
    body: i64,
    m: &NewMessage,
    modseq: u64,
) -> PgResult<()> {
    let id: i64 = get(
        &t.query_one_c(
            "INSERT INTO messages (mailbox_id, uid, body_id, internal_date, date_offset, modseq, save_date, size)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
            &[
                &mailbox.0,
                &i64::from(uid),
                &body,
                &m.internal_date,
                &m.date_offset,
                &big(modseq),
                &now(),
                &(m.raw.len() as i64),
            ],
        )?,
        0,
    )?;
    insert_flags(t, id, &m.flags)
}

pub(crate) fn insert_flags(
    t: &mut postgres::Transaction<'_>,
    id: i64,
    flags: &[String],
) -> PgResult<()> {
    if !flags.is_empty() {
        t.execute_c(
            "INSERT INTO flags (message_id, flag) SELECT $1, f FROM unnest($2::text[]) f
             ON CONFLICT DO NOTHING",
            &[&id, &flags],
        )?;
    }
    Ok(())
}

fn set_uidnext(t: &mut postgres::Transaction<'_>, mailbox: MailboxId, uid: u32) -> PgResult<()> {
    t.execute_c(
        "UPDATE mailboxes SET uidnext = $2 WHERE id = $1",
        &[&mailbox.0, &i64::from(uid)],
    )?;
    Ok(())
}

/// Append messages: bodies first, then the mailbox row is locked (the UIDs and the modseq
/// taken) only for the message rows, so concurrent appends wait for each other briefly.
pub(crate) fn append(
    tx: &mut Tx<'_, '_>,
    mailbox: MailboxId,
    msgs: &[NewMessage],
) -> PgResult<Vec<AppendedMessage>> {
    let user = owner(tx.t, mailbox)?;
    let bodies = store_bodies(tx.t, user, msgs)?;
    append_rows(tx, mailbox, msgs, &bodies)
}

fn store_bodies(
    t: &mut postgres::Transaction<'_>,
    user: UserId,
    msgs: &[NewMessage],
) -> PgResult<Vec<i64>> {
    msgs.iter()
        .map(|m| insert_body(t, user, &content_hash(&m.raw), m))
        .collect()
}

/// The message rows of `msgs`, whose bodies are `bodies`, with the next UIDs.
fn append_rows(
    tx: &mut Tx<'_, '_>,
    mailbox: MailboxId,
    msgs: &[NewMessage],
    bodies: &[i64],
) -> PgResult<Vec<AppendedMessage>> {
    let mb = lock_mailbox(tx, mailbox)?;
    cannot_hold(&mb)?;
    let modseq = mb.highest_modseq;
    let mut uid = mb.uidnext;
    let mut out = Vec::with_capacity(msgs.len());
    for (m, &body) in msgs.iter().zip(bodies) {
        if uid == u32::MAX {
            return Err(no_uids());
        }
        insert_message(tx.t, mailbox, uid, body, m, modseq)?;
        out.push(AppendedMessage {
            uidvalidity: mb.uidvalidity,
            uid,
            modseq,
        });
        uid += 1;
    }
    set_uidnext(tx.t, mailbox, uid)?;
    Ok(out)
}

/// `append` within the owner's quota (the bodies are stored before the quota row is locked).
fn guarded_append(
    tx: &mut Tx<'_, '_>,
    mailbox: MailboxId,
    msgs: &[NewMessage],
) -> PgResult<Vec<AppendedMessage>> {
    let user = owner(tx.t, mailbox)?;
    let bodies = store_bodies(tx.t, user, msgs)?;
    guarded(tx, user, |tx| append_rows(tx, mailbox, msgs, &bodies))
}

/// The rows `SELECT {columns} FROM {from}` (`m` is `messages`, its UID the first column) of
/// the messages `uids` (ascending) of `mailbox`, in UID order: one range scan when the set is
/// dense, the listed UIDs otherwise.
fn for_uids(
    t: &mut postgres::Transaction<'_>,
    mailbox: MailboxId,
    uids: &[u32],
    columns: &str,
    from: &str,
) -> PgResult<Vec<postgres::Row>> {
    let (Some(&lo), Some(&hi)) = (uids.first(), uids.last()) else {
        return Ok(Vec::new());
    };
    let select = format!("SELECT {columns} FROM {from} WHERE m.mailbox_id = $1");
    let span = (hi - lo) as usize + 1;
    let rows = if uids.len() * 8 < span {
        let list: Vec<i64> = uids.iter().map(|&u| i64::from(u)).collect();
        t.query_c(
            &format!("{select} AND m.uid = ANY($2) ORDER BY m.uid"),
            &[&mailbox.0, &list],
        )?
    } else {
        t.query_c(
            &format!("{select} AND m.uid BETWEEN $2 AND $3 ORDER BY m.uid"),
            &[&mailbox.0, &i64::from(lo), &i64::from(hi)],
        )?
    };
    let mut out = Vec::with_capacity(uids.len());
    for r in rows {
        if uids.binary_search(&get_u32(&r, 0)?).is_ok() {
            out.push(r);
        }
    }
    Ok(out)
}

/// The metadata of `uids` (ascending) with their flags.
pub(crate) fn messages_with(
    t: &mut postgres::Transaction<'_>,
    mailbox: MailboxId,
    uids: &[u32],
    with_size: bool,
) -> PgResult<Vec<MessageMeta>> {
    const COLUMNS: &str = "m.uid, m.body_id, m.internal_date, m.date_offset, m.modseq, m.size,
        (SELECT array_agg(f.flag ORDER BY f.flag) FROM flags f WHERE f.message_id = m.id)";
    let rows = for_uids(t, mailbox, uids, COLUMNS, "messages m")?;
    let mut out = Vec::with_capacity(rows.len());
    for r in &rows {
        let size: i64 = get(r, 5)?;
        out.push(MessageMeta {
            uid: get_u32(r, 0)?,
            body_id: get(r, 1)?,
            internal_date: get(r, 2)?,
            date_offset: get(r, 3)?,
            modseq: get_u64(r, 4)?,
            size: if with_size {
                size.clamp(0, u32::MAX as i64) as u32
            } else {
                0
            },
            flags: get::<Option<Vec<String>>>(r, 6)?.unwrap_or_default(),
        });
    }
    Ok(out)
}

impl KeyRow for postgres::Row {
    type Error = postgres::Error;
    fn int(&self, i: usize) -> std::result::Result<Option<i64>, postgres::Error> {
        self.try_get(i)
    }
    fn text(&self, i: usize) -> std::result::Result<Option<&str>, postgres::Error> {
        self.try_get(i)
    }
}

/// As the SQLite store's `sort_keys_each`: the stored SORT/THREAD keys `keys` (and the size
/// when `with_size`) of the messages `uids` (ascending), to `f` in UID order.
pub(crate) fn sort_keys_each(
    t: &mut postgres::Transaction<'_>,
    mailbox: MailboxId,
    uids: &[u32],
    keys: Keys,
    with_size: bool,
    f: &mut dyn FnMut(&SortKeysRef<'_>),
) -> PgResult<()> {
    let columns = sort_columns(keys, with_size);
    let from = "messages m LEFT JOIN sort_keys k ON k.body_id = m.body_id";
    for r in &for_uids(t, mailbox, uids, &columns, from)? {
        f(&sort_row(r, keys, with_size)?);
    }
    Ok(())
}

/// The header block of a stored body (up to and including the first empty line; all of it
/// when there is none): its first piece, and the following ones only for a longer header.
pub(crate) fn header(t: &mut postgres::Transaction<'_>, body: i64) -> PgResult<Vec<u8>> {
    let mut head = read_range(t, body, Some((0, CHUNK)))?;
    if let Some(end) = header_end(&head, 0) {
        head.truncate(end);
        return Ok(head);
    }
    if head.len() < CHUNK {
        return Ok(head);
    }
    let scanned = head.len().saturating_sub(2);
    head.extend_from_slice(&read_range(t, body, Some((CHUNK, usize::MAX)))?);
    if let Some(end) = header_end(&head, scanned) {
        head.truncate(end);
    }
    Ok(head)
}

fn body_gone() -> Fail {
    StoreError::NotFound("message body no longer exists".into()).into()
}

pub(crate) fn parsed(t: &mut postgres::Transaction<'_>, body: i64) -> PgResult<Vec<u8>> {
    t.query_opt_c("SELECT parsed FROM bodies WHERE id = $1", &[&body])?
        .map(|r| get(&r, 0))
        .transpose()?
        .ok_or_else(body_gone)
}

/// Up to `len` bytes of a body from `offset`, from the pieces that hold them (all of it for
/// `None`).
pub(crate) fn read_range(
    t: &mut postgres::Transaction<'_>,
    body: i64,
    range: Option<(usize, usize)>,
) -> PgResult<Vec<u8>> {
    let (offset, end) = match range {
        Some((offset, len)) => (offset, offset.saturating_add(len)),
        None => (0, usize::MAX),
    };
    let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    // The piece holding `offset` (the last one for an offset past the end), then those that
    // begin before `end`.
    let rows = t.query_c(
        "SELECT start, data FROM body_chunks
         WHERE body_id = $1 AND start < $3 AND start >= (
             SELECT coalesce(max(start), 0) FROM body_chunks WHERE body_id = $1 AND start <= $2)
         ORDER BY start",
        &[&body, &as_i64(offset), &as_i64(end).max(1)],
    )?;
    if rows.is_empty() {
        return Err(body_gone());
    }
    let mut out = Vec::new();
    for r in &rows {
        let start = usize::try_from(get::<i64>(r, 0)?).unwrap_or(usize::MAX);
        let data: &[u8] = get(r, 1)?;
        let from = offset.max(start) - start;
        let to = end
            .min(start.saturating_add(data.len()))
            .saturating_sub(start);
        if from < to {
            out.extend_from_slice(&data[from..to]);
        }
    }
    Ok(out)
}

fn keywords(t: &mut postgres::Transaction<'_>, mailbox: MailboxId) -> PgResult<Vec<String>> {
    t.query_c(
        "SELECT min(f.flag) FROM flags f JOIN messages m ON m.id = f.message_id
         WHERE m.mailbox_id = $1 AND left(f.flag, 1) <> '\\' GROUP BY lower(f.flag)
         ORDER BY min(f.flag) COLLATE \"C\"",
        &[&mailbox.0],
    )?
    .iter()
    .map(|r| get(r, 0))
    .collect()
}

/// SELECT's snapshot; with `claim`, under the mailbox row's lock, making the messages from
/// the old recent floor on \Recent to this session only (on any node).
fn snapshot(
    t: &mut postgres::Transaction<'_>,
    mailbox: MailboxId,
    claim: bool,
) -> PgResult<SelectSnapshot> {
    let lock_clause = if claim { " FOR UPDATE" } else { "" };
    let r = t
        .query_opt_c(
            &format!("SELECT {COLUMNS}, recent_floor FROM mailboxes WHERE id = $1{lock_clause}"),
            &[&mailbox.0],
        )?
        .ok_or_else(gone)?;
    let mb = row(&r)?;
    let floor = get_u32(&r, 7)?;
    let uids: Vec<u32> = t
        .query_c(
            "SELECT uid FROM messages WHERE mailbox_id = $1 ORDER BY uid",
            &[&mailbox.0],
        )?
        .iter()
        .map(|r| get_u32(r, 0))
        .collect::<PgResult<_>>()?;
    let first_unseen = t
        .query_opt_c(
            "SELECT m.uid FROM messages m WHERE m.mailbox_id = $1
               AND NOT EXISTS (SELECT 1 FROM flags f WHERE f.message_id = m.id AND lower(f.flag) = '\\seen')
             ORDER BY m.uid LIMIT 1",
            &[&mailbox.0],
        )?
        .map(|r| get_u32(&r, 0))
        .transpose()?;
    let start = uids.partition_point(|&u| u < floor);
    let recent = uids[start..].to_vec();
    if claim {
        t.execute_c(
            "UPDATE mailboxes SET recent_floor = uidnext WHERE id = $1",
            &[&mailbox.0],
        )?;
    }
    let keywords = keywords(t, mailbox)?;
    let object_id = mailbox_id_with_key(&id_key(t)?, &mb);
    Ok(SelectSnapshot {
        object_id,
        mailbox: mb,
        uids,
        recent,
        first_unseen,
        keywords,
    })
}

/// Remove messages (uid, message id, body id), recording them in `expunged`; drop the bodies
/// no copy uses any more and no open view of this process still numbers.
fn remove_messages(
    t: &mut postgres::Transaction<'_>,
    holds: &Holds,
    mailbox: MailboxId,
    rows: &[(u32, i64, i64)],
    modseq: u64,
    told: Option<ViewId>,
) -> PgResult<()> {
    if rows.is_empty() {
        return Ok(());
    }
    if holds.watched(mailbox, told) {
        let mut uids: Vec<u32> = rows.iter().map(|r| r.0).collect();
        uids.sort_unstable();
        let metas = messages_with(t, mailbox, &uids, true)?;
        holds.hold_removed(mailbox, metas, told);
    }
    let uids: Vec<i64> = rows.iter().map(|r| i64::from(r.0)).collect();
    let ids: Vec<i64> = rows.iter().map(|r| r.1).collect();
    t.execute_c(
        "INSERT INTO expunged (mailbox_id, uid, modseq) SELECT $1, u, $3 FROM unnest($2::bigint[]) u
         ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq = excluded.modseq",
        &[&mailbox.0, &uids, &big(modseq)],
    )?;
    t.execute_c("DELETE FROM messages WHERE id = ANY($1)", &[&ids])?;
    let bodies: Vec<i64> = rows.iter().map(|r| r.2).collect();
    collect_bodies(t, holds, &bodies)
}

/// Delete those of `bodies` that no message uses and no view of this process holds.
fn collect_bodies(
    t: &mut postgres::Transaction<'_>,
    holds: &Holds,
    bodies: &[i64],
) -> PgResult<()> {
    let held = holds.held_bodies();
    let free: Vec<i64> = bodies
        .iter()
        .copied()
        .filter(|b| !held.contains(b))
        .collect();
    t.execute_c(
        "DELETE FROM bodies b WHERE b.id = ANY($1)
           AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.body_id = b.id)",
        &[&free],
    )?;
    Ok(())
}

fn message_rows(
    t: &mut postgres::Transaction<'_>,
    sql: &str,
    params: &[&(dyn ToSql + Sync)],
) -> PgResult<Vec<(u32, i64, i64)>> {
    t.query_c(sql, params)?
        .iter()
        .map(|r| Ok((get_u32(r, 0)?, get(r, 1)?, get(r, 2)?)))
        .collect()
}

fn expunge_deleted(
    tx: &mut Tx<'_, '_>,
    holds: &Holds,
    mailbox: MailboxId,
    only: Option<&[u32]>,
    told: Option<ViewId>,
) -> PgResult<(u64, Vec<u32>)> {
    // Locked first: the \Deleted set read next is then the one this expunge removes.
    let mb = lock_or_nothing(tx, mailbox)?;
    let mut rows = message_rows(
        tx.t,
        "SELECT m.uid, m.id, m.body_id FROM messages m JOIN flags f ON f.message_id = m.id
         WHERE m.mailbox_id = $1 AND lower(f.flag) = '\\deleted' ORDER BY m.uid",
        &[&mailbox.0],
    )?;
    if let Some(only) = only {
        rows.retain(|(uid, _, _)| only.binary_search(uid).is_ok());
    }
    if rows.is_empty() {
        // Nothing to do: the modseq taken above is given back by rolling back.
        return Err(Fail::Store(StoreError::NotFound(NOTHING.into())));
    }
    remove_messages(tx.t, holds, mailbox, &rows, mb.highest_modseq, told)?;
    Ok((
        mb.highest_modseq,
        rows.into_iter().map(|(uid, _, _)| uid).collect(),
    ))
}

/// The marker of a write that found nothing to change (rolled back, answered as no change).
const NOTHING: &str = "\u{0}nothing to change";

fn nothing<T>(r: Result<T>, none: impl FnOnce() -> T) -> Result<T> {
    match r {
        Err(StoreError::NotFound(m)) if m == NOTHING => Ok(none()),
        other => other,
    }
}

/// Remove every message of a mailbox (DELETE of a folder, `purge_mail`).
pub(crate) fn expunge_all(tx: &mut Tx<'_, '_>, holds: &Holds, mailbox: MailboxId) -> PgResult<u64> {
    let rows = message_rows(
        tx.t,
        "SELECT uid, id, body_id FROM messages WHERE mailbox_id = $1 ORDER BY uid",
        &[&mailbox.0],
    )?;
    if rows.is_empty() {
        return Ok(0);
    }
    let mb = lock_mailbox(tx, mailbox)?;
    remove_messages(tx.t, holds, mailbox, &rows, mb.highest_modseq, None)?;
    Ok(rows.len() as u64)
}

/// RENAME INBOX: every message moves to `to` (new, so the UIDs stay) and INBOX is left
/// empty with its UIDVALIDITY and UIDNEXT.
pub(crate) fn move_all(tx: &mut Tx<'_, '_>, from: MailboxId, to: MailboxId) -> PgResult<()> {
    let src = lock_mailbox(tx, from)?;
    tx.execute_c(
        "INSERT INTO expunged (mailbox_id, uid, modseq) SELECT $1, uid, $2 FROM messages WHERE mailbox_id = $1
         ON CONFLICT (mailbox_id, uid) DO UPDATE SET modseq = excluded.modseq",
        &[&from.0, &big(src.highest_modseq)],
    )?;
    let dst = lock_mailbox(tx, to)?;
    tx.execute_c(
        "UPDATE messages SET mailbox_id = $2, modseq = $3 WHERE mailbox_id = $1",
        &[&from.0, &to.0, &big(dst.highest_modseq)],
    )?;
    tx.execute_c(
        "UPDATE mailboxes SET uidnext = $2, recent_floor = $2 WHERE id = $1",
        &[&to.0, &i64::from(src.uidnext)],
    )?;
    Ok(())
}

/// Bodies no message uses and no view of this process holds.
pub(crate) fn delete_orphan_bodies(
    t: &mut postgres::Transaction<'_>,
    holds: &Holds,
) -> PgResult<()> {
    let held: Vec<i64> = holds.held_bodies().into_iter().collect();
    t.execute_c(
        "DELETE FROM bodies b WHERE NOT EXISTS (SELECT 1 FROM messages m WHERE m.body_id = b.id)
           AND NOT (b.id = ANY($1))",
        &[&held],
    )?;
    Ok(())
}

/// A message COPY and MOVE work on: uid, message id, body id, internal date, offset, size.
type SourceRow = (u32, i64, i64, i64, i32, i64);

fn source_rows(
    t: &mut postgres::Transaction<'_>,
    from: MailboxId,
    uids: &[u32],
) -> PgResult<Vec<SourceRow>> {
    let list: Vec<i64> = uids.iter().map(|&u| i64::from(u)).collect();
    t.query_c(
        "SELECT uid, id, body_id, internal_date, date_offset, size FROM messages
         WHERE mailbox_id = $1 AND uid = ANY($2) ORDER BY uid",
        &[&from.0, &list],
    )?
    .iter()
    .map(|r| {
        Ok((
            get_u32(r, 0)?,
            get(r, 1)?,
            get(r, 2)?,
            get(r, 3)?,
            get(r, 4)?,
            get(r, 5)?,
        ))
    })
    .collect()
}

fn all_present(rows: &[SourceRow], uids: &[u32]) -> PgResult<()> {
    let mut wanted = uids.to_vec();
    wanted.sort_unstable();
    wanted.dedup();
    if rows.len() < wanted.len() {
        return Err(StoreError::Expunged(format!(
            "{} of the requested messages were expunged by another session; nothing was copied",
            wanted.len() - rows.len()
        ))
        .into());
    }
    Ok(())
}

fn copy_rows(
    tx: &mut Tx<'_, '_>,
    rows: &[SourceRow],
    to: MailboxId,
) -> PgResult<(u32, Vec<(u32, u32)>)> {
    if rows.is_empty() {
        let dst = mailbox_by_id(tx.t, to)?;
        cannot_hold(&dst)?;
        return Ok((dst.uidvalidity, Vec::new()));
    }
    let dst = lock_mailbox(tx, to)?;
    cannot_hold(&dst)?;
    let mut uid = dst.uidnext;
    let mut pairs = Vec::with_capacity(rows.len());
    for &(src_uid, id, body, date, offset, size) in rows {
        if uid == u32::MAX {
            return Err(StoreError::NotAllowed("target mailbox has run out of UIDs".into()).into());
        }
        let new_id: i64 = get(
            &tx.query_one_c(
                "INSERT INTO messages (mailbox_id, uid, body_id, internal_date, date_offset, modseq, save_date, size)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8) RETURNING id",
                &[&to.0, &i64::from(uid), &body, &date, &offset, &big(dst.highest_modseq), &now(), &size],
            )?,
            0,
        )?;
        tx.execute_c(
            "INSERT INTO flags (message_id, flag) SELECT $2, flag FROM flags WHERE message_id = $1",
            &[&id, &new_id],
        )?;
        pairs.push((src_uid, uid));
        uid += 1;
    }
    set_uidnext(tx.t, to, uid)?;
    Ok((dst.uidvalidity, pairs))
}

/// A message whose flags a STORE reads: uid, id, modseq, flags.
type FlagRow = (u32, i64, u64, Vec<String>);

/// The rows of messages whose flags a STORE reads.
fn flag_rows(
    t: &mut postgres::Transaction<'_>,
    mailbox: MailboxId,
    uids: &[u32],
) -> PgResult<Vec<FlagRow>> {
    let list: Vec<i64> = uids.iter().map(|&u| i64::from(u)).collect();
    t.query_c(
        "SELECT m.uid, m.id, m.modseq,
                (SELECT array_agg(f.flag ORDER BY f.flag) FROM flags f WHERE f.message_id = m.id)
         FROM messages m WHERE m.mailbox_id = $1 AND m.uid = ANY($2) ORDER BY m.uid",
        &[&mailbox.0, &list],
    )?
    .iter()
    .map(|r| {
        Ok((
            get_u32(r, 0)?,
            get(r, 1)?,
            get_u64(r, 2)?,
            get::<Option<Vec<String>>>(r, 3)?.unwrap_or_default(),
        ))
    })
    .collect()
}

fn store_flags(
    tx: &mut Tx<'_, '_>,
    mailbox: MailboxId,
    uids: &[u32],
    op: FlagOp,
    flags: &[String],
    unchanged_since: Option<u64>,
) -> PgResult<FlagStore> {
    // Locked first, so the flags read are the ones this change starts from on every node.
    let mb = lock_or_nothing(tx, mailbox)?;
    let rows = flag_rows(tx.t, mailbox, uids)?;
    let (rows, modified): (Vec<_>, Vec<_>) = rows
        .into_iter()
        .partition(|(_, _, m, _)| unchanged_since.is_none_or(|n| *m <= n));
    let modified = modified.into_iter().map(|(uid, _, _, _)| uid).collect();
    let modseq = mb.highest_modseq;
    let mut any = false;
    let mut out = Vec::with_capacity(rows.len());
    for (uid, id, old_modseq, old) in rows {
        let (new, changed) = apply_flags(&old, op, flags);
        if changed {
            any = true;
            tx.execute_c("DELETE FROM flags WHERE message_id = $1", &[&id])?;
            insert_flags(tx.t, id, &new)?;
            tx.execute_c(
                "UPDATE messages SET modseq = $2 WHERE id = $1",
                &[&id, &big(modseq)],
            )?;
        }
        out.push(FlagChange {
            uid,
            flags: new,
            changed,
            modseq: if changed { modseq } else { old_modseq },
        });
    }
    if !any {
        // Nothing changed: no modseq is taken (rolled back), as on SQLite.
        return Err(Fail::Store(StoreError::NotFound(NOTHING.into())));
    }
    Ok(FlagStore {
        modseq,
        changes: out,
        modified,
    })
}

fn changes_since(
    t: &mut postgres::Transaction<'_>,
    mailbox: MailboxId,
    modseq: u64,
) -> PgResult<Changes> {
    let highest = t
        .query_opt_c(
            "SELECT highest_modseq FROM mailboxes WHERE id = $1 AND NOT noselect",
            &[&mailbox.0],
        )?
        .map(|r| get_u64(&r, 0))
        .transpose()?
        .ok_or_else(gone)?;
    let mut ch = Changes {
        highest_modseq: highest,
        ..Changes::default()
    };
    if highest <= modseq {
        return Ok(ch);
    }
    ch.expunged = t
        .query_c(
            "SELECT uid FROM expunged WHERE mailbox_id = $1 AND modseq > $2 ORDER BY uid",
            &[&mailbox.0, &big(modseq)],
        )?
        .iter()
        .map(|r| get_u32(r, 0))
        .collect::<PgResult<_>>()?;
    ch.changed = t
        .query_c(
            "SELECT m.uid, m.modseq,
                    (SELECT array_agg(f.flag ORDER BY f.flag) FROM flags f WHERE f.message_id = m.id)
             FROM messages m WHERE m.mailbox_id = $1 AND m.modseq > $2 ORDER BY m.uid",
            &[&mailbox.0, &big(modseq)],
        )?
        .iter()
        .map(|r| {
            Ok((
                get_u32(r, 0)?,
                get_u64(r, 1)?,
                get::<Option<Vec<String>>>(r, 2)?.unwrap_or_default(),
            ))
        })
        .collect::<PgResult<_>>()?;
    Ok(ch)
}

/// Unix seconds of local midnight starting `d` (the server's zone, as SQLite's 'localtime').
fn local_midnight(d: chrono::NaiveDate) -> i64 {
    use chrono::TimeZone;
    let midnight = d.and_hms_opt(0, 0, 0).unwrap_or_default();
    chrono::Local
        .from_local_datetime(&midnight)
        .earliest()
        .map_or_else(|| midnight.and_utc().timestamp(), |t| t.timestamp())
}

/// Days since 1970-01-01 of a calendar date.
fn epoch_day(d: chrono::NaiveDate) -> i64 {
    (d - chrono::NaiveDate::default()).num_days()
}

/// The condition as a PostgreSQL expression over `m` (messages) and `d` (bodies), with its
/// parameters appended (numbered after those already there).
fn cond_sql(c: &Cond, params: &mut Vec<Param>) -> String {
    let p = |v: Param, params: &mut Vec<Param>| {
        params.push(v);
        format!("${}", params.len())
    };
    // The calendar day of the internal date in the zone it was given in (shifted positive so
    // that integer division floors).
    let day = "((m.internal_date + m.date_offset + 8640000000) / 86400 - 100000)";
    match c {
        Cond::All => "true".into(),
        Cond::HasFlag(f) => format!(
            "EXISTS (SELECT 1 FROM flags f WHERE f.message_id = m.id AND lower(f.flag) = lower({}))",
            p(Box::new(f.clone()), params)
        ),
        Cond::DateBefore(d) => format!("{day} < {}", p(Box::new(epoch_day(*d)), params)),
        Cond::DateOn(d) => format!("{day} = {}", p(Box::new(epoch_day(*d)), params)),
        Cond::DateSince(d) => format!("{day} >= {}", p(Box::new(epoch_day(*d)), params)),
        Cond::After(t) => format!("m.internal_date >= {}", p(Box::new(*t), params)),
        Cond::Before(t) => format!("m.internal_date < {}", p(Box::new(*t), params)),
        Cond::Larger(n) => format!("m.size > {}", p(Box::new(i64::from(*n)), params)),
        Cond::Smaller(n) => format!("m.size < {}", p(Box::new(i64::from(*n)), params)),
        Cond::ModSeqAtLeast(n) => format!("m.modseq >= {}", p(Box::new(big(*n)), params)),
        Cond::EmailId(id) => format!("d.email_id = {}", p(Box::new(id.clone()), params)),
        Cond::ThreadId(id) => format!("d.thread_id = {}", p(Box::new(id.clone()), params)),
        Cond::SavedBefore(d) => {
            format!("m.save_date < {}", p(Box::new(local_midnight(*d)), params))
        }
        Cond::SavedSince(d) => {
            format!("m.save_date >= {}", p(Box::new(local_midnight(*d)), params))
        }
        Cond::SavedOn(d) => {
            let from = p(Box::new(local_midnight(*d)), params);
            let next = d.succ_opt().unwrap_or(*d);
            let to = p(Box::new(local_midnight(next)), params);
            format!("(m.save_date >= {from} AND m.save_date < {to})")
        }
        Cond::Not(c) => format!("NOT coalesce(({}), false)", cond_sql(c, params)),
        Cond::And(cs) if cs.is_empty() => "true".into(),
        Cond::And(cs) => cs
            .iter()
            .map(|c| format!("({})", cond_sql(c, params)))
            .collect::<Vec<_>>()
            .join(" AND "),
        Cond::Or(a, b) => format!("({}) OR ({})", cond_sql(a, params), cond_sql(b, params)),
    }
}

fn uses_body_row(c: &Cond) -> bool {
    match c {
        Cond::EmailId(_) | Cond::ThreadId(_) => true,
        Cond::Not(c) => uses_body_row(c),
        Cond::And(cs) => cs.iter().any(uses_body_row),
        Cond::Or(a, b) => uses_body_row(a) || uses_body_row(b),
        _ => false,
    }
}

pub(crate) fn search(
    t: &mut postgres::Transaction<'_>,
    mailbox: MailboxId,
    cond: &Cond,
) -> PgResult<Vec<u32>> {
    let mut params: Vec<Param> = vec![Box::new(mailbox.0)];
    let expr = cond_sql(cond, &mut params);
    let join = if uses_body_row(cond) {
        "JOIN bodies d ON d.id = m.body_id"
    } else {
        ""
    };
    let refs: Vec<&(dyn ToSql + Sync)> = params.iter().map(|p| p.as_ref()).collect();
    t.query_c(
        &format!("SELECT m.uid FROM messages m {join} WHERE m.mailbox_id = $1 AND ({expr}) ORDER BY m.uid"),
        &refs,
    )?
    .iter()
    .map(|r| get_u32(r, 0))
    .collect()
}

impl PgStore {
    /// Append messages to a mailbox, all or nothing, in one transaction. Returns their UIDs.
    pub fn append(&self, mailbox: MailboxId, msgs: &[NewMessage]) -> Result<Vec<AppendedMessage>> {
        self.write(|tx| guarded_append(tx, mailbox, msgs))
    }

    /// Append the messages whose bytes are not already in the mailbox (import), in one
    /// transaction; per message, whether it was stored.
    pub fn append_new(&self, mailbox: MailboxId, msgs: &[NewMessage]) -> Result<Vec<bool>> {
        self.write(|tx| {
            let user = owner(tx.t, mailbox)?;
            let mut fresh: Vec<&NewMessage> = Vec::new();
            let mut hashes: Vec<Vec<u8>> = Vec::new();
            let mut out = Vec::with_capacity(msgs.len());
            for m in msgs {
                let hash = content_hash(&m.raw);
                let present = hashes.contains(&hash)
                    || tx
                        .query_opt_c(
                            "SELECT 1 FROM bodies b JOIN messages m ON m.body_id = b.id
                             WHERE b.user_id = $1 AND b.hash = $2 AND m.mailbox_id = $3 LIMIT 1",
                            &[&user.0, &hash, &mailbox.0],
                        )?
                        .is_some();
                out.push(!present);
                if !present {
                    hashes.push(hash);
                    fresh.push(m);
                }
            }
            if fresh.is_empty() {
                let mb = mailbox_by_id(tx.t, mailbox)?;
                cannot_hold(&mb)?;
                return Ok(out);
            }
            let mb = lock_mailbox(tx, mailbox)?;
            cannot_hold(&mb)?;
            let mut uid = mb.uidnext;
            for (m, hash) in fresh.into_iter().zip(&hashes) {
                if uid == u32::MAX {
                    return Err(no_uids());
                }
                let body = insert_body(tx.t, user, hash, m)?;
                insert_message(tx.t, mailbox, uid, body, m, mb.highest_modseq)?;
                uid += 1;
            }
            set_uidnext(tx.t, mailbox, uid)?;
            Ok(out)
        })
    }

    /// Load a mailbox for SELECT (`claim_recent`) or EXAMINE; the claim makes the messages
    /// that arrived since the last claim (on any node) \Recent in this session only.
    pub fn select(&self, mailbox: MailboxId, claim_recent: bool) -> Result<SelectSnapshot> {
        let read = self.read(|t| {
            let unclaimed = claim_recent
                && t.query_opt_c(
                    "SELECT recent_floor < uidnext FROM mailboxes WHERE id = $1",
                    &[&mailbox.0],
                )?
                .map(|r| get::<bool>(&r, 0))
                .transpose()?
                .unwrap_or(false);
            if unclaimed {
                return Ok(None);
            }
            snapshot(t, mailbox, false).map(Some)
        })?;
        if let Some(s) = read {
            return Ok(s);
        }
        match self.write(|tx| snapshot(tx.t, mailbox, true)) {
            Err(StoreError::Full) => {
                let mut s = self.read(|t| snapshot(t, mailbox, false))?;
                s.recent.clear();
                Ok(s)
            }
            other => other,
        }
    }

    /// As `select`, and open the session's view (expunged messages stay readable through it
    /// until released; held in this process).
    pub fn select_view(
        &self,
        mailbox: MailboxId,
        claim_recent: bool,
    ) -> Result<(SelectSnapshot, ViewHold)> {
        let hold = self.holds.open(mailbox);
        let snapshot = self.select(mailbox, claim_recent)?;
        hold.retain(&snapshot.uids);
        Ok((snapshot, hold))
    }

    /// As `messages_with`, for a view (RFC 2180 §4.1.1).
    pub fn view_messages(
        &self,
        view: ViewId,
        mailbox: MailboxId,
        uids: &[u32],
        with_size: bool,
    ) -> Result<Vec<MessageMeta>> {
        let mut metas = self.messages_with(mailbox, uids, with_size)?;
        add_held(&self.holds, view, mailbox, uids, &mut metas);
        Ok(metas)
    }

    /// As the SQLite store's `view_flags` (the FETCH fast path's read): the same rows as
    /// `view_messages`, every field but the UID, flags and modseq 0.
    pub fn view_flags(
        &self,
        view: ViewId,
        mailbox: MailboxId,
        uids: &[u32],
        with_modseq: bool,
    ) -> Result<Vec<MessageMeta>> {
        let mut metas = self.view_messages(view, mailbox, uids, false)?;
        flags_only(&mut metas, with_modseq);
        Ok(metas)
    }

    pub fn has_unheld(&self) -> bool {
        self.holds.has_unheld()
    }

    /// Delete the bodies that views have let go of and no message uses.
    pub fn collect_unheld(&self) -> Result<()> {
        let bodies = self.holds.take_unheld();
        if bodies.is_empty() {
            return Ok(());
        }
        self.write(|tx| collect_bodies(tx.t, &self.holds, &bodies))
    }

    /// Delete every body no message uses and no view of this process holds. With several
    /// nodes, another node's views may still number an expunged message whose body this
    /// removes: that node then leaves it out of FETCH, as for a message removed before.
    pub fn collect_orphans(&self) -> Result<()> {
        self.write(|tx| delete_orphan_bodies(tx.t, &self.holds))
    }

    /// Append to the mailbox a session has selected, claiming \Recent in the same
    /// transaction; the UIDs \Recent for that session (up to the new UIDNEXT).
    pub fn append_claiming(
        &self,
        mailbox: MailboxId,
        msgs: &[NewMessage],
    ) -> Result<(Vec<AppendedMessage>, std::ops::Range<u32>)> {
        self.write(|tx| {
            let appended = guarded_append(tx, mailbox, msgs)?;
            let r = tx.query_one_c(
                "UPDATE mailboxes m SET recent_floor = m.uidnext FROM mailboxes old
                 WHERE m.id = $1 AND old.id = m.id RETURNING old.recent_floor, m.uidnext",
                &[&mailbox.0],
            )?;
            Ok((appended, get_u32(&r, 0)?..get_u32(&r, 1)?))
        })
    }

    /// Claim \Recent for newly seen UIDs: those this session is the first (on any node) to
    /// see; none on a full disk.
    pub fn claim_recent(&self, mailbox: MailboxId, uids: &[u32]) -> Result<Vec<u32>> {
        let Some(&max) = uids.iter().max() else {
            return Ok(Vec::new());
        };
        let claimed = self.write(|tx| {
            let floor = get_u32(
                &tx.query_opt_c(
                    "SELECT recent_floor FROM mailboxes WHERE id = $1 FOR UPDATE",
                    &[&mailbox.0],
                )?
                .ok_or_else(gone)?,
                0,
            )?;
            if max >= floor {
                tx.execute_c(
                    "UPDATE mailboxes SET recent_floor = $2 WHERE id = $1",
                    &[&mailbox.0, &(i64::from(max) + 1)],
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
        self.read(|t| mailbox_by_id(t, mailbox))
    }

    /// Metadata of the messages with these UIDs (ascending; missing UIDs left out).
    pub fn messages(&self, mailbox: MailboxId, uids: &[u32]) -> Result<Vec<MessageMeta>> {
        self.read(|t| messages_with(t, mailbox, uids, true))
    }

    /// As `messages`; without `with_size`, `size` is 0.
    pub fn messages_with(
        &self,
        mailbox: MailboxId,
        uids: &[u32],
        with_size: bool,
    ) -> Result<Vec<MessageMeta>> {
        self.read(|t| messages_with(t, mailbox, uids, with_size))
    }

    /// What FETCH reads of these UIDs, from one snapshot: metadata, the cached parse when
    /// `with_parsed`, and the raw bytes of messages of at most `raw_each` bytes while their
    /// total stays within `raw_budget`.
    pub fn fetch_rows(
        &self,
        view: ViewId,
        mailbox: MailboxId,
        uids: &[u32],
        with_size: bool,
        with_parsed: bool,
        (raw_each, raw_budget): (usize, usize),
    ) -> Result<Vec<FetchRow>> {
        self.read(|t| {
            let mut metas = messages_with(t, mailbox, uids, with_size || raw_budget > 0)?;
            add_held(&self.holds, view, mailbox, uids, &mut metas);
            // A body gone with no hold on it (another node removed the message) is as if
            // expunged before the view numbered it: left out.
            fetch_parts(metas, with_parsed, (raw_each, raw_budget), |part, body| {
                let read = match part {
                    Part::Parsed => parsed(t, body),
                    Part::Raw => read_range(t, body, None),
                };
                match read {
                    Ok(v) => Ok(Some(v)),
                    Err(Fail::Store(StoreError::NotFound(_))) => Ok(None),
                    Err(e) => Err(e),
                }
            })
        })
    }

    /// The raw bytes of a stored body.
    pub fn raw(&self, body_id: i64) -> Result<Vec<u8>> {
        self.read(|t| read_range(t, body_id, None))
    }

    /// Up to `len` bytes of a stored body from `offset`, read from the pieces that hold them.
    pub fn raw_range(&self, body_id: i64, offset: usize, len: usize) -> Result<Vec<u8>> {
        self.read(|t| read_range(t, body_id, Some((offset, len))))
    }

    /// The MIME layer's cached parse of a stored body.
    pub fn parsed(&self, body_id: i64) -> Result<Vec<u8>> {
        self.read(|t| parsed(t, body_id))
    }

    /// REPLACE (RFC 8508): append `msg` to `to` and expunge `old` of `from` in one
    /// transaction; the appended message and the expunge's modseq.
    pub fn replace(
        &self,
        from: MailboxId,
        old: u32,
        to: MailboxId,
        msg: &NewMessage,
    ) -> Result<(AppendedMessage, u64)> {
        self.write(|tx| {
            let user = owner(tx.t, to)?;
            guarded(tx, user, |tx| {
                let rows = source_rows(tx.t, from, &[old])?;
                all_present(&rows, &[old])?;
                let appended = append(tx, to, std::slice::from_ref(msg))?
                    .pop()
                    .ok_or_else(|| StoreError::NotAllowed("nothing was appended".into()))?;
                // Within one mailbox the expunge is the later change.
                let mb = lock_mailbox(tx, from)?;
                let removed: Vec<(u32, i64, i64)> = rows
                    .iter()
                    .map(|&(uid, id, body, ..)| (uid, id, body))
                    .collect();
                remove_messages(tx.t, &self.holds, from, &removed, mb.highest_modseq, None)?;
                Ok((appended, mb.highest_modseq))
            })
        })
    }

    /// Change flags: the new modseq (0 when nothing changed) and, for every message of `uids`
    /// that still exists, its flags afterwards and whether they changed.
    pub fn store_flags(
        &self,
        mailbox: MailboxId,
        uids: &[u32],
        op: FlagOp,
        flags: &[String],
    ) -> Result<(u64, Vec<FlagChange>)> {
        self.store_flags_unchanged_since_opt(mailbox, uids, op, flags, None)
            .map(|r| (r.modseq, r.changes))
    }

    /// Change flags only on the messages whose modseq is at most `unchanged_since`
    /// (RFC 7162 §3.1.3); the others are listed in `modified`, untouched.
    pub fn store_flags_unchanged_since(
        &self,
        mailbox: MailboxId,
        uids: &[u32],
        op: FlagOp,
        flags: &[String],
        unchanged_since: u64,
    ) -> Result<FlagStore> {
        self.store_flags_unchanged_since_opt(mailbox, uids, op, flags, Some(unchanged_since))
    }

    fn store_flags_unchanged_since_opt(
        &self,
        mailbox: MailboxId,
        uids: &[u32],
        op: FlagOp,
        flags: &[String],
        unchanged_since: Option<u64>,
    ) -> Result<FlagStore> {
        let r = self.write(|tx| store_flags(tx, mailbox, uids, op, flags, unchanged_since));
        let unchanged = || -> Result<FlagStore> {
            // Nothing changed: what the messages are now, read without taking a modseq.
            self.read(|t| {
                let rows = flag_rows(t, mailbox, uids)?;
                let (rows, modified): (Vec<_>, Vec<_>) = rows
                    .into_iter()
                    .partition(|(_, _, m, _)| unchanged_since.is_none_or(|n| *m <= n));
                Ok(FlagStore {
                    modseq: 0,
                    changes: rows
                        .into_iter()
                        .map(|(uid, _, modseq, flags)| FlagChange {
                            uid,
                            flags,
                            changed: false,
                            modseq,
                        })
                        .collect(),
                    modified: modified.into_iter().map(|(uid, ..)| uid).collect(),
                })
            })
        };
        match r {
            Err(StoreError::NotFound(m)) if m == NOTHING => unchanged(),
            other => other,
        }
    }

    /// Remove the messages flagged \Deleted (only those among `uids`, when given): the
    /// modseq of the change and the removed UIDs, ascending.
    pub fn expunge(&self, mailbox: MailboxId, uids: Option<&[u32]>) -> Result<(u64, Vec<u32>)> {
        let _gate = self.holds.gate(mailbox);
        let r = self.write(|tx| expunge_deleted(tx, &self.holds, mailbox, uids, None));
        nothing(r, || (0, Vec::new()))
    }

    /// As `expunge`, by the session whose view `view` is: it announces the expunges in its
    /// answer, so its view keeps nothing of them (see the SQLite store's `expunge_in_view`).
    pub fn expunge_in_view(
        &self,
        view: ViewId,
        mailbox: MailboxId,
        uids: Option<&[u32]>,
    ) -> Result<(u64, Vec<u32>)> {
        let _gate = self.holds.gate(mailbox);
        let r = self.write(|tx| expunge_deleted(tx, &self.holds, mailbox, uids, Some(view)));
        nothing(r, || (0, Vec::new()))
    }

    /// Remove every message from `user`'s folders (every user's for `None`), in one commit;
    /// the folders stay. How many went.
    pub fn purge_mail(&self, user: Option<UserId>) -> Result<u64> {
        let _gates = self.holds.all_gates();
        self.write(|tx| {
            let owner = user.map(|u| u.0);
            let boxes: Vec<i64> = tx
                .query_c(
                    "SELECT id FROM mailboxes WHERE $1::bigint IS NULL OR user_id = $1 ORDER BY id",
                    &[&owner],
                )?
                .iter()
                .map(|r| get(r, 0))
                .collect::<PgResult<_>>()?;
            let mut removed = 0;
            for id in boxes {
                removed += expunge_all(tx, &self.holds, MailboxId(id))?;
            }
            delete_orphan_bodies(tx.t, &self.holds)?;
            Ok(removed)
        })
    }

    /// Copy messages to another mailbox of the same user, all or nothing (bodies shared):
    /// the target's UIDVALIDITY and (source UID, new UID) pairs.
    pub fn copy(
        &self,
        from: MailboxId,
        uids: &[u32],
        to: MailboxId,
    ) -> Result<(u32, Vec<(u32, u32)>)> {
        self.write(|tx| {
            let user = owner(tx.t, to)?;
            guarded(tx, user, |tx| {
                let rows = source_rows(tx.t, from, uids)?;
                all_present(&rows, uids)?;
                copy_rows(tx, &rows, to)
            })
        })
    }

    /// Move messages (RFC 6851): the copies and the removal commit together.
    pub fn move_messages(
        &self,
        from: MailboxId,
        uids: &[u32],
        to: MailboxId,
    ) -> Result<(u32, Vec<(u32, u32)>)> {
        let _gate = self.holds.gate(from);
        self.write(|tx| {
            let user = owner(tx.t, to)?;
            guarded(tx, user, |tx| {
                let rows = source_rows(tx.t, from, uids)?;
                all_present(&rows, uids)?;
                let (uidvalidity, pairs) = copy_rows(tx, &rows, to)?;
                if !rows.is_empty() {
                    let mb = lock_mailbox(tx, from)?;
                    let removed: Vec<(u32, i64, i64)> = rows
                        .iter()
                        .map(|&(uid, id, body, ..)| (uid, id, body))
                        .collect();
                    remove_messages(tx.t, &self.holds, from, &removed, mb.highest_modseq, None)?;
                }
                Ok((uidvalidity, pairs))
            })
        })
    }

    /// Everything that changed in `mailbox` after `modseq`.
    pub fn changes_since(&self, mailbox: MailboxId, modseq: u64) -> Result<Changes> {
        self.read(|t| changes_since(t, mailbox, modseq))
    }

    /// The mailbox's highest modseq (0 when it is gone).
    pub fn highest_modseq(&self, mailbox: MailboxId) -> Result<u64> {
        self.read(|t| highest_modseq(t, mailbox))
    }

    /// UIDs (ascending) of the messages that satisfy `cond` (no text keys: the MIME layer's).
    pub fn search(&self, mailbox: MailboxId, cond: &Cond) -> Result<Vec<u32>> {
        self.read(|t| search(t, mailbox, cond))
    }

    /// Keywords (flags without a backslash) used by any message of the mailbox.
    pub fn keywords(&self, mailbox: MailboxId) -> Result<Vec<String>> {
        self.read(|t| keywords(t, mailbox))
    }

    /// The MAILBOXID (RFC 8474) of a mailbox.
    pub fn mailbox_object_id(&self, mb: &MailboxRow) -> Result<String> {
        self.read(|t| Ok(mailbox_id_with_key(&id_key(t)?, mb)))
    }

    /// The MAILBOXID of the user's folder `name`, for CREATE's answer (`None` when it is
    /// gone again already).
    pub fn created_mailbox_id(&self, user: UserId, name: &str) -> Result<Option<String>> {
        match self.mailbox(user, name)? {
            Some(mb) => self.mailbox_object_id(&mb).map(Some),
            None => Ok(None),
        }
    }

    /// EMAILID, THREADID, save date and stored preview of the messages `uids` (ascending;
    /// UIDs no longer in the mailbox are left out).
    pub fn object_fields(&self, mailbox: MailboxId, uids: &[u32]) -> Result<Vec<ObjectFields>> {
        self.read(|t| {
            let rows = for_uids(
                t,
                mailbox,
                uids,
                "m.uid, d.email_id, d.thread_id, m.save_date, d.preview, m.body_id",
                "messages m JOIN bodies d ON d.id = m.body_id",
            )?;
            rows.iter()
                .map(|r| {
                    Ok(ObjectFields {
                        uid: get_u32(r, 0)?,
                        email_id: get(r, 1)?,
                        thread_id: get(r, 2)?,
                        save_date: get(r, 3)?,
                        preview: get(r, 4)?,
                        body_id: get(r, 5)?,
                    })
                })
                .collect()
        })
    }

    /// STATUS counters of a mailbox.
    pub fn counts(&self, mailbox: MailboxId) -> Result<MailboxCounts> {
        self.read(|t| counts(t, mailbox))
    }

    /// STATUS in one snapshot: the selectable folder `name` of `user`, its counters and, with
    /// `object_id`, its MAILBOXID; `None` when there is no such folder.
    pub fn mailbox_status(
        &self,
        user: UserId,
        name: &str,
        object_id: bool,
    ) -> Result<Option<(MailboxRow, MailboxCounts, Option<String>)>> {
        self.read(|t| {
            let Some(row) = super::mailboxes::mailbox(t, user, name)?.filter(|r| !r.noselect)
            else {
                return Ok(None);
            };
            let counts = counts(t, row.id)?;
            let id = if object_id {
                Some(mailbox_id_with_key(&id_key(t)?, &row))
            } else {
                None
            };
            Ok(Some((row, counts, id)))
        })
    }
}

/// STATUS counters of a mailbox.
fn counts(t: &mut postgres::Transaction<'_>, mailbox: MailboxId) -> PgResult<MailboxCounts> {
    let r = t.query_one_c(
            "SELECT count(*),
                    count(*) FILTER (WHERE m.uid >= b.recent_floor),
                    count(*) FILTER (WHERE NOT EXISTS (SELECT 1 FROM flags f WHERE f.message_id = m.id AND lower(f.flag) = '\\seen')),
                    count(*) FILTER (WHERE del.d),
                    coalesce(sum(m.size), 0)::bigint,
                    coalesce(sum(m.size) FILTER (WHERE del.d), 0)::bigint
             FROM mailboxes b JOIN messages m ON m.mailbox_id = b.id
             CROSS JOIN LATERAL (SELECT EXISTS (SELECT 1 FROM flags f WHERE f.message_id = m.id AND lower(f.flag) = '\\deleted') AS d) del
             WHERE b.id = $1",
            &[&mailbox.0],
        )?;
    let n = |i| get_u64(&r, i).map(|v| u32::try_from(v).unwrap_or(u32::MAX));
    Ok(MailboxCounts {
        messages: n(0)?,
        recent: n(1)?,
        unseen: n(2)?,
        deleted: n(3)?,
        size: get_u64(&r, 4)?,
        deleted_size: get_u64(&r, 5)?,
    })
}

/// The mailbox's highest modseq; 0 when there is no such mailbox.
pub(crate) fn highest_modseq(
    t: &mut postgres::Transaction<'_>,
    mailbox: MailboxId,
) -> PgResult<u64> {
    t.query_opt_c(
        "SELECT highest_modseq FROM mailboxes WHERE id = $1",
        &[&mailbox.0],
    )?
    .map_or(Ok(0), |r| get_u64(&r, 0))
}
