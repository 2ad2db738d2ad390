//! Linked folders: which item follows which folder, and how the last redeploy went.

use super::Store;
use crate::error::{Error, Result};

/// One row of `links`, with the item's guid.
#[derive(Debug, Clone, sqlx::FromRow, PartialEq)]
pub struct LinkRow {
    /// The item.
    pub content_id: i64,
    /// The item's guid.
    pub guid: String,
    /// Absolute folder path.
    pub path: String,
    /// Where the link stands.
    pub status: crate::vocab::LinkStatus,
    /// Why the link is broken or the last redeploy failed.
    pub error: Option<String>,
    /// RFC 3339 end of the last redeploy.
    pub last_redeploy: Option<String>,
    /// How the last redeploy ended.
    pub last_result: Option<crate::vocab::Outcome>,
    /// Task with the last redeploy's log.
    pub last_task_id: Option<String>,
    /// Folder fingerprint at the last redeploy.
    pub fingerprint: Option<String>,
}

macro_rules! select {
    () => {
        "SELECT l.content_id, c.guid, l.path, l.status, l.error, l.last_redeploy, l.last_result, \
         l.last_task_id, l.fingerprint FROM links l JOIN content c ON c.id = l.content_id"
    };
}

impl Store {
    /// Links `content_id` to `path` (replacing an earlier link and its history).
    pub async fn set_link(&self, content_id: i64, path: &str, fingerprint: Option<&str>, now: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO links (content_id, path, fingerprint, created_time) VALUES (?, ?, ?, ?) \
             ON CONFLICT (content_id) DO UPDATE SET path = excluded.path, fingerprint = excluded.fingerprint, \
             status = 'watching', error = NULL, last_redeploy = NULL, last_result = NULL, last_task_id = NULL, \
             created_time = excluded.created_time",
        )
        .bind(content_id)
        .bind(path)
        .bind(fingerprint)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(Error::store("linking a folder"))?;
        Ok(())
    }

    /// Removes an item's link; returns whether there was one.
    pub async fn delete_link(&self, content_id: i64) -> Result<bool> {
        let res = sqlx::query("DELETE FROM links WHERE content_id = ?")
            .bind(content_id)
            .execute(&self.pool)
            .await
            .map_err(Error::store("unlinking a folder"))?;
        Ok(res.rows_affected() > 0)
    }

    /// An item's link.
    pub async fn link(&self, content_id: i64) -> Result<Option<LinkRow>> {
        sqlx::query_as(concat!(select!(), " WHERE l.content_id = ?"))
            .bind(content_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(Error::store("reading a link"))
    }

    /// Every link.
    pub async fn links(&self) -> Result<Vec<LinkRow>> {
        sqlx::query_as(concat!(select!(), " ORDER BY l.content_id"))
            .fetch_all(&self.pool)
            .await
            .map_err(Error::store("listing links"))
    }

    /// Sets a link's status and error (the redeploy history is left alone).
    pub async fn set_link_status(
        &self,
        content_id: i64,
        status: &crate::vocab::LinkStatus,
        error: Option<&str>,
    ) -> Result<()> {
        sqlx::query("UPDATE links SET status = ?, error = ? WHERE content_id = ?")
            .bind(status)
            .bind(error)
            .bind(content_id)
            .execute(&self.pool)
            .await
            .map_err(Error::store("updating a link"))?;
        Ok(())
    }

    /// Records how a redeploy ended; the link goes back to `watching`.
    pub async fn finish_link_redeploy(
        &self,
        content_id: i64,
        ok: bool,
        error: Option<&str>,
        task_id: Option<&str>,
        fingerprint: &str,
        now: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE links SET status = 'watching', error = ?, last_redeploy = ?, last_result = ?, last_task_id = ?, \
             fingerprint = ? WHERE content_id = ?",
        )
        .bind(error)
        .bind(now)
        .bind(if ok { crate::vocab::Outcome::Success } else { crate::vocab::Outcome::Failed })
        .bind(task_id)
        .bind(fingerprint)
        .bind(content_id)
        .execute(&self.pool)
        .await
        .map_err(Error::store("recording a redeploy"))?;
        Ok(())
    }
}
