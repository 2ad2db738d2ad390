//! `/__api__/porch/…`: Porch's own calls for its UI, beyond Connect's API.
//!
//! - `GET server`: addresses, switches and runtime defaults; `PATCH server`: save settings
//!   (port and bind apply at the next start, the rest at once); `PUT sharing`: pause sharing;
//! - `GET|POST keys`, `DELETE keys/{id}`: API keys (the key is returned once, on creation);
//! - `POST inspect?filename=&appmode=&entrypoint=`: what a deploy of the uploaded archive would detect (nothing stored);
//! - `POST deploy?filename=&name=&title=&access=&appmode=&entrypoint=`: deploy the uploaded
//!   archive in one step, as `porch deploy` does (the CLI's way in while a server runs);
//! - `POST stage?filename=&name=&title=&access=&appmode=&entrypoint=`: store the uploaded
//!   archive as a new bundle without deploying it (the desktop shell's drop, which then
//!   deploys it through `POST /v1/content/{guid}/deploy` and follows the task);
//! - `POST schedules/preview`: the next runs of a schedule definition (nothing stored).
//!
//! All of them need the publisher's key, like every management call.

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use super::auth::Publisher;
use super::error::ApiError;
use super::json_body;
use crate::deployer::{upload_name, DeployOptions, Deployment};
use crate::engine::Engine;
use crate::error::Error;
use crate::runtimes::Overrides;
use crate::settings::ServerView;
use crate::view::{ApiKeyView, BundlePreview, NewApiKey, NextRun, Staged};

/// `GET /porch/server`.
pub(super) async fn server(_: Publisher, State(engine): State<Engine>) -> Json<ServerView> {
    Json(engine.settings().server_view())
}

/// `PATCH /porch/server {"port": 4000, "bind": "local", "allow_remote_publishing": true,
/// "runtime_defaults": {"max_processes": 5}}`: saves server settings (`null` = default).
pub(super) async fn update_server(
    _: Publisher,
    State(engine): State<Engine>,
    body: Bytes,
) -> Result<Json<ServerView>, ApiError> {
    let patch: Value = json_body(&body)?;
    let Value::Object(patch) = patch else {
        return Err(Error::Invalid("expected a JSON object of settings, e.g. {\"port\": 4000}".into()).into());
    };
    Ok(Json(engine.settings().update_server_settings(&patch).await?))
}

/// Body of a sharing switch.
#[derive(Debug, Deserialize)]
pub(super) struct SharingBody {
    paused: bool,
}

/// `PUT /porch/sharing {"paused": true}`: pause or resume serving other computers.
pub(super) async fn sharing(
    _: Publisher,
    State(engine): State<Engine>,
    body: Bytes,
) -> Result<Json<ServerView>, ApiError> {
    let b: SharingBody = json_body(&body)?;
    engine.library().set_sharing_paused(b.paused);
    Ok(Json(engine.settings().server_view()))
}

/// `GET /porch/keys`.
pub(super) async fn keys(_: Publisher, State(engine): State<Engine>) -> Result<Json<Vec<ApiKeyView>>, ApiError> {
    Ok(Json(engine.library().api_key_views().await?))
}

/// Body of a key creation.
#[derive(Debug, Deserialize)]
pub(super) struct NewKeyBody {
    #[serde(default)]
    name: String,
}

/// `POST /porch/keys {"name": "laptop"}`.
pub(super) async fn create_key(
    _: Publisher,
    State(engine): State<Engine>,
    body: Bytes,
) -> Result<Json<NewApiKey>, ApiError> {
    let b: NewKeyBody = json_body(&body)?;
    Ok(Json(engine.library().create_api_key(&b.name).await?))
}

