//! The helper with Debian's python3 (no framework needed): a fork runs the command exactly
//! as Python would, as Porch's child in its own group; refusals, a helper that imported a
//! thread, and a helper killed twice. Its lifetime (24 hours after the last view, or while
//! held): a real helper, ready in real time, then tokio's clock paused so that the hours
//! pass at once (`tokio::time::advance`), the life task's timer observed where it is armed.

use std::time::{Duration, Instant};

use tokio::sync::mpsc;

use super::*;
use crate::runner::Signal;

fn python3() -> Option<PathBuf> {
    ["/usr/bin/python3", "/bin/python3"].iter().map(PathBuf::from).find(|p| p.is_file())
}

struct Fixture {
    zygotes: Zygotes,
    python: PathBuf,
    dir: tempfile::TempDir,
}

fn fixture() -> Fixture {
    let python = python3().expect("these tests need /usr/bin/python3 (Debian's python3)");
    let runner = Runner::detached();
    assert!(runner.adopt_orphans(), "forked workers need Porch to be the child subreaper (Linux)");
    let dir = tempfile::tempdir().expect("tmp");
    let zygotes = Zygotes::new(runner, TaskTracker::new(), CancellationToken::new(), dir.path().join("run"));
    Fixture { zygotes, python, dir }
}

impl Fixture {
    fn info(&self) -> HelperInfo {
        self.zygotes.list().into_iter().next().expect("one helper")
    }

