//! Reading a bundle's Python requirements and hashing them into a cache key.
//!
//! Owns: finding the requirements file named by the manifest, following `-r`/`-c`
//! includes inside the bundle, normalising lines, and the environment hash. Does not run
//! any installer.
//!
//! Includes are **followed and hashed**, not refused: `-r other.txt` and `-c constraints.txt`
//! are resolved relative to the file that names them, must stay inside the bundle, and the
//! content of every file reached goes into the hash. What *is* refused is a requirement on
//! a local path (`-e .`, `./pkg`, `file:`…, `--find-links ./wheels`): environments are shared
//! between items and deploys, so an environment must not depend on one bundle's files.
//!
//! Everything here is synchronous and small; callers run it on a blocking thread.

use std::collections::HashSet;
use std::path::{Component, Path, PathBuf};

use sha2::{Digest, Sha256};

use super::EnvError;

/// How deep `-r` includes may nest before we call it a loop.
const MAX_INCLUDE_DEPTH: usize = 8;

/// Requirements files larger than this are refused (a requirements file is text).
const MAX_FILE_BYTES: u64 = 1024 * 1024;

/// A bundle's requirements, normalised for hashing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Requirements {
    /// The top-level file to pass to the installer, or `None` when the bundle has none.
    pub(crate) main: Option<PathBuf>,
    /// Every file read, as (path relative to the bundle, normalised lines), in reading order.
    pub(crate) files: Vec<(String, Vec<String>)>,
}

impl Requirements {
    /// Whether there is nothing to install from the bundle.
    pub(crate) fn is_empty(&self) -> bool {
        self.files.iter().all(|(_, lines)| lines.is_empty())
    }
}

/// The Python dependencies file named in the manifest (`python.package_manager.package_file`),
/// or `requirements.txt`.
pub(crate) fn package_file(raw: &serde_json::Value) -> String {
    raw.pointer("/python/package_manager/package_file")
        .and_then(|v| v.as_str())
        .filter(|s| !s.trim().is_empty())
        .unwrap_or("requirements.txt")
        .to_string()
}

/// Reads `package_file` (relative to `bundle_dir`) and everything it includes.
///
/// A missing top-level file means "no requirements" (`main: None`); a missing include is an
/// error, since the installer would fail on it anyway.
pub(crate) fn read(bundle_dir: &Path, package_file: &str) -> Result<Requirements, EnvError> {
    let rel = safe_relative(package_file).ok_or_else(|| EnvError::RequirementsInvalid {
        file: package_file.to_string(),
        reason: "the package file must be a relative path inside the bundle".into(),
    })?;
    let root = bundle_dir.canonicalize().map_err(|source| EnvError::Io {
        about: "resolving the bundle folder",
        path: bundle_dir.to_path_buf(),
        source,
    })?;
    let main = root.join(&rel);
    if !main.is_file() {
        return Ok(Requirements { main: None, files: Vec::new() });
    }
    let mut reqs = Requirements { main: Some(main.clone()), files: Vec::new() };
    let mut seen = HashSet::new();
    read_into(&root, &main, 0, &mut seen, &mut reqs)?;
    Ok(reqs)
}

