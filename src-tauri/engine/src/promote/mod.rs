//! Promotion: moving an item to a Posit Connect server (or another Porch) in one step.
//!
//! Owns: saved targets ([`targets`]), the promotion task (prepare the bundle with a manifest,
//! check the target's runtimes, find or create the target item, carry over what maps one to
//! one, upload, deploy, follow the remote build into a Porch task, report), the reports of
//! this run's promotions, and refusing a second promotion of an item already being promoted.
//! Does not own: the item, its bundles, settings or schedules (read through the library,
//! apps and renders services), nor any HTTP route (`api/promote.rs`).
//!
//! **Failures.** Authentication, the runtime check, find/create, upload and deploy are fatal:
//! the task ends with one line naming the cause, and an item created in that run is deleted
//! again. Settings, environment variables, vanity path and access are best effort: a refusal
//! is reported and the promotion goes on. A dry run makes GET requests only.
//!
//! SECURITY: environment variable values and API keys are sent to the target only; the task
//! log and the report name variables, never their values, and never show a key.
//!
//! Concurrency: each promotion is one task on the shared tracker (it goes on if the window
//! or the CLI goes away, and stops at shutdown). The set of items being promoted and the
//! reports are std mutexes held only to read or change a map.

mod connect;
pub mod prepare;
pub mod targets;

use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use reqwest::{Method, StatusCode};
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};

use crate::apps::Apps;
use crate::error::{Error, Result};
use crate::library::Library;
use crate::renders::Renders;
use crate::shared::Shared;
use crate::store::ContentRow;
use crate::tasks::TaskLog;
use connect::{Connect, Send};
pub use prepare::Prepared;
pub use targets::{Target, TargetView, Targets};

/// Why a promotion stopped. Each message is one line a publisher can act on.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PromoteError {
    /// The item was never deployed.
    #[error("{0} has no bundle to promote; deploy it first")]
    NoBundle(String),
    /// R or Quarto content without a manifest.
    #[error("{name} has no manifest.json and Porch cannot write one for it; write one with `{command}`, deploy again, then promote")]
    NeedsManifest {
        /// The item.
        name: String,
        /// The command that writes one.
        command: String,
    },
    /// The target refused the key.
    #[error("{url} refused the API key (401{}); check the key with `porch target add`", if message.is_empty() { String::new() } else { format!(": {message}") })]
    Unauthorized {
        /// The target.
        url: String,
        /// Its message.
        message: String,
    },
    /// No answer from the target.
    #[error("cannot reach {url}: {detail}")]
    Unreachable {
        /// The target.
        url: String,
        /// The cause.
        detail: String,
    },
    /// The target's TLS certificate is not trusted.
    #[error(
        "the TLS certificate of {url} is not trusted ({detail}); pass --ca-file with the PEM of the CA that signed it"
    )]
    Certificate {
        /// The target.
        url: String,
        /// The TLS library's reason.
        detail: String,
    },
    /// The CA file cannot be used.
    #[error("cannot use the CA file {}: {detail}", path.display())]
    CaFile {
        /// The file.
        path: PathBuf,
        /// Why.
        detail: String,
    },
    /// The target answered with a redirect, not followed.
    #[error("{url} redirected to {to}; not followed (the API key would travel with it): use the server's own URL as the target")]
    Redirected {
        /// The request URL.
        url: String,
        /// Where it pointed.
        to: String,
    },
    /// A fatal request was refused.
    #[error("the target refused {request} ({status}{})", if message.is_empty() { String::new() } else { format!(": {message}") })]
    Http {
        /// `METHOD path`.
        request: String,
        /// The status.
        status: u16,
        /// The target's message.
        message: String,
    },
    /// The upload was refused as too large.
    #[error("the target refused the bundle ({bytes} bytes) as too large (413); raise its bundle size limit or make the bundle smaller")]
    TooLarge {
        /// The archive's size.
        bytes: usize,
    },
    /// The target lacks the runtime version the manifest pins.
    #[error("the target has no {runtime} {wanted} (the bundle's manifest pins {pinned}); it has {available}")]
    RuntimeMissing {
        /// `Python`, `R` or `Quarto`.
        runtime: &'static str,
        /// major.minor.
        wanted: String,
        /// The full pinned version.
        pinned: String,
        /// What the target lists.
        available: String,
    },
    /// A same-named item exists that Porch did not create.
    #[error(
        "an item named {name} already exists on {url} and Porch did not create it; pass --replace to deploy over it"
    )]
    NameTaken {
        /// The name.
        name: String,
        /// The target.
        url: String,
    },
    /// The remote build failed.
    #[error("the build on the target failed: {0}")]
    DeployFailed(String),
    /// A dry run tried to change something (a bug; refused).
    #[error("a dry run does not send {0}")]
    DryRunWrite(String),
    /// The HTTP client could not be built or the bundle not packed.
    #[error("{0}")]
    Client(String),
    /// Porch is shutting down.
    #[error("Porch is shutting down; the promotion stopped (run it again to resume)")]
    Cancelled,
    /// An engine operation failed.
    #[error(transparent)]
    Engine(#[from] Error),
}

