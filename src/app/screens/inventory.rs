//! The Inventory screen's reducer: Enter expands or collapses a set and opens the detail of an
//! object (a drill record opens its report), Back collapses, and the complete set under the
//! cursor is what verify, restore and drill act on. The tree itself is `inventory_tree`.

use crate::app::inventory_tree::{self, RowKind};
use crate::app::state::{AppState, Modal};
use crate::storage::layout;
use crate::storage::setid::SetId;

/// Enter on the row under the cursor.
pub fn open(state: &mut AppState) {
    let Some(row) = inventory_tree::row(state, state.inventory.selected) else {
        return;
    };
    match (&row.kind, &row.set_id) {
        (RowKind::Set { .. }, Some(id)) => {
            if !state.expanded.remove(id) {
                state.expanded.insert(id.clone());
            }
        }
        (RowKind::Drill, _) => {
            state.modal = Some(match drill_record_index(state, &row.name) {
                Some(index) => Modal::DrillReport { index, scroll: 0 },
                None => Modal::ObjectDetail(Box::new(row)),
            });
        }
        _ => state.modal = Some(Modal::ObjectDetail(Box::new(row))),
    }
}

/// The loaded drill record stored at `path` (`drills/<drill-id>.json`), by index.
fn drill_record_index(state: &AppState, path: &str) -> Option<usize> {
    let id = path
        .strip_prefix(layout::DRILLS_DIR)?
        .strip_suffix(".json")?;
    state
        .snapshot
        .as_ref()?
        .drills
        .iter()
        .position(|d| d.drill_id == id)
}

/// Back: collapses the set the cursor is in and puts the cursor on its row.
pub fn back(state: &mut AppState) {
    if let Some(id) = inventory_tree::row(state, state.inventory.selected).and_then(|r| r.set_id) {
        if state.expanded.remove(&id) {
            if let Some(i) = inventory_tree::set_row(state, &id) {
                state.inventory.selected = i;
            }
        }
    }
}

/// The set under the cursor, if it is complete (only complete sets can be verified or restored).
pub fn selected_complete_set(state: &AppState) -> Option<SetId> {
    let id = inventory_tree::row(state, state.inventory.selected)?.set_id?;
    let sets = &state.snapshot.as_ref()?.inventory.as_ref()?.sets;
    sets.iter()
        .find(|s| s.id.as_str() == id && s.is_complete())
        .map(|s| s.id.clone())
}
