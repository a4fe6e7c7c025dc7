//! `Store`: the one type the rest of liteimap calls, over whichever backend the database is on
//! (a SQLite file, or a PostgreSQL server). Every method forwards to the backend's method of
//! the same name and signature; the few that only a SQLite file has answer sensibly (or
//! `Unsupported`) on PostgreSQL. A match on a two-variant enum per call: nothing measurable
//! next to the work behind it.

use std::path::Path;

use super::pg::PgStore;
use super::*;

/// The store behind a `Store`. One per process, made once and never moved after: boxing the
/// larger variant would only add an indirection to every call.
#[allow(clippy::large_enum_variant)]
enum Backend {
    Sqlite(SqliteStore),
    Postgres(PgStore),
}

/// The store: users, mailboxes, messages and flags, on SQLite or PostgreSQL.
pub struct Store {
    backend: Backend,
}

impl Store {
    /// Open (creating if needed) and migrate the SQLite database file at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        SqliteStore::open(path).map(Store::from)
    }

    /// Connect to the PostgreSQL database `conninfo` names (libpq key=value or URL form, the
    /// password already in it) and migrate it.
    pub fn open_postgres(conninfo: &str) -> Result<Store> {
        PgStore::open(conninfo).map(|p| Store {
            backend: Backend::Postgres(p),
        })
    }

    /// Whether this store is a SQLite file (the commands and features only a file has).
    pub fn is_sqlite(&self) -> bool {
        matches!(self.backend, Backend::Sqlite(_))
    }

    /// The SQLite database file; None on PostgreSQL.
    pub fn path(&self) -> Option<&Path> {
        match &self.backend {
            Backend::Sqlite(s) => Some(s.path()),
            Backend::Postgres(_) => None,
        }
    }

    /// The permission bits of a SQLite file others may read (see `SqliteStore::loose_mode`).
    pub fn loose_mode(&self) -> Option<u32> {
        match &self.backend {
            Backend::Sqlite(s) => s.loose_mode(),
            Backend::Postgres(_) => None,
        }
    }

    /// A number that changes when another process commits to the SQLite file. PostgreSQL
    /// tells other nodes' commits by its own notifications: Unsupported there.
    pub fn data_version(&self) -> Result<i64> {
        match &self.backend {
            Backend::Sqlite(s) => s.data_version(),
            Backend::Postgres(_) => Err(StoreError::Unsupported("data_version")),
        }
    }

    /// SQLite's `PRAGMA integrity_check`; Unsupported on PostgreSQL.
    pub fn integrity_check(&self) -> Result<String> {
        match &self.backend {
            Backend::Sqlite(s) => s.integrity_check(),
            Backend::Postgres(_) => Err(StoreError::Unsupported("integrity_check")),
        }
    }

    /// Tests only: every SQLite write fails as on a full disk (no effect on PostgreSQL).
    #[doc(hidden)]
    pub fn simulate_full_disk(&self, on: bool) {
        if let Backend::Sqlite(s) = &self.backend {
            s.simulate_full_disk(on);
        }
    }

    /// Run `f` on one consistent snapshot, for the searches that look at many rows.
    pub fn scan<T>(&self, f: impl FnOnce(&Scan<'_>) -> Result<T>) -> Result<T> {
        match &self.backend {
            Backend::Sqlite(s) => s.scan(f),
            Backend::Postgres(p) => p.scan(f),
        }
    }
}

impl From<SqliteStore> for Store {
    fn from(s: SqliteStore) -> Store {
        Store {
            backend: Backend::Sqlite(s),
        }
    }
}

/// One `pub fn` per line: the same name and arguments on `Store`, forwarded to the backend.
macro_rules! forward {
    ($(fn $name:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) $(-> $ret:ty)?;)*) => {
        impl Store {
            $(
                #[doc = concat!("See `SqliteStore::", stringify!($name), "`.")]
                #[inline]
                pub fn $name(&self $(, $arg: $ty)*) $(-> $ret)? {
                    match &self.backend {
                        Backend::Sqlite(s) => s.$name($($arg),*),
                        Backend::Postgres(p) => p.$name($($arg),*),
                    }
                }
            )*
        }
    };
}

