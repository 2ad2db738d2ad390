//! The supervisor with real child processes (a small Python app from tests/fixtures/apps).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use porch_engine::supervisor::{AppDef, PrefixMode, RouteError, RuntimeSettings, Spawn, Supervisor, Wait};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

fn fixture_app() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../tests/fixtures/apps/fixture_app.py")
}

fn python() -> Option<PathBuf> {
    ["/usr/bin/python3", "/usr/local/bin/python3"].iter().map(PathBuf::from).find(|p| p.is_file()).or_else(|| {
        std::process::Command::new("which")
            .arg("python3")
            .output()
            .ok()
            .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim().to_string()))
            .filter(|p| p.is_file())
    })
}

fn def(guid: &str, bundle: i64, settings: RuntimeSettings, env: &[(&str, &str)]) -> AppDef {
    let py = python().expect("python3 is needed for supervisor tests");
    let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
    AppDef {
        guid: guid.into(),
        bundle_id: bundle,
        settings,
        factory: Arc::new(move |port| {
            let mut e = env.clone();
            e.push(("PORT".into(), port.to_string()));
            Ok(Spawn {
                program: py.clone(),
                args: vec![fixture_app().display().to_string()],
                env: e,
                cwd: std::env::temp_dir(),
                port,
                readiness_path: "/health".into(),
                ready_on_any_status: false,
                prefix: PrefixMode::Strip,
                files: vec![],
                fork: None,
            })
        }),
        views: None,
    }
}

fn fast() -> RuntimeSettings {
    RuntimeSettings {
        idle_timeout: Duration::from_millis(300),
        init_timeout: Duration::from_secs(20),
        ..Default::default()
    }
}

fn supervisor() -> (Supervisor, tempfile::TempDir) {
    let dir = tempfile::tempdir().expect("tmp");
    (
        Supervisor::new(dir.path().join("logs"), CancellationToken::new(), TaskTracker::new(), Duration::from_secs(3)),
        dir,
    )
}

async fn get(port: u16, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.expect("connect");
    s.write_all(format!("GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").as_bytes())
        .await
        .expect("write");
    let mut buf = String::new();
    s.read_to_string(&mut buf).await.expect("read");
    buf.split("\r\n\r\n").nth(1).unwrap_or_default().to_string()
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map(|s| !s.contains(") Z ")).unwrap_or(false)
}

async fn until<F: FnMut() -> bool>(secs: u64, what: &str, mut f: F) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

#[tokio::test]
async fn starts_on_demand_and_stops_when_idle() {
    let (sup, _dir) = supervisor();
    sup.install(def("a1", 1, fast(), &[]));
    assert!(sup.instances("a1").await.is_empty(), "nothing starts before a viewer arrives");
    let lease = sup.acquire("a1", None, Wait::UntilReady).await.expect("lease");
    let pid: u32 = get(lease.port, "/pid").await.parse().expect("pid");
    assert!(alive(pid));
    let list = sup.instances("a1").await;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].connections, 1);
    drop(lease);
    let deadline = Instant::now() + Duration::from_secs(10);
    while !sup.instances("a1").await.is_empty() {
        assert!(Instant::now() < deadline, "idle worker not stopped");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    until(10, "the idle process to exit", || !alive(pid)).await;
}

