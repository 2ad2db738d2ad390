//! Static hosting as viewers see it: files, types, validators, ranges, compression,
//! redirects, vanity paths, the landing page, and every way out of a bundle refused.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;

use common::{eventually, fixture, targz, Porch};
use reqwest::Method;
use serde_json::{json, Value};

/// Deploys the fixture site with the CLI while the server runs; returns its guid.
async fn deploy_fixture(p: &Porch, name: &str) -> String {
    let out = p.cli(&["deploy", fixture("site").to_str().expect("utf8"), "--name", name, "--title", "Fixture Site"]);
    assert!(out.status.success(), "deploy failed");
    let stdout = String::from_utf8(out.stdout).expect("utf8");
    let url = stdout.lines().last().expect("url line").trim().to_string();
    assert!(url.starts_with(&p.base), "printed URL {url} should use the running server's origin {}", p.base);
    let guid = url.trim_end_matches('/').rsplit('/').next().expect("guid").to_string();
    // The server notices the CLI's change on its own.
    eventually(10, "the server to route the new content", || async {
        (p.get(&format!("/content/{guid}/")).await.status() == 200).then_some(())
    })
    .await;
    guid
}

/// Sends a raw request line (no client-side path normalisation).
fn raw_get(p: &Porch, path: &str) -> (u16, String) {
    let addr = p.base.trim_start_matches("http://");
    let mut s = TcpStream::connect(addr).expect("connect");
    write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").expect("write");
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).expect("read");
    let text = String::from_utf8_lossy(&buf).into_owned();
    let status = text.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    (status, text)
}

fn bytes_of(rel: &str) -> Vec<u8> {
    std::fs::read(fixture("site").join(rel)).expect("fixture file")
}

#[tokio::test]
async fn files_types_and_names() {
    let p = Porch::start().await;
    let guid = deploy_fixture(&p, "fixture-site").await;
    let base = format!("/content/{guid}/");

    let r = p.get(&format!("/content/{guid}?x=1")).await;
    assert_eq!(r.status().as_u16() / 100, 3);
    assert_eq!(r.headers()["location"], format!("/content/{guid}/?x=1").as_str());

    let r = p.get(&base).await;
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().expect("ct").starts_with("text/html"));
    assert_eq!(r.bytes().await.expect("body").to_vec(), bytes_of("index.html"));

    for (rel, ct) in [
        ("assets/style.css", "text/css"),
        ("assets/data.json", "application/json"),
        ("assets/pixel.png", "image/png"),
        ("file%20with%20space.txt", "text/plain"),
        ("caf%C3%A9/%C3%BCn%C3%AF.html", "text/html"),
    ] {
        let r = p.get(&format!("{base}{rel}")).await;
        assert_eq!(r.status(), 200, "{rel}");
        assert!(r.headers()["content-type"].to_str().expect("ct").starts_with(ct), "{rel}");
        let decoded = percent_decode(rel);
        assert_eq!(r.bytes().await.expect("body").to_vec(), bytes_of(&decoded), "{rel}");
    }

    // A folder without its slash redirects; with it, its index is served.
    let r = p.get(&format!("{base}sub")).await;
    assert_eq!(r.status().as_u16() / 100, 3);
    assert_eq!(r.headers()["location"], format!("{base}sub/").as_str());
    let r = p.get(&format!("{base}sub?x=1&y=2")).await;
    assert_eq!(r.headers()["location"], format!("{base}sub/?x=1&y=2").as_str(), "the query is kept");
    assert_eq!(p.fetch(&format!("{base}sub/")).await, (200, bytes_of("sub/index.html")));
    // A link inside the bundle that stays inside works.
    assert_eq!(p.fetch(&format!("{base}alias.html")).await, (200, bytes_of("index.html")));
    // Numeric id works like the guid.
    let c: Value = p
        .api(Method::GET, &format!("/__api__/v1/content/{guid}"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let id = c["id"].as_str().expect("id");
    assert_eq!(p.fetch(&format!("/content/{id}/")).await, (200, bytes_of("index.html")));

    // HEAD: headers, no body.
    let r = p.http.head(p.url(&format!("{base}assets/style.css"))).send().await.expect("head");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], bytes_of("assets/style.css").len().to_string().as_str());
    assert!(r.bytes().await.expect("body").is_empty());

    // Static files answer only GET and HEAD.
    let r = p.http.post(p.url(&format!("{base}index.html"))).body("x").send().await.expect("post");
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET, HEAD");

    // A missing file gets a helpful HTML 404.
    let r = p.get(&format!("{base}nope.html")).await;
    assert_eq!(r.status(), 404);
    let page = r.text().await.expect("text");
    assert!(page.contains("Fixture Site") && page.contains("href=\"/\""), "{page}");
    assert!(page.contains(&format!("href=\"{base}\"")), "the 404 page links to the item's start: {page}");
    p.shutdown();
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).expect("hex"));
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).expect("utf8")
}

