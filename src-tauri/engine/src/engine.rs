//! The engine handle: owns the store, routes, tasks, caches and every background task.
//!
//! `Engine` is a cheap `Clone` over `Arc<Inner>`. `Engine::open` gives a handle with no
//! listener (the CLI uses it to act on a data directory directly); `Engine::start` also
//! serves HTTP on a listener that the caller already bound. All long-lived work is
//! spawned on one `TaskTracker` with child tokens of one root `CancellationToken`, so
//! `shutdown(grace)` stops everything in order.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::routes::{RouteTable, Routes};
use crate::static_site::FileCache;
use crate::store::Store;
use crate::tasks::Tasks;

/// Handle to a running (or merely opened) engine.
#[derive(Clone, Debug)]
pub struct Engine {
    pub(crate) inner: Arc<Inner>,
}

#[derive(Debug)]
pub(crate) struct Inner {
    pub(crate) config: Config,
    pub(crate) store: Store,
    pub(crate) routes: Routes,
    pub(crate) tasks: Tasks,
    pub(crate) files: FileCache,
    pub(crate) events: broadcast::Sender<Event>,
    pub(crate) owner_guid: String,
    pub(crate) cancel: CancellationToken,
    pub(crate) tracker: TaskTracker,
    pub(crate) server: OnceLock<ServerInfo>,
    pub(crate) supervisor: crate::supervisor::Supervisor,
    /// Starts every child process (workers, renders, installers, probes).
    pub(crate) runner: crate::runner::Runner,
    pub(crate) environments: crate::environment::Environments,
    /// Serialises handing items to the supervisor (see `Engine::supervise`).
    pub(crate) supervise_lock: tokio::sync::Mutex<()>,
    /// Render slots (one render at a time by default).
    pub(crate) render_slots: tokio::sync::Semaphore,
    /// Items with a render queued or running. A std lock: set updates only.
    pub(crate) rendering: std::sync::Mutex<std::collections::HashSet<(i64, i64)>>,
    /// Failed key attempts per client address.
    pub(crate) key_failures: crate::keys::FailureLimiter,
    /// A key valid for this run only, never stored: the desktop shell's own calls.
    pub(crate) session_key: String,
    /// While set, viewers on other computers get a "paused" page (the publisher's tray switch).
    pub(crate) sharing_paused: std::sync::atomic::AtomicBool,
    /// Linked folders followed by this (serving) engine.
    pub(crate) links: crate::links::Followers,
    /// Serialised content lists, valid until the next change (see `cached_list`).
    pub(crate) list_cache: tokio::sync::Mutex<ListCache>,
    /// Moves on every event this engine emits: the content lists' validity (see `cached_list`).
    pub(crate) generation: std::sync::atomic::AtomicU64,
    /// The publisher's saved server settings and the runtime defaults they make. A std lock:
    /// read and replaced whole, never held across an await.
    pub(crate) saved: std::sync::RwLock<Saved>,
    /// Serialises changes to the saved settings (read, change, write).
    pub(crate) settings_lock: tokio::sync::Mutex<()>,
    /// Who watches viewers (the gateway's observer hook), fixed at start.
    pub(crate) viewers: crate::gateway::Observers,
    /// Tells the schedule loop that schedules changed (see `crate::schedules`).
    pub(crate) schedule_wake: crate::scheduler::driver::Wake,
}

/// Saved server settings with what follows from them.
#[derive(Debug, Clone)]
pub(crate) struct Saved {
    pub(crate) doc: crate::settings::SavedSettings,
    pub(crate) runtime_defaults: crate::supervisor::RuntimeSettings,
}

/// Content lists as sent, keyed by what they depend on besides the database.
#[derive(Debug, Default)]
pub(crate) struct ListCache {
    /// The engine's `generation` the entries were built at.
    generation: u64,
    entries: Vec<(String, bytes::Bytes)>,
}

/// Where a serving engine listens.
#[derive(Debug, Clone)]
pub(crate) struct ServerInfo {
    pub(crate) local_addr: SocketAddr,
}

/// What a running server writes for the CLI (`porch.run.json` in the data dir).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RuntimeInfo {
    /// Server process id.
    pub pid: u32,
    /// Loopback URL of the server, e.g. `http://127.0.0.1:3939/`.
    pub url: String,
    /// The origin viewers use.
    pub origin: String,
}

