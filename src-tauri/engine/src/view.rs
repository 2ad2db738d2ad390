//! Content and bundle as callers see them: Connect's JSON shapes, with absolute URLs.

use serde::Serialize;

use crate::store::{BundleRow, ContentRow, LinkRow};

/// A content item in Connect's v1 shape (also what the desktop shell lists).
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ContentView {
    /// Hyphenated UUID.
    pub guid: String,
    /// Numeric id as a string.
    pub id: String,
    /// Unique name.
    pub name: String,
    /// Title (may be empty).
    pub title: Option<String>,
    /// Description.
    pub description: String,
    /// Connect's `all`, `logged_in` or `acl`.
    pub access_type: String,
    /// Who may view it (what Porch enforces).
    pub viewer_access: crate::vocab::ViewerAccess,
    /// Whether a secret link exists (the token itself is shown only when made).
    pub secret_link: bool,
    /// Appmode; `unknown` before the first deploy.
    pub app_mode: crate::vocab::AppMode,
    /// Content category.
    pub content_category: String,
    /// Parameterised reports (not yet supported).
    pub parameterized: bool,
    /// Active bundle id as a string.
    pub bundle_id: Option<String>,
    /// The publisher's guid.
    pub owner_guid: String,
    /// RFC 3339.
    pub created_time: String,
    /// RFC 3339.
    pub last_deployed_time: Option<String>,
    /// Absolute viewer URL with a trailing slash.
    pub content_url: String,
    /// Absolute URL of the item in Porch's browser UI (`/__porch__/#/content/{guid}`).
    pub dashboard_url: String,
    /// Always `owner` for the publisher.
    pub app_role: String,
    /// Never locked.
    pub locked: bool,
    /// Not applicable yet.
    pub r_version: Option<String>,
    /// Not applicable yet.
    pub py_version: Option<String>,
    /// Not applicable yet.
    pub quarto_version: Option<String>,
    /// Absolute vanity URL, if any.
    pub vanity_url: Option<String>,
    /// Entry point.
    pub entrypoint: Option<String>,
    /// Runtime settings; `null` fields use the server defaults.
    #[serde(flatten)]
    pub runtime: crate::store::RuntimeRow,
    /// The linked folder and its status (Porch's extension), `null` when not linked.
    pub link: Option<LinkView>,
}

impl ContentView {
    /// Builds the view; `origin` is like `http://host:3939` (no trailing slash).
    pub fn new(c: &ContentRow, owner_guid: &str, origin: &str) -> ContentView {
        ContentView {
            guid: c.guid.clone(),
            id: c.id.to_string(),
            name: c.name.clone(),
            title: c.title.clone(),
            description: c.description.clone(),
            access_type: c.access_type.clone(),
            viewer_access: c.viewer_access.clone(),
            secret_link: c.link_token_hash.is_some(),
            app_mode: c.app_mode.clone(),
            content_category: c.content_category.clone(),
            parameterized: false,
            bundle_id: c.bundle_id.map(|b| b.to_string()),
            owner_guid: owner_guid.to_string(),
            created_time: c.created_time.clone(),
            last_deployed_time: c.last_deployed_time.clone(),
            content_url: format!("{origin}/content/{}/", c.guid),
            dashboard_url: format!("{origin}/__porch__/#/content/{}", c.guid),
            app_role: "owner".into(),
            locked: false,
            r_version: None,
            py_version: None,
            quarto_version: None,
            vanity_url: c.vanity_path.as_ref().map(|v| format!("{origin}{v}")),
            entrypoint: c.entrypoint.clone(),
            runtime: c.runtime.clone(),
            link: None,
        }
    }
}

/// An item's vanity path, as Connect's `/v1/content/{guid}/vanity` answers it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct VanityView {
    /// The item.
    pub content_guid: String,
    /// The path, such as `/sales/`.
    pub path: String,
    /// When it was set (the item's last change, RFC 3339).
    pub created_time: String,
}

/// A bundle in Connect's v1 shape.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct BundleView {
    /// Numeric id as a string.
    pub id: String,
    /// The owning content's guid.
    pub content_guid: String,
    /// RFC 3339.
    pub created_time: String,
    /// Whether it is being served.
    pub active: bool,
    /// Archive size in bytes.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub size: i64,
    /// Where the bundle stands.
    pub state: crate::vocab::BundleState,
    /// The manifest as stored.
    pub manifest: Option<serde_json::Value>,
    /// Not used by Porch.
    pub r_version: Option<String>,
    /// Not used by Porch.
    pub py_version: Option<String>,
    /// Not used by Porch.
    pub quarto_version: Option<String>,
    /// Upload metadata (git source), if any.
    pub metadata: Option<serde_json::Value>,
}

