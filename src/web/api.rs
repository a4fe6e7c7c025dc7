//! The JSON API under `/api/v1`: users, folders, messages (listed, raw, parsed), purging,
//! waiting for a message, the change counter the page long-polls, and protocol traces.

use std::time::{Duration, Instant};

use async_std::prelude::FutureExt as _;
use serde_json::{json, Value};
use tiny_http::Method;

use super::{allow, ApiError, ApiResult, Reply, Req};
use crate::mime::{MessageInfo, PartInfo, PartKind};
use crate::server::Context;
use crate::store::{Cond, MailboxId, MailboxRow, MessageMeta, Store, StoreError, UserRow};

/// Messages per page when `limit` is not given, and the most one page may hold.
const DEFAULT_LIMIT: usize = 50;
const MAX_LIMIT: usize = 500;
/// `wait` and `changes`: the default and the longest timeout, in seconds.
const DEFAULT_TIMEOUT: u64 = 30;
const MAX_TIMEOUT: u64 = 300;

/// Policy of a message's HTML part: nothing loads (no remote images, fonts, frames), inline
/// styles and `data:` images show; the `sandbox` directive keeps scripts off even when the
/// part is opened outside the page's sandboxed iframe.
const HTML_CSP: &str =
    "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; sandbox";

pub(super) fn route(ctx: &Context, req: &Req, seg: &[&str]) -> ApiResult {
    use Method::{Delete, Get, Post};
    let store = &*ctx.store;
    match seg {
        ["health"] => allow(req, &[Get], || health(store)),
        ["users"] => allow(req, &[Get, Post], || match req.method {
            Method::Post => create_user(ctx, req),
            _ => list_users(store),
        }),
        ["users", user] => allow(req, &[Get, Delete], || match req.method {
            Method::Delete => delete_user(store, user),
            _ => one_user(store, user),
        }),
        ["users", user, "messages"] => allow(req, &[Delete], || purge(store, Some(user))),
        ["messages"] => allow(req, &[Delete], || purge(store, None)),
        ["users", user, "folders"] => allow(req, &[Get], || folders(store, user)),
        ["users", user, "folders", folder, "messages"] => {
            allow(req, &[Get], || messages(store, req, user, folder))
        }
        ["users", user, "folders", folder, "messages", uid] => {
            allow(req, &[Get], || parsed(store, user, folder, uid))
        }
        ["users", user, "folders", folder, "messages", uid, "raw"] => {
            allow(req, &[Get], || raw(store, user, folder, uid))
        }
        ["users", user, "folders", folder, "messages", uid, "html"] => {
            allow(req, &[Get], || html(store, user, folder, uid))
        }
        ["users", user, "folders", folder, "messages", uid, "parts", part] => {
            allow(req, &[Get], || attachment(store, user, folder, uid, part))
        }
        ["wait"] => allow(req, &[Get], || wait(ctx, req)),
        ["changes"] => allow(req, &[Get], || changes(ctx, req)),
        ["traces"] => allow(req, &[Get], || {
            let list = ctx.trace.as_ref().map(|t| t.sessions()).unwrap_or_default();
            Ok(Reply::json(200, &json!(list)))
        }),
        ["traces", id] => allow(req, &[Get], || {
            let id: u64 = id
                .parse()
                .map_err(|_| ApiError::new(400, format!("trace id {id:?} is not a number")))?;
            let lines = ctx
                .trace
                .as_ref()
                .and_then(|t| t.lines(id))
                .ok_or_else(|| {
                    ApiError::new(
                        404,
                        format!("no trace of session {id} (unknown or dropped)"),
                    )
                })?;
            let summary = ctx
                .trace
                .as_ref()
                .and_then(|t| t.sessions().into_iter().find(|s| s.id == id));
            Ok(Reply::json(
                200,
                &json!({ "session": summary, "lines": lines }),
            ))
        }),
        _ => Err(ApiError::new(
            404,
            format!("no such API endpoint: /api/v1/{}", seg.join("/")),
        )),
    }
}

fn health(store: &Store) -> ApiResult {
    let users = store.user_count()?;
    Ok(Reply::json(
        200,
        &json!({ "status": "ok", "version": env!("CARGO_PKG_VERSION"), "users": users }),
    ))
}

