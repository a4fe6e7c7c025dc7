//! SEARCH and UID SEARCH (RFC 3501 §6.4.4).
//!
//! The criteria become a tree whose flag, date and size subtrees are answered by the store in
//! SQL; what remains (text keys, sent dates, sequence sets, \Recent) is evaluated here on the
//! SQL candidates, loading a message's bytes only when a text key needs them (and only its
//! header block for header keys). Text keys of three or more characters first ask the store's
//! search index which messages may contain them (`narrow`), so only those are loaded; the
//! MIME matchers still decide, so the result is the scan's. The whole search reads one
//! snapshot of the store.

use std::collections::BTreeSet;
use std::num::NonZeroU32;

use imap_codec::imap_types::core::{Charset, Tag, Vec1};
use imap_codec::imap_types::response::{Code, Data};
use imap_codec::imap_types::search::SearchKey;

use crate::imap::ext::search::{esearch_response, ReturnOpts};
use crate::imap::session::{Done, Session};
use crate::imap::view::MailboxView;
use crate::imap::{lossy, CmdError, CmdResult};
use crate::mime::{self, IndexedField, MessageInfo};
use crate::store::{Cond, MailboxId, MessageMeta, Scan, StoreError, TextPlace};

/// A SEARCH criterion after sequence sets have been resolved against the session's view.
#[derive(Debug, Clone)]
pub(crate) enum Crit {
    /// Answered by the store.
    Sql(Cond),
    /// The messages with these UIDs (ascending).
    Uids(Vec<u32>),
    Recent,
    Header(String, String),
    Body(String),
    Text(String),
    SentBefore(chrono::NaiveDate),
    SentOn(chrono::NaiveDate),
    SentSince(chrono::NaiveDate),
    Not(Box<Crit>),
    And(Vec<Crit>),
    Or(Box<Crit>, Box<Crit>),
}

fn text(a: &impl AsRef<[u8]>) -> String {
    lossy(a.as_ref()).into_owned()
}

fn flag(f: &str) -> Crit {
    Crit::Sql(Cond::HasFlag(f.to_string()))
}

fn not(c: Crit) -> Crit {
    match c {
        Crit::Sql(c) => Crit::Sql(Cond::Not(Box::new(c))),
        other => Crit::Not(Box::new(other)),
    }
}

impl Crit {
    /// Whether every message matches (`ALL`, alone or in an AND of `ALL`s).
    pub(crate) fn is_all(&self) -> bool {
        fn all(c: &Cond) -> bool {
            match c {
                Cond::All => true,
                Cond::And(cs) => cs.iter().all(all),
                _ => false,
            }
        }
        match self {
            Crit::Sql(c) => all(c),
            Crit::And(cs) => cs.iter().all(Crit::is_all),
            _ => false,
        }
    }
}

fn and(cs: Vec<Crit>) -> Crit {
    if cs.iter().all(|c| matches!(c, Crit::Sql(_))) {
        Crit::Sql(Cond::And(
            cs.into_iter()
                .filter_map(|c| match c {
                    Crit::Sql(c) => Some(c),
                    _ => None,
                })
                .collect(),
        ))
    } else {
        Crit::And(cs)
    }
}

fn or(a: Crit, b: Crit) -> Crit {
    match (a, b) {
        (Crit::Sql(a), Crit::Sql(b)) => Crit::Sql(Cond::Or(Box::new(a), Box::new(b))),
        (a, b) => Crit::Or(Box::new(a), Box::new(b)),
    }
}

/// How deeply a key nests others: parentheses, NOT and OR each add a level.
fn nesting(key: &SearchKey) -> usize {
    match key {
        SearchKey::And(keys) => 1 + keys.as_ref().iter().map(nesting).max().unwrap_or(0),
        SearchKey::Not(k) => 1 + nesting(k),
        SearchKey::Or(a, b) => 1 + nesting(a).max(nesting(b)),
        _ => 0,
    }
}

