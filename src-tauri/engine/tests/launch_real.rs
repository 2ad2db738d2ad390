//! Real launches: for each Python appmode, build (or reuse) a venv with uv, write a tiny
//! app, turn it into a `LaunchSpec`, spawn exactly that, wait for its readiness probe and
//! check that a request through the path the proxy would forward answers 200 with the
//! app's own output.
//!
//! Venvs are cached under `/tmp/porch-launch-venvs/<mode>` (a `.porch-ok` file records
//! the package list they were built with). Without uv, python3 or R each test records a skip
//! (`tests/common/skip.rs`: a line in `PORCH_SKIP_LOG`, a failure under `CI=true`); with
//! `CI=true` and uv present, any failure to build a venv fails the test outright.
//!
//! Concurrency: one launch at a time (a process-wide lock), so startup timings are not
//! skewed by a neighbour and two tests never build the same venv. Each child runs in its own
//! process group, killed with `kill -s KILL -- -<pgid>` by a guard, even on panic.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use porch_engine::bundle::Manifest;
use porch_engine::runtimes::{
    connect_env, launch_spec, needs_r, python_extras, r_packages, LaunchContext, LaunchSpec, PrefixMode,
};
use porch_engine::AppMode;

const GUID: &str = "7c1e4a2b-5d6f-4a8b-9c0d-1e2f3a4b5c6d";
const VENV_ROOT: &str = "/tmp/porch-launch-venvs";
const READY_TIMEOUT: Duration = Duration::from_secs(90);

static SERIAL: Mutex<()> = Mutex::new(());

/// One app to launch and what to ask it.
struct Case {
    mode: &'static str,
    /// The framework packages; the launcher's `python_extras` are added.
    packages: &'static [&'static str],
    files: &'static [(&'static str, &'static str)],
    entrypoint: Option<&'static str>,
    /// (path under the app root, text the body must contain); `{BASE}` is replaced by the
    /// base path, `{BASE_JSON}` by the same with `/` escaped as `\u002f`.
    checks: &'static [(&'static str, &'static str)],
    /// Ports nothing may listen on once the app is ready (e.g. a hard-coded `launch()` port).
    unbound: &'static [u16],
}

fn base_path() -> String {
    format!("/content/{GUID}")
}

#[path = "../../../tests/common/skip.rs"]
mod skip;
use skip::in_ci;

/// Records the running test (libtest names each test's thread after it) as skipped.
fn skip(case: &Case, why: &str) {
    let test = std::thread::current().name().map(str::to_string).unwrap_or_else(|| case.mode.to_string());
    skip::skip(&test, &format!("{}: {why}", case.mode));
}

/// The uv command: `uv`, or `python3 -m uv` when uv was installed with pip only.
fn uv_command() -> Option<Vec<String>> {
    let works = |cmd: &[&str]| {
        let mut probe = Command::new(cmd[0]);
        probe.args(&cmd[1..]).arg("--version").stdout(Stdio::null()).stderr(Stdio::null());
        probe.status().is_ok_and(|s| s.success())
    };
    if works(&["uv"]) {
        return Some(vec!["uv".into()]);
    }
    if works(&["python3", "-m", "uv"]) {
        return Some(vec!["python3".into(), "-m".into(), "uv".into()]);
    }
    None
}

fn run(cmd: &[String], extra: &[&str]) -> Result<(), String> {
    let out = Command::new(&cmd[0]).args(&cmd[1..]).args(extra).output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?} {extra:?} failed: {}", String::from_utf8_lossy(&out.stderr)))
    }
}

