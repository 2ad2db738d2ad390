//! Deploys and the task protocol (`?first=&wait=` long-polling).

use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use super::auth::Publisher;
use super::error::ApiError;
use super::renders::TaskAccepted;
use crate::engine::Engine;
use crate::error::Error;
use crate::tasks::TaskView;

/// Body of a deploy: `bundle_id` may be a string, a number or null.
#[derive(Debug, Default, Deserialize)]
pub(super) struct DeployBody {
    #[serde(default)]
    bundle_id: Option<Value>,
    #[serde(default)]
    activate: Option<bool>,
}

/// `POST /v1/content/{guid}/deploy` (and `/build`): 202 with a task id.
pub(super) async fn deploy(
    _: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<TaskAccepted>), ApiError> {
    // Not `[]`, which would deploy the newest upload, one the client did not name.
    let raw = super::json_object(&body)?;
    let b: DeployBody =
        serde_json::from_value(raw).map_err(|e| Error::Invalid(format!("cannot parse the request body: {e}")))?;
    let bundle_id = match b.bundle_id {
        None | Some(Value::Null) => None,
        Some(Value::Number(n)) => n.as_i64(),
        Some(Value::String(s)) if s.is_empty() => None,
        Some(Value::String(s)) => Some(s.parse().map_err(|_| Error::Invalid(format!("invalid bundle_id {s:?}")))?),
        Some(other) => return Err(Error::Invalid(format!("invalid bundle_id {other}")).into()),
    };
    let task_id = engine.deployer().deploy(&guid, bundle_id, b.activate.unwrap_or(true)).await?;
    Ok((StatusCode::ACCEPTED, Json(TaskAccepted { task_id })))
}

/// Query of a task read.
#[derive(Debug, Deserialize)]
pub(super) struct TaskQuery {
    first: Option<usize>,
    wait: Option<f64>,
}

/// `GET /v1/tasks/{id}?first=&wait=`: waits up to `wait` seconds (at most 60) for news.
pub(super) async fn get_one(
    _: Publisher,
    State(engine): State<Engine>,
    Path(id): Path<String>,
    Query(q): Query<TaskQuery>,
) -> Result<Json<TaskView>, ApiError> {
    let wait = Duration::from_secs_f64(q.wait.unwrap_or(0.0).clamp(0.0, 60.0));
    Ok(Json(engine.deployer().task(&id, q.first.unwrap_or(0), wait).await?))
}
