//! Parts of the Connect contract (research/connect-api.md) that the client tests exercise
//! only indirectly: `v1/users` prefix and pagination (pins walks pages until one is empty),
//! the legacy v0 `applications` listing pins uses, and the lockfile's refusals.

mod common;

use common::{targz, Porch};
use reqwest::Method;
use serde_json::{json, Value};

async fn get(p: &Porch, path: &str) -> (u16, Value) {
    let r = p.api(Method::GET, path).send().await.expect("GET");
    let status = r.status().as_u16();
    let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert!(ct.starts_with("application/json"), "GET {path}: content-type {ct:?}");
    (status, r.json().await.expect("json"))
}

#[tokio::test]
async fn users_filter_by_prefix_and_pages_end_empty() {
    let p = Porch::start().await;
    let (_, me) = get(&p, "/__api__/v1/user").await;
    let name = me["username"].as_str().expect("username").to_string();

    let (status, page) = get(&p, &format!("/__api__/v1/users?prefix={}&walk_pages=True", &name[..3])).await;
    assert_eq!(status, 200);
    assert_eq!(page["results"].as_array().map(Vec::len), Some(1), "{page}");
    assert_eq!(page["results"][0]["guid"], me["guid"]);
    assert_eq!((page["current_page"].clone(), page["total"].clone()), (json!(1), json!(1)), "{page}");
    // Case-insensitive, as Connect's username search.
    let (_, upper) = get(&p, &format!("/__api__/v1/users?prefix={}", name.to_uppercase())).await;
    assert_eq!(upper["results"].as_array().map(Vec::len), Some(1), "{upper}");
    // Past the last page: empty, so pins' page walk stops.
    let (_, next) = get(&p, &format!("/__api__/v1/users?prefix={name}&page_number=2&page_size=20")).await;
    assert_eq!(next["results"], json!([]), "{next}");
    assert_eq!(next["current_page"], 2);
    let (_, none) = get(&p, "/__api__/v1/users?prefix=zz-nobody").await;
    assert_eq!((none["results"].clone(), none["total"].clone()), (json!([]), json!(0)), "{none}");
    // One user by guid.
    let (status, one) = get(&p, &format!("/__api__/v1/users/{}", me["guid"].as_str().expect("guid"))).await;
    assert_eq!((status, one["username"].clone()), (200, me["username"].clone()), "{one}");
    let (status, e) = get(&p, "/__api__/v1/users/00000000-0000-0000-0000-000000000000").await;
    assert_eq!((status, e["code"].clone()), (404, json!(4)), "{e}");
    // Without a key: 401 with Connect's error JSON.
    let r = p.get("/__api__/v1/users").await;
    assert_eq!(r.status(), 401);
    p.shutdown();
}

/// Uploads and deploys a static bundle whose manifest says `content_category`.
async fn publish(p: &Porch, name: &str, title: &str, category: &str) -> String {
    let guid = p.create(name).await;
    let patch = p
        .api(Method::PATCH, &format!("/__api__/v1/content/{guid}"))
        .json(&json!({ "title": title }))
        .send()
        .await
        .expect("patch");
    assert_eq!(patch.status(), 200);
    let manifest = json!({"version": 1, "metadata": {"appmode": "static", "primary_html": "index.html", "content_category": category}});
    let bytes = targz(&[("manifest.json", manifest.to_string().as_bytes()), ("index.html", b"<h1>x</h1>")]);
    let b: Value = p.upload(&guid, bytes).await.json().await.expect("bundle");
    let done = p.deploy(&guid, b["id"].as_str().expect("bundle id")).await;
    assert_eq!((done["finished"].clone(), done["code"].clone()), (json!(true), json!(0)), "{done}");
    guid
}

