//! The content gateway: the only path a viewer's request takes, read top to bottom.
//!
//! Every request on the LAN port that is not management (`/__api__/…`, the API's) nor the
//! publisher's static UI (`/__porch__/`) is a viewer's, and goes through these steps in order:
//!
//! 0. **Pause** ([`pause_gate`]): while the publisher has paused sharing, viewers on other
//!    computers get a "paused" page for every path (this computer keeps full access).
//! 1. **Resolve** ([`content`], [`fallback`]): `/content/{guid|id}/…` or the longest vanity
//!    prefix names an item in the in-memory routing table (`routes`); a key that looks like an
//!    item's but is unknown triggers one reload of the table (the CLI may have just created
//!    it). Nothing found → the "no content" 404.
//! 2. **Check access** ([`access::gate`]): the item's viewer access (network, local, secret
//!    link, or the publisher's key) decides, before anything is read or started. Refused →
//!    the very same 404 as a missing item.
//! 3. **Dispatch** ([`dispatch::serve`]): a file of a static bundle or a pin, the app's worker
//!    through the proxy ([`app::proxy`]), a rendered document's output, an earlier bundle, a
//!    variant or an earlier render. Answers about local and link items are marked
//!    `Cache-Control: private` ([`access::keep_private`]).
//! 4. **Rescue** ([`rescue`]): whatever cannot be served becomes a readable page with the
//!    right status: 404, the self-reloading "starting" page (503), at capacity (503), start
//!    timeout (504), start failed or upstream refused/broken (502).
//! 5. **Observe** ([`observe`]): the answered request, and each WebSocket session from its
//!    upgrade to its close, are shown to the observers registered at start — the one hook
//!    for usage recording and keep-awake.
//!
//! SECURITY: the promises of `docs/security.md` about viewers live here:
//! - who may see an item, on every path of it, and the indistinguishable 404: [`access`];
//! - "this computer" (loopback peer and a `Host` naming this machine) and the key:
//!   [`identity`];
//! - no path outside a bundle, no app or document source to viewers: [`dispatch`] (with
//!   `static_site`'s containment);
//! - no forged identity and none of Porch's credentials reach an app, and an app's cookies stay
//!   on its own paths: `proxy::forward`, called only from [`app`].
//!
//! Not here: the routing table itself (`routes`), file serving (`static_site`), the HTTP
//! exchange with workers (`proxy`), workers' lives (`supervisor`).
//!
//! Concurrency: handlers run one task per request and share only the engine: the routing
//! table is an `Arc` snapshot, the file cache is a concurrent map, and observers are called
//! without locks (see [`crate::observe`]).

mod access;
mod app;
mod dispatch;
pub mod identity;
pub mod rescue;

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::Router;

pub use crate::observe::{Observer, Observers, Served, ViewerActivity, ViewerRequest, ViewerSession, Visitor};
pub use access::{link_cookie_name, TOKEN_PARAM};

use self::access::{Asker, Gate};
use self::rescue::{not_found, NO_CONTENT, NO_PAGE};
use crate::engine::Engine;
use crate::routes::{Access, Route};
use crate::static_site::pages;

/// The viewer routes: the landing page, `/content/…` and (as the fallback) vanity paths.
/// The caller mounts management beside them and layers [`pause_gate`] over all of it.
pub fn routes() -> Router<Engine> {
    Router::new()
        .route("/", axum::routing::get(landing))
        .route("/content/{key}", axum::routing::get(content_root_redirect).head(content_root_redirect))
        // Any method: apps and APIs take POST, PUT, ...; static serving answers 405 itself.
        .route("/content/{key}/", axum::routing::any(content))
        .route("/content/{key}/{*rest}", axum::routing::any(content))
        .fallback(fallback)
}

