//! The shell (`porch-shell`, started by `porch`): the Library window and, where Porch does
//! not serve the tray itself (`--no-tray` absent, see `porch::desktop::child`), the tray.
//!
//! Ownership: the native side only. Everything about content is asked of the engine of the
//! Porch that started this process (`child.rs`), over its loopback HTTP API with the run's
//! key ([`Porch`], the CLI's client), and its events come from the engine's SSE stream
//! (`events.rs`). The shell holds no lock and no database.
//!
//! With `--no-tray` (Porch's own tray on the session bus), the shell is the window alone: it
//! builds no tray and takes no single-instance name, and serves `org.porch.Shell.Show` on
//! the session bus for Porch's "Open Porch"; closing the window ends it.
//!
//! Without it, two forms: [`Mode::Window`] (tray and window) and [`Mode::Tray`] (tray only,
//! never a webview, so WebKit's web context, its web and network processes, its caches and
//! the GL stack are never started). Closing the window ends this shell with `EXIT_TRAY` (`child.rs`) and
//! Porch starts a new one in the tray form; "Open Porch" and a second `porch` launch end
//! the tray form with `EXIT_WINDOW` and Porch starts one with the window. A new process,
//! not an `execve` of this one: an `execve` keeps every descriptor GTK and WebKit opened
//! without close-on-exec (the X connection with the old windows, WebKit's memory monitor
//! files, its sockets), and the re-executed tray measured 103 MB PSS against 31 MB for a
//! fresh one (debug build; with the GL stack loaded again), and closing descriptors before
//! an `execve` would need `unsafe`.
//!
//! Under WebDriver (`TAURI_WEBVIEW_AUTOMATION`, the GUI e2e), closing keeps the process and
//! only destroys the window: WebKitWebDriver's session lives on this process's inspector
//! connection, which a new process would cut.
//!
//! Concurrency: one multi-thread tokio runtime, handed to Tauri (`async_runtime::set`); the
//! GTK loop runs on the main thread in `App::run_return`; commands and the event reader run
//! on the runtime.

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::{anyhow, Context as _};
use tauri::{Manager as _, RunEvent};

use super::child::{Mode, ENV_KEY, ENV_ORIGIN, ENV_URL, READY};
use super::{commands, events, exit, tray, window};
use crate::cli::client::Porch;

/// How long the shell waits before it ends at a request that expects an answer (a second
/// launch asking for the window in the tray form, "Restart Porch now"): time for the answer
/// to go out first.
pub(crate) const ANSWER_FIRST: std::time::Duration = std::time::Duration::from_millis(300);

/// `porch-shell`: started by `porch` itself, not by users.
#[derive(Debug, clap::Parser)]
#[command(name = "porch-shell", about = "The Porch window; `porch` starts it (run `porch` instead)")]
pub(crate) struct ShellArgs {
    /// The data folder of the Porch that started this shell.
    #[arg(long, env = "PORCH_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Start with the tray icon only, no window.
    #[arg(long)]
    tray: bool,
    /// Build no tray icon and take no single-instance name: Porch serves both itself on the
    /// session bus (`bus.rs`) and asks this shell to show its window over it.
    #[arg(long, conflicts_with = "tray")]
    no_tray: bool,
}

/// How this shell reaches its Porch.
#[derive(Debug, Clone)]
struct Link {
    url: String,
    origin: Option<String>,
    key: String,
}

impl Link {
    /// Reads the URL, origin and key Porch put in the environment, and removes them from
    /// it, so nothing this shell starts (WebKit's processes, the browser opener) inherits
    /// the key.
    ///
    /// Called first thing, before any thread of ours exists (the allocator's background
    /// thread reads no environment), which is what makes removing safe.
    fn from_env() -> anyhow::Result<Link> {
        let read = |name: &str| {
            std::env::var(name).map_err(|_| {
                anyhow!("{name} is not set: `porch-shell` is the Porch window, which `porch` starts (run `porch`)")
            })
        };
        let link = Link {
            url: read(ENV_URL)?,
            origin: std::env::var(ENV_ORIGIN).ok().filter(|o| !o.is_empty()),
            key: read(ENV_KEY)?,
        };
        for name in [ENV_URL, ENV_ORIGIN, ENV_KEY] {
            std::env::remove_var(name);
        }
        Ok(link)
    }
}

/// What commands, the tray and the window share: managed state.
#[derive(Debug)]
pub(crate) struct Shell {
    /// The engine's API.
    pub(crate) porch: Arc<Porch>,
    /// The form it runs in.
    pub(crate) mode: Mode,
    /// Whether Porch holds the tray and the single-instance name (`--no-tray`).
    pub(crate) tray_in_porch: bool,
}

