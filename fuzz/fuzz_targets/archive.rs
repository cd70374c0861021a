#![no_main]
//! `archive::list` on arbitrary bytes and `check_entry` on arbitrary paths: never panics, and
//! never accepts an entry (or link target) that normalises outside the archived roots.
use libfuzzer_sys::fuzz_target;
use lifeboat::storage::archive::{check_entry, list};
use std::collections::BTreeSet;
use std::io::Read;
use std::path::{Component, Path, PathBuf};

fn roots() -> Vec<PathBuf> {
    vec![PathBuf::from("var/lib/app/uploads")]
}

/// Lexical normalisation, written independently of the one under test.
fn inside(path: &Path, roots: &[PathBuf]) -> bool {
    let mut parts: Vec<&std::ffi::OsStr> = Vec::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => parts.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                if parts.pop().is_none() {
                    return false;
                }
            }
            Component::RootDir | Component::Prefix(_) => return false,
        }
    }
    let normal: PathBuf = parts.iter().collect();
    roots
        .iter()
        .any(|r| normal.starts_with(r) || r.starts_with(&normal))
}

fuzz_target!(|data: &[u8]| {
    let roots = roots();
    // 1. A whole archive: if it is accepted, every entry (re-read independently) lies inside.
    if list(data, &roots, None).is_ok() {
        let mut archive = tar::Archive::new(data);
        if let Ok(entries) = archive.entries() {
            for entry in entries {
                let Ok(mut entry) = entry else { break };
                let Ok(path) = entry.path().map(|p| p.into_owned()) else {
                    break;
                };
                assert!(inside(&path, &roots), "accepted entry {path:?} escapes");
                if let Ok(Some(link)) = entry.link_name() {
                    let kind = entry.header().entry_type();
                    if kind.is_symlink() || kind.is_hard_link() {
                        let target = if link.is_absolute() {
                            link.strip_prefix("/").unwrap_or(&link).to_path_buf()
                        } else if kind.is_hard_link() {
                            link.to_path_buf()
                        } else {
                            path.parent().unwrap_or(Path::new("")).join(&link)
                        };
                        assert!(
                            inside(&target, &roots),
                            "accepted link {path:?} -> {link:?} escapes"
                        );
                    }
                }
                let _ = std::io::copy(&mut entry.by_ref(), &mut std::io::sink());
            }
        }
    }
    // 2. Single entries: the first half of the input is a path, the rest a link target.
    let split = data.len() / 2;
    let path = Path::new(std::str::from_utf8(&data[..split]).unwrap_or("x"));
    let link = std::str::from_utf8(&data[split..]).ok().map(Path::new);
    for kind in [
        tar::EntryType::Regular,
        tar::EntryType::Symlink,
        tar::EntryType::Link,
    ] {
        let mut links = BTreeSet::new();
        if let Ok(normal) = check_entry(path, kind, link, &roots, &mut links) {
            assert!(inside(path, &roots), "accepted {path:?} escapes");
            assert!(inside(&normal, &roots), "normalised {normal:?} escapes");
        }
    }
});
