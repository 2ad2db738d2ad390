//! Dry runs and staging for the desktop UI: what a deploy would detect, and storing a
//! bundle without deploying it.
//!
//! A bundle preview extracts into a scratch folder under the data directory's `tmp/` that
//! is removed when the preview returns, and nothing is stored. Extraction and detection
//! run on a blocking thread, like uploads do.

use std::path::{Path, PathBuf};

use serde_json::Value;

use super::{name_from_path, title_from_path, DeployOptions, Deployer};
use crate::bundle::{self, detect, Manifest};
use crate::error::{Error, Result};
use crate::library::{parse_access, validate_name, validate_text, ItemChanges, NewItem};
use crate::runtimes::{overrides, Overrides};
use crate::view::{BundlePreview, Staged};

/// How many top-level entries a preview lists.
const LISTED_FILES: usize = 50;
/// How many requirement lines a preview lists.
const LISTED_REQUIREMENTS: usize = 200;

impl Deployer {
    /// Packs a folder, file or archive and stores it as a new bundle of the item named
    /// `opts.name` (created when missing; its title changed only when `opts.title` is set).
    /// A failure leaves nothing behind: a just-created item is removed again.
    ///
    /// `opts.appmode` / `opts.entrypoint` override what was detected (see
    /// [`Library::upload_bundle_as`](crate::library::Library::upload_bundle_as)); a choice that does not fit stores nothing.
    pub async fn stage_path(&self, path: &Path, opts: DeployOptions) -> Result<Staged> {
        // Bad options fail before anything is packed.
        validate_name(&opts.name.clone().unwrap_or_else(|| name_from_path(path)))?;
        opts.overrides().check()?;
        opts.access_type.as_deref().map(parse_access).transpose()?;
        let (src, tmp, limits) = (path.to_path_buf(), self.shared.config.tmp_dir(), self.shared.config.limits);
        let packed = tokio::task::spawn_blocking(move || bundle::pack::pack(&src, &tmp, &limits))
            .await
            .map_err(Error::failed("packing stopped"))??;
        self.stage_archive(packed.path(), path, opts).await
    }

    /// Stores an archive (packed here, or uploaded: `POST /porch/stage`, the desktop shell's
    /// way in) as [`stage_path`](Self::stage_path) does; `named_like` (the dropped folder or
    /// file, or the upload's file name) names and titles a new item.
    pub async fn stage_archive(&self, archive: &Path, named_like: &Path, opts: DeployOptions) -> Result<Staged> {
        let name = opts.name.clone().unwrap_or_else(|| name_from_path(named_like));
        validate_name(&name)?;
        validate_text(opts.title.as_deref(), None)?;
        let overrides = opts.overrides();
        overrides.check()?;
        let access = opts.access_type.as_deref().map(parse_access).transpose()?;
        let (content, created) = match self.shared.store.content_by_name(&name).await? {
            Some(c) => (c, false),
            None => {
                let title = opts.title.clone().or_else(|| Some(title_from_path(named_like)));
                let (access_type, viewer_access) = access.unzip();
                let new = NewItem { name, title, description: None, access_type, viewer_access };
                (self.library.create_content(new).await?, true)
            }
        };
        match self.library.upload_bundle_as(&content.guid, archive, None, &overrides).await {
            Ok(b) => {
                // An existing item's new title applies once its bundle is stored, so a
                // refused bundle changes nothing.
                if let (false, Some(title)) = (created, opts.title.clone()) {
                    self.library
                        .update_content(&content.guid, ItemChanges { title: Some(title), ..Default::default() })
                        .await?;
                }
                let row = self.library.content(&content.guid).await?;
                Ok(Staged {
                    content: self.library.view(&row, &self.shared.share_origin()),
                    bundle_id: b.id.to_string(),
                    created,
                })
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
        let (src, tmp, limits) = (path.to_path_buf(), self.shared.config.tmp_dir(), self.shared.config.limits);
        let packed = tokio::task::spawn_blocking(move || bundle::pack::pack(&src, &tmp, &limits))
            .await
            .map_err(Error::failed("packing stopped"))??;
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
        let limits = self.shared.config.limits;
        let tmp_dir = self.shared.config.tmp_dir();
        tokio::fs::create_dir_all(&tmp_dir).await.map_err(Error::io("creating the scratch folder", &tmp_dir))?;
        let stage = tempfile::Builder::new()
            .prefix("preview-")
            .tempdir_in(&tmp_dir)
            .map_err(Error::io("creating a preview folder", &tmp_dir))?;
        let (stage_path, archive_path) = (stage.path().to_path_buf(), archive.to_path_buf());
        let scanned = tokio::task::spawn_blocking(move || -> Result<_> {
            let extracted = bundle::archive::extract(&archive_path, &stage_path, &limits)?;
            let declared = stage_path.join("manifest.json").is_file();
            let manifest = overrides::apply(detect::manifest_for(&stage_path)?, &stage_path, &overrides)?;
            let requirements = requirements(&stage_path, &manifest);
            let files = top_level(&stage_path);
            let entrypoints = overrides::candidates(&stage_path, &manifest.app_mode);
            Ok((extracted.file_count, declared, manifest, requirements, files, entrypoints))
        })
        .await
        .map_err(Error::failed("reading the bundle stopped"))??;
        let (file_count, declared, manifest, requirements, files, entrypoints) = scanned;
        let name = name_from_path(named_like);
        let existing_guid = self.shared.store.content_by_name(&name).await?.map(|c| c.guid);
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
            app_modes: overrides::runnable_app_modes().into_iter().map(str::to_string).collect(),
            entrypoints,
        })
    }
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
    use crate::vocab::AppMode;

    #[test]
    fn requirement_lines_skip_comments_and_blanks() {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::write(dir.path().join("requirements.txt"), "# pinned\nstreamlit==1.40\n\n  pandas \n").expect("write");
        let m = Manifest::inferred(&AppMode::PythonStreamlit, Some("app.py"), None);
        assert_eq!(requirements(dir.path(), &m), vec!["streamlit==1.40", "pandas"]);
    }

    #[test]
    fn upload_names_keep_the_last_part_only() {
        assert_eq!(upload_name(Some("a/b/My Site.tar.gz")), PathBuf::from("My Site.tar.gz"));
        assert_eq!(upload_name(Some("  ")), PathBuf::from("upload"));
        assert_eq!(upload_name(None), PathBuf::from("upload"));
    }
}
