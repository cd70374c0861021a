//! What a finished job's own result says about the steps it took, folded into its `JobState`
//! before the verdict line: a drill's record replaces the phase timings the console measured
//! from event arrival (so the Drills panel and the record show the same numbers, failed phases
//! marked) and its manual steps as recorded; a restore's steps go to its log, so the log's
//! last line, "restored … in N s", comes after the files and secrets steps it covers.

use crate::app::event::JobOutcome;
use crate::app::state::{ChecklistItem, JobState, PhaseTiming};
use crate::jobs::drill_record::DrillRecord;

pub fn fold(job: &mut JobState, outcome: &JobOutcome) {
    match outcome {
        JobOutcome::Drill(result) => {
            if let Ok(record) = result.as_ref() {
                from_record(job, record);
            }
        }
        JobOutcome::Restore { result, .. } => {
            if let Ok(done) = result.as_ref() {
                for step in &done.steps_done {
                    job.push_log(format!("✓ {step}"));
                }
            }
        }
        _ => {}
    }
}

/// The record's phases and manual steps, as written to the repository.
fn from_record(job: &mut JobState, record: &DrillRecord) {
    job.phases = record
        .phases
        .iter()
        .map(|p| PhaseTiming {
            name: p.name.clone(),
            started_at: p.started_at,
            finished_at: Some(p.finished_at),
            seconds: Some(p.seconds),
            ok: p.ok,
        })
        .collect();
    job.checklist = record
        .manual
        .iter()
        .map(|m| ChecklistItem {
            step: m.step.clone(),
            done: m.done,
        })
        .collect();
}
