//! Rendered content: runs a notebook, Quarto document or R Markdown report start to finish
//! and keeps every result.
//!
//! Each render gets `<data_dir>/renders/<id>/` with a fresh working copy of the bundle
//! (`work/`, removed afterwards), the output (`output/`) and the full log (`log.txt`).
//! Only a successful render can become the one viewers see, and it does so by one row
//! update, so a failed render never replaces the previous output. Renders take a slot
//! from a semaphore (one at a time by default) so a laptop is not swamped.

use crate::vocab::{RenderStatus, Trigger};
use std::path::{Path, PathBuf};
use tokio::io::AsyncWriteExt;

use super::Renders;
use crate::bundle::Manifest;
use crate::error::{Error, Result};
use crate::store::{ContentRow, RenderRow, VariantRow};
use crate::tasks::TaskLog;

/// The program and arguments of one render.
struct RenderCommand {
    program: PathBuf,
    args: Vec<String>,
    env: Vec<(String, String)>,
}

fn first_with_ext(dir: &Path, ext: &str) -> Option<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .ok()?
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| n.to_ascii_lowercase().ends_with(ext))
        .collect();
    names.sort();
    names.into_iter().next()
}

/// The page to serve at the root of a render's output.
pub fn primary_page(output: &Path) -> Option<String> {
    if output.join("index.html").is_file() {
        return Some("index.html".into());
    }
    first_with_ext(output, ".html")
}

/// Whether a file starts as a web page does: with `<` (`<!DOCTYPE html>`, `<html>`),
/// after any byte-order mark and white space.
fn looks_like_html(path: &Path) -> bool {
    use std::io::Read;
    let mut head = [0u8; 512];
    let n = std::fs::File::open(path).and_then(|mut f| f.read(&mut head)).unwrap_or(0);
    let head = head[..n].strip_prefix(b"\xEF\xBB\xBF").unwrap_or(&head[..n]);
    head.iter().find(|b| !b.is_ascii_whitespace()) == Some(&b'<')
}

/// A render's failure that Porch found (not its program): written to the render's log and
/// the task's, and returned as the error.
async fn failed_with(logfile: &mut tokio::fs::File, log: &TaskLog, msg: String) -> Error {
    let _ = logfile.write_all(format!("{msg}\n").as_bytes()).await;
    let _ = logfile.flush().await;
    log.line(msg.clone()).await;
    Error::Failed(msg)
}

fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).into_iter().flatten().flatten() {
            match e.metadata() {
                Ok(m) if m.is_dir() => stack.push(e.path()),
                Ok(m) => total += m.len(),
                Err(_) => {}
            }
        }
    }
    total
}

fn copy_tree(from: &Path, to: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        let (src, dst) = (e.path(), to.join(e.file_name()));
        let ft = e.file_type()?;
        if ft.is_dir() {
            copy_tree(&src, &dst)?;
        } else if ft.is_symlink() {
            std::os::unix::fs::symlink(std::fs::read_link(&src)?, &dst)?;
        } else {
            std::fs::copy(&src, &dst)?;
        }
    }
    Ok(())
}

impl Renders {
    /// The folder of one render.
    pub(crate) fn render_dir(&self, id: i64) -> PathBuf {
        self.shared.config.data_dir.join("renders").join(id.to_string())
    }

    /// Starts rendering an item's active bundle now; returns the task id.
    pub async fn render_now(&self, key: &str, trigger: Trigger) -> Result<String> {
        self.render_variant_now(key, None, trigger).await
    }

    /// Starts rendering an item (or one of its variants) now; returns the task id.
    pub async fn render_variant_now(&self, key: &str, variant: Option<i64>, trigger: Trigger) -> Result<String> {
        let c = self.library.content(key).await?;
        if crate::runtime_kind(&c.app_mode) != crate::RuntimeKind::Rendered {
            return Err(Error::Invalid(format!("{} is {} content, which is not rendered", c.name, c.app_mode)));
        }
        let variant = match variant {
            Some(id) => Some(self.variant_of(&c, id).await?),
            None => None,
        };
        let bundle_id = c.bundle_id.ok_or_else(|| Error::Invalid(format!("{} has not been deployed yet", c.name)))?;
        let (_, b) = self.library.bundle(&c.guid, bundle_id).await?;
        let manifest = b.require_manifest()?;
        let log = self.shared.tasks.create(c.id, Some(bundle_id), "render").await?;
        let id = log.id().to_string();
        let engine = self.clone();
        self.shared.tracker.spawn(async move {
            let outcome = engine
                .run_render_variant(&log, &c, variant.as_ref(), bundle_id, &manifest, &trigger, true)
                .await
                .map(|_| ());
            log.finish(&outcome).await;
        });
        Ok(id)
    }

