//! Saved promotion targets: Connect servers by name, with their API keys, and which target
//! item each Porch item was promoted to.
//!
//! Owns: `<data>/targets.json` (mode 0600, written atomically through
//! [`crate::data_dir::write_private`]) and URL normalisation. Does not own: talking to a
//! target (`connect.rs`) or the promotion itself (`mod.rs`).
//!
//! SECURITY: the file holds API keys. It is readable by its owner only, keys never appear in
//! a [`TargetView`], in a log line or in an error, and [`Target`]'s `Debug` hides the key.
//!
//! Concurrency: one async mutex serialises every read-modify-write of the file; the file
//! is small and each operation reads it whole.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};
use tokio::sync::Mutex;

use crate::error::{Error, Result};

/// The file's name in the data folder.
pub const TARGETS_FILE: &str = "targets.json";

/// A saved target as the API shows it: never its key.
#[cfg_attr(feature = "ts", derive(ts_rs::TS), ts(export))]
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct TargetView {
    /// The name the publisher gave it.
    pub name: String,
    /// Its normalised URL (no trailing `/`, no `/__api__`).
    pub url: String,
    /// The PEM file of the CA that signs its certificate, if one was given.
    pub ca_file: Option<String>,
}

/// A target with its key: what a promotion talks to.
#[derive(Clone, Serialize, Deserialize)]
pub struct Target {
    /// Name (for a URL given directly, the URL).
    pub name: String,
    /// Normalised URL.
    pub url: String,
    /// The API key. SECURITY: sent only to `url`'s origin.
    pub api_key: String,
    /// A CA bundle (PEM) trusted for this target besides the system's roots.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ca_file: Option<PathBuf>,
}

impl std::fmt::Debug for Target {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // SECURITY: never print the key.
        f.debug_struct("Target").field("name", &self.name).field("url", &self.url).finish_non_exhaustive()
    }
}

impl Target {
    /// The view without the key.
    pub fn view(&self) -> TargetView {
        TargetView {
            name: self.name.clone(),
            url: self.url.clone(),
            ca_file: self.ca_file.as_ref().map(|p| p.display().to_string()),
        }
    }
}

#[derive(Debug, Default, Serialize, Deserialize)]
struct File {
    #[serde(default)]
    targets: Vec<Target>,
    /// Target URL → (Porch item guid → target item guid): the items Porch created or
    /// adopted there, so a later promotion adds a bundle to the same item.
    #[serde(default)]
    promoted: BTreeMap<String, BTreeMap<String, String>>,
}

/// The saved targets of one data folder.
#[derive(Debug)]
pub struct Targets {
    path: PathBuf,
    lock: Mutex<()>,
}

/// Checks a target's name: letters, digits, `-`, `_` and `.`, at most 64.
pub fn validate_name(name: &str) -> Result<()> {
    let ok = !name.is_empty()
        && name.len() <= 64
        && name.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && !name.starts_with(['-', '.']);
    if ok {
        Ok(())
    } else {
        Err(Error::Invalid(format!(
            "invalid target name {name:?}: use letters, digits, '-', '_' and '.' (at most 64, not starting with '-' or '.')"
        )))
    }
}

/// Whether `s` looks like a URL rather than a target's name.
pub fn looks_like_url(s: &str) -> bool {
    s.contains("://")
}

/// Normalises a Connect server's URL: `http` or `https` with a host, no credentials, query
/// or fragment; a trailing `/` and a trailing `/__api__` are dropped. IPv6 literals are
/// kept in brackets. The result has no trailing slash.
pub fn normalize_url(raw: &str) -> Result<String> {
    let bad = |why: &str| Error::Invalid(format!("invalid server URL {raw:?}: {why}"));
    let url = reqwest::Url::parse(raw.trim()).map_err(|e| bad(&e.to_string()))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(bad("use http:// or https://"));
    }
    if url.host_str().is_none_or(str::is_empty) {
        return Err(bad("it has no host"));
    }
    if !url.username().is_empty() || url.password().is_some() {
        // SECURITY: credentials in a URL end up in logs and listings.
        return Err(bad("leave the user name and password out (the API key is given separately)"));
    }
    if url.query().is_some() || url.fragment().is_some() {
        return Err(bad("it must not have a query or a fragment"));
    }
    let mut path = url.path().trim_end_matches('/').to_string();
    if let Some(rest) = path.strip_suffix("/__api__") {
        path = rest.trim_end_matches('/').to_string();
    }
    let origin = url.origin().ascii_serialization();
    Ok(format!("{origin}{path}"))
}

impl Targets {
    /// The targets file of `data_dir`.
    pub fn new(data_dir: &Path) -> Targets {
        Targets { path: data_dir.join(TARGETS_FILE), lock: Mutex::new(()) }
    }

