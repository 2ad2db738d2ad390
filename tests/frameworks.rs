//! Real apps with real clients: one tiny app per Python appmode, deployed with the real
//! `rsconnect deploy <mode>` (from `$PORCH_TEST_VENV`) to a running Porch, then used through
//! the proxy as a viewer: the page and its assets, and the framework's own live channel
//! (WebSocket, callback POST, SSE queue or JSON route). R Shiny and Plumber are deployed with
//! `porch deploy` and need R with the shiny and plumber packages (Debian's `r-base-core`,
//! `r-cran-shiny`, `r-cran-plumber`, installed by `.ci/test`).
//!
//! Every test starts its own Porch, so they run in parallel. The first deploy of a framework
//! builds its environment with uv from PyPI. Missing tools skip visibly (and fail under CI=true).

mod common;

use std::process::Command;
use std::time::{Duration, Instant};

use common::{
    copy_tree, eventually, fixture, have_uv, page_refs, plain_text as text, run_with_timeout, skip_or_fail, Porch,
    Rsconnect, Ws,
};
use reqwest::Method;
use serde_json::{json, Value};

/// Seconds `rsconnect add` may take.
const RSCONNECT_TIMEOUT: u64 = 120;
/// Seconds a deploy may take: it builds the environment from PyPI and waits for the task.
const DEPLOY_TIMEOUT: u64 = 900;
/// Seconds for the first view (the worker starts on demand) and for one protocol step.
const START_TIMEOUT: u64 = 180;
const STEP_TIMEOUT: u64 = 60;

// ---- prerequisites -------------------------------------------------------------------------

/// The rsconnect CLI, or `None` after reporting why the test cannot run (it needs uv too).
fn rsconnect_or_skip(test: &str) -> Option<Rsconnect> {
    let rsc = Rsconnect::find(test)?;
    if !have_uv() {
        skip_or_fail(test, "uv is not installed");
        return None;
    }
    Some(rsc)
}

/// `Rscript`, when it can load every package named; else `None` after reporting why.
fn r_or_skip(test: &str, packages: &[&str]) -> Option<()> {
    let expr = packages.iter().map(|p| format!("library({p})")).collect::<Vec<_>>().join(";");
    match Command::new("Rscript").args(["-e", &expr]).output() {
        Ok(o) if o.status.success() => Some(()),
        Ok(o) => {
            skip_or_fail(test, &format!("R cannot load {packages:?}: {}", String::from_utf8_lossy(&o.stderr)));
            None
        }
        Err(e) => {
            skip_or_fail(test, &format!("Rscript not found ({e}); install r-base-core r-cran-shiny r-cran-plumber"));
            None
        }
    }
}

/// A deployed app on its own Porch.
struct Deployed {
    p: Porch,
    guid: String,
    /// `/content/<guid>/`
    root: String,
    _work: tempfile::TempDir,
}

impl Deployed {
    /// The app's process log, for failure messages.
    async fn log(&self) -> String {
        let r = self.p.api(Method::GET, &format!("/__api__/v1/content/{}/log?lines=200", self.guid)).send().await;
        match r {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(e) => format!("(log unavailable: {e})"),
        }
    }

    /// `what` followed by the app's log, for a panic message.
    async fn report(&self, what: &str) -> String {
        format!("{what}\n--- app log (GET /__api__/v1/content/{}/log)\n{}", self.guid, self.log().await)
    }

