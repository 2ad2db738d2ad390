//! A connection's first reader: plain HTTP/1 `GET` and `HEAD` requests that the front answers
//! at once (a file in memory) are read and answered here, a large file's body sent by the
//! kernel from the file (sendfile) rather than copied through Porch; the first request that is
//! anything else hands the connection, with every byte read so far, to hyper for the rest of
//! its life ([`Outcome::Handoff`]).
//!
//! SECURITY: this reads bytes from the network before hyper does, so it keeps to what it can
//! check completely and leaves the rest to hyper:
//! - a request head must be complete within `header_read_timeout` of the wait for it (also
//!   the keep-alive idle limit), and within `head_buffer` bytes; a head still incomplete at
//!   the deadline closes the connection, one past the buffer goes to hyper (which answers
//!   `431`), so no partial head ever gets a second timer;
//! - it parses with `httparse` (hyper's parser) and takes only a complete, well-formed head
//!   of a `GET` or `HEAD` with no body, no `Expect`, no `Upgrade`, within the head limits
//!   ([`HttpLimits::check_head`]); anything else, a malformed head included, goes to hyper
//!   unchanged, and so gets hyper's answer and the limit pages of `super`;
//! - the front answers from the head alone (no body is read) and the answer is written as
//!   hyper would write it: the status line of the request's version, the headers, `date`,
//!   a `content-length` where the answer has none, `connection: close` when the client asked
//!   for it (or sent HTTP/1.0 without keep-alive), after which the connection is closed.
//!
//! Concurrency: runs inside its connection's task; nothing shared but the front.

use std::net::SocketAddr;
use std::os::fd::AsFd as _;
use std::time::SystemTime;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderName, HeaderValue, Method, Request, Response, StatusCode, Uri, Version};
use bytes::{Buf as _, Bytes, BytesMut};
use http_body_util::BodyExt as _;
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _, Interest};
use tokio_util::sync::CancellationToken;

use super::{Counted, Front, HttpLimits};

/// Marks an answer whose whole body is the file at `path` (`len` bytes): this reader may
/// send it from the file instead of the body's bytes. The body is the same bytes either way.
#[derive(Debug, Clone)]
pub struct FileBody {
    /// The file (a canonical path inside a bundle).
    pub path: std::sync::Arc<std::path::Path>,
    /// Its length when the body was read; a file that has changed since is not sent.
    pub len: u64,
}

impl FileBody {
    /// Bodies at least this large are sent from their file by the kernel; smaller ones are
    /// written from memory, which costs less than opening the file (so answers name a file
    /// only from this size on).
    pub const MIN: usize = 64 * 1024;
}

/// How a connection left this reader.
pub(super) enum Outcome {
    /// Closed (by the client, a limit, an error, or shutdown): nothing more to do.
    Closed,
    /// For hyper, with the bytes read and not answered (the start of the next request).
    Handoff(Bytes),
}

/// Reads and answers requests on `io` until one is not plain (see the module header).
pub(super) async fn serve(
    io: &mut Counted,
    peer: SocketAddr,
    front: &dyn Front,
    limits: &HttpLimits,
    cancel: &CancellationToken,
) -> Outcome {
    let mut buf = BytesMut::with_capacity(4096);
    let room = (limits.max_headers + 1).min(MAX_FIELDS);
    // Registered once for the connection, not once per read.
    let stopping = cancel.cancelled();
    tokio::pin!(stopping);
    loop {
        let deadline = tokio::time::Instant::now() + limits.header_read_timeout;
        let (req, head_len) = loop {
            if !buf.is_empty() {
                // Only `GET` and `HEAD` are ever answered here; the HTTP/2 preface and every
                // other method go straight on.
                if !matches!(buf[0], b'G' | b'H') {
                    return Outcome::Handoff(buf.freeze());
                }
                match parse(&buf, room) {
                    Parsed::Complete(req, len) => break (req, len),
                    Parsed::Partial if buf.len() < limits.head_buffer() => {}
                    Parsed::Partial | Parsed::NotPlain => return Outcome::Handoff(buf.freeze()),
                }
            }
            tokio::select! {
                _ = &mut stopping => return Outcome::Closed,
                read = tokio::time::timeout_at(deadline, io.read_buf(&mut buf)) => match read {
                    Ok(Ok(n)) if n > 0 => {}
                    // Closed, failed, or no complete head in time.
                    _ => return Outcome::Closed,
                },
            }
        };
        if !is_plain(&req, limits) {
            return Outcome::Handoff(buf.freeze());
        }
        let Some(resp) = front.at_once(&req, peer) else { return Outcome::Handoff(buf.freeze()) };
        buf.advance(head_len);
        let close = wants_close(&req);
        let head_only = req.method() == Method::HEAD;
        if write(io, resp, req.version(), head_only, close).await.is_err() || close {
            let _ = io.shutdown().await;
            return Outcome::Closed;
        }
    }
}

// Made once per request and moved once; a box would be one more allocation per request.
#[allow(clippy::large_enum_variant)]
enum Parsed {
    Complete(Request<()>, usize),
    Partial,
    NotPlain,
}

