//! Deploys, tasks and every kind of bad bundle: a refused bundle never disturbs what is served.

mod common;

use std::time::{Duration, Instant};

use common::{targz, zip, Porch, RawTar};
use reqwest::Method;
use serde_json::{json, Value};

const GOOD: &[u8] = b"<html><body>the good version</body></html>";

/// Publishes a known-good bundle and returns the guid.
async fn with_good_site(p: &Porch, name: &str) -> String {
    let guid = p.create(name).await;
    p.publish(&guid, targz(&[("index.html", GOOD)])).await;
    assert_eq!(p.fetch(&format!("/content/{guid}/")).await, (200, GOOD.to_vec()));
    guid
}

/// Asserts the good version is still served byte for byte.
async fn still_good(p: &Porch, guid: &str) {
    assert_eq!(p.fetch(&format!("/content/{guid}/")).await, (200, GOOD.to_vec()), "the active bundle changed");
    assert_eq!(p.fetch(&format!("/content/{guid}/index.html")).await.1, GOOD.to_vec());
}

/// Uploads bytes and expects a refusal mentioning `needle`.
async fn refused(p: &Porch, guid: &str, bytes: Vec<u8>, status: u16, needle: &str) {
    let r = p.upload(guid, bytes).await;
    assert_eq!(r.status().as_u16(), status, "upload status");
    let e: Value = r.json().await.expect("json");
    let msg = e["error"].as_str().expect("error").to_string();
    assert!(msg.contains(needle), "error {msg:?} should mention {needle:?}");
    assert!(e["code"].as_u64().expect("code") > 0);
}

