//! Server-wide settings the publisher saves (the app's Settings pane, `PATCH
//! /__api__/porch/server`, `porch settings set`).
//!
//! - **Where Porch listens** (port; bind to the network or to this computer only): read
//!   when Porch starts, because the listening socket is bound before anything else. A
//!   `--port`/`--bind` flag (or `PORCH_PORT`/`PORCH_BIND`) given at start wins for that run.
//! - **Remote publishing** and the **runtime defaults** apply at once (the CLI changes them
//!   through the running server's API). The runtime defaults in force are handed to the
//!   apps service.
//!
//! Every setting is declared once in [`registry`]: its kind checks values, and the server
//! view lists every entry for the Settings pane and `porch settings`.
//!
//! The saved values are one JSON document in the store's `settings` table, so a missing
//! or older document means "all defaults" and nothing needs a migration.

pub mod registry;

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::apps::Apps;
use crate::apps::{apply_runtime, effective};
use crate::awake::Awake;
use crate::discovery::{Discovery, DiscoverySettings, NetworkName};
use crate::error::{Error, Result};
use crate::gallery::{Gallery, GallerySettings};
use crate::library::Library;
use crate::shared::Shared;
use crate::store::{RuntimeRow, Store};
use crate::supervisor::RuntimeSettings;
use crate::usage::{Usage, UsageSettings};

/// The key of the saved document in the `settings` table.
const KEY: &str = "server_settings";

/// The runtime fields that have a server-wide default the publisher may change.
pub const DEFAULT_FIELDS: &[&str] = &[
    "min_processes",
    "max_processes",
    "max_conns_per_process",
    "load_factor",
    "idle_timeout",
    "init_timeout",
    "connection_timeout",
    "read_timeout",
];

/// Who can connect to the LAN port.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "lowercase")]
pub enum BindScope {
    /// Every computer on the network (`0.0.0.0`).
    Network,
    /// Only this computer (`127.0.0.1`).
    Local,
}

impl BindScope {
    /// The address to bind for this scope.
    pub fn ip(self) -> IpAddr {
        match self {
            BindScope::Network => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            BindScope::Local => IpAddr::V4(Ipv4Addr::LOCALHOST),
        }
    }

    /// The scope an address serves: loopback addresses serve only this computer.
    pub fn of(ip: IpAddr) -> BindScope {
        if crate::listener::is_loopback(ip) {
            BindScope::Local
        } else {
            BindScope::Network
        }
    }
}

/// What the publisher saved: a value for each setting changed from its default (see
/// [`registry`]). A name this Porch does not know (saved by a newer one) is kept as it is.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SavedSettings {
    /// Saved values of the settings outside the runtime section, by name.
    #[serde(flatten)]
    values: BTreeMap<String, Value>,
    /// Runtime defaults by field name (`DEFAULT_FIELDS`), in the content API's units.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub runtime_defaults: BTreeMap<String, f64>,
}

impl SavedSettings {
    /// The saved value of a setting outside the runtime section, if it was changed.
    pub fn get(&self, name: &str) -> Option<&Value> {
        self.values.get(name)
    }

    /// The saved LAN port, if changed.
    pub fn port(&self) -> Option<u16> {
        self.get("port").and_then(Value::as_u64).and_then(|p| u16::try_from(p).ok())
    }

    /// The saved bind scope, if changed.
    pub fn bind(&self) -> Option<BindScope> {
        self.get("bind").and_then(|v| serde_json::from_value(v.clone()).ok())
    }

    /// The saved remote-publishing switch, if changed.
    pub fn allow_remote_publishing(&self) -> Option<bool> {
        self.get("allow_remote_publishing").and_then(Value::as_bool)
    }

    /// The gallery's settings as saved (`gallery_title`, `gallery_intro`, `thumbnails`;
    /// unset ones are the defaults).
    pub fn gallery(&self) -> GallerySettings {
        let text = |name: &str| self.get(name).and_then(Value::as_str).map(str::to_string);
        GallerySettings {
            thumbnails: self.get("thumbnails").and_then(|v| serde_json::from_value(v.clone()).ok()),
            gallery_title: text("gallery_title"),
            gallery_intro: text("gallery_intro"),
        }
    }

