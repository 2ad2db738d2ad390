//! Dispatch to an app: lease one of the item's workers (starting one if needed), hand the
//! request to the proxy, and run a WebSocket session once both sides have upgraded.
//!
//! A browser's first request to a cold app waits [`BROWSER_WAIT`] and then gets the
//! self-reloading "starting" page; other clients (API calls, WebSockets) wait until the
//! worker is ready or its start-up time is over. A viewer sticks to one worker through an
//! affinity cookie (`porch_w_…`, HttpOnly, scoped to the path it used).
//!
//! SECURITY: what the app receives is shaped by `proxy::forward`: no forged identity, none of
//! Porch's credentials (key, link cookies), and the query without `porch_token`
//! ([`super::access::query_without_token`]).
//!
//! Concurrency: one task per request; a session runs on a task of its own, which holds the
//! worker's lease until the session ends and tells the observers when it opens and closes.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::Request;
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::Response;

use super::rescue;
use crate::engine::Engine;
use crate::observe::ViewerSession;
use crate::proxy::{self, Forwarded, Outside};
use crate::routes::Route;
use crate::supervisor::{RouteError, Wait};

/// How long a browser's first request waits for a cold app before it gets the
/// self-reloading "starting" page instead.
const BROWSER_WAIT: Duration = Duration::from_millis(1500);

/// The affinity cookie's name is `porch_w_` and the first 8 characters of the guid.
const AFFINITY_PREFIX: &str = "porch_w_";

fn affinity_tail(guid: &str) -> &str {
    guid.get(..8).unwrap_or(guid)
}

fn read_affinity(req: &Request, guid: &str) -> Option<u64> {
    let tail = affinity_tail(guid);
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| k.strip_prefix(AFFINITY_PREFIX) == Some(tail))
        .and_then(|(_, v)| v.parse().ok())
}

/// `Set-Cookie` for the worker a viewer sticks to, on the path it used.
fn affinity_cookie(guid: &str, instance: u64, base: &str) -> Option<HeaderValue> {
    let c = format!("{AFFINITY_PREFIX}{}={instance}; Path={base}; HttpOnly; SameSite=Lax", affinity_tail(guid));
    HeaderValue::from_maybe_shared(bytes::Bytes::from(c)).ok()
}

fn wants_html(req: &Request) -> bool {
    req.method() == Method::GET
        && !req.headers().contains_key(header::UPGRADE)
        && req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"))
}

/// Routes a viewer's request (HTTP or WebSocket) to one of the item's workers.
pub(super) async fn proxy(engine: &Engine, route: &Arc<Route>, base: &str, req: Request) -> Response {
    let affinity = read_affinity(&req, &route.guid);
    let wait = if wants_html(&req) { Wait::AtMost(BROWSER_WAIT) } else { Wait::UntilReady };
    let sup = engine.apps().supervisor();
    let mut leased = sup.acquire(&route.guid, affinity, wait).await;
    if leased.as_ref().err() == Some(&RouteError::Gone) {
        // Deployed by another process (the CLI), or Porch just started: supervise it now.
        if let Ok(c) = engine.library().content(&route.guid).await {
            engine.apps().supervise(&c).await;
        }
        leased = sup.acquire(&route.guid, affinity, wait).await;
    }
    let lease = match leased {
        Ok(l) => l,
        Err(e) => {
            let mut publisher = false;
            if let RouteError::StartFailed { message, .. } = &e {
                engine.emit(crate::events::Event::StartFailed { guid: route.guid.clone(), message: message.clone() });
                // SECURITY: the app's last lines (a traceback may quote a secret) are the
                // publisher's to read: at this computer, or with the key.
                let ask = super::access::Asker::of(&req);
                publisher =
                    ask.is_this_computer(engine) || super::identity::is_publisher(engine, ask.headers, ask.peer).await;
            }
            return rescue::route_error(route, e, wait, publisher);
        }
    };
    let instance = lease.instance;
    let peer = super::identity::peer_of(&req);
    // Who opens a session, for the observers that ask (read before the request is handed on).
    let upgrade = req.headers().contains_key(header::UPGRADE);
    let visitor = (upgrade && engine.viewers().wants_detail())
        .then(|| crate::observe::Visitor::of(req.method(), req.headers(), ""));
    // Whether a session is one Porch counts, for every observer (keep-awake asks even while
    // usage recording is off).
    let uncounted = if upgrade { crate::observe::Uncounted::of(req.method(), req.headers(), "") } else { None };
    let app_base_url = match &engine.config().public_url {
        Some(origin) => format!("{}{base}", origin.trim_end_matches('/')),
        None => {
            let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost");
            format!("http://{host}{base}")
        }
    };
    let cookie_bases = || {
        let mut b = route.bases();
        if !b.iter().any(|x| x == base) {
            b.push(base.to_string());
        }
        b
    };
    let outside = Outside {
        base_path: base.trim_end_matches('/'),
        query: super::access::query_without_token(req.uri().query()),
        peer,
        proto: "http",
        app_base_url,
        cookie_bases: &cookie_bases,
    };
    let mut resp = match proxy::forward(lease, req, outside).await {
        Ok(Forwarded::Response(resp)) => resp,
        Ok(Forwarded::Upgraded(resp, upgrade)) => {
            let (observers, route) = (engine.viewers().clone(), route.clone());
            // On the engine's tracker, so shutdown sees open sessions; they end when it starts.
            let stop = engine.shutdown_token();
            engine.shared().spawn(async move {
                let Some(tunnel) = upgrade.complete().await else { return };
                let id = crate::observe::next_session_id();
                let session = ViewerSession {
                    guid: &route.guid,
                    instance,
                    peer,
                    id,
                    visitor: visitor.as_ref(),
                    title: &route.title,
                    uncounted,
                };
                observers.session_opened(&session);
                let opened = tokio::time::Instant::now();
                tokio::select! {
                    () = tunnel.run() => {}
                    () = stop.cancelled() => {}
                }
                observers.session_closed(&session, opened.elapsed());
            });
            resp
        }
        Err(e) => return rescue::upstream(&e),
    };
    if affinity != Some(instance) && resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        if let Some(v) = affinity_cookie(&route.guid, instance, base) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}
