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

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock, PoisonError};

use imap_codec::imap_types::extensions::sort::{SortCriterion, SortKey};

use crate::mime::Keys;
use crate::store::{MailboxId, Scan, SortRow, StoreError};

/// How many messages all entries together may hold (about 0.5 KB each); the least recently
/// used folders go first. A folder larger than this alone is sorted without being kept.
pub const MAX_CACHED_MESSAGES: usize = 1_000_000;

/// The keys of one folder's messages, ascending by UID.
pub struct Folder {
    uidvalidity: u32,
    items: Vec<SortRow>,
    /// Per sort key, each item's rank in that key's order (equal keys, equal ranks).
    ranks: [OnceLock<Vec<u32>>; 9],
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

/// The order of items `a` and `b` under one key.
fn cmp_key(it: &[SortRow], key: &SortKey, a: usize, b: usize) -> std::cmp::Ordering {
    let (x, y) = (&it[a], &it[b]);
    match key {
        SortKey::Arrival => x.internal_date.cmp(&y.internal_date),
        SortKey::Size => x.size.cmp(&y.size),
        SortKey::Date => x.date().cmp(&y.date()),
        SortKey::Cc => x.fields.cc.cmp(&y.fields.cc),
        SortKey::From => x.fields.from.cmp(&y.fields.from),
        SortKey::To => x.fields.to.cmp(&y.fields.to),
        SortKey::Subject => x.fields.subject.cmp(&y.fields.subject),
        SortKey::DisplayFrom => x.fields.display_from.cmp(&y.fields.display_from),
        SortKey::DisplayTo => x.fields.display_to.cmp(&y.fields.display_to),
    }
}

/// Dense ranks of `n` items under `cmp`.
fn ranks_by(n: usize, cmp: impl Fn(usize, usize) -> std::cmp::Ordering) -> Vec<u32> {
    let mut order: Vec<usize> = (0..n).collect();
    order.sort_unstable_by(|&a, &b| cmp(a, b));
    let mut ranks = vec![0u32; n];
    let mut rank = 0u32;
    for (k, &i) in order.iter().enumerate() {
        if k > 0 && cmp(order[k - 1], i) != std::cmp::Ordering::Equal {
            rank += 1;
        }
        ranks[i] = rank;
    }
    ranks
}

impl Folder {
    fn new(uidvalidity: u32, items: Vec<SortRow>) -> Folder {
        Folder {
            uidvalidity,
            items,
            ranks: Default::default(),
        }
    }

    pub fn items(&self) -> &[SortRow] {
        &self.items
    }

    /// The positions in [`Folder::items`] of `uids` (ascending); UIDs it does not hold are
    /// left out.
    pub fn positions(&self, uids: &[u32]) -> Vec<usize> {
        if uids.len() == self.items.len() && self.items.iter().zip(uids).all(|(k, &u)| k.uid == u) {
            return (0..uids.len()).collect();
        }
        let mut out = Vec::with_capacity(uids.len());
        let mut from = 0;
        for &u in uids {
            if let Ok(k) = self.items[from..].binary_search_by_key(&u, |k| k.uid) {
                out.push(from + k);
                from += k + 1;
            }
        }
        out
    }

    /// Each item's rank under `key`, computed on first use.
    pub fn rank(&self, key: &SortKey) -> &[u32] {
        let it = &self.items;
        self.ranks[key_index(key)].get_or_init(|| ranks_by(it.len(), |a, b| cmp_key(it, key, a, b)))
    }

    /// The position in [`Folder::items`] of `uid`.
    pub fn position(&self, uid: u32) -> Option<usize> {
        self.items.binary_search_by_key(&uid, |k| k.uid).ok()
    }

    /// The order of the items at positions `a` and `b` under `criteria` (REVERSE reversing
    /// its own key only), ties in UID order: where [`Folder::sort`] puts them, found by
    /// comparing keys, so one message can be placed without ranking the whole folder.
    pub fn compare(&self, criteria: &[SortCriterion], a: usize, b: usize) -> std::cmp::Ordering {
        criteria
            .iter()
            .map(|c| {
                let o = cmp_key(&self.items, &c.key, a, b);
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
    /// The keys of `mailbox` covering at least `wanted` (ascending), read from the store where
    /// the cached entry lacks them. `known` (ascending) is every UID the asking session
    /// numbers: an extended entry keeps only those of its messages (the others are expunged or
    /// will be read again when asked for).
    pub fn folder(
        &self,
        scan: &Scan,
        mailbox: MailboxId,
        uidvalidity: u32,
        known: &[u32],
        wanted: &[u32],
    ) -> Result<Arc<Folder>, StoreError> {
        let cached = {
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
        };
        let have: &[SortRow] = cached.as_deref().map(Folder::items).unwrap_or(&[]);
        let missing: Vec<u32> = wanted
            .iter()
            .copied()
            .filter(|u| have.binary_search_by_key(u, |k| k.uid).is_err())
            .collect();
        if missing.is_empty() {
            if let Some(f) = cached {
                return Ok(f);
            }
        }
        let fresh = scan.sort_rows(mailbox, &missing, Keys::ALL, true)?;
        let mut items: Vec<SortRow> = Vec::with_capacity(have.len() + fresh.len());
        items.extend(
            have.iter()
                .filter(|k| known.binary_search(&k.uid).is_ok())
                .cloned(),
        );
        items.extend(fresh);
        items.sort_by_key(|k| k.uid);
        let folder = Arc::new(Folder::new(uidvalidity, items));
        self.keep(mailbox, folder.clone());
        Ok(folder)
    }

    fn keep(&self, mailbox: MailboxId, folder: Arc<Folder>) {
        let mut g = self.inner.lock().unwrap_or_else(PoisonError::into_inner);
        g.folders.remove(&mailbox);
        if folder.items.len() > MAX_CACHED_MESSAGES {
            return;
        }
        let mut total: usize = g
            .folders
            .values()
            .map(|e| e.folder.items.len())
            .sum::<usize>()
            + folder.items.len();
        while total > MAX_CACHED_MESSAGES {
            let Some((&oldest, _)) = g.folders.iter().min_by_key(|(_, e)| e.used) else {
                break;
            };
            if let Some(e) = g.folders.remove(&oldest) {
                total -= e.folder.items.len();
            }
        }
        g.clock += 1;
        let used = g.clock;
        g.folders.insert(mailbox, Entry { folder, used });
    }
}