#[tokio::test]
async fn nothing_outside_the_bundle_is_reachable() {
    let p = Porch::start().await;
    let guid = deploy_fixture(&p, "contained").await;
    let base = format!("/content/{guid}/");
    for path in [
        "../../porch.db",
        "sub/../../../porch.db",
        "%2e%2e/%2e%2e/porch.db",
        "%2E%2E%2F%2E%2E%2Fporch.db",
        "sub%2f..%2f..%2f..%2fporch.db",
        "..%5c..%5cporch.db",
        "sub\\..\\..\\porch.db",
        "index.html%00.png",
        ".hidden",
        "%2ehidden",
        "sub/%2e%2e/.hidden",
    ] {
        let (status, text) = raw_get(&p, &format!("{base}{path}"));
        assert!(status == 400 || status == 404, "{path} gave {status}");
        assert!(!text.contains("SQLite format") && !text.contains("do-not-serve"), "{path} leaked data");
    }
    // The landing page and API are not reachable through content paths either.
    let (status, text) = raw_get(&p, &format!("/content/{guid}/../../__api__/v1/content"));
    assert_ne!(status, 200);
    // Refused by the content route itself, with its page: not answered by the API (401 JSON),
    // nor redirected anywhere.
    assert_eq!(status, 400, "{text}");
    assert!(text.contains("That path is not allowed."), "the bad-path page: {text}");
    assert!(!text.contains("\"code\""), "not the API's JSON: {text}");

    // A symlink planted inside an extracted bundle that points outside is refused.
    let c: Value = p
        .api(Method::GET, &format!("/__api__/v1/content/{guid}"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let bundle_dir = p.data_dir().join("bundles").join(c["bundle_id"].as_str().expect("bundle"));
    std::os::unix::fs::symlink(p.data_dir().join("porch.db"), bundle_dir.join("db.html")).expect("plant link");
    std::os::unix::fs::symlink("/etc", bundle_dir.join("etc")).expect("plant link");
    let (status, text) = raw_get(&p, &format!("{base}db.html"));
    assert_eq!(status, 404);
    assert!(!text.contains("SQLite format"));
    assert_eq!(raw_get(&p, &format!("{base}etc/hostname")).0, 404);
    p.shutdown();
}

#[tokio::test]
async fn validators_ranges_and_compression() {
    let p = Porch::start().await;
    let guid = deploy_fixture(&p, "validators").await;
    let url = format!("/content/{guid}/assets/style.css");
    let css = bytes_of("assets/style.css");

    let r = p.get(&url).await;
    let etag = r.headers()["etag"].to_str().expect("etag").to_string();
    let last_modified = r.headers()["last-modified"].to_str().expect("lm").to_string();
    assert_eq!(r.headers()["accept-ranges"], "bytes");

    let r = p.http.get(p.url(&url)).header("If-None-Match", &etag).send().await.expect("get");
    assert_eq!(r.status(), 304);
    assert!(r.bytes().await.expect("body").is_empty());
    let r = p.http.get(p.url(&url)).header("If-None-Match", "\"something-else\"").send().await.expect("get");
    assert_eq!(r.status(), 200);
    let r = p.http.get(p.url(&url)).header("If-Modified-Since", &last_modified).send().await.expect("get");
    assert_eq!(r.status(), 304);
    // Preconditions: the current tag (or any, `*`) and an unchanged date pass; another tag,
    // a weak one, and a date before the file's change fail with 412 (the file and the
    // cache answer alike: asked twice).
    for _ in 0..2 {
        for (name, value, status) in [
            ("If-Match", etag.as_str(), 200),
            ("If-Match", "*", 200),
            ("If-Match", "\"nomatch\"", 412),
            ("If-Match", &format!("W/{etag}"), 412),
            ("If-Unmodified-Since", last_modified.as_str(), 200),
            ("If-Unmodified-Since", "Sat, 01 Jan 2000 00:00:00 GMT", 412),
        ] {
            let r = p.http.get(p.url(&url)).header(name, value).send().await.expect("get");
            assert_eq!(r.status().as_u16(), status, "{name}: {value}");
        }
    }
    let r =
        p.http.get(p.url(&url)).header("If-Modified-Since", "Thu, 01 Jan 1970 00:00:00 GMT").send().await.expect("get");
    assert_eq!(r.status(), 200);

    let r = p.http.get(p.url(&url)).header("Range", "bytes=10-19").send().await.expect("get");
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-range"], format!("bytes 10-19/{}", css.len()).as_str());
    assert_eq!(r.bytes().await.expect("body").to_vec(), css[10..20].to_vec());
    let r = p.http.get(p.url(&url)).header("Range", "bytes=-5").send().await.expect("get");
    assert_eq!(r.bytes().await.expect("body").to_vec(), css[css.len() - 5..].to_vec());
    let r = p.http.get(p.url(&url)).header("Range", "bytes=999999-").send().await.expect("get");
    assert_eq!(r.status(), 416);
    assert_eq!(r.headers()["content-range"], format!("bytes */{}", css.len()).as_str());
    // If-Range with a stale validator gets the whole file.
    let r =
        p.http.get(p.url(&url)).header("Range", "bytes=0-3").header("If-Range", "\"stale\"").send().await.expect("get");
    assert_eq!(r.status(), 200);

    let r = p.http.get(p.url(&url)).header("Accept-Encoding", "gzip").send().await.expect("get");
    assert_eq!(r.headers()["content-encoding"], "gzip");
    assert!(r.headers()["vary"].to_str().expect("vary").contains("accept-encoding"));
    let gz = r.bytes().await.expect("body");
    assert!(gz.len() < css.len());
    let mut plain = Vec::new();
    flate2::read::GzDecoder::new(&gz[..]).read_to_end(&mut plain).expect("gunzip");
    assert_eq!(plain, css);

    let r = p.http.get(p.url(&url)).header("Accept-Encoding", "gzip, br").send().await.expect("get");
    assert_eq!(r.headers()["content-encoding"], "br");
    let br_etag = r.headers()["etag"].to_str().expect("etag").to_string();
    assert_ne!(br_etag, etag, "a compressed variant needs its own validator");
    let br = r.bytes().await.expect("body");
    let mut plain = Vec::new();
    brotli::Decompressor::new(&br[..], 4096).read_to_end(&mut plain).expect("unbrotli");
    assert_eq!(plain, css);
    let r = p
        .http
        .get(p.url(&url))
        .header("Accept-Encoding", "br")
        .header("If-None-Match", &br_etag)
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 304);

    // Images are not compressed.
    let r = p
        .http
        .get(p.url(&format!("/content/{guid}/assets/pixel.png")))
        .header("Accept-Encoding", "gzip, br")
        .send()
        .await
        .expect("get");
    assert!(r.headers().get("content-encoding").is_none());
    p.shutdown();
}

#[tokio::test]
async fn large_files_stream_with_ranges() {
    let p = Porch::start().await;
    let guid = p.create("large-file").await;
    let big: Vec<u8> = (0..(9 * 1024 * 1024u32)).map(|i| (i % 251) as u8).collect();
    p.publish(&guid, targz(&[("index.html", b"big"), ("big.bin", &big)])).await;
    let (status, body) = p.fetch(&format!("/content/{guid}/big.bin")).await;
    assert_eq!(status, 200);
    assert!(body == big, "large body differs");
    let r = p
        .http
        .get(p.url(&format!("/content/{guid}/big.bin")))
        .header("Range", "bytes=5000000-5000099")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.expect("body").to_vec(), big[5_000_000..5_000_100].to_vec());
    p.shutdown();
}

