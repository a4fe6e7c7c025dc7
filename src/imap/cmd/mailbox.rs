//! Folder management: CREATE, DELETE, RENAME, SUBSCRIBE, UNSUBSCRIBE, LIST, LSUB, STATUS.

use std::borrow::Cow;
use std::collections::BTreeSet;

use imap_codec::imap_types::core::QuotedChar;
use imap_codec::imap_types::flag::FlagNameAttribute;
use imap_codec::imap_types::mailbox::{ListMailbox, Mailbox};
use imap_codec::imap_types::response::Data;
use imap_codec::imap_types::status::{StatusDataItem, StatusDataItemName};
use imap_codec::imap_types::IntoStatic;

use crate::imap::session::{Done, Session};
use crate::imap::{
    code_alreadyexists, code_cannot, code_haschildren, code_nonexistent, mailbox_name, shown_name,
    validate_name, wire_mailbox, CmdError, CmdResult, DELIMITER,
};
use crate::store::{MailboxCounts, MailboxRow, INBOX};

impl Session {
    pub(crate) fn user_id(&self) -> CmdResult<crate::store::UserId> {
        self.state
            .user()
            .map(|u| u.id)
            .ok_or_else(|| CmdError::bad("Not logged in"))
    }

    pub(crate) async fn cmd_create(&mut self, mailbox: Mailbox<'static>) -> CmdResult<Done> {
        let name = match &mailbox {
            Mailbox::Other(o) => create_name(o.as_ref(), self.utf8_names())?,
            Mailbox::Inbox => create_name(b"INBOX", false)?,
        };
        let user = self.user_id()?;
        let id = self
            .db(move |s| {
                s.create_mailbox(user, &name)?;
                s.created_mailbox_id(user, &name)
            })
            .await?;
        self.ctx.notifier.publish_user(user);
        Ok(created(id))
    }

    pub(crate) async fn cmd_delete(&mut self, mailbox: Mailbox<'static>) -> CmdResult<Done> {
        let name = mailbox_name(&mailbox, self.utf8_names())?;
        if name == INBOX {
            return Err(CmdError::no_code(code_cannot(), "INBOX cannot be deleted"));
        }
        let user = self.user_id()?;
        let deleted = name.clone();
        self.db(move |s| s.delete_mailbox(user, &deleted))
            .await
            .map_err(|e| match e {
                // INBOX was refused above: what is left is a \Noselect parent of others.
                crate::store::StoreError::NotAllowed(t) => CmdError::no_code(code_haschildren(), t),
                other => CmdError::from(other),
            })?;
        self.ctx.notifier.publish_user(user);
        // Deleting the folder this session has selected leaves nothing to stay selected in.
        if self.state.selected().is_some_and(|s| s.name == name) {
            self.state.deselect();
        }
        Ok(Done::ok("DELETE completed"))
    }

    pub(crate) async fn cmd_rename(
        &mut self,
        from: Mailbox<'static>,
        to: Mailbox<'static>,
    ) -> CmdResult<Done> {
        let from = mailbox_name(&from, self.utf8_names())?;
        let to = mailbox_name(&to, self.utf8_names())?;
        let user = self.user_id()?;
        let (f, t) = (from.clone(), to.clone());
        self.db(move |s| s.rename_mailbox(user, &f, &t)).await?;
        self.ctx.notifier.publish_user(user);
        if let Some(sel) = self.state.selected_mut() {
            if sel.name == from && from != INBOX {
                sel.name = to;
            } else if let Some(rest) = sel.name.strip_prefix(&format!("{from}{DELIMITER}")) {
                if from != INBOX {
                    sel.name = format!("{to}{DELIMITER}{rest}");
                }
            }
        }
        Ok(Done::ok("RENAME completed"))
    }

