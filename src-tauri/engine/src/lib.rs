//! # porch-engine
//!
//! Everything Porch does, with no window attached: the headless server (`porch serve`),
//! the CLI and the Tauri shell all drive one [`Engine`].
//!
//! Module map (the services first; `docs/architecture.md` has the order they import in):
//! - [`engine`]: the facade: builds the services and hands out their handles;
//! - [`server`]: start-up order and serving HTTP on a bound listener;
//! - [`shared`]: what every service is handed (config, store, events, tracker, runner);
//! - [`library`]: content, bundles, access, secret links, API keys, routes and caches;
//! - [`apps`]: interactive content: supervisor, environments, runtime defaults in force;
//! - [`renders`]: renders, variants, schedules and mail;
//! - [`deployer`]: deploy tasks, one-step deploys, previews, deleting items;
//! - [`links`]: linked folders, redeployed when they change;
//! - [`awake`]: keep-awake: one logind inhibitor while app sessions, renders or a due
//!   schedule need the computer awake (zbus on the system bus; UPower's battery state);
//! - [`settings`]: server-wide settings the publisher saves, and the server view;
//! - [`reach`]: reachability: the checks of `porch doctor` and the one-time phone test;
//! - [`api`]: the management surface (Connect-style API under `/__api__/`) and the one router;
//! - [`gateway`]: the viewer's request path: resolve, check access, dispatch, rescue, observe;
//! - [`observe`]: the observers that see each viewer request and session;
//!
//! and the building blocks below them:
//! - [`config`]: resolved paths, addresses and limits, built once at the edge;
//! - [`data_dir`]: the data folder's lock (one writer), local credential and permissions;
//! - [`store`]: SQLite through sqlx (WAL, foreign keys, embedded migrations); the only SQL;
//! - [`bundle`]: safe extraction, packing, manifest reading and content detection;
//! - [`runtimes`]: per-appmode launch commands, extras and deploy overrides;
//! - [`environment`]: Python virtualenvs (uv, cached by hash) and R package checks;
//! - [`supervisor`]: one actor per app: its workers, scaling and routing;
//! - [`tasks`]: deploy tasks with streaming logs and long-polling;
//! - [`routes`]: the in-memory routing table the gateway reads;
//! - [`scheduler`]: when rendered content runs next (Connect's schedule types, cron), and the
//!   loop that sleeps until then;
//! - [`static_site`]: sanitise → resolve → contain → reply for bundle files, plus pages;
//! - [`listener`]: the accept loop with connection, head-size and slow-client limits;
//! - [`proxy`]: the HTTP and WebSocket exchange with app workers (the gateway's transport);
//! - [`events`]: a broadcast of state changes;
//! - [`watcher`]: notify behind a debouncer, for one folder;
//! - [`runner`]: the only place child processes are started, signalled and reaped (its
//!   Linux-only parts live in the private `platform` module);
//! - [`view`]: the JSON shapes callers see.

pub mod api;
pub mod apps;
pub mod awake;
pub mod bundle;
pub mod config;
pub mod data_dir;
pub mod deployer;
pub mod discovery;
pub mod engine;
pub mod environment;
pub mod error;
pub mod events;
pub mod gallery;
pub mod gateway;
pub mod keys;
pub mod library;
pub mod links;
pub mod listener;
pub mod observe;
mod platform;
pub mod promote;
pub mod proxy;
pub mod reach;
pub mod renders;
pub mod routes;
pub mod runner;
pub mod runtimes;
pub mod scheduler;
pub mod server;
pub mod settings;
pub mod shared;
pub mod static_site;
pub mod store;
pub mod supervisor;
pub mod tasks;
pub mod time;
pub mod usage;
pub mod view;
pub mod vocab;
pub mod watcher;
pub mod zygote;

pub use config::{Config, Limits};
pub use deployer::{DeployOptions, Deployment};
pub use engine::{running_server, Engine, RuntimeInfo};
pub use error::{Error, ErrorCode, Result};
pub use events::Event;
pub use settings::ServerView;
pub use view::{ApiKeyView, BundlePreview, NewApiKey, NextRun, Staged};
pub use view::{BundleView, ContentView};
pub use vocab::{AppMode, BundleState, LinkStatus, Outcome, RenderStatus, Trigger, ViewerAccess};

/// The version Porch reports as Connect's (clients gate features on it).
pub const CONNECT_VERSION: &str = "2025.12.0";

/// How a kind of content is executed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RuntimeKind {
    /// Served as files; no code runs.
    Static,
    /// Run start to finish; viewers see the output.
    Rendered,
    /// A process serves viewers.
    Interactive,
}

impl RuntimeKind {
    /// Whether content of this kind is served as files.
    pub fn is_static(self) -> bool {
        self == RuntimeKind::Static
    }
}

/// The execution mode of an appmode.
///
/// An app mode this Porch does not know counts as interactive: it is never served as
/// files (which would hand out its source), and starting it fails with a message naming
/// the mode.
pub fn runtime_kind(app_mode: &AppMode) -> RuntimeKind {
    match app_mode {
        AppMode::Static | AppMode::Unset => RuntimeKind::Static,
        AppMode::JupyterStatic | AppMode::QuartoStatic | AppMode::RmdStatic => RuntimeKind::Rendered,
        _ => RuntimeKind::Interactive,
    }
}
