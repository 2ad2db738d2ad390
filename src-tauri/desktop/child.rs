//! Porch's side of the desktop shell: starting the shell child, watching it, and turning
//! how it ends into what Porch does next.
//!
//! The GUI `porch` serves exactly as `porch serve` does and links no GTK. The window lives
//! in a child, the program `porch-shell` (`src-tauri/shell/`; [`shell_program`] says where
//! it is found), started through the engine's process runner (`porch_engine::runner`), like
//! every child Porch starts: its own process group, `setpriv --pdeathsig KILL` so it dies
//! with Porch, SIGTERM then SIGKILL of its group when Porch stops, and its output pumped
//! back (here to Porch's stderr, as it is). It gets the engine's loopback URL, the origin
//! viewers use and the run's management key in its environment (never in argv, which every
//! user can read in `/proc`); the shell removes them from its environment as it starts.
//!
//! The tray has two homes ([`Tray`]):
//! - **Porch's own** (Linux with a session bus, `bus.rs`): Porch serves the tray icon and
//!   the single-instance name a second launch calls, and the shell is the window alone
//!   (`porch-shell --no-tray`). With the window closed no shell runs at all. "Open Porch"
//!   and a second launch reach [`supervise`] as an `Ask`: a running window shell is asked to
//!   show its window over the bus (it printed its bus name on its ready line), otherwise a
//!   new one starts. Where no tray host shows the icon (no StatusNotifierWatcher), closing
//!   the window quits, as there would be no way back but a second launch.
//! - **The shell's** (no session bus, other systems): the shell holds the tray and the
//!   single-instance plugin; with the window closed, it runs in its tray form
//!   (`porch-shell --tray`, no webview).
//!
//! The shell says what the user asked for by how it exits:
//! - status 0: "Quit Porch" in the shell's tray (or the last window closed with no tray):
//!   Porch shuts down;
//! - [`EXIT_RESTART`]: Settings → "Restart Porch now": Porch shuts down and starts again;
//! - [`EXIT_TRAY`]: the window was closed: with Porch's own tray, Porch keeps serving with
//!   no shell (or quits when no tray icon shows); with the shell's, Porch starts the tray
//!   form; [`EXIT_WINDOW`]: "Open Porch" or a second launch in the tray form: Porch starts
//!   a new shell with the window;
//! - anything else, or a signal: it crashed. Before its first window was up that is a
//!   start-up failure (Porch stops and says why, as when GTK cannot start). Later, with
//!   Porch's own tray, Porch keeps serving and the window can be opened again from the tray;
//!   with the shell's, it is started once more, in the tray only, with an error in the log,
//!   and after a second crash Porch keeps serving headless and says so in the log (stop it
//!   with Ctrl-C or SIGTERM).
//!
//! Concurrency: [`supervise`] runs on the engine's runtime and owns the shell's `Process`
//! and Porch's tray; one task per shell forwards its output lines to stderr and notices its
//! "ready" line.

use std::path::Path;
use std::time::Duration;

use anyhow::{anyhow, Context as _};
use porch_engine::runner::{Cmd, Exit, Logs, Process, Runner, Sink};
use porch_engine::Engine;
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The engine's loopback URL, in the shell's environment.
pub const ENV_URL: &str = "PORCH_SHELL_URL";
/// The origin viewers use (absolute URLs in API answers), in the shell's environment.
pub const ENV_ORIGIN: &str = "PORCH_SHELL_ORIGIN";
/// The `porch` program that started the shell (what start at login runs), in its environment.
pub const ENV_PROGRAM: &str = "PORCH_PROGRAM";
/// The run's management key, in the shell's environment.
pub const ENV_KEY: &str = "PORCH_SHELL_KEY";
/// The shell's exit status for "restart Porch".
pub const EXIT_RESTART: i32 = 75;
/// The shell's exit status for "the window was closed to the tray: start me in the tray".
pub const EXIT_TRAY: i32 = 76;
/// The shell's exit status for "open the window: start me with it".
pub const EXIT_WINDOW: i32 = 77;
/// The line the shell prints on stdout once its tray (and window) are up.
pub const READY: &str = "porch-shell: ready";