    /// The address Porch listens on when no flag says otherwise.
    pub fn listen_addr(&self) -> SocketAddr {
        SocketAddr::new(
            self.bind().unwrap_or(BindScope::Network).ip(),
            self.port().unwrap_or(crate::config::DEFAULT_PORT),
        )
    }

    /// The usage settings as saved (`usage`, `usage_retention_days`; unset ones are the
    /// defaults).
    pub fn usage_settings(&self) -> UsageSettings {
        let days = self.get("usage_retention_days").and_then(Value::as_u64).and_then(|d| u32::try_from(d).ok());
        UsageSettings::from_saved(self.get("usage").and_then(Value::as_bool), days)
    }

    /// The `keep_awake` setting as saved (unset: `always`).
    pub fn keep_awake(&self) -> crate::awake::KeepAwake {
        crate::awake::KeepAwake::parse(self.get(crate::awake::SETTING).and_then(Value::as_str))
    }

    /// The `zygote` switch as saved (unset: on).
    pub fn zygote(&self) -> bool {
        self.get(crate::zygote::SETTING).and_then(Value::as_bool).unwrap_or(true)
    }

    /// The discovery settings as saved (`hostname`, `discovery`; unset ones are the
    /// defaults: this computer's name, on). A saved name that no longer passes the check
    /// (edited by hand) falls back to the computer's name.
    pub fn discovery_settings(&self) -> DiscoverySettings {
        let hostname = self
            .get("hostname")
            .and_then(Value::as_str)
            .and_then(|s| crate::discovery::name::check(s).ok())
            .unwrap_or_else(|| crate::discovery::name::computer_name().to_string());
        DiscoverySettings { hostname, on: self.get("discovery").and_then(Value::as_bool).unwrap_or(true) }
    }

    /// The runtime defaults in force: the saved ones over `builtin`.
    pub fn runtime_defaults(&self, builtin: &RuntimeSettings) -> RuntimeSettings {
        let changes: Vec<_> = self.runtime_defaults.iter().map(|(k, v)| (k.clone(), Some(*v))).collect();
        // Saved values were validated when saved; a document edited by hand that no longer
        // validates falls back to the built-in defaults rather than stopping Porch.
        match apply_runtime(&RuntimeRow::default(), &changes, builtin) {
            Ok(row) => effective(&row, builtin),
            Err(e) => {
                tracing::warn!(error = %e, "ignoring saved runtime defaults");
                *builtin
            }
        }
    }

    /// Applies a change set: an object of setting names to values, `null` for "back to the
    /// default". Runtime fields may be given at the top level or under `runtime_defaults`.
    /// Each value is checked by its setting's declaration in the [`registry`], and the
    /// runtime defaults together; everything is checked before anything changes.
    pub fn apply(&self, patch: &Map<String, Value>, builtin: &RuntimeSettings) -> Result<SavedSettings> {
        let mut next = self.clone();
        let mut runtime: Vec<(String, Option<f64>)> = Vec::new();
        for (key, value) in patch {
            if key == "runtime_defaults" {
                let Value::Object(fields) = value else {
                    return Err(Error::Invalid(format!(
                        "runtime_defaults must be an object of field names to numbers, not {value}"
                    )));
                };
                for (k, v) in fields {
                    runtime.push((k.clone(), runtime_value(k, v)?));
                }
                continue;
            }
            let Some(setting) = registry::find(key) else {
                return Err(Error::Invalid(format!(
                    "unknown server setting {key:?}; the settings are {}",
                    registry::names()
                )));
            };
            if setting.section == registry::Section::Runtime {
                runtime.push((setting.name.to_string(), runtime_value(setting.name, value)?));
            } else if value.is_null() {
                next.values.remove(setting.name);
            } else {
                next.values.insert(setting.name.to_string(), setting.check(value)?);
            }
        }
        for (k, v) in runtime {
            match v {
                Some(v) => next.runtime_defaults.insert(k, v),
                None => next.runtime_defaults.remove(&k),
            };
        }
        // The defaults on their own must make sense (min ≤ max, at least one process, …).
        let changes: Vec<_> = next.runtime_defaults.iter().map(|(k, v)| (k.clone(), Some(*v))).collect();
        apply_runtime(&RuntimeRow::default(), &changes, builtin)
            .map_err(|e| Error::Invalid(format!("as a runtime default, {e}")))?;
        Ok(next)
    }
}

