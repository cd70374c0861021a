//! The prune job: list both repositories, read pins, drill records, the journal and the spool,
//! plan with [`prune_plan::assemble`], and (only when told to) delete what the plan expires.
//!
//! Safety, in the order it is enforced: any failed listing or read aborts before the first
//! delete (an incomplete view deletes nothing); `--yes` takes the repository lock before it
//! plans, so no local backup can start between the plan and the deletes; each set's data
//! manifest is deleted first (see [`prune_plan::deletion_order`]); a pin is looked for again
//! just before its set would go. The journal records the run and every set deleted as
//! `RunRecord`s of kind `prune` (see [`execute`]).

use super::drill_record::{self, DrillRecord, RecordKind};
use super::index;
use super::inventory::Inventory;
use super::open_uploads;
use super::pins::{self, PinError};
use super::progress::Reporter;
use super::prune_plan::{self, Facts, Freed, Obj, PrunePlan, Role};
use super::spool;
use crate::storage::journal::{
    Journal, JournalEntry, JournalError, JournalView, RunKind, RunRecord, RunStatus,
};
use crate::storage::layout::SETS_DIR;
use crate::storage::lock::{process_start, this_host, LockError, LockHolder, RepoLock};
use crate::storage::manifest::Initiator;
use crate::storage::paths::LocalPaths;
use crate::storage::repository::{RepoError, Repository, RepositorySpec};
use crate::storage::retention::{Candidate, Policy};
use crate::storage::setid::SetId;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::HashSet;
use std::path::PathBuf;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct PruneSpec {
    pub repository: RepositorySpec,
    pub secrets_repository: Option<RepositorySpec>,
    pub policy: Policy,
    pub paths: LocalPaths,
    pub spool_dir: Option<PathBuf>,
    pub initiator: Initiator,
}

#[derive(Debug, thiserror::Error)]
pub enum PruneError {
    #[error("{0}; nothing was deleted (prune never acts on an incomplete view of a repository)")]
    Listing(#[from] RepoError),
    #[error(
        "{0}; nothing was deleted (a pin prune cannot read might be the one protecting a set)"
    )]
    Pin(#[from] PinError),
    #[error("drill record {problem}; nothing was deleted: repair or remove it (a drill record prune cannot read might protect a set)")]
    DrillRecord { problem: String },
    #[error(transparent)]
    Journal(#[from] JournalError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("deleting `{path}` from {repository} failed: {source}; {deleted} set(s) or garbage item(s) were deleted before it; run `lifeboat prune --yes` again to finish (a set whose manifest is gone is incomplete and goes as garbage)")]
    Delete {
        repository: String,
        path: String,
        deleted: usize,
        source: RepoError,
    },
    #[error("cannot check whether set {set} was pinned since the plan was made: {source}; {deleted} set(s) or garbage item(s) were deleted before it, and nothing after; run `lifeboat prune --yes` again when the repository answers")]
    PinRecheck {
        set: String,
        deleted: usize,
        source: RepoError,
    },
    #[error("the plan expires every complete set, which retention never does; nothing was deleted (please report this)")]
    WouldDeleteEverything,
    #[error("cancelled after deleting {deleted} set(s) or garbage item(s); run `lifeboat prune --yes` again to finish")]
    Cancelled { deleted: usize },
}

/// What a `--yes` run deleted.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct PruneOutcome {
    pub run_id: String,
    pub deleted_sets: Vec<String>,
    /// Garbage removed: set ids, or paths of stray objects.
    pub deleted_garbage: Vec<String>,
    /// Expired sets left in place because they were pinned after the plan was made.
    pub skipped: Vec<String>,
    pub freed: Freed,
    /// Multipart uploads killed runs left open, aborted (see `open_uploads`).
    pub aborted_uploads: Vec<String>,
    /// What taking and releasing the repository lock warned about (a stale lock taken over,
    /// an advisory-only lock, a lock object left behind).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct PruneReport {
    pub plan: PrunePlan,
    /// `None` for a preview.
    pub outcome: Option<PruneOutcome>,
}

struct Repos {
    data: Repository,
    secrets: Option<Repository>,
}

