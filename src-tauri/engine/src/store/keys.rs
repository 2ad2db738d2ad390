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
}
