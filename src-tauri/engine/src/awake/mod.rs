//! Keep-awake: Porch holds one systemd-logind inhibitor (`sleep:idle`, mode `block`) while
//! something needs the computer awake, and closes it as soon as nothing does.
//!
//! What needs it (each a [`Reason`], named with its item):
//! - **an app session**: a viewer has an app open, by the one definition of a session
//!   (`usage::sessions`): an open WebSocket, or requests from the app's viewers less than
//!   [`SESSION_GAP`] apart. Seen through the gateway's observers ([`Viewers`]), whether or
//!   not usage is recorded; requests Porch never counts (probes, its own captures, keyed
//!   clients, previews: `observe::Uncounted`) do not keep it awake;
//! - **a render** queued or running (the renders service holds a [`RenderHold`]);
//! - **a scheduled render due soon**: from [`LEAD`] before the schedule loop's next run
//!   until the render starts (the loop reports its next run with [`Awake::schedules_due`];
//!   at most [`GRACE`] after the planned time if the run never starts).
//!
//! The `keep_awake` setting (`always`, `renders`, `off`) and the power source decide which
//! count ([`Demand::reasons`]): `always` counts all three on mains power and only renders
//! and due schedules on battery (UPower's `OnBattery`); `renders` counts renders and due
//! schedules on mains and battery; `off` counts nothing.
//!
//! Where the system bus, logind or polkit says no, the view says "unavailable" with the
//! reason and nothing else changes: renders run, viewers are served. logind ignores
//! inhibitors for the lid switch by default, so closing a laptop's lid still suspends it.
//!
//! Does not: decide what a session is (`usage::sessions` does; this keeps the same 5-minute
//! gap), talk D-Bus itself (`bus.rs`), or read settings (the settings service pushes them).
//!
//! Concurrency: the observer and the render holds update a [`Demand`] under a std lock held
//! for a map update (no await), and poke the keep-awake task only when the set of reasons may
//! have changed (a first request, socket or render of an item, the last one ending) — a
//! request inside a session pokes nothing. One task, started with the server, owns the bus
//! connection and the inhibitor; it sleeps until poked, until UPower signals a change, or
//! until the next reason starts or ends by itself (a quiet session, a due schedule; capped at
//! [`MAX_NAP`] so a suspend or a clock step is noticed). With no session, render or schedule
//! it has no timer at all. The view is a `watch` channel the server view reads without
//! waiting.

pub mod bus;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::http::StatusCode;
use serde::Serialize;
use tokio::sync::{watch, Notify};

use crate::observe::{Observer, Served, ViewerRequest, ViewerSession};
use crate::shared::Shared;
use bus::{Bus, Inhibitor};

/// The quiet gap that ends a session without a WebSocket (the usage definition's).
pub const SESSION_GAP: Duration = crate::usage::sessions::SESSION_GAP;

/// How long before a scheduled render Porch starts keeping the computer awake.
pub const LEAD: Duration = Duration::from_secs(5 * 60);

/// How long after its planned time a due schedule still keeps the computer awake if its
/// render has not started (the loop fires within a second; this covers a slow store).
pub const GRACE: Duration = Duration::from_secs(60);

/// The longest sleep of the keep-awake task while a reason will start or end by itself.
pub const MAX_NAP: Duration = Duration::from_secs(60);

/// The setting's name in the registry.
pub const SETTING: &str = "keep_awake";

/// The `keep_awake` setting.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum KeepAwake {
    /// Sessions, renders and due schedules on mains power; renders and due schedules on battery.
    #[default]
    Always,
    /// Renders and due schedules, on mains power and on battery.
    Renders,
    /// Never.
    Off,
}

impl KeepAwake {
    /// The setting's value as saved (`always`, `renders`, `off`); anything else is the default.
    pub fn parse(s: Option<&str>) -> KeepAwake {
        match s {
            Some("renders") => KeepAwake::Renders,
            Some("off") => KeepAwake::Off,
            _ => KeepAwake::Always,
        }
    }