#[tokio::test]
async fn legacy_applications_listing_filters_pins() {
    let p = Porch::start().await;
    let cars = publish(&p, "cars", "Car data", "pin").await;
    publish(&p, "boats", "Boat data", "pin").await;
    publish(&p, "report", "Car report", "").await;

    let names = |v: &Value| -> Vec<String> {
        let mut n: Vec<String> = v["applications"]
            .as_array()
            .expect("applications")
            .iter()
            .map(|a| a["name"].as_str().expect("name").to_string())
            .collect();
        n.sort();
        n
    };
    let (_, pins) = get(&p, "/__api__/applications?filter=content_type:pin&count=1000").await;
    assert_eq!(names(&pins), ["boats", "cars"], "{pins}");
    assert_eq!(
        (pins["count"].clone(), pins["total"].clone(), pins["continuation"].clone()),
        (json!(2), json!(2), json!(0))
    );
    let app =
        pins["applications"].as_array().expect("apps").iter().find(|a| a["name"] == "cars").expect("cars").clone();
    assert_eq!(app["guid"], cars.as_str());
    assert_eq!(app["content_category"], "pin");
    assert!(app["owner_username"].is_string() && app["bundle_id"].is_number(), "{app}");

    // `search` matches the name or the title, case-insensitively, within the filter.
    let (_, found) = get(&p, "/__api__/applications?filter=content_type:pin&count=1000&search=CAR").await;
    assert_eq!(names(&found), ["cars"], "{found}");
    let (_, all) = get(&p, "/__api__/applications?search=car").await;
    assert_eq!(names(&all), ["cars", "report"], "{all}");
    // `count` pages, `continuation` says where the next page starts.
    let (_, first) = get(&p, "/__api__/applications?filter=content_type:pin&count=1").await;
    assert_eq!(
        (first["count"].clone(), first["total"].clone(), first["continuation"].clone()),
        (json!(1), json!(2), json!(1)),
        "{first}"
    );
    let (_, second) = get(&p, "/__api__/applications?filter=content_type:pin&count=1&start=1").await;
    assert_eq!(second["continuation"], 0, "{second}");
    assert_ne!(names(&first), names(&second));
    // The v0 item by numeric id (rsconnect --app-id).
    let (_, item) = get(&p, &format!("/__api__/v1/content/{cars}")).await;
    let (status, v0) = get(&p, &format!("/__api__/applications/{}", item["id"].as_str().expect("id"))).await;
    assert_eq!((status, v0["guid"].clone()), (200, json!(cars)));
    let (status, missing) = get(&p, "/__api__/applications/987654").await;
    assert_eq!((status, missing["code"].clone()), (404, json!(4)), "{missing}");
    p.shutdown();
}

#[tokio::test]
async fn lockfile_needs_a_key_and_a_python_environment() {
    let p = Porch::start().await;
    let site = publish(&p, "plain-site", "Plain", "").await;
    let r = p.get(&format!("/__api__/v1/content/{site}/lockfile")).await;
    assert_eq!(r.status(), 401, "lockfile without a key");
    let (status, e) = get(&p, &format!("/__api__/v1/content/{site}/lockfile")).await;
    assert_eq!((status, e["code"].clone()), (404, json!(4)), "a static site has no lockfile: {e}");
    assert!(e["error"].as_str().expect("error").contains("no Python environment"), "{e}");
    let (status, e) = get(&p, "/__api__/v1/content/00000000-0000-0000-0000-000000000000/lockfile").await;
    assert_eq!((status, e["code"].clone()), (404, json!(4)), "{e}");
    p.shutdown();
}

#[tokio::test]
async fn the_api_answers_json_even_for_wrong_methods_and_bad_queries() {
    let p = Porch::start().await;
    let guid = p.create("json-errors").await;
    for (method, path, status, needle) in [
        (Method::PUT, "/__api__/v1/content".to_string(), 405, "PUT is not allowed on /__api__/v1/content"),
        (Method::POST, "/__api__/v1/tasks/abc".to_string(), 405, "POST is not allowed on /__api__/v1/tasks/abc"),
        (Method::GET, "/__api__/v1/tasks/abc?wait=soon".to_string(), 400, "wait"),
        (Method::GET, format!("/__api__/v1/content/{guid}?include=owner&include=tags"), 200, ""),
        (Method::GET, "/__api__/v1/nothing/here".to_string(), 404, "not found"),
    ] {
        let r = p.api(method.clone(), &path).send().await.expect("send");
        assert_eq!(r.status().as_u16(), status, "{method} {path}");
        let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        assert!(ct.starts_with("application/json"), "{method} {path}: content-type {ct:?}");
        if status == 405 {
            assert!(r.headers().get("allow").is_some(), "{method} {path}: no Allow header");
        }
        let v: Value = r.json().await.expect("json");
        if status == 200 {
            assert!(v["owner"]["username"].is_string() && v["tags"].is_array(), "repeated include: {v}");
        }
        if status >= 400 {
            assert!(v["code"].is_u64() && v["error"].is_string(), "{method} {path}: {v}");
            assert!(v["error"].as_str().expect("error").contains(needle), "{method} {path}: {v}");
        }
    }
    p.shutdown();
}

