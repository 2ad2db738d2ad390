//! The library: every item, its bundles, who may view it, and the API keys.
//!
//! Owns the content and bundle rows (through the store), the bundle files under the data
//! folder, the routing table the gateway reads, the static-file cache, the serialised
//! content lists, the secret links and the keys. Operations validate input, call the
//! store, move files, refresh the routing table and publish an event. File work
//! (extraction) runs on blocking threads. A failed upload leaves no trace: extraction
//! happens in a scratch folder that is renamed into place only after the database row is
//! written, and the served bundle changes only in the activation transaction (the
//! deployer's).
//!
//! Does not: run anything (apps, renders, deploys) or follow folders; those services call
//! this one, never the other way round.
//!
//! Concurrency: a cheap `Clone` over `Arc`s. The routing table is swapped whole on every
//! change; the list cache is a tokio mutex held while a list is built, so concurrent list
//! calls share one build.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use crate::bundle::{self, detect, BundleError};
use crate::error::{Error, Result};
use crate::events::Event;
use crate::keys::{self, FailureLimiter};
use crate::routes::{RouteTable, Routes};
use crate::runtimes::{overrides, Overrides};
use crate::shared::Shared;
use crate::static_site::FileCache;
use crate::store::{BundleRow, ContentPatch, ContentRow, NewContent};
use crate::time::now;
use crate::view::{ApiKeyView, BundleView, ContentView, LinkView, NewApiKey, VanityView};
use serde::Deserialize;

/// Connect access types Porch understands.
pub const ACCESS_TYPES: &[&str] = &["all", "logged_in", "acl"];

/// Who may view an item: anyone who reaches the port, this computer only, or whoever
/// holds the secret link.
pub const VIEWER_ACCESS: &[&str] = &["network", "local", "link"];

/// Connect's `access_type` in Porch's terms: Porch has no viewer accounts, so `all` and
/// `logged_in` open the item to the network and `acl` (named users only) keeps it on this
/// computer.
pub fn viewer_access_of(access_type: &str) -> &'static str {
    if access_type == "acl" {
        "local"
    } else {
        "network"
    }
}

/// The `access_type` reported for a viewer access (`network` → `all`, otherwise `acl`).
pub fn access_type_of(viewer_access: &str) -> &'static str {
    if viewer_access == "network" {
        "all"
    } else {
        "acl"
    }
}

/// Reads an access word in either vocabulary (`network|local|link` or Connect's
/// `all|logged_in|acl`) into `(access_type, viewer_access)`.
pub fn parse_access(word: &str) -> Result<(String, String)> {
    if VIEWER_ACCESS.contains(&word) {
        Ok((access_type_of(word).to_string(), word.to_string()))
    } else if ACCESS_TYPES.contains(&word) {
        Ok((word.to_string(), viewer_access_of(word).to_string()))
    } else {
        Err(Error::Invalid(format!(
            "invalid access {word:?}: use network, local or link (or Connect's access_type all, logged_in or acl)"
        )))
    }
}

/// Checks and completes an access change: either field alone sets both; both must agree.
fn resolve_access(access_type: Option<&str>, viewer_access: Option<&str>) -> Result<(Option<String>, Option<String>)> {
    if let Some(a) = access_type.filter(|a| !ACCESS_TYPES.contains(a)) {
        return Err(Error::Invalid(format!("invalid access_type {a:?}: use one of all, logged_in, acl")));
    }
    if let Some(v) = viewer_access.filter(|v| !VIEWER_ACCESS.contains(v)) {
        return Err(Error::Invalid(format!("invalid viewer_access {v:?}: use one of network, local, link")));
    }
    Ok(match (access_type, viewer_access) {
        (None, None) => (None, None),
        (Some(a), None) => (Some(a.into()), Some(viewer_access_of(a).into())),
        (None, Some(v)) => (Some(access_type_of(v).into()), Some(v.into())),
        (Some(a), Some(v)) => {
            if (a == "acl") != (v != "network") {
                return Err(Error::Invalid(format!(
                    "access_type {a:?} and viewer_access {v:?} disagree: access_type all or logged_in means network, acl means local or link; send one of them"
                )));
            }
            (Some(a.into()), Some(v.into()))
        }
    })
}

