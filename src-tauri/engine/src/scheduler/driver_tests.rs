//! The schedule loop on tokio's paused clock, against an in-memory host: a run fires at its
//! time, a missed run is caught up once (or dropped with catch-up off), a suspend and a
//! clock set backwards are handled, a change wakes the loop, and an idle loop leaves the
//! store alone. Days of schedule time pass in milliseconds: the test clock's wall time is
//! a fixed start plus tokio's (paused, auto-advancing) elapsed time plus any jump.

#![allow(clippy::unwrap_used)]

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use jiff::SignedDuration;
use serde_json::json;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use super::*;

fn at(rfc3339: &str) -> Timestamp {
    rfc3339.parse().unwrap()
}

/// Wall time = `start` + tokio's elapsed time + jumps. A jump moves the wall clock only, as
/// a suspended laptop or a clock step does.
#[derive(Clone)]
struct TestClock(Arc<ClockState>);

struct ClockState {
    start: Timestamp,
    base: Instant,
    jumped: Mutex<SignedDuration>,
    naps: AtomicUsize,
}

impl TestClock {
    fn new(start: &str) -> TestClock {
        TestClock(Arc::new(ClockState {
            start: at(start),
            base: Instant::now(),
            jumped: Mutex::new(SignedDuration::ZERO),
            naps: AtomicUsize::new(0),
        }))
    }

    fn jump(&self, by: SignedDuration) {
        *self.0.jumped.lock().unwrap() += by;
    }

    fn naps(&self) -> usize {
        self.0.naps.load(Ordering::SeqCst)
    }
}

impl Clock for TestClock {
    fn now(&self) -> Timestamp {
        let elapsed = SignedDuration::try_from(self.0.base.elapsed()).unwrap();
        self.0.start + elapsed + *self.0.jumped.lock().unwrap()
    }

    fn sleep(&self, d: Duration) -> impl Future<Output = ()> + Send {
        self.0.naps.fetch_add(1, Ordering::SeqCst);
        tokio::time::sleep(d)
    }
}

/// A stored schedule of the fake host.
struct Row {
    id: i64,
    schedule: Schedule,
    created: Timestamp,
    last_planned: Option<Timestamp>,
    catch_up: bool,
}

/// A run the fake host was asked to start, and the wall time it was asked at.
#[derive(Debug, Clone, PartialEq)]
struct Fired {
    id: i64,
    planned: Timestamp,
    late: bool,
    at: Timestamp,
}

#[derive(Clone)]
struct FakeHost {
    clock: TestClock,
    rows: Arc<Mutex<Vec<Row>>>,
    fails: Arc<AtomicUsize>,
    reads: Arc<watch::Sender<usize>>,
    fired: mpsc::UnboundedSender<Fired>,
}

impl Host for FakeHost {
    type Row = i64;
    type Error = &'static str;

    async fn schedules(&self) -> Result<Vec<Planned<i64>>, &'static str> {
        self.reads.send_modify(|n| *n += 1);
        if self.fails.load(Ordering::SeqCst) > 0 {
            self.fails.fetch_sub(1, Ordering::SeqCst);
            return Err("the store is locked");
        }
        let rows = self.rows.lock().unwrap();
        Ok(rows
            .iter()
            .map(|r| Planned {
                id: r.id,
                schedule: r.schedule.clone(),
                since: r.last_planned.unwrap_or(r.created),
                catch_up: r.catch_up,
                row: r.id,
            })
            .collect())
    }

    async fn handled(&self, id: i64, planned: Timestamp) -> Result<(), &'static str> {
        let mut rows = self.rows.lock().unwrap();
        rows.iter_mut().find(|r| r.id == id).expect("handled a known schedule").last_planned = Some(planned);
        Ok(())
    }

    async fn fire(&self, row: &i64, planned: Timestamp, late: bool) {
        let _ = self.fired.send(Fired { id: *row, planned, late, at: self.clock.now() });
    }
}

struct Harness {
    clock: TestClock,
    host: FakeHost,
    wake: Wake,
    fired: mpsc::UnboundedReceiver<Fired>,
    reads: watch::Receiver<usize>,
    cancel: CancellationToken,
}

impl Harness {
    /// A loop over `rows` whose wall clock starts at `now`.
    fn start(now: &str, rows: Vec<Row>) -> Harness {
        let clock = TestClock::new(now);
        let (tx, fired) = mpsc::unbounded_channel();
        let (reads_tx, reads) = watch::channel(0);
        let host = FakeHost {
            clock: clock.clone(),
            rows: Arc::new(Mutex::new(rows)),
            fails: Arc::new(AtomicUsize::new(0)),
            reads: Arc::new(reads_tx),
            fired: tx,
        };
        let (wake, cancel) = (Wake::default(), CancellationToken::new());
        Harness { clock, host, wake, fired, reads, cancel }
    }

