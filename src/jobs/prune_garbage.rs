//! Garbage, for the prune plan: incomplete set folders (with their secrets folders), secrets
//! folders without a set, and stray objects under `sets/`, each either garbage (old enough and
//! nothing holds it) or held back with the reason. Pure, like the rest of the plan.

use super::{bytes, obj, objects, Facts, Garbage, GarbageKind, Held, Obj, Role};
use crate::jobs::inventory::SetEntry;
use crate::storage::layout::SETS_DIR;
use crate::storage::repository::ObjectInfo;
use crate::storage::setid::SetId;
use crate::storage::units;
use chrono::{DateTime, TimeDelta, Utc};
use std::collections::HashMap;
use std::time::Duration;

/// A set started this long before the lock holder's start may still be its set (clock rounding).
const WRITER_MARGIN: TimeDelta = TimeDelta::minutes(1);

/// The newest modification time; `None` when any object's time is unknown (treated as young).
fn newest(infos: &[&ObjectInfo]) -> Option<DateTime<Utc>> {
    infos
        .iter()
        .map(|o| o.modified)
        .collect::<Option<Vec<_>>>()?
        .into_iter()
        .max()
}

/// Incomplete sets, orphaned secrets folders and strays under `sets/`: garbage when older than
/// the grace period and nothing else holds them back; `complete` maps the complete sets' ids.
pub(super) fn find_garbage(
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
                units::age(Duration::from_secs(
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
