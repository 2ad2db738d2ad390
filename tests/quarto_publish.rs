//! `quarto publish connect` against a real Porch.
//!
//! No Quarto binary can be installed on the build machines, so one test replays the exact
//! request sequence of quarto-cli's Connect publisher (src/publish/rsconnect/, see
//! /work/shared/research/connect-api.md, "Quarto"): the anonymous `GET v1/user` that must
//! answer 401, the keyed one, `POST v1/content` with JSON sent as `text/plain;charset=UTF-8`
//! retried on 409 only, the bundle as a Blob (a Content-Length, no Content-Type) built like
//! quarto's `createBundle` (ustar, manifest.json last, `null` fields), the deploy addressed by
//! the bundle's `content_guid`, and the tight `?wait=1` poll loop with no `first`. It
//! publishes a document and a website, then republishes the document. The other test runs
//! the real `quarto publish connect` where `quarto` is on PATH, and records a skip elsewhere
//! (allowed, with its reason, in `tests/allowed-skips.txt`).

mod common;

use std::process::Command;

use common::Porch;
use md5::{Digest, Md5};
use reqwest::Method;
use serde_json::{json, Value};

const TEXT_PLAIN: &str = "text/plain;charset=UTF-8";

/// A bundle as quarto's `createBundle` makes it: files in order, then manifest.json, ustar.
fn quarto_bundle(kind: &str, root_file: &str, files: &[(&str, &[u8])]) -> Vec<u8> {
    let checksums: serde_json::Map<String, Value> = files
        .iter()
        .map(|(name, data)| {
            let sum: String = Md5::digest(data).iter().map(|b| format!("{b:02x}")).collect();
            (name.to_string(), json!({ "checksum": sum }))
        })
        .collect();
    let manifest = json!({
        "version": 1,
        "locale": "en_US",
        "platform": "4.2.0",
        "metadata": {
            "appmode": "static",
            "primary_rmd": null,
            "primary_html": root_file,
            "content_category": if kind == "site" { json!("site") } else { Value::Null },
            "has_parameters": false,
        },
        "packages": null,
        "files": checksums,
        "users": null,
    });
    let manifest = serde_json::to_vec_pretty(&manifest).expect("manifest");
    let enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(enc);
    let all = files.iter().copied().chain(std::iter::once(("manifest.json", manifest.as_slice())));
    for (name, data) in all {
        let mut h = tar::Header::new_ustar();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, name, data).expect("append");
    }
    tar.into_inner().expect("tar").finish().expect("gzip")
}

/// quarto's `RSConnectClient`, request for request.
struct QuartoClient<'a> {
    p: &'a Porch,
    /// Every request made: "METHOD path -> status".
    trace: Vec<String>,
}