/// Whether a key uses MODSEQ (then the result carries `(MODSEQ n)`, RFC 7162 §3.1.5).
fn uses_modseq(key: &SearchKey) -> bool {
    match key {
        SearchKey::ModSequence { .. } => true,
        SearchKey::And(keys) => keys.as_ref().iter().any(uses_modseq),
        SearchKey::Not(k) => uses_modseq(k),
        SearchKey::Or(a, b) => uses_modseq(a) || uses_modseq(b),
        _ => false,
    }
}

/// The UIDs a search found (ascending) and, when it used MODSEQ, each one's modseq.
pub(crate) struct Found {
    pub uids: Vec<u32>,
    pub modseqs: Option<Vec<u64>>,
}

impl Found {
    /// The highest modseq among the messages at these indices of `uids` (for `(MODSEQ n)`);
    /// `None` when the search did not use MODSEQ or nothing matched.
    pub fn highest_modseq(&self, indices: impl Iterator<Item = usize>) -> Option<u64> {
        let m = self.modseqs.as_ref()?;
        indices.filter_map(|i| m.get(i).copied()).max()
    }
}

fn uids_of(view: &MailboxView, idx: Vec<usize>) -> Vec<u32> {
    idx.into_iter()
        .filter_map(|i| view.uids().get(i).copied())
        .collect()
}

fn convert(key: &SearchKey, view: &MailboxView) -> Crit {
    use SearchKey as K;
    match key {
        K::And(keys) => and(keys.as_ref().iter().map(|k| convert(k, view)).collect()),
        K::SequenceSet(set) => Crit::Uids(uids_of(view, view.resolve_seqs(set))),
        K::Uid(set) => Crit::Uids(uids_of(view, view.resolve_uids(set))),
        K::All => Crit::Sql(Cond::All),
        K::Answered => flag("\\Answered"),
        K::Deleted => flag("\\Deleted"),
        K::Draft => flag("\\Draft"),
        K::Flagged => flag("\\Flagged"),
        K::Seen => flag("\\Seen"),
        K::Unanswered => not(flag("\\Answered")),
        K::Undeleted => not(flag("\\Deleted")),
        K::Undraft => not(flag("\\Draft")),
        K::Unflagged => not(flag("\\Flagged")),
        K::Unseen => not(flag("\\Seen")),
        K::Keyword(k) => flag(k.as_ref()),
        K::Unkeyword(k) => not(flag(k.as_ref())),
        K::Recent => Crit::Recent,
        K::New => and(vec![Crit::Recent, not(flag("\\Seen"))]),
        K::Old => not(Crit::Recent),
        K::Before(d) => Crit::Sql(Cond::DateBefore(*d.as_ref())),
        K::On(d) => Crit::Sql(Cond::DateOn(*d.as_ref())),
        K::Since(d) => Crit::Sql(Cond::DateSince(*d.as_ref())),
        K::Larger(n) => Crit::Sql(Cond::Larger(*n)),
        K::Smaller(n) => Crit::Sql(Cond::Smaller(*n)),
        K::Older(secs) => Crit::Sql(Cond::Before(crate::store::now() - secs.get() as i64)),
        K::Younger(secs) => Crit::Sql(Cond::After(crate::store::now() - secs.get() as i64)),
        K::SentBefore(d) => Crit::SentBefore(*d.as_ref()),
        K::SentOn(d) => Crit::SentOn(*d.as_ref()),
        K::SentSince(d) => Crit::SentSince(*d.as_ref()),
        K::Bcc(s) => Crit::Header("Bcc".into(), text(s)),
        K::Cc(s) => Crit::Header("Cc".into(), text(s)),
        K::From(s) => Crit::Header("From".into(), text(s)),
        K::To(s) => Crit::Header("To".into(), text(s)),
        K::Subject(s) => Crit::Header("Subject".into(), text(s)),
        K::Header(name, value) => match crate::imap::ext::objid::search_key(name, value) {
            // OBJECTID / SAVEDATE keys, in the extension layer's marker form.
            Some(cond) => Crit::Sql(cond),
            None => Crit::Header(text(name), text(value)),
        },
        K::Body(s) => Crit::Body(text(s)),
        K::Text(s) => Crit::Text(text(s)),
        K::Not(k) => not(convert(k, view)),
        K::Or(a, b) => or(convert(a, view), convert(b, view)),
        // CONDSTORE is not advertised; MODSEQ criteria match nothing rather than everything.
        // Flags keep no modseq of their own here, so the entry form (`MODSEQ "/flags/\\seen"
        // all 5`) looks at the message's, which RFC 7162 §3.1.5 allows.
        K::ModSequence { modseq, .. } => Crit::Sql(Cond::ModSeqAtLeast(*modseq)),
    }
}

