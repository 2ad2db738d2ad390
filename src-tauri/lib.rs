//! The `porch` package's library: what its two programs share.
//!
//! - `porch` (`main.rs`): the command line, the headless server and, with no command, the
//!   desktop app's own process (the engine, the tray and the single-instance name on Linux,
//!   desktop notifications). It links no GTK or WebKit, so with the window closed Porch costs
//!   what a headless server costs.
//! - `porch-shell` (`shell/main.rs`, built with the `gui` feature): the window (Tauri), a
//!   child that `porch` starts and watches (`desktop::child`), which reaches the engine over
//!   its loopback API with the CLI's client ([`cli::client`]).
//!
//! Everything about content lives in `porch-engine`.

pub mod cli;
#[cfg(feature = "gui")]
pub mod desktop;

include!(concat!(env!("OUT_DIR"), "/ui_assets.rs"));

/// jemalloc instead of glibc's malloc: its background thread hands freed memory back to
/// the system a few seconds after a load ends, where glibc's per-thread arenas keep it
/// (bench/load.sh checks that RSS returns to its baseline).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;
