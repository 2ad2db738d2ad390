//! Static serving of bundle files: sanitise → resolve → contain → reply.
//!
//! The pipeline, per request:
//! 1. `path::sanitize` turns the URL tail into plain relative components (or refuses it);
//! 2. the folder index is chosen (`primary_html` at the root, else `index.html`);
//! 3. the file cache is consulted: bundles are immutable and bundle ids are never reused,
//!    so a cached `(bundle, path)` entry can never go stale;
//! 4. on a miss, the path is resolved on disk and canonicalised, and must still lie
//!    inside the bundle's canonical root (SECURITY: this catches symlinks planted inside
//!    a bundle that point out of it);
//! 5. the reply honours conditional requests (ETag, Last-Modified), single byte ranges and
//!    `Accept-Encoding` (brotli or gzip, computed once per cached file).
//!
//! Small files live in a bounded in-memory cache; large ones stream from disk.
//! Concurrency: the cache is a sharded concurrent map; nothing here holds a lock across
//! an await.

pub mod pages;
pub mod path;

use std::io::{SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

use axum::body::Body;
use axum::http::{header, HeaderMap, HeaderValue, Method, Response, StatusCode};
use bytes::Bytes;
use tokio::io::{AsyncReadExt, AsyncSeekExt};

pub use path::{sanitize, CleanPath, PathRefusal};

/// Files up to this size are kept in memory.
const MAX_CACHED_FILE: u64 = 8 * 1024 * 1024;
/// Total weight of the cache.
const CACHE_BYTES: u64 = 256 * 1024 * 1024;
/// Smallest body worth compressing.
const MIN_COMPRESS: usize = 256;

/// One file held in memory, with lazily computed compressed forms.
#[derive(Debug)]
pub struct CachedFile {
    body: Bytes,
    meta: FileMeta,
    gzip: OnceLock<Bytes>,
    brotli: OnceLock<Bytes>,
    /// The headers of a whole-file `200`, per encoding (identity, gzip, brotli), made on
    /// first use: the common answer copies them instead of building them each time.
    whole: [OnceLock<HeaderMap>; 3],
    /// Where `body` came from, for a large one: the listener may send it from the file.
    file: Option<crate::listener::FileBody>,
}

impl CachedFile {
    fn new(body: Bytes, meta: FileMeta, path: &Path) -> CachedFile {
        let file = (body.len() >= crate::listener::FileBody::MIN)
            .then(|| crate::listener::FileBody { path: Arc::from(path), len: body.len() as u64 });
        CachedFile { body, meta, gzip: OnceLock::new(), brotli: OnceLock::new(), whole: Default::default(), file }
    }
}

/// Validators and type of a file.
#[derive(Debug, Clone)]
struct FileMeta {
    len: u64,
    mime: HeaderValue,
    etag: String,
    /// `etag` and its compressed variants' tags, ready to send.
    etag_value: HeaderValue,
    etag_gzip: HeaderValue,
    etag_brotli: HeaderValue,
    last_modified: HeaderValue,
    modified: SystemTime,
    compressible: bool,
}

#[derive(Clone)]
struct Weigher;

impl quick_cache::Weighter<(i64, PathBuf), Arc<CachedFile>> for Weigher {
    fn weight(&self, _k: &(i64, PathBuf), v: &Arc<CachedFile>) -> u64 {
        v.body.len() as u64 + 256
    }
}

/// The shared file cache.
pub struct FileCache {
    cache: quick_cache::sync::Cache<(i64, PathBuf), Arc<CachedFile>, Weigher>,
}

impl std::fmt::Debug for FileCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FileCache").field("len", &self.cache.len()).finish()
    }
}

impl Default for FileCache {
    fn default() -> Self {
        FileCache { cache: quick_cache::sync::Cache::with_weighter(16_384, CACHE_BYTES, Weigher) }
    }
}

impl FileCache {
    /// Drops every cached file of a bundle (after the bundle is deleted).
    pub fn forget_bundle(&self, bundle_id: i64) {
        self.cache.retain(|k, _| k.0 != bundle_id);
    }
}

/// What to serve from one bundle.
#[derive(Debug)]
pub struct Target<'a> {
    /// The bundle id (cache key).
    pub bundle_id: i64,
    /// The extracted bundle folder.
    pub root: &'a Path,
    /// The sanitised request path.
    pub path: &'a CleanPath,
    /// The page for the bundle root (`primary_html`).
    pub index: Option<&'a str>,
}

