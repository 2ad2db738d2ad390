//! The `porch` command line: keys, deploys, listing, removal, errors and signals.

mod common;

use std::process::Command;

use common::{fixture, porch_bin, run_cli, targz, Porch};
use serde_json::Value;

fn ok(out: &std::process::Output) -> String {
    assert!(out.status.success(), "command failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout.clone()).expect("utf8")
}

/// Asserts a failure with a one-line reason containing `needle`.
fn fails(out: &std::process::Output, needle: &str) {
    assert!(!out.status.success(), "command should fail");
    let err = String::from_utf8_lossy(&out.stderr);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("porch:")).collect();
    assert_eq!(lines.len(), 1, "one reason line expected, got: {err}");
    assert!(lines[0].contains(needle), "{:?} should mention {needle:?}", lines[0]);
}

fn list(dir: &std::path::Path) -> Vec<Value> {
    serde_json::from_str(&ok(&run_cli(dir, &["list", "--json"]))).expect("json list")
}

#[test]
fn keys_are_printed_once_and_stored_hashed() {
    let dir = tempfile::tempdir().expect("tmp");
    let key = ok(&run_cli(dir.path(), &["key", "new", "--name", "laptop"])).trim().to_string();
    assert_eq!(key.len(), 64);
    assert!(key.chars().all(|c| c.is_ascii_hexdigit()));
    let key2 = ok(&run_cli(dir.path(), &["key", "new"])).trim().to_string();
    assert_ne!(key, key2);
    // Neither key appears anywhere in the data directory.
    for entry in walk(dir.path()) {
        let bytes = std::fs::read(&entry).unwrap_or_default();
        let text = String::from_utf8_lossy(&bytes);
        assert!(!text.contains(&key) && !text.contains(&key2), "a key is stored in plain text in {}", entry.display());
    }
}

fn walk(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

#[test]
fn deploy_list_redeploy_and_remove_without_a_server() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    assert!(ok(&run_cli(d, &["list"])).contains("Nothing is published yet"));

    // A folder, named explicitly.
    let out = ok(&run_cli(
        d,
        &["deploy", fixture("site").to_str().expect("utf8"), "--name", "my-site", "--title", "My Site"],
    ));
    assert!(out.contains("Published my-site"), "{out}");
    assert!(out.lines().last().expect("url").contains("/content/"));
    // The same name again is a redeploy with a new bundle.
    let out = ok(&run_cli(d, &["deploy", fixture("site").to_str().expect("utf8"), "--name", "my-site"]));
    assert!(out.contains("Updated my-site (bundle 2"), "{out}");

    // Single files and archives, with derived names.
    let work = tempfile::tempdir().expect("tmp");
    let html = work.path().join("Quarterly Report.html");
    std::fs::write(&html, "<h1>Q3</h1>").expect("write");
    let nb = work.path().join("analysis.ipynb");
    std::fs::write(&nb, r#"{"cells":[],"metadata":{},"nbformat":4,"nbformat_minor":5}"#).expect("write");
    let tgz = work.path().join("bundle.tar.gz");
    std::fs::write(&tgz, targz(&[("index.html", b"from tgz")])).expect("write");
    let zip = work.path().join("zipped-site.zip");
    std::fs::write(&zip, common::zip(&[("index.html", b"from zip")])).expect("write");
    for p in [&html, &nb, &tgz, &zip] {
        ok(&run_cli(d, &["deploy", p.to_str().expect("utf8")]));
    }
    let items = list(d);
    let by_name =
        |n: &str| items.iter().find(|c| c["name"] == n).unwrap_or_else(|| panic!("{n} missing from {items:?}")).clone();
    assert_eq!(by_name("my-site")["title"], "My Site");
    assert_eq!(by_name("my-site")["bundle_id"], "2");
    assert_eq!(by_name("quarterly-report")["app_mode"], "static");
    assert_eq!(by_name("quarterly-report")["title"], "Quarterly Report");
    assert_eq!(by_name("analysis")["app_mode"], "jupyter-static");
    assert_eq!(by_name("bundle")["app_mode"], "static");
    assert_eq!(by_name("zipped-site")["app_mode"], "static");
    let table = ok(&run_cli(d, &["list"]));
    assert!(table.contains("NAME") && table.contains("quarterly-report"));

    // Removing an item removes its files.
    let bundle = by_name("my-site")["bundle_id"].as_str().expect("bundle").to_string();
    assert!(d.join("bundles").join(&bundle).is_dir());
    assert!(ok(&run_cli(d, &["rm", "my-site"])).contains("Removed my-site"));
    assert!(!d.join("bundles").join(&bundle).exists());
    assert!(!d.join("bundles").join("1").exists());
    assert!(list(d).iter().all(|c| c["name"] != "my-site"));
}

#[test]
fn bad_input_fails_with_one_line_and_keeps_what_was_there() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path();
    let work = tempfile::tempdir().expect("tmp");
    let good = work.path().join("good");
    std::fs::create_dir(&good).expect("mkdir");
    std::fs::write(good.join("index.html"), "good").expect("write");
    ok(&run_cli(d, &["deploy", good.to_str().expect("utf8"), "--name", "keep-me"]));

    fails(&run_cli(d, &["deploy", "/definitely/not/here"]), "/definitely/not/here");
    let junk = work.path().join("junk");
    std::fs::create_dir(&junk).expect("mkdir");
    std::fs::write(junk.join("notes.txt"), "x").expect("write");
    fails(&run_cli(d, &["deploy", junk.to_str().expect("utf8"), "--name", "keep-me"]), "notes.txt");
    fails(&run_cli(d, &["deploy", good.to_str().expect("utf8"), "--name", "no"]), "invalid content name");
    fails(&run_cli(d, &["deploy", good.to_str().expect("utf8"), "--name", "x1x", "--access", "world"]), "access_type");
    let escape = work.path().join("escape.tar.gz");
    std::fs::write(&escape, common::RawTar::new().file("../../etc/evil", b"x").gz()).expect("write");
    fails(&run_cli(d, &["deploy", escape.to_str().expect("utf8"), "--name", "keep-me"]), "../../etc/evil");
    fails(&run_cli(d, &["rm", "no-such-item"]), "no-such-item");

    // The good item is untouched: same bundle, and no half-created items were left.
    let items = list(d);
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["name"], "keep-me");
    assert_eq!(items[0]["bundle_id"], "1");
    let served = std::fs::read(d.join("bundles/1/index.html")).expect("bundle file");
    assert_eq!(served, b"good");
}

