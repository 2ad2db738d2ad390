//! Runtime failures are failures of the operation, never bad requests (watchexec's split).
//!
//! A deploy whose installer cannot install what the requirements name, a render whose
//! notebook raises and an app that exits as it starts each reach HTTP as Porch's `Failed`
//! code with the tool's or the app's own output: in the task a client polls (`porch_code`)
//! or as a 5xx page. An environment that cannot be made as declared (a requirements file
//! reaching outside the bundle) stays the bundle's problem, `InvalidManifest`. Real server,
//! real uv, real Jupyter and a real Python child; skipped without uv (failing under CI).

mod common;

use common::{eventually, fixture, have_uv, targz, Porch};
use reqwest::Method;
use serde_json::{json, Value};

fn skip(test: &str) -> bool {
    if have_uv() {
        return false;
    }
    common::skip_or_fail(test, "uv is not installed");
    true
}

/// Creates an item, uploads `files` as its bundle and deploys it; returns the guid and the
/// finished task.
async fn deploy_files(p: &Porch, name: &str, files: &[(&str, &[u8])]) -> (String, Value) {
    let guid = p.create(name).await;
    let bundle = upload_files(p, &guid, files).await;
    let task = p.deploy(&guid, &bundle).await;
    (guid, task)
}

/// Uploads `files` as a new bundle of an item; returns the bundle's id.
async fn upload_files(p: &Porch, guid: &str, files: &[(&str, &[u8])]) -> String {
    let r = p.upload(guid, targz(files)).await;
    assert_eq!(r.status(), 200, "upload");
    r.json::<Value>().await.expect("json")["id"].as_str().expect("bundle id").to_string()
}

const FASTAPI_APP: &[u8] =
    b"from fastapi import FastAPI\n\napp = FastAPI()\n\n\n@app.get(\"/\")\ndef root():\n    return {\"ok\": True}\n";

#[tokio::test]
async fn an_installer_that_fails_is_a_runtime_failure_of_the_deploy() {
    let test = "an_installer_that_fails_is_a_runtime_failure_of_the_deploy";
    if skip(test) {
        return;
    }
    let p = Porch::start().await;
    let missing = b"fastapi>=0.100\nporch-no-such-package-zz9==1.0\n";
    let (guid, t) =
        deploy_files(&p, "no-such-package", &[("app.py", FASTAPI_APP), ("requirements.txt", missing)]).await;
    assert_eq!(t["code"], 1, "{t}");
    assert_eq!(t["porch_code"], "Failed", "uv ran and failed: a runtime failure, not a bad bundle: {t}");
    let err = t["error"].as_str().expect("error");
    assert!(err.contains("porch-no-such-package-zz9"), "the message carries uv's own output: {err}");
    // The same task read again (the long-poll path with `first`) says the same.
    let id = t["id"].as_str().expect("id");
    let again = p.get_json(&format!("/__api__/v1/tasks/{id}?first=0")).await;
    assert_eq!(again["porch_code"], "Failed", "{again}");
    let c = p.get_json(&format!("/__api__/v1/content/{guid}")).await;
    assert!(c["bundle_id"].is_null(), "nothing was activated: {c}");

    // An environment unusable as declared is still the bundle's problem.
    let escaping = b"-r ../../outside.txt\n";
    let (_, t) =
        deploy_files(&p, "escaping-requirements", &[("app.py", FASTAPI_APP), ("requirements.txt", escaping)]).await;
    assert_eq!(t["code"], 1, "{t}");
    assert_eq!(t["porch_code"], "InvalidManifest", "{t}");

    // A good deploy's task carries no code.
    let ok = b"fastapi>=0.100\n";
    let (_, t) = deploy_files(&p, "good-app", &[("app.py", FASTAPI_APP), ("requirements.txt", ok)]).await;
    assert_eq!(t["code"], 0, "{t}");
    assert!(t["porch_code"].is_null(), "{t}");
    p.shutdown();
}

