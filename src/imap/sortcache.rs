//! An in-process copy of the stored SORT/THREAD keys of the folders sessions sort, so that a
//! repeated SORT or THREAD of a large folder reads nothing from the database and compares
//! small integers instead of strings. Runtime-free (a std mutex; called on the blocking pool).
//!
//! Why it can be simple: a message's keys never change (they belong to its immutable body,
//! and a UID names one message for the life of a UIDVALIDITY), so an entry is never stale —
//! it can only miss messages that arrived since it was built (read then, by UID) and hold
//! messages since expunged (dropped when the entry is next extended). Flag changes do not
//! touch it. Each criterion's order is computed once per entry, as a rank per message
//! ([`Folder::rank`]), so sorting is an integer sort.
//!
//! An entry holds only the keys that commands asked for: one column per key (strings of a
//! column in one buffer), read for the whole entry the first time a command needs it
//! ([`Need`]); a later command by another key reads that column alone. Message-IDs and
//! References are kept as numbers (one per distinct Message-ID of the folder, given once
//! when the column is read), so THREAD hashes no strings.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use imap_codec::imap_types::extensions::sort::{SortCriterion, SortKey};

use crate::imap::thread::ThreadMsg;
use crate::mime::Keys;
use crate::store::{MailboxId, Scan, SortKeysRef, StoreError};

/// How many messages all entries together may hold (about 300 bytes each with every column,
/// orders and Message-ID table); the least recently used folders go first. A folder larger
/// than this alone is sorted without being kept.
pub const MAX_CACHED_MESSAGES: usize = 1_000_000;

/// "No Message-ID" in a column of Message-ID numbers.
const NO_ID: u32 = u32::MAX;

/// A set of key columns: what a command needs, or what an entry holds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Need(u16);

impl Need {
    pub const SIZE: Need = Need(1);
    /// The base subject and whether it was a reply.
    pub const SUBJECT: Need = Need(1 << 1);
    pub const DATE: Need = Need(1 << 2);
    pub const FROM: Need = Need(1 << 3);
    pub const TO: Need = Need(1 << 4);
    pub const CC: Need = Need(1 << 5);
    pub const DISPLAY_FROM: Need = Need(1 << 6);
    pub const DISPLAY_TO: Need = Need(1 << 7);
    /// Message-ID and References (THREAD REFERENCES, REFS).
    pub const IDS: Need = Need(1 << 8);

    /// The columns SORT by `criteria` compares (ARRIVAL is always at hand).
    pub fn sort(criteria: &[SortCriterion]) -> Need {
        criteria.iter().fold(Need::default(), |n, c| {
            n | match c.key {
                SortKey::Arrival => Need::default(),
                SortKey::Size => Need::SIZE,
                SortKey::Subject => Need::SUBJECT,
                SortKey::Date => Need::DATE,
                SortKey::From => Need::FROM,
                SortKey::To => Need::TO,
                SortKey::Cc => Need::CC,
                SortKey::DisplayFrom => Need::DISPLAY_FROM,
                SortKey::DisplayTo => Need::DISPLAY_TO,
            }
        })
    }

    fn has(self, other: Need) -> bool {
        self.0 & other.0 == other.0
    }

    fn without(self, other: Need) -> Need {
        Need(self.0 & !other.0)
    }

    fn is_empty(self) -> bool {
        self.0 == 0
    }

    /// What the store is asked for: the keys, and whether the size.
    fn keys(self) -> (Keys, bool) {
        let keys = Keys {
            subject: self.has(Need::SUBJECT),
            date: self.has(Need::DATE),
            from: self.has(Need::FROM),
            to: self.has(Need::TO),
            cc: self.has(Need::CC),
            display_from: self.has(Need::DISPLAY_FROM),
            display_to: self.has(Need::DISPLAY_TO),
            ids: self.has(Need::IDS),
        };
        (keys, self.has(Need::SIZE))
    }
}

impl std::ops::BitOr for Need {
    type Output = Need;
    fn bitor(self, other: Need) -> Need {
        Need(self.0 | other.0)
    }
}

