//! Skips that are counted: the one way a Rust test says it could not run what its name says.
//!
//! Owns the skip record only: one line `<test name>: <reason>` appended to the file named by
//! `PORCH_SKIP_LOG` (set by `.ci/test`, which counts and prints the lines in its summary),
//! plus a `SKIP:` line on stderr for whoever reads the test's own output. Under `CI=true` a
//! skip whose test name is not listed in `tests/allowed-skips.txt` panics, so the test fails
//! where it stands; `.ci/test` checks the same list again over every skip of every stage.
//! It does not decide *whether* to skip; callers do, and then `return`.
//!
//! Shared by source: the black-box tests use it through `tests/common/mod.rs`, the engine's
//! unit and integration tests include this file with `#[path]`. Concurrency: tests run in
//! parallel threads and processes, so each record is one `write` on a file opened with
//! `O_APPEND`, which the kernel keeps whole for lines this short.
#![allow(dead_code, unreachable_pub)]

use std::io::Write;
use std::path::{Path, PathBuf};

/// True when running under CI (`CI=true` or `CI=1`).
pub fn in_ci() -> bool {
    std::env::var("CI").map(|v| v == "true" || v == "1").unwrap_or(false)
}

/// `tests/allowed-skips.txt`, found from the crate being tested (the workspace root or
/// `src-tauri/engine`) by walking up.
fn allowed_file() -> Option<PathBuf> {
    let start = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR")?);
    start.ancestors().map(|d| d.join("tests/allowed-skips.txt")).find(|p| p.is_file())
}

/// The test names `tests/allowed-skips.txt` allows to skip. Each line is
/// `<test name>: <reason>`; `#` starts a comment; a line without a reason allows nothing.
pub fn allowed_skips(file: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(file).unwrap_or_default();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(": "))
        .filter(|(_, why)| !why.trim().is_empty())
        .map(|(name, _)| name.trim().to_string())
        .collect()
}

/// Records that `test` could not run what its name says, and why. Returns so the caller can
/// `return`; panics under `CI=true` unless `test` is in `tests/allowed-skips.txt`.
pub fn skip(test: &str, why: &str) {
    let why: String = why.chars().map(|c| if c == '\n' || c == '\r' { ' ' } else { c }).collect();
    let why = why.trim();
    eprintln!("SKIP: {test}: {why}");
    if let Some(log) = std::env::var_os("PORCH_SKIP_LOG").filter(|v| !v.is_empty()) {
        let line = format!("{test}: {why}\n");
        let written = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log)
            .and_then(|mut f| f.write_all(line.as_bytes()));
        // A skip that cannot be recorded would pass quietly: that is the one thing not allowed.
        if let Err(e) = written {
            panic!("{test}: skipped ({why}) but cannot record it in PORCH_SKIP_LOG={log:?}: {e}");
        }
    }
    if in_ci() {
        let allowed = allowed_file().map(|f| allowed_skips(&f)).unwrap_or_default();
        assert!(
            allowed.iter().any(|a| a == test),
            "{test}: cannot run under CI=true: {why} (only tests listed in tests/allowed-skips.txt may skip)"
        );
    }
}