#[tokio::test]
async fn bad_multipart_uploads_are_refused_and_change_nothing() {
    let p = Porch::start().await;
    let guid = publish(&p, "multi", "Multi", "").await;
    let bundles = |p: &Porch| {
        let path = format!("/__api__/v1/content/{guid}/bundles");
        let p = p.api(Method::GET, &path);
        async move { p.send().await.expect("list").json::<Value>().await.expect("json").as_array().map(Vec::len) }
    };
    assert_eq!(bundles(&p).await, Some(1));
    let site = targz(&[("index.html", b"<h1>two</h1>")]);
    let no_archive = reqwest::multipart::Form::new().text("metadata", r#"{"source":"git"}"#);
    let bad_meta = reqwest::multipart::Form::new()
        .part("archive", reqwest::multipart::Part::bytes(site.clone()).file_name("bundle.tar.gz"))
        .text("metadata", "source=git");
    for (form, needle) in [(no_archive, "no \"archive\" part"), (bad_meta, "metadata part is not JSON")] {
        let r = p
            .api(Method::POST, &format!("/__api__/v1/content/{guid}/bundles"))
            .multipart(form)
            .send()
            .await
            .expect("upload");
        assert_eq!(r.status(), 400);
        let e: Value = r.json().await.expect("error JSON");
        assert!(e["error"].as_str().expect("error").contains(needle), "{e}");
    }
    assert_eq!(bundles(&p).await, Some(1), "a refused upload left a bundle behind");
    let page = p.get(&format!("/content/{guid}/")).await.text().await.expect("page");
    assert_eq!(page, "<h1>x</h1>", "the live page changed");
    p.shutdown();
}

#[tokio::test]
async fn environment_patch_merges_put_replaces_and_bad_bodies_change_nothing() {
    let p = Porch::start().await;
    let guid = p.create("env-semantics").await;
    let path = format!("/__api__/v1/content/{guid}/environment");
    let send = |method: Method, body: &'static str| {
        let req = p.api(method, &path).header("Content-Type", "application/json").body(body);
        async move {
            let r = req.send().await.expect("send");
            let status = r.status().as_u16();
            (status, r.json::<Value>().await.expect("json"))
        }
    };
    assert_eq!(send(Method::PUT, r#"[{"name":"A","value":"1"}]"#).await, (200, json!(["A"])));
    assert_eq!(send(Method::PATCH, r#"[{"name":"B","value":"2"}]"#).await, (200, json!(["A", "B"])));
    assert_eq!(send(Method::PUT, r#"[{"name":"C","value":"3"}]"#).await, (200, json!(["C"])), "PUT replaces");
    let (status, e) = send(Method::PATCH, r#"{"name":"D","value":"4"}"#).await;
    assert_eq!(status, 400, "an object instead of a list: {e}");
    assert!(e["code"].is_u64() && e["error"].is_string(), "{e}");
    let (_, names) = get(&p, &path).await;
    assert_eq!(names, json!(["C"]), "a refused change kept the variables");
    // A value no process environment can hold (NUL) is refused, not saved to stop the app.
    for method in [Method::PATCH, Method::PUT] {
        let (status, e) = send(method, r#"[{"name":"D","value":"bad\u0000value"}]"#).await;
        assert_eq!(status, 400, "{e}");
        assert!(e["error"].as_str().is_some_and(|m| m.contains("NUL") && m.contains('D')), "{e}");
    }
    let (_, names) = get(&p, &path).await;
    assert_eq!(names, json!(["C"]), "a refused change kept the variables");
    assert_eq!(send(Method::PATCH, r#"[{"name":"C","value":null}]"#).await, (200, json!([])), "null removes");
    // A list where the item's fields belong is named so, not by Porch's internal type.
    let r = p.api(Method::PATCH, &format!("/__api__/v1/content/{guid}")).header("Content-Type", "application/json");
    let r = r.body("[]").send().await.expect("patch");
    assert_eq!(r.status(), 400);
    let e: Value = r.json().await.expect("json");
    let message = e["error"].as_str().unwrap_or_default();
    assert!(message.contains("a list where a JSON object was expected") && !message.contains("struct"), "{e}");
    // A deploy's body too: a list names no bundle, and deploys nothing.
    let r =
        p.api(Method::POST, &format!("/__api__/v1/content/{guid}/deploy")).header("Content-Type", "application/json");
    let r = r.body("[]").send().await.expect("deploy");
    assert_eq!(r.status(), 400);
    p.shutdown();
}
