//! The search index: an FTS5 table with SQLite's trigram tokenizer over the text SEARCH
//! compares (header lines, parsed addresses, decoded text parts; see `mime::index_text`), one
//! row per body (row id = body id; copies share it), removed with its body by a trigger.
//!
//! It narrows the messages a text key must look at; the MIME layer's matchers still decide
//! (the index can only say "may contain"), so results are exactly those of a full scan. The
//! table is contentless (`content=''`: the text is not stored twice) and keeps columns but not
//! positions (`detail=column`): a needle becomes the AND of its trigrams in one column, a
//! superset of the messages that contain it.
//!
//! `liteimap_meta` key `search_index` says whether the index is kept (`on`) or not (`off`:
//! `serve --no-fts`, or a database migrated to schema 4 and not yet indexed). Every process
//! that stores a body looks at it in the same transaction.
//!
//! Deferred indexing (schema 11): storing a body only queues it (a row in `search_pending`, in
//! the same commit); the indexer, a thread each `Store` owns, moves queued bodies into the
//! index a few per commit, when no client is writing or waiting to (`StoreShared::
//! write_if_idle`). A body still queued is a candidate of every text key, so the matchers check
//! it exactly and answers are the same whether or not the indexer has caught up: with the
//! index `on`, "indexed or queued" covers every body.

use std::sync::{Condvar, Mutex};
use std::time::{Duration, Instant};

use rusqlite::{params, Connection, OptionalExtension};

use crate::mime::{self, IndexText, IndexedField, MessageInfo, INDEX_SEPARATOR};

use super::{lock, MailboxId, Result, SqliteStore, StoreShared, Transaction};

/// The table and its delete trigger, as in schema.sql (`IF NOT EXISTS`: the migration tests
/// make older databases from today's schema.sql).
const CREATE: &str = "
CREATE VIRTUAL TABLE IF NOT EXISTS search_text USING fts5(
    hdr_subject, hdr_from, hdr_to, hdr_cc, hdr_bcc, hdr_other, body,
    content = '', contentless_delete = 1, detail = column,
    tokenize = 'trigram case_sensitive 0'
);
CREATE TRIGGER IF NOT EXISTS search_text_forget AFTER DELETE ON bodies BEGIN
    DELETE FROM search_text WHERE rowid = old.id;
END;";

/// At most this many trigrams of a needle are looked up: any subset still finds every match,
/// and a long needle's first few already make the candidates few.
const MAX_TRIGRAMS: usize = 16;

/// Where a text key looks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextPlace {
    /// A header key (SUBJECT, FROM, …, HEADER name): the fields of that name.
    Header(IndexedField),
    /// BODY: the text parts.
    Body,
    /// TEXT: headers and body.
    Anywhere,
}

fn column(place: TextPlace) -> Option<&'static str> {
    Some(match place {
        TextPlace::Header(IndexedField::Subject) => "hdr_subject",
        TextPlace::Header(IndexedField::From) => "hdr_from",
        TextPlace::Header(IndexedField::To) => "hdr_to",
        TextPlace::Header(IndexedField::Cc) => "hdr_cc",
        TextPlace::Header(IndexedField::Bcc) => "hdr_bcc",
        TextPlace::Header(IndexedField::Other) => "hdr_other",
        TextPlace::Body => "body",
        TextPlace::Anywhere => return None,
    })
}

/// Schema 4: the search index, empty and `off` (`serve` or `liteimap reindex` builds it).
pub(crate) fn add_search_index(tx: &Transaction) -> Result<()> {
    tx.execute_batch(CREATE)?;
    set_state(tx, false)
}

fn set_state(c: &Connection, on: bool) -> Result<()> {
    c.prepare_cached(
        "INSERT OR REPLACE INTO liteimap_meta (key, value) VALUES ('search_index', ?1)",
    )?
    .execute([if on { "on" } else { "off" }])?;
    Ok(())
}

fn is_on(c: &Connection) -> Result<bool> {
    Ok(
        c.prepare_cached("SELECT value FROM liteimap_meta WHERE key = 'search_index'")?
            .query_row([], |r| r.get::<_, String>(0))
            .optional()?
            .as_deref()
            == Some("on"),
    )
}

/// Schema 11: the indexer's queue (empty: a database of schema 10 with the index on has every
/// body indexed).
pub(crate) fn add_index_queue(tx: &Transaction) -> Result<()> {
    tx.execute_batch(super::schema_block(
        "CREATE TABLE search_pending (",
        "-- end of the search index's queue",
    )?)?;
    Ok(())
}

