//! Operating-system specifics of running child processes, in one place.
//!
//! Owns: the parent-death wrapper (`setpriv --pdeathsig KILL`), the low-priority wrapper
//! (`chrt --idle 0`, else `nice -n 19`), process-group signals,
//! pidfds, resident-memory readings of a process group, the child-subreaper flag and the
//! scan for orphaned zombies. It does not decide *when* any of these happen; that is the
//! runner's job (`crate::runner`), their only caller. It also answers a few questions about
//! the system for other modules, each a plain read: whether Porch runs as root (the
//! gallery's Chromium), the kernel's routing table and whether a program is running
//! (`porch doctor`), and the inotify limits (linked folders' error messages).
//!
//! Every Linux-only call of the engine lives here (`/proc`, `setpriv`, `rustix::process`,
//! `prctl`); CI's `layering` stage runs `.ci/platform-lint.py`, which fails on one anywhere
//! else. The two D-Bus clients of Linux desktop services are the listed exceptions
//! (`awake/bus.rs` for logind, `discovery/avahi.rs` for avahi): see `docs/platforms.md`.
//!
//! Linux has all of it (`linux.rs`). Other Unixes get group signals through `rustix` and a
//! documented fallback for the rest (`fallback.rs`): no parent-death signal (a child can
//! outlive a Porch that is SIGKILLed), memory reads as 0 (memory limits never fire), no
//! subreaper (orphans go to init, as they would without Porch). A macOS or Windows port
//! changes this module and nothing else.
//!
//! Concurrency: every function is a plain blocking system call or a short `/proc` read;
//! [`group_rss`] and [`orphan_zombies`] walk `/proc`, so async callers run them on the
//! blocking pool (or accept a few hundred microseconds).

#[cfg(target_os = "linux")]
mod linux;
#[cfg(target_os = "linux")]
use linux as imp;

#[cfg(not(target_os = "linux"))]
mod fallback;
#[cfg(not(target_os = "linux"))]
use fallback as imp;

use std::ffi::OsString;
use std::path::PathBuf;

/// A signal the runner sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// Please stop (SIGTERM).
    Term,
    /// Stop now (SIGKILL).
    Kill,
}

/// The program and leading arguments that make `program` die with Porch, if this system has
/// a way; the caller appends the program's own arguments.
pub(crate) fn parent_death_wrapper(program: &std::ffi::OsStr) -> Option<(PathBuf, Vec<OsString>)> {
    imp::parent_death_wrapper(program)
}

/// The program and leading arguments that run `program` at the lowest CPU priority
/// (`SCHED_IDLE`, else nice 19), if this system has a way; the caller appends the
/// program's own arguments.
pub(crate) fn low_priority_wrapper(program: &std::ffi::OsStr) -> Option<(PathBuf, Vec<OsString>)> {
    imp::low_priority_wrapper(program)
}

/// A pidfd on the child `pid` (an adopted worker): signals through it never reach a process
/// that reused the pid. Fails where the system has none.
pub(crate) fn pidfd(pid: u32) -> std::io::Result<std::os::fd::OwnedFd> {
    imp::pidfd(pid)
}

/// Sends up to `count` bytes of `file` from `*offset` to the socket `out` in the kernel
/// (sendfile), advancing `*offset`; the number sent. `Unsupported` where the system has no
/// such call (the caller writes the bytes itself). A non-blocking socket gives `WouldBlock`.
pub(crate) fn send_file(
    out: std::os::fd::BorrowedFd<'_>,
    file: &std::fs::File,
    offset: &mut u64,
    count: usize,
) -> std::io::Result<usize> {
    imp::send_file(out, file, offset, count)
}

/// Sends `buf` on the socket `out` with more to follow at once (`MSG_MORE`), so the kernel
/// puts it in one segment with what comes next (a response head before its file body); the
/// number sent. `Unsupported` where the system has no such flag.
pub(crate) fn send_more(out: std::os::fd::BorrowedFd<'_>, buf: &[u8]) -> std::io::Result<usize> {
    imp::send_more(out, buf)
}

/// Reaps the child `pid` if it has exited, without waiting: its status, or `None` while it
/// runs.
pub(crate) fn try_reap(pid: u32) -> std::io::Result<Option<std::process::ExitStatus>> {
    imp::try_reap(pid)
}