/// What a promotion is asked to do.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct PromoteRequest {
    /// A saved target's name, or a server URL.
    pub to: String,
    /// The API key when `to` is a URL. SECURITY: never logged.
    #[serde(default)]
    pub api_key: Option<String>,
    /// A CA bundle to trust when `to` is a URL (a saved target keeps its own).
    #[serde(default)]
    pub ca_file: Option<PathBuf>,
    /// Upload and build without activating.
    #[serde(default)]
    pub draft: bool,
    /// Adopt a same-named item Porch did not create.
    #[serde(default)]
    pub replace: bool,
    /// GET requests only; print the plan.
    #[serde(default)]
    pub dry_run: bool,
}

/// The outcome of a promotion, as far as it got.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct PromotionReport {
    /// The Porch task that runs it.
    pub task_id: String,
    /// The item's name.
    pub name: String,
    /// The target's name (or URL).
    pub target: String,
    /// The target's URL.
    pub target_url: String,
    /// The item on the target, once found or created.
    pub target_guid: Option<String>,
    /// Where viewers open it on the target.
    pub content_url: Option<String>,
    /// The bundle created on the target.
    pub target_bundle_id: Option<String>,
    /// Whether this run created the target item.
    pub created: bool,
    /// Whether the bundle was left inactive.
    pub draft: bool,
    /// Whether only GET requests were made.
    pub dry_run: bool,
    /// What arrived on the target.
    pub carried_over: Vec<String>,
    /// Best-effort steps the target refused.
    pub not_carried_over: Vec<String>,
    /// What has no equivalent to carry: re-create by hand on the target.
    pub checklist: Vec<String>,
    /// Every request made to the target, `METHOD path -> status`.
    pub requests: Vec<String>,
    /// Whether the promotion ended.
    pub finished: bool,
    /// Why it stopped, if it failed.
    pub error: Option<String>,
}

/// The promotion service.
#[derive(Clone, Debug)]
pub struct Promote {
    state: Arc<State>,
}

#[derive(Debug)]
struct State {
    shared: Shared,
    library: Library,
    apps: Apps,
    renders: Renders,
    targets: Targets,
    /// Guids of items being promoted now.
    running: Mutex<HashSet<String>>,
    /// Reports of this run's promotions, by task id.
    reports: Mutex<HashMap<String, PromotionReport>>,
}

/// Frees an item for the next promotion when its task ends, however it ends.
struct Running {
    state: Arc<State>,
    guid: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.state.running.lock().unwrap_or_else(|p| p.into_inner()).remove(&self.guid);
    }
}

/// The Connect runtime fields Porch carries over (Porch's own `max_bundle_bytes` and
/// `render_timeout` have no Connect equivalent).
fn runtime_fields(c: &ContentRow) -> Vec<(&'static str, Value)> {
    let r = &c.runtime;
    let mut out = Vec::new();
    let ints = [
        ("min_processes", r.min_processes),
        ("max_processes", r.max_processes),
        ("max_conns_per_process", r.max_conns_per_process),
        ("idle_timeout", r.idle_timeout),
        ("init_timeout", r.init_timeout),
        ("connection_timeout", r.connection_timeout),
        ("read_timeout", r.read_timeout),
        ("memory_limit", r.memory_limit),
    ];
    for (k, v) in ints {
        if let Some(v) = v {
            out.push((k, json!(v)));
        }
    }
    if let Some(l) = r.load_factor {
        out.push(("load_factor", json!(l)));
    }
    out
}

