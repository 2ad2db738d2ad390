//! Running an installer step with its output streamed into a deploy log.
//!
//! Owns: spawning one child (uv, pip, venv), forwarding each stdout and stderr line to the
//! log as it arrives, and keeping the last lines for the error if the step fails.
//!
//! Concurrency: the two pipe readers and the forwarding loop run as futures joined in the
//! caller's task (no spawned tasks, no locks); readers send into a private channel so lines
//! keep their arrival order across the two streams. The child is `kill_on_drop`, so
//! dropping the future (deploy cancelled) stops the install.

use std::collections::VecDeque;
use std::process::Stdio;

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::process::Command;
use tokio::sync::mpsc::{self, UnboundedSender};

use super::EnvError;

/// How many trailing lines a failure carries.
const TAIL_LINES: usize = 15;

/// `program arg arg…`, quoting args with spaces, for the log's "$ …" line.
pub(crate) fn display(cmd: &Command) -> String {
    let std = cmd.as_std();
    let mut out = std.get_program().to_string_lossy().into_owned();
    for a in std.get_args() {
        let a = a.to_string_lossy();
        out.push(' ');
        if a.is_empty() || a.contains(char::is_whitespace) {
            out.push_str(&format!("{a:?}"));
        } else {
            out.push_str(&a);
        }
    }
    out
}

/// Runs `cmd` to the end, streaming its output lines into `log`.
///
/// `tool` names the step in errors ("uv pip install"). A non-zero exit becomes
/// [`EnvError::InstallFailed`] with the last lines of output.
pub(crate) async fn run_streamed(tool: &str, cmd: Command, log: &UnboundedSender<String>) -> Result<(), EnvError> {
    let _ = log.send(format!("$ {}", display(&cmd)));
    let mut cmd = dies_with_porch(cmd);
    cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).kill_on_drop(true);
    let mut child = cmd.spawn().map_err(|source| EnvError::Spawn {
        program: cmd.as_std().get_program().to_string_lossy().into_owned(),
        source,
    })?;
    let stdout = child.stdout.take().expect("stdout was set to piped above");
    let stderr = child.stderr.take().expect("stderr was set to piped above");
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let forward = async {
        let mut tail = VecDeque::with_capacity(TAIL_LINES);
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
        tail
    };
    let (_, _, tail) = tokio::join!(pump(stdout, tx.clone()), pump(stderr, tx), forward);
    let status = child.wait().await.map_err(|source| EnvError::Spawn {
        program: cmd.as_std().get_program().to_string_lossy().into_owned(),
        source,
    })?;
    if status.success() {
        Ok(())
    } else {
        Err(EnvError::InstallFailed { tool: tool.to_string(), status: status.to_string(), last_lines: tail.into() })
    }
}

/// The same command in its own process group under `setpriv --pdeathsig KILL` (when
/// util-linux has it), so an install does not outlive a Porch that was killed outright
/// (`kill_on_drop` only covers an orderly drop).
///
/// SECURITY: installers run code from the bundle's requirements (build scripts); they must
/// not survive Porch as orphans.
fn dies_with_porch(cmd: Command) -> Command {
    let std = cmd.as_std();
    let setpriv = ["/usr/bin/setpriv", "/bin/setpriv"].iter().find(|p| std::path::Path::new(p).is_file());
    // A program that cannot be found is left unwrapped, so it still fails as a spawn error.
    let mut out = match setpriv.filter(|_| resolvable(std.get_program())) {
        Some(sp) => {
            let mut c = Command::new(sp);
            c.args(["--pdeathsig", "KILL", "--"]).arg(std.get_program());
            c
        }
        None => Command::new(std.get_program()),
    };
    out.args(std.get_args());
    for (k, v) in std.get_envs() {
        match v {
            Some(v) => out.env(k, v),
            None => out.env_remove(k),
        };
    }
    if let Some(dir) = std.get_current_dir() {
        out.current_dir(dir);
    }
    out.process_group(0);
    out
}

/// Whether `program` names a file, directly or through `PATH`.
fn resolvable(program: &std::ffi::OsStr) -> bool {
    let path = std::path::Path::new(program);
    if path.components().count() > 1 {
        return path.is_file();
    }
    std::env::var_os("PATH").is_some_and(|dirs| std::env::split_paths(&dirs).any(|d| d.join(program).is_file()))
}

/// Reads one pipe line by line (bytes, so non-UTF-8 output is kept lossily) until EOF.
async fn pump(pipe: impl AsyncRead + Unpin, tx: UnboundedSender<String>) {
    let mut reader = BufReader::new(pipe);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf);
                if tx.send(line.trim_end_matches(['\n', '\r']).to_string()).is_err() {
                    break;
                }
            }
        }
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn streams_both_pipes_and_reports_the_tail_on_failure() {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let mut cmd = Command::new("sh");
        cmd.args(["-c", "echo out1; echo err1 >&2; echo out2; exit 3"]);
        let err = tokio::time::timeout(std::time::Duration::from_secs(20), run_streamed("sh test", cmd, &tx))
            .await
            .expect("in time")
            .expect_err("exit 3");
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
    async fn a_missing_program_is_a_spawn_error() {
        let (tx, _rx) = mpsc::unbounded_channel();
        let cmd = Command::new("porch-no-such-program-xyz");
        let err = run_streamed("x", cmd, &tx).await.expect_err("missing");
        assert!(matches!(err, EnvError::Spawn { .. }), "{err:?}");
    }
}
