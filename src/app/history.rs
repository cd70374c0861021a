//! History rows: the run journal merged with the repository's sets, so a host rebuilt from the
//! bucket alone still shows every set, and failed runs (which leave no set) still show.

use crate::jobs::inventory::{Inventory, SetEntry};
use crate::storage::journal::{JournalView, RunKind, RunStatus, VerificationRecord};
use crate::storage::manifest::Manifest;
use chrono::{DateTime, Utc};
use std::collections::{HashMap, HashSet};

/// The initiator History shows for a restore's safety backup: it is no regular backup.
pub const SAFETY: &str = "safety";

#[derive(Debug, Clone, PartialEq)]
pub struct HistoryRow {
    pub set_id: Option<String>,
    /// `completed`, `failed`, ... from the journal, or `complete` for a set only the repository knows.
    pub status: String,
    pub ok: bool,
    pub initiator: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    pub bytes: Option<u64>,
    pub destination: String,
    pub sha256: Option<String>,
    pub error: Option<String>,
    pub manifest: Option<Manifest>,
    /// The set was deleted by a prune (the run itself succeeded).
    pub pruned: bool,
    /// The last verification of the set: (ok, level word, when).
    pub verified: Option<(bool, String, DateTime<Utc>)>,
}

impl HistoryRow {
    pub fn matches(&self, filter: &str) -> bool {
        if filter.is_empty() {
            return true;
        }
        let needle = filter.to_lowercase();
        [
            self.set_id.as_deref().unwrap_or(""),
            &self.status,
            &self.initiator,
            self.error.as_deref().unwrap_or(""),
            &self.destination,
        ]
        .iter()
        .any(|field| field.to_lowercase().contains(&needle))
    }
}

/// Newest first.
pub fn rows(
    inventory: Option<&Inventory>,
    journal: &JournalView,
    repository: &str,
) -> Vec<HistoryRow> {
    rows_at(inventory, journal, repository, Utc::now())
}

/// Newest first, as of `now` (which sets are dated in the future). A restore's safety backup
/// shows `safety` as its initiator; a set dated in the future shows `future` as its status,
/// marked as a problem.
pub fn rows_at(
    inventory: Option<&Inventory>,
    journal: &JournalView,
    repository: &str,
    now: DateTime<Utc>,
) -> Vec<HistoryRow> {
    // Indexes, not scans: a host with 10,000 sets has 10,000 runs and verifications too.
    let complete: HashMap<&str, &SetEntry> = inventory
        .map(|inv| inv.complete().map(|s| (s.id.as_str(), s)).collect())
        .unwrap_or_default();
    let mut latest_verification: HashMap<&str, &VerificationRecord> = HashMap::new();
    for v in &journal.verifications {
        latest_verification.insert(v.set_id.as_str(), v);
    }
    let mut rows: Vec<HistoryRow> = Vec::new();
    for run in journal
        .runs
        .iter()
        .filter(|r| r.kind == RunKind::Backup && r.destination == repository)
    {
        let set = run
            .set_id
            .as_deref()
            .and_then(|id| complete.get(id).copied());
        rows.push(HistoryRow {
            set_id: run.set_id.clone(),
            status: run.status.as_str().to_string(),
            ok: run.status == RunStatus::Completed,
            initiator: if run.is_safety() || set.is_some_and(|s| s.is_safety()) {
                SAFETY.to_string()
            } else {
                run.initiator.as_str().to_string()
            },
            started_at: run.started_at,
            finished_at: run.finished_at,
            bytes: run.bytes.or(set.map(|s| s.stored_bytes())),
            destination: run.destination.clone(),
            sha256: run.sha256.clone(),
            error: run.error.clone(),
            manifest: set.and_then(|s| s.manifest.clone()),
            verified: None,
            pruned: false,
        });
    }
    if let Some(inventory) = inventory {
        let from_journal: HashSet<String> = rows.iter().filter_map(|r| r.set_id.clone()).collect();
        for set in inventory.complete() {
            if from_journal.contains(set.id.as_str()) {
                continue;
            }
            let Some(m) = &set.manifest else { continue };
            rows.push(HistoryRow {
                set_id: Some(set.id.to_string()),
                status: "complete".into(),
                ok: true,
                initiator: if set.is_safety() {
                    SAFETY.to_string()
                } else {
                    m.initiator.as_str().to_string()
                },
                started_at: m.started_at,
                finished_at: Some(m.finished_at),
                bytes: Some(set.stored_bytes()),
                destination: inventory.repository.clone(),
                sha256: None,
                error: None,
                manifest: Some(m.clone()),
                verified: None,
                pruned: false,
            });
        }
    }
    let pruned: std::collections::HashSet<&str> = journal
        .runs
        .iter()
        .filter(|r| r.kind == RunKind::Prune && r.status == RunStatus::Completed)
        .filter_map(|r| r.set_id.as_deref())
        .collect();
    for row in &mut rows {
        if let Some(id) = &row.set_id {
            if complete.get(id.as_str()).is_some_and(|s| s.is_future(now)) {
                row.status = "future".into();
                row.ok = false;
                row.error.get_or_insert_with(|| {
                    "dated in the future: a wrong clock or a forged set; never latest".into()
                });
            }
            if row.ok && row.manifest.is_none() && pruned.contains(id.as_str()) {
                row.pruned = true;
                row.status = "pruned".into();
            }
            row.verified = latest_verification
                .get(id.as_str())
                .map(|v| (v.ok, format!("{:?}", v.level).to_lowercase(), v.at));
        }
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.started_at));
    rows
}