    pub(crate) async fn cmd_subscribe(
        &mut self,
        mailbox: Mailbox<'static>,
        subscribe: bool,
    ) -> CmdResult<Done> {
        let name = mailbox_name(&mailbox, self.utf8_names())?;
        let user = self.user_id()?;
        let done = if subscribe {
            self.db(move |s| s.subscribe(user, &name)).await?;
            "SUBSCRIBE completed"
        } else {
            self.db(move |s| s.unsubscribe(user, &name)).await?;
            "UNSUBSCRIBE completed"
        };
        self.ctx.notifier.publish_user(user);
        Ok(Done::ok(done))
    }

    pub(crate) async fn cmd_list(
        &mut self,
        reference: Mailbox<'static>,
        pattern: ListMailbox<'static>,
        lsub: bool,
    ) -> CmdResult<Done> {
        let reference: Vec<u8> = match &reference {
            Mailbox::Inbox => INBOX.as_bytes().to_vec(),
            Mailbox::Other(o) => o.as_ref().to_vec(),
        };
        let pattern: Vec<u8> = match &pattern {
            ListMailbox::Token(t) => t.as_ref().to_vec(),
            ListMailbox::String(s) => s.as_ref().to_vec(),
        };
        let done = if lsub {
            "LSUB completed"
        } else {
            "LIST completed"
        };
        if pattern.is_empty() {
            // The special request for the hierarchy delimiter (RFC 3501 §6.3.8).
            if !lsub {
                self.data(list_data(
                    vec![FlagNameAttribute::Noselect],
                    Mailbox::try_from("").unwrap_or(Mailbox::Inbox),
                    false,
                ))
                .await?;
            }
            return Ok(Done::ok(done));
        }
        if pattern.len() + reference.len() > 2 * crate::imap::MAX_MAILBOX_NAME {
            return Err(CmdError::bad("LIST pattern too long"));
        }
        let full = full_pattern(&reference, &pattern);
        let user = self.user_id()?;
        let (mailboxes, subscriptions) = self
            .db(move |s| Ok((s.mailboxes(user)?, s.subscriptions(user)?)))
            .await?;
        let names: BTreeSet<&str> = mailboxes.iter().map(|m| m.name.as_str()).collect();
        // A UTF-8 session's pattern is UTF-8: it matches the names as that session sees them.
        let utf8 = self.utf8_names();
        let list_match = |pattern: &[u8], name: &str| list_match(pattern, &shown_name(name, utf8));
        if lsub {
            let subscribed: BTreeSet<&str> = subscriptions.iter().map(String::as_str).collect();
            // A subscribed name is \Noselect when no folder of that name can be selected: it
            // does not exist, or only as a \Noselect parent.
            let selectable: BTreeSet<&str> = mailboxes
                .iter()
                .filter(|m| !m.noselect)
                .map(|m| m.name.as_str())
                .collect();
            let mut out: Vec<(String, bool)> = Vec::new();
            for name in &subscribed {
                if list_match(&full, name) {
                    out.push((name.to_string(), false));
                } else if full.contains(&b'%') {
                    // RFC 3501 §6.3.9: a parent matched by % whose child is subscribed is
                    // listed \Noselect when it is not subscribed itself.
                    for (i, _) in name.match_indices(DELIMITER) {
                        let parent = &name[..i];
                        if !subscribed.contains(parent) && list_match(&full, parent) {
                            out.push((parent.to_string(), true));
                        }
                    }
                }
            }
            out.sort();
            out.dedup();
            for (name, noselect) in out {
                let mut attrs = if noselect || !selectable.contains(name.as_str()) {
                    vec![FlagNameAttribute::Noselect]
                } else {
                    vec![]
                };
                // CHILDREN (RFC 3348) on LSUB too: whether the name has any child folder,
                // subscribed or not.
                // A subscribed name that does not exist says nothing about children.
                if names.contains(name.as_str()) || has_children(&name, &names) {
                    attrs.extend(child_attribute(&name, &names));
                }
                self.data(list_data(attrs, wire_mailbox(&name, utf8), true))
                    .await?;
            }
            return Ok(Done::ok(done));
        }
        for mb in &mailboxes {
            if !list_match(&full, &mb.name) {
                continue;
            }
            let attrs = list_attributes(mb, &names);
            self.data(list_data(attrs, wire_mailbox(&mb.name, utf8), false))
                .await?;
        }
        Ok(Done::ok(done))
    }

