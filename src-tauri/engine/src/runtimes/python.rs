//! Python launchers: WSGI, ASGI, Dash, Shiny, Gradio through the embedded shim, and
//! Streamlit, Bokeh, Panel and Voilà through their own servers.
//!
//! Every command runs from the content's venv (`<bin>/python`, `<bin>/streamlit`, …) and
//! listens on `127.0.0.1:<port>`. How each framework learns the base path, and whether the
//! proxy strips it, follows `research/launch-recipes.md` §1 and §3:
//!
//! | appmode | server | prefix | told the base path by | readiness |
//! |---|---|---|---|---|
//! | python-api | shim → waitress | strip | `url_prefix` (SCRIPT_NAME) | `/`, any status |
//! | python-dash | shim → waitress | strip | `DASH_REQUESTS_PATHNAME_PREFIX` | `/_dash-layout` |
//! | python-fastapi | shim → uvicorn | strip | ASGI `root_path` | `/`, any status |
//! | python-shiny | shim → uvicorn | strip | ASGI `root_path` | `/` |
//! | python-gradio | shim → uvicorn | strip | ASGI `root_path` | `/config` |
//! | python-streamlit | streamlit run | pass-through | `--server.baseUrlPath` | `<P>/_stcore/health` |
//! | python-bokeh | bokeh serve | pass-through | `--prefix` | `<P>/<app>/metadata` |
//! | python-panel | panel serve | pass-through | `--prefix` | `<P>/liveness` |
//! | jupyter-voila | voila | pass-through | `--Voila.base_url=<P>/` | `<P>/voila/static/voila.js` |
//!
//! Pure: reads the bundle directory only to check and choose entry points.

use crate::vocab::AppMode;
use std::path::{Path, PathBuf};

use super::entrypoint::{self, PyEntryPoint};
use super::{base_env, set_var, LaunchContext, LaunchError, LaunchSpec, PrefixMode, Readiness};

/// The shim's source, run as `python -c`. Kept as a real `.py` file so it can be read,
/// linted and tried by hand.
pub(super) const SHIM_SOURCE: &str = include_str!("porch_launch.py");

/// The address every app binds. SECURITY: loopback only; the LAN reaches apps through the proxy.
const LOOPBACK: &str = "127.0.0.1";

/// Python modes that the shim serves, and how.
enum ShimKind {
    Wsgi { dash: bool },
    Asgi,
    Gradio,
}

/// Builds the spec for a Python appmode (the caller has checked the mode, path and port).
pub(super) fn launch(ctx: &LaunchContext<'_>) -> Result<LaunchSpec, LaunchError> {
    let python = ctx.python.ok_or_else(|| LaunchError::PythonMissing { app_mode: ctx.app_mode.to_string() })?;
    let bin = python
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .ok_or_else(|| LaunchError::BadInterpreter { path: python.to_path_buf() })?;
    let mut env = base_env(ctx);
    python_env(&mut env, bin);
    let prefix = ctx.base_path;
    match ctx.app_mode {
        AppMode::PythonApi => {
            let ep = wsgi_asgi_entrypoint(ctx)?;
            shim(ctx, python, env, ShimKind::Wsgi { dash: false }, &ep, readiness_any("/"))
        }
        AppMode::PythonDash => {
            let ep = wsgi_asgi_entrypoint(ctx)?;
            // Set before the app module is imported; Dash reads them in its constructor.
            set_var(&mut env, "DASH_REQUESTS_PATHNAME_PREFIX", format!("{prefix}/"));
            set_var(&mut env, "DASH_ROUTES_PATHNAME_PREFIX", "/");
            shim(ctx, python, env, ShimKind::Wsgi { dash: true }, &ep, readiness_ok("/_dash-layout"))
        }
        AppMode::PythonFastapi => {
            let ep = wsgi_asgi_entrypoint(ctx)?;
            shim(ctx, python, env, ShimKind::Asgi, &ep, readiness_any("/"))
        }
        AppMode::PythonShiny => {
            let ep = shiny_entrypoint(ctx)?;
            shim(ctx, python, env, ShimKind::Asgi, &ep, readiness_ok("/"))
        }
        AppMode::PythonGradio => {
            let ep = wsgi_asgi_entrypoint(ctx)?;
            set_var(&mut env, "GRADIO_ANALYTICS_ENABLED", "False");
            shim(ctx, python, env, ShimKind::Gradio, &ep, readiness_ok("/config"))
        }
        AppMode::PythonStreamlit => {
            let script = script(ctx, &["py"], &["app.py", "streamlit_app.py", "main.py"])?;
            let mut args = vec!["run".to_string(), path_arg(&script)];
            for (flag, value) in [
                ("--server.port", ctx.port.to_string()),
                ("--server.address", LOOPBACK.to_string()),
                ("--server.headless", "true".to_string()),
                ("--browser.gatherUsageStats", "false".to_string()),
                // Bundles never change in place; watching them only costs inotify watches.
                ("--server.fileWatcherType", "none".to_string()),
            ] {
                args.push(format!("{flag}={value}"));
            }
            if !prefix.is_empty() {
                args.push(format!("--server.baseUrlPath={prefix}"));
            }
            let readiness = readiness_ok(&format!("{prefix}/_stcore/health"));
            Ok(spec(ctx, bin.join(exe("streamlit")), args, env, PrefixMode::PassThrough, readiness))
        }
        AppMode::PythonBokeh | AppMode::PythonPanel => {
            let panel = ctx.app_mode == &AppMode::PythonPanel;
            let exts: &[&str] = if panel { &["py", "ipynb"] } else { &["py"] };
            let script = script(ctx, exts, &["app.py", "main.py"])?;
            let mut args = vec![
                "serve".to_string(),
                path_arg(&script),
                format!("--port={}", ctx.port),
                format!("--address={LOOPBACK}"),
                "--use-xheaders".to_string(),
            ];
            if !prefix.is_empty() {
                args.push(format!("--prefix={prefix}"));
            }
            // Tornado < 6.6, or a proxy that rewrites Host, refuses WebSockets from any
            // origin not listed here.
            if !ctx.external_host.is_empty() {
                args.push(format!("--allow-websocket-origin={}", ctx.external_host));
            }
            let readiness = if panel {
                args.push("--liveness".to_string());
                format!("{prefix}/liveness")
            } else {
                // The app's route is its file stem; `metadata` answers without creating a session.
                let stem = script.file_stem().map(|s| s.to_string_lossy().into_owned()).unwrap_or_default();
                format!("{prefix}/{stem}/metadata")
            };
            let tool = if panel { "panel" } else { "bokeh" };
            Ok(spec(ctx, bin.join(exe(tool)), args, env, PrefixMode::PassThrough, readiness_ok(&readiness)))
        }
        AppMode::JupyterVoila => {
            let target = voila_target(ctx)?;
            let args = vec![
                target,
                "--no-browser".to_string(),
                format!("--port={}", ctx.port),
                format!("--Voila.ip={LOOPBACK}"),
                // Without this Voilà silently moves to another port when ours is taken.
                "--Voila.port_retries=0".to_string(),
                // Must end with '/', or asset URLs glue the prefix to the path.
                format!("--Voila.base_url={prefix}/"),
            ];
            // Never `/`: each GET there starts a kernel and runs the notebook.
            let readiness = readiness_ok(&format!("{prefix}/voila/static/voila.js"));
            Ok(spec(ctx, bin.join(exe("voila")), args, env, PrefixMode::PassThrough, readiness))
        }
        other => Err(LaunchError::NotLaunchable { app_mode: other.to_string() }),
    }
}

