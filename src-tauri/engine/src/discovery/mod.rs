//! The discovery service: the name Porch answers to on the network (`<name>.local`) and the
//! `_http._tcp` service "Porch on <name>" that other computers' service browsers list
//! (mDNS / DNS-SD, RFC 6762/6763).
//!
//! Owns who answers for Porch while it serves, is bound to the network, and the `discovery`
//! setting is on: where avahi-daemon runs on the D-Bus system bus (most Linux desktops), the
//! service is registered through avahi ([`avahi`]) and no second responder is started; where
//! avahi is absent, or once it leaves the bus, Porch runs its own mDNS responder (the
//! `mdns-sd` crate's daemon: its own thread and sockets on UDP 5353), and switches to avahi
//! when avahi appears. Also owns the name actually in use, who answers and why
//! ([`NetworkName`], in the server view), and the name the rest of the engine uses for links
//! (handed to `shared`, which builds the viewer URLs from it). Its own responder advertises
//! the host `<name>.local` with this computer's addresses, skipping loopback and virtual
//! interfaces (container bridges, VPN tunnels: see [`is_virtual`]), or only the interface of
//! the bound address when Porch is bound to one.
//!
//! - **Conflicts**: the daemon probes every name before announcing it (RFC 6762 §8). When
//!   another computer answers for `<name>.local`, the daemon picks `<name>-2.local`; Porch
//!   then registers the service again as "Porch on <name>-2" on that host, and the server
//!   view says which name was taken. Every start probes the setting's name afresh.
//! - **Address changes**: with its own responder, this service lists the interfaces every
//!   [`IP_CHECK_SECS`] seconds (one `getifaddrs` call) and, when the announceable addresses
//!   changed, stops the responder (saying goodbye) and starts a fresh one, which probes and
//!   announces the new addresses. Through avahi, avahi follows its host's addresses itself;
//!   the poll runs only when Porch publishes a name of its own there. That poll is the only
//!   periodic wake-up of this service (none while off or bound to this computer only).
//! - **Settings** (`hostname`, `discovery`) apply at once: the settings service hands them
//!   over with [`Discovery::configure`]; the responder stops and starts again with them.
//!
//! Does not: read the settings (the settings service pushes them), configure avahi-daemon,
//! or decide who may connect (the gateway does).
//!
//! Concurrency: one task on the shared tracker owns the daemon and reacts to settings,
//! daemon events and the shutdown token; the settings and the view are `watch` channels,
//! read without waiting by the server view.

pub mod avahi;
pub mod name;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use mdns_sd::{DaemonEvent, IfKind, IfPredicate, RRType, ServiceDaemon, ServiceInfo};
use serde::Serialize;
use tokio::sync::watch;

use crate::shared::Shared;

/// How often the interfaces are listed to see changed addresses, in seconds.
pub const IP_CHECK_SECS: u64 = 5;

/// The DNS-SD service type Porch advertises.
const SERVICE_TYPE: &str = "_http._tcp.local.";

/// The settings this service follows (`hostname`, `discovery` in the registry).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DiscoverySettings {
    /// The name asked for (already checked: one lowercase label).
    pub hostname: String,
    /// Whether to advertise at all.
    pub on: bool,
}

/// What the responder is doing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum NameState {
    /// Porch is not serving (the CLI's engine).
    NotServing,
    /// Checking that nobody else uses the name.
    Probing,
    /// Answering for the name and listing the service.
    Advertising,
    /// The `discovery` setting is off.
    Off,
    /// Porch listens on this computer only: nothing to advertise.
    LocalOnly,
    /// No address to announce yet (no network, or only loopback and virtual interfaces).
    Waiting,
    /// The responder could not start (see the note).
    Unavailable,
}

/// Who answers other computers' mDNS questions for Porch.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "snake_case")]
pub enum Responder {
    /// Porch's own responder (the `mdns-sd` daemon on UDP 5353).
    Own,
    /// avahi-daemon, through its D-Bus API (`avahi.rs`).
    Avahi,
}

