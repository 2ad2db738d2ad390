//! Safe extraction of uploaded archives.
//!
//! SECURITY: an archive is hostile input. Every entry name is normalised component by
//! component: `./` and empty names are dropped, while absolute paths, `..`, drive prefixes
//! and backslashes are refused. Symlinks are re-created only when their target, resolved
//! against the link's own folder, stays inside the bundle; hard links are copied under the
//! same rule; devices and FIFOs are refused. Sizes and counts are checked as entries
//! stream in, so a gzip bomb stops at the limit. Extraction writes into a fresh staging
//! folder that the caller renames into place only when everything succeeded.

use std::fs;
use std::io::{self, Read, Write};
use std::path::{Component, Path, PathBuf};

use super::BundleError;
use crate::config::Limits;

/// What an extraction produced.
#[derive(Debug)]
pub struct Extracted {
    /// Number of files and folders written.
    pub file_count: u64,
    /// Total bytes written.
    pub total_bytes: u64,
}

/// Which archive format a file holds, judged by its first bytes.
fn sniff(path: &Path) -> Result<&'static str, BundleError> {
    let mut head = [0u8; 512];
    let mut f = fs::File::open(path).map_err(BundleError::io("opening the upload", path))?;
    let n = read_up_to(&mut f, &mut head).map_err(BundleError::io("reading the upload", path))?;
    let head = &head[..n];
    if head.starts_with(&[0x1f, 0x8b]) {
        Ok("tgz")
    } else if head.starts_with(b"PK\x03\x04") || head.starts_with(b"PK\x05\x06") {
        Ok("zip")
    } else if n >= 262 && &head[257..262] == b"ustar" {
        Ok("tar")
    } else if n == 0 {
        Err(BundleError::NotAnArchive { detail: "the upload is empty".into() })
    } else {
        Err(BundleError::NotAnArchive { detail: format!("it starts with {:02x?}", &head[..n.min(4)]) })
    }
}

fn read_up_to(r: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match r.read(&mut buf[n..])? {
            0 => break,
            k => n += k,
        }
    }
    Ok(n)
}

/// Extracts `archive` into the empty folder `dest`, then collapses a single top-level folder.
pub fn extract(archive: &Path, dest: &Path, limits: &Limits) -> Result<Extracted, BundleError> {
    let mut sink = Sink { dest, limits, count: 0, bytes: 0 };
    match sniff(archive)? {
        "tgz" => {
            let f = fs::File::open(archive).map_err(BundleError::io("opening the upload", archive))?;
            extract_tar(tar::Archive::new(flate2::read::GzDecoder::new(io::BufReader::new(f))), &mut sink)?
        }
        "tar" => {
            let f = fs::File::open(archive).map_err(BundleError::io("opening the upload", archive))?;
            extract_tar(tar::Archive::new(io::BufReader::new(f)), &mut sink)?
        }
        _ => extract_zip(archive, &mut sink)?,
    }
    collapse_single_dir(dest)?;
    Ok(Extracted { file_count: sink.count, total_bytes: sink.bytes })
}

/// Normalises an entry name into a relative path inside the bundle.
///
/// Returns `Ok(None)` for names that denote the root itself (`""`, `.`, `./`, `/`).
pub fn sanitize_entry(name: &str) -> Result<Option<PathBuf>, BundleError> {
    let unsafe_path = || BundleError::UnsafePath { entry: name.to_string() };
    if name.contains('\0') || name.contains('\\') {
        return Err(unsafe_path());
    }
    // The bundle root itself: pins' `tarfile.add(dir, arcname="")` writes it as "/".
    if name.chars().all(|c| c == '/' || c == '.') && !name.contains("..") {
        return Ok(None);
    }
    let mut out = PathBuf::new();
    for comp in Path::new(name).components() {
        match comp {
            Component::Normal(c) => {
                let s = c.to_str().ok_or_else(unsafe_path)?;
                // A drive-letter-like prefix ("C:") means a Windows absolute path.
                if out.as_os_str().is_empty() && s.len() == 2 && s.ends_with(':') {
                    return Err(unsafe_path());
                }
                out.push(c)
            }
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => return Err(unsafe_path()),
        }
    }
    Ok(if out.as_os_str().is_empty() { None } else { Some(out) })
}

