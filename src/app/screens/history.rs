//! The History screen's reducer: its filtered length, the row under the cursor (as an index
//! into the unfiltered list, which the detail pane keeps), and Enter opening that detail.

use crate::app::state::{AppState, Modal};
use crate::storage::setid::SetId;

/// Rows that pass the filter.
pub fn len(state: &AppState) -> usize {
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
pub fn selected_row(state: &AppState) -> Option<usize> {
    let snapshot = state.snapshot.as_ref()?;
    snapshot
        .history
        .iter()
        .enumerate()
        .filter(|(_, r)| r.matches(&state.history.filter))
        .nth(state.history.selected)
        .map(|(i, _)| i)
}

/// The set of unfiltered row `row`, if the run left one with a manifest.
pub fn set_of_row(state: &AppState, row: usize) -> Option<SetId> {
    let r = state.snapshot.as_ref()?.history.get(row)?;
    r.manifest.as_ref().map(|m| m.set_id.clone())
}

/// Enter: the detail pane of the selected run.
pub fn open(state: &mut AppState) {
    let Some(row) = selected_row(state) else {
        return;
    };
    if let Some(r) = state.snapshot.as_ref().and_then(|s| s.history.get(row)) {
        state.modal = Some(Modal::Detail {
            row,
            started_at: r.started_at,
        });
    }
}

/// After a reload the open detail pane follows its run to its new row (newer runs may have
/// come in above it), or closes if the run is gone.
pub fn follow_detail(state: &mut AppState) {
    let Some(Modal::Detail { started_at, .. }) = state.modal else {
        return;
    };
    let row = state
        .snapshot
        .as_ref()
        .and_then(|s| s.history.iter().position(|r| r.started_at == started_at));
    state.modal = row.map(|row| Modal::Detail { row, started_at });
}
