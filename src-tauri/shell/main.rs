//! `porch-shell`: the Porch window, a child of `porch` (see `porch::desktop`).
//!
//! The only program of the package that links Tauri, GTK and WebKit. `porch` starts it with
//! the engine's loopback URL and the run's key in its environment, watches it, and reads
//! what the user asked for from its exit status (`porch::desktop::child`). It owns only the
//! window's native side (STYLE 1.6): the window and its webview (`window.rs`), the commands
//! the UI calls (`commands.rs`), the engine's events forwarded to the UI (`events.rs`), how
//! it ends (`exit.rs`), start at login (`autostart.rs`) and, where Porch cannot serve one
//! itself, the tray (`tray.rs`). Everything about content is asked of the engine over its
//! API with the CLI's client (`porch::cli::client`).

mod autostart;
mod commands;
mod events;
mod exit;
mod shell;
mod tray;
mod window;

// The library's modules, named as the shell's modules use them (`super::child`, …).
use porch::cli;
#[cfg(target_os = "linux")]
use porch::desktop::bus;
use porch::desktop::child;

fn main() -> std::process::ExitCode {
    shell::main()
}

/// The app's generated context (config, embedded UI, icons), built in one place only so the
/// UI is embedded once.
fn context() -> tauri::Context {
    tauri::generate_context!()
}

/// The app's context for a data folder: its identifier is the one Porch uses for that
/// folder (`porch::desktop::identifier_for`), so the single-instance plugin (whose name comes
/// from the identifier) brings forward the window of the same folder and lets a window on
/// another folder open.
fn context_for(config: &porch_engine::Config) -> tauri::Context {
    let mut ctx = context();
    ctx.config_mut().identifier = porch::desktop::identifier_for(&config.data_dir);
    ctx
}
