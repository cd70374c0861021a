//! Writing checked archive entries to disk the way an operator restoring a file tree expects
//! (`storage::archive` decides what is safe; this module only writes):
//!
//! - regular files are written with holes where the archive holds whole zero blocks, so a
//!   sparse file (a VM image, a database preallocation) does not come back as gigabytes of
//!   written zeros;
//! - directories get their mode and mtime only after everything inside them is written
//!   (creating a child changes a directory's mtime, and a read-only directory would refuse its
//!   children), deepest first;
//! - owners are restored (numeric ids, as the archive stores them) when running as root, as
//!   GNU tar does; anyone else cannot give files away, so they keep the restoring user's. Where
//!   even root may not (an NFS export with root squashing), the files keep root's ownership
//!   rather than the restore stopping half-way.

use std::fs::{File, FileTimes, OpenOptions};
use std::io::{self, Read};
use std::os::unix::fs::{DirBuilderExt, FileExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::{Duration, UNIX_EPOCH};

/// Zero runs shorter than a file-system block cannot become holes.
const HOLE_BLOCK_BYTES: usize = 4096;
/// Read granularity while copying a file out of the archive.
const COPY_BUFFER_BYTES: usize = 256 * 1024;
static ZERO_BLOCK: [u8; HOLE_BLOCK_BYTES] = [0; HOLE_BLOCK_BYTES];

/// Mode, owner and mtime from an entry's header. A field the header leaves blank or garbled is
/// `None` and left as the restore made it, as `tar` does.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stat {
    pub mode: Option<u32>,
    pub uid: Option<u32>,
    pub gid: Option<u32>,
    pub mtime: Option<u64>,
}

impl Stat {
    pub fn of(header: &tar::Header) -> Stat {
        let id = |v: io::Result<u64>| v.ok().and_then(|v| u32::try_from(v).ok());
        Stat {
            mode: header.mode().ok().map(|m| m & 0o7777),
            uid: id(header.uid()),
            gid: id(header.gid()),
            mtime: header.mtime().ok(),
        }
    }

    fn times(&self) -> Option<FileTimes> {
        let at = UNIX_EPOCH + Duration::from_secs(self.mtime?);
        Some(FileTimes::new().set_accessed(at).set_modified(at))
    }

    /// `lchown` to the archived owner, when there is one and `owners` says to.
    fn chown(&self, path: &Path, owners: bool) -> io::Result<()> {
        if owners && (self.uid.is_some() || self.gid.is_some()) {
            permitted(std::os::unix::fs::lchown(path, self.uid, self.gid))?;
        }
        Ok(())
    }
}

/// A chown the file system refuses even to root (EPERM) leaves the owner as it is.
fn permitted(chown: io::Result<()>) -> io::Result<()> {
    match chown {
        Err(e) if e.raw_os_error() == Some(libc::EPERM) => Ok(()),
        other => other,
    }
}

