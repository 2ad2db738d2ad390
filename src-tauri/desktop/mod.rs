//! The desktop shell: one window showing the Library, a tray menu, and an orderly exit.
//!
//! Ownership: the shell owns only native concerns (STYLE 1.6): the window, the tray, drops
//! arriving through the webview, opening links in the user's browser, and process exit.
//! Everything about content lives in [`porch_engine::Engine`], which the shell starts, hands
//! to Tauri as managed state, and shuts down.
//!
//! Concurrency: [`run`] builds one multi-thread tokio runtime, starts the engine on it, and
//! gives Tauri the same runtime (`tauri::async_runtime::set`), so commands, the event
//! forwarder and the HTTP server share it. The GTK event loop runs on the calling (main)
//! thread inside `App::run_return`; callbacks from it only spawn onto the runtime, never block.
//!
//! Lifecycle: closing the window closes it to the tray: the window and its webview are
//! destroyed (WebKit's web process exits) and the server keeps serving; the tray's "Open
//! Porch" or a second launch builds it again (`window`). "Quit" in the tray (or
//! SIGINT/SIGTERM) asks Tauri to exit, and [`exit`] turns that request into exactly one
//! graceful engine shutdown followed by the real exit.

mod autostart;
mod commands;
mod events;
mod exit;
mod notify;
mod tray;
mod window;

use anyhow::Context as _;
use porch_engine::data_dir::{DataLock, Holder};
use porch_engine::{Config, Engine};
use tauri::{Manager as _, RunEvent};

/// Starts the engine on `listener` and runs the desktop app until the user quits.
///
/// `listener` is already bound to the LAN address by the CLI; it is made non-blocking here
/// because tokio requires that of a std listener it adopts. `lock` is the data folder's
/// (taken before binding); it is held until the app exits.
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
    let tauri_context = context_for(&config);
    let engine = runtime.block_on(async move {
        let listener =
            tokio::net::TcpListener::from_std(listener).context("cannot hand the listener to the async runtime")?;
        porch_engine::server::start(config, listener).await.context("cannot start the Porch engine")
    })?;
    if let Some(info) = engine.runtime_info() {
        lock.announce(&info.url, &info.origin).context("cannot write the lock file")?;
    }
    tracing::info!(urls = ?engine.viewer_urls(), "serving the library");

    // Tauri must spawn onto our runtime, not build a second one.
    tauri::async_runtime::set(runtime.handle().clone());

    // Shared with the exit path: a restart releases the lock once the engine has stopped, so
    // the new process can take it.
    let held = exit::HeldLock::new(lock);
    let app = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        build_app(engine.clone(), tauri_context, held.clone())
    }));
    let app = match app {
        Ok(Ok(app)) => app,
        failed => {
            // No window after all (e.g. an unreachable display, where GTK panics): stop
            // serving cleanly rather than by dropping the runtime under the engine.
            runtime.block_on(engine.shutdown(exit::GRACE));
            return match failed {
                Ok(Err(err)) => Err(err).context("cannot build the desktop app"),
                _ => Err(anyhow::anyhow!("cannot open the desktop window (GTK failed to start)")),
            };
        }
    };

    let code = app.run_return(|app, event| {
        if let RunEvent::ExitRequested { code, api, .. } = event {
            exit::on_exit_requested(app, code, &api);
        }
    });

    // The engine has been shut down by now (see `exit`); give stragglers a moment.
    runtime.shutdown_timeout(std::time::Duration::from_secs(1));
    held.release();
    if code != 0 {
        return Err(Exited(code).into());
    }
    Ok(())
}

/// The window ran and then exited with a failure code (as opposed to failing to start).
#[derive(Debug)]
struct Exited(i32);

impl std::fmt::Display for Exited {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the desktop app exited with code {}", self.0)
    }
}

impl std::error::Error for Exited {}

/// Whether an error of [`run`] happened before the window was up (then the user, who may have
/// started Porch from the menu, has seen nothing and must be told in a notification).
pub(crate) fn is_startup_failure(err: &anyhow::Error) -> bool {
    !err.is::<Exited>()
}

/// The Tauri app: plugins, managed state, commands, tray, event forwarding and window rules.
fn build_app(engine: Engine, context: tauri::Context, held: exit::HeldLock) -> tauri::Result<tauri::App> {
    tauri::Builder::default()
        // First: a second `porch` start on the same data folder only brings this window to
        // the front (the plugin's name is per folder: see `context_for`).
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            window::show_main(app);
        }))
        .plugin(tauri_plugin_shell::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_window_state::Builder::default().build())
        .manage(engine.clone())
        .manage(exit::ExitGate::default())
        .manage(held)
        .manage(window::CloseToTray::default())
        .invoke_handler(tauri::generate_handler![
            commands::list_content,
            commands::deploy_path,
            commands::preview_path,
            commands::stage_path,
            commands::api_request,
            commands::api_upload,
            commands::thumbnail_from_path,
            commands::thumbnail_data_url,
            commands::autostart_get,
            commands::autostart_set,
            commands::server_info,
            commands::open_external,
            commands::restart_app,
        ])
        .setup(move |app| {
            match tray::install(app, &engine.viewer_urls()) {
                Ok(()) => app.state::<window::CloseToTray>().enable(),
                // Without a tray there would be no way back to a closed window, nor to quit,
                // so closing the window quits instead (see `window::CloseToTray`).
                Err(err) => {
                    tracing::warn!(error = %err, "no tray icon; closing the window will quit")
                }
            }
            // `tauri.conf.json` says `create: false`: every instance of the window, this
            // first one included, is built by `window::create_main`.
            window::create_main(app.handle())?;
            events::forward(app.handle().clone(), engine.subscribe());
            notify::spawn(app.handle().clone(), engine.clone());
            exit::quit_on_signal(app.handle().clone());
            Ok(())
        })
        .build(context)
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
