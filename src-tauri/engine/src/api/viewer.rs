//! What viewers on the LAN reach: the landing page, `/content/{guid}/…`, vanity paths.
//!
//! SECURITY: every path of an item (pages, assets, WebSocket upgrades, `_rev{N}`,
//! `_bundle{N}`, `_render{N}`, anything below it, under `/content/{guid|id}/` or its vanity
//! path) passes [`gate`] first, which applies the item's viewer access:
//! - `network`: anyone;
//! - `local`: loopback clients only;
//! - `link`: a client holding the secret token, presented once as `?porch_token=T` (which
//!   sets an HttpOnly cookie scoped to the item's paths and redirects to the clean URL)
//!   and then as that cookie.
//!
//! The publisher's key opens any item from where the publisher may act (pins reads private
//! pins that way). A refused viewer gets exactly the 404 a missing item gets, so existence
//! does not leak. Paths are sanitised by `static_site::path` and contained by
//! `static_site::serve`; nothing here joins raw request text onto a file-system path.

use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::{ConnectInfo, Path, Request, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::auth::{check_key, host_is_this_machine, is_loopback, may_publish_from, KeyCheck};
use crate::engine::Engine;
use crate::keys;
use crate::routes::{Access, Route};
use crate::static_site::{self, pages, Miss, PathRefusal, Target};

/// The query parameter that carries a secret-link token.
pub const TOKEN_PARAM: &str = "porch_token";
/// How long a secret-link cookie lasts (revoking or regenerating the link ends it sooner).
const LINK_COOKIE_MAX_AGE: u64 = 30 * 24 * 3600;

/// The cookie a secret link sets for an item.
pub fn link_cookie_name(guid: &str) -> String {
    let short: String = guid.chars().filter(|c| *c != '-').take(12).collect();
    format!("porch_link_{short}")
}

fn peer_of(req: &Request) -> Option<SocketAddr> {
    req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0)
}

