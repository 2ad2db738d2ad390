//! Usage: what viewers did with each item — page views and app sessions — recorded from the
//! gateway's observer hook and shown to the publisher (the item's Usage tab, the library's
//! sort by last viewed) and to Connect clients (the instrumentation API).
//!
//! Owns the [`Recorder`] (an [`Observer`] registered when the engine is built), the writer
//! task that turns its notes into stored events, the per-day folding of old events, the
//! usage settings ([`settings`]) and the reports read from the store. The definition of an
//! app session lives in [`sessions`], the one place keep-awake reads it too.
//!
//! What is counted: a *page view* is one HTML page load (a successful `text/html` answer to
//! a GET, or the 304 that revalidates one: a return visit) of a static, rendered or pin
//! item, not its assets; an *app session* is defined in [`sessions`]. Never counted
//! ([`crate::observe::Uncounted`]): health probes, Porch's own captures
//! (`x-porch-capture: 1`), requests with an API key, the publisher's previews of drafts and
//! earlier bundles; nothing at all while the `usage` setting is off.
//!
//! Privacy: a device is the random `porch_device` cookie the gateway sets on HTML pages. A
//! client that sends no cookie is known by a hash of its address and user agent with a
//! random salt that changes every UTC day and is never stored; the hash only maps to the
//! device id first minted for it that day, and the cookie its answer set stays that device
//! for the day (a browser's first load is not a second device). Stored events hold the
//! item, the device id, what was viewed (bundle, variant, render, path) and when; never an
//! address, a name or a user agent.
//!
//! Not here: the cookie itself and reading requests (`crate::observe`, the gateway), HTTP
//! (`api/usage.rs`), SQL (`store/usage.rs`).
//!
//! Concurrency: the recorder runs on request tasks: it reads two atomics and pushes a note
//! onto a bounded list under a short lock (a full list drops the note and counts it: serving
//! is never slowed by recording), waking the writer only when the list stops being empty or
//! fills. One writer task, spawned on the tracker when the server starts, owns the session
//! bookkeeping, the daily salt and the batch: a second after a batch's first note (at once
//! when it is full, and at shutdown) it takes the whole list and writes it (one multi-row
//! INSERT per chunk, one transaction). It sleeps until a batch begins, a request span falls
//! quiet, or the daily fold is due. Usage writes emit no engine event and touch no content table, so
//! they never make the landing page or the library list stale.

pub mod sessions;
pub mod settings;

use std::collections::HashMap;
use std::hash::BuildHasher;
use std::net::IpAddr;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::http::{HeaderValue, StatusCode};
use serde::Serialize;

use crate::error::{Error, Result};
use crate::observe::{Device, DeviceId, Observer, Served, ViewerRequest, ViewerSession, Visitor};
use crate::shared::Shared;
use crate::store::{NewUsage, UsageKind, UsageQuery, UsageRow};
use sessions::{Finished, Sessions};
pub use settings::UsageSettings;

/// Notes waiting for the writer at most; more are dropped (and counted), never waited for.
const INBOX: usize = 65_536;
/// Notes that make the writer take the inbox at once instead of a second after its first.
const FULL: usize = 8192;
/// Notes' room kept between batches (more, after a burst, is given back).
const KEEP_ROOM: usize = 1024;
/// Cookie-less fingerprints remembered per day at most (the map is cleared when full).
const MAX_FINGERPRINTS: usize = 100_000;
/// How long a note waits for others before its batch is written: one transaction a second
/// under steady traffic instead of one per request.
const FLUSH_AFTER: Duration = Duration::from_secs(1);
/// How often old events are folded into per-day totals.
const FOLD_EVERY: Duration = Duration::from_secs(24 * 3600);
const DAY_MS: i64 = 24 * 3600 * 1000;

/// The current time in unix milliseconds.
pub fn now_ms() -> i64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as i64).unwrap_or(0)
}

/// Unix milliseconds as RFC 3339 (UTC, whole seconds), the form Connect's API uses.
pub fn rfc3339(ms: i64) -> String {
    use time::format_description::well_known::Rfc3339;
    time::OffsetDateTime::from_unix_timestamp(ms.div_euclid(1000))
        .ok()
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_default()
}