/// The store-time hook: queue a body just inserted for the indexer (every path that stores a
/// new body calls it: APPEND, MULTIAPPEND, import, LMTP, deliver). Does nothing while the
/// index is off.
pub(crate) fn index_new_body(tx: &Transaction, body_id: i64) -> Result<()> {
    if is_on(tx)? {
        tx.prepare_cached("INSERT OR IGNORE INTO search_pending (body_id) VALUES (?1)")?
            .execute([body_id])?;
        super::mark_queued();
    }
    Ok(())
}

/// What the index keeps of a body: the same parse the matchers use (the cached one, or a
/// fresh one when it is stale).
fn text_of(raw: &[u8], parsed: &[u8]) -> IndexText {
    let info = MessageInfo::decode(parsed).unwrap_or_else(|| mime::parse(raw));
    mime::index_text(raw, &info)
}

fn insert(c: &Connection, body_id: i64, raw: &[u8], parsed: &[u8]) -> Result<()> {
    insert_text(c, body_id, &text_of(raw, parsed))
}

fn insert_text(c: &Connection, body_id: i64, t: &IndexText) -> Result<()> {
    let [subject, from, to, cc, bcc, other] = &t.headers;
    c.prepare_cached(
        "INSERT INTO search_text (rowid, hdr_subject, hdr_from, hdr_to, hdr_cc, hdr_bcc, hdr_other, body)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
    )?
    .execute(params![body_id, subject, from, to, cc, bcc, other, t.body])?;
    Ok(())
}

/// The FTS5 query for a needle: the AND of some of its (folded) trigrams, in one column unless
/// `place` is TEXT's. `None` when the index cannot help: fewer than three characters, or a
/// NUL (which FTS5's query syntax cannot carry).
pub(crate) fn fts_query(place: TextPlace, needle: &str) -> Option<String> {
    let folded: Vec<char> = mime::index_fold(needle).chars().collect();
    if folded.len() < 3 || folded.contains(&INDEX_SEPARATOR) {
        return None;
    }
    // Every third trigram and the last one: together they cover each character of the needle,
    // and overlapping ones rarely rule out more (each costs a walk through its document list).
    let last = folded.len() - 3;
    let mut grams: Vec<String> = Vec::new();
    for start in (0..=last).step_by(3).chain([last]) {
        let g: String = folded[start..start + 3].iter().collect();
        if !grams.contains(&g) {
            grams.push(g);
        }
    }
    if grams.len() > MAX_TRIGRAMS {
        // Spread over the needle, first and last kept.
        let n = grams.len();
        grams = (0..MAX_TRIGRAMS)
            .map(|i| grams[i * (n - 1) / (MAX_TRIGRAMS - 1)].clone())
            .collect();
    }
    let terms: Vec<String> = grams
        .iter()
        .map(|g| format!("\"{}\"", g.replace('"', "\"\"")))
        .collect();
    let terms = terms.join(" AND ");
    Some(match column(place) {
        Some(col) => format!("{{{col}}} : ({terms})"),
        None => format!("({terms})"),
    })
}

/// The UIDs (ascending) of the mailbox's messages whose body may contain `needle` at `place`,
/// or `None` when the index is off or cannot help with this needle (then every message may).
pub(crate) fn candidates(
    c: &Connection,
    mailbox: MailboxId,
    place: TextPlace,
    needle: &str,
) -> Result<Option<Vec<u32>>> {
    let Some(query) = fts_query(place, needle) else {
        return Ok(None);
    };
    if !is_on(c)? {
        return Ok(None);
    }
    // CROSS JOIN keeps the index outside: with the mailbox's messages outside, SQLite would
    // run the full-text query once per message.
    let mut st = c.prepare_cached(
        "SELECT m.uid FROM search_text CROSS JOIN messages m ON m.body_id = search_text.rowid
         WHERE search_text MATCH ?1 AND m.mailbox_id = ?2",
    )?;
    let rows = st.query_map(params![query, mailbox.0], |r| r.get(0))?;
    let mut uids = rows.collect::<rusqlite::Result<Vec<u32>>>()?;
    // The bodies the indexer has not reached yet may contain anything: the matchers decide.
    let mut st = c.prepare_cached(
        "SELECT m.uid FROM search_pending p CROSS JOIN messages m ON m.body_id = p.body_id
         WHERE m.mailbox_id = ?1",
    )?;
    for uid in st.query_map([mailbox.0], |r| r.get(0))? {
        uids.push(uid?);
    }
    uids.sort_unstable();
    uids.dedup();
    Ok(Some(uids))
}

/// Bodies the indexer takes per commit, and the bytes it reads for one batch at most (at least
/// one body): small batches keep the writer free for clients.
const BATCH: usize = 16;
const BATCH_BYTES: usize = 512 * 1024;

