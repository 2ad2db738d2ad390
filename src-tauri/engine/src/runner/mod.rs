//! The process runner: the only place Porch starts a child process.
//!
//! Owns: building the OS command (its own process group; `setpriv --pdeathsig KILL` where
//! the platform has it, so a child dies with a Porch that was SIGKILLed), the one line pump
//! that carries output to tracing, a tail ring and the caller's sink (channel or per-item
//! log file), signals (through `rustix`, to the whole group), memory readings of the group,
//! the graceful stop (SIGTERM to the group, a grace period, SIGKILL of the group) and the
//! reaping of orphans re-parented to Porch. It does not decide *what* runs or *when*: the
//! supervisor, renders and environment builds do, through [`Runner`].
//!
//! A [`Process`] is not a `tokio::process::Child`: it is a pid, an exit notification (a
//! `watch` of [`Exit`]), the tail of its output and a [`Control`] that signals its group and
//! reads its memory. [`Process::from_parts`] builds one for a process Porch did not spawn
//! itself (a fake in tests); `adopted.rs` builds a full one (pump, keeper, group signals,
//! PSS memory) for a child Porch did not spawn but is the parent of: a worker forked by a
//! Python helper (`crate::zygote`) and re-parented to Porch.
//!
//! # Concurrency model
//!
//! - Each spawned process gets two tasks on the runner's [`TaskTracker`]: the *keeper*,
//!   which owns the `tokio::process::Child`, waits for it and publishes its [`Exit`], and
//!   the *pump* (`pump.rs`). Engine shutdown cancels the runner's token; every keeper then
//!   stops its process gracefully and the tracker's `wait()` returns once all are gone.
//!   Dropping a [`Process`] before its exit SIGKILLs its group (the old `kill_on_drop`,
//!   extended to the group), so a cancelled deploy or render leaves nothing behind.
//! - Probes ([`Runner::output`]) run in the caller's task and hold a tracker token.
//! - Porch is the child subreaper ([`Runner::adopt_orphans`]): a grandchild whose parent
//!   died is re-parented to Porch and must be reaped by it, but a blanket `waitpid(-1)`
//!   would steal the exit statuses tokio waits for. So the reaper only reaps, by pid, zombie
//!   children that are (a) not in [`OWNED`] — the process-wide set of pids some runner
//!   waits for through tokio — and (b) not in Porch's own process group (every runner child
//!   leads its own group, so a re-parented grandchild is never in Porch's; children other
//!   code in the process starts with default settings are). A spawn inserts its pid into
//!   [`OWNED`] while holding its lock, and the reaper scans under the same lock, so a child
//!   that exits before it is recorded is never mistaken for an orphan. The set is
//!   process-wide because the kernel's list of children is: several engines in one test
//!   process share it.

#[cfg(target_os = "linux")]
mod adopted;
pub mod log;
mod pump;

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

pub use crate::platform::Signal;
#[cfg(target_os = "linux")]
pub use adopted::Claim;
pub use log::{read_log_tail, LogFile, SharedLog};
pub use pump::Tail;

use crate::platform;

/// Pids of children that a runner in this process waits for itself (through tokio); the
/// orphan reaper never touches them. See the module header.
static OWNED: Mutex<Option<HashSet<u32>>> = Mutex::new(None);

