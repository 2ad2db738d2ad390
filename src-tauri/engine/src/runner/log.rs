//! Per-item log files: appended to by every process of an item, stamped, rotated when large.
//!
//! Owns the file handle and its size; the pump (`super::pump`) writes lines into it. Shared
//! as [`SharedLog`] behind an async mutex, so lines of concurrent workers interleave whole.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use std::io::Write as _;

/// A per-item log file is rotated past this size.
const MAX_LOG_BYTES: u64 = 4 * 1024 * 1024;

/// A log file shared by every process of one item.
pub type SharedLog = Arc<tokio::sync::Mutex<LogFile>>;

/// A log file, appended to line by line and rotated to `<name>.log.1` when large.
#[derive(Debug)]
pub struct LogFile {
    path: PathBuf,
    file: Option<std::fs::File>,
    size: u64,
}

impl LogFile {
    /// A log at `path` (created, with its folder, on the first line).
    pub fn new(path: PathBuf) -> LogFile {
        LogFile { path, file: None, size: 0 }
    }

    /// A log at `path`, ready to share.
    pub fn shared(path: PathBuf) -> SharedLog {
        Arc::new(tokio::sync::Mutex::new(LogFile::new(path)))
    }

    /// Appends one line, stamped with the time. A log that cannot be written is skipped:
    /// losing log lines must never stop a process.
    pub async fn write(&mut self, line: &str) {
        if self.file.is_none() {
            if let Some(dir) = self.path.parent() {
                let _ = tokio::fs::create_dir_all(dir).await;
            }
            let opened = tokio::fs::OpenOptions::new().create(true).append(true).open(&self.path).await;
            self.file = match opened {
                Ok(f) => Some(f.into_std().await),
                Err(_) => None,
            };
            self.size = tokio::fs::metadata(&self.path).await.map(|m| m.len()).unwrap_or(0);
        }
        let Some(f) = self.file.as_mut() else { return };
        let stamped = format!("{} {line}\n", crate::time::now());
        // Written in place, not on tokio's blocking threads: an append of one line to a local
        // file only copies it into the page cache, and handing each line to another thread
        // (tokio's `File`) cost more than the write (an app that logs every request made it a
        // tenth of Porch's CPU under load). Unbuffered, so a line is in the file (for readers
        // of the log) once `write` returns.
        if f.write_all(stamped.as_bytes()).is_ok() {
            self.size += stamped.len() as u64;
        }
        if self.size > MAX_LOG_BYTES {
            self.file = None;
            let _ = tokio::fs::rename(&self.path, self.path.with_extension("log.1")).await;
        }
    }
}

/// The last `n` lines of a log file (and its rotated predecessor when short).
pub async fn read_log_tail(path: &Path, n: usize) -> Vec<String> {
    let mut text = tokio::fs::read_to_string(path).await.unwrap_or_default();
    if text.lines().count() < n {
        let older = tokio::fs::read_to_string(path.with_extension("log.1")).await.unwrap_or_default();
        text = older + &text;
    }
    let lines: Vec<String> = text.lines().map(str::to_string).collect();
    lines[lines.len().saturating_sub(n)..].to_vec()
}
