//! `porch access NAME WORD`: who may view an item (network, local or link).

use clap::Args;
use serde_json::json;

use super::client::Porch;

#[derive(Debug, Args)]
pub(crate) struct AccessArgs {
    /// The content name.
    name: String,
    /// network (anyone who reaches Porch), local (this computer only) or link (secret link holders).
    access: String,
}

impl AccessArgs {
    pub(crate) async fn run(self, porch: &Porch) -> anyhow::Result<()> {
        let name = &self.name;
        // Both vocabularies, refused by name here as the engine would.
        let (access_type, viewer_access) = porch_engine::library::parse_access(&self.access)?;
        let guid = porch.guid_of(name).await?;
        let c = porch
            .patch(
                &format!("/__api__/v1/content/{guid}"),
                json!({ "access_type": access_type, "viewer_access": viewer_access }),
            )
            .await?;
        match c["viewer_access"].as_str().unwrap_or_default() {
            "network" => println!("{name} is open to everyone who can reach Porch"),
            "local" => println!("{name} is visible on this computer only"),
            _ if c["secret_link"] == true => {
                println!("{name} is visible only through its secret link (unchanged; `porch secret-link {name}` makes a new one)")
            }
            _ => {
                let link = porch.post(&format!("/__api__/porch/content/{guid}/secret-link"), json!({})).await?;
                println!("{name} is visible only through its secret link (shown once):");
                println!("{}", link["url"].as_str().unwrap_or_default());
            }
        }
        Ok(())
    }
}
