//! Desktop notifications for what the publisher should know about while the window is
//! closed: a scheduled render that failed, an app that could not start for a viewer, a
//! deploy that failed.
//!
//! Ownership: none; `events.rs` hands each engine event (JSON, as the SSE stream carries
//! it) to [`consider`]. Concurrency: each notification looks the item's title up on its
//! own task, so the event reader never waits (notifications are best effort).

use std::sync::Arc;

use porch_engine::events::short_reason;
use porch_engine::{RenderStatus, Trigger};
use serde_json::Value;
use tauri::{AppHandle, Runtime};
use tauri_plugin_notification::NotificationExt as _;

use crate::cli::client::Porch;

/// Shows a notification for `event` if it deserves one.
pub(crate) fn consider<R: Runtime>(app: &AppHandle<R>, porch: &Arc<Porch>, event: &Value) {
    let Some((guid, what)) = message(event) else {
        return;
    };
    let (app, porch) = (app.clone(), porch.clone());
    tauri::async_runtime::spawn(async move {
        let title = match porch.get(&format!("/__api__/v1/content/{guid}")).await {
            Ok(c) => c["title"]
                .as_str()
                .filter(|t| !t.is_empty())
                .or_else(|| c["name"].as_str())
                .unwrap_or("An item")
                .to_string(),
            Err(_) => "An item".into(),
        };
        let body = format!("{title}: {what}");
        if let Err(err) = app.notification().builder().title("Porch").body(&body).show() {
            tracing::debug!(error = %err, %body, "cannot show a notification");
        }
    });
}

/// The guid and text of a notification for `event`, if it deserves one.
fn message(event: &Value) -> Option<(String, String)> {
    let text = |field: &str| event[field].as_str().unwrap_or_default();
    let guid = event["guid"].as_str().filter(|g| !g.is_empty())?.to_string();
    match event["type"].as_str()? {
        "render_finished"
            if event["trigger"] == serde_json::json!(Trigger::Schedule)
                && event["status"] == serde_json::json!(RenderStatus::Failed) =>
        {
            Some((guid, format!("the scheduled render failed ({})", short_reason(text("error")))))
        }
        "start_failed" => Some((guid, format!("the app could not start ({})", short_reason(text("message"))))),
        "task_finished" if event["code"].as_i64() != Some(0) => {
            Some((guid, format!("the deploy failed ({})", short_reason(text("error")))))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use porch_engine::{Event, RenderStatus, Trigger};

    use super::message;

    fn json(event: Event) -> serde_json::Value {
        serde_json::to_value(event).expect("an event serialises")
    }

    #[test]
    fn failures_are_notified_and_successes_are_not() {
        let failed = Event::TaskFinished { id: "t".into(), guid: "g".into(), code: 1, error: "uv failed".into() };
        assert_eq!(message(&json(failed)), Some(("g".into(), "the deploy failed (uv failed)".into())));
        let done = Event::TaskFinished { id: "t".into(), guid: "g".into(), code: 0, error: String::new() };
        assert_eq!(message(&json(done)), None);
        let scheduled = Event::RenderFinished {
            guid: "g".into(),
            render_id: "1".into(),
            trigger: Trigger::Schedule,
            status: RenderStatus::Failed,
            error: "boom".into(),
        };
        assert_eq!(message(&json(scheduled)), Some(("g".into(), "the scheduled render failed (boom)".into())));
        let start = Event::StartFailed { guid: "g".into(), message: "exit 1".into() };
        assert_eq!(message(&json(start)), Some(("g".into(), "the app could not start (exit 1)".into())));
    }
}
