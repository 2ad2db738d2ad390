//! Variants of rendered content: named parameter sets (`/v1/content/{guid}/variants`).

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::Value;

use super::auth::Publisher;
use super::error::ApiError;
use super::json_body;
use crate::engine::Engine;
use crate::error::Error;
use crate::renders::variants::VariantView;

/// An optional id field that clients send as a string or a number; null or absent is None.
pub(super) fn optional_id(body: &Value, field: &str) -> Result<Option<i64>, ApiError> {
    match body.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => {
            s.parse().map(Some).map_err(|_| Error::Invalid(format!("{field}: {s:?} is not an id")).into())
        }
        Some(Value::Number(n)) => {
            n.as_i64().map(Some).ok_or_else(|| Error::Invalid(format!("{field}: {n} is not an id")).into())
        }
        Some(other) => Err(Error::Invalid(format!("{field}: {other} is not an id")).into()),
    }
}

fn parse_id(id: &str) -> Result<i64, ApiError> {
    id.parse().map_err(|_| Error::not_found("variant", id).into())
}

fn name_field(body: &Value) -> Result<Option<&str>, ApiError> {
    match body.get("name") {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(Error::Invalid(format!("name: a string, not {other}")).into()),
    }
}

/// `GET /v1/content/{guid}/variants`.
pub(super) async fn list(
    _: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
) -> Result<Json<Vec<VariantView>>, ApiError> {
    let c = engine.library().content(&guid).await?;
    let rows = engine.renders().variants(&guid).await?;
    Ok(Json(rows.iter().map(|v| engine.renders().variant_view(v, &c.guid)).collect()))
}

/// `POST /v1/content/{guid}/variants`: `{"name": ..., "parameters": {...}}`.
pub(super) async fn create(
    _: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
    body: Bytes,
) -> Result<Json<VariantView>, ApiError> {
    let v: Value = json_body(&body)?;
    let name = name_field(&v)?.unwrap_or("");
    let params = v.get("parameters").cloned().unwrap_or_else(|| Value::Object(Default::default()));
    let c = engine.library().content(&guid).await?;
    let row = engine.renders().create_variant(&guid, name, &params).await?;
    Ok(Json(engine.renders().variant_view(&row, &c.guid)))
}

/// `GET /v1/content/{guid}/variants/{id}`.
pub(super) async fn get_one(
    _: Publisher,
    State(engine): State<Engine>,
    Path((guid, id)): Path<(String, String)>,
) -> Result<Json<VariantView>, ApiError> {
    let c = engine.library().content(&guid).await?;
    let row = engine.renders().variant_of(&c, parse_id(&id)?).await?;
    Ok(Json(engine.renders().variant_view(&row, &c.guid)))
}

/// `PATCH /v1/content/{guid}/variants/{id}`: a new name and/or parameters.
pub(super) async fn update(
    _: Publisher,
    State(engine): State<Engine>,
    Path((guid, id)): Path<(String, String)>,
    body: Bytes,
) -> Result<Json<VariantView>, ApiError> {
    let v: Value = json_body(&body)?;
    let c = engine.library().content(&guid).await?;
    let row = engine.renders().update_variant(&guid, parse_id(&id)?, name_field(&v)?, v.get("parameters")).await?;
    Ok(Json(engine.renders().variant_view(&row, &c.guid)))
}

/// `DELETE /v1/content/{guid}/variants/{id}`: 204; its renders and schedules go with it.
pub(super) async fn remove(
    _: Publisher,
    State(engine): State<Engine>,
    Path((guid, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    engine.renders().delete_variant(&guid, parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /__api__/applications/{guid}/variants` (Connect's v0 API, what posit-sdk's
/// `content.render()` reads): the item itself as the one `is_default` variant, then the
/// named variants.
pub(super) async fn v0_list(
    _: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
) -> Result<Json<Vec<Value>>, ApiError> {
    Ok(Json(engine.renders().v0_variants(&guid).await?))
}

/// `POST /__api__/variants/{id}/render` (v0): starts a render of that variant and answers
/// the task as `GET /v1/tasks/{id}` shows it. Connect's `email` and `activate` query
/// parameters are accepted and ignored: Porch sends no mail for a manual render and always
/// activates the new output.
pub(super) async fn v0_render(
    _: Publisher,
    State(engine): State<Engine>,
    Path(id): Path<String>,
) -> Result<Json<crate::tasks::TaskView>, ApiError> {
    let task = engine.renders().render_variant_by_id(parse_id(&id)?, crate::vocab::Trigger::Manual).await?;
    Ok(Json(engine.deployer().task(&task, 0, std::time::Duration::ZERO).await?))
}
