//! UIDONLY (RFC 9586): after `ENABLE UIDONLY` a session names and is told of messages by UID
//! only. This module decides which commands are refused (`BAD [UIDREQUIRED]`, §3.2) and how
//! FETCH responses are numbered; `sync` announces expunges as VANISHED, SELECT leaves out
//! `[UNSEEN n]`, and `ext::uidonly` writes the UIDFETCH form (§3.3).

use imap_codec::imap_types::command::{CommandBody, SelectParameter};
use imap_codec::imap_types::core::Vec1;
use imap_codec::imap_types::fetch::MessageDataItem;
use imap_codec::imap_types::response::{Data, Response};
use imap_codec::imap_types::search::SearchKey;

use crate::imap::cmd::mailbox::nz;
use crate::imap::ext::uidonly::{code_uidrequired, uidfetch};
use crate::imap::ext::ExtCommand;
use crate::imap::session::Session;
use crate::imap::{CmdError, CmdResult};

/// The capability name, as ENABLE and CAPABILITY spell it.
pub const CAPABILITY: &str = "UIDONLY";

/// `BAD [UIDREQUIRED]` for a command that used message sequence numbers in `what`.
pub fn uid_required(what: &str) -> CmdError {
    CmdError::BadCode(
        code_uidrequired(),
        format!("{what}: message sequence numbers are not allowed after ENABLE UIDONLY; use UIDs"),
    )
}

/// Whether a search key names messages by sequence number (a sequence set as a key, RFC 9586
/// §3.2), at any depth.
pub fn uses_sequence_set(key: &SearchKey) -> bool {
    match key {
        SearchKey::SequenceSet(_) => true,
        SearchKey::And(keys) => keys.as_ref().iter().any(uses_sequence_set),
        SearchKey::Not(k) => uses_sequence_set(k),
        SearchKey::Or(a, b) => uses_sequence_set(a) || uses_sequence_set(b),
        _ => false,
    }
}

/// Why a command of imap-codec's is refused in a UIDONLY session: FETCH, STORE, COPY, MOVE,
/// SEARCH, SORT and THREAD without UID, and SELECT / EXAMINE with QRESYNC's message sequence
/// match data (RFC 9586 §3.2, §4.1). Sequence sets inside search criteria are refused where
/// every search starts (`search_found`).
pub fn refusal(body: &CommandBody) -> Option<CmdError> {
    use CommandBody as C;
    let name = match body {
        C::Fetch { uid: false, .. } => "FETCH",
        C::Store { uid: false, .. } => "STORE",
        C::Copy { uid: false, .. } => "COPY",
        C::Move { uid: false, .. } => "MOVE",
        C::Search { uid: false, .. } => "SEARCH",
        C::Sort { uid: false, .. } => "SORT",
        C::Thread { uid: false, .. } => "THREAD",
        C::Select { parameters, .. } | C::Examine { parameters, .. }
            if parameters.iter().any(|p| {
                matches!(
                    p,
                    SelectParameter::QResync {
                        seq_match_data: Some(_),
                        ..
                    }
                )
            }) =>
        {
            "QRESYNC's sequence match data"
        }
        _ => return None,
    };
    Some(uid_required(name))
}

/// [`refusal`] for the commands of the extension layer: their non-UID forms (SEARCH and SORT
/// with RETURN or `$`, FETCH / STORE / COPY / MOVE of `$`, REPLACE).
pub fn ext_refusal(command: &ExtCommand) -> Option<CmdError> {
    match command {
        ExtCommand::Rewritten(body) => refusal(body),
        ExtCommand::Search(s) if !s.uid => Some(uid_required("SEARCH")),
        ExtCommand::Sort(s) if !s.uid => Some(uid_required("SORT")),
        ExtCommand::Saved(s) if !s.uid => Some(uid_required(s.display_name())),
        ExtCommand::Replace(r) if !r.uid => Some(uid_required("REPLACE")),
        _ => None,
    }
}

impl Session {
    /// The number a FETCH response of this session starts with: the sequence number, or the
    /// UID once UIDONLY is on (the response is then sent as UIDFETCH).
    pub(crate) fn fetch_number(&self, seq: u32, uid: u32) -> u32 {
        if self.uidonly {
            uid
        } else {
            seq
        }
    }

    /// An encoded FETCH response (numbered by [`Session::fetch_number`]) as this session
    /// sends it: as it is, or as UIDFETCH once UIDONLY is on. Only its first line changes.
    pub(crate) fn fetch_bytes(&self, encoded: Vec<u8>) -> Vec<u8> {
        if self.uidonly {
            uidfetch(encoded)
        } else {
            encoded
        }
    }

    /// Send an untagged FETCH (or UIDFETCH) response of `items` for the message `uid` at
    /// `seq`. With UIDONLY a UID item is left out: the UID leads the response (RFC 9586 §3.3
    /// includes it only when the client asked for it, which FETCH does itself).
    pub(crate) async fn send_fetch(
        &mut self,
        seq: u32,
        uid: u32,
        items: Vec<MessageDataItem<'static>>,
    ) -> CmdResult {
        if !self.uidonly {
            let Ok(items) = Vec1::try_from(items) else {
                return Ok(());
            };
            return self
                .data(Data::Fetch {
                    seq: nz(seq),
                    items,
                })
                .await;
        }
        let items: Vec<_> = items
            .into_iter()
            .filter(|i| !matches!(i, MessageDataItem::Uid(_)))
            .collect();
        let Ok(items) = Vec1::try_from(items) else {
            return Ok(());
        };
        let response = Response::Data(Data::Fetch {
            seq: nz(uid),
            items,
        });
        let bytes = uidfetch(
            imap_codec::encode::Encoder::encode(&imap_codec::ResponseCodec::default(), &response)
                .dump(),
        );
        self.conn
            .send_raw(&bytes)
            .await
            .map_err(|e| CmdError::Bye(format!("write failed: {e}")))
    }
}

impl Session {
    /// Read at login whether UIDONLY is withheld from the user. A store that cannot answer
    /// withholds it: the switch exists for clients that break with it.
    pub(crate) async fn refresh_withheld(&mut self) {
        let Ok(user) = self.user_id() else {
            return;
        };
        let withheld = self.db(move |s| s.withheld_capabilities(user)).await;
        self.uidonly_withheld = self.withheld_uidonly(withheld);
    }

    /// Whether UIDONLY is withheld, from the user's withheld capabilities as read (withheld
    /// when they cannot be read).
    pub(crate) fn withheld_uidonly<E: std::fmt::Display>(
        &self,
        withheld: Result<Vec<String>, E>,
    ) -> bool {
        match withheld {
            Ok(w) => w.iter().any(|c| c.eq_ignore_ascii_case(CAPABILITY)),
            Err(e) => {
                log::warn!("session {}: reading withheld capabilities: {e}", self.id);
                true
            }
        }
    }
}
