//! What a console job's typed outcome says: whether it succeeded, failed or was cancelled, the
//! one line the Jobs screen and the status bar show, and the set it made (a backup's, offered
//! for verification).

use crate::jobs::backup::{BackupError, BackupOutcome};
use crate::jobs::drill::DrillError;
use crate::jobs::drill_record::DrillRecord;
use crate::jobs::job::CANCEL_GRACE;
use crate::jobs::prune::{PruneError, PruneOutcome};
use crate::jobs::restore::{RestoreError, RestoreOutcome};
use crate::jobs::runnable::JobOutcome;
use crate::jobs::verify::{self, VerifyError, VerifyReport};
use crate::storage::setid::SetId;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Succeeded {
        summary: String,
        set_id: Option<SetId>,
    },
    Failed(String),
    Cancelled(String),
}

pub fn verdict(outcome: &JobOutcome) -> Verdict {
    match outcome {
        JobOutcome::Backup(result) => backed_up(result),
        JobOutcome::Verify { set_id, result } => verified(set_id, result),
        JobOutcome::Drill(result) => drilled(result),
        JobOutcome::Restore { set_id, result } => restored(set_id, result),
        JobOutcome::Prune(result) => pruned(result),
        JobOutcome::NotStarted(e) => Verdict::Failed(e.clone()),
        JobOutcome::Crashed(e) => Verdict::Failed(format!("the job stopped unexpectedly: {e}")),
        JobOutcome::Abandoned => Verdict::Cancelled(format!(
            "cancelled; the job did not stop within {} and was dropped unfinished",
            super::format::age(CANCEL_GRACE)
        )),
    }
}

fn backed_up(result: &Result<BackupOutcome, BackupError>) -> Verdict {
    match result {
        Ok(o) => Verdict::Succeeded {
            summary: match &o.set_id {
                Some(id) => format!("set {id} complete"),
                None => "spooled sets uploaded".into(),
            },
            set_id: o.set_id.clone(),
        },
        Err(e @ (BackupError::Cancelled | BackupError::TimedOut(_))) => {
            Verdict::Cancelled(e.to_string())
        }
        Err(e) => Verdict::Failed(e.to_string()),
    }
}

fn drilled(result: &Result<DrillRecord, DrillError>) -> Verdict {
    match result {
        Ok(r) if r.passed => Verdict::Succeeded {
            summary: format!(
                "drill passed: RTO {}, RPO {}",
                r.rto_seconds
                    .map(super::format::elapsed)
                    .unwrap_or_else(|| "-".into()),
                super::format::elapsed(r.rpo_seconds())
            ),
            set_id: Some(r.set_id.clone()),
        },
        Ok(r) if r.cancelled => Verdict::Cancelled(
            "drill cancelled (no verdict: the last completed drill counts)".into(),
        ),
        Ok(r) => Verdict::Failed(format!("drill FAILED: {}", r.reasons.join("; "))),
        Err(e) => Verdict::Failed(e.to_string()),
    }
}

fn restored(set_id: &SetId, result: &Result<RestoreOutcome, RestoreError>) -> Verdict {
    match result {
        Ok(o) => Verdict::Succeeded {
            summary: format!(
                "restored set {set_id} in {}{}",
                super::format::elapsed(o.seconds),
                o.safety_backup
                    .as_ref()
                    .map(|s| format!(" (safety backup {s})"))
                    .unwrap_or_default()
            ),
            set_id: None,
        },
        Err(e @ RestoreError::Cancelled(_)) => Verdict::Cancelled(format!("restore {e}")),
        Err(e) => Verdict::Failed(e.to_string()),
    }
}

fn pruned(result: &Result<PruneOutcome, PruneError>) -> Verdict {
    match result {
        Ok(o) => Verdict::Succeeded {
            summary: format!(
                "pruned {} set(s) and {} garbage item(s), {} freed",
                o.deleted_sets.len(),
                o.deleted_garbage.len(),
                super::format::bytes(o.freed.total_bytes())
            ),
            set_id: None,
        },
        Err(e @ PruneError::Cancelled { .. }) => Verdict::Cancelled(format!("prune {e}")),
        Err(e) => Verdict::Failed(e.to_string()),
    }
}