    /// The value as saved.
    pub fn as_str(self) -> &'static str {
        match self {
            KeepAwake::Always => "always",
            KeepAwake::Renders => "renders",
            KeepAwake::Off => "off",
        }
    }

    fn to_u8(self) -> u8 {
        self as u8
    }

    fn from_u8(n: u8) -> KeepAwake {
        match n {
            1 => KeepAwake::Renders,
            2 => KeepAwake::Off,
            _ => KeepAwake::Always,
        }
    }
}

/// What needs the computer awake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum ReasonKind {
    /// A viewer has the app open.
    Session,
    /// The item is rendering (or queued to).
    Render,
    /// A scheduled render of the item is due soon.
    Schedule,
}

/// One thing that needs (or would need) the computer awake, with its item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Reason {
    /// What it is.
    pub kind: ReasonKind,
    /// The item's guid.
    pub guid: String,
    /// The item's title (or name).
    pub title: String,
    /// For a due schedule: when it runs (RFC 3339).
    pub due: Option<String>,
    /// Whether it keeps the computer awake now; false when the setting or the battery rule
    /// leaves it out (an app session on battery, or any with `keep_awake=renders`).
    pub counted: bool,
}

/// What keep-awake is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum AwakeState {
    /// Porch is not serving (the CLI's engine): nothing is held.
    NotServing,
    /// Nothing needs the computer awake now.
    Idle,
    /// Porch holds an inhibitor.
    Holding,
    /// The `keep_awake` setting is off.
    Off,
    /// The system bus, logind or polkit said no (see `unavailable`).
    Unavailable,
}

/// Keep-awake as the server view shows it (`keep_awake` in `GET /__api__/porch/server`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct KeepAwakeView {
    /// The `keep_awake` setting in force: `always`, `renders` or `off`.
    pub setting: String,
    /// What it is doing.
    pub state: AwakeState,
    /// Whether Porch holds a logind inhibitor now.
    pub holding: bool,
    /// Since when (RFC 3339), while holding.
    pub since: Option<String>,
    /// The reason given to logind while holding (`systemd-inhibit --list` shows it).
    pub why: Option<String>,
    /// Whether the computer runs on battery (UPower); null where UPower is absent.
    pub on_battery: Option<bool>,
    /// Why keep-awake cannot work here (no system bus, no logind, polkit refused), if so.
    pub unavailable: Option<String>,
    /// Everything that needs the computer awake now, counted or not.
    pub reasons: Vec<Reason>,
    /// The state in one sentence.
    pub note: String,
}

#[derive(Debug, Clone)]
struct Count {
    n: u32,
    title: String,
}

#[derive(Debug, Clone)]
struct Last {
    at: i64,
    title: String,
}

/// A scheduled render the loop runs next.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Due {
    /// When (unix milliseconds).
    pub at: i64,
    /// The item's guid.
    pub guid: String,
    /// The item's title.
    pub title: String,
}

/// What needs the computer awake: pure bookkeeping over times the caller passes (unix ms),
/// so its rules are tested without a clock.
#[derive(Debug, Default)]
pub struct Demand {
    sockets: HashMap<String, Count>,
    requests: HashMap<String, Last>,
    renders: HashMap<String, Count>,
    due: Vec<Due>,
}

const GAP_MS: i64 = SESSION_GAP.as_millis() as i64;
const LEAD_MS: i64 = LEAD.as_millis() as i64;
const GRACE_MS: i64 = GRACE.as_millis() as i64;

impl Demand {
    /// A request to the app `guid` at `now`; true when it starts a session (nothing kept
    /// the app's viewers "in session" before).
    pub fn request(&mut self, guid: &str, title: &str, now: i64) -> bool {
        let open = self.session_open(guid, now);
        match self.requests.get_mut(guid) {
            Some(last) => last.at = last.at.max(now),
            None => {
                self.requests.insert(guid.to_string(), Last { at: now, title: title.to_string() });
            }
        }
        !open
    }

