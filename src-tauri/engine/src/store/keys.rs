//! API keys, stored only as SHA-256 hashes.

use super::Store;
use crate::error::{Error, Result};

/// A key as listed: never the key or its hash.
#[derive(Debug, Clone, sqlx::FromRow, serde::Serialize)]
pub struct KeyRow {
    /// Numeric id.
    pub id: i64,
    /// The label given at creation.
    pub name: String,
    /// RFC 3339.
    pub created_time: String,
}

impl Store {
    /// Records a key hash.
    pub async fn insert_key(&self, name: &str, hash: &str, now: &str) -> Result<()> {
        sqlx::query("INSERT INTO api_keys (name, key_hash, created_time) VALUES (?, ?, ?)")
            .bind(name)
            .bind(hash)
            .bind(now)
            .execute(&self.pool)
            .await
            .map_err(Error::store("storing an API key"))?;
        Ok(())
    }

    /// Every key's id, name and creation time (never the hash), oldest first.
    pub async fn list_keys(&self) -> Result<Vec<KeyRow>> {
        sqlx::query_as("SELECT id, name, created_time FROM api_keys ORDER BY id")
            .fetch_all(&self.pool)
            .await
            .map_err(Error::store("listing API keys"))
    }

    /// Deletes the keys with this id (when `which` is all digits) or this name; returns how many.
    pub async fn delete_keys(&self, which: &str) -> Result<u64> {
        let res = if !which.is_empty() && which.bytes().all(|b| b.is_ascii_digit()) {
            sqlx::query("DELETE FROM api_keys WHERE id = ?").bind(which).execute(&self.pool).await
        } else {
            sqlx::query("DELETE FROM api_keys WHERE name = ?").bind(which).execute(&self.pool).await
        };
        Ok(res.map_err(Error::store("revoking an API key"))?.rows_affected())
    }

    /// All stored hashes: keys are checked by comparing the presented key's hash with each in
    /// constant time (and tests check nothing is stored in plain text).
    pub async fn key_hashes(&self) -> Result<Vec<String>> {
        sqlx::query_scalar("SELECT key_hash FROM api_keys")
            .fetch_all(&self.pool)
            .await
            .map_err(Error::store("listing API keys"))
    }

    /// The id of the key with this hash.
    pub async fn key_id(&self, hash: &str) -> Result<i64> {
        sqlx::query_scalar("SELECT id FROM api_keys WHERE key_hash = ?")
            .bind(hash)
            .fetch_optional(&self.pool)
            .await
            .map_err(Error::store("reading an API key"))?
            .ok_or_else(|| Error::not_found("API key", "(new)"))
    }
}