fn runtime_value(field: &str, value: &Value) -> Result<Option<f64>> {
    if !DEFAULT_FIELDS.contains(&field) {
        return Err(Error::Invalid(format!(
            "{field:?} has no server-wide default; the runtime defaults are {}",
            DEFAULT_FIELDS.join(", ")
        )));
    }
    match value {
        Value::Null => Ok(None),
        v => v
            .as_f64()
            .map(Some)
            .ok_or_else(|| {
                Error::Invalid(format!(
                    "{field} must be a number (or null, `{field}=default` on the command line, for Porch's default), not {v}"
                ))
            }),
    }
}

/// Turns `name=value` words (the CLI's `porch settings set`) into a change set: `default`
/// resets; a switch takes `on`/`off`/`true`/`false`/`yes`/`no`; a choice, a text and a
/// host name keep their words (`keep-awake=off` is the choice "off", `hostname=2026` a
/// name); other numbers are numbers. An empty value is an empty text, which the setting's
/// own check refuses where it must (`hostname=`), never a silent reset.
pub fn patch_from_assignments(words: &[String]) -> Result<Map<String, Value>> {
    let mut patch = Map::new();
    for word in words {
        let (name, value) = word
            .split_once('=')
            .ok_or_else(|| Error::Invalid(format!("expected name=value (e.g. port=4000), not {word:?}")))?;
        let name = name.trim().replace('-', "_");
        // A CLI name (`remote-publishing`) stands for its setting; an unknown name is left
        // for `apply` to refuse with the list of settings.
        let setting = registry::find(&name);
        let name = setting.map_or(name, |s| s.name.to_string());
        let words_only = setting.is_some_and(|s| {
            matches!(s.kind, registry::Kind::Choice { .. } | registry::Kind::Text { .. } | registry::Kind::HostName)
        });
        let value = value.trim();
        let value = match value {
            "default" => Value::Null,
            v if words_only => Value::String(v.to_string()),
            "on" | "true" | "yes" => Value::Bool(true),
            "off" | "false" | "no" => Value::Bool(false),
            v => match (v.parse::<i64>(), v.parse::<f64>()) {
                (Ok(i), _) => Value::from(i),
                (_, Ok(f)) if f.is_finite() => Value::from(f),
                _ => Value::String(v.to_string()),
            },
        };
        patch.insert(name, value);
    }
    Ok(patch)
}

/// Reads the saved settings (defaults when none were saved or the document is unreadable).
pub async fn load(store: &Store) -> Result<SavedSettings> {
    Ok(match store.setting(KEY).await? {
        None => SavedSettings::default(),
        Some(text) => serde_json::from_str(&text).unwrap_or_else(|e| {
            tracing::warn!(error = %e, "the saved server settings are unreadable; using the defaults");
            SavedSettings::default()
        }),
    })
}

/// Writes the saved settings.
pub async fn save(store: &Store, s: &SavedSettings) -> Result<()> {
    let text = serde_json::to_string(s).map_err(|e| Error::Invalid(e.to_string()))?;
    store.set_setting(KEY, &text).await
}

/// The saved settings of a data directory, read before the server binds its port.
pub async fn read(config: &crate::Config) -> Result<SavedSettings> {
    if !config.db_path().exists() {
        return Ok(SavedSettings::default());
    }
    let store = Store::open(&config.db_path()).await?;
    let saved = load(&store).await;
    store.close().await;
    saved
}

