//! Forwards the engine's broadcast of state changes to the webview as `porch://event`.
//!
//! Ownership: one task, which owns the broadcast receiver. It ends when the engine drops
//! its sender (shutdown) or the runtime stops.
//!
//! Concurrency: a broadcast receiver that falls behind loses the oldest events; the task
//! then emits `{"type":"lagged","skipped":n}` so the UI refetches instead of missing a change.

use porch_engine::Event;
use tauri::{AppHandle, Emitter as _};
use tokio::sync::broadcast::{error::RecvError, Receiver};

/// The Tauri event name the UI listens on (`ui/src/api/events.ts`).
pub(crate) const ENGINE_EVENT: &str = "porch://event";

/// Spawns the forwarding task.
pub(crate) fn forward(app: AppHandle, mut events: Receiver<Event>) {
    tauri::async_runtime::spawn(async move {
        loop {
            let sent = match events.recv().await {
                Ok(event) => app.emit(ENGINE_EVENT, &event),
                Err(RecvError::Lagged(skipped)) => {
                    tracing::debug!(skipped, "event forwarder lagged");
                    app.emit(ENGINE_EVENT, serde_json::json!({ "type": "lagged", "skipped": skipped }))
                }
                Err(RecvError::Closed) => break,
            };
            if let Err(err) = sent {
                tracing::warn!(error = %err, "cannot emit an engine event to the webview");
            }
        }
        tracing::debug!("engine event stream closed");
    });
}
