//! Entry points: what in the bundle a launcher runs, resolved as Connect resolves them.
//!
//! Owns parsing of Python entry points (`module`, `module:object`, `file.py`, `pkg/mod`),
//! Shiny Express detection and name escaping, and choosing a script or notebook when the
//! manifest names none. Looking up the *object* inside a module (`app`, `application`,
//! `create_app`, `make_app`) happens at run time in the Python shim, because only the
//! content's interpreter can import the module.
//!
//! SECURITY: entry points come from an uploaded manifest. Every path is relative, has no
//! `..`, does not start with `-` (it is passed as an argument to framework CLIs) and must
//! exist inside the bundle directory. Symlinks in bundles are the extractor's concern.
//!
//! Concurrency: pure functions plus small blocking reads of the bundle directory.

use std::fmt;
use std::path::{Component, Path, PathBuf};

use super::LaunchError;

/// The module Shiny Express apps are served from; its attributes are escaped file names.
pub const SHINY_EXPRESS_MODULE: &str = "shiny.express.app";

/// A Python entry point: a module and optionally a dotted object path inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PyEntryPoint {
    /// Dotted module name, e.g. `app` or `pkg.main`.
    pub module: String,
    /// Dotted attribute path, e.g. `app` or `app.server`; `None` means "try Connect's names".
    pub object: Option<String>,
}

impl PyEntryPoint {
    /// Parses `module`, `module:object`, `file.py[:object]` or `pkg/mod[:object]`.
    pub fn parse(text: &str) -> Result<PyEntryPoint, LaunchError> {
        let bad = |about| Err(LaunchError::InvalidEntrypoint { entrypoint: text.to_string(), about });
        let (module, object) = match text.split_once(':') {
            Some((m, o)) => (m, Some(o)),
            None => (text, None),
        };
        let module = module.strip_suffix(".py").unwrap_or(module).replace('/', ".");
        if module.is_empty() {
            return bad("the module name is empty");
        }
        if !is_dotted_identifier(&module) {
            return bad("the module must be a dotted Python name such as `app` or `pkg.main`");
        }
        let object = match object {
            None => None,
            Some("") => return bad("nothing follows ':'"),
            Some(o) if is_dotted_identifier(o) => Some(o.to_string()),
            Some(_) => return bad("the object must be a dotted Python name such as `app` or `app.server`"),
        };
        Ok(PyEntryPoint { module, object })
    }

    /// Whether this is a Shiny Express target (`shiny.express.app:<escaped file>`).
    pub fn is_shiny_express(&self) -> bool {
        self.module == SHINY_EXPRESS_MODULE
    }

    /// The module's source in the bundle: `<a/b>.py`, else `<a/b>/__init__.py`.
    pub fn module_file(&self, bundle_dir: &Path) -> Option<PathBuf> {
        let rel: PathBuf = self.module.split('.').collect();
        let file = bundle_dir.join(&rel).with_extension("py");
        if file.is_file() {
            return Some(file);
        }
        let package = bundle_dir.join(rel).join("__init__.py");
        package.is_file().then_some(package)
    }
}

impl fmt::Display for PyEntryPoint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.object {
            Some(o) => write!(f, "{}:{o}", self.module),
            None => f.write_str(&self.module),
        }
    }
}

/// Python identifiers joined by dots (Unicode letters allowed, as in Python 3).
fn is_dotted_identifier(text: &str) -> bool {
    text.split('.').all(|part| {
        let mut chars = part.chars();
        matches!(chars.next(), Some(c) if c == '_' || c.is_alphabetic())
            && chars.all(|c| c == '_' || c.is_alphanumeric())
    })
}

/// Escapes a file name the way Shiny Express names its apps: ASCII letters and digits stay
/// (except a leading digit), every other character becomes `_<hex code point>_`.
/// `app.py` → `app_2e_py`, `my_app.py` → `my_5f_app_2e_py`.
pub fn shiny_express_escape(file_name: &str) -> String {
    let mut out = String::with_capacity(file_name.len() + 8);
    for (i, c) in file_name.chars().enumerate() {
        if c.is_ascii_alphanumeric() && !(i == 0 && c.is_ascii_digit()) {
            out.push(c);
        } else {
            out.push_str(&format!("_{:x}_", u32::from(c)));
        }
    }
    out
}

