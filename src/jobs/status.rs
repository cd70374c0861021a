//! Is the application recoverable right now? The newest complete set and its age, its last
//! verification, the run journal's latest state, spooled sets waiting for upload, the lock
//! holder, the drills and the source's WAL archiving, folded into one health verdict with an
//! exit code for monitoring.
//!
//! Every condition found is kept in `alerts`, worst first; the verdict is the first. The order
//! puts what says a restore may fail or lose too much today before growing risks and overdue
//! proofs: unreachable, no/stale backup, newest run failed, drill failing, WAL archiving
//! failing, off-site lag, verification stale, drill overdue.

use super::exit_code;
use super::inventory;
use super::restore_journal::UNTOUCHED;
use super::spool;
use super::wal::{self, WalProbeSpec, WalState, WalStatus};
use crate::storage::journal::{
    DrillSummary, Journal, JournalError, JournalView, RunKind, RunRecord, RunStatus,
    VerificationRecord,
};
use crate::storage::lock::{LockHolder, RepoLock};
use crate::storage::manifest::{ComponentKind, RepositoryRole};
use crate::storage::paths::LocalPaths;
use crate::storage::repository::{RepoError, Repository, RepositorySpec};
use crate::storage::setid::SetId;
use crate::storage::units;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::path::PathBuf;
use std::time::Duration;

pub const DEFAULT_STALE_AFTER: Duration = Duration::from_secs(48 * 3600);
/// No successful verification for this long is an alert (0 switches the check off).
pub const DEFAULT_VERIFY_STALE_AFTER: Duration = Duration::from_secs(7 * 86_400);

#[derive(Debug, Clone)]
pub struct StatusSpec {
    pub repository: RepositorySpec,
    pub paths: LocalPaths,
    pub spool_dir: Option<PathBuf>,
    pub stale_after: Duration,
    /// A restore drill is due this long after the last one (or after the first backup).
    pub drill_every: Duration,
    /// A successful verification is due this long after the last one (or after the first
    /// backup); zero: never.
    pub verify_stale_after: Duration,
    /// The source to ask about WAL archiving; None: none is configured.
    pub wal: Option<WalProbeSpec>,
}

/// The verdict, and each condition `status` can find; each has its own exit code.
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
    /// No successful verification within `verify_stale_after`.
    VerificationStale,
    /// The newest set waits in the local spool: it is not off-site yet.
    OffsiteLag,
    /// The source's `archive_command` is failing.
    WalArchivingFailing,
    /// The newest restore on this host was killed before it finished: its target (a live
    /// database, file roots) may be partly restored.
    RestoreInterrupted,
    /// A complete set is dated in the future: a wrong clock or a forged set. It is never
    /// taken as the newest set.
    FutureSet,
}

impl Health {
    /// Every value, in precedence order (the verdict is the first condition found).
    pub const ALL: [Health; 12] = [
        Health::RestoreInterrupted,
        Health::Unreachable,
        Health::NoBackup,
        Health::Stale,
        Health::LastRunFailed,
        Health::FutureSet,
        Health::DrillFailing,
        Health::WalArchivingFailing,
        Health::OffsiteLag,
        Health::VerificationStale,
        Health::DrillOverdue,
        Health::Ok,
    ];

    /// The verdict's exit code, from the one table in [`exit_code`].
    pub fn exit_code(self) -> i32 {
        match self {
            Health::Ok => exit_code::OK,
            Health::Stale | Health::NoBackup => exit_code::STALE,
            Health::LastRunFailed => exit_code::LAST_RUN_FAILED,
            Health::Unreachable => exit_code::UNREACHABLE,
            Health::DrillOverdue => exit_code::DRILL_OVERDUE,
            Health::DrillFailing => exit_code::DRILL_FAILING,
            Health::VerificationStale => exit_code::VERIFICATION_STALE,
            Health::OffsiteLag => exit_code::OFFSITE_LAG,
            Health::WalArchivingFailing => exit_code::WAL_ARCHIVING_FAILING,
            Health::RestoreInterrupted => exit_code::RESTORE_INTERRUPTED,
            Health::FutureSet => exit_code::FUTURE_SET,
        }
    }

