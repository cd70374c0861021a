//! The backup job: lock, clear what killed runs left (`leftovers`), preflight, then database
//! dump, file archive and secrets as concurrent streaming pipelines (hash, compress, encrypt,
//! upload in one pass), verify what landed, write `checksums.sha256` and, last,
//! `manifest.json`, and record the run in the journal.
//!
//! pg_dump runs inside a snapshot exported by a `psql` session that also counts the key
//! tables, so the row counts in the manifest are exactly those of the dump, and the snapshot
//! time is the set's RPO reference.

mod components;
mod locked;
mod repos;
mod snapshot;

use locked::run_locked;

use super::progress::Reporter;
use super::spool;
use crate::storage::codec::Codec;
use crate::storage::gpg::{EncryptionSpec, GpgError};
use crate::storage::journal::{Journal, JournalEntry, JournalError, RunKind, RunRecord, RunStatus};
use crate::storage::layout;
use crate::storage::lock::{process_start, this_host, LockError, RepoLock};
use crate::storage::manifest::{Initiator, Manifest, SetPurpose};
use crate::storage::paths::LocalPaths;
use crate::storage::postgres::{PgConn, PgError};
use crate::storage::repository::{parse_location, Location, RepoError, RepositorySpec};
use crate::storage::setid::SetId;
use chrono::Utc;
use std::path::PathBuf;
use std::time::Duration;
use tokio_util::sync::CancellationToken;

/// A dump smaller than this cannot hold an application's data (seed 003).
pub const MIN_DUMP_BYTES: u64 = 4096;
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30 * 60);

#[derive(Clone)]
pub struct SourceSpec {
    /// As configured: it may hold a password (see `PgConn`), so `Debug` shows it masked.
    pub database_url: Option<String>,
    pub files: Vec<PathBuf>,
    pub secrets: Vec<PathBuf>,
    pub key_tables: Vec<String>,
    pub pg_bin_dir: Option<PathBuf>,
}

impl std::fmt::Debug for SourceSpec {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SourceSpec")
            .field(
                "database_url",
                &self.database_url.as_deref().map(|u| PgConn::new(Some(u))),
            )
            .field("files", &self.files)
            .field("secrets", &self.secrets)
            .field("key_tables", &self.key_tables)
            .field("pg_bin_dir", &self.pg_bin_dir)
            .finish()
    }
}

#[derive(Debug, Clone)]
pub struct BackupSpec {
    pub source: SourceSpec,
    pub repository: RepositorySpec,
    pub secrets_repository: Option<RepositorySpec>,
    pub encryption: EncryptionSpec,
    pub codec: Codec,
    pub timeout: Duration,
    pub initiator: Initiator,
    pub paths: LocalPaths,
    pub spool_dir: Option<PathBuf>,
    /// Only upload spooled sets; take no new backup.
    pub resume_only: bool,
    /// `Some(Safety)` for the backup a restore takes of its target first; None for a regular one.
    pub purpose: Option<SetPurpose>,
}

