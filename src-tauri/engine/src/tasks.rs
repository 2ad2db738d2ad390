//! Deploy tasks: live log lines with long-polling, persisted so they stay queryable.
//!
//! A running task lives in memory (`TaskLog`), mirrored line by line into the store. A
//! reader waiting with `wait=N` parks on a `watch` channel that ticks on every new line
//! and on finish, so log lines stream and finished tasks answer at once.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde::Serialize;
use tokio::sync::watch;

use crate::error::{Error, ErrorCode, Result};
use crate::store::Store;

/// A task as Connect's API returns it.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TaskView {
    /// Task id.
    pub id: String,
    /// Lines from `first` on.
    pub output: Vec<String>,
    /// Always null for deploys.
    pub result: Option<serde_json::Value>,
    /// Whether the task ended.
    pub finished: bool,
    /// 0 while running and on success.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub code: i64,
    /// `""` unless it failed.
    pub error: String,
    /// Porch's code for the failure, as an API error's `porch_code` (`Failed` for a runtime
    /// failure: an installer that crashed or could not install a package, a render that
    /// failed, an app version that would not start). Null while running, on success, and
    /// for a task finished by a Porch too old to record it. Connect's clients ignore it.
    pub porch_code: Option<ErrorCode>,
    /// Total lines so far; the next `first`.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub last: usize,
}

#[derive(Debug, Default)]
struct TaskState {
    lines: Vec<String>,
    finished: bool,
    code: i64,
    error: String,
    porch_code: Option<ErrorCode>,
}

/// One running task's log.
#[derive(Debug, Clone)]
pub struct TaskLog {
    id: String,
    // A std lock: held only to push or copy lines, never across an await.
    state: Arc<Mutex<TaskState>>,
    tick: Arc<watch::Sender<u64>>,
    store: Store,
}

impl TaskLog {
    /// The task id.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Appends a log line.
    pub async fn line(&self, line: impl Into<String>) {
        let line = line.into();
        tracing::info!(task = %self.id, "{line}");
        let idx = {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            s.lines.push(line.clone());
            s.lines.len() - 1
        };
        if let Err(e) = self.store.append_task_line(&self.id, idx as i64, &line).await {
            tracing::warn!(task = %self.id, error = %e, "task line not persisted");
        }
        self.tick.send_modify(|v| *v += 1);
    }

    /// Ends the task; `Err` records the failure.
    pub async fn finish(&self, outcome: &Result<(), Error>) {
        let (code, error, porch_code) = match outcome {
            Ok(()) => (0, String::new(), None),
            Err(e) => (1, e.to_string(), Some(e.code())),
        };
        if !error.is_empty() {
            self.line(format!("Error: {error}")).await;
        }
        {
            let mut s = self.state.lock().unwrap_or_else(|p| p.into_inner());
            s.finished = true;
            s.code = code;
            s.error = error.clone();
            s.porch_code = porch_code;
        }
        let stored = porch_code.map(ErrorCode::as_str);
        if let Err(e) = self.store.finish_task(&self.id, code, &error, stored, &crate::time::now()).await {
            tracing::warn!(task = %self.id, error = %e, "task end not persisted");
        }
        self.tick.send_modify(|v| *v += 1);
    }

    fn view(&self, first: usize) -> TaskView {
        let s = self.state.lock().unwrap_or_else(|p| p.into_inner());
        TaskView {
            id: self.id.clone(),
            output: s.lines.iter().skip(first).cloned().collect(),
            result: None,
            finished: s.finished,
            code: s.code,
            error: s.error.clone(),
            porch_code: s.porch_code,
            last: s.lines.len(),
        }
    }
}

/// Every task this process started, plus the store for older ones.
#[derive(Debug)]
pub struct Tasks {
    store: Store,
    // A std lock: map lookups only.
    live: Mutex<HashMap<String, TaskLog>>,
}

impl Tasks {
    /// A registry over the store.
    pub fn new(store: Store) -> Tasks {
        Tasks { store, live: Mutex::new(HashMap::new()) }
    }

    /// Creates and records a task.
    pub async fn create(&self, content_id: i64, bundle_id: Option<i64>, kind: &str) -> Result<TaskLog> {
        let id = crate::keys::random_token(12);
        self.store.insert_task(&id, content_id, bundle_id, kind, &crate::time::now()).await?;
        let (tx, _) = watch::channel(0);
        let log = TaskLog {
            id: id.clone(),
            state: Arc::new(Mutex::new(TaskState::default())),
            tick: Arc::new(tx),
            store: self.store.clone(),
        };
        self.live.lock().unwrap_or_else(|p| p.into_inner()).insert(id, log.clone());
        Ok(log)
    }

    /// The task from line `first` on, waiting up to `wait` for new lines or the end.
    pub async fn get(&self, id: &str, first: usize, wait: Duration) -> Result<TaskView> {
        let live = self.live.lock().unwrap_or_else(|p| p.into_inner()).get(id).cloned();
        let Some(log) = live else {
            let (row, lines) = self.store.task(id).await?.ok_or_else(|| Error::not_found("task", id))?;
            return Ok(TaskView {
                id: row.id,
                last: lines.len(),
                output: lines.into_iter().skip(first).collect(),
                result: None,
                finished: row.finished,
                code: row.code,
                error: row.error,
                porch_code: row.error_code.as_deref().and_then(ErrorCode::parse),
            });
        };
        let mut rx = log.tick.subscribe();
        let view = log.view(first);
        if view.finished || view.last > first || wait.is_zero() {
            return Ok(view);
        }
        let _ = tokio::time::timeout(wait, rx.changed()).await;
        Ok(log.view(first))
    }

    /// Waits for a task to finish and returns its final state.
    pub async fn wait_finished(&self, id: &str) -> Result<TaskView> {
        loop {
            let v = self.get(id, usize::MAX, Duration::from_secs(3600)).await?;
            if v.finished {
                return self.get(id, 0, Duration::ZERO).await;
            }
        }
    }
}
