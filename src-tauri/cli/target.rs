//! `porch target add|list|rm`: the Connect servers `porch promote` sends items to
//! (`/__api__/porch/targets`).
//!
//! SECURITY: the API key is never taken from the command line (it would sit in the shell's
//! history and in `ps`): it comes from `CONNECT_API_KEY` or, with `--api-key-stdin`, from
//! standard input, and it is stored by the server in a 0600 file. No listing shows it.

use std::path::PathBuf;

use anyhow::{bail, Context as _};
use clap::Subcommand;
use serde_json::json;

use super::client::Porch;

#[derive(Debug, Subcommand)]
pub(crate) enum TargetCommand {
    /// Save a Connect server. Its API key comes from CONNECT_API_KEY or standard input.
    Add {
        /// A short name to promote to (`porch promote ITEM --to NAME`).
        name: String,
        /// The server's URL, e.g. https://connect.example.com
        url: String,
        /// Read the API key from standard input (one line) instead of CONNECT_API_KEY.
        #[arg(long)]
        api_key_stdin: bool,
        /// A PEM file with the CA that signs the server's certificate (besides the system's).
        #[arg(long, value_name = "PEM")]
        ca_file: Option<PathBuf>,
    },
    /// List saved targets (names and URLs; keys are never shown).
    List,
    /// Forget a saved target and its key.
    Rm {
        /// The target's name.
        name: String,
    },
}

/// The API key from standard input (`--api-key-stdin`) or `CONNECT_API_KEY`.
pub(crate) fn read_api_key(from_stdin: bool) -> anyhow::Result<Option<String>> {
    if from_stdin {
        let mut line = String::new();
        std::io::stdin().read_line(&mut line).context("cannot read the API key from standard input")?;
        let key = line.trim().to_string();
        if key.is_empty() {
            bail!("standard input held no API key");
        }
        return Ok(Some(key));
    }
    Ok(std::env::var("CONNECT_API_KEY").ok().map(|k| k.trim().to_string()).filter(|k| !k.is_empty()))
}

/// An absolute path (the server may run in another folder).
pub(crate) fn absolute(path: PathBuf) -> anyhow::Result<PathBuf> {
    std::fs::canonicalize(&path).with_context(|| format!("cannot find {}", path.display()))
}

impl TargetCommand {
    pub(crate) async fn run(self, porch: &Porch) -> anyhow::Result<()> {
        match self {
            TargetCommand::Add { name, url, api_key_stdin, ca_file } => {
                let Some(key) = read_api_key(api_key_stdin)? else {
                    bail!("no API key: set CONNECT_API_KEY or pipe it in with --api-key-stdin");
                };
                let ca_file = ca_file.map(absolute).transpose()?;
                let saved = porch
                    .post(
                        "/__api__/porch/targets",
                        json!({ "name": name, "url": url, "api_key": key, "ca_file": ca_file }),
                    )
                    .await?;
                println!(
                    "Saved target {} ({})",
                    saved["name"].as_str().unwrap_or(&name),
                    saved["url"].as_str().unwrap_or("")
                );
            }
            TargetCommand::List => {
                let list = porch.get("/__api__/porch/targets").await?;
                let list = list.as_array().cloned().unwrap_or_default();
                if list.is_empty() {
                    println!("No targets. Save one with: CONNECT_API_KEY=… porch target add NAME URL");
                }
                for t in list {
                    let ca = t["ca_file"].as_str().map(|c| format!("  (CA {c})")).unwrap_or_default();
                    println!("{:<20} {}{ca}", t["name"].as_str().unwrap_or(""), t["url"].as_str().unwrap_or(""));
                }
            }
            TargetCommand::Rm { name } => {
                porch.delete(&format!("/__api__/porch/targets/{name}")).await?;
                println!("Forgot target {name}");
            }
        }
        Ok(())
    }
}
