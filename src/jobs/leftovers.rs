//! What killed runs leave behind, cleared by the next backup while it holds the repository
//! lock. A SIGKILL (or the OOM killer, or a power cut) lets nothing clean up, and nothing else
//! would ever remove these, since listings and `backup --resume` skip them:
//!
//! - in the upload spool of a remote repository, set folders without a manifest: the local
//!   copy of an upload that was cut short, up to a whole set each;
//! - in the `.tmp` folder of the spool and of local repositories, partial objects: OpenDAL
//!   writes there and renames into place only once an object is complete.
//!
//! The spool belongs to this host: its leftovers go as soon as the journal shows no other run
//! of this host alive (a backup of another repository that shares the secrets repository writes
//! into the same secrets spool). A local repository may be shared with other hosts, whose runs
//! this journal does not know: there, only temporaries untouched for a day go.

use crate::storage::journal::{Journal, RunStatus};
use crate::storage::layout::{MANIFEST_NAME, SETS_DIR};
use crate::storage::lock::this_host;
use crate::storage::repository::LOCAL_TMP_DIR;
use std::path::Path;
use std::time::{Duration, SystemTime};

/// A temporary untouched for this long in a local repository has no writer left (prune's
/// default grace period for incomplete sets).
pub const REPOSITORY_TMP_MIN_AGE: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cleared {
    /// Spooled set folders removed.
    pub spooled_sets: Vec<String>,
    /// Files removed, in those folders and in `.tmp` folders.
    pub files: usize,
    pub bytes: u64,
}

impl Cleared {
    pub fn is_empty(&self) -> bool {
        self.files == 0 && self.spooled_sets.is_empty()
    }
}

/// Clears the spools in `spools` (unless another run of this host is alive) and the old
/// temporaries of the local repositories in `repositories`; `own_run` is the caller's run id.
pub fn clear(
    journal: &Journal,
    own_run: &str,
    spools: &[&Path],
    repositories: &[&Path],
) -> Cleared {
    let mut cleared = Cleared::default();
    // An unreadable journal proves nothing about other runs: leave the spool alone.
    let others_alive = journal.read().map_or(true, |view| {
        let host = this_host();
        view.runs.iter().any(|r| {
            r.run_id != own_run
                && r.host == host
                && matches!(r.status, RunStatus::Running | RunStatus::Pending)
        })
    });
    if !others_alive {
        for spool in spools {
            clear_spool(spool, &mut cleared);
        }
    }
    let now = SystemTime::now();
    for root in repositories {
        clear_tmp(
            &root.join(LOCAL_TMP_DIR),
            Some((now, REPOSITORY_TMP_MIN_AGE)),
            &mut cleared,
        );
    }
    cleared
}

fn clear_spool(spool: &Path, cleared: &mut Cleared) {
    clear_tmp(&spool.join(LOCAL_TMP_DIR), None, cleared);
    let Ok(sets) = std::fs::read_dir(spool.join(SETS_DIR)) else {
        return;
    };
    for set in sets.flatten() {
        let dir = set.path();
        if !set.file_type().is_ok_and(|t| t.is_dir()) || dir.join(MANIFEST_NAME).exists() {
            continue;
        }
        let (files, bytes) = crate::storage::orphans::sizes(&dir);
        if std::fs::remove_dir_all(&dir).is_ok() {
            cleared.files += files;
            cleared.bytes += bytes;
            cleared
                .spooled_sets
                .push(set.file_name().to_string_lossy().into_owned());
        }
    }
}

