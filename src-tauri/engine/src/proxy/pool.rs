//! Keep-alive HTTP/1.1 connections to the workers' loopback ports, reused per port (what
//! nginx's upstream `keepalive` does).
//!
//! A connection has no task of its own: the exchange using it drives it on the request's
//! task. Sending the request and waiting for its head poll it ([`send`]), and so does the
//! response body ([`Pooled::drive`], from `super::LeasedBody`). So a proxied request
//! wakes no second task, and no hop between tasks is paid per request (what
//! `bench/interactive.sh proxy` measures).
//!
//! A connection is taken for one exchange and given back when its response body has been
//! read to the end; one dropped before that is closed. An idle connection is not polled:
//! one the worker closed meanwhile is found closed when it is next taken, and its request
//! goes on the next one or a fresh one (hyper hands an unsent request back). Connections
//! idle for [`IDLE_FOR`] are closed (a sweep at most once a second, as connections are
//! given back), so the sockets of a stopped worker do not stay open for long while
//! requests flow. Per port at most [`IDLE_PER_PORT`] are kept.
//!
//! Concurrency: the idle lists sit behind one std lock held only to push, pop or sweep
//! (never across an await).

use std::collections::HashMap;
use std::future::{poll_fn, Future};
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::{LazyLock, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::body::Body;
use axum::http::{Request, Response};
use hyper::client::conn::http1::{Connection, SendRequest};
use hyper::client::conn::TrySendError;
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::ProxyError;

/// Idle connections kept per worker port.
const IDLE_PER_PORT: usize = 64;
/// How long an idle connection is kept (nginx's upstream `keepalive_timeout` is 60 s;
/// uvicorn closes its side after 5 s).
const IDLE_FOR: Duration = Duration::from_secs(60);

/// One connection to a worker: where requests go in, and the connection's own future,
/// which makes progress only while the exchange using it polls it.
struct Conn {
    sender: SendRequest<Body>,
    /// `None` once it has ended (closed or broken): then it is never reused.
    driver: Option<Connection<TokioIo<TcpStream>, Body>>,
}

impl Conn {
    /// Lets the connection write and read what it can; drops it once it has ended, which
    /// hands a request it never wrote back to its sender.
    fn drive(&mut self, cx: &mut Context<'_>) {
        let Some(driver) = &mut self.driver else { return };
        if let Poll::Ready(ended) = Pin::new(driver).poll(cx) {
            if let Err(e) = ended {
                tracing::debug!(error = %e, "upstream connection ended with an error");
            }
            self.driver = None;
        }
    }

    fn ended(&self) -> bool {
        self.driver.is_none() || self.sender.is_closed()
    }

    /// Waits until it can take a request (its last exchange finished); `false` if it ended.
    async fn ready(&mut self) -> bool {
        poll_fn(|cx| {
            self.drive(cx);
            match self.sender.poll_ready(cx) {
                Poll::Ready(r) => Poll::Ready(r.is_ok() && !self.ended()),
                Poll::Pending if self.ended() => Poll::Ready(false),
                Poll::Pending => Poll::Pending,
            }
        })
        .await
    }

    /// Sends `req` and waits for the response's head, driving the connection meanwhile.
    async fn exchange(
        &mut self,
        req: Request<Body>,
    ) -> Result<Response<hyper::body::Incoming>, TrySendError<Request<Body>>> {
        let mut answer = std::pin::pin!(self.sender.try_send_request(req));
        poll_fn(|cx| {
            self.drive(cx);
            answer.as_mut().poll(cx)
        })
        .await
    }
}

struct Idle {
    conn: Conn,
    since: Instant,
}

#[derive(Default)]
struct Pool {
    by_port: HashMap<u16, Vec<Idle>>,
    swept: Option<Instant>,
}

static IDLE: LazyLock<Mutex<Pool>> = LazyLock::new(|| Mutex::new(Pool::default()));

fn pool() -> std::sync::MutexGuard<'static, Pool> {
    IDLE.lock().unwrap_or_else(|p| p.into_inner())
}

/// A connection on loan for one exchange; drive it with [`Pooled::drive`] while reading
/// the response body, give it back with [`Pooled::give_back`].
pub(super) struct Pooled {
    port: u16,
    conn: Conn,
}

impl std::fmt::Debug for Pooled {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Pooled").field("port", &self.port).field("ended", &self.conn.ended()).finish()
    }
}

impl Pooled {
    /// Lets the connection read the response body (call it while the body is waited for).
    pub(super) fn drive(&mut self, cx: &mut Context<'_>) {
        self.conn.drive(cx);
    }

    /// Returns the connection for the next request to the same worker, if its response
    /// was read to the end (`finished`) and it is still open; else it is closed.
    pub(super) fn give_back(self, finished: bool) {
        if !finished || self.conn.ended() {
            return;
        }
        let now = Instant::now();
        let mut pool = pool();
        if pool.swept.is_none_or(|t| now.duration_since(t) >= Duration::from_secs(1)) {
            pool.swept = Some(now);
            for list in pool.by_port.values_mut() {
                list.retain(|i| now.duration_since(i.since) < IDLE_FOR && !i.conn.ended());
            }
            pool.by_port.retain(|_, list| !list.is_empty());
        }
        let list = pool.by_port.entry(self.port).or_default();
        if list.len() < IDLE_PER_PORT {
            list.push(Idle { conn: self.conn, since: now });
        }
    }
}

