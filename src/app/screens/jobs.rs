//! The Jobs screen's reducer and every job's life in the console: a job is created here when an
//! action starts one, its progress events and final outcome are folded in here, and `x` asks to
//! cancel the selected one. The notice a job leaves belongs to that job (see `notice`).

use super::notice;
use crate::app::event::{Effect, JobOutcome};
use crate::app::retention_state;
use crate::app::state::{
    AppState, ChecklistItem, JobKind, JobState, JobStatus, Modal, PhaseTiming, Screen, WizardStep,
};
use crate::jobs::progress::JobEvent;
use crate::jobs::restore::RestorePlan;
use crate::report::outcome::Verdict;
use std::collections::VecDeque;

/// A new running job, first in the list and selected. Notices of earlier jobs go: they would
/// read as this job's.
pub fn new_job(state: &mut AppState, kind: JobKind) -> u64 {
    let checklist = match kind {
        JobKind::Drill { .. } => state
            .drill_settings
            .manual_steps
            .iter()
            .map(|step| ChecklistItem {
                step: step.clone(),
                done: false,
            })
            .collect(),
        _ => Vec::new(),
    };
    let id = state.next_job_id;
    state.next_job_id += 1;
    state.jobs.insert(
        0,
        JobState {
            id,
            kind,
            phase: "starting".into(),
            progress: None,
            log: VecDeque::new(),
            status: JobStatus::Running,
            started_at: state.now,
            finished_at: None,
            set_id: None,
            phases: Vec::new(),
            checklist,
            checklist_cursor: 0,
        },
    );
    state.selected_job = 0;
    notice::clear_job_notices(state);
    id
}

/// A progress event of a running job.
pub fn on_event(state: &mut AppState, id: u64, event: JobEvent) {
    let now = state.now;
    let Some(job) = state.job_mut(id) else {
        return;
    };
    match event {
        JobEvent::Phase(p) => {
            job.push_log(format!("== {p}"));
            if let Some(last) = job.phases.last_mut() {
                last.finished_at.get_or_insert(now);
            }
            job.phases.push(PhaseTiming {
                name: p.clone(),
                started_at: now,
                finished_at: None,
                seconds: None,
                ok: true,
            });
            job.phase = p;
        }
        JobEvent::Progress(p) => job.progress = Some(p),
        JobEvent::Log(line) => job.push_log(line),
        JobEvent::Warning(line) => job.push_log(format!("! {line}")),
    }
}

/// A job finished: its status and notice, the offer to verify a new set, and a reload (sets,
/// pins and garbage may have changed).
pub fn on_done(state: &mut AppState, id: u64, outcome: JobOutcome) -> Vec<Effect> {
    let now = state.now;
    let Some(job) = state.job_mut(id) else {
        return Vec::new();
    };
    job.finished_at = Some(now);
    if let Some(last) = job.phases.last_mut() {
        last.finished_at.get_or_insert(now);
    }
    super::finished::fold(job, &outcome);
    let mut offer = None;
    let said = match crate::report::outcome::verdict(&outcome) {
        Verdict::Succeeded { summary, set_id } => {
            job.push_log(format!("✓ {summary}"));
            job.status = JobStatus::Succeeded(summary.clone());
            if job.kind == JobKind::Backup {
                offer = set_id.clone();
            }
            job.set_id = set_id;
            format!("✓ {summary}")
        }
        Verdict::Failed(e) => {
            job.push_log(format!("✗ {e}"));
            job.status = JobStatus::Failed(e.clone());
            format!("✗ {e}")
        }
        Verdict::Cancelled(e) => {
            job.push_log(format!("✗ {e}"));
            job.status = JobStatus::Cancelled(e);
            // Said, so that no earlier result stays in the status bar as if it were this one's.
            format!("✗ {} cancelled", job.title())
        }
    };
    notice::say_for_job(state, id, said);
    if let (Some(set_id), None) = (offer, &state.modal) {
        state.modal = Some(Modal::OfferVerify { set_id });
    }
    state.loading = true;
    state.retention.plan = None;
    let mut effects = vec![Effect::Load];
    if state.screen == Screen::Retention {
        effects.extend(retention_state::on_enter(state));
    }
    effects
}

