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

/// The request that opened a session, kept to ask the gate again.
struct Asked {
    method: Method,
    uri: axum::http::Uri,
    headers: axum::http::HeaderMap,
    peer: Option<std::net::SocketAddr>,
    base: String,
    changes: tokio::sync::broadcast::Receiver<crate::events::Event>,
}

/// Ends once the viewer of a session may no longer open the item: its access narrowed, its
/// secret link regenerated or revoked, the item removed, or sharing paused for a viewer on
/// another computer. Asked again on each change of the item or the library; pending for
/// ever otherwise. A download already under way runs to its end.
async fn refused_later(engine: &Engine, guid: &str, asked: Option<Asked>) {
    use crate::events::Event;
    let Some(mut asked) = asked else { return std::future::pending().await };
    loop {
        match asked.changes.recv().await {
            Ok(Event::ContentChanged { guid: g } | Event::ContentDeleted { guid: g }) if g == guid => {}
            Ok(Event::LibraryChanged) => {}
            Ok(_) => continue,
            Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {}
            Err(tokio::sync::broadcast::error::RecvError::Closed) => return std::future::pending().await,
        }
        let remote = asked.peer.is_some_and(|p| !super::identity::is_loopback(p.ip()));
        if remote && engine.library().sharing_paused() {
            return;
        }
        let Some(route) = engine.library().routes().snapshot().get(guid) else { return };
        let ask =
            super::access::Asker { method: &asked.method, uri: &asked.uri, headers: &asked.headers, peer: asked.peer };
        if matches!(super::access::gate(engine, &route, &asked.base, ask).await, super::access::Gate::Hidden) {
            return;
        }
    }
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
    // What let a session in, to ask again when the item's access changes (`refused_later`).
    let asked = upgrade.then(|| Asked {
        method: req.method().clone(),
        uri: req.uri().clone(),
        headers: req.headers().clone(),
        peer,
        base: base.to_string(),
        changes: engine.subscribe(),
    });
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
            let (observers, route, gate) = (engine.viewers().clone(), route.clone(), engine.clone());
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
                    () = refused_later(&gate, &route.guid, asked) => {
                        tracing::info!(content = %route.guid, "closed a session its viewer may no longer open");
                    }
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
