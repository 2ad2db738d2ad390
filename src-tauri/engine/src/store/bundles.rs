//! Bundles: immutable, numbered versions of a content item, and atomic activation.

use super::Store;
use crate::error::{Error, Result};

/// One row of `bundles`.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct BundleRow {
    /// Numeric id, unique across all content and never reused.
    pub id: i64,
    /// Owning content id.
    pub content_id: i64,
    /// Size of the archive in bytes.
    pub size: i64,
    /// Number of files extracted.
    pub file_count: i64,
    /// RFC 3339.
    pub created_time: String,
    /// The manifest (as shipped or inferred), read once with the row.
    pub manifest: Option<crate::bundle::Manifest>,
    /// Where the bundle stands.
    pub state: crate::vocab::BundleState,
    /// Upload metadata (git source), JSON.
    pub metadata: Option<String>,
}

impl BundleRow {
    /// The bundle's manifest, or why there is none (a bundle stored before its manifest
    /// was kept).
    pub fn require_manifest(&self) -> std::result::Result<crate::bundle::Manifest, crate::bundle::BundleError> {
        self.manifest.clone().ok_or_else(|| crate::bundle::BundleError::InvalidManifest {
            reason: "missing \"metadata\" with an \"appmode\"".into(),
        })
    }
}

/// What activation writes onto the content row.
#[derive(Debug, Clone)]
pub struct Activation<'a> {
    /// Appmode from the manifest.
    pub app_mode: &'a crate::vocab::AppMode,
    /// Content category.
    pub content_category: &'a str,
    /// Entry point.
    pub entrypoint: Option<&'a str>,
    /// Primary HTML page.
    pub primary_html: Option<&'a str>,
    /// Timestamp.
    pub now: &'a str,
}

macro_rules! columns {
    () => {
        "id, content_id, size, file_count, created_time, manifest, state, metadata"
    };
}

