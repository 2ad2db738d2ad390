//! The system bus side of keep-awake: systemd-logind's inhibitor and UPower's `OnBattery`.
//!
//! Owns the D-Bus calls (zbus, on the tokio runtime) and nothing else: whether to hold an
//! inhibitor is decided in `awake/mod.rs`.
//!
//! - [`Bus::inhibit`] calls `org.freedesktop.login1.Manager.Inhibit("sleep:idle", "Porch",
//!   why, "block")` and returns the file descriptor logind hands back: the inhibitor lasts
//!   exactly as long as that descriptor is open, so dropping the [`Inhibitor`] releases it.
//! - [`Bus::on_battery`] reads UPower's `OnBattery`; [`Bus::battery_changes`] is a stream of
//!   UPower's `PropertiesChanged` signals, after which the caller reads it again.
//!
//! The bus is the one `DBUS_SYSTEM_BUS_ADDRESS` names, else the system's
//! (`/run/dbus/system_bus_socket`): zbus reads that variable, which is how the tests point a
//! server at a private bus without touching the machine's.
//!
//! Concurrency: a [`Bus`] is a cheap clone of one zbus connection; its calls are awaited by
//! the keep-awake task only, never on a request's path.

use std::time::Duration;

use futures_util::StreamExt;
use zbus::zvariant::OwnedFd;
use zbus::{Connection, MatchRule, MessageStream};

const LOGIND: &str = "org.freedesktop.login1";
const LOGIND_PATH: &str = "/org/freedesktop/login1";
const LOGIND_MANAGER: &str = "org.freedesktop.login1.Manager";
const UPOWER: &str = "org.freedesktop.UPower";
const UPOWER_PATH: &str = "/org/freedesktop/UPower";
const PROPERTIES: &str = "org.freedesktop.DBus.Properties";

/// How long connecting to the bus or one call may take before keep-awake gives up on it
/// (a hung bus must not keep the view saying "checking" forever).
const CALL_LIMIT: Duration = Duration::from_secs(10);

/// Why the system bus could not be used, in words for the Settings pane.
#[derive(Debug, thiserror::Error)]
pub enum BusError {
    /// No system bus to connect to, or it refused the connection.
    #[error("no system bus ({source})")]
    NoBus {
        /// zbus's error.
        #[source]
        source: zbus::Error,
    },
    /// The bus did not answer in time.
    #[error("the system bus did not answer within {} s ({what})", CALL_LIMIT.as_secs())]
    Timeout {
        /// What was asked.
        what: &'static str,
    },
    /// logind is not on the bus.
    #[error("systemd-logind is not running on the system bus ({message})")]
    NoLogind {
        /// The bus's message.
        message: String,
    },
    /// logind (through polkit) refused the inhibitor.
    #[error("systemd-logind refused the inhibitor: {message}")]
    Refused {
        /// logind's message, e.g. polkit's "Access denied".
        message: String,
    },
    /// Any other failed call.
    #[error("{what} failed ({source})")]
    Call {
        /// What was asked.
        what: &'static str,
        /// zbus's error.
        #[source]
        source: zbus::Error,
    },
}

/// An open logind inhibitor: closing it (dropping this) ends it.
#[derive(Debug)]
pub struct Inhibitor {
    _fd: OwnedFd,
}

/// A connection to the system bus.
#[derive(Debug, Clone)]
pub struct Bus {
    conn: Connection,
}

async fn limited<T>(what: &'static str, f: impl std::future::Future<Output = T>) -> Result<T, BusError> {
    tokio::time::timeout(CALL_LIMIT, f).await.map_err(|_| BusError::Timeout { what })
}

impl Bus {
    /// Connects to the system bus.
    pub async fn connect() -> Result<Bus, BusError> {
        let conn = limited("connecting", Connection::system()).await?.map_err(|source| BusError::NoBus { source })?;
        Ok(Bus { conn })
    }

    /// Whether logind owns its name on the bus now (a quick check at start, so the Settings
    /// pane can say "unavailable" before anything needs the inhibitor).
    pub async fn logind_running(&self) -> Result<bool, BusError> {
        let args = (LOGIND,);
        let call = self.conn.call_method(
            Some("org.freedesktop.DBus"),
            "/org/freedesktop/DBus",
            Some("org.freedesktop.DBus"),
            "NameHasOwner",
            &args,
        );
        let reply = limited("asking for logind", call)
            .await?
            .map_err(|source| BusError::Call { what: "NameHasOwner", source })?;
        reply.body().deserialize::<bool>().map_err(|source| BusError::Call { what: "NameHasOwner", source })
    }

    /// Takes a `sleep:idle` block inhibitor for "Porch" with this reason.
    pub async fn inhibit(&self, why: &str) -> Result<Inhibitor, BusError> {
        let args = ("sleep:idle", "Porch", why, "block");
        let call = self.conn.call_method(Some(LOGIND), LOGIND_PATH, Some(LOGIND_MANAGER), "Inhibit", &args);
        let reply = match limited("Inhibit", call).await? {
            Ok(reply) => reply,
            Err(zbus::Error::MethodError(name, message, _)) => {
                let message = message.unwrap_or_else(|| name.to_string());
                return Err(match name.as_str() {
                    "org.freedesktop.DBus.Error.ServiceUnknown" | "org.freedesktop.DBus.Error.NameHasNoOwner" => {
                        BusError::NoLogind { message }
                    }
                    _ => BusError::Refused { message: format!("{message} ({name})") },
                });
            }
            Err(source) => return Err(BusError::Call { what: "Inhibit", source }),
        };
        let fd = reply.body().deserialize::<OwnedFd>().map_err(|source| BusError::Call { what: "Inhibit", source })?;
        Ok(Inhibitor { _fd: fd })
    }

    /// UPower's `OnBattery`; `None` when UPower is not there (a desktop without it, a
    /// server): treated as mains power.
    pub async fn on_battery(&self) -> Option<bool> {
        let args = (UPOWER, "OnBattery");
        let call = self.conn.call_method(Some(UPOWER), UPOWER_PATH, Some(PROPERTIES), "Get", &args);
        let reply = limited("reading OnBattery", call).await.ok()?.ok()?;
        let value = reply.body().deserialize::<zbus::zvariant::OwnedValue>().ok()?;
        bool::try_from(value).ok()
    }

    /// UPower's `PropertiesChanged` signals (subscribe before reading [`Bus::on_battery`], so
    /// no change falls between the two).
    pub async fn battery_changes(&self) -> Result<impl futures_util::Stream<Item = ()> + Unpin, BusError> {
        let rule = MatchRule::builder()
            .msg_type(zbus::message::Type::Signal)
            .sender(UPOWER)
            .and_then(|b| b.path(UPOWER_PATH))
            .and_then(|b| b.interface(PROPERTIES))
            .and_then(|b| b.member("PropertiesChanged"))
            .map_err(|source| BusError::Call { what: "watching UPower", source })?
            .build();
        let stream = limited("watching UPower", MessageStream::for_match_rule(rule, &self.conn, Some(8)))
            .await?
            .map_err(|source| BusError::Call { what: "watching UPower", source })?;
        Ok(stream.map(|_| ()))
    }
}
