//! The management surface on the LAN port, and the one router that serves it all.
//!
//! - `/__api__/…`: the Connect-style API real clients (rsconnect-python, quarto, pins,
//!   posit-sdk) use; one file per resource; handlers are thin calls into [`Engine`] ops and
//!   answer JSON, errors included;
//! - `/__porch__/`: the publisher's web UI, static files only ([`ui`]);
//! - everything else is a viewer's and belongs to the gateway (`crate::gateway`), which
//!   [`router`] mounts beside the API. This module never serves content itself.
//!
//! Requests pass through [`normalize`] before routing: API paths lose a trailing slash and
//! doubled slashes (clients differ), so no API call is ever answered with a redirect; any
//! other path loses doubled slashes at its start only (a server URL given with a trailing
//! slash, as pins sends `//content/…`), and keeps the rest for the content.

mod access;
mod auth;
mod bundles;
mod content;
pub mod error;
mod events;
mod gallery;
mod interactive;
mod links;
mod porch;
mod promote;
mod reach;
mod renders;
mod schedules;
mod server;
mod tasks;
mod ui;
mod usage;
mod variants;

use std::net::SocketAddr;

use axum::body::Bytes;
use axum::extract::connect_info::IntoMakeServiceWithConnectInfo;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::de::DeserializeOwned;
use tower::util::MapRequest;
use tower::ServiceBuilder;

pub use auth::{Origin, Publisher};
/// Re-exported for in-process callers (the CLI with no server running).
pub use axum::body::{to_bytes, Body};
/// Re-exported for in-process callers.
pub use axum::http::{Method, Request};
pub use error::ApiError;

use crate::engine::Engine;
use crate::error::Error;

/// The routes, with the engine as state.
pub fn router(engine: Engine) -> Router {
    let api = Router::new()
        .route("/server_settings", get(server::server_settings))
        .route("/v1/server_settings/python", get(server::python_settings))
        .route("/v1/server_settings/{runtime}", get(server::other_settings))
        .route("/v1/user", get(server::current_user))
        .route("/v1/users", get(server::users))
        .route("/v1/users/{guid}", get(server::user))
        .route("/v1/content", get(content::list).post(content::create))
        .route("/v1/content/{guid}", get(content::get_one).patch(content::update).delete(content::remove))
        .route(
            "/v1/content/{guid}/vanity",
            get(content::get_vanity).put(content::put_vanity).delete(content::delete_vanity),
        )
        .route(
            "/v1/content/{guid}/environment",
            get(interactive::env_get).patch(interactive::env_patch).put(interactive::env_put),
        )
        .route("/v1/content/{guid}/jobs", get(interactive::jobs))
        .route("/v1/content/{guid}/jobs/{key}", get(interactive::job).delete(interactive::kill_job))
        .route("/v1/content/{guid}/restart", post(interactive::restart))
        .route("/v1/content/{guid}/log", get(interactive::log))
        .route("/v1/content/{guid}/render", post(renders::render_now))
        .route("/v1/content/{guid}/renders", get(renders::history))
        .route("/v1/content/{guid}/variants", get(variants::list).post(variants::create))
        .route(
            "/v1/content/{guid}/variants/{id}",
            get(variants::get_one).patch(variants::update).delete(variants::remove),
        )
        .route("/v1/content/{guid}/schedules", get(schedules::list).post(schedules::create))
        .route("/v1/schedules/{id}", get(schedules::get_one).patch(schedules::update).delete(schedules::remove))
        .route("/v1/content/{guid}/renders/{id}/log", get(renders::log))
        .route("/v1/content/{guid}/bundles", get(bundles::list).post(bundles::upload))
        .route("/v1/content/{guid}/bundles/{id}", get(bundles::get_one).delete(bundles::remove))
        .route("/v1/content/{guid}/bundles/{id}/download", get(bundles::download))
        .route("/v1/content/{guid}/lockfile", get(bundles::lockfile))
        .route("/v1/content/{guid}/deploy", post(tasks::deploy))
        .route("/v1/content/{guid}/build", post(tasks::deploy))
        .route("/v1/tasks/{id}", get(tasks::get_one))
        .route("/v1/tags", get(gallery::list).post(gallery::create))
        .route("/v1/tags/{id}", get(gallery::get_one).patch(gallery::update).delete(gallery::remove))
        .route("/v1/tags/{id}/content", get(gallery::content))
        .route("/v1/content/{guid}/tags", get(gallery::content_tags).post(gallery::add_content_tag))
        .route("/v1/content/{guid}/tags/{id}", axum::routing::delete(gallery::remove_content_tag))
        .route(
            "/v1/content/{guid}/thumbnail",
            get(gallery::get_thumbnail).put(gallery::put_thumbnail).delete(gallery::delete_thumbnail),
        )
        .route("/porch/content/{guid}/thumbnail/capture", post(gallery::capture_thumbnail))
        .route("/porch/gallery/logo", get(gallery::get_logo).put(gallery::put_logo).delete(gallery::delete_logo))
        .route("/v1/instrumentation/content/hits", get(usage::hits))
        .route("/v1/instrumentation/content/visits", get(usage::visits))
        .route("/v1/instrumentation/shiny/usage", get(usage::shiny_usage))
        .route("/porch/events", get(events::stream))
        .route("/porch/content/{guid}/usage", get(usage::report))
        .route("/porch/usage", get(usage::latest))
        .route("/porch/content/{guid}/secret-link", post(access::new_secret_link).delete(access::revoke_secret_link))
        .route("/porch/content/{guid}/link", get(links::get_one).put(links::put).delete(links::remove))
        .route("/porch/smtp", get(schedules::smtp_get).put(schedules::smtp_put))
        .route("/porch/server", get(porch::server).patch(porch::update_server))
        .route("/porch/python-helpers", get(interactive::python_helpers))
        .route("/porch/sharing", axum::routing::put(porch::sharing))
        .route("/porch/keys", get(porch::keys).post(porch::create_key))
        .route("/porch/keys/{id}", axum::routing::delete(porch::revoke_key))
        .route("/porch/reach", get(reach::report))
        .route("/porch/reach/phone", post(reach::new_phone_test))
        .route("/porch/reach/phone/{token}", get(reach::phone_state))
        .route("/porch/inspect", post(porch::inspect))
        .route("/porch/deploy", post(porch::deploy))
        .route("/porch/stage", post(porch::stage))
        .route("/porch/schedules/preview", post(porch::schedule_preview))
        .route("/porch/targets", get(promote::list_targets).post(promote::add_target))
        .route("/porch/targets/{name}", axum::routing::delete(promote::remove_target))
        .route("/porch/content/{guid}/promote", post(promote::promote))
        .route("/porch/content/{guid}/export", get(promote::export))
        .route("/porch/promotions/{id}", get(promote::report))
        .route("/applications", get(server::applications))
        .route("/applications/{id}", get(server::application))
        .route("/applications/{guid}/variants", get(variants::v0_list))
        .route("/variants/{id}/render", post(variants::v0_render))
        .fallback(server::api_not_found)
        .layer(axum::middleware::from_fn(error::json_errors));
    Router::new()
        .nest("/__api__", api)
        .route("/__ping__", get(|| async { Json(serde_json::json!({})) }))
        .route("/__porch__", get(ui::redirect))
        .route("/__porch__/", get(ui::index))
        .route("/__porch__/{*path}", get(ui::file))
        // Every other path is a viewer's: `/`, `/content/…`, vanity paths.
        .merge(crate::gateway::routes())
        .layer(axum::middleware::from_fn_with_state(engine.clone(), crate::gateway::pause_gate))
        .layer(tower_http::timeout::TimeoutLayer::with_status_code(
            axum::http::StatusCode::REQUEST_TIMEOUT,
            crate::gateway::fast::REQUEST_TIMEOUT,
        ))
        .with_state(engine)
}

