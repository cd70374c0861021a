//! The file-storage and secrets sources: a tar stream of the configured roots. Each entry is
//! stored under its absolute path minus the leading `/`, as GNU tar does, so `tar -xf` into `/`
//! (or any scratch directory) puts it back. An unreadable file fails the stream with its path.
//! A file with several names in the tree is stored once; its other names become hard-link
//! entries to the first, so a restore brings back one inode, not copies.
//!
//! Symlinks: a configured root (a files root or a secret) that is a symlink is followed, and
//! only there: `/srv/app/uploads -> /mnt/data/uploads` is stored as the directory it points to,
//! under `srv/app/uploads/`, and Let's Encrypt's `live/example.com/privkey.pem ->
//! ../../archive/example.com/privkey1.pem` as the key itself, a regular file under the
//! configured name. Storing the link would lose the key on a new host (a dangling link), and
//! entries below a stored link are refused on restore. What each root pointed to is recorded
//! in the manifest (`followed_links`). Links inside a tree stay links, never followed.
//!
//! What cannot be backed up meaningfully is skipped or flagged through `warn`, never silently:
//! roots on kernel filesystems (/proc, /sys, /dev, and such mounts met inside a tree), sockets,
//! FIFOs and device nodes, and a file that changed while it was read (GNU tar's "file changed
//! as we read it": its size or modification time after reading differs from before). A file
//! that shrinks is padded with zeros, one that grows is cut at the size in its header, as GNU
//! tar does, so the archive stays valid either way.

use crate::storage::manifest::FollowedLink;
use std::collections::hash_map::{Entry, HashMap};
use std::fs::{File, FileType, Metadata};
use std::io::{self, Read, Write};
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Totals from a metadata-only walk, for the progress estimate and the guided backup.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct TreeSize {
    pub files: u64,
    pub bytes: u64,
}

fn describe(path: &Path, e: io::Error) -> io::Error {
    io::Error::new(e.kind(), format!("cannot read {}: {e}", path.display()))
}

/// Kernel filesystems whose files are views of the running system, not data (statfs f_type).
const KERNEL_FILESYSTEMS: &[(i64, &str)] = &[
    (0x9fa0, "procfs"),
    (0x6265_6572, "sysfs"),
    (0x1cd1, "devpts"),
    (0x0027_e0eb, "cgroup"),
    (0x6367_7270, "cgroup2"),
    (0x6462_6720, "debugfs"),
    (0x7472_6163, "tracefs"),
    (0x7363_6673, "securityfs"),
    (0xcafe_4a11, "bpf"),
    (0x6e73_6673, "nsfs"),
    (0x6165_676c, "pstore"),
    (0x6265_6570, "configfs"),
    (0x1980_0202, "mqueue"),
    (0x4249_4e4d, "binfmt_misc"),
    (0x6573_5543, "fusectl"),
];

/// Why nothing under `path` can be backed up meaningfully, if so: it is on a kernel
/// filesystem (by statfs, so a bind mount elsewhere is caught too), or under /dev, whose
/// devtmpfs carries the same magic as any tmpfs, so the path tells instead.
pub fn special_filesystem(path: &Path) -> Option<String> {
    let c_path = std::ffi::CString::new(path.as_os_str().as_encoded_bytes()).ok()?;
    let mut buf = std::mem::MaybeUninit::<libc::statfs>::zeroed();
    // SAFETY: statfs writes into `buf`, which is large enough for a `struct statfs`, and reads
    // the NUL-terminated path; the result is used only when the call succeeded.
    let rc = unsafe { libc::statfs(c_path.as_ptr(), buf.as_mut_ptr()) };
    if rc == 0 {
        // SAFETY: statfs returned 0, so it filled the struct.
        // f_type is a long on glibc and an unsigned int on musl; either way the magic is its
        // low 32 bits.
        #[allow(clippy::useless_conversion)]
        let kind = i64::from(unsafe { buf.assume_init() }.f_type) & 0xffff_ffff;
        if let Some((_, name)) = KERNEL_FILESYSTEMS.iter().find(|(magic, _)| *magic == kind) {
            return Some(format!(
                "on {name}, a kernel filesystem whose files are views of the running system, not data"
            ));
        }
    }
    let real = std::fs::canonicalize(path).ok()?;
    (real.starts_with("/dev") && !real.starts_with("/dev/shm"))
        .then(|| "under /dev: device nodes and kernel interfaces, not data".to_string())
}

