//! The one place where observers see what viewers do: each viewer request and each session.
//!
//! Owns the [`Observer`] trait, the list of observers registered when the engine is built
//! ([`Observers`]), and the one built-in observer, [`Activity`]: counters of viewer requests
//! and WebSocket sessions that `GET /__api__/porch/server` reports (`viewers`). Usage
//! recording (`crate::usage`) and keep-awake (`crate::awake`) attach here as further
//! observers. Every request and session that reached an item says whether Porch counts it
//! ([`Uncounted`]), even while no observer asks for a [`Visitor`].
//!
//! It also owns what observers may learn about *who* a viewer is, and nothing more: a
//! [`Visitor`] (the `porch_device` cookie, or one minted for a new device; whether the
//! request is one Porch never counts: a health probe, Porch's own capture marked
//! [`CAPTURE_HEADER`], a request with a key, a publisher's preview of a draft). The gateway
//! reads it from the request only while some observer asks for it ([`Observer::wants_detail`]),
//! and sets the device cookie on HTML page answers then.
//!
//! It does not decide anything: observers are told after the gateway has answered (a
//! request) or while a session runs; they cannot change the answer.
//!
//! Concurrency: observers are called synchronously on the request's task, so an observer
//! must be cheap and must never block or await (hand slow work to a channel). The list is
//! fixed at start (`Arc<[…]>`), so calling it takes no lock and allocates nothing; the
//! built-in counters are relaxed atomics.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use serde::Serialize;

use crate::routes::Route;

/// What the gateway did with a viewer request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// The landing page (`/`).
    Landing,
    /// A file of a static bundle (a site, an earlier bundle, a source preview).
    Static,
    /// A file of a pin's bundle.
    Pin,
    /// A request proxied to an app's worker (HTTP, or the upgrade of a session).
    App,
    /// A file of a rendered document's output.
    Render,
    /// Refused or missing: the viewer got the "nothing here" page (or a redirect to add a
    /// slash, or a secret link's redirect to the clean URL).
    Nothing,
}

/// One viewer request, as observers see it once it is answered.
#[derive(Debug, Clone, Copy)]
pub struct ViewerRequest<'a> {
    /// The item the path named, if it named one the viewer may see.
    pub route: Option<&'a Route>,
    /// What was served.
    pub served: Served,
    /// The answer's status.
    pub status: StatusCode,
    /// The viewer's socket address (absent for in-process calls).
    pub peer: Option<SocketAddr>,
    /// Who asked, when an observer wants to know ([`Observer::wants_detail`]).
    pub visitor: Option<&'a Visitor>,
    /// Whether the answer is an HTML page (a successful `text/html` answer to a GET): what
    /// a page view is, as opposed to the page's assets. Only known with a `visitor`.
    pub html_page: bool,
    /// Why the request is never counted, if so: known for every request that reached an
    /// item, whether or not an observer wants a [`Visitor`] (keep-awake needs it while usage
    /// recording is off).
    pub uncounted: Option<Uncounted>,
}

/// One viewer session: a WebSocket to an app's worker, from upgrade to close.
#[derive(Debug, Clone, Copy)]
pub struct ViewerSession<'a> {
    /// The app.
    pub guid: &'a str,
    /// The worker serving it.
    pub instance: u64,
    /// The viewer's socket address.
    pub peer: Option<SocketAddr>,
    /// Unique for this run: the same number at open and at close.
    pub id: u64,
    /// Who opened it, when an observer wants to know ([`Observer::wants_detail`]).
    pub visitor: Option<&'a Visitor>,
    /// The app's title (or name).
    pub title: &'a str,
    /// Why the session is never counted, if so (see [`ViewerRequest::uncounted`]).
    pub uncounted: Option<Uncounted>,
}

/// A fresh [`ViewerSession::id`].
pub fn next_session_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// The first-party cookie that tells one viewer's device from another: a random 128-bit
/// value, HttpOnly, SameSite=Lax, a year long, set only on HTML page answers while usage is
/// recorded, and (SECURITY) stripped by the proxy so apps never see it.
pub const DEVICE_COOKIE: &str = "porch_device";

/// How long the device cookie lasts: one year.
pub const DEVICE_COOKIE_MAX_AGE: u64 = 365 * 24 * 3600;