    async fn until(&self, what: &str, f: impl Fn(&HelperInfo) -> bool) -> HelperInfo {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let info = self.info();
            if f(&info) {
                return info;
            }
            assert!(Instant::now() < deadline, "timed out waiting for {what}: {info:?}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn fork(&self, args: &[&str], sink: mpsc::UnboundedSender<String>) -> Result<Process, ForkError> {
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        let env = vec![("PORCH_ZYGOTE_TEST".to_string(), "set-by-porch".to_string())];
        let logs = Logs { label: "test".into(), sink: Sink::Channel(sink), tail_lines: 10 };
        self.zygotes.fork(&self.python, &self.python, &args, &env, self.dir.path(), logs).await
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_forked_worker_runs_the_command_as_porchs_child_in_its_own_group() {
    let f = fixture();
    f.zygotes.prepare_modules(&f.python, &["json"]);
    let helper = f.until("the helper to be ready", |i| i.state == "ready").await;
    assert!(helper.memory > 0, "{helper:?}");

    let (tx, mut rx) = mpsc::unbounded_channel();
    let code = "import os, sys; print(os.getpid(), os.getppid(), os.getpgid(0), os.environ['PORCH_ZYGOTE_TEST'], \
                os.getcwd(), sys.argv[1:]); sys.stdout.flush(); print('to stderr', file=sys.stderr); sys.exit(7)";
    let p = f.fork(&["-c", code, "one", "two"], tx).await.expect("forked");
    let exit = p.exited().await;
    assert_eq!(exit.to_string(), "exit status: 7");
    p.output_closed(Duration::from_secs(20)).await;
    let mut lines = Vec::new();
    while let Ok(l) = rx.try_recv() {
        lines.push(l);
    }
    let want = format!(
        "{pid} {me} {pid} set-by-porch {} ['one', 'two']",
        f.dir.path().canonicalize().expect("dir").display(),
        pid = p.pid(),
        me = std::process::id()
    );
    assert!(lines.contains(&want), "{want:?} in {lines:?}");
    assert!(lines.iter().any(|l| l == "to stderr"), "{lines:?}");
    assert_eq!(f.info().forks, 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_a_forked_worker_stops_its_group_and_reaps_it() {
    let f = fixture();
    f.zygotes.prepare_modules(&f.python, &["json"]);
    f.until("the helper to be ready", |i| i.state == "ready").await;
    let (tx, _rx) = mpsc::unbounded_channel();
    let p = f.fork(&["-c", "import time; time.sleep(600)"], tx).await.expect("forked");
    assert!(p.try_exit().is_none());
    let exit = p.stop(Duration::from_secs(5)).await;
    assert!(!exit.success(), "{exit}");
    assert!(!std::path::Path::new(&format!("/proc/{}", p.pid())).exists(), "reaped");
}

#[tokio::test(flavor = "multi_thread")]
async fn commands_python_would_not_run_the_same_way_are_refused() {
    let f = fixture();
    f.zygotes.prepare_modules(&f.python, &["json"]);
    f.until("the helper to be ready", |i| i.state == "ready").await;
    let (tx, _rx) = mpsc::unbounded_channel();
    let e = f.fork(&["-m", "http.server"], tx.clone()).await.expect_err("refused");
    assert!(matches!(&e, ForkError::Refused(why) if why.contains("python -c")), "{e:?}");
    let logs = Logs { label: "test".into(), sink: Sink::Channel(tx), tail_lines: 10 };
    let e = f.zygotes.fork(&f.python, Path::new("/bin/sh"), &[], &[], f.dir.path(), logs).await.expect_err("refused");
    assert!(matches!(&e, ForkError::Refused(why) if why.contains("not a script of this environment")), "{e:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_helper_whose_imports_started_a_thread_is_switched_off() {
    let f = fixture();
    std::fs::create_dir_all(f.dir.path().join("run")).expect("run dir");
    std::fs::write(
        f.dir.path().join("run/porch_test_thread.py"),
        "import threading, time\nthreading.Thread(target=time.sleep, args=(600,), daemon=True).start()\n",
    )
    .expect("module");
    f.zygotes.prepare_modules(&f.python, &["porch_test_thread"]);
    let info = f.until("the helper to be off", |i| i.state == "off").await;
    assert!(info.reason.as_deref().is_some_and(|r| r.contains("threads are running")), "{info:?}");
    let (tx, _rx) = mpsc::unbounded_channel();
    assert!(matches!(f.fork(&["-c", "pass"], tx).await, Err(ForkError::HelperOff(_))));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_killed_helper_is_restarted_once_then_switched_off() {
    let f = fixture();
    f.zygotes.prepare_modules(&f.python, &["json"]);
    let first = f.until("the helper to be ready", |i| i.state == "ready").await.pid.expect("pid");
    crate::platform::signal_group(first, Signal::Kill).expect("kill");
    let second = f.until("a new helper", |i| i.state == "ready" && i.pid.is_some_and(|p| p != first)).await;
    crate::platform::signal_group(second.pid.expect("pid"), Signal::Kill).expect("kill");
    let off = f.until("the helper to be off", |i| i.state == "off").await;
    assert!(off.reason.as_deref().is_some_and(|r| r.contains("crashed twice")), "{off:?}");
    assert!(off.pid.is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn switched_off_nothing_is_forked_and_helpers_stop() {
    let f = fixture();
    f.zygotes.prepare_modules(&f.python, &["json"]);
    let pid = f.until("the helper to be ready", |i| i.state == "ready").await.pid.expect("pid");
    f.zygotes.set_enabled(false);
    let (tx, _rx) = mpsc::unbounded_channel();
    assert!(matches!(f.fork(&["-c", "pass"], tx).await, Err(ForkError::Off)));
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z ")) {
        assert!(Instant::now() < deadline, "the helper {pid} still runs");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[test]
fn import_time_variables_start_plainly() {
    assert!(vars_allow_fork(["CONNECT_SERVER", "MY_TOKEN"]));
    for v in
        ["STREAMLIT_SERVER_PORT", "GRADIO_SERVER_NAME", "DASH_DEBUG", "BOKEH_RESOURCES", "MPLBACKEND", "PYTHONPATH"]
    {
        assert!(!vars_allow_fork(["OK", v]), "{v}");
    }
    assert!(modules_for(&crate::vocab::AppMode::parse("python-streamlit")).is_some());
    assert!(modules_for(&crate::vocab::AppMode::parse("python-bokeh")).is_none());
    assert!(modules_for(&crate::vocab::AppMode::parse("shiny")).is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_console_script_of_the_environment_runs_as_python_would_run_it() {
    let mut f = fixture();
    // A relocatable environment as uv writes it: `bin/python` and a shell-and-Python script.
    let bin = f.dir.path().join("venv/bin");
    std::fs::create_dir_all(&bin).expect("bin");
    std::os::unix::fs::symlink(&f.python, bin.join("python")).expect("symlink");
    let script = bin.join("tool");
    std::fs::write(
        &script,
        "#!/bin/sh\n'''exec' \"$(dirname -- \"$(realpath -- \"$0\")\")\"/'python' \"$0\" \"$@\"\n' '''\n\
         import sys\nif __name__ == '__main__':\n    print('TOOL', sys.argv[1:], sys.path[0] == sys.argv[0].rsplit('/', 1)[0])\n    sys.exit(3)\n",
    )
    .expect("script");
    f.python = bin.join("python");
    f.zygotes.prepare_modules(&f.python, &["json"]);
    f.until("the helper to be ready", |i| i.state == "ready").await;
    let (tx, mut rx) = mpsc::unbounded_channel();
    let logs = Logs { label: "test".into(), sink: Sink::Channel(tx), tail_lines: 10 };
    let p = f.zygotes.fork(&f.python, &script, &["a".into()], &[], f.dir.path(), logs).await.expect("forked");
    assert_eq!(p.exited().await.to_string(), "exit status: 3");
    p.output_closed(Duration::from_secs(20)).await;
    let mut lines = Vec::new();
    while let Ok(l) = rx.try_recv() {
        lines.push(l);
    }
    assert!(lines.contains(&"TOOL ['a'] True".to_string()), "{lines:?}");
}

// ---- lifetime: 24 hours after the last view, or while an item holds it --------------------

impl Fixture {
    /// Starts the helper and waits (in real time) until it is ready, then pauses tokio's
    /// clock: from here hours pass only when the test advances them. Returns its pid.
    async fn ready_then_paused(&self) -> u32 {
        self.zygotes.prepare_modules(&self.python, &["json"]);
        let pid = self.until("the helper to be ready", |i| i.state == "ready").await.pid.expect("pid");
        tokio::time::pause();
        pid
    }

    fn views(&self) -> Views {
        self.zygotes.helper(&self.python).views.clone()
    }

    /// When the helper stops unless viewed again: the last view plus [`KEEP_FOR`].
    fn deadline(&self) -> tokio::time::Instant {
        self.views().last() + KEEP_FOR
    }

    /// Waits until the life task has armed its timer for `at` (`None`: no timer), letting
    /// the paused clock run a millisecond at a time (far from any deadline of hours).
    async fn armed(&self, at: Option<tokio::time::Instant>) {
        let h = self.zygotes.helper(&self.python);
        for _ in 0..10_000 {
            if lock(&h.state).wake == at {
                return;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("the helper's timer never was {at:?}: {:?}", lock(&h.state).wake);
    }

    /// Waits until the life task's timer fired and was armed again, for another time than
    /// `from`; returns that time.
    async fn rearmed(&self, from: tokio::time::Instant) -> tokio::time::Instant {
        let h = self.zygotes.helper(&self.python);
        for _ in 0..10_000 {
            if let Some(at) = lock(&h.state).wake.filter(|at| *at != from) {
                return at;
            }
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        panic!("the helper's timer stayed at {from:?}: {:?}", lock(&h.state).wake);
    }

    /// Asserts the helper still runs as `pid`, ready.
    fn still_ready(&self, pid: u32) -> HelperInfo {
        let info = self.info();
        assert_eq!((info.state.as_str(), info.pid), ("ready", Some(pid)), "{info:?}");
        assert!(alive(pid), "the helper {pid} runs");
        info
    }

    /// Resumes the clock and waits (in real time) for the helper to have stopped: stopped in
    /// the list, its process gone.
    async fn stopped(&self, pid: u32) {
        tokio::time::resume();
        let info = self.until("the helper to stop", |i| i.state == "stopped").await;
        assert_eq!((info.pid, info.expires.as_deref()), (None, None), "{info:?}");
        let deadline = Instant::now() + Duration::from_secs(20);
        while alive(pid) {
            assert!(Instant::now() < deadline, "the helper {pid} still runs");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// Whether `pid` runs (exists and is not a zombie).
fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

#[tokio::test]
async fn a_helper_nobody_views_stops_24_hours_after_its_deploy_and_not_before() {
    let f = fixture();
    let pid = f.ready_then_paused().await;
    let deadline = f.deadline();
    f.armed(Some(deadline)).await;
    let info = f.still_ready(pid);
    assert!(info.expires.is_some() && !info.held, "{info:?}");

    tokio::time::advance(deadline - tokio::time::Instant::now() - Duration::from_secs(60)).await;
    f.armed(Some(deadline)).await;
    f.still_ready(pid);
    tokio::time::advance(Duration::from_secs(61)).await;
    f.stopped(pid).await;
}

#[tokio::test]
async fn a_view_inside_the_24_hours_keeps_the_helper_past_its_first_deadline() {
    let f = fixture();
    let pid = f.ready_then_paused().await;
    let first = f.deadline();
    f.armed(Some(first)).await;
    // A viewer's request an hour before the first deadline (what a lease does).
    tokio::time::advance(first - tokio::time::Instant::now() - Duration::from_secs(3600)).await;
    drop(f.views().begin());
    let second = f.deadline();
    assert!(second > first + Duration::from_secs(3500), "the view moved the deadline");

    // The timer fires at the first deadline, finds the view and sleeps until the second.
    tokio::time::advance(Duration::from_secs(2 * 3600)).await;
    assert_eq!(f.rearmed(first).await, second);
    assert!(tokio::time::Instant::now() > first);
    f.still_ready(pid);
    tokio::time::advance(second - tokio::time::Instant::now() + Duration::from_secs(1)).await;
    f.stopped(pid).await;
}

#[tokio::test]
async fn a_session_going_on_keeps_the_helper_and_it_counts_from_the_sessions_end() {
    let f = fixture();
    let pid = f.ready_then_paused().await;
    let first = f.deadline();
    let session = f.views().begin();
    // Two days of one WebSocket session: the timer fires at the first deadline, sees it going
    // on and sleeps 24 hours from then.
    tokio::time::advance(Duration::from_secs(2 * 24 * 3600)).await;
    let during = f.rearmed(first).await;
    assert_eq!(during, f.deadline(), "a view going on counts as one when the timer fires");
    f.still_ready(pid);
    // It ends twelve hours later: the helper stops 24 hours after that, not before.
    tokio::time::advance(Duration::from_secs(12 * 3600)).await;
    drop(session);
    let last = f.deadline();
    assert!(last > during + Duration::from_secs(11 * 3600));
    tokio::time::advance(during - tokio::time::Instant::now() + Duration::from_secs(60)).await;
    assert_eq!(f.rearmed(during).await, last);
    f.still_ready(pid);
    tokio::time::advance(last - tokio::time::Instant::now() + Duration::from_secs(1)).await;
    f.stopped(pid).await;
}

#[tokio::test]
async fn an_item_with_min_processes_holds_the_helper_until_the_hold_goes_and_the_time_has_passed() {
    let f = fixture();
    let pid = f.ready_then_paused().await;
    let first = f.deadline();
    f.zygotes.serve(&f.python, "held-item", true);
    f.zygotes.serve(&f.python, "other-item", false);
    // Held: no timer at all (no wake-up however long it runs).
    f.armed(None).await;
    tokio::time::advance(Duration::from_secs(3 * 24 * 3600)).await;
    f.armed(None).await;
    assert!(tokio::time::Instant::now() > first);
    let info = f.still_ready(pid);
    assert!(info.held && info.expires.is_none(), "{info:?}");
    assert_eq!(info.items, ["held-item", "other-item"]);

    // The hold goes (min_processes back to 0); the last view is three days old: it stops.
    f.zygotes.serve(&f.python, "held-item", false);
    f.stopped(pid).await;
    assert!(!f.info().held);
}

#[tokio::test]
async fn a_hold_that_goes_inside_the_24_hours_leaves_the_deadline_where_the_last_view_put_it() {
    let f = fixture();
    let pid = f.ready_then_paused().await;
    f.zygotes.serve(&f.python, "held-item", true);
    f.armed(None).await;
    tokio::time::advance(Duration::from_secs(3600)).await;
    drop(f.views().begin());
    let deadline = f.deadline();
    // Deleted (the hold goes with it), an hour after the last view.
    tokio::time::advance(Duration::from_secs(3600)).await;
    f.zygotes.release("held-item");
    f.armed(Some(deadline)).await;
    let info = f.still_ready(pid);
    assert!(info.items.is_empty() && !info.held && info.expires.is_some(), "{info:?}");
    tokio::time::advance(deadline - tokio::time::Instant::now() + Duration::from_secs(1)).await;
    f.stopped(pid).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_item_served_by_another_environment_leaves_the_first_helper() {
    let f = fixture();
    let other = f.dir.path().join("other/bin/python");
    f.zygotes.serve(&f.python, "moved", true);
    f.zygotes.serve(&other, "moved", false);
    let helpers = f.zygotes.list();
    let first = helpers.iter().find(|h| !h.environment.contains("other")).expect("first");
    let second = helpers.iter().find(|h| h.environment.contains("other")).expect("second");
    assert!(first.items.is_empty() && !first.held, "{first:?}");
    assert_eq!((second.items.as_slice(), second.held), (&["moved".to_string()][..], false));
}