/// Variables every Python process gets: the venv first on `PATH` (so user code that runs
/// `python` or a kernel finds the venv's), and unbuffered output for live logs.
fn python_env(env: &mut Vec<(String, String)>, bin: &Path) {
    let venv = bin.parent().unwrap_or(bin);
    // The child inherits Porch's environment; its PATH is ours unless the caller passed one.
    // This is the one place a launcher looks at the process environment, and only to
    // extend a value the child would inherit anyway.
    let inherited = env
        .iter()
        .find(|(k, _)| k == "PATH")
        .map(|(_, v)| v.clone())
        .or_else(|| std::env::var("PATH").ok())
        .unwrap_or_default();
    let sep = if cfg!(windows) { ';' } else { ':' };
    let path =
        if inherited.is_empty() { bin.display().to_string() } else { format!("{}{sep}{inherited}", bin.display()) };
    set_var(env, "PATH", path);
    set_var(env, "VIRTUAL_ENV", venv.display().to_string());
    set_var(env, "PYTHONUNBUFFERED", "1");
}

/// A console script's file name in a venv's bin directory.
fn exe(name: &str) -> String {
    if cfg!(windows) {
        format!("{name}.exe")
    } else {
        name.to_string()
    }
}

fn readiness_ok(path: &str) -> Readiness {
    Readiness { path: if path.is_empty() { "/".into() } else { path.into() }, any_status: false }
}

fn readiness_any(path: &str) -> Readiness {
    Readiness { path: path.into(), any_status: true }
}

fn spec(
    ctx: &LaunchContext<'_>,
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
    prefix: PrefixMode,
    readiness: Readiness,
) -> LaunchSpec {
    LaunchSpec {
        program,
        args,
        env,
        cwd: ctx.bundle_dir.to_path_buf(),
        port: ctx.port,
        prefix,
        readiness,
        files: Vec::new(),
    }
}

/// `python -c <shim> <kind> --entrypoint … --port … --prefix=…`, stripped by the proxy.
fn shim(
    ctx: &LaunchContext<'_>,
    python: &Path,
    env: Vec<(String, String)>,
    kind: ShimKind,
    ep: &PyEntryPoint,
    readiness: Readiness,
) -> Result<LaunchSpec, LaunchError> {
    let (kind_arg, dash) = match kind {
        ShimKind::Wsgi { dash } => ("wsgi", dash),
        ShimKind::Asgi => ("asgi", false),
        ShimKind::Gradio => ("gradio", false),
    };
    let mut args = vec![
        "-c".to_string(),
        SHIM_SOURCE.to_string(),
        kind_arg.to_string(),
        format!("--entrypoint={ep}"),
        format!("--app-dir={}", ctx.bundle_dir.display()),
        format!("--host={LOOPBACK}"),
        format!("--port={}", ctx.port),
        format!("--prefix={}", ctx.base_path),
    ];
    if dash {
        args.push("--dash".to_string());
    }
    Ok(spec(ctx, python.to_path_buf(), args, env, PrefixMode::Strip, readiness))
}

