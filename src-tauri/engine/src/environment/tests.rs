//! End-to-end tests that really run uv (and pip, and R when present).
//!
//! When a tool is missing they record a skip through the one skip mechanism
//! (`tests/common/skip.rs`: a line in `PORCH_SKIP_LOG`, a failure under `CI=true`).
//! Everything is written under temporary folders; uv reaches the package index configured
//! for this machine.

use crate::vocab::AppMode;
use std::path::Path;
use std::time::Duration;

use tokio::sync::mpsc::{unbounded_channel, UnboundedReceiver};
use tokio::time::{timeout, Instant};

use super::*;

#[path = "../../../../tests/common/skip.rs"]
mod skip;
use skip::skip;

const LONG: Duration = Duration::from_secs(300);

/// True when uv is found; otherwise records `test` as skipped.
async fn uv_available(test: &str) -> bool {
    let envs = Environments::new(Path::new("/nonexistent-porch-data"));
    let found = envs.find_uv().await;
    if found.is_none() {
        skip(test, "uv not found on PATH or as python3 -m uv");
    }
    found.is_some()
}

fn bundle(requirements: Option<&str>) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("temp dir");
    std::fs::write(dir.path().join("app.py"), "import six\n").expect("write app");
    if let Some(r) = requirements {
        std::fs::write(dir.path().join("requirements.txt"), r).expect("write requirements");
    }
    dir
}

fn manifest(python_version: Option<&str>) -> Manifest {
    let mut m = Manifest::inferred(&AppMode::PythonApi, Some("app"), None);
    if let Some(v) = python_version {
        m.raw["python"] =
            serde_json::json!({"version": v, "package_manager": {"name": "pip", "package_file": "requirements.txt"}});
    }
    m
}

fn drain(rx: &mut UnboundedReceiver<String>) -> Vec<String> {
    let mut out = Vec::new();
    while let Ok(l) = rx.try_recv() {
        out.push(l);
    }
    out
}

/// Names in the environments folder (hash folders and any `.tmp-*`).
fn env_entries(data: &Path) -> Vec<String> {
    match std::fs::read_dir(data.join("envs")) {
        Ok(rd) => rd.flatten().map(|e| e.file_name().to_string_lossy().into_owned()).collect(),
        Err(_) => Vec::new(),
    }
}

