//! Packs a folder or a single file into a `.tar.gz`, the one format every deploy goes through.
//!
//! Folders honour `.gitignore`, `.porchignore` and `.rscignore` (gitignore syntax) and
//! always skip version-control folders, virtual environments, caches, earlier deployment
//! records and editor scratch files. Links are packed as links; extraction decides whether
//! they are safe. [`fingerprint`] walks a folder with exactly the same rules, so a linked
//! folder is redeployed only when something that would be bundled changed.

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use super::BundleError;
use crate::config::Limits;

/// Folder names never bundled.
const ALWAYS_SKIPPED: &[&str] = &[
    ".git",
    ".hg",
    ".svn",
    "__pycache__",
    ".ipynb_checkpoints",
    ".Rproj.user",
    "node_modules",
    ".venv",
    "venv",
    "rsconnect-python",
    "rsconnect",
    ".quarto",
    ".DS_Store",
    ".mypy_cache",
    ".pytest_cache",
];

/// Archive suffixes deployed as they are.
pub const ARCHIVE_SUFFIXES: &[&str] = &[".tar.gz", ".tgz", ".tar", ".zip"];

/// Single-file suffixes that can be deployed on their own.
pub const FILE_SUFFIXES: &[&str] = &[".html", ".htm", ".ipynb", ".qmd", ".rmd", ".py", ".r"];

/// What the caller should feed to extraction.
#[derive(Debug)]
pub enum Packed {
    /// The path was an archive already.
    Archive(PathBuf),
    /// A new temporary `.tar.gz`.
    Temp(tempfile::NamedTempFile),
}

impl Packed {
    /// The archive's path.
    pub fn path(&self) -> &Path {
        match self {
            Packed::Archive(p) => p,
            Packed::Temp(t) => t.path(),
        }
    }
}

/// Whether a file name looks like an archive.
pub fn is_archive_name(name: &str) -> bool {
    let n = name.to_ascii_lowercase();
    ARCHIVE_SUFFIXES.iter().any(|s| n.ends_with(s))
}

/// Packs `src` (folder, single file or archive) for deployment, into `tmp_dir`.
pub fn pack(src: &Path, tmp_dir: &Path, limits: &Limits) -> Result<Packed, BundleError> {
    let meta = fs::metadata(src).map_err(|source| BundleError::Source { path: src.to_path_buf(), source })?;
    let name = src.file_name().map(|n| n.to_string_lossy().into_owned()).unwrap_or_default();
    if meta.is_file() && is_archive_name(&name) {
        return Ok(Packed::Archive(src.to_path_buf()));
    }
    fs::create_dir_all(tmp_dir).map_err(BundleError::io("creating the scratch folder", tmp_dir))?;
    let tmp = tempfile::Builder::new()
        .prefix("pack-")
        .suffix(".tar.gz")
        .tempfile_in(tmp_dir)
        .map_err(BundleError::io("creating a temporary archive", tmp_dir))?;
    let file = tmp.reopen().map_err(BundleError::io("opening a temporary archive", tmp.path()))?;
    let enc = flate2::write::GzEncoder::new(std::io::BufWriter::new(file), flate2::Compression::fast());
    let mut tar = tar::Builder::new(enc);
    tar.follow_symlinks(false);
    let mut budget = Budget { limits, bytes: 0, files: 0 };
    if meta.is_dir() {
        pack_dir(src, &mut tar, &mut budget)?;
    } else {
        let lower = name.to_ascii_lowercase();
        if !FILE_SUFFIXES.iter().any(|s| lower.ends_with(s)) {
            return Err(BundleError::Unrecognised {
                found: format!("a single file {name:?}"),
                supported: "a folder, a .tar.gz/.tar/.zip bundle, or one .html, .ipynb, .qmd, .Rmd, .py or .R file",
            });
        }
        budget.add(&name, meta.len())?;
        append_file(&mut tar, src, Path::new(&name))?;
        // A Python script brings its requirements along, as rsconnect does.
        if lower.ends_with(".py") {
            if let Some(req) = src.parent().map(|p| p.join("requirements.txt")).filter(|p| p.is_file()) {
                append_file(&mut tar, &req, Path::new("requirements.txt"))?;
            }
        }
    }
    let enc = tar.into_inner().map_err(BundleError::io("finishing the archive", tmp.path()))?;
    let mut buf = enc.finish().map_err(BundleError::io("finishing the archive", tmp.path()))?;
    buf.flush().map_err(BundleError::io("finishing the archive", tmp.path()))?;
    Ok(Packed::Temp(tmp))
}

struct Budget<'a> {
    limits: &'a Limits,
    bytes: u64,
    files: u64,
}

impl Budget<'_> {
    fn add(&mut self, entry: &str, len: u64) -> Result<(), BundleError> {
        self.files += 1;
        self.bytes += len;
        if self.files > self.limits.max_bundle_files {
            return Err(BundleError::TooManyFiles { limit: self.limits.max_bundle_files });
        }
        if self.bytes > self.limits.max_bundle_bytes {
            return Err(BundleError::TooLarge { limit: self.limits.max_bundle_bytes, entry: entry.to_string() });
        }
        Ok(())
    }
}