/// The set of [`OWNED`] pids, under its lock.
struct OwnedGuard(std::sync::MutexGuard<'static, Option<HashSet<u32>>>);

impl std::ops::Deref for OwnedGuard {
    type Target = HashSet<u32>;
    fn deref(&self) -> &HashSet<u32> {
        self.0.as_ref().expect("created in owned()")
    }
}

impl std::ops::DerefMut for OwnedGuard {
    fn deref_mut(&mut self) -> &mut HashSet<u32> {
        self.0.as_mut().expect("created in owned()")
    }
}

fn owned() -> OwnedGuard {
    let mut g = OWNED.lock().unwrap_or_else(|p| p.into_inner());
    g.get_or_insert_with(HashSet::new);
    OwnedGuard(g)
}

/// How long the pump keeps reading after its process exited during shutdown (a grandchild
/// may hold the pipes open forever).
const PUMP_AFTER_EXIT: Duration = Duration::from_millis(500);

/// When a process's log pump stops reading: once Porch shuts down or the process's handle is
/// dropped, and then its process has exited, [`PUMP_AFTER_EXIT`] later.
async fn pump_stop(cancel: CancellationToken, dropped: CancellationToken, mut exit: watch::Receiver<Option<Exit>>) {
    tokio::select! {
        _ = cancel.cancelled() => {}
        _ = dropped.cancelled() => {}
    }
    let _ = exit.wait_for(Option::is_some).await;
    tokio::time::sleep(PUMP_AFTER_EXIT).await;
}

/// A program to run: the runner's own command builder, so no other module touches
/// `std::process::Command`.
#[derive(Debug, Clone)]
pub struct Cmd {
    program: OsString,
    args: Vec<OsString>,
    env: Vec<(OsString, Option<OsString>)>,
    cwd: Option<PathBuf>,
    low_priority: bool,
}

impl Cmd {
    /// `program` (a path, or a name looked up on `PATH`) with no arguments.
    pub fn new(program: impl AsRef<OsStr>) -> Cmd {
        Cmd {
            program: program.as_ref().to_os_string(),
            args: Vec::new(),
            env: Vec::new(),
            cwd: None,
            low_priority: false,
        }
    }

    /// Runs it at the lowest CPU priority (`SCHED_IDLE` where `chrt` is found, else nice 19;
    /// inherited by what it starts), so it takes only time that serving viewers and
    /// deploying do not want: for background work nobody waits on, such as Porch's own
    /// automatic thumbnail captures. It may wait long on a busy machine: give it a timeout.
    pub fn low_priority(&mut self) -> &mut Cmd {
        self.low_priority = true;
        self
    }

    /// Adds one argument.
    pub fn arg(&mut self, arg: impl AsRef<OsStr>) -> &mut Cmd {
        self.args.push(arg.as_ref().to_os_string());
        self
    }

    /// Adds arguments.
    pub fn args<I: IntoIterator<Item = S>, S: AsRef<OsStr>>(&mut self, args: I) -> &mut Cmd {
        self.args.extend(args.into_iter().map(|a| a.as_ref().to_os_string()));
        self
    }

    /// Sets one environment variable (on top of Porch's own environment).
    pub fn env(&mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> &mut Cmd {
        self.env.push((key.as_ref().to_os_string(), Some(value.as_ref().to_os_string())));
        self
    }

    /// Sets environment variables.
    pub fn envs<I, K, V>(&mut self, vars: I) -> &mut Cmd
    where
        I: IntoIterator<Item = (K, V)>,
        K: AsRef<OsStr>,
        V: AsRef<OsStr>,
    {
        for (k, v) in vars {
            self.env(k, v);
        }
        self
    }

    /// Removes one inherited environment variable.
    pub fn env_remove(&mut self, key: impl AsRef<OsStr>) -> &mut Cmd {
        self.env.push((key.as_ref().to_os_string(), None));
        self
    }

    /// The working directory.
    pub fn current_dir(&mut self, dir: impl Into<PathBuf>) -> &mut Cmd {
        self.cwd = Some(dir.into());
        self
    }

    /// The program as given.
    pub fn program(&self) -> &OsStr {
        &self.program
    }

    /// `program arg arg…`, quoting arguments with spaces, for "$ …" log lines.
    pub fn display(&self) -> String {
        let mut out = self.program.to_string_lossy().into_owned();
        for a in &self.args {
            let a = a.to_string_lossy();
            out.push(' ');
            if a.is_empty() || a.contains(char::is_whitespace) {
                out.push_str(&format!("{a:?}"));
            } else {
                out.push_str(&a);
            }
        }
        out
    }

    /// The OS command: its own process group, stdin closed, killed if dropped, wrapped to
    /// die with Porch where the platform can.
    ///
    /// SECURITY: everything Porch runs (user apps, renders, installers running build
    /// scripts) goes through here, so none of it can outlive Porch as an orphan.
    fn os_command(&self) -> tokio::process::Command {
        // The chain: [setpriv --pdeathsig KILL --] [chrt --idle 0 | nice -n 19] program args…
        let (program, mut lead) = match self.low_priority.then(|| platform::low_priority_wrapper(&self.program)) {
            Some(Some((nice, lead))) => (nice.into_os_string(), lead),
            _ => (self.program.clone(), Vec::new()),
        };
        let mut cmd = match platform::parent_death_wrapper(&program) {
            Some((wrapper, mut outer)) => {
                outer.append(&mut lead);
                let mut c = tokio::process::Command::new(wrapper);
                c.args(outer);
                c
            }
            None => {
                let mut c = tokio::process::Command::new(&program);
                c.args(lead);
                c
            }
        };
        cmd.args(&self.args);
        for (k, v) in &self.env {
            match v {
                Some(v) => cmd.env(k, v),
                None => cmd.env_remove(k),
            };
        }
        if let Some(dir) = &self.cwd {
            cmd.current_dir(dir);
        }
        cmd.stdin(Stdio::null()).process_group(0).kill_on_drop(true);
        cmd
    }
}

/// Where a process's output lines go (besides tracing and its tail).
#[derive(Debug, Clone)]
pub enum Sink {
    /// Nowhere else.
    Discard,
    /// Each line, in arrival order across stdout and stderr.
    Channel(mpsc::UnboundedSender<String>),
    /// Appended to a shared log file as `[pid] line`.
    File(SharedLog),
}

/// How a spawned process's output is handled.
#[derive(Debug, Clone)]
pub struct Logs {
    /// Names the process in tracing events (an item's guid, "render 12", "uv pip install").
    pub label: String,
    /// Where lines go.
    pub sink: Sink,
    /// How many of the last lines [`Process::tail`] keeps.
    pub tail_lines: usize,
}

/// How a process ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Exit {
    /// It exited (or was killed) with this status.
    Status(std::process::ExitStatus),
    /// Its status could not be collected.
    Unknown(String),
}

impl Exit {
    /// Whether it exited with status 0.
    pub fn success(&self) -> bool {
        matches!(self, Exit::Status(s) if s.success())
    }
}

impl std::fmt::Display for Exit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exit::Status(s) => s.fmt(f),
            Exit::Unknown(why) => f.write_str(why),
        }
    }
}

