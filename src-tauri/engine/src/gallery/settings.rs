//! The gallery's server settings, declared in one place: `thumbnails`, `gallery_title` and
//! `gallery_intro` (the logo is an image, set through its own endpoint, see
//! [`super::Gallery::set_logo`]).
//!
//! `settings/` stores them inside the saved server-settings document (this struct is
//! flattened into `SavedSettings`) and hands each `name=value` of a change set whose name is
//! in [`NAMES`] to [`GallerySettings::set`]. When the settings registry lands, each entry of
//! [`NAMES`] becomes one registry declaration with the validation below.

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::{Error, Result};

/// The settings this module declares, as `PATCH /__api__/porch/server` and `porch settings
/// set` name them.
pub const NAMES: &[&str] = &["thumbnails", "gallery_title", "gallery_intro"];

/// Longest gallery title, in characters.
pub const MAX_TITLE: usize = 120;
/// Longest gallery intro, in characters.
pub const MAX_INTRO: usize = 2000;
/// The landing page's title when none was set.
pub const DEFAULT_TITLE: &str = "Porch";
/// The landing page's intro when none was set.
pub const DEFAULT_INTRO: &str = "Published on this computer for everyone on the network.";

/// Whether Porch takes thumbnails itself.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[serde(rename_all = "lowercase")]
pub enum ThumbnailMode {
    /// Capture a screenshot after each deploy or render where Chromium is installed
    /// (the default); otherwise a generated card.
    #[default]
    Auto,
    /// Never capture: uploaded pictures or a generated card.
    Manual,
}

/// The gallery's saved settings; `None` is the default.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct GallerySettings {
    /// `auto` (default) or `manual`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub thumbnails: Option<ThumbnailMode>,
    /// The landing page's heading (plain text).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub gallery_title: Option<String>,
    /// The landing page's intro (plain text, shown escaped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[cfg_attr(feature = "ts", ts(optional))]
    pub gallery_intro: Option<String>,
}

impl GallerySettings {
    /// The thumbnail mode in force.
    pub fn mode(&self) -> ThumbnailMode {
        self.thumbnails.unwrap_or_default()
    }

    /// The landing page's heading.
    pub fn title(&self) -> &str {
        self.gallery_title.as_deref().filter(|t| !t.trim().is_empty()).unwrap_or(DEFAULT_TITLE)
    }

    /// The landing page's intro.
    pub fn intro(&self) -> &str {
        self.gallery_intro.as_deref().unwrap_or(DEFAULT_INTRO)
    }

    /// Sets one setting named in [`NAMES`] (`null` = the default), checking its value.
    pub fn set(&mut self, name: &str, value: &Value) -> Result<()> {
        let text = |max: usize| -> Result<Option<String>> {
            match value {
                Value::Null => Ok(None),
                Value::String(s) if s.chars().count() <= max && !s.chars().any(|c| c.is_control() && c != '\n') => {
                    Ok(Some(s.trim().to_string()))
                }
                Value::String(_) => Err(Error::Invalid(format!(
                    "{name} must be plain text of at most {max} characters (no control characters)"
                ))),
                // The CLI's `name=value` words turn numbers into numbers: keep them as text.
                Value::Number(n) => Ok(Some(n.to_string())),
                v => Err(Error::Invalid(format!("{name} must be text, not {v}"))),
            }
        };
        match name {
            "thumbnails" => {
                self.thumbnails = match value {
                    Value::Null => None,
                    Value::String(s) if s == "auto" => Some(ThumbnailMode::Auto),
                    Value::String(s) if s == "manual" => Some(ThumbnailMode::Manual),
                    v => {
                        return Err(Error::Invalid(format!(
                            "thumbnails must be \"auto\" (Porch takes a screenshot after each deploy or render) or \"manual\" (uploaded pictures and generated cards only), not {v}"
                        )))
                    }
                }
            }
            "gallery_title" => self.gallery_title = text(MAX_TITLE)?,
            "gallery_intro" => self.gallery_intro = text(MAX_INTRO)?,
            other => return Err(Error::Invalid(format!("unknown gallery setting {other:?}"))),
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn settings_set_reset_and_refuse_bad_values() {
        let mut g = GallerySettings::default();
        assert_eq!((g.mode(), g.title()), (ThumbnailMode::Auto, DEFAULT_TITLE));
        g.set("thumbnails", &json!("manual")).expect("manual");
        g.set("gallery_title", &json!(" Team reports ")).expect("title");
        g.set("gallery_intro", &json!("<b>hi</b>\nthere")).expect("intro");
        assert_eq!((g.mode(), g.title(), g.intro()), (ThumbnailMode::Manual, "Team reports", "<b>hi</b>\nthere"));
        g.set("thumbnails", &Value::Null).expect("reset");
        assert_eq!(g.mode(), ThumbnailMode::Auto);
        for (name, bad) in [
            ("thumbnails", json!("sometimes")),
            ("gallery_title", json!("x".repeat(MAX_TITLE + 1))),
            ("gallery_title", json!(true)),
            ("gallery_intro", json!("a\u{7}b")),
        ] {
            let err = g.set(name, &bad).expect_err(name).to_string();
            assert!(err.contains(name), "{err}");
        }
        let doc = serde_json::to_value(&g).expect("json");
        assert_eq!(doc, json!({"gallery_title": "Team reports", "gallery_intro": "<b>hi</b>\nthere"}));
    }
}
