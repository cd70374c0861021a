//! Reading tar archives safely: every entry is checked before anything is written, and an
//! archive with an entry that could escape its destination (absolute path, `..`, a hard link to
//! outside the restored tree or through a symlink, a device node or FIFO, a path that passes
//! through a symlink) is refused whole, naming the entry.
//!
//! A symlink may point anywhere: it is recreated as a link and never followed while extracting
//! (nothing is written below or through one), and trees really do hold links out of themselves
//! (`shared -> ../../shared`, a dangling `/run/app.sock`). Refusing them would make such a
//! tree's every backup unrestorable.
//!
//! Where entries go is a `storage::roots::Placement`, which the operator's configuration or
//! command line decided, never the archive: entries above a root are skipped, and every path
//! beneath a destination is resolved by `storage::beneath` without following links, so a link
//! already on disk (`uploads/avatars -> /tmp/elsewhere`) stops the restore, naming it. `list`
//! runs the same walk and the same on-disk checks without writing, for the dry run, verify and
//! the drill.

use std::collections::BTreeSet;
use std::io::{self, Read};
use std::path::{Component, Path, PathBuf};

use super::beneath::{Beneath, Found};
use super::roots::Placement;
use super::unpack;
use std::os::fd::OwnedFd;

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("unsafe archive entry `{entry}`: {reason}; nothing was extracted")]
    Unsafe { entry: String, reason: String },
    #[error("the archive is damaged: {0}")]
    Damaged(String),
    #[error("cannot write {path}: {source}")]
    Write { path: PathBuf, source: io::Error },
    /// Something already on disk would take the write elsewhere.
    #[error("refusing to write `{entry}`: {path} {reason}; a restore never writes through a link that is already on disk, wherever it points. Move it away, or restore elsewhere (--files-to DIR)")]
    OnDisk {
        path: String,
        entry: String,
        reason: String,
    },
}

#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Listing {
    pub entries: u64,
    pub files: u64,
    pub bytes: u64,
    /// Destination paths (absolute) that exist already and would be replaced.
    pub existing: Vec<String>,
    /// Directory entries above the roots (`var`, `var/lib`): never applied.
    pub parents_skipped: u64,
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
    // No roots: nothing is inside them (an empty list never means "anywhere").
    if !roots
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
                .is_some_and(|r| roots.iter().any(|root| r.starts_with(root)));
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

/// The disk side of a placement: each root's anchor held open (`None`: it does not exist yet,
/// so nothing beneath it does either), and the last parent directory opened, since archives
/// list a directory's files together.
struct Disk<'p> {
    placement: &'p Placement,
    anchors: Vec<Option<Beneath>>,
    parent: Option<(usize, PathBuf, OwnedFd)>,
}

impl<'p> Disk<'p> {
    /// Opens every anchor; `create` makes missing ones first (they are the operator's paths).
    fn open(placement: &'p Placement, create: bool) -> Result<Disk<'p>, ArchiveError> {
        let mut anchors = Vec::new();
        for root in &placement.roots {
            let write = |source| ArchiveError::Write {
                path: root.anchor.clone(),
                source,
            };
            if create {
                std::fs::create_dir_all(&root.anchor).map_err(write)?;
            }
            anchors.push(match Beneath::open(&root.anchor) {
                Ok(b) => Some(b),
                Err(e) if !create && e.kind() == io::ErrorKind::NotFound => None,
                Err(e) => return Err(write(e)),
            });
        }
        Ok(Disk {
            placement,
            anchors,
            parent: None,
        })
    }

    /// Where an archive path goes: (anchor, path beneath it); `None` for parents of a root.
    fn target(&self, normal: &Path) -> Option<(usize, PathBuf)> {
        let (i, rest) = self.placement.locate(normal)?;
        Some((i, self.placement.roots[i].below.join(rest)))
    }

    /// The full path on disk, for messages and plans.
    fn shown(&self, i: usize, rel: &Path) -> PathBuf {
        self.placement.roots[i].anchor.join(rel)
    }

    /// Why writing `rel` must not happen, when something already on disk is in the way: a
    /// symlink on the way (itself included when `leaf`), or a file where a directory must be.
    fn refusal(&self, i: usize, rel: &Path, leaf: bool, entry: &Path) -> Option<ArchiveError> {
        let base = self.anchors.get(i)?.as_ref()?;
        let check = if leaf { rel } else { rel.parent()? };
        if let Ok(Some(link)) = base.first_symlink(check) {
            let path = self.shown(i, &link);
            let to = std::fs::read_link(&path)
                .map(|t| format!(" (to {})", shown(&t)))
                .unwrap_or_default();
            return Some(ArchiveError::OnDisk {
                path: shown(&path),
                entry: shown(entry),
                reason: format!("is a symlink on disk{to}"),
            });
        }
        match base.dir(rel.parent()?) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Some(ArchiveError::OnDisk {
                path: shown(&self.shown(i, rel.parent()?)),
                entry: shown(entry),
                reason: format!("cannot be the directory the archive needs ({e})"),
            }),
            _ => None,
        }
    }

