//! Viewer access and keys: `/__api__/porch/content/{guid}/secret-link` and
//! `/__api__/porch/keys`. (An item's `viewer_access` itself is set with
//! `PATCH /__api__/v1/content/{guid}`.)

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Serialize;

use super::auth::{Origin, Publisher};
use super::error::ApiError;
use crate::engine::Engine;

/// `POST /porch/content/{guid}/secret-link`: a new token (the old one, and the cookies it
/// set, stop working). The URL is shown once: only the token's hash is kept.
pub(super) async fn new_secret_link(
    _: Publisher,
    State(engine): State<Engine>,
    Origin(origin): Origin,
    Path(guid): Path<String>,
) -> Result<Json<SecretLinkView>, ApiError> {
    let (c, token) = engine.library().new_secret_link(&guid).await?;
    Ok(Json(SecretLinkView {
        url: engine.library().secret_link_url(&c, &origin, &token),
        token,
        viewer_access: c.viewer_access,
    }))
}

/// A new secret link: the URL to share, its token, and the item's viewer access.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize, PartialEq)]
pub(crate) struct SecretLinkView {
    /// The link to share (the token in its query).
    pub url: String,
    /// The token alone.
    pub token: String,
    /// The item's viewer access (`network`, `local` or `link`).
    pub viewer_access: crate::vocab::ViewerAccess,
}

/// `DELETE /porch/content/{guid}/secret-link`: 204; the link stops working.
pub(super) async fn revoke_secret_link(
    _: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
) -> Result<StatusCode, ApiError> {
    engine.library().revoke_secret_link(&guid).await?;
    Ok(StatusCode::NO_CONTENT)
}
