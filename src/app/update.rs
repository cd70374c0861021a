//! The one place state changes: `update(state, event) -> effects`. Pure: no I/O, no awaiting,
//! no clock reads (time arrives with `Tick`). The runtime executes the effects and feeds their
//! results back as events.

use super::action::Action;
use super::event::{AppEvent, Effect, JobOutcome};
use super::inventory_tree::{self, RowKind};
use super::retention_state;
use super::state::{
    AppState, ChecklistItem, JobKind, JobState, JobStatus, Modal, PhaseTiming, Screen, WizardStep,
};
use crate::jobs::progress::JobEvent;
use crate::report::outcome::Verdict;
use crate::storage::setid::SetId;
use std::collections::VecDeque;

pub fn update(state: &mut AppState, event: AppEvent) -> Vec<Effect> {
    match event {
        AppEvent::Action(action) => on_action(state, action),
        AppEvent::FilterChar(c) => {
            if let Some(Modal::ConfirmRestore { typed, .. } | Modal::PinNote { typed, .. }) =
                state.modal.as_mut()
            {
                typed.push(c);
                return Vec::new();
            }
            if let Some(text) = state.filter_input.as_mut() {
                text.push(c);
                apply_filter(state);
            }
            Vec::new()
        }
        AppEvent::FilterBackspace => {
            if let Some(Modal::ConfirmRestore { typed, .. } | Modal::PinNote { typed, .. }) =
                state.modal.as_mut()
            {
                typed.pop();
                return Vec::new();
            }
            if let Some(text) = state.filter_input.as_mut() {
                text.pop();
                apply_filter(state);
            }
            Vec::new()
        }
        AppEvent::Tick(now) => {
            state.now = now;
            Vec::new()
        }
        AppEvent::ReloadDue => reload_due(state),
        AppEvent::Resize(w, h) => {
            state.width = w;
            state.height = h;
            Vec::new()
        }
        AppEvent::Scroll(delta) => {
            let action = if delta < 0 { Action::Up } else { Action::Down };
            (0..delta.unsigned_abs())
                .flat_map(|_| on_action(state, action))
                .collect()
        }
        AppEvent::Previewed(preview) => {
            // A full snapshot, even an older one, says more than a preview.
            if state.snapshot.is_none() {
                state.preview = Some(*preview);
            }
            Vec::new()
        }
        AppEvent::Loaded(result) => {
            state.loading = false;
            // The full load replaces the preview; a failed one must not leave it on screen.
            state.preview = None;
            match result {
                Ok(snapshot) => {
                    state.snapshot = Some(*snapshot);
                    state.load_error = None;
                    clamp_selections(state);
                }
                Err(e) => state.load_error = Some(e),
            }
            Vec::new()
        }
        AppEvent::Preflight(report) => {
            if matches!(state.modal, Some(Modal::Wizard(WizardStep::Checking))) {
                state.modal = Some(Modal::Wizard(WizardStep::Ready(report)));
            }
            Vec::new()
        }
        AppEvent::Job { id, event } => {
            let now = state.now;
            if let Some(job) = state.job_mut(id) {
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
                        });
                        job.phase = p;
                    }
                    JobEvent::Progress(p) => job.progress = Some(p),
                    JobEvent::Log(line) => job.push_log(line),
                    JobEvent::Warning(line) => job.push_log(format!("! {line}")),
                }
            }
            Vec::new()
        }
        AppEvent::JobDone { id, outcome } => on_job_done(state, id, outcome),
        AppEvent::RetentionLoaded(loaded) => {
            retention_state::on_loaded(state, loaded);
            Vec::new()
        }
        AppEvent::Notice(text) => {
            state.notice = Some(text);
            Vec::new()
        }
        AppEvent::PinsChanged(text) => {
            state.notice = Some(text);
            state.retention.plan = None;
            retention_state::on_enter(state)
        }
        AppEvent::RestorePlanned { id, plan, database } => {
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
                });
            } else if !ok {
                state.notice =
                    Some("✗ the restore plan cannot succeed: see Jobs for every reason".into());
            }
            Vec::new()
        }
    }
}

/// A reload is due: one load at a time (a slow repository must not pile loads up).
fn reload_due(state: &mut AppState) -> Vec<Effect> {
    if state.loading {
        return Vec::new();
    }
    state.loading = true;
    vec![Effect::Load]
}

