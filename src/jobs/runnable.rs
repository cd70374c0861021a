//! What the console runs, as [`Job`]s: the long jobs (each spec is the job, its `run` the job
//! module's own) and the short reads and writes around them (preflight, retention's preview,
//! pins). The console starts every one through one spawn function; the CLI still calls the
//! modules directly. Also the typed outcome of the console's jobs.

use super::backup::{self, BackupError, BackupOutcome, BackupSpec};
use super::drill::{self, DrillError, DrillSpec};
use super::drill_record::DrillRecord;
use super::inventory;
use super::job::Job;
use super::pins::{self, Pin};
use super::preflight::{self, PreflightReport};
use super::progress::Reporter;
use super::prune::{self, PruneError, PruneOutcome, PruneSpec};
use super::prune_plan::PrunePlan;
use super::restore::{self, RestoreError, RestoreOutcome, RestorePlan, RestoreSpec};
use super::verify::{self, VerifyError, VerifyReport, VerifySpec};
use super::CancellationToken;
use crate::storage::repository::{Repository, RepositorySpec};
use crate::storage::retention::Candidate;
use crate::storage::setid::SetId;
use std::future::Future;

impl Job for BackupSpec {
    type Output = Result<BackupOutcome, BackupError>;

    fn run(
        self,
        reporter: Reporter,
        cancel: CancellationToken,
    ) -> impl Future<Output = Self::Output> + Send + 'static {
        backup::run(self, reporter, cancel)
    }
}

impl Job for VerifySpec {
    type Output = Result<VerifyReport, VerifyError>;

    fn run(
        self,
        reporter: Reporter,
        cancel: CancellationToken,
    ) -> impl Future<Output = Self::Output> + Send + 'static {
        verify::run(self, reporter, cancel)
    }
}

impl Job for DrillSpec {
    type Output = Result<DrillRecord, DrillError>;

    fn run(
        self,
        reporter: Reporter,
        cancel: CancellationToken,
    ) -> impl Future<Output = Self::Output> + Send + 'static {
        drill::run(self, reporter, cancel)
    }
}

impl Job for RestoreSpec {
    type Output = Result<RestoreOutcome, RestoreError>;

    fn run(
        self,
        reporter: Reporter,
        cancel: CancellationToken,
    ) -> impl Future<Output = Self::Output> + Send + 'static {
        restore::run(self, reporter, cancel)
    }
}

/// A restore's dry run: the checks and the plan, nothing changed.
pub struct RestorePlanJob(pub RestoreSpec);

impl Job for RestorePlanJob {
    type Output = Result<RestorePlan, RestoreError>;

    async fn run(self, reporter: Reporter, cancel: CancellationToken) -> Self::Output {
        // The scratch space (with the decrypted dump) is dropped here: the real restore runs
        // the same checks again from the start.
        restore::dry_run(&self.0, &reporter, &cancel)
            .await
            .map(|(plan, _prepared)| plan)
    }
}

/// A prune that deletes (the preview is not a job: it changes nothing and takes no time).
pub struct PruneJob(pub PruneSpec);

impl Job for PruneJob {
    type Output = Result<PruneOutcome, PruneError>;

    async fn run(self, reporter: Reporter, cancel: CancellationToken) -> Self::Output {
        let report = prune::run(&self.0, true, &reporter, cancel).await?;
        Ok(report.outcome.unwrap_or_default())
    }
}

/// How a job the console started ended: the job's own typed result, or why there is none.
/// Worded for people by `report::outcome`. Results are boxed: they are large and travel
/// through the event channel.
#[derive(Debug)]
pub enum JobOutcome {
    Backup(Box<Result<BackupOutcome, BackupError>>),
    Verify {
        set_id: SetId,
        result: Box<Result<VerifyReport, VerifyError>>,
    },
    Drill(Box<Result<DrillRecord, DrillError>>),
    Restore {
        set_id: SetId,
        result: Box<Result<RestoreOutcome, RestoreError>>,
    },
    Prune(Box<Result<PruneOutcome, PruneError>>),
    /// The job never ran: its spec could not be made (the configuration is wrong).
    NotStarted(String),
    /// The job panicked or its task died: a failure of the job, not of the configuration.
    Crashed(String),
    /// Cancelled, and still running [`super::job::CANCEL_GRACE`] later: dropped unfinished.
    Abandoned,
}

/// The checks before a backup (nothing is written).
pub struct PreflightJob(pub BackupSpec);

impl Job for PreflightJob {
    type Output = PreflightReport;

    async fn run(self, _reporter: Reporter, _cancel: CancellationToken) -> PreflightReport {
        preflight::run(self.0).await
    }
}

/// Retention's preview: the plan and the candidates it was made from (nothing is deleted).
pub struct PrunePreviewJob(pub PruneSpec);

impl Job for PrunePreviewJob {
    type Output = Result<(PrunePlan, Vec<Candidate>), PruneError>;

    async fn run(self, _reporter: Reporter, _cancel: CancellationToken) -> Self::Output {
        prune::preview(&self.0).await
    }
}

/// Pins a set with a note, or without one unpins it.
pub struct PinJob {
    pub repository: RepositorySpec,
    /// The host's lock directory: a pin takes the repository lock like a prune.
    pub locks: std::path::PathBuf,
    pub set_id: SetId,
    pub note: Option<String>,
}

/// What a [`PinJob`] changed.
#[derive(Debug)]
pub enum PinChange {
    Pinned(Pin),
    Unpinned(SetId),
}

impl Job for PinJob {
    type Output = Result<PinChange, String>;

    async fn run(self, _reporter: Reporter, _cancel: CancellationToken) -> Self::Output {
        let repo = Repository::open(&self.repository).map_err(|e| e.to_string())?;
        let change = async {
            match &self.note {
                Some(note) => {
                    let inventory = inventory::scan(&repo).await?;
                    pins::pin(&repo, &inventory, &self.set_id, note)
                        .await
                        .map(PinChange::Pinned)
                }
                None => pins::unpin(&repo, &self.set_id)
                    .await
                    .map(|_| PinChange::Unpinned(self.set_id.clone())),
            }
        };
        pins::locked(&self.locks, &self.repository, change)
            .await
            .map_err(|e| e.to_string())
    }
}