/// How long the indexer waits between tries while clients write.
const BUSY_PAUSE: Duration = Duration::from_millis(2);

/// How often an idle indexer looks at the queue anyway: bodies another process stored (`liteimap
/// deliver`, an import beside the server) wake no one here.
const IDLE_LOOK: Duration = Duration::from_secs(60);

/// A queued body, read and turned into index text outside the writer; `hash` tells at write
/// time that the body is still the one read (a removed body's id may be reused).
struct Prepared {
    id: i64,
    hash: Vec<u8>,
    text: IndexText,
}

/// The next queued bodies, oldest first, read on a reader connection.
fn next_batch(c: &Connection) -> Result<Vec<Prepared>> {
    let mut st = c.prepare_cached(
        "SELECT p.body_id, b.hash, b.parsed FROM search_pending p JOIN bodies b ON b.id = p.body_id
         ORDER BY p.body_id LIMIT ?1",
    )?;
    let mut rows = st.query([BATCH as i64])?;
    let mut out = Vec::new();
    let mut bytes = 0;
    while let Some(r) = rows.next()? {
        let (id, hash, parsed): (i64, Vec<u8>, Vec<u8>) = (r.get(0)?, r.get(1)?, r.get(2)?);
        let raw = super::chunks::read(c, id)?;
        bytes += raw.len();
        out.push(Prepared {
            id,
            hash,
            text: text_of(&raw, &parsed),
        });
        if bytes >= BATCH_BYTES {
            break;
        }
    }
    Ok(out)
}

/// Move prepared bodies into the index, in order: each one still queued and still the one
/// read. Stops early, after at least one body, once `yield_now` says a client waits for the
/// writer: that client joins this transaction and its commit carries what was indexed, so it
/// waits for one body's tokenizing (the index's main cost, far more than the APPEND that queued
/// the body), not a whole batch's. Returns how many of `batch` were gone through and how many
/// of those were indexed.
fn store_batch(
    tx: &Transaction,
    batch: &[Prepared],
    yield_now: impl Fn() -> bool,
) -> Result<(usize, usize)> {
    let mut done = 0;
    for (i, p) in batch.iter().enumerate() {
        if i > 0 && yield_now() {
            return Ok((i, done));
        }
        let taken = tx
            .prepare_cached(
                "DELETE FROM search_pending WHERE body_id = ?1
                 AND EXISTS (SELECT 1 FROM bodies WHERE id = ?1 AND hash = ?2)",
            )?
            .execute(params![p.id, p.hash])?;
        if taken == 1 {
            insert_text(tx, p.id, &p.text)?;
            done += 1;
        }
    }
    Ok((batch.len(), done))
}

fn queue_len(c: &Connection) -> Result<u64> {
    Ok(c.prepare_cached("SELECT count(*) FROM search_pending")?
        .query_row([], |r| r.get(0))?)
}

/// The indexer's controls, shared by the store (which wakes it after a commit that queued
/// bodies) and its thread.
#[derive(Default)]
pub(crate) struct Indexer {
    state: Mutex<IndexerState>,
    changed: Condvar,
}

#[derive(Default)]
struct IndexerState {
    /// The store is being dropped: the thread ends after its current batch.
    stop: bool,
    /// Tests: the thread takes no batch until resumed.
    paused: bool,
    /// Bodies may be queued: the thread drains the queue.
    work: bool,
    /// The thread is draining.
    busy: bool,
}

impl Indexer {
    /// Bodies were queued: drain the queue.
    pub(crate) fn kick(&self) {
        let mut s = lock(&self.state);
        if !s.work {
            s.work = true;
            self.changed.notify_all();
        }
    }

    pub(crate) fn stop(&self) {
        lock(&self.state).stop = true;
        self.changed.notify_all();
    }

    /// Whether the thread should leave the queue for now.
    fn held(&self) -> bool {
        let s = lock(&self.state);
        s.stop || s.paused
    }
}

/// Start the indexer thread for `shared`, with the queue to drain (what a last run left).
pub(crate) fn start_indexer(
    shared: &std::sync::Arc<StoreShared>,
) -> Option<std::thread::JoinHandle<()>> {
    shared.indexer_ctl.kick();
    let mine = shared.clone();
    match std::thread::Builder::new()
        .name("search-index".into())
        .spawn(move || run_indexer(&mine))
    {
        Ok(thread) => Some(thread),
        Err(e) => {
            log::warn!("cannot start the search indexer (SEARCH checks queued bodies itself): {e}");
            None
        }
    }
}

