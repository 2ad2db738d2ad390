//! The supervisor: the only owner of content processes.
//!
//! One actor task per interactive item (`app.rs`) owns that item's instances and decides,
//! per Connect's runtime settings, when to start, route to, drain and stop them. The
//! [`Supervisor`] handle finds or creates the actor and talks to it with messages and
//! oneshot replies; nothing else touches a child process.
//!
//! Routing follows features.md §2.1: start a worker when none is live and hold the request
//! until it is ready (bounded by `init_timeout`); start one more in the background when
//! utilisation `(Σc + 1) / (P × M)` exceeds the load factor; route to the ready worker
//! with the fewest connections that has room; keep a session on its worker (affinity);
//! reject with `AtCapacity` when every worker is full and no more may start. Idle workers
//! above `min_processes` are marked draining before they are signalled, so no request is
//! ever routed to a dying worker.
//!
//! Workers are started through a [`worker::Launcher`]: in production the process runner
//! (`crate::runner`), which puts each in its own process group that dies with Porch and
//! stops it with SIGTERM, a grace period, then SIGKILL of the group; in tests a fake child,
//! so the state machine runs on tokio's paused clock.
//!
//! Routing a request to a warm app does not involve the actor: it publishes a snapshot of
//! its routable workers, and [`Supervisor::acquire`] leases from it lock-free with the same
//! rule (`fast.rs`), falling back to a message only when the actor must act. Each worker's
//! connections are counted in its `Gate`, which the actor shuts before stopping it.
//!
//! An actor sleeps until something is due (a waiter's init timeout, an idle worker's idle
//! timeout, a drained worker to stop) or a message arrives: an item with no worker never
//! wakes. Memory and hang checks run in a per-worker task only while that worker is ready.
//!
//! A [`Lease`] of an item whose workers may fork from a pre-imported Python helper is also a
//! view of that helper (`AppDef::views`, `crate::zygote::Views`): two atomics, written where
//! the lease is made and dropped, which is all the helper's 24 hours need.

mod app;
mod fast;
mod instance;
#[cfg(test)]
mod tests;
mod worker;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;

use serde::Serialize;
use tokio::sync::{mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use instance::{InstanceInfo, State as InstanceState};

/// Connect's runtime settings for one item.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct RuntimeSettings {
    /// Ceiling on concurrent workers.
    pub max_processes: usize,
    /// Workers kept alive with no connections.
    pub min_processes: usize,
    /// Connections one worker accepts.
    pub max_conns_per_process: usize,
    /// How eagerly new workers start, 0..=1.
    pub load_factor: f64,
    /// How long a worker lives after its last connection closes.
    pub idle_timeout: Duration,
    /// How long a new worker has to become ready.
    pub init_timeout: Duration,
    /// Longest silence (either way) on a viewer's connection; zero means never.
    pub connection_timeout: Duration,
    /// Longest silence from the viewer; zero means never.
    pub read_timeout: Duration,
    /// Resident memory (bytes) a worker and its children may use before it is replaced;
    /// zero means no limit.
    pub memory_limit: u64,
    /// How long a ready worker may go without answering its health check before it is
    /// replaced; zero means never.
    pub hang_timeout: Duration,
}

impl Default for RuntimeSettings {
    fn default() -> Self {
        RuntimeSettings {
            max_processes: 3,
            min_processes: 0,
            max_conns_per_process: 20,
            load_factor: 0.5,
            idle_timeout: Duration::from_secs(5),
            init_timeout: Duration::from_secs(60),
            connection_timeout: Duration::from_secs(3600),
            read_timeout: Duration::from_secs(3600),
            memory_limit: crate::config::DEFAULT_APP_MEMORY_LIMIT,
            hang_timeout: crate::config::DEFAULT_APP_HANG_TIMEOUT,
        }
    }
}

/// How the proxy forwards the path.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum PrefixMode {
    /// Forward the path below the item's base path (`/content/<guid>` removed).
    Strip,
    /// Forward the full external path (the app was told its prefix).
    PassThrough,
}

