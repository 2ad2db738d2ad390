//! Porch's own place on the desktop's session bus (Linux): the tray icon and the name a
//! second launch calls, both served by the Porch process itself, with no GTK in it.
//!
//! Why here and not in the shell: with the window closed, nothing of GTK or WebKit needs to
//! stay alive, so the shell child ends and this process alone is Porch (issue 16's "closed to
//! the tray" footprint). The tray is the freedesktop StatusNotifierItem protocol with its
//! menu as `com.canonical.dbusmenu`, the protocol KDE, XFCE, Cinnamon, MATE and GNOME's
//! AppIndicator extension show; a desktop with no `org.kde.StatusNotifierWatcher` on its
//! session bus shows no icon, and then closing the window quits (`child.rs`). The
//! single-instance name is the one `tauri-plugin-single-instance` calls from a second launch
//! (`focus_running`), so that side is unchanged.
//!
//! Ownership: [`Bus`] owns the connection; dropping it releases every name. What the user
//! asks for through it (open the window, quit) goes to `child::supervise` as an [`Ask`];
//! sharing is switched with the engine's own operation, as `PUT /__api__/porch/sharing` does;
//! viewer URLs open in the user's browser (`xdg-open`, in a process group of its own: the
//! browser is the user's, not one of Porch's children).
//!
//! Concurrency: zbus runs the object server on the engine's tokio runtime; the handlers are
//! short and never block. One task keeps the item registered with the watcher (again
//! whenever a tray host starts); [`Bus::tray_shown`] reads its result.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::Arc;

use anyhow::Context as _;
use futures_util::StreamExt as _;
use porch_engine::Engine;
use tokio::sync::mpsc;
use zbus::fdo::RequestNameFlags;
use zbus::object_server::SignalEmitter;
use zbus::zvariant::{OwnedObjectPath, OwnedValue, Str, StructureBuilder, Value};

/// What the user asked for on the bus, for `child::supervise`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Ask {
    /// "Open Porch" in the tray, a click on the icon, or a second launch.
    Open,
    /// "Quit Porch" in the tray.
    Quit,
}

/// The tray item's object path (the path every StatusNotifierItem implementation uses).
const ITEM_PATH: &str = "/StatusNotifierItem";
/// The menu's object path.
const MENU_PATH: &str = "/MenuBar";
const MENU_IFACE: &str = "com.canonical.dbusmenu";
const WATCHER: &str = "org.kde.StatusNotifierWatcher";
const WATCHER_PATH: &str = "/StatusNotifierWatcher";
/// The shell's object (`porch-shell` serves it), for "show the window".
pub const SHELL_PATH: &str = "/org/porch/Shell";
/// The shell's interface on that object.
pub const SHELL_IFACE: &str = "org.porch.Shell";

// The tray menu's item ids (dbusmenu ids; 0 is the root).
const OPEN: i32 = 1;
const SERVING: i32 = 2;
const PAUSE: i32 = 3;
const QUIT: i32 = 4;
const SEPARATOR_A: i32 = 5;
const SEPARATOR_B: i32 = 6;
/// Viewer URL `i` has id `URL_BASE + i`.
const URL_BASE: i32 = 100;

/// Porch's connection to the session bus.
#[derive(Debug)]
pub(crate) struct Bus {
    conn: zbus::Connection,
    shown: Arc<AtomicBool>,
    registrar: tokio::task::JoinHandle<()>,
}

impl Drop for Bus {
    fn drop(&mut self) {
        self.registrar.abort();
    }
}