fn on_job_done(state: &mut AppState, id: u64, outcome: JobOutcome) -> Vec<Effect> {
    let now = state.now;
    let Some(job) = state.job_mut(id) else {
        return Vec::new();
    };
    job.finished_at = Some(now);
    if let Some(last) = job.phases.last_mut() {
        last.finished_at.get_or_insert(now);
    }
    let mut offer = None;
    match crate::report::outcome::verdict(&outcome) {
        Verdict::Succeeded { summary, set_id } => {
            job.push_log(format!("✓ {summary}"));
            job.status = JobStatus::Succeeded(summary.clone());
            if job.kind == JobKind::Backup {
                offer = set_id.clone();
            }
            job.set_id = set_id;
            state.notice = Some(format!("✓ {summary}"));
        }
        Verdict::Failed(e) => {
            job.push_log(format!("✗ {e}"));
            job.status = JobStatus::Failed(e.clone());
            state.notice = Some(format!("✗ {e}"));
        }
        Verdict::Cancelled(e) => {
            job.push_log(format!("✗ {e}"));
            job.status = JobStatus::Cancelled(e);
        }
    }
    if let (Some(set_id), None) = (offer, &state.modal) {
        state.modal = Some(Modal::OfferVerify { set_id });
    }
    state.loading = true;
    // Sets, pins and garbage may have changed: the preview is stale.
    state.retention.plan = None;
    let mut effects = vec![Effect::Load];
    if state.screen == Screen::Retention {
        effects.extend(retention_state::on_enter(state));
    }
    effects
}

fn apply_filter(state: &mut AppState) {
    let text = state.filter_input.clone().unwrap_or_default();
    match state.screen {
        Screen::Inventory => {
            state.inventory.filter = text;
            state.inventory.selected = 0;
        }
        _ => {
            state.history.filter = text;
            state.history.selected = 0;
        }
    }
}

fn history_len(state: &AppState) -> usize {
    state
        .snapshot
        .as_ref()
        .map(|s| {
            s.history
                .iter()
                .filter(|r| r.matches(&state.history.filter))
                .count()
        })
        .unwrap_or(0)
}

/// The history row under the cursor, as an index into the unfiltered list.
pub fn selected_history_row(state: &AppState) -> Option<usize> {
    let snapshot = state.snapshot.as_ref()?;
    snapshot
        .history
        .iter()
        .enumerate()
        .filter(|(_, r)| r.matches(&state.history.filter))
        .nth(state.history.selected)
        .map(|(i, _)| i)
}

fn list_len(state: &AppState) -> usize {
    match state.screen {
        Screen::History => history_len(state),
        Screen::Inventory => inventory_tree::len(state),
        Screen::Jobs => state.jobs.len(),
        Screen::Retention => state
            .retention
            .plan
            .as_ref()
            .map(|p| p.sets.len())
            .unwrap_or(0),
        Screen::Drills => match running_drill(state).and_then(|id| state.job(id)) {
            Some(j) => j.checklist.len(),
            None => state.snapshot.as_ref().map(|s| s.drills.len()).unwrap_or(0),
        },
        _ => 0,
    }
}

fn clamp_selections(state: &mut AppState) {
    let h = history_len(state);
    state.history.selected = state.history.selected.min(h.saturating_sub(1));
    let i = inventory_tree::len(state);
    state.inventory.selected = state.inventory.selected.min(i.saturating_sub(1));
    state.selected_job = state.selected_job.min(state.jobs.len().saturating_sub(1));
}

fn cursor(state: &mut AppState) -> Option<&mut usize> {
    if state.screen == Screen::Retention {
        return Some(&mut state.retention.selected);
    }
    if state.screen == Screen::Drills {
        return match running_drill(state) {
            Some(id) => state
                .jobs
                .iter_mut()
                .find(|j| j.id == id)
                .map(|j| &mut j.checklist_cursor),
            None => Some(&mut state.selected_drill),
        };
    }
    match state.screen {
        Screen::History => Some(&mut state.history.selected),
        Screen::Inventory => Some(&mut state.inventory.selected),
        Screen::Jobs => Some(&mut state.selected_job),
        _ => None,
    }
}

fn move_cursor(state: &mut AppState, action: Action) {
    let len = list_len(state);
    let page = state.list_height();
    let Some(selected) = cursor(state) else {
        return;
    };
    let last = len.saturating_sub(1);
    *selected = match action {
        Action::Up => selected.saturating_sub(1),
        Action::Down => (*selected + 1).min(last),
        Action::PageUp => selected.saturating_sub(page),
        Action::PageDown => (*selected + page).min(last),
        Action::Top => 0,
        Action::Bottom => last,
        _ => *selected,
    };
}

