//! Keep-alive HTTP/1.1 connections to the workers' loopback ports, reused per port (what
//! nginx's upstream `keepalive` does).
//!
//! A connection is taken for one exchange and given back when its response body is done
//! (dropped), so the next request on it waits at most for hyper to finish reading that
//! body. One taken back before its body was read to the end is closed by hyper and
//! discarded at the next take. A request that could not be written on a reused
//! connection (the worker closed it meanwhile) is tried on the next one or a fresh one:
//! hyper hands an unsent request back. Connections to a stopped worker close with it and
//! are dropped when found closed. Per port at most [`IDLE_PER_PORT`] are kept.
//!
//! Concurrency: the idle lists sit behind one std lock held only to push or pop (never
//! across an await); each connection is driven by a task of its own (hyper's connection
//! future), which ends with the connection.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{LazyLock, Mutex};

use axum::body::Body;
use axum::http::{Request, Response};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

use super::ProxyError;

/// Idle connections kept per worker port.
const IDLE_PER_PORT: usize = 64;

type Sender = SendRequest<Body>;

static IDLE: LazyLock<Mutex<HashMap<u16, Vec<Sender>>>> = LazyLock::new(|| Mutex::new(HashMap::new()));

fn idle() -> std::sync::MutexGuard<'static, HashMap<u16, Vec<Sender>>> {
    IDLE.lock().unwrap_or_else(|p| p.into_inner())
}

/// A connection on loan for one exchange; give it back with [`Pooled::give_back`].
#[derive(Debug)]
pub(super) struct Pooled {
    port: u16,
    sender: Sender,
}

impl Pooled {
    /// Returns the connection for the next request to the same worker (unless it closed).
    pub(super) fn give_back(self) {
        if self.sender.is_closed() {
            return;
        }
        let mut idle = idle();
        let list = idle.entry(self.port).or_default();
        list.retain(|s| !s.is_closed());
        if list.len() < IDLE_PER_PORT {
            list.push(self.sender);
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
        let taken = idle().get_mut(&port).and_then(Vec::pop);
        let Some(mut sender) = taken else { break };
        if sender.is_closed() {
            continue;
        }
        // Given back as its last body ended: hyper may still be finishing that exchange.
        if !sender.is_ready() && sender.ready().await.is_err() {
            continue;
        }
        match sender.try_send_request(req).await {
            Ok(resp) => return Ok((resp, Pooled { port, sender })),
            Err(mut e) => match e.take_message() {
                // Not written: the connection was closed under us; try another.
                Some(unsent) => req = unsent,
                None => return Err(ProxyError::Failed { addr, source: e.into_error().into() }),
            },
        }
    }
    let mut sender = connect(addr).await?;
    let resp = sender.send_request(req).await.map_err(|e| ProxyError::Failed { addr, source: e.into() })?;
    Ok((resp, Pooled { port, sender }))
}

/// A new connection to `addr`, its driving task started.
async fn connect(addr: SocketAddr) -> Result<Sender, ProxyError> {
    let stream =
        tokio::net::TcpStream::connect(addr).await.map_err(|e| ProxyError::Refused { addr, source: e.into() })?;
    let _ = stream.set_nodelay(true);
    let (sender, conn) = hyper::client::conn::http1::Builder::new()
        .handshake(TokioIo::new(stream))
        .await
        .map_err(|e| ProxyError::Failed { addr, source: e.into() })?;
    // Not on the engine's tracker (the proxy knows no engine): this task drives one
    // connection to a worker and ends with it, and the runner stops every worker at shutdown.
    tokio::spawn(async move {
        if let Err(e) = conn.await {
            tracing::debug!(error = %e, "upstream connection ended with an error");
        }
    });
    Ok(sender)
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::Arc;

    use http_body_util::BodyExt as _;
    use hyper::service::service_fn;

    use super::*;

    /// A worker on a loopback port that answers every request with `answer(length of the
    /// request's body)` and counts the connections it accepted; with `keep_alive` false it
    /// closes each after one answer.
    async fn worker_answering(keep_alive: bool, answer: fn(usize) -> Vec<u8>) -> (SocketAddr, Arc<AtomicUsize>) {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.expect("bind");
        let addr = listener.local_addr().expect("addr");
        let accepted = Arc::new(AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(async move {
                    let svc = service_fn(move |req: Request<hyper::body::Incoming>| async move {
                        let got = req.into_body().collect().await.map(|b| b.to_bytes().len()).unwrap_or(0);
                        Ok::<_, std::convert::Infallible>(Response::new(Body::from(answer(got))))
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .keep_alive(keep_alive)
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        (addr, accepted)
    }

    /// A worker that answers every request with "ok".
    async fn worker(keep_alive: bool) -> (SocketAddr, Arc<AtomicUsize>) {
        worker_answering(keep_alive, |_| b"ok".to_vec()).await
    }

    async fn get(addr: SocketAddr) -> String {
        let req = Request::get("/").header("host", "worker").body(Body::empty()).expect("request");
        let (resp, pooled) = send(addr, req).await.expect("answered");
        let body = resp.into_body().collect().await.expect("body").to_bytes();
        pooled.give_back();
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

    #[tokio::test]
    async fn large_bodies_both_ways_go_through_on_a_reused_connection() {
        const SIZE: usize = 3 << 20;
        // The request body's length, a colon and SIZE bytes.
        let (addr, accepted) = worker_answering(true, |got| {
            let mut answer = format!("{got}:").into_bytes();
            answer.resize(answer.len() + SIZE, b'x');
            answer
        })
        .await;
        for _ in 0..3 {
            let upload = vec![b'u'; 2 << 20];
            let req = Request::post("/").header("host", "worker").body(Body::from(upload)).expect("request");
            let (resp, pooled) = send(addr, req).await.expect("answered");
            let bytes = resp.into_body().collect().await.expect("body").to_bytes();
            pooled.give_back();
            let head = format!("{}:", 2 << 20);
            assert!(bytes.starts_with(head.as_bytes()), "the worker read the whole upload");
            assert_eq!(bytes.len(), head.len() + SIZE, "the whole answer came back");
        }
        assert_eq!(idle().get(&addr.port()).map(Vec::len), Some(1), "one connection kept for reuse");
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "all three exchanges went over one connection");
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
