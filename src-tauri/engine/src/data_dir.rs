//! The data folder's guard: one writer at a time, and files only this user can read.
//!
//! Owns: the lock file (`porch.lock`), the local credential (`porch.token`), the runtime
//! file (`porch.run.json`) and the permissions of the data folder and its top-level files.
//! Does not own: what lives in the folder (the store, bundles, logs belong to their modules).
//!
//! **One writer.** Whoever writes the database holds an exclusive `flock` on the data
//! folder itself and on `porch.lock` for as long as it runs: a server (window or `porch serve`) from before it binds its port
//! until it exits, a CLI command with no server running for the command's duration. The
//! kernel drops the lock when the process dies, so a killed server leaves nothing stale
//! behind, and the file is never deleted (deleting a lock file would let two processes lock
//! two different files: the folder's own lock keeps out a second writer even then, and the
//! runtime file still names the server). The holder writes who it is into the file (pid, role, and for a server
//! its loopback URL once bound), so a second process can name it. Readers never lock: they
//! try the lock (which tells whether anyone holds it) and read the text.
//!
//! **Private files.** `porch.db` holds environment-variable values and `porch.token` is a
//! publisher credential: the folder is made 0700 and its top-level files 0600. SQLite gives
//! its `-wal` and `-shm` files the database file's mode, so the database is created 0600
//! before SQLite opens it. Bundle folders keep the modes their archives carry.
//!
//! Concurrency: plain blocking file calls, each short; the lock itself is held by the
//! [`DataLock`] value (an open file), released on drop or process death.

use std::fs::{File, OpenOptions};
use std::io::{Read as _, Seek as _, Write as _};
use std::os::unix::fs::{DirBuilderExt as _, OpenOptionsExt as _, PermissionsExt as _};
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use crate::error::{Error, Result};

/// The lock file's name in the data folder.
pub const LOCK_FILE: &str = "porch.lock";
/// The local credential's name in the data folder: a running server's session key.
pub const CREDENTIAL_FILE: &str = "porch.token";

/// Mode of the data folder: only its owner may list or enter it.
const DIR_MODE: u32 = 0o700;
/// Mode of the files Porch keeps at the folder's top level.
const FILE_MODE: u32 = 0o600;

/// What holds the data folder.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// A Porch server (window or `porch serve`): CLI commands go through its API.
    Server,
    /// A one-shot CLI command working alone on the folder.
    Command,
}

/// Who holds the lock, as written into the lock file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Holder {
    /// The holder's process id.
    pub pid: u32,
    /// Server or command.
    pub role: Role,
    /// The command's name (`deploy`, `rm`, …) when `role` is a command.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command: Option<String>,
    /// A server's loopback URL, e.g. `http://127.0.0.1:3939/`, once it listens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    /// The origin a server's viewers use, once it listens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub origin: Option<String>,
}

/// The exclusive lock on a data folder; dropping it (or the process dying) releases it.
#[derive(Debug)]
pub struct DataLock {
    file: File,
    /// The folder itself, locked too: deleting `porch.lock` (someone tidying "stale" lock
    /// files) must not let a second writer in.
    _dir: File,
    holder: Holder,
}

/// Why the lock was not taken.
#[derive(Debug)]
pub enum Busy {
    /// Another process holds it; `None` while it has not yet written who it is.
    HeldBy(Option<Holder>),
}