/// Checks a content name: `[A-Za-z0-9._-]`, 3 to 64 characters.
pub fn validate_name(name: &str) -> Result<()> {
    let ok_chars = name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'));
    if !(3..=64).contains(&name.len()) || !ok_chars {
        return Err(Error::Invalid(format!(
            "invalid content name {name:?}: use 3 to 64 letters, digits, '.', '_' or '-'"
        )));
    }
    Ok(())
}

/// Longest title, in characters.
pub const MAX_TITLE_CHARS: usize = 1024;
/// Longest description, in characters.
pub const MAX_DESCRIPTION_CHARS: usize = 10_000;

/// Checks an item's title and description: within [`MAX_TITLE_CHARS`] and
/// [`MAX_DESCRIPTION_CHARS`], and no control characters (a description may hold line
/// breaks and tabs), which would show as boxes on the landing page and in the window.
pub fn validate_text(title: Option<&str>, description: Option<&str>) -> Result<()> {
    for (field, text, max, breaks) in
        [("title", title, MAX_TITLE_CHARS, false), ("description", description, MAX_DESCRIPTION_CHARS, true)]
    {
        let Some(text) = text else { continue };
        let count = text.chars().count();
        if count > max {
            return Err(Error::Invalid(format!("the {field} is {count} characters; the longest Porch takes is {max}")));
        }
        if let Some(c) = text.chars().find(|c| c.is_control() && !(breaks && matches!(c, '\n' | '\r' | '\t'))) {
            return Err(Error::Invalid(format!(
                "the {field} holds the control character {:?}; use plain text{}",
                c,
                if breaks { "" } else { " on one line" }
            )));
        }
    }
    Ok(())
}

/// Checks a vanity path and returns it as `/a/b/`.
pub fn normalize_vanity(path: &str) -> Result<String> {
    let trimmed = path.trim().trim_matches('/');
    let bad = |why: &str| Error::Invalid(format!("invalid vanity path {path:?}: {why}"));
    if trimmed.is_empty() {
        return Err(bad("it is empty"));
    }
    for seg in trimmed.split('/') {
        if seg.is_empty() || seg == "." || seg == ".." {
            return Err(bad("it has an empty, '.' or '..' segment"));
        }
        if !seg.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')) {
            return Err(bad("use letters, digits, '.', '_', '-' and '/'"));
        }
    }
    let first = trimmed.split('/').next().unwrap_or_default();
    if first.starts_with("__") || ["content", "connect", "static", "favicon.ico"].contains(&first) {
        return Err(Error::VanityConflict(format!("the vanity path /{first}/ is reserved by Porch")));
    }
    Ok(format!("/{trimmed}/"))
}
/// A new item as a client asks for it (`POST /v1/content`, a deploy by name).
///
/// The library's own request vocabulary: the API deserializes it, the library checks it
/// and turns it into the store's row.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct NewItem {
    /// Unique name.
    pub name: String,
    /// Title.
    pub title: Option<String>,
    /// Description.
    pub description: Option<String>,
    /// Connect's access type; defaults to `all`.
    pub access_type: Option<String>,
    /// Who may view it; derived from `access_type` when absent.
    pub viewer_access: Option<String>,
}

/// Changes to an item's fields; `None` leaves a field alone (`PATCH /v1/content/{guid}`).
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ItemChanges {
    /// New name.
    pub name: Option<String>,
    /// New title.
    pub title: Option<String>,
    /// New description.
    pub description: Option<String>,
    /// New access type.
    pub access_type: Option<String>,
    /// New viewer access.
    pub viewer_access: Option<String>,
}

/// The library service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Library {
    shared: Shared,
    state: Arc<State>,
}

#[derive(Debug)]
struct State {
    owner_guid: String,
    /// When the publisher's user was made (the data folder's first start): Connect's user
    /// `created_time`.
    owner_created: String,
    routes: Routes,
    files: FileCache,
    /// Failed key attempts per client address.
    key_failures: FailureLimiter,
    /// A key valid for this run only, never stored: the desktop shell's own calls.
    session_key: String,
    /// While set, viewers on other computers get a "paused" page (the publisher's tray switch).
    sharing_paused: AtomicBool,
    /// Serialised content lists, valid until the library changes (see `cached_list`).
    list_cache: tokio::sync::Mutex<ListCache>,
}

