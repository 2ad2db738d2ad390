//! One screenshot through Chromium's DevTools protocol, spoken over its pipe
//! (`--remote-debugging-pipe`: Chromium reads commands on fd 3 and answers on fd 4, each
//! message JSON ended by a NUL byte).
//!
//! Why not `chromium --screenshot`: it shoots once the load event and a virtual-time budget
//! have passed, and virtual time does not wait for data arriving over a WebSocket. Apps that
//! draw from their socket (Streamlit, Shiny, Bokeh, Panel) were pictured as their loading
//! skeleton. Here the page is shot once it has settled: its load event has fired, at least
//! [`AFTER_LOAD`] has passed (timers that finish a page's drawing), and its network,
//! WebSocket frames included, has been quiet for [`QUIET`]; or at [`LATEST`] after the
//! navigation started, whatever the page is doing (a dashboard that streams for ever).
//!
//! The caller starts Chromium (through the process runner) and bounds the whole exchange
//! with its own timeout; this module only talks.

use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::time::Instant;

use crate::runner::Talk;

/// Time the page gets after its load event, whatever its network does.
pub(super) const AFTER_LOAD: Duration = Duration::from_millis(1500);
/// Network silence (requests, responses, WebSocket frames) that counts as settled.
pub(super) const QUIET: Duration = Duration::from_millis(1000);
/// The picture is taken this long after the navigation started, settled or not.
pub(super) const LATEST: Duration = Duration::from_secs(12);
/// The longest message read (a screenshot is the largest Chromium sends: a few MB).
const MESSAGE_LIMIT: u64 = 64 << 20;

/// Why no picture was taken (the caller adds Chromium's last words).
#[derive(Debug, thiserror::Error)]
pub(super) enum ShotError {
    #[error("it closed its DevTools pipe")]
    Closed,
    #[error("talking to it: {0}")]
    Io(#[from] std::io::Error),
    #[error("its answer to {method} was not understood: {detail}")]
    Protocol { method: String, detail: String },
    #[error("the page did not open: {0}")]
    Navigation(String),
}

/// Opens `url` in a new page of the Chromium at the other end of `talk`, at `width`×`height`
/// CSS pixels, waits until it has settled (module docs) and returns its PNG. Closes the
/// browser afterwards.
pub(super) async fn screenshot(talk: Talk, url: &str, width: u32, height: u32) -> Result<Vec<u8>, ShotError> {
    let mut b = Browser::new(talk);
    let target = b.call("Target.createTarget", json!({"url": "about:blank"})).await?;
    let target = text(&target, "targetId", "Target.createTarget")?;
    let attached = b.call("Target.attachToTarget", json!({"targetId": target, "flatten": true})).await?;
    b.session = Some(text(&attached, "sessionId", "Target.attachToTarget")?);
    b.call("Page.enable", json!({})).await?;
    b.call("Network.enable", json!({})).await?;
    b.call(
        "Emulation.setDeviceMetricsOverride",
        json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
    )
    .await?;
    b.call("Emulation.setScrollbarsHidden", json!({"hidden": true})).await?;
    let started = Instant::now();
    let nav = b.call("Page.navigate", json!({"url": url})).await?;
    if let Some(err) = nav.get("errorText").and_then(Value::as_str).filter(|e| !e.is_empty()) {
        return Err(ShotError::Navigation(err.to_string()));
    }
    b.settle(started).await?;
    let shot = b.call("Page.captureScreenshot", json!({"format": "png"})).await?;
    let data = text(&shot, "data", "Page.captureScreenshot")?;
    let png = base64::engine::general_purpose::STANDARD
        .decode(data)
        .map_err(|e| ShotError::Protocol { method: "Page.captureScreenshot".into(), detail: e.to_string() })?;
    // Chromium exits on this; the caller stops it anyway if it does not.
    b.session = None;
    let _ = b.send("Browser.close", json!({})).await;
    Ok(png)
}

fn text(v: &Value, field: &str, method: &str) -> Result<String, ShotError> {
    v.get(field)
        .and_then(Value::as_str)
        .map(str::to_string)
        .ok_or_else(|| ShotError::Protocol { method: method.into(), detail: format!("no {field}") })
}

/// One DevTools connection: commands out, answers and events in, and what the events say
/// about the page's progress.
struct Browser {
    to: tokio::process::ChildStdin,
    from: BufReader<tokio::process::ChildStdout>,
    next_id: u64,
    /// The page's session, once attached: page commands go to it.
    session: Option<String>,
    /// When the page's load event fired.
    loaded: Option<Instant>,
    /// The page's latest network event.
    last_network: Option<Instant>,
    /// A message read in part (see [`Browser::read`]).
    partial: Vec<u8>,
}

impl Browser {
    fn new(talk: Talk) -> Browser {
        Browser {
            to: talk.stdin,
            from: BufReader::new(talk.stdout),
            next_id: 0,
            session: None,
            loaded: None,
            last_network: None,
            partial: Vec::new(),
        }
    }

