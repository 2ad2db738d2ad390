//! Running schedules: the stored definitions, their API, and what a run does.
//!
//! The next-run arithmetic is the pure [`crate::scheduler`], and the loop that sleeps until a
//! run is due is [`crate::scheduler::driver`]; this module connects that loop to the store
//! (its [`Host`](crate::scheduler::driver::Host) is [`EngineHost`]) and to renders, and pokes
//! it whenever schedules change: through this API, when an item is deleted, or when another
//! process changed the database. Each schedule remembers the planned time of the last run it
//! handled (`last_planned`), so a run missed while Porch was off or the machine slept is run
//! once when Porch is back (with catch-up on), never several times, and is dropped with
//! catch-up off. A schedule that fires while its item is still rendering records a skipped run
//! instead of queueing another.
//!
//! Concurrency: one loop task (see the driver's documentation); each run it fires is a task
//! of its own on the engine's tracker, so a long render never delays another schedule.

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use super::Renders;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::scheduler::driver::{self, Planned, SystemClock};
use crate::scheduler::Schedule;
use crate::store::{ScheduleOptions, ScheduleRow};
use crate::view::NextRun;

/// A schedule as the API shows it: Connect's definition as it was sent, plus Porch's options
/// and the next runs. (`GET /v1/content/{guid}/schedules`, `GET /v1/schedules/{id}`.)
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ScheduleView {
    /// Connect's fields (`type`, `schedule`, `start_time`, `timezone`, `cron`, and any other
    /// field the client sent), at the top level as Connect shows them.
    #[serde(flatten)]
    pub definition: ScheduleDefinition,
    /// Schedule id.
    pub id: String,
    /// The item's guid.
    pub content_guid: String,
    /// Whether it fires.
    pub enabled: bool,
    /// Whether its renders replace what viewers see.
    pub publish: bool,
    /// Whether a run missed while Porch was off runs (once) when it is back.
    pub catch_up: bool,
    /// Whether to email after a run.
    pub email: bool,
    /// Who gets the email.
    pub recipients: Vec<String>,
    /// Whether the email carries the rendered HTML.
    pub attach: bool,
    /// The next run, RFC 3339 UTC (none for a definition that no longer parses).
    pub next_run: Option<String>,
    /// The next five runs.
    pub next_runs: Vec<NextRun>,
    /// The planned time of the last run handled, RFC 3339 UTC.
    pub last_planned: Option<String>,
    /// The variant it renders (none: the item's default parameters).
    pub variant_id: Option<String>,
}

/// Connect's schedule definition as stored (the client's own JSON, checked when saved).
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize, PartialEq, Default)]
pub struct ScheduleDefinition {
    /// `minute`, `hour`, `day`, ..., or `cron` (absent when only `cron` was sent).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub kind: Option<String>,
    /// The type's parameters, as a JSON string (Connect) or an object.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional, type = "string | Record<string, unknown>"))]
    pub schedule: Option<Value>,
    /// RFC 3339.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub start_time: Option<String>,
    /// IANA time zone.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub timezone: Option<String>,
    /// A cron expression (type `cron`).
    #[serde(skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub cron: Option<String>,
    /// Any other field the client sent, handed back as it came.
    #[serde(flatten)]
    #[cfg_attr(feature = "ts", ts(skip))]
    pub other: serde_json::Map<String, Value>,
}

impl ScheduleDefinition {
    /// Porch's own fields of [`ScheduleView`], which win over a client's field of that name.
    const PORCH_FIELDS: [&'static str; 12] = [
        "id",
        "content_guid",
        "enabled",
        "publish",
        "catch_up",
        "email",
        "recipients",
        "attach",
        "next_run",
        "next_runs",
        "last_planned",
        "variant_id",
    ];

