//! The accept loop of the LAN port, with the limits that keep one client from starving the rest.
//!
//! SECURITY: this is the first code any byte from the network reaches. It owns:
//! - a cap on open connections ([`HttpLimits::max_connections`]): the connection beyond it
//!   is accepted, answered `503` with `Retry-After` and a one-line reason, and closed (a
//!   small, separately capped pool of such answers; past that, the socket is just closed);
//! - the request head: hyper reads at most [`HttpLimits::head_buffer`] bytes and
//!   [`HttpLimits::hard_max_headers`] fields (past that: hyper's bare `431`); within that,
//!   a request line longer than `max_request_line` gets `414` and more or larger header
//!   fields than allowed get `431`, each with a body saying which limit was hit;
//! - slow and idle clients: hyper's header-read timeout bounds the time from the first byte
//!   of a request head to its end, so a slowloris client dribbling header lines is dropped
//!   after `header_read_timeout`; a connection (fresh or kept alive) that moves no byte
//!   either way for as long is closed too (gracefully: a response in progress finishes).
//!
//! It does not own request bodies (handlers bound their own: uploads by
//! `max_bundle_bytes`, everything by the router's 10-minute `TimeoutLayer`) nor proxied
//! WebSockets after the upgrade (the proxy applies Connect's connection and read timeouts).
//!
//! A connection is first read by [`plain`], which answers plain `GET`/`HEAD` requests for
//! files the front has in memory itself (a large file's body by sendfile) and hands the
//! connection to hyper, with the bytes it read, at the first request that is anything else.
//! hyper then serves it to the end, asking the front's lane ([`Front::lane`]) before the
//! service about each request.
//!
//! Concurrency: one task per connection, spawned on the engine's `TaskTracker`; each holds
//! a semaphore permit inside its socket wrapper, so an upgraded (WebSocket) connection keeps
//! counting until the socket is dropped. On cancellation the accept loop stops and every
//! connection task asks hyper for a graceful shutdown.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::http::{header, HeaderValue, Request, Response, StatusCode};
use futures_util::future::Either;
use futures_util::FutureExt as _;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::{Service, ServiceExt};

/// Limits on connections and request heads (serve flags `--max-connections`,
/// `--header-read-timeout`, `--max-request-line`, `--max-header-bytes`, `--max-headers`).
#[derive(Debug, Clone, Copy)]
pub struct HttpLimits {
    /// Open connections (WebSockets included) before new ones get `503`.
    pub max_connections: usize,
    /// Longest request target (path and query), in bytes; longer → `414`.
    pub max_request_line: usize,
    /// Sum of header names and values, in bytes; more → `431`.
    pub max_header_bytes: usize,
    /// Number of header fields; more → `431`.
    pub max_headers: usize,
    /// Time a client gets to send a complete request head, counted from when the
    /// connection starts waiting for one (so it is also the keep-alive idle timeout).
    pub header_read_timeout: Duration,
}

impl Default for HttpLimits {
    fn default() -> Self {
        HttpLimits {
            max_connections: 10_000,
            max_request_line: 8 * 1024,
            max_header_bytes: 32 * 1024,
            max_headers: 100,
            header_read_timeout: Duration::from_secs(30),
        }
    }
}

impl HttpLimits {
    /// hyper's read buffer: room for the largest head we answer with a clear message, plus
    /// slack for the request line and line ends. Past it hyper answers a bare `431`.
    pub fn head_buffer(&self) -> usize {
        (self.max_request_line + self.max_header_bytes + 8 * 1024).max(8 * 1024)
    }

    /// hyper's own field cap, above ours so ours answers first with a clear message.
    pub fn hard_max_headers(&self) -> usize {
        self.max_headers * 2 + 16
    }

    /// What is wrong with a request head, as a status and a message, if anything.
    pub fn check_head<B>(&self, req: &Request<B>) -> Option<(StatusCode, String)> {
        let target = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
        if target > self.max_request_line {
            return Some((
                StatusCode::URI_TOO_LONG,
                format!(
                    "The request target is {target} bytes; Porch accepts at most {} (--max-request-line).",
                    self.max_request_line
                ),
            ));
        }
        let count = req.headers().len();
        if count > self.max_headers {
            return Some((
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                format!(
                    "The request has {count} header fields; Porch accepts at most {} (--max-headers).",
                    self.max_headers
                ),
            ));
        }
        let bytes: usize = req.headers().iter().map(|(k, v)| k.as_str().len() + v.len() + 4).sum();
        if bytes > self.max_header_bytes {
            return Some((
                StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
                format!(
                    "The request headers are {bytes} bytes; Porch accepts at most {} (--max-header-bytes).",
                    self.max_header_bytes
                ),
            ));
        }
        None
    }
}

/// How many over-the-limit connections may be in the middle of getting their `503` at once.
const OVERFLOW_ANSWERS: usize = 64;