/// The configured roots that are symlinks, and what each pointed to when read.
pub fn followed_links(roots: &[PathBuf]) -> Vec<FollowedLink> {
    roots
        .iter()
        .filter(|root| root.symlink_metadata().is_ok_and(|m| m.is_symlink()))
        .filter_map(|root| {
            let link = std::fs::read_link(root).ok()?;
            Some(FollowedLink {
                path: root.display().to_string(),
                link: link.display().to_string(),
                target: std::fs::canonicalize(root)
                    .map(|t| t.display().to_string())
                    .unwrap_or_default(),
            })
        })
        .collect()
}

/// What a restore does with each followed link, for its plan: the configured path comes back
/// as what it pointed to, not as a link (the link's target may not exist on a new host).
pub fn restored_links(links: &[FollowedLink]) -> Vec<String> {
    links
        .iter()
        .map(|l| {
            format!(
                "{} was a symlink to {} when backed up: it comes back as what that held (a regular file or directory), not as a link; if the application needs the link, put the target in place and replace {} with `ln -s {} {}`",
                l.path, l.link, l.path, l.link, l.path
            )
        })
        .collect()
}

/// One entry of a root's walk.
struct Item<'a> {
    path: &'a Path,
    /// The root's own entry (followed if it is a symlink).
    is_root: bool,
    file_type: FileType,
    /// Before reading: the root's target's, any other entry's own (lstat).
    meta: Metadata,
}

/// Walks one root in archive order: the root followed if it is a symlink, links below it not;
/// a root or a mount inside it on a special filesystem is skipped and reported to `warn`.
fn walk_root(
    root: &Path,
    stop: Option<&AtomicBool>,
    warn: &dyn Fn(String),
    mut each: impl FnMut(Item<'_>) -> io::Result<()>,
) -> io::Result<()> {
    if !root.is_absolute() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{} is not an absolute path", root.display()),
        ));
    }
    let own = std::fs::symlink_metadata(root).map_err(|e| describe(root, e))?;
    let target = std::fs::metadata(root).map_err(|e| {
        if own.is_symlink() {
            let to = std::fs::read_link(root).unwrap_or_default();
            io::Error::new(
                e.kind(),
                format!(
                    "cannot read {}: it is a symlink to {}, which cannot be read: {e}",
                    root.display(),
                    to.display()
                ),
            )
        } else {
            describe(root, e)
        }
    })?;
    if let Some(why) = special_filesystem(root) {
        warn(format!(
            "skipped {}: it is {why}; remove it from [source]",
            root.display()
        ));
        return Ok(());
    }
    // Each filesystem met in the tree is looked at once, at its first directory (its mount).
    let mut seen_devices = std::collections::HashSet::from([target.dev()]);
    let mut walker = walkdir::WalkDir::new(root)
        .follow_links(false)
        .sort_by_file_name()
        .into_iter();
    while let Some(entry) = walker.next() {
        if stop.is_some_and(|s| s.load(Ordering::Relaxed)) {
            return Err(io::Error::new(io::ErrorKind::Interrupted, "cancelled"));
        }
        let entry = entry.map_err(|e| {
            let path = e.path().unwrap_or(root).to_path_buf();
            describe(&path, e.into())
        })?;
        let is_root = entry.depth() == 0;
        let meta = if is_root {
            target.clone()
        } else {
            entry
                .metadata()
                .map_err(|e| describe(entry.path(), e.into()))?
        };
        let file_type = meta.file_type();
        let mount = file_type.is_dir() && seen_devices.insert(meta.dev());
        if let Some(why) = mount.then(|| special_filesystem(entry.path())).flatten() {
            warn(format!(
                "skipped what is under {}: it is {why}",
                entry.path().display()
            ));
            walker.skip_current_dir();
        }
        each(Item {
            path: entry.path(),
            is_root,
            file_type,
            meta,
        })?;
    }
    Ok(())
}

