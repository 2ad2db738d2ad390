//! `porch deploy PATH`: pack a folder, file or archive here and deploy it in one step
//! (`POST /__api__/porch/deploy`); with `--watch`, link the item to the folder.

use std::path::{Path, PathBuf};

use anyhow::{anyhow, Context as _};
use clap::Args;
use porch_engine::deployer::name_from_path;
use porch_engine::library::{parse_access, validate_name, validate_text};
use serde_json::{json, Value};

use super::client::{with_query, Answer, Body, Porch};

#[derive(Debug, Args)]
pub(crate) struct DeployArgs {
    /// What to deploy.
    path: PathBuf,
    /// Content name (default: derived from the path). An existing name is redeployed.
    #[arg(long)]
    name: Option<String>,
    /// Title shown to viewers.
    #[arg(long)]
    title: Option<String>,
    /// Who may view it: network (anyone who reaches Porch), local (this computer only) or
    /// link (whoever has the secret link; see `porch secret-link`). Connect's all,
    /// logged_in and acl are accepted too (acl = local).
    #[arg(long, value_name = "ACCESS")]
    access: Option<String>,
    /// Keep the item linked to the folder: the Porch server redeploys it on every save.
    #[arg(long)]
    watch: bool,
    /// Run it as this appmode instead of the detected one (e.g. static, jupyter-static,
    /// python-dash); the choice is stored with the version.
    #[arg(long, value_name = "APPMODE")]
    appmode: Option<String>,
    /// Run this entry point instead of the detected one: a file in the bundle (a page,
    /// notebook, document or script) or a Python module such as app:server.
    #[arg(long, value_name = "ENTRYPOINT")]
    entrypoint: Option<String>,
}

impl DeployArgs {
    pub(crate) async fn run(self, porch: &Porch) -> anyhow::Result<()> {
        let path = &self.path;
        if self.watch && !path.is_dir() {
            return Err(anyhow!(
                "--watch needs a folder, and {} is not one: link the folder that holds the app, notebook or site",
                path.display()
            ));
        }
        let d = self.deploy(porch).await.with_context(|| format!("cannot deploy {}", path.display()))?;
        let c = &d["content"];
        let name = c["name"].as_str().unwrap_or_default();
        let verb = if d["created"] == true { "Published" } else { "Updated" };
        println!(
            "{verb} {name} (bundle {}, {})",
            d["bundle_id"].as_str().unwrap_or_default(),
            c["app_mode"].as_str().unwrap_or_default()
        );
        if c["viewer_access"] == "link" && c["secret_link"] != true {
            eprintln!("note: {name} is visible only through a secret link; make one with `porch secret-link {name}`");
        }
        println!("{}", c["content_url"].as_str().unwrap_or_default());
        if self.watch {
            let folder = std::path::absolute(path).with_context(|| format!("cannot resolve {}", path.display()))?;
            let guid = c["guid"].as_str().unwrap_or_default();
            let link = porch
                .call(
                    reqwest::Method::PUT,
                    &format!("/__api__/porch/content/{guid}/link"),
                    // Just deployed from this folder: only later saves redeploy it.
                    Body::Json(json!({ "path": folder, "in_sync": true })),
                )
                .await
                .with_context(|| format!("cannot link {}", folder.display()))?;
            println!("Linked to {}: every save redeploys {name}", link["path"].as_str().unwrap_or_default());
            if !porch.is_serving() {
                println!("No Porch server is running on this data folder; it follows the folder once `porch serve` (or the app) runs.");
            }
        }
        Ok(())
    }

    /// Checks the options, packs the path here and uploads it; answers the deployment.
    async fn deploy(&self, porch: &Porch) -> anyhow::Result<Value> {
        // Bad options fail before anything is packed, with the engine's own words.
        validate_name(self.name.clone().unwrap_or_else(|| name_from_path(&self.path)).as_str())?;
        let overrides =
            porch_engine::runtimes::Overrides { appmode: self.appmode.clone(), entrypoint: self.entrypoint.clone() };
        overrides.check().map_err(porch_engine::Error::from)?;
        self.access.as_deref().map(parse_access).transpose()?;
        validate_text(self.title.as_deref(), None)?;
        // A long title in letters that take several bytes each would not fit in the URL
        // (`--max-request-line`): it follows in a JSON body once the item exists.
        let later = self.title.as_deref().filter(|t| t.len() > TITLE_IN_URL);
        // The server names and titles a new item after the folder or file, as it would the path.
        let file_name = self.path.file_name().map(|n| n.to_string_lossy().into_owned());
        let name = self.name.clone().unwrap_or_else(|| name_from_path(&self.path));
        let path = with_query(
            "/__api__/porch/deploy",
            &[
                ("filename", file_name.as_deref()),
                ("name", Some(name.as_str())),
                ("title", if later.is_some() { None } else { self.title.as_deref() }),
                ("access", self.access.as_deref()),
                ("appmode", self.appmode.as_deref()),
                ("entrypoint", self.entrypoint.as_deref()),
            ],
        );
        let mut d = post_packed(porch, &self.path, &path).await?.json(&path)?;
        if let Some(title) = later {
            let guid = d["content"]["guid"].as_str().unwrap_or_default().to_string();
            d["content"] = porch
                .call(
                    reqwest::Method::PATCH,
                    &format!("/__api__/v1/content/{guid}"),
                    Body::Json(json!({ "title": title })),
                )
                .await
                .context("deployed, but the title was not set")?;
        }
        Ok(d)
    }
}

/// The longest title (in bytes) sent in the deploy's URL; percent-encoded it takes up to
/// three times as much, well inside the default 8 KiB request line.
const TITLE_IN_URL: usize = 1024;

/// Packs a folder, file or archive here (in the data folder's scratch space, removed when
/// done) and posts the archive to `api_path`: `porch deploy`, and the desktop shell's drop
/// (`/porch/inspect`, `/porch/stage`, `/porch/deploy`).
pub async fn post_packed(porch: &Porch, src: &Path, api_path: &str) -> anyhow::Result<Answer> {
    let config = porch.config();
    let (src, tmp, limits) = (src.to_path_buf(), config.tmp_dir(), config.limits);
    tokio::fs::create_dir_all(&tmp).await.with_context(|| format!("cannot create {}", tmp.display()))?;
    let packed = tokio::task::spawn_blocking(move || porch_engine::bundle::pack::pack(&src, &tmp, &limits))
        .await
        .context("packing stopped")?
        // As the engine's own error, so the desktop shell shows its code (`desktop/commands.rs`).
        .map_err(porch_engine::Error::from)?;
    porch.send(reqwest::Method::POST, api_path, Body::File(packed.path().to_path_buf())).await
}