    /// A WebSocket to `guid` opened; true when it starts a session.
    pub fn socket_opened(&mut self, guid: &str, title: &str, now: i64) -> bool {
        let open = self.session_open(guid, now);
        self.sockets.entry(guid.to_string()).or_insert(Count { n: 0, title: title.to_string() }).n += 1;
        !open
    }

    /// A WebSocket to `guid` closed at `now`; true when that ends the session (no other
    /// socket, and no request of the app within the gap).
    pub fn socket_closed(&mut self, guid: &str, now: i64) -> bool {
        let Some(c) = self.sockets.get_mut(guid) else { return false };
        c.n = c.n.saturating_sub(1);
        if c.n > 0 {
            return false;
        }
        self.sockets.remove(guid);
        !self.session_open(guid, now)
    }

    fn session_open(&self, guid: &str, now: i64) -> bool {
        self.sockets.get(guid).is_some_and(|c| c.n > 0) || self.requests.get(guid).is_some_and(|l| now - l.at < GAP_MS)
    }

    /// A render of `guid` began; true when it is the item's first.
    pub fn render_started(&mut self, guid: &str, title: &str) -> bool {
        let c = self.renders.entry(guid.to_string()).or_insert(Count { n: 0, title: title.to_string() });
        c.n += 1;
        c.n == 1
    }

    /// A render of `guid` ended; true when it was the item's last.
    pub fn render_ended(&mut self, guid: &str) -> bool {
        let Some(c) = self.renders.get_mut(guid) else { return false };
        c.n = c.n.saturating_sub(1);
        if c.n == 0 {
            self.renders.remove(guid);
            return true;
        }
        false
    }

    /// The schedule loop's next runs (all planned for the same, earliest time); true when they
    /// changed.
    pub fn set_due(&mut self, due: Vec<Due>) -> bool {
        let changed = self.due != due;
        self.due = due;
        changed
    }

    /// Forgets request spans quiet for the session gap by `now`.
    pub fn expire(&mut self, now: i64) {
        self.requests.retain(|_, l| now - l.at < GAP_MS);
    }

    /// What needs the computer awake at `now` under `mode` and the power source, sorted (so the
    /// reason given to logind changes only when the reasons do), and the next time (unix ms)
    /// one starts or ends by itself.
    pub fn reasons(&self, now: i64, mode: KeepAwake, on_battery: bool) -> (Vec<Reason>, Option<i64>) {
        let mut out = Vec::new();
        let mut next: Option<i64> = None;
        let mut soon = |t: i64| next = Some(next.map_or(t, |n: i64| n.min(t)));
        let sessions_count = mode == KeepAwake::Always && !on_battery;
        let renders_count = mode != KeepAwake::Off;
        let mut sessions: HashMap<&str, &str> = HashMap::new();
        for (guid, c) in self.sockets.iter().filter(|(_, c)| c.n > 0) {
            sessions.insert(guid, &c.title);
        }
        for (guid, l) in self.requests.iter().filter(|(_, l)| now - l.at < GAP_MS) {
            if !sessions.contains_key(guid.as_str()) {
                soon(l.at + GAP_MS);
            }
            sessions.entry(guid).or_insert(&l.title);
        }
        for (guid, title) in sessions {
            out.push(Reason {
                kind: ReasonKind::Session,
                guid: guid.to_string(),
                title: title.to_string(),
                due: None,
                counted: sessions_count,
            });
        }
        for (guid, c) in &self.renders {
            out.push(Reason {
                kind: ReasonKind::Render,
                guid: guid.clone(),
                title: c.title.clone(),
                due: None,
                counted: renders_count,
            });
        }
        for d in &self.due {
            let (from, until) = (d.at - LEAD_MS, d.at + GRACE_MS);
            if now < from {
                soon(from);
            } else if now < until {
                soon(until);
                out.push(Reason {
                    kind: ReasonKind::Schedule,
                    guid: d.guid.clone(),
                    title: d.title.clone(),
                    due: Some(crate::usage::rfc3339(d.at)),
                    counted: renders_count,
                });
            }
        }
        out.sort_by(|a, b| (a.kind, &a.title, &a.guid).cmp(&(b.kind, &b.title, &b.guid)));
        (out, next)
    }
}

