//! Turning exit requests into exactly one graceful engine shutdown.
//!
//! Every way out (tray "Quit", SIGINT/SIGTERM, the last window closing when there is no
//! tray) reaches Tauri as `RunEvent::ExitRequested`. The first request is prevented, the
//! engine is shut down with a grace period, and then `AppHandle::exit` is called again;
//! that second request passes through. Requests arriving meanwhile are prevented too.
//!
//! The last window closing is not a way out when a tray exists: the window was closed to
//! the tray (`window::CloseToTray`), and that request is refused without a shutdown.
//!
//! Ownership: [`ExitGate`] is managed state holding the phase. Concurrency: the phase is an
//! atomic compare-and-swap, so concurrent requests (a signal during a tray quit) start one
//! shutdown only; the shutdown itself runs on the tokio runtime, never on the GTK thread.

use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use porch_engine::Engine;
use tauri::{AppHandle, ExitRequestApi, Manager as _, Runtime};

use super::window::CloseToTray;

/// How long running work gets to finish before the engine stops it.
pub(crate) const GRACE: Duration = Duration::from_secs(5);
/// Backstop: if shutdown itself hangs, exit anyway after this long.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(15);

const RUNNING: u8 = 0;
const STOPPING: u8 = 1;
const STOPPED: u8 = 2;

/// Where the app is on its way out.
#[derive(Debug, Default)]
pub(crate) struct ExitGate(AtomicU8);

/// The data folder's lock, held while this window serves the folder.
#[derive(Clone, Debug)]
pub(crate) struct HeldLock(std::sync::Arc<std::sync::Mutex<Option<porch_engine::data_dir::DataLock>>>);

impl HeldLock {
    pub(crate) fn new(lock: porch_engine::data_dir::DataLock) -> HeldLock {
        HeldLock(std::sync::Arc::new(std::sync::Mutex::new(Some(lock))))
    }

    /// Lets the lock go (the engine has stopped). A std lock: taken only to move the value out.
    pub(crate) fn release(&self) {
        let lock = self.0.lock().unwrap_or_else(|p| p.into_inner()).take();
        drop(lock);
    }
}

/// Handles one `RunEvent::ExitRequested`. `code` is `None` when Tauri asks because the last
/// window closed, and `Some` for `AppHandle::exit` (tray "Quit", a signal, the final request).
pub(crate) fn on_exit_requested<R: Runtime>(app: &AppHandle<R>, code: Option<i32>, api: &ExitRequestApi) {
    let gate = app.state::<ExitGate>();
    if code.is_none() && app.state::<CloseToTray>().enabled() && gate.0.load(Ordering::Acquire) == RUNNING {
        // Closed to the tray: the webview is gone, the server serves on.
        api.prevent_exit();
        tracing::info!("the window is closed to the tray; still serving");
        return;
    }
    match gate.0.compare_exchange(RUNNING, STOPPING, Ordering::AcqRel, Ordering::Acquire) {
        Ok(_) => {
            api.prevent_exit();
            tracing::info!("shutting down");
            stop_engine_then(app.clone(), move |app| app.exit(code.unwrap_or(0)));
        }
        // A shutdown is already running; it will exit when done.
        Err(STOPPING) => api.prevent_exit(),
        // STOPPED: this is our own final request; let it through.
        Err(_) => {}
    }
}

/// Restarts Porch (the Settings pane's "Restart now", so a saved address takes effect): the
/// engine shuts down as for a quit, then Tauri starts the app again. Tauri does not let an
/// exit request for a restart be prevented, so the shutdown runs first and the gate is
/// already open when the request arrives. A restart during a quit is ignored.
pub(crate) fn restart<R: Runtime>(app: &AppHandle<R>) {
    let gate = app.state::<ExitGate>();
    if gate.0.compare_exchange(RUNNING, STOPPING, Ordering::AcqRel, Ordering::Acquire).is_err() {
        return;
    }
    tracing::info!("restarting");
    // The new process takes the data folder's lock at its start: let it go first.
    stop_engine_then(app.clone(), |app| {
        app.state::<HeldLock>().release();
        app.request_restart()
    });
}

/// Shuts the engine down (with the grace period, giving up after the deadline), opens the
/// gate for the final request and makes it with `then`, on the tokio runtime.
fn stop_engine_then<R: Runtime>(app: AppHandle<R>, then: impl FnOnce(&AppHandle<R>) + Send + 'static) {
    let engine = app.state::<Engine>().inner().clone();
    tauri::async_runtime::spawn(async move {
        if tokio::time::timeout(SHUTDOWN_DEADLINE, engine.shutdown(GRACE)).await.is_err() {
            tracing::error!(?SHUTDOWN_DEADLINE, "engine shutdown did not finish; going on anyway");
        }
        app.state::<ExitGate>().0.store(STOPPED, Ordering::Release);
        then(&app);
    });
}

/// Spawns a task that requests an exit on SIGINT or SIGTERM, so `kill` and Ctrl-C in a
/// terminal shut the server down as gracefully as "Quit" does.
pub(crate) fn quit_on_signal<R: Runtime>(app: AppHandle<R>) {
    tauri::async_runtime::spawn(async move {
        if let Err(err) = wait_for_signal().await {
            tracing::warn!(error = %err, "cannot listen for termination signals");
            return;
        }
        tracing::info!("termination signal received");
        app.exit(0);
    });
}

#[cfg(unix)]
async fn wait_for_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate())?;
    tokio::select! {
        res = tokio::signal::ctrl_c() => res,
        _ = term.recv() => Ok(()),
    }
}

#[cfg(not(unix))]
async fn wait_for_signal() -> std::io::Result<()> {
    tokio::signal::ctrl_c().await
}
