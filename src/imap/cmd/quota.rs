//! QUOTA (RFC 9208): GETQUOTA, GETQUOTAROOT and the refused SETQUOTA. Every user has one quota
//! root, `""`, over all of its mailboxes, with the resources STORAGE (in units of 1024 octets),
//! MESSAGE and MAILBOX; the limits are set by the administrator (`liteimap user quota`). A root
//! is reported only while at least one of its limits is set. The refusals themselves
//! (`NO [OVERQUOTA]`) come from the store, which checks them inside the writing transaction.

use imap_codec::imap_types::core::{AString, IString, Quoted, Vec1};
use imap_codec::imap_types::extensions::quota::{QuotaGet, Resource};
use imap_codec::imap_types::mailbox::Mailbox;
use imap_codec::imap_types::response::{Capability, Data};

use super::super::session::{Done, Session};
use super::super::{code_nonexistent, code_noperm, mailbox_name, wire_mailbox};
use super::super::{CmdError, CmdResult};
use crate::store::Quota;

/// The one quota root of every user.
const ROOT: &str = "";

/// QUOTA and one QUOTA=RES-… per resource (RFC 9208 §3.1); no QUOTASET: users cannot set limits.
pub fn capabilities() -> [Capability<'static>; 4] {
    [
        Capability::Quota,
        Capability::QuotaRes(Resource::Storage),
        Capability::QuotaRes(Resource::Message),
        Capability::QuotaRes(Resource::Mailbox),
    ]
}

/// SETQUOTA (RFC 9208 §4.1.3) is for servers that advertise QUOTASET; limits here are the
/// administrator's.
pub fn setquota_refused() -> CmdError {
    CmdError::no_code(
        code_noperm(),
        "Quota limits are set by the administrator (liteimap user quota)",
    )
}

/// The resources of a root that have a limit, as `* QUOTA` lists them (usage rounded up to
/// whole KiB, limits down, so a full quota never shows room that is not there).
fn resources(q: &Quota) -> Option<Vec1<QuotaGet<'static>>> {
    let mut out = Vec::new();
    if let Some(limit) = q.limits.storage {
        out.push(QuotaGet::new(
            Resource::Storage,
            q.usage.storage.div_ceil(1024),
            limit / 1024,
        ));
    }
    if let Some(limit) = q.limits.messages {
        out.push(QuotaGet::new(Resource::Message, q.usage.messages, limit));
    }
    if let Some(limit) = q.limits.mailboxes {
        out.push(QuotaGet::new(Resource::Mailbox, q.usage.mailboxes, limit));
    }
    Vec1::try_from(out).ok()
}

/// `""` on the wire (an empty string is always a valid quoted string).
fn root() -> AString<'static> {
    AString::String(IString::Quoted(Quoted::unvalidated(ROOT)))
}

impl Session {
    /// Re-read how much the user may still store (for APPENDLIMIT). A failure keeps the last
    /// value: the store refuses over-quota writes whatever APPENDLIMIT said.
    pub(crate) async fn refresh_storage_left(&mut self) {
        let Ok(user) = self.user_id() else {
            return;
        };
        if let Ok(q) = self.db(move |s| s.quota(user)).await {
            self.storage_left = q.storage_left();
        }
    }

    async fn quota_data(&mut self, q: &Quota) -> CmdResult {
        if let Some(quotas) = resources(q) {
            self.data(Data::Quota {
                root: root(),
                quotas,
            })
            .await?;
        }
        Ok(())
    }

    /// GETQUOTA root (RFC 9208 §4.2).
    pub(crate) async fn cmd_getquota(&mut self, asked: AString<'static>) -> CmdResult<Done> {
        let user = self.user_id()?;
        let q = self.db(move |s| s.quota(user)).await?;
        let name: &[u8] = asked.as_ref();
        if !name.is_empty() || resources(&q).is_none() {
            return Err(CmdError::no_code(
                code_nonexistent(),
                format!("No such quota root: {:?}", String::from_utf8_lossy(name)),
            ));
        }
        self.quota_data(&q).await?;
        Ok(Done::ok("GETQUOTA completed"))
    }

    /// GETQUOTAROOT mailbox (RFC 9208 §4.3): the root `""` for every mailbox, when it has limits.
    pub(crate) async fn cmd_getquotaroot(&mut self, mailbox: Mailbox<'static>) -> CmdResult<Done> {
        let name = mailbox_name(&mailbox, self.utf8_names())?;
        let user = self.user_id()?;
        let lookup = name.clone();
        let (row, q) = self
            .db(move |s| Ok((s.mailbox(user, &lookup)?, s.quota(user)?)))
            .await?;
        let row = row.filter(|r| !r.noselect).ok_or_else(|| {
            CmdError::no_code(code_nonexistent(), format!("No such mailbox: {name}"))
        })?;
        let roots = if resources(&q).is_some() {
            vec![root()]
        } else {
            Vec::new()
        };
        self.data(Data::QuotaRoot {
            mailbox: wire_mailbox(&row.name, self.utf8_names()),
            roots,
        })
        .await?;
        self.quota_data(&q).await?;
        Ok(Done::ok("GETQUOTAROOT completed"))
    }
}
