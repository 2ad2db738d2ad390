//! Server settings saved from the app's Settings pane (`PATCH /__api__/porch/server`) and
//! `porch settings`: checked before anything is saved, the address applied at the next
//! start (unless `--bind`/`--port` say otherwise), runtime defaults at once. The live effect
//! of runtime defaults on a running app is in `interactive.rs`, and of remote publishing
//! from a LAN address in `remote_publishing.rs`.

mod common;

use common::{Opts, Porch};
use reqwest::Method;
use serde_json::{json, Value};

async fn server(p: &Porch) -> Value {
    let r = p.api(Method::GET, "/__api__/porch/server").send().await.expect("server");
    assert_eq!(r.status(), 200);
    r.json().await.expect("json")
}

async fn patch(p: &Porch, body: Value) -> (u16, Value) {
    let r = p.api(Method::PATCH, "/__api__/porch/server").json(&body).send().await.expect("patch");
    (r.status().as_u16(), r.json().await.expect("json"))
}

/// A loopback port nobody listens on right now.
fn unused_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

fn stdout(out: &std::process::Output) -> String {
    assert!(out.status.success(), "porch failed: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[tokio::test]
async fn bad_settings_are_refused_and_change_nothing() {
    let p = Porch::start().await;
    let before = server(&p).await;
    assert_eq!(before["settings"]["port"], 3939);
    assert_eq!(before["settings"]["bind"], "network");
    for (body, names) in [
        (json!({"port": 0}), "port"),
        (json!({"port": 70000}), "port"),
        (json!({"bind": "everywhere"}), "bind"),
        (json!({"allow_remote_publishing": "yes"}), "allow_remote_publishing"),
        (json!({"runtime_defaults": {"load_factor": 3}}), "load_factor"),
        (json!({"runtime_defaults": {"min_processes": 9}}), "min_processes"),
        (json!({"runtime_defaults": {"memory_limit": 1}}), "memory_limit"),
        (json!({"colour": "blue"}), "colour"),
        // One bad field spoils the whole change: the good one is not saved either.
        (json!({"port": 4000, "bind": "mars"}), "bind"),
    ] {
        let (status, err) = patch(&p, body.clone()).await;
        assert_eq!(status, 400, "{body}: {err}");
        let message = err["error"].as_str().unwrap_or_default();
        assert!(message.contains(names), "{body}: the message names {names}: {err}");
    }
    let r = p
        .api(Method::PATCH, "/__api__/porch/server")
        .body("[1]")
        .header("content-type", "application/json")
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 400, "not an object");
    assert_eq!(server(&p).await["settings"], before["settings"], "nothing was saved");

    // The CLI says the same, exits non-zero and saves nothing.
    let out = p.cli(&["settings", "set", "port=99999"]);
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("port"), "{}", String::from_utf8_lossy(&out.stderr));
    let out = p.cli(&["settings", "set", "port"]);
    assert!(!out.status.success(), "a word without = is refused");
    assert_eq!(server(&p).await["settings"], before["settings"], "nothing was saved");
    p.shutdown();
}