/// Content lists as sent, keyed by what they depend on besides the database.
#[derive(Debug, Default)]
struct ListCache {
    /// The shared change generation the entries were built at.
    generation: u64,
    entries: Vec<(String, bytes::Bytes)>,
}

impl Library {
    /// Opens the library of the data folder in `shared` and loads its routing table.
    pub(crate) async fn open(shared: Shared) -> Result<Library> {
        let owner_guid = shared.store.setting_or_init("owner_guid", || uuid::Uuid::new_v4().to_string()).await?;
        let owner_created = shared.store.setting_or_init("owner_created_time", crate::time::now).await?;
        let library = Library {
            shared,
            state: Arc::new(State {
                owner_guid,
                owner_created,
                routes: Routes::default(),
                files: FileCache::default(),
                key_failures: FailureLimiter::default(),
                session_key: keys::random_token(32),
                sharing_paused: AtomicBool::new(false),
                list_cache: tokio::sync::Mutex::new(ListCache::default()),
            }),
        };
        library.refresh_routes().await?;
        Ok(library)
    }

    /// The routing table the gateway reads.
    pub fn routes(&self) -> &Routes {
        &self.state.routes
    }

    /// The extracted folder of a bundle.
    pub fn bundle_dir(&self, bundle_id: i64) -> PathBuf {
        self.shared.bundle_dir(bundle_id)
    }

    /// The cache of small static files (bundles and render outputs).
    pub fn files(&self) -> &FileCache {
        &self.state.files
    }

    /// Failed key attempts per client address.
    pub fn key_failures(&self) -> &FailureLimiter {
        &self.state.key_failures
    }

    /// A key accepted for this run only (never stored), for in-process callers such as the
    /// desktop shell. SECURITY: it never leaves the process except to the app's own webview.
    pub fn session_key(&self) -> &str {
        &self.state.session_key
    }

    /// The key content processes get as `CONNECT_API_KEY` (`Base::content_key`).
    pub fn content_key(&self) -> &str {
        self.shared.content_key()
    }

    /// Pauses or resumes sharing with other computers (this computer keeps full access).
    pub fn set_sharing_paused(&self, paused: bool) {
        self.state.sharing_paused.store(paused, Ordering::Relaxed);
        tracing::info!(paused, "sharing with the network");
        self.shared.emit(Event::LibraryChanged);
    }

    /// Whether sharing with other computers is paused.
    pub fn sharing_paused(&self) -> bool {
        self.state.sharing_paused.load(Ordering::Relaxed)
    }

    /// Reloads the routing table from the store.
    pub async fn refresh_routes(&self) -> Result<()> {
        let rows = self.shared.store.list_content(None).await?;
        self.state.routes.replace(RouteTable::build(&rows));
        Ok(())
    }

    /// The content list for `key` as sent, built by `build` unless one was built since the
    /// last change. Only this process writes the database (one writer per data folder; CLI
    /// commands go through the API), and every change emits an event after it is stored,
    /// which moves the shared generation. The generation is read before building, so a list
    /// built while a change lands is replaced on the next call.
    pub async fn cached_list<F, Fut>(&self, key: &str, build: F) -> Result<bytes::Bytes>
    where
        F: FnOnce() -> Fut,
        Fut: std::future::Future<Output = Result<bytes::Bytes>>,
    {
        // A tokio lock held across the build: concurrent list calls wait and share the result.
        let mut cache = self.state.list_cache.lock().await;
        let generation = self.shared.generation();
        if cache.generation != generation {
            cache.entries.clear();
            cache.generation = generation;
        }
        if let Some((_, body)) = cache.entries.iter().find(|(k, _)| k == key) {
            return Ok(body.clone());
        }
        let body = build().await?;
        if cache.entries.len() >= 16 {
            cache.entries.remove(0);
        }
        cache.entries.push((key.to_string(), body.clone()));
        Ok(body)
    }

    // ----- content -----
    // ----- content -----

