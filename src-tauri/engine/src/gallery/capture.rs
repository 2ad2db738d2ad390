//! Porch's own thumbnails: a headless Chromium screenshot of an item's page.
//!
//! After a successful deploy (`TaskFinished`) or render (`RenderFinished`), the capture loop
//! takes a picture of the item, unless the publisher uploaded one, the `thumbnails` setting
//! is `manual`, no Chromium is installed, or the item is an app with no worker running (a
//! picture never cold-starts an app; [`Gallery::capture_now`] on request may). Without a
//! picture the landing page draws a generated card.
//!
//! Chromium is driven over its DevTools pipe (`devtools.rs`), so the picture waits until the
//! page has settled, data over its WebSockets included, not only its load event.
//!
//! Chromium cannot add a request header from its command line, so it loads the page through
//! a one-shot loopback forwarder ([`Forwarder`]) that adds `x-porch-capture: 1` (usage
//! recording never counts these, and the gateway no longer takes the request for this
//! computer's) and, for `local` and `link` items, the run's session key on the item's own
//! paths only, which the gateway accepts from loopback as the publisher's (the proxy removes
//! it before anything reaches an app): the page is pictured as its viewers see it, and it
//! cannot pull another local or link item into the picture ([`Added`]). WebSocket upgrades
//! are forwarded too, so apps draw.
//!
//! SECURITY: Chromium runs through the process runner (its own process group, killed with
//! Porch, killed after [`TIMEOUT`]), with a throw-away profile, `--no-sandbox` only when
//! Porch runs as root (Chromium refuses to start otherwise). The screenshot passes the same
//! picture check as an upload. The forwarder listens on loopback only, lives for one
//! capture, and only forwards to Porch's own port.
//!
//! Concurrency: one loop task takes jobs from an unbounded channel, one capture at a time;
//! an item is queued for an automatic capture at most once at a time (a set under a std
//! lock, never held across an await). An automatic capture's Chromium runs at the lowest
//! CPU priority (`Cmd::low_priority`: `SCHED_IDLE`): a burst of deploys queues a picture of
//! each item, and those pictures take only the time that deploying and serving leave. One
//! the publisher asked for runs at the normal priority.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Empty};
use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Request, Response};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio_util::sync::CancellationToken;

use super::{devtools, image};
use super::{Gallery, ThumbnailMode};
use crate::error::{Error, Result};
use crate::events::Event;
use crate::runner::{Cmd, Logs, Sink};

/// Longest a capture may take, Chromium's start included (the page itself gets at most
/// `devtools::LATEST` of it).
pub const TIMEOUT: Duration = Duration::from_secs(25);
/// The page's size in CSS pixels (the picture's, at scale 1).
const WIDTH: u32 = 1200;
const HEIGHT: u32 = 750;
/// The header that marks Porch's own captures (usage recording skips them).
pub const CAPTURE_HEADER: &str = "x-porch-capture";

/// Why a capture is wanted.
#[derive(Debug)]
pub struct Job {
    guid: String,
    /// On the publisher's request: replaces an uploaded picture and may start an app.
    requested: bool,
    /// Who waits for the outcome (a request).
    reply: Option<tokio::sync::oneshot::Sender<Result<()>>>,
}

/// Chromium on this machine: `PORCH_CHROMIUM` if set (empty = none), else the first of
/// `chromium`, `chromium-browser`, `google-chrome` on `PATH`.
pub fn find_chromium() -> Option<PathBuf> {
    if let Some(p) = std::env::var_os("PORCH_CHROMIUM") {
        let p = PathBuf::from(p);
        return p.is_file().then_some(p);
    }
    let path = std::env::var_os("PATH")?;
    for dir in std::env::split_paths(&path) {
        for name in ["chromium", "chromium-browser", "google-chrome"] {
            let candidate = dir.join(name);
            if candidate.is_file() {
                return Some(candidate);
            }
        }
    }
    None
}

fn running_as_root() -> bool {
    crate::platform::is_root()
}