/// Resolves a link target written at `link` (relative to the bundle root) and checks it
/// stays inside; returns the target relative to the root.
fn resolve_link(link: &Path, target: &Path, entry: &str) -> Result<PathBuf, BundleError> {
    let escapes = || BundleError::LinkEscapes { entry: entry.to_string(), target: target.display().to_string() };
    if target.is_absolute() {
        return Err(escapes());
    }
    let mut stack: Vec<&std::ffi::OsStr> = link.parent().map(|p| p.iter().collect()).unwrap_or_default();
    for comp in target.components() {
        match comp {
            Component::Normal(c) => stack.push(c),
            Component::CurDir => {}
            Component::ParentDir => {
                stack.pop().ok_or_else(escapes)?;
            }
            Component::RootDir | Component::Prefix(_) => return Err(escapes()),
        }
    }
    Ok(stack.iter().collect())
}

/// Writes entries into the staging folder, counting against the limits.
struct Sink<'a> {
    dest: &'a Path,
    limits: &'a Limits,
    count: u64,
    bytes: u64,
}

impl Sink<'_> {
    fn bump(&mut self) -> Result<(), BundleError> {
        self.count += 1;
        if self.count > self.limits.max_bundle_files {
            return Err(BundleError::TooManyFiles { limit: self.limits.max_bundle_files });
        }
        Ok(())
    }

    fn dir(&mut self, rel: &Path) -> Result<(), BundleError> {
        let path = self.dest.join(rel);
        if !path.is_dir() {
            self.bump()?;
        }
        fs::create_dir_all(&path).map_err(BundleError::io("creating a folder", &path))
    }

    fn parent_of(&mut self, rel: &Path) -> Result<PathBuf, BundleError> {
        if let Some(parent) = rel.parent() {
            if !parent.as_os_str().is_empty() {
                self.dir(parent)?;
            }
        }
        let path = self.dest.join(rel);
        // SECURITY: an earlier symlink entry may sit where this entry's parent should be.
        // Refuse to write through any link.
        let mut probe = self.dest.to_path_buf();
        for comp in rel.parent().into_iter().flat_map(|p| p.components()) {
            probe.push(comp);
            if probe.symlink_metadata().map(|m| m.file_type().is_symlink()).unwrap_or(false) {
                return Err(BundleError::UnsafePath { entry: rel.display().to_string() });
            }
        }
        if path.symlink_metadata().is_ok() {
            if path.is_dir() && !path.symlink_metadata().map(|m| m.file_type().is_symlink()).unwrap_or(false) {
                return Err(BundleError::UnsafePath { entry: rel.display().to_string() });
            }
            fs::remove_file(&path).map_err(BundleError::io("replacing a duplicate entry", &path))?;
        }
        Ok(path)
    }

    /// Writes one file. `declared` is the size its archive header states: past the limit,
    /// the bundle is refused before a byte is written (a bomb's 3 GiB entry is not inflated
    /// to find out); the bytes themselves are counted too, as a header may understate.
    fn file(&mut self, rel: &Path, mut data: impl Read, entry: &str, declared: u64) -> Result<(), BundleError> {
        if self.bytes.saturating_add(declared) > self.limits.max_bundle_bytes {
            return Err(BundleError::TooLarge { limit: self.limits.max_bundle_bytes, entry: entry.to_string() });
        }
        self.bump()?;
        let path = self.parent_of(rel)?;
        let mut out = fs::File::create(&path).map_err(BundleError::io("writing a bundle file", &path))?;
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            let n = data.read(&mut buf).map_err(|source| BundleError::Corrupt { entry: entry.to_string(), source })?;
            if n == 0 {
                break;
            }
            self.bytes += n as u64;
            if self.bytes > self.limits.max_bundle_bytes {
                return Err(BundleError::TooLarge { limit: self.limits.max_bundle_bytes, entry: entry.to_string() });
            }
            out.write_all(&buf[..n]).map_err(BundleError::io("writing a bundle file", &path))?;
        }
        Ok(())
    }

    fn symlink(&mut self, rel: &Path, target: &Path, entry: &str) -> Result<(), BundleError> {
        resolve_link(rel, target, entry)?;
        self.bump()?;
        let path = self.parent_of(rel)?;
        std::os::unix::fs::symlink(target, &path).map_err(BundleError::io("creating a link", &path))
    }

    fn hardlink(&mut self, rel: &Path, target: &Path, entry: &str) -> Result<(), BundleError> {
        // Hard-link targets are named from the archive root.
        let target_rel = sanitize_entry(&target.to_string_lossy()).ok().flatten().ok_or_else(|| {
            BundleError::LinkEscapes { entry: entry.to_string(), target: target.display().to_string() }
        })?;
        let src = self.dest.join(&target_rel);
        let meta = src
            .symlink_metadata()
            .map_err(|_| BundleError::LinkEscapes { entry: entry.to_string(), target: target.display().to_string() })?;
        if !meta.is_file() {
            return Err(BundleError::LinkEscapes { entry: entry.to_string(), target: target.display().to_string() });
        }
        let f = fs::File::open(&src).map_err(BundleError::io("reading a hard-link target", &src))?;
        self.file(rel, f, entry, meta.len())
    }
}