pub fn measure(roots: &[PathBuf]) -> io::Result<TreeSize> {
    let mut size = TreeSize::default();
    for root in roots {
        walk_root(root, None, &|_| {}, |item| {
            if item.file_type.is_file() {
                size.files += 1;
                size.bytes += item.meta.len();
            }
            Ok(())
        })?;
    }
    Ok(size)
}

fn archive_name(path: &Path) -> PathBuf {
    path.strip_prefix("/").unwrap_or(path).to_path_buf()
}

/// What a file that is neither a regular file, a directory nor a symlink is, for the warning.
fn kind_of(file_type: FileType) -> &'static str {
    if file_type.is_socket() {
        "a socket"
    } else if file_type.is_fifo() {
        "a FIFO (named pipe)"
    } else if file_type.is_char_device() || file_type.is_block_device() {
        "a device node"
    } else {
        "not a regular file, directory or symlink"
    }
}

/// Writes a tar stream of `roots` into `out`. `stop` ends it early (cancellation).
pub fn write_tar(
    roots: &[PathBuf],
    out: &mut dyn Write,
    stop: &Arc<AtomicBool>,
    warn: &dyn Fn(String),
) -> io::Result<()> {
    let mut builder = tar::Builder::new(out);
    builder.follow_symlinks(false);
    builder.mode(tar::HeaderMode::Complete);
    let mut inodes = HardLinks::default();
    for root in roots {
        walk_root(root, Some(stop.as_ref()), warn, |item| {
            let path = item.path;
            let name = archive_name(path);
            if item.file_type.is_dir() {
                // `append_dir` reads the directory's metadata following a link: for the root,
                // what it points to; below it, directories are never links.
                builder
                    .append_dir(&name, path)
                    .map_err(|e| describe(path, e))
            } else if item.file_type.is_symlink() {
                builder
                    .append_path_with_name(path, &name)
                    .map_err(|e| describe(path, e))
            } else if item.file_type.is_file() {
                match inodes.first_name(&item.meta, &name) {
                    Some(first) => append_hard_link(&mut builder, path, &item.meta, &name, &first),
                    None => append_file(&mut builder, path, &name, &item.meta, warn),
                }
            } else {
                let what = if item.is_root { "configured, but " } else { "" };
                warn(format!(
                    "skipped {}: {what}{} (nothing a restore could put back)",
                    path.display(),
                    kind_of(item.file_type)
                ));
                Ok(())
            }
        })?;
    }
    builder.into_inner()?.flush()
}

/// The archive name each multiply-linked inode was first stored under.
#[derive(Default)]
struct HardLinks {
    first: HashMap<(u64, u64), PathBuf>,
}

impl HardLinks {
    /// The name `meta`'s inode was already stored under, if any; otherwise remembers `name`.
    fn first_name(&mut self, meta: &std::fs::Metadata, name: &Path) -> Option<PathBuf> {
        if meta.nlink() < 2 {
            return None;
        }
        match self.first.entry((meta.dev(), meta.ino())) {
            Entry::Occupied(first) if first.get() != name => Some(first.get().clone()),
            // The same path twice (overlapping roots) is stored twice, not linked to itself.
            Entry::Occupied(_) => None,
            Entry::Vacant(slot) => {
                slot.insert(name.to_path_buf());
                None
            }
        }
    }
}

fn append_hard_link(
    builder: &mut tar::Builder<&mut dyn Write>,
    path: &Path,
    meta: &std::fs::Metadata,
    name: &Path,
    first: &Path,
) -> io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_metadata_in_mode(meta, tar::HeaderMode::Complete);
    header.set_entry_type(tar::EntryType::Link);
    header.set_size(0);
    builder
        .append_link(&mut header, name, first)
        .map_err(|e| describe(path, e))
}

