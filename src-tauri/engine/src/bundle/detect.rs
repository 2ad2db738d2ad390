//! Infers appmode and entry point from the files, as `rsconnect write-manifest` would.
//!
//! Order matters: a declared manifest wins; then Python apps (by the framework they
//! import), R apps, documents to render, and last plain HTML.

use std::fs;
use std::path::{Path, PathBuf};

use super::{BundleError, Manifest};
use crate::vocab::AppMode;

/// What Porch can detect, for error messages.
pub const SUPPORTED: &str = "manifest.json; Python apps importing streamlit, dash, fastapi, flask, shiny, gradio, \
bokeh or panel; Jupyter notebooks (.ipynb); Quarto (.qmd, _quarto.yml); R Markdown (.Rmd); R Shiny (app.R, \
server.R); Plumber (plumber.R); HTML sites (index.html or any .html)";

/// Reads `manifest.json` at the bundle root, or infers one from the files.
pub fn manifest_for(root: &Path) -> Result<Manifest, BundleError> {
    let path = root.join("manifest.json");
    match fs::read(&path) {
        Ok(bytes) => Manifest::parse(&bytes),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => infer(root),
        Err(e) => Err(BundleError::io("reading manifest.json", path)(e)),
    }
}

/// Python frameworks, in the order a file is checked against them.
const PY_FRAMEWORKS: &[(&str, AppMode)] = &[
    ("streamlit", AppMode::PythonStreamlit),
    ("dash", AppMode::PythonDash),
    ("shiny", AppMode::PythonShiny),
    ("gradio", AppMode::PythonGradio),
    ("panel", AppMode::PythonPanel),
    ("bokeh", AppMode::PythonBokeh),
    ("fastapi", AppMode::PythonFastapi),
    ("flask", AppMode::PythonApi),
];

/// Module names rsconnect prefers as the entry point, in order.
const PY_ENTRY_ORDER: &[&str] = &["app", "application", "main", "api", "streamlit_app", "dashboard"];

/// Infers a manifest from the files in `root`.
pub fn infer(root: &Path) -> Result<Manifest, BundleError> {
    let files = list_top(root)?;
    let names: Vec<&str> = files.iter().filter_map(|p| p.to_str()).collect();
    let with_ext = |ext: &str| -> Vec<&str> {
        let mut v: Vec<&str> = names.iter().copied().filter(|n| n.to_ascii_lowercase().ends_with(ext)).collect();
        v.sort();
        v
    };

    // Python apps: look at what each .py file imports, preferring conventional names.
    let mut py = with_ext(".py");
    py.sort_by_key(|n| {
        let stem = n.trim_end_matches(".py");
        PY_ENTRY_ORDER.iter().position(|p| *p == stem).unwrap_or(PY_ENTRY_ORDER.len())
    });
    for file in &py {
        let src = fs::read_to_string(root.join(file)).unwrap_or_default();
        if let Some(mode) = python_framework(&src) {
            let stem = file.trim_end_matches(".py");
            // Streamlit, Bokeh and Panel run a script; the others name a module.
            let entry = match mode {
                AppMode::PythonStreamlit | AppMode::PythonBokeh | AppMode::PythonPanel => file.to_string(),
                _ => stem.to_string(),
            };
            return Ok(Manifest::inferred(&mode, Some(&entry), None));
        }
    }

    // R apps.
    let has = |n: &str| names.iter().any(|f| f.eq_ignore_ascii_case(n));
    if has("app.R") || has("server.R") {
        let e = if has("app.R") { "app.R" } else { "server.R" };
        return Ok(Manifest::inferred(&AppMode::Shiny, Some(e), None));
    }
    if has("plumber.R") || has("entrypoint.R") {
        let e = if has("plumber.R") { "plumber.R" } else { "entrypoint.R" };
        return Ok(Manifest::inferred(&AppMode::Api, Some(e), None));
    }

    // Documents rendered by Porch.
    if has("_quarto.yml") || has("_quarto.yaml") {
        return Ok(Manifest::inferred(&AppMode::QuartoStatic, None, None));
    }
    if let Some(q) = with_ext(".qmd").first() {
        return Ok(Manifest::inferred(&AppMode::QuartoStatic, Some(q), None));
    }
    if let Some(nb) = with_ext(".ipynb").first() {
        return Ok(Manifest::inferred(&AppMode::JupyterStatic, Some(nb), None));
    }
    if let Some(rmd) = with_ext(".rmd").first() {
        return Ok(Manifest::inferred(&AppMode::RmdStatic, Some(rmd), None));
    }

    // Plain HTML.
    if has("index.html") {
        return Ok(Manifest::inferred(&AppMode::Static, None, Some("index.html")));
    }
    let html = with_ext(".html");
    let htm = with_ext(".htm");
    if let Some(page) = html.first().or(htm.first()) {
        return Ok(Manifest::inferred(&AppMode::Static, None, Some(page)));
    }

    Err(BundleError::Unrecognised { found: summarise(root, &names), supported: SUPPORTED })
}

