//! The reverse proxy from the LAN port to content workers: HTTP and WebSocket.
//!
//! Plain requests reuse keep-alive HTTP/1.1 connections to the workers' loopback ports
//! (`pool.rs`: a worker's pooled connections simply fail over to fresh ones once it
//! stops); an upgrade (WebSocket) gets a dedicated connection. Bodies stream both ways (nothing is buffered whole), hop-by-hop headers
//! are dropped, the original `Host` is kept (frameworks compare it with `Origin`), and the
//! `X-Forwarded-*` and `RStudio-Connect-App-Base-URL` headers are added. An upgrade
//! (WebSocket) is completed on both sides and the two upgraded streams are spliced.
//! The [`Lease`] travels with the response body (or the spliced stream) so the worker's
//! connection count drops exactly when the exchange ends.
//!
//! SECURITY: no viewer can claim an identity, and Porch's own credentials never reach an
//! app. Porch has no viewer accounts, so every viewer is anonymous: every identity header a
//! client could forge ([`IDENTITY_HEADERS`]: `Shiny-Server-Credentials`, which R Shiny reads
//! into `session$user`, `RStudio-Connect-Credentials`, `Remote-User` and the `X-Forwarded-User`
//! / `X-Auth-Request-*` family that auth proxies set) is removed from plain requests and
//! WebSocket upgrades alike, for every app mode. `Authorization: Key …`, the secret-link
//! cookies, the usage device cookie (`porch_device`) and the `porch_token` parameter are removed too. Cookies an app sets are scoped to the item's paths ([`scope_set_cookie`]), so
//! one item's cookies are not sent to another item's paths.
//!
//! It owns the transport only: which worker, access and the pages a viewer sees on failure
//! belong to the gateway (`gateway::app`, `gateway::rescue`), its only caller. Failures are
//! typed ([`ProxyError`]), never panics; an upgrade comes back as a [`PendingUpgrade`] that
//! the caller runs as a session. It imports nothing from the HTTP surface above it.
//!
//! Concurrency: one task per exchange, plus hyper's task per upstream connection; the pool's
//! lock is held only to push or pop; a session's splice runs on a task the caller spawns.

use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::time::Instant;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Request, Response, StatusCode};
use bytes::Bytes;
use hyper_util::rt::TokioIo;

use crate::supervisor::{Lease, PrefixMode};

mod pool;

/// What the proxy needs to know about the request's outside. Borrowed from the request
/// where it can be, and what it must own is built once, so that a proxied request
/// allocates little (`bench/interactive.sh proxy`).
pub struct Outside<'a> {
    /// The item's external base path without a trailing slash (`/content/<guid>`).
    pub base_path: &'a str,
    /// The query string the app gets, with its `?` (or empty): the request's, less what is
    /// Porch's own (the secret-link token).
    pub query: String,
    /// The client's address.
    pub peer: Option<SocketAddr>,
    /// `http` (Porch serves plain HTTP on the LAN).
    pub proto: &'static str,
    /// Absolute external URL of the item root, with a trailing slash.
    pub app_base_url: String,
    /// Every path the item is served under, with trailing slashes (`/content/<guid>/`, its
    /// vanity path, and the one this request used): cookies the app sets are scoped to each.
    /// Asked only when the app sets a cookie.
    pub cookie_bases: &'a (dyn Fn() -> Vec<String> + Sync),
}

impl std::fmt::Debug for Outside<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Outside")
            .field("base_path", &self.base_path)
            .field("query", &self.query)
            .field("peer", &self.peer)
            .field("app_base_url", &self.app_base_url)
            .finish_non_exhaustive()
    }
}

/// Named once, so a request does not parse each name again (hop-by-hop and identity headers
/// are removed from every proxied request).
static HOP_BY_HOP: [HeaderName; 9] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    header::PROXY_AUTHENTICATE,
    header::PROXY_AUTHORIZATION,
    HeaderName::from_static("proxy-connection"),
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    let listed: Vec<HeaderName> = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .filter_map(|n| HeaderName::from_bytes(n.trim().as_bytes()).ok())
        .collect();
    for name in listed {
        headers.remove(name);
    }
    for name in &HOP_BY_HOP {
        headers.remove(name);
    }
}