#[tokio::test]
async fn min_processes_start_eagerly_and_stay() {
    let (sup, _dir) = supervisor();
    sup.install(def("a2", 1, RuntimeSettings { min_processes: 1, ..fast() }, &[]));
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let l = sup.instances("a2").await;
        if l.iter().any(|i| i.state == porch_engine::supervisor::InstanceState::Ready) {
            break;
        }
        assert!(Instant::now() < deadline, "min process not started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(800)).await;
    assert_eq!(sup.instances("a2").await.len(), 1, "the min process must outlive the idle timeout");
    sup.shutdown().await;
}

#[tokio::test]
async fn load_factor_spawns_and_capacity_rejects() {
    let (sup, _dir) = supervisor();
    // No idle stop during the test: an emptied worker must still be there to be passed over.
    let settings = RuntimeSettings {
        max_processes: 3,
        max_conns_per_process: 2,
        load_factor: 0.5,
        idle_timeout: Duration::from_secs(600),
        ..fast()
    };
    sup.install(def("a3", 1, settings, &[]));
    let mut leases = Vec::new();
    for _ in 0..6 {
        leases.push(sup.acquire("a3", None, Wait::UntilReady).await.expect("lease"));
        // Let proactively started workers come up before the next arrival.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let mut ports: Vec<u16> = leases.iter().map(|l| l.port).collect();
    ports.sort();
    ports.dedup();
    assert_eq!(ports.len(), 3, "six connections at two per process need three processes");
    let err = sup.acquire("a3", None, Wait::UntilReady).await.expect_err("full");
    assert!(matches!(err, RouteError::AtCapacity(3)), "{err:?}");
    // Affinity: a session returns to its worker, even when that worker is the busier one and
    // another has room. `first`'s worker keeps one connection, another worker is emptied: a
    // least-connections pick would choose the empty one, only the session's id leads back.
    let first = leases[0].instance;
    drop(leases.remove(0));
    let other = leases.iter().map(|l| l.instance).find(|i| *i != first).expect("a second worker");
    leases.retain(|l| l.instance != other);
    let left = |id| leases.iter().filter(|l| l.instance == id).count();
    assert_eq!((left(first), left(other)), (1, 0), "the session's worker is the busier one");
    let fresh = sup.acquire("a3", None, Wait::UntilReady).await.expect("lease");
    assert_eq!(fresh.instance, other, "without a session, the emptiest worker is chosen");
    drop(fresh);
    let again = sup.acquire("a3", Some(first), Wait::UntilReady).await.expect("lease");
    assert_eq!(again.instance, first, "the session stays on its busier worker while {other} is free");
    sup.shutdown().await;
}

#[tokio::test]
async fn a_crashed_worker_is_replaced() {
    let (sup, _dir) = supervisor();
    sup.install(def("a4", 1, fast(), &[]));
    let lease = sup.acquire("a4", None, Wait::UntilReady).await.expect("lease");
    let pid: u32 = get(lease.port, "/pid").await.parse().expect("pid");
    let id = lease.instance;
    drop(lease);
    assert!(sup.kill("a4", id).await);
    until(10, "the killed process to go", || !alive(pid)).await;
    let deadline = Instant::now() + Duration::from_secs(10);
    while sup.instances("a4").await.iter().any(|i| i.id == id) {
        assert!(Instant::now() < deadline, "crash not noticed");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    let lease = sup.acquire("a4", None, Wait::UntilReady).await.expect("fresh lease");
    let pid2: u32 = get(lease.port, "/pid").await.parse().expect("pid");
    assert_ne!(pid, pid2);
    sup.shutdown().await;
    assert!(!alive(pid2));
}

#[tokio::test]
async fn start_failures_and_timeouts_are_reported() {
    let (sup, _dir) = supervisor();
    sup.install(def("a5", 1, fast(), &[("FIXTURE_CRASH", "1")]));
    match sup.acquire("a5", None, Wait::UntilReady).await {
        Err(RouteError::StartFailed { message, last_lines }) => {
            assert!(message.contains("exit"), "{message}");
            let joined = last_lines.join("\n");
            assert!(joined.contains("crashing on purpose"), "{joined}");
        }
        other => panic!("expected a start failure, got {other:?}"),
    }
    let slow = RuntimeSettings { init_timeout: Duration::from_millis(600), ..fast() };
    sup.install(def("a6", 1, slow, &[("FIXTURE_START_DELAY_MS", "5000")]));
    let err = sup.acquire("a6", None, Wait::UntilReady).await.expect_err("too slow");
    assert!(matches!(err, RouteError::StartTimeout(_) | RouteError::StartFailed { .. }), "{err:?}");
    sup.shutdown().await;
}

#[tokio::test]
async fn new_bundle_is_blue_green() {
    let (sup, _dir) = supervisor();
    sup.install(def("a7", 1, fast(), &[]));
    let old = sup.acquire("a7", None, Wait::UntilReady).await.expect("lease");
    let old_pid: u32 = get(old.port, "/pid").await.parse().expect("pid");
    sup.install(def("a7", 2, fast(), &[]));
    let new = sup.acquire("a7", None, Wait::UntilReady).await.expect("lease");
    assert_ne!(new.instance, old.instance, "new sessions go to the new bundle");
    // The old session keeps its worker while it lasts.
    let same = sup.acquire("a7", Some(old.instance), Wait::UntilReady).await.expect("affinity");
    assert_eq!(same.instance, old.instance);
    drop(same);
    drop(old);
    until(10, "the old worker to drain and stop", || !alive(old_pid)).await;
    drop(new);
    sup.shutdown().await;
}

#[tokio::test]
async fn shutdown_leaves_no_process() {
    let (sup, _dir) = supervisor();
    sup.install(def("a8", 1, RuntimeSettings { min_processes: 2, ..fast() }, &[]));
    let l1 = sup.acquire("a8", None, Wait::UntilReady).await.expect("lease");
    let pid: u32 = get(l1.port, "/pid").await.parse().expect("pid");
    let pids: Vec<u32> = sup.instances("a8").await.iter().map(|i| i.pid).collect();
    drop(l1);
    let t0 = Instant::now();
    sup.shutdown().await;
    assert!(t0.elapsed() < Duration::from_secs(6));
    for p in pids.iter().chain([&pid]) {
        until(5, "every worker to exit", || !alive(*p)).await;
    }
}

#[tokio::test]
async fn a_port_lost_to_a_race_is_retried() {
    use std::sync::Mutex;
    let (sup, _dir) = supervisor();
    let base = def("a9", 1, fast(), &[]);
    // The first port handed out is grabbed by someone else before the app binds it.
    let squatter: Arc<Mutex<Option<std::net::TcpListener>>> = Arc::new(Mutex::new(None));
    let inner = base.factory.clone();
    let held = squatter.clone();
    let factory = Arc::new(move |port: u16| {
        let mut slot = held.lock().expect("lock");
        if slot.is_none() {
            *slot = Some(std::net::TcpListener::bind(("127.0.0.1", port)).expect("squat"));
        }
        inner(port)
    });
    sup.install(AppDef { factory, ..base });
    let lease = sup.acquire("a9", None, Wait::UntilReady).await.expect("a retried start");
    let squatted = squatter.lock().expect("lock").as_ref().map(|l| l.local_addr().expect("addr").port());
    assert_ne!(Some(lease.port), squatted);
    assert_eq!(get(lease.port, "/health").await, "ok");
    drop(lease);
    sup.shutdown().await;
}
