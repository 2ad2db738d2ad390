//! Schedules end to end: bad input, a real schedule firing, catch-up after a restart (once,
//! or never with catch-up off), and a skipped overlapping run; mail after a render, to a
//! plain local server and to one that requires STARTTLS (or TLS) and a login and whose
//! certificate a throwaway CA signs (the SMTP CA file), and `porch smtp`. Renders use the
//! notebook fixture; needs uv, aiosmtpd in the test venv and openssl (skipped visibly
//! without them, failing under CI=true).

mod common;

use std::time::Duration;

use common::{eventually, fixture, have_uv, rfc3339_in, Porch};
use reqwest::Method;
use serde_json::{json, Value};

/// Deploys the notebook fixture (optionally with marker files) and returns its guid.
async fn deploy_notebook(p: &Porch, name: &str, markers: &[&str]) -> String {
    let dir = tempfile::tempdir().expect("tmp");
    for f in ["report.ipynb", "requirements.txt"] {
        std::fs::copy(fixture("frameworks/notebook").join(f), dir.path().join(f)).expect("copy");
    }
    for m in markers {
        std::fs::write(dir.path().join(m), "x").expect("marker");
    }
    let out = p.cli(&["deploy", dir.path().to_str().expect("utf8"), "--name", name, "--title", name]);
    assert!(out.status.success(), "deploy: {}", String::from_utf8_lossy(&out.stderr));
    let list: Vec<Value> = serde_json::from_slice(&p.cli(&["list", "--json"]).stdout).expect("json");
    list.iter().find(|c| c["name"] == name).and_then(|c| c["guid"].as_str()).expect("guid").to_string()
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

fn by_trigger(list: &[Value], trigger: &str, status: &str) -> usize {
    list.iter().filter(|r| r["trigger"] == trigger && r["status"] == status).count()
}

#[tokio::test]
async fn bad_schedules_are_refused_naming_the_field() {
    let p = Porch::start().await;
    let guid = p.create("sched-bad").await;
    // An undeployed (static/unknown) item takes no schedule either.
    let good = json!({"type": "day", "schedule": "{\"N\": 1}", "start_time": "2026-12-01T07:00:00Z", "timezone": "Europe/Berlin"});
    let r =
        p.api(Method::POST, &format!("/__api__/v1/content/{guid}/schedules")).json(&good).send().await.expect("post");
    assert_eq!(r.status(), 400);
    if !have_uv() {
        common::skip_or_fail("bad_schedules_are_refused_naming_the_field (rendered part)", "uv is not installed");
        return;
    }
    let guid = deploy_notebook(&p, "sched-bad-nb", &[]).await;
    let cases: &[(Value, &str)] = &[
        (
            json!({"type": "fortnightly", "schedule": "{}", "start_time": "2026-12-01T07:00:00Z", "timezone": "UTC"}),
            "type",
        ),
        (
            json!({"type": "day", "schedule": "{\"N\": 1}", "start_time": "2026-12-01T07:00:00Z", "timezone": "Mars/Olympus"}),
            "timezone",
        ),
        (
            json!({"type": "cron", "cron": "61 * * * *", "start_time": "2026-12-01T07:00:00Z", "timezone": "UTC"}),
            "cron",
        ),
        (
            json!({"type": "minute", "schedule": "{\"N\": 0}", "start_time": "2026-12-01T07:00:00Z", "timezone": "UTC"}),
            "N",
        ),
        (
            json!({"type": "dayofweek", "schedule": "{\"Days\": [1, 7]}", "start_time": "2026-12-01T07:00:00Z", "timezone": "UTC"}),
            "Days",
        ),
        (
            json!({"type": "day", "schedule": "{\"N\": 1}", "start_time": "next tuesday", "timezone": "UTC"}),
            "start_time",
        ),
        (
            json!({"type": "day", "schedule": "{\"N\": 1}", "start_time": "2026-12-01T07:00:00Z", "timezone": "UTC", "publish": "yes"}),
            "publish",
        ),
    ];
    for (body, field) in cases {
        let r = p
            .api(Method::POST, &format!("/__api__/v1/content/{guid}/schedules"))
            .json(body)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 400, "{body}");
        let e: Value = r.json().await.expect("json");
        assert!(e["error"].as_str().expect("error").contains(field), "{e} should name {field}");
    }
    let list: Vec<Value> = p
        .api(Method::GET, &format!("/__api__/v1/content/{guid}/schedules"))
        .send()
        .await
        .expect("list")
        .json()
        .await
        .expect("json");
    assert!(list.is_empty(), "nothing stored: {list:?}");
    // A good one lists its next five runs in the zone and in UTC; PATCH with a bad value changes nothing.
    let r =
        p.api(Method::POST, &format!("/__api__/v1/content/{guid}/schedules")).json(&good).send().await.expect("post");
    assert_eq!(r.status(), 200);
    let s: Value = r.json().await.expect("json");
    assert_eq!(s["next_runs"].as_array().expect("runs").len(), 5);
    assert!(s["next_runs"][0]["local"].as_str().expect("local").contains("[Europe/Berlin]"));
    let id = s["id"].as_str().expect("id");
    let r = p
        .api(Method::PATCH, &format!("/__api__/v1/schedules/{id}"))
        .json(&json!({"timezone": "Nowhere/Nothing"}))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 400);
    let again: Value = p
        .api(Method::GET, &format!("/__api__/v1/schedules/{id}"))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert_eq!(again["timezone"], "Europe/Berlin");
    let r = p.api(Method::DELETE, &format!("/__api__/v1/schedules/{id}")).send().await.expect("delete");
    assert_eq!(r.status(), 204);
}

