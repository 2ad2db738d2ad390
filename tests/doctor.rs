//! `porch doctor` and the phone test (issue 13 item 2), checked the way a publisher meets
//! them: the real `porch` binary in a network namespace, a second namespace as the phone,
//! real nftables rules and routes in the namespace (the machine's own are never touched).
//!
//! - the phone URL opened from the second namespace reports that namespace's address and the
//!   browser family of the user agent sent; it works once; opened on Porch's own computer it
//!   asks for another device and stays usable;
//! - an nftables rule that drops Porch's port is named by `porch doctor` run as root, and the
//!   same doctor run as `nobody` says it cannot read the rules (and, with its own stopped
//!   Porch on that port, that the port is taken by another program);
//! - a VPN-like default route (through `tun9`) is named;
//! - a Porch bound to this computer only is named, and the phone test explains why it cannot
//!   work.
//!
//! Needs root (`ip netns`, `nft`); without it each test records a skip (tests/common/skip.rs)
//! and never passes quietly. Namespaces are removed when a test ends, also on a panic.

mod common;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use common::{run_with_timeout, Opts, Porch};

const PHONE_UA: &str = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36";

static NEXT: AtomicU32 = AtomicU32::new(0);

/// Two namespaces joined by a veth pair: `host` (Porch's computer, 10.231.9.1/24) and
/// `phone` (10.231.9.2/24). Removed on drop.
struct Pair {
    host: String,
    phone: String,
}

