//! The reachability service: can a viewer on the network reach Porch, and if not, why —
//! each reason with its fix. `porch doctor` and the Settings pane's Reachability panel show
//! its [`Report`]; the "test from your phone" one-time URLs live here too ([`phone`]).
//!
//! The checks, in the order shown: the bind (this computer only?), sharing paused, the
//! addresses viewers could use (loopback, container, VM and VPN interfaces skipped and
//! named, [`net`]), whether Porch answers on each (a TCP connect) or, when Porch is not
//! running, whether another program holds its port, whether this computer resolves its own
//! `.local` name (getaddrinfo, so nss-mdns decides), the host firewall ([`firewall`]:
//! nftables, read through the process runner, root only), and a VPN owning the default
//! route (`/proc/net/route`).
//!
//! Does not: change anything (no rule, no setting), store anything (the phone tests are in
//! memory), or serve the phone page (the gateway does, calling [`Reach::phone_opened`]).
//!
//! Concurrency: [`Reach::report`] runs its checks one after another on the caller's task
//! (each bounded by a time limit); the phone tests are a small mutex-guarded map with a
//! `watch` channel per test (see [`phone`]).

pub mod firewall;
pub mod net;
pub mod phone;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::discovery::{Discovery, NameState};
use crate::error::{Error, Result};
use crate::library::Library;
use crate::runner::Runner;
use crate::settings::Settings;
use crate::shared::Shared;

pub use firewall::Culprit;
pub use net::{SkippedAddress, ViewerAddress};
pub use phone::{Opened, PhoneState};

/// How long a connect to one of Porch's own addresses may take.
const CONNECT_LIMIT: Duration = Duration::from_secs(2);
/// How long resolving the `.local` name may take.
const RESOLVE_LIMIT: Duration = Duration::from_secs(5);

/// How a check came out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export, rename = "ReachStatus"))]
#[serde(rename_all = "snake_case")]
pub enum Status {
    /// Fine.
    Ok,
    /// Nothing to check, or a choice the publisher made (discovery off).
    Info,
    /// Worth knowing; viewers may still connect.
    Warning,
    /// Could not be checked (for example the firewall without root).
    Unknown,
    /// A reason viewers cannot connect.
    Problem,
}

/// One check and, when something is wrong, its fix.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export, rename = "ReachCheck"))]
pub struct Check {
    /// What was checked: `bind`, `paused`, `addresses`, `listening`, `port`, `name`,
    /// `firewall`, `route`.
    pub id: String,
    /// How it came out.
    pub status: Status,
    /// One line, e.g. "Porch answers on 192.168.1.23:3939".
    pub title: String,
    /// More words, when useful.
    pub detail: Option<String>,
    /// What to do about it.
    pub fix: Option<String>,
    /// The firewall rule that drops the port (the `firewall` check, read as root).
    pub rule: Option<Culprit>,
}

impl Check {
    fn new(id: &str, status: Status, title: impl Into<String>) -> Check {
        Check { id: id.into(), status, title: title.into(), detail: None, fix: None, rule: None }
    }

    fn detail(mut self, d: impl Into<String>) -> Check {
        self.detail = Some(d.into());
        self
    }

    fn fix(mut self, f: impl Into<String>) -> Check {
        self.fix = Some(f.into());
        self
    }
}

/// What `porch doctor` and the Reachability panel show.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export, rename = "ReachReport"))]
pub struct Report {
    /// No check found a problem (`porch doctor` exits 0).
    pub ok: bool,
    /// Whether Porch is serving (the CLI checks a stopped Porch's settings).
    pub serving: bool,
    /// The port viewers use.
    pub port: u16,
    /// The address Porch listens (or will listen) on, e.g. `0.0.0.0`.
    pub bind: String,
    /// The addresses viewers could use.
    pub addresses: Vec<ViewerAddress>,
    /// The addresses skipped, each with its reason.
    pub skipped: Vec<SkippedAddress>,
    /// The checks, in order.
    pub checks: Vec<Check>,
    /// Why the phone test cannot work now (bound to this computer only, not serving), if so.
    pub phone_blocked: Option<String>,
}

/// A new phone test: the URL to open on another device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct PhoneTest {
    /// The test's token (for polling its state).
    pub token: String,
    /// The URL for the QR code: a plain address, which phones open even where `.local`
    /// names do not resolve.
    pub url: String,
    /// Every URL that opens the same test (the `.local` name, other addresses).
    pub urls: Vec<String>,
    /// Seconds until it expires.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub expires_in: u64,
}