/// The address keys, in the order of [`Folder::texts`], with their column and field.
type TextField = for<'r, 's> fn(&'r SortKeysRef<'s>) -> &'s str;
const TEXT_KEYS: [(Need, TextField); 5] = [
    (Need::FROM, |r| r.from),
    (Need::TO, |r| r.to),
    (Need::CC, |r| r.cc),
    (Need::DISPLAY_FROM, |r| r.display_from),
    (Need::DISPLAY_TO, |r| r.display_to),
];

/// One string per message, all in one buffer.
#[derive(Default)]
struct Texts {
    buf: String,
    /// Where each message's string ends in `buf`.
    ends: Vec<usize>,
}

impl Texts {
    fn push(&mut self, s: &str) {
        self.buf.push_str(s);
        self.ends.push(self.buf.len());
    }

    fn get(&self, i: usize) -> &str {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.buf.get(start..self.ends[i]).unwrap_or("")
    }

    fn done(mut self) -> Texts {
        self.buf.shrink_to_fit();
        self
    }
}

/// The Message-ID numbers of one folder: every distinct Message-ID its messages name gets
/// one, kept from one entry of the folder to the next (the table grows with new mail; it is
/// started again when most of what it holds is gone).
#[derive(Default)]
struct IdTable {
    numbers: HashMap<Box<str>, u32>,
}

impl IdTable {
    fn number(&mut self, id: &str) -> u32 {
        if let Some(&n) = self.numbers.get(id) {
            return n;
        }
        let n = self.numbers.len() as u32;
        self.numbers.insert(id.into(), n);
        n
    }
}

/// Each message's Message-ID and References as numbers of the folder's [`IdTable`].
#[derive(Default)]
struct Ids {
    own: Vec<u32>,
    /// Where each message's references end in `refs`.
    ends: Vec<usize>,
    refs: Vec<u32>,
}

impl Ids {
    fn push(&mut self, own: u32, refs: impl IntoIterator<Item = u32>) {
        self.own.push(own);
        self.refs.extend(refs);
        self.ends.push(self.refs.len());
    }

    fn refs(&self, i: usize) -> &[u32] {
        let start = if i == 0 { 0 } else { self.ends[i - 1] };
        self.refs.get(start..self.ends[i]).unwrap_or(&[])
    }
}

/// The base subjects and whether each was a reply.
#[derive(Default)]
struct Subjects {
    text: Texts,
    reply: Vec<bool>,
}

/// Columns being filled for a new entry or one that lacks them, one item at a time in UID
/// order: from the store's row, from the entry before, or empty (a message gone meanwhile).
struct Columns {
    cols: Need,
    size: Vec<u32>,
    date: Vec<i64>,
    subject: Subjects,
    texts: [Texts; 5],
    ids: Ids,
}

impl Columns {
    fn new(cols: Need, n: usize) -> Columns {
        let room = |c: Need| if cols.has(c) { n } else { 0 };
        Columns {
            cols,
            size: Vec::with_capacity(room(Need::SIZE)),
            date: Vec::with_capacity(room(Need::DATE)),
            subject: Subjects::default(),
            texts: Default::default(),
            ids: Ids::default(),
        }
    }

    fn push_row(&mut self, r: &SortKeysRef<'_>, table: &mut IdTable) {
        let c = self.cols;
        if c.has(Need::SIZE) {
            self.size.push(r.size);
        }
        if c.has(Need::DATE) {
            self.date.push(r.date());
        }
        if c.has(Need::SUBJECT) {
            self.subject.text.push(r.subject);
            self.subject.reply.push(r.reply);
        }
        for (k, (col, field)) in TEXT_KEYS.iter().enumerate() {
            if c.has(*col) {
                self.texts[k].push(field(r));
            }
        }
        if c.has(Need::IDS) {
            let own = r.message_id.map_or(NO_ID, |m| table.number(m));
            self.ids.push(own, r.references().map(|m| table.number(m)));
        }
    }

