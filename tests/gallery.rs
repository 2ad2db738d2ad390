//! Issue 14, items 2 to 4, against a real `porch serve`: Connect's tag tree (the real
//! posit-sdk's tags API, the HTTP API and `porch tag`), thumbnails (the keyed API, the
//! viewers' `/content/{guid}/__thumbnail__`, pictures judged by their bytes, a capture by the
//! real Chromium, generated cards) and the landing page's gallery (search, tag filter and
//! paging without JavaScript, title, intro and logo from Settings, only what a visitor may
//! open). The Chromium run of the gallery is ui/e2e/gallery.e2e.mjs.

mod common;

use common::{eventually, py, skip_or_fail, targz, Porch};
use reqwest::Method;
use serde_json::{json, Value};

/// A real 1×1 PNG.
const PNG_1X1: &[u8] = &[
    137, 80, 78, 71, 13, 10, 26, 10, 0, 0, 0, 13, 73, 72, 68, 82, 0, 0, 0, 1, 0, 0, 0, 1, 8, 6, 0, 0, 0, 31, 21, 196,
    137, 0, 0, 0, 13, 73, 68, 65, 84, 120, 218, 99, 100, 248, 207, 80, 15, 0, 3, 134, 1, 128, 90, 52, 125, 107, 0, 0,
    0, 0, 73, 69, 78, 68, 174, 66, 96, 130,
];

/// The header of a PNG of `w`×`h` (all a header reader needs to judge its size).
fn png_header(w: u32, h: u32) -> Vec<u8> {
    let mut b = PNG_1X1[..16].to_vec();
    b.extend_from_slice(&w.to_be_bytes());
    b.extend_from_slice(&h.to_be_bytes());
    b.extend_from_slice(&PNG_1X1[24..]);
    b
}