    /// As serialized: `ok`, `no_backup`, `stale`, ...
    pub fn as_str(self) -> &'static str {
        match self {
            Health::Ok => "ok",
            Health::NoBackup => "no_backup",
            Health::Stale => "stale",
            Health::LastRunFailed => "last_run_failed",
            Health::DrillFailing => "drill_failing",
            Health::DrillOverdue => "drill_overdue",
            Health::Unreachable => "unreachable",
            Health::VerificationStale => "verification_stale",
            Health::OffsiteLag => "offsite_lag",
            Health::WalArchivingFailing => "wal_archiving_failing",
            Health::RestoreInterrupted => "restore_interrupted",
            Health::FutureSet => "future_set",
        }
    }

    /// Position in [`Health::ALL`]: lower is worse.
    pub fn rank(self) -> usize {
        Health::ALL
            .iter()
            .position(|h| *h == self)
            .unwrap_or(Health::ALL.len())
    }
}

/// One component of the newest set, as its manifest records it.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ComponentSize {
    pub component: ComponentKind,
    pub repository: RepositoryRole,
    pub stored_bytes: u64,
    /// Bytes read from the source before compression.
    pub source_bytes: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct NewestSet {
    pub set_id: String,
    pub finished_at: DateTime<Utc>,
    pub snapshot_time: DateTime<Utc>,
    pub age_seconds: i64,
    pub stored_bytes: u64,
    pub started_at: DateTime<Utc>,
    /// finished_at minus started_at.
    pub duration_seconds: f64,
    pub components: Vec<ComponentSize>,
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
    /// Every condition found, worst first; `health` is the first (ok when empty).
    pub alerts: Vec<Health>,
    pub verify_stale_after_seconds: u64,
    /// The newest successful verification of any set of this repository.
    pub last_verified_at: Option<DateTime<Utc>>,
    /// The source's WAL archiving; None when no source is configured.
    pub wal: Option<WalStatus>,
    /// Complete sets dated in the future (never the newest set), newest first.
    pub future_sets: Vec<FutureSet>,
    /// The newest restore from this repository in this host's journal.
    pub last_restore: Option<RunRecord>,
}

/// A complete set dated later than now plus `setid::FUTURE_TOLERANCE`.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct FutureSet {
    pub set_id: String,
    /// The later of the id's time and the manifest's start.
    pub dated: DateTime<Utc>,
    /// How far ahead of now.
    pub ahead_seconds: i64,
}

/// The newest completed drill record in the repository, if any can be read. A drill the
/// operator cancelled reached no verdict, so the one before it counts.
pub async fn newest_drill(
    repo: &Repository,
    inventory: &inventory::Inventory,
) -> Option<DrillSummary> {
    let mut paths: Vec<&str> = inventory.drills.iter().map(|o| o.path.as_str()).collect();
    paths.sort_unstable_by(|a, b| b.cmp(a));
    let mut found = None;
    for path in paths {
        let bytes = repo.get_small(path, 4 * 1024 * 1024).await.ok()?;
        let r = super::drill_record::DrillRecord::parse(&bytes).ok()?;
        // A recovery's record sits beside the drills but is not a drill: the dashboard
        // shows it on a line of its own.
        if !r.cancelled && r.kind == super::drill_record::RecordKind::Drill {
            found = Some(r);
            break;
        }
    }
    let r = found?;
    Some(DrillSummary {
        rpo_seconds: Some(r.rpo_seconds()),
        drill_id: r.drill_id,
        set_id: r.set_id.to_string(),
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
            // The index's newest pass: the sets newer than the cached ones, the drill records
            // and pins; an older set another host deleted since is still counted until the
            // next full pass (`list`, the console, prune), which the verdict never rests on.
            let freshness = super::index::Freshness::Newest;
            match super::index::load(&repo, &spec.paths, freshness, None).await {
                Ok(indexed) => {
                    drill = indexed.newest_drill;
                    Ok(indexed.inventory)
                }
                Err(e) => Err(e),
            }
        }
        Err(e) => Err(e),
    };
    let mut report = evaluate(spec, listed.as_ref(), &journal, spooled, drill);
    if report.lock_holder.is_none() {
        report.lock_holder = RepoLock::remote_holder(&spec.repository).await;
    }
    if let Some(probe) = &spec.wal {
        apply_wal(&mut report, Some(wal::probe(probe).await));
    }
    Ok(report)
}