/// Reverses [`shiny_express_escape`]; `None` when the text is not a valid escape.
pub fn shiny_express_unescape(name: &str) -> Option<String> {
    let mut out = String::with_capacity(name.len());
    let mut rest = name;
    while let Some(at) = rest.find('_') {
        out.push_str(&rest[..at]);
        let after = &rest[at + 1..];
        let end = after.find('_')?;
        let code = u32::from_str_radix(&after[..end], 16).ok()?;
        out.push(char::from_u32(code)?);
        rest = &after[end + 1..];
    }
    out.push_str(rest);
    Some(out)
}

/// Whether Python source uses Shiny Express (`from shiny.express import …`,
/// `import shiny.express`, `from shiny import express`). A line-based check of import
/// statements, which is what rsconnect's own detection looks for.
pub fn is_shiny_express_source(source: &str) -> bool {
    source.lines().map(str::trim_start).any(|line| {
        if line.starts_with("from shiny.express") || line.starts_with("import shiny.express") {
            return true;
        }
        line.strip_prefix("from shiny import ").is_some_and(|names| {
            names.split(|c: char| c == ',' || c == '(' || c == ')' || c.is_whitespace()).any(|n| n == "express")
        })
    })
}

/// Checks that a manifest path stays inside the bundle and returns it as a relative path.
pub(crate) fn contained(entrypoint: &str) -> Result<PathBuf, LaunchError> {
    let bad = |about| Err(LaunchError::InvalidEntrypoint { entrypoint: entrypoint.to_string(), about });
    if entrypoint.is_empty() {
        return bad("it is empty");
    }
    if entrypoint.starts_with('-') {
        return bad("it must not start with '-'");
    }
    if entrypoint.contains('\\') || entrypoint.contains('\0') {
        return bad("it must be a '/'-separated relative path");
    }
    let path = Path::new(entrypoint);
    for component in path.components() {
        match component {
            Component::Normal(_) | Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return bad("it must stay inside the bundle");
            }
        }
    }
    Ok(path.to_path_buf())
}

/// The non-hidden files directly in `dir` whose names end in `.<ext>`, sorted.
pub(crate) fn files_with_ext(dir: &Path, ext: &str) -> Result<Vec<String>, LaunchError> {
    let unreadable = |source| LaunchError::BundleUnreadable { path: dir.to_path_buf(), source };
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).map_err(unreadable)? {
        let entry = entry.map_err(unreadable)?;
        let name = entry.file_name();
        let Some(name) = name.to_str() else { continue };
        let is_file = entry.file_type().map(|t| t.is_file()).unwrap_or(false);
        if is_file && !name.starts_with('.') && Path::new(name).extension().is_some_and(|e| e == ext) {
            found.push(name.to_string());
        }
    }
    found.sort();
    Ok(found)
}