/// `DELETE /porch/keys/{id}`: 204.
pub(super) async fn revoke_key(
    _: Publisher,
    State(engine): State<Engine>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    // By id only here (the CLI also takes a name).
    if id.is_empty() || !id.bytes().all(|b| b.is_ascii_digit()) {
        return Err(crate::error::Error::not_found("API key", &id).into());
    }
    engine.library().revoke_api_key(&id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Query of an inspection.
#[derive(Debug, Deserialize)]
pub(super) struct InspectQuery {
    filename: Option<String>,
    /// Preview as this appmode and/or entry point instead of the detected ones.
    #[serde(flatten)]
    overrides: Overrides,
}

/// `POST /porch/inspect?filename=NAME[&appmode=MODE][&entrypoint=FILE]`: the body is a
/// `.tar.gz` or `.zip` bundle. With `appmode`/`entrypoint`, the preview shows the bundle as
/// a deploy with the same choice would store it, or the 400 that deploy would get.
pub(super) async fn inspect(
    _: Publisher,
    State(engine): State<Engine>,
    Query(q): Query<InspectQuery>,
    req: Request,
) -> Result<Json<BundlePreview>, ApiError> {
    let overrides = q.overrides;
    overrides.check().map_err(Error::from)?;
    let tmp_dir = engine.config().tmp_dir();
    tokio::fs::create_dir_all(&tmp_dir).await.map_err(Error::io("creating the scratch folder", &tmp_dir))?;
    let tmp = tempfile::Builder::new()
        .prefix("inspect-")
        .tempfile_in(&tmp_dir)
        .map_err(Error::io("creating an upload file", &tmp_dir))?;
    let limit = engine.config().limits.max_bundle_bytes;
    super::bundles::spool(req.into_body().into_data_stream(), tmp.path(), limit).await?;
    let named_like = upload_name(q.filename.as_deref());
    Ok(Json(engine.deployer().preview_archive(tmp.path(), &named_like, &overrides).await?))
}

/// `POST /porch/schedules/preview`: body as for creating a schedule; answers the next 5 runs.
pub(super) async fn schedule_preview(
    _: Publisher,
    State(engine): State<Engine>,
    body: Bytes,
) -> Result<Json<Vec<NextRun>>, ApiError> {
    let v: Value = json_body(&body)?;
    Ok(Json(engine.renders().preview_schedule(&v, 5)?))
}

/// Query of a one-step deploy.
#[derive(Debug, Deserialize)]
pub(super) struct DeployQuery {
    /// The deployed folder's or file's name: names and titles a new item.
    filename: Option<String>,
    name: Option<String>,
    title: Option<String>,
    /// `network`, `local`, `link` or Connect's access types.
    access: Option<String>,
    appmode: Option<String>,
    entrypoint: Option<String>,
}

/// `POST /porch/deploy?filename=NAME[&name=][&title=][&access=][&appmode=][&entrypoint=]`:
/// the body is a `.tar.gz` or `.zip` bundle, deployed as `porch deploy` deploys a path (an
/// existing name gets a new version; a new item whose first deploy fails is not kept).
/// Answers once the deploy has ended.
pub(super) async fn deploy(
    _: Publisher,
    State(engine): State<Engine>,
    Query(q): Query<DeployQuery>,
    req: Request,
) -> Result<Json<Deployment>, ApiError> {
    let (tmp, named_like, opts) = receive(&engine, q, req, "deploy-").await?;
    Ok(Json(engine.deployer().deploy_upload(tmp.into_temp_path(), named_like, opts).await?))
}

/// `POST /porch/stage?filename=NAME[&name=][&title=][&access=][&appmode=][&entrypoint=]`:
/// the body is a `.tar.gz` or `.zip` bundle, stored as a new bundle of the item `name`
/// (created when missing, removed again when the bundle is refused) and not deployed.
pub(super) async fn stage(
    _: Publisher,
    State(engine): State<Engine>,
    Query(q): Query<DeployQuery>,
    req: Request,
) -> Result<Json<Staged>, ApiError> {
    let (tmp, named_like, opts) = receive(&engine, q, req, "stage-").await?;
    Ok(Json(engine.deployer().stage_archive(tmp.path(), &named_like, opts).await?))
}

/// An upload of `deploy` or `stage`: its options checked first, then its body spooled to a
/// scratch file (named `prefix…`, removed when dropped) within the bundle size limit; also
/// the file name the bundle's type is read from.
async fn receive(
    engine: &Engine,
    q: DeployQuery,
    req: Request,
    prefix: &str,
) -> Result<(tempfile::NamedTempFile, std::path::PathBuf, DeployOptions), ApiError> {
    let opts = DeployOptions {
        name: q.name,
        title: q.title,
        access_type: q.access,
        appmode: q.appmode,
        entrypoint: q.entrypoint,
    };
    opts.overrides().check().map_err(Error::from)?;
    let tmp_dir = engine.config().tmp_dir();
    tokio::fs::create_dir_all(&tmp_dir).await.map_err(Error::io("creating the scratch folder", &tmp_dir))?;
    let tmp = tempfile::Builder::new()
        .prefix(prefix)
        .tempfile_in(&tmp_dir)
        .map_err(Error::io("creating an upload file", &tmp_dir))?;
    let limit = engine.config().limits.max_bundle_bytes;
    super::bundles::spool(req.into_body().into_data_stream(), tmp.path(), limit).await?;
    Ok((tmp, upload_name(q.filename.as_deref()), opts))
}
