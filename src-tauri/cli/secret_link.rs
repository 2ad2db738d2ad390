//! `porch secret-link NAME [--revoke]`: a new secret link (shown once), or none.

use clap::Args;
use serde_json::json;

use super::client::Porch;

#[derive(Debug, Args)]
pub(crate) struct SecretLinkArgs {
    /// The content name.
    name: String,
    /// Revoke the link instead: it and the cookies it set stop working.
    #[arg(long)]
    revoke: bool,
}

impl SecretLinkArgs {
    pub(crate) async fn run(self, porch: &Porch) -> anyhow::Result<()> {
        let name = &self.name;
        let guid = porch.guid_of(name).await?;
        let path = format!("/__api__/porch/content/{guid}/secret-link");
        if self.revoke {
            porch.delete(&path).await?;
            println!("Revoked the secret link of {name}");
            return Ok(());
        }
        let link = porch.post(&path, json!({})).await?;
        let access = link["viewer_access"].as_str().unwrap_or_default();
        if access != "link" {
            eprintln!("note: {name} is {access} access; the link is needed only after `porch access {name} link`");
        }
        println!("{}", link["url"].as_str().unwrap_or_default());
        Ok(())
    }
}
