//! Which Python a bundle wants, which Pythons this machine has, and which one to use.
//!
//! Owns: parsing version strings (manifest `python.version`, `.python-version`), probing
//! interpreters found on `PATH`, and matching on major.minor. Does not download Python,
//! ever: a version the machine lacks is an error naming what it has.
//!
//! Discovery spawns `python3`, `python` and `python3.N` by name (the OS resolves `PATH`, so
//! the engine reads no environment variables) and asks each for its version and real path;
//! the probes run concurrently, each under a timeout. Broken shims (pyenv's inactive
//! versions exit 127) and Python 2 are skipped. Callers probe [`quick_names`] first and the
//! full [`candidate_names`] only on a miss, since each probe starts an interpreter (pyenv
//! shims cost ~100 ms each).

use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::sync::mpsc::UnboundedSender;

use super::EnvError;
use crate::runner::{Cmd, Runner};

/// How long one interpreter may take to report its version.
const PROBE_TIMEOUT: Duration = Duration::from_secs(15);

/// Minor versions probed as `python3.N`.
const MINORS: std::ops::RangeInclusive<u32> = 6..=25;

/// Prints the full version and the real executable.
const PROBE: &str = "import sys; v = sys.version_info; print('%d.%d.%d' % (v[0], v[1], v[2])); print(sys.executable)";

/// A Python version a bundle asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct WantedPython {
    pub(crate) major: u32,
    pub(crate) minor: u32,
    pub(crate) patch: Option<u32>,
    /// Where the wish came from, for messages.
    pub(crate) from: &'static str,
}

impl WantedPython {
    /// `3.11` (what is matched on).
    pub(crate) fn major_minor(&self) -> String {
        format!("{}.{}", self.major, self.minor)
    }
}

/// An interpreter on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Interpreter {
    pub(crate) major: u32,
    pub(crate) minor: u32,
    pub(crate) patch: u32,
    /// The real (canonical) executable.
    pub(crate) path: PathBuf,
}

impl Interpreter {
    /// `3.11.7`.
    pub(crate) fn version(&self) -> String {
        format!("{}.{}.{}", self.major, self.minor, self.patch)
    }

    /// `3.11.7 (/usr/bin/python3.11)`, as listed in errors.
    pub(crate) fn describe(&self) -> String {
        format!("{} ({})", self.version(), self.path.display())
    }
}

/// Parses `3.11`, `3.11.7`, `3.12.0rc1`, `cpython-3.11`, `cpython@3.11.7`, `python3.11`,
/// `3.11.7/envs/x` into (major, minor, patch).
pub(crate) fn parse_version(s: &str) -> Option<(u32, u32, Option<u32>)> {
    let s = s.trim();
    let lower = s.to_ascii_lowercase();
    let mut rest = lower.as_str();
    for prefix in ["cpython-", "cpython@", "cpython", "python", "py"] {
        if let Some(r) = rest.strip_prefix(prefix) {
            rest = r;
            break;
        }
    }
    let mut parts = rest.splitn(3, '.');
    let major = parts.next()?.parse().ok()?;
    let minor_text = parts.next()?;
    let minor_digits: String = minor_text.chars().take_while(char::is_ascii_digit).collect();
    if minor_digits.is_empty() || minor_digits.len() != minor_text.len() && parts.clone().next().is_some() {
        return None;
    }
    let minor = minor_digits.parse().ok()?;
    let patch = parts.next().and_then(|p| {
        let d: String = p.chars().take_while(char::is_ascii_digit).collect();
        d.parse().ok()
    });
    Some((major, minor, patch))
}