#[tokio::test]
async fn a_schedule_fires_and_an_overlapping_run_is_skipped() {
    if !have_uv() {
        common::skip_or_fail("a_schedule_fires_and_an_overlapping_run_is_skipped", "uv is not installed");
        return;
    }
    let p = Porch::start().await;
    let guid = deploy_notebook(&p, "sched-fire", &[]).await;
    // Every minute from 3 seconds from now: the first run comes at once.
    let def = json!({"type": "minute", "schedule": {"N": 1}, "start_time": rfc3339_in(3), "timezone": "UTC"});
    let r =
        p.api(Method::POST, &format!("/__api__/v1/content/{guid}/schedules")).json(&def).send().await.expect("post");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let list = eventually(60, "a scheduled render", || async {
        let list = renders(&p, &guid).await;
        (by_trigger(&list, "schedule", "success") == 1).then_some(list)
    })
    .await;
    let scheduled =
        list.iter().find(|r| r["trigger"] == "schedule" && r["status"] == "success").expect("scheduled render");
    assert_eq!(scheduled["current"], true, "a published scheduled render is what viewers see: {list:?}");

    // A slow document: a run that fires during a render is skipped and recorded.
    let slow = deploy_notebook(&p, "sched-slow", &["SLEEP"]).await;
    let r = p.api(Method::POST, &format!("/__api__/v1/content/{slow}/render")).send().await.expect("render");
    assert_eq!(r.status(), 202);
    let def = json!({"type": "minute", "schedule": {"N": 1}, "start_time": rfc3339_in(2), "timezone": "UTC"});
    p.api(Method::POST, &format!("/__api__/v1/content/{slow}/schedules")).json(&def).send().await.expect("post");
    let list = eventually(30, "a skipped run", || async {
        let list = renders(&p, &slow).await;
        (by_trigger(&list, "schedule", "skipped") == 1).then_some(list)
    })
    .await;
    assert_eq!(by_trigger(&list, "schedule", "success"), 0, "{list:?}");
    p.shutdown();
}

#[tokio::test]
async fn catch_up_after_a_restart_runs_once_or_not_at_all() {
    if !have_uv() {
        common::skip_or_fail("catch_up_after_a_restart_runs_once_or_not_at_all", "uv is not installed");
        return;
    }
    let p = Porch::start().await;
    let on = deploy_notebook(&p, "catch-up-on", &[]).await;
    let off = deploy_notebook(&p, "catch-up-off", &[]).await;
    // Daily at an hour that has passed today: nothing is due now.
    let start = rfc3339_in(-3 * 86400 - 3600);
    for (guid, catch_up) in [(&on, true), (&off, false)] {
        let def =
            json!({"type": "day", "schedule": {"N": 1}, "start_time": start, "timezone": "UTC", "catch_up": catch_up});
        let r = p
            .api(Method::POST, &format!("/__api__/v1/content/{guid}/schedules"))
            .json(&def)
            .send()
            .await
            .expect("post");
        assert_eq!(r.status(), 200);
    }
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(by_trigger(&renders(&p, &on).await, "schedule", "success"), 0, "nothing was due");
    // Porch is off for "three days": the schedules last ran long ago.
    let db = p.data_dir().join("porch.db");
    let p = p
        .restart_with(|| {
            let sql = format!("UPDATE schedules SET last_planned = '{}'", rfc3339_in(-3 * 86400));
            let out = std::process::Command::new("python3")
                .args(["-c", "import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); c.execute(sys.argv[2]); c.commit()"])
                .arg(&db)
                .arg(&sql)
                .output()
                .expect("python3");
            assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        })
        .await;
    eventually(60, "the catch-up run", || async {
        (by_trigger(&renders(&p, &on).await, "schedule", "success") == 1).then_some(())
    })
    .await;
    // Exactly once, and never with catch-up off.
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(by_trigger(&renders(&p, &on).await, "schedule", "success"), 1, "missed runs are caught up once");
    assert_eq!(renders(&p, &off).await.iter().filter(|r| r["trigger"] == "schedule").count(), 0);
    p.shutdown();
}

#[tokio::test]
async fn retention_keeps_the_newest_renders_and_pages_offer_history() {
    if !have_uv() {
        common::skip_or_fail("retention_keeps_the_newest_renders_and_pages_offer_history", "uv is not installed");
        return;
    }
    let p =
        Porch::start_with(common::Opts { args: vec!["--keep-renders".into(), "2".into()], ..Default::default() }).await;
    let guid = deploy_notebook(&p, "retained", &[]).await;
    for _ in 0..3 {
        let r = p.api(Method::POST, &format!("/__api__/v1/content/{guid}/render")).send().await.expect("render");
        let task = r.json::<Value>().await.expect("json")["task_id"].as_str().expect("task").to_string();
        assert_eq!(p.wait_task(&task).await["code"], 0);
    }
    let list = renders(&p, &guid).await;
    assert_eq!(list.len(), 2, "only the newest two successful renders are kept: {list:?}");
    let oldest_kept: i64 = list[1]["id"].as_str().expect("id").parse().expect("num");
    for gone in 1..oldest_kept {
        assert!(!p.data_dir().join("renders").join(gone.to_string()).exists(), "render {gone} was not removed");
        assert_eq!(p.get(&format!("/content/{guid}/_render{gone}/")).await.status(), 404);
    }
    let page = p.get(&format!("/content/{guid}/")).await.text().await.expect("html");
    assert!(page.contains("id=\"porch-history\""), "the page offers the history switcher");
    assert!(page.contains(&format!("/content/{guid}/_render{oldest_kept}/")), "it links the earlier render");
    p.shutdown();
}

