//! The manifest index: what a remote repository holds (the `Inventory`: sets with their parsed
//! manifests, drill records, pins), kept on this host between runs so that a load at S3
//! latency reads only what is new or changed. `list`, `inventory`, `status`, prune's planning
//! and the console read remote repositories through it; a local repository is a directory
//! walk (half a second for 10,000 sets) and is scanned directly, with no copy to keep coherent.
//!
//! Data flows: cache file (`cache`) -> [`Freshness`] pass against the repository (`refresh`)
//! -> `Inventory` + drill records -> the caller; the refreshed copy is written back.
//! Nothing acts on the cache alone: a pass that must be right (prune, `inventory`) lists every
//! object and only skips reading manifests whose object is unchanged (size and time).

pub mod cache;
mod refresh;

use super::drill_record::DrillRecord;
use super::inventory::{self, Inventory, SetEntry};
use crate::storage::journal::DrillSummary;
use crate::storage::layout;
use crate::storage::manifest::RepositoryRole;
use crate::storage::paths::LocalPaths;
use crate::storage::repository::{RepoError, Repository};
use crate::storage::setid::SetId;
use cache::{CachedSet, IndexFile};
use std::path::PathBuf;

/// Manifest and drill-record reads in flight. 10,000 manifests at 50 ms a request take 16 s
/// at 32 in flight and 8 s at 64; every S3 service serves far more than 64 at once.
pub const READS_IN_FLIGHT: usize = 64;

/// How much of the repository a load asks before it answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Freshness {
    /// The cache alone, no request (a full pass when there is no cache).
    Cached,
    /// The cache, plus the set folders newer than the newest cached one (one start-after
    /// listing), the cached incomplete and future-dated sets listed again, the drill records
    /// and pins listed, and the newest complete set's manifest checked to be still there. An
    /// older set deleted or rewritten by another host is not seen until a full pass. What
    /// `status` needs: the newest sets, the newest drill.
    Newest,
    /// Every object listed; manifests and drill records read only when new or changed.
    Full,
}

/// Progress of a cold load: manifests read of set folders found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoadProgress {
    pub loaded: usize,
    pub total: usize,
}

/// Called while a cold load runs (about 4 times a second) with the sets read so far.
pub type OnProgress<'a> = &'a (dyn Fn(&Inventory, LoadProgress) + Send + Sync);

/// What a load gives: the inventory and the drill records it names.
#[derive(Debug, Clone)]
pub struct Indexed {
    pub inventory: Inventory,
    /// Readable drill records, newest first.
    pub drills: Vec<DrillRecord>,
    /// Drill records that could not be read or parsed, each named.
    pub drill_problems: Vec<String>,
    /// As `status::newest_drill` says it: the newest record not cancelled; none when a newer
    /// one cannot be read.
    pub newest_drill: Option<DrillSummary>,
}

/// The index file of `repo` on this host.
pub fn cache_path(repo: &Repository, paths: &LocalPaths) -> PathBuf {
    cache::path_for(&paths.index(), repo.identity())
}

/// The cached view of a remote repository, without a request; None for a local repository,
/// or when there is no usable cache.
pub fn cached(repo: &Repository, paths: &LocalPaths) -> Option<Indexed> {
    if repo.is_local() {
        return None;
    }
    read_cache(repo, paths).map(|file| indexed(&file, repo.url()))
}

/// Loads what `repo` holds, as fresh as `freshness` asks, and keeps the result for next time.
/// `on_progress` hears how a cold load goes.
pub async fn load(
    repo: &Repository,
    paths: &LocalPaths,
    freshness: Freshness,
    on_progress: Option<OnProgress<'_>>,
) -> Result<Indexed, RepoError> {
    if repo.is_local() {
        let inventory = inventory::scan(repo).await?;
        let newest_drill = super::status::newest_drill(repo, &inventory).await;
        let (drills, drill_problems) = super::drill_record::load_listed(repo, &inventory).await;
        return Ok(Indexed {
            inventory,
            drills,
            drill_problems,
            newest_drill,
        });
    }
    load_at(repo, &cache_path(repo, paths), freshness, on_progress).await
}