/// The Python version the bundle asks for: the manifest's `python.version`, else the first
/// line of `.python-version` at the bundle root, else none (use the machine's `python3`).
///
/// An unreadable manifest version is an error (the client wrote it on purpose); an
/// unreadable `.python-version` is a warning (it often names a pyenv virtualenv).
pub(crate) async fn wanted(
    bundle_dir: &Path,
    raw: &serde_json::Value,
    log: &UnboundedSender<String>,
) -> Result<Option<WantedPython>, EnvError> {
    if let Some(v) = raw.pointer("/python/version").and_then(|v| v.as_str()).filter(|v| !v.trim().is_empty()) {
        let from = "the manifest (python.version)";
        let (major, minor, patch) =
            parse_version(v).ok_or_else(|| EnvError::BadPythonVersion { value: v.to_string(), from })?;
        return Ok(Some(WantedPython { major, minor, patch, from }));
    }
    let file = bundle_dir.join(".python-version");
    let text = match tokio::fs::read_to_string(&file).await {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) if e.kind() == std::io::ErrorKind::InvalidData => String::new(),
        Err(source) => return Err(EnvError::Io { about: "reading .python-version", path: file, source }),
    };
    let Some(line) = text.lines().map(str::trim).find(|l| !l.is_empty() && !l.starts_with('#')) else {
        return Ok(None);
    };
    if line == "system" {
        return Ok(None);
    }
    match parse_version(line) {
        Some((major, minor, patch)) => Ok(Some(WantedPython { major, minor, patch, from: ".python-version" })),
        None => {
            let _ = log.send(format!(
                "warning: ignoring .python-version ({line:?} is not a Python version); using the default python3"
            ));
            Ok(None)
        }
    }
}

/// Every name probed in a full discovery, in preference order: `python3` first, as the
/// user's shell would pick, then `python`, then `python3.N` from newest.
pub(crate) fn candidate_names() -> Vec<String> {
    let mut names = vec!["python3".to_string(), "python".to_string()];
    names.extend(MINORS.rev().map(|m| format!("python3.{m}")));
    names
}

/// The few names worth probing first for a wish: `python3`, `python` and `pythonX.Y`.
pub(crate) fn quick_names(wanted: Option<&WantedPython>) -> Vec<String> {
    let mut names = vec!["python3".to_string(), "python".to_string()];
    if let Some(w) = wanted {
        names.push(format!("python{}", w.major_minor()));
    }
    names
}

/// Probes `names` concurrently; one result per name, in order.
pub(crate) async fn probe_all(runner: &Runner, names: &[String]) -> Vec<Option<Interpreter>> {
    futures_util::future::join_all(names.iter().map(|n| probe(runner, Path::new(n)))).await
}

/// Python 3 interpreters from probe results, first occurrence of each real path kept.
pub(crate) fn python3_only(found: impl IntoIterator<Item = Option<Interpreter>>) -> Vec<Interpreter> {
    let mut out: Vec<Interpreter> = Vec::new();
    for i in found.into_iter().flatten() {
        if i.major == 3 && !out.iter().any(|o| o.path == i.path) {
            out.push(i);
        }
    }
    out
}

