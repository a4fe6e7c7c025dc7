//! The extension forms of CREATE and LIST (parsed by `imap::ext::list`): CREATE-SPECIAL-USE
//! (RFC 6154), LIST-EXTENDED (RFC 5258) and LIST-STATUS (RFC 5819).

use std::borrow::Cow;
use std::collections::{BTreeMap, BTreeSet};

use imap_codec::encode::Encoder;
use imap_codec::imap_types::core::Atom;
use imap_codec::imap_types::flag::FlagNameAttribute;
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::response::{Data, Response};
use imap_codec::imap_types::status::StatusDataItemName;
use imap_codec::ResponseCodec;

use super::mailbox::{
    child_attribute, create_name, full_pattern, has_children, list_attributes, list_data,
    list_match, special_use_attributes, status_items,
};
use crate::imap::ext::list::{with_childinfo, with_oldname, CreateWithUse, ListExtended};
use crate::imap::session::{Done, Session};
use crate::imap::{code_useattr, shown_name, wire_mailbox, CmdError, CmdResult, DELIMITER};
use crate::store::{MailboxRow, SPECIAL_USES};

/// One line of an extended LIST answer.
struct Line {
    name: String,
    attrs: Vec<FlagNameAttribute<'static>>,
    childinfo: Vec<&'static str>,
    /// The folder, when it exists and can be selected (LIST-STATUS answers for these only).
    status_of: Option<MailboxRow>,
}

