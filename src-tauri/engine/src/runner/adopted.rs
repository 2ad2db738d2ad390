//! Children Porch did not spawn itself: a worker forked by a Python helper (`crate::zygote`)
//! and re-parented to Porch, the child subreaper. Linux only.
//!
//! Owns turning such a child into a [`Process`] like any other: [`Runner::claim_child`]
//! records the pid in the runner's `OWNED` set (so the orphan reaper never takes its exit
//! status) and opens a pidfd on it; [`Claim::into_process`] starts the same two tasks a
//! spawn gets: the pump, reading the worker's output from the stream the helper made its
//! stdout and stderr, and the keeper, which waits for SIGCHLD, reaps the child by pid once it
//! exited and publishes its [`Exit`]. Shutdown and a dropped handle
//! stop its group exactly as for a spawned child. Its memory is read as PSS (the pages it
//! shares with the helper count by their share), not RSS.
//!
//! Concurrency: as for spawned children (see the runner's module header); the claim holds
//! the `OWNED` lock only while it checks the parent and records the pid.

use std::os::fd::OwnedFd;
use std::sync::Arc;

use tokio::io::AsyncRead;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::{owned, platform, pump, pump_stop, Control, Exit, Logs, Process, Runner, Signal, Tail};

/// A child of Porch recorded as owned, not yet handed to a keeper. Dropping it kills the
/// child's group and gives the pid back to the orphan reaper.
#[derive(Debug)]
pub struct Claim {
    pid: u32,
    pidfd: Option<OwnedFd>,
    runner: Runner,
}

/// The group of an adopted child: signals as for a spawned one, memory as PSS.
#[derive(Debug)]
struct AdoptedGroup {
    pgid: u32,
    leader: platform::PidHandle,
}

impl Control for AdoptedGroup {
    fn signal(&self, signal: Signal) {
        if signal == Signal::Kill {
            self.leader.kill(self.pgid);
        }
        if let Err(e) = platform::signal_group(self.pgid, signal) {
            tracing::warn!(pgid = self.pgid, ?signal, "cannot signal the process group: {e}");
        }
    }

    fn rss(&self) -> u64 {
        platform::group_pss(self.pgid)
    }
}

impl Runner {
    /// Claims `pid`, which must be a child of this process leading its own process group
    /// (a worker a helper forked and Porch adopted). Fails when it is not Porch's child.
    pub fn claim_child(&self, pid: u32) -> std::io::Result<Claim> {
        let mut owned = owned();
        if platform::parent_of(pid) != Some(std::process::id()) {
            return Err(std::io::Error::other(format!("process {pid} is not a child of Porch")));
        }
        let fd = platform::pidfd(pid)?;
        owned.insert(pid);
        Ok(Claim { pid, pidfd: Some(fd), runner: self.clone() })
    }
}

impl Claim {
    /// The claimed pid.
    pub fn pid(&self) -> u32 {
        self.pid
    }

    /// Starts the pump on `output` (the child's stdout and stderr) and the keeper, and
    /// returns the handle.
    pub fn into_process(mut self, output: impl AsyncRead + Unpin + Send + 'static, logs: Logs) -> Process {
        let pid = self.pid;
        let pidfd = self.pidfd.take();
        let inner = self.runner.inner.clone();
        let control: Arc<dyn Control> = Arc::new(AdoptedGroup { pgid: pid, leader: platform::PidHandle::open(pid) });
        let (exit_tx, exit) = watch::channel(None);
        let (done_tx, output_done) = watch::channel(false);
        let tail = Tail::new(logs.tail_lines);
        let dropped = CancellationToken::new();

        let pump_stop = pump_stop(inner.cancel.clone(), dropped.clone(), exit.clone());
        let pump_tail = tail.clone();
        inner.tracker.spawn(async move {
            pump::run(pid, Some(output), None::<tokio::net::UnixStream>, logs, pump_tail, pump_stop).await;
            let _ = done_tx.send(true);
        });

        let (cancel, grace, keeper_control, keeper_dropped) =
            (inner.cancel.clone(), inner.grace, control.clone(), dropped.clone());
        inner.tracker.spawn(async move {
            // The pidfd stays open until the child is reaped, so signals through the
            // group's own handle never reach a reused pid meanwhile.
            let _pidfd = pidfd;
            let exited = wait_child(pid);
            tokio::pin!(exited);
            let exit = tokio::select! {
                e = &mut exited => e,
                _ = keeper_dropped.cancelled() => {
                    keeper_control.signal(Signal::Kill);
                    exited.await
                }
                _ = cancel.cancelled() => {
                    keeper_control.signal(Signal::Term);
                    match tokio::time::timeout(grace, &mut exited).await {
                        Ok(e) => e,
                        Err(_) => {
                            keeper_control.signal(Signal::Kill);
                            exited.await
                        }
                    }
                }
            };
            owned().remove(&pid);
            let _ = exit_tx.send(Some(exit));
        });
        Process { pid, exit, output_done, tail, control, _kill_on_drop: Some(dropped.drop_guard()) }
    }
}

impl Drop for Claim {
    fn drop(&mut self) {
        if self.pidfd.is_some() {
            // Never handed to a keeper: kill it, and let the orphan reaper collect it.
            let _ = platform::signal_group(self.pid, Signal::Kill);
            platform::PidHandle::open(self.pid).kill(self.pid);
            owned().remove(&self.pid);
        }
    }
}

/// Waits until the child `pid` exits, then reaps it. Woken by SIGCHLD (as tokio waits for
/// its own children; registering a pidfd with the reactor needs `unsafe`): every child's
/// exit wakes each keeper once, and nothing wakes it otherwise.
async fn wait_child(pid: u32) -> Exit {
    let mut sigchld = match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::child()) {
        Ok(s) => s,
        Err(e) => return Exit::Unknown(format!("cannot watch SIGCHLD: {e}")),
    };
    loop {
        match platform::try_reap(pid) {
            Ok(Some(status)) => return Exit::Status(status),
            Ok(None) => {}
            Err(e) => return Exit::Unknown(format!("its exit status could not be read: {e}")),
        }
        if sigchld.recv().await.is_none() {
            return Exit::Unknown("SIGCHLD is no longer delivered".into());
        }
    }
}
