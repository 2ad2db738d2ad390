//! `porch promote NAME --to TARGET [--draft] [--replace] [--dry-run]`: send an item to a
//! Connect server in one step, following the promotion task's log.
//!
//! The work is the engine's promotion task (`POST /__api__/porch/content/{guid}/promote`);
//! this command prints its log as it arrives and exits non-zero with its one-line error.
//! Interrupting the command does not stop a promotion a running server carries out.

use std::path::PathBuf;

use anyhow::anyhow;
use clap::Args;
use serde_json::json;

use super::client::Porch;
use super::target::{absolute, read_api_key};

#[derive(Debug, Args)]
pub(crate) struct PromoteArgs {
    /// The content name.
    name: String,
    /// A saved target (`porch target list`) or a server URL.
    #[arg(long, value_name = "TARGET")]
    to: String,
    /// Upload and build, but leave the target's active bundle as it is.
    #[arg(long)]
    draft: bool,
    /// Deploy over a same-named item on the target that Porch did not create.
    #[arg(long)]
    replace: bool,
    /// Check the key, runtimes and target item (GET requests only) and print the plan.
    #[arg(long)]
    dry_run: bool,
    /// The API key, when TARGET is a URL (else CONNECT_API_KEY or --api-key-stdin).
    #[arg(long, value_name = "KEY")]
    api_key: Option<String>,
    /// Read the API key from standard input, when TARGET is a URL.
    #[arg(long)]
    api_key_stdin: bool,
    /// A PEM file with the CA that signs the target's certificate, when TARGET is a URL.
    #[arg(long, value_name = "PEM")]
    ca_file: Option<PathBuf>,
}

impl PromoteArgs {
    pub(crate) async fn run(self, porch: &Porch) -> anyhow::Result<()> {
        let guid = porch.guid_of(&self.name).await?;
        let is_url = self.to.contains("://");
        let api_key = match (&self.api_key, is_url) {
            (Some(k), _) => Some(k.clone()),
            (None, true) => read_api_key(self.api_key_stdin)?,
            (None, false) => None,
        };
        let ca_file = self.ca_file.map(absolute).transpose()?;
        let body = json!({
            "to": self.to,
            "api_key": api_key,
            "ca_file": ca_file,
            "draft": self.draft,
            "replace": self.replace,
            "dry_run": self.dry_run,
        });
        let started = porch.post(&format!("/__api__/porch/content/{guid}/promote"), body).await?;
        let task = started["task_id"]
            .as_str()
            .ok_or_else(|| anyhow!("Porch did not say which task promotes {}", self.name))?;
        let mut first = 0u64;
        loop {
            let t = porch.get(&format!("/__api__/v1/tasks/{task}?first={first}&wait=30")).await?;
            for line in t["output"].as_array().into_iter().flatten() {
                let line = line.as_str().unwrap_or_default();
                // The task's own error line is printed once, as the command's error.
                if !line.starts_with("Error: ") {
                    println!("{line}");
                }
            }
            first = t["last"].as_u64().unwrap_or(first);
            if t["finished"] == true {
                if t["code"].as_i64() != Some(0) {
                    return Err(anyhow!("{}", t["error"].as_str().unwrap_or("the promotion failed")));
                }
                return Ok(());
            }
        }
    }
}
