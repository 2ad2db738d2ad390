//! Check access: the item's viewer access applied to one request ([`gate`]), secret-link
//! tokens and their cookies, and `Cache-Control: private` on answers about private items.
//!
//! SECURITY: every path of an item (pages, assets, WebSocket upgrades, `_rev{N}`,
//! `_bundle{N}`, `_variant{N}`, `_render{N}`, anything below it, under `/content/{guid|id}/`
//! or its vanity path) passes [`gate`] before anything is dispatched:
//! - `network`: anyone;
//! - `local`: this computer only (a loopback peer **and** a `Host` naming this machine);
//! - `link`: a client holding the secret token, presented once as `?porch_token=T` (which
//!   sets an HttpOnly cookie scoped to the item's paths and redirects to the clean URL)
//!   and then as that cookie; tokens are compared by hash in constant time.
//!
//! The publisher's key opens any item from where the publisher may act (pins reads private
//! pins that way). A refused viewer gets exactly the 404 a missing item gets ([`Gate::Hidden`]),
//! so existence does not leak.
//!
//! Concurrency: pure functions of the request and the route snapshot, apart from the key
//! check (see [`super::identity`]).

use std::net::SocketAddr;

use axum::http::{header, HeaderMap, HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Redirect, Response};

use super::identity::{host_is_this_machine, is_loopback, is_publisher, origin_is_this_machine};
use crate::engine::Engine;
use crate::keys;
use crate::routes::Route;
use crate::vocab::ViewerAccess;

/// The query parameter that carries a secret-link token.
pub const TOKEN_PARAM: &str = "porch_token";
/// How long a secret-link cookie lasts (revoking or regenerating the link ends it sooner).
const LINK_COOKIE_MAX_AGE: u64 = 30 * 24 * 3600;

/// The cookie a secret link sets for an item.
pub fn link_cookie_name(guid: &str) -> String {
    let short: String = guid.chars().filter(|c| *c != '-').take(12).collect();
    format!("porch_link_{short}")
}

/// The parts of a request that access depends on (all `Sync`, so a check can await).
#[derive(Debug, Clone, Copy)]
pub(super) struct Asker<'a> {
    pub(super) method: &'a Method,
    pub(super) uri: &'a Uri,
    pub(super) headers: &'a HeaderMap,
    pub(super) peer: Option<SocketAddr>,
}

impl<'a> Asker<'a> {
    /// The parts of `req`.
    pub(super) fn of<B>(req: &'a axum::http::Request<B>) -> Asker<'a> {
        Asker { method: req.method(), uri: req.uri(), headers: req.headers(), peer: super::identity::peer_of(req) }
    }

    /// Whether the request comes from this computer (see the module documentation).
    pub(super) fn is_this_computer(&self, engine: &Engine) -> bool {
        self.peer.is_some_and(|p| is_loopback(p.ip()))
            && host_is_this_machine(engine, self.headers)
            && origin_is_this_machine(engine, self.headers)
            // Porch's own picture taker sees what a viewer elsewhere sees (`gallery/capture.rs`).
            && !crate::observe::is_capture(self.headers)
            && !framed_from_elsewhere(self.headers)
    }
}

/// Whether the browser loads this into a frame of another site's page (`Sec-Fetch-Site`,
/// `Sec-Fetch-Dest`): such a page must not show a local item (it could steer clicks in it).
/// A navigation from another site's link is still this computer's.
fn framed_from_elsewhere(headers: &HeaderMap) -> bool {
    let get = |name: &str| headers.get(name).and_then(|v| v.to_str().ok()).unwrap_or("");
    matches!(get("sec-fetch-site"), "cross-site" | "same-site")
        && matches!(get("sec-fetch-dest"), "iframe" | "frame" | "embed" | "object" | "fencedframe")
}

/// What a viewer may do with an item.
pub(super) enum Gate {
    /// Serve the request.
    Open,
    /// A valid secret-link token in the URL: set its cookie and go to the clean URL.
    Redirect(Response),
    /// Answer exactly as if the item did not exist.
    Hidden,
}

/// Applies the item's viewer access to a request (see the module documentation); `base` is
/// the path the request reached the item under.
pub(super) async fn gate(engine: &Engine, route: &Route, base: &str, ask: Asker<'_>) -> Gate {
    if let Some(decided) = gate_at_once(engine, route, base, ask) {
        return decided;
    }
    // The publisher's key opens any item, from wherever the publisher may act.
    if is_publisher(engine, ask.headers, ask.peer).await {
        return Gate::Open;
    }
    Gate::Hidden
}

/// The part of [`gate`] that needs no look-up of keys: `Some` when the item's access, the
/// asker's place or a secret link decides at once; `None` when only the publisher's key
/// could still open the item. The fast lane (`super::fast`) serves only what this opens.
pub(super) fn gate_at_once(engine: &Engine, route: &Route, base: &str, ask: Asker<'_>) -> Option<Gate> {
    match route.access {
        // SECURITY: the only open door without a credential.
        ViewerAccess::Network => return Some(Gate::Open),
        ViewerAccess::Local if ask.is_this_computer(engine) => return Some(Gate::Open),
        ViewerAccess::Local => {}
        // An access word this Porch does not know is read as the most private one.
        ViewerAccess::Link | ViewerAccess::Other(_) => {
            if let Some(hash) = route.link_token_hash.as_deref() {
                if let Some(token) = query_token(ask.uri) {
                    // SECURITY: compared by SHA-256 in constant time; a plain GET trades the
                    // token for a cookie and a clean URL, so the token leaves the address bar.
                    if keys::matches_any(&token, [hash]) {
                        let plain = matches!(*ask.method, Method::GET | Method::HEAD)
                            && !ask.headers.contains_key(header::UPGRADE);
                        return Some(if plain {
                            Gate::Redirect(link_redirect(route, base, ask.uri, &token))
                        } else {
                            Gate::Open
                        });
                    }
                }
                // A stale token in the URL does not undo a valid cookie.
                if cookie_values(ask.headers, &link_cookie_name(&route.guid)).any(|t| keys::matches_any(t, [hash])) {
                    return Some(Gate::Open);
                }
            }
        }
    }
    None
}

/// Marks answers about local and link items `Cache-Control: private`, so no shared cache
/// hands them to someone else (an app's own directives stay, `public` becomes `private`).
pub(super) fn keep_private(route: &Route, mut resp: Response) -> Response {
    if route.access == ViewerAccess::Network {
        return resp;
    }
    let current = resp.headers().get(header::CACHE_CONTROL).and_then(|v| v.to_str().ok()).map(str::to_ascii_lowercase);
    let value = match current {
        None => "private".to_string(),
        Some(c) if c.contains("private") || c.contains("no-store") => c,
        Some(c) if c.contains("public") => c.replace("public", "private"),
        Some(c) => format!("private, {c}"),
    };
    if let Ok(v) = HeaderValue::from_str(&value) {
        resp.headers_mut().insert(header::CACHE_CONTROL, v);
    }
    resp
}

/// The `porch_token` query parameter, if any.
fn query_token(uri: &Uri) -> Option<String> {
    uri.query()?.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (k == TOKEN_PARAM).then(|| percent_encoding::percent_decode_str(v).decode_utf8_lossy().into_owned())
    })
}

