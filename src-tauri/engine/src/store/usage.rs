//! Usage: raw viewer events and their per-day totals (`usage_events`, `usage_daily`).
//!
//! Apart from the content tables on purpose: nothing here touches content, and the store
//! emits no events, so usage writes never make a library view stale.

use sqlx::{QueryBuilder, Sqlite};

use super::Store;
use crate::error::{Error, Result};

/// What kind of event a row is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UsageKind {
    /// One HTML page load of a static or rendered item.
    View,
    /// One app session.
    Session,
}

impl UsageKind {
    fn as_str(self) -> &'static str {
        match self {
            UsageKind::View => "view",
            UsageKind::Session => "session",
        }
    }
}

/// One event to store.
#[derive(Debug, Clone, PartialEq)]
pub struct NewUsage {
    /// The item.
    pub content_guid: String,
    /// View or session.
    pub kind: UsageKind,
    /// The device (a random cookie value or a salted daily hash).
    pub device: String,
    /// The bundle served (page views).
    pub bundle_id: Option<i64>,
    /// The variant viewed, if not the item itself.
    pub variant_id: Option<i64>,
    /// The render viewed, if an earlier one was asked for by id.
    pub render_id: Option<i64>,
    /// The path below the item (page views).
    pub path: Option<String>,
    /// Unix milliseconds (of the first, for identical views stored as one row).
    pub started: i64,
    /// Unix milliseconds (of the last).
    pub ended: i64,
    /// How many identical events the row stands for (1 for sessions).
    pub hits: i64,
}

/// Events per INSERT statement: 10 bound values each, well under SQLite's limit of 32766.
const INSERT_CHUNK: usize = 256;

/// One stored event.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct UsageRow {
    /// Row id: the keyset for paging.
    pub id: i64,
    /// The item.
    pub content_guid: String,
    /// `view` or `session`.
    pub kind: String,
    /// The bundle served.
    pub bundle_id: Option<i64>,
    /// The variant viewed.
    pub variant_id: Option<i64>,
    /// The render viewed.
    pub render_id: Option<i64>,
    /// The path below the item.
    pub path: Option<String>,
    /// Unix milliseconds.
    pub started: i64,
    /// Unix milliseconds.
    pub ended: i64,
    /// Identical events the row stands for.
    pub hits: i64,
}

/// Filters of an event listing (Connect's instrumentation query parameters).
#[derive(Debug, Clone, Default)]
pub struct UsageQuery {
    /// Only these kinds (empty: all).
    pub kinds: Vec<UsageKind>,
    /// Only these items (empty: all).
    pub content_guids: Vec<String>,
    /// Ended at or after (unix ms): Connect's `from` keeps what was still going on then.
    pub from: Option<i64>,
    /// Started at or before (unix ms).
    pub to: Option<i64>,
    /// Keyset: only rows after this id (or before it, with `backwards`).
    pub after: Option<i64>,
    /// Page backwards from `after` (the `previous` cursor).
    pub backwards: bool,
    /// At most this many rows.
    pub limit: i64,
}

/// One day of an item's usage.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct UsageDay {
    /// YYYY-MM-DD (UTC).
    pub day: String,
    /// Page views.
    pub views: i64,
    /// App sessions.
    pub sessions: i64,
    /// Distinct devices.
    pub devices: i64,
}

/// Per-item figures for the library: the last event and the events since a time.
#[derive(Debug, Clone, PartialEq, sqlx::FromRow)]
pub struct UsageLatest {
    /// The item.
    pub content_guid: String,
    /// Unix milliseconds of its last event.
    pub last_seen: i64,
    /// Page views and sessions since the time asked for.
    pub recent: i64,
}

/// The UTC day of an event's start, as SQL.
macro_rules! day {
    () => {
        "strftime('%Y-%m-%d', started / 1000, 'unixepoch')"
    };
}

