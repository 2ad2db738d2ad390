//! Connect's `manifest.json`, read leniently.
//!
//! Real clients disagree on details: `files` is a dict (rsconnect) or a list (pins), the
//! locale is sometimes spelled `local`, and any field may be `null`. We keep the raw JSON
//! (it is stored with the bundle unchanged) and pull out only what Porch acts on.

use serde_json::{json, Value};

use super::BundleError;
use crate::vocab::AppMode;

/// Every appmode Porch accepts in a manifest.
pub const APP_MODES: &[&str] = &[
    "shiny",
    "rmd-shiny",
    "rmd-static",
    "static",
    "api",
    "tensorflow-saved-model",
    "jupyter-static",
    "python-api",
    "python-dash",
    "python-streamlit",
    "python-bokeh",
    "python-fastapi",
    "quarto-shiny",
    "quarto-static",
    "python-shiny",
    "jupyter-voila",
    "python-gradio",
    "python-panel",
    "nodejs",
];

/// The parts of a manifest Porch uses, plus the whole document.
#[derive(Debug, Clone, PartialEq)]
pub struct Manifest {
    /// `metadata.appmode` (always a mode this Porch knows: others are refused).
    pub app_mode: AppMode,
    /// `metadata.entrypoint`, if any.
    pub entrypoint: Option<String>,
    /// `metadata.primary_html`, if any.
    pub primary_html: Option<String>,
    /// `metadata.content_category`, `""` when absent.
    pub content_category: String,
    /// The full document as JSON.
    pub raw: Value,
}

impl Manifest {
    /// Parses a manifest's bytes, refusing an appmode Porch does not know.
    pub fn parse(bytes: &[u8]) -> Result<Manifest, BundleError> {
        let m = Self::read(bytes)?;
        m.check_known()?;
        Ok(m)
    }

    /// Reads the manifest stored with a bundle. An appmode this Porch does not know (a row
    /// written by a newer Porch) is kept as [`AppMode::Other`], and a JSON object without
    /// one reads as [`AppMode::Unset`], so the bundle still loads; deploying or running it
    /// refuses it ([`Manifest::check_known`]). Only text that is not a JSON object fails.
    pub fn stored(text: &str) -> Result<Manifest, BundleError> {
        Self::read(text.as_bytes()).or_else(|err| match serde_json::from_str::<Value>(text) {
            Ok(raw @ Value::Object(_)) => Ok(Manifest {
                app_mode: AppMode::Unset,
                entrypoint: None,
                primary_html: None,
                content_category: String::new(),
                raw,
            }),
            _ => Err(err),
        })
    }

    /// Refuses an appmode Porch does not run or serve.
    pub fn check_known(&self) -> Result<(), BundleError> {
        if APP_MODES.contains(&self.app_mode.as_str()) {
            return Ok(());
        }
        if self.app_mode == AppMode::Unset {
            return Err(BundleError::InvalidManifest { reason: "missing \"metadata\" with an \"appmode\"".into() });
        }
        Err(BundleError::InvalidManifest {
            reason: format!(
                "unknown appmode {:?}; supported appmodes are {}",
                self.app_mode.as_str(),
                APP_MODES.join(", ")
            ),
        })
    }

    fn read(bytes: &[u8]) -> Result<Manifest, BundleError> {
        let bad = |reason: String| BundleError::InvalidManifest { reason };
        let raw: Value = serde_json::from_slice(bytes).map_err(|e| bad(format!("not valid JSON ({e})")))?;
        let Value::Object(obj) = &raw else {
            return Err(bad("the top level must be a JSON object".into()));
        };
        let meta = match obj.get("metadata") {
            Some(Value::Object(m)) => m,
            Some(Value::Null) | None => return Err(bad("missing \"metadata\" with an \"appmode\"".into())),
            Some(_) => return Err(bad("\"metadata\" must be an object".into())),
        };
        let app_mode = match meta.get("appmode") {
            Some(Value::String(s)) => s.clone(),
            Some(Value::Null) | None => return Err(bad("missing \"metadata.appmode\"".into())),
            Some(other) => return Err(bad(format!("\"metadata.appmode\" must be a string, not {other}"))),
        };
        let app_mode = AppMode::parse(&app_mode);
        let text = |k: &str| match meta.get(k) {
            Some(Value::String(s)) if !s.is_empty() => Some(s.clone()),
            _ => None,
        };
        // `files` may be a dict or a list; only its shape is checked here.
        match obj.get("files") {
            None | Some(Value::Null | Value::Object(_) | Value::Array(_)) => {}
            Some(_) => return Err(bad("\"files\" must be an object or a list".into())),
        }
        Ok(Manifest {
            entrypoint: text("entrypoint"),
            primary_html: text("primary_html"),
            content_category: text("content_category").unwrap_or_default(),
            app_mode,
            raw,
        })
    }