/// Sends `req` (origin-form URI) to `addr` on a reused or new keep-alive connection.
pub(super) async fn send(
    addr: SocketAddr,
    mut req: Request<Body>,
) -> Result<(Response<hyper::body::Incoming>, Pooled), ProxyError> {
    let port = addr.port();
    loop {
        let taken = pool().by_port.get_mut(&port).and_then(Vec::pop);
        let Some(Idle { mut conn, since }) = taken else { break };
        if since.elapsed() >= IDLE_FOR || !conn.ready().await {
            continue;
        }
        match conn.exchange(req).await {
            Ok(resp) => return Ok((resp, Pooled { port, conn })),
            Err(mut e) => match e.take_message() {
                // Not written: the connection was closed under us; try another.
                Some(unsent) => req = unsent,
                None => return Err(ProxyError::Failed { addr, source: e.into_error().into() }),
            },
        }
    }
    let mut conn = connect(addr).await?;
    match conn.exchange(req).await {
        Ok(resp) => Ok((resp, Pooled { port, conn })),
        Err(e) => Err(ProxyError::Failed { addr, source: e.into_error().into() }),
    }
}

/// A new connection to `addr`.
async fn connect(addr: SocketAddr) -> Result<Conn, ProxyError> {
    let stream = TcpStream::connect(addr).await.map_err(|e| ProxyError::Refused { addr, source: e.into() })?;
    let _ = stream.set_nodelay(true);
    let (sender, driver) = hyper::client::conn::http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|e| ProxyError::Failed { addr, source: e.into() })?;
    Ok(Conn { sender, driver: Some(driver) })
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use hyper::body::Body as _;
    use hyper::service::service_fn;

    use super::*;

    /// A worker on a loopback port that answers every request with "ok" and counts the
    /// connections it accepted; with `keep_alive` false it closes each after one answer.
    async fn worker(keep_alive: bool) -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let svc =
                        service_fn(|_req| async { Ok::<_, std::convert::Infallible>(Response::new(Body::from("ok"))) });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(keep_alive)
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        (addr, accepted)
    }

    async fn get(addr: SocketAddr) -> String {
        let req = Request::get("/").header("host", "worker").body(Body::empty()).expect("request");
        let (resp, mut pooled) = send(addr, req).await.expect("answered");
        let mut body = resp.into_body();
        // Read as `LeasedBody` does: the body waits, the connection is driven.
        let mut bytes = Vec::new();
        loop {
            let frame = poll_fn(|cx| match Pin::new(&mut body).poll_frame(cx) {
                Poll::Ready(f) => Poll::Ready(f),
                Poll::Pending => {
                    pooled.drive(cx);
                    Pin::new(&mut body).poll_frame(cx)
                }
            })
            .await;
            match frame {
                Some(f) => bytes.extend_from_slice(f.expect("frame").data_ref().expect("data")),
                None => break,
            }
        }
        pooled.give_back(body.is_end_stream());
        let body = bytes;
        String::from_utf8_lossy(&body).into_owned()
    }

    #[tokio::test]
    async fn requests_one_after_another_reuse_one_connection() {
        let (addr, accepted) = worker(true).await;
        for _ in 0..5 {
            assert_eq!(get(addr).await, "ok");
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "one kept-alive connection served all five");
    }

    #[tokio::test]
    async fn a_connection_the_worker_closed_is_not_reused_and_no_request_fails() {
        let (addr, accepted) = worker(false).await;
        for _ in 0..5 {
            assert_eq!(get(addr).await, "ok");
            // Let the worker's close reach the pooled connection, as between real requests.
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
        assert_eq!(accepted.load(Ordering::SeqCst), 5, "a fresh connection for each closed one");
    }

    /// A worker that answers with the length of the request body followed by `size` bytes.
    async fn big_worker(size: usize) -> SocketAddr {
        use http_body_util::BodyExt as _;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<hyper::body::Incoming>| async move {
                        let got = req.into_body().collect().await.map(|b| b.to_bytes().len()).unwrap_or(0);
                        let mut answer = format!("{got}:").into_bytes();
                        answer.resize(answer.len() + size, b'x');
                        Ok::<_, std::convert::Infallible>(Response::new(Body::from(answer)))
                    });
                    let _ =
                        hyper::server::conn::http1::Builder::new().serve_connection(TokioIo::new(stream), svc).await;
                });
            }
        });
        addr
    }

    #[tokio::test]
    async fn large_bodies_both_ways_go_through_on_a_reused_connection() {
        let size = 3 << 20;
        let addr = big_worker(size).await;
        for _ in 0..3 {
            let upload = vec![b'u'; 2 << 20];
            let req = Request::post("/").header("host", "worker").body(Body::from(upload)).expect("request");
            let (resp, mut pooled) = send(addr, req).await.expect("answered");
            let mut body = resp.into_body();
            let mut bytes = Vec::new();
            loop {
                let frame = poll_fn(|cx| match Pin::new(&mut body).poll_frame(cx) {
                    Poll::Ready(f) => Poll::Ready(f),
                    Poll::Pending => {
                        pooled.drive(cx);
                        Pin::new(&mut body).poll_frame(cx)
                    }
                })
                .await;
                match frame {
                    Some(f) => bytes.extend_from_slice(f.expect("frame").data_ref().expect("data")),
                    None => break,
                }
            }
            pooled.give_back(body.is_end_stream());
            let head = format!("{}:", 2 << 20);
            assert!(bytes.starts_with(head.as_bytes()), "the worker read the whole upload");
            assert_eq!(bytes.len(), head.len() + size, "the whole answer came back");
        }
        assert_eq!(pool().by_port.get(&addr.port()).map(Vec::len), Some(1), "one connection kept for reuse");
    }

    #[tokio::test]
    async fn a_worker_that_is_gone_is_reported_as_refused() {
        // Nothing listens on this port.
        let gone = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind").local_addr().expect("addr");
        let req = Request::get("/").body(Body::empty()).expect("request");
        let err = send(gone, req).await.expect_err("nobody listens");
        assert!(matches!(err, ProxyError::Refused { .. }), "{err:?}");
    }
}