/// A restore dry run finished: its plan goes to the job's log, and a plan that can succeed
/// opens the typed confirmation.
pub fn on_restore_planned(state: &mut AppState, id: u64, plan: Box<RestorePlan>, database: String) {
    let now = state.now;
    let ok = plan.ok();
    if let Some(job) = state.job_mut(id) {
        for step in &plan.steps {
            job.push_log(format!("plan: {}", step.step));
        }
        for c in &plan.checks {
            job.push_log(format!(
                "{} {}: {}",
                if c.ok { "✓" } else { "✗" },
                c.name,
                c.detail
            ));
        }
        for p in &plan.problems {
            job.push_log(format!("✗ {p}"));
        }
        job.finished_at = Some(now);
        job.status = if ok {
            JobStatus::Succeeded("the plan can succeed".into())
        } else {
            JobStatus::Failed(plan.problems.join("; "))
        };
    }
    if ok && state.modal.is_none() {
        state.modal = Some(Modal::ConfirmRestore {
            plan,
            database,
            typed: String::new(),
            scroll: 0,
        });
    } else if !ok {
        notice::say_for_job(
            state,
            id,
            "✗ the restore plan cannot succeed: see Jobs for every reason".into(),
        );
    }
}

/// `v` / `V`: verifies the selected set.
pub fn start_verify(state: &mut AppState, decrypt: bool) -> Vec<Effect> {
    let Some(set_id) = super::selected_set(state) else {
        notice::say(
            state,
            "select a complete set on History or Inventory to verify it".into(),
        );
        return Vec::new();
    };
    let job = new_job(
        state,
        JobKind::Verify {
            set_id: set_id.clone(),
            decrypt,
        },
    );
    state.modal = None;
    notice::say_for_job(state, job, format!("verifying {set_id}…"));
    vec![Effect::StartVerify {
        job,
        set_id,
        decrypt,
    }]
}

/// `r`: the restore's dry run for the selected set (the confirmation follows its plan).
pub fn request_restore(state: &mut AppState) -> Vec<Effect> {
    let Some(set_id) = super::selected_set(state) else {
        notice::say(
            state,
            "select a complete set on History or Inventory to restore it".into(),
        );
        return Vec::new();
    };
    if state.jobs.iter().any(|j| {
        j.status.is_running()
            && matches!(
                j.kind,
                JobKind::Restore { .. } | JobKind::RestorePlan { .. }
            )
    }) {
        notice::say(state, "a restore is already running (see Jobs)".into());
        return Vec::new();
    }
    let job = new_job(
        state,
        JobKind::RestorePlan {
            set_id: set_id.clone(),
        },
    );
    state.modal = None;
    state.screen = Screen::Jobs;
    vec![Effect::StartRestorePlan { job, set_id }]
}

/// `b`: the guided backup's preflight, unless a backup runs already.
pub fn guided_backup(state: &mut AppState) -> Vec<Effect> {
    if state
        .jobs
        .iter()
        .any(|j| j.status.is_running() && j.kind == JobKind::Backup)
    {
        notice::say(state, "a backup is already running (see Jobs)".into());
        return Vec::new();
    }
    state.modal = Some(Modal::Wizard(WizardStep::Checking));
    vec![Effect::Preflight]
}

/// `x` on Jobs: asks before cancelling the selected running job.
pub fn request_cancel(state: &mut AppState) {
    if state.screen == Screen::Jobs {
        if let Some(job) = state.jobs.get(state.selected_job) {
            if job.status.is_running() {
                state.modal = Some(Modal::ConfirmCancel { job: job.id });
            }
        }
    }
}
