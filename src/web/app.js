// liteimap's developer page: users → folders → messages → one message, refreshed as mail
// arrives (long polling /api/v1/changes, fed by the server's change hub), and protocol traces.
// Plain DOM code, no build step; every value from the server goes in as text, never as HTML.
"use strict";

const api = "/api/v1";
const state = { user: null, folder: null, uid: null, known: new Set(), part: "text", session: null };
const $ = (id) => document.getElementById(id);

function el(tag, props, ...children) {
  const e = document.createElement(tag);
  Object.assign(e, props || {});
  for (const c of children) e.append(c);
  return e;
}

const enc = encodeURIComponent;
const folderUrl = () => `${api}/users/${enc(state.user)}/folders/${enc(state.folder)}`;

async function getJson(url) {
  const r = await fetch(url, { headers: { Accept: "application/json" } });
  const body = await r.json();
  if (!r.ok) throw new Error(body.error || r.statusText);
  return body;
}

function size(n) {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KB`;
  return `${(n / 1048576).toFixed(1)} MB`;
}

function shortDate(m) {
  const d = new Date(m.internal_date || m.date || "");
  return isNaN(d) ? (m.date || "") : d.toLocaleString();
}

function select(list, li) {
  for (const x of list.children) x.classList.toggle("selected", x === li);
}

async function loadUsers() {
  const users = await getJson(`${api}/users`);
  const ul = $("users");
  ul.replaceChildren();
  if (!users.length) ul.append(el("li", { className: "empty", textContent: "no users" }));
  for (const u of users) {
    const li = el("li", { title: u.name }, el("span", { textContent: u.name }),
      el("span", { className: "count", textContent: u.messages }));
    li.dataset.user = u.name;
    li.onclick = () => { state.user = u.name; state.folder = null; closeMessage(); refresh(); };
    if (u.name === state.user) li.classList.add("selected");
    ul.append(li);
  }
  if (!state.user && users.length) state.user = users[0].name;
  for (const li of ul.children) li.classList.toggle("selected", li.dataset.user === state.user);
}

async function loadFolders() {
  const ul = $("folders");
  if (!state.user) return;
  let folders;
  try { folders = await getJson(`${api}/users/${enc(state.user)}/folders`); }
  catch (e) { state.user = null; ul.replaceChildren(el("li", { className: "empty", textContent: e.message })); return; }
  ul.replaceChildren();
  for (const f of folders) {
    const n = el("span", { className: f.unseen ? "count unseen" : "count",
      textContent: f.unseen ? `${f.unseen}/${f.messages}` : f.messages,
      title: `${f.unseen} unseen of ${f.messages}, ${size(f.size)}` });
    const li = el("li", {}, el("span", { textContent: f.name }), n);
    li.dataset.folder = f.name;
    if (f.selectable) li.onclick = () => { state.folder = f.name; state.known = new Set(); closeMessage(); refresh(); };
    else li.classList.add("empty");
    ul.append(li);
  }
  if (!state.folder && folders.some((f) => f.name === "INBOX")) state.folder = "INBOX";
  for (const li of ul.children) li.classList.toggle("selected", li.dataset.folder === state.folder);
}

async function loadMessages() {
  const tbody = $("messages").tBodies[0];
  if (!state.user || !state.folder) return;
  let page;
  try { page = await getJson(`${folderUrl()}/messages?limit=200`); }
  catch (e) { state.folder = null; tbody.replaceChildren(el("tr", { className: "empty" }, el("td", { colSpan: 6, textContent: e.message }))); return; }
  $("messages-title").textContent = `${page.folder} — ${page.total} message${page.total === 1 ? "" : "s"}`;
  const first = state.known.size === 0;
  tbody.replaceChildren();
  if (!page.messages.length) tbody.append(el("tr", { className: "empty" }, el("td", { colSpan: 6, textContent: "no messages" })));
  for (const m of page.messages) {
    const flags = el("td", {});
    for (const f of m.flags) flags.append(el("span", { className: "flag", textContent: f }));
    const tr = el("tr", {},
      el("td", { className: "num uid", textContent: m.uid }), flags,
      el("td", { className: "from", textContent: m.from || "" }),
      el("td", { className: "subject", textContent: m.subject || "(no subject)" }),
      el("td", { textContent: shortDate(m) }),
      el("td", { className: "num", textContent: size(m.size) }));
    tr.dataset.uid = m.uid;
    if (!m.flags.some((f) => f.toLowerCase() === "\\seen")) tr.classList.add("unseen");
    if (!first && !state.known.has(m.uid)) tr.classList.add("new");
    if (m.uid === state.uid) tr.classList.add("selected");
    tr.onclick = () => openMessage(m.uid);
    tbody.append(tr);
  }
  state.known = new Set(page.messages.map((m) => m.uid));
}

function closeMessage() {
  state.uid = null;
  $("message-pane").hidden = true;
}

function showPart(which) {
  state.part = which;
  for (const p of ["text", "html", "headers"]) $(`part-${p}`).classList.toggle("active", p === which);
  $("message-text").hidden = which !== "text";
  $("message-html").hidden = which !== "html";
  $("message-all-headers").hidden = which !== "headers";
}

function headerRows(tbody, rows) {
  tbody.replaceChildren();
  for (const [k, v] of rows) tbody.append(el("tr", {}, el("td", { textContent: k }), el("td", { textContent: v || "" })));
}

async function openMessage(uid) {
  const m = await getJson(`${folderUrl()}/messages/${uid}`);
  state.uid = uid;
  for (const tr of $("messages").tBodies[0].rows) tr.classList.toggle("selected", tr.dataset.uid == uid);
  $("message-subject").textContent = m.subject || "(no subject)";
  $("message-raw").href = `${folderUrl()}/messages/${uid}/raw`;
  headerRows($("message-headers").tBodies[0], [["From", m.from], ["To", m.to], ["Date", m.date],
    ["UID", `${m.uid} in ${m.folder}`], ["Flags", m.flags.join(" ") || "none"], ["Size", size(m.size)]]);
  headerRows($("message-all-headers").tBodies[0], m.headers.map((h) => [h.name, h.value]));
  const att = $("message-attachments");
  att.replaceChildren();
  if (m.attachments.length) att.append(el("span", { className: "label", textContent: "Attachments" }));
  for (const a of m.attachments) att.append(el("a", { className: "attachment",
    href: `${folderUrl()}/messages/${uid}/parts/${a.part}`,
    textContent: `${a.filename || "(unnamed)"} · ${a.content_type} · ${size(a.size)}` }));
  $("message-text").textContent = m.text ?? "(no text part)";
  $("part-html").disabled = m.html == null;
  const frame = $("message-html");
  // The HTML part comes from its own URL with a CSP that loads nothing remote, into an
  // iframe sandboxed without allow-scripts.
  frame.src = m.html == null ? "about:blank" : `${folderUrl()}/messages/${uid}/html`;
  showPart(m.text == null && m.html != null ? "html" : (state.part === "html" && m.html == null ? "text" : state.part));
  $("message-pane").hidden = false;
}

// One refresh at a time; a change during one runs another after it.
let busy = false, again = false;
async function refresh() {
  if (busy) { again = true; return; }
  busy = true;
  try {
    do {
      again = false;
      try {
        await loadUsers();
        await loadFolders();
        await loadMessages();
        if (!$("traces-view").hidden) await loadSessions();
      } catch (e) {
        console.error(e);
      }
    } while (again);
  } finally {
    busy = false;
  }
}

// Long poll: each answer says whether the hub's change counter moved past what we saw. The
// counter is read before the lists it covers, so a change in between is not missed.
async function live() {
  let since = null;
  for (;;) {
    try {
      const q = since === null ? "" : `?since=${since}&timeout=25`;
      const r = await getJson(`${api}/changes${q}`);
      $("live").textContent = "live";
      $("live").className = "live on";
      since = r.generation;
      if (r.changed) await refresh();
    } catch (e) {
      $("live").textContent = "disconnected, retrying";
      $("live").className = "live off";
      await new Promise((ok) => setTimeout(ok, 2000));
    }
  }
}

async function loadSessions() {
  const list = await getJson(`${api}/traces`);
  const ul = $("sessions");
  ul.replaceChildren();
  if (!list.length) ul.append(el("li", { className: "empty", textContent: "no sessions traced" }));
  for (const s of list.slice().reverse()) {
    const when = new Date(s.started_unix_ms).toLocaleTimeString();
    const li = el("li", {}, el("span", { textContent: `#${s.id} ${s.protocol.toUpperCase()} ${s.user || s.peer}` }),
      el("span", { className: "count", textContent: `${when} · ${s.lines}${s.open ? " · open" : ""}` }));
    li.onclick = () => { select(ul, li); loadTrace(s.id); };
    if (s.id === state.session) li.classList.add("selected");
    ul.append(li);
  }
  if (state.session !== null) await loadTrace(state.session);
}

