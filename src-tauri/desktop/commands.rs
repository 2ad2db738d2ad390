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

use porch_engine::{ContentView, DeployOptions, Deployment, Engine, ErrorCode};
use serde::Serialize;
use tauri::{AppHandle, State};

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
        CommandError {
            code: err.code(),
            message,
        }
    }
}

/// What the window shows about the server itself.
#[derive(Debug, Serialize)]
pub(crate) struct ServerInfo {
    viewer_urls: Vec<String>,
}

/// Every content item, for the Library list.
#[tauri::command]
pub(crate) async fn list_content(
    engine: State<'_, Engine>,
) -> Result<Vec<ContentView>, CommandError> {
    Ok(engine.list_content().await?)
}

/// Publishes a dropped folder, file, `.tar.gz` or `.zip` and activates it.
#[tauri::command]
pub(crate) async fn deploy_path(
    engine: State<'_, Engine>,
    path: PathBuf,
) -> Result<Deployment, CommandError> {
    Ok(engine.deploy_path(&path, DeployOptions::default()).await?)
}

/// The LAN URLs the viewer is reachable at.
#[tauri::command]
pub(crate) fn server_info(engine: State<'_, Engine>) -> ServerInfo {
    ServerInfo {
        viewer_urls: engine.viewer_urls(),
    }
}

/// Opens an `http(s)` URL in the user's default browser.
#[tauri::command]
pub(crate) fn open_external(app: AppHandle, url: String) -> Result<(), CommandError> {
    super::window::open_in_browser(&app, &url).map_err(|message| CommandError {
        code: ErrorCode::InvalidRequest,
        message,
    })
}