/// Identity headers a viewer could forge (lower case). Apps and frameworks trust them when
/// an authenticating proxy sets them; Porch authenticates no viewer, so none may pass.
pub static IDENTITY_HEADERS: [HeaderName; 9] = [
    HeaderName::from_static("shiny-server-credentials"),
    HeaderName::from_static("rstudio-connect-credentials"),
    HeaderName::from_static("remote-user"),
    HeaderName::from_static("x-remote-user"),
    HeaderName::from_static("x-forwarded-user"),
    HeaderName::from_static("x-forwarded-email"),
    HeaderName::from_static("x-auth-request-user"),
    HeaderName::from_static("x-auth-request-email"),
    HeaderName::from_static("x-auth-request-groups"),
];

static X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
static X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
static X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
static X_FORWARDED_PORT: HeaderName = HeaderName::from_static("x-forwarded-port");
static CONNECT_APP_BASE_URL: HeaderName = HeaderName::from_static("rstudio-connect-app-base-url");

/// Removes forged identities and Porch's credentials from a request bound for an app.
fn strip_credentials(headers: &mut HeaderMap) {
    // SECURITY: every copy of each header goes (`remove` drops all values of a name).
    for name in &IDENTITY_HEADERS {
        headers.remove(name);
    }
    let porch_key = headers
        .get_all(header::AUTHORIZATION)
        .iter()
        .any(|v| v.to_str().ok().and_then(crate::keys::parse_authorization).is_some());
    if porch_key {
        headers.remove(header::AUTHORIZATION);
    }
    let cookies: Vec<String> = headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .map(str::trim)
        // SECURITY: Porch's own cookies (secret links, the usage device id) stay with Porch.
        .filter(|kv| !kv.is_empty() && !kv.starts_with("porch_link_") && !kv.starts_with("porch_device="))
        .map(str::to_string)
        .collect();
    headers.remove(header::COOKIE);
    if !cookies.is_empty() {
        if let Ok(v) = HeaderValue::from_str(&cookies.join("; ")) {
            headers.insert(header::COOKIE, v);
        }
    }
}

/// Rewrites one `Set-Cookie` value from an app so that it reaches only the item's paths:
/// the cookie's path, read as the app sees it (below the stripped prefix, or below the
/// request's base when the app gets the full path; a missing or foreign path means the app
/// root), is re-rooted under each of `bases`. One value comes back per base.
pub fn scope_set_cookie(value: &str, prefix: PrefixMode, request_base: &str, bases: &[String]) -> Vec<String> {
    let mut parts = value.split(';');
    let first = parts.next().unwrap_or("").trim().to_string();
    let mut attrs = Vec::new();
    let mut path = None;
    for a in parts.map(str::trim).filter(|a| !a.is_empty()) {
        let name = a.split('=').next().unwrap_or("").trim();
        if name.eq_ignore_ascii_case("path") {
            path = a.split_once('=').map(|(_, v)| v.trim().to_string());
        } else {
            attrs.push(a.to_string());
        }
    }
    let path = path.unwrap_or_default();
    let below = match prefix {
        PrefixMode::Strip => path.trim_start_matches('/'),
        PrefixMode::PassThrough => path.strip_prefix(request_base).unwrap_or(""),
    };
    bases
        .iter()
        .map(|b| {
            let mut out = format!("{first}; Path={b}{below}");
            for a in &attrs {
                out.push_str("; ");
                out.push_str(a);
            }
            out
        })
        .collect()
}

fn is_upgrade(headers: &HeaderMap) -> Option<HeaderValue> {
    let conn_upgrade = headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .any(|v| v.split(',').any(|t| t.trim().eq_ignore_ascii_case("upgrade")));
    if conn_upgrade {
        headers.get(header::UPGRADE).cloned()
    } else {
        None
    }
}

/// Why an exchange with a worker failed.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The path the worker would see is not a valid request target.
    #[error("the request path cannot be forwarded")]
    BadPath,
    /// No connection could be made.
    #[error("the worker at {addr} refused the connection")]
    Refused {
        /// The worker's address.
        addr: SocketAddr,
        /// What the connect said.
        #[source]
        source: BoxError,
    },
    /// The connection broke during the exchange.
    #[error("the exchange with the worker at {addr} failed")]
    Failed {
        /// The worker's address.
        addr: SocketAddr,
        /// What broke.
        #[source]
        source: BoxError,
    },
}