    /// Whether an item (or one of its variants) is rendering or queued to.
    pub(crate) fn is_rendering(&self, content_id: i64, variant: Option<i64>) -> bool {
        self.state.rendering.lock().unwrap_or_else(|p| p.into_inner()).contains(&(content_id, variant.unwrap_or(0)))
    }

    /// An item's render history, newest first.
    pub async fn renders(&self, key: &str) -> Result<Vec<RenderRow>> {
        let c = self.library.content(key).await?;
        self.shared.store.renders(c.id).await
    }

    /// The full log of one render.
    pub async fn render_log(&self, key: &str, id: i64) -> Result<String> {
        let c = self.library.content(key).await?;
        if !self.shared.store.renders(c.id).await?.iter().any(|r| r.id == id) {
            return Err(Error::not_found("render", id));
        }
        let path = self.render_dir(id).join("log.txt");
        Ok(tokio::fs::read_to_string(&path).await.unwrap_or_default())
    }

    /// Renders `bundle_id` of `c` into a new render folder, streaming output into `log`.
    /// With `publish`, a success becomes what viewers see. Returns the render id.
    pub(crate) async fn run_render(
        &self,
        log: &TaskLog,
        c: &ContentRow,
        bundle_id: i64,
        manifest: &Manifest,
        trigger: &Trigger,
        publish: bool,
    ) -> Result<i64> {
        self.run_render_variant(log, c, None, bundle_id, manifest, trigger, publish).await
    }