/// Builds `<root>/<mode>` with the packages unless a finished copy with the same list exists.
fn ensure_venv(uv: &[String], mode: &str, packages: &[&str]) -> Result<PathBuf, String> {
    let dir = Path::new(VENV_ROOT).join(mode);
    let marker = dir.join(".porch-ok");
    let want = packages.join(" ");
    if std::fs::read_to_string(&marker).is_ok_and(|have| have.trim() == want) {
        return Ok(dir.join("bin/python"));
    }
    let started = Instant::now();
    if dir.exists() {
        std::fs::remove_dir_all(&dir).map_err(|e| format!("remove {dir:?}: {e}"))?;
    }
    std::fs::create_dir_all(VENV_ROOT).map_err(|e| e.to_string())?;
    let dir_s = dir.display().to_string();
    run(uv, &["venv", "-q", &dir_s])?;
    let python = dir.join("bin/python");
    let python_s = python.display().to_string();
    let mut args = vec!["pip", "install", "-q", "--python", &python_s];
    args.extend_from_slice(packages);
    run(uv, &args)?;
    std::fs::write(&marker, &want).map_err(|e| e.to_string())?;
    println!("venv {mode}: built in {:.1}s ({want})", started.elapsed().as_secs_f64());
    Ok(python)
}

/// Kills the child's whole process group when dropped.
struct Group {
    child: Child,
}