/// Signals and memory readings for one process's group.
pub trait Control: Send + Sync + std::fmt::Debug {
    /// Sends `signal` to the process's whole group.
    fn signal(&self, signal: Signal);
    /// Resident memory, in bytes, of the whole group (0 where unknown).
    fn rss(&self) -> u64;
}

/// A real process group led by a runner child.
#[derive(Debug)]
struct Group {
    pgid: u32,
    leader: platform::PidHandle,
    /// Groups its descendants moved to (a Jupyter kernel starts its own session), found
    /// while they were still its descendants: once the leader is gone they are Porch's
    /// orphans and their ancestry is lost, so a later SIGKILL still reaches them.
    escaped: std::sync::Mutex<Vec<u32>>,
}

impl Control for Group {
    fn signal(&self, signal: Signal) {
        if signal == Signal::Kill {
            // The leader through its pidfd first: safe even if the group id was reused.
            self.leader.kill(self.pgid);
        }
        let escaped = {
            let mut known = self.escaped.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
            for g in platform::descendant_groups(self.pgid) {
                if !known.contains(&g) {
                    known.push(g);
                }
            }
            known.clone()
        };
        for pgid in std::iter::once(self.pgid).chain(escaped) {
            if let Err(e) = platform::signal_group(pgid, signal) {
                tracing::warn!(pgid, ?signal, "cannot signal the process group: {e}");
            }
        }
    }

    fn rss(&self) -> u64 {
        platform::group_rss(self.pgid)
    }
}

