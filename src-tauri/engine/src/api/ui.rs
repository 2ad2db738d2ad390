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
        return (StatusCode::SERVICE_UNAVAILABLE, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html)
            .into_response();
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
            // No page elsewhere may frame the UI to steer the publisher's clicks.
            (header::X_FRAME_OPTIONS, "DENY".to_string()),
            (header::CONTENT_SECURITY_POLICY, "frame-ancestors 'none'".to_string()),
        ],
        bytes,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use axum::body::{to_bytes, Body};
    use axum::http::Request;
    use tower::ServiceExt as _;

    use crate::config::Config;
    use crate::engine::Engine;

    static ASSETS: &[(&str, &[u8])] =
        &[("index.html", b"<div id=\"app\"></div>"), ("assets/app-1.js", b"console.log(1)")];

    async fn get(engine: &Engine, path: &str) -> (u16, String, String, String) {
        let req = Request::get(path).body(Body::empty()).expect("request");
        let resp = crate::api::router(engine.clone()).oneshot(req).await.expect("infallible");
        let header = |n: &str| resp.headers().get(n).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let (ctype, cache) = (header("content-type"), header("cache-control"));
        if resp.status().is_success() {
            // Never framed by another page.
            assert_eq!(header("x-frame-options"), "DENY", "{path}");
            assert_eq!(header("content-security-policy"), "frame-ancestors 'none'", "{path}");
        }
        let status = resp.status().as_u16();
        let body = to_bytes(resp.into_body(), usize::MAX).await.expect("body");
        (status, ctype, cache, String::from_utf8_lossy(&body).into_owned())
    }

    #[tokio::test]
    async fn serves_the_embedded_ui_or_says_it_is_not_built() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = Config::new(dir.path().join("with"));
        config.ui_assets = Some(ASSETS);
        let engine = Engine::open(config).await.expect("open");
        let (status, ctype, cache, body) = get(&engine, "/__porch__/").await;
        assert_eq!((status, ctype.as_str(), cache.as_str()), (200, "text/html", "no-cache"));
        assert!(body.contains("id=\"app\""));
        let (status, ctype, cache, _) = get(&engine, "/__porch__/assets/app-1.js").await;
        assert_eq!(status, 200);
        assert!(ctype.contains("javascript"), "{ctype}");
        assert!(cache.contains("immutable"), "{cache}");
        assert_eq!(get(&engine, "/__porch__/assets/missing.js").await.0, 404);
        // Paths that are not files get the app shell; nothing outside the list is reachable.
        let (status, _, _, body) = get(&engine, "/__porch__/settings").await;
        assert_eq!(status, 200);
        assert!(body.contains("id=\"app\""));
        assert_eq!(get(&engine, "/__porch__/../porch.db").await.0, 404);

        let engine = Engine::open(Config::new(dir.path().join("without"))).await.expect("open");
        let (status, _, _, body) = get(&engine, "/__porch__/").await;
        assert_eq!(status, 503);
        assert!(body.contains("UI not built") && body.contains("npm --prefix ui run build"), "{body}");
    }
}