impl DataLock {
    /// Takes the folder's lock if nobody holds it, creating the folder (0700) and the lock
    /// file (0600) when missing. Never waits: `Ok(Err(Busy))` names the holder instead.
    pub fn try_acquire(
        data_dir: &Path,
        role: Role,
        command: Option<&str>,
    ) -> Result<std::result::Result<DataLock, Busy>> {
        create_private_dir(data_dir)?;
        let dir = File::open(data_dir).map_err(Error::io("opening the data folder", data_dir))?;
        match dir.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Ok(Err(Busy::HeldBy(read_holder(data_dir)))),
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io("locking the data folder", data_dir)(e)),
        }
        let path = data_dir.join(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(FILE_MODE)
            .open(&path)
            .map_err(Error::io("opening the lock file", &path))?;
        match file.try_lock() {
            Ok(()) => {}
            Err(std::fs::TryLockError::WouldBlock) => return Ok(Err(Busy::HeldBy(read_holder(data_dir)))),
            Err(std::fs::TryLockError::Error(e)) => return Err(Error::io("locking the data folder", &path)(e)),
        }
        let holder =
            Holder { pid: std::process::id(), role, command: command.map(str::to_string), url: None, origin: None };
        let lock = DataLock { file, _dir: dir, holder };
        lock.write_holder().map_err(Error::io("writing the lock file", &path))?;
        Ok(Ok(lock))
    }

    /// Records the server's addresses in the lock file, for CLI commands and a second start.
    pub fn announce(&mut self, url: &str, origin: &str) -> Result<()> {
        self.holder.url = Some(url.to_string());
        self.holder.origin = Some(origin.to_string());
        self.write_holder().map_err(Error::io("writing the lock file", LOCK_FILE))
    }

    /// Who this lock says holds the folder.
    pub fn holder(&self) -> &Holder {
        &self.holder
    }

    fn write_holder(&self) -> std::io::Result<()> {
        let json = serde_json::to_vec(&self.holder).map_err(std::io::Error::other)?;
        let mut f = &self.file;
        f.set_len(0)?;
        f.rewind()?;
        // One write: a reader sees the old text, nothing, or the new text (and retries on nothing).
        f.write_all(&json)?;
        f.flush()
    }
}