/// Stores one file; `before` is its metadata from the walk, to notice a change while reading.
fn append_file(
    builder: &mut tar::Builder<&mut dyn Write>,
    path: &Path,
    name: &Path,
    before: &Metadata,
    warn: &dyn Fn(String),
) -> io::Result<()> {
    let file = File::open(path).map_err(|e| describe(path, e))?;
    let meta = file.metadata().map_err(|e| describe(path, e))?;
    let mut header = tar::Header::new_gnu();
    header.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
    let size = meta.len();
    let mut read = 0u64;
    let reader = CountRead {
        inner: (&file).take(size),
        count: &mut read,
        path,
    };
    // Exactly `size` bytes whatever the file does meanwhile: a grown file is cut at the size
    // the header promises, a shrunk one padded with zeros.
    let body = reader.chain(io::repeat(0)).take(size);
    builder
        .append_data(&mut header, name, body)
        .map_err(|e| describe(path, e))?;
    if read < size {
        warn(format!(
            "{} shrank by {} bytes while being archived; padded with zeros",
            path.display(),
            size - read
        ));
        return Ok(());
    }
    let after = file.metadata().map_err(|e| describe(path, e))?;
    let moved = (before.mtime(), before.mtime_nsec()) != (after.mtime(), after.mtime_nsec());
    if before.len() != after.len() || moved {
        warn(format!(
            "{}: file changed as we read it ({} bytes when listed, {} after reading{}); the stored copy ({size} bytes) may mix old and new contents",
            path.display(),
            before.len(),
            after.len(),
            if moved { ", modified meanwhile" } else { "" }
        ));
    }
    Ok(())
}

struct CountRead<'a, R> {
    inner: R,
    count: &'a mut u64,
    path: &'a Path,
}