fn read_into(
    root: &Path,
    file: &Path,
    depth: usize,
    seen: &mut HashSet<PathBuf>,
    out: &mut Requirements,
) -> Result<(), EnvError> {
    // SECURITY: requirements come from the publisher; a symlink or `..` must not make us
    // read (and hash, and hand to the installer) files outside the bundle.
    let real = file.canonicalize().map_err(|source| EnvError::Io {
        about: "reading a requirements file",
        path: file.to_path_buf(),
        source,
    })?;
    let rel_name = real
        .strip_prefix(root)
        .map_err(|_| EnvError::RequirementsInvalid {
            file: file.display().to_string(),
            reason: "it resolves to a file outside the bundle".into(),
        })?
        .to_string_lossy()
        .replace('\\', "/");
    if !seen.insert(real.clone()) {
        // Included twice (or a loop): its content is already in the hash once.
        return Ok(());
    }
    let len = std::fs::metadata(&real)
        .map_err(|source| EnvError::Io { about: "reading a requirements file", path: real.clone(), source })?
        .len();
    if len > MAX_FILE_BYTES {
        return Err(EnvError::RequirementsInvalid {
            file: rel_name,
            reason: format!("it is larger than {MAX_FILE_BYTES} bytes"),
        });
    }
    let bytes = std::fs::read(&real).map_err(|source| EnvError::Io {
        about: "reading a requirements file",
        path: real.clone(),
        source,
    })?;
    let text = String::from_utf8_lossy(&bytes);
    let lines = normalise(&text);
    let idx = out.files.len();
    out.files.push((rel_name.clone(), Vec::new()));
    let mut kept = Vec::with_capacity(lines.len());
    for line in lines {
        if let Some(target) = include_target(&line) {
            if depth + 1 > MAX_INCLUDE_DEPTH {
                return Err(EnvError::RequirementsInvalid {
                    file: rel_name,
                    reason: format!("includes nest deeper than {MAX_INCLUDE_DEPTH} levels"),
                });
            }
            let inc_rel = safe_relative(target).ok_or_else(|| EnvError::RequirementsInvalid {
                file: rel_name.clone(),
                reason: format!("{line:?} must name a relative path inside the bundle"),
            })?;
            let base = real.parent().unwrap_or(root);
            let inc = base.join(inc_rel);
            if !inc.is_file() {
                return Err(EnvError::RequirementsInvalid {
                    file: rel_name,
                    reason: format!("{line:?} names a file that is not in the bundle"),
                });
            }
            read_into(root, &inc, depth + 1, seen, out)?;
        } else if let Some(why) = local_path_reason(&line) {
            return Err(EnvError::RequirementsInvalid {
                file: rel_name,
                reason: format!(
                    "{line:?} {why}; Porch shares environments between deploys, so requirements must \
                     come from a package index (publish the package, or vendor it as plain code)"
                ),
            });
        }
        kept.push(line);
    }
    out.files[idx].1 = kept;
    Ok(())
}

/// Joins continuations, drops comments and blank lines, trims. Order is kept: options such
/// as `--index-url` apply to the whole file, but reordering is rare and rebuilding is safe.
pub(crate) fn normalise(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut pending = String::new();
    for raw in text.lines() {
        let line = strip_comment(raw);
        if let Some(head) = line.trim_end().strip_suffix('\\') {
            pending.push_str(head);
            pending.push(' ');
            continue;
        }
        pending.push_str(line);
        let joined = pending.split_whitespace().collect::<Vec<_>>().join(" ");
        pending.clear();
        if !joined.is_empty() {
            out.push(joined);
        }
    }
    let rest = pending.split_whitespace().collect::<Vec<_>>().join(" ");
    if !rest.is_empty() {
        out.push(rest);
    }
    out
}

/// pip's rule: `#` starts a comment at the start of a line or after whitespace.
fn strip_comment(line: &str) -> &str {
    let bytes = line.as_bytes();
    for (i, &b) in bytes.iter().enumerate() {
        if b == b'#' && (i == 0 || bytes[i - 1].is_ascii_whitespace()) {
            return &line[..i];
        }
    }
    line
}

/// The file named by `-r`/`--requirement`/`-c`/`--constraint`, in any of pip's spellings.
fn include_target(line: &str) -> Option<&str> {
    for flag in ["--requirement", "--constraint"] {
        if let Some(rest) = line.strip_prefix(flag) {
            let rest = rest.strip_prefix('=').unwrap_or(rest).trim();
            if !rest.is_empty() {
                return Some(rest);
            }
        }
    }
    for flag in ["-r", "-c"] {
        if let Some(rest) = line.strip_prefix(flag) {
            let rest = rest.strip_prefix('=').unwrap_or(rest).trim();
            if !rest.is_empty() {
                return Some(rest);
            }
        }
    }
    None
}

