//! METADATA and METADATA-SERVER (RFC 5464): GETMETADATA and SETMETADATA on the server (mailbox
//! `""`) and on mailboxes. Entry names match case-insensitively (kept in lower case, as Dovecot
//! does); `/private` and `/shared` are both the user's own (no shared folders exist). The
//! limits are the store's: `store::MAX_VALUE` octets per value (`[METADATA MAXSIZE n]`),
//! `store::MAX_ENTRIES` entries per user (`[METADATA TOOMANY]`).

use imap_codec::imap_types::core::{AString, IString, NString, NString8, Vec1};
use imap_codec::imap_types::extensions::binary::Literal8;
use imap_codec::imap_types::extensions::metadata::{
    Depth, Entry, EntryValue, GetMetadataOption, MetadataCode, MetadataResponse,
};
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::response::{Capability, Code, Data};

use super::super::session::{Done, Session};
use super::super::{mailbox_name, wire_mailbox};
use super::super::{CmdError, CmdResult};
use crate::store::{entry_name, MetadataDepth, MAX_VALUE};

/// METADATA-SERVER and METADATA (RFC 5464 §1).
pub fn capabilities() -> [Capability<'static>; 2] {
    [Capability::MetadataServer, Capability::Metadata]
}

/// The store's name for the mailbox a METADATA command names: None for the server (`""`).
fn target(mailbox: &Mailbox, utf8: bool) -> CmdResult<Option<String>> {
    match mailbox {
        Mailbox::Other(o) if AsRef::<[u8]>::as_ref(o).is_empty() => Ok(None),
        m => mailbox_name(m, utf8).map(Some),
    }
}

fn name_of(entry: &Entry) -> CmdResult<String> {
    entry_name(entry.as_ref()).map_err(CmdError::bad)
}

/// A stored value as the wire's NString8: a literal8 when it holds NUL (RFC 5464 allows
/// binary values), otherwise a string.
fn wire_value(value: Option<Vec<u8>>) -> NString8<'static> {
    match value {
        None => NString8::NString(NString(None)),
        Some(v) if v.contains(&0) => NString8::Literal8(Literal8 {
            data: v.into(),
            mode: imap_codec::imap_types::core::LiteralMode::Sync,
        }),
        Some(v) => match IString::try_from(v) {
            Ok(s) => NString8::NString(NString(Some(s))),
            Err(_) => NString8::NString(NString(None)),
        },
    }
}

pub(crate) fn wire_entry(name: String) -> Option<Entry<'static>> {
    AString::try_from(name)
        .ok()
        .and_then(|a| Entry::try_from(a).ok())
}

impl Session {
    /// GETMETADATA [(MAXSIZE n) (DEPTH d)] mailbox entries (RFC 5464 §4.2): one `* METADATA`
    /// with every entry found (NIL for an asked-for entry that does not exist, at depth 0);
    /// values over MAXSIZE are left out and the largest of them is named in
    /// `OK [METADATA LONGENTRIES n]`.
    pub(crate) async fn cmd_getmetadata(
        &mut self,
        options: Vec<GetMetadataOption>,
        mailbox: Mailbox<'static>,
        entries: Vec1<Entry<'static>>,
    ) -> CmdResult<Done> {
        let mut max_size = None;
        let mut depth = MetadataDepth::Zero;
        for o in options {
            match o {
                GetMetadataOption::MaxSize(n) => max_size = Some(n as usize),
                GetMetadataOption::Depth(Depth::Null) => depth = MetadataDepth::Zero,
                GetMetadataOption::Depth(Depth::One) => depth = MetadataDepth::One,
                GetMetadataOption::Depth(Depth::Infinity) => depth = MetadataDepth::Infinity,
            }
        }
        let target = target(&mailbox, self.utf8_names())?;
        let names = entries
            .as_ref()
            .iter()
            .map(name_of)
            .collect::<CmdResult<Vec<_>>>()?;
        let user = self.user_id()?;
        let lookup = target.clone();
        let found = self
            .db(move |s| s.metadata(user, lookup.as_deref(), &names, depth))
            .await?;
        let mut longest = None;
        let mut items = Vec::with_capacity(found.len());
        for (name, value) in found {
            let len = value.as_ref().map_or(0, Vec::len);
            if max_size.is_some_and(|max| len > max) {
                longest = longest.max(Some(len));
                continue;
            }
            if let Some(entry) = wire_entry(name) {
                items.push(EntryValue {
                    entry,
                    value: wire_value(value),
                });
            }
        }
        if let Ok(items) = Vec1::try_from(items) {
            let mailbox = match &target {
                Some(name) => wire_mailbox(name, self.utf8_names()),
                None => mailbox,
            };
            self.data(Data::Metadata {
                mailbox,
                items: MetadataResponse::WithValues(items),
            })
            .await?;
        }
        Ok(match longest {
            Some(n) => Done::with_code(
                Code::Metadata(MetadataCode::LongEntries(clamp(n))),
                "GETMETADATA completed",
            ),
            None => Done::ok("GETMETADATA completed"),
        })
    }

    /// SETMETADATA mailbox (entry value …) (RFC 5464 §4.3): all or nothing; NIL removes.
    pub(crate) async fn cmd_setmetadata(
        &mut self,
        mailbox: Mailbox<'static>,
        entry_values: Vec1<EntryValue<'static>>,
    ) -> CmdResult<Done> {
        let target = target(&mailbox, self.utf8_names())?;
        let mut changes = Vec::with_capacity(entry_values.as_ref().len());
        for ev in entry_values.into_inner() {
            let name = name_of(&ev.entry)?;
            let value: Option<Vec<u8>> = match ev.value {
                NString8::NString(NString(None)) => None,
                NString8::NString(NString(Some(s))) => Some(AsRef::<[u8]>::as_ref(&s).to_vec()),
                NString8::Literal8(l) => Some(l.data.into_owned()),
            };
            if value.as_ref().is_some_and(|v| v.len() > MAX_VALUE) {
                return Err(CmdError::no_code(
                    Code::Metadata(MetadataCode::MaxSize(clamp(MAX_VALUE))),
                    format!("A metadata value holds at most {MAX_VALUE} octets; nothing was set"),
                ));
            }
            changes.push((name, value));
        }
        let user = self.user_id()?;
        self.db(move |s| s.set_metadata(user, target.as_deref(), &changes))
            .await?;
        // NOTIFY sessions of this user compare their entries (MailboxMetadataChange).
        self.ctx.notifier.publish_user(user);
        Ok(Done::ok("SETMETADATA completed"))
    }
}

fn clamp(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}
