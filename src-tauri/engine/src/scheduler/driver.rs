//! # The schedule loop: sleep until the next run is due or something changed
//!
//! Owns *when the loop wakes* and *what it does on waking*: which schedules are due, which
//! missed run is caught up or dropped, and how long to sleep next. It does not own the
//! schedules' storage or what a run does; both sit behind [`Host`], and wall time sits behind
//! [`Clock`], so the state machine runs against an in-memory host on tokio's paused clock
//! (the tests) as well as against the engine's store and renders (`crate::schedules`).
//!
//! ## Concurrency model
//!
//! One task runs [`run`]. It reads the schedules once, fires what is due, remembers the
//! earliest next run and sleeps until then, or until a [`Wake`] says a schedule changed, or
//! until [`MAX_SLEEP`] passed, whichever comes first. Between changes it never reads the
//! store again: a wake-up with nothing due costs one clock read. [`Wake`] keeps one permit,
//! so a change made while the loop is busy firing is seen when it next waits.
//!
//! ## Wall clock and monotonic sleep
//!
//! Runs are wall-clock instants (UTC, computed in the schedule's zone), so the loop decides
//! with [`Clock::now`], the wall clock. It sleeps with tokio's timer, which is monotonic
//! (`CLOCK_MONOTONIC` on Linux: it does not move while the machine is suspended, nor when
//! the wall clock is set). A single long sleep would therefore wake hours late after a
//! laptop slept, or never notice that the clock was set forward. Each sleep is at most
//! [`MAX_SLEEP`] instead: after a suspend or a clock step, the loop sees the wall time
//! within 30 s and handles the missed run as a catch-up (at most one run, as Connect's
//! semantics in `features.md` §2.3 and Porch's catch-up option say). A clock set backwards
//! repeats nothing: runs are counted from the last planned run handled, never from `now`.

use std::fmt::Display;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::{missed_since, Schedule};

/// The longest single sleep: how late the loop may notice a wall-clock jump or the end of a
/// suspend. One wake-up every 30 s with nothing due costs one clock read.
pub const MAX_SLEEP: Duration = Duration::from_secs(30);

/// How long to wait before reading the store again after it failed.
pub const RETRY: Duration = Duration::from_secs(5);

/// A run this late still counts as on time (not a catch-up, so it runs with catch-up off).
pub const ON_TIME: Duration = Duration::from_secs(60);

/// Wall time and sleeping: the system clock in Porch, a clock driven by tokio's paused time
/// in tests.
pub trait Clock: Send + Sync {
    /// The wall-clock time now.
    fn now(&self) -> Timestamp;
    /// Sleeps for `d` of monotonic time.
    fn sleep(&self, d: Duration) -> impl Future<Output = ()> + Send;
}

/// The real clock: `Timestamp::now()` and `tokio::time::sleep`.
#[derive(Debug, Clone, Copy, Default)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Timestamp {
        Timestamp::now()
    }

    fn sleep(&self, d: Duration) -> impl Future<Output = ()> + Send {
        tokio::time::sleep(d)
    }
}

/// One enabled schedule as the loop sees it.
#[derive(Debug, Clone)]
pub struct Planned<R> {
    /// The schedule's id (for logs and [`Host::handled`]).
    pub id: i64,
    /// When it runs.
    pub schedule: Schedule,
    /// Runs are counted after this: the planned time of the last run handled, or when the
    /// schedule was made.
    pub since: Timestamp,
    /// Whether a run found more than [`ON_TIME`] late still runs (once).
    pub catch_up: bool,
    /// What the host needs to fire it.
    pub row: R,
}

