//! Turns an item's active bundle into an archive a Connect server accepts: the files as
//! uploaded plus a `manifest.json` (the stored one, or one written as
//! `rsconnect write-manifest` would).
//!
//! Owns: re-extracting the stored archive into scratch, writing the manifest (and a frozen
//! `requirements.txt` when the bundle has none), checksums, and packing a gzip tar. Does not
//! own: where the archive goes (`mod.rs`, `porch export`).
//!
//! SECURITY: the stored archive is re-extracted with the bundle extractor's checks and the
//! server's limits; nothing outside the scratch folder is written.
//!
//! Concurrency: file work runs on the blocking pool; the Python lockfile comes from the apps
//! service (which may build the environment if it was removed).

use crate::vocab::AppMode;
use std::io::{Read as _, Write as _};
use std::path::{Path, PathBuf};

use md5::{Digest as _, Md5};
use serde_json::{json, Map, Value};

use super::PromoteError;
use crate::apps::Apps;
use crate::library::Library;
use crate::shared::Shared;
use crate::store::ContentRow;

/// The package file rsconnect writes for Python content.
const REQUIREMENTS: &str = "requirements.txt";

/// A bundle ready to send.
#[derive(Debug)]
pub struct Prepared {
    /// The gzip tar archive's bytes.
    pub archive: Vec<u8>,
    /// The manifest inside it.
    pub manifest: Value,
    /// Whether Porch wrote the manifest (the bundle had none).
    pub synthesised: bool,
    /// What was done to the bundle, for the report.
    pub notes: Vec<String>,
    /// The source bundle's id.
    pub bundle_id: i64,
}

impl Prepared {
    /// `(runtime, version)` pairs the manifest pins: `python`, `quarto`, `r`.
    pub fn pinned(&self) -> Vec<(&'static str, String)> {
        let m = &self.manifest;
        let mut out = Vec::new();
        if let Some(v) = m["python"]["version"].as_str().filter(|v| !v.is_empty()) {
            out.push(("python", v.to_string()));
        }
        if let Some(v) = m["quarto"]["version"].as_str().filter(|v| !v.is_empty()) {
            out.push(("quarto", v.to_string()));
        }
        let mode = AppMode::parse(m["metadata"]["appmode"].as_str().unwrap_or_default());
        if crate::runtimes::needs_r(&mode) || m["metadata"]["engine"] == "knitr" {
            if let Some(v) = m["platform"].as_str().filter(|v| !v.is_empty()) {
                out.push(("r", v.to_string()));
            }
        }
        out
    }
}

