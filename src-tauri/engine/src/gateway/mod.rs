//! The content gateway: the only path a viewer's request takes, read top to bottom.
//!
//! Every request on the LAN port that is not management (`/__api__/…`, the API's) nor the
//! publisher's static UI (`/__porch__/`) is a viewer's, and goes through these steps in order
//! (the phone test's one-time page `/__porch__/reach/<token>` is a viewer's too: it needs no
//! key and is answered by the reach service alone, [`phone_test`]):
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
pub mod fast;
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
use crate::gallery;
use crate::routes::Route;
use crate::static_site::pages;
use crate::vocab::ViewerAccess;

/// The viewer routes: the landing page, `/content/…` and (as the fallback) vanity paths.
/// The caller mounts management beside them and layers [`pause_gate`] over all of it.
pub fn routes() -> Router<Engine> {
    Router::new()
        .route("/", axum::routing::get(landing))
        .route(pages::LOGO_PATH, axum::routing::get(logo))
        .route("/__porch__/reach/{token}", axum::routing::get(phone_test))
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

/// Who is asking (read from the request only while an observer wants to know), and why the
/// request is never counted, if so (asked always: keep-awake needs it with usage off).
fn who_asks(
    engine: &Engine,
    method: &axum::http::Method,
    headers: &axum::http::HeaderMap,
    rest: &str,
) -> (Option<Visitor>, Option<crate::observe::Uncounted>) {
    let visitor = engine.viewers().wants_detail().then(|| Visitor::of(method, headers, rest));
    let uncounted = match &visitor {
        Some(v) => v.uncounted,
        None => crate::observe::Uncounted::of(method, headers, rest),
    };
    (visitor, uncounted)
}

/// Cards per landing page.
const PER_PAGE: usize = 24;

/// The landing page's query: `q` (words, all must match), `tag` (a tag path), `page`,
/// and `partial=1` (only the results, for the page's own script).
#[derive(Debug, Default)]
struct GalleryQuery {
    q: String,
    tag: String,
    page: usize,
    partial: bool,
}

impl GalleryQuery {
    fn parse(query: Option<&str>) -> GalleryQuery {
        let mut out = GalleryQuery { page: 1, ..Default::default() };
        for kv in query.unwrap_or("").split('&').filter(|kv| !kv.is_empty()) {
            let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
            let v = v.replace('+', " ");
            let v = percent_encoding::percent_decode_str(&v).decode_utf8_lossy().trim().to_string();
            match k {
                "q" => out.q = v.chars().take(200).collect(),
                "tag" => out.tag = v.trim_matches('/').chars().take(500).collect(),
                "page" => out.page = v.parse::<usize>().unwrap_or(1).clamp(1, 1_000_000),
                "partial" => out.partial = v == "1",
                _ => {}
            }
        }
        out
    }
}

/// `GET /`: the gallery of what this visitor may open: network items, and local ones for
/// visitors on this computer. Secret-link items are never listed (their cookie is scoped to
/// their paths). Search, tag filter and paging are done here, on the server, so the page
/// works without JavaScript and a phone gets one page of cards at a time.
async fn landing(State(engine): State<Engine>, req: Request) -> Response {
    let ask = Asker::of(&req);
    let local = ask.is_this_computer(&engine);
    let query = GalleryQuery::parse(req.uri().query());
    let index = match engine.gallery().index().await {
        Ok(index) => index,
        Err(e) => {
            tracing::warn!(error = %e, "cannot build the gallery");
            Arc::default()
        }
    };
    // SECURITY: only what this visitor may open is listed, and so only their thumbnails.
    let listed = |r: &Route| r.access == ViewerAccess::Network || (r.access == ViewerAccess::Local && local);
    let visible: Vec<&gallery::Entry> =
        index.entries.iter().filter(|e| e.route.bundle_id.is_some() && listed(&e.route)).collect();
    // Only the distinct paths are copied (a few), not every item's tags.
    let tag_paths: Vec<String> = visible
        .iter()
        .flat_map(|e| e.tags.iter().map(String::as_str))
        .collect::<std::collections::BTreeSet<&str>>()
        .into_iter()
        .map(str::to_string)
        .collect();
    let words: Vec<String> = query.q.to_lowercase().split_whitespace().map(str::to_string).collect();
    let matching: Vec<&gallery::Entry> = visible
        .iter()
        .copied()
        .filter(|e| query.tag.is_empty() || e.tags.contains(&query.tag))
        .filter(|e| words.iter().all(|w| e.haystack.contains(w.as_str())))
        .collect();
    let pages = matching.len().div_ceil(PER_PAGE).max(1);
    let page = query.page.min(pages);
    let shown = &matching[((page - 1) * PER_PAGE).min(matching.len())..(page * PER_PAGE).min(matching.len())];
    let mut cards = Vec::with_capacity(shown.len());
    for e in shown {
        let r = &e.route;
        let kind = crate::runtime_kind(&r.app_mode);
        let pins = if r.content_category == "pin" { pin_versions(&engine, r).await } else { Vec::new() };
        cards.push(pages::Card {
            href: r.vanity_path.clone().unwrap_or_else(|| format!("/content/{}/", r.guid)),
            guid: &r.guid,
            title: &r.title,
            description: &r.description,
            kind: pages::kind_label(&r.app_mode, &r.content_category),
            tags: &e.tags,
            updated: e.updated.as_deref(),
            rendered: e.rendered,
            app: kind == crate::RuntimeKind::Interactive,
            local_only: r.access == ViewerAccess::Local,
            thumbnail: e.thumbnail.as_deref(),
            card_svg: e.thumbnail.is_none().then(|| engine.gallery().card(r)),
            pins,
        });
    }
    let settings = engine.gallery().settings();
    let logo = index.logo.clone();
    let g = pages::Gallery {
        title: settings.title(),
        intro: settings.intro(),
        logo: logo.as_deref(),
        q: &query.q,
        tag: &query.tag,
        tag_paths: &tag_paths,
        cards,
        total: matching.len(),
        listed: visible.len(),
        page,
        per_page: PER_PAGE,
    };
    let html = if query.partial { pages::gallery_results(&g) } else { pages::gallery(&g) };
    // The page differs per visitor (local items) and changes with the library.
    let resp = ([(axum::http::header::CACHE_CONTROL, "no-cache")], Html(html)).into_response();
    let seen = ViewerRequest {
        route: None,
        served: Served::Landing,
        status: StatusCode::OK,
        peer: ask.peer,
        visitor: None,
        html_page: true,
        uncounted: None,
    };
    observed(&engine, seen, resp)
}

/// `GET /__porch__/reach/{token}`: a phone test's one-time page ([`crate::reach::phone`]).
///
/// SECURITY: needs no key and shows only the test's outcome; an unknown, used or expired
/// token gets a page that says so and nothing else. The peer address is the socket's (no
/// forwarded header is believed), and nothing about the visit is stored.
async fn phone_test(State(engine): State<Engine>, Path(token): Path<String>, req: Request) -> Response {
    let ua = req.headers().get(axum::http::header::USER_AGENT).and_then(|v| v.to_str().ok()).unwrap_or("");
    let opened = engine.reach().phone_opened(&token, identity::peer_of(&req), ua);
    let (status, html) = crate::reach::phone::page(&opened);
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::NOT_FOUND);
    (status, [(axum::http::header::CACHE_CONTROL, "no-store")], Html(html)).into_response()
}

