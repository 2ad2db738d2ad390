//! Black-box tests of the calls the desktop/browser UI adds to the API (`/__api__/porch/…`)
//! and of the UI's own page at `/__porch__/`, against the real `porch serve`:
//! API keys (create, use, list, revoke), bundle inspection (what a drop would deploy;
//! nothing stored), schedule previews (next runs; nothing stored), the server view, and
//! live events for renders.

mod common;

use common::{targz, Porch};
use reqwest::Method;
use serde_json::{json, Value};

async fn json_of(r: reqwest::Response) -> (u16, Value) {
    let status = r.status().as_u16();
    let text = r.text().await.expect("body");
    (status, serde_json::from_str(&text).unwrap_or_else(|e| panic!("not JSON ({e}): {text}")))
}

#[tokio::test]
async fn api_keys_are_created_used_listed_and_revoked() {
    let p = Porch::start().await;
    let (status, created) = json_of(
        p.api(Method::POST, "/__api__/porch/keys").json(&json!({"name": "laptop"})).send().await.expect("create"),
    )
    .await;
    assert_eq!(status, 200, "{created}");
    let key = created["key"].as_str().expect("key").to_string();
    assert!(key.len() >= 32, "a long random key: {key}");
    assert_eq!(created["name"], "laptop");

    // The new key works like any other.
    let with_new = |m: Method, path: &str| p.http.request(m, p.url(path)).header("Authorization", format!("Key {key}"));
    assert_eq!(with_new(Method::GET, "/__api__/v1/content").send().await.expect("list").status(), 200);

    // Listed by name, never with the key itself.
    let (_, list) = json_of(p.api(Method::GET, "/__api__/porch/keys").send().await.expect("keys")).await;
    let names: Vec<&str> = list.as_array().expect("array").iter().filter_map(|k| k["name"].as_str()).collect();
    assert!(names.contains(&"laptop") && names.contains(&"test"), "{list}");
    assert!(!list.to_string().contains(&key), "the key never appears in the list");

    // Revoked: refused from then on; revoking again is a clear 404.
    let id = created["id"].as_str().expect("id");
    let r = p.api(Method::DELETE, &format!("/__api__/porch/keys/{id}")).send().await.expect("revoke");
    assert_eq!(r.status(), 204);
    assert_eq!(with_new(Method::GET, "/__api__/v1/content").send().await.expect("list").status(), 401);
    let (status, err) =
        json_of(p.api(Method::DELETE, &format!("/__api__/porch/keys/{id}")).send().await.expect("revoke again")).await;
    assert_eq!(status, 404);
    assert!(err["error"].as_str().expect("message").contains("API key"), "{err}");
    // The harness's own key is untouched.
    assert_eq!(p.api(Method::GET, "/__api__/v1/content").send().await.expect("list").status(), 200);

    // A key needs a name; nothing is created without one.
    let (status, err) =
        json_of(p.api(Method::POST, "/__api__/porch/keys").json(&json!({"name": "  "})).send().await.expect("create"))
            .await;
    assert_eq!(status, 400, "{err}");
    assert!(err["error"].as_str().expect("message").contains("name"), "{err}");
    let (_, list) = json_of(p.api(Method::GET, "/__api__/porch/keys").send().await.expect("keys")).await;
    assert_eq!(list.as_array().expect("array").len(), 1, "{list}");

    // Without a key, none of this is reachable.
    let r = p.http.get(p.url("/__api__/porch/keys")).send().await.expect("anon");
    assert_eq!(r.status(), 401);
}

