//! The Connect-style API over a real socket: auth, content, bundles, deploys and tasks.

mod common;

use common::{targz, Porch};
use reqwest::Method;
use serde_json::{json, Value};

fn site(body: &str) -> Vec<u8> {
    targz(&[("index.html", body.as_bytes())])
}

async fn json_of(r: reqwest::Response) -> Value {
    let ct = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    assert!(ct.starts_with("application/json"), "content-type was {ct:?}");
    r.json().await.expect("json body")
}

#[tokio::test]
async fn server_settings_and_user_auth() {
    let p = Porch::start().await;
    let v = json_of(p.get("/__api__/server_settings").await).await;
    assert_eq!(v["version"], "2025.12.0");

    let r = p.get("/__api__/v1/user").await;
    assert_eq!(r.status(), 401);
    let e = json_of(r).await;
    assert_eq!(e["code"], 30);
    assert!(e["error"].as_str().expect("error").contains("API key"));
    assert!(e.get("payload").is_some());

    let r = p.http.get(p.url("/__api__/v1/user")).header("Authorization", "Key wrong-key").send().await.expect("get");
    assert_eq!(r.status(), 401);
    assert_eq!(json_of(r).await["code"], 30);

    let me = json_of(p.api(Method::GET, "/__api__/v1/user").send().await.expect("get")).await;
    assert!(me["guid"].as_str().expect("guid").contains('-'));
    assert!(me["username"].is_string());
    assert_ne!(me["user_role"], "viewer");
    // The user was made once: its times do not move with the clock (RFC 3339, whole seconds).
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let again = json_of(p.api(Method::GET, "/__api__/v1/user").send().await.expect("get")).await;
    assert!(me["created_time"].as_str().is_some_and(|t| t.ends_with('Z')), "{me}");
    assert_eq!(again["created_time"], me["created_time"]);
    p.shutdown();
}

#[tokio::test]
async fn management_needs_a_key_everywhere() {
    let p = Porch::start().await;
    let guid = p.create("needs-key").await;
    for (m, path) in [
        (Method::GET, "/__api__/v1/content".to_string()),
        (Method::POST, "/__api__/v1/content".to_string()),
        (Method::GET, format!("/__api__/v1/content/{guid}")),
        (Method::PATCH, format!("/__api__/v1/content/{guid}")),
        (Method::DELETE, format!("/__api__/v1/content/{guid}")),
        (Method::POST, format!("/__api__/v1/content/{guid}/bundles")),
        (Method::POST, format!("/__api__/v1/content/{guid}/deploy")),
        (Method::GET, "/__api__/v1/tasks/abc".to_string()),
    ] {
        let r = p.http.request(m.clone(), p.url(&path)).body("{}").send().await.expect("send");
        assert_eq!(r.status(), 401, "{m} {path}");
        assert_eq!(json_of(r).await["code"], 30);
    }
    // Nothing was deleted by the refused calls.
    assert_eq!(p.api(Method::GET, &format!("/__api__/v1/content/{guid}")).send().await.expect("get").status(), 200);
}

