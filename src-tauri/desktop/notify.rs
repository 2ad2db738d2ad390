//! Desktop notifications for what the publisher should know about, window open or not: a
//! scheduled render that failed, an app that could not start for a viewer, a deploy that
//! failed. Shown by Porch's own process (the window may be closed, with no shell running),
//! through the desktop's notification service (`notify-rust`: D-Bus on Linux).
//!
//! Ownership: one task, [`spawn`], which reads the engine's events in-process until the
//! engine stops. Concurrency: each notification is sent on a blocking thread (the
//! notification service answers over D-Bus), so the event reader never waits; notifications
//! are best effort.

use porch_engine::events::short_reason;
use porch_engine::{Engine, Event, RenderStatus, Trigger};

/// Starts the reader of `engine`'s events.
pub(crate) fn spawn(engine: &Engine) {
    let mut events = engine.subscribe();
    let engine = engine.clone();
    tokio::spawn(async move {
        loop {
            let event = match events.recv().await {
                Ok(event) => event,
                // A reader that fell behind missed some; the next ones still count.
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
            };
            let Some((guid, what)) = message(&event) else { continue };
            let title = match engine.library().content(&guid).await {
                Ok(row) => row.title.filter(|t| !t.is_empty()).unwrap_or(row.name),
                Err(_) => "An item".into(),
            };
            let body = format!("{title}: {what}");
            tokio::task::spawn_blocking(move || {
                if let Err(err) = notify_rust::Notification::new().summary("Porch").body(&body).show() {
                    tracing::debug!(error = %err, %body, "cannot show a notification");
                }
            });
        }
    });
}

/// The guid and text of a notification for `event`, if it deserves one.
fn message(event: &Event) -> Option<(String, String)> {
    let (guid, text) = match event {
        Event::RenderFinished { guid, trigger: Trigger::Schedule, status: RenderStatus::Failed, error, .. } => {
            (guid, format!("the scheduled render failed ({})", short_reason(error)))
        }
        Event::StartFailed { guid, message } => (guid, format!("the app could not start ({})", short_reason(message))),
        Event::TaskFinished { guid, code, error, .. } if *code != 0 => {
            (guid, format!("the deploy failed ({})", short_reason(error)))
        }
        _ => return None,
    };
    Some((guid.clone(), text)).filter(|(guid, _)| !guid.is_empty())
}

#[cfg(test)]
mod tests {
    use porch_engine::{Event, RenderStatus, Trigger};

    use super::message;

    #[test]
    fn failures_are_notified_and_successes_are_not() {
        let failed = Event::TaskFinished { id: "t".into(), guid: "g".into(), code: 1, error: "uv failed".into() };
        assert_eq!(message(&failed), Some(("g".into(), "the deploy failed (uv failed)".into())));
        let done = Event::TaskFinished { id: "t".into(), guid: "g".into(), code: 0, error: String::new() };
        assert_eq!(message(&done), None);
        let scheduled = Event::RenderFinished {
            guid: "g".into(),
            render_id: "1".into(),
            trigger: Trigger::Schedule,
            status: RenderStatus::Failed,
            error: "boom".into(),
        };
        assert_eq!(message(&scheduled), Some(("g".into(), "the scheduled render failed (boom)".into())));
        let by_hand = Event::RenderFinished {
            guid: "g".into(),
            render_id: "2".into(),
            trigger: Trigger::Manual,
            status: RenderStatus::Failed,
            error: "boom".into(),
        };
        assert_eq!(message(&by_hand), None, "a render the publisher started is reported where they started it");
        let start = Event::StartFailed { guid: "g".into(), message: "exit 1".into() };
        assert_eq!(message(&start), Some(("g".into(), "the app could not start (exit 1)".into())));
    }
}