/// The reason given to logind for the counted reasons, or `None` when none counts.
pub fn why(reasons: &[Reason]) -> Option<String> {
    let parts: Vec<String> = reasons
        .iter()
        .filter(|r| r.counted)
        .map(|r| match r.kind {
            ReasonKind::Session => format!("a viewer is using “{}”", r.title),
            ReasonKind::Render => format!("rendering “{}”", r.title),
            ReasonKind::Schedule => format!("a scheduled render of “{}” is due", r.title),
        })
        .collect();
    (!parts.is_empty()).then(|| parts.join("; "))
}

#[derive(Debug)]
struct Inner {
    demand: Mutex<Demand>,
    poke: Notify,
    mode: AtomicU8,
    view: watch::Sender<KeepAwakeView>,
}

impl Inner {
    fn demand(&self) -> std::sync::MutexGuard<'_, Demand> {
        self.demand.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn mode(&self) -> KeepAwake {
        KeepAwake::from_u8(self.mode.load(Ordering::Relaxed))
    }
}

/// The keep-awake service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Awake {
    shared: Shared,
    inner: Arc<Inner>,
}

/// The gateway observer that tells keep-awake about app sessions; registered when the
/// engine is built ([`Awake::observer`] before the service exists).
#[derive(Debug)]
pub struct Viewers {
    inner: Arc<Inner>,
}

impl Observer for Viewers {
    fn request(&self, r: &ViewerRequest<'_>) {
        let Some(route) = r.route else { return };
        if r.served != Served::App || r.status == StatusCode::SWITCHING_PROTOCOLS || r.uncounted.is_some() {
            return;
        }
        if self.inner.demand().request(&route.guid, &route.title, crate::usage::now_ms()) {
            self.inner.poke.notify_one();
        }
    }

    fn session_opened(&self, s: &ViewerSession<'_>) {
        if s.uncounted.is_some() {
            return;
        }
        if self.inner.demand().socket_opened(s.guid, s.title, crate::usage::now_ms()) {
            self.inner.poke.notify_one();
        }
    }

    fn session_closed(&self, s: &ViewerSession<'_>, _lasted: Duration) {
        if s.uncounted.is_some() {
            return;
        }
        if self.inner.demand().socket_closed(s.guid, crate::usage::now_ms()) {
            self.inner.poke.notify_one();
        }
    }
}

/// Keeps the computer awake while a render is queued or runs; dropping it ends that.
#[derive(Debug)]
pub struct RenderHold {
    inner: Arc<Inner>,
    guid: String,
}

impl Drop for RenderHold {
    fn drop(&mut self) {
        if self.inner.demand().render_ended(&self.guid) {
            self.inner.poke.notify_one();
        }
    }
}

fn not_serving(mode: KeepAwake) -> KeepAwakeView {
    KeepAwakeView {
        setting: mode.as_str().into(),
        state: AwakeState::NotServing,
        holding: false,
        since: None,
        why: None,
        on_battery: None,
        unavailable: None,
        reasons: Vec::new(),
        note: "Porch is not serving".into(),
    }
}

/// The observer and the state the service shares with it, made before the engine's shared
/// base (which holds the observers) exists.
#[derive(Debug)]
pub struct Parts {
    inner: Arc<Inner>,
}

impl Parts {
    /// New, with the setting read at start-up.
    pub fn new(mode: KeepAwake) -> Parts {
        let inner = Inner {
            demand: Mutex::new(Demand::default()),
            poke: Notify::new(),
            mode: AtomicU8::new(mode.to_u8()),
            view: watch::Sender::new(not_serving(mode)),
        };
        Parts { inner: Arc::new(inner) }
    }

    /// The gateway observer to register.
    pub fn observer(&self) -> Arc<Viewers> {
        Arc::new(Viewers { inner: self.inner.clone() })
    }
}

impl Awake {
    /// The service over the parts whose observer the gateway already calls.
    pub(crate) fn new(shared: Shared, parts: Parts) -> Awake {
        Awake { shared, inner: parts.inner }
    }