fn append_file<W: Write>(tar: &mut tar::Builder<W>, path: &Path, name: &Path) -> Result<(), BundleError> {
    tar.append_path_with_name(path, name).map_err(|source| BundleError::Source { path: path.to_path_buf(), source })
}

/// Whether a file name is an editor's scratch file rather than content: Vim swap files
/// (`.x.swp`, `.x.swo`) and its write test file `4913`, backups (`x~`), Emacs lock and
/// autosave files (`.#x`, `#x#`). They come and go while someone edits, so they are
/// neither bundled nor a reason to redeploy.
pub fn is_editor_scratch(name: &str) -> bool {
    name == "4913"
        || name.ends_with('~')
        || name.starts_with(".#")
        || (name.starts_with('#') && name.ends_with('#') && name.len() > 1)
        || (name.starts_with('.') && [".swp", ".swo", ".swx"].iter().any(|s| name.ends_with(s)))
}

/// Whether a folder name is never bundled (version control, environments, caches).
pub fn is_always_skipped_dir(name: &str) -> bool {
    ALWAYS_SKIPPED.contains(&name)
}

fn is_skipped(path: &Path) -> bool {
    let Some(name) = path.file_name().and_then(|n| n.to_str()) else { return false };
    ALWAYS_SKIPPED.contains(&name) || is_editor_scratch(name) || (path.is_dir() && path.join("pyvenv.cfg").is_file())
}

/// The walk every folder deploy uses: ignore files honoured, skipped names left out,
/// sorted, links not followed.
fn walker(root: &Path) -> ignore::Walk {
    ignore::WalkBuilder::new(root)
        .hidden(false)
        .git_ignore(true)
        .git_global(false)
        .git_exclude(false)
        .require_git(false)
        .ignore(false)
        .parents(false)
        .follow_links(false)
        .add_custom_ignore_filename(".porchignore")
        .add_custom_ignore_filename(".rscignore")
        .filter_entry(|e| !is_skipped(e.path()))
        .sort_by_file_name(|a, b| a.cmp(b))
        .build()
}

/// What [`fingerprint`] found: a digest of what would be bundled and the folders walked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fingerprint {
    /// Hex SHA-256 over every bundled entry's relative path, type, size and mtime.
    pub digest: String,
    /// Every folder the walk entered, `root` first (the ones worth watching).
    pub dirs: Vec<PathBuf>,
    /// The newest modification time among the bundled files.
    pub newest: Option<std::time::SystemTime>,
}