/// The appmode implied by a Python source's imports, if any.
pub fn python_framework(src: &str) -> Option<AppMode> {
    let imports: Vec<&str> = src
        .lines()
        .map(str::trim)
        .filter_map(|l| {
            l.strip_prefix("import ")
                .or_else(|| l.strip_prefix("from "))
                .map(|rest| rest.split(['.', ' ', ',']).next().unwrap_or(""))
        })
        .collect();
    PY_FRAMEWORKS.iter().find(|(module, _)| imports.contains(module)).map(|(_, mode)| mode.clone())
}

fn list_top(root: &Path) -> Result<Vec<PathBuf>, BundleError> {
    let mut out = Vec::new();
    for e in fs::read_dir(root).map_err(BundleError::io("listing the bundle", root))? {
        let e = e.map_err(BundleError::io("listing the bundle", root))?;
        if e.file_type().map(|t| t.is_file()).unwrap_or(false) {
            out.push(PathBuf::from(e.file_name()));
        }
    }
    Ok(out)
}

fn summarise(root: &Path, top: &[&str]) -> String {
    if top.is_empty() {
        let dirs = fs::read_dir(root).map(|r| r.count()).unwrap_or(0);
        return if dirs == 0 {
            "an empty bundle".into()
        } else {
            format!("no files at the top level ({dirs} folders)")
        };
    }
    let mut shown: Vec<&str> = top.iter().copied().take(8).collect();
    shown.sort();
    let more = top.len().saturating_sub(shown.len());
    if more > 0 {
        format!("{} and {more} more", shown.join(", "))
    } else {
        shown.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dir(files: &[(&str, &str)]) -> tempfile::TempDir {
        let d = tempfile::tempdir().expect("tempdir");
        for (n, c) in files {
            fs::write(d.path().join(n), c).expect("write");
        }
        d
    }

    fn mode(files: &[(&str, &str)]) -> (String, Option<String>) {
        let d = dir(files);
        let m = infer(d.path()).expect("recognised");
        (m.app_mode.to_string(), m.entrypoint)
    }

    #[test]
    fn python_frameworks() {
        assert_eq!(mode(&[("app.py", "import streamlit as st\n")]), ("python-streamlit".into(), Some("app.py".into())));
        assert_eq!(mode(&[("app.py", "from dash import Dash\n")]).0, "python-dash");
        assert_eq!(
            mode(&[("main.py", "from fastapi import FastAPI\n")]),
            ("python-fastapi".into(), Some("main".into()))
        );
        assert_eq!(mode(&[("app.py", "from flask import Flask\n")]).0, "python-api");
        assert_eq!(mode(&[("app.py", "from shiny import App\n")]).0, "python-shiny");
        assert_eq!(mode(&[("app.py", "import gradio as gr\n")]).0, "python-gradio");
        assert_eq!(mode(&[("app.py", "from bokeh.plotting import figure\n")]).0, "python-bokeh");
        assert_eq!(mode(&[("app.py", "import panel as pn\n")]).0, "python-panel");
    }

    #[test]
    fn prefers_conventional_module_names() {
        let (m, e) = mode(&[("zeta.py", "import flask\n"), ("app.py", "from fastapi import FastAPI\n")]);
        assert_eq!((m.as_str(), e.as_deref()), ("python-fastapi", Some("app")));
    }

    #[test]
    fn documents_and_r() {
        assert_eq!(mode(&[("report.ipynb", "{}")]).0, "jupyter-static");
        assert_eq!(mode(&[("doc.qmd", "")]).0, "quarto-static");
        assert_eq!(mode(&[("_quarto.yml", ""), ("index.qmd", "")]).0, "quarto-static");
        assert_eq!(mode(&[("report.Rmd", "")]).0, "rmd-static");
        assert_eq!(mode(&[("app.R", "")]).0, "shiny");
        assert_eq!(mode(&[("server.R", ""), ("ui.R", "")]).0, "shiny");
        assert_eq!(mode(&[("plumber.R", "")]).0, "api");
    }

    #[test]
    fn html_sites() {
        let d = dir(&[("index.html", ""), ("about.html", "")]);
        assert_eq!(infer(d.path()).expect("ok").primary_html.as_deref(), Some("index.html"));
        let d = dir(&[("report.html", "")]);
        let m = infer(d.path()).expect("ok");
        assert_eq!((m.app_mode.as_str(), m.primary_html.as_deref()), ("static", Some("report.html")));
    }

    #[test]
    fn unrecognised_lists_files_and_support() {
        let d = dir(&[("notes.txt", ""), ("data.csv", "")]);
        let err = infer(d.path()).expect_err("nothing to serve").to_string();
        assert!(err.contains("data.csv, notes.txt"), "{err}");
        assert!(err.contains("Supported:"), "{err}");
    }

    #[test]
    fn plain_python_without_framework_is_unrecognised() {
        let d = dir(&[("script.py", "print('hi')\n")]);
        assert!(infer(d.path()).is_err());
    }
}