#[tokio::test]
async fn vanity_paths() {
    let p = Porch::start().await;
    let guid = deploy_fixture(&p, "vanity-site").await;
    let r = p
        .api(Method::PUT, &format!("/__api__/v1/content/{guid}/vanity"))
        .json(&json!({"path": "/team/report/"}))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 200);
    assert_eq!(p.fetch("/team/report/").await, (200, bytes_of("index.html")));
    assert_eq!(p.fetch("/team/report/assets/style.css").await.1, bytes_of("assets/style.css"));
    let r = p.get("/team/report").await;
    assert_eq!(r.status().as_u16() / 100, 3);
    let c: Value = p
        .api(Method::GET, &format!("/__api__/v1/content/{guid}"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(c["vanity_url"], format!("{}/team/report/", p.base).as_str());
    // Reserved and taken paths are refused.
    let r = p
        .api(Method::PUT, &format!("/__api__/v1/content/{guid}/vanity"))
        .json(&json!({"path": "/__api__/"}))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 409);
    let other = p.create("other-item").await;
    let r = p
        .api(Method::PUT, &format!("/__api__/v1/content/{other}/vanity"))
        .json(&json!({"path": "team/report"}))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 409);
    let r = p
        .api(Method::PUT, &format!("/__api__/v1/content/{other}/vanity"))
        .json(&json!({"path": "../x"}))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 400);
    // Removing it frees the path.
    let r = p.api(Method::DELETE, &format!("/__api__/v1/content/{guid}/vanity")).send().await.expect("delete");
    assert_eq!(r.status(), 204);
    assert_eq!(p.get("/team/report/").await.status(), 404);
    p.shutdown();
}

