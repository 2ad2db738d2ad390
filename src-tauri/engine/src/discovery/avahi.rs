//! Publishing through avahi-daemon: where avahi already answers mDNS for this computer (most
//! Linux desktops), Porch registers its `_http._tcp` service through avahi's D-Bus API on the
//! system bus instead of running a second responder on UDP 5353, which would answer for the
//! same host name and push one of the two to `<name>-2.local`.
//!
//! Owns the D-Bus side only: finding `org.freedesktop.Avahi` on the system bus (zbus honours
//! `DBUS_SYSTEM_BUS_ADDRESS`), watching it come and go (`NameOwnerChanged`), and two avahi
//! entry groups per publication:
//! - the **service group**: `_http._tcp` "Porch on <name>" on Porch's port with TXT `path=/`;
//!   when another computer lists a service of that name, avahi's own alternative
//!   (`GetAlternativeServiceName`, "Porch on pc #2") is taken;
//! - the **host group**, only when the `hostname` setting differs from the name avahi answers
//!   for: one A/AAAA record per LAN address for `<hostname>.local` (`AddAddress`, without the
//!   reverse PTR, which is avahi's own host's), so the name the user chose works too; when
//!   another computer answers for it, Porch's rule applies (`<hostname>-2`, as with its own
//!   responder). When the setting is avahi's host name, or avahi's name after avahi's own
//!   conflict handling renamed it (`pc` → `pc-2`), Porch uses avahi's name and says why.
//!
//! Does not: start, configure or rename avahi-daemon, or publish while the `discovery` setting
//! is off (the groups are freed; avahi also frees them when Porch's bus connection closes, so a
//! killed Porch leaves nothing behind). When avahi is absent or leaves the bus, the caller
//! falls back to Porch's own responder (`super::Advert`).
//!
//! Concurrency: runs inside the discovery task (`super::Discovery::run`); every D-Bus call has a
//! deadline, so a bus that does not answer cannot stall the task; zbus runs its socket reader
//! on the tokio runtime.

use std::net::SocketAddr;
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::watch;
use zbus::Connection;

use super::{advert_service, host_label, suffixed, Addresses, DiscoverySettings, NameState, NetworkName, Responder};

/// avahi-daemon's well-known name on the system bus.
pub const AVAHI: &str = "org.freedesktop.Avahi";

/// The longest any one D-Bus exchange may take.
const CALL_LIMIT: Duration = Duration::from_secs(5);

// avahi's constants (avahi-common/defs.h).
/// Any interface.
const IF_UNSPEC: i32 = -1;
/// Any protocol (IPv4 and IPv6).
const PROTO_UNSPEC: i32 = -1;
/// IPv4.
const PROTO_INET: i32 = 0;
/// IPv6.
const PROTO_INET6: i32 = 1;
/// `AVAHI_PUBLISH_NO_REVERSE`: an address record without its reverse PTR (the address's PTR
/// belongs to avahi's own host name; a second one would be a local collision).
const PUBLISH_NO_REVERSE: u32 = 16;
/// Entry group states (`AvahiEntryGroupState`).
const GROUP_ESTABLISHED: i32 = 2;
const GROUP_COLLISION: i32 = 3;
const GROUP_FAILURE: i32 = 4;
/// Server state `AVAHI_SERVER_RUNNING`: the host name is established.
const SERVER_RUNNING: i32 = 2;

/// avahi's `org.freedesktop.Avahi.Server` interface at `/` (the proxies live in their own
/// modules: each declares a `StateChanged` signal, and the macro names its types after it).
mod server_api {
    #[zbus::proxy(
        interface = "org.freedesktop.Avahi.Server",
        default_service = "org.freedesktop.Avahi",
        default_path = "/",
        gen_blocking = false
    )]
    pub trait Server {
        /// The host name avahi answers for, without `.local`.
        fn get_host_name(&self) -> zbus::Result<String>;
        /// `AvahiServerState`.
        fn get_state(&self) -> zbus::Result<i32>;
        /// avahi's next name for a service whose name another computer uses ("X" → "X #2").
        fn get_alternative_service_name(&self, name: &str) -> zbus::Result<String>;
        /// A new, empty entry group owned by this connection.
        fn entry_group_new(&self) -> zbus::Result<zbus::zvariant::OwnedObjectPath>;
        /// The server's state changed (a host name collision, a new name established).
        #[zbus(signal)]
        fn state_changed(&self, state: i32, error: String) -> zbus::Result<()>;
    }
}