impl BundleView {
    /// Builds the view.
    pub fn new(b: &BundleRow, content_guid: &str, active_id: Option<i64>) -> BundleView {
        BundleView {
            id: b.id.to_string(),
            content_guid: content_guid.to_string(),
            created_time: b.created_time.clone(),
            active: active_id == Some(b.id),
            size: b.size,
            state: b.state.clone(),
            manifest: b.manifest.as_ref().map(|m| m.raw.clone()),
            r_version: None,
            py_version: None,
            quarto_version: None,
            metadata: b.metadata.as_deref().and_then(|m| serde_json::from_str(m).ok()),
        }
    }
}

/// A link as callers see it (`GET /__api__/porch/content/{guid}/link`, the content's
/// `link` field and `link_changed` events).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct LinkView {
    /// The folder.
    pub path: String,
    /// Where the link stands.
    pub status: crate::vocab::LinkStatus,
    /// Why the link is broken, or why the last redeploy failed.
    pub error: Option<String>,
    /// RFC 3339 end of the last redeploy.
    pub last_redeploy: Option<String>,
    /// How the last redeploy ended.
    pub last_result: Option<crate::vocab::Outcome>,
    /// The deploy task with the last redeploy's log (`GET /__api__/v1/tasks/{id}`).
    pub last_task_id: Option<String>,
}

impl From<&LinkRow> for LinkView {
    fn from(r: &LinkRow) -> LinkView {
        LinkView {
            path: r.path.clone(),
            status: r.status.clone(),
            error: r.error.clone(),
            last_redeploy: r.last_redeploy.clone(),
            last_result: r.last_result.clone(),
            last_task_id: r.last_task_id.clone(),
        }
    }
}

/// What Porch detected in a folder, file or archive, before anything is stored.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct BundlePreview {
    /// Suggested content name (an existing item with this name would be redeployed).
    pub name: String,
    /// Suggested title.
    pub title: String,
    /// Detected (or declared) appmode.
    pub app_mode: crate::vocab::AppMode,
    /// `static`, `rendered` or `interactive`: how Porch runs it.
    pub runtime: String,
    /// Entry point (script, module or document), if any.
    pub entrypoint: Option<String>,
    /// The page served first, for static content.
    pub primary_html: Option<String>,
    /// Whether the bundle carried its own `manifest.json` (false: inferred from the files).
    pub declared: bool,
    /// `python.version` of the manifest, if declared.
    pub python_version: Option<String>,
    /// `platform` (the R version) of the manifest, if declared.
    pub r_version: Option<String>,
    /// `quarto.version` of the manifest, if declared.
    pub quarto_version: Option<String>,
    /// Lines of `requirements.txt` (comments and blanks dropped), else the manifest's R packages.
    pub requirements: Vec<String>,
    /// Top-level entries (folders end in `/`), sorted, at most 50.
    pub files: Vec<String>,
    /// Files and folders in the whole bundle.
    #[cfg_attr(feature = "ts", ts(type = "number"))]
    pub file_count: u64,
    /// The guid of the existing item named `name`, which a deploy would update.
    pub existing_guid: Option<String>,
    /// Every appmode Porch can run, for choosing another one (`?appmode=`).
    pub app_modes: Vec<String>,
    /// Entry points in the bundle that fit `app_mode` (files, or Python modules for the
    /// WSGI/ASGI appmodes), for choosing another one (`?entrypoint=`).
    pub entrypoints: Vec<String>,
}

/// One planned run of a schedule.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct NextRun {
    /// RFC 9557 timestamp in the schedule's zone, e.g. `2026-01-05T09:00:00+01:00[Europe/Berlin]`.
    pub local: String,
    /// RFC 3339 in UTC.
    pub utc: String,
}

/// An API key as listed (the key itself is never shown again).
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct ApiKeyView {
    /// Numeric id as a string.
    pub id: String,
    /// The label given at creation.
    pub name: String,
    /// RFC 3339.
    pub created_time: String,
}

/// A new API key: the only time the key is returned.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct NewApiKey {
    /// Numeric id as a string.
    pub id: String,
    /// The label.
    pub name: String,
    /// The key, for `Authorization: Key <key>`.
    pub key: String,
}

/// A dropped path stored as a new bundle, not yet deployed: the caller deploys it as a
/// task and follows its log, exactly as for an upload.
#[derive(Debug, Clone, Serialize, PartialEq)]
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
pub struct Staged {
    /// The item (created, or found by name).
    pub content: ContentView,
    /// The new bundle's id.
    pub bundle_id: String,
    /// Whether the item was created for this bundle.
    pub created: bool,
}
