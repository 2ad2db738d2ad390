//! The commands the Library webview calls: each is one call of the engine's HTTP API, made
//! by the shell over loopback with the run's key ([`Porch`], the CLI's client).
//!
//! Ownership: none; commands borrow the managed [`Shell`] and hand the engine's JSON back
//! unchanged, so the UI sees the same shapes as over HTTP in a browser.
//!
//! Concurrency: async commands run on the shell's tokio runtime, several at a time; the
//! engine serialises what must be serialised.
//!
//! SECURITY: these commands act with the desktop user's rights (a drop's path is read and
//! packed here, as `porch deploy` does). Only the app's own webview can call them: it loads
//! the embedded UI and no remote pages (no `devUrl`, no remote capability), and viewer
//! links open in the user's browser through [`open_external`] rather than inside the
//! webview. The key never reaches the webview.

use std::path::PathBuf;

use base64::Engine as _;
use porch_engine::runtimes::Overrides;
use porch_engine::DeployOptions;
use reqwest::Method;
use serde::Serialize;
use serde_json::Value;
use tauri::{AppHandle, State};

use super::child::EXIT_RESTART;
use super::shell::{Shell, ANSWER_FIRST};
use crate::cli::client::{with_query, Answer, Body, Porch};
use crate::cli::deploy::post_packed;

/// Largest picture file read for `thumbnail_from_path` (the engine accepts 10 MiB).
const PICTURE_READ_LIMIT: u64 = 16 * 1024 * 1024;

/// How a command fails: the engine's code (`porch_code`), for the UI to branch on, and a
/// message to show.
#[derive(Debug, Serialize)]
pub(crate) struct CommandError {
    code: String,
    message: String,
}

impl CommandError {
    /// An error answer of the API: its `porch_code` and message, else the status's code.
    fn from_answer(answer: &Answer) -> CommandError {
        let body: Value = serde_json::from_slice(&answer.bytes).unwrap_or(Value::Null);
        let code = body["porch_code"].as_str().map(str::to_string).unwrap_or_else(|| code_for(answer.status).into());
        let message =
            body["error"].as_str().map(str::to_string).unwrap_or_else(|| format!("Porch answered {}", answer.status));
        tracing::warn!(%code, %message, "command failed");
        CommandError { code, message }
    }

    /// A failure before or instead of an answer: the engine's own error (packing a dropped
    /// path here fails as the engine would, with its code), else the engine could not be
    /// reached or its answer read.
    fn network(err: anyhow::Error) -> CommandError {
        let (code, message) = match err.downcast_ref::<porch_engine::Error>() {
            Some(engine) => {
                let code = serde_json::to_value(engine.code()).ok().and_then(|c| c.as_str().map(str::to_string));
                (code.unwrap_or_else(|| "Internal".into()), with_causes(engine))
            }
            None => ("Network".into(), format!("{err:#}")),
        };
        tracing::warn!(%code, %message, "command failed");
        CommandError { code, message }
    }

    fn invalid(message: String) -> CommandError {
        CommandError { code: "InvalidRequest".into(), message }
    }
}

/// The error's message and the causes it does not quote yet: the desktop user owns this
/// machine and its logs, so unlike the LAN API the message keeps the cause chain.
fn with_causes(err: &porch_engine::Error) -> String {
    let mut message = err.to_string();
    let mut source = std::error::Error::source(err);
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !message.contains(&cause_text) {
            message.push_str(": ");
            message.push_str(&cause_text);
        }
        source = cause.source();
    }
    message
}

/// The UI's code for an answer without `porch_code` (as `ui/src/api/client.ts` maps it).
fn code_for(status: u16) -> &'static str {
    match status {
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "NotFound",
        409 => "Conflict",
        503 => "Busy",
        400 | 413 | 422 => "InvalidRequest",
        _ => "Internal",
    }
}

/// A success's JSON (`null` for an empty body), or the answer's error.
fn json_of(answer: Answer) -> Result<Value, CommandError> {
    if !(200..300).contains(&answer.status) {
        return Err(CommandError::from_answer(&answer));
    }
    if answer.bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Value::Null);
    }
    serde_json::from_slice(&answer.bytes).map_err(|e| CommandError::network(e.into()))
}

async fn call(porch: &Porch, method: Method, path: &str, body: Body) -> Result<Value, CommandError> {
    json_of(porch.send(method, path, body).await.map_err(CommandError::network)?)
}