    /// Creates an item (not yet deployed).
    pub async fn create_content(&self, item: NewItem) -> Result<ContentRow> {
        validate_name(&item.name)?;
        validate_text(item.title.as_deref(), item.description.as_deref())?;
        let (access_type, viewer_access) = resolve_access(item.access_type.as_deref(), item.viewer_access.as_deref())?;
        let new = NewContent {
            name: item.name,
            title: item.title,
            description: item.description,
            access_type,
            viewer_access,
        };
        let guid = uuid::Uuid::new_v4().to_string();
        let row = self.shared.store.insert_content(&guid, &new, &now()).await?;
        self.changed(&row.guid).await?;
        Ok(row)
    }

    /// Items, optionally filtered by exact name.
    pub async fn content_rows(&self, name: Option<&str>) -> Result<Vec<ContentRow>> {
        self.shared.store.list_content(name).await
    }

    /// Every item as the desktop shell shows it.
    pub async fn list_content(&self) -> Result<Vec<ContentView>> {
        let origin = self.shared.share_origin();
        let mut links: std::collections::HashMap<i64, LinkView> =
            self.shared.store.links().await?.iter().map(|r| (r.content_id, LinkView::from(r))).collect();
        Ok(self
            .content_rows(None)
            .await?
            .iter()
            .map(|c| {
                let mut v = self.view(c, &origin);
                v.link = links.remove(&c.id);
                v
            })
            .collect())
    }

    /// The API view of an item with its folder link.
    pub async fn view_with_link(&self, c: &ContentRow, origin: &str) -> Result<ContentView> {
        let mut v = self.view(c, origin);
        v.link = self.shared.store.link(c.id).await?.map(|r| LinkView::from(&r));
        Ok(v)
    }

    /// One item by guid or numeric id.
    pub async fn content(&self, key: &str) -> Result<ContentRow> {
        self.shared.store.content_by_guid(key).await
    }

    /// One item by name.
    pub async fn content_by_name(&self, name: &str) -> Result<ContentRow> {
        self.shared.store.content_by_name(name).await?.ok_or_else(|| Error::not_found("content named", name))
    }

    /// The API view of an item.
    pub fn view(&self, c: &ContentRow, origin: &str) -> ContentView {
        ContentView::new(c, &self.state.owner_guid, origin)
    }

    /// The publisher's guid.
    pub fn owner_guid(&self) -> &str {
        &self.state.owner_guid
    }

    /// When the publisher's user was made: this data folder's first start (RFC 3339).
    pub fn owner_created(&self) -> &str {
        &self.state.owner_created
    }

    /// Updates an item's fields.
    pub async fn update_content(&self, key: &str, changes: ItemChanges) -> Result<ContentRow> {
        let c = self.content(key).await?;
        if let Some(n) = &changes.name {
            validate_name(n)?;
        }
        validate_text(changes.title.as_deref(), changes.description.as_deref())?;
        let (access_type, viewer_access) =
            resolve_access(changes.access_type.as_deref(), changes.viewer_access.as_deref())?;
        let patch = ContentPatch {
            name: changes.name,
            title: changes.title,
            description: changes.description,
            access_type,
            viewer_access,
        };
        self.shared.store.update_content(c.id, &patch, &now()).await?;
        self.changed(&c.guid).await?;
        self.content(&c.guid).await
    }

    /// Deletes an item's rows, bundles and their files, and announces it
    /// ([`Event::ContentDeleted`]: linked-folder followers stop on it). Its workers are the
    /// caller's to stop first (the deployer's `delete_content` does both).
    pub(crate) async fn delete_content(&self, key: &str) -> Result<()> {
        let c = self.content(key).await?;
        let bundles = self.shared.store.list_bundles(c.id).await?;
        self.shared.store.delete_content(c.id).await?;
        self.refresh_routes().await?;
        for b in &bundles {
            self.remove_bundle_files(b.id).await;
        }
        self.shared.emit(Event::ContentDeleted { guid: c.guid });
        Ok(())
    }