/// What follows the device cookie's value in its `Set-Cookie` (formatted once).
fn cookie_attributes() -> &'static str {
    static ATTRS: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    ATTRS.get_or_init(|| format!("; Path=/; Max-Age={DEVICE_COOKIE_MAX_AGE}; HttpOnly; SameSite=Lax"))
}

/// The header Porch's own page captures (thumbnails) send, `x-porch-capture: 1`: such a
/// request is served like any other but never counted as usage.
pub const CAPTURE_HEADER: &str = "x-porch-capture";

/// What the capture browser's `User-Agent` ends with. Its requests that do not go through
/// the capture's forwarder (a page's absolute link to Porch's own port) carry it too.
pub const CAPTURE_AGENT: &str = "PorchCapture/1";

/// Whether a request comes from Porch's own picture taker (either mark). Claiming it only
/// takes access away (`gateway/access.rs`), so it needs no proof.
pub fn is_capture(headers: &axum::http::HeaderMap) -> bool {
    headers.contains_key(CAPTURE_HEADER)
        || headers
            .get(axum::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ua| ua.ends_with(CAPTURE_AGENT))
}

/// Why a request is never counted as usage.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Uncounted {
    /// A health probe or uptime monitor (by its user agent), or a HEAD or OPTIONS request.
    Probe,
    /// Porch's own capture ([`CAPTURE_HEADER`]).
    Capture,
    /// It carried an API key (`Authorization: Key …`): a client or the publisher's app.
    Key,
    /// The publisher's preview of a draft or an earlier bundle (`_bundle{N}/`, `_rev{N}/`).
    Preview,
}

/// A device id: 128 random bits, written (in the cookie and the usage tables) as 32
/// lower-case hex digits. Kept as a number on the viewer path so that reading, minting and
/// comparing one allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct DeviceId(pub u128);

impl DeviceId {
    /// A new random id.
    pub fn random() -> DeviceId {
        DeviceId(rand::random())
    }

    /// Reads the cookie's form: exactly 32 hex digits (either case), else nothing.
    pub fn parse(s: &str) -> Option<DeviceId> {
        if s.len() != 32 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        u128::from_str_radix(s, 16).ok().map(DeviceId)
    }

    /// The 32 lower-case hex digits, without the formatting machinery (once per new
    /// device's page view, on the viewer path).
    pub fn hex(self) -> [u8; 32] {
        const DIGITS: &[u8; 16] = b"0123456789abcdef";
        let mut out = [0u8; 32];
        for (i, b) in self.0.to_be_bytes().into_iter().enumerate() {
            out[2 * i] = DIGITS[usize::from(b >> 4)];
            out[2 * i + 1] = DIGITS[usize::from(b & 15)];
        }
        out
    }
}

impl std::fmt::Display for DeviceId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Always ASCII hex digits.
        f.write_str(std::str::from_utf8(&self.hex()).map_err(|_| std::fmt::Error)?)
    }
}

/// The viewer's device as the request names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Device {
    /// The request sent a `porch_device` cookie with this value.
    Presented(DeviceId),
    /// It sent none: this new value is set on the answer if it is an HTML page.
    Minted(DeviceId),
}

/// What observers that ask may learn about who made a request. SECURITY: holds the user
/// agent only so that a cookie-less device can be told apart by a salted hash; observers
/// must never store it (nor the address).
#[derive(Debug, Clone)]
pub struct Visitor {
    /// The device cookie, presented or minted.
    pub device: Device,
    /// The `User-Agent` header, for the cookie-less hash only.
    pub user_agent: Option<HeaderValue>,
    /// Whether it was a GET (only a GET loads a page).
    pub is_get: bool,
    /// Set when the request must never be counted.
    pub uncounted: Option<Uncounted>,
    /// The path below the item's base (`_variant3/`, `report.html`), without the query.
    pub path: String,
}

/// User agents of health probes and uptime monitors (lower case, matched as substrings).
const PROBE_AGENTS: &[&str] = &[
    "kube-probe",
    "healthcheck",
    "health-check",
    "googlehc",
    "uptime",
    "pingdom",
    "blackbox",
    "statuscake",
    "consul",
    "nagios",
    "monitoring",
];