/// Where schedules are kept and what a run does.
pub trait Host: Send + Sync {
    /// What [`Host::fire`] gets besides the times (the engine's stored row).
    type Row: Send + Sync;
    /// Why reading or writing the store failed.
    type Error: Display + Send;
    /// Every enabled schedule with a valid definition.
    fn schedules(&self) -> impl Future<Output = Result<Vec<Planned<Self::Row>>, Self::Error>> + Send;
    /// Records that the run planned at `planned` was handled (fired or dropped). Called before
    /// [`Host::fire`], so a crash in the middle never runs it twice.
    fn handled(&self, id: i64, planned: Timestamp) -> impl Future<Output = Result<(), Self::Error>> + Send;
    /// Starts the run planned at `planned`; `late` when it is a catch-up. Returns once the run
    /// is started (or skipped), not when it ends.
    fn fire(&self, row: &Self::Row, planned: Timestamp, late: bool) -> impl Future<Output = ()> + Send;
    /// The earliest run still to come (`None`: no enabled schedule) and the schedules planned
    /// for it, each time the loop has read the schedules and fired what was due (keep-awake
    /// holds the computer awake before it). Does nothing unless the host cares.
    fn upcoming(&self, _at: Option<Timestamp>, _rows: &[&Self::Row]) {}
}

/// Tells the loop that schedules changed (added, edited, deleted, or changed by another
/// process), so it reads them again. Cheap to clone; a poke with nobody waiting is kept
/// until the loop next waits.
#[derive(Debug, Clone, Default)]
pub struct Wake(Arc<Notify>);

impl Wake {
    /// Makes the loop read the schedules again.
    pub fn poke(&self) {
        self.0.notify_one();
    }

    async fn poked(&self) {
        self.0.notified().await;
    }
}

/// Fires the runs due at `now` and returns the earliest run still to come. A run found more
/// than [`ON_TIME`] late is a catch-up: it fires once (the latest missed one) if the schedule
/// catches up, and is dropped otherwise.
pub async fn fire_due<H: Host>(host: &H, now: Timestamp) -> Result<Option<Timestamp>, H::Error> {
    let mut next: Option<Timestamp> = None;
    let planned_all = host.schedules().await?;
    let mut next_rows: Vec<&H::Row> = Vec::new();
    for p in &planned_all {
        let mut since = p.since;
        if let Some(planned) = missed_since(&p.schedule, p.since, now) {
            host.handled(p.id, planned).await?;
            since = planned;
            let late = now.duration_since(planned).unsigned_abs() > ON_TIME;
            if late && !p.catch_up {
                tracing::info!(schedule = p.id, %planned, "missed run dropped (catch-up is off)");
            } else {
                host.fire(&p.row, planned, late).await;
            }
        }
        // After a clock set backwards `since` is ahead of `now`: nothing before it runs again.
        if let Some(t) = p.schedule.next_after(since.max(now)) {
            match next {
                Some(n) if n < t => {}
                Some(n) if n == t => next_rows.push(&p.row),
                _ => (next, next_rows) = (Some(t), vec![&p.row]),
            }
        }
    }
    host.upcoming(next, &next_rows);
    Ok(next)
}

/// The schedule loop: fires due runs until `cancel`. See the module documentation.
pub async fn run<C: Clock, H: Host>(clock: C, host: H, wake: Wake, cancel: CancellationToken) {
    // Whether the schedules must be read again (at start, after a change, after an error).
    let mut stale = true;
    let mut next: Option<Timestamp> = None;
    loop {
        let now = clock.now();
        let mut nap = MAX_SLEEP;
        if stale || next.is_some_and(|t| t <= now) {
            match fire_due(&host, now).await {
                Ok(n) => (next, stale) = (n, false),
                Err(e) => {
                    tracing::warn!(error = %e, "schedule check failed");
                    (next, stale, nap) = (None, true, RETRY);
                }
            }
        }
        if let Some(t) = next {
            // Firing took time: measure from the clock again. Zero means "due already".
            let until = clock.now().duration_until(t);
            nap = nap.min(until.try_into().unwrap_or(Duration::ZERO));
        }
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = wake.poked() => stale = true,
            _ = clock.sleep(nap) => {}
        }
    }
}

#[cfg(test)]
#[path = "driver_tests.rs"]
mod tests;
