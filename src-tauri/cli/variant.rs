//! `porch variant list|add|rm`: named parameter sets of a document.

use anyhow::anyhow;
use clap::Subcommand;
use serde_json::json;

use super::client::Porch;

#[derive(Debug, Subcommand)]
pub(crate) enum VariantCommand {
    /// List a document's variants with their parameters and URLs.
    List {
        /// The content name.
        name: String,
    },
    /// Add a variant, e.g. `porch variant add report south -P region=south -P year=2026`.
    Add {
        /// The content name.
        name: String,
        /// The variant's name.
        variant: String,
        /// A parameter; the value is read as JSON when it parses (numbers, true, lists), else as text.
        #[arg(short = 'P', long = "param", value_name = "NAME=VALUE")]
        params: Vec<String>,
    },
    /// Delete a variant with its renders and schedules.
    Rm {
        /// The content name.
        name: String,
        /// The variant's name or id.
        variant: String,
    },
}

/// `NAME=VALUE` pairs as a JSON object; values are JSON when they parse, else text.
fn parse_params(pairs: &[String]) -> anyhow::Result<serde_json::Value> {
    let mut map = serde_json::Map::new();
    for pair in pairs {
        let (k, v) = pair.split_once('=').ok_or_else(|| anyhow!("-P {pair:?}: expected NAME=VALUE"))?;
        let value = serde_json::from_str(v).unwrap_or_else(|_| serde_json::Value::String(v.to_string()));
        map.insert(k.trim().to_string(), value);
    }
    Ok(serde_json::Value::Object(map))
}

impl VariantCommand {
    pub(crate) async fn run(self, porch: &Porch) -> anyhow::Result<()> {
        match self {
            VariantCommand::List { name } => {
                let guid = porch.guid_of(&name).await?;
                let views = porch.get(&format!("/__api__/v1/content/{guid}/variants")).await?;
                println!("{}", serde_json::to_string_pretty(&views)?);
            }
            VariantCommand::Add { name, variant, params } => {
                let params = parse_params(&params)?;
                let guid = porch.guid_of(&name).await?;
                let v = porch
                    .post(
                        &format!("/__api__/v1/content/{guid}/variants"),
                        json!({ "name": variant, "parameters": params }),
                    )
                    .await?;
                let (v_name, id) = (v["name"].as_str().unwrap_or_default(), v["id"].as_str().unwrap_or_default());
                println!("Added variant {v_name:?} (id {id}) of {name}; render it with: porch render {name} --variant {v_name:?}");
            }
            VariantCommand::Rm { name, variant } => {
                let guid = porch.guid_of(&name).await?;
                let v = porch.variant(&guid, &variant).await?;
                let id = v["id"].as_str().unwrap_or_default();
                porch.delete(&format!("/__api__/v1/content/{guid}/variants/{id}")).await?;
                println!("Removed variant {:?} of {name}", v["name"].as_str().unwrap_or_default());
            }
        }
        Ok(())
    }
}
