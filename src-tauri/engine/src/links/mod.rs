//! Linked folders: an item follows a folder on this computer and is redeployed when the
//! folder's bundled files change.
//!
//! Owns the link operations (set, read, remove) and one follower task per link while the
//! engine serves. The watch itself is [`crate::watcher`]; packing and deploying go through
//! the same engine op every deploy uses ([`Deployer::redeploy_folder`]), so an
//! interactive item switches blue/green only once its new version answers, a rendered item
//! re-renders (trigger `watch`) and publishes only on success, and a static item swaps in
//! one row update. A failure keeps the previous version serving, is kept as a deploy task
//! with its log, and shows in the link's status until the next good save.
//!
//! Concurrency: each follower is one task that owns its watch and runs its redeploys
//! inline, one at a time. Change signals arrive on a channel of capacity one, so a burst of
//! saves is one redeploy, and changes during a redeploy leave exactly one signal behind:
//! one more redeploy afterwards. Whether a signal warrants a redeploy is decided by
//! fingerprinting the folder with the packer's own rules (ignore files, skipped folders,
//! editor scratch files), so changes to ignored files never redeploy. The registry of
//! followers is a std mutex held only for map updates.
//!
//! Links live in the database: a restarted server follows them again (and redeploys once
//! if the folder changed while it was not watching), and a link made by the CLI is picked
//! up through the engine's external-change watch. Deleting an item stops its follower: the
//! service listens for [`Event::ContentDeleted`] and reconciles.
//!
//! Does not: deploy (the deployer does, for every trigger) or store bundles (the library).

use crate::vocab::LinkStatus;
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::bundle::pack;
use crate::deployer::Deployer;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::library::Library;
use crate::shared::Shared;
use crate::store::LinkRow;
use crate::view::LinkView;
use crate::watcher::{FolderWatch, Signal, DEBOUNCE};

/// How often a follower checks that its folder still exists (and, when broken, whether it
/// is back): a `stat`, nothing more.
const PRESENCE_POLL: Duration = Duration::from_secs(1);
/// Bundles kept per linked item (the active one always stays): every save makes one, so
/// without a bound a day of editing would fill the disk.
const KEEP_BUNDLES: usize = 10;
/// How many times a check waits for the folder's newest file to be a debounce period old
/// (a save that keeps going past that is deployed as it stands, and again when it ends).
const MAX_QUIET_WAITS: u32 = 20;
/// After a change signal, further signals within this window join the same check (the
/// debouncer reports paths whose quiet periods end a few milliseconds apart). Short:
/// whether saves are over is judged by the files' own modification times in `check`.
const SETTLE: Duration = Duration::from_millis(25);

/// The links service. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Links {
    shared: Shared,
    library: Library,
    deployer: Deployer,
    followers: std::sync::Arc<Followers>,
}

/// The followers running in this engine, by content id.
#[derive(Debug, Default)]
pub(crate) struct Followers {
    // A std lock: inserts, removals and lookups only, never held across an await.
    running: Mutex<HashMap<i64, Follower>>,
}

#[derive(Debug)]
struct Follower {
    path: String,
    cancel: CancellationToken,
}

impl Links {
    /// The links service of an engine.
    pub(crate) fn new(shared: Shared, library: Library, deployer: Deployer) -> Links {
        Links { shared, library, deployer, followers: Default::default() }
    }