/// The server as the app settings pane shows it.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ServerView {
    /// Porch's version.
    pub version: String,
    /// The Connect version Porch reports to clients.
    pub connect_version: String,
    /// Where viewers reach the library (LAN addresses first when bound to all interfaces).
    pub viewer_urls: Vec<String>,
    /// The bound address, e.g. `0.0.0.0:3939`; null when not serving.
    pub bind: Option<String>,
    /// The bound port; null when not serving.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub port: Option<u16>,
    /// True when only this computer can connect (bound to a loopback address).
    pub local_only: bool,
    /// Whether publishing with a key from another computer is allowed.
    pub allow_remote_publishing: bool,
    /// Whether sharing with other computers is paused (they get a "paused" page).
    pub sharing_paused: bool,
    /// The data folder holding the database and bundles.
    pub data_dir: String,
    /// `--public-url`, if set.
    pub public_url: Option<String>,
    /// Server-wide runtime defaults (what `null` runtime fields of an item mean).
    pub runtime_defaults: RuntimeDefaults,
    /// What the publisher saved, and what of it waits for a restart.
    pub settings: SettingsView,
    /// What viewers did since start (the gateway's built-in observer).
    pub viewers: crate::observe::ViewerActivity,
    /// The name Porch answers to on the network (`<name>.local`), and why it is that one.
    pub network_name: NetworkName,
    /// Whether Porch keeps the computer awake now, and why (or why it cannot).
    pub keep_awake: crate::awake::KeepAwakeView,
}

/// The saved server settings as the app settings pane edits them.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct SettingsView {
    /// The port Porch listens on when it starts (3939 unless changed).
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub port: u16,
    /// `network` (everyone on the network) or `local` (only this computer), at start.
    pub bind: crate::settings::BindScope,
    /// The saved remote-publishing switch (applies at once).
    pub allow_remote_publishing: bool,
    /// Connect's runtime defaults before anything was saved.
    pub builtin_runtime_defaults: RuntimeDefaults,
    /// The runtime default fields the publisher changed.
    pub changed_runtime_defaults: Vec<String>,
    /// Start-up flags that chose this run's address (`--port`, `--bind`); the saved
    /// address applies when Porch starts without them.
    pub listen_flags: Vec<String>,
    /// True when `--allow-remote-publishing` forces remote publishing on for this run.
    pub remote_publishing_flag: bool,
    /// True when the saved address differs from the one Porch listens on now: it applies
    /// at the next start.
    pub restart_needed: bool,
    /// Every setting of the registry with its value, in the order `porch settings` prints.
    pub entries: Vec<registry::SettingEntry>,
}

/// Server-wide runtime defaults, in the units of the content API.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct RuntimeDefaults {
    /// Workers kept alive with no connections.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub min_processes: u64,
    /// Ceiling on workers.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub max_processes: u64,
    /// Connections per worker.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub max_conns_per_process: u64,
    /// 0..=1.
    pub load_factor: f64,
    /// Seconds.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub idle_timeout: u64,
    /// Seconds.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub init_timeout: u64,
    /// Seconds; 0 means never.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub connection_timeout: u64,
    /// Seconds; 0 means never.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub read_timeout: u64,
}

/// Saved settings with what follows from them.
#[derive(Debug, Clone)]
pub(crate) struct Saved {
    pub(crate) doc: SavedSettings,
    pub(crate) runtime_defaults: RuntimeSettings,
}

/// The settings service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Settings {
    shared: Shared,
    library: Library,
    apps: Apps,
    gallery: Gallery,
    usage: Usage,
    discovery: Discovery,
    awake: Awake,
    state: std::sync::Arc<State>,
}

#[derive(Debug)]
struct State {
    /// The publisher's saved server settings and the runtime defaults they make. A std lock:
    /// read and replaced whole, never held across an await.
    saved: std::sync::RwLock<Saved>,
    /// Serialises changes to the saved settings (read, change, write).
    lock: tokio::sync::Mutex<()>,
}

