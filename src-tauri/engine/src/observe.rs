//! The one place where observers see what viewers do: each viewer request and each session.
//!
//! Owns the [`Observer`] trait, the list of observers registered when the engine is built
//! ([`Observers`]), and the one built-in observer, [`Activity`]: counters of viewer requests
//! and WebSocket sessions that `GET /__api__/porch/server` reports (`viewers`). Usage
//! recording and keep-awake attach here later, as further observers.
//!
//! It does not decide anything: observers are told after the gateway has answered (a
//! request) or while a session runs; they cannot change the answer.
//!
//! Concurrency: observers are called synchronously on the request's task, so an observer
//! must be cheap and must never block or await (hand slow work to a channel). The list is
//! fixed at start (`Arc<[…]>`), so calling it takes no lock and allocates nothing; the
//! built-in counters are relaxed atomics.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::http::StatusCode;
use serde::Serialize;

use crate::routes::Route;

/// What the gateway did with a viewer request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Served {
    /// The landing page (`/`).
    Landing,
    /// A file of a static bundle (a site, an earlier bundle, a source preview).
    Static,
    /// A file of a pin's bundle.
    Pin,
    /// A request proxied to an app's worker (HTTP, or the upgrade of a session).
    App,
    /// A file of a rendered document's output.
    Render,
    /// Refused or missing: the viewer got the "nothing here" page (or a redirect to add a
    /// slash, or a secret link's redirect to the clean URL).
    Nothing,
}

/// One viewer request, as observers see it once it is answered.
#[derive(Debug, Clone, Copy)]
pub struct ViewerRequest<'a> {
    /// The item the path named, if it named one the viewer may see.
    pub route: Option<&'a Route>,
    /// What was served.
    pub served: Served,
    /// The answer's status.
    pub status: StatusCode,
    /// The viewer's socket address (absent for in-process calls).
    pub peer: Option<SocketAddr>,
}

/// One viewer session: a WebSocket to an app's worker, from upgrade to close.
#[derive(Debug, Clone, Copy)]
pub struct ViewerSession<'a> {
    /// The app.
    pub guid: &'a str,
    /// The worker serving it.
    pub instance: u64,
    /// The viewer's socket address.
    pub peer: Option<SocketAddr>,
}

/// Something that wants to know what viewers do. Every method has an empty default, so an
/// observer implements only what it needs.
pub trait Observer: Send + Sync + std::fmt::Debug + 'static {
    /// A viewer request was answered (sessions count once here, at their upgrade).
    fn request(&self, _request: &ViewerRequest<'_>) {}
    /// A session began (the upgrade succeeded on both sides).
    fn session_opened(&self, _session: &ViewerSession<'_>) {}
    /// A session ended (either side closed, or an idle limit passed), after `lasted`.
    fn session_closed(&self, _session: &ViewerSession<'_>, _lasted: Duration) {}
}

/// The observers, fixed when the engine is built.
#[derive(Debug, Clone)]
pub struct Observers {
    list: Arc<[Arc<dyn Observer>]>,
    activity: Arc<Activity>,
}

impl Default for Observers {
    fn default() -> Self {
        Observers::new(Vec::new())
    }
}

impl Observers {
    /// The built-in [`Activity`] counters followed by `more`, called in that order.
    pub fn new(more: Vec<Arc<dyn Observer>>) -> Observers {
        let activity = Arc::new(Activity::default());
        let mut list: Vec<Arc<dyn Observer>> = vec![activity.clone()];
        list.extend(more);
        Observers { list: list.into(), activity }
    }

    /// The built-in counters.
    pub fn activity(&self) -> &Activity {
        &self.activity
    }

    pub(super) fn request(&self, request: &ViewerRequest<'_>) {
        for o in self.list.iter() {
            o.request(request);
        }
    }

    pub(super) fn session_opened(&self, session: &ViewerSession<'_>) {
        for o in self.list.iter() {
            o.session_opened(session);
        }
    }

    pub(super) fn session_closed(&self, session: &ViewerSession<'_>, lasted: Duration) {
        for o in self.list.iter() {
            o.session_closed(session, lasted);
        }
    }
}

/// Counters of what viewers did since the engine started (the built-in observer).
#[derive(Debug, Default)]
pub struct Activity {
    requests: AtomicU64,
    sessions: AtomicU64,
    closed: AtomicU64,
}

/// A reading of [`Activity`].
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ViewerActivity {
    /// Viewer requests answered since start (the landing page and every path of every item).
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub requests: u64,
    /// WebSocket sessions to apps opened since start.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub sessions: u64,
    /// Sessions open now.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub open_sessions: u64,
}

impl Activity {
    /// The counters now.
    pub fn read(&self) -> ViewerActivity {
        // Read `closed` first: a session closing in between can only make `open` look larger.
        let closed = self.closed.load(Ordering::Relaxed);
        let sessions = self.sessions.load(Ordering::Relaxed);
        ViewerActivity {
            requests: self.requests.load(Ordering::Relaxed),
            sessions,
            open_sessions: sessions.saturating_sub(closed),
        }
    }
}

impl Observer for Activity {
    fn request(&self, _: &ViewerRequest<'_>) {
        self.requests.fetch_add(1, Ordering::Relaxed);
    }

    fn session_opened(&self, _: &ViewerSession<'_>) {
        self.sessions.fetch_add(1, Ordering::Relaxed);
    }

    fn session_closed(&self, session: &ViewerSession<'_>, lasted: Duration) {
        self.closed.fetch_add(1, Ordering::Relaxed);
        tracing::debug!(guid = session.guid, instance = session.instance, ?lasted, "viewer session closed");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, Default)]
    struct Seen(std::sync::Mutex<Vec<String>>);

    impl Observer for Seen {
        fn request(&self, r: &ViewerRequest<'_>) {
            self.0.lock().expect("not poisoned").push(format!("{:?} {}", r.served, r.status.as_u16()));
        }
        fn session_closed(&self, s: &ViewerSession<'_>, _: Duration) {
            self.0.lock().expect("not poisoned").push(format!("closed {}", s.guid));
        }
    }

    #[test]
    fn every_observer_sees_every_event_and_activity_counts() {
        let seen = Arc::new(Seen::default());
        let obs = Observers::new(vec![seen.clone()]);
        let req = ViewerRequest { route: None, served: Served::Static, status: StatusCode::OK, peer: None };
        obs.request(&req);
        obs.request(&ViewerRequest { served: Served::Nothing, status: StatusCode::NOT_FOUND, ..req });
        let s = ViewerSession { guid: "g", instance: 1, peer: None };
        obs.session_opened(&s);
        obs.session_opened(&s);
        obs.session_closed(&s, Duration::from_secs(1));
        assert_eq!(obs.activity().read(), ViewerActivity { requests: 2, sessions: 2, open_sessions: 1 });
        assert_eq!(*seen.0.lock().expect("not poisoned"), ["Static 200", "Nothing 404", "closed g"]);
    }
}