/// Whether restored entries get the archived owners (only root can give files away).
pub fn restores_owners() -> bool {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Writes `data` to a new file at `target` (an existing file there is replaced, never written
/// through: it may be a hard link shared with something outside the restore), with holes for
/// zero blocks, then the owner, mode and mtime of `stat`.
pub fn write_file(target: &Path, data: &mut dyn Read, stat: Stat, owners: bool) -> io::Result<()> {
    match std::fs::remove_file(target) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    // Owner-only until the archived mode is applied below.
    let file = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(target)?;
    let len = copy_with_holes(data, &file)?;
    file.set_len(len)?;
    // chown first: it clears set-id bits that the chmod after it restores.
    if owners && (stat.uid.is_some() || stat.gid.is_some()) {
        permitted(std::os::unix::fs::fchown(&file, stat.uid, stat.gid))?;
    }
    if let Some(mode) = stat.mode {
        file.set_permissions(std::fs::Permissions::from_mode(mode))?;
    }
    match stat.times() {
        Some(times) => file.set_times(times),
        None => Ok(()),
    }
}

/// Creates the symlink `target -> points_to` (replacing a file there, never following
/// anything), with the archived owner and mtime; a symlink has no mode of its own.
pub fn write_symlink(target: &Path, points_to: &Path, stat: Stat, owners: bool) -> io::Result<()> {
    match std::fs::remove_file(target) {
        Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    std::os::unix::fs::symlink(points_to, target)?;
    stat.chown(target, owners)?;
    match stat.mtime {
        Some(mtime) => set_times(target, mtime, libc::AT_SYMLINK_NOFOLLOW),
        None => Ok(()),
    }
}

/// Copies `data` into `file` from offset 0, skipping whole zero blocks (they read back as zeros
/// from the holes left behind). Returns the number of bytes the file must have.
fn copy_with_holes(data: &mut dyn Read, file: &File) -> io::Result<u64> {
    let mut buf = vec![0u8; COPY_BUFFER_BYTES];
    let mut offset = 0u64;
    loop {
        let filled = fill(data, &mut buf)?;
        if filled == 0 {
            return Ok(offset);
        }
        let mut run_start: Option<usize> = None;
        for start in (0..filled).step_by(HOLE_BLOCK_BYTES) {
            let end = (start + HOLE_BLOCK_BYTES).min(filled);
            let zero = buf[start..end] == ZERO_BLOCK[..end - start];
            match (zero, run_start) {
                (false, None) => run_start = Some(start),
                (true, Some(from)) => {
                    file.write_all_at(&buf[from..start], offset + from as u64)?;
                    run_start = None;
                }
                _ => {}
            }
        }
        if let Some(from) = run_start {
            file.write_all_at(&buf[from..filled], offset + from as u64)?;
        }
        offset += filled as u64;
    }
}

/// Reads until `buf` is full or the input ends; returns how much was read.
fn fill(data: &mut dyn Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match data.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Directories seen during an extraction, whose metadata waits until the end.
#[derive(Debug, Default)]
pub struct Directories {
    pending: Vec<(PathBuf, Stat)>,
}

impl Directories {
    /// Makes sure `target` is a directory (owner-only while new) and remembers its metadata.
    pub fn create(&mut self, target: &Path, stat: Stat) -> io::Result<()> {
        match std::fs::DirBuilder::new().mode(0o700).create(target) {
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists && target.is_dir() => {}
            other => other?,
        }
        self.pending.push((target.to_path_buf(), stat));
        Ok(())
    }

    /// Applies owners, modes and mtimes, children before their parents (a parent without
    /// search permission would hide them).
    pub fn finish(mut self, owners: bool) -> Result<(), (PathBuf, io::Error)> {
        self.pending.sort_by(|a, b| b.0.cmp(&a.0));
        for (path, stat) in self.pending {
            let apply = || -> io::Result<()> {
                // By path, before the mode: a directory restored as 0000 cannot be opened.
                if let Some(mtime) = stat.mtime {
                    set_times(&path, mtime, 0)?;
                }
                stat.chown(&path, owners)?;
                match stat.mode {
                    Some(mode) => {
                        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(mode))
                    }
                    None => Ok(()),
                }
            };
            apply().map_err(|e| (path.clone(), e))?;
        }
        Ok(())
    }
}

/// Sets a path's access and modification times to `mtime` seconds (utimensat, no open;
/// `flags` may say not to follow a symlink).
fn set_times(path: &Path, mtime: u64, flags: libc::c_int) -> io::Result<()> {
    use std::os::unix::ffi::OsStrExt;
    let c_path = std::ffi::CString::new(path.as_os_str().as_bytes())
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let time = libc::timespec {
        tv_sec: libc::time_t::try_from(mtime).map_err(io::Error::other)?,
        tv_nsec: 0,
    };
    let times = [time, time];
    // SAFETY: a NUL-terminated path and an array of two timespecs, as utimensat(2) requires.
    let rc = unsafe { libc::utimensat(libc::AT_FDCWD, c_path.as_ptr(), times.as_ptr(), flags) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::MetadataExt;

    fn stat(mode: u32) -> Stat {
        Stat {
            mode: Some(mode),
            uid: None,
            gid: None,
            mtime: Some(1_000_000_000),
        }
    }

    #[test]
    fn zero_blocks_become_holes_and_the_bytes_stay_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let len = 64 * 1024 * 1024 + 100;
        let mut data = vec![0u8; len];
        data[..10].copy_from_slice(b"0123456789");
        data[len / 2 + 7..len / 2 + 5000].fill(0xab);
        data[len - 3..].copy_from_slice(b"end");
        let target = dir.path().join("sparse");
        write_file(&target, &mut &data[..], stat(0o640), false).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), data);
        let meta = std::fs::metadata(&target).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o640);
        assert_eq!(meta.mtime(), 1_000_000_000);
        assert!(
            meta.blocks() * 512 < 1024 * 1024,
            "{} bytes allocated for a file of three small data runs",
            meta.blocks() * 512
        );

        // A file that is all zeros is one hole of the right length; an empty file is empty.
        let zeros = dir.path().join("zeros");
        write_file(
            &zeros,
            &mut io::repeat(0).take(10_000_000),
            stat(0o600),
            false,
        )
        .unwrap();
        assert_eq!(std::fs::metadata(&zeros).unwrap().len(), 10_000_000);
        let empty = dir.path().join("empty");
        write_file(&empty, &mut io::empty(), stat(0o600), false).unwrap();
        assert_eq!(std::fs::metadata(&empty).unwrap().len(), 0);
    }

    #[test]
    fn owners_come_back_only_when_root_and_set_id_bits_survive_the_chown() {
        let dir = tempfile::tempdir().unwrap();
        let owned = Stat {
            uid: Some(4321),
            gid: Some(4322),
            ..stat(0o4755)
        };
        let file = dir.path().join("setuid");
        write_file(&file, &mut &b"#!/bin/sh\n"[..], owned, restores_owners()).unwrap();
        let link = dir.path().join("link");
        write_symlink(&link, Path::new("setuid"), owned, restores_owners()).unwrap();
        let meta = std::fs::metadata(&file).unwrap();
        assert_eq!(meta.mode() & 0o7777, 0o4755, "chown cleared the setuid bit");
        let link_meta = std::fs::symlink_metadata(&link).unwrap();
        assert_eq!(link_meta.mtime(), 1_000_000_000, "the link's own mtime");
        if restores_owners() {
            assert_eq!((meta.uid(), meta.gid()), (4321, 4322));
            assert_eq!((link_meta.uid(), link_meta.gid()), (4321, 4322));
        } else {
            // SAFETY: geteuid has no preconditions.
            assert_eq!(meta.uid(), unsafe { libc::geteuid() });
        }
    }

    #[test]
    fn replaces_a_hard_link_instead_of_writing_through_it() {
        let dir = tempfile::tempdir().unwrap();
        let outside = dir.path().join("outside");
        std::fs::write(&outside, b"not part of the restore").unwrap();
        let target = dir.path().join("restored");
        std::fs::hard_link(&outside, &target).unwrap();
        write_file(&target, &mut &b"restored"[..], stat(0o644), false).unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"restored");
        assert_eq!(std::fs::read(&outside).unwrap(), b"not part of the restore");
    }

    #[test]
    fn directory_metadata_waits_for_the_children() {
        let dir = tempfile::tempdir().unwrap();
        let parent = dir.path().join("read-only");
        let child = parent.join("locked");
        let mut dirs = Directories::default();
        dirs.create(&parent, stat(0o555)).unwrap();
        dirs.create(&child, stat(0o000)).unwrap();
        // Written after both directory entries were seen, as an archive's files are.
        write_file(&parent.join("file"), &mut &b"x"[..], stat(0o444), false).unwrap();
        dirs.finish(false).unwrap();
        for (path, mode) in [(&parent, 0o555), (&child, 0o000)] {
            let meta = std::fs::metadata(path).unwrap();
            assert_eq!(meta.mode() & 0o7777, mode, "{}", path.display());
            assert_eq!(meta.mtime(), 1_000_000_000, "{}", path.display());
        }
        std::fs::set_permissions(&child, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o700)).unwrap();
    }
}
