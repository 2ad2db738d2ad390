//! The desktop app's own process: Porch serving in this process, and the window in a child.
//!
//! Process layout: [`run`] is the GUI `porch`. It starts the engine exactly as `porch serve`
//! does, and this program links no GTK or WebKit, so with the window closed this process
//! costs what a headless server costs. On Linux it also serves the tray icon and the
//! single-instance name on the session bus itself (`bus.rs`), so with the window closed it
//! is the only process; and it shows the desktop notifications (`notify.rs`) whether the
//! window is open or not. The window is another program, `porch-shell` (`src-tauri/shell/`),
//! started and watched by `child.rs` through the engine's process runner: it dies with
//! Porch, and its exit status says whether the user quit or asked for a restart. The shell
//! owns only the window's native concerns (STYLE 1.6): the window, the tray where Porch
//! cannot serve it (`child.rs`), drops arriving through the webview, opening links in the
//! user's browser. It reaches the engine over its loopback HTTP API with the run's key.
//!
//! Concurrency: [`run`] builds one multi-thread tokio runtime, starts the engine on it and
//! supervises the shell on it until the user quits or a signal arrives; then it shuts the
//! engine down, exactly once, on the way out.
//!
//! Lifecycle: closing the window closes it to the tray: the shell ends, and Porch keeps
//! serving with its own tray (or starts the shell's tray form where it has none); "Open
//! Porch" in the tray or a second launch starts the window again. "Quit" in the tray stops
//! Porch; SIGINT/SIGTERM to Porch stop the shell, then the engine.

#[cfg(target_os = "linux")]
pub mod bus;
pub mod child;
mod notify;

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
        notify::spawn(&engine);
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

/// The app's identifier (`identifier` in `tauri.conf.json`), which the build script reads.
pub const APP_IDENTIFIER: &str = env!("PORCH_APP_IDENTIFIER");

/// The identifier Porch goes by on the desktop for a data folder: the app's own for the
/// default folder, and one of its own for any other, so a second launch on the same folder
/// reaches the Porch serving it and a window on another folder can open beside it (which
/// folder is held is decided by the data folder's lock). `porch` (for its single-instance
/// name) and `porch-shell` (for Tauri's) both use this one function.
pub fn identifier_for(data_dir: &std::path::Path) -> String {
    use std::hash::{Hash as _, Hasher as _};
    let canonical = |p: &std::path::Path| std::fs::canonicalize(p).unwrap_or_else(|_| p.to_path_buf());
    let dir = canonical(data_dir);
    if Config::default_data_dir().map(|d| canonical(&d)) == Some(dir.clone()) {
        return APP_IDENTIFIER.to_owned();
    }
    // The std hasher has fixed keys, so both programs (one build) agree.
    let mut h = std::collections::hash_map::DefaultHasher::new();
    dir.hash(&mut h);
    format!("{APP_IDENTIFIER}.folder{:016x}", h.finish())
}

/// The single-instance name on the session bus for a data folder, as
/// `tauri-plugin-single-instance` derives it from the identifier (the shell's tray form
/// takes it with that plugin; Porch's own tray with `bus.rs`).
fn instance_name(data_dir: &std::path::Path) -> String {
    format!("{}.SingleInstance", identifier_for(data_dir))
}

/// What Porch's own tray and a second launch need to know about this Porch.
fn identity(config: &Config) -> child::Identity {
    child::Identity { instance: instance_name(&config.data_dir), icon: TRAY_ICON }
}

/// The 32×32 app icon as the tray wants it (width, height, ARGB32 in network byte order),
/// decoded from `icons/32x32.png` by the build script.
const TRAY_ICON: (i32, i32, &[u8]) = (32, 32, include_bytes!(concat!(env!("OUT_DIR"), "/tray_icon.argb")));

/// Another `porch` already serves this data folder (`holder`): ask it to show its window,
/// over the session bus by its single-instance name, and exit. When it has no window (a
/// headless `porch serve`, which holds no such name), say so in a notification too, since a
/// start from the desktop menu has no terminal to print `why` on.
pub(crate) fn focus_running(config: &Config, holder: &Holder, why: anyhow::Error) -> anyhow::Result<()> {
    // Without a display there is no window to bring forward: the terminal gets the line
    // naming the running Porch.
    if !has_display() {
        return Err(match &holder.url {
            Some(url) => anyhow::anyhow!("{why}; there is no graphical display here: open {url} in a browser"),
            None => why,
        });
    }
    match ask_to_show(&instance_name(&config.data_dir)) {
        Ok(()) => return Ok(()),
        Err(err) => tracing::debug!(error = %format!("{err:#}"), "the running Porch has no window to show"),
    }
    let message = match &holder.url {
        Some(url) => format!("{why}; it has no window: stop it first or open {url} in a browser"),
        None => why.to_string(),
    };
    notify_before_exit(&message);
    Err(anyhow::anyhow!(message))
}

/// Asks the Porch holding the single-instance name `name` to show its window (`bus.rs`).
#[cfg(target_os = "linux")]
fn ask_to_show(name: &str) -> anyhow::Result<()> {
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("cannot start the async runtime")?;
    runtime.block_on(bus::ask_to_show(name))
}

/// (Reaching a running Porch's window is done over the session bus; a port to another
/// system replaces this, see docs/platforms.md.)
#[cfg(not(target_os = "linux"))]
fn ask_to_show(_name: &str) -> anyhow::Result<()> {
    anyhow::bail!("bringing a running Porch's window forward needs a Linux desktop's session bus")
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

#[cfg(test)]
mod tests {
    use super::{identifier_for, instance_name, APP_IDENTIFIER};

    #[test]
    fn each_data_folder_has_its_own_stable_identifier() {
        let a = tempfile::tempdir().expect("a folder");
        let b = tempfile::tempdir().expect("another folder");
        let id_a = identifier_for(a.path());
        assert!(id_a.starts_with(&format!("{APP_IDENTIFIER}.folder")), "{id_a}");
        assert_eq!(id_a, identifier_for(a.path()), "the same folder, the same identifier");
        // Another spelling of the same folder is the same folder.
        let dotted = a.path().join(".");
        assert_eq!(id_a, identifier_for(&dotted));
        assert_ne!(id_a, identifier_for(b.path()));
        assert_eq!(instance_name(a.path()), format!("{id_a}.SingleInstance"));
    }
}