    /// Follows every linked folder (serving engines), and from then on stops the follower of
    /// any item that is deleted.
    pub(crate) async fn start(&self) {
        self.reconcile_links().await;
        let (links, mut events, cancel) = (self.clone(), self.shared.subscribe(), self.shared.cancel.child_token());
        self.shared.spawn(async move {
            loop {
                let event = tokio::select! {
                    _ = cancel.cancelled() => break,
                    e = events.recv() => e,
                };
                match event {
                    Ok(Event::ContentDeleted { .. }) | Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                        links.reconcile_links().await
                    }
                    Ok(_) => {}
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => break,
                }
            }
        });
    }

    /// An item's link.
    pub async fn link(&self, key: &str) -> Result<LinkView> {
        let c = self.library.content(key).await?;
        let row =
            self.shared.store.link(c.id).await?.ok_or_else(|| Error::not_found("folder link of content", &c.guid))?;
        Ok(LinkView::from(&row))
    }

    /// Every link, by content id (for content listings).
    pub async fn links_by_content(&self) -> Result<HashMap<i64, LinkView>> {
        Ok(self.shared.store.links().await?.iter().map(|r| (r.content_id, LinkView::from(r))).collect())
    }

    /// Links an item to a folder (replacing an earlier link).
    ///
    /// `in_sync` says the item was just deployed from this folder (the CLI's
    /// `deploy --watch`), so only later changes redeploy; otherwise the serving engine
    /// redeploys from the folder right away, bringing the item in line with it.
    pub async fn set_link(&self, key: &str, path: &Path, in_sync: bool) -> Result<LinkView> {
        let c = self.library.content(key).await?;
        let folder = self.check_link_folder(path).await?;
        let fingerprint = if in_sync {
            let f = folder.clone();
            let fp = tokio::task::spawn_blocking(move || pack::fingerprint(&f))
                .await
                .map_err(Error::failed("reading the folder stopped"))??;
            Some(fp.digest)
        } else {
            None
        };
        let shown = folder.to_string_lossy().into_owned();
        self.shared.store.set_link(c.id, &shown, fingerprint.as_deref(), &crate::time::now()).await?;
        // A new link starts a fresh follower even for the same folder.
        self.stop_following(c.id);
        self.reconcile_links().await;
        let view = self.link(&c.guid).await?;
        self.shared.emit(Event::LinkChanged { guid: c.guid.clone(), link: Some(view.clone()) });
        Ok(view)
    }

    /// Removes an item's link; the item keeps serving what it has.
    pub async fn delete_link(&self, key: &str) -> Result<()> {
        let c = self.library.content(key).await?;
        if !self.shared.store.delete_link(c.id).await? {
            return Err(Error::not_found("folder link of content", &c.guid));
        }
        self.stop_following(c.id);
        self.shared.emit(Event::LinkChanged { guid: c.guid, link: None });
        Ok(())
    }

    /// Checks a folder to link and returns its canonical path.
    async fn check_link_folder(&self, path: &Path) -> Result<PathBuf> {
        if !path.is_absolute() {
            return Err(Error::Invalid(format!(
                "the folder to link must be an absolute path, not {:?}",
                path.display().to_string()
            )));
        }
        let folder = tokio::fs::canonicalize(path)
            .await
            .map_err(|e| Error::Invalid(format!("cannot link {}: {e}", path.display())))?;
        if !folder.is_dir() {
            return Err(Error::Invalid(format!(
                "cannot link {}: it is not a folder (link the folder that holds the app, notebook or site)",
                path.display()
            )));
        }
        let data = &self.shared.config.data_dir;
        if folder.starts_with(data) || data.starts_with(&folder) {
            return Err(Error::Invalid(format!(
                "cannot link {}: it overlaps Porch's data folder {}, whose changes would redeploy it forever",
                folder.display(),
                data.display()
            )));
        }
        Ok(folder)
    }

    /// Stops following an item's folder (if this engine does).
    pub(crate) fn stop_following(&self, content_id: i64) {
        let gone = self.followers.running.lock().unwrap_or_else(|p| p.into_inner()).remove(&content_id);
        if let Some(f) = gone {
            f.cancel.cancel();
        }
    }

    /// Deletes a linked item's bundles beyond the newest [`KEEP_BUNDLES`], never the active one.
    async fn prune_bundles(&self, guid: &str) {
        let Ok((c, bundles)) = self.library.bundles(guid).await else { return };
        for b in bundles.iter().skip(KEEP_BUNDLES).filter(|b| Some(b.id) != c.bundle_id) {
            if self.shared.store.delete_bundle(c.id, b.id).await.is_ok() {
                self.library.remove_bundle_files(b.id).await;
                tracing::debug!(content = %guid, bundle = b.id, "pruned an old bundle of a linked item");
            }
        }
    }

    /// Makes the running followers match the stored links: new links start, removed or
    /// re-pointed ones stop. Only a serving engine follows folders.
    pub(crate) async fn reconcile_links(&self) {
        if !self.shared.is_serving() || self.shared.cancel.is_cancelled() {
            return;
        }
        let rows = match self.shared.store.links().await {
            Ok(rows) => rows,
            Err(e) => return tracing::warn!(error = %e, "cannot read folder links"),
        };
        let mut start = Vec::new();
        {
            let mut running = self.followers.running.lock().unwrap_or_else(|p| p.into_inner());
            running.retain(|id, f| {
                let keep = rows.iter().any(|r| r.content_id == *id && r.path == f.path) && !f.cancel.is_cancelled();
                if !keep {
                    f.cancel.cancel();
                }
                keep
            });
            for r in &rows {
                if let std::collections::hash_map::Entry::Vacant(slot) = running.entry(r.content_id) {
                    let cancel = self.shared.cancel.child_token();
                    slot.insert(Follower { path: r.path.clone(), cancel: cancel.clone() });
                    start.push((r.clone(), cancel));
                }
            }
        }
        for (row, cancel) in start {
            let engine = self.clone();
            tracing::info!(content = %row.guid, folder = %row.path, "following a linked folder");
            self.shared.tracker.spawn(async move { engine.follow(row, cancel).await });
        }
    }

    /// The follower of one link: keeps a watch on the folder while it exists, redeploys
    /// when its bundled files change, and reports a missing folder as `broken` until it
    /// is back.
    async fn follow(&self, row: LinkRow, cancel: CancellationToken) {
        let mut f = FollowState {
            engine: self.clone(),
            content_id: row.content_id,
            guid: row.guid.clone(),
            root: PathBuf::from(&row.path),
            status: row.status.clone(),
            error: row.error.clone(),
            fingerprint: row.fingerprint.clone(),
        };
        if f.status == LinkStatus::Redeploying {
            // Porch stopped in the middle of one; the next check decides afresh.
            f.set_status(LinkStatus::Watching, f.error.clone()).await;
        }
        let (tx, mut rx) = mpsc::channel::<Signal>(1);
        let mut watch: Option<(FolderWatch, FolderId)> = None;
        let mut dirty = true;
        let mut tick = tokio::time::interval(PRESENCE_POLL);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            if cancel.is_cancelled() {
                break;
            }
            match folder_id(&f.root) {
                None => {
                    watch = None;
                    let msg = format!(
                        "the folder {} is gone (deleted, renamed, or on a drive that is not mounted); the item keeps \
                         serving its last version, and Porch follows the folder again as soon as it is back",
                        f.root.display()
                    );
                    f.set_status(LinkStatus::Broken, Some(msg)).await;
                }
                // A folder replaced under the same name needs a new watch.
                Some(id) if watch.as_ref().map(|(_, w)| *w) != Some(id) => {
                    match FolderWatch::start(&f.root, DEBOUNCE, tx.clone()) {
                        Ok(w) => {
                            watch = Some((w, id));
                            dirty = true;
                        }
                        Err(e) => {
                            watch = None;
                            f.set_status(LinkStatus::Broken, Some(e.to_string())).await;
                        }
                    }
                }
                Some(_) => {}
            }
            if dirty {
                if let Some((w, _)) = watch.as_mut() {
                    dirty = f.check(w).await;
                    if f.status == LinkStatus::Broken {
                        watch = None;
                    }
                }
            }
            if dirty && watch.is_some() {
                continue; // the folder changed mid-pack: `check` waits for quiet itself
            }
            tokio::select! {
                _ = cancel.cancelled() => break,
                _ = tick.tick() => {}
                signal = rx.recv() => match signal {
                    Some(Signal::Changed) => {
                        // Signals arriving while this one settles join it.
                        while let Ok(Some(_)) = tokio::time::timeout(SETTLE, rx.recv()).await {}
                        dirty = true;
                    }
                    Some(Signal::Failed(msg)) => {
                        tracing::warn!(content = %f.guid, "watching {}: {msg}", f.root.display());
                        f.set_status(LinkStatus::Broken, Some(msg)).await;
                        watch = None;
                        dirty = true;
                    }
                    None => break,
                },
            }
        }
        tracing::info!(content = %f.guid, folder = %f.root.display(), "stopped following the folder");
    }
}

