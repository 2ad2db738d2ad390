//! `porch promote`: one Porch promotes items to a second Porch acting as the Connect target
//! (it speaks the same API), both real servers on ephemeral ports, through the real CLI.
//!
//! Covered: a static site (same bytes served), a notebook (the page carries the same marker
//! text), a FastAPI app (same answers); title, description, runtime settings, variable
//! names, vanity path and access arrive; a re-promotion adds a bundle; `--draft` leaves the
//! active bundle; `--replace` is required to adopt a same-named item; the report lists a
//! schedule; `--dry-run` changes nothing; `porch export`. Bad inputs each end in one line
//! and a non-zero exit with nothing left on the target. Every bundle Porch sends is also
//! deployed with the real `rsconnect deploy bundle --new`. The HTTPS test puts Debian's
//! nginx with a certificate from a throw-away CA in front of the target.
//!
//! The request sequence of a first promotion is written to
//! `tests/fixtures/promote-sequence.txt` and compared with the committed copy.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use common::{
    eventually, fixture, have_uv, plain_text, porch_bin, skip_or_fail, targz, uv_cache, Opts, Porch, Rsconnect,
};
use reqwest::Method;
use serde_json::{json, Value};

/// Seconds an rsconnect command may take.
const RSCONNECT_TIMEOUT: u64 = 600;

/// Runs the CLI against `p`'s data folder with extra environment and standard input.
fn porch(p: &Porch, args: &[&str], env: &[(&str, &str)], stdin: Option<&str>) -> Output {
    let mut cmd = Command::new(porch_bin());
    cmd.args(args)
        .arg("--data-dir")
        .arg(p.data_dir())
        .env("PORCH_UV_CACHE_DIR", uv_cache())
        .env_remove("CONNECT_API_KEY");
    for (k, v) in env {
        cmd.env(k, v);
    }
    common::run_with_stdin(&mut cmd, stdin)
}

/// Saves `dst` as target `name` of `src` (the key from CONNECT_API_KEY).
fn add_target(src: &Porch, name: &str, dst: &Porch) {
    let out = porch(src, &["target", "add", name, &format!("{}/", dst.base)], &[("CONNECT_API_KEY", &dst.key)], None);
    assert!(out.status.success(), "target add");
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The command's error: exactly one `porch:` line on stderr, non-zero exit.
fn one_error_line(out: &Output) -> String {
    assert!(!out.status.success(), "expected a failure, got success:\n{}", stdout(out));
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("porch: ")).collect();
    assert_eq!(lines.len(), 1, "one error line expected in {err}");
    lines[0].to_string()
}

async fn json_of(p: &Porch, method: Method, path: &str, body: Option<Value>) -> Value {
    let mut req = p.api(method, path);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let r = req.send().await.expect("request");
    let status = r.status();
    let text = r.text().await.expect("body");
    assert!(status.is_success(), "{path}: {status} {text}");
    serde_json::from_str(&text).unwrap_or(Value::Null)
}

/// The item named `name` on `p`, if any.
async fn item(p: &Porch, name: &str) -> Option<Value> {
    let list = json_of(p, Method::GET, &format!("/__api__/v1/content?name={name}"), None).await;
    list.as_array().and_then(|l| l.iter().find(|c| c["name"] == name).cloned())
}

