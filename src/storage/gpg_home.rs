//! The private, short-lived GNUPGHOME a passphrase-mode job runs gpg in, and the clean-up of
//! homes whose job was killed.
//!
//! gpg starts a `gpg-agent` daemon in the home on first use. Dropping the home stops the agent
//! (`gpgconf --kill all`) and removes the folder, but a job killed with SIGKILL (or by the OOM
//! killer, or a power cut) drops nothing: its agent would run forever, holding two of the user's
//! inotify instances (128 by default), and its folder would stay in `/tmp`, one of each per
//! killed job. So every home records its owner (pid, pid namespace and start time, since pids
//! are reused, see `orphans`), and creating a home first sweeps the homes whose owner no longer
//! exists, as does the start of every lifeboat command.

use super::gpg::GpgError;
use super::orphans::{self, Removed};
use std::path::Path;

/// Short: gpg-agent's socket path must fit in sockaddr_un (108 bytes).
const PREFIX: &str = "lbg";
const PARENT: &str = "/tmp";

/// A GNUPGHOME that exists for one job: removed, agent and all, when dropped.
#[derive(Debug)]
pub(crate) struct PrivateHome {
    dir: tempfile::TempDir,
}

impl PrivateHome {
    pub(crate) fn create() -> Result<Self, GpgError> {
        PrivateHome::create_in(Path::new(PARENT))
    }

    fn create_in(parent: &Path) -> Result<Self, GpgError> {
        for removed in sweep_abandoned(parent) {
            tracing::info!("{removed}");
        }
        let dir = tempfile::Builder::new()
            .prefix(PREFIX)
            .tempdir_in(parent)
            .map_err(GpgError::Home)?;
        orphans::tag(dir.path()).map_err(GpgError::Home)?;
        // The key-derivation count is pinned at gpg's maximum: a fresh agent would otherwise
        // spend seconds calibrating it on every job, and fast machines land there anyway.
        std::fs::write(
            dir.path().join("gpg.conf"),
            "s2k-cipher-algo AES256\ns2k-digest-algo SHA512\ns2k-count 65011712\ncipher-algo AES256\nno-symkey-cache\n",
        )
        .map_err(GpgError::Home)?;
        std::fs::write(
            dir.path().join("gpg-agent.conf"),
            "allow-loopback-pinentry\n",
        )
        .map_err(GpgError::Home)?;
        Ok(PrivateHome { dir })
    }

    pub(crate) fn path(&self) -> &Path {
        self.dir.path()
    }
}

impl Drop for PrivateHome {
    fn drop(&mut self) {
        stop_agent(self.dir.path());
    }
}

fn stop_agent(home: &Path) {
    let _ = std::process::Command::new("gpgconf")
        .arg("--homedir")
        .arg(home)
        .args(["--kill", "all"])
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status();
}

/// Whether the home at `dir` belongs to a process of this namespace that no longer exists
/// (see `orphans`): the owner of an abandoned home.
fn abandoned_by(dir: &Path) -> Option<u32> {
    // SAFETY: geteuid has no preconditions.
    orphans::abandoned_by(dir, &[unsafe { libc::geteuid() }])
}

/// Stops the agents of abandoned homes under `parent` and removes the homes.
fn sweep_abandoned(parent: &Path) -> Vec<Removed> {
    let mut removed = Vec::new();
    for dir in orphans::entries_named(parent, PREFIX) {
        if let Some(owner_pid) = abandoned_by(&dir) {
            stop_agent(&dir);
            if std::fs::remove_dir_all(&dir).is_ok() {
                removed.push(Removed {
                    kind: orphans::Kind::GpgHome,
                    path: dir,
                    owner_pid,
                    detail: "its gpg-agent stopped".into(),
                });
            }
        }
    }
    removed
}

/// Removes the homes killed jobs left in `/tmp`, stopping their agents.
pub(crate) fn sweep() -> Vec<Removed> {
    sweep_abandoned(Path::new(PARENT))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::orphans::{owner_record, pid_namespace, OWNER_FILE};

    /// A pid no process has (above the kernel's pid_max limit).
    const DEAD_PID: u32 = 0x3fff_fff0;

    fn fake_home(parent: &Path, name: &str, record: Option<String>) -> std::path::PathBuf {
        let dir = parent.join(name);
        std::fs::create_dir(&dir).unwrap();
        if let Some(record) = record {
            std::fs::write(dir.join(OWNER_FILE), record).unwrap();
        }
        dir
    }

    #[test]
    fn creating_a_home_removes_only_homes_whose_owner_is_gone() {
        let parent = tempfile::tempdir().unwrap();
        let dead = fake_home(parent.path(), "lbgdead", Some(owner_record(DEAD_PID)));
        let live = fake_home(
            parent.path(),
            "lbglive",
            Some(owner_record(std::process::id())),
        );
        let foreign = fake_home(
            parent.path(),
            "lbgforeign",
            Some(format!("{DEAD_PID} pid:[1]\n")),
        );
        let reused = fake_home(
            parent.path(),
            "lbgreused",
            Some(format!(
                "{} {} {}\n",
                std::process::id(),
                pid_namespace(),
                super::super::lock::process_start(std::process::id()).unwrap() + 1
            )),
        );
        let unrecorded = fake_home(parent.path(), "lbgold", None);
        let other = fake_home(parent.path(), "other", Some(owner_record(DEAD_PID)));

        let home = PrivateHome::create_in(parent.path()).unwrap();
        assert!(!dead.exists(), "the dead owner's home is swept");
        assert!(
            !reused.exists(),
            "a home whose owner's pid now names another process is swept"
        );
        for kept in [&live, &foreign, &unrecorded, &other] {
            assert!(kept.exists(), "{} is kept", kept.display());
        }
        let record = std::fs::read_to_string(home.path().join(OWNER_FILE)).unwrap();
        assert_eq!(record, owner_record(std::process::id()));
        assert!(
            abandoned_by(home.path()).is_none(),
            "a live job's home is not abandoned"
        );
    }

    #[test]
    fn a_symlink_named_like_a_home_is_not_followed() {
        let parent = tempfile::tempdir().unwrap();
        let target = fake_home(parent.path(), "target", Some(owner_record(DEAD_PID)));
        std::os::unix::fs::symlink(&target, parent.path().join("lbglink")).unwrap();
        sweep_abandoned(parent.path());
        assert!(target.join(OWNER_FILE).exists());
        assert!(parent.path().join("lbglink").exists());
    }
}
