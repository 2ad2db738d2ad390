//! The store: every SQL statement Porch runs lives in this module.
//!
//! `Store` is a cheap clone over a sqlx pool (SQLite, WAL, foreign keys on). One file per
//! table group. Callers get plain row structs; nothing here knows about HTTP or files.
//! SQLite has one writer, so the pool is small; WAL lets readers proceed while it writes.

mod bundles;
mod content;
mod keys;
mod links;
mod renders;
mod runtime;
mod schedules;
mod tags;
mod tasks;
mod usage;
mod variants;

use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;

pub use bundles::{Activation, BundleRow};
pub use content::{ContentPatch, ContentRow, NewContent};
pub use keys::KeyRow;
pub use links::LinkRow;
pub use renders::RenderRow;
pub use runtime::RuntimeRow;
pub use schedules::{ScheduleOptions, ScheduleRow};
pub use tags::{NewThumbnail, TagRow, ThumbnailMeta};
pub use tasks::TaskRow;
pub use usage::{NewUsage, UsageDay, UsageKind, UsageLatest, UsageQuery, UsageRow};
pub use variants::VariantRow;

use crate::error::{Error, Result};

/// The embedded migrations.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// Handle to the database.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating if needed) the database at `path` and applies migrations.
    pub async fn open(path: &Path) -> Result<Store> {
        let opts = SqliteConnectOptions::from_str("sqlite://")
            .map_err(Error::store("parsing connection options"))?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await
            .map_err(Error::store("opening the database"))?;
        MIGRATOR.run(&pool).await?;
        Ok(Store { pool })
    }

    /// Closes every connection (a store opened only to read something before start-up).
    pub async fn close(self) {
        self.pool.close().await;
    }

    /// Wraps an existing pool (tests).
    pub fn from_pool(pool: SqlitePool) -> Store {
        Store { pool }
    }

    /// Reads a setting.
    pub async fn setting(&self, key: &str) -> Result<Option<String>> {
        sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await
            .map_err(Error::store("reading a setting"))
    }

    /// Reads a setting, storing `init()` first if it is missing.
    pub async fn setting_or_init(&self, key: &str, init: impl FnOnce() -> String) -> Result<String> {
        sqlx::query("INSERT OR IGNORE INTO settings (key, value) VALUES (?, ?)")
            .bind(key)
            .bind(init())
            .execute(&self.pool)
            .await
            .map_err(Error::store("writing a setting"))?;
        Ok(self.setting(key).await?.unwrap_or_default())
    }

    /// Writes a setting.
    pub async fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        sqlx::query(
            "INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
        )
        .bind(key)
        .bind(value)
        .execute(&self.pool)
        .await
        .map_err(Error::store("writing a setting"))?;
        Ok(())
    }
}

/// Whether a database error is a unique-constraint violation.
pub(crate) fn is_unique_violation(e: &sqlx::Error) -> bool {
    matches!(e, sqlx::Error::Database(d) if d.is_unique_violation())
}
