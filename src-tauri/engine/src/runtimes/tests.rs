//! Unit tests: one `LaunchSpec` per appmode (program, args, env, prefix, readiness), the
//! mode tables, and the errors. Bundles are temporary directories; nothing is spawned.

use std::path::{Path, PathBuf};

use super::*;
use crate::vocab::AppMode;

const BASE: &str = "/content/0b5e4d1c-1111-2222-3333-444455556666";
const HOST: &str = "porch.local:3939";
const PORT: u16 = 41234;

struct Fixture {
    dir: tempfile::TempDir,
    python: PathBuf,
    rscript: PathBuf,
    env: Vec<(String, String)>,
}

impl Fixture {
    fn new(files: &[(&str, &str)]) -> Fixture {
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, body) in files {
            let path = dir.path().join(name);
            if let Some(parent) = path.parent() {
                std::fs::create_dir_all(parent).expect("mkdir");
            }
            std::fs::write(path, body).expect("write");
        }
        Fixture {
            dir,
            python: PathBuf::from("/venvs/item/bin/python"),
            rscript: PathBuf::from("/usr/bin/Rscript"),
            env: connect_env("http://porch.local:3939", "0b5e4d1c", None, &[("GREETING".into(), "hi".into())]),
        }
    }

    fn spec(&self, app_mode: &str, entrypoint: Option<&str>) -> Result<LaunchSpec, LaunchError> {
        let app_mode = &AppMode::parse(app_mode);
        let manifest = Manifest::inferred(app_mode, entrypoint, None);
        self.spec_with(&manifest, app_mode.as_str(), BASE)
    }

    fn spec_with(&self, manifest: &Manifest, app_mode: &str, base_path: &str) -> Result<LaunchSpec, LaunchError> {
        let app_mode = &AppMode::parse(app_mode);
        launch_spec(&LaunchContext {
            app_mode,
            manifest,
            bundle_dir: self.dir.path(),
            python: Some(&self.python),
            rscript: Some(&self.rscript),
            base_path,
            external_host: HOST,
            port: PORT,
            env: &self.env,
        })
    }
}

fn env_of<'a>(spec: &'a LaunchSpec, name: &str) -> Option<&'a str> {
    spec.env.iter().find(|(k, _)| k == name).map(|(_, v)| v.as_str())
}

fn has_arg(spec: &LaunchSpec, arg: &str) -> bool {
    spec.args.iter().any(|a| a == arg)
}

/// Checks what every Python spec shares: venv on PATH, Connect's variables, one entry per name.
fn assert_python_basics(spec: &LaunchSpec, fx: &Fixture) {
    assert_eq!(spec.port, PORT);
    assert_eq!(spec.cwd, fx.dir.path());
    assert!(spec.files.is_empty());
    let path = env_of(spec, "PATH").expect("PATH");
    assert!(path.starts_with("/venvs/item/bin"), "{path}");
    assert_eq!(env_of(spec, "VIRTUAL_ENV"), Some("/venvs/item"));
    assert_eq!(env_of(spec, "PYTHONUNBUFFERED"), Some("1"));
    assert_eq!(env_of(spec, "PORT"), Some("41234"));
    assert_eq!(env_of(spec, "CONNECT_SERVER"), Some("http://porch.local:3939/"));
    assert_eq!(env_of(spec, "CONNECT_CONTENT_GUID"), Some("0b5e4d1c"));
    assert_eq!(env_of(spec, "POSIT_PRODUCT"), Some("CONNECT"));
    assert_eq!(env_of(spec, "RSTUDIO_PRODUCT"), Some("CONNECT"));
    assert_eq!(env_of(spec, "GREETING"), Some("hi"));
    let mut names: Vec<&str> = spec.env.iter().map(|(k, _)| k.as_str()).collect();
    names.sort_unstable();
    let len = names.len();
    names.dedup();
    assert_eq!(names.len(), len, "duplicate env names in {:?}", spec.env);
}