impl Gallery {
    /// Starts the capture loop (a serving engine calls this once): it listens for finished
    /// deploys and renders. Also builds the landing page's index once, ahead of visitors.
    pub(crate) fn start_captures(&self) {
        // The first visitor of the landing page should not pay for the index.
        let warm = self.clone();
        self.shared.spawn(async move {
            if let Err(e) = warm.index().await {
                tracing::warn!(error = %e, "cannot build the gallery index");
            }
        });
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Job>();
        if self.state.captures.set(tx.clone()).is_err() {
            return;
        }
        let mut events = self.shared.subscribe();
        let cancel = self.shared.cancel.child_token();
        let cancel2 = cancel.clone();
        // Items with an automatic capture queued: a burst of deploys of one item queues one
        // picture of its last bundle, not one per deploy. A std lock, held for one set update.
        let queued = Arc::new(Mutex::new(HashSet::<String>::new()));
        let queued2 = queued.clone();
        self.shared.spawn(async move {
            loop {
                let event = tokio::select! {
                    _ = cancel2.cancelled() => return,
                    e = events.recv() => e,
                };
                let guid = match event {
                    Ok(Event::TaskFinished { guid, code: 0, .. }) => guid,
                    Ok(Event::RenderFinished { guid, status: crate::vocab::RenderStatus::Success, .. }) => guid,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                    _ => continue,
                };
                if queued2.lock().unwrap_or_else(|p| p.into_inner()).insert(guid.clone()) {
                    let _ = tx.send(Job { guid, requested: false, reply: None });
                }
            }
        });
        let gallery = self.clone();
        self.shared.spawn(async move {
            loop {
                let job = tokio::select! {
                    _ = cancel.cancelled() => return,
                    j = rx.recv() => match j { Some(j) => j, None => return },
                };
                // Taken off the queue first: a deploy during this capture queues the next one.
                if !job.requested {
                    queued.lock().unwrap_or_else(|p| p.into_inner()).remove(&job.guid);
                }
                let outcome = gallery.capture(&job).await;
                match job.reply {
                    Some(reply) => {
                        let _ = reply.send(outcome);
                    }
                    None => {
                        if let Err(e) = outcome {
                            tracing::info!(content = %job.guid, error = %e, "no thumbnail captured");
                        }
                    }
                }
            }
        });
    }

    /// Takes a picture of an item now, on the publisher's request (replaces an uploaded one;
    /// an app's worker is started if none runs). Waits for it.
    pub async fn capture_now(&self, key: &str) -> Result<crate::store::ThumbnailMeta> {
        let c = self.library.content(key).await?;
        match self.state.captures.get() {
            // In turn with the automatic captures (one Chromium at a time).
            Some(queue) => {
                let (reply, outcome) = tokio::sync::oneshot::channel();
                queue
                    .send(Job { guid: c.guid.clone(), requested: true, reply: Some(reply) })
                    .map_err(|_| Error::ShuttingDown)?;
                outcome.await.map_err(|_| Error::ShuttingDown)??;
            }
            None => self.capture(&Job { guid: c.guid.clone(), requested: true, reply: None }).await?,
        }
        let (meta, _) = self
            .shared
            .store
            .thumbnail(c.id)
            .await?
            .ok_or_else(|| Error::not_found("thumbnail of content", &c.guid))?;
        Ok(meta)
    }

