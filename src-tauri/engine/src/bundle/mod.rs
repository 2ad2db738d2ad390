//! Bundles: turning what a publisher hands over into a checked, extracted tree.
//!
//! - [`archive`] extracts a `.tar.gz`, `.tar` or `.zip` safely into a staging folder;
//! - [`pack`] turns a folder or single file into a `.tar.gz`, honouring ignore files;
//! - [`manifest`] reads Connect's `manifest.json` leniently;
//! - [`detect`] infers the appmode and entry point when there is no manifest;
//! - [`overrides`] applies a publisher's choice of appmode and entry point.
//!
//! Everything here is synchronous file work; callers run it on a blocking thread. Nothing
//! here touches the store: the engine decides where a checked tree ends up.

pub mod archive;
pub mod detect;
pub mod manifest;
pub mod pack;

use std::path::PathBuf;

pub use manifest::Manifest;

/// Why a bundle was refused. Each variant names the offending entry where there is one.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BundleError {
    /// An absolute path, `..`, or another name that would land outside the bundle.
    #[error("unsafe path in bundle: {entry:?} would be written outside the bundle")]
    UnsafePath {
        /// The entry name as found in the archive.
        entry: String,
    },
    /// A symbolic or hard link that points outside the bundle.
    #[error("link in bundle escapes the bundle: {entry:?} points to {target:?}")]
    LinkEscapes {
        /// The link's name.
        entry: String,
        /// Where it points.
        target: String,
    },
    /// A device file, FIFO or other special file.
    #[error("unsupported file type in bundle: {entry:?} is a {kind}")]
    SpecialFile {
        /// The entry name.
        entry: String,
        /// What it is.
        kind: &'static str,
    },
    /// The bundle exceeds the size limit.
    #[error("bundle is too large: more than {limit} bytes (at {entry:?}); raise the item's max_bundle_bytes or porch serve --max-bundle-bytes to allow it")]
    TooLarge {
        /// The limit in bytes.
        limit: u64,
        /// The entry at which the limit was crossed.
        entry: String,
    },
    /// The bundle holds too many files.
    #[error("bundle has too many files: more than {limit}; raise --max-bundle-files to allow it")]
    TooManyFiles {
        /// The limit.
        limit: u64,
    },
    /// Not a gzip tar, tar or zip.
    #[error("not a bundle: expected a .tar.gz, .tar or .zip archive ({detail})")]
    NotAnArchive {
        /// What was seen.
        detail: String,
    },
    /// The archive is damaged.
    #[error("the archive is damaged or truncated near {entry:?}: {source}")]
    Corrupt {
        /// The last entry read.
        entry: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// `manifest.json` cannot be used.
    #[error("invalid manifest.json: {reason}")]
    InvalidManifest {
        /// What is wrong.
        reason: String,
    },
    /// A chosen appmode or entry point that does not fit Porch or the bundle.
    #[error("cannot deploy as chosen: {reason}")]
    BadOverride {
        /// What is wrong, and the choices.
        reason: String,
    },
    /// Nothing Porch knows how to serve or run.
    #[error("Porch does not recognise this content. Found: {found}. Supported: {supported}")]
    Unrecognised {
        /// A summary of the files seen.
        found: String,
        /// What Porch supports.
        supported: &'static str,
    },
    /// The path given to deploy does not exist or cannot be read.
    #[error("cannot read {}: {source}", path.display())]
    Source {
        /// The path.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// A file-system failure on Porch's side.
    #[error("{about}: {}", path.display())]
    Io {
        /// What was being done.
        about: &'static str,
        /// Where.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl BundleError {
    /// Whether the fault is Porch's rather than the bundle's.
    pub fn is_internal(&self) -> bool {
        matches!(self, BundleError::Io { .. })
    }

    pub(crate) fn io(about: &'static str, path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| BundleError::Io { about, path, source }
    }
}

/// Whether `rel` names a regular file inside the extracted bundle at `root`.
pub async fn static_file_exists(root: &std::path::Path, rel: &str) -> bool {
    match archive::sanitize_entry(rel) {
        Ok(Some(p)) => tokio::fs::metadata(root.join(p)).await.map(|m| m.is_file()).unwrap_or(false),
        _ => false,
    }
}