mod plain;

pub use plain::FileBody;

/// What the front's lane makes of a request hyper read.
pub enum Lane {
    /// Answered at once.
    Now(Response<Body>),
    /// Being answered without the service.
    Later(Pin<Box<dyn std::future::Future<Output = Response<Body>> + Send>>),
    /// Not the front's: the service gets it.
    Pass(Request<Incoming>),
}

/// What looks at requests before the service (the gateway's fast lane, `gateway::fast`).
pub trait Front: Send + Sync + 'static {
    /// The answer to a bodiless `GET` or `HEAD` from its head alone, if there is one at once
    /// (a file in memory); `None` sends the connection on to hyper and the service.
    fn at_once(&self, req: &Request<()>, peer: SocketAddr) -> Option<Response<Body>>;
    /// Where a request hyper read goes (after the head limits).
    fn lane(&self, req: Request<Incoming>, peer: SocketAddr) -> Lane;
}

/// Serves `make_service` on `listener` until `cancel` fires.
///
/// `make_service` is called once per connection with the peer address (axum's
/// `IntoMakeServiceWithConnectInfo<_, SocketAddr>` fits); `front` sees each request before
/// it.
pub async fn serve<M, S>(
    listener: TcpListener,
    mut make_service: M,
    front: Arc<dyn Front>,
    limits: HttpLimits,
    cancel: CancellationToken,
    tracker: TaskTracker,
) where
    M: Service<SocketAddr, Response = S, Error = Infallible>,
    S: Service<Request<Body>, Response = Response<Body>, Error = Infallible> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    let slots = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let overflow = Arc::new(Semaphore::new(OVERFLOW_ANSWERS));
    let mut builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.head_buffer())
        .max_headers(limits.hard_max_headers());
    // HTTP/2 WebSockets (RFC 8441), as axum::serve enables.
    builder.http2().enable_connect_protocol().timer(TokioTimer::new());
    let builder = Arc::new(builder);
    let mut backoff = Duration::from_millis(5);
    loop {
        let (tcp, peer) = tokio::select! {
            _ = cancel.cancelled() => break,
            r = listener.accept() => match r {
                Ok(pair) => { backoff = Duration::from_millis(5); pair }
                Err(e) => {
                    // EMFILE/ENFILE and friends: wait a little and try again rather than spin.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(backoff).await;
                    backoff = (backoff * 2).min(Duration::from_secs(1));
                    continue;
                }
            },
        };
        let _ = tcp.set_nodelay(true);
        let Ok(permit) = slots.clone().try_acquire_owned() else {
            match overflow.clone().try_acquire_owned() {
                Ok(p) => {
                    tracker.spawn(refuse(tcp, limits.max_connections, p));
                }
                Err(_) => drop(tcp),
            }
            continue;
        };
        let svc = match make_service.ready().await {
            Ok(m) => match m.call(peer).await {
                Ok(s) => s,
                Err(never) => match never {},
            },
            Err(never) => match never {},
        };
        let head = limits;
        let lane_front = front.clone();
        let hyper_svc = hyper::service::service_fn(move |req: Request<Incoming>| {
            // A refused head, the fast lane, or the service (cloned, and the body boxed, only
            // for the latter).
            let lane = match head.check_head(&req) {
                Some((status, message)) => Lane::Now(limit_page(status, message)),
                None => lane_front.lane(req, peer),
            };
            match lane {
                Lane::Now(resp) => Either::Left(Either::Left(std::future::ready(Ok::<_, Infallible>(resp)))),
                Lane::Later(answer) => Either::Left(Either::Right(answer.map(Ok::<_, Infallible>))),
                Lane::Pass(req) => Either::Right(svc.clone().oneshot(req.map(Body::new))),
            }
        });
        let activity = Activity::new();
        let mut counted = Counted { inner: tcp, _permit: permit, activity: activity.clone() };
        let builder = builder.clone();
        let cancel = cancel.clone();
        let front = front.clone();
        let idle = limits.header_read_timeout;
        tracker.spawn(async move {
            let read = match plain::serve(&mut counted, peer, front.as_ref(), &limits, &cancel).await {
                plain::Outcome::Closed => return,
                plain::Outcome::Handoff(read) => read,
            };
            let io = TokioIo::new(Rewind { read, io: counted });
            let conn = builder.serve_connection_with_upgrades(io, hyper_svc);
            tokio::pin!(conn);
            loop {
                tokio::select! {
                    r = conn.as_mut() => {
                        if let Err(e) = r {
                            tracing::debug!(%peer, error = %e, "connection ended with an error");
                        }
                        return;
                    }
                    _ = cancel.cancelled() => break,
                    // SECURITY: hyper's header timer does not cover a connection that has not
                    // sent its first bytes (protocol detection), and a keep-alive socket is
                    // better closed on silence alone. A graceful shutdown closes an idle
                    // connection at once and lets a response in progress finish first.
                    _ = tokio::time::sleep(activity.remaining(idle)) => {
                        if activity.remaining(idle).is_zero() {
                            break;
                        }
                    }
                }
            }
            conn.as_mut().graceful_shutdown();
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection ended with an error while closing");
            }
        });
    }
}

