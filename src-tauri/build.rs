//! Build script: embeds the web UI (`ui/dist`, when built) for `/__porch__/`, and runs
//! Tauri's code generation for the GUI build.
//!
//! Without `ui/dist` the list is empty and the server answers `/__porch__/` with a page
//! saying how to build the UI, so `cargo build --no-default-features` never needs npm.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    embed_ui();
    #[cfg(feature = "gui")]
    tauri_build::build();
}

fn embed_ui() {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let dist = root.join("ui").join("dist");
    // Watching a missing path would rerun this script on every build; watch what exists.
    if dist.is_dir() {
        println!("cargo:rerun-if-changed={}", dist.display());
    } else {
        println!("cargo:rerun-if-changed={}", root.join("ui").join("index.html").display());
        println!("cargo:rerun-if-changed={}", root.join("ui").display());
    }
    let mut files = Vec::new();
    if dist.is_dir() {
        collect(&dist, &dist, &mut files);
    }
    files.sort();
    let mut out =
        String::from("/// `ui/dist`, embedded at build time.\npub(crate) static UI_ASSETS: &[(&str, &[u8])] = &[\n");
    for (rel, abs) in &files {
        let _ = writeln!(out, "    ({rel:?}, include_bytes!({abs:?})),");
    }
    out.push_str("];\n");
    let dest = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("ui_assets.rs");
    std::fs::write(&dest, out).expect("write ui_assets.rs");
}

fn collect(base: &Path, dir: &Path, out: &mut Vec<(String, String)>) {
    let Ok(entries) = std::fs::read_dir(dir) else { return };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            collect(base, &path, out);
        } else if let Ok(rel) = path.strip_prefix(base) {
            let rel = rel.to_string_lossy().replace('\\', "/");
            out.push((rel, path.to_string_lossy().into_owned()));
        }
    }
}
