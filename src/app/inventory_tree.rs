//! The inventory as a browsable tree: one row per set (expandable to its objects), then drill
//! records and stray objects, and the sets that wait in the local spool. Built from state on
//! demand, and only the rows on screen: paging through 100,000 objects stays cheap.

use super::state::AppState;
use crate::jobs::inventory::SetEntry;
use crate::storage::layout;
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
    Pin,
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

impl TreeRow {
    /// The name as the tree shows it: pins and drill records without their folder (the state
    /// column says what they are; the folder would crowd the id).
    pub fn display_name(&self) -> &str {
        let folder = match self.kind {
            RowKind::Pin => layout::PINS_DIR,
            RowKind::Drill => layout::DRILLS_DIR,
            _ => return &self.name,
        };
        let name = self.name.strip_prefix(folder).unwrap_or(&self.name);
        match self.kind {
            RowKind::Pin => name.trim_end_matches(".json"),
            _ => name,
        }
    }
}

/// An object's file name within its set.
fn object_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// How many of `set`'s objects the filter (lowercased, not empty) matches by name.
fn matching_objects(set: &SetEntry, filter: &str) -> usize {
    set.objects
        .iter()
        .filter(|o| object_name(&o.path).to_lowercase().contains(filter))
        .count()
}

/// Every row (tests and small inventories; the console asks for a window instead).
pub fn rows(state: &AppState) -> Vec<TreeRow> {
    walk(state, 0, usize::MAX, None).rows
}

/// How many rows the tree has, without building them.
pub fn len(state: &AppState) -> usize {
    walk(state, 0, 0, None).len
}

/// Rows `offset..offset + count`: only these are built, so paging through 100,000 objects
/// costs a pass over the sets, not 100,000 rows a frame.
pub fn window(state: &AppState, offset: usize, count: usize) -> Vec<TreeRow> {
    walk(state, offset, count, None).rows
}

/// `window` and `len` in one pass.
pub fn window_and_len(state: &AppState, offset: usize, count: usize) -> (Vec<TreeRow>, usize) {
    let walked = walk(state, offset, count, None);
    (walked.rows, walked.len)
}

/// Row `index`, if there is one.
pub fn row(state: &AppState, index: usize) -> Option<TreeRow> {
    window(state, index, 1).pop()
}

/// The index of set `id`'s own row.
pub fn set_row(state: &AppState, id: &str) -> Option<usize> {
    walk(state, 0, 0, Some(id)).found
}

struct Walk {
    rows: Vec<TreeRow>,
    len: usize,
    found: Option<usize>,
}

