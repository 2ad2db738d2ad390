//! The typed vocabulary (issue 12, item 5) seen from outside: a database row holding words
//! this Porch does not know (written by a newer Porch, or a new Connect app mode) loads, is
//! shown as it was written, and is read in the most careful way: an unknown viewer access
//! is private, an unknown app mode is never served as files.

mod common;

use std::process::Command;

use common::{targz, Porch};
use reqwest::Method;

/// Runs one SQL statement on the stopped server's database with Python's sqlite3.
fn sql(db: &std::path::Path, statement: &str) {
    let out = Command::new("python3")
        .args(["-c", "import sqlite3, sys\nc = sqlite3.connect(sys.argv[1])\nc.execute(sys.argv[2])\nc.commit()"])
        .arg(db)
        .arg(statement)
        .output()
        .expect("python3 runs");
    assert!(out.status.success(), "{statement}: {}", String::from_utf8_lossy(&out.stderr));
}

#[tokio::test]
async fn rows_with_words_from_a_newer_porch_load_and_stay_private() {
    let porch = Porch::start().await;
    let future = porch.create("from-the-future").await;
    let plain = porch.create("plain-site").await;
    let page: &[u8] = b"<html><body>hello from a site</body></html>";
    porch.publish(&future, targz(&[("index.html", page), ("app.py", b"print('source')")])).await;
    porch.publish(&plain, targz(&[("index.html", page)])).await;
    assert_eq!(porch.fetch(&format!("/content/{future}/")).await.0, 200, "public before the edit");

    let db = porch.data_dir().join("porch.db");
    let porch = porch
        .restart_with(|| {
            sql(
                &db,
                &format!(
                    "UPDATE content SET app_mode = 'python-marimo', viewer_access = 'groups' WHERE guid = '{future}'"
                ),
            )
        })
        .await;

    // The library loads: both items are listed, the unknown words shown as written.
    let items = porch.get_json("/__api__/v1/content").await;
    let items = items.as_array().expect("the library still loads: a list");
    let item = items.iter().find(|c| c["guid"] == future.as_str()).expect("the edited item is listed");
    assert_eq!(item["app_mode"], "python-marimo");
    assert_eq!(item["viewer_access"], "groups");
    assert!(items.iter().any(|c| c["guid"] == plain.as_str()), "the other item is listed");
    let one = porch.get_json(&format!("/__api__/v1/content/{future}")).await;
    assert_eq!(one["app_mode"], "python-marimo");

    // An unknown access is the most private one: no viewer sees it, nor its source files.
    let (status, body) = porch.fetch(&format!("/content/{future}/")).await;
    assert_ne!(status, 200, "an item with an unknown access is not open: {}", String::from_utf8_lossy(&body));
    let (status, _) = porch.fetch(&format!("/content/{future}/app.py")).await;
    assert_ne!(status, 200, "its files are not served");
    let (_, landing) = porch.fetch("/").await;
    let landing = String::from_utf8_lossy(&landing);
    assert!(!landing.contains("from-the-future"), "not on the landing page");
    assert!(landing.contains("plain-site"), "the other item is: {landing}");

    // The other item is untouched.
    let (status, body) = porch.fetch(&format!("/content/{plain}/")).await;
    assert_eq!(status, 200);
    assert!(String::from_utf8_lossy(&body).contains("hello from a site"));

    // Setting a known access again works and opens it; the unknown app mode still runs
    // nothing (it is not served as files).
    let r = porch
        .api(Method::PATCH, &format!("/__api__/v1/content/{future}"))
        .json(&serde_json::json!({ "viewer_access": "network" }))
        .send()
        .await
        .expect("patch");
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap_or_default());
    let (status, body) = porch.fetch(&format!("/content/{future}/app.py")).await;
    assert_ne!(status, 200, "an unknown app mode never serves its files: {}", String::from_utf8_lossy(&body));
    porch.shutdown();
}