/// The name Porch answers to on the network, as the server view shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct NetworkName {
    /// What the responder is doing.
    pub state: NameState,
    /// The name asked for (the `hostname` setting), e.g. `my-laptop.local`.
    pub wanted: String,
    /// The name in use, e.g. `my-laptop-2.local`; null unless probing or advertising.
    pub name: Option<String>,
    /// The service's name in other computers' browsers, e.g. `Porch on my-laptop-2`.
    pub service: Option<String>,
    /// `http://NAME.local:PORT/` while advertising.
    pub url: Option<String>,
    /// The state in words, e.g. "my-laptop-2.local: my-laptop.local is taken by another computer".
    pub note: String,
    /// Who answers for the name: Porch's own responder or avahi-daemon; null while nothing is announced.
    pub responder: Option<Responder>,
    /// Why that responder, e.g. "avahi-daemon is not running"; null while nothing is announced.
    pub responder_why: Option<String>,
}

/// The discovery service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Discovery {
    shared: Shared,
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    settings: watch::Sender<DiscoverySettings>,
    view: watch::Sender<NetworkName>,
}

impl Discovery {
    /// The service with the settings read at start-up; advertises nothing until [`Discovery::start`].
    pub(crate) fn new(shared: Shared, settings: DiscoverySettings) -> Discovery {
        let view = NetworkName {
            state: NameState::NotServing,
            wanted: format!("{}.local", settings.hostname),
            name: None,
            service: None,
            url: None,
            note: "Porch is not serving".into(),
            responder: None,
            responder_why: None,
        };
        let inner = Inner { settings: watch::Sender::new(settings), view: watch::Sender::new(view) };
        Discovery { shared, inner: Arc::new(inner) }
    }

    /// Follows changed settings (at once: the responder restarts with them).
    pub fn configure(&self, settings: DiscoverySettings) {
        let changed = self.inner.settings.send_if_modified(|cur| {
            let changed = *cur != settings;
            *cur = settings;
            changed
        });
        if changed {
            // Links stop using the old name now, not when the responder has caught up.
            self.shared.set_local_name(None);
        }
    }

    /// The name in use and why.
    pub fn view(&self) -> NetworkName {
        self.inner.view.borrow().clone()
    }

    /// Waits up to `limit` for the responder to settle (advertising, off, or unavailable),
    /// then returns the view: `porch serve` prints the name once it is known.
    pub async fn settled(&self, limit: Duration) -> NetworkName {
        let mut rx = self.inner.view.subscribe();
        let settled = |v: &NetworkName| !matches!(v.state, NameState::Probing | NameState::NotServing);
        let _ = tokio::time::timeout(limit, rx.wait_for(settled)).await;
        self.view()
    }

    /// Starts following the settings once the server is bound (called by `server::start`).
    pub(crate) fn start(&self) {
        let Some(addr) = self.shared.local_addr() else { return };
        let this = self.clone();
        self.shared.spawn(async move { this.run(addr).await });
    }

    fn show(&self, view: NetworkName) {
        let name = view.name.as_deref().filter(|_| view.state == NameState::Advertising).map(host_label);
        self.shared.set_local_name(name);
        if *self.inner.view.borrow() != view {
            tracing::info!(state = ?view.state, name = ?view.name, note = %view.note, "network name");
            self.inner.view.send_replace(view);
            self.shared.emit(crate::events::Event::LibraryChanged);
        }
    }

    fn plain(&self, state: NameState, wanted: &str, note: String) -> NetworkName {
        NetworkName {
            state,
            wanted: format!("{wanted}.local"),
            name: None,
            service: None,
            url: None,
            note,
            responder: None,
            responder_why: None,
        }
    }

