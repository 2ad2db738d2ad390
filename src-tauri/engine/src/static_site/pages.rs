//! The HTML pages Porch writes itself: the landing page and friendly errors.

use std::fmt::Write;

use crate::routes::Route;

/// Escapes text for HTML.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

/// A human name for an appmode.
pub fn kind_label(app_mode: &str, category: &str) -> &'static str {
    match (app_mode, category) {
        ("static", "pin") => "Pin",
        ("static", "site") => "Site",
        ("static", _) => "Static page",
        ("jupyter-static", _) => "Jupyter notebook",
        ("quarto-static", _) => "Quarto document",
        ("rmd-static", _) => "R Markdown",
        ("python-streamlit", _) => "Streamlit app",
        ("python-dash", _) => "Dash app",
        ("python-shiny", _) => "Shiny for Python app",
        ("shiny", _) => "Shiny app",
        ("python-gradio", _) => "Gradio app",
        ("python-bokeh", _) => "Bokeh app",
        ("python-panel", _) => "Panel app",
        ("jupyter-voila", _) => "Voilà dashboard",
        ("python-fastapi", _) => "FastAPI API",
        ("python-api", _) => "Flask API",
        ("api", _) => "Plumber API",
        _ => "Content",
    }
}

const STYLE: &str = "body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:52rem;margin:3rem auto;\
padding:0 1.2rem;color:#222;background:#fcfbf8}h1{font-weight:650;margin-bottom:.2rem}p.sub{color:#666;margin-top:0}\
ul{list-style:none;padding:0}li{padding:.8rem 1rem;border:1px solid #e4e0d8;border-radius:.6rem;margin:.6rem 0;\
background:#fff}li a{font-size:1.1rem;font-weight:600;color:#0b5cad;text-decoration:none}li a:hover{text-decoration:underline}\
.kind{display:inline-block;margin-left:.6rem;font-size:.8rem;color:#555;background:#f0ede6;border-radius:1rem;\
padding:.1rem .6rem}.desc{color:#555;margin:.3rem 0 0}.empty{padding:2rem;text-align:center;color:#666;\
border:2px dashed #ddd;border-radius:.8rem}ol.versions{margin:.4rem 0 0;padding-left:1.2rem}\
li.version{border:0;padding:.15rem 0;margin:0;background:none}li.version a{font-size:.9rem;font-weight:500;margin-left:.5rem}code{background:#f0ede6;padding:.1rem .3rem;border-radius:.3rem}";

fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width,initial-scale=1\"><title>{}</title><style>{STYLE}</style></head>\
         <body>{body}</body></html>",
        esc(title)
    )
}

/// One version (bundle) of a pin, as the landing page lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PinVersion {
    /// The bundle id (pins' version).
    pub bundle_id: i64,
    /// RFC 3339.
    pub created_time: String,
    /// The pin's data files, from its `data.txt` (`file:`).
    pub files: Vec<String>,
    /// Whether this is the version readers get by default.
    pub active: bool,
}

/// The data file names a pin's `data.txt` names under `file:` (a string or a list).
pub fn pin_files(data_txt: &str) -> Vec<String> {
    let unquote = |v: &str| v.trim().trim_matches(|c| c == '\'' || c == '"').to_string();
    let mut lines = data_txt.lines();
    while let Some(line) = lines.next() {
        let Some(value) = line.strip_prefix("file:") else { continue };
        let value = value.trim();
        if let Some(inner) = value.strip_prefix('[').and_then(|v| v.strip_suffix(']')) {
            return inner.split(',').map(unquote).filter(|f| !f.is_empty()).collect();
        }
        if !value.is_empty() {
            return vec![unquote(value)];
        }
        return lines.map_while(|l| l.trim_start().strip_prefix("- ").map(unquote)).filter(|f| !f.is_empty()).collect();
    }
    Vec::new()
}

/// The landing page at `/`: everything viewers may see; pins with their versions
/// (`pins` maps a pin's guid to its versions, newest first) and download links.
pub fn landing(routes: &[&Route], pins: &std::collections::HashMap<String, Vec<PinVersion>>) -> String {
    let mut body =
        String::from("<h1>Porch</h1><p class=\"sub\">Published on this computer for everyone on the network.</p>");
    if routes.is_empty() {
        body.push_str(
            "<div class=\"empty\"><p><strong>Nothing is published yet.</strong></p>\
             <p>When the publisher shares an app, notebook or site, it will appear here.</p></div>",
        );
    } else {
        body.push_str("<ul id=\"content\">");
        for r in routes {
            let href = match &r.vanity_path {
                Some(v) => v.clone(),
                None => format!("/content/{}/", r.guid),
            };
            let desc = &r.description;
            let versions = pins.get(&r.guid).map(|v| pin_versions(&r.guid, v)).unwrap_or_default();
            let _ = write!(
                body,
                "<li><a href=\"{}\">{}</a><span class=\"kind\">{}</span>{}{}{versions}</li>",
                esc(&href),
                esc(&r.title),
                kind_label(&r.app_mode, &r.content_category),
                // Local items are listed only to this computer; say so, so nobody shares the URL.
                if r.access == crate::routes::Access::Local {
                    "<span class=\"kind\">only this computer</span>"
                } else {
                    ""
                },
                if desc.is_empty() { String::new() } else { format!("<p class=\"desc\">{}</p>", esc(desc)) }
            );
        }
        body.push_str("</ul>");
    }
    page("Porch", &body)
}

