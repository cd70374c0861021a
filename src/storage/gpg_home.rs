//! The private, short-lived GNUPGHOME a passphrase-mode job runs gpg in, and the clean-up of
//! homes whose job was killed.
//!
//! gpg starts a `gpg-agent` daemon in the home on first use. Dropping the home stops the agent
//! (`gpgconf --kill all`) and removes the folder, but a job killed with SIGKILL (or by the OOM
//! killer, or a power cut) drops nothing: its agent would run forever, holding two of the user's
//! inotify instances (128 by default), and its folder would stay in `/tmp`, one of each per
//! killed job. So every home records its owner (pid, pid namespace and start time, since pids
//! are reused), and creating a home first sweeps the homes whose owner no longer exists.

use super::gpg::GpgError;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Short: gpg-agent's socket path must fit in sockaddr_un (108 bytes).
const PREFIX: &str = "lbg";
const PARENT: &str = "/tmp";
/// `<pid> <pid namespace> <process start>` of the process the home belongs to.
const OWNER_FILE: &str = "lifeboat.owner";

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
        sweep_abandoned(parent);
        let dir = tempfile::Builder::new()
            .prefix(PREFIX)
            .tempdir_in(parent)
            .map_err(GpgError::Home)?;
        std::fs::write(
            dir.path().join(OWNER_FILE),
            owner_record(std::process::id()),
        )
        .map_err(GpgError::Home)?;
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

/// Pids are only comparable within one pid namespace (containers may share `/tmp`).
fn pid_namespace() -> String {
    std::fs::read_link("/proc/self/ns/pid")
        .map(|p| p.display().to_string())
        .unwrap_or_default()
}

fn owner_record(pid: u32) -> String {
    let start = super::lock::process_start(pid).map_or("-".into(), |t| t.to_string());
    format!("{pid} {} {start}\n", pid_namespace())
}

/// Whether the home at `dir` belongs to a process of this namespace that no longer exists.
/// Anything else (no record, another user's folder, a symlink, a live or foreign owner) is
/// left alone.
fn is_abandoned(dir: &Path) -> bool {
    let Ok(meta) = std::fs::symlink_metadata(dir) else {
        return false;
    };
    // SAFETY: geteuid has no preconditions.
    if !meta.is_dir() || meta.uid() != unsafe { libc::geteuid() } {
        return false;
    }
    let Ok(record) = std::fs::read_to_string(dir.join(OWNER_FILE)) else {
        return false;
    };
    let mut fields = record.split_whitespace();
    let (Some(pid), Some(namespace)) = (fields.next(), fields.next()) else {
        return false;
    };
    let Ok(pid) = pid.parse::<u32>() else {
        return false;
    };
    // The start tells the owner from a later process that reused its pid.
    let start = fields.next().and_then(|t| t.parse().ok());
    namespace == pid_namespace() && !super::lock::process_alive_since(pid, start)
}

/// Stops the agents of abandoned homes under `parent` and removes the homes.
fn sweep_abandoned(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        if !entry.file_name().to_string_lossy().starts_with(PREFIX) {
            continue;
        }
        let dir = entry.path();
        if is_abandoned(&dir) {
            stop_agent(&dir);
            let _ = std::fs::remove_dir_all(&dir);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            !is_abandoned(home.path()),
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