#[tokio::test]
async fn serve_stops_cleanly_on_sigterm_and_sigint() {
    let p = Porch::start().await;
    assert!(p.data_dir().join("porch.run.json").is_file());
    let dir = p.data_dir().to_path_buf();
    let p2 = p.restart(common::Opts::default()).await;
    // restart() asserted a clean SIGTERM exit; now SIGINT.
    let pid_file: Value =
        serde_json::from_slice(&std::fs::read(dir.join("porch.run.json")).expect("runtime file")).expect("json");
    let pid = pid_file["pid"].as_u64().expect("pid").to_string();
    let status = Command::new("kill").args(["-s", "INT", "--", &pid]).status().expect("kill");
    assert!(status.success());
    common::eventually(20, "porch to exit on SIGINT", || async {
        (!std::path::Path::new(&format!("/proc/{pid}")).exists()
            || std::fs::read_to_string(format!("/proc/{pid}/stat")).map(|s| s.contains(") Z ")).unwrap_or(true))
        .then_some(())
    })
    .await;
    assert!(!dir.join("porch.run.json").exists(), "runtime file left behind");
    drop(p2);
}

#[tokio::test]
async fn a_busy_port_is_a_clear_error() {
    let p = Porch::start().await;
    let port = p.base.rsplit(':').next().expect("port").to_string();
    let other = tempfile::tempdir().expect("tmp");
    let out = Command::new(porch_bin())
        .args(["serve", "--bind", "127.0.0.1", "--port", &port, "--data-dir"])
        .arg(other.path())
        .output()
        .expect("run");
    fails(&out, "cannot listen on 127.0.0.1");
    p.shutdown();
}

#[test]
fn data_dir_comes_from_the_environment() {
    let dir = tempfile::tempdir().expect("tmp");
    let out = Command::new(porch_bin()).args(["key", "new"]).env("PORCH_DATA_DIR", dir.path()).output().expect("run");
    ok(&out);
    assert!(dir.path().join("porch.db").is_file());
}

