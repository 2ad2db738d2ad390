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
//! Lifecycle: closing the window hides it and the server keeps serving; "Quit" in the tray
//! (or SIGINT/SIGTERM) asks Tauri to exit, and [`exit`] turns that request into exactly one
//! graceful engine shutdown followed by the real exit.

mod autostart;
mod commands;
mod events;
mod exit;
mod notify;
mod tray;
mod window;

use anyhow::Context as _;
use porch_engine::{Config, Engine};
use tauri::{Manager as _, RunEvent, WindowEvent};

/// Starts the engine on `listener` and runs the desktop app until the user quits.
///
/// `listener` is already bound to the LAN address by the CLI; it is made non-blocking here
/// because tokio requires that of a std listener it adopts.
pub(crate) fn run(config: Config, listener: std::net::TcpListener) -> anyhow::Result<()> {
    // GTK panics deep inside the event loop without a display; say it plainly instead.
    #[cfg(target_os = "linux")]
    if std::env::var_os("DISPLAY").is_none() && std::env::var_os("WAYLAND_DISPLAY").is_none() {
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
    let engine = runtime.block_on(async move {
        let listener =
            tokio::net::TcpListener::from_std(listener).context("cannot hand the listener to the async runtime")?;
        porch_engine::server::start(config, listener).await.context("cannot start the Porch engine")
    })?;
    tracing::info!(urls = ?engine.viewer_urls(), "serving the library");

    // Tauri must spawn onto our runtime, not build a second one.
    tauri::async_runtime::set(runtime.handle().clone());

    let app = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| build_app(engine.clone())));
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
    if code != 0 {
        anyhow::bail!("the desktop app exited with code {code}");
    }
    Ok(())
}

/// The Tauri app: plugins, managed state, commands, tray, event forwarding and window rules.
fn build_app(engine: Engine) -> tauri::Result<tauri::App> {
    tauri::Builder::default()
        // First: a second `porch` start only brings this window to the front.
        .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
            window::show_main(app);
        }))
        .plugin(tauri_plugin_shell::init())
        .plugin(tauri_plugin_notification::init())
        .plugin(tauri_plugin_window_state::Builder::default().build())
        .manage(engine.clone())
        .manage(exit::ExitGate::default())
        .manage(window::HideOnClose::default())
        .invoke_handler(tauri::generate_handler![
            commands::list_content,
            commands::deploy_path,
            commands::preview_path,
            commands::stage_path,
            commands::api_request,
            commands::autostart_get,
            commands::autostart_set,
            commands::server_info,
            commands::open_external,
            commands::restart_app,
        ])
        .setup(move |app| {
            match tray::install(app, &engine.viewer_urls()) {
                Ok(()) => app.state::<window::HideOnClose>().enable(),
                // Without a tray there would be no way back to a hidden window, nor to quit,
                // so closing the window quits instead (see `window::HideOnClose`).
                Err(err) => {
                    tracing::warn!(error = %err, "no tray icon; closing the window will quit")
                }
            }
            events::forward(app.handle().clone(), engine.subscribe());
            notify::spawn(app.handle().clone(), engine.clone());
            exit::quit_on_signal(app.handle().clone());
            Ok(())
        })
        .on_window_event(|window, event| {
            if let WindowEvent::CloseRequested { api, .. } = event {
                window::on_close_requested(window, api);
            }
        })
        .build(context())
}

/// The app's generated context (config, embedded UI, icons), built in one place only so the
/// UI is embedded once.
fn context() -> tauri::Context {
    tauri::generate_context!()
}

/// Another `porch` already serves this data folder: ask it (through the single-instance
/// plugin) to show its window, which makes this process exit. When it has no window (a
/// headless `porch serve`), say so.
pub(crate) fn focus_running(running: &porch_engine::RuntimeInfo) -> anyhow::Result<()> {
    let app = tauri::Builder::default()
        .plugin(tauri_plugin_single_instance::init(|_, _, _| {}))
        .build(context())
        .context("cannot reach the running Porch")?;
    drop(app);
    anyhow::bail!(
        "Porch is already serving this data folder without a window (pid {}, {}); stop it first or open {} in a browser",
        running.pid,
        running.url,
        running.url
    )
}
