//! Desktop notifications for what the publisher should know about while the window is
//! hidden: a scheduled render that failed, an app that could not start for a viewer, a
//! deploy that failed.
//!
//! Ownership: one task holding an engine event receiver; it ends with the engine's sender.
//! Concurrency: a lagging receiver skips events (notifications are best effort).

use porch_engine::events::short_reason;
use porch_engine::{Engine, Event, RenderStatus, Trigger};
use tauri::{AppHandle, Runtime};
use tauri_plugin_notification::NotificationExt as _;
use tokio::sync::broadcast::error::RecvError;

/// Spawns the notifier.
pub(crate) fn spawn<R: Runtime>(app: AppHandle<R>, engine: Engine) {
    let mut events = engine.subscribe();
    tauri::async_runtime::spawn(async move {
        loop {
            let event = match events.recv().await {
                Ok(e) => e,
                Err(RecvError::Lagged(_)) => continue,
                Err(RecvError::Closed) => break,
            };
            let Some((guid, what)) = message(&event) else {
                continue;
            };
            let title = match engine.library().content(&guid).await {
                Ok(c) => c.title.filter(|t| !t.is_empty()).unwrap_or(c.name),
                Err(_) => "An item".into(),
            };
            let body = format!("{title}: {what}");
            if let Err(err) = app.notification().builder().title("Porch").body(&body).show() {
                tracing::debug!(error = %err, %body, "cannot show a notification");
            }
        }
    });
}

/// The guid and text of a notification for `event`, if it deserves one.
fn message(event: &Event) -> Option<(String, String)> {
    match event {
        Event::RenderFinished { guid, trigger: Trigger::Schedule, status: RenderStatus::Failed, error, .. } => {
            Some((guid.clone(), format!("the scheduled render failed ({})", short_reason(error))))
        }
        Event::StartFailed { guid, message } => {
            Some((guid.clone(), format!("the app could not start ({})", short_reason(message))))
        }
        Event::TaskFinished { guid, code, error, .. } if *code != 0 => {
            Some((guid.clone(), format!("the deploy failed ({})", short_reason(error))))
        }
        _ => None,
    }
}
