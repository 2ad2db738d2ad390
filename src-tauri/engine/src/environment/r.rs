//! R content: which packages a bundle needs, and whether this machine's R has them.
//!
//! Owns: extracting package names from the manifest's `packages` and from `library(x)`,
//! `require(x)` and `x::` in `.R`/`.Rmd`/`.qmd` files at the bundle root, and one `Rscript`
//! call that reports R's version, its real `Rscript` and the missing packages. Does not
//! install R packages: Porch uses the machine's library and names what is missing.
//!
//! The extraction is a scan, not an R parser: it strips `#` comments, reads only R chunks
//! of R Markdown / Quarto files, and skips `library(x, character.only = TRUE)` (where `x` is
//! a variable). Names in strings can still be picked up; that errs on the side of asking.

use std::collections::BTreeSet;
use std::path::Path;
use std::sync::OnceLock;

use regex_lite::Regex;

/// Source files larger than this are not scanned.
const MAX_SCAN_BYTES: u64 = 2 * 1024 * 1024;

/// Whether `name` is a valid R package name (letters, digits and dots, starting with a
/// letter, not ending with a dot, at least two characters).
///
/// SECURITY: only names passing this check are spliced into the R code we run, so a
/// manifest cannot inject R through a package name.
pub(crate) fn valid_package_name(name: &str) -> bool {
    let b = name.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'.')
        && b[b.len() - 1] != b'.'
}

/// Package names in the manifest's `packages` object (rsconnect writes one key per package).
pub(crate) fn manifest_packages(raw: &serde_json::Value) -> Vec<String> {
    raw.get("packages").and_then(|p| p.as_object()).map(|o| o.keys().cloned().collect()).unwrap_or_default()
}

fn library_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r#"(?:^|[^A-Za-z0-9._])(?:library|require)\s*\(\s*(?:package\s*=\s*)?["']?([A-Za-z][A-Za-z0-9.]*)["']?\s*([,)])([^)]*)"#)
            .expect("the library() pattern is valid")
    })
}

fn namespace_re() -> &'static Regex {
    static RE: OnceLock<Regex> = OnceLock::new();
    RE.get_or_init(|| {
        Regex::new(r"(?:^|[^A-Za-z0-9._])([A-Za-z][A-Za-z0-9.]*[A-Za-z0-9]):::?[A-Za-z._`]")
            .expect("the pkg:: pattern is valid")
    })
}

/// Package names used by R code (`library(x)`, `require("x")`, `x::f`, `x:::f`).
pub(crate) fn packages_in_code(code: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for line in code.lines() {
        let line = strip_comment(line);
        for c in library_re().captures_iter(line) {
            let rest = c.get(3).map_or("", |m| m.as_str());
            if &c[2] == "," && rest.contains("character.only") {
                continue;
            }
            out.insert(c[1].to_string());
        }
        for c in namespace_re().captures_iter(line) {
            out.insert(c[1].to_string());
        }
    }
    out.retain(|n| valid_package_name(n));
    out
}

/// Drops an R comment: `#` outside a string literal to the end of the line.
fn strip_comment(line: &str) -> &str {
    let mut quote: Option<char> = None;
    let mut escaped = false;
    for (i, ch) in line.char_indices() {
        match quote {
            Some(q) => {
                if escaped {
                    escaped = false;
                } else if ch == '\\' {
                    escaped = true;
                } else if ch == q {
                    quote = None;
                }
            }
            None if ch == '"' || ch == '\'' || ch == '`' => quote = Some(ch),
            None if ch == '#' => return &line[..i],
            None => {}
        }
    }
    line
}

/// The R code in an R Markdown or Quarto document: the bodies of ```` ```{r …} ```` chunks.
pub(crate) fn r_chunks(doc: &str) -> String {
    let mut out = String::new();
    let mut in_r = false;
    for line in doc.lines() {
        let t = line.trim_start();
        if in_r {
            if t.starts_with("```") && t.trim_end().chars().all(|c| c == '`') {
                in_r = false;
            } else {
                out.push_str(line);
                out.push('\n');
            }
        } else if let Some(rest) = t.strip_prefix("```") {
            let rest = rest.trim_start_matches('`').trim_start();
            let Some(inner) = rest.strip_prefix('{') else { continue };
            let engine: String = inner.chars().take_while(|c| c.is_ascii_alphanumeric()).collect();
            in_r = engine.eq_ignore_ascii_case("r");
        }
    }
    out
}

/// Packages used by the `.R`, `.Rmd` and `.qmd` files at the bundle root (not subfolders:
/// those are often vendored or unrelated).
pub(crate) fn packages_in_bundle(bundle_dir: &Path) -> std::io::Result<BTreeSet<String>> {
    let mut out = BTreeSet::new();
    for entry in std::fs::read_dir(bundle_dir)? {
        let entry = entry?;
        let path = entry.path();
        let Some(ext) = path.extension().and_then(|e| e.to_str()).map(str::to_ascii_lowercase) else { continue };
        let is_script = ext == "r";
        let is_doc = ext == "rmd" || ext == "qmd";
        if !(is_script || is_doc) || !entry.file_type()?.is_file() || entry.metadata()?.len() > MAX_SCAN_BYTES {
            continue;
        }
        let bytes = std::fs::read(&path)?;
        let text = String::from_utf8_lossy(&bytes);
        let code = if is_doc { r_chunks(&text) } else { text.into_owned() };
        out.extend(packages_in_code(&code));
    }
    Ok(out)
}