/// Step 0: while sharing is paused, every path but the API answers viewers on other
/// computers with the "paused" page.
pub async fn pause_gate(State(engine): State<Engine>, req: Request, next: axum::middleware::Next) -> Response {
    if engine.library().sharing_paused() && !req.uri().path().starts_with("/__api__") {
        let remote = identity::peer_of(&req).is_some_and(|p| !identity::is_loopback(p.ip()));
        if remote {
            return rescue::sharing_paused();
        }
    }
    next.run(req).await
}

/// Step 5 for one request: tells the observers, and hands the answer back. While an
/// observer wants to know who viewers are, an HTML page answer gives a new device its
/// `porch_device` cookie (see [`crate::observe::DEVICE_COOKIE`]).
fn observed(engine: &Engine, req: ViewerRequest<'_>, mut resp: Response) -> Response {
    let mut html_page = false;
    if let Some(v) = req.visitor {
        html_page = crate::observe::is_html_page(v.is_get, resp.status(), resp.headers());
        if let Some(cookie) = v.set_cookie().filter(|_| html_page) {
            resp.headers_mut().append(axum::http::header::SET_COOKIE, cookie);
        }
    }
    engine.viewers().request(&ViewerRequest { status: resp.status(), html_page, ..req });
    resp
}

/// Who is asking, read from the request only while an observer wants to know.
fn visitor_of(engine: &Engine, req: &Request, rest: &str) -> Option<Visitor> {
    engine.viewers().wants_detail().then(|| Visitor::of(req.method(), req.headers(), rest))
}

/// `GET /`: what this visitor may open: network items, and local ones for visitors on this
/// computer. Secret-link items are never listed (their cookie is scoped to their paths).
async fn landing(State(engine): State<Engine>, req: Request) -> Response {
    let ask = Asker::of(&req);
    let local = ask.is_this_computer(&engine);
    let table = engine.library().routes().snapshot();
    let listed = |r: &Route| r.access == Access::Network || (r.access == Access::Local && local);
    let mut visible: Vec<&Route> =
        table.all.iter().map(Arc::as_ref).filter(|r| listed(r) && r.bundle_id.is_some()).collect();
    visible.sort_by_key(|r| r.title.to_lowercase());
    let mut pins = std::collections::HashMap::new();
    for r in visible.iter().filter(|r| r.content_category == "pin") {
        pins.insert(r.guid.clone(), pin_versions(&engine, r).await);
    }
    let seen = ViewerRequest {
        route: None,
        served: Served::Landing,
        status: StatusCode::OK,
        peer: ask.peer,
        visitor: None,
        html_page: true,
    };
    observed(&engine, seen, Html(pages::landing(&visible, &pins)).into_response())
}

/// The newest versions (bundles) of a pin with the data files each one's `data.txt` names.
async fn pin_versions(engine: &Engine, r: &Route) -> Vec<pages::PinVersion> {
    const SHOWN: usize = 10;
    let Ok((_, bundles)) = engine.library().bundles(&r.guid).await else { return Vec::new() };
    let mut out = Vec::new();
    for b in bundles.into_iter().take(SHOWN) {
        let data =
            tokio::fs::read_to_string(engine.library().bundle_dir(b.id).join("data.txt")).await.unwrap_or_default();
        out.push(pages::PinVersion {
            bundle_id: b.id,
            created_time: b.created_time,
            files: pages::pin_files(&data),
            active: r.bundle_id == Some(b.id),
        });
    }
    out
}

/// `GET /content/{key}`: add the trailing slash.
async fn content_root_redirect(Path(key): Path<String>, uri: Uri) -> Response {
    let q = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    // SECURITY: only the characters of a guid or id go into the redirect's target.
    let key: String = key.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    Redirect::permanent(&format!("/content/{key}/{q}")).into_response()
}

