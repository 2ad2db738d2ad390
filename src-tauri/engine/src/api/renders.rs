//! Rendered content: render now, the render history and a render's log.

use crate::vocab::{RenderStatus, Trigger};
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::IntoResponse;
use axum::Json;
use serde::Serialize;
use serde_json::Value;

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
) -> Result<(StatusCode, Json<TaskAccepted>), ApiError> {
    let v: Value = super::json_body(&body)?;
    let variant = super::variants::optional_id(&v, "variant_id")?;
    let task_id = engine.renders().render_variant_now(&guid, variant, Trigger::Manual).await?;
    Ok((StatusCode::ACCEPTED, Json(TaskAccepted { task_id })))
}

/// A render as `GET /v1/content/{guid}/renders` lists it: the stored row with string ids
/// (as Connect's ids are) and, once it succeeded, the URL of its output.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct RenderView {
    /// Render id.
    pub id: String,
    /// The item's numeric id.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub content_id: i64,
    /// The bundle rendered.
    pub bundle_id: String,
    /// What started it.
    pub trigger: Trigger,
    /// Where it stands.
    pub status: RenderStatus,
    /// RFC 3339.
    pub started_time: String,
    /// RFC 3339.
    pub finished_time: Option<String>,
    /// Bytes of output.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub output_size: i64,
    /// Why it failed.
    pub error: String,
    /// What became of the email after it ('' when none was due).
    pub email_status: String,
    /// The variant rendered (none: the item's default parameters).
    pub variant_id: Option<String>,
    /// Whether viewers see this render as the item's (or its variant's) current output.
    pub current: bool,
    /// Where its output is served (successful renders only).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub url: Option<String>,
}

/// A render that was accepted and runs as a task (`202`, as Connect answers).
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct TaskAccepted {
    /// The task to follow (`GET /v1/tasks/{id}`).
    pub task_id: String,
}

/// `GET /v1/content/{guid}/renders`: newest first, with each render's URL.
pub(super) async fn history(
    _: Publisher,
    State(engine): State<Engine>,
    Origin(origin): Origin,
    Path(guid): Path<String>,
) -> Result<Json<Vec<RenderView>>, ApiError> {
    let c = engine.library().content(&guid).await?;
    let list = engine.renders().renders(&guid).await?;
    Ok(Json(
        list.into_iter()
            .map(|r| {
                let base = match r.variant_id {
                    Some(variant) => format!("{origin}/content/{}/_variant{variant}/", c.guid),
                    None => format!("{origin}/content/{}/", c.guid),
                };
                let url = (r.status == RenderStatus::Success).then(|| format!("{base}_render{}/", r.id));
                RenderView {
                    id: r.id.to_string(),
                    content_id: r.content_id,
                    bundle_id: r.bundle_id.to_string(),
                    trigger: r.trigger,
                    status: r.status,
                    started_time: r.started_time,
                    finished_time: r.finished_time,
                    output_size: r.output_size,
                    error: r.error,
                    email_status: r.email_status,
                    variant_id: r.variant_id.map(|id| id.to_string()),
                    current: r.current,
                    url,
                }
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