async function loadTrace(id) {
  state.session = id;
  const box = $("trace");
  let t;
  try { t = await getJson(`${api}/traces/${id}`); }
  catch (e) { box.replaceChildren(el("p", { className: "empty", textContent: e.message })); return; }
  const s = t.session;
  $("trace-title").textContent = s ? `Session #${s.id} — ${s.protocol.toUpperCase()} from ${s.peer}${s.user ? ` as ${s.user}` : ""}` : `Session #${id}`;
  box.replaceChildren();
  for (const l of t.lines) {
    const at = new Date(l.at_unix_ms).toISOString().slice(11, 23);
    box.append(el("div", { className: `line ${l.from_client ? "c" : "s"}` },
      el("span", { className: "at", textContent: at }),
      el("span", { textContent: l.from_client ? "C:" : "S:" }),
      el("span", { textContent: l.text })));
  }
}

function showTab(traces) {
  $("tab-mail").classList.toggle("active", !traces);
  $("tab-traces").classList.toggle("active", traces);
  $("mail-view").hidden = traces;
  $("traces-view").hidden = !traces;
  if (traces) loadSessions().catch(console.error);
}

window.addEventListener("DOMContentLoaded", () => {
  $("tab-mail").onclick = () => showTab(false);
  $("tab-traces").onclick = () => showTab(true);
  $("traces-refresh").onclick = () => loadSessions().catch(console.error);
  $("message-close").onclick = closeMessage;
  for (const p of ["text", "html", "headers"]) $(`part-${p}`).onclick = () => showPart(p);
  live();
});