/// The outcome of a lookup that is not a file.
#[derive(Debug, PartialEq, Eq)]
pub enum Miss {
    /// Nothing there (or hidden from view).
    NotFound,
    /// A folder asked for without its trailing slash.
    AddSlash,
}

/// The cache key of a request path: the folder index filled in.
fn cache_key(bundle_id: i64, path: &CleanPath, index: Option<&str>) -> (i64, PathBuf) {
    let mut rel = path.rel.clone();
    if rel.as_os_str().is_empty() {
        rel = PathBuf::from(index.unwrap_or("index.html"));
    } else if path.trailing_slash {
        rel.push("index.html");
    }
    (bundle_id, rel)
}

/// Serves one file of a bundle from memory if it is cached: the viewer path's fast lane,
/// asked before the bundle's folder is even named. `None`: ask [`serve`].
pub fn serve_cached(
    cache: &FileCache,
    bundle_id: i64,
    path: &CleanPath,
    index: Option<&str>,
    method: &Method,
    headers: &HeaderMap,
) -> Option<Response<Body>> {
    let hit = cache.cache.get(&cache_key(bundle_id, path, index))?;
    Some(reply_memory(&hit, method, headers))
}

/// Serves one file of a bundle, or says why not.
pub async fn serve(
    cache: &FileCache,
    target: Target<'_>,
    method: &Method,
    headers: &HeaderMap,
) -> Result<Response<Body>, Miss> {
    let key = cache_key(target.bundle_id, target.path, target.index);
    if let Some(hit) = cache.cache.get(&key) {
        return Ok(reply_memory(&hit, method, headers));
    }
    let file = resolve(target.root, &key.1).await?;
    if file.is_dir {
        // A folder: redirect to the slash form, or serve its index.
        if !target.path.trailing_slash {
            return Err(Miss::AddSlash);
        }
        return Err(Miss::NotFound);
    }
    let meta = file_meta(target.bundle_id, &file.path, &file.meta);
    if meta.len <= MAX_CACHED_FILE {
        let body = tokio::fs::read(&file.path).await.map_err(|_| Miss::NotFound)?;
        let entry = Arc::new(CachedFile::new(Bytes::from(body), meta, &file.path));
        cache.cache.insert(key, entry.clone());
        return Ok(reply_memory(&entry, method, headers));
    }
    Ok(reply_disk(&file.path, &meta, method, headers).await)
}

struct Found {
    path: PathBuf,
    meta: std::fs::Metadata,
    is_dir: bool,
}

/// Resolves `rel` under `root`, refusing anything whose real path leaves the root.
async fn resolve(root: &Path, rel: &Path) -> Result<Found, Miss> {
    let joined = root.join(rel);
    // SECURITY: canonicalise both sides so links (inside the bundle or on the way to
    // it) cannot lead outside.
    let real_root = tokio::fs::canonicalize(root).await.map_err(|_| Miss::NotFound)?;
    let real = tokio::fs::canonicalize(&joined).await.map_err(|_| Miss::NotFound)?;
    if !real.starts_with(&real_root) {
        tracing::warn!(path = %joined.display(), "refused a path that resolves outside its bundle");
        return Err(Miss::NotFound);
    }
    let meta = tokio::fs::metadata(&real).await.map_err(|_| Miss::NotFound)?;
    if !(meta.is_file() || meta.is_dir()) {
        return Err(Miss::NotFound);
    }
    Ok(Found { is_dir: meta.is_dir(), path: real, meta })
}

