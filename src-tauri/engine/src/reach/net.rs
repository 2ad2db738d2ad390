//! What this computer's network looks like to a viewer: the addresses a viewer could use
//! (and the interfaces skipped, each with its reason), the default route (a VPN that owns
//! it), and whether this computer resolves `.local` names at all (nss-mdns).
//!
//! Reads only: one `getifaddrs` call (`if-addrs`), `/proc/net/route` and
//! `/etc/nsswitch.conf`. Spawns nothing. Pure functions over what was read, so the rules are
//! unit-tested with made-up tables.
//!
//! Concurrency: none; every function reads once and returns.

use std::net::{IpAddr, Ipv4Addr};

use serde::{Deserialize, Serialize};

/// An address a viewer on the network could open Porch at.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ViewerAddress {
    /// The interface, e.g. `wlan0`.
    pub interface: String,
    /// The address, e.g. `192.168.1.23`.
    pub ip: String,
}

/// An interface address no viewer on the LAN would use, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct SkippedAddress {
    /// The interface, e.g. `docker0`.
    pub interface: String,
    /// The address.
    pub ip: String,
    /// Why it is skipped, e.g. "container bridge".
    pub reason: String,
}

/// Why an interface is not where a colleague on the LAN reaches this computer, or `None`
/// when it is. Agrees with `discovery::is_virtual` (what the name is announced on), and
/// names the kind.
pub fn skip_reason(name: &str, ip: IpAddr, loopback: bool) -> Option<&'static str> {
    if loopback || crate::listener::is_loopback(ip) {
        return Some("loopback: this computer only");
    }
    if let IpAddr::V6(v6) = ip {
        if v6.segments()[0] & 0xffc0 == 0xfe80 {
            return Some("IPv6 link-local: needs an interface name a browser cannot take");
        }
    }
    if name.starts_with("veth") {
        // The host end of a container's pair carries only IPv6 link-local addresses; a veth
        // with IPv4 is how a network namespace or container reaches its network.
        return (!ip.is_ipv4()).then_some("container link (veth)");
    }
    const KINDS: &[(&str, &str)] = &[
        ("docker", "container bridge (Docker)"),
        ("br-", "container bridge (Docker network)"),
        ("podman", "container bridge (Podman)"),
        ("cni", "container network (CNI)"),
        ("flannel", "container network (flannel)"),
        ("cali", "container network (Calico)"),
        ("kube", "container network (Kubernetes)"),
        ("weave", "container network (Weave)"),
        ("lxcbr", "container bridge (LXC)"),
        ("lxdbr", "container bridge (LXD)"),
        ("virbr", "virtual machine bridge (libvirt)"),
        ("vmnet", "virtual machine network (VMware)"),
        ("vboxnet", "virtual machine network (VirtualBox)"),
        ("vEthernet", "virtual machine switch (Hyper-V)"),
        ("tun", "VPN tunnel"),
        ("tap", "VPN or virtual machine tap device"),
        ("wg", "VPN tunnel (WireGuard)"),
        ("tailscale", "VPN tunnel (Tailscale)"),
        ("zt", "VPN tunnel (ZeroTier)"),
        ("utun", "VPN tunnel"),
        ("ham", "VPN tunnel (Hamachi)"),
        ("ppp", "point-to-point link (VPN or modem)"),
    ];
    KINDS.iter().find(|(prefix, _)| name.starts_with(prefix)).map(|(_, why)| *why)
}

/// Whether a server bound to `bound` answers on `ip`: `0.0.0.0` listens on every IPv4
/// address (not IPv6), `::` on every address (Linux's sockets take IPv4 too), any other
/// address on itself only.
fn listens_on(bound: IpAddr, ip: IpAddr) -> bool {
    match bound {
        IpAddr::V4(b) if b.is_unspecified() => ip.is_ipv4(),
        IpAddr::V6(b) if b.is_unspecified() => true,
        b => b == ip,
    }
}

