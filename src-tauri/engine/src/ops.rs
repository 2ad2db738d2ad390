//! Engine operations: the one way in for the CLI, the HTTP API and the desktop shell.
//!
//! Content and bundle operations validate input, call the store, move files, refresh the
//! routing table and publish an event. File work (extraction, packing) runs on blocking
//! threads. A failed upload or deploy leaves no trace: extraction happens in a scratch
//! folder that is renamed into place only after the database row is written, and the
//! served bundle changes only in the activation transaction.

use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::bundle::{self, detect, BundleError, Manifest, Overrides};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::keys;
use crate::store::{BundleRow, ContentPatch, ContentRow, NewContent};
use crate::tasks::{TaskLog, TaskView};
use crate::time::now;
use crate::view::{BundleView, ContentView};

/// Connect access types Porch understands.
pub const ACCESS_TYPES: &[&str] = &["all", "logged_in", "acl"];

/// Who may view an item: anyone who reaches the port, this computer only, or whoever
/// holds the secret link.
pub const VIEWER_ACCESS: &[&str] = &["network", "local", "link"];

/// Connect's `access_type` in Porch's terms: Porch has no viewer accounts, so `all` and
/// `logged_in` open the item to the network and `acl` (named users only) keeps it on this
/// computer.
pub fn viewer_access_of(access_type: &str) -> &'static str {
    if access_type == "acl" {
        "local"
    } else {
        "network"
    }
}

/// The `access_type` reported for a viewer access (`network` → `all`, otherwise `acl`).
pub fn access_type_of(viewer_access: &str) -> &'static str {
    if viewer_access == "network" {
        "all"
    } else {
        "acl"
    }
}

/// Reads an access word in either vocabulary (`network|local|link` or Connect's
/// `all|logged_in|acl`) into `(access_type, viewer_access)`.
pub fn parse_access(word: &str) -> Result<(String, String)> {
    if VIEWER_ACCESS.contains(&word) {
        Ok((access_type_of(word).to_string(), word.to_string()))
    } else if ACCESS_TYPES.contains(&word) {
        Ok((word.to_string(), viewer_access_of(word).to_string()))
    } else {
        Err(Error::Invalid(format!(
            "invalid access {word:?}: use network, local or link (or Connect's access_type all, logged_in or acl)"
        )))
    }
}

/// Checks and completes an access change: either field alone sets both; both must agree.
fn resolve_access(access_type: Option<&str>, viewer_access: Option<&str>) -> Result<(Option<String>, Option<String>)> {
    if let Some(a) = access_type.filter(|a| !ACCESS_TYPES.contains(a)) {
        return Err(Error::Invalid(format!("invalid access_type {a:?}: use one of all, logged_in, acl")));
    }
    if let Some(v) = viewer_access.filter(|v| !VIEWER_ACCESS.contains(v)) {
        return Err(Error::Invalid(format!("invalid viewer_access {v:?}: use one of network, local, link")));
    }
    Ok(match (access_type, viewer_access) {
        (None, None) => (None, None),
        (Some(a), None) => (Some(a.into()), Some(viewer_access_of(a).into())),
        (None, Some(v)) => (Some(access_type_of(v).into()), Some(v.into())),
        (Some(a), Some(v)) => {
            if (a == "acl") != (v != "network") {
                return Err(Error::Invalid(format!(
                    "access_type {a:?} and viewer_access {v:?} disagree: access_type all or logged_in means network, acl means local or link; send one of them"
                )));
            }
            (Some(a.into()), Some(v.into()))
        }
    })
}