    /// GETs a path under the app root as a keyless viewer; waits while Porch says the worker
    /// is starting (503 with `x-porch-proxy-error: starting`), then requires 200. Any other
    /// answer, Porch's own 502 "start-failed" included, fails at once with the app's log: a
    /// retry would start a fresh worker and hide a start that failed. Returns (content-type, body).
    async fn view(&self, rel: &str) -> (String, String) {
        let path = format!("{}{rel}", self.root);
        let mut last = String::new();
        let deadline = Instant::now() + Duration::from_secs(START_TIMEOUT);
        let got = loop {
            let r = self.p.get(&path).await;
            let status = r.status().as_u16();
            if is_starting(&r) {
                last = format!("{} {:?}", r.status(), r.headers().get("x-porch-proxy-error"));
                if Instant::now() >= deadline {
                    break None;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
            let headers = format!("{:?}", r.headers());
            let ctype = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
            let body = r.text().await.unwrap_or_default();
            break Some((status, headers, ctype, body));
        };
        match got {
            Some((200, _, ctype, body)) => (ctype, body),
            Some((status, headers, _, body)) => {
                let body: String = body.chars().take(2000).collect();
                panic!("{}", self.report(&format!("GET {path}: expected 200, got {status}\n{headers}\n{body}")).await)
            }
            None => panic!("{}", self.report(&format!("GET {path}: the worker never answered (last: {last})")).await),
        }
    }

    /// Asserts that every same-origin script and stylesheet `page` references under the app
    /// root answers 200 through the proxy (at least one must exist). Returns how many.
    async fn check_assets(&self, page_path: &str, html: &str) -> usize {
        let refs: Vec<String> = page_refs(page_path, html)
            .into_iter()
            .filter(|r| r.starts_with(&self.root))
            .filter(|r| {
                let p = r.split('?').next().unwrap_or(r);
                p.ends_with(".js") || p.ends_with(".css") || p.ends_with(".mjs")
            })
            .collect();
        if refs.is_empty() {
            let head: String = html.chars().take(3000).collect();
            panic!(
                "{}",
                self.report(&format!("{page_path} references no script or stylesheet under {}:\n{head}", self.root))
                    .await
            );
        }
        for r in refs.iter().take(25) {
            let resp = self.p.get(r).await;
            let status = resp.status().as_u16();
            if status != 200 {
                panic!(
                    "{}",
                    self.report(&format!("asset {r} (referenced by {page_path}) answered {status} through the proxy"))
                        .await
                );
            }
        }
        eprintln!("ASSETS {page_path}: {} referenced assets answered 200", refs.len().min(25));
        refs.len()
    }

    /// Opens a WebSocket under the app root; on a failed handshake, fails with the app's log.
    async fn ws(&self, rel: &str, headers: &[(&str, &str)]) -> Ws {
        let path = format!("{}{rel}", self.root);
        match Ws::connect(&self.p.base, &path, headers) {
            Ok(ws) => ws,
            Err(e) => panic!("{}", self.report(&format!("WebSocket handshake through the proxy failed: {e}")).await),
        }
    }
}

/// Starts a Porch, registers it with rsconnect, deploys the fixture `frameworks/<name>` with
/// `rsconnect deploy <args…> <dir>`, checks the item's appmode and returns it.
async fn rsconnect_deploy(test: &str, name: &str, args: &[&str], app_mode: &str) -> Option<Deployed> {
    let rsc = rsconnect_or_skip(test)?;
    let p = Porch::start().await;
    let add = rsc.run(&["add", "-n", "porch", "-s", &p.base, "-k", &p.key], RSCONNECT_TIMEOUT);
    assert!(add.status.success(), "rsconnect add failed:\n{}", text(&add));

    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path().join(format!("porch-{name}"));
    copy_tree(&fixture(&format!("frameworks/{name}")), &dir);
    let target = match name {
        "voila" => dir.join("app.ipynb"),
        "notebook" => dir.join("report.ipynb"),
        _ => dir.clone(),
    };
    let target = target.to_str().expect("utf8 path").to_string();
    let title = format!("Porch {name} fixture");
    let mut argv: Vec<&str> = vec!["deploy"];
    argv.extend_from_slice(args);
    argv.extend_from_slice(&["-n", "porch", "-t", &title, &target]);
    let t0 = Instant::now();
    let out = rsc.run(&argv, DEPLOY_TIMEOUT);
    let secs = t0.elapsed().as_secs_f64();
    let out_text = text(&out);
    eprintln!("TIMING {test}: rsconnect deploy {} took {secs:.1}s", args.join(" "));

    let items: Value =
        p.api(Method::GET, "/__api__/v1/content").send().await.expect("list").json().await.expect("json");
    let items = items.as_array().cloned().unwrap_or_default();
    let guid = items.first().and_then(|i| i["guid"].as_str()).map(str::to_string);
    if !out.status.success() {
        let log = match &guid {
            Some(g) => p
                .api(Method::GET, &format!("/__api__/v1/content/{g}/log?lines=200"))
                .send()
                .await
                .expect("log")
                .text()
                .await
                .unwrap_or_default(),
            None => String::new(),
        };
        panic!("rsconnect deploy {} failed after {secs:.1}s:\n{out_text}\n--- app log\n{log}", args.join(" "));
    }
    assert_eq!(items.len(), 1, "expected one content item: {items:?}");
    let item = &items[0];
    assert_eq!(item["app_mode"], app_mode, "app_mode: {item}");
    assert_eq!(item["title"], title.as_str(), "title: {item}");
    let guid = guid.expect("guid");
    Some(Deployed { root: format!("/content/{guid}/"), guid, p, _work: work })
}

/// Whether Porch answered "the worker is starting, ask again" (the only answer worth a retry).
fn is_starting(r: &reqwest::Response) -> bool {
    r.status() == 503 && r.headers().get("x-porch-proxy-error").is_some_and(|v| v == "starting")
}

/// Starts a Porch and deploys the fixture `frameworks/<name>` with `porch deploy`.
async fn porch_deploy(test: &str, name: &str, app_mode: &str) -> Deployed {
    let p = Porch::start().await;
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path().join(format!("porch-{name}"));
    copy_tree(&fixture(&format!("frameworks/{name}")), &dir);
    let mut cmd = Command::new(common::porch_bin());
    cmd.arg("deploy").arg(&dir).args(["--name", name, "--data-dir"]).arg(p.data_dir());
    let t0 = Instant::now();
    let out = run_with_timeout(&mut cmd, DEPLOY_TIMEOUT);
    eprintln!("TIMING {test}: porch deploy took {:.1}s", t0.elapsed().as_secs_f64());
    let list: Vec<Value> = serde_json::from_slice(&p.cli(&["list", "--json"]).stdout).expect("json");
    let item = list.iter().find(|c| c["name"] == name).cloned().unwrap_or(Value::Null);
    let guid = item["guid"].as_str().unwrap_or_default().to_string();
    if !out.status.success() {
        let log = p
            .api(Method::GET, &format!("/__api__/v1/content/{guid}/log?lines=200"))
            .send()
            .await
            .expect("log")
            .text()
            .await
            .unwrap_or_default();
        panic!(
            "porch deploy failed:\n{}{}\n--- app log\n{log}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let c: Value = p
        .api(Method::GET, &format!("/__api__/v1/content/{guid}"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(c["app_mode"], app_mode, "app_mode: {c}");
    Deployed { root: format!("/content/{guid}/"), guid, p, _work: work }
}

/// Times the first view of the app (which starts its worker).
async fn first_view(test: &str, d: &Deployed, rel: &str) -> (String, String) {
    let t0 = Instant::now();
    let page = d.view(rel).await;
    eprintln!("TIMING {test}: first view of {}{rel} took {:.1}s", d.root, t0.elapsed().as_secs_f64());
    page
}

// ---- forked from the pre-imported Python helper, and plainly ------------------------------

/// The one Python helper of this Porch (every test deploys one Python environment), from
/// `GET /__api__/porch/python-helpers`; `Null` while there is none.
async fn helper(p: &Porch) -> Value {
    let r = p.api(Method::GET, "/__api__/porch/python-helpers").send().await.expect("python-helpers");
    assert_eq!(r.status(), 200);
    let list: Vec<Value> = r.json().await.expect("json");
    assert!(list.len() <= 1, "one environment: {list:?}");
    list.into_iter().next().unwrap_or(Value::Null)
}

/// Stops the item's workers and waits until none is left, so the next view starts one.
async fn restart(d: &Deployed) {
    let r = d.p.api(Method::POST, &format!("/__api__/v1/content/{}/restart", d.guid)).send().await.expect("restart");
    assert_eq!(r.status(), 204);
    eventually(STEP_TIMEOUT, "the workers to stop", || async {
        let jobs: Vec<Value> =
            d.p.api(Method::GET, &format!("/__api__/v1/content/{}/jobs", d.guid))
                .send()
                .await
                .expect("jobs")
                .json()
                .await
                .expect("json");
        jobs.is_empty().then_some(())
    })
    .await;
}

/// Waits for the environment's helper to be ready, then restarts the item so its next
/// worker is forked from it. Returns the helper's fork count before.
async fn expect_forked(test: &str, d: &Deployed) -> u64 {
    let h = eventually(START_TIMEOUT, "the Python helper to be ready", || async {
        let h = helper(&d.p).await;
        assert_ne!(h["state"], "off", "the Python helper was switched off: {h}");
        (h["state"] == "ready").then_some(h)
    })
    .await;
    eprintln!("{test}: Python helper ready: {h}");
    restart(d).await;
    h["forks"].as_u64().expect("forks")
}

/// Asserts the running worker was forked from the helper (its fork count grew).
async fn was_forked(test: &str, d: &Deployed, before: u64) {
    let h = helper(&d.p).await;
    let forks = h["forks"].as_u64().unwrap_or(0);
    if forks <= before {
        panic!("{}", d.report(&format!("{test}: the worker was not forked from the Python helper: {h}")).await);
    }
    // It serves the item, and is not held by it (no `min_processes`): it names when it stops.
    let serves = h["items"].as_array().is_some_and(|items| items.iter().any(|g| g == d.guid.as_str()));
    assert!(serves && h["held"] == false && h["expires"].is_string(), "{test}: the helper's items and expiry: {h}");
}

/// Turns `zygote` off and restarts the item: its next worker starts plainly.
async fn expect_plain(d: &Deployed) {
    let r =
        d.p.api(Method::PATCH, "/__api__/porch/server").json(&json!({"zygote": false})).send().await.expect("patch");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    restart(d).await;
}

/// Asserts no helper runs any more and the item's worker is not one it forked.
/// Runs `checks` against a worker forked from the Python helper, then again with `zygote`
/// off against a plain one, asserting each time which start it was.
async fn forked_then_plain<'a, F, Fut>(test: &'a str, d: &'a Deployed, checks: F)
where
    F: Fn(&'a str, &'a Deployed) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let before = expect_forked(test, d).await;
    checks(test, d).await;
    was_forked(test, d, before).await;
    expect_plain(d).await;
    checks(test, d).await;
    was_plain(test, d).await;
}

async fn was_plain(test: &str, d: &Deployed) {
    let h = helper(&d.p).await;
    assert!(h.is_null() || h["state"] != "ready", "{test}: zygote=off leaves no helper running: {h}");
    assert!(h.is_null() || h["pid"].is_null(), "{test}: {h}");
}

fn must_contain(what: &str, haystack: &str, needle: &str) {
    assert!(
        haystack.contains(needle),
        "{what}: expected {needle:?} in:\n{}",
        haystack.chars().take(4000).collect::<String>()
    );
}

/// The text between `start` and the next `end` after it.
fn between<'a>(s: &'a str, start: &str, end: &str) -> Option<&'a str> {
    let i = s.find(start)? + start.len();
    let j = s[i..].find(end)?;
    Some(&s[i..i + j])
}

#[test]
fn websocket_accept_matches_rfc6455() {
    assert_eq!(common::ws_accept("dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
    assert_eq!(common::base64(b"ab"), "YWI=");
    assert_eq!(common::base64(b"abc"), "YWJj");
    assert_eq!(
        page_refs(
            "/c/g/",
            r#"<link href="a.css"><script src="./b/c.js?v=1"></script><a href="https://x/"><img src="/c/x/../y.png">"#
        ),
        vec!["/c/g/b/c.js?v=1".to_string(), "/c/y.png".to_string(), "/c/g/a.css".to_string()]
    );
}

// ---- Python: WSGI and ASGI ----------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn flask_api_with_rsconnect() {
    let test = "flask_api_with_rsconnect";
    let Some(d) = rsconnect_deploy(test, "api", &["api", "--entrypoint", "app:app"], "python-api").await else {
        return;
    };
    let (ctype, html) = first_view(test, &d, "").await;
    assert!(ctype.starts_with("text/html"), "{ctype}");
    must_contain("Flask page", &html, "PORCH-FLASK-OK");
    // url_for built the asset link with the prefix.
    must_contain("Flask page", &html, &format!("{}static/style.css", d.root));
    d.check_assets(&d.root, &html).await;
    let (_, css) = d.view("static/style.css").await;
    must_contain("Flask css", &css, "PORCH-FLASK-CSS");

    let (ctype, body) = d.view("api/double?n=21").await;
    assert!(ctype.starts_with("application/json"), "{ctype}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["framework"], "flask");
    assert_eq!(v["doubled"], 42);
    assert_eq!(v["script_root"], d.root.trim_end_matches('/'), "SCRIPT_NAME carries the prefix");
    d.p.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn fastapi_with_rsconnect() {
    let test = "fastapi_with_rsconnect";
    let Some(d) = rsconnect_deploy(test, "fastapi", &["fastapi", "--entrypoint", "app:app"], "python-fastapi").await
    else {
        return;
    };
    let before = expect_forked(test, &d).await;
    fastapi_checks(test, &d).await;
    was_forked(test, &d, before).await;

    // A variable a framework reads at import time: the worker starts plainly.
    let forks = expect_forked(test, &d).await;
    let env = json!([{"name": "STREAMLIT_SERVER_PORT", "value": "1"}]);
    let path = format!("/__api__/v1/content/{}/environment", d.guid);
    let r = d.p.api(Method::PATCH, &path).json(&env).send().await.expect("env");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    restart(&d).await;
    fastapi_checks(test, &d).await;
    let h = helper(&d.p).await;
    assert_eq!(h["forks"].as_u64(), Some(forks), "STREAMLIT_SERVER_PORT set: not forked: {h}");
    let r = d.p.api(Method::PATCH, &path).json(&json!([{"name": "STREAMLIT_SERVER_PORT", "value": null}])).send().await;
    assert_eq!(r.expect("env").status(), 200);

    expect_plain(&d).await;
    fastapi_checks(test, &d).await;
    was_plain(test, &d).await;
    d.p.shutdown();
}

async fn fastapi_checks(test: &str, d: &Deployed) {
    let (ctype, html) = first_view(test, d, "").await;
    assert!(ctype.starts_with("text/html"), "{ctype}");
    must_contain("FastAPI page", &html, "PORCH-FASTAPI-OK");
    d.check_assets(&d.root, &html).await;

    let (_, body) = d.view("api/double?n=21").await;
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["doubled"], 42);
    assert_eq!(v["root_path"], d.root.trim_end_matches('/'));

    let mut ws = d.ws("ws", &[]).await;
    ws.send_text("hello porch");
    let got = ws.recv_until(STEP_TIMEOUT, |m| m.opcode == 1).expect("echo");
    assert_eq!(got.last().expect("msg").text(), "FASTAPI-ECHO:hello porch");
}

/// A worker forked from the helper is Porch's child and dies with it: Porch SIGKILLed, the
/// worker's pid is gone (its parent-death signal), and so is the helper.
#[tokio::test(flavor = "multi_thread")]
async fn a_forked_worker_dies_with_porch() {
    let test = "a_forked_worker_dies_with_porch";
    let Some(d) = rsconnect_deploy(test, "fastapi", &["fastapi", "--entrypoint", "app:app"], "python-fastapi").await
    else {
        return;
    };
    let before = expect_forked(test, &d).await;
    d.view("api/double?n=1").await;
    was_forked(test, &d, before).await;
    let jobs: Vec<Value> =
        d.p.api(Method::GET, &format!("/__api__/v1/content/{}/jobs", d.guid))
            .send()
            .await
            .expect("jobs")
            .json()
            .await
            .expect("json");
    let worker = jobs.first().and_then(|j| j["pid"].as_u64()).expect("a worker") as u32;
    let helper_pid = helper(&d.p).await["pid"].as_u64().expect("helper pid") as u32;
    let parent = std::fs::read_to_string(format!("/proc/{worker}/stat")).expect("worker stat");
    let ppid = parent.rsplit(')').next().and_then(|r| r.split_whitespace().nth(1)).expect("ppid");
    assert_eq!(ppid, d.p.pid().to_string(), "the forked worker is Porch's child");
    let Deployed { p, _work, .. } = d;
    let p = p.crash_and_restart(|_| {}, Default::default()).await;
    let alive = |pid: u32| std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "));
    eventually(STEP_TIMEOUT, "the forked worker and the helper to die with Porch", || async {
        (!alive(worker) && !alive(helper_pid)).then_some(())
    })
    .await;
    p.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn dash_with_rsconnect() {
    let test = "dash_with_rsconnect";
    let Some(d) = rsconnect_deploy(test, "dash", &["dash", "--entrypoint", "app:app"], "python-dash").await else {
        return;
    };
    forked_then_plain(test, &d, dash_checks).await;
    d.p.shutdown();
}

async fn dash_checks(test: &str, d: &Deployed) {
    let (_, html) = first_view(test, d, "").await;
    must_contain("Dash page", &html, "<title>PORCH-DASH-OK</title>");
    // Dash's renderer finds its routes through the prefixed config.
    let config = between(&html, "<script id=\"_dash-config\" type=\"application/json\">", "</script>")
        .unwrap_or_else(|| panic!("no _dash-config in the page:\n{html}"));
    let config: Value = serde_json::from_str(config.trim()).expect("_dash-config json");
    assert_eq!(config["requests_pathname_prefix"], d.root.as_str(), "{config}");
    d.check_assets(&d.root, &html).await;

    let (_, layout) = d.view("_dash-layout").await;
    must_contain("Dash layout", &layout, "PORCH-DASH-LAYOUT");

    // A callback round trip, as the renderer posts it.
    let body = json!({
        "output": "out.children",
        "outputs": {"id": "out", "property": "children"},
        "inputs": [{"id": "inp", "property": "value", "value": "through-porch"}],
        "changedPropIds": ["inp.value"],
    });
    let r =
        d.p.http
            .post(d.p.url(&format!("{}_dash-update-component", d.root)))
            .json(&body)
            .send()
            .await
            .expect("callback");
    let (status, headers) = (r.status().as_u16(), format!("{:?}", r.headers()));
    let text = r.text().await.unwrap_or_default();
    if status != 200 {
        panic!("{}", d.report(&format!("Dash callback POST: expected 200, got {status} {headers}: {text}")).await);
    }
    let v: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(v["response"]["out"]["children"], "DASH-CALLBACK:through-porch", "{v}");
}

// ---- Python: framework servers with WebSockets ---------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn streamlit_with_rsconnect() {
    let test = "streamlit_with_rsconnect";
    let Some(d) =
        rsconnect_deploy(test, "streamlit", &["streamlit", "--entrypoint", "app.py"], "python-streamlit").await
    else {
        return;
    };
    forked_then_plain(test, &d, streamlit_checks).await;
    d.p.shutdown();
}

async fn streamlit_checks(test: &str, d: &Deployed) {
    let (_, html) = first_view(test, d, "").await;
    must_contain("Streamlit page", &html, "<title>Streamlit</title>");
    d.check_assets(&d.root, &html).await;
    let (_, health) = d.view("_stcore/health").await;
    assert_eq!(health.trim(), "ok");

    let mut ws = d.ws("_stcore/stream", &[("Sec-WebSocket-Protocol", "streamlit")]).await;
    assert_eq!(ws.header("sec-websocket-protocol").as_deref(), Some("streamlit"), "{}", ws.head);
    // BackMsg { rerun_script: ClientState {} } (field 11, empty): the server runs the script
    // and streams ForwardMsgs; the title's text arrives inside one of them.
    ws.send(2, &[0x5a, 0x00]);
    match ws.recv_until(STEP_TIMEOUT, |m| String::from_utf8_lossy(&m.data).contains("PORCH-STREAMLIT-OK")) {
        Ok(msgs) => eprintln!("streamlit: the script's output arrived in message {} over the WebSocket", msgs.len()),
        Err(e) => panic!("{}", d.report(&format!("Streamlit rerun over _stcore/stream: {e}")).await),
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn shiny_with_rsconnect() {
    let test = "shiny_with_rsconnect";
    let Some(d) = rsconnect_deploy(test, "shiny", &["shiny", "--entrypoint", "app:app"], "python-shiny").await else {
        return;
    };
    forked_then_plain(test, &d, shiny_checks).await;
    d.p.shutdown();
}

async fn shiny_checks(test: &str, d: &Deployed) {
    let (_, html) = first_view(test, d, "").await;
    must_contain("Shiny page", &html, "PORCH-SHINY-OK");
    d.check_assets(&d.root, &html).await;
    shiny_exchange(d, "SHINY-SERVER-OK:42").await;
}

/// Shiny's protocol (Python and R): `{"config":…}` first, then `init` with the inputs, then
/// the rendered output values.
async fn shiny_exchange(d: &Deployed, want: &str) {
    let mut ws = d.ws("websocket/", &[]).await;
    if let Err(e) = ws.recv_until(STEP_TIMEOUT, |m| m.text().contains("\"config\"")) {
        panic!("{}", d.report(&format!("Shiny sent no config message: {e}")).await);
    }
    ws.send_text(r#"{"method":"init","data":{"n:shiny.number":21,".clientdata_output_txt_hidden":false}}"#);
    if let Err(e) = ws.recv_until(STEP_TIMEOUT, |m| m.text().contains(want)) {
        panic!("{}", d.report(&format!("Shiny did not send {want:?} after init: {e}")).await);
    }
}

/// Bokeh's protocol (Bokeh and Panel): the session token from the app page, the `ws` route
/// with subprotocols `bokeh, <token>`, the server's ACK, then PULL-DOC-REQ → PULL-DOC-REPLY
/// carrying the document.
async fn bokeh_exchange(d: &Deployed, app_path: &str, html: &str, want: &str) {
    let Some(token) = between(html, "\"token\":\"", "\"").or_else(|| between(html, "\"token\": \"", "\"")) else {
        panic!(
            "{}",
            d.report(&format!("no session token in the page:\n{}", html.chars().take(3000).collect::<String>())).await
        )
    };
    let protocols = format!("bokeh, {token}");
    let mut ws = d.ws(&format!("{app_path}/ws"), &[("Sec-WebSocket-Protocol", &protocols)]).await;
    assert_eq!(ws.header("sec-websocket-protocol").as_deref(), Some("bokeh"), "{}", ws.head);
    match ws.recv_until(STEP_TIMEOUT, |m| {
        m.text().contains("\"msgtype\":\"ACK\"") || m.text().contains("\"msgtype\": \"ACK\"")
    }) {
        Ok(_) => {}
        Err(e) => panic!("{}", d.report(&format!("no ACK on {app_path}/ws: {e}")).await),
    }
    // The ACK's metadata and content frames.
    for _ in 0..2 {
        ws.recv().expect("ACK frames");
    }
    ws.send_text(r#"{"msgid":"porch-1","msgtype":"PULL-DOC-REQ"}"#);
    ws.send_text("{}");
    ws.send_text("{}");
    if let Err(e) = ws.recv_until(STEP_TIMEOUT, |m| m.text().contains(want)) {
        panic!("{}", d.report(&format!("PULL-DOC-REPLY without {want:?}: {e}")).await);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn bokeh_with_rsconnect() {
    let test = "bokeh_with_rsconnect";
    let Some(d) = rsconnect_deploy(test, "bokeh", &["bokeh", "--entrypoint", "app.py"], "python-bokeh").await else {
        return;
    };
    // The root redirects to the only app, keeping the prefix.
    let t0 = Instant::now();
    let r = eventually(START_TIMEOUT, "bokeh to answer", || async {
        let r = d.p.get(&d.root).await;
        (!is_starting(&r)).then_some(r)
    })
    .await;
    if r.status().as_u16() >= 500 {
        panic!(
            "{}",
            d.report(&format!("GET {}: {} {:?}", d.root, r.status(), r.headers().get("x-porch-proxy-error"))).await
        );
    }
    eprintln!("TIMING {test}: first view of {} took {:.1}s", d.root, t0.elapsed().as_secs_f64());
    assert!(r.status().is_redirection(), "expected a redirect to the app, got {}", r.status());
    let loc = r.headers()["location"].to_str().expect("location").to_string();
    let app_path = format!("{}app", d.root);
    assert!(loc == app_path || loc == "app" || loc == "./app", "redirect to {loc}");
    let (_, html) = d.view("app").await;
    must_contain("Bokeh page", &html, "<title>PORCH-BOKEH-TITLE</title>");
    d.check_assets(&app_path, &html).await;
    bokeh_exchange(&d, "app", &html, "PORCH-BOKEH-OK").await;
    d.p.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn panel_with_rsconnect() {
    let test = "panel_with_rsconnect";
    let Some(d) = rsconnect_deploy(test, "panel", &["panel", "--entrypoint", "app.py"], "python-panel").await else {
        return;
    };
    let (_, html) = first_view(test, &d, "app").await;
    must_contain("Panel page", &html, "PORCH-PANEL-TITLE");
    d.check_assets(&format!("{}app", d.root), &html).await;
    bokeh_exchange(&d, "app", &html, "PORCH-PANEL-OK").await;
    d.p.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn voila_with_rsconnect() {
    let test = "voila_with_rsconnect";
    let Some(d) = rsconnect_deploy(test, "voila", &["voila"], "jupyter-voila").await else { return };
    let (_, html) = first_view(test, &d, "").await;
    // The notebook ran: its output is in the page.
    must_contain("Voilà page", &html, "PORCH-VOILA-OK:42");
    d.check_assets(&d.root, &html).await;
    let kernel = between(&html, "kernelId\": \"", "\"")
        .or_else(|| between(&html, "kernelId\":\"", "\""))
        .or_else(|| between(&html, "kernel_id\": \"", "\""))
        .or_else(|| between(&html, "kernelId = '", "'"))
        .map(str::to_string);
    let Some(kernel) = kernel else { panic!("{}", d.report(&format!("no kernel id in the page:\n{html}")).await) };
    let mut ws = d.ws(&format!("api/kernels/{kernel}/channels?session_id=porch-test-session"), &[]).await;
    let request = json!({
        "header": {"msg_id": "porch-kernel-info", "username": "porch", "session": "porch-test-session",
                   "msg_type": "kernel_info_request", "version": "5.3", "date": "2026-01-01T00:00:00Z"},
        "parent_header": {}, "metadata": {}, "content": {}, "channel": "shell", "buffers": [],
    });
    ws.send_text(&request.to_string());
    match ws.recv_until(STEP_TIMEOUT, |m| m.text().contains("kernel_info_reply")) {
        Ok(msgs) => must_contain("kernel_info_reply", &msgs.last().expect("msg").text(), "\"status\": \"ok\""),
        Err(e) => panic!("{}", d.report(&format!("no kernel_info_reply over the kernel channels: {e}")).await),
    }
    d.p.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn gradio_with_rsconnect() {
    let test = "gradio_with_rsconnect";
    let Some(d) = rsconnect_deploy(test, "gradio", &["gradio", "--entrypoint", "app:demo"], "python-gradio").await
    else {
        return;
    };
    let (_, html) = first_view(test, &d, "").await;
    must_contain("Gradio page", &html, "PORCH-GRADIO-OK");
    d.check_assets(&d.root, &html).await;

    let (_, config) = d.view("config").await;
    let config: Value = serde_json::from_str(&config).expect("config json");
    must_contain("Gradio config", &config.to_string(), "PORCH-GRADIO-OK");
    let root = config["root"].as_str().unwrap_or_default().to_string();
    assert_eq!(root.trim_end_matches('/'), d.p.url(d.root.trim_end_matches('/')), "Gradio's root URL: {root}");
    let api_prefix = config["api_prefix"].as_str().unwrap_or("/gradio_api").trim_matches('/').to_string();
    let dep = config["dependencies"]
        .as_array()
        .and_then(|deps| deps.iter().find(|dep| dep["api_name"] == "greet" || dep["api_name"] == "predict"))
        .cloned()
        .unwrap_or_else(|| panic!("no `greet` (or older `predict`) dependency in {config}"));
    let fn_index = dep["id"].as_u64().expect("dependency id");

    // The queue: join, then read the SSE stream until the result.
    let session = "porchsession1";
    let join = json!({"data": ["porch"], "event_data": null, "fn_index": fn_index, "trigger_id": null, "session_hash": session});
    let r =
        d.p.http.post(d.p.url(&format!("{}{api_prefix}/queue/join", d.root))).json(&join).send().await.expect("join");
    let (status, headers) = (r.status().as_u16(), format!("{:?}", r.headers()));
    let body = r.text().await.unwrap_or_default();
    if status != 200 {
        panic!("{}", d.report(&format!("Gradio queue/join: expected 200, got {status} {headers}: {body}")).await);
    }
    let url = d.p.url(&format!("{}{api_prefix}/queue/data?session_hash={session}", d.root));
    let sse = tokio::time::timeout(Duration::from_secs(STEP_TIMEOUT), async {
        use futures_util::StreamExt;
        let r = d.p.http.get(&url).header("Accept", "text/event-stream").send().await.expect("queue/data");
        assert_eq!(r.status(), 200, "queue/data");
        let mut stream = r.bytes_stream();
        let mut seen = String::new();
        while let Some(chunk) = stream.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
            if seen.contains("process_completed") {
                break;
            }
        }
        seen
    })
    .await;
    match sse {
        Ok(seen) => must_contain("Gradio SSE", &seen, "GRADIO-OK:porch"),
        Err(_) => panic!("{}", d.report("Gradio queue/data did not complete").await),
    }
    d.p.shutdown();
}

// ---- R --------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn r_shiny_with_porch_deploy() {
    let test = "r_shiny_with_porch_deploy";
    if r_or_skip(test, &["shiny"]).is_none() {
        return;
    }
    let d = porch_deploy(test, "r-shiny", "shiny").await;
    let (_, html) = first_view(test, &d, "").await;
    must_contain("R Shiny page", &html, "PORCH-RSHINY-OK");
    d.check_assets(&d.root, &html).await;
    shiny_exchange(&d, "RSHINY-SERVER-OK:42").await;
    d.p.shutdown();
}

/// Shiny fills `session$user` from the WebSocket request's `Shiny-Server-Credentials`; a viewer
/// who sends one must still be nobody, since Porch has no viewer accounts.
#[tokio::test(flavor = "multi_thread")]
async fn r_shiny_session_user_stays_null_when_a_viewer_forges_credentials() {
    let test = "r_shiny_session_user_stays_null_when_a_viewer_forges_credentials";
    if r_or_skip(test, &["shiny"]).is_none() {
        return;
    }
    let d = porch_deploy(test, "r-shiny-user", "shiny").await;
    let (_, html) = first_view(test, &d, "").await;
    must_contain("R Shiny page", &html, "PORCH-RSHINY-USER-OK");
    let forged = r#"{"user":"mallory","groups":["admins"]}"#;
    let mut ws = d.ws("websocket/", &[("Shiny-Server-Credentials", forged), ("Remote-User", "mallory")]).await;
    if let Err(e) = ws.recv_until(STEP_TIMEOUT, |m| m.text().contains("\"config\"")) {
        panic!("{}", d.report(&format!("Shiny sent no config message: {e}")).await);
    }
    ws.send_text(r#"{"method":"init","data":{".clientdata_output_who_hidden":false}}"#);
    let shown = match ws.recv_until(STEP_TIMEOUT, |m| m.text().contains("SESSION-USER:")) {
        Ok(seen) => seen.last().map(|m| m.text()).unwrap_or_default(),
        Err(e) => panic!("{}", d.report(&format!("Shiny did not render the session's user: {e}")).await),
    };
    assert!(shown.contains("SESSION-USER:NULL;GROUPS:NULL;END"), "the forged identity reached Shiny: {shown}");
    assert!(!shown.contains("mallory") && !shown.contains("admins"), "{shown}");
    d.p.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn r_plumber_with_porch_deploy() {
    let test = "r_plumber_with_porch_deploy";
    if r_or_skip(test, &["plumber"]).is_none() {
        return;
    }
    let d = porch_deploy(test, "r-plumber", "api").await;
    let (_, hello) = first_view(test, &d, "hello").await;
    must_contain("Plumber text route", &hello, "PORCH-PLUMBER-OK");
    // R's httpuv loses a request target that arrives split across reads (it keeps the last
    // piece): a viewer whose request is split right after the path must still reach the
    // route, because the proxy sends the app each request head in one write.
    let split = split_after_target(&d.p, &format!("{}hello", d.root)).await;
    assert!(split.starts_with("HTTP/1.1 200"), "a request split after its path: {split:.1500}");
    must_contain("Plumber text route, request split after its path", &split, "PORCH-PLUMBER-OK");
    let (ctype, body) = d.view("double?n=21").await;
    assert!(ctype.starts_with("application/json"), "{ctype}");
    let v: Value = serde_json::from_str(&body).expect("json");
    assert_eq!(v["doubled"], json!([42]), "{v}");
    assert_eq!(v["framework"], json!(["plumber"]), "{v}");
    // The generated OpenAPI document describes the routes.
    let (_, spec) = d.view("openapi.json").await;
    must_contain("Plumber OpenAPI", &spec, "/double");
    d.p.shutdown();
}

/// Sends `GET path` to Porch in two writes, split right after the request target, with a
/// pause between them so that the server reads them separately; returns the raw answer.
async fn split_after_target(p: &Porch, path: &str) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let addr = p.base.trim_start_matches("http://");
    let mut s = tokio::net::TcpStream::connect(addr).await.expect("connect");
    s.set_nodelay(true).expect("nodelay");
    s.write_all(format!("GET {path}").as_bytes()).await.expect("write the request line's start");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let rest = format!(" HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n");
    s.write_all(rest.as_bytes()).await.expect("write the rest");
    let mut buf = Vec::new();
    tokio::time::timeout(Duration::from_secs(60), s.read_to_end(&mut buf))
        .await
        .expect("answer in time")
        .expect("read");
    String::from_utf8_lossy(&buf).into_owned()
}

/// The number a render of the notebook fixture printed (it changes every run).
fn render_marker(html: &str) -> String {
    // The source cell mentions the marker too; the printed output comes after it.
    let found = html.match_indices("PORCH-RENDER ").find_map(|(at, m)| {
        let digits: String = html[at + m.len()..].chars().take_while(char::is_ascii_digit).collect();
        (!digits.is_empty()).then_some(digits)
    });
    found.unwrap_or_else(|| panic!("no printed marker in {}", &html[..html.len().min(2000)]))
}

#[tokio::test]
async fn notebook_renders_on_deploy_and_on_demand() {
    let test = "notebook_renders_on_deploy_and_on_demand";
    let Some(d) = rsconnect_deploy(test, "notebook", &["notebook"], "jupyter-static").await else { return };
    let p = &d.p;
    // Deploying rendered it once.
    let first = p.get(&d.root).await;
    assert_eq!(first.status(), 200);
    let first_html = first.text().await.expect("html");
    let n1 = render_marker(&first_html);
    assert!(first_html.contains("REPORT-NAME Porch notebook fixture"), "RSC_REPORT_NAME reaches the render");
    // Render now through the API: a new output, served at once.
    let r = p.api(Method::POST, &format!("/__api__/v1/content/{}/render", d.guid)).send().await.expect("render");
    assert_eq!(r.status(), 202);
    let task = r.json::<Value>().await.expect("json")["task_id"].as_str().expect("task").to_string();
    assert_eq!(p.wait_task(&task).await["code"], 0);
    let n2 = render_marker(&p.get(&d.root).await.text().await.expect("html"));
    assert_ne!(n1, n2, "a new render has new output");
    // And with the CLI.
    let c: Value = p
        .api(Method::GET, &format!("/__api__/v1/content/{}", d.guid))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let out = p.cli(&["render", c["name"].as_str().expect("name")]);
    assert!(out.status.success(), "porch render failed: {}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Rendered"));
    let history: Vec<Value> = p
        .api(Method::GET, &format!("/__api__/v1/content/{}/renders", d.guid))
        .send()
        .await
        .expect("renders")
        .json()
        .await
        .expect("json");
    assert_eq!(history.len(), 3, "deploy, manual (API) and manual (CLI): {history:?}");
    assert!(history.iter().all(|r| r["status"] == "success"));
    assert_eq!(history[2]["trigger"], "deploy");
    assert_eq!(history[0]["current"], true);
    // Earlier renders stay at stable URLs.
    let oldest = history[2]["id"].as_str().expect("id");
    let old = p.get(&format!("{}_render{oldest}/", d.root)).await.text().await.expect("html");
    assert_eq!(render_marker(&old), n1);
    let log = p
        .api(Method::GET, &format!("/__api__/v1/content/{}/renders/{oldest}/log", d.guid))
        .send()
        .await
        .expect("log")
        .text()
        .await
        .expect("text");
    assert!(log.to_lowercase().contains("notebook"), "{log}");
}

#[tokio::test]
async fn a_failed_render_keeps_the_previous_output() {
    let p = Porch::start().await;
    let work = tempfile::tempdir().expect("tmp");
    let dir = work.path().join("report");
    copy_tree(&fixture("frameworks/notebook"), &dir);
    let mut cmd = Command::new(common::porch_bin());
    cmd.arg("deploy").arg(&dir).args(["--name", "failing-report", "--data-dir"]).arg(p.data_dir());
    let out = run_with_timeout(&mut cmd, DEPLOY_TIMEOUT);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let list: Vec<Value> = serde_json::from_slice(&p.cli(&["list", "--json"]).stdout).expect("json");
    let guid = list[0]["guid"].as_str().expect("guid").to_string();
    let before = p.get(&format!("/content/{guid}/")).await.bytes().await.expect("body");
    // The next version raises: its deploy fails, and viewers keep the old page byte for byte.
    std::fs::write(dir.join("FAIL"), "x").expect("marker");
    let mut cmd = Command::new(common::porch_bin());
    cmd.arg("deploy").arg(&dir).args(["--name", "failing-report", "--data-dir"]).arg(p.data_dir());
    let out = run_with_timeout(&mut cmd, DEPLOY_TIMEOUT);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("render failed"), "{}", String::from_utf8_lossy(&out.stderr));
    let after = p.get(&format!("/content/{guid}/")).await.bytes().await.expect("body");
    assert_eq!(before, after);
    let history: Vec<Value> = p
        .api(Method::GET, &format!("/__api__/v1/content/{guid}/renders"))
        .send()
        .await
        .expect("renders")
        .json()
        .await
        .expect("json");
    assert_eq!(history[0]["status"], "failed");
    assert_eq!(history[1]["current"], true);
    let failed = history[0]["id"].as_str().expect("id");
    let log = p
        .api(Method::GET, &format!("/__api__/v1/content/{guid}/renders/{failed}/log"))
        .send()
        .await
        .expect("log")
        .text()
        .await
        .expect("text");
    assert!(log.contains("ZeroDivisionError"), "the full log is kept: {log}");
    // A failed render is not served at its own URL.
    assert_eq!(p.get(&format!("/content/{guid}/_render{failed}/")).await.status(), 404);
}

#[tokio::test]
async fn r_markdown_renders_where_r_is_installed() {
    let test = "r_markdown_renders_where_r_is_installed";
    let has_rmarkdown = Command::new("Rscript")
        .args(["-e", "library(rmarkdown)"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !has_rmarkdown {
        common::skip_or_fail(test, "R with the rmarkdown package (r-cran-rmarkdown, pandoc) is not installed");
        return;
    }
    let d = porch_deploy(test, "rmd", "rmd-static").await;
    let html = d.p.get(&d.root).await.text().await.expect("html");
    assert!(html.contains("PORCH-RMD"), "{}", &html[..html.len().min(1500)]);
    assert!(html.contains("Porch R Markdown fixture"));

    // An output format that is not HTML (a Word file) fails the redeploy with what to use;
    // the HTML stays what viewers see.
    let work = tempfile::tempdir().expect("tmp");
    let source = std::fs::read_to_string(fixture("frameworks/rmd/report.Rmd")).expect("read");
    std::fs::write(work.path().join("report.Rmd"), source.replace("html_document", "word_document")).expect("write");
    let mut cmd = Command::new(common::porch_bin());
    cmd.arg("deploy").arg(work.path()).args(["--name", "rmd", "--data-dir"]).arg(d.p.data_dir());
    let out = run_with_timeout(&mut cmd, DEPLOY_TIMEOUT);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("not a web page") && err.contains("html_document"), "{err}");
    let r = d.p.get(&d.root).await;
    assert!(r.headers()["content-type"].to_str().expect("type").starts_with("text/html"));
    assert!(r.text().await.expect("html").contains("PORCH-RMD"), "the HTML render is still served");
}

#[tokio::test]
async fn quarto_renders_where_quarto_exists_and_says_what_to_install_elsewhere() {
    let p = Porch::start().await;
    let work = tempfile::tempdir().expect("tmp");
    let dir = work.path().join("quarto");
    copy_tree(&fixture("frameworks/quarto"), &dir);
    let mut cmd = Command::new(common::porch_bin());
    cmd.arg("deploy").arg(&dir).args(["--name", "quarto-report", "--data-dir"]).arg(p.data_dir());
    let out = run_with_timeout(&mut cmd, DEPLOY_TIMEOUT);
    let has_quarto = Command::new("quarto").arg("--version").output().map(|o| o.status.success()).unwrap_or(false);
    if has_quarto {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        let list: Vec<Value> = serde_json::from_slice(&p.cli(&["list", "--json"]).stdout).expect("json");
        let html =
            p.get(&format!("/content/{}/", list[0]["guid"].as_str().expect("guid"))).await.text().await.expect("html");
        assert!(html.contains("PORCH-QUARTO"));
    } else {
        assert!(!out.status.success());
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains("Quarto is not installed"), "{err}");
        let list: Vec<Value> = serde_json::from_slice(&p.cli(&["list", "--json"]).stdout).expect("json");
        assert!(list.is_empty(), "a failed first deploy leaves nothing behind: {list:?}");
        // Half of what the name says ran; the rendering half could not.
        skip_or_fail(
            "quarto_renders_where_quarto_exists_and_says_what_to_install_elsewhere",
            "quarto is not on PATH: checked only that Porch names what to install",
        );
    }
}
