//! Dry runs for the desktop UI: what a deploy would detect, and when a schedule would run.
//!
//! Owns nothing: a bundle preview extracts into a scratch folder under the data
//! directory's `tmp/` that is removed when the preview returns, and nothing is stored.
//! A schedule preview is the pure [`crate::scheduler`] arithmetic. The server and key
//! views here are read-only snapshots for the app settings pane.
//!
//! Concurrency: extraction and detection run on a blocking thread, like uploads do.

use std::path::{Path, PathBuf};

use jiff::Timestamp;
use serde::Serialize;
use serde_json::Value;

use crate::bundle::{self, detect, Manifest, Overrides};
use crate::engine::Engine;
use crate::error::{Error, Result};
use crate::ops::{name_from_path, title_from_path, validate_name, DeployOptions};
use crate::scheduler::Schedule;
use crate::store::{ContentPatch, NewContent};
use crate::view::ContentView;

/// How many top-level entries a preview lists.
const LISTED_FILES: usize = 50;
/// How many requirement lines a preview lists.
const LISTED_REQUIREMENTS: usize = 200;

/// What Porch detected in a folder, file or archive, before anything is stored.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct BundlePreview {
    /// Suggested content name (an existing item with this name would be redeployed).
    pub name: String,
    /// Suggested title.
    pub title: String,
    /// Detected (or declared) appmode.
    pub app_mode: String,
    /// `static`, `rendered` or `interactive`: how Porch runs it.
    pub runtime: String,
    /// Entry point (script, module or document), if any.
    pub entrypoint: Option<String>,
    /// The page served first, for static content.
    pub primary_html: Option<String>,
    /// Whether the bundle carried its own `manifest.json` (false: inferred from the files).
    pub declared: bool,
    /// `python.version` of the manifest, if declared.
    pub python_version: Option<String>,
    /// `platform` (the R version) of the manifest, if declared.
    pub r_version: Option<String>,
    /// `quarto.version` of the manifest, if declared.
    pub quarto_version: Option<String>,
    /// Lines of `requirements.txt` (comments and blanks dropped), else the manifest's R packages.
    pub requirements: Vec<String>,
    /// Top-level entries (folders end in `/`), sorted, at most 50.
    pub files: Vec<String>,
    /// Files and folders in the whole bundle.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub file_count: u64,
    /// The guid of the existing item named `name`, which a deploy would update.
    pub existing_guid: Option<String>,
    /// Every appmode Porch can run, for choosing another one (`?appmode=`).
    pub app_modes: Vec<String>,
    /// Entry points in the bundle that fit `app_mode` (files, or Python modules for the
    /// WSGI/ASGI appmodes), for choosing another one (`?entrypoint=`).
    pub entrypoints: Vec<String>,
}

/// One planned run of a schedule.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct NextRun {
    /// RFC 9557 timestamp in the schedule's zone, e.g. `2026-01-05T09:00:00+01:00[Europe/Berlin]`.
    pub local: String,
    /// RFC 3339 in UTC.
    pub utc: String,
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
    pub viewers: crate::gateway::ViewerActivity,
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

/// An API key as listed (the key itself is never shown again).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ApiKeyView {
    /// Numeric id as a string.
    pub id: String,
    /// The label given at creation.
    pub name: String,
    /// RFC 3339.
    pub created_time: String,
}

/// A new API key: the only time the key is returned.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct NewApiKey {
    /// Numeric id as a string.
    pub id: String,
    /// The label.
    pub name: String,
    /// The key, for `Authorization: Key <key>`.
    pub key: String,
}

/// A dropped path stored as a new bundle, not yet deployed: the caller deploys it as a
/// task and follows its log, exactly as for an upload.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Staged {
    /// The item (created, or found by name).
    pub content: ContentView,
    /// The new bundle's id.
    pub bundle_id: String,
    /// Whether the item was created for this bundle.
    pub created: bool,
}

impl Engine {
    /// Packs a folder, file or archive and stores it as a new bundle of the item named
    /// `opts.name` (created when missing; its title changed only when `opts.title` is set).
    /// A failure leaves nothing behind: a just-created item is removed again.
    ///
    /// `opts.appmode` / `opts.entrypoint` override what was detected (see
    /// [`Engine::upload_bundle_as`]); a choice that does not fit stores nothing.
    pub async fn stage_path(&self, path: &Path, opts: DeployOptions) -> Result<Staged> {
        let name = opts.name.clone().unwrap_or_else(|| name_from_path(path));
        validate_name(&name)?;
        let overrides = opts.overrides();
        overrides.check()?;
        let access = opts.access_type.as_deref().map(crate::ops::parse_access).transpose()?;
        let (src, tmp, limits) = (path.to_path_buf(), self.inner.config.tmp_dir(), self.inner.config.limits);
        let packed = tokio::task::spawn_blocking(move || bundle::pack::pack(&src, &tmp, &limits))
            .await
            .map_err(|e| Error::Invalid(format!("packing stopped: {e}")))??;
        let (content, created) = match self.inner.store.content_by_name(&name).await? {
            Some(c) => (c, false),
            None => {
                let title = opts.title.clone().or_else(|| Some(title_from_path(path)));
                let (access_type, viewer_access) = access.unzip();
                let new = NewContent { name, title, description: None, access_type, viewer_access };
                (self.create_content(new).await?, true)
            }
        };
        match self.upload_bundle_as(&content.guid, packed.path(), None, &overrides).await {
            Ok(b) => {
                // An existing item's new title applies once its bundle is stored, so a
                // refused bundle changes nothing.
                if let (false, Some(title)) = (created, opts.title.clone()) {
                    self.update_content(&content.guid, ContentPatch { title: Some(title), ..Default::default() })
                        .await?;
                }
                let row = self.content(&content.guid).await?;
                Ok(Staged { content: self.view(&row, &self.default_origin()), bundle_id: b.id.to_string(), created })
            }
            Err(e) => {
                if created {
                    let _ = self.delete_content(&content.guid).await;
                }
                Err(e)
            }
        }
    }

