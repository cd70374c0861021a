//! Is the application recoverable right now? The newest complete set and its age, its last
//! verification, the run journal's latest state, spooled sets waiting for upload, and the lock
//! holder, folded into one health verdict with an exit code for monitoring.

use super::inventory;
use super::spool;
use crate::storage::journal::{
    DrillSummary, Journal, JournalError, JournalView, RunKind, RunRecord, RunStatus,
    VerificationRecord,
};
use crate::storage::lock::{LockHolder, RepoLock};
use crate::storage::paths::LocalPaths;
use crate::storage::repository::{RepoError, Repository, RepositorySpec};
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(48 * 3600);

#[derive(Debug, Clone)]
pub struct StatusSpec {
    pub repository: RepositorySpec,
    pub paths: LocalPaths,
    pub spool_dir: Option<PathBuf>,
    pub stale_after: Duration,
    /// A restore drill is due this long after the last one (or after the first backup).
    pub drill_every: Duration,
}

/// Worst first wins; each has its own exit code.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Health {
    Ok,
    NoBackup,
    Stale,
    LastRunFailed,
    DrillFailing,
    DrillOverdue,
    Unreachable,
}

impl Health {
    pub fn exit_code(self) -> i32 {
        match self {
            Health::Ok => 0,
            Health::Stale => 10,
            Health::NoBackup => 10,
            Health::LastRunFailed => 11,
            Health::Unreachable => 12,
            Health::DrillOverdue => 13,
            Health::DrillFailing => 14,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct NewestSet {
    pub set_id: String,
    pub finished_at: DateTime<Utc>,
    pub snapshot_time: DateTime<Utc>,
    pub age_seconds: i64,
    pub stored_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct StatusReport {
    pub repository: String,
    pub health: Health,
    pub messages: Vec<String>,
    pub newest_set: Option<NewestSet>,
    pub complete_sets: usize,
    pub incomplete_sets: usize,
    pub repository_bytes: u64,
    pub newest_verification: Option<VerificationRecord>,
    pub last_run: Option<RunRecord>,
    pub failed_runs: usize,
    pub spooled_sets: Vec<String>,
    pub lock_holder: Option<LockHolder>,
    pub stale_after_seconds: u64,
    /// The newest restore drill (from the repository's drill records).
    pub newest_drill: Option<DrillSummary>,
    /// When the next drill is due.
    pub drill_due: Option<DateTime<Utc>>,
}

/// The newest drill record in the repository, if any can be read.
pub async fn newest_drill(
    repo: &Repository,
    inventory: &inventory::Inventory,
) -> Option<DrillSummary> {
    let newest = inventory.drills.iter().max_by(|a, b| a.path.cmp(&b.path))?;
    let bytes = repo.get_small(&newest.path, 4 * 1024 * 1024).await.ok()?;
    let r = super::drill_record::DrillRecord::parse(&bytes).ok()?;
    Some(DrillSummary {
        rpo_seconds: Some(r.rpo_seconds()),
        drill_id: r.drill_id,
        set_id: r.set_id,
        at: r.started_at,
        passed: r.passed,
        rto_seconds: r.rto_seconds,
        repository: repo.url().to_string(),
    })
}

pub async fn run(spec: &StatusSpec) -> Result<StatusReport, JournalError> {
    let journal = Journal::new(spec.paths.journal()).read()?;
    let mut spooled = Vec::new();
    let mut drill = None;
    let listed = match Repository::open(&spec.repository) {
        Ok(repo) => {
            spooled = spooled_sets(spec, &repo).await;
            let listed = inventory::scan(&repo).await;
            if let Ok(inventory) = &listed {
                drill = newest_drill(&repo, inventory).await;
            }
            listed
        }
        Err(e) => Err(e),
    };
    Ok(evaluate(spec, listed, &journal, spooled, drill))
}

/// Set ids waiting in the local spool for upload to this (remote) repository.
pub async fn spooled_sets(spec: &StatusSpec, repo: &Repository) -> Vec<String> {
    let spool_dir = spool::spool_dir(&spec.paths, spec.spool_dir.as_ref(), repo.url());
    if repo.is_local() || !spool_dir.exists() {
        return Vec::new();
    }
    match spool::open_spool(&spool_dir) {
        Ok(spool) => spool::pending(&spool)
            .await
            .map(|p| p.iter().map(|s| s.to_string()).collect())
            .unwrap_or_default(),
        Err(_) => Vec::new(),
    }
}

/// The verdict from a listing (or its failure), the journal and the spool: pure, so the
/// console computes it from data it already holds.
pub fn evaluate(
    spec: &StatusSpec,
    listed: Result<inventory::Inventory, RepoError>,
    journal: &JournalView,
    spooled_sets: Vec<String>,
    newest_drill: Option<DrillSummary>,
) -> StatusReport {
    let now = Utc::now();
    let mut report = StatusReport {
        repository: spec.repository.url.clone(),
        health: Health::Ok,
        messages: Vec::new(),
        newest_set: None,
        complete_sets: 0,
        incomplete_sets: 0,
        repository_bytes: 0,
        newest_verification: None,
        last_run: journal
            .runs
            .iter()
            .filter(|r| r.kind == RunKind::Backup && r.destination == spec.repository.url)
            .max_by_key(|r| r.started_at)
            .cloned(),
        failed_runs: journal
            .runs
            .iter()
            .filter(|r| r.destination == spec.repository.url && r.status == RunStatus::Failed)
            .count(),
        spooled_sets,
        lock_holder: RepoLock::holder(&spec.paths.locks(), &spec.repository.url),
        stale_after_seconds: spec.stale_after.as_secs(),
        // The repository's record wins; the journal covers a record that could not be read.
        newest_drill: newest_drill.or_else(|| {
            journal
                .drills
                .iter()
                .filter(|d| d.repository == spec.repository.url)
                .max_by_key(|d| d.at)
                .cloned()
        }),
        drill_due: None,
    };
    let inventory = match listed {
        Ok(i) => i,
        Err(e) => {
            report.health = Health::Unreachable;
            report
                .messages
                .push(format!("✗ repository unreachable: {e}"));
            return report;
        }
    };
    report.complete_sets = inventory.complete().count();
    report.incomplete_sets = inventory.incomplete().count();
    report.repository_bytes = inventory.total_bytes();
    if let Some(newest) = inventory.newest_complete() {
        if let Some(m) = &newest.manifest {
            report.newest_set = Some(NewestSet {
                set_id: newest.id.to_string(),
                finished_at: m.finished_at,
                snapshot_time: m.snapshot_time,
                age_seconds: (now - m.finished_at).num_seconds(),
                stored_bytes: newest.stored_bytes(),
            });
        }
        // The newest set's own verification says most; else the latest of any set.
        report.newest_verification = journal
            .latest_verification(newest.id.as_str())
            .cloned()
            .or_else(|| {
                journal
                    .verifications
                    .iter()
                    .filter(|v| inventory.find_str(&v.set_id))
                    .max_by_key(|v| v.at)
                    .cloned()
            });
    }
    let stale = chrono::Duration::from_std(spec.stale_after).unwrap_or(chrono::Duration::MAX);
    match &report.newest_set {
        None => {
            report.health = Health::NoBackup;
            report
                .messages
                .push("✗ no complete backup in the repository".into());
        }
        Some(n) if now - n.finished_at > stale => {
            report.health = Health::Stale;
            report.messages.push(format!(
                "✗ no successful backup in the last {} (newest: {}, {} ago)",
                humantime::format_duration(spec.stale_after),
                n.set_id,
                humantime::format_duration(Duration::from_secs(n.age_seconds.max(0) as u64))
            ));
        }
        Some(_) => {}
    }
    if let Some(run) = &report.last_run {
        if run.status == RunStatus::Failed {
            if report.health == Health::Ok {
                report.health = Health::LastRunFailed;
            }
            report.messages.push(format!(
                "✗ the newest backup run ({}) failed: {}",
                run.started_at.format("%Y-%m-%d %H:%M UTC"),
                run.error.as_deref().unwrap_or("no reason recorded")
            ));
        }
    }
    let every = chrono::Duration::from_std(spec.drill_every).unwrap_or(chrono::Duration::MAX);
    // Before the first drill, the clock starts at the oldest complete set.
    let since = report.newest_drill.as_ref().map(|d| d.at).or_else(|| {
        inventory
            .complete()
            .filter_map(|s| s.manifest.as_ref())
            .map(|m| m.finished_at)
            .min()
    });
    report.drill_due = since.and_then(|t| t.checked_add_signed(every));
    if let Some(d) = &report.newest_drill {
        if !d.passed {
            if report.health == Health::Ok {
                report.health = Health::DrillFailing;
            }
            report.messages.push(format!(
                "✗ the last restore drill ({}) FAILED: see `lifeboat drill report {}`",
                d.at.format("%Y-%m-%d"),
                d.drill_id
            ));
        }
    }
    if let Some(due) = report.drill_due {
        if now > due {
            if report.health == Health::Ok {
                report.health = Health::DrillOverdue;
            }
            report.messages.push(match &report.newest_drill {
                Some(d) => format!("! a restore drill is overdue: the last one was {} (due every {})", d.at.format("%Y-%m-%d"), humantime::format_duration(spec.drill_every)),
                None => format!("! a restore drill is overdue: none was ever run (due every {}); run `lifeboat drill`", humantime::format_duration(spec.drill_every)),
            });
        }
    }
    if !report.spooled_sets.is_empty() {
        report.messages.push(format!(
            "! {} set(s) wait in the local spool for upload: run `lifeboat backup --resume`",
            report.spooled_sets.len()
        ));
    }
    if report.incomplete_sets > 0 {
        report.messages.push(format!(
            "! {} incomplete set folder(s) in the repository (not counted as backups)",
            report.incomplete_sets
        ));
    }
    if report.health == Health::Ok {
        report.messages.insert(0, "✓ backups are current".into());
    }
    report
}

impl inventory::Inventory {
    fn find_str(&self, id: &str) -> bool {
        self.complete().any(|s| s.id.as_str() == id)
    }
}