#[tokio::test]
async fn the_saved_address_applies_at_the_next_start_unless_flags_say_otherwise() {
    let p = Porch::start().await;
    let v = server(&p).await;
    assert_eq!(v["settings"]["listen_flags"], json!(["--bind", "--port"]), "the harness passes both");
    assert_eq!(v["settings"]["restart_needed"], false);

    let port = unused_port();
    let (status, v) = patch(&p, json!({"port": port, "bind": "local"})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!((v["settings"]["port"].clone(), v["settings"]["bind"].clone()), (json!(port), json!("local")));
    assert_eq!(v["bind"], json!(p.base.trim_start_matches("http://")), "this run keeps its address");
    assert_eq!(v["settings"]["restart_needed"], false, "flags chose this run's address");

    // Started without flags, Porch listens where the settings say.
    let p = p.restart(Opts { saved_address: true, ..Opts::default() }).await;
    assert_eq!(p.base, format!("http://127.0.0.1:{port}"));
    let v = server(&p).await;
    assert_eq!(v["local_only"], true);
    assert_eq!(v["settings"]["listen_flags"], json!([]));
    assert_eq!(v["settings"]["restart_needed"], false);
    assert_eq!(p.get("/").await.status(), 200);

    // A new port is saved for the next start and reported as waiting for it.
    let next = unused_port();
    let (status, v) = patch(&p, json!({"port": next})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["settings"]["restart_needed"], true);
    assert_eq!(v["port"], json!(port), "still listening where it started");
    let shown = stdout(&p.cli(&["settings"]));
    assert!(shown.lines().any(|l| l.starts_with("port") && l.contains(&next.to_string())), "{shown}");
    assert!(shown.lines().any(|l| l.starts_with("bind") && l.contains("local")), "{shown}");

    // Back to the defaults through the CLI: the next start would use 3939 on the network.
    let shown = stdout(&p.cli(&["settings", "set", "port=default", "bind=default"]));
    assert!(shown.lines().any(|l| l.starts_with("port") && l.contains("3939") && l.contains("(default)")), "{shown}");
    common::eventually(20, "the server to read the CLI's change", || async {
        let v = server(&p).await;
        (v["settings"]["port"] == 3939 && v["settings"]["bind"] == "network" && v["settings"]["restart_needed"] == true)
            .then_some(())
    })
    .await;
    p.shutdown();
}

#[tokio::test]
async fn runtime_defaults_are_saved_and_never_leave_an_item_invalid() {
    let p = Porch::start().await;
    let (status, v) = patch(&p, json!({"runtime_defaults": {"max_processes": 5, "idle_timeout": 30}})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["runtime_defaults"]["max_processes"], 5);
    assert_eq!(v["runtime_defaults"]["idle_timeout"], 30);
    assert_eq!(v["settings"]["builtin_runtime_defaults"]["max_processes"], 3, "Connect's default is still shown");
    assert_eq!(v["settings"]["changed_runtime_defaults"], json!(["idle_timeout", "max_processes"]));

    // An item that relies on the higher ceiling blocks lowering it, by name.
    let guid = p.create("eager").await;
    let r = p
        .api(Method::PATCH, &format!("/__api__/v1/content/{guid}"))
        .json(&json!({"min_processes": 4}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 200, "4 fits under the default of 5");
    for body in [json!({"max_processes": 2}), json!({"runtime_defaults": {"max_processes": null}})] {
        let (status, err) = patch(&p, body.clone()).await;
        assert_eq!(status, 400, "{body}: {err}");
        assert!(err["error"].as_str().unwrap_or_default().contains("eager"), "names the item: {err}");
    }
    assert_eq!(server(&p).await["runtime_defaults"]["max_processes"], 5, "nothing was saved");

    // Once the item lets go, the default goes back to Connect's.
    p.api(Method::PATCH, &format!("/__api__/v1/content/{guid}"))
        .json(&json!({"min_processes": null}))
        .send()
        .await
        .expect("patch");
    let (status, v) = patch(&p, json!({"max_processes": null})).await;
    assert_eq!(status, 200, "{v}");
    assert_eq!(v["runtime_defaults"]["max_processes"], 3);
    assert_eq!(v["settings"]["changed_runtime_defaults"], json!(["idle_timeout"]));

    // Saved across restarts.
    let p = p.restart(Opts::default()).await;
    assert_eq!(server(&p).await["runtime_defaults"]["idle_timeout"], 30);
    let shown = stdout(&p.cli(&["settings"]));
    assert!(
        shown.lines().any(|l| l.starts_with("idle_timeout") && l.contains("30") && !l.contains("(default)")),
        "{shown}"
    );
    p.shutdown();
}

#[tokio::test]
async fn every_setting_of_the_registry_is_listed_by_the_api_and_the_cli() {
    let p = Porch::start().await;
    let v = server(&p).await;
    let entries = v["settings"]["entries"].as_array().cloned().expect("entries");
    let names: Vec<&str> = entries.iter().filter_map(|e| e["name"].as_str()).collect();
    for name in ["port", "bind", "allow_remote_publishing", "max_processes", "load_factor", "read_timeout"] {
        assert!(names.contains(&name), "{name} is missing from {names:?}");
    }
    for e in &entries {
        assert_eq!(e["is_default"], true, "nothing saved yet: {e}");
        assert_eq!(e["value"], e["default"], "{e}");
        assert!(!e["help"].as_str().unwrap_or_default().is_empty(), "every setting says what it does: {e}");
    }
    let by_name = |v: &Value, n: &str| {
        v["settings"]["entries"].as_array().and_then(|a| a.iter().find(|e| e["name"] == n).cloned()).expect("entry")
    };
    assert_eq!(by_name(&v, "max_processes")["default"], 3, "Connect's built-in default");
    assert_eq!(by_name(&v, "port")["applies"], "at_restart");

    // Saved through the CLI: the entry shows the value, no longer the default.
    let shown = stdout(&p.cli(&["settings", "set", "remote-publishing=on", "max_processes=5"]));
    let v = server(&p).await;
    let remote = by_name(&v, "allow_remote_publishing");
    assert_eq!((remote["value"].clone(), remote["is_default"].clone()), (json!(true), json!(false)));
    assert_eq!(by_name(&v, "max_processes")["value"], 5);
    // `porch settings` prints one line per entry, by its CLI name.
    for e in v["settings"]["entries"].as_array().expect("entries") {
        let cli = e["cli_name"].as_str().expect("cli name");
        assert!(shown.lines().any(|l| l.split_whitespace().next() == Some(cli)), "{cli} not printed:\n{shown}");
    }
    assert!(shown.lines().any(|l| l.starts_with("remote-publishing") && l.contains("on") && !l.contains("(default)")));
    assert!(shown.lines().any(|l| l.starts_with("max_processes") && l.contains('5') && !l.contains("(default)")));
    assert!(shown.lines().any(|l| l.starts_with("idle_timeout") && l.contains("(default)")));
    p.shutdown();
}

#[tokio::test]
async fn the_network_name_is_one_label_refused_with_the_rule_otherwise_and_applies_at_once() {
    let p = Porch::start().await;
    let before = server(&p).await;
    let nn = &before["network_name"];
    // Bound to this computer only: nothing is announced, and the view says why.
    assert_eq!(nn["state"], "local_only", "{nn}");
    assert!(nn["note"].as_str().unwrap_or_default().contains("this computer only"), "{nn}");
    assert!(nn["wanted"].as_str().unwrap_or_default().ends_with(".local"), "the computer's name by default: {nn}");
    assert!(!before["viewer_urls"].to_string().contains(".local"), "no name is used while none is announced");

    for (name, says) in [
        ("my laptop", "Try \"my-laptop\""),
        ("Jürgen", "Try \"jurgen\""),
        ("", "it is empty"),
        ("-", "such as \"my-laptop\""),
        ("a.b.c", "Try \"a-b-c\""),
    ] {
        let (status, err) = patch(&p, json!({ "hostname": name })).await;
        assert_eq!(status, 400, "{name:?}: {err}");
        let message = err["error"].as_str().unwrap_or_default();
        assert!(message.contains("hostname") && message.contains("letters a–z, digits and hyphens only"), "{message}");
        assert!(message.contains(says), "{name:?}: {message}");
    }
    let (status, _) = patch(&p, json!({ "hostname": "x".repeat(64) })).await;
    assert_eq!(status, 400, "64 bytes is one too many");
    assert_eq!(server(&p).await["settings"], before["settings"], "nothing was saved");
    let out = p.cli(&["settings", "set", "hostname=my laptop"]);
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Try \"my-laptop\""),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );

    // A valid name is lowercased, loses `.local`, and is the one wanted at once.
    let (status, v) = patch(&p, json!({ "hostname": "Team-Reports.local" })).await;
    assert_eq!(status, 200, "{v}");
    let entry = v["settings"]["entries"].as_array().and_then(|a| a.iter().find(|e| e["name"] == "hostname").cloned());
    assert_eq!(entry.map(|e| e["value"].clone()), Some(json!("team-reports")));
    common::eventually(20, "the new name to be wanted", || async {
        (server(&p).await["network_name"]["wanted"] == "team-reports.local").then_some(())
    })
    .await;
    let (status, _) = patch(&p, json!({ "discovery": false })).await;
    assert_eq!(status, 200);
    common::eventually(20, "discovery to be off", || async {
        let v = server(&p).await;
        (v["network_name"]["state"] == "off" && v["network_name"]["note"].as_str().is_some_and(|n| n.contains("off")))
            .then_some(())
    })
    .await;
    p.shutdown();
}
