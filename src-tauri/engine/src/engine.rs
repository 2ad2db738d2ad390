//! The engine facade: builds the services at start-up and hands out their handles.
//!
//! `Engine` is a cheap `Clone`. [`Engine::open`] opens a data folder and builds every
//! service without serving anything (the CLI acts on a data folder this way);
//! [`crate::server::start`] also serves HTTP on a listener the caller already bound. All
//! long-lived work is spawned on one `TaskTracker` with child tokens of one root
//! `CancellationToken` (both in [`crate::shared`]), so [`Engine::shutdown`] stops
//! everything in order.
//!
//! The facade holds no state of its own and no operations: callers ask a service
//! (`engine.library().content(…)`, `engine.renders().render_now(…)`). The services, from
//! the bottom up (each may call only those before it):
//! [`Library`] → [`Apps`] → [`Renders`] → [`Deployer`] → [`Links`], and [`Settings`] beside
//! them over the library, apps, usage, discovery and keep-awake ([`Usage`] and [`Discovery`]
//! stand on the shared base alone; [`Awake`] on the shared base and usage's session rules, and
//! renders tell it about renders and due schedules), and [`Reach`] over the library,
//! discovery and settings.
//! See `docs/architecture.md`.

use std::net::{IpAddr, SocketAddr};

use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::broadcast;

use crate::apps::Apps;
use crate::awake::Awake;
use crate::config::Config;
use crate::deployer::Deployer;
use crate::discovery::Discovery;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::gallery::Gallery;
use crate::library::Library;
use crate::links::Links;
use crate::promote::Promote;
use crate::reach::Reach;
use crate::renders::Renders;
use crate::settings::Settings;
use crate::shared::{Base, Shared};
use crate::store::Store;
use crate::usage::Usage;

/// Handle to a running (or merely opened) engine: the services of one data folder. Cloning
/// it (every request does) is one `Arc` clone.
#[derive(Clone, Debug)]
pub struct Engine {
    services: std::sync::Arc<Services>,
}