/// Parses an RFC 3339 time (or a `YYYY-MM-DD` day, meaning its start in UTC) into unix ms.
pub fn parse_time(field: &str, s: &str) -> Result<i64> {
    use time::format_description::well_known::Rfc3339;
    if let Ok(t) = time::OffsetDateTime::parse(s, &Rfc3339) {
        return Ok((t.unix_timestamp_nanos() / 1_000_000) as i64);
    }
    let day = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, &day)
        .map(|d| d.midnight().assume_utc().unix_timestamp() * 1000)
        .map_err(|_| Error::Invalid(format!("{field}: {s:?} is not a time (RFC 3339, e.g. 2025-05-01T00:00:00Z)")))
}

/// What the recorder hands the writer.
#[derive(Debug)]
enum Note {
    View {
        guid: String,
        bundle_id: Option<i64>,
        variant_id: Option<i64>,
        render_id: Option<i64>,
        /// Below the item's base, without the leading slash the stored path has.
        path: String,
        who: Who,
        at: i64,
    },
    AppRequest {
        guid: String,
        who: Who,
        at: i64,
    },
    SocketOpened {
        id: u64,
        guid: String,
        who: Who,
        at: i64,
    },
    SocketClosed {
        id: u64,
        at: i64,
    },
    /// Settings changed: fold with the new retention now.
    Fold,
}

/// Who made a request, as far as the writer needs to tell devices apart.
#[derive(Debug)]
struct Who {
    device: Device,
    ip: Option<IpAddr>,
    user_agent: Option<HeaderValue>,
}

impl Who {
    fn of(v: &Visitor, peer: Option<std::net::SocketAddr>) -> Who {
        Who { device: v.device, ip: peer.map(|p| p.ip()), user_agent: v.user_agent.clone() }
    }
}

/// The usage observer: registered with the gateway's observers when the engine is built.
#[derive(Debug)]
pub struct Recorder {
    on: AtomicBool,
    retention_days: AtomicU32,
    mailbox: Arc<Mailbox>,
    dropped: AtomicU64,
}

/// Where the recorder leaves notes for the writer: a plain list under a short lock, and a
/// wake-up only when the list stops being empty (or becomes full). Under steady traffic the
/// writer is woken about once a second, not once per request: a channel woke it (and
/// re-armed its timers) for nearly every view, which showed in `bench/static.sh`.
#[derive(Debug, Default)]
struct Mailbox {
    notes: Mutex<Vec<Note>>,
    wake: tokio::sync::Notify,
}

impl Mailbox {
    /// Swaps everything left so far (in arrival order) into `into`, which must be empty: the
    /// two lists trade places, so neither is grown again from nothing for the next batch.
    fn take(&self, into: &mut Vec<Note>) {
        debug_assert!(into.is_empty());
        std::mem::swap(into, &mut *self.notes.lock().unwrap_or_else(|p| p.into_inner()));
    }
}

/// The writer's end of the recorder's mailbox, until the server starts it.
#[derive(Debug)]
pub struct Inbox(Arc<Mailbox>);

impl Recorder {
    /// A recorder with these settings, and the inbox its notes go to.
    pub fn new(settings: UsageSettings) -> (Arc<Recorder>, Inbox) {
        let mailbox = Arc::new(Mailbox::default());
        let r = Recorder {
            on: AtomicBool::new(settings.on),
            retention_days: AtomicU32::new(settings.retention_days),
            mailbox: mailbox.clone(),
            dropped: AtomicU64::new(0),
        };
        (Arc::new(r), Inbox(mailbox))
    }

    fn on(&self) -> bool {
        self.on.load(Ordering::Relaxed)
    }

    fn send(&self, note: Note) {
        let len = {
            let mut notes = self.mailbox.notes.lock().unwrap_or_else(|p| p.into_inner());
            if notes.len() >= INBOX {
                drop(notes);
                self.dropped.fetch_add(1, Ordering::Relaxed);
                return;
            }
            notes.push(note);
            notes.len()
        };
        if len == 1 || len == FULL {
            self.mailbox.wake.notify_one();
        }
    }
}

/// `_variant{N}` and `_render{N}` segments at the start of a path below an item.
fn version_of(path: &str) -> (Option<i64>, Option<i64>) {
    let mut segs = path.split('/');
    let first = segs.next().unwrap_or("");
    let number = |seg: &str, prefix: &str| seg.strip_prefix(prefix).and_then(|n| n.parse::<i64>().ok());
    match number(first, "_variant") {
        Some(v) => (Some(v), number(segs.next().unwrap_or(""), "_render")),
        None => (None, number(first, "_render")),
    }
}

