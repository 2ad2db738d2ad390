//! Renders of documents: history, status, and which one viewers see.

use serde::Serialize;

use super::Store;
use crate::error::{Error, Result};

/// One row of `renders`.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct RenderRow {
    /// Render id.
    pub id: i64,
    /// The item.
    pub content_id: i64,
    /// The bundle rendered.
    pub bundle_id: i64,
    /// What started it.
    pub trigger: crate::vocab::Trigger,
    /// Where it stands.
    pub status: crate::vocab::RenderStatus,
    /// RFC 3339.
    pub started_time: String,
    /// RFC 3339.
    pub finished_time: Option<String>,
    /// Bytes of output.
    pub output_size: i64,
    /// Why it failed.
    pub error: String,
    /// What became of the email after it ('' when none was due).
    pub email_status: String,
    /// The variant rendered (None: the item's default parameters).
    pub variant_id: Option<i64>,
    /// Whether viewers see this render, as the item's (or its variant's) current output. Read
    /// in the same statement as the row, so a render that just succeeded and was published
    /// never shows as not current.
    pub current: bool,
}

impl Store {
    /// Records a render that is starting.
    pub async fn insert_render(
        &self,
        content_id: i64,
        variant_id: Option<i64>,
        bundle_id: i64,
        trigger: &crate::vocab::Trigger,
        now: &str,
    ) -> Result<i64> {
        sqlx::query_scalar(
            "INSERT INTO renders (content_id, variant_id, bundle_id, trigger, started_time) VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(content_id)
        .bind(variant_id)
        .bind(bundle_id)
        .bind(trigger)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(Error::store("recording a render"))
    }

    /// Records how a render ended; on success with `publish`, viewers see it from now on.
    pub async fn finish_render(
        &self,
        id: i64,
        ok: bool,
        error: &str,
        size: i64,
        publish: bool,
        now: &str,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(Error::store("starting a transaction"))?;
        sqlx::query("UPDATE renders SET status = ?, error = ?, output_size = ?, finished_time = ? WHERE id = ?")
            .bind(if ok { "success" } else { "failed" })
            .bind(error)
            .bind(size)
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(Error::store("finishing a render"))?;
        if ok && publish {
            // The item's own output, or its variant's: exactly one of these matches.
            for sql in [
                "UPDATE content SET render_id = ?1 WHERE id = (SELECT content_id FROM renders WHERE id = ?1 AND variant_id IS NULL)",
                "UPDATE variants SET render_id = ?1 WHERE id = (SELECT variant_id FROM renders WHERE id = ?1)",
            ] {
                sqlx::query(sql).bind(id).execute(&mut *tx).await.map_err(Error::store("publishing a render"))?;
            }
        }
        tx.commit().await.map_err(Error::store("committing a render"))
    }

    /// Makes a finished render the one viewers see.
    pub async fn set_current_render(&self, content_id: i64, id: i64) -> Result<()> {
        sqlx::query("UPDATE content SET render_id = ? WHERE id = ?")
            .bind(id)
            .bind(content_id)
            .execute(&self.pool)
            .await
            .map_err(Error::store("publishing a render"))?;
        Ok(())
    }

    /// An item's renders, newest first.
    pub async fn renders(&self, content_id: i64) -> Result<Vec<RenderRow>> {
        sqlx::query_as(
            "SELECT r.id, r.content_id, r.bundle_id, r.trigger, r.status, r.started_time, r.finished_time, r.output_size, \
             r.error, r.email_status, r.variant_id, \
             COALESCE(CASE WHEN r.variant_id IS NULL THEN c.render_id = r.id \
                      ELSE (SELECT v.render_id FROM variants v WHERE v.id = r.variant_id) = r.id END, 0) AS current \
             FROM renders r JOIN content c ON c.id = r.content_id WHERE r.content_id = ? ORDER BY r.id DESC",
        )
        .bind(content_id)
        .fetch_all(&self.pool)
        .await
        .map_err(Error::store("listing renders"))
    }

    /// The render viewers see.
    pub async fn current_render(&self, content_id: i64) -> Result<Option<i64>> {
        sqlx::query_scalar("SELECT render_id FROM content WHERE id = ?")
            .bind(content_id)
            .fetch_one(&self.pool)
            .await
            .map_err(Error::store("reading the current render"))
    }

    /// Deletes render rows (retention).
    pub async fn delete_renders(&self, ids: &[i64]) -> Result<()> {
        for id in ids {
            sqlx::query("DELETE FROM renders WHERE id = ?")
                .bind(id)
                .execute(&self.pool)
                .await
                .map_err(Error::store("deleting a render"))?;
        }
        Ok(())
    }

    /// Ends renders a previous run left running.
    pub async fn fail_interrupted_renders(&self, now: &str) -> Result<u64> {
        let r = sqlx::query(
            "UPDATE renders SET status = 'failed', error = 'interrupted: Porch stopped during the render', \
             finished_time = ? WHERE status = 'running'",
        )
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(Error::store("closing interrupted renders"))?;
        Ok(r.rows_affected())
    }
}