#[tokio::test]
async fn an_app_that_exits_at_start_answers_5xx_with_its_log() {
    let test = "an_app_that_exits_at_start_answers_5xx_with_its_log";
    if skip(test) {
        return;
    }
    let p = Porch::start().await;
    let requirements: &[u8] = b"fastapi>=0.100\n";
    // A first deploy starts the app once to check it: one that exits at start fails the
    // deploy with its last lines, and nothing is served.
    let crashing = b"import sys\n\nprint('PORCH-BROKEN-AT-START', file=sys.stderr, flush=True)\nraise SystemExit(3)\n\nfrom fastapi import FastAPI\n\napp = FastAPI()\n";
    let (guid, t) = deploy_files(&p, "broken-first", &[("app.py", crashing), ("requirements.txt", requirements)]).await;
    assert_eq!(t["code"], 1, "a first deploy that does not start fails: {t}");
    let err = t["error"].as_str().unwrap_or_default();
    assert!(err.contains("PORCH-BROKEN-AT-START") && err.contains("nothing is served until a version starts"), "{t}");
    let c = p.get_json(&format!("/__api__/v1/content/{guid}")).await;
    assert!(c["bundle_id"].is_null(), "nothing was activated: {c}");
    assert!(p.get_json(&format!("/__api__/v1/content/{guid}/jobs")).await.as_array().is_some_and(Vec::is_empty));

    // An app that passed its check and exits at start later (here: told so by a variable,
    // which restarts it) answers its viewers 5xx.
    let flaky = b"import os, sys\n\nif os.environ.get('BREAK_AT_START'):\n    print('PORCH-BROKEN-AT-START', file=sys.stderr, flush=True)\n    raise SystemExit(3)\n\nfrom fastapi import FastAPI\n\napp = FastAPI()\n";
    let (guid, t) = deploy_files(&p, "exits-at-start", &[("app.py", flaky), ("requirements.txt", requirements)]).await;
    assert_eq!(t["code"], 0, "it started: {t}");
    assert!(
        p.get_json(&format!("/__api__/v1/content/{guid}/jobs")).await.as_array().is_some_and(Vec::is_empty),
        "the check's worker stopped: an app starts when a viewer arrives"
    );
    let vars = p
        .api(Method::PATCH, &format!("/__api__/v1/content/{guid}/environment"))
        .json(&json!([{"name": "BREAK_AT_START", "value": "1"}]));
    assert_eq!(vars.send().await.expect("patch").status(), 200);
    let r = p.get(&format!("/content/{guid}/")).await;
    assert_eq!(r.status(), 502, "a start failure is the app's failure, not the viewer's request");
    assert_eq!(
        r.headers().get("x-porch-proxy-error").and_then(|v| v.to_str().ok()),
        Some("start-failed"),
        "{:?}",
        r.headers()
    );
    let page = r.text().await.expect("page");
    assert!(page.contains("PORCH-BROKEN-AT-START"), "the page shows the publisher the app's log: {page}");

    // Anyone else is told the app could not start, without its lines (a traceback may quote
    // a secret). A Host that does not name this computer is not vouched for as it, as with a
    // browser on another one; the key still shows the publisher the lines from there.
    let path = format!("/content/{guid}/");
    let other = p.http.get(p.url(&path)).header("Host", "viewer.example").send().await.expect("get");
    assert_eq!(other.status(), 502);
    assert_eq!(other.headers().get("x-porch-proxy-error").and_then(|v| v.to_str().ok()), Some("start-failed"));
    let page = other.text().await.expect("page");
    assert!(page.contains("could not start"), "{page}");
    assert!(!page.contains("PORCH-BROKEN-AT-START"), "a viewer is not shown the app's log: {page}");
    let keyed = p.api(Method::GET, &path).header("Host", "viewer.example").send().await.expect("get");
    assert_eq!(keyed.status(), 502);
    let page = keyed.text().await.expect("page");
    assert!(page.contains("PORCH-BROKEN-AT-START"), "the key shows the publisher the app's log: {page}");

    // Kept running by `min_processes`, it is started again after a back-off, not in a loop;
    // the item's log (where the page sends the publisher) says what happened.
    let r = p.api(Method::PATCH, &format!("/__api__/v1/content/{guid}")).json(&json!({"min_processes": 1}));
    assert_eq!(r.send().await.expect("patch").status(), 200);
    tokio::time::sleep(std::time::Duration::from_secs(8)).await;
    let log = p.api(Method::GET, &format!("/__api__/v1/content/{guid}/log")).send().await.expect("log");
    let log = log.text().await.expect("text");
    let starts = log.matches("PORCH-BROKEN-AT-START").count();
    // Three starts, then back-offs of 2 s and 4 s: at most six in 8 s (a loop made hundreds).
    assert!((3..=6).contains(&starts), "{starts} starts in 8 s:\n{log}");
    assert!(log.contains("exited unexpectedly (exit status: 3)"), "each exit is logged:\n{log}");
    assert!(log.contains("Porch starts it again in 2 s"), "the back-off is logged:\n{log}");
    p.shutdown();
}

