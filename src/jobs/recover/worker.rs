//! Whether a recovery's worker is alive. The process running a recovery holds an exclusive
//! `flock` on `<recoveries>/<id>.lock` for its whole run (taken in `run`), with its pid
//! written inside; the kernel drops the lock when that process ends, however it ends (a
//! SIGKILL, a reboot), so "someone holds the lock" is "a worker is running", with no stale
//! record to clean up. The console asks `status` to tell "running headless (pid N)" from
//! "stopped: press r", and `--resume` refuses a recovery whose worker is alive.

use super::RecoverError;
use crate::storage::lock::try_flock;
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

/// The lock file of recovery `id`.
pub fn lock_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}.lock"))
}

/// Where the console sends a detached worker's output.
pub fn log_path(dir: &Path, id: &str) -> PathBuf {
    dir.join(format!("{id}.log"))
}

/// What the lock says about recovery `id`'s worker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Worker {
    /// A process holds the lock (its pid, as it wrote it; 0 if it had not yet).
    Running(u32),
    Stopped,
}

/// How long a lock held without a pid is waited for before it counts as a worker's.
const UNNAMED_HOLDER_GRACE: std::time::Duration = std::time::Duration::from_millis(500);

/// Held while a recovery runs; dropping it (or the process ending) releases the lock.
#[derive(Debug)]
pub struct WorkerLock {
    _file: File,
}

fn read_pid(file: &mut File) -> u32 {
    let mut text = String::new();
    let _ = file.rewind();
    let _ = file.read_to_string(&mut text);
    text.trim().parse().unwrap_or(0)
}

/// Takes recovery `id`'s lock for this process, or names the process that has it. The file
/// is opened close-on-exec (Rust's default), so the PostgreSQL server a recovery starts does
/// not inherit the lock and keep the recovery "running" after its worker ended.
pub fn hold(dir: &Path, id: &str) -> Result<WorkerLock, RecoverError> {
    let path = lock_path(dir, id);
    let io = |e: std::io::Error| RecoverError::Step {
        step: "lock",
        reason: format!("{}: {e}", path.display()),
        state: "nothing was changed".into(),
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .map_err(io)?;
    // `status` takes a shared lock for an instant and writes no pid: a holder with no pid
    // is a prober (or a worker between its lock and its pid), so look again briefly.
    let deadline = std::time::Instant::now() + UNNAMED_HOLDER_GRACE;
    while !try_flock(&file, libc::LOCK_EX).map_err(io)? {
        let pid = read_pid(&mut file);
        if pid != 0 || std::time::Instant::now() > deadline {
            return Err(RecoverError::Locked {
                id: id.to_string(),
                pid,
            });
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    file.set_len(0).map_err(io)?;
    file.rewind().map_err(io)?;
    writeln!(file, "{}", std::process::id()).map_err(io)?;
    file.sync_all().map_err(io)?;
    Ok(WorkerLock { _file: file })
}

/// Whether a process holds recovery `id`'s lock now. Tried with a shared lock, released at
/// once: a worker starting in that instant sees its own lock taken only for that moment.
pub fn status(dir: &Path, id: &str) -> Worker {
    let Ok(mut file) = File::open(lock_path(dir, id)) else {
        return Worker::Stopped;
    };
    match try_flock(&file, libc::LOCK_SH) {
        Ok(true) => Worker::Stopped,
        Ok(false) => Worker::Running(read_pid(&mut file)),
        Err(_) => Worker::Stopped,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_says_running_while_held_and_stopped_once_dropped() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(status(dir.path(), "r1"), Worker::Stopped);
        let held = hold(dir.path(), "r1").unwrap();
        assert_eq!(
            status(dir.path(), "r1"),
            Worker::Running(std::process::id())
        );
        // A second worker for the same recovery is refused, naming the first.
        match hold(dir.path(), "r1") {
            Err(RecoverError::Locked { pid, .. }) => assert_eq!(pid, std::process::id()),
            other => panic!("expected Locked, got {other:?}"),
        }
        assert_eq!(status(dir.path(), "r2"), Worker::Stopped);
        drop(held);
        // A prober's momentary shared lock (no pid) does not make a starting worker fail.
        let probe = File::open(lock_path(dir.path(), "r1")).unwrap();
        assert!(try_flock(&probe, libc::LOCK_SH).unwrap());
        let release = std::thread::spawn(move || {
            std::thread::sleep(std::time::Duration::from_millis(50));
            drop(probe);
        });
        std::fs::write(lock_path(dir.path(), "r1"), "").unwrap();
        let again = hold(dir.path(), "r1").unwrap();
        release.join().unwrap();
        drop(again);
        assert_eq!(status(dir.path(), "r1"), Worker::Stopped);
        hold(dir.path(), "r1").unwrap();
    }
}