    /// [`Renders::run_render`] for a variant: its parameters go to the document, and a
    /// published success becomes what viewers of the variant see.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn run_render_variant(
        &self,
        log: &TaskLog,
        c: &ContentRow,
        variant: Option<&VariantRow>,
        bundle_id: i64,
        manifest: &Manifest,
        trigger: &Trigger,
        publish: bool,
    ) -> Result<i64> {
        let variant_id = variant.map(|v| v.id);
        let _busy = Busy::mark(self, c.id, variant_id);
        let _awake = self.awake.render(&c.guid, c.title.as_deref().filter(|t| !t.is_empty()).unwrap_or(&c.name));
        if *trigger == Trigger::Manual {
            // After a deploy under way has activated its bundle.
            drop(self.deploying(c.id).await);
        }
        let _slot = self.state.render_slots.acquire().await.map_err(|_| Error::ShuttingDown)?;
        // A render asked for now or by a schedule renders what is active when its turn
        // comes: a deploy that activated a newer bundle while it waited (the deploy's own
        // render went first) must not be replaced by the version before it.
        let newer;
        let (bundle_id, manifest) = match trigger {
            Trigger::Manual | Trigger::Schedule => match self.library.content(&c.guid).await?.bundle_id {
                Some(active) if active != bundle_id => {
                    let (_, b) = self.library.bundle(&c.guid, active).await?;
                    newer = b.require_manifest()?;
                    log.line(format!("Bundle {active} was activated while this render waited; rendering it")).await;
                    (active, &newer)
                }
                _ => (bundle_id, manifest),
            },
            _ => (bundle_id, manifest),
        };
        let id = self.shared.store.insert_render(c.id, variant_id, bundle_id, trigger, &crate::time::now()).await?;
        let dir = self.render_dir(id);
        let (work, output) = (dir.join("work"), dir.join("output"));
        let params = match variant {
            Some(v) => {
                log.line(format!("Render {id} of {}, variant {:?} ({trigger})", c.name, v.name)).await;
                let params = super::variants::parameters(&v.parameters);
                log.line(format!("Parameters: {}", serde_json::Value::Object(params.clone()))).await;
                params
            }
            None => {
                log.line(format!("Render {id} of {} ({trigger})", c.name)).await;
                Params::new()
            }
        };
        let result = self.render_into(log, c, bundle_id, manifest, &params, &dir, &work, &output).await;
        let _ = tokio::fs::remove_dir_all(&work).await;
        let active = match self.library.content(&c.guid).await {
            Ok(now) => now.bundle_id,
            Err(Error::NotFound { .. }) => {
                // Removed during the render: its row went with the item, and so do its files.
                self.forget_render_files(&[id]).await;
                return Err(result
                    .err()
                    .unwrap_or_else(|| Error::Failed(format!("{} was removed during the render", c.name))));
            }
            Err(e) => {
                // The render is still recorded; a success is then not published.
                tracing::warn!(content = %c.guid, error = %e, "cannot read the item after its render");
                None
            }
        };
        let now = crate::time::now();
        match result {
            Ok(()) => {
                let size = dir_size(&output) as i64;
                // Never over a newer version: with several render slots, a deploy may have
                // activated another bundle while this one rendered (a deploy's own renders
                // publish their bundle once it is active).
                let publish = publish && {
                    if active != Some(bundle_id) {
                        log.line(format!(
                            "Not published: bundle {} was activated while bundle {bundle_id} rendered",
                            active.map_or_else(|| "none".into(), |b| b.to_string())
                        ))
                        .await;
                    }
                    active == Some(bundle_id)
                };
                self.shared.store.finish_render(id, true, "", size, publish, &now).await?;
                log.line(format!("Render {id} succeeded ({size} bytes of output)")).await;
                self.prune_renders(c.id, variant_id).await;
                if publish {
                    self.library.changed(&c.guid).await?;
                }
                self.shared.emit(crate::events::Event::RenderFinished {
                    guid: c.guid.clone(),
                    render_id: id.to_string(),
                    trigger: trigger.clone(),
                    status: RenderStatus::Success,
                    error: String::new(),
                });
                Ok(id)
            }
            Err(e) => {
                let msg = e.to_string();
                self.shared.store.finish_render(id, false, &msg, 0, false, &now).await?;
                self.shared.emit(crate::events::Event::RenderFinished {
                    guid: c.guid.clone(),
                    render_id: id.to_string(),
                    trigger: trigger.clone(),
                    status: RenderStatus::Failed,
                    error: msg,
                });
                Err(e)
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn render_into(
        &self,
        log: &TaskLog,
        c: &ContentRow,
        bundle_id: i64,
        manifest: &Manifest,
        params: &Params,
        dir: &Path,
        work: &Path,
        output: &Path,
    ) -> Result<()> {
        let bundle_dir = self.shared.bundle_dir(bundle_id);
        {
            let (from, to) = (bundle_dir.clone(), work.to_path_buf());
            tokio::task::spawn_blocking(move || copy_tree(&from, &to))
                .await
                .map_err(Error::failed("copying the bundle stopped"))?
                .map_err(Error::io("copying the bundle for rendering", work))?;
        }
        tokio::fs::create_dir_all(output).await.map_err(Error::io("creating the render output folder", output))?;
        let cmd = self.render_command(log, c, manifest, params, &bundle_dir, dir, work, output).await?;
        let mut logfile =
            tokio::fs::File::create(dir.join("log.txt")).await.map_err(Error::io("creating the render log", dir))?;
        let mut command = crate::runner::Cmd::new(&cmd.program);
        command.args(&cmd.args).envs(cmd.env.iter().map(|(k, v)| (k, v))).current_dir(work);
        log.line(format!("$ {} {}", cmd.program.display(), cmd.args.join(" "))).await;
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let logs = crate::runner::Logs {
            label: format!("render of {}", c.guid),
            sink: crate::runner::Sink::Channel(tx),
            tail_lines: 0,
        };
        // SECURITY: this runs the bundle's code; the runner puts it in its own process
        // group that dies with Porch.
        let mut events = self.shared.subscribe();
        let child = self
            .shared
            .runner
            .spawn(&command, logs)
            .map_err(Error::failed(format!("cannot run {}", cmd.program.display())))?;
        let mut tail: std::collections::VecDeque<String> = std::collections::VecDeque::new();
        let limit = match c.runtime.render_timeout.filter(|s| *s > 0) {
            Some(secs) => std::time::Duration::from_secs(secs as u64),
            None => self.shared.config.render_timeout,
        };
        // The limit covers output and exit together: a grandchild holding the pipes open
        // counts as still running.
        let run = async {
            while let Some(line) = rx.recv().await {
                let _ = logfile.write_all(format!("{line}\n").as_bytes()).await;
                if tail.len() == 15 {
                    tail.pop_front();
                }
                tail.push_back(line.clone());
                log.line(line).await;
            }
            child.exited().await
        };
        // The item removed meanwhile (`porch rm`): the render stops.
        let removed = async {
            loop {
                match events.recv().await {
                    Ok(crate::events::Event::ContentDeleted { guid }) if guid == c.guid => return,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => std::future::pending::<()>().await,
                    _ => {}
                }
            }
        };
        let finished = tokio::select! {
            f = tokio::time::timeout(limit, run) => Some(f),
            () = removed => None,
        };
        let Some(finished) = finished else {
            child.signal(crate::runner::Signal::Kill);
            let _ = child.exited().await;
            return Err(Error::Failed(format!("{} was removed during the render", c.name)));
        };
        let status = match finished {
            Ok(crate::runner::Exit::Unknown(e)) => {
                return Err(Error::Failed(format!("the render did not finish: {e}")))
            }
            Ok(exit) => exit,
            Err(_) => {
                // Its whole process group: kernels, quarto's deno and pandoc, R.
                child.signal(crate::runner::Signal::Kill);
                let _ = child.exited().await;
                let msg = format!(
                    "the render ran past its time limit of {} and was stopped ({})",
                    crate::time::human_duration(limit),
                    if c.runtime.render_timeout.is_some() {
                        "the item's render_timeout"
                    } else {
                        "porch serve --render-timeout"
                    }
                );
                return Err(failed_with(&mut logfile, log, msg).await);
            }
        };
        let _ = logfile.flush().await;
        if !status.success() {
            // Porch stopping ends its children: not the document's failure (the same words a
            // render cut short by a crash gets at the next start).
            if self.shared.cancel.is_cancelled() {
                return Err(Error::Failed("interrupted: Porch stopped during the render".into()));
            }
            let last = tail.into_iter().collect::<Vec<_>>().join("\n");
            return Err(Error::Failed(format!("the render failed ({status}); last lines:\n{last}")));
        }
        let Some(page) = primary_page(output) else {
            return Err(Error::Failed("the render finished but produced no HTML page".into()));
        };
        if !looks_like_html(&output.join(&page)) {
            // rmarkdown writes any format to the name it is given (`word_document` made a
            // .docx called index.html, served as a page of binary).
            let msg = "the render made a file that is not a web page (the document's output format is \
                       not HTML); Porch serves HTML: use `output: html_document` (R Markdown) or \
                       `format: html` (Quarto)";
            return Err(failed_with(&mut logfile, log, msg.into()).await);
        }
        Ok(())
    }

    #[allow(clippy::too_many_arguments)]
    async fn render_command(
        &self,
        log: &TaskLog,
        c: &ContentRow,
        manifest: &Manifest,
        params: &Params,
        bundle_dir: &Path,
        dir: &Path,
        work: &Path,
        output: &Path,
    ) -> Result<RenderCommand> {
        let origin = self.shared.default_origin();
        let publisher_vars = self.shared.store.env_vars(c.id).await?;
        let mut env = crate::runtimes::connect_env(&origin, &c.guid, Some(self.shared.content_key()), &publisher_vars);
        env.push((
            "RSC_REPORT_NAME".into(),
            c.title.clone().filter(|t| !t.is_empty()).unwrap_or_else(|| c.name.clone()),
        ));
        env.push(("RSC_REPORT_URL".into(), format!("{origin}/content/{}/", c.guid)));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
        let forward = {
            let log = log.clone();
            self.shared.tracker.spawn(async move {
                while let Some(line) = rx.recv().await {
                    log.line(line).await;
                }
            })
        };
        let out = output.display().to_string();
        let cmd = match manifest.app_mode.as_str() {
            "jupyter-static" => {
                let env_py =
                    self.apps.environments().python(bundle_dir, manifest, crate::runtimes::NOTEBOOK_EXTRAS, &tx).await;
                drop(tx);
                let _ = forward.await;
                let py = env_py?;
                let entry = manifest
                    .entrypoint
                    .clone()
                    .or_else(|| first_with_ext(work, ".ipynb"))
                    .ok_or_else(|| Error::Invalid("the bundle has no notebook to render".into()))?;
                let jupyter = manifest.raw.get("jupyter");
                let flag = |k: &str| jupyter.and_then(|j| j.get(k)).and_then(|v| v.as_bool()).unwrap_or(false);
                // The kernel talks over Unix sockets, not TCP ports: renders running side by side
                // (or beside other Jupyter kernels) cannot race for a port, and no traffic
                // goes over the network stack.
                let mut args: Vec<String> = [
                    "-m",
                    "nbconvert",
                    "--to",
                    "html",
                    "--execute",
                    "--KernelManager.transport=ipc",
                    "--output-dir",
                    &out,
                    "--output",
                    "index",
                ]
                .iter()
                .map(|s| s.to_string())
                .collect();
                if !params.is_empty() {
                    inject_notebook_parameters(work, &entry, params).await?;
                }
                if flag("hide_all_input") {
                    args.push("--no-input".into());
                } else if flag("hide_tagged_input") {
                    args.push("--TagRemovePreprocessor.remove_input_tags=hide_input".into());
                }
                args.push(entry);
                env.push((
                    "PATH".into(),
                    format!("{}:{}", py.bin_dir.display(), std::env::var("PATH").unwrap_or_default()),
                ));
                RenderCommand { program: py.python, args, env }
            }
            "rmd-static" => {
                let renv = self.apps.environments().r(bundle_dir, manifest, &["rmarkdown"], &tx).await;
                drop(tx);
                let _ = forward.await;
                let r = renv?;
                let entry = manifest
                    .entrypoint
                    .clone()
                    .or_else(|| {
                        manifest.raw.pointer("/metadata/primary_rmd").and_then(|v| v.as_str()).map(str::to_string)
                    })
                    .or_else(|| first_with_ext(work, ".rmd"))
                    .ok_or_else(|| Error::Invalid("the bundle has no .Rmd to render".into()))?;
                env.push(("PORCH_RENDER_INPUT".into(), entry));
                env.push(("PORCH_RENDER_OUTPUT".into(), out));
                // A variant's parameters override the document's `params:` defaults.
                env.push((
                    "PORCH_RENDER_PARAMS".into(),
                    if params.is_empty() {
                        String::new()
                    } else {
                        serde_json::Value::Object(params.clone()).to_string()
                    },
                ));
                let expr = "p <- Sys.getenv('PORCH_RENDER_PARAMS'); \
                            rmarkdown::render(Sys.getenv('PORCH_RENDER_INPUT'), output_dir = Sys.getenv('PORCH_RENDER_OUTPUT'), \
                            output_file = 'index.html', envir = new.env(), \
                            params = if (nzchar(p)) jsonlite::fromJSON(p, simplifyVector = TRUE) else NULL)";
                RenderCommand { program: r.rscript, args: vec!["-e".into(), expr.into()], env }
            }
            "quarto-static" => {
                drop(tx);
                let _ = forward.await;
                let quarto = std::env::var_os("QUARTO_PATH")
                    .map(PathBuf::from)
                    .filter(|p| p.is_file())
                    .or_else(|| which("quarto"))
                    .ok_or_else(|| {
                        Error::Invalid(
                            "Quarto is not installed: install the Quarto CLI and put `quarto` on PATH (or set QUARTO_PATH)".into(),
                        )
                    })?;
                let mut args = vec!["render".to_string()];
                if let Some(e) = &manifest.entrypoint {
                    args.push(e.clone());
                }
                args.extend(["--output-dir".to_string(), out]);
                args.extend(quarto_params_args(params, dir).await?);
                RenderCommand { program: quarto, args, env }
            }
            other => {
                drop(tx);
                let _ = forward.await;
                return Err(Error::Invalid(format!("{other} content is not rendered")));
            }
        };
        Ok(cmd)
    }

    /// Keeps the newest successful renders of the item (or of one variant) and the current
    /// one; failed ones stay.
    async fn prune_renders(&self, content_id: i64, variant: Option<i64>) {
        let Ok(all) = self.shared.store.renders(content_id).await else { return };
        let old: Vec<i64> = all
            .iter()
            .filter(|r| r.variant_id == variant && r.status == RenderStatus::Success)
            .skip(self.shared.config.keep_renders.max(1))
            .filter(|r| !r.current)
            .map(|r| r.id)
            .collect();
        if old.is_empty() {
            return;
        }
        if self.shared.store.delete_renders(&old).await.is_ok() {
            self.forget_render_files(&old).await;
        }
    }

    /// Removes render folders (and their cached files) whose rows are gone.
    pub(crate) async fn forget_render_files(&self, ids: &[i64]) {
        for id in ids {
            self.library.files().forget_bundle(-id);
            let _ = tokio::fs::remove_dir_all(self.render_dir(*id)).await;
        }
    }
}

/// Marks an item (or one of its variants) as rendering, queued or running, until dropped.
struct Busy<'a> {
    engine: &'a Renders,
    key: (i64, i64),
}

impl<'a> Busy<'a> {
    fn mark(engine: &'a Renders, content_id: i64, variant: Option<i64>) -> Busy<'a> {
        let key = (content_id, variant.unwrap_or(0));
        engine.state.rendering.lock().unwrap_or_else(|p| p.into_inner()).insert(key);
        Busy { engine, key }
    }
}

impl Drop for Busy<'_> {
    fn drop(&mut self) {
        self.engine.state.rendering.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.key);
    }
}

