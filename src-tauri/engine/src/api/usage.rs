//! Usage: Connect's instrumentation API (`/v1/instrumentation/content/hits`,
//! `/content/visits`, `/shiny/usage`) and Porch's own reports for the app
//! (`/porch/content/{guid}/usage`, `/porch/usage`).
//!
//! The instrumentation filters are Connect's: `content_guid` (one guid, or several joined
//! by `|`), `from` and `to` (RFC 3339), `min_data_version`; visits and sessions page with
//! opaque `next`/`previous` cursors and `limit` (1 to 500, default 20), answered as
//! `{"paging": {"cursors": {...}, "first", "previous", "next", "last"}, "results": [...]}`.
//! Hits answer a plain array, as posit-sdk's `metrics.hits` reads it. Porch has no viewer
//! accounts, so `user_guid` is always null.
//!
//! Identical page views that arrived within about a second are stored as one row with their
//! number (`usage::Writer::add_view`); these answers list each of them again. A record is
//! `(row id, n)`, the n-th view of its row, and a cursor names one: `"{id}"` for n = 0,
//! else `"{id}.{n}"`, so pages hold exactly `limit` records wherever rows are folded.

use axum::extract::{Path, Query, State};
use axum::Json;
use serde_json::{json, Value};

use super::auth::{Origin, Publisher};
use super::error::ApiError;
use crate::engine::Engine;
use crate::error::Error;
use crate::usage::{parse_time, rfc3339, EventKind, EventQuery, UsageEvent, UsageLatestView, UsageReport};

/// The data version of every event Porch records (Connect's `data_version`).
const DATA_VERSION: i64 = 1;
/// The largest page.
const MAX_LIMIT: i64 = 500;
/// The page size when none is asked for (Connect's).
const DEFAULT_LIMIT: i64 = 20;
/// Hits answered at most in one call (hits do not page).
const MAX_HITS: i64 = 100_000;

/// The parsed query of an instrumentation call.
struct Asked {
    q: EventQuery,
    /// `min_data_version` above what Porch records: nothing matches.
    none: bool,
    /// The query parameters to repeat in the paging URLs (filters and limit).
    keep: Vec<(String, String)>,
    /// The record a `next` or `previous` cursor named.
    cursor: Option<Record>,
}

/// One record of a listing: the `n`-th of the identical views stored in row `id`.
type Record = (i64, i64);

fn cursor_text((id, n): Record) -> String {
    if n == 0 {
        id.to_string()
    } else {
        format!("{id}.{n}")
    }
}

fn parse_cursor(k: &str, v: &str) -> Result<Record, ApiError> {
    let bad = || Error::Invalid(format!("{k}: {v:?} is not a cursor Porch gave"));
    let (id, n) = v.split_once('.').unwrap_or((v, "0"));
    Ok((id.parse().map_err(|_| bad())?, n.parse().map_err(|_| bad())?))
}

fn asked(params: &[(String, String)], kinds: &[EventKind], paged: bool) -> Result<Asked, ApiError> {
    let mut q =
        EventQuery { kinds: kinds.to_vec(), limit: if paged { DEFAULT_LIMIT } else { MAX_HITS }, ..Default::default() };
    let (mut none, mut keep, mut cursor) = (false, Vec::new(), None);
    for (k, v) in params {
        match k.as_str() {
            "content_guid" => {
                q.content_guids.extend(v.split('|').map(str::trim).filter(|g| !g.is_empty()).map(str::to_string))
            }
            "from" => q.from = Some(parse_time("from", v)?),
            "to" => q.to = Some(parse_time("to", v)?),
            "min_data_version" => {
                let n: i64 =
                    v.parse().map_err(|_| Error::Invalid(format!("min_data_version: {v:?} is not a whole number")))?;
                none = n > DATA_VERSION;
            }
            "limit" if paged => {
                q.limit =
                    v.parse().ok().filter(|n| (1..=MAX_LIMIT).contains(n)).ok_or_else(|| {
                        Error::Invalid(format!("limit: a whole number from 1 to {MAX_LIMIT}, not {v:?}"))
                    })?
            }
            "next" | "previous" if paged => {
                if v.is_empty() {
                    continue;
                }
                let at = parse_cursor(k, v)?;
                q.backwards = k == "previous";
                // The cursor's own row is read too: the records after (or before) it in that
                // row come first.
                q.after = Some(if q.backwards { at.0.saturating_add(1) } else { at.0.saturating_sub(1) });
                cursor = Some(at);
                continue;
            }
            // Connect's ordering switch; Porch answers oldest first.
            "asc_order" => {}
            _ => continue,
        }
        keep.push((k.clone(), v.clone()));
    }
    Ok(Asked { q, none, keep, cursor })
}

fn common(r: &UsageEvent) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("content_guid".into(), json!(r.content_guid));
    m.insert("user_guid".into(), Value::Null);
    m.insert("data_version".into(), json!(DATA_VERSION));
    m
}

fn visit(r: &UsageEvent) -> Value {
    let mut m = common(r);
    m.insert("variant_key".into(), json!(r.variant_id.map(|v| format!("v{v}"))));
    m.insert("rendering_id".into(), json!(r.render_id));
    m.insert("bundle_id".into(), json!(r.bundle_id));
    m.insert("time".into(), json!(rfc3339(r.started)));
    m.insert("path".into(), json!(r.path));
    Value::Object(m)
}

fn session(r: &UsageEvent) -> Value {
    let mut m = common(r);
    m.insert("started".into(), json!(rfc3339(r.started)));
    m.insert("ended".into(), json!(rfc3339(r.ended)));
    Value::Object(m)
}

