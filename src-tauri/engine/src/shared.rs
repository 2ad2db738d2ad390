//! What every service is handed at start-up: the configuration, the store, the event bus,
//! the task logs, the root cancellation token with its task tracker, the process runner,
//! the viewer observers, and (once serving) the bound address.
//!
//! Owns no behaviour of its own beyond deriving things from these (viewer URLs, bundle
//! paths) and spawning tracked tasks. It is not a service: it holds no capability's state,
//! so services may all read it without reading each other's fields.
//!
//! Concurrency: immutable after start-up except the bound address, a `OnceLock` set once by
//! the server before it accepts a connection, the change generation, an atomic that
//! [`Base::emit`] moves after every stored change (and its sibling for pictures, which
//! [`Base::emit_picture`] moves instead), and the network name in use (a short
//! std lock the discovery service writes when its name is announced or withdrawn). Cloning
//! a [`Shared`] is an `Arc` clone.

use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::config::Config;
use crate::events::Event;
use crate::observe::Observers;
use crate::runner::Runner;
use crate::store::Store;
use crate::tasks::Tasks;

/// The handle services hold on [`Base`].
pub type Shared = Arc<Base>;

/// The parts of a running engine that every service uses.
#[derive(Debug)]
pub struct Base {
    /// The configuration, resolved once at the edge.
    pub config: Config,
    /// The database.
    pub store: Store,
    /// Deploy and render task logs.
    pub tasks: Tasks,
    /// The root token: cancelled at shutdown.
    pub cancel: CancellationToken,
    /// Every long-lived task; shutdown waits for it.
    pub tracker: TaskTracker,
    /// Starts every child process (workers, renders, installers, probes).
    pub runner: Runner,
    /// Who watches viewers (the gateway's observer hook), fixed at start.
    pub viewers: Observers,
    events: broadcast::Sender<Event>,
    /// Moves on every event emitted: what cached views compare to know they are stale.
    generation: AtomicU64,
    /// Moves on every change of an item's picture instead (see [`Base::emit_picture`]).
    pictures: AtomicU64,
    server: OnceLock<SocketAddr>,
    /// The `.local` name announced on the network (without `.local`), while it is.
    local_name: std::sync::RwLock<Option<String>>,
    /// The key content processes get as `CONNECT_API_KEY` (see [`Base::content_key`]).
    content_key: String,
}

impl Base {
    /// The shared parts of a new engine.
    pub(crate) fn new(config: Config, store: Store, viewers: Observers) -> Shared {
        let (events, _) = broadcast::channel(256);
        let (cancel, tracker) = (CancellationToken::new(), TaskTracker::new());
        let runner = Runner::new(tracker.clone(), cancel.clone(), Duration::from_secs(5));
        Arc::new(Base {
            tasks: Tasks::new(store.clone()),
            config,
            store,
            cancel,
            tracker,
            runner,
            viewers,
            events,
            generation: AtomicU64::new(0),
            pictures: AtomicU64::new(0),
            server: OnceLock::new(),
            local_name: std::sync::RwLock::new(None),
            content_key: crate::keys::random_token(32),
        })
    }

    /// The API key every content process gets as `CONNECT_API_KEY`, as Connect gives its
    /// content a short-lived key for calls back to the server (posit-sdk's `Client()`, pins,
    /// a report reading another item). Made at start, never stored: it ends with this run.
    /// SECURITY: a content process runs as the user who owns the data folder, so it could
    /// read `porch.token` anyway; like that session key, this one is refused from another
    /// computer (`gateway::identity`), so an app that shows its environment to viewers
    /// gives them nothing to publish with.
    pub fn content_key(&self) -> &str {
        &self.content_key
    }

    /// Publishes a state change (nobody listening is fine). Every change is emitted after it
    /// is stored, so views cached before it go stale (see [`Base::generation`]).
    pub fn emit(&self, event: Event) {
        self.generation.fetch_add(1, Ordering::AcqRel);
        let _ = self.events.send(event);
    }

    /// Publishes that an item's picture (thumbnail) changed: `ContentChanged` for it, which
    /// moves the picture generation, not the change generation. Only views that show pictures
    /// (the gallery's index) compare it, so a burst of automatic captures after a burst of
    /// deploys does not rebuild the content list for every picture.
    pub fn emit_picture(&self, guid: &str) {
        self.pictures.fetch_add(1, Ordering::AcqRel);
        let _ = self.events.send(Event::ContentChanged { guid: guid.to_string() });
    }

    /// How many picture changes were emitted so far (see [`Base::emit_picture`]).
    pub fn pictures_generation(&self) -> u64 {
        self.pictures.load(Ordering::Acquire)
    }

