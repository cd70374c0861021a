//! A restore's record in the run journal. It is written when the restore starts, again when
//! each step that can change the target begins (with the state the target may be left in if
//! the run stops there), and a last time when it ends (completed, failed or cancelled). A
//! restore killed mid-way (SIGKILL, power loss) leaves its last running record, which the
//! journal's reader turns into an interrupted run, so `status` and the dashboard can say what
//! the target may be in.
//!
//! A journal that cannot be written does not stop a restore the operator needs now: it is
//! said loudly in the job's log instead.

use super::progress::Reporter;
use super::restore::{target_database_name, RestoreError, RestoreOutcome, RestoreSpec};
use crate::storage::journal::{
    Journal, JournalEntry, RestoreProgress, RunKind, RunRecord, RunStatus,
};
use crate::storage::lock::{process_start, this_host};
use crate::storage::manifest::Initiator;
use crate::storage::setid::SetId;
use chrono::Utc;

/// What the target is in before a restore writes to it.
pub const UNTOUCHED: &str = "the target is untouched";

pub struct RestoreJournal {
    journal: Journal,
    record: RunRecord,
    reporter: Reporter,
}

impl RestoreJournal {
    /// Records the start of a restore (step `prepare`: fetch, verify, decrypt, plan).
    pub fn start(spec: &RestoreSpec, reporter: &Reporter) -> RestoreJournal {
        let started_at = Utc::now();
        let pid = std::process::id();
        let record = RunRecord {
            run_id: format!("restore-{}", SetId::new(started_at)),
            kind: RunKind::Restore,
            status: RunStatus::Running,
            // A restore is never scheduled: someone asked for it.
            initiator: Initiator::Operator,
            host: this_host(),
            pid,
            process_start: process_start(pid),
            started_at,
            finished_at: None,
            set_id: Some(spec.set.to_string()),
            bytes: None,
            destination: spec.repository.url.clone(),
            sha256: None,
            error: None,
            spooled_at: None,
            purpose: None,
            restore: Some(Box::new(RestoreProgress {
                target: spec.target.display(),
                database: target_database_name(&spec.target),
                step: "prepare".into(),
                step_at: started_at,
                target_state: UNTOUCHED.into(),
                safety_set: None,
            })),
        };
        let mut this = RestoreJournal {
            journal: Journal::new(spec.paths.journal()),
            record,
            reporter: reporter.clone(),
        };
        this.append();
        this
    }

    /// The restore begins `step`; if it stops during it, the target may be in `target_state`.
    pub fn step(&mut self, step: &str, target_state: &str) {
        if let Some(p) = &mut self.record.restore {
            p.step = step.to_string();
            p.step_at = Utc::now();
            p.target_state = target_state.to_string();
        }
        self.append();
    }

    /// The safety backup `id` holds the target's state from before the restore.
    pub fn safety_set(&mut self, id: &str) {
        if let Some(p) = &mut self.record.restore {
            p.safety_set = Some(id.to_string());
        }
    }

    /// Records how the restore ended.
    pub fn finish(mut self, result: &Result<RestoreOutcome, RestoreError>) {
        self.record.finished_at = Some(Utc::now());
        match result {
            Ok(_) => {
                self.record.status = RunStatus::Completed;
                if let Some(p) = &mut self.record.restore {
                    p.step = "done".into();
                    p.target_state = "restored".into();
                }
            }
            Err(e) => {
                self.record.status = match e {
                    RestoreError::Cancelled(_) => RunStatus::Cancelled,
                    _ => RunStatus::Failed,
                };
                self.record.error = Some(e.to_string());
            }
        }
        self.append();
    }

    fn append(&mut self) {
        if let Err(e) = self.journal.append(&JournalEntry::Run(self.record.clone())) {
            self.reporter.warn(format!(
                "the restore is not recorded in the run journal: {e}; if it is interrupted, `lifeboat status` will not know"
            ));
        }
    }
}
