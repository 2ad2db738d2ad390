//! `/__api__/v1/content/{guid}/bundles`: upload, list, read, delete, download.
//!
//! Uploads stream to a scratch file (chunked or sized, any or no Content-Type), or come
//! as `multipart/form-data` with an `archive` part and an optional `metadata` part. The
//! size limit is enforced while streaming, before anything is extracted.

use axum::body::{Body, Bytes};
use axum::extract::{Path, Query, Request, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use futures_util::{Stream, StreamExt};
use tokio::io::AsyncWriteExt;

use super::auth::Publisher;
use super::error::ApiError;
use crate::bundle::BundleError;
use crate::engine::Engine;
use crate::error::Error;
use crate::runtimes::Overrides;
use crate::view::BundleView;

fn parse_id(id: &str) -> Result<i64, ApiError> {
    id.parse().map_err(|_| Error::not_found("bundle", id).into())
}

/// Writes a byte stream to `file`, refusing more than `limit` bytes.
pub(super) async fn spool<S, E>(mut stream: S, file: &std::path::Path, limit: u64) -> Result<(), ApiError>
where
    S: Stream<Item = Result<Bytes, E>> + Unpin,
    E: std::fmt::Display,
{
    let mut out = tokio::fs::File::create(file).await.map_err(Error::io("creating an upload file", file))?;
    let mut total: u64 = 0;
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.map_err(|e| Error::Invalid(format!("the upload was interrupted: {e}")))?;
        total += chunk.len() as u64;
        if total > limit {
            // Read (and drop) the rest, so the client sees the 413 rather than a broken pipe.
            while let Some(Ok(_)) = stream.next().await {}
            return Err(BundleError::TooLarge { limit, entry: "<upload>".into() }.into());
        }
        out.write_all(&chunk).await.map_err(Error::io("writing an upload file", file))?;
    }
    out.flush().await.map_err(Error::io("writing an upload file", file))?;
    Ok(())
}

/// `POST /v1/content/{guid}/bundles[?appmode=MODE][&entrypoint=FILE]`.
///
/// The query parameters are Porch's (Connect clients never send them): the bundle is
/// stored to run as that appmode and/or entry point, written into its manifest.
pub(super) async fn upload(
    _: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
    Query(overrides): Query<Overrides>,
    req: Request,
) -> Result<Json<BundleView>, ApiError> {
    // Fail fast on an unknown item or appmode, before reading the body.
    overrides.check().map_err(Error::from)?;
    let c = engine.library().content(&guid).await?;
    let limit = engine.library().bundle_limits(&c).max_bundle_bytes;
    let tmp = tempfile::Builder::new()
        .prefix("upload-")
        .tempfile_in(engine.config().tmp_dir())
        .map_err(Error::io("creating an upload file", engine.config().tmp_dir()))?;
    let content_type = req.headers().get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).unwrap_or("").to_string();
    let mut metadata = None;
    if content_type.to_ascii_lowercase().starts_with("multipart/form-data") {
        let boundary =
            multer::parse_boundary(&content_type).map_err(|e| Error::Invalid(format!("bad multipart upload: {e}")))?;
        let mut form = multer::Multipart::new(req.into_body().into_data_stream(), boundary);
        let mut got_archive = false;
        while let Some(field) =
            form.next_field().await.map_err(|e| Error::Invalid(format!("bad multipart upload: {e}")))?
        {
            match field.name() {
                Some("archive") | Some("bundle") | Some("file") if !got_archive => {
                    spool(field, tmp.path(), limit).await?;
                    got_archive = true;
                }
                Some("metadata") => {
                    let text = field.text().await.map_err(|e| Error::Invalid(format!("bad multipart upload: {e}")))?;
                    if serde_json::from_str::<serde_json::Value>(&text).is_err() {
                        return Err(Error::Invalid("the metadata part is not JSON".into()).into());
                    }
                    metadata = Some(text);
                }
                _ => {}
            }
        }
        if !got_archive {
            return Err(Error::Invalid("multipart upload has no \"archive\" part".into()).into());
        }
    } else {
        spool(req.into_body().into_data_stream(), tmp.path(), limit).await?;
    }
    let b = engine.library().upload_bundle_as(&guid, tmp.path(), metadata, &overrides).await?;
    let c = engine.library().content(&guid).await?;
    Ok(Json(engine.library().bundle_view(&c, &b)))
}

