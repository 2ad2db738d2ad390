//! Content items: the things a publisher shares.

use serde::Deserialize;

use super::{is_unique_violation, Store};
use crate::error::{Error, Result};

/// One row of `content`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ContentRow {
    /// Numeric id.
    pub id: i64,
    /// Hyphenated UUID.
    pub guid: String,
    /// Unique name.
    pub name: String,
    /// Display title, if set.
    pub title: Option<String>,
    /// Free text.
    pub description: String,
    /// Connect appmode (`static`, `python-dash`, ...); `unknown` before the first deploy.
    pub app_mode: crate::vocab::AppMode,
    /// `""`, `site`, `pin`, ...
    pub content_category: String,
    /// Entry point from the manifest.
    pub entrypoint: Option<String>,
    /// Page served at the root of a static bundle.
    pub primary_html: Option<String>,
    /// Connect's `all`, `logged_in` or `acl`, as clients set it (Porch enforces `viewer_access`).
    pub access_type: String,
    /// Who may view the item.
    pub viewer_access: crate::vocab::ViewerAccess,
    /// SHA-256 (hex) of the secret-link token, if one was made.
    pub link_token_hash: Option<String>,
    /// Vanity path such as `/sales/`, if any.
    pub vanity_path: Option<String>,
    /// The active bundle.
    pub bundle_id: Option<i64>,
    /// RFC 3339.
    pub created_time: String,
    /// RFC 3339.
    pub updated_time: String,
    /// RFC 3339, set on each activation.
    pub last_deployed_time: Option<String>,
    /// The render viewers see (rendered content).
    pub render_id: Option<i64>,
    /// Runtime settings (interactive content).
    #[sqlx(flatten)]
    pub runtime: super::RuntimeRow,
}

/// Fields for a new item.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct NewContent {
    /// Unique name.
    pub name: String,
    /// Title.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Access type; defaults to `all`.
    pub access_type: Option<String>,
    /// Viewer access; derived from `access_type` when absent (see `ops::resolve_access`).
    pub viewer_access: Option<String>,
}

/// A partial update; `None` leaves a field alone.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ContentPatch {
    /// New name.
    pub name: Option<String>,
    /// New title.
    pub title: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New access type.
    pub access_type: Option<String>,
    /// New viewer access.
    pub viewer_access: Option<String>,
}

macro_rules! columns {
    () => {
        "id, guid, name, title, description, app_mode, content_category, entrypoint, primary_html, \
         access_type, vanity_path, bundle_id, created_time, updated_time, last_deployed_time, \
         min_processes, max_processes, max_conns_per_process, load_factor, idle_timeout, init_timeout, \
         connection_timeout, read_timeout, render_id, viewer_access, link_token_hash, memory_limit, max_bundle_bytes, \
         render_timeout"
    };
}