/// Parameters of a render: a variant's named values.
pub(crate) type Params = serde_json::Map<String, serde_json::Value>;

/// Writes `params` into the working copy of a notebook as papermill does: a code cell tagged
/// `injected-parameters` right after the cell tagged `parameters` (or first, when there is
/// none), so later cells see the variant's values in place of the defaults.
async fn inject_notebook_parameters(work: &Path, entry: &str, params: &Params) -> Result<()> {
    let inside = Path::new(entry).components().all(|c| matches!(c, std::path::Component::Normal(_)));
    let path = work.join(entry);
    let regular = tokio::fs::symlink_metadata(&path).await.map(|m| m.is_file()).unwrap_or(false);
    if !inside || !regular {
        return Err(Error::Invalid(format!("the entry point {entry:?} is not a notebook file inside the bundle")));
    }
    let path = path.as_path();
    let text = tokio::fs::read(path).await.map_err(Error::io("reading the notebook", path))?;
    let mut nb: serde_json::Value =
        serde_json::from_slice(&text).map_err(|e| Error::Invalid(format!("the notebook is not valid JSON: {e}")))?;
    super::variants::inject_parameters(&mut nb, params)?;
    let out = serde_json::to_vec(&nb).map_err(|e| Error::Invalid(format!("cannot write the notebook: {e}")))?;
    tokio::fs::write(path, out).await.map_err(Error::io("writing the notebook", path))
}