fn list_users(store: &Store) -> ApiResult {
    let users: Vec<Value> = store
        .list_users()?
        .into_iter()
        .map(|(name, messages)| json!({ "name": name, "messages": messages }))
        .collect();
    Ok(Reply::json(200, &json!(users)))
}

fn find_user(store: &Store, name: &str) -> Result<UserRow, ApiError> {
    store
        .find_user(name)?
        .ok_or_else(|| ApiError::new(404, format!("no such user: {name}")))
}

fn one_user(store: &Store, name: &str) -> ApiResult {
    let u = find_user(store, name)?;
    let messages = store
        .list_users()?
        .into_iter()
        .find(|(n, _)| *n == u.name)
        .map_or(0, |(_, m)| m);
    Ok(Reply::json(
        200,
        &json!({ "name": u.name, "messages": messages }),
    ))
}

#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct NewUser {
    name: String,
    password: Option<String>,
}

fn create_user(ctx: &Context, req: &Req) -> ApiResult {
    if !req.json_body {
        return Err(ApiError::new(
            400,
            "send the user as JSON with Content-Type: application/json, e.g. {\"name\":\"bob\",\"password\":\"secret\"}",
        ));
    }
    let new: NewUser = serde_json::from_slice(&req.body)
        .map_err(|e| ApiError::new(400, format!("bad JSON for a new user: {e}")))?;
    crate::cli::valid_user_name(&new.name).map_err(|e| ApiError::new(400, e))?;
    let (pass, generated) = match new.password {
        Some(p) if p.is_empty() => return Err(ApiError::new(400, "empty password")),
        Some(p) => (p, false),
        None => (crate::password::generate(), true),
    };
    let hash = crate::password::hash(pass.as_bytes()).map_err(|e| ApiError::new(500, e))?;
    let id = ctx.store.create_user(&new.name, &hash)?;
    // Nothing in a mailbox changed, but the page lists users: wake its long poll.
    ctx.notifier.publish_user(id);
    let mut out = json!({ "name": new.name });
    if generated {
        out["password"] = json!(pass);
    }
    Ok(Reply::json(201, &out))
}

fn delete_user(store: &Store, name: &str) -> ApiResult {
    store.remove_user(name)?;
    Ok(Reply::json(200, &json!({ "deleted": name })))
}

fn purge(store: &Store, user: Option<&str>) -> ApiResult {
    let owner = user.map(|u| find_user(store, u)).transpose()?;
    let n = store.purge_mail(owner.as_ref().map(|u| u.id))?;
    let mut out = json!({ "purged": n });
    if let Some(u) = owner {
        out["user"] = json!(u.name);
    }
    Ok(Reply::json(200, &out))
}

/// A folder's name as the API shows it (UTF-8; stored names are modified UTF-7).
fn display_name(m: &MailboxRow) -> String {
    crate::store::mailbox_name_to_utf8(&m.name)
}

fn folders(store: &Store, user: &str) -> ApiResult {
    let u = find_user(store, user)?;
    let mut out = Vec::new();
    for m in store.mailboxes(u.id)? {
        let c = store.counts(m.id)?;
        out.push(json!({
            "name": display_name(&m),
            "special_use": m.special_use,
            "selectable": !m.noselect,
            "messages": c.messages,
            "unseen": c.unseen,
            "recent": c.recent,
            "deleted": c.deleted,
            "size": c.size,
            "uidvalidity": m.uidvalidity,
            "uidnext": m.uidnext,
        }));
    }
    Ok(Reply::json(200, &json!(out)))
}

fn find_folder(store: &Store, user: &str, folder: &str) -> Result<(UserRow, MailboxRow), ApiError> {
    let u = find_user(store, user)?;
    let m = store
        .mailboxes(u.id)?
        .into_iter()
        .find(|m| m.name == folder || display_name(m) == folder)
        .ok_or_else(|| ApiError::new(404, format!("no such folder: {folder}")))?;
    Ok((u, m))
}

fn number<T: std::str::FromStr>(req: &Req, name: &str, default: T) -> Result<T, ApiError> {
    match req.param(name) {
        None => Ok(default),
        Some(v) => v
            .parse()
            .map_err(|_| ApiError::new(400, format!("{name}={v:?} is not a non-negative number"))),
    }
}