/// Everything needed to start one worker; produced by a launcher, consumed here.
#[derive(Debug, Clone)]
pub struct Spawn {
    /// The program.
    pub program: PathBuf,
    /// Its arguments.
    pub args: Vec<String>,
    /// Extra environment variables.
    pub env: Vec<(String, String)>,
    /// Working directory.
    pub cwd: PathBuf,
    /// The loopback port it will listen on.
    pub port: u16,
    /// Path polled on the app port until it answers.
    pub readiness_path: String,
    /// Whether any HTTP status means ready (else only < 500).
    pub ready_on_any_status: bool,
    /// Path handling for the proxy.
    pub prefix: PrefixMode,
    /// Support files written before spawning.
    pub files: Vec<(PathBuf, String)>,
    /// Fork it from this environment's pre-imported Python helper when it can (else it is
    /// spawned plainly).
    pub fork: Option<ForkVia>,
}

/// A pre-imported Python helper a worker may be forked from (`crate::zygote`).
#[derive(Debug, Clone)]
pub struct ForkVia {
    /// The engine's helpers.
    pub zygotes: crate::zygote::Zygotes,
    /// The environment's interpreter (which helper).
    pub python: PathBuf,
}

/// Builds a [`Spawn`] for a given port (the launcher, bound to one bundle).
pub type SpawnFactory = Arc<dyn Fn(u16) -> Result<Spawn, String> + Send + Sync>;

/// One deployable version of an interactive item.
#[derive(Clone)]
pub struct AppDef {
    /// The item's guid.
    pub guid: String,
    /// The bundle being served; a new one drains the old workers (blue/green).
    pub bundle_id: i64,
    /// Runtime settings.
    pub settings: RuntimeSettings,
    /// How to start a worker.
    pub factory: SpawnFactory,
    /// The views of the pre-imported Python helper its workers fork from: each lease
    /// counts as a view of the item while it lasts (`crate::zygote::Views`).
    pub views: Option<crate::zygote::Views>,
}

impl std::fmt::Debug for AppDef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppDef").field("guid", &self.guid).field("bundle_id", &self.bundle_id).finish()
    }
}

/// Why a request could not be given a worker.
#[derive(Debug, Clone, thiserror::Error, PartialEq)]
pub enum RouteError {
    /// Every worker is full and no more may start.
    #[error("at capacity: all {0} processes are serving their maximum number of connections")]
    AtCapacity(usize),
    /// The worker did not become ready in time.
    #[error("the app did not start within {0:?}")]
    StartTimeout(Duration),
    /// The worker failed to start or crashed while starting.
    #[error("the app failed to start: {message}")]
    StartFailed {
        /// What happened.
        message: String,
        /// The last lines it printed.
        last_lines: Vec<String>,
    },
    /// The item is not (or no longer) supervised.
    #[error("the app is not running")]
    Gone,
}

/// A routed request's claim on a worker; dropping it ends the connection.
#[derive(Debug)]
pub struct Lease {
    /// Worker id (for affinity).
    pub instance: u64,
    /// Its loopback port.
    pub port: u16,
    /// Path handling.
    pub prefix: PrefixMode,
    /// Idle limits for long-lived exchanges (WebSockets); zero means never.
    pub connection_timeout: Duration,
    /// Limit on silence from the viewer; zero means never.
    pub read_timeout: Duration,
    gate: Arc<instance::Gate>,
    app: Arc<fast::Shared>,
    /// The view this lease is, for the item's Python helper (ends on drop).
    _view: Option<crate::zygote::View>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.app.released(&self.gate, self.instance);
    }
}

/// Whether a request must be held until a worker is ready, or may be answered at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wait {
    /// Hold up to the init timeout (API clients).
    UntilReady,
    /// Hold at most this long (browsers get a "starting" page after it).
    AtMost(Duration),
}