/// `GET /__gallery__/logo`: the landing page's logo (public, like the landing page).
async fn logo(State(engine): State<Engine>) -> Response {
    match engine.gallery().logo().await {
        Ok(Some(p)) => p.into_response_with("public, max-age=3600"),
        _ => StatusCode::NO_CONTENT.into_response(),
    }
}

/// `/content/{guid}/__thumbnail__` once access was granted: the picture (cached, with an
/// ETag), or 204 when there is none.
async fn thumbnail(engine: &Engine, route: &Route, headers: &axum::http::HeaderMap) -> Response {
    match engine.gallery().thumbnail(&route.guid).await {
        Ok(Some(p)) => {
            let resp = p.into_response_with("max-age=3600");
            let etag = resp.headers().get(axum::http::header::ETAG).cloned();
            let matched = headers.get(axum::http::header::IF_NONE_MATCH).is_some_and(|v| Some(v) == etag.as_ref());
            if matched {
                let mut not_modified = StatusCode::NOT_MODIFIED.into_response();
                not_modified.headers_mut().extend(
                    resp.headers()
                        .iter()
                        .filter(|(k, _)| *k != axum::http::header::CONTENT_TYPE)
                        .map(|(k, v)| (k.clone(), v.clone())),
                );
                return not_modified;
            }
            resp
        }
        Ok(None) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => {
            tracing::warn!(error = %e, content = %route.guid, "cannot read a thumbnail");
            StatusCode::NO_CONTENT.into_response()
        }
    }
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
        uncounted: None,
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
        Gate::Open if rest == THUMBNAIL && req.method() == axum::http::Method::GET => {
            // Connect's viewer URL of an item's picture: no page view, whatever it is.
            let resp = thumbnail(&engine, &route, req.headers()).await;
            let seen = ViewerRequest { route: Some(route.as_ref()), served: Served::Nothing, ..nothing };
            observed(&engine, seen, access::keep_private(&route, resp))
        }
        Gate::Open => {
            // Steps 3 and 4: dispatch, rescuing what cannot be served.
            let (visitor, uncounted) = who_asks(&engine, req.method(), req.headers(), &rest);
            let (resp, served) = dispatch::serve(&engine, &route, &base, &rest, req).await;
            let seen =
                ViewerRequest { route: Some(route.as_ref()), served, visitor: visitor.as_ref(), uncounted, ..nothing };
            observed(&engine, seen, access::keep_private(&route, resp))
        }
        Gate::Redirect(r) => observed(&engine, nothing, r),
        // SECURITY: exactly the page a missing item gets.
        Gate::Hidden => observed(&engine, nothing, not_found(NO_CONTENT)),
    }
}

/// The tail of `/content/{guid}/` that serves the item's picture (Connect's URL).
const THUMBNAIL: &str = "__thumbnail__";

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
        uncounted: None,
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
        let (visitor, uncounted) = who_asks(&engine, req.method(), req.headers(), &rest);
        let (resp, served) = dispatch::serve(&engine, &route, &base, &rest, req).await;
        let seen =
            ViewerRequest { route: Some(route.as_ref()), served, visitor: visitor.as_ref(), uncounted, ..nothing };
        return observed(&engine, seen, access::keep_private(&route, resp));
    }
    observed(&engine, nothing, not_found(NO_PAGE))
}