/// A query string without `porch_token`, with its `?` (or empty); untouched when it has none.
///
/// SECURITY: what an app is given (the proxy forwards this) and where a link redirects to,
/// so the token never reaches an app nor stays in the address bar.
pub(super) fn query_without_token(query: Option<&str>) -> String {
    let Some(q) = query else { return String::new() };
    if !q.split('&').any(|kv| kv.split_once('=').map_or(kv, |(k, _)| k) == TOKEN_PARAM) {
        return format!("?{q}");
    }
    let kept: Vec<&str> =
        q.split('&').filter(|kv| !kv.is_empty() && kv.split_once('=').map_or(*kv, |(k, _)| k) != TOKEN_PARAM).collect();
    if kept.is_empty() {
        String::new()
    } else {
        format!("?{}", kept.join("&"))
    }
}

/// Every value of cookie `name` in the request.
fn cookie_values<'a>(headers: &'a HeaderMap, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .filter(move |(k, _)| *k == name)
        .map(|(_, v)| v.trim_matches('"'))
}

/// 303 to the URL without the token, setting the link cookie on every path of the item.
fn link_redirect(route: &Route, base: &str, uri: &Uri, token: &str) -> Response {
    let to = format!("{}{}", uri.path(), query_without_token(uri.query()));
    let mut resp = Redirect::to(&to).into_response();
    let mut bases = route.bases();
    if !bases.iter().any(|b| b == base) {
        bases.push(base.to_string());
    }
    let name = link_cookie_name(&route.guid);
    for b in bases {
        // Without the trailing slash, the cookie also reaches `/q3` (which redirects to `/q3/`),
        // and by the path-match rule still nothing but the item's own paths.
        let path = b.trim_end_matches('/');
        // SECURITY: HttpOnly (no script reads it), scoped to the item's own paths.
        let c = format!("{name}={token}; Path={path}; Max-Age={LINK_COOKIE_MAX_AGE}; HttpOnly; SameSite=Lax");
        if let Ok(v) = HeaderValue::from_str(&c) {
            resp.headers_mut().append(header::SET_COOKIE, v);
        }
    }
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("no-referrer"));
    resp
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_token_leaves_the_query_and_nothing_else_changes() {
        assert_eq!(query_without_token(None), "");
        assert_eq!(query_without_token(Some("a=1&&b")), "?a=1&&b");
        assert_eq!(query_without_token(Some("porch_token=t")), "");
        assert_eq!(query_without_token(Some("x=1&porch_token=t&y=2")), "?x=1&y=2");
        assert_eq!(query_token(&"/c/?x=1&porch_token=a%62c".parse().expect("uri")), Some("abc".into()));
    }
}
