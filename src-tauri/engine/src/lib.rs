//! # porch-engine
//!
//! Everything Porch does, with no window attached: the headless server (`porch serve`),
//! the CLI and the Tauri shell all drive one [`Engine`].
//!
//! Module map:
//! - [`config`]: resolved paths, addresses and limits, built once at the edge;
//! - [`store`]: SQLite through sqlx (WAL, foreign keys, embedded migrations); the only SQL;
//! - [`bundle`]: safe extraction, packing, manifest reading and content detection;
//! - [`engine`]: the handle, start-up, background tasks and shutdown;
//! - [`environment`]: Python virtualenvs (uv, cached by hash) and R package checks;
//! - [`ops`]: the operations every front end calls (content, bundles, deploy, keys);
//! - [`tasks`]: deploy tasks with streaming logs and long-polling;
//! - [`routes`]: the in-memory routing table the content server reads;
//! - [`scheduler`]: when rendered content runs next (Connect's schedule types, cron), pure;
//! - [`static_site`]: sanitise → resolve → contain → reply for bundle files, plus pages;
//! - [`listener`]: the accept loop with connection, head-size and slow-client limits;
//! - [`api`]: the HTTP surface (Connect-style API under `/__api__/`, content, landing page);
//! - [`events`]: a broadcast of state changes;
//! - [`preview`]: dry runs (what a deploy would detect, when a schedule runs) and settings views;
//! - [`settings`]: server-wide settings the publisher saves (port, bind, remote publishing, runtime defaults);
//! - [`links`]: linked folders, redeployed when they change;
//! - [`watcher`]: notify behind a debouncer, for one folder;
//! - [`view`]: the JSON shapes callers see.

pub mod api;
pub mod apps;
pub mod bundle;
pub mod config;
pub mod deployer;
pub mod engine;
pub mod environment;
pub mod error;
pub mod events;
pub mod keys;
pub mod library;
pub mod links;
pub mod listener;
pub mod proxy;
pub mod renders;
pub mod routes;
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
pub mod view;
pub mod watcher;

pub use config::{Config, Limits};
pub use deployer::{DeployOptions, Deployment};
pub use engine::{running_server, Engine, RuntimeInfo};
pub use error::{Error, ErrorCode, Result};
pub use events::Event;
pub use settings::ServerView;
pub use view::{ApiKeyView, BundlePreview, NewApiKey, NextRun, Staged};
pub use view::{BundleView, ContentView};

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
pub fn runtime_kind(app_mode: &str) -> RuntimeKind {
    match app_mode {
        "static" | "unknown" => RuntimeKind::Static,
        "jupyter-static" | "quarto-static" | "rmd-static" => RuntimeKind::Rendered,
        _ => RuntimeKind::Interactive,
    }
}
