//! Build script: embeds the web UI (`ui/dist`, when built) for `/__porch__/`, and for the
//! GUI build runs Tauri's code generation and prepares what `porch` (which links no Tauri)
//! needs of the app's config: its identifier (`PORCH_APP_IDENTIFIER`) and the tray icon's
//! pixels (`$OUT_DIR/tray_icon.argb`, 32×32 ARGB32 in network byte order, from
//! `icons/32x32.png`).
//!
//! Without `ui/dist` the list is empty and the server answers `/__porch__/` with a page
//! saying how to build the UI, so `cargo build --no-default-features` never needs npm.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

fn main() {
    embed_ui();
    #[cfg(feature = "gui")]
    {
        app_identity();
        tauri_build::build();
    }
}

#[cfg(feature = "gui")]
fn app_identity() {
    let root = PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let conf_path = root.join("tauri.conf.json");
    println!("cargo:rerun-if-changed={}", conf_path.display());
    let conf: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&conf_path).expect("read tauri.conf.json"))
            .expect("tauri.conf.json is JSON");
    let identifier = conf["identifier"].as_str().expect("tauri.conf.json has an identifier");
    println!("cargo:rustc-env=PORCH_APP_IDENTIFIER={identifier}");

    let icon_path = root.join("icons").join("32x32.png");
    println!("cargo:rerun-if-changed={}", icon_path.display());
    let mut decoder =
        png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&icon_path).expect("open icons/32x32.png")));
    // Palette and 16-bit pictures become 8-bit RGB(A).
    decoder.set_transformations(png::Transformations::EXPAND | png::Transformations::STRIP_16);
    let mut reader = decoder.read_info().expect("icons/32x32.png is a PNG");
    let mut pixels = vec![0; reader.output_buffer_size().expect("a 32x32 picture")];
    let frame = reader.next_frame(&mut pixels).expect("decode icons/32x32.png");
    assert_eq!((frame.width, frame.height), (32, 32), "icons/32x32.png must be 32x32");
    let pixels = &pixels[..frame.buffer_size()];
    let argb: Vec<u8> = match frame.color_type {
        png::ColorType::Rgba => pixels.chunks_exact(4).flat_map(|p| [p[3], p[0], p[1], p[2]]).collect(),
        png::ColorType::Rgb => pixels.chunks_exact(3).flat_map(|p| [255, p[0], p[1], p[2]]).collect(),
        png::ColorType::GrayscaleAlpha => pixels.chunks_exact(2).flat_map(|p| [p[1], p[0], p[0], p[0]]).collect(),
        png::ColorType::Grayscale => pixels.iter().flat_map(|&g| [255, g, g, g]).collect(),
        png::ColorType::Indexed => unreachable!("EXPAND turns a palette into RGB(A)"),
    };
    let dest = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR")).join("tray_icon.argb");
    std::fs::write(dest, argb).expect("write tray_icon.argb");
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