/// Removes the files directly in `tmp`; with `min_age`, only those last written before it.
fn clear_tmp(tmp: &Path, min_age: Option<(SystemTime, Duration)>, cleared: &mut Cleared) {
    let Ok(entries) = std::fs::read_dir(tmp) else {
        return;
    };
    for entry in entries.flatten() {
        let Ok(meta) = entry.metadata() else {
            continue;
        };
        if !meta.is_file() {
            continue;
        }
        if let Some((now, age)) = min_age {
            let old = meta
                .modified()
                .ok()
                .and_then(|t| now.duration_since(t).ok())
                .is_some_and(|d| d >= age);
            if !old {
                continue;
            }
        }
        if std::fs::remove_file(entry.path()).is_ok() {
            cleared.files += 1;
            cleared.bytes += meta.len();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::journal::{JournalEntry, RunKind, RunRecord};
    use crate::storage::manifest::Initiator;

    fn write(path: &Path, bytes: &[u8]) {
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }

    fn run(id: &str, status: RunStatus, pid: u32) -> JournalEntry {
        JournalEntry::Run(RunRecord {
            run_id: id.into(),
            kind: RunKind::Backup,
            status,
            initiator: Initiator::Cli,
            host: this_host(),
            pid,
            process_start: None,
            started_at: chrono::Utc::now(),
            finished_at: None,
            set_id: Some(id.into()),
            bytes: None,
            destination: "s3://b/p".into(),
            sha256: None,
            error: None,
            spooled_at: None,
            purpose: None,
            restore: None,
        })
    }

    /// A spool with a complete set, a set cut short and a partial object; a local repository
    /// with an old and a fresh temporary.
    fn world(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf) {
        let spool = dir.join("spool");
        write(&spool.join("sets/20261122T020000Z-aaaa/db.dump.zst"), b"db");
        write(
            &spool.join("sets/20261122T020000Z-aaaa/manifest.json"),
            b"{}",
        );
        write(
            &spool.join("sets/20261122T030000Z-bbbb/db.dump.zst"),
            b"partial",
        );
        write(&spool.join(".tmp/files.tar.zst.Ab12Cd34"), b"torn");
        let repo = dir.join("repo");
        write(&repo.join(".tmp/files.tar.zst.Old00000"), b"old");
        write(&repo.join(".tmp/manifest.json.New00000"), b"new");
        let old = SystemTime::now() - REPOSITORY_TMP_MIN_AGE - Duration::from_secs(60);
        std::fs::File::options()
            .write(true)
            .open(repo.join(".tmp/files.tar.zst.Old00000"))
            .unwrap()
            .set_modified(old)
            .unwrap();
        (spool, repo)
    }

    #[test]
    fn clears_what_dead_runs_left_and_keeps_complete_spooled_sets_and_fresh_temporaries() {
        let dir = tempfile::tempdir().unwrap();
        let (spool, repo) = world(dir.path());
        let journal = Journal::new(dir.path().join("journal.jsonl"));
        // Killed: its record says running, its pid is gone.
        journal
            .append(&run(
                "20261122T030000Z-bbbb",
                RunStatus::Running,
                0x3fff_fff0,
            ))
            .unwrap();
        journal
            .append(&run("own", RunStatus::Running, std::process::id()))
            .unwrap();

        let cleared = clear(&journal, "own", &[&spool], &[&repo]);
        assert_eq!(
            cleared.spooled_sets,
            vec!["20261122T030000Z-bbbb".to_string()]
        );
        assert_eq!(cleared.files, 3, "{cleared:?}");
        assert_eq!(
            cleared.bytes,
            (b"partial".len() + b"torn".len() + b"old".len()) as u64
        );
        assert!(spool
            .join("sets/20261122T020000Z-aaaa/manifest.json")
            .exists());
        assert!(!spool.join("sets/20261122T030000Z-bbbb").exists());
        assert!(!spool.join(".tmp/files.tar.zst.Ab12Cd34").exists());
        assert!(!repo.join(".tmp/files.tar.zst.Old00000").exists());
        assert!(
            repo.join(".tmp/manifest.json.New00000").exists(),
            "a fresh temporary may have a writer on another host"
        );
        assert!(clear(&journal, "own", &[&spool], &[&repo]).is_empty());
    }

    #[test]
    fn another_live_run_keeps_the_spool_untouched() {
        let dir = tempfile::tempdir().unwrap();
        let (spool, repo) = world(dir.path());
        let journal = Journal::new(dir.path().join("journal.jsonl"));
        // A backup of another repository sharing the secrets spool, still running.
        journal
            .append(&run(
                "20261122T030000Z-bbbb",
                RunStatus::Running,
                std::process::id(),
            ))
            .unwrap();

        let cleared = clear(&journal, "own", &[&spool], &[&repo]);
        assert!(cleared.spooled_sets.is_empty(), "{cleared:?}");
        assert_eq!(
            cleared.files, 1,
            "only the old repository temporary: {cleared:?}"
        );
        assert!(spool
            .join("sets/20261122T030000Z-bbbb/db.dump.zst")
            .exists());
        assert!(spool.join(".tmp/files.tar.zst.Ab12Cd34").exists());
    }
}
