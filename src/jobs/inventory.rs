//! What a repository holds: every object grouped by set, complete sets with their manifests,
//! incomplete sets (no manifest, or one that does not parse), drill records, pins, and stray
//! objects outside any set.
//! A listing that fails part-way fails whole: nothing may act on a partial view.

use crate::storage::layout::{self, MANIFEST_NAME};
use crate::storage::manifest::{Manifest, RepositoryRole, MANIFEST_MAX_BYTES};
use crate::storage::repository::{ObjectInfo, RepoError, Repository};
use crate::storage::setid::{dated_in_future, SetId};
use chrono::{DateTime, Utc};
use futures::StreamExt;
use std::collections::BTreeMap;

const MANIFEST_READS_IN_FLIGHT: usize = 16;

#[derive(Debug, Clone)]
pub struct SetEntry {
    pub id: SetId,
    pub objects: Vec<ObjectInfo>,
    pub manifest: Option<Manifest>,
    /// Why a present manifest could not be used.
    pub manifest_error: Option<String>,
    /// Data-repository objects the manifest names that are not in the listing.
    pub missing: Vec<String>,
}

impl SetEntry {
    pub fn is_complete(&self) -> bool {
        self.manifest.is_some()
    }

    /// Taken by a restore before it touched its target (or for another purpose a newer
    /// version records): not a regular backup.
    pub fn is_safety(&self) -> bool {
        self.manifest.as_ref().is_some_and(|m| !m.is_regular())
    }

    /// When the set says it started: the later of its id's time and its manifest's start, so
    /// a future date in either is seen.
    pub fn dated(&self) -> DateTime<Utc> {
        let id = self.id.time();
        match &self.manifest {
            Some(m) => id.max(m.started_at),
            None => id,
        }
    }

    /// Dated later than `now` plus the tolerance: a wrong clock or a forged set.
    pub fn is_future(&self, now: DateTime<Utc>) -> bool {
        dated_in_future(self.dated(), now)
    }

    /// Can this set be "latest" (status's newest set, `restore latest`, `verify --latest`,
    /// the default drill set, retention's newest floor): complete, a regular backup, and not
    /// dated in the future. A forged future-dated set must not become what a restore takes.
    pub fn can_be_latest(&self, now: DateTime<Utc>) -> bool {
        self.is_complete() && !self.is_safety() && !self.is_future(now)
    }

    /// The marks `list` and History show beside a set that is not an ordinary backup.
    pub fn marks(&self, now: DateTime<Utc>) -> Vec<&'static str> {
        let mut marks = Vec::new();
        if self.is_safety() {
            marks.push("safety");
        }
        if self.is_future(now) {
            marks.push("FUTURE");
        }
        marks
    }

    pub fn stored_bytes(&self) -> u64 {
        self.objects.iter().map(|o| o.size).sum()
    }
}

#[derive(Debug, Clone, Default)]
pub struct Inventory {
    pub repository: String,
    /// Newest first.
    pub sets: Vec<SetEntry>,
    /// Objects under the repository that belong to no set folder (drill records and pins aside).
    pub strays: Vec<ObjectInfo>,
    pub drills: Vec<ObjectInfo>,
    /// `pins/<set-id>.json`: sets the operator pinned (read by prune, which never deletes them).
    pub pins: Vec<ObjectInfo>,
}

impl Inventory {
    pub fn complete(&self) -> impl Iterator<Item = &SetEntry> {
        self.sets.iter().filter(|s| s.is_complete())
    }

    pub fn incomplete(&self) -> impl Iterator<Item = &SetEntry> {
        self.sets.iter().filter(|s| !s.is_complete())
    }

    /// The newest set that can be "latest" (see [`SetEntry::can_be_latest`]) as of `now`.
    pub fn latest(&self, now: DateTime<Utc>) -> Option<&SetEntry> {
        self.sets.iter().find(|s| s.can_be_latest(now))
    }

    /// Complete sets dated in the future, newest first.
    pub fn future_sets(&self, now: DateTime<Utc>) -> impl Iterator<Item = &SetEntry> {
        self.complete().filter(move |s| s.is_future(now))
    }

    pub fn total_bytes(&self) -> u64 {
        self.sets.iter().map(SetEntry::stored_bytes).sum::<u64>()
            + self.strays.iter().map(|o| o.size).sum::<u64>()
            + self.drills.iter().map(|o| o.size).sum::<u64>()
            + self.pins.iter().map(|o| o.size).sum::<u64>()
    }

    pub fn find(&self, id: &SetId) -> Option<&SetEntry> {
        self.sets.iter().find(|s| &s.id == id)
    }
}

pub async fn scan(repo: &Repository) -> Result<Inventory, RepoError> {
    let objects = repo.list("").await?;
    let mut by_set: BTreeMap<SetId, Vec<ObjectInfo>> = BTreeMap::new();
    let mut inventory = Inventory {
        repository: repo.url().to_string(),
        ..Default::default()
    };
    for object in objects {
        if let Some((id, _)) = layout::parse_object_path(&object.path) {
            by_set.entry(id).or_default().push(object);
        } else if object.path.starts_with(layout::DRILLS_DIR) {
            inventory.drills.push(object);
        } else if object.path.starts_with(layout::PINS_DIR) {
            inventory.pins.push(object);
        } else if object.path.starts_with(layout::LOCKS_DIR) {
            // The repository lock (`lock`): not a set, not the operator's to clean up.
        } else {
            inventory.strays.push(object);
        }
    }
    let reads = by_set.into_iter().rev().map(|(id, objects)| async move {
        let has_manifest = objects
            .iter()
            .any(|o| o.path.ends_with(&format!("/{MANIFEST_NAME}")));
        let mut entry = SetEntry {
            id: id.clone(),
            objects,
            manifest: None,
            manifest_error: None,
            missing: Vec::new(),
        };
        if has_manifest {
            match repo
                .get_small(&layout::manifest_path(&id), MANIFEST_MAX_BYTES as u64)
                .await
            {
                Ok(bytes) => match Manifest::parse(id.as_str(), &bytes) {
                    Ok(m) => entry.manifest = Some(m),
                    Err(e) => entry.manifest_error = Some(e.to_string()),
                },
                Err(e) if e.is_not_found() => {
                    entry.manifest_error = Some("manifest.json vanished while listing".into())
                }
                // An oversized manifest is this set's problem, not the listing's: one hostile
                // folder must not hide every good set.
                Err(e @ RepoError::TooLarge { .. }) => entry.manifest_error = Some(e.to_string()),
                Err(e) => return Err(e),
            }
        }
        if let Some(m) = &entry.manifest {
            entry.missing = m
                .components
                .iter()
                .filter(|c| c.repository == RepositoryRole::Data)
                .filter(|c| {
                    let path = layout::object_path(&id, &c.object);
                    !entry.objects.iter().any(|o| o.path == path)
                })
                .map(|c| c.object.clone())
                .collect();
        }
        Ok(entry)
    });
    let entries: Vec<Result<SetEntry, RepoError>> = futures::stream::iter(reads)
        .buffered(MANIFEST_READS_IN_FLIGHT)
        .collect()
        .await;
    for entry in entries {
        inventory.sets.push(entry?);
    }
    Ok(inventory)
}
