//! The gallery's server settings as the gallery reads them: `thumbnails`, `gallery_title` and
//! `gallery_intro` (the logo is an image, set through its own endpoint, see
//! [`super::Gallery::set_logo`]).
//!
//! They are declared, checked and saved like every other setting, in the settings registry
//! (`settings/registry.rs`, section Gallery, using the limits below); `settings/` pushes the
//! values in force here with `Gallery::set_settings` whenever they change.

use serde::{Deserialize, Serialize};

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
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct GallerySettings {
    /// `auto` (default) or `manual`.
    pub thumbnails: Option<ThumbnailMode>,
    /// The landing page's heading (plain text).
    pub gallery_title: Option<String>,
    /// The landing page's intro (plain text, shown escaped).
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
}
