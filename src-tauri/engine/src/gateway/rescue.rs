//! Rescue: every answer the gateway gives when it cannot serve what was asked, as a page a
//! viewer can read (HTML, never a bare status) with a reason in `x-porch-proxy-error` where
//! a machine may want it.
//!
//! - nothing at this address, or refused (the very same page: existence does not leak) → 404;
//! - an app starting (a browser's first request) → 503 with a self-reloading page and
//!   `Retry-After`; at capacity → 503 with `Retry-After`; not running → 503;
//! - the app did not start in time → 504; it failed to start → 502, with its last lines
//!   for its publisher (this computer, or the key) and without them for anyone else;
//! - the upstream refused or broke the connection → 502 ([`upstream`]);
//! - sharing paused, for viewers on other computers → 503.
//!
//! It owns no state and decides nothing about access; it only words the failures.

use axum::body::Body;
use axum::http::{header, HeaderValue, Response, StatusCode};
use axum::response::{Html, IntoResponse};

use crate::proxy::ProxyError;
use crate::routes::Route;
use crate::static_site::pages;
use crate::supervisor::{RouteError, Wait};

/// Header naming why Porch answered in an app's place.
pub const ERROR_HEADER: &str = "x-porch-proxy-error";

/// What a missing item's page says.
pub(super) const NO_CONTENT: &str = "There is no published content at this address.";
/// What a missing page's page says.
pub(super) const NO_PAGE: &str = "That page does not exist.";

/// A 404 page saying `what`.
pub(super) fn not_found(what: &str) -> Response<Body> {
    (StatusCode::NOT_FOUND, Html(pages::not_found(what, None))).into_response()
}

/// A 404 for a missing file of an item, with a way back to its start page.
pub(super) fn no_file(route: &Route, base: &str, tail: &str) -> Response<Body> {
    let what = format!("{} has no file at /{tail}.", route.title);
    (StatusCode::NOT_FOUND, Html(pages::not_found(&what, Some((&route.title, base))))).into_response()
}

/// A 404 notice about an item (not deployed, not rendered, not servable).
pub(super) fn not_yet(route: &Route, message: &str) -> Response<Body> {
    (StatusCode::NOT_FOUND, Html(pages::notice(&route.title, message))).into_response()
}

/// 400 for a path that tries to leave its folder.
pub(super) fn bad_path() -> Response<Body> {
    (StatusCode::BAD_REQUEST, Html(pages::notice("Bad request", "That path is not allowed."))).into_response()
}

/// A page Porch answers in an app's place, with the reason in [`ERROR_HEADER`].
pub fn error_response(status: StatusCode, reason: &'static str, html: String) -> Response<Body> {
    let mut r = Response::new(Body::from(html));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    r.headers_mut().insert(ERROR_HEADER, HeaderValue::from_static(reason));
    r.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    r
}

/// What a viewer sees when no worker could take the request; an app's last lines are shown
/// only to its `publisher`.
pub(super) fn route_error(route: &Route, e: RouteError, wait: Wait, publisher: bool) -> Response<Body> {
    match e {
        RouteError::StartTimeout(_) if matches!(wait, Wait::AtMost(_)) => {
            let mut r = error_response(StatusCode::SERVICE_UNAVAILABLE, "starting", starting_page(&route.title));
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
        RouteError::StartTimeout(d) => error_response(
            StatusCode::GATEWAY_TIMEOUT,
            "start-timeout",
            pages::notice(
                &route.title,
                &format!(
                    "The app did not start within {} seconds. Try again, or ask the publisher to check its log.",
                    d.as_secs()
                ),
            ),
        ),
        RouteError::AtCapacity(n) => {
            let mut r = error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "at-capacity",
                pages::notice(
                    &route.title,
                    &match n {
                        1 => "This app's process is busy. Please try again in a moment.".to_string(),
                        n => format!("All {n} processes of this app are busy. Please try again in a moment."),
                    },
                ),
            );
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            r
        }
        RouteError::StartFailed { .. } if !publisher => error_response(
            StatusCode::BAD_GATEWAY,
            "start-failed",
            pages::notice(
                &route.title,
                "The app could not start. Its publisher can read why in the app's log in Porch.",
            ),
        ),
        RouteError::StartFailed { message, last_lines } => {
            let log = last_lines.iter().map(|l| pages::esc(l)).collect::<Vec<_>>().join("\n");
            let html = pages::notice(&route.title, &format!("The app could not start: {message}."))
                .replace("</body>", &format!("<pre style=\"white-space:pre-wrap;background:#f0ede6;padding:1rem;border-radius:.5rem\">{log}</pre></body>"));
            error_response(StatusCode::BAD_GATEWAY, "start-failed", html)
        }
        RouteError::Gone => error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-running",
            pages::notice(&route.title, "This app is not running right now. Please try again in a moment."),
        ),
    }
}

fn starting_page(title: &str) -> String {
    pages::notice(title, "Starting the app… this page reloads by itself.")
        .replace("<head>", "<head><meta http-equiv=\"refresh\" content=\"1\">")
}

/// What a viewer sees when the exchange with a worker failed.
pub(super) fn upstream(e: &ProxyError) -> Response<Body> {
    match e {
        ProxyError::BadPath => error_response(StatusCode::BAD_REQUEST, "bad-path", "bad request path".into()),
        ProxyError::Refused { .. } => error_response(
            StatusCode::BAD_GATEWAY,
            "upstream-refused",
            pages::notice(
                "The app is not answering",
                "Its process refused the connection. Reload the page to start a fresh one.",
            ),
        ),
        ProxyError::Failed { .. } => error_response(
            StatusCode::BAD_GATEWAY,
            "upstream-error",
            pages::notice(
                "The app stopped answering",
                "Its process ended or closed the connection while answering. Reload the page to try again.",
            ),
        ),
    }
}

/// What viewers on other computers see while the publisher has paused sharing.
pub(super) fn sharing_paused() -> Response<Body> {
    let html = pages::notice(
        "Sharing is paused",
        "The publisher has paused sharing from this computer for now. Please try again later.",
    );
    let mut r =
        (StatusCode::SERVICE_UNAVAILABLE, [(header::CONTENT_TYPE, "text/html; charset=utf-8")], html).into_response();
    r.headers_mut().insert(ERROR_HEADER, HeaderValue::from_static("sharing-paused"));
    r
}
