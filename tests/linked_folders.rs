//! Linked folders end to end: real folders on disk, edited like an editor would, followed
//! by the real `porch serve` (inotify through notify) and redeployed through the same
//! deploy op as everything else; results checked as a viewer sees them.
//!
//! The static-site tests need nothing but Porch. The FastAPI, Streamlit and notebook tests
//! build their environments with uv from PyPI; without uv they skip visibly (and fail under
//! CI=true). No test asserts a time: waits are bounded polls, and "exactly one redeploy"
//! is shown by counting bundles after a later, separate edit.

mod common;

use std::path::Path;
use std::sync::{Arc, Mutex};

use common::{eventually, have_uv, targz, Porch, Ws};
use reqwest::Method;
use serde_json::{json, Value};

/// Seconds a static redeploy may take on a loaded machine.
const STATIC_SECS: u64 = 90;
/// Seconds an app or notebook redeploy may take (the first one builds its environment).
const APP_SECS: u64 = 900;

fn skip_without_uv(test: &str) -> bool {
    if have_uv() {
        return false;
    }
    common::skip_or_fail(test, "uv is not installed");
    true
}

/// A fresh folder holding `files`.
fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
    let d = tempfile::Builder::new().prefix("porch-linked").tempdir().expect("tmp");
    for (name, text) in files {
        write(d.path(), name, text);
    }
    d
}

fn write(dir: &Path, name: &str, text: &str) {
    let p = dir.join(name);
    if let Some(parent) = p.parent() {
        std::fs::create_dir_all(parent).expect("mkdir");
    }
    std::fs::write(p, text).expect("write");
}

fn canonical(dir: &Path) -> String {
    dir.canonicalize().expect("canonical").to_string_lossy().into_owned()
}

/// `porch deploy DIR --name NAME --watch`; returns the item's guid.
fn deploy_watch(p: &Porch, dir: &Path, name: &str) -> String {
    let out = p.cli(&["deploy", dir.to_str().expect("utf8"), "--name", name, "--watch"]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "deploy --watch failed:\n{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("Linked to"), "{stdout}");
    let list: Vec<Value> = serde_json::from_slice(&p.cli(&["list", "--json"]).stdout).expect("json");
    let item = list.iter().find(|c| c["name"] == name).expect("listed");
    item["guid"].as_str().expect("guid").to_string()
}

async fn get_json(p: &Porch, path: &str) -> (u16, Value) {
    let r = p.api(Method::GET, path).send().await.expect("GET");
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or(Value::Null))
}

async fn link(p: &Porch, guid: &str) -> Value {
    let (status, v) = get_json(p, &format!("/__api__/porch/content/{guid}/link")).await;
    assert_eq!(status, 200, "GET link: {v}");
    v
}

async fn bundle_count(p: &Porch, guid: &str) -> usize {
    let (_, v) = get_json(p, &format!("/__api__/v1/content/{guid}/bundles")).await;
    v.as_array().expect("bundles").len()
}

/// The viewer's page at the item's root once it contains `needle`.
async fn served(p: &Porch, guid: &str, needle: &str, secs: u64) -> String {
    let path = format!("/content/{guid}/");
    eventually(secs, &format!("{path} to show {needle:?}"), || async {
        let r = p.get(&path).await;
        let ok = r.status() == 200;
        let body = r.text().await.unwrap_or_default();
        (ok && body.contains(needle)).then_some(body)
    })
    .await
}

/// Waits for the redeploy after `prev_task` to end; returns the link.
async fn next_redeploy(p: &Porch, guid: &str, prev_task: &Value, secs: u64) -> Value {
    eventually(secs, "a redeploy to finish", || async {
        let l = link(p, guid).await;
        (l["last_task_id"] != *prev_task && !l["last_task_id"].is_null() && l["status"] != "redeploying").then_some(l)
    })
    .await
}

/// A deploy task's full JSON.
async fn task(p: &Porch, id: &Value) -> Value {
    get_json(p, &format!("/__api__/v1/tasks/{}", id.as_str().expect("task id"))).await.1
}

