//! Reading tar archives safely: every entry is checked before anything is written, and an
//! archive with an entry that could escape its destination (absolute path, `..`, a hard link to
//! outside the restored tree or through a symlink, a device node or FIFO, a path that passes
//! through a symlink) is refused whole, naming the entry.
//!
//! A symlink may point anywhere: it is recreated as a link and never followed while extracting
//! (nothing is written below or through one), and trees really do hold links out of themselves
//! (`shared -> ../../shared`, a dangling `/run/app.sock`). Refusing them would make such a
//! tree's every backup unrestorable.

use std::collections::BTreeSet;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use super::unpack;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("unsafe archive entry `{entry}`: {reason}; nothing was extracted")]
    Unsafe { entry: String, reason: String },
    #[error("the archive is damaged: {0}")]
    Damaged(String),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Listing {
    pub entries: u64,
    pub files: u64,
    pub bytes: u64,
    /// Entry paths (relative, as stored) that already exist under the destination.
    pub existing: Vec<String>,
}

/// An entry's path for messages and plans: lossy UTF-8 with control characters escaped, so a
/// name holding a newline or a terminal escape sequence cannot forge lines or reach the screen.
fn shown(path: &Path) -> String {
    path.to_string_lossy()
        .chars()
        .map(|c| {
            if c.is_control() {
                c.escape_default().to_string()
            } else {
                c.to_string()
            }
        })
        .collect()
}

/// Lexically normalises a relative path; `None` if it climbs above its start.
fn normalise(path: &Path) -> Option<PathBuf> {
    let mut out = PathBuf::new();
    for c in path.components() {
        match c {
            Component::Normal(p) => out.push(p),
            Component::CurDir => {}
            Component::ParentDir => {
                if !out.pop() {
                    return None;
                }
            }
            Component::RootDir | Component::Prefix(_) => return None,
        }
    }
    Some(out)
}

/// Checks one entry. `roots` are the archive's top-level trees (relative, as stored: the
/// original absolute paths minus the leading `/`); links must resolve inside one of them.
/// `links` collects symlink entries seen so far, to refuse a path through one of them.
pub fn check_entry(
    path: &Path,
    kind: tar::EntryType,
    link: Option<&Path>,
    roots: &[PathBuf],
    links: &mut BTreeSet<PathBuf>,
) -> Result<PathBuf, ArchiveError> {
    let entry = shown(path);
    let unsafe_ = |reason: &str| ArchiveError::Unsafe {
        entry: entry.clone(),
        reason: reason.to_string(),
    };
    if path.is_absolute() {
        return Err(unsafe_("absolute path"));
    }
    if path.components().any(|c| matches!(c, Component::ParentDir)) {
        return Err(unsafe_("`..` in the path"));
    }
    let normal = normalise(path).ok_or_else(|| unsafe_("climbs out of the destination"))?;
    if !roots.is_empty()
        && !roots
            .iter()
            .any(|r| normal.starts_with(r) || r.starts_with(&normal))
    {
        return Err(unsafe_("outside the archived roots"));
    }
    if let Some(through) = normal.ancestors().skip(1).find(|a| links.contains(*a)) {
        return Err(unsafe_(&format!(
            "its parent {} is a symlink in the archive",
            through.display()
        )));
    }
    match kind {
        tar::EntryType::Regular
        | tar::EntryType::Continuous
        | tar::EntryType::Directory
        | tar::EntryType::GNULongName
        | tar::EntryType::GNULongLink
        | tar::EntryType::XHeader
        | tar::EntryType::XGlobalHeader => {}
        tar::EntryType::Symlink => {
            link.ok_or_else(|| unsafe_("a link without a target"))?;
            links.insert(normal.clone());
        }
        tar::EntryType::Link => {
            let target = link.ok_or_else(|| unsafe_("a link without a target"))?;
            // A hard link's target is another entry's name, relative to the destination.
            let resolved = normalise(target.strip_prefix("/").unwrap_or(target));
            let inside = resolved
                .as_ref()
                .is_some_and(|r| roots.is_empty() || roots.iter().any(|root| r.starts_with(root)));
            if !inside {
                return Err(unsafe_(&format!(
                    "a hard link to {} points out of the restored tree",
                    target.display()
                )));
            }
            if let Some(via) = resolved
                .iter()
                .flat_map(|r| r.ancestors())
                .find(|a| links.contains(*a))
            {
                return Err(unsafe_(&format!(
                    "a hard link to {} goes through the symlink {} in the archive",
                    target.display(),
                    via.display()
                )));
            }
        }
        other => {
            return Err(unsafe_(&format!(
                "a {other:?} entry (device nodes and FIFOs are never restored)"
            )))
        }
    }
    Ok(normal)
}