/// [`load`] with the index file at `path`, whatever the repository's kind (unit tests use a
/// local one).
pub(crate) async fn load_at(
    repo: &Repository,
    path: &std::path::Path,
    freshness: Freshness,
    on_progress: Option<OnProgress<'_>>,
) -> Result<Indexed, RepoError> {
    let old = read_cache_at(repo, path);
    let file = match (freshness, old) {
        (Freshness::Cached, Some(old)) => return Ok(indexed(&old, repo.url())),
        (Freshness::Newest, Some(old)) => refresh::newest(repo, old).await?,
        (_, old) => refresh::full(repo, old, on_progress).await?,
    };
    if let Err(e) = cache::save(path, &file) {
        tracing::warn!("{e}");
    }
    Ok(indexed(&file, repo.url()))
}

fn read_cache(repo: &Repository, paths: &LocalPaths) -> Option<IndexFile> {
    read_cache_at(repo, &cache_path(repo, paths))
}

fn read_cache_at(repo: &Repository, path: &std::path::Path) -> Option<IndexFile> {
    match cache::load(path, repo.identity()) {
        Ok(file) => file,
        Err(e) => {
            tracing::warn!("{e}");
            None
        }
    }
}

/// The inventory and drill records an index file holds.
pub fn indexed(file: &IndexFile, url: &str) -> Indexed {
    let inventory = to_inventory(file, url);
    let mut drills = Vec::new();
    let mut drill_problems = Vec::new();
    for record in &file.drills {
        match parse_record(record) {
            Ok(r) => drills.push(r),
            Err(e) => drill_problems.push(e),
        }
    }
    drills.sort_by_key(|r| std::cmp::Reverse(r.started_at));
    Indexed {
        inventory,
        drills,
        drill_problems,
        newest_drill: newest_drill(file, url),
    }
}

fn parse_record(record: &cache::CachedRecord) -> Result<DrillRecord, String> {
    match (&record.body, &record.error) {
        (Some(body), _) => {
            DrillRecord::parse(body.as_bytes()).map_err(|e| format!("{}: {e}", record.object.path))
        }
        (None, Some(e)) => Err(e.clone()),
        (None, None) => Err(format!("{}: not read", record.object.path)),
    }
}

/// `status::newest_drill` over the cached records: newest path first, cancelled ones skipped,
/// none when a newer record cannot be read.
fn newest_drill(file: &IndexFile, url: &str) -> Option<DrillSummary> {
    let mut records: Vec<&cache::CachedRecord> = file.drills.iter().collect();
    records.sort_unstable_by(|a, b| b.object.path.cmp(&a.object.path));
    for record in records {
        let r = parse_record(record).ok()?;
        if r.cancelled {
            continue;
        }
        return Some(DrillSummary {
            rpo_seconds: Some(r.rpo_seconds()),
            drill_id: r.drill_id,
            set_id: r.set_id.to_string(),
            at: r.started_at,
            passed: r.passed,
            rto_seconds: r.rto_seconds,
            repository: url.to_string(),
        });
    }
    None
}

fn to_inventory(file: &IndexFile, url: &str) -> Inventory {
    Inventory {
        repository: url.to_string(),
        sets: file.sets.iter().filter_map(to_entry).collect(),
        strays: file.strays.iter().map(|o| o.info()).collect(),
        drills: file.drills.iter().map(|r| r.object.info()).collect(),
        pins: file.pins.iter().map(|o| o.info()).collect(),
    }
}

/// A cached set as `inventory::scan` would have listed it, the missing objects included.
pub(crate) fn to_entry(set: &CachedSet) -> Option<SetEntry> {
    let id = SetId::parse(&set.id).ok()?;
    let objects: Vec<_> = set.objects.iter().map(|o| o.info()).collect();
    let missing = match &set.manifest {
        Some(m) => m
            .components
            .iter()
            .filter(|c| c.repository == RepositoryRole::Data)
            .filter(|c| {
                let path = layout::object_path(&id, &c.object);
                !objects.iter().any(|o| o.path == path)
            })
            .map(|c| c.object.clone())
            .collect(),
        None => Vec::new(),
    };
    Some(SetEntry {
        id,
        objects,
        manifest: set.manifest.clone(),
        manifest_error: set.manifest_error.clone(),
        missing,
    })
}

#[cfg(test)]
mod tests;
