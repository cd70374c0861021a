//! Writing checked archive entries to disk the way an operator restoring a file tree expects
//! (`storage::archive` decides what is safe and where; this module only writes, and only
//! through directory descriptors that `storage::beneath` opened without following links):
//!
//! - regular files are written with holes where the archive holds whole zero blocks, so a
//!   sparse file (a VM image, a database preallocation) does not come back as gigabytes of
//!   written zeros; whatever was at the name (a file, a hard link shared with something outside
//!   the restore, a symlink) is unlinked first, never written through;
//! - directories get their mode and mtime only after everything inside them is written
//!   (creating a child changes a directory's mtime, and a read-only directory would refuse its
//!   children), deepest first;
//! - owners (numeric ids, as the archive stores them) and set-uid/set-gid bits are restored
//!   only when the operator asks (`--restore-owners`, `[restore].owners`), even as root: a set
//!   must not be able to hand out a set-uid root binary on its own. Without it, files belong to
//!   the restoring user and lose their set-id bits. Where a chown is refused even to root (an
//!   NFS export with root squashing), the file keeps the restoring user's ownership, without
//!   its set-id bits, rather than the restore stopping half-way.

use super::beneath::{self, Beneath};
use rustix::fs::{AtFlags, Gid, Mode, Timespec, Timestamps, Uid};
use std::ffi::OsStr;
use std::fs::File;
use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

/// Zero runs shorter than a file-system block cannot become holes.
const HOLE_BLOCK_BYTES: usize = 4096;
/// Read granularity while copying a file out of the archive.
const COPY_BUFFER_BYTES: usize = 256 * 1024;
static ZERO_BLOCK: [u8; HOLE_BLOCK_BYTES] = [0; HOLE_BLOCK_BYTES];
/// Set-uid and set-gid: kept only with the archived owner.
const SET_ID_BITS: u32 = 0o6000;

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

    fn times(&self) -> io::Result<Option<Timestamps>> {
        let Some(mtime) = self.mtime else {
            return Ok(None);
        };
        let at = Timespec {
            tv_sec: i64::try_from(mtime).map_err(io::Error::other)?,
            tv_nsec: 0,
        };
        Ok(Some(Timestamps {
            last_access: at,
            last_modification: at,
        }))
    }

    fn ids(&self) -> (Option<Uid>, Option<Gid>) {
        (self.uid.map(Uid::from_raw), self.gid.map(Gid::from_raw))
    }

    /// Whether there is an owner to restore and the operator asked for it.
    fn chowns(&self, owners: bool) -> bool {
        owners && (self.uid.is_some() || self.gid.is_some())
    }

    /// The mode to apply: set-id bits only on a file that now has its archived owner.
    fn mode_with(&self, owned: bool) -> Option<Mode> {
        self.mode
            .map(|m| if owned { m } else { m & !SET_ID_BITS })
            .map(Mode::from_raw_mode)
    }
}