    async fn capture(&self, job: &Job) -> Result<()> {
        let c = self.library.content(&job.guid).await?;
        if c.bundle_id.is_none() {
            return Err(Error::Invalid(format!("{} has not been deployed yet", c.name)));
        }
        if !job.requested {
            if self.settings().mode() == ThumbnailMode::Manual {
                return Ok(());
            }
            if self.has_uploaded_picture(c.id).await? {
                return Ok(()); // the publisher's choice stays
            }
            let interactive = crate::runtime_kind(&c.app_mode) == crate::RuntimeKind::Interactive;
            // SECURITY/cost: a picture never cold-starts an app.
            if interactive && self.apps.supervisor().instances(&c.guid).await.is_empty() {
                return Ok(());
            }
        }
        let chromium = find_chromium().ok_or_else(|| {
            Error::Invalid("no Chromium is installed (Debian: apt install chromium), so Porch cannot take a picture; upload one instead".into())
        })?;
        let target = self.shared.local_addr().ok_or_else(|| Error::Invalid("Porch is not serving".into()))?;
        let target = if target.ip().is_unspecified() {
            SocketAddr::new(std::net::Ipv4Addr::LOCALHOST.into(), target.port())
        } else {
            target
        };
        let key = if c.viewer_access.is_public() {
            None
        } else {
            let key = HeaderValue::from_str(&format!("Key {}", self.library.session_key()))
                .map_err(|e| Error::Invalid(e.to_string()))?;
            Some(key)
        };
        let added = Added { own: format!("/content/{}/", c.guid), key };
        let forwarder = Forwarder::start(target, added, self.shared.cancel.child_token()).await?;
        let url = format!("http://{}/content/{}/", forwarder.addr, c.guid);
        let scratch = tempfile::Builder::new()
            .prefix("capture-")
            .tempdir_in(self.shared.config.tmp_dir())
            .map_err(Error::io("creating a capture folder", self.shared.config.tmp_dir()))?;
        // Chromium speaks DevTools on fds 3 and 4; the shell hands it the runner's stdin and
        // stdout as those, and its own stdout goes to stderr (the log).
        let mut cmd = Cmd::new("/bin/sh");
        cmd.arg("-c").arg(r#"exec "$0" "$@" 3<&0 4>&1 0</dev/null 1>&2"#).arg(&chromium);
        cmd.args([
            "--headless=new",
            "--disable-gpu",
            "--hide-scrollbars",
            "--no-first-run",
            "--no-default-browser-check",
            "--mute-audio",
            "--disable-extensions",
            "--remote-debugging-pipe",
        ])
        .arg(format!("--window-size={WIDTH},{HEIGHT}"))
        // Marks every request, those to Porch's port directly too (`observe::is_capture`).
        .arg(format!(
            "--user-agent=Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0 Safari/537.36 {}",
            crate::observe::CAPTURE_AGENT
        ))
        .arg(format!("--user-data-dir={}", scratch.path().join("profile").display()));
        if running_as_root() {
            cmd.arg("--no-sandbox");
        }
        cmd.arg("about:blank").current_dir(scratch.path());
        if !job.requested {
            // Nobody waits for an automatic capture: it must not slow serving or a burst of
            // deploys. On a machine busy for all of TIMEOUT it fails, and the card stays.
            cmd.low_priority();
        }
        let logs = Logs { label: format!("capture of {}", c.guid), sink: Sink::Discard, tail_lines: 20 };
        let started = self.shared.runner.spawn_talking(&cmd, logs);
        let (chrome, talk) = match started {
            Ok(s) => s,
            Err(e) => {
                forwarder.stop();
                return Err(Error::Failed(format!("Chromium could not be started: {e}")));
            }
        };
        let shot = tokio::time::timeout(TIMEOUT, devtools::screenshot(talk, &url, WIDTH, HEIGHT)).await;
        forwarder.stop();
        // Gone before its profile folder is: Browser.close ends it, a stop makes sure.
        if matches!(shot, Ok(Ok(_))) {
            let _ = tokio::time::timeout(Duration::from_secs(2), chrome.exited()).await;
        }
        chrome.stop(Duration::from_secs(1)).await;
        let bytes = match shot {
            Ok(Ok(bytes)) => bytes,
            Ok(Err(e)) => {
                chrome.output_closed(Duration::from_secs(1)).await;
                return Err(Error::Failed(format!("Chromium took no picture: {e}{}", last_words(&chrome.tail()))));
            }
            Err(_) => {
                return Err(Error::Failed(format!(
                    "Chromium took no picture within {} s (on a machine this busy the item keeps its card)",
                    TIMEOUT.as_secs()
                )))
            }
        };
        let checked = image::check(&bytes, "captured picture")?;
        // An automatic capture never replaces a picture the publisher uploaded while
        // Chromium was at work; one the publisher asked for does.
        let kept = self.store_picture(c.id, &c.guid, &bytes, checked, "capture", !job.requested).await?;
        if kept.source == "upload" && !job.requested {
            tracing::info!(content = %c.guid, "a picture was uploaded during the capture; it stays");
        } else {
            tracing::info!(content = %c.guid, bytes = bytes.len(), "thumbnail captured");
        }
        Ok(())
    }
}

type Body = BoxBody<Bytes, hyper::Error>;

/// What the forwarder adds to Chromium's requests.
///
/// SECURITY: the picture is shown to the item's viewers, so the page is loaded as one of
/// them would see it. Every request is marked [`CAPTURE_HEADER`], which also makes it no
/// longer "this computer" (`gateway/access.rs`): a network item's page cannot fetch a local
/// item into its picture. The session key, which opens a local or link item itself, goes
/// only with requests for that item's own paths.
#[derive(Debug, Clone)]
struct Added {
    /// `/content/{guid}/`: the item's own paths.
    own: String,
    /// `Authorization: Key …` for a local or link item.
    key: Option<HeaderValue>,
}

impl Added {
    /// The headers for a request of `path`.
    fn for_path(&self, path: &str) -> Vec<(HeaderName, HeaderValue)> {
        let mut headers = vec![(HeaderName::from_static(CAPTURE_HEADER), HeaderValue::from_static("1"))];
        match &self.key {
            Some(key) if path.starts_with(&self.own) => headers.push((hyper::header::AUTHORIZATION, key.clone())),
            _ => {}
        }
        headers
    }
}

/// A loopback HTTP forwarder to Porch's own port that adds headers (see the module docs).
struct Forwarder {
    addr: SocketAddr,
    cancel: CancellationToken,
}

impl Forwarder {
    async fn start(target: SocketAddr, extra: Added, cancel: CancellationToken) -> Result<Forwarder> {
        let bind = SocketAddr::new(target.ip(), 0);
        let listener =
            tokio::net::TcpListener::bind(bind).await.map_err(Error::io("binding the capture forwarder", ""))?;
        let addr = listener.local_addr().map_err(Error::io("binding the capture forwarder", ""))?;
        let client: hyper_util::client::legacy::Client<_, Incoming> =
            hyper_util::client::legacy::Client::builder(TokioExecutor::new()).build_http();
        let stop = cancel.clone();
        tokio::spawn(async move {
            loop {
                let (stream, _) = tokio::select! {
                    _ = stop.cancelled() => return,
                    a = listener.accept() => match a { Ok(a) => a, Err(_) => continue },
                };
                let (client, extra, stop) = (client.clone(), extra.clone(), stop.clone());
                tokio::spawn(async move {
                    let svc =
                        hyper::service::service_fn(move |req| forward(client.clone(), target, extra.clone(), req));
                    let conn = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .with_upgrades();
                    tokio::select! {
                        _ = stop.cancelled() => {}
                        _ = conn => {}
                    }
                });
            }
        });
        Ok(Forwarder { addr, cancel })
    }

