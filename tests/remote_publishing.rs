//! Black-box test of the LAN policy: management calls (`/__api__/`) from a non-loopback
//! peer are refused unless `--allow-remote-publishing` was given, while viewers on the LAN
//! may always read the landing page and published content.
//!
//! Every 127.0.0.0/8 address is loopback, so the "LAN client" is a real network namespace
//! joined to the root namespace by a veth pair (iproute2), and requests are made with curl
//! from inside it. Needs root and `ip`; otherwise it records a skip (`common::skip`;
//! under CI a failure).
//! Only the two addresses of this test's own veth pair and loopback are ever contacted.

mod common;

use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use common::{run_with_timeout, skip_or_fail, Opts, Porch};
use serde_json::Value;

/// Seconds one curl from the namespace may take (curl's own limit is lower).
const CURL_TIMEOUT: u64 = 30;

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A network namespace with a veth pair to the root namespace; removed on drop.
struct LanHost {
    ns: String,
    veth_host: String,
    /// The root namespace's end of the pair: where the server is reached from the LAN host.
    host_ip: String,
    /// The LAN host's own address.
    ns_ip: String,
}

fn ip(args: &[&str]) -> Output {
    run_with_timeout(Command::new("ip").args(args), 30)
}

fn ip_ok(args: &[&str]) {
    let out = ip(args);
    assert!(out.status.success(), "ip {} failed: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

impl LanHost {
    /// Removes namespaces this test left behind in runs that were killed before their drop
    /// ran: only `porch-t-<pid>-<n>` whose test process no longer exists.
    fn remove_stale() {
        let list = String::from_utf8_lossy(&ip(&["netns", "list"]).stdout).into_owned();
        for name in list.lines().filter_map(|l| l.split_whitespace().next()) {
            let Some(rest) = name.strip_prefix("porch-t-") else { continue };
            let Some((pid, n)) = rest.split_once('-') else { continue };
            if pid.parse::<u32>().is_err() || n.parse::<u32>().is_err() {
                continue;
            }
            if !std::path::Path::new(&format!("/proc/{pid}")).exists() {
                eprintln!("removing stale network namespace {name}");
                let _ = ip(&["netns", "del", name]);
            }
        }
    }

    fn create() -> LanHost {
        Self::remove_stale();
        let pid = std::process::id();
        let n = NEXT.fetch_add(1, Ordering::SeqCst);
        let ns = format!("porch-t-{pid}-{n}");
        let tag = format!("{}{n}", pid % 10000);
        let veth_host = format!("pvh{tag}");
        let veth_ns = format!("pvn{tag}");
        assert!(veth_host.len() <= 15 && veth_ns.len() <= 15);

        // A /30 inside 10.213.0.0/16 that no interface on this machine uses yet.
        let used = String::from_utf8_lossy(&ip(&["-4", "-o", "addr", "show"]).stdout).into_owned();
        let start = (pid.wrapping_mul(7).wrapping_add(n * 13)) % 16384;
        let (a, b) = (0..16384u32)
            .map(|i| (start + i) % 16384)
            .map(|k| (k / 64, (k % 64) * 4))
            .find(|(a, b)| (1..=2).all(|h| !used.contains(&format!("inet 10.213.{a}.{}/", b + h))))
            .expect("a free /30 in 10.213.0.0/16");
        let host_ip = format!("10.213.{a}.{}", b + 1);
        let ns_ip = format!("10.213.{a}.{}", b + 2);

        ip_ok(&["netns", "add", &ns]);
        // From here on, drop cleans up whatever was made.
        let lan = LanHost { ns, veth_host, host_ip, ns_ip };
        ip_ok(&["link", "add", &lan.veth_host, "type", "veth", "peer", "name", &veth_ns]);
        ip_ok(&["link", "set", &veth_ns, "netns", &lan.ns]);
        ip_ok(&["addr", "add", &format!("{}/30", lan.host_ip), "dev", &lan.veth_host]);
        ip_ok(&["link", "set", &lan.veth_host, "up"]);
        ip_ok(&["-n", &lan.ns, "addr", "add", &format!("{}/30", lan.ns_ip), "dev", &veth_ns]);
        ip_ok(&["-n", &lan.ns, "link", "set", &veth_ns, "up"]);
        ip_ok(&["-n", &lan.ns, "link", "set", "lo", "up"]);
        eprintln!("LAN host: netns {} at {} <-> {} on {}", lan.ns, lan.ns_ip, lan.host_ip, lan.veth_host);
        lan
    }

    /// Runs curl inside the namespace against this pair's host address.
    fn curl(&self, port: u16, method: &str, path: &str, key: Option<&str>, body: Option<&str>) -> Reply {
        self.request(port, method, path, key, body, &[])
    }

    /// Like [`LanHost::curl`], with extra request headers; the reply keeps the response head.
    fn request(
        &self,
        port: u16,
        method: &str,
        path: &str,
        key: Option<&str>,
        body: Option<&str>,
        headers: &[(&str, &str)],
    ) -> Reply {
        assert!(path.starts_with('/'));
        let url = format!("http://{}:{port}{path}", self.host_ip);
        let mut cmd = Command::new("ip");
        cmd.args([
            "netns",
            "exec",
            &self.ns,
            "curl",
            "-sS",
            "-i",
            "--path-as-is",
            "--noproxy",
            "*",
            "--max-time",
            "20",
        ])
        .args(["-X", method, "-w", "\n__PORCH_META__ %{http_code} %{content_type}"]);
        if let Some(key) = key {
            cmd.args(["-H", &format!("Authorization: Key {key}")]);
        }
        for (k, v) in headers {
            cmd.args(["-H", &format!("{k}: {v}")]);
        }
        if let Some(body) = body {
            cmd.args(["-H", "Content-Type: application/json", "--data-binary", body]);
        }
        cmd.arg(&url);
        let out = run_with_timeout(&mut cmd, CURL_TIMEOUT);
        assert!(
            out.status.success(),
            "curl {method} {url} from netns {} failed: {}",
            self.ns,
            String::from_utf8_lossy(&out.stderr)
        );
        let marker = b"\n__PORCH_META__ ";
        let at = out.stdout.windows(marker.len()).rposition(|w| w == marker).expect("curl printed its status line");
        let meta = String::from_utf8_lossy(&out.stdout[at + marker.len()..]).into_owned();
        let (code, ctype) = meta.trim().split_once(' ').unwrap_or((meta.trim(), ""));
        let all = &out.stdout[..at];
        let split = all.windows(4).position(|w| w == b"\r\n\r\n").map_or(all.len(), |i| i + 4);
        Reply {
            what: format!("{method} {path} from {} (key: {})", self.ns_ip, key.is_some()),
            status: code.parse().unwrap_or_else(|_| panic!("curl status {meta:?}")),
            ctype: ctype.to_string(),
            head: String::from_utf8_lossy(&all[..split]).into_owned(),
            body: all[split..].to_vec(),
        }
    }

    /// Opens a WebSocket from inside the namespace (Python's standard library; curl has no
    /// WebSocket client here), sends `hello-lan` and returns the handshake's status line and
    /// the first message back (empty when there was no upgrade).
    fn websocket(&self, port: u16, path: &str, cookie: &str) -> (String, String) {
        const CLIENT: &str = r#"
import base64, os, socket, sys
host, port, path, cookie = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
s = socket.create_connection((host, port), timeout=20)
req = (f"GET {path} HTTP/1.1\r\nHost: {host}:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
       f"Sec-WebSocket-Key: {base64.b64encode(os.urandom(16)).decode()}\r\nSec-WebSocket-Version: 13\r\n"
       f"Origin: http://{host}:{port}\r\n")
if cookie:
    req += f"Cookie: {cookie}\r\n"
s.sendall((req + "\r\n").encode())
def exactly(n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise SystemExit("closed early")
        b += c
    return b
head = b""
while not head.endswith(b"\r\n\r\n"):
    head += exactly(1)
print(head.split(b"\r\n")[0].decode())
if head.split(b" ")[1] == b"101":
    msg, mask = b"hello-lan", os.urandom(4)
    s.sendall(bytes([0x81, 0x80 | len(msg)]) + mask + bytes(c ^ mask[i % 4] for i, c in enumerate(msg)))
    b1, b2 = exactly(2)
    print(exactly(b2 & 0x7F).decode())
"#;
        let out = run_with_timeout(
            Command::new("ip").args([
                "netns",
                "exec",
                &self.ns,
                "python3",
                "-c",
                CLIENT,
                &self.host_ip,
                &port.to_string(),
                path,
                cookie,
            ]),
            CURL_TIMEOUT,
        );
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "WebSocket {path} from {}: {text}{}",
            self.ns_ip,
            String::from_utf8_lossy(&out.stderr)
        );
        let mut lines = text.lines();
        (lines.next().unwrap_or("").to_string(), lines.next().unwrap_or("").to_string())
    }
}

impl Drop for LanHost {
    fn drop(&mut self) {
        // Deleting the namespace destroys its veth end and so the pair; the link delete is
        // for the case where the peer never made it into the namespace.
        let _ = Command::new("ip").args(["netns", "del", &self.ns]).status();
        let _ = Command::new("ip").args(["link", "del", &self.veth_host]).stderr(std::process::Stdio::null()).status();
    }
}

struct Reply {
    what: String,
    status: u16,
    ctype: String,
    /// Status line and headers.
    head: String,
    body: Vec<u8>,
}

impl Reply {
    /// Every value of a response header.
    fn header_values(&self, name: &str) -> Vec<String> {
        self.head
            .lines()
            .filter_map(|l| l.split_once(':'))
            .filter(|(k, _)| k.trim().eq_ignore_ascii_case(name))
            .map(|(_, v)| v.trim().to_string())
            .collect()
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    fn expect_status(&self, status: u16) -> &Self {
        assert_eq!(self.status, status, "{}: body {}", self.what, self.text());
        self
    }

    fn json(&self) -> Value {
        assert!(
            self.ctype.starts_with("application/json"),
            "{}: content-type {:?}, body {}",
            self.what,
            self.ctype,
            self.text()
        );
        serde_json::from_slice(&self.body).unwrap_or_else(|e| panic!("{}: not JSON ({e}): {}", self.what, self.text()))
    }

    /// Asserts a Connect-style error body: `{"code": int, "error": "...", "payload": ...}`.
    fn expect_error_body(&self) -> Value {
        let v = self.json();
        assert!(v["code"].is_i64(), "{}: error body without integer code: {v}", self.what);
        assert!(
            v["error"].as_str().is_some_and(|e| !e.is_empty()),
            "{}: error body without an error message: {v}",
            self.what
        );
        assert!(v.get("payload").is_some(), "{}: error body without payload: {v}", self.what);
        v
    }
}

/// Root and iproute2 are needed to make the LAN host.
fn prerequisites_met(test: &str) -> bool {
    let root = Command::new("id")
        .arg("-u")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim() == "0")
        .unwrap_or(false);
    if !root {
        skip_or_fail(test, "needs root to create a network namespace");
        return false;
    }
    for tool in ["ip", "curl"] {
        let found = Command::new(tool)
            .arg("-V")
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok();
        if !found {
            skip_or_fail(test, &format!("`{tool}` is not installed"));
            return false;
        }
    }
    true
}

fn port_of(p: &Porch) -> u16 {
    p.base.rsplit(':').next().and_then(|s| s.parse().ok()).unwrap_or_else(|| panic!("no port in {}", p.base))
}

/// Starts Porch on all interfaces.
async fn start_on_all_interfaces(extra: &[&str]) -> Porch {
    Porch::start_with(Opts {
        bind: Some("0.0.0.0".into()),
        args: extra.iter().map(|s| s.to_string()).collect(),
        ..Opts::default()
    })
    .await
}

/// GET on loopback with the key; asserts 200 JSON.
async fn local_json(p: &Porch, port: u16, path: &str) -> Value {
    let resp = p
        .http
        .get(format!("http://127.0.0.1:{port}{path}"))
        .header("Authorization", format!("Key {}", p.key))
        .send()
        .await
        .expect("GET");
    let status = resp.status();
    let body = resp.text().await.expect("body");
    assert_eq!(status, 200, "loopback GET {path} with key: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn lan_peers_may_view_but_not_manage_by_default() {
    const TEST: &str = "remote_publishing::lan_peers_may_view_but_not_manage_by_default";
    if !prerequisites_met(TEST) {
        return;
    }
    let lan = LanHost::create();
    let p = start_on_all_interfaces(&[]).await;
    let port = port_of(&p);

    // Publish a static site from this machine with the CLI.
    let work = tempfile::tempdir().expect("tempdir");
    let site = work.path().join("lan-site");
    std::fs::create_dir_all(site.join("docs")).expect("mkdir");
    let fixture = common::fixture("rsconnect-site");
    for f in ["index.html", "style.css", "docs/page.html"] {
        std::fs::copy(fixture.join(f), site.join(f)).expect("copy fixture");
    }
    let index = std::fs::read(site.join("index.html")).expect("index");
    let out = p.cli(&["deploy", site.to_str().expect("utf8"), "--name", "lan-site", "--title", "LAN Fixture Site"]);
    assert!(out.status.success(), "porch deploy failed");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let url = stdout.lines().last().unwrap_or("").trim().to_string();
    let guid = url
        .split("/content/")
        .nth(1)
        .map(|s| s.trim_end_matches('/').to_string())
        .unwrap_or_else(|| panic!("porch deploy's last line has no content URL: {stdout:?}"));

    // The CLI wrote from another process: the server notices the commit by itself (it polls
    // the database), so wait for the viewer routes to show it.
    common::eventually(15, "the running server to pick up the CLI deploy", || {
        let url = format!("http://127.0.0.1:{port}/content/{guid}/");
        let http = p.http.clone();
        async move {
            let resp = http.get(url).send().await.ok()?;
            (resp.status() == 200).then_some(())
        }
    })
    .await;

    // Management from loopback works.
    let items = local_json(&p, port, "/__api__/v1/content").await;
    let items = items.as_array().expect("content list is an array");
    assert_eq!(items.len(), 1, "{items:?}");
    assert_eq!(items[0]["guid"], guid.as_str(), "{items:?}");

    // Management from the LAN is refused, even with a valid key, and changes nothing.
    let r = lan.curl(port, "GET", "/__api__/v1/content", Some(p.key.as_str()), None);
    r.expect_status(403).expect_error_body();
    let r = lan.curl(port, "GET", &format!("/__api__/v1/content/{guid}"), Some(p.key.as_str()), None);
    r.expect_status(403).expect_error_body();
    let r = lan.curl(port, "POST", "/__api__/v1/content", Some(p.key.as_str()), Some(r#"{"name":"from-lan"}"#));
    r.expect_status(403).expect_error_body();
    let items = local_json(&p, port, "/__api__/v1/content").await;
    assert_eq!(items.as_array().map(Vec::len), Some(1), "a refused create made content: {items}");

    // This computer on its own LAN address is this computer (a server bound to that address
    // is reached there by its own CLI), with the key or the session key of `porch.token`.
    let session = std::fs::read_to_string(p.data_dir().join("porch.token")).expect("porch.token");
    for key in [p.key.clone(), session.trim().to_string()] {
        let r = p
            .http
            .get(format!("http://{}:{port}/__api__/v1/content", lan.host_ip))
            .header("Authorization", format!("Key {key}"))
            .send()
            .await
            .expect("GET on this computer's LAN address");
        assert_eq!(r.status(), 200, "management from this computer's own LAN address");
    }

    // Viewers on the LAN are welcome.
    let r = lan.curl(port, "GET", "/", None, None);
    r.expect_status(200);
    assert!(r.text().contains("LAN Fixture Site"), "landing page from the LAN: {}", r.text());
    let r = lan.curl(port, "GET", &format!("/content/{guid}/"), None, None);
    r.expect_status(200);
    assert_eq!(r.body, index, "/content/{guid}/ from the LAN: wrong bytes");
    let r = lan.curl(port, "GET", &format!("/content/{guid}/style.css"), None, None);
    r.expect_status(200);
    assert!(r.ctype.starts_with("text/css"), "css content-type {:?}", r.ctype);

    p.shutdown();
    drop(lan);
}

#[tokio::test(flavor = "multi_thread")]
async fn allow_remote_publishing_lets_keyed_lan_clients_manage() {
    const TEST: &str = "remote_publishing::allow_remote_publishing_lets_keyed_lan_clients_manage";
    if !prerequisites_met(TEST) {
        return;
    }
    let lan = LanHost::create();
    let p = start_on_all_interfaces(&["--allow-remote-publishing"]).await;
    let port = port_of(&p);

    // With the key: allowed.
    let r = lan.curl(port, "GET", "/__api__/v1/content", Some(p.key.as_str()), None);
    let list = r.expect_status(200).json();
    assert_eq!(list.as_array().map(Vec::len), Some(0), "fresh server lists content: {list}");
    let r = lan.curl(port, "GET", "/__api__/v1/user", Some(p.key.as_str()), None);
    let user = r.expect_status(200).json();
    assert!(user["username"].is_string(), "user: {user}");

    // Without a key, or with a wrong one: 401 with a Connect error body.
    let r = lan.curl(port, "GET", "/__api__/v1/content", None, None);
    r.expect_status(401).expect_error_body();
    let r = lan.curl(port, "GET", "/__api__/v1/content", Some("0123456789abcdef0123456789abcdef"), None);
    r.expect_status(401).expect_error_body();
    let r = lan.curl(port, "GET", "/__api__/v1/user", None, None);
    let v = r.expect_status(401).expect_error_body();
    assert_eq!(v["code"], 30, "anonymous /v1/user must answer code 30: {v}");

    // This run's local credential (`porch.token`, the CLI's and the window's key) is refused
    // from the LAN even with remote publishing on; it works from this computer.
    let session = std::fs::read_to_string(p.data_dir().join("porch.token")).expect("porch.token");
    let r = lan.curl(port, "GET", "/__api__/v1/content", Some(session.trim()), None);
    r.expect_status(401).expect_error_body();
    let r = p.http.get(p.url("/__api__/v1/content")).header("Authorization", format!("Key {}", session.trim()));
    assert_eq!(r.send().await.expect("get").status(), 200, "the session key works from loopback");

    // A keyed create from the LAN makes content, visible from loopback too.
    let r = lan.curl(port, "POST", "/__api__/v1/content", Some(p.key.as_str()), Some(r#"{"name":"from-lan"}"#));
    assert!(r.status == 200 || r.status == 201, "{}: status {}, body {}", r.what, r.status, r.text());
    let created = r.json();
    let guid = created["guid"].as_str().unwrap_or_else(|| panic!("no guid: {created}")).to_string();
    let items = local_json(&p, port, "/__api__/v1/content").await;
    let items = items.as_array().expect("content list is an array");
    assert!(
        items.iter().any(|i| i["guid"] == guid.as_str() && i["name"] == "from-lan"),
        "LAN-created content missing: {items:?}"
    );

    // What names a file on this computer is refused from the LAN, key or not: a folder to
    // follow (it would publish any folder Porch can read), a CA file (it would probe paths).
    let folder = tempfile::tempdir().expect("folder");
    std::fs::write(folder.path().join("id_rsa"), "HOST-PRIVATE-FILE").expect("write");
    let link = format!(r#"{{"path":"{}"}}"#, folder.path().display());
    let r = lan.curl(port, "PUT", &format!("/__api__/porch/content/{guid}/link"), Some(p.key.as_str()), Some(&link));
    let v = r.expect_status(403).expect_error_body();
    assert!(v["error"].as_str().is_some_and(|e| e.contains("not from another computer")), "{v}");
    let smtp = r#"{"host":"mail.example","port":587,"security":"starttls","from":"a@example.com","owner":"a@example.com","ca_file":"/etc/hostname"}"#;
    lan.curl(port, "PUT", "/__api__/porch/smtp", Some(p.key.as_str()), Some(smtp)).expect_status(403);
    let target = r#"{"name":"corp","url":"https://connect.example","api_key":"k","ca_file":"/etc/hostname"}"#;
    lan.curl(port, "POST", "/__api__/porch/targets", Some(p.key.as_str()), Some(target)).expect_status(403);
    assert_eq!(lan.curl(port, "GET", &format!("/content/{guid}/id_rsa"), None, None).status, 404);
    // From this computer the same link is taken.
    let r = p.api(reqwest::Method::PUT, &format!("/__api__/porch/content/{guid}/link")).body(link).send().await;
    assert_eq!(r.expect("put").status(), 200);

    p.shutdown();
    drop(lan);
}

#[tokio::test(flavor = "multi_thread")]
async fn the_saved_remote_publishing_switch_applies_at_once() {
    const TEST: &str = "remote_publishing::the_saved_remote_publishing_switch_applies_at_once";
    if !prerequisites_met(TEST) {
        return;
    }
    let lan = LanHost::create();
    let p = start_on_all_interfaces(&[]).await;
    let port = port_of(&p);
    lan.curl(port, "GET", "/__api__/v1/content", Some(p.key.as_str()), None).expect_status(403);

    // Switched on from this computer (the Settings pane's call): the LAN may publish at once.
    let r = p
        .api(reqwest::Method::PATCH, "/__api__/porch/server")
        .json(&serde_json::json!({"allow_remote_publishing": true}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 200);
    let v: Value = r.json().await.expect("json");
    assert_eq!(
        (v["allow_remote_publishing"].clone(), v["settings"]["remote_publishing_flag"].clone()),
        (true.into(), false.into()),
        "{v}"
    );
    lan.curl(port, "GET", "/__api__/v1/content", Some(p.key.as_str()), None).expect_status(200);
    // A switch from the LAN itself is one more management call: allowed only while on.
    let r = lan.curl(
        port,
        "PATCH",
        "/__api__/porch/server",
        Some(p.key.as_str()),
        Some(r#"{"allow_remote_publishing":false}"#),
    );
    r.expect_status(200);
    lan.curl(port, "GET", "/__api__/v1/content", Some(p.key.as_str()), None).expect_status(403);
    let r = lan.curl(
        port,
        "PATCH",
        "/__api__/porch/server",
        Some(p.key.as_str()),
        Some(r#"{"allow_remote_publishing":true}"#),
    );
    r.expect_status(403);

    // Through the CLI, under the running server: picked up without a restart.
    let out = p.cli(&["settings", "set", "remote-publishing=on"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    common::eventually(20, "the server to read the CLI's change", || async {
        (lan.curl(port, "GET", "/__api__/v1/content", Some(p.key.as_str()), None).status == 200).then_some(())
    })
    .await;
    p.shutdown();
    drop(lan);
}

/// Creates a static item with two bundles through the loopback API; returns (guid, first bundle).
async fn two_bundle_site(p: &Porch, name: &str) -> (String, String) {
    let guid = p.create(name).await;
    let first = p.publish(&guid, common::targz(&[("index.html", format!("{name} v1").as_bytes())])).await;
    p.publish(&guid, common::targz(&[("index.html", format!("{name} v2").as_bytes())])).await;
    (guid, first)
}

async fn set_access(p: &Porch, guid: &str, access: &str) {
    let r = p
        .api(reqwest::Method::PATCH, &format!("/__api__/v1/content/{guid}"))
        .json(&serde_json::json!({ "viewer_access": access }))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 200, "set {guid} to {access}");
}

/// The link cookie a secret-link URL sets, as `name=value`, fetched from the LAN host.
fn open_link_from_lan(lan: &LanHost, port: u16, url: &str) -> (Reply, String) {
    let path = url.split_once("/content/").map(|(_, t)| format!("/content/{t}")).expect("content URL");
    let r = lan.request(port, "GET", &path, None, None, &[]);
    let cookie = r
        .header_values("set-cookie")
        .first()
        .map(|c| c.split(';').next().unwrap_or("").to_string())
        .unwrap_or_default();
    (r, cookie)
}

#[tokio::test(flavor = "multi_thread")]
async fn each_viewer_access_from_the_lan_and_from_loopback() {
    const TEST: &str = "remote_publishing::each_viewer_access_from_the_lan_and_from_loopback";
    if !prerequisites_met(TEST) {
        return;
    }
    let with_app = common::have_uv();
    if !with_app {
        skip_or_fail(TEST, "uv is not installed: the WebSocket part needs an app");
    }
    let lan = LanHost::create();
    let p = start_on_all_interfaces(&[]).await;
    let port = port_of(&p);
    let (site, rev) = two_bundle_site(&p, "lan-access-site").await;
    let app = if with_app {
        let dir = tempfile::tempdir().expect("tmp");
        common::copy_tree(&common::fixture("apps/access-app"), dir.path());
        let out = p.cli(&["deploy", dir.path().to_str().expect("utf8"), "--name", "lan-access-app"]);
        assert!(out.status.success(), "deploy the app: {}", String::from_utf8_lossy(&out.stderr));
        let list: Vec<Value> = serde_json::from_slice(&p.cli(&["list", "--json"]).stdout).expect("json");
        list.iter().find(|c| c["name"] == "lan-access-app").and_then(|c| c["guid"].as_str()).map(str::to_string)
    } else {
        None
    };
    let loopback = |path: String| {
        let http = p.http.clone();
        async move {
            let r = http.get(format!("http://127.0.0.1:{port}{path}")).send().await.expect("GET");
            (r.status().as_u16(), r.text().await.expect("body"))
        }
    };
    let missing = lan.curl(port, "GET", "/content/6f1c3f1e-0000-4000-8000-000000000000/", None, None);
    missing.expect_status(404);

    // network: everyone, on every path, WebSockets included.
    set_access(&p, &site, "network").await;
    lan.curl(port, "GET", &format!("/content/{site}/"), None, None).expect_status(200);
    let r = lan.curl(port, "GET", &format!("/content/{site}/_rev{rev}/"), None, None);
    assert_eq!(r.expect_status(200).text(), "lan-access-site v1");
    assert!(lan.curl(port, "GET", "/", None, None).text().contains(&format!("/content/{site}/")));
    if let Some(app) = &app {
        set_access(&p, app, "network").await;
        let (status, echo) = lan.websocket(port, &format!("/content/{app}/ws"), "");
        assert!(status.contains(" 101 "), "{status}");
        assert_eq!(echo, "echo:hello-lan");
        // The app's own port is bound to loopback: the LAN host cannot connect to it.
        let jobs = local_json(&p, port, &format!("/__api__/v1/content/{app}/jobs")).await;
        let app_port = jobs[0]["port"].as_u64().unwrap_or_else(|| panic!("a running worker with a port: {jobs}"));
        let direct = run_with_timeout(
            Command::new("ip")
                .args(["netns", "exec", &lan.ns, "curl", "-sS", "--max-time", "10"])
                .arg(format!("http://{}:{app_port}/", lan.host_ip)),
            CURL_TIMEOUT,
        );
        assert_eq!(
            direct.status.code(),
            Some(7),
            "the app's private port answered the LAN: {}",
            String::from_utf8_lossy(&direct.stdout)
        );
    }

    // Every management route refuses the LAN, key or not (remote publishing is off).
    for (method, path) in [
        ("GET", "/__api__/v1/content".to_string()),
        ("GET", format!("/__api__/v1/content/{site}")),
        ("PATCH", format!("/__api__/v1/content/{site}")),
        ("DELETE", format!("/__api__/v1/content/{site}")),
        ("GET", format!("/__api__/v1/content/{site}/bundles")),
        ("GET", format!("/__api__/v1/content/{site}/bundles/{rev}/download")),
        ("POST", format!("/__api__/v1/content/{site}/deploy")),
        ("GET", "/__api__/v1/tasks/anything".to_string()),
        ("GET", "/__api__/porch/events".to_string()),
        ("POST", format!("/__api__/porch/content/{site}/secret-link")),
        ("DELETE", format!("/__api__/porch/content/{site}/secret-link")),
        ("GET", "/__api__/porch/keys".to_string()),
        ("POST", "/__api__/porch/keys".to_string()),
        ("GET", "/__api__/porch/smtp".to_string()),
        ("GET", "/__api__/applications".to_string()),
        ("GET", "/__api__/v1/user".to_string()),
    ] {
        for key in [None, Some(p.key.as_str())] {
            lan.curl(port, method, &path, key, (method != "GET" && method != "DELETE").then_some("{}"))
                .expect_status(403)
                .expect_error_body();
        }
    }

    // local: this computer only; from the LAN, every path is a missing item, even with the
    // key (remote publishing is off, so the key opens nothing from the LAN).
    set_access(&p, &site, "local").await;
    for path in
        [format!("/content/{site}/"), format!("/content/{site}/_rev{rev}/"), format!("/content/{site}/_bundle{rev}/")]
    {
        let r = lan.curl(port, "GET", &path, None, None);
        r.expect_status(404);
        assert_eq!(r.body, missing.body, "{path}: a local item must look missing from the LAN");
        lan.curl(port, "GET", &path, Some(p.key.as_str()), None).expect_status(404);
    }
    assert!(!lan.curl(port, "GET", "/", None, None).text().contains(&site), "a local item is listed for the LAN");
    assert_eq!(loopback(format!("/content/{site}/_rev{rev}/")).await, (200, "lan-access-site v1".into()));
    assert!(
        loopback("/".into()).await.1.contains(&format!("/content/{site}/")),
        "a local item is not listed on this computer"
    );
    if let Some(app) = &app {
        set_access(&p, app, "local").await;
        let (status, _) = lan.websocket(port, &format!("/content/{app}/ws"), "");
        assert!(status.contains(" 404 "), "a local app's WebSocket opened from the LAN: {status}");
        let mut ws = common::Ws::connect(&format!("http://127.0.0.1:{port}"), &format!("/content/{app}/ws"), &[])
            .expect("loopback WebSocket");
        ws.send_text("local");
        assert_eq!(ws.recv().expect("echo").text(), "echo:local");
    }

    // link: only with the secret link, from anywhere (loopback included); its cookie opens
    // every path of the item, WebSockets too.
    set_access(&p, &site, "link").await;
    lan.curl(port, "GET", &format!("/content/{site}/"), None, None).expect_status(404);
    assert_eq!(loopback(format!("/content/{site}/")).await.0, 404);
    let pr = &p;
    let link = |guid: String| async move {
        let r = pr
            .api(reqwest::Method::POST, &format!("/__api__/porch/content/{guid}/secret-link"))
            .send()
            .await
            .expect("post");
        let v: Value = r.json().await.expect("json");
        v["url"].as_str().expect("url").to_string()
    };
    let url = link(site.clone()).await;
    let wrong = lan.curl(port, "GET", &format!("/content/{site}/?porch_token={}", "f".repeat(64)), None, None);
    wrong.expect_status(404);
    assert_eq!(wrong.body, missing.body, "a wrong token must look like a missing item");
    let (r, cookie) = open_link_from_lan(&lan, port, &url);
    r.expect_status(303);
    assert_eq!(r.header_values("location"), [format!("/content/{site}/")]);
    assert!(
        r.header_values("set-cookie")
            .iter()
            .all(|c| c.contains("HttpOnly") && c.contains(&format!("Path=/content/{site};"))),
        "{}",
        r.head
    );
    let r = lan.request(port, "GET", &format!("/content/{site}/_rev{rev}/"), None, None, &[("Cookie", &cookie)]);
    assert_eq!(r.expect_status(200).text(), "lan-access-site v1");
    lan.request(port, "GET", &format!("/content/{site}/"), None, None, &[("Cookie", &cookie)]).expect_status(200);
    assert!(
        !lan.request(port, "GET", "/", None, None, &[("Cookie", &cookie)]).text().contains(&site),
        "a link item is listed"
    );
    if let Some(app) = &app {
        set_access(&p, app, "link").await;
        let ws_path = format!("/content/{app}/ws");
        assert!(lan.websocket(port, &ws_path, "").0.contains(" 404 "));
        let (_, app_cookie) = open_link_from_lan(&lan, port, &link(app.clone()).await);
        let (status, echo) = lan.websocket(port, &ws_path, &app_cookie);
        assert!(status.contains(" 101 "), "{status}");
        assert_eq!(echo, "echo:hello-lan");
        assert!(lan.websocket(port, &ws_path, &cookie).0.contains(" 404 "), "one item's link cookie opened another");
    }
    p.shutdown();
    drop(lan);
}

/// The tray's (and Settings') "Pause sharing": LAN viewers get a 503 "paused" page while
/// this computer keeps full access; resuming serves them again.
#[tokio::test(flavor = "multi_thread")]
async fn paused_sharing_turns_lan_viewers_away_until_resumed() {
    const TEST: &str = "remote_publishing::paused_sharing_turns_lan_viewers_away_until_resumed";
    if !prerequisites_met(TEST) {
        return;
    }
    let lan = LanHost::create();
    let p = start_on_all_interfaces(&[]).await;
    let port = port_of(&p);
    let guid = p.create("paused-site").await;
    p.publish(&guid, common::targz(&[("index.html", b"<h1>shared</h1>")])).await;
    let page = format!("/content/{guid}/");
    lan.curl(port, "GET", &page, None, None).expect_status(200);

    let pause = |paused: bool| {
        p.http
            .put(format!("http://127.0.0.1:{port}/__api__/porch/sharing"))
            .header("Authorization", format!("Key {}", p.key))
            .json(&serde_json::json!({ "paused": paused }))
            .send()
    };
    assert_eq!(pause(true).await.expect("pause").status(), 200);
    for path in [page.as_str(), "/"] {
        let r = lan.curl(port, "GET", path, None, None);
        r.expect_status(503);
        assert!(r.text().contains("Sharing is paused"), "{path} from the LAN: {}", r.text());
    }
    // This computer is unaffected.
    let local = p.http.get(format!("http://127.0.0.1:{port}{page}")).send().await.expect("local");
    assert_eq!(local.status(), 200);
    // Nor can the LAN switch it back (management stays loopback-only).
    lan.curl(port, "PUT", "/__api__/porch/sharing", Some(p.key.as_str()), Some(r#"{"paused":false}"#))
        .expect_status(403);

    assert_eq!(pause(false).await.expect("resume").status(), 200);
    let r = lan.curl(port, "GET", &page, None, None);
    r.expect_status(200);
    assert!(r.text().contains("shared"), "{}", r.text());
}
