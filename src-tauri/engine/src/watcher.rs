//! Watching one folder for changes: notify (inotify on Linux) behind a debouncer.
//!
//! Owns the OS watch and nothing else: it never packs, deploys or writes the database.
//! It reports "something that may matter changed" as a [`Signal`] on a bounded tokio
//! channel of capacity one, so any number of changes between two reads collapse into a
//! single pending signal; the link task (`links.rs`) decides, by fingerprinting the folder
//! with the bundle packer's own rules, whether a redeploy is due.
//!
//! Concurrency: notify runs its own thread and the debouncer another; their callback only
//! filters paths and does a `try_send`, so it never blocks them. Folders are watched one
//! by one (not recursively) so that ignored trees (virtualenvs, `.git`, `node_modules`,
//! what `.gitignore` excludes) cost no inotify watches; [`FolderWatch::watch_dirs`] adds
//! folders created later.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify_debouncer_mini::notify::{self, RecommendedWatcher, RecursiveMode};
use notify_debouncer_mini::{new_debouncer_opt, Config, DebounceEventResult, Debouncer};
use tokio::sync::mpsc;

use crate::bundle::pack::{is_always_skipped_dir, is_editor_scratch};

/// How long a path must stay quiet before its change is reported. Editors write a file
/// in several steps (swap file, rename, chmod); 300 ms covers them and keeps save→serve
/// well under a second.
pub const DEBOUNCE: Duration = Duration::from_millis(300);

/// `EMFILE` on Linux: the per-user inotify instance limit (or the open-file limit).
const EMFILE: i32 = 24;
/// `ENOSPC` on Linux: the per-user inotify watch limit.
const ENOSPC: i32 = 28;

/// What the watch reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Signal {
    /// Files that may be bundled changed.
    Changed,
    /// The OS reported a problem (already worded for the publisher).
    Failed(String),
}

/// Which inotify limit was reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// `fs.inotify.max_user_watches`: one watch per folder.
    Watches,
    /// `fs.inotify.max_user_instances`: one instance per linked folder.
    Instances,
}

impl Limit {
    fn sysctl(self) -> &'static str {
        match self {
            Limit::Watches => "fs.inotify.max_user_watches",
            Limit::Instances => "fs.inotify.max_user_instances",
        }
    }

    /// The other cause of the same error number, if any.
    fn also(self) -> &'static str {
        match self {
            Limit::Watches => "",
            // EMFILE also means this process ran out of file descriptors.
            Limit::Instances => "; if that does not help, Porch's open-file limit is reached: raise `ulimit -n`",
        }
    }

    fn suggested(self) -> u32 {
        match self {
            Limit::Watches => 524288,
            Limit::Instances => 1024,
        }
    }
}

/// Why a folder cannot be watched.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// An inotify limit is reached; the message says how to raise it.
    #[error(
        "cannot watch {}: the system limit {} is reached ({}). Raise it with \
         `sudo sysctl {}={}` (add `{}={}` to /etc/sysctl.d/60-porch.conf to keep it after a reboot), \
         or close other programs that watch many files{}",
        path.display(), limit.sysctl(), current_limit(*limit), limit.sysctl(), limit.suggested(), limit.sysctl(),
        limit.suggested(), limit.also()
    )]
    LimitReached {
        /// The folder being watched.
        path: PathBuf,
        /// Which limit.
        limit: Limit,
    },
    /// Any other failure of the OS watch.
    #[error("cannot watch {}: {source}", path.display())]
    Os {
        /// The folder being watched.
        path: PathBuf,
        /// The cause.
        #[source]
        source: notify::Error,
    },
}

/// The limit's current value as the kernel reports it, for the message.
fn current_limit(limit: Limit) -> String {
    let which = match limit {
        Limit::Watches => crate::platform::InotifyLimit::Watches,
        Limit::Instances => crate::platform::InotifyLimit::Instances,
    };
    match crate::platform::inotify_limit(which) {
        Some(v) => format!("currently {v}"),
        None => "current value unknown".into(),
    }
}

/// Maps notify's error for `path` to a [`WatchError`], recognising the inotify limits.
pub fn classify(path: &Path, e: notify::Error) -> WatchError {
    let limit = match &e.kind {
        notify::ErrorKind::MaxFilesWatch => Some(Limit::Watches),
        notify::ErrorKind::Io(io) if io.raw_os_error() == Some(ENOSPC) => Some(Limit::Watches),
        notify::ErrorKind::Io(io) if io.raw_os_error() == Some(EMFILE) => Some(Limit::Instances),
        _ => None,
    };
    match limit {
        Some(limit) => WatchError::LimitReached { path: path.to_path_buf(), limit },
        None => WatchError::Os { path: path.to_path_buf(), source: e },
    }
}

/// Whether a changed path can never affect a bundle: inside `.git`, a virtualenv, a cache,
/// or an editor's scratch file. (Anything else is decided by fingerprinting.)
pub fn is_noise(root: &Path, path: &Path) -> bool {
    let Ok(rel) = path.strip_prefix(root) else { return false };
    let mut comps = rel.components().peekable();
    let mut dir = root.to_path_buf();
    while let Some(c) = comps.next() {
        let name = c.as_os_str().to_string_lossy();
        let last = comps.peek().is_none();
        if last {
            return is_editor_scratch(&name) || is_always_skipped_dir(&name);
        }
        dir.push(c.as_os_str());
        if is_always_skipped_dir(&name) || dir.join("pyvenv.cfg").is_file() {
            return true;
        }
    }
    false
}

