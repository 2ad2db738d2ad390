//! Porch's side of the desktop shell: starting the shell child, watching it, and turning
//! how it ends into what Porch does next.
//!
//! The GUI `porch` serves exactly as `porch serve` does and never initialises GTK itself.
//! The window and the tray live in a child, the same binary run as `porch shell` (hidden),
//! started through the engine's process runner (`porch_engine::runner`), like every child
//! Porch starts: its own process group, `setpriv --pdeathsig KILL` so it dies with Porch,
//! SIGTERM then SIGKILL of its group when Porch stops, and its output pumped back (here to
//! Porch's stderr, as it is). It gets the engine's loopback URL, the origin viewers use and
//! the run's management key in its environment (never in argv, which every user can read
//! in `/proc`); the shell removes them from its environment as it starts.
//!
//! The shell says what the user asked for by how it exits:
//! - status 0: "Quit Porch" (or the last window closed with no tray): Porch shuts down;
//! - [`EXIT_RESTART`]: Settings → "Restart Porch now": Porch shuts down and starts again;
//! - [`EXIT_TRAY`]: the window was closed to the tray: Porch starts a new shell in the tray
//!   form (`porch shell --tray`, no webview); [`EXIT_WINDOW`]: "Open Porch" or a second
//!   launch in the tray form: Porch starts a new shell with the window;
//! - anything else, or a signal: it crashed. Before its first window was up that is a
//!   start-up failure (Porch stops and says why, as when GTK cannot start). Later, it is
//!   started once more, in the tray only, with an error in the log; after a second crash
//!   Porch keeps serving headless and says so in the log (stop it with Ctrl-C or SIGTERM).
//!
//! Concurrency: [`supervise`] runs on the engine's runtime and owns the shell's `Process`;
//! one task forwards the shell's output lines to stderr and notices its "ready" line.

use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, Context as _};
use porch_engine::runner::{Cmd, Exit, Logs, Process, Runner, Sink};
use porch_engine::Engine;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The engine's loopback URL, in the shell's environment.
pub(crate) const ENV_URL: &str = "PORCH_SHELL_URL";
/// The origin viewers use (absolute URLs in API answers), in the shell's environment.
pub(crate) const ENV_ORIGIN: &str = "PORCH_SHELL_ORIGIN";
/// The run's management key, in the shell's environment.
pub(crate) const ENV_KEY: &str = "PORCH_SHELL_KEY";
/// The shell's exit status for "restart Porch".
pub(crate) const EXIT_RESTART: i32 = 75;
/// The shell's exit status for "the window was closed to the tray: start me in the tray".
pub(crate) const EXIT_TRAY: i32 = 76;
/// The shell's exit status for "open the window: start me with it".
pub(crate) const EXIT_WINDOW: i32 = 77;
/// The line the shell prints on stdout once its tray (and window) are up.
pub(crate) const READY: &str = "porch-shell: ready";

/// How long the shell gets to exit on SIGTERM before its group is killed.
const SHELL_GRACE: Duration = Duration::from_secs(3);

/// Which of its two forms the shell starts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// The Library window and the tray.
    Window,
    /// The tray only: no webview, so WebKit is never started.
    Tray,
}

/// How the desktop session ended.
#[derive(Debug)]
pub(crate) enum Outcome {
    /// The user quit.
    Quit,
    /// The user asked for a restart (a saved address takes effect).
    Restart,
    /// SIGINT or SIGTERM reached Porch.
    Signal,
    /// The shell did not come up: nothing was shown, so this is a start-up failure.
    Failed(anyhow::Error),
}

/// SIGTERM and SIGINT, listened for from the moment they are installed.
pub(crate) struct Signals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers (inside the runtime).
    pub(crate) fn install() -> anyhow::Result<Signals> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Signals {
            term: signal(SignalKind::terminate()).context("cannot listen for SIGTERM")?,
            int: signal(SignalKind::interrupt()).context("cannot listen for SIGINT")?,
        })
    }

    async fn wait(&mut self) {
        tokio::select! {
            _ = self.term.recv() => {}
            _ = self.int.recv() => {}
        }
        tracing::info!("termination signal received");
    }
}