/// Options for [`Engine::deploy_path`].
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
    fn render_trigger(self) -> &'static str {
        match self {
            Trigger::Deploy => "deploy",
            Trigger::Watch => "watch",
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

/// Checks a content name: `[A-Za-z0-9._-]`, 3 to 64 characters.
pub fn validate_name(name: &str) -> Result<()> {
    let ok_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !(3..=64).contains(&name.len()) || !ok_chars {
        return Err(Error::Invalid(format!(
            "invalid content name {name:?}: use 3 to 64 letters, digits, '.', '_' or '-'"
        )));
    }
    Ok(())
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

/// Checks a vanity path and returns it as `/a/b/`.
pub fn normalize_vanity(path: &str) -> Result<String> {
    let trimmed = path.trim().trim_matches('/');
    let bad = |why: &str| Error::Invalid(format!("invalid vanity path {path:?}: {why}"));
    if trimmed.is_empty() {
        return Err(bad("it is empty"));
    }
    for seg in trimmed.split('/') {
        if seg.is_empty() || seg == "." || seg == ".." {
            return Err(bad("it has an empty, '.' or '..' segment"));
        }
        if !seg.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
            return Err(bad("use letters, digits, '.', '_', '-' and '/'"));
        }
    }
    let first = trimmed.split('/').next().unwrap_or_default();
    if first.starts_with("__") || ["content", "connect", "static", "favicon.ico"].contains(&first) {
        return Err(Error::VanityConflict(format!("the vanity path /{first}/ is reserved by Porch")));
    }
    Ok(format!("/{trimmed}/"))
}

impl Engine {
    // ----- content -----

    /// Creates an item (not yet deployed).
    pub async fn create_content(&self, mut new: NewContent) -> Result<ContentRow> {
        validate_name(&new.name)?;
        (new.access_type, new.viewer_access) =
            resolve_access(new.access_type.as_deref(), new.viewer_access.as_deref())?;
        let guid = uuid::Uuid::new_v4().to_string();
        let row = self.inner.store.insert_content(&guid, &new, &now()).await?;
        self.changed(&row.guid).await?;
        Ok(row)
    }

    /// Items, optionally filtered by exact name.
    pub async fn content_rows(&self, name: Option<&str>) -> Result<Vec<ContentRow>> {
        self.inner.store.list_content(name).await
    }

    /// Every item as the desktop shell shows it.
    pub async fn list_content(&self) -> Result<Vec<ContentView>> {
        let origin = self.default_origin();
        let mut links = self.links_by_content().await?;
        Ok(self
            .content_rows(None)
            .await?
            .iter()
            .map(|c| {
                let mut v = self.view(c, &origin);
                v.link = links.remove(&c.id);
                v
            })
            .collect())
    }

    /// The API view of an item with its folder link.
    pub async fn view_with_link(&self, c: &ContentRow, origin: &str) -> Result<ContentView> {
        let mut v = self.view(c, origin);
        v.link = self.inner.store.link(c.id).await?.map(|r| crate::links::LinkView::from(&r));
        Ok(v)
    }

    /// One item by guid or numeric id.
    pub async fn content(&self, key: &str) -> Result<ContentRow> {
        self.inner.store.content_by_guid(key).await
    }

    /// One item by name.
    pub async fn content_by_name(&self, name: &str) -> Result<ContentRow> {
        self.inner.store.content_by_name(name).await?.ok_or_else(|| Error::not_found("content named", name))
    }

    /// The API view of an item.
    pub fn view(&self, c: &ContentRow, origin: &str) -> ContentView {
        ContentView::new(c, &self.inner.owner_guid, origin)
    }

    /// The publisher's guid.
    pub fn owner_guid(&self) -> &str {
        &self.inner.owner_guid
    }

    /// Updates an item's fields.
    pub async fn update_content(&self, key: &str, mut patch: ContentPatch) -> Result<ContentRow> {
        let c = self.content(key).await?;
        if let Some(n) = &patch.name {
            validate_name(n)?;
        }
        (patch.access_type, patch.viewer_access) =
            resolve_access(patch.access_type.as_deref(), patch.viewer_access.as_deref())?;
        self.inner.store.update_content(c.id, &patch, &now()).await?;
        self.changed(&c.guid).await?;
        self.content(&c.guid).await
    }

    /// Deletes an item, its bundles and their files.
    pub async fn delete_content(&self, key: &str) -> Result<()> {
        let c = self.content(key).await?;
        let bundles = self.inner.store.list_bundles(c.id).await?;
        self.stop_following(c.id);
        self.inner.supervisor.remove(&c.guid).await;
        self.inner.store.delete_content(c.id).await?;
        self.refresh_routes().await?;
        for b in &bundles {
            self.remove_bundle_files(b.id).await;
        }
        self.emit(Event::ContentDeleted { guid: c.guid });
        Ok(())
    }

    /// Sets (or with `None` clears) an item's vanity path.
    pub async fn set_vanity(&self, key: &str, path: Option<&str>) -> Result<ContentRow> {
        let c = self.content(key).await?;
        let path = path.map(normalize_vanity).transpose()?;
        // Nested vanity paths would let one item's cookies (and its relative links) reach
        // another item's pages: `/team/` and `/team/report/` cannot both exist.
        if let Some(p) = &path {
            for other in self.content_rows(None).await? {
                let Some(o) = other.vanity_path.as_deref().filter(|_| other.id != c.id) else { continue };
                if o != p.as_str() && (o.starts_with(p.as_str()) || p.starts_with(o)) {
                    return Err(Error::VanityConflict(format!(
                        "the vanity path {p} overlaps {o} of {}; vanity paths cannot be nested",
                        other.name
                    )));
                }
            }
        }
        self.inner.store.set_vanity(c.id, path.as_deref(), &now()).await?;
        self.changed(&c.guid).await?;
        self.content(&c.guid).await
    }

    /// Sets who may view an item: `network`, `local` or `link` (or Connect's access_type words).
    pub async fn set_access(&self, key: &str, word: &str) -> Result<ContentRow> {
        let (access_type, viewer_access) = parse_access(word)?;
        let patch =
            ContentPatch { access_type: Some(access_type), viewer_access: Some(viewer_access), ..Default::default() };
        self.update_content(key, patch).await
    }

    /// Makes a new secret-link token for an item and returns it (shown once; only its hash
    /// is kept). The previous token, and every cookie it set, stops working.
    pub async fn new_secret_link(&self, key: &str) -> Result<(ContentRow, String)> {
        let c = self.content(key).await?;
        let token = keys::random_token(32);
        self.inner.store.set_link_token_hash(c.id, Some(&keys::hash_key(&token)), &now()).await?;
        self.changed(&c.guid).await?;
        Ok((self.content(&c.guid).await?, token))
    }

    /// Revokes an item's secret link: its token and the cookies it set stop working.
    pub async fn revoke_secret_link(&self, key: &str) -> Result<ContentRow> {
        let c = self.content(key).await?;
        self.inner.store.set_link_token_hash(c.id, None, &now()).await?;
        self.changed(&c.guid).await?;
        self.content(&c.guid).await
    }

    /// The viewer URL that carries a secret-link token.
    pub fn secret_link_url(&self, c: &ContentRow, origin: &str, token: &str) -> String {
        format!("{}/content/{}/?porch_token={token}", origin.trim_end_matches('/'), c.guid)
    }

    pub(crate) async fn changed(&self, guid: &str) -> Result<()> {
        self.refresh_routes().await?;
        self.emit(Event::ContentChanged { guid: guid.to_string() });
        Ok(())
    }

    // ----- bundles -----

    /// The bundle limits of an item: its own `max_bundle_bytes` over the server's.
    pub(crate) fn bundle_limits(&self, c: &ContentRow) -> crate::config::Limits {
        let mut limits = self.inner.config.limits;
        if let Some(max) = c.runtime.max_bundle_bytes.filter(|m| *m > 0) {
            limits.max_bundle_bytes = max as u64;
        }
        limits
    }

    /// Stores an uploaded archive as a new bundle of `key` (not yet deployed).
    ///
    /// The archive is extracted and checked in a scratch folder; on any error nothing is
    /// kept. `metadata` is the optional upload metadata JSON (git source).
    pub async fn upload_bundle(&self, key: &str, archive: &Path, metadata: Option<String>) -> Result<BundleRow> {
        self.upload_bundle_as(key, archive, metadata, &Overrides::default()).await
    }

    /// [`Engine::upload_bundle`] with the appmode and/or entry point chosen by the
    /// publisher. The choice is checked against the extracted bundle and written into the
    /// stored manifest (the row and the folder's `manifest.json`), so this version runs it
    /// on every deploy and rollback. A choice that does not fit stores nothing.
    pub async fn upload_bundle_as(
        &self,
        key: &str,
        archive: &Path,
        metadata: Option<String>,
        overrides: &Overrides,
    ) -> Result<BundleRow> {
        overrides.check()?;
        let c = self.content(key).await?;
        let size = tokio::fs::metadata(archive).await.map_err(Error::io("reading the upload", archive))?.len();
        let limits = self.bundle_limits(&c);
        if size > limits.max_bundle_bytes {
            return Err(BundleError::TooLarge { limit: limits.max_bundle_bytes, entry: "<archive>".into() }.into());
        }
        let stage = tempfile::Builder::new()
            .prefix("stage-")
            .tempdir_in(self.inner.config.tmp_dir())
            .map_err(Error::io("creating a staging folder", self.inner.config.tmp_dir()))?;
        let (stage_path, archive_path) = (stage.path().to_path_buf(), archive.to_path_buf());
        let overrides = overrides.clone();
        let (extracted, manifest) = tokio::task::spawn_blocking(move || -> Result<_, BundleError> {
            let ex = bundle::archive::extract(&archive_path, &stage_path, &limits)?;
            let mut manifest = detect::manifest_for(&stage_path)?;
            if !overrides.is_empty() {
                manifest = bundle::overrides::apply(manifest, &stage_path, &overrides)?;
                bundle::overrides::write(&stage_path, &manifest)?;
            }
            Ok((ex, manifest))
        })
        .await
        .map_err(|e| Error::Invalid(format!("bundle extraction stopped: {e}")))??;

        let manifest_json = serde_json::to_string(&manifest.raw).unwrap_or_default();
        let (tx, id) = self
            .inner
            .store
            .begin_bundle(c.id, size as i64, extracted.file_count as i64, &manifest_json, metadata.as_deref(), &now())
            .await?;
        let dir = self.bundle_dir(id);
        let dest_archive = self.bundle_archive(id);
        // Files first, then the commit: a row never exists without its files.
        let placed = async {
            tokio::fs::copy(archive, &dest_archive)
                .await
                .map_err(Error::io("storing the bundle archive", &dest_archive))?;
            let stage_path = stage.keep();
            tokio::fs::rename(&stage_path, &dir).await.map_err(Error::io("moving the bundle into place", &dir))
        }
        .await;
        if let Err(e) = placed {
            let _ = tokio::fs::remove_file(&dest_archive).await;
            drop(tx); // rolls back
            return Err(e);
        }
        if let Err(e) = tx.commit().await {
            self.remove_bundle_files(id).await;
            return Err(Error::store("recording a bundle")(e));
        }
        tracing::info!(content = %c.guid, bundle = id, files = extracted.file_count, "bundle stored");
        self.inner.store.bundle(c.id, id).await
    }

    /// Bundles of an item, newest first.
    pub async fn bundles(&self, key: &str) -> Result<(ContentRow, Vec<BundleRow>)> {
        let c = self.content(key).await?;
        let b = self.inner.store.list_bundles(c.id).await?;
        Ok((c, b))
    }

    /// One bundle of an item.
    pub async fn bundle(&self, key: &str, bundle_id: i64) -> Result<(ContentRow, BundleRow)> {
        let c = self.content(key).await?;
        let b = self.inner.store.bundle(c.id, bundle_id).await?;
        Ok((c, b))
    }

    /// The API view of a bundle.
    pub fn bundle_view(&self, c: &ContentRow, b: &BundleRow) -> BundleView {
        BundleView::new(b, &c.guid, c.bundle_id)
    }

    /// The path of a bundle's archive, for download.
    pub async fn bundle_download(&self, key: &str, bundle_id: i64) -> Result<PathBuf> {
        let (_, b) = self.bundle(key, bundle_id).await?;
        Ok(self.bundle_archive(b.id))
    }

    /// Deletes a bundle that is not active.
    pub async fn delete_bundle(&self, key: &str, bundle_id: i64) -> Result<()> {
        let (c, b) = self.bundle(key, bundle_id).await?;
        if c.bundle_id == Some(b.id) {
            return Err(Error::DeleteActiveBundle(b.id));
        }
        self.inner.store.delete_bundle(c.id, b.id).await?;
        self.remove_bundle_files(b.id).await;
        self.emit(Event::ContentChanged { guid: c.guid });
        Ok(())
    }

    /// The resolved package list of the active bundle's Python environment, as
    /// `(bundle_id, python_version, ["name==version", ...])`. The environment is the one the
    /// deploy built (found by its hash; rebuilt only if it was removed); content without a
    /// Python environment has no lockfile.
    pub async fn lockfile(&self, key: &str) -> Result<(i64, String, Vec<String>)> {
        let c = self.content(key).await?;
        let Some(bundle_id) = c.bundle_id else {
            return Err(Error::not_found("lockfile of undeployed content", &c.guid));
        };
        let (_, b) = self.bundle(&c.guid, bundle_id).await?;
        let manifest = Manifest::parse(b.manifest.as_deref().unwrap_or("{}").as_bytes())?;
        if !crate::runtimes::needs_python(&manifest.app_mode) {
            return Err(Error::not_found("Python lockfile (no Python environment) of content", &c.guid));
        }
        // The extras are part of the environment's hash: the same ones the deploy used.
        let extras = match manifest.app_mode.as_str() {
            "jupyter-static" => crate::render::NOTEBOOK_EXTRAS,
            mode => crate::runtimes::python_extras(mode),
        };
        let (tx, _rx) = tokio::sync::mpsc::unbounded_channel();
        let env = self.inner.environments.python(&self.bundle_dir(bundle_id), &manifest, extras, &tx).await?;
        let (version, packages) = self.inner.environments.installed_packages(&env.python).await?;
        Ok((bundle_id, version, packages))
    }

    pub(crate) async fn remove_bundle_files(&self, bundle_id: i64) {
        self.inner.files.forget_bundle(bundle_id);
        let _ = tokio::fs::remove_dir_all(self.bundle_dir(bundle_id)).await;
        let _ = tokio::fs::remove_file(self.bundle_archive(bundle_id)).await;
    }

    // ----- deploy -----

    /// Starts deploying a bundle (the newest when `bundle_id` is `None`); returns the task.
    pub async fn deploy(&self, key: &str, bundle_id: Option<i64>, activate: bool) -> Result<String> {
        let (c, b) = self.deploy_target(key, bundle_id).await?;
        let log = self.inner.tasks.create(c.id, Some(b.id), "deploy").await?;
        let id = log.id().to_string();
        let engine = self.clone();
        self.inner.tracker.spawn(async move {
            let outcome = engine.run_deploy(&log, &c, &b, activate, Trigger::Deploy).await;
            log.finish(&outcome).await;
            engine.emit(Event::TaskFinished {
                id: log.id().to_string(),
                guid: c.guid.clone(),
                code: i64::from(outcome.is_err()),
                error: outcome.as_ref().err().map(ToString::to_string).unwrap_or_default(),
            });
        });
        Ok(id)
    }

    async fn deploy_target(&self, key: &str, bundle_id: Option<i64>) -> Result<(ContentRow, BundleRow)> {
        let c = self.content(key).await?;
        let b = match bundle_id {
            Some(id) => self.inner.store.bundle(c.id, id).await?,
            None => self.inner.store.list_bundles(c.id).await?.into_iter().next().ok_or_else(|| {
                Error::Invalid(format!("content {} has no bundle to deploy; upload one first", c.guid))
            })?,
        };
        Ok((c, b))
    }

    /// The deploy steps, writing progress into the task log.
    ///
    /// With [`Trigger::Watch`] (a linked folder changed), an interactive item's new version
    /// must start before it replaces the current one, and a rendered item's render is
    /// recorded with trigger `watch`. Every failure leaves the served version as it was.
    async fn run_deploy(
        &self,
        log: &TaskLog,
        c: &ContentRow,
        b: &BundleRow,
        activate: bool,
        trigger: Trigger,
    ) -> Result<()> {
        log.line(format!("Deploying bundle {} of {} ({})", b.id, c.name, c.guid)).await;
        let manifest = match b.manifest.as_deref() {
            Some(m) => Manifest::parse(m.as_bytes())?,
            None => detect::manifest_for(&self.bundle_dir(b.id))?,
        };
        log.line(format!(
            "Content type: {} ({}){}",
            crate::static_site::pages::kind_label(&manifest.app_mode, &manifest.content_category),
            manifest.app_mode,
            manifest.entrypoint.as_deref().map(|e| format!(", entry point {e}")).unwrap_or_default()
        ))
        .await;
        let mut rendered = None;
        let interactive = crate::runtime_kind(&manifest.app_mode) == crate::RuntimeKind::Interactive;
        match crate::runtime_kind(&manifest.app_mode) {
            crate::RuntimeKind::Interactive => {
                log.line("Preparing the environment").await;
                self.prepare_environment(&self.bundle_dir(b.id), &manifest, Some(log)).await?;
            }
            crate::RuntimeKind::Rendered if activate => {
                rendered = Some(self.run_render(log, c, b.id, &manifest, trigger.render_trigger(), false).await?);
            }
            crate::RuntimeKind::Rendered => {}
            crate::RuntimeKind::Static => {}
        }
        if let Some(primary) = &manifest.primary_html {
            let exists = bundle::static_file_exists(&self.bundle_dir(b.id), primary).await;
            if !exists {
                return Err(BundleError::InvalidManifest {
                    reason: format!("primary_html {primary:?} is not in the bundle"),
                }
                .into());
            }
        }
        if !activate {
            self.inner.store.mark_bundle_ready(b.id).await?;
            log.line(format!("Bundle {} is ready; not activated (draft)", b.id)).await;
            return Ok(());
        }
        if interactive && trigger == Trigger::Watch && self.is_serving() {
            log.line(format!("Starting bundle {} next to the version being served", b.id)).await;
            self.try_new_version(c, b.id, &manifest).await?;
            log.line(format!("Bundle {} answered; switching viewers to it", b.id)).await;
        }
        let activation = crate::store::Activation {
            app_mode: &manifest.app_mode,
            content_category: &manifest.content_category,
            entrypoint: manifest.entrypoint.as_deref(),
            primary_html: manifest.primary_html.as_deref(),
            now: &now(),
        };
        self.inner.store.activate_bundle(c.id, b.id, &activation).await?;
        if let Some(render) = rendered {
            self.inner.store.set_current_render(c.id, render).await?;
        }
        self.changed(&c.guid).await?;
        if rendered.is_some() {
            // Each variant renders the new version too, in this task (a CLI deploy ends with
            // it), once the default output is live. A failing variant keeps its previous
            // output and does not fail the deploy.
            for v in self.inner.store.variants(c.id).await? {
                if let Err(e) = self.run_render_variant(log, c, Some(&v), b.id, &manifest, "deploy", true).await {
                    log.line(format!("Variant {:?} did not render: {e}", v.name)).await;
                }
            }
        }
        let active = self.content(&c.guid).await?;
        self.supervise(&active).await;
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
        let (src, tmp, limits) = (folder.to_path_buf(), self.inner.config.tmp_dir(), self.inner.config.limits);
        let packed = tokio::task::spawn_blocking(move || {
            let packed = bundle::pack::pack(&src, &tmp, &limits);
            let after = bundle::pack::fingerprint(&src).map(|f| f.digest).ok();
            (packed, after)
        })
        .await;
        let packed = match packed {
            Ok((_, after)) if after.as_deref() != Some(digest) => return None,
            Ok((packed, _)) => packed.map_err(Error::from),
            Err(e) => Err(Error::Invalid(format!("packing stopped: {e}"))),
        };
        let log = match self.inner.tasks.create(c.id, None, "deploy").await {
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
            let b = self.upload_bundle_as(&c.guid, packed.path(), None, &overrides).await?;
            // The item may have been renamed or reconfigured since the link was made.
            let c = self.content(&c.guid).await?;
            self.run_deploy(&log, &c, &b, true, Trigger::Watch).await
        }
        .await;
        log.finish(&outcome).await;
        self.emit(Event::TaskFinished {
            id: log.id().to_string(),
            guid: c.guid.clone(),
            code: i64::from(outcome.is_err()),
            error: outcome.as_ref().err().map(ToString::to_string).unwrap_or_default(),
        });
        Some((Some(log.id().to_string()), outcome))
    }

    /// The appmode and entry point chosen for the item's active bundle, if any.
    async fn active_overrides(&self, c: &ContentRow) -> Overrides {
        let Some(id) = c.bundle_id else { return Overrides::default() };
        let Ok(b) = self.inner.store.bundle(c.id, id).await else { return Overrides::default() };
        b.manifest
            .as_deref()
            .and_then(|m| serde_json::from_str(m).ok())
            .map(|raw| bundle::overrides::recorded(&raw))
            .unwrap_or_default()
    }

    /// Waits for a task to finish and returns its final state.
    pub async fn wait_task(&self, id: &str) -> Result<TaskView> {
        self.inner.tasks.wait_finished(id).await
    }

    /// A task's state from line `first` on, waiting up to `wait` for news.
    pub async fn task(&self, id: &str, first: usize, wait: Duration) -> Result<TaskView> {
        self.inner.tasks.get(id, first, wait).await
    }

    /// Deploys a folder, single file or archive in one step: pack, upload, deploy, wait.
    ///
    /// An existing item with the same name gets a new bundle; otherwise one is created.
    pub async fn deploy_path(&self, path: &Path, opts: DeployOptions) -> Result<Deployment> {
        let name = opts.name.clone().unwrap_or_else(|| name_from_path(path));
        // Bad options fail before anything is packed.
        validate_name(&name)?;
        opts.overrides().check()?;
        opts.access_type.as_deref().map(parse_access).transpose()?;
        let (src, tmp, limits) = (path.to_path_buf(), self.inner.config.tmp_dir(), self.inner.config.limits);
        let packed = tokio::task::spawn_blocking(move || bundle::pack::pack(&src, &tmp, &limits))
            .await
            .map_err(|e| Error::Invalid(format!("packing stopped: {e}")))??;
        self.deploy_archive(packed.path(), path, DeployOptions { name: Some(name), ..opts }).await
    }

    /// [`Engine::deploy_archive`] of an uploaded archive (`POST /porch/deploy`, which the CLI
    /// uses while a server runs), on the engine's task tracker: a client that goes away does
    /// not cut a deploy short, and shutdown waits for it.
    pub async fn deploy_upload(
        &self,
        archive: tempfile::TempPath,
        named_like: PathBuf,
        opts: DeployOptions,
    ) -> Result<Deployment> {
        let engine = self.clone();
        let run = self.inner.tracker.spawn(async move { engine.deploy_archive(&archive, &named_like, opts).await });
        run.await.map_err(|e| Error::Invalid(format!("the deploy stopped: {e}")))?
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
        let overrides = opts.overrides();
        overrides.check()?;
        let access = opts.access_type.as_deref().map(parse_access).transpose()?;
        let mut patch = None;
        let (content, created) = match self.inner.store.content_by_name(&name).await? {
            Some(c) => {
                // A new access applies before the new bundle goes live, so it is never served
                // more widely than asked; and only once the bundle is stored, so a refused
                // bundle changes nothing.
                let (access_type, viewer_access) = access.clone().unzip();
                if opts.title.is_some() || access.is_some() {
                    patch = Some(ContentPatch {
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
                let new = NewContent { name: name.clone(), title, description: None, access_type, viewer_access };
                (self.create_content(new).await?, true)
            }
        };
        let result = async {
            let b = self.upload_bundle_as(&content.guid, archive, None, &overrides).await?;
            if let Some(patch) = patch {
                self.update_content(&content.guid, patch).await?;
            }
            let log = self.inner.tasks.create(content.id, Some(b.id), "deploy").await?;
            let outcome = self.run_deploy(&log, &content, &b, true, Trigger::Deploy).await;
            log.finish(&outcome).await;
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
        let row = self.content(&content.guid).await?;
        Ok(Deployment {
            content: self.view(&row, &self.default_origin()),
            bundle_id: bundle_id.to_string(),
            task_id,
            created,
        })
    }

    /// Deletes the item with this name.
    pub async fn remove_by_name(&self, name: &str) -> Result<()> {
        let c = self.content_by_name(name).await?;
        self.delete_content(&c.guid).await
    }

    // ----- keys -----

    /// Creates an API key and returns it; only its hash is stored.
    pub async fn new_api_key(&self, name: &str) -> Result<String> {
        let key = keys::random_token(32);
        self.inner.store.insert_key(name, &keys::hash_key(&key), &now()).await?;
        Ok(key)
    }

    /// Whether a presented key is valid: its hash is compared with every stored hash in
    /// constant time (see `keys::matches_any`).
    pub async fn check_key(&self, key: &str) -> Result<bool> {
        // This run's own key (the desktop shell's calls) is one more hash among the stored ones.
        let mut hashes = self.inner.store.key_hashes().await?;
        hashes.push(keys::hash_key(&self.inner.session_key));
        Ok(keys::matches_any(key, hashes.iter().map(String::as_str)))
    }

    /// Every API key's id, name and creation time.
    pub async fn api_keys(&self) -> Result<Vec<crate::store::KeyRow>> {
        self.inner.store.list_keys().await
    }

    /// Revokes the key with this id, or every key with this name; it stops working at once
    /// (the running server reads keys from the database on each check).
    pub async fn revoke_api_key(&self, which: &str) -> Result<u64> {
        match self.inner.store.delete_keys(which).await? {
            0 => Err(Error::not_found("API key", which)),
            n => Ok(n),
        }
    }
}

/// A title derived from a file or folder name (its archive or document suffix dropped).
pub(crate) fn title_from_path(path: &Path) -> String {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
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
    fn names() {
        assert!(validate_name("my-app_1.0").is_ok());
        assert!(validate_name("ab").is_err());
        assert!(validate_name(&"a".repeat(65)).is_err());
        assert!(validate_name("has space").is_err());
        assert!(validate_name("ünï").is_err());
    }

    #[test]
    fn derived_names() {
        assert_eq!(name_from_path(Path::new("/x/My Report.ipynb")), "my-report");
        assert_eq!(name_from_path(Path::new("/x/site.tar.gz")), "site");
        assert_eq!(name_from_path(Path::new("/x/a")), "a-site");
        assert_eq!(name_from_path(Path::new("/x/Café Ünï")), "caf-n");
        assert!(validate_name(&name_from_path(Path::new("/x/☃☃"))).is_ok());
    }

    #[test]
    fn vanity_paths() {
        assert_eq!(normalize_vanity("sales").expect("ok"), "/sales/");
        assert_eq!(normalize_vanity("/team/sales/").expect("ok"), "/team/sales/");
        assert!(normalize_vanity("/__api__/").is_err());
        assert!(normalize_vanity("/content/x").is_err());
        assert!(normalize_vanity("/a/../b").is_err());
        assert!(normalize_vanity("").is_err());
    }
}