/// avahi's `org.freedesktop.Avahi.EntryGroup` interface, at the path `EntryGroupNew` returns.
mod group_api {
    #[zbus::proxy(
        interface = "org.freedesktop.Avahi.EntryGroup",
        default_service = "org.freedesktop.Avahi",
        gen_blocking = false
    )]
    pub trait EntryGroup {
        /// Withdraws the group's records and deletes it.
        fn free(&self) -> zbus::Result<()>;
        /// Starts probing and announcing the records added so far.
        fn commit(&self) -> zbus::Result<()>;
        /// Withdraws and forgets the records, keeping the group.
        fn reset(&self) -> zbus::Result<()>;
        /// `AvahiEntryGroupState`.
        fn get_state(&self) -> zbus::Result<i32>;
        /// Adds a DNS-SD service (`host` empty: avahi's own host name).
        #[allow(clippy::too_many_arguments)]
        fn add_service(
            &self,
            interface: i32,
            protocol: i32,
            flags: u32,
            name: &str,
            type_: &str,
            domain: &str,
            host: &str,
            port: u16,
            txt: Vec<Vec<u8>>,
        ) -> zbus::Result<()>;
        /// Adds an address record for `name`.
        fn add_address(&self, interface: i32, protocol: i32, flags: u32, name: &str, address: &str)
            -> zbus::Result<()>;
        /// The group's state changed (established, collision, failure).
        #[zbus(signal)]
        fn state_changed(&self, state: i32, error: String) -> zbus::Result<()>;
    }
}

use group_api::{EntryGroupProxy, StateChangedStream as GroupStates};
use server_api::ServerProxy;

/// A D-Bus exchange with avahi (or the bus) that failed.
#[derive(Debug, thiserror::Error)]
pub enum AvahiError {
    /// The call failed or avahi refused it.
    #[error("{about}: {source}")]
    Call {
        /// What was being done.
        about: &'static str,
        /// The bus's or avahi's error.
        #[source]
        source: zbus::Error,
    },
    /// The bus or avahi did not answer in time.
    #[error("{about}: no answer within {} s", CALL_LIMIT.as_secs())]
    Timeout {
        /// What was being done.
        about: &'static str,
    },
}

/// Runs one D-Bus exchange with [`CALL_LIMIT`].
async fn call<T, E: Into<zbus::Error>>(
    about: &'static str,
    fut: impl std::future::Future<Output = Result<T, E>>,
) -> Result<T, AvahiError> {
    match tokio::time::timeout(CALL_LIMIT, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(AvahiError::Call { about, source: e.into() }),
        Err(_) => Err(AvahiError::Timeout { about }),
    }
}

/// Tells when avahi's name on the bus changes hands (avahi-daemon started or stopped).
pub struct OwnerWatch {
    stream: zbus::fdo::NameOwnerChangedStream,
}

impl OwnerWatch {
    /// Waits for the next change; `None` once the bus connection is gone (then nothing more
    /// will be seen, and the caller stops watching).
    pub async fn changed(&mut self) -> Option<()> {
        self.stream.next().await.map(|_| ())
    }
}

/// What [`find`] found on the system bus.
pub enum Lookup {
    /// avahi-daemon owns its name: publish through it.
    Running(Avahi),
    /// No avahi: Porch answers with its own responder. `watch` sees avahi appear (when there is
    /// a system bus); `why` says why in words.
    Absent {
        /// Sees avahi-daemon start, when there is a bus to watch.
        watch: Option<OwnerWatch>,
        /// Why Porch's own responder answers, e.g. "avahi-daemon is not running".
        why: String,
    },
}

/// A connection to the system bus on which avahi-daemon runs.
pub struct Avahi {
    conn: Connection,
    server: ServerProxy<'static>,
    watch: OwnerWatch,
}

/// Whether avahi-daemon runs on this computer, by its own socket (which nss-mdns talks to
/// when a program resolves a `.local` name); no bus needed.
pub fn daemon_running() -> bool {
    std::path::Path::new("/run/avahi-daemon/socket").exists()
}

/// Looks for avahi-daemon on the system bus (`DBUS_SYSTEM_BUS_ADDRESS`, else the standard socket).
pub async fn find() -> Lookup {
    let conn = match call("connecting to the D-Bus system bus", Connection::system()).await {
        Ok(c) => c,
        Err(e) => {
            tracing::debug!(error = %e, "no D-Bus system bus; avahi cannot be asked");
            return Lookup::Absent { watch: None, why: "no D-Bus system bus to find avahi-daemon on".into() };
        }
    };
    match look(&conn).await {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(error = %e, "cannot ask the system bus for avahi-daemon");
            Lookup::Absent { watch: None, why: format!("avahi-daemon cannot be asked ({e})") }
        }
    }
}