impl Observer for Recorder {
    fn wants_detail(&self) -> bool {
        self.on()
    }

    fn request(&self, r: &ViewerRequest<'_>) {
        if !self.on() {
            return;
        }
        let (Some(v), Some(route)) = (r.visitor, r.route) else { return };
        if v.uncounted.is_some() {
            return;
        }
        let at = now_ms();
        let note = match r.served {
            Served::Static | Served::Render | Served::Pin if r.html_page => {
                let (variant_id, render_id) = version_of(&v.path);
                let render_id = match (r.served, variant_id, render_id) {
                    (Served::Render, None, None) => route.render_id,
                    (_, _, explicit) => explicit,
                };
                Note::View {
                    guid: route.guid.clone(),
                    bundle_id: route.bundle_id,
                    variant_id,
                    render_id,
                    path: v.path.clone(),
                    who: Who::of(v, r.peer),
                    at,
                }
            }
            Served::App if r.status != StatusCode::SWITCHING_PROTOCOLS => {
                Note::AppRequest { guid: route.guid.clone(), who: Who::of(v, r.peer), at }
            }
            _ => return,
        };
        self.send(note);
    }

    fn session_opened(&self, s: &ViewerSession<'_>) {
        let Some(v) = s.visitor.filter(|v| self.on() && v.uncounted.is_none()) else { return };
        self.send(Note::SocketOpened { id: s.id, guid: s.guid.to_string(), who: Who::of(v, s.peer), at: now_ms() });
    }

    fn session_closed(&self, s: &ViewerSession<'_>, _lasted: Duration) {
        // Sent even if recording was switched off meanwhile: the writer ignores unknown ids.
        if s.visitor.is_some() {
            self.send(Note::SocketClosed { id: s.id, at: now_ms() });
        }
    }
}

/// What kind of viewer event: the usage service's vocabulary (the store keeps it as a word).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum EventKind {
    /// One HTML page load of a static or rendered item.
    View,
    /// One app session.
    Session,
}

impl EventKind {
    fn stored(self) -> UsageKind {
        match self {
            EventKind::View => UsageKind::View,
            EventKind::Session => UsageKind::Session,
        }
    }
}

/// Filters of an event listing (Connect's instrumentation query parameters).
#[derive(Debug, Clone, Default)]
pub struct EventQuery {
    /// Only these kinds (empty: all).
    pub kinds: Vec<EventKind>,
    /// Only these items (empty: all).
    pub content_guids: Vec<String>,
    /// Ended at or after (unix ms): Connect's `from` keeps what was still going on then.
    pub from: Option<i64>,
    /// Started at or before (unix ms).
    pub to: Option<i64>,
    /// Keyset: only events after this id (or before it, with `backwards`).
    pub after: Option<i64>,
    /// Page backwards from `after` (the `previous` cursor).
    pub backwards: bool,
    /// At most this many events.
    pub limit: i64,
}

/// One recorded page view or app session.
#[derive(Debug, Clone, PartialEq)]
pub struct UsageEvent {
    /// The event's id: the keyset for paging.
    pub id: i64,
    /// The item.
    pub content_guid: String,
    /// View or session.
    pub kind: EventKind,
    /// The bundle served.
    pub bundle_id: Option<i64>,
    /// The variant viewed.
    pub variant_id: Option<i64>,
    /// The render viewed.
    pub render_id: Option<i64>,
    /// The path below the item.
    pub path: Option<String>,
    /// Unix milliseconds (the first of identical page views stored as one).
    pub started: i64,
    /// Unix milliseconds (the last of them).
    pub ended: i64,
    /// How many identical page views this is (1 for a session).
    pub hits: i64,
}

impl UsageEvent {
    fn from_row(r: UsageRow) -> Option<UsageEvent> {
        let kind = match r.kind.as_str() {
            "view" => EventKind::View,
            "session" => EventKind::Session,
            _ => return None,
        };
        Some(UsageEvent {
            id: r.id,
            content_guid: r.content_guid,
            kind,
            bundle_id: r.bundle_id,
            variant_id: r.variant_id,
            render_id: r.render_id,
            path: r.path,
            started: r.started,
            ended: r.ended,
            hits: r.hits.max(1),
        })
    }
}

/// The usage service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Usage {
    shared: Shared,
    state: Arc<State>,
}