    /// A mailbox's counts as this session reports them: IMAP4rev2 has no \Recent (RFC 9051),
    /// so a rev2 session that still asks for RECENT hears 0.
    pub(crate) fn reported_counts(&self, counts: MailboxCounts) -> MailboxCounts {
        if self.rev2 {
            MailboxCounts {
                recent: 0,
                ..counts
            }
        } else {
            counts
        }
    }

    /// STATUS with MAILBOXID (RFC 8474 §4.2) among its items.
    pub(crate) async fn cmd_status_with_id(
        &mut self,
        s: crate::imap::ext::objid::ExtStatus,
    ) -> CmdResult<Done> {
        self.status(s.mailbox, s.items, true).await
    }

    pub(crate) async fn cmd_status(
        &mut self,
        mailbox: Mailbox<'static>,
        items: Vec<StatusDataItemName>,
    ) -> CmdResult<Done> {
        self.status(mailbox, items, false).await
    }

    async fn status(
        &mut self,
        mailbox: Mailbox<'static>,
        items: Vec<StatusDataItemName>,
        with_id: bool,
    ) -> CmdResult<Done> {
        // RFC 7162 §3.1: STATUS (HIGHESTMODSEQ) is a CONDSTORE-enabling command.
        self.condstore |= items.contains(&StatusDataItemName::HighestModSeq);
        let name = mailbox_name(&mailbox, self.utf8_names())?;
        let user = self.user_id()?;
        let lookup = name.clone();
        let (row, counts, id) = self
            .db(move |s| s.mailbox_status(user, &lookup, with_id))
            .await?
            .ok_or_else(|| {
                CmdError::no_code(code_nonexistent(), format!("No such mailbox: {name}"))
            })?;
        let out = status_items(&row, self.reported_counts(counts), &items)?;
        self.status_data(
            Data::Status {
                mailbox: wire_mailbox(&row.name, self.utf8_names()),
                items: Cow::Owned(out),
            },
            id.as_deref(),
        )
        .await?;
        Ok(Done::ok("STATUS completed"))
    }

    /// A STATUS response, with `MAILBOXID (id)` when there is one.
    pub(crate) async fn status_data(
        &mut self,
        data: Data<'static>,
        mailbox_id: Option<&str>,
    ) -> CmdResult<()> {
        let Some(id) = mailbox_id else {
            return self.data(data).await;
        };
        let bytes = imap_codec::encode::Encoder::encode(
            &imap_codec::ResponseCodec::default(),
            &imap_codec::imap_types::response::Response::Data(data),
        )
        .dump();
        self.conn
            .send_raw(&crate::imap::ext::objid::with_mailbox_id(bytes, id))
            .await
            .map_err(|e| CmdError::Bye(format!("write failed: {e}")))
    }
}

/// CREATE's tagged OK: with `[MAILBOXID (…)]` (RFC 8474 §4.1) when the id could be read.
pub(crate) fn created(id: Option<String>) -> Done {
    match id {
        Some(id) => Done::with_code(
            crate::imap::ext::objid::mailbox_id_code(&id),
            "CREATE completed",
        ),
        None => Done::ok("CREATE completed"),
    }
}

/// The store name for a CREATE: a trailing delimiter only declares that the name will have
/// children (RFC 3501); INBOX always exists.
pub(crate) fn create_name(bytes: &[u8], utf8: bool) -> CmdResult<String> {
    let name = match bytes.strip_suffix(b"/") {
        Some(trimmed) if !trimmed.is_empty() => {
            if trimmed.eq_ignore_ascii_case(b"INBOX") {
                INBOX.to_string()
            } else {
                validate_name(trimmed, utf8)?
            }
        }
        _ if bytes.eq_ignore_ascii_case(b"INBOX") => INBOX.to_string(),
        _ => validate_name(bytes, utf8)?,
    };
    if name == INBOX {
        return Err(CmdError::no_code(
            code_alreadyexists(),
            "INBOX always exists",
        ));
    }
    Ok(name)
}

