//! A publisher's choice of appmode and entry point, applied on top of what a bundle
//! declares or what detection inferred.
//!
//! Owns: which appmodes Porch can run (derived from [`APP_MODES`] and the runtime table),
//! which files can be the entry point of each, checking a choice against the extracted
//! bundle, and rewriting the manifest to carry it. The amended manifest is what gets
//! stored with the bundle (its database row and the `manifest.json` in its folder), so the
//! version records what it runs and a rollback to it runs the same thing.
//!
//! Synchronous file work (small `read_dir`s of the extracted bundle); callers run it on a
//! blocking thread.

use crate::vocab::AppMode;
use std::fs;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use serde_json::{json, Value};

use super::entrypoint::{contained, PyEntryPoint};
use crate::bundle::manifest::{Manifest, APP_MODES};
use crate::bundle::BundleError;

/// How many entry-point candidates are listed (the rest can still be named by hand).
const LISTED_CANDIDATES: usize = 200;
/// How deep below the bundle root candidates are looked for.
const CANDIDATE_DEPTH: usize = 3;

/// Overrides for a deploy: both optional; empty strings count as absent.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct Overrides {
    /// The appmode to run the bundle as, e.g. `static` or `python-dash`.
    #[serde(default)]
    pub appmode: Option<String>,
    /// The entry point: a file in the bundle, or `module[:object]` for Python web apps.
    #[serde(default)]
    pub entrypoint: Option<String>,
}

impl Overrides {
    /// The overridden appmode, if one was given.
    pub fn app_mode(&self) -> Option<&str> {
        self.appmode.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }

    /// The overridden entry point, if one was given.
    pub fn entry(&self) -> Option<&str> {
        self.entrypoint.as_deref().map(str::trim).filter(|s| !s.is_empty())
    }

    /// Whether nothing is overridden.
    pub fn is_empty(&self) -> bool {
        self.app_mode().is_none() && self.entry().is_none()
    }

    /// Checks what can be checked without the bundle (the appmode), so a bad request fails
    /// before an upload is read or an item is created.
    pub fn check(&self) -> Result<(), BundleError> {
        match self.app_mode() {
            Some(mode) if !runnable_app_modes().contains(&mode) => Err(BundleError::BadOverride {
                reason: format!(
                    "appmode {mode:?} is not one Porch can run; choose one of {}",
                    runnable_app_modes().join(", ")
                ),
            }),
            _ => Ok(()),
        }
    }
}

/// Every appmode Porch can deploy and run, in the order of [`APP_MODES`]: static sites,
/// rendered documents and the interactive appmodes Porch has a launcher for.
pub fn runnable_app_modes() -> Vec<&'static str> {
    APP_MODES
        .iter()
        .copied()
        .filter(|m| {
            let mode = AppMode::parse(m);
            crate::runtime_kind(&mode) != crate::RuntimeKind::Interactive || crate::runtimes::is_interactive(&mode)
        })
        .collect()
}

/// What an appmode runs, as far as choosing its entry point goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum EntryKind {
    /// A file with one of these (lower-case) extensions.
    File(&'static [&'static str]),
    /// A Python module (`app`, `pkg.main`, `app.py`), optionally `:object`.
    PyModule,
}

fn entry_kind(app_mode: &AppMode) -> EntryKind {
    match app_mode {
        AppMode::Static => EntryKind::File(&["html", "htm"]),
        AppMode::JupyterStatic | AppMode::JupyterVoila => EntryKind::File(&["ipynb"]),
        AppMode::QuartoStatic => EntryKind::File(&["qmd", "ipynb", "rmd", "md"]),
        AppMode::RmdStatic | AppMode::RmdShiny => EntryKind::File(&["rmd"]),
        AppMode::Shiny | AppMode::Api => EntryKind::File(&["r"]),
        AppMode::PythonStreamlit | AppMode::PythonBokeh => EntryKind::File(&["py"]),
        AppMode::PythonPanel => EntryKind::File(&["py", "ipynb"]),
        _ => EntryKind::PyModule,
    }
}

/// What an entry point of this appmode looks like, for messages.
fn describe(app_mode: &AppMode) -> String {
    match entry_kind(app_mode) {
        EntryKind::PyModule => "a Python module such as app, app:server or app.py".into(),
        EntryKind::File(exts) => {
            let exts: Vec<String> = exts.iter().map(|e| format!(".{}", shown_ext(e))).collect();
            format!("a {} file", exts.join(" or "))
        }
    }
}