impl Bus {
    /// Connects to the session bus, serves the tray item, its menu and the single-instance
    /// object, and takes the single-instance name `instance` (`<identifier>.SingleInstance`).
    /// Fails when there is no session bus; the caller then keeps the tray in the shell.
    pub(crate) async fn start(
        instance: &str,
        engine: Engine,
        urls: Vec<String>,
        icon: Option<Pixmap>,
        asks: mpsc::UnboundedSender<Ask>,
    ) -> anyhow::Result<Bus> {
        let item = Item { icon: icon.into_iter().collect(), asks: asks.clone() };
        let menu = Menu {
            engine,
            urls,
            asks: asks.clone(),
            revision: AtomicU32::new(1),
            paused_shown: AtomicBool::new(false),
        };
        let conn = zbus::connection::Builder::session()
            .context("no session bus (DBUS_SESSION_BUS_ADDRESS)")?
            .serve_at(ITEM_PATH, item)?
            .serve_at(MENU_PATH, menu)?
            .serve_at(instance_path(instance), Instance { asks })?
            .build()
            .await
            .context("cannot connect to the session bus")?;
        // A second launch finds this Porch by this name. The data folder's lock is ours, so
        // nothing else should hold it; if something does, a second launch reaches that.
        match conn.request_name_with_flags(instance, RequestNameFlags::DoNotQueue.into()).await {
            Ok(zbus::fdo::RequestNameReply::PrimaryOwner | zbus::fdo::RequestNameReply::AlreadyOwner) => {}
            Ok(reply) => tracing::warn!(
                name = instance,
                ?reply,
                "another process holds Porch's name on the session bus; a second launch will not reach this Porch"
            ),
            Err(err) => {
                tracing::warn!(name = instance, error = %err, "cannot take Porch's name on the session bus; a second launch will not reach this Porch")
            }
        }
        let item_name = format!("org.kde.StatusNotifierItem-{}-1", std::process::id());
        conn.request_name(item_name.as_str()).await.context("cannot take the tray item's name on the session bus")?;
        let shown = Arc::new(AtomicBool::new(false));
        let registrar = tokio::spawn(keep_registered(conn.clone(), item_name, shown.clone()));
        Ok(Bus { conn, shown, registrar })
    }

    /// Whether a tray host shows the icon (a watcher accepted it and is still there).
    pub(crate) fn tray_shown(&self) -> bool {
        self.shown.load(Ordering::Relaxed)
    }

    /// Asks the shell (by its bus name) to show its window.
    pub(crate) async fn show_window(&self, shell: &str) -> anyhow::Result<()> {
        self.conn
            .call_method(Some(shell), SHELL_PATH, Some(SHELL_IFACE), "Show", &())
            .await
            .with_context(|| format!("the desktop shell ({shell}) did not answer"))?;
        Ok(())
    }
}

/// The single-instance plugin's object path for `name`.
fn instance_path(name: &str) -> String {
    format!("/{}", name.replace('.', "/").replace('-', "_"))
}

/// The single-instance interface (the plugin's; [`Instance`] serves it).
const INSTANCE_IFACE: &str = "org.SingleInstance.DBus";

/// A second launch's side of [`Instance`]: calls `ExecuteCallback` on the single-instance
/// name `name` (the Porch serving the folder then shows its window) and waits for the answer.
pub(crate) async fn ask_to_show(name: &str) -> anyhow::Result<()> {
    let conn = zbus::Connection::session().await.context("no session bus")?;
    let argv: Vec<String> = std::env::args().collect();
    let cwd = std::env::current_dir().unwrap_or_default().to_string_lossy().into_owned();
    let (path, body) = (instance_path(name), (argv, cwd));
    let call = conn.call_method(Some(name), path.as_str(), Some(INSTANCE_IFACE), "ExecuteCallback", &body);
    tokio::time::timeout(std::time::Duration::from_secs(10), call)
        .await
        .context("the running Porch did not answer in 10 s")?
        .with_context(|| format!("nothing answers as {name} on the session bus"))?;
    Ok(())
}

/// Registers the item with the watcher now and whenever a watcher (a tray host) appears.
async fn keep_registered(conn: zbus::Connection, item_name: String, shown: Arc<AtomicBool>) {
    let changes = async {
        let dbus = zbus::fdo::DBusProxy::new(&conn).await?;
        dbus.receive_name_owner_changed_with_args(&[(0, WATCHER)]).await
    };
    // Subscribed before the first registration, so a watcher starting in between is seen.
    let mut changes = match changes.await {
        Ok(changes) => Some(changes),
        Err(err) => {
            tracing::warn!(error = %err, "cannot follow tray hosts on the session bus; the icon shows only if one runs now");
            None
        }
    };
    register(&conn, &item_name, &shown).await;
    let Some(changes) = changes.as_mut() else { return };
    while let Some(change) = changes.next().await {
        let Ok(args) = change.args() else { continue };
        if args.new_owner().is_some() {
            register(&conn, &item_name, &shown).await;
        } else {
            shown.store(false, Ordering::Relaxed);
            tracing::info!("the tray host left the session bus; closing the window now quits Porch");
        }
    }
}

