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

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use crate::config::Config;
use crate::engine::{Engine, RuntimeInfo};
use crate::error::{Error, Result};
use crate::events::Event;

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
    shared.set_serving(local_addr);
    write_runtime_file(&engine, local_addr).await?;
    let app = crate::api::app(engine.clone());
    let (limits, cancel, tracker) = (shared.config.http, shared.cancel.clone(), shared.tracker.clone());
    shared.spawn(crate::listener::serve(listener, app, limits, cancel, tracker));
    spawn_change_watch(&engine).await?;
    engine.apps().supervise_all();
    engine.renders().spawn_schedule_loop();
    engine.links().start().await;
    tracing::info!(%local_addr, data_dir = %shared.config.data_dir.display(), "Porch is serving");
    Ok(engine)
}

async fn clean_scratch(config: &Config) {
    let tmp = config.tmp_dir();
    if let Ok(mut rd) = tokio::fs::read_dir(&tmp).await {
        while let Ok(Some(e)) = rd.next_entry().await {
            let p = e.path();
            let _ = if p.is_dir() { tokio::fs::remove_dir_all(&p).await } else { tokio::fs::remove_file(&p).await };
        }
    }
}

async fn write_runtime_file(engine: &Engine, addr: SocketAddr) -> Result<()> {
    let loopback = if addr.ip().is_unspecified() || addr.ip().is_loopback() {
        crate::shared::url_for(
            if addr.is_ipv6() { IpAddr::from([0u16, 0, 0, 0, 0, 0, 0, 1]) } else { IpAddr::from([127, 0, 0, 1]) },
            addr.port(),
        )
    } else {
        crate::shared::url_for(addr.ip(), addr.port())
    };
    let info = RuntimeInfo { pid: std::process::id(), url: loopback, origin: engine.default_origin() };
    let path = engine.config().runtime_file();
    let json = serde_json::to_vec_pretty(&info).unwrap_or_default();
    tokio::fs::write(&path, json).await.map_err(Error::io("writing the runtime file", &path))
}

/// Notices commits by other processes (the CLI) and reloads routes.
async fn spawn_change_watch(engine: &Engine) -> Result<()> {
    let shared = engine.shared().clone();
    let mut watch = shared.store.change_watch().await?;
    let mut last = watch.version().await?;
    let engine = engine.clone();
    let cancel = shared.cancel.child_token();
    shared.spawn(async move {
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tick.tick() => {}
            }
            match watch.version().await {
                Ok(v) if v != last => {
                    last = v;
                    engine.settings().reload_settings().await;
                    let before = engine.library().routes().snapshot();
                    if let Err(e) = engine.library().refresh_routes().await {
                        tracing::warn!(error = %e, "cannot reload routes");
                    }
                    engine.apps().follow_external_changes(&before).await;
                    engine.links().reconcile_links().await;
                    engine.emit(Event::LibraryChanged);
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "cannot poll the database for changes"),
            }
        }
    });
    Ok(())
}