#[tokio::test]
async fn hostile_archives_are_refused_and_nothing_changes() {
    let p = Porch::start_with(common::Opts {
        args: vec!["--max-bundle-bytes".into(), "65536".into(), "--max-bundle-files".into(), "50".into()],
        ..Default::default()
    })
    .await;
    let guid = with_good_site(&p, "hostile").await;
    let bundles_before = p
        .api(Method::GET, &format!("/__api__/v1/content/{guid}/bundles"))
        .send()
        .await
        .expect("list")
        .text()
        .await
        .expect("t");

    // tar with `..`
    refused(&p, &guid, RawTar::new().file("index.html", b"x").file("../evil.txt", b"x").gz(), 400, "../evil.txt").await;
    refused(&p, &guid, RawTar::new().file("a/../../evil.txt", b"x").gz(), 400, "a/../../evil.txt").await;
    // absolute path
    refused(&p, &guid, RawTar::new().file("/tmp/evil.txt", b"x").gz(), 400, "/tmp/evil.txt").await;
    // symlink escaping the bundle
    refused(
        &p,
        &guid,
        RawTar::new().file("index.html", b"x").entry("link", b'2', "../../../etc/passwd", b"").gz(),
        400,
        "link",
    )
    .await;
    refused(&p, &guid, RawTar::new().entry("abs", b'2', "/etc/passwd", b"").gz(), 400, "/etc/passwd").await;
    // hard link to a path outside
    refused(&p, &guid, RawTar::new().entry("hl", b'1', "../x", b"").gz(), 400, "hl").await;
    // device files and FIFOs
    refused(
        &p,
        &guid,
        RawTar::new().file("index.html", b"x").entry("dev", b'3', "", b"").gz(),
        400,
        "character device",
    )
    .await;
    refused(&p, &guid, RawTar::new().file("index.html", b"x").entry("fifo", b'6', "", b"").gz(), 400, "FIFO").await;
    // zip slip
    refused(&p, &guid, zip(&[("index.html", b"x"), ("../../zip-slip.txt", b"x")]), 400, "zip-slip.txt").await;
    // oversized (extracted) and oversized upload, too many files
    let big = vec![b'a'; 200_000];
    refused(&p, &guid, targz(&[("index.html", b"x"), ("big.bin", &big)]), 413, "too large").await;
    let raw_big: Vec<u8> = (0..100_000u32).flat_map(|i| i.to_le_bytes()).collect();
    refused(&p, &guid, raw_big, 413, "too large").await;
    let many: Vec<(String, Vec<u8>)> = (0..60).map(|i| (format!("f{i}.html"), b"x".to_vec())).collect();
    let refs: Vec<(&str, &[u8])> = many.iter().map(|(n, d)| (n.as_str(), d.as_slice())).collect();
    refused(&p, &guid, targz(&refs), 400, "too many files").await;
    // not an archive, corrupt gzip, empty
    refused(&p, &guid, b"hello, this is not a bundle".to_vec(), 400, "not a bundle").await;
    let mut corrupt = targz(&[("index.html", &[b'z'; 5000])]);
    corrupt.truncate(corrupt.len() / 2);
    refused(&p, &guid, corrupt, 400, "damaged").await;
    refused(&p, &guid, Vec::new(), 400, "empty").await;
    // bad manifests
    refused(&p, &guid, targz(&[("manifest.json", b"{not json"), ("index.html", b"x")]), 400, "manifest.json").await;
    refused(&p, &guid, targz(&[("manifest.json", br#"{"metadata":{"appmode":"cobol"}}"#)]), 400, "cobol").await;
    // unrecognised content lists what it found and what is supported
    refused(&p, &guid, targz(&[("notes.txt", b"x"), ("data.csv", b"1,2")]), 400, "data.csv, notes.txt").await;

    still_good(&p, &guid).await;
    let bundles_after = p
        .api(Method::GET, &format!("/__api__/v1/content/{guid}/bundles"))
        .send()
        .await
        .expect("list")
        .text()
        .await
        .expect("t");
    assert_eq!(bundles_before, bundles_after, "refused uploads left bundles behind");
    // No escaped file was written anywhere near the data dir.
    for escaped in ["evil.txt", "zip-slip.txt", "bundles/evil.txt", "tmp/evil.txt"] {
        assert!(!p.data_dir().join(escaped).exists(), "{escaped} was written");
    }
    let tmp_left = p.scratch_leftovers();
    assert!(tmp_left.is_empty(), "scratch files left behind: {tmp_left:?}");
    p.shutdown();
}

#[tokio::test]
async fn failed_deploy_keeps_previous_bundle() {
    let p = Porch::start().await;
    let guid = with_good_site(&p, "failing-deploy").await;
    // A manifest whose primary_html is missing uploads, but its deploy fails.
    let r = p
        .upload(
            &guid,
            targz(&[
                ("manifest.json", br#"{"metadata":{"appmode":"static","primary_html":"missing.html"}}"#),
                ("other.html", b"o"),
            ]),
        )
        .await;
    assert_eq!(r.status(), 200);
    let b: Value = r.json().await.expect("json");
    let task = p.deploy(&guid, b["id"].as_str().expect("id")).await;
    assert_eq!(task["finished"], true);
    assert_ne!(task["code"], 0);
    assert!(task["error"].as_str().expect("error").contains("missing.html"), "{task}");
    still_good(&p, &guid).await;
    // So does a document whose manifest names a notebook the bundle lacks, saying so and
    // naming those it has (not with the renderer's usage text after building it a kernel).
    let r = p
        .upload(
            &guid,
            targz(&[
                ("manifest.json", br#"{"metadata":{"appmode":"jupyter-static","entrypoint":"nb.ipynb"}}"#),
                ("other.ipynb", b"{}"),
            ]),
        )
        .await;
    assert_eq!(r.status(), 200);
    let b: Value = r.json().await.expect("json");
    let task = p.deploy(&guid, b["id"].as_str().expect("id")).await;
    let err = task["error"].as_str().expect("error");
    assert!(err.contains("entrypoint \"nb.ipynb\" is not in the bundle; the bundle has other.ipynb"), "{task}");
    still_good(&p, &guid).await;
    // Deploying a bundle that does not exist is a clean 404.
    let r = p
        .api(Method::POST, &format!("/__api__/v1/content/{guid}/deploy"))
        .json(&json!({"bundle_id":"424242"}))
        .send()
        .await
        .expect("deploy");
    assert_eq!(r.status(), 404);
    still_good(&p, &guid).await;
}

#[tokio::test]
async fn rollback_and_deploy_latest() {
    let p = Porch::start().await;
    let guid = p.create("rollback").await;
    let b1 = p.publish(&guid, targz(&[("index.html", b"v1")])).await;
    let b2 = p.publish(&guid, targz(&[("index.html", b"v2")])).await;
    assert_eq!(p.fetch(&format!("/content/{guid}/")).await.1, b"v2");
    // Roll back to bundle 1.
    let t = p.deploy(&guid, &b1).await;
    assert_eq!(t["code"], 0);
    assert_eq!(p.fetch(&format!("/content/{guid}/")).await.1, b"v1");
    let c: Value = p
        .api(Method::GET, &format!("/__api__/v1/content/{guid}"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(c["bundle_id"], b1.as_str());
    assert_eq!(c["app_mode"], "static");
    assert!(c["last_deployed_time"].is_string());
    // posit-sdk's content.deploy() sends bundle_id null: the newest bundle.
    let r = p
        .api(Method::POST, &format!("/__api__/v1/content/{guid}/deploy"))
        .json(&json!({"bundle_id": null}))
        .send()
        .await
        .expect("deploy");
    assert_eq!(r.status(), 202);
    let id = r.json::<Value>().await.expect("json")["task_id"].as_str().expect("id").to_string();
    assert_eq!(p.wait_task(&id).await["code"], 0);
    assert_eq!(p.fetch(&format!("/content/{guid}/")).await.1, b"v2");
    // The earlier bundle stays reachable through _rev.
    assert_eq!(p.fetch(&format!("/content/{guid}/_rev{b1}/index.html")).await, (200, b"v1".to_vec()));
    assert_eq!(p.fetch(&format!("/content/{guid}/_rev{b2}/")).await, (200, b"v2".to_vec()));
    // Draft: deploy without activation keeps v2 served, and _bundle previews the draft.
    let r = p.upload(&guid, targz(&[("index.html", b"v3 draft")])).await;
    let b3 = r.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_string();
    let r = p
        .api(Method::POST, &format!("/__api__/v1/content/{guid}/deploy"))
        .json(&json!({"bundle_id": b3, "activate": false}))
        .send()
        .await
        .expect("deploy");
    let id = r.json::<Value>().await.expect("json")["task_id"].as_str().expect("id").to_string();
    assert_eq!(p.wait_task(&id).await["code"], 0);
    assert_eq!(p.fetch(&format!("/content/{guid}/")).await.1, b"v2");
    assert_eq!(p.fetch(&format!("/content/{guid}/_bundle{b3}/")).await, (200, b"v3 draft".to_vec()));
}

#[tokio::test]
async fn tasks_long_poll_and_stay_queryable() {
    let p = Porch::start().await;
    let guid = p.create("tasks-test").await;
    let r = p.upload(&guid, targz(&[("index.html", b"t")])).await;
    let b = r.json::<Value>().await.expect("json")["id"].as_str().expect("id").to_string();
    let r = p
        .api(Method::POST, &format!("/__api__/v1/content/{guid}/deploy"))
        .json(&json!({"bundle_id": b}))
        .send()
        .await
        .expect("deploy");
    let id = r.json::<Value>().await.expect("json")["task_id"].as_str().expect("id").to_string();
    let done = p.wait_task(&id).await;
    assert_eq!(done["code"], 0);
    assert_eq!(done["error"], "");
    let last = done["last"].as_u64().expect("last");
    assert!(last >= 2, "{done}");
    assert_eq!(done["output"].as_array().expect("output").len() as u64, last);
    // first=last returns no lines; a finished task answers at once even with wait.
    let t0 = Instant::now();
    let tail: Value = p
        .api(Method::GET, &format!("/__api__/v1/tasks/{id}?first={last}&wait=5"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert!(t0.elapsed() < Duration::from_secs(4), "a finished task must not block");
    assert_eq!(tail["output"], json!([]));
    assert_eq!(tail["last"], last);
    assert_eq!(tail["finished"], true);
    // Unknown tasks are 404 code 4.
    let r = p.api(Method::GET, "/__api__/v1/tasks/does-not-exist").send().await.expect("get");
    assert_eq!(r.status(), 404);
    // Finished tasks stay queryable after Porch restarts.
    let p = p.restart(common::Opts::default()).await;
    let again: Value =
        p.api(Method::GET, &format!("/__api__/v1/tasks/{id}")).send().await.expect("get").json().await.expect("json");
    assert_eq!(again["finished"], true);
    assert_eq!(again["code"], 0);
    assert_eq!(again["last"], last);
    assert_eq!(again["output"], done["output"]);
    // And the content is still served.
    assert_eq!(p.fetch(&format!("/content/{guid}/")).await, (200, b"t".to_vec()));
    p.shutdown();
}

#[tokio::test]
async fn tar_quirks_are_handled() {
    let p = Porch::start().await;
    // PAX long names, ./ prefixes, an empty-named root entry, manifest last, one top folder.
    let long = format!("{}/deep.html", "d".repeat(120));
    let quirky = RawTar::new()
        .entry("", b'5', "", b"")
        .entry("./site/", b'5', "", b"")
        .file("./site/index.html", b"quirky")
        .pax_path(&format!("site/{long}"))
        .file("site/placeholder-name", b"long name")
        .file("./site/manifest.json", br#"{"version":1,"local":"en_US","metadata":{"appmode":"static","primary_html":"index.html","content_category":"pin","primary_rmd":null},"files":["index.html"],"packages":null,"users":null}"#)
        .gz();
    let guid = p.create("quirks").await;
    p.publish(&guid, quirky).await;
    assert_eq!(p.fetch(&format!("/content/{guid}/")).await, (200, b"quirky".to_vec()));
    assert_eq!(p.fetch(&format!("/content/{guid}/{long}")).await, (200, b"long name".to_vec()));
    let c: Value = p
        .api(Method::GET, &format!("/__api__/v1/content/{guid}"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(c["content_category"], "pin");
    // A zip bundle deploys too.
    let guid = p.create("zipped").await;
    p.publish(&guid, zip(&[("index.html", b"from zip"), ("css/a.css", b"a{}")])).await;
    assert_eq!(p.fetch(&format!("/content/{guid}/css/a.css")).await, (200, b"a{}".to_vec()));
}

#[tokio::test]
async fn appmode_is_inferred_and_stored_with_the_bundle() {
    let p = Porch::start().await;
    type Files<'a> = &'a [(&'a str, &'a [u8])];
    let cases: &[(&str, Files, &str)] = &[
        (
            "infer-dash",
            &[("app.py", b"from dash import Dash\napp = Dash()\n"), ("requirements.txt", b"dash\n")],
            "python-dash",
        ),
        ("infer-streamlit", &[("app.py", b"import streamlit as st\n")], "python-streamlit"),
        ("infer-fastapi", &[("main.py", b"from fastapi import FastAPI\n")], "python-fastapi"),
        ("infer-flask", &[("app.py", b"from flask import Flask\n")], "python-api"),
        ("infer-notebook", &[("report.ipynb", b"{}")], "jupyter-static"),
        ("infer-quarto", &[("doc.qmd", b"---\ntitle: x\n---\n")], "quarto-static"),
        ("infer-rmd", &[("doc.Rmd", b"x")], "rmd-static"),
        ("infer-shiny-r", &[("app.R", b"library(shiny)")], "shiny"),
        ("infer-plumber", &[("plumber.R", b"#* @get /\n")], "api"),
        ("infer-html", &[("page.html", b"<p>hi</p>")], "static"),
    ];
    for (name, files, mode) in cases {
        let guid = p.create(name).await;
        // Upload only: the inferred manifest is stored with the bundle. (Deploying apps and
        // documents builds environments and renders; tests/interactive.rs and
        // tests/frameworks.rs do that.)
        let r = p.upload(&guid, targz(files)).await;
        assert_eq!(r.status(), 200, "{name}");
        let b: Value = r.json().await.expect("json");
        assert_eq!(b["manifest"]["metadata"]["appmode"], *mode, "{name}");
        if !matches!(porch_kind(mode), "interactive") {
            let t = p.deploy(&guid, b["id"].as_str().expect("id")).await;
            assert_eq!(t["code"], 0, "{name}: {t}");
            let c: Value = p
                .api(Method::GET, &format!("/__api__/v1/content/{guid}"))
                .send()
                .await
                .expect("get")
                .json()
                .await
                .expect("json");
            assert_eq!(c["app_mode"], *mode, "{name}");
        }
    }
    // A single .html that is not index.html becomes the primary page.
    let (status, body) = p.fetch(&format!("/content/{}/", latest_guid(&p, "infer-html").await)).await;
    assert_eq!((status, body), (200, b"<p>hi</p>".to_vec()));
    // An uploaded but undeployed notebook serves nothing, not even its source.
    let (status, body) = p.fetch(&format!("/content/{}/report.ipynb", latest_guid(&p, "infer-notebook").await)).await;
    assert_eq!(status, 404);
    assert!(String::from_utf8_lossy(&body).contains("not been deployed"));
}

fn porch_kind(mode: &str) -> &'static str {
    match mode {
        "static" => "document",
        _ => "interactive",
    }
}

async fn latest_guid(p: &Porch, name: &str) -> String {
    let list: Value = p
        .api(Method::GET, &format!("/__api__/v1/content?name={name}"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    list[0]["guid"].as_str().expect("guid").to_string()
}

/// Uploads with Porch's `?appmode=&entrypoint=` query and returns the response.
async fn upload_as(p: &Porch, guid: &str, query: &str, bytes: Vec<u8>) -> reqwest::Response {
    p.api(Method::POST, &format!("/__api__/v1/content/{guid}/bundles?{query}"))
        .body(bytes)
        .send()
        .await
        .expect("upload")
}

async fn bundle_count(p: &Porch, guid: &str) -> usize {
    let v: Value = p
        .api(Method::GET, &format!("/__api__/v1/content/{guid}/bundles"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    v.as_array().expect("array").len()
}

#[tokio::test]
async fn chosen_entry_point_and_appmode_are_stored_served_and_kept_on_rollback() {
    let p = Porch::start().await;
    let guid = p.create("chosen").await;

    // Two pages: detection picks index.html; the chosen entry point wins.
    let two_pages = || targz(&[("index.html", b"the index page"), ("other.html", b"the other page")]);
    let r = upload_as(&p, &guid, "entrypoint=other.html", two_pages()).await;
    assert_eq!(r.status(), 200);
    let b1: Value = r.json().await.expect("json");
    assert_eq!(b1["manifest"]["metadata"]["primary_html"], "other.html", "{b1}");
    assert_eq!(b1["manifest"]["porch"]["override"]["entrypoint"], "other.html", "{b1}");
    let b1 = b1["id"].as_str().expect("id").to_string();
    assert_eq!(p.deploy(&guid, &b1).await["code"], 0);
    assert_eq!(p.fetch(&format!("/content/{guid}/")).await, (200, b"the other page".to_vec()));
    // The stored bundle carries the choice in its manifest.json too.
    assert_eq!(p.fetch(&format!("/content/{guid}/manifest.json")).await.0, 200);

    // A page and a notebook: detected as a notebook to render; chosen as a static site.
    let page_and_notebook = || {
        targz(&[
            ("index.html", b"the site"),
            ("report.ipynb", br#"{"cells":[],"metadata":{},"nbformat":4,"nbformat_minor":5}"#),
        ])
    };
    let r = p.upload(&guid, page_and_notebook()).await;
    let detected: Value = r.json().await.expect("json");
    assert_eq!(detected["manifest"]["metadata"]["appmode"], "jupyter-static", "the detection this test overrides");
    let r = upload_as(&p, &guid, "appmode=static", page_and_notebook()).await;
    assert_eq!(r.status(), 200);
    let b2: Value = r.json().await.expect("json");
    assert_eq!(b2["manifest"]["metadata"]["appmode"], "static", "{b2}");
    assert_eq!(b2["manifest"]["metadata"]["primary_html"], "index.html", "the conventional page: {b2}");
    let b2 = b2["id"].as_str().expect("id").to_string();
    assert_eq!(p.deploy(&guid, &b2).await["code"], 0);
    assert_eq!(p.fetch(&format!("/content/{guid}/")).await, (200, b"the site".to_vec()));
    let c: Value = p
        .api(Method::GET, &format!("/__api__/v1/content/{guid}"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(c["app_mode"], "static");

    // Choices that do not fit: a clear 400 naming what is wrong and the choices; nothing stored.
    let before = bundle_count(&p, &guid).await;
    let cases: &[(&str, &[&str])] = &[
        ("appmode=cobol", &["\"cobol\"", "static", "jupyter-static", "python-dash"]),
        ("appmode=nodejs", &["\"nodejs\"", "choose one of"]),
        ("entrypoint=missing.html", &["\"missing.html\" is not in the bundle", "index.html, other.html"]),
        ("entrypoint=../index.html", &["inside the bundle"]),
        ("appmode=jupyter-static&entrypoint=index.html", &["does not fit appmode jupyter-static", ".ipynb"]),
        ("appmode=python-dash", &["needs a Python module", "has none"]),
    ];
    for (query, wants) in cases {
        let r = upload_as(&p, &guid, query, two_pages()).await;
        assert_eq!(r.status(), 400, "{query}");
        let e: Value = r.json().await.expect("json");
        let msg = e["error"].as_str().expect("error");
        for w in *wants {
            assert!(msg.contains(w), "{query}: {msg:?} should mention {w:?}");
        }
        assert_eq!(e["code"], 3, "{query}: {e}");
    }
    assert_eq!(bundle_count(&p, &guid).await, before, "refused uploads stored bundles");
    assert_eq!(p.fetch(&format!("/content/{guid}/")).await, (200, b"the site".to_vec()), "the served version changed");
    let tmp_left = p.scratch_leftovers();
    assert!(tmp_left.is_empty(), "scratch files left behind: {tmp_left:?}");

    // Rolling back to the first version runs its chosen page again.
    assert_eq!(p.deploy(&guid, &b1).await["code"], 0);
    assert_eq!(p.fetch(&format!("/content/{guid}/")).await, (200, b"the other page".to_vec()));
    assert_eq!(p.deploy(&guid, &b2).await["code"], 0);
    assert_eq!(p.fetch(&format!("/content/{guid}/")).await, (200, b"the site".to_vec()));
    // And the choice survives a restart (it is in the stored manifest, not in memory).
    let p = p.restart(Default::default()).await;
    assert_eq!(p.deploy(&guid, &b1).await["code"], 0);
    assert_eq!(p.fetch(&format!("/content/{guid}/")).await, (200, b"the other page".to_vec()));
}

/// A title as long as Porch takes, in letters of three bytes each: too long to travel in
/// the deploy's URL, it still arrives; one character more is refused before anything is
/// packed.
#[tokio::test]
async fn cli_deploy_takes_the_longest_title_in_any_script() {
    let p = Porch::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("index.html"), "<h1>報告</h1>").expect("write");
    let path = dir.path().to_str().expect("utf8");
    let title = "報".repeat(1024);
    let out = p.cli(&["deploy", path, "--name", "long-title", "--title", &title]);
    assert!(out.status.success(), "{}", common::plain_text(&out));
    let guid = latest_guid(&p, "long-title").await;
    let c: Value = p.get_json(&format!("/__api__/v1/content/{guid}")).await;
    assert_eq!(c["title"], title.as_str());
    let out = p.cli(&["deploy", path, "--name", "long-title", "--title", &format!("{title}報")]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("1024"), "{err}");
    assert_eq!(bundle_count(&p, &guid).await, 1, "nothing was uploaded");
}

#[tokio::test]
async fn cli_deploy_takes_appmode_and_entrypoint() {
    let p = Porch::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("index.html"), "cli index").expect("w");
    std::fs::write(dir.path().join("other.html"), "cli other").expect("w");
    std::fs::write(dir.path().join("report.ipynb"), r#"{"cells":[],"metadata":{},"nbformat":4,"nbformat_minor":5}"#)
        .expect("w");
    let path = dir.path().to_str().expect("utf8");

    // A refused appmode creates no item.
    let out = p.cli(&["deploy", path, "--name", "cli-chosen", "--appmode", "nodejs"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("\"nodejs\"") && err.contains("static"), "{err}");
    let list: Vec<Value> = serde_json::from_slice(&p.cli(&["list", "--json"]).stdout).expect("json");
    assert!(list.is_empty(), "{list:?}");

    let out = p.cli(&["deploy", path, "--name", "cli-chosen", "--appmode", "static", "--entrypoint", "other.html"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("static"), "reports the appmode");
    let guid = latest_guid(&p, "cli-chosen").await;
    assert_eq!(p.fetch(&format!("/content/{guid}/")).await, (200, b"cli other".to_vec()));

    // A missing entry point on a redeploy: refused, nothing stored, the title untouched,
    // the version served unchanged.
    let before = bundle_count(&p, &guid).await;
    let out = p.cli(&[
        "deploy",
        path,
        "--name",
        "cli-chosen",
        "--title",
        "Changed",
        "--appmode",
        "static",
        "--entrypoint",
        "gone.html",
    ]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("\"gone.html\" is not in the bundle") && err.contains("index.html, other.html"), "{err}");
    assert_eq!(bundle_count(&p, &guid).await, before);
    let c: Value = p
        .api(Method::GET, &format!("/__api__/v1/content/{guid}"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_ne!(c["title"], "Changed");
    assert_eq!(p.fetch(&format!("/content/{guid}/")).await, (200, b"cli other".to_vec()));
}

#[tokio::test]
async fn chosen_python_module_is_the_one_that_runs() {
    if !common::have_uv() {
        return common::skip_or_fail("chosen_python_module_is_the_one_that_runs", "uv is not installed");
    }
    let p = Porch::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    let app = |text: &str| {
        format!("from flask import Flask\napp = Flask(__name__)\n\n@app.get('/')\ndef index():\n    return '{text}'\n")
    };
    std::fs::write(dir.path().join("app.py"), app("from app.py")).expect("w");
    std::fs::write(dir.path().join("admin.py"), app("from admin.py")).expect("w");
    std::fs::write(dir.path().join("requirements.txt"), "flask\n").expect("w");
    let path = dir.path().to_str().expect("utf8");
    let out = p.cli(&["deploy", path, "--name", "two-apps", "--entrypoint", "admin:app"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let guid = latest_guid(&p, "two-apps").await;
    assert_eq!(p.fetch(&format!("/content/{guid}/")).await, (200, b"from admin.py".to_vec()));
    let c: Value = p
        .api(Method::GET, &format!("/__api__/v1/content/{guid}"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!((c["app_mode"].as_str(), c["entrypoint"].as_str()), (Some("python-api"), Some("admin:app")));
}
