//! The main window's native behaviour: create it (again), show/focus it, close it to the
//! tray, keep its webview light, and open links in the browser.
//!
//! Ownership: the window's settings are declared in `tauri.conf.json` (label `main`, with
//! `create: false`); this module builds every instance of it from that entry, at start and
//! whenever it is opened after being closed. [`CloseToTray`] is managed state, switched on
//! once a tray exists.
//!
//! Closing the window to the tray destroys it, webview and all, and `exit` then ends the
//! shell, while the engine keeps serving in Porch's own process (with Porch's own tray no
//! shell runs until the window is opened again; otherwise the shell starts again in its
//! tray form, no WebKit at all). Opening it again (tray "Open Porch", a second launch)
//! starts the shell with its window; the Library reads its state from the engine, so
//! nothing is lost.
//!
//! Concurrency: called from the GTK main thread (setup, menu events) and from other threads
//! (the single-instance plugin's callback); Tauri marshals window creation onto the main
//! thread. The only shared state is one atomic flag.

use std::sync::atomic::{AtomicBool, Ordering};

use tauri::{AppHandle, Manager as _, Runtime, WebviewWindow, WebviewWindowBuilder};

use super::child::{Mode, EXIT_WINDOW};
use super::shell::Shell;

/// The label of the Library window in `tauri.conf.json`.
pub(crate) const MAIN_WINDOW: &str = "main";

/// Whether closing the window closes it to the tray (Porch keeps serving). True only when a
/// tray icon exists, because the tray is then the way back to the window and the way to quit;
/// without one, closing the last window quits.
#[derive(Debug, Default)]
pub(crate) struct CloseToTray(AtomicBool);

impl CloseToTray {
    /// Called once the tray icon is up.
    pub(crate) fn enable(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    /// Whether a tray exists to come back by.
    pub(crate) fn enabled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Builds the Library window from its `tauri.conf.json` entry and makes its webview light.
pub(crate) fn create_main<R: Runtime>(app: &AppHandle<R>) -> tauri::Result<WebviewWindow<R>> {
    let config = app
        .config()
        .app
        .windows
        .iter()
        .find(|w| w.label == MAIN_WINDOW)
        .cloned()
        .ok_or_else(|| tauri::Error::WindowNotFound)?;
    let window = WebviewWindowBuilder::from_config(app, &config)?.build()?;
    light_webview(&window);
    Ok(window)
}

/// Brings the Library window to the front, building it again if it was closed to the tray.
/// The tray form of the shell ends instead, and Porch starts the window form (`shell`).
pub(crate) fn show_main<R: Runtime>(app: &AppHandle<R>) {
    if app.state::<Shell>().mode == Mode::Tray && app.get_webview_window(MAIN_WINDOW).is_none() {
        // Porch starts the shell again with its window.
        app.exit(EXIT_WINDOW);
        return;
    }
    let window = match app.get_webview_window(MAIN_WINDOW) {
        Some(window) => window,
        None => match create_main(app) {
            Ok(window) => {
                tracing::info!("the window is open again");
                window
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot open the window");
                return;
            }
        },
    };
    for result in [window.show(), window.unminimize(), window.set_focus()] {
        if let Err(err) = result {
            tracing::warn!(error = %err, "cannot show the window");
        }
    }
}

/// WebKit settings that cost memory here without a benefit. Tauri offers no hook before the
/// webview exists, so they are applied right after it is built (on the main thread, before
/// the page has painted); WebKit passes settings changes on to the web process.
///
/// - hardware acceleration policy `Never`: no accelerated compositing, hence no GL context
///   and no compositing layers' buffers in the web process (on a machine without a GPU that
///   is Mesa's software renderer, whose buffers and threads cost most). The Library is a
///   page of text and tables; it scrolls as well without. This is what the environment
///   variable `WEBKIT_DISABLE_COMPOSITING_MODE=1` does (measured 243 vs 326 MB, issue 16),
///   set through the API because Porch sets no environment variables in its own process.
/// - the page cache (back/forward cache) off: the window is one page that never navigates
///   away, so a cached previous page would only hold memory.
/// - WebGL off: no screen draws with it (wry turns it on by default).
/// - cache model `DocumentViewer`: the smallest memory cache. Every resource comes from
///   the binary (`tauri://`) or through IPC, so a resource cache saves nothing.
#[cfg(target_os = "linux")]
fn light_webview<R: Runtime>(window: &WebviewWindow<R>) {
    let applied = window.with_webview(|webview| {
        use webkit2gtk::{CacheModel, HardwareAccelerationPolicy, SettingsExt as _, WebContextExt as _, WebViewExt};
        let view = webview.inner();
        if let Some(settings) = WebViewExt::settings(&view) {
            // Under WebDriver (tauri-driver sets TAURI_WEBVIEW_AUTOMATION), WebKitWebDriver's
            // screenshots wait for a composited frame that never comes without compositing
            // (the GUI e2e hung there), so a window under automation keeps it.
            if std::env::var_os("TAURI_WEBVIEW_AUTOMATION").is_none() {
                settings.set_hardware_acceleration_policy(HardwareAccelerationPolicy::Never);
            }
            settings.set_enable_page_cache(false);
            settings.set_enable_webgl(false);
        }
        if let Some(context) = view.context() {
            context.set_cache_model(CacheModel::DocumentViewer);
        }
    });
    if let Err(err) = applied {
        tracing::warn!(error = %err, "cannot apply the webview's memory settings");
    }
}

#[cfg(not(target_os = "linux"))]
fn light_webview<R: Runtime>(_window: &WebviewWindow<R>) {}

/// Opens `url` in the user's default browser. Only `http` and `https` URLs are accepted.
///
/// SECURITY: the URL may come from the webview; refusing other schemes keeps `file:` paths,
/// `javascript:` and custom handlers away from the system opener.
pub(crate) fn open_in_browser<R: Runtime>(app: &AppHandle<R>, url: &str) -> Result<(), String> {
    let lower = url.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://")) {
        return Err(format!("only http and https links can be opened, not {url:?}"));
    }
    use tauri_plugin_shell::ShellExt as _;
    // `Shell::open` is deprecated in favour of tauri-plugin-opener; it is what the package
    // depends on today and behaves the same for plain URLs.
    #[allow(deprecated)]
    app.shell().open(url, None).map_err(|err| format!("cannot open {url}: {err}"))
}
