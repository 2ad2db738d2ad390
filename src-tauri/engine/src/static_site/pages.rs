//! The HTML pages Porch writes itself: the landing page and friendly errors.

use crate::vocab::AppMode;
use std::fmt::Write;

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
pub fn kind_label(app_mode: &AppMode, category: &str) -> &'static str {
    match (app_mode, category) {
        (AppMode::Static, "pin") => "Pin",
        (AppMode::Static, "site") => "Site",
        (AppMode::Static, _) => "Static page",
        (AppMode::JupyterStatic, _) => "Jupyter notebook",
        (AppMode::QuartoStatic, _) => "Quarto document",
        (AppMode::RmdStatic, _) => "R Markdown",
        (AppMode::PythonStreamlit, _) => "Streamlit app",
        (AppMode::PythonDash, _) => "Dash app",
        (AppMode::PythonShiny, _) => "Shiny for Python app",
        (AppMode::Shiny, _) => "Shiny app",
        (AppMode::PythonGradio, _) => "Gradio app",
        (AppMode::PythonBokeh, _) => "Bokeh app",
        (AppMode::PythonPanel, _) => "Panel app",
        (AppMode::JupyterVoila, _) => "Voilà dashboard",
        (AppMode::PythonFastapi, _) => "FastAPI API",
        (AppMode::PythonApi, _) => "Flask API",
        (AppMode::Api, _) => "Plumber API",
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

/// One card of the landing page's gallery, ready to write.
#[derive(Debug, Clone, Default)]
pub struct Card<'a> {
    /// Where the card leads (`/content/{guid}/` or the vanity path).
    pub href: String,
    /// Guid (the thumbnail URL).
    pub guid: &'a str,
    /// Title (plain text).
    pub title: &'a str,
    /// Description (plain text).
    pub description: &'a str,
    /// What kind of content ([`kind_label`]).
    pub kind: &'static str,
    /// Tag paths.
    pub tags: &'a [String],
    /// RFC 3339: when it was last deployed or (with `rendered`) last rendered successfully.
    pub updated: Option<&'a str>,
    /// Whether `updated` is a render time.
    pub rendered: bool,
    /// An app (it may take a moment to start when opened).
    pub app: bool,
    /// Listed to this computer only (a `local` item).
    pub local_only: bool,
    /// The stored picture's version, if it has one (else `card_svg` is drawn).
    pub thumbnail: Option<&'a str>,
    /// The generated card (Porch's own SVG, its text escaped) when there is no picture.
    pub card_svg: Option<String>,
    /// A pin's versions, newest first.
    pub pins: Vec<PinVersion>,
}

/// The landing page's gallery: heading, search, tag filter, one page of cards, paging.
#[derive(Debug, Clone, Default)]
pub struct Gallery<'a> {
    /// Heading (plain text).
    pub title: &'a str,
    /// Intro (plain text; line breaks kept).
    pub intro: &'a str,
    /// The logo's version, when one is set (served at [`LOGO_PATH`]).
    pub logo: Option<&'a str>,
    /// The search words, as typed.
    pub q: &'a str,
    /// The tag path filtered on, or `""`.
    pub tag: &'a str,
    /// Every tag path on an item this visitor may open.
    pub tag_paths: &'a [String],
    /// The cards of this page.
    pub cards: Vec<Card<'a>>,
    /// How many items match (on every page).
    pub total: usize,
    /// How many items this visitor may open at all.
    pub listed: usize,
    /// 1-based page number.
    pub page: usize,
    /// Cards per page.
    pub per_page: usize,
}

/// Where the landing page's logo is served.
pub const LOGO_PATH: &str = "/__gallery__/logo";

