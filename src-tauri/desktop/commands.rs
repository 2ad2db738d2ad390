//! The commands the Library webview calls: each is one engine call with its error mapped.
//!
//! Ownership: none; commands borrow the managed [`Engine`] handle (cheap to clone, safe to
//! share) and return engine DTOs unchanged, so the UI sees the same shapes as the HTTP API.
//!
//! Concurrency: async commands run on the shared tokio runtime, several at a time; the
//! engine serialises what must be serialised.
//!
//! SECURITY: these commands act with the desktop user's rights (`deploy_path` reads any
//! path it is given). Only the app's own webview can call them: it loads the embedded UI
//! and no remote pages (no `devUrl`, no remote capability), and viewer links open in the
//! user's browser through [`open_external`] rather than inside the webview.

use std::path::PathBuf;

use porch_engine::runtimes::Overrides;
use porch_engine::{BundlePreview, ContentView, DeployOptions, Deployment, Engine, ErrorCode, Staged};
use serde::Serialize;
use tauri::{AppHandle, State};
use tower::ServiceExt as _;

/// How a command fails: the engine's code, for the UI to branch on, and a message to show.
#[derive(Debug, Serialize)]
pub(crate) struct CommandError {
    code: ErrorCode,
    message: String,
}

impl From<porch_engine::Error> for CommandError {
    fn from(err: porch_engine::Error) -> Self {
        // The desktop user owns this machine and its logs, so unlike the LAN API the message
        // keeps the cause chain; it is still logged for the record. Some engine messages
        // already quote their cause, so a cause is appended only when it is not there yet.
        let mut message = err.to_string();
        let mut source = std::error::Error::source(&err);
        while let Some(cause) = source {
            let cause_text = cause.to_string();
            if !message.contains(&cause_text) {
                message.push_str(": ");
                message.push_str(&cause_text);
            }
            source = cause.source();
        }
        tracing::warn!(code = ?err.code(), %message, "command failed");
        CommandError { code: err.code(), message }
    }
}

/// What the window shows about the server itself.
#[derive(Debug, Serialize)]
pub(crate) struct ServerInfo {
    viewer_urls: Vec<String>,
}

/// Every content item, for the Library list.
#[tauri::command]
pub(crate) async fn list_content(engine: State<'_, Engine>) -> Result<Vec<ContentView>, CommandError> {
    Ok(engine.library().list_content().await?)
}

/// Publishes a dropped folder, file, `.tar.gz` or `.zip` and activates it; `options` are
/// the name and title the user confirmed in the preview.
#[tauri::command]
pub(crate) async fn deploy_path(
    engine: State<'_, Engine>,
    path: PathBuf,
    options: Option<DeployOptions>,
) -> Result<Deployment, CommandError> {
    Ok(engine.deployer().deploy_path(&path, options.unwrap_or_default()).await?)
}

/// Stores a dropped path as a new bundle; the window then deploys it through the API and
/// follows the task log live.
#[tauri::command]
pub(crate) async fn stage_path(
    engine: State<'_, Engine>,
    path: PathBuf,
    options: Option<DeployOptions>,
) -> Result<Staged, CommandError> {
    Ok(engine.deployer().stage_path(&path, options.unwrap_or_default()).await?)
}

/// What a deploy of a dropped path would detect (nothing is stored), with the chosen
/// appmode and entry point (`{appmode, entrypoint}`, both optional) applied.
#[tauri::command]
pub(crate) async fn preview_path(
    engine: State<'_, Engine>,
    path: PathBuf,
    overrides: Option<Overrides>,
) -> Result<BundlePreview, CommandError> {
    Ok(engine.deployer().preview_path(&path, &overrides.unwrap_or_default()).await?)
}

/// An HTTP answer handed back to the webview.
#[derive(Debug, Serialize)]
pub(crate) struct ApiAnswer {
    status: u16,
    text: String,
}

/// Runs one request of the engine's HTTP API in-process, as the publisher (the engine's
/// per-run session key), so the window uses exactly the API a browser uses without CORS
/// or a stored key. Only `/__api__/` paths are accepted.
#[tauri::command]
pub(crate) async fn api_request(
    engine: State<'_, Engine>,
    method: String,
    path: String,
    body: Option<String>,
) -> Result<ApiAnswer, CommandError> {
    let body = porch_engine::api::Body::from(body.unwrap_or_default());
    in_process(&engine, &method, &path, "application/json", body).await
}