/// R code that prints `version=…`, `rscript=…` and one `missing=<pkg>` per absent package.
///
/// `packages` must have passed [`valid_package_name`].
pub(crate) fn check_script(packages: &[String]) -> String {
    let list = packages.iter().map(|p| format!("\"{p}\"")).collect::<Vec<_>>().join(", ");
    format!(
        "cat(\"version=\", R.version$major, \".\", R.version$minor, \"\\n\", sep = \"\"); \
         cat(\"rscript=\", file.path(R.home(\"bin\"), \"Rscript\"), \"\\n\", sep = \"\"); \
         for (p in c({list})) if (!nzchar(system.file(package = p))) cat(\"missing=\", p, \"\\n\", sep = \"\")"
    )
}

/// What the check script printed.
#[derive(Debug, Default, PartialEq, Eq)]
pub(crate) struct CheckOutput {
    pub(crate) version: Option<String>,
    pub(crate) rscript: Option<String>,
    pub(crate) missing: Vec<String>,
}

/// Reads the check script's output, ignoring anything a user profile printed.
pub(crate) fn parse_check(stdout: &str) -> CheckOutput {
    let mut out = CheckOutput::default();
    for line in stdout.lines() {
        if let Some(v) = line.strip_prefix("version=") {
            out.version = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("rscript=") {
            out.rscript = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("missing=") {
            out.missing.push(v.trim().to_string());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(code: &str) -> Vec<String> {
        packages_in_code(code).into_iter().collect()
    }

    #[test]
    fn finds_library_require_and_namespace_uses() {
        let code = r#"
library(shiny)
suppressPackageStartupMessages(library("dplyr"))
require(ggplot2, quietly = TRUE)
library(package = 'tidyr')
x <- data.table::fread("a.csv"); y <- stats:::var(1)
pkgs <- c("a"); library(pkgs[1], character.only = TRUE)
my_lib::f()  # not a package: R forbids underscores in package names
# library(commented)
plot(1) # purrr::map
s <- "colour #fff"; jsonlite::toJSON(1)
"#;
        assert_eq!(names(code), vec!["data.table", "dplyr", "ggplot2", "jsonlite", "shiny", "stats", "tidyr"]);
    }

    #[test]
    fn reads_only_r_chunks_of_documents() {
        let doc = "---\ntitle: x\n---\nlibrary(prose)\n```{r setup, include=FALSE}\nlibrary(knitr)\n```\n\n```{python}\nimport pandas\nlibrary(notr)\n```\n```{R}\nleaflet::leaflet()\n```\n";
        assert_eq!(names(&r_chunks(doc)), vec!["knitr", "leaflet"]);
    }

    #[test]
    fn validates_package_names() {
        for ok in ["shiny", "data.table", "R6", "ggplot2"] {
            assert!(valid_package_name(ok), "{ok}");
        }
        for bad in ["", "a", "2pkg", "pkg.", "x\")); system(\"rm", "my_lib", "a b"] {
            assert!(!valid_package_name(bad), "{bad}");
        }
    }

    #[test]
    fn manifest_packages_and_bundle_scan() {
        let raw = serde_json::json!({"packages": {"shiny": {"Source": "CRAN"}, "R6": {}}});
        assert_eq!(manifest_packages(&raw), vec!["R6", "shiny"]);
        assert!(manifest_packages(&serde_json::json!({"packages": null})).is_empty());
        let dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(dir.path().join("app.R"), "library(shiny)\n").expect("write");
        std::fs::write(dir.path().join("report.Rmd"), "```{r}\nlibrary(knitr)\n```\n").expect("write");
        std::fs::create_dir(dir.path().join("sub")).expect("mkdir");
        std::fs::write(dir.path().join("sub/x.R"), "library(deep)\n").expect("write");
        let found: Vec<String> = packages_in_bundle(dir.path()).expect("scan").into_iter().collect();
        assert_eq!(found, vec!["knitr", "shiny"]);
    }

    #[test]
    fn check_script_and_output() {
        let s = check_script(&["shiny".into(), "data.table".into()]);
        assert!(s.contains(r#"c("shiny", "data.table")"#), "{s}");
        let out = parse_check(
            "hello from Rprofile\nversion=4.3.2\nrscript=/usr/lib/R/bin/Rscript\nmissing=shiny\nmissing=R6\n",
        );
        assert_eq!(out.version.as_deref(), Some("4.3.2"));
        assert_eq!(out.rscript.as_deref(), Some("/usr/lib/R/bin/Rscript"));
        assert_eq!(out.missing, vec!["shiny", "R6"]);
    }
}
