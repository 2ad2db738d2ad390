//! The deployer: turns a stored bundle into the served version of an item.
//!
//! Owns deploy tasks (their logs stream into the task store), the deploy steps (prepare the
//! environment or render, check, activate, hand to the apps service), one-step deploys of a
//! path (pack, upload, deploy, wait), redeploys of a linked folder, and deleting an item with
//! its workers. Every failure leaves the served version as it was.
//!
//! Does not: store bundles (the library), run processes (apps, renders) or watch folders
//! (links, which call [`Deployer::redeploy_folder`]).
//!
//! Concurrency: a deploy started through the API runs as one tracked task; `deploy_path`
//! runs in the caller's task. Two deploys of one item may overlap; activation is one
//! transaction, so the last to finish is served.

mod preview;

pub use preview::upload_name;

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::apps::Apps;
use crate::bundle::{self, detect, BundleError};
use crate::error::{Error, Result};
use crate::events::Event;
use crate::library::{parse_access, validate_name, validate_text, ItemChanges, Library, NewItem};
use crate::renders::Renders;
use crate::runtimes::{overrides, Overrides};
use crate::shared::Shared;
use crate::store::{BundleRow, ContentRow};
use crate::tasks::{TaskLog, TaskView};
use crate::time::now;
use crate::view::ContentView;

/// Options for [`Deployer::deploy_path`].
#[derive(Debug, Clone, Default, Deserialize)]
pub struct DeployOptions {
    /// Content name; derived from the path when absent. An existing name is redeployed.
    pub name: Option<String>,
    /// Title for a new item (or a new title for an existing one).
    pub title: Option<String>,
    /// Access type for a new item (`all` by default).
    pub access_type: Option<String>,
    /// Run the bundle as this appmode instead of the declared or detected one.
    #[serde(default)]
    pub appmode: Option<String>,
    /// Run this entry point instead of the declared or detected one.
    #[serde(default)]
    pub entrypoint: Option<String>,
}

impl DeployOptions {
    /// The appmode and entry point chosen, as applied to the stored bundle.
    pub fn overrides(&self) -> Overrides {
        Overrides { appmode: self.appmode.clone(), entrypoint: self.entrypoint.clone() }
    }
}

/// What started a deploy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Trigger {
    /// A client (API, CLI, desktop) asked for it.
    Deploy,
    /// A linked folder changed.
    Watch,
}

impl Trigger {
    /// The trigger a render of this deploy is recorded with.
    fn render_trigger(self) -> crate::vocab::Trigger {
        match self {
            Trigger::Deploy => crate::vocab::Trigger::Deploy,
            Trigger::Watch => crate::vocab::Trigger::Watch,
        }
    }
}

/// The result of deploying a path.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize)]
pub struct Deployment {
    /// The deployed item.
    pub content: ContentView,
    /// The new bundle.
    pub bundle_id: String,
    /// The deploy task (its log stays queryable).
    pub task_id: String,
    /// Whether the item was created by this deploy.
    pub created: bool,
}

/// A content name derived from a file or folder name.
pub fn name_from_path(path: &Path) -> String {
    let stem = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_else(|| "content".into());
    let stem = bundle::pack::ARCHIVE_SUFFIXES
        .iter()
        .chain(bundle::pack::FILE_SUFFIXES)
        .find_map(|s| (stem.to_ascii_lowercase().ends_with(s)).then(|| stem[..stem.len() - s.len()].to_string()))
        .unwrap_or(stem);
    let mut name: String = stem
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-') { c.to_ascii_lowercase() } else { '-' })
        .collect();
    name = name.trim_matches(|c| c == '-' || c == '.').to_string();
    while name.contains("--") {
        name = name.replace("--", "-");
    }
    if name.len() < 3 {
        name = format!("{}{}", if name.is_empty() { "content" } else { &name }, "-site");
    }
    name.truncate(64);
    name
}

/// The deployer service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Deployer {
    shared: Shared,
    library: Library,
    apps: Apps,
    renders: Renders,
}

impl Deployer {
    /// A deployer over these services.
    pub(crate) fn new(shared: Shared, library: Library, apps: Apps, renders: Renders) -> Deployer {
        Deployer { shared, library, apps, renders }
    }

