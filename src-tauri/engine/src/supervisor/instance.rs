//! One worker as its item's actor sees it: state, connections, idle time, output tail.
//!
//! Plain data owned by the actor (`app.rs`); the process itself is a runner
//! [`Process`](crate::runner::Process) owned by the worker's watcher task, of which the
//! actor keeps the [`Control`] (signals, memory) and the output [`Tail`]. Its [`Gate`] is
//! the one part shared with requests: leases enter and leave it without the actor.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

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
    /// Its connections, shared with leases and the fast path.
    pub(super) gate: Arc<Gate>,
    pub(super) started: Instant,
    /// Its process group, once spawned.
    pub(super) control: Option<Arc<dyn Control>>,
    /// Its last output lines, once spawned.
    pub(super) tail: Option<Tail>,
    /// Cancels the readiness probe and health check once the worker is stopped or gone.
    pub(super) probe: tokio_util::sync::CancellationToken,
}

impl Instance {
    pub(super) fn connections(&self) -> usize {
        self.gate.connections()
    }

    /// Since when it has had no connection (meaningful while it has none).
    pub(super) fn idle_since(&self) -> tokio::time::Instant {
        self.gate.idle_since()
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

/// The top bit of [`Gate::conns`]: the door is shut, the worker is being stopped.
const CLOSED: usize = 1 << (usize::BITS - 1);

/// One worker's door for connections, shared by its actor, its leases and the supervisor's
/// fast path (`Supervisor::acquire`), so a request is routed and released without a
/// message to the actor.
///
/// Concurrency: `conns` counts open connections; its top bit ([`CLOSED`]) is set by the
/// actor before it stops the worker, and a connection may only enter while it is clear, so
/// no request is routed to a worker being stopped. The actor closes an idle worker with a
/// compare-and-swap from zero, which fails if a request entered in between. `last_active`
/// is written before the count drops, so whoever reads a count of zero also sees when the
/// last connection ended.
#[derive(Debug)]
pub(super) struct Gate {
    conns: AtomicUsize,
    /// When the last connection ended (or the worker became ready), as nanoseconds since
    /// `epoch` (tokio's clock, which tests pause).
    last_active: AtomicU64,
    epoch: tokio::time::Instant,
    /// The actor wants a `Released` message when a connection ends (it is draining).
    watched: AtomicBool,
}

impl Gate {
    pub(super) fn new() -> Gate {
        Gate {
            conns: AtomicUsize::new(0),
            last_active: AtomicU64::new(0),
            epoch: tokio::time::Instant::now(),
            watched: AtomicBool::new(false),
        }
    }

    /// Takes a connection if the door is open and fewer than `max` are open.
    pub(super) fn enter(&self, max: usize) -> bool {
        self.conns
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |c| (c & CLOSED == 0 && c < max).then_some(c + 1))
            .is_ok()
    }

    /// Ends a connection; returns whether the actor asked to hear of it.
    pub(super) fn leave(&self) -> bool {
        self.touch();
        self.conns.fetch_sub(1, Ordering::AcqRel);
        self.watched.load(Ordering::Acquire)
    }

    /// Marks now as the last activity.
    pub(super) fn touch(&self) {
        let nanos = u64::try_from(self.epoch.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.last_active.store(nanos, Ordering::Release);
    }

    pub(super) fn connections(&self) -> usize {
        self.conns.load(Ordering::Acquire) & !CLOSED
    }

    pub(super) fn idle_since(&self) -> tokio::time::Instant {
        self.epoch + Duration::from_nanos(self.last_active.load(Ordering::Acquire))
    }

    /// Shuts the door if no connection is open; `false` if one is (it stays open).
    pub(super) fn close_if_idle(&self) -> bool {
        self.conns.compare_exchange(0, CLOSED, Ordering::AcqRel, Ordering::Acquire).is_ok()
    }

    /// Shuts the door whatever is open (the worker is stopped regardless).
    pub(super) fn close(&self) {
        self.conns.fetch_or(CLOSED, Ordering::AcqRel);
    }

    /// Asks for a `Released` message whenever a connection ends.
    pub(super) fn watch(&self) {
        self.watched.store(true, Ordering::Release);
    }
}