/// A running (or finished) child process.
#[derive(Debug)]
pub struct Process {
    pid: u32,
    exit: watch::Receiver<Option<Exit>>,
    output_done: watch::Receiver<bool>,
    tail: Tail,
    control: Arc<dyn Control>,
    /// Cancelled when the handle is dropped: the keeper then kills a still-running group.
    _kill_on_drop: Option<tokio_util::sync::DropGuard>,
}

impl Process {
    /// A handle on a process the runner did not spawn: `exit` is published by whoever
    /// waits for it, `control` signals it. (Fakes in tests; a process forked by a helper.)
    pub fn from_parts(pid: u32, exit: watch::Receiver<Option<Exit>>, control: Arc<dyn Control>) -> Process {
        let (_, output_done) = watch::channel(true);
        Process { pid, exit, output_done, tail: Tail::new(0), control, _kill_on_drop: None }
    }

    /// Its process id (also its process group id).
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Its signals and memory readings, to share with a health check.
    pub fn control(&self) -> Arc<dyn Control> {
        self.control.clone()
    }

    /// Sends `signal` to its group.
    pub fn signal(&self, signal: Signal) {
        self.control.signal(signal);
    }

    /// How it ended, if it has.
    pub fn try_exit(&self) -> Option<Exit> {
        self.exit.borrow().clone()
    }

    /// Waits until it has exited.
    pub async fn exited(&self) -> Exit {
        let mut rx = self.exit.clone();
        let exit = match rx.wait_for(Option::is_some).await {
            Ok(e) => e.clone().expect("wait_for returned a present exit"),
            Err(_) => Exit::Unknown("its keeper ended without an exit status".into()),
        };
        exit
    }

    /// Waits up to `limit` for its output pipes to close, so its last lines are in
    /// [`Process::tail`] and the sink.
    pub async fn output_closed(&self, limit: Duration) {
        let mut rx = self.output_done.clone();
        let _ = tokio::time::timeout(limit, rx.wait_for(|d| *d)).await;
    }

    /// The last lines it printed.
    pub fn tail(&self) -> Vec<String> {
        self.tail.lines()
    }

    /// Its output tail, to read after the handle is gone.
    pub fn tail_handle(&self) -> Tail {
        self.tail.clone()
    }

    /// Stops it: SIGTERM to the group, up to `grace` to exit, then SIGKILL of the group;
    /// anything it left in its group goes too.
    pub async fn stop(&self, grace: Duration) -> Exit {
        self.signal(Signal::Term);
        let exit = match tokio::time::timeout(grace, self.exited()).await {
            Ok(e) => e,
            Err(_) => {
                self.signal(Signal::Kill);
                self.exited().await
            }
        };
        self.signal(Signal::Kill);
        exit
    }
}

/// The pipes of a child started with [`Runner::spawn_talking`]: what the caller writes to
/// `stdin` and reads from `stdout`.
#[derive(Debug)]
pub struct Talk {
    /// The child's standard input.
    pub stdin: tokio::process::ChildStdin,
    /// The child's standard output.
    pub stdout: tokio::process::ChildStdout,
}

/// What a probe printed.
#[derive(Debug)]
pub struct Captured {
    /// Its exit status.
    pub status: std::process::ExitStatus,
    /// Everything on stdout.
    pub stdout: Vec<u8>,
    /// Everything on stderr.
    pub stderr: Vec<u8>,
}