/// `GET /`: what this visitor may open: network items, and local ones for loopback
/// visitors. Secret-link items are never listed (their cookie is scoped to their paths).
pub(super) async fn landing(State(engine): State<Engine>, req: Request) -> Html<String> {
    let local = peer_of(&req).is_some_and(|p| is_loopback(p.ip())) && host_is_this_machine(&engine, req.headers());
    let table = engine.library().routes().snapshot();
    let listed = |r: &Route| r.access == Access::Network || (r.access == Access::Local && local);
    let mut visible: Vec<&Route> =
        table.all.iter().map(Arc::as_ref).filter(|r| listed(r) && r.bundle_id.is_some()).collect();
    visible.sort_by_key(|r| r.title.to_lowercase());
    let mut pins = std::collections::HashMap::new();
    for r in visible.iter().filter(|r| r.content_category == "pin") {
        pins.insert(r.guid.clone(), pin_versions(&engine, r).await);
    }
    Html(pages::landing(&visible, &pins))
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
pub(super) async fn content_root_redirect(Path(key): Path<String>, uri: Uri) -> Response {
    let q = uri.query().map(|q| format!("?{q}")).unwrap_or_default();
    let key: String = key.chars().filter(|c| c.is_ascii_alphanumeric() || *c == '-').collect();
    Redirect::permanent(&format!("/content/{key}/{q}")).into_response()
}

/// `GET /content/{key}/{*rest}`.
pub(super) async fn content_file(State(engine): State<Engine>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let Some(after) = path.strip_prefix("/content/") else { return not_found("That page does not exist.") };
    let (key, rest) = after.split_once('/').unwrap_or((after, ""));
    let mut route = engine.library().routes().snapshot().get(key);
    let stale = route.as_ref().is_none_or(|r| r.bundle_id.is_none());
    if stale && looks_like_key(key) {
        // Possibly created a moment ago by another process (the CLI): look again.
        if engine.library().refresh_routes().await.is_ok() {
            route = engine.library().routes().snapshot().get(key);
        }
    }
    let Some(route) = route else {
        return not_found(NO_CONTENT);
    };
    let (base, rest) = (format!("/content/{key}/"), rest.to_string());
    match gate(&engine, &route, &base, &req).await {
        Gate::Open => keep_private(&route, serve_route(&engine, &route, &base, &rest, req).await),
        Gate::Redirect(r) => r,
        Gate::Hidden => not_found(NO_CONTENT),
    }
}

/// Whether a path segment could name an item (a guid or a numeric id).
fn looks_like_key(key: &str) -> bool {
    (key.len() == 36 && key.chars().all(|c| c.is_ascii_hexdigit() || c == '-'))
        || (!key.is_empty() && key.len() <= 19 && key.bytes().all(|b| b.is_ascii_digit()))
}

/// Anything else: a vanity path, or a friendly 404.
pub(super) async fn fallback(State(engine): State<Engine>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let table = engine.library().routes().snapshot();
    // Longest vanity prefix wins: try `/a/b/c`, `/a/b`, `/a`.
    let trimmed = path.trim_start_matches('/');
    let segs: Vec<&str> = trimmed.split('/').collect();
    for n in (1..=segs.len()).rev() {
        let prefix = segs[..n].join("/");
        if prefix.is_empty() {
            continue;
        }
        if let Some(route) = table.vanity(&prefix) {
            let base = format!("/{prefix}/");
            match gate(&engine, &route, &base, &req).await {
                Gate::Open => {}
                Gate::Redirect(r) => return r,
                Gate::Hidden => return not_found(NO_PAGE),
            }
            if n == segs.len() && !path.ends_with('/') {
                let q = req.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
                return Redirect::permanent(&format!("{base}{q}")).into_response();
            }
            let rest = segs[n..].join("/");
            return keep_private(&route, serve_route(&engine, &route, &base, &rest, req).await);
        }
    }
    not_found(NO_PAGE)
}

const NO_CONTENT: &str = "There is no published content at this address.";
const NO_PAGE: &str = "That page does not exist.";

/// What a viewer may do with an item.
enum Gate {
    /// Serve the request.
    Open,
    /// A valid secret-link token in the URL: set its cookie and go to the clean URL.
    Redirect(Response),
    /// Answer exactly as if the item did not exist.
    Hidden,
}

/// Applies the item's viewer access to a request (see the module documentation).
fn gate<'a>(
    engine: &'a Engine,
    route: &'a Route,
    base: &'a str,
    req: &Request,
) -> impl std::future::Future<Output = Gate> + Send + 'a {
    // The request body is not Sync: only copies of the head are held across the key check.
    let (peer, method, uri, headers) = (peer_of(req), req.method().clone(), req.uri().clone(), req.headers().clone());
    async move { gate_parts(engine, route, base, peer, &method, &uri, &headers).await }
}

async fn gate_parts(
    engine: &Engine,
    route: &Route,
    base: &str,
    peer: Option<SocketAddr>,
    method: &axum::http::Method,
    uri: &Uri,
    headers: &axum::http::HeaderMap,
) -> Gate {
    match route.access {
        Access::Network => return Gate::Open,
        Access::Local if peer.is_some_and(|p| is_loopback(p.ip())) && host_is_this_machine(engine, headers) => {
            return Gate::Open
        }
        Access::Local => {}
        Access::Link => {
            if let Some(hash) = route.link_token_hash.as_deref() {
                if let Some(token) = query_token(uri) {
                    if keys::matches_any(&token, [hash]) {
                        let plain = matches!(*method, axum::http::Method::GET | axum::http::Method::HEAD)
                            && !headers.contains_key(header::UPGRADE);
                        return if plain {
                            Gate::Redirect(link_redirect(route, base, uri, &token))
                        } else {
                            Gate::Open
                        };
                    }
                }
                // A stale token in the URL does not undo a valid cookie.
                if cookie_values(headers, &link_cookie_name(&route.guid)).any(|t| keys::matches_any(t, [hash])) {
                    return Gate::Open;
                }
            }
        }
    }
    // The publisher's key opens any item, from wherever the publisher may act.
    if may_publish_from(engine, peer) {
        if let Ok(KeyCheck::Valid) = check_key(engine, headers, peer).await {
            return Gate::Open;
        }
    }
    Gate::Hidden
}