    fn push_empty(&mut self, arrival: i64) {
        self.push_row(
            &SortKeysRef {
                internal_date: arrival,
                ..SortKeysRef::default()
            },
            &mut IdTable::default(),
        );
    }

    fn push_old(&mut self, old: &Folder, i: usize) {
        let c = self.cols;
        if c.has(Need::SIZE) {
            self.size.push(old.size.get().map_or(0, |s| s[i]));
        }
        if c.has(Need::DATE) {
            self.date.push(old.date(i));
        }
        if c.has(Need::SUBJECT) {
            self.subject.text.push(old.subject_text(i));
            self.subject.reply.push(old.reply(i));
        }
        for (k, (col, _)) in TEXT_KEYS.iter().enumerate() {
            if c.has(*col) {
                self.texts[k].push(old.text(k, i));
            }
        }
        if c.has(Need::IDS) {
            match old.ids.get() {
                Some(ids) => self.ids.push(ids.own[i], ids.refs(i).iter().copied()),
                None => self.ids.push(NO_ID, []),
            }
        }
    }

    /// The columns into `f` (a column another command set meanwhile is left as it is).
    fn set(self, f: &Folder) {
        let c = self.cols;
        if c.has(Need::SIZE) {
            let _ = f.size.set(self.size);
        }
        if c.has(Need::DATE) {
            let _ = f.date.set(self.date);
        }
        if c.has(Need::SUBJECT) {
            let mut s = self.subject;
            s.text = s.text.done();
            let _ = f.subject.set(s);
        }
        for (k, t) in self.texts.into_iter().enumerate() {
            if c.has(TEXT_KEYS[k].0) {
                let _ = f.texts[k].set(t.done());
            }
        }
        if c.has(Need::IDS) {
            let _ = f.ids.set(self.ids);
        }
    }
}

/// The keys of one folder's messages, ascending by UID: the UIDs and INTERNALDATEs, and the
/// other keys column by column as commands first need them.
pub struct Folder {
    uidvalidity: u32,
    uids: Vec<u32>,
    arrival: Vec<i64>,
    size: OnceLock<Vec<u32>>,
    subject: OnceLock<Subjects>,
    /// RFC 5256's DATE: the sent date, else INTERNALDATE.
    date: OnceLock<Vec<i64>>,
    /// FROM, TO, CC, DISPLAYFROM, DISPLAYTO (as [`TEXT_KEYS`]).
    texts: [OnceLock<Texts>; 5],
    ids: OnceLock<Ids>,
    id_table: Arc<Mutex<IdTable>>,
    /// `Some(m)`: the items are exactly the folder's messages in a snapshot where its highest
    /// modseq was `m`, so while it still is, `ALL` needs no listing of the folder.
    complete_at: Mutex<Option<u64>>,
    /// Per sort key, each item's rank in that key's order (equal keys, equal ranks).
    ranks: [OnceLock<Vec<u32>>; 9],
    /// Per sort key, every position in that key's order (ties by position): a single-key
    /// SORT of (most of) the folder is a walk of it, not a sort.
    orders: [OnceLock<Vec<u32>>; 9],
}

fn key_index(key: &SortKey) -> usize {
    match key {
        SortKey::Arrival => 0,
        SortKey::Cc => 1,
        SortKey::Date => 2,
        SortKey::From => 3,
        SortKey::Size => 4,
        SortKey::Subject => 5,
        SortKey::To => 6,
        SortKey::DisplayFrom => 7,
        SortKey::DisplayTo => 8,
    }
}

/// Dense ranks of the items' keys (equal keys, equal ranks): one sort of (key, item) pairs,
/// so comparing two items is comparing two keys in place.
fn ranks_of<T: Ord>(keys: impl Iterator<Item = T>) -> Vec<u32> {
    let mut keyed: Vec<(T, u32)> = keys.zip(0u32..).collect();
    keyed.sort_unstable();
    let mut ranks = vec![0u32; keyed.len()];
    let mut rank = 0u32;
    for k in 0..keyed.len() {
        if k > 0 && keyed[k - 1].0 != keyed[k].0 {
            rank += 1;
        }
        ranks[keyed[k].1 as usize] = rank;
    }
    ranks
}

