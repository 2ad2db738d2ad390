//! The CLI's way to Porch: its API, on the server that holds the data folder or, when none
//! runs, on an engine opened in this process.
//!
//! Owns: finding who holds the data folder (the lock file), the local credential, and
//! turning API answers into values or one-line errors. Does not own: what a command asks.
//!
//! SECURITY: a running server is reached on its loopback URL with the session key it wrote to
//! `porch.token` (0600 in a 0700 folder, so only the same user reads it); the server accepts
//! that key from loopback peers only. The desktop window (`porch-shell`) is handed the URL
//! and the key by the Porch that started it ([`Porch::remote`]). An in-process engine is
//! called through its router with its own session key.
//!
//! Concurrency: one command at a time per process; the in-process engine's background work
//! (a deploy, a render) runs on the command's runtime, and the command waits for it.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context as _};
use porch_engine::data_dir::{Busy, DataLock, Holder, Role};
use porch_engine::{Config, Engine};
use reqwest::Method;
use serde_json::Value;
use tower::ServiceExt as _;

/// How long a command waits for a server that holds the folder but has not bound its port.
const SERVER_START_WAIT: Duration = Duration::from_secs(60);
/// How often a waiting command looks at the lock again.
const LOCK_RETRY: Duration = Duration::from_millis(50);

/// A request body.
#[derive(Debug)]
pub enum Body {
    /// None.
    Empty,
    /// JSON.
    Json(Value),
    /// A file's bytes, streamed (a bundle archive).
    File(PathBuf),
    /// Bytes as they are, with their content type (the desktop shell's pass-through).
    #[cfg(feature = "gui")]
    Bytes(Vec<u8>, &'static str),
}

impl Answer {
    /// The JSON of a success (`null` for an empty one); an error answer becomes its message.
    pub fn json(self, path: &str) -> anyhow::Result<Value> {
        let Answer { status, bytes, .. } = self;
        let ok = (200..300).contains(&status);
        let value: Value = if bytes.iter().all(u8::is_ascii_whitespace) {
            Value::Null
        } else {
            match serde_json::from_slice(&bytes) {
                Ok(v) => v,
                Err(e) if ok => return Err(e.into()),
                // Refused before the API saw it (the listener's 414 or 431 are plain text).
                Err(_) => {
                    let text = String::from_utf8_lossy(&bytes);
                    let text = text.trim();
                    let text = if text.chars().count() > 200 { "" } else { text };
                    return Err(anyhow!(
                        "Porch answered {status} to {}: {text}",
                        path.split('?').next().unwrap_or(path)
                    ));
                }
            }
        };
        if ok {
            return Ok(value);
        }
        match value["error"].as_str() {
            Some(message) => Err(anyhow!("{message}")),
            None => Err(anyhow!("Porch answered {status} to {path}")),
        }
    }
}

/// An API answer as it came: status, body and content type.
#[derive(Debug)]
pub struct Answer {
    /// The HTTP status.
    pub status: u16,
    /// The body.
    pub bytes: Vec<u8>,
    /// The `Content-Type` header, when there is one.
    #[cfg_attr(not(feature = "gui"), allow(dead_code))]
    pub content_type: Option<String>,
}

/// Porch's API, wherever it runs.
#[derive(Debug)]
pub struct Porch {
    transport: Transport,
    config: Config,
}

#[derive(Debug)]
enum Transport {
    /// The running server, over loopback HTTP.
    Server {
        http: reqwest::Client,
        /// Loopback URL without the trailing slash.
        base: String,
        /// The local credential.
        key: String,
        /// The origin viewers use, sent as `X-Forwarded-*` so printed URLs are the ones
        /// viewers open (the server's own choice), not the loopback address.
        origin: Option<String>,
    },
    /// An engine opened here, under the folder's lock for the command's duration.
    /// (Boxed: an `Engine` is a handful of service handles, far larger than the other variant.)
    Alone { engine: Box<Engine>, _lock: DataLock },
}

impl Porch {
    /// Finds the server holding `config`'s data folder, or takes the folder's lock and
    /// opens it here. Waits while another command works alone on the folder, or while a
    /// server is starting.
    pub async fn connect(config: Config, command: &str) -> anyhow::Result<Porch> {
        let dir = config.data_dir.clone();
        let started = Instant::now();
        let mut told = false;
        loop {
            let attempt = {
                let dir = dir.clone();
                let command = command.to_string();
                tokio::task::spawn_blocking(move || DataLock::try_acquire(&dir, Role::Command, Some(&command)))
                    .await
                    .context("locking the data folder stopped")??
            };
            let holder = match attempt {
                Ok(lock) => {
                    let engine = Engine::open(config.clone()).await?;
                    return Ok(Porch { transport: Transport::Alone { engine: Box::new(engine), _lock: lock }, config });
                }
                Err(Busy::HeldBy(holder)) => holder,
            };
            match holder {
                Some(Holder { role: Role::Server, url: Some(url), origin, .. }) => {
                    let key = porch_engine::data_dir::read_credential(&dir).ok_or_else(|| {
                        anyhow!(
                            "Porch is serving this folder at {url}, but its credential {} cannot be read (is the folder yours?)",
                            porch_engine::data_dir::credential_path(&dir).display()
                        )
                    })?;
                    let http = reqwest::Client::builder()
                        .redirect(reqwest::redirect::Policy::none())
                        .build()
                        .context("cannot build an HTTP client")?;
                    let base = url.trim_end_matches('/').to_string();
                    return Ok(Porch { transport: Transport::Server { http, base, key, origin }, config });
                }
                Some(Holder { role: Role::Server, pid, .. }) if started.elapsed() > SERVER_START_WAIT => {
                    bail!("Porch (pid {pid}) holds this data folder but has not started serving; try again when it has")
                }
                Some(Holder { role: Role::Command, pid, command: other, .. }) if !told => {
                    let other = other.unwrap_or_default();
                    eprintln!("note: waiting for `porch {other}` (pid {pid}) to finish with this data folder");
                    told = true;
                }
                None if started.elapsed() > SERVER_START_WAIT => return Err(super::unnamed_holder(&dir)),
                _ => {}
            }
            tokio::time::sleep(LOCK_RETRY).await;
        }
    }

