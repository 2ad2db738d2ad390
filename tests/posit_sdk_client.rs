//! The real posit-sdk (`posit.connect.Client`) against a real Porch: me, version,
//! content create/find/get/update/delete, bundles.create (bytes and a file), bundle.deploy,
//! task.wait_for, bundle download, environment variables and error JSON
//! (tests/fixtures/clients/posit_sdk_workflow.py). A viewer then reads what was deployed.

mod common;

use common::{py, Porch};
use reqwest::Method;
use serde_json::{json, Value};

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

/// The number a render of the notebook fixture printed (`PORCH-RENDER 1234…`), not the
/// source line that prints it.
fn render_mark(html: &str) -> String {
    html.match_indices("PORCH-RENDER")
        .map(|(i, _)| &html[i + 12..])
        .map(|rest| rest.trim_start_matches([' ', '\'', ',']))
        .find(|rest| rest.starts_with(|c: char| c.is_ascii_digit()))
        .map(|rest| rest.chars().take_while(char::is_ascii_digit).collect())
        .unwrap_or_else(|| panic!("no render mark in {}", &html[..html.len().min(800)]))
}

/// posit-sdk 0.17's `content.render()` (v0 variants: the item is the one default variant,
/// a render returns a task read at `/v1/tasks/{id}`) on a notebook, and `content.restart()`
/// (a throw-away environment variable, then the content URL) on an app, which gets a new
/// worker. Needs uv for the notebook's and the app's environments.
#[tokio::test(flavor = "multi_thread")]
async fn posit_sdk_renders_a_notebook_and_restarts_an_app() {
    let Some(python) = py::python_with("posit_sdk_renders_a_notebook_and_restarts_an_app", "posit.connect") else {
        return;
    };
    if !common::have_uv() {
        common::skip_or_fail("posit_sdk_renders_a_notebook_and_restarts_an_app", "uv is not installed");
        return;
    }
    let p = Porch::start().await;
    let notebook = p.deploy_fixture("frameworks/notebook", "sdk-notebook");
    let app = p.deploy_fixture("apps/fastapi-app", "sdk-app");
    let page = |path: String| {
        let p = &p;
        async move {
            let r = p.get(&path).await;
            assert_eq!(r.status(), 200, "{path}");
            r.text().await.expect("text")
        }
    };
    let before = render_mark(&page(format!("/content/{notebook}/")).await);
    let pid_before: Value = serde_json::from_str(&page(format!("/content/{app}/")).await).expect("app json");
    let pid_before = pid_before["pid"].as_u64().expect("pid");
    // A named variant beside the default one: one id space, exactly one default.
    let named: Value = p
        .api(Method::POST, &format!("/__api__/v1/content/{notebook}/variants"))
        .json(&json!({"name": "other", "parameters": {}}))
        .send()
        .await
        .expect("variant")
        .json()
        .await
        .expect("json");
    let named_id: i64 = named["id"].as_str().expect("id").parse().expect("numeric id");

    let env = [("NOTEBOOK_GUID", notebook.as_str()), ("APP_GUID", app.as_str())];
    let out = py::run_json(&python, &py::script("posit_sdk_refresh.py"), &p.base, &p.key, &env, TIMEOUT);
    eprintln!("posit-sdk returned: {out:#}");

    let variants = out["variants"].as_array().expect("variants");
    assert_eq!(variants.len(), 2, "{variants:?}");
    let defaults: Vec<&Value> = variants.iter().filter(|v| v["is_default"] == true).collect();
    assert_eq!(defaults.len(), 1, "exactly one default: {variants:?}");
    let default_id = defaults[0]["id"].as_i64().expect("numeric id");
    assert_eq!(out["default_variant"], default_id);
    assert!(variants.iter().any(|v| v["id"] == named_id && v["is_default"] == false), "{variants:?}");
    assert_ne!(default_id, named_id);
    let item: Value = p
        .api(Method::GET, &format!("/__api__/v1/content/{notebook}"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let item_id = item["id"].as_str().expect("v1 ids are strings");
    assert!(
        variants.iter().all(|v| v["app_id"].as_u64().is_some_and(|n| n.to_string() == item_id)),
        "app_id is the item's id: {variants:?}"
    );
    // The v1 variants API still lists only the named variant; the default's id is not one of its.
    let v1: Vec<Value> = p
        .api(Method::GET, &format!("/__api__/v1/content/{notebook}/variants"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert_eq!(v1.len(), 1, "{v1:?}");
    let r =
        p.api(Method::GET, &format!("/__api__/v1/content/{notebook}/variants/{default_id}")).send().await.expect("get");
    assert_eq!(r.status(), 404);

    assert_eq!(out["task"], json!({"finished": true, "error_code": 0, "error_message": ""}), "{out}");
    let task: Value = p
        .api(Method::GET, &format!("/__api__/v1/tasks/{}", out["task_id"].as_str().expect("task id")))
        .send()
        .await
        .expect("task")
        .json()
        .await
        .expect("json");
    assert_eq!(task["finished"], true, "{task}");
    let after = render_mark(&page(format!("/content/{notebook}/")).await);
    assert_ne!(before, after, "the default variant's render replaced the item's page");
    // The named variant was not rendered by the default's render.
    let renders: Vec<Value> = p
        .api(Method::GET, &format!("/__api__/v1/content/{notebook}/renders"))
        .send()
        .await
        .expect("renders")
        .json()
        .await
        .expect("json");
    assert!(renders.iter().all(|r| r["variant_id"].is_null()), "{renders:?}");

    // jobs.fetch() lists the worker that served a page; jobs.find(key) fetches it alone.
    let jobs = out["jobs"].as_array().expect("jobs");
    assert!(!jobs.is_empty() && jobs[0]["pid"].as_u64().is_some(), "{out}");
    assert_eq!(out["job_found"], jobs[0], "{out}");
    assert_eq!(out["job_missing"]["http_status"], 404, "{out}");
    assert_eq!(out["restarted"], true);
    assert_eq!(out["env_after_restart"], json!([]), "the throw-away variable is gone");
    let pid_after: Value = serde_json::from_str(&page(format!("/content/{app}/")).await).expect("app json");
    assert_ne!(pid_after["pid"].as_u64().expect("pid"), pid_before, "restart() gave the app a new worker");
    assert_eq!(out["render_app"], "ValueError");
    assert_eq!(out["restart_notebook"], "ValueError");

    // Bad inputs to the v0 routes: clear JSON errors.
    for (method, path, status) in [
        (Method::GET, "/__api__/applications/no-such-guid/variants".to_string(), 404),
        (Method::POST, "/__api__/variants/not-an-id/render".to_string(), 404),
        (Method::POST, "/__api__/variants/987654/render".to_string(), 404),
        (Method::GET, format!("/__api__/applications/{app}/variants"), 200),
    ] {
        let r = p.api(method.clone(), &path).send().await.expect("send");
        assert_eq!(r.status(), status, "{method} {path}");
        let body: Value = r.json().await.expect("JSON answer");
        if status == 404 {
            assert_eq!(body["code"], 4, "{body}");
        }
    }
    // The app's default variant exists (it is an item) but is not rendered: 400 naming why.
    let app_variants: Vec<Value> = p
        .api(Method::GET, &format!("/__api__/applications/{app}/variants"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    let app_default = app_variants[0]["id"].as_i64().expect("id");
    let r = p.api(Method::POST, &format!("/__api__/variants/{app_default}/render")).send().await.expect("render");
    assert_eq!(r.status(), 400);
    let body: Value = r.json().await.expect("json");
    assert!(body["error"].as_str().unwrap_or("").contains("not rendered"), "{body}");
    // Without a key: refused.
    let r = reqwest::Client::new()
        .post(p.url(&format!("/__api__/variants/{default_id}/render")))
        .send()
        .await
        .expect("post");
    assert_eq!(r.status(), 401);
    p.shutdown();
}
