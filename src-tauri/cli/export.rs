//! `porch export NAME --to DIR [--force]`: the item's bundle as Connect takes it
//! (`NAME.tar.gz`, with a manifest) and a README.md with the `rsconnect deploy bundle`
//! command and the settings and variable names to re-create.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context as _};
use clap::Args;
use serde_json::Value;

use super::client::Porch;

#[derive(Debug, Args)]
pub(crate) struct ExportArgs {
    /// The content name.
    name: String,
    /// The folder to write into (created if missing; must be empty unless --force).
    #[arg(long, value_name = "DIR")]
    to: PathBuf,
    /// Write into a folder that is not empty (files of the same names are replaced).
    #[arg(long)]
    force: bool,
}

/// The Connect runtime fields a README lists.
const FIELDS: &[&str] = &[
    "min_processes",
    "max_processes",
    "max_conns_per_process",
    "load_factor",
    "idle_timeout",
    "init_timeout",
    "connection_timeout",
    "read_timeout",
    "memory_limit",
];

fn is_empty_dir(dir: &Path) -> anyhow::Result<bool> {
    match std::fs::read_dir(dir) {
        Ok(mut entries) => Ok(entries.next().is_none()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(true),
        Err(e) => Err(e).with_context(|| format!("cannot read {}", dir.display())),
    }
}

impl ExportArgs {
    pub(crate) async fn run(self, porch: &Porch) -> anyhow::Result<()> {
        let name = &self.name;
        if !self.force && !is_empty_dir(&self.to)? {
            bail!("{} is not empty; choose an empty folder or pass --force", self.to.display());
        }
        let c = porch.content_by_name(name).await?;
        let guid = c["guid"].as_str().unwrap_or_default().to_string();
        let archive = porch.get_bytes(&format!("/__api__/porch/content/{guid}/export")).await?;
        let env = porch.get(&format!("/__api__/v1/content/{guid}/environment")).await?;
        std::fs::create_dir_all(&self.to).with_context(|| format!("cannot create {}", self.to.display()))?;
        let file = format!("{name}.tar.gz");
        let path = self.to.join(&file);
        std::fs::write(&path, &archive).with_context(|| format!("cannot write {}", path.display()))?;
        let readme = readme(name, &file, &c, &env);
        let readme_path = self.to.join("README.md");
        std::fs::write(&readme_path, readme).with_context(|| format!("cannot write {}", readme_path.display()))?;
        println!("Wrote {} ({} bytes) and {}", path.display(), archive.len(), readme_path.display());
        Ok(())
    }
}

fn readme(name: &str, file: &str, c: &Value, env: &Value) -> String {
    let title = c["title"].as_str().filter(|t| !t.is_empty()).unwrap_or(name);
    let mut out = format!(
        "# {title}\n\n`{file}` is the Porch item `{name}`'s active bundle with a `manifest.json` Posit Connect \
         accepts.\n\n## Deploy it to Posit Connect\n\n```sh\nexport CONNECT_API_KEY=…\nrsconnect deploy bundle \
         --server https://connect.example.com --api-key \"$CONNECT_API_KEY\" --new --title '{}' {file}\n```\n\n\
         (`--new` creates an item; `--app-id GUID` deploys to an existing one instead.) \
         Or let Porch do all of this in one step: `porch promote {name} --to TARGET`.\n\n## Re-create by hand\n\n",
        title.replace('\'', "'\\''")
    );
    let settings: Vec<String> =
        FIELDS.iter().filter(|f| !c[**f].is_null()).map(|f| format!("- `{f}`: {}", c[*f])).collect();
    if settings.is_empty() {
        out.push_str("Runtime settings: the server's defaults.\n\n");
    } else {
        out.push_str("Runtime settings (the item's Settings panel on Connect):\n\n");
        out.push_str(&settings.join("\n"));
        out.push_str("\n\n");
    }
    let names: Vec<&str> = env.as_array().into_iter().flatten().filter_map(Value::as_str).collect();
    if names.is_empty() {
        out.push_str("Environment variables: none.\n\n");
    } else {
        out.push_str("Environment variables (names only; set their values on Connect, in Vars):\n\n");
        for n in names {
            out.push_str(&format!("- `{n}`\n"));
        }
        out.push('\n');
    }
    if let Some(v) = c["vanity_url"].as_str().or(c["vanity_path"].as_str()).filter(|v| !v.is_empty()) {
        out.push_str(&format!("Vanity path: `{v}`\n\n"));
    }
    let access = c["access_type"].as_str().unwrap_or("");
    out.push_str(&format!(
        "Access on Porch: `{access}`. On Connect, \"all users, login required\" is `logged_in`; \"specific \
         users or groups\" is `acl`. A Porch secret link has no Connect equivalent.\n\nSchedules, variants, \
         email and render history do not travel with a bundle: re-create schedules in the item's Schedule panel.\n"
    ));
    out
}
