//! The supervisor's state machine with fake children on tokio's paused clock: each test
//! runs in milliseconds of real time. Real processes are tested in `tests/supervisor.rs`.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;

use tokio::sync::watch;

use super::worker::Launcher;
use super::*;
use crate::runner::{Control, Exit, Process, SharedLog, Signal};

/// A child that exits on SIGTERM or SIGKILL and records what it was sent.
#[derive(Debug)]
struct FakeChild {
    exit: watch::Sender<Option<Exit>>,
    signals: Mutex<Vec<Signal>>,
}

impl Control for FakeChild {
    fn signal(&self, signal: Signal) {
        self.signals.lock().expect("lock").push(signal);
        self.exit.send_if_modified(|e| {
            let first = e.is_none();
            if first {
                *e = Some(Exit::Unknown(format!("{signal:?}")));
            }
            first
        });
    }

    fn rss(&self) -> u64 {
        0
    }
}

/// Starts fake children; they answer their readiness probe unless `never_ready`.
#[derive(Debug, Default)]
struct Fake {
    never_ready: bool,
    next_pid: AtomicU32,
    children: Mutex<Vec<Arc<FakeChild>>>,
}

impl Fake {
    fn started(&self) -> usize {
        self.children.lock().expect("lock").len()
    }

    fn signals(&self, n: usize) -> Vec<Signal> {
        self.children.lock().expect("lock")[n].signals.lock().expect("lock").clone()
    }
}

impl Launcher for Fake {
    fn start<'a>(
        &'a self,
        _spawn: &'a Spawn,
        _guid: &'a str,
        _log: SharedLog,
    ) -> futures_util::future::BoxFuture<'a, std::io::Result<Process>> {
        Box::pin(async move {
            let (exit, rx) = watch::channel(None);
            let child = Arc::new(FakeChild { exit, signals: Mutex::default() });
            self.children.lock().expect("lock").push(child.clone());
            let pid = 1000 + self.next_pid.fetch_add(1, Ordering::SeqCst);
            Ok(Process::from_parts(pid, rx, child))
        })
    }

    fn probe<'a>(&'a self, _spawn: &'a Spawn) -> futures_util::future::BoxFuture<'a, Option<u16>> {
        Box::pin(async move { (!self.never_ready).then_some(200) })
    }
}

fn def(bundle: i64, settings: RuntimeSettings) -> AppDef {
    AppDef {
        guid: "fake".into(),
        bundle_id: bundle,
        settings,
        factory: Arc::new(|port| {
            Ok(Spawn {
                program: "fake-app".into(),
                args: vec![],
                env: vec![],
                cwd: std::env::temp_dir(),
                port,
                readiness_path: "/".into(),
                ready_on_any_status: false,
                prefix: PrefixMode::Strip,
                files: vec![],
                fork: None,
            })
        }),
        views: None,
    }
}

fn settings() -> RuntimeSettings {
    RuntimeSettings {
        idle_timeout: Duration::from_secs(5),
        init_timeout: Duration::from_secs(60),
        memory_limit: 0,
        hang_timeout: Duration::ZERO,
        ..Default::default()
    }
}

fn supervisor(fake: Arc<Fake>) -> (Supervisor, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tmp");
    let sup = Supervisor::with_launcher(
        dir.path().join("logs"),
        fake,
        CancellationToken::new(),
        TaskTracker::new(),
        Duration::from_secs(3),
    );
    (sup, dir)
}

/// Polls (on the paused clock, so instantly) until `f` holds; fails after an hour of
/// virtual time.
async fn until<F: std::future::Future<Output = bool>>(what: &str, mut f: impl FnMut() -> F) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(3600);
    while !f().await {
        assert!(tokio::time::Instant::now() < deadline, "never happened: {what}");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test(start_paused = true)]
async fn an_idle_worker_stops_after_its_idle_timeout_and_not_before() {
    let fake = Arc::new(Fake::default());
    let (sup, _dir) = supervisor(fake.clone());
    sup.install(def(1, settings()));
    let lease = sup.acquire("fake", None, Wait::UntilReady).await.expect("lease");
    drop(lease);
    tokio::time::sleep(Duration::from_millis(4900)).await;
    assert_eq!(sup.instances("fake").await.len(), 1, "still inside its idle timeout");
    assert!(fake.signals(0).is_empty());
    until("the idle worker to stop", || async { sup.instances("fake").await.is_empty() }).await;
    assert_eq!(fake.signals(0).first(), Some(&Signal::Term), "stopped gracefully");
}