    /// The stored definition (an object; anything else reads as empty).
    fn from_stored(text: &str) -> ScheduleDefinition {
        let Ok(Value::Object(mut other)) = serde_json::from_str::<Value>(text) else {
            return ScheduleDefinition::default();
        };
        for k in Self::PORCH_FIELDS {
            other.remove(k);
        }
        let mut text_field = |k: &str| match other.remove(k) {
            Some(Value::String(s)) => Some(s),
            Some(Value::Null) | None => None,
            Some(v) => {
                // Not what Connect sends; kept as it came.
                other.insert(k.to_string(), v);
                None
            }
        };
        let kind = text_field("type");
        let start_time = text_field("start_time");
        let timezone = text_field("timezone");
        let cron = text_field("cron");
        let schedule = other.remove("schedule").filter(|v| !v.is_null());
        ScheduleDefinition { kind, schedule, start_time, timezone, cron, other }
    }
}

/// Porch's options on a schedule, as the API takes them.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct OptionsPatch {
    /// Whether it fires.
    pub enabled: Option<bool>,
    /// Whether renders replace what viewers see.
    pub publish: Option<bool>,
    /// Whether a missed run runs once when Porch is back.
    pub catch_up: Option<bool>,
    /// Whether to email after a run.
    pub email: Option<bool>,
    /// Who gets the email.
    pub recipients: Option<Vec<String>>,
    /// Whether the email carries the rendered HTML.
    pub attach: Option<bool>,
}

impl OptionsPatch {
    fn apply(&self, o: ScheduleOptions) -> Result<ScheduleOptions> {
        let recipients = match &self.recipients {
            Some(list) => {
                if let Some(bad) = list.iter().find(|a| !super::mail::plausible_address(a)) {
                    return Err(Error::Invalid(format!("recipients: {bad:?} is not an email address")));
                }
                serde_json::to_string(list).unwrap_or_else(|_| "[]".into())
            }
            None => o.recipients,
        };
        Ok(ScheduleOptions {
            enabled: self.enabled.unwrap_or(o.enabled),
            publish: self.publish.unwrap_or(o.publish),
            catch_up: self.catch_up.unwrap_or(o.catch_up),
            email: self.email.unwrap_or(o.email),
            recipients,
            attach: self.attach.unwrap_or(o.attach),
        })
    }
}

fn parse(definition: &str) -> Result<Schedule> {
    let v: Value = serde_json::from_str(definition).map_err(|e| Error::Invalid(format!("schedule: {e}")))?;
    Schedule::from_connect(&v).map_err(Error::from)
}

fn ts(s: &str) -> Option<Timestamp> {
    s.parse().ok()
}

impl Renders {
    /// A schedule as the API shows it: Connect's fields, Porch's options and the next 5 runs
    /// in the schedule's zone and in UTC.
    pub fn schedule_view(&self, row: &ScheduleRow, guid: &str) -> ScheduleView {
        let next_runs: Vec<NextRun> = parse(&row.definition)
            .map(|s| {
                s.upcoming(Timestamp::now(), 5)
                    .into_iter()
                    .map(|t| NextRun { local: t.to_zoned(s.timezone.clone()).to_string(), utc: t.to_string() })
                    .collect()
            })
            .unwrap_or_default();
        ScheduleView {
            definition: ScheduleDefinition::from_stored(&row.definition),
            id: row.id.to_string(),
            content_guid: guid.to_string(),
            enabled: row.enabled,
            publish: row.publish,
            catch_up: row.catch_up,
            email: row.email,
            recipients: serde_json::from_str(&row.recipients).unwrap_or_default(),
            attach: row.attach,
            next_run: next_runs.first().map(|n| n.utc.clone()),
            next_runs,
            last_planned: row.last_planned.clone(),
            variant_id: row.variant_id.map(|id| id.to_string()),
        }
    }