/// A redeploy whose app will not start fails before viewers see it: the new version is
/// started next to the served one, and when it exits the task fails with its last lines and
/// the served version stays. Both ways rsconnect deploys: at once, and as a draft
/// (`activate: false`) activated by a second deploy after its check of `_bundle{N}`.
#[tokio::test]
async fn a_redeploy_that_will_not_start_keeps_the_served_version() {
    let test = "a_redeploy_that_will_not_start_keeps_the_served_version";
    if skip(test) {
        return;
    }
    let p = Porch::start().await;
    let requirements: &[u8] = b"fastapi>=0.100\n";
    let (guid, t) =
        deploy_files(&p, "redeploy-gate", &[("app.py", FASTAPI_APP), ("requirements.txt", requirements)]).await;
    assert_eq!(t["code"], 0, "{t}");
    let served = p.get_json(&format!("/__api__/v1/content/{guid}")).await["bundle_id"].clone();
    let good = p.get(&format!("/content/{guid}/")).await;
    assert_eq!(good.status(), 200);
    assert_eq!(good.json::<Value>().await.expect("json"), json!({"ok": true}));

    let broken: &[u8] =
        b"import sys\nprint('PORCH-REDEPLOY-BROKEN', file=sys.stderr, flush=True)\nimport porch_no_such_module_zz9\nfrom fastapi import FastAPI\n\napp = FastAPI()\n";
    // Deployed at once.
    let b = upload_files(&p, &guid, &[("app.py", broken), ("requirements.txt", requirements)]).await;
    let t = p.deploy(&guid, &b).await;
    assert_eq!(t["code"], 1, "{t}");
    assert_eq!(t["porch_code"], "Failed", "{t}");
    let err = t["error"].as_str().expect("error");
    assert!(err.contains("did not start") && err.contains("keeps serving"), "{err}");
    assert!(err.contains("PORCH-REDEPLOY-BROKEN"), "the message carries the app's own output: {err}");
    assert_eq!(p.get_json(&format!("/__api__/v1/content/{guid}")).await["bundle_id"], served);
    let still = p.get(&format!("/content/{guid}/")).await;
    assert_eq!(still.status(), 200, "the served version still answers");
    assert_eq!(still.json::<Value>().await.expect("json"), json!({"ok": true}));

    // As a draft, then activated: the activation fails the same way.
    let b = upload_files(&p, &guid, &[("app.py", broken), ("requirements.txt", requirements)]).await;
    let r = p
        .api(Method::POST, &format!("/__api__/v1/content/{guid}/deploy"))
        .json(&json!({"bundle_id": b, "activate": false}))
        .send()
        .await
        .expect("draft deploy");
    let draft = p.wait_task(r.json::<Value>().await.expect("json")["task_id"].as_str().expect("task")).await;
    assert_eq!(draft["code"], 0, "a draft is not started: {draft}");
    let t = p.deploy(&guid, &b).await;
    assert_eq!(t["code"], 1, "{t}");
    assert_eq!(p.get_json(&format!("/__api__/v1/content/{guid}")).await["bundle_id"], served);
    assert_eq!(p.get(&format!("/content/{guid}/")).await.status(), 200);

    // A good redeploy still switches.
    let fixed: &[u8] =
        b"from fastapi import FastAPI\n\napp = FastAPI()\n\n\n@app.get(\"/\")\ndef root():\n    return {\"ok\": 2}\n";
    let b = upload_files(&p, &guid, &[("app.py", fixed), ("requirements.txt", requirements)]).await;
    let t = p.deploy(&guid, &b).await;
    assert_eq!(t["code"], 0, "{t}");
    assert_eq!(p.get(&format!("/content/{guid}/")).await.json::<Value>().await.expect("json"), json!({"ok": 2}));
    p.shutdown();
}

