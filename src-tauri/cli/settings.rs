//! `porch settings [show|set NAME=VALUE…]`: the saved server settings (`/__api__/porch/server`).

use anyhow::Context as _;
use clap::{Args, Subcommand};
use serde_json::Value;

use super::client::Porch;

#[derive(Debug, Args)]
pub(crate) struct SettingsArgs {
    #[command(subcommand)]
    command: Option<SettingsCommand>,
}

#[derive(Debug, Subcommand)]
enum SettingsCommand {
    /// Show the saved settings (the default when no subcommand is given).
    Show,
    /// Save settings, e.g. `porch settings set port=4000 bind=local remote-publishing=on
    /// max_processes=5`; `NAME=default` goes back to the default. Port and bind apply when
    /// Porch next starts; remote publishing and runtime defaults apply at once.
    Set {
        /// NAME=VALUE pairs, any name `porch settings` prints: port, bind (network|local),
        /// remote-publishing (on|off), a runtime default (min_processes, max_processes,
        /// max_conns_per_process, load_factor, idle_timeout, init_timeout,
        /// connection_timeout, read_timeout), and the rest of the settings registry.
        #[arg(required = true, value_name = "NAME=VALUE")]
        assignments: Vec<String>,
    },
}

impl SettingsArgs {
    pub(crate) async fn run(self, porch: &Porch) -> anyhow::Result<()> {
        let (view, changed) = match self.command {
            Some(SettingsCommand::Set { assignments }) => {
                let patch = porch_engine::settings::patch_from_assignments(&assignments)?;
                let view =
                    porch.patch("/__api__/porch/server", Value::Object(patch)).await.context("nothing was saved")?;
                let names = assignments.iter().map(|a| a.split('=').next().unwrap_or_default().trim().to_string());
                (view, Some(names.collect::<Vec<_>>()))
            }
            None | Some(SettingsCommand::Show) => (porch.get("/__api__/porch/server").await?, None),
        };
        print_settings(&view, changed.as_deref());
        Ok(())
    }
}

/// Every setting of the registry (`settings.entries` of the server view), one per line,
/// marking those at their default, then when changes apply: after a change (`changed`, the
/// names set), only if one of them waits for a restart.
fn print_settings(view: &Value, changed: Option<&[String]>) {
    let entries = view["settings"]["entries"].as_array().cloned().unwrap_or_default();
    let mut at_restart = Vec::new();
    for e in &entries {
        let name = e["cli_name"].as_str().unwrap_or_default();
        let shown = porch_engine::settings::registry::find(name)
            .map_or_else(|| e["value"].to_string(), |s| s.show(&e["value"]));
        let mark = if e["is_default"] == true { "  (default)" } else { "" };
        println!("{name:<24} {shown}{mark}");
        if e["applies"] == "at_restart" {
            at_restart.push(name);
        }
    }
    let waits = changed.is_none_or(|names| names.iter().any(|n| at_restart.contains(&n.as_str())));
    if !at_restart.is_empty() && waits {
        println!(
            "{} apply when Porch next starts (a --port or --bind flag wins); the rest applies at once.",
            at_restart.join(" and ")
        );
    }
    // Not a saved setting: paused from the window or the tray, for this run.
    if view["sharing_paused"] == true {
        println!("Sharing with other computers is paused for this run (they see a \"paused\" page).");
    }
}
