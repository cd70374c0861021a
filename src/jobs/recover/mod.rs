//! Disaster recovery on a bare host (`lifeboat recover`): everything comes from the command
//! line and the repository, nothing from a configuration file. The set is chosen and checked
//! (`choose`), the old host is read from its manifest and a plan is made (`plan`), and after
//! confirmation the recovery runs as a journaled runbook (`runbook`: one JSON file per
//! recovery, rewritten atomically at each step's start and end) through its steps (`steps`,
//! reusing the restore's and the drill's pieces). A killed recovery resumes from the first
//! step that did not finish, after re-checking what the finished ones left (`recheck`). The
//! end is a record of kind `recovery` beside the drills (`record`) and the new host's
//! configuration (`config_text`).

mod choose;
mod config_text;
mod plan;
mod recheck;
mod record;
mod runbook;
mod steps;
mod target;
pub mod worker;

pub use choose::{remote_sets, CandidateSkipped, RemoteSet};
pub use plan::{prepare, OldHost, Prepared, RecoveryPlan};
pub use recheck::{resume, Resumption};
pub use runbook::{Runbook, RunbookError, StepRecord, StepState, STEPS};
pub use steps::{begin, run};
pub use target::TargetState;

use crate::storage::gpg::EncryptionSpec;
use crate::storage::manifest::Manifest;
use crate::storage::paths::LocalPaths;
use crate::storage::repository::RepositorySpec;
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// One repository as the command line gives it (the same options as `[repository]`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq, Eq)]
pub struct RepoArgs {
    pub url: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub path_style: Option<bool>,
}

impl RepoArgs {
    pub fn spec(&self, setting: &'static str) -> RepositorySpec {
        RepositorySpec {
            url: self.url.clone(),
            endpoint: self.endpoint.clone(),
            region: self.region.clone(),
            path_style: self.path_style,
            timeout: crate::storage::repository::DEFAULT_TIMEOUT,
            timeout_setting: setting,
        }
    }
}

/// Where the key comes from. Never the passphrase itself: only the file's path is kept.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum KeySource {
    PassphraseFile(PathBuf),
    /// The gpg keyring (`GNUPGHOME` or the default) holds the secret key of a recipient.
    Keyring,
}

/// What the recovery restores the database into.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum TargetChoice {
    /// A libpq URL (its password from PGPASSWORD or .pgpass, never the URL).
    Url(String),
    /// A new local cluster in this data directory, of the dump's major version.
    NewCluster(PathBuf),
}

/// Everything a recovery needs, from the command line; kept in the runbook so that
/// `--resume` needs nothing but the state directory.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RecoverSpec {
    pub repository: RepoArgs,
    pub secrets_repository: Option<RepoArgs>,
    pub key: KeySource,
    /// A set id; `None` or `latest`: chosen (see `choose`).
    pub set: Option<String>,
    pub target: TargetChoice,
    /// File roots and secrets go under this directory, original paths kept inside it;
    /// `None`: at their original paths.
    pub files_prefix: Option<PathBuf>,
    pub config_out: PathBuf,
    pub pg_bin_dir: Option<PathBuf>,
    pub jobs: u32,
    pub create_roles: bool,
    pub post_restore: Vec<String>,
    pub health: Option<String>,
    pub freshness_query: Option<String>,
    pub manual: Vec<String>,
    /// A throwaway target, torn down at the end; no config is written.
    #[serde(default)]
    pub rehearse: bool,
}

/// The manual steps a recovery lists when the operator names none.
pub const DEFAULT_MANUAL_STEPS: [&str; 3] = [
    "point DNS (or the load balancer) at this host",
    "start the application and its workers",
    "log in and open a recent record",
];