/// A transport error of any of the layers below (connector, hyper, the socket).
type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// What came back from the worker.
#[derive(Debug)]
pub enum Forwarded {
    /// A response whose body streams from the worker; the lease goes when it has been sent.
    Response(Response<Body>),
    /// `101 Switching Protocols`: send the response, then run the upgrade as a session.
    Upgraded(Response<Body>, PendingUpgrade),
}

/// Forwards `req` to the leased worker and returns its response.
pub async fn forward(lease: Lease, mut req: Request<Body>, mut outside: Outside<'_>) -> Result<Forwarded, ProxyError> {
    // The path and query the worker sees, built in one string.
    let pq = {
        let full = req.uri().path();
        let path = match lease.prefix {
            PrefixMode::PassThrough => full,
            PrefixMode::Strip => full.strip_prefix(outside.base_path).unwrap_or(full),
        };
        let slash = if path.starts_with('/') { "" } else { "/" };
        let mut pq = String::with_capacity(slash.len() + path.len() + outside.query.len());
        pq.push_str(slash);
        pq.push_str(path);
        pq.push_str(&outside.query);
        pq
    };
    let upgrade = is_upgrade(req.headers());
    let client_upgrade = upgrade.as_ref().map(|_| hyper::upgrade::on(&mut req));

    let (mut parts, body) = req.into_parts();
    // The viewer's `Host`, passed on as it came (a header value is shared, not copied).
    let host = parts.headers.get(header::HOST).cloned();
    strip_hop_by_hop(&mut parts.headers);
    strip_credentials(&mut parts.headers);
    let h = &mut parts.headers;
    forwarded_for(h, outside.peer);
    h.insert(X_FORWARDED_PROTO.clone(), HeaderValue::from_static(outside.proto));
    let port = forwarded_port(host.as_ref());
    h.insert(X_FORWARDED_HOST.clone(), host.unwrap_or(HeaderValue::from_static("")));
    h.insert(X_FORWARDED_PORT.clone(), port);
    if let Some(v) = owned_value(std::mem::take(&mut outside.app_base_url)) {
        h.insert(CONNECT_APP_BASE_URL.clone(), v);
    }
    if let Some(u) = &upgrade {
        h.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
        h.insert(header::UPGRADE, u.clone());
    }
    parts.uri = axum::http::Uri::from_maybe_shared(Bytes::from(pq)).map_err(|_| ProxyError::BadPath)?;
    parts.version = axum::http::Version::HTTP_11;
    let upstream_req = Request::from_parts(parts, body);

    let addr = SocketAddr::from(([127, 0, 0, 1], lease.port));
    let sent = if upgrade.is_some() {
        send_dedicated(addr, upstream_req).await.map(|r| (r, None))
    } else {
        pool::send(addr, upstream_req).await.map(|(r, p)| (r, Some(p)))
    };
    let (mut resp, pooled) = match sent {
        Ok(r) => r,
        Err(e) => {
            match &e {
                ProxyError::Refused { source, .. } => {
                    tracing::warn!(%addr, error = %source, "upstream refused the connection")
                }
                _ => tracing::warn!(%addr, error = %e, "upstream failed mid-request"),
            }
            return Err(e);
        }
    };

    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        if let Some(client) = client_upgrade {
            let upstream = hyper::upgrade::on(&mut resp);
            let (parts, _) = resp.into_parts();
            let pending = PendingUpgrade { client, upstream, lease };
            return Ok(Forwarded::Upgraded(Response::from_parts(parts, Body::empty()), pending));
        }
    }
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    scope_cookies(&mut parts.headers, lease.prefix, &outside);
    let body = LeasedBody { inner: body, pooled, _lease: lease };
    Ok(Forwarded::Response(Response::from_parts(parts, Body::new(body))))
}

/// An upgrade the worker accepted, waiting for both sides to hand over their connections.
#[derive(Debug)]
pub struct PendingUpgrade {
    client: hyper::upgrade::OnUpgrade,
    upstream: hyper::upgrade::OnUpgrade,
    lease: Lease,
}

impl PendingUpgrade {
    /// Waits until both sides have upgraded (the client's once its 101 has been sent); `None`
    /// when either did not, and the lease is released.
    pub async fn complete(self) -> Option<Tunnel> {
        match (self.client.await, self.upstream.await) {
            (Ok(down), Ok(up)) => Some(Tunnel { down, up, lease: self.lease }),
            (d, u) => {
                tracing::debug!(client = d.is_ok(), upstream = u.is_ok(), "upgrade did not complete");
                None
            }
        }
    }
}

