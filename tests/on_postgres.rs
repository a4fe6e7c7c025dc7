//! The integration suite on PostgreSQL: every test file that runs on both backends, as a
//! module of this one binary, so the one `cargo test` runs each of them twice: in its own
//! binary on SQLite, and here. Their `tests/common` (one copy per module here) sees that it
//! is inside `on_postgres::` and opens every `TestServer`'s store, and every database a test
//! names through `TempDir::database`, on a fresh PostgreSQL database (tests/common/pg.rs says
//! where from: one throwaway cluster for the process, or `LITEIMAP_TEST_PG`). One test file
//! on PostgreSQL: `cargo test --test on_postgres FILE::`.
//!
//! Single tests about SQLite itself start with `if sqlite_only("why") { return; }`
//! (`grep -rn 'sqlite_only(' tests/`). Not here at all, and why:
//! - admin.rs: `backup` and `check` of the SQLite file, and `who`/`kick` through the admin
//!   socket's default place beside the file (a PostgreSQL database has none: `--admin-socket`
//!   must be given there, which these tests do not exercise on it).
//! - disk_full.rs: a full disk simulated inside the SQLite store (PostgreSQL's 53100 maps to
//!   the same `StoreError::Full`, which these tests then see the same way).
//! - search_index.rs: the FTS5 search index, which only SQLite has.
//! - mime_fixtures.rs, package.rs: no store in them (the MIME layer; the Debian package).
//! - backends.rs, pg_store.rs, migrate.rs, nodes.rs: PostgreSQL's own tests (both backends
//!   side by side, several nodes on one database, `migrate` between them), run in their own
//!   binaries.

// Each test file declares `mod common;`: one copy of tests/common per module is the point (each
// sees from its module path that it runs here).
#![allow(clippy::duplicate_mod)]

#[path = "catenate.rs"]
mod catenate;
#[path = "cli.rs"]
mod cli;
#[path = "clients.rs"]
mod clients;
#[path = "compress.rs"]
mod compress;
#[path = "condstore.rs"]
mod condstore;
#[path = "config.rs"]
mod config;
#[path = "context.rs"]
mod context;
#[path = "deliver.rs"]
mod deliver;
#[path = "dev.rs"]
mod dev;
#[path = "expunged_elsewhere.rs"]
mod expunged_elsewhere;
#[path = "extensions_mailbox.rs"]
mod extensions_mailbox;
#[path = "extensions_message.rs"]
mod extensions_message;
#[path = "fetch.rs"]
mod fetch;
#[path = "foundation.rs"]
mod foundation;
#[path = "imap4rev2.rs"]
mod imap4rev2;
#[path = "import.rs"]
mod import;
#[path = "limits.rs"]
mod limits;
#[path = "lmtp.rs"]
mod lmtp;
#[path = "mailboxes.rs"]
mod mailboxes;
#[path = "mbsync.rs"]
mod mbsync;
#[path = "memory.rs"]
mod memory;
#[path = "metadata.rs"]
mod metadata;
#[path = "metrics.rs"]
mod metrics;
#[path = "notify.rs"]
mod notify;
#[path = "objectid.rs"]
mod objectid;
#[path = "qresync.rs"]
mod qresync;
#[path = "quota.rs"]
mod quota;
#[path = "replace.rs"]
mod replace;
#[path = "search.rs"]
mod search;
#[path = "security.rs"]
mod security;
#[path = "sessions.rs"]
mod sessions;
#[path = "sort_thread.rs"]
mod sort_thread;
#[path = "store_copy.rs"]
mod store_copy;
#[path = "store_work.rs"]
mod store_work;
#[path = "sync_clients.rs"]
mod sync_clients;
#[path = "tls.rs"]
mod tls;
#[path = "trace.rs"]
mod trace;
#[path = "uidonly.rs"]
mod uidonly;
#[path = "urlauth.rs"]
mod urlauth;
#[path = "web.rs"]
mod web;
