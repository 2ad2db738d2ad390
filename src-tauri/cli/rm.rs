//! `porch rm NAME`: remove an item and all its bundles.

use clap::Args;

use super::client::Porch;

#[derive(Debug, Args)]
pub(crate) struct RmArgs {
    /// The content name.
    name: String,
}

impl RmArgs {
    pub(crate) async fn run(self, porch: &Porch) -> anyhow::Result<()> {
        let guid = porch.guid_of(&self.name).await?;
        porch.delete(&format!("/__api__/v1/content/{guid}")).await?;
        println!("Removed {}", self.name);
        Ok(())
    }
}
