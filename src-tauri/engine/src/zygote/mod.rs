//! Pre-imported Python helpers ("zygotes"): one fork server per Python environment, so a
//! Python app's worker starts without paying for `import streamlit` (about a second here).
//!
//! Owns: the helpers (one per environment, keyed by the environment's interpreter), the
//! items each serves (the Python apps of that environment whose workers may be forked), their
//! lives (started when such an app is deployed or supervised, stopped [`KEEP_FOR`] after the
//! last view of any of its items unless one of them keeps `min_processes > 0`, replaced when
//! the environment was rebuilt or needs more modules, restarted once after a crash and then
//! switched off for that environment with a log line), the fork request (`porch_zygote.py`
//! explains the protocol) and the `zygote` switch.
//!
//! A *view* is a lease of one of the items' workers ([`Views`]): every viewer request, and a
//! WebSocket session for as long as it lasts. A deploy, Porch's start and a worker start
//! count as one too (Porch does not remember views across restarts).
//!
//! Does not: decide what a worker runs (the launchers in `runtimes/` do; the helper runs
//! exactly that command), nor own the forked workers: each is Porch's child, claimed by the
//! process runner (`Runner::claim_child`), and from there on a worker like any other
//! (process group, dies with Porch, stopped by the supervisor, memory measured as PSS).
//!
//! Whenever in doubt the answer is "start it plainly": [`Zygotes::fork`] returns an error
//! (helper not ready yet, switched off, the environment changed, a refused command, any
//! protocol error) and the caller spawns the worker itself.
//!
//! Concurrency: a cheap `Clone` over an `Arc`. The helper table and each helper's state sit
//! behind std locks never held across an await. Views are two atomics per helper ([`Views`]),
//! written by the supervisor's actors and leases (a store and an add per lease, no lock, no
//! message): the viewer's path never touches the helper. Each helper has one *life* task (on
//! the engine's tracker) that owns its `Process`: it waits for the helper's `ready` line, then
//! sleeps until the helper exits, is replaced or switched off (a cancellation token), its
//! holds change (a `watch`, bumped only when the first hold appears or the last one goes), or
//! its expiry: one timer at the last view known when it was armed plus [`KEEP_FOR`]. When it
//! fires it reads the views again and sleeps until the new deadline if there was one since
//! (or one goes on now); a held helper has no timer at all. So a helper wakes at most once per
//! [`KEEP_FOR`] by itself: no polling, no idle wake-ups. Fork requests connect to the
//! helper's socket from the worker-start task; the helper serves them one at a time.

use crate::vocab::AppMode;
use std::collections::{BTreeSet, HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use serde::Serialize;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::runner::{Cmd, Logs, Process, Runner, Sink};

/// The helper's source, run as `python -c`.
const SOURCE: &str = include_str!("porch_zygote.py");

/// The setting's name: `zygote=off` turns the whole feature off.
pub const SETTING: &str = "zygote";

/// How long a helper lives after the last view of any item it serves (or deploy, or worker
/// start), unless an item holds it.
pub const KEEP_FOR: Duration = Duration::from_secs(24 * 60 * 60);

/// How long one fork request may take before the worker starts plainly instead.
const FORK_LIMIT: Duration = Duration::from_secs(5);

/// How long a helper may take to import its modules before it is given up.
const START_LIMIT: Duration = Duration::from_secs(120);

/// Prefixes of environment variables that configure a framework when it is imported: an
/// item that sets one starts plainly, since the helper imported the framework without it.
pub const IMPORT_TIME_VARS: &[&str] = &["STREAMLIT_", "GRADIO_", "DASH_", "BOKEH_", "PYTHON"];

/// Whether an item with these (publisher-set) variable names may be forked.
pub fn vars_allow_fork<'a>(names: impl IntoIterator<Item = &'a str>) -> bool {
    names.into_iter().all(|n| n != "MPLBACKEND" && !IMPORT_TIME_VARS.iter().any(|p| n.starts_with(p)))
}

