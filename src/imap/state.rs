//! The RFC 3501 §3 state machine: each state carries the data that exists in it, so a command
//! can only reach a selected mailbox when one is selected.

use std::collections::BTreeSet;

use super::view::MailboxView;
use crate::store::{MailboxId, UserId, ViewHold};

#[derive(Clone, Debug)]
pub struct User {
    pub id: UserId,
    pub name: String,
}

#[derive(Debug)]
pub struct Selected {
    pub mailbox: MailboxId,
    pub name: String,
    pub uidvalidity: u32,
    pub read_only: bool,
    pub view: MailboxView,
    /// The highest modseq this session has taken into account.
    pub modseq: u64,
    /// Modseqs of this session's own flag changes, already reported to its client.
    pub own_modseqs: BTreeSet<u64>,
    /// UIDs another session expunged that this client has not been told about yet (they keep
    /// their sequence numbers until then).
    pub pending_expunges: BTreeSet<u32>,
    /// UIDs that are \Recent in this session.
    pub recent: BTreeSet<u32>,
    /// UIDs this session claimed \Recent for (an APPEND to this mailbox claims in its own
    /// transaction) that are not in its view yet: they become recent when they arrive.
    pub claimed: Vec<std::ops::Range<u32>>,
    /// The latest modseq committed to this mailbox in this process (see `sync`).
    pub watch: crate::notify::Watch,
    /// `watch.external_changes()` when the store was last asked for changes.
    pub external_seen: u64,
    /// `watch.key_resets()` when the client was last told of the mailbox's URLAUTH mechanisms
    /// (`[URLMECH]`, RFC 4467 §6.1).
    pub key_resets_seen: u64,
    /// Keywords announced in the last FLAGS response.
    pub keywords: BTreeSet<String>,
    /// Keeps messages that others expunge readable until this session has been told
    /// (RFC 2180 §4.1.1); dropped with the selection, which releases them all.
    pub hold: ViewHold,
    /// UIDs saved by `SEARCH RETURN (SAVE)`, what `$` refers to (RFC 5182); empty until a
    /// search saves, and gone with the selection.
    pub saved_search: Vec<u32>,
    /// Searches kept up to date with ADDTO / REMOVEFROM (RFC 5267 §4.3), in the order they
    /// were made; they end with the selection.
    pub live: Vec<crate::imap::cmd::context::LiveSearch>,
    /// Changes a command's own store job read for the next `sync` (an APPEND to this mailbox
    /// reads them right after its commit), so that sync needs no trip of its own.
    pub prefetched: Option<Box<Prefetched>>,
}

/// What `Selected::prefetched` holds: the changes since `known`, read when the watch had
/// counted `external` commits by other processes.
#[derive(Debug)]
pub struct Prefetched {
    pub known: u64,
    pub external: u64,
    pub changes: crate::store::Changes,
}

/// The state a command needs (RFC 3501 §6: commands valid in any state, only before login,
/// after login, or with a mailbox selected).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Needs {
    Any,
    NotAuthenticated,
    Authenticated,
    Selected,
}

#[derive(Debug, Default)]
pub enum State {
    #[default]
    NotAuthenticated,
    Authenticated(User),
    Selected(User, Box<Selected>),
    Logout,
}

impl State {
    pub fn user(&self) -> Option<&User> {
        match self {
            State::Authenticated(u) | State::Selected(u, _) => Some(u),
            _ => None,
        }
    }

    pub fn selected(&self) -> Option<&Selected> {
        match self {
            State::Selected(_, s) => Some(s),
            _ => None,
        }
    }

    pub fn selected_mut(&mut self) -> Option<&mut Selected> {
        match self {
            State::Selected(_, s) => Some(s),
            _ => None,
        }
    }

    /// Leave the selected state (CLOSE, UNSELECT, a failed SELECT).
    pub fn deselect(&mut self) {
        if let State::Selected(u, _) = self {
            *self = State::Authenticated(u.clone());
        }
    }

    pub fn name(&self) -> &'static str {
        match self {
            State::NotAuthenticated => "not authenticated",
            State::Authenticated(_) => "authenticated",
            State::Selected(..) => "selected",
            State::Logout => "logout",
        }
    }
}
