//! Black-box harness: runs the real `porch` binary on an ephemeral loopback port with a
//! temporary data directory, and drives it over HTTP and through its CLI.
//!
//! `Porch::start()` spawns `porch serve --bind 127.0.0.1 --port 0`, reads the bound address
//! from its first stdout line, forwards the rest of its output into the test log, and kills
//! the whole process group on drop. Nothing here sleeps to synchronise: waits poll with a
//! deadline.
#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Path of the `porch` binary under test.
pub fn porch_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_porch"))
}

/// One uv download cache for every test's data dir, so each framework downloads once.
pub fn uv_cache() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("uv-cache")
}

/// Path of a file or folder under `tests/fixtures/`.
pub fn fixture(rel: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(rel)
}

/// A running `porch serve`.
pub struct Porch {
    /// The temporary data directory (kept until drop).
    pub dir: tempfile::TempDir,
    /// `http://127.0.0.1:PORT` (no trailing slash).
    pub base: String,
    /// An API key minted for this instance with `porch key new`.
    pub key: String,
    /// HTTP client that does not follow redirects.
    pub http: reqwest::Client,
    child: Option<Child>,
}

/// Options for [`Porch::start_with`].
#[derive(Default, Clone)]
pub struct Opts {
    /// Extra arguments to `porch serve`.
    pub args: Vec<String>,
    /// Bind address (default 127.0.0.1).
    pub bind: Option<String>,
}

impl Porch {
    /// Starts a server with default options.
    pub async fn start() -> Porch {
        Self::start_with(Opts::default()).await
    }

    /// Starts a server with extra `serve` arguments.
    pub async fn start_with(opts: Opts) -> Porch {
        let dir = tempfile::Builder::new().prefix("porch-test").tempdir().expect("tempdir");
        let key = mint_key(dir.path());
        Self::spawn(dir, key, opts)
    }

    /// Stops this server cleanly (asserting a clean exit) and starts a new one on the same
    /// data directory with the same key.
    pub async fn restart(mut self, opts: Opts) -> Porch {
        self.stop();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"));
        Self::spawn(dir, self.key.clone(), opts)
    }

    fn spawn(dir: tempfile::TempDir, key: String, opts: Opts) -> Porch {
        let bind = opts.bind.clone().unwrap_or_else(|| "127.0.0.1".into());
        let mut cmd = Command::new(porch_bin());
        cmd.arg("serve")
            .arg("--data-dir")
            .arg(dir.path())
            .args(["--bind", &bind, "--port", "0"])
            .args(&opts.args)
            .env("RUST_LOG", "porch=debug,porch_engine=debug,info")
            .env("PORCH_UV_CACHE_DIR", uv_cache())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        {
            use std::os::unix::process::CommandExt;
            cmd.process_group(0);
        }
        let mut child = cmd.spawn().expect("spawn porch serve");
        let stdout = child.stdout.take().expect("stdout piped");
        let stderr = child.stderr.take().expect("stderr piped");
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[porch] {line}");
            }
        });
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut first = true;
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if first {
                    let _ = tx.send(line.clone());
                    first = false;
                }
                eprintln!("[porch stdout] {line}");
            }
        });
        let first = rx.recv_timeout(Duration::from_secs(60)).expect("porch printed its address");
        let url = first
            .strip_prefix("Listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {first}"))
            .trim_end_matches('/')
            .to_string();
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        Porch { dir, base: url, key, http, child: Some(child) }
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// Absolute URL for a path on this server.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// GET without credentials.
    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.http.get(self.url(path)).send().await.expect("GET")
    }

    /// A request builder carrying the API key.
    pub fn api(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, self.url(path))
            .header("Authorization", format!("Key {}", self.key))
    }

    /// Runs the `porch` CLI against this instance's data dir.
    pub fn cli(&self, args: &[&str]) -> Output {
        run_cli(self.data_dir(), args)
    }

    /// Sends SIGTERM and asserts a clean, prompt exit.
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        let mut child = self.child.take().expect("running");
        signal(child.id(), "TERM");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Some(status) = child.try_wait().expect("wait") {
                assert!(status.success(), "porch exited with {status}");
                return;
            }
            assert!(Instant::now() < deadline, "porch did not exit after SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for Porch {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            // Kill the whole group: the server and anything it started.
            let _ = Command::new("kill").args(["-s", "KILL", "--", &format!("-{}", child.id())]).status();
            let _ = child.wait();
        }
    }
}

