//! Linux: `setpriv`, pidfds, `/proc` and `PR_SET_CHILD_SUBREAPER`.

use std::collections::HashSet;
use std::ffi::{OsStr, OsString};
use std::path::{Path, PathBuf};

/// `setpriv` (util-linux) sets the parent-death signal of the program it then executes.
/// The crate forbids `unsafe`, so `prctl(PR_SET_PDEATHSIG)` cannot be called between fork
/// and exec (`pre_exec` is unsafe); the wrapper is the safe way to get the same effect.
/// Note the kernel sends the signal when the *thread* that forked dies: spawns happen on
/// runtime worker threads (which live as long as the runtime), never on the blocking pool.
fn setpriv() -> Option<&'static Path> {
    static FOUND: std::sync::OnceLock<Option<PathBuf>> = std::sync::OnceLock::new();
    FOUND.get_or_init(|| first_file(&["/usr/bin/setpriv", "/bin/setpriv"])).as_deref()
}

/// The first of these paths that is a file (a system tool where Debian or another system
/// puts it).
fn first_file(paths: &[&str]) -> Option<PathBuf> {
    paths.iter().map(PathBuf::from).find(|p| p.is_file())
}

/// Whether `program` names a file, directly or through `PATH`. A program that cannot be
/// found is left unwrapped, so it still fails as "not found" rather than as setpriv's error.
fn resolvable(program: &OsStr) -> bool {
    let path = Path::new(program);
    if path.components().count() > 1 {
        return path.is_file();
    }
    std::env::var_os("PATH").is_some_and(|dirs| std::env::split_paths(&dirs).any(|d| d.join(program).is_file()))
}

pub(super) fn parent_death_wrapper(program: &OsStr) -> Option<(PathBuf, Vec<OsString>)> {
    let sp = setpriv()?;
    if !resolvable(program) {
        return None;
    }
    Some((sp.to_path_buf(), vec!["--pdeathsig".into(), "KILL".into(), "--".into(), program.to_os_string()]))
}

/// `chrt --idle 0` (util-linux, like `setpriv`) runs the program it then executes, and what
/// that starts, under `SCHED_IDLE`: it gets the CPU only when nothing else wants it, and
/// gives it up at once when something does. Without `chrt`, `nice -n 19` (coreutils), which
/// still takes a small share from busy work. For Porch's own thumbnail captures: measured
/// with `bench/load.sh library` (everything on one CPU), nice 19 Chromium still doubled
/// publishing time and put the list API's p99 at 14 ms; `SCHED_IDLE` left both as without
/// captures.
pub(super) fn low_priority_wrapper(program: &OsStr) -> Option<(PathBuf, Vec<OsString>)> {
    static FOUND: std::sync::OnceLock<Option<(PathBuf, Vec<OsString>)>> = std::sync::OnceLock::new();
    let (wrapper, lead) = FOUND
        .get_or_init(|| {
            first_file(&["/usr/bin/chrt", "/bin/chrt"])
                .map(|p| (p, vec!["--idle".into(), "0".into()]))
                .or_else(|| first_file(&["/usr/bin/nice", "/bin/nice"]).map(|p| (p, vec!["-n".into(), "19".into()])))
        })
        .as_ref()?;
    if !resolvable(program) {
        return None;
    }
    let mut lead = lead.clone();
    lead.push(program.to_os_string());
    Some((wrapper.clone(), lead))
}

/// A pidfd: signals through it never reach a process that reused the pid.
#[derive(Debug)]
pub(crate) struct PidHandle(Option<std::os::fd::OwnedFd>);

impl PidHandle {
    /// Opens a pidfd for `pid` (none on kernels before 5.3).
    pub(crate) fn open(pid: u32) -> PidHandle {
        let fd = i32::try_from(pid)
            .ok()
            .and_then(rustix::process::Pid::from_raw)
            .and_then(|p| rustix::process::pidfd_open(p, rustix::process::PidfdFlags::empty()).ok());
        PidHandle(fd)
    }