    /// The server at `base` (its loopback URL), called with `key`: the desktop shell, which
    /// its Porch hands both (so it never reads the lock file or the credential file).
    #[cfg(feature = "gui")]
    pub fn remote(config: Config, base: &str, key: String, origin: Option<String>) -> anyhow::Result<Porch> {
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .context("cannot build an HTTP client")?;
        let base = base.trim_end_matches('/').to_string();
        Ok(Porch { transport: Transport::Server { http, base, key, origin }, config })
    }

    /// A streaming `GET` on the server (the event stream); a server only.
    #[cfg(feature = "gui")]
    pub async fn open_stream(&self, path: &str) -> anyhow::Result<reqwest::Response> {
        let Transport::Server { http, base, key, .. } = &self.transport else {
            bail!("no Porch server runs on this data folder");
        };
        let resp = http
            .get(format!("{base}{path}"))
            .header("authorization", format!("Key {key}"))
            .send()
            .await
            .with_context(|| format!("cannot reach Porch at {base}"))?;
        if !resp.status().is_success() {
            bail!("Porch answered {} to {path}", resp.status());
        }
        Ok(resp)
    }

    /// Whether a server holds the folder (so it follows linked folders and runs schedules).
    pub fn is_serving(&self) -> bool {
        matches!(self.transport, Transport::Server { .. })
    }

    /// The configuration this command runs with.
    pub fn config(&self) -> &Config {
        &self.config
    }

    /// Calls the API and returns its JSON answer (`null` for an empty one); an error answer
    /// becomes its message.
    pub async fn call(&self, method: Method, path: &str, body: Body) -> anyhow::Result<Value> {
        self.send(method, path, body).await?.json(path)
    }

    /// `GET path` for a body that is not JSON (an archive); an error answer becomes its message.
    pub async fn get_bytes(&self, path: &str) -> anyhow::Result<Vec<u8>> {
        let Answer { status, bytes, .. } = self.send(Method::GET, path, Body::Empty).await?;
        if (200..300).contains(&status) {
            return Ok(bytes);
        }
        let value: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        match value["error"].as_str() {
            Some(message) => Err(anyhow!("{message}")),
            None => Err(anyhow!("Porch answered {status} to {path}")),
        }
    }

