//! The desktop app: Porch serving headless in this process, and the native shell (tray and
//! window) in a child process.
//!
//! Process layout: [`run`] is the GUI `porch`. It starts the engine exactly as `porch serve`
//! does and never initialises GTK or WebKit here, so with the window closed this process
//! costs what a headless server costs. On Linux it also serves the tray icon and the
//! single-instance name on the session bus itself (`bus.rs`, no GTK), so with the window
//! closed it is the only process. The shell is the same binary run as `porch shell`
//! (`shell.rs`), started and watched by `child.rs` through the engine's process runner: it
//! dies with Porch, and its exit status says whether the user quit or asked for a restart.
//! The shell owns only native concerns (STYLE 1.6): the window, the tray where Porch cannot
//! serve it (`child.rs`), drops arriving
//! through the webview, notifications, opening links in the user's browser. It reaches the
//! engine over its loopback HTTP API with the run's key (`commands.rs`, `events.rs`).
//!
//! Concurrency: [`run`] builds one multi-thread tokio runtime, starts the engine on it and
//! supervises the shell on it until the user quits or a signal arrives; then it shuts the
//! engine down, exactly once, on the way out.
//!
//! Lifecycle: closing the window closes it to the tray: the shell ends, and Porch keeps
//! serving with its own tray (or starts the shell's tray form where it has none; `exit`,
//! `shell`, `child`); "Open Porch" in the tray or a second launch starts the window again. "Quit" in the tray ends the shell with status 0 and Porch
//! shuts down; SIGINT/SIGTERM to Porch stop the shell, then the engine.

mod autostart;
#[cfg(target_os = "linux")]
mod bus;
mod child;
mod commands;
mod events;
mod exit;
mod notify;
pub(crate) mod shell;
mod tray;
mod window;

use std::time::Duration;

use anyhow::Context as _;
use porch_engine::data_dir::{DataLock, Holder};
use porch_engine::Config;

use child::Outcome;

/// How long running work gets to finish before the engine stops it.
const GRACE: Duration = Duration::from_secs(5);
/// Backstop: if shutdown itself hangs, exit anyway after this long.
const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(15);

/// Starts the engine on `listener`, runs the desktop shell beside it and serves until the
/// user quits (or a signal arrives).
///
/// `listener` is already bound to the LAN address by the CLI; it is made non-blocking here
/// because tokio requires that of a std listener it adopts. `lock` is the data folder's
/// (taken before binding); it is held until the engine has stopped.
///
/// Every error it returns is a start-up failure (nothing was shown yet): the caller says it
/// in a notification too.
pub(crate) fn run(config: Config, listener: std::net::TcpListener, lock: DataLock) -> anyhow::Result<()> {
    let mut lock = lock;
    // GTK panics deep inside the event loop without a display; say it plainly instead.
    #[cfg(target_os = "linux")]
    if !has_display() {
        anyhow::bail!(
            "no graphical display (DISPLAY and WAYLAND_DISPLAY are unset); \
             run `porch serve` to serve without a window"
        );
    }

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("porch-rt")
        .build()
        .context("cannot start the async runtime")?;

    listener.set_nonblocking(true).context("cannot make the listener non-blocking")?;
    let data_dir = config.data_dir.clone();
    let identity = identity(&config);
    let outcome = runtime.block_on(async {
        // Handlers first: a signal right after start must still shut down cleanly.
        let signals = child::Signals::install()?;
        let listener =
            tokio::net::TcpListener::from_std(listener).context("cannot hand the listener to the async runtime")?;
        let engine = porch_engine::server::start(config, listener).await.context("cannot start the Porch engine")?;
        if let Some(info) = engine.runtime_info() {
            lock.announce(&info.url, &info.origin).context("cannot write the lock file")?;
        }
        tracing::info!(urls = ?engine.viewer_urls(), "serving the library");
        let outcome = child::supervise(&engine, &data_dir, &identity, signals).await;
        tracing::info!("shutting down");
        if tokio::time::timeout(SHUTDOWN_DEADLINE, engine.shutdown(GRACE)).await.is_err() {
            tracing::error!(?SHUTDOWN_DEADLINE, "engine shutdown did not finish; going on anyway");
        }
        Ok::<_, anyhow::Error>(outcome)
    })?;
    runtime.shutdown_timeout(Duration::from_secs(1));
    // The engine has stopped: a restarted Porch takes the folder's lock at its start.
    drop(lock);
    match outcome {
        Outcome::Quit | Outcome::Signal => Ok(()),
        Outcome::Failed(err) => Err(err),
        Outcome::Restart => start_again(),
    }
}