/// Why a normalised line depends on local files, if it does.
fn local_path_reason(line: &str) -> Option<&'static str> {
    let lower = line.to_ascii_lowercase();
    if lower.starts_with("-e") || lower.starts_with("--editable") {
        return Some("is an editable install");
    }
    for flag in ["--find-links", "-f"] {
        if let Some(rest) = lower.strip_prefix(flag) {
            let target = rest.strip_prefix('=').unwrap_or(rest).trim();
            if !(target.starts_with("http://") || target.starts_with("https://")) {
                return Some("points --find-links at a local folder");
            }
        }
    }
    if lower.starts_with('-') {
        return None;
    }
    let first = lower.split_whitespace().next().unwrap_or("");
    if first.starts_with('.') || first.starts_with('/') || first.starts_with('~') || first.starts_with("file:") {
        return Some("installs from a local path");
    }
    if lower.contains("@ file:") || lower.contains("@file:") {
        return Some("installs from a local path");
    }
    None
}

/// A relative path with no `..`, root or prefix components, or `None`.
fn safe_relative(p: &str) -> Option<PathBuf> {
    let path = Path::new(p);
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(part) => out.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    (!out.as_os_str().is_empty()).then_some(out)
}

/// SHA-256 (hex) of the requirements alone, recorded in `.porch-env.json`.
pub(crate) fn content_hash(reqs: &Requirements) -> String {
    let mut h = Sha256::new();
    for (name, lines) in &reqs.files {
        h.update(name.as_bytes());
        h.update(b"\0");
        for l in lines {
            h.update(l.as_bytes());
            h.update(b"\n");
        }
    }
    hex::encode(h.finalize())
}