    /// A manifest as `rsconnect write-manifest` would write it for inferred content.
    pub fn inferred(app_mode: &AppMode, entrypoint: Option<&str>, primary_html: Option<&str>) -> Manifest {
        let mut metadata = json!({ "appmode": app_mode.as_str() });
        if let Some(e) = entrypoint {
            metadata["entrypoint"] = json!(e);
        }
        if let Some(p) = primary_html {
            metadata["primary_html"] = json!(p);
        }
        let raw = json!({ "version": 1, "metadata": metadata, "files": {} , "porch": { "inferred": true } });
        Manifest {
            app_mode: app_mode.clone(),
            entrypoint: entrypoint.map(str::to_string),
            primary_html: primary_html.map(str::to_string),
            content_category: String::new(),
            raw,
        }
    }
}

/// A bundle's stored manifest is decoded once, when its row is read (see
/// [`Manifest::stored`]); it is written as JSON text.
impl sqlx::Type<sqlx::Sqlite> for Manifest {
    fn type_info() -> sqlx::sqlite::SqliteTypeInfo {
        <str as sqlx::Type<sqlx::Sqlite>>::type_info()
    }

    fn compatible(ty: &sqlx::sqlite::SqliteTypeInfo) -> bool {
        <str as sqlx::Type<sqlx::Sqlite>>::compatible(ty)
    }
}

impl<'r> sqlx::Decode<'r, sqlx::Sqlite> for Manifest {
    fn decode(value: sqlx::sqlite::SqliteValueRef<'r>) -> Result<Self, sqlx::error::BoxDynError> {
        let text = <&str as sqlx::Decode<'r, sqlx::Sqlite>>::decode(value)?;
        Ok(Manifest::stored(text)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_rsconnect_html_manifest() {
        let m = Manifest::parse(
            br#"{"version":1,"locale":"en_US.UTF-8","metadata":{"appmode":"static","primary_html":"index.html","entrypoint":"index.html"},"files":{"index.html":{"checksum":"x"}}}"#,
        )
        .expect("valid");
        assert_eq!(m.app_mode, "static");
        assert_eq!(m.primary_html.as_deref(), Some("index.html"));
    }

    #[test]
    fn reads_pins_manifest_with_quirks() {
        let m = Manifest::parse(
            br#"{"version":1,"local":"en_US","platform":"3.5.1","metadata":{"appmode":"static","primary_rmd":null,"primary_html":"index.html","content_category":"pin","has_parameters":false},"packages":null,"files":["index.html","data.txt"],"users":null,"extra":{"x":1}}"#,
        )
        .expect("valid");
        assert_eq!(m.content_category, "pin");
        assert_eq!(m.entrypoint, None);
    }

    #[test]
    fn quarto_null_category_is_empty() {
        let m = Manifest::parse(br#"{"metadata":{"appmode":"static","content_category":null},"files":null}"#)
            .expect("valid");
        assert_eq!(m.content_category, "");
    }

    #[test]
    fn refuses_broken_manifests_with_reasons() {
        let cases: &[(&[u8], &str)] = &[
            (b"{not json", "not valid JSON"),
            (b"[]", "JSON object"),
            (br#"{"files":{}}"#, "appmode"),
            (br#"{"metadata":{"appmode":"cobol"}}"#, "unknown appmode"),
            (br#"{"metadata":{"appmode":3}}"#, "must be a string"),
            (br#"{"metadata":{"appmode":"static"},"files":3}"#, "\"files\""),
        ];
        for (bytes, want) in cases {
            let err = Manifest::parse(bytes).expect_err("must fail").to_string();
            assert!(err.contains(want), "{err} should mention {want}");
        }
    }

    #[test]
    fn a_stored_manifest_with_an_unknown_appmode_loads_but_is_not_run() {
        let text = r#"{"metadata":{"appmode":"python-marimo","entrypoint":"app.py"}}"#;
        let m = Manifest::stored(text).expect("a stored manifest loads");
        assert_eq!(m.app_mode, AppMode::Other("python-marimo".into()));
        assert_eq!(m.entrypoint.as_deref(), Some("app.py"));
        let err = m.check_known().expect_err("not runnable").to_string();
        assert!(err.contains("unknown appmode \"python-marimo\""), "{err}");
        assert!(Manifest::parse(text.as_bytes()).is_err(), "a new bundle with it is refused");
        assert!(Manifest::stored("not json").is_err());
        let empty = Manifest::stored("{}").expect("an empty object loads");
        assert_eq!(empty.app_mode, AppMode::Unset);
        assert!(empty.check_known().expect_err("not runnable").to_string().contains("missing \"metadata\""));
    }
}