impl Folder {
    /// An entry of `uids` (ascending) with their INTERNALDATEs and no other column yet.
    fn empty(
        uidvalidity: u32,
        uids: Vec<u32>,
        arrival: Vec<i64>,
        id_table: Arc<Mutex<IdTable>>,
        complete_at: Option<u64>,
    ) -> Folder {
        Folder {
            uidvalidity,
            uids,
            arrival,
            size: OnceLock::new(),
            subject: OnceLock::new(),
            date: OnceLock::new(),
            texts: Default::default(),
            ids: OnceLock::new(),
            id_table,
            complete_at: Mutex::new(complete_at),
            ranks: Default::default(),
            orders: Default::default(),
        }
    }

    /// Which columns this entry holds.
    fn loaded(&self) -> Need {
        let mut n = Need::default();
        let mut add = |on: bool, c: Need| {
            if on {
                n = n | c;
            }
        };
        add(self.size.get().is_some(), Need::SIZE);
        add(self.subject.get().is_some(), Need::SUBJECT);
        add(self.date.get().is_some(), Need::DATE);
        for (k, (c, _)) in TEXT_KEYS.iter().enumerate() {
            add(self.texts[k].get().is_some(), *c);
        }
        add(self.ids.get().is_some(), Need::IDS);
        n
    }

    /// The columns `need` names, read for every item where this entry lacks them (one
    /// query for all of them). A message expunged since the entry was made has empty keys
    /// in the new columns.
    fn load(&self, scan: &Scan, mailbox: MailboxId, need: Need) -> Result<(), StoreError> {
        let missing = need.without(self.loaded());
        if missing.is_empty() || self.uids.is_empty() {
            return Ok(());
        }
        let (keys, size) = missing.keys();
        let mut table = self.id_table.lock().unwrap_or_else(PoisonError::into_inner);
        let mut cols = Columns::new(missing, self.len());
        let mut next = 0;
        scan.sort_keys_each(mailbox, &self.uids, keys, size, &mut |r| {
            while next < self.len() && self.uids[next] < r.uid {
                cols.push_empty(self.arrival[next]);
                next += 1;
            }
            if next < self.len() && self.uids[next] == r.uid {
                cols.push_row(r, &mut table);
                next += 1;
            }
        })?;
        for k in next..self.len() {
            cols.push_empty(self.arrival[k]);
        }
        drop(table);
        cols.set(self);
        Ok(())
    }

    fn complete_at(&self) -> Option<u64> {
        *self
            .complete_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }

    fn set_complete_at(&self, modseq: u64) {
        *self
            .complete_at
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(modseq);
    }

    /// How many messages the entry holds.
    pub fn len(&self) -> usize {
        self.uids.len()
    }

    pub fn is_empty(&self) -> bool {
        self.uids.is_empty()
    }

    /// The UID of the item at position `i`.
    pub fn uid(&self, i: usize) -> u32 {
        self.uids[i]
    }

    fn date(&self, i: usize) -> i64 {
        debug_assert!(self.date.get().is_some(), "DATE not loaded");
        self.date.get().map_or(self.arrival[i], |d| d[i])
    }

    fn subject_text(&self, i: usize) -> &str {
        debug_assert!(self.subject.get().is_some(), "SUBJECT not loaded");
        self.subject.get().map_or("", |s| s.text.get(i))
    }

    fn reply(&self, i: usize) -> bool {
        self.subject.get().is_some_and(|s| s.reply[i])
    }

    fn text(&self, k: usize, i: usize) -> &str {
        debug_assert!(self.texts[k].get().is_some(), "address key not loaded");
        self.texts[k].get().map_or("", |t| t.get(i))
    }

