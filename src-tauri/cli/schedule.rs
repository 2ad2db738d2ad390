//! `porch schedule list|add|rm`: render schedules of a document.

use anyhow::anyhow;
use clap::Subcommand;
use serde_json::{json, Value};

use super::client::Porch;

#[derive(Debug, Subcommand)]
pub(crate) enum ScheduleCommand {
    /// List an item's schedules with their next runs.
    List {
        /// The content name.
        name: String,
    },
    /// Add a schedule, e.g. `porch schedule add report --type day --start 2026-12-01T07:00:00Z --tz Europe/Berlin`.
    Add {
        /// The content name.
        name: String,
        /// minute, hour, day, weekday, week, dayofweek, semimonth, dayofmonth, dayweekofmonth, year or cron.
        #[arg(long = "type", value_name = "TYPE")]
        kind: String,
        /// Connect's schedule parameters as JSON, e.g. '{"N": 2}' or '{"Days": [1, 3]}'. `N`
        /// (every N minutes, hours, days, weeks, months or years) is 1 when not given.
        #[arg(long, default_value = "{}")]
        params: String,
        /// A cron expression (with --type cron).
        #[arg(long)]
        cron: Option<String>,
        /// The first run (RFC 3339); defaults to now.
        #[arg(long)]
        start: Option<String>,
        /// The IANA time zone whose wall clock the schedule follows.
        #[arg(long, default_value = "UTC")]
        tz: String,
        /// Render and keep the output, but leave what viewers see unchanged.
        #[arg(long)]
        no_publish: bool,
        /// Do not run a missed run when Porch comes back.
        #[arg(long)]
        no_catch_up: bool,
        /// Render this variant (name or id) instead of the document's defaults.
        #[arg(long)]
        variant: Option<String>,
    },
    /// Delete a schedule.
    Rm {
        /// The schedule id.
        id: i64,
    },
}

impl ScheduleCommand {
    pub(crate) async fn run(self, porch: &Porch) -> anyhow::Result<()> {
        match self {
            ScheduleCommand::List { name } => {
                let guid = porch.guid_of(&name).await?;
                let views = porch.get(&format!("/__api__/v1/content/{guid}/schedules")).await?;
                println!("{}", serde_json::to_string_pretty(&views)?);
            }
            ScheduleCommand::Add { name, kind, params, cron, start, tz, no_publish, no_catch_up, variant } => {
                if kind == "cron" && cron.is_none() {
                    return Err(anyhow!(
                        "--type cron needs --cron with a 5-field expression, e.g. --cron '30 5 * * 1-5'"
                    ));
                }
                let guid = porch.guid_of(&name).await?;
                let variant_id = match variant {
                    Some(v) => porch.variant(&guid, &v).await?["id"].clone(),
                    None => Value::Null,
                };
                let mut params: Value =
                    serde_json::from_str(&params).map_err(|e| anyhow!("--params is not JSON: {e}"))?;
                if let Some(fields) = params.as_object_mut() {
                    if counts_in_n(&kind) && !fields.contains_key("N") {
                        fields.insert("N".into(), json!(1));
                    }
                }
                let start = start.unwrap_or_else(porch_engine::time::now);
                let mut def = json!({
                    "type": kind, "schedule": params, "start_time": start, "timezone": tz,
                    "publish": !no_publish, "catch_up": !no_catch_up, "variant_id": variant_id,
                });
                if let Some(expr) = cron {
                    def["cron"] = json!(expr);
                }
                let view = porch.post(&format!("/__api__/v1/content/{guid}/schedules"), def).await?;
                println!(
                    "Added schedule {} for {name}; next run {}",
                    view["id"].as_str().unwrap_or_default(),
                    view["next_run"].as_str().unwrap_or("never")
                );
            }
            ScheduleCommand::Rm { id } => {
                porch.delete(&format!("/__api__/v1/schedules/{id}")).await?;
                println!("Removed schedule {id}");
            }
        }
        Ok(())
    }
}

/// Whether Connect's schedule type `kind` repeats every `N` of its unit (the types whose
/// parameters include `N`), so that the CLI may take 1 for a missing `N`.
fn counts_in_n(kind: &str) -> bool {
    matches!(kind, "minute" | "hour" | "day" | "week" | "dayofmonth" | "dayweekofmonth" | "year")
}