/// Connect's access type for Porch's viewer access.
fn access_for(viewer_access: &crate::vocab::ViewerAccess) -> &'static str {
    if viewer_access.is_public() {
        "logged_in"
    } else {
        "acl"
    }
}

fn major_minor(v: &str) -> String {
    v.split('.').take(2).collect::<Vec<_>>().join(".")
}

fn runtime_label(r: &str) -> &'static str {
    match r {
        "python" => "Python",
        "r" => "R",
        _ => "Quarto",
    }
}

impl Promote {
    /// The service over the library, apps and renders of one data folder.
    pub(crate) fn new(shared: Shared, library: Library, apps: Apps, renders: Renders) -> Promote {
        let targets = Targets::new(&shared.config.data_dir);
        Promote {
            state: Arc::new(State {
                shared,
                library,
                apps,
                renders,
                targets,
                running: Mutex::default(),
                reports: Mutex::default(),
            }),
        }
    }

    /// The saved targets.
    pub fn targets(&self) -> &Targets {
        &self.state.targets
    }

    /// A promotion's report (this run's promotions only).
    pub fn report(&self, task_id: &str) -> Result<PromotionReport> {
        self.state
            .reports
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(task_id)
            .cloned()
            .ok_or_else(|| Error::not_found("promotion", task_id))
    }

    /// Prepares `key`'s active bundle as it would be sent (for `porch export`).
    pub async fn prepared_bundle(&self, key: &str) -> std::result::Result<Prepared, PromoteError> {
        let s = &self.state;
        let c = s.library.content(key).await?;
        prepare::prepare(&s.shared, &s.library, &s.apps, &c).await
    }

    /// Starts promoting `key`; returns the Porch task that runs it. Refused when the item is
    /// being promoted already, the target is unknown, or a URL target comes without a key.
    pub async fn start(&self, key: &str, req: PromoteRequest) -> Result<String> {
        let s = &self.state;
        let c = s.library.content(key).await?;
        let target = if targets::looks_like_url(&req.to) {
            let url = targets::normalize_url(&req.to)?;
            let api_key = req.api_key.as_deref().map(str::trim).filter(|k| !k.is_empty()).ok_or_else(|| {
                Error::Invalid(format!(
                    "promoting to {url} needs its API key (--api-key, CONNECT_API_KEY or --api-key-stdin)"
                ))
            })?;
            Target { name: url.clone(), url, api_key: api_key.to_string(), ca_file: req.ca_file.clone() }
        } else {
            let mut t = s.targets.get(&req.to).await?;
            if req.ca_file.is_some() {
                t.ca_file = req.ca_file.clone();
            }
            t
        };
        if !s.running.lock().unwrap_or_else(|p| p.into_inner()).insert(c.guid.clone()) {
            return Err(Error::Conflict(format!(
                "{} is being promoted already; wait for that promotion to end",
                c.name
            )));
        }
        let guard = Running { state: s.clone(), guid: c.guid.clone() };
        let task = s.shared.tasks.create(c.id, c.bundle_id, "promote").await?;
        let report = PromotionReport {
            task_id: task.id().to_string(),
            name: c.name.clone(),
            target: target.name.clone(),
            target_url: target.url.clone(),
            draft: req.draft,
            dry_run: req.dry_run,
            ..PromotionReport::default()
        };
        s.reports.lock().unwrap_or_else(|p| p.into_inner()).insert(task.id().to_string(), report.clone());
        let id = task.id().to_string();
        let state = s.clone();
        let cancel = s.shared.cancel.child_token();
        s.shared.spawn(async move {
            let _guard = guard;
            let mut run = Run { state: state.clone(), c, req, task, report, conn: None };
            let outcome = tokio::select! {
                r = run.go(&target) => r,
                () = cancel.cancelled() => Err(PromoteError::Cancelled),
            };
            run.end(outcome).await;
        });
        Ok(id)
    }
}

/// One promotion under way.
struct Run {
    state: Arc<State>,
    c: ContentRow,
    req: PromoteRequest,
    task: TaskLog,
    report: PromotionReport,
    conn: Option<Connect>,
}