    async fn run(self, addr: SocketAddr) {
        let cancel = self.shared.cancel.clone();
        let mut settings = self.inner.settings.subscribe();
        let mut poll = tokio::time::interval(Duration::from_secs(IP_CHECK_SECS));
        poll.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            let s = settings.borrow_and_update().clone();
            // What to wait for before looking again: a settings change, or also the poll.
            let mut retry = false;
            if !s.on {
                self.show(self.plain(NameState::Off, &s.hostname, "not announced: discovery is off".into()));
            } else if crate::listener::is_loopback(addr.ip()) {
                let note = "not announced: Porch listens on this computer only".to_string();
                self.show(self.plain(NameState::LocalOnly, &s.hostname, note));
            } else {
                // avahi-daemon first: where it answers mDNS, Porch publishes through it.
                let own = match avahi::find().await {
                    avahi::Lookup::Running(found) => {
                        match self.through_avahi(found, &s.hostname, addr, &mut settings, &mut poll).await {
                            avahi::AvahiEnd::Stop => return,
                            // Gone: the next look finds no avahi and starts Porch's own responder.
                            avahi::AvahiEnd::Again | avahi::AvahiEnd::Gone => continue,
                            avahi::AvahiEnd::Failed(note) => {
                                self.show(self.plain(NameState::Unavailable, &s.hostname, note));
                                retry = true;
                                None
                            }
                        }
                    }
                    avahi::Lookup::Absent { watch, why } => Some((watch, why)),
                };
                if let Some((watch, why)) = own {
                    let addresses = announceable(addr);
                    if addresses.is_empty() {
                        let note =
                            "not announced yet: no network address (loopback and virtual interfaces do not count)";
                        self.show(self.plain(NameState::Waiting, &s.hostname, note.into()));
                        retry = true;
                    } else {
                        match Advert::start(&s.hostname, addr) {
                            Ok(advert) => {
                                let own = Own { wanted: &s.hostname, addr, addresses: &addresses, why, watch };
                                match self.advertise(advert, own, &mut settings, &mut poll).await {
                                    Outcome::Stop => return,
                                    Outcome::Again => continue,
                                }
                            }
                            Err(e) => {
                                let note = format!("not announced: the mDNS responder could not start ({e})");
                                self.show(self.plain(NameState::Unavailable, &s.hostname, note));
                                retry = true;
                            }
                        }
                    }
                }
            }
            tokio::select! {
                _ = cancel.cancelled() => return,
                changed = settings.changed() => if changed.is_err() { return },
                _ = poll.tick(), if retry => {}
            }
        }
    }

    /// Runs one advertisement until the settings or the addresses change, or Porch stops.
    async fn advertise(
        &self,
        mut advert: Advert,
        own: Own<'_>,
        settings: &mut watch::Receiver<DiscoverySettings>,
        poll: &mut tokio::time::Interval,
    ) -> Outcome {
        let Own { wanted, addr, addresses, why, mut watch } = own;
        let why = format!("{why}: Porch answers with its own mDNS responder");
        let cancel = self.shared.cancel.clone();
        let mut taken: Vec<String> = Vec::new();
        let view = |state: NameState, host: &str, taken: &[String]| {
            let name = format!("{host}.local");
            let note = match (state, taken.first()) {
                (NameState::Probing, _) => format!("{name}: checking that no other computer uses it"),
                (_, Some(t)) => format!("{name}: {t}.local is taken by another computer"),
                _ => format!("{name}: announced on the network"),
            };
            NetworkName {
                state,
                wanted: format!("{wanted}.local"),
                url: (state == NameState::Advertising).then(|| format!("http://{name}:{}/", addr.port())),
                name: Some(name),
                service: Some(advert_service(host)),
                note,
                responder: Some(Responder::Own),
                responder_why: Some(why.clone()),
            }
        };
        self.show(view(NameState::Probing, &advert.host, &taken));
        let stop = loop {
            tokio::select! {
                _ = cancel.cancelled() => break Outcome::Stop,
                changed = settings.changed() => break if changed.is_err() { Outcome::Stop } else { Outcome::Again },
                // avahi-daemon started: publish through it instead (two responders on one
                // computer fight over the host name).
                seen = avahi_changed(&mut watch) => match seen {
                    Some(()) => {
                        tracing::info!("avahi-daemon appeared on the system bus; publishing through it");
                        break Outcome::Again;
                    }
                    None => watch = None,
                },
                _ = poll.tick() => {
                    // A new address (DHCP, another network): announce afresh with the new
                    // set, so every resolver gets the address records at once.
                    let now = announceable(addr);
                    if now != *addresses {
                        tracing::info!(before = ?addresses, after = ?now, "the network addresses changed; announcing again");
                        break Outcome::Again;
                    }
                }
                event = advert.events.recv_async() => match event {
                    Ok(DaemonEvent::NameChange(change)) if matches!(change.rr_type, RRType::A | RRType::AAAA) => {
                        // Another computer answers for the name being probed. The daemon
                        // would pick a name of its own (and count up a trailing number,
                        // `pc-3` → `pc-4`); Porch's rule is the wanted name with `-2`, `-3`, …
                        let old = host_label(&change.original);
                        if old == advert.host {
                            taken.push(old.clone());
                            let new = suffixed(wanted, taken.len() + 1);
                            tracing::info!(%old, %new, interface = %change.intf_name, "the network name is taken; using another");
                            if let Err(e) = advert.rename(&new, addr) {
                                tracing::warn!(error = %e, "cannot announce the new name");
                            }
                            self.show(view(NameState::Probing, &advert.host, &taken));
                        }
                    }
                    Ok(DaemonEvent::Announce(fullname, detail)) => {
                        // `detail` is "HOST:INTERFACE" once probing is over (the host as resolved).
                        let host = detail.rsplit_once(':').map_or("", |(h, _)| h);
                        if fullname.to_ascii_lowercase().starts_with(&advert.service_lower()) && host_label(host) == advert.host {
                            self.show(view(NameState::Advertising, &advert.host, &taken));
                        }
                    }
                    Ok(DaemonEvent::Error(e)) => tracing::debug!(error = %e, "mDNS responder"),
                    Ok(_) => {}
                    Err(_) => {
                        let note = "not announced: the mDNS responder stopped".to_string();
                        self.show(self.plain(NameState::Unavailable, wanted, note));
                        break Outcome::Again;
                    }
                },
            }
        };
        advert.stop().await;
        self.shared.set_local_name(None);
        stop
    }
}

