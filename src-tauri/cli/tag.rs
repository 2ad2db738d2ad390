//! `porch tag list|add|rm`: an item's tags, named by their path from the top of the tag
//! tree (`finance/quarterly`). `add` makes the tags of a path that do not exist yet, and
//! the item gets the tag's ancestors too (Connect's rule).

use std::collections::HashMap;

use anyhow::anyhow;
use clap::Subcommand;
use serde_json::{json, Value};

use super::client::Porch;

#[derive(Debug, Subcommand)]
pub(crate) enum TagCommand {
    /// List an item's tags, or with no name every tag.
    List {
        /// The content name.
        name: Option<String>,
    },
    /// Tag an item, e.g. `porch tag add report finance/quarterly` (missing tags are made).
    Add {
        /// The content name.
        name: String,
        /// A tag name or path such as finance/quarterly.
        tag: String,
    },
    /// Take a tag (and the tags below it) off an item.
    Rm {
        /// The content name.
        name: String,
        /// A tag name or path such as finance/quarterly.
        tag: String,
    },
}

/// Each tag's path by id, from the API's list of every tag.
fn paths(all: &[Value]) -> HashMap<String, String> {
    let by_id: HashMap<&str, &Value> = all.iter().filter_map(|t| Some((t["id"].as_str()?, t))).collect();
    let mut out = HashMap::new();
    for t in all {
        let Some(id) = t["id"].as_str() else { continue };
        let mut parts = vec![t["name"].as_str().unwrap_or_default()];
        let mut cur = t["parent_id"].as_str();
        while let Some(p) = cur.and_then(|p| by_id.get(p)).filter(|_| parts.len() <= all.len()) {
            parts.push(p["name"].as_str().unwrap_or_default());
            cur = p["parent_id"].as_str();
        }
        parts.reverse();
        out.insert(id.to_string(), parts.join("/"));
    }
    out
}

/// The tag path as stored: its names trimmed, empty ones (`a//b`, a leading `/`) dropped.
fn clean_path(path: &str) -> String {
    path.split('/').map(str::trim).filter(|p| !p.is_empty()).collect::<Vec<_>>().join("/")
}

/// The id of the tag at `path`, making the missing ones when `create`.
async fn resolve(porch: &Porch, path: &str, create: bool) -> anyhow::Result<String> {
    let parts: Vec<&str> = path.split('/').map(str::trim).filter(|p| !p.is_empty()).collect();
    if parts.is_empty() {
        return Err(anyhow!("{path:?} is not a tag: give a name or a path such as finance/quarterly"));
    }
    let mut parent: Option<String> = None;
    for (i, part) in parts.iter().enumerate() {
        let all = porch.get("/__api__/v1/tags").await?;
        let found = all
            .as_array()
            .into_iter()
            .flatten()
            .find(|t| t["name"].as_str() == Some(part) && t["parent_id"].as_str().map(str::to_string) == parent);
        parent = Some(match found {
            Some(t) => t["id"].as_str().unwrap_or_default().to_string(),
            None if create => {
                let made = porch.post("/__api__/v1/tags", json!({ "name": part, "parent_id": parent })).await?;
                made["id"].as_str().unwrap_or_default().to_string()
            }
            None => return Err(anyhow!("there is no tag {}", parts[..=i].join("/"))),
        });
    }
    parent.ok_or_else(|| anyhow!("there is no tag {path}"))
}

impl TagCommand {
    pub(crate) async fn run(self, porch: &Porch) -> anyhow::Result<()> {
        let all = porch.get("/__api__/v1/tags").await?;
        let paths_now = paths(all.as_array().map(Vec::as_slice).unwrap_or_default());
        match self {
            TagCommand::List { name } => {
                let tags = match &name {
                    Some(n) => porch.get(&format!("/__api__/v1/content/{}/tags", porch.guid_of(n).await?)).await?,
                    None => all,
                };
                let mut shown: Vec<&str> = tags
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|t| paths_now.get(t["id"].as_str()?).map(String::as_str))
                    .collect();
                shown.sort();
                if shown.is_empty() {
                    match name {
                        Some(n) => println!("{n} has no tags"),
                        None => println!("no tags yet (`porch tag add NAME TAG` makes one)"),
                    }
                }
                for p in shown {
                    println!("{p}");
                }
            }
            TagCommand::Add { name, tag } => {
                let guid = porch.guid_of(&name).await?;
                let id = resolve(porch, &tag, true).await?;
                porch.post(&format!("/__api__/v1/content/{guid}/tags"), json!({ "tag_id": id })).await?;
                println!("{name} is tagged {}", clean_path(&tag));
            }
            TagCommand::Rm { name, tag } => {
                let guid = porch.guid_of(&name).await?;
                let id = resolve(porch, &tag, false).await?;
                let has = porch.get(&format!("/__api__/v1/content/{guid}/tags")).await?;
                if !has.as_array().into_iter().flatten().any(|t| t["id"].as_str() == Some(id.as_str())) {
                    return Err(anyhow!(
                        "{name} is not tagged {}; `porch tag list {name}` shows its tags",
                        clean_path(&tag)
                    ));
                }
                porch.delete(&format!("/__api__/v1/content/{guid}/tags/{id}")).await?;
                println!("{name} is no longer tagged {}", clean_path(&tag));
            }
        }
        Ok(())
    }
}
