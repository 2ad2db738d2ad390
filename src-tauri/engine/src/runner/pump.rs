//! The one line pump: a child's stdout and stderr, line by line, to tracing, the tail ring
//! and the caller's sink.
//!
//! Concurrency: one task per process (spawned on the runner's tracker). The two pipe readers
//! and the consumer are futures joined inside it; readers send into a private channel so
//! lines keep their arrival order across the two streams. Bytes are read, not UTF-8 text,
//! so output in another encoding is kept (lossily) instead of ending the pump. Terminal
//! escape sequences are taken out (a notebook's traceback comes coloured, whether or not a
//! terminal reads it): every consumer (the log file, the tail in an error message, a deploy's
//! log in the window) reads the lines as text.

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
                if tx.send((stream, plain(line.trim_end_matches(['\n', '\r'])))).is_err() {
                    break;
                }
            }
        }
    }
}

/// `line` without terminal escape sequences: CSI (colours, cursor moves: `ESC [` up to a
/// final byte `@`..`~`), OSC (titles, links: `ESC ]` up to BEL or `ESC \`) and two-character
/// escapes.
fn plain(line: &str) -> String {
    if !line.contains('\x1b') {
        return line.to_owned();
    }
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        if c != '\x1b' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('[') => {
                for c in chars.by_ref() {
                    if ('@'..='~').contains(&c) {
                        break;
                    }
                }
            }
            Some(']') => {
                while let Some(c) = chars.next() {
                    if c == '\x07' {
                        break;
                    }
                    if c == '\x1b' {
                        chars.next_if_eq(&'\\');
                        break;
                    }
                }
            }
            _ => {}
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::plain;

    #[test]
    fn escape_sequences_are_taken_out_and_the_text_kept() {
        // IPython's coloured traceback, as nbclient prints it.
        let coloured = "\x1b[31mRuntimeError\x1b[39m: boom \x1b[38;5;28;01mraise\x1b[39;00m";
        assert_eq!(plain(coloured), "RuntimeError: boom raise");
        // A link (OSC 8, ended by ESC \), a title ended by BEL, a two-character escape.
        assert_eq!(plain("see \x1b]8;;http://x/\x1b\\here\x1b]8;;\x1b\\ now"), "see here now");
        assert_eq!(plain("\x1b]0;title\x07done"), "done");
        assert_eq!(plain("a\x1b7b\x1b8c"), "abc");
        // Text without escapes, non-ASCII included, is unchanged; a cut-off sequence ends the line.
        assert_eq!(plain("naïve [31m ünïcode"), "naïve [31m ünïcode");
        assert_eq!(plain("cut \x1b[3"), "cut ");
    }
}
