//! Systems other than Linux: group signals only (see the module header for what is lost).

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::path::PathBuf;

pub(super) fn parent_death_wrapper(_program: &OsStr) -> Option<(PathBuf, Vec<OsString>)> {
    None
}

/// No priority wrapper here: a low-priority command runs at the normal priority.
pub(super) fn low_priority_wrapper(_program: &OsStr) -> Option<(PathBuf, Vec<OsString>)> {
    None
}

/// No pidfds here: signals go by pid.
#[derive(Debug)]
pub(crate) struct PidHandle;

impl PidHandle {
    pub(crate) fn open(_pid: u32) -> PidHandle {
        PidHandle
    }

    pub(crate) fn kill(&self, pid: u32) {
        #[cfg(unix)]
        if let Some(p) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) {
            let _ = rustix::process::kill_process(p, rustix::process::Signal::KILL);
        }
        #[cfg(not(unix))]
        let _ = pid;
    }
}

pub(super) fn pidfd(_pid: u32) -> std::io::Result<std::os::fd::OwnedFd> {
    Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "no pidfds on this system"))
}

pub(super) fn send_file(
    _out: std::os::fd::BorrowedFd<'_>,
    _file: &std::fs::File,
    _offset: &mut u64,
    _count: usize,
) -> std::io::Result<usize> {
    Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "no sendfile on this system"))
}

pub(super) fn send_more(_out: std::os::fd::BorrowedFd<'_>, _buf: &[u8]) -> std::io::Result<usize> {
    Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "no MSG_MORE on this system"))
}

pub(super) fn try_reap(pid: u32) -> std::io::Result<Option<std::process::ExitStatus>> {
    use std::os::unix::process::ExitStatusExt;
    let raw = i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .ok_or_else(|| std::io::Error::other(format!("bad pid {pid}")))?;
    let status = rustix::process::waitpid(Some(raw), rustix::process::WaitOptions::NOHANG)?;
    Ok(status.map(|(_, s)| std::process::ExitStatus::from_raw(s.as_raw())))
}

pub(super) fn descendant_groups(_pgid: u32) -> Vec<u32> {
    Vec::new()
}

pub(super) fn group_rss(_pgid: u32) -> u64 {
    0
}

pub(super) fn group_pss(_pgid: u32) -> u64 {
    0
}

pub(super) fn pss(_pid: &str) -> u64 {
    0
}

pub(super) fn is_subreaper() -> bool {
    false
}

pub(super) fn parent_of(_pid: u32) -> Option<u32> {
    None
}

pub(super) fn become_subreaper() -> bool {
    false
}

pub(super) fn orphan_zombies(_owned: &HashSet<u32>) -> Vec<u32> {
    Vec::new()
}

pub(super) fn route_table() -> String {
    String::new()
}

pub(super) fn process_running(_name: &str) -> bool {
    false
}

pub(super) fn inotify_limit(_limit: super::InotifyLimit) -> Option<String> {
    None
}