async fn register(conn: &zbus::Connection, item_name: &str, shown: &AtomicBool) {
    match conn.call_method(Some(WATCHER), WATCHER_PATH, Some(WATCHER), "RegisterStatusNotifierItem", &item_name).await {
        Ok(_) => {
            shown.store(true, Ordering::Relaxed);
            tracing::info!("tray icon shown");
        }
        Err(err) => {
            shown.store(false, Ordering::Relaxed);
            tracing::info!(error = %err, "no tray host on the session bus (org.kde.StatusNotifierWatcher): no tray icon, and closing the window quits Porch");
        }
    }
}

/// An icon as StatusNotifierItem wants it: width, height, ARGB32 in network byte order.
pub(crate) type Pixmap = (i32, i32, Vec<u8>);

/// `org.kde.StatusNotifierItem`.
struct Item {
    icon: Vec<Pixmap>,
    asks: mpsc::UnboundedSender<Ask>,
}

#[zbus::interface(name = "org.kde.StatusNotifierItem")]
impl Item {
    #[zbus(property)]
    fn category(&self) -> &str {
        "ApplicationStatus"
    }
    #[zbus(property)]
    fn id(&self) -> &str {
        "porch"
    }
    #[zbus(property)]
    fn title(&self) -> &str {
        "Porch"
    }
    #[zbus(property)]
    fn status(&self) -> &str {
        "Active"
    }
    #[zbus(property)]
    fn window_id(&self) -> i32 {
        0
    }
    #[zbus(property)]
    fn icon_name(&self) -> &str {
        ""
    }
    #[zbus(property)]
    fn icon_pixmap(&self) -> Vec<Pixmap> {
        self.icon.clone()
    }
    #[zbus(property)]
    fn overlay_icon_name(&self) -> &str {
        ""
    }
    #[zbus(property)]
    fn attention_icon_name(&self) -> &str {
        ""
    }
    #[zbus(property)]
    fn tool_tip(&self) -> (String, Vec<Pixmap>, String, String) {
        (String::new(), Vec::new(), "Porch".into(), "Serving your library on the network".into())
    }
    /// A click on the icon opens the window; the menu is on the other button.
    #[zbus(property)]
    fn item_is_menu(&self) -> bool {
        false
    }
    #[zbus(property)]
    fn menu(&self) -> OwnedObjectPath {
        zbus::zvariant::ObjectPath::from_static_str_unchecked(MENU_PATH).into()
    }

    fn activate(&self, _x: i32, _y: i32) {
        let _ = self.asks.send(Ask::Open);
    }
    fn secondary_activate(&self, _x: i32, _y: i32) {}
    fn context_menu(&self, _x: i32, _y: i32) {}
    fn scroll(&self, _delta: i32, _orientation: String) {}
}

/// `com.canonical.dbusmenu`: the tray's menu, the same as the shell's tray menu had.
struct Menu {
    engine: Engine,
    urls: Vec<String>,
    asks: mpsc::UnboundedSender<Ask>,
    /// The layout's revision, raised whenever the "Pause sharing" check changes.
    revision: AtomicU32,
    /// The pause state the last layout showed.
    paused_shown: AtomicBool,
}

/// One menu entry: (id, properties, children), the dbusmenu layout `(ia{sv}av)`.
type Layout = (i32, HashMap<String, OwnedValue>, Vec<OwnedValue>);