impl Store {
    /// Starts a bundle insert inside a transaction; the caller moves the files into place
    /// and then commits, so a row never exists without its files.
    pub async fn begin_bundle(
        &self,
        content_id: i64,
        size: i64,
        file_count: i64,
        manifest: &str,
        metadata: Option<&str>,
        now: &str,
    ) -> Result<(sqlx::Transaction<'static, sqlx::Sqlite>, i64)> {
        let mut tx = self.pool.begin().await.map_err(Error::store("starting a transaction"))?;
        let id: i64 = sqlx::query_scalar(
            "INSERT INTO bundles (content_id, size, file_count, created_time, manifest, metadata) \
             VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(content_id)
        .bind(size)
        .bind(file_count)
        .bind(now)
        .bind(manifest)
        .bind(metadata)
        .fetch_one(&mut *tx)
        .await
        .map_err(Error::store("recording a bundle"))?;
        Ok((tx, id))
    }

    /// Bundles of one item, newest first.
    pub async fn list_bundles(&self, content_id: i64) -> Result<Vec<BundleRow>> {
        sqlx::query_as(concat!("SELECT ", columns!(), " FROM bundles WHERE content_id = ? ORDER BY id DESC"))
            .bind(content_id)
            .fetch_all(&self.pool)
            .await
            .map_err(Error::store("listing bundles"))
    }

    /// One bundle of one item.
    pub async fn bundle(&self, content_id: i64, bundle_id: i64) -> Result<BundleRow> {
        sqlx::query_as(concat!("SELECT ", columns!(), " FROM bundles WHERE content_id = ? AND id = ?"))
            .bind(content_id)
            .bind(bundle_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(Error::store("reading a bundle"))?
            .ok_or_else(|| Error::not_found("bundle", bundle_id))
    }

    /// Makes `bundle_id` the served bundle of `content_id`, in one transaction.
    pub async fn activate_bundle(&self, content_id: i64, bundle_id: i64, a: &Activation<'_>) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(Error::store("starting a transaction"))?;
        sqlx::query("UPDATE bundles SET state = 'inactive' WHERE content_id = ? AND state = 'active'")
            .bind(content_id)
            .execute(&mut *tx)
            .await
            .map_err(Error::store("deactivating bundles"))?;
        sqlx::query("UPDATE bundles SET state = 'active' WHERE content_id = ? AND id = ?")
            .bind(content_id)
            .bind(bundle_id)
            .execute(&mut *tx)
            .await
            .map_err(Error::store("activating a bundle"))?;
        sqlx::query(
            "UPDATE content SET bundle_id = ?, app_mode = ?, content_category = ?, entrypoint = ?, \
             primary_html = ?, last_deployed_time = ?, updated_time = ? WHERE id = ?",
        )
        .bind(bundle_id)
        .bind(a.app_mode)
        .bind(a.content_category)
        .bind(a.entrypoint)
        .bind(a.primary_html)
        .bind(a.now)
        .bind(a.now)
        .bind(content_id)
        .execute(&mut *tx)
        .await
        .map_err(Error::store("pointing content at its bundle"))?;
        tx.commit().await.map_err(Error::store("committing an activation"))
    }

    /// Marks a bundle that was deployed without activation.
    pub async fn mark_bundle_ready(&self, bundle_id: i64) -> Result<()> {
        sqlx::query("UPDATE bundles SET state = 'inactive' WHERE id = ? AND state = 'uploaded'")
            .bind(bundle_id)
            .execute(&self.pool)
            .await
            .map_err(Error::store("marking a bundle ready"))?;
        Ok(())
    }

    /// Deletes a bundle row that is not active.
    pub async fn delete_bundle(&self, content_id: i64, bundle_id: i64) -> Result<()> {
        // In one statement, so a deploy cannot start between a check and the delete.
        let res = sqlx::query(
            "DELETE FROM bundles WHERE content_id = ? AND id = ? AND id IS NOT \
             (SELECT bundle_id FROM content WHERE id = ?) \
             AND NOT EXISTS (SELECT 1 FROM tasks WHERE bundle_id = ? AND kind = 'deploy' AND finished = 0)",
        )
        .bind(content_id)
        .bind(bundle_id)
        .bind(content_id)
        .bind(bundle_id)
        .execute(&self.pool)
        .await
        .map_err(Error::store("deleting a bundle"))?;
        if res.rows_affected() == 0 {
            let deploying: Option<String> =
                sqlx::query_scalar("SELECT id FROM tasks WHERE bundle_id = ? AND kind = 'deploy' AND finished = 0")
                    .bind(bundle_id)
                    .fetch_optional(&self.pool)
                    .await
                    .map_err(Error::store("reading a bundle's deploy"))?;
            return Err(match deploying {
                Some(task) => Error::Conflict(format!(
                    "bundle {bundle_id} is being deployed (task {task}); delete it once that has finished"
                )),
                None => Error::DeleteActiveBundle(bundle_id),
            });
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewContent;
    use crate::vocab::AppMode;

    async fn item_with_bundles(store: &Store, n: usize) -> (i64, Vec<i64>) {
        let new = NewContent { name: "item".into(), ..Default::default() };
        let c = store.insert_content("00000000-0000-4000-8000-000000000001", &new, "t").await.expect("insert");
        let mut ids = Vec::new();
        for _ in 0..n {
            let (tx, id) = store.begin_bundle(c.id, 1, 1, "{}", None, "t").await.expect("bundle");
            tx.commit().await.expect("commit");
            ids.push(id);
        }
        (c.id, ids)
    }

    fn activation() -> Activation<'static> {
        Activation { app_mode: &AppMode::Static, content_category: "", entrypoint: None, primary_html: None, now: "t2" }
    }

    #[sqlx::test(migrator = "crate::store::MIGRATOR")]
    async fn activation_moves_the_active_flag(pool: sqlx::SqlitePool) {
        let store = Store::from_pool(pool);
        let (cid, ids) = item_with_bundles(&store, 2).await;
        store.activate_bundle(cid, ids[0], &activation()).await.expect("activate");
        store.activate_bundle(cid, ids[1], &activation()).await.expect("activate");
        let states: Vec<(i64, String)> =
            store.list_bundles(cid).await.expect("list").into_iter().map(|b| (b.id, b.state.to_string())).collect();
        assert_eq!(states, vec![(ids[1], "active".into()), (ids[0], "inactive".into())]);
        let c = store.content_by_guid("00000000-0000-4000-8000-000000000001").await.expect("content");
        assert_eq!(c.bundle_id, Some(ids[1]));
        assert_eq!(c.app_mode, "static");
        assert_eq!(c.last_deployed_time.as_deref(), Some("t2"));
    }

    #[sqlx::test(migrator = "crate::store::MIGRATOR")]
    async fn the_active_bundle_cannot_be_deleted(pool: sqlx::SqlitePool) {
        let store = Store::from_pool(pool);
        let (cid, ids) = item_with_bundles(&store, 2).await;
        store.activate_bundle(cid, ids[0], &activation()).await.expect("activate");
        assert!(matches!(store.delete_bundle(cid, ids[0]).await, Err(crate::error::Error::DeleteActiveBundle(_))));
        store.delete_bundle(cid, ids[1]).await.expect("delete inactive");
        assert_eq!(store.list_bundles(cid).await.expect("list").len(), 1);
    }

    #[sqlx::test(migrator = "crate::store::MIGRATOR")]
    async fn a_bundle_being_deployed_cannot_be_deleted(pool: sqlx::SqlitePool) {
        let store = Store::from_pool(pool);
        let (cid, ids) = item_with_bundles(&store, 1).await;
        store.insert_task("t-1", cid, Some(ids[0]), "deploy", "t").await.expect("task");
        let e = store.delete_bundle(cid, ids[0]).await.expect_err("refused").to_string();
        assert!(e.contains("is being deployed (task t-1)"), "{e}");
        store.finish_task("t-1", 0, "", None, "t").await.expect("finish");
        store.delete_bundle(cid, ids[0]).await.expect("deleted once the deploy finished");
    }

    #[sqlx::test(migrator = "crate::store::MIGRATOR")]
    async fn a_rolled_back_bundle_insert_leaves_nothing(pool: sqlx::SqlitePool) {
        let store = Store::from_pool(pool);
        let (cid, _) = item_with_bundles(&store, 0).await;
        let (tx, _) = store.begin_bundle(cid, 1, 1, "{}", None, "t").await.expect("bundle");
        drop(tx);
        assert!(store.list_bundles(cid).await.expect("list").is_empty());
    }
}