/// What Porch's own responder advertises, and why it is Porch's own.
struct Own<'a> {
    /// The name asked for.
    wanted: &'a str,
    /// Where Porch listens.
    addr: SocketAddr,
    /// The addresses announced.
    addresses: &'a Addresses,
    /// Why not avahi, e.g. "avahi-daemon is not running".
    why: String,
    /// Sees avahi-daemon start, when there is a system bus.
    watch: Option<avahi::OwnerWatch>,
}

/// The next change of avahi's name on the bus, or never without a bus to watch.
async fn avahi_changed(watch: &mut Option<avahi::OwnerWatch>) -> Option<()> {
    match watch {
        Some(w) => w.changed().await,
        None => std::future::pending().await,
    }
}

/// How one advertisement ended.
enum Outcome {
    /// Porch stops.
    Stop,
    /// The settings or the addresses changed: start again.
    Again,
}

/// The (interface, address) pairs an advertisement announces.
type Addresses = std::collections::BTreeSet<(String, IpAddr)>;

/// The addresses viewers can reach Porch at: up, not loopback, not point-to-point, not
/// virtual ([`is_virtual`]); only the bound address when Porch is bound to one.
fn announceable(bound: SocketAddr) -> Addresses {
    if_addrs::get_if_addrs()
        .unwrap_or_default()
        .into_iter()
        .filter(|i| i.is_oper_up() && !i.is_p2p() && !i.is_loopback() && !is_virtual(&i.name, i.ip()))
        .filter(|i| bound.ip().is_unspecified() || i.ip() == bound.ip())
        .map(|i| (i.name.clone(), i.ip()))
        .collect()
}

/// The instance name of the service on `host`.
fn advert_service(host: &str) -> String {
    format!("Porch on {host}")
}

/// The `n`th name to try for `wanted`: `wanted-n`, cut so that it stays one DNS label.
fn suffixed(wanted: &str, n: usize) -> String {
    let suffix = format!("-{n}");
    let keep = name::MAX_LEN.saturating_sub(suffix.len()).min(wanted.len());
    format!("{}{suffix}", wanted[..keep].trim_end_matches('-'))
}

/// `my-laptop-2` of `my-laptop-2.local.`.
fn host_label(fqdn: &str) -> String {
    fqdn.trim_end_matches('.').trim_end_matches(".local").to_ascii_lowercase()
}

/// One running responder with the service registered on it.
struct Advert {
    daemon: ServiceDaemon,
    events: mdns_sd::Receiver<DaemonEvent>,
    host: String,
    fullname: String,
}

impl Advert {
    fn start(host: &str, addr: SocketAddr) -> Result<Advert, mdns_sd::Error> {
        let daemon = ServiceDaemon::new()?;
        let events = daemon.monitor()?;
        // Porch polls the interfaces itself and starts a fresh responder when they change
        // (the daemon's own poll misses the host name of an interface that comes up late).
        daemon.set_ip_check_interval(0)?;
        if addr.ip().is_unspecified() {
            daemon.disable_interface(IfKind::Predicate(IfPredicate::new(|i| {
                i.is_loopback() || is_virtual(&i.name, i.ip())
            })))?;
        } else {
            // Bound to one address: advertise on its interface only.
            daemon.disable_interface(IfKind::All)?;
            daemon.enable_interface(IfKind::Addr(addr.ip()))?;
        }
        daemon.disable_interface(vec![IfKind::LoopbackV4, IfKind::LoopbackV6])?;
        let mut advert = Advert { daemon, events, host: String::new(), fullname: String::new() };
        advert.register(host, addr)?;
        Ok(advert)
    }

