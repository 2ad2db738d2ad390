//! The runner with real processes (`sh`, `sleep`).

use std::time::{Duration, Instant};

use super::*;

fn sh(script: &str) -> Cmd {
    let mut c = Cmd::new("sh");
    c.args(["-c", script]);
    c
}

fn logs(sink: Sink) -> Logs {
    Logs { label: "test".into(), sink, tail_lines: 10 }
}

/// `None` once the process is gone or a zombie.
fn running(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).map(|s| !s.contains(") Z ")).unwrap_or(false)
}

fn exists(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

async fn until(what: &str, mut f: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !f() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test]
async fn pumps_both_streams_in_order_and_reports_the_exit() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let p = Runner::detached()
        .spawn(&sh("echo out1; echo err1 >&2; echo out2; exit 3"), logs(Sink::Channel(tx)))
        .expect("spawn");
    let exit = p.exited().await;
    assert!(!exit.success());
    assert_eq!(exit.to_string(), "exit status: 3");
    p.output_closed(Duration::from_secs(20)).await;
    let mut lines = Vec::new();
    while let Ok(l) = rx.try_recv() {
        lines.push(l);
    }
    for want in ["out1", "err1", "out2"] {
        assert!(lines.iter().any(|l| l == want), "{want} in {lines:?}");
    }
    let out1 = lines.iter().position(|l| l == "out1").expect("out1");
    let out2 = lines.iter().position(|l| l == "out2").expect("out2");
    assert!(out1 < out2, "stdout keeps its order: {lines:?}");
    assert_eq!(p.tail().len(), 3, "{:?}", p.tail());
}

#[tokio::test]
async fn a_talking_child_answers_on_its_stdout_and_logs_its_stderr() {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (p, mut talk) = Runner::detached()
        .spawn_talking(&sh("read line; echo \"heard $line\"; echo to-the-log >&2"), logs(Sink::Channel(tx)))
        .expect("spawn");
    talk.stdin.write_all(b"hello\n").await.expect("write");
    let mut answer = String::new();
    tokio::io::BufReader::new(talk.stdout).read_line(&mut answer).await.expect("read");
    assert_eq!(answer, "heard hello\n", "stdout is the caller's, not the log's");
    assert!(p.exited().await.success());
    p.output_closed(Duration::from_secs(20)).await;
    let mut lines = Vec::new();
    while let Ok(l) = rx.try_recv() {
        lines.push(l);
    }
    assert_eq!(lines, ["to-the-log"], "only stderr is pumped");
}

#[tokio::test]
async fn file_sink_prefixes_the_pid() {
    let dir = tempfile::tempdir().expect("tmp");
    let path = dir.path().join("logs/item.log");
    let log = LogFile::shared(path.clone());
    let p = Runner::detached().spawn(&sh("echo hello"), logs(Sink::File(log))).expect("spawn");
    assert!(p.exited().await.success());
    p.output_closed(Duration::from_secs(20)).await;
    let text = std::fs::read_to_string(&path).expect("log written");
    assert!(text.contains(&format!("[{}] hello", p.pid())), "{text}");
    assert_eq!(read_log_tail(&path, 5).await.len(), 1);
}

#[tokio::test]
async fn stop_terminates_the_whole_group_and_kills_what_ignores_sigterm() {
    let runner = Runner::detached();
    // The shell ignores SIGTERM; its background sleep is in the same group.
    let (tx, mut rx) = mpsc::unbounded_channel();
    let p = runner.spawn(&sh("trap '' TERM; sleep 300 & echo $!; wait"), logs(Sink::Channel(tx))).expect("spawn");
    let child: u32 = rx.recv().await.expect("pid line").trim().parse().expect("pid");
    assert!(running(p.pid()) && running(child));
    let exit = p.stop(Duration::from_millis(200)).await;
    assert!(exit.to_string().contains("signal: 9"), "SIGKILLed after the grace: {exit}");
    until("the grandchild to die with its group", || !running(child)).await;
}

#[tokio::test]
async fn stop_reaches_a_grandchild_that_started_its_own_session() {
    // As Jupyter starts a kernel: in a new session, so out of the child's process group.
    let (tx, mut rx) = mpsc::unbounded_channel();
    let p = Runner::detached()
        .spawn(&sh("setsid sh -c 'echo $$; exec sleep 300' & wait"), logs(Sink::Channel(tx)))
        .expect("spawn");
    let escaped: u32 = rx.recv().await.expect("pid line").trim().parse().expect("pid");
    assert!(running(escaped));
    p.stop(Duration::from_millis(500)).await;
    until("the grandchild in its own session to die", || !running(escaped)).await;
}

#[tokio::test]
async fn dropping_the_handle_kills_the_group() {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let p = Runner::detached().spawn(&sh("sleep 300 & echo $!; wait"), logs(Sink::Channel(tx))).expect("spawn");
    let child: u32 = rx.recv().await.expect("pid line").trim().parse().expect("pid");
    let pid = p.pid();
    drop(p);
    until("the process to die", || !running(pid)).await;
    until("its group to die", || !running(child)).await;
}