impl Menu {
    fn entries(&self) -> Vec<(i32, HashMap<String, OwnedValue>)> {
        let label = |text: &str| OwnedValue::from(Str::from(text.to_owned()));
        let mut entries = vec![(OPEN, HashMap::from([("label".to_owned(), label("Open Porch"))]))];
        entries.push((SEPARATOR_A, HashMap::from([("type".to_owned(), label("separator"))])));
        entries.push((
            SERVING,
            HashMap::from([
                ("label".to_owned(), label("Serving on your network:")),
                ("enabled".to_owned(), OwnedValue::from(false)),
            ]),
        ));
        for (i, url) in self.urls.iter().enumerate() {
            let id = URL_BASE + i32::try_from(i).unwrap_or(0);
            entries.push((id, HashMap::from([("label".to_owned(), label(url))])));
        }
        entries.push((SEPARATOR_B, HashMap::from([("type".to_owned(), label("separator"))])));
        let paused = self.engine.library().sharing_paused();
        self.paused_shown.store(paused, Ordering::Relaxed);
        entries.push((
            PAUSE,
            HashMap::from([
                ("label".to_owned(), label("Pause sharing")),
                ("toggle-type".to_owned(), label("checkmark")),
                ("toggle-state".to_owned(), OwnedValue::from(i32::from(paused))),
            ]),
        ));
        entries.push((QUIT, HashMap::from([("label".to_owned(), label("Quit Porch"))])));
        entries
    }

    /// The properties of entry `id` (the root included), filtered to `names` when given.
    fn properties(&self, id: i32, names: &[String]) -> Option<HashMap<String, OwnedValue>> {
        let props = if id == 0 {
            HashMap::from([("children-display".to_owned(), OwnedValue::from(Str::from("submenu")))])
        } else {
            self.entries().into_iter().find(|(entry, _)| *entry == id)?.1
        };
        Some(props.into_iter().filter(|(name, _)| names.is_empty() || names.contains(name)).collect())
    }

    fn clicked(&self, id: i32) {
        match id {
            OPEN => {
                let _ = self.asks.send(Ask::Open);
            }
            QUIT => {
                let _ = self.asks.send(Ask::Quit);
            }
            // Other computers get a "paused" page; this computer keeps working.
            PAUSE => {
                let library = self.engine.library();
                library.set_sharing_paused(!library.sharing_paused());
            }
            _ => {
                let url = usize::try_from(id - URL_BASE).ok().and_then(|i| self.urls.get(i));
                if let Some(url) = url {
                    open_in_browser(url);
                }
            }
        }
    }
}

#[zbus::interface(name = "com.canonical.dbusmenu")]
impl Menu {
    #[zbus(property)]
    fn version(&self) -> u32 {
        3
    }
    #[zbus(property)]
    fn text_direction(&self) -> &str {
        "ltr"
    }
    #[zbus(property)]
    fn status(&self) -> &str {
        "normal"
    }
    #[zbus(property)]
    fn icon_theme_path(&self) -> Vec<String> {
        Vec::new()
    }

    fn get_layout(
        &self,
        parent_id: i32,
        recursion_depth: i32,
        property_names: Vec<String>,
    ) -> zbus::fdo::Result<(u32, Layout)> {
        let root_props = self
            .properties(parent_id, &property_names)
            .ok_or_else(|| zbus::fdo::Error::InvalidArgs(format!("no menu item {parent_id}")))?;
        let mut children = Vec::new();
        // Only the root has children; depth 0 asks for the item alone.
        if parent_id == 0 && recursion_depth != 0 {
            for (id, props) in self.entries() {
                let props: HashMap<String, OwnedValue> = props
                    .into_iter()
                    .filter(|(name, _)| property_names.is_empty() || property_names.contains(name))
                    .collect();
                children.push(layout_value(id, props)?);
            }
        }
        Ok((self.revision.load(Ordering::Relaxed), (parent_id, root_props, children)))
    }

    fn get_group_properties(
        &self,
        ids: Vec<i32>,
        property_names: Vec<String>,
    ) -> Vec<(i32, HashMap<String, OwnedValue>)> {
        ids.into_iter().filter_map(|id| Some((id, self.properties(id, &property_names)?))).collect()
    }

    fn get_property(&self, id: i32, name: String) -> zbus::fdo::Result<OwnedValue> {
        self.properties(id, std::slice::from_ref(&name))
            .and_then(|mut props| props.remove(&name))
            .ok_or_else(|| zbus::fdo::Error::InvalidArgs(format!("menu item {id} has no property {name:?}")))
    }

