//! Variants: named parameter sets of a rendered item.

use serde::Serialize;

use super::Store;
use crate::error::{Error, Result};

/// One row of `variants`.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, PartialEq)]
pub struct VariantRow {
    /// Variant id.
    pub id: i64,
    /// The item.
    pub content_id: i64,
    /// Unique within the item.
    pub name: String,
    /// The parameters, a JSON object.
    pub parameters: String,
    /// The render viewers of this variant see.
    pub render_id: Option<i64>,
    /// RFC 3339.
    pub created_time: String,
    /// RFC 3339.
    pub updated_time: String,
}

macro_rules! columns {
    () => {
        "id, content_id, name, parameters, render_id, created_time, updated_time"
    };
}

fn unique_name(e: sqlx::Error, name: &str) -> Error {
    match &e {
        sqlx::Error::Database(d) if d.is_unique_violation() => {
            Error::Conflict(format!("name: this item already has a variant called {name:?}"))
        }
        _ => Error::store("saving a variant")(e),
    }
}

impl Store {
    /// Adds a variant.
    pub async fn insert_variant(&self, content_id: i64, name: &str, parameters: &str, now: &str) -> Result<i64> {
        sqlx::query_scalar(
            "INSERT INTO variants (content_id, name, parameters, created_time, updated_time) VALUES (?, ?, ?, ?, ?) RETURNING id",
        )
        .bind(content_id)
        .bind(name)
        .bind(parameters)
        .bind(now)
        .bind(now)
        .fetch_one(&self.pool)
        .await
        .map_err(|e| unique_name(e, name))
    }

    /// Renames a variant or replaces its parameters.
    pub async fn update_variant(&self, id: i64, name: &str, parameters: &str, now: &str) -> Result<()> {
        sqlx::query("UPDATE variants SET name = ?, parameters = ?, updated_time = ? WHERE id = ?")
            .bind(name)
            .bind(parameters)
            .bind(now)
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(|e| unique_name(e, name))?;
        Ok(())
    }

    /// An item's variants, oldest first.
    pub async fn variants(&self, content_id: i64) -> Result<Vec<VariantRow>> {
        sqlx::query_as(concat!(
            "SELECT ",
            columns!(),
            " FROM variants WHERE content_id = ? AND is_default = 0 ORDER BY id"
        ))
        .bind(content_id)
        .fetch_all(&self.pool)
        .await
        .map_err(Error::store("listing variants"))
    }

    /// One named variant (the default variant's row is not one).
    pub async fn variant(&self, id: i64) -> Result<VariantRow> {
        sqlx::query_as(concat!("SELECT ", columns!(), " FROM variants WHERE id = ? AND is_default = 0"))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(Error::store("reading a variant"))?
            .ok_or_else(|| Error::not_found("variant", id))
    }

    /// The id of an item's default variant (the item itself), made on first use.
    pub async fn default_variant(&self, content_id: i64, now: &str) -> Result<VariantRow> {
        // The empty name is one no named variant may take, so UNIQUE (content_id, name)
        // keeps one default row per item even when two callers race here.
        sqlx::query(
            "INSERT OR IGNORE INTO variants (content_id, name, parameters, created_time, updated_time, is_default) \
             VALUES (?, '', '{}', ?, ?, 1)",
        )
        .bind(content_id)
        .bind(now)
        .bind(now)
        .execute(&self.pool)
        .await
        .map_err(Error::store("making the default variant"))?;
        sqlx::query_as(concat!("SELECT ", columns!(), " FROM variants WHERE content_id = ? AND is_default = 1"))
            .bind(content_id)
            .fetch_one(&self.pool)
            .await
            .map_err(Error::store("reading the default variant"))
    }

    /// Any variant by id, the default ones included: the row and whether it is a default.
    pub async fn any_variant(&self, id: i64) -> Result<Option<(VariantRow, bool)>> {
        #[derive(sqlx::FromRow)]
        struct Any {
            #[sqlx(flatten)]
            row: VariantRow,
            is_default: bool,
        }
        let found: Option<Any> =
            sqlx::query_as(concat!("SELECT ", columns!(), ", is_default FROM variants WHERE id = ?"))
                .bind(id)
                .fetch_optional(&self.pool)
                .await
                .map_err(Error::store("reading a variant"))?;
        Ok(found.map(|a| (a.row, a.is_default)))
    }

    /// Deletes a variant with its schedules and render rows, in one transaction; returns the
    /// ids of the deleted renders (their folders are the caller's to remove).
    pub async fn delete_variant(&self, id: i64) -> Result<Vec<i64>> {
        let mut tx = self.pool.begin().await.map_err(Error::store("starting a transaction"))?;
        let renders: Vec<i64> = sqlx::query_scalar("SELECT id FROM renders WHERE variant_id = ?")
            .bind(id)
            .fetch_all(&mut *tx)
            .await
            .map_err(Error::store("listing a variant's renders"))?;
        for sql in [
            "DELETE FROM schedules WHERE variant_id = ?",
            "DELETE FROM renders WHERE variant_id = ?",
            "DELETE FROM variants WHERE id = ?",
        ] {
            sqlx::query(sql).bind(id).execute(&mut *tx).await.map_err(Error::store("deleting a variant"))?;
        }
        tx.commit().await.map_err(Error::store("committing a variant deletion"))?;
        Ok(renders)
    }
}