/// The shim's arguments after `-c <source>`.
fn shim_args(spec: &LaunchSpec) -> &[String] {
    assert_eq!(spec.args[0], "-c");
    assert!(spec.args[1].contains("def resolve("), "the shim source travels in args");
    &spec.args[2..]
}

#[test]
fn wsgi_api_uses_the_shim_with_waitress_and_strips() {
    let fx = Fixture::new(&[("app.py", "from flask import Flask\napp = Flask(__name__)\n")]);
    let spec = fx.spec("python-api", None).expect("spec");
    assert_python_basics(&spec, &fx);
    assert_eq!(spec.program, Path::new("/venvs/item/bin/python"));
    let args = shim_args(&spec);
    assert_eq!(args[0], "wsgi");
    assert!(args.contains(&"--entrypoint=app".to_string()));
    assert!(args.contains(&format!("--prefix={BASE}")));
    assert!(args.contains(&format!("--port={PORT}")));
    assert!(args.contains(&"--host=127.0.0.1".to_string()));
    assert!(!args.contains(&"--dash".to_string()));
    assert_eq!(spec.prefix, PrefixMode::Strip);
    assert_eq!(spec.readiness, Readiness { path: "/".into(), any_status: true });
    assert!(spec.command_line().contains("-c <porch_launch.py> wsgi"), "{}", spec.command_line());
    assert_eq!(python_extras(&AppMode::PythonApi), ["waitress"]);
}

#[test]
fn explicit_object_and_file_entry_points_pass_through_normalised() {
    let fx = Fixture::new(&[("pkg/server.py", "app = None\n"), ("main.py", "")]);
    let spec = fx.spec("python-api", Some("pkg/server.py:create_app")).expect("spec");
    assert!(has_arg(&spec, "--entrypoint=pkg.server:create_app"));
    let spec = fx.spec("python-fastapi", Some("main:api")).expect("spec");
    assert!(has_arg(&spec, "--entrypoint=main:api"));
}

#[test]
fn package_modules_count_as_present() {
    let fx = Fixture::new(&[("service/__init__.py", "app = None\n")]);
    fx.spec("python-fastapi", Some("service")).expect("a package is a module");
}

#[test]
fn fastapi_uses_the_asgi_shim_with_root_path() {
    let fx = Fixture::new(&[("app.py", "")]);
    let spec = fx.spec("python-fastapi", None).expect("spec");
    assert_python_basics(&spec, &fx);
    assert_eq!(shim_args(&spec)[0], "asgi");
    assert!(has_arg(&spec, &format!("--prefix={BASE}")));
    assert_eq!(spec.prefix, PrefixMode::Strip);
    assert_eq!(spec.readiness, Readiness { path: "/".into(), any_status: true });
    assert_eq!(python_extras(&AppMode::PythonFastapi), ["uvicorn", "websockets"]);
}

#[test]
fn dash_gets_its_prefix_variables_and_no_script_name() {
    let fx = Fixture::new(&[("app.py", "")]);
    let spec = fx.spec("python-dash", None).expect("spec");
    assert_python_basics(&spec, &fx);
    assert_eq!(shim_args(&spec)[0], "wsgi");
    assert!(has_arg(&spec, "--dash"));
    assert_eq!(env_of(&spec, "DASH_REQUESTS_PATHNAME_PREFIX"), Some(&*format!("{BASE}/")));
    assert_eq!(env_of(&spec, "DASH_ROUTES_PATHNAME_PREFIX"), Some("/"));
    assert_eq!(spec.prefix, PrefixMode::Strip);
    assert_eq!(spec.readiness, Readiness { path: "/_dash-layout".into(), any_status: false });
}

#[test]
fn launcher_variables_win_over_publisher_ones() {
    let mut fx = Fixture::new(&[("app.py", "")]);
    fx.env.push(("DASH_ROUTES_PATHNAME_PREFIX".into(), "/evil/".into()));
    fx.env.push(("PORT".into(), "1".into()));
    let spec = fx.spec("python-dash", None).expect("spec");
    assert_eq!(env_of(&spec, "DASH_ROUTES_PATHNAME_PREFIX"), Some("/"));
    assert_eq!(env_of(&spec, "PORT"), Some("41234"));
}