#[tokio::test]
async fn inspect_reports_what_a_deploy_would_detect_and_stores_nothing() {
    let p = Porch::start().await;
    let app = targz(&[
        ("app.py", b"from fastapi import FastAPI\napp = FastAPI()\n"),
        ("requirements.txt", b"# web\nfastapi>=0.100\n\nuvicorn\n"),
        ("data/input.csv", b"a,b\n1,2\n"),
    ]);
    let (status, v) = json_of(
        p.api(Method::POST, "/__api__/porch/inspect?filename=Sales%20API.tar.gz")
            .body(app)
            .send()
            .await
            .expect("inspect"),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["app_mode"], "python-fastapi");
    assert_eq!(v["runtime"], "interactive");
    assert_eq!(v["entrypoint"], "app");
    assert_eq!(v["name"], "sales-api");
    assert_eq!(v["title"], "Sales API");
    assert_eq!(v["declared"], false);
    assert_eq!(v["requirements"], json!(["fastapi>=0.100", "uvicorn"]));
    assert_eq!(v["files"], json!(["app.py", "data/", "requirements.txt"]));
    assert_eq!(v["existing_guid"], Value::Null);

    // A declared manifest wins and its versions are reported.
    let manifest = json!({"version": 1, "metadata": {"appmode": "static", "primary_html": "report.html"},
        "python": {"version": "3.11.7"}, "quarto": {"version": "1.6.40"}, "files": {}});
    let site = targz(&[("manifest.json", manifest.to_string().as_bytes()), ("report.html", b"<h1>r</h1>")]);
    let (status, v) =
        json_of(p.api(Method::POST, "/__api__/porch/inspect?filename=site").body(site).send().await.expect("inspect"))
            .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!((v["app_mode"].as_str(), v["declared"].as_bool()), (Some("static"), Some(true)));
    assert_eq!(v["primary_html"], "report.html");
    assert_eq!((v["python_version"].as_str(), v["quarto_version"].as_str()), (Some("3.11.7"), Some("1.6.40")));

    // An existing item with the suggested name is reported (a deploy would update it).
    let guid = p.create("site").await;
    let site = targz(&[("index.html", b"<h1>x</h1>")]);
    let (_, v) =
        json_of(p.api(Method::POST, "/__api__/porch/inspect?filename=site").body(site).send().await.expect("inspect"))
            .await;
    assert_eq!(v["existing_guid"], json!(guid));

    // What cannot be published says why, with the code the UI branches on.
    let junk = targz(&[("notes.txt", b"just notes")]);
    let (status, err) =
        json_of(p.api(Method::POST, "/__api__/porch/inspect?filename=notes").body(junk).send().await.expect("inspect"))
            .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["porch_code"], "InvalidManifest", "{err}");
    assert!(err["error"].as_str().expect("message").contains("notes.txt"), "names what it found: {err}");
    let (status, err) =
        json_of(p.api(Method::POST, "/__api__/porch/inspect").body("not an archive").send().await.expect("inspect"))
            .await;
    assert_eq!(status, 400, "{err}");

    // Nothing was stored: one item (made above), no bundles, nothing left in tmp/.
    let (_, list) = json_of(p.api(Method::GET, "/__api__/v1/content").send().await.expect("list")).await;
    assert_eq!(list.as_array().expect("array").len(), 1);
    let (_, bundles) =
        json_of(p.api(Method::GET, &format!("/__api__/v1/content/{guid}/bundles")).send().await.expect("bundles"))
            .await;
    assert_eq!(bundles, json!([]));
    let leftovers = p.scratch_leftovers();
    assert!(leftovers.is_empty(), "scratch files left behind: {leftovers:?}");
}

#[tokio::test]
async fn stage_stores_an_uploaded_bundle_without_deploying_it() {
    // The desktop shell's drop: the shell packs the dropped folder, the server stores it.
    let p = Porch::start().await;
    let site = targz(&[("index.html", b"<h1>staged</h1>")]);
    let (status, v) = json_of(
        p.api(Method::POST, "/__api__/porch/stage?filename=Team%20Site&appmode=static")
            .body(site)
            .send()
            .await
            .expect("stage"),
    )
    .await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["created"], true, "{v}");
    assert_eq!(v["content"]["name"], "team-site", "{v}");
    assert_eq!(v["content"]["title"], "Team Site", "{v}");
    let guid = v["content"]["guid"].as_str().expect("guid").to_string();
    let bundle = v["bundle_id"].as_str().expect("bundle id").to_string();
    // Stored, not deployed: the bundle exists and is not active.
    let (_, bundles) =
        json_of(p.api(Method::GET, &format!("/__api__/v1/content/{guid}/bundles")).send().await.expect("bundles"))
            .await;
    let listed = bundles.as_array().expect("array");
    assert_eq!(listed.len(), 1, "{bundles}");
    assert_eq!(listed[0]["id"], bundle.as_str());
    assert_eq!(listed[0]["active"], false, "{bundles}");

    // A second stage under the same name adds a bundle to the same item.
    let site = targz(&[("index.html", b"<h1>again</h1>")]);
    let (status, again) = json_of(
        p.api(Method::POST, "/__api__/porch/stage?filename=x&name=team-site").body(site).send().await.expect("stage"),
    )
    .await;
    assert_eq!(status, 200, "{again}");
    assert_eq!((again["created"].as_bool(), again["content"]["guid"].as_str()), (Some(false), Some(guid.as_str())));

    // What cannot be published leaves no new item behind, and says why.
    let junk = targz(&[("notes.txt", b"just notes")]);
    let (status, err) =
        json_of(p.api(Method::POST, "/__api__/porch/stage?filename=notes").body(junk).send().await.expect("stage"))
            .await;
    assert_eq!(status, 400, "{err}");
    assert_eq!(err["porch_code"], "InvalidManifest", "{err}");
    let (_, list) = json_of(p.api(Method::GET, "/__api__/v1/content").send().await.expect("list")).await;
    assert_eq!(list.as_array().expect("array").len(), 1, "{list}");
    let leftovers = p.scratch_leftovers();
    assert!(leftovers.is_empty(), "scratch files left behind: {leftovers:?}");
}