fn open(spec: &PruneSpec) -> Result<Repos, RepoError> {
    Ok(Repos {
        data: Repository::open(&spec.repository)?,
        secrets: spec
            .secrets_repository
            .as_ref()
            .map(Repository::open)
            .transpose()?,
    })
}

/// A preview, or with `yes` the real thing: lock, plan under the lock, delete, saying each
/// deletion to `reporter` as it is done.
pub async fn run(
    spec: &PruneSpec,
    yes: bool,
    reporter: &Reporter,
    cancel: CancellationToken,
) -> Result<PruneReport, PruneError> {
    if !yes {
        let writer = RepoLock::holder(&spec.paths.locks(), &spec.repository).await;
        let plan = plan(spec, writer, Utc::now()).await?;
        return Ok(PruneReport {
            plan,
            outcome: None,
        });
    }
    reporter.phase("prune");
    let lock =
        RepoLock::acquire::<PruneError>(&spec.paths.locks(), &spec.repository, "prune").await?;
    let mut warnings = lock.warnings();
    warnings.iter().for_each(|w| tracing::warn!("{w}"));
    let started_at = Utc::now();
    let result = async {
        let plan = plan(spec, None, started_at).await?;
        let mut outcome = execute(spec, &plan, &lock, reporter, cancel).await?;
        outcome.aborted_uploads = abort_open_uploads(spec, started_at).await;
        Ok::<_, PruneError>((plan, outcome))
    }
    .await;
    // Released whatever happened: a lock object left behind blocks every host for a lease.
    warnings.extend(lock.release().await);
    let (plan, mut outcome) = result?;
    outcome.warnings = warnings;
    Ok(PruneReport {
        plan,
        outcome: Some(outcome),
    })
}

/// Aborts the multipart uploads killed runs left open in the data repository, while the lock
/// is held; returns them described. A failure here is logged, never the prune's failure.
async fn abort_open_uploads(spec: &PruneSpec, started_at: DateTime<Utc>) -> Vec<String> {
    let journal = Journal::new(spec.paths.journal());
    match open_uploads::sweep(&spec.repository, &journal, None, started_at).await {
        Ok(swept) => {
            for failure in &swept.failures {
                tracing::warn!("{failure}");
            }
            swept
                .aborted
                .iter()
                .map(|upload| {
                    let line = open_uploads::describe(upload);
                    tracing::info!(
                        "aborted the multipart upload {line} left by an interrupted run"
                    );
                    line
                })
                .collect()
        }
        Err(e) => {
            tracing::warn!("open multipart uploads were left as they are: {e}");
            Vec::new()
        }
    }
}

/// Everything a plan is made from, listed and read; any failure aborts.
struct Gathered {
    data: Inventory,
    secrets: Option<Inventory>,
    pins: Vec<pins::Pin>,
    verified: HashSet<String>,
    last_passing_drill: Option<String>,
    spooled: HashSet<String>,
}

impl Gathered {
    fn facts<'a>(&'a self, writer: Option<&'a LockHolder>, now: DateTime<Utc>) -> Facts<'a> {
        Facts {
            data: &self.data,
            secrets: self.secrets.as_ref(),
            pins: &self.pins,
            verified: &self.verified,
            last_passing_drill: self.last_passing_drill.as_deref(),
            spooled: &self.spooled,
            writer,
            now,
        }
    }
}

async fn gather(spec: &PruneSpec) -> Result<Gathered, PruneError> {
    let repos = open(spec)?;
    // The planning reads through the index's full pass: every object listed now, so a stale
    // cache can neither hide a newer set nor keep a deleted one; `execute` re-reads each set's
    // pin under the lock before deleting it.
    let full = index::Freshness::Full;
    let data = index::load(&repos.data, &spec.paths, full, None)
        .await?
        .inventory;
    let secrets = match &repos.secrets {
        Some(r) => Some(index::load(r, &spec.paths, full, None).await?.inventory),
        None => None,
    };
    let pins = pins::load(&repos.data, &data).await?;
    let journal = Journal::new(spec.paths.journal()).read()?;
    let last_passing_drill = last_passing_drill(&repos.data, &data, &journal).await?;
    let mut spooled = HashSet::new();
    for repo in std::iter::once(&repos.data).chain(repos.secrets.as_ref()) {
        spooled.extend(spooled_sets(spec, repo).await?);
    }
    Ok(Gathered {
        verified: prune_plan::verified_sets(&journal.verifications, repos.data.url()),
        data,
        secrets,
        pins,
        last_passing_drill,
        spooled,
    })
}