type Normalized = MapRequest<Router, fn(Request<Body>) -> Request<Body>>;

/// The service `axum::serve` runs: normalisation, routes and the peer address.
pub fn app(engine: Engine) -> IntoMakeServiceWithConnectInfo<Normalized, SocketAddr> {
    let svc: Normalized =
        ServiceBuilder::new().map_request(normalize as fn(Request<Body>) -> Request<Body>).service(router(engine));
    axum::ServiceExt::<Request<Body>>::into_make_service_with_connect_info::<SocketAddr>(svc)
}

/// Collapses `//` and drops a trailing `/` on API paths; collapses the slashes a viewer's
/// path starts with (`//content/…` → `/content/…`).
pub fn normalize(mut req: Request<Body>) -> Request<Body> {
    let path = req.uri().path();
    let starts_api = path.trim_start_matches('/').starts_with("__api__");
    let mut clean = String::with_capacity(path.len());
    if !starts_api {
        if !path.starts_with("//") {
            return req;
        }
        clean.push('/');
        clean.push_str(path.trim_start_matches('/'));
    } else if !path.contains("//") && !path.ends_with('/') {
        return req;
    } else {
        for seg in path.split('/').filter(|s| !s.is_empty()) {
            clean.push('/');
            clean.push_str(seg);
        }
    }
    if let Some(q) = req.uri().query() {
        clean.push('?');
        clean.push_str(q);
    }
    let mut parts = req.uri().clone().into_parts();
    if let Ok(pq) = clean.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = axum::http::Uri::from_parts(parts) {
            *req.uri_mut() = uri;
        }
    }
    req
}

/// [`json_body`] for a body that must be a JSON object (serde would read `[]` as a struct
/// with every field at its default), refused by name otherwise.
pub(crate) fn json_object(body: &Bytes) -> Result<serde_json::Value, ApiError> {
    let raw: serde_json::Value = json_body(body)?;
    if raw.is_object() {
        return Ok(raw);
    }
    let what = if raw.is_array() { "a list" } else { "not a JSON object" };
    Err(ApiError(Error::Invalid(format!("cannot parse the request body: {what} where a JSON object was expected"))))
}

/// Parses a JSON body whatever its Content-Type says (quarto sends `text/plain`); an
/// empty body reads as `{}`.
pub(crate) fn json_body<T: DeserializeOwned>(body: &Bytes) -> Result<T, ApiError> {
    let text = if body.iter().all(u8::is_ascii_whitespace) { &b"{}"[..] } else { &body[..] };
    serde_json::from_slice(text).map_err(|e| {
        // serde names the Rust type it wanted ("expected struct ItemChanges"): say what a
        // client sends instead.
        let said = e.to_string();
        let message = match said.split_once("expected struct ") {
            Some(_) if text.trim_ascii_start().starts_with(b"[") => "a list where a JSON object was expected".into(),
            Some((before, _)) => format!("{}, expected a JSON object", before.trim_end_matches([',', ' '])),
            None => said,
        };
        ApiError(Error::Invalid(format!("cannot parse the request body as JSON: {message}")))
    })
}