/// The addresses viewers could use and the ones skipped, for a server bound to `bound`
/// (see [`listens_on`]).
pub fn addresses(bound: IpAddr) -> (Vec<ViewerAddress>, Vec<SkippedAddress>) {
    let mut usable = Vec::new();
    let mut skipped = Vec::new();
    let mut ifs = if_addrs::get_if_addrs().unwrap_or_default();
    ifs.sort_by(|a, b| (a.name.as_str(), a.ip()).cmp(&(b.name.as_str(), b.ip())));
    for i in ifs {
        let ip = i.ip();
        let reason = skip_reason(&i.name, ip, i.is_loopback())
            .map(str::to_string)
            .or_else(|| (!i.is_oper_up()).then(|| "interface is down".to_string()))
            .or_else(|| {
                (!listens_on(bound, ip)).then(|| match bound.is_unspecified() {
                    true => format!("Porch listens on IPv4 addresses only (bound to {bound})"),
                    false => format!("Porch listens on {bound} only"),
                })
            });
        match reason {
            Some(reason) => skipped.push(SkippedAddress { interface: i.name, ip: ip.to_string(), reason }),
            None => usable.push(ViewerAddress { interface: i.name, ip: ip.to_string() }),
        }
    }
    // IPv4 first: what people type and what phones use.
    usable.sort_by_key(|a| !a.ip.contains('.'));
    (usable, skipped)
}

/// Whether `ip` is one of this computer's own addresses (loopback included).
pub fn is_own_address(ip: IpAddr) -> bool {
    let ip = match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map(IpAddr::V4).unwrap_or(IpAddr::V6(v6)),
        v4 => v4,
    };
    crate::listener::is_loopback(ip) || if_addrs::get_if_addrs().unwrap_or_default().iter().any(|i| i.ip() == ip)
}

/// One IPv4 default route (`/proc/net/route`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DefaultRoute {
    /// Its interface.
    pub interface: String,
    /// Its gateway, if any (a tunnel's default route often has none).
    pub gateway: Option<Ipv4Addr>,
    /// Its metric (lowest wins).
    pub metric: u32,
}

/// The default routes in a `/proc/net/route` table, best (lowest metric) first.
pub fn default_routes(table: &str) -> Vec<DefaultRoute> {
    let mut out: Vec<DefaultRoute> = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            // Iface Destination Gateway Flags RefCnt Use Metric Mask …
            let (iface, dest, gw, flags, metric, mask) =
                (f.first()?, f.get(1)?, f.get(2)?, f.get(3)?, f.get(6)?, f.get(7)?);
            let flags = u32::from_str_radix(flags, 16).ok()?;
            // RTF_UP
            if *dest != "00000000" || *mask != "00000000" || flags & 1 == 0 {
                return None;
            }
            let gw = u32::from_str_radix(gw, 16).ok()?;
            // The table prints the address in the kernel's (little-endian) byte order.
            let gateway = (gw != 0).then(|| Ipv4Addr::from(gw.swap_bytes()));
            Some(DefaultRoute { interface: iface.to_string(), gateway, metric: metric.parse().ok()? })
        })
        .collect();
    out.sort_by_key(|r| r.metric);
    out
}

/// Why a default route through `interface` looks like a VPN's (or another non-LAN
/// link's), or `None` for an ordinary LAN interface.
pub fn vpn_kind(interface: &str) -> Option<&'static str> {
    const VPN: &[(&str, &str)] = &[
        ("tun", "a VPN tunnel (OpenVPN, many others)"),
        ("tap", "a VPN tap device"),
        ("wg", "a WireGuard VPN"),
        ("ppp", "a point-to-point link (a VPN such as L2TP/PPTP, or a modem)"),
        ("tailscale", "Tailscale"),
        ("zt", "ZeroTier"),
        ("utun", "a VPN tunnel"),
        ("ipsec", "an IPsec VPN"),
        ("vti", "an IPsec VPN"),
        ("nordlynx", "NordVPN"),
        ("proton", "Proton VPN"),
        ("mullvad", "Mullvad VPN"),
        ("gpd", "GlobalProtect"),
        ("cscotun", "Cisco AnyConnect"),
        ("ham", "Hamachi"),
    ];
    VPN.iter().find(|(prefix, _)| interface.starts_with(prefix)).map(|(_, kind)| *kind)
}