    /// Sets (or with `None` clears) an item's vanity path.
    pub async fn set_vanity(&self, key: &str, path: Option<&str>) -> Result<ContentRow> {
        let c = self.content(key).await?;
        let path = path.map(normalize_vanity).transpose()?;
        // Nested vanity paths would let one item's cookies (and its relative links) reach
        // another item's pages: `/team/` and `/team/report/` cannot both exist.
        if let Some(p) = &path {
            for other in self.content_rows(None).await? {
                let Some(o) = other.vanity_path.as_deref().filter(|_| other.id != c.id) else { continue };
                if o != p.as_str() && (o.starts_with(p.as_str()) || p.starts_with(o)) {
                    return Err(Error::VanityConflict(format!(
                        "the vanity path {p} overlaps {o} of {}; vanity paths cannot be nested",
                        other.name
                    )));
                }
            }
        }
        self.shared.store.set_vanity(c.id, path.as_deref(), &now()).await?;
        self.changed(&c.guid).await?;
        self.content(&c.guid).await
    }

    /// An item's vanity path; not found when it has none.
    pub async fn vanity(&self, key: &str) -> Result<VanityView> {
        let c = self.content(key).await?;
        match c.vanity_path {
            Some(path) => Ok(VanityView { content_guid: c.guid, path, created_time: c.updated_time }),
            None => Err(Error::not_found("vanity URL of content", &c.guid)),
        }
    }

    /// Sets who may view an item: `network`, `local` or `link` (or Connect's access_type words).
    pub async fn set_access(&self, key: &str, word: &str) -> Result<ContentRow> {
        let (access_type, viewer_access) = parse_access(word)?;
        let changes =
            ItemChanges { access_type: Some(access_type), viewer_access: Some(viewer_access), ..Default::default() };
        self.update_content(key, changes).await
    }

    /// Makes a new secret-link token for an item and returns it (shown once; only its hash
    /// is kept). The previous token, and every cookie it set, stops working.
    pub async fn new_secret_link(&self, key: &str) -> Result<(ContentRow, String)> {
        let c = self.content(key).await?;
        let token = keys::random_token(32);
        self.shared.store.set_link_token_hash(c.id, Some(&keys::hash_key(&token)), &now()).await?;
        self.changed(&c.guid).await?;
        Ok((self.content(&c.guid).await?, token))
    }

    /// Revokes an item's secret link: its token and the cookies it set stop working.
    pub async fn revoke_secret_link(&self, key: &str) -> Result<ContentRow> {
        let c = self.content(key).await?;
        self.shared.store.set_link_token_hash(c.id, None, &now()).await?;
        self.changed(&c.guid).await?;
        self.content(&c.guid).await
    }

    /// The viewer URL that carries a secret-link token.
    pub fn secret_link_url(&self, c: &ContentRow, origin: &str, token: &str) -> String {
        format!("{}/content/{}/?porch_token={token}", origin.trim_end_matches('/'), c.guid)
    }

    pub(crate) async fn changed(&self, guid: &str) -> Result<()> {
        self.refresh_routes().await?;
        self.shared.emit(Event::ContentChanged { guid: guid.to_string() });
        Ok(())
    }

    // ----- bundles -----

    /// The bundle limits of an item: its own `max_bundle_bytes` over the server's.
    pub(crate) fn bundle_limits(&self, c: &ContentRow) -> crate::config::Limits {
        let mut limits = self.shared.config.limits;
        if let Some(max) = c.runtime.max_bundle_bytes.filter(|m| *m > 0) {
            limits.max_bundle_bytes = max as u64;
        }
        limits
    }

    /// Stores an uploaded archive as a new bundle of `key` (not yet deployed).
    ///
    /// The archive is extracted and checked in a scratch folder; on any error nothing is
    /// kept. `metadata` is the optional upload metadata JSON (git source).
    pub async fn upload_bundle(&self, key: &str, archive: &Path, metadata: Option<String>) -> Result<BundleRow> {
        self.upload_bundle_as(key, archive, metadata, &Overrides::default()).await
    }

