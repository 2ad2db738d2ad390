//! One worker as its item's actor sees it: state, connections, idle time, output tail.
//!
//! Plain data owned by the actor (`app.rs`); the process itself is a runner
//! [`Process`](crate::runner::Process) owned by the worker's watcher task, of which the
//! actor keeps the [`Control`] (signals, memory) and the output [`Tail`].

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Instant;

use serde::Serialize;

use super::Spawn;
use crate::runner::{Control, Signal, Tail};

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
    /// Set once the worker was told to stop: it takes no new connections and needs no
    /// further decision (so it never makes the actor wake again).
    pub(super) stopping: bool,
    pub(super) conns: Arc<AtomicUsize>,
    pub(super) started: Instant,
    pub(super) idle_since: Option<tokio::time::Instant>,
    /// Its process group, once spawned.
    pub(super) control: Option<Arc<dyn Control>>,
    /// Its last output lines, once spawned.
    pub(super) tail: Option<Tail>,
    /// Cancels the readiness probe and health check once the worker is stopped or gone.
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
        self.tail.as_ref().map(Tail::lines).unwrap_or_default()
    }

    /// SIGKILL to the worker's group (as a crash would); `false` before it has a process.
    pub(super) fn kill(&self) -> bool {
        match &self.control {
            Some(c) => {
                c.signal(Signal::Kill);
                true
            }
            None => false,
        }
    }
}
