//! The engine's events, read from its server-sent events endpoint
//! (`GET /__api__/porch/events`, the one a browser UI reads), forwarded to the webview as
//! `porch://event` (desktop notifications are Porch's own, `porch::desktop::notify`).
//!
//! Ownership: one task, which owns the stream. It reconnects with a backoff when the stream
//! ends (Porch restarting its engine never happens under a running shell, but a dropped
//! connection may), and then emits `{"type":"resync"}` so the UI refetches what it may have
//! missed. It ends with the shell's runtime.
//!
//! Concurrency: the engine sends `{"type":"lagged"}` to a reader that fell behind; it is
//! forwarded as it is, and the UI refetches.

use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tauri::{AppHandle, Emitter as _};

use crate::cli::client::Porch;

/// The Tauri event name the UI listens on (`ui/src/api/events.ts`).
pub(crate) const ENGINE_EVENT: &str = "porch://event";
const EVENTS_PATH: &str = "/__api__/porch/events";
const FIRST_RETRY: Duration = Duration::from_millis(500);
const LAST_RETRY: Duration = Duration::from_secs(10);

/// Spawns the reader.
pub(crate) fn spawn(app: AppHandle, porch: Arc<Porch>) {
    tauri::async_runtime::spawn(async move {
        let mut connected_before = false;
        let mut retry = FIRST_RETRY;
        loop {
            match porch.open_stream(EVENTS_PATH).await {
                Ok(mut stream) => {
                    if connected_before {
                        deliver(&app, serde_json::json!({ "type": "resync" }));
                    }
                    connected_before = true;
                    retry = FIRST_RETRY;
                    let mut lines = SseLines::default();
                    while let Ok(Some(chunk)) = stream.chunk().await {
                        for data in lines.push(&chunk) {
                            match serde_json::from_str::<Value>(&data) {
                                Ok(event) => deliver(&app, event),
                                Err(err) => tracing::debug!(error = %err, %data, "not an engine event"),
                            }
                        }
                    }
                    tracing::debug!("the engine's event stream ended");
                }
                Err(err) => tracing::debug!(error = %format!("{err:#}"), "cannot open the engine's event stream"),
            }
            tokio::time::sleep(retry).await;
            retry = (retry * 2).min(LAST_RETRY);
        }
    });
}

fn deliver(app: &AppHandle, event: Value) {
    if let Err(err) = app.emit(ENGINE_EVENT, &event) {
        tracing::warn!(error = %err, "cannot emit an engine event to the webview");
    }
}

/// The `data:` payloads of an SSE byte stream, one per event (the engine sends one
/// single-line `data:` field per event; comments such as keep-alives are skipped).
#[derive(Debug, Default)]
struct SseLines {
    pending: Vec<u8>,
}

impl SseLines {
    fn push(&mut self, bytes: &[u8]) -> Vec<String> {
        self.pending.extend_from_slice(bytes);
        let mut out = Vec::new();
        while let Some(end) = self.pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = self.pending.drain(..=end).collect();
            let line = String::from_utf8_lossy(&line);
            let line = line.trim_end_matches(['\n', '\r']);
            if let Some(data) = line.strip_prefix("data:") {
                out.push(data.strip_prefix(' ').unwrap_or(data).to_string());
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::SseLines;

    #[test]
    fn data_lines_are_cut_out_across_chunks_and_comments_skipped() {
        let mut sse = SseLines::default();
        assert!(sse.push(b": keep-alive\n\ndata: {\"type\":").is_empty());
        assert_eq!(sse.push(b"\"lagged\"}\n\ndata:{}\r\n"), vec![r#"{"type":"lagged"}"#.to_string(), "{}".into()]);
        // A character cut between chunks is whole again.
        let text = "data: \"é\"\n".as_bytes();
        assert!(sse.push(&text[..8]).is_empty());
        assert_eq!(sse.push(&text[8..]), vec!["\"é\"".to_string()]);
    }
}
