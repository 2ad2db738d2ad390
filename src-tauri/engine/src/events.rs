//! A broadcast of state changes, for the desktop shell, SSE and tests.

use serde::Serialize;

/// Something changed in the library.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize, PartialEq)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Event {
    /// An item was created, updated or (re)deployed.
    ContentChanged {
        /// Its guid.
        guid: String,
    },
    /// An item was deleted.
    ContentDeleted {
        /// Its guid.
        guid: String,
    },
    /// A deploy task ended.
    TaskFinished {
        /// Task id.
        id: String,
        /// Content guid.
        guid: String,
        /// 0 on success.
        #[cfg_attr(feature = "ts", ts(type = "number"))]
        code: i64,
        /// Error message, `""` on success.
        error: String,
    },
    /// A render ended (deploy, manual, schedule or watch).
    RenderFinished {
        /// Content guid.
        guid: String,
        /// Render id.
        render_id: String,
        /// What started it.
        trigger: crate::vocab::Trigger,
        /// How it ended.
        status: crate::vocab::RenderStatus,
        /// Why it failed, `""` on success.
        error: String,
    },
    /// An app could not start for a viewer (the proxy answered 502).
    StartFailed {
        /// Content guid.
        guid: String,
        /// Why.
        message: String,
    },
    /// A linked folder's status changed (watching, broken, redeploying, a redeploy ended),
    /// or the link was made or removed (`link` is then the new link or `null`).
    LinkChanged {
        /// The item's guid.
        guid: String,
        /// The link as `GET /__api__/porch/content/{guid}/link` shows it.
        link: Option<crate::view::LinkView>,
    },
    /// Much changed at once, or a server switch changed (sharing, settings).
    LibraryChanged,
}

/// Longest reason [`short_reason`] returns, in characters.
const SHORT_REASON_CHARS: usize = 200;

/// A failure message cut down for a one-line display such as a desktop notification: its
/// first line and, when that line only introduces what follows (it ends with `:`, as in
/// "uv pip install failed (exit status: 1):"), the last non-empty line too, which is where
/// tools such as uv and pip put the cause. At most 200 characters.
pub fn short_reason(message: &str) -> String {
    let mut lines = message.lines().map(str::trim).filter(|l| !l.is_empty());
    let first = lines.next().unwrap_or("");
    let mut reason = first.to_string();
    if first.ends_with(':') {
        if let Some(last) = lines.next_back() {
            // Tree-drawing and bullets ("╰─▶ Because …") are decoration.
            reason = format!("{first} {}", last.trim_start_matches(|c: char| !c.is_alphanumeric()));
        }
    }
    if reason.chars().count() > SHORT_REASON_CHARS {
        reason = reason.chars().take(SHORT_REASON_CHARS - 1).collect::<String>() + "…";
    }
    reason
}

#[cfg(test)]
mod tests {
    use super::short_reason;

    #[test]
    fn short_reasons_keep_the_cause() {
        assert_eq!(short_reason("cannot read app.py\nmore detail"), "cannot read app.py");
        let uv = "uv pip install failed (exit status: 1):\n  × No solution found when resolving dependencies:\n  ╰─▶ Because nope was not found in the package registry, your requirements are unsatisfiable.\n";
        assert_eq!(
            short_reason(uv),
            "uv pip install failed (exit status: 1): Because nope was not found in the package registry, your requirements are unsatisfiable."
        );
        assert_eq!(short_reason(""), "");
        assert_eq!(short_reason("ends with a colon:"), "ends with a colon:");
        let long = "x".repeat(500);
        assert_eq!(short_reason(&long).chars().count(), 200);
        assert!(short_reason(&long).ends_with('…'));
    }
}
