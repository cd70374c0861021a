//! One writer at a time per repository (backup, resume, prune, pin and unpin take the lock),
//! across hosts. Two layers, taken in this order:
//!
//! - The host lock, the fast local path: an `flock` on a file in the local state directory,
//!   keyed by the repository URL; the kernel drops it when the holder dies, so a lock left by a
//!   killed process is detected (the file still names it) and taken over with a warning. The
//!   file records the holder's host, pid and start time so a refused run can name it.
//! - The repository lock (`remote`): one object, `locks/repository.lock`, in the repository
//!   itself, created only if absent, with a lease its holder renews. See `lease` for the lease
//!   times (120 s, renewed every 30 s, `LIFEBOAT_LOCK_LEASE_SECS`) and what clock drift does.
//!
//! The host name a lock (and every journal entry and manifest) records is the system's, or
//! `LIFEBOAT_HOSTNAME` when set: several installations behind one name, or tests that play two
//! hosts on one machine.

mod lease;
mod remote;
mod store;

pub use lease::{LeaseTimes, LEASE, LEASE_ENV};
pub use store::LOCK_OBJECT;

use crate::storage::repository::{RepoError, RepositorySpec};

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a refused run waits for the holder's record to appear (see `acquire`).
const UNNAMED_HOLDER_GRACE: Duration = Duration::from_secs(1);

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct LockHolder {
    pub host: String,
    pub pid: u32,
    pub started_at: DateTime<Utc>,
    pub purpose: String,
}

impl std::fmt::Display for LockHolder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} (pid {} on {}, since {})",
            self.purpose,
            self.pid,
            self.host,
            self.started_at.format("%Y-%m-%d %H:%M:%S UTC")
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LockError {
    #[error("the repository {repository} is locked by {holder}; wait for it to finish (one backup at a time per repository)")]
    Held {
        repository: String,
        holder: LockHolder,
    },
    #[error("cannot use the lock file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
}

/// The host lock, held while the guard lives; dropping it clears the holder record and
/// releases the lock.
#[derive(Debug)]
pub struct HostLock {
    file: File,
    path: PathBuf,
    /// A dead holder whose lock this one took over, for the caller to warn about.
    pub took_over: Option<LockHolder>,
}

/// Overrides the host name lifeboat records (see the module comment).
pub const HOSTNAME_ENV: &str = "LIFEBOAT_HOSTNAME";

pub fn this_host() -> String {
    match std::env::var(HOSTNAME_ENV) {
        Ok(name) if !name.trim().is_empty() => name.trim().to_string(),
        _ => gethostname::gethostname().to_string_lossy().into_owned(),
    }
}

pub fn process_alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    if pid <= 0 {
        return false;
    }
    // SAFETY: kill with signal 0 only checks for existence and permission.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM)
}

/// When process `pid` started, in clock ticks since boot (field 22 of /proc/<pid>/stat).
/// With the pid it names one process: pids are reused, within minutes on a busy host with the
/// common `pid_max` of 32768, so a pid alone may name a later, unrelated process.
pub fn process_start(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) is in parentheses and may hold spaces: count after it.
    let (_, rest) = stat.rsplit_once(')')?;
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// Whether process `pid` still runs and, when its start (`process_start`) was recorded, is
/// still the process that started then.
pub fn process_alive_since(pid: u32, start: Option<u64>) -> bool {
    if !process_alive(pid) {
        return false;
    }
    match (start, process_start(pid)) {
        (Some(recorded), Some(now)) => recorded == now,
        // Not recorded (an older record), or the process ended just now.
        _ => true,
    }
}

fn lock_path(dir: &Path, repository: &str) -> PathBuf {
    use sha2::Digest;
    let digest = sha2::Sha256::digest(repository.as_bytes());
    dir.join(format!("{}.lock", &hex::encode(digest)[..16]))
}

