//! The restore drill: prove a set brings the application back, and measure how long that
//! takes (RTO) and how much data it would lose (RPO). Timed phases: fetch and verify (one
//! streamed pass), decrypt, restore into a throwaway target (an ephemeral local cluster, or a
//! scratch database `<db>_drill_<timestamp>` on a configured server, never the source),
//! checks, manual steps, teardown. Teardown always runs: no scratch database, cluster or
//! decrypted file is left behind, also when the drill fails or is cancelled.

mod checks;
mod clock;
mod decrypt;
mod failure;
mod phases;
mod target;

pub use checks::{run_checks, DrillChecks};
pub use failure::{DrillFailure, SetupError};
pub use target::TargetError;

use clock::Clock;
use phases::Drill;

use super::drill_record::{DrillRecord, ManualStep, DRILL_FORMAT};
use super::fetch;
use super::inventory;
use super::progress::Reporter;
use super::restore::Scratch;
use crate::storage::gpg::EncryptionSpec;
use crate::storage::journal::{Journal, JournalEntry};
use crate::storage::layout;
use crate::storage::lock::this_host;
use crate::storage::manifest::{Initiator, Manifest};
use crate::storage::paths::LocalPaths;
use crate::storage::postgres::{self, PgConn, PgTools};
use crate::storage::repository::{Repository, RepositorySpec};
use crate::storage::roots::RootsSpec;
use crate::storage::setid::SetId;
use crate::storage::units;
use chrono::Utc;
use std::path::PathBuf;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SqlCheck {
    pub name: String,
    pub sql: String,
    pub expect: String,
}

/// The operator's answers during the manual phase (from the console).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ManualInput {
    Tick {
        index: usize,
        note: Option<String>,
    },
    /// Stop waiting: steps not ticked are recorded as not done.
    Finish,
}

#[derive(Debug)]
pub struct DrillSpec {
    pub repository: RepositorySpec,
    pub secrets_repository: Option<RepositorySpec>,
    /// `None`: the newest complete set.
    pub set: Option<SetId>,
    pub encryption: EncryptionSpec,
    pub pg_bin_dir: Option<PathBuf>,
    /// A server to create the scratch database on; `None`: an ephemeral local cluster.
    pub server: Option<PgConn>,
    pub checks: Vec<SqlCheck>,
    pub freshness_query: Option<String>,
    /// Run with `sh -c`, with LIFEBOAT_DRILL_DATABASE_URL pointing at the restored database.
    pub health_command: Option<String>,
    pub manual: Vec<String>,
    pub manual_input: Option<mpsc::UnboundedReceiver<ManualInput>>,
    pub rto_target: Duration,
    pub rpo_target: Duration,
    pub scratch_dir: PathBuf,
    /// The configured roots the set's archives are checked against, as a restore would.
    pub roots: RootsSpec,
    pub jobs: u32,
    pub initiator: Initiator,
    pub paths: LocalPaths,
}