/// One checked entry, handed to the caller of `walk`.
struct Checked<'a, 'e, R: Read> {
    entry: &'a mut tar::Entry<'e, R>,
    /// The path as stored.
    path: PathBuf,
    /// The path, normalised (checked to stay inside the roots).
    normal: PathBuf,
    kind: tar::EntryType,
    link: Option<PathBuf>,
}

/// Reads every entry, checks it, counts it, and hands it to `each`. Any unsafe entry stops the
/// walk with an error naming it.
fn walk<R: Read>(
    archive: &mut tar::Archive<R>,
    roots: &[PathBuf],
    mut each: impl FnMut(Checked<'_, '_, R>) -> Result<(), ArchiveError>,
) -> Result<Listing, ArchiveError> {
    let damaged = |e: io::Error| ArchiveError::Damaged(e.to_string());
    let mut links = BTreeSet::new();
    let mut listing = Listing::default();
    for entry in archive.entries().map_err(damaged)? {
        let mut entry = entry.map_err(damaged)?;
        let path = entry.path().map_err(damaged)?.into_owned();
        let link = entry.link_name().map_err(damaged)?.map(|l| l.into_owned());
        let kind = entry.header().entry_type();
        let normal = check_entry(&path, kind, link.as_deref(), roots, &mut links)?;
        listing.entries += 1;
        if kind.is_file() {
            listing.files += 1;
            listing.bytes += entry.size();
        }
        each(Checked {
            entry: &mut entry,
            path,
            normal,
            kind,
            link,
        })?;
    }
    Ok(listing)
}

/// Walks the whole archive, checking every entry; reports what it holds and what would be
/// overwritten under `dest` (if given).
pub fn list(
    input: impl Read,
    roots: &[PathBuf],
    dest: Option<&Path>,
) -> Result<Listing, ArchiveError> {
    let mut archive = tar::Archive::new(input);
    let mut existing = Vec::new();
    let mut listing = walk(&mut archive, roots, |c| {
        if let Some(dest) = dest {
            if !c.kind.is_dir() && dest.join(&c.normal).symlink_metadata().is_ok() {
                existing.push(shown(&c.normal));
            }
        }
        io::copy(c.entry, &mut io::sink())
            .map(|_| ())
            .map_err(|e| ArchiveError::Damaged(e.to_string()))
    })?;
    listing.existing = existing;
    Ok(listing)
}