/// Marks answers about local and link items `Cache-Control: private`, so no shared cache
/// hands them to someone else (an app's own directives stay, `public` becomes `private`).
fn keep_private(route: &Route, mut resp: Response) -> Response {
    if route.access == Access::Network {
        return resp;
    }
    let current = resp.headers().get(header::CACHE_CONTROL).and_then(|v| v.to_str().ok()).map(str::to_ascii_lowercase);
    let value = match current {
        None => "private".to_string(),
        Some(c) if c.contains("private") || c.contains("no-store") => c,
        Some(c) if c.contains("public") => c.replace("public", "private"),
        Some(c) => format!("private, {c}"),
    };
    if let Ok(v) = header::HeaderValue::from_str(&value) {
        resp.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    resp
}

/// Whether the request carries the publisher's key from where the publisher may act.
fn is_publisher<'a>(engine: &'a Engine, req: &Request) -> impl std::future::Future<Output = bool> + Send + 'a {
    let (peer, headers) = (peer_of(req), req.headers().clone());
    async move { may_publish_from(engine, peer) && matches!(check_key(engine, &headers, peer).await, Ok(KeyCheck::Valid)) }
}

/// The `porch_token` query parameter, if any.
fn query_token(uri: &Uri) -> Option<String> {
    uri.query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == TOKEN_PARAM).then(|| percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned())
    })
}

/// A query string without `porch_token`, with its `?` (or empty); untouched when it has none.
pub(crate) fn query_without_token(query: Option<&str>) -> String {
    let Some(q) = query else { return String::new() };
    if !q.split('&').any(|kv| kv.split_once('=').map_or(kv, |(k, _)| k) == TOKEN_PARAM) {
        return format!("?{q}");
    }
    let kept: Vec<&str> =
        q.split('&').filter(|kv| !kv.is_empty() && kv.split_once('=').map_or(*kv, |(k, _)| k) != TOKEN_PARAM).collect();
    if kept.is_empty() {
        String::new()
    } else {
        format!("?{}", kept.join("&"))
    }
}

