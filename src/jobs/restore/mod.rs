//! Restore: the dry run (fetch, verify, decrypt to scratch, `pg_restore --list` summary,
//! archive safety checks, preflight, and the plan), and the real restore on top of it (safety
//! backup, pre-restore hooks, pg_restore into a new database swapped in by name (see
//! `restore_db`), files and secrets into place, post-restore hooks, health check). The dry run
//! changes nothing that exists; the real restore stops at the first failing step and says how
//! to go back.

mod decrypt;
mod hooks;
mod pg_restore;
mod plan;
mod run;
mod toc;

pub use super::scratch::Scratch;
pub use decrypt::{decrypt_with, write_dump, DumpError};
pub use hooks::{health_check, run_hook, HealthError, HookFailure};
pub use pg_restore::{pg_restore_into, target_database_name};
pub use plan::{dry_run, Prepared};
pub use run::run;
pub use toc::{list_dump, parse_toc};

use super::backup::BackupSpec;
use super::fetch::FetchError;
use super::preflight::Check;
use super::restore_db;
use crate::storage::archive::Listing;
use crate::storage::gpg::EncryptionSpec;
use crate::storage::paths::LocalPaths;
use crate::storage::postgres::PgConn;
use crate::storage::repository::RepositorySpec;
use crate::storage::roots::RootsSpec;
use crate::storage::setid::SetId;
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, Clone, Default)]
pub struct Hooks {
    pub pre_restore: Vec<String>,
    pub post_restore: Vec<String>,
    /// A command (run with `sh -c`) or an http:// URL that must answer 2xx.
    pub health: Option<String>,
}

#[derive(Debug, Clone)]
pub struct RestoreSpec {
    pub repository: RepositorySpec,
    pub secrets_repository: Option<RepositorySpec>,
    pub set: SetId,
    pub encryption: EncryptionSpec,
    pub pg_bin_dir: Option<PathBuf>,
    /// The database to restore into.
    pub target: PgConn,
    /// Where the file and secret archives may go: the operator's roots and destinations,
    /// never the set's (`storage::roots`).
    pub roots: RootsSpec,
    /// Restore owners and set-uid/set-gid bits (`--restore-owners`, `[restore].owners`).
    pub restore_owners: bool,
    /// Where decrypted scratch files go (removed afterwards, whatever happens).
    pub scratch_dir: PathBuf,
    pub jobs: u32,
    pub hooks: Hooks,
    /// `None`: no safety backup.
    pub safety_backup: Option<BackupSpec>,
    pub paths: LocalPaths,
    /// Create the owners and grantees the target server lacks (`--create-roles`).
    pub create_roles: bool,
    /// The target came from `--target-url`, not the configuration: the "to go back" command
    /// must name it too.
    pub target_from_flag: bool,
}

#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct TocSummary {
    pub entries: usize,
    pub schemas: Vec<String>,
    pub tables: usize,
    pub indexes: usize,
    pub sequences: usize,
    pub extensions: Vec<String>,
    pub owners: Vec<String>,
    /// Roles the dump's ACL entries grant to (or revoke from).
    #[serde(default)]
    pub grantees: Vec<String>,
    /// Owners and grantees the target server lacks, whether or not the target database exists.
    pub missing_roles: Vec<String>,
    pub dumped_by: String,
    pub dumped_from: String,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PlanStep {
    pub step: String,
    pub projected_seconds: Option<f64>,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct RestorePlan {
    pub set_id: SetId,
    pub snapshot_time: chrono::DateTime<chrono::Utc>,
    pub target: String,
    pub toc: TocSummary,
    pub dump_bytes: u64,
    pub files: Option<Listing>,
    pub secrets: Option<Listing>,
    pub checks: Vec<Check>,
    pub steps: Vec<PlanStep>,
    pub problems: Vec<String>,
    /// How the database is restored: into a new database, then swapped in by name.
    pub database: Option<DbPlan>,
}

/// The database half of the plan (see `restore_db`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct DbPlan {
    pub target_name: String,
    /// pg_restore writes here; renamed to `target_name` at the swap.
    pub new_name: String,
    /// The previous database's name after the swap, until the health check passes.
    pub old_name: String,
    pub server: restore_db::ServerFacts,
    pub existing: Option<restore_db::TargetFacts>,
    pub roles: super::restore_roles::RolePlan,
}