#[derive(Debug, thiserror::Error)]
pub enum DrillError {
    #[error(transparent)]
    Repo(#[from] crate::storage::repository::RepoError),
    #[error("no complete set in {0} to drill")]
    NothingToDrill(String),
    /// The set is not in the repository: a usage error; nothing is recorded.
    #[error(transparent)]
    NoSuchSet(#[from] super::set_choice::SetChoiceError),
    /// The drill could not start (the set's manifest or the drill server out of reach):
    /// nothing was restored, so nothing is recorded as a drill.
    #[error(transparent)]
    Setup(#[from] SetupError),
    #[error("the drill record could not be stored in {repository}: {reason}")]
    Store { repository: String, reason: String },
}

/// Runs a drill; the record is returned (and stored) whether it passed or failed. An error
/// means the drill could not even be recorded.
pub async fn run(
    mut spec: DrillSpec,
    reporter: Reporter,
    cancel: CancellationToken,
) -> Result<DrillRecord, DrillError> {
    let started = Utc::now();
    let drill_id = SetId::new(started).to_string();
    let data = Repository::open(&spec.repository)?;
    let secrets = spec
        .secrets_repository
        .as_ref()
        .map(Repository::open)
        .transpose()?;
    let listed = inventory::scan(&data).await?;
    let set = match spec.set.clone() {
        Some(s) => super::set_choice::choose(&listed, data.url(), s.as_str())?,
        None => listed
            .latest(started)
            .map(|s| s.id.clone())
            .ok_or_else(|| DrillError::NothingToDrill(data.url().into()))?,
    };
    let tools = PgTools::locate(spec.pg_bin_dir.as_deref(), None).cancelled_by(cancel.clone());
    let manifest = setup(&spec, &tools, &data, &set).await?;
    let manual = spec.manual.iter().map(|s| ManualStep::pending(s)).collect();
    let scratch = Scratch::create(&spec.scratch_dir);
    let mut drill = Drill {
        spec: &mut spec,
        tools,
        manifest: &manifest,
        started,
        reporter: reporter.clone(),
        cancel: cancel.clone(),
        clock: Clock {
            phases: Vec::new(),
            reporter: reporter.clone(),
        },
        checks: Vec::new(),
        newest_data: None,
        rto: None,
        target_text: String::from("not created"),
        manual,
        restored_bytes: 0,
        target: None,
    };
    let (scratch, outcome) = match scratch {
        Ok(scratch) => {
            let outcome = drill.phases(&data, secrets.as_ref(), &scratch).await;
            (Some(scratch), outcome)
        }
        Err(e) => (None, Err(DrillFailure::Scratch(Box::new(e)))),
    };
    drill.teardown(scratch).await;
    let record = record(drill, drill_id, &set, outcome);
    store(&data, &spec.paths, &reporter, record).await
}

/// Before the clock starts: without the manifest there is no snapshot time to measure the
/// RPO from, and without the server no target; either way nothing would be restored, so it
/// is a drill that did not run, not a failed one.
async fn setup(
    spec: &DrillSpec,
    tools: &PgTools,
    data: &Repository,
    set: &SetId,
) -> Result<Manifest, SetupError> {
    let manifest =
        fetch::read_manifest(data, set)
            .await
            .map_err(|source| SetupError::Manifest {
                set: set.clone(),
                source: Box::new(source),
            })?;
    if let Some(server) = spec.server.clone() {
        let t2 = tools.clone();
        tokio::task::spawn_blocking(move || {
            postgres::on_maintenance_db(&t2, &server, "SELECT 1").map_err(|reason| {
                SetupError::Server {
                    server: server.display(),
                    reason,
                }
            })
        })
        .await??;
    }
    Ok(manifest)
}

/// The drill's record: its phases, checks and measures, and the reasons it did not pass.
fn record(
    drill: Drill<'_>,
    drill_id: String,
    set: &SetId,
    outcome: Result<(), DrillFailure>,
) -> DrillRecord {
    let spec = &*drill.spec;
    let started = drill.started;
    let mut reasons: Vec<String> = Vec::new();
    // A cancelled drill never passes, whichever phase the cancellation reached; it is
    // recorded as cancelled, which neither status nor the dashboard counts as a verdict.
    let cancelled = drill.cancel.is_cancelled();
    if cancelled {
        reasons.push("cancelled by the operator".into());
    } else if let Err(e) = &outcome {
        reasons.push(e.to_string());
    }
    for c in drill.checks.iter().filter(|c| !c.ok) {
        reasons.push(format!(
            "check `{}` failed: expected {}, got {}",
            c.name, c.expected, c.actual
        ));
    }
    let manifest_snapshot = drill.manifest.snapshot_time;
    let rpo_snapshot = (started - manifest_snapshot).num_milliseconds() as f64 / 1000.0;
    let rpo_data = drill
        .newest_data
        .map(|n| (started - n).num_milliseconds() as f64 / 1000.0);
    let rpo = rpo_data.unwrap_or(rpo_snapshot);
    match drill.rto {
        Some(r) if r > spec.rto_target.as_secs_f64() => reasons.push(format!(
            "RTO {} is over the target {}",
            units::elapsed(r),
            units::age(spec.rto_target)
        )),
        None if reasons.is_empty() => reasons.push("the checks never went green".into()),
        _ => {}
    }
    if rpo > spec.rpo_target.as_secs_f64() {
        reasons.push(format!(
            "RPO {} is over the target {}",
            units::age_secs(rpo.round() as i64),
            units::age(spec.rpo_target)
        ));
    }
    DrillRecord {
        format: DRILL_FORMAT,
        kind: Default::default(),
        rehearsal: false,
        drill_id,
        set_id: set.clone(),
        set_snapshot_time: manifest_snapshot,
        started_at: started,
        finished_at: Utc::now(),
        host: this_host(),
        initiator: spec.initiator.as_str().into(),
        lifeboat_version: env!("CARGO_PKG_VERSION").into(),
        pg_restore_version: drill.tools.version("pg_restore").unwrap_or_default(),
        target: drill.target_text,
        phases: drill.clock.phases,
        checks: drill.checks,
        manual: drill.manual,
        rto_seconds: drill.rto,
        rpo_data_seconds: rpo_data,
        newest_data: drill.newest_data,
        rpo_snapshot_seconds: rpo_snapshot,
        restored_bytes: drill.restored_bytes,
        rto_target_seconds: spec.rto_target.as_secs_f64(),
        rpo_target_seconds: spec.rpo_target.as_secs_f64(),
        passed: reasons.is_empty(),
        reasons,
        cancelled,
        freshness_query: spec.freshness_query.clone(),
    }
}

/// Stores the record in the repository and, for a drill that reached a verdict, its summary
/// in the journal.
async fn store(
    data: &Repository,
    paths: &LocalPaths,
    reporter: &Reporter,
    record: DrillRecord,
) -> Result<DrillRecord, DrillError> {
    data.put(
        &format!("{}{}.json", layout::DRILLS_DIR, record.drill_id),
        record.to_json(),
    )
    .await
    .map_err(|e| DrillError::Store {
        repository: data.url().into(),
        reason: e.to_string(),
    })?;
    // The journal's drill summaries stand in for the verdict when the repository's record
    // cannot be read; a cancelled drill reached none.
    if record.cancelled {
        return Ok(record);
    }
    let journal = Journal::new(paths.journal());
    if let Err(e) = journal.append(&JournalEntry::Drill(
        crate::storage::journal::DrillSummary {
            drill_id: record.drill_id.clone(),
            set_id: record.set_id.to_string(),
            at: record.started_at,
            passed: record.passed,
            rto_seconds: record.rto_seconds,
            rpo_seconds: Some(record.rpo_seconds()),
            repository: data.url().into(),
        },
    )) {
        reporter.warn(e.to_string());
    }
    Ok(record)
}