/// Extracts into `dest`, checking each entry again (the archive is read once; a refused entry
/// stops the extraction where it is). Modes, modification times (whole seconds), hard links
/// and, when running as root, owners are kept; zero blocks become holes (`storage::unpack`).
pub fn extract(input: impl Read, roots: &[PathBuf], dest: &Path) -> Result<Listing, ArchiveError> {
    let mut archive = tar::Archive::new(input);
    let owners = unpack::restores_owners();
    let mut directories = unpack::Directories::default();
    let listing = walk(&mut archive, roots, |c| {
        let Checked {
            entry,
            path,
            normal,
            kind,
            link,
        } = c;
        let target = dest.join(&normal);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent).map_err(|source| ArchiveError::Write {
                path: parent.to_path_buf(),
                source,
            })?;
        }
        // A symlink being replaced must go first, or the write would follow it.
        if let Ok(meta) = target.symlink_metadata() {
            if meta.file_type().is_symlink() {
                let _ = std::fs::remove_file(&target);
            }
        }
        // A hard link's target is another entry's archive name: the one extracted under `dest`.
        if kind.is_hard_link() {
            let linked = link
                .as_deref()
                .and_then(|l| normalise(l.strip_prefix("/").unwrap_or(l)))
                .map(|l| dest.join(l))
                .ok_or_else(|| ArchiveError::Unsafe {
                    entry: shown(&path),
                    reason: "a link without a target".into(),
                })?;
            if target.symlink_metadata().is_ok_and(|m| !m.is_dir()) {
                let _ = std::fs::remove_file(&target);
            }
            return std::fs::hard_link(&linked, &target).map_err(|source| ArchiveError::Write {
                path: target.clone(),
                source,
            });
        }
        let write_error = |source| ArchiveError::Write {
            path: target.clone(),
            source,
        };
        let stat = unpack::Stat::of(entry.header());
        match kind {
            tar::EntryType::Regular | tar::EntryType::Continuous => {
                unpack::write_file(&target, entry, stat, owners)
            }
            tar::EntryType::Directory => directories.create(&target, stat),
            tar::EntryType::Symlink => match &link {
                Some(points_to) => unpack::write_symlink(&target, points_to, stat, owners),
                None => Ok(()),
            },
            // Extension headers: `tar` has already applied them to the entry they describe.
            _ => Ok(()),
        }
        .map_err(write_error)
    })?;
    directories
        .finish(owners)
        .map_err(|(path, source)| ArchiveError::Write { path, source })?;
    Ok(listing)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
        let mut b = tar::Builder::new(Vec::new());
        build(&mut b);
        b.into_inner().unwrap()
    }

    fn file(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
        let mut h = tar::Header::new_gnu();
        h.set_size(data.len() as u64);
        h.set_mode(0o640);
        h.set_entry_type(tar::EntryType::Regular);
        // set_path refuses `..`; write the raw name to build hostile archives.
        let name = path.as_bytes();
        h.as_old_mut().name[..name.len()].copy_from_slice(name);
        h.set_cksum();
        b.append(&h, data).unwrap();
    }

    fn link(b: &mut tar::Builder<Vec<u8>>, path: &str, target: &str) {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Symlink);
        h.set_size(0);
        b.append_link(&mut h, path, target).unwrap();
    }

    fn hard_link(b: &mut tar::Builder<Vec<u8>>, path: &str, target: &str) {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Link);
        h.set_size(0);
        b.append_link(&mut h, path, target).unwrap();
    }

    fn roots() -> Vec<PathBuf> {
        vec![PathBuf::from("var/lib/app/uploads")]
    }

    #[test]
    fn extracts_a_normal_archive_with_modes() {
        let data = archive(|b| {
            file(b, "var/lib/app/uploads/a.txt", b"hello");
            link(b, "var/lib/app/uploads/current", "a.txt");
        });
        let dir = tempfile::tempdir().unwrap();
        let listing = extract(&data[..], &roots(), dir.path()).unwrap();
        assert_eq!(listing.files, 1);
        let a = dir.path().join("var/lib/app/uploads/a.txt");
        assert_eq!(std::fs::read(&a).unwrap(), b"hello");
        use std::os::unix::fs::PermissionsExt;
        assert_eq!(
            std::fs::metadata(&a).unwrap().permissions().mode() & 0o777,
            0o640
        );
        assert_eq!(
            std::fs::read_link(dir.path().join("var/lib/app/uploads/current")).unwrap(),
            PathBuf::from("a.txt")
        );
    }

    #[test]
    fn refuses_hostile_entries_naming_them() {
        let cases: Vec<(Vec<u8>, &str)> = vec![
            (
                archive(|b| file(b, "var/lib/app/uploads/../../../../etc/passwd", b"x")),
                "`..`",
            ),
            (archive(|b| file(b, "/etc/passwd", b"x")), "absolute"),
            (
                archive(|b| {
                    link(b, "var/lib/app/uploads/evil", "/etc");
                    file(b, "var/lib/app/uploads/evil/cron.d/job", b"x");
                }),
                "is a symlink",
            ),
            (
                archive(|b| {
                    link(b, "var/lib/app/uploads/evil", "../../../../etc");
                    hard_link(
                        b,
                        "var/lib/app/uploads/shadow",
                        "var/lib/app/uploads/evil/shadow",
                    );
                }),
                "through the symlink",
            ),
            (
                archive(|b| hard_link(b, "var/lib/app/uploads/shadow", "etc/shadow")),
                "points out",
            ),
            (
                archive(|b| {
                    link(b, "var/lib/app/uploads/sub", "inner");
                    file(b, "var/lib/app/uploads/sub/x", b"x");
                }),
                "is a symlink",
            ),
            (
                archive(|b| file(b, "etc/cron.d/job", b"x")),
                "outside the archived roots",
            ),
        ];
        for (data, reason) in cases {
            let dir = tempfile::tempdir().unwrap();
            let err = list(&data[..], &roots(), None).unwrap_err().to_string();
            assert!(err.contains(reason), "{err} should mention {reason}");
            assert!(extract(&data[..], &roots(), dir.path()).is_err());
            assert!(!dir.path().join("etc").exists());
        }
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Char);
        h.set_size(0);
        let data = archive(|b| {
            b.append_data(&mut h, "var/lib/app/uploads/tty", io::empty())
                .unwrap()
        });
        assert!(list(&data[..], &roots(), None)
            .unwrap_err()
            .to_string()
            .contains("device"));
    }

    #[test]
    fn symlinks_out_of_the_tree_are_restored_as_links_and_never_followed() {
        let data = archive(|b| {
            link(b, "var/lib/app/uploads/shared", "../../shared/uploads");
            link(b, "var/lib/app/uploads/socket", "/run/app.sock");
            file(b, "var/lib/app/uploads/a.txt", b"hello");
        });
        let dir = tempfile::tempdir().unwrap();
        let listing = extract(&data[..], &roots(), dir.path()).unwrap();
        assert_eq!((listing.entries, listing.files), (3, 1));
        let base = dir.path().join("var/lib/app/uploads");
        assert_eq!(
            std::fs::read_link(base.join("shared")).unwrap(),
            PathBuf::from("../../shared/uploads")
        );
        assert_eq!(
            std::fs::read_link(base.join("socket")).unwrap(),
            PathBuf::from("/run/app.sock")
        );
        assert!(!dir.path().join("var/lib/shared").exists());
    }

    #[test]
    fn hard_links_resolve_inside_the_destination() {
        let data = archive(|b| {
            file(b, "var/lib/app/uploads/a.txt", b"hello");
            let mut h = tar::Header::new_gnu();
            h.set_entry_type(tar::EntryType::Link);
            h.set_size(0);
            b.append_link(
                &mut h,
                "var/lib/app/uploads/b.txt",
                "var/lib/app/uploads/a.txt",
            )
            .unwrap();
        });
        let dir = tempfile::tempdir().unwrap();
        extract(&data[..], &roots(), dir.path()).unwrap();
        use std::os::unix::fs::MetadataExt;
        let a = std::fs::metadata(dir.path().join("var/lib/app/uploads/a.txt")).unwrap();
        let b = std::fs::metadata(dir.path().join("var/lib/app/uploads/b.txt")).unwrap();
        assert_eq!(
            a.ino(),
            b.ino(),
            "b.txt is a hard link to the extracted a.txt"
        );
    }

    #[test]
    fn names_in_messages_and_plans_cannot_forge_lines_or_reach_the_terminal() {
        let name = "var/lib/app/uploads/ok\n✓ all good\u{1b}[2J\t.txt";
        let data = archive(|b| file(b, name, b"x"));
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("var/lib/app/uploads")).unwrap();
        std::fs::write(dir.path().join(name), b"old").unwrap();
        let listing = list(&data[..], &roots(), Some(dir.path())).unwrap();
        assert_eq!(
            listing.existing,
            vec!["var/lib/app/uploads/ok\\n✓ all good\\u{1b}[2J\\t.txt".to_string()]
        );
        let hostile = archive(|b| file(b, "etc/\u{1b}]0;owned\u{7}", b"x"));
        let err = list(&hostile[..], &roots(), None).unwrap_err().to_string();
        assert!(err.contains("etc/\\u{1b}]0;owned\\u{7}"), "{err}");
        assert!(!err.contains('\u{1b}'), "{err:?}");
    }

    #[test]
    fn reports_what_would_be_overwritten() {
        let data = archive(|b| file(b, "var/lib/app/uploads/a.txt", b"hello"));
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("var/lib/app/uploads")).unwrap();
        std::fs::write(dir.path().join("var/lib/app/uploads/a.txt"), b"old").unwrap();
        let listing = list(&data[..], &roots(), Some(dir.path())).unwrap();
        assert_eq!(
            listing.existing,
            vec!["var/lib/app/uploads/a.txt".to_string()]
        );
    }
}
