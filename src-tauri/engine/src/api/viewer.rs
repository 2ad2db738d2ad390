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
    Html(pages::landing(&visible))
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
                let index = manifest.and_then(|m| m.primary_html);
                (b.id, rest.split_once('/').map(|(_, t)| t).unwrap_or(""), index)
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
            Some(v) => match engine.variant(&route.guid, &v.to_string()).await {
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
        return (StatusCode::NOT_FOUND, Html(pages::notice(&route.title, "This document has not been rendered yet."))).into_response();
    };
    // Only successful renders of this item (and of the variant shown) are served.
    let history: Vec<_> = engine
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