/// The set under the cursor on History or Inventory (only complete sets can be verified).
pub fn selected_set(state: &AppState) -> Option<SetId> {
    match (&state.modal, state.screen) {
        (Some(Modal::Detail { row }), _) => {
            let r = state.snapshot.as_ref()?.history.get(*row)?;
            r.manifest.as_ref().map(|m| m.set_id.clone())
        }
        (_, Screen::History) => {
            let r = &state.snapshot.as_ref()?.history[selected_history_row(state)?];
            r.manifest.as_ref().map(|m| m.set_id.clone())
        }
        (_, Screen::Inventory) => {
            let id = inventory_tree::row(state, state.inventory.selected)?.set_id?;
            let sets = &state.snapshot.as_ref()?.inventory.as_ref()?.sets;
            sets.iter()
                .find(|s| s.id.as_str() == id && s.is_complete())
                .map(|s| s.id.clone())
        }
        _ => None,
    }
}

fn new_job(state: &mut AppState, kind: JobKind) -> u64 {
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
    id
}

/// The running drill job, if any.
pub fn running_drill(state: &AppState) -> Option<u64> {
    state
        .jobs
        .iter()
        .find(|j| j.status.is_running() && matches!(j.kind, JobKind::Drill { .. }))
        .map(|j| j.id)
}

fn start_drill(state: &mut AppState) -> Vec<Effect> {
    if running_drill(state).is_some() {
        state.notice = Some("a drill is already running (see Drills)".into());
        return Vec::new();
    }
    // A set chosen on History or Inventory; otherwise the newest complete set.
    let set_id = match state.screen {
        Screen::History | Screen::Inventory => selected_set(state),
        _ => None,
    };
    let job = new_job(
        state,
        JobKind::Drill {
            set_id: set_id.clone(),
        },
    );
    state.screen = Screen::Drills;
    state.modal = None;
    vec![Effect::StartDrill { job, set_id }]
}

