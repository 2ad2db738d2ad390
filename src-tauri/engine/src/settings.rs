//! Server-wide settings the publisher saves (the app's Settings pane, `PATCH
//! /__api__/porch/server`, `porch settings set`).
//!
//! - **Where Porch listens** (port; bind to the network or to this computer only): read
//!   when Porch starts, because the listening socket is bound before anything else. A
//!   `--port`/`--bind` flag (or `PORCH_PORT`/`PORCH_BIND`) given at start wins for that run.
//! - **Remote publishing** and the **runtime defaults** apply at once, also to a server
//!   that another process (the CLI) changed them under: the change watch reloads them.
//!
//! The saved values are one JSON document in the store's `settings` table, so a missing
//! or older document means "all defaults" and nothing needs a migration.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

use crate::engine::{Engine, Saved};
use crate::error::{Error, Result};
use crate::interactive::{apply_runtime, effective};
use crate::store::{RuntimeRow, Store};
use crate::supervisor::RuntimeSettings;

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
        if crate::gateway::identity::is_loopback(ip) {
            BindScope::Local
        } else {
            BindScope::Network
        }
    }
}

/// What the publisher saved; `None` (or a missing field) is the built-in default.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct SavedSettings {
    /// The LAN port (default 3939).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    /// Network or this computer only (default network).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub bind: Option<BindScope>,
    /// Accept publishing with a key from other computers (default off).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow_remote_publishing: Option<bool>,
    /// Runtime defaults by field name (`DEFAULT_FIELDS`), in the content API's units.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub runtime_defaults: BTreeMap<String, f64>,
}

impl SavedSettings {
    /// The address Porch listens on when no flag says otherwise.
    pub fn listen_addr(&self) -> SocketAddr {
        SocketAddr::new(self.bind.unwrap_or(BindScope::Network).ip(), self.port.unwrap_or(crate::config::DEFAULT_PORT))
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
    /// Checks everything before changing anything.
    pub fn apply(&self, patch: &Map<String, Value>, builtin: &RuntimeSettings) -> Result<SavedSettings> {
        let mut next = self.clone();
        let mut runtime: Vec<(String, Option<f64>)> = Vec::new();
        for (key, value) in patch {
            match key.as_str() {
                "port" => {
                    next.port = match value {
                        Value::Null => None,
                        v => match v.as_u64() {
                            Some(p @ 1..=65535) => Some(p as u16),
                            _ => return Err(Error::Invalid(format!("port must be a whole number from 1 to 65535, not {v}"))),
                        },
                    }
                }
                "bind" => {
                    next.bind = match value {
                        Value::Null => None,
                        Value::String(s) if s == "network" => Some(BindScope::Network),
                        Value::String(s) if s == "local" => Some(BindScope::Local),
                        v => {
                            return Err(Error::Invalid(format!(
                                "bind must be \"network\" (everyone on your network) or \"local\" (only this computer), not {v}"
                            )))
                        }
                    }
                }
                "allow_remote_publishing" => {
                    next.allow_remote_publishing = match value {
                        Value::Null => None,
                        Value::Bool(b) => Some(*b),
                        v => return Err(Error::Invalid(format!("allow_remote_publishing must be true or false, not {v}"))),
                    }
                }
                "runtime_defaults" => match value {
                    Value::Object(fields) => {
                        for (k, v) in fields {
                            runtime.push((k.clone(), runtime_value(k, v)?));
                        }
                    }
                    v => return Err(Error::Invalid(format!("runtime_defaults must be an object of field names to numbers, not {v}"))),
                },
                k if DEFAULT_FIELDS.contains(&k) => runtime.push((k.to_string(), runtime_value(k, value)?)),
                other => {
                    return Err(Error::Invalid(format!(
                        "unknown server setting {other:?}; the settings are port, bind, allow_remote_publishing and the runtime defaults {}",
                        DEFAULT_FIELDS.join(", ")
                    )))
                }
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
            .ok_or_else(|| Error::Invalid(format!("{field} must be a number (or null for Porch's default), not {v}"))),
    }
}

/// Turns `name=value` words (the CLI's `porch settings set`) into a change set: `default`
/// resets, `on`/`off`/`true`/`false` are switches, numbers are numbers, anything else text.
pub fn patch_from_assignments(words: &[String]) -> Result<Map<String, Value>> {
    let mut patch = Map::new();
    for word in words {
        let (name, value) = word
            .split_once('=')
            .ok_or_else(|| Error::Invalid(format!("expected name=value (e.g. port=4000), not {word:?}")))?;
        let name = name.trim().replace('-', "_");
        let name = if name == "remote_publishing" { "allow_remote_publishing".to_string() } else { name };
        let value = value.trim();
        let value = match value {
            "default" | "" => Value::Null,
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

impl Engine {
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
        match self.inner.saved.read() {
            Ok(s) => f(&s),
            Err(poisoned) => f(&poisoned.into_inner()),
        }
    }

    /// Runtime defaults before anything saved: Connect's, with this run's memory and hang
    /// limits (`--app-memory-limit`, `--app-hang-timeout`).
    pub fn builtin_runtime_defaults(&self) -> RuntimeSettings {
        builtin_runtime_defaults(self.config())
    }

    /// Whether keyed management calls from other computers are accepted right now: the
    /// start-up flag forces it on for the run; otherwise the saved switch decides.
    pub fn allow_remote_publishing(&self) -> bool {
        self.config().allow_remote_publishing || self.with_saved(|s| s.doc.allow_remote_publishing.unwrap_or(false))
    }

    /// Re-reads the saved settings (another process may have changed them) and applies
    /// what applies at once; workers see changed runtime defaults.
    pub(crate) async fn reload_settings(&self) {
        let doc = match load(&self.inner.store).await {
            Ok(doc) => doc,
            Err(e) => return tracing::warn!(error = %e, "cannot read the saved server settings"),
        };
        let next = Engine::make_saved(self.config(), doc);
        let defaults_changed = {
            let mut cur = match self.inner.saved.write() {
                Ok(g) => g,
                Err(poisoned) => poisoned.into_inner(),
            };
            let changed = cur.runtime_defaults != next.runtime_defaults;
            *cur = next;
            changed
        };
        if defaults_changed {
            self.supervise_all();
        }
    }

    /// Changes saved settings: an object of names to values (`null` = the default), as
    /// `PATCH /__api__/porch/server` takes it. Everything is checked first; a change that
    /// would leave an item with impossible runtime settings (its own `min_processes` above a
    /// new default `max_processes`) is refused naming the item, and nothing is saved.
    pub async fn update_server_settings(&self, patch: &Map<String, Value>) -> Result<crate::preview::ServerView> {
        {
            let _turn = self.inner.settings_lock.lock().await;
            let builtin = self.builtin_runtime_defaults();
            let current = load(&self.inner.store).await?;
            let next = current.apply(patch, &builtin)?;
            let defaults = next.runtime_defaults(&builtin);
            for c in self.inner.store.list_content(None).await? {
                if let Err(e) = apply_runtime(&c.runtime, &[], &defaults) {
                    return Err(Error::Invalid(format!(
                        "with these runtime defaults, “{}” would be invalid ({e}); change that item's runtime settings first",
                        c.name
                    )));
                }
            }
            save(&self.inner.store, &next).await?;
            tracing::info!(settings = ?next, "server settings saved");
        }
        self.reload_settings().await;
        self.emit(crate::events::Event::LibraryChanged);
        Ok(self.server_view())
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
}
