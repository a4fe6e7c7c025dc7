//! A stored body's bytes (schema 10): rows of `body_chunks`, each at most [`CHUNK`] bytes and
//! keyed by the offset of its first byte. Every body has at least one row (an empty body one
//! empty row), so no rows means the body is gone. A range read opens only the rows it covers
//! with SQLite's incremental blob I/O: streaming a large body reads each page once, where one
//! blob read from an offset walks the blob's overflow pages from its start.

use rusqlite::{params, Connection, MAIN_DB};

use super::{Result, StoreError, Transaction};

/// The largest piece of a body one row holds.
pub(crate) const CHUNK: usize = 256 * 1024;

fn gone() -> StoreError {
    StoreError::NotFound("message body no longer exists".into())
}

/// Store the bytes of the body `body` (a row of `bodies` just made).
pub(crate) fn write(c: &Connection, body: i64, raw: &[u8]) -> Result<()> {
    let mut ins =
        c.prepare_cached("INSERT INTO body_chunks (body_id, start, data) VALUES (?1, ?2, ?3)")?;
    if raw.is_empty() {
        ins.execute(params![body, 0, raw])?;
    }
    for (i, piece) in raw.chunks(CHUNK).enumerate() {
        ins.execute(params![body, (i * CHUNK) as i64, piece])?;
    }
    Ok(())
}

/// All the bytes of a stored body.
pub(crate) fn read(c: &Connection, body: i64) -> Result<Vec<u8>> {
    let mut st =
        c.prepare_cached("SELECT data FROM body_chunks WHERE body_id = ?1 ORDER BY start")?;
    let mut rows = st.query([body])?;
    let mut out: Option<Vec<u8>> = None;
    while let Some(r) = rows.next()? {
        let piece: Vec<u8> = r.get(0)?;
        match out.as_mut() {
            Some(v) => v.extend_from_slice(&piece),
            None => out = Some(piece),
        }
    }
    out.ok_or_else(gone)
}

/// Up to `len` bytes of a stored body from `offset` (fewer at its end, none past it).
pub(crate) fn read_range(c: &Connection, body: i64, offset: usize, len: usize) -> Result<Vec<u8>> {
    let end = offset.saturating_add(len);
    let as_i64 = |n: usize| i64::try_from(n).unwrap_or(i64::MAX);
    // The row holding `offset` (the last one for an offset past the end), then those that
    // begin before `end`.
    let mut st = c.prepare_cached(
        "SELECT rowid, start FROM body_chunks
         WHERE body_id = ?1 AND start < ?3 AND start >= (
             SELECT coalesce(max(start), 0) FROM body_chunks WHERE body_id = ?1 AND start <= ?2)
         ORDER BY start",
    )?;
    let pieces = st
        .query_map(params![body, as_i64(offset), as_i64(end).max(1)], |r| {
            Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
        })?
        .collect::<rusqlite::Result<Vec<(i64, i64)>>>()?;
    if pieces.is_empty() {
        return Err(gone());
    }
    // Each piece's part of the range, then one zeroed buffer for all of them (from the
    // allocator, not written byte by byte).
    let mut parts = Vec::with_capacity(pieces.len());
    for (rowid, start) in pieces {
        let blob = c
            .blob_open(MAIN_DB, c"body_chunks", c"data", rowid, true)
            .map_err(|_| gone())?;
        let start = usize::try_from(start).unwrap_or(usize::MAX);
        let from = offset.max(start) - start;
        let to = end
            .min(start.saturating_add(blob.len()))
            .saturating_sub(start);
        if from < to {
            parts.push((blob, from, to));
        }
    }
    let mut out = vec![0; parts.iter().map(|(_, from, to)| to - from).sum()];
    let mut at = 0;
    for (blob, from, to) in parts {
        blob.read_at_exact(&mut out[at..at + (to - from)], from)?;
        at += to - from;
    }
    Ok(out)
}