impl Group {
    fn kill(&mut self) {
        // `--` matters: procps kill otherwise reads `-<pgid>` as a signal option.
        let pgid = format!("-{}", self.child.id());
        let _ = Command::new("kill").args(["-s", "KILL", "--", &pgid]).stderr(Stdio::null()).status();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Group {
    fn drop(&mut self) {
        self.kill();
    }
}

fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind a free port");
    listener.local_addr().expect("local addr").port()
}

/// A minimal HTTP/1.1 GET: (status, body). Enough for probes; no external client needed.
///
/// The request goes out in ONE write. `write!` on the stream would make a syscall per
/// formatted piece, and under load those can reach the server as separate reads; R's
/// httpuv keeps only the last fragment of a request target split that way (its `on_url`
/// assigns instead of appending), so `GET /` then ` HTTP/1.1...` reads as an empty path
/// and Shiny and Plumber answer 404. Porch's proxy writes each request head in one piece.
fn get(port: u16, path: &str, timeout: Duration) -> std::io::Result<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nAccept: */*\r\n\
         RStudio-Connect-App-Base-URL: http://127.0.0.1:{port}{}/\r\nConnection: close\r\n\r\n",
        base_path()
    );
    stream.write_all(request.as_bytes())?;
    let mut raw = Vec::new();
    stream.read_to_end(&mut raw)?;
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").ok_or_else(|| std::io::Error::other("no header end"))?;
    let head = String::from_utf8_lossy(&raw[..split]).to_string();
    let status = head
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| std::io::Error::other(format!("bad status line: {head}")))?;
    let mut body = raw[split + 4..].to_vec();
    if head.to_ascii_lowercase().contains("transfer-encoding: chunked") {
        body = dechunk(&body);
    }
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

fn dechunk(mut data: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(eol) = data.windows(2).position(|w| w == b"\r\n") {
        let size_text = String::from_utf8_lossy(&data[..eol]);
        let Ok(size) = usize::from_str_radix(size_text.split(';').next().unwrap_or("").trim(), 16) else { break };
        if size == 0 || data.len() < eol + 2 + size {
            break;
        }
        out.extend_from_slice(&data[eol + 2..eol + 2 + size]);
        data = &data[(eol + 4 + size).min(data.len())..];
    }
    out
}

fn tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(40)..].join("\n")
}

/// The interpreter a case runs under, or `None` (after recording a skip) when it is missing.
enum Interpreter {
    Python(PathBuf),
    R(PathBuf),
}

fn interpreter(case: &Case) -> Option<Interpreter> {
    if needs_r(&AppMode::parse(case.mode)) {
        let ok = Command::new("Rscript").arg("--version").stderr(Stdio::null()).status().is_ok_and(|s| s.success());
        if !ok {
            skip(case, "Rscript is not installed");
            return None;
        }
        let load: Vec<String> =
            r_packages(&AppMode::parse(case.mode)).iter().map(|p| format!("library({p})")).collect();
        let loaded = Command::new("Rscript").arg("-e").arg(load.join(";")).output().is_ok_and(|o| o.status.success());
        if !loaded {
            skip(case, &format!("R packages {:?} are not installed", r_packages(&AppMode::parse(case.mode))));
            return None;
        }
        return Some(Interpreter::R(PathBuf::from("Rscript")));
    }
    let Some(uv) = uv_command() else {
        skip(case, "uv is not installed (python3 -m pip install uv)");
        return None;
    };
    let mut packages: Vec<&str> = case.packages.to_vec();
    packages.extend_from_slice(python_extras(&AppMode::parse(case.mode)));
    match ensure_venv(&uv, case.mode, &packages) {
        Ok(python) => Some(Interpreter::Python(python)),
        Err(e) if in_ci() => panic!("{}: cannot build the venv: {e}", case.mode),
        Err(e) => {
            skip(case, &format!("cannot build the venv: {e}"));
            None
        }
    }
}

/// A spawned instance: the spec it came from, its bundle and its output.
struct Running {
    group: Group,
    spec: LaunchSpec,
    log_path: PathBuf,
    started: Instant,
    _bundle: tempfile::TempDir,
}

/// Writes the bundle, computes the spec and spawns exactly what it says.
fn start(case: &Case, interpreter: &Interpreter) -> Running {
    let bundle = tempfile::tempdir().expect("bundle dir");
    for (name, body) in case.files {
        std::fs::write(bundle.path().join(name), body).expect("write app file");
    }
    let base = base_path();
    let port = free_port();
    let external_host = format!("127.0.0.1:{port}");
    let manifest = Manifest::inferred(&AppMode::parse(case.mode), case.entrypoint, None);
    let env =
        connect_env("http://127.0.0.1:3939", GUID, None, &[("PORCH_PUBLISHER_VAR".into(), "from-publisher".into())]);
    let (python, rscript) = match interpreter {
        Interpreter::Python(p) => (Some(p.as_path()), None),
        Interpreter::R(r) => (None, Some(r.as_path())),
    };
    let spec = launch_spec(&LaunchContext {
        app_mode: &AppMode::parse(case.mode),
        manifest: &manifest,
        bundle_dir: bundle.path(),
        python,
        rscript,
        base_path: &base,
        external_host: &external_host,
        port,
        env: &env,
    })
    .expect("launch spec");
    for (path, contents) in &spec.files {
        std::fs::write(path, contents).expect("write support file");
    }
    println!("{}: {}", case.mode, spec.command_line());

    let log_path = bundle.path().join(".porch-test.log");
    let log = std::fs::File::create(&log_path).expect("log file");
    let started = Instant::now();
    let child = Command::new(&spec.program)
        .args(&spec.args)
        .envs(spec.env.iter().map(|(k, v)| (k, v)))
        .current_dir(&spec.cwd)
        .stdin(Stdio::null())
        .stdout(log.try_clone().expect("dup log"))
        .stderr(log)
        .process_group(0)
        .spawn()
        .expect("spawn");
    Running { group: Group { child }, spec, log_path, started, _bundle: bundle }
}

fn launch(case: &Case) {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(interpreter) = interpreter(case) else { return };
    let mut run = start(case, &interpreter);
    let (spec, log_path, started, port) = (run.spec.clone(), run.log_path.clone(), run.started, run.spec.port);
    let base = base_path();

    // Readiness, polled every 100 ms as the supervisor will.
    loop {
        if let Ok(Some(status)) = run.group.child.try_wait() {
            panic!("{}: exited before ready ({status}):\n{}", case.mode, tail(&log_path));
        }
        if let Ok((code, _)) = get(port, &spec.readiness.path, Duration::from_secs(5)) {
            if spec.readiness.any_status || (200..300).contains(&code) {
                break;
            }
        }
        if started.elapsed() > READY_TIMEOUT {
            panic!("{}: not ready after {READY_TIMEOUT:?} at {}:\n{}", case.mode, spec.readiness.path, tail(&log_path));
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let ready = started.elapsed();
    println!("TIMING {}: ready in {:.2}s (probe {})", case.mode, ready.as_secs_f64(), spec.readiness.path);

    for (suffix, want) in case.checks {
        // What the proxy forwards: the full path for pass-through, the rest for strip.
        let path = match spec.prefix {
            PrefixMode::PassThrough => format!("{base}{suffix}"),
            PrefixMode::Strip => suffix.to_string(),
        };
        let (code, body) =
            get(port, &path, Duration::from_secs(60)).unwrap_or_else(|e| panic!("{}: GET {path}: {e}", case.mode));
        let want = want.replace("{BASE_JSON}", &base.replace('/', "\\u002f")).replace("{BASE}", &base);
        assert_eq!(code, 200, "{}: GET {path} → {code}\n{body:.2000}\n--- log ---\n{}", case.mode, tail(&log_path));
        assert!(body.contains(&want), "{}: GET {path} lacks {want:?}:\n{body:.3000}", case.mode);
        println!("{}: GET {path} → 200, contains {want:?}", case.mode);
    }
    for port in case.unbound {
        assert!(TcpStream::connect(("127.0.0.1", *port)).is_err(), "{}: something listens on {port}", case.mode);
    }
    let stop = Instant::now();
    run.group.kill();
    println!("{}: killed in {:.2}s", case.mode, stop.elapsed().as_secs_f64());
}

/// Starts a case that must fail before listening, and checks its exit and last words.
fn launch_fails(case: &Case, status_code: i32, message: &str) {
    let _serial = SERIAL.lock().unwrap_or_else(|p| p.into_inner());
    let Some(interpreter) = interpreter(case) else { return };
    let mut run = start(case, &interpreter);
    let deadline = Instant::now() + READY_TIMEOUT;
    let status = loop {
        if let Ok(Some(status)) = run.group.child.try_wait() {
            break status;
        }
        assert!(Instant::now() < deadline, "{}: still running; expected it to fail", case.mode);
        std::thread::sleep(Duration::from_millis(50));
    };
    let log = std::fs::read_to_string(&run.log_path).unwrap_or_default();
    assert_eq!(status.code(), Some(status_code), "{}: {status}\n{log}", case.mode);
    assert!(log.contains(message), "{}: log lacks {message:?}:\n{log}", case.mode);
    println!("{}: failed as expected in {:.2}s: {}", case.mode, run.started.elapsed().as_secs_f64(), log.trim());
}

#[test]
fn fastapi_serves_under_root_path() {
    launch(&Case {
        mode: "python-fastapi",
        packages: &["fastapi"],
        files: &[(
            "app.py",
            "import os\nfrom fastapi import FastAPI, Request\napp = FastAPI()\n\n@app.get('/hello')\ndef hello(request: Request):\n    return {'root': request.scope.get('root_path'), 'guid': os.environ['CONNECT_CONTENT_GUID'], 'var': os.environ['PORCH_PUBLISHER_VAR'], 'server': os.environ['CONNECT_SERVER']}\n",
        )],
        entrypoint: None,
        checks: &[
            ("/hello", "\"root\":\"{BASE}\""),
            ("/hello", GUID),
            ("/hello", "\"var\":\"from-publisher\""),
            ("/hello", "\"server\":\"http://127.0.0.1:3939/\""),
            ("/docs", "{BASE}/openapi.json"),
        ],
        unbound: &[],
    });
}

#[test]
fn flask_factory_serves_with_script_name() {
    // Only `create_app` exists: the shim's fallback chain must find and call it.
    launch(&Case {
        mode: "python-api",
        packages: &["flask"],
        files: &[(
            "app.py",
            "import os\nfrom flask import Flask, request, url_for\n\ndef create_app():\n    app = Flask(__name__)\n\n    @app.route('/hello')\n    def hello():\n        return f\"FLASK-OK root={request.script_root} link={url_for('hello')} product={os.environ['POSIT_PRODUCT']}\"\n    return app\n",
        )],
        entrypoint: None,
        checks: &[("/hello", "FLASK-OK root={BASE} link={BASE}/hello product=CONNECT")],
        unbound: &[],
    });
}

#[test]
fn dash_serves_with_prefixed_assets() {
    launch(&Case {
        mode: "python-dash",
        packages: &["dash"],
        files: &[("app.py", "from dash import Dash, html\napp = Dash(__name__)\napp.layout = html.Div('DASH-OK')\n")],
        entrypoint: None,
        checks: &[
            // Dash's config JSON escapes '/' as \u002f.
            ("/", "\"requests_pathname_prefix\":\"{BASE_JSON}\\u002f\""),
            ("/", "{BASE}/_dash-component-suites/"),
            ("/_dash-layout", "DASH-OK"),
        ],
        unbound: &[],
    });
}

#[test]
fn streamlit_serves_under_base_url_path() {
    launch(&Case {
        mode: "python-streamlit",
        packages: &["streamlit"],
        files: &[("dashboard.py", "import streamlit as st\nst.title('STREAMLIT-OK')\n")],
        entrypoint: Some("dashboard.py"),
        checks: &[("/", "<div id=\"root\">"), ("/_stcore/health", "ok")],
        unbound: &[],
    });
}

#[test]
fn shiny_express_is_served_by_uvicorn() {
    launch(&Case {
        mode: "python-shiny",
        packages: &["shiny"],
        files: &[("app.py", "from shiny.express import ui\n\nui.h1('SHINY-EXPRESS-OK')\n")],
        entrypoint: None,
        checks: &[("/", "SHINY-EXPRESS-OK")],
        unbound: &[],
    });
}

#[test]
fn shiny_core_is_served_by_uvicorn() {
    launch(&Case {
        mode: "python-shiny",
        packages: &["shiny"],
        files: &[("app.py", "from shiny import App, ui\napp = App(ui.page_fluid(ui.h1('SHINY-CORE-OK')), None)\n")],
        entrypoint: Some("app:app"),
        checks: &[("/", "SHINY-CORE-OK")],
        unbound: &[],
    });
}

#[test]
fn bokeh_serves_under_prefix() {
    launch(&Case {
        mode: "python-bokeh",
        packages: &["bokeh"],
        files: &[(
            "app.py",
            "from bokeh.io import curdoc\nfrom bokeh.models import Div\ncurdoc().add_root(Div(text='BOKEH-OK'))\n",
        )],
        entrypoint: None,
        checks: &[("/app", "{BASE}/static/")],
        unbound: &[],
    });
}

#[test]
fn panel_serves_under_prefix() {
    launch(&Case {
        mode: "python-panel",
        packages: &["panel"],
        files: &[("app.py", "import panel as pn\npn.panel('PANEL-OK').servable()\n")],
        entrypoint: None,
        checks: &[("/app", "<html"), ("/liveness", "true")],
        unbound: &[],
    });
}

#[test]
fn gradio_blocks_are_mounted_and_launch_is_neutralised() {
    // A module-level launch() on a fixed port must not bind: the shim serves the Blocks.
    launch(&Case {
        mode: "python-gradio",
        packages: &["gradio"],
        files: &[(
            "app.py",
            "import gradio as gr\n\ndef greet(name):\n    return 'Hello ' + name\n\ndemo = gr.Interface(fn=greet, inputs='text', outputs='text', title='GRADIO-OK')\ndemo.launch(server_port=7861)\n",
        )],
        entrypoint: None,
        checks: &[("/config", "GRADIO-OK"), ("/config", "{BASE}"), ("/", "<gradio-app")],
        unbound: &[7861],
    });
}

#[test]
fn voila_renders_the_notebook_under_base_url() {
    launch(&Case {
        mode: "jupyter-voila",
        packages: &["voila", "ipywidgets"],
        files: &[(
            "dash.ipynb",
            r#"{"cells":[{"cell_type":"code","execution_count":null,"metadata":{},"outputs":[],"source":["print('VOILA' + '-OK')"]}],"metadata":{"kernelspec":{"display_name":"Python 3","language":"python","name":"python3"},"language_info":{"name":"python"}},"nbformat":4,"nbformat_minor":5}"#,
        )],
        entrypoint: None,
        checks: &[("/", "VOILA-OK")],
        unbound: &[],
    });
}

#[test]
fn wsgi_plain_application_callable_is_not_called_as_a_factory() {
    // `application(environ, start_response)` has required parameters: it is the app itself.
    launch(&Case {
        mode: "python-api",
        packages: &["flask"],
        files: &[(
            "app.py",
            "def application(environ, start_response):\n    start_response('200 OK', [('Content-Type', 'text/plain')])\n    return [('WSGI-OK script=' + environ['SCRIPT_NAME'] + ' path=' + environ['PATH_INFO']).encode()]\n",
        )],
        entrypoint: None,
        checks: &[("/x/y", "WSGI-OK script={BASE} path=/x/y")],
        unbound: &[],
    });
}

#[test]
fn asgi_explicit_factory_is_called() {
    launch(&Case {
        mode: "python-fastapi",
        packages: &["fastapi"],
        files: &[(
            "main.py",
            "from fastapi import FastAPI\n\ndef make_app():\n    api = FastAPI()\n\n    @api.get('/ping')\n    def ping():\n        return 'FACTORY-OK'\n    return api\n",
        )],
        entrypoint: Some("main:make_app"),
        checks: &[("/ping", "FACTORY-OK")],
        unbound: &[],
    });
}

#[test]
fn shim_explains_a_module_without_an_app() {
    launch_fails(
        &Case {
            mode: "python-api",
            packages: &["flask"],
            files: &[("app.py", "VALUE = 1\n")],
            entrypoint: None,
            checks: &[],
            unbound: &[],
        },
        2,
        "porch_launch: error: module 'app' defines none of app, application, create_app, make_app",
    );
}

#[test]
fn shim_explains_a_missing_object() {
    launch_fails(
        &Case {
            mode: "python-fastapi",
            packages: &["fastapi"],
            files: &[("app.py", "from fastapi import FastAPI\napp = FastAPI()\n")],
            entrypoint: Some("app:nope"),
            checks: &[],
            unbound: &[],
        },
        2,
        "porch_launch: error: module 'app' has no attribute 'nope'",
    );
}

// R modes: these run only where R and the packages are installed (Debian: r-base-core
// r-cran-shiny r-cran-rmarkdown r-cran-plumber pandoc) and record a skip otherwise.

#[test]
fn r_shiny_app_serves_stripped() {
    launch(&Case {
        mode: "shiny",
        packages: &[],
        files: &[(
            "app.R",
            "library(shiny)\nui <- fluidPage(h1('R-SHINY-OK'), p(Sys.getenv('CONNECT_CONTENT_GUID')))\nshinyApp(ui, function(input, output, session) {})\n",
        )],
        entrypoint: None,
        checks: &[("/", "R-SHINY-OK"), ("/", GUID)],
        unbound: &[],
    });
}

#[test]
fn r_plumber_api_serves_stripped() {
    launch(&Case {
        mode: "api",
        packages: &[],
        files: &[(
            "plumber.R",
            "#* @get /echo\n#* @serializer unboxedJSON\nfunction(req) list(msg = 'PLUMBER-OK', base = req$HTTP_RSTUDIO_CONNECT_APP_BASE_URL)\n",
        )],
        entrypoint: None,
        checks: &[("/echo", "PLUMBER-OK"), ("/echo", "{BASE}/")],
        unbound: &[],
    });
}

#[test]
fn r_markdown_shiny_serves_its_loader() {
    launch(&Case {
        mode: "rmd-shiny",
        packages: &[],
        files: &[("doc.Rmd", "---\ntitle: RMD-SHINY-OK\nruntime: shiny\n---\n\n```{r}\nrenderText('hi')\n```\n")],
        entrypoint: None,
        checks: &[("/", "rmd_loader")],
        unbound: &[],
    });
}
