//! `/__api__/porch/content/{guid}/link`: link an item to a folder on this computer, read
//! the link's status, or remove it. Porch's own extension; Connect has no equivalent.

use std::path::PathBuf;

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;

use super::auth::Publisher;
use super::error::ApiError;
use super::json_body;
use crate::engine::Engine;
use crate::error::Error;
use crate::view::LinkView;

/// Body of `PUT`.
#[derive(Debug, Deserialize)]
pub(super) struct LinkBody {
    path: Option<String>,
    /// The item was just deployed from this folder (`porch deploy --watch`): only later
    /// changes redeploy it.
    #[serde(default)]
    in_sync: bool,
}

/// `GET …/link`: the link and its status; 404 when the item has none.
pub(super) async fn get_one(
    _: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
) -> Result<Json<LinkView>, ApiError> {
    Ok(Json(engine.links().link(&guid).await?))
}

/// `PUT …/link {"path": "/abs/folder"}`: links (or re-links) the item. The serving engine
/// redeploys from the folder at once (unless `"in_sync": true`), then on every change.
pub(super) async fn put(
    publisher: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
    body: Bytes,
) -> Result<Json<LinkView>, ApiError> {
    publisher.at_this_computer("a linked folder")?;
    let b: LinkBody = json_body(&body)?;
    let path = b
        .path
        .filter(|p| !p.trim().is_empty())
        .ok_or_else(|| Error::Invalid("\"path\" (an absolute folder path) is required".into()))?;
    Ok(Json(engine.links().set_link(&guid, &PathBuf::from(path), b.in_sync).await?))
}

/// `DELETE …/link`: stops following the folder; the item keeps serving what it has.
pub(super) async fn remove(
    _: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
) -> Result<StatusCode, ApiError> {
    engine.links().delete_link(&guid).await?;
    Ok(StatusCode::NO_CONTENT)
}
