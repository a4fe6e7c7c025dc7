//! The PostgreSQL store: a generated stub with the shape of the real backend (branch pgstore)
//! so the `Store` facade compiles; every method answers `Unsupported`, `open` `Unavailable`.
//! Replaced by the real file at merge.
#![allow(unused_variables)]

use super::{
    AppendedMessage, Changes, CommitHook, Cond, FetchRow, FlagChange, FlagOp, FlagStore,
    MailboxCounts, MailboxId, MailboxRow, MessageMeta, MetadataDepth, MetadataHook, NewMessage,
    Quota, QuotaLimits, Result, Scan, SelectSnapshot, StoreError, StoreStats, TimingHook, UserId,
    UserRow, ViewHold, ViewId,
};

/// A store on a PostgreSQL database (not built yet: see the module comment).
pub struct PgStore {
    _private: (),
}

impl PgStore {
    /// Connect to the database `conninfo` names (libpq key=value or URL form) and migrate it.
    pub fn open(conninfo: &str) -> Result<PgStore> {
        Err(StoreError::Unavailable(
            "PostgreSQL support is not built yet".into(),
        ))
    }

    pub fn mailbox(&self, user: UserId, name: &str) -> Result<Option<MailboxRow>> {
        Err(StoreError::Unsupported("mailbox"))
    }

    pub fn mailboxes(&self, user: UserId) -> Result<Vec<MailboxRow>> {
        Err(StoreError::Unsupported("mailboxes"))
    }

    pub fn create_mailbox(&self, user: UserId, name: &str) -> Result<MailboxRow> {
        Err(StoreError::Unsupported("create_mailbox"))
    }

    pub fn create_mailbox_with_use(
        &self,
        user: UserId,
        name: &str,
        uses: &[&str],
    ) -> Result<MailboxRow> {
        Err(StoreError::Unsupported("create_mailbox_with_use"))
    }

    pub fn delete_mailbox(&self, user: UserId, name: &str) -> Result<()> {
        Err(StoreError::Unsupported("delete_mailbox"))
    }

    pub fn rename_mailbox(&self, user: UserId, from: &str, to: &str) -> Result<()> {
        Err(StoreError::Unsupported("rename_mailbox"))
    }

    pub fn subscribe(&self, user: UserId, name: &str) -> Result<()> {
        Err(StoreError::Unsupported("subscribe"))
    }

    pub fn unsubscribe(&self, user: UserId, name: &str) -> Result<()> {
        Err(StoreError::Unsupported("unsubscribe"))
    }

    pub fn subscriptions(&self, user: UserId) -> Result<Vec<String>> {
        Err(StoreError::Unsupported("subscriptions"))
    }

    pub fn append(&self, mailbox: MailboxId, msgs: &[NewMessage]) -> Result<Vec<AppendedMessage>> {
        Err(StoreError::Unsupported("append"))
    }

    pub fn append_new(&self, mailbox: MailboxId, msgs: &[NewMessage]) -> Result<Vec<bool>> {
        Err(StoreError::Unsupported("append_new"))
    }

    pub fn select(&self, mailbox: MailboxId, claim_recent: bool) -> Result<SelectSnapshot> {
        Err(StoreError::Unsupported("select"))
    }

    pub fn select_view(
        &self,
        mailbox: MailboxId,
        claim_recent: bool,
    ) -> Result<(SelectSnapshot, ViewHold)> {
        Err(StoreError::Unsupported("select_view"))
    }

    pub fn view_messages(
        &self,
        view: ViewId,
        mailbox: MailboxId,
        uids: &[u32],
        with_size: bool,
    ) -> Result<Vec<MessageMeta>> {
        Err(StoreError::Unsupported("view_messages"))
    }

    pub fn has_unheld(&self) -> bool {
        false
    }

    pub fn collect_unheld(&self) -> Result<()> {
        Err(StoreError::Unsupported("collect_unheld"))
    }

    pub fn collect_orphans(&self) -> Result<()> {
        Err(StoreError::Unsupported("collect_orphans"))
    }

