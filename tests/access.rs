//! Who may see what, from this computer: viewer access per item (network, local, secret
//! link) on every path of an item, the landing page per visitor, key handling (constant-time
//! checks are unit-tested in the engine; here: revocation, shown once, rate limiting per
//! address), management never answering on content paths, traversal between items, and an
//! app's cookies staying on its own paths. The same modes seen from another computer are in
//! `remote_publishing.rs` (a network namespace).

mod common;

use std::net::IpAddr;

use common::{targz, Porch};
use reqwest::Method;
use serde_json::{json, Value};

async fn json_of(r: reqwest::Response) -> Value {
    let status = r.status();
    let text = r.text().await.expect("body");
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("status {status}: not JSON ({e}): {text}"))
}

/// Creates a static item with two bundles (`_rev{first}` stays reachable) and sets its access.
async fn site(p: &Porch, name: &str, access: &str) -> (String, String) {
    let guid = p.create(name).await;
    let first = p.publish(&guid, targz(&[("index.html", format!("{name} v1").as_bytes())])).await;
    p.publish(&guid, targz(&[("index.html", format!("{name} v2").as_bytes()), ("data.csv", b"a,b\n1,2\n")])).await;
    let r = p
        .api(Method::PATCH, &format!("/__api__/v1/content/{guid}"))
        .json(&json!({ "viewer_access": access }))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 200, "set {name} to {access}");
    let v = json_of(r).await;
    assert_eq!(v["viewer_access"], access, "{v}");
    (guid, first)
}

async fn status_and_text(r: reqwest::Response) -> (u16, String) {
    (r.status().as_u16(), r.text().await.expect("body"))
}

/// The 404 page a viewer gets for an item that does not exist.
async fn missing_item_page(p: &Porch) -> String {
    let (s, body) = status_and_text(p.get("/content/6f1c3f1e-0000-4000-8000-000000000000/").await).await;
    assert_eq!(s, 404);
    body
}

fn cookies_of(r: &reqwest::Response) -> Vec<String> {
    r.headers().get_all("set-cookie").iter().map(|v| v.to_str().expect("ascii").to_string()).collect()
}

