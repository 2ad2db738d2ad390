//! Who is calling: the socket peer, whether it is this computer, and whether it holds the
//! publisher's key. The gateway asks this for viewers; the API (`api::auth`) asks the same
//! questions for management calls, so there is one answer to each.
//!
//! SECURITY:
//! - the peer is the socket's address, never a forwarded header, so a client cannot spoof
//!   it;
//! - "this computer" is a loopback peer **and** a `Host` naming this machine
//!   ([`host_is_this_machine`]), against DNS rebinding;
//! - the key travels only in `Authorization: Key …`; wrong keys are counted per client
//!   address and then refused for a while ([`check_key`]), even the right one.
//!
//! Concurrency: stateless apart from the engine's failure limiter (its own short lock).

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::{header, HeaderMap, Request};

use crate::engine::Engine;
use crate::error::Error;
use crate::keys::parse_authorization;

/// Whether an address is this machine's loopback (IPv4-mapped IPv6 included).
pub use crate::listener::is_loopback;

/// The socket peer of a request (absent only for in-process calls, which are local).
pub fn peer_of<B>(req: &Request<B>) -> Option<SocketAddr> {
    req.extensions().get::<ConnectInfo<SocketAddr>>().map(|c| c.0)
}

/// This machine's host name (read once).
pub fn hostname() -> &'static str {
    static NAME: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    NAME.get_or_init(|| {
        std::fs::read_to_string("/etc/hostname").map(|s| s.trim().to_string()).unwrap_or_else(|_| "localhost".into())
    })
}

/// What the `Authorization` header amounted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyCheck {
    /// No `Authorization: Key …` header (other schemes belong to apps behind the proxy).
    Absent,
    /// A key that is valid now.
    Valid,
    /// A key that is not (counted against the client's address).
    Invalid,
    /// The address has failed too often; the key was not even looked at.
    Limited {
        /// Seconds to wait.
        retry_after: u64,
    },
}

/// Checks the request's key, counting failures per client address (see `keys::FailureLimiter`).
pub async fn check_key(engine: &Engine, headers: &HeaderMap, peer: Option<SocketAddr>) -> Result<KeyCheck, Error> {
    let Some(key) = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(parse_authorization)
    else {
        return Ok(KeyCheck::Absent);
    };
    let ip = peer.map(|p| p.ip());
    if let Some(wait) = ip.and_then(|ip| engine.library().key_failures().blocked(ip)) {
        return Ok(KeyCheck::Limited { retry_after: wait.as_secs_f64().ceil().max(1.0) as u64 });
    }
    // SECURITY: the session key (the window's calls, and CLI commands of the user who can
    // read the data folder's `porch.token`) and the content key (content processes' calls
    // back) never work from another computer, whatever the remote-publishing switch says:
    // they are local credentials.
    let remote = ip.is_some_and(|ip| !from_this_computer(ip));
    let local_only = crate::keys::ct_eq(key.as_bytes(), engine.session_key().as_bytes())
        || crate::keys::ct_eq(key.as_bytes(), engine.library().content_key().as_bytes());
    if !(remote && local_only) && engine.library().check_key(key).await? {
        return Ok(KeyCheck::Valid);
    }
    if let Some(ip) = ip {
        tracing::info!(%ip, "a wrong API key was presented");
        engine.library().key_failures().failed(ip);
    }
    Ok(KeyCheck::Invalid)
}

/// Whether the request's `Host` names this machine: an IP literal, `localhost`, this
/// machine's host name (or `NAME.local`), the `.local` name Porch announces, or the host of
/// `--public-url`.
///
/// SECURITY: a loopback peer is not enough to trust a browser: a page from anywhere can
/// point its own domain name at 127.0.0.1 (DNS rebinding) and read what the browser fetches.
/// Such requests carry the foreign name in `Host`, so loopback-only content also checks it.
pub fn host_is_this_machine(engine: &Engine, headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(header::HOST).and_then(|v| v.to_str().ok()) else {
        return true; // HTTP/1.0 without Host: no name to rebind
    };
    names_this_machine(engine, host)
}

/// Whether a request's `Origin`, when it has one, is a page of this machine (by the names
/// [`host_is_this_machine`] accepts); `null` and anything unreadable are not.
///
/// SECURITY: a page from anywhere may open a WebSocket (or send a form) to 127.0.0.1, and
/// the browser then sends `Host: 127.0.0.1`, which passes the rule above; it also sends the
/// page's own `Origin`, which does not. A navigation sends none, or Porch's own.
pub fn origin_is_this_machine(engine: &Engine, headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN) else {
        return true;
    };
    origin
        .to_str()
        .ok()
        .and_then(|o| o.split_once("://"))
        .is_some_and(|(_, authority)| !authority.is_empty() && names_this_machine(engine, authority))
}

/// Whether `host` (a `Host` value, or an origin's authority) names this machine.
fn names_this_machine(engine: &Engine, host: &str) -> bool {
    let name = match host.strip_prefix('[') {
        Some(v6) => return v6.split(']').next().is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok()),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h).trim_end_matches('.').to_ascii_lowercase(),
    };
    if name.parse::<IpAddr>().is_ok() || name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    let me = hostname().to_ascii_lowercase();
    if name == me || name == format!("{me}.local") {
        return true;
    }
    // SECURITY: like `{me}.local` above, the announced name is answered only by mDNS on the
    // local link: rebinding it to 127.0.0.1 takes someone on this network spoofing mDNS, the
    // same trust as the host name's own `.local` (accepted since before discovery).
    if engine.local_name().is_some_and(|n| name == format!("{n}.local")) {
        return true;
    }
    engine
        .config()
        .public_url
        .as_deref()
        .and_then(|u| u.split("://").nth(1))
        .map(|rest| rest.split(['/', ':']).next().unwrap_or("").to_ascii_lowercase())
        .is_some_and(|public| public == name)
}

/// Whether a peer may act as the publisher at all (this computer, or remote publishing on).
pub fn may_publish_from(engine: &Engine, peer: Option<SocketAddr>) -> bool {
    engine.settings().allow_remote_publishing() || peer.is_none_or(|p| from_this_computer(p.ip()))
}

/// Whether a management caller's address is this computer's: loopback, or one of its own
/// addresses (a server bound to one LAN address is reached there by its own CLI).
/// SECURITY: a TCP peer cannot claim an address of this computer from elsewhere: the
/// handshake's answer would go to this computer, not to it. Only for management calls:
/// viewers' `local` check stays loopback with the Host rule (`access.rs`), and the address
/// list is read only for a caller that is not loopback.
pub fn from_this_computer(ip: std::net::IpAddr) -> bool {
    is_loopback(ip) || crate::reach::net::is_own_address(ip)
}

/// Whether a request carries the publisher's valid key from where the publisher may act.
pub async fn is_publisher(engine: &Engine, headers: &HeaderMap, peer: Option<SocketAddr>) -> bool {
    may_publish_from(engine, peer) && matches!(check_key(engine, headers, peer).await, Ok(KeyCheck::Valid))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_detection() {
        assert!(is_loopback("127.0.0.1".parse().expect("ip")));
        assert!(is_loopback("127.9.9.9".parse().expect("ip")));
        assert!(is_loopback("::1".parse().expect("ip")));
        assert!(is_loopback("::ffff:127.0.0.1".parse().expect("ip")));
        assert!(!is_loopback("10.0.0.2".parse().expect("ip")));
        assert!(!is_loopback("::ffff:192.168.1.2".parse().expect("ip")));
    }
}
