//! The fast path: routing a request to a ready worker without a message to the actor.
//!
//! The actor publishes a [`Snapshot`] of its routable workers after every change (a worker
//! ready, draining, stopping; a new definition). A request reads the newest snapshot
//! without a lock (`arc-swap`), applies the same rule as the actor (features.md §2.1: scale
//! up above the load factor, affinity, fewest connections with room) and enters the chosen
//! worker's [`Gate`]. Whenever the rule needs the actor (no ready worker, a worker to start,
//! every worker full, a door shut under it) it returns `None` and the request asks the
//! actor, which stays the only one to start, drain and stop workers. A lease leaves its
//! gate on drop and messages the actor only when the actor asked for it (a draining worker,
//! or requests waiting for a worker), so a steady stream of requests to a warm app never
//! wakes the actor.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use arc_swap::ArcSwap;
use tokio::sync::mpsc;

use super::app::Msg;
use super::instance::Gate;
use super::{Lease, PrefixMode};

/// What one item shares between its actor and the requests routed to it.
#[derive(Debug)]
pub(super) struct Shared {
    /// The actor's mailbox.
    pub(super) tx: mpsc::UnboundedSender<Msg>,
    snapshot: ArcSwap<Snapshot>,
    /// Requests are waiting for a worker: every ended connection is worth a message.
    waiting: AtomicBool,
    /// The newest change (a new definition) sent to the actor; a snapshot older than it
    /// is not used, so a request made after a deploy returns never reaches the old version.
    expected: AtomicU64,
}

/// The routable workers of an item, as its actor last published them.
#[derive(Debug, Default)]
pub(super) struct Snapshot {
    /// Ready and draining workers that are not being stopped.
    pub(super) slots: Vec<Slot>,
    /// `max_conns_per_process`.
    pub(super) max_conns: usize,
    /// `load_factor`.
    pub(super) load_factor: f64,
    /// Whether the actor could start another worker (below `max_processes`).
    pub(super) can_grow: bool,
    /// Idle limits for long-lived exchanges.
    pub(super) connection_timeout: Duration,
    /// Limit on silence from the viewer.
    pub(super) read_timeout: Duration,
    /// The last change the actor had applied when it published this.
    pub(super) change: u64,
    /// The item's Python helper, of which each lease is a view.
    pub(super) views: Option<crate::zygote::Views>,
}

/// One routable worker.
#[derive(Debug)]
pub(super) struct Slot {
    pub(super) id: u64,
    pub(super) port: u16,
    pub(super) prefix: PrefixMode,
    /// Ready and running the current version: takes new sessions. A draining worker only
    /// keeps the sessions it has (affinity).
    pub(super) live: bool,
    pub(super) gate: Arc<Gate>,
}

impl Shared {
    pub(super) fn new(tx: mpsc::UnboundedSender<Msg>) -> Shared {
        let (waiting, expected) = (AtomicBool::new(false), AtomicU64::new(0));
        Shared { tx, snapshot: ArcSwap::from_pointee(Snapshot::default()), waiting, expected }
    }

    /// Numbers a change about to be sent to the actor; until the actor publishes it, every
    /// request goes through the actor (which sees the change first: messages keep order).
    pub(super) fn expect_change(&self) -> u64 {
        self.expected.fetch_add(1, Ordering::AcqRel) + 1
    }

    /// Replaces the snapshot (the actor, after a change).
    pub(super) fn publish(&self, snapshot: Snapshot, waiting: bool) {
        self.snapshot.store(Arc::new(snapshot));
        self.waiting.store(waiting, Ordering::Release);
    }

    /// A lease on a ready worker by the actor's rule, or `None` when the actor must decide.
    pub(super) fn try_lease(self: &Arc<Self>, affinity: Option<u64>) -> Option<Lease> {
        let snap = self.snapshot.load();
        if snap.change < self.expected.load(Ordering::Acquire) {
            return None;
        }
        let max = snap.max_conns;
        let (mut live, mut total) = (0usize, 0usize);
        let mut best: Option<(&Slot, usize)> = None;
        for slot in snap.slots.iter().filter(|s| s.live) {
            let c = slot.gate.connections();
            live += 1;
            total += c;
            if c < max && best.is_none_or(|(_, b)| c < b) {
                best = Some((slot, c));
            }
        }
        // Above the load factor with room to grow: the actor starts one more worker.
        if live > 0 && snap.can_grow {
            let u = (total + 1) as f64 / (live * max.max(1)) as f64;
            if u > snap.load_factor {
                return None;
            }
        }
        // A session stays on its worker, even one that is draining after a redeploy.
        if let Some(id) = affinity {
            if let Some(slot) = snap.slots.iter().find(|s| s.id == id) {
                if slot.gate.enter(usize::MAX) {
                    return Some(self.lease(slot, &snap));
                }
            }
        }
        let (slot, _) = best?;
        slot.gate.enter(max).then(|| self.lease(slot, &snap))
    }

    fn lease(self: &Arc<Self>, slot: &Slot, snap: &Snapshot) -> Lease {
        Lease {
            instance: slot.id,
            port: slot.port,
            prefix: slot.prefix,
            connection_timeout: snap.connection_timeout,
            read_timeout: snap.read_timeout,
            gate: slot.gate.clone(),
            app: self.clone(),
            _view: snap.views.as_ref().map(crate::zygote::Views::begin),
        }
    }

    /// A connection ended: leave the gate, and tell the actor if it asked.
    pub(super) fn released(&self, gate: &Gate, id: u64) {
        if gate.leave() || self.waiting.load(Ordering::Acquire) {
            let _ = self.tx.send(Msg::Released { id });
        }
    }
}