/// A folder's identity (device, inode): tells a folder replaced under the same name.
type FolderId = (u64, u64);

fn folder_id(path: &Path) -> Option<FolderId> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(path).ok().filter(|m| m.is_dir()).map(|m| (m.dev(), m.ino()))
}

/// One follower's view of its link, mirrored into the store on every change.
struct FollowState {
    engine: Links,
    content_id: i64,
    guid: String,
    root: PathBuf,
    status: LinkStatus,
    error: Option<String>,
    fingerprint: Option<String>,
}

impl FollowState {
    /// Fingerprints the folder, watches any new sub-folders and redeploys if what would be
    /// bundled changed since the last redeploy. Waits while the newest bundled file is
    /// younger than the debounce period: the debouncer reports a burst longer than its
    /// timeout part-way through, and the files themselves say whether it is over.
    ///
    /// Returns whether to check again (the folder changed while it was being packed).
    async fn check(&mut self, watch: &mut FolderWatch) -> bool {
        let mut waits = 0;
        let fp = loop {
            let Some(fp) = self.scan(watch).await else { return false };
            // A modification time in the future (clock skew, copied files) counts as quiet.
            let age = fp.newest.and_then(|t| std::time::SystemTime::now().duration_since(t).ok()).unwrap_or(DEBOUNCE);
            if age >= DEBOUNCE || waits >= MAX_QUIET_WAITS {
                break fp;
            }
            waits += 1;
            tokio::time::sleep(DEBOUNCE - age).await;
        };
        if self.status == LinkStatus::Broken {
            self.set_status(LinkStatus::Watching, None).await;
        }
        if self.fingerprint.as_deref() == Some(fp.digest.as_str()) {
            return false;
        }
        !self.redeploy(fp.digest).await
    }