impl Engine {
    /// Opens the data directory and store without serving anything.
    ///
    /// The caller holds the folder's lock (`data_dir::DataLock`): one writer per folder.
    /// The folder is made 0700 and its top-level files 0600 (see `data_dir`).
    pub async fn open(mut config: Config) -> Result<Engine> {
        crate::data_dir::create_private_dir(&config.data_dir)?;
        crate::data_dir::create_private_dir(&config.data_dir.join("logs"))?;
        for dir in [config.bundles_dir(), config.tmp_dir()] {
            tokio::fs::create_dir_all(&dir).await.map_err(Error::io("creating the data directory", &dir))?;
        }
        // Children run in their bundle folders: every path handed to them must be absolute.
        config.data_dir = tokio::fs::canonicalize(&config.data_dir)
            .await
            .map_err(Error::io("resolving the data directory", &config.data_dir))?;
        // SQLite gives the -wal and -shm files the database file's mode.
        crate::data_dir::create_private_file(&config.db_path())?;
        let store = Store::open(&config.db_path()).await?;
        crate::data_dir::tighten(&config.data_dir)?;
        let owner_guid = store.setting_or_init("owner_guid", || uuid::Uuid::new_v4().to_string()).await?;
        let saved = Engine::make_saved(&config, crate::settings::load(&store).await?);
        let (events, _) = broadcast::channel(256);
        let cancel = CancellationToken::new();
        let tracker = TaskTracker::new();
        let runner = crate::runner::Runner::new(tracker.clone(), cancel.clone(), Duration::from_secs(5));
        let supervisor = crate::supervisor::Supervisor::with_runner(
            config.data_dir.join("logs"),
            runner.clone(),
            cancel.clone(),
            tracker.clone(),
            Duration::from_secs(5),
        );
        let mut environments = crate::environment::Environments::new(&config.data_dir).with_runner(runner.clone());
        if let Some(dir) = &config.uv_cache_dir {
            environments = environments.with_uv_cache(dir.clone());
        }
        let engine = Engine {
            inner: Arc::new(Inner {
                tasks: Tasks::new(store.clone()),
                routes: Routes::default(),
                files: FileCache::default(),
                events,
                owner_guid,
                cancel,
                tracker,
                server: OnceLock::new(),
                supervisor,
                runner,
                environments,
                supervise_lock: tokio::sync::Mutex::new(()),
                render_slots: tokio::sync::Semaphore::new(config.render_concurrency.max(1)),
                rendering: std::sync::Mutex::new(std::collections::HashSet::new()),
                key_failures: crate::keys::FailureLimiter::default(),
                session_key: crate::keys::random_token(32),
                sharing_paused: std::sync::atomic::AtomicBool::new(false),
                links: crate::links::Followers::default(),
                list_cache: tokio::sync::Mutex::new(ListCache::default()),
                generation: std::sync::atomic::AtomicU64::new(0),
                saved: std::sync::RwLock::new(saved),
                settings_lock: tokio::sync::Mutex::new(()),
                viewers: crate::gateway::Observers::default(),
                schedule_wake: crate::scheduler::driver::Wake::default(),
                store,
                config,
            }),
        };
        engine.refresh_routes().await?;
        Ok(engine)
    }

    /// Opens the engine and serves HTTP on `listener` until [`Engine::shutdown`].
    pub async fn start(config: Config, listener: tokio::net::TcpListener) -> Result<Engine> {
        let engine = Engine::open(config).await?;
        let local_addr = listener.local_addr().map_err(Error::io("reading the bound address", ""))?;
        let interrupted = engine.inner.store.fail_interrupted_tasks(&crate::time::now()).await?;
        engine.inner.store.fail_interrupted_renders(&crate::time::now()).await?;
        if interrupted > 0 {
            tracing::warn!(interrupted, "marked deploy tasks of an earlier run as failed");
        }
        engine.clean_scratch().await;
        // Orphaned grandchildren of what Porch runs come back to it and are reaped.
        engine.inner.runner.adopt_orphans();
        let _ = engine.inner.server.set(ServerInfo { local_addr });
        engine.write_runtime_file().await?;
        let app = crate::api::app(engine.clone());
        let cancel = engine.inner.cancel.clone();
        let (limits, tracker) = (engine.inner.config.http, engine.inner.tracker.clone());
        engine.inner.tracker.spawn(crate::listener::serve(listener, app, limits, cancel, tracker));
        engine.supervise_all();
        engine.spawn_schedule_loop();
        engine.reconcile_links().await;
        tracing::info!(%local_addr, data_dir = %engine.inner.config.data_dir.display(), "Porch is serving");
        Ok(engine)
    }