/// The reachability service. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Reach {
    shared: Shared,
    library: Library,
    discovery: Discovery,
    settings: Settings,
    phone: phone::PhoneTests,
}

impl Reach {
    /// The service, with no phone test yet.
    pub(crate) fn new(shared: Shared, library: Library, discovery: Discovery, settings: Settings) -> Reach {
        Reach { shared, library, discovery, settings, phone: phone::PhoneTests::default() }
    }

    /// Where Porch listens, or will listen at its next start (the saved settings).
    fn listen_addr(&self) -> SocketAddr {
        self.shared.local_addr().unwrap_or_else(|| self.settings.saved_settings().listen_addr())
    }

    /// Runs every check.
    pub async fn report(&self) -> Report {
        let serving = self.shared.is_serving();
        let addr = self.listen_addr();
        let port = addr.port();
        let local_only = crate::listener::is_loopback(addr.ip());
        let mut checks = Vec::new();

        checks.push(if local_only {
            Check::new("bind", Status::Problem, format!("Porch listens on this computer only ({addr})"))
                .detail("No other device can connect while Porch is bound to this computer only.")
                .fix("porch settings set bind=network, then restart Porch (Settings → Network → bind: everyone on your network)")
        } else {
            Check::new("bind", Status::Ok, format!("Porch listens on the network ({addr})"))
        });
        if self.library.sharing_paused() {
            checks.push(
                Check::new("paused", Status::Problem, "Sharing is paused")
                    .detail("Viewers on other computers see a \"paused\" page for every address.")
                    .fix("resume sharing: Settings → Sharing → Resume sharing, or untick \"Pause sharing\" in the tray menu"),
            );
        }

        let (addresses, skipped) = net::addresses(addr.ip());
        if !local_only {
            checks.push(if addresses.is_empty() {
                Check::new("addresses", Status::Problem, "No network address a viewer could use")
                    .detail("Only loopback, container, virtual machine or VPN interfaces have addresses.")
                    .fix("connect this computer to the network your viewers are on (Wi-Fi or cable)")
            } else {
                let list: Vec<String> = addresses.iter().map(|a| format!("{} ({})", a.ip, a.interface)).collect();
                Check::new("addresses", Status::Ok, format!("Viewers can use {}", list.join(", ")))
            });
        }

        if serving && !local_only {
            for a in &addresses {
                let Ok(ip) = a.ip.parse::<IpAddr>() else { continue };
                let target = SocketAddr::new(ip, port);
                let connected = tokio::time::timeout(CONNECT_LIMIT, tokio::net::TcpStream::connect(target)).await;
                checks.push(match connected {
                    Ok(Ok(_)) => Check::new("listening", Status::Ok, format!("Porch answers on {target}")),
                    Ok(Err(e)) => {
                        Check::new("listening", Status::Problem, format!("Porch does not answer on {target}"))
                            .detail(format!("connecting gave: {e}"))
                            .fix("restart Porch; if it persists, run porch doctor as root to read the firewall")
                    }
                    Err(_) => Check::new("listening", Status::Problem, format!("Porch does not answer on {target}"))
                        .detail(format!(
                            "no answer within {CONNECT_LIMIT:?}: something on this computer drops the connection"
                        ))
                        .fix("check the firewall (below)"),
                });
            }
        } else if !serving {
            checks.push(port_check(addr));
        }

        checks.push(self.name_check(port).await);
        checks.push(firewall_check(&self.shared.runner, port).await);
        checks.push(route_check());

        let phone_blocked = if local_only {
            Some("Porch listens on this computer only, so no other device can open the test page. Set bind to network and restart Porch first.".to_string())
        } else if !serving {
            Some(
                "Porch is not running: start it (porch serve, or open the app) to test from another device."
                    .to_string(),
            )
        } else {
            None
        };
        Report {
            ok: !checks.iter().any(|c| c.status == Status::Problem),
            serving,
            port,
            bind: addr.ip().to_string(),
            addresses,
            skipped,
            checks,
            phone_blocked,
        }
    }