    fn spawn(&self) {
        let (clock, host, wake, cancel) =
            (self.clock.clone(), self.host.clone(), self.wake.clone(), self.cancel.clone());
        tokio::spawn(run(clock, host, wake, cancel));
    }

    /// The next run fired, waiting at most `within` of virtual time.
    async fn next_fired(&mut self, within: Duration) -> Option<Fired> {
        tokio::time::timeout(within, self.fired.recv()).await.ok().flatten()
    }

    /// Waits (in virtual time, so at once) until the loop has read the store `n` times.
    async fn reads_reach(&mut self, n: usize) {
        self.reads.wait_for(|r| *r >= n).await.unwrap();
    }

    fn reads(&self) -> usize {
        *self.reads.borrow()
    }
}

impl Drop for Harness {
    fn drop(&mut self) {
        self.cancel.cancel();
    }
}

fn schedule(kind: &str, params: serde_json::Value, start: &str) -> Schedule {
    Schedule::from_connect(
        &json!({ "type": kind, "schedule": params.to_string(), "start_time": start, "timezone": "UTC" }),
    )
    .unwrap()
}

fn row(id: i64, schedule: Schedule, created: &str, last_planned: Option<&str>, catch_up: bool) -> Row {
    Row { id, schedule, created: at(created), last_planned: last_planned.map(at), catch_up }
}

const DAY: Duration = Duration::from_secs(86_400);

/// Fired within a few milliseconds of `planned` (tokio's timer rounds to whole milliseconds).
fn on_time(f: &Fired, planned: &str) {
    assert_eq!(f.planned, at(planned), "{f:?}");
    let delay = f.at.duration_since(f.planned);
    assert!(delay >= SignedDuration::ZERO && delay < SignedDuration::from_millis(5), "fired {delay} after: {f:?}");
    assert!(!f.late, "{f:?}");
}

#[tokio::test(start_paused = true)]
async fn a_schedule_fires_at_its_time() {
    let every15 = schedule("minute", json!({"N": 15}), "2026-06-01T08:10:00Z");
    let mut h = Harness::start("2026-06-01T08:00:00Z", vec![row(1, every15, "2026-06-01T07:59:00Z", None, true)]);
    h.spawn();
    let first = h.next_fired(DAY).await.expect("the 08:10 run");
    on_time(&first, "2026-06-01T08:10:00Z");
    let second = h.next_fired(DAY).await.expect("the 08:25 run");
    on_time(&second, "2026-06-01T08:25:00Z");
    // The store was read at start and once per run, not on every 30 s nap in between.
    assert_eq!(h.reads(), 3);
    assert!(h.clock.naps() >= 20, "naps are capped at {MAX_SLEEP:?}: {}", h.clock.naps());
}

#[tokio::test(start_paused = true)]
async fn a_missed_run_is_caught_up_once() {
    // Daily at 07:00; Porch last handled the run of 28 May and was off until 1 June 08:00.
    let daily = schedule("day", json!({"N": 1}), "2026-05-01T07:00:00Z");
    let rows = vec![row(1, daily, "2026-05-01T00:00:00Z", Some("2026-05-28T07:00:00Z"), true)];
    let mut h = Harness::start("2026-06-01T08:00:00Z", rows);
    h.spawn();
    let caught = h.next_fired(Duration::from_secs(1)).await.expect("a catch-up at start");
    assert_eq!(
        (caught.planned, caught.late, caught.at),
        (at("2026-06-01T07:00:00Z"), true, at("2026-06-01T08:00:00Z"))
    );
    // Four runs were missed; only the latest runs, and the next one is the regular one.
    let next = h.next_fired(2 * DAY).await.expect("the next day's run");
    on_time(&next, "2026-06-02T07:00:00Z");
    assert_eq!(h.host.rows.lock().unwrap()[0].last_planned, Some(at("2026-06-02T07:00:00Z")));
}

#[tokio::test(start_paused = true)]
async fn with_catch_up_off_a_missed_run_is_dropped() {
    let daily = schedule("day", json!({"N": 1}), "2026-05-01T07:00:00Z");
    let rows = vec![row(1, daily, "2026-05-01T00:00:00Z", Some("2026-05-28T07:00:00Z"), false)];
    let mut h = Harness::start("2026-06-01T08:00:00Z", rows);
    h.spawn();
    h.reads_reach(1).await;
    // Dropped, but handled: the next run counts from it.
    assert_eq!(h.host.rows.lock().unwrap()[0].last_planned, Some(at("2026-06-01T07:00:00Z")));
    let next = h.next_fired(2 * DAY).await.expect("the next day's run");
    on_time(&next, "2026-06-02T07:00:00Z");
}

#[tokio::test(start_paused = true)]
async fn a_run_within_a_minute_of_its_time_is_on_time_even_with_catch_up_off() {
    let daily = schedule("day", json!({"N": 1}), "2026-05-01T07:00:00Z");
    let rows = vec![row(1, daily, "2026-05-01T00:00:00Z", Some("2026-05-31T07:00:00Z"), false)];
    let mut h = Harness::start("2026-06-01T07:00:40Z", rows);
    h.spawn();
    let f = h.next_fired(Duration::from_secs(1)).await.expect("the 07:00 run, 40 s late");
    assert_eq!((f.planned, f.late), (at("2026-06-01T07:00:00Z"), false));
}

