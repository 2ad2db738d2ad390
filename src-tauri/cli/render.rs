//! `porch render NAME [--variant V]`: render a document now and wait for it.

use anyhow::anyhow;
use clap::Args;
use serde_json::{json, Value};

use super::client::Porch;

#[derive(Debug, Args)]
pub(crate) struct RenderArgs {
    /// The content name.
    name: String,
    /// Render this variant (a named parameter set) instead of the document's defaults.
    #[arg(long)]
    variant: Option<String>,
}

impl RenderArgs {
    pub(crate) async fn run(self, porch: &Porch) -> anyhow::Result<()> {
        let name = &self.name;
        let guid = porch.guid_of(name).await?;
        let variant = match &self.variant {
            Some(v) => Some(porch.variant(&guid, v).await?),
            None => None,
        };
        let variant_id = variant.as_ref().map(|v| v["id"].clone()).unwrap_or(Value::Null);
        let started =
            porch.post(&format!("/__api__/v1/content/{guid}/render"), json!({ "variant_id": variant_id })).await?;
        let task = started["task_id"].as_str().ok_or_else(|| anyhow!("Porch did not say which task renders {name}"))?;
        let done = porch.wait_task(task).await?;
        let renders = porch.get(&format!("/__api__/v1/content/{guid}/renders")).await?;
        let latest = renders.as_array().into_iter().flatten().find(|r| r["variant_id"] == variant_id);
        let render_id = latest.and_then(|r| r["id"].as_str()).unwrap_or("0");
        if done["code"].as_i64() != Some(0) {
            // The whole error: its first line says what failed, the document's last lines why.
            let error = done["error"].as_str().unwrap_or_default().trim_end();
            return Err(anyhow!(
                "the render of {name} failed (render {render_id}; its log: GET /__api__/v1/content/{guid}/renders/{render_id}/log): {error}"
            ));
        }
        println!("Rendered {name} (render {render_id})");
        match &variant {
            Some(v) => println!("{}", v["url"].as_str().unwrap_or_default()),
            None => {
                let c = porch.get(&format!("/__api__/v1/content/{guid}")).await?;
                println!("{}", c["content_url"].as_str().unwrap_or_default());
            }
        }
        Ok(())
    }
}
