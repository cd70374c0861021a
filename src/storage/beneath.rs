//! Paths beneath a directory the operator chose, resolved by the kernel without following any
//! symlink: `openat2` with `RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS` for every lookup, then
//! `*at` calls on the parent's descriptor for the last name. A link already on disk anywhere
//! below the anchor (planted by a local user, or left by an older layout) stops the lookup with
//! `ELOOP` instead of taking the restore somewhere else, wherever it points. No string checks:
//! the kernel decides.

use rustix::fs::{openat2, statat, AtFlags, FileType, Mode, OFlags, ResolveFlags};
use std::ffi::OsStr;
use std::io;
use std::os::fd::OwnedFd;
use std::path::{Component, Path, PathBuf};

const RESOLVE: ResolveFlags = ResolveFlags::BENEATH
    .union(ResolveFlags::NO_SYMLINKS)
    .union(ResolveFlags::NO_MAGICLINKS);
/// New intermediate directories: what `mkdir -p` gives them (the umask applies).
const NEW_PARENT_MODE: u32 = 0o777;

/// What is on disk at a path beneath the anchor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Found {
    Missing,
    Directory,
    Symlink,
    Other,
}

/// A directory the operator chose, held open; every path handed to it is relative to it.
#[derive(Debug)]
pub struct Beneath {
    dir: OwnedFd,
    path: PathBuf,
}

/// `""` is the anchor itself.
fn dot(rel: &Path) -> &Path {
    if rel.as_os_str().is_empty() {
        Path::new(".")
    } else {
        rel
    }
}

impl Beneath {
    /// Opens `path` (following links: the operator named it).
    pub fn open(path: &Path) -> io::Result<Beneath> {
        let dir = rustix::fs::open(
            path,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )?;
        Ok(Beneath {
            dir,
            path: path.to_path_buf(),
        })
    }

    /// The full path of `rel`, for messages.
    pub fn shown(&self, rel: &Path) -> PathBuf {
        self.path.join(rel)
    }

    /// Opens the directory `rel` (read-only, for `*at` calls and metadata).
    pub fn dir(&self, rel: &Path) -> io::Result<OwnedFd> {
        Ok(openat2(
            &self.dir,
            dot(rel),
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
            RESOLVE,
        )?)
    }

    /// Opens the directory `rel`, creating what is missing on the way (new ones as `mkdir -p`
    /// would make them); never changes one that exists.
    pub fn make_dirs(&self, rel: &Path) -> io::Result<OwnedFd> {
        match self.dir(rel) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            other => return other,
        }
        let mut at = self.dir(Path::new(""))?;
        for c in rel.components() {
            let Component::Normal(name) = c else {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    format!("`{}` is not a plain relative path", rel.display()),
                ));
            };
            at = make_dir_at(&at, name, NEW_PARENT_MODE)?;
        }
        Ok(at)
    }

    /// What is at `rel`, the last name not followed. A symlink on the way is `Symlink` too.
    pub fn find(&self, rel: &Path) -> io::Result<Found> {
        let (parent, name) = match (rel.parent(), rel.file_name()) {
            (Some(p), Some(n)) => (p, n),
            _ => return Ok(Found::Directory),
        };
        let dir = match self.dir(parent) {
            Ok(d) => d,
            Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return Ok(Found::Symlink),
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(Found::Missing),
            Err(e) => return Err(e),
        };
        found_at(&dir, name)
    }

    /// The first symlink on disk on the way to `rel` (itself included), if any: what a
    /// refusal names.
    pub fn first_symlink(&self, rel: &Path) -> io::Result<Option<PathBuf>> {
        let mut prefix = PathBuf::new();
        for c in rel.components() {
            prefix.push(c);
            match self.find(&prefix)? {
                Found::Symlink => return Ok(Some(prefix)),
                Found::Missing => return Ok(None),
                _ => {}
            }
        }
        Ok(None)
    }
}

