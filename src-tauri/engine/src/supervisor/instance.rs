//! One worker process: spawn, readiness, output capture, stop.
//!
//! SECURITY: this runs user content. The child gets only the environment the launcher
//! gives it on top of Porch's own, runs in its own process group (so one signal reaches
//! everything it started), and, through `setpriv --pdeathsig KILL`, is killed by the
//! kernel if Porch dies without cleaning up.

use std::collections::VecDeque;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::process::{Child, Command};

use super::Spawn;

/// Lines of output kept in memory per worker (for crash reports).
const TAIL_LINES: usize = 50;
/// A per-item log file is rotated past this size.
const MAX_LOG_BYTES: u64 = 4 * 1024 * 1024;

/// Where a worker is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Spawned, not yet answering.
    Starting,
    /// Answering; receives new connections.
    Ready,
    /// Finishing its connections; receives no new ones.
    Draining,
}

/// A worker as the API lists it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct InstanceInfo {
    /// Worker id within the item.
    pub id: u64,
    /// Process id (also its process group id).
    pub pid: u32,
    /// The bundle it runs.
    pub bundle_id: i64,
    /// Loopback port.
    pub port: u16,
    /// State.
    pub state: State,
    /// Open connections.
    pub connections: usize,
    /// Seconds since it started.
    pub uptime_secs: u64,
}

/// A live worker, owned by its item's actor.
#[derive(Debug)]
pub(super) struct Instance {
    pub(super) id: u64,
    pub(super) pid: u32,
    pub(super) bundle_id: i64,
    pub(super) spawn: Spawn,
    pub(super) state: State,
    pub(super) conns: Arc<AtomicUsize>,
    pub(super) started: Instant,
    pub(super) idle_since: Option<tokio::time::Instant>,
    pub(super) tail: Arc<Mutex<VecDeque<String>>>,
    /// Cancels the readiness probe once the worker is stopped or gone.
    pub(super) probe: tokio_util::sync::CancellationToken,
}

impl Instance {
    pub(super) fn connections(&self) -> usize {
        self.conns.load(Ordering::SeqCst)
    }

    pub(super) fn info(&self) -> InstanceInfo {
        InstanceInfo {
            id: self.id,
            pid: self.pid,
            bundle_id: self.bundle_id,
            port: self.spawn.port,
            state: self.state,
            connections: self.connections(),
            uptime_secs: self.started.elapsed().as_secs(),
        }
    }

    pub(super) fn last_lines(&self) -> Vec<String> {
        self.tail.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect()
    }
}

/// Whether `setpriv` (util-linux) can set a parent-death signal here.
fn setpriv() -> Option<&'static Path> {
    static FOUND: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    FOUND
        .get_or_init(|| ["/usr/bin/setpriv", "/bin/setpriv"].iter().map(PathBuf::from).find(|p| p.is_file()))
        .as_deref()
}

/// Starts a worker; its output goes to `log` (shared per item) and the returned tail.
pub(super) async fn spawn(
    spawn: &Spawn,
    guid: &str,
    log: Arc<tokio::sync::Mutex<LogFile>>,
    tail: Arc<Mutex<VecDeque<String>>>,
) -> std::io::Result<(Child, Vec<tokio::task::JoinHandle<()>>)> {
    for (path, text) in &spawn.files {
        if let Some(dir) = path.parent() {
            tokio::fs::create_dir_all(dir).await?;
        }
        tokio::fs::write(path, text).await?;
    }
    let mut cmd = match setpriv() {
        Some(sp) => {
            let mut c = Command::new(sp);
            c.args(["--pdeathsig", "KILL", "--"]).arg(&spawn.program);
            c
        }
        None => Command::new(&spawn.program),
    };
    cmd.args(&spawn.args)
        .current_dir(&spawn.cwd)
        .envs(spawn.env.iter().map(|(k, v)| (k, v)))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = cmd.spawn()?;
    let pid = child.id().unwrap_or(0);
    let mut readers = Vec::new();
    for (stream, name) in [
        (child.stdout.take().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>), "stdout"),
        (child.stderr.take().map(|s| Box::new(s) as Box<dyn tokio::io::AsyncRead + Send + Unpin>), "stderr"),
    ] {
        let Some(stream) = stream else { continue };
        let (tail, log, guid) = (tail.clone(), log.clone(), guid.to_string());
        readers.push(tokio::spawn(async move {
            let mut lines = BufReader::new(stream).lines();
            while let Ok(Some(line)) = lines.next_line().await {
                tracing::debug!(app = %guid, pid, stream = name, "{line}");
                {
                    let mut t = tail.lock().unwrap_or_else(|p| p.into_inner());
                    if t.len() == TAIL_LINES {
                        t.pop_front();
                    }
                    t.push_back(line.clone());
                }
                log.lock().await.write(&format!("[{pid}] {line}")).await;
            }
        }));
    }
    Ok((child, readers))
}

