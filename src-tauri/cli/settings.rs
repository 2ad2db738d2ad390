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
        /// NAME=VALUE pairs: port, bind (network|local), remote-publishing (on|off), or a
        /// runtime default (min_processes, max_processes, max_conns_per_process,
        /// load_factor, idle_timeout, init_timeout, connection_timeout, read_timeout).
        #[arg(required = true, value_name = "NAME=VALUE")]
        assignments: Vec<String>,
    },
}

impl SettingsArgs {
    pub(crate) async fn run(self, porch: &Porch) -> anyhow::Result<()> {
        let view = match self.command {
            Some(SettingsCommand::Set { assignments }) => {
                let patch = porch_engine::settings::patch_from_assignments(&assignments)?;
                porch.patch("/__api__/porch/server", Value::Object(patch)).await.context("nothing was saved")?
            }
            None | Some(SettingsCommand::Show) => porch.get("/__api__/porch/server").await?,
        };
        print_settings(&view);
        Ok(())
    }
}

/// The saved settings, one per line, marking those at their default.
fn print_settings(view: &Value) {
    let s = &view["settings"];
    let mark = |default: bool| if default { "  (default)" } else { "" };
    let port = s["port"].as_u64().unwrap_or_default();
    println!("port                     {port}{}", mark(port == u64::from(porch_engine::config::DEFAULT_PORT)));
    let (bind, at_default) = match s["bind"].as_str() {
        Some("local") => ("local (only this computer)", false),
        _ => ("network (everyone on your network)", true),
    };
    println!("bind                     {bind}{}", mark(at_default));
    let remote = s["allow_remote_publishing"] == true;
    println!("remote-publishing        {}{}", if remote { "on" } else { "off" }, mark(!remote));
    let changed = s["changed_runtime_defaults"].as_array().cloned().unwrap_or_default();
    for field in porch_engine::settings::DEFAULT_FIELDS {
        let value = view["runtime_defaults"].get(*field).map(ToString::to_string).unwrap_or_default();
        println!("{field:<24} {value}{}", mark(!changed.iter().any(|c| c == *field)));
    }
    // The gallery's settings (declared in porch_engine::gallery::settings).
    for name in porch_engine::gallery::settings::NAMES {
        match s["gallery"].get(*name).and_then(Value::as_str) {
            Some(v) => println!("{name:<24} {}", v.replace('\n', "\\n")),
            None => println!("{name:<24} {}  (default)", if *name == "thumbnails" { "auto" } else { "" }),
        }
    }
    println!("Port and bind apply when Porch next starts (a --port or --bind flag wins); the rest applies at once.");
}
