//! Black-box test with a real publishing client: the `rsconnect` CLI from rsconnect-python
//! (installed by `.ci/test` into `$PORCH_TEST_VENV`) registers a Porch server, deploys a
//! static site to it and redeploys it, and a keyless viewer then reads the published site.

mod common;

use common::{copy_tree, plain_text as text, Porch, Rsconnect};
use serde_json::Value;

/// Seconds any one `rsconnect` invocation may take.
const RSCONNECT_TIMEOUT: u64 = 180;

/// The title the site is deployed under (and must appear on the landing page).
const TITLE: &str = "Porch Fixture Site";

/// The URL rsconnect printed as "Direct content URL: ...".
fn direct_url(output: &str) -> Option<String> {
    output.lines().find_map(|l| l.split_once("Direct content URL:").map(|(_, u)| u.trim().to_string()))
}

async fn json_get(p: &Porch, path: &str) -> Value {
    let resp = p.api(reqwest::Method::GET, path).send().await.expect("GET");
    let status = resp.status();
    let body = resp.text().await.expect("body");
    assert_eq!(status, 200, "GET {path} with key: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"))
}

/// GET without a key; asserts 200 and returns (content-type, body).
async fn viewer_get(p: &Porch, path: &str) -> (String, Vec<u8>) {
    let resp = p.get(path).await;
    let status = resp.status();
    let ctype = resp.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let body = resp.bytes().await.expect("body").to_vec();
    assert_eq!(status, 200, "viewer GET {path} (no key): {}", String::from_utf8_lossy(&body[..body.len().min(500)]));
    (ctype, body)
}