impl Pair {
    fn create(test: &str) -> Option<Pair> {
        let tag = format!("{}{}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed));
        let host = format!("porch-dh{tag}");
        if !common::netns_add(test, &host) {
            return None;
        }
        let pair = Pair { host, phone: format!("porch-dp{tag}") };
        let (h, p) = (pair.host.clone(), pair.phone.clone());
        ip(&["netns", "add", &p]);
        let (hi, pi) = (format!("pdd{tag}h"), format!("pdd{tag}p"));
        ip(&["link", "add", &hi, "type", "veth", "peer", "name", &pi]);
        ip(&["link", "set", &hi, "netns", &h]);
        ip(&["link", "set", &pi, "netns", &p]);
        ip(&["-n", &h, "addr", "add", "10.231.9.1/24", "dev", &hi]);
        ip(&["-n", &p, "addr", "add", "10.231.9.2/24", "dev", &pi]);
        for (ns, i) in [(&h, &hi), (&p, &pi)] {
            ip(&["-n", ns, "link", "set", i, "up"]);
            ip(&["-n", ns, "link", "set", "lo", "up"]);
        }
        Some(pair)
    }

    /// Runs `cmd args…` inside namespace `ns`, with a deadline.
    fn exec(ns: &str, cmd: &str, args: &[&str], secs: u64) -> Output {
        common::netns_exec(ns, cmd, args, secs)
    }
}

impl Drop for Pair {
    fn drop(&mut self) {
        for ns in [&self.host, &self.phone] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

/// `ip ARGS…`, which must succeed.
fn ip(args: &[&str]) {
    let out = Command::new("ip").args(args).output().expect("run ip");
    assert!(out.status.success(), "ip {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
}

/// `nft ARGS…` inside `ns`, which must succeed; records a skip (and returns false) when nft
/// is not installed.
fn nft_in(test: &str, ns: &str, args: &[&str]) -> bool {
    let out = Command::new("ip").args(["netns", "exec", ns, "nft"]).args(args).output().expect("run ip netns exec");
    if !out.status.success() && String::from_utf8_lossy(&out.stderr).contains("No such file") {
        common::skip_or_fail(test, "nft (nftables) is not installed");
        return false;
    }
    assert!(out.status.success(), "nft {}: {}", args.join(" "), String::from_utf8_lossy(&out.stderr));
    true
}

/// `porch doctor ARGS… --data-dir DIR` inside `ns` (as root, or as `nobody` through
/// setpriv); the output.
fn doctor_in(ns: &str, dir: &Path, args: &[&str], nobody: bool) -> Output {
    let bin = common::porch_bin();
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns]);
    if nobody {
        c.args(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]);
    }
    c.arg(&bin).arg("doctor").args(args).arg("--data-dir").arg(dir).env("HOME", dir);
    let out = run_with_timeout(&mut c, 60);
    eprintln!(
        "$ porch doctor {}{}\n{}{}",
        args.join(" "),
        if nobody { " (as nobody)" } else { "" },
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

/// A Porch in namespace `ns`, bound to the network.
async fn porch_in(ns: &str) -> Porch {
    let dir = tempfile::Builder::new().prefix("porch-test").tempdir().expect("tempdir");
    Porch::start_in(dir, Opts { bind: Some("0.0.0.0".into()), netns: Some(ns.into()), ..Opts::default() }).await
}

fn port_of(p: &Porch) -> String {
    p.base.rsplit(':').next().expect("port").to_string()
}

/// `curl` of `url` inside `ns` with a user agent: (status, body).
fn fetch_in(ns: &str, url: &str, ua: &str) -> (String, String) {
    let out = Pair::exec(ns, "curl", &["-sS", "-A", ua, "-w", "\n%{http_code}", "--max-time", "20", url], 30);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    let (body, status) = text.rsplit_once('\n').unwrap_or((&text, ""));
    (status.to_string(), body.to_string())
}

#[tokio::test]
async fn the_phone_url_reports_the_other_devices_address_and_browser_and_works_once() {
    let test = "the_phone_url_reports_the_other_devices_address_and_browser_and_works_once";
    let Some(pair) = Pair::create(test) else { return };
    let p = porch_in(&pair.host).await;

    // `porch doctor --wait` prints the URL, then waits for another device.
    let mut doctor = Command::new("ip");
    doctor
        .args(["netns", "exec", &pair.host])
        .arg(common::porch_bin())
        .args(["doctor", "--wait", "--data-dir"])
        .arg(p.data_dir())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = doctor.spawn().expect("spawn porch doctor --wait");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            eprintln!("[doctor] {line}");
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut seen = Vec::new();
    let url = loop {
        let line = rx.recv_timeout(Duration::from_secs(60)).unwrap_or_else(|_| panic!("no URL from doctor: {seen:#?}"));
        if let Some(u) = line.trim().strip_prefix("http://10.231.9.1:") {
            break format!("http://10.231.9.1:{u}");
        }
        seen.push(line);
    };
    assert!(url.contains("/__porch__/reach/"), "{url}");

    // Opened on Porch's own computer: it asks for another device, and stays usable.
    let (status, body) = fetch_in(&pair.host, &url, PHONE_UA);
    assert_eq!(status, "200", "{body}");
    assert!(body.contains("Opened on the computer running Porch"), "{body}");

    // From the phone: it worked, with that namespace's address and the browser's family.
    let (status, body) = fetch_in(&pair.phone, &url, PHONE_UA);
    assert_eq!(status, "200", "{body}");
    assert!(body.contains("It works"), "{body}");
    let mut rest = Vec::new();
    while let Ok(line) = rx.recv_timeout(Duration::from_secs(60)) {
        rest.push(line);
    }
    let out = child.wait().expect("doctor exits");
    let text = rest.join("\n");
    assert!(text.contains("reached from 10.231.9.2 (Android, Chrome)"), "{text}");
    assert!(out.success(), "doctor --wait exits 0 once the phone got through and nothing is wrong: {text}");

    // Used once: refused after, with a page that says so; an unknown token likewise.
    let (status, body) = fetch_in(&pair.phone, &url, PHONE_UA);
    assert_eq!(status, "410", "{body}");
    assert!(body.contains("used already"), "{body}");
    let unknown = format!("{}0000", url.trim_end_matches(|c: char| c.is_ascii_hexdigit()));
    let (status, body) = fetch_in(&pair.phone, &unknown, PHONE_UA);
    assert_eq!(status, "404", "{body}");
    assert!(body.contains("not valid") && !body.contains("10.231.9.1"), "{body}");
    p.shutdown();
}

#[tokio::test]
async fn a_firewall_rule_dropping_the_port_is_named_as_root_and_unreadable_as_nobody() {
    let test = "a_firewall_rule_dropping_the_port_is_named_as_root_and_unreadable_as_nobody";
    let Some(pair) = Pair::create(test) else { return };
    let p = porch_in(&pair.host).await;
    let port = port_of(&p);
    let h = &pair.host;
    if !nft_in(test, h, &["add", "table", "inet", "porchtest"]) {
        return;
    }
    nft_in(
        test,
        h,
        &["add", "chain", "inet", "porchtest", "input", "{ type filter hook input priority 0; policy accept; }"],
    );
    nft_in(
        test,
        h,
        &["add", "rule", "inet", "porchtest", "input", "iifname", "!=", "lo", "tcp", "dport", &port, "drop"],
    );

    // The phone indeed gets nothing.
    let (status, _) = fetch_in(&pair.phone, &format!("http://10.231.9.1:{port}/"), PHONE_UA);
    assert_ne!(status, "200", "the rule drops the phone's connection");

    let out = doctor_in(h, p.data_dir(), &[], false);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "a problem was found: {text}");
    assert!(text.contains(&format!("The firewall drops port {port}")), "{text}");
    assert!(text.contains("table inet porchtest, chain input, rule handle"), "{text}");
    assert!(text.contains(&format!("tcp dport {port} drop")), "{text}");
    assert!(text.contains(&format!("nft insert rule inet porchtest input tcp dport {port} accept")), "{text}");

    let json = doctor_in(h, p.data_dir(), &["--json"], false);
    let v: serde_json::Value = serde_json::from_slice(&json.stdout).expect("doctor --json prints JSON");
    assert_eq!(v["ok"], false);
    let fw =
        v["checks"].as_array().expect("checks").iter().find(|c| c["id"] == "firewall").expect("firewall check").clone();
    assert_eq!(fw["status"], "problem");
    assert_eq!(fw["rule"]["table"], "porchtest");
    assert!(fw["rule"]["handle"].is_u64(), "{fw}");

    // As nobody: its own (stopped) Porch wants the same port, which the running one holds.
    let mine = tempfile::Builder::new().prefix("porch-nobody").tempdir().expect("tempdir");
    std::os::unix::fs::chown(mine.path(), Some(65534), Some(65534)).expect("chown to nobody");
    let set = {
        let mut c = Command::new("setpriv");
        c.args(["--reuid=nobody", "--regid=nogroup", "--clear-groups"])
            .arg(common::porch_bin())
            .args(["settings", "set", &format!("port={port}"), "--data-dir"])
            .arg(mine.path())
            .env("HOME", mine.path());
        run_with_timeout(&mut c, 60)
    };
    assert!(set.status.success(), "porch settings set as nobody: {}", String::from_utf8_lossy(&set.stderr));
    let out = doctor_in(h, mine.path(), &[], true);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Cannot read the firewall rules: reading them needs root"), "{text}");
    assert!(text.contains("phone test"), "it points to the phone test: {text}");
    assert!(text.contains(&format!("Port {port} is taken by another program")), "{text}");
    assert_eq!(out.status.code(), Some(1), "{text}");
    p.shutdown();
}

#[tokio::test]
async fn a_vpn_owning_the_default_route_is_named() {
    let test = "a_vpn_owning_the_default_route_is_named";
    let Some(pair) = Pair::create(test) else { return };
    let h = &pair.host;
    let dir = tempfile::Builder::new().prefix("porch-test").tempdir().expect("tempdir");
    // Before: the namespace's own network, no default route.
    let out = doctor_in(h, dir.path(), &[], false);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(!text.contains("VPN owns"), "{text}");
    // A tunnel takes the default route, as OpenVPN's does: a real tun device (no process
    // behind it), or where /dev/net/tun is missing, a veth end named the way tunnels are.
    let tun =
        Command::new("ip").args(["-n", h, "tuntap", "add", "dev", "tun9", "mode", "tun"]).output().expect("run ip");
    if !tun.status.success() {
        eprintln!("no tun device ({}); a veth end named tun9 stands in", String::from_utf8_lossy(&tun.stderr).trim());
        ip(&["-n", h, "link", "add", "tun9", "type", "veth", "peer", "name", "tun9peer"]);
        ip(&["-n", h, "link", "set", "tun9peer", "up"]);
    }
    ip(&["-n", h, "addr", "add", "10.8.0.2/24", "dev", "tun9"]);
    ip(&["-n", h, "link", "set", "tun9", "up"]);
    ip(&["-n", h, "route", "add", "default", "dev", "tun9"]);
    let out = doctor_in(h, dir.path(), &[], false);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("A VPN owns the default route: it goes through tun9"), "{text}");
    assert!(text.contains("skipped 10.8.0.2 (tun9): VPN tunnel"), "the tunnel's address is skipped and named: {text}");
    assert_eq!(out.status.code(), Some(1), "{text}");
}

#[tokio::test]
async fn porch_bound_to_this_computer_only_is_named_and_the_phone_test_says_why_it_cannot_work() {
    // The harness binds 127.0.0.1: this computer only. Nothing here changes the network.
    let p = Porch::start().await;
    let out = p.cli(&["doctor", "--wait"]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("Porch listens on this computer only (127.0.0.1:"), "{text}");
    assert!(text.contains("porch settings set bind=network"), "{text}");
    assert!(text.contains("Phone test unavailable: Porch listens on this computer only"), "{text}");
    assert!(text.contains("Phone test: cannot start: Porch listens on this computer only"), "{text}");
    let resp = p.api(reqwest::Method::POST, "/__api__/porch/reach/phone").send().await.expect("POST");
    assert_eq!(resp.status(), 409);
    let unknown = p.api(reqwest::Method::GET, "/__api__/porch/reach/phone/0123abcd").send().await.expect("GET");
    assert_eq!(unknown.status(), 404, "an unknown phone test");

    // Paused sharing is named too, with the way back.
    let paused =
        p.api(reqwest::Method::PUT, "/__api__/porch/sharing").json(&serde_json::json!({"paused": true})).send();
    assert!(paused.await.expect("PUT sharing").status().is_success());
    let out = p.cli(&["doctor", "--json"]);
    assert_eq!(out.status.code(), Some(1));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).expect("doctor --json prints JSON");
    let check = v["checks"].as_array().expect("checks").iter().find(|c| c["id"] == "paused").expect("paused").clone();
    assert_eq!(check["status"], "problem");
    assert!(check["fix"].as_str().is_some_and(|f| f.contains("Resume sharing")), "{check}");
    p.shutdown();
}