/// The versions list of a pin on the landing page: each version's date and a download
/// link per data file (`/content/{guid}/_rev{bundle}/{file}`).
fn pin_versions(guid: &str, versions: &[PinVersion]) -> String {
    if versions.is_empty() {
        return String::new();
    }
    let mut out = String::from("<ol class=\"versions\">");
    for v in versions {
        let when = v.created_time.replace('T', " ").replace('Z', " UTC");
        let _ = write!(out, "<li class=\"version\">Version {} <small>{}</small>", v.bundle_id, esc(&when));
        if v.active {
            out.push_str(" <span class=\"kind\">latest</span>");
        }
        for f in &v.files {
            let _ = write!(
                out,
                " <a class=\"download\" download href=\"/content/{}/_rev{}/{}\">Download {}</a>",
                esc(guid),
                v.bundle_id,
                esc(&percent_path(f)),
                esc(f)
            );
        }
        out.push_str("</li>");
    }
    out.push_str("</ol>");
    out
}

/// Percent-encodes a relative file path for a URL, keeping `/`.
fn percent_path(p: &str) -> String {
    let mut out = String::with_capacity(p.len());
    for b in p.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/".contains(&b) {
            out.push(b as char);
        } else {
            let _ = write!(out, "%{b:02X}");
        }
    }
    out
}

/// A friendly not-found page; `start` links to the start of the item the path was in.
pub fn not_found(what: &str, start: Option<(&str, &str)>) -> String {
    let start = match start {
        Some((title, href)) => format!("<p>Go to the start of <a href=\"{}\">{}</a>.</p>", esc(href), esc(title)),
        None => "<p class=\"sub\">It may have been moved or removed.</p>".to_string(),
    };
    page(
        "Not found · Porch",
        &format!("<h1>Not found</h1><p>{}</p>{start}<p><a href=\"/\">See everything published here</a></p>", esc(what)),
    )
}

/// A page explaining content cannot be shown.
pub fn notice(title: &str, message: &str) -> String {
    page(
        &format!("{title} · Porch"),
        &format!(
            "<h1>{}</h1><p>{}</p><p><a href=\"/\">See everything published here</a></p>",
            esc(title),
            esc(message)
        ),
    )
}

/// Adds a small "Renders" switcher to a rendered page: the newest successful renders, each
/// linking to its stable `_render{id}/` URL, the one shown marked.
pub fn with_history_switcher(html: &str, base: &str, shown: i64, history: &[crate::store::RenderRow]) -> String {
    let mut items = String::new();
    for r in history.iter().filter(|r| r.status == "success").take(10) {
        let when = r.finished_time.as_deref().unwrap_or(&r.started_time).replace('T', " ").replace('Z', " UTC");
        let _ = write!(
            items,
            "<li><a href=\"{}_render{}/\"{}>{}</a> <small>{}</small></li>",
            esc(base),
            r.id,
            if r.id == shown { " aria-current=\"page\" style=\"font-weight:700\"" } else { "" },
            esc(&when),
            esc(&r.trigger)
        );
    }
    let widget = format!(
        "<details id=\"porch-history\" style=\"position:fixed;right:12px;bottom:12px;z-index:2147483647;\
         background:#fff;border:1px solid #ccc;border-radius:8px;padding:6px 10px;font:13px system-ui,sans-serif;\
         box-shadow:0 2px 8px rgba(0,0,0,.15);max-width:22rem\"><summary style=\"cursor:pointer\">Renders</summary>\
         <ol style=\"margin:.4rem 0 0;padding-left:1.2rem\">{items}</ol></details>"
    );
    match html.rfind("</body>") {
        Some(at) => format!("{}{widget}{}", &html[..at], &html[at..]),
        None => format!("{html}{widget}"),
    }
}

#[cfg(test)]
mod pin_tests {
    use super::pin_files;

    #[test]
    fn pin_files_reads_a_name_a_list_and_a_flow_list() {
        let one = "api_version: 1\nfile: cars.csv\nfile_size: 40\ntitle: Cars\ntype: csv\n";
        assert_eq!(pin_files(one), ["cars.csv"]);
        let block = "file:\n- a.parquet\n- 'b c.parquet'\nfile_size:\n- 1\n- 2\n";
        assert_eq!(pin_files(block), ["a.parquet", "b c.parquet"]);
        let flow = "type: file\nfile: [x.txt, \"y.txt\"]\n";
        assert_eq!(pin_files(flow), ["x.txt", "y.txt"]);
        assert!(pin_files("title: no file\n").is_empty());
    }
}