#[test]
fn caller_path_is_extended_not_replaced() {
    let mut fx = Fixture::new(&[("app.py", "")]);
    fx.env.push(("PATH".into(), "/opt/tools/bin".into()));
    let spec = fx.spec("python-api", None).expect("spec");
    assert_eq!(env_of(&spec, "PATH"), Some("/venvs/item/bin:/opt/tools/bin"));
}

#[test]
fn streamlit_runs_the_script_pass_through() {
    let fx = Fixture::new(&[("dashboard.py", "import streamlit as st\n")]);
    let spec = fx.spec("python-streamlit", Some("dashboard.py")).expect("spec");
    assert_python_basics(&spec, &fx);
    assert_eq!(spec.program, Path::new("/venvs/item/bin/streamlit"));
    assert_eq!(spec.args[..2], ["run".to_string(), "dashboard.py".to_string()]);
    for want in [
        format!("--server.port={PORT}"),
        "--server.address=127.0.0.1".into(),
        "--server.headless=true".into(),
        "--browser.gatherUsageStats=false".into(),
        format!("--server.baseUrlPath={BASE}"),
    ] {
        assert!(has_arg(&spec, &want), "missing {want} in {:?}", spec.args);
    }
    assert_eq!(spec.prefix, PrefixMode::PassThrough);
    assert_eq!(spec.readiness, Readiness { path: format!("{BASE}/_stcore/health"), any_status: false });
    assert!(python_extras(&AppMode::PythonStreamlit).is_empty());
}

#[test]
fn script_modes_default_to_the_only_script_or_app_py() {
    let fx = Fixture::new(&[("only.py", "")]);
    assert!(has_arg(&fx.spec("python-streamlit", None).expect("spec"), "only.py"));
    let fx = Fixture::new(&[("helpers.py", ""), ("app.py", "")]);
    assert!(has_arg(&fx.spec("python-streamlit", None).expect("spec"), "app.py"));
    // `app` and `app:app` (module forms) find `app.py`.
    assert!(has_arg(&fx.spec("python-bokeh", Some("app")).expect("spec"), "app.py"));
    assert!(has_arg(&fx.spec("python-bokeh", Some("app:app")).expect("spec"), "app.py"));
    let fx = Fixture::new(&[("a.py", ""), ("b.py", "")]);
    assert!(matches!(fx.spec("python-streamlit", None), Err(LaunchError::NoEntrypoint { .. })));
}

#[test]
fn root_mount_omits_prefix_flags() {
    let fx = Fixture::new(&[("app.py", "")]);
    let manifest = Manifest::inferred(&AppMode::PythonStreamlit, None, None);
    let spec = fx.spec_with(&manifest, "python-streamlit", "").expect("spec");
    assert!(!spec.args.iter().any(|a| a.starts_with("--server.baseUrlPath")));
    assert_eq!(spec.readiness.path, "/_stcore/health");
    let manifest = Manifest::inferred(&AppMode::JupyterVoila, None, None);
    let fx = Fixture::new(&[("nb.ipynb", "{}")]);
    let spec = fx.spec_with(&manifest, "jupyter-voila", "").expect("spec");
    assert!(has_arg(&spec, "--Voila.base_url=/"));
}

