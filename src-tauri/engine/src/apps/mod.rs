//! Apps: interactive content running as worker processes.
//!
//! Owns the supervisor (one actor per item, its workers and their routing), the Python and
//! R environments (built at deploy, found again by hash), the server's default runtime
//! settings in force, and the operations on running items: runtime settings, environment
//! variables, the worker list, restarts, logs and the Python lockfile, and the pre-imported
//! Python helpers (`crate::zygote`): `launch` starts an environment's helper when it hands
//! a Python app to the supervisor and lets its workers be forked from it (unless the item
//! sets a variable a framework reads at import time). `launch` turns an item into a
//! supervisor definition; `runtime` checks runtime settings.
//!
//! Does not: store bundles (the library), decide when to deploy (the deployer) or serve
//! viewers (the gateway asks [`Apps::supervisor`] for a worker).
//!
//! Concurrency: a cheap `Clone` over an `Arc`. Handing items to the supervisor is
//! serialised by one tokio lock (see `supervise`); the runtime defaults sit behind a std
//! lock that is only read or replaced whole.

mod launch;
mod runtime;

use std::sync::{Arc, RwLock};

use crate::environment::Environments;
use crate::error::{Error, Result};
use crate::library::Library;
use crate::shared::Shared;
use crate::store::ContentRow;
use crate::supervisor::{InstanceInfo, RuntimeSettings, Supervisor};
use crate::zygote::{HelperInfo, Zygotes};

use runtime::valid_env_name;
pub use runtime::{apply_runtime, effective, RuntimeChange, RUNTIME_FIELDS};

/// The apps service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Apps {
    shared: Shared,
    library: Library,
    state: Arc<State>,
}

#[derive(Debug)]
struct State {
    supervisor: Supervisor,
    environments: Environments,
    /// Serialises handing items to the supervisor (see `Apps::supervise`).
    supervise_lock: tokio::sync::Mutex<()>,
    /// The server's runtime defaults in force (saved over built-in).
    defaults: RwLock<RuntimeSettings>,
    /// The pre-imported Python helpers, one per environment.
    zygotes: Zygotes,
}

impl Apps {
    /// The apps service of an engine, with these runtime defaults.
    pub(crate) fn new(shared: Shared, library: Library, defaults: RuntimeSettings) -> Apps {
        let supervisor = Supervisor::with_runner(
            shared.config.data_dir.join("logs"),
            shared.runner.clone(),
            shared.cancel.clone(),
            shared.tracker.clone(),
            std::time::Duration::from_secs(5),
        );
        let mut environments = Environments::new(&shared.config.data_dir).with_runner(shared.runner.clone());
        if let Some(dir) = &shared.config.uv_cache_dir {
            environments = environments.with_uv_cache(dir.clone());
        }
        if let Some(uv) = &shared.config.packaged_uv {
            environments = environments.with_packaged_uv(uv.clone());
        }
        let zygotes = Zygotes::new(
            shared.runner.clone(),
            shared.tracker.clone(),
            shared.cancel.clone(),
            shared.config.data_dir.join("run"),
        );
        let state = State {
            zygotes,
            supervisor,
            environments,
            supervise_lock: tokio::sync::Mutex::new(()),
            defaults: RwLock::new(defaults),
        };
        Apps { shared, library, state: Arc::new(state) }
    }

    /// The supervisor: the gateway asks it for a worker for each viewer request.
    pub fn supervisor(&self) -> &Supervisor {
        &self.state.supervisor
    }

    /// The pre-imported Python helpers (the settings service switches them).
    pub(crate) fn zygotes(&self) -> &Zygotes {
        &self.state.zygotes
    }

    /// Turns the pre-imported Python helpers on or off (the `zygote` setting); turned on,
    /// every item is handed to the supervisor again so its workers may be forked.
    pub(crate) fn set_zygote(&self, on: bool) {
        let was = self.state.zygotes.enabled();
        self.state.zygotes.set_enabled(on);
        if on && !was && self.shared.is_serving() {
            self.supervise_all();
        }
    }

    /// The pre-imported Python helpers with their state and memory (the Processes view).
    pub fn python_helpers(&self) -> Vec<HelperInfo> {
        self.state.zygotes.list()
    }

    /// The Python and R environments (renders use them too).
    pub(crate) fn environments(&self) -> &Environments {
        &self.state.environments
    }

    /// Stops an item's workers and forgets it (the item is being deleted).
    pub(crate) async fn remove(&self, guid: &str) {
        self.state.zygotes.release(guid);
        self.state.supervisor.remove(guid).await;
    }

    /// Hands every active interactive item to the supervisor (workers for `min_processes`
    /// start now; the rest on the first request). Runs in the background: preparing an
    /// environment can take a while and must not delay serving.
    pub(crate) fn supervise_all(&self) {
        let apps = self.clone();
        self.shared.spawn(async move {
            let rows = match apps.shared.store.list_content(None).await {
                Ok(rows) => rows,
                Err(e) => return tracing::warn!(error = %e, "cannot list content to supervise"),
            };
            for c in rows.iter().filter(|c| crate::runtime_kind(&c.app_mode) == crate::RuntimeKind::Interactive) {
                apps.supervise(c).await;
            }
        });
    }