fn extract_tar<R: Read>(mut ar: tar::Archive<R>, sink: &mut Sink<'_>) -> Result<(), BundleError> {
    let mut last = String::from("<start>");
    let entries = ar.entries().map_err(|source| BundleError::Corrupt { entry: last.clone(), source })?;
    for entry in entries {
        let entry = entry.map_err(|source| BundleError::Corrupt { entry: last.clone(), source })?;
        // `path()` honours PAX `path` records and GNU long names.
        let name = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let name = match entry.path() {
            Ok(p) => p.to_string_lossy().into_owned(),
            Err(_) => name,
        };
        last = name.clone();
        let kind = entry.header().entry_type();
        let rel = match sanitize_entry(&name)? {
            Some(rel) => rel,
            None if kind.is_dir() => continue,
            None => return Err(BundleError::UnsafePath { entry: name }),
        };
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
                let declared = entry.header().size().unwrap_or(0);
                sink.file(&rel, entry, &name, declared)?
            }
            tar::EntryType::Directory => sink.dir(&rel)?,
            tar::EntryType::Symlink => sink.symlink(&rel, &link_target(&entry, &name)?, &name)?,
            tar::EntryType::Link => sink.hardlink(&rel, &link_target(&entry, &name)?, &name)?,
            tar::EntryType::XGlobalHeader
            | tar::EntryType::XHeader
            | tar::EntryType::GNULongName
            | tar::EntryType::GNULongLink => {}
            tar::EntryType::Char => return Err(BundleError::SpecialFile { entry: name, kind: "character device" }),
            tar::EntryType::Block => return Err(BundleError::SpecialFile { entry: name, kind: "block device" }),
            tar::EntryType::Fifo => return Err(BundleError::SpecialFile { entry: name, kind: "FIFO" }),
            _ => return Err(BundleError::SpecialFile { entry: name, kind: "special entry" }),
        }
    }
    Ok(())
}

/// The target of a link entry (PAX `linkpath` honoured).
fn link_target<R: Read>(entry: &tar::Entry<'_, R>, name: &str) -> Result<PathBuf, BundleError> {
    entry
        .link_name()
        .map_err(|source| BundleError::Corrupt { entry: name.to_string(), source })?
        .map(|t| t.into_owned())
        .ok_or_else(|| BundleError::LinkEscapes { entry: name.to_string(), target: String::new() })
}