/// Why a probe gave no output.
#[derive(Debug, thiserror::Error)]
pub enum OutputError {
    /// The program could not be started (`NotFound` when it does not exist).
    #[error("cannot run {program}")]
    Spawn {
        /// The program.
        program: String,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// It ran past its time limit and was killed.
    #[error("{program} did not finish within {limit:?}")]
    TimedOut {
        /// The program.
        program: String,
        /// The limit.
        limit: Duration,
    },
    /// Its output or status could not be read.
    #[error("reading the output of {program}")]
    Wait {
        /// The program.
        program: String,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
}

/// Removes a probe's pid from [`OWNED`] and kills its group if it did not finish.
struct ProbeGuard {
    pid: u32,
    finished: bool,
}

impl Drop for ProbeGuard {
    fn drop(&mut self) {
        if !self.finished {
            let _ = platform::signal_group(self.pid, Signal::Kill);
        }
        // Once removed, a zombie left for tokio's orphan queue may be reaped by the orphan
        // reaper instead; tokio then finds it gone, which it treats as reaped.
        owned().remove(&self.pid);
    }
}

/// Spawns `cmd`, recording its pid in [`OWNED`] under the set's lock.
fn spawn_owned(cmd: &mut tokio::process::Command) -> std::io::Result<tokio::process::Child> {
    let mut owned = owned();
    let child = cmd.spawn()?;
    if let Some(pid) = child.id() {
        owned.insert(pid);
    }
    Ok(child)
}

/// Starts, tracks and stops child processes. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Runner {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    tracker: TaskTracker,
    cancel: CancellationToken,
    grace: Duration,
}

impl Runner {
    /// A runner whose processes are tracked by `tracker` and stopped (SIGTERM, `grace`,
    /// SIGKILL) when `cancel` fires.
    pub fn new(tracker: TaskTracker, cancel: CancellationToken, grace: Duration) -> Runner {
        Runner { inner: Arc::new(Inner { tracker, cancel, grace }) }
    }

    /// A runner nobody shuts down (tools used outside a serving engine; tests). Its
    /// processes still die with their handles and with Porch.
    pub fn detached() -> Runner {
        Runner::new(TaskTracker::new(), CancellationToken::new(), Duration::from_secs(5))
    }

    /// Whether Porch is stopping (the runner's token is cancelled): every process it runs is
    /// being ended, so an exit now is not the process's own failure.
    pub fn is_stopping(&self) -> bool {
        self.inner.cancel.is_cancelled()
    }

    /// Starts `cmd` with its output piped through the pump to `logs`.
    pub fn spawn(&self, cmd: &Cmd, logs: Logs) -> std::io::Result<Process> {
        Ok(self.start(cmd, logs, false)?.0)
    }

    /// Starts `cmd` for a conversation: its stdin and stdout are the caller's (a protocol
    /// spoken over pipes, such as Chromium's DevTools pipe), only its stderr goes through the
    /// pump to `logs`. Everything else is as [`Runner::spawn`].
    pub fn spawn_talking(&self, cmd: &Cmd, logs: Logs) -> std::io::Result<(Process, Talk)> {
        let (process, talk) = self.start(cmd, logs, true)?;
        let talk = talk.ok_or_else(|| std::io::Error::other("the child's pipes were not opened"))?;
        Ok((process, talk))
    }

