//! Connect's contract with a content process: its environment variables and the base-URL
//! request header the proxy adds.
//!
//! Owns only the names and shapes (see `research/connect-api.md` §(d)); the caller supplies
//! the values (server address, guid, key, publisher variables). Pure; no I/O.

/// The header the proxy sets (overwriting any client value) on every request to an app:
/// the absolute external URL of the content root, with a trailing slash. R Shiny, Plumber
/// and user code read it to build links; no Python framework does.
pub const APP_BASE_URL_HEADER: &str = "RStudio-Connect-App-Base-URL";

/// The value of [`APP_BASE_URL_HEADER`]: `<scheme>://<host><base_path>/`.
pub fn app_base_url(scheme: &str, external_host: &str, base_path: &str) -> String {
    format!("{scheme}://{external_host}{}/", base_path.trim_end_matches('/'))
}

/// Connect's variables for a content process, after the publisher's.
///
/// - `CONNECT_SERVER` always ends with `/` (content code appends `__api__/…`);
/// - `CONNECT_CONTENT_GUID`, and `CONNECT_API_KEY` when a key is given;
/// - `POSIT_PRODUCT` and `RSTUDIO_PRODUCT` are `CONNECT` (posit-sdk's `is_local()` checks these);
/// - `R_CONFIG_ACTIVE` is `rsconnect`, as on Connect, unless the publisher set it.
///
/// SECURITY: Porch's own variables come after the publisher's and win, so a publisher
/// cannot make content believe it is another item or talk to another server.
pub fn connect_env(
    server_url: &str,
    content_guid: &str,
    api_key: Option<&str>,
    publisher: &[(String, String)],
) -> Vec<(String, String)> {
    let mut env: Vec<(String, String)> = Vec::with_capacity(publisher.len() + 6);
    if !publisher.iter().any(|(k, _)| k == "R_CONFIG_ACTIVE") {
        env.push(("R_CONFIG_ACTIVE".into(), "rsconnect".into()));
    }
    for (k, v) in publisher {
        super::set_var(&mut env, k, v.clone());
    }
    let server = if server_url.ends_with('/') { server_url.to_string() } else { format!("{server_url}/") };
    super::set_var(&mut env, "CONNECT_SERVER", server);
    super::set_var(&mut env, "CONNECT_CONTENT_GUID", content_guid);
    if let Some(key) = api_key {
        super::set_var(&mut env, "CONNECT_API_KEY", key);
    }
    super::set_var(&mut env, "POSIT_PRODUCT", "CONNECT");
    super::set_var(&mut env, "RSTUDIO_PRODUCT", "CONNECT");
    env
}
