//! Running an installer step with its output streamed into a deploy log.
//!
//! Owns: running one installer step (uv, pip, venv) through the process runner, forwarding
//! each output line to the log as it arrives, and keeping the last lines for the error if
//! the step fails. Spawning, process groups, the line pump and kill-on-parent-death belong
//! to `crate::runner`.
//!
//! Concurrency: the runner's pump sends lines into a private channel that this future
//! drains in the caller's task, so lines keep their arrival order across the two streams.
//! Dropping the future (deploy cancelled) drops the process handle, which kills the
//! installer's process group.
//!
//! SECURITY: installers run code from the bundle's requirements (build scripts); the runner
//! makes sure they do not survive Porch as orphans.

use std::collections::VecDeque;

use tokio::sync::mpsc::{self, UnboundedSender};

use super::EnvError;
use crate::runner::{Cmd, Logs, Runner, Sink};

/// How many trailing lines a failure carries.
const TAIL_LINES: usize = 15;

/// Runs `cmd` to the end, streaming its output lines into `log`.
///
/// `tool` names the step in errors ("uv pip install"). A non-zero exit becomes
/// [`EnvError::InstallFailed`] with the last lines of output.
pub(crate) async fn run_streamed(
    runner: &Runner,
    tool: &str,
    cmd: Cmd,
    log: &UnboundedSender<String>,
) -> Result<(), EnvError> {
    let _ = log.send(format!("$ {}", cmd.display()));
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let logs = Logs { label: tool.to_string(), sink: Sink::Channel(tx), tail_lines: 0 };
    let process = runner
        .spawn(&cmd, logs)
        .map_err(|source| EnvError::Spawn { program: cmd.program().to_string_lossy().into_owned(), source })?;
    let mut tail = VecDeque::with_capacity(TAIL_LINES);
    // The channel closes when the pump ends (both pipes closed).
    while let Some(line) = rx.recv().await {
        if !line.trim().is_empty() {
            if tail.len() == TAIL_LINES {
                tail.pop_front();
            }
            tail.push_back(line.clone());
        }
        // The deploy may have given up listening; the install still finishes.
        let _ = log.send(line);
    }
    let exit = process.exited().await;
    if exit.success() {
        Ok(())
    } else if runner.is_stopping() {
        // Porch stopping ended it: not the requirements' failure.
        let status = "interrupted: Porch stopped during the build".to_string();
        Err(EnvError::InstallFailed { tool: tool.to_string(), status, last_lines: Vec::new() })
    } else {
        Err(EnvError::InstallFailed { tool: tool.to_string(), status: exit.to_string(), last_lines: tail.into() })
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn streams_both_pipes_and_reports_the_tail_on_failure() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut cmd = Cmd::new("sh");
        cmd.args(["-c", "echo out1; echo err1 >&2; echo out2; exit 3"]);
        let runner = Runner::detached();
        let run = run_streamed(&runner, "sh test", cmd, &tx);
        let err =
            tokio::time::timeout(std::time::Duration::from_secs(20), run).await.expect("in time").expect_err("exit 3");
        let mut lines = Vec::new();
        while let Ok(l) = rx.try_recv() {
            lines.push(l);
        }
        assert!(lines[0].starts_with("$ sh -c"), "{lines:?}");
        for want in ["out1", "err1", "out2"] {
            assert!(lines.iter().any(|l| l == want), "{want} in {lines:?}");
        }
        let msg = err.to_string();
        assert!(msg.contains("sh test failed") && msg.contains("exit status: 3") && msg.contains("err1"), "{msg}");
    }

    #[tokio::test]
    async fn a_step_ended_by_porch_stopping_says_so() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let cancel = tokio_util::sync::CancellationToken::new();
        let runner =
            Runner::new(tokio_util::task::TaskTracker::new(), cancel.clone(), std::time::Duration::from_millis(200));
        let mut cmd = Cmd::new("sleep");
        cmd.arg("30");
        let run = tokio::spawn(async move { run_streamed(&runner, "uv pip install", cmd, &tx).await });
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        cancel.cancel();
        let err = tokio::time::timeout(std::time::Duration::from_secs(20), run)
            .await
            .expect("in time")
            .expect("join")
            .expect_err("stopped");
        let msg = err.to_string();
        assert!(msg.contains("interrupted: Porch stopped") && !msg.contains("signal"), "{msg}");
    }

    #[tokio::test]
    async fn a_missing_program_is_a_spawn_error() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let cmd = Cmd::new("porch-no-such-program-xyz");
        let err = run_streamed(&Runner::detached(), "x", cmd, &tx).await.expect_err("missing");
        assert!(matches!(err, EnvError::Spawn { .. }), "{err:?}");
    }
}