fn start_verify(state: &mut AppState, decrypt: bool) -> Vec<Effect> {
    let Some(set_id) = selected_set(state) else {
        state.notice = Some("select a complete set on History or Inventory to verify it".into());
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
    state.notice = Some(format!("verifying {set_id}…"));
    vec![Effect::StartVerify {
        job,
        set_id,
        decrypt,
    }]
}

fn request_quit(state: &mut AppState) -> Vec<Effect> {
    if state.running_jobs() > 0 {
        state.modal = Some(Modal::ConfirmQuit);
        Vec::new()
    } else {
        state.should_quit = true;
        vec![Effect::Quit]
    }
}

fn on_modal_action(state: &mut AppState, modal: Modal, action: Action) -> Vec<Effect> {
    let yes = matches!(action, Action::Confirm | Action::Open);
    let no = matches!(action, Action::Deny | Action::Back);
    match modal {
        Modal::Help => {
            if matches!(action, Action::Help | Action::Back | Action::Quit) {
                state.modal = None;
            }
            Vec::new()
        }
        Modal::ConfirmQuit => {
            if yes || action == Action::Interrupt {
                state.modal = None;
                state.should_quit = true;
                let mut effects: Vec<Effect> = state
                    .jobs
                    .iter()
                    .filter(|j| j.status.is_running())
                    .map(|j| Effect::CancelJob { job: j.id })
                    .collect();
                effects.push(Effect::Quit);
                return effects;
            }
            if no {
                state.modal = None;
            }
            Vec::new()
        }
        Modal::ConfirmCancel { job } => {
            if yes {
                state.modal = None;
                if let Some(j) = state.job_mut(job) {
                    j.push_log("cancelling…".into());
                }
                return vec![Effect::CancelJob { job }];
            }
            if no {
                state.modal = None;
            }
            Vec::new()
        }
        Modal::Wizard(step) => {
            if no {
                state.modal = None;
                return Vec::new();
            }
            match step {
                WizardStep::Ready(report) if yes => {
                    if !report.ok() {
                        state.notice = Some("preflight failed: fix the ✗ items first".into());
                        return Vec::new();
                    }
                    state.modal = None;
                    let job = new_job(state, JobKind::Backup);
                    state.screen = Screen::Jobs;
                    vec![Effect::StartBackup { job }]
                }
                _ => Vec::new(),
            }
        }
        Modal::OfferVerify { set_id } => {
            if yes {
                state.modal = None;
                let job = new_job(
                    state,
                    JobKind::Verify {
                        set_id: set_id.clone(),
                        decrypt: false,
                    },
                );
                return vec![Effect::StartVerify {
                    job,
                    set_id,
                    decrypt: false,
                }];
            }
            if no {
                state.modal = None;
            }
            Vec::new()
        }
        Modal::PinNote { set_id, typed } => {
            if action == Action::Back {
                state.modal = None;
            } else if action == Action::Open {
                if typed.trim().is_empty() {
                    state.notice =
                        Some("✗ a pin needs a note (why it is kept), e.g. legal hold".into());
                    return Vec::new();
                }
                state.modal = None;
                return vec![Effect::Pin {
                    set_id,
                    note: typed,
                }];
            }
            Vec::new()
        }
        Modal::ConfirmPrune { .. } => {
            if yes {
                state.modal = None;
                let job = new_job(state, JobKind::Prune);
                state.screen = Screen::Jobs;
                return vec![Effect::StartPrune { job }];
            }
            if no {
                state.modal = None;
            }
            Vec::new()
        }
        Modal::ConfirmRestore {
            plan,
            database,
            typed,
        } => {
            if action == Action::Back {
                state.modal = None;
                return Vec::new();
            }
            if action == Action::Open {
                if typed != database {
                    state.notice = Some(format!(
                        "✗ type `{database}` exactly to restore, or Esc to cancel"
                    ));
                    return Vec::new();
                }
                state.modal = None;
                let set_id = plan.set_id.clone();
                let job = new_job(
                    state,
                    JobKind::Restore {
                        set_id: set_id.clone(),
                    },
                );
                state.screen = Screen::Jobs;
                return vec![Effect::StartRestore { job, set_id }];
            }
            Vec::new()
        }
        Modal::Detail { .. } => match action {
            Action::Back | Action::Open => {
                state.modal = None;
                Vec::new()
            }
            Action::Verify => start_verify(state, false),
            Action::VerifyDecrypt => start_verify(state, true),
            Action::Restore => on_action_without_modal(state, Action::Restore),
            _ => Vec::new(),
        },
    }
}

/// What a screen needs when it opens (the Retention preview is loaded on first view).
fn entered(state: &mut AppState) -> Vec<Effect> {
    match state.screen {
        Screen::Retention => retention_state::on_enter(state),
        _ => Vec::new(),
    }
}

/// Runs an action as if no modal were open (the detail pane hands over to its screen).
fn on_action_without_modal(state: &mut AppState, action: Action) -> Vec<Effect> {
    let modal = state.modal.take();
    let effects = on_action(state, action);
    if state.modal.is_none() && effects.is_empty() {
        state.modal = modal;
    }
    effects
}

fn on_action(state: &mut AppState, action: Action) -> Vec<Effect> {
    if action == Action::Interrupt && !matches!(state.modal, Some(Modal::ConfirmQuit)) {
        state.filter_input = None;
        return request_quit(state);
    }
    if let Some(modal) = state.modal.clone() {
        return on_modal_action(state, modal, action);
    }
    if state.filter_input.is_some() {
        match action {
            Action::Open => state.filter_input = None,
            Action::Back => {
                state.filter_input = Some(String::new());
                apply_filter(state);
                state.filter_input = None;
            }
            _ => {}
        }
        return Vec::new();
    }
    match action {
        Action::Quit | Action::Interrupt => request_quit(state),
        Action::NextScreen => {
            state.screen = state.screen.next();
            entered(state)
        }
        Action::PrevScreen => {
            state.screen = state.screen.prev();
            entered(state)
        }
        Action::ShowDashboard
        | Action::ShowHistory
        | Action::ShowInventory
        | Action::ShowJobs
        | Action::ShowRetention
        | Action::ShowDrills => {
            state.screen = match action {
                Action::ShowDashboard => Screen::Dashboard,
                Action::ShowHistory => Screen::History,
                Action::ShowInventory => Screen::Inventory,
                Action::ShowJobs => Screen::Jobs,
                Action::ShowRetention => Screen::Retention,
                _ => Screen::Drills,
            };
            entered(state)
        }
        Action::Up
        | Action::Down
        | Action::PageUp
        | Action::PageDown
        | Action::Top
        | Action::Bottom => {
            move_cursor(state, action);
            Vec::new()
        }
        Action::Open => {
            match state.screen {
                Screen::History => {
                    if let Some(row) = selected_history_row(state) {
                        state.modal = Some(Modal::Detail { row });
                    }
                }
                Screen::Inventory => {
                    if let Some(row) = inventory_tree::row(state, state.inventory.selected) {
                        if let (RowKind::Set { .. }, Some(id)) = (&row.kind, &row.set_id) {
                            if !state.expanded.remove(id) {
                                state.expanded.insert(id.clone());
                            }
                        }
                    }
                }
                _ => {}
            }
            Vec::new()
        }
        Action::Back => {
            if state.screen == Screen::Inventory {
                if let Some(id) =
                    inventory_tree::row(state, state.inventory.selected).and_then(|r| r.set_id)
                {
                    if state.expanded.remove(&id) {
                        // Put the cursor back on the collapsed set's row.
                        if let Some(i) = inventory_tree::set_row(state, &id) {
                            state.inventory.selected = i;
                        }
                    }
                }
            }
            Vec::new()
        }
        Action::Filter => {
            if matches!(state.screen, Screen::History | Screen::Inventory) {
                let current = match state.screen {
                    Screen::Inventory => state.inventory.filter.clone(),
                    _ => state.history.filter.clone(),
                };
                state.filter_input = Some(current);
            }
            Vec::new()
        }
        Action::Help => {
            state.modal = Some(Modal::Help);
            Vec::new()
        }
        Action::Refresh => {
            state.loading = true;
            vec![Effect::Load]
        }
        Action::GuidedBackup => {
            if state
                .jobs
                .iter()
                .any(|j| j.status.is_running() && j.kind == JobKind::Backup)
            {
                state.notice = Some("a backup is already running (see Jobs)".into());
                return Vec::new();
            }
            state.modal = Some(Modal::Wizard(WizardStep::Checking));
            vec![Effect::Preflight]
        }
        Action::Verify => start_verify(state, false),
        Action::VerifyDecrypt => start_verify(state, true),
        Action::StartDrill => start_drill(state),
        Action::Pin if state.screen == Screen::Retention => retention_state::request_pin(state),
        Action::Prune if state.screen == Screen::Retention => retention_state::request_prune(state),
        Action::SimulateLonger | Action::SimulateShorter if state.screen == Screen::Retention => {
            retention_state::slide(state, action == Action::SimulateLonger);
            Vec::new()
        }
        Action::SimulateStop if state.screen == Screen::Retention => {
            retention_state::toggle_stop(state);
            Vec::new()
        }
        Action::Pin
        | Action::Prune
        | Action::SimulateLonger
        | Action::SimulateShorter
        | Action::SimulateStop => {
            state.notice = Some("that key works on the Retention screen (5)".into());
            Vec::new()
        }
        Action::Restore => {
            let Some(set_id) = selected_set(state) else {
                state.notice =
                    Some("select a complete set on History or Inventory to restore it".into());
                return Vec::new();
            };
            if state.jobs.iter().any(|j| {
                j.status.is_running()
                    && matches!(
                        j.kind,
                        JobKind::Restore { .. } | JobKind::RestorePlan { .. }
                    )
            }) {
                state.notice = Some("a restore is already running (see Jobs)".into());
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
        Action::TickStep => {
            let Some(job) = running_drill(state) else {
                state.notice = Some("no drill is running: d starts one".into());
                return Vec::new();
            };
            let Some(j) = state.job_mut(job) else {
                return Vec::new();
            };
            let index = j.checklist_cursor;
            match j.checklist.get_mut(index) {
                Some(item) if !item.done => {
                    item.done = true;
                    if j.checklist_cursor + 1 < j.checklist.len() {
                        j.checklist_cursor += 1;
                    }
                    vec![Effect::TickManual { job, index }]
                }
                _ => Vec::new(),
            }
        }
        Action::FinishSteps => match running_drill(state) {
            Some(job) => vec![Effect::FinishManual { job }],
            None => Vec::new(),
        },
        Action::CancelJob => {
            if state.screen == Screen::Jobs {
                if let Some(job) = state.jobs.get(state.selected_job) {
                    if job.status.is_running() {
                        state.modal = Some(Modal::ConfirmCancel { job: job.id });
                    }
                }
            }
            Vec::new()
        }
        Action::Confirm | Action::Deny => Vec::new(),
    }
}
