//! The main window's native behaviour: show/focus, hide on close, and links to the browser.
//!
//! Ownership: the window itself is declared in `tauri.conf.json` (label `main`); this module
//! only reacts to it. [`HideOnClose`] is managed state, switched on once a tray exists.
//!
//! Concurrency: called from the GTK main thread (window events, menu events) and from
//! commands; the only shared state is one atomic flag.

use std::sync::atomic::{AtomicBool, Ordering};

use tauri::{AppHandle, CloseRequestApi, Manager as _, Runtime, Window};

/// The label of the Library window in `tauri.conf.json`.
pub(crate) const MAIN_WINDOW: &str = "main";

/// Whether closing the window only hides it. True only when a tray icon exists, because the
/// tray is then the way back to the window and the way to quit.
#[derive(Debug, Default)]
pub(crate) struct HideOnClose(AtomicBool);

impl HideOnClose {
    /// Called once the tray icon is up.
    pub(crate) fn enable(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    fn enabled(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }
}

/// Closing the window keeps Porch serving: hide instead, unless there is no tray to come back by.
pub(crate) fn on_close_requested<R: Runtime>(window: &Window<R>, api: &CloseRequestApi) {
    if !window.state::<HideOnClose>().enabled() {
        return;
    }
    api.prevent_close();
    if let Err(err) = window.hide() {
        tracing::warn!(error = %err, "cannot hide the window");
    }
}

/// Brings the Library window back to the front.
pub(crate) fn show_main<R: Runtime>(app: &AppHandle<R>) {
    let Some(window) = app.get_webview_window(MAIN_WINDOW) else {
        tracing::warn!("the main window is gone");
        return;
    };
    for result in [window.show(), window.unminimize(), window.set_focus()] {
        if let Err(err) = result {
            tracing::warn!(error = %err, "cannot show the window");
        }
    }
}

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