    fn stop(self) {
        self.cancel.cancel();
    }
}

async fn forward(
    client: hyper_util::client::legacy::Client<hyper_util::client::legacy::connect::HttpConnector, Incoming>,
    target: SocketAddr,
    extra: Added,
    mut req: Request<Incoming>,
) -> std::result::Result<Response<Body>, hyper::Error> {
    let upgrade = req.headers().contains_key(hyper::header::UPGRADE).then(|| hyper::upgrade::on(&mut req));
    let pq = req.uri().path_and_query().map(|p| p.as_str().to_string()).unwrap_or_else(|| "/".into());
    let (mut parts, body) = req.into_parts();
    let Ok(uri) = format!("http://{target}{pq}").parse() else { return Ok(status(400)) };
    parts.uri = uri;
    // Chromium's own `Authorization`, if a page set one, never stands in for the key.
    parts.headers.remove(hyper::header::AUTHORIZATION);
    for (k, v) in extra.for_path(parts.uri.path()) {
        parts.headers.insert(k, v);
    }
    let mut resp = match client.request(Request::from_parts(parts, body)).await {
        Ok(r) => r,
        Err(_) => return Ok(status(502)),
    };
    if let (Some(down), hyper::StatusCode::SWITCHING_PROTOCOLS) = (upgrade, resp.status()) {
        let up = hyper::upgrade::on(&mut resp);
        tokio::spawn(async move {
            if let (Ok(a), Ok(b)) = (down.await, up.await) {
                let _ = tokio::io::copy_bidirectional(&mut TokioIo::new(a), &mut TokioIo::new(b)).await;
            }
        });
    }
    Ok(resp.map(|b| b.boxed()))
}

/// Chromium's last line that is not about D-Bus (it complains of a missing bus on every
/// headless start), for an error message; empty if none.
fn last_words(tail: &[String]) -> String {
    tail.iter()
        .rev()
        .map(|l| l.trim())
        .find(|l| !l.is_empty() && !l.contains("dbus") && !l.contains("D-Bus"))
        .map(|l| format!(" ({l})"))
        .unwrap_or_default()
}

fn status(code: u16) -> Response<Body> {
    let mut r = Response::new(Empty::<Bytes>::new().map_err(|never| match never {}).boxed());
    *r.status_mut() = hyper::StatusCode::from_u16(code).unwrap_or(hyper::StatusCode::BAD_GATEWAY);
    r
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_goes_only_with_the_items_own_paths() {
        let key = HeaderValue::from_static("Key k");
        let added = Added { own: "/content/abc/".into(), key: Some(key) };
        let names = |path: &str| added.for_path(path).into_iter().map(|(k, _)| k.to_string()).collect::<Vec<_>>();
        assert_eq!(names("/content/abc/"), [CAPTURE_HEADER, "authorization"]);
        assert_eq!(names("/content/abc/ws/data"), [CAPTURE_HEADER, "authorization"]);
        for elsewhere in ["/content/other/", "/content/abcd/", "/", "/__api__/v1/content", "/content/abc"] {
            assert_eq!(names(elsewhere), [CAPTURE_HEADER], "{elsewhere}");
        }
        let public = Added { own: "/content/abc/".into(), key: None };
        assert_eq!(public.for_path("/content/abc/").len(), 1);
    }
}
