//! The Drills screen's reducer: starting a drill, the running drill's manual-step checklist
//! (its cursor, ticking, finishing), the cursor in the drill history, and Enter opening the
//! selected record's report.

use super::{jobs, notice};
use crate::app::action::Action;
use crate::app::event::Effect;
use crate::app::state::{AppState, JobKind, Modal, Screen};

/// Rows under the cursor: the running drill's checklist, else the drill history.
pub fn list_len(state: &AppState) -> usize {
    match state.running_drill().and_then(|id| state.job(id)) {
        Some(j) => j.checklist.len(),
        None => state.snapshot.as_ref().map(|s| s.drills.len()).unwrap_or(0),
    }
}

pub fn cursor(state: &mut AppState) -> Option<&mut usize> {
    match state.running_drill() {
        Some(id) => state
            .jobs
            .iter_mut()
            .find(|j| j.id == id)
            .map(|j| &mut j.checklist_cursor),
        None => Some(&mut state.selected_drill),
    }
}

/// `d`: a drill of the set chosen on History or Inventory, otherwise of the newest complete set.
pub fn start(state: &mut AppState) -> Vec<Effect> {
    if state.running_drill().is_some() {
        notice::say(state, "a drill is already running (see Drills)".into());
        return Vec::new();
    }
    let set_id = match state.screen {
        Screen::History | Screen::Inventory => super::selected_set(state),
        _ => None,
    };
    let job = jobs::new_job(
        state,
        JobKind::Drill {
            set_id: set_id.clone(),
        },
    );
    state.screen = Screen::Drills;
    state.modal = None;
    vec![Effect::StartDrill { job, set_id }]
}

/// Ticks the manual step under the checklist cursor and moves to the next.
pub fn tick_step(state: &mut AppState) -> Vec<Effect> {
    let Some(job) = state.running_drill() else {
        let start = notice::key_for(state, Action::StartDrill);
        notice::say(state, format!("no drill is running: {start} starts one"));
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

/// Ends the manual steps; those not ticked are recorded as not done.
pub fn finish_steps(state: &AppState) -> Vec<Effect> {
    match state.running_drill() {
        Some(job) => vec![Effect::FinishManual { job }],
        None => Vec::new(),
    }
}

/// Enter on the drill history: the selected record's report (not while a drill runs: the
/// cursor is on its checklist then).
pub fn open(state: &mut AppState) {
    if state.running_drill().is_some() {
        return;
    }
    let count = state.snapshot.as_ref().map(|s| s.drills.len()).unwrap_or(0);
    if state.selected_drill < count {
        state.modal = Some(Modal::DrillReport {
            index: state.selected_drill,
            scroll: 0,
        });
    }
}