impl Crit {
    /// Whether evaluating this needs the message's size (LARGER/SMALLER under a text key).
    fn needs_size(&self) -> bool {
        match self {
            Crit::Sql(c) => c.needs_size(),
            Crit::Not(c) => c.needs_size(),
            Crit::And(cs) => cs.iter().any(Crit::needs_size),
            Crit::Or(a, b) => a.needs_size() || b.needs_size(),
            _ => false,
        }
    }
}

/// One message under evaluation; its bytes are loaded on first need.
struct Candidate<'a, 'c> {
    meta: &'a MessageMeta,
    scan: &'a Scan<'c>,
    raw: Option<Vec<u8>>,
    /// The header block alone, when a header key needed it before anything needed `raw`.
    header: Option<Vec<u8>>,
    info: Option<MessageInfo>,
}

impl Candidate<'_, '_> {
    fn raw(&mut self) -> Result<&[u8], StoreError> {
        if self.raw.is_none() {
            self.raw = Some(self.scan.raw(self.meta.body_id)?);
        }
        Ok(self.raw.as_deref().unwrap_or_default())
    }

    /// The top-level header block (or the whole message, when that is loaded already: the
    /// header functions stop at the empty line).
    fn header(&mut self) -> Result<&[u8], StoreError> {
        if let Some(raw) = &self.raw {
            return Ok(raw);
        }
        if self.header.is_none() {
            self.header = Some(self.scan.header(self.meta.body_id)?);
        }
        Ok(self.header.as_deref().unwrap_or_default())
    }

    fn info(&mut self) -> Result<&MessageInfo, StoreError> {
        if self.info.is_none() {
            let blob = self.scan.parsed(self.meta.body_id)?;
            let info = match MessageInfo::decode(&blob) {
                Some(i) => i,
                None => mime::parse(self.raw()?),
            };
            self.info = Some(info);
        }
        match &self.info {
            Some(i) => Ok(i),
            None => Err(StoreError::NotFound("message".into())),
        }
    }

    fn raw_and_info(&mut self) -> Result<(&[u8], &MessageInfo), StoreError> {
        self.info()?;
        self.raw()?;
        match (&self.raw, &self.info) {
            (Some(r), Some(i)) => Ok((r, i)),
            _ => Err(StoreError::NotFound("message".into())),
        }
    }
}

fn eval(c: &Crit, m: &mut Candidate, recent: &BTreeSet<u32>) -> Result<bool, StoreError> {
    Ok(match c {
        Crit::Sql(cond) => cond.matches(m.meta),
        Crit::Uids(uids) => uids.binary_search(&m.meta.uid).is_ok(),
        Crit::Recent => recent.contains(&m.meta.uid),
        Crit::Header(field, needle) => mime::header_contains(m.header()?, field, needle),
        Crit::Body(needle) => {
            let (raw, info) = m.raw_and_info()?;
            mime::body_contains(raw, info, needle)
        }
        Crit::Text(needle) => {
            let (raw, info) = m.raw_and_info()?;
            mime::text_contains(raw, info, needle)
        }
        Crit::SentBefore(d) => m.info()?.sent_day().is_some_and(|s| s < *d),
        Crit::SentOn(d) => m.info()?.sent_day().is_some_and(|s| s == *d),
        Crit::SentSince(d) => m.info()?.sent_day().is_some_and(|s| s >= *d),
        Crit::Not(c) => !eval(c, m, recent)?,
        Crit::And(cs) => {
            for c in cs {
                if !eval(c, m, recent)? {
                    return Ok(false);
                }
            }
            true
        }
        Crit::Or(a, b) => eval(a, m, recent)? || eval(b, m, recent)?,
    })
}