const CURRENT: &str = "✓ backups are current";

/// Orders the alerts, sets the verdict, and says "current" only when nothing is wrong.
fn settle(report: &mut StatusReport) {
    report.alerts.sort_by_key(|h| h.rank());
    report.alerts.dedup();
    report.health = report.alerts.first().copied().unwrap_or(Health::Ok);
    report.messages.retain(|m| m != CURRENT);
    if report.health == Health::Ok {
        report.messages.insert(0, CURRENT.into());
    }
}

/// Adds the source's WAL archiving state to a report (pure: the console can call it with a
/// probe it ran itself). A failing archiver is an alert; an unreachable source is only said.
pub fn apply_wal(report: &mut StatusReport, wal: Option<WalStatus>) {
    if let Some(w) = &wal {
        if w.state != WalState::Off {
            report.messages.push(w.describe());
        }
        if w.state == WalState::Failing {
            report.alerts.push(Health::WalArchivingFailing);
        }
    }
    report.wal = wal;
    settle(report);
}

/// Set ids waiting in the local spool for upload to this (remote) repository.
pub async fn spooled_sets(spec: &StatusSpec, repo: &Repository) -> Vec<String> {
    let spool_dir = spool::spool_dir(&spec.paths, spec.spool_dir.as_ref(), repo.identity());
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
    listed: Result<&inventory::Inventory, &RepoError>,
    journal: &JournalView,
    spooled_sets: Vec<String>,
    newest_drill: Option<DrillSummary>,
) -> StatusReport {
    let holder = RepoLock::host_holder(&spec.paths.locks(), &spec.repository.url);
    let listed = listed.map_err(|e| e.to_string());
    evaluate_at(
        spec,
        listed,
        journal,
        spooled_sets,
        newest_drill,
        holder,
        Utc::now(),
    )
}

/// The newest regular backup run to this repository the journal records. A restore's safety
/// backup is not one: its success must not hide a failed nightly, nor its failure (which
/// stops the restore before it touches anything) raise last_run_failed.
pub fn last_backup_run<'a>(journal: &'a JournalView, url: &str) -> Option<&'a RunRecord> {
    journal
        .runs
        .iter()
        .filter(|r| r.kind == RunKind::Backup && r.destination == url && r.purpose.is_none())
        .max_by_key(|r| r.started_at)
}

/// The newest restore from this repository the journal records.
pub fn last_restore_run<'a>(journal: &'a JournalView, url: &str) -> Option<&'a RunRecord> {
    journal
        .runs
        .iter()
        .filter(|r| r.kind == RunKind::Restore && r.destination == url)
        .max_by_key(|r| r.started_at)
}

/// For each target, what the newest restore that may have changed it says (one that
/// finished, runs, or was stopped after it began writing): a later restore that stopped
/// before writing (a plan that failed, a failed safety backup) leaves the target as the
/// earlier one left it, and a completed restore into another database says nothing about
/// this one. A later restore that stopped before writing is said too, when it is the newest.
fn restore_alerts(
    alerts: &mut Vec<Health>,
    messages: &mut Vec<String>,
    journal: &JournalView,
    url: &str,
) {
    let mut restores: Vec<&RunRecord> = journal
        .runs
        .iter()
        .filter(|r| r.kind == RunKind::Restore && r.destination == url && r.restore.is_some())
        .collect();
    restores.sort_by_key(|r| std::cmp::Reverse(r.started_at));
    let mut settled: Vec<&str> = Vec::new();
    for (i, run) in restores.iter().enumerate() {
        let Some(p) = &run.restore else { continue };
        if settled.contains(&p.target.as_str()) {
            continue;
        }
        let wrote = !matches!(run.status, RunStatus::Failed | RunStatus::Cancelled)
            || p.target_state != UNTOUCHED;
        if wrote || i == 0 {
            restore_alert(alerts, messages, run);
        }
        if wrote {
            settled.push(&p.target);
        }
    }
}