    /// Detects what a folder, single file or archive on this computer would deploy as,
    /// with the chosen appmode and entry point applied (a choice that does not fit fails
    /// as the deploy would).
    pub async fn preview_path(&self, path: &Path, overrides: &Overrides) -> Result<BundlePreview> {
        overrides.check()?;
        let (src, tmp, limits) = (path.to_path_buf(), self.inner.config.tmp_dir(), self.inner.config.limits);
        let packed = tokio::task::spawn_blocking(move || bundle::pack::pack(&src, &tmp, &limits))
            .await
            .map_err(|e| Error::Invalid(format!("packing stopped: {e}")))??;
        self.preview_archive(packed.path(), path, overrides).await
    }

    /// Detects what an uploaded archive would deploy as; `named_like` supplies the
    /// suggested name and title (the dropped folder or file, or the upload's file name).
    pub async fn preview_archive(
        &self,
        archive: &Path,
        named_like: &Path,
        overrides: &Overrides,
    ) -> Result<BundlePreview> {
        overrides.check()?;
        let overrides = overrides.clone();
        let limits = self.inner.config.limits;
        let tmp_dir = self.inner.config.tmp_dir();
        tokio::fs::create_dir_all(&tmp_dir).await.map_err(Error::io("creating the scratch folder", &tmp_dir))?;
        let stage = tempfile::Builder::new()
            .prefix("preview-")
            .tempdir_in(&tmp_dir)
            .map_err(Error::io("creating a preview folder", &tmp_dir))?;
        let (stage_path, archive_path) = (stage.path().to_path_buf(), archive.to_path_buf());
        let scanned = tokio::task::spawn_blocking(move || -> Result<_> {
            let extracted = bundle::archive::extract(&archive_path, &stage_path, &limits)?;
            let declared = stage_path.join("manifest.json").is_file();
            let manifest = bundle::overrides::apply(detect::manifest_for(&stage_path)?, &stage_path, &overrides)?;
            let requirements = requirements(&stage_path, &manifest);
            let files = top_level(&stage_path);
            let entrypoints = bundle::overrides::candidates(&stage_path, &manifest.app_mode);
            Ok((extracted.file_count, declared, manifest, requirements, files, entrypoints))
        })
        .await
        .map_err(|e| Error::Invalid(format!("reading the bundle stopped: {e}")))??;
        let (file_count, declared, manifest, requirements, files, entrypoints) = scanned;
        let name = name_from_path(named_like);
        let existing_guid = self.inner.store.content_by_name(&name).await?.map(|c| c.guid);
        let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
        let runtime = match crate::runtime_kind(&manifest.app_mode) {
            crate::RuntimeKind::Static => "static",
            crate::RuntimeKind::Rendered => "rendered",
            crate::RuntimeKind::Interactive => "interactive",
        };
        Ok(BundlePreview {
            title: title_from_path(named_like),
            name,
            app_mode: manifest.app_mode.clone(),
            runtime: runtime.into(),
            entrypoint: manifest.entrypoint.clone(),
            primary_html: manifest.primary_html.clone(),
            declared,
            python_version: text(&manifest.raw["python"]["version"]),
            r_version: text(&manifest.raw["platform"]),
            quarto_version: text(&manifest.raw["quarto"]["version"]),
            requirements,
            files,
            file_count,
            existing_guid,
            app_modes: bundle::overrides::runnable_app_modes().into_iter().map(str::to_string).collect(),
            entrypoints,
        })
    }

    /// The next `count` runs of a schedule definition (Connect's shape) from now, without
    /// storing anything. Bad definitions fail as creating them would.
    pub fn preview_schedule(&self, definition: &Value, count: usize) -> Result<Vec<NextRun>> {
        let s = Schedule::from_connect(definition).map_err(|e| Error::Invalid(e.to_string()))?;
        Ok(next_runs(&s, Timestamp::now(), count))
    }