impl Store {
    /// Stores a batch of events in one transaction.
    pub async fn insert_usage(&self, batch: &[NewUsage]) -> Result<()> {
        if batch.is_empty() {
            return Ok(());
        }
        // One statement per chunk, not one per event: each statement is a round trip to
        // SQLite's worker thread, and at thousands of views a second those hand-offs, not
        // the inserts, were the cost (they showed in bench/static.sh with recording on).
        let mut tx = self.pool.begin().await.map_err(Error::store("starting a transaction"))?;
        for chunk in batch.chunks(INSERT_CHUNK) {
            let mut q = sqlx::QueryBuilder::<sqlx::Sqlite>::new(
                "INSERT INTO usage_events (content_guid, kind, device, bundle_id, variant_id, render_id, path, started, ended, hits) ",
            );
            q.push_values(chunk, |mut row, e| {
                row.push_bind(&e.content_guid)
                    .push_bind(e.kind.as_str())
                    .push_bind(&e.device)
                    .push_bind(e.bundle_id)
                    .push_bind(e.variant_id)
                    .push_bind(e.render_id)
                    .push_bind(&e.path)
                    .push_bind(e.started)
                    .push_bind(e.ended)
                    .push_bind(e.hits);
            });
            q.build().execute(&mut *tx).await.map_err(Error::store("recording usage"))?;
        }
        tx.commit().await.map_err(Error::store("committing usage"))
    }

    /// Folds the events that started before `cutoff` (unix ms, a day boundary) into
    /// per-day totals and deletes them; returns how many events were folded.
    pub async fn fold_usage(&self, cutoff: i64) -> Result<u64> {
        let mut tx = self.pool.begin().await.map_err(Error::store("starting a transaction"))?;
        sqlx::query(concat!(
            "INSERT INTO usage_daily (content_guid, day, views, sessions, devices, session_ms, last_seen) \
             SELECT content_guid, ",
            day!(),
            ", SUM(CASE WHEN kind = 'view' THEN hits ELSE 0 END), SUM(kind = 'session'), COUNT(DISTINCT device), \
                    SUM(CASE WHEN kind = 'session' THEN ended - started ELSE 0 END), MAX(ended) \
             FROM usage_events WHERE started < ? GROUP BY content_guid, ",
            day!(),
            " ON CONFLICT (content_guid, day) DO UPDATE SET views = views + excluded.views, \
                sessions = sessions + excluded.sessions, devices = devices + excluded.devices, \
                session_ms = session_ms + excluded.session_ms, last_seen = MAX(last_seen, excluded.last_seen)"
        ))
        .bind(cutoff)
        .execute(&mut *tx)
        .await
        .map_err(Error::store("folding usage into daily totals"))?;
        let gone = sqlx::query("DELETE FROM usage_events WHERE started < ?")
            .bind(cutoff)
            .execute(&mut *tx)
            .await
            .map_err(Error::store("deleting folded usage"))?
            .rows_affected();
        tx.commit().await.map_err(Error::store("committing folded usage"))?;
        Ok(gone)
    }

    /// Raw events matching `q`, by id (ascending, also when paging backwards).
    pub async fn usage_events(&self, q: &UsageQuery) -> Result<Vec<UsageRow>> {
        let mut b: QueryBuilder<Sqlite> = QueryBuilder::new(
            "SELECT id, content_guid, kind, bundle_id, variant_id, render_id, path, started, ended, hits FROM usage_events WHERE 1 = 1",
        );
        if !q.kinds.is_empty() {
            b.push(" AND kind IN (");
            let mut sep = b.separated(", ");
            for k in &q.kinds {
                sep.push_bind(k.as_str());
            }
            b.push(")");
        }
        if !q.content_guids.is_empty() {
            b.push(" AND content_guid IN (");
            let mut sep = b.separated(", ");
            for g in &q.content_guids {
                sep.push_bind(g.clone());
            }
            b.push(")");
        }
        if let Some(from) = q.from {
            b.push(" AND ended >= ").push_bind(from);
        }
        if let Some(to) = q.to {
            b.push(" AND started <= ").push_bind(to);
        }
        if let Some(after) = q.after {
            b.push(if q.backwards { " AND id < " } else { " AND id > " }).push_bind(after);
        }
        b.push(if q.backwards { " ORDER BY id DESC" } else { " ORDER BY id" });
        b.push(" LIMIT ").push_bind(q.limit);
        let mut rows: Vec<UsageRow> =
            b.build_query_as().fetch_all(&self.pool).await.map_err(Error::store("listing usage"))?;
        if q.backwards {
            rows.reverse();
        }
        Ok(rows)
    }

