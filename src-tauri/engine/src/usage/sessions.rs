//! What an app session is: the one definition, used by usage recording and by keep-awake.
//!
//! **An app session** is either
//! - an open WebSocket (or event stream) from a viewer to the app, from its upgrade to its
//!   close; or, for apps a device reaches without one (Flask, FastAPI, Dash),
//! - the requests one device makes to the app with gaps under [`SESSION_GAP`] (5 minutes):
//!   it starts at the first request and ends at the last one before a gap of 5 minutes.
//!
//! A request span during which the same device also opened a WebSocket to the app is not
//! a session of its own: the WebSocket sessions count instead (a Shiny page load is one
//! request span and one WebSocket session, and counts once).
//!
//! [`Sessions`] is pure bookkeeping over times the caller passes in (unix milliseconds), so
//! it runs on the usage writer's task without locks and its tests need no clock.

use std::collections::HashMap;
use std::hash::Hash;
use std::time::Duration;

/// The longest quiet gap within one device's session with an app without a WebSocket.
pub const SESSION_GAP: Duration = Duration::from_secs(5 * 60);

/// [`SESSION_GAP`] in milliseconds.
const GAP_MS: i64 = SESSION_GAP.as_millis() as i64;

/// A finished session: which app, which device (`D`: the usage writer's device id), when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished<D> {
    /// The app.
    pub guid: String,
    /// The device.
    pub device: D,
    /// Unix milliseconds.
    pub started: i64,
    /// Unix milliseconds.
    pub ended: i64,
}

#[derive(Debug, Clone)]
struct Span {
    started: i64,
    last: i64,
    /// Whether the device opened a WebSocket to the app during the span.
    had_socket: bool,
}

#[derive(Debug, Clone)]
struct Socket<D> {
    guid: String,
    device: D,
    started: i64,
}

/// Open request spans (by app, then device) and WebSocket sessions. A request that
/// continues a span looks it up by borrowed keys: it allocates nothing.
#[derive(Debug)]
pub struct Sessions<D> {
    spans: HashMap<String, HashMap<D, Span>>,
    sockets: HashMap<u64, Socket<D>>,
}

impl<D> Default for Sessions<D> {
    fn default() -> Self {
        Sessions { spans: HashMap::new(), sockets: HashMap::new() }
    }
}

impl<D: Copy + Eq + Hash> Sessions<D> {
    /// A request from `device` to the app `guid` at `at`; returns the span it ended, if the
    /// gap since the device's last request closed one.
    pub fn request(&mut self, guid: &str, device: D, at: i64) -> Option<Finished<D>> {
        if let Some(span) = self.spans.get_mut(guid).and_then(|app| app.get_mut(&device)) {
            if at - span.last < GAP_MS {
                span.last = span.last.max(at);
                return None;
            }
            let old = std::mem::replace(span, Span { started: at, last: at, had_socket: false });
            return close_span(guid, device, old);
        }
        self.app(guid).insert(device, Span { started: at, last: at, had_socket: false });
        None
    }

    /// A WebSocket session `id` opened.
    pub fn socket_opened(&mut self, id: u64, guid: &str, device: D, at: i64) {
        let span = self.app(guid).entry(device).or_insert(Span { started: at, last: at, had_socket: false });
        span.had_socket = true;
        span.last = span.last.max(at);
        self.sockets.insert(id, Socket { guid: guid.to_string(), device, started: at });
    }

    /// A WebSocket session `id` closed: it is a finished session.
    pub fn socket_closed(&mut self, id: u64, at: i64) -> Option<Finished<D>> {
        let s = self.sockets.remove(&id)?;
        if let Some(span) = self.spans.get_mut(&s.guid).and_then(|app| app.get_mut(&s.device)) {
            span.last = span.last.max(at);
        }
        Some(Finished { guid: s.guid, device: s.device, started: s.started, ended: at })
    }