    /// The resolved package list of the active bundle's Python environment, as
    /// `(bundle_id, python_version, ["name==version", ...])`. The environment is the one the
    /// deploy built (found by its hash; rebuilt only if it was removed); content without a
    /// Python environment has no lockfile.
    pub async fn lockfile(&self, key: &str) -> Result<(i64, String, Vec<String>)> {
        let c = self.library.content(key).await?;
        let Some(bundle_id) = c.bundle_id else {
            return Err(Error::not_found("lockfile of undeployed content", &c.guid));
        };
        let (_, b) = self.library.bundle(&c.guid, bundle_id).await?;
        let manifest = b.require_manifest()?;
        if !crate::runtimes::needs_python(&manifest.app_mode) {
            return Err(Error::not_found("Python lockfile (no Python environment) of content", &c.guid));
        }
        // The extras are part of the environment's hash: the same ones the deploy used.
        let extras = match &manifest.app_mode {
            crate::vocab::AppMode::JupyterStatic => crate::runtimes::NOTEBOOK_EXTRAS,
            mode => crate::runtimes::python_extras(mode),
        };
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let env = self.state.environments.python(&self.shared.bundle_dir(bundle_id), &manifest, extras, &tx).await?;
        let (version, packages) = self.state.environments.installed_packages(&env.python).await?;
        Ok((bundle_id, version, packages))
    }

    /// The Python versions this machine has (`3.11.2`, …), as Connect lists its
    /// installations in `GET /v1/server_settings/python` (promotions check them).
    pub async fn python_versions(&self) -> Vec<String> {
        use crate::environment::python;
        let found = python::probe_all(&self.shared.runner, &python::candidate_names()).await;
        let mut versions: Vec<String> = python::python3_only(found).iter().map(|i| i.version()).collect();
        versions.dedup();
        versions
    }

    /// The server's default runtime settings: the saved ones over the built-in ones.
    pub fn runtime_defaults(&self) -> RuntimeSettings {
        // A std lock: read whole, never held across an await.
        *self.state.defaults.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Replaces the server's default runtime settings (the settings service, when the saved
    /// ones change); running items get them at once. Returns whether they changed.
    pub(crate) fn set_runtime_defaults(&self, defaults: RuntimeSettings) -> bool {
        let changed = {
            let mut cur = self.state.defaults.write().unwrap_or_else(|p| p.into_inner());
            let changed = *cur != defaults;
            *cur = defaults;
            changed
        };
        if changed {
            self.supervise_all();
        }
        changed
    }

    /// Changes runtime settings (validated) and applies them to running workers.
    pub async fn update_runtime(&self, key: &str, changes: &[RuntimeChange]) -> Result<ContentRow> {
        let c = self.library.content(key).await?;
        if changes.is_empty() {
            return Ok(c);
        }
        let row = apply_runtime(&c.runtime, changes, &self.runtime_defaults())?;
        self.shared.store.set_runtime(c.id, &row).await?;
        let c = self.library.content(&c.guid).await?;
        self.supervise(&c).await;
        self.shared.emit(crate::events::Event::ContentChanged { guid: c.guid.clone() });
        Ok(c)
    }

    /// Names of an item's environment variables (values are never returned).
    pub async fn env_names(&self, key: &str) -> Result<Vec<String>> {
        let c = self.library.content(key).await?;
        Ok(self.shared.store.env_vars(c.id).await?.into_iter().map(|(n, _)| n).collect())
    }

    /// Sets (`Some`) or deletes (`None`) variables; `replace` drops all others. Restarts
    /// the item's workers so they see the change.
    pub async fn update_env(
        &self,
        key: &str,
        changes: &[(String, Option<String>)],
        replace: bool,
    ) -> Result<Vec<String>> {
        let c = self.library.content(key).await?;
        if let Some((bad, _)) = changes.iter().find(|(n, _)| !valid_env_name(n)) {
            return Err(Error::Invalid(format!("invalid environment variable name {bad:?}")));
        }
        // A process's environment cannot hold a NUL: the app would not start at all.
        if let Some((bad, _)) = changes.iter().find(|(_, v)| v.as_deref().is_some_and(|v| v.contains('\0'))) {
            return Err(Error::Invalid(format!(
                "the value of environment variable {bad} holds a NUL character, which no process environment can"
            )));
        }
        self.shared.store.update_env_vars(c.id, changes, replace).await?;
        self.state.supervisor.restart(&c.guid).await;
        self.supervise(&c).await;
        self.env_names(&c.guid).await
    }

    /// An item's workers.
    pub async fn instances(&self, key: &str) -> Result<Vec<InstanceInfo>> {
        let c = self.library.content(key).await?;
        Ok(self.state.supervisor.instances(&c.guid).await)
    }

    /// Kills one worker.
    pub async fn kill_instance(&self, key: &str, id: u64) -> Result<()> {
        let c = self.library.content(key).await?;
        if self.state.supervisor.kill(&c.guid, id).await {
            Ok(())
        } else {
            Err(Error::not_found("process", id))
        }
    }

    /// Stops every worker of an item; new ones start as needed (and `min_processes` at once).
    pub async fn restart_content(&self, key: &str) -> Result<()> {
        let c = self.library.content(key).await?;
        self.state.supervisor.restart(&c.guid).await;
        Ok(())
    }

    /// The last `lines` lines of an item's process log.
    pub async fn content_log(&self, key: &str, lines: usize) -> Result<Vec<String>> {
        let c = self.library.content(key).await?;
        Ok(self.state.supervisor.log_tail(&c.guid, lines).await)
    }
}