/// flock(2) without waiting: `Ok(false)` when another holder has it.
pub fn try_flock(file: &File, kind: libc::c_int) -> std::io::Result<bool> {
    // SAFETY: flock on a file descriptor we own.
    let rc = unsafe { libc::flock(file.as_raw_fd(), kind | libc::LOCK_NB) };
    if rc == 0 {
        return Ok(true);
    }
    let err = std::io::Error::last_os_error();
    if err.raw_os_error() == Some(libc::EWOULDBLOCK) {
        Ok(false)
    } else {
        Err(err)
    }
}

fn read_holder(file: &mut File) -> Option<LockHolder> {
    let mut text = String::new();
    file.rewind().ok()?;
    file.read_to_string(&mut text).ok()?;
    serde_json::from_str(&text).ok()
}

impl HostLock {
    pub fn acquire(dir: &Path, repository: &str, purpose: &str) -> Result<HostLock, LockError> {
        let path = lock_path(dir, repository);
        let io = |source| LockError::Io {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(io)?;
        let mut file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .map_err(io)?;
        // A holder writes its record just after taking the lock, and `holder()` takes a shared
        // lock for a moment: a refusal with no record to name may be either, so look again
        // briefly before giving up.
        let deadline = Instant::now() + UNNAMED_HOLDER_GRACE;
        while !try_flock(&file, libc::LOCK_EX).map_err(io)? {
            let named = read_holder(&mut file);
            if named.is_none() && Instant::now() < deadline {
                std::thread::sleep(Duration::from_millis(10));
                continue;
            }
            let holder = named.unwrap_or(LockHolder {
                host: "unknown".into(),
                pid: 0,
                started_at: Utc::now(),
                purpose: "another lifeboat run".into(),
            });
            return Err(LockError::Held {
                repository: repository.to_string(),
                holder,
            });
        }
        let took_over = read_holder(&mut file);
        let holder = LockHolder {
            host: this_host(),
            pid: std::process::id(),
            started_at: Utc::now(),
            purpose: purpose.to_string(),
        };
        let text = serde_json::to_vec(&holder).map_err(|e| io(std::io::Error::other(e)))?;
        file.set_len(0).map_err(io)?;
        file.rewind().map_err(io)?;
        file.write_all(&text).map_err(io)?;
        file.sync_data().map_err(io)?;
        Ok(HostLock {
            file,
            path,
            took_over,
        })
    }

    /// Who holds the lock right now, without taking it.
    pub fn holder(dir: &Path, repository: &str) -> Option<LockHolder> {
        let path = lock_path(dir, repository);
        let mut file = std::fs::OpenOptions::new().read(true).open(path).ok()?;
        match try_flock(&file, libc::LOCK_SH) {
            Ok(false) => read_holder(&mut file),
            _ => None,
        }
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for HostLock {
    fn drop(&mut self) {
        // Clear the record before the kernel releases the lock, so the next holder does not
        // mistake a clean exit for a dead holder.
        let _ = self.file.set_len(0);
    }
}

/// Why taking the lock failed: a lock error, or only the repository's lock object could not
/// be reached (the host lock is held then).
enum Failure {
    Lock(LockError),
    Unreachable(HostLock, RepoError),
}

/// The repository lock: the host lock and the repository's own lock object, both held until
/// `release` (or the guard is dropped, which releases the object in the background).
pub struct RepoLock {
    host: HostLock,
    lease: Option<remote::Lease>,
    /// A holder whose stale lock this one took over, for the caller to warn about.
    pub took_over: Option<LockHolder>,
    /// Set when the repository's server lacks conditional writes: the lock object is written,
    /// but cannot keep another host out. The caller says so once, as a warning.
    pub advisory: Option<String>,
}

impl std::fmt::Debug for RepoLock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RepoLock")
            .field("host", &self.host)
            .field("took_over", &self.took_over)
            .field("advisory", &self.advisory)
            .finish_non_exhaustive()
    }
}

impl RepoLock {
    /// Takes the host lock, then the repository's. `E` is the caller's error: a lock held
    /// elsewhere comes back as `LockError::Held` (exit 4), a storage failure as `RepoError`.
    pub async fn acquire<E>(
        dir: &Path,
        repository: &RepositorySpec,
        purpose: &str,
    ) -> Result<RepoLock, E>
    where
        E: From<LockError> + From<RepoError>,
    {
        match RepoLock::take(dir, repository, purpose).await {
            Ok(lock) => Ok(lock),
            Err(Failure::Lock(e)) => Err(e.into()),
            Err(Failure::Unreachable(_, e)) => Err(e.into()),
        }
    }

