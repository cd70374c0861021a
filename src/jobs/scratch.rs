//! The scratch space of one restore or drill: downloaded objects and the decrypted dump.
//! Plaintext never has a name on disk, and what has one is found and removed by the next
//! lifeboat run if this one is killed.

use super::restore::RestoreError;
use crate::storage::orphans;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Scratch space for one restore or drill, removed on drop, and tagged (`storage::orphans`)
/// so that the next lifeboat run removes it if this one is killed. The decrypted dump is an
/// unlinked file (`O_TMPFILE`), reached by path only through this process's descriptor
/// (`/proc/<pid>/fd/<n>`, which the kernel opens only for this user): it has no name another
/// user could open, and it is freed by the kernel when lifeboat and its pg_restore are gone,
/// killed or not. pg_restore's parallel workers reopen the path, which works as long as
/// lifeboat runs, i.e. as long as they can.
pub struct Scratch {
    dir: tempfile::TempDir,
    dump: std::fs::File,
}

impl Scratch {
    pub fn create(parent: &Path) -> Result<Scratch, RestoreError> {
        let failed = |source| RestoreError::Scratch {
            path: parent.to_path_buf(),
            source,
        };
        std::fs::create_dir_all(parent).map_err(failed)?;
        // 0700 and 0600 whatever the umask: the downloads and the dump are this user's only.
        let dir = tempfile::Builder::new()
            .prefix(orphans::SCRATCH_PREFIX)
            .permissions(std::fs::Permissions::from_mode(0o700))
            .tempdir_in(parent)
            .map_err(failed)?;
        orphans::tag(dir.path()).map_err(failed)?;
        // O_TMPFILE where the filesystem has it, else created and unlinked at once.
        let dump = tempfile::tempfile_in(dir.path()).map_err(failed)?;
        dump.set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(failed)?;
        Ok(Scratch { dir, dump })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// The decrypted dump's path, for lifeboat and its children (see [`Scratch`]).
    pub fn dump(&self) -> PathBuf {
        use std::os::fd::AsRawFd;
        PathBuf::from(format!(
            "/proc/{}/fd/{}",
            std::process::id(),
            self.dump.as_raw_fd()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_dump_has_no_name_and_only_the_tag_and_downloads_are_listed() {
        let parent = tempfile::tempdir().unwrap();
        let scratch = Scratch::create(parent.path()).unwrap();
        let dir = scratch.path().to_path_buf();
        assert_eq!(
            std::fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let dump = scratch.dump();
        super::super::restore::write_dump(&b"PGDMP plaintext"[..], &dump).unwrap();
        assert_eq!(std::fs::read(&dump).unwrap(), b"PGDMP plaintext");
        let meta = std::fs::metadata(&dump).unwrap();
        assert_eq!(meta.permissions().mode() & 0o777, 0o600);
        assert_eq!(std::os::unix::fs::MetadataExt::nlink(&meta), 0, "unlinked");
        let names: Vec<String> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec![orphans::OWNER_FILE.to_string()]);
        // Another process of this user opens it by that path (pg_restore does).
        let out = std::process::Command::new("cat")
            .arg(&dump)
            .output()
            .unwrap();
        assert_eq!(out.stdout, b"PGDMP plaintext");
        drop(scratch);
        assert!(!dir.exists());
        assert!(std::fs::metadata(&dump).is_err(), "gone with the scratch");
    }
}
