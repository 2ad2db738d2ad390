//! The seam between the supervisor's state machine and real processes.
//!
//! Owns: the [`Launcher`] trait (start a worker, ask it for its readiness status) and its
//! real implementation on the process runner, which forks a Python worker from its
//! environment's pre-imported helper (`crate::zygote`) when the spawn allows it and the
//! helper is ready, and spawns it plainly otherwise. The supervisor's actors only ever see a
//! [`Process`] handle (pid, exit notification, group signals, memory), so tests can hand
//! them fake children and drive idle stops, init timeouts and scaling on tokio's paused
//! clock in milliseconds.
//!
//! Concurrency: launchers are shared (`Arc`) by every actor and called from their spawned
//! start and health tasks; the real one holds only a cloneable runner handle.

use futures_util::future::BoxFuture;
use tokio::io::AsyncWriteExt;

use super::Spawn;
use crate::runner::{Cmd, Logs, Process, Runner, SharedLog, Sink};

/// Lines of output kept in memory per worker (for crash reports).
const TAIL_LINES: usize = 50;

/// Starts and probes workers.
pub(crate) trait Launcher: Send + Sync + std::fmt::Debug + 'static {
    /// Writes the worker's support files and starts it; its output goes to `log`.
    fn start<'a>(&'a self, spawn: &'a Spawn, guid: &'a str, log: SharedLog) -> BoxFuture<'a, std::io::Result<Process>>;

    /// The HTTP status the worker answers on its readiness path, if it answers at all.
    fn probe<'a>(&'a self, spawn: &'a Spawn) -> BoxFuture<'a, Option<u16>>;
}

/// Workers as real child processes, through the runner.
#[derive(Debug)]
pub(crate) struct RealLauncher {
    runner: Runner,
}

impl RealLauncher {
    pub(crate) fn new(runner: Runner) -> RealLauncher {
        RealLauncher { runner }
    }
}

impl Launcher for RealLauncher {
    /// SECURITY: this runs user content. The child gets only the environment the launcher
    /// gives it on top of Porch's own; the runner puts it in its own process group (so one
    /// signal reaches everything it started) that dies with Porch.
    fn start<'a>(&'a self, spawn: &'a Spawn, guid: &'a str, log: SharedLog) -> BoxFuture<'a, std::io::Result<Process>> {
        Box::pin(async move {
            for (path, text) in &spawn.files {
                if let Some(dir) = path.parent() {
                    tokio::fs::create_dir_all(dir).await?;
                }
                tokio::fs::write(path, text).await?;
            }
            let logs = Logs { label: guid.to_string(), sink: Sink::File(log), tail_lines: TAIL_LINES };
            if let Some(via) = &spawn.fork {
                let forked = via
                    .zygotes
                    .fork(&via.python, &spawn.program, &spawn.args, &spawn.env, &spawn.cwd, logs.clone())
                    .await;
                match forked {
                    Ok(p) => {
                        tracing::debug!(content = %guid, pid = p.pid(), "worker forked from the Python helper");
                        return Ok(p);
                    }
                    Err(e) => tracing::debug!(content = %guid, "starting the worker plainly: {e}"),
                }
            }
            let mut cmd = Cmd::new(&spawn.program);
            cmd.args(&spawn.args).envs(spawn.env.iter().map(|(k, v)| (k, v))).current_dir(&spawn.cwd);
            self.runner.spawn(&cmd, logs)
        })
    }

    fn probe<'a>(&'a self, spawn: &'a Spawn) -> BoxFuture<'a, Option<u16>> {
        Box::pin(probe_status(spawn))
    }
}

/// The HTTP status the worker answers on its readiness path, if it answers at all.
async fn probe_status(spawn: &Spawn) -> Option<u16> {
    let addr = format!("127.0.0.1:{}", spawn.port);
    let Ok(mut stream) = tokio::net::TcpStream::connect(&addr).await else { return None };
    let req = format!(
        "GET {} HTTP/1.1\r\nHost: {addr}\r\nUser-Agent: porch-readiness\r\nConnection: close\r\n\r\n",
        spawn.readiness_path
    );
    if stream.write_all(req.as_bytes()).await.is_err() {
        return None;
    }
    let mut buf = [0u8; 64];
    let mut got = 0;
    while got < 12 {
        match tokio::io::AsyncReadExt::read(&mut stream, &mut buf[got..]).await {
            Ok(0) | Err(_) => break,
            Ok(n) => got += n,
        }
    }
    let head = String::from_utf8_lossy(&buf[..got]);
    head.split(' ').nth(1).and_then(|s| s.parse().ok()).filter(|s| *s > 0)
}
