//! Serving: turns an opened engine into a running server on a listener the caller bound.
//!
//! Start-up order matters and is all here: tasks and renders an earlier run left
//! unfinished are marked failed, scratch is cleaned, the bound address is recorded (from
//! then on the engine counts as serving: it supervises apps, fires schedules and follows
//! linked folders), the runtime file for the CLI is written, the HTTP app (the API and the
//! gateway) starts accepting, and the background loops start.
//!
//! Does not: bind the socket (the caller does, so a port in use is its error to report) or
//! stop anything (`Engine::shutdown`).

use crate::config::Config;
use crate::engine::Engine;
use crate::error::{Error, Result};

/// Opens the engine and serves HTTP on `listener` until [`Engine::shutdown`].
pub async fn start(config: Config, listener: tokio::net::TcpListener) -> Result<Engine> {
    let engine = Engine::open(config).await?;
    let shared = engine.shared().clone();
    let local_addr = listener.local_addr().map_err(Error::io("reading the bound address", ""))?;
    let interrupted = shared.store.fail_interrupted_tasks(&crate::time::now()).await?;
    shared.store.fail_interrupted_renders(&crate::time::now()).await?;
    if interrupted > 0 {
        tracing::warn!(interrupted, "marked deploy tasks of an earlier run as failed");
    }
    clean_scratch(&shared.config).await;
    // Orphaned grandchildren of what Porch runs come back to it and are reaped.
    shared.runner.adopt_orphans();
    shared.set_serving(local_addr);
    write_runtime_file(&engine).await?;
    let app = crate::api::app(engine.clone());
    let front = std::sync::Arc::new(crate::gateway::fast::Front::new(engine.clone()));
    let (limits, cancel, tracker) = (shared.config.http, shared.cancel.clone(), shared.tracker.clone());
    shared.spawn(crate::listener::serve(listener, app, front, limits, cancel, tracker));
    engine.apps().supervise_all();
    engine.gallery().start_captures();
    engine.renders().spawn_schedule_loop();
    engine.usage().start();
    engine.links().start().await;
    engine.discovery().start();
    engine.awake().start();
    tracing::info!(%local_addr, data_dir = %shared.config.data_dir.display(), "Porch is serving");
    Ok(engine)
}

/// Removes what an earlier run left half-made: everything in `tmp/`, and environments whose
/// build never finished (`envs/.tmp-*`; a finished one has been renamed into place).
async fn clean_scratch(config: &Config) {
    let tmp = config.tmp_dir();
    if let Ok(mut rd) = tokio::fs::read_dir(&tmp).await {
        while let Ok(Some(e)) = rd.next_entry().await {
            let p = e.path();
            let _ = if p.is_dir() { tokio::fs::remove_dir_all(&p).await } else { tokio::fs::remove_file(&p).await };
        }
    }
    if let Ok(mut rd) = tokio::fs::read_dir(config.envs_dir()).await {
        while let Ok(Some(e)) = rd.next_entry().await {
            if e.file_name().to_string_lossy().starts_with(".tmp-") {
                let _ = tokio::fs::remove_dir_all(e.path()).await;
            }
        }
    }
}

/// Writes the runtime file and the local credential (this run's session key), both 0600:
/// CLI commands of the same user call the API with it.
async fn write_runtime_file(engine: &Engine) -> Result<()> {
    let info = engine.runtime_info().expect("invariant: called once the server address is set");
    let dir = engine.config().data_dir.clone();
    let (runtime_file, key) = (engine.config().runtime_file(), engine.session_key().to_string());
    let json = serde_json::to_vec_pretty(&info).unwrap_or_default();
    tokio::task::spawn_blocking(move || {
        crate::data_dir::write_private(&crate::data_dir::credential_path(&dir), key.as_bytes())?;
        crate::data_dir::write_private(&runtime_file, &json)
    })
    .await
    .map_err(Error::failed("writing the runtime file stopped"))?
}
