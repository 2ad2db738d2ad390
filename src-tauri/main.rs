//! The `porch` command: the desktop app's own process, the headless server and a small CLI.
//!
//! This file only hands over to the library's `cli`, which parses arguments and runs one
//! command each (one module per command); everything else lives in `porch-engine`. The
//! window is another program, `porch-shell` (`shell/main.rs`), that this one starts.

fn main() -> std::process::ExitCode {
    porch::cli::main()
}