    /// Follows a changed `keep_awake` setting at once.
    pub fn configure(&self, mode: KeepAwake) {
        if self.inner.mode.swap(mode.to_u8(), Ordering::Relaxed) != mode.to_u8() {
            self.inner.poke.notify_one();
        }
    }

    /// The setting in force.
    pub fn mode(&self) -> KeepAwake {
        self.inner.mode()
    }

    /// Keeps the computer awake until the returned hold is dropped: a render of `guid`.
    pub fn render(&self, guid: &str, title: &str) -> RenderHold {
        if self.inner.demand().render_started(guid, title) {
            self.inner.poke.notify_one();
        }
        RenderHold { inner: self.inner.clone(), guid: guid.to_string() }
    }

    /// The schedule loop's next runs: every schedule planned for the earliest time (empty
    /// when none is enabled).
    pub fn schedules_due(&self, due: Vec<Due>) {
        if self.inner.demand().set_due(due) {
            self.inner.poke.notify_one();
        }
    }

    /// What keep-awake is doing, for the server view.
    pub fn view(&self) -> KeepAwakeView {
        self.inner.view.borrow().clone()
    }

    /// Starts the keep-awake task (serving engines only; once).
    pub(crate) fn start(&self) {
        let task = Task {
            inner: self.inner.clone(),
            bus: None,
            held: None,
            refused: false,
            on_battery: None,
            unavailable: None,
        };
        self.shared.spawn(task.run(self.shared.cancel.child_token()));
    }
}

/// What the task holds while holding.
struct Held {
    _inhibitor: Inhibitor,
    why: String,
    since: i64,
}

/// The keep-awake task's own state (see the module documentation).
struct Task {
    inner: Arc<Inner>,
    bus: Option<Bus>,
    held: Option<Held>,
    /// logind refused during this episode (since nothing last needed the computer awake):
    /// asked again only when a new episode starts, so polkit is not asked on every change.
    refused: bool,
    on_battery: Option<bool>,
    unavailable: Option<String>,
}

type Changes = Box<dyn futures_util::Stream<Item = ()> + Unpin + Send>;

impl Task {
    /// Connects to the system bus and reads what can be known before anything needs it.
    async fn connect(&mut self) -> Option<Changes> {
        let bus = match Bus::connect().await {
            Ok(bus) => bus,
            Err(e) => {
                // Tried again whenever something needs the computer awake: said once.
                let why = e.to_string();
                if self.unavailable.as_deref() != Some(why.as_str()) {
                    tracing::info!(error = %why, "keep-awake is unavailable");
                }
                self.unavailable = Some(why);
                return None;
            }
        };
        let changes = match bus.battery_changes().await {
            Ok(s) => Some(Box::new(s) as Changes),
            Err(e) => {
                tracing::debug!(error = %e, "cannot watch the power source");
                None
            }
        };
        self.on_battery = bus.on_battery().await;
        match bus.logind_running().await {
            Ok(true) => self.unavailable = None,
            Ok(false) => {
                self.unavailable = Some("systemd-logind is not running on the system bus".into());
            }
            Err(e) => self.unavailable = Some(e.to_string()),
        }
        self.bus = Some(bus);
        changes
    }

