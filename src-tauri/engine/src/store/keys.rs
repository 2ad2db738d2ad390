//! API keys, stored only as SHA-256 hashes.

use super::Store;
use crate::error::{Error, Result};

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

    /// Whether a key hash is known.
    pub async fn key_exists(&self, hash: &str) -> Result<bool> {
        let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM api_keys WHERE key_hash = ?")
            .bind(hash)
            .fetch_one(&self.pool)
            .await
            .map_err(Error::store("checking an API key"))?;
        Ok(n > 0)
    }

    /// All stored hashes (for tests that check nothing is stored in plain text).
    pub async fn key_hashes(&self) -> Result<Vec<String>> {
        sqlx::query_scalar("SELECT key_hash FROM api_keys")
            .fetch_all(&self.pool)
            .await
            .map_err(Error::store("listing API keys"))
    }

    /// Every key as `(id, name, created_time)`, oldest first.
    pub async fn keys(&self) -> Result<Vec<(i64, String, String)>> {
        sqlx::query_as("SELECT id, name, created_time FROM api_keys ORDER BY id")
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

    /// Deletes a key; false when there was none with this id.
    pub async fn delete_key(&self, id: i64) -> Result<bool> {
        let done = sqlx::query("DELETE FROM api_keys WHERE id = ?")
            .bind(id)
            .execute(&self.pool)
            .await
            .map_err(Error::store("revoking an API key"))?;
        Ok(done.rows_affected() > 0)
    }
}