/// The process groups, other than `pgid`, holding descendants of the group's members (a
/// grandchild that started its own session escapes a signal to the group). Empty where the
/// system cannot tell.
pub(crate) fn descendant_groups(pgid: u32) -> Vec<u32> {
    imp::descendant_groups(pgid)
}

/// Sends `signal` to every process in the group `pgid`. A group that is already gone is
/// not an error.
pub(crate) fn signal_group(pgid: u32, signal: Signal) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        let Some(pid) = i32::try_from(pgid).ok().and_then(rustix::process::Pid::from_raw) else {
            return Ok(());
        };
        let sig = match signal {
            Signal::Term => rustix::process::Signal::TERM,
            Signal::Kill => rustix::process::Signal::KILL,
        };
        match rustix::process::kill_process_group(pid, sig) {
            Ok(()) | Err(rustix::io::Errno::SRCH) => Ok(()),
            Err(e) => Err(e.into()),
        }
    }
    #[cfg(not(unix))]
    {
        let _ = (pgid, signal);
        Err(std::io::Error::new(std::io::ErrorKind::Unsupported, "process groups need a Unix system"))
    }
}

/// A handle on one process that stays valid when its pid is reused (a pidfd), where the
/// system has one.
pub(crate) use imp::PidHandle;

/// Resident memory, in bytes, of every process in the group `pgid` (a process and everything
/// it started); 0 where the system cannot tell.
pub(crate) fn group_rss(pgid: u32) -> u64 {
    imp::group_rss(pgid)
}

/// Proportional set size, in bytes, of every process in the group `pgid`: pages shared with
/// other processes (a worker forked from a Python helper shares the helper's imports)
/// count by their share. 0 where the system cannot tell.
pub(crate) fn group_pss(pgid: u32) -> u64 {
    imp::group_pss(pgid)
}

/// Proportional set size, in bytes, of the one process `pid` (0 where unknown).
pub(crate) fn pss(pid: u32) -> u64 {
    imp::pss(&pid.to_string())
}

/// Whether this process is already the child subreaper of its descendants.
pub(crate) fn is_subreaper() -> bool {
    imp::is_subreaper()
}

/// The parent process of `pid`, where the system can tell.
pub(crate) fn parent_of(pid: u32) -> Option<u32> {
    imp::parent_of(pid)
}

/// Makes this process the reaper of its orphaned descendants; `false` where the system has
/// no such thing (then orphans go to init and [`orphan_zombies`] finds none).
pub(crate) fn become_subreaper() -> bool {
    imp::become_subreaper()
}

/// Zombie children of this process that it did not start itself: descendants re-parented
/// to it as subreaper. A child is taken for one of those when its process group is not
/// this process's own; `owned` lists the pids this process will wait for itself.
pub(crate) fn orphan_zombies(owned: &std::collections::HashSet<u32>) -> Vec<u32> {
    imp::orphan_zombies(owned)
}

/// Whether this process runs as root (effective user id 0); `false` where there is no such
/// thing.
pub(crate) fn is_root() -> bool {
    #[cfg(unix)]
    {
        rustix::process::geteuid().is_root()
    }
    #[cfg(not(unix))]
    {
        false
    }
}

/// The kernel's IPv4 routing table in `/proc/net/route`'s format (a header line, then one
/// route per line); empty where the system has no such file.
pub(crate) fn route_table() -> String {
    imp::route_table()
}

/// Whether a process whose command name is `name` runs on this computer (any user's);
/// `false` where the system cannot tell.
pub(crate) fn process_running(name: &str) -> bool {
    imp::process_running(name)
}

/// The inotify limits a linked folder can reach.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum InotifyLimit {
    /// Watches per user (`max_user_watches`).
    Watches,
    /// Inotify instances per user (`max_user_instances`).
    Instances,
}

/// The kernel's current value of `limit`, if the system has one and it can be read.
pub(crate) fn inotify_limit(limit: InotifyLimit) -> Option<String> {
    imp::inotify_limit(limit)
}

/// Collects the exit status of the zombie child `pid` (never blocks, never another pid).
pub(crate) fn reap(pid: u32) {
    #[cfg(unix)]
    if let Some(p) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) {
        let _ = rustix::process::waitpid(Some(p), rustix::process::WaitOptions::NOHANG);
    }
    #[cfg(not(unix))]
    let _ = pid;
}