/// A chown the file system refuses even to root (EPERM) leaves the owner as it is: `false`.
fn permitted(chown: rustix::io::Result<()>) -> io::Result<bool> {
    match chown {
        Ok(()) => Ok(true),
        Err(e) if e == rustix::io::Errno::PERM => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// Gives an open file or directory its archived owner (when asked) and mode; returns nothing
/// useful, errors only for what the file system refuses outright.
fn apply_owner_and_mode(fd: &OwnedFd, stat: Stat, owners: bool) -> io::Result<()> {
    // chown first: it clears set-id bits that the chmod after it restores.
    let owned = if stat.chowns(owners) {
        let (uid, gid) = stat.ids();
        permitted(rustix::fs::fchown(fd, uid, gid))?
    } else {
        false
    };
    if let Some(mode) = stat.mode_with(owned) {
        rustix::fs::fchmod(fd, mode)?;
    }
    Ok(())
}

/// Writes `data` to a new file `name` in `dir` (whatever is at the name is unlinked first:
/// it may be a hard link shared with something outside the restore, or a symlink), with holes
/// for zero blocks, then the owner (when asked), mode and mtime of `stat`.
pub fn write_file(
    dir: &OwnedFd,
    name: &OsStr,
    data: &mut dyn Read,
    stat: Stat,
    owners: bool,
) -> io::Result<()> {
    beneath::remove_at(dir, name)?;
    let file = beneath::create_file_at(dir, name)?;
    let len = copy_with_holes(data, &file)?;
    file.set_len(len)?;
    let fd = OwnedFd::from(file);
    apply_owner_and_mode(&fd, stat, owners)?;
    if let Some(times) = stat.times()? {
        rustix::fs::futimens(&fd, &times)?;
    }
    Ok(())
}

/// Creates the symlink `name -> points_to` in `dir` (replacing a file or link there, never
/// following anything), with the archived owner (when asked) and mtime; a symlink has no mode.
pub fn write_symlink(
    dir: &OwnedFd,
    name: &OsStr,
    points_to: &Path,
    stat: Stat,
    owners: bool,
) -> io::Result<()> {
    beneath::remove_at(dir, name)?;
    rustix::fs::symlinkat(points_to, dir, name)?;
    if stat.chowns(owners) {
        let (uid, gid) = stat.ids();
        permitted(rustix::fs::chownat(
            dir,
            name,
            uid,
            gid,
            AtFlags::SYMLINK_NOFOLLOW,
        ))?;
    }
    if let Some(times) = stat.times()? {
        rustix::fs::utimensat(dir, name, &times, AtFlags::SYMLINK_NOFOLLOW)?;
    }
    Ok(())
}

/// Makes `name` in `dir` another name of `from_name` in `from_dir` (a file or link, not
/// followed), replacing what is there.
pub fn hard_link(
    from_dir: &OwnedFd,
    from_name: &OsStr,
    dir: &OwnedFd,
    name: &OsStr,
) -> io::Result<()> {
    beneath::remove_at(dir, name)?;
    Ok(rustix::fs::linkat(
        from_dir,
        from_name,
        dir,
        name,
        AtFlags::empty(),
    )?)
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

/// Directories seen during an extraction, whose metadata waits until the end. Each is known by
/// its anchor (an index into the `Beneath`s handed to `finish`) and its path beneath it, and is
/// opened again then, without following links.
#[derive(Debug, Default)]
pub struct Directories {
    pending: Vec<(usize, PathBuf, Stat)>,
}

impl Directories {
    /// Makes sure `name` in `dir` is a directory (owner-only while new; a symlink there is an
    /// error, never followed) and remembers its metadata for `rel` beneath anchor `anchor`.
    pub fn create(
        &mut self,
        dir: &OwnedFd,
        name: &OsStr,
        anchor: usize,
        rel: PathBuf,
        stat: Stat,
    ) -> io::Result<()> {
        beneath::make_dir_at(dir, name, 0o700)?;
        self.pending.push((anchor, rel, stat));
        Ok(())
    }

    /// Remembers the metadata of a directory that exists already (an anchor itself).
    pub fn remember(&mut self, anchor: usize, rel: PathBuf, stat: Stat) {
        self.pending.push((anchor, rel, stat));
    }

    /// Applies owners (when asked), modes and mtimes, children before their parents (a parent
    /// without search permission would hide them). `anchors[i]` is anchor `i`.
    pub fn finish(
        mut self,
        anchors: &[Option<Beneath>],
        owners: bool,
    ) -> Result<(), (PathBuf, io::Error)> {
        self.pending.sort_by(|a, b| (b.0, &b.1).cmp(&(a.0, &a.1)));
        for (anchor, rel, stat) in self.pending {
            let Some(base) = anchors.get(anchor).and_then(Option::as_ref) else {
                continue;
            };
            let apply = || -> io::Result<()> {
                let fd = base.dir(&rel)?;
                if let Some(times) = stat.times()? {
                    rustix::fs::futimens(&fd, &times)?;
                }
                apply_owner_and_mode(&fd, stat, owners)
            };
            apply().map_err(|e| (base.shown(&rel), e))?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::{MetadataExt, PermissionsExt};

    fn stat(mode: u32) -> Stat {
        Stat {
            mode: Some(mode),
            uid: None,
            gid: None,
            mtime: Some(1_000_000_000),
        }
    }

    fn open(dir: &Path) -> OwnedFd {
        Beneath::open(dir).unwrap().dir(Path::new("")).unwrap()
    }

    fn name(s: &str) -> &OsStr {
        OsStr::new(s)
    }

    #[test]
    fn zero_blocks_become_holes_and_the_bytes_stay_the_same() {
        let dir = tempfile::tempdir().unwrap();
        let fd = open(dir.path());
        let len = 64 * 1024 * 1024 + 100;
        let mut data = vec![0u8; len];
        data[..10].copy_from_slice(b"0123456789");
        data[len / 2 + 7..len / 2 + 5000].fill(0xab);
        data[len - 3..].copy_from_slice(b"end");
        let target = dir.path().join("sparse");
        write_file(&fd, name("sparse"), &mut &data[..], stat(0o640), false).unwrap();
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
        write_file(
            &fd,
            name("zeros"),
            &mut io::repeat(0).take(10_000_000),
            stat(0o600),
            false,
        )
        .unwrap();
        assert_eq!(
            std::fs::metadata(dir.path().join("zeros")).unwrap().len(),
            10_000_000
        );
        write_file(&fd, name("empty"), &mut io::empty(), stat(0o600), false).unwrap();
        assert_eq!(
            std::fs::metadata(dir.path().join("empty")).unwrap().len(),
            0
        );
    }

    /// Owners and set-id bits come back only when asked; asked, as root, both do (the chown
    /// does not eat the set-uid bit).
    #[test]
    fn owners_and_set_id_bits_come_back_only_when_asked() {
        let dir = tempfile::tempdir().unwrap();
        let fd = open(dir.path());
        let owned = Stat {
            uid: Some(4321),
            gid: Some(4322),
            ..stat(0o6755)
        };
        // SAFETY: geteuid has no preconditions.
        let me = unsafe { libc::geteuid() };
        for asked in [false, true] {
            let file = format!("setuid-{asked}");
            let link = format!("link-{asked}");
            write_file(&fd, name(&file), &mut &b"#!/bin/sh\n"[..], owned, asked).unwrap();
            write_symlink(&fd, name(&link), Path::new("setuid"), owned, asked).unwrap();
            let meta = std::fs::metadata(dir.path().join(&file)).unwrap();
            let link_meta = std::fs::symlink_metadata(dir.path().join(&link)).unwrap();
            assert_eq!(link_meta.mtime(), 1_000_000_000, "the link's own mtime");
            if asked && me == 0 {
                assert_eq!(
                    meta.mode() & 0o7777,
                    0o6755,
                    "chown cleared the set-id bits"
                );
                assert_eq!((meta.uid(), meta.gid()), (4321, 4322));
                assert_eq!((link_meta.uid(), link_meta.gid()), (4321, 4322));
            } else {
                assert_eq!(meta.mode() & 0o7777, 0o0755, "asked: {asked}");
                assert_eq!(meta.uid(), me, "asked: {asked}");
                assert_eq!(link_meta.uid(), me, "asked: {asked}");
            }
        }
    }

    #[test]
    fn replaces_a_hard_link_or_a_symlink_instead_of_writing_through_it() {
        let dir = tempfile::tempdir().unwrap();
        let inner = dir.path().join("inner");
        std::fs::create_dir(&inner).unwrap();
        let fd = open(&inner);
        let outside = dir.path().join("outside");
        std::fs::write(&outside, b"not part of the restore").unwrap();
        std::fs::set_permissions(&outside, std::fs::Permissions::from_mode(0o600)).unwrap();
        std::fs::hard_link(&outside, inner.join("hard")).unwrap();
        std::os::unix::fs::symlink(&outside, inner.join("soft")).unwrap();
        for n in ["hard", "soft"] {
            write_file(&fd, name(n), &mut &b"restored"[..], stat(0o644), false).unwrap();
            assert_eq!(std::fs::read(inner.join(n)).unwrap(), b"restored");
            assert!(!std::fs::symlink_metadata(inner.join(n))
                .unwrap()
                .is_symlink());
        }
        assert_eq!(std::fs::read(&outside).unwrap(), b"not part of the restore");
        assert_eq!(std::fs::metadata(&outside).unwrap().mode() & 0o7777, 0o600);
    }

    #[test]
    fn directory_metadata_waits_for_the_children() {
        let dir = tempfile::tempdir().unwrap();
        let anchors = vec![Some(Beneath::open(dir.path()).unwrap())];
        let base = anchors[0].as_ref().unwrap();
        let root = base.dir(Path::new("")).unwrap();
        let mut dirs = Directories::default();
        dirs.create(&root, name("read-only"), 0, "read-only".into(), stat(0o555))
            .unwrap();
        let parent_fd = base.dir(Path::new("read-only")).unwrap();
        dirs.create(
            &parent_fd,
            name("locked"),
            0,
            "read-only/locked".into(),
            stat(0o000),
        )
        .unwrap();
        // Written after both directory entries were seen, as an archive's files are.
        write_file(&parent_fd, name("file"), &mut &b"x"[..], stat(0o444), false).unwrap();
        dirs.finish(&anchors, false).unwrap();
        let parent = dir.path().join("read-only");
        let child = parent.join("locked");
        for (path, mode) in [(&parent, 0o555), (&child, 0o000)] {
            let meta = std::fs::metadata(path).unwrap();
            assert_eq!(meta.mode() & 0o7777, mode, "{}", path.display());
            assert_eq!(meta.mtime(), 1_000_000_000, "{}", path.display());
        }
        std::fs::set_permissions(&child, std::fs::Permissions::from_mode(0o700)).unwrap();
        std::fs::set_permissions(&parent, std::fs::Permissions::from_mode(0o700)).unwrap();
    }

    #[test]
    fn a_directory_entry_never_goes_through_a_symlink_on_disk() {
        let dir = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::os::unix::fs::symlink(outside.path(), dir.path().join("avatars")).unwrap();
        let fd = open(dir.path());
        let mut dirs = Directories::default();
        let err = dirs
            .create(&fd, name("avatars"), 0, "avatars".into(), stat(0o777))
            .unwrap_err();
        assert_eq!(err.raw_os_error(), Some(libc::ELOOP), "{err}");
        let before = std::fs::metadata(outside.path()).unwrap().mode();
        dirs.finish(&[Some(Beneath::open(dir.path()).unwrap())], false)
            .unwrap();
        assert_eq!(std::fs::metadata(outside.path()).unwrap().mode(), before);
    }
}