impl Run {
    async fn log(&self, line: impl Into<String>) {
        self.task.line(line).await;
    }

    fn publish(&mut self) {
        if let Some(conn) = &self.conn {
            self.report.requests = conn.record();
        }
        self.state
            .reports
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .insert(self.report.task_id.clone(), self.report.clone());
    }

    fn conn(&self) -> std::result::Result<&Connect, PromoteError> {
        self.conn.as_ref().ok_or_else(|| PromoteError::Client("no connection to the target".into()))
    }

    async fn go(&mut self, target: &Target) -> std::result::Result<(), PromoteError> {
        let name = self.c.name.clone();
        let how = if self.req.dry_run { "Planning the promotion of" } else { "Promoting" };
        self.log(format!("{how} {name} to {} ({})", target.name, target.url)).await;
        self.conn = Some(Connect::new(target, self.req.dry_run)?);

        // The bundle, with a manifest Connect accepts.
        let s = self.state.clone();
        let prepared = prepare::prepare(&s.shared, &s.library, &s.apps, &self.c).await?;
        let mode = prepared.manifest["metadata"]["appmode"].as_str().unwrap_or("?").to_string();
        self.log(format!(
            "Bundle {} ({mode}, {} bytes): {}",
            prepared.bundle_id,
            prepared.archive.len(),
            if prepared.synthesised { "manifest written by Porch" } else { "its own manifest" }
        ))
        .await;
        for n in &prepared.notes {
            self.log(format!("  {n}")).await;
        }

        // Authentication.
        let conn = self.conn()?.clone();
        let user = conn.ok(Method::GET, "/__api__/v1/user", Send::Empty).await?;
        self.log(format!("Signed in to {} as {}", conn.base(), user["username"].as_str().unwrap_or("?"))).await;

        // Runtimes.
        for (runtime, version) in prepared.pinned() {
            let settings = conn.ok(Method::GET, &format!("/__api__/v1/server_settings/{runtime}"), Send::Empty).await?;
            let have: Vec<String> = settings["installations"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|i| i["version"].as_str().map(str::to_string))
                .collect();
            let wanted = major_minor(&version);
            if !have.iter().any(|h| major_minor(h) == wanted) {
                return Err(PromoteError::RuntimeMissing {
                    runtime: runtime_label(runtime),
                    wanted,
                    pinned: version,
                    available: if have.is_empty() { "none listed".into() } else { have.join(", ") },
                });
            }
            self.log(format!("The target has {} {wanted}", runtime_label(runtime))).await;
        }

        // Find or create.
        let existing = self.find(&conn, target).await?;
        let draft = self.req.draft;
        if self.req.dry_run {
            self.plan(existing.as_ref(), &prepared).await?;
            return Ok(());
        }
        let item = match existing {
            Some(item) => item,
            None => {
                let body = json!({ "name": name, "title": self.c.title, "description": self.c.description });
                let item = conn.ok(Method::POST, "/__api__/v1/content", Send::Json(body)).await?;
                self.report.created = true;
                self.log(format!("Created {name} on the target")).await;
                item
            }
        };
        let guid = item["guid"]
            .as_str()
            .ok_or_else(|| PromoteError::Client("the target's content answer has no guid".into()))?
            .to_string();
        self.report.target_guid = Some(guid.clone());
        self.report.content_url = item["content_url"].as_str().map(str::to_string);
        s.targets.remember(&target.url, &self.c.guid, Some(&guid)).await?;
        self.publish();

        // Settings and variables: best effort.
        let mut patch = json!({ "title": self.c.title, "description": self.c.description });
        let fields = runtime_fields(&self.c);
        for (k, v) in &fields {
            patch[*k] = v.clone();
        }
        let what = if fields.is_empty() {
            "title and description".to_string()
        } else {
            format!("title, description and {}", fields.iter().map(|(k, _)| *k).collect::<Vec<_>>().join(", "))
        };
        self.best_effort(&conn, Method::PATCH, &format!("/__api__/v1/content/{guid}"), json!(patch), &what).await;
        let vars = s.shared.store.env_vars(self.c.id).await?;
        if !vars.is_empty() {
            let names: Vec<&str> = vars.iter().map(|(n, _)| n.as_str()).collect();
            let what = format!("environment variables {}", names.join(", "));
            let body: Vec<Value> = vars.iter().map(|(n, v)| json!({ "name": n, "value": v })).collect();
            self.best_effort(
                &conn,
                Method::PATCH,
                &format!("/__api__/v1/content/{guid}/environment"),
                json!(body),
                &what,
            )
            .await;
        }

        // Upload and deploy: fatal.
        let bytes = prepared.archive.len();
        let path = format!("/__api__/v1/content/{guid}/bundles");
        let (status, bundle) = conn.send(Method::POST, &path, Send::Archive(prepared.archive)).await?;
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            return Err(PromoteError::TooLarge { bytes });
        }
        if !status.is_success() {
            return Err(conn.refusal(&Method::POST, &path, status, &bundle));
        }
        let bundle_id = match &bundle["id"] {
            Value::String(s) => s.clone(),
            Value::Number(n) => n.to_string(),
            _ => return Err(PromoteError::Client("the target's bundle answer has no id".into())),
        };
        self.report.target_bundle_id = Some(bundle_id.clone());
        self.log(format!("Uploaded bundle {bundle_id} ({bytes} bytes)")).await;
        let body = json!({ "bundle_id": bundle_id, "activate": !draft });
        let started = conn.ok(Method::POST, &format!("/__api__/v1/content/{guid}/deploy"), Send::Json(body)).await?;
        let remote = started["task_id"]
            .as_str()
            .ok_or_else(|| PromoteError::Client("the target's deploy answer has no task_id".into()))?
            .to_string();
        self.log(format!("Deploying on the target{} (task {remote}):", if draft { " as a draft" } else { "" })).await;
        self.follow(&conn, &remote).await?;
        self.report.carried_over.push(format!("bundle {bundle_id}{}", if draft { " (draft, not active)" } else { "" }));