async fn python_prints(env: &PythonEnv, code: &str) -> String {
    let out = tokio::process::Command::new(&env.python).args(["-c", code]).output().await.expect("run env python");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

#[tokio::test]
async fn uv_builds_streams_reuses_and_rebuilds_on_change() {
    if !uv_available("uv_builds_streams_reuses_and_rebuilds_on_change").await {
        return;
    }
    let data = tempfile::tempdir().expect("data dir");
    let envs = Environments::new(data.path());
    let (tx, mut rx) = unbounded_channel();

    let first_bundle = bundle(Some("six==1.16.0\n"));
    let t = Instant::now();
    let env = timeout(LONG, envs.python(first_bundle.path(), &manifest(None), &[], &tx))
        .await
        .expect("in time")
        .expect("env builds");
    let first_time = t.elapsed();
    let lines = drain(&mut rx);
    assert!(!env.reused);
    assert!(lines.iter().any(|l| l.starts_with("$ ") && l.contains("pip install")), "{lines:#?}");
    assert!(lines.iter().any(|l| l.contains("+ six==1.16.0")), "uv's install line streamed: {lines:#?}");
    assert_eq!(env.dir, data.path().join("envs").join(&env.hash));
    assert!(env.dir.join(ENV_MARKER).is_file());
    assert_eq!(python_prints(&env, "import six; print(six.__version__)").await, "1.16.0");
    let record: EnvRecord =
        serde_json::from_slice(&std::fs::read(env.dir.join(ENV_MARKER)).expect("marker")).expect("record");
    assert_eq!((record.python_version.as_str(), record.requirements_files.len()), (env.version.as_str(), 1));
    let activate = std::fs::read_to_string(env.bin_dir.join("activate")).expect("activate");
    assert!(!activate.contains(".tmp-"), "the venv must not point at its build folder");

    // Same requirements from another bundle (another item, or a redeploy): nothing installed.
    let second_bundle = bundle(Some("# same, differently formatted\nsix==1.16.0   \n"));
    let t = Instant::now();
    let again = timeout(LONG, envs.python(second_bundle.path(), &manifest(None), &[], &tx))
        .await
        .expect("in time")
        .expect("env reused");
    let reuse_time = t.elapsed();
    let lines = drain(&mut rx);
    assert!(again.reused, "{lines:#?}");
    assert_eq!(again.dir, env.dir);
    assert!(!lines.iter().any(|l| l.starts_with("$ ")), "no installer ran: {lines:#?}");
    assert!(lines.iter().any(|l| l.contains("Reusing Python environment")), "{lines:#?}");
    assert!(reuse_time < Duration::from_secs(5), "reuse took {reuse_time:?}");

    // After a restart (fresh discovery of interpreters and uv), still reused.
    let restarted = Environments::new(data.path());
    let t = Instant::now();
    let after_restart = timeout(LONG, restarted.python(second_bundle.path(), &manifest(None), &[], &tx))
        .await
        .expect("in time")
        .expect("env reused after restart");
    let restart_time = t.elapsed();
    assert!(after_restart.reused && after_restart.dir == env.dir);
    drain(&mut rx);

    // A changed requirement is a different environment; the old one stays.
    let changed = bundle(Some("six==1.15.0\n"));
    let other = timeout(LONG, envs.python(changed.path(), &manifest(None), &[], &tx))
        .await
        .expect("in time")
        .expect("changed env builds");
    assert!(!other.reused);
    assert_ne!(other.dir, env.dir);
    assert_eq!(python_prints(&other, "import six; print(six.__version__)").await, "1.15.0");
    assert!(env.dir.join(ENV_MARKER).is_file());

    // Extras are part of the key.
    let with_extra = timeout(LONG, envs.python(first_bundle.path(), &manifest(None), &["six==1.16.0"], &tx))
        .await
        .expect("in time")
        .expect("extras env builds");
    assert_ne!(with_extra.hash, env.hash);

    let mut entries = env_entries(data.path());
    entries.sort();
    assert!(entries.iter().all(|e| !e.starts_with(".tmp-")), "{entries:?}");
    assert_eq!(entries.len(), 3, "{entries:?}");
    println!(
        "TIMING: first build {:.2}s, reuse {:.3}s, reuse after restart {:.3}s (python {})",
        first_time.as_secs_f64(),
        reuse_time.as_secs_f64(),
        restart_time.as_secs_f64(),
        env.version
    );
}

#[tokio::test]
async fn a_bad_requirement_fails_with_uvs_error_and_leaves_nothing() {
    if !uv_available("a_bad_requirement_fails_with_uvs_error_and_leaves_nothing").await {
        return;
    }
    let data = tempfile::tempdir().expect("data dir");
    let envs = Environments::new(data.path());
    let (tx, mut rx) = unbounded_channel();
    let b = bundle(Some("this-package-does-not-exist-porch==1.0\n"));
    let err = timeout(LONG, envs.python(b.path(), &manifest(None), &[], &tx))
        .await
        .expect("in time")
        .expect_err("cannot install");
    let msg = err.to_string();
    println!("InstallFailed message:\n{msg}");
    assert!(matches!(err, EnvError::InstallFailed { .. }), "{err:?}");
    assert!(msg.starts_with("uv pip install failed"), "{msg}");
    assert!(msg.contains("this-package-does-not-exist-porch") && msg.contains("not found"), "uv's error line: {msg}");
    let lines = drain(&mut rx);
    assert!(
        lines.iter().any(|l| l.contains("this-package-does-not-exist-porch") && l.contains("not found")),
        "{lines:#?}"
    );
    assert_eq!(env_entries(data.path()), Vec::<String>::new(), "no env and no temp folder left");
}

#[tokio::test]
async fn concurrent_requests_for_one_environment_build_it_once() {
    if !uv_available("concurrent_requests_for_one_environment_build_it_once").await {
        return;
    }
    let data = tempfile::tempdir().expect("data dir");
    let envs = Environments::new(data.path());
    let (tx, mut rx) = unbounded_channel();
    let (a, b) = (bundle(Some("six==1.16.0\n")), bundle(Some("six==1.16.0\n")));
    let m = manifest(None);
    let (ra, rb) = timeout(LONG, async {
        tokio::join!(envs.python(a.path(), &m, &["six"], &tx), envs.python(b.path(), &m, &["six"], &tx))
    })
    .await
    .expect("in time");
    let (ra, rb) = (ra.expect("a"), rb.expect("b"));
    assert_eq!(ra.dir, rb.dir);
    assert_eq!([ra.reused, rb.reused].iter().filter(|r| !**r).count(), 1, "exactly one build");
    let venvs = drain(&mut rx).iter().filter(|l| l.starts_with("$ ") && l.contains(" venv ")).count();
    assert_eq!(venvs, 1);
}

#[tokio::test]
async fn empty_requirements_make_a_bare_venv() {
    if !uv_available("empty_requirements_make_a_bare_venv").await {
        return;
    }
    let data = tempfile::tempdir().expect("data dir");
    let envs = Environments::new(data.path());
    let (tx, mut rx) = unbounded_channel();
    let b = bundle(None);
    let env =
        timeout(LONG, envs.python(b.path(), &manifest(None), &[], &tx)).await.expect("in time").expect("bare env");
    let lines = drain(&mut rx);
    assert!(lines.iter().any(|l| l.contains("No requirements.txt in the bundle")), "{lines:#?}");
    assert!(!lines.iter().any(|l| l.contains("pip install")), "{lines:#?}");
    assert_eq!(python_prints(&env, "import sys; print(sys.prefix)").await, env.dir.to_string_lossy());
}

#[tokio::test]
async fn an_unavailable_python_version_names_what_is_there() {
    let data = tempfile::tempdir().expect("data dir");
    let envs = Environments::new(data.path());
    let (tx, _rx) = unbounded_channel();
    let b = bundle(Some("six\n"));
    let err = timeout(LONG, envs.python(b.path(), &manifest(Some("2.7.18")), &[], &tx))
        .await
        .expect("in time")
        .expect_err("no 2.7");
    let msg = err.to_string();
    println!("PythonVersionUnavailable message: {msg}");
    match &err {
        EnvError::PythonVersionUnavailable { wanted, available, .. } => {
            assert_eq!(wanted, "2.7");
            assert!(available.iter().all(|a| a.starts_with("3.")), "{available:?}");
            assert!(msg.contains("asks for Python 2.7") && msg.contains("manifest"), "{msg}");
            if let Some(first) = available.first() {
                assert!(msg.contains(first.as_str()), "{msg}");
            }
        }
        EnvError::NoPython => {
            skip("an_unavailable_python_version_names_what_is_there", &format!("no Python 3 on this machine ({msg})"))
        }
        other => panic!("unexpected error {other:?}"),
    }
    assert_eq!(env_entries(data.path()), Vec::<String>::new());
}

#[tokio::test]
async fn the_manifest_python_version_is_honoured() {
    let data = tempfile::tempdir().expect("data dir");
    let envs = Environments::new(data.path());
    // The last one found: not simply the default python3.
    let Some(first) = envs.interpreters(&python::candidate_names()).await.last().cloned() else {
        skip("the_manifest_python_version_is_honoured", "no Python 3 on this machine");
        return;
    };
    if envs.uv().await.is_none() {
        skip("the_manifest_python_version_is_honoured", "uv not found");
        return;
    }
    let (tx, _rx) = unbounded_channel();
    let b = bundle(None);
    let wanted = format!("{}.{}", first.major, first.minor);
    let env = timeout(LONG, envs.python(b.path(), &manifest(Some(&wanted)), &[], &tx))
        .await
        .expect("in time")
        .expect("env for the wanted version");
    assert!(env.version.starts_with(&format!("{wanted}.")), "{} vs {wanted}", env.version);
    let printed = python_prints(&env, "import sys; print('%d.%d' % sys.version_info[:2])").await;
    assert_eq!(printed, wanted);
}

#[tokio::test]
async fn without_uv_it_falls_back_to_venv_and_pip_with_a_warning() {
    let data = tempfile::tempdir().expect("data dir");
    let mut envs = Environments::new(data.path());
    envs.allow_uv = false;
    if envs.interpreters(&python::candidate_names()).await.is_empty() {
        skip("without_uv_it_falls_back_to_venv_and_pip_with_a_warning", "no Python 3 on this machine");
        return;
    }
    let (tx, mut rx) = unbounded_channel();
    let b = bundle(Some("six==1.16.0\n"));
    let result = timeout(LONG, envs.python(b.path(), &manifest(None), &[], &tx)).await.expect("in time");
    let lines = drain(&mut rx);
    let env = match result {
        Ok(env) => env,
        Err(EnvError::InstallFailed { tool, .. }) if tool == "python -m venv" => {
            // e.g. Debian without python3-venv: the fallback cannot work here.
            skip(
                "without_uv_it_falls_back_to_venv_and_pip_with_a_warning",
                &format!("python -m venv does not work here: {lines:?}"),
            );
            return;
        }
        Err(e) => panic!("pip fallback failed: {e}\n{lines:#?}"),
    };
    assert!(lines.iter().any(|l| l.starts_with("warning: uv not found")), "{lines:#?}");
    assert!(lines.iter().any(|l| l.contains("Successfully installed six-1.16.0")), "{lines:#?}");
    assert_eq!(python_prints(&env, "import six; print(six.__version__)").await, "1.16.0");
    // Scripts were rewritten from the build folder to the final one.
    let pip = std::fs::read_to_string(env.bin_dir.join("pip")).expect("pip script");
    assert!(!pip.contains(".tmp-") && pip.contains(&*env.dir.to_string_lossy()), "{pip}");
    let record: EnvRecord =
        serde_json::from_slice(&std::fs::read(env.dir.join(ENV_MARKER)).expect("marker")).expect("record");
    assert_eq!(record.installer, "pip");
}

#[tokio::test]
async fn r_reports_missing_r_or_missing_packages_by_name() {
    let data = tempfile::tempdir().expect("data dir");
    let envs = Environments::new(data.path());
    let (tx, _rx) = unbounded_channel();
    let b = tempfile::tempdir().expect("bundle");
    std::fs::write(b.path().join("app.R"), "library(porchnopkgone)\nporchnopkgtwo::f()\nlibrary(stats)\n")
        .expect("write");
    let m = Manifest::inferred(&AppMode::Shiny, None, None);
    let result = timeout(LONG, envs.r(b.path(), &m, &["utils"], &tx)).await.expect("in time");
    match result {
        Err(EnvError::RMissing) => skip(
            "r_reports_missing_r_or_missing_packages_by_name",
            "Rscript not installed: checked only that RMissing is reported",
        ),
        Err(EnvError::RPackagesMissing { packages }) => {
            assert_eq!(packages, vec!["porchnopkgone", "porchnopkgtwo"]);
        }
        other => panic!("unexpected {other:?}"),
    }
}

#[tokio::test]
async fn a_cancelled_build_leaves_no_half_environment() {
    let test = "a_cancelled_build_leaves_no_half_environment";
    let data = tempfile::tempdir().expect("data dir");
    let mut envs = Environments::new(data.path());
    // python -m venv (with ensurepip) is a real child process that runs for a while.
    envs.allow_uv = false;
    if envs.interpreters(&python::candidate_names()).await.is_empty() {
        skip(test, "no Python 3 on this machine");
        return;
    }
    let (tx, mut rx) = unbounded_channel();
    let b = bundle(Some("six==1.16.0\n"));
    let manifest = manifest(None);
    // Cancel at a point the build reaches for sure, not after a guessed delay: the build
    // announces each command (`$ ...`) before it awaits it, and `biased` makes the line seen
    // before the build is polled again, so the build is dropped while its first command runs.
    let mut build = Box::pin(envs.python(b.path(), &manifest, &[], &tx));
    let started = timeout(LONG, async {
        loop {
            tokio::select! {
                biased;
                line = rx.recv() => match line {
                    Some(l) if l.starts_with("$ ") => return l,
                    Some(_) => {}
                    None => panic!("the build's log channel closed before any command"),
                },
                done = &mut build => panic!("the build ended before it announced a command: {:?}", done.map(|e| e.dir)),
            }
        }
    })
    .await
    .expect("the build announces its first command in time");
    drop(build); // the cancellation: the boxed future, and the child it awaits, go here
                 // A killed child may still be exiting; poll with a deadline rather than sleep.
    let deadline = Instant::now() + Duration::from_secs(5);
    while !env_entries(data.path()).is_empty() && Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(env_entries(data.path()), Vec::<String>::new(), "nothing left after cancelling at: {started}");
}

#[test]
fn error_messages_name_what_to_do() {
    let e = EnvError::RPackagesMissing { packages: vec!["R6".into(), "shiny".into()] };
    assert_eq!(
        e.to_string(),
        "R packages missing on this machine: R6, shiny. Install them in R with install.packages(c(\"R6\", \"shiny\")) and deploy again"
    );
    let e = EnvError::InstallFailed {
        tool: "uv pip install".into(),
        status: "exit status: 1".into(),
        last_lines: vec!["error: No solution found".into(), "  cause: nope".into()],
    };
    assert_eq!(e.to_string(), "uv pip install failed (exit status: 1):\nerror: No solution found\n  cause: nope");
    let e = EnvError::PythonVersionUnavailable { wanted: "3.9".into(), from: ".python-version", available: vec![] };
    assert!(e.to_string().contains("this machine has no Python 3 at all"), "{e}");
}

#[test]
fn uv_is_looked_for_packaged_first_then_data_folder_then_path_then_python() {
    let tools = Path::new("/data/tools/bin");
    let packaged = Path::new("/usr/lib/porch/uv");
    let order = |c: Vec<UvCandidate>| c.into_iter().map(|(p, a)| (p.display().to_string(), a)).collect::<Vec<_>>();
    assert_eq!(
        order(uv_candidates(Some(packaged), tools)),
        vec![
            ("/usr/lib/porch/uv".to_string(), vec![]),
            ("/data/tools/bin/uv".to_string(), vec![]),
            ("uv".to_string(), vec![]),
            ("python3".to_string(), vec!["-m", "uv"]),
        ]
    );
    // Not installed as a package (a build from source): the rest keep their order.
    assert_eq!(
        order(uv_candidates(None, tools)),
        vec![
            ("/data/tools/bin/uv".to_string(), vec![]),
            ("uv".to_string(), vec![]),
            ("python3".to_string(), vec!["-m", "uv"]),
        ]
    );
}

/// An executable script at `path` that prints `says` for `--version`.
fn fake_tool(path: &Path, says: &str) {
    use std::os::unix::fs::PermissionsExt as _;
    std::fs::create_dir_all(path.parent().expect("a parent")).expect("tool folder");
    std::fs::write(path, format!("#!/bin/sh\necho '{says}'\n")).expect("write tool");
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o755)).expect("make it executable");
}