/// What the window shows about the server itself.
#[derive(Debug, Serialize)]
pub(crate) struct ServerInfo {
    viewer_urls: Vec<String>,
}

/// Every content item, for the Library list.
#[tauri::command]
pub(crate) async fn list_content(shell: State<'_, Shell>) -> Result<Value, CommandError> {
    call(&shell.porch, Method::GET, "/__api__/v1/content", Body::Empty).await
}

/// The query a one-step deploy or a staging takes: the dropped path's name and the options.
fn deploy_path_query(api: &str, path: &std::path::Path, opts: &DeployOptions) -> String {
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    with_query(
        api,
        &[
            ("filename", file_name.as_deref()),
            ("name", opts.name.as_deref()),
            ("title", opts.title.as_deref()),
            ("access", opts.access_type.as_deref()),
            ("appmode", opts.appmode.as_deref()),
            ("entrypoint", opts.entrypoint.as_deref()),
        ],
    )
}

/// Publishes a dropped folder, file, `.tar.gz` or `.zip` and activates it; `options` are
/// the name and title the user confirmed in the preview. Packed here, uploaded as
/// `porch deploy` does.
#[tauri::command]
pub(crate) async fn deploy_path(
    shell: State<'_, Shell>,
    path: PathBuf,
    options: Option<DeployOptions>,
) -> Result<Value, CommandError> {
    let api = deploy_path_query("/__api__/porch/deploy", &path, &options.unwrap_or_default());
    json_of(post_packed(&shell.porch, &path, &api).await.map_err(CommandError::network)?)
}

/// Stores a dropped path as a new bundle; the window then deploys it through the API and
/// follows the task log live.
#[tauri::command]
pub(crate) async fn stage_path(
    shell: State<'_, Shell>,
    path: PathBuf,
    options: Option<DeployOptions>,
) -> Result<Value, CommandError> {
    let api = deploy_path_query("/__api__/porch/stage", &path, &options.unwrap_or_default());
    json_of(post_packed(&shell.porch, &path, &api).await.map_err(CommandError::network)?)
}

/// What a deploy of a dropped path would detect (nothing is stored), with the chosen
/// appmode and entry point (`{appmode, entrypoint}`, both optional) applied.
#[tauri::command]
pub(crate) async fn preview_path(
    shell: State<'_, Shell>,
    path: PathBuf,
    overrides: Option<Overrides>,
) -> Result<Value, CommandError> {
    let overrides = overrides.unwrap_or_default();
    let file_name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let api = with_query(
        "/__api__/porch/inspect",
        &[
            ("filename", file_name.as_deref()),
            ("appmode", overrides.appmode.as_deref()),
            ("entrypoint", overrides.entrypoint.as_deref()),
        ],
    );
    json_of(post_packed(&shell.porch, &path, &api).await.map_err(CommandError::network)?)
}

/// An HTTP answer handed back to the webview.
#[derive(Debug, Serialize)]
pub(crate) struct ApiAnswer {
    status: u16,
    text: String,
}

/// Runs one request of the engine's HTTP API as the publisher, so the window uses exactly
/// the API a browser uses without CORS or a stored key. Only `/__api__/` paths are accepted.
#[tauri::command]
pub(crate) async fn api_request(
    shell: State<'_, Shell>,
    method: String,
    path: String,
    body: Option<String>,
) -> Result<ApiAnswer, CommandError> {
    let body = match body {
        Some(text) if !text.is_empty() => Body::Bytes(text.into_bytes(), "application/json"),
        _ => Body::Empty,
    };
    pass_through(&shell.porch, &method, &path, body).await
}

/// An upload through the same API (a picture, a logo): the raw bytes are the invoke body,
/// the method and path travel as the `porch-method` and `porch-path` headers.
/// `api_request` carries text only; bytes as JSON numbers would be four times the size.
#[tauri::command]
pub(crate) async fn api_upload(
    shell: State<'_, Shell>,
    request: tauri::ipc::Request<'_>,
) -> Result<ApiAnswer, CommandError> {
    let tauri::ipc::InvokeBody::Raw(bytes) = request.body() else {
        return Err(CommandError::invalid("an upload carries its bytes as the raw invoke body".into()));
    };
    let header = |name: &str| request.headers().get(name).and_then(|v| v.to_str().ok()).unwrap_or_default();
    let (method, path) = (header("porch-method").to_string(), header("porch-path").to_string());
    pass_through(&shell.porch, &method, &path, Body::Bytes(bytes.clone(), "application/octet-stream")).await
}