async fn look(conn: &Connection) -> Result<Lookup, AvahiError> {
    let dbus = call("opening the bus's own interface", zbus::fdo::DBusProxy::new(conn)).await?;
    // Subscribe before asking, so that avahi starting in between is seen.
    let stream = call("watching avahi-daemon's name", dbus.receive_name_owner_changed_with_args(&[(0, AVAHI)])).await?;
    let watch = OwnerWatch { stream };
    let name = zbus::names::BusName::try_from(AVAHI)
        .map_err(|e| AvahiError::Call { about: "avahi's name", source: e.into() })?;
    if !call("asking whether avahi-daemon runs", dbus.name_has_owner(name)).await? {
        return Ok(Lookup::Absent { watch: Some(watch), why: "avahi-daemon is not running".into() });
    }
    let server = call("opening avahi-daemon's server interface", ServerProxy::new(conn)).await?;
    Ok(Lookup::Running(Avahi { conn: conn.clone(), server, watch }))
}

/// Whether `avahi_host` is the name asked for, or that name as avahi's own conflict handling
/// renamed it (`pc` → `pc-2` → `pc-3`): then Porch uses avahi's name rather than publishing
/// the taken one again.
fn is_avahis_name_for(wanted: &str, avahi_host: &str) -> bool {
    let host = avahi_host.to_ascii_lowercase();
    if host == wanted {
        return true;
    }
    host.strip_prefix(wanted)
        .and_then(|rest| rest.strip_prefix('-'))
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

/// How a publication through avahi ended.
pub enum AvahiEnd {
    /// Porch stops.
    Stop,
    /// The settings, the addresses or avahi's host name changed: look again.
    Again,
    /// avahi-daemon left the bus: look again (and fall back to Porch's own responder).
    Gone,
    /// avahi refused or failed; the note says so. Tried again later.
    Failed(String),
}

/// One entry group and its state signals.
struct Group {
    proxy: EntryGroupProxy<'static>,
    states: GroupStates,
}

impl Group {
    async fn new(conn: &Connection, server: &ServerProxy<'static>) -> Result<Group, AvahiError> {
        let path = call("creating an avahi entry group", server.entry_group_new()).await?;
        let builder = EntryGroupProxy::builder(conn)
            .path(path)
            .map_err(|e| AvahiError::Call { about: "the entry group's path", source: e })?;
        let proxy = call("opening the avahi entry group", builder.build()).await?;
        // Subscribed before the first commit, so no state change is missed.
        let states = call("watching the avahi entry group", proxy.receive_state_changed()).await?;
        Ok(Group { proxy, states })
    }

    /// The next state the group signals, with avahi's error text; `None` when the bus
    /// connection is gone. Cancel-safe (it only takes the next signal), so it can sit in a
    /// `select!` beside the poll; [`Group::current`] then says what the state is now.
    async fn next_state(&mut self) -> Option<(i32, String)> {
        let signal = self.states.next().await?;
        Some(signal.args().map(|a| (a.state, a.error)).unwrap_or((-1, String::new())))
    }

    /// The group's state now (`said`, the signalled one, if avahi does not answer): a signal
    /// may be stale after the group was reset and filled again.
    async fn current(&self, said: i32) -> i32 {
        call("reading the entry group's state", self.proxy.get_state()).await.unwrap_or(said)
    }

    async fn free(self) {
        if let Err(e) = call("freeing the avahi entry group", self.proxy.free()).await {
            tracing::debug!(error = %e, "avahi entry group");
        }
    }
}

/// The group's next state, or never when there is no group.
async fn next_state(group: &mut Option<Group>) -> Option<(i32, String)> {
    match group {
        Some(g) => g.next_state().await,
        None => std::future::pending().await,
    }
}

/// Why a publication could not be set up.
enum Refused {
    /// Something on this computer already publishes the host name (another Porch through the
    /// same avahi): like a conflict on the network, the next name is tried.
    HostTaken,
    /// Something on this computer already lists a service of that name.
    ServiceTaken,
    /// avahi refused or did not answer.
    Failed(AvahiError),
}

/// Whether avahi refused because the name is already published on this computer.
fn is_local_collision(e: &AvahiError) -> bool {
    matches!(e, AvahiError::Call { source: zbus::Error::MethodError(name, _, _), .. } if name.as_str() == "org.freedesktop.Avahi.CollisionError")
}

/// The interface index avahi should publish the service on: the bound address's, or any.
fn service_interface(addr: SocketAddr) -> i32 {
    if addr.ip().is_unspecified() {
        return IF_UNSPEC;
    }
    index_where(|i| i.ip() == addr.ip())
}

/// The kernel's index (avahi's numbering) of the first interface `pick` accepts, or any.
fn index_where(pick: impl Fn(&if_addrs::Interface) -> bool) -> i32 {
    if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .find(|i| pick(i))
        .and_then(|i| i.index)
        .and_then(|i| i32::try_from(i).ok())
        .unwrap_or(IF_UNSPEC)
}

/// The records of one publication.
struct Records<'a> {
    /// The name published as address records (`None`: avahi's own host name).
    host: Option<&'a str>,
    /// The addresses for `host`.
    addresses: &'a Addresses,
    /// The service's instance name.
    service: &'a str,
    /// The interface the service is listed on.
    interface: i32,
    /// Porch's port.
    port: u16,
}