fn run_indexer(shared: &StoreShared) {
    let ctl = &shared.indexer_ctl;
    loop {
        {
            let mut s = lock(&ctl.state);
            loop {
                if s.stop {
                    return;
                }
                if s.work && !s.paused {
                    break;
                }
                let (next, waited) = ctl
                    .changed
                    .wait_timeout(s, IDLE_LOOK)
                    .unwrap_or_else(std::sync::PoisonError::into_inner);
                s = next;
                if waited.timed_out() {
                    s.work = true;
                }
            }
            s.work = false;
            s.busy = true;
        }
        if let Err(e) = drain(shared) {
            log::warn!(
                "search index: indexing queued bodies failed (retried at the next commit): {e}"
            );
        }
        lock(&ctl.state).busy = false;
        ctl.changed.notify_all();
    }
}

/// Index queued bodies until the queue is empty (or the store stops or pauses the indexer),
/// one batch per commit, each taken only when the writer is free.
fn drain(shared: &StoreShared) -> Result<()> {
    let ctl = &shared.indexer_ctl;
    let started = Instant::now();
    let mut indexed = 0;
    loop {
        if ctl.held() {
            return Ok(());
        }
        let mut batch = shared.read_quiet(next_batch)?;
        if batch.is_empty() {
            break;
        }
        while !batch.is_empty() {
            if ctl.held() {
                return Ok(());
            }
            let waiting = || shared.waiting.load(std::sync::atomic::Ordering::SeqCst) > 0;
            match shared.write_if_idle(|tx| store_batch(tx, &batch, waiting)) {
                Some(result) => {
                    let (through, done) = result?;
                    indexed += done;
                    batch.drain(..through);
                }
                None => std::thread::sleep(BUSY_PAUSE),
            }
        }
    }
    if indexed >= 1000 {
        log::info!(
            "search index: {indexed} queued bodies indexed in {:.1} s",
            started.elapsed().as_secs_f64()
        );
    }
    Ok(())
}

impl SqliteStore {
    /// Whether the search index is complete and kept up to date.
    pub fn search_index_on(&self) -> Result<bool> {
        self.read(is_on)
    }

    /// Bodies stored but not yet in the search index (the indexer's queue).
    pub fn search_index_queue(&self) -> Result<u64> {
        self.read(queue_len)
    }

    /// Tests: hold the indexer (it takes no batch until `false`), to look at a queue it has not
    /// reached.
    #[doc(hidden)]
    pub fn pause_search_indexer(&self, paused: bool) {
        let ctl = &self.indexer_ctl;
        lock(&ctl.state).paused = paused;
        ctl.changed.notify_all();
        if !paused {
            ctl.kick();
        }
    }

    /// Wait until the indexer has drained the queue (`liteimap import` at its end, tests).
    /// Without an indexer thread the queue is drained here.
    pub fn wait_search_indexer(&self) -> Result<()> {
        if lock(&self.indexer).is_none() {
            return drain(self);
        }
        let ctl = &self.indexer_ctl;
        ctl.kick();
        let mut s = lock(&ctl.state);
        while (s.work || s.busy) && !s.stop && !s.paused {
            s = ctl
                .changed
                .wait(s)
                .unwrap_or_else(std::sync::PoisonError::into_inner);
        }
        Ok(())
    }

