//! liteimap: a single-binary IMAP4rev1 server that keeps users, mailboxes, messages and flags
//! in one SQLite file.
//!
//! # Layout
//! - `cli`: the argh command-line structs (main.rs acts on them).
//! - `dbpool`: a fixed pool of threads that run store calls for the async side.
//! - `server`: listeners, the connection limit, graceful shutdown, one task per connection.
//! - `notify`: the change hub; commits wake the sessions idling on the changed mailbox, and
//!   NOTIFY sessions on any of their user's folders (and on changes to the folder list).
//! - `admin`: the table of open sessions and the admin socket `liteimap who` and `kick` ask
//!   (one request line, a status line and the output; the peer's uid checked).
//! - `prelogin`: the connections that have not logged in: their share of the connection
//!   limit, who makes room when it is full, and the summed-up log of refusals.
//! - `stdio`: IMAP over stdin/stdout with a PREAUTH greeting.
//! - `imap`: the protocol. `conn` frames bytes into commands (imap-codec's Fragmentizer) and
//!   enforces limits; `session` runs the per-connection loop and the state check; `state` is the
//!   RFC 3501 state machine; `view` is a session's UID ↔ sequence-number mapping; `sync` is the
//!   one place that turns store changes into untagged responses; `thread` the THREAD
//!   algorithms (pure); `sortcache` the in-memory copy of sorted folders' SORT/THREAD keys;
//!   `deflate` the COMPRESS=DEFLATE stream; `cmd/*` one file per command family (`quota`,
//!   `metadata`, `compress` for those extensions; `context` the searches kept up to date by
//!   RETURN (UPDATE), fed by `sync`; `uidonly` for what RFC 9586 refuses and how it numbers
//!   FETCH responses).
//! - `import`: .eml files, directories, Maildir, Maildir++ and mbox → a user's folders, in
//!   batches, with progress (`mbox` splits mbox files, `maildir` reads Maildir layouts).
//! - `lmtp`: the LMTP listener (RFC 2033) an MTA delivers through, and the SMTP listener
//!   (RFC 5321) for tests, one state machine in two modes; recipient → mailbox mapping.
//! - `migrate`: `liteimap migrate`, one store's contents copied exactly into another
//!   (SQLite ↔ PostgreSQL), resumable and checked, through the store's export/import calls.
//! - `deliver`: one message from stdin into a mailbox, with sysexits exit codes.
//! - `message`: raw bytes → a message the store keeps (MIME parsed once, internal date).
//! - `mime`: bytes in, structures out (envelope, body structure, sections, search text).
//! - `store`: synchronous SQLite (schema.sql, migrations, writer + reader pool); domain types
//!   only, never an IMAP type or a socket.
//! - `trace`: protocol traces (`serve --trace DIR`, the developer page): each session's lines
//!   as the client sent them and the server answered, passwords masked, bounded in memory.
//! - `autousers`: checking a login, and the throwaway users of `--auto-users` (`liteimap dev`).
//! - `password`: argon2id hashing on a fixed pool of workers.
//! - `throttle`: failed logins counted per address and per target name; an address's
//!   attempts take turns.
//! - `tls`: certificates, the TLS acceptor, reload on SIGHUP.
//! - `web`: the developer page (users → folders → messages, live updates, protocol traces)
//!   and its JSON API, on tiny_http's threads; store calls only through the store's API.
//! - `fuzzing` (cargo feature `fuzzing`, which only `fuzz/` turns on): entry points for the
//!   `cargo fuzz` targets (a session over an in-memory stream on a scratch database); not in
//!   the server binary.
/// The admin socket behind `liteimap who` and `liteimap kick`, and the table of open sessions.
pub mod admin;
pub mod autousers;
pub mod cli;
/// `liteimap.toml`: `db` and the serve flags as keys, turned into arguments.
pub mod config;
/// `--db`: a SQLite file or a PostgreSQL URL (libpq's defaults, password sources, redaction).
pub mod database;
pub mod dbpool;
pub mod deliver;
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
pub mod imap;
pub mod import;
pub mod lmtp;
/// `liteimap man`: the roff manual page, rendered from `cli`'s argh definitions.
pub mod manpage;
pub mod message;
/// `--metrics-listen`: OpenMetrics text at /metrics (prometheus-client, tiny_http).
pub mod metrics;
/// `liteimap migrate`: every user, folder and message from one store into another, exactly.
pub mod migrate;
pub mod mime;
pub mod notify;
pub mod password;
pub mod prelogin;
/// systemd's `Type=notify` readiness datagram (READY=1, STOPPING=1).
pub mod sdnotify;
pub mod server;
pub mod stdio;
pub mod store;
pub mod throttle;
pub mod tls;
/// Protocol traces per session (what the client sent, what the server answered).
pub mod trace;
/// `--web-listen`: the developer page and its JSON API under /api/v1 (tiny_http, serde_json).
pub mod web;