    /// Calls the API and returns the status, body and content type as they came.
    pub async fn send(&self, method: Method, path: &str, body: Body) -> anyhow::Result<Answer> {
        let (status, bytes, content_type) = match &self.transport {
            Transport::Server { http, base, key, origin } => {
                let mut req =
                    http.request(method, format!("{base}{path}")).header("authorization", format!("Key {key}"));
                if let Some((proto, host)) = origin.as_deref().and_then(|o| o.split_once("://")) {
                    req = req.header("x-forwarded-proto", proto).header("x-forwarded-host", host);
                }
                req = match body {
                    Body::Empty => req,
                    Body::Json(v) => req.json(&v),
                    Body::File(p) => req.body(reqwest::Body::wrap_stream(file_stream(&p).await?)),
                    #[cfg(feature = "gui")]
                    Body::Bytes(bytes, content_type) => req.header("content-type", content_type).body(bytes),
                };
                let resp = req.send().await.map_err(|e| {
                    // The server holds the folder but no longer accepts: it is stopping.
                    let hint = if e.is_connect() { " (it may be stopping; try again in a moment)" } else { "" };
                    anyhow::Error::new(e).context(format!("cannot reach Porch at {base}{hint}"))
                })?;
                let status = resp.status().as_u16();
                let content_type = content_type_of(resp.headers());
                let bytes = resp.bytes().await.with_context(|| format!("cannot read Porch's answer from {base}"))?;
                (status, bytes, content_type)
            }
            Transport::Alone { engine, .. } => {
                const JSON: &str = "application/json";
                let (body, content_type) = match body {
                    Body::Empty => (porch_engine::api::Body::empty(), JSON),
                    Body::Json(v) => (porch_engine::api::Body::from(serde_json::to_vec(&v)?), JSON),
                    Body::File(p) => (porch_engine::api::Body::from_stream(file_stream(&p).await?), JSON),
                    #[cfg(feature = "gui")]
                    Body::Bytes(bytes, kind) => (porch_engine::api::Body::from(bytes), kind),
                };
                let req = porch_engine::api::Request::builder()
                    .method(method.as_str())
                    .uri(path)
                    .header("authorization", format!("Key {}", engine.session_key()))
                    .header("content-type", content_type)
                    .body(body)
                    .context("cannot build the request")?;
                let resp = porch_engine::api::router(Engine::clone(engine))
                    .oneshot(porch_engine::api::normalize(req))
                    .await
                    .context("the request failed")?;
                let status = resp.status().as_u16();
                let content_type = content_type_of(resp.headers());
                let bytes = porch_engine::api::to_bytes(resp.into_body(), usize::MAX)
                    .await
                    .context("cannot read the answer")?;
                (status, bytes, content_type)
            }
        };
        Ok(Answer { status, bytes: bytes.to_vec(), content_type })
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> anyhow::Result<Value> {
        self.call(Method::GET, path, Body::Empty).await
    }

    /// `POST path` with a JSON body.
    pub async fn post(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.call(Method::POST, path, Body::Json(body)).await
    }

    /// `PATCH path` with a JSON body.
    pub async fn patch(&self, path: &str, body: Value) -> anyhow::Result<Value> {
        self.call(Method::PATCH, path, Body::Json(body)).await
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: &str) -> anyhow::Result<Value> {
        self.call(Method::DELETE, path, Body::Empty).await
    }

    /// The item with this name, as the content API shows it.
    pub async fn content_by_name(&self, name: &str) -> anyhow::Result<Value> {
        let list = self.get(&with_query("/__api__/v1/content", &[("name", Some(name))])).await?;
        list.as_array()
            .and_then(|items| items.iter().find(|c| c["name"] == name))
            .cloned()
            .ok_or_else(|| porch_engine::Error::not_found("content named", name).into())
    }

    /// An item's guid by name.
    pub async fn guid_of(&self, name: &str) -> anyhow::Result<String> {
        let c = self.content_by_name(name).await?;
        c["guid"].as_str().map(str::to_string).ok_or_else(|| anyhow!("the content list has no guid for {name}"))
    }

    /// One of an item's variants, by id or by name.
    pub async fn variant(&self, guid: &str, which: &str) -> anyhow::Result<Value> {
        let list = self.get(&format!("/__api__/v1/content/{guid}/variants")).await?;
        let items = list.as_array().cloned().unwrap_or_default();
        items
            .iter()
            .find(|v| v["id"] == which)
            .or_else(|| items.iter().find(|v| v["name"] == which))
            .cloned()
            .ok_or_else(|| porch_engine::Error::not_found("variant", which).into())
    }

    /// Waits for a task to finish and returns its last state (long-polling the task API).
    pub async fn wait_task(&self, id: &str) -> anyhow::Result<Value> {
        let mut first = 0;
        loop {
            let t = self.get(&format!("/__api__/v1/tasks/{id}?first={first}&wait=30")).await?;
            if t["finished"] == true {
                return Ok(t);
            }
            first = t["last"].as_u64().unwrap_or(first as u64) as usize;
        }
    }
}

/// `path?k=v&…` with the values percent-encoded (absent ones left out).
pub fn with_query(path: &str, pairs: &[(&str, Option<&str>)]) -> String {
    let mut url = reqwest::Url::parse("http://porch.invalid/").expect("invariant: a valid URL");
    url.set_path(path);
    {
        let mut q = url.query_pairs_mut();
        for (k, v) in pairs {
            if let Some(v) = v {
                q.append_pair(k, v);
            }
        }
    }
    match url.query().filter(|q| !q.is_empty()) {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    }
}

fn content_type_of(headers: &reqwest::header::HeaderMap) -> Option<String> {
    headers.get("content-type").and_then(|v| v.to_str().ok()).map(str::to_string)
}

async fn file_stream(path: &Path) -> anyhow::Result<tokio_util::io::ReaderStream<tokio::fs::File>> {
    let file = tokio::fs::File::open(path).await.with_context(|| format!("cannot read {}", path.display()))?;
    Ok(tokio_util::io::ReaderStream::new(file))
}