fn file_meta(bundle_id: i64, path: &Path, meta: &std::fs::Metadata) -> FileMeta {
    let modified = meta.modified().unwrap_or(SystemTime::UNIX_EPOCH);
    let secs = modified.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let mime = mime_guess::from_path(path).first_or_octet_stream();
    let compressible = is_compressible(&mime);
    let mut mime_s = mime.essence_str().to_string();
    // JavaScript has one type (RFC 9239), whichever extension (`.js`, `.mjs`) it has.
    if mime_s == "application/javascript" {
        mime_s = "text/javascript".into();
    }
    if mime.type_() == mime_guess::mime::TEXT || mime_s == "text/javascript" || mime_s == "application/json" {
        mime_s.push_str("; charset=utf-8");
    }
    let etag = format!("\"{bundle_id:x}-{:x}-{secs:x}\"", meta.len());
    // The tag is hex digits, dashes and quotes: always a valid header value.
    let value = |tag: &str| HeaderValue::from_str(tag).unwrap_or(HeaderValue::from_static("\"\""));
    FileMeta {
        len: meta.len(),
        mime: HeaderValue::from_str(&mime_s).unwrap_or(HeaderValue::from_static("application/octet-stream")),
        etag_value: value(&etag),
        etag_gzip: value(&variant_etag(&etag, "gzip")),
        etag_brotli: value(&variant_etag(&etag, "br")),
        etag,
        last_modified: HeaderValue::from_str(&httpdate::fmt_http_date(modified))
            .unwrap_or(HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT")),
        modified,
        compressible,
    }
}

fn is_compressible(m: &mime_guess::Mime) -> bool {
    m.type_() == mime_guess::mime::TEXT
        || matches!(
            m.essence_str(),
            "application/javascript"
                | "application/json"
                | "application/xml"
                | "image/svg+xml"
                | "application/wasm"
                | "application/manifest+json"
                | "application/x-ndjson"
        )
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Encoding {
    Identity = 0,
    Gzip = 1,
    Brotli = 2,
}

impl Encoding {
    fn token(self) -> Option<&'static str> {
        match self {
            Encoding::Identity => None,
            Encoding::Gzip => Some("gzip"),
            Encoding::Brotli => Some("br"),
        }
    }
}

/// Picks brotli, then gzip, from `Accept-Encoding` (a `q=0` refuses a coding).
fn negotiate(headers: &HeaderMap) -> Encoding {
    let Some(ae) = headers.get(header::ACCEPT_ENCODING).and_then(|v| v.to_str().ok()) else {
        return Encoding::Identity;
    };
    let mut br = false;
    let mut gz = false;
    for part in ae.split(',') {
        let mut it = part.split(';');
        let coding = it.next().unwrap_or("").trim().to_ascii_lowercase();
        let q = it.find_map(|p| p.trim().strip_prefix("q=").and_then(|q| q.trim().parse::<f32>().ok())).unwrap_or(1.0);
        if q <= 0.0 {
            continue;
        }
        match coding.as_str() {
            "br" => br = true,
            "gzip" | "x-gzip" => gz = true,
            "*" => {
                br = true;
                gz = true
            }
            _ => {}
        }
    }
    if br {
        Encoding::Brotli
    } else if gz {
        Encoding::Gzip
    } else {
        Encoding::Identity
    }
}

fn etag_matches(list: &str, etag: &str) -> bool {
    let bare = etag.trim_start_matches("W/");
    list.split(',').map(str::trim).any(|t| {
        let t = t.trim_start_matches("W/");
        t == "*" || t == bare || strip_variant(t) == bare
    })
}

/// `"abc-br"` → `"abc"`: validators of compressed variants match the file.
fn strip_variant(tag: &str) -> String {
    for suffix in ["-br\"", "-gzip\""] {
        if let Some(base) = tag.strip_suffix(suffix) {
            return format!("{base}\"");
        }
    }
    tag.to_string()
}

/// Whether a precondition of the request fails (→ 412): `If-Match` names no current tag
/// (strong comparison: a weak tag never matches), or, without it, the file changed after
/// `If-Unmodified-Since` (RFC 9110 §13.2.2). A client that updates only what it saw uses them.
fn precondition_failed(meta: &FileMeta, headers: &HeaderMap) -> bool {
    if let Some(im) = headers.get(header::IF_MATCH).and_then(|v| v.to_str().ok()) {
        let strong = im.split(',').map(str::trim).filter(|t| !t.starts_with("W/")).collect::<Vec<_>>().join(",");
        return strong.is_empty() || !etag_matches(&strong, &meta.etag);
    }
    changed_since(meta, headers, header::IF_UNMODIFIED_SINCE) == Some(true)
}

/// Whether the file changed after the date in `header`, in whole seconds as HTTP dates go;
/// `None` without a readable date.
fn changed_since(meta: &FileMeta, headers: &HeaderMap, header: header::HeaderName) -> Option<bool> {
    let since = httpdate::parse_http_date(headers.get(header)?.to_str().ok()?).ok()?;
    let secs = |t: SystemTime| t.duration_since(SystemTime::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    Some(secs(meta.modified) > secs(since))
}

fn precondition_failed_response() -> Response<Body> {
    finish(Response::builder().status(StatusCode::PRECONDITION_FAILED), Body::empty())
}

/// Whether the client's cached copy is current (→ 304).
fn not_modified(meta: &FileMeta, headers: &HeaderMap) -> bool {
    if let Some(inm) = headers.get(header::IF_NONE_MATCH).and_then(|v| v.to_str().ok()) {
        return etag_matches(inm, &meta.etag);
    }
    changed_since(meta, headers, header::IF_MODIFIED_SINCE) == Some(false)
}

/// A parsed `Range` header against a body of `len` bytes.
#[derive(Debug, PartialEq, Eq)]
enum RangeReq {
    None,
    Satisfiable(u64, u64),
    Unsatisfiable,
}

fn parse_range(headers: &HeaderMap, meta: &FileMeta) -> RangeReq {
    let Some(raw) = headers.get(header::RANGE).and_then(|v| v.to_str().ok()) else { return RangeReq::None };
    // If-Range: serve the range only while the validator still matches.
    if let Some(ir) = headers.get(header::IF_RANGE).and_then(|v| v.to_str().ok()) {
        let ok = if ir.trim_start().starts_with('"') || ir.trim_start().starts_with("W/") {
            ir.trim() == meta.etag
        } else {
            httpdate::parse_http_date(ir)
                .map(|d| d >= meta.modified - std::time::Duration::from_secs(1))
                .unwrap_or(false)
                && meta.last_modified.to_str().map(|lm| lm == ir.trim()).unwrap_or(false)
        };
        if !ok {
            return RangeReq::None;
        }
    }
    let Some(spec) = raw.trim().strip_prefix("bytes=") else { return RangeReq::None };
    if spec.contains(',') {
        return RangeReq::None; // Several ranges: answer with the whole body, as RFC 9110 allows.
    }
    let len = meta.len;
    let Some((a, b)) = spec.trim().split_once('-') else { return RangeReq::None };
    let (start, end) = match (a.trim(), b.trim()) {
        ("", "") => return RangeReq::None,
        ("", suffix) => match suffix.parse::<u64>() {
            Ok(0) => return RangeReq::Unsatisfiable,
            Ok(n) => (len.saturating_sub(n), len.saturating_sub(1)),
            Err(_) => return RangeReq::None,
        },
        (start, "") => match start.parse::<u64>() {
            Ok(s) => (s, len.saturating_sub(1)),
            Err(_) => return RangeReq::None,
        },
        (start, end) => match (start.parse::<u64>(), end.parse::<u64>()) {
            (Ok(s), Ok(e)) if s <= e => (s, e.min(len.saturating_sub(1))),
            (Ok(_), Ok(_)) => return RangeReq::Unsatisfiable,
            _ => return RangeReq::None,
        },
    };
    if len == 0 || start >= len {
        return RangeReq::Unsatisfiable;
    }
    RangeReq::Satisfiable(start, end)
}

/// Headers a file answer may carry at most: these, Content-Length, Content-Encoding or
/// Content-Range, and what the gateway adds on the way out (the device cookie, a secret
/// link's `Cache-Control`). The map is made this big at once: growing it past its first
/// size moves every entry, on every request.
const HEADER_ROOM: usize = 16;

fn base_headers(meta: &FileMeta, etag: &HeaderValue) -> axum::http::response::Builder {
    let mut b = Response::builder();
    if let Some(h) = b.headers_mut() {
        h.reserve(HEADER_ROOM);
    }
    let mut b = b
        .header(header::CONTENT_TYPE, meta.mime.clone())
        .header(header::LAST_MODIFIED, meta.last_modified.clone())
        .header(header::ACCEPT_RANGES, HeaderValue::from_static("bytes"))
        // Content can be redeployed under the same URL: revalidate, cheaply, every time.
        .header(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"))
        .header(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    b = b.header(header::ETAG, etag.clone());
    if meta.compressible {
        b = b.header(header::VARY, HeaderValue::from_static("accept-encoding"));
    }
    b
}

fn finish(b: axum::http::response::Builder, body: Body) -> Response<Body> {
    b.body(body).unwrap_or_else(|_| {
        let mut r = Response::new(Body::empty());
        *r.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        r
    })
}

fn method_not_allowed() -> Response<Body> {
    finish(Response::builder().status(StatusCode::METHOD_NOT_ALLOWED).header(header::ALLOW, "GET, HEAD"), Body::empty())
}

fn reply_memory(file: &CachedFile, method: &Method, headers: &HeaderMap) -> Response<Body> {
    let head = method == Method::HEAD;
    if !head && method != Method::GET {
        return method_not_allowed();
    }
    let meta = &file.meta;
    if precondition_failed(meta, headers) {
        return precondition_failed_response();
    }
    if not_modified(meta, headers) {
        return finish(base_headers(meta, &meta.etag_value).status(StatusCode::NOT_MODIFIED), Body::empty());
    }
    match parse_range(headers, meta) {
        RangeReq::Satisfiable(start, end) => {
            let part = file.body.slice(start as usize..=end as usize);
            let b = base_headers(meta, &meta.etag_value)
                .status(StatusCode::PARTIAL_CONTENT)
                .header(header::CONTENT_RANGE, format!("bytes {start}-{end}/{}", meta.len))
                .header(header::CONTENT_LENGTH, part.len());
            return finish(b, if head { Body::empty() } else { Body::from(part) });
        }
        RangeReq::Unsatisfiable => {
            let b = base_headers(meta, &meta.etag_value)
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{}", meta.len));
            return finish(b, Body::empty());
        }
        RangeReq::None => {}
    }
    let enc =
        if meta.compressible && file.body.len() >= MIN_COMPRESS { negotiate(headers) } else { Encoding::Identity };
    let (body, etag) = match enc {
        Encoding::Identity => (file.body.clone(), &meta.etag_value),
        Encoding::Gzip => (file.gzip.get_or_init(|| gzip(&file.body)).clone(), &meta.etag_gzip),
        Encoding::Brotli => (file.brotli.get_or_init(|| brotli(&file.body)).clone(), &meta.etag_brotli),
    };
    let whole = file.whole[enc as usize].get_or_init(|| {
        let mut b = base_headers(meta, etag)
            .header(header::CONTENT_LENGTH, body.len())
            .header(header::SERVER, HeaderValue::from_static("porch"));
        if let Some(t) = enc.token() {
            b = b.header(header::CONTENT_ENCODING, HeaderValue::from_static(t));
        }
        b.headers_ref().cloned().unwrap_or_default()
    });
    let mut resp = Response::new(if head { Body::empty() } else { Body::from(body) });
    *resp.headers_mut() = whole.clone();
    if let (Encoding::Identity, false, Some(f)) = (enc, head, &file.file) {
        resp.extensions_mut().insert(f.clone());
    }
    resp
}

fn variant_etag(etag: &str, suffix: &str) -> String {
    format!("{}-{suffix}\"", etag.trim_end_matches('"'))
}

async fn reply_disk(path: &Path, meta: &FileMeta, method: &Method, headers: &HeaderMap) -> Response<Body> {
    let head = method == Method::HEAD;
    if !head && method != Method::GET {
        return method_not_allowed();
    }
    if precondition_failed(meta, headers) {
        return precondition_failed_response();
    }
    if not_modified(meta, headers) {
        return finish(base_headers(meta, &meta.etag_value).status(StatusCode::NOT_MODIFIED), Body::empty());
    }
    let (status, start, len, b) = match parse_range(headers, meta) {
        RangeReq::Satisfiable(s, e) => (
            StatusCode::PARTIAL_CONTENT,
            s,
            e - s + 1,
            base_headers(meta, &meta.etag_value).header(header::CONTENT_RANGE, format!("bytes {s}-{e}/{}", meta.len)),
        ),
        RangeReq::Unsatisfiable => {
            let b = base_headers(meta, &meta.etag_value)
                .status(StatusCode::RANGE_NOT_SATISFIABLE)
                .header(header::CONTENT_RANGE, format!("bytes */{}", meta.len));
            return finish(b, Body::empty());
        }
        RangeReq::None => (StatusCode::OK, 0, meta.len, base_headers(meta, &meta.etag_value)),
    };
    let b = b.status(status).header(header::CONTENT_LENGTH, len);
    if head {
        return finish(b, Body::empty());
    }
    let Ok(mut f) = tokio::fs::File::open(path).await else {
        return finish(Response::builder().status(StatusCode::NOT_FOUND), Body::empty());
    };
    if start > 0 && f.seek(SeekFrom::Start(start)).await.is_err() {
        return finish(Response::builder().status(StatusCode::INTERNAL_SERVER_ERROR), Body::empty());
    }
    let stream = tokio_util::io::ReaderStream::with_capacity(f.take(len), 64 * 1024);
    finish(b, Body::from_stream(stream))
}

fn gzip(data: &[u8]) -> Bytes {
    let mut enc = flate2::write::GzEncoder::new(Vec::with_capacity(data.len() / 3), flate2::Compression::default());
    let _ = enc.write_all(data);
    Bytes::from(enc.finish().unwrap_or_default())
}

fn brotli(data: &[u8]) -> Bytes {
    let mut out = Vec::with_capacity(data.len() / 3);
    {
        let mut w = brotli::CompressorWriter::new(&mut out, 4096, 5, 22);
        let _ = w.write_all(data);
    }
    Bytes::from(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn javascript_is_text_javascript_whatever_its_extension() {
        let dir = tempfile::tempdir().expect("tmp");
        for name in ["app.js", "module.mjs"] {
            let path = dir.path().join(name);
            std::fs::write(&path, "export {}").expect("write");
            let m = file_meta(1, &path, &std::fs::metadata(&path).expect("meta"));
            assert_eq!(m.mime, "text/javascript; charset=utf-8", "{name}");
            assert!(m.compressible, "{name}");
        }
    }

    fn meta(len: u64) -> FileMeta {
        FileMeta {
            len,
            mime: HeaderValue::from_static("text/plain"),
            etag: "\"1-a-b\"".into(),
            etag_value: HeaderValue::from_static("\"1-a-b\""),
            etag_gzip: HeaderValue::from_static("\"1-a-b-gzip\""),
            etag_brotli: HeaderValue::from_static("\"1-a-b-br\""),
            last_modified: HeaderValue::from_static("Thu, 01 Jan 1970 00:00:00 GMT"),
            modified: SystemTime::UNIX_EPOCH,
            compressible: true,
        }
    }

    fn with(name: header::HeaderName, v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(v).expect("header"));
        h
    }

    #[test]
    fn ranges() {
        let m = meta(100);
        assert_eq!(parse_range(&with(header::RANGE, "bytes=0-9"), &m), RangeReq::Satisfiable(0, 9));
        assert_eq!(parse_range(&with(header::RANGE, "bytes=90-"), &m), RangeReq::Satisfiable(90, 99));
        assert_eq!(parse_range(&with(header::RANGE, "bytes=-10"), &m), RangeReq::Satisfiable(90, 99));
        assert_eq!(parse_range(&with(header::RANGE, "bytes=50-500"), &m), RangeReq::Satisfiable(50, 99));
        assert_eq!(parse_range(&with(header::RANGE, "bytes=100-"), &m), RangeReq::Unsatisfiable);
        assert_eq!(parse_range(&with(header::RANGE, "bytes=0-1,5-6"), &m), RangeReq::None);
        assert_eq!(parse_range(&with(header::RANGE, "lines=1-2"), &m), RangeReq::None);
    }

    #[test]
    fn negotiation() {
        assert_eq!(negotiate(&with(header::ACCEPT_ENCODING, "gzip, deflate, br")), Encoding::Brotli);
        assert_eq!(negotiate(&with(header::ACCEPT_ENCODING, "gzip")), Encoding::Gzip);
        assert_eq!(negotiate(&with(header::ACCEPT_ENCODING, "br;q=0, gzip")), Encoding::Gzip);
        assert_eq!(negotiate(&HeaderMap::new()), Encoding::Identity);
    }

    #[test]
    fn etags_match_variants() {
        assert!(etag_matches("\"1-a-b\"", "\"1-a-b\""));
        assert!(etag_matches("\"x\", \"1-a-b-br\"", "\"1-a-b\""));
        assert!(etag_matches("*", "\"1-a-b\""));
        assert!(!etag_matches("\"2-a-b\"", "\"1-a-b\""));
    }
}