/// Schema 10: every body's bytes move from `bodies.raw` into `body_chunks`, one body in memory
/// at a time, and each message gets its body's size; then `bodies.raw` is dropped. The block
/// of schema.sql runs as it stands there.
pub(crate) fn chunked_bodies_and_message_sizes(tx: &Transaction) -> Result<()> {
    const START: &str = "-- Schema 10: a body's bytes in chunks";
    const LAST: &str = "-- schema 10: bodies.raw is gone";
    tx.execute_batch(super::schema_block(START, LAST)?)?;
    let ids = super::body_ids(tx)?;
    {
        let mut raw_of = tx.prepare("SELECT raw FROM bodies WHERE id = ?1")?;
        for id in ids {
            let raw: Vec<u8> = raw_of.query_row([id], |r| r.get(0))?;
            write(tx, id, &raw)?;
        }
    }
    tx.execute_batch(
        "UPDATE messages SET size = (SELECT size FROM bodies WHERE id = messages.body_id);",
    )?;
    let rest = super::SCHEMA
        .find(LAST)
        .map(|at| &super::SCHEMA[at..])
        .ok_or_else(|| StoreError::NotAllowed(format!("schema.sql has no line {LAST:?}")))?;
    let rest = rest.find("\n\n").map_or(rest, |end| &rest[..end]);
    tx.execute_batch(rest)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::testutil::temp_store;
    use super::super::{v3_database, NewMessage, SqliteStore, SCHEMA_VERSION};
    use super::*;

    fn body_of(raw: Vec<u8>) -> NewMessage {
        crate::message::prepare(raw, Vec::new(), None)
    }

    /// A body of `n` bytes that differ from position to position.
    fn bytes(n: usize) -> Vec<u8> {
        let mut raw = b"Subject: big\r\n\r\n".to_vec();
        raw.extend((0..n.saturating_sub(raw.len())).map(|i| b'a' + (i % 23) as u8));
        raw.truncate(n);
        raw
    }

    #[test]
    fn ranges_across_pieces_read_what_was_stored() {
        let t = temp_store();
        let user = t.store.create_user("u", "pw").unwrap();
        let inbox = t.store.mailbox(user, "INBOX").unwrap().unwrap().id;
        let raw = bytes(3 * CHUNK + 1000);
        t.store.append(inbox, &[body_of(raw.clone())]).unwrap();
        let body = t.store.messages(inbox, &[1]).unwrap()[0].body_id;
        let pieces: i64 = t
            .store
            .read(|c| {
                Ok(c.query_row(
                    "SELECT count(*) FROM body_chunks WHERE body_id = ?1",
                    [body],
                    |r| r.get(0),
                )?)
            })
            .unwrap();
        assert_eq!(pieces, 4);
        assert_eq!(t.store.raw(body).unwrap(), raw);
        let cases = [
            (0, 10),
            (CHUNK - 5, 10),
            (CHUNK, CHUNK),
            (100, 2 * CHUNK + 7),
            (0, raw.len() + 50),
            (3 * CHUNK + 999, 10),
            (raw.len(), 10),
            (raw.len() + 10, 10),
            (5, 0),
        ];
        for (offset, len) in cases {
            let want = &raw[offset.min(raw.len())..(offset + len).min(raw.len())];
            assert_eq!(
                t.store.raw_range(body, offset, len).unwrap(),
                want,
                "{offset}+{len}"
            );
        }
        assert!(matches!(
            t.store.raw_range(body + 1, 0, 10),
            Err(StoreError::NotFound(_))
        ));
        assert!(matches!(
            t.store.raw(body + 1),
            Err(StoreError::NotFound(_))
        ));
    }

    /// A database of the version before 10: schema.sql up to the schema 10 block.
    fn v9_database(fill: impl FnOnce(&Connection)) -> (std::path::PathBuf, std::path::PathBuf) {
        let schema = super::super::SCHEMA;
        let before = &schema[..schema.find("-- Schema 10: a body's bytes").unwrap()];
        super::super::old_database("v9-chunks", before, 9, fill)
    }

    #[test]
    fn migration_to_schema_10_moves_every_byte_and_size() {
        migrates_bodies_and_sizes(|fill| v3_database("chunks", fill));
    }

    #[test]
    fn migration_from_schema_9_moves_every_byte_and_size() {
        migrates_bodies_and_sizes(|fill| v9_database(fill));
    }

    type Fill<'a> = Box<dyn FnOnce(&Connection) + 'a>;

    /// Bodies of several sizes, one shared by two messages, all with `raw` in bodies, in an
    /// older database `make` builds: after opening, every byte and every size is where schema
    /// 10 keeps it.
    fn migrates_bodies_and_sizes(
        make: impl FnOnce(Fill<'_>) -> (std::path::PathBuf, std::path::PathBuf),
    ) {
        let sizes = [1, 20, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 17];
        let raws: Vec<Vec<u8>> = sizes.iter().map(|&n| bytes(n)).collect();
        let (dir, path) = make(Box::new(|c: &Connection| {
            c.execute_batch(
                "INSERT INTO users (id, name, password_hash, created) VALUES (1, 'u', 'x', 0);
                 INSERT INTO mailboxes (id, user_id, name, uidvalidity, uidnext)
                     VALUES (1, 1, 'INBOX', 1, 100);",
            )
            .unwrap();
            for (i, raw) in raws.iter().enumerate() {
                let id = i as i64 + 1;
                c.execute(
                    "INSERT INTO bodies (id, user_id, hash, size, parsed, raw)
                     VALUES (?1, 1, ?2, ?3, x'', ?4)",
                    params![id, vec![id as u8; 32], raw.len() as i64, raw],
                )
                .unwrap();
                c.execute(
                    "INSERT INTO messages (id, mailbox_id, uid, body_id, internal_date, modseq)
                     VALUES (?1, 1, ?1, ?1, 0, 1)",
                    [id],
                )
                .unwrap();
            }
            c.execute_batch(
                "INSERT INTO messages (id, mailbox_id, uid, body_id, internal_date, modseq)
                 VALUES (50, 1, 50, 3, 0, 1)",
            )
            .unwrap();
        }));
        let store = SqliteStore::open(&path).unwrap();
        let version: i64 = store
            .read(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
        let mut uids: Vec<u32> = (1..=raws.len() as u32).collect();
        uids.push(50);
        let metas = store
            .messages_with(super::super::MailboxId(1), &uids, true)
            .unwrap();
        assert_eq!(metas.len(), uids.len());
        for m in &metas {
            let raw = &raws[if m.uid == 50 { 2 } else { m.uid as usize - 1 }];
            assert_eq!(m.size as usize, raw.len(), "size of uid {}", m.uid);
            assert_eq!(&store.raw(m.body_id).unwrap(), raw, "body of uid {}", m.uid);
            assert_eq!(
                store.raw_range(m.body_id, 1, raw.len()).unwrap(),
                raw[1..],
                "range of uid {}",
                m.uid
            );
        }
        let (columns, sizes): (i64, i64) = store
            .read(|c| {
                Ok(c.query_row(
                    "SELECT (SELECT count(*) FROM pragma_table_info('bodies') WHERE name = 'raw'),
                            (SELECT sum(size) FROM messages)",
                    [],
                    |r| Ok((r.get(0)?, r.get(1)?)),
                )?)
            })
            .unwrap();
        assert_eq!(columns, 0, "bodies.raw is dropped");
        let total: usize = raws.iter().map(Vec::len).sum::<usize>() + raws[2].len();
        assert_eq!(sizes as usize, total);
        assert_eq!(store.integrity_check().unwrap(), "ok");
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }
}