/// How long the shell gets to exit on SIGTERM before its group is killed.
const SHELL_GRACE: Duration = Duration::from_secs(3);

/// Which of its two forms the shell starts in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
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

/// Who Porch is on the desktop: what the tray and a second launch need to know.
#[derive(Debug)]
pub(crate) struct Identity {
    /// The single-instance name a second launch on this data folder calls
    /// (`<identifier>.SingleInstance`, see `identifier_for`).
    pub(crate) instance: String,
    /// The app icon for the tray: width, height, ARGB32 pixels in network byte order.
    pub(crate) icon: (i32, i32, &'static [u8]),
}

/// Where the tray icon lives.
enum Tray {
    /// Porch's own, on the session bus (`bus.rs`): the shell is the window alone, and with
    /// the window closed no shell runs.
    #[cfg(target_os = "linux")]
    Bus(super::bus::Bus),
    /// The shell's, where Porch cannot serve one itself (no session bus, or not Linux):
    /// closing the window starts the shell again in its tray form.
    InShell,
}

impl Tray {
    /// Porch's own tray when the session bus allows, else the shell's.
    #[cfg_attr(not(target_os = "linux"), allow(unused_variables))]
    async fn start(engine: &Engine, identity: &Identity, asks: mpsc::UnboundedSender<Ask>) -> Tray {
        #[cfg(target_os = "linux")]
        {
            let (width, height, argb) = identity.icon;
            let icon = Some((width, height, argb.to_vec()));
            match super::bus::Bus::start(&identity.instance, engine.clone(), engine.viewer_urls(), icon, asks).await {
                Ok(bus) => return Tray::Bus(bus),
                Err(err) => tracing::info!(error = %format!("{err:#}"), "the tray icon stays with the desktop shell"),
            }
        }
        Tray::InShell
    }