/// Asks one interpreter for its version and real path; `None` if it does not answer sanely.
pub(crate) async fn probe(runner: &Runner, program: &Path) -> Option<Interpreter> {
    let mut cmd = Cmd::new(program);
    // -I: ignore PYTHON* variables and user site, so the probe sees the bare interpreter.
    cmd.args(["-I", "-c", PROBE]);
    let out = runner.output(&cmd, PROBE_TIMEOUT).await.ok()?;
    if !out.status.success() {
        return None;
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines();
    let (major, minor, patch) = parse_version(lines.next()?)?;
    let exe = lines.next().map(str::trim).filter(|e| !e.is_empty())?;
    let path = tokio::fs::canonicalize(exe).await.ok()?;
    Some(Interpreter { major, minor, patch: patch.unwrap_or(0), path })
}

/// Picks the interpreter for a wish: same major.minor, preferring the exact patch release,
/// then discovery order. With no wish, the first found.
pub(crate) fn choose<'a>(wanted: Option<&WantedPython>, found: &'a [Interpreter]) -> Result<&'a Interpreter, EnvError> {
    let available = || found.iter().map(Interpreter::describe).collect::<Vec<_>>();
    let Some(w) = wanted else {
        return found.first().ok_or(EnvError::NoPython);
    };
    let same: Vec<&Interpreter> = found.iter().filter(|i| i.major == w.major && i.minor == w.minor).collect();
    if let Some(exact) = same.iter().find(|i| Some(i.patch) == w.patch) {
        return Ok(exact);
    }
    same.first().copied().ok_or_else(|| EnvError::PythonVersionUnavailable {
        wanted: w.major_minor(),
        from: w.from,
        available: available(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn interp(v: (u32, u32, u32), p: &str) -> Interpreter {
        Interpreter { major: v.0, minor: v.1, patch: v.2, path: PathBuf::from(p) }
    }

    #[test]
    fn parses_the_spellings_seen_in_the_wild() {
        assert_eq!(parse_version("3.11.7"), Some((3, 11, Some(7))));
        assert_eq!(parse_version(" 3.11 "), Some((3, 11, None)));
        assert_eq!(parse_version("3.12.0rc1"), Some((3, 12, Some(0))));
        assert_eq!(parse_version("3.11.7+"), Some((3, 11, Some(7))));
        assert_eq!(parse_version("cpython-3.10"), Some((3, 10, None)));
        assert_eq!(parse_version("cpython@3.13.1"), Some((3, 13, Some(1))));
        assert_eq!(parse_version("python3.9"), Some((3, 9, None)));
        assert_eq!(parse_version("3.11.7/envs/proj"), Some((3, 11, Some(7))));
        assert_eq!(parse_version("2.7"), Some((2, 7, None)));
        for bad in ["", "3", "system", "myenv", "pypy3.10x.1", "3.x", "latest"] {
            assert_eq!(parse_version(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn matches_on_major_minor_preferring_the_exact_release() {
        let found = vec![
            interp((3, 11, 2), "/usr/bin/python3.11"),
            interp((3, 11, 7), "/opt/3.11.7/bin/python3.11"),
            interp((3, 12, 1), "/opt/3.12/bin/python3.12"),
        ];
        let w = |minor, patch| WantedPython { major: 3, minor, patch, from: "test" };
        assert_eq!(choose(Some(&w(11, Some(7))), &found).expect("ok").patch, 7);
        assert_eq!(choose(Some(&w(11, Some(9))), &found).expect("ok").patch, 2, "first 3.11 found");
        assert_eq!(choose(Some(&w(12, None)), &found).expect("ok").minor, 12);
        assert_eq!(choose(None, &found).expect("ok").path, PathBuf::from("/usr/bin/python3.11"));
        let err = choose(Some(&w(9, Some(1))), &found).expect_err("no 3.9");
        let msg = err.to_string();
        assert!(
            msg.contains("Python 3.9") && msg.contains("3.11.2 (/usr/bin/python3.11)") && msg.contains("3.12.1"),
            "{msg}"
        );
        assert!(matches!(choose(None, &[]), Err(EnvError::NoPython)));
    }

    #[tokio::test]
    async fn wanted_version_comes_from_manifest_then_dot_file() {
        let dir = tempfile::tempdir().expect("temp dir");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let manifest = serde_json::json!({"python": {"version": "3.11.7"}});
        let w = wanted(dir.path(), &manifest, &tx).await.expect("ok").expect("some");
        assert_eq!((w.major_minor(), w.patch), ("3.11".to_string(), Some(7)));
        let none = serde_json::json!({});
        assert_eq!(wanted(dir.path(), &none, &tx).await.expect("ok"), None);
        std::fs::write(dir.path().join(".python-version"), "# pinned\n3.12\n").expect("write");
        let w = wanted(dir.path(), &none, &tx).await.expect("ok").expect("some");
        assert_eq!((w.major_minor(), w.from), ("3.12".to_string(), ".python-version"));
        // The manifest wins over the dot file.
        assert_eq!(wanted(dir.path(), &manifest, &tx).await.expect("ok").expect("some").minor, 11);
        std::fs::write(dir.path().join(".python-version"), "my-virtualenv\n").expect("write");
        assert_eq!(wanted(dir.path(), &none, &tx).await.expect("ok"), None);
        assert!(rx.try_recv().expect("a warning line").contains("ignoring .python-version"));
        let bad = serde_json::json!({"python": {"version": "three"}});
        assert!(matches!(wanted(dir.path(), &bad, &tx).await, Err(EnvError::BadPythonVersion { .. })));
    }
}