    /// The order of items `a` and `b` under one key.
    fn cmp_key(&self, key: &SortKey, a: usize, b: usize) -> std::cmp::Ordering {
        let text = |k: usize| self.text(k, a).cmp(self.text(k, b));
        match key {
            SortKey::Arrival => self.arrival[a].cmp(&self.arrival[b]),
            SortKey::Size => {
                let size = self.size.get().map_or(&[][..], |s| &s[..]);
                size.get(a).cmp(&size.get(b))
            }
            SortKey::Date => self.date(a).cmp(&self.date(b)),
            SortKey::Subject => self.subject_text(a).cmp(self.subject_text(b)),
            SortKey::From => text(0),
            SortKey::To => text(1),
            SortKey::Cc => text(2),
            SortKey::DisplayFrom => text(3),
            SortKey::DisplayTo => text(4),
        }
    }

    /// The positions of `uids` (ascending); UIDs it does not hold are left out.
    pub fn positions(&self, uids: &[u32]) -> Vec<usize> {
        if uids == &self.uids[..] {
            return (0..uids.len()).collect();
        }
        let mut out = Vec::with_capacity(uids.len());
        let mut from = 0;
        for &u in uids {
            if let Ok(k) = self.uids[from..].binary_search(&u) {
                out.push(from + k);
                from += k + 1;
            }
        }
        out
    }

    /// Each item's rank under `key`, computed on first use.
    pub fn rank(&self, key: &SortKey) -> &[u32] {
        let n = self.len();
        let texts = |k: usize| ranks_of((0..n).map(|i| self.text(k, i)));
        self.ranks[key_index(key)].get_or_init(|| match key {
            SortKey::Arrival => ranks_of(self.arrival.iter()),
            SortKey::Date => ranks_of((0..n).map(|i| self.date(i))),
            SortKey::Size => ranks_of((0..n).map(|i| self.size.get().map_or(0, |s| s[i]))),
            SortKey::Subject => ranks_of((0..n).map(|i| self.subject_text(i))),
            SortKey::From => texts(0),
            SortKey::To => texts(1),
            SortKey::Cc => texts(2),
            SortKey::DisplayFrom => texts(3),
            SortKey::DisplayTo => texts(4),
        })
    }

    /// Every position, ascending by `key` (ties by position), computed on first use.
    fn order(&self, key: &SortKey) -> &[u32] {
        self.orders[key_index(key)].get_or_init(|| {
            let rank = self.rank(key);
            let mut packed: Vec<u64> = (0..self.len())
                .map(|i| (u64::from(rank[i]) << 32) | i as u64)
                .collect();
            packed.sort_unstable();
            packed.into_iter().map(|p| p as u32).collect()
        })
    }

    /// The items at `positions` (ascending) in the order of one key, from the kept order of
    /// the whole folder: ascending, or REVERSE, where each run of equal keys keeps its
    /// ascending positions (ties in UID order either way).
    fn by_order(&self, positions: &[usize], criterion: &SortCriterion) -> Vec<usize> {
        let n = self.len();
        let order = self.order(&criterion.key);
        let asc: Vec<usize> = if positions.len() == n {
            order.iter().map(|&p| p as usize).collect()
        } else {
            let mut keep = vec![false; n];
            for &p in positions {
                keep[p] = true;
            }
            order
                .iter()
                .map(|&p| p as usize)
                .filter(|&p| keep[p])
                .collect()
        };
        if !criterion.reverse {
            return asc;
        }
        let rank = self.rank(&criterion.key);
        let mut out = Vec::with_capacity(asc.len());
        let mut end = asc.len();
        while end > 0 {
            let r = rank[asc[end - 1]];
            let mut start = end - 1;
            while start > 0 && rank[asc[start - 1]] == r {
                start -= 1;
            }
            out.extend_from_slice(&asc[start..end]);
            end = start;
        }
        out
    }

    /// The position of `uid`.
    pub fn position(&self, uid: u32) -> Option<usize> {
        self.uids.binary_search(&uid).ok()
    }

