//! Runtime environments for content: Python virtualenvs built with uv, and R checks.
//!
//! Owns `<data_dir>/envs/` (one folder per environment, named by its hash), the uv cache at
//! `<data_dir>/cache/uv`, and the knowledge of where uv lives, tried in this order (see
//! [`uv_candidates`]): the uv packaged with Porch (`/usr/lib/porch/uv` in the `.deb`, passed in
//! by the CLI), Porch's own copy in `<data_dir>/tools/bin/uv`, `uv` on `PATH`, and
//! `python3 -m uv`. The packaged uv comes first so that an installed Porch builds
//! environments with the uv it was tested with, whatever else the machine has; the deploy log
//! names the uv used. Does not launch content: a runtime takes the [`PythonEnv`] or [`REnv`]
//! returned here and builds its own command.
//!
//! **Caching.** A Python environment's name is a hash of the interpreter (version and real
//! path), the normalised content of every requirements file reached (includes followed,
//! see the private `requirements` submodule) and the launcher's extras. Environments are shared
//! by every item and deploy with the same key, so redeploying unchanged requirements
//! installs nothing. Nothing here deletes old environments yet.
//!
//! **Atomicity.** An environment is built in `<data_dir>/envs/.tmp-<hash>-*` and renamed to
//! `<data_dir>/envs/<hash>` only once complete, with `.porch-env.json` written last before
//! the rename; a folder without that file is never used. A failed or cancelled build
//! leaves nothing behind (the temporary folder is removed, the install child is killed on
//! drop) and never touches an existing good environment. uv venvs are made
//! `--relocatable`; for the pip fallback, absolute paths to the temporary folder in `bin/`
//! and `pyvenv.cfg` are rewritten before the rename.
//!
//! **Concurrency.** [`Environments`] is shared (`Arc`) by all deploys. Builds of the same
//! hash are serialised by a per-hash `tokio::sync::Mutex`, so the second request waits and
//! then finds the first one's result; different hashes build in parallel. Probes of
//! interpreters and uv (child processes) are cached for [`MACHINE_TTL`]; uv is looked for
//! only when something must be built, so reusing an environment starts no installer.
//!
//! **Python versions.** Taken from the manifest's `python.version`, else `.python-version`,
//! and matched against this machine's interpreters on major.minor. Porch never downloads
//! Python: uv runs with `UV_PYTHON_DOWNLOADS=never` and an explicit interpreter path.
//!
//! SECURITY: the requirements come from the publisher and are installed with the
//! publisher's trust (they run arbitrary build code, as on Connect). What we guard is the
//! host's files: requirement includes must stay in the bundle, and R package names are
//! validated before they reach R code.

mod command;
pub(crate) mod python;
mod r;
mod requirements;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc::UnboundedSender;
use tokio::time::Instant;

use crate::bundle::Manifest;
use crate::runner::{Cmd, OutputError, Runner};

use self::python::Interpreter;
use self::requirements::Requirements;

/// How long the list of interpreters and the uv location are trusted before probing again.
pub const MACHINE_TTL: Duration = Duration::from_secs(60);

/// How long `uv --version` or an R check may take.
const TOOL_PROBE_TIMEOUT: Duration = Duration::from_secs(30);

/// The file that marks a complete environment.
pub const ENV_MARKER: &str = ".porch-env.json";