const GALLERY_STYLE: &str = ":root{color-scheme:light dark;--bg:#fcfbf8;--fg:#1f1f1f;--muted:#555;--card:#fff;\
--line:#ddd8ce;--chip:#efece6;--link:#0b5cad;--accent:#8a4b00}\
@media (prefers-color-scheme:dark){:root{--bg:#151515;--fg:#ececec;--muted:#b9b9b9;--card:#212121;--line:#3a3a3a;\
--chip:#2f2f2f;--link:#8cc4ff;--accent:#ffc178}}\
body{font-family:system-ui,-apple-system,Segoe UI,sans-serif;max-width:72rem;margin:0 auto;padding:1.5rem 1rem 3rem;\
color:var(--fg);background:var(--bg)}header.top{display:flex;gap:1rem;align-items:center}header.top img{max-height:3.5rem;\
max-width:10rem}h1{font-weight:650;margin:.2rem 0}p.sub{color:var(--muted);margin:.2rem 0 1rem;white-space:pre-line}\
form.find{display:flex;flex-wrap:wrap;gap:.5rem;margin:1rem 0;align-items:end}form.find label{display:flex;\
flex-direction:column;font-size:.85rem;color:var(--muted);gap:.2rem}form.find input,form.find select,form.find button{\
font:inherit;padding:.45rem .6rem;border:1px solid var(--line);border-radius:.5rem;background:var(--card);color:var(--fg)}\
form.find input{min-width:16rem}form.find button{cursor:pointer}.count{color:var(--muted);margin:.3rem 0}\
ul#content{list-style:none;padding:0;margin:0;display:grid;grid-template-columns:repeat(auto-fill,minmax(16.5rem,1fr));\
gap:1rem}ul#content>li{position:relative;border:1px solid var(--line);border-radius:.8rem;background:var(--card);\
overflow:hidden;display:flex;flex-direction:column}.thumb{aspect-ratio:16/9;background:var(--chip);overflow:hidden}\
.thumb img,.thumb svg{width:100%;height:100%;object-fit:cover;object-position:top;display:block}.body{padding:.7rem .9rem .9rem}\
.body h2{font-size:1.05rem;margin:0 0 .3rem;overflow-wrap:anywhere}.body h2 a{color:var(--link);text-decoration:none}\
.body h2 a::after{content:\"\";position:absolute;inset:0}.body h2 a:focus-visible{outline:none}\
ul#content>li:focus-within{outline:3px solid var(--link);outline-offset:2px}.kind{display:inline-block;font-size:.78rem;\
color:var(--fg);background:var(--chip);border-radius:1rem;padding:.1rem .55rem;margin:0 .3rem .3rem 0}\
.starts{color:var(--accent)}.desc{color:var(--muted);margin:.3rem 0;font-size:.92rem}.meta{color:var(--muted);\
font-size:.8rem;margin:.3rem 0 0}.tags{margin:.4rem 0 0;padding:0;list-style:none;display:flex;flex-wrap:wrap;gap:.3rem}\
.tags a{position:relative;z-index:1;font-size:.78rem;color:var(--link);border:1px solid var(--line);border-radius:1rem;\
padding:.05rem .5rem;text-decoration:none}.empty{padding:2rem;text-align:center;color:var(--muted);\
border:2px dashed var(--line);border-radius:.8rem}nav.pages{display:flex;gap:1rem;justify-content:center;\
align-items:center;margin:1.5rem 0}nav.pages a{color:var(--link)}ol.versions{margin:.4rem 0 0;padding-left:1.2rem;\
position:relative;z-index:1}li.version{font-size:.85rem}li.version a{margin-left:.4rem;color:var(--link)}\
@media (max-width:40rem){form.find input{min-width:0;width:100%}form.find label{flex:1 1 100%}}";