    fn start(&self, cmd: &Cmd, logs: Logs, talking: bool) -> std::io::Result<(Process, Option<Talk>)> {
        let mut os = cmd.os_command();
        os.stdout(Stdio::piped()).stderr(Stdio::piped());
        if talking {
            os.stdin(Stdio::piped());
        }
        let mut child = spawn_owned(&mut os)?;
        let pid = child.id().unwrap_or(0);
        let control: Arc<dyn Control> =
            Arc::new(Group { pgid: pid, leader: platform::PidHandle::open(pid), escaped: Default::default() });
        let (exit_tx, exit) = watch::channel(None);
        let (done_tx, output_done) = watch::channel(false);
        let tail = Tail::new(logs.tail_lines);
        let dropped = CancellationToken::new();

        let (mut stdout, stderr) = (child.stdout.take(), child.stderr.take());
        // A conversation's stdout is the caller's; the pump then reads stderr only.
        let talk = if talking {
            match (child.stdin.take(), stdout.take()) {
                (Some(stdin), Some(stdout)) => Some(Talk { stdin, stdout }),
                _ => None,
            }
        } else {
            None
        };
        let pump_stop = pump_stop(self.inner.cancel.clone(), dropped.clone(), exit.clone());
        let pump_tail = tail.clone();
        self.inner.tracker.spawn(async move {
            pump::run(pid, stdout, stderr, logs, pump_tail, pump_stop).await;
            let _ = done_tx.send(true);
        });

        let (cancel, grace, keeper_control, keeper_dropped) =
            (self.inner.cancel.clone(), self.inner.grace, control.clone(), dropped.clone());
        self.inner.tracker.spawn(async move {
            enum Why {
                Dropped,
                Shutdown,
            }
            let early = tokio::select! {
                s = child.wait() => Ok(s),
                _ = keeper_dropped.cancelled() => Err(Why::Dropped),
                _ = cancel.cancelled() => Err(Why::Shutdown),
            };
            let waited = match early {
                Ok(s) => s,
                Err(Why::Dropped) => {
                    keeper_control.signal(Signal::Kill);
                    child.wait().await
                }
                Err(Why::Shutdown) => {
                    keeper_control.signal(Signal::Term);
                    match tokio::time::timeout(grace, child.wait()).await {
                        Ok(s) => s,
                        Err(_) => {
                            keeper_control.signal(Signal::Kill);
                            child.wait().await
                        }
                    }
                }
            };
            owned().remove(&pid);
            let exit = match waited {
                Ok(s) => Exit::Status(s),
                Err(e) => Exit::Unknown(format!("its exit status could not be read: {e}")),
            };
            let _ = exit_tx.send(Some(exit));
        });
        let process = Process { pid, exit, output_done, tail, control, _kill_on_drop: Some(dropped.drop_guard()) };
        Ok((process, talk))
    }

    /// Runs `cmd` to the end with stdout and stderr captured whole (interpreter and tool
    /// probes); it is killed, with its group, after `limit` or when the future is dropped.
    pub async fn output(&self, cmd: &Cmd, limit: Duration) -> Result<Captured, OutputError> {
        let _tracked = self.inner.tracker.token();
        let program = cmd.program.to_string_lossy().into_owned();
        let mut os = cmd.os_command();
        os.stdout(Stdio::piped()).stderr(Stdio::piped());
        let child = spawn_owned(&mut os).map_err(|source| OutputError::Spawn { program: program.clone(), source })?;
        let mut guard = ProbeGuard { pid: child.id().unwrap_or(0), finished: false };
        match tokio::time::timeout(limit, child.wait_with_output()).await {
            Ok(Ok(out)) => {
                guard.finished = true;
                Ok(Captured { status: out.status, stdout: out.stdout, stderr: out.stderr })
            }
            Ok(Err(source)) => Err(OutputError::Wait { program, source }),
            Err(_) => Err(OutputError::TimedOut { program, limit }),
        }
    }

    /// Makes Porch the subreaper of its descendants and reaps the orphans that come back to
    /// it, until the runner is cancelled. Returns whether the platform supports it (see
    /// `crate::platform`). Call once, at engine start.
    pub fn adopt_orphans(&self) -> bool {
        if !platform::become_subreaper() {
            tracing::debug!("no child subreaper on this platform; orphans go to init");
            return false;
        }
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let mut sigchld = match signal(SignalKind::child()) {
                Ok(s) => s,
                Err(e) => {
                    tracing::warn!("cannot watch SIGCHLD; orphaned processes stay zombies until Porch exits: {e}");
                    return false;
                }
            };
            let cancel = self.inner.cancel.clone();
            self.inner.tracker.spawn(async move {
                reap_orphans();
                loop {
                    tokio::select! {
                        _ = cancel.cancelled() => break,
                        got = sigchld.recv() => match got {
                            Some(()) => reap_orphans(),
                            None => break,
                        },
                    }
                }
            });
        }
        true
    }
}

/// Reaps every zombie child that is an adopted orphan (see the module header).
fn reap_orphans() {
    let owned = owned();
    for pid in platform::orphan_zombies(&owned) {
        tracing::debug!(pid, "reaping an orphaned process");
        platform::reap(pid);
    }
}

#[cfg(test)]
mod tests;
