//! What viewers on the LAN reach: the landing page, `/content/{guid}/…`, vanity paths.
//!
//! SECURITY: viewers need no key for content whose access type is `all`; any other item
//! needs the publisher's key (pins reads private pins that way). Paths are sanitised by
//! `static_site::path` and contained by `static_site::serve`; nothing here joins raw
//! request text onto a file-system path.

use std::sync::Arc;

use axum::extract::{Path, Request, State};
use axum::http::{header, StatusCode, Uri};
use axum::response::{Html, IntoResponse, Redirect, Response};

use super::auth::has_valid_key;
use crate::engine::Engine;
use crate::routes::Route;
use crate::static_site::{self, pages, Miss, PathRefusal, Target};

/// `GET /`: what viewers may see.
pub(super) async fn landing(State(engine): State<Engine>) -> Html<String> {
    let table = engine.inner.routes.snapshot();
    let mut visible: Vec<&Route> = table.all.iter().map(Arc::as_ref).filter(|r| r.is_public() && r.bundle_id.is_some()).collect();
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
    let Ok((_, bundles)) = engine.bundles(&r.guid).await else { return Vec::new() };
    let mut out = Vec::new();
    for b in bundles.into_iter().take(SHOWN) {
        let data = tokio::fs::read_to_string(engine.bundle_dir(b.id).join("data.txt")).await.unwrap_or_default();
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
    let mut route = engine.inner.routes.snapshot().get(key);
    let stale = route.as_ref().is_none_or(|r| r.bundle_id.is_none());
    if stale && looks_like_key(key) {
        // Possibly created a moment ago by another process (the CLI): look again.
        if engine.refresh_routes().await.is_ok() {
            route = engine.inner.routes.snapshot().get(key);
        }
    }
    let Some(route) = route else {
        return not_found("There is no published content at this address.");
    };
    let (base, rest) = (format!("/content/{key}/"), rest.to_string());
    serve_route(&engine, &route, &base, &rest, req).await
}

/// Whether a path segment could name an item (a guid or a numeric id).
fn looks_like_key(key: &str) -> bool {
    (key.len() == 36 && key.chars().all(|c| c.is_ascii_hexdigit() || c == '-'))
        || (!key.is_empty() && key.len() <= 19 && key.bytes().all(|b| b.is_ascii_digit()))
}

/// Anything else: a vanity path, or a friendly 404.
pub(super) async fn fallback(State(engine): State<Engine>, req: Request) -> Response {
    let path = req.uri().path().to_string();
    let table = engine.inner.routes.snapshot();
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
            if n == segs.len() && !path.ends_with('/') {
                let q = req.uri().query().map(|q| format!("?{q}")).unwrap_or_default();
                return Redirect::permanent(&format!("{base}{q}")).into_response();
            }
            let rest = segs[n..].join("/");
            return serve_route(&engine, &route, &base, &rest, req).await;
        }
    }
    not_found("That page does not exist.")
}

fn not_found(what: &str) -> Response {
    (StatusCode::NOT_FOUND, Html(pages::not_found(what, None))).into_response()
}

/// Serves `rest` (the URL tail below `base`) of an item.
async fn serve_route(engine: &Engine, route: &Route, base: &str, rest: &str, req: Request) -> Response {
    let (method, headers) = (req.method().clone(), req.headers().clone());
    let (method, headers) = (&method, &headers);
    if !route.is_public() {
        match has_valid_key(engine, headers).await {
            Ok(true) => {}
            Ok(false) => {
                return (
                    StatusCode::FORBIDDEN,
                    Html(pages::notice("Private content", "The publisher has not shared this content with everyone on the network.")),
                )
                    .into_response()
            }
            Err(e) => return super::error::ApiError(e).into_response(),
        }
    }
    // `_rev{N}/` serves a file of an earlier bundle; `_bundle{N}/` previews a draft.
    let first = rest.split('/').next().unwrap_or("");
    let explicit = first.strip_prefix("_rev").or_else(|| first.strip_prefix("_bundle")).and_then(|n| n.parse::<i64>().ok());
    let (bundle_id, tail, index) = match explicit {
        Some(id) => match engine.bundle(&route.guid, id).await {
            Ok((_, b)) => {
                let manifest = b.manifest.as_deref().and_then(|m| crate::bundle::Manifest::parse(m.as_bytes()).ok());
                let mode = manifest.as_ref().map_or(route.app_mode.clone(), |m| m.app_mode.clone());
                let tail = rest.split_once('/').map(|(_, t)| t).unwrap_or("");
                if !crate::runtime_kind(&mode).is_static() {
                    // An app's or a document's bundle holds its source, which is not for
                    // viewers: say what the bundle is instead (rsconnect's draft check
                    // only needs an answer below 500).
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
    let first_seg = rest.split('/').next().unwrap_or("");
    let render_pick = first_seg.strip_prefix("_render").and_then(|n| n.parse::<i64>().ok());
    if explicit.is_none() && crate::runtime_kind(&route.app_mode) == crate::RuntimeKind::Rendered {
        let (render, tail) = match render_pick {
            Some(id) => (Some(id), rest.split_once('/').map(|(_, t)| t).unwrap_or("")),
            None => (route.render_id, rest),
        };
        return serve_render(engine, route, base, render, tail, method, headers).await;
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
            return (StatusCode::BAD_REQUEST, Html(pages::notice("Bad request", "That path is not allowed."))).into_response()
        }
        Err(PathRefusal::Hidden) => return not_found("That file does not exist."),
    };
    let root = engine.bundle_dir(bundle_id);
    let target = Target { bundle_id, root: &root, path: &clean, index: index.as_deref() };
    match static_site::serve(&engine.inner.files, target, method, headers).await {
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

/// Serves a file of a render's output (the current one unless `_render{N}/` names another).
async fn serve_render(
    engine: &Engine,
    route: &Route,
    base: &str,
    render: Option<i64>,
    tail: &str,
    method: &axum::http::Method,
    headers: &axum::http::HeaderMap,
) -> Response {
    let Some(id) = render else {
        return (StatusCode::NOT_FOUND, Html(pages::notice(&route.title, "This document has not been rendered yet."))).into_response();
    };
    // Only successful renders of this item are served.
    let ok = engine
        .renders(&route.guid)
        .await
        .map(|all| all.iter().any(|r| r.id == id && r.status == "success"))
        .unwrap_or(false);
    if !ok {
        return not_found(&format!("{} has no render {id}.", route.title));
    }
    let clean = match static_site::sanitize(tail) {
        Ok(c) => c,
        Err(PathRefusal::Traversal) => {
            return (StatusCode::BAD_REQUEST, Html(pages::notice("Bad request", "That path is not allowed."))).into_response()
        }
        Err(PathRefusal::Hidden) => return not_found("That file does not exist."),
    };
    let root = engine.render_dir(id).join("output");
    let index = crate::render::primary_page(&root);
    // The root page of a render carries a small switcher to earlier renders, as Connect's does.
    if clean.rel.as_os_str().is_empty() && method == axum::http::Method::GET {
        if let Some(page) = &index {
            if let Ok(html) = tokio::fs::read_to_string(root.join(page)).await {
                let history = engine.renders(&route.guid).await.unwrap_or_default();
                let html = pages::with_history_switcher(&html, base, id, &history);
                return ([(axum::http::header::CACHE_CONTROL, "no-cache")], Html(html)).into_response();
            }
        }
    }
    // Renders share the file cache with bundles under negative ids.
    let target = Target { bundle_id: -id, root: &root, path: &clean, index: index.as_deref() };
    match static_site::serve(&engine.inner.files, target, method, headers).await {
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
