//! The passes that bring an index file up to date with its repository (see `Freshness`):
//! `full` lists every object and reads only new or changed manifests and drill records (with
//! no cache: every manifest, newest first, the sets shown as they arrive); `newest` lists only
//! what sorts after the newest cached set.

use super::cache::{CachedObject, CachedRecord, CachedSet, IndexFile, FORMAT};
use super::{to_entry, LoadProgress, OnProgress, READS_IN_FLIGHT};
use crate::jobs::inventory::Inventory;
use crate::storage::layout::{self, DRILLS_DIR, MANIFEST_NAME, PINS_DIR, SETS_DIR};
use crate::storage::manifest::{Manifest, MANIFEST_MAX_BYTES};
use crate::storage::repository::{ObjectInfo, RepoError, Repository};
use crate::storage::setid::{dated_in_future, SetId, FUTURE_TOLERANCE};
use chrono::Utc;
use futures::StreamExt;
use std::collections::{BTreeMap, HashMap};
use std::time::{Duration, Instant};

/// Between two progress calls of a cold load.
const PROGRESS_INTERVAL: Duration = Duration::from_millis(250);
/// A drill record is small; anything bigger is not one.
const DRILL_RECORD_MAX_BYTES: u64 = 4 * 1024 * 1024;

/// What reading one manifest gave: the manifest, or why the set is incomplete.
#[derive(Debug, Clone)]
enum ManifestRead {
    Parsed(Box<Manifest>),
    Unusable(String),
    Absent,
}

/// Reads and parses the manifest of `id` in one request. As `inventory::scan`: an oversized or
/// unparsable manifest is that set's problem; any other failure fails the load.
async fn read_manifest(
    repo: &Repository,
    id: &SetId,
    size: u64,
) -> Result<ManifestRead, RepoError> {
    let path = layout::manifest_path(id);
    match repo
        .get_small_sized(&path, size, MANIFEST_MAX_BYTES as u64)
        .await
    {
        Ok(bytes) => Ok(match Manifest::parse(id.as_str(), &bytes) {
            Ok(m) => ManifestRead::Parsed(Box::new(m)),
            Err(e) => ManifestRead::Unusable(e.to_string()),
        }),
        Err(e) if e.is_not_found() => Ok(ManifestRead::Absent),
        Err(e @ RepoError::TooLarge { .. }) => Ok(ManifestRead::Unusable(e.to_string())),
        Err(e) => Err(e),
    }
}

fn cached_set(id: &SetId, objects: &[ObjectInfo], read: Option<ManifestRead>) -> CachedSet {
    let has_manifest = objects.iter().any(|o| is_manifest(&o.path));
    let (manifest, manifest_error) = match (has_manifest, read) {
        (false, _) | (true, None) => (None, None),
        (true, Some(ManifestRead::Parsed(m))) => (Some(*m), None),
        (true, Some(ManifestRead::Unusable(e))) => (None, Some(e)),
        (true, Some(ManifestRead::Absent)) => {
            (None, Some("manifest.json vanished while listing".into()))
        }
    };
    CachedSet {
        id: id.to_string(),
        objects: objects.iter().map(CachedObject::of).collect(),
        manifest,
        manifest_error,
    }
}

fn is_manifest(path: &str) -> bool {
    path.ends_with(&format!("/{MANIFEST_NAME}"))
}

fn manifest_object(objects: &[CachedObject]) -> Option<&CachedObject> {
    objects.iter().find(|o| is_manifest(&o.path))
}

/// The cached reading of a set's manifest, when the manifest object is unchanged since.
fn reusable(old: Option<&CachedSet>, objects: &[ObjectInfo]) -> Option<ManifestRead> {
    let old = old?;
    let now = objects.iter().find(|o| is_manifest(&o.path))?;
    let then = manifest_object(&old.objects)?;
    if then != &CachedObject::of(now) {
        return None;
    }
    match (&old.manifest, &old.manifest_error) {
        (Some(m), _) => Some(ManifestRead::Parsed(Box::new(m.clone()))),
        (None, Some(e)) => Some(ManifestRead::Unusable(e.clone())),
        (None, None) => None,
    }
}

/// Everything in the repository, grouped as `inventory::scan` groups it.
#[derive(Default)]
struct Listed {
    sets: BTreeMap<SetId, Vec<ObjectInfo>>,
    drills: Vec<ObjectInfo>,
    pins: Vec<ObjectInfo>,
    strays: Vec<ObjectInfo>,
}

