//! `porch key new|list|revoke`: API keys (`/__api__/porch/keys`).

use clap::Subcommand;
use serde_json::json;

use super::client::Porch;

#[derive(Debug, Subcommand)]
pub(crate) enum KeyCommand {
    /// Create an API key and print it (it is shown only once).
    New {
        /// A label to remember what the key is for (also `--name LABEL`).
        #[arg(value_name = "LABEL", conflicts_with = "name")]
        label: Option<String>,
        /// A label to remember what the key is for.
        #[arg(long)]
        name: Option<String>,
    },
    /// List keys (id, name, created); keys themselves are never shown again.
    List,
    /// Revoke a key by id, or every key with a name; it stops working at once. An id is
    /// read as an id, even when another key is named so.
    Revoke {
        /// The key's id or name (see `porch key list`).
        which: String,
    },
}

impl KeyCommand {
    pub(crate) async fn run(self, porch: &Porch) -> anyhow::Result<()> {
        match self {
            KeyCommand::New { label, name } => {
                let name = label.or(name).unwrap_or_else(|| "default".to_string());
                let made = porch.post("/__api__/porch/keys", json!({ "name": name })).await?;
                println!("{}", made["key"].as_str().unwrap_or_default());
            }
            KeyCommand::List => {
                let keys = porch.get("/__api__/porch/keys").await?;
                let keys = keys.as_array().cloned().unwrap_or_default();
                if keys.is_empty() {
                    println!("No keys. Make one with: porch key new --name NAME");
                } else {
                    println!("{:<6} {:<24} CREATED", "ID", "NAME");
                    for k in keys {
                        let field = |f: &str| k[f].as_str().unwrap_or_default().to_string();
                        println!("{:<6} {:<24} {}", field("id"), field("name"), field("created_time"));
                    }
                }
            }
            KeyCommand::Revoke { which } => {
                let keys = porch.get("/__api__/porch/keys").await?;
                let keys = keys.as_array().cloned().unwrap_or_default();
                // An id names one key; only when no key has that id is it a name (of any
                // number of keys), so `revoke 2` never takes key 2 and a key named "2".
                let by_id = keys.iter().any(|k| k["id"] == which.as_str());
                let field = if by_id { "id" } else { "name" };
                let ids: Vec<String> = keys
                    .iter()
                    .filter(|k| k[field] == which.as_str())
                    .filter_map(|k| k["id"].as_str().map(str::to_string))
                    .collect();
                if ids.is_empty() {
                    return Err(porch_engine::Error::not_found("API key", &which).into());
                }
                for id in &ids {
                    porch.delete(&format!("/__api__/porch/keys/{id}")).await?;
                }
                let n = ids.len();
                println!("Revoked {n} key{}", if n == 1 { "" } else { "s" });
            }
        }
        Ok(())
    }
}
