//! Thumbnails (one picture per item: uploaded or captured) and the gallery logo.
//!
//! SECURITY: every picture passes [`super::image::check`] before it is stored, so what is
//! served is a PNG, JPEG, GIF or WebP of the type its bytes say. Who may *see* a thumbnail is
//! the gateway's business (the same check as the item itself).

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use serde::{Deserialize, Serialize};

use super::image;
use super::Gallery;
use crate::error::{Error, Result};
use crate::events::Event;
use crate::routes::Route;
use crate::store::{NewThumbnail, ThumbnailMeta};
use crate::time::now;

/// The settings-table key of the gallery logo.
const LOGO_KEY: &str = "gallery_logo";

/// A stored picture ready to serve.
#[derive(Debug, Clone)]
pub struct Picture {
    /// Its checked type.
    pub mime: String,
    /// The image.
    pub bytes: Vec<u8>,
    /// Changes whenever the picture does (for ETags and cache-busting URLs).
    pub version: String,
}

impl Picture {
    /// The picture as a `data:` URL (the desktop window's pages load images from no server).
    pub fn data_url(&self) -> String {
        format!("data:{};base64,{}", self.mime, base64::engine::general_purpose::STANDARD.encode(&self.bytes))
    }

    /// The picture as an answer: its checked type, `nosniff`, `cache` as its
    /// `Cache-Control`, and an ETag of its version.
    pub fn into_response_with(self, cache: &'static str) -> Response {
        let etag = format!("\"{}\"", crate::keys::hash_key(&self.version).chars().take(16).collect::<String>());
        let mut resp = self.bytes.into_response();
        let h = resp.headers_mut();
        if let Ok(v) = HeaderValue::from_str(&self.mime) {
            h.insert(header::CONTENT_TYPE, v);
        }
        if let Ok(v) = HeaderValue::from_str(&etag) {
            h.insert(header::ETAG, v);
        }
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
        // SECURITY: the checked type is the only one a browser may use.
        h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
        resp
    }
}

/// The gallery logo as stored (in the settings table, base64).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Logo {
    mime: String,
    data: String,
    updated_time: String,
}

impl Gallery {
    /// An item's stored picture, if it has one.
    pub async fn thumbnail(&self, key: &str) -> Result<Option<Picture>> {
        let c = self.library.content(key).await?;
        Ok(self.shared.store.thumbnail(c.id).await?.map(|(meta, bytes)| Picture {
            mime: meta.mime,
            bytes,
            version: meta.updated_time,
        }))
    }

    /// Sets an item's picture from uploaded bytes (checked: type, size, dimensions).
    pub async fn set_thumbnail(&self, key: &str, bytes: &[u8]) -> Result<ThumbnailMeta> {
        let c = self.library.content(key).await?;
        let checked = image::check(bytes, "thumbnail")?;
        self.store_picture(c.id, &c.guid, bytes, checked, "upload", false).await
    }

    /// Sets an item's picture from a file on this computer (a picture dropped on the desktop
    /// window, which yields a path rather than bytes). Checked as an upload is; at most one
    /// byte beyond the limit is read, so a huge file is refused without being loaded.
    pub async fn set_thumbnail_from_file(&self, key: &str, path: &std::path::Path) -> Result<ThumbnailMeta> {
        use tokio::io::AsyncReadExt as _;
        let file = tokio::fs::File::open(path)
            .await
            .map_err(|e| Error::Invalid(format!("cannot read the picture {}: {e}", path.display())))?;
        let mut bytes = Vec::new();
        file.take(image::MAX_BYTES as u64 + 1)
            .read_to_end(&mut bytes)
            .await
            .map_err(|e| Error::Invalid(format!("cannot read the picture {}: {e}", path.display())))?;
        self.set_thumbnail(key, &bytes).await
    }

    /// Stores a checked picture for an item and tells everyone.
    pub(super) async fn store_picture(
        &self,
        content_id: i64,
        guid: &str,
        bytes: &[u8],
        checked: image::Checked,
        source: &str,
        keep_upload: bool,
    ) -> Result<ThumbnailMeta> {
        let new = NewThumbnail {
            mime: checked.mime,
            width: checked.width as i64,
            height: checked.height as i64,
            source,
            image: bytes,
        };
        if self.shared.store.put_thumbnail(content_id, &new, &now(), keep_upload).await? {
            self.shared.emit_picture(guid);
        }
        let (meta, _) =
            self.shared.store.thumbnail(content_id).await?.ok_or_else(|| Error::not_found("thumbnail", guid))?;
        Ok(meta)
    }

    /// Whether an item's stored picture was uploaded by the publisher (captures never
    /// replace those).
    pub(super) async fn has_uploaded_picture(&self, content_id: i64) -> Result<bool> {
        Ok(self.shared.store.thumbnails().await?.iter().any(|t| t.content_id == content_id && t.source == "upload"))
    }

    /// Removes an item's picture; an item without one is a 404.
    pub async fn delete_thumbnail(&self, key: &str) -> Result<()> {
        let c = self.library.content(key).await?;
        if !self.shared.store.delete_thumbnail(c.id).await? {
            return Err(Error::not_found("thumbnail of content", &c.guid));
        }
        self.shared.emit_picture(&c.guid);
        Ok(())
    }

    /// The generated card of an item (an SVG of Porch's own making).
    pub fn card(&self, route: &Route) -> String {
        let kind = crate::static_site::pages::kind_label(&route.app_mode, &route.content_category);
        image::card_svg(&route.guid, &route.title, kind, image::kind_glyph(&route.app_mode, &route.content_category))
    }

    /// The gallery logo, if one was set.
    pub async fn logo(&self) -> Result<Option<Picture>> {
        let Some(text) = self.shared.store.setting(LOGO_KEY).await? else { return Ok(None) };
        let Ok(logo) = serde_json::from_str::<Logo>(&text) else { return Ok(None) };
        let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(logo.data.as_bytes()) else { return Ok(None) };
        Ok(Some(Picture { mime: logo.mime, bytes, version: logo.updated_time }))
    }

    /// The logo's version (its update time), without decoding it.
    pub(super) async fn logo_version(&self) -> Result<Option<String>> {
        let Some(text) = self.shared.store.setting(LOGO_KEY).await? else { return Ok(None) };
        Ok(serde_json::from_str::<Logo>(&text).ok().map(|l| l.updated_time))
    }

    /// Sets the gallery logo (checked like a thumbnail).
    pub async fn set_logo(&self, bytes: &[u8]) -> Result<()> {
        let checked = image::check(bytes, "logo")?;
        let logo = Logo {
            mime: checked.mime.to_string(),
            data: base64::engine::general_purpose::STANDARD.encode(bytes),
            updated_time: now(),
        };
        let text = serde_json::to_string(&logo).map_err(|e| Error::Invalid(e.to_string()))?;
        self.shared.store.set_setting(LOGO_KEY, &text).await?;
        self.shared.emit(Event::LibraryChanged);
        Ok(())
    }

    /// Removes the gallery logo; none set is a 404.
    pub async fn delete_logo(&self) -> Result<()> {
        if self.shared.store.setting(LOGO_KEY).await?.is_none_or(|t| t.is_empty()) {
            return Err(Error::not_found("gallery logo", "logo"));
        }
        self.shared.store.set_setting(LOGO_KEY, "").await?;
        self.shared.emit(Event::LibraryChanged);
        Ok(())
    }
}