#[test]
fn bokeh_serves_with_prefix_origin_and_metadata_probe() {
    let fx = Fixture::new(&[("sliders.py", "")]);
    let spec = fx.spec("python-bokeh", Some("sliders.py")).expect("spec");
    assert_python_basics(&spec, &fx);
    assert_eq!(spec.program, Path::new("/venvs/item/bin/bokeh"));
    assert_eq!(spec.args[..2], ["serve".to_string(), "sliders.py".to_string()]);
    for want in [
        format!("--port={PORT}"),
        "--address=127.0.0.1".into(),
        format!("--prefix={BASE}"),
        format!("--allow-websocket-origin={HOST}"),
        "--use-xheaders".into(),
    ] {
        assert!(has_arg(&spec, &want), "missing {want} in {:?}", spec.args);
    }
    assert_eq!(spec.prefix, PrefixMode::PassThrough);
    assert_eq!(spec.readiness, Readiness { path: format!("{BASE}/sliders/metadata"), any_status: false });
}

#[test]
fn panel_serves_with_liveness_and_accepts_notebooks() {
    let fx = Fixture::new(&[("explore.ipynb", "{}")]);
    let spec = fx.spec("python-panel", None).expect("spec");
    assert_python_basics(&spec, &fx);
    assert_eq!(spec.program, Path::new("/venvs/item/bin/panel"));
    assert_eq!(spec.args[..2], ["serve".to_string(), "explore.ipynb".to_string()]);
    assert!(has_arg(&spec, "--liveness"));
    assert!(has_arg(&spec, &format!("--prefix={BASE}")));
    assert!(has_arg(&spec, &format!("--allow-websocket-origin={HOST}")));
    assert_eq!(spec.prefix, PrefixMode::PassThrough);
    assert_eq!(spec.readiness, Readiness { path: format!("{BASE}/liveness"), any_status: false });
}

#[test]
fn shiny_core_is_served_as_asgi() {
    let fx = Fixture::new(&[("app.py", "from shiny import App, ui\napp = App(ui.page_fluid(), None)\n")]);
    let spec = fx.spec("python-shiny", None).expect("spec");
    assert_python_basics(&spec, &fx);
    assert_eq!(shim_args(&spec)[0], "asgi");
    assert!(has_arg(&spec, "--entrypoint=app"));
    assert_eq!(spec.prefix, PrefixMode::Strip);
    assert_eq!(spec.readiness, Readiness { path: "/".into(), any_status: false });
}

#[test]
fn shiny_express_is_detected_and_escaped() {
    let fx = Fixture::new(&[("express_app.py", "from shiny.express import input, render, ui\n")]);
    let spec = fx.spec("python-shiny", Some("express_app")).expect("spec");
    assert!(has_arg(&spec, "--entrypoint=shiny.express.app:express_5f_app_2e_py"), "{:?}", &spec.args[2..]);
    // rsconnect already writes the escaped form; it is checked and kept.
    let spec = fx.spec("python-shiny", Some("shiny.express.app:express_5f_app_2e_py")).expect("spec");
    assert!(has_arg(&spec, "--entrypoint=shiny.express.app:express_5f_app_2e_py"));
    let err = fx.spec("python-shiny", Some("shiny.express.app:gone_2e_py")).expect_err("missing file");
    assert!(matches!(err, LaunchError::EntrypointMissing { .. }), "{err}");
    let err = fx.spec("python-fastapi", Some("shiny.express.app:express_5f_app_2e_py")).expect_err("wrong mode");
    assert!(matches!(err, LaunchError::InvalidEntrypoint { .. }), "{err}");
}

#[test]
fn gradio_uses_the_gradio_shim() {
    let fx = Fixture::new(&[("app.py", "import gradio as gr\n")]);
    let spec = fx.spec("python-gradio", None).expect("spec");
    assert_python_basics(&spec, &fx);
    assert_eq!(shim_args(&spec)[0], "gradio");
    assert_eq!(env_of(&spec, "GRADIO_ANALYTICS_ENABLED"), Some("False"));
    assert_eq!(spec.prefix, PrefixMode::Strip);
    assert_eq!(spec.readiness, Readiness { path: "/config".into(), any_status: false });
    assert_eq!(python_extras(&AppMode::PythonGradio), ["uvicorn", "fastapi", "websockets"]);
}

