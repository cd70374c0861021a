//! What a killed lifeboat leaves outside any repository, found by its tag and removed by the
//! next run: throwaway PostgreSQL clusters (`pg_cluster`), restore and drill scratch
//! directories (encrypted downloads; the decrypted dump itself is an unlinked file that dies
//! with the process) and private GNUPGHOMEs (`gpg_home`).
//!
//! Each such directory holds a tag, [`OWNER_FILE`]: the owning process's pid, pid namespace and
//! start time, since pids are reused. A directory is removed only when its tag was written by
//! this user, names a process of this pid namespace, and that process no longer exists. No tag
//! (a directory being created this instant, or one from an older lifeboat), a live owner, a
//! symlink, or a tag another user wrote: left alone.

use super::pg_cluster;
use super::units;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// `<pid> <pid namespace> <process start>` of the process a directory belongs to.
pub const OWNER_FILE: &str = "lifeboat.owner";
/// Scratch directories of restores and drills, under the configured scratch directory.
pub const SCRATCH_PREFIX: &str = "lifeboat-scratch-";
/// How long a stray server of an abandoned cluster gets to shut down before it is killed.
const SERVER_STOP_TIMEOUT: Duration = Duration::from_secs(60);
/// Between looks at whether that server is gone.
const SERVER_POLL_INTERVAL: Duration = Duration::from_millis(10);

/// What kind of leftover was removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Cluster,
    Scratch,
    GpgHome,
}

/// One leftover the sweep removed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Removed {
    pub kind: Kind,
    pub path: PathBuf,
    /// The killed process it belonged to.
    pub owner_pid: u32,
    /// What else was done (a server stopped, files counted).
    pub detail: String,
}

impl std::fmt::Display for Removed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let what = match self.kind {
            Kind::Cluster => "throwaway PostgreSQL cluster",
            Kind::Scratch => "scratch directory (restore or drill)",
            Kind::GpgHome => "private GNUPGHOME",
        };
        write!(
            f,
            "removed the {what} {} left by lifeboat pid {}, which was killed",
            self.path.display(),
            self.owner_pid
        )?;
        if !self.detail.is_empty() {
            write!(f, " ({})", self.detail)?;
        }
        Ok(())
    }
}

/// Pids are only comparable within one pid namespace (containers may share `/tmp`).
pub(crate) fn pid_namespace() -> String {
    std::fs::read_link("/proc/self/ns/pid")
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

pub(crate) fn owner_record(pid: u32) -> String {
    let start = super::lock::process_start(pid).map_or("-".into(), |t| t.to_string());
    format!("{pid} {} {start}\n", pid_namespace())
}

/// Tags `dir` as belonging to this process.
pub fn tag(dir: &Path) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(dir.join(OWNER_FILE))?;
    file.write_all(owner_record(std::process::id()).as_bytes())
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

/// The pid of the killed process `dir` belongs to, when it is abandoned (see the module
/// comment); `dir_owners`: the uids the directory itself may belong to.
pub(crate) fn abandoned_by(dir: &Path, dir_owners: &[u32]) -> Option<u32> {
    let meta = std::fs::symlink_metadata(dir).ok()?;
    if !meta.is_dir() || !dir_owners.contains(&meta.uid()) {
        return None;
    }
    let tag = dir.join(OWNER_FILE);
    let tag_meta = std::fs::symlink_metadata(&tag).ok()?;
    // A tag this user did not write proves nothing (anyone can make a folder in /tmp).
    if !tag_meta.is_file() || tag_meta.uid() != euid() {
        return None;
    }
    let record = std::fs::read_to_string(&tag).ok()?;
    let mut fields = record.split_whitespace();
    let pid = fields.next()?.parse::<u32>().ok()?;
    let namespace = fields.next()?;
    let start = fields.next().and_then(|t| t.parse().ok());
    (namespace == pid_namespace() && !super::lock::process_alive_since(pid, start)).then_some(pid)
}

/// The entries of `parent` named `prefix*`, as paths.
pub(crate) fn entries_named(parent: &Path, prefix: &str) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    entries
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().starts_with(prefix))
        .map(|e| e.path())
        .collect()
}