/// The list fields of one message, from its header block.
fn summary(meta: &MessageMeta, header: &[u8]) -> Value {
    let (mut subject, mut from, mut to, mut date) = (None, None, None, None);
    if let Ok((headers, _)) = mailparse::parse_headers(header) {
        use mailparse::MailHeaderMap as _;
        subject = headers.get_first_value("Subject");
        from = headers.get_first_value("From");
        to = headers.get_first_value("To");
        date = headers.get_first_value("Date");
    }
    json!({
        "uid": meta.uid,
        "flags": meta.flags,
        "size": meta.size,
        "subject": subject,
        "from": from,
        "to": to,
        "date": date,
        "internal_date": internal_date(meta),
    })
}

/// The internal date as RFC 3339 in the zone it was given in.
fn internal_date(meta: &MessageMeta) -> Option<String> {
    let zone = chrono::FixedOffset::east_opt(meta.date_offset)?;
    chrono::DateTime::from_timestamp(meta.internal_date, 0)
        .map(|d| d.with_timezone(&zone).to_rfc3339())
}

/// Summaries of `uids` (ascending in the result's order given), read in one snapshot.
fn summaries(store: &Store, mailbox: MailboxId, uids: &[u32]) -> Result<Vec<Value>, ApiError> {
    let mut sorted = uids.to_vec();
    sorted.sort_unstable();
    Ok(store.scan(|s| {
        let mut out = Vec::new();
        for meta in s.messages(mailbox, &sorted, true)? {
            match s.header(meta.body_id) {
                Ok(h) => out.push(summary(&meta, &h)),
                Err(StoreError::NotFound(_)) => {}
                Err(e) => return Err(e),
            }
        }
        Ok(out)
    })?)
}

fn messages(store: &Store, req: &Req, user: &str, folder: &str) -> ApiResult {
    let (_, m) = find_folder(store, user, folder)?;
    let offset: usize = number(req, "offset", 0)?;
    let limit: usize = number(req, "limit", DEFAULT_LIMIT)?;
    if limit == 0 || limit > MAX_LIMIT {
        return Err(ApiError::new(
            400,
            format!("limit must be 1 to {MAX_LIMIT}"),
        ));
    }
    let uids = store.search(m.id, &Cond::All)?;
    // Newest first.
    let page: Vec<u32> = uids
        .iter()
        .rev()
        .skip(offset)
        .take(limit)
        .copied()
        .collect();
    let mut list = summaries(store, m.id, &page)?;
    list.reverse();
    Ok(Reply::json(
        200,
        &json!({
            "user": user,
            "folder": display_name(&m),
            "total": uids.len(),
            "offset": offset,
            "limit": limit,
            "messages": list,
        }),
    ))
}

fn one_message(
    store: &Store,
    user: &str,
    folder: &str,
    uid: &str,
) -> Result<(MailboxRow, MessageMeta), ApiError> {
    let (_, m) = find_folder(store, user, folder)?;
    let n: u32 = uid
        .parse()
        .ok()
        .filter(|n| *n > 0)
        .ok_or_else(|| ApiError::new(400, format!("UID {uid:?} is not a positive number")))?;
    let meta = store
        .messages(m.id, &[n])?
        .pop()
        .ok_or_else(|| ApiError::new(404, format!("no message with UID {n} in {folder}")))?;
    Ok((m, meta))
}

fn raw(store: &Store, user: &str, folder: &str, uid: &str) -> ApiResult {
    let (_, meta) = one_message(store, user, folder, uid)?;
    Ok(Reply::bytes("message/rfc822", store.raw(meta.body_id)?))
}

/// A part's parameter, from its Content-Disposition or else its Content-Type (`filename`,
/// `name`), with RFC 2231 (`name*=utf-8''…`) and RFC 2047 encodings undone.
fn part_name(p: &PartInfo) -> Option<String> {
    let lists = [
        (p.disposition.as_ref().map(|(_, ps)| ps), "filename"),
        (Some(&p.params), "name"),
    ];
    for (list, key) in lists.iter().filter_map(|(l, k)| Some((l.as_ref()?, *k))) {
        for (k, v) in list.iter() {
            if k.eq_ignore_ascii_case(key.as_bytes()) {
                return Some(crate::mime::decode_words(b"X", v));
            }
            if k.eq_ignore_ascii_case(format!("{key}*").as_bytes()) {
                let v = String::from_utf8_lossy(v);
                let encoded = v.splitn(3, '\'').nth(2).unwrap_or(&v);
                let bytes: Vec<u8> = percent_encoding::percent_decode_str(encoded).collect();
                return Some(String::from_utf8_lossy(&bytes).into_owned());
            }
        }
    }
    None
}

