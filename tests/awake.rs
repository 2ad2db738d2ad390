//! Keep-awake end to end: a real `porch serve` on a private system bus (a real dbus-daemon
//! started by the test with `tests/fixtures/system-bus/bus.conf`), with Python stand-ins for
//! systemd-logind and UPower on it (`tests/fixtures/system-bus/standins.py`, jeepney from
//! the test venv). The stand-in hands out the write end of a pipe as the inhibitor and reads
//! the other end, so it records the moment Porch closes its descriptor; the test polls its
//! event file with a deadline. Porch is pointed at the bus with `DBUS_SYSTEM_BUS_ADDRESS` on
//! its own process only.
//!
//! Needs dbus-daemon (Debian `dbus-daemon`) and the test venv's jeepney; the sessions and
//! renders need uv (the FastAPI app, the notebook). Missing ones are skipped visibly and fail
//! under CI=true.

mod common;

use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use common::{eventually, fixture, have_uv, Opts, Porch};
use reqwest::Method;
use serde_json::{json, Value};

/// A private system bus with the logind and UPower stand-ins on it.
struct SystemBus {
    dir: tempfile::TempDir,
    daemon: Child,
    standins: Child,
    stdin: ChildStdin,
    lines: mpsc::Receiver<String>,
    address: String,
}

/// Reads a child's stdout lines into a channel (and the test log).
fn lines_of(child: &mut Child, label: &'static str) -> mpsc::Receiver<String> {
    let out = child.stdout.take().expect("stdout piped");
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(out).lines().map_while(Result::ok) {
            eprintln!("[{label}] {line}");
            let _ = tx.send(line);
        }
    });
    rx
}

fn wait_line(rx: &mpsc::Receiver<String>, what: &str, want: impl Fn(&str) -> bool) -> String {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) if want(&line) => return line,
            Ok(_) => {}
            Err(e) => panic!("no {what}: {e}"),
        }
    }
}

