//! Launchers: turn a bundle into a [`LaunchSpec`] for every interactive appmode.
//!
//! Owns: the per-appmode command lines, environment, prefix mode and readiness probe that
//! make each framework work behind Porch's `/content/<guid>/` proxy (the recipes verified in
//! `research/launch-recipes.md` and `research/r-and-renders.md`), Connect-style entry-point
//! resolution, and the embedded Python shim (`porch_launch.py`) that serves WSGI, ASGI and
//! Gradio apps.
//!
//! Does not own: processes, ports or files. A launcher never spawns, binds or writes: the
//! supervisor allocates the port, builds the venv, spawns [`LaunchSpec::program`] in its own
//! process group, polls [`LaunchSpec::readiness`], and the proxy applies [`LaunchSpec::prefix`]
//! and sets the [`APP_BASE_URL_HEADER`] header. The only I/O here is reading the bundle
//! directory (entry-point existence, Shiny Express detection).
//!
//! Concurrency: pure functions over borrowed inputs; safe to call from any task. They do a
//! little blocking file-system work (a `read_dir` and a small file read), so async callers
//! with many bundles may prefer `spawn_blocking`.
//!
//! Submodules: [`entrypoint`] (parsing and resolving entry points), `python` and `r` (the
//! launchers), `env` (Connect's environment and header helpers).

pub mod entrypoint;
mod env;
pub mod overrides;
mod python;
mod r;

use crate::vocab::AppMode;
use std::path::{Path, PathBuf};

use crate::bundle::manifest::{Manifest, APP_MODES};

pub use env::{app_base_url, connect_env, APP_BASE_URL_HEADER};
pub use overrides::Overrides;

/// Everything a launcher needs to describe one instance of one content item.
#[derive(Debug, Clone, Copy)]
pub struct LaunchContext<'a> {
    /// The appmode to launch (normally `manifest.app_mode`).
    pub app_mode: &'a AppMode,
    /// The bundle's manifest.
    pub manifest: &'a Manifest,
    /// The extracted bundle; the child's working directory.
    pub bundle_dir: &'a Path,
    /// The venv's interpreter (`<venv>/bin/python`) for Python modes; its parent is the bin dir.
    /// Not canonicalised: a venv's python is a symlink to the base interpreter.
    pub python: Option<&'a Path>,
    /// `Rscript` for R modes.
    pub rscript: Option<&'a Path>,
    /// The external mount path without a trailing slash, e.g. `/content/<guid>`; `""` for the root.
    pub base_path: &'a str,
    /// The `host:port` browsers use, for frameworks that check WebSocket origins.
    pub external_host: &'a str,
    /// The private loopback port the app must listen on (never 0: several frameworks cannot
    /// report the port they picked).
    pub port: u16,
    /// Connect's variables plus the publisher's (see [`connect_env`]); launcher variables win
    /// over these on a clash.
    pub env: &'a [(String, String)],
}

/// What the proxy forwards as the request path.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PrefixMode {
    /// Remove the base path: the app sees `/…` and learns the prefix some other way.
    Strip,
    /// Forward the full path: the app serves under `<base_path>/…` itself.
    PassThrough,
}

/// How the supervisor knows an instance is ready.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Readiness {
    /// The path to GET on `127.0.0.1:<port>`; for pass-through modes it already includes the
    /// base path. Chosen to be cheap and side-effect free (never Voilà's `/`, which runs the
    /// notebook).
    pub path: String,
    /// Whether any HTTP answer counts as ready (user-defined APIs may 404 on `/`); otherwise
    /// only a 2xx does.
    pub any_status: bool,
}

/// A complete, spawnable description of one app instance. Nothing here has been run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LaunchSpec {
    /// The executable (an absolute path from the context, e.g. the venv's python).
    pub program: PathBuf,
    /// Arguments, passed without a shell. WSGI/ASGI/Gradio modes run the embedded shim as
    /// `python -c <source> …`; use [`LaunchSpec::command_line`] for logs.
    pub args: Vec<String>,
    /// Variables to set on top of the inherited environment, one entry per name.
    pub env: Vec<(String, String)>,
    /// The working directory: the bundle directory.
    pub cwd: PathBuf,
    /// The loopback port the app will listen on.
    pub port: u16,
    /// What the proxy forwards as the path.
    pub prefix: PrefixMode,
    /// The readiness probe.
    pub readiness: Readiness,
    /// Files the supervisor must write before spawning (absolute path, contents). Empty for
    /// every current launcher: the shim travels inside `args` via `python -c`, so launching
    /// needs no scratch directory and leaves nothing behind.
    pub files: Vec<(PathBuf, String)>,
}