/// `GET /v1/content/{guid}/bundles`.
pub(super) async fn list(
    _: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
) -> Result<Json<Vec<BundleView>>, ApiError> {
    let (c, bundles) = engine.library().bundles(&guid).await?;
    Ok(Json(bundles.iter().map(|b| engine.library().bundle_view(&c, b)).collect()))
}

/// `GET /v1/content/{guid}/bundles/{id}`.
pub(super) async fn get_one(
    _: Publisher,
    State(engine): State<Engine>,
    Path((guid, id)): Path<(String, String)>,
) -> Result<Json<BundleView>, ApiError> {
    let (c, b) = engine.library().bundle(&guid, parse_id(&id)?).await?;
    Ok(Json(engine.library().bundle_view(&c, &b)))
}

/// `DELETE /v1/content/{guid}/bundles/{id}`: 204; the active bundle is refused (code 75).
pub(super) async fn remove(
    _: Publisher,
    State(engine): State<Engine>,
    Path((guid, id)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    engine.library().delete_bundle(&guid, parse_id(&id)?).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /v1/content/{guid}/bundles/{id}/download`: the archive as uploaded.
pub(super) async fn download(
    _: Publisher,
    State(engine): State<Engine>,
    Path((guid, id)): Path<(String, String)>,
) -> Result<Response, ApiError> {
    let bundle_id = parse_id(&id)?;
    let path = engine.library().bundle_download(&guid, bundle_id).await?;
    let file = tokio::fs::File::open(&path).await.map_err(Error::io("opening a bundle archive", &path))?;
    let len = file.metadata().await.map(|m| m.len()).unwrap_or(0);
    let is_zip = {
        use tokio::io::AsyncReadExt;
        let mut head = [0u8; 2];
        let mut f = tokio::fs::File::open(&path).await.map_err(Error::io("opening a bundle archive", &path))?;
        f.read_exact(&mut head).await.is_ok() && &head == b"PK"
    };
    let (ctype, ext) = if is_zip { ("application/zip", "zip") } else { ("application/gzip", "tar.gz") };
    let body = Body::from_stream(tokio_util::io::ReaderStream::new(file));
    Ok((
        [
            (header::CONTENT_TYPE, ctype.to_string()),
            (header::CONTENT_LENGTH, len.to_string()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"bundle-{bundle_id}.{ext}\"")),
        ],
        body,
    )
        .into_response())
}

/// `GET /v1/content/{guid}/lockfile`: the resolved packages of the active bundle's Python
/// environment, as a `requirements.txt`-style text; `Generated-By` names Porch and the
/// Python version (`python=3.11.7`, which posit-sdk parses).
pub(super) async fn lockfile(
    _: Publisher,
    State(engine): State<Engine>,
    Path(guid): Path<String>,
) -> Result<Response, ApiError> {
    let (bundle_id, python, packages) = engine.apps().lockfile(&guid).await?;
    let mut text = format!("# Packages installed for bundle {bundle_id} of content {guid}\n");
    for p in packages {
        text.push_str(&p);
        text.push('\n');
    }
    Ok((
        [
            (header::CONTENT_TYPE, "text/plain; charset=utf-8".to_string()),
            (
                header::HeaderName::from_static("generated-by"),
                format!("porch/{} python={python}", env!("CARGO_PKG_VERSION")),
            ),
        ],
        text,
    )
        .into_response())
}
