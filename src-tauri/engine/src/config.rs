//! Resolved settings, built once at the edge (CLI or desktop shell) and passed in.
//!
//! Nothing deeper in the engine reads environment variables or guesses paths.

use std::path::PathBuf;

/// Default LAN port, as Connect uses.
pub const DEFAULT_PORT: u16 = 3939;

/// Resident memory one app worker may use by default (2 GiB).
pub const DEFAULT_APP_MEMORY_LIMIT: u64 = 2 * 1024 * 1024 * 1024;
/// How long a ready worker may fail its health check by default.
pub const DEFAULT_APP_HANG_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(120);

/// Limits applied to every incoming bundle.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest accepted upload (compressed) and largest extracted total, in bytes.
    pub max_bundle_bytes: u64,
    /// Most files (and folders) one bundle may hold.
    pub max_bundle_files: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits { max_bundle_bytes: 2 * 1024 * 1024 * 1024, max_bundle_files: 100_000 }
    }
}

/// The web UI's files (`ui/dist`) as `(relative path, bytes)`, embedded by the binary.
pub type UiAssets = &'static [(&'static str, &'static [u8])];

/// Everything the engine needs to know about its surroundings.
#[derive(Debug, Clone)]
pub struct Config {
    /// The one directory holding the database and every bundle.
    pub data_dir: PathBuf,
    /// The external origin viewers use (e.g. `http://porch.local:3939`); when unset, the
    /// request's Host header (API) or the first LAN address (CLI, GUI) is used.
    pub public_url: Option<String>,
    /// Accept management API calls from non-loopback peers (still with a key) for this run,
    /// whatever the saved setting says (`--allow-remote-publishing`).
    pub allow_remote_publishing: bool,
    /// The start-up flags that chose this run's address (e.g. `--port`); empty when the
    /// saved settings (or the defaults) did.
    pub listen_flags: Vec<String>,
    /// Bundle limits.
    pub limits: Limits,
    /// Username reported for the single publisher.
    pub publisher: String,
    /// uv's package cache, when not `<data_dir>/cache/uv` (`PORCH_UV_CACHE_DIR`).
    pub uv_cache_dir: Option<PathBuf>,
    /// The uv installed with Porch (`/usr/lib/porch/uv` in the `.deb`), tried before any
    /// other uv; `None` when Porch was not installed with one.
    pub packaged_uv: Option<PathBuf>,
    /// How many renders may run at once.
    pub render_concurrency: usize,
    /// Successful renders kept per item (failed ones are kept with their logs).
    pub keep_renders: usize,
    /// The web UI served at `/__porch__/`; `None` serves a "UI not built" page.
    pub ui_assets: Option<UiAssets>,
    /// Connection and request-head limits on the LAN port.
    pub http: crate::listener::HttpLimits,
    /// How long a render may run before it is stopped and recorded as failed.
    pub render_timeout: std::time::Duration,
    /// Default memory ceiling of an app worker, bytes (0 = none); items may override it.
    pub app_memory_limit: u64,
    /// How long a ready worker may fail its health check before it is replaced (0 = never).
    pub app_hang_timeout: std::time::Duration,
}

impl Config {
    /// A configuration with defaults for everything but the data directory.
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Config {
            data_dir: data_dir.into(),
            public_url: None,
            allow_remote_publishing: false,
            listen_flags: Vec::new(),
            limits: Limits::default(),
            publisher: "publisher".into(),
            uv_cache_dir: None,
            packaged_uv: None,
            render_concurrency: 1,
            keep_renders: 30,
            ui_assets: None,
            http: crate::listener::HttpLimits::default(),
            render_timeout: std::time::Duration::from_secs(3600),
            app_memory_limit: DEFAULT_APP_MEMORY_LIMIT,
            app_hang_timeout: DEFAULT_APP_HANG_TIMEOUT,
        }
    }

    /// The platform's default data directory (`~/.local/share/porch` on Linux).
    pub fn default_data_dir() -> Option<PathBuf> {
        directories::ProjectDirs::from("", "", "porch").map(|d| d.data_dir().to_path_buf())
    }

    /// Where the SQLite database lives.
    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join("porch.db")
    }

    /// Where extracted bundles and their archives live.
    pub fn bundles_dir(&self) -> PathBuf {
        self.data_dir.join("bundles")
    }

    /// Where Python environments are built and kept, one folder per requirements hash.
    pub fn envs_dir(&self) -> PathBuf {
        self.data_dir.join("envs")
    }

    /// Scratch space on the same file system as the bundles, so renames are atomic.
    pub fn tmp_dir(&self) -> PathBuf {
        self.data_dir.join("tmp")
    }

    /// The file a running server writes so the CLI can find it.
    pub fn runtime_file(&self) -> PathBuf {
        self.data_dir.join("porch.run.json")
    }
}