async fn pass_through(porch: &Porch, method: &str, path: &str, body: Body) -> Result<ApiAnswer, CommandError> {
    if !path.starts_with("/__api__/") {
        return Err(CommandError::invalid(format!("not an API path: {path}")));
    }
    let method = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .map_err(|_| CommandError::invalid(format!("bad method {method}")))?;
    let answer = porch.send(method, path, body).await.map_err(CommandError::network)?;
    Ok(ApiAnswer { status: answer.status, text: String::from_utf8_lossy(&answer.bytes).into_owned() })
}

/// An item's guid as it may stand in a path (the UI sends what the API gave it).
fn guid_path(guid: &str) -> Result<&str, CommandError> {
    if guid.is_empty() || !guid.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
        return Err(CommandError::invalid(format!("not an item id: {guid:?}")));
    }
    Ok(guid)
}

/// Sets an item's picture from a file dropped on its picture area: a drop on the window
/// yields paths, not bytes. The engine checks the bytes as it checks an upload.
#[tauri::command]
pub(crate) async fn thumbnail_from_path(
    shell: State<'_, Shell>,
    guid: String,
    path: PathBuf,
) -> Result<(), CommandError> {
    let guid = guid_path(&guid)?;
    let size = tokio::fs::metadata(&path).await.map(|m| m.len()).unwrap_or(0);
    if size > PICTURE_READ_LIMIT {
        return Err(CommandError::invalid(format!("{} is too large for a picture", path.display())));
    }
    let bytes = tokio::fs::read(&path)
        .await
        .map_err(|e| CommandError::invalid(format!("cannot read {}: {e}", path.display())))?;
    let api = format!("/__api__/v1/content/{guid}/thumbnail");
    call(&shell.porch, Method::PUT, &api, Body::Bytes(bytes, "application/octet-stream")).await?;
    Ok(())
}

/// An item's picture as a `data:` URL, or none: the window's pages come from the app, not
/// from the server, and its content policy admits images only from itself and `data:`.
#[tauri::command]
pub(crate) async fn thumbnail_data_url(shell: State<'_, Shell>, guid: String) -> Result<Option<String>, CommandError> {
    let api = format!("/__api__/v1/content/{}/thumbnail", guid_path(&guid)?);
    let answer = shell.porch.send(Method::GET, &api, Body::Empty).await.map_err(CommandError::network)?;
    match answer.status {
        204 => Ok(None),
        200..=299 => {
            let mime = answer.content_type.clone().unwrap_or_else(|| "application/octet-stream".into());
            Ok(Some(format!("data:{mime};base64,{}", base64::engine::general_purpose::STANDARD.encode(&answer.bytes))))
        }
        _ => Err(CommandError::from_answer(&answer)),
    }
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
        .map_err(|e| CommandError { code: "Internal".into(), message: format!("cannot change start at login: {e}") })
}

/// The LAN URLs the viewer is reachable at.
#[tauri::command]
pub(crate) async fn server_info(shell: State<'_, Shell>) -> Result<ServerInfo, CommandError> {
    let view = call(&shell.porch, Method::GET, "/__api__/porch/server", Body::Empty).await?;
    let viewer_urls = view["viewer_urls"]
        .as_array()
        .map(|urls| urls.iter().filter_map(|u| u.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    Ok(ServerInfo { viewer_urls })
}

/// Stops Porch and starts it again (a saved port or bind takes effect): the shell exits
/// with the status that asks its Porch for that (`child.rs`). It exits a moment after this
/// command has answered, so the page's click completes first (WebDriver's click waits for
/// it, and reported a crashed page when the shell was gone before).
#[tauri::command]
pub(crate) fn restart_app(app: AppHandle) {
    tracing::info!("restarting");
    tauri::async_runtime::spawn(async move {
        tokio::time::sleep(ANSWER_FIRST).await;
        app.exit(EXIT_RESTART);
    });
}

/// Opens an `http(s)` URL in the user's default browser.
#[tauri::command]
pub(crate) fn open_external(app: AppHandle, url: String) -> Result<(), CommandError> {
    super::window::open_in_browser(&app, &url).map_err(CommandError::invalid)
}