impl Store {
    /// Inserts a content item.
    pub async fn insert_content(&self, guid: &str, new: &NewContent, now: &str) -> Result<ContentRow> {
        let res = sqlx::query(
            "INSERT INTO content (guid, name, title, description, access_type, viewer_access, created_time, updated_time) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(guid)
        .bind(&new.name)
        .bind(&new.title)
        .bind(new.description.as_deref().unwrap_or(""))
        .bind(new.access_type.as_deref().unwrap_or("all"))
        .bind(new.viewer_access.as_deref().unwrap_or("network"))
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await;
        match res {
            Ok(_) => self.content_by_guid(guid).await,
            Err(e) if is_unique_violation(&e) => Err(Error::DuplicateName(new.name.clone())),
            Err(e) => Err(Error::store("creating content")(e)),
        }
    }

    /// All items, oldest first, optionally filtered by exact name.
    pub async fn list_content(&self, name: Option<&str>) -> Result<Vec<ContentRow>> {
        sqlx::query_as(concat!("SELECT ", columns!(), " FROM content WHERE (?1 IS NULL OR name = ?1) ORDER BY id"))
            .bind(name)
            .fetch_all(&self.pool)
            .await
            .map_err(Error::store("listing content"))
    }

    /// One item by guid, or by numeric id when `key` is all digits.
    pub async fn find_content(&self, key: &str) -> Result<Option<ContentRow>> {
        let sql = if !key.is_empty() && key.bytes().all(|b| b.is_ascii_digit()) {
            concat!("SELECT ", columns!(), " FROM content WHERE id = ?")
        } else {
            concat!("SELECT ", columns!(), " FROM content WHERE guid = ?")
        };
        sqlx::query_as(sql).bind(key).fetch_optional(&self.pool).await.map_err(Error::store("reading content"))
    }

    /// One item by guid (or numeric id); not found is an error.
    pub async fn content_by_guid(&self, key: &str) -> Result<ContentRow> {
        self.find_content(key).await?.ok_or_else(|| Error::not_found("content", key))
    }

    /// One item by name.
    pub async fn content_by_name(&self, name: &str) -> Result<Option<ContentRow>> {
        Ok(self.list_content(Some(name)).await?.into_iter().next())
    }

    /// Applies a patch.
    pub async fn update_content(&self, id: i64, patch: &ContentPatch, now: &str) -> Result<()> {
        let res = sqlx::query(
            "UPDATE content SET name = COALESCE(?, name), title = COALESCE(?, title), \
             description = COALESCE(?, description), access_type = COALESCE(?, access_type), \
             viewer_access = COALESCE(?, viewer_access), updated_time = ? WHERE id = ?",
        )
        .bind(&patch.name)
        .bind(&patch.title)
        .bind(&patch.description)
        .bind(&patch.access_type)
        .bind(&patch.viewer_access)
        .bind(now)
        .bind(id)
        .execute(&self.pool)
        .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(Error::DuplicateName(patch.name.clone().unwrap_or_default())),
            Err(e) => Err(Error::store("updating content")(e)),
        }
    }

    /// Sets or clears the vanity path.
    pub async fn set_vanity(&self, id: i64, path: Option<&str>, now: &str) -> Result<()> {
        let res = sqlx::query("UPDATE content SET vanity_path = ?, updated_time = ? WHERE id = ?")
            .bind(path)
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => {
                Err(Error::VanityConflict(format!("the vanity path {} is already in use", path.unwrap_or_default())))
            }
            Err(e) => Err(Error::store("setting the vanity path")(e)),
        }
    }

    /// Sets (or with `None` clears) the hash of an item's secret-link token.
    pub async fn set_link_token_hash(&self, id: i64, hash: Option<&str>, now: &str) -> Result<()> {
        sqlx::query("UPDATE content SET link_token_hash = ?, updated_time = ? WHERE id = ?")
            .bind(hash)
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(Error::store("storing the secret link"))?;
        Ok(())
    }

    /// Deletes an item with its bundles and tasks' links.
    pub async fn delete_content(&self, id: i64) -> Result<()> {
        sqlx::query("DELETE FROM content WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(Error::store("deleting content"))?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use sqlx::sqlite::SqlitePoolOptions;

    /// Items that were private before viewer access existed stay private (local), never network.
    #[tokio::test]
    async fn migration_0007_keeps_private_items_private() {
        let pool = SqlitePoolOptions::new().max_connections(1).connect("sqlite::memory:").await.expect("memory db");
        for sql in [
            include_str!("../../migrations/0001_init.sql"),
            include_str!("../../migrations/0002_runtime.sql"),
            include_str!("../../migrations/0003_renders.sql"),
            include_str!("../../migrations/0004_schedules.sql"),
        ] {
            sqlx::raw_sql(sql).execute(&pool).await.expect("older migration");
        }
        for (name, access) in [("open", "all"), ("members", "logged_in"), ("named", "acl")] {
            sqlx::query(
                "INSERT INTO content (guid, name, access_type, created_time, updated_time) VALUES (?, ?, ?, '', '')",
            )
            .bind(format!("guid-{name}"))
            .bind(name)
            .bind(access)
            .execute(&pool)
            .await
            .expect("insert");
        }
        sqlx::raw_sql(include_str!("../../migrations/0007_viewer_access.sql")).execute(&pool).await.expect("0007");
        let rows: Vec<(String, String, Option<String>)> =
            sqlx::query_as("SELECT name, viewer_access, link_token_hash FROM content ORDER BY id")
                .fetch_all(&pool)
                .await
                .expect("select");
        assert_eq!(
            rows,
            [
                ("open".into(), "network".into(), None),
                ("members".into(), "local".into(), None),
                ("named".into(), "local".into(), None)
            ]
        );
    }
}
