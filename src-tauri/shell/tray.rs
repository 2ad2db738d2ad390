//! The shell's tray icon and its menu: open the window, open the LAN URL(s), pause sharing,
//! quit. Used where Porch cannot serve its own tray on the session bus (`bus.rs`, the same
//! menu; `child.rs` says which runs).
//!
//! Ownership: the tray is registered with the app (Tauri keeps it alive); menu actions only
//! call into `window`, `AppHandle::exit` (the shell exits, and its Porch shuts down) and the
//! engine's API (pause sharing).
//!
//! Concurrency: menu events arrive on the GTK main thread and must not block; each handler
//! here is a few native calls.

use tauri::menu::{CheckMenuItem, Menu, MenuItem, PredefinedMenuItem};
use tauri::tray::TrayIconBuilder;
use tauri::{App, AppHandle, Manager as _, Runtime};

use super::shell::Shell;
use super::window;

const OPEN_ID: &str = "open";
const QUIT_ID: &str = "quit";
const PAUSE_ID: &str = "pause";
/// Menu ids for viewer URLs are `url:<index into the URL list>`.
const URL_PREFIX: &str = "url:";

/// Builds the tray icon. Fails when the desktop has no tray support; the caller then makes
/// closing the window quit instead.
pub(crate) fn install<R: Runtime>(app: &App<R>, viewer_urls: &[String]) -> tauri::Result<()> {
    let open = MenuItem::with_id(app, OPEN_ID, "Open Porch", true, None::<&str>)?;
    let serving = MenuItem::with_id(app, "serving", "Serving on your network:", false, None::<&str>)?;
    let url_items = viewer_urls
        .iter()
        .enumerate()
        .map(|(i, url)| MenuItem::with_id(app, format!("{URL_PREFIX}{i}"), url, true, None::<&str>))
        .collect::<tauri::Result<Vec<_>>>()?;
    let pause = CheckMenuItem::with_id(app, PAUSE_ID, "Pause sharing", true, false, None::<&str>)?;
    let quit = MenuItem::with_id(app, QUIT_ID, "Quit Porch", true, None::<&str>)?;
    let sep_a = PredefinedMenuItem::separator(app)?;
    let sep_b = PredefinedMenuItem::separator(app)?;

    let mut items: Vec<&dyn tauri::menu::IsMenuItem<R>> = vec![&open, &sep_a, &serving];
    items.extend(url_items.iter().map(|item| item as &dyn tauri::menu::IsMenuItem<R>));
    items.extend([&sep_b as &dyn tauri::menu::IsMenuItem<R>, &pause, &quit]);
    let menu = Menu::with_items(app, &items)?;

    let urls = viewer_urls.to_vec();
    let mut builder = TrayIconBuilder::with_id("porch")
        .tooltip("Porch")
        .menu(&menu)
        .on_menu_event(move |app, event| on_menu(app, event.id().as_ref(), &urls));
    if let Some(icon) = app.default_window_icon() {
        builder = builder.icon(icon.clone());
    }
    builder.build(app)?;
    Ok(())
}

fn on_menu<R: Runtime>(app: &AppHandle<R>, id: &str, urls: &[String]) {
    match id {
        OPEN_ID => window::show_main(app),
        // The shell exits with status 0; its Porch then shuts the engine down (`child.rs`).
        QUIT_ID => app.exit(0),
        // Other computers get a "paused" page; this computer keeps working.
        PAUSE_ID => {
            let porch = app.state::<Shell>().porch.clone();
            tauri::async_runtime::spawn(async move {
                let switched = async {
                    let view = porch.get("/__api__/porch/server").await?;
                    let paused = view["sharing_paused"].as_bool().unwrap_or(false);
                    porch
                        .call(
                            reqwest::Method::PUT,
                            "/__api__/porch/sharing",
                            crate::cli::client::Body::Json(serde_json::json!({ "paused": !paused })),
                        )
                        .await
                };
                if let Err(err) = switched.await {
                    tracing::warn!(error = %format!("{err:#}"), "cannot switch sharing");
                }
            });
        }
        _ => {
            let url = id.strip_prefix(URL_PREFIX).and_then(|i| i.parse::<usize>().ok()).and_then(|i| urls.get(i));
            if let Some(url) = url {
                if let Err(err) = window::open_in_browser(app, url) {
                    tracing::warn!(%err, "cannot open the viewer URL");
                }
            }
        }
    }
}
