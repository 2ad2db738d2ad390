//! One writer per data folder: the lock, CLI commands through the running server, and the
//! data folder's permissions.

mod common;

use std::os::unix::fs::PermissionsExt as _;
use std::os::unix::process::CommandExt as _;
use std::path::Path;
use std::process::{Command, Stdio};

use common::{eventually, porch_bin, run_cli, Porch};
use reqwest::Method;
use serde_json::Value;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn stdout(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
}

fn serve_again(dir: &Path) -> std::process::Output {
    Command::new(porch_bin())
        .args(["serve", "--bind", "127.0.0.1", "--port", "0", "--data-dir"])
        .arg(dir)
        .output()
        .expect("run porch serve")
}

#[tokio::test]
async fn a_second_server_on_the_same_folder_refuses_with_one_line() {
    let p = Porch::start().await;
    let out = serve_again(p.data_dir());
    assert!(!out.status.success(), "the second server must not start");
    let err = stderr(&out);
    let lines: Vec<&str> = err.lines().filter(|l| l.starts_with("porch:")).collect();
    assert_eq!(lines.len(), 1, "one line expected: {err}");
    let expected = format!("porch: Porch is already serving this folder at {}/, pid {}", p.base, p.pid());
    assert_eq!(lines[0], expected);
    assert!(stdout(&out).is_empty(), "the second server printed no address: {}", stdout(&out));
    // The first one is unharmed.
    assert_eq!(p.get("/__ping__").await.status(), 200);
    p.shutdown();
}

#[tokio::test]
async fn a_killed_server_leaves_no_stale_lock() {
    let p = Porch::start().await;
    let guid = p.deploy_fixture("site", "survivor");
    let p = p.crash_and_restart(|_| {}, common::Opts::default()).await;
    assert_eq!(p.get(&format!("/content/{guid}/")).await.status(), 200);
    // And the restarted one holds the folder in turn.
    let out = serve_again(p.data_dir());
    assert!(!out.status.success() && stderr(&out).contains(&format!("pid {}", p.pid())), "{}", stderr(&out));
    p.shutdown();
}

