//! The name on the network (issue 13 item 1), checked the way another computer sees it:
//! Porch serves in one network namespace, and python-zeroconf (PyPI, a third-party mDNS
//! resolver) in a second namespace joined to it by a veth pair resolves `NAME.local`, browses
//! `_http._tcp`, finds "Porch on NAME" and fetches the landing page through the address it
//! resolved. Then the first namespace's address changes while Porch runs, and a second Porch
//! that wants the same name takes `NAME-2` and says why.
//!
//! The avahi path: avahi-daemon (Debian's) runs in Porch's namespace on a private D-Bus system
//! bus (a `dbus-daemon` this test starts with its own configuration; both avahi and Porch get
//! its address in `DBUS_SYSTEM_BUS_ADDRESS`). Porch publishes through it and opens no mDNS
//! socket of its own (read from `/proc`), and falls back to its own responder when avahi
//! stops. The other tests give Porch a bus address where no bus listens, so a developer's
//! own avahi-daemon is never used by them.
//!
//! Needs root (`ip netns`); without it each test records a skip (tests/common/skip.rs) and
//! never passes quietly. Every namespace is removed when the test ends, also on a panic (the
//! [`Lan`] guard). Names are unique per run: several runs may share the machine.

mod common;

use std::collections::HashSet;
use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use common::{py, run_cli, Opts, Porch};
use serde_json::Value;

/// A small LAN of network namespaces (`../shared/research/lan-discovery.md`): computers
/// `hosts[i]` at 10.231.7.(i+1)/24, each joined by a veth pair to a bridge in `viewer`, the
/// computer that looks them up (10.231.7.100/24). The resolver runs alone in `viewer`, as on
/// another computer. Removed on drop.
struct Lan {
    /// The namespaces Porch serves in.
    hosts: Vec<String>,
    /// The namespace of the computer that looks Porch up.
    viewer: String,
    /// Each host's end of its pair, inside that host.
    host_ifs: Vec<String>,
}

static NEXT: AtomicU32 = AtomicU32::new(0);