async fn bundles(p: &Porch, guid: &str) -> Vec<Value> {
    json_of(p, Method::GET, &format!("/__api__/v1/content/{guid}/bundles"), None)
        .await
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// Deploys a folder on `p` with the CLI; returns the item's guid.
fn deploy_dir(p: &Porch, dir: &Path, name: &str, title: &str) -> String {
    let out = p.cli(&["deploy", dir.to_str().expect("utf8"), "--name", name, "--title", title]);
    assert!(out.status.success(), "deploy {name}: {}", String::from_utf8_lossy(&out.stderr));
    let list: Vec<Value> = serde_json::from_slice(&p.cli(&["list", "--json"]).stdout).expect("json");
    list.iter().find(|c| c["name"] == name).and_then(|c| c["guid"].as_str()).expect("guid").to_string()
}

/// Downloads the target's bundle `id` of `guid` to a file.
async fn download(p: &Porch, guid: &str, id: &str, to: &Path) -> Vec<u8> {
    let r = p.api(Method::GET, &format!("/__api__/v1/content/{guid}/bundles/{id}/download")).send().await.expect("dl");
    assert_eq!(r.status(), 200);
    let bytes = r.bytes().await.expect("bytes").to_vec();
    std::fs::write(to, &bytes).expect("write bundle");
    bytes
}

/// Deploys an archive with the real `rsconnect deploy bundle --new` to `p`; returns the new
/// item's content path.
fn rsconnect_deploys(rsc: &Rsconnect, p: &Porch, archive: &Path) -> String {
    let out = rsc.run(
        &["deploy", "bundle", "-s", &p.base, "-k", &p.key, "--new", archive.to_str().expect("utf8")],
        RSCONNECT_TIMEOUT,
    );
    let text = plain_text(&out);
    assert!(out.status.success(), "rsconnect deploy bundle refused the bundle:\n{text}");
    let url = text
        .lines()
        .find_map(|l| l.split_once("Direct content URL:").map(|(_, u)| u.trim().to_string()))
        .unwrap_or_else(|| panic!("no content URL in {text}"));
    url.strip_prefix(&p.base).expect("same origin").to_string()
}

/// The request sequence of a report (`METHOD path -> status`), with ids replaced by
/// placeholders and repeated task polls collapsed.
fn normalised_sequence(report: &Value) -> String {
    let mut out: Vec<String> = Vec::new();
    for r in report["requests"].as_array().expect("requests") {
        let line = r.as_str().expect("line");
        let (method, rest) = line.split_once(' ').expect("method");
        let (path, status) = rest.split_once(" -> ").expect("status");
        let (path, query) = path.split_once('?').unwrap_or((path, ""));
        let segs: Vec<&str> = path.split('/').collect();
        let mut norm = Vec::new();
        for (i, seg) in segs.iter().enumerate() {
            let prev = if i > 0 { segs[i - 1] } else { "" };
            let is_guid = seg.len() == 36 && seg.chars().filter(|c| *c == '-').count() == 4;
            norm.push(if is_guid {
                "{guid}".to_string()
            } else if prev == "tasks" {
                "{task}".to_string()
            } else if prev == "bundles" && seg.chars().all(|c| c.is_ascii_digit()) {
                "{bundle}".to_string()
            } else {
                seg.to_string()
            });
        }
        let query = if path.contains("/tasks/") {
            "?first={n}&wait=1".to_string()
        } else if query.is_empty() {
            String::new()
        } else {
            format!("?{query}")
        };
        let l = format!("{method} {}{query} -> {status}", norm.join("/"));
        if out.last() != Some(&l) {
            out.push(l);
        }
    }
    out.join("\n") + "\n"
}

/// Starts a promotion through the API and waits for it; returns (task, report).
async fn promote_api(src: &Porch, guid: &str, body: Value) -> (Value, Value) {
    let started = json_of(src, Method::POST, &format!("/__api__/porch/content/{guid}/promote"), Some(body)).await;
    let task_id = started["task_id"].as_str().expect("task id").to_string();
    let task = src.wait_task(&task_id).await;
    let report = json_of(src, Method::GET, &format!("/__api__/porch/promotions/{task_id}"), None).await;
    (task, report)
}

fn rsconnect_or_skip(test: &str) -> Option<Rsconnect> {
    let rsc = Rsconnect::find(test)?;
    if !have_uv() {
        skip_or_fail(test, "uv is not installed");
        return None;
    }
    Some(rsc)
}

#[tokio::test(flavor = "multi_thread")]
async fn static_site_promotes_with_settings_variables_and_repeats() {
    let Some(rsc) = rsconnect_or_skip("static_site_promotes") else { return };
    let (src, dst) = (Porch::start().await, Porch::start().await);
    let guid = deploy_dir(&src, &fixture("site"), "site", "The Site");
    json_of(
        &src,
        Method::PATCH,
        &format!("/__api__/v1/content/{guid}"),
        Some(json!({ "description": "Quarterly numbers", "max_processes": 4 })),
    )
    .await;
    json_of(
        &src,
        Method::PATCH,
        &format!("/__api__/v1/content/{guid}/environment"),
        Some(json!([{ "name": "API_TOKEN", "value": "s3cr3t-value" }])),
    )
    .await;
    json_of(&src, Method::PUT, &format!("/__api__/v1/content/{guid}/vanity"), Some(json!({ "path": "/numbers/" })))
        .await;
    assert!(src.cli(&["access", "site", "local"]).status.success());

    // Targets: the key from the environment or stdin, never listed.
    add_target(&src, "dst", &dst);
    let out =
        porch(&src, &["target", "add", "other", "https://[::1]:9/__api__/"], &[], Some(&format!("{}\n", dst.key)));
    assert!(!out.status.success(), "no key without --api-key-stdin");
    let out = porch(&src, &["target", "add", "other", "https://[::1]:9/__api__/", "--api-key-stdin"], &[], Some("k\n"));
    assert!(out.status.success());
    let listed = stdout(&porch(&src, &["target", "list"], &[], None));
    assert!(listed.contains("dst") && listed.contains(&dst.base) && listed.contains("https://[::1]:9"), "{listed}");
    assert!(!listed.contains(&dst.key), "a key was listed");
    let api_list = json_of(&src, Method::GET, "/__api__/porch/targets", None).await.to_string();
    assert!(!api_list.contains(&dst.key) && api_list.contains("dst"), "{api_list}");
    use std::os::unix::fs::PermissionsExt as _;
    let mode = std::fs::metadata(src.data_dir().join("targets.json")).expect("targets file").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    assert!(porch(&src, &["target", "rm", "other"], &[], None).status.success());
    assert!(!stdout(&porch(&src, &["target", "list"], &[], None)).contains("other"));

    // A dry run changes nothing.
    let dry = porch(&src, &["promote", "site", "--to", "dst", "--dry-run"], &[], None);
    assert!(dry.status.success());
    assert!(stdout(&dry).contains("Would create site"), "{}", stdout(&dry));
    assert!(item(&dst, "site").await.is_none(), "a dry run created the item");

    // First promotion, through the API the CLI uses; its requests are the committed sequence.
    let (task, report) = promote_api(&src, &guid, json!({ "to": "dst" })).await;
    assert_eq!(task["code"], 0, "{task}");
    let log = task["output"]
        .as_array()
        .expect("output")
        .iter()
        .map(|l| l.as_str().unwrap_or(""))
        .collect::<Vec<_>>()
        .join("\n");
    assert!(!log.contains("s3cr3t-value") && !log.contains(&dst.key), "a secret reached the log");
    assert!(log.contains("API_TOKEN"), "{log}");
    let sequence = normalised_sequence(&report);
    let committed = fixture("promote-sequence.txt");
    let before = std::fs::read_to_string(&committed).unwrap_or_default();
    std::fs::write(&committed, &sequence).expect("write the sequence");
    assert_eq!(before, sequence, "the request sequence changed; review tests/fixtures/promote-sequence.txt");

    let remote = item(&dst, "site").await.expect("promoted item");
    let rguid = remote["guid"].as_str().expect("guid").to_string();
    assert_eq!(report["target_guid"], rguid.as_str());
    assert_eq!(remote["title"], "The Site");
    assert_eq!(remote["description"], "Quarterly numbers");
    assert_eq!(remote["max_processes"], 4);
    assert_eq!(remote["access_type"], "acl", "local → acl");
    let names = json_of(&dst, Method::GET, &format!("/__api__/v1/content/{rguid}/environment"), None).await;
    assert_eq!(names, json!(["API_TOKEN"]));
    let vanity = json_of(&dst, Method::GET, &format!("/__api__/v1/content/{rguid}/vanity"), None).await;
    assert_eq!(vanity["path"], "/numbers/");
    // Same bytes served (as the owner: the item is owner-only on both).
    for page in ["index.html", "sub/"] {
        let a = src
            .api(Method::GET, &format!("/content/{guid}/{page}"))
            .send()
            .await
            .expect("src")
            .bytes()
            .await
            .expect("b");
        let b = dst
            .api(Method::GET, &format!("/content/{rguid}/{page}"))
            .send()
            .await
            .expect("dst")
            .bytes()
            .await
            .expect("b");
        assert!(!a.is_empty());
        assert_eq!(a, b, "{page} differs");
    }

    // Again: a second bundle on the same item; then a draft leaves the active one.
    let again = porch(&src, &["promote", "site", "--to", "dst"], &[], None);
    assert!(again.status.success());
    assert!(stdout(&again).contains("Found the item promoted before"), "{}", stdout(&again));
    assert_eq!(bundles(&dst, &rguid).await.len(), 2);
    let active = item(&dst, "site").await.expect("item")["bundle_id"].clone();
    let draft = porch(&src, &["promote", "site", "--to", "dst", "--draft"], &[], None);
    assert!(draft.status.success());
    assert_eq!(bundles(&dst, &rguid).await.len(), 3);
    assert_eq!(item(&dst, "site").await.expect("item")["bundle_id"], active, "--draft activated the bundle");

    // rsconnect accepts what Porch sent, and the export is the same archive.
    let work = tempfile::tempdir().expect("tmp");
    let sent =
        download(&dst, &rguid, report["target_bundle_id"].as_str().expect("bundle"), &work.path().join("sent.tar.gz"))
            .await;
    let path = rsconnect_deploys(&rsc, &dst, &work.path().join("sent.tar.gz"));
    let (status, body) = dst.fetch(&format!("{path}index.html")).await;
    assert_eq!((status, body), (200, std::fs::read(fixture("site/index.html")).expect("index")));
    let export = work.path().join("export");
    let out = porch(&src, &["export", "site", "--to", export.to_str().expect("utf8")], &[], None);
    assert!(out.status.success());
    let exported = std::fs::read(export.join("site.tar.gz")).expect("exported archive");
    assert_eq!(exported, sent, "export differs from what promote sent");
    let readme = std::fs::read_to_string(export.join("README.md")).expect("README");
    assert!(
        readme.contains("rsconnect deploy bundle") && readme.contains("API_TOKEN") && readme.contains("max_processes"),
        "{readme}"
    );
    assert!(!readme.contains("s3cr3t-value"));
    let refused = porch(&src, &["export", "site", "--to", export.to_str().expect("utf8")], &[], None);
    assert!(one_error_line(&refused).contains("not empty"));
    assert!(porch(&src, &["export", "site", "--to", export.to_str().expect("utf8"), "--force"], &[], None)
        .status
        .success());
    rsconnect_deploys(&rsc, &dst, &export.join("site.tar.gz"));
    src.shutdown();
    dst.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn replace_is_required_to_adopt_a_same_named_item() {
    let (src, dst) = (Porch::start().await, Porch::start().await);
    deploy_dir(&src, &fixture("site"), "site", "Site");
    let theirs = dst.create("site").await;
    add_target(&src, "dst", &dst);
    let out = porch(&src, &["promote", "site", "--to", "dst"], &[], None);
    let line = one_error_line(&out);
    assert!(line.contains("already exists") && line.contains("--replace"), "{line}");
    assert!(bundles(&dst, &theirs).await.is_empty(), "the refused promotion uploaded");
    let dry = porch(&src, &["promote", "site", "--to", "dst", "--replace", "--dry-run"], &[], None);
    assert!(dry.status.success());
    assert!(bundles(&dst, &theirs).await.is_empty(), "the dry run uploaded");
    let out = porch(&src, &["promote", "site", "--to", "dst", "--replace"], &[], None);
    assert!(out.status.success());
    assert_eq!(bundles(&dst, &theirs).await.len(), 1);
    assert_eq!(item(&dst, "site").await.expect("item")["guid"], theirs.as_str(), "adopted, not duplicated");
    // Adopted items are remembered: no --replace needed again.
    assert!(porch(&src, &["promote", "site", "--to", "dst"], &[], None).status.success());
    assert_eq!(bundles(&dst, &theirs).await.len(), 2);
    src.shutdown();
    dst.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_inputs_end_in_one_line_and_leave_nothing_behind() {
    let (src, dst) = (Porch::start().await, Porch::start().await);
    deploy_dir(&src, &fixture("site"), "site", "Site");

    // A wrong key.
    let out = porch(&src, &["promote", "site", "--to", &dst.base, "--api-key", "wrong"], &[], None);
    assert!(one_error_line(&out).contains("refused the API key"));
    // A URL target without a key.
    let out = porch(&src, &["promote", "site", "--to", &dst.base], &[], None);
    assert!(one_error_line(&out).contains("needs its API key"));
    // An unknown target name.
    let out = porch(&src, &["promote", "site", "--to", "nowhere"], &[], None);
    assert!(one_error_line(&out).contains("nowhere"));
    // Nothing listens (a port just released).
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let out = porch(
        &src,
        &["promote", "site", "--to", &format!("http://127.0.0.1:{port}")],
        &[("CONNECT_API_KEY", "k")],
        None,
    );
    assert!(one_error_line(&out).contains("cannot reach"));
    // A manifest pinning a Python the target lacks.
    let manifest = br#"{"version":1,"metadata":{"appmode":"static","primary_html":"index.html"},"python":{"version":"3.4.10","package_manager":{"name":"pip","package_file":"requirements.txt"}},"files":{}}"#;
    let old = src.create("old-python").await;
    src.publish(&old, targz(&[("manifest.json", manifest), ("index.html", b"<p>old</p>")])).await;
    let out = porch(&src, &["promote", "old-python", "--to", &dst.base, "--api-key-stdin"], &[], Some(&dst.key));
    let line = one_error_line(&out);
    assert!(line.contains("no Python 3.4") && line.contains("3.4.10"), "{line}");
    // An item with no bundle.
    src.create("empty").await;
    let out = porch(&src, &["promote", "empty", "--to", &dst.base], &[("CONNECT_API_KEY", &dst.key)], None);
    assert!(one_error_line(&out).contains("has no bundle"));
    let left = json_of(&dst, Method::GET, "/__api__/v1/content", None).await;
    assert_eq!(left, json!([]), "a failed promotion left items on the target");

    // A target that refuses the upload as too large: the item created for it is deleted again.
    let small =
        Porch::start_with(Opts { args: vec!["--max-bundle-bytes".into(), "64".into()], ..Opts::default() }).await;
    let out = porch(&src, &["promote", "site", "--to", &small.base], &[("CONNECT_API_KEY", &small.key)], None);
    assert!(one_error_line(&out).contains("too large (413)"));
    assert!(stdout(&out).contains("Deleted the item this promotion created"), "{}", stdout(&out));
    assert_eq!(json_of(&small, Method::GET, "/__api__/v1/content", None).await, json!([]));
    src.shutdown();
    dst.shutdown();
    small.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn notebook_promotes_and_the_report_lists_its_schedule() {
    let Some(rsc) = rsconnect_or_skip("notebook_promotes") else { return };
    let (src, dst) = (Porch::start().await, Porch::start().await);
    let work = tempfile::tempdir().expect("tmp");
    let nb = json!({
        "cells": [{ "cell_type": "code", "execution_count": null, "metadata": {}, "outputs": [],
                    "source": ["print('PROMOTED-' + 'MARKER', 6 * 7)"] }],
        "metadata": { "kernelspec": { "name": "python3", "display_name": "Python 3", "language": "python" } },
        "nbformat": 4, "nbformat_minor": 5
    });
    let dir = work.path().join("nb");
    std::fs::create_dir_all(&dir).expect("mkdir");
    std::fs::write(dir.join("report.ipynb"), nb.to_string()).expect("write");
    let guid = deploy_dir(&src, &dir, "report", "Report");
    let sched =
        json!({ "type": "day", "schedule": "{\"N\":1}", "timezone": "UTC", "start_time": common::rfc3339_in(3600) });
    json_of(&src, Method::POST, &format!("/__api__/v1/content/{guid}/schedules"), Some(sched)).await;
    add_target(&src, "dst", &dst);
    let out = porch(&src, &["promote", "report", "--to", "dst"], &[], None);
    assert!(out.status.success());
    let text = stdout(&out);
    assert!(text.contains("[ ] schedule") && text.contains("day"), "{text}");
    assert!(text.contains("requirements.txt frozen"), "{text}");
    let remote = item(&dst, "report").await.expect("promoted");
    let rguid = remote["guid"].as_str().expect("guid").to_string();
    let page = eventually(120, "the rendered notebook on the target", || async {
        let (s, b) = dst.fetch(&format!("/content/{rguid}/")).await;
        let b = String::from_utf8_lossy(&b).into_owned();
        (s == 200 && b.contains("PROMOTED-MARKER 42")).then_some(b)
    })
    .await;
    assert!(page.contains("PROMOTED-MARKER 42"));
    let b = bundles(&dst, &rguid).await;
    let id = b[0]["id"].as_str().expect("id");
    download(&dst, &rguid, id, &work.path().join("sent.tar.gz")).await;
    let path = rsconnect_deploys(&rsc, &dst, &work.path().join("sent.tar.gz"));
    let page = eventually(120, "the notebook rsconnect deployed", || async {
        let (s, b) = dst.fetch(&path).await;
        (s == 200 && String::from_utf8_lossy(&b).contains("PROMOTED-MARKER 42")).then_some(())
    })
    .await;
    let () = page;
    src.shutdown();
    dst.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn fastapi_app_promotes_and_answers_the_same() {
    let Some(rsc) = rsconnect_or_skip("fastapi_promotes") else { return };
    let (src, dst) = (Porch::start().await, Porch::start().await);
    let work = tempfile::tempdir().expect("tmp");
    let dir = work.path().join("api");
    common::copy_tree(&fixture("apps/fastapi-app"), &dir);
    let guid = deploy_dir(&src, &dir, "api", "The API");
    json_of(
        &src,
        Method::PATCH,
        &format!("/__api__/v1/content/{guid}/environment"),
        Some(json!([{ "name": "GREETING", "value": "hej" }])),
    )
    .await;
    json_of(&src, Method::PATCH, &format!("/__api__/v1/content/{guid}"), Some(json!({ "idle_timeout": 120 }))).await;
    add_target(&src, "dst", &dst);
    let out = porch(&src, &["promote", "api", "--to", "dst"], &[], None);
    assert!(out.status.success());
    let remote = item(&dst, "api").await.expect("promoted");
    let rguid = remote["guid"].as_str().expect("guid").to_string();
    assert_eq!(remote["idle_timeout"], 120);
    assert_eq!(remote["app_mode"], "python-fastapi");
    let answer = |p: &Porch, g: String| {
        let r = p.api(Method::GET, &format!("/content/{g}/"));
        async move { r.send().await.expect("GET").json::<Value>().await.expect("json") }
    };
    let (a, b) = (answer(&src, guid.clone()).await, answer(&dst, rguid.clone()).await);
    assert_eq!((a["hello"].clone(), a["greeting"].clone()), (json!("porch"), json!("hej")));
    assert_eq!((b["hello"].clone(), b["greeting"].clone()), (a["hello"].clone(), a["greeting"].clone()));
    let sleep = dst.api(Method::GET, &format!("/content/{rguid}/sleep?ms=1")).send().await.expect("GET");
    assert_eq!(sleep.json::<Value>().await.expect("json"), json!({ "slept": 1 }));
    let b = bundles(&dst, &rguid).await;
    download(&dst, &rguid, b[0]["id"].as_str().expect("id"), &work.path().join("sent.tar.gz")).await;
    let path = rsconnect_deploys(&rsc, &dst, &work.path().join("sent.tar.gz"));
    let r = dst.api(Method::GET, &path).send().await.expect("GET");
    assert_eq!(r.json::<Value>().await.expect("json")["hello"], "porch");
    src.shutdown();
    dst.shutdown();
}

// ---- HTTPS ---------------------------------------------------------------------------------

/// Debian's nginx terminating TLS on an ephemeral port in front of `upstream`.
struct Nginx {
    child: std::process::Child,
    port: u16,
    _dir: tempfile::TempDir,
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn run_ok(cmd: &mut Command) {
    let out = cmd.output().expect("run");
    assert!(out.status.success(), "{cmd:?}: {}", String::from_utf8_lossy(&out.stderr));
}

/// A throw-away CA and a server certificate for 127.0.0.1 signed by it; returns the CA's PEM.
fn certificates(dir: &Path) -> PathBuf {
    let p = |f: &str| dir.join(f).to_str().expect("utf8").to_string();
    run_ok(Command::new("openssl").args([
        "req",
        "-x509",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-days",
        "1",
        "-subj",
        "/CN=Porch test CA",
        "-keyout",
        &p("ca.key"),
        "-out",
        &p("ca.pem"),
    ]));
    run_ok(Command::new("openssl").args([
        "req",
        "-newkey",
        "rsa:2048",
        "-nodes",
        "-subj",
        "/CN=127.0.0.1",
        "-keyout",
        &p("server.key"),
        "-out",
        &p("server.csr"),
    ]));
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .expect("ext");
    run_ok(Command::new("openssl").args([
        "x509",
        "-req",
        "-in",
        &p("server.csr"),
        "-CA",
        &p("ca.pem"),
        "-CAkey",
        &p("ca.key"),
        "-CAcreateserial",
        "-days",
        "1",
        "-extfile",
        &p("ext.cnf"),
        "-out",
        &p("server.pem"),
    ]));
    dir.join("ca.pem")
}

fn nginx(upstream: &str, dir: tempfile::TempDir) -> Option<Nginx> {
    let Ok(bin) = which("nginx") else {
        skip_or_fail("https_promotion", "nginx is not installed (Debian package nginx)");
        return None;
    };
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port();
    let d = dir.path().display();
    let conf = format!(
        "daemon off; master_process off; worker_processes 1; pid {d}/nginx.pid; error_log {d}/error.log;\n\
         events {{ worker_connections 64; }}\n\
         http {{ access_log off; client_body_temp_path {d}/body; proxy_temp_path {d}/proxy; \
         fastcgi_temp_path {d}/fcgi; uwsgi_temp_path {d}/uwsgi; scgi_temp_path {d}/scgi; client_max_body_size 100m;\n\
         server {{ listen 127.0.0.1:{port} ssl; ssl_certificate {d}/server.pem; ssl_certificate_key {d}/server.key;\n\
         location / {{ proxy_pass {upstream}; proxy_set_header Host $http_host; proxy_set_header X-Forwarded-Proto https; \
         proxy_http_version 1.1; proxy_buffering off; proxy_read_timeout 300s; }} }} }}\n"
    );
    std::fs::write(dir.path().join("nginx.conf"), conf).expect("conf");
    let child = Command::new(bin)
        .args(["-p", &d.to_string(), "-c", &format!("{d}/nginx.conf")])
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("start nginx");
    Some(Nginx { child, port, _dir: dir })
}

fn which(name: &str) -> Result<PathBuf, ()> {
    for dir in ["/usr/sbin", "/usr/bin", "/sbin", "/bin"] {
        let p = Path::new(dir).join(name);
        if p.is_file() {
            return Ok(p);
        }
    }
    Err(())
}

#[tokio::test(flavor = "multi_thread")]
async fn https_target_needs_its_ca_file() {
    let (src, dst) = (Porch::start().await, Porch::start().await);
    let dir = tempfile::tempdir().expect("tmp");
    let ca = certificates(dir.path());
    let ca_copy = src.data_dir().parent().expect("tmp").join(format!("ca-{}.pem", std::process::id()));
    std::fs::copy(&ca, &ca_copy).expect("ca copy");
    let Some(proxy) = nginx(&dst.base, dir) else { return };
    let url = format!("https://127.0.0.1:{}", proxy.port);
    eventually(30, "nginx to listen", || async {
        std::net::TcpStream::connect(("127.0.0.1", proxy.port)).ok().map(drop)
    })
    .await;
    deploy_dir(&src, &fixture("site"), "site", "Site");

    let out = porch(&src, &["target", "add", "tls", &url], &[("CONNECT_API_KEY", &dst.key)], None);
    assert!(out.status.success());
    let line = one_error_line(&porch(&src, &["promote", "site", "--to", "tls"], &[], None));
    assert!(line.contains("certificate") && line.contains("--ca-file"), "{line}");
    assert!(item(&dst, "site").await.is_none());

    let ca_arg = ca_copy.to_str().expect("utf8");
    let out = porch(&src, &["target", "add", "tls", &url, "--ca-file", ca_arg], &[("CONNECT_API_KEY", &dst.key)], None);
    assert!(out.status.success());
    let out = porch(&src, &["promote", "site", "--to", "tls"], &[], None);
    assert!(out.status.success());
    let remote = item(&dst, "site").await.expect("promoted over HTTPS");
    let (_, body) = dst.fetch(&format!("/content/{}/index.html", remote["guid"].as_str().expect("guid"))).await;
    assert_eq!(body, std::fs::read(fixture("site/index.html")).expect("index"));
    let _ = std::fs::remove_file(&ca_copy);
    drop(proxy);
    src.shutdown();
    dst.shutdown();
}
