//! Per-screen state and reducers, one module a screen (Retention's is `retention_state`), plus
//! what they share: list lengths, the cursor each screen moves, and the set under the cursor.
//! `update` dispatches here; nothing in this folder does I/O or reads the clock.

pub mod drills;
pub mod finished;
pub mod fleet;
pub mod history;
pub mod inventory;
pub mod jobs;
pub mod modals;
pub mod notice;
pub mod recover;

use super::action::Action;
use super::inventory_tree;
use super::state::{AppState, Modal, Screen};
use crate::storage::setid::SetId;

/// How many rows the current screen's list has.
fn list_len(state: &AppState) -> usize {
    match state.screen {
        Screen::History => history::len(state),
        Screen::Inventory => inventory_tree::len(state),
        Screen::Jobs => state.jobs.len(),
        Screen::Retention => state
            .retention
            .plan
            .as_ref()
            .map(|p| p.sets.len())
            .unwrap_or(0),
        Screen::Drills => drills::list_len(state),
        Screen::Dashboard => 0,
    }
}

/// Keeps every cursor on a row after a reload shortened its list.
pub fn clamp_selections(state: &mut AppState) {
    let h = history::len(state);
    state.history.selected = state.history.selected.min(h.saturating_sub(1));
    let i = inventory_tree::len(state);
    state.inventory.selected = state.inventory.selected.min(i.saturating_sub(1));
    state.selected_job = state.selected_job.min(state.jobs.len().saturating_sub(1));
    let d = state.snapshot.as_ref().map(|s| s.drills.len()).unwrap_or(0);
    state.selected_drill = state.selected_drill.min(d.saturating_sub(1));
}

fn cursor(state: &mut AppState) -> Option<&mut usize> {
    match state.screen {
        Screen::Retention => Some(&mut state.retention.selected),
        Screen::Drills => drills::cursor(state),
        Screen::History => Some(&mut state.history.selected),
        Screen::Inventory => Some(&mut state.inventory.selected),
        Screen::Jobs => Some(&mut state.selected_job),
        Screen::Dashboard => None,
    }
}

/// Up, down, page and jump keys on whichever list the screen shows.
pub fn move_cursor(state: &mut AppState, action: Action) {
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
        (Some(Modal::Detail { row, .. }), _) => history::set_of_row(state, *row),
        (_, Screen::History) => history::set_of_row(state, history::selected_row(state)?),
        (_, Screen::Inventory) => inventory::selected_complete_set(state),
        _ => None,
    }
}

/// The filter prompt's text, applied to the list it filters as it is typed.
pub fn apply_filter(state: &mut AppState) {
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