forward! {
    fn mailbox(&self, user: UserId, name: &str) -> Result<Option<MailboxRow>>;
    fn mailboxes(&self, user: UserId) -> Result<Vec<MailboxRow>>;
    fn create_mailbox(&self, user: UserId, name: &str) -> Result<MailboxRow>;
    fn create_mailbox_with_use(&self, user: UserId, name: &str, uses: &[&str]) -> Result<MailboxRow>;
    fn delete_mailbox(&self, user: UserId, name: &str) -> Result<()>;
    fn rename_mailbox(&self, user: UserId, from: &str, to: &str) -> Result<()>;
    fn subscribe(&self, user: UserId, name: &str) -> Result<()>;
    fn unsubscribe(&self, user: UserId, name: &str) -> Result<()>;
    fn subscriptions(&self, user: UserId) -> Result<Vec<String>>;
    fn append(&self, mailbox: MailboxId, msgs: &[NewMessage]) -> Result<Vec<AppendedMessage>>;
    fn append_new(&self, mailbox: MailboxId, msgs: &[NewMessage]) -> Result<Vec<bool>>;
    fn select(&self, mailbox: MailboxId, claim_recent: bool) -> Result<SelectSnapshot>;
    fn select_view(&self, mailbox: MailboxId, claim_recent: bool) -> Result<(SelectSnapshot, ViewHold)>;
    fn view_messages(&self, view: ViewId, mailbox: MailboxId, uids: &[u32], with_size: bool) -> Result<Vec<MessageMeta>>;
    fn view_flags(&self, view: ViewId, mailbox: MailboxId, uids: &[u32], with_modseq: bool) -> Result<Vec<MessageMeta>>;
    fn has_unheld(&self) -> bool;
    fn collect_unheld(&self) -> Result<()>;
    fn collect_orphans(&self) -> Result<()>;
    fn append_claiming(&self, mailbox: MailboxId, msgs: &[NewMessage]) -> Result<(Vec<AppendedMessage>, std::ops::Range<u32>)>;
    fn claim_recent(&self, mailbox: MailboxId, uids: &[u32]) -> Result<Vec<u32>>;
    fn mailbox_by_id(&self, mailbox: MailboxId) -> Result<MailboxRow>;
    fn messages(&self, mailbox: MailboxId, uids: &[u32]) -> Result<Vec<MessageMeta>>;
    fn messages_with(&self, mailbox: MailboxId, uids: &[u32], with_size: bool) -> Result<Vec<MessageMeta>>;
    fn fetch_rows(&self, view: ViewId, mailbox: MailboxId, uids: &[u32], with_size: bool, with_parsed: bool, raw: (usize, usize)) -> Result<Vec<FetchRow>>;
    fn raw(&self, body_id: i64) -> Result<Vec<u8>>;
    fn raw_range(&self, body_id: i64, offset: usize, len: usize) -> Result<Vec<u8>>;
    fn parsed(&self, body_id: i64) -> Result<Vec<u8>>;
    fn replace(&self, from: MailboxId, old: u32, to: MailboxId, msg: &NewMessage) -> Result<(AppendedMessage, u64)>;
    fn store_flags(&self, mailbox: MailboxId, uids: &[u32], op: FlagOp, flags: &[String]) -> Result<(u64, Vec<FlagChange>)>;
    fn store_flags_unchanged_since(&self, mailbox: MailboxId, uids: &[u32], op: FlagOp, flags: &[String], unchanged_since: u64) -> Result<FlagStore>;
    fn expunge(&self, mailbox: MailboxId, uids: Option<&[u32]>) -> Result<(u64, Vec<u32>)>;
    fn purge_mail(&self, user: Option<UserId>) -> Result<u64>;
    fn copy(&self, from: MailboxId, uids: &[u32], to: MailboxId) -> Result<(u32, Vec<(u32, u32)>)>;
    fn move_messages(&self, from: MailboxId, uids: &[u32], to: MailboxId) -> Result<(u32, Vec<(u32, u32)>)>;
    fn changes_since(&self, mailbox: MailboxId, modseq: u64) -> Result<Changes>;
    fn highest_modseq(&self, mailbox: MailboxId) -> Result<u64>;
    fn search(&self, mailbox: MailboxId, cond: &Cond) -> Result<Vec<u32>>;
    fn keywords(&self, mailbox: MailboxId) -> Result<Vec<String>>;
    fn counts(&self, mailbox: MailboxId) -> Result<MailboxCounts>;
    fn set_metadata_hook(&self, hook: MetadataHook);
    fn metadata(&self, user: UserId, mailbox: Option<&str>, names: &[String], depth: MetadataDepth) -> Result<Vec<(String, Option<Vec<u8>>)>>;
    fn metadata_digests(&self, user: UserId) -> Result<Vec<(Option<MailboxId>, String, u64)>>;
    fn set_metadata(&self, user: UserId, mailbox: Option<&str>, changes: &[(String, Option<Vec<u8>>)]) -> Result<()>;
    fn set_commit_hook(&self, hook: CommitHook);
    fn set_timing_hook(&self, hook: TimingHook);
    fn stats(&self) -> StoreStats;
    fn quota(&self, user: UserId) -> Result<Quota>;
    fn set_quota(&self, name: &str, limits: QuotaLimits) -> Result<()>;
    fn quotas(&self) -> Result<Vec<(String, Quota)>>;
    fn search_index_on(&self) -> Result<bool>;
    fn build_search_index(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<u64>;
    fn drop_search_index(&self) -> Result<()>;
    fn search_index_queue(&self) -> Result<u64>;
    fn pause_search_indexer(&self, paused: bool);
    fn wait_search_indexer(&self) -> Result<()>;
    fn urlauth_key(&self, user: UserId, name: &str, create: bool) -> Result<Option<(MailboxRow, Option<Vec<u8>>)>>;
    fn reset_urlauth_keys(&self, user: UserId, name: Option<&str>) -> Result<Option<Vec<MailboxId>>>;
    fn create_user(&self, name: &str, password_hash: &str) -> Result<UserId>;
    fn find_user(&self, name: &str) -> Result<Option<UserRow>>;
    fn find_user_for_delivery(&self, name: &str) -> Result<Option<UserRow>>;
    fn list_users(&self) -> Result<Vec<(String, u64)>>;
    fn withheld_capabilities(&self, user: UserId) -> Result<Vec<String>>;
    fn set_capability_withheld(&self, name: &str, capability: &str, withheld: bool) -> Result<()>;
    fn all_withheld_capabilities(&self) -> Result<Vec<(String, String)>>;
    fn user_count(&self) -> Result<u64>;
    fn remove_user(&self, name: &str) -> Result<()>;
    fn set_password(&self, name: &str, password_hash: &str) -> Result<()>;
    fn mailbox_object_id(&self, mb: &MailboxRow) -> Result<String>;
    fn created_mailbox_id(&self, user: UserId, name: &str) -> Result<Option<String>>;
    fn object_fields(&self, mailbox: MailboxId, uids: &[u32]) -> Result<Vec<ObjectFields>>;
    fn expunge_in_view(&self, view: ViewId, mailbox: MailboxId, uids: Option<&[u32]>) -> Result<(u64, Vec<u32>)>;
    fn mailbox_status(&self, user: UserId, name: &str, object_id: bool) -> Result<Option<(MailboxRow, MailboxCounts, Option<String>)>>;
    fn export_users(&self) -> Result<Vec<UserExport>>;
    fn import_user(&self, user: &UserExport) -> Result<UserId>;
    fn export_mailboxes(&self, user: UserId) -> Result<Vec<MailboxExport>>;
    fn import_mailbox(&self, user: UserId, mb: &MailboxExport) -> Result<MailboxId>;
    fn export_messages(&self, mailbox: MailboxId, after_uid: u32, limit: usize, max_bytes: usize) -> Result<Vec<ExportedMessage>>;
    fn import_exact(&self, mailbox: MailboxId, msgs: &[ExactMessage]) -> Result<()>;
    fn max_uid(&self, mailbox: MailboxId) -> Result<u32>;
    fn export_expunged(&self, mailbox: MailboxId, after_uid: u32, limit: usize) -> Result<Vec<(u32, u64)>>;
    fn import_expunged(&self, mailbox: MailboxId, rows: &[(u32, u64)]) -> Result<()>;
    fn export_metadata(&self, user: UserId) -> Result<Vec<MetadataExport>>;
    fn import_metadata(&self, user: UserId, rows: &[MetadataExport]) -> Result<()>;
    fn object_id_key(&self) -> Result<String>;
    fn migration(&self) -> Result<Option<String>>;
    fn set_migration(&self, source_key: Option<&str>) -> Result<()>;
}
