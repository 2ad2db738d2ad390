//! Interactive content on the HTTP surface: proxying viewers to workers, and the API for
//! environment variables, workers, restarts and logs.

use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::extract::{ConnectInfo, Path, Query, Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::Publisher;
use super::error::ApiError;
use super::json_body;
use crate::engine::Engine;
use crate::error::Error;
use crate::proxy::{self, error_response, Outside};
use crate::routes::Route;
use crate::static_site::pages;
use crate::supervisor::{RouteError, Wait};

/// How long a browser's first request waits for a cold app before it gets the
/// self-reloading "starting" page instead.
const BROWSER_WAIT: Duration = Duration::from_millis(1500);

fn affinity_cookie(guid: &str) -> String {
    format!("porch_w_{}", &guid[..guid.len().min(8)])
}

fn read_affinity(req: &Request, name: &str) -> Option<u64> {
    req.headers()
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| v.parse().ok())
}

fn wants_html(req: &Request) -> bool {
    req.method() == Method::GET
        && !req.headers().contains_key(header::UPGRADE)
        && req.headers().get(header::ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|a| a.contains("text/html"))
}

/// Routes a viewer's request (HTTP or WebSocket) to one of the item's workers.
pub(super) async fn proxy(engine: &Engine, route: &Route, base: &str, req: Request) -> Response {
    let cookie = affinity_cookie(&route.guid);
    let affinity = read_affinity(&req, &cookie);
    let wait = if wants_html(&req) { Wait::AtMost(BROWSER_WAIT) } else { Wait::UntilReady };
    let sup = &engine.apps().supervisor();
    let mut leased = sup.acquire(&route.guid, affinity, wait).await;
    if leased.as_ref().err() == Some(&RouteError::Gone) {
        // Deployed by another process (the CLI), or Porch just started: supervise it now.
        if let Ok(c) = engine.library().content(&route.guid).await {
            engine.apps().supervise(&c).await;
        }
        leased = sup.acquire(&route.guid, affinity, wait).await;
    }
    let lease = match leased {
        Ok(l) => l,
        Err(e) => {
            if let RouteError::StartFailed { message, .. } = &e {
                engine.emit(crate::events::Event::StartFailed { guid: route.guid.clone(), message: message.clone() });
            }
            return route_error(route, e, wait);
        }
    };
    let instance = lease.instance;
    let host = req.headers().get(header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("localhost").to_string();
    let origin = engine.config().public_url.clone().unwrap_or_else(|| format!("http://{host}"));
    let outside = Outside {
        base_path: base.trim_end_matches('/').to_string(),
        peer: req.extensions().get::<ConnectInfo<std::net::SocketAddr>>().map(|c| c.0),
        proto: "http",
        app_base_url: format!("{}{}", origin.trim_end_matches('/'), base),
        cookie_bases: {
            let mut b = route.bases();
            if !b.iter().any(|x| x == base) {
                b.push(base.to_string());
            }
            b
        },
    };
    let mut resp = proxy::forward(lease, req, &outside).await;
    if affinity != Some(instance) && resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        let c = format!("{cookie}={instance}; Path={base}; HttpOnly; SameSite=Lax");
        if let Ok(v) = HeaderValue::from_str(&c) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    resp
}

fn route_error(route: &Route, e: RouteError, wait: Wait) -> Response {
    match e {
        RouteError::StartTimeout(_) if matches!(wait, Wait::AtMost(_)) => {
            let mut r = error_response(StatusCode::SERVICE_UNAVAILABLE, "starting", starting_page(&route.title));
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("1"));
            r
        }
        RouteError::StartTimeout(d) => error_response(
            StatusCode::GATEWAY_TIMEOUT,
            "start-timeout",
            pages::notice(
                &route.title,
                &format!(
                    "The app did not start within {} seconds. Try again, or ask the publisher to check its log.",
                    d.as_secs()
                ),
            ),
        ),
        RouteError::AtCapacity(n) => {
            let mut r = error_response(
                StatusCode::SERVICE_UNAVAILABLE,
                "at-capacity",
                pages::notice(
                    &route.title,
                    &format!("All {n} processes of this app are busy. Please try again in a moment."),
                ),
            );
            r.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from_static("5"));
            r
        }
        RouteError::StartFailed { message, last_lines } => {
            let log = last_lines.iter().map(|l| pages::esc(l)).collect::<Vec<_>>().join("\n");
            let html = pages::notice(&route.title, &format!("The app could not start: {message}."))
                .replace("</body>", &format!("<pre style=\"white-space:pre-wrap;background:#f0ede6;padding:1rem;border-radius:.5rem\">{log}</pre></body>"));
            error_response(StatusCode::BAD_GATEWAY, "start-failed", html)
        }
        RouteError::Gone => error_response(
            StatusCode::SERVICE_UNAVAILABLE,
            "not-running",
            pages::notice(&route.title, "This app is not running right now. Please try again in a moment."),
        ),
    }
}

fn starting_page(title: &str) -> String {
    pages::notice(title, "Starting the app… this page reloads by itself.")
        .replace("<head>", "<head><meta http-equiv=\"refresh\" content=\"1\">")
}