#[tokio::test(start_paused = true)]
async fn a_worker_that_never_answers_times_out_and_is_stopped() {
    let fake = Arc::new(Fake { never_ready: true, ..Fake::default() });
    let (sup, _dir) = supervisor(fake.clone());
    let init = Duration::from_secs(30);
    sup.install(def(1, RuntimeSettings { init_timeout: init, ..settings() }));
    let started = tokio::time::Instant::now();
    let err = sup.acquire("fake", None, Wait::UntilReady).await.expect_err("never ready");
    assert!(started.elapsed() >= init, "not before the init timeout");
    assert!(matches!(err, RouteError::StartTimeout(_) | RouteError::StartFailed { .. }), "{err:?}");
    until("the unready worker to be stopped", || async { !fake.signals(0).is_empty() }).await;
}

#[tokio::test(start_paused = true)]
async fn load_above_the_load_factor_starts_another_worker_and_capacity_is_enforced() {
    let fake = Arc::new(Fake::default());
    let (sup, _dir) = supervisor(fake.clone());
    let s = RuntimeSettings { max_processes: 2, max_conns_per_process: 4, load_factor: 0.5, ..settings() };
    sup.install(def(1, s));
    let mut leases = Vec::new();
    leases.push(sup.acquire("fake", None, Wait::UntilReady).await.expect("1"));
    leases.push(sup.acquire("fake", None, Wait::UntilReady).await.expect("2"));
    assert_eq!(fake.started(), 1, "(1 + 1) / 4 is not above 0.5");
    leases.push(sup.acquire("fake", None, Wait::UntilReady).await.expect("3"));
    assert_eq!(fake.started(), 2, "(2 + 1) / 4 is above 0.5: a second worker starts");
    until("both workers ready", || async {
        sup.instances("fake").await.iter().filter(|i| i.state == InstanceState::Ready).count() == 2
    })
    .await;
    for _ in 3..8 {
        leases.push(sup.acquire("fake", None, Wait::UntilReady).await.expect("room"));
    }
    assert_eq!(fake.started(), 2, "never more than max_processes");
    let err = sup.acquire("fake", None, Wait::UntilReady).await.expect_err("full");
    assert_eq!(err, RouteError::AtCapacity(2));
}

#[tokio::test(start_paused = true)]
async fn a_replaced_version_drains_its_connections_before_it_is_stopped() {
    let fake = Arc::new(Fake::default());
    let (sup, _dir) = supervisor(fake.clone());
    sup.install(def(1, settings()));
    let old = sup.acquire("fake", None, Wait::UntilReady).await.expect("lease");
    sup.install(def(2, settings()));
    let new = sup.acquire("fake", None, Wait::UntilReady).await.expect("new lease");
    assert_ne!(new.instance, old.instance, "new sessions go to the new version");
    // Long after any idle timeout, the old worker still serves its open connection.
    tokio::time::sleep(Duration::from_secs(600)).await;
    let list = sup.instances("fake").await;
    let draining = list.iter().find(|i| i.id == old.instance).expect("old worker kept");
    assert_eq!(draining.state, InstanceState::Draining);
    assert!(fake.signals(0).is_empty(), "not signalled while a connection is open");
    let again = sup.acquire("fake", Some(old.instance), Wait::UntilReady).await.expect("affinity");
    assert_eq!(again.instance, old.instance, "a session stays on its draining worker");
    drop((old, again));
    until("the drained worker to stop", || async { !sup.instances("fake").await.iter().any(|i| i.bundle_id == 1) })
        .await;
    assert_eq!(fake.signals(0).first(), Some(&Signal::Term));
    assert!(fake.signals(1).is_empty(), "the new version keeps running");
}

#[tokio::test(start_paused = true)]
async fn an_item_with_no_worker_never_wakes() {
    let fake = Arc::new(Fake::default());
    let (sup, _dir) = supervisor(fake.clone());
    sup.install(def(1, settings()));
    let tx = sup.actor("fake").expect("actor");
    // Nothing due: the actor's next deadline is none at all.
    let (reply, rx) = oneshot::channel();
    tx.send(app::Msg::NextDue { reply }).expect("send");
    assert_eq!(rx.await.expect("reply"), None);
}

