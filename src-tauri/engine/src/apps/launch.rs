//! Bridges a deployed interactive item to the supervisor: prepares its environment,
//! asks the launcher for a launch description per worker, and installs the result.
//!
//! Environments are prepared at deploy time (with the install log streamed into the
//! deploy task); installing a definition later (Porch start, settings change) finds the
//! same cached environment, so it costs a hash check, not an install.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use tokio::sync::mpsc;

use super::Apps;
use crate::bundle::Manifest;
use crate::error::{Error, Result};
use crate::store::ContentRow;
use crate::supervisor::{AppDef, ForkVia, PrefixMode, Spawn};
use crate::tasks::TaskLog;
use crate::{runtime_kind, runtimes, RuntimeKind};

/// The interpreter a bundle runs with.
#[derive(Debug, Clone)]
pub(crate) enum Interpreter {
    /// A Python virtualenv's interpreter.
    Python(PathBuf),
    /// The machine's Rscript.
    R(PathBuf),
}

impl Apps {
    /// Prepares the runtime environment of an interactive bundle, streaming progress into
    /// `log` (when given). Errors name what is missing.
    pub(crate) async fn prepare_environment(
        &self,
        bundle_dir: &Path,
        manifest: &Manifest,
        log: Option<&TaskLog>,
    ) -> Result<Interpreter> {
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        let forward = {
            let log = log.cloned();
            self.shared.tracker.spawn(async move {
                while let Some(line) = rx.recv().await {
                    match &log {
                        Some(l) => l.line(line).await,
                        None => tracing::debug!("{line}"),
                    }
                }
            })
        };
        let mode = &manifest.app_mode;
        let result = if runtimes::needs_python(mode) {
            self.state
                .environments
                .python(bundle_dir, manifest, runtimes::python_extras(mode), &tx)
                .await
                .map(|env| Interpreter::Python(env.python))
        } else if runtimes::needs_r(mode) {
            self.state
                .environments
                .r(bundle_dir, manifest, runtimes::r_packages(mode), &tx)
                .await
                .map(|env| Interpreter::R(env.rscript))
        } else {
            drop(tx);
            let _ = forward.await;
            return Err(Error::Invalid(format!("Porch cannot run {mode} content")));
        };
        drop(tx);
        let _ = forward.await;
        Ok(result?)
    }

    /// Installs (or refreshes) the supervisor's definition of an item, or removes it when
    /// the item is not interactive or has no active bundle.
    pub(crate) async fn supervise(&self, c: &ContentRow) {
        // Only a serving engine runs workers; the CLI's engine leaves that to the server.
        if !self.shared.is_serving() {
            return;
        }
        // One at a time, each reading the item afresh: the last call installs the latest
        // state even when a deploy, a settings change and a reload race each other.
        let _turn = self.state.supervise_lock.lock().await;
        let guid = c.guid.clone();
        let c = match self.library.content(&guid).await {
            Ok(c) => c,
            Err(_) => {
                self.state.supervisor.remove(&guid).await;
                return;
            }
        };
        match self.app_def(&c).await {
            Ok(Some(def)) => self.state.supervisor.install(def),
            Ok(None) => {
                if self.state.supervisor.has(&guid) {
                    self.state.supervisor.remove(&guid).await;
                }
            }
            Err(e) => tracing::warn!(content = %guid, error = %e, "cannot prepare the app"),
        }
    }

    async fn app_def(&self, c: &ContentRow) -> Result<Option<AppDef>> {
        let Some(bundle_id) = c.bundle_id else { return Ok(None) };
        if runtime_kind(&c.app_mode) != RuntimeKind::Interactive {
            return Ok(None);
        }
        let (_, b) = self.library.bundle(&c.guid, bundle_id).await?;
        let manifest = b.require_manifest()?;
        self.app_def_for(c, bundle_id, manifest).await.map(Some)
    }