/// Files and bytes under `dir` (not following links).
pub fn sizes(dir: &Path) -> (usize, u64) {
    let (mut files, mut bytes) = (0, 0);
    let mut pending = vec![dir.to_path_buf()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).into_iter().flatten().flatten() {
            match std::fs::symlink_metadata(entry.path()) {
                Ok(m) if m.is_dir() => pending.push(entry.path()),
                Ok(m) => {
                    files += 1;
                    bytes += m.len();
                }
                Err(_) => {}
            }
        }
    }
    (files, bytes)
}

/// Removes the abandoned scratch directories under each of `scratch_parents`.
pub fn sweep_scratch(scratch_parents: &[&Path]) -> Vec<Removed> {
    let mut removed = Vec::new();
    for parent in scratch_parents {
        for dir in entries_named(parent, SCRATCH_PREFIX) {
            let Some(owner_pid) = abandoned_by(&dir, &[euid()]) else {
                continue;
            };
            // The tag is not counted: it is lifeboat's own.
            let (files, bytes) = sizes(&dir);
            let detail = match files.saturating_sub(1) {
                0 => String::new(),
                n => format!("{n} downloaded objects, {}", units::bytes(bytes)),
            };
            if std::fs::remove_dir_all(&dir).is_ok() {
                removed.push(Removed {
                    kind: Kind::Scratch,
                    path: dir,
                    owner_pid,
                    detail,
                });
            }
        }
    }
    removed
}

/// Removes the clusters killed lifeboat runs of this user left in the temporary directories,
/// stopping a server that still runs in one (`pg_cluster` puts them in /tmp when root).
pub(crate) fn sweep_clusters() -> Vec<Removed> {
    let mut owners = vec![euid()];
    owners.extend(pg_cluster::server_uid_under_root());
    let mut parents = vec![PathBuf::from("/tmp")];
    let tmp = std::env::temp_dir();
    if !parents.contains(&tmp) {
        parents.push(tmp);
    }
    let mut removed = Vec::new();
    for parent in &parents {
        for dir in entries_named(parent, pg_cluster::DIR_PREFIX) {
            let Some(owner_pid) = abandoned_by(&dir, &owners) else {
                continue;
            };
            let detail = stop_stray_server(&dir);
            if std::fs::remove_dir_all(&dir).is_ok() {
                removed.push(Removed {
                    kind: Kind::Cluster,
                    path: dir,
                    owner_pid,
                    detail,
                });
            }
        }
    }
    removed
}

