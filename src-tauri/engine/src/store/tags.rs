//! Tags (Connect's tag tree), the tags of each item, and thumbnails.
//!
//! A tag's name is unique among its siblings (the `tags_name_in_parent` index); deleting a
//! tag deletes its descendants and takes them off every item (foreign-key cascades).

use super::{is_unique_violation, Store};
use crate::error::{Error, Result};

/// One row of `tags`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TagRow {
    /// Numeric id.
    pub id: i64,
    /// The name, unique among its siblings.
    pub name: String,
    /// The parent tag; `None` for a top-level tag.
    pub parent_id: Option<i64>,
    /// RFC 3339.
    pub created_time: String,
    /// RFC 3339.
    pub updated_time: String,
}

/// A thumbnail without its bytes.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct ThumbnailMeta {
    /// The item's numeric id.
    pub content_id: i64,
    /// `image/png`, `image/jpeg`, `image/gif` or `image/webp`.
    pub mime: String,
    /// Pixels.
    pub width: i64,
    /// Pixels.
    pub height: i64,
    /// `upload` or `capture`.
    pub source: String,
    /// RFC 3339; also the thumbnail's version in URLs and ETags.
    pub updated_time: String,
}

/// A new thumbnail.
#[derive(Debug, Clone)]
pub struct NewThumbnail<'a> {
    /// Checked image type.
    pub mime: &'a str,
    /// Pixels.
    pub width: i64,
    /// Pixels.
    pub height: i64,
    /// `upload` or `capture`.
    pub source: &'a str,
    /// The image.
    pub image: &'a [u8],
}

macro_rules! tag_columns {
    () => {
        "id, name, parent_id, created_time, updated_time"
    };
}

fn tag_conflict(name: &str) -> Error {
    Error::Conflict(format!("a tag named {name:?} already exists under the same parent"))
}

impl Store {
    /// Every tag, oldest first (parents before their children unless one was moved).
    pub async fn list_tags(&self) -> Result<Vec<TagRow>> {
        sqlx::query_as(concat!("SELECT ", tag_columns!(), " FROM tags ORDER BY id"))
            .fetch_all(&self.pool)
            .await
            .map_err(Error::store("listing tags"))
    }