/// `--data-dir` goes before or after the command; the server's options go before or after
/// `serve`; before any other command they are refused with where they belong, not silently
/// dropped.
#[test]
fn data_dir_goes_anywhere_and_window_options_name_serve() {
    let dir = tempfile::tempdir().expect("tmp");
    let d = dir.path().to_str().expect("utf8");
    let run = |args: &[&str]| Command::new(porch_bin()).args(args).output().expect("run");
    ok(&run(&["--data-dir", d, "key", "new", "--name", "first"]));
    let keys = ok(&run(&["key", "list", "--data-dir", d]));
    assert!(keys.contains("first"), "the key made with --data-dir before the command: {keys}");
    for (args, flag) in [(["--port", "4000", "list"], "--port"), (["--bind", "127.0.0.1", "list"], "--bind")] {
        let mut all = vec!["--data-dir", d];
        all.extend(args);
        let out = run(&all);
        assert_eq!(out.status.code(), Some(2), "a usage error");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(&format!("{flag} before a command")) && err.contains("porch serve"), "{err}");
    }
    // Given on both sides of `serve`, an option is refused as given twice.
    let out = run(&["--data-dir", d, "--port", "0", "serve", "--port", "0"]);
    assert_eq!(out.status.code(), Some(2), "a usage error: {}", String::from_utf8_lossy(&out.stderr));

    // Before `serve`, they are the server's: it listens where they say.
    let mut serve = Command::new(porch_bin())
        .args(["--data-dir", d, "--bind", "127.0.0.1", "--port", "0", "serve"])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn");
    let stdout = serve.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
            let _ = tx.send(line);
        }
    });
    let first = rx.recv_timeout(std::time::Duration::from_secs(60));
    let _ = serve.kill();
    let _ = serve.wait();
    let first = first.expect("serve printed where it listens");
    assert!(first.starts_with("Listening on http://127.0.0.1:"), "{first}");
}

/// With no server running, printed links are the ones Porch will serve once it starts with
/// the saved settings, not a guess at the default port.
#[test]
fn links_printed_with_no_server_follow_the_saved_port_and_name() {
    let dir = tempfile::tempdir().expect("tmp");
    let site = tempfile::tempdir().expect("site");
    std::fs::write(site.path().join("index.html"), "<h1>hi</h1>").expect("write");
    ok(&run_cli(dir.path(), &["deploy", site.path().to_str().expect("utf8"), "--name", "offline-site"]));
    let url = |dir: &std::path::Path| list(dir)[0]["content_url"].as_str().expect("content_url").to_string();
    let set = ok(&run_cli(dir.path(), &["settings", "set", "port=4123", "hostname=teamhost"]));
    assert!(set.contains("apply when Porch next starts"), "the port waits for a restart: {set}");
    let set = ok(&run_cli(dir.path(), &["settings", "set", "gallery_title=Team"]));
    assert!(!set.contains("next starts"), "a title applies at once, and nothing says otherwise: {set}");
    assert!(url(dir.path()).starts_with("http://teamhost.local:4123/content/"), "{}", url(dir.path()));
    let link = ok(&run_cli(dir.path(), &["secret-link", "offline-site"]));
    assert!(link.contains("http://teamhost.local:4123/content/"), "{link}");
    // Only this computer: no name is announced.
    ok(&run_cli(dir.path(), &["settings", "set", "bind=local"]));
    assert!(url(dir.path()).starts_with("http://127.0.0.1:4123/content/"), "{}", url(dir.path()));
}

/// A reader that leaves early (`porch deploy … | head -0`) ends the command with a broken
/// pipe's status, not a panic; what the command did is done.
#[test]
fn a_reader_that_leaves_early_is_not_a_panic() {
    let dir = tempfile::tempdir().expect("tmp");
    let site = tempfile::tempdir().expect("site");
    std::fs::write(site.path().join("index.html"), "<h1>hi</h1>").expect("write");
    let mut child = Command::new(porch_bin())
        .args(["deploy", site.path().to_str().expect("utf8"), "--name", "early-reader", "--data-dir"])
        .arg(dir.path())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("spawn");
    drop(child.stdout.take()); // the reader is gone before the first line
    let out = child.wait_with_output().expect("wait");
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(!err.contains("panicked"), "{err}");
    assert_eq!(out.status.code(), Some(141), "{err}");
    assert_eq!(list(dir.path()).len(), 1, "the deploy was done");
}

#[cfg(not(feature = "gui"))]
#[test]
fn headless_build_explains_there_is_no_window() {
    let dir = tempfile::tempdir().expect("tmp");
    fails(&run_cli(dir.path(), &[]), "porch serve");
}

