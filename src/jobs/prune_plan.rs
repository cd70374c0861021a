//! The prune plan, pure: from what the prune job listed and read (the data and secrets
//! inventories, pins, verifications, the last passing drill, spooled sets, a run holding the
//! lock) and `now`, it weighs every complete set with `retention::Policy::plan`, finds garbage
//! (incomplete sets, orphaned secrets folders, stray objects under `sets/`) past its grace period,
//! and says what is held back and why. The job gathers the facts and executes the plan; the
//! preview, the JSON and the console render it. The deletion order lives here too, so it is
//! tested without a repository.

use crate::jobs::inventory::{Inventory, SetEntry};
use crate::jobs::pins::Pin;
use crate::storage::layout::{MANIFEST_NAME, SETS_DIR};
use crate::storage::lock::LockHolder;
use crate::storage::repository::ObjectInfo;
use crate::storage::retention::{Candidate, Policy, Rule};
use crate::storage::setid::SetId;
use chrono::{DateTime, TimeDelta, Utc};
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::time::Duration;

/// Incomplete sets and strays younger than this are left alone: a backup on another host may
/// still be writing them (this host's backups are also seen through the lock). `min_age` raises
/// it, since nothing younger than `min_age` is ever deleted.
pub const GARBAGE_GRACE: Duration = Duration::from_secs(24 * 3600);

/// A set started this long before the lock holder's start may still be its set (clock rounding).
const WRITER_MARGIN: TimeDelta = TimeDelta::minutes(1);

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
    pub set_id: String,
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

fn objects(entry: Option<&SetEntry>, role: Role) -> Vec<Obj> {
    entry
        .map(|e| e.objects.iter().map(|o| obj(o, role)).collect())
        .unwrap_or_default()
}

fn obj(o: &ObjectInfo, role: Role) -> Obj {
    Obj {
        role,
        path: o.path.clone(),
        size: o.size,
    }
}

fn bytes(objects: &[Obj], role: Role) -> u64 {
    objects
        .iter()
        .filter(|o| o.role == role)
        .map(|o| o.size)
        .sum()
}

/// The newest modification time; `None` when any object's time is unknown (treated as young).
fn newest(infos: &[&ObjectInfo]) -> Option<DateTime<Utc>> {
    infos
        .iter()
        .map(|o| o.modified)
        .collect::<Option<Vec<_>>>()?
        .into_iter()
        .max()
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
                set_id: d.id.clone(),
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

/// Incomplete sets, orphaned secrets folders and strays under `sets/`: garbage when older than
/// the grace period and nothing else holds them back; `complete` maps the complete sets' ids.
fn find_garbage(
    facts: &Facts,
    complete: &HashMap<&str, &SetEntry>,
    grace: Duration,
) -> (Vec<Garbage>, Vec<Held>) {
    let now = facts.now;
    let grace_delta = TimeDelta::from_std(grace).unwrap_or(TimeDelta::MAX);
    let hold = |id: Option<&SetId>, newest: Option<DateTime<Utc>>| -> Option<String> {
        if let Some(id) = id {
            if facts.spooled.contains(id.as_str()) {
                return Some(
                    "waiting in the local spool for upload (`lifeboat backup --resume`)".into(),
                );
            }
            if let Some(h) = facts.writer {
                if id.time() >= h.started_at - WRITER_MARGIN {
                    return Some(format!("may still be being written by {h}"));
                }
            }
        }
        match newest {
            None => Some("an object's age is unknown; kept to be safe".into()),
            Some(t) if now.signed_duration_since(t) < grace_delta => Some(format!(
                "last written {} ago, within the {} grace period (a backup may still be writing it)",
                // Whole seconds: "3h 2m 1s", not nanoseconds.
                humantime::format_duration(Duration::from_secs(
                    now.signed_duration_since(t).num_seconds().max(0) as u64
                )),
                humantime::format_duration(grace)
            )),
            Some(_) => None,
        }
    };
    let mut garbage = Vec::new();
    let mut held = Vec::new();
    let mut weigh =
        |kind, name: String, id: Option<&SetId>, objs: Vec<Obj>, infos: Vec<&ObjectInfo>| {
            let newest_object = newest(&infos);
            match hold(id, newest_object) {
                Some(why) => held.push(Held { name, why }),
                None => garbage.push(Garbage {
                    kind,
                    name,
                    newest_object,
                    data_bytes: bytes(&objs, Role::Data),
                    secrets_bytes: bytes(&objs, Role::Secrets),
                    objects: objs,
                }),
            }
        };
    let secrets_of = |id: &SetId| facts.secrets.and_then(|s| s.find(id));
    let mut unusable = Vec::new();
    for entry in facts.data.incomplete() {
        if let Some(problem) = &entry.manifest_error {
            unusable.push(Held {
                name: entry.id.to_string(),
                why: format!("its manifest.json is there but cannot be used ({problem}); never deleted as garbage: inspect it"),
            });
            continue;
        }
        let secrets = secrets_of(&entry.id);
        let mut objs = objects(Some(entry), Role::Data);
        objs.extend(objects(secrets, Role::Secrets));
        let infos: Vec<&ObjectInfo> = entry
            .objects
            .iter()
            .chain(secrets.iter().flat_map(|s| s.objects.iter()))
            .collect();
        weigh(
            GarbageKind::IncompleteSet,
            entry.id.to_string(),
            Some(&entry.id),
            objs,
            infos,
        );
    }
    for entry in facts.secrets.iter().flat_map(|s| s.sets.iter()) {
        if facts.data.find(&entry.id).is_none() {
            let objs = objects(Some(entry), Role::Secrets);
            let infos: Vec<&ObjectInfo> = entry.objects.iter().collect();
            weigh(
                GarbageKind::OrphanSecrets,
                entry.id.to_string(),
                Some(&entry.id),
                objs,
                infos,
            );
        }
    }
    let strays = facts.data.strays.iter().map(|o| (o, Role::Data)).chain(
        facts
            .secrets
            .iter()
            .flat_map(|s| s.strays.iter().map(|o| (o, Role::Secrets))),
    );
    for (o, role) in strays {
        let name = o.path.clone();
        let folder = o.path.strip_prefix(SETS_DIR).map(|rest| {
            let id = rest.split('/').next().unwrap_or_default();
            complete.contains_key(id).then(|| id.to_string())
        });
        match folder {
            None => unusable.push(Held {
                name,
                why: "outside sets/: lifeboat deletes only what it writes".into(),
            }),
            Some(Some(set)) => unusable.push(Held {
                name,
                why: format!("inside the folder of complete set {set} but not part of it"),
            }),
            Some(None) => weigh(GarbageKind::Stray, name, None, vec![obj(o, role)], vec![o]),
        }
    }
    held.extend(unusable);
    (garbage, held)
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

#[cfg(test)]
#[path = "prune_plan_tests.rs"]
mod tests;