    /// The order of the items at positions `a` and `b` under `criteria` (REVERSE reversing
    /// its own key only), ties in UID order: where [`Folder::sort`] puts them, found by
    /// comparing keys, so one message can be placed without ranking the whole folder.
    pub fn compare(&self, criteria: &[SortCriterion], a: usize, b: usize) -> std::cmp::Ordering {
        criteria
            .iter()
            .map(|c| {
                let o = self.cmp_key(&c.key, a, b);
                if c.reverse {
                    o.reverse()
                } else {
                    o
                }
            })
            .find(|o| o.is_ne())
            .unwrap_or_else(|| a.cmp(&b))
    }

    /// The items at `positions` (ascending) sorted by `criteria` in turn (REVERSE reversing
    /// its own key only), ties in UID order (RFC 5256: by sequence number).
    pub fn sort(&self, mut positions: Vec<usize>, criteria: &[SortCriterion]) -> Vec<usize> {
        if let [one] = criteria {
            // Most of the folder: walk the key's kept order (built once) instead of sorting.
            let ascending = positions
                .windows(2)
                .all(|w| w[0] < w[1] && w[1] < self.len());
            if ascending && positions.len() * 4 >= self.len() && !positions.is_empty() {
                return self.by_order(&positions, one);
            }
        }
        let keys: Vec<(&[u32], bool)> = criteria
            .iter()
            .map(|c| (self.rank(&c.key), c.reverse))
            .collect();
        let rank = |(r, reverse): (&[u32], bool), i: usize| {
            if reverse {
                u32::MAX - r[i]
            } else {
                r[i]
            }
        };
        if let [one] = keys[..] {
            // One key: one integer sort of (rank, position), positions being UID order.
            let mut packed: Vec<u64> = positions
                .iter()
                .map(|&i| (u64::from(rank(one, i)) << 32) | i as u64)
                .collect();
            packed.sort_unstable();
            return packed
                .into_iter()
                .map(|p| (p & 0xffff_ffff) as usize)
                .collect();
        }
        positions.sort_by(|&a, &b| {
            keys.iter()
                .map(|&k| rank(k, a).cmp(&rank(k, b)))
                .find(|o| o.is_ne())
                .unwrap_or_else(|| a.cmp(&b))
        });
        positions
    }

    /// What THREAD needs of the items at `positions`, in that order: the DATE column, the
    /// Message-IDs when held, and the subjects (as their rank) when `subjects`.
    pub fn thread_msgs(&self, positions: &[usize], subjects: bool) -> Vec<ThreadMsg<'_>> {
        let rank = subjects.then(|| self.rank(&SortKey::Subject));
        let ids = self.ids.get();
        positions
            .iter()
            .map(|&i| ThreadMsg {
                date: self.date(i),
                subject: rank.map_or(0, |r| r[i]),
                no_subject: subjects && self.subject_text(i).is_empty(),
                reply: self.reply(i),
                message_id: ids.map(|d| d.own[i]).filter(|&m| m != NO_ID),
                references: ids.map_or(&[][..], |d| d.refs(i)),
            })
            .collect()
    }

    /// Whether the Message-ID table holds much more than the entry's messages name (after
    /// many expunges): the next entry then starts a new one.
    fn table_outgrown(&self) -> bool {
        let Some(ids) = self.ids.get() else {
            return false;
        };
        let used = ids.own.len() + ids.refs.len();
        let held = self
            .id_table
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .numbers
            .len();
        held > 2 * used + 1024
    }
}

struct Entry {
    folder: Arc<Folder>,
    used: u64,
}

#[derive(Default)]
pub struct SortCache {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    folders: HashMap<MailboxId, Entry>,
    clock: u64,
}

impl SortCache {
    /// The keys `need` of `mailbox` covering at least `wanted` (ascending), read from the
    /// store where the cached entry lacks them. `known` (ascending) is every UID the asking
    /// session numbers: an extended entry keeps only those of its messages (the others are
    /// expunged or will be read again when asked for).
    pub fn folder(
        &self,
        scan: &Scan,
        mailbox: MailboxId,
        uidvalidity: u32,
        known: &[u32],
        wanted: &[u32],
        need: Need,
    ) -> Result<Arc<Folder>, StoreError> {
        let cached = self.cached(mailbox, uidvalidity);
        let have: &[u32] = cached.as_deref().map_or(&[], |f| &f.uids);
        let missing = not_in(have, wanted);
        if missing.is_empty() {
            if let Some(f) = cached {
                f.load(scan, mailbox, need)?;
                return Ok(f);
            }
        }
        let folder = self.extended(
            scan,
            mailbox,
            uidvalidity,
            cached.as_deref(),
            &missing,
            need,
            None,
            |u| known.binary_search(&u).is_ok(),
        )?;
        Ok(folder)
    }