#[tokio::test]
async fn content_crud_and_filters() {
    let p = Porch::start().await;
    // quarto sends JSON as text/plain.
    let r = p
        .api(Method::POST, "/__api__/v1/content")
        .header("content-type", "text/plain;charset=UTF-8")
        .body(r#"{"name":"report-1a2b","title":"Report"}"#)
        .send()
        .await
        .expect("create");
    assert_eq!(r.status(), 200);
    let c = json_of(r).await;
    let guid = c["guid"].as_str().expect("guid").to_string();
    assert_eq!(guid.len(), 36);
    assert!(c["id"].as_str().expect("id").parse::<u64>().is_ok());
    assert_eq!(c["app_mode"], "unknown");
    assert_eq!(c["bundle_id"], Value::Null);
    assert!(c.get("code").is_none(), "success bodies carry no code");
    let url = c["content_url"].as_str().expect("url");
    assert_eq!(url, format!("{}/content/{guid}/", p.base));
    assert!(c["dashboard_url"].as_str().expect("dash").starts_with(&p.base));

    // Duplicate name → 409 code 26.
    let r = p.api(Method::POST, "/__api__/v1/content").json(&json!({"name":"report-1a2b"})).send().await.expect("dup");
    assert_eq!(r.status(), 409);
    assert_eq!(json_of(r).await["code"], 26);

    // Invalid names are refused with a reason.
    for bad in ["ab", "has space", "x/y/z"] {
        let r = p.api(Method::POST, "/__api__/v1/content").json(&json!({"name": bad})).send().await.expect("bad");
        assert_eq!(r.status(), 400, "{bad}");
        assert!(json_of(r).await["error"].as_str().expect("msg").contains("name"));
    }

    // pins creates with an empty title and acl access.
    let r = p
        .api(Method::POST, "/__api__/v1/content")
        .json(&json!({"name":"mtcars","access_type":"acl","title":"","description":""}))
        .send()
        .await
        .expect("pins create");
    assert_eq!(r.status(), 200);
    let pin = json_of(r).await;
    assert_eq!(pin["access_type"], "acl");

    // name filter (rsconnect's unique-name loop depends on it) and owner_guid filter.
    let list = json_of(p.api(Method::GET, "/__api__/v1/content?name=mtcars").send().await.expect("list")).await;
    assert_eq!(list.as_array().expect("array").len(), 1);
    let list = json_of(p.api(Method::GET, "/__api__/v1/content?name=nothing-here").send().await.expect("list")).await;
    assert_eq!(list, json!([]));
    let owner = pin["owner_guid"].as_str().expect("owner").to_string();
    let list = json_of(
        p.api(Method::GET, &format!("/__api__/v1/content?owner_guid={owner}&name=mtcars")).send().await.expect("list"),
    )
    .await;
    assert_eq!(list.as_array().expect("array").len(), 1);
    let list = json_of(
        p.api(Method::GET, "/__api__/v1/content?owner_guid=00000000-0000-0000-0000-000000000000")
            .send()
            .await
            .expect("list"),
    )
    .await;
    assert_eq!(list, json!([]));
    let all = json_of(p.api(Method::GET, "/__api__/v1/content").send().await.expect("list")).await;
    assert_eq!(all.as_array().expect("array").len(), 2);

    // get by guid and by numeric id, with includes.
    let got = json_of(
        p.api(Method::GET, &format!("/__api__/v1/content/{guid}?include=owner,tags,vanity_url"))
            .send()
            .await
            .expect("get"),
    )
    .await;
    assert_eq!(got["name"], "report-1a2b");
    assert!(got["owner"]["username"].is_string());
    let id = got["id"].as_str().expect("id");
    let by_id = json_of(p.api(Method::GET, &format!("/__api__/v1/content/{id}")).send().await.expect("get")).await;
    assert_eq!(by_id["guid"], guid.as_str());

    // patch
    let patched = json_of(
        p.api(Method::PATCH, &format!("/__api__/v1/content/{guid}"))
            .json(&json!({"title":"New title","description":"d"}))
            .send()
            .await
            .expect("patch"),
    )
    .await;
    assert_eq!(patched["title"], "New title");
    assert_eq!(patched["description"], "d");
    let r = p
        .api(Method::PATCH, &format!("/__api__/v1/content/{guid}"))
        .json(&json!({"name":"mtcars"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 409);
    let r = p
        .api(Method::PATCH, &format!("/__api__/v1/content/{guid}"))
        .json(&json!({"access_type":"everyone"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 400);
    // A title past 1024 characters or with a control character is refused; nothing changes.
    for (body, says) in [
        (json!({"title": "t".repeat(1025)}), "1024"),
        (json!({"title": "a\u{1}b", "description": "kept?"}), "control character"),
        (json!({"description": "ring \u{7}"}), "description"),
    ] {
        let r = p.api(Method::PATCH, &format!("/__api__/v1/content/{guid}")).json(&body).send().await.expect("patch");
        assert_eq!(r.status(), 400);
        let e = json_of(r).await;
        assert!(e["error"].as_str().unwrap_or_default().contains(says), "{e}");
    }
    let now = json_of(p.api(Method::GET, &format!("/__api__/v1/content/{guid}")).send().await.expect("get")).await;
    assert_eq!((now["title"].clone(), now["description"].clone()), (json!("New title"), json!("d")));

    // unknown guid → 404 code 4
    let r = p.api(Method::GET, "/__api__/v1/content/6f1c3f1e-0000-4000-8000-000000000000").send().await.expect("get");
    assert_eq!(r.status(), 404);
    assert_eq!(json_of(r).await["code"], 4);

    // delete → 204 with an empty body, then 404
    let r = p.api(Method::DELETE, &format!("/__api__/v1/content/{guid}")).send().await.expect("delete");
    assert_eq!(r.status(), 204);
    assert!(r.bytes().await.expect("body").is_empty());
    assert_eq!(p.api(Method::GET, &format!("/__api__/v1/content/{guid}")).send().await.expect("get").status(), 404);
    p.shutdown();
}

#[tokio::test]
async fn api_paths_tolerate_slashes_and_unknown_paths_are_json() {
    let p = Porch::start().await;
    let r = p.api(Method::GET, "/__api__/v1/content/").send().await.expect("get");
    assert_eq!(r.status(), 200);
    let r = p.api(Method::GET, "//__api__//v1/user").send().await.expect("get");
    assert_eq!(r.status(), 200);
    let r = p.api(Method::GET, "/__api__/v1/nothing").send().await.expect("get");
    assert_eq!(r.status(), 404);
    let e = json_of(r).await;
    assert_eq!(e["code"], 4);

    // A server URL given with a trailing slash (pins joins it with `/content/…`): a viewer
    // path that starts with doubled slashes is the same path.
    let guid = p.deploy_fixture("site", "slashes");
    let single = p.get(&format!("/content/{guid}/")).await.text().await.expect("page");
    let r = p.get(&format!("//content/{guid}/")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.expect("page"), single);
    let bundle = json_of(p.api(Method::GET, &format!("/__api__/v1/content/{guid}")).send().await.expect("get")).await
        ["bundle_id"]
        .as_str()
        .expect("bundle id")
        .to_string();
    let r = p.get(&format!("//content/{guid}/_rev{bundle}/index.html")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.text().await.expect("page"), single);
}

#[tokio::test]
async fn bundles_upload_list_download_delete() {
    let p = Porch::start().await;
    let guid = p.create("bundles-test").await;
    let first = site("<p>one</p>");

    // Chunked upload with no Content-Type, as rsconnect sends it.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> = first.chunks(7).map(|c| Ok(c.to_vec())).collect();
    let body = reqwest::Body::wrap_stream(futures_util::stream::iter(chunks));
    let r =
        p.api(Method::POST, &format!("/__api__/v1/content/{guid}/bundles")).body(body).send().await.expect("upload");
    assert_eq!(r.status(), 200);
    let b1 = json_of(r).await;
    assert_eq!(b1["content_guid"], guid.as_str());
    assert_eq!(b1["active"], false);
    let b1_id = b1["id"].as_str().expect("id").to_string();
    assert!(b1_id.parse::<u64>().is_ok());
    assert_eq!(b1["size"], first.len());

    // Multipart with an archive part and git metadata (rsconnect ≥ 2025.11 in a git checkout).
    let second = site("<p>two</p>");
    let form = reqwest::multipart::Form::new()
        .part("archive", reqwest::multipart::Part::bytes(second.clone()).file_name("bundle.tar.gz"))
        .text("metadata", r#"{"source":"git","source_repo":"r","source_branch":"main","source_commit":"abc"}"#);
    let r = p
        .api(Method::POST, &format!("/__api__/v1/content/{guid}/bundles"))
        .multipart(form)
        .send()
        .await
        .expect("upload");
    assert_eq!(r.status(), 200);
    let b2 = json_of(r).await;
    let b2_id = b2["id"].as_str().expect("id").to_string();
    assert_eq!(b2["metadata"]["source_commit"], "abc");

    let list =
        json_of(p.api(Method::GET, &format!("/__api__/v1/content/{guid}/bundles")).send().await.expect("list")).await;
    let ids: Vec<&str> = list.as_array().expect("array").iter().map(|b| b["id"].as_str().expect("id")).collect();
    assert_eq!(ids, vec![b2_id.as_str(), b1_id.as_str()]);

    let got =
        json_of(p.api(Method::GET, &format!("/__api__/v1/content/{guid}/bundles/{b1_id}")).send().await.expect("get"))
            .await;
    assert_eq!(got["id"], b1_id.as_str());
    let r = p.api(Method::GET, &format!("/__api__/v1/content/{guid}/bundles/999999")).send().await.expect("get");
    assert_eq!(r.status(), 404);
    assert_eq!(json_of(r).await["code"], 4);

    let dl =
        p.api(Method::GET, &format!("/__api__/v1/content/{guid}/bundles/{b1_id}/download")).send().await.expect("dl");
    assert_eq!(dl.status(), 200);
    assert_eq!(dl.bytes().await.expect("bytes").to_vec(), first);

    // Deploy bundle 1, then deleting it is refused (code 75) and deleting bundle 2 works.
    let t = p.deploy(&guid, &b1_id).await;
    assert_eq!(t["code"], 0);
    let r = p.api(Method::DELETE, &format!("/__api__/v1/content/{guid}/bundles/{b1_id}")).send().await.expect("del");
    assert_eq!(r.status(), 409);
    assert_eq!(json_of(r).await["code"], 75);
    let r = p.api(Method::DELETE, &format!("/__api__/v1/content/{guid}/bundles/{b2_id}")).send().await.expect("del");
    assert_eq!(r.status(), 204);
    assert_eq!(p.fetch(&format!("/content/{guid}/")).await, (200, b"<p>one</p>".to_vec()));
    p.shutdown();
}

#[tokio::test]
async fn events_stream_over_sse() {
    use futures_util::StreamExt;
    let p = Porch::start().await;
    let r = p.get("/__api__/porch/events").await;
    assert_eq!(r.status(), 401);
    let r = p.api(Method::GET, "/__api__/porch/events").send().await.expect("sse");
    assert_eq!(r.status(), 200);
    assert!(r.headers()["content-type"].to_str().expect("ct").starts_with("text/event-stream"));
    let mut body = r.bytes_stream();
    let guid = p.create("sse-watch").await;
    let mut seen = String::new();
    let found = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while let Some(chunk) = body.next().await {
            seen.push_str(&String::from_utf8_lossy(&chunk.expect("chunk")));
            if seen.contains(&format!(r#""type":"content_changed","guid":"{guid}""#))
                || seen.contains(&format!(r#""guid":"{guid}","type":"content_changed""#))
            {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "no content_changed event for {guid} in {seen:?}");
}