fn shown_ext(e: &str) -> &str {
    match e {
        "rmd" => "Rmd",
        "r" => "R",
        other => other,
    }
}

/// The files (or modules) in `root` that can be the entry point of `app_mode`, top level
/// first, then alphabetically.
pub fn candidates(root: &Path, app_mode: &AppMode) -> Vec<String> {
    let mut files = Vec::new();
    walk(root, Path::new(""), 0, &mut files);
    files.sort_by(|a, b| (a.components().count(), a).cmp(&(b.components().count(), b)));
    let kind = entry_kind(app_mode);
    files
        .iter()
        .filter_map(|rel| {
            let text = rel.to_str()?;
            match kind {
                EntryKind::File(_) if app_mode == &AppMode::Static && text.contains('/') => None,
                EntryKind::File(exts) => has_ext(text, exts).then(|| text.to_string()),
                EntryKind::PyModule => {
                    let module = text.strip_suffix(".py")?.replace('/', ".");
                    let ok = PyEntryPoint::parse(&module).is_ok() && !module.ends_with("__init__");
                    ok.then_some(module)
                }
            }
        })
        .take(LISTED_CANDIDATES)
        .collect()
}

fn walk(root: &Path, rel: &Path, depth: usize, out: &mut Vec<PathBuf>) {
    let Ok(entries) = fs::read_dir(root.join(rel)) else { return };
    for e in entries.flatten() {
        let name = e.file_name();
        let Some(n) = name.to_str() else { continue };
        if n.starts_with('.') || crate::bundle::pack::is_always_skipped_dir(n) {
            continue;
        }
        let Ok(ft) = e.file_type() else { continue };
        let here = rel.join(n);
        if ft.is_file() {
            out.push(here);
        } else if ft.is_dir() && depth + 1 < CANDIDATE_DEPTH {
            walk(root, &here, depth + 1, out);
        }
    }
}

fn has_ext(name: &str, exts: &[&str]) -> bool {
    let lower = name.to_ascii_lowercase();
    exts.iter().any(|e| lower.rsplit_once('.').is_some_and(|(_, x)| x == *e))
}

/// Checks that `entry` can be the entry point of `app_mode` in the bundle at `root`.
fn check_entry(root: &Path, app_mode: &AppMode, entry: &str) -> Result<(), String> {
    let choices = || {
        let c = candidates(root, app_mode);
        if c.is_empty() {
            format!("the bundle holds nothing that fits (it needs {})", describe(app_mode))
        } else {
            format!("choose one of {}", c.iter().take(20).map(String::as_str).collect::<Vec<_>>().join(", "))
        }
    };
    match entry_kind(app_mode) {
        EntryKind::File(exts) => {
            let rel = contained(entry).map_err(|e| e.to_string())?;
            if !has_ext(entry, exts) {
                return Err(format!(
                    "entry point {entry:?} does not fit appmode {app_mode}, which needs {}; {}",
                    describe(app_mode),
                    choices()
                ));
            }
            if !root.join(&rel).is_file() {
                return Err(format!("entry point {entry:?} is not in the bundle; {}", choices()));
            }
            // The page is served at the item's root URL, where links relative to a page in a
            // folder would break.
            if app_mode == &AppMode::Static && rel.components().count() > 1 {
                return Err(format!(
                    "entry point {entry:?} is in a folder, and a static site's first page must be at its top (deploy that folder instead); {}",
                    choices()
                ));
            }
            Ok(())
        }
        EntryKind::PyModule => {
            let ep = PyEntryPoint::parse(entry).map_err(|_| {
                format!(
                    "entry point {entry:?} does not fit appmode {app_mode}, which needs {}; {}",
                    describe(app_mode),
                    choices()
                )
            })?;
            if ep.is_shiny_express() && app_mode == &AppMode::PythonShiny {
                return Ok(()); // resolved (and checked) by the launcher
            }
            if ep.module_file(root).is_none() {
                return Err(format!(
                    "entry point {entry:?} names module {}, which is not in the bundle; {}",
                    ep.module,
                    choices()
                ));
            }
            Ok(())
        }
    }
}