/// `porch schedule add|list|rm` through the CLI against a running server: a zone other than
/// UTC (`--tz`), a variant (`--variant`), cron with the default zone, and the errors for a
/// bad zone, an unknown variant and an unknown id.
#[tokio::test]
async fn schedules_from_the_cli_with_a_zone_and_a_variant() {
    let test = "schedules_from_the_cli_with_a_zone_and_a_variant";
    if !have_uv() {
        common::skip_or_fail(test, "uv is not installed");
        return;
    }
    let p = Porch::start().await;
    let guid = p.deploy_fixture("frameworks/notebook-params", "sched-cli");
    let ok = |out: &std::process::Output| {
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    ok(&p.cli(&["variant", "add", "sched-cli", "south", "-P", "region=south"]));
    let variants: Vec<Value> = serde_json::from_slice(&p.cli(&["variant", "list", "sched-cli"]).stdout).expect("json");
    let variant_id = variants[0]["id"].as_str().expect("variant id").to_string();

    // Daily at 07:00 on Berlin's wall clock (06:00Z in winter), rendering the variant; the
    // form of the command's own help, without `--params` (N is 1 then).
    let added = ok(&p.cli(&[
        "schedule",
        "add",
        "sched-cli",
        "--type",
        "day",
        "--start",
        "2026-01-01T06:00:00Z",
        "--tz",
        "Europe/Berlin",
        "--variant",
        "south",
    ]));
    assert!(added.starts_with("Added schedule ") && added.contains("for sched-cli; next run 20"), "{added}");
    // Cron, in the default zone (UTC), for the document's defaults.
    ok(&p.cli(&["schedule", "add", "sched-cli", "--type", "cron", "--cron", "30 5 * * *"]));

    let list = |p: &Porch| -> Vec<Value> {
        serde_json::from_slice(&p.cli(&["schedule", "list", "sched-cli"]).stdout).expect("schedule list is JSON")
    };
    let listed = list(&p);
    assert_eq!(listed.len(), 2, "{listed:#?}");
    let day = listed.iter().find(|s| s["type"] == "day").expect("the daily schedule");
    assert_eq!(day["timezone"], "Europe/Berlin", "{day}");
    assert_eq!(day["schedule"], json!({"N": 1}), "{day}");
    assert_eq!(day["variant_id"], variant_id.as_str(), "{day}");
    assert_eq!(day["content_guid"], guid.as_str());
    let runs = day["next_runs"].as_array().expect("next_runs");
    assert_eq!(runs.len(), 5, "{day}");
    for r in runs {
        let local = r["local"].as_str().expect("local");
        assert!(local.contains("T07:00:00") && local.ends_with("[Europe/Berlin]"), "07:00 in Berlin: {local}");
    }
    let cron = listed.iter().find(|s| s["type"] == "cron").expect("the cron schedule");
    assert_eq!(cron["timezone"], "UTC", "{cron}");
    assert_eq!(cron["variant_id"], Value::Null, "{cron}");
    for r in cron["next_runs"].as_array().expect("next_runs") {
        assert!(r["utc"].as_str().expect("utc").contains("T05:30:00"), "{r}");
    }

    // Bad input: a clear error, and nothing stored.
    let err = |args: &[&str]| {
        let out = p.cli(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        String::from_utf8_lossy(&out.stderr).into_owned()
    };
    let e = err(&["schedule", "add", "sched-cli", "--type", "day", "--tz", "Mars/Olympus_Mons"]);
    assert!(e.contains("timezone") && e.contains("Mars/Olympus_Mons"), "{e}");
    let e = err(&["schedule", "add", "sched-cli", "--type", "day", "--variant", "nowhere"]);
    assert!(e.contains("variant nowhere not found"), "{e}");
    // An `N` that is given is kept, and checked.
    let e = err(&["schedule", "add", "sched-cli", "--type", "hour", "--params", r#"{"N": 0}"#]);
    assert!(e.contains("schedule.N"), "{e}");
    assert_eq!(list(&p).len(), 2, "a refused schedule is not stored");

    // rm by id; the other stays; an unknown id is an error.
    let day_id = day["id"].as_str().expect("id").to_string();
    assert!(ok(&p.cli(&["schedule", "rm", &day_id])).contains(&format!("Removed schedule {day_id}")));
    let left = list(&p);
    assert_eq!(left.len(), 1, "{left:#?}");
    assert_eq!(left[0]["type"], "cron");
    let e = err(&["schedule", "rm", &day_id]);
    assert!(e.contains(&day_id) || e.to_lowercase().contains("not found"), "{e}");
    p.shutdown();
}

/// Without `--keep-renders`, an item keeps its newest 30 successful renders (the documented
/// default): the 31st removes the first.
#[tokio::test]
async fn by_default_the_newest_thirty_renders_are_kept() {
    let test = "by_default_the_newest_thirty_renders_are_kept";
    if !have_uv() {
        common::skip_or_fail(test, "uv is not installed");
        return;
    }
    let p = Porch::start().await;
    let guid = deploy_notebook(&p, "thirty", &[]).await;
    // The deploy rendered once; 30 more make 31.
    for _ in 0..30 {
        let r = p.api(Method::POST, &format!("/__api__/v1/content/{guid}/render")).send().await.expect("render");
        let task = r.json::<Value>().await.expect("json")["task_id"].as_str().expect("task").to_string();
        assert_eq!(p.wait_task(&task).await["code"], 0);
    }
    let list = renders(&p, &guid).await;
    let ids: Vec<i64> = list.iter().map(|r| r["id"].as_str().expect("id").parse().expect("num")).collect();
    assert_eq!(list.len(), 30, "the newest 30 are kept: {ids:?}");
    let first = *ids.iter().min().expect("ids") - 1;
    assert!(!p.data_dir().join("renders").join(first.to_string()).exists(), "render {first} was not removed");
    assert_eq!(p.get(&format!("/content/{guid}/_render{first}/")).await.status(), 404);
    let oldest_kept = ids.iter().min().expect("ids");
    assert_eq!(p.get(&format!("/content/{guid}/_render{oldest_kept}/")).await.status(), 200);
    p.shutdown();
}

/// A real SMTP server (aiosmtpd from the test venv) that prints every message it gets.
struct Smtp {
    port: u16,
    seen: std::sync::Arc<std::sync::Mutex<String>>,
    child: std::process::Child,
}

impl Smtp {
    fn start() -> Option<Smtp> {
        let venv = std::env::var_os("PORCH_TEST_VENV")
            .map(std::path::PathBuf::from)
            .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-tests"));
        let python = venv.join("bin/python");
        let ok = std::process::Command::new(&python)
            .args(["-c", "import aiosmtpd"])
            .output()
            .map(|o| o.status.success())
            .unwrap_or(false);
        if !ok {
            return None;
        }
        let port = std::net::TcpListener::bind(("127.0.0.1", 0)).ok()?.local_addr().ok()?.port();
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new(&python)
            .args([
                "-u",
                "-m",
                "aiosmtpd",
                "-n",
                "-l",
                &format!("127.0.0.1:{port}"),
                "-c",
                "aiosmtpd.handlers.Debugging",
                "stdout",
            ])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::null())
            .process_group(0)
            .spawn()
            .ok()?;
        let seen = std::sync::Arc::new(std::sync::Mutex::new(String::new()));
        let (out, sink) = (child.stdout.take()?, seen.clone());
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(out).lines().map_while(Result::ok) {
                let mut s = sink.lock().expect("lock");
                s.push_str(&line);
                s.push('\n');
            }
        });
        // Wait until it accepts connections.
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            if std::time::Instant::now() > deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        Some(Smtp { port, seen, child })
    }

    fn text(&self) -> String {
        self.seen.lock().expect("lock").clone()
    }
}

impl Drop for Smtp {
    fn drop(&mut self) {
        let _ =
            std::process::Command::new("kill").args(["-s", "KILL", "--", &format!("-{}", self.child.id())]).status();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn email_after_scheduled_renders() {
    if !have_uv() {
        common::skip_or_fail("email_after_scheduled_renders", "uv is not installed");
        return;
    }
    let Some(smtp) = Smtp::start() else {
        common::skip_or_fail("email_after_scheduled_renders", "aiosmtpd is not installed in the test venv");
        return;
    };
    let p = Porch::start().await;
    // Settings: the password is kept but never shown.
    let settings = json!({"host": "127.0.0.1", "port": smtp.port, "security": "none", "password": "hunter2-secret",
                          "from": "porch@example.org", "owner": "owner@example.org"});
    let r = p.api(Method::PUT, "/__api__/porch/smtp").json(&settings).send().await.expect("put");
    assert_eq!(r.status(), 200);
    let shown = p.api(Method::GET, "/__api__/porch/smtp").send().await.expect("get").text().await.expect("text");
    assert!(!shown.contains("hunter2-secret") && shown.contains("\"password_set\":true"), "{shown}");
    let r = p
        .api(Method::PUT, "/__api__/porch/smtp")
        .json(&json!({"host": "x", "port": 25, "security": "none", "from": "nope", "owner": "o@example.org"}))
        .send()
        .await
        .expect("put");
    assert_eq!(r.status(), 400);

    let guid = deploy_notebook(&p, "mailed-report", &[]).await;
    let def = json!({"type": "minute", "schedule": {"N": 1}, "start_time": rfc3339_in(2), "timezone": "UTC",
                     "email": true, "recipients": ["viewer@example.org"], "attach": true});
    let r =
        p.api(Method::POST, &format!("/__api__/v1/content/{guid}/schedules")).json(&def).send().await.expect("post");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let list = eventually(60, "the scheduled render's email", || async {
        let list = renders(&p, &guid).await;
        list.iter().any(|r| r["email_status"] == "sent to 1").then_some(list)
    })
    .await;
    assert_eq!(by_trigger(&list, "schedule", "success"), 1);
    let mail = smtp.text();
    assert!(mail.contains("viewer@example.org") && mail.contains("mailed-report: rendered"), "{mail}");
    // Undo quoted-printable soft line breaks before looking for the link.
    assert!(mail.replace("=\n", "").contains(&format!("/content/{guid}/")), "the mail links the output: {mail}");
    assert!(mail.to_ascii_lowercase().contains("attachment"), "the HTML is attached: {mail}");

    // A failing scheduled render mails the owner with the log tail.
    p.api(Method::PATCH, &format!("/__api__/v1/content/{guid}/environment"))
        .json(&json!([{"name": "PORCH_FIXTURE_FAIL", "value": "1"}]))
        .send()
        .await
        .expect("env");
    let def = json!({"type": "minute", "schedule": {"N": 1}, "start_time": rfc3339_in(2), "timezone": "UTC", "email": true, "recipients": ["viewer@example.org"]});
    p.api(Method::POST, &format!("/__api__/v1/content/{guid}/schedules")).json(&def).send().await.expect("post");
    eventually(60, "the failure mail", || async {
        let m = smtp.text();
        (m.contains("owner@example.org") && m.contains("render failed")).then_some(())
    })
    .await;
    assert!(smtp.text().contains("ZeroDivisionError"), "the owner gets the log tail");
    assert!(smtp.text().contains("The last good version is still served"), "an earlier render is served");

    // A mail server that is down never fails the render.
    p.api(Method::PATCH, &format!("/__api__/v1/content/{guid}/environment"))
        .json(&json!([{"name": "PORCH_FIXTURE_FAIL", "value": null}]))
        .send()
        .await
        .expect("env");
    let dead = std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind").local_addr().expect("addr").port();
    let down = json!({"host": "127.0.0.1", "port": dead, "security": "none", "from": "porch@example.org", "owner": "owner@example.org"});
    p.api(Method::PUT, "/__api__/porch/smtp").json(&down).send().await.expect("put");
    let def = json!({"type": "minute", "schedule": {"N": 1}, "start_time": rfc3339_in(2), "timezone": "UTC", "email": true, "recipients": ["viewer@example.org"]});
    p.api(Method::POST, &format!("/__api__/v1/content/{guid}/schedules")).json(&def).send().await.expect("post");
    let list = eventually(60, "a render whose mail failed", || async {
        let list = renders(&p, &guid).await;
        list.iter().any(|r| r["email_status"].as_str().is_some_and(|s| s.starts_with("failed"))).then_some(list)
    })
    .await;
    let failed_mail =
        list.iter().find(|r| r["email_status"].as_str().is_some_and(|s| s.starts_with("failed"))).expect("row");
    assert_eq!(failed_mail["status"], "success", "a mail failure does not fail the render");
    p.shutdown();
}

/// The Python of the test venv (`$PORCH_TEST_VENV`, else `.venv-tests` here).
fn venv_python() -> std::path::PathBuf {
    std::env::var_os("PORCH_TEST_VENV")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(".venv-tests"))
        .join("bin/python")
}

/// Runs a command to completion; its stderr is the error.
fn run(cmd: &mut std::process::Command) -> Result<(), String> {
    let out = cmd.output().map_err(|e| format!("{cmd:?}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!("{cmd:?}: {}", String::from_utf8_lossy(&out.stderr)))
    }
}

/// A throwaway CA (`ca.pem`) and a certificate for 127.0.0.1 signed by it (`server.pem`,
/// `server.key`), made with the openssl command-line tool.
fn mail_certificates(dir: &std::path::Path) -> Result<(), String> {
    use std::process::Command;
    let p = |f: &str| dir.join(f).to_string_lossy().into_owned();
    let ca = ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj", "/CN=Porch test mail CA"];
    run(Command::new("openssl").args(ca).args(["-keyout", &p("ca.key"), "-out", &p("ca.pem")]))?;
    let csr = ["req", "-newkey", "rsa:2048", "-nodes", "-subj", "/CN=127.0.0.1"];
    run(Command::new("openssl").args(csr).args(["-keyout", &p("server.key"), "-out", &p("server.csr")]))?;
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1\nbasicConstraints=CA:FALSE\nextendedKeyUsage=serverAuth\n",
    )
    .map_err(|e| e.to_string())?;
    run(Command::new("openssl").args(["x509", "-req", "-days", "1", "-CAcreateserial"]).args([
        "-in",
        &p("server.csr"),
        "-CA",
        &p("ca.pem"),
        "-CAkey",
        &p("ca.key"),
        "-extfile",
        &p("ext.cnf"),
        "-out",
        &p("server.pem"),
    ]))
}

/// A real mail server that requires STARTTLS (or TLS from the first byte, on a second port)
/// and a login: `tests/fixtures/smtp/tls_auth_server.py` on aiosmtpd from the test venv.
struct SecureSmtp {
    starttls: u16,
    tls: u16,
    out: std::path::PathBuf,
    child: std::process::Child,
}

const MAIL_USER: &str = "alice";
const MAIL_PASSWORD: &str = "correct horse";

impl SecureSmtp {
    /// Starts it with the certificates in `dir`; `None` when aiosmtpd is not in the venv.
    fn start(dir: &std::path::Path) -> Option<SecureSmtp> {
        use std::os::unix::process::CommandExt;
        let python = venv_python();
        let ok = std::process::Command::new(&python).args(["-c", "import aiosmtpd"]).output();
        if !ok.map(|o| o.status.success()).unwrap_or(false) {
            return None;
        }
        let free = || std::net::TcpListener::bind(("127.0.0.1", 0)).expect("bind").local_addr().expect("addr").port();
        let (starttls, tls) = (free(), free());
        let out = dir.join("received.txt");
        let script = fixture("smtp/tls_auth_server.py");
        let s = |p: std::path::PathBuf| p.to_string_lossy().into_owned();
        let mut child = std::process::Command::new(&python)
            .arg("-u")
            .arg(&script)
            .args([starttls.to_string(), tls.to_string(), s(dir.join("server.pem")), s(dir.join("server.key"))])
            .args([MAIL_USER, MAIL_PASSWORD])
            .arg(&out)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::inherit())
            .process_group(0)
            .spawn()
            .expect("start the mail server");
        // It prints `ready` once both ports accept connections.
        let stdout = child.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let smtp = SecureSmtp { starttls, tls, out, child };
        match rx.recv_timeout(Duration::from_secs(30)) {
            Ok(line) if line == "ready" => Some(smtp),
            other => panic!("the mail server did not start: {other:?}"),
        }
    }

    /// Every message received so far, each headed `RECEIVED via <mode> by <login> to <rcpts>`.
    fn received(&self) -> String {
        std::fs::read_to_string(&self.out).unwrap_or_default()
    }
}

impl Drop for SecureSmtp {
    fn drop(&mut self) {
        let _ =
            std::process::Command::new("kill").args(["-s", "KILL", "--", &format!("-{}", self.child.id())]).status();
        let _ = self.child.wait();
    }
}

async fn put_smtp(p: &Porch, body: &Value) -> (reqwest::StatusCode, String) {
    let r = p.api(Method::PUT, "/__api__/porch/smtp").json(body).send().await.expect("put smtp");
    (r.status(), r.text().await.expect("text"))
}

async fn smtp_view(p: &Porch) -> Value {
    p.api(Method::GET, "/__api__/porch/smtp").send().await.expect("get smtp").json().await.expect("json")
}

/// Schedules one render that emails `viewer@example.org`, waits for its email status, removes
/// the schedule and returns the status.
async fn render_and_mail(p: &Porch, guid: &str) -> String {
    let mailed =
        |list: &[Value]| list.iter().filter(|r| r["email_status"].as_str().is_some_and(|s| !s.is_empty())).count();
    let before = mailed(&renders(p, guid).await);
    let def = json!({"type": "minute", "schedule": {"N": 1}, "start_time": rfc3339_in(2), "timezone": "UTC",
                     "email": true, "recipients": ["viewer@example.org"]});
    let r =
        p.api(Method::POST, &format!("/__api__/v1/content/{guid}/schedules")).json(&def).send().await.expect("post");
    assert_eq!(r.status(), 200);
    let schedule: Value = r.json().await.expect("json");
    let id = schedule["id"].as_str().map(str::to_string).unwrap_or_else(|| schedule["id"].to_string());
    let list = eventually(180, "the render's email status", || async {
        let list = renders(p, guid).await;
        (mailed(&list) > before).then_some(list)
    })
    .await;
    let r = p.api(Method::DELETE, &format!("/__api__/v1/schedules/{id}")).send().await.expect("delete");
    assert!(r.status().is_success(), "delete schedule {id}: {}", r.status());
    let newest = list
        .iter()
        .filter(|r| r["email_status"].as_str().is_some_and(|s| !s.is_empty()))
        .max_by_key(|r| r["id"].as_str().and_then(|i| i.parse::<i64>().ok()).or(r["id"].as_i64()))
        .expect("a mailed render");
    newest["email_status"].as_str().expect("status").to_string()
}

#[tokio::test]
async fn email_over_starttls_and_tls_with_a_login_and_a_company_ca() {
    let test = "email_over_starttls_and_tls_with_a_login_and_a_company_ca";
    if !have_uv() {
        common::skip_or_fail(test, "uv is not installed");
        return;
    }
    let dir = tempfile::tempdir().expect("tmp");
    if let Err(e) = mail_certificates(dir.path()) {
        common::skip_or_fail(test, &format!("cannot make test certificates with openssl: {e}"));
        return;
    }
    let Some(smtp) = SecureSmtp::start(dir.path()) else {
        common::skip_or_fail(test, "aiosmtpd is not installed in the test venv");
        return;
    };
    let ca = dir.path().join("ca.pem");
    let ca_text = ca.to_str().expect("utf8");
    let p = Porch::start().await;

    // STARTTLS with a login, but no CA file yet: saved (the server is only reached on a send).
    let base = json!({"host": "127.0.0.1", "port": smtp.starttls, "security": "starttls", "username": MAIL_USER,
                      "password": MAIL_PASSWORD, "from": "porch@example.org", "owner": "owner@example.org"});
    let (status, body) = put_smtp(&p, &base).await;
    assert_eq!(status, 200, "{body}");
    let saved = smtp_view(&p).await;
    assert!(saved.get("ca_file").is_none(), "{saved}");

    // A CA file that cannot be used is refused, naming the path and the problem; nothing saved.
    let not_pem = dir.path().join("not-a-cert.pem");
    std::fs::write(&not_pem, "this is not a certificate\n").expect("write");
    let garbled = dir.path().join("garbled.pem");
    std::fs::write(&garbled, "-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n").expect("write");
    let missing = dir.path().join("missing.pem");
    let with_ca = |path: &str| {
        let mut v = base.clone();
        v["ca_file"] = json!(path);
        v
    };
    let path_of = |p: &std::path::Path| p.to_str().expect("utf8").to_string();
    for (body, path, problem) in [
        (with_ca(&path_of(&missing)), path_of(&missing), "cannot read"),
        (with_ca(&path_of(&not_pem)), path_of(&not_pem), "holds no PEM certificate"),
        (with_ca(&path_of(&garbled)), path_of(&garbled), "cannot be used as a CA"),
        (with_ca("ca.pem"), "ca.pem".to_string(), "not an absolute path"),
        (
            json!({"host": "127.0.0.1", "port": smtp.starttls, "security": "none", "from": "porch@example.org",
                   "owner": "owner@example.org", "ca_file": ca_text}),
            "ca_file".to_string(),
            "only with STARTTLS or TLS",
        ),
    ] {
        let (status, text) = put_smtp(&p, &body).await;
        assert_eq!(status, 400, "{body}: {text}");
        assert!(text.contains("ca_file") && text.contains(&path) && text.contains(problem), "{body}: {text}");
        assert_eq!(smtp_view(&p).await, saved, "a refused change keeps the previous settings");
    }

    // Without the CA file the send fails on the certificate, and says what to do.
    let guid = deploy_notebook(&p, "secure-mail", &[]).await;
    let status = render_and_mail(&p, &guid).await;
    assert!(
        status.starts_with("failed")
            && status.contains("certificate is not trusted")
            && status.contains("SMTP CA file"),
        "{status}"
    );
    assert_eq!(smtp.received(), "", "nothing was delivered");

    // With the CA file (under the issue's name `smtp_ca_file`) but a wrong password: refused.
    let mut wrong = base.clone();
    wrong["smtp_ca_file"] = json!(ca_text);
    wrong["password"] = json!("not the password");
    let (status, body) = put_smtp(&p, &wrong).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(smtp_view(&p).await["ca_file"], ca_text, "the CA file is saved and shown");
    let status = render_and_mail(&p, &guid).await;
    assert!(status.starts_with("failed") && status.contains("refused the user name or password"), "{status}");
    assert_eq!(smtp.received(), "", "nothing was delivered");

    // The right password: delivered over STARTTLS, logged in.
    let (status, body) = put_smtp(&p, &with_ca(ca_text)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(render_and_mail(&p, &guid).await, "sent to 1");
    let got = smtp.received();
    assert!(got.contains("RECEIVED via starttls by alice to viewer@example.org"), "{got}");
    assert!(got.contains("secure-mail: rendered"), "{got}");

    // TLS from the first byte, the same CA file and login.
    let mut tls = with_ca(ca_text);
    tls["security"] = json!("tls");
    tls["port"] = json!(smtp.tls);
    let (status, body) = put_smtp(&p, &tls).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(render_and_mail(&p, &guid).await, "sent to 1");
    let got = smtp.received();
    assert!(got.contains("RECEIVED via tls by alice to viewer@example.org"), "{got}");
    p.shutdown();
}

/// Runs `porch ARGS` against `p`'s data folder from the folder `cwd`, with `stdin` as input.
fn porch_in(p: &Porch, cwd: &std::path::Path, args: &[&str], stdin: &str) -> std::process::Output {
    let mut cmd = std::process::Command::new(common::porch_bin());
    cmd.args(args).arg("--data-dir").arg(p.data_dir()).current_dir(cwd);
    common::run_with_stdin(&mut cmd, Some(stdin))
}

#[tokio::test]
async fn smtp_settings_and_the_ca_file_from_the_cli() {
    let test = "smtp_settings_and_the_ca_file_from_the_cli";
    let dir = tempfile::tempdir().expect("tmp");
    if let Err(e) = mail_certificates(dir.path()) {
        common::skip_or_fail(test, &format!("cannot make test certificates with openssl: {e}"));
        return;
    }
    let p = Porch::start().await;
    let text = |o: &std::process::Output| String::from_utf8_lossy(&o.stdout).into_owned();
    let err = |o: &std::process::Output| String::from_utf8_lossy(&o.stderr).into_owned();

    let out = porch_in(&p, dir.path(), &["smtp"], "");
    assert!(out.status.success() && text(&out).contains("No mail server is set"), "{}", err(&out));

    // The password comes from standard input, never from the command line.
    let base = ["smtp", "set", "host=127.0.0.1", "port=2525", "security=starttls", "username=alice"];
    let rest = ["from=porch@example.org", "owner=owner@example.org", "--password-stdin"];
    let out = porch_in(&p, dir.path(), &[&base[..], &rest[..]].concat(), "s3cret pass\n");
    assert!(out.status.success(), "{}", err(&out));
    assert!(text(&out).contains("password   set") && text(&out).contains("none (public roots only)"), "{}", text(&out));
    let out = porch_in(&p, dir.path(), &["smtp", "set", "password=s3cret"], "");
    assert!(!out.status.success() && err(&out).contains("--password-stdin"), "{}", err(&out));

    // A CA file that cannot be used is refused, naming it; nothing is saved.
    let saved = smtp_view(&p).await;
    let missing = dir.path().join("missing.pem");
    let arg = format!("smtp_ca_file={}", missing.display());
    let out = porch_in(&p, dir.path(), &["smtp", "set", &arg], "");
    let e = err(&out);
    assert!(!out.status.success(), "a missing CA file was accepted");
    assert!(
        e.contains(&missing.display().to_string()) && e.contains("cannot read") && e.contains("nothing was saved"),
        "{e}"
    );
    assert_eq!(smtp_view(&p).await, saved);

    // A relative path is taken from where the command runs; the password is kept.
    let out = porch_in(&p, dir.path(), &["smtp", "set", "smtp-ca-file=ca.pem"], "");
    assert!(out.status.success(), "{}", err(&out));
    let ca = std::fs::canonicalize(dir.path()).expect("canonical").join("ca.pem");
    let view = smtp_view(&p).await;
    assert_eq!(view["ca_file"].as_str().map(std::path::PathBuf::from), Some(ca.clone()), "{view}");
    assert_eq!(view["password_set"], true, "{view}");
    assert!(text(&porch_in(&p, dir.path(), &["smtp"], "")).contains(&ca.display().to_string()));

    // `ca_file=` drops it.
    let out = porch_in(&p, dir.path(), &["smtp", "set", "ca_file="], "");
    assert!(out.status.success() && text(&out).contains("none (public roots only)"), "{}", err(&out));
    assert!(smtp_view(&p).await.get("ca_file").is_none());
    p.shutdown();
}

/// A render asked for while a redeploy renders waits for the render slot, then renders the
/// version that redeploy activated, never the one before it over it.
#[tokio::test]
async fn a_render_asked_for_during_a_redeploy_renders_the_new_version() {
    if !have_uv() {
        return common::skip_or_fail(
            "a_render_asked_for_during_a_redeploy_renders_the_new_version",
            "uv is not installed",
        );
    }
    let p = Porch::start().await;
    let guid = deploy_notebook(&p, "race-nb", &[]).await;
    let id_of = |v: &Value| v.to_string().trim_matches('"').to_string();
    let first = id_of(&p.get_json(&format!("/__api__/v1/content/{guid}")).await["bundle_id"]);
    // The redeploy's render sleeps 6 s (the SLEEP marker) while holding the one render slot.
    let dir = tempfile::tempdir().expect("tmp");
    for f in ["report.ipynb", "requirements.txt"] {
        std::fs::copy(fixture("frameworks/notebook").join(f), dir.path().join(f)).expect("copy");
    }
    std::fs::write(dir.path().join("SLEEP"), "x").expect("marker");
    let (data, folder) = (p.data_dir().to_path_buf(), dir.path().to_path_buf());
    let redeploy = std::thread::spawn(move || {
        common::run_cli(&data, &["deploy", folder.to_str().expect("utf8"), "--name", "race-nb"])
    });
    eventually(60, "the redeploy's render to start", || async {
        renders(&p, &guid).await.iter().any(|r| r["trigger"] == "deploy" && r["status"] == "running").then_some(())
    })
    .await;
    let r = p.api(Method::POST, &format!("/__api__/v1/content/{guid}/render")).json(&json!({})).send().await;
    let task: Value = r.expect("render").json().await.expect("json");
    let out = tokio::task::spawn_blocking(move || redeploy.join().expect("deploy thread")).await.expect("join");
    assert!(out.status.success(), "redeploy: {}", String::from_utf8_lossy(&out.stderr));
    let done = p.wait_task(task["task_id"].as_str().or(task["id"].as_str()).expect("task id")).await;
    assert_eq!(done["code"], 0, "{done}");
    let second = id_of(&p.get_json(&format!("/__api__/v1/content/{guid}")).await["bundle_id"]);
    assert_ne!(first, second, "the redeploy was activated");
    let list = renders(&p, &guid).await;
    let manual = list.iter().find(|r| r["trigger"] == "manual").expect("the manual render");
    assert_eq!(id_of(&manual["bundle_id"]), second, "the manual render rendered the new version: {list:#?}");
    let current: Vec<&Value> = list.iter().filter(|r| r["current"] == true).collect();
    assert_eq!(current.len(), 1, "{list:#?}");
    assert_eq!(id_of(&current[0]["bundle_id"]), second, "viewers see the new version: {list:#?}");
    p.shutdown();
}

/// Removing an item stops its running render and leaves none of its render folders.
#[tokio::test]
async fn removing_an_item_stops_its_render_and_removes_its_render_folders() {
    if !have_uv() {
        return common::skip_or_fail(
            "removing_an_item_stops_its_render_and_removes_its_render_folders",
            "uv is not installed",
        );
    }
    let p = Porch::start().await;
    let guid = deploy_notebook(&p, "rm-while-rendering", &["SLEEP"]).await;
    let renders_dir = p.data_dir().join("renders");
    let folders = || std::fs::read_dir(&renders_dir).map(|d| d.count()).unwrap_or(0);
    assert_eq!(folders(), 1, "the deploy's render");
    let r = p.api(Method::POST, &format!("/__api__/v1/content/{guid}/render")).json(&json!({})).send().await;
    let task: Value = r.expect("render").json().await.expect("json");
    eventually(60, "the render to run", || async {
        renders(&p, &guid).await.iter().any(|r| r["status"] == "running").then_some(())
    })
    .await;
    let out = p.cli(&["rm", "rm-while-rendering"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let done = p.wait_task(task["task_id"].as_str().expect("task id")).await;
    assert_ne!(done["code"], 0, "the render was stopped: {done}");
    assert!(done["error"].as_str().unwrap_or_default().contains("removed during the render"), "{done}");
    eventually(20, "no render folder and no render process left", || async {
        // (Porch's own Chromium taking the deploy's picture is not the render's.)
        let left: Vec<String> = common::processes_mentioning(p.data_dir().to_str().expect("utf8"), &[p.pid()])
            .into_iter()
            .filter(|l| !l.contains("/tmp/capture-"))
            .collect();
        (folders() == 0 && left.is_empty()).then_some(())
    })
    .await;
    p.shutdown();
}
