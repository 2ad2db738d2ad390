//! `GET /__api__/porch/events`: the engine's change events as Server-Sent Events, so a UI
//! in a plain browser updates live exactly as the desktop window does.

use std::convert::Infallible;
use std::time::Duration;

use axum::extract::State;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::Stream;
use tokio::sync::broadcast::error::RecvError;

use super::auth::Publisher;
use crate::engine::Engine;

/// Streams every engine event as a JSON `data:` line; a slow reader gets a `lagged` event.
pub(super) async fn stream(
    _: Publisher,
    State(engine): State<Engine>,
) -> Sse<impl Stream<Item = Result<SseEvent, Infallible>>> {
    let rx = engine.subscribe();
    let cancel = engine.shutdown_token();
    let events = futures_util::stream::unfold((rx, cancel), |(mut rx, cancel)| async move {
        let next = tokio::select! {
            _ = cancel.cancelled() => return None,
            next = rx.recv() => next,
        };
        let event = match next {
            Ok(ev) => SseEvent::default().json_data(&ev).unwrap_or_else(|_| SseEvent::default().data("{}")),
            Err(RecvError::Lagged(_)) => SseEvent::default().data(r#"{"type":"lagged"}"#),
            Err(RecvError::Closed) => return None,
        };
        Some((Ok(event), (rx, cancel)))
    });
    Sse::new(events).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