    /// Starts deploying a bundle (the newest when `bundle_id` is `None`); returns the task.
    pub async fn deploy(&self, key: &str, bundle_id: Option<i64>, activate: bool) -> Result<String> {
        let (c, b) = self.deploy_target(key, bundle_id).await?;
        let log = self.shared.tasks.create(c.id, Some(b.id), "deploy").await?;
        let id = log.id().to_string();
        let deployer = self.clone();
        self.shared.spawn(async move {
            let outcome = deployer.run_deploy(&log, &c, &b, activate, Trigger::Deploy).await;
            deployer.finish(&log, &c.guid, &outcome).await;
        });
        Ok(id)
    }

    /// Ends a deploy task: its log's final state, then `TaskFinished` for whoever follows
    /// deploys (the window's notifications, the gallery's captures). Every deploy path ends
    /// here, whichever way it started (the API, the CLI's upload, a linked folder).
    async fn finish(&self, log: &TaskLog, guid: &str, outcome: &Result<()>) {
        log.finish(outcome).await;
        self.shared.emit(Event::TaskFinished {
            id: log.id().to_string(),
            guid: guid.to_string(),
            code: i64::from(outcome.is_err()),
            error: outcome.as_ref().err().map(ToString::to_string).unwrap_or_default(),
        });
    }

    async fn deploy_target(&self, key: &str, bundle_id: Option<i64>) -> Result<(ContentRow, BundleRow)> {
        let c = self.library.content(key).await?;
        let b = match bundle_id {
            Some(id) => self.shared.store.bundle(c.id, id).await?,
            None => self.shared.store.list_bundles(c.id).await?.into_iter().next().ok_or_else(|| {
                Error::Invalid(format!("content {} has no bundle to deploy; upload one first", c.guid))
            })?,
        };
        Ok((c, b))
    }