    /// Stops serving, waits up to `grace` for in-flight work, and removes the runtime file.
    pub async fn shutdown(&self, grace: Duration) {
        self.inner.cancel.cancel();
        self.inner.tracker.close();
        if tokio::time::timeout(grace, self.inner.tracker.wait()).await.is_err() {
            tracing::warn!(remaining = self.inner.tracker.len(), "tasks still running after the grace period");
        }
        if self.inner.server.get().is_some() {
            let _ = tokio::fs::remove_file(self.inner.config.runtime_file()).await;
            let _ = tokio::fs::remove_file(crate::data_dir::credential_path(&self.inner.config.data_dir)).await;
        }
    }

    /// A key accepted for this run only (never stored), for in-process callers such as the
    /// desktop shell. SECURITY: it never leaves the process except to the app's own webview.
    pub fn session_key(&self) -> &str {
        &self.inner.session_key
    }

    /// Pauses or resumes sharing with other computers (this computer keeps full access).
    pub fn set_sharing_paused(&self, paused: bool) {
        self.inner.sharing_paused.store(paused, std::sync::atomic::Ordering::Relaxed);
        tracing::info!(paused, "sharing with the network");
        self.emit(Event::LibraryChanged);
    }

    /// Whether sharing with other computers is paused.
    pub fn sharing_paused(&self) -> bool {
        self.inner.sharing_paused.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// A receiver of state changes.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.inner.events.subscribe()
    }