    /// Starts `bundle_id` (not yet active) next to the version being served and switches
    /// the supervisor to it once a worker answers; on failure the served version stays and
    /// the error carries the worker's last lines.
    pub(crate) async fn try_new_version(&self, c: &ContentRow, bundle_id: i64, manifest: &Manifest) -> Result<()> {
        let def = self.app_def_for(c, bundle_id, manifest.clone()).await?;
        let after = if c.bundle_id.is_some() {
            "the previous version keeps serving"
        } else {
            "nothing is served until a version starts"
        };
        // A version that will not start is a runtime failure of the deploy (never a bad
        // request): the message carries the worker's last lines, the source the typed cause.
        self.state.supervisor.promote(def).await.map_err(|e| {
            let message = match &e {
                crate::supervisor::RouteError::StartFailed { message, last_lines } => {
                    let tail = if last_lines.is_empty() {
                        String::new()
                    } else {
                        format!("; last lines:\n{}", last_lines.join("\n"))
                    };
                    format!("the new version did not start ({message}); {after}{tail}")
                }
                other => format!("the new version did not start: {other}; {after}"),
            };
            Error::Runtime { message, source: Box::new(e) }
        })
    }

    /// Whether this item's workers may be forked from its environment's pre-imported
    /// helper; if so, records that the helper serves the item (held while the item keeps
    /// `min_processes > 0`), starts it (a deploy or start of the item), and returns where to
    /// fork from and the views the item's leases count in. If not, no helper serves it.
    fn fork_via(
        &self,
        c: &ContentRow,
        app_mode: &crate::vocab::AppMode,
        interpreter: &Interpreter,
        publisher_vars: &[(String, String)],
        settings: &crate::supervisor::RuntimeSettings,
    ) -> Option<(ForkVia, crate::zygote::Views)> {
        let zygotes = self.state.zygotes.clone();
        let python = match interpreter {
            Interpreter::Python(p) if crate::zygote::modules_for(app_mode).is_some() && zygotes.enabled() => p,
            _ => {
                zygotes.release(&c.guid);
                return None;
            }
        };
        if !crate::zygote::vars_allow_fork(publisher_vars.iter().map(|(n, _)| n.as_str())) {
            tracing::info!(content = %c.guid, "an environment variable configures the framework at import; starting plainly");
            zygotes.release(&c.guid);
            return None;
        }
        let views = zygotes.serve(python, &c.guid, settings.min_processes > 0);
        zygotes.prepare(python, app_mode);
        Some((ForkVia { zygotes, python: python.clone() }, views))
    }

    async fn app_def_for(&self, c: &ContentRow, bundle_id: i64, manifest: Manifest) -> Result<AppDef> {
        let bundle_dir = self.shared.bundle_dir(bundle_id);
        let interpreter = self.prepare_environment(&bundle_dir, &manifest, None).await?;
        let origin = self.shared.default_origin();
        let publisher_vars = self.shared.store.env_vars(c.id).await?;
        let env = runtimes::connect_env(&origin, &c.guid, Some(self.shared.content_key()), &publisher_vars);
        let settings = super::runtime::effective(&c.runtime, &self.runtime_defaults());
        let base_path = format!("/content/{}", c.guid);
        let external_host = origin.split("://").nth(1).unwrap_or("localhost").to_string();
        let (fork, views) = self.fork_via(c, &manifest.app_mode, &interpreter, &publisher_vars, &settings).unzip();
        let factory = Arc::new(move |port: u16| -> Result<Spawn, String> {
            let (python, rscript) = match &interpreter {
                Interpreter::Python(p) => (Some(p.as_path()), None),
                Interpreter::R(r) => (None, Some(r.as_path())),
            };
            let ctx = runtimes::LaunchContext {
                app_mode: &manifest.app_mode,
                manifest: &manifest,
                bundle_dir: &bundle_dir,
                python,
                rscript,
                base_path: &base_path,
                external_host: &external_host,
                port,
                env: &env,
            };
            let spec = runtimes::launch_spec(&ctx).map_err(|e| e.to_string())?;
            Ok(Spawn {
                program: spec.program,
                args: spec.args,
                env: spec.env,
                cwd: spec.cwd,
                port: spec.port,
                readiness_path: spec.readiness.path,
                ready_on_any_status: spec.readiness.any_status,
                prefix: match spec.prefix {
                    runtimes::PrefixMode::Strip => PrefixMode::Strip,
                    runtimes::PrefixMode::PassThrough => PrefixMode::PassThrough,
                },
                files: spec.files,
                fork: fork.clone(),
            })
        });
        Ok(AppDef { guid: c.guid.clone(), bundle_id, settings, factory, views })
    }
}