#[tokio::test]
async fn the_first_candidate_that_answers_as_uv_is_used() {
    let dir = tempfile::tempdir().expect("temp dir");
    let packaged = dir.path().join("usr/lib/porch/uv");
    let own = dir.path().join("data/tools/bin/uv");
    let runner = Runner::detached();
    let pick = |packaged: PathBuf, own: PathBuf| {
        let runner = runner.clone();
        // Nothing after these two can answer, so the test does not depend on this machine's uv.
        async move {
            probe_uv(&runner, vec![(packaged, vec![]), (own, vec![]), (PathBuf::from("/nonexistent/uv"), vec![])])
                .await
                .map(|uv| (uv.program, uv.version))
        }
    };

    // Neither exists: nothing found.
    assert_eq!(pick(packaged.clone(), own.clone()).await, None);
    // Only the data folder's copy.
    fake_tool(&own, "uv 0.2.0 (own copy)");
    assert_eq!(pick(packaged.clone(), own.clone()).await, Some((own.clone(), "0.2.0".to_string())));
    // The packaged one wins over the data folder's copy.
    fake_tool(&packaged, "uv 0.1.0 (packaged)");
    assert_eq!(pick(packaged.clone(), own.clone()).await, Some((packaged.clone(), "0.1.0".to_string())));
    // A program there that is not uv (or fails) is passed over.
    fake_tool(&packaged, "something else 1.0");
    assert_eq!(pick(packaged.clone(), own.clone()).await, Some((own.clone(), "0.2.0".to_string())));
    std::fs::write(&packaged, "#!/bin/sh\necho 'uv 0.1.0'\nexit 3\n").expect("write failing tool");
    assert_eq!(pick(packaged.clone(), own.clone()).await, Some((own, "0.2.0".to_string())));
}

