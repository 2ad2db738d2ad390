//! Black-box harness: runs the real `porch` binary on an ephemeral loopback port with a
//! temporary data directory, and drives it over HTTP and through its CLI.
//!
//! `Porch::start()` spawns `porch serve --bind 127.0.0.1 --port 0`, reads the bound address
//! from its first stdout line, forwards the rest of its output into the test log, and kills
//! the whole process group on drop. Nothing here sleeps to synchronise: waits poll with a
//! deadline.
#![allow(dead_code, unreachable_pub)]

pub mod py;
pub mod skip;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// Path of the `porch` binary under test.
pub fn porch_bin() -> PathBuf {
    PathBuf::from(env!("CARGO_BIN_EXE_porch"))
}

/// `tests/constraints.txt`: passed to every `porch` the tests run as `UV_CONSTRAINT` (uv
/// reads it), so the packages Porch adds to an environment and the fixtures' dependencies
/// are the pinned ones, not whatever was released last. A caller's own `UV_CONSTRAINT` wins.
pub fn uv_constraint() -> std::ffi::OsString {
    std::env::var_os("UV_CONSTRAINT")
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/constraints.txt").into_os_string())
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
    /// Pass no `--bind`/`--port`: listen where the saved settings say.
    pub saved_address: bool,
    /// Run in this network namespace (`ip netns exec NS porch serve …`; tests/discovery.rs).
    /// `base` is then only reachable from inside it.
    pub netns: Option<String>,
    /// Environment variables for the server process only (e.g. `DBUS_SYSTEM_BUS_ADDRESS`
    /// naming a test's private bus: tests/discovery.rs, tests/awake.rs); never set on the
    /// test process.
    pub env: Vec<(String, String)>,
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

    /// Starts a server on a data directory the caller prepared (e.g. a small mounted file system).
    pub async fn start_in(dir: tempfile::TempDir, opts: Opts) -> Porch {
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

    /// Like [`Porch::restart`], running `between` while Porch is stopped.
    pub async fn restart_with(mut self, between: impl FnOnce()) -> Porch {
        self.stop();
        between();
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"));
        Self::spawn(dir, self.key.clone(), Opts::default())
    }

    /// SIGKILLs the server process alone (not its group: whatever it started must die by
    /// itself), waits until it is gone, then starts a new server on the same data directory.
    pub async fn crash_and_restart(mut self, between: impl FnOnce(&Path), opts: Opts) -> Porch {
        let mut child = self.child.take().expect("running");
        signal(child.id(), "KILL");
        let status = child.wait().expect("wait");
        assert!(!status.success(), "porch was killed: {status}");
        between(self.dir.path());
        let dir = std::mem::replace(&mut self.dir, tempfile::tempdir().expect("tempdir"));
        Self::spawn(dir, self.key.clone(), opts)
    }

    /// Process id of the server.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    fn spawn(dir: tempfile::TempDir, key: String, opts: Opts) -> Porch {
        let bind = opts.bind.clone().unwrap_or_else(|| "127.0.0.1".into());
        let mut cmd = match &opts.netns {
            Some(ns) => {
                let mut c = Command::new("ip");
                c.args(["netns", "exec", ns]).arg(porch_bin());
                c
            }
            None => Command::new(porch_bin()),
        };
        cmd.arg("serve").arg("--data-dir").arg(dir.path());
        if !opts.saved_address {
            cmd.args(["--bind", &bind, "--port", "0"]);
        }
        cmd.args(&opts.args)
            .envs(opts.env.iter().map(|(k, v)| (k, v)))
            .env("RUST_LOG", "porch=debug,porch_engine=debug,info")
            .env("PORCH_UV_CACHE_DIR", uv_cache())
            .env("UV_CONSTRAINT", uv_constraint())
            .envs(opts.env.iter().map(|(k, v)| (k, v)))
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
        let http = reqwest::Client::builder().redirect(reqwest::redirect::Policy::none()).build().expect("client");
        Porch { dir, base: url, key, http, child: Some(child) }
    }

    /// The data directory.
    pub fn data_dir(&self) -> &Path {
        self.dir.path()
    }

    /// What upload and deploy staging left in the data folder's scratch space.
    ///
    /// A thumbnail capture of an item deployed earlier in the test may be running (Chromium
    /// takes its picture in a `capture-*` folder there and removes it when done): that is work
    /// in flight, not a leftover, so it is not listed.
    pub fn scratch_leftovers(&self) -> Vec<PathBuf> {
        std::fs::read_dir(self.data_dir().join("tmp"))
            .expect("the data folder has a tmp folder")
            .map(|e| e.expect("reading tmp").path())
            .filter(|p| !p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("capture-")))
            .collect()
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
        self.http.request(method, self.url(path)).header("Authorization", format!("Key {}", self.key))
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

/// Live processes (other than `except`) whose command line or working directory mentions
/// `needle`, as `pid: cmdline` lines.
pub fn processes_mentioning(needle: &str, except: &[u32]) -> Vec<String> {
    let mut out = Vec::new();
    let Ok(rd) = std::fs::read_dir("/proc") else { return out };
    for e in rd.flatten() {
        let Some(pid) = e.file_name().to_str().and_then(|s| s.parse::<u32>().ok()) else { continue };
        if except.contains(&pid) || pid == std::process::id() {
            continue;
        }
        let cmd = std::fs::read(e.path().join("cmdline")).unwrap_or_default();
        if cmd.is_empty() {
            continue; // a zombie or kernel thread
        }
        let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
        let cwd = std::fs::read_link(e.path().join("cwd")).map(|p| p.display().to_string()).unwrap_or_default();
        if cmd.contains(needle) || cwd.contains(needle) {
            out.push(format!("{pid}: {cmd} (cwd {cwd})"));
        }
    }
    out
}

/// Runs `porch <args> --data-dir DIR` and returns its output.
pub fn run_cli(data_dir: &Path, args: &[&str]) -> Output {
    let out = Command::new(porch_bin())
        .args(args)
        .arg("--data-dir")
        .arg(data_dir)
        .env("PORCH_UV_CACHE_DIR", uv_cache())
        .env("UV_CONSTRAINT", uv_constraint())
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

/// Runs a `porch` command to completion with `stdin` as its standard input (closed at once
/// when `None`), capturing and echoing what it printed, for the tests of CLI commands that
/// read secrets from standard input.
pub fn run_with_stdin(cmd: &mut Command, stdin: Option<&str>) -> Output {
    use std::io::Write;
    let shown = format!("{cmd:?}");
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {shown}: {e}"));
    {
        let mut input = child.stdin.take().expect("stdin piped");
        if let Some(s) = stdin {
            input.write_all(s.as_bytes()).expect("write stdin");
        }
    }
    let out = child.wait_with_output().expect("command output");
    eprintln!("$ {shown}\n{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    out
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
    eprintln!("$ {shown} -> {status}\n{}{}", String::from_utf8_lossy(&stdout), String::from_utf8_lossy(&stderr));
    Output { status, stdout, stderr }
}

/// Reports a missing prerequisite through the one skip mechanism ([`skip::skip`]): a line in
/// `PORCH_SKIP_LOG`, and under `CI=true` a failure unless the test is in
/// `tests/allowed-skips.txt`. Returns so the caller can `return` after it.
pub fn skip_or_fail(test: &str, why: &str) {
    skip::skip(test, why);
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

    /// GETs an API path with the publisher's key and returns its JSON (panics unless 200).
    pub async fn get_json(&self, path: &str) -> serde_json::Value {
        let r = self.api(reqwest::Method::GET, path).send().await.expect("GET");
        assert_eq!(r.status(), 200, "GET {path}");
        r.json().await.expect("json")
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

// ---- WebSocket client (raw socket, RFC 6455) ------------------------------------------------

/// SHA-1 of `data` (for checking `Sec-WebSocket-Accept`; not for security).
pub fn sha1(data: &[u8]) -> [u8; 20] {
    let mut h: [u32; 5] = [0x6745_2301, 0xEFCD_AB89, 0x98BA_DCFE, 0x1032_5476, 0xC3D2_E1F0];
    let mut msg = data.to_vec();
    let bits = (data.len() as u64).wrapping_mul(8);
    msg.push(0x80);
    while msg.len() % 64 != 56 {
        msg.push(0);
    }
    msg.extend_from_slice(&bits.to_be_bytes());
    for block in msg.chunks(64) {
        let mut w = [0u32; 80];
        for (i, word) in block.chunks(4).enumerate() {
            w[i] = u32::from_be_bytes([word[0], word[1], word[2], word[3]]);
        }
        for i in 16..80 {
            w[i] = (w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16]).rotate_left(1);
        }
        let [mut a, mut b, mut c, mut d, mut e] = h;
        for (i, wi) in w.iter().enumerate() {
            let (f, k) = match i {
                0..=19 => ((b & c) | (!b & d), 0x5A82_7999),
                20..=39 => (b ^ c ^ d, 0x6ED9_EBA1),
                40..=59 => ((b & c) | (b & d) | (c & d), 0x8F1B_BCDC),
                _ => (b ^ c ^ d, 0xCA62_C1D6),
            };
            let t = a.rotate_left(5).wrapping_add(f).wrapping_add(e).wrapping_add(k).wrapping_add(*wi);
            e = d;
            d = c;
            c = b.rotate_left(30);
            b = a;
            a = t;
        }
        for (x, y) in h.iter_mut().zip([a, b, c, d, e]) {
            *x = x.wrapping_add(y);
        }
    }
    let mut out = [0u8; 20];
    for (i, x) in h.iter().enumerate() {
        out[i * 4..i * 4 + 4].copy_from_slice(&x.to_be_bytes());
    }
    out
}

/// Standard base64 with padding.
pub fn base64(data: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for chunk in data.chunks(3) {
        let b = [chunk[0], *chunk.get(1).unwrap_or(&0), *chunk.get(2).unwrap_or(&0)];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(A[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// The `Sec-WebSocket-Accept` a server must answer for `key`.
pub fn ws_accept(key: &str) -> String {
    base64(&sha1(format!("{key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11").as_bytes()))
}

/// One received WebSocket message (fragments joined).
#[derive(Debug, Clone)]
pub struct WsMessage {
    /// 1 text, 2 binary, 8 close.
    pub opcode: u8,
    pub data: Vec<u8>,
}

impl WsMessage {
    /// The payload as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

/// A client WebSocket over a raw TCP connection, for exchanges through the proxy.
pub struct Ws {
    stream: std::net::TcpStream,
    /// The server's handshake response head (status line and headers).
    pub head: String,
}

impl Ws {
    /// Opens `path` on a server at `base` (`http://host:port`) with the upgrade handshake,
    /// sending `Origin: <base>` and the extra headers. Returns the response head as `Err`
    /// unless it is a `101` whose `Sec-WebSocket-Accept` matches the (random) key sent.
    pub fn connect(base: &str, path: &str, headers: &[(&str, &str)]) -> Result<Ws, String> {
        use std::io::{Read, Write};
        let addr = base.trim_start_matches("http://").trim_end_matches('/').to_string();
        let mut stream = std::net::TcpStream::connect(&addr).map_err(|e| format!("connect {addr}: {e}"))?;
        stream.set_read_timeout(Some(Duration::from_secs(60))).expect("read timeout");
        stream.set_write_timeout(Some(Duration::from_secs(30))).expect("write timeout");
        let nonce: [u8; 16] = {
            let t = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default().as_nanos();
            let seed = sha1(format!("{t}{path}{}", std::process::id()).as_bytes());
            seed[..16].try_into().expect("16 bytes")
        };
        let key = base64(&nonce);
        let mut req = format!(
            "GET {path} HTTP/1.1\r\nHost: {addr}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\nOrigin: http://{addr}\r\n"
        );
        for (k, v) in headers {
            req.push_str(&format!("{k}: {v}\r\n"));
        }
        req.push_str("\r\n");
        stream.write_all(req.as_bytes()).map_err(|e| format!("send handshake: {e}"))?;
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            match stream.read(&mut byte) {
                Ok(1) => head.push(byte[0]),
                Ok(_) => break,
                Err(e) => {
                    return Err(format!(
                        "reading handshake response: {e}; got so far: {}",
                        String::from_utf8_lossy(&head)
                    ))
                }
            }
            if head.len() > 64 * 1024 {
                break;
            }
        }
        let head = String::from_utf8_lossy(&head).into_owned();
        if !head.starts_with("HTTP/1.1 101") {
            // Include some of the body, if any, for the report.
            let mut body = vec![0u8; 2048];
            stream.set_read_timeout(Some(Duration::from_secs(2))).ok();
            let n = stream.read(&mut body).unwrap_or(0);
            return Err(format!("no upgrade for {path}: {head}{}", String::from_utf8_lossy(&body[..n])));
        }
        let want = ws_accept(&key);
        let accept = head.lines().find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("sec-websocket-accept"))
                .map(|(_, v)| v.trim().to_string())
        });
        if accept.as_deref() != Some(want.as_str()) {
            return Err(format!("wrong Sec-WebSocket-Accept for {path} (want {want}): {head}"));
        }
        Ok(Ws { stream, head })
    }

    /// A response header's value from the handshake.
    pub fn header(&self, name: &str) -> Option<String> {
        self.head.lines().find_map(|l| {
            l.split_once(':').filter(|(k, _)| k.eq_ignore_ascii_case(name)).map(|(_, v)| v.trim().to_string())
        })
    }

    /// Sends one masked frame.
    pub fn send(&mut self, opcode: u8, payload: &[u8]) {
        use std::io::Write;
        let mut frame = vec![0x80 | opcode];
        let len = payload.len();
        if len < 126 {
            frame.push(0x80 | len as u8);
        } else if len < 65536 {
            frame.push(0x80 | 126);
            frame.extend_from_slice(&(len as u16).to_be_bytes());
        } else {
            frame.push(0x80 | 127);
            frame.extend_from_slice(&(len as u64).to_be_bytes());
        }
        let mask = [0x37u8, 0xfa, 0x21, 0x3d];
        frame.extend_from_slice(&mask);
        frame.extend(payload.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]));
        self.stream.write_all(&frame).expect("send frame");
    }

    /// Sends a text message.
    pub fn send_text(&mut self, text: &str) {
        self.send(1, text.as_bytes());
    }

    /// Receives the next data or close message (answers pings, joins fragments).
    pub fn recv(&mut self) -> Result<WsMessage, String> {
        use std::io::Read;
        let mut data = Vec::new();
        let mut first_opcode = None;
        loop {
            let mut h = [0u8; 2];
            self.stream.read_exact(&mut h).map_err(|e| format!("frame head: {e}"))?;
            let fin = h[0] & 0x80 != 0;
            let opcode = h[0] & 0x0f;
            let mut len = u64::from(h[1] & 0x7f);
            if len == 126 {
                let mut b = [0u8; 2];
                self.stream.read_exact(&mut b).map_err(|e| format!("frame len: {e}"))?;
                len = u64::from(u16::from_be_bytes(b));
            } else if len == 127 {
                let mut b = [0u8; 8];
                self.stream.read_exact(&mut b).map_err(|e| format!("frame len: {e}"))?;
                len = u64::from_be_bytes(b);
            }
            let mask = if h[1] & 0x80 != 0 {
                let mut m = [0u8; 4];
                self.stream.read_exact(&mut m).map_err(|e| format!("frame mask: {e}"))?;
                Some(m)
            } else {
                None
            };
            let mut payload = vec![0u8; len as usize];
            self.stream.read_exact(&mut payload).map_err(|e| format!("frame body: {e}"))?;
            if let Some(m) = mask {
                payload.iter_mut().enumerate().for_each(|(i, b)| *b ^= m[i % 4]);
            }
            match opcode {
                9 => self.send(10, &payload),
                10 => {}
                8 => return Ok(WsMessage { opcode: 8, data: payload }),
                _ => {
                    if opcode != 0 {
                        first_opcode = Some(opcode);
                    }
                    data.extend_from_slice(&payload);
                    if fin {
                        return Ok(WsMessage { opcode: first_opcode.unwrap_or(opcode), data });
                    }
                }
            }
        }
    }

    /// Receives messages until `want` accepts one (returning it and everything before it),
    /// failing on close, error or after `secs`.
    pub fn recv_until(
        &mut self,
        secs: u64,
        mut want: impl FnMut(&WsMessage) -> bool,
    ) -> Result<Vec<WsMessage>, String> {
        let deadline = Instant::now() + Duration::from_secs(secs);
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(format!("timed out after {secs}s; received: {}", summarize(&seen)));
            }
            self.stream.set_read_timeout(Some(left)).expect("read timeout");
            let m = self.recv().map_err(|e| format!("{e}; received before: {}", summarize(&seen)))?;
            let (done, closed) = (want(&m), m.opcode == 8);
            seen.push(m);
            if done {
                return Ok(seen);
            }
            if closed {
                return Err(format!("closed by the server; received: {}", summarize(&seen)));
            }
        }
    }
}

fn summarize(msgs: &[WsMessage]) -> String {
    msgs.iter()
        .map(|m| {
            let t = m.text();
            let t: String = t.chars().take(300).collect();
            format!("[op {} {}B] {t}", m.opcode, m.data.len())
        })
        .collect::<Vec<_>>()
        .join("\n")
}

// ---- pages ------------------------------------------------------------------------------------

/// Same-origin `src`/`href` references in an HTML page, resolved against `page_path`
/// (a path on the server, e.g. `/content/<guid>/`), query strings kept.
pub fn page_refs(page_path: &str, html: &str) -> Vec<String> {
    let dir = match page_path.rfind('/') {
        Some(i) => &page_path[..=i],
        None => "/",
    };
    let mut out = Vec::new();
    for attr in ["src=\"", "href=\"", "src='", "href='"] {
        let quote = attr.chars().last().expect("quote");
        let mut rest = html;
        while let Some(at) = rest.find(attr) {
            rest = &rest[at + attr.len()..];
            let Some(end) = rest.find(quote) else { break };
            let r = rest[..end].replace("&amp;", "&");
            rest = &rest[end..];
            let lower = r.to_ascii_lowercase();
            if r.is_empty()
                || r.starts_with('#')
                || r.starts_with("//")
                || ["http:", "https:", "data:", "mailto:", "javascript:", "blob:"].iter().any(|s| lower.starts_with(s))
            {
                continue;
            }
            let mut path = if r.starts_with('/') { r.clone() } else { format!("{dir}{}", r.trim_start_matches("./")) };
            // Resolve `..` segments.
            while let Some(i) = path.find("/../") {
                let head = &path[..i];
                let up = head.rfind('/').map_or(0, |j| j);
                path = format!("{}{}", &path[..up], &path[i + 3..]);
            }
            if !out.contains(&path) {
                out.push(path);
            }
        }
    }
    out
}

/// The virtualenv holding the pinned test tools: `$PORCH_TEST_VENV`, else `.venv-tests`.
pub fn test_venv() -> PathBuf {
    match std::env::var_os("PORCH_TEST_VENV") {
        Some(v) if !v.is_empty() => PathBuf::from(v),
        _ => Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-tests"),
    }
}

/// Whether uv is available (on PATH or as `python3 -m uv`), as Porch looks for it.
pub fn have_uv() -> bool {
    let ok = |c: &mut Command| c.output().map(|o| o.status.success()).unwrap_or(false);
    ok(Command::new("uv").arg("--version")) || ok(Command::new("python3").args(["-m", "uv", "--version"]))
}

/// Copies a directory tree (files and folders only).
pub fn copy_tree(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("mkdir");
    for entry in std::fs::read_dir(from).expect("read_dir") {
        let entry = entry.expect("entry");
        let dest = to.join(entry.file_name());
        if entry.file_type().expect("file type").is_dir() {
            copy_tree(&entry.path(), &dest);
        } else {
            std::fs::copy(entry.path(), &dest).expect("copy");
        }
    }
}

/// The real `rsconnect` CLI from the test venv, with its environment (HOME, proxies,
/// CONNECT_* variables) isolated from the developer's.
pub struct Rsconnect {
    bin: PathBuf,
    home: tempfile::TempDir,
}

impl Rsconnect {
    /// The CLI, or `None` (after `skip_or_fail`) when the test venv lacks it.
    pub fn find(test: &str) -> Option<Rsconnect> {
        let bin = test_venv().join("bin/rsconnect");
        if !bin.is_file() {
            skip_or_fail(
                test,
                &format!(
                    "{} not found; run `bash .ci/test` or set PORCH_TEST_VENV to a venv with tests/requirements.txt",
                    bin.display()
                ),
            );
            return None;
        }
        Some(Rsconnect { bin, home: tempfile::tempdir().expect("tempdir") })
    }

    /// Runs `rsconnect <args>` with a deadline of `secs`.
    pub fn run(&self, args: &[&str], secs: u64) -> Output {
        let mut cmd = Command::new(&self.bin);
        // In its own HOME, also as the working directory: `content build` writes
        // `rsconnect-build/` into the current directory.
        cmd.args(args)
            .current_dir(self.home.path())
            .env("HOME", self.home.path())
            .env_remove("XDG_CONFIG_HOME")
            .env("NO_PROXY", "127.0.0.1,localhost")
            .env("no_proxy", "127.0.0.1,localhost")
            .env("PYTHONDONTWRITEBYTECODE", "1")
            .env("NO_COLOR", "1")
            .env("TERM", "dumb");
        for (k, _) in std::env::vars_os() {
            let k = k.to_string_lossy().into_owned();
            if k.starts_with("CONNECT_") || k.starts_with("RSCONNECT_") {
                cmd.env_remove(&k);
            }
        }
        run_with_timeout(&mut cmd, secs)
    }
}

/// Stdout then stderr, without the ANSI colour sequences rsconnect prints even with NO_COLOR.
pub fn plain_text(out: &Output) -> String {
    let raw = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    let mut clean = String::with_capacity(raw.len());
    let mut chars = raw.chars().peekable();
    while let Some(c) = chars.next() {
        if c == '\u{1b}' && chars.peek() == Some(&'[') {
            chars.next();
            // Parameters and intermediates, then one final byte in '@'..='~'.
            for c in chars.by_ref() {
                if ('@'..='~').contains(&c) {
                    break;
                }
            }
        } else {
            clean.push(c);
        }
    }
    clean
}

/// The UTC time `secs` seconds from now (negative: ago), whole seconds, RFC 3339.
pub fn rfc3339_in(secs: i64) -> String {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs() as i64;
    let out = Command::new("date")
        .args(["-u", "-d", &format!("@{}", now + secs), "+%Y-%m-%dT%H:%M:%SZ"])
        .output()
        .expect("date");
    String::from_utf8(out.stdout).expect("utf8").trim().to_string()
}

impl Porch {
    /// Deploys a copy of a fixture folder with the CLI under `name` and returns its guid.
    pub fn deploy_fixture(&self, fixture_dir: &str, name: &str) -> String {
        let dir = tempfile::tempdir().expect("tmp");
        copy_tree(&fixture(fixture_dir), dir.path());
        let out = self.cli(&["deploy", dir.path().to_str().expect("utf8"), "--name", name]);
        assert!(out.status.success(), "deploy {fixture_dir}: {}", String::from_utf8_lossy(&out.stderr));
        let list: Vec<serde_json::Value> = serde_json::from_slice(&self.cli(&["list", "--json"]).stdout).expect("json");
        list.iter().find(|c| c["name"] == name).and_then(|c| c["guid"].as_str()).expect("guid").to_string()
    }
}

/// Creates the network namespace `name` (`ip netns add`); false, after recording a skip (or
/// failing under CI), when this machine does not allow it (not root, no iproute2).
pub fn netns_add(test: &str, name: &str) -> bool {
    match Command::new("ip").args(["netns", "add", name]).output() {
        Ok(o) if o.status.success() => true,
        Ok(o) => {
            skip_or_fail(
                test,
                &format!("`ip netns add` is not permitted here (run as root): {}", String::from_utf8_lossy(&o.stderr)),
            );
            false
        }
        Err(e) => {
            skip_or_fail(test, &format!("`ip` (iproute2) cannot run: {e}"));
            false
        }
    }
}

/// Runs `cmd args…` inside the network namespace `ns` (`ip netns exec`), with a deadline and
/// without the test machine's proxy variables (the namespace reaches only its own LAN).
pub fn netns_exec(ns: &str, cmd: &str, args: &[&str], secs: u64) -> Output {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, cmd]).args(args);
    for proxy in ["http_proxy", "https_proxy", "HTTP_PROXY", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"] {
        c.env_remove(proxy);
    }
    run_with_timeout(&mut c, secs)
}
