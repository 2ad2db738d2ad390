//! Limits on the LAN port, driven by raw TCP clients against the real server: request
//! line and header limits (414/431 with a reason), slow and idle clients (dropped after the
//! header-read timeout, while others are still served) and the connection cap (503 beyond
//! it, service again once a slot frees).

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::{targz, Opts, Porch};
use reqwest::Method;
use serde_json::{json, Value};

fn addr(p: &Porch) -> String {
    p.base.trim_start_matches("http://").to_string()
}

fn connect(p: &Porch) -> TcpStream {
    let s = TcpStream::connect(addr(p)).expect("connect");
    s.set_read_timeout(Some(Duration::from_secs(60))).expect("read timeout");
    s
}

/// Sends `head` and reads one response (head and `Content-Length` body, or to EOF).
fn exchange(s: &mut TcpStream, head: &[u8]) -> (u16, String, String) {
    s.write_all(head).expect("send");
    read_response(s)
}

fn read_response(s: &mut TcpStream) -> (u16, String, String) {
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    while !buf.ends_with(b"\r\n\r\n") {
        match s.read(&mut byte) {
            Ok(0) => break,
            Ok(_) => buf.push(byte[0]),
            Err(e) => panic!("reading a response head: {e}; got {:?}", String::from_utf8_lossy(&buf)),
        }
    }
    let head = String::from_utf8_lossy(&buf).to_string();
    let status = head.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let len = head
        .lines()
        .find_map(|l| {
            l.split_once(':')
                .filter(|(k, _)| k.eq_ignore_ascii_case("content-length"))
                .map(|(_, v)| v.trim().to_string())
        })
        .and_then(|v| v.parse::<usize>().ok());
    let mut body = vec![0u8; len.unwrap_or(0)];
    if len.is_some() {
        s.read_exact(&mut body).expect("body");
    }
    (status, head, String::from_utf8_lossy(&body).to_string())
}

/// Reads until the server closes the connection; panics if it does not within `secs`.
fn closed_by_server(s: &mut TcpStream, secs: u64) {
    s.set_read_timeout(Some(Duration::from_secs(secs))).expect("read timeout");
    let mut buf = [0u8; 1024];
    loop {
        match s.read(&mut buf) {
            Ok(0) => return,
            Ok(_) => continue,
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => return,
            Err(e) => panic!("the server kept the connection open for {secs} s: {e}"),
        }
    }
}

fn ping(p: &Porch) -> u16 {
    let mut s = connect(p);
    exchange(&mut s, format!("GET /__ping__ HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n", addr(p)).as_bytes()).0
}