fn attr(name: &'static str) -> Option<FlagNameAttribute<'static>> {
    Atom::try_from(name).ok().map(FlagNameAttribute::from)
}

impl Session {
    /// `CREATE name (USE (\Sent ...))`: the folder with its special use, or `NO [USEATTR]`
    /// for a use this server does not support (RFC 6154 §3).
    pub(crate) async fn cmd_create_with_use(&mut self, c: CreateWithUse) -> CmdResult<Done> {
        let mut uses: Vec<&'static str> = Vec::new();
        for u in &c.uses {
            let Some(known) = SPECIAL_USES.iter().find(|k| k.eq_ignore_ascii_case(u)) else {
                return Err(CmdError::no_code(
                    code_useattr(),
                    format!("Special use {u} is not supported"),
                ));
            };
            if !uses.contains(known) {
                uses.push(known);
            }
        }
        let name = create_name(&c.mailbox, self.utf8_names())?;
        let user = self.user_id()?;
        let id = self
            .db(move |s| {
                s.create_mailbox_with_use(user, &name, &uses)?;
                s.created_mailbox_id(user, &name)
            })
            .await?;
        self.ctx.notifier.publish_user(user);
        Ok(crate::imap::cmd::mailbox::created(id))
    }

    /// The `* LIST` line an IMAP4rev2 SELECT/EXAMINE answers with (RFC 9051 §6.3.2): the
    /// mailbox's name as the client should use it, with its attributes, and `OLDNAME` when
    /// the client wrote it in another Unicode normalisation.
    pub(crate) async fn list_selected(
        &mut self,
        mb: &MailboxRow,
        written: Option<&str>,
    ) -> CmdResult {
        let user = self.user_id()?;
        let mailboxes = self.db(move |s| s.mailboxes(user)).await?;
        let names: BTreeSet<&str> = mailboxes.iter().map(|m| m.name.as_str()).collect();
        let attrs = list_attributes(mb, &names);
        let data = list_data(attrs, wire_mailbox(&mb.name, self.utf8_names()), false);
        let Some(old) = written.filter(|w| !unicode_normalization::is_nfc(w)) else {
            return self.data(data).await;
        };
        let line = ResponseCodec::default()
            .encode(&Response::Data(data))
            .dump();
        self.conn
            .send_raw(&with_oldname(line, old))
            .await
            .map_err(|e| CmdError::Bye(format!("write failed: {e}")))
    }

    pub(crate) async fn cmd_list_extended(&mut self, l: ListExtended) -> CmdResult<Done> {
        let sel = l.selection;
        let ret = &l.ret;
        let patterns: Vec<Vec<u8>> = l
            .patterns
            .iter()
            .filter(|p| !p.is_empty())
            .map(|p| full_pattern(&l.reference, p))
            .collect();
        if patterns.is_empty() {
            // Only "": the hierarchy delimiter request (RFC 3501 §6.3.8).
            if let Ok(root) = Mailbox::try_from("") {
                self.data(list_data(vec![FlagNameAttribute::Noselect], root, false))
                    .await?;
            }
            return Ok(Done::ok("LIST completed"));
        }
        if patterns.iter().map(Vec::len).sum::<usize>() > 8 * crate::imap::MAX_MAILBOX_NAME {
            return Err(CmdError::bad("LIST patterns too long"));
        }
        let user = self.user_id()?;
        let (mailboxes, subscriptions) = self
            .db(move |s| Ok((s.mailboxes(user)?, s.subscriptions(user)?)))
            .await?;
        let rows: BTreeMap<&str, &MailboxRow> =
            mailboxes.iter().map(|m| (m.name.as_str(), m)).collect();
        let names: BTreeSet<&str> = rows.keys().copied().collect();
        let subscribed: BTreeSet<&str> = subscriptions.iter().map(String::as_str).collect();

        // What the selection options pick (RFC 5258 §3.1): subscribed names (existing or not),
        // folders with a special use, or every folder.
        let selected = |name: &str| -> bool {
            let row = rows.get(name);
            (row.is_some() || sel.subscribed)
                && (!sel.subscribed || subscribed.contains(name))
                && (!sel.special_use || row.is_some_and(|r| r.special_use.is_some()))
        };
        // A UTF-8 session's patterns are UTF-8: they match the names as it sees them.
        let utf8 = self.utf8_names();
        let matches = |name: &str| {
            let shown = shown_name(name, utf8);
            patterns.iter().any(|p| list_match(p, &shown))
        };

        let mut candidates: BTreeSet<String> = names.iter().map(|n| n.to_string()).collect();
        if sel.subscribed {
            candidates.extend(subscribed.iter().map(|n| n.to_string()));
        }
        if sel.recursive_match {
            // Parents of what is selected may be listed for their children's sake, even when
            // they do not exist themselves.
            let parents: Vec<String> = candidates
                .iter()
                .flat_map(|n| {
                    n.match_indices(DELIMITER)
                        .map(|(i, _)| n[..i].to_string())
                        .collect::<Vec<_>>()
                })
                .collect();
            candidates.extend(parents);
        }
        let mut reasons: Vec<&'static str> = Vec::new();
        if sel.subscribed {
            reasons.push("SUBSCRIBED");
        }
        if sel.special_use {
            reasons.push("SPECIAL-USE");
        }
        let show_subscribed = sel.subscribed || ret.subscribed;

        let mut lines: Vec<Line> = Vec::new();
        for name in &candidates {
            if !matches(name) {
                continue;
            }
            // RECURSIVEMATCH (RFC 5258 §3.5): a descendant that is selected but that no
            // pattern lists makes this name worth listing, with CHILDINFO.
            let childinfo = sel.recursive_match && {
                let prefix = format!("{name}{DELIMITER}");
                candidates
                    .range(prefix.clone()..)
                    .take_while(|d| d.starts_with(&prefix))
                    .any(|d| selected(d) && !matches(d))
            };
            if !selected(name) && !childinfo {
                continue;
            }
            let row = rows.get(name.as_str()).copied();
            let mut attrs = Vec::new();
            match row {
                None => attrs.extend(attr("NonExistent")),
                Some(r) if r.noselect => attrs.push(FlagNameAttribute::Noselect),
                Some(_) => {}
            }
            if row.is_some() || has_children(name, &names) {
                attrs.extend(child_attribute(name, &names));
            }
            if show_subscribed && subscribed.contains(name.as_str()) {
                attrs.extend(attr("Subscribed"));
            }
            if let Some(r) = row {
                attrs.extend(special_use_attributes(r));
            }
            lines.push(Line {
                name: name.clone(),
                attrs,
                childinfo: if childinfo {
                    reasons.clone()
                } else {
                    Vec::new()
                },
                status_of: row.filter(|r| !r.noselect).cloned(),
            });
        }

        // RFC 7162 §3.1: asking for HIGHESTMODSEQ enables CONDSTORE, here as in STATUS.
        if let Some(items) = &ret.status {
            self.condstore |= items
                .iter()
                .any(|i| matches!(i, StatusDataItemName::HighestModSeq));
        }
        // LIST-STATUS (RFC 5819): the counts of every selectable folder listed, read in one go.
        let counts = match &ret.status {
            Some(_) => {
                let ids: Vec<_> = lines
                    .iter()
                    .filter_map(|l| l.status_of.as_ref().map(|r| r.id))
                    .collect();
                self.db(move |s| {
                    ids.into_iter()
                        .map(|id| s.counts(id).map(|c| (id, c)))
                        .collect::<Result<BTreeMap<_, _>, _>>()
                })
                .await?
            }
            None => BTreeMap::new(),
        };

        for line in lines {
            let data = list_data(line.attrs, wire_mailbox(&line.name, utf8), false);
            if line.childinfo.is_empty() {
                self.data(data).await?;
            } else {
                let bytes = ResponseCodec::default()
                    .encode(&Response::Data(data))
                    .dump();
                self.conn
                    .send_raw(&with_childinfo(bytes, &line.childinfo))
                    .await
                    .map_err(|e| CmdError::Bye(format!("write failed: {e}")))?;
            }
            if let (Some(items), Some(row)) = (&ret.status, &line.status_of) {
                if let Some(c) = counts.get(&row.id) {
                    let items = status_items(row, self.reported_counts(*c), items)?;
                    let id = if ret.status_mailbox_id {
                        let r = row.clone();
                        Some(self.db(move |s| s.mailbox_object_id(&r)).await?)
                    } else {
                        None
                    };
                    self.status_data(
                        Data::Status {
                            mailbox: wire_mailbox(&row.name, utf8),
                            items: Cow::Owned(items),
                        },
                        id.as_deref(),
                    )
                    .await?;
                }
            }
        }
        Ok(Done::ok("LIST completed"))
    }
}
