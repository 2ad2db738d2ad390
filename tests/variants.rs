//! Variants: named parameter sets of a rendered document that render, serve and schedule on
//! their own (papermill-style notebook parameters, R Markdown `params`), through the API and
//! the CLI, with their bad inputs. Renders need uv (R Markdown needs R); skipped visibly
//! without them, failing under CI=true.

mod common;

use std::process::Command;

use common::{eventually, fixture, have_uv, Porch};
use reqwest::Method;
use serde_json::{json, Value};

/// Deploys a fixture folder with the CLI (which renders it once) and returns its guid.
fn deploy(p: &Porch, fixture_dir: &str, name: &str) -> String {
    p.deploy_fixture(fixture_dir, name)
}

/// Adds a variant through the API (which must accept it) and returns it.
async fn add_variant(p: &Porch, guid: &str, body: Value) -> Value {
    let r =
        p.api(Method::POST, &format!("/__api__/v1/content/{guid}/variants")).json(&body).send().await.expect("post");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    r.json().await.expect("json")
}

async fn variants(p: &Porch, guid: &str) -> Vec<Value> {
    p.api(Method::GET, &format!("/__api__/v1/content/{guid}/variants"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json")
}

async fn renders(p: &Porch, guid: &str) -> Vec<Value> {
    p.api(Method::GET, &format!("/__api__/v1/content/{guid}/renders"))
        .send()
        .await
        .expect("renders")
        .json()
        .await
        .expect("json")
}

/// Renders now (a variant when given) and returns the finished task.
async fn render(p: &Porch, guid: &str, variant: Option<&str>) -> Value {
    let body = json!({ "variant_id": variant });
    let r =
        p.api(Method::POST, &format!("/__api__/v1/content/{guid}/render")).json(&body).send().await.expect("render");
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap_or_default());
    let task = r.json::<Value>().await.expect("json")["task_id"].as_str().expect("task").to_string();
    p.wait_task(&task).await
}

async fn page(p: &Porch, path: &str) -> (u16, String) {
    let r = p.get(path).await;
    (r.status().as_u16(), r.text().await.expect("text"))
}

/// The `REGION=… YEAR=…` line a fixture printed (not the source line that prints it).
fn region_line(html: &str) -> String {
    let at = html
        .match_indices("REGION=")
        .map(|(i, _)| i)
        .find(|i| html[i + 7..].starts_with(|c: char| c.is_ascii_lowercase()))
        .unwrap_or_else(|| panic!("no REGION line in {}", &html[..html.len().min(800)]));
    html[at..].split(" RUN=").next().unwrap_or("").chars().take_while(|c| *c != '<' && *c != '\n').collect()
}

#[tokio::test]
async fn notebook_variants_render_serve_and_fail_on_their_own() {
    if !have_uv() {
        common::skip_or_fail("notebook_variants_render_serve_and_fail_on_their_own", "uv is not installed");
        return;
    }
    let p = Porch::start().await;
    let guid = deploy(&p, "frameworks/notebook-params", "regional");
    let url = format!("/__api__/v1/content/{guid}/variants");

    // Bad variants are refused naming the field; nothing is stored.
    let south = add_variant(&p, &guid, json!({"name": "South", "parameters": {"region": "south", "year": 2026}})).await;
    let sid = south["id"].as_str().expect("id").to_string();
    assert_eq!(south["parameters"], json!({"region": "south", "year": 2026}));
    assert!(south["url"].as_str().expect("url").ends_with(&format!("/content/{guid}/_variant{sid}/")));
    let cases: &[(Value, u16, &str)] = &[
        (json!({"name": "", "parameters": {}}), 400, "name"),
        (json!({"name": "x", "parameters": [1, 2]}), 400, "parameters"),
        (json!({"name": "x", "parameters": {"1st": 1}}), 400, "parameters"),
        (json!({"name": "x", "parameters": {"a-b": 1}}), 400, "parameters"),
        (json!({"name": 7}), 400, "name"),
        (json!({"name": "South", "parameters": {}}), 409, "name"),
    ];
    for (body, status, field) in cases {
        let r = p.api(Method::POST, &url).json(body).send().await.expect("post");
        assert_eq!(r.status().as_u16(), *status, "{body}");
        let e: Value = r.json().await.expect("json error");
        assert!(e["error"].as_str().unwrap_or("").starts_with(&format!("{field}:")), "{body} -> {e}");
    }
    assert_eq!(variants(&p, &guid).await.len(), 1, "refused variants are not stored");

    // The variant renders with its parameters into its own URL; the default keeps its own.
    assert_eq!(render(&p, &guid, Some(&sid)).await["code"], 0);
    let (status, html) = page(&p, &format!("/content/{guid}/_variant{sid}/")).await;
    assert_eq!(status, 200);
    assert_eq!(region_line(&html), "REGION=south YEAR=2026");
    let (_, html) = page(&p, &format!("/content/{guid}/")).await;
    assert_eq!(region_line(&html), "REGION=north YEAR=2025");
    let list = renders(&p, &guid).await;
    let mine: Vec<&Value> = list.iter().filter(|r| r["variant_id"] == json!(sid)).collect();
    assert_eq!(mine.len(), 1, "{list:?}");
    assert_eq!(mine[0]["current"], true);
    assert!(mine[0]["url"].as_str().expect("url").contains(&format!("/_variant{sid}/_render")));
    let default_current = list.iter().filter(|r| r["variant_id"].is_null() && r["current"] == true).count();
    assert_eq!(default_current, 1, "the default variant keeps its own current render: {list:?}");

    // The variant page's history switcher links to its own renders, which serve.
    let first = mine[0]["id"].as_str().expect("id").to_string();
    assert!(html_of(&p, &format!("/content/{guid}/_variant{sid}/"))
        .await
        .contains(&format!("_variant{sid}/_render{first}/")));
    let (status, html) = page(&p, &format!("/content/{guid}/_variant{sid}/_render{first}/")).await;
    assert_eq!((status, region_line(&html)), (200, "REGION=south YEAR=2026".to_string()));
    // A render of the default variant is not reachable under the variant.
    let default_id = list.iter().find(|r| r["variant_id"].is_null()).and_then(|r| r["id"].as_str()).expect("default");
    assert_eq!(page(&p, &format!("/content/{guid}/_variant{sid}/_render{default_id}/")).await.0, 404);

    // A failing render of the variant keeps its previous output, byte for byte, and the log.
    let before = html_of(&p, &format!("/content/{guid}/_variant{sid}/")).await;
    let patch = json!({"parameters": {"region": "west"}});
    let r = p.api(Method::PATCH, &format!("{url}/{sid}")).json(&patch).send().await.expect("patch");
    assert_eq!(r.status(), 200);
    let failed = render(&p, &guid, Some(&sid)).await;
    assert_ne!(failed["code"], 0, "an unknown region fails the notebook");
    assert_eq!(html_of(&p, &format!("/content/{guid}/_variant{sid}/")).await, before);
    let list = renders(&p, &guid).await;
    let bad = list.iter().find(|r| r["variant_id"] == json!(sid) && r["status"] == "failed").expect("failed render");
    let log = p
        .api(Method::GET, &format!("/__api__/v1/content/{guid}/renders/{}/log", bad["id"].as_str().expect("id")))
        .send()
        .await
        .expect("log")
        .text()
        .await
        .expect("text");
    assert!(log.contains("unknown region west"), "{log}");

    // Unknown variants: 404 to render or view; a variant id of another item is unknown here.
    let other = p.create("other-doc").await;
    let r = p
        .api(Method::POST, &format!("/__api__/v1/content/{guid}/render"))
        .json(&json!({"variant_id": "999"}))
        .send()
        .await
        .expect("render");
    assert_eq!(r.status(), 404);
    assert_eq!(page(&p, &format!("/content/{guid}/_variant999/")).await.0, 404);
    let r = p.api(Method::GET, &format!("/__api__/v1/content/{other}/variants/{sid}")).send().await.expect("get");
    assert_eq!(r.status(), 404);

    // Deleting the variant removes its renders (and their folders), not the default's.
    let ids: Vec<String> = list
        .iter()
        .filter(|r| r["variant_id"] == json!(sid))
        .map(|r| r["id"].as_str().expect("id").to_string())
        .collect();
    let r = p.api(Method::DELETE, &format!("{url}/{sid}")).send().await.expect("delete");
    assert_eq!(r.status(), 204);
    assert!(renders(&p, &guid).await.iter().all(|r| r["variant_id"].is_null()));
    for id in &ids {
        assert!(!p.data_dir().join("renders").join(id).exists(), "render {id} folder removed");
    }
    assert_eq!(page(&p, &format!("/content/{guid}/_variant{sid}/")).await.0, 404);
    assert_eq!(region_line(&html_of(&p, &format!("/content/{guid}/")).await), "REGION=north YEAR=2025");
    p.shutdown();
}

async fn html_of(p: &Porch, path: &str) -> String {
    let (status, html) = page(p, path).await;
    assert_eq!(status, 200, "{path}: {}", &html[..html.len().min(400)]);
    html
}

#[tokio::test]
async fn a_variant_schedule_renders_that_variant_and_a_redeploy_renders_every_variant() {
    if !have_uv() {
        common::skip_or_fail(
            "a_variant_schedule_renders_that_variant_and_a_redeploy_renders_every_variant",
            "uv is not installed",
        );
        return;
    }
    let p = Porch::start().await;
    let guid = deploy(&p, "frameworks/notebook-params", "regional-sched");
    let east = add_variant(&p, &guid, json!({"name": "east", "parameters": {"region": "east"}})).await;
    let eid = east["id"].as_str().expect("id").to_string();
    let schedules = format!("/__api__/v1/content/{guid}/schedules");
    let start = common::rfc3339_in(2);
    // A variant of another item, or an unknown one, is refused naming the field.
    for bad in [json!("999"), json!("abc")] {
        let def =
            json!({"type": "minute", "schedule": {"N": 1}, "start_time": start, "timezone": "UTC", "variant_id": bad});
        let r = p.api(Method::POST, &schedules).json(&def).send().await.expect("post");
        assert_eq!(r.status(), 400);
        let e: Value = r.json().await.expect("json");
        assert!(e["error"].as_str().unwrap_or("").starts_with("variant_id:"), "{e}");
    }
    let def =
        json!({"type": "minute", "schedule": {"N": 1}, "start_time": start, "timezone": "UTC", "variant_id": eid});
    let r = p.api(Method::POST, &schedules).json(&def).send().await.expect("post");
    assert_eq!(r.status(), 200);
    let s: Value = r.json().await.expect("json");
    assert_eq!(s["variant_id"], json!(eid));
    eventually(90, "the scheduled variant render", || async {
        let list = renders(&p, &guid).await;
        list.iter()
            .any(|r| r["trigger"] == "schedule" && r["status"] == "success" && r["variant_id"] == json!(eid))
            .then_some(())
    })
    .await;
    let list = renders(&p, &guid).await;
    assert!(
        list.iter().all(|r| !(r["trigger"] == "schedule" && r["variant_id"].is_null())),
        "the default variant was not rendered by the variant's schedule: {list:?}"
    );
    assert_eq!(region_line(&html_of(&p, &format!("/content/{guid}/_variant{eid}/")).await), "REGION=east YEAR=2025");
    let r = p
        .api(Method::DELETE, &format!("/__api__/v1/schedules/{}", s["id"].as_str().expect("id")))
        .send()
        .await
        .expect("delete");
    assert_eq!(r.status(), 204);

    // A new version renders the default and then every variant (trigger deploy).
    let dir = tempfile::tempdir().expect("tmp");
    common::copy_tree(&fixture("frameworks/notebook-params"), dir.path());
    let out = p.cli(&["deploy", dir.path().to_str().expect("utf8"), "--name", "regional-sched"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let bundles: Vec<Value> = p
        .api(Method::GET, &format!("/__api__/v1/content/{guid}/bundles"))
        .send()
        .await
        .expect("bundles")
        .json()
        .await
        .expect("json");
    let newest =
        bundles.iter().map(|b| b["id"].as_str().expect("id").parse::<i64>().expect("num")).max().expect("bundle");
    eventually(90, "the variant render of the new version", || async {
        let list = renders(&p, &guid).await;
        list.iter()
            .any(|r| {
                r["variant_id"] == json!(eid)
                    && r["trigger"] == "deploy"
                    && r["status"] == "success"
                    && r["bundle_id"] == json!(newest.to_string())
            })
            .then_some(())
    })
    .await;
    p.shutdown();
}

#[tokio::test]
async fn variants_from_the_cli() {
    if !have_uv() {
        common::skip_or_fail("variants_from_the_cli", "uv is not installed");
        return;
    }
    let p = Porch::start().await;
    let guid = deploy(&p, "frameworks/notebook-params", "regional-cli");
    let out = p.cli(&["variant", "add", "regional-cli", "south", "-P", "region=south", "-P", "year=2030"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = p.cli(&["variant", "add", "regional-cli", "odd", "-P", "1x=3"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("parameters: \"1x\""),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = p.cli(&["variant", "add", "regional-cli", "odd", "-P", "novalue"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("NAME=VALUE"));
    let listed: Vec<Value> = serde_json::from_slice(&p.cli(&["variant", "list", "regional-cli"]).stdout).expect("json");
    assert_eq!(listed.len(), 1, "{listed:?}");
    assert_eq!(listed[0]["parameters"], json!({"region": "south", "year": 2030}), "numbers stay numbers");

    let out = p.cli(&["render", "regional-cli", "--variant", "south"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    let id = listed[0]["id"].as_str().expect("id");
    assert!(stdout.contains(&format!("/content/{guid}/_variant{id}/")), "{stdout}");
    assert_eq!(region_line(&html_of(&p, &format!("/content/{guid}/_variant{id}/")).await), "REGION=south YEAR=2030");
    // A render that fails says why: the notebook's own error, not only that it failed.
    let out = p.cli(&["variant", "add", "regional-cli", "west", "-P", "region=west"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = p.cli(&["render", "regional-cli", "--variant", "west"]);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("the render of regional-cli failed") && err.contains("unknown region west"), "{err}");
    assert!(err.contains("/log"), "it says where the log is: {err}");
    let out = p.cli(&["variant", "rm", "regional-cli", "west"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = p.cli(&["render", "regional-cli", "--variant", "nowhere"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("variant nowhere not found"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    let out = p.cli(&["variant", "rm", "regional-cli", "south"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(page(&p, &format!("/content/{guid}/_variant{id}/")).await.0, 404);
    p.shutdown();
}

#[tokio::test]
async fn r_markdown_params_render_per_variant_where_r_is_installed() {
    let test = "r_markdown_params_render_per_variant_where_r_is_installed";
    let has_rmarkdown = Command::new("Rscript")
        .args(["-e", "library(rmarkdown)"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    if !has_rmarkdown {
        common::skip_or_fail(test, "R with the rmarkdown package (r-cran-rmarkdown, pandoc) is not installed");
        return;
    }
    let p = Porch::start().await;
    let guid = deploy(&p, "frameworks/rmd-params", "regional-rmd");
    assert_eq!(region_line(&html_of(&p, &format!("/content/{guid}/")).await), "REGION=north YEAR=2025");
    let v = add_variant(&p, &guid, json!({"name": "south", "parameters": {"region": "south"}})).await;
    let id = v["id"].as_str().expect("id");
    assert_eq!(render(&p, &guid, Some(id)).await["code"], 0);
    assert_eq!(region_line(&html_of(&p, &format!("/content/{guid}/_variant{id}/")).await), "REGION=south YEAR=2025");
    // A parameter the document does not declare fails that render, with R's message in the log.
    let r = p
        .api(Method::PATCH, &format!("/__api__/v1/content/{guid}/variants/{id}"))
        .json(&json!({"parameters": {"colour": "red"}}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 200);
    let failed = render(&p, &guid, Some(id)).await;
    assert_ne!(failed["code"], 0);
    assert_eq!(region_line(&html_of(&p, &format!("/content/{guid}/_variant{id}/")).await), "REGION=south YEAR=2025");
    p.shutdown();
}
