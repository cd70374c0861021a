//! The prune plan, pure: from what the prune job listed and read (the data and secrets
//! inventories, pins, verifications, the last passing drill, spooled sets, a run holding the
//! lock) and `now`, it weighs every complete set with `retention::Policy::plan`, finds garbage
//! (incomplete sets, orphaned secrets folders, stray objects under `sets/`) past its grace period,
//! and says what is held back and why. The job gathers the facts and executes the plan; the
//! preview, the JSON and the console render it. The deletion order lives here too, so it is
//! tested without a repository.

use crate::jobs::inventory::{Inventory, SetEntry};
use crate::jobs::pins::Pin;
use crate::storage::journal::VerificationRecord;
use crate::storage::layout::MANIFEST_NAME;
use crate::storage::lock::LockHolder;
use crate::storage::repository::ObjectInfo;
use crate::storage::retention::{Candidate, Policy, Rule};
use crate::storage::setid::SetId;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// Incomplete sets and strays younger than this are left alone: a backup on another host may
/// still be writing them (this host's backups are also seen through the lock). `min_age` raises
/// it, since nothing younger than `min_age` is ever deleted.
pub const GARBAGE_GRACE: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Data,
    Secrets,
}

/// One object to delete, in the data or the secrets repository.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Obj {
    pub role: Role,
    pub path: String,
    pub size: u64,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct SetVerdict {
    pub set_id: SetId,
    pub snapshot_time: DateTime<Utc>,
    pub keep: bool,
    /// Why it is kept ("daily 3/7", "pinned: legal hold"); empty when it expires.
    pub reasons: Vec<String>,
    pub data_bytes: u64,
    pub secrets_bytes: u64,
    /// The set's objects in both repositories (what goes when it expires).
    pub objects: Vec<Obj>,
}

#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum GarbageKind {
    /// A set folder without a usable manifest: a failed, killed or half-pruned run.
    IncompleteSet,
    /// A secrets folder whose set has no folder in the data repository.
    OrphanSecrets,
    /// An object under `sets/` that belongs to no set.
    Stray,
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Garbage {
    pub kind: GarbageKind,
    /// The set id, or the stray object's path.
    pub name: String,
    pub newest_object: Option<DateTime<Utc>>,
    pub data_bytes: u64,
    pub secrets_bytes: u64,
    pub objects: Vec<Obj>,
}

/// Something that looks deletable but is not deleted, and why.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Held {
    pub name: String,
    pub why: String,
}

#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
pub struct Freed {
    pub data_bytes: u64,
    pub secrets_bytes: u64,
    pub sets: usize,
    pub garbage: usize,
}

impl Freed {
    pub fn total_bytes(&self) -> u64 {
        self.data_bytes + self.secrets_bytes
    }
}

#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PrunePlan {
    pub repository: String,
    pub secrets_repository: Option<String>,
    pub planned_at: DateTime<Utc>,
    /// The policy in words ("keep_last 3, daily 7 in UTC, min_age 1h").
    pub policy: String,
    pub grace_seconds: u64,
    /// Every complete set, newest first.
    pub sets: Vec<SetVerdict>,
    pub garbage: Vec<Garbage>,
    pub held: Vec<Held>,
    pub pins: Vec<Pin>,
    /// What executing the plan would free.
    pub freed: Freed,
    /// A run holding the repository lock while the plan was made (preview only).
    pub lock_holder: Option<LockHolder>,
    pub notes: Vec<String>,
}

impl PrunePlan {
    /// Expired sets, oldest first: if a prune is interrupted, the newer ones are still there.
    pub fn expired(&self) -> impl Iterator<Item = &SetVerdict> {
        self.sets.iter().rev().filter(|s| !s.keep)
    }
}

/// Everything the plan is made from; the prune job gathers it.
pub struct Facts<'a> {
    pub data: &'a Inventory,
    pub secrets: Option<&'a Inventory>,
    pub pins: &'a [Pin],
    /// Sets whose latest verification in this repository passed.
    pub verified: &'a HashSet<String>,
    pub last_passing_drill: Option<&'a str>,
    /// Sets waiting in a local spool for upload: their remote halves must stay.
    pub spooled: &'a HashSet<String>,
    /// Another run holding the repository lock (it may be writing a set right now).
    pub writer: Option<&'a LockHolder>,
    pub now: DateTime<Utc>,
}

/// Sets whose latest verification against `repository` passed: a later failure takes a set's
/// "verified" away.
pub fn verified_sets(verifications: &[VerificationRecord], repository: &str) -> HashSet<String> {
    let mut latest = HashMap::new();
    for v in verifications.iter().filter(|v| v.repository == repository) {
        latest.insert(v.set_id.as_str(), v.ok);
    }
    latest
        .into_iter()
        .filter(|&(_, ok)| ok)
        .map(|(id, _)| id.to_string())
        .collect()
}

pub fn garbage_grace(policy: &Policy) -> Duration {
    GARBAGE_GRACE.max(policy.min_age())
}

/// The policy in words, for the preview.
pub fn describe(policy: &Policy) -> String {
    let rules: Vec<String> = Rule::ALL
        .into_iter()
        .filter(|&r| policy.count(r) > 0)
        .map(|r| match r {
            Rule::Last => format!("keep_last {}", policy.count(r)),
            _ => format!("{} {}", r.name(), policy.count(r)),
        })
        .collect();
    format!(
        "{} in {}, min_age {}",
        rules.join(", "),
        policy.timezone().name(),
        humantime::format_duration(policy.min_age())
    )
}