    /// As [`RepoLock::acquire`], for a backup: when the repository cannot be reached to take
    /// its lock object, the backup goes on under the host lock alone (it spools its set, and
    /// `backup --resume` takes the whole lock to upload it), and says so in a warning.
    pub async fn acquire_unless_unreachable<E>(
        dir: &Path,
        repository: &RepositorySpec,
        purpose: &str,
    ) -> Result<RepoLock, E>
    where
        E: From<LockError> + From<RepoError>,
    {
        match RepoLock::take(dir, repository, purpose).await {
            Ok(lock) => Ok(lock),
            Err(Failure::Lock(e)) => Err(e.into()),
            Err(Failure::Unreachable(host, e)) => Ok(RepoLock {
                took_over: host.took_over.clone(),
                advisory: Some(format!(
                    "only this host's lock is held: the repository's lock object could not be taken ({e})"
                )),
                host,
                lease: None,
            }),
        }
    }

    async fn take(
        dir: &Path,
        repository: &RepositorySpec,
        purpose: &str,
    ) -> Result<RepoLock, Failure> {
        let host = HostLock::acquire(dir, &repository.url, purpose).map_err(Failure::Lock)?;
        let store = match store::Store::open(repository) {
            Ok(store) => store,
            Err(e) => return Err(Failure::Unreachable(host, e)),
        };
        let lease = match remote::acquire(store, purpose, LeaseTimes::from_env()).await {
            Ok(lease) => lease,
            Err(remote::Refusal::Held(holder)) => {
                return Err(Failure::Lock(LockError::Held {
                    repository: repository.url.clone(),
                    holder,
                }))
            }
            Err(remote::Refusal::Storage(e)) => return Err(Failure::Unreachable(host, e)),
        };
        let advisory = lease.advisory_reason.as_ref().map(|why| {
            format!(
                "the lock on {} is advisory only: its server does not honour conditional writes ({why}), so another host can write the repository at the same time",
                repository.url
            )
        });
        Ok(RepoLock {
            took_over: lease.took_over.clone().or_else(|| host.took_over.clone()),
            advisory,
            host,
            lease: Some(lease),
        })
    }

    /// Who holds the lock right now, on this host or any other, without taking it.
    pub async fn holder(dir: &Path, repository: &RepositorySpec) -> Option<LockHolder> {
        match RepoLock::host_holder(dir, &repository.url) {
            Some(here) => Some(here),
            None => RepoLock::remote_holder(repository).await,
        }
    }

    /// Who holds the host lock (a run on this host, same state directory), without I/O on the
    /// repository.
    pub fn host_holder(dir: &Path, repository: &str) -> Option<LockHolder> {
        HostLock::holder(dir, repository)
    }

    /// Who holds the repository's lock object with a lease still running, if anyone.
    pub async fn remote_holder(repository: &RepositorySpec) -> Option<LockHolder> {
        let store = store::Store::open(repository).ok()?;
        remote::holder(&store, LeaseTimes::from_env()).await
    }

    /// Releases the repository's lock object (if still ours), then the host lock; returns
    /// warnings for the run to show when the object could not be removed.
    pub async fn release(mut self) -> Vec<String> {
        match self.lease.take() {
            Some(lease) => lease.release().await,
            None => Vec::new(),
        }
    }

    /// The warnings taking the lock gave: a stale lock taken over, an advisory-only lock.
    pub fn warnings(&self) -> Vec<String> {
        let took_over = self
            .took_over
            .as_ref()
            .map(|dead| format!("took over a stale lock left by {dead}"));
        took_over.into_iter().chain(self.advisory.clone()).collect()
    }