    async fn run(mut self, cancel: tokio_util::sync::CancellationToken) {
        let mut changes = self.connect().await;
        loop {
            let now = crate::usage::now_ms();
            let mode = self.inner.mode();
            let (reasons, next) = {
                let mut d = self.inner.demand();
                d.expire(now);
                d.reasons(now, mode, self.on_battery == Some(true))
            };
            let why = why(&reasons);
            if why.is_some() && self.bus.is_none() && self.held.is_none() && !self.refused {
                // The bus may have come up since start (a server started before dbus).
                changes = self.connect().await;
            }
            self.apply(why).await;
            self.publish(mode, reasons);
            let nap = next.map(|t| Duration::from_millis((t - now).clamp(0, MAX_NAP.as_millis() as i64) as u64));
            let changed = async {
                match changes.as_mut() {
                    Some(s) => futures_util::StreamExt::next(s).await,
                    None => std::future::pending().await,
                }
            };
            let nap = async {
                match nap {
                    Some(d) => tokio::time::sleep(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                () = cancel.cancelled() => break,
                () = self.inner.poke.notified() => {}
                change = changed => match (change, &self.bus) {
                    (Some(()), Some(bus)) => {
                        self.on_battery = bus.on_battery().await;
                        tracing::info!(on_battery = ?self.on_battery, "the power source changed");
                    }
                    _ => changes = None,
                },
                () = nap => {}
            }
        }
        if self.held.take().is_some() {
            tracing::info!("keep-awake: released at shutdown");
        }
    }

    /// Takes, swaps or releases the inhibitor so it matches `why`.
    async fn apply(&mut self, why: Option<String>) {
        let Some(why) = why else {
            if self.held.take().is_some() {
                tracing::info!("keep-awake: released");
            }
            self.refused = false;
            return;
        };
        if self.held.as_ref().is_some_and(|h| h.why == why) || self.refused {
            return;
        }
        let Some(bus) = &self.bus else { return };
        match bus.inhibit(&why).await {
            Ok(inhibitor) => {
                // The new one is taken before the old one closes: never a moment unheld.
                let since = self.held.as_ref().map_or_else(crate::usage::now_ms, |h| h.since);
                tracing::info!(%why, "keep-awake: holding");
                self.held = Some(Held { _inhibitor: inhibitor, why, since });
                self.unavailable = None;
            }
            Err(e) => {
                tracing::warn!(error = %e, "keep-awake: no inhibitor");
                self.unavailable = Some(e.to_string());
                self.refused = true;
            }
        }
    }

    fn publish(&self, mode: KeepAwake, reasons: Vec<Reason>) {
        let holding = self.held.is_some();
        let state = if mode == KeepAwake::Off {
            AwakeState::Off
        } else if holding {
            AwakeState::Holding
        } else if self.unavailable.is_some() {
            AwakeState::Unavailable
        } else {
            AwakeState::Idle
        };
        let why_now = self.held.as_ref().map(|h| h.why.clone());
        let note = match state {
            AwakeState::Off => "Off: Porch never keeps this computer awake".to_string(),
            AwakeState::Holding => format!("Keeping this computer awake: {}", why_now.as_deref().unwrap_or("")),
            AwakeState::Unavailable => {
                format!("Unavailable: {}", self.unavailable.as_deref().unwrap_or("logind cannot be used"))
            }
            _ if self.on_battery == Some(true) && reasons.iter().any(|r| !r.counted) => {
                "On battery: app sessions do not keep this computer awake".to_string()
            }
            _ if mode == KeepAwake::Renders && reasons.iter().any(|r| !r.counted) => {
                "Only renders keep this computer awake (keep-awake=renders)".to_string()
            }
            _ => "Nothing needs this computer awake now".to_string(),
        };
        let view = KeepAwakeView {
            setting: mode.as_str().into(),
            state,
            holding,
            since: self.held.as_ref().map(|h| crate::usage::rfc3339(h.since)),
            why: why_now,
            on_battery: self.on_battery,
            unavailable: self.unavailable.clone(),
            reasons,
            note,
        };
        self.inner.view.send_if_modified(|cur| {
            let changed = *cur != view;
            *cur = view;
            changed
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: i64 = 60_000;

    /// `Kind title` per reason, `(not counted)` after those that do not count.
    fn kinds(r: &[Reason]) -> Vec<String> {
        r.iter().map(|r| format!("{:?} {}{}", r.kind, r.title, if r.counted { "" } else { " (not counted)" })).collect()
    }

    #[test]
    fn sessions_start_with_a_request_or_socket_and_end_after_the_gap() {
        let mut d = Demand::default();
        assert!(d.request("a", "App", 0), "the first request starts a session");
        assert!(!d.request("a", "App", 4 * MIN), "a request within the gap does not");
        let (r, next) = d.reasons(5 * MIN, KeepAwake::Always, false);
        assert_eq!(kinds(&r), ["Session App"]);
        assert_eq!(next, Some(9 * MIN), "the span ends 5 minutes after its last request");
        assert!(!d.socket_opened("a", "App", 5 * MIN), "already in session");
        let (r, next) = d.reasons(20 * MIN, KeepAwake::Always, false);
        assert_eq!((r.len(), next), (1, None), "an open socket keeps it, with no timer");
        assert!(d.socket_closed("a", 20 * MIN), "closing the last socket after the gap ends it");
        d.expire(20 * MIN);
        assert_eq!(d.reasons(20 * MIN, KeepAwake::Always, false), (vec![], None));
        assert!(d.socket_opened("b", "Other", 21 * MIN));
        assert!(!d.socket_opened("b", "Other", 21 * MIN));
        assert!(!d.socket_closed("b", 22 * MIN), "one socket is still open");
        assert!(d.socket_closed("b", 22 * MIN));
        assert!(!d.socket_closed("b", 22 * MIN), "unknown sockets change nothing");
    }

    #[test]
    fn the_setting_and_the_battery_decide_what_counts() {
        let mut d = Demand::default();
        d.socket_opened("s", "Shiny", 0);
        assert!(d.render_started("r", "Report"));
        assert!(!d.render_started("r", "Report"), "a second render of the same item");
        let all = |d: &Demand, mode, battery| kinds(&d.reasons(MIN, mode, battery).0);
        assert_eq!(all(&d, KeepAwake::Always, false), ["Session Shiny", "Render Report"]);
        assert_eq!(
            all(&d, KeepAwake::Always, true),
            ["Session Shiny (not counted)", "Render Report"],
            "on battery only renders count"
        );
        assert_eq!(all(&d, KeepAwake::Renders, false), ["Session Shiny (not counted)", "Render Report"]);
        assert_eq!(all(&d, KeepAwake::Off, false), ["Session Shiny (not counted)", "Render Report (not counted)"]);
        assert!(!d.render_ended("r"));
        assert!(d.render_ended("r"), "the last render of the item ended");
        let (r, _) = d.reasons(MIN, KeepAwake::Always, true);
        assert_eq!(why(&r), None, "a session on battery alone keeps nothing awake");
    }

    #[test]
    fn a_due_schedule_keeps_it_awake_from_five_minutes_before() {
        let mut d = Demand::default();
        let due = Due { at: 60 * MIN, guid: "g".into(), title: "Weekly".into() };
        assert!(d.set_due(vec![due.clone()]));
        assert!(!d.set_due(vec![due]), "the same runs again are no change");
        assert_eq!(d.reasons(0, KeepAwake::Always, false), (vec![], Some(55 * MIN)));
        let (r, next) = d.reasons(55 * MIN, KeepAwake::Always, true);
        assert_eq!(kinds(&r), ["Schedule Weekly"], "counted on battery too");
        assert_eq!(next, Some(61 * MIN));
        assert_eq!(why(&r).as_deref(), Some("a scheduled render of “Weekly” is due"));
        assert_eq!(d.reasons(61 * MIN, KeepAwake::Always, false), (vec![], None), "over once the grace passed");
    }

    #[test]
    fn the_reason_names_every_counted_item() {
        let mut d = Demand::default();
        d.request("b", "Beta", 0);
        d.request("a", "Alpha", 0);
        d.render_started("r", "Report");
        let (r, _) = d.reasons(1, KeepAwake::Always, false);
        assert_eq!(why(&r).as_deref(), Some("a viewer is using “Alpha”; a viewer is using “Beta”; rendering “Report”"));
    }

    #[test]
    fn the_setting_parses_with_always_as_default() {
        for m in [KeepAwake::Always, KeepAwake::Renders, KeepAwake::Off] {
            assert_eq!(KeepAwake::parse(Some(m.as_str())), m);
            assert_eq!(KeepAwake::from_u8(m.to_u8()), m);
        }
        assert_eq!(KeepAwake::parse(None), KeepAwake::Always);
    }
}
