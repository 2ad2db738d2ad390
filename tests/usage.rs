//! Usage recording end to end: real viewers (two devices with cookies, one without),
//! through the real gateway, recorded off the request path and read back through Connect's
//! instrumentation API (raw and with the real posit-sdk `metrics` module) and Porch's Usage
//! report. Health probes, API-key calls, Porch's own captures, drafts and assets are served
//! but never counted; the `usage` setting switches recording off and on.

mod common;

use common::{eventually, py, Porch};
use reqwest::header::{COOKIE, SET_COOKIE, USER_AGENT};
use reqwest::Method;
use serde_json::{json, Value};

/// A viewer's device: its user agent and, once given one, its `porch_device` cookie.
struct Device {
    agent: &'static str,
    cookie: Option<String>,
    /// Whether it keeps cookies at all.
    keeps: bool,
}

impl Device {
    fn new(agent: &'static str, keeps: bool) -> Device {
        Device { agent, cookie: None, keeps }
    }

    /// GETs a path as this device; returns the status and the `porch_device` Set-Cookie.
    async fn get(&mut self, p: &Porch, path: &str) -> (u16, Option<String>) {
        let mut req = p.http.get(p.url(path)).header(USER_AGENT, self.agent);
        if let Some(c) = &self.cookie {
            req = req.header(COOKIE, format!("other=1; porch_device={c}"));
        }
        let r = req.send().await.expect("get");
        let set = r
            .headers()
            .get_all(SET_COOKIE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .find(|v| v.starts_with("porch_device="))
            .map(str::to_string);
        if let (true, Some(s)) = (self.keeps, &set) {
            let value = s.trim_start_matches("porch_device=").split(';').next().unwrap_or("");
            self.cookie = Some(value.to_string());
        }
        (r.status().as_u16(), set)
    }
}

async fn json_get(p: &Porch, path: &str) -> Value {
    let r = p.api(Method::GET, path).send().await.expect("get");
    assert_eq!(r.status(), 200, "{path}: {}", r.text().await.unwrap_or_default());
    r.json().await.expect("json")
}

async fn visits(p: &Porch, query: &str) -> Vec<Value> {
    let v = json_get(p, &format!("/__api__/v1/instrumentation/content/visits?limit=500&{query}")).await;
    v["results"].as_array().expect("results").clone()
}

#[tokio::test(flavor = "multi_thread")]
async fn page_views_of_two_devices_are_counted_and_nothing_else() {
    let p = Porch::start().await;
    let guid = p.deploy_fixture("site", "usage-site");
    let other = p.deploy_fixture("rsconnect-site", "usage-other");
    let bundle: Value = json_get(&p, &format!("/__api__/v1/content/{guid}")).await;
    let bundle_id = bundle["bundle_id"].as_str().expect("bundle id").to_string();
    let index = format!("/content/{guid}/");

    // Device A keeps cookies: the first HTML page sets one (HttpOnly, Lax, a year).
    let mut a = Device::new("DeviceA/1.0", true);
    let (status, set) = a.get(&p, &index).await;
    assert_eq!(status, 200);
    let set = set.expect("an HTML page gives a new device its cookie");
    for attr in ["HttpOnly", "SameSite=Lax", "Max-Age=31536000", "Path=/"] {
        assert!(set.contains(attr), "{attr} missing: {set}");
    }
    assert_eq!(a.get(&p, &format!("/content/{guid}/sub/")).await, (200, None), "a known device gets no new cookie");
    // Assets are served but are not page views, and set no cookie.
    let mut fresh = Device::new("DeviceA/1.0", false);
    let (status, set) = fresh.get(&p, &format!("/content/{guid}/assets/style.css")).await;
    assert_eq!((status, set), (200, None), "no cookie on an asset");
    a.get(&p, &format!("/content/{guid}/assets/pixel.png")).await;

    // Device B, another browser.
    let mut b = Device::new("DeviceB/2.0", true);
    b.get(&p, &index).await;
    b.get(&p, &index).await;
    b.get(&p, &format!("/content/{other}/")).await;
    assert_ne!(a.cookie, b.cookie);

    // Device C keeps no cookies: its two page loads are one device (a salted daily hash).
    let mut c = Device::new("CookielessC/3.0", false);
    c.get(&p, &index).await;
    c.get(&p, &index).await;

    // Served, never counted: health probes, HEAD, API-key calls, Porch's captures, a
    // draft preview, API calls, the landing page.
    let mut probe = Device::new("kube-probe/1.29", false);
    assert_eq!(probe.get(&p, &index).await.0, 200);
    assert_eq!(p.http.head(p.url(&index)).header(USER_AGENT, "DeviceA/1.0").send().await.expect("head").status(), 200);
    let keyed = p.api(Method::GET, &index).header(USER_AGENT, "DeviceA/1.0").send().await.expect("keyed");
    assert_eq!(keyed.status(), 200);
    assert!(keyed.headers().get(SET_COOKIE).is_none(), "a keyed call gets no device cookie");
    let capture = p.http.get(p.url(&index)).header("x-porch-capture", "1").send().await.expect("capture");
    assert_eq!(capture.status(), 200);
    assert!(capture.headers().get(SET_COOKIE).is_none(), "a capture gets no device cookie");
    assert_eq!(a.get(&p, &format!("/content/{guid}/_bundle{bundle_id}/")).await.0, 200);
    assert_eq!(a.get(&p, "/").await.0, 200);
    assert_eq!(p.get("/__ping__").await.status(), 200);

    // A: 2, B: 2 (+1 of the other item), C: 2.
    let seen = eventually(30, "six page views recorded", || async {
        let v = visits(&p, &format!("content_guid={guid}")).await;
        (v.len() >= 6).then_some(v)
    })
    .await;
    assert_eq!(seen.len(), 6, "{seen:#?}");
    for v in &seen {
        assert_eq!(v["content_guid"], guid.as_str());
        assert_eq!(v["user_guid"], Value::Null);
        assert_eq!(v["data_version"], 1);
        assert_eq!(v["bundle_id"].to_string(), bundle_id, "{v}");
        assert!(v["time"].as_str().is_some_and(|t| t.ends_with('Z')), "{v}");
    }
    let paths: Vec<&str> = seen.iter().filter_map(|v| v["path"].as_str()).collect();
    assert_eq!(paths.iter().filter(|p| **p == "/sub/").count(), 1, "{paths:?}");
    assert_eq!(paths.iter().filter(|p| **p == "/").count(), 5, "{paths:?}");
    assert_eq!(visits(&p, &format!("content_guid={other}")).await.len(), 1);
    assert_eq!(visits(&p, &format!("content_guid={guid}|{other}")).await.len(), 7);

    // Filters: time window, data version.
    assert_eq!(visits(&p, "from=2999-01-01T00:00:00Z").await.len(), 0);
    assert_eq!(visits(&p, "to=2000-01-01T00:00:00Z").await.len(), 0);
    assert_eq!(visits(&p, "from=2000-01-01T00:00:00Z&min_data_version=1").await.len(), 7);
    assert_eq!(visits(&p, "min_data_version=2").await.len(), 0);
    assert!(json_get(&p, "/__api__/v1/instrumentation/shiny/usage").await["results"].as_array().expect("r").is_empty());

    // Keyset paging: three pages of two (and one of one), forwards then back.
    let mut ids = Vec::new();
    let mut next = Some(format!("/__api__/v1/instrumentation/content/visits?content_guid={guid}&limit=2"));
    let mut pages = 0;
    let mut last_page = Value::Null;
    while let Some(path) = next.take() {
        let page = json_get(&p, &path).await;
        pages += 1;
        for r in page["results"].as_array().expect("results") {
            ids.push(r["time"].as_str().expect("time").to_string());
        }
        next = page["paging"]["next"].as_str().map(|u| u.trim_start_matches(&p.base).to_string());
        if next.is_some() {
            assert!(page["paging"]["cursors"]["next"].is_string(), "{page}");
        }
        last_page = page;
        assert!(pages <= 3, "too many pages");
    }
    assert_eq!((pages, ids.len()), (3, 6));
    let back =
        last_page["paging"]["previous"].as_str().expect("a previous page").trim_start_matches(&p.base).to_string();
    assert_eq!(json_get(&p, &back).await["results"].as_array().expect("results").len(), 2);

    // Bad filters: clear errors naming the parameter.
    for (q, says) in [
        ("from=yesterday", "from"),
        ("to=2025-13-45", "to"),
        ("limit=0", "limit"),
        ("limit=501", "limit"),
        ("next=abc", "next"),
        ("min_data_version=x", "min_data_version"),
    ] {
        let r =
            p.api(Method::GET, &format!("/__api__/v1/instrumentation/content/visits?{q}")).send().await.expect("get");
        assert_eq!(r.status(), 400, "{q}");
        let body: Value = r.json().await.expect("json");
        assert!(body["error"].as_str().unwrap_or("").starts_with(says), "{q}: {body}");
    }
    let r = reqwest::Client::new().get(p.url("/__api__/v1/instrumentation/content/hits")).send().await.expect("get");
    assert_eq!(r.status(), 401, "instrumentation needs a key");

    // The Usage tab's report and the library's latest.
    let report = json_get(&p, &format!("/__api__/porch/content/{guid}/usage")).await;
    assert_eq!(report["views"], 6, "{report}");
    assert_eq!(report["sessions"], 0);
    assert_eq!(report["unique_devices"], 3, "A, B and the cookie-less C: {report}");
    assert_eq!(report["median_session_secs"], Value::Null);
    assert!(report["last_viewed"].is_string());
    assert_eq!(report["recording"], true);
    let days = report["days"].as_array().expect("days");
    assert_eq!(days.len(), 30);
    assert_eq!(days[29]["views"], 6, "today is last: {report}");
    assert_eq!(
        json_get(&p, &format!("/__api__/porch/content/{guid}/usage?days=7")).await["days"].as_array().map(Vec::len),
        Some(7)
    );
    for bad in ["0", "x", "3651"] {
        let r =
            p.api(Method::GET, &format!("/__api__/porch/content/{guid}/usage?days={bad}")).send().await.expect("get");
        assert_eq!(r.status(), 400, "days={bad}");
    }
    let latest: Vec<Value> = serde_json::from_value(json_get(&p, "/__api__/porch/usage").await).expect("list");
    let mine = latest.iter().find(|l| l["guid"] == guid.as_str()).expect("listed");
    assert_eq!(mine["views_30d"], 6);

    // posit-sdk's metrics module reads the same.
    if let Some(python) = py::python_with("page_views_of_two_devices_are_counted_and_nothing_else", "posit.connect") {
        let guids = format!("{guid},{other}");
        let out = py::run_json(
            &python,
            &py::script("posit_sdk_metrics.py"),
            &p.base,
            &p.key,
            &[("CONTENT_GUIDS", &guids)],
            120,
        );
        eprintln!("posit-sdk returned: {out:#}");
        assert_eq!(out[&guid]["hits"].as_array().map(Vec::len), Some(6), "{out}");
        let usage = out[&guid]["usage"].as_array().expect("usage");
        assert_eq!(usage.len(), 6, "{out}");
        assert!(usage.iter().all(|u| u["started"] == u["ended"] && u["data_version"] == 1 && u["user_guid"].is_null()));
        assert_eq!(out[&other]["hits"].as_array().map(Vec::len), Some(1));
        assert_eq!(out["both_hits"], 7);
        assert_eq!(out["future"], 0);
    }

    // Recording off: pages are served, no cookie, nothing counted; bad values refused.
    for (bad, says) in
        [(json!({"usage": "maybe"}), "usage"), (json!({"usage_retention_days": 0}), "usage_retention_days")]
    {
        let r = p.api(Method::PATCH, "/__api__/porch/server").json(&bad).send().await.expect("patch");
        assert_eq!(r.status(), 400, "{bad}");
        let body: Value = r.json().await.expect("json");
        assert!(body["error"].as_str().unwrap_or("").starts_with(says), "{body}");
    }
    let r = p
        .api(Method::PATCH, "/__api__/porch/server")
        .json(&json!({"usage": false, "usage_retention_days": 30}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 200);
    let view: Value = r.json().await.expect("json");
    let entries = view["settings"]["entries"].as_array().cloned().unwrap_or_default();
    let value_of = |name: &str| entries.iter().find(|e| e["name"] == name).map(|e| e["value"].clone());
    assert_eq!((value_of("usage"), value_of("usage_retention_days")), (Some(json!(false)), Some(json!(30))));
    let mut d = Device::new("DeviceD/4.0", true);
    assert_eq!(d.get(&p, &index).await, (200, None), "no cookie while usage is off");
    let r = p.api(Method::PATCH, "/__api__/porch/server").json(&json!({"usage": null})).send().await.expect("patch");
    assert_eq!(r.status(), 200);
    // Back on: one more view by A, then exactly seven (D's view while off never counted).
    a.get(&p, &index).await;
    let seen = eventually(30, "the seventh view", || async {
        let v = visits(&p, &format!("content_guid={guid}")).await;
        (v.len() >= 7).then_some(v)
    })
    .await;
    assert_eq!(seen.len(), 7);
    p.shutdown();
}

/// App sessions: a WebSocket session, and requests without one grouped by gaps under five
/// minutes; probes and keyed calls never count. Needs uv for the FastAPI app.
#[tokio::test(flavor = "multi_thread")]
async fn app_sessions_are_websockets_or_request_spans_and_survive_a_restart() {
    if !common::have_uv() {
        common::skip_or_fail(
            "app_sessions_are_websockets_or_request_spans_and_survive_a_restart",
            "uv is not installed",
        );
        return;
    }
    let p = Porch::start().await;
    let app = p.deploy_fixture("apps/fastapi-app", "usage-app");
    let root = format!("/content/{app}/");
    // Device A: three plain requests (a JSON API: no HTML page, so no cookie; A is its
    // salted address-and-agent hash) — one session.
    let mut a = Device::new("ApiClientA/1.0", true);
    assert_eq!(a.get(&p, &root).await.0, 200);
    assert_eq!(a.get(&p, &format!("/content/{app}/sleep?ms=10")).await.0, 200);
    assert_eq!(a.get(&p, &root).await.0, 200);
    assert_eq!(a.cookie, None, "a JSON answer sets no device cookie");
    // Device B: a request, then a WebSocket session — one session (the WebSocket).
    let mut b = Device::new("BrowserB/2.0", false);
    assert_eq!(b.get(&p, &root).await.0, 200);
    {
        let mut ws = common::Ws::connect(&p.base, &format!("/content/{app}/ws"), &[("User-Agent", "BrowserB/2.0")])
            .expect("websocket");
        ws.send_text("hello");
        assert_eq!(ws.recv().expect("echo").text(), "echo:hello");
    }
    // Never counted.
    let mut probe = Device::new("kube-probe/1.29", false);
    assert_eq!(probe.get(&p, &root).await.0, 200);
    assert_eq!(p.api(Method::GET, &root).send().await.expect("keyed").status(), 200);
    let ws =
        common::Ws::connect(&p.base, &format!("/content/{app}/ws"), &[("Authorization", &format!("Key {}", p.key))]);
    drop(ws.expect("a keyed websocket is served"));

    let ws_session = eventually(30, "the WebSocket session recorded", || async {
        let v = json_get(&p, "/__api__/v1/instrumentation/shiny/usage").await;
        let r = v["results"].as_array().expect("results").clone();
        (!r.is_empty()).then_some(r)
    })
    .await;
    assert_eq!(ws_session.len(), 1, "only B's WebSocket so far (A's span is open): {ws_session:?}");

    // A clean restart ends the open request spans: A's becomes a session.
    let p = p.restart(common::Opts::default()).await;
    let sessions = json_get(&p, &format!("/__api__/v1/instrumentation/shiny/usage?content_guid={app}")).await;
    let sessions = sessions["results"].as_array().expect("results");
    assert_eq!(sessions.len(), 2, "B's WebSocket and A's requests: {sessions:#?}");
    for s in sessions {
        assert_eq!(s["content_guid"], app.as_str());
        assert!(s["started"].as_str().is_some() && s["ended"].as_str().is_some(), "{s}");
        assert!(s["started"].as_str() <= s["ended"].as_str(), "{s}");
    }
    let hits: Vec<Value> = serde_json::from_value(
        json_get(&p, &format!("/__api__/v1/instrumentation/content/hits?content_guid={app}")).await,
    )
    .expect("array");
    assert_eq!(hits.len(), 2, "{hits:#?}");
    assert!(visits(&p, &format!("content_guid={app}")).await.is_empty(), "apps have sessions, not page views");
    let report = json_get(&p, &format!("/__api__/porch/content/{app}/usage")).await;
    assert_eq!((report["sessions"].clone(), report["unique_devices"].clone()), (json!(2), json!(2)), "{report}");
    assert!(report["median_session_secs"].as_f64().is_some(), "{report}");
    p.shutdown();
}

/// A browser that loads a page it has seen asks again with `If-None-Match` (static pages
/// are `Cache-Control: no-cache`) and gets a 304: that is a page load and counts; a 304 of
/// an asset does not.
#[tokio::test(flavor = "multi_thread")]
async fn a_revalidated_page_load_is_a_page_view() {
    let p = Porch::start().await;
    let guid = p.deploy_fixture("site", "usage-revalidated");
    let index = format!("/content/{guid}/");
    let mut a = Device::new("DeviceA/1.0", true);
    assert_eq!(a.get(&p, &index).await.0, 200);
    let cookie = format!("porch_device={}", a.cookie.clone().expect("a device cookie"));
    let conditional = |path: String| {
        let (http, url, cookie) = (p.http.clone(), p.url(&path), cookie.clone());
        async move {
            let first = http.get(&url).header(USER_AGENT, "DeviceA/1.0").header(COOKIE, &cookie).send().await;
            let etag = first.expect("get").headers().get("etag").expect("an etag").clone();
            let again = http
                .get(&url)
                .header(USER_AGENT, "DeviceA/1.0")
                .header(COOKIE, &cookie)
                .header("if-none-match", etag)
                .send()
                .await
                .expect("conditional get");
            again.status().as_u16()
        }
    };
    // The page: one 200 and one 304 here, two more views (three with the first).
    assert_eq!(conditional(index.clone()).await, 304);
    // An asset: a 200 and a 304, neither a view.
    assert_eq!(conditional(format!("/content/{guid}/assets/style.css")).await, 304);
    let seen = eventually(30, "three page views recorded", || async {
        let v = visits(&p, &format!("content_guid={guid}")).await;
        (v.len() >= 3).then_some(v)
    })
    .await;
    assert_eq!(seen.len(), 3, "{seen:#?}");
    assert!(seen.iter().all(|v| v["path"] == "/"), "{seen:#?}");
    let report = json_get(&p, &format!("/__api__/porch/content/{guid}/usage")).await;
    assert_eq!((report["views"].clone(), report["unique_devices"].clone()), (json!(3), json!(1)), "{report}");
    p.shutdown();
}

/// A cookie-less client is known by its address and agent for the day, so a browser on the
/// same computer with the same agent is counted as that device at its first, cookie-less
/// load; the cookie that answer set then stays that device, not a second one.
#[tokio::test(flavor = "multi_thread")]
async fn a_first_cookie_less_load_and_the_cookie_it_set_are_one_device() {
    let p = Porch::start().await;
    let other = p.deploy_fixture("site", "usage-first-other");
    let guid = p.deploy_fixture("site", "usage-first-load");
    let mut script = Device::new("SameAgent/1.0", false);
    assert_eq!(script.get(&p, &format!("/content/{other}/")).await.0, 200);
    let mut browser = Device::new("SameAgent/1.0", true);
    for _ in 0..3 {
        assert_eq!(browser.get(&p, &format!("/content/{guid}/")).await.0, 200);
    }
    assert!(browser.cookie.is_some(), "the first answer set a device cookie");
    let report = eventually(30, "three page views recorded", || async {
        let r = json_get(&p, &format!("/__api__/porch/content/{guid}/usage")).await;
        (r["views"] == json!(3)).then_some(r)
    })
    .await;
    assert_eq!(report["unique_devices"], json!(1), "one browser is one device: {report}");
    p.shutdown();
}

/// A client hammering one page (a reload loop, a load generator, a kiosk) is recorded as
/// identical views folded into one stored row per write batch, and every answer still counts
/// each view: the report, Connect's visits (one record per view) and hits (one id per view).
#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_identical_views_is_stored_folded_and_counted_in_full() {
    const LOADS: usize = 200;
    let p = Porch::start().await;
    let guid = p.deploy_fixture("site", "usage-burst");
    let url = p.url(&format!("/content/{guid}/"));
    // Cookie-less, like a load generator: one device by address and user agent.
    let mut pending = Vec::new();
    for _ in 0..LOADS {
        let (http, url) = (p.http.clone(), url.clone());
        pending.push(tokio::spawn(async move {
            http.get(&url).header(USER_AGENT, "Burst/1.0").send().await.expect("get").status().as_u16()
        }));
    }
    for t in pending {
        assert_eq!(t.await.expect("join"), 200);
    }
    let report = eventually(30, "every view of the burst recorded", || async {
        let r = json_get(&p, &format!("/__api__/porch/content/{guid}/usage")).await;
        (r["views"] == json!(LOADS)).then_some(r)
    })
    .await;
    assert_eq!(report["unique_devices"], json!(1), "{report}");
    let seen = visits(&p, &format!("content_guid={guid}")).await;
    assert_eq!(seen.len(), LOADS, "one visit record per page load");
    assert!(seen.iter().all(|v| v["path"] == "/" && v["time"].is_string()), "{:#?}", &seen[..3]);
    let hits = json_get(&p, &format!("/__api__/v1/instrumentation/content/hits?content_guid={guid}")).await;
    let ids: Vec<&str> = hits.as_array().expect("hits").iter().map(|h| h["id"].as_str().expect("id")).collect();
    assert_eq!(ids.len(), LOADS, "one hit per page load");
    let unique: std::collections::BTreeSet<&str> = ids.iter().copied().collect();
    assert_eq!(unique.len(), LOADS, "hit ids are unique");
    // Folded: far fewer stored rows than views (each row's first hit has the bare row id).
    let rows = ids.iter().filter(|id| !id.contains('.')).count();
    assert!(rows < LOADS / 2, "{rows} stored rows for {LOADS} identical views: not folded");
    p.shutdown();
}
