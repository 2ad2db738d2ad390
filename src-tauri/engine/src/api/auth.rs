//! Who is calling a management route: the publisher (a valid key, from an allowed address)
//! or nobody. The questions themselves (peer, loopback, key, host) are answered by
//! `gateway::identity`, shared with the viewer path.
//!
//! SECURITY: management calls need `Authorization: Key <key>`, and unless
//! `--allow-remote-publishing` is set they must also come from a loopback peer. The peer
//! address is the socket's, never a forwarded header, so it cannot be spoofed by a client.

use std::net::SocketAddr;

use axum::extract::{ConnectInfo, FromRequestParts};
use axum::http::request::Parts;

use super::error::ApiError;
use crate::engine::Engine;
use crate::error::Error;
use crate::gateway::identity::{check_key, from_this_computer, may_publish_from, KeyCheck};

/// Proof that the caller is the publisher.
#[derive(Debug, Clone, Copy)]
pub struct Publisher {
    /// Whether the call comes from this computer (see [`Publisher::at_this_computer`]).
    here: bool,
}

impl Publisher {
    /// Refuses a call that names a file or folder on this computer (a folder to follow, a
    /// CA file to read) from another one: remote publishing sends bundles, it does not read
    /// this computer's files.
    pub fn at_this_computer(self, what: &str) -> Result<(), Error> {
        if self.here {
            return Ok(());
        }
        Err(Error::Forbidden(format!(
            "{what} names a file on the computer Porch runs on; set it there, not from another computer"
        )))
    }
}

/// The socket peer of a request (absent only for in-process calls, which are local).
pub(super) fn peer(parts: &Parts) -> Option<SocketAddr> {
    parts.extensions.get::<ConnectInfo<SocketAddr>>().map(|c| c.0)
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
            KeyCheck::Valid => Ok(Publisher { here: peer.is_none_or(|p| from_this_computer(p.ip())) }),
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
        // Links a publisher shares use the `.local` name while it is announced: it survives
        // a new address from DHCP (the server view lists the plain addresses beside it).
        if engine.local_name().is_some() {
            return Ok(Origin(engine.share_origin()));
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