fn url(origin: &str, path: &str, keep: &[(String, String)], cursor: Option<(&str, &str)>) -> String {
    let mut pairs: Vec<String> = keep.iter().map(|(k, v)| format!("{k}={}", urlencode(v))).collect();
    if let Some((k, id)) = cursor {
        pairs.push(format!("{k}={id}"));
    }
    let q = if pairs.is_empty() { String::new() } else { format!("?{}", pairs.join("&")) };
    format!("{origin}/__api__{path}{q}")
}

fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One page of events, with Connect's paging block.
async fn page(
    engine: &Engine,
    origin: &str,
    path: &str,
    params: &[(String, String)],
    kinds: &[EventKind],
    shape: fn(&UsageEvent) -> Value,
) -> Result<Json<Value>, ApiError> {
    let a = asked(params, kinds, true)?;
    let limit = a.q.limit as usize;
    // `limit + 1` rows hold at least `limit + 1` records besides the cursor's row.
    let rows = if a.none {
        Vec::new()
    } else {
        engine.usage().events(&EventQuery { limit: a.q.limit + 2, ..a.q.clone() }).await?
    };
    let mut records: Vec<(Record, &UsageEvent)> = rows
        .iter()
        .flat_map(|r| (0..r.hits.max(1)).map(move |n| ((r.id, n), r)))
        .filter(|(at, _)| match a.cursor {
            None => true,
            Some(c) if a.q.backwards => *at < c,
            Some(c) => *at > c,
        })
        .collect();
    // One record more than asked says whether there is a page beyond, in the direction read.
    let more = records.len() > limit;
    if more {
        if a.q.backwards {
            records.drain(..records.len() - limit);
        } else {
            records.truncate(limit);
        }
    }
    let (first, last) = (records.first().map(|r| r.0), records.last().map(|r| r.0));
    let next = if a.q.backwards {
        if a.cursor.is_some() {
            last
        } else {
            None
        }
    } else if more {
        last
    } else {
        None
    };
    let previous = if a.q.backwards {
        if more {
            first
        } else {
            None
        }
    } else if a.cursor.is_some() {
        first
    } else {
        None
    };
    let link = |k: &str, at: Option<Record>| at.map(|at| url(origin, path, &a.keep, Some((k, &cursor_text(at)))));
    Ok(Json(json!({
        "paging": {
            "cursors": {
                "previous": previous.map(cursor_text),
                "next": next.map(cursor_text),
            },
            "first": url(origin, path, &a.keep, None),
            "previous": link("previous", previous),
            "next": link("next", next),
            "last": Value::Null,
        },
        "results": records.iter().map(|(_, r)| shape(r)).collect::<Vec<_>>(),
    })))
}

/// `GET /v1/instrumentation/content/visits`: page views of static and rendered content.
pub(super) async fn visits(
    _: Publisher,
    State(engine): State<Engine>,
    Origin(origin): Origin,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    page(&engine, &origin, "/v1/instrumentation/content/visits", &params, &[EventKind::View], visit).await
}

/// `GET /v1/instrumentation/shiny/usage`: app sessions of every interactive framework.
pub(super) async fn shiny_usage(
    _: Publisher,
    State(engine): State<Engine>,
    Origin(origin): Origin,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Json<Value>, ApiError> {
    page(&engine, &origin, "/v1/instrumentation/shiny/usage", &params, &[EventKind::Session], session).await
}

/// `GET /v1/instrumentation/content/hits`: every page view and app session, as one array.
pub(super) async fn hits(
    _: Publisher,
    State(engine): State<Engine>,
    Query(params): Query<Vec<(String, String)>>,
) -> Result<Json<Vec<Value>>, ApiError> {
    let a = asked(&params, &[], false)?;
    if a.none {
        return Ok(Json(Vec::new()));
    }
    let rows = engine.usage().events(&a.q).await?;
    Ok(Json(
        rows.iter()
            .flat_map(|r| (0..r.hits.max(1)).map(move |n| (r, n)))
            .map(|(r, n)| {
                // The first of identical views keeps the row's id; the others get `id.n`.
                let id = cursor_text((r.id, n));
                json!({
                    "id": id,
                    "content_guid": r.content_guid,
                    "user_guid": Value::Null,
                    "timestamp": rfc3339(r.started),
                    "data": {
                        "kind": r.kind,
                        "path": r.path,
                        "ended": rfc3339(r.ended),
                        "bundle_id": r.bundle_id,
                        "variant_key": r.variant_id.map(|v| format!("v{v}")),
                        "rendering_id": r.render_id,
                    },
                })
            })
            .collect(),
    ))
}

/// Query of an item's usage report.
#[derive(Debug, serde::Deserialize)]
pub(super) struct ReportQuery {
    days: Option<String>,
}

/// `GET /porch/content/{guid}/usage?days=30`: the item's Usage tab.
pub(super) async fn report(
    _: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
    Query(q): Query<ReportQuery>,
) -> Result<Json<UsageReport>, ApiError> {
    let c = engine.library().content(&guid).await?;
    let days = match q.days.as_deref() {
        None | Some("") => 30,
        Some(d) => d.parse().map_err(|_| Error::Invalid(format!("days must be from 1 to 3650, not {d:?}")))?,
    };
    Ok(Json(engine.usage().report(&c.guid, days).await?))
}

/// `GET /porch/usage`: every item's last view and its views in the last 30 days.
pub(super) async fn latest(_: Publisher, State(engine): State<Engine>) -> Result<Json<Vec<UsageLatestView>>, ApiError> {
    Ok(Json(engine.usage().latest().await?))
}