/// (Re)fills and commits the groups with `records`.
async fn publish(host_group: Option<&Group>, service_group: &Group, records: &Records<'_>) -> Result<(), Refused> {
    if let (Some(group), Some(host)) = (host_group, records.host) {
        call("resetting the host group", group.proxy.reset()).await.map_err(Refused::Failed)?;
        let fqdn = format!("{host}.local");
        let mut added = 0;
        let mut last = None;
        for (interface, ip) in records.addresses {
            let proto = if ip.is_ipv4() { PROTO_INET } else { PROTO_INET6 };
            let index = index_where(|i| i.name == *interface);
            let ip_text = ip.to_string();
            let add = group.proxy.add_address(index, proto, PUBLISH_NO_REVERSE, &fqdn, &ip_text);
            match call("adding an address record", add).await {
                Ok(()) => added += 1,
                Err(e) if is_local_collision(&e) => return Err(Refused::HostTaken),
                // avahi refuses an address of a protocol it does not use (`use-ipv6=no`):
                // the other addresses still count.
                Err(e) => {
                    tracing::debug!(error = %e, %ip, %interface, "avahi did not take this address");
                    last = Some(e);
                }
            }
        }
        if let (0, Some(e)) = (added, last) {
            return Err(Refused::Failed(e));
        }
        call("committing the host group", group.proxy.commit()).await.map_err(Refused::Failed)?;
    }
    let group = &service_group.proxy;
    call("resetting the service group", group.reset()).await.map_err(Refused::Failed)?;
    let host = records.host.map(|h| format!("{h}.local")).unwrap_or_default();
    let txt = vec![b"path=/".to_vec()];
    let add = group.add_service(
        records.interface,
        PROTO_UNSPEC,
        0,
        records.service,
        "_http._tcp",
        "",
        &host,
        records.port,
        txt,
    );
    match call("adding the service", add).await {
        Ok(()) => {}
        Err(e) if is_local_collision(&e) => return Err(Refused::ServiceTaken),
        Err(e) => return Err(Refused::Failed(e)),
    }
    call("committing the service group", group.commit()).await.map_err(Refused::Failed)
}

/// What woke the publication up.
enum Step {
    End(AvahiEnd),
    HostState(i32, String),
    ServiceState(i32, String),
}