fn group(objects: Vec<ObjectInfo>) -> Listed {
    let mut listed = Listed::default();
    for object in objects {
        if let Some((id, _)) = layout::parse_object_path(&object.path) {
            listed.sets.entry(id).or_default().push(object);
        } else if object.path.starts_with(DRILLS_DIR) {
            listed.drills.push(object);
        } else if object.path.starts_with(PINS_DIR) {
            listed.pins.push(object);
        } else if !object.path.starts_with(layout::LOCKS_DIR) {
            listed.strays.push(object);
        }
    }
    listed
}

/// Every object listed; manifests read only for sets that are new or whose manifest changed,
/// newest first, [`READS_IN_FLIGHT`] at a time, telling `on_progress` what is known so far.
pub(super) async fn full(
    repo: &Repository,
    old: Option<IndexFile>,
    on_progress: Option<OnProgress<'_>>,
) -> Result<IndexFile, RepoError> {
    let old = old.unwrap_or_default();
    let listed = group(repo.list("").await?);
    let old_sets: HashMap<&str, &CachedSet> = old.sets.iter().map(|s| (s.id.as_str(), s)).collect();
    let mut known: HashMap<SetId, ManifestRead> = HashMap::new();
    let mut to_read = Vec::new();
    for (id, objects) in listed.sets.iter().rev() {
        let Some(manifest) = objects.iter().find(|o| is_manifest(&o.path)) else {
            continue;
        };
        match reusable(old_sets.get(id.as_str()).copied(), objects) {
            Some(read) => {
                known.insert(id.clone(), read);
            }
            None => to_read.push((id.clone(), manifest.size)),
        }
    }
    let reads = read_manifests(repo, to_read, &listed, on_progress).await?;
    known.extend(reads);
    let sets = listed
        .sets
        .iter()
        .rev()
        .map(|(id, objects)| cached_set(id, objects, known.remove(id)))
        .collect();
    Ok(IndexFile {
        format: FORMAT,
        identity: repo.identity().to_string(),
        sets,
        drills: read_drills(repo, &old.drills, &listed.drills).await,
        pins: listed.pins.iter().map(CachedObject::of).collect(),
        strays: listed.strays.iter().map(CachedObject::of).collect(),
    })
}

/// Reads the manifests of `ids` (with their listed sizes) in order, [`READS_IN_FLIGHT`] at a
/// time; `on_progress` hears about the sets read so far about 4 times a second.
async fn read_manifests(
    repo: &Repository,
    ids: Vec<(SetId, u64)>,
    listed: &Listed,
    on_progress: Option<OnProgress<'_>>,
) -> Result<HashMap<SetId, ManifestRead>, RepoError> {
    let total = ids.len();
    let reads = ids.into_iter().map(|(id, size)| async move {
        let read = read_manifest(repo, &id, size).await?;
        Ok::<_, RepoError>((id, read))
    });
    let mut stream = futures::stream::iter(reads).buffered(READS_IN_FLIGHT);
    let mut out = HashMap::new();
    let mut so_far = Inventory {
        repository: repo.url().to_string(),
        ..Default::default()
    };
    let mut last_told: Option<Instant> = None;
    while let Some(read) = stream.next().await {
        let (id, read) = read?;
        if let Some(tell) = on_progress {
            let objects = listed.sets.get(&id).map(Vec::as_slice).unwrap_or_default();
            so_far
                .sets
                .extend(to_entry(&cached_set(&id, objects, Some(read.clone()))));
            if last_told.is_none_or(|t| t.elapsed() >= PROGRESS_INTERVAL) {
                last_told = Some(Instant::now());
                let loaded = out.len() + 1;
                tell(&so_far, LoadProgress { loaded, total });
            }
        }
        out.insert(id, read);
    }
    Ok(out)
}

