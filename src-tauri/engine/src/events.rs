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
        /// What started it: `deploy`, `manual`, `schedule`, `watch`.
        trigger: String,
        /// `success` or `failed`.
        status: String,
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
        link: Option<crate::links::LinkView>,
    },
    /// Another process (the CLI) changed the data directory, or a server switch changed.
    LibraryChanged,
}