    /// How many changes were emitted so far: a cached view built at one generation is valid
    /// until this moves. Only this process writes the data folder (one writer per folder),
    /// so every change passes through [`Base::emit`].
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// A receiver of state changes.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events.subscribe()
    }

    /// Spawns a long-lived task on the tracker, so shutdown waits for it.
    pub fn spawn<F>(&self, task: F)
    where
        F: Future<Output = ()> + Send + 'static,
    {
        self.tracker.spawn(task);
    }

    /// Records the address a serving engine listens on (once).
    pub(crate) fn set_serving(&self, addr: SocketAddr) {
        let _ = self.server.set(addr);
    }

    /// The address the server is bound to, if serving.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.server.get().copied()
    }

    /// Whether this engine serves (and so supervises processes and runs schedules); the
    /// CLI's engine only reads and writes the data folder.
    pub fn is_serving(&self) -> bool {
        self.server.get().is_some()
    }

    /// The extracted folder of a bundle.
    pub fn bundle_dir(&self, bundle_id: i64) -> PathBuf {
        self.config.bundles_dir().join(bundle_id.to_string())
    }

    /// The stored archive of a bundle.
    pub fn bundle_archive(&self, bundle_id: i64) -> PathBuf {
        self.config.bundles_dir().join(format!("{bundle_id}.tar.gz"))
    }

    /// Records the name the discovery service announces (`None`: nothing announced).
    pub(crate) fn set_local_name(&self, name: Option<String>) {
        match self.local_name.write() {
            Ok(mut g) => *g = name,
            Err(poisoned) => *poisoned.into_inner() = name,
        }
    }

    /// The `.local` name announced on the network right now (without `.local`), if any.
    pub fn local_name(&self) -> Option<String> {
        match self.local_name.read() {
            Ok(g) => g.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// `http://NAME.local:PORT` while the discovery service announces NAME.
    fn named_origin(&self) -> Option<String> {
        let (name, addr) = (self.local_name()?, self.local_addr()?);
        Some(format!("http://{name}.local:{}", addr.port()))
    }

    /// URLs viewers on the network can open: `--public-url`, then the `.local` name while it
    /// is announced, then the plain addresses (LAN addresses when bound to all interfaces),
    /// which keep working where `.local` names do not resolve.
    pub fn viewer_urls(&self) -> Vec<String> {
        let mut urls: Vec<String> =
            self.config.public_url.iter().map(|u| format!("{}/", u.trim_end_matches('/'))).collect();
        urls.extend(self.named_origin().map(|o| format!("{o}/")));
        urls.extend(self.address_urls());
        urls.dedup();
        urls
    }

    /// The plain-address URLs of the bound socket.
    fn address_urls(&self) -> Vec<String> {
        self.local_addr().map(address_urls_of).unwrap_or_default()
    }

    /// The origin [`Base::share_origin`] will give once Porch serves on `addr`, announcing
    /// `name` if given: for a CLI command run with no server, whose links are opened later.
    pub fn origin_once_serving(&self, addr: SocketAddr, name: Option<&str>) -> String {
        if let Some(u) = &self.config.public_url {
            return u.trim_end_matches('/').to_string();
        }
        match name {
            Some(name) => format!("http://{name}.local:{}", addr.port()),
            None => address_urls_of(addr)
                .first()
                .map(|u| u.trim_end_matches('/').to_string())
                .unwrap_or_else(|| format!("http://localhost:{}", addr.port())),
        }
    }

    /// The origin used for absolute URLs when there is no request to take a Host from, and
    /// handed to content as its server's address (`CONNECT_SERVER`): `--public-url`, else a
    /// plain address (content on this computer need not resolve `.local` names).
    pub fn default_origin(&self) -> String {
        self.config
            .public_url
            .iter()
            .map(|u| format!("{}/", u.trim_end_matches('/')))
            .chain(self.address_urls())
            .next()
            .map(|u| u.trim_end_matches('/').to_string())
            .unwrap_or_else(|| format!("http://localhost:{}", crate::config::DEFAULT_PORT))
    }

    /// The origin of links a publisher shares (copy buttons, QR codes, the Connect API's
    /// `content_url`): `--public-url`, else the `.local` name while announced, else
    /// [`Base::default_origin`].
    pub fn share_origin(&self) -> String {
        match (&self.config.public_url, self.named_origin()) {
            (Some(u), _) => u.trim_end_matches('/').to_string(),
            (None, Some(named)) => named,
            (None, None) => self.default_origin(),
        }
    }
}

/// The plain-address URLs of a socket bound to `addr`: the LAN addresses, then loopback,
/// when it is every interface.
fn address_urls_of(addr: SocketAddr) -> Vec<String> {
    let port = addr.port();
    if addr.ip().is_unspecified() {
        let mut urls: Vec<String> = lan_addresses().into_iter().map(|ip| url_for(ip, port)).collect();
        urls.push(url_for(IpAddr::from([127, 0, 0, 1]), port));
        urls
    } else {
        vec![url_for(addr.ip(), port)]
    }
}

/// `http://ip:port/` with IPv6 in brackets.
pub(crate) fn url_for(ip: IpAddr, port: u16) -> String {
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