    /// The configuration the engine runs with.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The address the server is bound to, if serving.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.inner.server.get().map(|s| s.local_addr)
    }

    /// URLs viewers on the network can open (LAN addresses when bound to all interfaces).
    pub fn viewer_urls(&self) -> Vec<String> {
        let Some(addr) = self.local_addr() else {
            return self.inner.config.public_url.iter().map(|u| format!("{}/", u.trim_end_matches('/'))).collect();
        };
        let port = addr.port();
        let mut urls: Vec<String> =
            self.inner.config.public_url.iter().map(|u| format!("{}/", u.trim_end_matches('/'))).collect();
        if addr.ip().is_unspecified() {
            for ip in lan_addresses() {
                urls.push(url_for(ip, port));
            }
            urls.push(url_for(IpAddr::from([127, 0, 0, 1]), port));
        } else {
            urls.push(url_for(addr.ip(), port));
        }
        urls.dedup();
        urls
    }

    /// The origin used for absolute URLs when there is no request to take a Host from.
    pub fn default_origin(&self) -> String {
        self.viewer_urls()
            .into_iter()
            .next()
            .map(|u| u.trim_end_matches('/').to_string())
            .unwrap_or_else(|| format!("http://localhost:{}", crate::config::DEFAULT_PORT))
    }

    pub(crate) fn emit(&self, event: Event) {
        // Every change is emitted after it is stored, so cached lists built before it go stale.
        self.inner.generation.fetch_add(1, std::sync::atomic::Ordering::AcqRel);
        let _ = self.inner.events.send(event);
    }

    /// Reloads the routing table from the store.
    pub(crate) async fn refresh_routes(&self) -> Result<()> {
        let rows = self.inner.store.list_content(None).await?;
        self.inner.routes.replace(RouteTable::build(&rows));
        Ok(())
    }

    /// The extracted folder of a bundle.
    pub(crate) fn bundle_dir(&self, bundle_id: i64) -> PathBuf {
        self.inner.config.bundles_dir().join(bundle_id.to_string())
    }

    /// The stored archive of a bundle.
    pub(crate) fn bundle_archive(&self, bundle_id: i64) -> PathBuf {
        self.inner.config.bundles_dir().join(format!("{bundle_id}.tar.gz"))
    }

    async fn clean_scratch(&self) {
        let tmp = self.inner.config.tmp_dir();
        if let Ok(mut rd) = tokio::fs::read_dir(&tmp).await {
            while let Ok(Some(e)) = rd.next_entry().await {
                let p = e.path();
                let _ = if p.is_dir() { tokio::fs::remove_dir_all(&p).await } else { tokio::fs::remove_file(&p).await };
            }
        }
    }

    /// Where this serving engine can be reached from this computer, for the lock file and
    /// the runtime file; `None` when not serving.
    pub fn runtime_info(&self) -> Option<RuntimeInfo> {
        let addr = self.local_addr()?;
        let loopback = if addr.ip().is_unspecified() || addr.ip().is_loopback() {
            url_for(
                if addr.is_ipv6() { IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]) } else { IpAddr::from([127, 0, 0, 1]) },
                addr.port(),
            )
        } else {
            url_for(addr.ip(), addr.port())
        };
        Some(RuntimeInfo { pid: std::process::id(), url: loopback, origin: self.default_origin() })
    }

    /// Writes the runtime file and the local credential (this run's session key), both
    /// 0600: CLI commands of the same user call the API with it.
    async fn write_runtime_file(&self) -> Result<()> {
        let info = self.runtime_info().expect("invariant: called once the server address is set");
        let dir = self.inner.config.data_dir.clone();
        let (runtime_file, key) = (self.inner.config.runtime_file(), self.inner.session_key.clone());
        let json = serde_json::to_vec_pretty(&info).unwrap_or_default();
        tokio::task::spawn_blocking(move || {
            crate::data_dir::write_private(&crate::data_dir::credential_path(&dir), key.as_bytes())?;
            crate::data_dir::write_private(&runtime_file, &json)
        })
        .await
        .map_err(|e| Error::Invalid(format!("writing the runtime file stopped: {e}")))?
    }

    /// Hands every active interactive item to the supervisor (workers for `min_processes`
    /// start now; the rest on the first request). Runs in the background: preparing an
    /// environment can take a while and must not delay serving.
    pub(crate) fn supervise_all(&self) {
        let engine = self.clone();
        self.inner.tracker.spawn(async move {
            let rows = match engine.inner.store.list_content(None).await {
                Ok(rows) => rows,
                Err(e) => return tracing::warn!(error = %e, "cannot list content to supervise"),
            };
            for c in rows.iter().filter(|c| crate::runtime_kind(&c.app_mode) == crate::RuntimeKind::Interactive) {
                engine.supervise(c).await;
            }
        });
    }

    /// The content list for `key` as sent, built by `build` unless one was built since the
    /// last change. Only this process writes the database (one writer per data folder; CLI
    /// commands go through the API), and every change emits an event after it is stored,
    /// which moves `generation`. The generation is read before building, so a list built
    /// while a change lands is replaced on the next call.
    pub(crate) async fn cached_list<F, Fut>(&self, key: &str, build: F) -> Result<bytes::Bytes>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<bytes::Bytes>>,
    {
        // A tokio lock held across the build: concurrent list calls wait and share the result.
        let mut cache = self.inner.list_cache.lock().await;
        let generation = self.inner.generation.load(std::sync::atomic::Ordering::Acquire);
        if cache.generation != generation {
            cache.entries.clear();
            cache.generation = generation;
        }
        if let Some((_, body)) = cache.entries.iter().find(|(k, _)| k == key) {
            return Ok(body.clone());
        }
        let body = build().await?;
        if cache.entries.len() >= 16 {
            cache.entries.remove(0);
        }
        cache.entries.push((key.to_string(), body.clone()));
        Ok(body)
    }

    /// Whether this engine serves (and so supervises processes).
    pub(crate) fn is_serving(&self) -> bool {
        self.inner.server.get().is_some()
    }
}

fn url_for(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(v4) => format!("http://{v4}:{port}/"),
        IpAddr::V6(v6) => format!("http://[{v6}]:{port}/"),
    }
}

/// Non-loopback IPv4 addresses of this machine.
fn lan_addresses() -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter(|i| !i.is_loopback())
        .map(|i| i.ip())
        .filter(|ip| ip.is_ipv4())
        .collect();
    out.sort();
    out.dedup();
    out
}

/// The server holding `config`'s data folder, if one does and it listens already (read
/// from the lock file: see `data_dir`).
pub fn running_server(config: &Config) -> Option<RuntimeInfo> {
    let h = crate::data_dir::holder(&config.data_dir)??;
    match (h.role, h.url, h.origin) {
        (crate::data_dir::Role::Server, Some(url), Some(origin)) => Some(RuntimeInfo { pid: h.pid, url, origin }),
        _ => None,
    }
}