impl SystemBus {
    /// Starts the bus and the stand-ins with `args` (`--refuse MESSAGE`, `--on-battery`), or
    /// records a skip of `test` and returns `None` when dbus-daemon or jeepney is missing.
    fn start(test: &str, args: &[&str]) -> Option<SystemBus> {
        if Command::new("dbus-daemon").arg("--version").output().is_err() {
            common::skip_or_fail(test, "dbus-daemon is not installed (apt-get install dbus-daemon)");
            return None;
        }
        let python = common::test_venv().join("bin/python");
        let jeepney = Command::new(&python).args(["-c", "import jeepney"]).output();
        if !jeepney.map(|o| o.status.success()).unwrap_or(false) {
            common::skip_or_fail(test, &format!("{} cannot import jeepney (tests/requirements.txt)", python.display()));
            return None;
        }
        let dir = tempfile::Builder::new().prefix("porch-bus").tempdir().expect("tempdir");
        let mut daemon = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", fixture("system-bus/bus.conf").display()))
            .arg(format!("--address=unix:path={}", dir.path().join("bus").display()))
            .args(["--nofork", "--nopidfile", "--print-address=1"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("dbus-daemon");
        let address = wait_line(&lines_of(&mut daemon, "dbus-daemon"), "bus address", |l| l.starts_with("unix:"));
        let mut standins = Command::new(&python)
            .arg(fixture("system-bus/standins.py"))
            .arg(dir.path().join("events.jsonl"))
            .args(args)
            .env("DBUS_SYSTEM_BUS_ADDRESS", &address)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("stand-ins");
        let stdin = standins.stdin.take().expect("stdin piped");
        let lines = lines_of(&mut standins, "stand-ins");
        wait_line(&lines, "stand-ins ready", |l| l == "ready");
        Some(SystemBus { dir, daemon, standins, stdin, lines, address })
    }

    /// A server on this bus.
    async fn porch(&self) -> Porch {
        Porch::start_with(Opts {
            env: vec![("DBUS_SYSTEM_BUS_ADDRESS".into(), self.address.clone())],
            ..Opts::default()
        })
        .await
    }

    /// What the stand-ins recorded so far.
    fn events(&self) -> Vec<Value> {
        let text = std::fs::read_to_string(self.dir.path().join("events.jsonl")).unwrap_or_default();
        text.lines().map(|l| serde_json::from_str(l).expect("event json")).collect()
    }

    /// Waits for an event of `kind` after the first `after` events, matching `want`.
    async fn event(&self, after: usize, kind: &str, want: impl Fn(&Value) -> bool) -> Value {
        eventually(60, kind, || async { self.events().into_iter().skip(after).find(|e| e["event"] == kind && want(e)) })
            .await
    }

    /// Switches UPower's `OnBattery` (the stand-in emits PropertiesChanged, then answers).
    fn battery(&mut self, on: bool) {
        let word = if on { "on" } else { "off" };
        writeln!(self.stdin, "battery {word}").expect("stand-in stdin");
        self.stdin.flush().expect("flush");
        wait_line(&self.lines, "battery acknowledged", |l| l == format!("battery {word}"));
    }
}

impl Drop for SystemBus {
    fn drop(&mut self) {
        for c in [&mut self.standins, &mut self.daemon] {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// Deploys a copy of a fixture folder titled `name` (the reason given to logind names the
/// item by its title) and returns its guid.
fn deploy(p: &Porch, fixture_dir: &str, name: &str) -> String {
    let dir = tempfile::tempdir().expect("tmp");
    common::copy_tree(&fixture(fixture_dir), dir.path());
    let out = p.cli(&["deploy", dir.path().to_str().expect("utf8"), "--name", name, "--title", name]);
    assert!(out.status.success(), "deploy {fixture_dir}: {}", String::from_utf8_lossy(&out.stderr));
    let list: Vec<Value> = serde_json::from_slice(&p.cli(&["list", "--json"]).stdout).expect("json");
    list.iter().find(|c| c["name"] == name).and_then(|c| c["guid"].as_str()).expect("guid").to_string()
}

async fn keep_awake(p: &Porch) -> Value {
    let v: Value =
        p.api(Method::GET, "/__api__/porch/server").send().await.expect("server").json().await.expect("json");
    v["keep_awake"].clone()
}

/// Waits until the server view's keep-awake state passes `want`.
async fn view_until(p: &Porch, what: &str, want: impl Fn(&Value) -> bool) -> Value {
    eventually(60, what, || async {
        let v = keep_awake(p).await;
        want(&v).then_some(v)
    })
    .await
}

async fn set_keep_awake(p: &Porch, value: &str) {
    let r =
        p.api(Method::PATCH, "/__api__/porch/server").json(&json!({"keep_awake": value})).send().await.expect("patch");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
}

fn session_reason<'a>(v: &'a Value, guid: &str) -> Option<&'a Value> {
    v["reasons"].as_array()?.iter().find(|r| r["kind"] == "session" && r["guid"] == guid)
}

/// An open WebSocket to an app takes the inhibitor and closing it releases it; a viewer's
/// plain request takes it again; `keep-awake=renders` and running on battery release it (an
/// app session on battery keeps nothing awake); shutting down closes it.
#[tokio::test(flavor = "multi_thread")]
async fn app_sessions_take_the_inhibitor_and_release_it_when_they_end() {
    const TEST: &str = "app_sessions_take_the_inhibitor_and_release_it_when_they_end";
    if !have_uv() {
        common::skip_or_fail(TEST, "uv is not installed");
        return;
    }
    let Some(mut bus) = SystemBus::start(TEST, &[]) else { return };
    let p = bus.porch().await;
    let v = view_until(&p, "keep-awake connected", |v| v["state"] == "idle").await;
    assert_eq!(
        (v["holding"].clone(), v["on_battery"].clone(), v["setting"].clone()),
        (json!(false), json!(false), json!("always")),
        "{v}"
    );
    let app = deploy(&p, "apps/fastapi-app", "awake-app");
    let other = deploy(&p, "apps/fastapi-app", "awake-other");

    // A WebSocket session.
    let before = bus.events().len();
    let mut ws = common::Ws::connect(&p.base, &format!("/content/{app}/ws"), &[("User-Agent", "Browser/1.0")])
        .expect("websocket");
    ws.send_text("hi");
    assert_eq!(ws.recv().expect("echo").text(), "echo:hi");
    let taken = bus.event(before, "inhibit", |_| true).await;
    assert_eq!(
        (taken["what"].as_str(), taken["who"].as_str(), taken["mode"].as_str()),
        (Some("sleep:idle"), Some("Porch"), Some("block")),
        "{taken}"
    );
    assert_eq!(taken["why"], "a viewer is using “awake-app”", "{taken}");
    let v = view_until(&p, "holding for the session", |v| v["holding"] == true).await;
    assert_eq!(v["state"], "holding", "{v}");
    assert_eq!(session_reason(&v, &app).map(|r| r["counted"].clone()), Some(json!(true)), "{v}");
    assert!(v["note"].as_str().is_some_and(|n| n.contains("awake-app")), "{v}");
    drop(ws);
    let id = taken["id"].clone();
    bus.event(before, "released", |e| e["id"] == id).await;
    view_until(&p, "not holding after the session", |v| v["holding"] == false && v["state"] == "idle").await;

    // A viewer's plain request starts a session too (it lasts 5 minutes after the request).
    let before = bus.events().len();
    let r = p.http.get(p.url(&format!("/content/{app}/"))).header("User-Agent", "Browser/1.0").send().await;
    assert_eq!(r.expect("get").status(), 200);
    let taken = bus.event(before, "inhibit", |e| e["why"] == "a viewer is using “awake-app”").await;

    // keep-awake=renders: sessions no longer count.
    set_keep_awake(&p, "renders").await;
    let id = taken["id"].clone();
    bus.event(before, "released", |e| e["id"] == id).await;
    let v = view_until(&p, "renders only", |v| v["setting"] == "renders" && v["holding"] == false).await;
    assert_eq!(session_reason(&v, &app).map(|r| r["counted"].clone()), Some(json!(false)), "{v}");

    // Back to always: the open session counts again. Then on battery it does not.
    let before = bus.events().len();
    set_keep_awake(&p, "always").await;
    let taken = bus.event(before, "inhibit", |_| true).await;
    bus.battery(true);
    let id = taken["id"].clone();
    bus.event(before, "released", |e| e["id"] == id).await;
    let v = view_until(&p, "on battery", |v| v["on_battery"] == true && v["holding"] == false).await;
    assert_eq!(session_reason(&v, &app).map(|r| r["counted"].clone()), Some(json!(false)), "{v}");
    assert!(v["note"].as_str().is_some_and(|n| n.contains("battery")), "{v}");

    // On battery a new WebSocket session takes none: once the view lists its (uncounted)
    // reason, keep-awake has decided.
    let before = bus.events().len();
    let ws = common::Ws::connect(&p.base, &format!("/content/{other}/ws"), &[]).expect("websocket");
    let v = view_until(&p, "the battery session listed", |v| session_reason(v, &other).is_some()).await;
    assert_eq!(
        (v["holding"].clone(), session_reason(&v, &other).map(|r| r["counted"].clone())),
        (json!(false), Some(json!(false))),
        "{v}"
    );
    assert!(bus.events().iter().skip(before).all(|e| e["event"] != "inhibit"), "{:?}", bus.events());

    // Mains again: the open session is held; a clean shutdown closes it.
    let before = bus.events().len();
    bus.battery(false);
    let taken = bus.event(before, "inhibit", |e| e["why"].as_str().is_some_and(|w| w.contains("awake-other"))).await;
    p.shutdown();
    let id = taken["id"].clone();
    bus.event(before, "released", |e| e["id"] == id).await;
    drop(ws);
}

/// A render takes the inhibitor on battery too, naming the item, and releases it when it
/// ends; so does a scheduled render due within five minutes.
#[tokio::test(flavor = "multi_thread")]
async fn a_render_keeps_the_computer_awake_even_on_battery() {
    const TEST: &str = "a_render_keeps_the_computer_awake_even_on_battery";
    if !have_uv() {
        common::skip_or_fail(TEST, "uv is not installed");
        return;
    }
    let Some(bus) = SystemBus::start(TEST, &["--on-battery"]) else { return };
    let p = bus.porch().await;
    view_until(&p, "on battery", |v| v["on_battery"] == true && v["state"] == "idle").await;
    // Deploying a notebook renders it.
    let guid = deploy(&p, "frameworks/notebook", "awake-report");
    let taken = bus.event(0, "inhibit", |_| true).await;
    assert_eq!(taken["why"], "rendering “awake-report”", "{taken}");
    let id = taken["id"].clone();
    bus.event(0, "released", |e| e["id"] == id).await;
    // A render asked for now, too.
    let before = bus.events().len();
    let r = p.api(Method::POST, &format!("/__api__/v1/content/{guid}/render")).send().await.expect("render");
    assert_eq!(r.status(), 202);
    let taken = bus.event(before, "inhibit", |e| e["why"] == "rendering “awake-report”").await;
    let id = taken["id"].clone();
    bus.event(before, "released", |e| e["id"] == id).await;
    view_until(&p, "idle after the render", |v| v["holding"] == false).await;

    // A scheduled render due within five minutes keeps it awake until it runs; deleting the
    // schedule ends that.
    let before = bus.events().len();
    let def =
        json!({"type": "minute", "schedule": {"N": 60}, "start_time": common::rfc3339_in(240), "timezone": "UTC"});
    let r = p.api(Method::POST, &format!("/__api__/v1/content/{guid}/schedules")).json(&def).send().await;
    let r = r.expect("post");
    assert_eq!(r.status(), 200);
    let schedule: Value = r.json().await.expect("json");
    let taken = bus.event(before, "inhibit", |_| true).await;
    assert_eq!(taken["why"], "a scheduled render of “awake-report” is due", "{taken}");
    let v = view_until(&p, "holding for the schedule", |v| v["holding"] == true).await;
    let reason = v["reasons"].as_array().and_then(|r| r.iter().find(|r| r["kind"] == "schedule")).cloned();
    let reason = reason.unwrap_or_else(|| panic!("a schedule reason: {v}"));
    assert_eq!((reason["guid"].as_str(), reason["counted"].as_bool()), (Some(guid.as_str()), Some(true)), "{v}");
    assert!(reason["due"].as_str().is_some(), "{v}");
    let id = schedule["id"].as_str().map(str::to_string).unwrap_or_else(|| schedule["id"].to_string());
    let r = p.api(Method::DELETE, &format!("/__api__/v1/schedules/{id}")).send().await.expect("delete");
    assert!(r.status().is_success(), "{}", r.status());
    let id = taken["id"].clone();
    bus.event(before, "released", |e| e["id"] == id).await;
    p.shutdown();
}

/// logind refusing (as polkit does for a remote or inactive session) shows as unavailable
/// with its message, and the app keeps serving.
#[tokio::test(flavor = "multi_thread")]
async fn a_refused_inhibitor_shows_as_unavailable_and_nothing_else_changes() {
    const TEST: &str = "a_refused_inhibitor_shows_as_unavailable_and_nothing_else_changes";
    if !have_uv() {
        common::skip_or_fail(TEST, "uv is not installed");
        return;
    }
    let Some(bus) = SystemBus::start(TEST, &["--refuse", "Access denied (stand-in polkit)"]) else { return };
    let p = bus.porch().await;
    view_until(&p, "keep-awake connected", |v| v["state"] == "idle").await;
    let app = deploy(&p, "apps/fastapi-app", "awake-refused");
    let mut ws = common::Ws::connect(&p.base, &format!("/content/{app}/ws"), &[]).expect("websocket");
    let refused = bus.event(0, "refused", |_| true).await;
    assert_eq!(refused["why"], "a viewer is using “awake-refused”", "{refused}");
    let v = view_until(&p, "unavailable", |v| v["state"] == "unavailable").await;
    let why = v["unavailable"].as_str().unwrap_or_default();
    assert!(why.contains("Access denied (stand-in polkit)") && why.contains("refused"), "{v}");
    assert_eq!(v["holding"], false, "{v}");
    ws.send_text("still here");
    assert_eq!(ws.recv().expect("echo").text(), "echo:still here", "the session is served as before");
    drop(ws);
    let r = p.http.get(p.url(&format!("/content/{app}/"))).send().await.expect("get");
    assert_eq!(r.status(), 200);
    p.shutdown();
}

/// Without a system bus at all keep-awake says so, and Porch serves as ever.
#[tokio::test(flavor = "multi_thread")]
async fn without_a_system_bus_keep_awake_is_unavailable_and_says_why() {
    let dir = tempfile::tempdir().expect("tmp");
    let nowhere: PathBuf = dir.path().join("no-bus-here");
    let p = Porch::start_with(Opts {
        env: vec![("DBUS_SYSTEM_BUS_ADDRESS".into(), format!("unix:path={}", nowhere.display()))],
        ..Opts::default()
    })
    .await;
    let v = view_until(&p, "unavailable", |v| v["state"] == "unavailable").await;
    assert!(v["unavailable"].as_str().is_some_and(|w| w.contains("no system bus")), "{v}");
    assert_eq!((v["holding"].clone(), v["on_battery"].clone()), (json!(false), Value::Null), "{v}");
    assert!(v["note"].as_str().is_some_and(|n| n.starts_with("Unavailable")), "{v}");
    // The setting is still a setting.
    set_keep_awake(&p, "off").await;
    let v = view_until(&p, "off", |v| v["state"] == "off").await;
    assert_eq!(v["setting"], "off", "{v}");
    let r = p.api(Method::PATCH, "/__api__/porch/server").json(&json!({"keep_awake": "sometimes"})).send().await;
    let r = r.expect("patch");
    assert_eq!(r.status(), 400);
    let text = r.text().await.unwrap_or_default();
    assert!(text.contains("keep_awake must be") && text.contains("renders"), "{text}");
    p.shutdown();
}