#[tokio::test(start_paused = true)]
async fn requests_to_a_warm_worker_bypass_the_actor_and_still_keep_it_from_idling_out() {
    let fake = Arc::new(Fake::default());
    let (sup, _dir) = supervisor(fake.clone());
    sup.install(def(1, settings()));
    drop(sup.acquire("fake", None, Wait::UntilReady).await.expect("first lease"));
    let app = sup.app("fake").expect("app");
    // Three seconds later, a request through the fast path: no message reaches the actor.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let lease = app.try_lease(None).expect("the fast path leases the ready worker");
    drop(lease);
    // Five seconds after the first request the worker would have gone; the second one
    // moved its idle time on.
    tokio::time::sleep(Duration::from_millis(4000)).await;
    assert_eq!(sup.instances("fake").await.len(), 1, "idle for 4 s only");
    // A request still open at the idle deadline keeps it; it goes one idle timeout later.
    let open = sup.acquire("fake", None, Wait::UntilReady).await.expect("lease");
    tokio::time::sleep(Duration::from_secs(20)).await;
    assert_eq!(sup.instances("fake").await.len(), 1, "busy workers are not idle");
    assert!(fake.signals(0).is_empty());
    drop(open);
    let released = tokio::time::Instant::now();
    until("the idle worker to stop", || async { sup.instances("fake").await.is_empty() }).await;
    assert!(released.elapsed() >= Duration::from_secs(5), "not before its idle timeout");
    assert_eq!(fake.started(), 1, "one worker served every request");
}

#[tokio::test(start_paused = true)]
async fn the_fast_path_defers_to_the_actor_when_a_worker_must_start_or_all_are_full() {
    let fake = Arc::new(Fake::default());
    let (sup, _dir) = supervisor(fake.clone());
    let s = RuntimeSettings { max_processes: 1, max_conns_per_process: 2, load_factor: 1.0, ..settings() };
    sup.install(def(1, s));
    let app = sup.app("fake").expect("app");
    assert!(app.try_lease(None).is_none(), "no worker yet: only the actor can start one");
    let a = sup.acquire("fake", None, Wait::UntilReady).await.expect("a");
    let b = app.try_lease(None).expect("room for one more");
    assert!(app.try_lease(None).is_none(), "full: the actor answers");
    assert_eq!(sup.acquire("fake", None, Wait::UntilReady).await.expect_err("full"), RouteError::AtCapacity(1));
    drop((a, b));
    assert!(app.try_lease(None).is_some(), "room again, without the actor");
}

#[test]
fn a_gate_shut_when_idle_lets_no_request_in_and_is_not_shut_while_one_is_open() {
    let rt = tokio::runtime::Builder::new_current_thread().enable_time().build().expect("runtime");
    let _guard = rt.enter();
    let gate = instance::Gate::new();
    assert!(gate.enter(1));
    assert!(!gate.enter(1), "one connection at most");
    assert!(!gate.close_if_idle(), "a connection is open");
    gate.leave();
    assert!(gate.close_if_idle());
    assert!(!gate.enter(usize::MAX), "shut: not even a session's affinity gets in");
    assert_eq!(gate.connections(), 0);
    let other = instance::Gate::new();
    assert!(other.enter(5));
    other.close();
    assert_eq!(other.connections(), 1, "closing keeps the count of those still open");
    assert!(!other.enter(5));
}

#[tokio::test(start_paused = true)]
async fn each_lease_is_a_view_of_the_items_python_helper_counted_when_it_begins_and_ends() {
    let fake = Arc::new(Fake::default());
    let (sup, _dir) = supervisor(fake.clone());
    let views = crate::zygote::Views::new();
    let before = views.last();
    sup.install(AppDef { views: Some(views.clone()), ..def(1, settings()) });
    tokio::time::sleep(Duration::from_secs(60)).await;
    let lease = sup.acquire("fake", None, Wait::UntilReady).await.expect("lease");
    assert!(views.open(), "a leased worker is a view going on");
    let began = views.last();
    assert!(began >= before + Duration::from_secs(60), "counted when it began: {:?}", began - before);
    // A session: the lease is held for an hour; the view counts again when it ends.
    tokio::time::sleep(Duration::from_secs(3600)).await;
    assert_eq!(views.last(), began, "nothing is written while the view goes on");
    drop(lease);
    assert!(!views.open());
    assert!(views.last() >= began + Duration::from_secs(3600), "counted when it ended");
}