/// Both upgraded connections of a session, spliced by [`Tunnel::run`].
#[derive(Debug)]
pub struct Tunnel {
    down: hyper::upgrade::Upgraded,
    up: hyper::upgrade::Upgraded,
    lease: Lease,
}

impl Tunnel {
    /// Copies both ways until either side closes or an idle limit passes (Connect's
    /// connection and read timeouts), then releases the lease.
    pub async fn run(self) {
        let lease = self.lease;
        let limits = Idle { connection: nonzero(lease.connection_timeout), read: nonzero(lease.read_timeout) };
        splice(TokioIo::new(self.down), TokioIo::new(self.up), limits).await;
        drop(lease); // counted as a connection while the socket was open
    }
}

/// Headers other proxies use for the client's address, dropped from what a client sends.
const CLIENT_ADDRESS_HEADERS: [&str; 7] = [
    "x-real-ip",
    "true-client-ip",
    "cf-connecting-ip",
    "x-client-ip",
    "x-cluster-client-ip",
    "x-original-forwarded-for",
    "fastly-client-ip",
];

/// Names the viewer's address to the app in `X-Forwarded-For`, and only it.
///
/// SECURITY: Porch is the first hop (it listens for viewers itself), so whatever a client
/// wrote in `X-Forwarded-For`, `X-Real-IP` or `Forwarded` is its own claim: an app that
/// trusts the first address of the chain would take it for the viewer's. Those are
/// dropped; the socket's peer is the one address passed on.
fn forwarded_for(h: &mut HeaderMap, peer: Option<SocketAddr>) {
    h.remove(&X_FORWARDED_FOR);
    h.remove(header::FORWARDED);
    // The other names proxies and CDNs give the client's address, which libraries read.
    for name in CLIENT_ADDRESS_HEADERS {
        h.remove(name);
    }
    if let Some(v) = peer.and_then(|p| owned_value(p.ip().to_string())) {
        h.insert(X_FORWARDED_FOR.clone(), v);
    }
}

/// The port the viewer used: the `Host`'s, else HTTP's (what follows the last colon of an
/// IPv6 literal without a port, `1]` in `[::1]`, is no number, so it is not taken).
fn forwarded_port(host: Option<&HeaderValue>) -> HeaderValue {
    host.and_then(|v| v.to_str().ok())
        .and_then(|v| v.rsplit_once(':'))
        .and_then(|(_, p)| p.parse::<u16>().ok())
        .map_or(HeaderValue::from_static("80"), HeaderValue::from)
}

/// A header value made from a string without copying it (checked all the same).
fn owned_value(s: String) -> Option<HeaderValue> {
    HeaderValue::from_maybe_shared(Bytes::from(s)).ok()
}

/// Applies [`scope_set_cookie`] to every `Set-Cookie` of a response.
fn scope_cookies(headers: &mut HeaderMap, prefix: PrefixMode, outside: &Outside) {
    if !headers.contains_key(header::SET_COOKIE) {
        return;
    }
    let request_base = format!("{}/", outside.base_path);
    let bases = (outside.cookie_bases)();
    let values: Vec<String> =
        headers.get_all(header::SET_COOKIE).iter().filter_map(|v| v.to_str().ok()).map(str::to_string).collect();
    headers.remove(header::SET_COOKIE);
    for v in values {
        for scoped in scope_set_cookie(&v, prefix, &request_base, &bases) {
            if let Ok(v) = HeaderValue::from_str(&scoped) {
                headers.append(header::SET_COOKIE, v);
            }
        }
    }
}

async fn send_dedicated(addr: SocketAddr, req: Request<Body>) -> Result<Response<hyper::body::Incoming>, ProxyError> {
    let stream =
        tokio::net::TcpStream::connect(addr).await.map_err(|e| ProxyError::Refused { addr, source: e.into() })?;
    let _ = stream.set_nodelay(true);
    let (mut sender, conn) = hyper::client::conn::http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|e| ProxyError::Failed { addr, source: e.into() })?;
    // Not on the engine's tracker (the proxy knows no engine): this task drives one
    // connection to a worker and ends with it, and the runner stops every worker at shutdown.
    tokio::spawn(async move {
        if let Err(e) = conn.with_upgrades().await {
            tracing::debug!(error = %e, "upstream connection ended with an error");
        }
    });
    sender.send_request(req).await.map_err(|e| ProxyError::Failed { addr, source: e.into() })
}