impl RestorePlan {
    pub fn ok(&self) -> bool {
        self.problems.is_empty() && self.checks.iter().all(|c| c.ok)
    }

    /// Whether the target database exists now, from the facts the dry run inspected (never
    /// from a check's wording): it decides the safety backup.
    pub fn target_exists(&self) -> bool {
        self.database.as_ref().is_some_and(|d| d.existing.is_some())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RestoreError {
    #[error(transparent)]
    Fetch(#[from] FetchError),
    #[error(transparent)]
    Repo(#[from] crate::storage::repository::RepoError),
    #[error(transparent)]
    Gpg(#[from] crate::storage::gpg::GpgError),
    #[error("`{object}`: {problem}; nothing was touched")]
    Unreadable { object: String, problem: String },
    /// The stored bytes (or what they decrypt to) are not what the manifest recorded.
    #[error("`{object}`: {problem}; refusing to restore from it, nothing was touched")]
    Damaged { object: String, problem: String },
    /// The stored bytes are intact but gpg cannot decrypt them: a key or passphrase problem,
    /// not a damaged object.
    #[error("`{object}`: {problem}; nothing was touched")]
    Undecryptable { object: String, problem: String },
    #[error("the plan cannot succeed: {}", .0.join("; "))]
    PlanFailed(Vec<String>),
    #[error("the safety backup of the target failed, so nothing was touched: {0}")]
    SafetyBackup(Box<super::backup::BackupError>),
    #[error("hook `{command}` failed ({status}): {output}; {state}")]
    Hook {
        command: String,
        status: String,
        output: String,
        state: String,
    },
    #[error("step `{step}` failed: {reason}. {state}")]
    Step {
        step: String,
        reason: String,
        state: String,
    },
    #[error("scratch directory {path}: {source}")]
    Scratch {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cancelled; {0}")]
    Cancelled(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct RestoreOutcome {
    pub plan: RestorePlan,
    pub safety_backup: Option<String>,
    pub steps_done: Vec<String>,
    pub seconds: f64,
}

/// The database pg_restore writes into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetDb {
    /// It exists and may hold the dump's objects: they are dropped first (`--clean --if-exists`).
    Existing,
    /// It does not exist: it is created, then restored into as it is, empty.
    Create,
    /// The caller has just created it empty (a drill's scratch database or cluster).
    Empty,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(checks: Vec<Check>, existing: Option<Option<restore_db::TargetFacts>>) -> RestorePlan {
        RestorePlan {
            set_id: SetId::parse("20261204T000000Z-a1b2").unwrap(),
            snapshot_time: chrono::Utc::now(),
            target: "postgresql://h/app".into(),
            toc: TocSummary::default(),
            dump_bytes: 0,
            files: None,
            secrets: None,
            checks,
            steps: Vec::new(),
            problems: Vec::new(),
            database: existing.map(|existing| DbPlan {
                target_name: "app".into(),
                new_name: "app_new".into(),
                old_name: "app_old".into(),
                server: Default::default(),
                existing,
                roles: Default::default(),
            }),
        }
    }

    #[test]
    fn the_target_exists_by_the_inspected_facts_not_by_a_checks_wording() {
        let says_exists = || {
            vec![Check {
                name: "target database".into(),
                ok: true,
                detail: "exists with 3 tables".into(),
            }]
        };
        assert!(plan(Vec::new(), Some(Some(Default::default()))).target_exists());
        // A check that reads "exists" with no database fact behind it decides nothing.
        assert!(!plan(says_exists(), None).target_exists());
        assert!(!plan(says_exists(), Some(None)).target_exists());
    }
}
