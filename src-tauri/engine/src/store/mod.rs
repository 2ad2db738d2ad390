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
        refuse_a_lost_database(path)?;
        let opts = SqliteConnectOptions::from_str("sqlite://")
            .map_err(Error::store("parsing connection options"))?
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool =
            SqlitePoolOptions::new().max_connections(4).connect_with(opts).await.map_err(|e| unreadable(path, e))?;
        MIGRATOR.run(&pool).await.map_err(|e| match e {
            // A migration this build does not have: the folder was used by a newer Porch.
            sqlx::migrate::MigrateError::VersionMissing(v) => Error::Invalid(format!(
                "{} was last opened by a newer Porch (it has migration {v}, which this one does not know); \
                 run that newer Porch, or move the data folder aside to start a fresh library",
                path.display()
            )),
            sqlx::migrate::MigrateError::Execute(e) => unreadable(path, e),
            other => Error::Migrate(other),
        })?;
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

/// Refuses to start a fresh database beside bundles that belong to a lost one: a missing or
/// empty `porch.db` next to a non-empty `bundles/` folder would start an empty library
/// whose bundle numbers collide with the files already there (and its first deploy would
/// clear one of them away).
fn refuse_a_lost_database(path: &Path) -> Result<()> {
    let empty = std::fs::metadata(path).map_or(true, |m| m.len() == 0);
    let Some(bundles) = path.parent().map(|d| d.join("bundles")) else { return Ok(()) };
    let held = std::fs::read_dir(&bundles).is_ok_and(|mut d| d.next().is_some());
    if empty && held {
        return Err(Error::Invalid(format!(
            "{} is missing or empty, but {} holds bundles of a library: restore porch.db from a backup \
             (the bundles were not touched), or move the data folder aside to start a fresh library",
            path.display(),
            bundles.display()
        )));
    }
    Ok(())
}

/// An error opening the database, naming the file and what to do when it is not one.
fn unreadable(path: &Path, e: sqlx::Error) -> Error {
    let corrupt = e.as_database_error().and_then(|d| d.code()).is_some_and(|c| c == "11" || c == "26");
    if corrupt {
        return Error::Invalid(format!(
            "{} is damaged or not a Porch database ({e}); restore it from a backup, or move the data folder \
             aside to start a fresh library",
            path.display()
        ));
    }
    Error::Store { about: "opening the database", source: e }
}

#[cfg(test)]
mod open_tests {
    use super::*;

    #[tokio::test]
    async fn a_lost_damaged_or_newer_database_is_refused_saying_what_to_do() {
        let dir = tempfile::tempdir().expect("tmp");
        let db = dir.path().join("porch.db");
        // A fresh folder opens; a library's bundles without their database do not.
        Store::open(&db).await.expect("fresh").close().await;
        std::fs::remove_file(&db).expect("rm");
        std::fs::create_dir_all(dir.path().join("bundles/1")).expect("mkdir");
        std::fs::write(dir.path().join("bundles/1.tar.gz"), b"kept").expect("write");
        for _ in 0..2 {
            let e = Store::open(&db).await.expect_err("refused").to_string();
            assert!(e.contains("missing or empty") && e.contains("restore porch.db"), "{e}");
            std::fs::write(&db, b"").expect("an empty file");
        }
        assert_eq!(std::fs::read(dir.path().join("bundles/1.tar.gz")).expect("kept"), b"kept");

        std::fs::write(&db, b"not a database, but long enough to look like a header of one........").expect("w");
        let e = Store::open(&db).await.expect_err("refused").to_string();
        assert!(e.contains("damaged or not a Porch database"), "{e}");

        std::fs::remove_file(&db).expect("rm");
        std::fs::remove_dir_all(dir.path().join("bundles")).expect("rm");
        let store = Store::open(&db).await.expect("fresh");
        sqlx::query("INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) VALUES (20991231000000, 'future', 1, x'00', 0)")
            .execute(&store.pool)
            .await
            .expect("a newer Porch's migration");
        store.close().await;
        let e = Store::open(&db).await.expect_err("refused").to_string();
        assert!(e.contains("newer Porch") && e.contains("20991231000000"), "{e}");
    }
}