    /// The keys `need` of all of `mailbox`'s messages and the positions among them of those
    /// in `known` (ascending; the UIDs the asking session numbers): what `ALL` matches. The
    /// folder is listed only when its highest modseq moved since the cached entry was last
    /// found complete; when the listing shows the same messages the entry (and the orders it
    /// keeps) stays.
    pub fn all(
        &self,
        scan: &Scan,
        mailbox: MailboxId,
        uidvalidity: u32,
        known: &[u32],
        need: Need,
    ) -> Result<(Arc<Folder>, Vec<usize>), StoreError> {
        let modseq = scan.highest_modseq(mailbox)?;
        let cached = self.cached(mailbox, uidvalidity);
        if let Some(f) = cached.as_ref().filter(|f| f.complete_at() == Some(modseq)) {
            f.load(scan, mailbox, need)?;
            return Ok((f.clone(), f.positions(known)));
        }
        let existing = scan.search(mailbox, &crate::store::Cond::All)?;
        let have: &[u32] = cached.as_deref().map_or(&[], |f| &f.uids);
        if have == &existing[..] {
            if let Some(f) = cached {
                f.set_complete_at(modseq);
                f.load(scan, mailbox, need)?;
                let positions = f.positions(known);
                return Ok((f, positions));
            }
        }
        let missing = not_in(have, &existing);
        let folder = self.extended(
            scan,
            mailbox,
            uidvalidity,
            cached.as_deref(),
            &missing,
            need,
            Some(modseq),
            |u| existing.binary_search(&u).is_ok(),
        )?;
        let positions = folder.positions(known);
        Ok((folder, positions))
    }

    /// A new entry for `mailbox`: the items of `old` that `keep` keeps and the messages
    /// `missing` (none of them in `old`), read from the store with the columns `old` holds,
    /// then the columns of `need` it still lacks; kept as the folder's entry.
    #[allow(clippy::too_many_arguments)]
    fn extended(
        &self,
        scan: &Scan,
        mailbox: MailboxId,
        uidvalidity: u32,
        old: Option<&Folder>,
        missing: &[u32],
        need: Need,
        complete_at: Option<u64>,
        keep: impl Fn(u32) -> bool,
    ) -> Result<Arc<Folder>, StoreError> {
        let cols = old.map_or(need, Folder::loaded);
        let (keys, size) = cols.keys();
        let table: Arc<Mutex<IdTable>> = old.map_or_else(Arc::default, |o| o.id_table.clone());
        let olds = old.map_or(0, Folder::len);
        let n = olds + missing.len();
        let (mut uids, mut arrival) = (Vec::with_capacity(n), Vec::with_capacity(n));
        let mut columns = Columns::new(cols, n);
        let mut next = 0;
        // The items of `old` that stay, up to `until` (all the rest for `None`).
        let mut olds_before =
            |until: Option<u32>, uids: &mut Vec<u32>, arrival: &mut Vec<i64>, c: &mut Columns| {
                let Some(o) = old else { return };
                while next < olds && until.is_none_or(|u| o.uids[next] < u) {
                    if keep(o.uids[next]) {
                        uids.push(o.uids[next]);
                        arrival.push(o.arrival[next]);
                        c.push_old(o, next);
                    }
                    next += 1;
                }
            };
        {
            let mut t = table.lock().unwrap_or_else(PoisonError::into_inner);
            scan.sort_keys_each(mailbox, missing, keys, size, &mut |r| {
                olds_before(Some(r.uid), &mut uids, &mut arrival, &mut columns);
                uids.push(r.uid);
                arrival.push(r.internal_date);
                columns.push_row(r, &mut t);
            })?;
        }
        olds_before(None, &mut uids, &mut arrival, &mut columns);
        let folder = Folder::empty(uidvalidity, uids, arrival, table, complete_at);
        columns.set(&folder);
        folder.load(scan, mailbox, need)?;
        let folder = Arc::new(folder);
        self.keep(mailbox, folder.clone());
        Ok(folder)
    }