/// Whether an nsswitch.conf's `hosts:` line asks nss-mdns (`mdns`, `mdns4_minimal`, …), and
/// so whether getaddrinfo can resolve `.local` names on this computer.
pub fn nsswitch_has_mdns(conf: &str) -> bool {
    conf.lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter_map(|l| l.strip_prefix("hosts:"))
        .any(|services| services.split_whitespace().any(|s| s.starts_with("mdns")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_on_0_0_0_0_answers_ipv4_only_and_one_on_colons_both() {
        let (v4, v6): (IpAddr, IpAddr) = ("192.168.1.20".parse().expect("ip"), "fd00::2".parse().expect("ip"));
        let any4: IpAddr = "0.0.0.0".parse().expect("ip");
        let any6: IpAddr = "::".parse().expect("ip");
        assert!(listens_on(any4, v4) && !listens_on(any4, v6));
        assert!(listens_on(any6, v4) && listens_on(any6, v6));
        assert!(listens_on(v4, v4) && !listens_on(v4, "192.168.1.21".parse().expect("ip")) && !listens_on(v6, v4));
    }

    #[test]
    fn skipped_interfaces_are_named_with_a_reason() {
        let v4: IpAddr = "10.1.2.3".parse().expect("ip");
        assert_eq!(skip_reason("lo", "127.0.0.1".parse().expect("ip"), true), Some("loopback: this computer only"));
        assert_eq!(skip_reason("docker0", v4, false), Some("container bridge (Docker)"));
        assert_eq!(skip_reason("wg0", v4, false), Some("VPN tunnel (WireGuard)"));
        assert_eq!(skip_reason("virbr0", v4, false), Some("virtual machine bridge (libvirt)"));
        assert_eq!(skip_reason("wlan0", v4, false), None);
        assert_eq!(skip_reason("veth0", v4, false), None, "a namespace's veth with IPv4 is its network");
        assert!(skip_reason("eth0", "fe80::1".parse().expect("ip"), false).is_some());
        // Agrees with what discovery announces on.
        for name in ["docker0", "br-1a2b", "virbr0", "tun0", "wg0", "tailscale0", "vboxnet0", "eth0", "wlp2s0"] {
            assert_eq!(skip_reason(name, v4, false).is_some(), crate::discovery::is_virtual(name, v4), "{name}");
        }
    }

    #[test]
    fn default_routes_are_read_from_the_kernel_table() {
        let table = "Iface\tDestination\tGateway \tFlags\tRefCnt\tUse\tMetric\tMask\t\tMTU\tWindow\tIRTT\n\
                     wlan0\t00000000\t0101A8C0\t0003\t0\t0\t600\t00000000\t0\t0\t0\n\
                     tun0\t00000000\t00000000\t0001\t0\t0\t50\t00000000\t0\t0\t0\n\
                     wlan0\t0001A8C0\t00000000\t0001\t0\t0\t600\t00FFFFFF\t0\t0\t0\n";
        let routes = default_routes(table);
        assert_eq!(routes.len(), 2);
        assert_eq!(routes[0], DefaultRoute { interface: "tun0".into(), gateway: None, metric: 50 });
        assert_eq!(routes[1].gateway, Some(Ipv4Addr::new(192, 168, 1, 1)));
        assert_eq!(vpn_kind("tun0"), Some("a VPN tunnel (OpenVPN, many others)"));
        assert_eq!(vpn_kind("wlan0"), None);
    }

    #[test]
    fn nss_mdns_is_found_on_the_hosts_line_only() {
        assert!(nsswitch_has_mdns("passwd: files\nhosts: files mdns4_minimal [NOTFOUND=return] dns\n"));
        assert!(!nsswitch_has_mdns("hosts: files dns\n# hosts: files mdns\nnetworks: mdns\n"));
    }
}