/// Polls the worker until it answers HTTP on its readiness path.
pub(super) async fn wait_ready(spawn: &Spawn) -> bool {
    let status = probe_status(spawn).await.unwrap_or(0);
    status > 0 && (spawn.ready_on_any_status || status < 500)
}

/// The HTTP status the worker answers on its readiness path, if it answers at all.
pub(super) async fn probe_status(spawn: &Spawn) -> Option<u16> {
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

/// Resident memory, in bytes, of every process in the group `pgid` (a worker and
/// everything it started). Linux `/proc`; 0 where that is not available.
pub(super) fn group_rss(pgid: u32) -> u64 {
    let Ok(rd) = std::fs::read_dir("/proc") else { return 0 };
    let mut total = 0;
    for e in rd.flatten() {
        let name = e.file_name();
        let Some(name) = name.to_str().filter(|n| n.bytes().all(|b| b.is_ascii_digit())) else { continue };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{name}/stat")) else { continue };
        // Fields after the command name (which may hold spaces and parentheses).
        let Some(rest) = stat.rfind(')').map(|i| &stat[i + 1..]) else { continue };
        let pgrp: Option<u32> = rest.split_whitespace().nth(2).and_then(|s| s.parse().ok());
        if pgrp != Some(pgid) {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(format!("/proc/{name}/status")) else { continue };
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0);
        total += kb * 1024;
    }
    total
}

/// Signals a worker's whole process group.
pub(super) fn signal_group(pid: u32, signal: &str) {
    if pid == 0 {
        return;
    }
    // `--` matters: procps kill misreads `-SIG -PGID` without it.
    let _ = std::process::Command::new("kill")
        .args(["-s", signal, "--", &format!("-{pid}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status();
}

/// Stops a worker: SIGTERM to its group, wait up to `grace`, then SIGKILL.
pub(super) async fn stop(mut child: Child, grace: Duration) {
    let pid = child.id().unwrap_or(0);
    signal_group(pid, "TERM");
    if tokio::time::timeout(grace, child.wait()).await.is_err() {
        signal_group(pid, "KILL");
        let _ = child.wait().await;
    }
    // Anything the worker left in its group goes too.
    signal_group(pid, "KILL");
}

/// A per-item log file, appended to by every worker and rotated when large.
#[derive(Debug)]
pub(super) struct LogFile {
    path: PathBuf,
    file: Option<tokio::fs::File>,
    size: u64,
}

impl LogFile {
    pub(super) fn new(path: PathBuf) -> LogFile {
        LogFile { path, file: None, size: 0 }
    }

    pub(super) async fn write(&mut self, line: &str) {
        if self.file.is_none() {
            if let Some(dir) = self.path.parent() {
                let _ = tokio::fs::create_dir_all(dir).await;
            }
            self.file = tokio::fs::OpenOptions::new().create(true).append(true).open(&self.path).await.ok();
            self.size = tokio::fs::metadata(&self.path).await.map(|m| m.len()).unwrap_or(0);
        }
        let Some(f) = self.file.as_mut() else { return };
        let stamped = format!("{} {line}\n", crate::time::now());
        if f.write_all(stamped.as_bytes()).await.is_ok() {
            self.size += stamped.len() as u64;
        }
        if self.size > MAX_LOG_BYTES {
            self.file = None;
            let _ = tokio::fs::rename(&self.path, self.path.with_extension("log.1")).await;
        }
    }
}

/// The last `n` lines of a log file (and its rotated predecessor when short).
pub(super) async fn read_log_tail(path: &Path, n: usize) -> Vec<String> {
    let mut text = tokio::fs::read_to_string(path).await.unwrap_or_default();
    if text.lines().count() < n {
        let older = tokio::fs::read_to_string(path.with_extension("log.1")).await.unwrap_or_default();
        text = older + &text;
    }
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}