#[tokio::test]
async fn schedule_preview_lists_the_next_runs_without_storing() {
    let p = Porch::start().await;
    let body = json!({"type": "day", "schedule": "{\"N\":1}", "start_time": "2026-01-05T08:00:00Z", "timezone": "Europe/Berlin"});
    let (status, runs) =
        json_of(p.api(Method::POST, "/__api__/porch/schedules/preview").json(&body).send().await.expect("preview"))
            .await;
    assert_eq!(status, 200, "{runs}");
    let runs = runs.as_array().expect("array");
    assert_eq!(runs.len(), 5);
    let utc: Vec<&str> = runs.iter().map(|r| r["utc"].as_str().expect("utc")).collect();
    assert!(utc.windows(2).all(|w| w[0] < w[1]), "ascending: {utc:?}");
    for r in runs {
        // 09:00 on Berlin's wall clock every day, whatever the offset (DST) that day.
        assert!(r["local"].as_str().expect("local").contains("T09:00:00"), "{r}");
        assert!(r["local"].as_str().expect("local").ends_with("[Europe/Berlin]"), "{r}");
    }

    let bad = json!({"type": "day", "schedule": "{\"N\":1}", "start_time": "2026-01-05T08:00:00Z", "timezone": "Mars/Olympus"});
    let (status, err) =
        json_of(p.api(Method::POST, "/__api__/porch/schedules/preview").json(&bad).send().await.expect("preview"))
            .await;
    assert_eq!(status, 400);
    assert!(err["error"].as_str().expect("message").contains("Mars/Olympus"), "names the bad zone: {err}");
    let bad = json!({"type": "cron", "schedule": "{\"Cron\":\"61 * * * *\"}", "start_time": "2026-01-05T08:00:00Z", "timezone": "UTC"});
    let (status, _) =
        json_of(p.api(Method::POST, "/__api__/porch/schedules/preview").json(&bad).send().await.expect("preview"))
            .await;
    assert_eq!(status, 400);
}

#[tokio::test]
async fn server_view_and_the_ui_page() {
    let p = Porch::start().await;
    let (status, v) = json_of(p.api(Method::GET, "/__api__/porch/server").send().await.expect("server")).await;
    assert_eq!(status, 200, "{v}");
    let port = p.base.rsplit(':').next().and_then(|s| s.parse::<u64>().ok()).expect("port");
    assert_eq!(v["port"], json!(port));
    assert_eq!(v["local_only"], true, "bound to 127.0.0.1");
    assert_eq!(v["sharing_paused"], false);
    assert_eq!(v["allow_remote_publishing"], false);
    assert_eq!(v["runtime_defaults"]["max_processes"], 3);
    let data_dir = std::fs::canonicalize(p.data_dir()).expect("canonical");
    assert_eq!(v["data_dir"], json!(data_dir.display().to_string()));
    assert_eq!(v["viewer_urls"], json!([format!("{}/", p.base)]));

    // Pausing and resuming are reported back (the LAN effect is in remote_publishing.rs).
    let (_, v) = json_of(
        p.api(Method::PUT, "/__api__/porch/sharing").json(&json!({"paused": true})).send().await.expect("pause"),
    )
    .await;
    assert_eq!(v["sharing_paused"], true);
    let (status, _) = json_of(
        p.api(Method::PUT, "/__api__/porch/sharing").json(&json!({"paused": "yes"})).send().await.expect("bad"),
    )
    .await;
    assert_eq!(status, 400, "a non-boolean is refused");
    let (_, v) = json_of(p.api(Method::GET, "/__api__/porch/server").send().await.expect("server")).await;
    assert_eq!(v["sharing_paused"], true, "a refused change changes nothing");
    // This computer is never paused.
    assert_eq!(p.get("/").await.status(), 200);

    // The UI: the embedded build when ui/dist was built before the binary, else a page
    // that says how to build it. Either way, no API data is in it and it needs no key.
    let built = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("ui/dist/index.html").is_file();
    let r = p.get("/__porch__").await;
    assert_eq!(r.status(), 308);
    assert_eq!(r.headers()["location"], "/__porch__/", "redirected to the slash form");
    let r = p.get("/__porch__/").await;
    let status = r.status().as_u16();
    let html = r.text().await.expect("html");
    if built {
        assert_eq!(status, 200, "{html}");
        assert!(html.contains("<div id=\"app\">"), "{html}");
        let asset = html.split("src=\"./").nth(1).and_then(|s| s.split('"').next()).expect("a script asset");
        let r = p.get(&format!("/__porch__/{asset}")).await;
        assert_eq!(r.status(), 200);
        assert!(r.headers()["content-type"].to_str().expect("ctype").contains("javascript"));
        assert_eq!(p.get("/__porch__/assets/missing.js").await.status(), 404);
        // Client-side routes get the app shell.
        assert_eq!(p.get("/__porch__/item/x").await.status(), 200);
    } else {
        assert_eq!(status, 503);
        assert!(html.contains("npm --prefix ui run build"), "says how to build the UI: {html}");
    }
}