/// Handle to every supervised item.
#[derive(Clone, Debug)]
pub struct Supervisor {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    // Read by every request without a lock; replaced whole when an item is added or
    // removed (rare). Writers serialise on `apps_write`.
    apps: ArcSwap<HashMap<String, Arc<fast::Shared>>>,
    apps_write: std::sync::Mutex<()>,
    logs_dir: PathBuf,
    cancel: CancellationToken,
    tracker: TaskTracker,
    grace: Duration,
    launcher: Arc<dyn worker::Launcher>,
}

impl Supervisor {
    /// A supervisor writing per-item logs under `logs_dir`, with a runner of its own on
    /// `tracker` and `cancel`.
    pub fn new(logs_dir: PathBuf, cancel: CancellationToken, tracker: TaskTracker, grace: Duration) -> Supervisor {
        let runner = crate::runner::Runner::new(tracker.clone(), cancel.clone(), grace);
        Supervisor::with_runner(logs_dir, runner, cancel, tracker, grace)
    }

    /// A supervisor starting its workers with `runner` (the engine's).
    pub fn with_runner(
        logs_dir: PathBuf,
        runner: crate::runner::Runner,
        cancel: CancellationToken,
        tracker: TaskTracker,
        grace: Duration,
    ) -> Supervisor {
        let launcher = Arc::new(worker::RealLauncher::new(runner));
        Supervisor::with_launcher(logs_dir, launcher, cancel, tracker, grace)
    }

    /// A supervisor starting its workers with `launcher` (fake children in tests).
    pub(crate) fn with_launcher(
        logs_dir: PathBuf,
        launcher: Arc<dyn worker::Launcher>,
        cancel: CancellationToken,
        tracker: TaskTracker,
        grace: Duration,
    ) -> Supervisor {
        let apps = ArcSwap::from_pointee(HashMap::new());
        let apps_write = std::sync::Mutex::new(());
        Supervisor { inner: Arc::new(Inner { apps, apps_write, logs_dir, cancel, tracker, grace, launcher }) }
    }

    fn app(&self, guid: &str) -> Option<Arc<fast::Shared>> {
        self.inner.apps.load().get(guid).filter(|a| !a.tx.is_closed()).cloned()
    }

    fn actor(&self, guid: &str) -> Option<mpsc::UnboundedSender<app::Msg>> {
        self.app(guid).map(|a| a.tx.clone())
    }

    /// Changes the map of items (copy on write; writers take turns).
    fn edit_apps<T>(&self, f: impl FnOnce(&mut HashMap<String, Arc<fast::Shared>>) -> T) -> T {
        let _turn = self.inner.apps_write.lock().unwrap_or_else(|p| p.into_inner());
        let mut map = HashMap::clone(&self.inner.apps.load());
        let out = f(&mut map);
        self.inner.apps.store(Arc::new(map));
        out
    }

    /// Installs (or replaces) an item's definition. A new bundle drains the old workers;
    /// `min_processes` workers start at once.
    pub fn install(&self, def: AppDef) {
        let guid = def.guid.clone();
        if let Some(app) = self.app(&guid) {
            let change = app.expect_change();
            if app.tx.send(app::Msg::Install(Box::new(def.clone()), change)).is_ok() {
                return;
            }
        }
        let (tx, rx) = mpsc::unbounded_channel();
        let shared = Arc::new(fast::Shared::new(tx));
        let app = app::App::new(
            def,
            shared.clone(),
            &self.inner.logs_dir,
            self.inner.grace,
            self.inner.launcher.clone(),
            self.inner.tracker.clone(),
        );
        let cancel = self.inner.cancel.child_token();
        self.inner.tracker.spawn(app.run(rx, cancel));
        self.edit_apps(|apps| apps.insert(guid, shared));
    }