impl Lan {
    /// Creates the LAN with `n` hosts, or `None` (after recording a skip) when this machine
    /// does not allow network namespaces.
    fn create(test: &str, n: usize) -> Option<Lan> {
        let tag = format!("{}{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let viewer = format!("porch-v{tag}");
        if !common::netns_add(test, &viewer) {
            return None;
        }
        // From here on, dropping `lan` removes whatever was made.
        let mut lan = Lan { hosts: Vec::new(), viewer, host_ifs: Vec::new() };
        let v = lan.viewer.clone();
        // No IGMP snooping: the bridge floods mDNS to every port, like a home switch.
        ip(&["-n", &v, "link", "add", "br0", "type", "bridge", "mcast_snooping", "0"]);
        ip(&["-n", &v, "addr", "add", "10.231.7.100/24", "dev", "br0"]);
        ip(&["-n", &v, "link", "set", "br0", "up", "multicast", "on"]);
        ip(&["-n", &v, "link", "set", "lo", "up"]);
        for i in 0..n {
            let h = format!("porch-h{tag}-{i}");
            ip(&["netns", "add", &h]);
            lan.hosts.push(h.clone());
            let (hi, vi) = (format!("pdh{tag}{i}"), format!("pdv{tag}{i}"));
            ip(&["link", "add", &hi, "type", "veth", "peer", "name", &vi]);
            ip(&["link", "set", &hi, "netns", &h]);
            ip(&["link", "set", &vi, "netns", &v]);
            lan.host_ifs.push(hi.clone());
            ip(&["-n", &v, "link", "set", &vi, "master", "br0"]);
            ip(&["-n", &v, "link", "set", &vi, "up"]);
            ip(&["-n", &h, "addr", "add", &format!("10.231.7.{}/24", i + 1), "dev", &hi]);
            ip(&["-n", &h, "link", "set", &hi, "up", "multicast", "on"]);
            ip(&["-n", &h, "link", "set", "lo", "up"]);
            // Without this route, queries to 224.0.0.251 leave by no interface.
            ip(&["-n", &h, "route", "add", "224.0.0.0/4", "dev", &hi]);
        }
        ip(&["-n", &v, "route", "add", "224.0.0.0/4", "dev", "br0"]);
        Some(lan)
    }

    /// Runs `cmd args…` inside namespace `ns`, with a deadline.
    fn exec(ns: &str, cmd: &str, args: &[&str], secs: u64) -> Output {
        common::netns_exec(ns, cmd, args, secs)
    }
}

impl Drop for Lan {
    fn drop(&mut self) {
        // Deleting a namespace deletes the veth ends and the bridge in it, and so the pairs.
        for ns in self.hosts.iter().chain([&self.viewer]) {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// `ip ARGS…`, which must succeed.
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

/// A name no other run on this machine uses.
fn unique_name(what: &str) -> String {
    let n = NEXT.fetch_add(1, Ordering::Relaxed);
    format!("porch-{what}-{}-{n}", std::process::id())
}

/// A Porch in namespace `ns`, bound to the network, whose `hostname` setting is `name`, with
/// no system bus (so it runs its own responder, whatever runs on this machine).
async fn porch_in(ns: &str, name: &str) -> Porch {
    porch_on_bus(ns, name, None).await
}

/// [`porch_in`] on the system bus at `bus` (`None`: an address where no bus listens).
async fn porch_on_bus(ns: &str, name: &str, bus: Option<&str>) -> Porch {
    let dir = tempfile::Builder::new().prefix("porch-test").tempdir().expect("tempdir");
    let out = run_cli(dir.path(), &["settings", "set", &format!("hostname={name}")]);
    assert!(out.status.success(), "saving the host name failed");
    let bus = bus.map_or_else(|| format!("unix:path={}/no-system-bus", dir.path().display()), str::to_string);
    let opts = Opts {
        bind: Some("0.0.0.0".into()),
        netns: Some(ns.into()),
        env: vec![("DBUS_SYSTEM_BUS_ADDRESS".into(), bus)],
        ..Opts::default()
    };
    Porch::start_in(dir, opts).await
}

/// `curl` inside `ns` against `p` (reachable only from there), with its key; the JSON reply.
fn api_in(ns: &str, p: &Porch, method: &str, path: &str, body: Option<&str>) -> Value {
    let port = p.base.rsplit(':').next().expect("port");
    let url = format!("http://127.0.0.1:{port}{path}");
    let auth = format!("Authorization: Key {}", p.key);
    let mut args = vec!["-sS", "--fail-with-body", "-X", method, "-H", &auth, "-H", "Content-Type: application/json"];
    if let Some(b) = body {
        args.extend(["--data", b]);
    }
    args.push(&url);
    let out = Lan::exec(ns, "curl", &args, 30);
    assert!(
        out.status.success(),
        "{method} {path}: {}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).expect("JSON")
}

/// Uploads `files` as a bundle of item `guid` and deploys it (curl inside `ns`).
async fn publish_in(ns: &str, p: &Porch, guid: &str, files: &[(&str, &[u8])]) {
    let archive = tempfile::NamedTempFile::new().expect("temp file");
    std::fs::write(archive.path(), common::targz(files)).expect("write the bundle");
    let port = p.base.rsplit(':').next().expect("port");
    let url = format!("http://127.0.0.1:{port}/__api__/v1/content/{guid}/bundles");
    let (auth, data) = (format!("Authorization: Key {}", p.key), format!("@{}", archive.path().display()));
    let out = Lan::exec(ns, "curl", &["-sS", "--fail-with-body", "-H", &auth, "--data-binary", &data, &url], 30);
    assert!(out.status.success(), "upload: {}", String::from_utf8_lossy(&out.stderr));
    let bundle: Value = serde_json::from_slice(&out.stdout).expect("JSON");
    let body = serde_json::json!({ "bundle_id": bundle["id"] }).to_string();
    let task = api_in(ns, p, "POST", &format!("/__api__/v1/content/{guid}/deploy"), Some(&body));
    let id = task["task_id"].as_str().expect("task_id").to_string();
    let done = common::eventually(60, "the deploy", || async {
        let t = api_in(ns, p, "GET", &format!("/__api__/v1/tasks/{id}?wait=1"), None);
        (t["finished"] == true).then_some(t)
    })
    .await;
    assert_eq!(done["code"], 0, "deploy failed: {done}");
}

/// The status of a viewer's GET of `path` from this computer (inside `ns`) with `Host: host`.
fn status_with_host(ns: &str, p: &Porch, path: &str, host: &str) -> String {
    let port = p.base.rsplit(':').next().expect("port");
    let url = format!("http://127.0.0.1:{port}{path}");
    let header = format!("Host: {host}");
    let out = Lan::exec(ns, "curl", &["-sS", "-o", "/dev/null", "-w", "%{http_code}", "-H", &header, &url], 30);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The server view's `network_name` once it is advertising (or panics after `secs`).
async fn advertised(ns: &str, p: &Porch, secs: u64) -> Value {
    common::eventually(secs, "the name to be announced", || async {
        let v = api_in(ns, p, "GET", "/__api__/porch/server", None);
        (v["network_name"]["state"] == "advertising").then_some(v)
    })
    .await
}

/// The resolver's view from namespace `ns` (python-zeroconf): see `mdns_lookup.py`.
fn lookup(python: &Path, ns: &str, name: &str) -> Value {
    let script = py::script("mdns_lookup.py");
    let py = python.to_str().expect("utf-8 path");
    let out = Lan::exec(ns, py, &[script.to_str().expect("utf-8 path"), name, "3000"], 60);
    assert!(out.status.success(), "mdns_lookup.py failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("JSON from mdns_lookup.py")
}

/// Runs `lookup` until `done` accepts its answer, or panics with the last one after `secs`.
fn lookup_until(python: &Path, ns: &str, name: &str, secs: u64, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        let v = lookup(python, ns, name);
        if done(&v) {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}; the resolver saw {v:#}");
    }
}

#[tokio::test]
async fn another_computer_resolves_the_name_browses_the_service_and_follows_address_and_setting_changes() {
    let test = "another_computer_resolves_the_name_browses_the_service_and_follows_address_and_setting_changes";
    let Some(python) = py::python_with(test, "zeroconf") else { return };
    let Some(lan) = Lan::create(test, 1) else { return };
    let name = unique_name("lan");
    let host = lan.hosts[0].clone();
    let p = porch_in(&host, &name).await;
    let port: u16 = p.base.rsplit(':').next().and_then(|s| s.parse().ok()).expect("port");

    // The server view says which name is in use and lists it first, the address beside it.
    let view = advertised(&host, &p, 30).await;
    let nn = &view["network_name"];
    assert_eq!(nn["name"], format!("{name}.local"), "{nn}");
    assert_eq!(nn["wanted"], format!("{name}.local"), "{nn}");
    assert_eq!(nn["service"], format!("Porch on {name}"), "{nn}");
    assert_eq!(nn["responder"], "own", "no avahi on this bus: Porch's own responder answers: {nn}");
    let named_url = format!("http://{name}.local:{port}/");
    assert_eq!(nn["url"], named_url.as_str(), "{nn}");
    let urls: Vec<&str> = view["viewer_urls"].as_array().expect("urls").iter().filter_map(Value::as_str).collect();
    assert_eq!(urls.first().copied(), Some(named_url.as_str()), "{urls:?}");
    assert!(urls.contains(&format!("http://10.231.7.1:{port}/").as_str()), "the plain address is beside it: {urls:?}");

    // Links a publisher shares (the Connect API's content_url) use the name.
    let created = api_in(&host, &p, "POST", "/__api__/v1/content", Some(r#"{"name":"named-link"}"#));
    let content_url = created["content_url"].as_str().expect("content_url");
    assert!(content_url.starts_with(&format!("http://{name}.local:{port}/content/")), "{content_url}");

    // A "this computer only" item opened on this computer by the name in use is this
    // computer (its Host rule accepts the name); another .local name is not.
    let guid = created["guid"].as_str().expect("guid").to_string();
    publish_in(&host, &p, &guid, &[("index.html", b"only here")]).await;
    api_in(&host, &p, "PATCH", &format!("/__api__/v1/content/{guid}"), Some(r#"{"viewer_access":"local"}"#));
    let path = format!("/content/{guid}/");
    assert_eq!(status_with_host(&host, &p, &path, &format!("{name}.local:{port}")), "200");
    assert_eq!(status_with_host(&host, &p, &path, &format!("not-{name}.local:{port}")), "404");

    // Another computer resolves the name, finds the service, and loads the landing page.
    let seen =
        lookup_until(&python, &lan.viewer, &name, 60, "the name and the service", |v| v["fetched"]["status"] == 200);
    assert_eq!(seen["addresses"], serde_json::json!(["10.231.7.1"]), "{seen:#}");
    let service = seen["services"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == format!("Porch on {name}._http._tcp.local.")))
        .unwrap_or_else(|| panic!("no \"Porch on {name}\" among {seen:#}"));
    assert_eq!(service["server"], format!("{name}.local."), "{service}");
    assert_eq!(service["port"], port, "{service}");
    assert_eq!(service["txt"]["path"], "/", "{service}");
    let body = seen["fetched"]["body"].as_str().expect("body");
    assert!(body.contains("<title>Porch"), "the landing page came through the name: {body:.300}");

    // The host gets another address while Porch runs: the resolver eventually gets it.
    ip(&["-n", &host, "addr", "del", "10.231.7.1/24", "dev", &lan.host_ifs[0]]);
    ip(&["-n", &host, "addr", "add", "10.231.7.3/24", "dev", &lan.host_ifs[0]]);
    let moved = lookup_until(&python, &lan.viewer, &name, 90, "the new address", |v| {
        v["addresses"] == serde_json::json!(["10.231.7.3"]) && v["fetched"]["status"] == 200
    });
    assert_eq!(moved["fetched"]["url"], format!("http://10.231.7.3:{port}/"), "{moved:#}");

    // A new name applies at once: the resolver finds Porch under it.
    let renamed = unique_name("renamed");
    api_in(&host, &p, "PATCH", "/__api__/porch/server", Some(&format!(r#"{{"hostname":"{renamed}"}}"#)));
    let seen = lookup_until(&python, &lan.viewer, &renamed, 60, "the new name", |v| v["fetched"]["status"] == 200);
    assert_eq!(seen["addresses"], serde_json::json!(["10.231.7.3"]), "{seen:#}");
    // Discovery off: the name and the service are withdrawn.
    let view = api_in(&host, &p, "PATCH", "/__api__/porch/server", Some(r#"{"discovery":false}"#));
    assert!(!view["viewer_urls"].to_string().contains(".local"), "links no longer use the name: {view}");
    common::eventually(20, "the view to say discovery is off", || async {
        (api_in(&host, &p, "GET", "/__api__/porch/server", None)["network_name"]["state"] == "off").then_some(())
    })
    .await;
    lookup_until(&python, &lan.viewer, &renamed, 60, "the name to be withdrawn", |v| {
        v["addresses"] == serde_json::json!([]) && v["services"] == serde_json::json!([])
    });
    drop(p);
    drop(lan);
}

#[tokio::test]
async fn a_second_porch_with_the_same_name_takes_a_suffix_and_says_why() {
    let test = "a_second_porch_with_the_same_name_takes_a_suffix_and_says_why";
    let Some(python) = py::python_with(test, "zeroconf") else { return };
    let Some(lan) = Lan::create(test, 2) else { return };
    let name = unique_name("twin");
    let (one, two) = (lan.hosts[0].clone(), lan.hosts[1].clone());
    let first = porch_in(&one, &name).await;
    advertised(&one, &first, 30).await;

    let seen = lookup_until(&python, &lan.viewer, &name, 60, "the first name", |v| v["fetched"]["status"] == 200);
    assert_eq!(seen["addresses"], serde_json::json!(["10.231.7.1"]), "{seen:#}");

    // A third computer runs a Porch that wants the same name.
    let second = porch_in(&two, &name).await;
    let port: u16 = second.base.rsplit(':').next().and_then(|s| s.parse().ok()).expect("port");
    let view = advertised(&two, &second, 30).await;
    let nn = &view["network_name"];
    assert_eq!(nn["wanted"], format!("{name}.local"), "{nn}");
    assert_eq!(nn["name"], format!("{name}-2.local"), "{nn}");
    assert_eq!(nn["service"], format!("Porch on {name}-2"), "{nn}");
    let note = nn["note"].as_str().expect("note");
    assert!(note.contains(&format!("{name}.local is taken by another computer")), "{note}");
    assert_eq!(view["viewer_urls"][0], format!("http://{name}-2.local:{port}/"), "{view}");
    let first_view = api_in(&one, &first, "GET", "/__api__/porch/server", None);
    assert_eq!(first_view["network_name"]["name"], format!("{name}.local"), "the first keeps its name");

    // The resolver sees both names, each at its own computer.
    let seen = lookup_until(&python, &lan.viewer, &format!("{name}-2"), 60, "the suffixed name", |v| {
        v["fetched"]["status"] == 200
    });
    assert_eq!(seen["addresses"], serde_json::json!(["10.231.7.2"]), "{seen:#}");
    let seen = lookup_until(&python, &lan.viewer, &name, 60, "the first name", |v| v["fetched"]["status"] == 200);
    assert_eq!(seen["addresses"], serde_json::json!(["10.231.7.1"]), "{seen:#}");
    drop((first, second));
    drop(lan);
}

/// A private D-Bus system bus: a `dbus-daemon` with a configuration of its own (anyone may own
/// any name, as avahi must), listening on a socket in a temporary folder. Killed on drop.
struct SystemBus {
    child: Child,
    /// `unix:path=…`, for `DBUS_SYSTEM_BUS_ADDRESS`.
    address: String,
    _dir: tempfile::TempDir,
}

impl SystemBus {
    /// Starts the bus, or `None` (after recording a skip) when `dbus-daemon` is not installed.
    fn start(test: &str) -> Option<SystemBus> {
        if Command::new("dbus-daemon").arg("--version").output().is_err() {
            common::skip_or_fail(test, "dbus-daemon is not installed (Debian: apt-get install dbus-daemon)");
            return None;
        }
        let dir = tempfile::Builder::new().prefix("porch-bus").tempdir().expect("tempdir");
        let socket = dir.path().join("system_bus_socket");
        let config = dir.path().join("bus.conf");
        std::fs::write(
            &config,
            format!(
                r#"<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path={}</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/>
    <allow own="*"/>
    <allow send_destination="*"/>
    <allow receive_sender="*"/>
  </policy>
</busconfig>
"#,
                socket.display()
            ),
        )
        .expect("write the bus configuration");
        let mut child = Command::new("dbus-daemon")
            .arg(format!("--config-file={}", config.display()))
            .args(["--nofork", "--print-address"])
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start dbus-daemon");
        // The daemon prints its address once it listens.
        let stdout = child.stdout.take().expect("stdout piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut lines = BufReader::new(stdout).lines();
            let _ = tx.send(lines.next().and_then(Result::ok));
            for _ in lines {}
        });
        let line = rx.recv_timeout(Duration::from_secs(30)).ok().flatten();
        let mut bus = SystemBus { child, address: String::new(), _dir: dir };
        let printed = line.unwrap_or_else(|| panic!("dbus-daemon printed no address within 30 s"));
        assert!(printed.starts_with("unix:path="), "dbus-daemon: {printed}");
        bus.address = format!("unix:path={}", socket.display());
        Some(bus)
    }
}

impl Drop for SystemBus {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// avahi-daemon (Debian's) running in namespace `ns` on a [`SystemBus`], answering as `NAME.local`
/// on one interface, IPv4 only. Its runtime folder (`/run/avahi-daemon`: pid file, socket) is a
/// private tmpfs (its own mount namespace), so it never meets another avahi on this machine.
/// Killed on drop.
struct AvahiDaemon {
    child: Child,
    _dir: tempfile::TempDir,
}

impl AvahiDaemon {
    /// Starts avahi and waits until it has established its host name, or `None` (after
    /// recording a skip) when avahi-daemon is not installed.
    fn start(test: &str, ns: &str, bus: &SystemBus, name: &str, interface: &str) -> Option<AvahiDaemon> {
        if Command::new("avahi-daemon").arg("--version").output().is_err() {
            common::skip_or_fail(test, "avahi-daemon is not installed (Debian: apt-get install avahi-daemon)");
            return None;
        }
        let dir = tempfile::Builder::new().prefix("porch-avahi").tempdir().expect("tempdir");
        let config = dir.path().join("avahi-daemon.conf");
        std::fs::write(
            &config,
            format!(
                "[server]\nhost-name={name}\nuse-ipv4=yes\nuse-ipv6=no\nallow-interfaces={interface}\n\
                 enable-dbus=yes\nratelimit-interval-usec=1000000\nratelimit-burst=1000\n\
                 [publish]\npublish-workstation=no\npublish-hinfo=no\n"
            ),
        )
        .expect("write avahi's configuration");
        // `ip netns exec`, `unshare` and `sh` each exec the next: the child's pid is avahi's.
        let script = "mount -t tmpfs porch-avahi /run && mkdir /run/avahi-daemon && \
                      exec avahi-daemon -f \"$1\" --no-drop-root --no-chroot --no-rlimits --no-proc-title";
        let mut child = Command::new("ip")
            .args(["netns", "exec", ns, "unshare", "--mount", "--propagation", "private", "sh", "-c", script, "sh"])
            .arg(&config)
            .env("DBUS_SYSTEM_BUS_ADDRESS", &bus.address)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("start avahi-daemon");
        let stderr = child.stderr.take().expect("stderr piped");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                eprintln!("[avahi] {line}");
                if line.starts_with("Server startup complete") {
                    let _ = tx.send(());
                }
            }
        });
        let avahi = AvahiDaemon { child, _dir: dir };
        assert!(
            rx.recv_timeout(Duration::from_secs(30)).is_ok(),
            "avahi-daemon did not establish its host name within 30 s (its output is above)"
        );
        Some(avahi)
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops avahi as a service manager would (SIGTERM: it says goodbye and leaves the bus).
    fn stop(&mut self) {
        let status = Command::new("kill").args(["-s", "TERM", "--", &self.pid().to_string()]).status().expect("kill");
        assert!(status.success(), "kill avahi-daemon");
        let status = self.child.wait().expect("wait for avahi-daemon");
        eprintln!("avahi-daemon exited: {status}");
    }
}

impl Drop for AvahiDaemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How many UDP sockets on port 5353 (mDNS) process `pid` holds: its socket inodes
/// (`/proc/PID/fd`) matched against the UDP tables of its network namespace
/// (`/proc/PID/net/udp`, `udp6`).
fn mdns_sockets(pid: u32) -> usize {
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd")).expect("read the process's descriptors");
    let inodes: HashSet<String> = fds
        .filter_map(Result::ok)
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .filter_map(|l| l.to_str()?.strip_prefix("socket:[")?.strip_suffix(']').map(str::to_string))
        .collect();
    let mut n = 0;
    for table in ["udp", "udp6"] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for row in text.lines().skip(1) {
            let cols: Vec<&str> = row.split_whitespace().collect();
            let port = cols.get(1).and_then(|a| a.rsplit_once(':')).map(|(_, p)| p);
            if port == Some("14E9") && cols.get(9).is_some_and(|i| inodes.contains(*i)) {
                n += 1;
            }
        }
    }
    n
}

/// The server view's `network_name` once `done` accepts it (or panics after `secs`).
async fn name_until(ns: &str, p: &Porch, secs: u64, what: &str, done: impl Fn(&Value) -> bool) -> Value {
    common::eventually(secs, what, || async {
        let nn = api_in(ns, p, "GET", "/__api__/porch/server", None)["network_name"].clone();
        done(&nn).then_some(nn)
    })
    .await
}

/// The service `instance` among a lookup's services, or panics.
fn service_named<'a>(seen: &'a Value, instance: &str) -> &'a Value {
    seen["services"]
        .as_array()
        .and_then(|s| s.iter().find(|s| s["name"] == format!("{instance}._http._tcp.local.")))
        .unwrap_or_else(|| panic!("no \"{instance}\" among {seen:#}"))
}

#[tokio::test]
async fn with_avahi_running_porch_publishes_through_it_falls_back_to_its_own_responder_when_it_stops_and_returns() {
    let test =
        "with_avahi_running_porch_publishes_through_it_falls_back_to_its_own_responder_when_it_stops_and_returns";
    let Some(python) = py::python_with(test, "zeroconf") else { return };
    let Some(lan) = Lan::create(test, 1) else { return };
    let Some(bus) = SystemBus::start(test) else { return };
    let name = unique_name("avahi");
    let host = lan.hosts[0].clone();
    let Some(mut avahi) = AvahiDaemon::start(test, &host, &bus, &name, &lan.host_ifs[0]) else { return };
    let p = porch_on_bus(&host, &name, Some(&bus.address)).await;
    let port: u16 = p.base.rsplit(':').next().and_then(|s| s.parse().ok()).expect("port");

    // avahi answers for the computer's name: Porch lists its service through avahi under that
    // name, and says so.
    let nn =
        name_until(&host, &p, 30, "the service to be published through avahi", |nn| nn["state"] == "advertising").await;
    assert_eq!(nn["responder"], "avahi", "{nn}");
    assert!(nn["responder_why"].as_str().is_some_and(|w| w.contains("avahi-daemon")), "{nn}");
    assert_eq!(nn["name"], format!("{name}.local"), "{nn}");
    assert_eq!(nn["service"], format!("Porch on {name}"), "{nn}");
    assert_eq!(nn["url"], format!("http://{name}.local:{port}/"), "{nn}");
    // No second responder: Porch holds no mDNS socket, while the same check sees avahi's.
    assert!(mdns_sockets(avahi.pid()) > 0, "the /proc check finds avahi's own mDNS socket");
    assert_eq!(mdns_sockets(p.pid()), 0, "Porch opened an mDNS socket beside avahi's");

    // Another computer finds the service (avahi answers) and loads the landing page.
    let seen =
        lookup_until(&python, &lan.viewer, &name, 60, "the service through avahi", |v| v["fetched"]["status"] == 200);
    assert_eq!(seen["addresses"], serde_json::json!(["10.231.7.1"]), "{seen:#}");
    let service = service_named(&seen, &format!("Porch on {name}"));
    assert_eq!(service["server"], format!("{name}.local."), "{service}");
    assert_eq!(service["port"], port, "{service}");
    assert_eq!(service["txt"]["path"], "/", "{service}");
    let body = seen["fetched"]["body"].as_str().expect("body");
    assert!(body.contains("<title>Porch"), "the landing page came through avahi's answer: {body:.300}");

    // A name of the user's own beside avahi's: Porch publishes it through avahi as well.
    let chosen = unique_name("chosen");
    api_in(&host, &p, "PATCH", "/__api__/porch/server", Some(&format!(r#"{{"hostname":"{chosen}"}}"#)));
    let nn = name_until(&host, &p, 30, "the chosen name to be published through avahi", |nn| {
        nn["state"] == "advertising" && nn["name"] == format!("{chosen}.local")
    })
    .await;
    assert_eq!(nn["responder"], "avahi", "{nn}");
    assert_eq!(nn["service"], format!("Porch on {chosen}"), "{nn}");
    let seen = lookup_until(&python, &lan.viewer, &chosen, 60, "the chosen name through avahi", |v| {
        v["fetched"]["status"] == 200
    });
    assert_eq!(seen["addresses"], serde_json::json!(["10.231.7.1"]), "{seen:#}");
    assert_eq!(service_named(&seen, &format!("Porch on {chosen}"))["server"], format!("{chosen}.local."), "{seen:#}");
    assert_eq!(mdns_sockets(p.pid()), 0, "still no mDNS socket of Porch's own");

    // avahi stops: Porch answers with its own responder, under the same name.
    avahi.stop();
    let nn = name_until(&host, &p, 30, "Porch's own responder to take over", |nn| {
        nn["state"] == "advertising" && nn["responder"] == "own"
    })
    .await;
    assert_eq!(nn["name"], format!("{chosen}.local"), "{nn}");
    assert!(nn["responder_why"].as_str().is_some_and(|w| w.contains("avahi-daemon is not running")), "{nn}");
    assert!(mdns_sockets(p.pid()) > 0, "Porch's own responder holds the mDNS socket now");
    let seen = lookup_until(&python, &lan.viewer, &chosen, 60, "the name from Porch's own responder", |v| {
        v["fetched"]["status"] == 200
    });
    assert_eq!(seen["addresses"], serde_json::json!(["10.231.7.1"]), "{seen:#}");

    // avahi starts again: Porch closes its own responder and publishes through avahi.
    drop(avahi);
    let Some(avahi) = AvahiDaemon::start(test, &host, &bus, &name, &lan.host_ifs[0]) else { return };
    let nn = name_until(&host, &p, 30, "Porch to publish through avahi again", |nn| {
        nn["state"] == "advertising" && nn["responder"] == "avahi"
    })
    .await;
    assert_eq!(nn["name"], format!("{chosen}.local"), "{nn}");
    common::eventually(10, "Porch's own responder to close its mDNS socket", || async {
        (mdns_sockets(p.pid()) == 0).then_some(())
    })
    .await;
    let seen = lookup_until(&python, &lan.viewer, &chosen, 60, "the chosen name through avahi again", |v| {
        v["fetched"]["status"] == 200
    });
    assert_eq!(seen["addresses"], serde_json::json!(["10.231.7.1"]), "{seen:#}");
    drop(p);
    drop(avahi);
    drop(bus);
    drop(lan);
}