#[tokio::test]
async fn events_stream_reports_content_changes_to_the_ui() {
    let p = Porch::start().await;
    let mut resp = p.api(Method::GET, "/__api__/porch/events").send().await.expect("events");
    assert_eq!(resp.status(), 200);
    assert!(resp.headers()["content-type"].to_str().expect("ctype").starts_with("text/event-stream"));
    let guid = p.create("evented").await;
    let mut seen = String::new();
    let found = tokio::time::timeout(std::time::Duration::from_secs(30), async {
        while let Some(chunk) = resp.chunk().await.expect("chunk") {
            seen.push_str(&String::from_utf8_lossy(&chunk));
            if seen.contains(&format!("\"guid\":\"{guid}\"")) {
                return true;
            }
        }
        false
    })
    .await
    .unwrap_or(false);
    assert!(found, "no content_changed event for {guid}; got {seen:?}");
    assert!(seen.contains("\"type\":\"content_changed\""), "{seen}");
}

#[tokio::test]
async fn inspect_offers_and_applies_a_chosen_appmode_and_entry_point() {
    let p = Porch::start().await;
    let bundle = || {
        targz(&[
            ("index.html", b"<h1>site</h1>"),
            ("other.html", b"<h1>other</h1>"),
            ("report.ipynb", br#"{"cells":[],"metadata":{},"nbformat":4,"nbformat_minor":5}"#),
        ])
    };
    let inspect = |query: &str| {
        p.api(Method::POST, &format!("/__api__/porch/inspect?filename=site{query}")).body(bundle()).send()
    };

    // As detected: a notebook; the choices are the appmodes Porch runs and the notebooks.
    let (status, v) = json_of(inspect("").await.expect("inspect")).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!((v["app_mode"].as_str(), v["entrypoint"].as_str()), (Some("jupyter-static"), Some("report.ipynb")));
    assert_eq!(v["entrypoints"], json!(["report.ipynb"]));
    let modes: Vec<&str> = v["app_modes"].as_array().expect("modes").iter().filter_map(Value::as_str).collect();
    for m in ["static", "jupyter-static", "quarto-static", "rmd-static", "python-dash", "python-streamlit", "shiny"] {
        assert!(modes.contains(&m), "{m} in {modes:?}");
    }
    assert!(!modes.contains(&"nodejs"), "Porch cannot run nodejs: {modes:?}");

    // Another appmode: its conventional entry point and its own candidates.
    let (status, v) = json_of(inspect("&appmode=static").await.expect("inspect")).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!((v["app_mode"].as_str(), v["runtime"].as_str()), (Some("static"), Some("static")));
    assert_eq!(v["primary_html"], "index.html");
    assert_eq!(v["entrypoints"], json!(["index.html", "other.html"]));

    // Both chosen.
    let (status, v) = json_of(inspect("&appmode=static&entrypoint=other.html").await.expect("inspect")).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!((v["primary_html"].as_str(), v["entrypoint"].as_str()), (Some("other.html"), Some("other.html")));

    // Choices that do not fit: the 400 a deploy would get, naming the problem and the choices.
    for (query, wants) in [
        ("&appmode=cobol", vec!["\"cobol\"", "static"]),
        ("&entrypoint=missing.ipynb", vec!["\"missing.ipynb\" is not in the bundle", "report.ipynb"]),
        ("&appmode=static&entrypoint=report.ipynb", vec!["does not fit appmode static", "index.html, other.html"]),
    ] {
        let (status, err) = json_of(inspect(query).await.expect("inspect")).await;
        assert_eq!(status, 400, "{query}: {err}");
        assert_eq!(err["porch_code"], "InvalidRequest", "{err}");
        let msg = err["error"].as_str().expect("message");
        for w in wants {
            assert!(msg.contains(w), "{query}: {msg:?} should mention {w:?}");
        }
    }

    // Nothing was stored.
    let (_, list) = json_of(p.api(Method::GET, "/__api__/v1/content").send().await.expect("list")).await;
    assert_eq!(list, json!([]));
    let leftovers = p.scratch_leftovers();
    assert!(leftovers.is_empty(), "scratch files left behind: {leftovers:?}");
}