impl Visitor {
    /// Reads what observers may know from a request's method and headers; `path` is the
    /// path below the item's base.
    pub fn of(method: &Method, headers: &HeaderMap, path: &str) -> Visitor {
        let device = match device_cookie(headers) {
            Some(id) => Device::Presented(id),
            None => Device::Minted(DeviceId::random()),
        };
        Visitor {
            device,
            user_agent: headers.get(header::USER_AGENT).cloned(),
            is_get: method == Method::GET,
            uncounted: Uncounted::of(method, headers, path),
            path: path.split('?').next().unwrap_or("").to_string(),
        }
    }

    /// The `Set-Cookie` value that gives a new device its cookie, if this one has none yet
    /// and is counted at all (probes, keyed clients and captures get none).
    pub fn set_cookie(&self) -> Option<HeaderValue> {
        let Device::Minted(id) = self.device else { return None };
        if self.uncounted.is_some() {
            return None;
        }
        let attrs = cookie_attributes();
        let mut c = Vec::with_capacity(DEVICE_COOKIE.len() + 33 + attrs.len());
        c.extend_from_slice(DEVICE_COOKIE.as_bytes());
        c.push(b'=');
        c.extend_from_slice(&id.hex());
        c.extend_from_slice(attrs.as_bytes());
        // Handed over without a copy (the value is checked all the same).
        HeaderValue::from_maybe_shared(bytes::Bytes::from(c)).ok()
    }
}

impl Uncounted {
    /// Why a request (method, headers, path below the item's base) is never counted, if so.
    /// Cheap (a few header reads, no allocation), so the gateway asks it for every request
    /// that reaches an item.
    pub fn of(method: &Method, headers: &HeaderMap, path: &str) -> Option<Uncounted> {
        let agent = headers.get(header::USER_AGENT).map(HeaderValue::as_bytes).unwrap_or_default();
        let first = path.split('/').next().unwrap_or("");
        let preview = first
            .strip_prefix("_bundle")
            .or_else(|| first.strip_prefix("_rev"))
            .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()));
        let keyed = headers
            .get_all(header::AUTHORIZATION)
            .iter()
            .any(|v| v.to_str().ok().and_then(crate::keys::parse_authorization).is_some());
        if is_capture(headers) {
            Some(Uncounted::Capture)
        } else if keyed {
            Some(Uncounted::Key)
        } else if preview {
            Some(Uncounted::Preview)
        } else if method == Method::HEAD
            || method == Method::OPTIONS
            || PROBE_AGENTS.iter().any(|p| contains_ignoring_case(agent, p))
        {
            Some(Uncounted::Probe)
        } else {
            None
        }
    }
}

/// Whether `hay` contains `needle` (lower case ASCII), ignoring ASCII case.
fn contains_ignoring_case(hay: &[u8], needle: &str) -> bool {
    hay.windows(needle.len()).any(|w| w.eq_ignore_ascii_case(needle.as_bytes()))
}

/// The `porch_device` cookie's value, if the request has a well-formed one (32 hex digits;
/// anything else is ignored, so a forged value cannot carry text into the usage tables).
pub fn device_cookie(headers: &HeaderMap) -> Option<DeviceId> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == DEVICE_COOKIE)
        .and_then(|(_, v)| DeviceId::parse(v.trim()))
}

/// Whether an answer is an HTML page: a 200 `text/html` answer to a GET, or a 304 that
/// revalidates one. Static pages are served `Cache-Control: no-cache` with an ETag, so a
/// browser that loads a page it has seen before asks again with `If-None-Match` and gets a
/// 304 (which carries the page's `Content-Type`): that is a page load too, and without it
/// every return visit from the same browser would go uncounted.
pub fn is_html_page(is_get: bool, status: StatusCode, headers: &HeaderMap) -> bool {
    is_get
        && (status == StatusCode::OK || status == StatusCode::NOT_MODIFIED)
        && headers
            .get(header::CONTENT_TYPE)
            .map(|v| v.as_bytes().trim_ascii_start())
            .is_some_and(|t| t.get(..9).is_some_and(|t| t.eq_ignore_ascii_case(b"text/html")))
}

