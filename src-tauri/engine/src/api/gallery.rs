//! Tags (`/v1/tags`, `/v1/content/{guid}/tags`), thumbnails (`/v1/content/{guid}/thumbnail`)
//! and the gallery logo (`/porch/gallery/logo`): thin calls into the gallery service.

use std::collections::HashMap;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::StreamExt;
use serde_json::{json, Value};

use super::auth::{Origin, Publisher};
use super::error::ApiError;
use super::json_body;
use crate::engine::Engine;
use crate::error::Error;
use crate::gallery::{image, TagView};

/// `GET /v1/tags?name=&parent_id=`.
pub(super) async fn list(
    _: Publisher,
    State(engine): State<Engine>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Json<Vec<TagView>>, ApiError> {
    let (name, parent) = (q.get("name").map(String::as_str), q.get("parent_id").map(String::as_str));
    Ok(Json(engine.gallery().tags(name, parent).await?))
}

/// A string field of a body; an id (`*_id`) may also be given as a number.
fn field(body: &Value, name: &str) -> Result<Option<String>, ApiError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(Value::Number(n)) if name.ends_with("_id") => Ok(Some(n.to_string())),
        Some(v) => Err(Error::Invalid(format!("{name} must be a string, not {v}")).into()),
    }
}

/// `POST /v1/tags {"name": "...", "parent_id": "..."}`.
pub(super) async fn create(_: Publisher, State(engine): State<Engine>, body: Bytes) -> Result<Json<TagView>, ApiError> {
    let b: Value = json_body(&body)?;
    let name = field(&b, "name")?.ok_or_else(|| Error::Invalid("a tag needs a name".into()))?;
    let parent = field(&b, "parent_id")?;
    Ok(Json(engine.gallery().create_tag(&name, parent.as_deref()).await?))
}

/// `GET /v1/tags/{id}`.
pub(super) async fn get_one(
    _: Publisher,
    State(engine): State<Engine>,
    Path(id): Path<String>,
) -> Result<Json<TagView>, ApiError> {
    Ok(Json(engine.gallery().tag(&id).await?))
}

