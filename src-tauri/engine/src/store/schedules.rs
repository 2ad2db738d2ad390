//! Schedules: stored definitions and the bookkeeping that makes catch-up run once.

use serde::Serialize;

use super::Store;
use crate::error::{Error, Result};

/// One row of `schedules`.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct ScheduleRow {
    /// Schedule id.
    pub id: i64,
    /// The item it renders.
    pub content_id: i64,
    /// Connect's schedule fields, as JSON.
    pub definition: String,
    /// Whether it fires.
    pub enabled: bool,
    /// Whether its renders replace what viewers see.
    pub publish: bool,
    /// Whether a run missed while Porch was off runs (once) when it is back.
    pub catch_up: bool,
    /// Whether to email after a run.
    pub email: bool,
    /// Who gets the email (JSON list of addresses).
    pub recipients: String,
    /// Whether the email carries the rendered HTML.
    pub attach: bool,
    /// The planned time of the last run handled, RFC 3339 UTC.
    pub last_planned: Option<String>,
    /// RFC 3339.
    pub created_time: String,
    /// RFC 3339.
    pub updated_time: String,
    /// The variant it renders (None: the item's default parameters).
    pub variant_id: Option<i64>,
}

/// The options of a schedule besides its definition.
#[derive(Debug, Clone, PartialEq)]
pub struct ScheduleOptions {
    /// Whether it fires.
    pub enabled: bool,
    /// Whether its renders replace what viewers see.
    pub publish: bool,
    /// Whether a missed run runs once when Porch is back.
    pub catch_up: bool,
    /// Whether to email after a run.
    pub email: bool,
    /// Who gets the email (JSON list of addresses).
    pub recipients: String,
    /// Whether the email carries the rendered HTML.
    pub attach: bool,
}

macro_rules! columns {
    () => {
        "id, content_id, definition, enabled, publish, catch_up, email, recipients, attach, last_planned, \
         created_time, updated_time, variant_id"
    };
}

impl Store {
    /// Adds a schedule.
    pub async fn insert_schedule(
        &self,
        content_id: i64,
        variant_id: Option<i64>,
        definition: &str,
        o: ScheduleOptions,
        now: &str,
    ) -> Result<i64> {
        sqlx::query_scalar(
            "INSERT INTO schedules (content_id, variant_id, definition, enabled, publish, catch_up, email, recipients, attach, \
             created_time, updated_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(content_id)
        .bind(variant_id)
        .bind(definition)
        .bind(o.enabled)
        .bind(o.publish)
        .bind(o.catch_up)
        .bind(o.email)
        .bind(&o.recipients)
        .bind(o.attach)
        .bind(now)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(Error::store("adding a schedule"))
    }

    /// Replaces a schedule's definition and options.
    pub async fn update_schedule(&self, id: i64, definition: &str, o: ScheduleOptions, now: &str) -> Result<()> {
        sqlx::query(
            "UPDATE schedules SET definition = ?, enabled = ?, publish = ?, catch_up = ?, email = ?, recipients = ?, \
             attach = ?, updated_time = ? WHERE id = ?",
        )
        .bind(definition)
        .bind(o.enabled)
        .bind(o.publish)
        .bind(o.catch_up)
        .bind(o.email)
        .bind(&o.recipients)
        .bind(o.attach)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(Error::store("updating a schedule"))?;
        Ok(())
    }

    /// Every schedule, or one item's.
    pub async fn schedules(&self, content_id: Option<i64>) -> Result<Vec<ScheduleRow>> {
        sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM schedules WHERE (?1 IS NULL OR content_id = ?1) ORDER BY id"
        ))
        .bind(content_id)
        .fetch_all(&self.pool)
        .await
        .map_err(Error::store("listing schedules"))
    }

    /// One schedule.
    pub async fn schedule(&self, id: i64) -> Result<ScheduleRow> {
        sqlx::query_as(concat!("SELECT ", columns!(), " FROM schedules WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(Error::store("reading a schedule"))?
            .ok_or_else(|| Error::not_found("schedule", id))
    }

    /// Deletes a schedule.
    pub async fn delete_schedule(&self, id: i64) -> Result<()> {
        let r = sqlx::query("DELETE FROM schedules WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(Error::store("deleting a schedule"))?;
        if r.rows_affected() == 0 {
            return Err(Error::not_found("schedule", id));
        }
        Ok(())
    }

    /// Records the planned time of the last run handled.
    pub async fn set_last_planned(&self, id: i64, planned: &str) -> Result<()> {
        sqlx::query("UPDATE schedules SET last_planned = ? WHERE id = ?")
            .bind(planned)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(Error::store("recording a schedule run"))?;
        Ok(())
    }

    /// Records what became of a render's email.
    pub async fn set_email_status(&self, render_id: i64, status: &str) -> Result<()> {
        sqlx::query("UPDATE renders SET email_status = ? WHERE id = ?")
            .bind(status)
            .bind(render_id)
            .execute(&self.pool)
            .await
            .map_err(Error::store("recording an email status"))?;
        Ok(())
    }

    /// Records a run that was skipped (the item was still rendering), keeping only the
    /// newest `keep` such rows of the item (or variant): a minute schedule blocked by a long
    /// render would add one a minute for as long as it lasts.
    pub async fn insert_skipped_render(
        &self,
        content_id: i64,
        variant_id: Option<i64>,
        bundle_id: i64,
        now: &str,
        keep: usize,
    ) -> Result<()> {
        sqlx::query(
            "INSERT INTO renders (content_id, variant_id, bundle_id, trigger, status, started_time, finished_time, error) \
             VALUES (?, ?, ?, 'schedule', 'skipped', ?, ?, 'skipped: the previous render was still running')",
        )
        .bind(content_id)
        .bind(variant_id)
        .bind(bundle_id)
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(Error::store("recording a skipped run"))?;
        sqlx::query(
            "DELETE FROM renders WHERE id IN (SELECT id FROM renders WHERE content_id = ? AND variant_id IS ? \
             AND status = 'skipped' ORDER BY id DESC LIMIT -1 OFFSET ?)",
        )
        .bind(content_id)
        .bind(variant_id)
        .bind(keep.max(1) as i64)
        .execute(&self.pool)
        .await
        .map_err(Error::store("pruning skipped runs"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewContent;

    #[sqlx::test(migrator = "crate::store::MIGRATOR")]
    async fn skipped_runs_keep_only_the_newest(pool: sqlx::SqlitePool) {
        let store = Store::from_pool(pool);
        let new = NewContent { name: "item".into(), ..Default::default() };
        let c = store.insert_content("00000000-0000-4000-8000-000000000003", &new, "t").await.expect("insert");
        for minute in 0..10 {
            store
                .insert_skipped_render(c.id, None, 1, &format!("2026-12-07T10:{minute:02}:00Z"), 3)
                .await
                .expect("skip");
        }
        let rows = store.renders(c.id).await.expect("renders");
        let kept: Vec<&str> = rows.iter().map(|r| r.started_time.as_str()).collect();
        assert_eq!(kept, ["2026-12-07T10:09:00Z", "2026-12-07T10:08:00Z", "2026-12-07T10:07:00Z"], "{rows:?}");
    }
}