#[derive(Debug)]
struct State {
    recorder: Arc<Recorder>,
    /// Taken by [`Usage::start`].
    inbox: Mutex<Option<Inbox>>,
}

impl Usage {
    /// The usage service over the recorder registered with the gateway's observers.
    pub(crate) fn new(shared: Shared, recorder: Arc<Recorder>, inbox: Inbox) -> Usage {
        Usage { shared, state: Arc::new(State { recorder, inbox: Mutex::new(Some(inbox)) }) }
    }

    /// Starts the writer task (once, when the server starts serving).
    pub(crate) fn start(&self) {
        let inbox = self.state.inbox.lock().unwrap_or_else(|p| p.into_inner()).take();
        let Some(Inbox(mailbox)) = inbox else { return };
        let writer = Writer::new(self.shared.clone(), self.state.recorder.clone());
        self.shared.spawn(writer.run(mailbox));
    }

    /// The settings in force.
    pub fn settings(&self) -> UsageSettings {
        let r = &self.state.recorder;
        UsageSettings { on: r.on(), retention_days: r.retention_days.load(Ordering::Relaxed) }
    }

    /// Applies changed settings at once (the settings service calls this).
    pub(crate) fn configure(&self, s: UsageSettings) {
        let r = &self.state.recorder;
        let before = self.settings();
        r.on.store(s.on, Ordering::Relaxed);
        r.retention_days.store(s.retention_days, Ordering::Relaxed);
        if before.retention_days != s.retention_days {
            r.send(Note::Fold);
        }
    }

    /// Notes dropped because the writer fell behind, since start.
    pub fn dropped(&self) -> u64 {
        self.state.recorder.dropped.load(Ordering::Relaxed)
    }

    /// Raw events (Connect's instrumentation endpoints).
    ///
    /// A row of a kind this Porch does not know (written by a newer one) is left out.
    pub async fn events(&self, q: &EventQuery) -> Result<Vec<UsageEvent>> {
        let stored = UsageQuery {
            kinds: q.kinds.iter().map(|k| k.stored()).collect(),
            content_guids: q.content_guids.clone(),
            from: q.from,
            to: q.to,
            after: q.after,
            backwards: q.backwards,
            limit: q.limit,
        };
        let rows = self.shared.store.usage_events(&stored).await?;
        Ok(rows.into_iter().filter_map(UsageEvent::from_row).collect())
    }

    /// One item's usage over the last `days` days, for its Usage tab.
    pub async fn report(&self, guid: &str, days: u32) -> Result<UsageReport> {
        if !(1..=3650).contains(&days) {
            return Err(Error::Invalid(format!("days must be from 1 to 3650, not {days}")));
        }
        let now = now_ms();
        let today = now.div_euclid(DAY_MS) * DAY_MS;
        let from = today - i64::from(days - 1) * DAY_MS;
        let store = &self.shared.store;
        let stored = store.usage_days(guid, from).await?;
        let by_day: HashMap<&str, &crate::store::UsageDay> = stored.iter().map(|d| (d.day.as_str(), d)).collect();
        let mut out = Vec::with_capacity(days as usize);
        for i in 0..i64::from(days) {
            let day = rfc3339(from + i * DAY_MS)[..10].to_string();
            let d = by_day.get(day.as_str());
            out.push(UsageDayView {
                views: d.map_or(0, |d| d.views as u64),
                sessions: d.map_or(0, |d| d.sessions as u64),
                devices: d.map_or(0, |d| d.devices as u64),
                day,
            });
        }
        let lengths = store.usage_session_lengths(guid, from).await?;
        let latest = store.usage_latest(from).await?;
        Ok(UsageReport {
            guid: guid.to_string(),
            recording: self.settings().on,
            views: out.iter().map(|d| d.views).sum(),
            sessions: out.iter().map(|d| d.sessions).sum(),
            unique_devices: store.usage_devices(guid, from).await? as u64,
            median_session_secs: median(&lengths).map(|ms| ms / 1000.0),
            last_viewed: latest.iter().find(|l| l.content_guid == guid).map(|l| rfc3339(l.last_seen)),
            days: out,
        })
    }