    pub fn path(&self) -> &Path {
        self.host.path()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_acquire_names_the_holder_and_release_frees_it() {
        let dir = tempfile::tempdir().unwrap();
        let first = HostLock::acquire(dir.path(), "file:///r", "backup").unwrap();
        assert!(first.took_over.is_none());
        match HostLock::acquire(dir.path(), "file:///r", "backup") {
            Err(LockError::Held { holder, .. }) => assert_eq!(holder.pid, std::process::id()),
            other => panic!("expected Held, got {other:?}"),
        }
        assert_eq!(
            HostLock::holder(dir.path(), "file:///r").unwrap().pid,
            std::process::id()
        );
        // Another repository is independent.
        let _other = HostLock::acquire(dir.path(), "s3://b/p", "backup").unwrap();
        drop(first);
        assert!(HostLock::holder(dir.path(), "file:///r").is_none());
        let again = HostLock::acquire(dir.path(), "file:///r", "backup").unwrap();
        assert!(
            again.took_over.is_none(),
            "a clean release is not a stale lock"
        );
    }

    #[test]
    fn a_dead_holders_record_is_taken_over() {
        let dir = tempfile::tempdir().unwrap();
        let path = lock_path(dir.path(), "file:///r");
        let dead = LockHolder {
            host: this_host(),
            pid: 0x3fff_fff0,
            started_at: Utc::now(),
            purpose: "backup".into(),
        };
        std::fs::write(&path, serde_json::to_vec(&dead).unwrap()).unwrap();
        let lock = HostLock::acquire(dir.path(), "file:///r", "backup").unwrap();
        assert_eq!(lock.took_over, Some(dead));
    }

    #[test]
    fn a_refusal_names_a_holder_that_writes_its_record_just_after_locking() {
        let dir = tempfile::tempdir().unwrap();
        let path = lock_path(dir.path(), "file:///r");
        let mut file = std::fs::File::create(&path).unwrap();
        assert!(try_flock(&file, libc::LOCK_EX).unwrap());
        let holder = LockHolder {
            host: this_host(),
            pid: 4242,
            started_at: Utc::now(),
            purpose: "backup".into(),
        };
        let record = serde_json::to_vec(&holder).unwrap();
        let late_writer = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            file.write_all(&record).unwrap();
            file
        });
        match HostLock::acquire(dir.path(), "file:///r", "backup") {
            Err(LockError::Held { holder: named, .. }) => assert_eq!(named, holder),
            other => panic!("expected Held, got {other:?}"),
        }
        drop(late_writer.join().unwrap());
    }

    #[test]
    fn a_momentary_status_reader_does_not_refuse_a_backup() {
        let dir = tempfile::tempdir().unwrap();
        let path = lock_path(dir.path(), "file:///r");
        let reader = std::fs::File::create(&path).unwrap();
        assert!(try_flock(&reader, libc::LOCK_SH).unwrap());
        let release = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(100));
            drop(reader);
        });
        let lock = HostLock::acquire(dir.path(), "file:///r", "backup").unwrap();
        assert!(lock.took_over.is_none());
        release.join().unwrap();
    }

    #[test]
    fn process_alive_knows_itself() {
        assert!(process_alive(std::process::id()));
        assert!(!process_alive(0));
        assert!(!process_alive(0x3fff_fff0));
    }

    #[test]
    fn a_reused_pid_is_not_the_process_that_recorded_it() {
        let me = std::process::id();
        let start = process_start(me).expect("this process has a start time");
        assert!(process_alive_since(me, Some(start)));
        assert!(process_alive_since(me, None), "older records have no start");
        // The same pid with another start: a later process that reused the pid.
        assert!(!process_alive_since(me, Some(start + 1)));
        assert!(!process_alive_since(0x3fff_fff0, None));
        assert_eq!(process_start(0x3fff_fff0), None);
    }
}