    fn in_shell(&self) -> bool {
        matches!(self, Tray::InShell)
    }
}

/// What the user asked for through Porch's own tray or a second launch.
#[cfg(target_os = "linux")]
use super::bus::Ask;
/// (Only Porch's own tray on the session bus asks; elsewhere the shell handles its tray.)
#[cfg(not(target_os = "linux"))]
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Ask {
    Open,
    Quit,
}

/// A running shell.
struct Running {
    process: Process,
    mode: Mode,
    /// `Some` once the shell reported that it is up, with its name on the session bus when
    /// it has one (the window form beside Porch's own tray).
    up: watch::Receiver<Option<String>>,
}

/// Runs the shell until the user quits, restarts or Porch is signalled; see the module
/// header for what each way out means.
pub(crate) async fn supervise(engine: &Engine, data_dir: &Path, identity: &Identity, mut signals: Signals) -> Outcome {
    // A runner of its own: the shell is stopped here, before the engine shuts down.
    let runner = Runner::new(TaskTracker::new(), CancellationToken::new(), SHELL_GRACE);
    let (asks_tx, mut asks) = mpsc::unbounded_channel();
    let tray = Tray::start(engine, identity, asks_tx).await;
    let start = |mode| start(&runner, engine, data_dir, mode, &tray);
    let mut shell = match start(Mode::Window) {
        Ok(running) => Some(running),
        Err(err) => return Outcome::Failed(err),
    };
    // Until the first shell is up, its failure is a start-up failure.
    let mut first = true;
    let mut crashed = false;
    loop {
        let exited = async {
            match &shell {
                Some(running) => running.process.exited().await,
                None => std::future::pending().await,
            }
        };
        let exit = tokio::select! {
            _ = signals.wait() => {
                if let Some(running) = &shell {
                    running.process.stop(SHELL_GRACE).await;
                }
                return Outcome::Signal;
            }
            Some(ask) = asks.recv() => {
                match ask {
                    Ask::Quit => {
                        tracing::info!("quit from the tray");
                        if let Some(running) = &shell {
                            running.process.stop(SHELL_GRACE).await;
                        }
                        return Outcome::Quit;
                    }
                    Ask::Open => shell = open(&tray, shell.take(), start).await,
                }
                continue;
            }
            exit = exited => exit,
        };
        let Some(running) = shell.take() else { continue };
        let was_up = running.up.borrow().is_some();
        match exit_code(&exit) {
            Some(0) => return Outcome::Quit,
            Some(EXIT_RESTART) => return Outcome::Restart,
            Some(EXIT_TRAY) => {
                first = false;
                match &tray {
                    Tray::InShell => shell = start(Mode::Tray).map_err(|err| shell_lost(&err)).ok(),
                    #[cfg(target_os = "linux")]
                    Tray::Bus(bus) if bus.tray_shown() => {
                        tracing::info!("the window is closed to the tray; still serving");
                    }
                    #[cfg(target_os = "linux")]
                    Tray::Bus(_) => {
                        tracing::info!("the window is closed and no tray icon shows on this desktop: quitting");
                        return Outcome::Quit;
                    }
                }
                continue;
            }
            Some(EXIT_WINDOW) => {
                first = false;
                shell = start(Mode::Window).map_err(|err| shell_lost(&err)).ok();
                continue;
            }
            _ => {}
        }
        // Its last lines say why.
        running.process.output_closed(Duration::from_millis(500)).await;
        let tail = running.process.tail().join("\n");
        if first && !was_up {
            return Outcome::Failed(anyhow!("cannot open the desktop window: the shell exited ({exit}): {tail}"));
        }
        first = false;
        let pid = running.process.pid();
        if !tray.in_shell() {
            // The tray is Porch's own: the window comes back when the user asks for it.
            tracing::error!(pid, %exit, "the desktop window's process exited unexpectedly; Porch keeps serving (open the window again from the tray or by starting Porch again)");
            continue;
        }
        if crashed {
            tracing::error!(pid, %exit, "the desktop shell exited unexpectedly again; Porch keeps serving without a window or tray icon (stop it with Ctrl-C or SIGTERM)");
            signals.wait().await;
            return Outcome::Signal;
        }
        tracing::error!(pid, %exit, "the desktop shell exited unexpectedly; starting it again, in the tray");
        crashed = true;
        shell = start(Mode::Tray).map_err(|err| shell_lost(&err)).ok();
    }
}

/// "Open Porch" from Porch's own tray or a second launch: the running window form shows its
/// window; otherwise a shell with the window starts (the tray form, if any, is stopped first).
async fn open(tray: &Tray, shell: Option<Running>, start: impl Fn(Mode) -> anyhow::Result<Running>) -> Option<Running> {
    #[cfg(target_os = "linux")]
    if let (Tray::Bus(bus), Some(running)) = (tray, &shell) {
        let name = running.up.borrow().clone();
        match name {
            Some(name) if running.mode == Mode::Window && !name.is_empty() => {
                if let Err(err) = bus.show_window(&name).await {
                    tracing::warn!(error = %format!("{err:#}"), "cannot bring the window forward");
                }
                return shell;
            }
            // Still starting: its window is on the way.
            None if running.mode == Mode::Window => return shell,
            _ => {}
        }
    }
    let _ = tray;
    if let Some(running) = &shell {
        running.process.stop(SHELL_GRACE).await;
    }
    tracing::info!("opening the window");
    start(Mode::Window).map_err(|err| shell_lost(&err)).ok()
}

/// Logs a shell that cannot be started after the first: Porch keeps serving.
fn shell_lost(err: &anyhow::Error) {
    tracing::error!(error = %format!("{err:#}"), "cannot start the desktop shell; Porch keeps serving (stop it with Ctrl-C or SIGTERM)");
}

/// Starts the shell in `mode`; its `up` turns `Some` when it reports that it is up.
fn start(runner: &Runner, engine: &Engine, data_dir: &Path, mode: Mode, tray: &Tray) -> anyhow::Result<Running> {
    let info = engine.runtime_info().ok_or_else(|| anyhow!("the server did not report its address"))?;
    let mut cmd = Cmd::new(shell_program()?);
    if !tray.in_shell() {
        // Porch serves the tray and the single-instance name itself.
        cmd.arg("--no-tray");
    }
    if mode == Mode::Tray {
        cmd.arg("--tray");
    }
    // GTK on X11 probes GLX when it opens the display, to choose its visuals; after a window
    // has been shown that loads Mesa's software renderer and LLVM, some 30 MB of PSS, in a
    // process that never draws with GL (measured 86 → 54 MB for the tray form). The window
    // does not either: its webview runs without accelerated compositing (`window.rs`), which
    // the environment makes so from the web process's first page on, where the setting
    // `light_webview` applies comes a moment later (together 229 → 223 MB for the window
    // and its WebKit processes). Under WebDriver compositing stays: its screenshots wait for
    // a composited frame.
    if mode == Mode::Tray || std::env::var_os("TAURI_WEBVIEW_AUTOMATION").is_none() {
        cmd.env("GDK_GL", "disable").env("WEBKIT_DISABLE_COMPOSITING_MODE", "1");
    }
    // SECURITY: the key goes in the environment (readable by this user only, and removed by
    // the shell as it starts), never on the command line.
    let porch = std::env::current_exe().context("cannot find Porch's own executable")?;
    cmd.env("PORCH_DATA_DIR", data_dir)
        .env(ENV_PROGRAM, porch)
        .env(ENV_URL, &info.url)
        .env(ENV_ORIGIN, &info.origin)
        .env(ENV_KEY, engine.session_key());
    let (lines, mut rx) = mpsc::unbounded_channel();
    let logs = Logs { label: "desktop shell".into(), sink: Sink::Channel(lines), tail_lines: 20 };
    let process = runner.spawn(&cmd, logs).context("cannot start the desktop shell")?;
    tracing::debug!(pid = process.pid(), ?mode, "desktop shell started");
    let (tell, up) = watch::channel(None);
    tokio::spawn(async move {
        while let Some(line) = rx.recv().await {
            if let Some(rest) = line.strip_prefix(READY) {
                let _ = tell.send(Some(rest.trim().to_owned()));
            } else {
                // Already formatted by the shell's own tracing.
                eprintln!("{line}");
            }
        }
    });
    Ok(Running { process, mode, up })
}

/// The window's program, `porch-shell`: `<prefix>/lib/porch/porch-shell` for an installed
/// `<prefix>/bin/porch` (the package's layout), else beside this executable (a build folder).
fn shell_program() -> anyhow::Result<std::path::PathBuf> {
    let exe = std::env::current_exe().context("cannot find Porch's own executable")?;
    let dir = exe.parent().ok_or_else(|| anyhow!("Porch's executable {} has no folder", exe.display()))?;
    let mut candidates: Vec<_> = crate::cli::packaged(&exe, SHELL_PROGRAM).into_iter().collect();
    candidates.push(dir.join(SHELL_PROGRAM));
    candidates.iter().find(|path| path.is_file()).cloned().ok_or_else(|| {
        let looked = candidates.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(" and ");
        anyhow!("the window's program is missing: no {SHELL_PROGRAM} at {looked} (build it with `cargo build`, which builds both programs, or reinstall Porch)")
    })
}

/// The window's program name.
const SHELL_PROGRAM: &str = "porch-shell";

fn exit_code(exit: &Exit) -> Option<i32> {
    match exit {
        Exit::Status(status) => status.code(),
        Exit::Unknown(_) => None,
    }
}