#[tokio::test]
async fn landing_page_lists_only_what_viewers_may_see() {
    let p = Porch::start().await;
    let empty = p.get("/").await.text().await.expect("text");
    assert!(empty.contains("Nothing is published yet"), "{empty}");

    let public = deploy_fixture(&p, "public-site").await;
    let private = p.create("private-pin").await;
    p.api(Method::PATCH, &format!("/__api__/v1/content/{private}"))
        .json(&json!({"title":"Secret Pin","viewer_access":"link"}))
        .send()
        .await
        .expect("patch");
    p.publish(&private, targz(&[("index.html", b"private data")])).await;
    let undeployed = p.create("not-deployed-yet").await;

    let page = p.get("/").await.text().await.expect("text");
    assert!(page.contains("Fixture Site") && page.contains(&format!("/content/{public}/")), "{page}");
    assert!(page.contains("Static page"));
    assert!(!page.contains("Secret Pin") && !page.contains(&private), "private content is listed");
    assert!(!page.contains(&undeployed));

    // Private content needs the key, which pins sends; without it, it does not exist.
    let r = p.get(&format!("/content/{private}/")).await;
    assert_eq!(r.status(), 404);
    let r = p.api(Method::GET, &format!("/content/{private}/")).send().await.expect("get");
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.expect("body").to_vec(), b"private data");
    let r = p
        .http
        .get(p.url(&format!("/content/{private}/")))
        .header("Authorization", "Key not-a-key")
        .send()
        .await
        .expect("get");
    assert_eq!(r.status(), 404);
    // Undeployed content explains itself.
    let r = p.get(&format!("/content/{undeployed}/")).await;
    assert_eq!(r.status(), 404);
    assert!(r.text().await.expect("text").contains("not been deployed"));
    // Unknown paths get the friendly page.
    let r = p.get("/no/such/page").await;
    assert_eq!(r.status(), 404);
    assert!(r.text().await.expect("text").contains("href=\"/\""));
    p.shutdown();
}

/// The first request of a file reads it from disk through the router; later ones are
/// answered from memory before the router (the gateway's fast lane). Both give the same
/// answer, and what the fast lane leaves to the router still gets the router's.
#[tokio::test]
async fn a_cached_file_is_answered_as_the_first_time() {
    let p = Porch::start().await;
    let guid = deploy_fixture(&p, "fast-lane").await;
    let url = format!("/content/{guid}/assets/style.css");
    let heads = |r: &reqwest::Response| {
        let mut h: Vec<(String, String)> = r
            .headers()
            .iter()
            .filter(|(k, _)| !matches!(k.as_str(), "date" | "set-cookie"))
            .map(|(k, v)| (k.to_string(), v.to_str().unwrap_or("?").to_string()))
            .collect();
        h.sort();
        h
    };
    let first = p.get(&url).await;
    let first_heads = heads(&first);
    let first_body = first.bytes().await.expect("body");
    for _ in 0..2 {
        let again = p.get(&url).await;
        assert_eq!(again.status(), 200);
        assert_eq!(heads(&again), first_heads, "a file from memory carries the same headers");
        assert_eq!(again.bytes().await.expect("body"), first_body);
    }
    assert!(first_heads.iter().any(|(k, v)| k == "server" && v == "porch"), "{first_heads:?}");
    let r = p.http.head(p.url(&url)).send().await.expect("head");
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-length"], first_body.len().to_string().as_str());
    // Methods files do not take, and paths the router explains, still get the router's answer.
    let r = p.http.post(p.url(&url)).body("x").send().await.expect("post");
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET, HEAD");
    let (status, _) = raw_get(&p, &format!("/content/{guid}/assets/..%2f..%2fetc/passwd"));
    assert_eq!(status, 400);
    p.shutdown();
}

