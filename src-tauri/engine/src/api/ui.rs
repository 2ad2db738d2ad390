//! `/__porch__/`: the Porch web UI for a browser (the same UI the desktop window shows).
//!
//! The files are the `ui/dist` build, embedded into the binary by its build script and
//! handed in as [`crate::config::UiAssets`]. A binary built without a prior `npm run build`
//! has none and answers with a page saying how to build them.
//!
//! SECURITY: these are public static files with no data in them; everything the UI shows
//! comes from the API, which needs the publisher's key (the UI asks for it and keeps it in
//! the browser's local storage). Only the embedded list is served: request paths are looked
//! up in it, never joined onto a file-system path.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};

use crate::engine::Engine;
use crate::static_site::pages;

/// `/__porch__` → `/__porch__/`.
pub(super) async fn redirect() -> Redirect {
    Redirect::permanent("/__porch__/")
}

/// `/__porch__/`: the UI's `index.html`.
pub(super) async fn index(State(engine): State<Engine>) -> Response {
    asset(&engine, "index.html")
}

/// `/__porch__/{*path}`: one asset; unknown paths get `index.html` (client-side routes use `#`).
pub(super) async fn file(State(engine): State<Engine>, Path(path): Path<String>) -> Response {
    asset(&engine, &path)
}

fn asset(engine: &Engine, path: &str) -> Response {
    let Some(assets) = engine.config().ui_assets.filter(|a| !a.is_empty()) else {
        let html = pages::notice(
            "Porch UI not built",
            "This Porch binary was built without its web UI. Build it with `npm ci --prefix ui && npm --prefix ui run build`, \
             then rebuild Porch (`cargo build`). The API and published content work without it.",
        );
        return (StatusCode::SERVICE_UNAVAILABLE, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    };
    let found = assets.iter().find(|(p, _)| *p == path);
    let (name, bytes) = match found {
        Some((p, b)) => (*p, *b),
        // A missing asset (with an extension) is a real 404; anything else is the app shell.
        None if path.rsplit('/').next().is_some_and(|last| last.contains('.')) => {
            return (StatusCode::NOT_FOUND, "not found").into_response();
        }
        None => match assets.iter().find(|(p, _)| *p == "index.html") {
            Some((p, b)) => (*p, *b),
            None => return (StatusCode::NOT_FOUND, "not found").into_response(),
        },
    };
    let mime = mime_guess::from_path(name).first_or_octet_stream();
    // Hashed asset names never change content; the shell must be revalidated.
    let cache = if name.starts_with("assets/") { "public, max-age=31536000, immutable" } else { "no-cache" };
    (
        [
            (header::CONTENT_TYPE, mime.essence_str().to_string()),
            (header::CACHE_CONTROL, cache.to_string()),
            (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
        ],
        bytes,
    )
        .into_response()
}
