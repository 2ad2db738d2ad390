//! rsconnect-python workflows beyond a first deploy, with the real `rsconnect` CLI against a
//! real Porch: deploy of a git checkout (multipart upload with git metadata), `-E NAME=VALUE`,
//! redeploy, `--new`, `--app-id`, `--draft` (with the `_bundle{id}` preview, then
//! activation), `details`, and `content search/describe/download-bundle/get-lockfile/build`. Each step checks what
//! rsconnect printed and what a viewer then sees.

mod common;

use std::path::Path;
use std::process::Command;

use common::{copy_tree, plain_text as text, Porch, Rsconnect};
use reqwest::Method;
use serde_json::Value;

/// Seconds any one `rsconnect` invocation may take (a first deploy builds a Flask venv).
const TIMEOUT: u64 = 600;

fn printed(output: &str, label: &str) -> Option<String> {
    output.lines().find_map(|l| l.split_once(label).map(|(_, u)| u.trim().to_string()))
}

async fn json_get(p: &Porch, path: &str) -> Value {
    let r = p.api(Method::GET, path).send().await.expect("GET");
    let status = r.status();
    let body = r.text().await.expect("body");
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"))
}

/// What a keyless viewer gets at `path`: (status, body).
async fn view(p: &Porch, path: &str) -> (u16, String) {
    let r = p.get(path).await;
    (r.status().as_u16(), r.text().await.expect("body"))
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_AUTHOR_NAME", "Porch Test")
        .env("GIT_AUTHOR_EMAIL", "test@porch.invalid")
        .env("GIT_COMMITTER_NAME", "Porch Test")
        .env("GIT_COMMITTER_EMAIL", "test@porch.invalid")
        .output()
        .expect("git");
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

fn set_version(dir: &Path, v: &str) {
    let app = std::fs::read_to_string(dir.join("app.py")).expect("app.py");
    let start = app.find("VERSION = ").expect("VERSION line");
    let end = start + app[start..].find('\n').expect("eol");
    std::fs::write(dir.join("app.py"), format!("{}VERSION = \"{v}\"{}", &app[..start], &app[end..]))
        .expect("write app.py");
}

fn ok(out: &std::process::Output, what: &str) -> String {
    let t = text(out);
    assert!(out.status.success(), "{what} failed:\n{t}");
    t
}

#[tokio::test(flavor = "multi_thread")]
async fn rsconnect_redeploy_new_env_draft_and_content_commands() {
    let Some(rsc) = Rsconnect::find("rsconnect_workflows") else { return };
    if Command::new("git").arg("--version").output().map(|o| !o.status.success()).unwrap_or(true) {
        common::skip_or_fail("rsconnect_workflows", "git is not installed");
        return;
    }
    let p = Porch::start().await;
    let add = rsc.run(&["add", "-n", "porch", "-s", &p.base, "-k", &p.key], TIMEOUT);
    let add_text = ok(&add, "rsconnect add");
    assert!(add_text.contains("porch"), "{add_text}");

    // A git checkout: rsconnect sends a multipart upload with the commit as metadata.
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path().join("envapp");
    copy_tree(&common::fixture("clients/envapp"), &dir);
    git(&dir, &["init", "-q", "-b", "main"]);
    git(&dir, &["add", "."]);
    git(&dir, &["commit", "-q", "-m", "first"]);
    let commit = git(&dir, &["rev-parse", "HEAD"]);
    let d = dir.to_str().expect("utf8");

    let first = rsc.run(
        &["deploy", "api", "-n", "porch", "--entrypoint", "app:app", "-t", "Env app", "-E", "GREETING=hello", d],
        TIMEOUT,
    );
    let first_text = ok(&first, "rsconnect deploy api -E");
    let url =
        printed(&first_text, "Direct content URL:").unwrap_or_else(|| panic!("no content URL printed:\n{first_text}"));
    let items = json_get(&p, "/__api__/v1/content").await;
    assert_eq!(items.as_array().map(Vec::len), Some(1), "{items}");
    let guid = items[0]["guid"].as_str().expect("guid").to_string();
    assert_eq!(url, format!("{}/content/{guid}/", p.base));
    let dash = printed(&first_text, "Dashboard content URL:")
        .unwrap_or_else(|| panic!("no dashboard URL printed:\n{first_text}"));
    assert_eq!(dash, format!("{}/__porch__/#/content/{guid}", p.base), "dashboard URL printed");
    let root = format!("/content/{guid}/");
    let (status, page) = view(&p, &root).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("ENVAPP-V1") && page.contains("GREETING=hello"), "viewer page: {page}");
    let env = json_get(&p, &format!("/__api__/v1/content/{guid}/environment")).await;
    assert_eq!(env, serde_json::json!(["GREETING"]), "names only");

    // The git metadata is recorded with the bundle.
    let bundles = json_get(&p, &format!("/__api__/v1/content/{guid}/bundles")).await;
    let meta = &bundles[0]["metadata"];
    assert_eq!(meta["source"], "git", "bundle metadata: {}", bundles[0]);
    assert_eq!(meta["source_commit"], commit.as_str(), "bundle metadata: {}", bundles[0]);
    assert_eq!(meta["source_branch"], "main", "bundle metadata: {}", bundles[0]);

    // Redeploy (the deployment record names the guid) with a new value and a new version.
    set_version(&dir, "ENVAPP-V2");
    let again =
        rsc.run(&["deploy", "api", "-n", "porch", "--entrypoint", "app:app", "-E", "GREETING=again", d], TIMEOUT);
    let again_text = ok(&again, "rsconnect redeploy");
    assert_eq!(
        printed(&again_text, "Direct content URL:"),
        Some(url.clone()),
        "redeploy went elsewhere:\n{again_text}"
    );
    let (_, page) = view(&p, &root).await;
    assert!(page.contains("ENVAPP-V2") && page.contains("GREETING=again"), "after redeploy: {page}");
    assert_eq!(json_get(&p, "/__api__/v1/content").await.as_array().map(Vec::len), Some(1));

    // --draft: uploaded and built, previewable at _bundle{id}, not live.
    set_version(&dir, "ENVAPP-DRAFT");
    let active_before = json_get(&p, &format!("/__api__/v1/content/{guid}")).await["bundle_id"].clone();
    let draft = rsc.run(&["deploy", "api", "-n", "porch", "--entrypoint", "app:app", "--draft", d], TIMEOUT);
    let draft_text = ok(&draft, "rsconnect deploy --draft");
    let item = json_get(&p, &format!("/__api__/v1/content/{guid}")).await;
    assert_eq!(item["bundle_id"], active_before, "a draft deploy changed the active bundle");
    let bundles = json_get(&p, &format!("/__api__/v1/content/{guid}/bundles")).await;
    let draft_id = bundles
        .as_array()
        .expect("bundles")
        .iter()
        .filter_map(|b| b["id"].as_str()?.parse::<u64>().ok())
        .max()
        .expect("bundles");
    assert!(
        draft_text.contains(&format!("draft/{draft_id}")),
        "rsconnect printed no draft URL for bundle {draft_id}:\n{draft_text}"
    );
    let (_, page) = view(&p, &root).await;
    assert!(page.contains("ENVAPP-V2"), "the draft went live: {page}");
    let (status, preview) = view(&p, &format!("{root}_bundle{draft_id}/")).await;
    assert_eq!(status, 200, "draft preview: {preview}");
    assert!(preview.contains("draft"), "draft preview page: {preview}");
    let (status, _) = view(&p, &format!("{root}_bundle{draft_id}/app.py")).await;
    assert_eq!(status, 404, "an app's source is not served from its bundle");
    // Deploying the draft bundle activates it.
    let t: Value = p
        .api(Method::POST, &format!("/__api__/v1/content/{guid}/deploy"))
        .json(&serde_json::json!({"bundle_id": draft_id.to_string()}))
        .send()
        .await
        .expect("deploy")
        .json()
        .await
        .expect("json");
    let task = t["task_id"].as_str().expect("task_id");
    let done = common::eventually(300, "activation task", || async {
        let v = json_get(&p, &format!("/__api__/v1/tasks/{task}?wait=1")).await;
        v["finished"].as_bool().unwrap_or(false).then_some(v)
    })
    .await;
    assert_eq!(done["code"], 0, "{done}");
    let (_, page) = view(&p, &root).await;
    assert!(page.contains("ENVAPP-DRAFT"), "after activating the draft: {page}");

    // --new: a second item from the same directory.
    let new = rsc
        .run(&["deploy", "api", "-n", "porch", "--entrypoint", "app:app", "--new", "-t", "Env app copy", d], TIMEOUT);
    let new_text = ok(&new, "rsconnect deploy --new");
    let new_url = printed(&new_text, "Direct content URL:").expect("content URL");
    assert_ne!(new_url, url, "--new reused the item");
    let items = json_get(&p, "/__api__/v1/content").await;
    assert_eq!(items.as_array().map(Vec::len), Some(2), "{items}");
    let copy =
        items.as_array().expect("items").iter().find(|i| i["title"] == "Env app copy").expect("the copy").clone();
    let copy_guid = copy["guid"].as_str().expect("guid").to_string();
    assert_eq!(new_url, format!("{}/content/{copy_guid}/", p.base));

    // --app-id with the numeric id (looked up through the v0 applications API) redeploys the copy.
    let copy_id = copy["id"].as_str().expect("numeric id").to_string();
    let by_id = rsc.run(
        &["deploy", "api", "-n", "porch", "--entrypoint", "app:app", "--app-id", &copy_id, "--no-verify", d],
        TIMEOUT,
    );
    let by_id_text = ok(&by_id, "rsconnect deploy --app-id");
    assert_eq!(
        printed(&by_id_text, "Direct content URL:"),
        Some(new_url.clone()),
        "--app-id {copy_id} went elsewhere:\n{by_id_text}"
    );
    let copy_bundles = json_get(&p, &format!("/__api__/v1/content/{copy_guid}/bundles")).await;
    assert_eq!(copy_bundles.as_array().map(Vec::len), Some(2), "{copy_bundles}");

    // details: the server's version and Python settings.
    let details = ok(&rsc.run(&["details", "-n", "porch"], TIMEOUT), "rsconnect details");
    assert!(details.contains("2025.12.0"), "rsconnect details:\n{details}");

    // content search / describe.
    let search = ok(&rsc.run(&["content", "search", "-n", "porch"], TIMEOUT), "rsconnect content search");
    let found: Value =
        serde_json::from_str(search.trim()).unwrap_or_else(|e| panic!("search output is not JSON ({e}):\n{search}"));
    let mut guids: Vec<&str> =
        found.as_array().expect("array").iter().map(|i| i["guid"].as_str().expect("guid")).collect();
    guids.sort_unstable();
    let mut want = vec![guid.as_str(), copy_guid.as_str()];
    want.sort_unstable();
    assert_eq!(guids, want, "content search");
    let search_api = ok(
        &rsc.run(
            &["content", "search", "-n", "porch", "--content-type", "python-api", "--title-contains", "copy"],
            TIMEOUT,
        ),
        "search filtered",
    );
    let found: Value = serde_json::from_str(search_api.trim()).expect("json");
    assert_eq!(found.as_array().map(Vec::len), Some(1), "{search_api}");
    let describe =
        ok(&rsc.run(&["content", "describe", "-n", "porch", "-g", &guid], TIMEOUT), "rsconnect content describe");
    let described: Value =
        serde_json::from_str(describe.trim()).unwrap_or_else(|e| panic!("describe is not JSON ({e}):\n{describe}"));
    let described = if described.is_array() { described[0].clone() } else { described };
    assert_eq!(described["guid"], guid.as_str());
    assert_eq!(described["title"], "Env app");
    assert_eq!(described["app_mode"], "python-api");

    // download-bundle: the active bundle's archive, with the draft's app.py.
    let out_dir = tempfile::tempdir().expect("tempdir");
    let tgz = out_dir.path().join("bundle.tar.gz");
    ok(
        &rsc.run(
            &["content", "download-bundle", "-n", "porch", "-g", &guid, "-o", tgz.to_str().expect("utf8")],
            TIMEOUT,
        ),
        "download-bundle",
    );
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(std::fs::File::open(&tgz).expect("bundle file")));
    let mut app_py = None;
    for e in ar.entries().expect("entries") {
        let mut e = e.expect("entry");
        if e.path().expect("path").to_string_lossy().trim_start_matches("./") == "app.py" {
            let mut s = String::new();
            std::io::Read::read_to_string(&mut e, &mut s).expect("read");
            app_py = Some(s);
        }
    }
    assert!(app_py.expect("app.py in the bundle").contains("ENVAPP-DRAFT"));

    // get-lockfile: the packages installed in the item's environment.
    let lock = out_dir.path().join("requirements.txt.lock");
    ok(
        &rsc.run(&["content", "get-lockfile", "-n", "porch", "-g", &guid, "-o", lock.to_str().expect("utf8")], TIMEOUT),
        "get-lockfile",
    );
    let lock_text = std::fs::read_to_string(&lock).expect("lockfile written");
    let lines: Vec<&str> = lock_text.lines().filter(|l| !l.starts_with('#')).collect();
    assert!(lines.iter().any(|l| l.to_lowercase().starts_with("flask==")), "no flask in the lockfile:\n{lock_text}");
    assert!(
        lines.iter().any(|l| l.to_lowercase().starts_with("werkzeug==")),
        "no werkzeug in the lockfile:\n{lock_text}"
    );
    assert!(lines.iter().all(|l| l.contains("==")), "not name==version lines:\n{lock_text}");
    // posit-sdk reads the same lockfile, and the Python version from `Generated-By`.
    if let Some(python) = common::py::python_with("rsconnect_workflows (posit-sdk lockfile)", "posit.connect") {
        let script = common::py::script("posit_sdk_lockfile.py");
        let sdk = common::py::run_json(&python, &script, &p.base, &p.key, &[("PORCH_GUID", guid.as_str())], TIMEOUT);
        assert_eq!(sdk["text"], lock_text.as_str(), "posit-sdk and rsconnect got different lockfiles");
        let version = sdk["python_version"].as_str().expect("python_version");
        assert_eq!(version.split('.').count(), 3, "{sdk}");
    }
    // Content never deployed has no environment: a clean JSON 404 (code 4).
    let empty = p.create("never-deployed").await;
    let r = p.api(Method::GET, &format!("/__api__/v1/content/{empty}/lockfile")).send().await.expect("lockfile");
    assert_eq!(r.status(), 404);
    let e: Value = r.json().await.expect("error JSON");
    assert_eq!(e["code"], 4, "{e}");
    assert!(e["error"].as_str().expect("error").contains("lockfile"), "{e}");

    // content build: mark and run a build of the item on the server.
    ok(&rsc.run(&["content", "build", "add", "-n", "porch", "-g", &guid], TIMEOUT), "content build add");
    let run = ok(&rsc.run(&["content", "build", "run", "-n", "porch"], TIMEOUT), "content build run");
    assert!(run.contains(&format!("Build succeeded: {guid}")), "{run}");
    let ls = ok(&rsc.run(&["content", "build", "ls", "-n", "porch", "-g", &guid], TIMEOUT), "content build ls");
    assert!(ls.contains("COMPLETE"), "build not complete:\n{run}\n{ls}");
    let (_, page) = view(&p, &root).await;
    assert!(page.contains("ENVAPP-DRAFT"), "after the build: {page}");

    p.shutdown();
}