/// What `name` in `dir` is, not following it.
pub fn found_at(dir: &OwnedFd, name: &OsStr) -> io::Result<Found> {
    match statat(dir, name, AtFlags::SYMLINK_NOFOLLOW) {
        Ok(st) => Ok(match FileType::from_raw_mode(st.st_mode) {
            FileType::Directory => Found::Directory,
            FileType::Symlink => Found::Symlink,
            _ => Found::Other,
        }),
        Err(e) if e == rustix::io::Errno::NOENT => Ok(Found::Missing),
        Err(e) => Err(e.into()),
    }
}

/// Makes `name` a directory in `dir` (with `mode` when new) and opens it; an existing one is
/// opened as it is, and a symlink there is an error (`ELOOP`), never followed.
pub fn make_dir_at(dir: &OwnedFd, name: &OsStr, mode: u32) -> io::Result<OwnedFd> {
    match rustix::fs::mkdirat(dir, name, Mode::from_raw_mode(mode)) {
        Ok(()) => {}
        Err(e) if e == rustix::io::Errno::EXIST => {}
        Err(e) => return Err(e.into()),
    }
    Ok(openat2(
        dir,
        name,
        OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
        Mode::empty(),
        RESOLVE,
    )?)
}

/// Creates the new file `name` in `dir` (owner-only until its mode is set), never through a
/// link and never over an existing file.
pub fn create_file_at(dir: &OwnedFd, name: &OsStr) -> io::Result<std::fs::File> {
    let fd = openat2(
        dir,
        name,
        OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
        RESOLVE,
    )?;
    Ok(std::fs::File::from(fd))
}

/// Removes whatever non-directory is at `name` in `dir` (a file, or a link, which is removed
/// itself, never followed); nothing there is fine. A directory in the way is an error.
pub fn remove_at(dir: &OwnedFd, name: &OsStr) -> io::Result<()> {
    match rustix::fs::unlinkat(dir, name, AtFlags::empty()) {
        Ok(()) => Ok(()),
        Err(e) if e == rustix::io::Errno::NOENT => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn never_resolves_through_a_link_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("a/b")).unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("a/link")).unwrap();
        std::os::unix::fs::symlink("b", dir.path().join("a/inner")).unwrap();
        let b = Beneath::open(dir.path()).unwrap();
        for rel in ["a/link", "a/link/x", "a/inner/x", "a/link/x/y"] {
            let err = b.make_dirs(Path::new(rel)).unwrap_err();
            assert_eq!(err.raw_os_error(), Some(libc::ELOOP), "{rel}: {err}");
        }
        assert!(std::fs::read_dir(outside.path()).unwrap().next().is_none());
        assert_eq!(
            b.first_symlink(Path::new("a/link/x/y")).unwrap(),
            Some(PathBuf::from("a/link"))
        );
        assert_eq!(b.first_symlink(Path::new("a/b/new/x")).unwrap(), None);
        assert_eq!(b.find(Path::new("a/link/x")).unwrap(), Found::Symlink);
        assert_eq!(b.find(Path::new("a/b")).unwrap(), Found::Directory);
        assert_eq!(b.find(Path::new("a/none/x")).unwrap(), Found::Missing);
        // `..` cannot climb out either.
        assert!(b.dir(Path::new("a/../..")).is_err());
        b.make_dirs(Path::new("a/b/c/d")).unwrap();
        assert!(dir.path().join("a/b/c/d").is_dir());
    }

    #[test]
    fn a_link_at_the_name_is_removed_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::write(&outside, b"keep").unwrap();
        let inner = dir.path().join("inner");
        std::fs::create_dir(&inner).unwrap();
        std::os::unix::fs::symlink(&outside, inner.join("f")).unwrap();
        let b = Beneath::open(&inner).unwrap();
        let root = b.dir(Path::new("")).unwrap();
        assert!(create_file_at(&root, OsStr::new("f")).is_err());
        remove_at(&root, OsStr::new("f")).unwrap();
        use std::io::Write;
        create_file_at(&root, OsStr::new("f"))
            .unwrap()
            .write_all(b"new")
            .unwrap();
        assert_eq!(std::fs::read(&outside).unwrap(), b"keep");
        assert_eq!(std::fs::read(inner.join("f")).unwrap(), b"new");
    }
}