fn extract_zip(archive: &Path, sink: &mut Sink<'_>) -> Result<(), BundleError> {
    let f = fs::File::open(archive).map_err(BundleError::io("opening the upload", archive))?;
    let corrupt = |entry: &str, e: zip::result::ZipError| BundleError::Corrupt {
        entry: entry.to_string(),
        source: io::Error::new(io::ErrorKind::InvalidData, e.to_string()),
    };
    let mut zip = zip::ZipArchive::new(io::BufReader::new(f)).map_err(|e| corrupt("<central directory>", e))?;
    for i in 0..zip.len() {
        let mut file = zip.by_index(i).map_err(|e| corrupt(&format!("#{i}"), e))?;
        let name = file.name().to_string();
        let rel = match sanitize_entry(&name)? {
            Some(rel) => rel,
            None => continue,
        };
        let mode = file.unix_mode().unwrap_or(0);
        let ftype = mode & 0o170000;
        if file.is_dir() {
            sink.dir(&rel)?;
        } else if ftype == 0o120000 {
            let mut target = String::new();
            file.read_to_string(&mut target).map_err(|source| BundleError::Corrupt { entry: name.clone(), source })?;
            sink.symlink(&rel, Path::new(&target), &name)?;
        } else if ftype == 0 || ftype == 0o100000 {
            let declared = file.size();
            sink.file(&rel, &mut file, &name, declared)?;
        } else {
            return Err(BundleError::SpecialFile { entry: name, kind: "special file" });
        }
    }
    Ok(())
}

/// While the root holds exactly one entry and it is a folder, moves its contents up.
fn collapse_single_dir(dest: &Path) -> Result<(), BundleError> {
    loop {
        let entries: Vec<_> = fs::read_dir(dest)
            .map_err(BundleError::io("listing the bundle", dest))?
            .collect::<Result<_, _>>()
            .map_err(BundleError::io("listing the bundle", dest))?;
        let [only] = entries.as_slice() else { return Ok(()) };
        let ft = only.file_type().map_err(BundleError::io("inspecting the bundle", only.path()))?;
        if !ft.is_dir() {
            return Ok(());
        }
        let inner = only.path();
        links_stay_inside(&inner, Path::new(""))?;
        let hold = dest.join(format!(".porch-collapse-{}", std::process::id()));
        fs::rename(&inner, &hold).map_err(BundleError::io("collapsing the top folder", &inner))?;
        for child in fs::read_dir(&hold).map_err(BundleError::io("collapsing the top folder", &hold))? {
            let child = child.map_err(BundleError::io("collapsing the top folder", &hold))?;
            let to = dest.join(child.file_name());
            fs::rename(child.path(), &to).map_err(BundleError::io("collapsing the top folder", &to))?;
        }
        fs::remove_dir(&hold).map_err(BundleError::io("collapsing the top folder", &hold))?;
    }
}