    /// SIGKILL to the one process (not its group), through the pidfd when there is one.
    pub(crate) fn kill(&self, pid: u32) {
        let sig = rustix::process::Signal::KILL;
        match &self.0 {
            Some(fd) => {
                let _ = rustix::process::pidfd_send_signal(fd, sig);
            }
            None => {
                if let Some(p) = i32::try_from(pid).ok().and_then(rustix::process::Pid::from_raw) {
                    let _ = rustix::process::kill_process(p, sig);
                }
            }
        }
    }
}

fn raw_pid(pid: u32) -> std::io::Result<rustix::process::Pid> {
    i32::try_from(pid)
        .ok()
        .and_then(rustix::process::Pid::from_raw)
        .ok_or_else(|| std::io::Error::other(format!("bad pid {pid}")))
}

pub(super) fn pidfd(pid: u32) -> std::io::Result<std::os::fd::OwnedFd> {
    Ok(rustix::process::pidfd_open(raw_pid(pid)?, rustix::process::PidfdFlags::empty())?)
}

pub(super) fn send_file(
    out: std::os::fd::BorrowedFd<'_>,
    file: &std::fs::File,
    offset: &mut u64,
    count: usize,
) -> std::io::Result<usize> {
    Ok(rustix::fs::sendfile(out, file, Some(offset), count)?)
}

pub(super) fn send_more(out: std::os::fd::BorrowedFd<'_>, buf: &[u8]) -> std::io::Result<usize> {
    use rustix::net::SendFlags;
    Ok(rustix::net::send(out, buf, SendFlags::MORE | SendFlags::NOSIGNAL)?)
}

pub(super) fn try_reap(pid: u32) -> std::io::Result<Option<std::process::ExitStatus>> {
    use std::os::unix::process::ExitStatusExt;
    let status = rustix::process::waitpid(Some(raw_pid(pid)?), rustix::process::WaitOptions::NOHANG)?;
    Ok(status.map(|(_, s)| std::process::ExitStatus::from_raw(s.as_raw())))
}

/// The fields of `/proc/PID/stat` after the command name (which may hold spaces and
/// parentheses): state, ppid, pgrp, …
fn stat_fields(pid: &str) -> Option<Vec<String>> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = stat.rfind(')').map(|i| &stat[i + 1..])?;
    Some(rest.split_whitespace().take(3).map(str::to_string).collect())
}

fn numeric_entries(dir: &str) -> Vec<String> {
    let Ok(rd) = std::fs::read_dir(dir) else { return Vec::new() };
    rd.flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_string))
        .filter(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        .collect()
}

/// The process groups, other than `pgid`, that hold descendants of the group's members:
/// a child that moved itself into a new session or group (Jupyter starts its kernels so) is
/// out of reach of a signal to `pgid`.
pub(super) fn descendant_groups(pgid: u32) -> Vec<u32> {
    let procs: Vec<(u32, u32, u32)> = numeric_entries("/proc")
        .iter()
        .filter_map(|name| {
            let f = stat_fields(name)?;
            Some((name.parse().ok()?, f.get(1)?.parse().ok()?, f.get(2)?.parse().ok()?))
        })
        .collect();
    // Never Porch's own group, whatever a descendant did.
    let own: Option<u32> = stat_fields("self").and_then(|f| f.get(2)?.parse().ok());
    let mut inside: HashSet<u32> = procs.iter().filter(|p| p.2 == pgid).map(|p| p.0).collect();
    let mut groups = Vec::new();
    // Parents come before their children after at most one pass per generation.
    loop {
        let found: Vec<&(u32, u32, u32)> =
            procs.iter().filter(|p| !inside.contains(&p.0) && inside.contains(&p.1)).collect();
        if found.is_empty() {
            break;
        }
        for p in found {
            inside.insert(p.0);
            if p.2 != pgid && Some(p.2) != own && !groups.contains(&p.2) {
                groups.push(p.2);
            }
        }
    }
    groups
}

