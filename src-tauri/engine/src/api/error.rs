//! API errors: a status plus Connect's `{code, error, payload}` JSON.
//!
//! Internal failures are logged here with their full cause chain and answered with a
//! generic message, so nothing about the machine leaks to a client.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::bundle::BundleError;
use crate::error::{Error, ErrorCode};

/// An engine error on its way to an HTTP client.
#[derive(Debug)]
pub struct ApiError(pub Error);

impl From<Error> for ApiError {
    fn from(e: Error) -> Self {
        ApiError(e)
    }
}

impl From<BundleError> for ApiError {
    fn from(e: BundleError) -> Self {
        ApiError(Error::Bundle(e))
    }
}

/// Whether an error comes from a full disk (ENOSPC anywhere in its causes, or SQLite's
/// SQLITE_FULL), which the publisher can fix and so is told about plainly.
pub fn is_disk_full(e: &(dyn std::error::Error + 'static)) -> bool {
    let mut cur = Some(e);
    while let Some(c) = cur {
        if let Some(io) = c.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::StorageFull || io.raw_os_error() == Some(28) {
                return true;
            }
        }
        if c.to_string().contains("database or disk is full") {
            return true;
        }
        cur = c.source();
    }
    false
}

/// What a caller is told when the disk is full.
pub const DISK_FULL: &str = "No space left on device: the disk holding Porch's data folder is full. \
                             Nothing was changed; free some space and try again.";

/// The HTTP status for an error.
pub fn status_of(e: &Error) -> StatusCode {
    if is_disk_full(e) {
        return StatusCode::INSUFFICIENT_STORAGE;
    }
    match (e.code(), e) {
        (_, Error::Bundle(BundleError::TooLarge { .. }) | Error::TooLarge(_)) => StatusCode::PAYLOAD_TOO_LARGE,
        (_, Error::TooManyAttempts { .. }) => StatusCode::TOO_MANY_REQUESTS,
        (ErrorCode::NotFound, _) => StatusCode::NOT_FOUND,
        (ErrorCode::InvalidManifest | ErrorCode::InvalidRequest, _) => StatusCode::BAD_REQUEST,
        (ErrorCode::Conflict, _) => StatusCode::CONFLICT,
        (ErrorCode::Unauthorized, _) => StatusCode::UNAUTHORIZED,
        (ErrorCode::Forbidden, _) => StatusCode::FORBIDDEN,
        (ErrorCode::Busy, _) => StatusCode::SERVICE_UNAVAILABLE,
        (ErrorCode::Internal | ErrorCode::Failed, _) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// Renders an error's message with its causes, for logs.
pub fn chain(e: &(dyn std::error::Error + 'static)) -> String {
    let mut s = e.to_string();
    let mut cur = e.source();
    while let Some(c) = cur {
        s.push_str(": ");
        s.push_str(&c.to_string());
        cur = c.source();
    }
    s
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let status = status_of(&self.0);
        let message = if is_disk_full(&self.0) {
            tracing::error!(error = %chain(&self.0), "the disk is full");
            DISK_FULL.to_string()
        } else if self.0.is_internal() {
            tracing::error!(error = %chain(&self.0), "internal error");
            "internal error in Porch; the details are in Porch's log".to_string()
        } else {
            tracing::debug!(error = %self.0, "request refused");
            self.0.to_string()
        };
        let body =
            json!({ "code": self.0.connect_code(), "error": message, "payload": null, "porch_code": self.0.code() });
        let mut resp = (status, Json(body)).into_response();
        if let Error::TooManyAttempts { retry_after } = self.0 {
            resp.headers_mut().insert(axum::http::header::RETRY_AFTER, retry_after.into());
        }
        resp
    }
}

/// Middleware on `/__api__`: an error answer that is not JSON yet (axum's own rejections:
/// 405 for a method a path does not take, a query or path that does not parse, a timeout)
/// becomes Connect's error JSON, so every client can read it (posit-sdk needs `code` and
/// `error`; rsconnect needs `application/json`).
pub(super) async fn json_errors(req: axum::extract::Request, next: axum::middleware::Next) -> Response {
    // Nested under `/__api__`, the URI has lost that prefix; the original has it.
    let path = req
        .extensions()
        .get::<axum::extract::OriginalUri>()
        .map_or_else(|| req.uri().path().to_string(), |o| o.path().to_string());
    let method = req.method().clone();
    let resp = next.run(req).await;
    let status = resp.status();
    let is_json = resp
        .headers()
        .get(axum::http::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if status.as_u16() < 400 || is_json {
        return resp;
    }
    let allow = resp.headers().get(axum::http::header::ALLOW).cloned();
    let text = axum::body::to_bytes(resp.into_body(), 16 * 1024)
        .await
        .map(|b| String::from_utf8_lossy(&b).trim().to_string())
        .unwrap_or_default();
    let error = match (status, &allow) {
        (StatusCode::METHOD_NOT_ALLOWED, Some(allow)) => {
            format!("{method} is not allowed on {path}; allowed: {}", allow.to_str().unwrap_or("").replace(',', ", "))
        }
        (StatusCode::METHOD_NOT_ALLOWED, None) => format!("{method} is not allowed on {path}"),
        _ if text.is_empty() => format!("{} ({method} {path})", status.canonical_reason().unwrap_or("error")),
        _ => text,
    };
    let code = match status {
        StatusCode::NOT_FOUND => 4,
        StatusCode::UNAUTHORIZED => 30,
        StatusCode::FORBIDDEN => 22,
        s if s.is_server_error() => 1,
        _ => 3,
    };
    let mut out = (status, Json(json!({ "code": code, "error": error, "payload": null }))).into_response();
    if let Some(allow) = allow {
        out.headers_mut().insert(axum::http::header::ALLOW, allow);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A runtime failure reaches HTTP as a 5xx with its message and `porch_code: "Failed"`,
    /// never as a 400 (the request was fine); a bad request stays a 400.
    #[tokio::test]
    async fn runtime_failures_answer_5xx_with_their_message() {
        let installer = Error::Environment(crate::environment::EnvError::InstallFailed {
            tool: "uv pip install".into(),
            status: "exit status: 1".into(),
            last_lines: vec!["No solution found: porch-no-such-package-zz9 was not found".into()],
        });
        let stopped = Error::failed("packing stopped")(std::io::Error::other("it panicked"));
        for (e, text) in [(installer, "porch-no-such-package-zz9"), (stopped, "packing stopped: it panicked")] {
            let resp = ApiError(e).into_response();
            assert_eq!(resp.status(), StatusCode::INTERNAL_SERVER_ERROR);
            let body = axum::body::to_bytes(resp.into_body(), 64 * 1024).await.expect("body");
            let v: serde_json::Value = serde_json::from_slice(&body).expect("json");
            assert_eq!(v["porch_code"], "Failed", "{v}");
            assert_eq!(v["code"], 1, "{v}");
            assert!(v["error"].as_str().expect("error").contains(text), "the caller is told why: {v}");
        }
        assert_eq!(status_of(&Error::Invalid("name: bad".into())), StatusCode::BAD_REQUEST);
    }
}
