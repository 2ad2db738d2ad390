//! Dispatch: once a request may see an item, what of it is served — a file of its bundle
//! (a static site or a pin), the app's worker (see [`super::app`]), a rendered document's
//! output, an earlier bundle (`_rev{N}`, `_bundle{N}`), a variant (`_variant{N}`) or an
//! earlier render (`_render{N}`).
//!
//! SECURITY:
//! - nothing here joins raw request text onto a file-system path: the URL tail is sanitised
//!   by `static_site::sanitize` (traversal → 400, hidden files → 404) and every file is
//!   contained in its bundle's (or render's) canonical folder by `static_site::serve`;
//! - an app's or a source document's bundle holds its source code, which is not what was
//!   shared: `_rev{N}`/`_bundle{N}` of non-static content show its files to the publisher
//!   only ([`explicit_bundle_notice`] for everyone else);
//! - only successful renders of this item (and of the variant shown) are served.
//!
//! Concurrency: reads the engine (store, file cache); holds nothing across requests.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::rescue;
use crate::engine::Engine;
use crate::observe::Served;
use crate::routes::Route;
use crate::static_site::{self, pages, CleanPath, Miss, PathRefusal, Target};
use crate::RuntimeKind;

/// Serves `rest` (the URL tail below `base`) of an item the request may see.
pub(super) async fn serve(
    engine: &Engine,
    route: &Arc<Route>,
    base: &str,
    rest: &str,
    req: Request,
) -> (Response, Served) {
    // `_rev{N}/` serves a file of an earlier bundle; `_bundle{N}/` previews a draft.
    let first = rest.split('/').next().unwrap_or("");
    let explicit =
        first.strip_prefix("_rev").or_else(|| first.strip_prefix("_bundle")).and_then(|n| n.parse::<i64>().ok());
    let kind = crate::runtime_kind(&route.app_mode);
    let (bundle_id, tail, index) = match explicit {
        Some(id) => match engine.library().bundle(&route.guid, id).await {
            Ok((_, b)) => {
                let manifest = b.manifest.clone();
                let mode = manifest.as_ref().map_or(route.app_mode.clone(), |m| m.app_mode.clone());
                let tail = rest.split_once('/').map(|(_, t)| t).unwrap_or("");
                // SECURITY: an app's or a document's bundle holds its source, which is not
                // what was shared, and a bundle never deployed was not shared at all: only the
                // publisher may browse them; viewers get a page saying what the bundle is
                // (rsconnect's draft check only needs an answer below 500).
                let peer = super::identity::peer_of(&req);
                let unshared =
                    !crate::runtime_kind(&mode).is_static() || b.state == crate::vocab::BundleState::Uploaded;
                if unshared && !super::identity::is_publisher(engine, req.headers(), peer).await {
                    return explicit_bundle_notice(route, b.id, &b.state, &mode, tail);
                }
                (b.id, tail, manifest.and_then(|m| m.primary_html))
            }
            Err(_) => {
                let missing = format!("Bundle {id} of {} does not exist.", route.title);
                return (rescue::not_found(&missing), Served::Nothing);
            }
        },
        None => match route.bundle_id {
            Some(id) => (id, rest, route.primary_html.clone()),
            None => return (rescue::not_yet(route, "This content has not been deployed yet."), Served::Nothing),
        },
    };
    if explicit.is_none() {
        match kind {
            RuntimeKind::Interactive => return (super::app::proxy(engine, route, base, req).await, Served::App),
            RuntimeKind::Rendered => {
                return render(engine, route, base, rest, req.method(), req.headers(), req.uri().query()).await
            }
            RuntimeKind::Static => {}
        }
    }
    let clean = match sanitize(tail) {
        Ok(c) => c,
        Err(refused) => return (refused, Served::Nothing),
    };
    let served = if route.content_category == "pin" { Served::Pin } else { Served::Static };
    let files = engine.library().files();
    if let Some(resp) =
        static_site::serve_cached(files, bundle_id, &clean, index.as_deref(), req.method(), req.headers())
    {
        return (with_server_header(resp), served);
    }
    let root = engine.library().bundle_dir(bundle_id);
    let target = Target { bundle_id, root: &root, path: &clean, index: index.as_deref() };
    let (resp, served) = match static_site::serve(files, target, req.method(), req.headers()).await {
        Ok(resp) => (resp, served),
        Err(Miss::AddSlash) => (add_slash(base, tail, req.uri().query()), Served::Nothing),
        Err(Miss::NotFound) => (rescue::no_file(route, base, tail), Served::Nothing),
    };
    (with_server_header(resp), served)
}

/// Turns a URL tail into plain relative components, or the answer that refuses it.
///
/// SECURITY: traversal (`..`, encoded slashes, backslashes) → 400; hidden files → 404.
#[allow(clippy::result_large_err)] // the Err is the finished error page, returned at once
fn sanitize(tail: &str) -> Result<CleanPath, Response> {
    match static_site::sanitize(tail) {
        Ok(c) => Ok(c),
        Err(PathRefusal::Traversal) => Err(rescue::bad_path()),
        Err(PathRefusal::Hidden) => Err(rescue::not_found("That file does not exist.")),
    }
}