/// The conditions only SQL can answer (OBJECTID, SAVEDATE) nested under keys evaluated per
/// message, replaced by the UIDs they match.
fn resolve_sql_only(c: Crit, store: &Scan, mailbox: MailboxId) -> Result<Crit, StoreError> {
    let each = |cs: Vec<Crit>| -> Result<Vec<Crit>, StoreError> {
        cs.into_iter()
            .map(|c| resolve_sql_only(c, store, mailbox))
            .collect()
    };
    Ok(match c {
        Crit::Sql(cond) if cond.needs_sql() => Crit::Uids(store.search(mailbox, &cond)?),
        Crit::Not(c) => Crit::Not(Box::new(resolve_sql_only(*c, store, mailbox)?)),
        Crit::And(cs) => Crit::And(each(cs)?),
        Crit::Or(a, b) => Crit::Or(
            Box::new(resolve_sql_only(*a, store, mailbox)?),
            Box::new(resolve_sql_only(*b, store, mailbox)?),
        ),
        other => other,
    })
}

/// The messages (UIDs ascending) that can satisfy `c` as far as the search index knows, or
/// `None` when it cannot narrow them: text keys ask it, AND intersects, OR unites.
fn narrow(store: &Scan, mailbox: MailboxId, c: &Crit) -> Result<Option<Vec<u32>>, StoreError> {
    let ask = |place, needle: &str| store.text_candidates(mailbox, place, needle);
    Ok(match c {
        Crit::Header(field, n) => ask(TextPlace::Header(IndexedField::of(field.as_bytes())), n)?,
        Crit::Body(n) => ask(TextPlace::Body, n)?,
        Crit::Text(n) => ask(TextPlace::Anywhere, n)?,
        Crit::And(cs) => {
            let mut out: Option<Vec<u32>> = None;
            for c in cs {
                if let Some(u) = narrow(store, mailbox, c)? {
                    out = Some(match out {
                        Some(prev) => prev
                            .into_iter()
                            .filter(|x| u.binary_search(x).is_ok())
                            .collect(),
                        None => u,
                    });
                }
            }
            out
        }
        Crit::Or(a, b) => match (narrow(store, mailbox, a)?, narrow(store, mailbox, b)?) {
            (Some(mut x), Some(y)) => {
                x.extend(y);
                x.sort_unstable();
                x.dedup();
                Some(x)
            }
            _ => None,
        },
        _ => None,
    })
}

/// Run a search on the blocking pool: SQL for what it can answer, then the rest per message.
fn run(
    store: &Scan,
    mailbox: MailboxId,
    crit: Crit,
    known: Vec<u32>,
    recent: BTreeSet<u32>,
    want_modseq: bool,
) -> Result<Found, StoreError> {
    let uids = matching(store, mailbox, crit, known, recent)?;
    let modseqs = if want_modseq {
        let mut m = Vec::with_capacity(uids.len());
        for chunk in uids.chunks(2048) {
            m.extend(
                store
                    .messages(mailbox, chunk, false)?
                    .iter()
                    .map(|r| r.modseq),
            );
        }
        Some(m)
    } else {
        None
    };
    Ok(Found { uids, modseqs })
}