    /// The deploy steps, writing progress into the task log.
    ///
    /// An interactive item's new version must start before it is served: a first deploy
    /// (its check's worker then stops; the app starts when its first viewer arrives), a
    /// redeploy whatever asked for it, and every save of a linked folder. With
    /// [`Trigger::Watch`] (a linked folder changed) a rendered item's render is recorded with
    /// trigger `watch`. Every failure leaves the served version as it was.
    async fn run_deploy(
        &self,
        log: &TaskLog,
        c: &ContentRow,
        b: &BundleRow,
        activate: bool,
        trigger: Trigger,
    ) -> Result<()> {
        log.line(format!("Deploying bundle {} of {} ({})", b.id, c.name, c.guid)).await;
        let manifest = match &b.manifest {
            Some(m) => {
                m.check_known()?;
                m.clone()
            }
            None => detect::manifest_for(&self.shared.bundle_dir(b.id))?,
        };
        log.line(format!(
            "Content type: {} ({}){}",
            crate::static_site::pages::kind_label(&manifest.app_mode, &manifest.content_category),
            manifest.app_mode,
            manifest.entrypoint.as_deref().map(|e| format!(", entry point {e}")).unwrap_or_default()
        ))
        .await;
        // A document that is not there would fail its render with the renderer's usage text
        // (a Quarto project's entry point may name the project, so Quarto is left to say).
        if matches!(manifest.app_mode, crate::vocab::AppMode::JupyterStatic | crate::vocab::AppMode::RmdStatic) {
            if let Some(entry) = &manifest.entrypoint {
                let dir = self.shared.bundle_dir(b.id);
                if !bundle::static_file_exists(&dir, entry).await {
                    let found = crate::runtimes::overrides::candidates(&dir, &manifest.app_mode);
                    let choices = if found.is_empty() {
                        String::new()
                    } else {
                        format!("; the bundle has {}", found.iter().take(20).cloned().collect::<Vec<_>>().join(", "))
                    };
                    return Err(BundleError::InvalidManifest {
                        reason: format!("entrypoint {entry:?} is not in the bundle{choices}"),
                    }
                    .into());
                }
            }
        }
        let mut rendered = None;
        // A render asked for during this deploy waits until the new bundle is active.
        let mut deploying = None;
        let interactive = crate::runtime_kind(&manifest.app_mode) == crate::RuntimeKind::Interactive;
        match crate::runtime_kind(&manifest.app_mode) {
            crate::RuntimeKind::Interactive => {
                log.line("Preparing the environment").await;
                self.apps.prepare_environment(&self.shared.bundle_dir(b.id), &manifest, Some(log)).await?;
            }
            crate::RuntimeKind::Rendered if activate => {
                deploying = Some(self.renders.deploying(c.id).await);
                rendered =
                    Some(self.renders.run_render(log, c, b.id, &manifest, &trigger.render_trigger(), false).await?);
            }
            crate::RuntimeKind::Rendered => {}
            crate::RuntimeKind::Static => {}
        }
        if let Some(primary) = &manifest.primary_html {
            let exists = bundle::static_file_exists(&self.shared.bundle_dir(b.id), primary).await;
            if !exists {
                return Err(BundleError::InvalidManifest {
                    reason: format!("primary_html {primary:?} is not in the bundle"),
                }
                .into());
            }
        }
        if !activate {
            self.shared.store.mark_bundle_ready(b.id).await?;
            log.line(format!("Bundle {} is ready; not activated (draft)", b.id)).await;
            return Ok(());
        }
        // A version that would not start (a syntax error, a module that is not installed, a
        // wrong entry point) fails here with the worker's last lines, before viewers see it:
        // a first deploy as well as a redeploy. rsconnect's draft check of `_bundle{N}`
        // cannot tell, as Porch answers it with a page about the bundle.
        let first = c.bundle_id.is_none();
        let replaces = c.bundle_id.is_some_and(|served| served != b.id);
        if interactive && (first || replaces || trigger == Trigger::Watch) && self.shared.is_serving() {
            if first {
                log.line(format!("Starting bundle {} to check that it runs", b.id)).await;
                self.apps.try_new_version(c, b.id, &manifest).await?;
                // The check's worker stops: the app starts when a viewer arrives (or now, for
                // `min_processes`, once it is supervised below), as every app does.
                self.apps.supervisor().remove(&c.guid).await;
                log.line(format!("Bundle {} answered", b.id)).await;
            } else {
                log.line(format!("Starting bundle {} next to the version being served", b.id)).await;
                self.apps.try_new_version(c, b.id, &manifest).await?;
                log.line(format!("Bundle {} answered; switching viewers to it", b.id)).await;
            }
        }
        let activation = crate::store::Activation {
            app_mode: &manifest.app_mode,
            content_category: &manifest.content_category,
            entrypoint: manifest.entrypoint.as_deref(),
            primary_html: manifest.primary_html.as_deref(),
            now: &now(),
        };
        self.shared.store.activate_bundle(c.id, b.id, &activation).await?;
        if let Some(render) = rendered {
            self.shared.store.set_current_render(c.id, render).await?;
        }
        drop(deploying);
        self.library.changed(&c.guid).await?;
        if rendered.is_some() {
            // Each variant renders the new version too, in this task (a CLI deploy ends with
            // it), once the default output is live. A failing variant keeps its previous
            // output and does not fail the deploy.
            for v in self.shared.store.variants(c.id).await? {
                if let Err(e) = self
                    .renders
                    .run_render_variant(log, c, Some(&v), b.id, &manifest, &crate::vocab::Trigger::Deploy, true)
                    .await
                {
                    log.line(format!("Variant {:?} did not render: {e}", v.name)).await;
                }
            }
        }
        let active = self.library.content(&c.guid).await?;
        self.apps.supervise(&active).await;
        log.line(format!("Bundle {} is now active", b.id)).await;
        Ok(())
    }