/// Percent-encodes a query value.
fn query_value(v: &str) -> String {
    percent_encoding::utf8_percent_encode(v, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// The landing page's URL for a search, a tag and a page (`/` when all are empty).
pub fn gallery_href(q: &str, tag: &str, page: usize) -> String {
    let mut parts = Vec::new();
    if !q.is_empty() {
        parts.push(format!("q={}", query_value(q)));
    }
    if !tag.is_empty() {
        parts.push(format!("tag={}", query_value(tag)));
    }
    if page > 1 {
        parts.push(format!("page={page}"));
    }
    if parts.is_empty() {
        "/".into()
    } else {
        format!("/?{}", parts.join("&"))
    }
}

/// "2026-12-05 13:10 UTC" from RFC 3339.
fn short_time(t: &str) -> String {
    let t = t.replace('T', " ");
    let t = t.split('.').next().unwrap_or(&t).trim_end_matches('Z');
    let minutes = if t.len() >= 16 { &t[..16] } else { t };
    format!("{minutes} UTC")
}

/// The results part of the landing page (also sent alone to the page's script, `partial=1`).
pub fn gallery_results(g: &Gallery<'_>) -> String {
    let mut out = String::new();
    let pages = g.total.div_ceil(g.per_page.max(1)).max(1);
    if g.listed == 0 {
        out.push_str(
            "<div class=\"empty\"><p><strong>Nothing is published yet.</strong></p>\
             <p>When the publisher shares an app, notebook or site, it will appear here.</p></div>",
        );
        return out;
    }
    let count = match (g.total, g.q.is_empty() && g.tag.is_empty()) {
        (0, _) => "Nothing matches.".to_string(),
        (1, true) => "1 item".to_string(),
        (n, true) => format!("{n} items"),
        (1, false) => "1 item matches".to_string(),
        (n, false) => format!("{n} items match"),
    };
    let _ = write!(out, "<p class=\"count\" id=\"count\" role=\"status\">{}</p>", esc(&count));
    if g.total == 0 {
        let _ = write!(
            out,
            "<div class=\"empty\"><p>Nothing matches your search.</p><p><a href=\"/\">Show everything</a></p></div>"
        );
        return out;
    }
    out.push_str("<ul id=\"content\">");
    for c in &g.cards {
        out.push_str("<li>");
        out.push_str("<div class=\"thumb\">");
        match (c.thumbnail, &c.card_svg) {
            (Some(v), _) => {
                let _ = write!(
                    out,
                    "<img src=\"/content/{}/__thumbnail__?v={}\" alt=\"\" loading=\"lazy\" decoding=\"async\">",
                    esc(c.guid),
                    query_value(v)
                );
            }
            (None, Some(svg)) => {
                // Decorative: the title and kind are written out below it.
                out.push_str(&svg.replacen("<svg ", "<svg aria-hidden=\"true\" focusable=\"false\" ", 1));
            }
            (None, None) => {}
        }
        out.push_str("</div><div class=\"body\">");
        let _ = write!(out, "<h2><a href=\"{}\">{}</a></h2>", esc(&c.href), esc(c.title));
        let _ = write!(out, "<span class=\"kind\">{}</span>", c.kind);
        if c.app {
            out.push_str("<span class=\"kind starts\" title=\"Apps start when someone opens them\">Takes a moment to start</span>");
        }
        // Local items are listed only to this computer; say so, so nobody shares the URL.
        if c.local_only {
            out.push_str("<span class=\"kind\">only this computer</span>");
        }
        if !c.description.is_empty() {
            let _ = write!(out, "<p class=\"desc\">{}</p>", esc(c.description));
        }
        if let Some(t) = c.updated {
            let what = if c.rendered { "Refreshed" } else { "Updated" };
            let _ = write!(
                out,
                "<p class=\"meta\">{what} <time datetime=\"{}\">{}</time></p>",
                esc(t),
                esc(&short_time(t))
            );
        }
        if !c.tags.is_empty() {
            out.push_str("<ul class=\"tags\" aria-label=\"Tags\">");
            for t in c.tags {
                let _ = write!(out, "<li><a href=\"{}\">{}</a></li>", esc(&gallery_href("", t, 1)), esc(t));
            }
            out.push_str("</ul>");
        }
        if !c.pins.is_empty() {
            out.push_str(&pin_versions(c.guid, &c.pins));
        }
        out.push_str("</div></li>");
    }
    out.push_str("</ul>");
    if pages > 1 {
        out.push_str("<nav class=\"pages\" aria-label=\"Pages\">");
        if g.page > 1 {
            let _ =
                write!(out, "<a rel=\"prev\" href=\"{}\">← Previous</a>", esc(&gallery_href(g.q, g.tag, g.page - 1)));
        }
        let _ = write!(out, "<span>Page {} of {pages}</span>", g.page);
        if g.page < pages {
            let _ = write!(out, "<a rel=\"next\" href=\"{}\">Next →</a>", esc(&gallery_href(g.q, g.tag, g.page + 1)));
        }
        out.push_str("</nav>");
    }
    out
}

/// The script that makes search and the tag filter instant: it asks the server for the
/// results part (`partial=1`) and swaps it in, keeping the address bar in step. Without
/// it the form submits as a plain GET, so everything works without JavaScript.
const GALLERY_SCRIPT: &str = "(()=>{const f=document.getElementById('find');const r=document.getElementById('results');\
if(!f||!r||!window.fetch)return;let t=0,n=0;const go=()=>{const p=new URLSearchParams(new FormData(f));\
for(const[k,v]of[...p])if(!v)p.delete(k);const qs=p.toString();const u=qs?'/?'+qs:'/';const me=++n;\
p.set('partial','1');fetch('/?'+p.toString(),{headers:{accept:'text/html'}}).then(x=>x.ok?x.text():Promise.reject(x.status))\
.then(h=>{if(me!==n)return;r.innerHTML=h;history.replaceState(null,'',u)}).catch(()=>{})};\
f.addEventListener('input',e=>{clearTimeout(t);t=setTimeout(go,e.target.tagName==='SELECT'?0:150)});\
f.addEventListener('submit',e=>{e.preventDefault();clearTimeout(t);go()});\
const b=f.querySelector('button');if(b)b.hidden=true})();";

/// The landing page at `/`: the gallery of what this visitor may open.
pub fn gallery(g: &Gallery<'_>) -> String {
    let mut body = String::from("<header class=\"top\">");
    if let Some(v) = g.logo {
        let _ = write!(body, "<img src=\"{LOGO_PATH}?v={}\" alt=\"\">", query_value(v));
    }
    let _ = write!(body, "<div><h1>{}</h1>", esc(g.title));
    if !g.intro.is_empty() {
        let _ = write!(body, "<p class=\"sub\">{}</p>", esc(g.intro));
    }
    body.push_str("</div></header><main>");
    if g.listed > 0 {
        let _ = write!(
            body,
            "<form class=\"find\" id=\"find\" method=\"get\" action=\"/\" role=\"search\">\
             <label for=\"q\">Search<input type=\"search\" id=\"q\" name=\"q\" value=\"{}\" \
             placeholder=\"Title, description or tag\" autocomplete=\"off\"></label>",
            esc(g.q)
        );
        if !g.tag_paths.is_empty() || !g.tag.is_empty() {
            body.push_str("<label for=\"tag\">Tag<select id=\"tag\" name=\"tag\"><option value=\"\">All tags</option>");
            let mut paths: Vec<&str> = g.tag_paths.iter().map(String::as_str).collect();
            if !g.tag.is_empty() && !paths.contains(&g.tag) {
                paths.push(g.tag);
            }
            for t in paths {
                let selected = if t == g.tag { " selected" } else { "" };
                let _ = write!(body, "<option value=\"{}\"{selected}>{}</option>", esc(t), esc(t));
            }
            body.push_str("</select></label>");
        }
        body.push_str("<button type=\"submit\">Search</button></form>");
    }
    let _ = write!(body, "<div id=\"results\" aria-live=\"polite\">{}</div></main>", gallery_results(g));
    let _ = write!(body, "<script>{GALLERY_SCRIPT}</script>");
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><meta name=\"viewport\" \
         content=\"width=device-width,initial-scale=1\"><meta name=\"color-scheme\" content=\"light dark\"><link rel=\"icon\" href=\"data:,\">\
         <title>{}</title><style>{GALLERY_STYLE}</style></head><body>{body}</body></html>",
        esc(g.title)
    )
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
    for r in history.iter().filter(|r| r.status == crate::vocab::RenderStatus::Success).take(10) {
        let when = r.finished_time.as_deref().unwrap_or(&r.started_time).replace('T', " ").replace('Z', " UTC");
        let _ = write!(
            items,
            "<li><a href=\"{}_render{}/\"{}>{}</a> <small>{}</small></li>",
            esc(base),
            r.id,
            if r.id == shown { " aria-current=\"page\" style=\"font-weight:700\"" } else { "" },
            esc(&when),
            esc(r.trigger.as_str())
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