/// Starts this executable again with the same arguments, for "Restart Porch now" (a new
/// process: the new Porch must not be this one's child, which the runner's children are).
fn start_again() -> anyhow::Result<()> {
    let exe = std::env::current_exe().context("cannot find Porch's own executable")?;
    tracing::info!("starting Porch again");
    std::process::Command::new(exe).args(std::env::args_os().skip(1)).spawn().context("cannot start Porch again")?;
    Ok(())
}

/// The app's generated context (config, embedded UI, icons), built in one place only so the
/// UI is embedded once.
fn context() -> tauri::Context {
    tauri::generate_context!()
}

/// The app's context for a data folder. The default folder keeps the app's identifier; any
/// other folder gets one of its own, so the single-instance plugin (whose name comes from the
/// identifier) brings forward the window of the same folder and lets a window on another
/// folder open. Which folder is held is decided by the data folder's lock, not by the plugin.
fn context_for(config: &Config) -> tauri::Context {
    use std::hash::{Hash as _, Hasher as _};
    let mut ctx = context();
    let canonical = |p: &std::path::Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let dir = canonical(&config.data_dir);
    if Config::default_data_dir().map(|d| canonical(&d)) != Some(dir.clone()) {
        // Same binary on both sides, so the (fixed-key) std hasher agrees between them.
        let mut h = std::collections::hash_map::DefaultHasher::new();
        dir.hash(&mut h);
        let id = format!("{}.folder{:016x}", ctx.config().identifier, h.finish());
        ctx.config_mut().identifier = id;
    }
    ctx
}

/// The single-instance name of `config`'s data folder (as `tauri-plugin-single-instance`
/// derives it from the identifier) and the app icon, for Porch's own tray (`child`, `bus`).
fn identity(config: &Config) -> child::Identity {
    let ctx = context_for(config);
    child::Identity {
        instance: format!("{}.SingleInstance", ctx.config().identifier),
        icon: ctx.default_window_icon().map(|icon| (icon.width(), icon.height(), icon.rgba().to_vec())),
    }
}

/// Another `porch` already serves this data folder (`holder`): ask it, through the
/// single-instance plugin, to show its window, which makes this process exit. When it has no
/// window (a headless `porch serve`), say so in a notification too, since a start from the
/// desktop menu has no terminal to print `why` on.
pub(crate) fn focus_running(config: &Config, holder: &Holder, why: anyhow::Error) -> anyhow::Result<()> {
    // Without a display GTK cannot start (it panics), and there is no window to bring
    // forward here anyway: the terminal gets the line naming the running Porch.
    if !has_display() {
        return Err(match &holder.url {
            Some(url) => anyhow::anyhow!("{why}; there is no graphical display here: open {url} in a browser"),
            None => why,
        });
    }
    let app = tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|_, _, _| {}))
        .plugin(tauri_plugin_notification::init())
        .build(context_for(config))
        .context("cannot reach the running Porch")?;
    let message = match &holder.url {
        Some(url) => format!("{why}; it has no window: stop it first or open {url} in a browser"),
        None => why.to_string(),
    };
    drop(app);
    notify_before_exit(&message);
    Err(anyhow::anyhow!(message))
}

/// Shows `err` in a notification when there is a display (a start from the desktop menu has
/// no terminal), and returns it for the terminal. The notification goes through the
/// desktop's notification service (D-Bus); where none runs, the error is printed only.
pub(crate) fn report_failure(err: anyhow::Error) -> anyhow::Result<()> {
    if has_display() {
        notify_before_exit(&format!("{err:#}"));
    }
    Err(err)
}

/// Whether a graphical display is set (X11 or Wayland); without one GTK cannot start.
fn has_display() -> bool {
    std::env::var_os("DISPLAY").is_some() || std::env::var_os("WAYLAND_DISPLAY").is_some()
}

/// Sends a notification and waits (up to a few seconds) until the notification service has
/// taken it. The notification plugin sends on a background task, which a process about to
/// exit would cut short; this is for the start-up failures after which Porch exits at once.
fn notify_before_exit(body: &str) {
    const WAIT: std::time::Duration = std::time::Duration::from_secs(5);
    let (sent, done) = std::sync::mpsc::channel();
    let body = body.to_owned();
    let spawned = std::thread::Builder::new().name("notify".into()).spawn(move || {
        let shown = notify_rust::Notification::new().summary("Porch").body(&body).show();
        if let Err(err) = &shown {
            tracing::debug!(error = %err, %body, "cannot show a notification");
        }
        let _ = sent.send(());
    });
    match spawned {
        // A notification service that does not answer must not keep Porch from exiting.
        Ok(_) => {
            if done.recv_timeout(WAIT).is_err() {
                tracing::debug!("the notification service did not answer in {WAIT:?}");
            }
        }
        Err(err) => tracing::debug!(error = %err, "cannot start the notification thread"),
    }
}
