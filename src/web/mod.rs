//! `--web-listen ADDR`: the developer page at `/` and its JSON API under `/api/v1` (issue 23).
//!
//! HTTP is tiny_http (as for /metrics): it parses requests on its own thread, and each request
//! is answered on a thread of its own (at most [`MAX_HANDLERS`] at once), so a long poll never
//! holds up the page. Store calls are plain synchronous calls through the store's public API.
//! The page's HTML, JS and CSS are embedded files of this directory; nothing is loaded from
//! elsewhere. There is no login: [`bind`] refuses any address but loopback, and requests must
//! name a loopback host (no DNS rebinding) and send JSON bodies as `application/json` (a
//! cross-site form cannot post one without the browser asking first).

mod api;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tiny_http::{Header, Method, Request, Response};

use crate::server::Context;
use crate::store::StoreError;

/// Requests answered at once; more get 503 (each long poll holds one).
pub const MAX_HANDLERS: usize = 64;
/// Largest request body read (JSON for creating a user is a few dozen bytes).
pub const MAX_BODY: usize = 64 * 1024;

const INDEX_HTML: &str = include_str!("index.html");
const APP_JS: &str = include_str!("app.js");
const STYLE_CSS: &str = include_str!("style.css");

/// The page's own policy: its script and style only, frames only from here (the HTML parts).
const PAGE_CSP: &str = "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; frame-src 'self'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

/// Bind the web page's address (before anything is written, like the other listeners):
/// loopback only, since the page shows every user's mail without a login.
pub fn bind(addr: &str) -> Result<tiny_http::Server, String> {
    let parsed: SocketAddr = addr.parse().map_err(|_| {
        format!("invalid web listen address {addr:?} (expected IP:PORT, e.g. 127.0.0.1:8025)")
    })?;
    if !parsed.ip().is_loopback() {
        return Err(format!(
            "--web-listen {parsed}: not a loopback address; the web page shows every user's mail without a login, so it listens on 127.0.0.1 or [::1] only"
        ));
    }
    tiny_http::Server::http(parsed)
        .map_err(|e| format!("cannot listen for the web page on {parsed}: {e}"))
}

/// Answer requests on their own threads until the process ends.
pub fn serve(server: tiny_http::Server, ctx: Arc<Context>) {
    std::thread::spawn(move || {
        let busy = Arc::new(AtomicUsize::new(0));
        for request in server.incoming_requests() {
            if busy.fetch_add(1, Ordering::SeqCst) >= MAX_HANDLERS {
                busy.fetch_sub(1, Ordering::SeqCst);
                let r = Reply::error(503, "too many requests at once; try again");
                respond(request, r);
                continue;
            }
            let (ctx, slot) = (ctx.clone(), Slot(busy.clone()));
            let spawned = std::thread::Builder::new()
                .name("web".into())
                .spawn(move || {
                    let _slot = slot;
                    handle(&ctx, request);
                });
            if let Err(e) = spawned {
                // The request went with the closure; tiny_http answers a dropped one itself.
                log::warn!("web: cannot start a thread for a request: {e}");
            }
        }
    });
}

/// One of the [`MAX_HANDLERS`] places, given back when its thread ends (even by a panic).
struct Slot(Arc<AtomicUsize>);

impl Drop for Slot {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

/// An answer: status, content type, body and extra headers.
pub(crate) struct Reply {
    status: u16,
    content_type: &'static str,
    body: Vec<u8>,
    headers: Vec<(&'static str, String)>,
}

impl Reply {
    pub(crate) fn json(status: u16, value: &serde_json::Value) -> Reply {
        Reply {
            status,
            content_type: "application/json",
            body: serde_json::to_vec(value).unwrap_or_default(),
            headers: Vec::new(),
        }
    }

    pub(crate) fn error(status: u16, message: &str) -> Reply {
        Reply::json(
            status,
            &serde_json::json!({ "error": message, "status": status }),
        )
    }

    pub(crate) fn bytes(content_type: &'static str, body: Vec<u8>) -> Reply {
        Reply {
            status: 200,
            content_type,
            body,
            headers: Vec::new(),
        }
    }