/// SECURITY: links were checked against their place in the archive, but collapsing moves
/// every entry up one level, so a link that climbs to the wrapper folder (`top/l -> ..`)
/// would then point outside the bundle. Every link under `root` is checked again as if
/// `root` were the bundle's root (found by the hostile-input property tests).
fn links_stay_inside(root: &Path, rel: &Path) -> Result<(), BundleError> {
    let dir = root.join(rel);
    for e in fs::read_dir(&dir).map_err(BundleError::io("listing the bundle", &dir))? {
        let e = e.map_err(BundleError::io("listing the bundle", &dir))?;
        let here = rel.join(e.file_name());
        let ft = e.file_type().map_err(BundleError::io("inspecting the bundle", e.path()))?;
        if ft.is_symlink() {
            let target = fs::read_link(e.path()).map_err(BundleError::io("reading a link", e.path()))?;
            resolve_link(&here, &target, &here.display().to_string())?;
        } else if ft.is_dir() {
            links_stay_inside(root, &here)?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn sanitize_accepts_plain_and_dot_prefixed() {
        assert_eq!(sanitize_entry("a/b.txt").ok().flatten(), Some(PathBuf::from("a/b.txt")));
        assert_eq!(sanitize_entry("./a/./b").ok().flatten(), Some(PathBuf::from("a/b")));
        assert!(matches!(sanitize_entry(""), Ok(None)));
        assert!(matches!(sanitize_entry("./"), Ok(None)));
        // pins' root directory entry.
        assert!(matches!(sanitize_entry("/"), Ok(None)));
    }

    #[test]
    fn sanitize_refuses_escapes() {
        for bad in ["../x", "a/../../x", "/etc/passwd", "a\\..\\b", "C:/x", "a\0b", "a/.."] {
            assert!(sanitize_entry(bad).is_err(), "{bad} should be refused");
        }
    }

    #[test]
    fn links_resolve_relative_to_their_folder() {
        assert!(resolve_link(Path::new("a/l"), Path::new("../b"), "l").is_ok());
        assert!(resolve_link(Path::new("a/l"), Path::new("../../b"), "l").is_err());
        assert!(resolve_link(Path::new("l"), Path::new("/etc"), "l").is_err());
        assert!(resolve_link(Path::new("l"), Path::new(".."), "l").is_err());
    }

    /// Regression (tests/hostile.rs, seed in proptest-regressions/hostile.txt): a link in a
    /// single top folder that climbs to that folder escaped once the folder was collapsed.
    #[test]
    fn a_link_to_the_collapsed_top_folder_is_refused() {
        let dir = tempfile::tempdir().expect("tmp");
        let (archive, dest) = (dir.path().join("up.tar"), dir.path().join("dest"));
        fs::create_dir(&dest).expect("dest");
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "top/up", "..").expect("link");
        let mut h = tar::Header::new_ustar();
        h.set_size(2);
        b.append_data(&mut h, "top/index.html", &b"hi"[..]).expect("file");
        fs::write(&archive, b.into_inner().expect("tar")).expect("write");
        let err = extract(&archive, &dest, &Limits::default()).expect_err("escapes after collapsing");
        assert!(matches!(err, BundleError::LinkEscapes { .. }), "{err:?}");
        // A link that stays inside the top folder still works.
        let dest2 = dir.path().join("dest2");
        fs::create_dir(&dest2).expect("dest");
        let mut b = tar::Builder::new(Vec::new());
        let mut h = tar::Header::new_ustar();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, "top/sub/l", "../index.html").expect("link");
        let mut h = tar::Header::new_ustar();
        h.set_size(2);
        b.append_data(&mut h, "top/index.html", &b"hi"[..]).expect("file");
        fs::write(&archive, b.into_inner().expect("tar")).expect("write");
        extract(&archive, &dest2, &Limits::default()).expect("inside");
        assert_eq!(fs::read_to_string(dest2.join("sub/l")).expect("through the link"), "hi");
    }

    /// An entry whose header states more than the limit is refused before it is inflated
    /// (a gzip bomb's gigabytes are never written to find out); one that fits is extracted.
    #[test]
    fn an_entry_declared_past_the_limit_is_refused_unwritten() {
        let dir = tempfile::tempdir().expect("tmp");
        let (archive, dest) = (dir.path().join("bomb.tar.gz"), dir.path().join("dest"));
        fs::create_dir(&dest).expect("dest");
        let mut b = tar::Builder::new(flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast()));
        let mut h = tar::Header::new_ustar();
        h.set_size(4 << 20);
        b.append_data(&mut h, "big.bin", io::repeat(0).take(4 << 20)).expect("entry");
        fs::write(&archive, b.into_inner().expect("tar").finish().expect("gz")).expect("write");
        let limits = Limits { max_bundle_bytes: 1 << 20, ..Limits::default() };
        let err = extract(&archive, &dest, &limits).expect_err("too large");
        assert!(matches!(err, BundleError::TooLarge { .. }), "{err:?}");
        assert!(!dest.join("big.bin").exists(), "nothing was written of it");
        let dest2 = dir.path().join("dest2");
        fs::create_dir(&dest2).expect("dest");
        extract(&archive, &dest2, &Limits { max_bundle_bytes: 8 << 20, ..Limits::default() }).expect("fits");
        assert_eq!(fs::metadata(dest2.join("big.bin")).expect("extracted").len(), 4 << 20);
    }

    proptest! {
        #[test]
        fn sanitized_paths_stay_inside(name in "[a-z./\\\\]{0,24}") {
            if let Ok(Some(p)) = sanitize_entry(&name) {
                prop_assert!(p.is_relative());
                prop_assert!(p.components().all(|c| matches!(c, Component::Normal(_))));
            }
        }
    }
}