    /// [`Library::upload_bundle`] with the appmode and/or entry point chosen by the
    /// publisher. The choice is checked against the extracted bundle and written into the
    /// stored manifest (the row and the folder's `manifest.json`), so this version runs it
    /// on every deploy and rollback. A choice that does not fit stores nothing.
    pub async fn upload_bundle_as(
        &self,
        key: &str,
        archive: &Path,
        metadata: Option<String>,
        overrides: &Overrides,
    ) -> Result<BundleRow> {
        overrides.check()?;
        let c = self.content(key).await?;
        let size = tokio::fs::metadata(archive).await.map_err(Error::io("reading the upload", archive))?.len();
        let limits = self.bundle_limits(&c);
        if size > limits.max_bundle_bytes {
            return Err(BundleError::TooLarge { limit: limits.max_bundle_bytes, entry: "<archive>".into() }.into());
        }
        let stage = tempfile::Builder::new()
            .prefix("stage-")
            .tempdir_in(self.shared.config.tmp_dir())
            .map_err(Error::io("creating a staging folder", self.shared.config.tmp_dir()))?;
        let (stage_path, archive_path) = (stage.path().to_path_buf(), archive.to_path_buf());
        let overrides = overrides.clone();
        let (extracted, manifest) = tokio::task::spawn_blocking(move || -> Result<_, BundleError> {
            let ex = bundle::archive::extract(&archive_path, &stage_path, &limits)?;
            let mut manifest = detect::manifest_for(&stage_path)?;
            if !overrides.is_empty() {
                manifest = overrides::apply(manifest, &stage_path, &overrides)?;
                overrides::write(&stage_path, &manifest)?;
            }
            Ok((ex, manifest))
        })
        .await
        .map_err(Error::failed("bundle extraction stopped"))??;

        let manifest_json = serde_json::to_string(&manifest.raw).unwrap_or_default();
        let (tx, id) = self
            .shared
            .store
            .begin_bundle(c.id, size as i64, extracted.file_count as i64, &manifest_json, metadata.as_deref(), &now())
            .await?;
        let dir = self.shared.bundle_dir(id);
        let dest_archive = self.shared.bundle_archive(id);
        // Files first, then the commit: a row never exists without its files.
        let placed = async {
            tokio::fs::copy(archive, &dest_archive)
                .await
                .map_err(Error::io("storing the bundle archive", &dest_archive))?;
            let stage_path = stage.keep();
            tokio::fs::rename(&stage_path, &dir).await.map_err(Error::io("moving the bundle into place", &dir))
        }
        .await;
        if let Err(e) = placed {
            let _ = tokio::fs::remove_file(&dest_archive).await;
            drop(tx); // rolls back
            return Err(e);
        }
        if let Err(e) = tx.commit().await {
            self.remove_bundle_files(id).await;
            return Err(Error::store("recording a bundle")(e));
        }
        tracing::info!(content = %c.guid, bundle = id, files = extracted.file_count, "bundle stored");
        self.shared.store.bundle(c.id, id).await
    }

    /// Bundles of an item, newest first.
    pub async fn bundles(&self, key: &str) -> Result<(ContentRow, Vec<BundleRow>)> {
        let c = self.content(key).await?;
        let b = self.shared.store.list_bundles(c.id).await?;
        Ok((c, b))
    }

    /// One bundle of an item.
    pub async fn bundle(&self, key: &str, bundle_id: i64) -> Result<(ContentRow, BundleRow)> {
        let c = self.content(key).await?;
        let b = self.shared.store.bundle(c.id, bundle_id).await?;
        Ok((c, b))
    }

    /// The API view of a bundle.
    pub fn bundle_view(&self, c: &ContentRow, b: &BundleRow) -> BundleView {
        BundleView::new(b, &c.guid, c.bundle_id)
    }

    /// The path of a bundle's archive, for download.
    pub async fn bundle_download(&self, key: &str, bundle_id: i64) -> Result<PathBuf> {
        let (_, b) = self.bundle(key, bundle_id).await?;
        Ok(self.shared.bundle_archive(b.id))
    }

    /// Deletes a bundle that is not active.
    pub async fn delete_bundle(&self, key: &str, bundle_id: i64) -> Result<()> {
        let (c, b) = self.bundle(key, bundle_id).await?;
        if c.bundle_id == Some(b.id) {
            return Err(Error::DeleteActiveBundle(b.id));
        }
        self.shared.store.delete_bundle(c.id, b.id).await?;
        self.remove_bundle_files(b.id).await;
        self.shared.emit(Event::ContentChanged { guid: c.guid });
        Ok(())
    }

