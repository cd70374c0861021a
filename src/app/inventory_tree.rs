//! The inventory as a browsable tree: one row per set (expandable to its objects), then drill
//! records and stray objects, and the sets that wait in the local spool. Built from state on
//! demand; only the rows of expanded sets are materialised, so 100,000 objects stay cheap.

use super::state::AppState;
use chrono::{DateTime, Utc};

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowKind {
    Set {
        complete: bool,
        expanded: bool,
        missing: usize,
        note: Option<String>,
    },
    Object,
    Drill,
    Stray,
    Spooled,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TreeRow {
    pub kind: RowKind,
    /// The set this row belongs to, if any.
    pub set_id: Option<String>,
    pub name: String,
    pub size: u64,
    pub modified: Option<DateTime<Utc>>,
}

pub fn rows(state: &AppState) -> Vec<TreeRow> {
    let Some(inventory) = state.snapshot.as_ref().and_then(|s| s.inventory.as_ref()) else {
        return Vec::new();
    };
    let filter = state.inventory.filter.to_lowercase();
    let mut out = Vec::new();
    for set in &inventory.sets {
        let id = set.id.to_string();
        if !filter.is_empty() && !id.to_lowercase().contains(&filter) {
            continue;
        }
        let expanded = state.expanded.contains(&id);
        out.push(TreeRow {
            kind: RowKind::Set {
                complete: set.is_complete(),
                expanded,
                missing: set.missing.len(),
                note: set.manifest_error.clone(),
            },
            set_id: Some(id.clone()),
            name: id.clone(),
            size: set.stored_bytes(),
            modified: set.objects.iter().filter_map(|o| o.modified).max(),
        });
        if expanded {
            for object in &set.objects {
                out.push(TreeRow {
                    kind: RowKind::Object,
                    set_id: Some(id.clone()),
                    name: object
                        .path
                        .rsplit('/')
                        .next()
                        .unwrap_or(&object.path)
                        .to_string(),
                    size: object.size,
                    modified: object.modified,
                });
            }
        }
    }
    let others = inventory
        .drills
        .iter()
        .map(|o| (RowKind::Drill, o))
        .chain(inventory.strays.iter().map(|o| (RowKind::Stray, o)));
    for (kind, object) in others {
        if filter.is_empty() || object.path.to_lowercase().contains(&filter) {
            out.push(TreeRow {
                kind,
                set_id: None,
                name: object.path.clone(),
                size: object.size,
                modified: object.modified,
            });
        }
    }
    if let Some(snapshot) = &state.snapshot {
        for id in &snapshot.status.spooled_sets {
            out.push(TreeRow {
                kind: RowKind::Spooled,
                set_id: Some(id.clone()),
                name: id.clone(),
                size: 0,
                modified: None,
            });
        }
    }
    out
}