/// The services of one data folder, built once by [`Engine::open`].
#[derive(Debug)]
struct Services {
    shared: Shared,
    library: Library,
    apps: Apps,
    renders: Renders,
    deployer: Deployer,
    links: Links,
    gallery: Gallery,
    settings: Settings,
    usage: Usage,
    promote: Promote,
    discovery: Discovery,
    awake: Awake,
    reach: Reach,
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
    /// Opens the data directory and store and builds the services, without serving.
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
        let saved = Settings::read(&config, &store).await?;
        // The usage recorder watches viewers from the start; its writer starts with the server.
        let (recorder, inbox) = crate::usage::Recorder::new(saved.doc.usage_settings());
        // Keep-awake watches viewers' app sessions from the start too, recorded or not.
        let awake_parts = crate::awake::Parts::new(saved.doc.keep_awake());
        let observers = crate::observe::Observers::new(vec![recorder.clone(), awake_parts.observer()]);
        let shared = Base::new(config, store, observers);
        let awake = Awake::new(shared.clone(), awake_parts);
        let library = Library::open(shared.clone()).await?;
        let apps = Apps::new(shared.clone(), library.clone(), saved.runtime_defaults);
        apps.zygotes().set_enabled(saved.doc.zygote());
        let renders = Renders::new(shared.clone(), library.clone(), apps.clone(), awake.clone());
        let deployer = Deployer::new(shared.clone(), library.clone(), apps.clone(), renders.clone());
        let links = Links::new(shared.clone(), library.clone(), deployer.clone());
        let gallery = Gallery::new(shared.clone(), library.clone(), apps.clone(), saved.doc.gallery());
        let usage = Usage::new(shared.clone(), recorder, inbox);
        let discovery = Discovery::new(shared.clone(), saved.doc.discovery_settings());
        let settings = Settings::new(
            shared.clone(),
            library.clone(),
            apps.clone(),
            gallery.clone(),
            usage.clone(),
            discovery.clone(),
            awake.clone(),
            saved,
        );
        let reach = Reach::new(shared.clone(), library.clone(), discovery.clone(), settings.clone());
        let promote = Promote::new(shared.clone(), library.clone(), apps.clone(), renders.clone());
        Ok(Engine {
            services: std::sync::Arc::new(Services {
                shared,
                library,
                apps,
                renders,
                deployer,
                links,
                gallery,
                settings,
                usage,
                promote,
                discovery,
                awake,
                reach,
            }),
        })
    }

    /// Content, bundles, access, secret links and API keys.
    pub fn library(&self) -> &Library {
        &self.services.library
    }

    /// Interactive content: workers, runtime settings, environment variables, logs.
    pub fn apps(&self) -> &Apps {
        &self.services.apps
    }

    /// Rendered content: renders, variants, schedules, mail.
    pub fn renders(&self) -> &Renders {
        &self.services.renders
    }

    /// Deploys, one-step deploys of a path, previews and deleting items.
    pub fn deployer(&self) -> &Deployer {
        &self.services.deployer
    }

    /// Linked folders.
    pub fn links(&self) -> &Links {
        &self.services.links
    }

    /// Tags, thumbnails and the landing page's gallery.
    pub fn gallery(&self) -> &Gallery {
        &self.services.gallery
    }

    /// Server-wide settings.
    pub fn settings(&self) -> &Settings {
        &self.services.settings
    }

    /// Usage: page views and app sessions, recorded and reported.
    pub fn usage(&self) -> &Usage {
        &self.services.usage
    }

    /// Promotion to a Connect server, and the saved targets.
    pub fn promote(&self) -> &Promote {
        &self.services.promote
    }

    /// The name on the network (`<name>.local`) and the service other computers browse.
    pub fn discovery(&self) -> &Discovery {
        &self.services.discovery
    }

    /// Keep-awake: the logind inhibitor Porch holds while viewers, renders or a due schedule
    /// need the computer awake.
    pub fn awake(&self) -> &Awake {
        &self.services.awake
    }

    /// Reachability: the checks of `porch doctor` and the phone test.
    pub fn reach(&self) -> &Reach {
        &self.services.reach
    }

    /// The parts every service shares (configuration, store, events, tasks, tracker).
    pub(crate) fn shared(&self) -> &Shared {
        &self.services.shared
    }

    /// Who watches viewers: the gateway tells them of each request and session.
    pub fn viewers(&self) -> &crate::observe::Observers {
        &self.services.shared.viewers
    }

    /// The configuration the engine runs with.
    pub fn config(&self) -> &Config {
        &self.services.shared.config
    }

    /// A receiver of state changes.
    pub fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.services.shared.subscribe()
    }

    /// Publishes a state change (the API's own, e.g. a start failure seen by a viewer).
    pub fn emit(&self, event: Event) {
        self.services.shared.emit(event)
    }

    /// A token cancelled when the engine shuts down (long-lived responses such as event
    /// streams end on it).
    pub fn shutdown_token(&self) -> tokio_util::sync::CancellationToken {
        self.services.shared.cancel.child_token()
    }

    /// The address the server is bound to, if serving.
    pub fn local_addr(&self) -> Option<SocketAddr> {
        self.services.shared.local_addr()
    }

    /// URLs viewers on the network can open (LAN addresses when bound to all interfaces).
    pub fn viewer_urls(&self) -> Vec<String> {
        self.services.shared.viewer_urls()
    }

    /// The origin used for absolute URLs when there is no request to take a Host from. An
    /// engine that does not serve (a CLI command with no server running) gives the one its
    /// links will have once Porch serves with the saved settings: the saved port, and the
    /// `.local` name when Porch will announce it (bound to the network, discovery on).
    pub fn default_origin(&self) -> String {
        let shared = &self.services.shared;
        if shared.is_serving() {
            return shared.default_origin();
        }
        let saved = self.settings().saved_settings();
        let addr = saved.listen_addr();
        let discovery = saved.discovery_settings();
        let announced = discovery.on && !addr.ip().is_loopback();
        shared.origin_once_serving(addr, announced.then_some(discovery.hostname.as_str()))
    }

    /// The `.local` name announced on the network (without `.local`), if any.
    pub fn local_name(&self) -> Option<String> {
        self.services.shared.local_name()
    }

    /// The origin of links a publisher shares (`--public-url`, else the `.local` name while
    /// it is announced, else a plain address).
    pub fn share_origin(&self) -> String {
        self.services.shared.share_origin()
    }

    /// A key accepted for this run only (never stored), for in-process callers such as the
    /// desktop shell. SECURITY: it never leaves the process except to the app's own webview.
    pub fn session_key(&self) -> &str {
        self.services.library.session_key()
    }

    /// Stops serving, waits up to `grace` for in-flight work, and removes the runtime file.
    pub async fn shutdown(&self, grace: Duration) {
        self.services.shared.cancel.cancel();
        self.services.shared.tracker.close();
        if tokio::time::timeout(grace, self.services.shared.tracker.wait()).await.is_err() {
            tracing::warn!(
                remaining = self.services.shared.tracker.len(),
                "tasks still running after the grace period"
            );
        }
        if self.services.shared.is_serving() {
            let _ = tokio::fs::remove_file(self.services.shared.config.runtime_file()).await;
            let _ =
                tokio::fs::remove_file(crate::data_dir::credential_path(&self.services.shared.config.data_dir)).await;
        }
    }

    /// Where this serving engine can be reached from this computer, for the lock file and
    /// the runtime file; `None` when not serving.
    pub fn runtime_info(&self) -> Option<RuntimeInfo> {
        let addr = self.local_addr()?;
        let loopback = if addr.ip().is_unspecified() || addr.ip().is_loopback() {
            let ip =
                if addr.is_ipv6() { IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]) } else { IpAddr::from([127, 0, 0, 1]) };
            crate::shared::url_for(ip, addr.port())
        } else {
            crate::shared::url_for(addr.ip(), addr.port())
        };
        Some(RuntimeInfo { pid: std::process::id(), url: loopback, origin: self.default_origin() })
    }
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