    async fn event(
        &self,
        id: i32,
        event_id: String,
        _data: OwnedValue,
        _timestamp: u32,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) {
        if event_id == "clicked" {
            self.clicked(id);
            self.refresh(&emitter).await;
        }
    }

    async fn event_group(
        &self,
        events: Vec<(i32, String, OwnedValue, u32)>,
        #[zbus(signal_emitter)] emitter: SignalEmitter<'_>,
    ) -> Vec<i32> {
        for (id, event_id, _, _) in &events {
            if event_id == "clicked" {
                self.clicked(*id);
            }
        }
        self.refresh(&emitter).await;
        Vec::new()
    }

    /// Whether the host must fetch the layout again before showing it: yes when sharing was
    /// switched elsewhere (the window, the API) since the last layout.
    fn about_to_show(&self, _id: i32) -> bool {
        self.engine.library().sharing_paused() != self.paused_shown.load(Ordering::Relaxed)
    }

    fn about_to_show_group(&self, ids: Vec<i32>) -> (Vec<i32>, Vec<i32>) {
        let stale = self.engine.library().sharing_paused() != self.paused_shown.load(Ordering::Relaxed);
        (if stale { ids } else { Vec::new() }, Vec::new())
    }
}

impl Menu {
    /// Tells hosts the layout changed when the pause check no longer matches.
    async fn refresh(&self, emitter: &SignalEmitter<'_>) {
        if self.engine.library().sharing_paused() == self.paused_shown.load(Ordering::Relaxed) {
            return;
        }
        let revision = self.revision.fetch_add(1, Ordering::Relaxed) + 1;
        // `LayoutUpdated(u revision, i parent)`, the whole menu (parent 0) changed.
        if let Err(err) = emitter.emit(MENU_IFACE, "LayoutUpdated", &(revision, 0_i32)).await {
            tracing::debug!(error = %err, "cannot tell the tray host the menu changed");
        }
    }
}

/// One child entry as a dbusmenu layout variant `(ia{sv}av)` with no children.
fn layout_value(id: i32, props: HashMap<String, OwnedValue>) -> zbus::fdo::Result<OwnedValue> {
    let fail = |err: zbus::zvariant::Error| zbus::fdo::Error::Failed(format!("cannot build the tray menu: {err}"));
    let no_children = zbus::zvariant::Array::new(&zbus::zvariant::Signature::Variant);
    let entry = StructureBuilder::new()
        .append_field(Value::I32(id))
        .append_field(Value::from(props))
        .append_field(Value::Array(no_children))
        .build()
        .map_err(fail)?;
    OwnedValue::try_from(entry).map_err(fail)
}

/// `org.SingleInstance.DBus` ([`INSTANCE_IFACE`]), as `tauri-plugin-single-instance` and
/// [`ask_to_show`] call it from a second launch on the same data folder: open the window.
struct Instance {
    asks: mpsc::UnboundedSender<Ask>,
}

#[zbus::interface(name = "org.SingleInstance.DBus")]
impl Instance {
    fn execute_callback(&self, _argv: Vec<String>, _cwd: String) {
        let _ = self.asks.send(Ask::Open);
    }
}

/// Opens `url` (one of Porch's own viewer URLs) in the user's browser with `xdg-open`, in a
/// process group of its own, and reaps it.
fn open_in_browser(url: &str) {
    use std::os::unix::process::CommandExt as _;
    let spawned = std::process::Command::new("xdg-open")
        .arg(url)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .process_group(0)
        .spawn();
    match spawned {
        Ok(mut child) => {
            let _ = std::thread::Builder::new().name("xdg-open".into()).spawn(move || child.wait());
        }
        Err(err) => tracing::warn!(error = %err, %url, "cannot open the viewer URL (xdg-open)"),
    }
}

#[cfg(test)]
mod tests {
    use super::instance_path;

    #[test]
    fn the_single_instance_path_is_the_plugins() {
        // tauri-plugin-single-instance: dots become slashes, dashes underscores.
        assert_eq!(
            instance_path("app.porch.desktop.folder00ab-cd.SingleInstance"),
            "/app/porch/desktop/folder00ab_cd/SingleInstance"
        );
    }
}