        // Vanity path and access: best effort.
        if let Some(vanity) = self.c.vanity_path.clone() {
            let what = format!("vanity path {vanity}");
            self.best_effort(
                &conn,
                Method::PUT,
                &format!("/__api__/v1/content/{guid}/vanity"),
                json!({ "path": vanity }),
                &what,
            )
            .await;
        }
        let access = access_for(&self.c.viewer_access);
        let what = format!("access {} → {access}", self.c.viewer_access);
        self.best_effort(
            &conn,
            Method::PATCH,
            &format!("/__api__/v1/content/{guid}"),
            json!({ "access_type": access }),
            &what,
        )
        .await;
        if let Ok((StatusCode::OK, v)) =
            conn.send(Method::GET, &format!("/__api__/v1/content/{guid}"), Send::Empty).await
        {
            if let Some(u) = v["content_url"].as_str() {
                self.report.content_url = Some(u.to_string());
            }
        }
        self.checklist().await?;
        Ok(())
    }

    /// The target item promoted to before, else a same-named one (adopted with --replace).
    async fn find(&mut self, conn: &Connect, target: &Target) -> std::result::Result<Option<Value>, PromoteError> {
        let s = self.state.clone();
        if let Some(g) = s.targets.promoted(&target.url, &self.c.guid).await? {
            let path = format!("/__api__/v1/content/{g}");
            match conn.send(Method::GET, &path, Send::Empty).await? {
                (status, v) if status.is_success() => {
                    self.log(format!("Found the item promoted before ({g})")).await;
                    return Ok(Some(v));
                }
                (StatusCode::NOT_FOUND, _) => {
                    self.log(format!("The item promoted before ({g}) is gone from the target")).await;
                    if !self.req.dry_run {
                        s.targets.remember(&target.url, &self.c.guid, None).await?;
                    }
                }
                (status, v) => return Err(conn.refusal(&Method::GET, &path, status, &v)),
            }
        }
        let name = &self.c.name;
        let query: String = url_encode(name);
        let list = conn.ok(Method::GET, &format!("/__api__/v1/content?name={query}"), Send::Empty).await?;
        let same = list.as_array().into_iter().flatten().find(|i| i["name"] == name.as_str()).cloned();
        match same {
            None => Ok(None),
            Some(_) if !self.req.replace => {
                Err(PromoteError::NameTaken { name: name.clone(), url: target.url.clone() })
            }
            Some(item) => {
                self.log(format!("Adopting the existing item {name} (--replace)")).await;
                Ok(Some(item))
            }
        }
    }

    /// Prints what a promotion would do (dry run).
    async fn plan(&mut self, existing: Option<&Value>, prepared: &Prepared) -> std::result::Result<(), PromoteError> {
        let name = self.c.name.clone();
        match existing {
            Some(item) => {
                self.log(format!("Would add a bundle to {} ({})", name, item["guid"].as_str().unwrap_or("?"))).await
            }
            None => self.log(format!("Would create {name} on the target")).await,
        }
        let fields = runtime_fields(&self.c);
        self.log(format!(
            "Would set: title, description{}",
            fields.iter().map(|(k, _)| format!(", {k}")).collect::<String>()
        ))
        .await;
        let vars = self.state.shared.store.env_vars(self.c.id).await?;
        if !vars.is_empty() {
            let names: Vec<&str> = vars.iter().map(|(n, _)| n.as_str()).collect();
            self.log(format!("Would set environment variables: {}", names.join(", "))).await;
        }
        self.log(format!(
            "Would upload {} bytes and deploy{}",
            prepared.archive.len(),
            if self.req.draft { " as a draft" } else { "" }
        ))
        .await;
        if let Some(v) = &self.c.vanity_path {
            self.log(format!("Would set the vanity path {v}")).await;
        }
        self.log(format!("Would set access {}", access_for(&self.c.viewer_access))).await;
        self.checklist().await?;
        self.log("Dry run: nothing was changed on the target").await;
        Ok(())
    }

    /// A best-effort request: a refusal is reported, not fatal.
    async fn best_effort(&mut self, conn: &Connect, method: Method, path: &str, body: Value, what: &str) {
        match conn.ok(method, path, Send::Json(body)).await {
            Ok(_) => {
                self.log(format!("Set {what}")).await;
                self.report.carried_over.push(what.to_string());
            }
            Err(e) => {
                self.log(format!("Not set: {what}: {e}")).await;
                self.report.not_carried_over.push(format!("{what}: {e}"));
            }
        }
        self.publish();
    }

    /// Streams the remote task's log into this task until it ends.
    async fn follow(&mut self, conn: &Connect, remote: &str) -> std::result::Result<(), PromoteError> {
        let mut first = 0u64;
        loop {
            let t =
                conn.ok(Method::GET, &format!("/__api__/v1/tasks/{remote}?first={first}&wait=1"), Send::Empty).await?;
            for line in t["output"].as_array().into_iter().flatten() {
                self.log(format!("  | {}", line.as_str().unwrap_or_default())).await;
            }
            first = t["last"].as_u64().unwrap_or(first);
            if t["finished"] == true {
                let code = t["code"].as_i64().unwrap_or(0);
                if code != 0 {
                    let error = t["error"].as_str().unwrap_or_default();
                    return Err(PromoteError::DeployFailed(if error.is_empty() {
                        format!("exit code {code}")
                    } else {
                        error.to_string()
                    }));
                }
                return Ok(());
            }
        }
    }

    /// What does not carry over: the checklist.
    async fn checklist(&mut self) -> std::result::Result<(), PromoteError> {
        let s = self.state.clone();
        let guid = self.c.guid.clone();
        let mut list = Vec::new();
        let schedules = s.renders.schedules(&guid).await?;
        for row in &schedules {
            let d: Value = serde_json::from_str(&row.definition).unwrap_or(Value::Null);
            let kind = d["type"].as_str().unwrap_or("?");
            let every = d["schedule"].as_str().unwrap_or("");
            let zone = d["timezone"].as_str().unwrap_or("UTC");
            list.push(format!(
                "schedule {}: {kind} {every} ({zone}){} — Connect: set it in the item's Schedule panel (Connect has no stable public API to create schedules)",
                row.id,
                if row.enabled { "" } else { ", disabled" }
            ));
            if row.email {
                let n = serde_json::from_str::<Vec<String>>(&row.recipients).map(|r| r.len()).unwrap_or(0);
                list.push(format!(
                    "email after schedule {} to {n} recipient(s) — Connect: \"Send email after update\" in the Schedule panel",
                    row.id
                ));
            }
        }
        let variants = s.renders.variants(&guid).await?;
        if !variants.is_empty() {
            let names: Vec<&str> = variants.iter().map(|v| v.name.as_str()).collect();
            list.push(format!(
                "variants {} — Connect's variants are parameterised R Markdown only; re-create them there or as separate items",
                names.join(", ")
            ));
        }
        let renders = s.renders.renders(&guid).await?;
        if !renders.is_empty() {
            list.push(format!("render history ({} renders) stays on Porch — Connect renders on deploy", renders.len()));
        }
        if self.c.viewer_access.needs_link() || self.c.link_token_hash.is_some() {
            list.push(
                "secret link — Connect has no equivalent; the item is \"acl\" there: add named viewers on Connect"
                    .to_string(),
            );
        }
        if !list.is_empty() {
            self.log("Not carried over (re-create by hand on the target):").await;
            for l in &list {
                self.log(format!("  [ ] {l}")).await;
            }
        }
        self.report.checklist = list;
        self.publish();
        Ok(())
    }

    /// Cleans up after a failure, writes the report's end and finishes the task.
    async fn end(&mut self, outcome: std::result::Result<(), PromoteError>) {
        if let Err(e) = &outcome {
            self.report.error = Some(e.to_string());
            let cancelled = matches!(e, PromoteError::Cancelled);
            if let (true, false, Some(guid), Some(conn)) =
                (self.report.created, cancelled, self.report.target_guid.clone(), self.conn.clone())
            {
                match conn.send(Method::DELETE, &format!("/__api__/v1/content/{guid}"), Send::Empty).await {
                    Ok((status, _)) if status.is_success() || status == StatusCode::NOT_FOUND => {
                        self.log(format!("Deleted the item this promotion created on the target ({guid})")).await;
                        let _ = self.state.targets.remember(&self.report.target_url, &self.c.guid, None).await;
                        self.report.target_guid = None;
                        self.report.content_url = None;
                    }
                    Ok((status, _)) => {
                        self.log(format!(
                            "Left on the target: item {guid} (deleting it answered {status}); delete it by hand"
                        ))
                        .await
                    }
                    Err(e) => self.log(format!("Left on the target: item {guid} ({e}); delete it by hand")).await,
                }
            }
        } else if !self.report.dry_run {
            let url = self.report.content_url.clone().unwrap_or_else(|| self.report.target_url.clone());
            self.log(format!("Promoted {} to {url}", self.c.name)).await;
        }
        self.report.finished = true;
        self.publish();
        let result = outcome.map_err(PromoteError::into_error);
        self.task.finish(&result).await;
    }
}