    /// Adds a schedule to a rendered item. `definition` is Connect's shape; bad input is
    /// refused with a message naming the field, and nothing is stored.
    /// `variant` names one of the item's variants to render (None: the item's defaults).
    pub async fn create_schedule(
        &self,
        key: &str,
        variant: Option<i64>,
        definition: &Value,
        options: &OptionsPatch,
    ) -> Result<ScheduleRow> {
        let c = self.library.content(key).await?;
        if crate::runtime_kind(&c.app_mode) != crate::RuntimeKind::Rendered {
            return Err(Error::Invalid(format!(
                "{} is {} content; only rendered documents take schedules",
                c.name, c.app_mode
            )));
        }
        if let Some(id) = variant {
            self.variant_of(&c, id)
                .await
                .map_err(|_| Error::Invalid(format!("variant_id: {} has no variant {id}", c.name)))?;
        }
        Schedule::from_connect(definition)?;
        let o = options.apply(ScheduleOptions {
            enabled: true,
            publish: true,
            catch_up: true,
            email: false,
            recipients: "[]".into(),
            attach: false,
        })?;
        let id =
            self.shared.store.insert_schedule(c.id, variant, &definition.to_string(), o, &crate::time::now()).await?;
        self.state.schedule_wake.poke();
        self.shared.store.schedule(id).await
    }

    /// An item's schedules.
    pub async fn schedules(&self, key: &str) -> Result<Vec<ScheduleRow>> {
        let c = self.library.content(key).await?;
        self.shared.store.schedules(Some(c.id)).await
    }

    /// One schedule and its item's guid.
    pub async fn schedule(&self, id: i64) -> Result<(ScheduleRow, String)> {
        let row = self.shared.store.schedule(id).await?;
        let c = self.library.content(&row.content_id.to_string()).await?;
        Ok((row, c.guid))
    }

    /// Changes a schedule: definition fields present in `patch` replace the stored ones.
    pub async fn update_schedule(&self, id: i64, patch: &Value, options: &OptionsPatch) -> Result<ScheduleRow> {
        let row = self.shared.store.schedule(id).await?;
        let mut def: Value = serde_json::from_str(&row.definition).unwrap_or_else(|_| json!({}));
        if let (Some(d), Some(p)) = (def.as_object_mut(), patch.as_object()) {
            for k in ["type", "schedule", "start_time", "timezone", "cron"] {
                if let Some(v) = p.get(k) {
                    d.insert(k.into(), v.clone());
                }
            }
        }
        Schedule::from_connect(&def)?;
        let o = options.apply(ScheduleOptions {
            enabled: row.enabled,
            publish: row.publish,
            catch_up: row.catch_up,
            email: row.email,
            recipients: row.recipients.clone(),
            attach: row.attach,
        })?;
        self.shared.store.update_schedule(id, &def.to_string(), o, &crate::time::now()).await?;
        self.state.schedule_wake.poke();
        self.shared.store.schedule(id).await
    }

    /// Deletes a schedule.
    pub async fn delete_schedule(&self, id: i64) -> Result<()> {
        self.shared.store.delete_schedule(id).await?;
        self.state.schedule_wake.poke();
        Ok(())
    }