fn signal(pid: u32, sig: &str) {
    let status = Command::new("kill").args(["-s", sig, "--", &pid.to_string()]).status().expect("kill");
    assert!(status.success());
}

/// Runs `porch <args> --data-dir DIR` and returns its output.
pub fn run_cli(data_dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(porch_bin())
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("PORCH_UV_CACHE_DIR", uv_cache())
        .output()
        .expect("run porch");
    eprintln!(
        "$ porch {}\n{}{}",
        args.join(" "),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// Mints a key with `porch key new` for a data dir.
pub fn mint_key(data_dir: &Path) -> String {
    let out = run_cli(data_dir, &["key", "new", "--name", "test"]);
    assert!(out.status.success(), "porch key new failed");
    String::from_utf8(out.stdout).expect("utf8").trim().to_string()
}

/// Polls `f` until it returns `Some`, or panics after `secs`.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Builds a gzip tar from `(path, contents)` pairs, with `manifest` JSON added when given.
pub fn targz(files: &[(&str, &[u8])]) -> Vec<u8> {
    let enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    let mut tar = tar::Builder::new(enc);
    for (path, data) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o644);
        h.set_entry_type(tar::EntryType::Regular);
        tar.append_data(&mut h, path, *data).expect("append");
    }
    tar.into_inner().expect("finish tar").finish().expect("finish gz")
}

/// Runs a command to completion with a deadline, capturing stdout and stderr.
///
/// The command runs in its own process group; if it is still running after `secs`, the
/// whole group is killed and this panics with what it had printed so far.
pub fn run_with_timeout(cmd: &mut Command, secs: u64) -> Output {
    use std::io::Read;
    use std::os::unix::process::CommandExt;
    let shown = format!("{cmd:?}");
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).process_group(0);
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("spawn {shown}: {e}"));
    let mut out = child.stdout.take().expect("stdout piped");
    let mut err = child.stderr.take().expect("stderr piped");
    let out_t = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = out.read_to_end(&mut buf);
        buf
    });
    let err_t = std::thread::spawn(move || {
        let mut buf = Vec::new();
        let _ = err.read_to_end(&mut buf);
        buf
    });
    let deadline = Instant::now() + Duration::from_secs(secs);
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break status;
        }
        if Instant::now() >= deadline {
            let _ = Command::new("kill").args(["-s", "KILL", "--", &format!("-{}", child.id())]).status();
            let _ = child.wait();
            let stdout = out_t.join().unwrap_or_default();
            let stderr = err_t.join().unwrap_or_default();
            panic!(
                "timed out after {secs}s: {shown}\n--- stdout\n{}\n--- stderr\n{}",
                String::from_utf8_lossy(&stdout),
                String::from_utf8_lossy(&stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let stdout = out_t.join().unwrap_or_default();
    let stderr = err_t.join().unwrap_or_default();
    eprintln!(
        "$ {shown} -> {status}\n{}{}",
        String::from_utf8_lossy(&stdout),
        String::from_utf8_lossy(&stderr)
    );
    Output { status, stdout, stderr }
}

/// True when running under CI (`CI=true`), where a missing test prerequisite is a failure
/// rather than a skip.
pub fn in_ci() -> bool {
    std::env::var("CI").map(|v| v == "true" || v == "1").unwrap_or(false)
}

/// Reports a missing prerequisite: panics under CI, otherwise prints a `SKIP:` line to
/// stderr. Returns so the caller can `return` after it.
pub fn skip_or_fail(test: &str, why: &str) {
    assert!(!in_ci(), "{test}: prerequisite missing under CI=true: {why}");
    eprintln!("SKIP: {test}: {why}");
}

/// A tar archive writer that accepts any entry name, link or type, for hostile bundles.
pub struct RawTar {
    buf: Vec<u8>,
}

impl Default for RawTar {
    fn default() -> Self {
        Self::new()
    }
}

impl RawTar {
    /// An empty archive.
    pub fn new() -> RawTar {
        RawTar { buf: Vec::new() }
    }

    /// Appends an entry with a raw name (up to 100 bytes), type flag and link name.
    pub fn entry(mut self, name: &str, typeflag: u8, link: &str, data: &[u8]) -> RawTar {
        let mut h = [0u8; 512];
        h[..name.len()].copy_from_slice(name.as_bytes());
        h[100..108].copy_from_slice(b"0000644\0");
        h[108..116].copy_from_slice(b"0000000\0");
        h[116..124].copy_from_slice(b"0000000\0");
        h[124..136].copy_from_slice(format!("{:011o}\0", data.len()).as_bytes());
        h[136..148].copy_from_slice(b"00000000000\0");
        h[156] = typeflag;
        h[157..157 + link.len()].copy_from_slice(link.as_bytes());
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        self.buf.extend_from_slice(&h);
        self.buf.extend_from_slice(data);
        let pad = (512 - data.len() % 512) % 512;
        self.buf.extend(std::iter::repeat_n(0u8, pad));
        self
    }

    /// A regular file.
    pub fn file(self, name: &str, data: &[u8]) -> RawTar {
        self.entry(name, b'0', "", data)
    }

    /// A PAX extended header setting `path` for the next entry.
    pub fn pax_path(self, path: &str) -> RawTar {
        let mut rec = format!(" path={path}\n");
        let mut len = rec.len();
        loop {
            let candidate = format!("{len}{rec}");
            if candidate.len() == len {
                rec = candidate;
                break;
            }
            len = candidate.len();
        }
        self.entry("PaxHeaders/x", b'x', "", rec.as_bytes())
    }

    /// The gzip-compressed archive.
    pub fn gz(mut self) -> Vec<u8> {
        self.buf.extend(std::iter::repeat_n(0u8, 1024));
        use std::io::Write;
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&self.buf).expect("gzip");
        enc.finish().expect("gzip")
    }
}

/// A zip archive from `(name, contents)` pairs; names are written as given.
pub fn zip(files: &[(&str, &[u8])]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, data) in files {
        w.start_file(*name, zip::write::SimpleFileOptions::default()).expect("zip entry");
        w.write_all(data).expect("zip write");
    }
    w.finish().expect("zip finish").into_inner()
}