#[tokio::test(start_paused = true)]
async fn a_run_missed_while_the_machine_slept_runs_when_it_wakes() {
    // The 1 June run is done; the machine sleeps from 08:00 for a day and a half: the wall
    // clock moves on, tokio's monotonic clock does not.
    let daily = schedule("day", json!({"N": 1}), "2026-05-01T07:00:00Z");
    let rows = vec![row(1, daily, "2026-05-01T00:00:00Z", Some("2026-06-01T07:00:00Z"), true)];
    let mut h = Harness::start("2026-06-01T08:00:00Z", rows);
    h.spawn();
    h.reads_reach(1).await;
    h.clock.jump(SignedDuration::from_hours(36));
    let woke = h.clock.now();
    // The nap in progress ends exactly MAX_SLEEP after it began: give the receiver a moment more.
    let f = h.next_fired(MAX_SLEEP + Duration::from_secs(1)).await.expect("the missed run, within one nap of waking");
    assert_eq!((f.id, f.planned, f.late), (1, at("2026-06-02T07:00:00Z"), true));
    assert!(f.at.duration_since(woke) <= SignedDuration::try_from(MAX_SLEEP).unwrap(), "{f:?} woke {woke}");
    // Once: the next is the regular 3 June run.
    let next = h.next_fired(DAY).await.expect("the 3 June run");
    on_time(&next, "2026-06-03T07:00:00Z");
}

#[tokio::test(start_paused = true)]
async fn a_clock_set_backwards_repeats_nothing() {
    let every10 = schedule("minute", json!({"N": 10}), "2026-06-01T08:00:00Z");
    let mut h = Harness::start("2026-06-01T08:09:00Z", vec![row(1, every10, "2026-06-01T08:00:00Z", None, true)]);
    h.spawn();
    on_time(&h.next_fired(DAY).await.expect("08:10"), "2026-06-01T08:10:00Z");
    h.clock.jump(SignedDuration::from_mins(-5)); // 08:05 again
    let f = h.next_fired(DAY).await.expect("the next run");
    on_time(&f, "2026-06-01T08:20:00Z");
}

#[tokio::test(start_paused = true)]
async fn a_change_wakes_the_loop() {
    let mut h = Harness::start("2026-06-01T08:00:00Z", Vec::new());
    h.spawn();
    h.reads_reach(1).await;
    // Added while the loop sleeps with nothing to do: without a poke it would not look.
    let soon = schedule("minute", json!({"N": 60}), "2026-06-01T08:00:10Z");
    h.host.rows.lock().unwrap().push(row(7, soon, "2026-06-01T08:00:00Z", None, true));
    h.wake.poke();
    on_time(&h.next_fired(DAY).await.expect("the new schedule's run"), "2026-06-01T08:00:10Z");

    // Edited to an earlier time while the loop waits for 09:00:10.
    h.host.rows.lock().unwrap()[0].schedule = schedule("minute", json!({"N": 60}), "2026-06-01T08:30:00Z");
    h.wake.poke();
    on_time(&h.next_fired(DAY).await.expect("the edited run"), "2026-06-01T08:30:00Z");

    // Deleted: nothing fires any more.
    h.host.rows.lock().unwrap().clear();
    h.wake.poke();
    assert_eq!(h.next_fired(DAY).await, None);
}

#[tokio::test(start_paused = true)]
async fn an_idle_loop_naps_and_leaves_the_store_alone() {
    let daily = schedule("day", json!({"N": 1}), "2026-05-01T07:00:00Z");
    let rows = vec![row(1, daily, "2026-05-01T00:00:00Z", Some("2026-06-01T07:00:00Z"), true)];
    let mut h = Harness::start("2026-06-01T08:00:00Z", rows);
    h.spawn();
    assert_eq!(h.next_fired(Duration::from_secs(3600)).await, None);
    assert_eq!(h.reads(), 1, "one read at start, none while nothing changes");
    let naps = h.clock.naps();
    assert!(naps <= 3600 / 30 + 1, "an idle hour is at most one wake-up per {MAX_SLEEP:?}: {naps}");
}

#[tokio::test(start_paused = true)]
async fn a_failing_store_is_read_again() {
    let every10 = schedule("minute", json!({"N": 10}), "2026-06-01T08:00:00Z");
    let mut h = Harness::start("2026-06-01T08:09:00Z", vec![row(1, every10, "2026-06-01T08:00:00Z", None, true)]);
    h.host.fails.store(2, Ordering::SeqCst);
    h.spawn();
    on_time(&h.next_fired(DAY).await.expect("08:10 despite two failed reads"), "2026-06-01T08:10:00Z");
    assert!(h.reads() >= 3);
}