/// A `porch serve` in `ns` run as `nobody` on a folder `nobody` owns, bound to the network;
/// returns the child and its port once it listens.
fn serve_as_nobody(ns: &str, dir: &Path) -> (std::process::Child, String) {
    let mut c = Command::new("ip");
    c.args(["netns", "exec", ns, "setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"])
        .arg(common::porch_bin())
        .args(["serve", "--bind", "0.0.0.0", "--port", "0", "--data-dir"])
        .arg(dir)
        .env("HOME", dir)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    let mut child = c.spawn().expect("spawn porch serve as nobody");
    let stdout = child.stdout.take().expect("stdout");
    let (tx, rx) = std::sync::mpsc::channel::<String>();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            eprintln!("[porch as nobody] {line}");
            let _ = tx.send(line);
        }
    });
    let first = rx.recv_timeout(Duration::from_secs(60)).expect("porch serve printed its address");
    let port = first.trim_end_matches('/').rsplit(':').next().expect("a port").to_string();
    (child, port)
}

#[tokio::test]
async fn sudo_porch_doctor_reads_the_rules_a_server_running_as_a_user_cannot() {
    let test = "sudo_porch_doctor_reads_the_rules_a_server_running_as_a_user_cannot";
    let Some(pair) = Pair::create(test) else { return };
    let h = &pair.host;
    let dir = tempfile::Builder::new().prefix("porch-nobody").tempdir().expect("tempdir");
    std::os::unix::fs::chown(dir.path(), Some(65534), Some(65534)).expect("chown to nobody");
    let (mut server, port) = serve_as_nobody(h, dir.path());
    if !nft_in(test, h, &["add", "table", "ip", "porchuser"]) {
        let _ = server.kill();
        return;
    }
    nft_in(
        test,
        h,
        &["add", "chain", "ip", "porchuser", "input", "{ type filter hook input priority 0; policy drop; }"],
    );
    nft_in(test, h, &["add", "rule", "ip", "porchuser", "input", "iifname", "lo", "accept"]);

    // The user's own doctor asks the user's server, which cannot read the rules.
    let out = doctor_in(h, dir.path(), &[], true);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Cannot read the firewall rules: reading them needs root"), "{text}");
    assert!(text.contains("sudo porch doctor"), "{text}");
    // Run as root on the same folder, the doctor reads them itself and names the policy.
    let out = doctor_in(h, dir.path(), &[], false);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains(&format!("The firewall drops port {port}: table ip porchuser, chain input: `policy drop`")),
        "{text}"
    );
    assert_eq!(out.status.code(), Some(1), "{text}");
    let _ = Command::new("kill").arg(server.id().to_string()).status();
    let _ = server.wait();
}
