//! Python publishing clients (pins, posit-sdk, ...) from the test venv, run as scripts with
//! their environment isolated from the developer's.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use super::{run_with_timeout, skip_or_fail, test_venv};

/// The test venv's interpreter, when it can import `module`; else `None` after
/// [`skip_or_fail`].
pub fn python_with(test: &str, module: &str) -> Option<PathBuf> {
    let py = test_venv().join("bin/python");
    let ok = py.is_file()
        && Command::new(&py)
            .args(["-c", &format!("import {module}")])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
    if !ok {
        skip_or_fail(
            test,
            &format!(
                "{} cannot import {module}; run `bash .ci/test` or set PORCH_TEST_VENV to a venv with tests/requirements.txt",
                py.display()
            ),
        );
        return None;
    }
    Some(py)
}

/// Path of a client script under `tests/fixtures/clients/`.
pub fn script(name: &str) -> PathBuf {
    super::fixture(&format!("clients/{name}"))
}

/// Runs `python script` with `PORCH_URL`/`PORCH_KEY` and the extra variables, a fresh HOME,
/// no proxies for loopback and no inherited `CONNECT_*` variables.
pub fn run(python: &Path, script: &Path, base: &str, key: &str, env: &[(&str, &str)], secs: u64) -> Output {
    let home = tempfile::tempdir().expect("tempdir");
    let mut cmd = Command::new(python);
    cmd.arg(script)
        .env("PORCH_URL", base)
        .env("PORCH_KEY", key)
        .env("HOME", home.path())
        .env_remove("XDG_CONFIG_HOME")
        .env_remove("XDG_CACHE_HOME")
        .env("NO_PROXY", "127.0.0.1,localhost")
        .env("no_proxy", "127.0.0.1,localhost")
        .env("PYTHONDONTWRITEBYTECODE", "1");
    for (k, _) in std::env::vars_os() {
        let k = k.to_string_lossy().into_owned();
        if k.starts_with("CONNECT_") || k.starts_with("PINS_") {
            cmd.env_remove(&k);
        }
    }
    for (k, v) in env {
        cmd.env(k, v);
    }
    run_with_timeout(&mut cmd, secs)
}

/// [`run`], asserting success and parsing the script's stdout as JSON.
pub fn run_json(
    python: &Path,
    script: &Path,
    base: &str,
    key: &str,
    env: &[(&str, &str)],
    secs: u64,
) -> serde_json::Value {
    let out = run(python, script, base, key, env, secs);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{} failed ({}):\n--- stdout\n{stdout}\n--- stderr\n{}",
        script.display(),
        out.status,
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(stdout.trim())
        .unwrap_or_else(|e| panic!("{} printed no JSON ({e}):\n{stdout}", script.display()))
}
