//! A small client for a Connect server's API, as rsconnect-python talks to it.
//!
//! Owns: the HTTP client of one promotion (rustls with the system's roots plus the target's
//! CA file), the redirect rule, the record of every request made, and turning transport and
//! HTTP failures into one-line [`PromoteError`]s. Does not own: which requests a promotion
//! makes (`mod.rs`).
//!
//! SECURITY: the API key goes in `Authorization: Key …` to the target's origin only. A
//! redirect to another origin is never followed (the key would travel with it), and the
//! key never appears in the request record, a log line or an error. In a dry run the
//! client refuses every method but GET, whatever the caller asks.
//!
//! Concurrency: one promotion uses one client from one task; the request record is a std
//! mutex held only to push a line.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::Value;

use super::targets::Target;
use super::PromoteError;

/// How many same-origin redirects one request may follow.
const MAX_REDIRECTS: usize = 5;

/// A Connect API of one target.
#[derive(Debug, Clone)]
pub(crate) struct Connect {
    http: reqwest::Client,
    /// The target's URL (normalised, no trailing slash).
    base: String,
    key: String,
    dry_run: bool,
    /// `METHOD /__api__/… -> status`, in order.
    record: Arc<Mutex<Vec<String>>>,
}

/// What a request sends.
#[derive(Debug)]
pub(crate) enum Send {
    /// Nothing.
    Empty,
    /// A JSON document.
    Json(Value),
    /// A gzip tar archive's bytes.
    Archive(Vec<u8>),
}

impl Connect {
    /// A client for `target`; `dry_run` permits GET only.
    pub(crate) fn new(target: &Target, dry_run: bool) -> Result<Connect, PromoteError> {
        let policy = reqwest::redirect::Policy::custom(|attempt| {
            let same = attempt.previous().first().is_some_and(|first| first.origin() == attempt.url().origin());
            if !same || attempt.previous().len() > MAX_REDIRECTS {
                attempt.stop()
            } else {
                attempt.follow()
            }
        });
        let mut builder = reqwest::Client::builder()
            .use_rustls_tls()
            .redirect(policy)
            .connect_timeout(Duration::from_secs(15))
            .read_timeout(Duration::from_secs(300))
            .user_agent(concat!("porch/", env!("CARGO_PKG_VERSION")));
        if let Some(ca) = &target.ca_file {
            let pem =
                std::fs::read(ca).map_err(|e| PromoteError::CaFile { path: ca.clone(), detail: e.to_string() })?;
            let certs = reqwest::Certificate::from_pem_bundle(&pem)
                .map_err(|e| PromoteError::CaFile { path: ca.clone(), detail: e.to_string() })?;
            if certs.is_empty() {
                return Err(PromoteError::CaFile { path: ca.clone(), detail: "no PEM certificate in it".into() });
            }
            for c in certs {
                builder = builder.add_root_certificate(c);
            }
        }
        let http = builder.build().map_err(|e| PromoteError::Client(e.to_string()))?;
        Ok(Connect { http, base: target.url.clone(), key: target.api_key.clone(), dry_run, record: Arc::default() })
    }

    /// The target's URL.
    pub(crate) fn base(&self) -> &str {
        &self.base
    }

    /// Every request made so far, as `METHOD path -> status`.
    pub(crate) fn record(&self) -> Vec<String> {
        self.record.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn note(&self, line: String) {
        self.record.lock().unwrap_or_else(|p| p.into_inner()).push(line);
    }

    /// Sends one request to `path` (starting with `/__api__/`) and returns its status and
    /// JSON body (`null` when empty or not JSON). Transport failures are errors; HTTP error
    /// statuses are returned for the caller to judge, except a redirect, which is an error.
    pub(crate) async fn send(
        &self,
        method: Method,
        path: &str,
        body: Send,
    ) -> Result<(StatusCode, Value), PromoteError> {
        if self.dry_run && method != Method::GET {
            return Err(PromoteError::DryRunWrite(format!("{method} {path}")));
        }
        let url = format!("{}{}", self.base, path);
        let mut req = self.http.request(method.clone(), &url).header("authorization", format!("Key {}", self.key));
        req = match body {
            Send::Empty => req,
            Send::Json(v) => req.json(&v),
            Send::Archive(bytes) => req.header("content-type", "application/x-gzip").body(bytes),
        };
        let resp = match req.send().await {
            Ok(r) => r,
            Err(e) => {
                self.note(format!("{method} {path} -> failed"));
                return Err(transport_error(&self.base, &e));
            }
        };
        let status = resp.status();
        self.note(format!("{method} {path} -> {}", status.as_u16()));
        if status.is_redirection() {
            let to = resp.headers().get("location").and_then(|l| l.to_str().ok()).unwrap_or("?").to_string();
            return Err(PromoteError::Redirected { url, to });
        }
        let bytes = resp.bytes().await.map_err(|e| transport_error(&self.base, &e))?;
        let value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Ok((status, value))
    }

    /// [`Connect::send`] that turns a non-2xx answer into [`PromoteError::Http`] (401 and
    /// 403 into [`PromoteError::Unauthorized`]).
    pub(crate) async fn ok(&self, method: Method, path: &str, body: Send) -> Result<Value, PromoteError> {
        let (status, value) = self.send(method.clone(), path, body).await?;
        if status.is_success() {
            return Ok(value);
        }
        Err(self.refusal(&method, path, status, &value))
    }

    /// The error for a refused request.
    pub(crate) fn refusal(&self, method: &Method, path: &str, status: StatusCode, value: &Value) -> PromoteError {
        let message = value["error"].as_str().unwrap_or_default().to_string();
        if status == StatusCode::UNAUTHORIZED {
            return PromoteError::Unauthorized { url: self.base.clone(), message };
        }
        PromoteError::Http { request: format!("{method} {path}"), status: status.as_u16(), message }
    }
}

/// One clear line for a request that got no answer.
fn transport_error(base: &str, e: &reqwest::Error) -> PromoteError {
    let mut chain = Vec::new();
    let mut cur: Option<&dyn std::error::Error> = Some(e);
    while let Some(err) = cur {
        chain.push(err.to_string());
        cur = err.source();
    }
    let detail = chain.last().cloned().unwrap_or_default();
    let all = chain.join(": ").to_lowercase();
    if all.contains("certificate") || all.contains("unknownissuer") || all.contains("tls handshake") {
        return PromoteError::Certificate { url: base.to_string(), detail };
    }
    if e.is_timeout() {
        return PromoteError::Unreachable { url: base.to_string(), detail: "timed out".into() };
    }
    PromoteError::Unreachable { url: base.to_string(), detail }
}