impl Drop for DataLock {
    fn drop(&mut self) {
        // Leave no stale name behind; the lock itself goes with the file descriptor.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

/// Who holds the data folder's lock right now, if anyone. `Some(None)` when the lock is
/// held but its holder has not yet written who it is.
pub fn holder(data_dir: &Path) -> Option<Option<Holder>> {
    let dir = File::open(data_dir).ok()?;
    match dir.try_lock_shared() {
        // Nobody holds it (our probe is released when `dir` drops).
        Ok(()) => None,
        Err(std::fs::TryLockError::WouldBlock) => Some(read_holder(data_dir)),
        Err(std::fs::TryLockError::Error(_)) => None,
    }
}

/// Who the lock file names; if it was deleted under a running server, the server's runtime
/// file (`porch.run.json`) still names it.
fn read_holder(data_dir: &Path) -> Option<Holder> {
    let read = |name: &str| {
        let mut text = String::new();
        File::open(data_dir.join(name)).ok()?.read_to_string(&mut text).ok()?;
        Some(text)
    };
    if let Some(h) = read(LOCK_FILE).and_then(|t| serde_json::from_str(&t).ok()) {
        return Some(h);
    }
    /// The fields of the runtime file read here (the engine writes it: `RuntimeInfo`).
    #[derive(Deserialize)]
    struct Run {
        pid: u32,
        url: String,
        origin: String,
    }
    let run: Run = serde_json::from_str(&read(RUN_FILE)?).ok()?;
    Some(Holder { pid: run.pid, role: Role::Server, command: None, url: Some(run.url), origin: Some(run.origin) })
}

/// The running server's runtime file (written by the engine, `Config::runtime_file`).
const RUN_FILE: &str = "porch.run.json";

/// Creates `dir` (and missing parents) and makes it 0700: only its owner may enter it.
pub fn create_private_dir(dir: &Path) -> Result<()> {
    if dir.exists() && !dir.is_dir() {
        return Err(Error::Invalid(format!(
            "the data folder {} is a file, not a folder: give --data-dir (or PORCH_DATA_DIR) a folder",
            dir.display()
        )));
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(DIR_MODE)
        .create(dir)
        .map_err(Error::io("creating the data directory", dir))?;
    set_mode(dir, DIR_MODE)
}

/// Makes the data folder 0700 and every file at its top level 0600 (a folder made by an
/// older Porch, or files SQLite created with its default mode).
pub fn tighten(data_dir: &Path) -> Result<()> {
    set_mode(data_dir, DIR_MODE)?;
    let entries = std::fs::read_dir(data_dir).map_err(Error::io("reading the data directory", data_dir))?;
    for entry in entries.flatten() {
        let Ok(meta) = entry.path().symlink_metadata() else { continue };
        let mode = meta.permissions().mode() & 0o777;
        if meta.is_file() && mode & 0o077 != 0 {
            set_mode(&entry.path(), mode & 0o700)?;
        }
    }
    Ok(())
}

/// Creates `path` empty with mode 0600 if it does not exist (the database before SQLite
/// opens it: its journal files copy its mode).
pub fn create_private_file(path: &Path) -> Result<()> {
    OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .mode(FILE_MODE)
        .open(path)
        .map(drop)
        .map_err(Error::io("creating a data file", path))
}

/// Writes `bytes` to `path` as a 0600 file, atomically (a temporary file renamed over it).
pub fn write_private(path: &Path, bytes: &[u8]) -> Result<()> {
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let written = (|| {
        let mut f = OpenOptions::new().write(true).create(true).truncate(true).mode(FILE_MODE).open(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&tmp, path)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written.map_err(Error::io("writing a data file", path))
}

/// The local credential a running server wrote, if it is readable.
pub fn read_credential(data_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(data_dir.join(CREDENTIAL_FILE)).ok()?;
    Some(text.trim().to_string()).filter(|t| !t.is_empty())
}

/// The local credential's path.
pub fn credential_path(data_dir: &Path) -> PathBuf {
    data_dir.join(CREDENTIAL_FILE)
}

fn set_mode(path: &Path, mode: u32) -> Result<()> {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode))
        .map_err(Error::io("setting the permissions of", path))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn mode(p: &Path) -> u32 {
        std::fs::metadata(p).expect("metadata").permissions().mode() & 0o777
    }

    #[test]
    fn one_holder_at_a_time_and_named() {
        let dir = tempfile::tempdir().expect("tmp");
        let data = dir.path().join("data");
        let mut lock = DataLock::try_acquire(&data, Role::Server, None).expect("io").expect("free");
        assert_eq!(mode(&data), 0o700);
        assert_eq!(mode(&data.join(LOCK_FILE)), 0o600);
        lock.announce("http://127.0.0.1:1/", "http://127.0.0.1:1").expect("announce");
        // A second open file description conflicts even within one process.
        match DataLock::try_acquire(&data, Role::Command, Some("rm")).expect("io") {
            Err(Busy::HeldBy(Some(h))) => {
                assert_eq!(
                    (h.pid, h.role, h.url.as_deref()),
                    (std::process::id(), Role::Server, Some("http://127.0.0.1:1/"))
                )
            }
            other => panic!("expected the lock to be held, got {other:?}"),
        }
        assert_eq!(holder(&data).flatten().map(|h| h.role), Some(Role::Server));
        drop(lock);
        assert_eq!(holder(&data), None, "released on drop");
        let again = DataLock::try_acquire(&data, Role::Command, Some("rm")).expect("io").expect("free again");
        assert_eq!(again.holder().command.as_deref(), Some("rm"));
    }

    #[test]
    fn a_deleted_lock_file_lets_no_second_writer_in() {
        let dir = tempfile::tempdir().expect("tmp");
        let data = dir.path().join("data");
        let _lock = DataLock::try_acquire(&data, Role::Server, None).expect("io").expect("free");
        let run = r#"{"pid": 4242, "url": "http://127.0.0.1:5/", "origin": "http://host.local:5"}"#;
        std::fs::write(data.join(RUN_FILE), run).expect("run file");
        std::fs::remove_file(data.join(LOCK_FILE)).expect("someone tidies up");
        match DataLock::try_acquire(&data, Role::Server, None).expect("io") {
            Err(Busy::HeldBy(Some(h))) => assert_eq!((h.pid, h.url.as_deref()), (4242, Some("http://127.0.0.1:5/"))),
            other => panic!("a second writer got in: {other:?}"),
        }
        assert_eq!(holder(&data).flatten().map(|h| h.pid), Some(4242), "readers find the server too");
    }

    #[test]
    fn private_files_and_folders() {
        let dir = tempfile::tempdir().expect("tmp");
        let data = dir.path().join("d");
        std::fs::create_dir(&data).expect("mkdir");
        std::fs::set_permissions(&data, std::fs::Permissions::from_mode(0o755)).expect("chmod");
        std::fs::write(data.join("loose"), "x").expect("write");
        std::fs::set_permissions(data.join("loose"), std::fs::Permissions::from_mode(0o644)).expect("chmod");
        tighten(&data).expect("tighten");
        assert_eq!((mode(&data), mode(&data.join("loose"))), (0o700, 0o600));
        write_private(&data.join("secret"), b"s").expect("write");
        assert_eq!(mode(&data.join("secret")), 0o600);
        create_private_file(&data.join("db")).expect("create");
        assert_eq!(mode(&data.join("db")), 0o600);
        // A file where the folder should be is named as such, and left as it was.
        let err = create_private_dir(&data.join("db")).expect_err("a file").to_string();
        assert!(err.contains("is a file, not a folder"), "{err}");
        assert!(data.join("db").is_file());
    }
}
