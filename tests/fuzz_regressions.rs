//! Replays the inputs kept in `tests/fuzz_regressions/<target>/` (crashes found by the fuzz
//! targets in `fuzz/`, and a few hand-made seeds) through the same properties the targets
//! check: no panic, and nothing accepted that should not be.

use std::collections::BTreeSet;
use std::path::Path;

#[path = "../fuzz/fuzz_targets/archive_oracle.rs"]
mod archive_oracle;
use archive_oracle::{inside, normal, placed, roots, through};

use lifeboat::app::config::Config;
use lifeboat::storage::archive::{check_entry, list};
use lifeboat::storage::checksums::Checksums;
use lifeboat::storage::layout::is_valid_object_name;
use lifeboat::storage::manifest::Manifest;

/// The kept inputs of one target, (file name, bytes); at least one must exist.
fn inputs(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz_regressions")
        .join(target);
    let mut out: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let path = e.expect("a directory entry").path();
            let bytes = std::fs::read(&path).expect("read a kept input");
            (path.display().to_string(), bytes)
        })
        .collect();
    out.sort();
    assert!(!out.is_empty(), "no inputs in {}", dir.display());
    out
}

#[test]
fn manifest_inputs() {
    const SET: &str = "20261122T020000Z-3f9a";
    for (name, bytes) in inputs("manifest") {
        if let Ok(m) = Manifest::parse(SET, &bytes) {
            assert_eq!(m.set_id, SET, "{name}");
            assert!(
                m.components.iter().all(|c| is_valid_object_name(&c.object)),
                "{name}"
            );
            Manifest::parse(SET, &m.to_json()).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }
}

#[test]
fn checksums_inputs() {
    for (name, bytes) in inputs("checksums") {
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        if let Ok(c) = Checksums::parse(text) {
            for (object, hash) in &c.0 {
                assert!(is_valid_object_name(object), "{name}: {object:?}");
                assert_eq!(hash.len(), 64, "{name}");
            }
            let again = Checksums::parse(&c.render()).unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(again, c, "{name}");
        }
    }
}

#[test]
fn config_inputs() {
    let path = Path::new("/etc/lifeboat/config.toml");
    for (name, bytes) in inputs("config") {
        let Ok(text) = std::str::from_utf8(&bytes) else {
            continue;
        };
        if let Err(e) = Config::parse(path, text) {
            assert!(
                e.to_string().contains("/etc/lifeboat/config.toml"),
                "{name}: {e}"
            );
        }
    }
}

#[test]
fn archive_inputs() {
    let roots = roots();
    for (name, bytes) in inputs("archive") {
        if list(&bytes[..], &placed(&roots), false).is_ok() {
            // Symlinks may point anywhere, but nothing may be written below one, and a hard
            // link must stay inside and not go through one.
            let mut symlinks = BTreeSet::new();
            let mut archive = tar::Archive::new(&bytes[..]);
            for entry in archive.entries().expect("entries of an accepted archive") {
                let mut entry = entry.expect("an entry of an accepted archive");
                let path = entry.path().expect("a path").into_owned();
                assert!(inside(&path, &roots), "{name}: accepted {path:?}");
                let via = through(&path, &symlinks, false);
                assert!(via.is_none(), "{name}: accepted {path:?} below {via:?}");
                let kind = entry.header().entry_type();
                if let Ok(Some(link)) = entry.link_name() {
                    if kind.is_hard_link() {
                        let target = link.strip_prefix("/").unwrap_or(&link).to_path_buf();
                        assert!(inside(&target, &roots), "{name}: accepted link {link:?}");
                        let via = through(&target, &symlinks, true);
                        assert!(via.is_none(), "{name}: accepted link {link:?} via {via:?}");
                    }
                }
                if kind.is_symlink() {
                    symlinks.extend(normal(&path));
                }
                std::io::copy(&mut entry, &mut std::io::sink()).expect("read the entry");
            }
        }
        let split = bytes.len() / 2;
        let path = Path::new(std::str::from_utf8(&bytes[..split]).unwrap_or("x"));
        let link = std::str::from_utf8(&bytes[split..]).ok().map(Path::new);
        for kind in [
            tar::EntryType::Regular,
            tar::EntryType::Symlink,
            tar::EntryType::Link,
        ] {
            if let Ok(normal) = check_entry(path, kind, link, &roots, &mut BTreeSet::new()) {
                assert!(inside(path, &roots), "{name}: accepted {path:?}");
                assert!(inside(&normal, &roots), "{name}: normalised {normal:?}");
            }
        }
    }
}