/// The manifest's entry point, or rsconnect's default `app`, checked against the bundle.
fn wsgi_asgi_entrypoint(ctx: &LaunchContext<'_>) -> Result<PyEntryPoint, LaunchError> {
    let text = ctx.manifest.entrypoint.as_deref().unwrap_or("app");
    let ep = PyEntryPoint::parse(text)?;
    if ep.is_shiny_express() {
        return Err(LaunchError::InvalidEntrypoint {
            entrypoint: text.to_string(),
            about: "a Shiny Express entry point needs appmode python-shiny",
        });
    }
    require_module(ctx, text, &ep)?;
    Ok(ep)
}

fn require_module(ctx: &LaunchContext<'_>, text: &str, ep: &PyEntryPoint) -> Result<PathBuf, LaunchError> {
    ep.module_file(ctx.bundle_dir).ok_or_else(|| LaunchError::EntrypointMissing {
        app_mode: ctx.app_mode.to_string(),
        entrypoint: text.to_string(),
        path: ctx.bundle_dir.join(ep.module.replace('.', "/")).with_extension("py"),
    })
}

/// Shiny's entry point: an Express target as given, or a module that turns out to be an
/// Express script (older manifests say just `app`), rewritten to
/// `shiny.express.app:<escaped file>`; otherwise a core app object.
fn shiny_entrypoint(ctx: &LaunchContext<'_>) -> Result<PyEntryPoint, LaunchError> {
    let text = ctx.manifest.entrypoint.as_deref().unwrap_or("app");
    let ep = PyEntryPoint::parse(text)?;
    if ep.is_shiny_express() {
        let object = ep.object.as_deref().unwrap_or_default();
        let file = entrypoint::shiny_express_unescape(object).ok_or_else(|| LaunchError::InvalidEntrypoint {
            entrypoint: text.to_string(),
            about: "the Shiny Express name is not a valid escaped file name",
        })?;
        let rel = entrypoint::contained(&file)?;
        if !ctx.bundle_dir.join(&rel).is_file() {
            return Err(LaunchError::EntrypointMissing {
                app_mode: ctx.app_mode.to_string(),
                entrypoint: text.to_string(),
                path: ctx.bundle_dir.join(rel),
            });
        }
        return Ok(ep);
    }
    let file = require_module(ctx, text, &ep)?;
    if ep.object.is_none() {
        let source = std::fs::read_to_string(&file)
            .map_err(|source| LaunchError::BundleUnreadable { path: file.clone(), source })?;
        if entrypoint::is_shiny_express_source(&source) {
            // Shiny resolves the escaped name relative to the working directory (the bundle).
            let rel = file.strip_prefix(ctx.bundle_dir).unwrap_or(&file);
            let rel = rel.to_string_lossy().replace('\\', "/");
            return Ok(PyEntryPoint {
                module: entrypoint::SHINY_EXPRESS_MODULE.to_string(),
                object: Some(entrypoint::shiny_express_escape(&rel)),
            });
        }
    }
    Ok(ep)
}

fn script(ctx: &LaunchContext<'_>, exts: &[&str], defaults: &[&str]) -> Result<PathBuf, LaunchError> {
    entrypoint::script(ctx.app_mode.as_str(), ctx.bundle_dir, ctx.manifest.entrypoint.as_deref(), exts, defaults)
}

/// The notebook Voilà serves: the manifest's, else the only one; with several and none
/// named, the bundle directory (Voilà then lists them, as Connect does with an empty entry point).
fn voila_target(ctx: &LaunchContext<'_>) -> Result<String, LaunchError> {
    if let Some(ep) = ctx.manifest.entrypoint.as_deref() {
        let rel = entrypoint::contained(ep)?;
        if !ctx.bundle_dir.join(&rel).is_file() {
            return Err(LaunchError::EntrypointMissing {
                app_mode: ctx.app_mode.to_string(),
                entrypoint: ep.to_string(),
                path: ctx.bundle_dir.join(rel),
            });
        }
        return Ok(path_arg(&rel));
    }
    let notebooks = entrypoint::files_with_ext(ctx.bundle_dir, "ipynb")?;
    match notebooks.as_slice() {
        [only] => Ok(only.clone()),
        [] => Err(LaunchError::NoEntrypoint {
            app_mode: ctx.app_mode.to_string(),
            about: "the bundle has no .ipynb notebook",
        }),
        _ => Ok(".".to_string()),
    }
}

/// A bundle-relative path as an argument (always `/`-separated, never starting with `-`).
fn path_arg(rel: &Path) -> String {
    rel.to_string_lossy().into_owned()
}