/// Idle limits on a spliced connection.
#[derive(Debug, Clone, Copy)]
struct Idle {
    /// Silence either way.
    connection: Option<Duration>,
    /// Silence from the client.
    read: Option<Duration>,
}

fn nonzero(d: Duration) -> Option<Duration> {
    (!d.is_zero()).then_some(d)
}

/// Copies both ways until either side closes or an idle limit passes (Connect's
/// connection and read timeouts).
async fn splice<A, B>(client: A, upstream: B, idle: Idle)
where
    A: AsyncRead + AsyncWrite + Unpin,
    B: AsyncRead + AsyncWrite + Unpin,
{
    let (mut cr, mut cw) = tokio::io::split(client);
    let (mut ur, mut uw) = tokio::io::split(upstream);
    let (mut cbuf, mut ubuf) = (vec![0u8; 16 * 1024], vec![0u8; 16 * 1024]);
    let (mut last_any, mut last_client) = (Instant::now(), Instant::now());
    loop {
        let deadline =
            [idle.connection.map(|d| last_any + d), idle.read.map(|d| last_client + d)].into_iter().flatten().min();
        let expire = async {
            match deadline {
                Some(at) => tokio::time::sleep_until(at).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            n = cr.read(&mut cbuf) => match n {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if uw.write_all(&cbuf[..n]).await.is_err() { break; }
                    last_any = Instant::now();
                    last_client = last_any;
                }
            },
            n = ur.read(&mut ubuf) => match n {
                Ok(0) | Err(_) => break,
                Ok(n) => {
                    if cw.write_all(&ubuf[..n]).await.is_err() { break; }
                    last_any = Instant::now();
                }
            },
            _ = expire => {
                tracing::debug!("closing an idle upgraded connection");
                break;
            }
        }
    }
    let _ = uw.shutdown().await;
    let _ = cw.shutdown().await;
}

/// A response body that holds the worker's lease, and the connection it came on, until it
/// has been sent; then the connection goes back to the pool.
struct LeasedBody {
    inner: hyper::body::Incoming,
    pooled: Option<pool::Pooled>,
    _lease: Lease,
}

impl Drop for LeasedBody {
    fn drop(&mut self) {
        if let Some(p) = self.pooled.take() {
            p.give_back();
        }
    }
}

impl http_body::Body for LeasedBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, hyper::Error>>> {
        Pin::new(&mut self.inner).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_forwarded_port_is_the_hosts_or_80() {
        let port = |h: Option<&'static str>| forwarded_port(h.map(HeaderValue::from_static).as_ref());
        assert_eq!(port(Some("porch.local:3939")), "3939");
        assert_eq!(port(Some("porch.local")), "80");
        assert_eq!(port(Some("[fe80::1]:8080")), "8080");
        assert_eq!(port(Some("[fe80::1]")), "80");
        assert_eq!(port(Some("[::1]")), "80", "the last group of an IPv6 literal is not a port");
        assert_eq!(port(Some("host:notaport")), "80");
        assert_eq!(port(None), "80");
    }