    /// One tag.
    pub async fn find_tag(&self, id: i64) -> Result<Option<TagRow>> {
        sqlx::query_as(concat!("SELECT ", tag_columns!(), " FROM tags WHERE id = ?"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(Error::store("reading a tag"))
    }

    /// Creates a tag; a sibling with the same name is a conflict.
    pub async fn insert_tag(&self, name: &str, parent_id: Option<i64>, now: &str) -> Result<TagRow> {
        let res = sqlx::query("INSERT INTO tags (name, parent_id, created_time, updated_time) VALUES (?, ?, ?, ?)")
            .bind(name)
            .bind(parent_id)
            .bind(now)
            .bind(now)
            .execute(&self.pool)
            .await;
        match res {
            Ok(done) => self.find_tag(done.last_insert_rowid()).await?.ok_or_else(|| Error::not_found("tag", name)),
            Err(e) if is_unique_violation(&e) => Err(tag_conflict(name)),
            Err(e) => Err(Error::store("creating a tag")(e)),
        }
    }

    /// Renames and/or moves a tag (the caller checked the move makes no cycle).
    pub async fn update_tag(&self, id: i64, name: &str, parent_id: Option<i64>, now: &str) -> Result<()> {
        let res = sqlx::query("UPDATE tags SET name = ?, parent_id = ?, updated_time = ? WHERE id = ?")
            .bind(name)
            .bind(parent_id)
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await;
        match res {
            Ok(_) => Ok(()),
            Err(e) if is_unique_violation(&e) => Err(tag_conflict(name)),
            Err(e) => Err(Error::store("updating a tag")(e)),
        }
    }

    /// Deletes a tag with its descendants, off every item.
    pub async fn delete_tag(&self, id: i64) -> Result<()> {
        sqlx::query("DELETE FROM tags WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(Error::store("deleting a tag"))?;
        Ok(())
    }

    /// The tags of one item, oldest first.
    pub async fn content_tags(&self, content_id: i64) -> Result<Vec<TagRow>> {
        sqlx::query_as(
            "SELECT t.id, t.name, t.parent_id, t.created_time, t.updated_time FROM tags t \
             JOIN content_tags ct ON ct.tag_id = t.id WHERE ct.content_id = ? ORDER BY t.id",
        )
        .bind(content_id)
        .fetch_all(&self.pool)
        .await
        .map_err(Error::store("reading an item's tags"))
    }

    /// Every (item, tag) pair.
    pub async fn all_content_tags(&self) -> Result<Vec<(i64, i64)>> {
        sqlx::query_as("SELECT content_id, tag_id FROM content_tags ORDER BY content_id, tag_id")
            .fetch_all(&self.pool)
            .await
            .map_err(Error::store("reading tags of items"))
    }

    /// The items that carry a tag.
    pub async fn tagged_content_ids(&self, tag_id: i64) -> Result<Vec<i64>> {
        sqlx::query_scalar("SELECT content_id FROM content_tags WHERE tag_id = ? ORDER BY content_id")
            .bind(tag_id)
            .fetch_all(&self.pool)
            .await
            .map_err(Error::store("reading a tag's items"))
    }

    /// Puts tags on an item (those it has already stay), in one transaction.
    pub async fn add_content_tags(&self, content_id: i64, tag_ids: &[i64]) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(Error::store("tagging an item"))?;
        for id in tag_ids {
            sqlx::query("INSERT OR IGNORE INTO content_tags (content_id, tag_id) VALUES (?, ?)")
                .bind(content_id)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(Error::store("tagging an item"))?;
        }
        tx.commit().await.map_err(Error::store("tagging an item"))
    }

    /// Takes tags off an item, in one transaction.
    pub async fn remove_content_tags(&self, content_id: i64, tag_ids: &[i64]) -> Result<()> {
        let mut tx = self.pool.begin().await.map_err(Error::store("untagging an item"))?;
        for id in tag_ids {
            sqlx::query("DELETE FROM content_tags WHERE content_id = ? AND tag_id = ?")
                .bind(content_id)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(Error::store("untagging an item"))?;
        }
        tx.commit().await.map_err(Error::store("untagging an item"))
    }

    // ----- thumbnails -----

    /// Stores (or replaces) an item's thumbnail. With `keep_upload`, a picture the publisher
    /// uploaded is not replaced (in the same statement, so an upload that lands while an
    /// automatic capture runs wins). Returns whether `t` was stored.
    pub async fn put_thumbnail(
        &self,
        content_id: i64,
        t: &NewThumbnail<'_>,
        now: &str,
        keep_upload: bool,
    ) -> Result<bool> {
        let res = sqlx::query(
            "INSERT INTO thumbnails (content_id, mime, width, height, source, image, updated_time) \
             VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (content_id) DO UPDATE SET mime = excluded.mime, \
             width = excluded.width, height = excluded.height, source = excluded.source, image = excluded.image, \
             updated_time = excluded.updated_time WHERE ? = 0 OR thumbnails.source != 'upload'",
        )
        .bind(content_id)
        .bind(t.mime)
        .bind(t.width)
        .bind(t.height)
        .bind(t.source)
        .bind(t.image)
        .bind(now)
        .bind(keep_upload)
        .execute(&self.pool)
        .await
        .map_err(Error::store("storing a thumbnail"))?;
        Ok(res.rows_affected() > 0)
    }

    /// An item's thumbnail with its bytes.
    pub async fn thumbnail(&self, content_id: i64) -> Result<Option<(ThumbnailMeta, Vec<u8>)>> {
        let row: Option<(String, i64, i64, String, String, Vec<u8>)> = sqlx::query_as(
            "SELECT mime, width, height, source, updated_time, image FROM thumbnails WHERE content_id = ?",
        )
        .bind(content_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(Error::store("reading a thumbnail"))?;
        Ok(row.map(|(mime, width, height, source, updated_time, image)| {
            (ThumbnailMeta { content_id, mime, width, height, source, updated_time }, image)
        }))
    }

    /// Every thumbnail, without bytes.
    pub async fn thumbnails(&self) -> Result<Vec<ThumbnailMeta>> {
        sqlx::query_as("SELECT content_id, mime, width, height, source, updated_time FROM thumbnails")
            .fetch_all(&self.pool)
            .await
            .map_err(Error::store("listing thumbnails"))
    }

    /// Deletes an item's thumbnail; whether there was one.
    pub async fn delete_thumbnail(&self, content_id: i64) -> Result<bool> {
        let done = sqlx::query("DELETE FROM thumbnails WHERE content_id = ?")
            .bind(content_id)
            .execute(&self.pool)
            .await
            .map_err(Error::store("deleting a thumbnail"))?;
        Ok(done.rows_affected() > 0)
    }

    /// When each item's newest successful render finished.
    pub async fn last_successful_renders(&self) -> Result<Vec<(i64, String)>> {
        sqlx::query_as(
            "SELECT content_id, MAX(COALESCE(finished_time, started_time)) FROM renders \
             WHERE status = 'success' GROUP BY content_id",
        )
        .fetch_all(&self.pool)
        .await
        .map_err(Error::store("reading render times"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::NewContent;

    fn picture<'a>(source: &'a str, image: &'a [u8]) -> NewThumbnail<'a> {
        NewThumbnail { mime: "image/png", width: 2, height: 2, source, image }
    }

    #[sqlx::test(migrator = "crate::store::MIGRATOR")]
    async fn an_automatic_capture_never_replaces_an_uploaded_picture(pool: sqlx::SqlitePool) {
        let store = Store::from_pool(pool);
        let new = NewContent { name: "item".into(), ..Default::default() };
        let c = store.insert_content("00000000-0000-4000-8000-000000000002", &new, "t").await.expect("insert");
        // No picture yet: a capture is stored, and an automatic one may replace it.
        assert!(store.put_thumbnail(c.id, &picture("capture", b"shot 1"), "t1", true).await.expect("put"));
        assert!(store.put_thumbnail(c.id, &picture("capture", b"shot 2"), "t2", true).await.expect("put"));
        // The publisher's upload replaces a capture.
        assert!(store.put_thumbnail(c.id, &picture("upload", b"mine"), "t3", false).await.expect("put"));
        // A capture that finishes after the upload leaves it alone.
        assert!(!store.put_thumbnail(c.id, &picture("capture", b"shot 3"), "t4", true).await.expect("put"));
        let (meta, bytes) = store.thumbnail(c.id).await.expect("read").expect("a picture");
        assert_eq!((meta.source.as_str(), bytes.as_slice()), ("upload", b"mine".as_slice()));
        // One the publisher asked for replaces it.
        assert!(store.put_thumbnail(c.id, &picture("capture", b"asked"), "t5", false).await.expect("put"));
        let (meta, bytes) = store.thumbnail(c.id).await.expect("read").expect("a picture");
        assert_eq!((meta.source.as_str(), bytes.as_slice()), ("capture", b"asked".as_slice()));
    }
}