/// A LIST pattern made absolute: one that starts with the delimiter stands alone, otherwise
/// it extends the reference; INBOX as the first level matches in any case.
pub(crate) fn full_pattern(reference: &[u8], pattern: &[u8]) -> Vec<u8> {
    let mut full = if pattern.first() == Some(&(DELIMITER as u8)) {
        pattern.to_vec()
    } else {
        [reference, pattern].concat()
    };
    if full.len() >= 5
        && full[..5].eq_ignore_ascii_case(b"INBOX")
        && (full.len() == 5 || full[5] == DELIMITER as u8)
    {
        full[..5].copy_from_slice(b"INBOX");
    }
    full
}

/// Whether STATUS asks for the `\Deleted` counts (read only then: they cost a flag lookup per
/// message).
/// The STATUS items asked for, from a folder's row and counts.
pub(crate) fn status_items(
    row: &MailboxRow,
    counts: MailboxCounts,
    items: &[StatusDataItemName],
) -> CmdResult<Vec<StatusDataItem>> {
    let mut out = Vec::with_capacity(items.len());
    for item in items {
        out.push(match item {
            StatusDataItemName::Messages => StatusDataItem::Messages(counts.messages),
            StatusDataItemName::Recent => StatusDataItem::Recent(counts.recent),
            StatusDataItemName::Unseen => StatusDataItem::Unseen(counts.unseen),
            StatusDataItemName::UidNext => StatusDataItem::UidNext(nz(row.uidnext)),
            StatusDataItemName::UidValidity => StatusDataItem::UidValidity(nz(row.uidvalidity)),
            StatusDataItemName::Size => StatusDataItem::Size(counts.size),
            StatusDataItemName::HighestModSeq => {
                StatusDataItem::HighestModSeq(nz64(row.highest_modseq).get())
            }
            // RFC 9051 §6.3.11: the messages with \Deleted.
            StatusDataItemName::Deleted => StatusDataItem::Deleted(counts.deleted),
            StatusDataItemName::DeletedStorage => {
                StatusDataItem::DeletedStorage(counts.deleted_size)
            }
        });
    }
    Ok(out)
}

pub(crate) fn nz(v: u32) -> std::num::NonZeroU32 {
    std::num::NonZeroU32::new(v).unwrap_or(std::num::NonZeroU32::MIN)
}

/// A modseq as IMAP writes it: never 0 (mailboxes start at 1; a 0 could only be a bug).
pub(crate) fn nz64(v: u64) -> std::num::NonZeroU64 {
    std::num::NonZeroU64::new(v).unwrap_or(std::num::NonZeroU64::MIN)
}

pub(crate) fn list_data(
    items: Vec<FlagNameAttribute<'static>>,
    mailbox: Mailbox<'static>,
    lsub: bool,
) -> Data<'static> {
    let delimiter = QuotedChar::try_from(DELIMITER).ok();
    if lsub {
        Data::Lsub {
            items,
            delimiter,
            mailbox,
        }
    } else {
        Data::List {
            items,
            delimiter,
            mailbox,
        }
    }
}

pub(crate) fn list_attributes(
    mb: &MailboxRow,
    names: &BTreeSet<&str>,
) -> Vec<FlagNameAttribute<'static>> {
    let mut attrs = Vec::new();
    if mb.noselect {
        attrs.push(FlagNameAttribute::Noselect);
    }
    attrs.extend(child_attribute(&mb.name, names));
    attrs.extend(special_use_attributes(mb));
    attrs
}

/// The folder's special-use attributes (RFC 6154), e.g. `\Sent`.
pub(crate) fn special_use_attributes(mb: &MailboxRow) -> Vec<FlagNameAttribute<'static>> {
    mb.special_use
        .as_deref()
        .unwrap_or("")
        .split_whitespace()
        .filter_map(|a| {
            imap_codec::imap_types::core::Atom::try_from(a.trim_start_matches('\\')).ok()
        })
        .map(|a| FlagNameAttribute::from(a.into_static()))
        .collect()
}