    #[test]
    fn hop_by_hop_headers_go() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, x-private"));
        h.insert("x-private", HeaderValue::from_static("1"));
        h.insert("keep-alive", HeaderValue::from_static("timeout=5"));
        h.insert(header::TRANSFER_ENCODING, HeaderValue::from_static("chunked"));
        h.insert("x-kept", HeaderValue::from_static("1"));
        strip_hop_by_hop(&mut h);
        assert_eq!(h.len(), 1);
        assert!(h.contains_key("x-kept"));
    }

    #[test]
    fn forged_identity_headers_are_not_forwarded() {
        let mut h = HeaderMap::new();
        for name in &IDENTITY_HEADERS {
            h.append(name, HeaderValue::from_static("mallory"));
            h.append(name, HeaderValue::from_static("{\"user\":\"mallory\"}"));
        }
        // Header names are case-insensitive: the capitalised spelling is the same header.
        let spelled = HeaderName::from_bytes(b"Shiny-Server-Credentials").expect("valid name");
        h.append(spelled, HeaderValue::from_static("{}"));
        h.insert("x-forwarded-for", HeaderValue::from_static("10.0.0.9"));
        strip_credentials(&mut h);
        for name in &IDENTITY_HEADERS {
            assert!(!h.contains_key(name), "{name} reached the app");
        }
        assert!(h.contains_key("x-forwarded-for"), "other headers stay");
        assert_eq!(IDENTITY_HEADERS.len(), 9);
    }

    #[test]
    fn only_the_peer_is_named_as_the_viewer() {
        let mut h = HeaderMap::new();
        h.append("x-forwarded-for", HeaderValue::from_static("1.2.3.4"));
        h.append("x-forwarded-for", HeaderValue::from_static("5.6.7.8, 9.9.9.9"));
        h.insert("forwarded", HeaderValue::from_static("for=1.2.3.4"));
        for name in CLIENT_ADDRESS_HEADERS {
            h.insert(name, HeaderValue::from_static("1.2.3.4"));
        }
        forwarded_for(&mut h, Some("10.0.0.2:5000".parse().expect("addr")));
        let xff: Vec<_> = h.get_all("x-forwarded-for").iter().collect();
        assert_eq!(xff, [HeaderValue::from_static("10.0.0.2")]);
        assert!(!h.contains_key("forwarded"));
        for name in CLIENT_ADDRESS_HEADERS {
            assert!(!h.contains_key(name), "{name} reached the app");
        }
        forwarded_for(&mut h, None);
        assert!(!h.contains_key("x-forwarded-for"), "no peer (an in-process call): no claim");
    }

    #[test]
    fn porch_credentials_are_not_forwarded() {
        let mut h = HeaderMap::new();
        h.insert("rstudio-connect-credentials", HeaderValue::from_static("{\"user\":\"x\"}"));
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Key abc"));
        h.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; porch_link_0123=secret; porch_device=0123456789abcdef0123456789abcdef; b=2"),
        );
        strip_credentials(&mut h);
        assert!(!h.contains_key("rstudio-connect-credentials"));
        assert!(!h.contains_key(header::AUTHORIZATION));
        assert_eq!(h.get(header::COOKIE).and_then(|v| v.to_str().ok()), Some("a=1; b=2"));
        let mut h = HeaderMap::new();
        h.insert(header::AUTHORIZATION, HeaderValue::from_static("Bearer app-token"));
        strip_credentials(&mut h);
        assert!(h.contains_key(header::AUTHORIZATION), "an app's own scheme is kept");
    }

    #[test]
    fn set_cookie_paths_are_scoped_to_the_item() {
        let bases = vec!["/content/g/".to_string(), "/sales/".to_string()];
        let strip = |v: &str| scope_set_cookie(v, PrefixMode::Strip, "/content/g/", &bases);
        assert_eq!(strip("s=1"), ["s=1; Path=/content/g/", "s=1; Path=/sales/"]);
        assert_eq!(strip("s=1; Path=/; HttpOnly"), ["s=1; Path=/content/g/; HttpOnly", "s=1; Path=/sales/; HttpOnly"]);
        assert_eq!(strip("s=1; path=/api"), ["s=1; Path=/content/g/api", "s=1; Path=/sales/api"]);
        let pass = |v: &str| scope_set_cookie(v, PrefixMode::PassThrough, "/sales/", &bases);
        assert_eq!(pass("s=1; Path=/sales/x/"), ["s=1; Path=/content/g/x/", "s=1; Path=/sales/x/"]);
        assert_eq!(pass("s=1; Path=/content/other/"), ["s=1; Path=/content/g/", "s=1; Path=/sales/"]);
        assert_eq!(pass("s=1; Max-Age=0"), ["s=1; Path=/content/g/; Max-Age=0", "s=1; Path=/sales/; Max-Age=0"]);
    }

    #[test]
    fn upgrade_detection() {
        let mut h = HeaderMap::new();
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive, Upgrade"));
        h.insert(header::UPGRADE, HeaderValue::from_static("websocket"));
        assert_eq!(is_upgrade(&h), Some(HeaderValue::from_static("websocket")));
        h.insert(header::CONNECTION, HeaderValue::from_static("keep-alive"));
        assert_eq!(is_upgrade(&h), None);
    }
}
