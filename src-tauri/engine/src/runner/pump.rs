//! The one line pump: a child's stdout and stderr, line by line, to tracing, the tail ring
//! and the caller's sink.
//!
//! Concurrency: one task per process (spawned on the runner's tracker). The two pipe readers
//! and the consumer are futures joined inside it; readers send into a private channel so
//! lines keep their arrival order across the two streams. Bytes are read, not UTF-8 text,
//! so output in another encoding is kept (lossily) instead of ending the pump.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncBufReadExt, AsyncRead, BufReader};
use tokio::sync::mpsc::{self, UnboundedSender};

use super::{Logs, Sink};

/// The last lines a process printed, shared between the pump and whoever holds a clone.
#[derive(Debug, Clone, Default)]
pub struct Tail {
    lines: Arc<Mutex<VecDeque<String>>>,
    keep: usize,
}

impl Tail {
    pub(super) fn new(keep: usize) -> Tail {
        Tail { lines: Arc::default(), keep }
    }

    fn push(&self, line: &str) {
        if self.keep == 0 {
            return;
        }
        let mut t = self.lines.lock().unwrap_or_else(|p| p.into_inner());
        if t.len() == self.keep {
            t.pop_front();
        }
        t.push_back(line.to_string());
    }

    /// The lines, oldest first.
    pub fn lines(&self) -> Vec<String> {
        self.lines.lock().unwrap_or_else(|p| p.into_inner()).iter().cloned().collect()
    }
}

/// Pumps both pipes to the end (or until `stop` completes).
pub(super) async fn run(
    pid: u32,
    stdout: Option<impl AsyncRead + Unpin>,
    stderr: Option<impl AsyncRead + Unpin>,
    logs: Logs,
    tail: Tail,
    stop: impl std::future::Future<Output = ()>,
) {
    let (tx, mut rx) = mpsc::unbounded_channel::<(&'static str, String)>();
    let consume = async {
        while let Some((stream, line)) = rx.recv().await {
            tracing::debug!(target: "porch::child", child = %logs.label, pid, stream, "{line}");
            tail.push(&line);
            match &logs.sink {
                Sink::Discard => {}
                Sink::Channel(out) => {
                    // The reader may have gone away (a deploy no longer watched); the
                    // process still runs to its end.
                    let _ = out.send(line);
                }
                Sink::File(log) => log.lock().await.write(&format!("[{pid}] {line}")).await,
            }
        }
    };
    let all = async {
        tokio::join!(read(stdout, "stdout", tx.clone()), read(stderr, "stderr", tx), consume);
    };
    tokio::select! {
        _ = all => {}
        _ = stop => {}
    }
}

/// Reads one pipe line by line until EOF.
async fn read(pipe: Option<impl AsyncRead + Unpin>, stream: &'static str, tx: UnboundedSender<(&'static str, String)>) {
    let Some(pipe) = pipe else { return };
    let mut reader = BufReader::new(pipe);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        match reader.read_until(b'\n', &mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(_) => {
                let line = String::from_utf8_lossy(&buf);
                if tx.send((stream, line.trim_end_matches(['\n', '\r']).to_string())).is_err() {
                    break;
                }
            }
        }
    }
}
