//! The `porch` command: the desktop window, the headless server and a small CLI.
//!
//! This file only hands over to [`cli`], which parses arguments and runs one command each
//! (one module per command); everything else lives in `porch-engine`. The desktop shell
//! (`desktop/`) is compiled only with the `gui` feature.

mod cli;
#[cfg(feature = "gui")]
mod desktop;

include!(concat!(env!("OUT_DIR"), "/ui_assets.rs"));

/// jemalloc instead of glibc's malloc: its background thread hands freed memory back to
/// the system a few seconds after a load ends, where glibc's per-thread arenas keep it
/// (bench/load.sh checks that RSS returns to its baseline).
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> std::process::ExitCode {
    cli::main()
}