    /// The parent directory of `rel` beneath anchor `i`, created as needed.
    fn parent_of(&mut self, i: usize, rel: &Path) -> io::Result<&OwnedFd> {
        let parent = rel.parent().unwrap_or(Path::new(""));
        let cached = matches!(&self.parent, Some((j, p, _)) if *j == i && p == parent);
        if !cached {
            let base = self
                .anchors
                .get(i)
                .and_then(Option::as_ref)
                .ok_or_else(|| {
                    io::Error::new(io::ErrorKind::NotFound, "the destination is not open")
                })?;
            let fd = base.make_dirs(parent)?;
            self.parent = Some((i, parent.to_path_buf(), fd));
        }
        match &self.parent {
            Some((_, _, fd)) => Ok(fd),
            None => Err(io::Error::other("no parent directory")),
        }
    }
}

/// Walks the whole archive, checking every entry against `placement`; reports what it holds.
/// With `on_disk`, it also looks at the destinations without changing them: what would be
/// overwritten, and any symlink already on disk on the way to an entry, which makes it fail
/// as the extraction would, before anything is written.
pub fn list(
    input: impl Read,
    placement: &Placement,
    on_disk: bool,
) -> Result<Listing, ArchiveError> {
    let mut archive = tar::Archive::new(input);
    let disk = if on_disk {
        Some(Disk::open(placement, false)?)
    } else {
        None
    };
    let mut existing = Vec::new();
    let mut skipped = 0u64;
    let mut checked: Option<(usize, PathBuf)> = None;
    let mut listing = walk(&mut archive, &placement.archived_roots(), |c| {
        match placement.locate(&c.normal) {
            None => skipped += 1,
            Some(_) => {
                if let Some((disk, (i, rel))) =
                    disk.as_ref().and_then(|d| Some((d, d.target(&c.normal)?)))
                {
                    let leaf = c.kind.is_dir();
                    let parent = (i, rel.parent().unwrap_or(Path::new("")).to_path_buf());
                    if leaf || checked.as_ref() != Some(&parent) {
                        if let Some(refused) = disk.refusal(i, &rel, leaf, &c.path) {
                            return Err(refused);
                        }
                        checked = Some(parent);
                    }
                    let found = disk.anchors[i]
                        .as_ref()
                        .and_then(|b| b.find(&rel).ok())
                        .unwrap_or(Found::Missing);
                    if !leaf && found != Found::Missing {
                        existing.push(shown(&disk.shown(i, &rel)));
                    }
                }
            }
        }
        io::copy(c.entry, &mut io::sink())
            .map(|_| ())
            .map_err(|e| ArchiveError::Damaged(e.to_string()))
    })?;
    listing.existing = existing;
    listing.parents_skipped = skipped;
    Ok(listing)
}