/// Runs the shell; its exit status is its message to Porch (`child.rs`).
pub(crate) fn main() -> ExitCode {
    let args = <ShellArgs as clap::Parser>::parse();
    porch::cli::init_tracing(true);
    match run(args.data_dir, if args.tray { Mode::Tray } else { Mode::Window }, args.no_tray) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(err) => {
            eprintln!("porch-shell: {err:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(data_dir: Option<PathBuf>, mode: Mode, tray_in_porch: bool) -> anyhow::Result<i32> {
    let link = Link::from_env()?;
    let config = crate::cli::base_config(data_dir)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .thread_name("porch-shell")
        .build()
        .context("cannot start the async runtime")?;
    tauri::async_runtime::set(runtime.handle().clone());
    let porch = Arc::new(Porch::remote(config.clone(), &link.url, link.key, link.origin)?);
    let view = runtime.block_on(porch.get("/__api__/porch/server")).context("cannot reach Porch")?;
    let urls: Vec<String> = view["viewer_urls"]
        .as_array()
        .map(|urls| urls.iter().filter_map(|u| u.as_str().map(str::to_string)).collect())
        .unwrap_or_default();
    let shell = Shell { porch, mode, tray_in_porch };
    let context = super::context_for(&config);
    // Beside Porch's own tray: "show the window" arrives on the session bus.
    let handle = Arc::new(std::sync::OnceLock::new());
    let (bus, ready) = if tray_in_porch {
        let (conn, name) = runtime.block_on(show_on_bus(handle.clone()))?;
        // Porch reads the name from the ready line to reach this shell.
        (Some(conn), format!("{READY} {name}"))
    } else {
        (None, READY.to_owned())
    };
    let app = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| build_app(shell, context, urls, ready)));
    let app = match app {
        Ok(Ok(app)) => app,
        Ok(Err(err)) => return Err(err).context("cannot build the desktop app"),
        Err(_) => return Err(anyhow!("cannot open the desktop window (GTK failed to start)")),
    };
    let _ = handle.set(app.handle().clone());
    let code = app.run_return(|app, event| {
        if let RunEvent::ExitRequested { code, api, .. } = event {
            exit::on_exit_requested(app, code, &api);
        }
    });
    drop(bus);
    runtime.shutdown_timeout(std::time::Duration::from_millis(200));
    Ok(code)
}

/// The shell's connection to the session bus, serving `org.porch.Shell` (`Show`) for the
/// Porch that holds the tray. Until `app` is set (the app is built), a call does nothing:
/// the window is being built anyway.
#[cfg(target_os = "linux")]
async fn show_on_bus(app: Arc<std::sync::OnceLock<tauri::AppHandle>>) -> anyhow::Result<(zbus::Connection, String)> {
    let conn = zbus::connection::Builder::session()
        .context("no session bus")?
        .serve_at(super::bus::SHELL_PATH, ShowWindow(app))?
        .build()
        .await
        .context("cannot connect to the session bus")?;
    let name = conn.unique_name().map(|n| n.to_string()).ok_or_else(|| anyhow!("the session bus gave no name"))?;
    Ok((conn, name))
}

#[cfg(not(target_os = "linux"))]
async fn show_on_bus(_: Arc<std::sync::OnceLock<tauri::AppHandle>>) -> anyhow::Result<((), String)> {
    Err(anyhow!("--no-tray needs the session bus of a Linux desktop"))
}

/// `org.porch.Shell`: Porch's "Open Porch" (tray, second launch) while this shell runs.
#[cfg(target_os = "linux")]
struct ShowWindow(Arc<std::sync::OnceLock<tauri::AppHandle>>);

#[cfg(target_os = "linux")]
#[zbus::interface(name = "org.porch.Shell")]
impl ShowWindow {
    fn show(&self) {
        let Some(app) = self.0.get() else { return };
        let shown = app.clone();
        if let Err(err) = app.run_on_main_thread(move || window::show_main(&shown)) {
            tracing::warn!(error = %err, "cannot open the window");
        }
    }
}

/// The Tauri app: plugins, managed state, commands, tray, and the window in window mode.
fn build_app(shell: Shell, context: tauri::Context, urls: Vec<String>, ready: String) -> tauri::Result<tauri::App> {
    let mode = shell.mode;
    let tray_in_porch = shell.tray_in_porch;
    let mut builder = tauri::Builder::default();
    if !tray_in_porch {
        builder = builder
            // First: a second `porch` start on the same data folder only brings the window to
            // the front (the plugin's name is per folder: see `context_for`).
            .plugin(tauri_plugin_single_instance::init(|app, _args, _cwd| {
                if app.state::<Shell>().mode == Mode::Window {
                    window::show_main(app);
                    return;
                }
                // The tray form ends (Porch starts the window form), which would cut the D-Bus call
                // of the second launch before the plugin answers it (that launch then fails with
                // "NoReply"). The answer goes out when this callback returns; the shell ends a
                // moment later.
                let app = app.clone();
                tauri::async_runtime::spawn(async move {
                    tokio::time::sleep(ANSWER_FIRST).await;
                    let shown = app.clone();
                    if let Err(err) = app.run_on_main_thread(move || window::show_main(&shown)) {
                        tracing::warn!(error = %err, "cannot open the window");
                    }
                });
            }));
    }
    builder
        .plugin(tauri_plugin_shell::init())
        .plugin(tauri_plugin_window_state::Builder::default().build())
        .manage(shell)
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
            if tray_in_porch {
                // Porch decides what a close means (to its tray, or quit with none shown).
                app.state::<window::CloseToTray>().enable();
                window::create_main(app.handle())?;
                events::spawn(app.handle().clone(), app.state::<Shell>().porch.clone());
                println!("{ready}");
                return Ok(());
            }
            let tray = tray::install(app, &urls);
            match &tray {
                Ok(()) => app.state::<window::CloseToTray>().enable(),
                // Without a tray there would be no way back to a closed window, nor to quit,
                // so closing the window quits instead (see `window::CloseToTray`).
                Err(err) => {
                    tracing::warn!(error = %err, "no tray icon; closing the window will quit")
                }
            }
            // `tauri.conf.json` says `create: false`: every instance of the window is built
            // by `window::create_main`. The tray form has none, unless there is no tray.
            if mode == Mode::Window || tray.is_err() {
                window::create_main(app.handle())?;
            }
            events::spawn(app.handle().clone(), app.state::<Shell>().porch.clone());
            // Porch counts the shell as up from here (a failure before is a start-up failure).
            println!("{ready}");
            Ok(())
        })
        .build(context)
}
