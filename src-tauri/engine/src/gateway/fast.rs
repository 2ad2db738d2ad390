//! The fast lane: a viewer's request for a cached file, or for an app's worker, taken
//! through the gateway's steps without the router.
//!
//! The listener shows every request to [`Front`] first: a plain `GET` or `HEAD` as its head
//! alone (`at_once`, answered by the listener's own reader), any other after its head limits
//! (`lane`, answered through hyper). It keeps
//! only the requests whose way through the gateway is already known from the routing table
//! and the item's access alone, and takes them through the same steps with the same code:
//! pause (step 0), resolve by `/content/{key}/` (1), [`access::gate_at_once`] (2), then
//! `static_site::serve_cached` for a file already in memory, or `app::proxy` for an app (3,
//! 4), and the observers with `keep_private` (5). Everything else — vanity paths, the
//! publisher's key, an item the table does not know yet, renders, earlier bundles,
//! thumbnails, a file not in memory — passes on to the router unchanged, so this lane
//! changes no answer, only how much work a common one costs.
//!
//! What it skips decides nothing for these requests: the route match and its extractors,
//! the middleware stack, and (for files, which wait on nothing) the request timeout's timer.
//! An app's request keeps the router's 10-minute timeout ([`REQUEST_TIMEOUT`]).
//!
//! Concurrency: the look-up is synchronous (the routing table's snapshot, the file cache);
//! an app's request becomes one boxed task-local future, as the router's would.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{Method, Request, StatusCode};
use axum::response::{IntoResponse as _, Response};
use hyper::body::Incoming;

use super::access::{self, Asker, Gate};
use super::{app, dispatch, identity, observed, who_asks, THUMBNAIL};
use crate::engine::Engine;
use crate::listener::Lane;
use crate::observe::{Served, ViewerRequest};
use crate::routes::Route;
use crate::static_site;
use crate::RuntimeKind;

/// How long any request may take to get its answer's head (the router applies the same).
pub const REQUEST_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(600);

/// The gateway as the listener's front (`listener::Front`).
pub struct Front(Engine);

impl Front {
    /// The fast lane of `engine`'s gateway.
    pub fn new(engine: Engine) -> Front {
        Front(engine)
    }
}

impl crate::listener::Front for Front {
    fn at_once(&self, req: &Request<()>, peer: SocketAddr) -> Option<Response> {
        let (route, base_len) = opened(&self.0, req, peer)?;
        if !crate::runtime_kind(&route.app_mode).is_static() {
            return None;
        }
        cached_file(&self.0, req, peer, &route, base_len)
    }

    fn lane(&self, req: Request<Incoming>, peer: SocketAddr) -> Lane {
        let engine = &self.0;
        let Some((route, base_len)) = opened(engine, &req, peer) else { return Lane::Pass(req) };
        match crate::runtime_kind(&route.app_mode) {
            RuntimeKind::Static => match cached_file(engine, &req, peer, &route, base_len) {
                Some(resp) => Lane::Now(resp),
                None => Lane::Pass(req),
            },
            RuntimeKind::Interactive => Lane::Later(Box::pin(to_app(engine.clone(), route, base_len, req, peer))),
            RuntimeKind::Rendered => Lane::Pass(req),
        }
    }
}

/// Steps 0 to 2: the item a `/content/{key}/…` request names, if the table knows it, it has
/// a bundle, the tail is its plain content, and its access opens it to this request without
/// a key. Also the length of the request path's base (`/content/{key}/`).
fn opened<B>(engine: &Engine, req: &Request<B>, peer: SocketAddr) -> Option<(Arc<Route>, usize)> {
    // Step 0: while sharing is paused, other computers get the router's "paused" page.
    if engine.library().sharing_paused() && !identity::is_loopback(peer.ip()) {
        return None;
    }
    // Step 1.
    let path = req.uri().path();
    let (key, rest) = path.strip_prefix("/content/")?.split_once('/')?;
    let route = engine.library().routes().snapshot().get(key)?;
    route.bundle_id?;
    let first = rest.split('/').next().unwrap_or("");
    if first.starts_with("_rev") || first.starts_with("_bundle") || rest == THUMBNAIL {
        return None;
    }
    // Step 2.
    let base = &path[..path.len() - rest.len()];
    let ask = Asker { method: req.method(), uri: req.uri(), headers: req.headers(), peer: Some(peer) };
    match access::gate_at_once(engine, &route, base, ask) {
        Some(Gate::Open) => Some((route, base.len())),
        _ => None,
    }
}

/// Steps 3 and 5 for a static bundle's file that the file cache holds (`None` otherwise, or
/// for a method files do not take: the router says what is wrong).
fn cached_file<B>(
    engine: &Engine,
    req: &Request<B>,
    peer: SocketAddr,
    route: &Route,
    base_len: usize,
) -> Option<Response> {
    let method = req.method();
    if method != Method::GET && method != Method::HEAD {
        return None;
    }
    let rest = &req.uri().path()[base_len..];
    let clean = static_site::sanitize(rest).ok()?;
    let (files, headers) = (engine.library().files(), req.headers());
    let resp =
        static_site::serve_cached(files, route.bundle_id?, &clean, route.primary_html.as_deref(), method, headers)?;
    let (visitor, uncounted) = who_asks(engine, method, headers, rest);
    let seen = ViewerRequest {
        route: Some(route),
        served: if route.content_category == "pin" { Served::Pin } else { Served::Static },
        status: resp.status(),
        peer: Some(peer),
        visitor: visitor.as_ref(),
        html_page: false,
        uncounted,
    };
    Some(observed(engine, seen, access::keep_private(route, dispatch::with_server_header(resp))))
}

/// Steps 3 to 5 for an app: its worker answers (`app::proxy` starts one if needed).
async fn to_app(
    engine: Engine,
    route: Arc<Route>,
    base_len: usize,
    req: Request<Incoming>,
    peer: SocketAddr,
) -> Response {
    let mut req = req.map(Body::new);
    req.extensions_mut().insert(ConnectInfo(peer));
    let answer = async move {
        let path = req.uri().path();
        let base = path[..base_len].to_string();
        let (visitor, uncounted) = who_asks(&engine, req.method(), req.headers(), &path[base_len..]);
        let resp = app::proxy(&engine, &route, &base, req).await;
        let seen = ViewerRequest {
            route: Some(route.as_ref()),
            served: Served::App,
            status: resp.status(),
            peer: Some(peer),
            visitor: visitor.as_ref(),
            html_page: false,
            uncounted,
        };
        observed(&engine, seen, access::keep_private(&route, resp))
    };
    match tokio::time::timeout(REQUEST_TIMEOUT, answer).await {
        Ok(resp) => resp,
        Err(_) => StatusCode::REQUEST_TIMEOUT.into_response(),
    }
}