/// Extracts by `placement`, checking each entry again (the archive is read once; a refused
/// entry stops the extraction where it is). Entries above a root are skipped; every path
/// beneath an anchor is resolved without following links (`storage::beneath`). Modes,
/// modification times (whole seconds) and hard links are kept, owners and set-id bits only
/// with `owners`; zero blocks become holes (`storage::unpack`).
pub fn extract(
    input: impl Read,
    placement: &Placement,
    owners: bool,
) -> Result<Listing, ArchiveError> {
    let mut archive = tar::Archive::new(input);
    let mut disk = Disk::open(placement, true)?;
    let mut directories = unpack::Directories::default();
    let mut skipped = 0u64;
    let mut listing = walk(&mut archive, &placement.archived_roots(), |c| {
        let Checked {
            entry,
            path,
            normal,
            kind,
            link,
        } = c;
        let Some((i, rel)) = disk.target(&normal) else {
            skipped += 1;
            return Ok(());
        };
        let failed = |disk: &Disk, e: io::Error| {
            if e.raw_os_error() == Some(libc::ELOOP) {
                if let Some(refused) = disk.refusal(i, &rel, true, &path) {
                    return refused;
                }
            }
            ArchiveError::Write {
                path: disk.shown(i, &rel),
                source: e,
            }
        };
        let stat = unpack::Stat::of(entry.header());
        let Some(name) = rel.file_name().map(|n| n.to_os_string()) else {
            // The anchor itself: only a directory entry fits an existing directory.
            return if kind.is_dir() {
                directories.remember(i, rel.clone(), stat);
                Ok(())
            } else if matches!(
                kind,
                tar::EntryType::GNULongName
                    | tar::EntryType::GNULongLink
                    | tar::EntryType::XHeader
                    | tar::EntryType::XGlobalHeader
            ) {
                Ok(())
            } else {
                Err(failed(
                    &disk,
                    io::Error::new(
                        io::ErrorKind::AlreadyExists,
                        "a directory is there, the archive holds a file",
                    ),
                ))
            };
        };
        // A hard link's target is another entry's archive name, placed like any entry.
        let linked = if kind.is_hard_link() {
            let from = link
                .as_deref()
                .and_then(|l| normalise(l.strip_prefix("/").unwrap_or(l)))
                .and_then(|l| disk.target(&l))
                .and_then(|(j, r)| Some((j, r.parent()?.to_path_buf(), r.file_name()?.to_owned())))
                .ok_or_else(|| ArchiveError::Unsafe {
                    entry: shown(&path),
                    reason: "a hard link to nothing the restore writes".into(),
                })?;
            let base = disk.anchors.get(from.0).and_then(Option::as_ref);
            let dir = base
                .ok_or_else(|| io::Error::from(io::ErrorKind::NotFound))
                .and_then(|b| b.dir(&from.1))
                .map_err(|e| failed(&disk, e))?;
            Some((dir, from.2))
        } else {
            None
        };
        let parent = match disk.parent_of(i, &rel) {
            Ok(fd) => fd,
            Err(e) => return Err(failed(&disk, e)),
        };
        let written = match (kind, &linked, &link) {
            (_, Some((from_dir, from_name)), _) => {
                unpack::hard_link(from_dir, from_name, parent, &name)
            }
            (tar::EntryType::Regular | tar::EntryType::Continuous, ..) => {
                unpack::write_file(parent, &name, entry, stat, owners)
            }
            (tar::EntryType::Directory, ..) => {
                directories.create(parent, &name, i, rel.clone(), stat)
            }
            (tar::EntryType::Symlink, _, Some(points_to)) => {
                unpack::write_symlink(parent, &name, points_to, stat, owners)
            }
            // Extension headers: `tar` has already applied them to the entry they describe.
            _ => Ok(()),
        };
        written.map_err(|e| failed(&disk, e))
    })?;
    directories
        .finish(&disk.anchors, owners)
        .map_err(|(path, source)| ArchiveError::Write { path, source })?;
    listing.parents_skipped = skipped;
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

    /// The root `/var/lib/app/uploads`, its tree extracted under `dir` (as `--files-to`).
    fn under(dir: &Path) -> Placement {
        Placement::under(
            super::super::manifest::ComponentKind::Files,
            &[PathBuf::from("var/lib/app/uploads")],
            dir,
        )
    }

    fn nowhere() -> Placement {
        under(Path::new("/nonexistent/lifeboat-test"))
    }

    #[test]
    fn extracts_a_normal_archive_with_modes() {
        let data = archive(|b| {
            file(b, "var/lib/app/uploads/a.txt", b"hello");
            link(b, "var/lib/app/uploads/current", "a.txt");
        });
        let dir = tempfile::tempdir().unwrap();
        let listing = extract(&data[..], &under(dir.path()), false).unwrap();
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
            let err = list(&data[..], &nowhere(), false).unwrap_err().to_string();
            assert!(err.contains(reason), "{err} should mention {reason}");
            assert!(extract(&data[..], &under(dir.path()), false).is_err());
            assert!(!dir.path().join("etc").exists());
        }
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Char);
        h.set_size(0);
        let data = archive(|b| {
            b.append_data(&mut h, "var/lib/app/uploads/tty", io::empty())
                .unwrap()
        });
        assert!(list(&data[..], &nowhere(), false)
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
        let listing = extract(&data[..], &under(dir.path()), false).unwrap();
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
        extract(&data[..], &under(dir.path()), false).unwrap();
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
        let listing = list(&data[..], &under(dir.path()), true).unwrap();
        assert_eq!(
            listing.existing,
            vec![format!(
                "{}/var/lib/app/uploads/ok\\n✓ all good\\u{{1b}}[2J\\t.txt",
                dir.path().display()
            )]
        );
        let hostile = archive(|b| file(b, "etc/\u{1b}]0;owned\u{7}", b"x"));
        let err = list(&hostile[..], &nowhere(), false)
            .unwrap_err()
            .to_string();
        assert!(err.contains("etc/\\u{1b}]0;owned\\u{7}"), "{err}");
        assert!(!err.contains('\u{1b}'), "{err:?}");
    }

    #[test]
    fn reports_what_would_be_overwritten() {
        let data = archive(|b| file(b, "var/lib/app/uploads/a.txt", b"hello"));
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("var/lib/app/uploads")).unwrap();
        std::fs::write(dir.path().join("var/lib/app/uploads/a.txt"), b"old").unwrap();
        let listing = list(&data[..], &under(dir.path()), true).unwrap();
        assert_eq!(
            listing.existing,
            vec![dir
                .path()
                .join("var/lib/app/uploads/a.txt")
                .display()
                .to_string()]
        );
    }

    fn dir_entry(b: &mut tar::Builder<Vec<u8>>, path: &str, mode: u32) {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_size(0);
        h.set_mode(mode);
        h.set_mtime(1_000_000_000);
        h.set_uid(4321);
        b.append_data(&mut h, path, io::empty()).unwrap();
    }

    /// `var`, `var/lib`, `var/lib/app` above the root are never applied to what is on disk.
    #[test]
    fn entries_above_a_root_change_nothing() {
        use std::os::unix::fs::{MetadataExt, PermissionsExt};
        let data = archive(|b| {
            dir_entry(b, "var", 0o777);
            dir_entry(b, "var/lib", 0o777);
            dir_entry(b, "var/lib/app", 0o777);
            dir_entry(b, "var/lib/app/uploads", 0o750);
            file(b, "var/lib/app/uploads/a.txt", b"hello");
        });
        let dir = tempfile::tempdir().unwrap();
        let var = dir.path().join("var");
        std::fs::create_dir(&var).unwrap();
        std::fs::set_permissions(&var, std::fs::Permissions::from_mode(0o755)).unwrap();
        let before = std::fs::metadata(&var).unwrap();
        let listing = extract(&data[..], &under(dir.path()), false).unwrap();
        assert_eq!(listing.parents_skipped, 3);
        let after = std::fs::metadata(&var).unwrap();
        assert_eq!(after.mode(), before.mode());
        assert_eq!(after.mtime(), before.mtime());
        assert_eq!(after.uid(), before.uid());
        // New parents are plain directories; the root itself gets its entry's metadata.
        let app = std::fs::metadata(dir.path().join("var/lib/app")).unwrap();
        assert_ne!(app.mode() & 0o777, 0o777);
        assert_ne!(app.mtime(), 1_000_000_000);
        let root = std::fs::metadata(dir.path().join("var/lib/app/uploads")).unwrap();
        assert_eq!((root.mode() & 0o7777, root.mtime()), (0o750, 1_000_000_000));
    }

    /// A link planted on disk inside the root, pointing out: the dry run and the extraction
    /// both stop naming it, and nothing lands where it points.
    #[test]
    fn a_symlink_already_on_disk_is_never_followed() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        let uploads = dir.path().join("var/lib/app/uploads");
        std::fs::create_dir_all(&uploads).unwrap();
        std::os::unix::fs::symlink(outside.path(), uploads.join("avatars")).unwrap();
        let with_dir = archive(|b| {
            dir_entry(b, "var/lib/app/uploads/avatars", 0o777);
            file(b, "var/lib/app/uploads/avatars/x", b"planted");
        });
        let without_dir = archive(|b| file(b, "var/lib/app/uploads/avatars/x", b"planted"));
        for data in [with_dir, without_dir] {
            let err = list(&data[..], &under(dir.path()), true)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("{}/avatars", uploads.display())),
                "{err}"
            );
            assert!(err.contains("symlink on disk"), "{err}");
            assert!(list(&data[..], &under(dir.path()), false).is_ok());
            let err = extract(&data[..], &under(dir.path()), false)
                .unwrap_err()
                .to_string();
            assert!(
                err.contains(&format!("{}/avatars", uploads.display())),
                "{err}"
            );
            assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none());
        }
        // Where the archive has a file, the link is replaced, not written through.
        let target = outside.path().join("keep");
        std::fs::write(&target, b"keep").unwrap();
        std::os::unix::fs::symlink(&target, uploads.join("file")).unwrap();
        let data = archive(|b| file(b, "var/lib/app/uploads/file", b"restored"));
        let listing = list(&data[..], &under(dir.path()), true).unwrap();
        assert_eq!(listing.existing.len(), 1);
        extract(&data[..], &under(dir.path()), false).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"keep");
        assert_eq!(std::fs::read(uploads.join("file")).unwrap(), b"restored");
    }

    #[test]
    fn no_roots_means_nothing_is_inside() {
        let data = archive(|b| file(b, "var/lib/app/uploads/a.txt", b"x"));
        let none = Placement {
            kind: super::super::manifest::ComponentKind::Files,
            roots: Vec::new(),
        };
        let err = list(&data[..], &none, false).unwrap_err().to_string();
        assert!(err.contains("outside the archived roots"), "{err}");
    }
}
