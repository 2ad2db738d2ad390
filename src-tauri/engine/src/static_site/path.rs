//! Request path sanitising for content files.
//!
//! SECURITY: the URL path after the content prefix is split on `/` *before* percent
//! decoding, so an encoded slash (`%2f`) can never create a new segment. Each decoded
//! segment must be valid UTF-8 and may not be `.`, `..`, contain `/`, `\`, NUL or a
//! control character, or start with `.` (hidden files are never served, except
//! `.well-known`). The result is a relative path of plain components; containment is
//! then re-checked against the real file system by `resolve` (symlinks).

use std::path::PathBuf;

use percent_encoding::percent_decode_str;

/// Why a request path was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PathRefusal {
    /// It tries to leave the bundle or hides a separator.
    Traversal,
    /// It names a hidden file.
    Hidden,
}

/// A sanitised request path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CleanPath {
    /// Relative path of plain components (empty for the root).
    pub rel: PathBuf,
    /// Whether the request path ended in `/` (a folder was asked for).
    pub trailing_slash: bool,
}

/// Sanitises the part of a URL path below a content root (without a leading `/`).
pub fn sanitize(raw: &str) -> Result<CleanPath, PathRefusal> {
    let mut rel = PathBuf::new();
    let trailing_slash = raw.is_empty() || raw.ends_with('/');
    for seg in raw.split('/') {
        if seg.is_empty() {
            continue;
        }
        let decoded = percent_decode_str(seg).decode_utf8().map_err(|_| PathRefusal::Traversal)?;
        if decoded == "."
            || decoded == ".."
            || decoded.chars().any(|c| c == '/' || c == '\\' || c == '\0' || c.is_control())
        {
            return Err(PathRefusal::Traversal);
        }
        if decoded.starts_with('.') && decoded != ".well-known" {
            return Err(PathRefusal::Hidden);
        }
        rel.push(decoded.as_ref());
    }
    Ok(CleanPath { rel, trailing_slash })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn plain_paths() {
        let p = sanitize("a/b%20c.html").expect("ok");
        assert_eq!(p.rel, PathBuf::from("a/b c.html"));
        assert!(!p.trailing_slash);
        assert!(sanitize("").expect("ok").trailing_slash);
        assert!(sanitize("docs/").expect("ok").trailing_slash);
        assert_eq!(sanitize("caf%C3%A9/%E2%9C%93.txt").expect("ok").rel, PathBuf::from("café/✓.txt"));
    }

    #[test]
    fn traversal_is_refused() {
        for bad in [
            "..",
            "../x",
            "a/../../x",
            "%2e%2e/x",
            "%2E%2E",
            "a%2f..%2f..%2fx",
            "..%2fx",
            "a%5c..%5cx",
            "a\\..\\x",
            "a%00b",
            "%ff",
            ".",
        ] {
            assert!(sanitize(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn hidden_files_are_refused() {
        assert_eq!(sanitize(".env"), Err(PathRefusal::Hidden));
        assert_eq!(sanitize("a/.git/config"), Err(PathRefusal::Hidden));
        assert!(sanitize(".well-known/x").is_ok());
    }

    proptest! {
        #[test]
        fn never_escapes(raw in "[a-z%./\\\\0-9A-F]{0,30}") {
            if let Ok(p) = sanitize(&raw) {
                prop_assert!(p.rel.components().all(|c| matches!(c, std::path::Component::Normal(_))));
            }
        }
    }
}