/// Lists and reads everything the plan depends on (any failure aborts) and plans. `writer` is a
/// run holding the repository lock (none when this prune holds it).
pub async fn plan(
    spec: &PruneSpec,
    writer: Option<LockHolder>,
    now: DateTime<Utc>,
) -> Result<PrunePlan, PruneError> {
    let gathered = gather(spec).await?;
    Ok(prune_plan::assemble(
        &spec.policy,
        &gathered.facts(writer.as_ref(), now),
    ))
}

/// The preview and today's candidates from one listing (the console shows both).
pub async fn preview(spec: &PruneSpec) -> Result<(PrunePlan, Vec<Candidate>), PruneError> {
    let writer = RepoLock::holder(&spec.paths.locks(), &spec.repository).await;
    let gathered = gather(spec).await?;
    let facts = gathered.facts(writer.as_ref(), Utc::now());
    Ok((
        prune_plan::assemble(&spec.policy, &facts),
        prune_plan::candidates(&facts),
    ))
}

/// Today's complete sets with their floors, for `retention simulate`.
pub async fn candidates(spec: &PruneSpec) -> Result<Vec<Candidate>, PruneError> {
    let gathered = gather(spec).await?;
    Ok(prune_plan::candidates(&gathered.facts(None, Utc::now())))
}

/// The set of the newest passing drill or recovery, from the repository's records and the
/// journal.
async fn last_passing_drill(
    repo: &Repository,
    inventory: &Inventory,
    journal: &JournalView,
) -> Result<Option<String>, PruneError> {
    let (records, problems) = drill_record::load_listed(repo, inventory).await;
    if let Some(problem) = problems.into_iter().next() {
        return Err(PruneError::DrillRecord { problem });
    }
    let from_journal = journal
        .drills
        .iter()
        .filter(|d| d.passed && d.repository == repo.url())
        .map(|d| (d.at, d.set_id.clone()));
    Ok(newest_proven(&records, from_journal))
}

/// Whether a record keeps its set under the "last passing drill" floor. A passed drill does;
/// so does a passed recovery or recovery rehearsal: it restored that set end to end and checked
/// it as a drill does, and the set a host was rebuilt from is the last one to lose (keeping it
/// is the safe side). The floor shows as `last passing drill / recovery`.
fn proves_restore(record: &DrillRecord) -> bool {
    match record.kind {
        RecordKind::Drill | RecordKind::Recovery => record.passed,
    }
}

/// The set of the newest record that proves a restore; `journal`: the journal's passing
/// drills, as (when, set).
fn newest_proven(
    records: &[DrillRecord],
    journal: impl Iterator<Item = (DateTime<Utc>, String)>,
) -> Option<String> {
    records
        .iter()
        .filter(|r| proves_restore(r))
        .map(|r| (r.started_at, r.set_id.to_string()))
        .chain(journal)
        .max()
        .map(|(_, id)| id)
}

/// Sets waiting in this host's spool for a remote repository.
async fn spooled_sets(spec: &PruneSpec, repo: &Repository) -> Result<Vec<String>, RepoError> {
    let dir = spool::spool_dir(&spec.paths, spec.spool_dir.as_ref(), repo.identity());
    if repo.is_local() || !dir.exists() {
        return Ok(Vec::new());
    }
    let pending = spool::pending(&spool::open_spool(&dir)?).await?;
    Ok(pending.iter().map(|s| s.to_string()).collect())
}