/// Whether any folder name is below `name`.
pub(crate) fn has_children(name: &str, names: &BTreeSet<&str>) -> bool {
    let prefix = format!("{name}{DELIMITER}");
    names
        .range(prefix.as_str()..)
        .next()
        .is_some_and(|n| n.starts_with(&prefix))
}

/// `\HasChildren` or `\HasNoChildren` (RFC 3348) for `name` among the folder names.
pub(crate) fn child_attribute(
    name: &str,
    names: &BTreeSet<&str>,
) -> Option<FlagNameAttribute<'static>> {
    let child_attr = if has_children(name, names) {
        "HasChildren"
    } else {
        "HasNoChildren"
    };
    imap_codec::imap_types::core::Atom::try_from(child_attr)
        .ok()
        .map(FlagNameAttribute::from)
}

/// RFC 3501 LIST matching: `*` matches anything, `%` anything but the delimiter. Dynamic
/// programming, so hostile patterns cost at most pattern × name steps.
pub fn wildcard_match(pattern: &[u8], name: &[u8]) -> bool {
    match_folding(pattern, name, 0)
}

/// LIST/LSUB matching of a stored name: its INBOX level matches in any case (RFC 3501 §5.1),
/// so `inbox*` finds INBOX and INBOX/x.
pub(crate) fn list_match(pattern: &[u8], name: &str) -> bool {
    let inbox = name == INBOX || name.starts_with("INBOX/");
    match_folding(
        pattern,
        name.as_bytes(),
        if inbox { INBOX.len() } else { 0 },
    )
}

/// `wildcard_match` where the first `fold` bytes of the name compare case-insensitively.
fn match_folding(pattern: &[u8], name: &[u8], fold: usize) -> bool {
    let (p, n) = (pattern.len(), name.len());
    // row[j]: does pattern[..i] match name[..j]
    let mut prev = vec![false; n + 1];
    prev[0] = true;
    for i in 1..=p {
        let mut cur = vec![false; n + 1];
        let c = pattern[i - 1];
        match c {
            b'*' => {
                cur[0] = prev[0];
                for j in 1..=n {
                    cur[j] = prev[j] || cur[j - 1];
                }
            }
            b'%' => {
                cur[0] = prev[0];
                for j in 1..=n {
                    cur[j] = prev[j] || (cur[j - 1] && name[j - 1] != DELIMITER as u8);
                }
            }
            _ => {
                for j in 1..=n {
                    cur[j] = prev[j - 1]
                        && (name[j - 1] == c
                            || (j <= fold && name[j - 1].eq_ignore_ascii_case(&c)));
                }
            }
        }
        prev = cur;
    }
    prev[n]
}

#[cfg(test)]
mod tests {
    use super::wildcard_match as m;

    #[test]
    fn wildcards() {
        assert!(m(b"*", b"a/b/c"));
        assert!(m(b"%", b"abc"));
        assert!(!m(b"%", b"a/b"));
        assert!(m(b"a/%", b"a/b"));
        assert!(!m(b"a/%", b"a/b/c"));
        assert!(m(b"a/*", b"a/b/c"));
        assert!(m(b"a*c", b"abc"));
        assert!(m(b"a%c", b"abc"));
        assert!(!m(b"a%c", b"a/c"));
        assert!(m(b"INBOX", b"INBOX"));
        assert!(!m(b"INBOX", b"INBOXX"));
        assert!(m(b"%/%", b"a/b"));
        assert!(m(b"", b""));
        assert!(super::list_match(b"inbox*", "INBOX/x"));
        assert!(super::list_match(b"Inbox", "INBOX"));
        assert!(!super::list_match(b"inbox/X", "INBOX/x"));
        assert!(!super::list_match(b"inboxx", "INBOXX"));
        let hostile = [b'*'; 500];
        assert!(m(&hostile, &[b'x'; 1000]));
    }
}