pub(super) fn group_rss(pgid: u32) -> u64 {
    let mut total = 0;
    for name in numeric_entries("/proc") {
        let Some(fields) = stat_fields(&name) else { continue };
        if fields.get(2).and_then(|s| s.parse::<u32>().ok()) != Some(pgid) {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(format!("/proc/{name}/status")) else { continue };
        let kb: u64 = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap_or(0);
        total += kb * 1024;
    }
    total
}

/// Proportional set size (shared pages divided among their sharers), in bytes, of every
/// process in the group `pgid`, from `/proc/PID/smaps_rollup`.
pub(super) fn group_pss(pgid: u32) -> u64 {
    let mut total = 0;
    for name in numeric_entries("/proc") {
        let Some(fields) = stat_fields(&name) else { continue };
        if fields.get(2).and_then(|s| s.parse::<u32>().ok()) != Some(pgid) {
            continue;
        }
        total += pss(&name);
    }
    total
}

/// The proportional set size of one process, in bytes (0 when it cannot be read).
pub(super) fn pss(pid: &str) -> u64 {
    let Ok(rollup) = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")) else { return 0 };
    let kb: u64 = rollup
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0);
    kb * 1024
}

/// Whether this process is its descendants' child subreaper.
pub(super) fn is_subreaper() -> bool {
    matches!(rustix::process::child_subreaper(), Ok(Some(_)))
}

/// The parent of `pid`, from `/proc`.
pub(super) fn parent_of(pid: u32) -> Option<u32> {
    stat_fields(&pid.to_string())?.get(1)?.parse().ok()
}

pub(super) fn become_subreaper() -> bool {
    rustix::process::set_child_subreaper(Some(rustix::process::getpid())).is_ok()
}

pub(super) fn orphan_zombies(owned: &HashSet<u32>) -> Vec<u32> {
    let me = std::process::id().to_string();
    let my_group = rustix::process::getpgrp().as_raw_pid().to_string();
    // Children hang off the threads that forked them (or, when re-parented, off the main
    // thread); /proc/self/task/*/children lists them without walking every process.
    let mut children: Vec<String> = Vec::new();
    let mut listed = false;
    for task in numeric_entries("/proc/self/task") {
        if let Ok(list) = std::fs::read_to_string(format!("/proc/self/task/{task}/children")) {
            listed = true;
            children.extend(list.split_whitespace().map(str::to_string));
        }
    }
    if !listed {
        // Kernels without CONFIG_PROC_CHILDREN: every process, filtered by parent.
        children = numeric_entries("/proc");
    }
    children
        .into_iter()
        .filter_map(|pid| {
            let f = stat_fields(&pid)?;
            let ours = f.get(1) == Some(&me);
            let zombie = f.first().map(String::as_str) == Some("Z");
            let foreign_group = f.get(2) != Some(&my_group);
            let pid: u32 = pid.parse().ok()?;
            (ours && zombie && foreign_group && !owned.contains(&pid)).then_some(pid)
        })
        .collect()
}

pub(super) fn route_table() -> String {
    std::fs::read_to_string("/proc/net/route").unwrap_or_default()
}

pub(super) fn process_running(name: &str) -> bool {
    std::fs::read_dir("/proc")
        .map(|dir| {
            dir.flatten()
                .any(|e| std::fs::read_to_string(e.path().join("comm")).map(|c| c.trim() == name).unwrap_or(false))
        })
        .unwrap_or(false)
}

pub(super) fn inotify_limit(limit: super::InotifyLimit) -> Option<String> {
    let file = match limit {
        super::InotifyLimit::Watches => "/proc/sys/fs/inotify/max_user_watches",
        super::InotifyLimit::Instances => "/proc/sys/fs/inotify/max_user_instances",
    };
    std::fs::read_to_string(file).ok().map(|v| v.trim().to_string())
}