/// Deletes what the plan lets go: expired sets oldest first, then garbage. Needs the lock.
///
/// Journal: one `RunRecord` (kind `prune`, run id `prune-<time>-<suffix>`) for the run, written
/// as running before the first delete and again when it ends (bytes = bytes freed), so a killed
/// prune shows as interrupted; and one completed `RunRecord` per deleted set or garbage item, run
/// id `<run id>/<set id or path>`, `set_id` naming the set, `bytes` what it freed. Host, pid and
/// initiator say who, `started_at`/`finished_at` when.
pub async fn execute(
    spec: &PruneSpec,
    plan: &PrunePlan,
    _lock: &RepoLock,
    reporter: &Reporter,
    cancel: CancellationToken,
) -> Result<PruneOutcome, PruneError> {
    if !plan.sets.is_empty() && plan.sets.iter().all(|s| !s.keep) {
        return Err(PruneError::WouldDeleteEverything);
    }
    let repos = open(spec)?;
    let journal = Journal::new(spec.paths.journal());
    let started_at = Utc::now();
    let run_id = format!("prune-{}", SetId::new(started_at));
    let record = |id: String, set_id: Option<String>, status, bytes| RunRecord {
        run_id: id,
        kind: RunKind::Prune,
        status,
        initiator: spec.initiator,
        host: this_host(),
        pid: std::process::id(),
        process_start: process_start(std::process::id()),
        started_at,
        finished_at: (status != RunStatus::Running).then(Utc::now),
        set_id,
        bytes,
        destination: repos.data.url().to_string(),
        sha256: None,
        error: None,
        spooled_at: None,
        purpose: None,
        restore: None,
    };
    journal.append(&JournalEntry::Run(record(
        run_id.clone(),
        None,
        RunStatus::Running,
        None,
    )))?;
    let mut outcome = PruneOutcome {
        run_id: run_id.clone(),
        ..Default::default()
    };
    let result = delete_all(
        &repos,
        plan,
        (reporter, &cancel),
        &mut outcome,
        |name, set, bytes| {
            let entry = record(
                format!("{run_id}/{name}"),
                set,
                RunStatus::Completed,
                Some(bytes),
            );
            journal.append(&JournalEntry::Run(entry))
        },
    )
    .await;
    let mut last = record(
        run_id,
        None,
        RunStatus::Completed,
        Some(outcome.freed.total_bytes()),
    );
    if let Err(e) = &result {
        last.status = match e {
            PruneError::Cancelled { .. } => RunStatus::Cancelled,
            _ => RunStatus::Failed,
        };
        last.error = Some(e.to_string());
    }
    journal.append(&JournalEntry::Run(last))?;
    result.map(|()| outcome)
}

async fn delete_all(
    repos: &Repos,
    plan: &PrunePlan,
    (reporter, cancel): (&Reporter, &CancellationToken),
    outcome: &mut PruneOutcome,
    mut recorded: impl FnMut(&str, Option<String>, u64) -> Result<(), JournalError>,
) -> Result<(), PruneError> {
    for set in plan.expired() {
        let deleted = outcome.deleted_sets.len() + outcome.deleted_garbage.len();
        if cancel.is_cancelled() {
            return Err(PruneError::Cancelled { deleted });
        }
        // A pin made after the plan still wins.
        let pinned = pins::is_pinned(&repos.data, set.set_id.as_str())
            .await
            .map_err(|source| PruneError::PinRecheck {
                set: set.set_id.to_string(),
                deleted,
                source,
            })?;
        if pinned {
            outcome.skipped.push(set.set_id.to_string());
            continue;
        }
        delete_objects(repos, &set.objects, deleted).await?;
        remove_empty_folders(repos, set.set_id.as_str()).await;
        reporter.log(format!("deleted set {}", set.set_id));
        outcome.deleted_sets.push(set.set_id.to_string());
        outcome.freed.sets += 1;
        add(&mut outcome.freed, &set.objects);
        recorded(
            set.set_id.as_str(),
            Some(set.set_id.to_string()),
            set.data_bytes + set.secrets_bytes,
        )?;
    }
    for item in &plan.garbage {
        let deleted = outcome.deleted_sets.len() + outcome.deleted_garbage.len();
        if cancel.is_cancelled() {
            return Err(PruneError::Cancelled { deleted });
        }
        delete_objects(repos, &item.objects, deleted).await?;
        let set = SetId::parse(&item.name).ok().map(|id| id.to_string());
        if let Some(id) = &set {
            remove_empty_folders(repos, id).await;
        }
        reporter.log(format!("deleted garbage {}", item.name));
        outcome.deleted_garbage.push(item.name.clone());
        outcome.freed.garbage += 1;
        add(&mut outcome.freed, &item.objects);
        recorded(&item.name, set, item.data_bytes + item.secrets_bytes)?;
    }
    Ok(())
}

