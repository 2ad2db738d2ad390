//! Interactive content end to end: a real FastAPI app in a uv-built environment, started
//! on demand by the real `porch` binary and reached through its proxy (HTTP and WebSocket).
//! Needs uv and PyPI; skipped visibly without uv (and failing under CI=true).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use common::{eventually, fixture, have_uv, Porch};
use reqwest::Method;
use serde_json::{json, Value};

fn skip(test: &str) -> bool {
    if have_uv() {
        return false;
    }
    common::skip_or_fail(test, "uv is not installed");
    true
}

/// Copies the FastAPI fixture (optionally with other requirements) and deploys it by CLI.
async fn deploy_fastapi(p: &Porch, name: &str, requirements: Option<&str>) -> (String, std::process::Output) {
    let dir = tempfile::tempdir().expect("tmp");
    let src = fixture("apps/fastapi-app");
    for f in ["app.py", "requirements.txt"] {
        std::fs::copy(src.join(f), dir.path().join(f)).expect("copy");
    }
    if let Some(r) = requirements {
        std::fs::write(dir.path().join("requirements.txt"), r).expect("write");
    }
    let out = p.cli(&["deploy", dir.path().to_str().expect("utf8"), "--name", name]);
    let list: Vec<Value> = serde_json::from_slice(&p.cli(&["list", "--json"]).stdout).expect("json");
    let guid = list
        .iter()
        .find(|c| c["name"] == name)
        .map(|c| c["guid"].as_str().expect("guid").to_string())
        .unwrap_or_default();
    std::mem::forget(dir); // keep nothing; the bundle is a copy
    (guid, out)
}

async fn root_json(p: &Porch, guid: &str) -> Value {
    let r = p.get(&format!("/content/{guid}/")).await;
    assert_eq!(r.status(), 200, "app root");
    r.json().await.expect("json")
}

async fn jobs(p: &Porch, guid: &str) -> Vec<Value> {
    p.api(Method::GET, &format!("/__api__/v1/content/{guid}/jobs"))
        .send()
        .await
        .expect("jobs")
        .json()
        .await
        .expect("json")
}

fn alive(pid: u64) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map(|s| !s.contains(") Z ")).unwrap_or(false)
}

/// A WebSocket text exchange over a raw socket through the proxy.
fn ws_echo(p: &Porch, path: &str, text: &str) -> String {
    let mut s = ws_open(&p.base, path);
    let payload = text.as_bytes();
    let mask = [1u8, 2, 3, 4];
    let mut frame = vec![0x81, 0x80 | payload.len() as u8];
    frame.extend_from_slice(&mask);
    frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
    s.write_all(&frame).expect("send");
    let mut h = [0u8; 2];
    s.read_exact(&mut h).expect("frame head");
    let mut body = vec![0u8; (h[1] & 0x7f) as usize];
    s.read_exact(&mut body).expect("frame body");
    String::from_utf8(body).expect("utf8")
}

/// Opens a WebSocket through the proxy and checks the handshake.
fn ws_open(base: &str, path: &str) -> TcpStream {
    ws_open_with(base, path, &[])
}

/// [`ws_open`] with extra request headers (e.g. a `Cookie`).
fn ws_open_with(base: &str, path: &str, extra: &[(&str, &str)]) -> TcpStream {
    let addr = base.trim_start_matches("http://").to_string();
    let mut s = TcpStream::connect(&addr).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(30))).expect("timeout");
    let extra: String = extra.iter().map(|(k, v)| format!("{k}: {v}\r\n")).collect();
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://{addr}\r\n{extra}\r\n"
    )
    .expect("handshake");
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).expect("read head");
        head.push(byte[0]);
    }
    let head = String::from_utf8_lossy(&head);
    assert!(head.starts_with("HTTP/1.1 101"), "no upgrade: {head}");
    assert!(head.to_ascii_lowercase().contains("sec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo="), "{head}");
    s
}

