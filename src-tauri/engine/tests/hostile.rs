//! Hostile input, property-tested (proptest on stable Rust; `cargo fuzz` would need nightly):
//! manifest parsing, bundle extraction (tar and zip with `..`, absolute names, backslashes,
//! NULs, symlinks and hard links), URL path sanitising, Connect schedule and cron parsing,
//! and Python entry points.
//!
//! Each property holds for every input, not only for the ones that parse: nothing panics,
//! nothing is written outside the destination, limits hold, and what is accepted is sane.
//! Cases per property: `PROPTEST_CASES` (proptest's default, 256, when unset), so CI runs a
//! bounded number. Failing seeds are saved to `proptest-regressions/hostile.txt` (committed)
//! and replayed first on every run.

use std::fs;
use std::path::{Component, Path};

use porch_engine::bundle::archive::{extract, sanitize_entry};
use porch_engine::bundle::Manifest;
use porch_engine::config::Limits;
use porch_engine::runtimes::entrypoint::PyEntryPoint;
use porch_engine::scheduler::Schedule;
use porch_engine::static_site::sanitize;
use proptest::prelude::*;
use proptest::test_runner::FileFailurePersistence;
use serde_json::{json, Value};

fn config() -> ProptestConfig {
    ProptestConfig {
        failure_persistence: Some(Box::new(FileFailurePersistence::Direct("proptest-regressions/hostile.txt"))),
        ..ProptestConfig::default()
    }
}

// ---- strategies ---------------------------------------------------------------------------

/// Path segments an attacker would try, plus ordinary ones.
fn segment() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => "[a-z]{1,6}",
        2 => Just("..".to_string()),
        1 => Just(".".to_string()),
        1 => Just(String::new()),
        1 => Just("C:".to_string()),
        1 => Just("a\\..\\b".to_string()),
        1 => Just("x\u{0}y".to_string()),
        1 => Just(".hidden".to_string()),
        1 => Just("é✓".to_string()),
        1 => "[a-z.]{1,4}",
    ]
}

fn entry_name() -> impl Strategy<Value = String> {
    (any::<bool>(), prop::collection::vec(segment(), 1..5)).prop_map(|(abs, segs)| {
        let joined = segs.join("/");
        if abs {
            format!("/{joined}")
        } else {
            joined
        }
    })
}

#[derive(Debug, Clone)]
enum Kind {
    File(Vec<u8>),
    Dir,
    Symlink(String),
    Hardlink(String),
}

fn entry() -> impl Strategy<Value = (String, Kind)> {
    let kind = prop_oneof![
        4 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Kind::File),
        1 => Just(Kind::Dir),
        2 => entry_name().prop_map(Kind::Symlink),
        1 => entry_name().prop_map(Kind::Hardlink),
    ];
    (entry_name(), kind)
}

// ---- archives -----------------------------------------------------------------------------