/// Quarto's `--execute-params` for a variant: the parameters as a YAML (JSON) file beside
/// the render, outside the working copy so a project render does not pick it up.
async fn quarto_params_args(params: &Params, dir: &Path) -> Result<Vec<String>> {
    if params.is_empty() {
        return Ok(Vec::new());
    }
    let file = dir.join("params.yml");
    tokio::fs::write(&file, serde_json::Value::Object(params.clone()).to_string())
        .await
        .map_err(Error::io("writing the render parameters", &file))?;
    Ok(vec!["--execute-params".into(), file.display().to_string()])
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).map(|p| p.join(program)).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .find(|p| p.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn quarto_gets_variant_parameters_as_an_execute_params_file() {
        let dir = tempfile::tempdir().expect("tmp");
        assert!(quarto_params_args(&Params::new(), dir.path()).await.expect("none").is_empty());
        let params = crate::renders::variants::validate_parameters(&serde_json::json!({"region": "south", "n": 2}))
            .expect("valid");
        let args = quarto_params_args(&params, dir.path()).await.expect("args");
        let file = dir.path().join("params.yml");
        assert_eq!(args, vec!["--execute-params".to_string(), file.display().to_string()]);
        let written: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&file).expect("file")).expect("json is yaml");
        assert_eq!(written, serde_json::json!({"region": "south", "n": 2}));
    }

    #[tokio::test]
    async fn notebook_parameters_only_go_into_a_notebook_inside_the_work_copy() {
        let work = tempfile::tempdir().expect("tmp");
        let params = crate::renders::variants::validate_parameters(&serde_json::json!({"x": 1})).expect("valid");
        std::fs::write(work.path().join("nb.ipynb"), r#"{"cells": [], "nbformat": 4, "nbformat_minor": 4}"#)
            .expect("write");
        inject_notebook_parameters(work.path(), "nb.ipynb", &params).await.expect("inject");
        let nb: serde_json::Value =
            serde_json::from_slice(&std::fs::read(work.path().join("nb.ipynb")).expect("read")).expect("json");
        assert_eq!(nb["cells"][0]["source"], "# Parameters\nx = 1\n");
        for bad in ["../nb.ipynb", "/etc/passwd", "missing.ipynb"] {
            let e = inject_notebook_parameters(work.path(), bad, &params).await.expect_err("refused").to_string();
            assert!(e.contains("not a notebook file inside the bundle"), "{e}");
        }
    }
}
