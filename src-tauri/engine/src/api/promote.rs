//! `/__api__/porch/…` calls for promotion to a Connect server:
//!
//! - `GET targets`: saved targets (names, URLs, CA files; never a key);
//! - `POST targets {name, url, api_key, ca_file}`: save one; `DELETE targets/{name}`: forget it;
//! - `POST content/{guid}/promote {to, api_key, ca_file, draft, replace, dry_run}`: 202 with
//!   the task id of the promotion (followed with `GET /v1/tasks/{id}` like a deploy);
//! - `GET promotions/{task_id}`: the promotion's report;
//! - `GET content/{guid}/export`: the active bundle with a manifest Connect accepts (gzip tar).
//!
//! SECURITY: every call needs the publisher's key. A key posted here is stored (0600) or
//! used for one promotion; no answer ever carries it.

use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::auth::Publisher;
use super::error::ApiError;
use super::json_body;
use crate::engine::Engine;
use crate::error::Error;
use crate::promote::{PromoteRequest, PromotionReport, TargetView};

/// Body of `POST targets`.
#[derive(Debug, Deserialize)]
pub(super) struct NewTarget {
    name: String,
    url: String,
    api_key: String,
    #[serde(default)]
    ca_file: Option<std::path::PathBuf>,
}

/// `GET /porch/targets`.
pub(super) async fn list_targets(
    _: Publisher,
    State(engine): State<Engine>,
) -> Result<Json<Vec<TargetView>>, ApiError> {
    Ok(Json(engine.promote().targets().list().await?))
}

/// `POST /porch/targets`: 201 with the target (without its key).
pub(super) async fn add_target(
    publisher: Publisher,
    State(engine): State<Engine>,
    body: Bytes,
) -> Result<(StatusCode, Json<TargetView>), ApiError> {
    let t: NewTarget = json_body(&body)?;
    if t.ca_file.is_some() {
        publisher.at_this_computer("a CA file")?;
    }
    let view = engine.promote().targets().add(&t.name, &t.url, &t.api_key, t.ca_file).await?;
    Ok((StatusCode::CREATED, Json(view)))
}

/// `DELETE /porch/targets/{name}`: 204.
pub(super) async fn remove_target(
    _: Publisher,
    State(engine): State<Engine>,
    Path(name): Path<String>,
) -> Result<StatusCode, ApiError> {
    engine.promote().targets().remove(&name).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /porch/content/{guid}/promote`: 202 with `task_id`.
pub(super) async fn promote(
    publisher: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
    body: Bytes,
) -> Result<(StatusCode, Json<super::renders::TaskAccepted>), ApiError> {
    let req: PromoteRequest = json_body(&body)?;
    if req.ca_file.is_some() {
        publisher.at_this_computer("a CA file")?;
    }
    if req.to.trim().is_empty() {
        return Err(Error::Invalid("say where to promote to: a saved target's name or a server URL".into()).into());
    }
    let task_id = engine.promote().start(&guid, req).await?;
    Ok((StatusCode::ACCEPTED, Json(super::renders::TaskAccepted { task_id })))
}

/// `GET /porch/promotions/{task_id}`.
pub(super) async fn report(
    _: Publisher,
    State(engine): State<Engine>,
    Path(id): Path<String>,
) -> Result<Json<PromotionReport>, ApiError> {
    Ok(Json(engine.promote().report(&id)?))
}

/// `GET /porch/content/{guid}/export`: the bundle as a promotion sends it.
pub(super) async fn export(
    _: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
) -> Result<Response, ApiError> {
    let prepared = engine.promote().prepared_bundle(&guid).await.map_err(crate::promote::PromoteError::into_error)?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/gzip".to_string()),
            (header::CONTENT_LENGTH, prepared.archive.len().to_string()),
            (header::HeaderName::from_static("x-porch-bundle-id"), prepared.bundle_id.to_string()),
            // The manifest's appmode, for the README the CLI writes.
            (
                header::HeaderName::from_static("x-porch-appmode"),
                prepared.manifest["metadata"]["appmode"].as_str().unwrap_or("").to_string(),
            ),
        ],
        Body::from(prepared.archive),
    )
        .into_response())
}