    pub(crate) async fn remove_bundle_files(&self, bundle_id: i64) {
        self.state.files.forget_bundle(bundle_id);
        let _ = tokio::fs::remove_dir_all(self.shared.bundle_dir(bundle_id)).await;
        let _ = tokio::fs::remove_file(self.shared.bundle_archive(bundle_id)).await;
    }

    // ----- keys -----

    /// Creates an API key and returns it; only its hash is stored.
    pub async fn new_api_key(&self, name: &str) -> Result<String> {
        let key = keys::random_token(32);
        self.shared.store.insert_key(name, &keys::hash_key(&key), &now()).await?;
        Ok(key)
    }

    /// Whether a presented key is valid: its hash is compared with every stored hash in
    /// constant time (see `keys::matches_any`).
    pub async fn check_key(&self, key: &str) -> Result<bool> {
        // This run's own keys (the desktop shell's calls, and content processes' calls back)
        // are two more hashes among the stored ones.
        let mut hashes = self.shared.store.key_hashes().await?;
        hashes.push(keys::hash_key(&self.state.session_key));
        hashes.push(keys::hash_key(self.shared.content_key()));
        Ok(keys::matches_any(key, hashes.iter().map(String::as_str)))
    }

    /// Every API key's id, name and creation time.
    pub async fn api_keys(&self) -> Result<Vec<crate::store::KeyRow>> {
        self.shared.store.list_keys().await
    }

    /// Revokes the key with this id, or every key with this name; it stops working at once
    /// (the running server reads keys from the database on each check).
    pub async fn revoke_api_key(&self, which: &str) -> Result<u64> {
        match self.shared.store.delete_keys(which).await? {
            0 => Err(Error::not_found("API key", which)),
            n => Ok(n),
        }
    }
    /// Every API key, oldest first, as the UI lists them.
    pub async fn api_key_views(&self) -> Result<Vec<ApiKeyView>> {
        let rows = self.api_keys().await?;
        Ok(rows
            .into_iter()
            .map(|k| ApiKeyView { id: k.id.to_string(), name: k.name, created_time: k.created_time })
            .collect())
    }

    /// Creates a labelled API key and returns it (the only time it is shown).
    pub async fn create_api_key(&self, name: &str) -> Result<NewApiKey> {
        let name = name.trim();
        if name.is_empty() || name.len() > 100 {
            return Err(Error::Invalid("a key needs a name of 1 to 100 characters (e.g. \"laptop\")".into()));
        }
        let key = self.new_api_key(name).await?;
        let id = self.shared.store.key_id(&crate::keys::hash_key(&key)).await?;
        Ok(NewApiKey { id: id.to_string(), name: name.to_string(), key })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names() {
        assert!(validate_name("my-app_1.0").is_ok());
        assert!(validate_name("ab").is_err());
        assert!(validate_name(&"a".repeat(65)).is_err());
        assert!(validate_name("has space").is_err());
        assert!(validate_name("ünï").is_err());
    }

    #[test]
    fn vanity_paths() {
        assert_eq!(normalize_vanity("sales").expect("ok"), "/sales/");
        validate_text(Some("Sales, Q4 — ünïcode"), Some("line one\nline two\tend")).expect("plain text");
        let long = "x".repeat(MAX_TITLE_CHARS + 1);
        assert!(validate_text(Some(&long), None).expect_err("long").to_string().contains("1024"));
        assert!(validate_text(Some("a\u{1}b"), None).expect_err("control").to_string().contains("title"));
        assert!(validate_text(Some("two\nlines"), None).is_err(), "a title is one line");
        assert!(validate_text(None, Some("bell\u{7}")).expect_err("control").to_string().contains("description"));
        assert_eq!(normalize_vanity("/team/sales/").expect("ok"), "/team/sales/");
        assert!(normalize_vanity("/__api__/").is_err());
        assert!(normalize_vanity("/content/x").is_err());
        assert!(normalize_vanity("/a/../b").is_err());
        assert!(normalize_vanity("").is_err());
    }
}