impl RecoverSpec {
    pub fn encryption(&self, manifest: &Manifest) -> EncryptionSpec {
        match &self.key {
            KeySource::PassphraseFile(path) => EncryptionSpec::Passphrase {
                passphrase_file: path.clone(),
            },
            KeySource::Keyring => EncryptionSpec::Recipients {
                recipients: manifest
                    .components
                    .iter()
                    .flat_map(|c| c.encryption.recipients.iter().cloned())
                    .collect(),
            },
        }
    }

    pub fn data_repository(&self) -> RepositorySpec {
        self.repository.spec("--repository (default timeout)")
    }

    pub fn secrets_repository(&self) -> Option<RepositorySpec> {
        self.secrets_repository
            .as_ref()
            .map(|r| r.spec("--secrets-repository (default timeout)"))
    }
}

/// Where a recovery keeps its runbooks and downloads.
pub fn recoveries_dir(paths: &LocalPaths) -> PathBuf {
    paths.state_dir.join("recoveries")
}

/// A new directory for a rehearsal's throwaway cluster (`pgdata`) and files (`files`): under
/// /tmp, traversable by the server's OS user (the cluster's own directory is 0700), removed by
/// the rehearsal's end. `files` is 0700 from the start: the application's documents and
/// secrets are restored there, and no other local user may read them meanwhile.
pub fn rehearsal_dir() -> std::io::Result<PathBuf> {
    use std::os::unix::fs::{DirBuilderExt, PermissionsExt};
    let dir = tempfile::Builder::new()
        .prefix("lifeboat-rehearsal-")
        .tempdir_in("/tmp")?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755))?;
    std::fs::DirBuilder::new()
        .mode(0o700)
        .create(dir.path().join("files"))?;
    Ok(dir.keep())
}

/// How long the health command may take.
pub const HEALTH_TIMEOUT: Duration = Duration::from_secs(120);

#[derive(Debug, thiserror::Error)]
pub enum RecoverError {
    #[error(transparent)]
    Repo(#[from] crate::storage::repository::RepoError),
    #[error("{0}")]
    Usage(String),
    #[error("no complete set in {0} to recover from")]
    NoSets(String),
    #[error("set {set} fails verification ({problem}); refusing it, nothing was changed. {next}")]
    SetDamaged {
        set: String,
        problem: String,
        next: String,
    },
    #[error("the plan cannot succeed, nothing was changed: {}", .0.join("; "))]
    PlanFailed(Vec<String>),
    #[error("{what}: it holds {holds}; refusing to replace it without the confirmation (type its name `{name}` at the prompt, or pass --replace-target {name}); nothing was changed")]
    TargetNotEmpty {
        what: String,
        holds: String,
        name: String,
    },
    #[error("the key cannot decrypt `{object}`: {problem}; check --passphrase-file (or the gpg keyring); nothing was changed on the target")]
    WrongKey { object: String, problem: String },
    #[error("step `{step}` failed: {reason}. {state}")]
    Step {
        step: &'static str,
        reason: String,
        state: String,
    },
    #[error("the runbook {}: {source}", path.display())]
    Runbook { path: PathBuf, source: RunbookError },
    #[error("no unfinished recovery in {}: start one with `lifeboat recover --repository URL ...`", .0.display())]
    NothingToResume(PathBuf),
    #[error("recovery {id} is running in another process (pid {pid}); wait for it (its runbook and log are beside its lock in the recoveries directory), or stop it (`kill {pid}`) before resuming")]
    Locked { id: String, pid: u32 },
    #[error("cancelled during `{step}`; `lifeboat recover --resume` continues from there")]
    Cancelled { step: &'static str },
}

impl RecoverError {
    /// Refused before anything was changed (usage, plan, a damaged set, a non-empty target).
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            RecoverError::Usage(_)
                | RecoverError::PlanFailed(_)
                | RecoverError::TargetNotEmpty { .. }
                | RecoverError::NoSets(_)
        )
    }
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_rehearsals_files_are_private_from_the_start() {
        let dir = super::rehearsal_dir().unwrap();
        let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&dir), 0o755);
        assert_eq!(mode(&dir.join("files")), 0o700);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