/// `--draft` of a static site: the draft is served for real at `_bundle{id}/` (pages and
/// assets), the live site stays as it was, and a plain deploy makes the new version live.
#[tokio::test(flavor = "multi_thread")]
async fn rsconnect_draft_of_a_static_site_is_previewed_then_published() {
    let Some(rsc) = Rsconnect::find("rsconnect_draft_static") else { return };
    let p = Porch::start().await;
    ok(&rsc.run(&["add", "-n", "porch", "-s", &p.base, "-k", &p.key], TIMEOUT), "rsconnect add");
    let work = tempfile::tempdir().expect("tempdir");
    let site = work.path().join("draft-site");
    copy_tree(&common::fixture("rsconnect-site"), &site);
    let s = site.to_str().expect("utf8");
    let first = ok(&rsc.run(&["deploy", "html", "-n", "porch", "-t", "Draft site", s], TIMEOUT), "deploy html");
    let url = printed(&first, "Direct content URL:").expect("content URL");
    let root = url.strip_prefix(&p.base).expect("same origin").to_string();

    let index = std::fs::read_to_string(site.join("index.html")).expect("index");
    std::fs::write(site.join("index.html"), index.replace("version one", "version two")).expect("write");
    let draft = ok(&rsc.run(&["deploy", "html", "-n", "porch", "--draft", s], TIMEOUT), "deploy html --draft");
    let draft_url = printed(&draft, "Draft content URL:").unwrap_or_else(|| panic!("no draft URL printed:\n{draft}"));
    let draft_id = draft_url.rsplit('/').next().expect("bundle id").to_string();
    assert!(draft_id.parse::<u64>().is_ok(), "draft URL: {draft_url}");

    let (_, live) = view(&p, &root).await;
    assert!(live.contains("version one"), "the draft went live: {live}");
    let (status, preview) = view(&p, &format!("{root}_bundle{draft_id}/")).await;
    assert_eq!(status, 200);
    assert!(preview.contains("version two"), "draft preview: {preview}");
    let (status, css) = view(&p, &format!("{root}_bundle{draft_id}/style.css")).await;
    assert_eq!(status, 200, "draft asset: {css}");
    let (status, sub) = view(&p, &format!("{root}_bundle{draft_id}/docs/page.html")).await;
    assert_eq!(status, 200, "draft sub-page: {sub}");

    let publish = ok(&rsc.run(&["deploy", "html", "-n", "porch", s], TIMEOUT), "deploy html (activate)");
    assert_eq!(printed(&publish, "Direct content URL:"), Some(url.clone()));
    let (_, live) = view(&p, &root).await;
    assert!(live.contains("version two"), "after the plain deploy: {live}");
    p.shutdown();
}