    fn service_lower(&self) -> String {
        advert_service(&self.host).to_ascii_lowercase()
    }

    fn register(&mut self, host: &str, addr: SocketAddr) -> Result<(), mdns_sd::Error> {
        let no_addresses: &[IpAddr] = &[];
        let info = ServiceInfo::new(
            SERVICE_TYPE,
            &advert_service(host),
            &format!("{host}.local."),
            no_addresses,
            addr.port(),
            &[("path", "/")][..],
        )?
        .enable_addr_auto();
        self.fullname = info.get_fullname().to_string();
        self.host = host.to_string();
        self.daemon.register(info)
    }

    /// Registers the service again on the host name the daemon picked after a conflict, so
    /// the service's name matches the host's.
    fn rename(&mut self, host: &str, addr: SocketAddr) -> Result<(), mdns_sd::Error> {
        let _ = self.daemon.unregister(&self.fullname);
        self.register(host, addr)
    }

    /// Says goodbye on the network (TTL 0 records) and stops the daemon's thread.
    async fn stop(self) {
        if let Ok(done) = self.daemon.unregister(&self.fullname) {
            let _ = tokio::time::timeout(Duration::from_secs(2), done.recv_async()).await;
        }
        if let Ok(done) = self.daemon.shutdown() {
            let _ = tokio::time::timeout(Duration::from_secs(2), done.recv_async()).await;
        }
    }
}

/// Whether an interface is virtual for viewers: a container or VM bridge, a VPN tunnel, or
/// the host end of a container's veth pair. Addresses there are not where a colleague on the
/// LAN reaches this computer.
///
/// A veth end with an IPv4 address counts as real: that is how a container or a network
/// namespace reaches its network (the host ends of container pairs carry only IPv6
/// link-local addresses).
pub fn is_virtual(name: &str, ip: IpAddr) -> bool {
    const VIRTUAL: &[&str] = &[
        "docker",
        "br-",
        "virbr",
        "vmnet",
        "vboxnet",
        "cni",
        "flannel",
        "cali",
        "podman",
        "lxcbr",
        "lxdbr",
        "tun",
        "tap",
        "wg",
        "tailscale",
        "zt",
        "utun",
        "ham",
        "kube",
        "weave",
        "vEthernet",
    ];
    if name.starts_with("veth") {
        return !ip.is_ipv4();
    }
    VIRTUAL.iter().any(|p| name.starts_with(p))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_interfaces_are_named_by_kind() {
        let v4: IpAddr = "10.1.2.3".parse().expect("ip");
        let ll: IpAddr = "fe80::1".parse().expect("ip");
        for name in ["docker0", "br-1a2b", "virbr0", "tun0", "wg0", "tailscale0", "vboxnet0"] {
            assert!(is_virtual(name, v4), "{name}");
        }
        for name in ["eth0", "enp3s0", "wlan0", "wlp2s0", "en0"] {
            assert!(!is_virtual(name, v4), "{name}");
        }
        assert!(!is_virtual("veth0", v4), "a namespace's veth with IPv4 is its network");
        assert!(is_virtual("veth1234", ll), "a container's host end");
    }

    #[test]
    fn taken_names_get_a_counted_suffix_within_one_label() {
        assert_eq!(suffixed("my-laptop", 2), "my-laptop-2");
        assert_eq!(suffixed("pc-3", 2), "pc-3-2");
        let long = "a".repeat(63);
        assert_eq!(suffixed(&long, 2), format!("{}-2", "a".repeat(61)));
        assert!(name::is_valid(&suffixed(&format!("{}-b", "a".repeat(60)), 12)));
    }

    #[test]
    fn host_labels_come_from_names() {
        assert_eq!(host_label("My-Laptop-2.local."), "my-laptop-2");
        assert_eq!(host_label("pc.local"), "pc");
    }
}
