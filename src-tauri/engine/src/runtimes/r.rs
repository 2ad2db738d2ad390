//! R launchers: Shiny (`shiny`), R Markdown with `runtime: shiny` (`rmd-shiny`) and Plumber
//! (`api`), as verified in `research/r-and-renders.md` §1–2.
//!
//! SECURITY: the R expressions are constants. Every path and the port reach R through
//! environment variables (`APP_DIR`, `DOC`, `ENTRY`, `PORT`), so nothing from a bundle is
//! ever spliced into R source.
//!
//! All three run stripped: Shiny and R Markdown use relative URLs, and Plumber's docs UI
//! derives its base from the browser's location. User code gets the external base from the
//! `RStudio-Connect-App-Base-URL` header the proxy adds. Pure; reads the bundle directory only.

use crate::vocab::AppMode;
use std::path::{Path, PathBuf};

use super::entrypoint;
use super::{base_env, set_var, LaunchContext, LaunchError, LaunchSpec, PrefixMode, Readiness};

const SHINY_EXPR: &str = r#"shiny::runApp(Sys.getenv("APP_DIR"), port = as.integer(Sys.getenv("PORT")), host = "127.0.0.1", launch.browser = FALSE)"#;
const RMD_SHINY_EXPR: &str = r#"rmarkdown::run(Sys.getenv("DOC"), shiny_args = list(port = as.integer(Sys.getenv("PORT")), host = "127.0.0.1", launch.browser = FALSE))"#;
const PLUMBER_FILE_EXPR: &str =
    r#"plumber::pr_run(plumber::pr(Sys.getenv("ENTRY")), host = "127.0.0.1", port = as.integer(Sys.getenv("PORT")))"#;
/// `entrypoint.R` returns a router; `plumb(dir=)` is what knows that convention.
/// Unverified here (the verified recipe covers `plumber.R`).
const PLUMBER_DIR_EXPR: &str = r#"plumber::pr_run(plumber::plumb(dir = Sys.getenv("APP_DIR")), host = "127.0.0.1", port = as.integer(Sys.getenv("PORT")))"#;

/// Builds the spec for an R appmode (the caller has checked the mode, path and port).
pub(super) fn launch(ctx: &LaunchContext<'_>) -> Result<LaunchSpec, LaunchError> {
    let rscript = ctx.rscript.ok_or_else(|| LaunchError::RMissing { app_mode: ctx.app_mode.to_string() })?;
    let mut env = base_env(ctx);
    set_var(&mut env, "APP_DIR", ctx.bundle_dir.display().to_string());
    let (expr, any_status) = match ctx.app_mode {
        AppMode::Shiny => {
            shiny_app(ctx)?;
            (SHINY_EXPR, false)
        }
        AppMode::RmdShiny => {
            let doc = rmd_document(ctx)?;
            set_var(&mut env, "DOC", ctx.bundle_dir.join(doc).display().to_string());
            (RMD_SHINY_EXPR, false)
        }
        // `/` is 404 unless the API defines it, so any answer means Plumber is listening.
        AppMode::Api => match plumber_file(ctx)? {
            Some(file) => {
                set_var(&mut env, "ENTRY", ctx.bundle_dir.join(file).display().to_string());
                (PLUMBER_FILE_EXPR, true)
            }
            None => (PLUMBER_DIR_EXPR, true),
        },
        other => return Err(LaunchError::NotLaunchable { app_mode: other.to_string() }),
    };
    Ok(LaunchSpec {
        program: rscript.to_path_buf(),
        args: vec!["-e".to_string(), expr.to_string()],
        env,
        cwd: ctx.bundle_dir.to_path_buf(),
        port: ctx.port,
        prefix: PrefixMode::Strip,
        readiness: Readiness { path: "/".to_string(), any_status },
        files: Vec::new(),
    })
}

fn missing(ctx: &LaunchContext<'_>, entrypoint: &str, path: PathBuf) -> LaunchError {
    LaunchError::EntrypointMissing { app_mode: ctx.app_mode.to_string(), entrypoint: entrypoint.to_string(), path }
}

/// A Shiny app directory holds `app.R`, or `server.R` (with `ui.R` or `www/index.html`).
fn shiny_app(ctx: &LaunchContext<'_>) -> Result<(), LaunchError> {
    if let Some(ep) = ctx.manifest.entrypoint.as_deref() {
        let rel = entrypoint::contained(ep)?;
        if !ctx.bundle_dir.join(&rel).is_file() {
            return Err(missing(ctx, ep, ctx.bundle_dir.join(rel)));
        }
    }
    let dir = ctx.bundle_dir;
    if file_ci(dir, "app.R") || file_ci(dir, "server.R") {
        Ok(())
    } else {
        Err(missing(ctx, ctx.manifest.entrypoint.as_deref().unwrap_or("app.R"), dir.join("app.R")))
    }
}

/// `app.R` or `app.r`: Shiny accepts either case of the extension.
fn file_ci(dir: &Path, name: &str) -> bool {
    dir.join(name).is_file() || dir.join(name.to_lowercase()).is_file()
}

/// The document: the manifest's entry point, else `metadata.primary_rmd`, else the only `.Rmd`.
fn rmd_document(ctx: &LaunchContext<'_>) -> Result<PathBuf, LaunchError> {
    let primary = ctx.manifest.raw.pointer("/metadata/primary_rmd").and_then(|v| v.as_str()).filter(|s| !s.is_empty());
    if let Some(ep) = ctx.manifest.entrypoint.as_deref().or(primary) {
        let rel = entrypoint::contained(ep)?;
        return if ctx.bundle_dir.join(&rel).is_file() {
            Ok(rel)
        } else {
            Err(missing(ctx, ep, ctx.bundle_dir.join(rel)))
        };
    }
    let mut docs = entrypoint::files_with_ext(ctx.bundle_dir, "Rmd")?;
    docs.extend(entrypoint::files_with_ext(ctx.bundle_dir, "rmd")?);
    match docs.as_slice() {
        [only] => Ok(PathBuf::from(only)),
        [] => Err(LaunchError::NoEntrypoint {
            app_mode: ctx.app_mode.to_string(),
            about: "the bundle has no .Rmd document",
        }),
        _ => Err(LaunchError::NoEntrypoint {
            app_mode: ctx.app_mode.to_string(),
            about: "several .Rmd documents and no manifest entrypoint; set metadata.entrypoint",
        }),
    }
}

/// The Plumber file: the manifest's `.R` entry point, else `plumber.R`; `None` means the
/// directory holds `entrypoint.R` and is served with `plumb(dir=)`.
fn plumber_file(ctx: &LaunchContext<'_>) -> Result<Option<PathBuf>, LaunchError> {
    if let Some(ep) = ctx.manifest.entrypoint.as_deref() {
        let rel = entrypoint::contained(ep)?;
        if ctx.bundle_dir.join(&rel).is_file() {
            return Ok(if rel.file_name().is_some_and(|n| n == "entrypoint.R") { None } else { Some(rel) });
        }
        return Err(missing(ctx, ep, ctx.bundle_dir.join(rel)));
    }
    if file_ci(ctx.bundle_dir, "plumber.R") {
        let name = if ctx.bundle_dir.join("plumber.R").is_file() { "plumber.R" } else { "plumber.r" };
        return Ok(Some(PathBuf::from(name)));
    }
    if ctx.bundle_dir.join("entrypoint.R").is_file() {
        return Ok(None);
    }
    Err(missing(ctx, "plumber.R", ctx.bundle_dir.join("plumber.R")))
}