/// Every value of cookie `name` in the request.
fn cookie_values<'a>(headers: &'a axum::http::HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .filter(move |(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// 303 to the URL without the token, setting the link cookie on every path of the item.
fn link_redirect(route: &Route, base: &str, uri: &Uri, token: &str) -> Response {
    let to = format!("{}{}", uri.path(), query_without_token(uri.query()));
    let mut resp = Redirect::to(&to).into_response();
    let mut bases = route.bases();
    if !bases.iter().any(|b| b == base) {
        bases.push(base.to_string());
    }
    let name = link_cookie_name(&route.guid);
    for b in bases {
        // Without the trailing slash, the cookie also reaches `/q3` (which redirects to `/q3/`),
        // and by the path-match rule still nothing but the item's own paths.
        let path = b.trim_end_matches('/');
        let c = format!("{name}={token}; Path={path}; Max-Age={LINK_COOKIE_MAX_AGE}; HttpOnly; SameSite=Lax");
        if let Ok(v) = header::HeaderValue::from_str(&c) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, header::HeaderValue::from_static("no-store"));
    h.insert(header::REFERRER_POLICY, header::HeaderValue::from_static("no-referrer"));
    resp
}

fn not_found(what: &str) -> Response {
    (StatusCode::NOT_FOUND, Html(pages::not_found(what, None))).into_response()
}

/// Serves `rest` (the URL tail below `base`) of an item.
async fn serve_route(engine: &Engine, route: &Route, base: &str, rest: &str, req: Request) -> Response {
    let (method, headers) = (req.method().clone(), req.headers().clone());
    let (method, headers) = (&method, &headers);
    // `_rev{N}/` serves a file of an earlier bundle; `_bundle{N}/` previews a draft.
    let first = rest.split('/').next().unwrap_or("");
    let explicit =
        first.strip_prefix("_rev").or_else(|| first.strip_prefix("_bundle")).and_then(|n| n.parse::<i64>().ok());
    let (bundle_id, tail, index) = match explicit {
        Some(id) => match engine.library().bundle(&route.guid, id).await {
            Ok((_, b)) => {
                let manifest = b.manifest.as_deref().and_then(|m| crate::bundle::Manifest::parse(m.as_bytes()).ok());
                let mode = manifest.as_ref().map_or(route.app_mode.clone(), |m| m.app_mode.clone());
                let tail = rest.split_once('/').map(|(_, t)| t).unwrap_or("");
                // An app's or a document's bundle holds its source, which is not what was
                // shared: only the publisher may browse it; viewers get a page saying what
                // the bundle is (rsconnect's draft check only needs an answer below 500).
                if !crate::runtime_kind(&mode).is_static() && !is_publisher(engine, &req).await {
                    return explicit_bundle_notice(route, b.id, &b.state, &mode, tail);
                }
                (b.id, tail, manifest.and_then(|m| m.primary_html))
            }
            Err(_) => return not_found(&format!("Bundle {id} of {} does not exist.", route.title)),
        },
        None => match route.bundle_id {
            Some(id) => (id, rest, route.primary_html.clone()),
            None => {
                return (
                    StatusCode::NOT_FOUND,
                    Html(pages::notice(&route.title, "This content has not been deployed yet.")),
                )
                    .into_response()
            }
        },
    };
    if explicit.is_none() && crate::runtime_kind(&route.app_mode) == crate::RuntimeKind::Interactive {
        return super::interactive::proxy(engine, route, base, req).await;
    }
    if explicit.is_none() && crate::runtime_kind(&route.app_mode) == crate::RuntimeKind::Rendered {
        // `_variant{V}/` serves a variant's output; `_render{N}/` (below either) an earlier render.
        let after_first = |s: &str| s.split_once('/').map(|(_, t)| t).unwrap_or("").to_string();
        let variant = rest.split('/').next().unwrap_or("").strip_prefix("_variant").and_then(|n| n.parse::<i64>().ok());
        let (base, rest, current) = match variant {
            Some(v) => match engine.renders().variant(&route.guid, &v.to_string()).await {
                Ok(row) if row.id == v => (format!("{base}_variant{v}/"), after_first(rest), row.render_id),
                _ => return not_found(&format!("{} has no variant {v}.", route.title)),
            },
            None => (base.to_string(), rest.to_string(), route.render_id),
        };
        let pick = rest.split('/').next().unwrap_or("").strip_prefix("_render").and_then(|n| n.parse::<i64>().ok());
        let (render, tail) = match pick {
            Some(id) => (Some(id), after_first(&rest)),
            None => (current, rest.clone()),
        };
        let shown = Shown { base: &base, variant, render };
        return serve_render(engine, route, shown, &tail, method, headers).await;
    }
    if explicit.is_none() && !crate::runtime_kind(&route.app_mode).is_static() {
        return (
            StatusCode::NOT_FOUND,
            Html(pages::notice(
                &route.title,
                &format!(
                    "This {} is published, but this version of Porch cannot render {} content yet.",
                    pages::kind_label(&route.app_mode, &route.content_category),
                    route.app_mode
                ),
            )),
        )
            .into_response();
    }
    let clean = match static_site::sanitize(tail) {
        Ok(c) => c,
        Err(PathRefusal::Traversal) => {
            return (StatusCode::BAD_REQUEST, Html(pages::notice("Bad request", "That path is not allowed.")))
                .into_response()
        }
        Err(PathRefusal::Hidden) => return not_found("That file does not exist."),
    };
    let root = engine.library().bundle_dir(bundle_id);
    let target = Target { bundle_id, root: &root, path: &clean, index: index.as_deref() };
    match static_site::serve(engine.library().files(), target, method, headers).await {
        Ok(resp) => resp,
        Err(Miss::AddSlash) => {
            let to = format!("{base}{}/", tail.trim_end_matches('/'));
            Redirect::permanent(&to).into_response()
        }
        Err(Miss::NotFound) => (
            StatusCode::NOT_FOUND,
            Html(pages::not_found(&format!("{} has no file at /{tail}.", route.title), Some((&route.title, base)))),
        )
            .into_response(),
    }
    .map_with_header()
}

/// `_bundle{N}/` or `_rev{N}/` of content that is not plain files: a page about the bundle
/// at its root, 404 below it.
fn explicit_bundle_notice(route: &Route, bundle_id: i64, state: &str, mode: &str, tail: &str) -> Response {
    if !tail.is_empty() {
        return not_found(&format!("Bundle {bundle_id} of {} has no viewable file at /{tail}.", route.title));
    }
    let what = pages::kind_label(mode, "");
    let status = match (route.bundle_id == Some(bundle_id), state) {
        (true, _) => "It is the active bundle: open the content itself to use it.".to_string(),
        (false, "uploaded") => "It was uploaded but has not been deployed yet.".to_string(),
        (false, _) => "It is ready but not active (a draft). Deploy it again to make it the live version.".to_string(),
    };
    let body = format!("This is bundle {bundle_id} ({what}) of {}. {status}", route.title);
    (StatusCode::OK, Html(pages::notice(&format!("{} · bundle {bundle_id}", route.title), &body))).into_response()
}

/// Which render of an item a request shows: the item's or a variant's, under `base`.
struct Shown<'a> {
    base: &'a str,
    variant: Option<i64>,
    render: Option<i64>,
}

/// Serves a file of a render's output (the current one unless `_render{N}/` names another).
async fn serve_render(
    engine: &Engine,
    route: &Route,
    shown: Shown<'_>,
    tail: &str,
    method: &axum::http::Method,
    headers: &axum::http::HeaderMap,
) -> Response {
    let base = shown.base;
    let Some(id) = shown.render else {
        return (StatusCode::NOT_FOUND, Html(pages::notice(&route.title, "This document has not been rendered yet.")))
            .into_response();
    };
    // Only successful renders of this item (and of the variant shown) are served.
    let history: Vec<_> = engine
        .renders()
        .renders(&route.guid)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.variant_id == shown.variant)
        .collect();
    if !history.iter().any(|r| r.id == id && r.status == "success") {
        return not_found(&format!("{} has no render {id}.", route.title));
    }
    let clean = match static_site::sanitize(tail) {
        Ok(c) => c,
        Err(PathRefusal::Traversal) => {
            return (StatusCode::BAD_REQUEST, Html(pages::notice("Bad request", "That path is not allowed.")))
                .into_response()
        }
        Err(PathRefusal::Hidden) => return not_found("That file does not exist."),
    };
    let root = engine.renders().render_dir(id).join("output");
    let index = crate::renders::primary_page(&root);
    // The root page of a render carries a small switcher to earlier renders, as Connect's does.
    if clean.rel.as_os_str().is_empty() && method == axum::http::Method::GET {
        if let Some(page) = &index {
            if let Ok(html) = tokio::fs::read_to_string(root.join(page)).await {
                let html = pages::with_history_switcher(&html, base, id, &history);
                return ([(axum::http::header::CACHE_CONTROL, "no-cache")], Html(html)).into_response();
            }
        }
    }
    // Renders share the file cache with bundles under negative ids.
    let target = Target { bundle_id: -id, root: &root, path: &clean, index: index.as_deref() };
    match static_site::serve(engine.library().files(), target, method, headers).await {
        Ok(resp) => resp,
        Err(Miss::AddSlash) => Redirect::permanent(&format!("{base}{}/", tail.trim_end_matches('/'))).into_response(),
        Err(Miss::NotFound) => (
            StatusCode::NOT_FOUND,
            Html(pages::not_found(&format!("{} has no file at /{tail}.", route.title), Some((&route.title, base)))),
        )
            .into_response(),
    }
}

trait WithHeader {
    fn map_with_header(self) -> Response;
}

impl WithHeader for Response {
    fn map_with_header(mut self) -> Response {
        self.headers_mut().entry(header::SERVER).or_insert(header::HeaderValue::from_static("porch"));
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_leaves_the_query_and_nothing_else_changes() {
        assert_eq!(query_without_token(None), "");
        assert_eq!(query_without_token(Some("a=1&&b")), "?a=1&&b");
        assert_eq!(query_without_token(Some("porch_token=t")), "");
        assert_eq!(query_without_token(Some("x=1&porch_token=t&y=2")), "?x=1&y=2");
        assert_eq!(query_token(&"/c/?x=1&porch_token=a%62c".parse().expect("uri")), Some("abc".into()));
    }
}