/// The cache key: interpreter (version and real path, since a venv is bound to its base),
/// every requirements file's normalised content, and the launcher's extras (sorted).
pub(crate) fn env_hash(python_version: &str, python_path: &Path, reqs: &Requirements, extras: &[&str]) -> String {
    let mut h = Sha256::new();
    h.update(b"porch-env-v1\0");
    h.update(python_version.as_bytes());
    h.update(b"\0");
    h.update(python_path.to_string_lossy().as_bytes());
    h.update(b"\0");
    for (name, lines) in &reqs.files {
        h.update(b"file\0");
        h.update(name.as_bytes());
        h.update(b"\0");
        for l in lines {
            h.update(l.as_bytes());
            h.update(b"\n");
        }
    }
    let mut extras: Vec<String> = extras.iter().map(|e| e.split_whitespace().collect::<String>()).collect();
    extras.sort();
    extras.dedup();
    h.update(b"extras\0");
    for e in &extras {
        h.update(e.as_bytes());
        h.update(b"\0");
    }
    hex::encode(&h.finalize()[..12])
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bundle(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, body) in files {
            let p = dir.path().join(name);
            std::fs::create_dir_all(p.parent().expect("has parent")).expect("mkdir");
            std::fs::write(p, body).expect("write");
        }
        dir
    }

    #[test]
    fn normalises_comments_blanks_and_continuations() {
        let text = "# top\n\nsix==1.16.0   # pinned\nflask \\\n  >=3\nurl#frag-is-not-a-comment\n  \n";
        assert_eq!(normalise(text), vec!["six==1.16.0", "flask >=3", "url#frag-is-not-a-comment"]);
    }

    #[test]
    fn missing_file_means_no_requirements() {
        let b = bundle(&[("app.py", "")]);
        let r = read(b.path(), "requirements.txt").expect("ok");
        assert!(r.main.is_none());
        assert!(r.is_empty());
    }

    #[test]
    fn follows_includes_and_hashes_their_content() {
        let b = bundle(&[
            ("requirements.txt", "-r reqs/base.txt\n-c reqs/constraints.txt\nsix\n"),
            ("reqs/base.txt", "flask\n--requirement=more.txt\n"),
            ("reqs/more.txt", "waitress\n-r base.txt\n"),
            ("reqs/constraints.txt", "six<2\n"),
        ]);
        let r = read(b.path(), "requirements.txt").expect("ok");
        let names: Vec<&str> = r.files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names, vec!["requirements.txt", "reqs/base.txt", "reqs/more.txt", "reqs/constraints.txt"]);
        let py = Path::new("/usr/bin/python3.11");
        let before = env_hash("3.11.2", py, &r, &[]);
        std::fs::write(b.path().join("reqs/more.txt"), "waitress==3.0.0\n").expect("write");
        let r2 = read(b.path(), "requirements.txt").expect("ok");
        assert_ne!(before, env_hash("3.11.2", py, &r2, &[]), "an included file's change must change the hash");
    }

    #[test]
    fn refuses_includes_outside_the_bundle_and_local_paths() {
        let outside = bundle(&[("evil.txt", "six\n")]);
        let evil = outside.path().join("evil.txt");
        let cases = [
            ("-r ../x.txt\n", "relative path inside the bundle"),
            (&*format!("-r {}\n", evil.display()), "relative path inside the bundle"),
            ("-r nothere.txt\n", "not in the bundle"),
            ("-e .\n", "editable"),
            ("./mypkg\n", "local path"),
            ("pkg @ file:///tmp/pkg.whl\n", "local path"),
            ("--find-links ./wheels\nsix\n", "--find-links"),
        ];
        for (body, want) in cases {
            let b = bundle(&[("requirements.txt", body)]);
            let err = read(b.path(), "requirements.txt").expect_err(body).to_string();
            assert!(err.contains(want), "{body:?}: {err} should mention {want}");
        }
        let b = bundle(&[("requirements.txt", "six\n")]);
        assert!(read(b.path(), "../requirements.txt").is_err());
        #[cfg(unix)]
        {
            let b = bundle(&[("requirements.txt", "-r link.txt\n")]);
            std::os::unix::fs::symlink(&evil, b.path().join("link.txt")).expect("symlink");
            let err = read(b.path(), "requirements.txt").expect_err("symlink out").to_string();
            assert!(err.contains("outside the bundle"), "{err}");
        }
    }

    #[test]
    fn remote_options_are_kept() {
        let b = bundle(&[("requirements.txt", "--extra-index-url https://example.org/simple\n-f https://x/y\nsix\n")]);
        let r = read(b.path(), "requirements.txt").expect("ok");
        assert_eq!(r.files[0].1.len(), 3);
    }

    #[test]
    fn hash_depends_on_python_requirements_and_extras_but_not_formatting() {
        let a = bundle(&[("requirements.txt", "six==1.16.0\n")]);
        let b = bundle(&[("requirements.txt", "# comment\nsix==1.16.0   \n\n")]);
        let ra = read(a.path(), "requirements.txt").expect("ok");
        let rb = read(b.path(), "requirements.txt").expect("ok");
        let py = Path::new("/usr/bin/python3.11");
        let base = env_hash("3.11.2", py, &ra, &["waitress", "uvicorn[standard]"]);
        assert_eq!(base, env_hash("3.11.2", py, &rb, &["uvicorn[standard]", "waitress"]));
        assert_eq!(base.len(), 24);
        assert_ne!(base, env_hash("3.11.7", py, &ra, &["waitress", "uvicorn[standard]"]));
        assert_ne!(
            base,
            env_hash("3.11.2", Path::new("/opt/py/bin/python3.11"), &ra, &["waitress", "uvicorn[standard]"])
        );
        assert_ne!(base, env_hash("3.11.2", py, &ra, &["waitress"]));
        let empty = Requirements { main: None, files: Vec::new() };
        assert_ne!(base, env_hash("3.11.2", py, &empty, &["waitress", "uvicorn[standard]"]));
    }

    #[test]
    fn package_file_comes_from_the_manifest() {
        let raw = serde_json::json!({"python": {"package_manager": {"package_file": "reqs.txt"}}});
        assert_eq!(package_file(&raw), "reqs.txt");
        assert_eq!(package_file(&serde_json::json!({"python": null})), "requirements.txt");
    }
}