/// The headless line for a job that ended in `e`: "restore failed: …", or "restore
/// cancelled; …" when the operator stopped it (the error's own text starts with "cancelled",
/// so it is not said twice, nor called a failure).
pub fn error_line(job: &str, e: &dyn std::fmt::Display, cancelled: bool) -> String {
    if cancelled {
        format!("{job} {e}")
    } else {
        format!("{job} failed: {e}")
    }
}

pub fn backup_error_line(e: &BackupError) -> String {
    error_line("backup", e, matches!(e, BackupError::Cancelled))
}

pub fn restore_error_line(e: &RestoreError) -> String {
    error_line("restore", e, matches!(e, RestoreError::Cancelled(_)))
}

pub fn verify_error_line(e: &VerifyError) -> String {
    error_line("verify", e, matches!(e, VerifyError::Cancelled))
}

pub fn prune_error_line(e: &PruneError) -> String {
    error_line("prune", e, matches!(e, PruneError::Cancelled { .. }))
}

fn verified(set_id: &SetId, result: &Result<VerifyReport, VerifyError>) -> Verdict {
    match result {
        Ok(report) if report.ok() => Verdict::Succeeded {
            summary: format!("set {set_id}: every object matches"),
            set_id: Some(set_id.clone()),
        },
        Ok(report) => {
            let bad: Vec<String> = report
                .sets
                .iter()
                .flat_map(|s| {
                    s.objects
                        .iter()
                        .filter(|o| o.status != verify::ObjectStatus::Ok)
                        .map(|o| format!("{} {:?}", o.object, o.status))
                        .chain(s.problems.iter().cloned())
                })
                .collect();
            Verdict::Failed(format!("set {set_id} is DAMAGED: {}", bad.join("; ")))
        }
        Err(VerifyError::Cancelled) => Verdict::Cancelled("verification cancelled".into()),
        Err(e) => Verdict::Failed(e.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn outcomes_without_a_result_say_why() {
        assert_eq!(
            verdict(&JobOutcome::NotStarted("no [source]".into())),
            Verdict::Failed("no [source]".into())
        );
        assert_eq!(
            verdict(&JobOutcome::Crashed("index out of bounds".into())),
            Verdict::Failed("the job stopped unexpectedly: index out of bounds".into())
        );
        assert!(matches!(
            verdict(&JobOutcome::Abandoned),
            Verdict::Cancelled(text) if text.contains("did not stop within 30s and")
        ));
    }

    #[test]
    fn a_cancelled_backup_is_cancelled_not_failed() {
        assert_eq!(
            verdict(&JobOutcome::Backup(Box::new(Err(BackupError::Cancelled)))),
            Verdict::Cancelled(BackupError::Cancelled.to_string())
        );
        assert!(matches!(
            verdict(&JobOutcome::Backup(Box::new(Err(BackupError::Config(
                "bad".into()
            ))))),
            Verdict::Failed(text) if text == "bad"
        ));
    }

    #[test]
    fn a_cancelled_job_is_said_cancelled_once_and_not_failed() {
        assert_eq!(
            backup_error_line(&BackupError::Cancelled),
            "backup cancelled; nothing was marked complete"
        );
        assert_eq!(
            verify_error_line(&VerifyError::Cancelled),
            "verify cancelled"
        );
        let restore = RestoreError::Cancelled(
            "pg_restore was stopped before it finished; the database app was not touched".into(),
        );
        assert_eq!(
            restore_error_line(&restore),
            "restore cancelled; pg_restore was stopped before it finished; the database app was not touched"
        );
        assert_eq!(
            verdict(&JobOutcome::Restore {
                set_id: SetId::parse("20261122T114500Z-3f9a").unwrap(),
                result: Box::new(Err(restore)),
            }),
            Verdict::Cancelled(
                "restore cancelled; pg_restore was stopped before it finished; the database app was not touched".into()
            )
        );
        assert_eq!(
            prune_error_line(&PruneError::Cancelled { deleted: 2 }),
            "prune cancelled after deleting 2 set(s) or garbage item(s); run `lifeboat prune --yes` again to finish"
        );
        assert_eq!(
            verify_error_line(&VerifyError::NothingToVerify("file:///r".into())),
            "verify failed: no complete set in file:///r to verify"
        );
    }
}