/// What one restore says: an alert when it was killed mid-way (its target may be
/// partly restored), a warning when it failed or was cancelled, a note while it runs.
fn restore_alert(alerts: &mut Vec<Health>, messages: &mut Vec<String>, run: &RunRecord) {
    let Some(p) = &run.restore else { return };
    let set = run.set_id.as_deref().unwrap_or("?");
    let into = p.database.as_deref().unwrap_or(&p.target);
    let at = p.step_at.format("%Y-%m-%d %H:%M UTC");
    let safety = match &p.safety_set {
        Some(id) => format!("; the safety backup {id} holds the state before it"),
        None => String::new(),
    };
    match run.status {
        _ if run.interrupted() && p.target_state == UNTOUCHED => messages.push(format!(
            "! restore of {set} into {into} was interrupted during {} at {at}, before it wrote to the target",
            p.step
        )),
        _ if run.interrupted() => {
            alerts.push(Health::RestoreInterrupted);
            messages.push(format!(
                "✗ restore of {set} into {into} interrupted during {} at {at}: {}{safety}; check the target, then restore again",
                p.step, p.target_state
            ));
        }
        RunStatus::Failed | RunStatus::Cancelled => messages.push(format!(
            "! the last restore of {set} into {into} {} during {} at {at}: {}",
            run.status.as_str(),
            p.step,
            run.error.as_deref().unwrap_or(&p.target_state)
        )),
        RunStatus::Running | RunStatus::Pending => messages.push(format!(
            "· a restore of {set} into {into} is running: {} since {at}",
            p.step
        )),
        RunStatus::Completed => {}
    }
}