    /// The cached entry of `mailbox` if it is of this UIDVALIDITY, marked as used; none when
    /// its Message-ID table has outgrown it (the entry is left behind, to be replaced).
    fn cached(&self, mailbox: MailboxId, uidvalidity: u32) -> Option<Arc<Folder>> {
        let mut g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        g.clock += 1;
        let now = g.clock;
        g.folders
            .get_mut(&mailbox)
            .filter(|e| e.folder.uidvalidity == uidvalidity)
            .map(|e| {
                e.used = now;
                e.folder.clone()
            })
            .filter(|f| !f.table_outgrown())
    }

    fn keep(&self, mailbox: MailboxId, folder: Arc<Folder>) {
        let mut g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        g.folders.remove(&mailbox);
        if folder.len() > MAX_CACHED_MESSAGES {
            return;
        }
        let mut total: usize =
            g.folders.values().map(|e| e.folder.len()).sum::<usize>() + folder.len();
        while total > MAX_CACHED_MESSAGES {
            let Some((&oldest, _)) = g.folders.iter().min_by_key(|(_, e)| e.used) else {
                break;
            };
            if let Some(e) = g.folders.remove(&oldest) {
                total -= e.folder.len();
            }
        }
        g.clock += 1;
        let used = g.clock;
        g.folders.insert(mailbox, Entry { folder, used });
    }
}

/// The UIDs of `wanted` not in `have` (ascending), in `wanted`'s order.
fn not_in(have: &[u32], wanted: &[u32]) -> Vec<u32> {
    wanted
        .iter()
        .copied()
        .filter(|u| have.binary_search(u).is_err())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(n: u32) -> Folder {
        // Few distinct subjects and sizes: long runs of equal keys.
        let rows: Vec<SortKeysRef> = (1..=n)
            .map(|uid| SortKeysRef {
                uid: uid * 3,
                size: (uid * 7) % 5,
                internal_date: i64::from((uid * 13) % 11),
                subject: ["b", "a", "c"][(uid % 3) as usize],
                ..SortKeysRef::default()
            })
            .collect();
        let cols = Need::SIZE | Need::SUBJECT | Need::CC;
        let mut c = Columns::new(cols, rows.len());
        for r in &rows {
            c.push_row(r, &mut IdTable::default());
        }
        let uids = rows.iter().map(|r| r.uid).collect();
        let arrival = rows.iter().map(|r| r.internal_date).collect();
        let f = Folder::empty(1, uids, arrival, Arc::default(), None);
        c.set(&f);
        assert_eq!(f.loaded(), cols);
        f
    }

    /// The walk of a key's kept order gives what sorting by (rank, position) gives, REVERSE
    /// keeping ties in UID order, for the whole folder and for part of it.
    #[test]
    fn kept_order_matches_a_sort_with_ties_in_uid_order() {
        let f = folder(200);
        for key in [
            SortKey::Subject,
            SortKey::Size,
            SortKey::Arrival,
            SortKey::Cc,
        ] {
            for reverse in [false, true] {
                let c = SortCriterion {
                    reverse,
                    key: key.clone(),
                };
                for positions in [
                    (0..200).collect::<Vec<usize>>(),
                    (0..200).filter(|p| p % 3 != 1).collect(),
                ] {
                    let mut want = positions.clone();
                    want.sort_by(|&a, &b| f.compare(std::slice::from_ref(&c), a, b));
                    assert_eq!(f.sort(positions, std::slice::from_ref(&c)), want);
                }
            }
        }
    }
}