/// `/content/{key}/{*rest}`: resolve the key, check access, dispatch.
async fn content(State(engine): State<Engine>, req: Request) -> Response {
    let peer = identity::peer_of(&req);
    let nothing = ViewerRequest {
        route: None,
        served: Served::Nothing,
        status: StatusCode::NOT_FOUND,
        peer,
        visitor: None,
        html_page: false,
    };
    let path = req.uri().path();
    let Some(after) = path.strip_prefix("/content/") else {
        return observed(&engine, nothing, not_found(NO_PAGE));
    };
    let (key, rest) = after.split_once('/').unwrap_or((after, ""));
    // Step 1: resolve.
    let mut route = engine.library().routes().snapshot().get(key);
    let stale = route.as_ref().is_none_or(|r| r.bundle_id.is_none());
    if stale && looks_like_key(key) {
        // Possibly created a moment ago by another process (the CLI): look again.
        if engine.library().refresh_routes().await.is_ok() {
            route = engine.library().routes().snapshot().get(key);
        }
    }
    let Some(route) = route else {
        return observed(&engine, nothing, not_found(NO_CONTENT));
    };
    let (base, rest) = (format!("/content/{key}/"), rest.to_string());
    // Step 2: check access.
    let gate = access::gate(&engine, &route, &base, Asker::of(&req)).await;
    match gate {
        Gate::Open => {
            // Steps 3 and 4: dispatch, rescuing what cannot be served.
            let visitor = visitor_of(&engine, &req, &rest);
            let (resp, served) = dispatch::serve(&engine, &route, &base, &rest, req).await;
            let seen = ViewerRequest { route: Some(route.as_ref()), served, visitor: visitor.as_ref(), ..nothing };
            observed(&engine, seen, access::keep_private(&route, resp))
        }
        Gate::Redirect(r) => observed(&engine, nothing, r),
        // SECURITY: exactly the page a missing item gets.
        Gate::Hidden => observed(&engine, nothing, not_found(NO_CONTENT)),
    }
}

/// Whether a path segment could name an item (a guid or a numeric id).
fn looks_like_key(key: &str) -> bool {
    (key.len() == 36 && key.chars().all(|c| c.is_ascii_hexdigit() || c == '-'))
        || (!key.is_empty() && key.len() <= 19 && key.bytes().all(|b| b.is_ascii_digit()))
}

/// Anything else: a vanity path (longest prefix wins), or a friendly 404.
async fn fallback(State(engine): State<Engine>, req: Request) -> Response {
    let peer = identity::peer_of(&req);
    let nothing = ViewerRequest {
        route: None,
        served: Served::Nothing,
        status: StatusCode::NOT_FOUND,
        peer,
        visitor: None,
        html_page: false,
    };
    let path = req.uri().path().to_string();
    let table = engine.library().routes().snapshot();
    // Step 1: resolve, trying `/a/b/c`, `/a/b`, `/a`.
    let trimmed = path.trim_start_matches('/');
    let segs: Vec<&str> = trimmed.split('/').collect();
    for n in (1..=segs.len()).rev() {
        let prefix = segs[..n].join("/");
        if prefix.is_empty() {
            continue;
        }
        let Some(route) = table.vanity(&prefix) else { continue };
        let base = format!("/{prefix}/");
        // Step 2: check access.
        let gate = access::gate(&engine, &route, &base, Asker::of(&req)).await;
        match gate {
            Gate::Open => {}
            Gate::Redirect(r) => return observed(&engine, nothing, r),
            // SECURITY: exactly the page a missing path gets.
            Gate::Hidden => return observed(&engine, nothing, not_found(NO_PAGE)),
        }
        if n == segs.len() && !path.ends_with('/') {
            let q = req.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
            return observed(&engine, nothing, Redirect::permanent(&format!("{base}{q}")).into_response());
        }
        // Steps 3 and 4.
        let rest = segs[n..].join("/");
        let visitor = visitor_of(&engine, &req, &rest);
        let (resp, served) = dispatch::serve(&engine, &route, &base, &rest, req).await;
        let seen = ViewerRequest { route: Some(route.as_ref()), served, visitor: visitor.as_ref(), ..nothing };
        return observed(&engine, seen, access::keep_private(&route, resp));
    }
    observed(&engine, nothing, not_found(NO_PAGE))
}
