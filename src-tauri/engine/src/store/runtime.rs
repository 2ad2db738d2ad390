//! Runtime settings and environment variables of interactive items.

use serde::{Deserialize, Serialize};

use super::Store;
use crate::error::{Error, Result};

/// Per-item runtime settings; `None` means the server default.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, sqlx::FromRow)]
pub struct RuntimeRow {
    /// Floor of workers.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub min_processes: Option<i64>,
    /// Ceiling of workers.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub max_processes: Option<i64>,
    /// Connections per worker.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub max_conns_per_process: Option<i64>,
    /// 0..=1.
    pub load_factor: Option<f64>,
    /// Seconds.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub idle_timeout: Option<i64>,
    /// Seconds.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub init_timeout: Option<i64>,
    /// Seconds.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub connection_timeout: Option<i64>,
    /// Seconds.
    #[cfg_attr(feature = "ts", ts(type = "number | null"))]
    pub read_timeout: Option<i64>,
    /// Bytes of resident memory a worker (with its children) may use; 0 = no limit.
    pub memory_limit: Option<i64>,
    /// Largest bundle upload (compressed, and extracted total), bytes.
    pub max_bundle_bytes: Option<i64>,
    /// Longest render, seconds.
    pub render_timeout: Option<i64>,
}

impl Store {
    /// An item's runtime settings.
    pub async fn runtime(&self, content_id: i64) -> Result<RuntimeRow> {
        sqlx::query_as(
            "SELECT min_processes, max_processes, max_conns_per_process, load_factor, idle_timeout, init_timeout, \
             connection_timeout, read_timeout, memory_limit, max_bundle_bytes, render_timeout FROM content WHERE id = ?",
        )
        .bind(content_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(Error::store("reading runtime settings"))?
        .ok_or_else(|| Error::not_found("content", content_id))
    }

    /// Replaces an item's runtime settings.
    pub async fn set_runtime(&self, content_id: i64, r: &RuntimeRow) -> Result<()> {
        sqlx::query(
            "UPDATE content SET min_processes = ?, max_processes = ?, max_conns_per_process = ?, load_factor = ?, \
             idle_timeout = ?, init_timeout = ?, connection_timeout = ?, read_timeout = ?, memory_limit = ?, \
             max_bundle_bytes = ?, render_timeout = ? WHERE id = ?",
        )
        .bind(r.min_processes)
        .bind(r.max_processes)
        .bind(r.max_conns_per_process)
        .bind(r.load_factor)
        .bind(r.idle_timeout)
        .bind(r.init_timeout)
        .bind(r.connection_timeout)
        .bind(r.read_timeout)
        .bind(r.memory_limit)
        .bind(r.max_bundle_bytes)
        .bind(r.render_timeout)
        .bind(content_id)
        .execute(&self.pool)
        .await
        .map_err(Error::store("writing runtime settings"))?;
        Ok(())
    }

    /// An item's environment variables, by name.
    pub async fn env_vars(&self, content_id: i64) -> Result<Vec<(String, String)>> {
        sqlx::query_as("SELECT name, value FROM content_env WHERE content_id = ? ORDER BY name")
            .bind(content_id)
            .fetch_all(&self.pool)
            .await
            .map_err(Error::store("reading environment variables"))
    }

    /// Applies changes: `Some` sets, `None` deletes; with `replace`, every other variable goes.
    pub async fn update_env_vars(
        &self,
        content_id: i64,
        changes: &[(String, Option<String>)],
        replace: bool,
    ) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(Error::store("starting a transaction"))?;
        if replace {
            sqlx::query("DELETE FROM content_env WHERE content_id = ?")
                .bind(content_id)
                .execute(&mut *tx)
                .await
                .map_err(Error::store("clearing environment variables"))?;
        }
        for (name, value) in changes {
            match value {
                Some(v) => {
                    sqlx::query(
                        "INSERT INTO content_env (content_id, name, value) VALUES (?, ?, ?) \
                     ON CONFLICT (content_id, name) DO UPDATE SET value = excluded.value",
                    )
                    .bind(content_id)
                    .bind(name)
                    .bind(v)
                    .execute(&mut *tx)
                    .await
                }
                None => {
                    sqlx::query("DELETE FROM content_env WHERE content_id = ? AND name = ?")
                        .bind(content_id)
                        .bind(name)
                        .execute(&mut *tx)
                        .await
                }
            }
            .map_err(Error::store("writing environment variables"))?;
        }
        tx.commit().await.map_err(Error::store("committing environment variables"))
    }
}
