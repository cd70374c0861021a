//! The record of a finished recovery: a `DrillRecord` of kind `recovery` (every step with its
//! times, the checks, RTO from the start to the health check going green, RPO from the newest
//! restored data as drills measure it), stored beside the drills in the repository and kept in
//! the runbook.

use super::runbook::{Runbook, StepState};
use super::RecoverSpec;
use crate::jobs::drill_record::{DrillRecord, Phase, RecordKind, DRILL_FORMAT};
use crate::storage::layout;
use crate::storage::lock::this_host;
use crate::storage::manifest::{ComponentKind, Manifest};
use crate::storage::postgres::PgTools;
use crate::storage::repository::{RepoError, Repository};
use crate::storage::units;
use chrono::Utc;

/// The drills' default targets (`[drill].rto_target`, `rpo_target`): a bare host has no
/// configuration to take others from.
const RTO_TARGET_SECONDS: f64 = 30.0 * 60.0;
const RPO_TARGET_SECONDS: f64 = 24.0 * 3600.0;

fn seconds(from: chrono::DateTime<Utc>, to: chrono::DateTime<Utc>) -> f64 {
    (to - from).num_milliseconds() as f64 / 1000.0
}

pub(super) fn build(book: &Runbook, manifest: &Manifest, tools: &PgTools) -> DrillRecord {
    let started = book.started_at;
    let phases: Vec<Phase> = book
        .steps
        .iter()
        .filter_map(|s| {
            Some(Phase {
                name: s.name.clone(),
                started_at: s.started_at?,
                finished_at: s.finished_at?,
                seconds: s.seconds.unwrap_or_default(),
                ok: s.state == StepState::Done,
                detail: if s.attempts > 1 {
                    format!("{} (attempt {})", s.detail, s.attempts)
                } else {
                    s.detail.clone()
                },
            })
        })
        .collect();
    let rto = book.health_green_at.map(|t| seconds(started, t));
    let rpo_data = book.newest_data.map(|n| seconds(n, started));
    let rpo_snapshot = seconds(manifest.snapshot_time, started);
    let mut reasons = Vec::new();
    if let Some(r) = rto.filter(|r| *r > RTO_TARGET_SECONDS) {
        reasons.push(format!(
            "RTO {} is over the target {}",
            units::elapsed(r),
            units::age_secs(RTO_TARGET_SECONDS as i64)
        ));
    }
    let rpo = rpo_data.unwrap_or(rpo_snapshot);
    if rpo > RPO_TARGET_SECONDS {
        reasons.push(format!(
            "RPO {} is over the target {}",
            units::elapsed(rpo),
            units::age_secs(RPO_TARGET_SECONDS as i64)
        ));
    }
    DrillRecord {
        format: DRILL_FORMAT,
        kind: RecordKind::Recovery,
        rehearsal: book.spec.rehearse,
        drill_id: book.id.clone(),
        set_id: book.set_id.clone(),
        set_snapshot_time: manifest.snapshot_time,
        started_at: started,
        finished_at: book.finished_at.unwrap_or_else(Utc::now),
        host: this_host(),
        initiator: "cli".into(),
        lifeboat_version: env!("CARGO_PKG_VERSION").into(),
        pg_restore_version: tools.version("pg_restore").unwrap_or_default(),
        target: book.target_url.clone(),
        phases,
        checks: book.checks.clone(),
        manual: book.manual.clone(),
        rto_seconds: rto,
        rpo_data_seconds: rpo_data,
        newest_data: book.newest_data,
        rpo_snapshot_seconds: rpo_snapshot,
        restored_bytes: manifest
            .component(ComponentKind::Db)
            .map(|c| c.source_bytes)
            .unwrap_or(0),
        rto_target_seconds: RTO_TARGET_SECONDS,
        rpo_target_seconds: RPO_TARGET_SECONDS,
        passed: reasons.is_empty() && rto.is_some(),
        reasons,
        cancelled: false,
        freshness_query: book.spec.freshness_query.clone(),
    }
}

/// Stores the record under `drills/` in the data repository.
pub(super) async fn store(spec: &RecoverSpec, record: &DrillRecord) -> Result<(), RepoError> {
    let repo = Repository::open(&spec.data_repository())?;
    repo.put(
        &format!("{}{}.json", layout::DRILLS_DIR, record.drill_id),
        record.to_json(),
    )
    .await
}