/// Runs the shell until the user quits, restarts or Porch is signalled; see the module
/// header for what each way out means.
pub(crate) async fn supervise(engine: &Engine, data_dir: &Path, mut signals: Signals) -> Outcome {
    // A runner of its own: the shell is stopped here, before the engine shuts down.
    let runner = Runner::new(TaskTracker::new(), CancellationToken::new(), SHELL_GRACE);
    let mut mode = Mode::Window;
    let mut first = true;
    let mut crashed = false;
    loop {
        let (shell, ready) = match start(&runner, engine, data_dir, mode) {
            Ok(started) => started,
            Err(err) if first => return Outcome::Failed(err),
            Err(err) => {
                tracing::error!(error = %format!("{err:#}"), "cannot start the desktop shell again; Porch keeps serving without a window or tray icon (stop it with Ctrl-C or SIGTERM)");
                signals.wait().await;
                return Outcome::Signal;
            }
        };
        let exit = tokio::select! {
            _ = signals.wait() => {
                shell.stop(SHELL_GRACE).await;
                return Outcome::Signal;
            }
            exit = shell.exited() => exit,
        };
        match exit_code(&exit) {
            Some(0) => return Outcome::Quit,
            Some(EXIT_RESTART) => return Outcome::Restart,
            Some(EXIT_TRAY) => {
                (mode, first) = (Mode::Tray, false);
                continue;
            }
            Some(EXIT_WINDOW) => {
                (mode, first) = (Mode::Window, false);
                continue;
            }
            _ => {}
        }
        // Its last lines say why.
        shell.output_closed(Duration::from_millis(500)).await;
        let tail = shell.tail().join("\n");
        if first && !*ready.borrow() {
            return Outcome::Failed(anyhow!("cannot open the desktop window: the shell exited ({exit}): {tail}"));
        }
        if crashed {
            tracing::error!(pid = shell.pid(), %exit, "the desktop shell exited unexpectedly again; Porch keeps serving without a window or tray icon (stop it with Ctrl-C or SIGTERM)");
            signals.wait().await;
            return Outcome::Signal;
        }
        tracing::error!(pid = shell.pid(), %exit, "the desktop shell exited unexpectedly; starting it again, in the tray");
        crashed = true;
        first = false;
        mode = Mode::Tray;
    }
}

/// Starts the shell in `mode`; the `watch` turns true when it reports that it is up.
fn start(
    runner: &Runner,
    engine: &Engine,
    data_dir: &Path,
    mode: Mode,
) -> anyhow::Result<(Process, watch::Receiver<bool>)> {
    let info = engine.runtime_info().ok_or_else(|| anyhow!("the server did not report its address"))?;
    let exe = std::env::current_exe().context("cannot find Porch's own executable")?;
    let mut cmd = Cmd::new(exe);
    cmd.arg("shell");
    if mode == Mode::Tray {
        // GTK on X11 probes GLX when it opens the display, to choose its visuals; after a
        // window has been shown that loads Mesa's software renderer and LLVM, some 30 MB of
        // PSS, for a tray that never draws with GL (measured 86 → 54 MB for the tray form).
        cmd.arg("--tray").env("GDK_GL", "disable");
    }
    // SECURITY: the key goes in the environment (readable by this user only, and removed by
    // the shell as it starts), never on the command line.
    cmd.env("PORCH_DATA_DIR", data_dir)
        .env(ENV_URL, &info.url)
        .env(ENV_ORIGIN, &info.origin)
        .env(ENV_KEY, engine.session_key());
    let (lines, mut rx) = mpsc::unbounded_channel();
    let logs = Logs { label: "desktop shell".into(), sink: Sink::Channel(lines), tail_lines: 20 };
    let shell = runner.spawn(&cmd, logs).context("cannot start the desktop shell")?;
    tracing::debug!(pid = shell.pid(), ?mode, "desktop shell started");
    let (up, ready) = watch::channel(false);
    tokio::spawn(async move {
        while let Some(line) = rx.recv().await {
            if line == READY {
                let _ = up.send(true);
            } else {
                // Already formatted by the shell's own tracing.
                eprintln!("{line}");
            }
        }
    });
    Ok((shell, ready))
}

fn exit_code(exit: &Exit) -> Option<i32> {
    match exit {
        Exit::Status(status) => status.code(),
        Exit::Unknown(_) => None,
    }
}