impl LaunchSpec {
    /// The command as one line for logs and the UI, with the embedded shim source shown as
    /// `<porch_launch.py>` instead of several kilobytes of Python.
    pub fn command_line(&self) -> String {
        let mut line = self.program.display().to_string();
        for arg in &self.args {
            line.push(' ');
            if arg.as_str() == python::SHIM_SOURCE {
                line.push_str("<porch_launch.py>");
            } else if arg.is_empty() || arg.contains(|c: char| c.is_whitespace() || c == '\'' || c == '"') {
                line.push_str(&format!("{arg:?}"));
            } else {
                line.push_str(arg);
            }
        }
        line
    }
}

/// Why a bundle cannot be turned into a launch description.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LaunchError {
    /// Not an appmode Connect defines.
    #[error("unknown appmode {app_mode:?}")]
    UnknownAppMode {
        /// The appmode given.
        app_mode: String,
    },
    /// A real appmode that Porch does not run as a process (static, rendered, or not supported).
    #[error("appmode {app_mode:?} is not launched as an interactive app")]
    NotLaunchable {
        /// The appmode given.
        app_mode: String,
    },
    /// A Python mode without a Python environment.
    #[error("appmode {app_mode:?} needs a Python environment, and none was given")]
    PythonMissing {
        /// The appmode given.
        app_mode: String,
    },
    /// An R mode on a machine without R.
    #[error("appmode {app_mode:?} needs R, and Rscript was not found")]
    RMissing {
        /// The appmode given.
        app_mode: String,
    },
    /// The interpreter path has no directory to take the venv from.
    #[error("{path:?} is not inside a virtual environment's bin directory")]
    BadInterpreter {
        /// The path given.
        path: PathBuf,
    },
    /// The entry point names a file the bundle does not contain.
    #[error("entry point {entrypoint:?} for {app_mode} not found in the bundle (looked for {path:?})")]
    EntrypointMissing {
        /// The appmode given.
        app_mode: String,
        /// The entry point as written or defaulted.
        entrypoint: String,
        /// The file that should exist.
        path: PathBuf,
    },
    /// No entry point was given and none could be chosen.
    #[error("cannot choose an entry point for {app_mode}: {about}")]
    NoEntrypoint {
        /// The appmode given.
        app_mode: String,
        /// What was looked for.
        about: &'static str,
    },
    /// The entry point is malformed or points outside the bundle.
    #[error("invalid entry point {entrypoint:?}: {about}")]
    InvalidEntrypoint {
        /// The entry point as written.
        entrypoint: String,
        /// What is wrong with it.
        about: &'static str,
    },
    /// The base path is not `""` or `/…` without a trailing slash.
    #[error("invalid base path {base_path:?}: {about}")]
    InvalidBasePath {
        /// The base path given.
        base_path: String,
        /// What is wrong with it.
        about: &'static str,
    },
    /// Port 0 or otherwise unusable.
    #[error("port {port} cannot be used: Porch must allocate a real loopback port")]
    InvalidPort {
        /// The port given.
        port: u16,
    },
    /// The bundle directory could not be read while looking for an entry point.
    #[error("cannot read the bundle directory {path:?}")]
    BundleUnreadable {
        /// The directory or file.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

/// Describes how to launch the content in `ctx`. Never spawns, binds or writes.
pub fn launch_spec(ctx: &LaunchContext<'_>) -> Result<LaunchSpec, LaunchError> {
    if !APP_MODES.contains(&ctx.app_mode.as_str()) {
        return Err(LaunchError::UnknownAppMode { app_mode: ctx.app_mode.to_string() });
    }
    if !is_interactive(ctx.app_mode) {
        return Err(LaunchError::NotLaunchable { app_mode: ctx.app_mode.to_string() });
    }
    check_base_path(ctx.base_path)?;
    if ctx.port == 0 {
        return Err(LaunchError::InvalidPort { port: ctx.port });
    }
    if needs_r(ctx.app_mode) {
        r::launch(ctx)
    } else {
        python::launch(ctx)
    }
}

/// Whether [`launch_spec`] runs this appmode as a long-lived process. False for static and
/// rendered content, and for interactive appmodes Porch does not run yet (`quarto-shiny`,
/// `nodejs`, `tensorflow-saved-model`).
pub fn is_interactive(app_mode: &AppMode) -> bool {
    use AppMode::*;
    matches!(
        app_mode,
        PythonApi
            | PythonFastapi
            | PythonDash
            | PythonStreamlit
            | PythonBokeh
            | PythonPanel
            | PythonShiny
            | PythonGradio
            | JupyterVoila
            | Shiny
            | RmdShiny
            | Api
    )
}

/// Packages a notebook render needs on top of the notebook's own requirements (part of the
/// environment's hash, so the lockfile reads the same environment).
pub const NOTEBOOK_EXTRAS: &[&str] = &["nbconvert", "ipykernel"];

/// Whether content of this appmode runs in a Python environment (launched or rendered).
pub fn needs_python(app_mode: &AppMode) -> bool {
    app_mode.as_str().starts_with("python-") && app_mode.is_known()
        || matches!(app_mode, AppMode::JupyterVoila | AppMode::JupyterStatic)
}

/// Whether content of this appmode runs under R (launched or rendered).
pub fn needs_r(app_mode: &AppMode) -> bool {
    matches!(app_mode, AppMode::Shiny | AppMode::RmdShiny | AppMode::RmdStatic | AppMode::Api)
}

/// Packages the launcher itself imports, to install on top of the app's requirements. Empty
/// when the framework's own command serves the app.
pub fn python_extras(app_mode: &AppMode) -> &'static [&'static str] {
    match app_mode {
        // The shim serves WSGI apps with waitress: cross-platform, handles the prefix in
        // both proxy modes and applies every forwarded header.
        AppMode::PythonApi | AppMode::PythonDash => &["waitress"],
        // The shim serves ASGI apps with uvicorn (Shiny depends on it already); without a
        // WebSocket library uvicorn answers every upgrade with 404.
        AppMode::PythonFastapi | AppMode::PythonShiny => &["uvicorn", "websockets"],
        // The shim mounts the Blocks on a FastAPI app under uvicorn (Gradio depends on both).
        AppMode::PythonGradio => &["uvicorn", "fastapi", "websockets"],
        // Voilà runs the notebook in a kernel from the same venv.
        AppMode::JupyterVoila => &["ipykernel"],
        _ => &[],
    }
}