#[tokio::test]
async fn oversized_request_heads_are_refused_with_a_reason() {
    let p = Porch::start().await;
    let host = addr(&p);

    // A request target past 8 KiB: 414 naming the flag.
    let mut s = connect(&p);
    let long = "a".repeat(9000);
    let (status, head, body) =
        exchange(&mut s, format!("GET /content/x?q={long} HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes());
    assert_eq!(status, 414, "{head}{body}");
    assert!(body.contains("--max-request-line"), "{body}");
    assert!(head.to_ascii_lowercase().contains("connection: close"), "{head}");

    // 150 header fields: 431 naming the count limit.
    let mut s = connect(&p);
    let many: String = (0..150).map(|i| format!("X-Field-{i}: v\r\n")).collect();
    let (status, _, body) = exchange(&mut s, format!("GET / HTTP/1.1\r\nHost: {host}\r\n{many}\r\n").as_bytes());
    assert_eq!(status, 431, "{body}");
    assert!(body.contains("151 header fields") && body.contains("--max-headers"), "{body}");

    // One 40 KiB header: 431 naming the size limit.
    let mut s = connect(&p);
    let big = "b".repeat(40 * 1024);
    let (status, _, body) =
        exchange(&mut s, format!("GET / HTTP/1.1\r\nHost: {host}\r\nCookie: {big}\r\n\r\n").as_bytes());
    assert_eq!(status, 431, "{body}");
    assert!(body.contains("--max-header-bytes"), "{body}");

    // A head far past any limit (1 MiB of headers): refused and closed without reading it all.
    let mut s = connect(&p);
    let huge: String = (0..1024).map(|i| format!("X-{i}: {}\r\n", "c".repeat(1000))).collect();
    let _ = s.write_all(format!("GET / HTTP/1.1\r\nHost: {host}\r\n{huge}\r\n").as_bytes());
    let (status, _, _) = read_response(&mut s);
    assert_eq!(status, 431);

    // Lowered limits apply, and requests within them are served.
    assert_eq!(ping(&p), 200);
    p.shutdown();
    let p = Porch::start_with(Opts {
        args: ["--max-request-line", "300", "--max-headers", "10"].map(String::from).to_vec(),
        ..Default::default()
    })
    .await;
    let host = addr(&p);
    let mut s = connect(&p);
    let (status, _, body) =
        exchange(&mut s, format!("GET /?{} HTTP/1.1\r\nHost: {host}\r\n\r\n", "d".repeat(400)).as_bytes());
    assert_eq!(status, 414, "{body}");
    assert!(body.contains("at most 300"), "{body}");
    let mut s = connect(&p);
    let eleven: String = (0..11).map(|i| format!("X-{i}: v\r\n")).collect();
    let (status, _, _) = exchange(&mut s, format!("GET / HTTP/1.1\r\nHost: {host}\r\n{eleven}\r\n").as_bytes());
    assert_eq!(status, 431);
    assert_eq!(ping(&p), 200);
    p.shutdown();
}

#[tokio::test]
async fn slow_and_idle_clients_are_dropped_while_others_are_served() {
    let p = Porch::start_with(Opts {
        args: ["--header-read-timeout", "2"].map(String::from).to_vec(),
        ..Default::default()
    })
    .await;
    let host = addr(&p);

    // Slowloris: a head that never ends, one header line every half second.
    let mut slow: Vec<TcpStream> = (0..20).map(|_| connect(&p)).collect();
    for s in &mut slow {
        s.write_all(format!("GET / HTTP/1.1\r\nHost: {host}\r\n").as_bytes()).expect("start head");
    }
    let started = Instant::now();
    let mut dropped = false;
    for i in 0..240 {
        // Everyone else is still served meanwhile.
        if i % 10 == 0 {
            assert_eq!(ping(&p), 200);
        }
        let mut any_open = false;
        for s in &mut slow {
            if s.write_all(format!("X-Drip-{i}: x\r\n").as_bytes()).is_ok() {
                any_open = true;
            }
        }
        if !any_open {
            dropped = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(500));
    }
    assert!(dropped, "slow clients still connected after {:?}", started.elapsed());
    for s in &mut slow {
        closed_by_server(s, 30);
    }

    // Idle keep-alive: one request, then silence; the server closes the connection.
    let mut idle = connect(&p);
    let (status, _, _) = exchange(&mut idle, format!("GET /__ping__ HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes());
    assert_eq!(status, 200);
    closed_by_server(&mut idle, 60);

    // A fresh connection that never sends anything is closed too.
    let mut silent = connect(&p);
    closed_by_server(&mut silent, 60);
    assert_eq!(ping(&p), 200);
    p.shutdown();
}

#[tokio::test]
async fn connections_past_the_cap_get_503_until_a_slot_frees() {
    let p =
        Porch::start_with(Opts { args: ["--max-connections", "4"].map(String::from).to_vec(), ..Default::default() })
            .await;
    let host = addr(&p);
    let keep_alive = format!("GET /__ping__ HTTP/1.1\r\nHost: {host}\r\n\r\n");

    // Four kept-alive connections, each proven served (so each holds a slot).
    let mut held: Vec<TcpStream> = (0..4).map(|_| connect(&p)).collect();
    for s in &mut held {
        assert_eq!(exchange(s, keep_alive.as_bytes()).0, 200);
    }
    // The fifth gets a 503 that says why and when to retry, then is closed.
    let mut extra = connect(&p);
    let (status, head, body) = exchange(&mut extra, format!("GET / HTTP/1.1\r\nHost: {host}\r\n\r\n").as_bytes());
    assert_eq!(status, 503, "{head}{body}");
    assert!(head.to_ascii_lowercase().contains("retry-after: 5"), "{head}");
    assert!(body.contains("limit of 4 open connections") && body.contains("--max-connections"), "{body}");
    closed_by_server(&mut extra, 30);
    // The held connections still work.
    assert_eq!(exchange(&mut held[0], keep_alive.as_bytes()).0, 200);

    // Closing one frees its slot.
    drop(held.pop());
    common::eventually(30, "a freed connection slot", || async { (ping(&p) == 200).then_some(()) }).await;
    drop(held);
    p.shutdown();
}

#[tokio::test]
async fn uploads_over_an_items_own_limit_are_refused() {
    let p = Porch::start().await;
    let guid = p.create("small-uploads").await;
    p.publish(&guid, targz(&[("index.html", b"<h1>kept</h1>")])).await;
    let patch = |v: Value| p.api(Method::PATCH, &format!("/__api__/v1/content/{guid}")).json(&v).send();
    let r = patch(json!({"max_bundle_bytes": 0})).await.expect("patch");
    assert_eq!(r.status(), 400);
    assert!(r.text().await.expect("text").contains("max_bundle_bytes"));
    let r = patch(json!({"max_bundle_bytes": 2048})).await.expect("patch");
    assert_eq!(r.status(), 200);
    assert_eq!(r.json::<Value>().await.expect("json")["max_bundle_bytes"], 2048);

    // Incompressible bytes: the upload itself is over the item's limit.
    let mut x: u32 = 0x9e37_79b9;
    let noise: Vec<u8> = (0..16 * 1024)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            x as u8
        })
        .collect();
    let big = targz(&[("index.html", b"<h1>new</h1>"), ("noise.bin", &noise)]);
    let r = p.upload(&guid, big.clone()).await;
    assert_eq!(r.status(), 413);
    let body = r.text().await.expect("text");
    assert!(body.contains("more than 2048 bytes") && body.contains("max_bundle_bytes"), "{body}");
    // Zeros: a small upload that extracts past the limit.
    let r = p.upload(&guid, targz(&[("index.html", b"x"), ("zeros.bin", &vec![0u8; 100 * 1024])])).await;
    assert_eq!(r.status(), 413);

    // Nothing was kept and the active version serves.
    let bundles: Vec<Value> = p
        .api(Method::GET, &format!("/__api__/v1/content/{guid}/bundles"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(bundles.len(), 1);
    let (status, page) = p.fetch(&format!("/content/{guid}/")).await;
    assert_eq!((status, String::from_utf8_lossy(&page).contains("kept")), (200, true));
    // Other items keep the server's limit; null returns this one to it.
    let other = p.create("other-item").await;
    assert_eq!(p.upload(&other, big.clone()).await.status(), 200);
    let r = patch(json!({"max_bundle_bytes": null})).await.expect("patch");
    assert_eq!(r.json::<Value>().await.expect("json")["max_bundle_bytes"], Value::Null);
    assert_eq!(p.upload(&guid, big).await.status(), 200);
    p.shutdown();
}

/// The list API is cached between changes (bench/load.sh); every change shows at once.
#[tokio::test]
async fn the_cached_content_list_follows_every_change() {
    let p = Porch::start().await;
    let list = |q: &'static str| {
        let req = p.api(Method::GET, &format!("/__api__/v1/content{q}"));
        async move { req.send().await.expect("list").json::<Vec<Value>>().await.expect("json") }
    };
    let titles = |l: &[Value]| l.iter().map(|c| c["title"].as_str().unwrap_or("").to_string()).collect::<Vec<_>>();
    assert!(list("").await.is_empty());
    let a = p.create("alpha").await;
    assert_eq!(titles(&list("").await), ["alpha"]);
    let r = p
        .api(Method::PATCH, &format!("/__api__/v1/content/{a}"))
        .json(&json!({"title": "Alpha v2"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 200);
    assert_eq!(titles(&list("").await), ["Alpha v2"]);
    // Another process (the CLI) writing to the database.
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("index.html"), "<h1>beta</h1>").expect("write");
    let out = p.cli(&["deploy", dir.path().to_str().expect("utf8"), "--name", "beta", "--title", "Beta"]);
    assert!(out.status.success());
    assert_eq!(titles(&list("").await), ["Alpha v2", "Beta"]);
    // Different queries are different lists.
    assert_eq!(titles(&list("?name=beta").await), ["Beta"]);
    assert!(list("?name=").await.is_empty());
    assert!(list("?include=owner").await[0]["owner"]["guid"].is_string());
    assert!(list("").await[0].get("owner").is_none());
    let r = p.api(Method::DELETE, &format!("/__api__/v1/content/{a}")).send().await.expect("delete");
    assert!(r.status().is_success());
    assert_eq!(titles(&list("").await), ["Beta"]);
    p.shutdown();
}