/// A ustar archive written byte by byte, so any name, link and type can appear (the `tar`
/// crate's builder refuses some of them). Names longer than 100 bytes use a PAX header.
fn raw_tar(entries: &[(String, Kind)]) -> Vec<u8> {
    fn header(name: &[u8], typeflag: u8, link: &[u8], size: usize) -> [u8; 512] {
        let mut h = [0u8; 512];
        h[..name.len().min(100)].copy_from_slice(&name[..name.len().min(100)]);
        h[100..108].copy_from_slice(b"0000644\0");
        h[108..116].copy_from_slice(b"0000000\0");
        h[116..124].copy_from_slice(b"0000000\0");
        h[124..136].copy_from_slice(format!("{size:011o}\0").as_bytes());
        h[136..148].copy_from_slice(b"00000000000\0");
        h[156] = typeflag;
        h[157..157 + link.len().min(100)].copy_from_slice(&link[..link.len().min(100)]);
        h[257..263].copy_from_slice(b"ustar\0");
        h[263..265].copy_from_slice(b"00");
        h[148..156].copy_from_slice(b"        ");
        let sum: u32 = h.iter().map(|b| u32::from(*b)).sum();
        h[148..156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
        h
    }
    fn push(out: &mut Vec<u8>, h: [u8; 512], data: &[u8]) {
        out.extend_from_slice(&h);
        out.extend_from_slice(data);
        out.extend(std::iter::repeat_n(0u8, (512 - data.len() % 512) % 512));
    }
    let mut out = Vec::new();
    for (name, kind) in entries {
        if name.len() > 100 {
            let rec = format!(" path={name}\n");
            let mut len = rec.len();
            let rec = loop {
                let candidate = format!("{len}{rec}");
                if candidate.len() == len {
                    break candidate;
                }
                len = candidate.len();
            };
            push(&mut out, header(b"PaxHeaders/x", b'x', b"", rec.len()), rec.as_bytes());
        }
        match kind {
            Kind::File(data) => push(&mut out, header(name.as_bytes(), b'0', b"", data.len()), data),
            Kind::Dir => push(&mut out, header(format!("{name}/").as_bytes(), b'5', b"", 0), &[]),
            Kind::Symlink(t) => push(&mut out, header(name.as_bytes(), b'2', t.as_bytes(), 0), &[]),
            Kind::Hardlink(t) => push(&mut out, header(name.as_bytes(), b'1', t.as_bytes(), 0), &[]),
        }
    }
    out.extend(std::iter::repeat_n(0u8, 1024));
    out
}

fn raw_zip(entries: &[(String, Kind)]) -> Vec<u8> {
    use std::io::Write;
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default();
    for (name, kind) in entries {
        // The writer refuses some names (duplicates); an archive without them is still hostile.
        let _ = match kind {
            Kind::File(_) | Kind::Hardlink(_) if !name.is_empty() => w.start_file(name.as_str(), opts).map(|_| {
                w.write_all(match kind {
                    Kind::File(d) => d,
                    _ => b"",
                })
            }),
            Kind::Dir => w.add_directory(name.as_str(), opts).map(|_| Ok(())),
            Kind::Symlink(t) => w.add_symlink(name.as_str(), t.as_str(), opts).map(|_| Ok(())),
            _ => Ok(Ok(())),
        };
    }
    w.finish().map(|c| c.into_inner()).unwrap_or_default()
}

/// Extracts `bytes` into `jail/dest` and checks that nothing landed anywhere else, that every
/// link inside points inside, and that the limits held.
fn extract_contained(bytes: &[u8], limits: &Limits) -> Result<(), TestCaseError> {
    let jail = tempfile::tempdir().map_err(|e| TestCaseError::fail(e.to_string()))?;
    let archive = jail.path().join("upload");
    fs::write(&archive, bytes).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let dest = jail.path().join("dest");
    fs::create_dir(&dest).map_err(|e| TestCaseError::fail(e.to_string()))?;
    let result = extract(&archive, &dest, limits);
    // Only the upload and the destination are in the jail.
    let mut top: Vec<String> = fs::read_dir(jail.path())
        .expect("jail")
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect();
    top.sort();
    prop_assert_eq!(top, vec!["dest".to_string(), "upload".to_string()]);
    let real_dest = fs::canonicalize(&dest).expect("dest");
    let (mut files, mut bytes_on_disk) = (0u64, 0u64);
    let mut stack = vec![dest.clone()];
    while let Some(dir) = stack.pop() {
        for e in fs::read_dir(&dir).expect("read_dir").flatten() {
            let path = e.path();
            let meta = fs::symlink_metadata(&path).expect("meta");
            files += 1;
            if meta.file_type().is_symlink() {
                // A dangling link is harmless; one that resolves must stay inside.
                if let Ok(target) = fs::canonicalize(&path) {
                    prop_assert!(target.starts_with(&real_dest), "{} -> {}", path.display(), target.display());
                }
            } else if meta.is_dir() {
                stack.push(path);
            } else {
                prop_assert!(meta.is_file(), "only files, folders and links: {}", path.display());
                bytes_on_disk += meta.len();
            }
        }
    }
    if let Ok(x) = result {
        prop_assert!(x.file_count <= limits.max_bundle_files, "{} files", x.file_count);
        prop_assert!(x.total_bytes <= limits.max_bundle_bytes, "{} bytes", x.total_bytes);
        prop_assert!(files <= limits.max_bundle_files + 1);
        // Hard links are written as copies, each counted.
        prop_assert!(bytes_on_disk <= limits.max_bundle_bytes);
    }
    Ok(())
}

fn small_limits() -> Limits {
    Limits { max_bundle_bytes: 512, max_bundle_files: 12 }
}

proptest! {
    #![proptest_config(config())]

    // ---- manifest ----

    #[test]
    fn manifest_parse_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..512)) {
        let _ = Manifest::parse(&bytes);
    }

    #[test]
    fn accepted_manifests_name_a_known_appmode(
        appmode in prop_oneof![Just("static".to_string()), Just("python-dash".to_string()), ".{0,12}"],
        entry in prop::option::of(entry_name()),
        files in prop_oneof![Just(json!({})), Just(json!([])), Just(json!(null)), Just(json!(3)), Just(json!("x"))],
        metadata_is_object in any::<bool>(),
    ) {
        let metadata = if metadata_is_object { json!({"appmode": appmode, "entrypoint": entry, "primary_html": entry}) } else { json!(appmode) };
        let doc = json!({"version": 1, "metadata": metadata, "files": files});
        if let Ok(m) = Manifest::parse(doc.to_string().as_bytes()) {
            prop_assert!(porch_engine::bundle::manifest::APP_MODES.contains(&m.app_mode.as_str()));
            prop_assert!(metadata_is_object);
            prop_assert!(files.is_object() || files.is_array() || files.is_null());
        }
    }

    // ---- archives ----

    #[test]
    fn tar_entries_stay_inside(entries in prop::collection::vec(entry(), 0..10)) {
        extract_contained(&raw_tar(&entries), &Limits::default())?;
    }

    #[test]
    fn gzipped_tar_entries_stay_inside_small_limits(entries in prop::collection::vec(entry(), 0..16)) {
        use std::io::Write;
        let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        gz.write_all(&raw_tar(&entries)).expect("gzip");
        extract_contained(&gz.finish().expect("gzip"), &small_limits())?;
    }

    #[test]
    fn zip_entries_stay_inside(entries in prop::collection::vec(entry(), 0..10)) {
        extract_contained(&raw_zip(&entries), &Limits::default())?;
        extract_contained(&raw_zip(&entries), &small_limits())?;
    }

    #[test]
    fn garbage_archives_are_refused_without_panicking(
        magic in prop_oneof![Just(vec![0x1f, 0x8b]), Just(b"PK\x03\x04".to_vec()), Just(b"PK\x05\x06".to_vec()), Just(vec![])],
        tail in prop::collection::vec(any::<u8>(), 0..600),
    ) {
        let mut bytes = magic;
        bytes.extend(tail);
        extract_contained(&bytes, &small_limits())?;
    }

    #[test]
    fn sanitized_entry_names_are_plain_relative_paths(name in entry_name()) {
        if let Ok(Some(p)) = sanitize_entry(&name) {
            prop_assert!(p.components().all(|c| matches!(c, Component::Normal(_))), "{}", p.display());
            prop_assert!(!name.contains('\0') && !name.contains('\\'));
        }
    }

    // ---- URL paths ----

    #[test]
    fn url_paths_never_leave_the_bundle(tokens in prop::collection::vec(prop_oneof![
        Just("a"), Just("b.html"), Just(".."), Just("."), Just("%2e"), Just("%2E"), Just("%2f"), Just("%2F"),
        Just("%5c"), Just("%00"), Just("/"), Just("\\"), Just("%"), Just("%zz"), Just("%c3%a9"), Just("%ff"),
        Just(".git"), Just(".well-known"), Just("%252e"), Just("?"), Just("#"),
    ], 0..12)) {
        let raw: String = tokens.concat();
        if let Ok(clean) = sanitize(&raw) {
            let root = Path::new("/srv/bundle");
            let joined = root.join(&clean.rel);
            prop_assert!(joined.starts_with(root));
            for c in clean.rel.components() {
                let Component::Normal(s) = c else { return Err(TestCaseError::fail(format!("{raw:?} -> {:?}", clean.rel))) };
                let s = s.to_string_lossy();
                prop_assert!(!s.contains('\0') && !s.contains('\\') && !s.contains('/'), "{raw:?} -> {s:?}");
                prop_assert!(!s.starts_with('.') || s == ".well-known", "hidden segment from {raw:?}: {s:?}");
            }
        }
    }

    #[test]
    fn url_sanitize_never_panics(raw in ".{0,64}") {
        let _ = sanitize(&raw);
    }

    // ---- schedules and cron ----

    #[test]
    fn connect_schedules_parse_safely_and_run_forward(
        kind in prop_oneof![
            Just("minute"), Just("hour"), Just("day"), Just("weekday"), Just("week"), Just("dayofweek"),
            Just("semimonth"), Just("dayofmonth"), Just("dayweekofmonth"), Just("year"), Just("cron"), Just("bogus"),
        ],
        n in prop_oneof![Just(json!(1)), Just(json!(0)), Just(json!(-3)), Just(json!(7)), Just(json!(4_000_000_000u64)),
            Just(json!(1.5)), Just(json!("2")), Just(json!(null)), Just(json!(i64::MAX))],
        day in prop_oneof![Just(json!(0)), Just(json!(6)), Just(json!(7)), Just(json!(31)), Just(json!(32)), Just(json!(-1)), Just(json!("x"))],
        week in prop_oneof![Just(json!(1)), Just(json!(5)), Just(json!(6)), Just(json!(0))],
        days in prop::collection::vec(-2i64..9, 0..5),
        first in any::<bool>(),
        as_string in any::<bool>(),
        start in prop_oneof![Just("2026-01-31T23:30:00Z"), Just("1970-01-01T00:00:00Z"), Just("9999-12-31T23:59:59Z"),
            Just("2024-02-29T02:30:00+01:00"), Just("not a time"), Just("")],
        tz in prop_oneof![Just("UTC"), Just("Europe/Berlin"), Just("America/New_York"), Just("Australia/Lord_Howe"),
            Just("Nowhere/Else"), Just("")],
        cron in cron_expression(),
        after in 0i64..4_000_000_000,
    ) {
        let params = json!({"N": n, "Day": day, "Week": week, "Days": days, "First": first});
        let mut def = json!({"type": kind, "start_time": start, "timezone": tz,
            "schedule": if as_string { Value::String(params.to_string()) } else { params }});
        if kind == "cron" {
            def["cron"] = json!(cron);
        }
        if let Ok(s) = Schedule::from_connect(&def) {
            let after = jiff::Timestamp::from_second(after).expect("in range");
            let runs = s.upcoming(after, 4);
            let mut prev = after;
            for r in runs {
                prop_assert!(r > prev, "{def}: {r} after {prev}");
                prop_assert!(r >= s.start, "{def}: {r} before the anchor");
                prev = r;
            }
            // What it serialises to parses back to the same schedule.
            let back = Schedule::from_connect(&s.to_connect());
            prop_assert!(back.is_ok(), "{def} -> {} -> {:?}", s.to_connect(), back.err());
        }
    }

    #[test]
    fn python_entry_points_are_module_paths(text in prop_oneof![entry_name(), ".{0,24}", "[a-z_./:-]{0,16}"]) {
        if let Ok(e) = PyEntryPoint::parse(&text) {
            prop_assert!(!e.module.is_empty() && !e.module.starts_with('-'), "{text:?} -> {e:?}");
            prop_assert!(e.module.split('.').all(|p| !p.is_empty() && !p.contains('/') && p != ".."), "{text:?} -> {e:?}");
        }
    }
}

fn cron_expression() -> impl Strategy<Value = String> {
    let field = prop_oneof![
        Just("*".to_string()),
        Just("*/0".to_string()),
        Just("*/5".to_string()),
        Just("1-5".to_string()),
        Just("5-1".to_string()),
        Just("0".to_string()),
        Just("59".to_string()),
        Just("60".to_string()),
        Just("99999999999".to_string()),
        Just("L".to_string()),
        Just("?".to_string()),
        Just("1#5".to_string()),
        Just("MON".to_string()),
        Just("1,2,,3".to_string()),
        Just("".to_string()),
        Just("-".to_string()),
        Just("31".to_string()),
        Just("2/0".to_string()),
        Just("5L".to_string()),
        Just("W".to_string()),
    ];
    prop::collection::vec(field, 0..8).prop_map(|f| f.join(" "))
}