/// What the message view shows: the first text/plain and text/html parts, and every other
/// leaf (or a part sent as an attachment) as an attachment.
#[derive(Default)]
struct Parts {
    text: Option<String>,
    html: Option<String>,
    attachments: Vec<Value>,
}

fn walk(raw: &[u8], p: &PartInfo, path: String, out: &mut Parts) {
    match &p.kind {
        PartKind::Multipart(children) => {
            for (i, c) in children.iter().enumerate() {
                let sub = if path.is_empty() {
                    format!("{}", i + 1)
                } else {
                    format!("{path}.{}", i + 1)
                };
                walk(raw, c, sub, out);
            }
        }
        kind => {
            let attached = p
                .disposition
                .as_ref()
                .is_some_and(|(d, _)| d.eq_ignore_ascii_case(b"attachment"));
            if !attached && matches!(kind, PartKind::Single) && p.is_type("text") {
                let slot = if p.is_subtype("plain") {
                    Some(&mut out.text)
                } else if p.is_subtype("html") {
                    Some(&mut out.html)
                } else {
                    None
                };
                if let Some(slot) = slot.filter(|s| s.is_none()) {
                    *slot = crate::mime::part_text(raw, p);
                    return;
                }
            }
            let body = raw.get(p.body_start..p.body_end).unwrap_or_default();
            out.attachments.push(json!({
                "part": if path.is_empty() { "1".to_string() } else { path },
                "filename": part_name(p),
                "content_type": format!(
                    "{}/{}",
                    String::from_utf8_lossy(&p.media_type).to_ascii_lowercase(),
                    String::from_utf8_lossy(&p.subtype).to_ascii_lowercase()
                ),
                "size": crate::mime::decode_transfer(body, &p.encoding).len(),
            }));
        }
    }
}

fn parse_stored(store: &Store, meta: &MessageMeta) -> Result<(Vec<u8>, MessageInfo), ApiError> {
    let raw = store.raw(meta.body_id)?;
    let info = store
        .parsed(meta.body_id)
        .ok()
        .and_then(|p| MessageInfo::decode(&p))
        .unwrap_or_else(|| crate::mime::parse(&raw));
    Ok((raw, info))
}

fn parsed(store: &Store, user: &str, folder: &str, uid: &str) -> ApiResult {
    let (m, meta) = one_message(store, user, folder, uid)?;
    let (raw, info) = parse_stored(store, &meta)?;
    let mut headers = Vec::new();
    if let Ok((list, _)) = mailparse::parse_headers(&raw) {
        for h in list {
            headers.push(json!({ "name": h.get_key(), "value": h.get_value() }));
        }
    }
    let mut parts = Parts::default();
    walk(&raw, &info.root, String::new(), &mut parts);
    let mut out = summary(&meta, &raw[..info.root.body_start.min(raw.len())]);
    out["folder"] = json!(display_name(&m));
    out["headers"] = json!(headers);
    out["text"] = json!(parts.text);
    out["html"] = json!(parts.html);
    out["attachments"] = json!(parts.attachments);
    Ok(Reply::json(200, &out))
}

fn html(store: &Store, user: &str, folder: &str, uid: &str) -> ApiResult {
    let (_, meta) = one_message(store, user, folder, uid)?;
    let (raw, info) = parse_stored(store, &meta)?;
    let mut parts = Parts::default();
    walk(&raw, &info.root, String::new(), &mut parts);
    let body = parts
        .html
        .ok_or_else(|| ApiError::new(404, format!("message {uid} has no HTML part")))?;
    Ok(Reply::bytes("text/html; charset=utf-8", body.into_bytes())
        .with_header("Content-Security-Policy", HTML_CSP))
}