    pub(crate) fn with_header(mut self, name: &'static str, value: impl Into<String>) -> Reply {
        self.headers.push((name, value.into()));
        self
    }
}

/// An API failure: the status and the message the JSON error carries.
#[derive(Debug)]
pub(crate) struct ApiError {
    pub status: u16,
    pub message: String,
}

impl ApiError {
    pub(crate) fn new(status: u16, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            message: message.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        let status = match &e {
            StoreError::NotFound(_) | StoreError::Expunged(_) => 404,
            StoreError::AlreadyExists(_) => 409,
            StoreError::NotAllowed(_) => 400,
            StoreError::Full => 507,
            StoreError::Unavailable(_) | StoreError::InDoubt(_) => 503,
            StoreError::Unsupported(_) => 501,
            _ => 500,
        };
        if status == 500 {
            log::error!("web: {e}");
        }
        ApiError::new(status, e.to_string())
    }
}

/// What a handler returns.
pub(crate) type ApiResult = Result<Reply, ApiError>;

/// A request as the handlers see it: method, decoded path segments, query pairs, body.
pub(crate) struct Req {
    pub method: Method,
    pub segments: Vec<String>,
    pub query: Vec<(String, String)>,
    pub body: Vec<u8>,
    pub json_body: bool,
}

impl Req {
    /// The first value of query parameter `name`.
    pub fn param(&self, name: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

fn header_value<'a>(request: &'a Request, name: &'static str) -> Option<&'a str> {
    request
        .headers()
        .iter()
        .find(|h| h.field.equiv(name))
        .map(|h| h.value.as_str())
}

/// Host names a loopback page is reached by: `localhost`, 127.0.0.0/8 and ::1, with a port.
fn loopback_host(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(':') && p.bytes().all(|b| b.is_ascii_digit()) => h,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|a| a.is_loopback())
}

fn handle(ctx: &Context, mut request: Request) {
    let reply = match read(&mut request) {
        Ok(req) => route(ctx, &req).unwrap_or_else(|e| Reply::error(e.status, &e.message)),
        Err(e) => Reply::error(e.status, &e.message),
    };
    respond(request, reply);
}

/// Check the Host header, split the URL and read the body (at most [`MAX_BODY`] bytes).
fn read(request: &mut Request) -> Result<Req, ApiError> {
    if !header_value(request, "Host").is_some_and(loopback_host) {
        return Err(ApiError::new(
            400,
            "the Host header must name localhost or a loopback address",
        ));
    }
    let url = request.url().to_string();
    let (path, query) = url.split_once('?').unwrap_or((&url, ""));
    let mut segments = Vec::new();
    for s in path.split('/').filter(|s| !s.is_empty()) {
        let decoded = percent_encoding::percent_decode_str(s)
            .decode_utf8()
            .map_err(|_| ApiError::new(400, "the path is not UTF-8 once %-decoded"))?;
        segments.push(decoded.into_owned());
    }
    let query = form_urlencoded::parse(query.as_bytes())
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if request.body_length().is_some_and(|n| n > MAX_BODY) {
        return Err(ApiError::new(
            413,
            format!("request body over {MAX_BODY} bytes"),
        ));
    }
    let mut body = Vec::new();
    use std::io::Read as _;
    request
        .as_reader()
        .take(MAX_BODY as u64 + 1)
        .read_to_end(&mut body)
        .map_err(|e| ApiError::new(400, format!("reading the request body: {e}")))?;
    if body.len() > MAX_BODY {
        return Err(ApiError::new(
            413,
            format!("request body over {MAX_BODY} bytes"),
        ));
    }
    let json_body = header_value(request, "Content-Type").is_some_and(|t| {
        t.split(';')
            .next()
            .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"))
    });
    Ok(Req {
        method: request.method().clone(),
        segments,
        query,
        body,
        json_body,
    })
}

fn respond(request: Request, reply: Reply) {
    let mut response = Response::from_data(reply.body).with_status_code(reply.status);
    let headers = [
        ("Content-Type", reply.content_type.to_string()),
        ("Cache-Control", "no-store".to_string()),
        ("X-Content-Type-Options", "nosniff".to_string()),
    ];
    for (name, value) in headers.into_iter().chain(reply.headers) {
        if let Ok(h) = Header::from_bytes(name, value) {
            response.add_header(h);
        }
    }
    if let Err(e) = request.respond(response) {
        log::debug!("web: answering a request: {e}");
    }
}

/// The static page, or one of the API's routes.
fn route(ctx: &Context, req: &Req) -> ApiResult {
    let seg: Vec<&str> = req.segments.iter().map(String::as_str).collect();
    let page = |content_type, text: &str| {
        allow(req, &[Method::Get], || {
            Ok(Reply::bytes(content_type, text.as_bytes().to_vec())
                .with_header("Content-Security-Policy", PAGE_CSP))
        })
    };
    match seg.as_slice() {
        [] | ["index.html"] => page("text/html; charset=utf-8", INDEX_HTML),
        ["app.js"] => page("text/javascript; charset=utf-8", APP_JS),
        ["style.css"] => page("text/css; charset=utf-8", STYLE_CSS),
        ["api", "v1", rest @ ..] => api::route(ctx, req, rest),
        _ => Err(ApiError::new(
            404,
            format!("no such page: /{}", req.segments.join("/")),
        )),
    }
}

/// Run `f` when the request's method is one of `methods`; 405 with an Allow header otherwise.
pub(crate) fn allow(req: &Req, methods: &[Method], f: impl FnOnce() -> ApiResult) -> ApiResult {
    if methods.contains(&req.method) {
        return f();
    }
    let names: Vec<String> = methods.iter().map(ToString::to_string).collect();
    Ok(Reply::error(
        405,
        &format!(
            "method {} not allowed here; use {}",
            req.method,
            names.join(" or ")
        ),
    )
    .with_header("Allow", names.join(", ")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_hosts_only() {
        for ok in [
            "localhost",
            "localhost:8025",
            "127.0.0.1",
            "127.0.0.1:8025",
            "127.9.9.9:1",
            "[::1]:8025",
            "[::1]",
            "LOCALHOST:80",
        ] {
            assert!(loopback_host(ok), "{ok}");
        }
        for bad in [
            "",
            "example.org",
            "evil.example:8025",
            "10.0.0.1:8025",
            "[::2]:80",
            "localhost.evil.example",
        ] {
            assert!(!loopback_host(bad), "{bad}");
        }
    }

    #[test]
    fn bind_refuses_other_addresses() {
        let e = bind("0.0.0.0:0").err().unwrap();
        assert!(e.contains("not a loopback address"), "{e}");
        assert!(bind("nonsense").err().unwrap().contains("IP:PORT"));
    }
}