    pub fn append_claiming(
        &self,
        mailbox: MailboxId,
        msgs: &[NewMessage],
    ) -> Result<(Vec<AppendedMessage>, std::ops::Range<u32>)> {
        Err(StoreError::Unsupported("append_claiming"))
    }

    pub fn claim_recent(&self, mailbox: MailboxId, uids: &[u32]) -> Result<Vec<u32>> {
        Err(StoreError::Unsupported("claim_recent"))
    }

    pub fn mailbox_by_id(&self, mailbox: MailboxId) -> Result<MailboxRow> {
        Err(StoreError::Unsupported("mailbox_by_id"))
    }

    pub fn messages(&self, mailbox: MailboxId, uids: &[u32]) -> Result<Vec<MessageMeta>> {
        Err(StoreError::Unsupported("messages"))
    }

    pub fn messages_with(
        &self,
        mailbox: MailboxId,
        uids: &[u32],
        with_size: bool,
    ) -> Result<Vec<MessageMeta>> {
        Err(StoreError::Unsupported("messages_with"))
    }

    pub fn fetch_rows(
        &self,
        view: ViewId,
        mailbox: MailboxId,
        uids: &[u32],
        with_size: bool,
        with_parsed: bool,
        raw: (usize, usize),
    ) -> Result<Vec<FetchRow>> {
        Err(StoreError::Unsupported("fetch_rows"))
    }

    pub fn raw(&self, body_id: i64) -> Result<Vec<u8>> {
        Err(StoreError::Unsupported("raw"))
    }

    pub fn raw_range(&self, body_id: i64, offset: usize, len: usize) -> Result<Vec<u8>> {
        Err(StoreError::Unsupported("raw_range"))
    }

    pub fn parsed(&self, body_id: i64) -> Result<Vec<u8>> {
        Err(StoreError::Unsupported("parsed"))
    }

    pub fn replace(
        &self,
        from: MailboxId,
        old: u32,
        to: MailboxId,
        msg: &NewMessage,
    ) -> Result<(AppendedMessage, u64)> {
        Err(StoreError::Unsupported("replace"))
    }

    pub fn store_flags(
        &self,
        mailbox: MailboxId,
        uids: &[u32],
        op: FlagOp,
        flags: &[String],
    ) -> Result<(u64, Vec<FlagChange>)> {
        Err(StoreError::Unsupported("store_flags"))
    }

    pub fn store_flags_unchanged_since(
        &self,
        mailbox: MailboxId,
        uids: &[u32],
        op: FlagOp,
        flags: &[String],
        unchanged_since: u64,
    ) -> Result<FlagStore> {
        Err(StoreError::Unsupported("store_flags_unchanged_since"))
    }

    pub fn expunge(&self, mailbox: MailboxId, uids: Option<&[u32]>) -> Result<(u64, Vec<u32>)> {
        Err(StoreError::Unsupported("expunge"))
    }

    pub fn purge_mail(&self, user: Option<UserId>) -> Result<u64> {
        Err(StoreError::Unsupported("purge_mail"))
    }

    pub fn copy(
        &self,
        from: MailboxId,
        uids: &[u32],
        to: MailboxId,
    ) -> Result<(u32, Vec<(u32, u32)>)> {
        Err(StoreError::Unsupported("copy"))
    }

    pub fn move_messages(
        &self,
        from: MailboxId,
        uids: &[u32],
        to: MailboxId,
    ) -> Result<(u32, Vec<(u32, u32)>)> {
        Err(StoreError::Unsupported("move_messages"))
    }

    pub fn changes_since(&self, mailbox: MailboxId, modseq: u64) -> Result<Changes> {
        Err(StoreError::Unsupported("changes_since"))
    }

    pub fn highest_modseq(&self, mailbox: MailboxId) -> Result<u64> {
        Err(StoreError::Unsupported("highest_modseq"))
    }

    pub fn search(&self, mailbox: MailboxId, cond: &Cond) -> Result<Vec<u32>> {
        Err(StoreError::Unsupported("search"))
    }

    pub fn keywords(&self, mailbox: MailboxId) -> Result<Vec<String>> {
        Err(StoreError::Unsupported("keywords"))
    }

    pub fn counts(&self, mailbox: MailboxId) -> Result<MailboxCounts> {
        Err(StoreError::Unsupported("counts"))
    }