    /// Whether this computer resolves the `.local` name in use (or wanted, when not
    /// serving) to one of its own addresses.
    async fn name_check(&self, port: u16) -> Check {
        let view = self.discovery.view();
        let name = match view.state {
            NameState::Advertising | NameState::Probing => view.name.unwrap_or(view.wanted),
            NameState::NotServing => view.wanted,
            _ => {
                // The note names the state itself ("not announced: discovery is off", "not
                // announced yet: no network address").
                let why = view.note.trim_start_matches("not announced").trim_start_matches(" yet");
                let why = why.trim_start_matches(':').trim();
                return Check::new("name", Status::Info, format!("The .local name is not announced: {why}"))
                    .detail("Viewers use the plain address instead.");
            }
        };
        let nsswitch = std::fs::read_to_string("/etc/nsswitch.conf").unwrap_or_default();
        let has_mdns = net::nsswitch_has_mdns(&nsswitch);
        let lookup = tokio::time::timeout(RESOLVE_LIMIT, tokio::net::lookup_host(format!("{name}:{port}"))).await;
        let found: Vec<IpAddr> = match lookup {
            Ok(Ok(addrs)) => addrs.map(|a| a.ip()).collect(),
            _ => Vec::new(),
        };
        if found.iter().any(|ip| net::is_own_address(*ip)) {
            let list: Vec<String> = found.iter().map(ToString::to_string).collect();
            return Check::new("name", Status::Ok, format!("This computer resolves {name} ({})", list.join(", ")));
        }
        if !found.is_empty() {
            let list: Vec<String> = found.iter().map(ToString::to_string).collect();
            return Check::new(
                "name",
                Status::Warning,
                format!("{name} resolves to {}, not to this computer", list.join(", ")),
            )
            .detail("Another computer may answer for the same name.")
            .fix("choose another name: porch settings set hostname=NAME");
        }
        if !has_mdns {
            return Check::new("name", Status::Warning, format!("This computer cannot resolve {name}: nss-mdns is not set up"))
                .detail("The hosts line of /etc/nsswitch.conf has no mdns entry, so programs here cannot look up .local names. Viewers' phones and computers resolve the name themselves; the plain address always works.")
                .fix("install nss-mdns (Debian/Ubuntu: sudo apt install libnss-mdns; Fedora: nss-mdns) to check the name from here");
        }
        if !crate::discovery::avahi::daemon_running() {
            return Check::new("name", Status::Warning, format!("This computer cannot resolve {name}: avahi-daemon is not running"))
                .detail("nss-mdns asks avahi-daemon to resolve .local names. Viewers resolve the name themselves; the plain address always works.")
                .fix("start avahi-daemon (sudo systemctl enable --now avahi-daemon) to check the name from here");
        }
        Check::new("name", Status::Warning, format!("This computer does not resolve {name}"))
            .detail(format!(
                "The name is {}. Viewers' devices may resolve it; the plain address always works.",
                view.note
            ))
            .fix("wait a few seconds after Porch starts; if it persists, look at the discovery setting")
    }

    /// Starts a phone test; refused (with the reason) while no other device can open it.
    pub fn new_phone_test(&self) -> Result<PhoneTest> {
        let Some(addr) = self.shared.local_addr() else {
            return Err(Error::Conflict("Porch is not serving: start it to test from another device".into()));
        };
        if crate::listener::is_loopback(addr.ip()) {
            return Err(Error::Conflict(
                "Porch listens on this computer only (bind = local), so no other device can open the test page: set bind to network (porch settings set bind=network) and restart Porch".into(),
            ));
        }
        let token = self.phone.create(phone::LIFETIME);
        let path = format!("{}{token}", phone::PATH_PREFIX);
        let (addresses, _) = net::addresses(addr.ip());
        let mut urls: Vec<String> = addresses
            .iter()
            .filter_map(|a| a.ip.parse::<IpAddr>().ok())
            .map(|ip| format!("{}{}", crate::shared::url_for(ip, addr.port()).trim_end_matches('/'), path))
            .collect();
        let named = format!("{}{path}", self.shared.share_origin());
        if !urls.contains(&named) {
            urls.push(named);
        }
        Ok(PhoneTest { url: urls[0].clone(), urls, token, expires_in: phone::LIFETIME.as_secs() })
    }

    /// A phone test's state now.
    pub fn phone_state(&self, token: &str) -> Result<PhoneState> {
        self.phone.state(token).ok_or_else(|| Error::not_found("phone test", token))
    }

    /// Waits up to `limit` for a phone test's state to change from `Waiting { opened_here }`
    /// (reached, expired, or first opened on this computer).
    pub async fn wait_phone(&self, token: &str, limit: Duration, opened_here: bool) -> Result<PhoneState> {
        self.phone.wait(token, limit, opened_here).await.ok_or_else(|| Error::not_found("phone test", token))
    }

    /// A device opened a phone test's URL (called by the gateway).
    pub fn phone_opened(&self, token: &str, peer: Option<SocketAddr>, user_agent: &str) -> Opened {
        let ip = peer.map(|p| p.ip());
        let here = ip.is_none_or(net::is_own_address);
        self.phone.open(token, ip, here, user_agent)
    }
}