/// Something that wants to know what viewers do. Every method has an empty default, so an
/// observer implements only what it needs.
pub trait Observer: Send + Sync + std::fmt::Debug + 'static {
    /// Whether this observer wants to know who viewers are right now (a [`Visitor`] with
    /// each request and session, and the device cookie set on HTML pages). Asked once per
    /// request, so it must be a cheap read (usage recording: its on/off switch).
    fn wants_detail(&self) -> bool {
        false
    }
    /// A viewer request was answered (sessions count once here, at their upgrade).
    fn request(&self, _request: &ViewerRequest<'_>) {}
    /// A session began (the upgrade succeeded on both sides).
    fn session_opened(&self, _session: &ViewerSession<'_>) {}
    /// A session ended (either side closed, or an idle limit passed), after `lasted`.
    fn session_closed(&self, _session: &ViewerSession<'_>, _lasted: Duration) {}
}

/// The observers, fixed when the engine is built.
#[derive(Debug, Clone)]
pub struct Observers {
    list: Arc<[Arc<dyn Observer>]>,
    activity: Arc<Activity>,
}

impl Default for Observers {
    fn default() -> Self {
        Observers::new(Vec::new())
    }
}

impl Observers {
    /// The built-in [`Activity`] counters followed by `more`, called in that order.
    pub fn new(more: Vec<Arc<dyn Observer>>) -> Observers {
        let activity = Arc::new(Activity::default());
        let mut list: Vec<Arc<dyn Observer>> = vec![activity.clone()];
        list.extend(more);
        Observers { list: list.into(), activity }
    }

    /// The built-in counters.
    pub fn activity(&self) -> &Activity {
        &self.activity
    }

    /// Whether any observer wants to know who viewers are (see [`Observer::wants_detail`]).
    pub fn wants_detail(&self) -> bool {
        self.list.iter().any(|o| o.wants_detail())
    }

    pub(super) fn request(&self, request: &ViewerRequest<'_>) {
        for o in self.list.iter() {
            o.request(request);
        }
    }

    pub(super) fn session_opened(&self, session: &ViewerSession<'_>) {
        for o in self.list.iter() {
            o.session_opened(session);
        }
    }

    pub(super) fn session_closed(&self, session: &ViewerSession<'_>, lasted: Duration) {
        for o in self.list.iter() {
            o.session_closed(session, lasted);
        }
    }
}

/// Counters of what viewers did since the engine started (the built-in observer).
#[derive(Debug, Default)]
pub struct Activity {
    requests: AtomicU64,
    sessions: AtomicU64,
    closed: AtomicU64,
}

/// A reading of [`Activity`].
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ViewerActivity {
    /// Viewer requests answered since start (the landing page and every path of every item).
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub requests: u64,
    /// WebSocket sessions to apps opened since start.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub sessions: u64,
    /// Sessions open now.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub open_sessions: u64,
}

impl Activity {
    /// The counters now.
    pub fn read(&self) -> ViewerActivity {
        // Read `closed` first: a session closing in between can only make `open` look larger.
        let closed = self.closed.load(Ordering::Relaxed);
        let sessions = self.sessions.load(Ordering::Relaxed);
        ViewerActivity {
            requests: self.requests.load(Ordering::Relaxed),
            sessions,
            open_sessions: sessions.saturating_sub(closed),
        }
    }
}

impl Observer for Activity {
    fn request(&self, _: &ViewerRequest<'_>) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    fn session_opened(&self, _: &ViewerSession<'_>) {
        self.sessions.fetch_add(1, Ordering::Relaxed);
    }

    fn session_closed(&self, session: &ViewerSession<'_>, lasted: Duration) {
        self.closed.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(guid = session.guid, instance = session.instance, ?lasted, "viewer session closed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default)]
    struct Seen(std::sync::Mutex<Vec<String>>);

    impl Observer for Seen {
        fn request(&self, r: &ViewerRequest<'_>) {
            self.0.lock().expect("not poisoned").push(format!("{:?} {}", r.served, r.status.as_u16()));
        }
        fn session_closed(&self, s: &ViewerSession<'_>, _: Duration) {
            self.0.lock().expect("not poisoned").push(format!("closed {}", s.guid));
        }
    }

    #[test]
    fn every_observer_sees_every_event_and_activity_counts() {
        let seen = Arc::new(Seen::default());
        let obs = Observers::new(vec![seen.clone()]);
        let req = ViewerRequest {
            route: None,
            served: Served::Static,
            status: StatusCode::OK,
            peer: None,
            visitor: None,
            html_page: false,
            uncounted: None,
        };
        obs.request(&req);
        obs.request(&ViewerRequest { served: Served::Nothing, status: StatusCode::NOT_FOUND, ..req });
        let s = ViewerSession {
            guid: "g",
            instance: 1,
            peer: None,
            id: next_session_id(),
            visitor: None,
            title: "G",
            uncounted: None,
        };
        obs.session_opened(&s);
        obs.session_opened(&s);
        obs.session_closed(&s, Duration::from_secs(1));
        assert_eq!(obs.activity().read(), ViewerActivity { requests: 2, sessions: 2, open_sessions: 1 });
        assert_eq!(*seen.0.lock().expect("not poisoned"), ["Static 200", "Nothing 404", "closed g"]);
        assert!(!obs.wants_detail(), "no observer asks who viewers are");
    }

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.append(*k, HeaderValue::from_str(v).expect("value"));
        }
        h
    }

    #[test]
    fn visitors_are_told_apart_and_the_uncounted_named() {
        let id = "0123456789abcdef0123456789ABCDEF";
        let v = Visitor::of(&Method::GET, &headers(&[("cookie", &format!("a=1; porch_device={id}"))]), "x.html?q=1");
        assert_eq!(v.device, Device::Presented(DeviceId(0x0123456789abcdef0123456789abcdef)));
        assert_eq!(DeviceId(0xab).to_string(), format!("{:0>32}", "ab"), "written as 32 lower-case digits");
        let all = DeviceId(0x0123456789abcdef0123456789abcdef);
        assert_eq!(all.to_string(), "0123456789abcdef0123456789abcdef");
        assert_eq!(DeviceId::parse(&all.to_string()), Some(all), "read back as written");
        assert_eq!((v.uncounted, v.path.as_str(), v.set_cookie()), (None, "x.html", None));
        let fresh = Visitor::of(&Method::GET, &headers(&[("cookie", "porch_device=<script>")]), "");
        let Device::Minted(m) = fresh.device else { panic!("a forged cookie is ignored: {fresh:?}") };
        let c = fresh.set_cookie().expect("cookie").to_str().expect("ascii").to_string();
        assert!(c.starts_with(&format!("porch_device={m}; Path=/;")), "{c}");
        assert!(c.contains("HttpOnly") && c.contains("SameSite=Lax") && c.contains("Max-Age=31536000"), "{c}");
        for (method, h, path, why) in [
            (Method::GET, headers(&[("x-porch-capture", "1")]), "", Uncounted::Capture),
            (Method::GET, headers(&[("authorization", "Key abc")]), "", Uncounted::Key),
            (Method::GET, headers(&[]), "_bundle12/index.html", Uncounted::Preview),
            (Method::GET, headers(&[]), "_rev3/", Uncounted::Preview),
            (Method::GET, headers(&[("user-agent", "kube-probe/1.29")]), "", Uncounted::Probe),
            (Method::HEAD, headers(&[]), "", Uncounted::Probe),
        ] {
            assert_eq!(Visitor::of(&method, &h, path).uncounted, Some(why), "{method} {h:?} {path}");
        }
        assert_eq!(Visitor::of(&Method::GET, &headers(&[("authorization", "Bearer x")]), "").uncounted, None);
        assert_eq!(Visitor::of(&Method::GET, &headers(&[]), "_bundles/").uncounted, None);
    }

    #[test]
    fn html_pages_are_successful_html_answers_to_gets() {
        let html = headers(&[("content-type", "text/html; charset=utf-8")]);
        assert!(is_html_page(true, StatusCode::OK, &html));
        assert!(!is_html_page(false, StatusCode::OK, &html));
        assert!(!is_html_page(true, StatusCode::NOT_FOUND, &html));
        assert!(!is_html_page(true, StatusCode::OK, &headers(&[("content-type", "text/css")])));
        assert!(!is_html_page(true, StatusCode::OK, &headers(&[("content-type", "text/htm")])));
        assert!(is_html_page(true, StatusCode::OK, &headers(&[("content-type", " Text/HTML; charset=utf-8")])));
        assert!(is_html_page(true, StatusCode::NOT_MODIFIED, &html), "a revalidated page load is a page load");
        assert!(!is_html_page(true, StatusCode::NOT_MODIFIED, &headers(&[("content-type", "text/css")])));
        assert!(!is_html_page(true, StatusCode::PARTIAL_CONTENT, &html));
    }
}