#[derive(Debug, Clone)]
pub struct BackupOutcome {
    pub set_id: Option<SetId>,
    pub manifest: Option<Manifest>,
    /// Spooled sets from earlier runs that this run uploaded.
    pub resumed: Vec<SetId>,
    /// SHA-256 of the set's `checksums.sha256`: one hash pinning every object.
    pub checksums_sha256: Option<String>,
    pub warnings: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum BackupError {
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Gpg(#[from] GpgError),
    #[error(transparent)]
    Pg(#[from] PgError),
    #[error("{0}")]
    Config(String),
    /// A task of the backup panicked or was aborted: a failure, never the configuration's.
    #[error("{0}")]
    Task(String),
    #[error("{component}: {reason}")]
    Component {
        component: &'static str,
        reason: String,
    },
    #[error("the database dump is only {bytes} bytes (under {MIN_DUMP_BYTES}): too small to be real; check [source].database_url points at the application database")]
    DumpTooSmall { bytes: u64 },
    #[error("database `{database}` has no tables: refusing to record a backup that could not bring the application back; check [source].database_url")]
    NoTables { database: String },
    #[error("upload to {repository} failed: {reason}; the complete set {set_id} is kept locally at {spool} and will be uploaded by `lifeboat backup --resume` or the next backup")]
    Spooled {
        repository: String,
        reason: String,
        set_id: SetId,
        spool: PathBuf,
    },
    #[error("`backup --resume` left sets in the spool: {}; {} spooled set(s) were uploaded; run `lifeboat backup --resume` again", .problems.join("; "), .resumed.len())]
    ResumeIncomplete {
        problems: Vec<String>,
        resumed: Vec<SetId>,
    },
    #[error("{what} in {repository} is {found} bytes, but {expected} were written; the set is left incomplete")]
    SizeMismatch {
        repository: String,
        what: String,
        expected: u64,
        found: u64,
    },
    #[error("did not finish within {} (raise [backup].timeout); nothing was marked complete", crate::storage::units::age(*.0))]
    TimedOut(Duration),
    #[error("cancelled; nothing was marked complete")]
    Cancelled,
}

impl BackupError {
    pub fn status(&self) -> RunStatus {
        match self {
            BackupError::Cancelled => RunStatus::Cancelled,
            _ => RunStatus::Failed,
        }
    }
}

fn object_name(base: &str, codec: &Codec, encrypted: bool) -> String {
    format!(
        "{base}{}{}",
        codec.suffix(),
        if encrypted { ".gpg" } else { "" }
    )
}

/// Runs a backup with its timeout; records the run in the journal whatever happens.
pub async fn run(
    spec: BackupSpec,
    reporter: Reporter,
    cancel: CancellationToken,
) -> Result<BackupOutcome, BackupError> {
    let journal = Journal::new(spec.paths.journal());
    let lock = RepoLock::acquire_unless_unreachable::<BackupError>(
        &spec.paths.locks(),
        &spec.repository,
        "backup",
    )
    .await?;
    lock.warnings().into_iter().for_each(|w| reporter.warn(w));
    let started_at = Utc::now();
    let set_id = SetId::new(started_at);
    let mut record = RunRecord {
        run_id: set_id.to_string(),
        kind: RunKind::Backup,
        status: RunStatus::Running,
        initiator: spec.initiator,
        host: this_host(),
        pid: std::process::id(),
        process_start: process_start(std::process::id()),
        started_at,
        finished_at: None,
        set_id: Some(set_id.to_string()),
        bytes: None,
        destination: spec.repository.url.clone(),
        sha256: None,
        error: None,
        spooled_at: None,
        purpose: spec.purpose,
        restore: None,
    };
    if !spec.resume_only {
        journal.append(&JournalEntry::Run(record.clone()))?;
    }

    let job_cancel = cancel.child_token();
    let timeout = spec.timeout;
    let work = run_locked(
        &spec,
        set_id.clone(),
        started_at,
        &reporter,
        job_cancel.clone(),
    );
    tokio::pin!(work);
    let result = tokio::select! {
        r = &mut work => r,
        _ = tokio::time::sleep(timeout) => {
            job_cancel.cancel();
            let _ = work.await;
            Err(BackupError::TimedOut(timeout))
        }
    };
    let result = match result {
        Err(_) if cancel.is_cancelled() => Err(BackupError::Cancelled),
        other => other,
    };
    if !spec.resume_only && matches!(&result, Err(e) if !matches!(e, BackupError::Spooled { .. })) {
        discard_spool_copies(&spec, &set_id);
    }

    if !spec.resume_only {
        record.finished_at = Some(Utc::now());
        match &result {
            Ok(outcome) => {
                record.status = RunStatus::Completed;
                if let Some(m) = &outcome.manifest {
                    record.bytes = Some(m.components.iter().map(|c| c.stored_bytes).sum());
                }
                record.sha256 = outcome.checksums_sha256.clone();
            }
            Err(e) => {
                record.status = e.status();
                record.error = Some(e.to_string());
                if let BackupError::Spooled { spool, .. } = e {
                    record.spooled_at = Some(spool.display().to_string());
                }
            }
        }
        journal.append(&JournalEntry::Run(record))?;
    }
    lock.release()
        .await
        .into_iter()
        .for_each(|w| reporter.warn(w));
    result
}

/// A failed set that was not spooled leaves nothing in the spool: without a manifest its
/// copies would never be uploaded nor removed, and each failed night would keep a full backup's
/// worth of disk.
fn discard_spool_copies(spec: &BackupSpec, id: &SetId) {
    for repo in std::iter::once(&spec.repository).chain(spec.secrets_repository.as_ref()) {
        if matches!(parse_location(&repo.url), Ok(Location::Local(_))) {
            continue;
        }
        let dir = spool::spool_dir(&spec.paths, spec.spool_dir.as_ref(), &repo.identity());
        let _ = std::fs::remove_dir_all(dir.join(layout::set_dir(id)));
    }
}