    async fn send(&mut self, method: &str, params: Value) -> Result<u64, ShotError> {
        self.next_id += 1;
        let mut msg = json!({"id": self.next_id, "method": method, "params": params});
        if let Some(s) = &self.session {
            msg["sessionId"] = Value::String(s.clone());
        }
        let mut bytes = serde_json::to_vec(&msg).map_err(|e| std::io::Error::other(e.to_string()))?;
        bytes.push(0);
        self.to.write_all(&bytes).await?;
        self.to.flush().await?;
        Ok(self.next_id)
    }

    /// The next message; events update what is known of the page. Cancel-safe: a message
    /// read in part stays in `partial` for the next call.
    async fn read(&mut self) -> Result<Value, ShotError> {
        let room = MESSAGE_LIMIT.saturating_sub(self.partial.len() as u64);
        let n = (&mut self.from).take(room).read_until(0, &mut self.partial).await?;
        if n == 0 || self.partial.last() != Some(&0) {
            if self.partial.len() as u64 >= MESSAGE_LIMIT {
                return Err(ShotError::Protocol { method: "a message".into(), detail: "over 64 MB".into() });
            }
            return Err(ShotError::Closed);
        }
        let mut buf = std::mem::take(&mut self.partial);
        buf.pop();
        let msg: Value = serde_json::from_slice(&buf)
            .map_err(|e| ShotError::Protocol { method: "a message".into(), detail: e.to_string() })?;
        if let Some(method) = msg.get("method").and_then(Value::as_str) {
            let now = Instant::now();
            if method == "Page.loadEventFired" {
                self.loaded.get_or_insert(now);
            } else if method.starts_with("Network.") {
                self.last_network = Some(now);
            }
        }
        Ok(msg)
    }

    /// Sends a command and waits for its answer (events on the way are noted).
    async fn call(&mut self, method: &str, params: Value) -> Result<Value, ShotError> {
        let id = self.send(method, params).await?;
        loop {
            let msg = self.read().await?;
            if msg.get("id").and_then(Value::as_u64) != Some(id) {
                continue;
            }
            if let Some(err) = msg.get("error") {
                let detail = err.get("message").and_then(Value::as_str).unwrap_or("an error").to_string();
                return Err(ShotError::Protocol { method: method.into(), detail });
            }
            return Ok(msg.get("result").cloned().unwrap_or(Value::Null));
        }
    }

    /// Reads events until the page has settled (module docs) or [`LATEST`] has passed.
    async fn settle(&mut self, started: Instant) -> Result<(), ShotError> {
        let latest = started + LATEST;
        loop {
            let now = Instant::now();
            let ready = self.loaded.map(|t| t + AFTER_LOAD).map(|after| {
                let quiet = self.last_network.map_or(now, |t| t + QUIET);
                after.max(quiet)
            });
            let until = ready.map_or(latest, |r| r.min(latest));
            if now >= until {
                return Ok(());
            }
            match tokio::time::timeout_at(until, self.read()).await {
                Ok(msg) => {
                    msg?;
                }
                Err(_) => continue, // the deadline passed: judged at the top
            }
        }
    }
}