/// Prepares `c`'s active bundle.
pub(crate) async fn prepare(
    shared: &Shared,
    library: &Library,
    apps: &Apps,
    c: &ContentRow,
) -> Result<Prepared, PromoteError> {
    let Some(bundle_id) = c.bundle_id else {
        return Err(PromoteError::NoBundle(c.name.clone()));
    };
    let (_, b) = library.bundle(&c.guid, bundle_id).await?;
    let stored: Value = b.manifest.as_ref().map(|m| m.raw.clone()).unwrap_or(Value::Null);
    let stage = tempfile::Builder::new()
        .prefix("promote-")
        .tempdir_in(shared.config.tmp_dir())
        .map_err(crate::error::Error::io("creating a scratch folder", shared.config.tmp_dir()))?;
    let archive = shared.bundle_archive(bundle_id);
    let (dir, limits) = (stage.path().to_path_buf(), shared.config.limits);
    tokio::task::spawn_blocking(move || crate::bundle::archive::extract(&archive, &dir, &limits))
        .await
        .map_err(|e| PromoteError::Client(format!("re-reading the bundle stopped: {e}")))?
        .map_err(crate::error::Error::from)?;

    let inferred = stored["porch"]["inferred"] == true || stored.is_null();
    let mut notes = Vec::new();
    let mut manifest = stored.clone();
    if let Some(o) = manifest.as_object_mut() {
        o.remove("porch");
    }
    if inferred {
        let mode = stored["metadata"]["appmode"].as_str().map(AppMode::parse).unwrap_or_else(|| c.app_mode.clone());
        let mut metadata = Map::new();
        metadata.insert("appmode".into(), json!(mode.as_str()));
        for k in ["entrypoint", "primary_html"] {
            if let Some(v) = stored["metadata"][k].as_str() {
                metadata.insert(k.into(), json!(v));
            }
        }
        if mode == AppMode::Static && !metadata.contains_key("entrypoint") {
            if let Some(p) = metadata.get("primary_html").cloned() {
                metadata.insert("entrypoint".into(), p);
            }
        }
        manifest = json!({ "version": 1, "locale": "en_US.UTF-8", "metadata": metadata });
        if crate::runtimes::needs_python(&mode) {
            let (_, version, packages) = apps.lockfile(&c.guid).await?;
            let file = stage.path().join(REQUIREMENTS);
            if file.exists() {
                notes.push(format!("kept the bundle's {REQUIREMENTS}"));
            } else {
                let mut text = packages.join("\n");
                text.push('\n');
                std::fs::write(&file, text).map_err(crate::error::Error::io("writing requirements", &file))?;
                notes.push(format!(
                    "wrote {REQUIREMENTS} frozen from the built environment ({} packages)",
                    packages.len()
                ));
            }
            manifest["python"] = json!({
                "version": version,
                "package_manager": { "name": "pip", "package_file": REQUIREMENTS },
            });
        } else if mode != "static" {
            return Err(PromoteError::NeedsManifest { name: c.name.clone(), command: manifest_command(&mode) });
        }
        notes.push("wrote manifest.json as `rsconnect write-manifest` would".into());
    }
    let dir = stage.path().to_path_buf();
    let synthesised = inferred;
    let (archive, manifest) = tokio::task::spawn_blocking(move || -> Result<(Vec<u8>, Value), std::io::Error> {
        let mut manifest = manifest;
        let files = list_files(&dir)?;
        if synthesised {
            let mut sums = Map::new();
            for rel in files.iter().filter(|f| f.as_str() != "manifest.json") {
                sums.insert(rel.clone(), json!({ "checksum": md5_of(&dir.join(rel))? }));
            }
            manifest["files"] = Value::Object(sums);
        }
        let text = serde_json::to_vec_pretty(&manifest).map_err(std::io::Error::other)?;
        std::fs::write(dir.join("manifest.json"), text)?;
        Ok((pack(&dir, &list_files(&dir)?)?, manifest))
    })
    .await
    .map_err(|e| PromoteError::Client(format!("packing the bundle stopped: {e}")))?
    .map_err(|e| PromoteError::Client(format!("cannot pack the bundle: {e}")))?;
    Ok(Prepared { archive, manifest, synthesised, notes, bundle_id })
}

/// The command that writes a manifest Porch cannot write itself.
fn manifest_command(mode: &AppMode) -> String {
    if mode.as_str().starts_with("quarto") {
        "rsconnect write-manifest quarto DIR".into()
    } else if crate::runtimes::needs_r(mode) {
        "Rscript -e 'rsconnect::writeManifest(\"DIR\")'".into()
    } else {
        format!("rsconnect write-manifest ... DIR (appmode {mode})")
    }
}

/// Every regular file under `root`, relative with `/`, sorted.
fn list_files(root: &Path) -> std::io::Result<Vec<String>> {
    let mut out = Vec::new();
    let mut stack = vec![PathBuf::new()];
    while let Some(rel) = stack.pop() {
        for entry in std::fs::read_dir(root.join(&rel))? {
            let entry = entry?;
            let rel = rel.join(entry.file_name());
            let kind = entry.file_type()?;
            if kind.is_dir() {
                stack.push(rel);
            } else if kind.is_file() {
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    out.sort();
    Ok(out)
}

fn md5_of(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let mut h = Md5::new();
    let mut buf = vec![0u8; 64 * 1024];
    loop {
        let n = f.read(&mut buf)?;
        if n == 0 {
            break;
        }
        h.update(&buf[..n]);
    }
    Ok(hex::encode(h.finalize()))
}

/// A gzip tar of `files` under `root`, with plain relative names as rsconnect writes them.
fn pack(root: &Path, files: &[String]) -> std::io::Result<Vec<u8>> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    for rel in files {
        tar.append_path_with_name(root.join(rel), rel)?;
    }
    let mut gz = tar.into_inner()?;
    gz.flush()?;
    gz.finish()
}