    /// Fingerprints the folder and watches folders new to the watch. A folder new to the
    /// watch may have gained files before its watch was added, so it walks once more after
    /// adding: nothing written in between is missed. `None` when the folder cannot be read
    /// (usually it vanished mid-walk; the presence check reports that) or cannot be watched.
    async fn scan(&mut self, watch: &mut FolderWatch) -> Option<pack::Fingerprint> {
        let mut fp = None;
        for _ in 0..3 {
            let root = self.root.clone();
            let found = match tokio::task::spawn_blocking(move || pack::fingerprint(&root)).await {
                Ok(Ok(found)) => found,
                Ok(Err(e)) => {
                    tracing::debug!(content = %self.guid, error = %e, "cannot read the linked folder");
                    return None;
                }
                Err(e) => {
                    tracing::warn!(content = %self.guid, error = %e, "reading the linked folder stopped");
                    return None;
                }
            };
            match watch.watch_dirs(&found.dirs) {
                Ok(0) => return Some(found),
                Ok(_) => fp = Some(found),
                Err(e) => {
                    self.set_status(LinkStatus::Broken, Some(e.to_string())).await;
                    return None;
                }
            }
        }
        fp
    }

    /// Redeploys the folder as fingerprinted by `digest`; returns false when the folder
    /// changed while it was being packed (nothing was deployed; look again).
    async fn redeploy(&mut self, digest: String) -> bool {
        let engine = self.engine.clone();
        let c = match engine.library.content(&self.guid).await {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(content = %self.guid, error = %e, "linked item is gone");
                return true;
            }
        };
        let previous_error = self.error.clone();
        self.set_status(LinkStatus::Redeploying, None).await;
        let started = std::time::Instant::now();
        let Some((task, outcome)) = engine.deployer.redeploy_folder(&c, &self.root, &digest).await else {
            tracing::debug!(content = %self.guid, "the folder changed while it was packed; looking again");
            self.set_status(LinkStatus::Watching, previous_error).await;
            return false;
        };
        let error = outcome.as_ref().err().map(ToString::to_string);
        match &error {
            None => {
                tracing::info!(content = %self.guid, ms = started.elapsed().as_millis() as u64, "redeployed from the linked folder")
            }
            Some(e) => {
                tracing::warn!(content = %self.guid, "redeploy from the linked folder failed; the previous version keeps serving: {e}")
            }
        }
        let now = crate::time::now();
        let store = &engine.shared.store;
        if let Err(e) = store
            .finish_link_redeploy(self.content_id, error.is_none(), error.as_deref(), task.as_deref(), &digest, &now)
            .await
        {
            tracing::warn!(content = %self.guid, error = %e, "cannot record the redeploy");
        }
        engine.prune_bundles(&self.guid).await;
        // Recorded even on failure: the same broken files are not retried; the next save is.
        self.fingerprint = Some(digest);
        self.status = LinkStatus::Watching;
        self.error = error;
        self.announce().await;
        true
    }

    /// Sets and stores the status when it changed.
    async fn set_status(&mut self, status: LinkStatus, error: Option<String>) {
        if self.status == status && self.error == error {
            return;
        }
        self.status = status.clone();
        self.error = error;
        if let Err(e) = self.engine.shared.store.set_link_status(self.content_id, &status, self.error.as_deref()).await
        {
            tracing::warn!(content = %self.guid, error = %e, "cannot record the link status");
        }
        if status == LinkStatus::Broken {
            tracing::warn!(content = %self.guid, "{}", self.error.as_deref().unwrap_or("link broken"));
        }
        self.announce().await;
    }

    async fn announce(&self) {
        let link = self.engine.shared.store.link(self.content_id).await.ok().flatten().map(|r| LinkView::from(&r));
        self.engine.shared.emit(Event::LinkChanged { guid: self.guid.clone(), link });
    }
}