async fn json_of(r: reqwest::Response) -> (u16, Value) {
    let s = r.status().as_u16();
    let text = r.text().await.expect("body");
    (s, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

async fn call(p: &Porch, method: Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = p.api(method, path);
    if let Some(b) = body {
        req = req.json(&b);
    }
    json_of(req.send().await.expect("request")).await
}

/// A deployed static item with a title, description and access.
async fn site(p: &Porch, name: &str, title: &str, description: &str) -> String {
    let guid = p.create(name).await;
    let (s, _) = call(
        p,
        Method::PATCH,
        &format!("/__api__/v1/content/{guid}"),
        Some(json!({"title": title, "description": description})),
    )
    .await;
    assert_eq!(s, 200);
    let page = format!("<!doctype html><html><head><title>{title}</title></head><body style=\"background:#2a7\"><h1>{title}</h1></body></html>");
    p.publish(&guid, targz(&[("index.html", page.as_bytes())])).await;
    guid
}

#[tokio::test(flavor = "multi_thread")]
async fn posit_sdk_tags_tree_and_include_tags() {
    let Some(python) = py::python_with("gallery", "posit.connect") else { return };
    let p = Porch::start().await;
    let guid = site(&p, "tagged-report", "Tagged report", "").await;
    let out = py::run_json(&python, &py::script("posit_sdk_tags.py"), &p.base, &p.key, &[("CONTENT_GUID", &guid)], 120);
    eprintln!("posit-sdk returned: {out:#}");
    let id = |n: &str| out["created"][n]["id"].as_str().expect("id").to_string();
    assert_eq!(out["created"]["finance"]["parent_id"], Value::Null);
    assert_eq!(out["created"]["quarterly"]["parent_id"], json!(id("finance")));
    assert_eq!(out["created"]["q3"]["parent_id"], json!(id("quarterly")));
    assert_eq!(out["duplicate"]["http_status"], 409, "a sibling with the same name");
    assert_eq!(out["same_name_elsewhere"], json!(id("ops")));
    assert_eq!(out["find_all"], json!(["finance", "ops", "q3", "quarterly", "quarterly"]));
    assert_eq!(out["find_name"].as_array().expect("ids").len(), 2);
    assert_eq!(out["find_parent"], json!(["quarterly"]));
    assert_eq!(out["get"], "q3");
    assert_eq!(out["parent_of_q3"], "quarterly");
    assert_eq!(out["children_of_finance"], json!(["quarterly"]));
    assert_eq!(out["descendants_of_finance"], json!(["q3", "quarterly"]));
    // Adding a child tag adds its ancestors.
    assert_eq!(out["item_tags_after_add"], json!(["finance", "q3", "quarterly"]));
    assert_eq!(out["finance_content"], json!([guid]));
    assert_eq!(out["listed_tags"], json!(["finance", "q3", "quarterly"]), "include=tags on the content list");
    // Taking a tag off takes its descendants off.
    assert_eq!(out["item_tags_after_delete"], json!(["finance"]));
    assert_eq!(out["renamed"], "operations");
    assert_eq!(out["cycle"]["http_status"], 400, "a tag cannot move below its own descendant");
    // Deleting a tag deletes its subtree, also from items.
    assert_eq!(out["after_destroy"], json!(["operations", "quarterly"]));
    assert_eq!(out["item_tags_after_destroy"], json!([]));
    assert_eq!(out["missing"]["http_status"], 404);
    assert_eq!(out["missing"]["error_code"], 4);
    p.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn tags_api_refusals_and_the_cli() {
    let p = Porch::start().await;
    let guid = site(&p, "q-report", "Quarterly report", "numbers").await;

    // Bad input gets a clear error.
    for (body, status, says) in [
        (json!({}), 400, "name"),
        (json!({"name": ""}), 400, "1 to 100"),
        (json!({"name": "a/b"}), 400, "'/'"),
        (json!({"name": "x", "parent_id": "999"}), 404, "parent tag"),
        (json!({"name": "x", "parent_id": "abc"}), 400, "parent_id"),
        (json!({"name": 5}), 400, "name must be a string"),
    ] {
        let (s, v) = call(&p, Method::POST, "/__api__/v1/tags", Some(body.clone())).await;
        assert_eq!(s, status, "{body}: {v}");
        assert!(v["error"].as_str().unwrap_or_default().contains(says), "{body}: {v}");
    }
    let (s, _) = call(&p, Method::GET, "/__api__/v1/tags/12345", None).await;
    assert_eq!(s, 404);
    let (s, v) =
        call(&p, Method::POST, &format!("/__api__/v1/content/{guid}/tags"), Some(json!({"tag_id": "77"}))).await;
    assert_eq!(s, 400, "{v}");
    let (s, _) = call(&p, Method::GET, "/__api__/v1/content/no-such-item/tags", None).await;
    assert_eq!(s, 404);
    // Without a key, nothing.
    let r = p.http.get(p.url("/__api__/v1/tags")).send().await.expect("get");
    assert_eq!(r.status(), 401);

    // The CLI names tags by path and makes the missing ones.
    let ok = |out: &std::process::Output| {
        assert!(out.status.success(), "{}", common::plain_text(out));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    let said = ok(&p.cli(&["tag", "add", "q-report", "finance/quarterly"]));
    assert!(said.contains("q-report is tagged finance/quarterly"), "{said}");
    assert_eq!(ok(&p.cli(&["tag", "list", "q-report"])).lines().collect::<Vec<_>>(), ["finance", "finance/quarterly"]);
    ok(&p.cli(&["tag", "add", "q-report", "ops"]));
    assert_eq!(ok(&p.cli(&["tag", "list"])).lines().collect::<Vec<_>>(), ["finance", "finance/quarterly", "ops"]);
    let (_, tags) = call(&p, Method::GET, &format!("/__api__/v1/content/{guid}/tags"), None).await;
    assert_eq!(tags.as_array().expect("tags").len(), 3);
    ok(&p.cli(&["tag", "rm", "q-report", "finance"]));
    assert_eq!(ok(&p.cli(&["tag", "list", "q-report"])).lines().collect::<Vec<_>>(), ["ops"]);
    let missing = p.cli(&["tag", "rm", "q-report", "finance/yearly"]);
    assert!(!missing.status.success());
    assert!(
        common::plain_text(&missing).contains("there is no tag finance/yearly"),
        "{}",
        common::plain_text(&missing)
    );
    let (s, _) = call(&p, Method::DELETE, &format!("/__api__/v1/content/{guid}/tags/1"), None).await;
    assert_eq!(s, 404, "finance is no longer on the item");
    // A tag that exists but is not on the item is named as such; a path is said as stored.
    let not_on = p.cli(&["tag", "rm", "q-report", "finance"]);
    assert!(!not_on.status.success());
    assert!(common::plain_text(&not_on).contains("q-report is not tagged finance"), "{}", common::plain_text(&not_on));
    let said = ok(&p.cli(&["tag", "add", "q-report", " /finance// quarterly "]));
    assert!(said.contains("q-report is tagged finance/quarterly\n"), "{said}");
    ok(&p.cli(&["tag", "rm", "q-report", "finance/quarterly"]));
    ok(&p.cli(&["tag", "rm", "q-report", "finance"]));

    // include=tags on one item; deleting the item drops its tags with it.
    let (_, one) = call(&p, Method::GET, &format!("/__api__/v1/content/{guid}?include=tags"), None).await;
    assert_eq!(one["tags"].as_array().expect("tags")[0]["name"], "ops");
    let (s, _) = call(&p, Method::DELETE, &format!("/__api__/v1/content/{guid}"), None).await;
    assert_eq!(s, 204);
    let ops = tags.as_array().expect("tags").iter().find(|t| t["name"] == "ops").expect("ops")["id"].clone();
    let (s, items) =
        call(&p, Method::GET, &format!("/__api__/v1/tags/{}/content", ops.as_str().expect("id")), None).await;
    assert_eq!((s, items), (200, json!([])));
    p.shutdown();
}

/// Moving a tag under another one gives the items that carry it (or a tag below it) the
/// new ancestors: the landing page's filter by the new parent finds them.
#[tokio::test(flavor = "multi_thread")]
async fn a_moved_tag_brings_its_items_under_the_new_parent() {
    let p = Porch::start().await;
    let guid = site(&p, "moved-tag-item", "Moved Tag Item", "").await;
    let ok = |out: &std::process::Output| {
        assert!(out.status.success(), "{}", common::plain_text(out));
        String::from_utf8_lossy(&out.stdout).to_string()
    };
    ok(&p.cli(&["tag", "add", "moved-tag-item", "old/child/leaf"]));
    let (s, new) = call(&p, Method::POST, "/__api__/v1/tags", Some(json!({"name": "new"}))).await;
    assert_eq!(s, 200, "{new}");
    let (_, tags) = call(&p, Method::GET, "/__api__/v1/tags", None).await;
    let child = tags.as_array().expect("tags").iter().find(|t| t["name"] == "child").expect("child")["id"].clone();
    let (s, v) = call(
        &p,
        Method::PATCH,
        &format!("/__api__/v1/tags/{}", child.as_str().expect("id")),
        Some(json!({"parent_id": new["id"]})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let listed: Vec<String> = ok(&p.cli(&["tag", "list", "moved-tag-item"])).lines().map(str::to_string).collect();
    assert_eq!(listed, ["new", "new/child", "new/child/leaf", "old"], "the old parent stays as a tag of its own");
    let (_, under) =
        call(&p, Method::GET, &format!("/__api__/v1/tags/{}/content", new["id"].as_str().expect("id")), None).await;
    assert_eq!(
        under.as_array().map(|a| a.iter().map(|c| c["guid"].clone()).collect::<Vec<_>>()),
        Some(vec![json!(guid)])
    );
    let page = p.get("/?tag=new").await.text().await.expect("page");
    assert!(page.contains("Moved Tag Item"), "{page}");
    p.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn thumbnails_are_checked_keyed_and_access_checked() {
    let p = Porch::start_with(common::Opts { args: vec![], ..Default::default() }).await;
    // No captures in this test: pictures only come from the API.
    let (s, _) = call(&p, Method::PATCH, "/__api__/porch/server", Some(json!({"thumbnails": "manual"}))).await;
    assert_eq!(s, 200);
    let guid = site(&p, "pictured", "Pictured", "").await;
    let api = format!("/__api__/v1/content/{guid}/thumbnail");
    let viewer = format!("/content/{guid}/__thumbnail__");

    // None yet: 204 on both URLs; deleting a missing one is a 404.
    assert_eq!(p.api(Method::GET, &api).send().await.expect("get").status(), 204);
    assert_eq!(p.get(&viewer).await.status(), 204);
    assert_eq!(call(&p, Method::DELETE, &api, None).await.0, 404);
    // Keyed.
    assert_eq!(p.http.put(p.url(&api)).body(PNG_1X1.to_vec()).send().await.expect("put").status(), 401);

    // Judged by the bytes, whatever the Content-Type says.
    let put =
        |bytes: Vec<u8>, ctype: &'static str| p.api(Method::PUT, &api).header("Content-Type", ctype).body(bytes).send();
    let svg = b"<svg xmlns=\"http://www.w3.org/2000/svg\"><script>alert(1)</script></svg>".to_vec();
    for (bytes, ctype, status, says) in [
        (svg, "image/png", 400, "SVG"),
        (b"plain text, not a picture at all".to_vec(), "image/gif", 400, "PNG, JPEG, GIF or WebP"),
        (png_header(5000, 20), "image/png", 400, "4096"),
        (Vec::new(), "image/png", 400, "empty"),
        (vec![0u8; 10 * 1024 * 1024 + 1], "image/png", 413, "10 MiB"),
        (PNG_1X1[..PNG_1X1.len() - 12].to_vec(), "image/png", 400, "cut short"),
    ] {
        let (s, v) = json_of(put(bytes, ctype).await.expect("put")).await;
        assert_eq!(s, status, "{v}");
        assert!(v["error"].as_str().unwrap_or_default().contains(says), "{v}");
    }
    let (s, v) = json_of(put(PNG_1X1.to_vec(), "application/octet-stream").await.expect("put")).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(
        (v["mime_type"].as_str(), v["width"].as_i64(), v["source"].as_str()),
        (Some("image/png"), Some(1), Some("upload"))
    );

    let r = p.api(Method::GET, &api).send().await.expect("get");
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.bytes().await.expect("png").to_vec(), PNG_1X1);
    let r = p.get(&viewer).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
    assert!(r.headers()["cache-control"].to_str().expect("cc").contains("max-age"), "{:?}", r.headers());
    let etag = r.headers()["etag"].clone();
    assert_eq!(r.bytes().await.expect("png").to_vec(), PNG_1X1);
    let again = p.http.get(p.url(&viewer)).header("If-None-Match", etag).send().await.expect("get");
    assert_eq!(again.status(), 304);

    // A local item's picture is shown only to this computer, like the item; a link item's
    // only to link holders (or the key).
    let (s, _) =
        call(&p, Method::PATCH, &format!("/__api__/v1/content/{guid}"), Some(json!({"viewer_access": "local"}))).await;
    assert_eq!(s, 200);
    let from_elsewhere = p.http.get(p.url(&viewer)).header("Host", "attacker.example").send().await.expect("get");
    assert_eq!(from_elsewhere.status(), 404, "a visitor who may not open the item");
    let here = p.get(&viewer).await;
    assert_eq!(here.status(), 200);
    assert!(here.headers()["cache-control"].to_str().expect("cc").contains("private"));
    let (s, _) =
        call(&p, Method::PATCH, &format!("/__api__/v1/content/{guid}"), Some(json!({"viewer_access": "link"}))).await;
    assert_eq!(s, 200);
    assert_eq!(p.get(&viewer).await.status(), 404);
    assert_eq!(p.api(Method::GET, &viewer).send().await.expect("get").status(), 200);

    // Deleting it: gone, 204 again.
    assert_eq!(call(&p, Method::DELETE, &api, None).await.0, 204);
    assert_eq!(p.api(Method::GET, &viewer).send().await.expect("get").status(), 204);
    assert_eq!(call(&p, Method::DELETE, &api, None).await.0, 404);
    p.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn the_landing_page_is_a_gallery_that_works_without_javascript() {
    let p = Porch::start().await;
    let (s, _) = call(&p, Method::PATCH, "/__api__/porch/server", Some(json!({"thumbnails": "manual"}))).await;
    assert_eq!(s, 200);
    // 30 items: two pages of cards.
    let mut first = String::new();
    for i in 0..30 {
        let guid = p.create(&format!("item-{i:02}")).await;
        if i == 0 {
            first = guid.clone();
        }
        let title = if i == 7 { "Sales <dashboard>".to_string() } else { format!("Report {i:02}") };
        let (s, _) = call(
            &p,
            Method::PATCH,
            &format!("/__api__/v1/content/{guid}"),
            Some(json!({"title": title, "description": if i == 3 { "the ZEBRA numbers" } else { "" }})),
        )
        .await;
        assert_eq!(s, 200);
        p.publish(&guid, targz(&[("index.html", b"<h1>hi</h1>")])).await;
        if i % 10 == 0 {
            assert!(p.cli(&["tag", "add", &format!("item-{i:02}"), "finance/quarterly"]).status.success());
        }
    }
    let hidden = p.create("hidden-one").await;
    call(
        &p,
        Method::PATCH,
        &format!("/__api__/v1/content/{hidden}"),
        Some(json!({"title": "Report hidden", "viewer_access": "link"})),
    )
    .await;
    p.publish(&hidden, targz(&[("index.html", b"secret")])).await;

    let page = p.get("/").await.text().await.expect("page");
    assert!(page.contains("30 items"), "{page}");
    assert_eq!(page.matches("class=\"thumb\"").count(), 24, "one page of cards");
    assert!(page.contains("href=\"/?page=2\""), "a link to the next page");
    assert!(page.contains("<svg"), "generated cards stand in for pictures");
    assert!(page.contains("<option value=\"finance/quarterly\""), "the tag filter lists the tags");
    assert!(!page.contains("Report hidden") && !page.contains(&hidden), "a link item is never listed");
    let second = p.get("/?page=2").await.text().await.expect("page");
    assert_eq!(second.matches("class=\"thumb\"").count(), 6);
    assert!(second.contains("Page 2 of 2"));
    assert!(second.contains("Sales &lt;dashboard&gt;") && !second.contains("Sales <dashboard>"), "escaped titles");

    // A picture change shows at once (it moves the gallery's picture generation, not the
    // content list's), and so does its removal.
    let picture = format!("/content/{first}/__thumbnail__");
    assert!(!page.contains(&picture), "no picture yet");
    let put = p.api(Method::PUT, &format!("/__api__/v1/content/{first}/thumbnail")).body(PNG_1X1.to_vec());
    assert_eq!(put.send().await.expect("put").status(), 200);
    assert!(p.get("/").await.text().await.expect("page").contains(&picture), "the uploaded picture is on its card");
    let gone = p.api(Method::DELETE, &format!("/__api__/v1/content/{first}/thumbnail")).send().await.expect("delete");
    assert_eq!(gone.status(), 204);
    assert!(!p.get("/").await.text().await.expect("page").contains(&picture), "a generated card again");

    // Search: every word must match title, name, description or tags.
    let found = p.get("/?q=zebra").await.text().await.expect("page");
    assert!(found.contains("1 item matches") && found.contains("Report 03"), "{found}");
    let found = p.get("/?q=report+2").await.text().await.expect("page");
    assert!(found.contains("Report 20") && !found.contains("Report 03"), "{found}");
    let none = p.get("/?q=%3Cscript%3E").await.text().await.expect("page");
    assert!(none.contains("Nothing matches") && none.contains("value=\"&lt;script&gt;\""), "{none}");
    // The tag filter: a parent matches the items of its children.
    for tag in ["finance", "finance/quarterly", "finance%2Fquarterly"] {
        let tagged = p.get(&format!("/?tag={tag}")).await.text().await.expect("page");
        assert!(tagged.contains("3 items match"), "{tag}: {tagged}");
        assert!(tagged.contains("Report 00") && tagged.contains("Report 10") && tagged.contains("Report 20"));
    }
    // The script's partial answer is the results alone.
    let partial = p.get("/?q=zebra&partial=1").await.text().await.expect("partial");
    assert!(partial.starts_with("<p class=\"count\"") && !partial.contains("<html"), "{partial}");

    // Title, intro and logo from Settings: plain text, escaped; the logo checked like a picture.
    let (s, v) = call(
        &p,
        Method::PATCH,
        "/__api__/porch/server",
        Some(json!({"gallery_title": "Team <b>reports</b>", "gallery_intro": "Everything we publish.\nAsk Ann."})),
    )
    .await;
    assert_eq!(s, 200, "{v}");
    let entries = v["settings"]["entries"].as_array().cloned().unwrap_or_default();
    let title = entries.iter().find(|e| e["name"] == "gallery_title").expect("gallery_title is a registry entry");
    assert_eq!((&title["value"], &title["section"]), (&json!("Team <b>reports</b>"), &json!("gallery")), "{title}");
    let (s, v) = call(&p, Method::PATCH, "/__api__/porch/server", Some(json!({"gallery_title": 5.5e300}))).await;
    assert_eq!(s, 200, "numbers read as text: {v}");
    let (s, v) = call(&p, Method::PATCH, "/__api__/porch/server", Some(json!({"thumbnails": "always"}))).await;
    assert_eq!(s, 400, "{v}");
    call(&p, Method::PATCH, "/__api__/porch/server", Some(json!({"gallery_title": "Team <b>reports</b>"}))).await;
    let bad = p.api(Method::PUT, "/__api__/porch/gallery/logo").body(b"<svg/>".to_vec()).send().await.expect("put");
    assert_eq!(bad.status(), 400);
    let ok = p.api(Method::PUT, "/__api__/porch/gallery/logo").body(PNG_1X1.to_vec()).send().await.expect("put");
    assert_eq!(ok.status(), 204);
    let page = p.get("/").await.text().await.expect("page");
    assert!(page.contains("<h1>Team &lt;b&gt;reports&lt;/b&gt;</h1>"), "{page}");
    assert!(page.contains("Everything we publish.\nAsk Ann."));
    assert!(page.contains("src=\"/__gallery__/logo?v="), "{page}");
    let logo = p.get("/__gallery__/logo").await;
    assert_eq!(logo.headers()["content-type"], "image/png");
    assert_eq!(p.api(Method::DELETE, "/__api__/porch/gallery/logo").send().await.expect("delete").status(), 204);
    assert_eq!(p.get("/__gallery__/logo").await.status(), 204);
    p.shutdown();
}

#[tokio::test(flavor = "multi_thread")]
async fn chromium_captures_after_a_deploy_and_manual_mode_does_not() {
    if !std::path::Path::new("/usr/bin/chromium").exists() {
        return skip_or_fail("chromium_captures_after_a_deploy_and_manual_mode_does_not", "no /usr/bin/chromium");
    }
    let p = Porch::start().await;
    let guid = site(&p, "captured", "Captured site", "").await;
    let api = format!("/__api__/v1/content/{guid}/thumbnail");
    let shot = eventually(60, "a captured thumbnail", || async {
        let r = p.api(Method::GET, &api).send().await.expect("get");
        (r.status() == 200).then_some(())?;
        Some(r.bytes().await.expect("png").to_vec())
    })
    .await;
    assert_eq!(&shot[..8], &PNG_1X1[..8], "a PNG");
    assert!(shot.len() > 1000, "a real screenshot ({} bytes)", shot.len());

    // A deploy from the CLI (`porch deploy`, an upload to the running server) is captured too.
    let dir = tempfile::tempdir().expect("tmp");
    std::fs::write(dir.path().join("index.html"), "<h1>from the CLI</h1>").expect("write");
    let out = p.cli(&["deploy", dir.path().to_str().expect("utf8"), "--name", "cli-captured"]);
    assert!(out.status.success(), "{}", common::plain_text(&out));
    let (s, v) = call(&p, Method::GET, "/__api__/v1/content?name=cli-captured", None).await;
    assert_eq!(s, 200, "{v}");
    let cli_guid = v[0]["guid"].as_str().expect("the deployed item").to_string();
    let cli_api = format!("/__api__/v1/content/{cli_guid}/thumbnail");
    eventually(60, "a captured thumbnail of the CLI's deploy", || async {
        (p.api(Method::GET, &cli_api).send().await.expect("get").status() == 200).then_some(())
    })
    .await;

    // An uploaded picture is never replaced by a capture; manual mode captures nothing.
    let (s, _) = call(&p, Method::PATCH, "/__api__/porch/server", Some(json!({"thumbnails": "manual"}))).await;
    assert_eq!(s, 200);
    let other = site(&p, "not-captured", "Not captured", "").await;
    // Captures run one at a time in order: one on request, queued after the deploy of
    // `other`, has finished once any (wrong) automatic capture of `other` would have.
    let (s, v) = call(&p, Method::POST, &format!("/__api__/porch/content/{guid}/thumbnail/capture"), None).await;
    assert_eq!(s, 200, "{v}");
    assert_eq!(v["source"], "capture");
    let r = p.api(Method::GET, &format!("/__api__/v1/content/{other}/thumbnail")).send().await.expect("get");
    assert_eq!(r.status(), 204, "manual mode: no capture");
    // A link item is captured over loopback too (the capture carries the run's own key):
    // the picture is the same as while it was open to everyone (not the "not found" page).
    let (s, v) = call(&p, Method::POST, &format!("/__api__/porch/content/{other}/thumbnail/capture"), None).await;
    assert_eq!(s, 200, "{v}");
    let open = p.api(Method::GET, &format!("/__api__/v1/content/{other}/thumbnail")).send().await.expect("get");
    let open = open.bytes().await.expect("png");
    let (s, _) =
        call(&p, Method::PATCH, &format!("/__api__/v1/content/{other}"), Some(json!({"viewer_access": "link"}))).await;
    assert_eq!(s, 200);
    let (s, v) = call(&p, Method::POST, &format!("/__api__/porch/content/{other}/thumbnail/capture"), None).await;
    assert_eq!(s, 200, "{v}");
    let shot = p.api(Method::GET, &format!("/__api__/v1/content/{other}/thumbnail")).send().await.expect("get");
    let shot = shot.bytes().await.expect("png");
    assert!(shot == open, "the link item's page was captured, not a refusal");
    // Settings on the CLI.
    let out = p.cli(&["settings", "set", "gallery_title=Team reports"]);
    assert!(out.status.success(), "{}", common::plain_text(&out));
    let shown = common::plain_text(&p.cli(&["settings"]));
    assert!(
        shown.contains("gallery_title            Team reports") && shown.contains("thumbnails               manual"),
        "{shown}"
    );
    let page = p.get("/").await.text().await.expect("page");
    assert!(page.contains(&format!("/content/{guid}/__thumbnail__?v=")), "the captured picture is on its card");
    p.shutdown();
}

/// The colour of pixel (`x`, `y`) of an 8-bit RGB or RGBA PNG that is not interlaced (what
/// Chromium writes): its chunks read, its data inflated and unfiltered.
fn png_pixel(png: &[u8], x: usize, y: usize) -> [u8; 3] {
    use std::io::Read;
    assert_eq!(&png[..8], &PNG_1X1[..8], "a PNG");
    let (mut at, mut data, mut head) = (8, Vec::new(), None);
    while at + 8 <= png.len() {
        let len = u32::from_be_bytes(png[at..at + 4].try_into().expect("length")) as usize;
        let (kind, body) = (&png[at + 4..at + 8], &png[at + 8..at + 8 + len]);
        match kind {
            b"IHDR" => {
                head = Some((
                    u32::from_be_bytes(body[..4].try_into().expect("width")) as usize,
                    body[8],
                    body[9],
                    body[12],
                ))
            }
            b"IDAT" => data.extend_from_slice(body),
            _ => {}
        }
        at += 12 + len;
    }
    let (width, depth, colour, interlace) = head.expect("an IHDR chunk");
    assert_eq!((depth, interlace), (8, 0), "8-bit, not interlaced");
    let bpp = match colour {
        2 => 3,
        6 => 4,
        other => panic!("colour type {other}"),
    };
    let mut raw = Vec::new();
    flate2::read::ZlibDecoder::new(&data[..]).read_to_end(&mut raw).expect("inflate");
    let stride = width * bpp;
    let mut prev = vec![0u8; stride];
    let mut row = vec![0u8; stride];
    for r in 0..=y {
        let line = &raw[r * (stride + 1)..(r + 1) * (stride + 1)];
        for i in 0..stride {
            let a = if i >= bpp { row[i - bpp] as i16 } else { 0 };
            let (b, c) = (prev[i] as i16, if i >= bpp { prev[i - bpp] as i16 } else { 0 });
            let pred = match line[0] {
                0 => 0,
                1 => a,
                2 => b,
                3 => (a + b) / 2,
                4 => {
                    let (pa, pb, pc) = ((b - c).abs(), (a - c).abs(), (a + b - 2 * c).abs());
                    if pa <= pb && pa <= pc {
                        a
                    } else if pb <= pc {
                        b
                    } else {
                        c
                    }
                }
                f => panic!("filter {f}"),
            };
            row[i] = line[1 + i].wrapping_add(pred as u8);
        }
        std::mem::swap(&mut prev, &mut row);
    }
    [prev[x * bpp], prev[x * bpp + 1], prev[x * bpp + 2]]
}

#[tokio::test(flavor = "multi_thread")]
async fn an_app_is_pictured_once_its_websocket_has_drawn() {
    const TEST: &str = "an_app_is_pictured_once_its_websocket_has_drawn";
    if !std::path::Path::new("/usr/bin/chromium").exists() {
        return skip_or_fail(TEST, "no /usr/bin/chromium");
    }
    if !common::have_uv() {
        return skip_or_fail(TEST, "no uv to build the app's environment");
    }
    let p = Porch::start().await;
    let dir = tempfile::tempdir().expect("tmp");
    common::copy_tree(&common::fixture("apps/painted-app"), dir.path());
    let out = p.cli(&["deploy", dir.path().to_str().expect("utf8"), "--name", "painted"]);
    assert!(out.status.success(), "{}", common::plain_text(&out));
    let (s, v) = call(&p, Method::GET, "/__api__/v1/content?name=painted", None).await;
    assert_eq!(s, 200, "{v}");
    let guid = v[0]["guid"].as_str().expect("the deployed item").to_string();
    // On request: the app's worker is started for it. The page is blank until its socket
    // has spoken, a second after it opened.
    let (s, v) = call(&p, Method::POST, &format!("/__api__/porch/content/{guid}/thumbnail/capture"), None).await;
    assert_eq!(s, 200, "{v}");
    let shot = p.api(Method::GET, &format!("/__api__/v1/content/{guid}/thumbnail")).send().await.expect("get");
    assert_eq!(shot.status(), 200);
    let shot = shot.bytes().await.expect("png");
    for (x, y) in [(600, 375), (10, 10), (1190, 740)] {
        assert_eq!(png_pixel(&shot, x, y), [0, 128, 255], "pixel ({x}, {y}): the colour sent over the WebSocket");
    }
    p.shutdown();
}

/// A picture is taken as the item's viewers see it: a network item's page that fetches a
/// local item gets the "not found" a viewer elsewhere gets (its picture is public), while a
/// local item's own page still opens for its picture.
#[tokio::test(flavor = "multi_thread")]
async fn a_picture_shows_only_what_the_items_viewers_may_see() {
    const TEST: &str = "a_picture_shows_only_what_the_items_viewers_may_see";
    if !std::path::Path::new("/usr/bin/chromium").exists() {
        return skip_or_fail(TEST, "no /usr/bin/chromium");
    }
    let porch = Porch::start().await;
    let p = &porch;
    let (s, _) = call(p, Method::PATCH, "/__api__/porch/server", Some(json!({"thumbnails": "manual"}))).await;
    assert_eq!(s, 200);
    let deploy = |name: &'static str, files: Vec<(&'static str, String)>, access: &'static str| {
        let dir = tempfile::tempdir().expect("tmp");
        for (f, text) in &files {
            std::fs::write(dir.path().join(f), text).expect("write");
        }
        let out = p.cli(&["deploy", dir.path().to_str().expect("utf8"), "--name", name, "--access", access]);
        assert!(out.status.success(), "{}", common::plain_text(&out));
    };
    let guid_of = |name: &'static str| async move {
        let (s, v) = call(p, Method::GET, &format!("/__api__/v1/content?name={name}"), None).await;
        assert_eq!(s, 200, "{v}");
        v[0]["guid"].as_str().expect("the deployed item").to_string()
    };
    // Blue where the page draws, whatever else happens.
    let painted = "<html><body style=\"margin:0;height:100vh;background:rgb(0,0,255)\"></body></html>";
    let blue = "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"300\" height=\"200\"><rect width=\"300\" height=\"200\" fill=\"rgb(0,0,255)\"/></svg>";
    deploy(
        "private-notes",
        vec![("index.html", painted.into()), ("secret.txt", "SECRET".into()), ("blue.svg", blue.into())],
        "local",
    );
    let local = guid_of("private-notes").await;
    // Red if the fetch of the local item succeeds, green if it is refused; in the top
    // corners, the local item framed, and its picture, by their absolute addresses on
    // Porch's own port (which the capture's forwarder does not see): blue if they open.
    let origin = p.base.trim_end_matches('/');
    let peek = format!(
        "<html><body style=\"margin:0;height:100vh\">\
         <iframe src=\"{origin}/content/{local}/\" style=\"position:absolute;left:0;top:0;width:300px;height:200px;border:0\"></iframe>\
         <img src=\"{origin}/content/{local}/blue.svg\" style=\"position:absolute;left:900px;top:0;width:300px;height:200px\">\
         <script>fetch('/content/{local}/secret.txt').then(r => {{ \
         document.body.style.background = r.ok ? 'rgb(255,0,0)' : 'rgb(0,160,0)'; }});</script></body></html>"
    );
    deploy("peek", vec![("index.html", peek)], "network");
    let network = guid_of("peek").await;
    let capture = |guid: String| async move {
        let (s, v) = call(p, Method::POST, &format!("/__api__/porch/content/{guid}/thumbnail/capture"), None).await;
        assert_eq!(s, 200, "{v}");
        let shot = p.api(Method::GET, &format!("/__api__/v1/content/{guid}/thumbnail")).send().await.expect("get");
        shot.bytes().await.expect("png").to_vec()
    };
    let shot = capture(network).await;
    assert_eq!(png_pixel(&shot, 600, 375), [0, 160, 0], "the network item's page could not read the local item");
    assert_ne!(png_pixel(&shot, 150, 100), [0, 0, 255], "nor frame it from Porch's own address");
    assert_ne!(png_pixel(&shot, 1050, 100), [0, 0, 255], "nor show its picture from Porch's own address");
    let shot = capture(local).await;
    assert_eq!(png_pixel(&shot, 600, 375), [0, 0, 255], "the local item's own page was pictured");
    porch.shutdown();
}

/// A browser that cannot take the picture: the request says why (the browser's own last
/// line), and the item's picture is the one it had.
#[tokio::test(flavor = "multi_thread")]
async fn a_browser_that_fails_says_why_and_the_picture_stays() {
    let dir = tempfile::tempdir().expect("tmp");
    let fake = dir.path().join("chromium");
    std::fs::write(&fake, "#!/bin/sh\necho 'Missing X server or $DISPLAY' >&2\nexit 1\n").expect("write");
    std::fs::set_permissions(&fake, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let opts = common::Opts {
        env: vec![("PORCH_CHROMIUM".into(), fake.to_str().expect("utf8").into())],
        ..Default::default()
    };
    let p = Porch::start_with(opts).await;
    let (s, _) = call(&p, Method::PATCH, "/__api__/porch/server", Some(json!({"thumbnails": "manual"}))).await;
    assert_eq!(s, 200);
    let guid = site(&p, "no-browser", "No browser", "").await;
    let put = p.api(Method::PUT, &format!("/__api__/v1/content/{guid}/thumbnail")).body(PNG_1X1.to_vec());
    assert_eq!(put.send().await.expect("put").status(), 200);
    let (s, v) = call(&p, Method::POST, &format!("/__api__/porch/content/{guid}/thumbnail/capture"), None).await;
    assert!(s >= 400, "{s} {v}");
    let err = v["error"].as_str().unwrap_or_default();
    assert!(err.contains("Chromium took no picture") && err.contains("Missing X server"), "{v}");
    let kept = p.api(Method::GET, &format!("/__api__/v1/content/{guid}/thumbnail")).send().await.expect("get");
    assert_eq!(kept.bytes().await.expect("png").as_ref(), PNG_1X1, "the uploaded picture stays");
    p.shutdown();
}
