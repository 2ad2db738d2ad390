//! The API for interactive content: environment variables, workers, restarts and logs
//! (viewers reach the workers through the gateway, `crate::gateway`).

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::auth::Publisher;
use super::error::ApiError;
use super::json_body;
use crate::engine::Engine;
use crate::error::Error;

/// `GET /v1/content/{guid}/environment`: variable names only.
pub(super) async fn env_get(
    _: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
) -> Result<Json<Vec<String>>, ApiError> {
    Ok(Json(engine.apps().env_names(&guid).await?))
}

#[derive(Debug, Deserialize)]
pub(super) struct EnvVar {
    name: String,
    value: Option<String>,
}

async fn env_update(engine: &Engine, guid: &str, body: &Bytes, replace: bool) -> Result<Json<Vec<String>>, ApiError> {
    let vars: Vec<EnvVar> = json_body(body)?;
    let changes: Vec<(String, Option<String>)> = vars.into_iter().map(|v| (v.name, v.value)).collect();
    Ok(Json(engine.apps().update_env(guid, &changes, replace).await?))
}

/// `PATCH /v1/content/{guid}/environment`: set, or delete with `value: null`.
pub(super) async fn env_patch(
    _: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
    body: Bytes,
) -> Result<Json<Vec<String>>, ApiError> {
    env_update(&engine, &guid, &body, false).await
}

/// `PUT /v1/content/{guid}/environment`: replace them all.
pub(super) async fn env_put(
    _: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
    body: Bytes,
) -> Result<Json<Vec<String>>, ApiError> {
    env_update(&engine, &guid, &body, true).await
}

/// One worker process of an item, as `GET /v1/content/{guid}/jobs` lists it (Connect's
/// job fields, plus Porch's `state`, `connections`, `port` and `uptime_secs`).
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct JobView {
    /// The worker's id within the item, as Connect's job key.
    pub key: String,
    /// The same id.
    pub id: String,
    /// Process id.
    pub pid: u32,
    /// The bundle it runs.
    pub bundle_id: String,
    /// Connect's job status; always 0 (running) for a listed worker.
    pub status: u8,
    /// The supervisor's state of the worker (`starting`, `ready`, `draining`, ...).
    #[cfg_attr(feature = "ts", ts(type = "string"))]
    pub state: crate::supervisor::InstanceState,
    /// Open connections.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub connections: usize,
    /// Its loopback port.
    pub port: u16,
    /// Seconds since it started.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub uptime_secs: u64,
    /// The item's guid.
    pub content_guid: String,
}

/// `GET /v1/content/{guid}/jobs`: the item's worker processes.
pub(super) async fn jobs(
    _: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
) -> Result<Json<Vec<JobView>>, ApiError> {
    let list = engine.apps().instances(&guid).await?;
    Ok(Json(list.into_iter().map(|i| job_view(&guid, i)).collect()))
}

/// `GET /v1/content/{guid}/jobs/{key}`: one running worker (posit-sdk's `jobs.find(key)`).
pub(super) async fn job(
    _: Publisher,
    State(engine): State<Engine>,
    Path((guid, key)): Path<(String, String)>,
) -> Result<Json<JobView>, ApiError> {
    let list = engine.apps().instances(&guid).await?;
    let found = list.into_iter().find(|i| i.id.to_string() == key).ok_or_else(|| Error::not_found("process", &key))?;
    Ok(Json(job_view(&guid, found)))
}

fn job_view(guid: &str, i: crate::supervisor::InstanceInfo) -> JobView {
    JobView {
        key: i.id.to_string(),
        id: i.id.to_string(),
        pid: i.pid,
        bundle_id: i.bundle_id.to_string(),
        status: 0,
        state: i.state,
        connections: i.connections,
        port: i.port,
        uptime_secs: i.uptime_secs,
        content_guid: guid.to_string(),
    }
}

/// `DELETE /v1/content/{guid}/jobs/{key}`: kill one worker.
pub(super) async fn kill_job(
    _: Publisher,
    State(engine): State<Engine>,
    Path((guid, key)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id: u64 = key.parse().map_err(|_| Error::not_found("process", &key))?;
    engine.apps().kill_instance(&guid, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /porch/python-helpers`: the pre-imported Python helpers, one per environment, with
/// their state, pid, memory (PSS) and how many workers each forked.
pub(super) async fn python_helpers(_: Publisher, State(engine): State<Engine>) -> Json<Vec<crate::zygote::HelperInfo>> {
    let apps = engine.apps().clone();
    // Memory readings walk /proc.
    Json(tokio::task::spawn_blocking(move || apps.python_helpers()).await.unwrap_or_default())
}

/// `POST /v1/content/{guid}/restart`.
pub(super) async fn restart(
    _: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
) -> Result<StatusCode, ApiError> {
    engine.apps().restart_content(&guid).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
pub(super) struct LogQuery {
    lines: Option<usize>,
    follow: Option<bool>,
}

/// `GET /v1/content/{guid}/log?lines=N&follow=true`: the process log as text; with
/// `follow`, new lines keep streaming.
pub(super) async fn log(
    _: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
    Query(q): Query<LogQuery>,
) -> Result<Response, ApiError> {
    let lines = engine.apps().content_log(&guid, q.lines.unwrap_or(200).min(10_000)).await?;
    let mut text = lines.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    if !q.follow.unwrap_or(false) {
        return Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response());
    }
    let cancel = engine.shutdown_token();
    let first = futures_util::stream::once(async move { Ok::<Bytes, std::convert::Infallible>(Bytes::from(text)) });
    let seen = lines.last().cloned();
    let more =
        futures_util::stream::unfold((engine, guid, seen, cancel), |(engine, guid, mut seen, cancel)| async move {
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return None,
                    _ = tokio::time::sleep(Duration::from_millis(300)) => {}
                }
                let tail = engine.apps().content_log(&guid, 500).await.ok()?;
                let start = match &seen {
                    Some(last) => tail.iter().rposition(|l| l == last).map(|i| i + 1).unwrap_or(0),
                    None => 0,
                };
                if start < tail.len() {
                    let new = tail[start..].join("\n") + "\n";
                    seen = tail.last().cloned();
                    return Some((Ok(Bytes::from(new)), (engine, guid, seen, cancel)));
                }
            }
        });
    let body = Body::from_stream(futures_util::StreamExt::chain(first, more));
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response())
}

/// Used by the content PATCH: runtime fields in the body.
pub(super) fn runtime_changes(body: &Value) -> Result<Vec<crate::apps::RuntimeChange>, ApiError> {
    let Some(obj) = body.as_object() else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for field in crate::apps::RUNTIME_FIELDS {
        match obj.get(*field) {
            None => {}
            Some(Value::Null) => out.push((field.to_string(), None)),
            Some(Value::Number(n)) => out.push((field.to_string(), n.as_f64())),
            Some(other) => return Err(Error::Invalid(format!("{field} must be a number or null, not {other}")).into()),
        }
    }
    Ok(out)
}