impl super::Discovery {
    /// Publishes through avahi until the settings, the addresses or avahi change, or Porch stops.
    pub(super) async fn through_avahi(
        &self,
        avahi: Avahi,
        wanted: &str,
        addr: SocketAddr,
        settings: &mut watch::Receiver<DiscoverySettings>,
        poll: &mut tokio::time::Interval,
    ) -> AvahiEnd {
        let Avahi { conn, server, mut watch } = avahi;
        let failed = |e: AvahiError| AvahiEnd::Failed(format!("not announced: avahi-daemon refused ({e})"));
        let mut server_states = match call("watching avahi-daemon's state", server.receive_state_changed()).await {
            Ok(s) => s,
            Err(e) => return failed(e),
        };
        let cancel = self.shared.cancel.clone();
        // Records added before avahi has established its own host name are not announced
        // (avahi's clients publish in its RUNNING state): wait for it, then look again.
        match call("asking avahi-daemon's state", server.get_state()).await {
            Ok(SERVER_RUNNING) => {}
            Ok(state) => {
                tracing::debug!(state, "avahi-daemon is not running yet");
                let note = "avahi-daemon is starting: Porch publishes through it once it runs".to_string();
                let why = "avahi-daemon answers mDNS on this computer".to_string();
                let view = self.plain(NameState::Probing, wanted, note);
                self.show(NetworkName { responder: Some(Responder::Avahi), responder_why: Some(why), ..view });
                return tokio::select! {
                    _ = cancel.cancelled() => AvahiEnd::Stop,
                    changed = settings.changed() => if changed.is_err() { AvahiEnd::Stop } else { AvahiEnd::Again },
                    _ = watch.changed() => AvahiEnd::Gone,
                    state = server_states.next() => if state.is_some() { AvahiEnd::Again } else { AvahiEnd::Gone },
                };
            }
            Err(e) => return failed(e),
        }
        let avahi_host = match call("asking avahi-daemon for its host name", server.get_host_name()).await {
            Ok(h) => host_label(&h),
            Err(e) => return failed(e),
        };
        // Whose name: avahi's (the setting is avahi's name, or was before avahi renamed it
        // after a conflict), or the user's, published as extra address records.
        let own_records = !is_avahis_name_for(wanted, &avahi_host);
        let mut taken: Vec<String> = Vec::new();
        if !own_records && avahi_host != wanted {
            taken.push(wanted.to_string());
        }
        let mut host = if own_records { wanted.to_string() } else { avahi_host.clone() };
        let mut service = advert_service(&host);
        let why = if own_records {
            format!(
                "avahi-daemon answers mDNS on this computer (as {avahi_host}.local): Porch publishes its service \
                 and the name it was given through avahi, so one responder uses port 5353"
            )
        } else {
            "avahi-daemon answers mDNS on this computer: Porch publishes its service through avahi under \
             avahi's name, so one responder uses port 5353"
                .to_string()
        };
        let view = |state: NameState, host: &str, service: &str, taken: &[String]| {
            let name = format!("{host}.local");
            let note = match (state, taken.last()) {
                (NameState::Probing, _) => format!("{name}: avahi-daemon is checking that no other computer uses it"),
                (_, Some(t)) => format!("{name}: {t}.local is taken by another computer"),
                _ => format!("{name}: announced on the network through avahi-daemon"),
            };
            NetworkName {
                state,
                wanted: format!("{wanted}.local"),
                url: (state == NameState::Advertising).then(|| format!("http://{name}:{}/", addr.port())),
                name: Some(name),
                service: Some(service.to_string()),
                note,
                responder: Some(Responder::Avahi),
                responder_why: Some(why.clone()),
            }
        };
        let addresses = super::announceable(addr);
        if own_records && addresses.is_empty() {
            let note = "not announced yet: no network address (loopback and virtual interfaces do not count)";
            self.show(NetworkName { note: note.into(), ..self.plain(NameState::Waiting, wanted, String::new()) });
            return tokio::select! {
                _ = cancel.cancelled() => AvahiEnd::Stop,
                changed = settings.changed() => if changed.is_err() { AvahiEnd::Stop } else { AvahiEnd::Again },
                _ = poll.tick() => AvahiEnd::Again,
            };
        }
        let mut service_group = match Group::new(&conn, &server).await {
            Ok(g) => g,
            Err(e) => return failed(e),
        };
        let mut host_group = None;
        if own_records {
            match Group::new(&conn, &server).await {
                Ok(g) => host_group = Some(g),
                Err(e) => {
                    service_group.free().await;
                    return failed(e);
                }
            }
        }
        let interface = service_interface(addr);
        let end = 'publish: loop {
            let records = Records {
                host: own_records.then_some(host.as_str()),
                addresses: &addresses,
                service: &service,
                interface,
                port: addr.port(),
            };
            match publish(host_group.as_ref(), &service_group, &records).await {
                Ok(()) => {}
                Err(Refused::HostTaken) => {
                    taken.push(host.clone());
                    host = suffixed(wanted, taken.len() + 1);
                    service = advert_service(&host);
                    tracing::info!(taken = %taken.join(", "), %host, "the network name is published on this computer already; using another");
                    continue 'publish;
                }
                Err(Refused::ServiceTaken) => {
                    match call("asking avahi for another service name", server.get_alternative_service_name(&service))
                        .await
                    {
                        Ok(other) => {
                            service = other;
                            continue 'publish;
                        }
                        Err(e) => break 'publish failed(e),
                    }
                }
                Err(Refused::Failed(e)) => break 'publish failed(e),
            }
            self.show(view(NameState::Probing, &host, &service, &taken));
            let (mut host_ok, mut service_ok) = (!own_records, false);
            loop {
                let step = tokio::select! {
                    _ = cancel.cancelled() => Step::End(AvahiEnd::Stop),
                    changed = settings.changed() => Step::End(if changed.is_err() { AvahiEnd::Stop } else { AvahiEnd::Again }),
                    // avahi-daemon stopped (or the bus went away).
                    _ = watch.changed() => Step::End(AvahiEnd::Gone),
                    state = server_states.next() => match state {
                        None => Step::End(AvahiEnd::Gone),
                        // avahi re-registers its host name (a conflict on the network, a
                        // rename): its clients publish again once it runs, so look again.
                        Some(signal) if signal.args().is_ok_and(|a| a.state != SERVER_RUNNING) => {
                            tracing::info!("avahi-daemon is registering its host name again; publishing again once it runs");
                            Step::End(AvahiEnd::Again)
                        }
                        Some(_) => continue,
                    },
                    // Porch's own address records follow the addresses; avahi's follow avahi.
                    _ = poll.tick(), if own_records => {
                        let now = super::announceable(addr);
                        if now == addresses { continue }
                        tracing::info!(before = ?addresses, after = ?now, "the network addresses changed; publishing again");
                        Step::End(AvahiEnd::Again)
                    }
                    state = next_state(&mut host_group) => match state {
                        Some((s, e)) => Step::HostState(s, e),
                        None => Step::End(AvahiEnd::Gone),
                    },
                    state = service_group.next_state() => match state {
                        Some((s, e)) => Step::ServiceState(s, e),
                        None => Step::End(AvahiEnd::Gone),
                    },
                };
                let step = match step {
                    Step::HostState(said, e) => match &host_group {
                        Some(g) => Step::HostState(g.current(said).await, e),
                        None => continue,
                    },
                    Step::ServiceState(said, e) => Step::ServiceState(service_group.current(said).await, e),
                    end => end,
                };
                match step {
                    Step::End(end) => break 'publish end,
                    Step::HostState(GROUP_ESTABLISHED, _) => host_ok = true,
                    Step::ServiceState(GROUP_ESTABLISHED, _) => service_ok = true,
                    Step::HostState(GROUP_COLLISION, _) => {
                        taken.push(host.clone());
                        let next = suffixed(wanted, taken.len() + 1);
                        tracing::info!(old = %host, new = %next, "the network name is taken; using another");
                        host = next;
                        service = advert_service(&host);
                        continue 'publish;
                    }
                    Step::ServiceState(GROUP_COLLISION, _) => {
                        match call(
                            "asking avahi for another service name",
                            server.get_alternative_service_name(&service),
                        )
                        .await
                        {
                            Ok(other) => {
                                tracing::info!(old = %service, new = %other, "the service name is taken; using another");
                                service = other;
                                continue 'publish;
                            }
                            Err(e) => break 'publish failed(e),
                        }
                    }
                    Step::HostState(GROUP_FAILURE, e) | Step::ServiceState(GROUP_FAILURE, e) => {
                        break 'publish AvahiEnd::Failed(format!(
                            "not announced: avahi-daemon could not publish ({e})"
                        ));
                    }
                    Step::HostState(..) | Step::ServiceState(..) => {}
                }
                if host_ok && service_ok {
                    self.show(view(NameState::Advertising, &host, &service, &taken));
                }
            }
        };
        // Withdraw now (avahi says goodbye on the network), not when the connection closes.
        if let Some(g) = host_group {
            g.free().await;
        }
        service_group.free().await;
        self.shared.set_local_name(None);
        end
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn avahis_name_counts_when_it_is_the_setting_or_avahis_rename_of_it() {
        assert!(is_avahis_name_for("pc", "pc"));
        assert!(is_avahis_name_for("pc", "PC"));
        assert!(is_avahis_name_for("pc", "pc-2"));
        assert!(is_avahis_name_for("pc", "pc-13"));
        assert!(!is_avahis_name_for("pc", "pc-"));
        assert!(!is_avahis_name_for("pc", "pc-two"));
        assert!(!is_avahis_name_for("pc", "laptop"));
        assert!(!is_avahis_name_for("team-reports", "pc"));
    }
}