/// The entry point `app_mode` gets when only the appmode was chosen: the bundle's own if
/// it fits, else the conventional candidate (`index.html`, `app`, ...), else the first.
/// `None` where the appmode needs none (a Quarto project).
fn default_entry(root: &Path, app_mode: &AppMode, current: Option<&str>) -> Result<Option<String>, String> {
    if let Some(cur) = current.filter(|c| check_entry(root, app_mode, c).is_ok()) {
        return Ok(Some(cur.to_string()));
    }
    let found = candidates(root, app_mode);
    const PREFERRED: &[&str] = &[
        "index.html",
        "app",
        "app.py",
        "application",
        "main",
        "main.py",
        "api",
        "streamlit_app.py",
        "app.R",
        "plumber.R",
    ];
    if let Some(p) = PREFERRED.iter().find(|p| found.iter().any(|f| f == *p)) {
        return Ok(Some(p.to_string()));
    }
    if let Some(first) = found.first() {
        return Ok(Some(first.clone()));
    }
    if app_mode == &AppMode::QuartoStatic && (root.join("_quarto.yml").is_file() || root.join("_quarto.yaml").is_file())
    {
        return Ok(None);
    }
    Err(format!("appmode {app_mode} needs {}, and the bundle has none", describe(app_mode)))
}

/// Applies `o` to `manifest` for the bundle extracted at `root`, checking the result.
/// Returns the manifest unchanged when nothing is overridden.
pub fn apply(manifest: Manifest, root: &Path, o: &Overrides) -> Result<Manifest, BundleError> {
    if o.is_empty() {
        return Ok(manifest);
    }
    o.check()?;
    let bad = |reason: String| BundleError::BadOverride { reason };
    let mode = o.app_mode().map(AppMode::parse).unwrap_or_else(|| manifest.app_mode.clone());
    if o.app_mode().is_none() && !runnable_app_modes().contains(&mode.as_str()) {
        return Err(bad(format!(
            "the bundle's appmode {mode:?} cannot be run by Porch, so its entry point cannot be chosen"
        )));
    }
    // Static content names its page in primary_html (rsconnect writes it to both fields).
    let current = if manifest.app_mode == AppMode::Static {
        manifest.entrypoint.as_deref().or(manifest.primary_html.as_deref())
    } else {
        manifest.entrypoint.as_deref()
    };
    let entry = match o.entry() {
        Some(e) => {
            check_entry(root, &mode, e).map_err(bad)?;
            Some(e.to_string())
        }
        None => default_entry(root, &mode, current).map_err(bad)?,
    };
    let mut raw = manifest.raw.clone();
    if !raw["metadata"].is_object() {
        raw["metadata"] = json!({});
    }
    let meta = raw["metadata"].as_object_mut().expect("metadata was just made an object");
    meta.insert("appmode".into(), json!(mode.as_str()));
    match &entry {
        Some(e) => meta.insert("entrypoint".into(), json!(e)),
        None => meta.remove("entrypoint"),
    };
    let primary_html = if mode == AppMode::Static { entry.clone() } else { None };
    match &primary_html {
        Some(p) => meta.insert("primary_html".into(), json!(p)),
        None => meta.remove("primary_html"),
    };
    if !raw["porch"].is_object() {
        raw["porch"] = json!({});
    }
    raw["porch"]["override"] = json!({ "appmode": o.app_mode(), "entrypoint": o.entry() });
    Ok(Manifest { app_mode: mode, entrypoint: entry, primary_html, content_category: manifest.content_category, raw })
}

/// The override a stored manifest records (what [`apply`] wrote), if any.
pub fn recorded(raw: &Value) -> Overrides {
    let text = |k: &str| raw.pointer(&format!("/porch/override/{k}")).and_then(Value::as_str).map(str::to_string);
    Overrides { appmode: text("appmode"), entrypoint: text("entrypoint") }
}