/// `_bundle{N}/` or `_rev{N}/` of content that is not plain files: a page about the bundle
/// at its root, 404 below it.
fn explicit_bundle_notice(
    route: &Route,
    bundle_id: i64,
    state: &crate::vocab::BundleState,
    mode: &crate::vocab::AppMode,
    tail: &str,
) -> (Response, Served) {
    if !tail.is_empty() {
        let what = format!("Bundle {bundle_id} of {} has no viewable file at /{tail}.", route.title);
        return (rescue::not_found(&what), Served::Nothing);
    }
    let what = pages::kind_label(mode, "");
    let status = match (route.bundle_id == Some(bundle_id), state) {
        (true, _) => "It is the active bundle: open the content itself to use it.".to_string(),
        (false, crate::vocab::BundleState::Uploaded) => "It was uploaded but has not been deployed yet.".to_string(),
        (false, _) => "It is ready but not active (a draft). Deploy it again to make it the live version.".to_string(),
    };
    let body = format!("This is bundle {bundle_id} ({what}) of {}. {status}", route.title);
    let page = pages::notice(&format!("{} · bundle {bundle_id}", route.title), &body);
    ((StatusCode::OK, Html(page)).into_response(), Served::Static)
}

/// A rendered document: `_variant{V}/` serves a variant's output; `_render{N}/` (below
/// either) an earlier render; anything else the current render.
async fn render(
    engine: &Engine,
    route: &Route,
    base: &str,
    rest: &str,
    method: &Method,
    headers: &HeaderMap,
    query: Option<&str>,
) -> (Response, Served) {
    let after_first = |s: &str| s.split_once('/').map(|(_, t)| t).unwrap_or("").to_string();
    let variant = rest.split('/').next().unwrap_or("").strip_prefix("_variant").and_then(|n| n.parse::<i64>().ok());
    let (base, rest, current) = match variant {
        Some(v) => match engine.renders().variant(&route.guid, &v.to_string()).await {
            Ok(row) if row.id == v => (format!("{base}_variant{v}/"), after_first(rest), row.render_id),
            _ => return (rescue::not_found(&format!("{} has no variant {v}.", route.title)), Served::Nothing),
        },
        None => (base.to_string(), rest.to_string(), route.render_id),
    };
    let pick = rest.split('/').next().unwrap_or("").strip_prefix("_render").and_then(|n| n.parse::<i64>().ok());
    let (render, tail) = match pick {
        Some(id) => (Some(id), after_first(&rest)),
        None => (current, rest.clone()),
    };
    let shown = Shown { base: &base, variant, render };
    serve_render(engine, route, shown, &tail, method, headers, query).await
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
    method: &Method,
    headers: &HeaderMap,
    query: Option<&str>,
) -> (Response, Served) {
    let base = shown.base;
    let Some(id) = shown.render else {
        return (rescue::not_yet(route, "This document has not been rendered yet."), Served::Nothing);
    };
    // SECURITY: only successful renders of this item (and of the variant shown) are served.
    let history: Vec<_> = engine
        .renders()
        .renders(&route.guid)
        .await
        .unwrap_or_default()
        .into_iter()
        .filter(|r| r.variant_id == shown.variant)
        .collect();
    if !history.iter().any(|r| r.id == id && r.status == crate::vocab::RenderStatus::Success) {
        return (rescue::not_found(&format!("{} has no render {id}.", route.title)), Served::Nothing);
    }
    let clean = match sanitize(tail) {
        Ok(c) => c,
        Err(refused) => return (refused, Served::Nothing),
    };
    let root = engine.renders().render_dir(id).join("output");
    let index = crate::renders::primary_page(&root);
    // The root page of a render carries a small switcher to earlier renders, as Connect's does.
    if clean.rel.as_os_str().is_empty() && method == Method::GET {
        if let Some(page) = &index {
            if let Ok(html) = tokio::fs::read_to_string(root.join(page)).await {
                let html = pages::with_history_switcher(&html, base, id, &history);
                return (([(header::CACHE_CONTROL, "no-cache")], Html(html)).into_response(), Served::Render);
            }
        }
    }
    // Renders share the file cache with bundles under negative ids.
    let target = Target { bundle_id: -id, root: &root, path: &clean, index: index.as_deref() };
    match static_site::serve(engine.library().files(), target, method, headers).await {
        Ok(resp) => (resp, Served::Render),
        Err(Miss::AddSlash) => (add_slash(base, tail, query), Served::Nothing),
        Err(Miss::NotFound) => (rescue::no_file(route, base, tail), Served::Nothing),
    }
}

/// The redirect from a folder's path to the same path with its slash, query kept.
fn add_slash(base: &str, tail: &str, query: Option<&str>) -> Response {
    let q = query.map(|q| format!("?{q}")).unwrap_or_default();
    Redirect::permanent(&format!("{base}{}/{q}", tail.trim_end_matches('/'))).into_response()
}

/// Names Porch as the server of its own files, unless something else already did.
pub(super) fn with_server_header(mut resp: Response<Body>) -> Response<Body> {
    resp.headers_mut().entry(header::SERVER).or_insert(HeaderValue::from_static("porch"));
    resp
}