pub(super) fn objects(entry: Option<&SetEntry>, role: Role) -> Vec<Obj> {
    entry
        .map(|e| e.objects.iter().map(|o| obj(o, role)).collect())
        .unwrap_or_default()
}

pub(super) fn obj(o: &ObjectInfo, role: Role) -> Obj {
    Obj {
        role,
        path: o.path.clone(),
        size: o.size,
    }
}

pub(super) fn bytes(objects: &[Obj], role: Role) -> u64 {
    objects
        .iter()
        .filter(|o| o.role == role)
        .map(|o| o.size)
        .sum()
}

/// The complete sets as the retention planner sees them, with their floors.
pub fn candidates(facts: &Facts) -> Vec<Candidate> {
    let pinned: HashMap<&str, &str> = facts
        .pins
        .iter()
        .map(|p| (p.set_id.as_str(), p.note.as_str()))
        .collect();
    facts
        .data
        .complete()
        .filter_map(|e| {
            let m = e.manifest.as_ref()?;
            let id = e.id.as_str();
            Some(Candidate {
                id: id.to_string(),
                time: m.snapshot_time,
                complete: true,
                verified: facts.verified.contains(id),
                pinned: pinned.get(id).map(|n| n.to_string()),
                drill_passed: facts.last_passing_drill == Some(id),
                safety: e.is_safety(),
                future: e.is_future(facts.now),
            })
        })
        .collect()
}

pub fn assemble(policy: &Policy, facts: &Facts) -> PrunePlan {
    let now = facts.now;
    let grace = garbage_grace(policy);
    let secrets_of = |id: &SetId| facts.secrets.and_then(|s| s.find(id));
    let complete: Vec<&SetEntry> = facts.data.complete().collect();
    let candidates = candidates(facts);
    let decided = policy.plan(&candidates, now);
    let by_id: HashMap<&str, &SetEntry> = complete.iter().map(|e| (e.id.as_str(), *e)).collect();
    let sets: Vec<SetVerdict> = decided
        .decisions
        .iter()
        .filter_map(|d| {
            let entry = by_id.get(d.id.as_str())?;
            let mut objs = objects(Some(entry), Role::Data);
            objs.extend(objects(secrets_of(&entry.id), Role::Secrets));
            Some(SetVerdict {
                set_id: entry.id.clone(),
                snapshot_time: entry.manifest.as_ref()?.snapshot_time,
                keep: d.keep,
                reasons: d.reasons.iter().map(|r| r.to_string()).collect(),
                data_bytes: bytes(&objs, Role::Data),
                secrets_bytes: bytes(&objs, Role::Secrets),
                objects: objs,
            })
        })
        .collect();

    let (garbage, held) = find_garbage(facts, &by_id, grace);

    let mut notes = Vec::new();
    for pin in facts.pins {
        if !by_id.contains_key(pin.set_id.as_str()) {
            notes.push(format!(
                "pin for set {}, which is not a complete set in the repository (`lifeboat unpin {}` removes it)",
                pin.set_id, pin.set_id
            ));
        }
    }
    let expired: Vec<&SetVerdict> = sets.iter().filter(|s| !s.keep).collect();
    let freed = Freed {
        data_bytes: expired.iter().map(|s| s.data_bytes).sum::<u64>()
            + garbage.iter().map(|g| g.data_bytes).sum::<u64>(),
        secrets_bytes: expired.iter().map(|s| s.secrets_bytes).sum::<u64>()
            + garbage.iter().map(|g| g.secrets_bytes).sum::<u64>(),
        sets: expired.len(),
        garbage: garbage.len(),
    };
    PrunePlan {
        repository: facts.data.repository.clone(),
        secrets_repository: facts.secrets.map(|s| s.repository.clone()),
        planned_at: now,
        policy: describe(policy),
        grace_seconds: grace.as_secs(),
        sets,
        garbage,
        held,
        pins: facts.pins.to_vec(),
        freed,
        lock_holder: facts.writer.cloned(),
        notes,
    }
}

/// The order objects are deleted in: the data repository's manifest first (its absence is what
/// makes a set incomplete, so from that moment the set is never listed as a backup, and a
/// prune killed later leaves garbage, never a broken complete set), then the secrets copy of
/// the manifest, then the other data objects, then the other secrets objects.
pub fn deletion_order(objects: &[Obj]) -> Vec<&Obj> {
    let manifest = format!("/{MANIFEST_NAME}");
    let rank = |o: &Obj| match (o.path.ends_with(&manifest), o.role) {
        (true, Role::Data) => 0,
        (true, Role::Secrets) => 1,
        (false, Role::Data) => 2,
        (false, Role::Secrets) => 3,
    };
    let mut ordered: Vec<&Obj> = objects.iter().collect();
    ordered.sort_by_key(|o| rank(o));
    ordered
}

#[path = "prune_garbage.rs"]
mod garbage;
use garbage::find_garbage;

#[cfg(test)]
#[path = "prune_plan_tests.rs"]
mod tests;