#[tokio::test]
async fn access_modes_map_connect_access_types_and_refuse_bad_values() {
    let p = Porch::start().await;
    let guid = p.create("mapped").await;
    let patch = |body: Value| p.api(Method::PATCH, &format!("/__api__/v1/content/{guid}")).json(&body).send();

    let v = json_of(p.api(Method::GET, &format!("/__api__/v1/content/{guid}")).send().await.expect("get")).await;
    assert_eq!(
        (v["viewer_access"].as_str(), v["access_type"].as_str(), v["secret_link"].as_bool()),
        (Some("network"), Some("all"), Some(false))
    );
    for (access_type, viewer) in [("acl", "local"), ("logged_in", "network"), ("all", "network")] {
        let v = json_of(patch(json!({ "access_type": access_type })).await.expect("patch")).await;
        assert_eq!((v["access_type"].as_str(), v["viewer_access"].as_str()), (Some(access_type), Some(viewer)), "{v}");
    }
    for (viewer, access_type) in [("link", "acl"), ("local", "acl"), ("network", "all")] {
        let v = json_of(patch(json!({ "viewer_access": viewer })).await.expect("patch")).await;
        assert_eq!((v["access_type"].as_str(), v["viewer_access"].as_str()), (Some(access_type), Some(viewer)), "{v}");
    }
    // Bad values and contradictions are refused by name, and change nothing.
    patch(json!({ "viewer_access": "local" })).await.expect("patch");
    for (body, names) in [
        (json!({ "viewer_access": "everyone" }), "viewer_access"),
        (json!({ "access_type": "world" }), "access_type"),
        (json!({ "access_type": "all", "viewer_access": "link" }), "disagree"),
    ] {
        let r = patch(body.clone()).await.expect("patch");
        assert_eq!(r.status(), 400, "{body}");
        let e = json_of(r).await;
        assert!(e["error"].as_str().unwrap_or("").contains(names), "{body}: {e}");
    }
    let v = json_of(p.api(Method::GET, &format!("/__api__/v1/content/{guid}")).send().await.expect("get")).await;
    assert_eq!(v["viewer_access"], "local", "a refused change changed access: {v}");

    // The CLI speaks both vocabularies and refuses others by name.
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("index.html"), "cli").expect("write");
    let out = p.cli(&["deploy", dir.path().to_str().expect("utf8"), "--name", "cli-site", "--access", "link"]);
    assert!(out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("porch secret-link cli-site"),
        "deploy --access link explains how to share"
    );
    let out = p.cli(&["access", "cli-site", "public"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("\"public\""));
    let out = p.cli(&["access", "cli-site", "acl"]);
    assert!(out.status.success());
    let list: Vec<Value> = serde_json::from_slice(&p.cli(&["list", "--json"]).stdout).expect("json");
    let item = list.iter().find(|c| c["name"] == "cli-site").expect("listed");
    assert_eq!((item["viewer_access"].as_str(), item["access_type"].as_str()), (Some("local"), Some("acl")));
    // Switching to link without a link makes one and prints it; with one, it is kept.
    let out = p.cli(&["access", "cli-site", "link"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success() && text.contains("?porch_token="), "{text}");
    let out = p.cli(&["access", "cli-site", "link"]);
    let again = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success() && !again.contains("?porch_token=") && again.contains("unchanged"), "{again}");
    let out = p.cli(&["secret-link", "cli-site", "--revoke"]);
    assert!(out.status.success());
    let list: Vec<Value> = serde_json::from_slice(&p.cli(&["list", "--json"]).stdout).expect("json");
    assert_eq!(list.iter().find(|c| c["name"] == "cli-site").expect("listed")["secret_link"], false);
    let out = p.cli(&["secret-link", "no-such-item"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("no-such-item"));
    p.shutdown();
}

#[tokio::test]
async fn each_mode_from_loopback_on_every_path_and_the_landing_page() {
    let p = Porch::start().await;
    let (net, net_rev) = site(&p, "open-site", "network").await;
    let (local, local_rev) = site(&p, "this-computer", "local").await;
    let (link, link_rev) = site(&p, "by-link", "link").await;
    let r = p
        .api(Method::PUT, &format!("/__api__/v1/content/{link}/vanity"))
        .json(&json!({"path": "/secret-report/"}))
        .send()
        .await
        .expect("vanity");
    assert_eq!(r.status(), 200);
    let missing = missing_item_page(&p).await;

    // Loopback is "this computer": network and local items open, on every path.
    for (guid, rev, name) in [(&net, &net_rev, "open-site"), (&local, &local_rev, "this-computer")] {
        assert_eq!(p.fetch(&format!("/content/{guid}/")).await, (200, format!("{name} v2").into_bytes()));
        assert_eq!(p.fetch(&format!("/content/{guid}/data.csv")).await.0, 200);
        assert_eq!(p.fetch(&format!("/content/{guid}/_rev{rev}/")).await, (200, format!("{name} v1").into_bytes()));
    }
    // A loopback browser asked by another site's name (DNS rebinding) is not "this computer".
    let port = p.base.rsplit(':').next().expect("port").to_string();
    for (host, status) in
        [("localhost", 200), ("127.0.0.1", 200), ("[::1]", 200), ("attacker.example", 404), ("127.0.0.1.nip.io", 404)]
    {
        let r = p
            .http
            .get(p.url(&format!("/content/{local}/")))
            .header("Host", format!("{host}:{port}"))
            .send()
            .await
            .expect("get");
        assert_eq!(r.status().as_u16(), status, "local item with Host {host}");
        let page = p
            .http
            .get(p.url("/"))
            .header("Host", format!("{host}:{port}"))
            .send()
            .await
            .expect("get")
            .text()
            .await
            .expect("page");
        assert_eq!(page.contains(&local), status == 200, "landing page with Host {host}");
    }
    // Nor is a request another site's page makes to 127.0.0.1 (a fetch, a form, a WebSocket:
    // the browser names the page in `Origin`); Porch's own pages and the window may.
    for (origin, status) in [
        (format!("http://127.0.0.1:{port}"), 200),
        (format!("http://localhost:{port}"), 200),
        ("tauri://localhost".to_string(), 200),
        ("http://evil.example".to_string(), 404),
        ("null".to_string(), 404),
    ] {
        let r = p.http.get(p.url(&format!("/content/{local}/"))).header("Origin", &origin).send().await.expect("get");
        assert_eq!(r.status().as_u16(), status, "local item with Origin {origin}");
    }
    // Nor a frame in another site's page (a browser says so in `Sec-Fetch-*`, with no
    // Origin); a link followed from another site still opens it.
    for (site, dest, status) in [
        ("cross-site", "iframe", 404),
        ("same-site", "iframe", 404),
        ("cross-site", "document", 200),
        ("same-origin", "iframe", 200),
    ] {
        let r = p
            .http
            .get(p.url(&format!("/content/{local}/")))
            .header("Sec-Fetch-Site", site)
            .header("Sec-Fetch-Dest", dest);
        assert_eq!(r.send().await.expect("get").status().as_u16(), status, "local item, {site} {dest}");
    }
    assert_eq!(
        p.http
            .get(p.url(&format!("/content/{net}/")))
            .header("Host", "attacker.example")
            .send()
            .await
            .expect("get")
            .status(),
        200
    );

    // A bundle uploaded and never deployed was not shared: a viewer gets a page about it,
    // not its files; the publisher's key browses it.
    let r = p.upload(&net, targz(&[("index.html", b"UNRELEASED-DRAFT"), ("draft.txt", b"UNRELEASED-DRAFT")])).await;
    let draft = json_of(r).await["id"].as_str().expect("bundle id").to_string();
    for path in [format!("/content/{net}/_bundle{draft}/draft.txt"), format!("/content/{net}/_rev{draft}/draft.txt")] {
        let (s, body) = status_and_text(p.get(&path).await).await;
        assert_eq!(s, 404, "{path}");
        assert!(!body.contains("UNRELEASED-DRAFT"), "{path}: {body}");
        let keyed = p.api(Method::GET, &path).send().await.expect("get");
        assert_eq!(status_and_text(keyed).await, (200, "UNRELEASED-DRAFT".into()), "{path} with the key");
    }
    let (s, body) = status_and_text(p.get(&format!("/content/{net}/_bundle{draft}/")).await).await;
    assert!(s == 200 && body.contains("has not been deployed yet") && !body.contains("UNRELEASED"), "{s} {body}");

    // A link item without its token does not exist, whatever the path or address form.
    let id = json_of(p.api(Method::GET, &format!("/__api__/v1/content/{link}")).send().await.expect("get")).await["id"]
        .as_str()
        .expect("id")
        .to_string();
    for path in [
        format!("/content/{link}/"),
        format!("/content/{link}/data.csv"),
        format!("/content/{link}/_rev{link_rev}/"),
        format!("/content/{link}/_bundle{link_rev}/"),
        format!("/content/{link}/no-such-file"),
        format!("/content/{id}/"),
        format!("/content/{link}/?porch_token=0000"),
        "/secret-report/".into(),
        "/secret-report".into(),
    ] {
        let (s, body) = status_and_text(p.get(&path).await).await;
        assert_eq!(s, 404, "{path}");
        assert!(!body.contains("by-link"), "{path} names the item: {body}");
        if path.starts_with("/content/") {
            assert_eq!(body, missing, "{path}: a hidden item must look exactly like a missing one");
        }
    }
    // The publisher's key opens it (pins reads private content this way); a wrong key does not.
    let r = p.api(Method::GET, &format!("/content/{link}/_rev{link_rev}/")).send().await.expect("get");
    assert_eq!(status_and_text(r).await, (200, "by-link v1".into()));
    let r =
        p.http.get(p.url(&format!("/content/{link}/"))).header("Authorization", "Key wrong").send().await.expect("get");
    assert_eq!(r.status(), 404);

    // The landing page for a loopback visitor: network and local, never link.
    let page = p.get("/").await.text().await.expect("page");
    assert!(page.contains(&format!("/content/{net}/")) && page.contains(&format!("/content/{local}/")), "{page}");
    assert!(!page.contains(&link) && !page.contains("by-link") && !page.contains("secret-report"), "{page}");
    assert_eq!(page.matches("only this computer").count(), 1, "the local item is marked: {page}");
    p.shutdown();
}

#[tokio::test]
async fn secret_links_set_a_scoped_cookie_and_can_be_regenerated_and_revoked() {
    let p = Porch::start().await;
    let (guid, rev) = site(&p, "shared-report", "link").await;
    let (other, _) = site(&p, "other-report", "link").await;
    p.api(Method::PUT, &format!("/__api__/v1/content/{guid}/vanity"))
        .json(&json!({"path": "/q3/"}))
        .send()
        .await
        .expect("vanity");
    let missing = missing_item_page(&p).await;

    let v =
        json_of(p.api(Method::POST, &format!("/__api__/porch/content/{guid}/secret-link")).send().await.expect("post"))
            .await;
    let url = v["url"].as_str().expect("url").to_string();
    assert!(url.starts_with(&p.base) && url.contains(&format!("/content/{guid}/?porch_token=")), "{url}");
    let token = url.split("porch_token=").nth(1).expect("token").to_string();
    assert!(
        !std::fs::read(p.data_dir().join("porch.db")).expect("db").windows(token.len()).any(|w| w == token.as_bytes()),
        "the token is stored in plain text"
    );
    let listed = json_of(p.api(Method::GET, &format!("/__api__/v1/content/{guid}")).send().await.expect("get")).await;
    assert_eq!(listed["secret_link"], true);
    assert!(!listed.to_string().contains(&token), "the API shows the token again");

    // Opening the link: 303 to the clean URL (other parameters kept), cookie on every path of the item.
    let r = p.get(&format!("/content/{guid}/_rev{rev}/?x=1&porch_token={token}")).await;
    assert_eq!(r.status(), 303);
    assert_eq!(r.headers()["location"], format!("/content/{guid}/_rev{rev}/?x=1").as_str());
    let set = cookies_of(&r);
    assert_eq!(set.len(), 2, "{set:?}");
    for (c, path) in set.iter().zip([format!("/content/{guid}"), "/q3".to_string()]) {
        assert!(c.contains(&format!("Path={path};")) && c.contains("HttpOnly") && c.contains(&token), "{c}");
        // docs/security.md: kept 30 days, and sent on top-level navigation from elsewhere but
        // not on cross-site subrequests.
        let attrs: Vec<&str> = c.split(';').map(str::trim).collect();
        assert!(attrs.contains(&"Max-Age=2592000"), "30 days: {c}");
        assert!(attrs.contains(&"SameSite=Lax"), "SameSite=Lax: {c}");
    }
    let cookie = set[0].split(';').next().expect("pair").to_string();
    let with = |path: String| p.http.get(p.url(&path)).header("Cookie", cookie.clone()).send();
    let r = with(format!("/content/{guid}/")).await.expect("get");
    assert!(
        r.headers()["cache-control"].to_str().expect("ascii").starts_with("private"),
        "no shared cache may keep a link item"
    );
    assert_eq!(status_and_text(r).await, (200, "shared-report v2".into()));
    assert_eq!(
        status_and_text(with(format!("/content/{guid}/_rev{rev}/")).await.expect("get")).await,
        (200, "shared-report v1".into())
    );
    assert_eq!(with("/q3/data.csv".into()).await.expect("get").status(), 200);
    assert_eq!(with("/q3".into()).await.expect("get").status(), 308, "the vanity path without its slash");
    // One item's cookie opens nothing else.
    let (s, body) = status_and_text(with(format!("/content/{other}/")).await.expect("get")).await;
    assert_eq!((s, body), (404, missing.clone()));
    // A wrong token is a 404 that looks like a missing item, never a 403.
    let (s, body) = status_and_text(p.get(&format!("/content/{guid}/?porch_token={}", "0".repeat(64))).await).await;
    assert_eq!((s, body), (404, missing.clone()));
    // ... but a stale token in a bookmarked URL does not undo a valid cookie.
    let r = with(format!("/content/{guid}/?porch_token={}", "0".repeat(64))).await.expect("get");
    assert_eq!(r.status(), 200);

    // Regenerating: the old token and its cookie stop working, the new one works.
    let v =
        json_of(p.api(Method::POST, &format!("/__api__/porch/content/{guid}/secret-link")).send().await.expect("post"))
            .await;
    let new_url = v["url"].as_str().expect("url").to_string();
    assert_ne!(new_url, url);
    assert_eq!(
        with(format!("/content/{guid}/")).await.expect("get").status(),
        404,
        "the old cookie still opens the item"
    );
    assert_eq!(
        p.get(&format!("/content/{guid}/?porch_token={token}")).await.status(),
        404,
        "the old token still works"
    );
    let path = new_url.strip_prefix(&p.base).expect("same origin");
    assert_eq!(p.get(path).await.status(), 303);

    // The CLI makes links too, and revokes them.
    let out = p.cli(&["secret-link", "shared-report"]);
    assert!(out.status.success());
    let cli_url = String::from_utf8_lossy(&out.stdout).trim().to_string();
    let cli_path = cli_url.split_once("/content/").map(|(_, t)| format!("/content/{t}")).expect("a content URL");
    common::eventually(15, "the server to see the CLI's new link", || {
        let (http, url) = (p.http.clone(), p.url(&cli_path));
        async move { (http.get(url).send().await.ok()?.status() == 303).then_some(()) }
    })
    .await;
    assert_eq!(p.get(path).await.status(), 404, "the API's link survived the CLI's new one");
    let r = p.api(Method::DELETE, &format!("/__api__/porch/content/{guid}/secret-link")).send().await.expect("delete");
    assert_eq!(r.status(), 204);
    assert_eq!(p.get(&cli_path).await.status(), 404, "a revoked link still works");
    let v = json_of(p.api(Method::GET, &format!("/__api__/v1/content/{guid}")).send().await.expect("get")).await;
    assert_eq!(v["secret_link"], false);
    // Secret-link calls need the key.
    assert_eq!(
        p.http.post(p.url(&format!("/__api__/porch/content/{guid}/secret-link"))).send().await.expect("post").status(),
        401
    );
    p.shutdown();
}

/// "This computer" also answers to the machine's own host name (as `/etc/hostname` gives it,
/// any case, with `.local` or a trailing dot) and to the `--public-url` host; any other name
/// pointed at 127.0.0.1 is still a stranger.
#[tokio::test]
async fn this_computer_is_also_its_host_name_and_the_public_url_host() {
    let test = "this_computer_is_also_its_host_name_and_the_public_url_host";
    let me = std::fs::read_to_string("/etc/hostname").map(|s| s.trim().to_string()).unwrap_or_default();
    if me.is_empty() || me == "localhost" {
        common::skip_or_fail(test, "this machine has no host name of its own in /etc/hostname");
        return;
    }
    let p = Porch::start_with(common::Opts {
        args: vec!["--public-url".into(), "https://Reports.Example.test:8443/porch/".into()],
        ..Default::default()
    })
    .await;
    let (local, _) = site(&p, "local-by-name", "local").await;
    let port = p.base.rsplit(':').next().expect("port").to_string();
    let upper = me.to_uppercase();
    let cases = [
        (format!("{me}:{port}"), 200),
        (format!("{upper}:{port}"), 200),
        (format!("{me}.:{port}"), 200),
        (format!("{me}.local:{port}"), 200),
        (me.clone(), 200),
        ("reports.example.test".to_string(), 200),
        (format!("reports.example.test:{port}"), 200),
        ("REPORTS.EXAMPLE.TEST:8443".to_string(), 200),
        (format!("{me}.example.test:{port}"), 404),
        (format!("not-{me}:{port}"), 404),
        ("example.test".to_string(), 404),
        ("reports.example.test.evil.test".to_string(), 404),
    ];
    for (host, status) in cases {
        let r = p.http.get(p.url(&format!("/content/{local}/"))).header("Host", &host).send().await.expect("get");
        assert_eq!(r.status().as_u16(), status, "local item with Host {host}");
        let page = p.http.get(p.url("/")).header("Host", &host).send().await.expect("get").text().await.expect("page");
        assert_eq!(page.contains(&local), status == 200, "landing page with Host {host}");
    }
    // A page's Origin is held to the same names: the public URL's host is this computer's.
    for (origin, status) in [("http://reports.example.test", 200), ("http://reports.example.test.evil.test", 404)] {
        let r = p.http.get(p.url(&format!("/content/{local}/"))).header("Origin", origin).send().await.expect("get");
        assert_eq!(r.status().as_u16(), status, "local item with Origin {origin}");
    }
    p.shutdown();
}

fn client_from(ip: &str) -> reqwest::Client {
    reqwest::Client::builder().local_address(ip.parse::<IpAddr>().expect("ip")).build().expect("client")
}

#[tokio::test]
async fn wrong_keys_are_rate_limited_per_client_address() {
    let p = Porch::start().await;
    let url = p.url("/__api__/v1/content");
    let (guesser, publisher, neighbour) =
        (client_from("127.0.0.2"), client_from("127.0.0.3"), client_from("127.0.0.4"));
    let get = |c: &reqwest::Client, key: &str| c.get(&url).header("Authorization", format!("Key {key}")).send();

    // Successes cost nothing: five failures, many successes, five more failures are all plain 401s.
    for _ in 0..5 {
        assert_eq!(get(&guesser, "wrong").await.expect("get").status(), 401);
    }
    for _ in 0..20 {
        assert_eq!(get(&guesser, &p.key).await.expect("get").status(), 200);
    }
    for _ in 0..5 {
        assert_eq!(get(&guesser, "wrong").await.expect("get").status(), 401);
    }
    // The eleventh failure within the minute is refused with 429 and Retry-After, even with
    // the right key (a guesser must not learn which of its guesses was right).
    let r = get(&guesser, "wrong").await.expect("get");
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"].to_str().expect("ascii").parse().expect("seconds");
    assert!((1..=60).contains(&wait), "Retry-After {wait}");
    let e = json_of(r).await;
    assert!(e["error"].as_str().unwrap_or("").contains("too many wrong API keys"), "{e}");
    assert_eq!(get(&guesser, &p.key).await.expect("get").status(), 429);
    // Requests without a key are not key attempts; other addresses are unaffected.
    assert_eq!(guesser.get(&url).send().await.expect("get").status(), 401);
    assert_eq!(get(&publisher, &p.key).await.expect("get").status(), 200);
    assert_eq!(get(&neighbour, "wrong").await.expect("get").status(), 401);
    // Wrong keys on content paths count too, and answer like a missing item.
    let (hidden, _) = site(&p, "hidden-site", "link").await;
    for _ in 0..9 {
        let r = neighbour
            .get(p.url(&format!("/content/{hidden}/")))
            .header("Authorization", "Key wrong")
            .send()
            .await
            .expect("get");
        assert_eq!(r.status(), 404);
    }
    assert_eq!(get(&neighbour, "wrong").await.expect("get").status(), 429);
    p.shutdown();
}

/// After a 429 the address cools down: the right key works again once the allowance refills
/// (within the announced Retry-After, however often the client asks meanwhile: refused
/// requests do not extend the wait), and one refill buys one more attempt, not a new burst.
#[tokio::test]
async fn the_rate_limit_cools_down_after_a_429() {
    let p = Porch::start().await;
    let url = p.url("/__api__/v1/content");
    let guesser = client_from("127.0.0.5");
    let get = |key: &str| guesser.get(&url).header("Authorization", format!("Key {key}")).send();
    for _ in 0..10 {
        assert_eq!(get("wrong").await.expect("get").status(), 401);
    }
    let r = get("wrong").await.expect("get");
    assert_eq!(r.status(), 429);
    let first: u64 = r.headers()["retry-after"].to_str().expect("ascii").parse().expect("seconds");
    assert!((1..=60).contains(&first), "Retry-After {first}");
    // Ask with the right key every 200 ms: 429 with a Retry-After that never grows, then 200.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(first + 10);
    let mut refused = 0;
    loop {
        let r = get(&p.key).await.expect("get");
        if r.status() == 200 {
            break;
        }
        assert_eq!(r.status(), 429, "only 429 while cooling down");
        let wait: u64 = r.headers()["retry-after"].to_str().expect("ascii").parse().expect("seconds");
        assert!(wait <= first, "Retry-After grew from {first} to {wait}: asking extended the cool-down");
        refused += 1;
        assert!(
            std::time::Instant::now() < deadline,
            "still 429 {first}+10 s after Retry-After {first} ({refused} refused polls)"
        );
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    // The refill is gradual: one wrong key spends what came back, the next is refused again.
    assert_eq!(get("wrong").await.expect("get").status(), 401);
    assert_eq!(get("wrong").await.expect("get").status(), 429);
    p.shutdown();
}

#[tokio::test]
async fn keys_are_shown_once_stored_hashed_and_revocable() {
    let p = Porch::start().await;
    // A second key, made through the API: shown in the answer, never again.
    let made = json_of(
        p.api(Method::POST, "/__api__/porch/keys").json(&json!({"name": "laptop"})).send().await.expect("post"),
    )
    .await;
    let key2 = made["key"].as_str().expect("key").to_string();
    let list = json_of(p.api(Method::GET, "/__api__/porch/keys").send().await.expect("get")).await;
    let names: Vec<&str> = list.as_array().expect("array").iter().map(|k| k["name"].as_str().expect("name")).collect();
    assert_eq!(names, ["test", "laptop"]);
    assert!(!list.to_string().contains(&key2) && !list.to_string().contains(&p.key), "{list}");
    let out = p.cli(&["key", "list"]);
    let text = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success() && text.contains("laptop") && !text.contains(&key2) && !text.contains(&p.key),
        "{text}"
    );
    let db = std::fs::read(p.data_dir().join("porch.db")).expect("db");
    for k in [&p.key, &key2] {
        assert!(!db.windows(k.len()).any(|w| w == k.as_bytes()), "a key is stored in plain text");
    }
    let with = |k: &str| p.http.get(p.url("/__api__/v1/user")).header("Authorization", format!("Key {k}")).send();
    assert_eq!(with(&key2).await.expect("get").status(), 200);

    // Revoking by id through the API, and by id and name through the CLI: each stops working
    // at once.
    let id = list[1]["id"].as_str().expect("id (a string, like every id in the API)").to_string();
    assert_eq!(p.api(Method::DELETE, &format!("/__api__/porch/keys/{id}")).send().await.expect("delete").status(), 204);
    assert_eq!(with(&key2).await.expect("get").status(), 401);
    assert_eq!(p.api(Method::DELETE, &format!("/__api__/porch/keys/{id}")).send().await.expect("delete").status(), 404);
    let out = p.cli(&["key", "revoke", "no-such-key"]);
    assert!(!out.status.success() && String::from_utf8_lossy(&out.stderr).contains("no-such-key"));

    // A key labelled like another key's id (the label may follow `new` without `--name`):
    // `revoke ID` takes the key with that id only; once no key has it, it is a name.
    let test_id = list[0]["id"].as_str().expect("id").to_string();
    let out = p.cli(&["key", "new", &test_id]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let key3 = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert_eq!(with(&key3).await.expect("get").status(), 200);
    let out = p.cli(&["key", "revoke", &test_id]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("Revoked 1 key"), "{out:?}");
    assert_eq!(with(&p.key).await.expect("get").status(), 401);
    assert_eq!(with(&key3).await.expect("get").status(), 200, "the key named like the id stays");
    let out = p.cli(&["key", "revoke", &test_id]);
    assert!(out.status.success(), "revoke by name");
    assert_eq!(with(&key3).await.expect("get").status(), 401);
    p.shutdown();
}

#[tokio::test]
async fn management_never_answers_on_content_paths_and_items_cannot_reach_each_other() {
    let p = Porch::start().await;
    let (a, _) = site(&p, "alpha-site", "network").await;
    let (b, b_rev) = site(&p, "bravo-site", "link").await;
    let bravo_v1 = b"bravo-site v1";

    // Management routes below a content path or a vanity path are just missing files.
    p.api(Method::PUT, &format!("/__api__/v1/content/{a}/vanity"))
        .json(&json!({"path": "/alpha/"}))
        .send()
        .await
        .expect("vanity");
    for path in [
        format!("/content/{a}/__api__/v1/content"),
        format!("/content/{a}/__api__/porch/events"),
        format!("/content/{a}/__api__/v1/content/{b}/bundles/{b_rev}/download"),
        "/alpha/__api__/v1/content".into(),
    ] {
        let r = p.api(Method::GET, &path).send().await.expect("get");
        let (status, ctype) =
            (r.status().as_u16(), r.headers().get("content-type").map(|v| v.to_str().unwrap_or("").to_string()));
        let body = r.text().await.expect("body");
        assert_eq!(status, 404, "{path}");
        assert!(
            !ctype.unwrap_or_default().contains("json") && !body.contains("bravo-site"),
            "{path} answered like the API: {body}"
        );
    }
    // Vanity paths cannot shadow Porch's routes or another item.
    for (path, status) in
        [("/__api__/", 409), ("/content/x/", 409), ("/alpha/", 409), ("/alpha/inner/", 409), ("/a/../b/", 400)]
    {
        let r = p
            .api(Method::PUT, &format!("/__api__/v1/content/{b}/vanity"))
            .json(&json!({ "path": path }))
            .send()
            .await
            .expect("put");
        assert_eq!(r.status().as_u16(), status, "vanity {path}");
    }
    // Nesting is refused both ways, so one item's cookies cannot reach another's pages.
    p.api(Method::PUT, &format!("/__api__/v1/content/{b}/vanity"))
        .json(&json!({"path": "/team/reports/"}))
        .send()
        .await
        .expect("put");
    let r = p
        .api(Method::PUT, &format!("/__api__/v1/content/{a}/vanity"))
        .json(&json!({"path": "/team/"}))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 409);
    assert!(json_of(r).await["error"].as_str().unwrap_or("").contains("nested"));
    let v = json_of(p.api(Method::GET, &format!("/__api__/v1/content/{a}/vanity")).send().await.expect("get")).await;
    assert_eq!(v["path"], "/alpha/", "a refused vanity change lost the old one");

    // Traversal from one item into another item's files, in every spelling, gets nothing of it.
    let raw = |path: String| {
        let addr = p.base.trim_start_matches("http://").to_string();
        std::thread::spawn(move || {
            use std::io::{Read, Write};
            let mut s = std::net::TcpStream::connect(&addr).expect("connect");
            write!(s, "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").expect("send");
            let mut out = Vec::new();
            s.read_to_end(&mut out).expect("read");
            String::from_utf8_lossy(&out).into_owned()
        })
        .join()
        .expect("thread")
    };
    let b_bundle = format!("{b_rev}/index.html");
    for path in [
        format!("/content/{a}/../{b}/"),
        format!("/content/{a}/%2e%2e/{b}/"),
        format!("/content/{a}/%2E%2E%2F{b}%2F"),
        format!("/content/{a}/..%2f..%2fbundles%2f{b_bundle}"),
        format!("/content/{a}/..%5c..%5cbundles%5c{b_bundle}"),
        format!("/content/{a}/..\\..\\bundles\\{b_bundle}"),
        format!("/content/{a}//..//..//bundles//{b_bundle}"),
        format!("/content/{a}/_rev{b_rev}/"),
        format!("/content/{a}/_bundle{b_rev}/index.html"),
        format!("/alpha/%2e%2e/content/{b}/"),
        format!("/content/{a}/%2e%2e%2f%2e%2e%2fporch.db"),
    ] {
        let reply = raw(path.clone());
        let status: u16 = reply.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        assert!(matches!(status, 400 | 404), "{path}: {reply}");
        assert!(
            !reply.as_bytes().windows(bravo_v1.len()).any(|w| w == bravo_v1) && !reply.contains("SQLite"),
            "{path} leaked: {reply}"
        );
    }
    p.shutdown();
}

// ---- an interactive app: cookies, credentials, WebSockets ------------------------------------

/// A browser's cookie jar, reduced to what matters here: RFC 6265 path matching.
#[derive(Default)]
struct Jar(Vec<(String, String, String)>);

impl Jar {
    fn store(&mut self, set_cookie: &str) {
        let mut parts = set_cookie.split(';').map(str::trim);
        let (name, value) = parts.next().and_then(|kv| kv.split_once('=')).expect("name=value");
        let path = parts
            .find_map(|a| a.strip_prefix("Path=").or_else(|| a.strip_prefix("path=")))
            .expect("every cookie Porch passes on has a Path")
            .to_string();
        self.0.retain(|(n, _, p)| !(n == name && *p == path));
        self.0.push((name.to_string(), value.to_string(), path));
    }

    fn header_for(&self, request_path: &str) -> String {
        let matches = |cp: &str| {
            request_path == cp
                || (request_path.starts_with(cp) && (cp.ends_with('/') || request_path[cp.len()..].starts_with('/')))
        };
        self.0.iter().filter(|(_, _, p)| matches(p)).map(|(n, v, _)| format!("{n}={v}")).collect::<Vec<_>>().join("; ")
    }
}

async fn deploy_access_app(p: &Porch, name: &str) -> String {
    let dir = tempfile::tempdir().expect("tmp");
    common::copy_tree(&common::fixture("apps/access-app"), dir.path());
    let out = p.cli(&["deploy", dir.path().to_str().expect("utf8"), "--name", name]);
    assert!(out.status.success(), "deploy {name}: {}", String::from_utf8_lossy(&out.stderr));
    let list: Vec<Value> = serde_json::from_slice(&p.cli(&["list", "--json"]).stdout).expect("json");
    list.iter().find(|c| c["name"] == name).and_then(|c| c["guid"].as_str()).expect("guid").to_string()
}

#[tokio::test]
async fn app_cookies_stay_on_their_item_and_porch_credentials_never_reach_apps() {
    const TEST: &str = "access::app_cookies_stay_on_their_item_and_porch_credentials_never_reach_apps";
    if !common::have_uv() {
        common::skip_or_fail(TEST, "uv is not installed");
        return;
    }
    let p = Porch::start().await;
    let a = deploy_access_app(&p, "cookie-app-a").await;
    let b = deploy_access_app(&p, "cookie-app-b").await;
    p.api(Method::PUT, &format!("/__api__/v1/content/{a}/vanity"))
        .json(&json!({"path": "/team/a/"}))
        .send()
        .await
        .expect("vanity");

    // An app's bundle files are its source code: `_rev`/`_bundle` show them to the publisher only.
    let bundle = json_of(p.api(Method::GET, &format!("/__api__/v1/content/{a}")).send().await.expect("get")).await
        ["bundle_id"]
        .as_str()
        .expect("bundle")
        .to_string();
    for path in [format!("/content/{a}/_rev{bundle}/app.py"), format!("/content/{a}/_bundle{bundle}/requirements.txt")]
    {
        assert_eq!(p.get(&path).await.status(), 404, "{path}");
        let r = p.api(Method::GET, &path).send().await.expect("get");
        assert_eq!(r.status(), 200, "{path} with the key");
    }

    // App A sets `session` with Path=/ and `session_nopath` without a Path: both come back
    // scoped to A's paths only.
    let r = p.get(&format!("/content/{a}/set-cookie")).await;
    assert_eq!(r.status(), 200);
    let set = cookies_of(&r);
    let app_cookies: Vec<&String> = set.iter().filter(|c| c.starts_with("session")).collect();
    assert_eq!(app_cookies.len(), 4, "two cookies, each on /content/{{a}}/ and /team/a/: {set:?}");
    let mut jar = Jar::default();
    for c in &set {
        let path = c.split(';').find_map(|a| a.trim().strip_prefix("Path=")).unwrap_or("");
        assert!(path == format!("/content/{a}/") || path == "/team/a/", "cookie escaped its item: {c}");
        jar.store(c);
    }
    let headers_seen = |path: String, cookie: String, extra: Vec<(&'static str, String)>| {
        let mut req = p.http.get(p.url(&path)).header("Cookie", cookie);
        for (k, v) in extra {
            req = req.header(k, v);
        }
        async move {
            let r = req.send().await.expect("get");
            assert_eq!(r.status(), 200, "{path}");
            r.json::<Value>().await.expect("json")
        }
    };
    let a_path = format!("/content/{a}/headers");
    let seen = headers_seen(a_path.clone(), jar.header_for(&a_path), vec![]).await;
    assert!(seen["cookie"].as_str().unwrap_or("").contains("session=from-"), "A's own cookie reaches A: {seen}");
    let b_path = format!("/content/{b}/headers");
    assert!(!jar.header_for(&b_path).contains("session"), "a browser would send A's cookie to B");
    let seen = headers_seen(b_path.clone(), jar.header_for(&b_path), vec![]).await;
    assert!(!seen["cookie"].as_str().unwrap_or("").contains("session"), "{seen}");

    // Porch's own credentials are stripped: Connect's credentials header, the key, link cookies, the token.
    p.api(Method::PATCH, &format!("/__api__/v1/content/{b}"))
        .json(&json!({"viewer_access": "link"}))
        .send()
        .await
        .expect("patch");
    let v =
        json_of(p.api(Method::POST, &format!("/__api__/porch/content/{b}/secret-link")).send().await.expect("post"))
            .await;
    let token = v["url"].as_str().expect("url").split("porch_token=").nth(1).expect("token").to_string();
    let r = p.get(&format!("/content/{b}/headers?porch_token={token}")).await;
    assert_eq!(r.status(), 303);
    let link_cookie = cookies_of(&r)[0].split(';').next().expect("pair").to_string();
    let seen = headers_seen(
        b_path.clone(),
        format!("{link_cookie}; mine=1"),
        vec![("RStudio-Connect-Credentials", r#"{"user":"mallory","groups":["admins"]}"#.into())],
    )
    .await;
    assert!(seen.get("rstudio-connect-credentials").is_none(), "{seen}");
    assert_eq!(seen["cookie"], "mine=1", "{seen}");
    assert!(!seen.to_string().contains(&token), "the app saw the link token: {seen}");
    let r = p.api(Method::GET, &b_path).header("RStudio-Connect-Credentials", "{}").send().await.expect("get");
    let seen: Value = r.json().await.expect("json");
    assert!(seen.get("authorization").is_none() && seen.get("rstudio-connect-credentials").is_none(), "{seen}");

    // WebSockets follow the item's access too: none without the link, echo with its cookie.
    let ws_path = format!("/content/{b}/ws");
    let refused = common::Ws::connect(&p.base, &ws_path, &[]).err().expect("a WebSocket without the link is refused");
    assert!(refused.contains(" 404 "), "{refused}");
    let mut ws =
        common::Ws::connect(&p.base, &ws_path, &[("Cookie", &link_cookie)]).expect("WebSocket with the link cookie");
    ws.send_text("hi");
    assert_eq!(ws.recv().expect("echo").text(), "echo:hi");

    // A session the viewer may no longer open is closed: here the link is revoked while it
    // is open (as when access narrows, the item goes, or sharing pauses for the LAN).
    let mut other = common::Ws::connect(&p.base, &format!("/content/{a}/ws"), &[]).expect("a network app's session");
    let r = p.api(Method::DELETE, &format!("/__api__/porch/content/{b}/secret-link")).send().await.expect("revoke");
    assert!(r.status().is_success(), "{}", r.status());
    let closed = tokio::task::spawn_blocking(move || {
        for _ in 0..50 {
            ws.send_text("after");
            match ws.recv() {
                Ok(m) if m.opcode == 8 => return true,
                Ok(_) => std::thread::sleep(std::time::Duration::from_millis(100)),
                Err(_) => return true,
            }
        }
        false
    })
    .await
    .expect("join");
    assert!(closed, "the session went on after the link was revoked");
    other.send_text("still");
    assert_eq!(other.recv().expect("echo").text(), "echo:still", "another item's session is untouched");
    p.shutdown();
}

/// Identity headers a viewer could forge, each with the value a forger would send.
const FORGED_IDENTITIES: &[(&str, &str)] = &[
    ("Shiny-Server-Credentials", r#"{"user":"mallory","groups":["admins"]}"#),
    ("RStudio-Connect-Credentials", r#"{"user":"mallory","groups":["admins"]}"#),
    ("Remote-User", "mallory"),
    ("X-Remote-User", "mallory"),
    ("X-Forwarded-User", "mallory"),
    ("X-Forwarded-Email", "mallory@example.com"),
    ("X-Auth-Request-User", "mallory"),
    ("X-Auth-Request-Email", "mallory@example.com"),
    ("X-Auth-Request-Groups", "admins"),
];

/// The forged identity headers in what an app reports it received.
fn forged_in(seen: &Value) -> Vec<String> {
    FORGED_IDENTITIES
        .iter()
        .map(|(name, _)| name.to_ascii_lowercase())
        .filter(|name| seen.get(name).is_some())
        .collect()
}

#[tokio::test]
async fn forged_identity_headers_never_reach_apps_over_http_or_websocket() {
    const TEST: &str = "access::forged_identity_headers_never_reach_apps_over_http_or_websocket";
    if !common::have_uv() {
        common::skip_or_fail(TEST, "uv is not installed");
        return;
    }
    let p = Porch::start().await;
    let guid = deploy_access_app(&p, "identity-app").await;

    // A plain request, from a viewer and with the publisher's key: no identity passes.
    let mut req = p.http.get(p.url(&format!("/content/{guid}/headers"))).header("X-Kept", "1");
    for (k, v) in FORGED_IDENTITIES {
        req = req.header(*k, *v);
    }
    let r = req.send().await.expect("get");
    assert_eq!(r.status(), 200);
    let seen: Value = r.json().await.expect("json");
    assert_eq!(seen["x-kept"], "1", "the app reports the headers it got: {seen}");
    assert!(forged_in(&seen).is_empty(), "forged identities reached the app: {:?} in {seen}", forged_in(&seen));
    let mut req = p.api(Method::GET, &format!("/content/{guid}/headers"));
    for (k, v) in FORGED_IDENTITIES {
        req = req.header(*k, *v);
    }
    let seen: Value = req.send().await.expect("get").json().await.expect("json");
    assert!(forged_in(&seen).is_empty(), "with the key: {seen}");

    // A WebSocket upgrade: the app sends the headers of its upgrade request.
    let mut extra: Vec<(&str, &str)> = FORGED_IDENTITIES.to_vec();
    extra.push(("X-Kept", "1"));
    let mut ws = common::Ws::connect(&p.base, &format!("/content/{guid}/ws-headers"), &extra).expect("upgrade");
    let seen: Value = serde_json::from_str(&ws.recv().expect("headers message").text()).expect("json");
    assert_eq!(seen["x-kept"], "1", "the app reports the upgrade's headers: {seen}");
    assert_eq!(seen["upgrade"], "websocket", "{seen}");
    assert!(forged_in(&seen).is_empty(), "forged identities reached the app's WebSocket: {seen}");
    p.shutdown();
}

#[tokio::test]
async fn rendered_documents_follow_access_on_render_history_paths_and_hide_their_source() {
    const TEST: &str = "access::rendered_documents_follow_access_on_render_history_paths_and_hide_their_source";
    if !common::have_uv() {
        common::skip_or_fail(TEST, "uv is not installed");
        return;
    }
    let p = Porch::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    for f in ["report.ipynb", "requirements.txt"] {
        std::fs::copy(common::fixture("frameworks/notebook").join(f), dir.path().join(f)).expect("copy");
    }
    let out = p.cli(&["deploy", dir.path().to_str().expect("utf8"), "--name", "linked-report", "--access", "link"]);
    assert!(out.status.success(), "deploy: {}", String::from_utf8_lossy(&out.stderr));
    let list: Vec<Value> = serde_json::from_slice(&p.cli(&["list", "--json"]).stdout).expect("json");
    let item = list.iter().find(|c| c["name"] == "linked-report").expect("listed").clone();
    let (guid, bundle) =
        (item["guid"].as_str().expect("guid").to_string(), item["bundle_id"].as_str().expect("bundle").to_string());
    let r = p.api(Method::POST, &format!("/__api__/v1/content/{guid}/render")).send().await.expect("render");
    let task = json_of(r).await["task_id"].as_str().expect("task").to_string();
    assert_eq!(p.wait_task(&task).await["code"], 0, "the render failed");
    let renders =
        json_of(p.api(Method::GET, &format!("/__api__/v1/content/{guid}/renders")).send().await.expect("renders"))
            .await;
    let render = renders[0]["id"].as_str().expect("render id").to_string();
    let missing = missing_item_page(&p).await;

    let paths = [format!("/content/{guid}/"), format!("/content/{guid}/_render{render}/")];
    for path in &paths {
        let (s, body) = status_and_text(p.get(path).await).await;
        assert_eq!((s, body), (404, missing.clone()), "{path} without the link");
        assert_eq!(p.api(Method::GET, path).send().await.expect("get").status(), 200, "{path} with the key");
    }
    let v =
        json_of(p.api(Method::POST, &format!("/__api__/porch/content/{guid}/secret-link")).send().await.expect("post"))
            .await;
    let token = v["url"].as_str().expect("url").split("porch_token=").nth(1).expect("token").to_string();
    let r = p.get(&format!("/content/{guid}/_render{render}/?porch_token={token}")).await;
    assert_eq!(r.status(), 303);
    let cookie = cookies_of(&r)[0].split(';').next().expect("pair").to_string();
    for path in &paths {
        let r = p.http.get(p.url(path)).header("Cookie", cookie.clone()).send().await.expect("get");
        assert_eq!(r.status(), 200, "{path} with the link cookie");
    }
    // The notebook itself is the publisher's source: not for viewers, even with the link.
    let source = format!("/content/{guid}/_rev{bundle}/report.ipynb");
    assert_eq!(p.http.get(p.url(&source)).header("Cookie", cookie.clone()).send().await.expect("get").status(), 404);
    assert_eq!(p.api(Method::GET, &source).send().await.expect("get").status(), 200);
    p.shutdown();
}
