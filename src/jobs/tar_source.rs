//! The file-storage and secrets sources: a tar stream of the configured roots. Each entry is
//! stored under its absolute path minus the leading `/`, as GNU tar does, so `tar -xf` into `/`
//! (or any scratch directory) puts it back. Symlinks are stored as links and never followed;
//! an unreadable file fails the stream with its path; a file that shrinks while being read is
//! padded and reported, as GNU tar does, so the archive stays valid. A file with several names
//! in the tree is stored once; its other names become hard-link entries to the first, so a
//! restore brings back one inode, not copies.

use std::collections::hash_map::{Entry, HashMap};
use std::fs::File;
use std::io::{self, Read, Write};
use std::os::unix::fs::MetadataExt;
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

pub fn measure(roots: &[PathBuf]) -> io::Result<TreeSize> {
    let mut size = TreeSize::default();
    for root in roots {
        for entry in walkdir::WalkDir::new(root).follow_links(false) {
            let entry = entry.map_err(|e| {
                let path = e.path().unwrap_or(root).to_path_buf();
                describe(&path, e.into())
            })?;
            if entry.file_type().is_file() {
                size.files += 1;
                size.bytes += entry.metadata().map(|m| m.len()).unwrap_or(0);
            }
        }
    }
    Ok(size)
}

fn archive_name(path: &Path) -> PathBuf {
    path.strip_prefix("/").unwrap_or(path).to_path_buf()
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
        if !root.is_absolute() {
            return Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not an absolute path", root.display()),
            ));
        }
        std::fs::symlink_metadata(root).map_err(|e| describe(root, e))?;
        let walker = walkdir::WalkDir::new(root)
            .follow_links(false)
            .sort_by_file_name();
        for entry in walker {
            if stop.load(Ordering::Relaxed) {
                return Err(io::Error::new(io::ErrorKind::Interrupted, "cancelled"));
            }
            let entry = entry.map_err(|e| {
                let path = e.path().unwrap_or(root).to_path_buf();
                describe(&path, e.into())
            })?;
            let path = entry.path();
            let name = archive_name(path);
            let file_type = entry.file_type();
            if file_type.is_dir() || file_type.is_symlink() {
                builder
                    .append_path_with_name(path, &name)
                    .map_err(|e| describe(path, e))?;
            } else if file_type.is_file() {
                let meta = entry.metadata().map_err(|e| describe(path, e.into()))?;
                match inodes.first_name(&meta, &name) {
                    Some(first) => append_hard_link(&mut builder, path, &meta, &name, &first)?,
                    None => append_file(&mut builder, path, &name, warn)?,
                }
            } else {
                warn(format!(
                    "skipped {}: not a regular file, directory or symlink",
                    path.display()
                ));
            }
        }
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

fn append_file(
    builder: &mut tar::Builder<&mut dyn Write>,
    path: &Path,
    name: &Path,
    warn: &dyn Fn(String),
) -> io::Result<()> {
    let file = File::open(path).map_err(|e| describe(path, e))?;
    let meta = file.metadata().map_err(|e| describe(path, e))?;
    let mut header = tar::Header::new_gnu();
    header.set_metadata_in_mode(&meta, tar::HeaderMode::Complete);
    let size = meta.len();
    let mut read = 0u64;
    let reader = CountRead {
        inner: file.take(size),
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