/// The modules a helper imports for an app mode; `None` for modes that always start
/// plainly (their servers are not known to import cleanly, or nothing is gained).
pub fn modules_for(app_mode: &AppMode) -> Option<&'static [&'static str]> {
    const SHIM: [&str; 3] = ["argparse", "importlib", "inspect"];
    // What a worker imports between the command's start and its first answer (measured with
    // `sys.modules` in a forked worker): the server, its protocol and loop modules, anyio's
    // asyncio backend.
    const UVICORN: [&str; 18] = [
        "uvicorn",
        "uvicorn.main",
        "uvicorn.config",
        "uvicorn.server",
        "uvicorn.protocols.http.auto",
        "uvicorn.protocols.http.h11_impl",
        "uvicorn.protocols.http.httptools_impl",
        "uvicorn.protocols.websockets.auto",
        "uvicorn.protocols.websockets.websockets_impl",
        "uvicorn.protocols.websockets.websockets_sansio_impl",
        "uvicorn.lifespan.on",
        "uvicorn.loops.auto",
        "uvicorn.loops.asyncio",
        "uvicorn.middleware.proxy_headers",
        "anyio._backends._asyncio",
        "anyio.streams.memory",
        "anyio.streams.stapled",
        "anyio.streams.tls",
    ];
    static FASTAPI: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    static SHINY: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    static DASH: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    static API: std::sync::OnceLock<Vec<&'static str>> = std::sync::OnceLock::new();
    let join = |a: &[&'static str], b: &[&'static str], c: &[&'static str]| -> Vec<&'static str> {
        a.iter().chain(b).chain(c).copied().collect()
    };
    match app_mode {
        AppMode::PythonStreamlit => Some(&[
            "streamlit",
            "streamlit.web.cli",
            "streamlit.web.bootstrap",
            "streamlit.web.server",
            "streamlit.web.server.app_discovery",
            "streamlit.runtime.scriptrunner",
            "streamlit.runtime.agent.mcp",
            "streamlit.components.v2.manifest_scanner",
            "streamlit.watcher.polling_path_watcher",
            // Streamlit ≥ 1.5x serves with Starlette under uvicorn; older ones with Tornado.
            "streamlit.web.server.starlette.starlette_agent_routes",
            "uvicorn.main",
            "uvicorn.server",
            "uvicorn.lifespan.on",
            "uvicorn.protocols.http.auto",
            "uvicorn.protocols.http.h11_impl",
            "uvicorn.protocols.websockets.websockets_sansio_impl",
            "uvicorn.middleware.proxy_headers",
            "uvicorn.supervisors",
            "starlette.applications",
            "starlette.routing",
            "starlette.staticfiles",
            "starlette.middleware.sessions",
            "starlette.websockets",
            "anyio._backends._asyncio",
            "anyio.streams.memory",
            "anyio.streams.stapled",
            "anyio.streams.tls",
            "websockets.server",
            "multiprocessing",
            "logging.config",
            "logging.handlers",
            "tornado.web",
            "tornado.httpserver",
            "tornado.websocket",
        ]),
        AppMode::PythonFastapi => Some(FASTAPI.get_or_init(|| {
            join(&SHIM, &UVICORN, &["fastapi", "starlette", "pydantic.v1", "fastapi.telemetry._runtime"])
        })),
        AppMode::PythonShiny => Some(SHINY.get_or_init(|| join(&SHIM, &UVICORN, &["shiny"]))),
        AppMode::PythonDash => Some(DASH.get_or_init(|| join(&SHIM, &["waitress", "flask"], &["dash"]))),
        AppMode::PythonApi => Some(API.get_or_init(|| join(&SHIM, &["waitress"], &["flask"]))),
        _ => None,
    }
}

/// Why a worker was not forked (it then starts plainly).
#[derive(Debug, thiserror::Error)]
pub enum ForkError {
    /// The `zygote` setting is off, or this system cannot adopt forked workers.
    #[error("pre-imported Python helpers are off")]
    Off,
    /// This environment's helper was switched off (it crashed twice, or its imports were
    /// not safe to fork).
    #[error("this environment's Python helper is switched off: {0}")]
    HelperOff(String),
    /// The helper is still importing (or not started yet).
    #[error("this environment's Python helper is not ready yet")]
    NotReady,
    /// The environment was rebuilt since the helper started; a new helper is starting.
    #[error("the environment changed since its Python helper started")]
    Stale,
    /// The helper refused the command (it cannot run it exactly as Python would).
    #[error("the Python helper cannot run this command: {0}")]
    Refused(String),
    /// Talking to the helper failed.
    #[error("talking to the Python helper")]
    Io(#[source] std::io::Error),
    /// The helper did not answer in time.
    #[error("the Python helper did not answer within {0:?}")]
    TimedOut(Duration),
}

/// One helper as the Processes view shows it.
#[derive(Debug, Clone, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct HelperInfo {
    /// The environment (its folder).
    pub environment: String,
    /// `stopped`, `starting`, `ready` or `off`.
    pub state: String,
    /// Why it is off, when it is.
    pub reason: Option<String>,
    /// The helper's pid while it runs.
    pub pid: Option<u32>,
    /// Its proportional set size in bytes (PSS: pages shared with the workers it forked
    /// count by their share), 0 when not running.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub memory: u64,
    /// The modules it imported (or will).
    pub modules: Vec<String>,
    /// Workers forked since it started.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub forks: u64,
    /// The items it serves (guids): the Python apps of this environment whose workers may
    /// be forked from it. A view of any of them keeps it.
    pub items: Vec<String>,
    /// Whether an item it serves keeps `min_processes > 0`, which keeps the helper too.
    pub held: bool,
    /// When it stops unless one of its items is viewed again (RFC 3339, UTC); `null` while
    /// held, and while it does not run.
    pub expires: Option<String>,
}

/// The views of the items one helper serves, shared with each item's supervisor actor
/// (`AppDef::views`). Every lease of a worker is a view ([`Views::begin`]): it counts when it
/// begins and when it ends, and while it lasts (a WebSocket session) the helper stays.
///
/// Two atomics, no lock: beginning a view is a clock read, a store and an add, which is all
/// the viewer's path pays. The helper's timer reads them when it fires.
#[derive(Clone, Debug)]
pub struct Views {
    inner: Arc<ViewsInner>,
}

#[derive(Debug)]
struct ViewsInner {
    /// What `last` counts from.
    epoch: tokio::time::Instant,
    /// When a view last began or ended, in milliseconds since `epoch`. A plain store: two
    /// views racing can move it back by the microseconds between them, never more.
    last: AtomicU64,
    /// Views going on now.
    open: AtomicUsize,
}

/// A view going on (a leased worker); dropping it ends the view.
#[derive(Debug)]
pub struct View(Views);

impl Views {
    /// Views of no item yet (each helper has one; supervisor tests make their own).
    pub(crate) fn new() -> Views {
        Views {
            inner: Arc::new(ViewsInner {
                epoch: tokio::time::Instant::now(),
                last: AtomicU64::new(0),
                open: AtomicUsize::new(0),
            }),
        }
    }

    /// Records a view now.
    fn touch(&self) {
        let ms = u64::try_from(self.inner.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.inner.last.store(ms, Ordering::Relaxed);
    }

    /// A view begins (a worker of an item is leased); it ends when the [`View`] is dropped.
    pub fn begin(&self) -> View {
        self.touch();
        self.inner.open.fetch_add(1, Ordering::Relaxed);
        View(self.clone())
    }

    /// When the last view began or ended.
    pub(crate) fn last(&self) -> tokio::time::Instant {
        self.inner.epoch + Duration::from_millis(self.inner.last.load(Ordering::Relaxed))
    }

    /// Whether a view goes on now.
    pub(crate) fn open(&self) -> bool {
        // Acquire pairs with the Release in `View::drop`: seeing a view ended means seeing
        // the time it ended.
        self.inner.open.load(Ordering::Acquire) > 0
    }
}

impl Drop for View {
    fn drop(&mut self) {
        self.0.touch();
        self.0.inner.open.fetch_sub(1, Ordering::Release);
    }
}

/// The helpers of one engine. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Zygotes {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    runner: Runner,
    tracker: TaskTracker,
    cancel: CancellationToken,
    /// Where the helpers' sockets are (inside the 0700 data folder).
    dir: PathBuf,
    enabled: AtomicBool,
    next_id: AtomicU64,
    helpers: Mutex<HashMap<PathBuf, Arc<Helper>>>,
}

#[derive(Debug)]
struct Helper {
    python: PathBuf,
    state: Mutex<HelperState>,
    /// The views of the items it serves.
    views: Views,
    /// Bumped when its first hold appears or its last one goes (the life task re-arms). A
    /// `watch`, so a life that is busy, or just starting, when it changes still sees it.
    holds_changed: tokio::sync::watch::Sender<()>,
}

#[derive(Debug)]
enum Phase {
    /// No process (never started, expired, or stopped by the switch).
    Idle,
    /// Its life task is starting it or waiting for `ready`.
    Starting,
    /// Serving fork requests on `socket`.
    Ready { socket: PathBuf },
    /// Switched off for this environment.
    Off(String),
}

#[derive(Debug)]
struct HelperState {
    phase: Phase,
    /// The current life's generation and its stop token.
    life: u64,
    stop: CancellationToken,
    pid: Option<u32>,
    crashes: u32,
    modules: BTreeSet<&'static str>,
    /// The environment's `pyvenv.cfg` modification time when the helper started.
    stamp: Option<SystemTime>,
    /// The items it serves (guids).
    items: BTreeSet<String>,
    /// Those of them with `min_processes > 0`: the helper stays while any is.
    holds: HashSet<String>,
    forks: u64,
    /// What the life task's timer is set to now (`None`: no timer); what tests wait on.
    #[cfg_attr(not(test), allow(dead_code))]
    wake: Option<tokio::time::Instant>,
}

fn stamp(python: &Path) -> Option<SystemTime> {
    let venv = python.parent()?.parent()?;
    std::fs::metadata(venv.join("pyvenv.cfg")).and_then(|m| m.modified()).ok()
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl Zygotes {
    /// The helpers of an engine whose data folder's private run directory is `dir`;
    /// helpers are stopped when `cancel` fires.
    pub fn new(runner: Runner, tracker: TaskTracker, cancel: CancellationToken, dir: PathBuf) -> Zygotes {
        Zygotes {
            inner: Arc::new(Inner {
                runner,
                tracker,
                cancel,
                dir,
                enabled: AtomicBool::new(true),
                next_id: AtomicU64::new(1),
                helpers: Mutex::new(HashMap::new()),
            }),
        }
    }

    /// Whether workers may be forked at all: the setting is on and this system adopts
    /// forked workers (Linux, with Porch the child subreaper, as a serving Porch is).
    pub fn enabled(&self) -> bool {
        self.inner.enabled.load(Ordering::Relaxed) && cfg!(target_os = "linux") && crate::platform::is_subreaper()
    }

    /// Turns the feature on or off (the `zygote` setting); off stops every helper.
    pub fn set_enabled(&self, on: bool) {
        let was = self.inner.enabled.swap(on, Ordering::Relaxed);
        if was && !on {
            for h in lock(&self.inner.helpers).values() {
                let mut st = lock(&h.state);
                st.stop.cancel();
                if !matches!(st.phase, Phase::Off(_)) {
                    st.phase = Phase::Idle;
                }
                st.pid = None;
            }
            tracing::info!("pre-imported Python helpers switched off");
        }
    }

    fn helper(&self, python: &Path) -> Arc<Helper> {
        lock(&self.inner.helpers)
            .entry(python.to_path_buf())
            .or_insert_with(|| {
                Arc::new(Helper {
                    python: python.to_path_buf(),
                    state: Mutex::new(HelperState {
                        phase: Phase::Idle,
                        life: 0,
                        stop: CancellationToken::new(),
                        pid: None,
                        crashes: 0,
                        modules: BTreeSet::new(),
                        stamp: None,
                        items: BTreeSet::new(),
                        holds: HashSet::new(),
                        forks: 0,
                        wake: None,
                    }),
                    views: Views::new(),
                    holds_changed: tokio::sync::watch::Sender::new(()),
                })
            })
            .clone()
    }

    /// Makes sure the environment of `python` has a helper that imported what `app_mode`
    /// needs (a deploy or start of an item), and counts it as a view. Returns at once; the
    /// helper imports in the background.
    pub fn prepare(&self, python: &Path, app_mode: &AppMode) {
        let Some(modules) = modules_for(app_mode) else { return };
        self.prepare_modules(python, modules);
    }

    fn prepare_modules(&self, python: &Path, modules: &[&'static str]) {
        if !self.enabled() {
            return;
        }
        let h = self.helper(python);
        h.views.touch();
        let start = {
            let mut st = lock(&h.state);
            let grew = modules.iter().any(|m| !st.modules.contains(m));
            st.modules.extend(modules.iter().copied());
            match st.phase {
                Phase::Off(_) => false,
                Phase::Idle => true,
                // A running helper without these modules is replaced by one with them.
                Phase::Starting | Phase::Ready { .. } => grew,
            }
        };
        if start {
            self.start(&h);
        }
    }

    /// Records that the helper of `python` serves item `guid` (and no other helper does any
    /// more: the item may have moved to another environment), held (`true`: the item keeps
    /// `min_processes > 0`, and the helper stays while any of its items does) or not.
    /// Returns the views the item's leases count in (`AppDef::views`).
    pub fn serve(&self, python: &Path, guid: &str, held: bool) -> Views {
        let target = self.helper(python);
        for h in lock(&self.inner.helpers).values() {
            let mine = Arc::ptr_eq(h, &target);
            let mut st = lock(&h.state);
            let was_free = st.holds.is_empty();
            if mine {
                st.items.insert(guid.to_string());
                if held {
                    st.holds.insert(guid.to_string());
                } else {
                    st.holds.remove(guid);
                }
            } else {
                st.items.remove(guid);
                st.holds.remove(guid);
            }
            if was_free != st.holds.is_empty() {
                h.holds_changed.send_replace(());
            }
        }
        target.views.clone()
    }

    /// Forgets item `guid` and its hold (it was deleted).
    pub fn release(&self, guid: &str) {
        for h in lock(&self.inner.helpers).values() {
            let mut st = lock(&h.state);
            st.items.remove(guid);
            if st.holds.remove(guid) && st.holds.is_empty() {
                h.holds_changed.send_replace(());
            }
        }
    }

    /// When the helper `h` stops unless viewed again: `None` while an item holds it.
    fn expiry(&self, h: &Helper) -> Option<tokio::time::Instant> {
        lock(&h.state).holds.is_empty().then(|| h.views.last() + KEEP_FOR)
    }

    /// Starts a new life for `h` (stopping the current one).
    fn start(&self, h: &Arc<Helper>) {
        let (life, stop, modules) = {
            let mut st = lock(&h.state);
            st.stop.cancel();
            st.life += 1;
            st.stop = self.inner.cancel.child_token();
            st.phase = Phase::Starting;
            st.pid = None;
            st.stamp = stamp(&h.python);
            st.forks = 0;
            (st.life, st.stop.clone(), st.modules.iter().map(|m| m.to_string()).collect::<Vec<_>>())
        };
        let (this, h) = (self.clone(), h.clone());
        self.inner.tracker.spawn(async move { this.live(h, life, stop, modules).await });
    }

    /// One life of a helper: start it, wait for `ready`, serve until it exits, is stopped
    /// or expires; restart once after a crash.
    async fn live(self, h: Arc<Helper>, life: u64, stop: CancellationToken, modules: Vec<String>) {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let socket = self.inner.dir.join(format!("z{id}.sock"));
        let env_name = h.python.parent().and_then(Path::parent).unwrap_or(&h.python).display().to_string();
        // Writes state only while this life is still the current one.
        let set = |f: &mut dyn FnMut(&mut HelperState)| {
            let mut st = lock(&h.state);
            if st.life == life {
                f(&mut st);
            }
        };
        if let Err(e) = std::fs::create_dir_all(&self.inner.dir) {
            let why = format!("cannot create {}: {e}", self.inner.dir.display());
            tracing::warn!(environment = %env_name, "Python helper off: {why}");
            return set(&mut |st| st.phase = Phase::Off(why.clone()));
        }
        if socket.as_os_str().len() > 100 {
            let why = format!("the socket path {} is too long", socket.display());
            tracing::info!(environment = %env_name, "Python helper off: {why}");
            return set(&mut |st| st.phase = Phase::Off(why.clone()));
        }
        let (tx, mut lines) = tokio::sync::mpsc::unbounded_channel();
        let mut cmd = Cmd::new(&h.python);
        cmd.arg("-c").arg(SOURCE).arg(&socket).arg(std::process::id().to_string()).args(&modules);
        // The helper's own output unbuffered, as every Python worker's (its children
        // inherit the setting); its working directory holds nothing importable.
        cmd.env("PYTHONUNBUFFERED", "1").current_dir(&self.inner.dir);
        let logs = Logs { label: format!("python helper {env_name}"), sink: Sink::Channel(tx), tail_lines: 20 };
        let process = match self.inner.runner.spawn(&cmd, logs) {
            Ok(p) => p,
            Err(e) => {
                let why = format!("cannot start {}: {e}", h.python.display());
                tracing::warn!(environment = %env_name, "Python helper off: {why}");
                return set(&mut |st| st.phase = Phase::Off(why.clone()));
            }
        };
        set(&mut |st| st.pid = Some(process.pid()));
        tracing::info!(environment = %env_name, pid = process.pid(), "starting a pre-imported Python helper");
        let mut unsafe_why: Option<String> = None;
        let mut ready = false;
        let mut lines_open = true;
        let started = tokio::time::Instant::now();
        let mut holds_changed = h.holds_changed.subscribe();
        let stopped = loop {
            let deadline = if ready { self.expiry(&h) } else { Some(started + START_LIMIT) };
            set(&mut |st| st.wake = deadline);
            let timer = async move {
                match deadline {
                    Some(at) => tokio::time::sleep_until(at).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                _ = stop.cancelled() => break true,
                _ = process.exited() => break false,
                // A hold came or went: the loop arms the timer again (or drops it).
                _ = holds_changed.changed() => {}
                line = lines.recv(), if lines_open => {
                    let Some(line) = line else {
                        lines_open = false;
                        continue;
                    };
                    if let Some(rest) = line.strip_prefix("porch-zygote: ready") {
                        ready = true;
                        tracing::info!(environment = %env_name, pid = process.pid(), "Python helper ready{rest}");
                        let socket = socket.clone();
                        set(&mut |st| st.phase = Phase::Ready { socket: socket.clone() });
                    } else if let Some(why) = line.strip_prefix("porch-zygote: unsafe: ") {
                        unsafe_why = Some(why.to_string());
                    }
                }
                () = timer => {
                    if !ready {
                        let why = format!("it did not finish importing within {START_LIMIT:?}");
                        tracing::warn!(environment = %env_name, "Python helper off: {why}");
                        set(&mut |st| st.phase = Phase::Off(why.clone()));
                        process.stop(Duration::from_secs(2)).await;
                        let _ = std::fs::remove_file(&socket);
                        return;
                    }
                    if h.views.open() {
                        // A view goes on now (a WebSocket session): it counts from now, and
                        // again when it ends.
                        h.views.touch();
                        continue;
                    }
                    // Otherwise the loop arms the timer from the last view, which is where
                    // it already was unless a view or a hold came since.
                    if self.expiry(&h).is_some_and(|at| tokio::time::Instant::now() >= at) {
                        tracing::info!(environment = %env_name, "no view of this environment's apps for 24 hours; stopping its Python helper");
                        set(&mut |st| { st.phase = Phase::Idle; st.pid = None; });
                        break true;
                    }
                }
            }
        };
        set(&mut |st| st.wake = None);
        let _ = std::fs::remove_file(&socket);
        if stopped {
            process.stop(Duration::from_secs(2)).await;
            return;
        }
        let exit = process.exited().await;
        if let Some(why) = unsafe_why {
            tracing::warn!(environment = %env_name, "Python helper off, apps in this environment start plainly: {why}");
            return set(&mut |st| {
                st.phase = Phase::Off(format!("unsafe to fork: {why}"));
                st.pid = None;
            });
        }
        let tail = process.tail().join("\n");
        let mut again = false;
        set(&mut |st| {
            st.crashes += 1;
            st.pid = None;
            if st.crashes >= 2 {
                st.phase = Phase::Off(format!("it crashed twice (last: {exit})"));
            } else {
                again = true;
            }
        });
        if again {
            tracing::warn!(environment = %env_name, %exit, "Python helper crashed; restarting it once\n{tail}");
            if !self.inner.cancel.is_cancelled() && self.enabled() {
                self.start(&h);
            }
        } else {
            tracing::warn!(
                environment = %env_name, %exit,
                "Python helper crashed again; switched off for this environment (apps start plainly)\n{tail}"
            );
        }
    }

    /// Forks a worker from the helper of `python`: the command `program args…` with `env`
    /// (on top of Porch's environment) in `cwd`, its output to `logs`. Any error means
    /// "start it plainly".
    pub async fn fork(
        &self,
        python: &Path,
        program: &Path,
        args: &[String],
        env: &[(String, String)],
        cwd: &Path,
        logs: Logs,
    ) -> Result<Process, ForkError> {
        if !self.enabled() {
            return Err(ForkError::Off);
        }
        let h = self.helper(python);
        h.views.touch();
        let socket = {
            let st = lock(&h.state);
            match &st.phase {
                Phase::Ready { socket } => {
                    if st.stamp != stamp(python) {
                        drop(st);
                        tracing::info!(environment = %python.display(), "environment rebuilt; replacing its Python helper");
                        self.start(&h);
                        return Err(ForkError::Stale);
                    }
                    socket.clone()
                }
                Phase::Off(why) => return Err(ForkError::HelperOff(why.clone())),
                Phase::Starting => return Err(ForkError::NotReady),
                Phase::Idle => {
                    let restart = !st.modules.is_empty();
                    drop(st);
                    if restart {
                        self.start(&h);
                    }
                    return Err(ForkError::NotReady);
                }
            }
        };
        let request = serde_json::json!({
            "program": program,
            "args": args,
            "env": env,
            "cwd": cwd,
        });
        let runner = self.inner.runner.clone();
        let handshake = async move {
            let mut stream = tokio::net::UnixStream::connect(&socket).await.map_err(ForkError::Io)?;
            let mut line = request.to_string();
            line.push('\n');
            stream.write_all(line.as_bytes()).await.map_err(ForkError::Io)?;
            let answer = read_line(&mut stream).await.map_err(ForkError::Io)?;
            if let Some(why) = answer.strip_prefix("error ") {
                return Err(ForkError::Refused(why.to_string()));
            }
            let pid: u32 = answer
                .strip_prefix("ok ")
                .and_then(|p| p.trim().parse().ok())
                .ok_or_else(|| ForkError::Io(std::io::Error::other(format!("unexpected answer {answer:?}"))))?;
            let claim = claim(&runner, pid)?;
            stream.write_all(b"go\n").await.map_err(ForkError::Io)?;
            Ok((claim, stream))
        };
        let (claim, stream) = match tokio::time::timeout(FORK_LIMIT, handshake).await {
            Ok(r) => r?,
            Err(_) => return Err(ForkError::TimedOut(FORK_LIMIT)),
        };
        lock(&h.state).forks += 1;
        Ok(into_process(claim, stream, logs))
    }

    /// Every helper, for the Processes view.
    pub fn list(&self) -> Vec<HelperInfo> {
        let helpers: Vec<Arc<Helper>> = lock(&self.inner.helpers).values().cloned().collect();
        let mut out: Vec<HelperInfo> = helpers
            .iter()
            .map(|h| {
                let st = lock(&h.state);
                let (state, reason) = match &st.phase {
                    Phase::Idle => ("stopped", None),
                    Phase::Starting => ("starting", None),
                    Phase::Ready { .. } => ("ready", None),
                    Phase::Off(why) => ("off", Some(why.clone())),
                };
                let running = matches!(st.phase, Phase::Starting | Phase::Ready { .. });
                let held = !st.holds.is_empty();
                let expires = (running && !held).then(|| {
                    // A view going on counts as one now.
                    let left = if h.views.open() {
                        KEEP_FOR
                    } else {
                        (h.views.last() + KEEP_FOR).saturating_duration_since(tokio::time::Instant::now())
                    };
                    crate::time::after(left)
                });
                HelperInfo {
                    environment: h.python.parent().and_then(Path::parent).unwrap_or(&h.python).display().to_string(),
                    state: state.to_string(),
                    reason,
                    pid: st.pid,
                    memory: st.pid.map(crate::platform::pss).unwrap_or(0),
                    modules: st.modules.iter().map(|m| m.to_string()).collect(),
                    forks: st.forks,
                    items: st.items.iter().cloned().collect(),
                    held,
                    expires,
                }
            })
            .collect();
        out.sort_by(|a, b| a.environment.cmp(&b.environment));
        out
    }
}

/// Reads one `\n`-terminated line byte by byte (what follows belongs to the worker).
async fn read_line(stream: &mut tokio::net::UnixStream) -> std::io::Result<String> {
    let mut line = Vec::new();
    loop {
        let mut b = [0u8; 1];
        if stream.read(&mut b).await? == 0 {
            return Err(std::io::Error::new(std::io::ErrorKind::UnexpectedEof, "the helper closed the connection"));
        }
        if b[0] == b'\n' || line.len() > 4096 {
            return Ok(String::from_utf8_lossy(&line).into_owned());
        }
        line.push(b[0]);
    }
}

#[cfg(target_os = "linux")]
type ClaimT = crate::runner::Claim;
#[cfg(not(target_os = "linux"))]
type ClaimT = ();

#[cfg(target_os = "linux")]
fn claim(runner: &Runner, pid: u32) -> Result<ClaimT, ForkError> {
    runner.claim_child(pid).map_err(ForkError::Io)
}

#[cfg(not(target_os = "linux"))]
fn claim(_runner: &Runner, _pid: u32) -> Result<ClaimT, ForkError> {
    Err(ForkError::Off)
}

#[cfg(target_os = "linux")]
fn into_process(claim: ClaimT, stream: tokio::net::UnixStream, logs: Logs) -> Process {
    claim.into_process(stream, logs)
}

#[cfg(not(target_os = "linux"))]
fn into_process(_claim: ClaimT, _stream: tokio::net::UnixStream, _logs: Logs) -> Process {
    unreachable!("claim() fails first on this system")
}

#[cfg(test)]
mod tests;