/// Reads one response head from `s`.
fn read_head(s: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        s.read_exact(&mut byte).expect("response head");
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

/// Reads one HTTP/1.1 response from `s` (head and a `content-length` body).
fn read_one(s: &mut TcpStream) -> (u16, String, Vec<u8>) {
    let head = read_head(s);
    let status = head.split(' ').nth(1).and_then(|c| c.parse().ok()).unwrap_or(0);
    let len = head
        .lines()
        .find_map(|l| l.to_ascii_lowercase().strip_prefix("content-length:").map(|v| v.trim().to_string()))
        .and_then(|v| v.parse::<usize>().ok())
        .unwrap_or(0);
    let mut body = vec![0u8; if status == 304 { 0 } else { len }];
    s.read_exact(&mut body).expect("response body");
    (status, head, body)
}

/// One kept-alive connection carries requests the connection's own reader answers (files in
/// memory, a large one sent from its file), then one it hands to hyper (a POST), and goes on
/// working; HTTP/1.0 without keep-alive is closed after its answer.
#[tokio::test]
async fn one_connection_serves_cached_files_then_everything_else() {
    let p = Porch::start().await;
    let guid = p.create("connection").await;
    let big: Vec<u8> = (0..(300 * 1024u32)).map(|i| (i % 251) as u8).collect();
    p.publish(&guid, targz(&[("index.html", b"<p>hi</p>"), ("big.bin", &big)])).await;
    // Read once each, so both are in memory.
    assert_eq!(p.fetch(&format!("/content/{guid}/big.bin")).await.1, big);
    assert_eq!(p.get(&format!("/content/{guid}/")).await.status(), 200);

    let addr = p.base.trim_start_matches("http://").to_string();
    let mut s = TcpStream::connect(&addr).expect("connect");
    s.set_read_timeout(Some(std::time::Duration::from_secs(20))).expect("timeout");
    let get = |path: &str| format!("GET /content/{guid}/{path} HTTP/1.1\r\nHost: {addr}\r\n\r\n");
    // Two requests in one write (pipelined), then one more.
    write!(s, "{}{}", get("big.bin"), get("")).expect("write");
    let (status, head, body) = read_one(&mut s);
    assert_eq!(status, 200, "{head}");
    assert!(body == big, "the file sent from disk differs");
    assert!(head.to_ascii_lowercase().contains("\r\ndate: "), "{head}");
    let (status, _, body) = read_one(&mut s);
    assert_eq!((status, body.as_slice()), (200, &b"<p>hi</p>"[..]));
    write!(s, "HEAD /content/{guid}/big.bin HTTP/1.1\r\nHost: {addr}\r\n\r\n").expect("write");
    let head = read_head(&mut s).to_ascii_lowercase();
    assert!(head.starts_with("http/1.1 200") && head.contains(&format!("content-length: {}", big.len())), "{head}");
    // A request the reader leaves to hyper, on the same connection, and more after it.
    write!(s, "POST /content/{guid}/big.bin HTTP/1.1\r\nHost: {addr}\r\nContent-Length: 2\r\n\r\nhi").expect("write");
    let (status, head, _) = read_one(&mut s);
    assert_eq!(status, 405, "{head}");
    s.write_all(get("big.bin").as_bytes()).expect("write");
    let (status, _, body) = read_one(&mut s);
    assert_eq!(status, 200);
    assert!(body == big, "the file after the hand-over differs");

    // HTTP/1.0 without keep-alive: answered, then closed.
    let mut old = TcpStream::connect(&addr).expect("connect");
    old.set_read_timeout(Some(std::time::Duration::from_secs(20))).expect("timeout");
    write!(old, "GET /content/{guid}/ HTTP/1.0\r\nHost: {addr}\r\n\r\n").expect("write");
    let mut all = Vec::new();
    old.read_to_end(&mut all).expect("read to the close");
    let text = String::from_utf8_lossy(&all).to_ascii_lowercase();
    assert!(
        text.starts_with("http/1.0 200") && text.contains("connection: close") && text.ends_with("<p>hi</p>"),
        "{text}"
    );
    p.shutdown();
}