/// Stops the server of an abandoned cluster at `root` if one still runs there: one whose pid
/// `postmaster.pid` names, owned by the directory's owner, running on this data directory.
fn stop_stray_server(root: &Path) -> String {
    let data_dir = root.join("data");
    let pid = std::fs::read_to_string(data_dir.join("postmaster.pid"))
        .ok()
        .and_then(|t| t.lines().next()?.trim().parse::<i32>().ok())
        .filter(|pid| *pid > 0);
    let Some(pid) = pid else {
        return "its server had stopped".into();
    };
    let owner = std::fs::metadata(root).map(|m| m.uid()).ok();
    let ours = std::fs::metadata(format!("/proc/{pid}"))
        .map(|m| m.uid())
        .ok()
        == owner
        && std::fs::read(format!("/proc/{pid}/cmdline"))
            .map(|c| String::from_utf8_lossy(&c).contains(&*data_dir.to_string_lossy()))
            .unwrap_or(false);
    if !ours || !pg_cluster::process_alive(pid) {
        return "its server had stopped".into();
    }
    // SAFETY: kill(2) on the postmaster of the abandoned cluster, checked just above.
    unsafe {
        libc::kill(pid, libc::SIGQUIT);
    }
    let deadline = Instant::now() + SERVER_STOP_TIMEOUT;
    while pg_cluster::process_alive(pid) && Instant::now() < deadline {
        std::thread::sleep(SERVER_POLL_INTERVAL);
    }
    if pg_cluster::process_alive(pid) {
        // SAFETY: as above.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
    format!("its server, pid {pid}, was still running and was stopped")
}

/// Everything a killed lifeboat of this user left: clusters (their servers stopped first),
/// scratch directories under `scratch_parents`, and GNUPGHOMEs (their agents stopped first).
pub fn sweep(scratch_parents: &[&Path]) -> Vec<Removed> {
    let mut removed = sweep_clusters();
    removed.extend(sweep_scratch(scratch_parents));
    removed.extend(super::gpg_home::sweep());
    removed
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A pid no process has (above the kernel's pid_max limit).
    const DEAD_PID: u32 = 0x3fff_fff0;

    fn dir_with(parent: &Path, name: &str, record: Option<String>) -> PathBuf {
        let dir = parent.join(name);
        std::fs::create_dir(&dir).unwrap();
        if let Some(record) = record {
            std::fs::write(dir.join(OWNER_FILE), record).unwrap();
        }
        std::fs::write(dir.join("db.enc"), vec![7u8; 4096]).unwrap();
        dir
    }

    #[test]
    fn only_scratch_of_dead_owners_of_this_namespace_goes() {
        let parent = tempfile::tempdir().unwrap();
        let p = parent.path();
        let dead = dir_with(p, "lifeboat-scratch-dead", Some(owner_record(DEAD_PID)));
        let live = dir_with(
            p,
            "lifeboat-scratch-live",
            Some(owner_record(std::process::id())),
        );
        let reused = dir_with(
            p,
            "lifeboat-scratch-reused",
            Some(format!(
                "{} {} {}\n",
                std::process::id(),
                pid_namespace(),
                super::super::lock::process_start(std::process::id()).unwrap() + 1
            )),
        );
        let foreign = dir_with(
            p,
            "lifeboat-scratch-foreign",
            Some(format!("{DEAD_PID} pid:[1]\n")),
        );
        let untagged = dir_with(p, "lifeboat-scratch-untagged", None);
        let other = dir_with(p, "something-else", Some(owner_record(DEAD_PID)));
        std::os::unix::fs::symlink(&dead, p.join("lifeboat-scratch-link")).unwrap();

        let removed = sweep_scratch(&[p]);
        let mut paths: Vec<&Path> = removed.iter().map(|r| r.path.as_path()).collect();
        paths.sort();
        assert_eq!(paths, vec![dead.as_path(), reused.as_path()], "{removed:?}");
        assert!(removed
            .iter()
            .any(|r| r.owner_pid == DEAD_PID && r.detail == "1 downloaded objects, 4.0 KiB"));
        let said = removed
            .iter()
            .find(|r| r.owner_pid == DEAD_PID)
            .unwrap()
            .to_string();
        assert!(
            said.contains("lifeboat-scratch-dead") && said.contains("killed"),
            "{said}"
        );
        for kept in [&live, &foreign, &untagged, &other] {
            assert!(kept.exists(), "{} is kept", kept.display());
        }
        assert!(sweep_scratch(&[p]).is_empty());
    }

    #[test]
    fn a_tag_written_by_another_user_is_not_trusted() {
        // Only root can make a file owned by someone else.
        if euid() != 0 {
            return;
        }
        let parent = tempfile::tempdir().unwrap();
        let dir = dir_with(
            parent.path(),
            "lifeboat-scratch-x",
            Some(owner_record(DEAD_PID)),
        );
        std::os::unix::fs::chown(dir.join(OWNER_FILE), Some(65534), None).unwrap();
        assert_eq!(abandoned_by(&dir, &[0]), None);
        std::os::unix::fs::chown(dir.join(OWNER_FILE), Some(0), None).unwrap();
        assert_eq!(abandoned_by(&dir, &[0]), Some(DEAD_PID));
        assert_eq!(
            abandoned_by(&dir, &[65534]),
            None,
            "the folder's owner counts"
        );
    }
}