    /// Ends the request spans quiet for [`SESSION_GAP`] by `now`.
    pub fn expire(&mut self, now: i64) -> Vec<Finished<D>> {
        let mut out = Vec::new();
        for (guid, app) in &mut self.spans {
            app.retain(|&device, s| {
                let quiet = now - s.last >= GAP_MS;
                if quiet {
                    out.extend(close_span(guid, device, s.clone()));
                }
                !quiet
            });
        }
        self.spans.retain(|_, app| !app.is_empty());
        out
    }

    /// When the next span falls quiet (unix ms), if any is open.
    pub fn next_due(&self) -> Option<i64> {
        self.spans.values().flat_map(HashMap::values).map(|s| s.last + GAP_MS).min()
    }

    /// Whether the app has a session open now (a WebSocket, or a request within the gap):
    /// what keep-awake asks.
    pub fn active(&self, guid: &str, now: i64) -> bool {
        self.sockets.values().any(|s| s.guid == guid)
            || self.spans.get(guid).is_some_and(|app| app.values().any(|s| now - s.last < GAP_MS))
    }

    /// Ends everything at `now` (shutdown): open WebSockets end now, spans at their last
    /// request.
    pub fn close_all(&mut self, now: i64) -> Vec<Finished<D>> {
        let mut out: Vec<Finished<D>> = self
            .sockets
            .drain()
            .map(|(_, s)| Finished { guid: s.guid, device: s.device, started: s.started, ended: now })
            .collect();
        for (guid, app) in self.spans.drain() {
            out.extend(app.into_iter().filter_map(|(device, s)| close_span(&guid, device, s)));
        }
        out
    }

    /// The app's spans, made on its first request.
    fn app(&mut self, guid: &str) -> &mut HashMap<D, Span> {
        self.spans.entry(guid.to_string()).or_default()
    }
}

fn close_span<D>(guid: &str, device: D, s: Span) -> Option<Finished<D>> {
    (!s.had_socket).then(|| Finished { guid: guid.to_string(), device, started: s.started, ended: s.last })
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    #[test]
    fn requests_with_short_gaps_are_one_session_and_a_long_gap_starts_another() {
        let mut s = Sessions::default();
        assert_eq!(s.request("app", "d1", 0), None);
        assert_eq!(s.request("app", "d1", 4 * MIN), None);
        assert_eq!(s.request("app", "d2", 5 * MIN), None, "another device has its own session");
        assert_eq!(s.next_due(), Some(9 * MIN));
        assert!(s.active("app", 8 * MIN));
        let ended = s.request("app", "d1", 9 * MIN + 1).expect("a gap of 5 minutes ends it");
        assert_eq!(ended, Finished { guid: "app".into(), device: "d1", started: 0, ended: 4 * MIN });
        let quiet = s.expire(10 * MIN);
        assert_eq!(quiet.len(), 1, "d2 fell quiet: {quiet:?}");
        assert_eq!((quiet[0].device, quiet[0].started, quiet[0].ended), ("d2", 5 * MIN, 5 * MIN));
        assert_eq!(s.close_all(11 * MIN).len(), 1, "d1's second span ends at shutdown");
        assert!(!s.active("app", 11 * MIN));
    }

    #[test]
    fn a_websocket_is_the_session_and_its_page_load_does_not_count_again() {
        let mut s = Sessions::default();
        s.request("shiny", "d1", 0);
        s.socket_opened(7, "shiny", "d1", 100);
        assert!(s.active("shiny", 60 * MIN), "an open WebSocket keeps the app active");
        let ws = s.socket_closed(7, 3 * MIN).expect("the WebSocket session");
        assert_eq!((ws.started, ws.ended), (100, 3 * MIN));
        assert_eq!(s.socket_closed(7, 4 * MIN), None, "closed once");
        assert!(s.expire(9 * MIN).is_empty(), "the page load's span had a WebSocket");
        s.socket_opened(8, "shiny", "d2", 0);
        let left = s.close_all(2 * MIN);
        assert_eq!(left.len(), 1, "{left:?}");
        assert_eq!((left[0].device, left[0].ended), ("d2", 2 * MIN));
    }
}
