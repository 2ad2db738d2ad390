//! Schedules of rendered content: create, list, read, update, delete.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use serde_json::Value;

use super::auth::Publisher;
use super::error::ApiError;
use super::json_body;
use crate::engine::Engine;
use crate::error::Error;
use crate::renders::mail::SmtpView;
use crate::renders::schedules::ScheduleView;
use crate::renders::OptionsPatch;

fn options(body: &Value) -> Result<OptionsPatch, ApiError> {
    let mut o = OptionsPatch::default();
    let flag = |k: &str| -> Result<Option<bool>, ApiError> {
        match body.get(k) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(Error::Invalid(format!("{k} must be true or false, not {other}")).into()),
        }
    };
    o.enabled = flag("enabled")?;
    o.publish = flag("publish")?;
    o.catch_up = flag("catch_up")?;
    o.email = flag("email")?;
    o.attach = flag("attach")?;
    o.recipients = match body.get("recipients") {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .iter()
                .map(|i| {
                    i.as_str()
                        .map(str::to_string)
                        .ok_or_else(|| Error::Invalid("recipients: a list of email addresses".into()))
                })
                .collect::<Result<_, _>>()?,
        ),
        Some(_) => return Err(Error::Invalid("recipients: a list of email addresses".into()).into()),
    };
    Ok(o)
}

fn parse_id(id: &str) -> Result<i64, ApiError> {
    id.parse().map_err(|_| Error::not_found("schedule", id).into())
}

/// `GET /v1/content/{guid}/schedules`.
pub(super) async fn list(
    _: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
) -> Result<Json<Vec<ScheduleView>>, ApiError> {
    let c = engine.library().content(&guid).await?;
    let rows = engine.renders().schedules(&guid).await?;
    Ok(Json(rows.iter().map(|r| engine.renders().schedule_view(r, &c.guid)).collect()))
}

/// `POST /v1/content/{guid}/schedules`.
pub(super) async fn create(
    _: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
    body: Bytes,
) -> Result<Json<ScheduleView>, ApiError> {
    let v: Value = json_body(&body)?;
    let o = options(&v)?;
    let c = engine.library().content(&guid).await?;
    let variant = super::variants::optional_id(&v, "variant_id")?;
    let row = engine.renders().create_schedule(&guid, variant, &v, &o).await?;
    Ok(Json(engine.renders().schedule_view(&row, &c.guid)))
}

/// `GET /v1/schedules/{id}`.
pub(super) async fn get_one(
    _: Publisher,
    State(engine): State<Engine>,
    Path(id): Path<String>,
) -> Result<Json<ScheduleView>, ApiError> {
    let (row, guid) = engine.renders().schedule(parse_id(&id)?).await?;
    Ok(Json(engine.renders().schedule_view(&row, &guid)))
}

/// `PATCH /v1/schedules/{id}`.
pub(super) async fn update(
    _: Publisher,
    State(engine): State<Engine>,
    Path(id): Path<String>,
    body: Bytes,
) -> Result<Json<ScheduleView>, ApiError> {
    let v: Value = json_body(&body)?;
    let o = options(&v)?;
    let row = engine.renders().update_schedule(parse_id(&id)?, &v, &o).await?;
    let (_, guid) = engine.renders().schedule(row.id).await?;
    Ok(Json(engine.renders().schedule_view(&row, &guid)))
}

/// `DELETE /v1/schedules/{id}`: 204.
pub(super) async fn remove(
    _: Publisher,
    State(engine): State<Engine>,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    engine.renders().delete_schedule(parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /__api__/porch/smtp`: the settings without the password.
pub(super) async fn smtp_get(_: Publisher, State(engine): State<Engine>) -> Result<Json<SmtpView>, ApiError> {
    Ok(Json(engine.renders().smtp_view().await?))
}

/// `PUT /__api__/porch/smtp`.
pub(super) async fn smtp_put(
    publisher: Publisher,
    State(engine): State<Engine>,
    body: Bytes,
) -> Result<Json<SmtpView>, ApiError> {
    let s: crate::renders::SmtpSettings = json_body(&body)?;
    // The saved CA file may come back unchanged (a form sends every field).
    let saved = match engine.renders().smtp_view().await? {
        crate::renders::mail::SmtpView::Configured(shown) => shown.ca_file,
        crate::renders::mail::SmtpView::NotConfigured { .. } => None,
    };
    if s.ca_file.is_some() && s.ca_file != saved {
        publisher.at_this_computer("the SMTP CA file")?;
    }
    engine.renders().set_smtp(s).await?;
    Ok(Json(engine.renders().smtp_view().await?))
}