/// The UIDs (ascending) that match.
fn matching(
    store: &Scan,
    mailbox: MailboxId,
    crit: Crit,
    known: Vec<u32>,
    recent: BTreeSet<u32>,
) -> Result<Vec<u32>, StoreError> {
    let (sql, rest): (Vec<Cond>, Vec<Crit>) = match crit {
        Crit::Sql(c) => (vec![c], vec![]),
        Crit::And(cs) => {
            let mut sql = Vec::new();
            let mut rest = Vec::new();
            for c in cs {
                match c {
                    Crit::Sql(c) => sql.push(c),
                    other => rest.push(other),
                }
            }
            (sql, rest)
        }
        other => (vec![], vec![other]),
    };
    let rest = Crit::And(rest);
    let narrowed = narrow(store, mailbox, &rest)?;
    // With nothing for SQL to decide, the index's candidates (messages of this snapshot) are
    // all there is to look at: listing the whole mailbox first would cost more than the rest.
    let listed = match (&narrowed, sql.is_empty()) {
        (Some(n), true) => n.clone(),
        _ => store.search(mailbox, &Cond::And(sql))?,
    };
    let candidates: Vec<u32> = listed
        .into_iter()
        // Only messages this session's client has been told about.
        .filter(|u| known.binary_search(u).is_ok())
        .filter(|u| narrowed.as_ref().is_none_or(|n| n.binary_search(u).is_ok()))
        .collect();
    if matches!(&rest, Crit::And(cs) if cs.is_empty()) {
        return Ok(candidates);
    }
    let mut each = matching_each(store, mailbox, &[rest], &candidates, &recent)?;
    Ok(each.pop().unwrap_or_default())
}

/// Which of `uids` (ascending) match each of `crits`: the messages' metadata is read once,
/// their bytes only when a text key needs them. What a live search (RFC 5267 §4.3) asks of
/// the store when messages arrive or change.
pub(crate) fn matching_each(
    store: &Scan,
    mailbox: MailboxId,
    crits: &[Crit],
    uids: &[u32],
    recent: &BTreeSet<u32>,
) -> Result<Vec<Vec<u32>>, StoreError> {
    let crits = crits
        .iter()
        .map(|c| resolve_sql_only(c.clone(), store, mailbox))
        .collect::<Result<Vec<_>, _>>()?;
    let with_size = crits.iter().any(|c| c.needs_size());
    let mut out = vec![Vec::new(); crits.len()];
    // Small chunks: the body pages the metadata query reads are still in SQLite's page cache
    // when the header or body of the same messages is read.
    for chunk in uids.chunks(128) {
        for meta in store.messages(mailbox, chunk, with_size)? {
            let mut m = Candidate {
                meta: &meta,
                scan: store,
                raw: None,
                header: None,
                info: None,
            };
            for (c, found) in crits.iter().zip(out.iter_mut()) {
                if eval(c, &mut m, recent)? {
                    found.push(meta.uid);
                }
            }
        }
    }
    Ok(out)
}

impl Session {
    pub(crate) async fn cmd_search(
        &mut self,
        tag: &Tag<'static>,
        charset: Option<Charset<'static>>,
        criteria: Vec1<SearchKey<'static>>,
        uid: bool,
    ) -> CmdResult<Done> {
        let found = self.search_found(charset, criteria).await?;
        let modseq = found
            .highest_modseq(0..found.uids.len())
            .and_then(std::num::NonZeroU64::new);
        let sel = self
            .state
            .selected()
            .ok_or_else(|| CmdError::bad("No mailbox selected"))?;
        let numbers: Vec<NonZeroU32> = found
            .uids
            .into_iter()
            .filter_map(|u| if uid { Some(u) } else { sel.view.seq(u) })
            .filter_map(NonZeroU32::new)
            .collect();
        if self.rev2 {
            // RFC 9051 §6.4.4: without RETURN, IMAP4rev2 answers `* ESEARCH ... ALL set`.
            let all = ReturnOpts {
                all: true,
                ..ReturnOpts::default()
            };
            let numbers: Vec<u32> = numbers.iter().map(|n| n.get()).collect();
            let line = esearch_response(tag.inner(), uid, &all, &numbers, modseq.map(|m| m.get()));
            self.conn
                .send_raw(&line)
                .await
                .map_err(|e| CmdError::Bye(format!("write failed: {e}")))?;
        } else {
            self.data(Data::Search(numbers, modseq)).await?;
        }
        Ok(Done::ok(if uid {
            "UID SEARCH completed"
        } else {
            "SEARCH completed"
        }))
    }

    /// The UIDs (ascending) of the messages in this session's view that match, with their
    /// modseqs when the criteria use MODSEQ (which also enables CONDSTORE, RFC 7162 §3.1).
    pub(crate) async fn search_found(
        &mut self,
        charset: Option<Charset<'static>>,
        criteria: Vec1<SearchKey<'static>>,
    ) -> CmdResult<Found> {
        Ok(self.search_run(charset, criteria).await?.0)
    }