/// One part's content, transfer encoding undone, always as a download: served as its own type
/// a text/html or SVG attachment would run on the page's origin.
fn attachment(store: &Store, user: &str, folder: &str, uid: &str, part: &str) -> ApiResult {
    let (_, meta) = one_message(store, user, folder, uid)?;
    let path: Option<Vec<u32>> = part
        .split('.')
        .map(|n| n.parse().ok().filter(|n| *n > 0))
        .collect();
    let path = path.ok_or_else(|| {
        ApiError::new(
            400,
            format!("part {part:?} is not a part number such as 2 or 1.3"),
        )
    })?;
    let (raw, info) = parse_stored(store, &meta)?;
    let body = info
        .decoded_part(&raw, &path)
        .ok_or_else(|| ApiError::new(404, format!("message {uid} has no part {part}")))?;
    let mut parts = Parts::default();
    walk(&raw, &info.root, String::new(), &mut parts);
    let name = parts
        .attachments
        .iter()
        .find(|a| a["part"] == part)
        .and_then(|a| a["filename"].as_str().map(str::to_string))
        .unwrap_or_else(|| format!("part-{part}"));
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let utf8: String =
        percent_encoding::utf8_percent_encode(&name, percent_encoding::NON_ALPHANUMERIC)
            .to_string();
    Ok(Reply::bytes("application/octet-stream", body)
        .with_header(
            "Content-Disposition",
            format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{utf8}"),
        )
        .with_header("Content-Security-Policy", HTML_CSP))
}

fn timeout(req: &Req) -> Result<Duration, ApiError> {
    let secs: u64 = number(req, "timeout", DEFAULT_TIMEOUT)?;
    if secs > MAX_TIMEOUT {
        return Err(ApiError::new(
            400,
            format!("timeout must be at most {MAX_TIMEOUT} seconds"),
        ));
    }
    Ok(Duration::from_secs(secs))
}

/// Block this (handler) thread until `sub` is woken or `deadline` passes; false at the deadline.
fn wait_for_change(sub: &crate::notify::Subscription, deadline: Instant) -> bool {
    let left = deadline.saturating_duration_since(Instant::now());
    if left.is_zero() {
        return false;
    }
    let rx = sub.receiver();
    async_std::task::block_on(rx.recv().timeout(left)).is_ok_and(|r| r.is_ok())
}

/// Does a message (its header block, in `user`'s folders) match the wait's `to` and
/// `subject` (case-insensitive substrings; `to` also matches the owner's name)?
fn matches(header: &[u8], user: &str, to: Option<&str>, subject: Option<&str>) -> bool {
    let Ok((headers, _)) = mailparse::parse_headers(header) else {
        return false;
    };
    use mailparse::MailHeaderMap as _;
    let has = |names: &[&str], needle: &str| {
        let needle = needle.to_lowercase();
        names.iter().any(|n| {
            headers
                .get_all_values(n)
                .iter()
                .any(|v| v.to_lowercase().contains(&needle))
        })
    };
    let to_ok =
        to.is_none_or(|t| user.eq_ignore_ascii_case(t) || has(&["To", "Cc", "Delivered-To"], t));
    to_ok && subject.is_none_or(|s| has(&["Subject"], s))
}

/// GET /wait: the first message (oldest first, across users and folders) whose To/Cc (or
/// owner) contains `to` and whose Subject contains `subject`, already stored or arriving
/// within `timeout` seconds; 408 when none does. Woken by the change hub, never polling:
/// each wake-up reads only the messages added since the last look.
fn wait(ctx: &Context, req: &Req) -> ApiResult {
    let to = req.param("to").filter(|s| !s.is_empty());
    let subject = req.param("subject").filter(|s| !s.is_empty());
    let limit = timeout(req)?;
    let deadline = Instant::now() + limit;
    // Subscribed before the first look: a commit after it wakes us.
    let sub = ctx.notifier.subscribe_any();
    let mut seen: std::collections::HashMap<MailboxId, u32> = Default::default();
    loop {
        if let Some(hit) = scan_for(&ctx.store, &mut seen, to, subject)? {
            return Ok(Reply::json(200, &hit));
        }
        if !wait_for_change(&sub, deadline) {
            let mut what = Vec::new();
            if let Some(t) = to {
                what.push(format!("to {t:?}"));
            }
            if let Some(s) = subject {
                what.push(format!("subject {s:?}"));
            }
            let what = if what.is_empty() {
                "any message".to_string()
            } else {
                format!("a message with {}", what.join(" and "))
            };
            return Err(ApiError::new(
                408,
                format!(
                    "timed out: {what} did not arrive within {} s",
                    limit.as_secs()
                ),
            ));
        }
    }
}

