//! How the shell ends: closing the window to the tray, and passing quit and restart on to
//! its Porch.
//!
//! Every way out of the Tauri app (tray "Quit", "Restart Porch now", the last window
//! closing) reaches it as `RunEvent::ExitRequested`. A request with a code (`AppHandle::exit`)
//! passes through: the shell exits with that status and Porch acts on it (`child.rs`: 0
//! quits, `EXIT_RESTART` restarts), shutting the engine down exactly once there.
//!
//! The last window closing (a request without a code) is not a way out when a tray exists
//! (`window::CloseToTray`): the shell then ends with `EXIT_TRAY`, which frees everything GTK
//! and WebKit held, and Porch keeps serving (`child.rs`: with Porch's own tray no shell runs
//! until the window is opened again; with the shell's tray, the shell starts again in its
//! tray form). Under WebDriver it only refuses the request and keeps its process (see
//! `shell`). With no tray, the close is a quit.
//!
//! Concurrency: called on the GTK main thread by the event loop.

use tauri::{AppHandle, ExitRequestApi, Manager as _, Runtime};

use super::child::EXIT_TRAY;
use super::window::CloseToTray;

/// Handles one `RunEvent::ExitRequested`. `code` is `None` when Tauri asks because the last
/// window closed, and `Some` for `AppHandle::exit`.
pub(crate) fn on_exit_requested<R: Runtime>(app: &AppHandle<R>, code: Option<i32>, api: &ExitRequestApi) {
    if code.is_some() || !app.state::<CloseToTray>().enabled() {
        tracing::info!(code = code.unwrap_or(0), "the desktop shell exits");
        return;
    }
    api.prevent_exit();
    if std::env::var_os("TAURI_WEBVIEW_AUTOMATION").is_some() {
        tracing::info!("the window is closed to the tray; still serving (the shell stays as it is under WebDriver)");
        return;
    }
    tracing::info!("the window is closed; the shell ends and Porch decides what follows");
    app.exit(EXIT_TRAY);
}