    fn read(&self) -> Result<File> {
        match std::fs::read(&self.path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map_err(|e| Error::Invalid(format!("{} is not valid: {e}", self.path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(File::default()),
            Err(e) => Err(Error::io("reading the targets file", &self.path)(e)),
        }
    }

    fn write(&self, file: &File) -> Result<()> {
        let bytes = serde_json::to_vec_pretty(file).map_err(|e| Error::Invalid(e.to_string()))?;
        crate::data_dir::write_private(&self.path, &bytes)
    }

    /// Every saved target, by name.
    pub async fn list(&self) -> Result<Vec<TargetView>> {
        let _g = self.lock.lock().await;
        let mut v: Vec<TargetView> = self.read()?.targets.iter().map(Target::view).collect();
        v.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(v)
    }

    /// Saves (or replaces) a target. The URL is normalised; an empty key is refused.
    pub async fn add(&self, name: &str, url: &str, api_key: &str, ca_file: Option<PathBuf>) -> Result<TargetView> {
        validate_name(name)?;
        let url = normalize_url(url)?;
        let api_key = api_key.trim();
        if api_key.is_empty() {
            return Err(Error::Invalid("the target's API key is empty".into()));
        }
        if let Some(ca) = &ca_file {
            check_ca_file(ca)?;
        }
        let target = Target { name: name.to_string(), url, api_key: api_key.to_string(), ca_file };
        let _g = self.lock.lock().await;
        let mut file = self.read()?;
        file.targets.retain(|t| t.name != name);
        file.targets.push(target.clone());
        self.write(&file)?;
        Ok(target.view())
    }

    /// Forgets a target (what was promoted to its URL stays remembered for a re-add).
    pub async fn remove(&self, name: &str) -> Result<()> {
        let _g = self.lock.lock().await;
        let mut file = self.read()?;
        let before = file.targets.len();
        file.targets.retain(|t| t.name != name);
        if file.targets.len() == before {
            return Err(Error::not_found("target", name));
        }
        self.write(&file)
    }

    /// A saved target with its key.
    pub async fn get(&self, name: &str) -> Result<Target> {
        let _g = self.lock.lock().await;
        self.read()?.targets.into_iter().find(|t| t.name == name).ok_or_else(|| Error::not_found("target", name))
    }

    /// The target item `source` was promoted to on the server at `url`, if remembered.
    pub async fn promoted(&self, url: &str, source: &str) -> Result<Option<String>> {
        let _g = self.lock.lock().await;
        Ok(self.read()?.promoted.get(url).and_then(|m| m.get(source)).cloned())
    }

    /// Remembers (`Some`) or forgets (`None`) the target item of `source` at `url`.
    pub async fn remember(&self, url: &str, source: &str, target: Option<&str>) -> Result<()> {
        let _g = self.lock.lock().await;
        let mut file = self.read()?;
        match target {
            Some(t) => {
                file.promoted.entry(url.to_string()).or_default().insert(source.to_string(), t.to_string());
            }
            None => {
                if let Some(m) = file.promoted.get_mut(url) {
                    m.remove(source);
                }
            }
        }
        self.write(&file)
    }
}

/// Checks that a CA file exists and holds at least one PEM certificate.
pub fn check_ca_file(path: &Path) -> Result<()> {
    let bytes = std::fs::read(path).map_err(Error::io("reading the CA file", path))?;
    reqwest::Certificate::from_pem_bundle(&bytes)
        .ok()
        .filter(|c| !c.is_empty())
        .map(drop)
        .ok_or_else(|| Error::Invalid(format!("{} holds no PEM certificate", path.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_normalised() {
        let n = |s: &str| normalize_url(s).expect(s);
        assert_eq!(n("https://connect.example.com/"), "https://connect.example.com");
        assert_eq!(n("https://connect.example.com/__api__"), "https://connect.example.com");
        assert_eq!(n("https://connect.example.com/__api__/"), "https://connect.example.com");
        assert_eq!(n("https://Example.COM:443/rsc/"), "https://example.com/rsc");
        assert_eq!(n("http://[::1]:3939/"), "http://[::1]:3939");
        assert_eq!(n("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
        for bad in ["ftp://x", "https://u:p@x/", "https://x/?a=1", "x", "https://x/#f", ""] {
            assert!(normalize_url(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn names_are_checked() {
        assert!(validate_name("prod-1.eu_west").is_ok());
        for bad in ["", "-x", ".x", "a b", "a/b", &"x".repeat(65)] {
            assert!(validate_name(bad).is_err(), "{bad} accepted");
        }
    }

    #[tokio::test]
    async fn keys_stay_in_a_private_file_and_out_of_views() {
        use std::os::unix::fs::PermissionsExt as _;
        let dir = tempfile::tempdir().expect("tmp");
        let t = Targets::new(dir.path());
        let v = t.add("prod", "https://c.example.com/__api__/", "sekrit", None).await.expect("add");
        assert_eq!(v.url, "https://c.example.com");
        let mode = std::fs::metadata(dir.path().join(TARGETS_FILE)).expect("file").permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let listed = serde_json::to_string(&t.list().await.expect("list")).expect("json");
        assert!(!listed.contains("sekrit"), "{listed}");
        assert!(!format!("{:?}", t.get("prod").await.expect("get")).contains("sekrit"));
        t.remember("https://c.example.com", "a", Some("b")).await.expect("remember");
        assert_eq!(t.promoted("https://c.example.com", "a").await.expect("read").as_deref(), Some("b"));
        t.remove("prod").await.expect("rm");
        assert!(t.remove("prod").await.is_err());
        assert!(t.add("x", "https://c", " ", None).await.is_err(), "empty key");
    }
}