fn walk(state: &AppState, offset: usize, count: usize, find: Option<&str>) -> Walk {
    let mut out = Walk {
        rows: Vec::new(),
        len: 0,
        found: None,
    };
    let Some(inventory) = state.snapshot.as_ref().and_then(|s| s.inventory.as_ref()) else {
        return out;
    };
    let end = offset.saturating_add(count);
    let wanted = |at: usize| at >= offset && at < end;
    let filter = state.inventory.filter.to_lowercase();
    // Sets come newest first and `expanded` is sorted: step through both together, one
    // comparison a set, instead of a lookup a set (the cost of a frame with 25,000 sets).
    let mut expanded_desc = state.expanded.iter().rev().peekable();
    let mut previous: Option<&str> = None;
    let mut descending = true;
    for set in &inventory.sets {
        let id = set.id.as_str();
        // A set shows when its id matches, or any of its objects' names; then with just those
        // objects, as if expanded, so the match is in view.
        let id_matches = filter.is_empty() || id.to_lowercase().contains(&filter);
        let by_objects = if id_matches {
            0
        } else {
            matching_objects(set, &filter)
        };
        if !id_matches && by_objects == 0 {
            continue;
        }
        descending &= previous.is_none_or(|p| id < p);
        previous = Some(id);
        let expanded = if descending {
            while expanded_desc.next_if(|e| e.as_str() > id).is_some() {}
            expanded_desc.peek().is_some_and(|e| e.as_str() == id)
        } else {
            state.expanded.contains(id)
        };
        if find == Some(id) {
            out.found = Some(out.len);
        }
        let (expanded, objects) = match (id_matches, expanded) {
            (false, _) => (true, by_objects),
            (true, true) => (true, set.objects.len()),
            (true, false) => (false, 0),
        };
        if out.len + 1 + objects <= offset || out.len >= end {
            out.len += 1 + objects;
            continue;
        }
        if wanted(out.len) {
            out.rows.push(TreeRow {
                kind: RowKind::Set {
                    complete: set.is_complete(),
                    expanded,
                    missing: set.missing.len(),
                    note: set.manifest_error.clone(),
                },
                set_id: Some(id.to_string()),
                name: id.to_string(),
                size: set.stored_bytes(),
                modified: set.objects.iter().filter_map(|o| o.modified).max(),
            });
        }
        out.len += 1;
        let shown = set
            .objects
            .iter()
            .filter(|o| id_matches || object_name(&o.path).to_lowercase().contains(&filter));
        for object in shown.take(objects) {
            if wanted(out.len) {
                out.rows.push(TreeRow {
                    kind: RowKind::Object,
                    set_id: Some(id.to_string()),
                    name: object_name(&object.path).to_string(),
                    size: object.size,
                    modified: object.modified,
                });
            }
            out.len += 1;
        }
    }
    let others = inventory
        .drills
        .iter()
        .map(|o| (RowKind::Drill, o))
        .chain(inventory.pins.iter().map(|o| (RowKind::Pin, o)))
        .chain(inventory.strays.iter().map(|o| (RowKind::Stray, o)));
    for (kind, object) in others {
        if filter.is_empty() || object.path.to_lowercase().contains(&filter) {
            if wanted(out.len) {
                out.rows.push(TreeRow {
                    kind,
                    set_id: None,
                    name: object.path.clone(),
                    size: object.size,
                    modified: object.modified,
                });
            }
            out.len += 1;
        }
    }
    if let Some(snapshot) = &state.snapshot {
        for id in &snapshot.status.spooled_sets {
            if wanted(out.len) {
                out.rows.push(TreeRow {
                    kind: RowKind::Spooled,
                    set_id: Some(id.clone()),
                    name: id.clone(),
                    size: 0,
                    modified: None,
                });
            }
            out.len += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::config::Config;
    use crate::app::state::Snapshot;
    use crate::jobs::inventory::{Inventory, SetEntry};
    use crate::jobs::status;
    use crate::storage::journal::JournalView;
    use crate::storage::manifest::tests::sample;
    use crate::storage::paths::LocalPaths;
    use crate::storage::repository::ObjectInfo;
    use crate::storage::setid::SetId;

    fn state(sets: usize, newest_first: bool) -> AppState {
        let object = |id: &str, name: &str| ObjectInfo {
            path: format!("sets/{id}/{name}"),
            size: 7,
            modified: None,
        };
        let mut entries: Vec<SetEntry> = (0..sets)
            .map(|i| {
                let id = format!("20261122T{:02}{:02}00Z-{i:04x}", i / 60 % 24, i % 60);
                SetEntry {
                    id: SetId::parse(&id).unwrap(),
                    objects: ["db.dump.zst.gpg", "manifest.json"]
                        .iter()
                        .map(|n| object(&id, n))
                        .collect(),
                    manifest: (i % 3 != 0).then(|| sample(&id)),
                    manifest_error: None,
                    missing: Vec::new(),
                }
            })
            .collect();
        if newest_first {
            entries.reverse();
        }
        let inventory = Inventory {
            repository: "file:///r".into(),
            sets: entries,
            strays: vec![object("x", "stray")],
            ..Inventory::default()
        };
        let config = Config::parse(
            std::path::Path::new("config.toml"),
            "[source]\n[repository]\nurl = \"file:///r\"\n[encryption]\nmode = \"none\"\n",
        )
        .unwrap();
        let dir = std::env::temp_dir().join("lifeboat-inventory-tree-test");
        let spec = config.status_spec(&LocalPaths::under(&dir)).unwrap();
        let report = status::evaluate(
            &spec,
            Ok(&inventory),
            &JournalView::default(),
            vec!["20261122T000000Z-spool".into()],
            None,
        );
        let mut state = AppState::new("file:///r".into(), "c".into(), Utc::now());
        state.snapshot = Some(Snapshot {
            status: report,
            inventory: Some(inventory),
            journal: JournalView::default(),
            history: Vec::new(),
            drills: Vec::new(),
            loaded_at: Utc::now(),
        });
        state
    }

    #[test]
    fn windows_len_and_set_rows_agree_with_the_whole_tree() {
        for newest_first in [true, false] {
            agree(state(30, newest_first));
        }
    }

    fn agree(mut state: AppState) {
        for i in [0, 4, 5, 17, 29] {
            let id = state
                .snapshot
                .as_ref()
                .unwrap()
                .inventory
                .as_ref()
                .unwrap()
                .sets[i]
                .id
                .to_string();
            state.expanded.insert(id);
        }
        for filter in ["", "t01", "0005", "stray", "nothing"] {
            state.inventory.filter = filter.into();
            let all = rows(&state);
            assert_eq!(len(&state), all.len(), "filter {filter:?}");
            // Expansion as the set of expanded ids says, each expanded set followed by its objects.
            let mut open = 0;
            for r in &all {
                if let (RowKind::Set { expanded, .. }, Some(id)) = (&r.kind, &r.set_id) {
                    assert_eq!(*expanded, state.expanded.contains(id), "{id}");
                    open += usize::from(*expanded);
                }
            }
            let objects = all.iter().filter(|r| r.kind == RowKind::Object).count();
            assert_eq!(objects, 2 * open, "filter {filter:?}");
            if filter.is_empty() {
                assert_eq!(open, 5);
            }
            for offset in 0..all.len() + 2 {
                for count in [0, 1, 5, 18, 100] {
                    let end = (offset + count).min(all.len());
                    let expected = all.get(offset..end).unwrap_or(&[]);
                    assert_eq!(window(&state, offset, count), expected, "{offset}+{count}");
                    let (rows, n) = window_and_len(&state, offset, count);
                    assert_eq!((rows.as_slice(), n), (expected, all.len()));
                }
                assert_eq!(row(&state, offset).as_ref(), all.get(offset));
            }
            for (i, r) in all.iter().enumerate() {
                if let (RowKind::Set { .. }, Some(id)) = (&r.kind, &r.set_id) {
                    assert_eq!(set_row(&state, id), Some(i));
                }
            }
        }
    }
}
