//! The real `pins` package (pins-python, `board_connect`) against a real Porch: write two
//! versions of a public pin and one private pin, read the latest and an old version, list,
//! search, read metadata, delete a version and a pin (tests/fixtures/clients/pins_workflow.py).
//! Then a viewer without a key reads the public pin, sees it on the landing page with its
//! versions and a download link, and is refused the private one.

mod common;

use common::{py, Porch};
use serde_json::Value;

const TIMEOUT: u64 = 300;

async fn json_get(p: &Porch, path: &str) -> Value {
    let r = p.api(reqwest::Method::GET, path).send().await.expect("GET");
    let status = r.status();
    let body = r.text().await.expect("body");
    assert_eq!(status, 200, "GET {path}: {body}");
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: not JSON ({e}): {body}"))
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("not an array: {v}"))
        .iter()
        .map(|s| s.as_str().expect("string").to_string())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn pins_board_connect_round_trip() {
    let Some(python) = py::python_with("pins_client", "pins") else { return };
    let p = Porch::start().await;
    let out = py::run_json(&python, &py::script("pins_workflow.py"), &p.base, &p.key, &[], TIMEOUT);
    eprintln!("pins returned: {out:#}");
    let user = out["user"].as_str().expect("user");
    let cars = format!("{user}/cars");

    // Versions are the bundle ids, numeric and increasing.
    let written = strs(&out["write"]);
    let ids: Vec<u64> =
        written.iter().map(|v| v.parse().unwrap_or_else(|_| panic!("version {v} is not numeric"))).collect();
    assert!(ids[0] < ids[1], "versions: {written:?}");
    let (v1, v2) = (&written[0], &written[1]);
    assert_eq!(strs(&out["versions"]), written, "pin_versions");

    // The latest and the old version read back as written.
    assert_eq!(out["read_latest"]["model"], serde_json::json!(["Mazda RX4", "Datsun 710", "Valiant"]));
    assert_eq!(out["read_latest"]["mpg"], serde_json::json!([21.0, 22.8, 18.1]));
    assert_eq!(out["read_old"]["model"], serde_json::json!(["Mazda RX4", "Datsun 710"]));
    assert_eq!(out["read_slashed"], out["read_latest"], "a board on the server URL with a trailing slash");

    let meta = &out["meta"];
    assert_eq!(meta["title"], "Cars", "{meta}");
    assert_eq!(meta["description"], "Fuel use of some cars", "{meta}");
    assert_eq!(meta["type"], "csv", "{meta}");
    assert_eq!(meta["file"], "cars.csv", "{meta}");
    assert_eq!(meta["user"]["source"], "porch-test", "{meta}");
    assert_eq!(meta["version"], v2.as_str(), "{meta}");
    assert_eq!(out["meta_old_rows"], 2, "pin_meta of the old version");
    assert_eq!(out["notes"], serde_json::json!({"hello": "porch", "n": [1, 2, 3]}));

    let list = strs(&out["list"]);
    assert!(list.contains(&cars) && list.contains(&format!("{user}/notes")), "pin_list: {list:?}");
    assert_eq!(strs(&out["search"]), vec![cars.clone()], "pin_search(\"car\")");
    assert_eq!(out["search_none"], 0);

    // Deleting the active version is refused (code 75), which pins turns into its own message.
    let refused = out["delete_active"].as_str().expect("delete_active");
    assert!(
        refused.starts_with("PinsError") && refused.contains("cannot delete the latest pin version"),
        "delete of the active version: {refused}"
    );
    assert_eq!(strs(&out["versions_after_delete"]), vec![v2.clone()], "after pin_version_delete");
    assert!(out["read_deleted"].as_str().expect("read_deleted") != "read", "a deleted version still reads");
    assert_eq!(out["notes_exists_after_delete"], false);
    assert_eq!(out["cars_exists"], true);

    // Porch's side: pins are content with content_category "pin"; versions are bundles.
    let apps = json_get(&p, "/__api__/applications?filter=content_type:pin&count=1000").await;
    let names: Vec<&str> = apps["applications"]
        .as_array()
        .expect("applications")
        .iter()
        .map(|a| a["name"].as_str().expect("name"))
        .collect();
    assert_eq!(names.len(), 2, "pins listed: {apps}");
    assert!(names.contains(&"cars") && names.contains(&"secret"), "pins listed: {apps}");
    let items = json_get(&p, "/__api__/v1/content?name=cars").await;
    let item = &items[0];
    assert_eq!(item["content_category"], "pin", "{item}");
    assert_eq!(item["bundle_id"], v2.as_str(), "{item}");
    let guid = item["guid"].as_str().expect("guid");
    let bundles = json_get(&p, &format!("/__api__/v1/content/{guid}/bundles")).await;
    assert_eq!(bundles.as_array().map(Vec::len), Some(1), "{bundles}");

    // A viewer without a key reads the public pin's file and preview ...
    let csv = p.get(&format!("/content/{guid}/_rev{v2}/cars.csv")).await;
    assert_eq!(csv.status(), 200);
    let csv = csv.text().await.expect("csv");
    assert!(csv.contains("Valiant"), "cars.csv: {csv}");
    let preview = p.get(&format!("/content/{guid}/")).await;
    assert_eq!(preview.status(), 200, "pin preview page");

    // ... and the landing page lists it with its versions and a download link.
    let landing = p.get("/").await.text().await.expect("landing");
    assert!(landing.contains("Cars"), "landing page does not list the pin:\n{landing}");
    let link = format!("/content/{guid}/_rev{v2}/cars.csv");
    assert!(landing.contains(&link), "landing page has no download link {link}:\n{landing}");
    assert!(!landing.contains(&format!("_rev{v1}/")), "landing page links a deleted version:\n{landing}");
    // A private pin (`access_type: acl`) is "only this computer": listed, and labelled so,
    // for a visitor on this machine only (tests/access.rs and remote_publishing.rs cover the LAN).
    let secret_item = landing
        .split("<li>")
        .find(|li| li.contains("Secret"))
        .unwrap_or_else(|| panic!("no private pin for a local visitor:\n{landing}"));
    assert!(secret_item.contains("only this computer"), "{secret_item}");

    // Shared by secret link instead, it needs the link (or the key), on the `_rev` URL too.
    let secret = json_get(&p, "/__api__/v1/content?name=secret").await;
    let sguid = secret[0]["guid"].as_str().expect("guid");
    let r = p
        .api(reqwest::Method::PATCH, &format!("/__api__/v1/content/{sguid}"))
        .json(&serde_json::json!({"viewer_access": "link"}))
        .send()
        .await
        .expect("PATCH");
    assert_eq!(r.status(), 200);
    let sv = out["secret_version"].as_str().expect("secret_version");
    let path = format!("/content/{sguid}/_rev{sv}/secret.json");
    assert_eq!(p.get(&path).await.status(), 404, "link-only pin without the link or a key");
    let with_key = p.api(reqwest::Method::GET, &path).send().await.expect("GET");
    assert_eq!(with_key.status(), 200);
    let body: Value = with_key.json().await.expect("json");
    assert_eq!(body, serde_json::json!({"k": 1}));

    p.shutdown();
}