#[tokio::test(flavor = "multi_thread")]
async fn rsconnect_deploys_static_site_and_viewers_read_it() {
    let Some(rsc) = Rsconnect::find("rsconnect_client") else { return };
    let p = Porch::start().await;

    // A wrong key is refused, and rsconnect says why.
    let bad = rsc
        .run(&["add", "-n", "porch-bad", "-s", &p.base, "-k", "0123456789abcdef0123456789abcdef"], RSCONNECT_TIMEOUT);
    let bad_text = text(&bad);
    assert!(!bad.status.success(), "rsconnect add with a wrong key succeeded:\n{bad_text}");
    assert!(
        bad_text.to_lowercase().contains("api key is not valid"),
        "rsconnect add with a wrong key did not report an invalid key:\n{bad_text}"
    );

    // The right key registers the server.
    let add = rsc.run(&["add", "-n", "porch", "-s", &p.base, "-k", &p.key], RSCONNECT_TIMEOUT);
    assert!(add.status.success(), "rsconnect add failed:\n{}", text(&add));
    let list = rsc.run(&["list"], RSCONNECT_TIMEOUT);
    let list_text = text(&list);
    assert!(list.status.success(), "rsconnect list failed:\n{list_text}");
    assert!(list_text.contains("porch"), "server not saved:\n{list_text}");
    assert!(!list_text.contains("porch-bad"), "the refused server was saved:\n{list_text}");

    // rsconnect writes its deployment record (rsconnect-python/) beside the site: work on a copy.
    let work = tempfile::tempdir().expect("tempdir");
    let site = work.path().join("porch-fixture-site");
    copy_tree(&common::fixture("rsconnect-site"), &site);
    let index_v1 = std::fs::read(site.join("index.html")).expect("index.html");
    let css = std::fs::read(site.join("style.css")).expect("style.css");
    let subpage = std::fs::read(site.join("docs/page.html")).expect("docs/page.html");
    let site_arg = site.to_str().expect("utf8 path");

    let deploy = rsc.run(&["deploy", "html", "-n", "porch", "-t", TITLE, site_arg], RSCONNECT_TIMEOUT);
    let deploy_text = text(&deploy);
    assert!(deploy.status.success(), "rsconnect deploy html failed:\n{deploy_text}");

    // Exactly one content item, found through the API with the key.
    let items = json_get(&p, "/__api__/v1/content").await;
    let items = items.as_array().expect("content list is an array");
    assert_eq!(items.len(), 1, "expected one content item: {items:?}");
    let item = &items[0];
    let guid = item["guid"].as_str().expect("guid").to_string();
    assert_eq!(item["title"], TITLE, "title: {item}");
    assert_eq!(item["app_mode"], "static", "app_mode: {item}");
    let content_url = item["content_url"].as_str().expect("content_url");
    assert_eq!(content_url, format!("{}/content/{guid}/", p.base), "content_url: {item}");
    let printed =
        direct_url(&deploy_text).unwrap_or_else(|| panic!("rsconnect printed no content URL:\n{deploy_text}"));
    assert_eq!(printed, content_url, "URL printed by rsconnect vs the API's content_url");

    // A viewer without a key reads the exact files.
    let root = format!("/content/{guid}/");
    let (ctype, body) = viewer_get(&p, &root).await;
    assert!(ctype.starts_with("text/html"), "index content-type: {ctype}");
    assert_eq!(body, index_v1, "index.html bytes differ");
    let (ctype, body) = viewer_get(&p, &format!("{root}style.css")).await;
    assert!(ctype.starts_with("text/css"), "css content-type: {ctype}");
    assert_eq!(body, css, "style.css bytes differ");
    let (_, body) = viewer_get(&p, &format!("{root}docs/page.html")).await;
    assert_eq!(body, subpage, "docs/page.html bytes differ");

    // The landing page lists it, without a key.
    let (ctype, body) = viewer_get(&p, "/").await;
    assert!(ctype.starts_with("text/html"), "landing content-type: {ctype}");
    let landing = String::from_utf8_lossy(&body);
    assert!(landing.contains(TITLE), "landing page does not list {TITLE:?}:\n{landing}");

    // Redeploy with a changed page: same content item, new bundle, new bytes served.
    let index_v2 = String::from_utf8(index_v1.clone())
        .expect("utf8")
        .replace("Fixture site, version one", "Fixture site, version two");
    assert_ne!(index_v2.as_bytes(), index_v1.as_slice());
    std::fs::write(site.join("index.html"), &index_v2).expect("write index");
    let redeploy = rsc.run(&["deploy", "html", "-n", "porch", site_arg], RSCONNECT_TIMEOUT);
    let redeploy_text = text(&redeploy);
    assert!(redeploy.status.success(), "rsconnect redeploy failed:\n{redeploy_text}");
    assert_eq!(
        direct_url(&redeploy_text).as_deref(),
        Some(content_url),
        "redeploy went to another content item:\n{redeploy_text}"
    );

    let (_, body) = viewer_get(&p, &root).await;
    assert_eq!(
        String::from_utf8_lossy(&body),
        index_v2,
        "after redeploy, /content/{guid}/ does not serve the new index.html"
    );
    let (_, body) = viewer_get(&p, &format!("{root}style.css")).await;
    assert_eq!(body, css, "style.css changed across redeploy");

    let items = json_get(&p, "/__api__/v1/content").await;
    assert_eq!(items.as_array().map(Vec::len), Some(1), "redeploy created another item: {items}");
    let bundles = json_get(&p, &format!("/__api__/v1/content/{guid}/bundles")).await;
    let bundles = bundles.as_array().expect("bundle list is an array");
    assert_eq!(bundles.len(), 2, "expected 2 bundles after a redeploy: {bundles:?}");
    let newest = bundles
        .iter()
        .map(|b| {
            let id = b["id"].as_str().unwrap_or_else(|| panic!("bundle id is not a string: {b}"));
            assert_eq!(b["content_guid"], guid.as_str(), "bundle content_guid: {b}");
            id.parse::<u64>().unwrap_or_else(|_| panic!("bundle id is not numeric: {b}"))
        })
        .max()
        .expect("two bundles");
    let item = json_get(&p, &format!("/__api__/v1/content/{guid}")).await;
    assert_eq!(
        item["bundle_id"].as_str(),
        Some(newest.to_string().as_str()),
        "the active bundle is not the newest one: {item}"
    );
    assert_eq!(item["title"], TITLE, "redeploy without -t changed the title: {item}");

    p.shutdown();
}