impl Settings {
    /// The settings service, with the settings read at start-up.
    // One argument per service it pushes settings to; Engine::open is the only caller.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn new(
        shared: Shared,
        library: Library,
        apps: Apps,
        gallery: Gallery,
        usage: Usage,
        discovery: Discovery,
        awake: Awake,
        saved: Saved,
    ) -> Settings {
        let state = State { saved: std::sync::RwLock::new(saved), lock: tokio::sync::Mutex::new(()) };
        Settings { shared, library, apps, gallery, usage, discovery, awake, state: std::sync::Arc::new(state) }
    }

    /// Reads the saved settings of a store (at start-up, before the services exist).
    pub(crate) async fn read(config: &crate::Config, store: &Store) -> Result<Saved> {
        Ok(Settings::make_saved(config, load(store).await?))
    }

    /// Saved settings with the runtime defaults they make over the built-in ones.
    pub(crate) fn make_saved(config: &crate::Config, doc: SavedSettings) -> Saved {
        let runtime_defaults = doc.runtime_defaults(&builtin_runtime_defaults(config));
        Saved { doc, runtime_defaults }
    }

    /// What the publisher saved (as this engine last read it).
    pub fn saved_settings(&self) -> SavedSettings {
        self.with_saved(|s| s.doc.clone())
    }

    pub(crate) fn read_saved(&self) -> Saved {
        self.with_saved(Saved::clone)
    }

    /// Reads the saved settings under the lock, without copying them (hot paths: every
    /// management request asks whether remote publishing is on).
    pub(crate) fn with_saved<T>(&self, f: impl FnOnce(&Saved) -> T) -> T {
        match self.state.saved.read() {
            Ok(s) => f(&s),
            Err(poisoned) => f(&poisoned.into_inner()),
        }
    }

    /// Runtime defaults before anything saved: Connect's, with this run's memory and hang
    /// limits (`--app-memory-limit`, `--app-hang-timeout`).
    pub fn builtin_runtime_defaults(&self) -> RuntimeSettings {
        builtin_runtime_defaults(&self.shared.config)
    }

    /// Whether keyed management calls from other computers are accepted right now: the
    /// start-up flag forces it on for the run; otherwise the saved switch decides.
    pub fn allow_remote_publishing(&self) -> bool {
        self.shared.config.allow_remote_publishing
            || self.with_saved(|s| s.doc.allow_remote_publishing().unwrap_or(false))
    }

    /// Re-reads the saved settings (another process may have changed them) and applies
    /// what applies at once; workers see changed runtime defaults.
    pub(crate) async fn reload_settings(&self) {
        let doc = match load(&self.shared.store).await {
            Ok(doc) => doc,
            Err(e) => return tracing::warn!(error = %e, "cannot read the saved server settings"),
        };
        let next = Settings::make_saved(&self.shared.config, doc);
        self.gallery.set_settings(next.doc.gallery());
        let defaults_changed = {
            let mut cur = match self.state.saved.write() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            let changed = cur.runtime_defaults != next.runtime_defaults;
            *cur = next;
            changed
        };
        if defaults_changed {
            self.apps.set_runtime_defaults(self.with_saved(|s| s.runtime_defaults));
        }
        self.usage.configure(self.with_saved(|s| s.doc.usage_settings()));
        self.discovery.configure(self.with_saved(|s| s.doc.discovery_settings()));
        self.awake.configure(self.with_saved(|s| s.doc.keep_awake()));
        self.apps.set_zygote(self.with_saved(|s| s.doc.zygote()));
    }

    /// Changes saved settings: an object of names to values (`null` = the default), as
    /// `PATCH /__api__/porch/server` takes it. Everything is checked first; a change that
    /// would leave an item with impossible runtime settings (its own `min_processes` above a
    /// new default `max_processes`) is refused naming the item, and nothing is saved.
    pub async fn update_server_settings(&self, patch: &Map<String, Value>) -> Result<ServerView> {
        {
            let _turn = self.state.lock.lock().await;
            let builtin = self.builtin_runtime_defaults();
            let current = load(&self.shared.store).await?;
            let next = current.apply(patch, &builtin)?;
            let defaults = next.runtime_defaults(&builtin);
            for c in self.shared.store.list_content(None).await? {
                if let Err(e) = apply_runtime(&c.runtime, &[], &defaults) {
                    return Err(Error::Invalid(format!(
                        "with these runtime defaults, “{}” would be invalid ({e}); change that item's runtime settings first",
                        c.name
                    )));
                }
            }
            save(&self.shared.store, &next).await?;
            tracing::info!(settings = ?next, "server settings saved");
        }
        self.reload_settings().await;
        self.shared.emit(crate::events::Event::LibraryChanged);
        Ok(self.server_view())
    }

    /// The value in force of a setting outside the runtime section: the saved one, else its
    /// declared default. `None` for a name the registry does not declare.
    pub fn value(&self, name: &str) -> Option<Value> {
        let setting = registry::find(name)?;
        let saved = self.with_saved(|s| s.doc.get(setting.name).cloned());
        Some(saved.unwrap_or_else(|| setting.default_value(&Value::Null)))
    }

    /// Every registry entry with its value (runtime fields: the defaults in force).
    fn entries(&self, saved: &Saved) -> Vec<registry::SettingEntry> {
        let to_json = |d: &RuntimeSettings| serde_json::to_value(defaults_view(d)).unwrap_or(Value::Null);
        let (builtin, in_force) = (to_json(&self.builtin_runtime_defaults()), to_json(&saved.runtime_defaults));
        registry::SETTINGS
            .iter()
            .map(|s| {
                let value = match s.section {
                    registry::Section::Runtime => {
                        saved.doc.runtime_defaults.contains_key(s.name).then(|| in_force[s.name].clone())
                    }
                    _ => saved.doc.get(s.name).cloned(),
                };
                registry::SettingEntry::of(s, value.as_ref(), &builtin)
            })
            .collect()
    }

    /// The server's addresses, switches and defaults.
    pub fn server_view(&self) -> ServerView {
        let addr = self.shared.local_addr();
        let saved = self.read_saved();
        let d = saved.runtime_defaults;
        let config = &self.shared.config;
        let settings = SettingsView {
            port: saved.doc.listen_addr().port(),
            bind: saved.doc.bind().unwrap_or(BindScope::Network),
            allow_remote_publishing: saved.doc.allow_remote_publishing().unwrap_or(false),
            builtin_runtime_defaults: defaults_view(&self.builtin_runtime_defaults()),
            changed_runtime_defaults: saved.doc.runtime_defaults.keys().cloned().collect(),
            listen_flags: config.listen_flags.clone(),
            remote_publishing_flag: config.allow_remote_publishing,
            restart_needed: config.listen_flags.is_empty() && addr.is_some_and(|a| a != saved.doc.listen_addr()),
            entries: self.entries(&saved),
        };
        ServerView {
            version: env!("CARGO_PKG_VERSION").into(),
            connect_version: crate::CONNECT_VERSION.into(),
            viewer_urls: self.shared.viewer_urls(),
            bind: addr.map(|a| a.to_string()),
            port: addr.map(|a| a.port()),
            local_only: addr.is_some_and(|a| crate::listener::is_loopback(a.ip())),
            allow_remote_publishing: self.allow_remote_publishing(),
            sharing_paused: self.library.sharing_paused(),
            data_dir: config.data_dir.display().to_string(),
            public_url: config.public_url.clone(),
            runtime_defaults: defaults_view(&d),
            settings,
            viewers: self.shared.viewers.activity().read(),
            network_name: self.discovery.view(),
            keep_awake: self.awake.view(),
        }
    }
}

