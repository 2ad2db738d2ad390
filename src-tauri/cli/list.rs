//! `porch list [--json]`: the published items.

use clap::Args;

use super::client::Porch;

#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    /// Print JSON instead of a table.
    #[arg(long)]
    json: bool,
}

impl ListArgs {
    pub(crate) async fn run(self, porch: &Porch) -> anyhow::Result<()> {
        let items = porch.get("/__api__/v1/content").await?;
        let list = items.as_array().cloned().unwrap_or_default();
        if self.json {
            println!("{}", serde_json::to_string_pretty(&items)?);
        } else if list.is_empty() {
            println!("Nothing is published yet. Try: porch deploy <folder>");
        } else {
            println!("{:<24} {:<18} {:<7} URL", "NAME", "TYPE", "ACCESS");
            for c in list {
                let field = |f: &str| c[f].as_str().unwrap_or_default().to_string();
                println!(
                    "{:<24} {:<18} {:<7} {}",
                    field("name"),
                    field("app_mode"),
                    field("viewer_access"),
                    field("content_url")
                );
            }
        }
        Ok(())
    }
}