#[test]
fn voila_serves_the_notebook_pass_through_and_never_probes_root() {
    let fx = Fixture::new(&[("dash board.ipynb", "{}")]);
    let spec = fx.spec("jupyter-voila", None).expect("spec");
    assert_python_basics(&spec, &fx);
    assert_eq!(spec.program, Path::new("/venvs/item/bin/voila"));
    assert_eq!(spec.args[0], "dash board.ipynb");
    for want in [
        "--no-browser".to_string(),
        format!("--port={PORT}"),
        "--Voila.ip=127.0.0.1".into(),
        "--Voila.port_retries=0".into(),
        format!("--Voila.base_url={BASE}/"),
    ] {
        assert!(has_arg(&spec, &want), "missing {want} in {:?}", spec.args);
    }
    assert_eq!(spec.prefix, PrefixMode::PassThrough);
    assert_eq!(spec.readiness, Readiness { path: format!("{BASE}/voila/static/voila.js"), any_status: false });
    assert_eq!(python_extras(&AppMode::JupyterVoila), ["ipykernel"]);

    let fx = Fixture::new(&[("a.ipynb", "{}"), ("b.ipynb", "{}")]);
    assert_eq!(fx.spec("jupyter-voila", None).expect("spec").args[0], ".");
    assert_eq!(fx.spec("jupyter-voila", Some("b.ipynb")).expect("spec").args[0], "b.ipynb");
    let fx = Fixture::new(&[("readme.md", "")]);
    assert!(matches!(fx.spec("jupyter-voila", None), Err(LaunchError::NoEntrypoint { .. })));
}

#[test]
fn r_shiny_passes_everything_through_the_environment() {
    let fx = Fixture::new(&[("app.R", "library(shiny)\n")]);
    let spec = fx.spec("shiny", None).expect("spec");
    assert_eq!(spec.program, Path::new("/usr/bin/Rscript"));
    assert_eq!(spec.args[0], "-e");
    assert!(spec.args[1].starts_with("shiny::runApp(Sys.getenv(\"APP_DIR\")"));
    assert_eq!(env_of(&spec, "APP_DIR"), Some(&*fx.dir.path().display().to_string()));
    assert_eq!(env_of(&spec, "PORT"), Some("41234"));
    assert_eq!(env_of(&spec, "CONNECT_SERVER"), Some("http://porch.local:3939/"));
    assert_eq!(env_of(&spec, "R_CONFIG_ACTIVE"), Some("rsconnect"));
    assert_eq!(spec.prefix, PrefixMode::Strip);
    assert_eq!(spec.readiness, Readiness { path: "/".into(), any_status: false });

    let fx = Fixture::new(&[("ui.R", ""), ("server.R", "")]);
    fx.spec("shiny", None).expect("ui/server layout");
    let fx = Fixture::new(&[("other.R", "")]);
    assert!(matches!(fx.spec("shiny", None), Err(LaunchError::EntrypointMissing { .. })));
}