/// Picks the script a framework CLI runs (Streamlit, Bokeh, Panel).
///
/// - With a manifest entry point: that file; `name` or `name:object` also finds `name.<ext>`.
/// - Without: the first of `defaults` present, else the only file with one of `exts`.
///
/// Returns the path relative to the bundle.
pub(crate) fn script(
    app_mode: &str,
    bundle_dir: &Path,
    entrypoint: Option<&str>,
    exts: &[&str],
    defaults: &[&str],
) -> Result<PathBuf, LaunchError> {
    if let Some(ep) = entrypoint {
        let rel = contained(ep)?;
        if bundle_dir.join(&rel).is_file() {
            return Ok(rel);
        }
        // `app` or `app:app` (as rsconnect writes for some modes) → `app.py`.
        let stem = ep.split_once(':').map_or(ep, |(m, _)| m);
        let stem_rel = contained(stem)?;
        for ext in exts {
            let candidate = stem_rel.with_extension(ext);
            if bundle_dir.join(&candidate).is_file() {
                return Ok(candidate);
            }
        }
        return Err(LaunchError::EntrypointMissing {
            app_mode: app_mode.to_string(),
            entrypoint: ep.to_string(),
            path: bundle_dir.join(rel),
        });
    }
    for name in defaults {
        if bundle_dir.join(name).is_file() {
            return Ok(PathBuf::from(name));
        }
    }
    let mut all = Vec::new();
    for ext in exts {
        all.extend(files_with_ext(bundle_dir, ext)?);
    }
    match all.as_slice() {
        [only] => Ok(PathBuf::from(only)),
        [] => {
            Err(LaunchError::NoEntrypoint { app_mode: app_mode.to_string(), about: "the bundle has no script to run" })
        }
        _ => Err(LaunchError::NoEntrypoint {
            app_mode: app_mode.to_string(),
            about: "several scripts and no manifest entrypoint; set metadata.entrypoint",
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_connect_entry_points() {
        let cases = [
            ("app", "app", None),
            ("app:app", "app", Some("app")),
            ("main:create_app", "main", Some("create_app")),
            ("app.py", "app", None),
            ("pkg/main.py:api", "pkg.main", Some("api")),
            ("pkg.main:app.server", "pkg.main", Some("app.server")),
            ("shiny.express.app:app_2e_py", "shiny.express.app", Some("app_2e_py")),
            ("données:app", "données", Some("app")),
        ];
        for (text, module, object) in cases {
            let ep = PyEntryPoint::parse(text).expect(text);
            assert_eq!(ep.module, module, "{text}");
            assert_eq!(ep.object.as_deref(), object, "{text}");
        }
        assert_eq!(PyEntryPoint::parse("pkg/main.py:api").expect("valid").to_string(), "pkg.main:api");
        assert!(PyEntryPoint::parse("shiny.express.app:x").expect("valid").is_shiny_express());
    }

    #[test]
    fn refuses_malformed_entry_points() {
        for text in ["", ":app", "app:", "app:a:b", "1app", "my-app", "app:obj()", "../app", "app; rm -rf /", "-m"] {
            let err = PyEntryPoint::parse(text).expect_err(text);
            assert!(matches!(err, LaunchError::InvalidEntrypoint { .. }), "{text}: {err}");
        }
    }

    #[test]
    fn escapes_like_shiny_express() {
        assert_eq!(shiny_express_escape("app.py"), "app_2e_py");
        assert_eq!(shiny_express_escape("express_app.py"), "express_5f_app_2e_py");
        assert_eq!(shiny_express_escape("1st.py"), "_31_st_2e_py");
        assert_eq!(shiny_express_escape("sub/app.py"), "sub_2f_app_2e_py");
        for name in ["app.py", "express_app.py", "1st.py", "sub/app.py", "é t.py"] {
            assert_eq!(shiny_express_unescape(&shiny_express_escape(name)).as_deref(), Some(name));
        }
        assert_eq!(shiny_express_unescape("app_zz_py"), None);
        assert_eq!(shiny_express_unescape("app_2e"), None);
    }

    #[test]
    fn detects_shiny_express_imports() {
        assert!(is_shiny_express_source("from shiny.express import input, render, ui\n"));
        assert!(is_shiny_express_source("import shiny.express\n"));
        assert!(is_shiny_express_source("from shiny import express, reactive\n"));
        assert!(is_shiny_express_source("from shiny import (reactive, express)\n"));
        assert!(!is_shiny_express_source("from shiny import App, ui, render\napp = App(ui.page_fluid(), None)\n"));
        assert!(!is_shiny_express_source("# from shiny.express import ui\nfrom shiny import expressions\n"));
    }

    #[test]
    fn keeps_paths_inside_the_bundle() {
        for ok in ["app.py", "./app.py", "pages/one.py", "notebook with space.ipynb"] {
            contained(ok).expect(ok);
        }
        for bad in ["", "../x.py", "a/../../x.py", "/etc/passwd", "-h", "a\\b.py"] {
            assert!(matches!(contained(bad), Err(LaunchError::InvalidEntrypoint { .. })), "{bad}");
        }
    }
}