impl Porch {
    /// Creates an item through the API and returns its guid.
    pub async fn create(&self, name: &str) -> String {
        let r = self
            .api(reqwest::Method::POST, "/__api__/v1/content")
            .json(&serde_json::json!({ "name": name, "title": name }))
            .send()
            .await
            .expect("create");
        assert_eq!(r.status(), 200, "create {name}");
        let v: serde_json::Value = r.json().await.expect("json");
        v["guid"].as_str().expect("guid").to_string()
    }

    /// Uploads raw bundle bytes (no Content-Type, like rsconnect).
    pub async fn upload(&self, guid: &str, bytes: Vec<u8>) -> reqwest::Response {
        self.api(reqwest::Method::POST, &format!("/__api__/v1/content/{guid}/bundles"))
            .body(bytes)
            .send()
            .await
            .expect("upload")
    }

    /// Deploys a bundle and waits for its task to finish; returns the final task JSON.
    pub async fn deploy(&self, guid: &str, bundle_id: &str) -> serde_json::Value {
        let r = self
            .api(reqwest::Method::POST, &format!("/__api__/v1/content/{guid}/deploy"))
            .json(&serde_json::json!({ "bundle_id": bundle_id }))
            .send()
            .await
            .expect("deploy");
        assert!(r.status().is_success(), "deploy status {}", r.status());
        let task: serde_json::Value = r.json().await.expect("json");
        let id = task["task_id"].as_str().expect("task_id").to_string();
        self.wait_task(&id).await
    }

    /// Polls a task with `wait=1` until it finishes.
    pub async fn wait_task(&self, id: &str) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let v: serde_json::Value = self
                .api(reqwest::Method::GET, &format!("/__api__/v1/tasks/{id}?wait=1"))
                .send()
                .await
                .expect("task")
                .json()
                .await
                .expect("task json");
            if v["finished"] == true {
                return v;
            }
            assert!(Instant::now() < deadline, "task {id} did not finish");
        }
    }

    /// Uploads and deploys; returns the bundle id (panics on failure).
    pub async fn publish(&self, guid: &str, bytes: Vec<u8>) -> String {
        let r = self.upload(guid, bytes).await;
        assert_eq!(r.status(), 200, "upload failed: {}", r.text().await.unwrap_or_default());
        let b: serde_json::Value = r.json().await.expect("json");
        let id = b["id"].as_str().expect("bundle id").to_string();
        let t = self.deploy(guid, &id).await;
        assert_eq!(t["code"], 0, "deploy failed: {t}");
        id
    }

    /// GETs a path as a viewer and returns (status, body bytes).
    pub async fn fetch(&self, path: &str) -> (u16, Vec<u8>) {
        let r = self.get(path).await;
        let s = r.status().as_u16();
        (s, r.bytes().await.expect("body").to_vec())
    }
}