/// `content get-lockfile` of a rendered notebook lists the environment the render used
/// (with nbconvert), and reading it builds no other environment.
#[tokio::test(flavor = "multi_thread")]
async fn rsconnect_get_lockfile_of_a_notebook_reads_its_render_environment() {
    let Some(rsc) = Rsconnect::find("rsconnect_lockfile_notebook") else { return };
    let p = Porch::start().await;
    ok(&rsc.run(&["add", "-n", "porch", "-s", &p.base, "-k", &p.key], TIMEOUT), "rsconnect add");
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path().join("nb");
    copy_tree(&common::fixture("frameworks/notebook"), &dir);
    let nb = dir.join("report.ipynb");
    let deploy = ok(
        &rsc.run(&["deploy", "notebook", "-n", "porch", "-t", "Lock notebook", nb.to_str().expect("utf8")], TIMEOUT),
        "deploy notebook",
    );
    let url = printed(&deploy, "Direct content URL:").expect("content URL");
    let guid = url.trim_end_matches('/').rsplit('/').next().expect("guid").to_string();
    let (status, html) = view(&p, &format!("/content/{guid}/")).await;
    assert_eq!(status, 200, "{html}");

    let envs = || -> Vec<String> {
        let mut v: Vec<String> = std::fs::read_dir(p.data_dir().join("envs"))
            .expect("envs")
            .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
            .filter(|n| !n.starts_with('.'))
            .collect();
        v.sort();
        v
    };
    let before = envs();
    let lock = work.path().join("requirements.txt.lock");
    ok(
        &rsc.run(&["content", "get-lockfile", "-n", "porch", "-g", &guid, "-o", lock.to_str().expect("utf8")], TIMEOUT),
        "get-lockfile",
    );
    let text = std::fs::read_to_string(&lock).expect("lockfile");
    assert!(text.lines().any(|l| l.to_lowercase().starts_with("nbconvert==")), "no nbconvert in:\n{text}");
    assert_eq!(envs(), before, "reading the lockfile built another environment");
    p.shutdown();
}