    /// Every item's last view and its views and sessions in the last 30 days, for the
    /// library's sort.
    pub async fn latest(&self) -> Result<Vec<UsageLatestView>> {
        let since = now_ms() - 30 * DAY_MS;
        Ok(self
            .shared
            .store
            .usage_latest(since)
            .await?
            .into_iter()
            .map(|l| UsageLatestView {
                guid: l.content_guid,
                last_viewed: rfc3339(l.last_seen),
                views_30d: l.recent as u64,
            })
            .collect())
    }
}

/// The median of sorted values.
fn median(sorted: &[i64]) -> Option<f64> {
    let n = sorted.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(sorted[n / 2] as f64),
        _ => Some((sorted[n / 2 - 1] + sorted[n / 2]) as f64 / 2.0),
    }
}

/// One item's usage, as its Usage tab shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct UsageReport {
    /// The item.
    pub guid: String,
    /// Whether usage is being recorded now (the `usage` setting).
    pub recording: bool,
    /// Each day of the period, oldest first, including days with nothing.
    pub days: Vec<UsageDayView>,
    /// Page views in the period.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub views: u64,
    /// App sessions in the period.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub sessions: u64,
    /// Distinct devices in the period (of the raw events kept).
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub unique_devices: u64,
    /// The median app session, in seconds; null without sessions.
    pub median_session_secs: Option<f64>,
    /// When it was last viewed or used (RFC 3339); null if never.
    pub last_viewed: Option<String>,
}

/// One day of an item's usage.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct UsageDayView {
    /// YYYY-MM-DD (UTC).
    pub day: String,
    /// Page views.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub views: u64,
    /// App sessions.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub sessions: u64,
    /// Distinct devices that day.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub devices: u64,
}

/// An item's latest usage, for sorting the library.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct UsageLatestView {
    /// The item.
    pub guid: String,
    /// Its last view or session (RFC 3339).
    pub last_viewed: String,
    /// Page views and app sessions in the last 30 days.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub views_30d: u64,
}

/// The writer task's state: session bookkeeping, the day's salt, the batch.
struct Writer {
    shared: Shared,
    recorder: Arc<Recorder>,
    sessions: Sessions<DeviceId>,
    /// The UTC day the salt belongs to.
    salt_day: i64,
    /// The day's salt (random, never stored or shown) and the keyed hasher it goes through.
    salt: [u8; 32],
    hasher: std::collections::hash_map::RandomState,
    /// Cookie-less fingerprint → the device id first minted for it today.
    minted: HashMap<u64, DeviceId>,
    /// Today's cookie a cookie-less request was answered with → the device it was counted
    /// as (the fingerprint's first id), so a client that keeps that cookie stays the device
    /// it was. Only the newest such cookie of each fingerprint is kept (`alias_of`), so the
    /// map holds at most one entry a fingerprint: a client that keeps cookies keeps the one
    /// of its first answer; one that never does has its entry replaced at each request.
    aliases: HashMap<DeviceId, DeviceId>,
    /// Fingerprint → its entry in `aliases`.
    alias_of: HashMap<u64, DeviceId>,
    /// The last cookie-less client resolved (address, agent), its fingerprint and its device,
    /// so a burst of requests from one client is hashed once. In memory only, like the notes
    /// themselves, and forgotten at each flush.
    last_client: Option<(Option<IpAddr>, Option<HeaderValue>, u64, DeviceId)>,
    batch: Vec<NewUsage>,
    /// The page views in the batch, each with its row's place in `batch`
    /// ([`Writer::add_view`]).
    views: Vec<(ViewKey, usize)>,
    /// A hash of each view key → its place in `views`.
    view_index: HashMap<u64, usize>,
    /// The place in `views` of the last view added or counted.
    last_view: Option<usize>,
    /// The notes being taken, traded with the mailbox's list each batch.
    notes: Vec<Note>,
}

/// What makes two page views in a batch the same row.
#[derive(Debug, PartialEq, Eq, Hash)]
struct ViewKey {
    guid: String,
    device: DeviceId,
    bundle_id: Option<i64>,
    variant_id: Option<i64>,
    render_id: Option<i64>,
    path: String,
}

impl Writer {
    fn new(shared: Shared, recorder: Arc<Recorder>) -> Writer {
        Writer {
            shared,
            recorder,
            sessions: Sessions::default(),
            salt_day: -1,
            salt: [0; 32],
            hasher: std::collections::hash_map::RandomState::new(),
            minted: HashMap::new(),
            aliases: HashMap::new(),
            alias_of: HashMap::new(),
            last_client: None,
            batch: Vec::new(),
            views: Vec::new(),
            view_index: HashMap::new(),
            last_view: None,
            notes: Vec::new(),
        }
    }