/// The drill records listed, read again only when new or changed.
async fn read_drills(
    repo: &Repository,
    old: &[CachedRecord],
    listed: &[ObjectInfo],
) -> Vec<CachedRecord> {
    let old: HashMap<&CachedObject, &CachedRecord> = old.iter().map(|r| (&r.object, r)).collect();
    let pending: Vec<(CachedObject, Option<CachedRecord>)> = listed
        .iter()
        .map(|o| {
            let object = CachedObject::of(o);
            let kept = old.get(&object).map(|r| (*r).clone());
            (object, kept)
        })
        .collect();
    let reads = pending.into_iter().map(|(object, kept)| async move {
        if let Some(kept) = kept {
            return kept;
        }
        match repo
            .get_small_sized(&object.path, object.size, DRILL_RECORD_MAX_BYTES)
            .await
        {
            Ok(bytes) => CachedRecord {
                body: Some(String::from_utf8_lossy(&bytes).into_owned()),
                error: None,
                object,
            },
            Err(e) => CachedRecord {
                body: None,
                error: Some(e.to_string()),
                object,
            },
        }
    });
    futures::stream::iter(reads)
        .buffered(READS_IN_FLIGHT)
        .collect()
        .await
}

/// The cache, brought up to date for the newest sets (see `Freshness::Newest`). Falls back to
/// [`full`] when the newest complete cached set is gone: the cache is then no guide.
pub(super) async fn newest(repo: &Repository, old: IndexFile) -> Result<IndexFile, RepoError> {
    let now = Utc::now();
    let parsed: Vec<(SetId, &CachedSet)> = old
        .sets
        .iter()
        .filter_map(|s| Some((SetId::parse(&s.id).ok()?, s)))
        .collect();
    // A forged far-future folder must not hide every later set behind its name.
    let after = parsed
        .iter()
        .find(|(id, _)| !dated_in_future(id.time(), now))
        .map(|(id, _)| id.to_string());
    // Newer sets dated up to now (and the tolerance): a new far-future set waits for a full
    // pass, as it can never be the newest set.
    let upto = (now + FUTURE_TOLERANCE)
        .format("%Y%m%dT%H%M%SZ~")
        .to_string();
    let mut again: Vec<SetId> = parsed
        .iter()
        .filter(|(id, s)| s.manifest.is_none() || dated_in_future(id.time(), now))
        .map(|(id, _)| id.clone())
        .collect();
    let newest_complete = parsed
        .iter()
        .find(|(id, s)| s.manifest.is_some() && !dated_in_future(id.time(), now))
        .map(|(id, _)| layout::manifest_path(id));
    let still_there = async {
        match &newest_complete {
            Some(path) => repo.exists(path).await,
            None => Ok(true),
        }
    };
    let (new, drills, pins, still_there) = tokio::join!(
        repo.list_dirs_between(SETS_DIR, after.as_deref(), Some(&upto)),
        repo.list_flat(DRILLS_DIR),
        repo.list_flat(PINS_DIR),
        still_there
    );
    if !still_there? {
        return full(repo, Some(old), None).await;
    }
    again.extend(new?.iter().filter_map(|n| SetId::parse(n).ok()));
    again.sort();
    again.dedup();
    let fresh = read_folders(repo, &again).await?;
    let mut sets: BTreeMap<String, CachedSet> =
        old.sets.iter().map(|s| (s.id.clone(), s.clone())).collect();
    for (id, set) in again.iter().zip(fresh) {
        match set {
            Some(set) => sets.insert(id.to_string(), set),
            None => sets.remove(id.as_str()),
        };
    }
    Ok(IndexFile {
        format: FORMAT,
        identity: repo.identity().to_string(),
        sets: sets.into_values().rev().collect(),
        drills: read_drills(repo, &old.drills, &drills?).await,
        pins: pins?.iter().map(CachedObject::of).collect(),
        strays: old.strays,
    })
}

/// Each set folder of `ids` listed and its manifest read; None for a folder that is gone.
async fn read_folders(
    repo: &Repository,
    ids: &[SetId],
) -> Result<Vec<Option<CachedSet>>, RepoError> {
    let reads = ids.iter().cloned().map(|id| async move {
        let id = &id;
        let objects = repo.list_flat(&layout::set_dir(id)).await?;
        if objects.is_empty() {
            return Ok(None);
        }
        let read = match objects.iter().find(|o| is_manifest(&o.path)) {
            Some(m) => Some(read_manifest(repo, id, m.size).await?),
            None => None,
        };
        Ok::<_, RepoError>(Some(cached_set(id, &objects, read)))
    });
    let folders: Vec<Result<Option<CachedSet>, RepoError>> = futures::stream::iter(reads)
        .buffered(READS_IN_FLIGHT)
        .collect()
        .await;
    folders.into_iter().collect()
}