    /// An item's usage per day since `from` (unix ms): raw events and folded totals.
    pub async fn usage_days(&self, guid: &str, from: i64) -> Result<Vec<UsageDay>> {
        let from_day =
            time::OffsetDateTime::from_unix_timestamp(from / 1000).map(|t| t.date().to_string()).unwrap_or_default();
        sqlx::query_as(concat!(
            "SELECT day, SUM(views) AS views, SUM(sessions) AS sessions, SUM(devices) AS devices FROM ( \
               SELECT ",
            day!(),
            " AS day, SUM(CASE WHEN kind = 'view' THEN hits ELSE 0 END) AS views, SUM(kind = 'session') AS sessions, \
                      COUNT(DISTINCT device) AS devices \
               FROM usage_events WHERE content_guid = ? AND started >= ? GROUP BY 1 \
               UNION ALL \
               SELECT day, views, sessions, devices FROM usage_daily WHERE content_guid = ? AND day >= ? \
             ) GROUP BY day ORDER BY day"
        ))
        .bind(guid)
        .bind(from)
        .bind(guid)
        .bind(from_day)
        .fetch_all(&self.pool)
        .await
        .map_err(Error::store("reading usage per day"))
    }

    /// Distinct devices among an item's raw events since `from` (unix ms).
    pub async fn usage_devices(&self, guid: &str, from: i64) -> Result<i64> {
        sqlx::query_scalar("SELECT COUNT(DISTINCT device) FROM usage_events WHERE content_guid = ? AND started >= ?")
            .bind(guid)
            .bind(from)
            .fetch_one(&self.pool)
            .await
            .map_err(Error::store("counting devices"))
    }

    /// The lengths (ms) of an item's sessions since `from` (unix ms), shortest first.
    pub async fn usage_session_lengths(&self, guid: &str, from: i64) -> Result<Vec<i64>> {
        sqlx::query_scalar(
            "SELECT ended - started AS ms FROM usage_events \
             WHERE content_guid = ? AND kind = 'session' AND started >= ? ORDER BY ms",
        )
        .bind(guid)
        .bind(from)
        .fetch_all(&self.pool)
        .await
        .map_err(Error::store("reading session lengths"))
    }

    /// Every item's last event and its events since `since` (unix ms).
    pub async fn usage_latest(&self, since: i64) -> Result<Vec<UsageLatest>> {
        let since_day =
            time::OffsetDateTime::from_unix_timestamp(since / 1000).map(|t| t.date().to_string()).unwrap_or_default();
        sqlx::query_as(
            "SELECT content_guid, MAX(last_seen) AS last_seen, SUM(recent) AS recent FROM ( \
               SELECT content_guid, MAX(ended) AS last_seen, SUM(CASE WHEN started >= ? THEN hits ELSE 0 END) AS recent \
               FROM usage_events GROUP BY content_guid \
               UNION ALL \
               SELECT content_guid, MAX(last_seen), SUM(CASE WHEN day >= ? THEN views + sessions ELSE 0 END) \
               FROM usage_daily GROUP BY content_guid \
             ) GROUP BY content_guid",
        )
        .bind(since)
        .bind(since_day)
        .fetch_all(&self.pool)
        .await
        .map_err(Error::store("reading the latest usage"))
    }
}