/// Collects the SSE stream's text in the background.
fn collect_events(p: &Porch) -> Arc<Mutex<String>> {
    let seen = Arc::new(Mutex::new(String::new()));
    let (sink, req) = (seen.clone(), p.api(Method::GET, "/__api__/porch/events"));
    tokio::spawn(async move {
        let Ok(mut r) = req.send().await else { return };
        while let Ok(Some(chunk)) = r.chunk().await {
            sink.lock().expect("lock").push_str(&String::from_utf8_lossy(&chunk));
        }
    });
    seen
}

// ---- static sites --------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread")]
async fn static_site_follows_saves_ignores_noise_and_coalesces_bursts() {
    let p = Porch::start().await;
    let events = collect_events(&p);
    let dir = folder(&[("index.html", "<h1>version one</h1>"), (".gitignore", "*.log\n")]);
    let guid = deploy_watch(&p, dir.path(), "linked-site");
    served(&p, &guid, "version one", STATIC_SECS).await;

    let l = link(&p, &guid).await;
    assert_eq!(l["path"], canonical(dir.path()), "{l}");
    let (_, content) = get_json(&p, &format!("/__api__/v1/content/{guid}")).await;
    assert_eq!(content["link"]["path"], canonical(dir.path()), "the content JSON carries the link: {content}");

    // Noise first (ignored by .gitignore, version control, caches, editor scratch files),
    // then one real save: exactly one new bundle.
    let before = bundle_count(&p, &guid).await;
    write(dir.path(), "debug.log", "x");
    write(dir.path(), ".git/HEAD", "ref: refs/heads/main");
    write(dir.path(), "__pycache__/x.pyc", "x");
    write(dir.path(), ".index.html.swp", "x");
    write(dir.path(), "index.html~", "x");
    write(dir.path(), "4913", "");
    write(dir.path(), "index.html", "<h1>version two</h1>");
    served(&p, &guid, "version two", STATIC_SECS).await;
    let l = next_redeploy(&p, &guid, &Value::Null, STATIC_SECS).await;
    assert_eq!(l["last_result"], "success", "{l}");
    assert_eq!(l["status"], "watching", "{l}");
    assert!(l["last_redeploy"].is_string(), "{l}");
    assert_eq!(bundle_count(&p, &guid).await, before + 1, "ignored files must not redeploy");
    let t = task(&p, &l["last_task_id"]).await;
    assert_eq!(t["code"], 0, "{t}");
    assert!(t["output"].to_string().contains("after changes in"), "{t}");

    // A folder created after linking is watched too: its file appears, and a later edit of
    // that file (seen only through the new folder's own watch) is served.
    write(dir.path(), "docs/more.html", "<p>more one</p>");
    let more = format!("/content/{guid}/docs/more.html");
    let shows = |needle: &'static str| {
        let (p, more) = (&p, more.clone());
        async move {
            eventually(STATIC_SECS, needle, || async {
                let r = p.get(&more).await;
                (r.status() == 200 && r.text().await.unwrap_or_default().contains(needle)).then_some(())
            })
            .await
        }
    };
    shows("more one").await;
    write(dir.path(), "docs/more.html", "<p>more two</p>");
    shows("more two").await;

    // A burst of 50 saves is one redeploy; a later save is one more.
    let before = bundle_count(&p, &guid).await;
    for i in 0..50 {
        write(dir.path(), "index.html", &format!("<h1>burst {i:02}</h1>"));
        write(dir.path(), "style.css", &format!("h1 {{ margin: {i}px }}"));
    }
    served(&p, &guid, "burst 49", STATIC_SECS).await;
    write(dir.path(), "index.html", "<h1>after the burst</h1>");
    served(&p, &guid, "after the burst", STATIC_SECS).await;
    assert_eq!(
        bundle_count(&p, &guid).await,
        before + 2,
        "50 writes must give one redeploy (then one for the last save)"
    );

    // Every save keeps a bundle, but only the newest ten stay (the active one among them).
    for i in 0..10 {
        write(dir.path(), "index.html", &format!("<h1>save {i}</h1>"));
        served(&p, &guid, &format!("save {i}"), STATIC_SECS).await;
    }
    // Pruning follows the activation that made the save visible: wait for it.
    let b = eventually(STATIC_SECS, "old bundles of a linked item pruned to ten", || async {
        let (_, b) = get_json(&p, &format!("/__api__/v1/content/{guid}/bundles")).await;
        let b = b.as_array().expect("bundles").clone();
        (b.len() <= 10).then_some(b)
    })
    .await;
    assert_eq!(b.len(), 10, "old bundles of a linked item are pruned, and ten stay");
    assert!(b.iter().any(|b| b["active"] == true), "the active bundle stays");

    let seen = events.lock().expect("lock").clone();
    assert!(seen.contains("\"type\":\"link_changed\""), "link events on the SSE stream: {seen}");
    assert!(seen.contains("\"status\":\"redeploying\""), "{seen}");
    p.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_vanished_folder_breaks_the_link_and_its_return_mends_it() {
    let p = Porch::start().await;
    let parent = tempfile::tempdir().expect("tmp");
    let dir = parent.path().join("site");
    write(&dir, "index.html", "<h1>first</h1>");
    let guid = deploy_watch(&p, &dir, "vanishing-site");
    served(&p, &guid, "first", STATIC_SECS).await;

    // Renamed away: broken, and viewers still get the last version.
    let moved = parent.path().join("site-moved");
    std::fs::rename(&dir, &moved).expect("rename");
    let l = eventually(STATIC_SECS, "the link to break", || async {
        let l = link(&p, &guid).await;
        (l["status"] == "broken").then_some(l)
    })
    .await;
    assert!(l["error"].as_str().unwrap_or("").contains("is gone"), "{l}");
    let (status, body) = p.fetch(&format!("/content/{guid}/")).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("first"), "the item keeps its last version");

    // Back under its name, changed meanwhile: watched again and redeployed.
    write(&moved, "index.html", "<h1>second</h1>");
    std::fs::rename(&moved, &dir).expect("rename back");
    served(&p, &guid, "second", STATIC_SECS).await;
    eventually(STATIC_SECS, "the link to recover", || async {
        (link(&p, &guid).await["status"] == "watching").then_some(())
    })
    .await;
    write(&dir, "index.html", "<h1>third</h1>");
    served(&p, &guid, "third", STATIC_SECS).await;

    // Deleted outright, then made anew.
    std::fs::remove_dir_all(&dir).expect("rm");
    eventually(STATIC_SECS, "the link to break", || async {
        (link(&p, &guid).await["status"] == "broken").then_some(())
    })
    .await;
    served(&p, &guid, "third", STATIC_SECS).await;
    write(&dir, "index.html", "<h1>fourth</h1>");
    served(&p, &guid, "fourth", STATIC_SECS).await;
    p.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn a_chosen_entry_point_stays_chosen_on_every_redeploy() {
    let p = Porch::start().await;
    let dir = folder(&[("index.html", "<h1>index one</h1>"), ("guide.html", "<h1>guide one</h1>")]);
    let out = p.cli(&[
        "deploy",
        dir.path().to_str().expect("utf8"),
        "--name",
        "chosen-linked",
        "--watch",
        "--entrypoint",
        "guide.html",
    ]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let list: Vec<Value> = serde_json::from_slice(&p.cli(&["list", "--json"]).stdout).expect("json");
    let guid =
        list.iter().find(|c| c["name"] == "chosen-linked").and_then(|c| c["guid"].as_str()).expect("guid").to_string();
    served(&p, &guid, "guide one", STATIC_SECS).await;

    // A save redeploys a fresh pack of the folder, which detection alone would serve from
    // index.html: the chosen page stays the first page.
    write(dir.path(), "index.html", "<h1>index two</h1>");
    write(dir.path(), "guide.html", "<h1>guide two</h1>");
    served(&p, &guid, "guide two", STATIC_SECS).await;
    let l = next_redeploy(&p, &guid, &Value::Null, STATIC_SECS).await;
    assert_eq!(l["last_result"], "success", "{l}");
    let t = task(&p, &l["last_task_id"]).await;
    assert!(t.to_string().contains("Keeping the chosen entry point guide.html"), "{t}");
    p.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn links_survive_a_restart() {
    let p = Porch::start().await;
    let dir = folder(&[("index.html", "<h1>before restart</h1>")]);
    let guid = deploy_watch(&p, dir.path(), "restart-site");
    served(&p, &guid, "before restart", STATIC_SECS).await;

    // Edited while Porch is stopped: the restarted server notices and redeploys.
    let root = dir.path().to_path_buf();
    let p = p.restart_with(|| write(&root, "index.html", "<h1>edited while stopped</h1>")).await;
    served(&p, &guid, "edited while stopped", STATIC_SECS).await;
    // And it keeps following.
    write(dir.path(), "index.html", "<h1>edited after restart</h1>");
    served(&p, &guid, "edited after restart", STATIC_SECS).await;
    assert_eq!(link(&p, &guid).await["last_result"], "success");
    p.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_link_api_checks_its_input_and_loses_nothing() {
    let p = Porch::start().await;
    let guid = p.create("api-linked").await;
    p.publish(&guid, targz(&[("index.html", b"<h1>uploaded</h1>")])).await;
    let path = format!("/__api__/porch/content/{guid}/link");

    let (status, v) = get_json(&p, &path).await;
    assert_eq!(status, 404, "no link yet: {v}");
    let (status, _) = get_json(&p, "/__api__/porch/content/00000000-0000-0000-0000-000000000000/link").await;
    assert_eq!(status, 404);

    let file_dir = folder(&[("note.txt", "x")]);
    let data_dir = p.data_dir().to_string_lossy().into_owned();
    let missing = file_dir.path().join("missing").to_string_lossy().into_owned();
    let a_file = file_dir.path().join("note.txt").to_string_lossy().into_owned();
    for (body, needle) in [
        (json!({}), "path"),
        (json!({ "path": "relative/dir" }), "absolute"),
        (json!({ "path": missing }), "missing"),
        (json!({ "path": a_file }), "not a folder"),
        (json!({ "path": data_dir }), "data folder"),
    ] {
        let r = p.api(Method::PUT, &path).json(&body).send().await.expect("PUT");
        assert_eq!(r.status(), 400, "{body}");
        let e: Value = r.json().await.expect("json");
        assert!(e["error"].as_str().unwrap_or("").contains(needle), "{body} → {e}");
    }

    // Linking syncs the item with the folder at once.
    let dir = folder(&[("index.html", "<h1>from the folder</h1>")]);
    let r = p.api(Method::PUT, &path).json(&json!({ "path": dir.path() })).send().await.expect("PUT");
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(v["path"], canonical(dir.path()), "{v}");
    served(&p, &guid, "from the folder", STATIC_SECS).await;
    let (_, list) = get_json(&p, "/__api__/v1/content").await;
    let item = list.as_array().expect("list").iter().find(|c| c["guid"] == guid.as_str()).cloned().expect("listed");
    assert_eq!(item["link"]["path"], canonical(dir.path()), "{item}");

    // A bad request leaves the link as it was.
    let r = p.api(Method::PUT, &path).json(&json!({ "path": "nope" })).send().await.expect("PUT");
    assert_eq!(r.status(), 400);
    assert_eq!(link(&p, &guid).await["path"], canonical(dir.path()));

    let r = p.api(Method::DELETE, &path).send().await.expect("DELETE");
    assert_eq!(r.status(), 204);
    assert_eq!(get_json(&p, &path).await.0, 404);
    let r = p.api(Method::DELETE, &path).send().await.expect("DELETE");
    assert_eq!(r.status(), 404, "nothing left to unlink");
    let (_, content) = get_json(&p, &format!("/__api__/v1/content/{guid}")).await;
    assert!(content["link"].is_null(), "{content}");
    served(&p, &guid, "from the folder", STATIC_SECS).await;

    // The CLI refuses to watch a single file, and deploys nothing.
    let out = p.cli(&["deploy", &a_file, "--name", "file-watch", "--watch"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--watch needs a folder"), "{out:?}");
    p.shutdown();
}

// ---- apps and notebooks --------------------------------------------------------------------

fn fastapi_source(version: &str) -> String {
    format!("from fastapi import FastAPI\n\napp = FastAPI()\n\n\n@app.get(\"/\")\ndef root():\n    return {{\"version\": \"{version}\"}}\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn fastapi_app_switches_only_to_versions_that_start() {
    let test = "fastapi_app_switches_only_to_versions_that_start";
    if skip_without_uv(test) {
        return;
    }
    let p = Porch::start().await;
    let dir = folder(&[("app.py", &fastapi_source("v1")), ("requirements.txt", "fastapi>=0.100\n")]);
    let guid = deploy_watch(&p, dir.path(), "linked-fastapi");
    served(&p, &guid, "\"v1\"", APP_SECS).await;

    write(dir.path(), "app.py", &fastapi_source("v2"));
    let l = next_redeploy(&p, &guid, &Value::Null, APP_SECS).await;
    assert_eq!(l["last_result"], "success", "{l}");
    served(&p, &guid, "\"v2\"", 60).await;

    // A syntax error: the new version never answers, v2 keeps serving.
    write(dir.path(), "app.py", "from fastapi import FastAPI\napp = FastAPI(\n");
    let l = next_redeploy(&p, &guid, &l["last_task_id"], APP_SECS).await;
    assert_eq!(l["last_result"], "failed", "{l}");
    let err = l["error"].as_str().unwrap_or("");
    assert!(err.contains("did not start") && err.contains("keeps serving"), "{l}");
    let t = task(&p, &l["last_task_id"]).await;
    assert_eq!(t["code"], 1, "{t}");
    assert_eq!(t["porch_code"], "Failed", "a version that will not start is a runtime failure: {t}");
    assert!(t.to_string().contains("SyntaxError"), "the task keeps the app's output: {t}");
    served(&p, &guid, "\"v2\"", 60).await;

    // A broken requirements file: the environment cannot be built, v2 keeps serving.
    write(dir.path(), "requirements.txt", "fastapi>=0.100\nporch-no-such-package-zz9==1.0\n");
    write(dir.path(), "app.py", &fastapi_source("v3"));
    let l = next_redeploy(&p, &guid, &l["last_task_id"], APP_SECS).await;
    assert_eq!(l["last_result"], "failed", "{l}");
    let t = task(&p, &l["last_task_id"]).await;
    assert_eq!(t["porch_code"], "Failed", "the installer ran and failed: {t}");
    served(&p, &guid, "\"v2\"", 60).await;

    // The next good save recovers by itself.
    write(dir.path(), "requirements.txt", "fastapi>=0.100\n");
    write(dir.path(), "app.py", &fastapi_source("v4"));
    let l = next_redeploy(&p, &guid, &l["last_task_id"], APP_SECS).await;
    assert_eq!(l["last_result"], "success", "{l}");
    assert!(l["error"].is_null(), "{l}");
    served(&p, &guid, "\"v4\"", 60).await;
    p.shutdown();
}

/// Reruns the Streamlit script over `_stcore/stream` and waits for `text` in its output.
async fn streamlit_shows(p: &Porch, guid: &str, text: &str) -> Result<(), String> {
    let health = format!("/content/{guid}/_stcore/health");
    eventually(APP_SECS, "the Streamlit worker", || async { (p.get(&health).await.status() == 200).then_some(()) })
        .await;
    let mut ws =
        Ws::connect(&p.base, &format!("/content/{guid}/_stcore/stream"), &[("Sec-WebSocket-Protocol", "streamlit")])?;
    // BackMsg { rerun_script: ClientState {} }: the server runs the script and streams its output.
    ws.send(2, &[0x5a, 0x00]);
    ws.recv_until(120, |m| String::from_utf8_lossy(&m.data).contains(text)).map(|_| ())
}

#[tokio::test(flavor = "multi_thread")]
async fn streamlit_edit_shows_through_the_proxy() {
    let test = "streamlit_edit_shows_through_the_proxy";
    if skip_without_uv(test) {
        return;
    }
    let p = Porch::start().await;
    let app = |title: &str| format!("import streamlit as st\n\nst.title(\"{title}\")\n");
    let dir = folder(&[("app.py", &app("PORCH-LINKED-ONE")), ("requirements.txt", "streamlit>=1.30\n")]);
    let guid = deploy_watch(&p, dir.path(), "linked-streamlit");
    streamlit_shows(&p, &guid, "PORCH-LINKED-ONE").await.expect("first version");

    write(dir.path(), "app.py", &app("PORCH-LINKED-TWO"));
    let l = next_redeploy(&p, &guid, &Value::Null, APP_SECS).await;
    assert_eq!(l["last_result"], "success", "{l}");
    streamlit_shows(&p, &guid, "PORCH-LINKED-TWO").await.expect("the edited version");
    p.shutdown();
}

fn notebook(mark: &str, fail: bool) -> String {
    let mut code = vec![format!("print('{mark}')\n")];
    if fail {
        code.push("raise RuntimeError('broken on purpose')\n".into());
    }
    json!({
        "cells": [{ "cell_type": "code", "execution_count": null, "metadata": {}, "outputs": [], "source": code }],
        "metadata": { "kernelspec": { "display_name": "Python 3", "language": "python", "name": "python3" },
                      "language_info": { "name": "python" } },
        "nbformat": 4, "nbformat_minor": 5
    })
    .to_string()
}

#[tokio::test(flavor = "multi_thread")]
async fn notebook_rerenders_on_save() {
    let test = "notebook_rerenders_on_save";
    if skip_without_uv(test) {
        return;
    }
    let p = Porch::start().await;
    let dir =
        folder(&[("report.ipynb", &notebook("NB-MARK-ONE", false)), ("requirements.txt", "# standard library only\n")]);
    let guid = deploy_watch(&p, dir.path(), "linked-notebook");
    served(&p, &guid, "NB-MARK-ONE", APP_SECS).await;

    write(dir.path(), "report.ipynb", &notebook("NB-MARK-TWO", false));
    let l = next_redeploy(&p, &guid, &Value::Null, APP_SECS).await;
    assert_eq!(l["last_result"], "success", "{l}");
    served(&p, &guid, "NB-MARK-TWO", 60).await;
    let (_, renders) = get_json(&p, &format!("/__api__/v1/content/{guid}/renders")).await;
    let newest = &renders[0];
    assert_eq!((newest["trigger"].as_str(), newest["status"].as_str()), (Some("watch"), Some("success")), "{renders}");

    // Saves during a redeploy (here: while its render runs) are followed by exactly one
    // more redeploy, of the last save.
    let before = bundle_count(&p, &guid).await;
    let renders_path = format!("/__api__/v1/content/{guid}/renders");
    let last_render = get_json(&p, &renders_path).await.1[0]["id"].clone();
    write(dir.path(), "report.ipynb", &notebook("NB-MARK-DURING-A", false));
    eventually(APP_SECS, "the redeploy's render to start", || async {
        let (_, r) = get_json(&p, &renders_path).await;
        (r[0]["id"] != last_render && r[0]["status"] == "running").then_some(())
    })
    .await;
    for mark in ["NB-MARK-DURING-B", "NB-MARK-DURING-C", "NB-MARK-DURING-D"] {
        write(dir.path(), "report.ipynb", &notebook(mark, false));
    }
    served(&p, &guid, "NB-MARK-DURING-D", APP_SECS).await;
    let l = eventually(APP_SECS, "the link to be idle", || async {
        let l = link(&p, &guid).await;
        (l["status"] == "watching").then_some(l)
    })
    .await;
    assert_eq!(bundle_count(&p, &guid).await, before + 2, "one redeploy, then exactly one more: {l}");

    // A failing cell: the render fails, the previous output stays.
    write(dir.path(), "report.ipynb", &notebook("NB-MARK-THREE", true));
    let l = next_redeploy(&p, &guid, &l["last_task_id"], APP_SECS).await;
    assert_eq!(l["last_result"], "failed", "{l}");
    let t = task(&p, &l["last_task_id"]).await;
    assert!(t.to_string().contains("broken on purpose"), "the task keeps the render log");
    assert_eq!(t["porch_code"], "Failed", "a failed render is a runtime failure: {t}");
    let (_, renders) = get_json(&p, &format!("/__api__/v1/content/{guid}/renders")).await;
    assert_eq!(
        (renders[0]["trigger"].as_str(), renders[0]["status"].as_str()),
        (Some("watch"), Some("failed")),
        "{renders}"
    );
    served(&p, &guid, "NB-MARK-DURING-D", 60).await;

    write(dir.path(), "report.ipynb", &notebook("NB-MARK-FOUR", false));
    let l = next_redeploy(&p, &guid, &l["last_task_id"], APP_SECS).await;
    assert_eq!(l["last_result"], "success", "{l}");
    served(&p, &guid, "NB-MARK-FOUR", 60).await;
    p.shutdown();
}