    /// Packs the linked folder `folder` as a new bundle of `c` and deploys it (trigger
    /// `watch`). Every attempt is a deploy task, so a failure keeps its log; returns the
    /// task id (when one was created) and the outcome.
    ///
    /// `digest` is the folder's fingerprint the caller decided on. If the folder no longer
    /// matches it once packed, a save landed mid-pack and the archive may hold a file cut
    /// in half: it is dropped, and `None` asks the caller to look again once saves settle.
    pub(crate) async fn redeploy_folder(
        &self,
        c: &ContentRow,
        folder: &Path,
        digest: &str,
    ) -> Option<(Option<String>, Result<()>)> {
        let (src, tmp, limits) = (folder.to_path_buf(), self.shared.config.tmp_dir(), self.shared.config.limits);
        let packed = tokio::task::spawn_blocking(move || {
            let packed = bundle::pack::pack(&src, &tmp, &limits);
            let after = bundle::pack::fingerprint(&src).map(|f| f.digest).ok();
            (packed, after)
        })
        .await;
        let packed = match packed {
            Ok((_, after)) if after.as_deref() != Some(digest) => return None,
            Ok((packed, _)) => packed.map_err(Error::from),
            Err(e) => Err(Error::failed("packing stopped")(e)),
        };
        let log = match self.shared.tasks.create(c.id, None, "deploy").await {
            Ok(log) => log,
            Err(e) => return Some((None, Err(e))),
        };
        let outcome = async {
            log.line(format!("Redeploying {} after changes in {}", c.name, folder.display())).await;
            let packed = packed?;
            // An appmode or entry point chosen for the served version stays chosen.
            let overrides = self.active_overrides(c).await;
            if !overrides.is_empty() {
                log.line(format!(
                    "Keeping the chosen{}{}",
                    overrides.app_mode().map(|m| format!(" appmode {m}")).unwrap_or_default(),
                    overrides.entry().map(|e| format!(" entry point {e}")).unwrap_or_default()
                ))
                .await;
            }
            let b = self.library.upload_bundle_as(&c.guid, packed.path(), None, &overrides).await?;
            // The item may have been renamed or reconfigured since the link was made.
            let c = self.library.content(&c.guid).await?;
            self.run_deploy(&log, &c, &b, true, Trigger::Watch).await
        }
        .await;
        self.finish(&log, &c.guid, &outcome).await;
        Some((Some(log.id().to_string()), outcome))
    }

    /// The appmode and entry point chosen for the item's active bundle, if any.
    async fn active_overrides(&self, c: &ContentRow) -> Overrides {
        let Some(id) = c.bundle_id else { return Overrides::default() };
        let Ok(b) = self.shared.store.bundle(c.id, id).await else { return Overrides::default() };
        b.manifest.as_ref().map(|m| overrides::recorded(&m.raw)).unwrap_or_default()
    }

    /// Waits for a task to finish and returns its final state.
    pub async fn wait_task(&self, id: &str) -> Result<TaskView> {
        self.shared.tasks.wait_finished(id).await
    }

    /// A task's state from line `first` on, waiting up to `wait` for news.
    pub async fn task(&self, id: &str, first: usize, wait: Duration) -> Result<TaskView> {
        self.shared.tasks.get(id, first, wait).await
    }

    /// Deploys a folder, single file or archive in one step: pack, upload, deploy, wait.
    ///
    /// An existing item with the same name gets a new bundle; otherwise one is created.
    pub async fn deploy_path(&self, path: &Path, opts: DeployOptions) -> Result<Deployment> {
        let name = opts.name.clone().unwrap_or_else(|| name_from_path(path));
        // Bad options fail before anything is packed.
        validate_name(&name)?;
        validate_text(opts.title.as_deref(), None)?;
        opts.overrides().check()?;
        opts.access_type.as_deref().map(parse_access).transpose()?;
        let (src, tmp, limits) = (path.to_path_buf(), self.shared.config.tmp_dir(), self.shared.config.limits);
        let packed = tokio::task::spawn_blocking(move || bundle::pack::pack(&src, &tmp, &limits))
            .await
            .map_err(Error::failed("packing stopped"))??;
        self.deploy_archive(packed.path(), path, DeployOptions { name: Some(name), ..opts }).await
    }

    /// [`Deployer::deploy_archive`] of an uploaded archive (`POST /porch/deploy`, which the
    /// CLI uses while a server runs), on the engine's task tracker: a client that goes away
    /// does not cut a deploy short, and shutdown waits for it.
    pub async fn deploy_upload(
        &self,
        archive: tempfile::TempPath,
        named_like: PathBuf,
        opts: DeployOptions,
    ) -> Result<Deployment> {
        let deployer = self.clone();
        let run = self.shared.tracker.spawn(async move { deployer.deploy_archive(&archive, &named_like, opts).await });
        run.await.map_err(Error::failed("the deploy stopped"))?
    }