#[tokio::test]
async fn shutdown_stops_everything_and_the_tracker_waits_for_it() {
    let (tracker, cancel) = (TaskTracker::new(), CancellationToken::new());
    let runner = Runner::new(tracker.clone(), cancel.clone(), Duration::from_secs(5));
    let p = runner.spawn(&sh("sleep 300"), logs(Sink::Discard)).expect("spawn");
    let pid = p.pid();
    cancel.cancel();
    tracker.close();
    tokio::time::timeout(Duration::from_secs(20), tracker.wait()).await.expect("the tracker ends");
    assert!(p.try_exit().is_some(), "the exit is published");
    assert!(!running(pid));
}

#[tokio::test]
async fn probes_capture_output_time_out_and_report_missing_programs() {
    let runner = Runner::detached();
    let out = runner.output(&sh("echo yes; echo no >&2"), Duration::from_secs(20)).await.expect("runs");
    assert!(out.status.success());
    assert_eq!(out.stdout, b"yes\n");
    assert_eq!(out.stderr, b"no\n");
    let e = runner.output(&sh("sleep 300"), Duration::from_millis(100)).await.expect_err("too slow");
    assert!(matches!(e, OutputError::TimedOut { .. }), "{e:?}");
    let e = runner.output(&Cmd::new("porch-no-such-program-xyz"), Duration::from_secs(5)).await.expect_err("missing");
    assert!(matches!(&e, OutputError::Spawn { source, .. } if source.kind() == std::io::ErrorKind::NotFound), "{e:?}");
}

#[tokio::test]
async fn env_and_working_directory_reach_the_child() {
    let dir = tempfile::tempdir().expect("tmp");
    let mut c = sh("echo \"$PORCH_X $HOME\"; pwd");
    c.env("PORCH_X", "set").env_remove("HOME").current_dir(dir.path());
    let out = Runner::detached().output(&c, Duration::from_secs(20)).await.expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    let want = std::fs::canonicalize(dir.path()).expect("canon");
    assert_eq!(text, format!("set \n{}\n", want.display()));
    assert_eq!(c.display(), format!("sh -c {:?}", "echo \"$PORCH_X $HOME\"; pwd"));
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn a_low_priority_command_and_what_it_starts_run_at_the_lowest_priority() {
    let runner = Runner::detached();
    // With util-linux's `chrt` (Debian always has it, as it has `setpriv`): SCHED_IDLE,
    // which `chrt -p` names; else nice 19, which `nice` alone prints. The inner shell is a
    // child of the first: what the command starts inherits it.
    let chrt = ["/usr/bin/chrt", "/bin/chrt"].iter().any(|p| std::path::Path::new(p).is_file());
    let (script, low, normal) = if chrt {
        ("chrt -p $$; sh -c 'chrt -p $$'", "SCHED_IDLE", "SCHED_OTHER")
    } else {
        ("nice; sh -c nice", "19", "0")
    };
    let ours = runner.output(&sh(script), Duration::from_secs(20)).await.expect("runs");
    let ours = String::from_utf8_lossy(&ours.stdout).into_owned();
    assert_eq!(ours.matches(normal).count(), 2, "the test itself must run at the normal priority: {ours}");
    let mut c = sh(script);
    c.low_priority();
    let out = runner.output(&c, Duration::from_secs(20)).await.expect("runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(text.matches(low).count(), 2, "the command and its child: {text}");
    assert_eq!(c.display(), format!("sh -c {script:?}"), "the log line names the program, not the wrapper");
}

#[cfg(target_os = "linux")]
#[tokio::test]
async fn orphans_come_back_to_porch_and_are_reaped() {
    let runner = Runner::detached();
    assert!(runner.adopt_orphans(), "Linux has a child subreaper");
    // The shell exits at once; its background child outlives it, is re-parented to this
    // process, and exits a moment later.
    let (tx, mut rx) = mpsc::unbounded_channel();
    let p = runner.spawn(&sh("sleep 0.3 & echo $!"), logs(Sink::Channel(tx))).expect("spawn");
    let orphan: u32 = rx.recv().await.expect("pid line").trim().parse().expect("pid");
    assert!(p.exited().await.success(), "the shell's own status still reaches its keeper");
    until("the orphan to be re-parented or gone", || {
        let stat = std::fs::read_to_string(format!("/proc/{orphan}/stat")).unwrap_or_default();
        let ppid = stat.rfind(')').and_then(|i| stat[i + 1..].split_whitespace().nth(1).map(str::to_string));
        stat.is_empty() || ppid.as_deref() == Some(&std::process::id().to_string())
    })
    .await;
    until("the orphan to be reaped (no zombie left)", || !exists(orphan)).await;
}