/// A folder deploy leaves out what `.porchignore` and `.rscignore` (gitignore syntax, in the
/// folder and below it) exclude, alongside `.gitignore`: not served, and not in the bundle.
#[tokio::test]
async fn porchignore_and_rscignore_keep_files_out_of_the_bundle() {
    let p = Porch::start().await;
    let work = tempfile::tempdir().expect("tmp");
    let dir = work.path().join("site");
    let files = [
        ("index.html", "<h1>kept</h1>"),
        ("notes/keep.txt", "kept"),
        ("secret.env", "TOKEN=1"),
        ("drafts/todo.html", "draft"),
        ("notes/private.md", "private"),
        ("notes/sub/deep.md", "deep"),
        ("data/raw.csv", "a,b"),
        ("notes/local.txt", "nested rule"),
    ];
    for (rel, body) in files {
        let path = dir.join(rel);
        std::fs::create_dir_all(path.parent().expect("parent")).expect("mkdir");
        std::fs::write(path, body).expect("write");
    }
    std::fs::write(dir.join(".porchignore"), "# ours\nsecret.env\ndrafts/\n").expect("porchignore");
    std::fs::write(dir.join(".rscignore"), "*.md\n").expect("rscignore");
    std::fs::write(dir.join(".gitignore"), "data/\n").expect("gitignore");
    std::fs::write(dir.join("notes/.porchignore"), "local.txt\n").expect("nested porchignore");
    ok(&p.cli(&["deploy", dir.to_str().expect("utf8"), "--name", "ignoring"]));
    let item = list(p.data_dir()).into_iter().find(|c| c["name"] == "ignoring").expect("deployed");
    let guid = item["guid"].as_str().expect("guid");

    for (rel, want) in [
        ("index.html", 200),
        ("notes/keep.txt", 200),
        ("secret.env", 404),
        ("drafts/todo.html", 404),
        ("notes/private.md", 404),
        ("notes/sub/deep.md", 404),
        ("data/raw.csv", 404),
        ("notes/local.txt", 404),
    ] {
        assert_eq!(p.fetch(&format!("/content/{guid}/{rel}")).await.0, want, "{rel}");
    }
    // The bundle itself, as the API hands it out.
    let bundle = item["bundle_id"].as_str().expect("bundle").to_string();
    let r = p
        .api(reqwest::Method::GET, &format!("/__api__/v1/content/{guid}/bundles/{bundle}/download"))
        .send()
        .await
        .expect("download");
    assert_eq!(r.status(), 200);
    let bytes = r.bytes().await.expect("bytes");
    let mut names: Vec<String> = tar::Archive::new(flate2::read::GzDecoder::new(&bytes[..]))
        .entries()
        .expect("tar")
        .map(|e| e.expect("entry").path().expect("path").to_string_lossy().trim_start_matches("./").to_string())
        .filter(|n| !n.ends_with('/'))
        .collect();
    names.sort();
    for gone in
        ["secret.env", "drafts/todo.html", "notes/private.md", "notes/sub/deep.md", "data/raw.csv", "notes/local.txt"]
    {
        assert!(!names.iter().any(|n| n == gone), "{gone} is in the bundle: {names:?}");
    }
    for kept in ["index.html", "notes/keep.txt"] {
        assert!(names.iter().any(|n| n == kept), "{kept} is missing from the bundle: {names:?}");
    }
    p.shutdown();
}

/// `porch key new` while `porch serve` holds the data folder: the key is made by the running
/// server (the CLI talks to it), works at once, and is listed; the server keeps serving.
#[tokio::test]
async fn key_new_while_a_server_runs() {
    let p = Porch::start().await;
    let key = ok(&p.cli(&["key", "new", "--name", "second-laptop"])).trim().to_string();
    assert_eq!(key.len(), 64, "{key}");
    assert!(key.chars().all(|c| c.is_ascii_hexdigit()), "{key}");
    let r =
        p.http.get(p.url("/__api__/v1/user")).header("Authorization", format!("Key {key}")).send().await.expect("get");
    assert_eq!(r.status(), 200, "the new key works on the running server at once");
    let listed = ok(&p.cli(&["key", "list"]));
    assert!(listed.contains("second-laptop") && !listed.contains(&key), "{listed}");
    // The key the server started with still works too.
    let r = p.api(reqwest::Method::GET, "/__api__/v1/user").send().await.expect("get");
    assert_eq!(r.status(), 200);
    let db = std::fs::read(p.data_dir().join("porch.db")).expect("db");
    assert!(!db.windows(key.len()).any(|w| w == key.as_bytes()), "the key is stored in plain text");
    p.shutdown();
}
