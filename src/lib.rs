//! liteimap: a single-binary IMAP4rev1 server that keeps users, mailboxes, messages and flags
//! in one SQLite file.
pub mod imap;
pub mod mime;