/// The verdict as of `now`, with the lock holder given: no clock, no files.
pub fn evaluate_at(
    spec: &StatusSpec,
    listed: Result<&inventory::Inventory, String>,
    journal: &JournalView,
    spooled_sets: Vec<String>,
    newest_drill: Option<DrillSummary>,
    lock_holder: Option<LockHolder>,
    now: DateTime<Utc>,
) -> StatusReport {
    let url = &spec.repository.url;
    let mut report = StatusReport {
        repository: url.clone(),
        health: Health::Ok,
        messages: Vec::new(),
        newest_set: None,
        complete_sets: 0,
        incomplete_sets: 0,
        repository_bytes: 0,
        newest_verification: None,
        last_run: last_backup_run(journal, url).cloned(),
        failed_runs: journal
            .runs
            .iter()
            .filter(|r| &r.destination == url && r.status == RunStatus::Failed)
            .count(),
        spooled_sets,
        lock_holder,
        stale_after_seconds: spec.stale_after.as_secs(),
        // The repository's record wins; the journal covers a record that could not be read.
        newest_drill: newest_drill.or_else(|| {
            journal
                .drills
                .iter()
                .filter(|d| &d.repository == url)
                .max_by_key(|d| d.at)
                .cloned()
        }),
        drill_due: None,
        alerts: Vec::new(),
        verify_stale_after_seconds: spec.verify_stale_after.as_secs(),
        last_verified_at: journal
            .verifications
            .iter()
            .filter(|v| v.ok && &v.repository == url)
            .map(|v| v.at)
            .max(),
        wal: None,
        future_sets: Vec::new(),
        last_restore: last_restore_run(journal, url).cloned(),
    };
    // From the local journal: said even when the repository cannot be read.
    restore_alerts(&mut report.alerts, &mut report.messages, journal, url);
    let inventory = match listed {
        Ok(i) => i,
        Err(e) => {
            report.alerts.push(Health::Unreachable);
            report
                .messages
                .push(format!("✗ repository unreachable: {e}"));
            settle(&mut report);
            return report;
        }
    };
    report.complete_sets = inventory.complete().count();
    report.incomplete_sets = inventory.incomplete().count();
    report.repository_bytes = inventory.total_bytes();
    report.future_sets = inventory
        .future_sets(now)
        .map(|s| FutureSet {
            set_id: s.id.to_string(),
            dated: s.dated(),
            ahead_seconds: (s.dated() - now).num_seconds(),
        })
        .collect();
    for f in &report.future_sets {
        report.alerts.push(Health::FutureSet);
        report.messages.push(format!(
            "✗ set {} is dated in the future ({}, {} from now): a wrong clock or a forged set; it is never taken as the newest set, and retention never deletes it (check the clocks of the hosts that write this repository; if the set is not yours, remove its folder sets/{} from the repository)",
            f.set_id,
            f.dated.format("%Y-%m-%d %H:%M UTC"),
            units::age(Duration::from_secs(f.ahead_seconds.max(0) as u64)),
            f.set_id
        ));
    }
    if let Some(newest) = inventory.latest(now) {
        if let Some(m) = &newest.manifest {
            report.newest_set = Some(NewestSet {
                set_id: newest.id.to_string(),
                finished_at: m.finished_at,
                snapshot_time: m.snapshot_time,
                age_seconds: (now - m.finished_at).num_seconds(),
                stored_bytes: newest.stored_bytes(),
                started_at: m.started_at,
                duration_seconds: (m.finished_at - m.started_at).num_milliseconds().max(0) as f64
                    / 1000.0,
                components: m
                    .components
                    .iter()
                    .map(|c| ComponentSize {
                        component: c.kind,
                        repository: c.repository,
                        stored_bytes: c.stored_bytes,
                        source_bytes: c.source_bytes,
                    })
                    .collect(),
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
    let oldest_set_finished = inventory
        .complete()
        .filter_map(|s| s.manifest.as_ref())
        .map(|m| m.finished_at)
        .min();
    let stale = chrono::Duration::from_std(spec.stale_after).unwrap_or(chrono::Duration::MAX);
    match &report.newest_set {
        None => {
            report.alerts.push(Health::NoBackup);
            report
                .messages
                .push("✗ no complete backup in the repository".into());
        }
        Some(n) if now - n.finished_at > stale => {
            report.alerts.push(Health::Stale);
            report.messages.push(format!(
                "✗ no successful backup in the last {} (newest: {}, {} ago)",
                humantime::format_duration(spec.stale_after),
                n.set_id,
                units::age(Duration::from_secs(n.age_seconds.max(0) as u64))
            ));
        }
        Some(_) => {}
    }
    // The newest spooled set is newer than anything in the repository: the latest backup
    // exists only on this host.
    // As set ids, not text: an old id and a new one of the same second compare by time.
    let newest_spooled = report
        .spooled_sets
        .iter()
        .filter_map(|s| SetId::parse(s).ok())
        .max();
    let lagging = match (&newest_spooled, &report.newest_set) {
        (Some(s), Some(n)) => SetId::parse(&n.set_id).is_ok_and(|n| *s > n),
        (Some(_), None) => true,
        (None, _) => false,
    };
    if let Some(run) = &report.last_run {
        if run.status == RunStatus::Failed {
            // A run whose only failure was the upload is the off-site lag while its set
            // waits in the spool, and nothing at all once `backup --resume` uploaded it.
            let spooled_set = run.spooled_at.as_ref().and(run.set_id.as_ref());
            let still_spooled = spooled_set.is_some_and(|id| report.spooled_sets.contains(id));
            let uploaded_later = spooled_set.is_some_and(|id| inventory.find_str(id));
            if uploaded_later {
                report.messages.push(format!(
                    "· the newest backup run ({}) could not upload, but its set was uploaded later",
                    run.started_at.format("%Y-%m-%d %H:%M UTC")
                ));
            } else if !still_spooled {
                report.alerts.push(Health::LastRunFailed);
                report.messages.push(format!(
                    "✗ the newest backup run ({}) failed: {}",
                    run.started_at.format("%Y-%m-%d %H:%M UTC"),
                    run.error.as_deref().unwrap_or("no reason recorded")
                ));
            }
        }
    }
    let every = chrono::Duration::from_std(spec.drill_every).unwrap_or(chrono::Duration::MAX);
    // Before the first drill, the clock starts at the oldest complete set.
    let since = report
        .newest_drill
        .as_ref()
        .map(|d| d.at)
        .or(oldest_set_finished);
    report.drill_due = since.and_then(|t| t.checked_add_signed(every));
    if let Some(d) = &report.newest_drill {
        if !d.passed {
            report.alerts.push(Health::DrillFailing);
            report.messages.push(format!(
                "✗ the last restore drill ({}) FAILED: see `lifeboat drill report {}`",
                d.at.format("%Y-%m-%d"),
                d.drill_id
            ));
        }
    }
    if let Some(due) = report.drill_due {
        if now > due {
            report.alerts.push(Health::DrillOverdue);
            report.messages.push(match &report.newest_drill {
                Some(d) => format!("! a restore drill is overdue: the last one was {} (due every {})", d.at.format("%Y-%m-%d"), humantime::format_duration(spec.drill_every)),
                None => format!("! a restore drill is overdue: none was ever run (due every {}); run `lifeboat drill`", humantime::format_duration(spec.drill_every)),
            });
        }
    }
    // Like drills, before the first verification the clock starts at the oldest set.
    if !spec.verify_stale_after.is_zero() && report.newest_set.is_some() {
        let limit =
            chrono::Duration::from_std(spec.verify_stale_after).unwrap_or(chrono::Duration::MAX);
        let since = report.last_verified_at.or(oldest_set_finished);
        if since.is_some_and(|t| now - t > limit) {
            report.alerts.push(Health::VerificationStale);
            report.messages.push(format!(
                "! no successful verification in the last {} (last: {}); run `lifeboat verify --latest --decrypt`",
                humantime::format_duration(spec.verify_stale_after),
                report
                    .last_verified_at
                    .map(|t| t.format("%Y-%m-%d %H:%M UTC").to_string())
                    .unwrap_or_else(|| "never".into())
            ));
        }
    }
    if lagging {
        report.alerts.push(Health::OffsiteLag);
        report.messages.push(format!(
            "✗ off-site copy lags: the newest set {} is only in this host's spool ({} set(s) waiting): run `lifeboat backup --resume`",
            newest_spooled
                .as_ref()
                .map(|s| s.as_str())
                .unwrap_or("?"),
            report.spooled_sets.len()
        ));
    } else if !report.spooled_sets.is_empty() {
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
    settle(&mut report);
    report
}

impl inventory::Inventory {
    fn find_str(&self, id: &str) -> bool {
        self.complete().any(|s| s.id.as_str() == id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::inventory::{Inventory, SetEntry};
    use crate::storage::journal::RestoreProgress;
    use crate::storage::manifest::{Initiator, SetPurpose};
    use crate::storage::setid::SetId;

    fn spec() -> StatusSpec {
        StatusSpec {
            repository: RepositorySpec::new("file:///repo"),
            paths: LocalPaths {
                data_dir: "/nonexistent/data".into(),
                state_dir: "/nonexistent/state".into(),
                cache_dir: "/nonexistent/cache".into(),
            },
            spool_dir: None,
            stale_after: DEFAULT_STALE_AFTER,
            drill_every: Duration::from_secs(365 * 86_400),
            verify_stale_after: Duration::ZERO,
            wal: None,
        }
    }

    fn entry(id: &str, purpose: Option<SetPurpose>) -> SetEntry {
        let id = SetId::parse(id).unwrap();
        let mut m = crate::storage::manifest::tests::sample(id.as_str());
        m.started_at = id.time();
        m.finished_at = id.time() + chrono::Duration::minutes(1);
        m.purpose = purpose;
        SetEntry {
            id,
            objects: Vec::new(),
            manifest: Some(m),
            manifest_error: None,
            missing: Vec::new(),
        }
    }

    fn now() -> DateTime<Utc> {
        DateTime::parse_from_rfc3339("2026-11-22T12:00:00Z")
            .unwrap()
            .with_timezone(&Utc)
    }

    /// Neither a restore's safety backup nor a set dated in the future is the newest set; the
    /// future one is an alert of its own, with its own exit code and JSON field.
    #[test]
    fn safety_and_future_sets_are_never_the_newest_set() {
        let inventory = Inventory {
            repository: "file:///repo".into(),
            // Newest first, as the scan gives them.
            sets: vec![
                entry("20261123T020000.000Z-f0f0", None),
                entry("20261122T115900.000Z-5afe", Some(SetPurpose::Safety)),
                entry("20261122T100000.250Z-aaaa", None),
                entry("20261122T100000Z-bbbb", None),
            ],
            ..Default::default()
        };
        let report = evaluate_at(
            &spec(),
            Ok(&inventory),
            &JournalView::default(),
            Vec::new(),
            None,
            None,
            now(),
        );
        let newest = report.newest_set.as_ref().unwrap();
        assert_eq!(newest.set_id, "20261122T100000.250Z-aaaa");
        assert_eq!(report.health, Health::FutureSet);
        assert_eq!(report.health.exit_code(), 19);
        assert_eq!(report.future_sets.len(), 1);
        assert_eq!(report.future_sets[0].set_id, "20261123T020000.000Z-f0f0");
        assert_eq!(report.future_sets[0].ahead_seconds, 14 * 3600);
        assert!(
            report.messages.iter().any(|m| m.starts_with('✗')
                && m.contains("20261123T020000.000Z-f0f0 is dated in the future")),
            "{:#?}",
            report.messages
        );
        // Within the tolerance a set is only early: no alert, and it is the newest.
        let inventory = Inventory {
            sets: vec![entry("20261122T120400.000Z-0000", None)],
            ..inventory
        };
        let report = evaluate_at(
            &spec(),
            Ok(&inventory),
            &JournalView::default(),
            Vec::new(),
            None,
            None,
            now(),
        );
        assert!(report.future_sets.is_empty());
        assert_eq!(report.health, Health::Ok);
    }

    /// A safety backup that succeeded after a failed nightly does not hide the failure.
    #[test]
    fn a_safety_backup_is_not_the_last_backup_run() {
        let mut failed = restore_run(RunStatus::Failed, true, "-", "-");
        failed.kind = RunKind::Backup;
        failed.restore = None;
        failed.error = Some("pg_dump failed".into());
        let mut safety = failed.clone();
        safety.run_id = "safety".into();
        safety.status = RunStatus::Completed;
        safety.error = None;
        safety.started_at = failed.started_at + chrono::Duration::minutes(30);
        safety.purpose = Some(SetPurpose::Safety);
        let journal = JournalView {
            runs: vec![failed, safety],
            ..Default::default()
        };
        assert_eq!(
            last_backup_run(&journal, "file:///repo").map(|r| r.run_id.as_str()),
            Some("restore-1")
        );
    }

    fn restore_run(status: RunStatus, finished: bool, step: &str, state: &str) -> RunRecord {
        RunRecord {
            run_id: "restore-1".into(),
            kind: RunKind::Restore,
            status,
            initiator: Initiator::Operator,
            host: "db1".into(),
            pid: 1,
            process_start: None,
            started_at: now() - chrono::Duration::hours(1),
            finished_at: finished.then(now),
            set_id: Some("20261122T100000.250Z-aaaa".into()),
            bytes: None,
            destination: "file:///repo".into(),
            sha256: None,
            error: Some("interrupted: process 1 ended without finishing the run".into()),
            spooled_at: None,
            purpose: None,
            restore: Some(Box::new(RestoreProgress {
                target: "postgresql://app@db/app".into(),
                database: Some("app".into()),
                step: step.into(),
                step_at: now() - chrono::Duration::minutes(50),
                target_state: state.into(),
                safety_set: Some("20261122T105900.000Z-5afe".into()),
            })),
        }
    }

    /// A restore killed while it wrote to the target is the worst news status can give, said
    /// even when the repository cannot be read; one killed before it wrote is only a warning,
    /// and a failed one (whose error says the state) is a warning too.
    #[test]
    fn an_interrupted_restore_says_what_its_target_may_be_in() {
        let journal = |run: RunRecord| JournalView {
            runs: vec![run],
            ..Default::default()
        };
        let killed = journal(restore_run(
            RunStatus::Failed,
            false,
            "pg_restore",
            "the database app may be partly restored",
        ));
        for listed in [
            Ok(&Inventory::default()),
            Err("connection refused".to_string()),
        ] {
            let report = evaluate_at(&spec(), listed, &killed, Vec::new(), None, None, now());
            assert_eq!(report.health, Health::RestoreInterrupted, "{report:#?}");
            assert_eq!(report.health.exit_code(), 18);
            let line = &report.messages[0];
            assert_eq!(
                line,
                "✗ restore of 20261122T100000.250Z-aaaa into app interrupted during pg_restore at 2026-11-22 11:10 UTC: the database app may be partly restored; the safety backup 20261122T105900.000Z-5afe holds the state before it; check the target, then restore again"
            );
            assert!(report.last_restore.is_some());
        }
        let before_writing = journal(restore_run(
            RunStatus::Failed,
            false,
            "safety backup",
            UNTOUCHED,
        ));
        let report = evaluate_at(
            &spec(),
            Ok(&Inventory::default()),
            &before_writing,
            Vec::new(),
            None,
            None,
            now(),
        );
        assert!(!report.alerts.contains(&Health::RestoreInterrupted));
        assert!(report
            .messages
            .iter()
            .any(|m| m.starts_with("! restore of") && m.contains("before it wrote")));
        let failed = journal(restore_run(
            RunStatus::Failed,
            true,
            "pg_restore",
            "the database app may be partly restored",
        ));
        let report = evaluate_at(
            &spec(),
            Ok(&Inventory::default()),
            &failed,
            Vec::new(),
            None,
            None,
            now(),
        );
        assert!(!report.alerts.contains(&Health::RestoreInterrupted));
        assert!(report
            .messages
            .iter()
            .any(|m| m.starts_with("! the last restore of")));
        // A later restore that stopped before writing, or one into another database, leaves
        // the interrupted one standing.
        let mut later = killed.clone();
        let mut untouched = restore_run(RunStatus::Failed, true, "prepare", UNTOUCHED);
        untouched.run_id = "restore-2".into();
        untouched.started_at += chrono::Duration::minutes(30);
        untouched.error = Some("the plan cannot succeed: no space".into());
        let mut elsewhere = restore_run(RunStatus::Completed, true, "done", "restored");
        elsewhere.run_id = "restore-3".into();
        elsewhere.started_at += chrono::Duration::minutes(40);
        if let Some(p) = &mut elsewhere.restore {
            p.target = "postgresql://app@db/app_copy".into();
            p.database = Some("app_copy".into());
        }
        later.runs.extend([untouched, elsewhere]);
        let report = evaluate_at(
            &spec(),
            Ok(&Inventory::default()),
            &later,
            Vec::new(),
            None,
            None,
            now(),
        );
        assert_eq!(
            report.health,
            Health::RestoreInterrupted,
            "{:#?}",
            report.messages
        );
        let done = journal(restore_run(RunStatus::Completed, true, "done", "restored"));
        let report = evaluate_at(
            &spec(),
            Ok(&Inventory::default()),
            &done,
            Vec::new(),
            None,
            None,
            now(),
        );
        assert!(
            !report.messages.iter().any(|m| m.contains("restore")),
            "{:#?}",
            report.messages
        );
    }

    #[test]
    fn every_condition_has_its_code_and_its_place_in_the_precedence() {
        let codes: Vec<i32> = Health::ALL.iter().map(|h| h.exit_code()).collect();
        assert_eq!(codes, [18, 12, 10, 10, 11, 19, 14, 17, 16, 15, 13, 0]);
        let mut by_rank = Health::ALL.to_vec();
        by_rank.sort_by_key(|h| h.rank());
        assert_eq!(by_rank, Health::ALL);
        for h in Health::ALL {
            let json = serde_json::to_value(h).unwrap();
            assert_eq!(json, h.as_str(), "as_str matches the JSON name");
        }
    }
}