#[tokio::test]
async fn a_render_that_fails_is_a_runtime_failure() {
    let test = "a_render_that_fails_is_a_runtime_failure";
    if skip(test) {
        return;
    }
    let p = Porch::start().await;
    let nb = std::fs::read(fixture("frameworks/notebook/report.ipynb")).expect("notebook");
    let req = std::fs::read(fixture("frameworks/notebook/requirements.txt")).expect("requirements");
    let (guid, t) = deploy_files(&p, "failing-render", &[("report.ipynb", &nb), ("requirements.txt", &req)]).await;
    assert_eq!(t["code"], 0, "the first render succeeds: {t}");

    // The notebook raises (ZeroDivisionError) when PORCH_FIXTURE_FAIL is set.
    let r = p
        .api(Method::PATCH, &format!("/__api__/v1/content/{guid}/environment"))
        .json(&json!([{"name": "PORCH_FIXTURE_FAIL", "value": "1"}]))
        .send()
        .await
        .expect("env");
    assert!(r.status().is_success(), "{}", r.status());
    let r = p.api(Method::POST, &format!("/__api__/v1/content/{guid}/render")).send().await.expect("render");
    assert_eq!(r.status(), 202, "the request itself is fine");
    let v: Value = r.json().await.expect("json");
    let t = p.wait_task(v["task_id"].as_str().expect("task_id")).await;
    assert_eq!(t["code"], 1, "{t}");
    assert_eq!(t["porch_code"], "Failed", "a failed render is a runtime failure: {t}");
    let err = t["error"].as_str().expect("error");
    assert!(err.contains("ZeroDivisionError"), "the message carries the render's last lines: {err}");
    let list: Vec<Value> = eventually(30, "the failed render in the history", || async {
        let list: Vec<Value> =
            p.api(Method::GET, &format!("/__api__/v1/content/{guid}/renders")).send().await.ok()?.json().await.ok()?;
        (list.first()?["status"] == "failed").then_some(list)
    })
    .await;
    assert_eq!(list[0]["trigger"], "manual", "{list:?}");
    p.shutdown();
}

/// An app whose framework its requirements do not list (a Streamlit script alone) fails its
/// first deploy saying what to add, not with a missing file under the data folder.
#[tokio::test]
async fn an_app_without_its_framework_in_the_requirements_says_what_to_add() {
    let test = "an_app_without_its_framework_in_the_requirements_says_what_to_add";
    if skip(test) {
        return;
    }
    let p = Porch::start().await;
    let (guid, t) =
        deploy_files(&p, "no-streamlit", &[("app.py", b"import streamlit as st\n\nst.write('hi')\n")]).await;
    assert_eq!(t["code"], 1, "{t}");
    let err = t["error"].as_str().unwrap_or_default();
    assert!(err.contains("streamlit is not installed in the app's environment; list it in requirements.txt"), "{t}");
    let c = p.get_json(&format!("/__api__/v1/content/{guid}")).await;
    assert_eq!(c["app_mode"], "unknown", "nothing was activated: {c}");
    p.shutdown();
}