// ----- API -----

/// `GET /v1/content/{guid}/environment`: variable names only.
pub(super) async fn env_get(
    _: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
) -> Result<Json<Vec<String>>, ApiError> {
    Ok(Json(engine.apps().env_names(&guid).await?))
}

#[derive(Debug, Deserialize)]
pub(super) struct EnvVar {
    name: String,
    value: Option<String>,
}

async fn env_update(engine: &Engine, guid: &str, body: &Bytes, replace: bool) -> Result<Json<Vec<String>>, ApiError> {
    let vars: Vec<EnvVar> = json_body(body)?;
    let changes: Vec<(String, Option<String>)> = vars.into_iter().map(|v| (v.name, v.value)).collect();
    Ok(Json(engine.apps().update_env(guid, &changes, replace).await?))
}

/// `PATCH /v1/content/{guid}/environment`: set, or delete with `value: null`.
pub(super) async fn env_patch(
    _: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
    body: Bytes,
) -> Result<Json<Vec<String>>, ApiError> {
    env_update(&engine, &guid, &body, false).await
}

/// `PUT /v1/content/{guid}/environment`: replace them all.
pub(super) async fn env_put(
    _: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
    body: Bytes,
) -> Result<Json<Vec<String>>, ApiError> {
    env_update(&engine, &guid, &body, true).await
}

/// `GET /v1/content/{guid}/jobs`: the item's worker processes.
pub(super) async fn jobs(
    _: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let list = engine.apps().instances(&guid).await?;
    let out: Vec<Value> = list
        .iter()
        .map(|i| {
            json!({
                "key": i.id.to_string(), "id": i.id.to_string(), "pid": i.pid, "bundle_id": i.bundle_id.to_string(),
                "status": 0, "state": i.state, "connections": i.connections, "port": i.port, "uptime_secs": i.uptime_secs,
                "content_guid": guid,
            })
        })
        .collect();
    Ok(Json(Value::Array(out)))
}

/// `DELETE /v1/content/{guid}/jobs/{key}`: kill one worker.
pub(super) async fn kill_job(
    _: Publisher,
    State(engine): State<Engine>,
    Path((guid, key)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    let id: u64 = key.parse().map_err(|_| Error::not_found("process", &key))?;
    engine.apps().kill_instance(&guid, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/content/{guid}/restart`.
pub(super) async fn restart(
    _: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
) -> Result<StatusCode, ApiError> {
    engine.apps().restart_content(&guid).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Debug, Deserialize)]
pub(super) struct LogQuery {
    lines: Option<usize>,
    follow: Option<bool>,
}

/// `GET /v1/content/{guid}/log?lines=N&follow=true`: the process log as text; with
/// `follow`, new lines keep streaming.
pub(super) async fn log(
    _: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
    Query(q): Query<LogQuery>,
) -> Result<Response, ApiError> {
    let lines = engine.apps().content_log(&guid, q.lines.unwrap_or(200).min(10_000)).await?;
    let mut text = lines.join("\n");
    if !text.is_empty() {
        text.push('\n');
    }
    if !q.follow.unwrap_or(false) {
        return Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], text).into_response());
    }
    let cancel = engine.shutdown_token();
    let first = futures_util::stream::once(async move { Ok::<Bytes, std::convert::Infallible>(Bytes::from(text)) });
    let seen = lines.last().cloned();
    let more =
        futures_util::stream::unfold((engine, guid, seen, cancel), |(engine, guid, mut seen, cancel)| async move {
            loop {
                tokio::select! {
                    _ = cancel.cancelled() => return None,
                    _ = tokio::time::sleep(Duration::from_millis(300)) => {}
                }
                let tail = engine.apps().content_log(&guid, 500).await.ok()?;
                let start = match &seen {
                    Some(last) => tail.iter().rposition(|l| l == last).map(|i| i + 1).unwrap_or(0),
                    None => 0,
                };
                if start < tail.len() {
                    let new = tail[start..].join("\n") + "\n";
                    seen = tail.last().cloned();
                    return Some((Ok(Bytes::from(new)), (engine, guid, seen, cancel)));
                }
            }
        });
    let body = Body::from_stream(futures_util::StreamExt::chain(first, more));
    Ok(([(header::CONTENT_TYPE, "text/plain; charset=utf-8")], body).into_response())
}

/// Used by the content PATCH: runtime fields in the body.
pub(super) fn runtime_changes(body: &Value) -> Result<Vec<crate::apps::RuntimeChange>, ApiError> {
    let Some(obj) = body.as_object() else { return Ok(Vec::new()) };
    let mut out = Vec::new();
    for field in crate::apps::RUNTIME_FIELDS {
        match obj.get(*field) {
            None => {}
            Some(Value::Null) => out.push((field.to_string(), None)),
            Some(Value::Number(n)) => out.push((field.to_string(), n.as_f64())),
            Some(other) => return Err(Error::Invalid(format!("{field} must be a number or null, not {other}")).into()),
        }
    }
    Ok(out)
}
