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
use std::time::Duration;

/// The longest quiet gap within one device's session with an app without a WebSocket.
pub const SESSION_GAP: Duration = Duration::from_secs(5 * 60);

/// [`SESSION_GAP`] in milliseconds.
const GAP_MS: i64 = SESSION_GAP.as_millis() as i64;

/// A finished session: which app, which device, when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finished {
    /// The app.
    pub guid: String,
    /// The device.
    pub device: String,
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
struct Socket {
    guid: String,
    device: String,
    started: i64,
}

/// Open request spans and WebSocket sessions, keyed by app and device.
#[derive(Debug, Default)]
pub struct Sessions {
    spans: HashMap<(String, String), Span>,
    sockets: HashMap<u64, Socket>,
}

impl Sessions {
    /// A request from `device` to the app `guid` at `at`; returns the span it ended, if the
    /// gap since the device's last request closed one.
    pub fn request(&mut self, guid: &str, device: &str, at: i64) -> Option<Finished> {
        let key = (guid.to_string(), device.to_string());
        let mut finished = None;
        if let Some(span) = self.spans.get_mut(&key) {
            if at - span.last < GAP_MS {
                span.last = span.last.max(at);
                return None;
            }
            finished = self.spans.remove(&key).and_then(|s| close_span(&key, s));
        }
        self.spans.insert(key, Span { started: at, last: at, had_socket: false });
        finished
    }

    /// A WebSocket session `id` opened.
    pub fn socket_opened(&mut self, id: u64, guid: &str, device: &str, at: i64) {
        let key = (guid.to_string(), device.to_string());
        let span = self.spans.entry(key).or_insert(Span { started: at, last: at, had_socket: false });
        span.had_socket = true;
        span.last = span.last.max(at);
        self.sockets.insert(id, Socket { guid: guid.to_string(), device: device.to_string(), started: at });
    }

    /// A WebSocket session `id` closed: it is a finished session.
    pub fn socket_closed(&mut self, id: u64, at: i64) -> Option<Finished> {
        let s = self.sockets.remove(&id)?;
        if let Some(span) = self.spans.get_mut(&(s.guid.clone(), s.device.clone())) {
            span.last = span.last.max(at);
        }
        Some(Finished { guid: s.guid, device: s.device, started: s.started, ended: at })
    }

    /// Ends the request spans quiet for [`SESSION_GAP`] by `now`.
    pub fn expire(&mut self, now: i64) -> Vec<Finished> {
        let due: Vec<(String, String)> =
            self.spans.iter().filter(|(_, s)| now - s.last >= GAP_MS).map(|(k, _)| k.clone()).collect();
        due.into_iter().filter_map(|k| self.spans.remove(&k).and_then(|s| close_span(&k, s))).collect()
    }

    /// When the next span falls quiet (unix ms), if any is open.
    pub fn next_due(&self) -> Option<i64> {
        self.spans.values().map(|s| s.last + GAP_MS).min()
    }

    /// Whether the app has a session open now (a WebSocket, or a request within the gap):
    /// what keep-awake asks.
    pub fn active(&self, guid: &str, now: i64) -> bool {
        self.sockets.values().any(|s| s.guid == guid)
            || self.spans.iter().any(|((g, _), s)| g == guid && now - s.last < GAP_MS)
    }

    /// Ends everything at `now` (shutdown): open WebSockets end now, spans at their last
    /// request.
    pub fn close_all(&mut self, now: i64) -> Vec<Finished> {
        let mut out: Vec<Finished> = self
            .sockets
            .drain()
            .map(|(_, s)| Finished { guid: s.guid, device: s.device, started: s.started, ended: now })
            .collect();
        out.extend(self.spans.drain().filter_map(|(k, s)| close_span(&k, s)));
        out
    }
}

fn close_span((guid, device): &(String, String), s: Span) -> Option<Finished> {
    (!s.had_socket).then(|| Finished { guid: guid.clone(), device: device.clone(), started: s.started, ended: s.last })
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
        assert_eq!(ended, Finished { guid: "app".into(), device: "d1".into(), started: 0, ended: 4 * MIN });
        let quiet = s.expire(10 * MIN);
        assert_eq!(quiet.len(), 1, "d2 fell quiet: {quiet:?}");
        assert_eq!((quiet[0].device.as_str(), quiet[0].started, quiet[0].ended), ("d2", 5 * MIN, 5 * MIN));
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
        assert_eq!((left[0].device.as_str(), left[0].ended), ("d2", 2 * MIN));
    }
}