/// When a connection last moved a byte either way.
#[derive(Clone)]
struct Activity {
    start: std::time::Instant,
    last_ms: Arc<std::sync::atomic::AtomicU64>,
}

impl Activity {
    fn new() -> Activity {
        Activity { start: std::time::Instant::now(), last_ms: Arc::new(std::sync::atomic::AtomicU64::new(0)) }
    }

    fn touch(&self) {
        let ms = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_ms.store(ms, std::sync::atomic::Ordering::Relaxed);
    }

    /// How long until the connection has been silent for `idle`.
    fn remaining(&self, idle: Duration) -> Duration {
        let last = self.start + Duration::from_millis(self.last_ms.load(std::sync::atomic::Ordering::Relaxed));
        (last + idle).saturating_duration_since(std::time::Instant::now())
    }
}

fn limit_page(status: StatusCode, message: String) -> Response<Body> {
    let mut r = Response::new(Body::from(format!("{message}\n")));
    *r.status_mut() = status;
    r.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; charset=utf-8"));
    r.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    r.headers_mut().insert("x-porch-limit", HeaderValue::from_static("request-head"));
    r
}

/// Answers a connection past the cap: reads (briefly, boundedly) what the client sent so
/// closing does not reset the connection before it reads the answer, then writes `503`.
async fn refuse(mut tcp: TcpStream, cap: usize, _slot: OwnedSemaphorePermit) {
    let body = format!("Porch is at its limit of {cap} open connections (--max-connections). Try again in a moment.\n");
    let head = format!(
        "HTTP/1.1 503 Service Unavailable\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: {}\r\n\
         Retry-After: 5\r\nx-porch-limit: connections\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let mut buf = [0u8; 4096];
    let mut seen = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        while !seen.windows(4).any(|w| w == b"\r\n\r\n") && seen.len() < 16 * 1024 {
            match tcp.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    let _ = tokio::time::timeout(Duration::from_secs(2), async {
        tcp.write_all(head.as_bytes()).await?;
        tcp.write_all(body.as_bytes()).await?;
        tcp.shutdown().await
    })
    .await;
    // Drain until the client closes (bounded), so the kernel does not answer with a reset.
    let _ = tokio::time::timeout(Duration::from_secs(1), async {
        while matches!(tcp.read(&mut buf).await, Ok(n) if n > 0) {}
    })
    .await;
}

/// A socket that holds one connection slot for as long as it lives (through an upgrade).
struct Counted {
    inner: TcpStream,
    _permit: OwnedSemaphorePermit,
    activity: Activity,
}

impl AsyncRead for Counted {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        let r = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        r
    }
}

impl AsyncWrite for Counted {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let r = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(r, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        r
    }
    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }
}

/// A connection handed to hyper with the bytes [`plain`] already read from it, which hyper
/// reads first.
struct Rewind {
    read: bytes::Bytes,
    io: Counted,
}

impl AsyncRead for Rewind {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        if !self.read.is_empty() {
            let n = self.read.len().min(buf.remaining());
            let first = self.read.split_to(n);
            buf.put_slice(&first);
            return Poll::Ready(Ok(()));
        }
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Rewind {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}

/// Whether an address is this machine's loopback (IPv4-mapped IPv6 included).
pub fn is_loopback(ip: std::net::IpAddr) -> bool {
    match ip {
        std::net::IpAddr::V4(v4) => v4.is_loopback(),
        std::net::IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn head_checks_name_the_limit() {
        let l = HttpLimits { max_request_line: 20, max_header_bytes: 64, max_headers: 2, ..HttpLimits::default() };
        let ok = Request::get("/a?b=c").header("x", "y").body(()).expect("request");
        assert!(l.check_head(&ok).is_none());
        let long = Request::get(format!("/{}", "a".repeat(30))).body(()).expect("request");
        let (s, m) = l.check_head(&long).expect("too long");
        assert_eq!(s, StatusCode::URI_TOO_LONG);
        assert!(m.contains("--max-request-line"), "{m}");
        let many = Request::get("/").header("a", "1").header("b", "2").header("c", "3").body(()).expect("request");
        assert_eq!(l.check_head(&many).expect("too many").0, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        let big = Request::get("/").header("a", "x".repeat(100)).body(()).expect("request");
        let (s, m) = l.check_head(&big).expect("too big");
        assert_eq!(s, StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        assert!(m.contains("--max-header-bytes"), "{m}");
    }
}