    /// Build the search index from every stored body (all of it again when it exists), in one
    /// transaction, and keep it from now on. `progress(done, total)` is called as bodies are
    /// indexed. Returns the number of bodies indexed.
    pub fn build_search_index(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<u64> {
        self.write(|tx| {
            tx.execute_batch(
                "INSERT INTO search_text (search_text) VALUES ('delete-all');
                 DELETE FROM search_pending;",
            )?;
            let total: u64 = tx.query_row("SELECT count(*) FROM bodies", [], |r| r.get(0))?;
            let mut st = tx.prepare("SELECT id, parsed FROM bodies ORDER BY id")?;
            let mut rows = st.query([])?;
            let mut done = 0;
            progress(0, total);
            while let Some(r) = rows.next()? {
                let (id, parsed): (i64, Vec<u8>) = (r.get(0)?, r.get(1)?);
                insert(tx, id, &super::chunks::read(tx, id)?, &parsed)?;
                done += 1;
                if done % 1000 == 0 || done == total {
                    progress(done, total);
                }
            }
            set_state(tx, true)?;
            Ok(done)
        })
    }

    /// Stop keeping the search index and empty it (`serve --no-fts`): SEARCH scans every
    /// message again, and the pages it took are free for reuse.
    pub fn drop_search_index(&self) -> Result<()> {
        self.write(|tx| {
            tx.execute_batch(
                "INSERT INTO search_text (search_text) VALUES ('delete-all');
                 DELETE FROM search_pending;",
            )?;
            set_state(tx, false)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::super::testutil::temp_store;
    use super::*;

    /// The bundled SQLite has FTS5 with the trigram tokenizer, its case folding, contentless
    /// deletes and column filters.
    #[test]
    fn bundled_sqlite_has_fts5_trigram() {
        let c = Connection::open_in_memory().unwrap();
        c.execute_batch(
            "CREATE VIRTUAL TABLE t USING fts5(a, b, content = '', contentless_delete = 1,
                 detail = column, tokenize = 'trigram case_sensitive 0');
             INSERT INTO t (rowid, a, b) VALUES (1, 'Hello Wörld', 'x'), (2, 'zz', 'HELLO'), (3, 'ÄBC', '');",
        )
        .unwrap();
        let q = |m: &str| -> Vec<i64> {
            let mut st = c
                .prepare("SELECT rowid FROM t WHERE t MATCH ?1 ORDER BY rowid")
                .unwrap();
            st.query_map([m], |r| r.get(0))
                .unwrap()
                .map(|r| r.unwrap())
                .collect()
        };
        assert_eq!(q("\"hel\" AND \"llo\""), vec![1, 2]);
        assert_eq!(q("{a} : (\"hel\")"), vec![1]);
        assert_eq!(q("\"wör\""), vec![1]);
        assert_eq!(q("\"äbc\""), vec![3]);
        c.execute("DELETE FROM t WHERE rowid = 1", []).unwrap();
        assert_eq!(q("\"hel\""), vec![2]);
    }

    #[test]
    fn queries_are_the_and_of_trigrams() {
        assert_eq!(fts_query(TextPlace::Body, "ab"), None);
        assert_eq!(fts_query(TextPlace::Body, "a\0bc"), None);
        assert_eq!(
            fts_query(TextPlace::Header(IndexedField::From), "S\"x"),
            Some("{hdr_from} : (\"s\"\"x\")".into())
        );
        assert_eq!(
            fts_query(TextPlace::Anywhere, "ΟΔΟΣ"),
            Some("(\"οδο\" AND \"δοσ\")".into())
        );
        // Every third trigram and the last; repeats once; long needles by a spread of them.
        assert_eq!(
            fts_query(TextPlace::Body, "abcdefgh"),
            Some("{body} : (\"abc\" AND \"def\" AND \"fgh\")".into())
        );
        assert_eq!(
            fts_query(TextPlace::Body, "aaaa"),
            Some("{body} : (\"aaa\")".into())
        );
        let long: String = (0..40).map(|i| format!("{i:03}")).collect();
        let long = fts_query(TextPlace::Body, &long);
        assert_eq!(long.unwrap().matches(" AND ").count(), MAX_TRIGRAMS - 1);
    }

    #[test]
    fn bodies_are_indexed_when_stored_and_forgotten_with_their_last_copy() {
        let t = temp_store();
        let u = t.store.create_user("u", "x").unwrap();
        let inbox = t.store.mailbox(u, "INBOX").unwrap().unwrap().id;
        let archive = t.store.mailbox(u, "Archive").unwrap().unwrap().id;
        let msg = |s: &str| crate::message::prepare(s.as_bytes().to_vec(), vec![], None);
        t.store
            .append(
                inbox,
                &[
                    msg("Subject: zebra\r\nFrom: Ann <ann@x.org>\r\n\r\nstriped horse\r\n"),
                    msg("Subject: lion\r\n\r\nmane\r\n"),
                ],
            )
            .unwrap();
        t.store.wait_search_indexer().unwrap();
        let cands = |mb, place, n: &str| t.store.scan(|s| s.text_candidates(mb, place, n)).unwrap();
        assert!(t.store.search_index_on().unwrap());
        assert_eq!(cands(inbox, TextPlace::Body, "HORSE"), Some(vec![1]));
        assert_eq!(
            cands(inbox, TextPlace::Header(IndexedField::Subject), "lio"),
            Some(vec![2])
        );
        assert_eq!(
            cands(inbox, TextPlace::Header(IndexedField::From), "ann@x"),
            Some(vec![1])
        );
        assert_eq!(cands(inbox, TextPlace::Body, "zebra"), Some(vec![]));
        assert_eq!(cands(inbox, TextPlace::Anywhere, "zebra"), Some(vec![1]));
        assert_eq!(cands(inbox, TextPlace::Body, "ma"), None);
        t.store.copy(inbox, &[1], archive).unwrap();
        assert_eq!(cands(archive, TextPlace::Body, "horse"), Some(vec![1]));
        let indexed = || -> i64 {
            t.store
                .read(|c| {
                    Ok(c.query_row(
                        "SELECT count(*) FROM search_text WHERE search_text MATCH '\"hor\"'",
                        [],
                        |r| r.get(0),
                    )?)
                })
                .unwrap()
        };
        expunge_first(&t.store, inbox);
        assert_eq!(cands(inbox, TextPlace::Body, "horse"), Some(vec![]));
        assert_eq!(indexed(), 1, "the copy still holds the body");
        expunge_first(&t.store, archive);
        assert_eq!(indexed(), 0);
        // Off: nothing is indexed and the index is not asked; on again: built from the bodies.
        t.store.drop_search_index().unwrap();
        assert_eq!(cands(inbox, TextPlace::Body, "mane"), None);
        t.store
            .append(inbox, &[msg("Subject: new\r\n\r\nmaned wolf\r\n")])
            .unwrap();
        let mut seen = Vec::new();
        assert_eq!(
            t.store
                .build_search_index(&mut |d, n| seen.push((d, n)))
                .unwrap(),
            2
        );
        assert_eq!(seen.first(), Some(&(0, 2)));
        assert_eq!(seen.last(), Some(&(2, 2)));
        assert_eq!(cands(inbox, TextPlace::Body, "mane"), Some(vec![2, 3]));
        // A removed user's bodies leave the index too (the foreign-key cascade fires the trigger).
        t.store.remove_user("u").unwrap();
        let left: i64 = t
            .store
            .read(|c| {
                Ok(c.query_row(
                    "SELECT count(*) FROM search_text WHERE search_text MATCH '\"man\"'",
                    [],
                    |r| r.get(0),
                )?)
            })
            .unwrap();
        assert_eq!(left, 0);
    }

    /// Flag UID 1 \Deleted and expunge it.
    fn expunge_first(store: &SqliteStore, mailbox: MailboxId) {
        store
            .store_flags(
                mailbox,
                &[1],
                super::super::FlagOp::Add,
                &["\\Deleted".into()],
            )
            .unwrap();
        store.expunge(mailbox, None).unwrap();
    }

    fn msg(s: &str) -> super::super::NewMessage {
        crate::message::prepare(s.as_bytes().to_vec(), vec![], None)
    }

    /// A body stored while the indexer is held is queued, not indexed, and is a candidate of
    /// every text key (the matchers decide); once the indexer has run, the index narrows to
    /// the bodies that hold the needle and the queue is empty.
    #[test]
    fn queued_bodies_are_candidates_until_the_indexer_reaches_them() {
        let t = temp_store();
        let u = t.store.create_user("u", "x").unwrap();
        let inbox = t.store.mailbox(u, "INBOX").unwrap().unwrap().id;
        t.store
            .append(inbox, &[msg("Subject: zebra\r\n\r\nstriped horse\r\n")])
            .unwrap();
        t.store.wait_search_indexer().unwrap();
        t.store.pause_search_indexer(true);
        t.store
            .append(
                inbox,
                &[
                    msg("Subject: lion\r\n\r\nmane\r\n"),
                    msg("Subject: horse\r\n\r\nwhite horse\r\n"),
                ],
            )
            .unwrap();
        assert_eq!(t.store.search_index_queue().unwrap(), 2);
        let cands = |place, n: &str| {
            t.store
                .scan(|s| s.text_candidates(inbox, place, n))
                .unwrap()
        };
        assert_eq!(cands(TextPlace::Body, "horse"), Some(vec![1, 2, 3]));
        assert_eq!(cands(TextPlace::Body, "nowhere"), Some(vec![2, 3]));
        t.store.pause_search_indexer(false);
        t.store.wait_search_indexer().unwrap();
        assert_eq!(t.store.search_index_queue().unwrap(), 0);
        assert_eq!(cands(TextPlace::Body, "horse"), Some(vec![1, 3]));
        assert_eq!(cands(TextPlace::Body, "nowhere"), Some(vec![]));
        assert_eq!(
            cands(TextPlace::Header(IndexedField::Subject), "lion"),
            Some(vec![2])
        );
    }

    /// The indexer's write gives way between bodies to a client waiting for the writer: it
    /// indexes one body, not the batch, and what it did not reach stays queued (and a
    /// candidate of every text key) for its next turn.
    #[test]
    fn the_indexer_gives_way_to_a_waiting_client_between_bodies() {
        let t = temp_store();
        let u = t.store.create_user("u", "x").unwrap();
        let inbox = t.store.mailbox(u, "INBOX").unwrap().unwrap().id;
        t.store.pause_search_indexer(true);
        let bodies = [
            msg("Subject: one\r\n\r\nzebra\r\n"),
            msg("Subject: two\r\n\r\nzebra\r\n"),
            msg("Subject: three\r\n\r\nzebra\r\n"),
        ];
        t.store.append(inbox, &bodies).unwrap();
        let batch = t.store.read(next_batch).unwrap();
        assert_eq!(batch.len(), 3);
        let client_waits = || true;
        let r = t.store.write(|tx| store_batch(tx, &batch, client_waits));
        assert_eq!(r.unwrap(), (1, 1), "(gone through, indexed)");
        assert_eq!(t.store.search_index_queue().unwrap(), 2);
        let cands = || {
            t.store
                .scan(|s| s.text_candidates(inbox, TextPlace::Body, "zebra"))
                .unwrap()
        };
        assert_eq!(cands(), Some(vec![1, 2, 3]));
        let nobody = || false;
        let r = t.store.write(|tx| store_batch(tx, &batch[1..], nobody));
        assert_eq!(r.unwrap(), (2, 2));
        assert_eq!(t.store.search_index_queue().unwrap(), 0);
        assert_eq!(cands(), Some(vec![1, 2, 3]));
        let nowhere = t
            .store
            .scan(|s| s.text_candidates(inbox, TextPlace::Body, "nowhere"))
            .unwrap();
        assert_eq!(nowhere, Some(vec![]));
    }

    /// A queued body expunged before the indexer reached it leaves the queue with it; `--no-fts`
    /// (dropping the index) empties the queue, and building the index again takes every body.
    #[test]
    fn queued_bodies_leave_with_their_message_and_with_the_index() {
        let t = temp_store();
        let u = t.store.create_user("u", "x").unwrap();
        let inbox = t.store.mailbox(u, "INBOX").unwrap().unwrap().id;
        t.store.pause_search_indexer(true);
        t.store
            .append(
                inbox,
                &[
                    msg("Subject: a\r\n\r\ngone soon\r\n"),
                    msg("Subject: b\r\n\r\nstays\r\n"),
                ],
            )
            .unwrap();
        expunge_first(&t.store, inbox);
        assert_eq!(t.store.search_index_queue().unwrap(), 1);
        t.store.drop_search_index().unwrap();
        assert_eq!(t.store.search_index_queue().unwrap(), 0);
        let cands = |n: &str| {
            t.store
                .scan(|s| s.text_candidates(inbox, TextPlace::Body, n))
                .unwrap()
        };
        assert_eq!(cands("stays"), None);
        // Off: storing queues nothing.
        t.store
            .append(inbox, &[msg("Subject: c\r\n\r\nlater\r\n")])
            .unwrap();
        assert_eq!(t.store.search_index_queue().unwrap(), 0);
        assert_eq!(t.store.build_search_index(&mut |_, _| {}).unwrap(), 2);
        assert_eq!(cands("stays"), Some(vec![2]));
        assert_eq!(t.store.integrity_check().unwrap(), "ok");
    }

    /// Bodies still queued when the store closes (a stopped server, `liteimap deliver`) are
    /// indexed by the next store opened on the file, from its start.
    #[test]
    fn a_queue_left_at_close_drains_at_the_next_open() {
        let t = temp_store();
        let path = t.dir.join("queue.db");
        let inbox = {
            let store = SqliteStore::open(&path).unwrap();
            let u = store.create_user("u", "x").unwrap();
            let inbox = store.mailbox(u, "INBOX").unwrap().unwrap().id;
            store.pause_search_indexer(true);
            store
                .append(
                    inbox,
                    &[
                        msg("Subject: one\r\n\r\nleft in the queue\r\n"),
                        msg("Subject: two\r\n\r\nalso\r\n"),
                    ],
                )
                .unwrap();
            assert_eq!(store.search_index_queue().unwrap(), 2);
            inbox
        };
        let store = SqliteStore::open(&path).unwrap();
        store.wait_search_indexer().unwrap();
        assert_eq!(store.search_index_queue().unwrap(), 0);
        assert_eq!(
            store
                .scan(|s| s.text_candidates(inbox, TextPlace::Body, "the queue"))
                .unwrap(),
            Some(vec![1])
        );
    }

    /// A database of schema 10 (index on and complete): opening it adds the empty queue, the
    /// indexed bodies stay found, and new bodies are queued and then indexed.
    #[test]
    fn migrates_a_version_10_database() {
        let schema = super::super::SCHEMA;
        let before = &schema[..schema
            .find("-- Schema 11: the search index's queue")
            .unwrap()];
        let (dir, path) = super::super::old_database("v10-queue", before, 10, |c| {
            c.execute_batch(
                "INSERT INTO users (id, name, password_hash, created) VALUES (1, 'old', 'x', 0);
                 INSERT INTO mailboxes (id, user_id, name, uidvalidity, uidnext) VALUES (1, 1, 'INBOX', 1, 2);
                 INSERT INTO bodies (id, user_id, hash, size, parsed) VALUES (10, 1, x'01', 24, x'');
                 INSERT INTO body_chunks (body_id, start, data) VALUES
                   (10, 0, CAST('Subject: Old' || char(13, 10, 13, 10) || 'indexed text' AS BLOB));
                 INSERT INTO messages (id, mailbox_id, uid, body_id, internal_date, modseq, size) VALUES
                   (1, 1, 1, 10, 0, 1, 24);",
            )
            .unwrap();
            insert(c, 10, b"Subject: Old\r\n\r\nindexed text", b"").unwrap();
        });
        let store = SqliteStore::open(&path).unwrap();
        let version: i64 = store
            .read(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(version, super::super::SCHEMA_VERSION);
        assert!(store.search_index_on().unwrap());
        assert_eq!(store.search_index_queue().unwrap(), 0);
        let inbox = MailboxId(1);
        let cands = |n: &str| {
            store
                .scan(|s| s.text_candidates(inbox, TextPlace::Body, n))
                .unwrap()
        };
        assert_eq!(cands("indexed"), Some(vec![1]));
        store.pause_search_indexer(true);
        store
            .append(inbox, &[msg("Subject: new\r\n\r\nqueued text\r\n")])
            .unwrap();
        assert_eq!(store.search_index_queue().unwrap(), 1);
        assert_eq!(cands("indexed"), Some(vec![1, 2]));
        store.pause_search_indexer(false);
        store.wait_search_indexer().unwrap();
        assert_eq!(cands("indexed"), Some(vec![1]));
        assert_eq!(cands("queued"), Some(vec![2]));
        assert_eq!(store.integrity_check().unwrap(), "ok");
        drop(store);
        let _ = std::fs::remove_dir_all(dir);
    }

    /// A database as liteimap with schema 3 wrote it: opening it adds the index, empty and off
    /// (SEARCH scans); building it indexes the stored bodies, and it is kept from then on.
    #[test]
    fn migrates_a_version_3_database() {
        let t = temp_store();
        let path = t.dir.join("v3.db");
        {
            let c = Connection::open(&path).unwrap();
            c.execute_batch(&format!(
                "{}; PRAGMA user_version = 3;",
                super::super::schema_v3()
            ))
            .unwrap();
            c.execute_batch(
                "INSERT INTO users (id, name, password_hash, created) VALUES (1, 'old', 'x', 0);
                 INSERT INTO mailboxes (id, user_id, name, uidvalidity, uidnext) VALUES (1, 1, 'INBOX', 1, 3);
                 INSERT INTO bodies (id, user_id, hash, size, parsed, raw) VALUES
                   (10, 1, x'01', 0, x'', CAST('Subject: Old mail' || char(13, 10, 13, 10) || 'kept before the index' AS BLOB)),
                   (11, 1, x'02', 0, x'', CAST('Subject: other' || char(13, 10, 13, 10) || 'nothing' AS BLOB));
                 INSERT INTO messages (id, mailbox_id, uid, body_id, internal_date, modseq) VALUES
                   (1, 1, 1, 10, 0, 1), (2, 1, 2, 11, 0, 1);",
            )
            .unwrap();
        }
        let store = SqliteStore::open(&path).unwrap();
        let version: i64 = store
            .read(|c| Ok(c.query_row("PRAGMA user_version", [], |r| r.get(0))?))
            .unwrap();
        assert_eq!(version, super::super::SCHEMA_VERSION);
        assert!(!store.search_index_on().unwrap());
        let inbox = MailboxId(1);
        let cands = |n: &str| {
            store
                .scan(|s| s.text_candidates(inbox, TextPlace::Body, n))
                .unwrap()
        };
        assert_eq!(cands("before the"), None);
        // Off: a body stored now is not indexed (the build takes it in).
        let msg = crate::message::prepare(
            b"Subject: new\r\n\r\nstored before the build\r\n".to_vec(),
            vec![],
            None,
        );
        store.append(inbox, &[msg]).unwrap();
        assert_eq!(store.build_search_index(&mut |_, _| {}).unwrap(), 3);
        assert!(store.search_index_on().unwrap());
        assert_eq!(cands("BEFORE THE"), Some(vec![1, 3]));
        assert_eq!(
            store
                .scan(|s| s.text_candidates(
                    inbox,
                    TextPlace::Header(IndexedField::Subject),
                    "old mail"
                ))
                .unwrap(),
            Some(vec![1])
        );
        assert_eq!(store.integrity_check().unwrap(), "ok");
        drop(store);
        // Opening again changes nothing.
        let store = SqliteStore::open(&path).unwrap();
        assert!(store.search_index_on().unwrap());
    }
}