/// Percent-encodes a query value.
fn url_encode(s: &str) -> String {
    percent_encoding::utf8_percent_encode(s, percent_encoding::NON_ALPHANUMERIC).to_string()
}

impl PromoteError {
    /// The engine error this folds into: its line and its code.
    pub fn into_error(self) -> Error {
        match self {
            PromoteError::Engine(e) => e,
            other => Error::Promotion { code: other.code(), source: Box::new(other) },
        }
    }

    /// The code a caller branches on.
    pub fn code(&self) -> crate::error::ErrorCode {
        use crate::error::ErrorCode;
        match self {
            PromoteError::Engine(e) => e.code(),
            PromoteError::NoBundle(_) => ErrorCode::NotFound,
            PromoteError::NeedsManifest { .. } | PromoteError::RuntimeMissing { .. } => ErrorCode::InvalidManifest,
            PromoteError::Unauthorized { .. } => ErrorCode::Unauthorized,
            PromoteError::NameTaken { .. } => ErrorCode::Conflict,
            PromoteError::CaFile { .. } | PromoteError::DryRunWrite(_) => ErrorCode::InvalidRequest,
            PromoteError::Cancelled => ErrorCode::Busy,
            PromoteError::Unreachable { .. }
            | PromoteError::Certificate { .. }
            | PromoteError::Redirected { .. }
            | PromoteError::Http { .. }
            | PromoteError::TooLarge { .. }
            | PromoteError::DeployFailed(_)
            | PromoteError::Client(_) => ErrorCode::Conflict,
        }
    }
}