#[tokio::test]
async fn fastapi_runs_on_demand_behind_the_proxy() {
    if skip("fastapi_runs_on_demand_behind_the_proxy") {
        return;
    }
    let p = Porch::start().await;
    let (guid, out) = deploy_fastapi(&p, "fast-api", None).await;
    assert!(out.status.success(), "deploy failed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(jobs(&p, &guid).await.is_empty(), "no process before the first viewer");

    let v = root_json(&p, &guid).await;
    assert_eq!(v["hello"], "porch");
    assert_eq!(v["root_path"], format!("/content/{guid}"));
    assert_eq!(v["guid"], guid.as_str());
    assert_eq!(v["server"], format!("{}/", p.base));
    assert_eq!(v["base_url"], format!("{}/content/{guid}/", p.base));
    assert_eq!(v["forwarded_for"], "127.0.0.1");
    let pid = v["pid"].as_u64().expect("pid");
    let j = jobs(&p, &guid).await;
    assert_eq!(j.len(), 1);
    assert_eq!(j[0]["pid"].as_u64(), Some(pid), "the job list names the worker (setpriv execs in place)");

    // The app calls the server back with the key it was given (CONNECT_API_KEY).
    let r = p.get(&format!("/content/{guid}/callback")).await;
    assert_eq!(r.json::<Value>().await.expect("json"), json!({"status": 200}), "the content key is accepted");

    // Streaming routes and query strings pass through.
    let r = p.get(&format!("/content/{guid}/sleep?ms=50")).await;
    assert_eq!(r.json::<Value>().await.expect("json")["slept"], 50);
    // WebSocket both ways.
    assert_eq!(ws_echo(&p, &format!("/content/{guid}/ws"), "hi porch"), "echo:hi porch");

    // A killed worker is replaced on the next request.
    let r = p
        .api(Method::DELETE, &format!("/__api__/v1/content/{guid}/jobs/{}", j[0]["key"].as_str().expect("key")))
        .send()
        .await
        .expect("kill");
    assert_eq!(r.status(), 204);
    eventually(20, "the killed worker to go", || async { (!alive(pid)).then_some(()) }).await;
    let v2 = eventually(60, "a fresh worker", || async {
        let r = p.get(&format!("/content/{guid}/")).await;
        if r.status() == 200 {
            r.json::<Value>().await.ok()
        } else {
            None
        }
    })
    .await;
    assert_ne!(v2["pid"], v["pid"]);

    // An environment change restarts the app with the new value; values are never returned.
    let r = p
        .api(Method::PATCH, &format!("/__api__/v1/content/{guid}/environment"))
        .json(&json!([{"name": "GREETING", "value": "hello from porch"}]))
        .send()
        .await
        .expect("env");
    assert_eq!(r.json::<Value>().await.expect("json"), json!(["GREETING"]));
    let v3 = root_json(&p, &guid).await;
    assert_eq!(v3["greeting"], "hello from porch");
    assert_ne!(v3["pid"], v2["pid"], "an environment change restarts the app");

    // A silent viewer's WebSocket is closed after the read timeout.
    let r = p
        .api(Method::PATCH, &format!("/__api__/v1/content/{guid}"))
        .json(&json!({"read_timeout": 1}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 200);
    let mut quiet = ws_open(&p.base, &format!("/content/{guid}/ws"));
    let t0 = std::time::Instant::now();
    let mut buf = [0u8; 64];
    let n = quiet.read(&mut buf).expect("Porch closes the socket (EOF) before the 30 s client timeout");
    assert_eq!(n, 0, "the idle WebSocket should be closed by Porch");
    assert!(t0.elapsed() < Duration::from_secs(20));
    p.api(Method::PATCH, &format!("/__api__/v1/content/{guid}"))
        .json(&json!({"read_timeout": null}))
        .send()
        .await
        .expect("patch");

    // With no traffic either way, the connection timeout closes it too (read timeout back at
    // its one-hour default, so only the connection timeout can be what closes it).
    let r = p
        .api(Method::PATCH, &format!("/__api__/v1/content/{guid}"))
        .json(&json!({"connection_timeout": 1}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 200);
    let mut quiet = ws_open(&p.base, &format!("/content/{guid}/ws"));
    let n = quiet.read(&mut buf).expect("Porch closes the socket (EOF) before the 30 s client timeout");
    assert_eq!(n, 0, "the silent WebSocket should be closed by the connection timeout");
    p.api(Method::PATCH, &format!("/__api__/v1/content/{guid}"))
        .json(&json!({"connection_timeout": null}))
        .send()
        .await
        .expect("patch");

    // Idle shutdown with a short idle timeout.
    let r = p
        .api(Method::PATCH, &format!("/__api__/v1/content/{guid}"))
        .json(&json!({"idle_timeout": 1}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.expect("json")["idle_timeout"], 1);
    let pid3 = v3["pid"].as_u64().expect("pid");
    eventually(30, "the idle worker to stop", || async { (!alive(pid3)).then_some(()) }).await;
    eventually(10, "the stopped worker to leave the job list", || async {
        jobs(&p, &guid).await.is_empty().then_some(())
    })
    .await;

    // Invalid runtime settings are refused.
    let r = p
        .api(Method::PATCH, &format!("/__api__/v1/content/{guid}"))
        .json(&json!({"min_processes": 5, "max_processes": 2}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 400);
    let r = p
        .api(Method::PATCH, &format!("/__api__/v1/content/{guid}"))
        .json(&json!({"load_factor": 2}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 400);
    // One computer runs every worker: a typo cannot ask for a million of them.
    for body in [json!({"max_processes": 1_000_000}), json!({"max_processes": 64, "min_processes": 100})] {
        let r = p.api(Method::PATCH, &format!("/__api__/v1/content/{guid}")).json(&body).send().await.expect("patch");
        assert_eq!(r.status(), 400, "{body}");
        let v: Value = r.json().await.expect("json");
        assert!(v["error"].as_str().unwrap_or_default().contains("must be at most"), "{body}: {v}");
    }
    let out = p.cli(&["settings", "set", "max_processes=1000000"]);
    assert!(!out.status.success() && common::plain_text(&out).contains("at most 64"), "{}", common::plain_text(&out));

    // min_processes starts a worker without a viewer.
    let r = p
        .api(Method::PATCH, &format!("/__api__/v1/content/{guid}"))
        .json(&json!({"min_processes": 1}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 200);
    eventually(60, "an eager worker", || async { (!jobs(&p, &guid).await.is_empty()).then_some(()) }).await;

    // The process log is readable.
    let log = p
        .api(Method::GET, &format!("/__api__/v1/content/{guid}/log?lines=50"))
        .send()
        .await
        .expect("log")
        .text()
        .await
        .expect("text");
    assert!(log.to_lowercase().contains("uvicorn"), "{log}");

    // Server-wide runtime defaults apply to running items at once. With the item's own
    // min_processes cleared, a default of 1 keeps a worker up with no viewer; putting the
    // default back through the CLI (under the running server) lets it go idle again.
    let r = p
        .api(Method::PATCH, &format!("/__api__/v1/content/{guid}"))
        .json(&json!({"min_processes": null}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 200);
    eventually(30, "the idle worker to stop", || async { jobs(&p, &guid).await.is_empty().then_some(()) }).await;
    let r = p
        .api(Method::PATCH, "/__api__/porch/server")
        .json(&json!({"runtime_defaults": {"min_processes": 1}}))
        .send()
        .await
        .expect("defaults");
    assert_eq!(r.status(), 200);
    eventually(60, "a worker started by the server default", || async {
        (!jobs(&p, &guid).await.is_empty()).then_some(())
    })
    .await;
    let out = p.cli(&["settings", "set", "min_processes=default"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    eventually(30, "the worker to stop once the default is 0 again", || async {
        jobs(&p, &guid).await.is_empty().then_some(())
    })
    .await;
    p.shutdown();
}

#[tokio::test]
async fn capacity_redeploys_and_bad_requirements() {
    if skip("capacity_redeploys_and_bad_requirements") {
        return;
    }
    let p = Porch::start().await;
    let (guid, out) = deploy_fastapi(&p, "cap-api", None).await;
    assert!(out.status.success());
    p.api(Method::PATCH, &format!("/__api__/v1/content/{guid}"))
        .json(&json!({"max_processes": 1, "max_conns_per_process": 1}))
        .send()
        .await
        .expect("patch");
    root_json(&p, &guid).await; // warm
    let slow = {
        let (http, url) = (p.http.clone(), p.url(&format!("/content/{guid}/sleep?ms=3000")));
        tokio::spawn(async move { http.get(url).send().await.map(|r| r.status().as_u16()) })
    };
    // Wait until the slow request holds the only connection, then knock.
    eventually(10, "the slow request to occupy the worker", || async {
        jobs(&p, &guid).await.first().is_some_and(|j| j["connections"] == 1).then_some(())
    })
    .await;
    let busy = p.get(&format!("/content/{guid}/")).await;
    assert_eq!(busy.status(), 503);
    assert_eq!(busy.headers()["x-porch-proxy-error"], "at-capacity");
    assert!(busy.headers().contains_key("retry-after"));
    assert_eq!(slow.await.expect("join").expect("slow"), 200);

    // Redeploying with unchanged requirements reuses the environment.
    let envs = || -> Vec<String> {
        std::fs::read_dir(p.data_dir().join("envs"))
            .expect("envs")
            .flatten()
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .filter(|n| !n.starts_with('.'))
            .collect()
    };
    let before = envs();
    assert_eq!(before.len(), 1);
    let env_dir = p.data_dir().join("envs").join(&before[0]);
    let built = std::fs::metadata(&env_dir).expect("env").modified().expect("mtime");
    let (_, out) = deploy_fastapi(&p, "cap-api", None).await;
    assert!(out.status.success());
    assert_eq!(envs(), before, "an unchanged redeploy must not build another environment");
    assert_eq!(std::fs::metadata(&env_dir).expect("env").modified().expect("mtime"), built, "nor touch the old one");
    let c: Value = p
        .api(Method::GET, &format!("/__api__/v1/content/{guid}"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let bundles: Vec<Value> = p
        .api(Method::GET, &format!("/__api__/v1/content/{guid}/bundles"))
        .send()
        .await
        .expect("b")
        .json()
        .await
        .expect("json");
    assert_eq!(bundles.len(), 2);
    assert_eq!(c["bundle_id"], bundles[0]["id"]);
    let served = root_json(&p, &guid).await;

    // Bad requirements: a clear failure, and the previous version keeps serving.
    let (_, out) = deploy_fastapi(&p, "cap-api", Some("this-package-does-not-exist-porch==1.0\n")).await;
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("this-package-does-not-exist-porch"), "{err}");
    let after = root_json(&p, &guid).await;
    assert_eq!(after["hello"], served["hello"]);
    let c2: Value = p
        .api(Method::GET, &format!("/__api__/v1/content/{guid}"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(c2["bundle_id"], c["bundle_id"]);
    p.shutdown();
}

#[tokio::test]
async fn no_worker_outlives_a_killed_porch() {
    if skip("no_worker_outlives_a_killed_porch") {
        return;
    }
    let p = Porch::start().await;
    let (guid, out) = deploy_fastapi(&p, "orphan-check", None).await;
    assert!(out.status.success());
    let pid = root_json(&p, &guid).await["pid"].as_u64().expect("pid");
    assert!(alive(pid));
    // SIGKILL Porch alone (not its group): the kernel must take the worker down with it.
    let info: Value =
        serde_json::from_slice(&std::fs::read(p.data_dir().join("porch.run.json")).expect("runtime")).expect("json");
    let porch_pid = info["pid"].as_u64().expect("pid").to_string();
    let status = std::process::Command::new("kill").args(["-s", "KILL", "--", &porch_pid]).status().expect("kill");
    assert!(status.success());
    eventually(10, "the worker to die with Porch", || async { (!alive(pid)).then_some(()) }).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_sessions_scale_out_and_keep_affinity() {
    if skip("websocket_sessions_scale_out_and_keep_affinity") {
        return;
    }
    let p = Porch::start().await;
    let (guid, out) = deploy_fastapi(&p, "scale-api", None).await;
    assert!(out.status.success());
    let r = p
        .api(Method::PATCH, &format!("/__api__/v1/content/{guid}"))
        // No idle stop: emptied workers must stay up for the affinity check below.
        .json(&json!({"max_processes": 3, "max_conns_per_process": 2, "load_factor": 0.5, "idle_timeout": 600}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 200);
    // Six open sessions at two per process need three processes.
    let mut sockets = Vec::new();
    for _ in 0..6 {
        let path = format!("/content/{guid}/ws");
        let base = p.base.clone();
        let s = tokio::task::spawn_blocking(move || ws_open(&base, &path)).await.expect("join");
        sockets.push(s);
        // Let a proactively started worker come up before the next arrival.
        eventually(60, "no worker still starting", || async {
            jobs(&p, &guid).await.iter().all(|j| j["state"] == "ready").then_some(())
        })
        .await;
    }
    let j = jobs(&p, &guid).await;
    assert_eq!(j.len(), 3, "{j:?}");
    assert!(j.iter().all(|w| w["connections"] == 2), "{j:?}");
    // A seventh session is turned away with 503.
    let r = p.get(&format!("/content/{guid}/")).await;
    assert_eq!(r.status(), 503);
    assert_eq!(r.headers()["x-porch-proxy-error"], "at-capacity");
    drop(sockets.pop());
    // Affinity: the cookie brings a viewer back to the process that served it.
    let first = eventually(10, "a free slot", || async {
        let r = p.get(&format!("/content/{guid}/")).await;
        (r.status() == 200).then_some(r)
    })
    .await;
    let cookie = first.headers()["set-cookie"].to_str().expect("cookie").split(';').next().expect("pair").to_string();
    let pid = first.json::<Value>().await.expect("json")["pid"].clone();
    for _ in 0..5 {
        let r = p.http.get(p.url(&format!("/content/{guid}/"))).header("Cookie", &cookie).send().await.expect("get");
        assert_eq!(r.json::<Value>().await.expect("json")["pid"], pid);
    }
    // Above, the cookie's worker was the only one with room, so any routing passed. Now make
    // it the busier one while the others are free: a least-connections pick would leave it,
    // only the cookie leads back.
    drop(sockets);
    eventually(30, "every session closed", || async {
        let j = jobs(&p, &guid).await;
        (j.len() == 3 && j.iter().all(|w| w["connections"] == 0)).then_some(())
    })
    .await;
    let base = p.base.clone();
    let path = format!("/content/{guid}/ws");
    let with_cookie = cookie.clone();
    let held = tokio::task::spawn_blocking(move || ws_open_with(&base, &path, &[("Cookie", &with_cookie)]))
        .await
        .expect("join");
    let j = jobs(&p, &guid).await;
    let busy: Vec<&Value> = j.iter().filter(|w| w["connections"] != 0).collect();
    assert_eq!(busy.len(), 1, "one open session: {j:?}");
    assert_eq!(busy[0]["pid"], pid, "the cookie's WebSocket went to its worker: {j:?}");
    assert!(j.iter().any(|w| w["connections"] == 0 && w["state"] == "ready"), "another worker is free: {j:?}");
    for _ in 0..5 {
        let r = p.http.get(p.url(&format!("/content/{guid}/"))).header("Cookie", &cookie).send().await.expect("get");
        assert_eq!(r.json::<Value>().await.expect("json")["pid"], pid, "the cookie wins over the free worker: {j:?}");
    }
    let r = p.get(&format!("/content/{guid}/")).await;
    assert_ne!(r.json::<Value>().await.expect("json")["pid"], pid, "without the cookie, a free worker answers");
    drop(held);
    p.shutdown();
}

/// The gateway's observer hook, seen through its built-in counters (`viewers` in
/// `GET /__api__/porch/server`): each viewer request counts once, and a WebSocket session is
/// open from its upgrade until either side closes it.
#[tokio::test]
async fn the_gateway_shows_viewer_requests_and_sessions_to_its_observers() {
    if skip("the_gateway_shows_viewer_requests_and_sessions_to_its_observers") {
        return;
    }
    let p = Porch::start().await;
    let (guid, out) = deploy_fastapi(&p, "observed", None).await;
    assert!(out.status.success(), "deploy failed: {}", String::from_utf8_lossy(&out.stderr));
    let viewers = || async {
        let v: Value =
            p.api(Method::GET, "/__api__/porch/server").send().await.expect("server").json().await.expect("json");
        v["viewers"].clone()
    };
    let before = viewers().await;
    let count = |v: &Value, k: &str| v[k].as_u64().unwrap_or_else(|| panic!("viewers.{k} in {v}"));
    assert_eq!(count(&before, "open_sessions"), 0, "{before}");

    // Three viewer requests: the app's root, the landing page and a missing item.
    assert_eq!(root_json(&p, &guid).await["hello"], "porch");
    assert_eq!(p.get("/").await.status(), 200);
    assert_eq!(p.get("/content/6f1c3f1e-0000-4000-8000-000000000000/").await.status(), 404);
    // Management calls are not viewer requests.
    let after = viewers().await;
    assert_eq!(count(&after, "requests"), count(&before, "requests") + 3, "{before} -> {after}");

    // A session: open while the socket is, closed once the viewer hangs up.
    let mut ws = common::Ws::connect(&p.base, &format!("/content/{guid}/ws"), &[]).expect("upgrade");
    ws.send_text("hi");
    assert_eq!(ws.recv().expect("echo").text(), "echo:hi");
    let open = viewers().await;
    assert_eq!(count(&open, "open_sessions"), 1, "{open}");
    assert_eq!(count(&open, "sessions"), count(&before, "sessions") + 1, "{open}");
    assert_eq!(count(&open, "requests"), count(&after, "requests") + 1, "the upgrade is a request too: {open}");
    drop(ws);
    eventually(30, "the session to close", || async { (count(&viewers().await, "open_sessions") == 0).then_some(()) })
        .await;
    p.shutdown();
}

/// `GET …/log?follow=true` streams: the lines so far, then each new line as the app writes
/// it, on one open response; without `follow` the answer ends.
#[tokio::test]
async fn the_process_log_follows_new_lines() {
    if skip("the_process_log_follows_new_lines") {
        return;
    }
    let p = Porch::start().await;
    let (guid, out) = deploy_fastapi(&p, "followed", None).await;
    assert!(out.status.success(), "deploy failed: {}", String::from_utf8_lossy(&out.stderr));
    let first = root_json(&p, &guid).await;
    let log = format!("/__api__/v1/content/{guid}/log");
    // Plain: a complete answer, with no marker yet.
    let plain = p.api(Method::GET, &log).send().await.expect("log").text().await.expect("text");
    assert!(!plain.contains("marker follow-"), "{plain}");

    let mut stream = p.api(Method::GET, &format!("{log}?follow=true")).send().await.expect("follow");
    assert_eq!(stream.status(), 200);
    assert!(stream.headers()["content-type"].to_str().expect("ascii").starts_with("text/plain"));
    let mut seen = String::new();
    for marker in ["follow-1", "follow-2"] {
        let r = p.get(&format!("/content/{guid}/?marker={marker}")).await;
        assert_eq!(r.json::<Value>().await.expect("json")["pid"], first["pid"], "the same worker");
        let want = format!("marker {marker}");
        let got = tokio::time::timeout(Duration::from_secs(30), async {
            while !seen.contains(&want) {
                match stream.chunk().await.expect("stream") {
                    Some(bytes) => seen.push_str(&String::from_utf8_lossy(&bytes)),
                    None => panic!("the followed log ended; so far:\n{seen}"),
                }
            }
        })
        .await;
        assert!(got.is_ok(), "{want:?} never arrived on the open stream; so far:\n{seen}");
    }
    assert_eq!(seen.matches("marker follow-1").count(), 1, "no line twice:\n{seen}");
    drop(stream);
    p.shutdown();
}
