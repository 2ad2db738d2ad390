//! Who is calling: the publisher (a valid key, from an allowed address) or a viewer.
//!
//! SECURITY: management calls need `Authorization: Key <key>`, and unless
//! `--allow-remote-publishing` is set they must also come from a loopback peer. The peer
//! address is the socket's, never a forwarded header, so it cannot be spoofed by a client.

use std::net::{IpAddr, SocketAddr};

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;
use axum::http::HeaderMap;

use super::error::ApiError;
use crate::engine::Engine;
use crate::error::Error;
use crate::keys::parse_authorization;

/// Proof that the caller is the publisher.
#[derive(Debug, Clone, Copy)]
pub struct Publisher;

pub use crate::listener::is_loopback;

/// The socket peer of a request (absent only for in-process calls, which are local).
pub(super) fn peer(parts: &Parts) -> Option<SocketAddr> {
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)
}

/// What the `Authorization` header amounted to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum KeyCheck {
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
pub(super) async fn check_key(
    engine: &Engine,
    headers: &HeaderMap,
    peer: Option<SocketAddr>,
) -> Result<KeyCheck, Error> {
    let Some(key) = headers.get("authorization").and_then(|v| v.to_str().ok()).and_then(parse_authorization) else {
        return Ok(KeyCheck::Absent);
    };
    let ip = peer.map(|p| p.ip());
    if let Some(wait) = ip.and_then(|ip| engine.library().key_failures().blocked(ip)) {
        return Ok(KeyCheck::Limited { retry_after: wait.as_secs_f64().ceil().max(1.0) as u64 });
    }
    if engine.library().check_key(key).await? {
        return Ok(KeyCheck::Valid);
    }
    if let Some(ip) = ip {
        tracing::info!(%ip, "a wrong API key was presented");
        engine.library().key_failures().failed(ip);
    }
    Ok(KeyCheck::Invalid)
}

/// Whether the request's `Host` names this machine: an IP literal, `localhost`, this
/// machine's host name (or `NAME.local`), or the host of `--public-url`.
///
/// SECURITY: a loopback peer is not enough to trust a browser: a page from anywhere can
/// point its own domain name at 127.0.0.1 (DNS rebinding) and read what the browser fetches.
/// Such requests carry the foreign name in `Host`, so loopback-only content also checks it.
pub(super) fn host_is_this_machine(engine: &Engine, headers: &HeaderMap) -> bool {
    let Some(host) = headers.get(axum::http::header::HOST).and_then(|v| v.to_str().ok()) else {
        return true; // HTTP/1.0 without Host: no name to rebind
    };
    let name = match host.strip_prefix('[') {
        Some(v6) => return v6.split(']').next().is_some_and(|a| a.parse::<std::net::Ipv6Addr>().is_ok()),
        None => host.rsplit_once(':').map_or(host, |(h, _)| h).trim_end_matches('.').to_ascii_lowercase(),
    };
    if name.parse::<IpAddr>().is_ok() || name == "localhost" || name.ends_with(".localhost") {
        return true;
    }
    let me = super::server::hostname().to_ascii_lowercase();
    if name == me || name == format!("{me}.local") {
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

/// Whether a peer may act as the publisher at all (loopback, or remote publishing on).
pub(super) fn may_publish_from(engine: &Engine, peer: Option<SocketAddr>) -> bool {
    engine.settings().allow_remote_publishing() || peer.is_none_or(|p| is_loopback(p.ip()))
}

impl FromRequestParts<Engine> for Publisher {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, engine: &Engine) -> Result<Self, Self::Rejection> {
        let peer = peer(parts);
        if !may_publish_from(engine, peer) {
            return Err(Error::Forbidden(
                "publishing from another computer is switched off; start Porch with --allow-remote-publishing to allow it"
                    .into(),
            )
            .into());
        }
        match check_key(engine, &parts.headers, peer).await? {
            KeyCheck::Valid => Ok(Publisher),
            KeyCheck::Limited { retry_after } => Err(Error::TooManyAttempts { retry_after }.into()),
            KeyCheck::Absent | KeyCheck::Invalid => Err(Error::Unauthorized.into()),
        }
    }
}

/// The external origin for absolute URLs: `--public-url`, else the request's Host.
#[derive(Debug, Clone)]
pub struct Origin(pub String);

impl FromRequestParts<Engine> for Origin {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(parts: &mut Parts, engine: &Engine) -> Result<Self, Self::Rejection> {
        if let Some(u) = &engine.config().public_url {
            return Ok(Origin(u.trim_end_matches('/').to_string()));
        }
        let h = &parts.headers;
        let get = |n: &str| {
            h.get(n).and_then(|v| v.to_str().ok()).map(|s| s.split(',').next().unwrap_or("").trim().to_string())
        };
        let proto = get("x-forwarded-proto").filter(|p| p == "http" || p == "https").unwrap_or_else(|| "http".into());
        let host = get("x-forwarded-host")
            .or_else(|| get("host"))
            .or_else(|| parts.uri.authority().map(|a| a.to_string()))
            .filter(|h| !h.is_empty() && h.chars().all(|c| c.is_ascii_alphanumeric() || "-.:[]_".contains(c)));
        Ok(Origin(match host {
            Some(host) => format!("{proto}://{host}"),
            None => engine.default_origin(),
        }))
    }
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