    /// The server's addresses, switches and defaults.
    pub fn server_view(&self) -> ServerView {
        let addr = self.local_addr();
        let saved = self.read_saved();
        let d = saved.runtime_defaults;
        let config = self.config();
        let settings = SettingsView {
            port: saved.doc.listen_addr().port(),
            bind: saved.doc.bind.unwrap_or(crate::settings::BindScope::Network),
            allow_remote_publishing: saved.doc.allow_remote_publishing.unwrap_or(false),
            builtin_runtime_defaults: defaults_view(&self.builtin_runtime_defaults()),
            changed_runtime_defaults: saved.doc.runtime_defaults.keys().cloned().collect(),
            listen_flags: config.listen_flags.clone(),
            remote_publishing_flag: config.allow_remote_publishing,
            restart_needed: config.listen_flags.is_empty() && addr.is_some_and(|a| a != saved.doc.listen_addr()),
        };
        ServerView {
            version: env!("CARGO_PKG_VERSION").into(),
            connect_version: crate::CONNECT_VERSION.into(),
            viewer_urls: self.viewer_urls(),
            bind: addr.map(|a| a.to_string()),
            port: addr.map(|a| a.port()),
            local_only: addr.is_some_and(|a| crate::gateway::identity::is_loopback(a.ip())),
            allow_remote_publishing: self.allow_remote_publishing(),
            sharing_paused: self.sharing_paused(),
            data_dir: config.data_dir.display().to_string(),
            public_url: config.public_url.clone(),
            runtime_defaults: defaults_view(&d),
            settings,
            viewers: self.inner.viewers.activity().read(),
        }
    }

    /// Every API key, oldest first, as the UI lists them.
    pub async fn api_key_views(&self) -> Result<Vec<ApiKeyView>> {
        let rows = self.api_keys().await?;
        Ok(rows
            .into_iter()
            .map(|k| ApiKeyView { id: k.id.to_string(), name: k.name, created_time: k.created_time })
            .collect())
    }

    /// Creates a labelled API key and returns it (the only time it is shown).
    pub async fn create_api_key(&self, name: &str) -> Result<NewApiKey> {
        let name = name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(Error::Invalid("a key needs a name of 1 to 100 characters (e.g. \"laptop\")".into()));
        }
        let key = self.new_api_key(name).await?;
        let id = self.inner.store.key_id(&crate::keys::hash_key(&key)).await?;
        Ok(NewApiKey { id: id.to_string(), name: name.to_string(), key })
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

/// The next `count` runs after `now`, in the schedule's zone and in UTC.
pub fn next_runs(s: &Schedule, now: Timestamp, count: usize) -> Vec<NextRun> {
    s.upcoming(now, count)
        .into_iter()
        .map(|t| NextRun { local: t.to_zoned(s.timezone.clone()).to_string(), utc: t.to_string() })
        .collect()
}

/// Requirement lines of a bundle: `requirements.txt`, else the R packages of the manifest.
fn requirements(root: &Path, manifest: &Manifest) -> Vec<String> {
    if let Ok(text) = std::fs::read_to_string(root.join("requirements.txt")) {
        return text
            .lines()
            .map(str::trim)
            .filter(|l| !l.is_empty() && !l.starts_with('#'))
            .take(LISTED_REQUIREMENTS)
            .map(str::to_string)
            .collect();
    }
    match manifest.raw.get("packages").and_then(Value::as_object) {
        Some(pkgs) => pkgs
            .iter()
            .take(LISTED_REQUIREMENTS)
            .map(|(name, p)| match p["description"]["Version"].as_str() {
                Some(v) => format!("{name} {v}"),
                None => name.clone(),
            })
            .collect(),
        None => Vec::new(),
    }
}

/// Sorted top-level entries, folders with a trailing `/`.
fn top_level(root: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(root)
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    if e.file_type().is_ok_and(|t| t.is_dir()) {
                        format!("{name}/")
                    } else {
                        name
                    }
                })
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names.truncate(LISTED_FILES);
    names
}

/// A path for naming a preview of an upload called `file_name` (only its last part counts).
pub fn upload_name(file_name: Option<&str>) -> PathBuf {
    let name =
        file_name.and_then(|n| n.rsplit(['/', '\\']).next()).filter(|n| !n.trim().is_empty()).unwrap_or("upload");
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requirement_lines_skip_comments_and_blanks() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("requirements.txt"), "# pinned\nstreamlit==1.40\n\n  pandas \n").expect("write");
        let m = Manifest::inferred("python-streamlit", Some("app.py"), None);
        assert_eq!(requirements(dir.path(), &m), vec!["streamlit==1.40", "pandas"]);
    }

    #[test]
    fn upload_names_keep_the_last_part_only() {
        assert_eq!(upload_name(Some("a/b/My Site.tar.gz")), PathBuf::from("My Site.tar.gz"));
        assert_eq!(upload_name(Some("  ")), PathBuf::from("upload"));
        assert_eq!(upload_name(None), PathBuf::from("upload"));
    }
}