impl QuartoClient<'_> {
    async fn fetch(
        &mut self,
        method: Method,
        path: &str,
        key: bool,
        body: Option<reqwest::Body>,
        text_json: bool,
    ) -> (u16, Value) {
        let url = format!("{}/__api__/v1/{path}", self.p.base);
        let mut req = self.p.http.request(method.clone(), &url).header("Accept", "application/json");
        if key {
            req = req.header("Authorization", format!("Key {}", self.p.key));
        }
        if text_json {
            req = req.header("Content-Type", TEXT_PLAIN);
        }
        if let Some(b) = body {
            req = req.body(b);
        }
        let r = req.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = r.status().as_u16();
        let ctype = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        let text = r.text().await.expect("body");
        self.trace.push(format!("{method} {path} -> {status}"));
        // quarto calls response.json() on every success; errors must be JSON for the others.
        assert!(
            ctype.starts_with("application/json"),
            "{method} {path} -> {status} with Content-Type {ctype:?}: {text}"
        );
        let v = serde_json::from_str(&text).unwrap_or_else(|e| panic!("{method} {path}: not JSON ({e}): {text}"));
        (status, v)
    }

    /// `authorizeToken`: an anonymous probe that must say 401, then the keyed user.
    async fn authorize(&mut self) {
        let (status, err) = self.fetch(Method::GET, "user", false, None, false).await;
        assert_eq!(status, 401, "anonymous GET v1/user must be 401 for quarto to recognise Connect: {err}");
        assert!(err["code"].is_i64() && err["error"].is_string(), "error JSON: {err}");
        let (status, user) = self.fetch(Method::GET, "user", true, None, false).await;
        assert_eq!(status, 200, "{user}");
        assert_ne!(user["user_role"], "viewer", "quarto refuses viewers: {user}");
    }

    /// `createContent`, retried with the next name on 409 only.
    async fn create(&mut self, names: &[&str], title: &str) -> Value {
        for name in names {
            let body = serde_json::to_string(&json!({ "name": name, "title": title })).expect("json");
            let (status, v) = self.fetch(Method::POST, "content", true, Some(body.into()), true).await;
            match status {
                200 | 201 => return v,
                409 => {
                    assert_eq!(v["code"], 26, "a duplicate name is code 26: {v}");
                    continue;
                }
                other => panic!("POST v1/content {name}: {other} {v}"),
            }
        }
        panic!("every name was taken: {names:?}");
    }

    /// Upload, deploy by `bundle.content_guid`, poll `?wait=1` until finished.
    async fn upload_and_deploy(&mut self, guid: &str, bundle: Vec<u8>) -> Value {
        let (status, b) =
            self.fetch(Method::POST, &format!("content/{guid}/bundles"), true, Some(bundle.into()), false).await;
        assert_eq!(status, 200, "upload: {b}");
        let content_guid =
            b["content_guid"].as_str().unwrap_or_else(|| panic!("no content_guid in the bundle: {b}")).to_string();
        assert_eq!(content_guid, guid);
        let body = serde_json::to_string(&json!({ "bundle_id": b["id"] })).expect("json");
        let (status, task) =
            self.fetch(Method::POST, &format!("content/{content_guid}/deploy"), true, Some(body.into()), true).await;
        assert!((200..300).contains(&status), "deploy: {status} {task}");
        let id = task["task_id"].as_str().unwrap_or_else(|| panic!("no task_id: {task}")).to_string();
        // The tight loop: no sleep, no `first`. Bounded only so a broken server cannot hang CI.
        for _ in 0..100_000 {
            let (status, t) = self.fetch(Method::GET, &format!("tasks/{id}?wait=1"), true, None, false).await;
            assert_eq!(status, 200, "{t}");
            assert!(t["code"].is_i64(), "task code must always be an integer: {t}");
            if t["finished"] == true {
                assert_eq!(t["code"], 0, "quarto would throw \"{} - {}\"", t["code"], t["error"]);
                return b;
            }
        }
        panic!("task {id} never finished");
    }

    /// The whole `quarto publish connect` of a new target (or an existing one, by guid).
    async fn publish(&mut self, target: Option<&str>, names: &[&str], title: &str, bundle: Vec<u8>) -> Value {
        self.authorize().await;
        let content = match target {
            Some(guid) => {
                let (status, c) = self.fetch(Method::GET, &format!("content/{guid}"), true, None, false).await;
                assert_eq!(status, 200, "an existing target must still be there: {c}");
                c
            }
            None => self.create(names, title).await,
        };
        let guid = content["guid"].as_str().expect("guid").to_string();
        self.upload_and_deploy(&guid, bundle).await;
        let (_, content) = self.fetch(Method::GET, &format!("content/{guid}"), true, None, false).await;
        // quarto prints content_url, opens new URL(dashboard_url) and later re-derives the
        // server from content_url's origin: both absolute, on the origin the user typed.
        assert_eq!(content["content_url"], format!("{}/content/{guid}/", self.p.base));
        assert!(content["dashboard_url"].as_str().expect("dashboard_url").starts_with(&format!("{}/", self.p.base)));
        content
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn quarto_publish_connect_replayed_document_website_and_republish() {
    let p = Porch::start().await;
    let mut q = QuartoClient { p: &p, trace: Vec::new() };

    // A document, whose first random name is taken: quarto retries on the 409.
    let taken = p.create("quarterly-report-0a1b").await;
    let doc_v1 = b"<!doctype html><html><body><h1>QUARTO-DOC-V1</h1></body></html>";
    let bundle = quarto_bundle("document", "quarterly-report.html", &[("quarterly-report.html", doc_v1)]);
    let doc = q.publish(None, &["quarterly-report-0a1b", "quarterly-report-c3d4"], "Quarterly report", bundle).await;
    let doc_guid = doc["guid"].as_str().expect("guid").to_string();
    assert_ne!(doc_guid, taken);
    assert_eq!(doc["name"], "quarterly-report-c3d4");
    assert_eq!(doc["title"], "Quarterly report");
    assert_eq!(doc["app_mode"], "static");
    assert!(q.trace.iter().any(|t| t == "POST content -> 409"), "no 409 was retried: {:?}", q.trace);
    let page = p.get(&format!("/content/{doc_guid}/")).await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.bytes().await.expect("body").as_ref(), doc_v1.as_slice(), "viewer sees the document");

    // A website: several pages, a site_libs asset, content_category "site".
    let nav = b"window.quartoNav = true; // PORCH-SITE-JS";
    let files: [(&str, &[u8]); 4] = [
        ("index.html", b"<!doctype html><h1>QUARTO-SITE-HOME</h1><a href=\"about.html\">About</a>"),
        ("about.html", b"<!doctype html><h1>QUARTO-SITE-ABOUT</h1>"),
        ("site_libs/quarto-nav/quarto-nav.js", nav),
        ("search.json", b"[]"),
    ];
    let site = q.publish(None, &["team-site-77ee"], "Team site", quarto_bundle("site", "index.html", &files)).await;
    let site_guid = site["guid"].as_str().expect("guid").to_string();
    assert_eq!(site["content_category"], "site");
    for (path, want) in [
        ("", "QUARTO-SITE-HOME"),
        ("about.html", "QUARTO-SITE-ABOUT"),
        ("site_libs/quarto-nav/quarto-nav.js", "PORCH-SITE-JS"),
    ] {
        let r = p.get(&format!("/content/{site_guid}/{path}")).await;
        assert_eq!(r.status(), 200, "site /{path}");
        assert!(r.text().await.expect("body").contains(want), "site /{path}");
    }

    // Republish the document to the recorded target: same item, new bundle, new page.
    let doc_v2 = b"<!doctype html><html><body><h1>QUARTO-DOC-V2</h1></body></html>";
    let bundle = quarto_bundle("document", "quarterly-report.html", &[("quarterly-report.html", doc_v2)]);
    let again = q.publish(Some(&doc_guid), &[], "", bundle).await;
    assert_eq!(again["guid"], doc_guid.as_str());
    let bundles: Value = p
        .api(Method::GET, &format!("/__api__/v1/content/{doc_guid}/bundles"))
        .send()
        .await
        .expect("GET")
        .json()
        .await
        .expect("json");
    assert_eq!(bundles.as_array().map(Vec::len), Some(2), "{bundles}");
    let page = p.get(&format!("/content/{doc_guid}/")).await.bytes().await.expect("body");
    assert_eq!(page.as_ref(), doc_v2.as_slice(), "viewer sees the republished document");

    // A stale target (deleted on the server) is a JSON 404, which quarto reads as "publish anew".
    let gone = p.create("gone-doc-1234").await;
    assert_eq!(
        p.api(Method::DELETE, &format!("/__api__/v1/content/{gone}")).send().await.expect("DELETE").status(),
        204
    );
    let (status, err) = q.fetch(Method::GET, &format!("content/{gone}"), true, None, false).await;
    assert_eq!((status, err["code"].clone()), (404, json!(4)), "{err}");

    let landing = p.get("/").await.text().await.expect("landing");
    assert!(landing.contains("Quarterly report") && landing.contains("Team site"), "landing page:\n{landing}");
    let polls = q.trace.iter().filter(|t| t.starts_with("GET tasks/")).count();
    eprintln!("quarto replay: {} requests, {polls} task polls for 3 publishes", q.trace.len());
    p.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn quarto_publish_connect_for_real_where_quarto_exists() {
    let has_quarto = Command::new("quarto").arg("--version").output().map(|o| o.status.success()).unwrap_or(false);
    if !has_quarto {
        // Quarto cannot be installed on the CI machines (see the module docs), so this is a
        // skip everywhere without it, CI included; the replay above always runs.
        common::skip_or_fail("quarto_publish_connect_for_real_where_quarto_exists", "quarto is not on PATH");
        return;
    }
    let p = Porch::start().await;
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path().join("report");
    common::copy_tree(&common::fixture("frameworks/quarto"), &dir);
    let home = tempfile::tempdir().expect("home");
    let mut cmd = Command::new("quarto");
    cmd.args(["publish", "connect", "report.qmd", "--no-prompt", "--no-browser"])
        .current_dir(&dir)
        .env("HOME", home.path())
        .env("CONNECT_SERVER", &p.base)
        .env("CONNECT_API_KEY", &p.key)
        .env("NO_PROXY", "127.0.0.1,localhost");
    let out = common::run_with_timeout(&mut cmd, 600);
    let text = common::plain_text(&out);
    assert!(out.status.success(), "quarto publish connect failed:\n{text}");
    let items: Value = p.api(Method::GET, "/__api__/v1/content").send().await.expect("GET").json().await.expect("json");
    let guid = items[0]["guid"].as_str().expect("guid");
    assert!(text.contains(&format!("/content/{guid}/")), "quarto did not print the content URL:\n{text}");
    let html = p.get(&format!("/content/{guid}/")).await.text().await.expect("html");
    assert!(html.contains("PORCH-QUARTO"), "{html}");
    // Republish: the _publish.yml record sends it to the same item.
    let out = common::run_with_timeout(&mut cmd, 600);
    assert!(out.status.success(), "quarto republish failed:\n{}", common::plain_text(&out));
    let items: Value = p.api(Method::GET, "/__api__/v1/content").send().await.expect("GET").json().await.expect("json");
    assert_eq!(items.as_array().map(Vec::len), Some(1), "{items}");
    p.shutdown();
}