    /// Deploys a packed archive in one step: store, deploy, wait. `named_like` (the folder,
    /// file or upload the archive came from) names a new item when `opts.name` is unset, and
    /// titles it when `opts.title` is.
    ///
    /// An existing item with the same name gets a new bundle; otherwise one is created, and
    /// removed again if its first deploy fails.
    pub async fn deploy_archive(&self, archive: &Path, named_like: &Path, opts: DeployOptions) -> Result<Deployment> {
        let name = opts.name.clone().unwrap_or_else(|| name_from_path(named_like));
        validate_name(&name)?;
        validate_text(opts.title.as_deref(), None)?;
        let overrides = opts.overrides();
        overrides.check()?;
        let access = opts.access_type.as_deref().map(parse_access).transpose()?;
        let mut patch = None;
        let (content, created) = match self.shared.store.content_by_name(&name).await? {
            Some(c) => {
                // A new access applies before the new bundle goes live, so it is never served
                // more widely than asked; and only once the bundle is stored, so a refused
                // bundle changes nothing.
                let (access_type, viewer_access) = access.clone().unzip();
                if opts.title.is_some() || access.is_some() {
                    patch = Some(ItemChanges {
                        title: opts.title.clone(),
                        access_type,
                        viewer_access,
                        ..Default::default()
                    });
                }
                (c, false)
            }
            None => {
                let title = opts.title.clone().or_else(|| Some(title_from_path(named_like)));
                let (access_type, viewer_access) = access.clone().unzip();
                let new = NewItem { name: name.clone(), title, description: None, access_type, viewer_access };
                (self.library.create_content(new).await?, true)
            }
        };
        let result = async {
            let b = self.library.upload_bundle_as(&content.guid, archive, None, &overrides).await?;
            if let Some(patch) = patch {
                self.library.update_content(&content.guid, patch).await?;
            }
            let log = self.shared.tasks.create(content.id, Some(b.id), "deploy").await?;
            let outcome = self.run_deploy(&log, &content, &b, true, Trigger::Deploy).await;
            self.finish(&log, &content.guid, &outcome).await;
            outcome.map(|()| (b.id, log.id().to_string()))
        }
        .await;
        let (bundle_id, task_id) = match result {
            Ok(v) => v,
            Err(e) => {
                // A first deploy that fails leaves no empty item behind.
                if created {
                    let _ = self.delete_content(&content.guid).await;
                }
                return Err(e);
            }
        };
        let row = self.library.content(&content.guid).await?;
        Ok(Deployment {
            content: self.library.view(&row, &self.shared.share_origin()),
            bundle_id: bundle_id.to_string(),
            task_id,
            created,
        })
    }

    /// Deletes the item with this name.
    pub async fn remove_by_name(&self, name: &str) -> Result<()> {
        let c = self.library.content_by_name(name).await?;
        self.delete_content(&c.guid).await
    }

    /// Deletes an item: its workers stop, then its rows, bundles and files go (the library
    /// announces it, and a linked folder's follower stops on that).
    pub async fn delete_content(&self, key: &str) -> Result<()> {
        let c = self.library.content(key).await?;
        self.apps.remove(&c.guid).await;
        // Its renders' rows go with it (a cascade); their folders are removed here. A render
        // still running stops when it hears of the removal and removes its own.
        let renders: Vec<i64> = self.shared.store.renders(c.id).await?.iter().map(|r| r.id).collect();
        self.library.delete_content(&c.guid).await?;
        self.renders.forget_render_files(&renders).await;
        Ok(())
    }
}

/// A title derived from a file or folder name (its archive or document suffix dropped).
pub(crate) fn title_from_path(path: &Path) -> String {
    // A file name may hold what a title may not (`library::validate_text`): control
    // characters become spaces.
    let name: String = path
        .file_name()
        .map(|n| n.to_string_lossy().chars().map(|c| if c.is_control() { ' ' } else { c }).collect())
        .unwrap_or_default();
    bundle::pack::ARCHIVE_SUFFIXES
        .iter()
        .chain(bundle::pack::FILE_SUFFIXES)
        .find_map(|s| name.to_ascii_lowercase().ends_with(s).then(|| name[..name.len() - s.len()].to_string()))
        .unwrap_or(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn derived_names() {
        assert_eq!(name_from_path(Path::new("/x/My Report.ipynb")), "my-report");
        assert_eq!(name_from_path(Path::new("/x/site.tar.gz")), "site");
        assert_eq!(name_from_path(Path::new("/x/a")), "a-site");
        assert_eq!(name_from_path(Path::new("/x/Café Ünï")), "caf-n");
        assert!(validate_name(&name_from_path(Path::new("/x/☃☃"))).is_ok());
    }
}