#[tokio::test]
async fn the_deploy_log_names_the_packaged_uv_it_built_with() {
    let test = "the_deploy_log_names_the_packaged_uv_it_built_with";
    let Some(real) = Environments::new(Path::new("/nonexistent-porch-data")).find_uv().await else {
        skip(test, "uv not found on PATH or as python3 -m uv");
        return;
    };
    // The "packaged" uv: a wrapper around this machine's uv at a path of its own.
    let dir = tempfile::tempdir().expect("temp dir");
    let packaged = dir.path().join("lib/porch/uv");
    std::fs::create_dir_all(packaged.parent().expect("a parent")).expect("folder");
    let real_cmd = std::iter::once(real.program.display().to_string())
        .chain(real.prefix.iter().map(|p| p.to_string()))
        .map(|w| format!("'{w}'"))
        .collect::<Vec<_>>()
        .join(" ");
    std::fs::write(&packaged, format!("#!/bin/sh\nexec {real_cmd} \"$@\"\n")).expect("write wrapper");
    {
        use std::os::unix::fs::PermissionsExt as _;
        std::fs::set_permissions(&packaged, std::fs::Permissions::from_mode(0o755)).expect("executable");
    }
    let data = tempfile::tempdir().expect("data dir");
    let envs = Environments::new(data.path()).with_packaged_uv(packaged.clone());
    let (tx, mut rx) = unbounded_channel();
    let app = bundle(None);
    let env =
        timeout(LONG, envs.python(app.path(), &manifest(None), &[], &tx)).await.expect("in time").expect("env builds");
    let lines = drain(&mut rx);
    let wanted = format!("Building the environment with uv {} ({})", real.version, packaged.display());
    assert!(lines.iter().any(|l| l == &wanted), "wanted {wanted:?} in {lines:#?}");
    assert!(env.dir.join(ENV_MARKER).is_file());
}