/// Fingerprints the files [`pack`] would put in a bundle of the folder `root`, without
/// reading their contents: names, sizes and modification times (nanoseconds).
pub fn fingerprint(root: &Path) -> Result<Fingerprint, BundleError> {
    use sha2::Digest;
    let mut hash = sha2::Sha256::new();
    let mut dirs = Vec::new();
    let mut newest: Option<std::time::SystemTime> = None;
    for entry in walker(root) {
        let entry = entry.map_err(|e| BundleError::Source {
            path: root.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let path = entry.path();
        let Ok(rel) = path.strip_prefix(root) else { continue };
        let Some(ft) = entry.file_type() else { continue };
        if ft.is_dir() {
            dirs.push(path.to_path_buf());
            continue;
        }
        // A file removed between listing and stat simply reads as gone.
        let (len, mtime) = match entry.metadata() {
            Ok(m) => {
                let modified = m.modified().ok();
                if let Some(t) = modified {
                    newest = Some(newest.map_or(t, |n| n.max(t)));
                }
                let t = modified.and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).unwrap_or_default();
                (m.len(), t.as_nanos())
            }
            Err(_) => continue,
        };
        let kind = if ft.is_symlink() { "l" } else { "f" };
        hash.update(format!("{}\0{kind}\0{len}\0{mtime}\n", rel.to_string_lossy()).as_bytes());
    }
    Ok(Fingerprint { digest: hex::encode(hash.finalize()), dirs, newest })
}

fn pack_dir<W: Write>(root: &Path, tar: &mut tar::Builder<W>, budget: &mut Budget<'_>) -> Result<(), BundleError> {
    for entry in walker(root) {
        let entry = entry.map_err(|e| BundleError::Source {
            path: root.to_path_buf(),
            source: std::io::Error::other(e.to_string()),
        })?;
        let path = entry.path();
        let Ok(rel) = path.strip_prefix(root) else { continue };
        if rel.as_os_str().is_empty() {
            continue;
        }
        let ft = entry.file_type().ok_or_else(|| BundleError::Source {
            path: path.to_path_buf(),
            source: std::io::Error::other("unknown file type"),
        })?;
        let rel_s = rel.to_string_lossy();
        if ft.is_dir() {
            continue; // Folders are implied by their files; empty ones are not needed.
        }
        let len = if ft.is_file() { entry.metadata().map(|m| m.len()).unwrap_or(0) } else { 0 };
        budget.add(&rel_s, len)?;
        if ft.is_file() || ft.is_symlink() {
            append_file(tar, path, rel)?;
        }
        // Sockets, FIFOs and devices in a working folder are simply not part of the bundle.
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(archive: &Path) -> Vec<String> {
        let f = fs::File::open(archive).expect("open");
        let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(f));
        let mut v: Vec<String> = ar
            .entries()
            .expect("entries")
            .map(|e| e.expect("entry").path().expect("path").to_string_lossy().into_owned())
            .collect();
        v.sort();
        v
    }

    #[test]
    fn folder_honours_ignores_and_skips_envs() {
        let d = tempfile::tempdir().expect("tmp");
        let r = d.path();
        fs::write(r.join("index.html"), "hi").expect("w");
        fs::write(r.join(".gitignore"), "secret.txt\n*.log\n").expect("w");
        fs::write(r.join("secret.txt"), "x").expect("w");
        fs::write(r.join("debug.log"), "x").expect("w");
        for dir in [".git", "__pycache__", "myenv", "sub"] {
            fs::create_dir(r.join(dir)).expect("mkdir");
        }
        fs::write(r.join(".git/HEAD"), "x").expect("w");
        fs::write(r.join("__pycache__/a.pyc"), "x").expect("w");
        fs::write(r.join("myenv/pyvenv.cfg"), "x").expect("w");
        fs::write(r.join("sub/page.html"), "x").expect("w");
        let out = tempfile::tempdir().expect("tmp");
        let packed = pack(r, out.path(), &Limits::default()).expect("pack");
        assert_eq!(names(packed.path()), vec![".gitignore", "index.html", "sub/page.html"]);
    }

    #[test]
    fn editor_scratch_files_are_not_bundled() {
        for n in [".app.py.swp", ".app.py.swo", "app.py~", ".#app.py", "#app.py#", "4913"] {
            assert!(is_editor_scratch(n), "{n}");
        }
        for n in ["app.py", "swp", "#", "notes.swp.txt", "a~b"] {
            assert!(!is_editor_scratch(n), "{n}");
        }
        let d = tempfile::tempdir().expect("tmp");
        fs::write(d.path().join("app.py"), "x").expect("w");
        fs::write(d.path().join(".app.py.swp"), "x").expect("w");
        fs::write(d.path().join("4913"), "x").expect("w");
        let out = tempfile::tempdir().expect("tmp");
        let packed = pack(d.path(), out.path(), &Limits::default()).expect("pack");
        assert_eq!(names(packed.path()), vec!["app.py"]);
    }

    #[test]
    fn fingerprint_follows_bundled_files_only() {
        let d = tempfile::tempdir().expect("tmp");
        let r = d.path();
        fs::write(r.join("app.py"), "one").expect("w");
        fs::write(r.join(".gitignore"), "*.log\n").expect("w");
        fs::create_dir(r.join("__pycache__")).expect("mkdir");
        fs::create_dir(r.join("sub")).expect("mkdir");
        let first = fingerprint(r).expect("fp");
        assert_eq!(first.dirs, vec![r.to_path_buf(), r.join("sub")], "skipped folders are not walked");
        // Ignored, skipped and scratch files change nothing.
        fs::write(r.join("run.log"), "x").expect("w");
        fs::write(r.join("__pycache__/app.pyc"), "x").expect("w");
        fs::write(r.join(".app.py.swp"), "x").expect("w");
        assert_eq!(fingerprint(r).expect("fp").digest, first.digest);
        // A bundled file that changes (here: its size) does.
        fs::write(r.join("app.py"), "two!").expect("w");
        assert_ne!(fingerprint(r).expect("fp").digest, first.digest);
        fs::write(r.join("sub/new.py"), "x").expect("w");
        let third = fingerprint(r).expect("fp");
        fs::remove_file(r.join("sub/new.py")).expect("rm");
        assert_ne!(fingerprint(r).expect("fp").digest, third.digest);
    }

    #[test]
    fn folder_over_the_limit_is_refused() {
        let d = tempfile::tempdir().expect("tmp");
        fs::write(d.path().join("big.html"), vec![b'x'; 2048]).expect("w");
        let limits = Limits { max_bundle_bytes: 1024, max_bundle_files: 10 };
        let err = pack(d.path(), d.path(), &limits).expect_err("too big");
        assert!(err.to_string().contains("too large"), "{err}");
    }

    #[test]
    fn unknown_single_file_is_refused() {
        let d = tempfile::tempdir().expect("tmp");
        let f = d.path().join("notes.txt");
        fs::write(&f, "x").expect("w");
        let err = pack(&f, d.path(), &Limits::default()).expect_err("unsupported");
        assert!(err.to_string().contains("notes.txt"), "{err}");
    }
}