    async fn run(mut self, mailbox: Arc<Mailbox>) {
        let cancel = self.shared.cancel.clone();
        self.fold().await;
        let mut next_fold = tokio::time::Instant::now() + FOLD_EVERY;
        'serve: loop {
            let due = self.sessions.next_due().map(|at| {
                let wait = Duration::from_millis(at.saturating_sub(now_ms()).max(0) as u64);
                tokio::time::Instant::now() + wait
            });
            tokio::select! {
                biased;
                _ = cancel.cancelled() => break,
                _ = mailbox.wake.notified() => {
                    // The first note of a batch: let the batch gather for a second (or until
                    // the recorder says it is full), then take it all at once.
                    tokio::select! {
                        biased;
                        _ = cancel.cancelled() => break 'serve,
                        _ = mailbox.wake.notified() => {}
                        _ = tokio::time::sleep(FLUSH_AFTER) => {}
                    }
                    let mut notes = std::mem::take(&mut self.notes);
                    mailbox.take(&mut notes);
                    let mut fold = false;
                    for note in notes.drain(..) {
                        fold |= self.take(note);
                    }
                    // A burst's room is not kept for ever (the mailbox's list trades places).
                    notes.shrink_to(KEEP_ROOM);
                    self.notes = notes;
                    if fold {
                        self.fold().await;
                    }
                    self.flush().await;
                }
                _ = tokio::time::sleep_until(due.unwrap_or(next_fold)), if due.is_some() => {
                    let ended = self.sessions.expire(now_ms());
                    self.finished(ended);
                    self.flush().await;
                }
                _ = tokio::time::sleep_until(next_fold) => {
                    next_fold = tokio::time::Instant::now() + FOLD_EVERY;
                    self.fold().await;
                }
            }
        }
        // Shutdown: what is queued is recorded, and open sessions end now.
        let mut notes = Vec::new();
        mailbox.take(&mut notes);
        for note in notes {
            self.take(note);
        }
        let ended = self.sessions.close_all(now_ms());
        self.finished(ended);
        self.flush().await;
    }

    /// Takes one note into the batch or the session bookkeeping; true when a fold is asked.
    fn take(&mut self, note: Note) -> bool {
        match note {
            Note::View { guid, bundle_id, variant_id, render_id, path, who, at } => {
                let device = self.device(&who, at);
                self.add_view(ViewKey { guid, device, bundle_id, variant_id, render_id, path }, at);
            }
            Note::AppRequest { guid, who, at } => {
                let device = self.device(&who, at);
                let ended = self.sessions.request(&guid, device, at);
                self.finished(ended);
            }
            Note::SocketOpened { id, guid, who, at } => {
                let device = self.device(&who, at);
                self.sessions.socket_opened(id, &guid, device, at);
            }
            Note::SocketClosed { id, at } => {
                let ended = self.sessions.socket_closed(id, at);
                self.finished(ended);
            }
            Note::Fold => return true,
        }
        false
    }

    fn finished(&mut self, sessions: impl IntoIterator<Item = Finished<DeviceId>>) {
        for s in sessions {
            self.batch.push(NewUsage {
                content_guid: s.guid,
                kind: UsageKind::Session,
                device: s.device.to_string(),
                bundle_id: None,
                variant_id: None,
                render_id: None,
                path: None,
                started: s.started,
                ended: s.ended,
                hits: 1,
            });
        }
    }

    /// Adds a page view to the batch, or counts it on the batch's identical view (same item,
    /// device, bundle, variant, render and path): one row per batch, whatever the rate. A
    /// repeat of the last view is found without hashing; others through `view_index`.
    fn add_view(&mut self, key: ViewKey, at: i64) {
        let same = match self.last_view {
            Some(i) if self.views.get(i).is_some_and(|(k, _)| *k == key) => Some(i),
            _ => {
                let hash = self.hasher.hash_one(&key);
                self.view_index.get(&hash).copied().filter(|&i| self.views.get(i).is_some_and(|(k, _)| *k == key))
            }
        };
        if let Some(row) = same.and_then(|i| self.views.get(i)).and_then(|&(_, row)| self.batch.get_mut(row)) {
            row.hits += 1;
            row.started = row.started.min(at);
            row.ended = row.ended.max(at);
            self.last_view = same;
            return;
        }
        self.batch.push(NewUsage {
            content_guid: key.guid.clone(),
            kind: UsageKind::View,
            device: key.device.to_string(),
            bundle_id: key.bundle_id,
            variant_id: key.variant_id,
            render_id: key.render_id,
            path: Some(format!("/{}", key.path)),
            started: at,
            ended: at,
            hits: 1,
        });
        self.view_index.insert(self.hasher.hash_one(&key), self.views.len());
        self.last_view = Some(self.views.len());
        self.views.push((key, self.batch.len() - 1));
    }

    /// The device id of a request: its cookie (or the device that cookie was counted as, see
    /// `aliases`); for a request without one, the id first minted today for its salted
    /// address-and-agent hash (so a client that never keeps cookies is one device per day,
    /// not one per request).
    fn device(&mut self, who: &Who, at: i64) -> DeviceId {
        let minted = match who.device {
            Device::Presented(id) => return self.aliases.get(&id).copied().unwrap_or(id),
            Device::Minted(id) => id,
        };
        let day = at.div_euclid(DAY_MS);
        if day != self.salt_day || self.minted.len() >= MAX_FINGERPRINTS {
            // A new day: a new salt, and yesterday's hashes are forgotten.
            self.salt_day = day;
            self.salt = rand::random();
            self.minted.clear();
            self.aliases.clear();
            self.alias_of.clear();
            self.last_client = None;
        }
        let agent = who.user_agent.as_ref().map(HeaderValue::as_bytes);
        let (key, id) = match &self.last_client {
            Some((ip, ua, key, id)) if *ip == who.ip && ua.as_ref().map(HeaderValue::as_bytes) == agent => (*key, *id),
            _ => {
                // A keyed SipHash of salt, address and agent: it only ever keys these maps,
                // in memory, for one day; the device id stored is the random one minted.
                let key = self.hasher.hash_one((self.salt, who.ip, agent));
                let id = *self.minted.entry(key).or_insert(minted);
                self.last_client = Some((who.ip, who.user_agent.clone(), key, id));
                (key, id)
            }
        };
        if id != minted {
            // The answer set `minted` as the cookie: the same device when it comes back.
            if let Some(previous) = self.alias_of.insert(key, minted) {
                self.aliases.remove(&previous);
            }
            self.aliases.insert(minted, id);
        }
        id
    }

    async fn flush(&mut self) {
        // The last client's address and agent are kept for one batch at most.
        self.last_client = None;
        if self.batch.is_empty() {
            return;
        }
        self.views.clear();
        self.view_index.clear();
        self.last_view = None;
        if let Err(e) = self.shared.store.insert_usage(&self.batch).await {
            tracing::warn!(error = %e, events = self.batch.len(), "could not record usage");
        }
        // Emptied, not dropped: the next batch reuses its room.
        self.batch.clear();
    }

    /// Folds raw events older than the retention (whole UTC days) into per-day totals.
    async fn fold(&mut self) {
        let days = i64::from(self.recorder.retention_days.load(Ordering::Relaxed).max(1));
        let cutoff = now_ms().div_euclid(DAY_MS) * DAY_MS - days * DAY_MS;
        match self.shared.store.fold_usage(cutoff).await {
            Ok(0) => {}
            Ok(n) => tracing::info!(events = n, days, "folded old usage events into daily totals"),
            Err(e) => tracing::warn!(error = %e, "could not fold old usage events"),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_times_and_medians() {
        assert_eq!(version_of("_variant3/_render9/index.html"), (Some(3), Some(9)));
        assert_eq!(version_of("_render12/"), (None, Some(12)));
        assert_eq!(version_of("a/_variant3/"), (None, None));
        assert_eq!(median(&[]), None);
        assert_eq!(median(&[1, 5, 100]), Some(5.0));
        assert_eq!(median(&[1, 3]), Some(2.0));
        assert_eq!(parse_time("from", "2025-05-01T00:00:00Z").expect("ok"), 1_746_057_600_000);
        assert_eq!(parse_time("from", "2025-05-01").expect("ok"), 1_746_057_600_000);
        assert_eq!(rfc3339(1_746_057_600_999), "2025-05-01T00:00:00Z");
        assert!(parse_time("to", "yesterday").expect_err("bad").to_string().starts_with("to:"));
    }
}
