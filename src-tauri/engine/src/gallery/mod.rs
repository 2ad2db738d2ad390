//! The gallery: what viewers see of the library on the landing page — tags (Connect's tag
//! tree), thumbnails (uploaded, captured or a generated card), the landing page's title,
//! intro and logo — and the index the landing page filters.
//!
//! Owns the `tags`, `content_tags` and `thumbnails` rows (through the store), the capture of
//! screenshots with a headless Chromium ([`capture`], through the process runner), the
//! gallery's settings (declared in [`settings`], stored by `settings/`) and the gallery index
//! ([`GalleryIndex`]): every item with its tag paths, picture version and "updated" time,
//! sorted by title, rebuilt lazily when the shared change generation or the picture
//! generation moves (a picture change moves only the latter: the content list, which shows
//! no pictures, is not rebuilt for it).
//!
//! Does not: decide who may open an item (the gateway filters the index per visitor with
//! its own access rules) or write the HTML (`static_site::pages`).
//!
//! Concurrency: a cheap `Clone` over an `Arc`. The index is an `Arc` swapped whole under a
//! tokio mutex held while it is built, so concurrent landing pages share one build. The
//! settings are a std lock, never held across an await. Captures run one at a time on a
//! tracked task fed by the event bus.

pub mod capture;
mod devtools;
pub mod image;
pub mod settings;
mod tags;
mod thumbnails;

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use crate::apps::Apps;
use crate::error::Result;
use crate::library::Library;
use crate::routes::Route;
use crate::shared::Shared;
use crate::store::ContentRow;

pub use settings::{GallerySettings, ThumbnailMode};
pub use tags::{validate_tag_name, TagView};
pub use thumbnails::{Logo, Picture};

/// The gallery service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Gallery {
    shared: Shared,
    library: Library,
    apps: Apps,
    state: Arc<State>,
}

/// The shared change generation and the picture generation, as of one index build.
type Generations = (u64, u64);

#[derive(Debug)]
struct State {
    /// The saved gallery settings, pushed by `settings/` whenever they change.
    settings: RwLock<GallerySettings>,
    /// The index and the generations it was built at.
    index: tokio::sync::Mutex<(Generations, Option<Arc<GalleryIndex>>)>,
    /// Serialises tag-tree changes (checks, then writes).
    tag_lock: tokio::sync::Mutex<()>,
    /// Where captures are queued (`None` until the capture loop runs).
    captures: std::sync::OnceLock<tokio::sync::mpsc::UnboundedSender<capture::Job>>,
}

/// One item as the gallery shows it (before access is applied).
#[derive(Debug, Clone)]
pub struct Entry {
    /// The item's route (title, kind, access, paths).
    pub route: Arc<Route>,
    /// Lower-case text a search matches: title, name, description and tag paths.
    pub haystack: String,
    /// Its tag paths (`finance/quarterly`), sorted.
    pub tags: Vec<String>,
    /// The stored picture's version (its update time), if it has one.
    pub thumbnail: Option<String>,
    /// RFC 3339: the last successful render (rendered content) or the last deploy.
    pub updated: Option<String>,
    /// Whether "updated" is a render time (so the card can say "refreshed").
    pub rendered: bool,
}

/// Every item in title order, with what the landing page shows and filters on.
#[derive(Debug, Default)]
pub struct GalleryIndex {
    /// Items sorted by title (case-insensitive), then name.
    pub entries: Vec<Entry>,
    /// Every tag path that is on at least one item, sorted.
    pub tag_paths: Vec<String>,
    /// The landing page logo's version, when one is set.
    pub logo: Option<String>,
}

impl Gallery {
    /// The gallery service over the library, with the saved gallery settings.
    pub(crate) fn new(shared: Shared, library: Library, apps: Apps, settings: GallerySettings) -> Gallery {
        let state = State {
            settings: RwLock::new(settings),
            index: tokio::sync::Mutex::new(((0, 0), None)),
            tag_lock: tokio::sync::Mutex::new(()),
            captures: std::sync::OnceLock::new(),
        };
        Gallery { shared, library, apps, state: Arc::new(state) }
    }

    /// The gallery settings in force.
    pub fn settings(&self) -> GallerySettings {
        match self.state.settings.read() {
            Ok(s) => s.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    /// Replaces the gallery settings (`settings/` calls this after saving or reloading).
    pub(crate) fn set_settings(&self, next: GallerySettings) {
        match self.state.settings.write() {
            Ok(mut s) => *s = next,
            Err(p) => *p.into_inner() = next,
        }
    }

    /// The index as of the latest change (built now if something changed since the last one).
    pub async fn index(&self) -> Result<Arc<GalleryIndex>> {
        let mut slot = self.state.index.lock().await;
        // Read before building: a change landing meanwhile is seen on the next call.
        let generation = (self.shared.generation(), self.shared.pictures_generation());
        if let (g, Some(index)) = &*slot {
            if *g == generation {
                return Ok(index.clone());
            }
        }
        let index = Arc::new(self.build_index().await?);
        *slot = (generation, Some(index.clone()));
        Ok(index)
    }

    async fn build_index(&self) -> Result<GalleryIndex> {
        let store = &self.shared.store;
        let rows = store.list_content(None).await?;
        let paths = tags::paths_by_id(&store.list_tags().await?);
        let mut item_tags: HashMap<i64, Vec<String>> = HashMap::new();
        for (content_id, tag_id) in store.all_content_tags().await? {
            if let Some(p) = paths.get(&tag_id) {
                item_tags.entry(content_id).or_default().push(p.clone());
            }
        }
        let thumbs: HashMap<i64, String> =
            store.thumbnails().await?.into_iter().map(|t| (t.content_id, t.updated_time)).collect();
        let renders: HashMap<i64, String> = store.last_successful_renders().await?.into_iter().collect();
        let mut all_paths: Vec<String> = Vec::new();
        let mut entries: Vec<Entry> = rows
            .iter()
            .map(|c: &ContentRow| {
                let route = Arc::new(Route::from(c));
                let mut tags = item_tags.remove(&c.id).unwrap_or_default();
                tags.sort();
                all_paths.extend(tags.iter().cloned());
                let haystack =
                    format!("{}\n{}\n{}\n{}", route.title, c.name, c.description, tags.join("\n")).to_lowercase();
                let is_rendered = crate::runtime_kind(&c.app_mode) == crate::RuntimeKind::Rendered;
                let render_time = renders.get(&c.id).cloned();
                let rendered = is_rendered && render_time.is_some();
                let updated = if rendered { render_time } else { c.last_deployed_time.clone() };
                Entry { route, haystack, tags, thumbnail: thumbs.get(&c.id).cloned(), updated, rendered }
            })
            .collect();
        entries.sort_by_cached_key(|e| (e.route.title.to_lowercase(), e.route.name.clone()));
        all_paths.sort();
        all_paths.dedup();
        Ok(GalleryIndex { entries, tag_paths: all_paths, logo: self.logo_version().await? })
    }
}
