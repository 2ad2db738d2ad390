//! Tasks (deploys) and their log lines, kept after they finish.

use super::Store;
use crate::error::{Error, Result};

/// One row of `tasks`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TaskRow {
    /// Task id.
    pub id: String,
    /// Whether it ended.
    pub finished: bool,
    /// 0 on success.
    pub code: i64,
    /// Error message, `""` on success.
    pub error: String,
    /// The error's `ErrorCode` as its JSON string; `None` on success (and for old rows).
    pub error_code: Option<String>,
}

impl Store {
    /// Records a new task.
    pub async fn insert_task(
        &self,
        id: &str,
        content_id: i64,
        bundle_id: Option<i64>,
        kind: &str,
        now: &str,
    ) -> Result<()> {
        sqlx::query("INSERT INTO tasks (id, content_id, bundle_id, kind, created_time) VALUES (?, ?, ?, ?, ?)")
            .bind(id)
            .bind(content_id)
            .bind(bundle_id)
            .bind(kind)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(Error::store("recording a task"))?;
        Ok(())
    }

    /// Appends one log line.
    pub async fn append_task_line(&self, id: &str, idx: i64, line: &str) -> Result<()> {
        sqlx::query("INSERT INTO task_lines (task_id, idx, line) VALUES (?, ?, ?)")
            .bind(id)
            .bind(idx)
            .bind(line)
            .execute(&self.pool)
            .await
            .map_err(Error::store("writing a task log line"))?;
        Ok(())
    }

    /// Marks a task finished; `error_code` is the failure's `ErrorCode` as text.
    pub async fn finish_task(
        &self,
        id: &str,
        code: i64,
        error: &str,
        error_code: Option<&str>,
        now: &str,
    ) -> Result<()> {
        sqlx::query(
            "UPDATE tasks SET finished = 1, code = ?, error = ?, error_code = ?, finished_time = ? WHERE id = ?",
        )
        .bind(code)
        .bind(error)
        .bind(error_code)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await
        .map_err(Error::store("finishing a task"))?;
        Ok(())
    }

    /// A task and its lines from index `first` on.
    pub async fn task(&self, id: &str) -> Result<Option<(TaskRow, Vec<String>)>> {
        let row: Option<TaskRow> =
            sqlx::query_as("SELECT id, finished, code, error, error_code FROM tasks WHERE id = ?")
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(Error::store("reading a task"))?;
        let Some(row) = row else { return Ok(None) };
        let lines = sqlx::query_scalar("SELECT line FROM task_lines WHERE task_id = ? ORDER BY idx")
            .bind(id)
            .fetch_all(&self.pool)
            .await
            .map_err(Error::store("reading task lines"))?;
        Ok(Some((row, lines)))
    }

    /// Ends tasks a previous run left unfinished (Porch stopped mid-deploy).
    pub async fn fail_interrupted_tasks(&self, now: &str) -> Result<u64> {
        let res = sqlx::query(
            "UPDATE tasks SET finished = 1, code = 1, error = 'interrupted: Porch stopped before the task finished', \
             error_code = 'Failed', finished_time = ? WHERE finished = 0",
        )
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(Error::store("closing interrupted tasks"))?;
        Ok(res.rows_affected())
    }
}