/// `PATCH /v1/tags/{id} {"name"?, "parent_id"?}` (`parent_id: null` moves it to the top).
pub(super) async fn update(
    _: Publisher,
    State(engine): State<Engine>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<TagView>, ApiError> {
    let b: Value = json_body(&body)?;
    let name = field(&b, "name")?;
    let parent = match b.get("parent_id") {
        None => None,
        Some(_) => Some(field(&b, "parent_id")?),
    };
    let parent = parent.as_ref().map(|p| p.as_deref());
    Ok(Json(engine.gallery().update_tag(&id, name.as_deref(), parent).await?))
}

/// `DELETE /v1/tags/{id}`: the tag, its descendants, and their places on items.
pub(super) async fn remove(
    _: Publisher,
    State(engine): State<Engine>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    engine.gallery().delete_tag(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/tags/{id}/content`: the items carrying the tag, as the content API shows them.
pub(super) async fn content(
    _: Publisher,
    State(engine): State<Engine>,
    Origin(origin): Origin,
    Path(id): Path<String>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let rows = engine.gallery().tag_content(&id).await?;
    let mut tags = engine.gallery().tags_by_content().await?;
    let out = rows
        .iter()
        .map(|c| {
            let mut j = serde_json::to_value(engine.library().view(c, &origin)).unwrap_or_default();
            j["tags"] = json!(tags.remove(&c.id).unwrap_or_default());
            j
        })
        .collect();
    Ok(Json(out))
}

/// `GET /v1/content/{guid}/tags`.
pub(super) async fn content_tags(
    _: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
) -> Result<Json<Vec<TagView>>, ApiError> {
    Ok(Json(engine.gallery().content_tags(&guid).await?))
}

/// `POST /v1/content/{guid}/tags {"tag_id": "..."}`: the tag and its ancestors go on the item.
pub(super) async fn add_content_tag(
    _: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
    body: Bytes,
) -> Result<Json<TagView>, ApiError> {
    let b: Value = json_body(&body)?;
    let tag = field(&b, "tag_id")?.ok_or_else(|| Error::Invalid("send {\"tag_id\": \"<id>\"}".into()))?;
    Ok(Json(engine.gallery().add_content_tag(&guid, &tag).await?))
}

/// `DELETE /v1/content/{guid}/tags/{id}`: the tag and its descendants come off the item.
pub(super) async fn remove_content_tag(
    _: Publisher,
    State(engine): State<Engine>,
    Path((guid, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    engine.gallery().remove_content_tag(&guid, &id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Reads an uploaded picture whole, refusing more than the picture limit (413) while
/// reading, before anything is decoded.
async fn read_picture(body: Body, what: &str) -> Result<Vec<u8>, ApiError> {
    let mut stream = body.into_data_stream();
    let mut buf = Vec::new();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Error::Invalid(format!("the {what} upload broke off: {e}")))?;
        if buf.len() + chunk.len() > image::MAX_BYTES {
            return Err(Error::TooLarge(format!(
                "the {what} is larger than 10 MiB ({} bytes), the largest Porch takes",
                image::MAX_BYTES
            ))
            .into());
        }
        buf.extend_from_slice(&chunk);
    }
    Ok(buf)
}

/// `GET /v1/content/{guid}/thumbnail`: the picture, or 204 when there is none.
pub(super) async fn get_thumbnail(
    _: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
) -> Result<Response, ApiError> {
    Ok(match engine.gallery().thumbnail(&guid).await? {
        Some(p) => p.into_response_with("no-cache"),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// `PUT /v1/content/{guid}/thumbnail` with the image as the body (PNG, JPEG, GIF or WebP,
/// ≤ 10 MiB, ≤ 4096 px a side; judged by its bytes).
pub(super) async fn put_thumbnail(
    _: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
    body: Body,
) -> Result<Json<Value>, ApiError> {
    engine.library().content(&guid).await?;
    let bytes = read_picture(body, "thumbnail").await?;
    let m = engine.gallery().set_thumbnail(&guid, &bytes).await?;
    Ok(Json(json!({
        "content_guid": guid, "mime_type": m.mime, "width": m.width, "height": m.height,
        "source": m.source, "updated_time": m.updated_time,
    })))
}

/// `DELETE /v1/content/{guid}/thumbnail`: 404 when there is none.
pub(super) async fn delete_thumbnail(
    _: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
) -> Result<StatusCode, ApiError> {
    engine.gallery().delete_thumbnail(&guid).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /porch/content/{guid}/thumbnail/capture`: a screenshot now (headless Chromium).
pub(super) async fn capture_thumbnail(
    _: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let m = engine.gallery().capture_now(&guid).await?;
    Ok(Json(json!({
        "content_guid": guid, "mime_type": m.mime, "width": m.width, "height": m.height,
        "source": m.source, "updated_time": m.updated_time,
    })))
}

/// `GET /porch/gallery/logo`: the landing page's logo, or 204.
pub(super) async fn get_logo(_: Publisher, State(engine): State<Engine>) -> Result<Response, ApiError> {
    Ok(match engine.gallery().logo().await? {
        Some(p) => p.into_response_with("no-cache"),
        None => StatusCode::NO_CONTENT.into_response(),
    })
}

/// `PUT /porch/gallery/logo` with the image as the body (checked like a thumbnail).
pub(super) async fn put_logo(_: Publisher, State(engine): State<Engine>, body: Body) -> Result<StatusCode, ApiError> {
    let bytes = read_picture(body, "logo").await?;
    engine.gallery().set_logo(&bytes).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `DELETE /porch/gallery/logo`: 404 when there is none.
pub(super) async fn delete_logo(_: Publisher, State(engine): State<Engine>) -> Result<StatusCode, ApiError> {
    engine.gallery().delete_logo().await?;
    Ok(StatusCode::NO_CONTENT)
}