/// Why an environment could not be prepared. Messages are meant for the publisher.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EnvError {
    /// The wanted Python major.minor is not on this machine.
    #[error(
        "{from} asks for Python {wanted}, but this machine has {}. Porch matches on major.minor and \
         does not download Python: install Python {wanted} (so that python{wanted} is on PATH) or \
         change the version",
        list_or_none(available)
    )]
    PythonVersionUnavailable {
        /// The wanted `major.minor`.
        wanted: String,
        /// Where the wish came from (the manifest or `.python-version`).
        from: &'static str,
        /// Each interpreter found, as `3.11.7 (/usr/bin/python3.11)`.
        available: Vec<String>,
    },
    /// No Python 3 at all.
    #[error("no Python 3 interpreter found (looked for python3, python and python3.N on PATH); install Python 3")]
    NoPython,
    /// The wanted version cannot be read.
    #[error("{from} names Python version {value:?}, which is not a version like 3.11 or 3.11.7")]
    BadPythonVersion {
        /// The text found.
        value: String,
        /// Where it was found.
        from: &'static str,
    },
    /// The requirements file (or one it includes) cannot be used.
    #[error("requirements file {file:?} cannot be used: {reason}")]
    RequirementsInvalid {
        /// The file, relative to the bundle.
        file: String,
        /// Why.
        reason: String,
    },
    /// An installer step exited with an error.
    #[error("{tool} failed ({status}):\n{}", last_lines.join("\n"))]
    InstallFailed {
        /// The step, e.g. `uv pip install`.
        tool: String,
        /// The exit status as text.
        status: String,
        /// The last lines of its output (both streams).
        last_lines: Vec<String>,
    },
    /// A program could not be started or waited for.
    #[error("cannot run {program}")]
    Spawn {
        /// The program.
        program: String,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// R content, but no `Rscript`.
    #[error("R is not installed: Rscript was not found on PATH; install R to run R content")]
    RMissing,
    /// R is there, some packages are not.
    #[error(
        "R packages missing on this machine: {}. Install them in R with install.packages(c({})) and deploy again",
        packages.join(", "),
        packages.iter().map(|p| format!("\"{p}\"")).collect::<Vec<_>>().join(", ")
    )]
    RPackagesMissing {
        /// The missing package names, sorted.
        packages: Vec<String>,
    },
    /// `Rscript` ran but the package check failed.
    #[error("Rscript could not check the installed packages ({status}):\n{}", last_lines.join("\n"))]
    RCheckFailed {
        /// The exit status as text.
        status: String,
        /// The last lines of its error output.
        last_lines: Vec<String>,
    },
    /// A probe of the environment (listing its packages) ran out of time.
    #[error("{about}: {source}")]
    Probe {
        /// What was being asked.
        about: &'static str,
        /// The runner's report.
        #[source]
        source: OutputError,
    },
    /// A file-system operation failed.
    #[error("{about}: {}", path.display())]
    Io {
        /// What was being done.
        about: &'static str,
        /// The path involved.
        path: PathBuf,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
}

impl EnvError {
    /// Whether the fault is Porch's (file system, spawning) rather than the content's.
    pub fn is_internal(&self) -> bool {
        matches!(self, EnvError::Io { .. } | EnvError::Spawn { .. })
    }

    /// Whether a tool ran and failed (an installer that crashed or could not install what
    /// was asked, an R check or probe that failed or hung): a runtime failure of the
    /// operation, with its output. The other variants say the environment cannot be made as
    /// declared on this machine (requirements that cannot be used, a Python or R it lacks).
    pub fn is_runtime(&self) -> bool {
        matches!(self, EnvError::InstallFailed { .. } | EnvError::RCheckFailed { .. } | EnvError::Probe { .. })
    }
}

fn list_or_none(items: &[String]) -> String {
    if items.is_empty() {
        "no Python 3 at all".into()
    } else {
        items.join(", ")
    }
}

fn io_err(about: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> EnvError {
    let path = path.to_path_buf();
    move |source| EnvError::Io { about, path, source }
}

/// A ready Python environment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PythonEnv {
    /// The environment folder, `<data_dir>/envs/<hash>`.
    pub dir: PathBuf,
    /// Its interpreter (`bin/python`).
    pub python: PathBuf,
    /// Its scripts folder (`bin`), to put first on a child's `PATH`.
    pub bin_dir: PathBuf,
    /// The interpreter's full version, e.g. `3.11.7`.
    pub version: String,
    /// The cache key (the folder's name).
    pub hash: String,
    /// Whether an existing environment was used as is.
    pub reused: bool,
}

/// R as found on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct REnv {
    /// The real `Rscript` (from `R.home("bin")`).
    pub rscript: PathBuf,
    /// R's version, e.g. `4.3.2`.
    pub version: String,
}

