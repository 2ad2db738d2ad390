//! Rendered content: render now, the render history and a render's log.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde_json::{json, Value};

use super::auth::{Origin, Publisher};
use super::error::ApiError;
use crate::engine::Engine;
use crate::error::Error;

/// `POST /v1/content/{guid}/render`: 202 with the task id.
/// An optional body `{"variant_id": ID}` renders one variant.
pub(super) async fn render_now(
    _: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let v: Value = super::json_body(&body)?;
    let variant = super::variants::optional_id(&v, "variant_id")?;
    let task_id = engine.renders().render_variant_now(&guid, variant, crate::vocab::Trigger::Manual).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "task_id": task_id }))))
}

/// `GET /v1/content/{guid}/renders`: newest first, with each render's URL.
pub(super) async fn history(
    _: Publisher,
    State(engine): State<Engine>,
    Origin(origin): Origin,
    Path(guid): Path<String>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let c = engine.library().content(&guid).await?;
    let list = engine.renders().renders(&guid).await?;
    Ok(Json(
        list.iter()
            .map(|r| {
                let mut v = serde_json::to_value(r).unwrap_or_default();
                v["id"] = json!(r.id.to_string());
                v["bundle_id"] = json!(r.bundle_id.to_string());
                v["variant_id"] = json!(r.variant_id.map(|id| id.to_string()));
                let base = match r.variant_id {
                    Some(variant) => format!("{origin}/content/{}/_variant{variant}/", c.guid),
                    None => format!("{origin}/content/{}/", c.guid),
                };
                if r.status == crate::vocab::RenderStatus::Success {
                    v["url"] = json!(format!("{base}_render{}/", r.id));
                }
                v
            })
            .collect(),
    ))
}

/// `GET /v1/content/{guid}/renders/{id}/log`: the full log as text.
pub(super) async fn log(
    _: Publisher,
    State(engine): State<Engine>,
    Path((guid, id)): Path<(String, String)>,
) -> Result<impl IntoResponse, ApiError> {
    let id: i64 = id.parse().map_err(|_| Error::not_found("render", &id))?;
    let text = engine.renders().render_log(&guid, id).await?;
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text))
}