/// An upload through the same in-process API (a picture, a logo): the raw bytes are the
/// invoke body, the method and path travel as the `porch-method` and `porch-path` headers.
/// `api_request` carries text only; bytes as JSON numbers would be four times the size.
#[tauri::command]
pub(crate) async fn api_upload(
    engine: State<'_, Engine>,
    request: tauri::ipc::Request<'_>,
) -> Result<ApiAnswer, CommandError> {
    let tauri::ipc::InvokeBody::Raw(bytes) = request.body() else {
        return Err(invalid("an upload carries its bytes as the raw invoke body".into()));
    };
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let (method, path) = (header("porch-method").to_string(), header("porch-path").to_string());
    let body = porch_engine::api::Body::from(bytes.clone());
    in_process(&engine, &method, &path, "application/octet-stream", body).await
}

/// Sets an item's picture from a file dropped on its picture area: a drop on the window
/// yields paths, not bytes. The engine reads and checks it as it checks an upload.
#[tauri::command]
pub(crate) async fn thumbnail_from_path(
    engine: State<'_, Engine>,
    guid: String,
    path: PathBuf,
) -> Result<(), CommandError> {
    engine.gallery().set_thumbnail_from_file(&guid, &path).await?;
    Ok(())
}

/// An item's picture as a `data:` URL, or none: the window's pages come from the app, not
/// from the server, and its content policy admits images only from itself and `data:`.
#[tauri::command]
pub(crate) async fn thumbnail_data_url(
    engine: State<'_, Engine>,
    guid: String,
) -> Result<Option<String>, CommandError> {
    Ok(engine.gallery().thumbnail(&guid).await?.map(|p| p.data_url()))
}

fn invalid(message: String) -> CommandError {
    CommandError { code: ErrorCode::InvalidRequest, message }
}

async fn in_process(
    engine: &Engine,
    method: &str,
    path: &str,
    content_type: &str,
    body: porch_engine::api::Body,
) -> Result<ApiAnswer, CommandError> {
    if !path.starts_with("/__api__/") {
        return Err(invalid(format!("not an API path: {path}")));
    }
    let method = axum_method(method).ok_or_else(|| invalid(format!("bad method {method}")))?;
    let request = porch_engine::api::Request::builder()
        .method(method)
        .uri(path)
        .header("authorization", format!("Key {}", engine.session_key()))
        .header("content-type", content_type)
        .header("host", host_of(engine))
        .body(body)
        .map_err(|e| invalid(e.to_string()))?;
    let request = porch_engine::api::normalize(request);
    let response =
        porch_engine::api::router(engine.clone()).oneshot(request).await.map_err(|e| invalid(e.to_string()))?;
    let status = response.status().as_u16();
    let bytes =
        porch_engine::api::to_bytes(response.into_body(), usize::MAX).await.map_err(|e| invalid(e.to_string()))?;
    Ok(ApiAnswer { status, text: String::from_utf8_lossy(&bytes).into_owned() })
}

fn axum_method(m: &str) -> Option<porch_engine::api::Method> {
    porch_engine::api::Method::from_bytes(m.to_ascii_uppercase().as_bytes()).ok()
}

/// The Host the API builds absolute URLs from: the first viewer URL's authority.
fn host_of(engine: &Engine) -> String {
    engine
        .viewer_urls()
        .first()
        .and_then(|u| u.split("//").nth(1))
        .map(|rest| rest.trim_end_matches('/').to_string())
        .unwrap_or_else(|| "127.0.0.1".into())
}

/// Whether Porch starts at login (an XDG autostart entry).
#[tauri::command]
pub(crate) fn autostart_get() -> Result<bool, CommandError> {
    Ok(super::autostart::enabled())
}

/// Switches start at login on or off.
#[tauri::command]
pub(crate) fn autostart_set(on: bool) -> Result<(), CommandError> {
    super::autostart::set(on)
        .map_err(|e| CommandError { code: ErrorCode::Internal, message: format!("cannot change start at login: {e}") })
}

/// The LAN URLs the viewer is reachable at.
#[tauri::command]
pub(crate) fn server_info(engine: State<'_, Engine>) -> ServerInfo {
    ServerInfo { viewer_urls: engine.viewer_urls() }
}

/// Stops Porch and starts it again (a saved port or bind takes effect).
#[tauri::command]
pub(crate) fn restart_app(app: AppHandle) {
    super::exit::restart(&app);
}

/// Opens an `http(s)` URL in the user's default browser.
#[tauri::command]
pub(crate) fn open_external(app: AppHandle, url: String) -> Result<(), CommandError> {
    super::window::open_in_browser(&app, &url)
        .map_err(|message| CommandError { code: ErrorCode::InvalidRequest, message })
}
