//! `serve --web-listen`: the developer page's JSON API driven over HTTP (curl) against the
//! running binary, with exact JSON; the wait endpoint; refusal of a non-loopback address; and
//! the page itself in headless Chromium (selenium, installed by .ci/run), which must show a
//! message sent by SMTP without a reload and open it.

mod common;
use common::*;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};

use serde_json::{json, Value};

/// The binary serving IMAP and the web page on ports of its choosing.
struct Running {
    child: Child,
    imap: u16,
    smtp: u16,
    web: String,
    _dir: TempDir,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(name: &str) -> Running {
    let dir = TempDir::new(name);
    let db = dir.database("w.db");
    database_with_alice(&db);
    let mut child = Command::new(env!("CARGO_BIN_EXE_liteimap"))
        .arg("--db")
        .arg(&db)
        .args([
            "serve",
            "--listen",
            "127.0.0.1:0",
            "--web-listen",
            "127.0.0.1:0",
            "--smtp-listen",
            "127.0.0.1:0",
        ])
        .env("RUST_LOG", "info")
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut err = BufReader::new(child.stderr.take().unwrap());
    let (mut web, mut imap, mut smtp) = (None, None, None);
    while web.is_none() || imap.is_none() || smtp.is_none() {
        let mut l = String::new();
        assert!(err.read_line(&mut l).unwrap() > 0, "server exited early");
        if l.contains("web page") {
            web = l
                .split_whitespace()
                .find(|w| w.starts_with("http://"))
                .map(|u| u.trim_end_matches('/').to_string());
        }
        if let Some(p) = listening_port(&l) {
            imap = Some(p);
        }
        smtp = smtp.or_else(|| port_after(&l, "accepting SMTP on "));
    }
    // Keep draining the log so the server never blocks on a full pipe.
    std::thread::spawn(move || for _ in err.lines() {});
    Running {
        child,
        imap: imap.unwrap(),
        smtp: smtp.unwrap(),
        web: web.unwrap(),
        _dir: dir,
    }
}

/// One HTTP exchange through curl: status, headers (lower-case names) and body.
fn http(method: &str, url: &str, json_body: Option<&str>) -> (u16, Vec<(String, String)>, Vec<u8>) {
    let mut cmd = Command::new("curl");
    cmd.args(["-sS", "-D", "-", "-X", method, url]);
    if let Some(b) = json_body {
        cmd.args(["-H", "Content-Type: application/json", "--data-binary", b]);
    }
    let out = cmd.output().expect("curl runs (.ci/run installs it)");
    assert!(
        out.status.success(),
        "curl failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let raw = out.stdout;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let mut lines = head.lines();
    let status = lines
        .next()
        .unwrap()
        .split(' ')
        .nth(1)
        .unwrap()
        .parse()
        .unwrap();
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    (status, headers, raw[split + 4..].to_vec())
}

fn get(url: &str) -> (u16, Value) {
    call("GET", url, None)
}

fn call(method: &str, url: &str, body: Option<&str>) -> (u16, Value) {
    let (status, headers, body) = http(method, url, body);
    let ct = headers
        .iter()
        .find(|(k, _)| k == "content-type")
        .map(|(_, v)| v.as_str());
    assert_eq!(ct, Some("application/json"), "{method} {url}");
    let v = serde_json::from_slice(&body).unwrap_or_else(|e| {
        panic!(
            "{method} {url}: not JSON ({e}): {}",
            String::from_utf8_lossy(&body)
        )
    });
    (status, v)
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

const HTML_MAIL: &str = "From: Alice <alice@example.org>\r\nTo: Bob <bob@example.org>\r\nSubject: =?utf-8?q?Caf=C3=A9?= order\r\nDate: Mon, 7 Feb 1994 21:52:25 -0800\r\nMessage-ID: <order@example.org>\r\nContent-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\nContent-Type: multipart/alternative; boundary=a\r\n\r\n--a\r\nContent-Type: text/plain; charset=utf-8\r\n\r\nOne café, please.\r\n--a\r\nContent-Type: text/html; charset=utf-8\r\n\r\n<p>One <b>café</b>, please.<img src=\"http://example.org/track.png\"></p>\r\n--a--\r\n--b\r\nContent-Type: application/pdf; name=menu.pdf\r\nContent-Disposition: attachment; filename=menu.pdf\r\nContent-Transfer-Encoding: base64\r\n\r\nJVBERi0=\r\n--b--\r\n";

#[test]
fn every_api_endpoint_answers_with_exact_json() {
    let s = start("web-api");
    let api = format!("{}/api/v1", s.web);

    assert_eq!(
        get(&format!("{api}/health")),
        (
            200,
            json!({"status": "ok", "version": env!("CARGO_PKG_VERSION"), "users": 1})
        )
    );
    assert_eq!(
        get(&format!("{api}/users")),
        (200, json!([{"name": "alice", "messages": 0}]))
    );

    // Users: create (given or generated password), refuse bad input, conflict.
    let users = format!("{api}/users");
    assert_eq!(
        call(
            "POST",
            &users,
            Some(r#"{"name":"bob","password":"builder"}"#)
        ),
        (201, json!({"name": "bob"}))
    );
    let (status, made) = call("POST", &users, Some(r#"{"name":"carol"}"#));
    assert_eq!(status, 201);
    assert_eq!(made["name"], "carol");
    let carol_pass = made["password"].as_str().unwrap().to_string();
    assert_eq!(carol_pass.len(), 16);
    assert_eq!(
        call("POST", &users, Some(r#"{"name":"bob","password":"x"}"#)),
        (
            409,
            json!({"error": "user bob already exists", "status": 409})
        )
    );
    let (status, e) = call(
        "POST",
        &users,
        Some(r#"{"name":"has space","password":"x"}"#),
    );
    assert_eq!((status, e["status"].clone()), (400, json!(400)));
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .starts_with("invalid user name"),
        "{e}"
    );
    let (status, e) = call("POST", &users, Some("{not json"));
    assert_eq!(status, 400);
    assert!(
        e["error"]
            .as_str()
            .unwrap()
            .starts_with("bad JSON for a new user"),
        "{e}"
    );
    // A form post (what another site could make a browser send) is not a JSON body.
    let (status, _, _) = http("POST", &users, None);
    assert_eq!(status, 400);
    let big = format!(r#"{{"name":"{}"}}"#, "x".repeat(70_000));
    assert_eq!(
        call("POST", &users, Some(&big)),
        (
            413,
            json!({"error": "request body over 65536 bytes", "status": 413})
        )
    );
    assert_eq!(
        get(&format!("{api}/users/carol")),
        (200, json!({"name": "carol", "messages": 0}))
    );
    {
        // The generated password logs in.
        let mut c = Client::connect(s.imap);
        c.greeting = c.read_line();
        let r = c.cmd(&format!("LOGIN carol {carol_pass}"));
        assert!(r.last().unwrap().contains("OK"), "{r:?}");
    }

    // Mail arrives over IMAP.
    let mut bob = Client::connect(s.imap);
    bob.greeting = bob.read_line();
    bob.cmd("LOGIN bob builder");
    let ok = bob.append_dated(
        "INBOX",
        "\\Flagged",
        "07-Feb-1994 21:52:25 -0800",
        HTML_MAIL.as_bytes(),
    );
    assert!(ok.contains("OK"), "{ok}");
    bob.append("Sent", "\\Seen", &message("second", "hi"));
    let inbox_validity: u64 = uidvalidity(&mut bob, "INBOX").parse().unwrap();

    // Folders, with counts.
    let (status, folders) = get(&format!("{api}/users/bob/folders"));
    assert_eq!(status, 200);
    let names: Vec<&str> = folders
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["Archive", "Drafts", "INBOX", "Junk", "Sent", "Trash"]
    );
    let size = HTML_MAIL.len();
    assert_eq!(
        folders[2],
        json!({"name": "INBOX", "special_use": null, "selectable": true, "messages": 1,
               "unseen": 1, "recent": 1, "deleted": 0, "size": size,
               "uidvalidity": inbox_validity, "uidnext": 2})
    );
    assert_eq!(folders[4]["special_use"], "\\Sent");
    assert_eq!(
        (folders[4]["messages"].clone(), folders[4]["unseen"].clone()),
        (json!(1), json!(0))
    );

    // Messages of a folder, paged, newest first.
    let summary = json!({"uid": 1, "flags": ["\\Flagged"], "size": size,
        "subject": "Café order", "from": "Alice <alice@example.org>", "to": "Bob <bob@example.org>",
        "date": "Mon, 7 Feb 1994 21:52:25 -0800", "internal_date": "1994-02-07T21:52:25-08:00"});
    assert_eq!(
        get(&format!("{api}/users/bob/folders/INBOX/messages")),
        (
            200,
            json!({"user": "bob", "folder": "INBOX", "total": 1, "offset": 0, "limit": 50,
                     "messages": [summary]})
        )
    );
    for i in 2..=3 {
        bob.append("INBOX", "", &message(&format!("m{i}"), "x"));
    }
    let (_, page) = get(&format!(
        "{api}/users/bob/folders/INBOX/messages?offset=1&limit=1"
    ));
    assert_eq!(
        (
            page["total"].clone(),
            page["offset"].clone(),
            page["limit"].clone()
        ),
        (json!(3), json!(1), json!(1))
    );
    let uids: Vec<u64> = page["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["uid"].as_u64().unwrap())
        .collect();
    assert_eq!(uids, [2]);
    assert_eq!(
        get(&format!("{api}/users/bob/folders/INBOX/messages?limit=501")),
        (
            400,
            json!({"error": "limit must be 1 to 500", "status": 400})
        )
    );
    assert_eq!(
        get(&format!("{api}/users/bob/folders/INBOX/messages?offset=-1")),
        (
            400,
            json!({"error": "offset=\"-1\" is not a non-negative number", "status": 400})
        )
    );

    // One message, parsed and raw.
    let (status, m) = get(&format!("{api}/users/bob/folders/INBOX/messages/1"));
    assert_eq!(status, 200);
    let mut want = summary.clone();
    want["folder"] = json!("INBOX");
    want["headers"] = json!([
        {"name": "From", "value": "Alice <alice@example.org>"},
        {"name": "To", "value": "Bob <bob@example.org>"},
        {"name": "Subject", "value": "Café order"},
        {"name": "Date", "value": "Mon, 7 Feb 1994 21:52:25 -0800"},
        {"name": "Message-ID", "value": "<order@example.org>"},
        {"name": "Content-Type", "value": "multipart/mixed; boundary=b"},
    ]);
    want["text"] = json!("One café, please.");
    want["html"] =
        json!("<p>One <b>café</b>, please.<img src=\"http://example.org/track.png\"></p>");
    want["attachments"] = json!([{"part": "2", "filename": "menu.pdf", "content_type": "application/pdf", "size": 5}]);
    assert_eq!(m, want);
    let (status, headers, raw) = http(
        "GET",
        &format!("{api}/users/bob/folders/INBOX/messages/1/raw"),
        None,
    );
    assert_eq!(
        (status, header(&headers, "content-type")),
        (200, Some("message/rfc822"))
    );
    assert_eq!(raw, HTML_MAIL.as_bytes());
    let (status, headers, html) = http(
        "GET",
        &format!("{api}/users/bob/folders/INBOX/messages/1/html"),
        None,
    );
    assert_eq!(
        (status, header(&headers, "content-type")),
        (200, Some("text/html; charset=utf-8"))
    );
    assert_eq!(
        header(&headers, "content-security-policy"),
        Some(
            "default-src 'none'; style-src 'unsafe-inline'; img-src data:; font-src data:; sandbox"
        )
    );
    assert_eq!(html, want["html"].as_str().unwrap().as_bytes());
    let (status, headers, pdf) = http(
        "GET",
        &format!("{api}/users/bob/folders/INBOX/messages/1/parts/2"),
        None,
    );
    assert_eq!((status, pdf.as_slice()), (200, b"%PDF-".as_slice()));
    assert_eq!(
        header(&headers, "content-type"),
        Some("application/octet-stream")
    );
    assert_eq!(
        header(&headers, "content-disposition"),
        Some("attachment; filename=\"menu.pdf\"; filename*=UTF-8''menu%2Epdf")
    );
    assert_eq!(
        get(&format!("{api}/users/bob/folders/INBOX/messages/1/parts/9")),
        (
            404,
            json!({"error": "message 1 has no part 9", "status": 404})
        )
    );
    assert_eq!(
        get(&format!(
            "{api}/users/bob/folders/INBOX/messages/1/parts/1.x"
        )),
        (
            400,
            json!({"error": "part \"1.x\" is not a part number such as 2 or 1.3", "status": 400})
        )
    );
    assert_eq!(
        get(&format!("{api}/users/bob/folders/INBOX/messages/2/html")),
        (
            404,
            json!({"error": "message 2 has no HTML part", "status": 404})
        )
    );

    // Errors: unknown things, bad numbers, wrong methods.
    for (url, error) in [
        (
            format!("{api}/users/nobody/folders"),
            "no such user: nobody",
        ),
        (
            format!("{api}/users/bob/folders/Nope/messages"),
            "no such folder: Nope",
        ),
        (
            format!("{api}/users/bob/folders/INBOX/messages/99"),
            "no message with UID 99 in INBOX",
        ),
        (
            format!("{api}/nothing"),
            "no such API endpoint: /api/v1/nothing",
        ),
        (
            format!("{}/nothing.html", s.web),
            "no such page: /nothing.html",
        ),
        (
            format!("{api}/traces/987654321"),
            "no trace of session 987654321 (unknown or dropped)",
        ),
    ] {
        assert_eq!(
            get(&url),
            (404, json!({"error": error, "status": 404})),
            "{url}"
        );
    }
    assert_eq!(
        get(&format!("{api}/users/bob/folders/INBOX/messages/x")),
        (
            400,
            json!({"error": "UID \"x\" is not a positive number", "status": 400})
        )
    );
    assert_eq!(
        get(&format!("{api}/traces/x")),
        (
            400,
            json!({"error": "trace id \"x\" is not a number", "status": 400})
        )
    );
    assert_eq!(
        get(&format!("{api}/users/%FF/folders")),
        (
            400,
            json!({"error": "the path is not UTF-8 once %-decoded", "status": 400})
        )
    );
    let (status, headers, body) = http("PUT", &format!("{api}/health"), None);
    assert_eq!((status, header(&headers, "allow")), (405, Some("GET")));
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"error": "method PUT not allowed here; use GET", "status": 405})
    );
    // Another site reached through DNS rebinding names itself in Host.
    let out = Command::new("curl")
        .args([
            "-sS",
            "-H",
            "Host: evil.example",
            &format!("{api}/users"),
            "-w",
            " %{http_code}",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        r#"{"error":"the Host header must name localhost or a loopback address","status":400} 400"#
    );

    // Traces: the list, and each listed session's lines, in the agreed shape; the page turns
    // tracing on, so the IMAP sessions above are there, logged in, with the password masked.
    let (status, traces) = get(&format!("{api}/traces"));
    assert_eq!(status, 200);
    let imap = traces
        .as_array()
        .unwrap()
        .iter()
        .find(|t| t["protocol"] == "imap" && !t["user"].is_null())
        .expect("a logged-in IMAP session's trace");
    let (_, one) = get(&format!("{api}/traces/{}", imap["id"]));
    let login = one["lines"]
        .as_array()
        .unwrap()
        .iter()
        .find(|l| l["from_client"] == true && l["text"].as_str().unwrap().contains("LOGIN"))
        .expect("the LOGIN line");
    assert!(login["text"].as_str().unwrap().ends_with(" ***"), "{login}");
    let keys = |v: &Value| -> Vec<String> { v.as_object().unwrap().keys().cloned().collect() };
    for t in traces.as_array().unwrap() {
        assert_eq!(
            keys(t),
            [
                "id",
                "lines",
                "open",
                "peer",
                "protocol",
                "started_unix_ms",
                "user"
            ]
        );
        let (status, one) = get(&format!("{api}/traces/{}", t["id"]));
        assert_eq!(
            (status, one["session"]["id"].clone()),
            (200, t["id"].clone())
        );
        for l in one["lines"].as_array().unwrap() {
            assert_eq!(keys(l), ["at_unix_ms", "from_client", "text"]);
        }
    }

    // The change counter moves with each commit.
    let (_, c0) = get(&format!("{api}/changes"));
    let g = c0["generation"].as_u64().unwrap();
    assert_eq!(c0["changed"], true);
    assert_eq!(
        get(&format!("{api}/changes?since={g}&timeout=0")),
        (200, json!({"generation": g, "changed": false}))
    );
    bob.append("INBOX", "", &message("m4", "x"));
    let (_, c1) = get(&format!("{api}/changes?since={g}&timeout=60"));
    assert_eq!(c1["changed"], true);
    assert!(c1["generation"].as_u64().unwrap() > g);

    // Purging: one user's mail, then everyone's; the folders stay, sessions see EXPUNGEs.
    bob.cmd("SELECT INBOX");
    let alice = format!("{api}/users/alice");
    assert_eq!(
        call("DELETE", &format!("{alice}/messages"), None),
        (200, json!({"purged": 0, "user": "alice"}))
    );
    assert_eq!(
        call("DELETE", &format!("{api}/users/bob/messages"), None),
        (200, json!({"purged": 5, "user": "bob"}))
    );
    let r = bob.cmd("NOOP");
    assert_eq!(
        r.iter().filter(|l| l.ends_with(" EXPUNGE")).count(),
        4,
        "{r:?}"
    );
    assert_eq!(
        get(&format!("{api}/users/bob")),
        (200, json!({"name": "bob", "messages": 0}))
    );
    assert_eq!(
        get(&format!("{api}/users/bob/folders"))
            .1
            .as_array()
            .unwrap()
            .len(),
        6
    );
    bob.append("INBOX", "", &message("again", "x"));
    assert_eq!(
        call("DELETE", &format!("{api}/messages"), None),
        (200, json!({"purged": 1}))
    );
    assert_eq!(
        call("DELETE", &format!("{api}/users/nobody/messages"), None),
        (404, json!({"error": "no such user: nobody", "status": 404}))
    );

    // Deleting users.
    assert_eq!(
        call("DELETE", &format!("{api}/users/carol"), None),
        (200, json!({"deleted": "carol"}))
    );
    assert_eq!(
        call("DELETE", &format!("{api}/users/carol"), None),
        (404, json!({"error": "no such user: carol", "status": 404}))
    );
    assert_eq!(
        get(&users),
        (
            200,
            json!([{"name": "alice", "messages": 0}, {"name": "bob", "messages": 0}])
        )
    );

    // Folder names: a hierarchy's delimiter %-escaped, modified UTF-7 shown as UTF-8.
    bob.cmd("CREATE Lists/liteimap");
    bob.cmd("CREATE Caf&AOk-");
    bob.append("Caf&AOk-", "", &message("in utf8", "x"));
    let (_, folders) = get(&format!("{api}/users/bob/folders"));
    let names: Vec<&str> = folders
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        [
            "Archive",
            "Café",
            "Drafts",
            "INBOX",
            "Junk",
            "Lists",
            "Lists/liteimap",
            "Sent",
            "Trash"
        ]
    );
    assert_eq!(
        get(&format!(
            "{api}/users/bob/folders/Lists%2Fliteimap/messages"
        ))
        .1["total"],
        0
    );
    let (status, page) = get(&format!("{api}/users/bob/folders/Caf%C3%A9/messages"));
    assert_eq!(
        (status, page["folder"].clone(), page["total"].clone()),
        (200, json!("Café"), json!(1))
    );

    // The page and its assets, with the page's policy.
    for (path, ct) in [
        ("/", "text/html; charset=utf-8"),
        ("/app.js", "text/javascript; charset=utf-8"),
        ("/style.css", "text/css; charset=utf-8"),
    ] {
        let (status, headers, _) = http("GET", &format!("{}{path}", s.web), None);
        assert_eq!(
            (status, header(&headers, "content-type")),
            (200, Some(ct)),
            "{path}"
        );
        assert!(header(&headers, "content-security-policy")
            .unwrap()
            .starts_with("default-src 'none'; script-src 'self'"));
    }
}

#[test]
fn wait_returns_when_a_message_is_appended_and_times_out_cleanly() {
    let s = start("web-wait");
    let api = format!("{}/api/v1", s.web);
    assert_eq!(
        get(&format!("{api}/wait?to=alice&subject=invoice&timeout=0")),
        (
            408,
            json!({"error": "timed out: a message with to \"alice\" and subject \"invoice\" did not arrive within 0 s", "status": 408})
        )
    );
    assert_eq!(
        get(&format!("{api}/wait?timeout=301")),
        (
            400,
            json!({"error": "timeout must be at most 300 seconds", "status": 400})
        )
    );
    let mut c = Client::connect(s.imap);
    c.greeting = c.read_line();
    c.cmd("LOGIN alice wonderland");
    // The waiter answers with the matching message whether it arrives before or while it
    // waits; an unrelated one wakes it and it goes on waiting.
    let url = format!("{api}/wait?to=bob%40example.org&subject=Invoice+42&timeout=120");
    let waiter = std::thread::spawn(move || get(&url));
    c.append("INBOX", "", &message("unrelated", "x"));
    c.append("Archive", "", &message("invoice 42", "x"));
    let (status, hit) = waiter.join().unwrap();
    assert_eq!(status, 200, "{hit}");
    assert_eq!(
        (
            hit["user"].clone(),
            hit["folder"].clone(),
            hit["uid"].clone(),
            hit["subject"].clone()
        ),
        (
            json!("alice"),
            json!("Archive"),
            json!(1),
            json!("invoice 42")
        )
    );
    // An unmatched wait ends at its timeout with a clear error (not a hang, not a 500).
    assert_eq!(
        get(&format!("{api}/wait?subject=never&timeout=1")),
        (
            408,
            json!({"error": "timed out: a message with subject \"never\" did not arrive within 1 s", "status": 408})
        )
    );
}

#[test]
fn web_listen_refuses_a_non_loopback_address() {
    let dir = TempDir::new("web-public");
    let db = dir.database("p.db");
    for addr in ["0.0.0.0:0", "[::]:0"] {
        let out = Command::new(env!("CARGO_BIN_EXE_liteimap"))
            .arg("--db")
            .arg(&db)
            .args(["serve", "--listen", "127.0.0.1:0", "--web-listen", addr])
            .output()
            .unwrap();
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(
            err.contains(
                "not a loopback address; the web page shows every user's mail without a login"
            ),
            "{err}"
        );
    }
    // Nothing was started or written: no user was created in the (new) database.
    let store = common::open_store(&db);
    assert_eq!(store.user_count().unwrap(), 0);
}

/// The page in headless Chromium: a message sent by SMTP while it is open shows up without a
/// reload, opens, and the HTML part sits in a sandboxed iframe. Saves target/web-screenshot.png.
const BROWSER: &str = r##"
import shutil, smtplib, sys, tempfile
from selenium import webdriver
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.support.ui import WebDriverWait
from selenium.common.exceptions import StaleElementReferenceException

url, smtp_port, shot, mail = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
profile = tempfile.mkdtemp(prefix="liteimap-chromium-")
opts = webdriver.ChromeOptions()
opts.binary_location = "/usr/bin/chromium"
for a in ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
          "--disable-background-networking", "--disable-component-update", "--disable-sync",
          "--disable-dev-shm-usage", "--window-size=1280,900",
          "--user-data-dir=" + profile]:
    opts.add_argument(a)
d = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=opts)
try:
    # The page re-renders the message list on every live event, so an element found a moment
    # ago may be replaced before it is read or clicked: find it again, as a user's click would.
    wait = WebDriverWait(d, 60, ignored_exceptions=[StaleElementReferenceException])
    def click(selector):
        wait.until(lambda d: d.find_element(By.CSS_SELECTOR, selector).click() or True)
    d.get(url)
    wait.until(lambda d: d.find_element(By.CSS_SELECTOR, "#users li[data-user='alice']"))
    click("#users li[data-user='alice']")
    wait.until(lambda d: "INBOX" in d.find_element(By.ID, "messages-title").text)
    wait.until(lambda d: d.find_element(By.ID, "live").text == "live")
    d.execute_script("window.notReloaded = true")
    with smtplib.SMTP("127.0.0.1", smtp_port) as c:
        c.sendmail("shop@example.com", ["alice@example.com"], open(mail, "rb").read())
    row = "#messages tbody tr[data-uid='1'] td.subject"
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, row) and d.find_element(By.CSS_SELECTOR, row).text == "Café order")
    print("reloaded" if not d.execute_script("return window.notReloaded === true") else "no reload")
    click(row)
    wait.until(lambda d: d.find_element(By.ID, "message-text").text == "One café, please.")
    print("subject:", d.find_element(By.ID, "message-subject").text)
    print("attachments:", d.find_element(By.CSS_SELECTOR, "#message-attachments .attachment").text)
    d.find_element(By.ID, "part-html").click()
    frame = d.find_element(By.ID, "message-html")
    print("sandbox:", repr(frame.get_attribute("sandbox")))
    d.switch_to.frame(frame)
    wait.until(lambda d: d.find_elements(By.TAG_NAME, "b"))
    print("html:", d.find_element(By.TAG_NAME, "p").text)
    d.switch_to.default_content()
    d.save_screenshot(shot)
    d.find_element(By.ID, "tab-traces").click()
    wait.until(lambda d: d.find_elements(By.CSS_SELECTOR, "#sessions li"))
    print("traces tab:", d.find_element(By.ID, "traces-view").is_displayed(), d.find_element(By.ID, "mail-view").is_displayed())
finally:
    d.quit()
    shutil.rmtree(profile, ignore_errors=True)
"##;

#[test]
fn the_page_shows_a_new_message_without_reloading_in_chromium() {
    let s = start("web-browser");
    let dir = TempDir::new("web-browser-mail");
    let mail = dir.path().join("order.eml");
    std::fs::write(&mail, HTML_MAIL).unwrap();
    let shot = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/web-screenshot.png");
    let _ = std::fs::remove_file(&shot);
    let out = python(
        BROWSER,
        &[
            &format!("{}/", s.web),
            &s.smtp.to_string(),
            shot.to_str().unwrap(),
            mail.to_str().unwrap(),
        ],
    );
    assert_eq!(
        out.lines().collect::<Vec<_>>(),
        [
            "no reload",
            "subject: Café order",
            "attachments: menu.pdf · application/pdf · 5 B",
            "sandbox: ''",
            "html: One café, please.",
            "traces tab: True False",
        ]
    );
    assert!(std::fs::metadata(&shot).unwrap().len() > 10_000);
}