#[tokio::test]
async fn cli_changes_under_a_running_server_take_effect_at_once() {
    let p = Porch::start().await;
    let site = tempfile::tempdir().expect("tmp");
    std::fs::write(site.path().join("index.html"), "<h1>now</h1>").expect("write");
    let out = p.cli(&["deploy", site.path().to_str().expect("utf8"), "--name", "at-once"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let url = stdout(&out).lines().last().expect("url").trim().to_string();
    let path = url.strip_prefix(&p.base).expect("the server's origin").to_string();
    // No waiting: the server made the change itself.
    assert_eq!(p.get(&path).await.status(), 200);

    let out = p.cli(&["access", "at-once", "local"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let list: Vec<Value> =
        p.api(Method::GET, "/__api__/v1/content?name=at-once").send().await.expect("get").json().await.expect("json");
    assert_eq!(list[0]["viewer_access"], "local");

    let out = p.cli(&["settings", "set", "max_processes=5"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let server: Value =
        p.api(Method::GET, "/__api__/porch/server").send().await.expect("get").json().await.expect("json");
    assert_eq!(server["runtime_defaults"]["max_processes"], 5);

    let out = p.cli(&["rm", "at-once"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(p.get(&path).await.status(), 404, "removed at once");
    p.shutdown();
}

#[test]
fn cli_commands_work_alone_with_no_server() {
    let dir = tempfile::tempdir().expect("tmp");
    let site = tempfile::tempdir().expect("tmp");
    std::fs::write(site.path().join("index.html"), "alone").expect("write");
    let out = run_cli(dir.path(), &["deploy", site.path().to_str().expect("utf8"), "--name", "alone-site"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run_cli(dir.path(), &["access", "alone-site", "local"]);
    assert!(out.status.success(), "{}", stderr(&out));
    let out = run_cli(dir.path(), &["settings", "set", "idle_timeout=30"]);
    assert!(out.status.success() && stdout(&out).lines().any(|l| l.starts_with("idle_timeout") && l.contains("30")));
    let list: Vec<Value> = serde_json::from_slice(&run_cli(dir.path(), &["list", "--json"]).stdout).expect("json");
    assert_eq!(list[0]["viewer_access"], "local");
    assert!(!dir.path().join("porch.token").exists(), "no server, no credential");
}

#[tokio::test]
async fn a_cli_command_holds_the_lock_while_it_works_alone() {
    let dir = tempfile::tempdir().expect("tmp");
    // `porch deploy` packs the folder under the lock, reading its `.porchignore` first; as a
    // FIFO that read blocks until the test writes, so the command works for as long as the
    // test wants, with no timing involved.
    let work = tempfile::tempdir().expect("tmp");
    std::fs::write(work.path().join("index.html"), "hi").expect("write");
    let fifo = work.path().join(".porchignore");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let deploy = Command::new(porch_bin())
        .args(["deploy", work.path().to_str().expect("utf8"), "--name", "slow-site", "--data-dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn deploy");
    let lock_file = dir.path().join("porch.lock");
    let holder: Value = eventually(30, "the deploy to hold the lock", || async {
        let text = std::fs::read_to_string(&lock_file).ok()?;
        serde_json::from_str::<Value>(&text).ok().filter(|v| v["role"] == "command")
    })
    .await;
    assert_eq!(holder["pid"], deploy.id());
    assert_eq!(holder["command"], "deploy");
    // A server waits for it rather than writing alongside it.
    let mut server = Command::new(porch_bin())
        .args(["serve", "--bind", "127.0.0.1", "--port", "0", "--data-dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .spawn()
        .expect("spawn serve");
    let mut server_err = server.stderr.take().expect("stderr");
    // The first line, then the rest drained (the server must not write into a closed pipe).
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        use std::io::BufRead as _;
        for line in std::io::BufReader::new(&mut server_err).lines().map_while(Result::ok) {
            let _ = tx.send(line.clone());
            eprintln!("[porch serve] {line}");
        }
    });
    let note = rx.recv_timeout(std::time::Duration::from_secs(60)).expect("the server says it waits");
    assert!(note.contains("waiting for `porch deploy`"), "{note}");
    assert!(server.try_wait().expect("wait").is_none(), "the server waits");
    // Feed the FIFO: the deploy finishes, and the server takes over.
    std::fs::write(&fifo, "").expect("write fifo");
    let out = deploy.wait_with_output().expect("deploy");
    assert!(out.status.success(), "{}", stderr(&out));
    let served: Value = eventually(30, "the server to hold the lock", || async {
        let text = std::fs::read_to_string(&lock_file).ok()?;
        serde_json::from_str::<Value>(&text).ok().filter(|v| v["role"] == "server" && v["url"].is_string())
    })
    .await;
    assert_eq!(served["pid"], server.id());
    let _ = Command::new("kill").args(["-s", "TERM", &server.id().to_string()]).status();
    assert!(server.wait().expect("wait").success());
}

#[tokio::test]
async fn the_data_folder_and_its_files_are_private() {
    let p = Porch::start().await;
    p.deploy_fixture("site", "private-site");
    let dir = p.data_dir();
    assert_eq!(mode(dir), 0o700, "the data folder");
    let mut seen = Vec::new();
    for entry in std::fs::read_dir(dir).expect("read_dir").flatten() {
        let meta = entry.metadata().expect("metadata");
        let name = entry.file_name().to_string_lossy().into_owned();
        if meta.is_file() {
            assert_eq!(mode(&entry.path()) & 0o077, 0, "{name} is readable by others: {:o}", mode(&entry.path()));
            seen.push(name);
        }
    }
    for must in ["porch.db", "porch.db-wal", "porch.db-shm", "porch.lock", "porch.token", "porch.run.json"] {
        assert!(seen.iter().any(|n| n == must), "{must} missing from {seen:?}");
    }
    assert_eq!(mode(&dir.join("porch.token")), 0o600, "the local credential");
    assert_eq!(mode(&dir.join("logs")) & 0o077, 0, "the logs folder");
    // The credential is this run's key: it works on the API from this computer.
    let token = std::fs::read_to_string(dir.join("porch.token")).expect("token");
    let r = p
        .http
        .get(p.url("/__api__/v1/user"))
        .header("Authorization", format!("Key {}", token.trim()))
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 200);
    p.shutdown();
}

#[test]
fn an_existing_folder_is_made_private() {
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).expect("chmod");
    std::fs::write(dir.path().join("porch.db"), "").expect("write");
    std::fs::set_permissions(dir.path().join("porch.db"), std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let out = run_cli(dir.path(), &["list"]);
    assert!(out.status.success(), "{}", stderr(&out));
    assert_eq!(mode(dir.path()), 0o700);
    assert_eq!(mode(&dir.path().join("porch.db")), 0o600);
}