#[test]
fn rmd_shiny_finds_the_document() {
    let fx = Fixture::new(&[("report.Rmd", "---\nruntime: shiny\n---\n")]);
    let spec = fx.spec("rmd-shiny", None).expect("spec");
    assert!(spec.args[1].starts_with("rmarkdown::run(Sys.getenv(\"DOC\")"));
    assert_eq!(env_of(&spec, "DOC"), Some(&*fx.dir.path().join("report.Rmd").display().to_string()));
    assert_eq!(spec.readiness, Readiness { path: "/".into(), any_status: false });
    let manifest =
        Manifest::parse(br#"{"metadata":{"appmode":"rmd-shiny","primary_rmd":"report.Rmd"}}"#).expect("manifest");
    fx.spec_with(&manifest, "rmd-shiny", BASE).expect("primary_rmd");
}

#[test]
fn plumber_accepts_any_status_and_entrypoint_r() {
    let fx = Fixture::new(&[("plumber.R", "#* @get /echo\n")]);
    let spec = fx.spec("api", None).expect("spec");
    assert!(spec.args[1].contains("plumber::pr(Sys.getenv(\"ENTRY\"))"));
    assert_eq!(env_of(&spec, "ENTRY"), Some(&*fx.dir.path().join("plumber.R").display().to_string()));
    assert_eq!(spec.prefix, PrefixMode::Strip);
    assert_eq!(spec.readiness, Readiness { path: "/".into(), any_status: true });
    let fx = Fixture::new(&[("entrypoint.R", "plumber::pr()\n")]);
    assert!(fx.spec("api", None).expect("spec").args[1].contains("plumb(dir = Sys.getenv(\"APP_DIR\"))"));
}

#[test]
fn r_mode_without_rscript_is_refused() {
    let fx = Fixture::new(&[("app.R", "")]);
    let manifest = Manifest::inferred(&AppMode::Shiny, None, None);
    let err = launch_spec(&LaunchContext {
        app_mode: &AppMode::Shiny,
        manifest: &manifest,
        bundle_dir: fx.dir.path(),
        python: Some(&fx.python),
        rscript: None,
        base_path: BASE,
        external_host: HOST,
        port: PORT,
        env: &[],
    })
    .expect_err("no R");
    assert!(matches!(err, LaunchError::RMissing { .. }), "{err}");
}

#[test]
fn python_mode_without_python_is_refused() {
    let fx = Fixture::new(&[("app.py", "")]);
    let manifest = Manifest::inferred(&AppMode::PythonApi, None, None);
    let ctx = LaunchContext {
        app_mode: &AppMode::PythonApi,
        manifest: &manifest,
        bundle_dir: fx.dir.path(),
        python: None,
        rscript: None,
        base_path: BASE,
        external_host: HOST,
        port: PORT,
        env: &[],
    };
    assert!(matches!(launch_spec(&ctx), Err(LaunchError::PythonMissing { .. })));
    let bare = PathBuf::from("python");
    let ctx = LaunchContext { python: Some(&bare), ..ctx };
    assert!(matches!(launch_spec(&ctx), Err(LaunchError::BadInterpreter { .. })));
}

#[test]
fn missing_entrypoint_files_are_reported_with_the_path() {
    let fx = Fixture::new(&[("readme.md", "")]);
    for (mode, ep) in [
        ("python-api", None),
        ("python-fastapi", Some("main:app")),
        ("python-dash", None),
        ("python-shiny", None),
        ("python-gradio", None),
        ("python-streamlit", Some("missing.py")),
        ("python-bokeh", Some("missing.py")),
        ("jupyter-voila", Some("missing.ipynb")),
        ("rmd-shiny", Some("missing.Rmd")),
        ("api", None),
    ] {
        match fx.spec(mode, ep) {
            Err(LaunchError::EntrypointMissing { path, .. }) => {
                assert!(path.starts_with(fx.dir.path()), "{mode}: {path:?}")
            }
            other => panic!("{mode}: expected EntrypointMissing, got {other:?}"),
        }
    }
}

#[test]
fn hostile_entry_points_are_refused() {
    let fx = Fixture::new(&[("app.py", "")]);
    for (mode, ep) in [
        ("python-streamlit", "../../etc/passwd"),
        ("python-bokeh", "/etc/passwd"),
        ("jupyter-voila", "--Voila.ip=0.0.0.0"),
        ("python-api", "os:system"),
        ("python-api", "app; rm -rf /"),
    ] {
        let err = fx.spec(mode, Some(ep)).expect_err(ep);
        assert!(
            matches!(err, LaunchError::InvalidEntrypoint { .. } | LaunchError::EntrypointMissing { .. }),
            "{mode} {ep}: {err}"
        );
    }
}

#[test]
fn unknown_and_non_interactive_modes_are_refused() {
    let fx = Fixture::new(&[("app.py", "")]);
    let manifest = Manifest::inferred(&AppMode::Static, None, None);
    assert!(matches!(fx.spec_with(&manifest, "cobol", BASE), Err(LaunchError::UnknownAppMode { .. })));
    assert!(matches!(fx.spec_with(&manifest, "unknown", BASE), Err(LaunchError::UnknownAppMode { .. })));
    for mode in
        ["static", "jupyter-static", "quarto-static", "rmd-static", "quarto-shiny", "nodejs", "tensorflow-saved-model"]
    {
        assert!(matches!(fx.spec_with(&manifest, mode, BASE), Err(LaunchError::NotLaunchable { .. })), "{mode}");
    }
}

#[test]
fn bad_base_paths_and_port_zero_are_refused() {
    let fx = Fixture::new(&[("app.py", "")]);
    let manifest = Manifest::inferred(&AppMode::PythonApi, None, None);
    for base in ["content/x", "/content/x/", "/a b", "/a?b"] {
        assert!(
            matches!(fx.spec_with(&manifest, "python-api", base), Err(LaunchError::InvalidBasePath { .. })),
            "{base}"
        );
    }
    let ctx = LaunchContext {
        app_mode: &AppMode::PythonApi,
        manifest: &manifest,
        bundle_dir: fx.dir.path(),
        python: Some(&fx.python),
        rscript: None,
        base_path: BASE,
        external_host: HOST,
        port: 0,
        env: &[],
    };
    assert!(matches!(launch_spec(&ctx), Err(LaunchError::InvalidPort { port: 0 })));
}

#[test]
fn mode_tables_agree() {
    let launchable: Vec<AppMode> = APP_MODES.iter().map(|m| AppMode::parse(m)).filter(is_interactive).collect();
    assert_eq!(launchable.len(), 12, "{launchable:?}");
    for mode in &launchable {
        assert!(mode.is_known(), "{mode}");
        assert_ne!(needs_python(mode), needs_r(mode), "{mode} needs exactly one runtime");
        assert_eq!(crate::runtime_kind(mode), crate::RuntimeKind::Interactive, "{mode}");
    }
    assert!(!is_interactive(&AppMode::Static) && !is_interactive(&AppMode::QuartoShiny));
    assert_eq!(r_packages(&AppMode::Shiny), ["shiny"]);
    assert_eq!(r_packages(&AppMode::RmdShiny), ["rmarkdown", "shiny"]);
    assert_eq!(r_packages(&AppMode::Api), ["plumber"]);
    assert!(r_packages(&AppMode::PythonApi).is_empty());
    assert!(python_extras(&AppMode::Shiny).is_empty());
    assert!(needs_python(&AppMode::JupyterStatic) && needs_r(&AppMode::RmdStatic));
}

#[test]
fn connect_env_and_base_url_header() {
    let env = connect_env(
        "https://porch.local:3939",
        "guid-1",
        Some("key"),
        &[("CONNECT_CONTENT_GUID".into(), "spoofed".into()), ("R_CONFIG_ACTIVE".into(), "mine".into())],
    );
    let get = |n: &str| env.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    assert_eq!(get("CONNECT_SERVER"), Some("https://porch.local:3939/"));
    assert_eq!(get("CONNECT_CONTENT_GUID"), Some("guid-1"));
    assert_eq!(get("CONNECT_API_KEY"), Some("key"));
    assert_eq!(get("R_CONFIG_ACTIVE"), Some("mine"));
    assert_eq!(get("POSIT_PRODUCT"), Some("CONNECT"));
    assert_eq!(get("RSTUDIO_PRODUCT"), Some("CONNECT"));
    assert_eq!(connect_env("http://h/", "g", None, &[]).iter().filter(|(k, _)| k == "CONNECT_SERVER").count(), 1);
    assert_eq!(app_base_url("http", "porch.local:3939", BASE), format!("http://porch.local:3939{BASE}/"));
    assert_eq!(app_base_url("http", "h:1", ""), "http://h:1/");
    assert_eq!(APP_BASE_URL_HEADER, "RStudio-Connect-App-Base-URL");
}
