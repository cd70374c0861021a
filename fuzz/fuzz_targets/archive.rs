#![no_main]
//! `archive::list` on arbitrary bytes and `check_entry` on arbitrary paths: never panics, and
//! never accepts an entry (or hard-link target) that normalises outside the archived roots or
//! lies below a symlink entry. Symlinks themselves may point anywhere.
use libfuzzer_sys::fuzz_target;
use lifeboat::storage::archive::{check_entry, list};
use std::collections::BTreeSet;
use std::io::Read;
use std::path::Path;

#[path = "archive_oracle.rs"]
mod archive_oracle;
use archive_oracle::{inside, normal, placed, roots, through};

fuzz_target!(|data: &[u8]| {
    let roots = roots();
    // 1. A whole archive: if it is accepted, every entry (re-read independently) lies inside.
    if list(data, &placed(&roots), false).is_ok() {
        let mut symlinks = BTreeSet::new();
        let mut archive = tar::Archive::new(data);
        if let Ok(entries) = archive.entries() {
            for entry in entries {
                let Ok(mut entry) = entry else { break };
                let Ok(path) = entry.path().map(|p| p.into_owned()) else {
                    break;
                };
                assert!(inside(&path, &roots), "accepted entry {path:?} escapes");
                assert!(
                    through(&path, &symlinks, false).is_none(),
                    "accepted entry {path:?} below a symlink"
                );
                let kind = entry.header().entry_type();
                if let Ok(Some(link)) = entry.link_name() {
                    if kind.is_hard_link() {
                        let target = link.strip_prefix("/").unwrap_or(&link).to_path_buf();
                        assert!(
                            inside(&target, &roots) && through(&target, &symlinks, true).is_none(),
                            "accepted hard link {path:?} -> {link:?} escapes"
                        );
                    }
                }
                if kind.is_symlink() {
                    symlinks.extend(normal(&path));
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