    pub fn set_metadata_hook(&self, hook: MetadataHook) {}

    pub fn metadata(
        &self,
        user: UserId,
        mailbox: Option<&str>,
        names: &[String],
        depth: MetadataDepth,
    ) -> Result<Vec<(String, Option<Vec<u8>>)>> {
        Err(StoreError::Unsupported("metadata"))
    }

    pub fn metadata_digests(&self, user: UserId) -> Result<Vec<(Option<MailboxId>, String, u64)>> {
        Err(StoreError::Unsupported("metadata_digests"))
    }

    pub fn set_metadata(
        &self,
        user: UserId,
        mailbox: Option<&str>,
        changes: &[(String, Option<Vec<u8>>)],
    ) -> Result<()> {
        Err(StoreError::Unsupported("set_metadata"))
    }

    pub fn set_commit_hook(&self, hook: CommitHook) {}

    pub fn set_timing_hook(&self, hook: TimingHook) {}

    pub fn stats(&self) -> StoreStats {
        StoreStats::default()
    }

    pub fn quota(&self, user: UserId) -> Result<Quota> {
        Err(StoreError::Unsupported("quota"))
    }

    pub fn set_quota(&self, name: &str, limits: QuotaLimits) -> Result<()> {
        Err(StoreError::Unsupported("set_quota"))
    }

    pub fn quotas(&self) -> Result<Vec<(String, Quota)>> {
        Err(StoreError::Unsupported("quotas"))
    }

    pub fn scan<T>(&self, f: impl FnOnce(&Scan<'_>) -> Result<T>) -> Result<T> {
        Err(StoreError::Unsupported("scan"))
    }

    pub fn search_index_on(&self) -> Result<bool> {
        Err(StoreError::Unsupported("search_index_on"))
    }

    pub fn build_search_index(&self, progress: &mut dyn FnMut(u64, u64)) -> Result<u64> {
        Err(StoreError::Unsupported("build_search_index"))
    }

    pub fn drop_search_index(&self) -> Result<()> {
        Err(StoreError::Unsupported("drop_search_index"))
    }

    pub fn urlauth_key(
        &self,
        user: UserId,
        name: &str,
        create: bool,
    ) -> Result<Option<(MailboxRow, Option<Vec<u8>>)>> {
        Err(StoreError::Unsupported("urlauth_key"))
    }

    pub fn reset_urlauth_keys(
        &self,
        user: UserId,
        name: Option<&str>,
    ) -> Result<Option<Vec<MailboxId>>> {
        Err(StoreError::Unsupported("reset_urlauth_keys"))
    }

    pub fn create_user(&self, name: &str, password_hash: &str) -> Result<UserId> {
        Err(StoreError::Unsupported("create_user"))
    }

    pub fn find_user(&self, name: &str) -> Result<Option<UserRow>> {
        Err(StoreError::Unsupported("find_user"))
    }

    pub fn find_user_for_delivery(&self, name: &str) -> Result<Option<UserRow>> {
        Err(StoreError::Unsupported("find_user_for_delivery"))
    }

    pub fn list_users(&self) -> Result<Vec<(String, u64)>> {
        Err(StoreError::Unsupported("list_users"))
    }

    pub fn withheld_capabilities(&self, user: UserId) -> Result<Vec<String>> {
        Err(StoreError::Unsupported("withheld_capabilities"))
    }

    pub fn set_capability_withheld(
        &self,
        name: &str,
        capability: &str,
        withheld: bool,
    ) -> Result<()> {
        Err(StoreError::Unsupported("set_capability_withheld"))
    }

    pub fn all_withheld_capabilities(&self) -> Result<Vec<(String, String)>> {
        Err(StoreError::Unsupported("all_withheld_capabilities"))
    }

    pub fn user_count(&self) -> Result<u64> {
        Err(StoreError::Unsupported("user_count"))
    }

    pub fn remove_user(&self, name: &str) -> Result<()> {
        Err(StoreError::Unsupported("remove_user"))
    }

    pub fn set_password(&self, name: &str, password_hash: &str) -> Result<()> {
        Err(StoreError::Unsupported("set_password"))
    }
}