/// A live watch of one folder; dropping it stops watching.
pub struct FolderWatch {
    root: PathBuf,
    debouncer: Debouncer<RecommendedWatcher>,
    watched: HashSet<PathBuf>,
}

impl std::fmt::Debug for FolderWatch {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FolderWatch").field("root", &self.root).field("watched", &self.watched.len()).finish()
    }
}

impl FolderWatch {
    /// Starts watching `root` itself (add its sub-folders with [`FolderWatch::watch_dirs`]);
    /// signals go to `tx`.
    pub fn start(root: &Path, debounce: Duration, tx: mpsc::Sender<Signal>) -> Result<FolderWatch, WatchError> {
        let filter_root = root.to_path_buf();
        let handler = move |res: DebounceEventResult| {
            let signal = match res {
                Ok(events) => {
                    if events.iter().all(|e| is_noise(&filter_root, &e.path)) {
                        return;
                    }
                    Signal::Changed
                }
                Err(e) => Signal::Failed(classify(&filter_root, e).to_string()),
            };
            // Full means a signal is already pending: this change is covered by it.
            let _ = tx.try_send(signal);
        };
        let config = Config::default().with_timeout(debounce).with_batch_mode(true);
        let debouncer = new_debouncer_opt::<_, RecommendedWatcher>(config, handler).map_err(|e| classify(root, e))?;
        let mut watch = FolderWatch { root: root.to_path_buf(), debouncer, watched: HashSet::new() };
        watch.watch_dirs(&[root.to_path_buf()])?;
        Ok(watch)
    }

    /// Watches each folder not watched yet; returns how many were added. A folder that
    /// vanished meanwhile is skipped.
    pub fn watch_dirs(&mut self, dirs: &[PathBuf]) -> Result<usize, WatchError> {
        let mut added = 0;
        for dir in dirs {
            if self.watched.contains(dir) {
                continue;
            }
            match self.debouncer.watcher().watch(dir, RecursiveMode::NonRecursive) {
                Ok(()) => {
                    self.watched.insert(dir.clone());
                    added += 1;
                }
                Err(e) if matches!(e.kind, notify::ErrorKind::PathNotFound) && dir != &self.root => {}
                Err(e) => return Err(classify(dir, e)),
            }
        }
        // Folders that are gone lose their watch in the kernel; forget them here too, so
        // one created again under the same name is watched again.
        self.watched.retain(|d| d.is_dir());
        Ok(added)
    }

    /// How many folders are watched.
    pub fn len(&self) -> usize {
        self.watched.len()
    }

    /// Whether nothing is watched.
    pub fn is_empty(&self) -> bool {
        self.watched.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn noise() {
        let d = tempfile::tempdir().expect("tmp");
        let r = d.path();
        std::fs::create_dir(r.join("env")).expect("mkdir");
        std::fs::write(r.join("env/pyvenv.cfg"), "").expect("w");
        assert!(is_noise(r, &r.join(".git/index")));
        assert!(is_noise(r, &r.join("sub/__pycache__/a.pyc")));
        assert!(is_noise(r, &r.join("env/lib/site.py")), "inside a virtualenv");
        assert!(is_noise(r, &r.join(".app.py.swp")));
        assert!(is_noise(r, &r.join("4913")));
        assert!(is_noise(r, &r.join("app.py~")));
        assert!(!is_noise(r, &r.join("app.py")));
        assert!(!is_noise(r, &r.join("sub/page.html")));
        assert!(!is_noise(r, r), "the folder itself (deleted or renamed) matters");
    }

    #[test]
    fn limit_messages_say_how_to_raise_them() {
        let e = classify(Path::new("/x"), notify::Error::new(notify::ErrorKind::MaxFilesWatch));
        let msg = e.to_string();
        assert!(msg.contains("fs.inotify.max_user_watches") && msg.contains("sudo sysctl"), "{msg}");
        let e = classify(Path::new("/x"), notify::Error::io(std::io::Error::from_raw_os_error(EMFILE)));
        assert!(e.to_string().contains("fs.inotify.max_user_instances") && e.to_string().contains("ulimit -n"), "{e}");
        let e = classify(Path::new("/x"), notify::Error::generic("boom"));
        assert!(matches!(e, WatchError::Os { .. }), "{e}");
    }

    #[tokio::test]
    async fn a_burst_of_writes_is_one_pending_signal() {
        let d = tempfile::tempdir().expect("tmp");
        let root = d.path().canonicalize().expect("canon");
        let (tx, mut rx) = mpsc::channel(1);
        let _w = FolderWatch::start(&root, Duration::from_millis(50), tx).expect("watch");
        for i in 0..50 {
            std::fs::write(root.join("a.txt"), format!("{i}")).expect("w");
        }
        let got = tokio::time::timeout(Duration::from_secs(30), rx.recv()).await.expect("a signal").expect("open");
        assert_eq!(got, Signal::Changed);
    }
}