/// Writes `manifest` as the bundle's `manifest.json`.
pub fn write(root: &Path, manifest: &Manifest) -> Result<(), BundleError> {
    let path = root.join("manifest.json");
    let text = serde_json::to_vec_pretty(&manifest.raw).expect("a JSON value serialises");
    // An earlier link named manifest.json must not be written through.
    if path.symlink_metadata().is_ok() {
        fs::remove_file(&path).map_err(BundleError::io("replacing manifest.json", &path))?;
    }
    fs::write(&path, text).map_err(BundleError::io("writing manifest.json", &path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(files: &[&str]) -> tempfile::TempDir {
        let d = tempfile::tempdir().expect("tempdir");
        for f in files {
            let p = d.path().join(f);
            fs::create_dir_all(p.parent().expect("parent")).expect("mkdir");
            fs::write(p, "x").expect("write");
        }
        d
    }

    fn o(mode: Option<&str>, entry: Option<&str>) -> Overrides {
        Overrides { appmode: mode.map(str::to_string), entrypoint: entry.map(str::to_string) }
    }

    #[test]
    fn runnable_modes_come_from_the_table() {
        let modes = runnable_app_modes();
        for m in ["static", "jupyter-static", "quarto-static", "rmd-static", "python-dash", "shiny", "api"] {
            assert!(modes.contains(&m), "{m}");
        }
        for m in ["nodejs", "quarto-shiny", "tensorflow-saved-model"] {
            assert!(!modes.contains(&m), "{m}");
        }
    }

    #[test]
    fn candidates_fit_the_mode() {
        let d = dir(&[
            "index.html",
            "about.html",
            "report.ipynb",
            "app.py",
            "pkg/main.py",
            "pkg/__init__.py",
            ".hidden.html",
            "docs/page.html",
        ]);
        assert_eq!(candidates(d.path(), &AppMode::Static), vec!["about.html", "index.html"], "top-level pages only");
        assert_eq!(candidates(d.path(), &AppMode::JupyterStatic), vec!["report.ipynb"]);
        assert_eq!(candidates(d.path(), &AppMode::PythonDash), vec!["app", "pkg.main"]);
        assert_eq!(candidates(d.path(), &AppMode::PythonStreamlit), vec!["app.py", "pkg/__init__.py", "pkg/main.py"]);
    }

    #[test]
    fn entry_override_changes_the_manifest() {
        let d = dir(&["index.html", "other.html"]);
        let m = Manifest::inferred(&AppMode::Static, None, Some("index.html"));
        let m = apply(m, d.path(), &o(None, Some("other.html"))).expect("fits");
        assert_eq!((m.primary_html.as_deref(), m.entrypoint.as_deref()), (Some("other.html"), Some("other.html")));
        assert_eq!(m.raw["metadata"]["primary_html"], "other.html");
        assert_eq!(recorded(&m.raw), o(None, Some("other.html")));
        // What is written parses back to the same choice.
        write(d.path(), &m).expect("write");
        let back = Manifest::parse(&fs::read(d.path().join("manifest.json")).expect("read")).expect("parse");
        assert_eq!(back.primary_html.as_deref(), Some("other.html"));
    }

    #[test]
    fn mode_override_picks_a_fitting_entry() {
        let d = dir(&["index.html", "report.ipynb"]);
        let m = Manifest::inferred(&AppMode::JupyterStatic, Some("report.ipynb"), None);
        let m = apply(m, d.path(), &o(Some("static"), None)).expect("fits");
        assert_eq!((m.app_mode.as_str(), m.primary_html.as_deref()), ("static", Some("index.html")));
        let back = apply(m, d.path(), &o(Some("jupyter-static"), None)).expect("fits");
        assert_eq!((back.entrypoint.as_deref(), back.primary_html.as_deref()), (Some("report.ipynb"), None));
    }

    #[test]
    fn bad_choices_name_the_problem_and_the_choices() {
        let d = dir(&["index.html", "other.html", "app.py", "docs/page.html"]);
        let m = || Manifest::inferred(&AppMode::Static, None, Some("index.html"));
        let cases = [
            (o(Some("cobol"), None), vec!["\"cobol\"", "static", "python-dash"]),
            (o(Some("nodejs"), None), vec!["\"nodejs\"", "choose one of"]),
            (o(None, Some("missing.html")), vec!["\"missing.html\" is not in the bundle", "index.html, other.html"]),
            (o(None, Some("app.py")), vec!["does not fit appmode static", ".html"]),
            (o(None, Some("../etc/passwd.html")), vec!["inside the bundle"]),
            (o(None, Some("docs/page.html")), vec!["in a folder", "index.html, other.html"]),
            (o(Some("jupyter-static"), None), vec!["needs a .ipynb file"]),
            (o(Some("python-dash"), Some("nothere:app")), vec!["module nothere", "choose one of app"]),
            (o(Some("python-dash"), Some("not a module")), vec!["does not fit", "Python module"]),
        ];
        for (ov, wants) in cases {
            let err = apply(m(), d.path(), &ov).expect_err("refused").to_string();
            for w in wants {
                assert!(err.contains(w), "{ov:?}: {err} should mention {w}");
            }
        }
    }
}