    /// [`Session::search_found`], and the criteria as evaluated (sequence numbers resolved to
    /// the messages they named), for a live search to test changed messages against.
    pub(crate) async fn search_run(
        &mut self,
        charset: Option<Charset<'static>>,
        criteria: Vec1<SearchKey<'static>>,
    ) -> CmdResult<(Found, Crit)> {
        let (crit, want_modseq) = self.search_crit(charset, criteria)?;
        self.search_crit_run(crit, want_modseq).await
    }

    /// The criteria checked (UIDONLY, nesting, charset) and converted for this session's
    /// view, and whether they use MODSEQ (which enables CONDSTORE, RFC 7162 §3.1).
    pub(crate) fn search_crit(
        &mut self,
        charset: Option<Charset<'static>>,
        criteria: Vec1<SearchKey<'static>>,
    ) -> CmdResult<(Crit, bool)> {
        if self.uidonly
            && criteria
                .as_ref()
                .iter()
                .any(crate::imap::cmd::uidonly::uses_sequence_set)
        {
            // RFC 9586 §3.2: a sequence set as a search key names messages by number.
            return Err(crate::imap::cmd::uidonly::uid_required(
                "A sequence set in SEARCH",
            ));
        }
        let want_modseq = criteria.as_ref().iter().any(uses_modseq);
        self.condstore |= want_modseq;
        let depth = criteria.as_ref().iter().map(nesting).max().unwrap_or(0);
        let limit = self.conn.limits().max_search_depth;
        if depth > limit {
            return Err(CmdError::bad(format!(
                "SEARCH keys nested {depth} deep (parentheses, NOT, OR); the limit is {limit}"
            )));
        }
        if let Some(cs) = &charset {
            let name: &str = cs.as_ref();
            if !name.eq_ignore_ascii_case("UTF-8") && !name.eq_ignore_ascii_case("US-ASCII") {
                let allowed = ["UTF-8", "US-ASCII"]
                    .iter()
                    .filter_map(|c| Charset::try_from(*c).ok())
                    .collect();
                return Err(CmdError::no_code(
                    Code::BadCharset { allowed },
                    format!("Charset {name} is not supported"),
                ));
            }
        }
        let sel = self
            .state
            .selected()
            .ok_or_else(|| CmdError::bad("No mailbox selected"))?;
        let crit = and(criteria
            .as_ref()
            .iter()
            .map(|k| convert(k, &sel.view))
            .collect());
        Ok((crit, want_modseq))
    }

    /// Run criteria from [`Session::search_crit`].
    pub(crate) async fn search_crit_run(
        &mut self,
        crit: Crit,
        want_modseq: bool,
    ) -> CmdResult<(Found, Crit)> {
        let sel = self
            .state
            .selected()
            .ok_or_else(|| CmdError::bad("No mailbox selected"))?;
        let mailbox = sel.mailbox;
        let known = sel.view.uids().to_vec();
        let recent = sel.recent.clone();
        let store = self.ctx.store.clone();
        let kept = crit.clone();
        let found = async_std::task::spawn_blocking(move || {
            store.scan(|scan| run(scan, mailbox, crit, known, recent, want_modseq))
        })
        .await?;
        Ok((found, kept))
    }

    /// Which of `uids` (ascending) match each of `crits` ([`matching_each`]) now, on the
    /// blocking pool.
    pub(crate) async fn matches_among(
        &mut self,
        crits: Vec<Crit>,
        uids: Vec<u32>,
    ) -> CmdResult<Vec<Vec<u32>>> {
        let sel = self
            .state
            .selected()
            .ok_or_else(|| CmdError::bad("No mailbox selected"))?;
        let mailbox = sel.mailbox;
        let recent = sel.recent.clone();
        let store = self.ctx.store.clone();
        let found = async_std::task::spawn_blocking(move || {
            store.scan(|scan| matching_each(scan, mailbox, &crits, &uids, &recent))
        })
        .await?;
        Ok(found)
    }
}