    /// Starts the loop that fires schedules (serving engines only), and the task that pokes it
    /// when an item is deleted or another process changed the database.
    pub(crate) fn spawn_schedule_loop(&self) {
        let wake = self.state.schedule_wake.clone();
        let mut events = self.shared.subscribe();
        let cancel = self.shared.cancel.child_token();
        let stop = cancel.clone();
        self.shared.tracker.spawn(async move {
            loop {
                let event = tokio::select! {
                    _ = stop.cancelled() => break,
                    event = events.recv() => event,
                };
                match event {
                    Ok(Event::ContentDeleted { .. } | Event::LibraryChanged) => wake.poke(),
                    Ok(_) => {}
                    // Missed events may have been changes: read the schedules again.
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => wake.poke(),
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
        let host = EngineHost(self.clone());
        self.shared.tracker.spawn(driver::run(SystemClock, host, self.state.schedule_wake.clone(), cancel));
    }

    async fn fire(&self, row: &ScheduleRow, planned: Timestamp, late: bool) {
        let Ok(c) = self.library.content(&row.content_id.to_string()).await else { return };
        let Some(bundle_id) = c.bundle_id else { return };
        let variant = match row.variant_id {
            Some(id) => match self.variant_of(&c, id).await {
                Ok(v) => Some(v),
                Err(e) => return tracing::warn!(schedule = row.id, error = %e, "the schedule's variant is gone"),
            },
            None => None,
        };
        if self.is_rendering(c.id, row.variant_id) {
            tracing::info!(schedule = row.id, content = %c.guid, "skipped: the previous render is still running");
            let keep = self.shared.config.keep_renders;
            let _ = self
                .shared
                .store
                .insert_skipped_render(c.id, row.variant_id, bundle_id, &crate::time::now(), keep)
                .await;
            return;
        }
        tracing::info!(schedule = row.id, content = %c.guid, %planned, late, "scheduled render");
        // Held from now, before the loop reports its next run, so keep-awake never lets go
        // between "due soon" and "rendering".
        let awake = self.awake.render(&c.guid, c.title.as_deref().filter(|t| !t.is_empty()).unwrap_or(&c.name));
        let (engine, row, trigger) = (self.clone(), row.clone(), crate::vocab::Trigger::Schedule);
        let Ok(log) = self.shared.tasks.create(c.id, Some(bundle_id), "render").await else { return };
        self.shared.tracker.spawn(async move {
            let _awake = awake;
            let manifest = match engine.library.bundle(&c.guid, bundle_id).await {
                Ok((_, b)) => b.require_manifest(),
                Err(e) => return log.finish(&Err(e)).await,
            };
            let outcome = match manifest {
                Ok(m) => {
                    engine.run_render_variant(&log, &c, variant.as_ref(), bundle_id, &m, &trigger, row.publish).await
                }
                Err(e) => Err(e.into()),
            };
            if row.email {
                engine.mail_after_render(&log, &row, &c, &outcome).await;
            }
            log.finish(&outcome.map(|_| ())).await;
        });
    }

    /// The next `count` runs of a schedule definition (Connect's shape) from now, without
    /// storing anything. Bad definitions fail as creating them would.
    pub fn preview_schedule(&self, definition: &Value, count: usize) -> Result<Vec<NextRun>> {
        let s = Schedule::from_connect(definition)?;
        Ok(next_runs(&s, Timestamp::now(), count))
    }
}

/// The next `count` runs after `now`, in the schedule's zone and in UTC.
pub fn next_runs(s: &Schedule, now: Timestamp, count: usize) -> Vec<NextRun> {
    s.upcoming(now, count)
        .into_iter()
        .map(|t| NextRun { local: t.to_zoned(s.timezone.clone()).to_string(), utc: t.to_string() })
        .collect()
}

/// The schedule loop's view of the engine: schedules from the store, runs as renders.
struct EngineHost(Renders);

impl driver::Host for EngineHost {
    type Row = ScheduleRow;
    type Error = Error;

    async fn schedules(&self) -> Result<Vec<Planned<ScheduleRow>>> {
        let rows = self.0.shared.store.schedules(None).await?;
        Ok(rows
            .into_iter()
            .filter(|row| row.enabled)
            .filter_map(|row| {
                let schedule = parse(&row.definition).ok()?;
                // Runs are counted from the last one handled, or from when the schedule was made.
                let since = row
                    .last_planned
                    .as_deref()
                    .and_then(ts)
                    .or_else(|| ts(&row.created_time))
                    .unwrap_or(Timestamp::now());
                Some(Planned { id: row.id, schedule, since, catch_up: row.catch_up, row })
            })
            .collect())
    }

    async fn handled(&self, id: i64, planned: Timestamp) -> Result<()> {
        self.0.shared.store.set_last_planned(id, &planned.to_string()).await
    }

    async fn fire(&self, row: &ScheduleRow, planned: Timestamp, late: bool) {
        self.0.fire(row, planned, late).await;
    }

    fn upcoming(&self, at: Option<Timestamp>, rows: &[&ScheduleRow]) {
        let table = self.0.library.routes().snapshot();
        let due = at
            .map(|at| {
                rows.iter()
                    .filter_map(|row| table.get(&row.content_id.to_string()))
                    .map(|r| crate::awake::Due {
                        at: at.as_millisecond(),
                        guid: r.guid.clone(),
                        title: r.title.clone(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        self.0.awake.schedules_due(due);
    }
}