    /// Tries a new version of an item before switching to it (blue/green with a gate):
    /// one worker of `def` is started while the current workers keep serving; once it is
    /// ready, `def` takes over and the old workers drain. If it fails to start, the
    /// current version stays and the error (with the worker's last lines) is returned.
    /// An item not supervised yet is installed with `def` and removed again on failure.
    pub async fn promote(&self, def: AppDef) -> Result<(), RouteError> {
        let guid = def.guid.clone();
        let fresh = self.actor(&guid).is_none();
        if fresh {
            self.install(def.clone());
        }
        let app = self.app(&guid).ok_or(RouteError::Gone)?;
        let (reply, rx) = oneshot::channel();
        let change = app.expect_change();
        app.tx.send(app::Msg::Promote { def: Box::new(def), change, reply }).map_err(|_| RouteError::Gone)?;
        let result = rx.await.unwrap_or(Err(RouteError::Gone));
        if result.is_err() && fresh {
            self.remove(&guid).await;
        }
        result
    }

    /// Whether an item is supervised.
    pub fn has(&self, guid: &str) -> bool {
        self.actor(guid).is_some()
    }

    /// Stops all of an item's workers and forgets it.
    pub async fn remove(&self, guid: &str) {
        let app = self.edit_apps(|apps| apps.remove(guid));
        if let Some(tx) = app.map(|a| a.tx.clone()) {
            let (reply, done) = oneshot::channel();
            if tx.send(app::Msg::Shutdown { reply }).is_ok() {
                let _ = done.await;
            }
        }
    }

    /// Stops every worker of an item; the next request starts fresh ones.
    pub async fn restart(&self, guid: &str) {
        if let Some(tx) = self.actor(guid) {
            let (reply, done) = oneshot::channel();
            if tx.send(app::Msg::Restart { reply }).is_ok() {
                let _ = done.await;
            }
        }
    }

    /// Finds a worker for a request (starting one if needed). A warm app's request is
    /// leased from its routing snapshot without waking the actor (`fast.rs`).
    pub async fn acquire(&self, guid: &str, affinity: Option<u64>, wait: Wait) -> Result<Lease, RouteError> {
        let app = self.app(guid).ok_or(RouteError::Gone)?;
        if let Some(lease) = app.try_lease(affinity) {
            return Ok(lease);
        }
        let tx = app.tx.clone();
        let (reply, rx) = oneshot::channel();
        tx.send(app::Msg::Acquire { affinity, reply }).map_err(|_| RouteError::Gone)?;
        let limit = match wait {
            Wait::UntilReady => None,
            Wait::AtMost(d) => Some(d),
        };
        match limit {
            None => rx.await.map_err(|_| RouteError::Gone)?,
            Some(d) => match tokio::time::timeout(d, rx).await {
                Ok(r) => r.map_err(|_| RouteError::Gone)?,
                // The request keeps its place: the actor's reply is simply dropped.
                Err(_) => Err(RouteError::StartTimeout(d)),
            },
        }
    }

    /// The item's workers.
    pub async fn instances(&self, guid: &str) -> Vec<InstanceInfo> {
        let Some(tx) = self.actor(guid) else { return Vec::new() };
        let (reply, rx) = oneshot::channel();
        if tx.send(app::Msg::Status { reply }).is_err() {
            return Vec::new();
        }
        rx.await.unwrap_or_default()
    }

    /// Kills one worker (as a crash would); returns whether it existed.
    pub async fn kill(&self, guid: &str, instance: u64) -> bool {
        let Some(tx) = self.actor(guid) else { return false };
        let (reply, rx) = oneshot::channel();
        if tx.send(app::Msg::Kill { id: instance, reply }).is_err() {
            return false;
        }
        rx.await.unwrap_or(false)
    }

    /// The item's recent log lines.
    pub async fn log_tail(&self, guid: &str, lines: usize) -> Vec<String> {
        crate::runner::read_log_tail(&self.inner.logs_dir.join(format!("{guid}.log")), lines).await
    }

    /// Stops every worker of every item (SIGTERM, grace, SIGKILL).
    pub async fn shutdown(&self) {
        let all: Vec<String> = self.inner.apps.load().keys().cloned().collect();
        let stops = all.iter().map(|g| self.remove(g));
        futures_util::future::join_all(stops).await;
    }
}
