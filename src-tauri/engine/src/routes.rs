//! The in-memory routing table: guid, numeric id and vanity path to what is served.
//!
//! Rebuilt from the store after every change (the library is small), then swapped in
//! whole (`arc-swap`), so readers on the hot path take no lock: they clone an `Arc`.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwap;

use crate::store::ContentRow;
use crate::vocab::{AppMode, ViewerAccess};

/// What the content router needs to know about one item.
#[derive(Debug, Clone)]
pub struct Route {
    /// Numeric id.
    pub id: i64,
    /// Guid.
    pub guid: String,
    /// Name.
    pub name: String,
    /// Title or name.
    pub title: String,
    /// Appmode.
    pub app_mode: AppMode,
    /// Content category.
    pub content_category: String,
    /// Who may view it.
    pub access: ViewerAccess,
    /// SHA-256 (hex) of the secret-link token, if any.
    pub link_token_hash: Option<String>,
    /// The active bundle.
    pub bundle_id: Option<i64>,
    /// Page served at the root.
    pub primary_html: Option<String>,
    /// Vanity path, e.g. `/sales/`.
    pub vanity_path: Option<String>,
    /// Description.
    pub description: String,
    /// The render viewers see (rendered content).
    pub render_id: Option<i64>,
}

impl Route {
    /// Whether anyone on the network may see it without a key or link.
    pub fn is_public(&self) -> bool {
        self.access.is_public()
    }

    /// The paths the item is served under: `/content/{guid}/` and its vanity path.
    pub fn bases(&self) -> Vec<String> {
        let mut v = vec![format!("/content/{}/", self.guid)];
        v.extend(self.vanity_path.clone());
        v
    }
}

impl From<&ContentRow> for Route {
    fn from(c: &ContentRow) -> Self {
        Route {
            id: c.id,
            guid: c.guid.clone(),
            name: c.name.clone(),
            title: c.title.clone().filter(|t| !t.is_empty()).unwrap_or_else(|| c.name.clone()),
            app_mode: c.app_mode.clone(),
            content_category: c.content_category.clone(),
            access: c.viewer_access.clone(),
            link_token_hash: c.link_token_hash.clone(),
            bundle_id: c.bundle_id,
            primary_html: c.primary_html.clone(),
            vanity_path: c.vanity_path.clone(),
            description: c.description.clone(),
            render_id: c.render_id,
        }
    }
}

/// A snapshot of every route.
#[derive(Debug, Default)]
pub struct RouteTable {
    by_key: HashMap<String, Arc<Route>>,
    by_vanity: HashMap<String, Arc<Route>>,
    /// All routes, in creation order.
    pub all: Vec<Arc<Route>>,
}

impl RouteTable {
    /// Builds a table from content rows.
    pub fn build(rows: &[ContentRow]) -> RouteTable {
        let mut t = RouteTable::default();
        for row in rows {
            let r = Arc::new(Route::from(row));
            t.by_key.insert(r.guid.clone(), r.clone());
            t.by_key.insert(r.id.to_string(), r.clone());
            if let Some(v) = &r.vanity_path {
                t.by_vanity.insert(v.trim_matches('/').to_string(), r.clone());
            }
            t.all.push(r);
        }
        t
    }

    /// Looks up by guid or numeric id.
    pub fn get(&self, key: &str) -> Option<Arc<Route>> {
        self.by_key.get(key).cloned()
    }

    /// Looks up by vanity path (without slashes).
    pub fn vanity(&self, path: &str) -> Option<Arc<Route>> {
        self.by_vanity.get(path).cloned()
    }
}

/// The shared, swappable table.
#[derive(Debug, Default)]
pub struct Routes {
    inner: ArcSwap<RouteTable>,
}

impl Routes {
    /// The current snapshot.
    pub fn snapshot(&self) -> Arc<RouteTable> {
        self.inner.load_full()
    }

    /// Replaces the table.
    pub fn replace(&self, table: RouteTable) {
        self.inner.store(Arc::new(table));
    }
}