/// One look through every folder for messages above the UIDs seen before.
fn scan_for(
    store: &Store,
    seen: &mut std::collections::HashMap<MailboxId, u32>,
    to: Option<&str>,
    subject: Option<&str>,
) -> Result<Option<Value>, ApiError> {
    for (name, _) in store.list_users()? {
        let Some(u) = store.find_user(&name)? else {
            continue;
        };
        for m in store.mailboxes(u.id)? {
            let after = seen.get(&m.id).copied().unwrap_or(0);
            let uids = store.search(m.id, &Cond::All)?;
            let new: Vec<u32> = uids.into_iter().filter(|&n| n > after).collect();
            let Some(&last) = new.last() else {
                continue;
            };
            let hit = store.scan(|s| {
                for meta in s.messages(m.id, &new, true)? {
                    match s.header(meta.body_id) {
                        Ok(h) if matches(&h, &u.name, to, subject) => {
                            return Ok(Some(summary(&meta, &h)));
                        }
                        Ok(_) | Err(StoreError::NotFound(_)) => {}
                        Err(e) => return Err(e),
                    }
                }
                Ok(None)
            })?;
            if let Some(mut hit) = hit {
                hit["user"] = json!(u.name);
                hit["folder"] = json!(display_name(&m));
                return Ok(Some(hit));
            }
            seen.insert(m.id, last);
        }
    }
    Ok(None)
}

/// GET /changes?since=N&timeout=S: the change hub's counter, once it is past N (at once when
/// `since` is not given or already behind); the page long-polls it to refresh as mail arrives.
fn changes(ctx: &Context, req: &Req) -> ApiResult {
    let limit = timeout(req)?;
    let deadline = Instant::now() + limit;
    let sub = ctx.notifier.subscribe_any();
    let since: Option<u64> = req
        .param("since")
        .map(|v| {
            v.parse()
                .map_err(|_| ApiError::new(400, format!("since={v:?} is not a number")))
        })
        .transpose()?;
    loop {
        let now = ctx.notifier.generation();
        if since.is_none_or(|s| now != s) {
            return Ok(Reply::json(
                200,
                &json!({ "generation": now, "changed": true }),
            ));
        }
        if !wait_for_change(&sub, deadline) {
            return Ok(Reply::json(
                200,
                &json!({ "generation": now, "changed": false }),
            ));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wait_matches_recipients_subject_and_owner() {
        let h = b"To: Bob <bob@example.org>\r\nCc: carol@example.org\r\nSubject: =?utf-8?q?Caf=C3=A9_order?=\r\n\r\n";
        assert!(matches(h, "bob", Some("BOB@example"), None));
        assert!(matches(h, "x", Some("carol@"), Some("café")));
        assert!(matches(h, "dave", Some("dave"), Some("ORDER")));
        assert!(!matches(h, "x", Some("dave"), None));
        assert!(!matches(h, "bob", None, Some("invoice")));
        assert!(matches(h, "x", None, None));
    }

    #[test]
    fn attachment_names_are_decoded() {
        let raw = b"Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: text/plain\r\n\r\nhello\r\n--b\r\nContent-Type: application/pdf; name=\"=?utf-8?q?r=C3=A9sum=C3=A9.pdf?=\"\r\nContent-Transfer-Encoding: base64\r\n\r\nAAEC\r\n--b\r\nContent-Type: text/plain\r\nContent-Disposition: attachment; filename*=utf-8''na%C3%AFve.txt\r\n\r\nnaive\r\n--b\r\nContent-Type: text/html\r\n\r\n<p>hi</p>\r\n--b--\r\n";
        let info = crate::mime::parse(raw);
        let mut parts = Parts::default();
        walk(raw, &info.root, String::new(), &mut parts);
        assert_eq!(parts.text.as_deref(), Some("hello"));
        assert_eq!(parts.html.as_deref(), Some("<p>hi</p>"));
        assert_eq!(
            json!(parts.attachments),
            json!([
                {"part": "2", "filename": "résumé.pdf", "content_type": "application/pdf", "size": 3},
                {"part": "3", "filename": "naïve.txt", "content_type": "text/plain", "size": 5},
            ])
        );
    }
}