/// Runtime settings in the content API's units.
fn defaults_view(d: &crate::supervisor::RuntimeSettings) -> RuntimeDefaults {
    RuntimeDefaults {
        min_processes: d.min_processes as u64,
        max_processes: d.max_processes as u64,
        max_conns_per_process: d.max_conns_per_process as u64,
        load_factor: d.load_factor,
        idle_timeout: d.idle_timeout.as_secs(),
        init_timeout: d.init_timeout.as_secs(),
        connection_timeout: d.connection_timeout.as_secs(),
        read_timeout: d.read_timeout.as_secs(),
    }
}

/// Connect's runtime defaults with this configuration's memory and hang limits.
fn builtin_runtime_defaults(config: &crate::Config) -> RuntimeSettings {
    RuntimeSettings {
        memory_limit: config.app_memory_limit,
        hang_timeout: config.app_hang_timeout,
        ..RuntimeSettings::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn patch(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap_or_default()
    }

    #[test]
    fn a_patch_sets_and_resets() {
        let d = RuntimeSettings::default();
        let s = SavedSettings::default()
            .apply(&patch(json!({"port": 4000, "bind": "local", "max_processes": 5, "runtime_defaults": {"idle_timeout": 30}})), &d)
            .expect("valid");
        assert_eq!(s.listen_addr(), "127.0.0.1:4000".parse().expect("addr"));
        let r = s.runtime_defaults(&d);
        assert_eq!((r.max_processes, r.idle_timeout.as_secs()), (5, 30));
        let back = s.apply(&patch(json!({"port": null, "bind": null, "max_processes": null})), &d).expect("valid");
        assert_eq!(back.listen_addr(), "0.0.0.0:3939".parse().expect("addr"));
        assert_eq!(back.runtime_defaults(&d).max_processes, d.max_processes);
        assert_eq!(back.runtime_defaults(&d).idle_timeout.as_secs(), 30);
    }

    #[test]
    fn bad_values_are_refused_and_name_the_setting() {
        let d = RuntimeSettings::default();
        let s = SavedSettings::default();
        for (bad, says) in [
            (json!({"port": 0}), "port"),
            (json!({"port": 70000}), "port"),
            (json!({"port": "x"}), "port"),
            (json!({"bind": "everywhere"}), "bind"),
            (json!({"allow_remote_publishing": 1}), "allow_remote_publishing"),
            (json!({"load_factor": 2}), "load_factor"),
            (json!({"min_processes": 4}), "min_processes"),
            (json!({"memory_limit": 1}), "memory_limit"),
            (json!({"colour": "blue"}), "colour"),
        ] {
            let err = s.apply(&patch(bad.clone()), &d).expect_err(&bad.to_string()).to_string();
            assert!(err.contains(says), "{bad}: {err}");
        }
    }

    #[test]
    fn assignments_parse_like_the_api() {
        let words: Vec<String> =
            ["port=4000", "remote-publishing=on", "load_factor=0.25", "bind=local", "idle_timeout=default"]
                .iter()
                .map(|s| s.to_string())
                .collect();
        let p = patch_from_assignments(&words).expect("parses");
        assert_eq!(
            Value::Object(p),
            json!({"port": 4000, "allow_remote_publishing": true, "load_factor": 0.25, "bind": "local", "idle_timeout": null})
        );
        assert!(patch_from_assignments(&["port".to_string()]).is_err());
    }

    /// A choice or a text keeps its words (`keep-awake=off` is the choice "off", not a
    /// switch), and an empty value is not a reset: the setting's check sees it.
    #[test]
    fn assignments_keep_words_for_choices_and_texts_and_never_reset_on_empty() {
        let words: Vec<String> = ["keep-awake=off", "gallery_title=on", "hostname=", "port=", "usage=off"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let p = patch_from_assignments(&words).expect("parses");
        assert_eq!(
            Value::Object(p.clone()),
            json!({"keep_awake": "off", "gallery_title": "on", "hostname": "", "port": "", "usage": false})
        );
        let (saved, builtin) = (SavedSettings::default(), RuntimeSettings::default());
        let only = |name: &str| -> Map<String, Value> {
            p.iter().filter(|(k, _)| *k == name).map(|(k, v)| (k.clone(), v.clone())).collect()
        };
        for name in ["hostname", "port"] {
            let err = saved.apply(&only(name), &builtin).expect_err(name).to_string();
            assert!(err.contains(name), "{name}: {err}");
        }
        saved.apply(&only("keep_awake"), &builtin).expect("keep_awake=off is a choice");
        let named = patch_from_assignments(&["hostname=2026".to_string()]).expect("parses");
        assert_eq!(named["hostname"], json!("2026"), "a host name of digits stays a name");
    }
}