/// The most header fields this reader parses; a head with more goes to hyper.
const MAX_FIELDS: usize = 128;

/// Parses a request head at the start of `buf` into a bodiless request and its length;
/// more than `room` fields (at most [`MAX_FIELDS`]) is not plain.
fn parse(buf: &[u8], room: usize) -> Parsed {
    let mut fields = [const { std::mem::MaybeUninit::<httparse::Header<'_>>::uninit() }; MAX_FIELDS];
    let mut head = httparse::Request::new(&mut []);
    let len = match head.parse_with_uninit_headers(buf, &mut fields[..room.min(MAX_FIELDS)]) {
        Ok(httparse::Status::Complete(n)) => n,
        Ok(httparse::Status::Partial) => return Parsed::Partial,
        Err(_) => return Parsed::NotPlain,
    };
    let method = match head.method {
        Some("GET") => Method::GET,
        Some("HEAD") => Method::HEAD,
        _ => return Parsed::NotPlain,
    };
    let version = match head.version {
        Some(1) => Version::HTTP_11,
        Some(0) => Version::HTTP_10,
        _ => return Parsed::NotPlain,
    };
    let Some(Ok(uri)) = head.path.map(|p| Uri::from_maybe_shared(Bytes::copy_from_slice(p.as_bytes()))) else {
        return Parsed::NotPlain;
    };
    let mut headers = HeaderMap::with_capacity(head.headers.len());
    for f in head.headers.iter() {
        match (HeaderName::from_bytes(f.name.as_bytes()), HeaderValue::from_bytes(f.value)) {
            (Ok(name), Ok(value)) => {
                headers.append(name, value);
            }
            _ => return Parsed::NotPlain,
        }
    }
    let mut req = Request::new(());
    *req.method_mut() = method;
    *req.uri_mut() = uri;
    *req.version_mut() = version;
    *req.headers_mut() = headers;
    Parsed::Complete(req, len)
}

/// Whether this reader may answer `req` at all: no body, nothing to negotiate first, within
/// the head limits (a request past them goes to hyper, which answers with the limit's page).
fn is_plain(req: &Request<()>, limits: &HttpLimits) -> bool {
    let h = req.headers();
    let no_body = !h.contains_key(header::TRANSFER_ENCODING)
        && h.get_all(header::CONTENT_LENGTH).iter().all(|v| v.as_bytes() == b"0");
    no_body && !h.contains_key(header::EXPECT) && !h.contains_key(header::UPGRADE) && limits.check_head(req).is_none()
}

/// Whether the connection closes after this answer: `Connection: close`, or HTTP/1.0
/// without `keep-alive`.
fn wants_close(req: &Request<()>) -> bool {
    let has = |token: &str| {
        req.headers()
            .get_all(header::CONNECTION)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    };
    match req.version() {
        Version::HTTP_10 => !has("keep-alive"),
        _ => has("close"),
    }
}

/// Writes `resp` as hyper would (see the module header); a large body named by a
/// [`FileBody`] is sent from its file.
async fn write(
    io: &mut Counted,
    resp: Response<Body>,
    version: Version,
    head_only: bool,
    close: bool,
) -> std::io::Result<()> {
    let (parts, body) = resp.into_parts();
    let body = if head_only {
        Bytes::new()
    } else {
        body.collect().await.map(|c| c.to_bytes()).map_err(|e| std::io::Error::other(e.to_string()))?
    };
    let from_file =
        parts.extensions.get::<FileBody>().filter(|f| body.len() >= FileBody::MIN && f.len == body.len() as u64);
    let inline = from_file.is_none() && body.len() < FileBody::MIN;
    let mut out = Vec::with_capacity(512 + if inline { body.len() } else { 0 });
    out.extend_from_slice(if version == Version::HTTP_10 { b"HTTP/1.0 " } else { b"HTTP/1.1 " });
    out.extend_from_slice(parts.status.as_str().as_bytes());
    out.push(b' ');
    out.extend_from_slice(parts.status.canonical_reason().unwrap_or("").as_bytes());
    out.extend_from_slice(b"\r\n");
    for (name, value) in &parts.headers {
        out.extend_from_slice(name.as_str().as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    let bodiless = parts.status.is_informational()
        || parts.status == StatusCode::NO_CONTENT
        || parts.status == StatusCode::NOT_MODIFIED;
    if !bodiless && !parts.headers.contains_key(header::CONTENT_LENGTH) {
        out.extend_from_slice(format!("content-length: {}\r\n", body.len()).as_bytes());
    }
    out.extend_from_slice(b"date: ");
    date(|d| out.extend_from_slice(d));
    out.extend_from_slice(b"\r\n");
    if close {
        out.extend_from_slice(b"connection: close\r\n");
    } else if version == Version::HTTP_10 {
        out.extend_from_slice(b"connection: keep-alive\r\n");
    }
    out.extend_from_slice(b"\r\n");
    if bodiless {
        return io.write_all(&out).await;
    }
    if inline {
        out.extend_from_slice(&body);
        return io.write_all(&out).await;
    }
    if let Some(file) = from_file {
        if let Ok(file) = open_unchanged(file) {
            // The head goes with the file's first bytes (as nginx's `tcp_nopush`).
            send_head(io, &out).await?;
            return send_file(io, &file).await;
        }
    }
    io.write_all(&out).await?;
    io.write_all(&body).await
}

/// The file of a [`FileBody`], if it is still what the body was read from (its length).
fn open_unchanged(body: &FileBody) -> std::io::Result<(std::fs::File, u64)> {
    let file = std::fs::File::open(&body.path)?;
    if file.metadata()?.len() != body.len {
        return Err(std::io::Error::other("the file changed since it was read"));
    }
    Ok((file, body.len))
}

/// Writes a response head that the body follows at once (`MSG_MORE`, else a plain write).
async fn send_head(io: &mut Counted, head: &[u8]) -> std::io::Result<()> {
    let mut sent = 0;
    while sent < head.len() {
        let sock = &io.inner;
        sock.writable().await?;
        match sock.try_io(Interest::WRITABLE, || crate::platform::send_more(sock.as_fd(), &head[sent..])) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                sent += n;
                io.activity.touch();
            }
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::Unsupported => return io.write_all(&head[sent..]).await,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// Sends a whole file with sendfile (or, where the system has none, by reading and writing it).
async fn send_file(io: &mut Counted, (file, len): &(std::fs::File, u64)) -> std::io::Result<()> {
    let mut offset = 0u64;
    while offset < *len {
        let left = usize::try_from(len - offset).unwrap_or(usize::MAX);
        let sock = &io.inner;
        sock.writable().await?;
        match sock.try_io(Interest::WRITABLE, || crate::platform::send_file(sock.as_fd(), file, &mut offset, left)) {
            Ok(0) => return Err(std::io::ErrorKind::WriteZero.into()),
            Ok(_) => io.activity.touch(),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(e) if e.kind() == std::io::ErrorKind::Unsupported => {
                let mut rest = Vec::new();
                std::io::Read::read_to_end(&mut std::io::Read::take(file, len - offset), &mut rest)?;
                return io.write_all(&rest).await;
            }
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// The `date` value, formatted once a second per thread.
fn date(with: impl FnOnce(&[u8])) {
    thread_local! {
        static DATE: std::cell::RefCell<(u64, String)> = const { std::cell::RefCell::new((u64::MAX, String::new())) };
    }
    let now = SystemTime::now();
    let secs = now.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    DATE.with(|d| {
        let mut d = d.borrow_mut();
        if d.0 != secs {
            *d = (secs, httpdate::fmt_http_date(now));
        }
        with(d.1.as_bytes());
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(raw: &str) -> Option<Request<()>> {
        match parse(raw.as_bytes(), 8) {
            Parsed::Complete(req, len) => {
                assert_eq!(len, raw.find("\r\n\r\n").map(|i| i + 4).unwrap_or(0));
                Some(req)
            }
            _ => None,
        }
    }

    #[test]
    fn only_complete_plain_heads_are_taken() {
        let req = parsed("GET /content/a/x.css?v=1 HTTP/1.1\r\nHost: h\r\nAccept: */*\r\n\r\n").expect("plain");
        assert_eq!(req.uri().path(), "/content/a/x.css");
        assert_eq!(req.uri().query(), Some("v=1"));
        assert_eq!(req.headers()["host"], "h");
        let limits = HttpLimits::default();
        assert!(is_plain(&req, &limits));
        assert!(!wants_close(&req));
        assert!(parsed("POST / HTTP/1.1\r\nHost: h\r\n\r\n").is_none(), "other methods go to hyper");
        assert!(parsed("GET / HTTP/1.1\r\nHost: h\r\n").is_none(), "a partial head is not taken");
        assert!(parsed("GET / HTTP/1.1\r\nBad Name: x\r\n\r\n").is_none(), "a malformed head goes to hyper");
        let many = format!("GET / HTTP/1.1\r\n{}\r\n", "a: b\r\n".repeat(9));
        assert!(parsed(&many).is_none(), "more fields than room go to hyper");
        let body = parsed("GET / HTTP/1.1\r\nContent-Length: 3\r\n\r\n").expect("parsed");
        assert!(!is_plain(&body, &limits), "a request with a body goes to hyper");
        let upgrade = parsed("GET / HTTP/1.1\r\nUpgrade: websocket\r\nConnection: upgrade\r\n\r\n").expect("parsed");
        assert!(!is_plain(&upgrade, &limits), "an upgrade goes to hyper");
        let tight = HttpLimits { max_request_line: 4, ..HttpLimits::default() };
        assert!(!is_plain(&req, &tight), "a request past a limit gets the limit's page from hyper");
    }

    #[test]
    fn keep_alive_follows_the_version() {
        assert!(wants_close(&parsed("GET / HTTP/1.0\r\n\r\n").expect("1.0")));
        assert!(!wants_close(&parsed("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").expect("1.0 ka")));
        assert!(wants_close(&parsed("GET / HTTP/1.1\r\nConnection: keep-alive, close\r\n\r\n").expect("1.1 close")));
    }
}
