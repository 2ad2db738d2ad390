//! The real posit-sdk (`posit.connect.Client`) against a real Porch: me, version,
//! content create/find/get/update/delete, bundles.create (bytes and a file), bundle.deploy,
//! task.wait_for, bundle download, environment variables and error JSON
//! (tests/fixtures/clients/posit_sdk_workflow.py). A viewer then reads what was deployed.

mod common;

use common::{py, Porch};
use serde_json::Value;

const TIMEOUT: u64 = 300;

#[tokio::test(flavor = "multi_thread")]
async fn posit_sdk_content_bundles_tasks_and_environment() {
    let Some(python) = py::python_with("posit_sdk_client", "posit.connect") else { return };
    let p = Porch::start().await;
    let out = py::run_json(&python, &py::script("posit_sdk_workflow.py"), &p.base, &p.key, &[], TIMEOUT);
    eprintln!("posit-sdk returned: {out:#}");

    let me: Value =
        p.api(reqwest::Method::GET, "/__api__/v1/user").send().await.expect("user").json().await.expect("json");
    assert_eq!(out["me"]["username"], me["username"]);
    assert_eq!(out["me"]["guid"], me["guid"]);
    assert_eq!(out["user_by_guid"], me["username"], "users.get(guid)");
    let settings: Value = p.get("/__api__/server_settings").await.json().await.expect("json");
    assert_eq!(out["version"], settings["version"]);

    let guid = out["created"]["guid"].as_str().expect("guid");
    assert_eq!(out["created"]["name"], "sdk-site");
    assert_eq!(out["created"]["app_mode"], "unknown", "before the first deploy");
    assert_eq!(out["created"]["bundle_id"], Value::Null);
    assert_eq!(out["find"], serde_json::json!([guid]));
    assert_eq!(out["find_none"], 0);
    assert_eq!(out["get"]["title"], "SDK site");
    assert_eq!(out["get"]["owner"], me["username"]);
    assert_eq!(out["get"]["content_url"], format!("{}/content/{guid}/", p.base));
    assert_eq!(out["get"]["dashboard_url"], format!("{}/__porch__/#/content/{guid}", p.base));
    assert_eq!(out["updated"], serde_json::json!({"title": "SDK site, renamed", "description": "made by posit-sdk"}));

    for t in ["task1", "task2"] {
        assert_eq!(out[t]["finished"], true, "{t}: {}", out[t]);
        assert_eq!(out[t]["error_code"], 0, "{t}: {}", out[t]);
    }
    let ids = &out["bundle_ids"];
    assert_eq!(out["active_bundle"], ids[1], "the second deploy is active");
    let mut listed: Vec<Value> = ids.as_array().expect("ids").clone();
    listed.sort_by_key(|v| v.as_str().map(str::to_string));
    assert_eq!(out["bundles"], Value::Array(listed));
    assert_eq!(out["downloaded_index"], "<h1>SDK-V1</h1>");

    assert_eq!(out["env_after_set"], serde_json::json!(["GREETING", "OTHER", "TOKEN"]));
    assert_eq!(out["env_after_delete"], serde_json::json!(["GREETING", "TOKEN"]));
    assert_eq!(out["env_after_clear"], serde_json::json!([]));

    assert_eq!(out["missing"]["http_status"], 404, "{}", out["missing"]);
    assert_eq!(out["missing"]["error_code"], 4, "{}", out["missing"]);
    assert_eq!(out["duplicate"]["http_status"], 409, "{}", out["duplicate"]);
    assert_eq!(out["duplicate"]["error_code"], 26, "{}", out["duplicate"]);
    assert_eq!(out["delete_active_bundle"]["error_code"], 75, "{}", out["delete_active_bundle"]);
    assert_eq!(out["lockfile"]["http_status"], 404, "{}", out["lockfile"]);
    assert_eq!(out["lockfile"]["error_code"], 4, "{}", out["lockfile"]);
    assert_eq!(out["after_delete"], serde_json::json!(["sdk-site"]), "sdk-temp was deleted");

    // A viewer without a key sees the second bundle's page, titled as updated on the landing page.
    let page = p.get(&format!("/content/{guid}/")).await;
    assert_eq!(page.status(), 200);
    assert_eq!(page.text().await.expect("page"), "<h1>SDK-V2</h1>");
    let landing = p.get("/").await.text().await.expect("landing");
    assert!(landing.contains("SDK site, renamed"), "landing page:\n{landing}");
    assert!(!landing.contains("sdk-temp"), "a deleted item is listed:\n{landing}");
    p.shutdown();
}