fn add(freed: &mut Freed, objects: &[Obj]) {
    for o in objects {
        match o.role {
            Role::Data => freed.data_bytes += o.size,
            Role::Secrets => freed.secrets_bytes += o.size,
        }
    }
}

async fn delete_objects(repos: &Repos, objects: &[Obj], deleted: usize) -> Result<(), PruneError> {
    for o in prune_plan::deletion_order(objects) {
        let repo = match (o.role, &repos.secrets) {
            (Role::Data, _) => &repos.data,
            (Role::Secrets, Some(secrets)) => secrets,
            // The plan only names secrets objects it listed in a configured secrets repository.
            (Role::Secrets, None) => continue,
        };
        repo.delete(&o.path)
            .await
            .map_err(|source| PruneError::Delete {
                repository: repo.url().to_string(),
                path: o.path.clone(),
                deleted,
                source,
            })?;
    }
    Ok(())
}

/// A local repository keeps empty folders after its files go; remove them so the tree shows
/// what is really there. Best effort: a folder that is not empty stays.
async fn remove_empty_folders(repos: &Repos, set_id: &str) {
    let folder = format!("{SETS_DIR}{set_id}/");
    for repo in std::iter::once(&repos.data).chain(repos.secrets.as_ref()) {
        if repo.is_local() {
            let _ = repo.delete(&folder).await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(kind: &str, rehearsal: bool, set: &str, at: &str, passed: bool) -> DrillRecord {
        let text = serde_json::json!({
            "format": 1,
            "kind": kind,
            "rehearsal": rehearsal,
            "drill_id": "20261204T030000Z-0a1b",
            "set_id": set,
            "set_snapshot_time": "2026-12-04T02:00:00Z",
            "started_at": at,
            "finished_at": at,
            "host": "db1",
            "initiator": "cli",
            "lifeboat_version": "0.1.0",
            "pg_restore_version": "pg_restore (PostgreSQL) 15.8",
            "target": "scratch",
            "phases": [],
            "checks": [],
            "manual": [],
            "rto_seconds": if passed { Some(60.0) } else { None },
            "rpo_data_seconds": null,
            "newest_data": null,
            "rpo_snapshot_seconds": 3600.0,
            "rto_target_seconds": 3600.0,
            "rpo_target_seconds": 86400.0,
            "passed": passed,
            "reasons": []
        });
        DrillRecord::parse(text.to_string().as_bytes()).unwrap()
    }

    const OLD: &str = "20261201T020000Z-0001";
    const NEW: &str = "20261203T020000Z-0002";

    #[test]
    fn a_passed_recovery_or_rehearsal_holds_the_drill_floor_and_a_failed_one_does_not() {
        let drill = record("drill", false, OLD, "2026-12-02T03:00:00Z", true);
        for (kind, rehearsal) in [("recovery", false), ("recovery", true)] {
            let newer = record(kind, rehearsal, NEW, "2026-12-04T03:00:00Z", true);
            assert!(proves_restore(&newer));
            assert_eq!(
                newest_proven(&[newer, drill.clone()], std::iter::empty()).as_deref(),
                Some(NEW),
                "{kind} rehearsal={rehearsal}"
            );
            let failed = record(kind, rehearsal, NEW, "2026-12-04T03:00:00Z", false);
            assert!(!proves_restore(&failed));
            assert_eq!(
                newest_proven(&[failed, drill.clone()], std::iter::empty()).as_deref(),
                Some(OLD)
            );
        }
        // The journal's drills count beside the repository's records, newest first.
        let at = "2026-12-05T00:00:00Z".parse().unwrap();
        assert_eq!(
            newest_proven(&[drill], std::iter::once((at, NEW.to_string()))).as_deref(),
            Some(NEW)
        );
        assert_eq!(newest_proven(&[], std::iter::empty()), None);
    }
}
