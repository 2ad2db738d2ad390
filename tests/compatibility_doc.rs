//! Keeps docs/compatibility.md true: its endpoint tables and Porch's router list the same
//! routes with the same methods (read from src-tauri/engine/src/api/mod.rs and gateway/mod.rs), every `/__api__`
//! row is answered by a running Porch (neither "no such endpoint" nor 405), and every
//! workflow row names a test function that exists.

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use common::Porch;
use reqwest::Method;
use serde_json::Value;

fn repo(rel: &str) -> String {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("read {}: {e}", path.display()))
}

/// `/a/{guid}/b/{*rest}` → `/a/{}/b/{}`: routes compare without parameter names.
fn shape(path: &str) -> String {
    let mut out = String::new();
    let mut depth = 0;
    for c in path.chars() {
        match c {
            '{' => {
                depth += 1;
                if depth == 1 {
                    out.push_str("{}");
                }
            }
            '}' => depth -= 1,
            _ if depth > 0 => {}
            c => out.push(c),
        }
    }
    out
}

/// The cells of a markdown table row.
fn cells(line: &str) -> Vec<String> {
    line.trim().trim_matches('|').split('|').map(|c| c.trim().trim_matches('`').to_string()).collect()
}

/// Endpoint rows of the doc (both tables): path → methods.
fn doc_endpoints(doc: &str) -> BTreeMap<String, (String, BTreeSet<String>)> {
    let mut out = BTreeMap::new();
    let mut in_table = false;
    for line in doc.lines() {
        if line.starts_with("## ") {
            in_table = line.contains("endpoints") || line.contains("extensions");
            continue;
        }
        if !in_table || !line.starts_with('|') || line.starts_with("| Method") || line.starts_with("|---") {
            continue;
        }
        let c = cells(line);
        assert!(c.len() >= 3, "bad endpoint row: {line}");
        let methods: BTreeSet<String> = c[0].split(',').map(|m| m.trim().to_string()).collect();
        let prev = out.insert(shape(&c[1]), (c[1].clone(), methods));
        assert!(prev.is_none(), "endpoint listed twice: {}", c[1]);
    }
    out
}

/// Source lines with every `.route(` call that rustfmt spread over several lines joined back
/// into one (up to its closing parenthesis).
fn logical_lines(src: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut lines = src.lines();
    while let Some(line) = lines.next() {
        let mut joined = line.to_string();
        if line.trim_end().ends_with(".route(") {
            let mut depth = 1i32;
            for next in lines.by_ref() {
                depth += next.matches('(').count() as i32 - next.matches(')').count() as i32;
                joined.push_str(next.trim());
                if depth <= 0 {
                    break;
                }
            }
        }
        out.push(joined);
    }
    out
}

/// Routes of the router source: path shape → (path, methods). `HEAD` is not listed.
fn router_routes(src: &str) -> BTreeMap<String, (String, BTreeSet<String>)> {
    let mut out = BTreeMap::new();
    let mut prefix = "";
    for line in logical_lines(src) {
        let line = line.as_str();
        if line.contains("let api = Router::new()") {
            prefix = "/__api__";
        }
        if line.contains(".nest(\"/__api__\"") {
            prefix = "";
        }
        let Some(at) = line.find(".route(\"") else { continue };
        let rest = &line[at + 8..];
        let end = rest.find('"').expect("closing quote");
        let path = format!("{prefix}{}", &rest[..end]);
        let handlers = &rest[end..];
        let mut methods = BTreeSet::new();
        for m in ["get", "post", "put", "patch", "delete", "any"] {
            let token = format!("{m}(");
            let mut from = 0;
            while let Some(i) = handlers[from..].find(&token) {
                let i = from + i;
                let before = handlers[..i].chars().last().unwrap_or(' ');
                if !(before.is_alphanumeric() || before == '_') {
                    methods.insert(m.to_uppercase());
                }
                from = i + token.len();
            }
        }
        assert!(!methods.is_empty(), "no methods found for route {path}: {line}");
        out.insert(shape(&path), (path, methods));
    }
    assert!(out.len() > 20, "the router source was not understood: {} routes", out.len());
    out
}

#[test]
fn endpoint_tables_match_the_router() {
    let doc = doc_endpoints(&repo("docs/compatibility.md"));
    // The API mounts the gateway's viewer routes (`/`, `/content/…`) beside its own.
    let src = repo("src-tauri/engine/src/api/mod.rs") + &repo("src-tauri/engine/src/gateway/mod.rs");
    let routes = router_routes(&src);
    let mut problems = Vec::new();
    for (shape, (path, methods)) in &routes {
        match doc.get(shape) {
            None => problems.push(format!("route {path} ({}) has no row in docs/compatibility.md", join(methods))),
            Some((_, listed)) if listed != methods => {
                problems.push(format!("route {path}: the router has {}, the doc says {}", join(methods), join(listed)))
            }
            Some(_) => {}
        }
    }
    for (shape, (path, _)) in &doc {
        if !routes.contains_key(shape) {
            problems.push(format!("docs/compatibility.md lists {path}, which is not a route"));
        }
    }
    assert!(problems.is_empty(), "docs/compatibility.md and the router disagree:\n{}", problems.join("\n"));
}

