//! Server and user information, and the legacy v0 applications listing pins uses.

use std::collections::HashMap;

use axum::extract::{Path, Query, State};
use axum::Json;
use serde_json::{json, Value};

use super::auth::{Origin, Publisher};
use super::error::ApiError;
use crate::engine::Engine;
use crate::error::Error;
use crate::view::ContentView;

/// `GET /__api__/server_settings`: open to anyone, as on Connect.
pub(super) async fn server_settings(State(engine): State<Engine>) -> Json<Value> {
    Json(json!({
        "version": crate::CONNECT_VERSION,
        "product": "Porch",
        "porch_version": env!("CARGO_PKG_VERSION"),
        "hostname": crate::gateway::identity::hostname(),
        "build": env!("CARGO_PKG_VERSION"),
        "remote_publishing": engine.settings().allow_remote_publishing(),
    }))
}

/// `GET /__api__/v1/server_settings/python`: the interpreters Porch finds, as Connect lists
/// its installations (a promotion from another Porch checks the version its manifest pins).
pub(super) async fn python_settings(_: Publisher, State(engine): State<Engine>) -> Json<Value> {
    let installations: Vec<Value> = engine
        .apps()
        .python_versions()
        .await
        .into_iter()
        .map(|v| json!({ "version": v, "cluster_name": "Local", "image_name": "Local" }))
        .collect();
    Json(json!({ "installations": installations, "api_enabled": true }))
}

/// `GET /__api__/v1/server_settings/{r,quarto,...}`.
pub(super) async fn other_settings(_: Publisher) -> Json<Value> {
    Json(json!({ "installations": [] }))
}

fn user_json(engine: &Engine) -> Value {
    let created = engine.library().owner_created();
    json!({
        "guid": engine.library().owner_guid(),
        "username": engine.config().publisher,
        "email": "",
        "first_name": engine.config().publisher,
        "last_name": "",
        "user_role": "administrator",
        "created_time": created,
        "updated_time": created,
        "active_time": null,
        "confirmed": true,
        "locked": false,
    })
}

/// `GET /__api__/v1/user`: the publisher, or 401 (code 30) without a valid key.
pub(super) async fn current_user(_: Publisher, State(engine): State<Engine>) -> Json<Value> {
    Json(user_json(&engine))
}

/// `GET /__api__/v1/users?prefix=&page_number=&page_size=`: one user, paginated properly.
pub(super) async fn users(
    _: Publisher,
    State(engine): State<Engine>,
    Query(q): Query<HashMap<String, String>>,
) -> Json<Value> {
    let page: usize = q.get("page_number").and_then(|p| p.parse().ok()).unwrap_or(1).max(1);
    let prefix = q.get("prefix").map(|p| p.to_lowercase()).unwrap_or_default();
    let me = user_json(&engine);
    let matches = engine.config().publisher.to_lowercase().starts_with(&prefix);
    let results = if matches && page == 1 { vec![me] } else { vec![] };
    Json(json!({ "results": results, "current_page": page, "total": usize::from(matches) }))
}

/// `GET /__api__/v1/users/{guid}`: the publisher by guid (posit-sdk `users.get`, pins
/// `get_user(guid)`); any other guid is 404.
pub(super) async fn user(
    _: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
) -> Result<Json<Value>, ApiError> {
    if guid != engine.library().owner_guid() {
        return Err(Error::not_found("user", guid).into());
    }
    Ok(Json(user_json(&engine)))
}

/// An item as the v0 applications API answers it: numeric ids, as old clients read them.
fn v0_app(engine: &Engine, v: ContentView) -> Value {
    let number = |s: &str| s.parse::<i64>().ok();
    json!({
        "guid": v.guid, "id": number(&v.id), "name": v.name, "title": v.title, "description": v.description,
        "owner_username": engine.config().publisher, "owner_guid": v.owner_guid,
        "bundle_id": v.bundle_id.as_deref().and_then(number), "content_category": v.content_category, "app_mode": v.app_mode,
        "access_type": v.access_type, "url": v.content_url, "created_time": v.created_time,
        "last_deployed_time": v.last_deployed_time,
    })
}

/// `GET /__api__/applications?filter=content_type:pin&search=&count=`.
pub(super) async fn applications(
    _: Publisher,
    State(engine): State<Engine>,
    Origin(origin): Origin,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let mut rows = engine.library().content_rows(None).await?;
    for (k, v) in &q {
        match (k.as_str(), v.split_once(':')) {
            ("filter", Some(("content_type", t))) => rows.retain(|c| c.content_category == t),
            ("filter", Some(("name", n))) => rows.retain(|c| c.name == n),
            ("search", _) => {
                let s = v.to_lowercase();
                rows.retain(|c| {
                    c.name.to_lowercase().contains(&s) || c.title.as_deref().unwrap_or("").to_lowercase().contains(&s)
                })
            }
            _ => {}
        }
    }
    let total = rows.len();
    let count: usize = q.iter().find(|(k, _)| k == "count").and_then(|(_, v)| v.parse().ok()).unwrap_or(total);
    let start: usize = q.iter().find(|(k, _)| k == "start").and_then(|(_, v)| v.parse().ok()).unwrap_or(0);
    let apps: Vec<Value> =
        rows.iter().skip(start).take(count).map(|c| v0_app(&engine, engine.library().view(c, &origin))).collect();
    let continuation = if start + apps.len() < total { start + apps.len() } else { 0 };
    Ok(Json(json!({ "applications": apps, "count": apps.len(), "total": total, "continuation": continuation })))
}

/// `GET /__api__/applications/{id}`.
pub(super) async fn application(
    _: Publisher,
    State(engine): State<Engine>,
    Origin(origin): Origin,
    Path(id): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let c = engine.library().content(&id).await?;
    Ok(Json(v0_app(&engine, engine.library().view(&c, &origin))))
}

/// Any other `/__api__/` path: JSON 404.
pub(super) async fn api_not_found(uri: axum::http::Uri) -> ApiError {
    ApiError(Error::not_found("API endpoint", uri.path()))
}