impl<R: Read> Read for CountRead<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf).map_err(|e| describe(self.path, e))?;
        *self.count += n as u64;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn archives_files_dirs_and_links_without_following() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("uploads");
        std::fs::create_dir_all(root.join("a/empty")).unwrap();
        std::fs::write(root.join("a/one.txt"), b"one").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("a/link")).unwrap();
        let mut out = Vec::new();
        let stop = Arc::new(AtomicBool::new(false));
        write_tar(std::slice::from_ref(&root), &mut out, &stop, &|_| {}).unwrap();
        let mut archive = tar::Archive::new(&out[..]);
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            let kind = entry.header().entry_type();
            let link = entry.link_name().unwrap().map(|l| l.to_path_buf());
            seen.push((entry.path().unwrap().to_path_buf(), kind, link));
        }
        let base = archive_name(&root);
        assert!(seen
            .iter()
            .any(|(p, k, _)| *p == base.join("a/one.txt") && k.is_file()));
        assert!(seen
            .iter()
            .any(|(p, k, _)| *p == base.join("a/empty") && k.is_dir()));
        assert!(seen.iter().any(|(p, k, l)| *p == base.join("a/link")
            && k.is_symlink()
            && l.as_deref() == Some(Path::new("/etc/passwd"))));
        assert_eq!(measure(&[root]).unwrap(), TreeSize { files: 1, bytes: 3 });
    }

    #[test]
    fn a_file_with_several_names_is_stored_once_and_linked() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("files");
        std::fs::create_dir_all(root.join("sub")).unwrap();
        std::fs::write(root.join("a"), b"shared bytes").unwrap();
        std::fs::hard_link(root.join("a"), root.join("sub/b")).unwrap();
        std::fs::hard_link(root.join("a"), root.join("c")).unwrap();
        let mut out = Vec::new();
        let stop = Arc::new(AtomicBool::new(false));
        // The same root twice stores its files twice, never as links to themselves.
        write_tar(&[root.clone(), root.clone()], &mut out, &stop, &|_| {}).unwrap();
        let mut archive = tar::Archive::new(&out[..]);
        let base = archive_name(&root);
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let entry = entry.unwrap();
            let kind = entry.header().entry_type();
            if kind.is_dir() {
                continue;
            }
            let path = entry
                .path()
                .unwrap()
                .strip_prefix(&base)
                .unwrap()
                .to_path_buf();
            let link = entry.link_name().unwrap().map(|l| l.to_path_buf());
            seen.push((path, kind, entry.size(), link));
        }
        let first = Some(base.join("a"));
        let regular = tar::EntryType::Regular;
        let link = tar::EntryType::Link;
        assert_eq!(
            seen,
            vec![
                (PathBuf::from("a"), regular, 12, None),
                (PathBuf::from("c"), link, 0, first.clone()),
                (PathBuf::from("sub/b"), link, 0, first.clone()),
                (PathBuf::from("a"), regular, 12, None),
                (PathBuf::from("c"), link, 0, first.clone()),
                (PathBuf::from("sub/b"), link, 0, first),
            ]
        );
    }

    /// (path, kind, link target, contents) of every entry.
    fn entries(tar: &[u8]) -> Vec<(PathBuf, tar::EntryType, Option<PathBuf>, Vec<u8>)> {
        let mut archive = tar::Archive::new(tar);
        let mut seen = Vec::new();
        for entry in archive.entries().unwrap() {
            let mut entry = entry.unwrap();
            let kind = entry.header().entry_type();
            let link = entry.link_name().unwrap().map(|l| l.to_path_buf());
            let path = entry.path().unwrap().to_path_buf();
            let mut body = Vec::new();
            entry.read_to_end(&mut body).unwrap();
            seen.push((path, kind, link, body));
        }
        seen
    }

    fn tar_of(roots: &[PathBuf]) -> (Vec<u8>, Vec<String>) {
        let mut out = Vec::new();
        let stop = Arc::new(AtomicBool::new(false));
        let warnings = std::sync::Mutex::new(Vec::new());
        write_tar(roots, &mut out, &stop, &|w| {
            warnings.lock().unwrap().push(w)
        })
        .unwrap();
        (out, warnings.into_inner().unwrap())
    }

    #[test]
    fn a_root_that_is_a_symlink_is_followed_there_and_only_there() {
        let dir = tempfile::tempdir().unwrap();
        // /srv/app/uploads -> /mnt/data/uploads, with a link inside the tree.
        let real = dir.path().join("mnt/data/uploads");
        std::fs::create_dir_all(real.join("2024")).unwrap();
        std::fs::write(real.join("2024/a.txt"), b"upload").unwrap();
        std::os::unix::fs::symlink("2024/a.txt", real.join("latest")).unwrap();
        std::fs::create_dir_all(dir.path().join("srv/app")).unwrap();
        let root = dir.path().join("srv/app/uploads");
        std::os::unix::fs::symlink(&real, &root).unwrap();

        let (tar, warnings) = tar_of(std::slice::from_ref(&root));
        assert!(warnings.is_empty(), "{warnings:?}");
        let base = archive_name(&root);
        let seen = entries(&tar);
        let names: Vec<&PathBuf> = seen.iter().map(|e| &e.0).collect();
        assert!(seen.iter().all(|e| e.0.starts_with(&base)), "{names:?}");
        let root_entry = seen.iter().find(|e| e.0 == base).unwrap();
        assert!(root_entry.1.is_dir(), "the root is stored as a directory");
        let file = seen
            .iter()
            .find(|e| e.0 == base.join("2024/a.txt"))
            .unwrap();
        assert_eq!(
            (file.1, &file.3[..]),
            (tar::EntryType::Regular, &b"upload"[..])
        );
        let inner = seen.iter().find(|e| e.0 == base.join("latest")).unwrap();
        assert!(inner.1.is_symlink());
        assert_eq!(inner.2.as_deref(), Some(Path::new("2024/a.txt")));
        assert_eq!(
            followed_links(std::slice::from_ref(&root)),
            vec![FollowedLink {
                path: root.display().to_string(),
                link: real.display().to_string(),
                target: std::fs::canonicalize(&real).unwrap().display().to_string(),
            }]
        );
        assert_eq!(measure(&[root]).unwrap(), TreeSize { files: 1, bytes: 6 });
    }

    #[test]
    fn a_secret_that_is_a_symlink_is_stored_as_the_file_it_points_to() {
        let dir = tempfile::tempdir().unwrap();
        let le = dir.path().join("letsencrypt");
        std::fs::create_dir_all(le.join("archive/example.com")).unwrap();
        std::fs::create_dir_all(le.join("live/example.com")).unwrap();
        std::fs::write(le.join("archive/example.com/privkey1.pem"), b"KEY").unwrap();
        let live = le.join("live/example.com/privkey.pem");
        std::os::unix::fs::symlink("../../archive/example.com/privkey1.pem", &live).unwrap();

        let (tar, warnings) = tar_of(std::slice::from_ref(&live));
        assert!(warnings.is_empty(), "{warnings:?}");
        let seen = entries(&tar);
        assert_eq!(seen.len(), 1, "{seen:?}");
        assert_eq!(seen[0].0, archive_name(&live));
        assert_eq!(seen[0].1, tar::EntryType::Regular);
        assert_eq!(seen[0].3, b"KEY");
        let links = followed_links(&[live.clone(), le.join("archive")]);
        assert_eq!(links.len(), 1, "only the link is recorded: {links:?}");
        assert_eq!(links[0].link, "../../archive/example.com/privkey1.pem");
        assert!(links[0]
            .target
            .ends_with("archive/example.com/privkey1.pem"));

        // A link that leads nowhere fails the stream, naming both ends.
        std::fs::remove_file(le.join("archive/example.com/privkey1.pem")).unwrap();
        let mut out = Vec::new();
        let stop = Arc::new(AtomicBool::new(false));
        let err = write_tar(std::slice::from_ref(&live), &mut out, &stop, &|_| {})
            .unwrap_err()
            .to_string();
        assert!(err.contains(&live.display().to_string()), "{err}");
        assert!(
            err.contains("../../archive/example.com/privkey1.pem"),
            "{err}"
        );
    }

    #[test]
    fn kernel_filesystems_sockets_and_fifos_are_skipped_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("files");
        std::fs::create_dir(&root).unwrap();
        std::fs::write(root.join("kept"), b"data").unwrap();
        let fifo = root.join("pipe");
        let c = std::ffi::CString::new(fifo.as_os_str().as_encoded_bytes()).unwrap();
        assert_eq!(unsafe { libc::mkfifo(c.as_ptr(), 0o600) }, 0);
        let _socket = std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();

        let roots = vec![
            PathBuf::from("/proc/self/status"),
            root.clone(),
            PathBuf::from("/sys/kernel"),
        ];
        let (tar, warnings) = tar_of(&roots);
        let names: Vec<PathBuf> = entries(&tar).into_iter().map(|e| e.0).collect();
        assert!(
            names.contains(&archive_name(&root.join("kept"))),
            "{names:?}"
        );
        assert!(
            names.iter().all(|n| n.starts_with(archive_name(&root))),
            "nothing from /proc or /sys: {names:?}"
        );
        assert_eq!(warnings.len(), 4, "{warnings:?}");
        assert!(warnings[0].contains("/proc/self/status") && warnings[0].contains("procfs"));
        assert!(warnings[1].contains("pipe") && warnings[1].contains("FIFO"));
        assert!(warnings[2].contains("sock") && warnings[2].contains("socket"));
        assert!(warnings[3].contains("/sys/kernel") && warnings[3].contains("sysfs"));
        assert!(special_filesystem(Path::new("/dev/null")).is_some());
        assert!(special_filesystem(dir.path()).is_none());
        // measure does not walk them either (all of /sys would take a while).
        assert_eq!(measure(&roots).unwrap(), TreeSize { files: 1, bytes: 4 });
    }

    #[test]
    fn a_kernel_filesystem_mounted_inside_a_tree_is_skipped_with_a_warning() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("files");
        std::fs::create_dir_all(root.join("chroot/proc")).unwrap();
        std::fs::write(root.join("chroot/kept"), b"data").unwrap();
        let mountpoint = root.join("chroot/proc");
        let scoped = root.clone();
        // A mount namespace of this thread's own: the procfs mount goes away with the thread.
        let result = std::thread::spawn(move || {
            // SAFETY: unshare and mount with valid NUL-terminated strings; they only change
            // this thread's mount namespace.
            unsafe {
                if libc::unshare(libc::CLONE_NEWNS) != 0 {
                    return None;
                }
                let slash = std::ffi::CString::new("/").unwrap();
                let flags = libc::MS_REC | libc::MS_PRIVATE;
                let private = std::ptr::null();
                libc::mount(private, slash.as_ptr(), private, flags, private.cast());
                let proc = std::ffi::CString::new("proc").unwrap();
                let at = std::ffi::CString::new(mountpoint.as_os_str().as_encoded_bytes()).unwrap();
                if libc::mount(proc.as_ptr(), at.as_ptr(), proc.as_ptr(), 0, private.cast()) != 0 {
                    return None;
                }
            }
            Some(tar_of(std::slice::from_ref(&scoped)))
        })
        .join()
        .unwrap();
        let Some((tar, warnings)) = result else {
            eprintln!("note: no privilege to mount procfs in a mount namespace; the mount-inside-a-tree case was not exercised");
            return;
        };
        let names: Vec<PathBuf> = entries(&tar).into_iter().map(|e| e.0).collect();
        let base = archive_name(&root);
        assert!(names.contains(&base.join("chroot/kept")), "{names:?}");
        assert!(
            names.contains(&base.join("chroot/proc")),
            "the mount point is kept, empty"
        );
        assert!(
            !names
                .iter()
                .any(|n| n.starts_with(base.join("chroot/proc/self"))),
            "nothing from procfs: {names:?}"
        );
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(warnings[0].contains("chroot/proc") && warnings[0].contains("procfs"));
    }

    #[test]
    fn a_file_that_changes_between_listing_and_reading_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("growing.log");
        std::fs::write(&path, b"first line\n").unwrap();
        let listed = std::fs::symlink_metadata(&path).unwrap();
        std::fs::OpenOptions::new()
            .append(true)
            .open(&path)
            .unwrap()
            .write_all(b"second line\n")
            .unwrap();
        let mut out = Vec::new();
        let warnings = std::sync::Mutex::new(Vec::new());
        {
            let mut builder = tar::Builder::new(&mut out as &mut dyn Write);
            append_file(
                &mut builder,
                &path,
                Path::new("growing.log"),
                &listed,
                &|w| warnings.lock().unwrap().push(w),
            )
            .unwrap();
            builder.finish().unwrap();
        }
        let warnings = warnings.into_inner().unwrap();
        assert_eq!(warnings.len(), 1, "{warnings:?}");
        assert!(
            warnings[0].contains("file changed as we read it"),
            "{warnings:?}"
        );
        assert!(
            warnings[0].contains("11 bytes when listed, 23 after"),
            "{warnings:?}"
        );

        // Unchanged: no warning.
        let listed = std::fs::symlink_metadata(&path).unwrap();
        let quiet = std::sync::Mutex::new(Vec::new());
        let mut out = Vec::new();
        let mut builder = tar::Builder::new(&mut out as &mut dyn Write);
        append_file(
            &mut builder,
            &path,
            Path::new("growing.log"),
            &listed,
            &|w| quiet.lock().unwrap().push(w),
        )
        .unwrap();
        assert!(quiet.into_inner().unwrap().is_empty());
    }

    #[test]
    fn a_missing_root_names_its_path() {
        let mut out = Vec::new();
        let stop = Arc::new(AtomicBool::new(false));
        let err = write_tar(
            &[PathBuf::from("/nonexistent/uploads")],
            &mut out,
            &stop,
            &|_| {},
        )
        .unwrap_err();
        assert!(err.to_string().contains("/nonexistent/uploads"), "{err}");
    }
}