fn join(s: &BTreeSet<String>) -> String {
    s.iter().cloned().collect::<Vec<_>>().join(", ")
}

#[test]
fn workflow_rows_name_existing_tests() {
    let doc = repo("docs/compatibility.md");
    let section = doc.split("## Client workflows that pass").nth(1).expect("workflow section");
    let section = section.split("\n## ").next().unwrap_or(section);
    let mut rows = 0;
    for line in section.lines().filter(|l| l.starts_with('|') && !l.starts_with("| Client") && !l.starts_with("|---")) {
        let c = cells(line);
        let test = c.last().expect("test cell");
        let (file, func) = test.split_once("::").unwrap_or_else(|| panic!("not file.rs::function: {test}"));
        let src = repo(file);
        let lines: Vec<&str> = src.lines().collect();
        let at = lines
            .iter()
            .position(|l| l.contains(&format!("fn {func}(")))
            .unwrap_or_else(|| panic!("{file} has no function {func} (row: {line})"));
        let attrs = &lines[at.saturating_sub(3)..at];
        assert!(
            attrs.iter().any(|l| l.contains("#[tokio::test") || l.contains("#[test]")),
            "{file}::{func} is not a test (row: {line})"
        );
        rows += 1;
    }
    assert!(rows >= 10, "only {rows} workflow rows found");
}

/// Sends each documented `/__api__` method and path (parameters filled with real ids) to a
/// running Porch: none may be answered as an unknown endpoint or a wrong method.
#[tokio::test(flavor = "multi_thread")]
async fn every_documented_api_endpoint_answers() {
    let doc = doc_endpoints(&repo("docs/compatibility.md"));
    let p = Porch::start().await;
    let deployed = |name: &'static str| {
        let p = &p;
        async move {
            let guid = p.create(name).await;
            let page = b"<h1>x</h1>";
            let b: Value = p.upload(&guid, common::targz(&[("index.html", page)])).await.json().await.expect("bundle");
            let t = p.deploy(&guid, b["id"].as_str().expect("bundle id")).await;
            let task = t["id"].as_str().expect("task").to_string();
            let item: Value = p
                .api(Method::GET, &format!("/__api__/v1/content/{guid}"))
                .send()
                .await
                .expect("get")
                .json()
                .await
                .expect("json");
            (guid, b["id"].as_str().expect("id").to_string(), task, item["id"].as_str().expect("id").to_string())
        }
    };
    let (guid, bundle, task, numeric) = deployed("kept").await;
    let (victim, victim_bundle, _, _) = deployed("victim").await;

    let fill = |path: &str, destructive: bool| -> String {
        let (g, b) = if destructive { (&victim, &victim_bundle) } else { (&guid, &bundle) };
        path.replace("{guid}", g)
            .replace("{runtime}", "quarto")
            .replace("{key}", "no-such-job")
            .replace("bundles/{id}", &format!("bundles/{b}"))
            .replace("tasks/{id}", &format!("tasks/{task}"))
            .replace("applications/{id}", &format!("applications/{numeric}"))
            .replace("{id}", "999999")
    };
    let mut calls: Vec<(Method, String)> = Vec::new();
    for (path, methods) in doc.values() {
        if !path.starts_with("/__api__") {
            continue;
        }
        for m in methods {
            let method = Method::from_bytes(m.as_bytes()).expect("method");
            calls.push((method.clone(), fill(path, method == Method::DELETE)));
        }
    }
    // Deleting the victim item itself comes last.
    calls.sort_by_key(|(m, path)| (*m == Method::DELETE && path.ends_with(&victim), *m == Method::DELETE));
    let mut problems = Vec::new();
    for (method, path) in &calls {
        let mut req = p.api(method.clone(), path);
        if matches!(*method, Method::POST | Method::PUT | Method::PATCH) {
            req = req.header("Content-Type", "application/json").body("{}");
        }
        let r = req.send().await.unwrap_or_else(|e| panic!("{method} {path}: {e}"));
        let status = r.status().as_u16();
        let ctype = r.headers().get("content-type").and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
        if path.ends_with("/porch/events") {
            assert_eq!(status, 200, "{method} {path}");
            continue;
        }
        let body = r.text().await.unwrap_or_default();
        if status == 405 || (status == 404 && body.contains("API endpoint")) {
            problems.push(format!("{method} {path} -> {status} {body}"));
        }
        if status >= 400 && !ctype.starts_with("application/json") {
            problems.push(format!("{method} {path} -> {status} is not JSON ({ctype}): {body}"));
        }
    }
    assert!(problems.is_empty(), "documented endpoints not answered:\n{}", problems.join("\n"));
    p.shutdown();
}