/// R packages the launch command calls. Empty for non-R modes.
pub fn r_packages(app_mode: &AppMode) -> &'static [&'static str] {
    match app_mode {
        AppMode::Shiny => &["shiny"],
        AppMode::RmdShiny => &["rmarkdown", "shiny"],
        AppMode::RmdStatic => &["rmarkdown"],
        AppMode::Api => &["plumber"],
        _ => &[],
    }
}

/// Accepts `""` (mounted at the root) or `/seg/…` without a trailing slash.
fn check_base_path(base_path: &str) -> Result<(), LaunchError> {
    let bad = |about| Err(LaunchError::InvalidBasePath { base_path: base_path.to_string(), about });
    if base_path.is_empty() {
        return Ok(());
    }
    if !base_path.starts_with('/') {
        return bad("must start with '/'");
    }
    if base_path.ends_with('/') {
        return bad("must not end with '/'");
    }
    if base_path.contains(|c: char| c.is_whitespace() || c.is_control() || matches!(c, '?' | '#' | '%' | '\\')) {
        return bad("must be a plain path (no spaces, '?', '#', '%' or '\\')");
    }
    Ok(())
}

/// Sets `name` in `env`, replacing an earlier value so that each name appears once.
fn set_var(env: &mut Vec<(String, String)>, name: &str, value: impl Into<String>) {
    let value = value.into();
    match env.iter_mut().find(|(k, _)| k == name) {
        Some(slot) => slot.1 = value,
        None => env.push((name.to_string(), value)),
    }
}

/// The caller's variables, deduplicated (a later entry wins), as the start of a spec's env.
fn base_env(ctx: &LaunchContext<'_>) -> Vec<(String, String)> {
    let mut env = Vec::with_capacity(ctx.env.len() + 8);
    for (k, v) in ctx.env {
        set_var(&mut env, k, v.clone());
    }
    set_var(&mut env, "PORT", ctx.port.to_string());
    env
}

#[cfg(test)]
mod tests;