/// `write-manifest api` + `deploy manifest`, then `content download-bundle` + `deploy bundle`
/// of the downloaded archive to a new item: both serve the app.
#[tokio::test(flavor = "multi_thread")]
async fn rsconnect_deploy_manifest_and_a_downloaded_bundle() {
    let Some(rsc) = Rsconnect::find("rsconnect_manifest_bundle") else { return };
    let p = Porch::start().await;
    ok(&rsc.run(&["add", "-n", "porch", "-s", &p.base, "-k", &p.key], TIMEOUT), "rsconnect add");
    let work = tempfile::tempdir().expect("tempdir");
    let dir = work.path().join("manifest-app");
    copy_tree(&common::fixture("clients/envapp"), &dir);
    let d = dir.to_str().expect("utf8");
    ok(&rsc.run(&["write-manifest", "api", "--entrypoint", "app:app", d], TIMEOUT), "write-manifest api");
    let manifest = dir.join("manifest.json");
    assert!(manifest.is_file(), "no manifest.json written");
    let dep = ok(
        &rsc.run(
            &["deploy", "manifest", "-n", "porch", "-t", "From manifest", manifest.to_str().expect("utf8")],
            TIMEOUT,
        ),
        "deploy manifest",
    );
    let url = printed(&dep, "Direct content URL:").expect("content URL");
    let root = url.strip_prefix(&p.base).expect("same origin").to_string();
    let (status, page) = view(&p, &root).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("ENVAPP-V1"), "{page}");
    let guid = root.trim_matches('/').rsplit('/').next().expect("guid").to_string();

    let tgz = work.path().join("downloaded.tar.gz");
    ok(
        &rsc.run(
            &["content", "download-bundle", "-n", "porch", "-g", &guid, "-o", tgz.to_str().expect("utf8")],
            TIMEOUT,
        ),
        "download-bundle",
    );
    let again = ok(
        &rsc.run(&["deploy", "bundle", "-n", "porch", "--new", tgz.to_str().expect("utf8")], TIMEOUT),
        "deploy bundle",
    );
    let url2 = printed(&again, "Direct content URL:").expect("content URL");
    assert_ne!(url2, url, "deploy bundle --new reused the item");
    let (status, page) = view(&p, url2.strip_prefix(&p.base).expect("same origin")).await;
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("ENVAPP-V1"), "{page}");
    let items = json_get(&p, "/__api__/v1/content").await;
    assert_eq!(items.as_array().map(Vec::len), Some(2), "{items}");
    assert!(items.as_array().expect("items").iter().all(|i| i["app_mode"] == "python-api"), "{items}");
    p.shutdown();
}