/// With Porch stopped: whether another program holds its port.
fn port_check(addr: SocketAddr) -> Check {
    match std::net::TcpListener::bind(addr) {
        Ok(_) => Check::new("port", Status::Info, format!("Porch is not running; port {} is free", addr.port()))
            .detail("The checks below are for when it runs: start it (porch serve, or open the app) and run porch doctor again."),
        Err(e) if e.kind() == std::io::ErrorKind::AddrInUse => {
            Check::new("port", Status::Problem, format!("Port {} is taken by another program", addr.port()))
                .detail(format!("Porch is not running, and another program listens on {addr}, so Porch could not start there."))
                .fix(format!(
                    "see which program with: ss -ltnp 'sport = :{}'; stop it, or give Porch another port: porch settings set port=4000",
                    addr.port()
                ))
        }
        Err(e) => Check::new("port", Status::Warning, format!("Cannot test port {}: {e}", addr.port())),
    }
}

/// The host firewall, read with `runner` (so with the privileges of the process that runs
/// it: `porch doctor` as root reads what a server running as a user cannot).
pub async fn firewall_check(runner: &Runner, port: u16) -> Check {
    use firewall::{Reading, Verdict};
    let front = firewall::front_end();
    let managed = front.map(|f| format!(" ({f} is enabled)")).unwrap_or_default();
    let phone_hint = "Use \"Test from your phone\" (Settings → Reachability, or porch doctor --wait) to see whether another device gets through.";
    match firewall::read(runner, port).await {
        Reading::Read(Verdict::Passes) => {
            Check::new("firewall", Status::Ok, format!("No firewall rule drops port {port}{managed}"))
        }
        Reading::Read(Verdict::Dropped(c)) => {
            let fix = firewall::fix_for(&c, port, front);
            let mut check = Check::new("firewall", Status::Problem, format!("The firewall drops port {port}: {}", c.describe()))
                .detail(format!("New connections from other devices to port {port} are dropped{managed}."))
                .fix(fix);
            check.rule = Some(c);
            check
        }
        Reading::Read(Verdict::MayDrop(c)) => {
            let fix = firewall::fix_for(&c, port, front);
            let mut check = Check::new("firewall", Status::Warning, format!("The firewall may drop port {port}: {}", c.describe()))
                .detail(format!("The rule depends on something this check cannot know (the viewer's address, a rate). {phone_hint}"))
                .fix(fix);
            check.rule = Some(c);
            check
        }
        Reading::NoNft => Check::new("firewall", Status::Unknown, format!("Cannot read the firewall rules: nft is not installed{managed}"))
            .detail(phone_hint)
            .fix(match front {
                Some("ufw") => format!("if viewers cannot connect: sudo ufw allow {port}/tcp"),
                _ => "install nftables to let porch doctor read the rules".to_string(),
            }),
        Reading::Unreadable(said) => Check::new("firewall", Status::Unknown, format!("Cannot read the firewall rules: reading them needs root{managed}"))
            .detail(format!("nft said: {said}. {phone_hint}"))
            .fix(match front {
                Some("ufw") => format!("run sudo porch doctor to name the rule; if viewers cannot connect: sudo ufw allow {port}/tcp"),
                Some("firewalld") => format!("run sudo porch doctor to name the rule; if viewers cannot connect: sudo firewall-cmd --permanent --add-port={port}/tcp && sudo firewall-cmd --reload"),
                _ => "run sudo porch doctor to name the rule, or use the phone test".to_string(),
            }),
    }
}

/// Whether a VPN (or another non-LAN link) owns the default route.
fn route_check() -> Check {
    let table = crate::platform::route_table();
    let routes = net::default_routes(&table);
    let Some(best) = routes.first() else {
        return Check::new("route", Status::Info, "No default route (viewers on the same network can still connect)");
    };
    let via = best.gateway.map(|g| format!(" via {g}")).unwrap_or_default();
    let kind = net::vpn_kind(&best.interface).or_else(|| {
        // Another virtual interface (a container bridge) owning the default route.
        net::skip_reason(&best.interface, IpAddr::from([0, 0, 0, 1]), false)
    });
    match kind {
        Some(kind) => Check::new("route", Status::Problem, format!("A VPN owns the default route: it goes through {} ({kind}){via}", best.interface))
            .detail("Many VPN clients send every answer through the tunnel or block the local network while connected, so viewers on your network get no reply.")
            .fix("disconnect the VPN while sharing, or turn on its \"allow local network\" (LAN access / split tunnelling) option"),
        None => Check::new("route", Status::Ok, format!("The default route goes through {}{via}", best.interface)),
    }
}