/// What `.porch-env.json` records.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct EnvRecord {
    /// The environment hash (the folder's name).
    pub hash: String,
    /// The interpreter's full version.
    pub python_version: String,
    /// The base interpreter's real path.
    pub python: PathBuf,
    /// SHA-256 of the normalised requirements alone.
    pub requirements_hash: String,
    /// The requirements files read, relative to the bundle they came from.
    pub requirements_files: Vec<String>,
    /// The launcher's extras.
    pub extras: Vec<String>,
    /// `uv <version>` or `pip`.
    pub installer: String,
    /// When the build finished (RFC 3339).
    pub created: String,
}

/// How to run uv.
#[derive(Debug, Clone)]
struct Uv {
    program: PathBuf,
    /// `["-m", "uv"]` when run through Python.
    prefix: Vec<&'static str>,
    version: String,
}

impl Uv {
    /// Which uv this is, for the deploy log: its path, or `python3 -m uv`.
    fn which(&self) -> String {
        std::iter::once(self.program.display().to_string())
            .chain(self.prefix.iter().map(|p| p.to_string()))
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// One place uv may be: a program and the arguments that come before uv's own.
pub(crate) type UvCandidate = (PathBuf, Vec<&'static str>);

/// Where Porch looks for uv, first to last: the `packaged` uv (installed with Porch), the
/// copy in Porch's own `tools_bin` folder, `uv` on `PATH`, then `python3 -m uv`.
pub(crate) fn uv_candidates(packaged: Option<&Path>, tools_bin: &Path) -> Vec<UvCandidate> {
    let own = tools_bin.join(if cfg!(windows) { "uv.exe" } else { "uv" });
    let mut candidates: Vec<UvCandidate> = Vec::with_capacity(4);
    if let Some(packaged) = packaged {
        candidates.push((packaged.to_path_buf(), vec![]));
    }
    candidates.push((own, vec![]));
    candidates.push((PathBuf::from("uv"), vec![]));
    candidates.push((PathBuf::from("python3"), vec!["-m", "uv"]));
    candidates
}

/// The first of `candidates` whose `--version` succeeds and says `uv <version>`; a missing
/// program, a failure or another tool's answer moves on to the next.
async fn probe_uv(runner: &Runner, candidates: Vec<UvCandidate>) -> Option<Uv> {
    for (program, prefix) in candidates {
        let mut cmd = Cmd::new(&program);
        cmd.args(&prefix).arg("--version");
        let Ok(out) = runner.output(&cmd, TOOL_PROBE_TIMEOUT).await else { continue };
        let text = String::from_utf8_lossy(&out.stdout);
        if let (true, Some(v)) = (out.status.success(), text.trim().strip_prefix("uv ")) {
            let version = v.split_whitespace().next().unwrap_or(v).to_string();
            return Some(Uv { program, prefix, version });
        }
    }
    None
}

/// Probe results, each trusted for [`MACHINE_TTL`].
#[derive(Debug, Default)]
struct Probes {
    /// By program name (`python3`, `python3.11`…): what answered, if anything.
    interpreters: HashMap<String, (Instant, Option<Interpreter>)>,
    uv: Option<(Instant, Option<Uv>)>,
}

/// Builds, caches and hands out runtime environments. See the module docs.
#[derive(Debug)]
pub struct Environments {
    root: PathBuf,
    tools_bin: PathBuf,
    /// The uv installed with Porch (`/usr/lib/porch/uv` in the `.deb`), tried first.
    packaged_uv: Option<PathBuf>,
    uv_cache: PathBuf,
    // A std lock: only to look up or insert a per-hash lock, never held across an await.
    // Entries are never removed: one small mutex per distinct environment ever requested.
    building: std::sync::Mutex<HashMap<String, Arc<tokio::sync::Mutex<()>>>>,
    // A tokio lock: probing awaits child processes, and concurrent deploys share one probe.
    probes: tokio::sync::Mutex<Probes>,
    // Off only in tests, to exercise the pip fallback on a machine that has uv.
    allow_uv: bool,
    /// Starts every installer and probe.
    runner: Runner,
}

impl Environments {
    /// Environments under `<data_dir>/envs`, with uv's cache in `<data_dir>/cache/uv` and
    /// Porch's own tools in `<data_dir>/tools/bin`. Touches nothing until first use.
    pub fn new(data_dir: &Path) -> Environments {
        Environments {
            root: data_dir.join("envs"),
            tools_bin: data_dir.join("tools").join("bin"),
            packaged_uv: None,
            uv_cache: data_dir.join("cache").join("uv"),
            building: std::sync::Mutex::new(HashMap::new()),
            probes: tokio::sync::Mutex::new(Probes::default()),
            allow_uv: true,
            runner: Runner::detached(),
        }
    }

    /// Starts installers and probes with `runner` (the engine's, so shutdown waits for
    /// them) instead of a detached one.
    pub fn with_runner(mut self, runner: Runner) -> Environments {
        self.runner = runner;
        self
    }

    /// Tries the uv at `path` (the one installed with Porch) before any other.
    pub fn with_packaged_uv(mut self, path: PathBuf) -> Environments {
        self.packaged_uv = Some(path);
        self
    }

    /// Uses `dir` as uv's package cache instead of `<data_dir>/cache/uv` (several data
    /// directories, such as test runs, can then share one download cache).
    pub fn with_uv_cache(mut self, dir: PathBuf) -> Environments {
        self.uv_cache = dir;
        self
    }

    /// The interpreter's version and the distributions installed in the Python environment
    /// of `python`, as sorted `name==version` lines.
    pub async fn installed_packages(&self, python: &Path) -> Result<(String, Vec<String>), EnvError> {
        installed_packages(&self.runner, python).await
    }

    /// The folder holding every environment.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Ensures the Python environment for a bundle and returns it.
    ///
    /// `extras` are packages the launcher needs on top of the bundle's requirements (e.g.
    /// `["uvicorn[standard]"]` or `["waitress"]`); they are part of the cache key. Every
    /// installer line goes to `log` as it is printed. Dropping the returned future kills the
    /// installer and removes the partial build.
    pub async fn python(
        &self,
        bundle_dir: &Path,
        manifest: &Manifest,
        extras: &[&str],
        log: &UnboundedSender<String>,
    ) -> Result<PythonEnv, EnvError> {
        let wanted = python::wanted(bundle_dir, &manifest.raw, log).await?;
        let interp = self.interpreter(wanted.as_ref()).await?;
        let package_file = requirements::package_file(&manifest.raw);
        let reqs = {
            let (dir, file) = (bundle_dir.to_path_buf(), package_file.clone());
            tokio::task::spawn_blocking(move || requirements::read(&dir, &file))
                .await
                .expect("reading requirements does not panic")?
        };
        let hash = requirements::env_hash(&interp.version(), &interp.path, &reqs, extras);
        let _ = log.send(match &wanted {
            Some(w) => format!("Python {} wanted by {}; using Python {}", w.major_minor(), w.from, interp.describe()),
            None => format!("No Python version requested; using Python {}", interp.describe()),
        });
        let _ = log.send(match &reqs.main {
            Some(_) => format!(
                "Requirements: {} ({} lines{})",
                package_file,
                reqs.files.iter().map(|(_, l)| l.len()).sum::<usize>(),
                if reqs.files.len() > 1 { format!(" in {} files", reqs.files.len()) } else { String::new() }
            ),
            None => format!("No {package_file} in the bundle: no requirements to install"),
        });
        if !extras.is_empty() {
            let _ = log.send(format!("Packages the runtime adds: {}", extras.join(" ")));
        }

        let lock = self.lock_for(&hash);
        let _building = lock.lock().await;
        let dir = self.root.join(&hash);
        let (bin_dir, py) = venv_paths(&dir);
        let env = |reused| PythonEnv {
            dir: dir.clone(),
            python: py.clone(),
            bin_dir: bin_dir.clone(),
            version: interp.version(),
            hash: hash.clone(),
            reused,
        };
        if let Some(record) = read_record(&dir).await {
            let _ = log.send(format!(
                "Reusing Python environment {hash} (Python {}, built {} with {}); nothing to install",
                record.python_version, record.created, record.installer
            ));
            return Ok(env(true));
        }
        if tokio::fs::try_exists(&dir).await.unwrap_or(false) {
            // No marker: an interrupted foreign build or a hand-made folder. Not a good env.
            let _ = log.send(format!("Removing incomplete environment {}", dir.display()));
            remove_dir(dir.clone()).await?;
        }
        let started = Instant::now();
        let built = self.build(&interp, &reqs, extras, &hash, log).await?;
        if built {
            let _ = log.send(format!("Python environment {hash} ready in {:.1}s", started.elapsed().as_secs_f64()));
            Ok(env(false))
        } else {
            Ok(env(true))
        }
    }

    /// Checks that R is installed and has every package the bundle needs: the manifest's
    /// `packages`, the `library(x)`/`require(x)`/`x::` uses in `.R`/`.Rmd`/`.qmd` files at
    /// the bundle root, and `required` (what the runtime itself needs, e.g. `["shiny"]`).
    /// Porch does not install R packages; the error lists the missing ones.
    pub async fn r(
        &self,
        bundle_dir: &Path,
        manifest: &Manifest,
        required: &[&str],
        log: &UnboundedSender<String>,
    ) -> Result<REnv, EnvError> {
        let scanned = {
            let dir = bundle_dir.to_path_buf();
            tokio::task::spawn_blocking(move || r::packages_in_bundle(&dir))
                .await
                .expect("scanning R files does not panic")
                .map_err(io_err("scanning the bundle's R files", bundle_dir))?
        };
        let mut wanted: std::collections::BTreeSet<String> = scanned;
        wanted.extend(r::manifest_packages(&manifest.raw));
        wanted.extend(required.iter().map(|s| s.to_string()));
        let (packages, bad): (Vec<String>, Vec<String>) = wanted.into_iter().partition(|p| r::valid_package_name(p));
        if !bad.is_empty() {
            let _ = log.send(format!("warning: ignoring names that are not R packages: {}", bad.join(", ")));
        }
        let mut cmd = Cmd::new("Rscript");
        cmd.arg("-e").arg(r::check_script(&packages));
        let out = match self.runner.output(&cmd, TOOL_PROBE_TIMEOUT).await {
            Err(OutputError::TimedOut { .. }) => {
                return Err(EnvError::RCheckFailed {
                    status: format!("no answer within {}s", TOOL_PROBE_TIMEOUT.as_secs()),
                    last_lines: Vec::new(),
                })
            }
            Err(OutputError::Spawn { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                return Err(EnvError::RMissing)
            }
            Err(OutputError::Spawn { source, .. } | OutputError::Wait { source, .. }) => {
                return Err(EnvError::Spawn { program: "Rscript".into(), source })
            }
            Ok(out) => out,
        };
        let stdout = String::from_utf8_lossy(&out.stdout);
        let check = r::parse_check(&stdout);
        let (Some(version), Some(rscript), true) = (check.version, check.rscript, out.status.success()) else {
            let stderr = String::from_utf8_lossy(&out.stderr);
            let lines: Vec<String> = stderr.lines().filter(|l| !l.trim().is_empty()).map(str::to_string).collect();
            let tail = lines[lines.len().saturating_sub(15)..].to_vec();
            return Err(EnvError::RCheckFailed { status: out.status.to_string(), last_lines: tail });
        };
        let _ = log.send(format!("Using R {version} ({rscript})"));
        if let Some(platform) = manifest.raw.get("platform").and_then(|p| p.as_str()) {
            let mm = |v: &str| v.split('.').take(2).collect::<Vec<_>>().join(".");
            if mm(platform) != mm(&version) {
                let _ = log.send(format!("note: the bundle was made with R {platform}; this machine has R {version}"));
            }
        }
        if !packages.is_empty() {
            let _ = log.send(format!("Checked R packages: {}", packages.join(", ")));
        }
        if !check.missing.is_empty() {
            let mut missing = check.missing;
            missing.sort();
            missing.dedup();
            return Err(EnvError::RPackagesMissing { packages: missing });
        }
        Ok(REnv { rscript: PathBuf::from(rscript), version })
    }

    /// The per-hash build lock.
    fn lock_for(&self, hash: &str) -> Arc<tokio::sync::Mutex<()>> {
        let mut map = self.building.lock().unwrap_or_else(|p| p.into_inner());
        map.entry(hash.to_string()).or_default().clone()
    }

    /// The interpreter for a wish: the quick names first, every candidate only on a miss
    /// (so a miss can list everything this machine has).
    async fn interpreter(&self, wanted: Option<&python::WantedPython>) -> Result<Interpreter, EnvError> {
        let quick = self.interpreters(&python::quick_names(wanted)).await;
        if let Ok(found) = python::choose(wanted, &quick) {
            return Ok(found.clone());
        }
        let all = self.interpreters(&python::candidate_names()).await;
        python::choose(wanted, &all).cloned()
    }

    /// The Python 3 interpreters answering to `names`, probing only names not probed within
    /// [`MACHINE_TTL`].
    async fn interpreters(&self, names: &[String]) -> Vec<Interpreter> {
        let mut probes = self.probes.lock().await;
        let stale: Vec<String> = names
            .iter()
            .filter(|n| probes.interpreters.get(*n).is_none_or(|(at, _)| at.elapsed() >= MACHINE_TTL))
            .cloned()
            .collect();
        let fresh = python::probe_all(&self.runner, &stale).await;
        let now = Instant::now();
        for (name, found) in stale.into_iter().zip(fresh) {
            probes.interpreters.insert(name, (now, found));
        }
        python::python3_only(names.iter().map(|n| probes.interpreters.get(n).and_then(|(_, i)| i.clone())))
    }

    /// uv, probed at most once per [`MACHINE_TTL`]; only needed when building.
    async fn uv(&self) -> Option<Uv> {
        if !self.allow_uv {
            return None;
        }
        let mut probes = self.probes.lock().await;
        if let Some((at, uv)) = &probes.uv {
            if at.elapsed() < MACHINE_TTL {
                return uv.clone();
            }
        }
        let uv = self.find_uv().await;
        probes.uv = Some((Instant::now(), uv.clone()));
        uv
    }

    /// The first of [`uv_candidates`] that answers `--version` as uv.
    async fn find_uv(&self) -> Option<Uv> {
        probe_uv(&self.runner, uv_candidates(self.packaged_uv.as_deref(), &self.tools_bin)).await
    }

    /// A uv command with Porch's settings: no Python downloads, Porch's cache, and the
    /// caller's index settings left alone.
    fn uv_command(&self, uv: &Uv) -> Cmd {
        let mut cmd = Cmd::new(&uv.program);
        cmd.args(&uv.prefix)
            .env("UV_PYTHON_DOWNLOADS", "never")
            .env("UV_CACHE_DIR", &self.uv_cache)
            // An inherited virtualenv must not be mistaken for the target.
            .env_remove("VIRTUAL_ENV")
            // Not the bundle: a bundle's uv.toml or pyproject.toml must not steer the install.
            .current_dir(&self.root);
        cmd
    }

    /// Builds the environment `hash` in a temporary folder and renames it into place.
    /// Returns `false` if another builder put it there first (then ours is discarded).
    async fn build(
        &self,
        interp: &Interpreter,
        reqs: &Requirements,
        extras: &[&str],
        hash: &str,
        log: &UnboundedSender<String>,
    ) -> Result<bool, EnvError> {
        for dir in [&self.root, &self.uv_cache] {
            tokio::fs::create_dir_all(dir).await.map_err(io_err("creating the environments folder", dir))?;
        }
        self.remove_stale_tmp(hash).await;
        let prefix = format!(".tmp-{hash}-");
        let root = self.root.clone();
        let tmp = tokio::task::spawn_blocking(move || tempfile::Builder::new().prefix(&prefix).tempdir_in(&root))
            .await
            .expect("creating a temp dir does not panic")
            .map_err(io_err("creating a temporary environment folder", &self.root))?;
        let tmp_path = tmp.path().to_path_buf();
        let final_dir = self.root.join(hash);

        let steps = async {
            let installer = self.install(&tmp_path, interp, reqs, extras, log).await?;
            relocate(&tmp_path, &final_dir).await?;
            let record = EnvRecord {
                hash: hash.to_string(),
                python_version: interp.version(),
                python: interp.path.clone(),
                requirements_hash: requirements::content_hash(reqs),
                requirements_files: reqs.files.iter().map(|(n, _)| n.clone()).collect(),
                extras: extras.iter().map(|e| e.to_string()).collect(),
                installer,
                created: crate::time::now(),
            };
            let marker = tmp_path.join(ENV_MARKER);
            let body = serde_json::to_vec_pretty(&record).expect("the record serialises");
            tokio::fs::write(&marker, body).await.map_err(io_err("writing the environment record", &marker))
        };
        if let Err(e) = steps.await {
            discard(tmp).await;
            return Err(e);
        }
        match tokio::fs::rename(&tmp_path, &final_dir).await {
            Ok(()) => {
                // The folder moved; there is nothing left for the guard to delete.
                let _ = tmp.keep();
                Ok(true)
            }
            Err(_) if read_record(&final_dir).await.is_some() => {
                // Another Porch process finished the same environment first; keep theirs.
                discard(tmp).await;
                Ok(false)
            }
            Err(source) => {
                discard(tmp).await;
                Err(EnvError::Io { about: "moving the new environment into place", path: final_dir, source })
            }
        }
    }

    /// Creates the venv in `dir` and installs into it. Returns the installer's name.
    async fn install(
        &self,
        dir: &Path,
        interp: &Interpreter,
        reqs: &Requirements,
        extras: &[&str],
        log: &UnboundedSender<String>,
    ) -> Result<String, EnvError> {
        let (_, py) = venv_paths(dir);
        let nothing = reqs.is_empty() && extras.is_empty();
        if let Some(uv) = &self.uv().await {
            let _ = log.send(format!("Building the environment with uv {} ({})", uv.version, uv.which()));
            let mut venv = self.uv_command(uv);
            venv.args(["venv", "--relocatable", "--no-project", "--python"]).arg(&interp.path).arg(dir);
            command::run_streamed(&self.runner, "uv venv", venv, log).await?;
            if !nothing {
                let mut pip = self.uv_command(uv);
                pip.args(["pip", "install", "--python"]).arg(&py);
                if let (Some(main), false) = (&reqs.main, reqs.is_empty()) {
                    pip.arg("-r").arg(main);
                }
                pip.args(extras);
                command::run_streamed(&self.runner, "uv pip install", pip, log).await?;
            }
            return Ok(format!("uv {}", uv.version));
        }
        let looked = uv_candidates(self.packaged_uv.as_deref(), &self.tools_bin)
            .iter()
            .map(|(program, prefix)| {
                Uv { program: program.clone(), prefix: prefix.clone(), version: String::new() }.which()
            })
            .collect::<Vec<_>>()
            .join(", ");
        let _ = log.send(format!(
            "warning: uv not found (looked for {looked}); falling back to python -m venv and pip, which \
             is much slower. Install uv to speed up deploys."
        ));
        let mut venv = Cmd::new(&interp.path);
        venv.args(["-m", "venv"]).arg(dir).env_remove("VIRTUAL_ENV").current_dir(&self.root);
        command::run_streamed(&self.runner, "python -m venv", venv, log).await?;
        if !nothing {
            let mut pip = Cmd::new(&py);
            pip.args(["-m", "pip", "install", "--no-input", "--disable-pip-version-check", "--no-compile"]);
            if let (Some(main), false) = (&reqs.main, reqs.is_empty()) {
                pip.arg("-r").arg(main);
            }
            pip.args(extras).env_remove("VIRTUAL_ENV").current_dir(&self.root);
            command::run_streamed(&self.runner, "pip install", pip, log).await?;
        }
        Ok("pip".into())
    }

    /// Removes `.tmp-<hash>-*` left by a build of the same hash that crashed. Called with the
    /// hash's build lock held, so no live build in this process owns them.
    async fn remove_stale_tmp(&self, hash: &str) {
        let prefix = format!(".tmp-{hash}-");
        let Ok(mut entries) = tokio::fs::read_dir(&self.root).await else { return };
        while let Ok(Some(e)) = entries.next_entry().await {
            if e.file_name().to_string_lossy().starts_with(&prefix) {
                if let Err(err) = remove_dir(e.path()).await {
                    tracing::warn!(error = %err, "stale environment folder not removed");
                }
            }
        }
    }
}

/// `(bin_dir, python)` of a venv at `dir`.
fn venv_paths(dir: &Path) -> (PathBuf, PathBuf) {
    if cfg!(windows) {
        let bin = dir.join("Scripts");
        let py = bin.join("python.exe");
        (bin, py)
    } else {
        let bin = dir.join("bin");
        let py = bin.join("python");
        (bin, py)
    }
}

/// The record of a complete environment, if `dir` is one.
async fn read_record(dir: &Path) -> Option<EnvRecord> {
    let bytes = tokio::fs::read(dir.join(ENV_MARKER)).await.ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Removes a folder tree on a blocking thread.
async fn remove_dir(dir: PathBuf) -> Result<(), EnvError> {
    let shown = dir.clone();
    tokio::task::spawn_blocking(move || std::fs::remove_dir_all(&dir))
        .await
        .expect("removing a folder does not panic")
        .map_err(io_err("removing an environment folder", &shown))
}

/// Drops a temporary build folder (its guard deletes it) on a blocking thread.
async fn discard(tmp: tempfile::TempDir) {
    let _ = tokio::task::spawn_blocking(move || drop(tmp)).await;
}

/// Rewrites absolute paths to the temporary folder into the final one, in `bin/` scripts
/// and `pyvenv.cfg`. uv's relocatable venvs have none; pip's scripts and activate files do.
async fn relocate(tmp: &Path, final_dir: &Path) -> Result<(), EnvError> {
    let (from, to) = (tmp.to_string_lossy().into_owned(), final_dir.to_string_lossy().into_owned());
    let (bin, _) = venv_paths(tmp);
    let tmp = tmp.to_path_buf();
    tokio::task::spawn_blocking(move || -> Result<(), EnvError> {
        let mut files = vec![tmp.join("pyvenv.cfg")];
        let listing = std::fs::read_dir(&bin).map_err(io_err("listing the environment's scripts", &bin))?;
        for entry in listing.flatten() {
            if entry.file_type().map(|t| t.is_file()).unwrap_or(false) {
                files.push(entry.path());
            }
        }
        for file in files {
            let Ok(meta) = std::fs::metadata(&file) else { continue };
            if meta.len() > 1024 * 1024 {
                continue;
            }
            let bytes = std::fs::read(&file).map_err(io_err("reading an environment script", &file))?;
            let Ok(text) = String::from_utf8(bytes) else { continue };
            if text.contains(&from) {
                std::fs::write(&file, text.replace(&from, &to))
                    .map_err(io_err("rewriting an environment script", &file))?;
            }
        }
        Ok(())
    })
    .await
    .expect("relocating scripts does not panic")
}

/// The interpreter's version and the distributions installed in a Python environment, as
/// sorted `name==version` lines (what `pip freeze` would report, read through
/// `importlib.metadata` so it works for environments built by uv, which have no pip).
async fn installed_packages(runner: &Runner, python: &Path) -> Result<(String, Vec<String>), EnvError> {
    const LIST: &str = "import importlib.metadata as m, platform\n\
        print(platform.python_version())\n\
        seen = {}\n\
        for d in m.distributions():\n\
        \x20   n = d.metadata['Name']\n\
        \x20   if n: seen.setdefault(n.lower(), f'{n}=={d.version}')\n\
        print('\\n'.join(sorted(seen.values(), key=str.lower)))\n";
    let mut cmd = Cmd::new(python);
    cmd.args(["-I", "-c", LIST]);
    let spawn_err = |source| EnvError::Spawn { program: python.display().to_string(), source };
    let out = runner.output(&cmd, TOOL_PROBE_TIMEOUT).await.map_err(|e| match e {
        e @ OutputError::TimedOut { .. } => EnvError::Probe { about: "listing the installed packages", source: e },
        OutputError::Spawn { source, .. } | OutputError::Wait { source, .. } => spawn_err(source),
    })?;
    if !out.status.success() {
        return Err(EnvError::InstallFailed {
            tool: "listing installed packages".into(),
            status: out.status.to_string(),
            last_lines: String::from_utf8_lossy(&out.stderr)
                .lines()
                .rev()
                .take(10)
                .map(String::from)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect(),
        });
    }
    let text = String::from_utf8_lossy(&out.stdout);
    let mut lines = text.lines().map(str::trim).filter(|l| !l.is_empty());
    let version = lines.next().unwrap_or_default().to_string();
    Ok((version, lines.map(String::from).collect()))
}
