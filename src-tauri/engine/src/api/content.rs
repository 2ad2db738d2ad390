//! `/__api__/v1/content`: create, list, read, update and delete items, and vanity paths.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::{Origin, Publisher};
use super::error::ApiError;
use super::json_body;
use crate::engine::Engine;
use crate::error::Error;
use crate::library::{ItemChanges, NewItem};
use crate::view::{ContentView, VanityView};

/// Adds what `include=` asks for; `tags` is the item's tags (from `tags`, by item id).
fn with_includes(
    engine: &Engine,
    v: ContentView,
    include: Option<&str>,
    tags: &mut HashMap<i64, Vec<crate::gallery::TagView>>,
    id: i64,
) -> Value {
    let mut j = serde_json::to_value(&v).unwrap_or_default();
    for inc in include.unwrap_or("").split(',').map(str::trim) {
        match inc {
            "owner" => {
                j["owner"] = json!({
                    "guid": engine.library().owner_guid(), "username": engine.config().publisher,
                    "first_name": engine.config().publisher, "last_name": ""
                })
            }
            "tags" => j["tags"] = json!(tags.remove(&id).unwrap_or_default()),
            _ => {}
        }
    }
    j
}

/// `GET /v1/content?name=&owner_guid=`.
pub(super) async fn list(
    _: Publisher,
    State(engine): State<Engine>,
    Origin(origin): Origin,
    Query(q): Query<HashMap<String, String>>,
) -> Result<axum::response::Response, ApiError> {
    use axum::response::IntoResponse;
    if q.get("owner_guid").is_some_and(|o| o != engine.library().owner_guid()) {
        return Ok(Json(Vec::<Value>::new()).into_response());
    }
    let (name, include) = (q.get("name").map(String::as_str), q.get("include").map(String::as_str));
    // Building 1,000 items costs some 10 ms; it is built once per change of the library
    // (links live in the database too, so a link's new status is a change).
    let key = format!("{origin}\n{name:?}\n{include:?}");
    let body = engine
        .library()
        .cached_list(&key, || async {
            let rows = engine.library().content_rows(name).await?;
            let mut links = engine.links().links_by_content().await?;
            let wants_tags = include.unwrap_or("").split(',').any(|i| i.trim() == "tags");
            let mut tags = if wants_tags { engine.gallery().tags_by_content().await? } else { HashMap::new() };
            let list: Vec<Value> = rows
                .iter()
                .map(|c| {
                    let mut v = engine.library().view(c, &origin);
                    v.link = links.remove(&c.id);
                    with_includes(&engine, v, include, &mut tags, c.id)
                })
                .collect();
            Ok(bytes::Bytes::from(serde_json::to_vec(&list).unwrap_or_default()))
        })
        .await?;
    Ok(([(axum::http::header::CONTENT_TYPE, "application/json")], body).into_response())
}

/// `POST /v1/content`.
pub(super) async fn create(
    _: Publisher,
    State(engine): State<Engine>,
    Origin(origin): Origin,
    body: Bytes,
) -> Result<Json<ContentView>, ApiError> {
    let mut new: NewItem = json_body(&body)?;
    new.title = new.title.filter(|t| !t.is_empty());
    if new.name.is_empty() {
        return Err(Error::Invalid("a content name is required".into()).into());
    }
    let c = engine.library().create_content(new).await?;
    Ok(Json(engine.library().view(&c, &origin)))
}

/// `GET /v1/content/{guid}?include=owner,tags` (also as repeated `include` parameters).
pub(super) async fn get_one(
    _: Publisher,
    State(engine): State<Engine>,
    Origin(origin): Origin,
    Path(guid): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    let c = engine.library().content(&guid).await?;
    let include: Vec<&str> = q.iter().filter(|(k, _)| k == "include").map(|(_, v)| v.as_str()).collect();
    let v = engine.library().view_with_link(&c, &origin).await?;
    let mut tags = HashMap::new();
    if include.iter().flat_map(|i| i.split(',')).any(|i| i.trim() == "tags") {
        tags.insert(c.id, engine.gallery().content_tags(&c.guid).await?);
    }
    Ok(Json(with_includes(&engine, v, Some(&include.join(",")), &mut tags, c.id)))
}

/// `PATCH /v1/content/{guid}`.
pub(super) async fn update(
    _: Publisher,
    State(engine): State<Engine>,
    Origin(origin): Origin,
    Path(guid): Path<String>,
    body: Bytes,
) -> Result<Json<ContentView>, ApiError> {
    let raw = super::json_object(&body)?;
    let runtime = super::interactive::runtime_changes(&raw)?;
    let patch: ItemChanges =
        serde_json::from_value(raw).map_err(|e| Error::Invalid(format!("cannot parse the request body: {e}")))?;
    if !runtime.is_empty() {
        engine.apps().update_runtime(&guid, &runtime).await?;
    }
    let c = engine.library().update_content(&guid, patch).await?;
    Ok(Json(engine.library().view_with_link(&c, &origin).await?))
}

/// `DELETE /v1/content/{guid}`: 204 with no body.
pub(super) async fn remove(
    _: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
) -> Result<StatusCode, ApiError> {
    engine.deployer().delete_content(&guid).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Body of a vanity update.
#[derive(Debug, Deserialize)]
pub(super) struct VanityBody {
    path: String,
}

/// `GET /v1/content/{guid}/vanity`.
pub(super) async fn get_vanity(
    _: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
) -> Result<Json<VanityView>, ApiError> {
    Ok(Json(engine.library().vanity(&guid).await?))
}

/// `PUT /v1/content/{guid}/vanity {"path": "/sales/"}`.
pub(super) async fn put_vanity(
    _: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
    body: Bytes,
) -> Result<Json<VanityView>, ApiError> {
    let b: VanityBody = json_body(&body)?;
    engine.library().set_vanity(&guid, Some(&b.path)).await?;
    Ok(Json(engine.library().vanity(&guid).await?))
}

/// `DELETE /v1/content/{guid}/vanity`.
pub(super) async fn delete_vanity(
    _: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
) -> Result<StatusCode, ApiError> {
    engine.library().set_vanity(&guid, None).await?;
    Ok(StatusCode::NO_CONTENT)
}
