//! The dashboard's first look at a repository, while the full listing runs, in two steps.
//! First the newest sets alone: their folders listed by the date their ids start with (today,
//! this month, the month before, this year, the year before: on S3 one listing of a few
//! folders, where `sets/` is every folder) and their manifests read with one GET each. Then
//! the set folder names (one listing of `sets/`, not of every object in every set) for the
//! oldest set and the count. With 10,000 sets that is a handful of reads instead of 40,000
//! listed objects and 10,000 manifests.
//!
//! The verdict is `status::evaluate`'s over a partial inventory that holds exactly the sets
//! it depends on, so the newest set, its verification, the last run and the last drill come
//! out as the full load gives them. It is preliminary all the same: every alert it raises, the
//! full load raises too, but the full load may raise more (the WAL archiver, a folder deeper
//! down that cannot be read, a drill or verification clock started by a set that finished out
//! of order or, in the first step, by an older set than the newest), and the set counts and
//! sizes are not known. The console says so until the full load replaces it; `lifeboat status`
//! never uses it.

use super::inventory::{Inventory, SetEntry};
use super::status::{self, StatusReport, StatusSpec};
use crate::storage::journal::{DrillSummary, JournalView, RunStatus};
use crate::storage::layout::{self, DRILLS_DIR, SETS_DIR};
use crate::storage::manifest::{Manifest, MANIFEST_MAX_BYTES};
use crate::storage::repository::{RepoError, Repository};
use crate::storage::setid::{SetId, FUTURE_TOLERANCE};
use chrono::{DateTime, Datelike, Utc};
use std::collections::BTreeMap;

/// Manifests read at most: a repository whose newest (or oldest) folders are mostly incomplete
/// gets no preview rather than a slow one; the full load still comes.
pub const MAX_MANIFEST_READS: usize = 64;

/// Manifests the first step reads at most (one request each, in turn): past that it gives way
/// to the second.
pub const FIRST_LOOK_READS: usize = 8;

#[derive(Debug, Clone)]
pub struct StatusPreview {
    /// The verdict so far. `complete_sets`, `incomplete_sets` and `repository_bytes` are not
    /// known (zero), and no incomplete-folder message is given.
    pub status: StatusReport,
    /// Set folders in the repository, complete or not; None before `sets/` is listed (the
    /// first step).
    pub set_folders: Option<usize>,
    /// Manifests read to get here.
    pub manifests_read: usize,
}

/// The sets whose manifests were read: Some(manifest) for a complete one.
struct Reader<'a> {
    repo: &'a Repository,
    read: BTreeMap<SetId, Option<Manifest>>,
    /// Manifests this reader may read in all.
    budget: usize,
}

impl<'a> Reader<'a> {
    fn new(repo: &'a Repository, budget: usize) -> Reader<'a> {
        Reader {
            repo,
            read: BTreeMap::new(),
            budget,
        }
    }

    /// Is `id` complete, as `inventory::scan` would say: its manifest is there and parses.
    /// None when the read budget is spent. One request: a missing folder reads as incomplete.
    async fn complete(&mut self, id: &SetId) -> Result<Option<bool>, RepoError> {
        if let Some(m) = self.read.get(id) {
            return Ok(Some(m.is_some()));
        }
        if self.read.len() >= self.budget {
            return Ok(None);
        }
        let manifest = match self
            .repo
            .get_small_once(&layout::manifest_path(id), MANIFEST_MAX_BYTES as u64)
            .await
        {
            Ok(bytes) => Manifest::parse(id.as_str(), &bytes).ok(),
            // No manifest (yet), or one that is not ours: an incomplete set, as in the scan.
            Err(e) if e.is_not_found() => None,
            Err(RepoError::TooLarge { .. }) => None,
            Err(e) => return Err(e),
        };
        let complete = manifest.is_some();
        self.read.insert(id.clone(), manifest);
        Ok(Some(complete))
    }

    /// The first set of `ids`, in their order, that can be "latest" as of `now`: complete, a
    /// regular backup, not dated in the future (`SetEntry::can_be_latest`). The safety and
    /// future-dated sets read on the way stay in `read`, so the preview shows them too.
    async fn first_latest<'i>(
        &mut self,
        ids: impl Iterator<Item = &'i SetId>,
        now: DateTime<Utc>,
    ) -> Result<Option<Option<&'i SetId>>, RepoError> {
        for id in ids {
            match self.complete(id).await? {
                None => return Ok(None),
                Some(true) => {
                    let entry = SetEntry {
                        id: id.clone(),
                        objects: Vec::new(),
                        manifest: self.read.get(id).cloned().flatten(),
                        manifest_error: None,
                        missing: Vec::new(),
                    };
                    if entry.can_be_latest(now) {
                        return Ok(Some(Some(id)));
                    }
                }
                Some(false) => {}
            }
        }
        Ok(Some(None))
    }

    /// The first complete set of `ids`, in their order.
    async fn first_complete<'i>(
        &mut self,
        ids: impl Iterator<Item = &'i SetId>,
    ) -> Result<Option<Option<&'i SetId>>, RepoError> {
        for id in ids {
            match self.complete(id).await? {
                None => return Ok(None),
                Some(true) => return Ok(Some(Some(id))),
                Some(false) => {}
            }
        }
        Ok(Some(None))
    }
}

/// Hears the first step's preview while `sets/` is still being listed.
pub type OnFirstLook<'a> = &'a (dyn Fn(StatusPreview) + Send + Sync);

/// The preliminary verdict, or None when it would take more than `MAX_MANIFEST_READS` reads.
/// With `first`, the newest sets' verdict (the first step) is told as soon as it is known,
/// while `sets/` is listed for the second. Fails when the repository cannot be read: the full
/// load then says why.
pub async fn preview(
    spec: &StatusSpec,
    repo: &Repository,
    journal: &JournalView,
    spooled_sets: Vec<String>,
    first: Option<OnFirstLook<'_>>,
) -> Result<Option<StatusPreview>, RepoError> {
    let look = async {
        let mut reader = Reader::new(repo, FIRST_LOOK_READS);
        if let Some(first) = first {
            // A first look that fails or gives up is no error: the second step decides.
            if let Ok(Some(partial)) = newest_first(spec, repo, journal, &mut reader).await {
                first(previewed(spec, journal, spooled_sets.clone(), partial));
            }
        }
        reader
    };
    // Both at once: on S3 the listing of every folder is the slow request.
    let (names, mut reader) = tokio::join!(repo.list_dirs(SETS_DIR), look);
    reader.budget = MAX_MANIFEST_READS;
    let partial = from_listing(spec, repo, journal, &mut reader, names?).await?;
    Ok(partial.map(|p| previewed(spec, journal, spooled_sets, p)))
}

/// The dashboard's report from a partial inventory: counts and sizes unknown.
fn previewed(
    spec: &StatusSpec,
    journal: &JournalView,
    spooled_sets: Vec<String>,
    partial: PartialInventory,
) -> StatusPreview {
    let mut report = status::evaluate(
        spec,
        Ok(&partial.inventory),
        journal,
        spooled_sets,
        partial.drill,
    );
    report.complete_sets = 0;
    report.incomplete_sets = 0;
    report.repository_bytes = 0;
    StatusPreview {
        status: report,
        set_folders: partial.set_folders,
        manifests_read: partial.manifests_read,
    }
}

/// What the preview's verdict is computed from.
pub struct PartialInventory {
    /// The complete sets whose manifests were read (the newest's objects listed), and every
    /// drill record; no incomplete sets, strays or pins.
    pub inventory: Inventory,
    /// The newest drill record, read as `status::newest_drill` reads it.
    pub drill: Option<DrillSummary>,
    /// None from the first step, which lists only the newest folders.
    pub set_folders: Option<usize>,
    pub manifests_read: usize,
}

/// The second step alone: the sets the verdict depends on, from the listing of every set
/// folder.
pub async fn partial_inventory(
    spec: &StatusSpec,
    repo: &Repository,
    journal: &JournalView,
) -> Result<Option<PartialInventory>, RepoError> {
    let names = repo.list_dirs(SETS_DIR).await?;
    let mut reader = Reader::new(repo, MAX_MANIFEST_READS);
    from_listing(spec, repo, journal, &mut reader, names).await
}

/// The first step alone: the newest sets, without listing every set folder; None when no
/// complete set is dated in the last two calendar years (up to now), or when it would take
/// more than [`FIRST_LOOK_READS`] reads.
pub async fn first_look(
    spec: &StatusSpec,
    repo: &Repository,
    journal: &JournalView,
) -> Result<Option<PartialInventory>, RepoError> {
    let mut reader = Reader::new(repo, FIRST_LOOK_READS);
    newest_first(spec, repo, journal, &mut reader).await
}

/// The id prefixes the first step lists, in turn, each with the last id it may give (now and
/// the tolerance for the current ones): today, this month, the month before, this year, the
/// year before. Set ids start with their UTC time, so each is one listing of the folders of
/// that day, month or year.
fn recent_windows(now: DateTime<Utc>) -> Vec<(String, String)> {
    let upto = (now + FUTURE_TOLERANCE)
        .format("%Y%m%dT%H%M%SZ~")
        .to_string();
    let whole = |prefix: String| {
        let end = format!("{prefix}~");
        (prefix, end)
    };
    let month_before = now
        .date_naive()
        .with_day(1)
        .and_then(|d| d.pred_opt())
        .map(|d| d.format("%Y%m").to_string());
    let mut windows = vec![
        (now.format("%Y%m%d").to_string(), upto.clone()),
        (now.format("%Y%m").to_string(), upto.clone()),
    ];
    windows.extend(month_before.map(whole));
    windows.push((now.format("%Y").to_string(), upto));
    windows.push(whole(format!("{:04}", now.year() - 1)));
    windows
}

/// The first step: the newest set that can be latest, found window by window, then the sets
/// whose completeness the verdict asks about (a verification's, a failed run's), read straight
/// away (a missing folder reads as incomplete).
async fn newest_first(
    spec: &StatusSpec,
    repo: &Repository,
    journal: &JournalView,
    reader: &mut Reader<'_>,
) -> Result<Option<PartialInventory>, RepoError> {
    let now = Utc::now();
    let mut newest = None;
    for (prefix, upto) in recent_windows(now) {
        let mut ids: Vec<SetId> = repo
            .list_dirs_between(SETS_DIR, Some(&prefix), Some(&upto))
            .await?
            .iter()
            .filter_map(|name| SetId::parse(name).ok())
            .collect();
        ids.sort();
        match reader.first_latest(ids.iter().rev(), now).await? {
            None => return Ok(None),
            Some(Some(id)) => {
                newest = Some(id.clone());
                break;
            }
            Some(None) => {}
        }
    }
    let Some(newest) = newest else {
        return Ok(None);
    };
    if journal.latest_verification(newest.as_str()).is_none() {
        let candidates: Vec<SetId> = verifications_newest_first(journal)
            .filter_map(|set_id| SetId::parse(set_id).ok())
            .collect();
        if reader.first_complete(candidates.iter()).await?.is_none() {
            return Ok(None);
        }
    }
    if let Some(id) = failed_run_set(spec, journal) {
        if reader.complete(&id).await?.is_none() {
            return Ok(None);
        }
    }
    finish(repo, reader, now, None).await.map(Some)
}

/// The set ids of the journal's verifications, latest first, ties to the later journal line.
fn verifications_newest_first(journal: &JournalView) -> impl Iterator<Item = &str> {
    let mut by_time: Vec<_> = journal.verifications.iter().enumerate().collect();
    by_time.sort_by_key(|(i, v)| std::cmp::Reverse((v.at, *i)));
    by_time.into_iter().map(|(_, v)| v.set_id.as_str())
}

/// The set of the last backup run when that run failed after spooling it: the verdict asks
/// whether it was uploaded later.
fn failed_run_set(spec: &StatusSpec, journal: &JournalView) -> Option<SetId> {
    let run = status::last_backup_run(journal, &spec.repository.url)?;
    let spooled_set = run.spooled_at.as_ref().and(run.set_id.as_ref());
    match (&run.status, spooled_set) {
        (RunStatus::Failed, Some(id)) => SetId::parse(id).ok(),
        _ => None,
    }
}

/// The second step, from the names of every set folder: the newest complete set, the oldest
/// complete one, the newest verified complete one when the newest has no verification, and
/// the set of a failed run whose upload may have happened later.
async fn from_listing(
    spec: &StatusSpec,
    repo: &Repository,
    journal: &JournalView,
    reader: &mut Reader<'_>,
    names: Vec<String>,
) -> Result<Option<PartialInventory>, RepoError> {
    let mut ids: Vec<SetId> = names
        .iter()
        .filter_map(|name| SetId::parse(name).ok())
        .collect();
    ids.sort();
    // The newest complete set, and the oldest (its finish starts the drill and verification
    // clocks before the first drill or verification).
    let now = Utc::now();
    let Some(newest) = reader.first_latest(ids.iter().rev(), now).await? else {
        return Ok(None);
    };
    if let Some(newest) = newest {
        if reader.first_complete(ids.iter()).await?.is_none() {
            return Ok(None);
        }
        // Without a verification of the newest set, the dashboard shows the latest one of
        // any complete set: the latest whose set is complete, ties to the later journal line.
        if journal.latest_verification(newest.as_str()).is_none() {
            // A set with no folder is not complete: no read needed.
            let candidates = verifications_newest_first(journal).filter_map(|set_id| {
                let id = SetId::parse(set_id).ok()?;
                let pos = ids.binary_search(&id).ok()?;
                Some(&ids[pos])
            });
            if reader.first_complete(candidates).await?.is_none() {
                return Ok(None);
            }
        }
    }
    // A failed run whose set was uploaded later is no failure: is that set complete?
    if let Some(id) = failed_run_set(spec, journal) {
        if ids.binary_search(&id).is_ok() && reader.complete(&id).await?.is_none() {
            return Ok(None);
        }
    }
    finish(repo, reader, now, Some(ids.len())).await.map(Some)
}

/// The partial inventory of what `reader` read: its complete sets (the newest one's objects
/// listed, for its stored size) and the drill records.
async fn finish(
    repo: &Repository,
    reader: &Reader<'_>,
    now: DateTime<Utc>,
    set_folders: Option<usize>,
) -> Result<PartialInventory, RepoError> {
    let manifests_read = reader.read.len();
    let mut sets: Vec<SetEntry> = reader
        .read
        .iter()
        .rev()
        .filter_map(|(id, manifest)| {
            Some(SetEntry {
                id: id.clone(),
                objects: Vec::new(),
                manifest: Some(manifest.clone()?),
                manifest_error: None,
                missing: Vec::new(),
            })
        })
        .collect();
    // The newest set's stored size: its folder's objects (a delimited listing: on s3s-fs a
    // recursive one walks the whole bucket, whatever the prefix).
    let newest = sets.iter_mut().find(|e| e.can_be_latest(now));
    let folder = async {
        match newest {
            Some(entry) => {
                entry.objects = repo.list_flat(&layout::set_dir(&entry.id)).await?;
                Ok(())
            }
            None => Ok(()),
        }
    };
    let (folder, drills) = tokio::join!(folder, repo.list_flat(DRILLS_DIR));
    folder?;
    let inventory = Inventory {
        repository: repo.url().to_string(),
        sets,
        strays: Vec::new(),
        drills: drills?,
        pins: Vec::new(),
    };
    let drill = status::newest_drill(repo, &inventory).await;
    Ok(PartialInventory {
        inventory,
        drill,
        set_folders,
        manifests_read,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::jobs::drill_record::DrillRecord;
    use crate::jobs::inventory;
    use crate::jobs::status::Health;
    use crate::storage::journal::{RunKind, RunRecord, VerificationRecord, VerifyLevel};
    use crate::storage::manifest::Initiator;
    use crate::storage::paths::LocalPaths;
    use crate::storage::repository::RepositorySpec;
    use chrono::{DateTime, Duration as Span, TimeZone, Utc};
    use rand::rngs::StdRng;
    use rand::{Rng, SeedableRng};
    use std::path::Path;
    use std::time::Duration;

    fn now() -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2026, 11, 22, 12, 0, 0).unwrap()
    }

    #[derive(Debug, Clone, Copy, PartialEq)]
    enum Folder {
        Complete,
        NoManifest,
        Corrupt,
        WrongSet,
        Empty,
    }

    fn set_id(at: DateTime<Utc>, n: usize) -> String {
        format!("{}-{n:04x}", at.format("%Y%m%dT%H%M%SZ"))
    }

    fn write(root: &Path, path: &str, bytes: &[u8]) {
        let file = root.join(path);
        std::fs::create_dir_all(file.parent().unwrap()).unwrap();
        std::fs::write(file, bytes).unwrap();
    }

    fn write_set(root: &Path, id: &str, folder: Folder, finished: DateTime<Utc>, size: usize) {
        std::fs::create_dir_all(root.join("sets").join(id)).unwrap();
        if folder == Folder::Empty {
            return;
        }
        write(
            root,
            &format!("sets/{id}/db.dump.zst.gpg"),
            &vec![b'x'; size],
        );
        let mut m = crate::storage::manifest::tests::sample(id);
        m.started_at = finished - Span::minutes(3);
        m.snapshot_time = m.started_at;
        m.finished_at = finished;
        let bytes = match folder {
            Folder::Complete => m.to_json(),
            Folder::Corrupt => m.to_json()[..40].to_vec(),
            Folder::WrongSet => {
                m.set_id = "20200101T000000Z-ffff".parse().unwrap();
                m.to_json()
            }
            Folder::NoManifest | Folder::Empty => return,
        };
        write(root, &format!("sets/{id}/manifest.json"), &bytes);
    }

    fn drill_record(drill_id: &str, set_id: &str, at: DateTime<Utc>, passed: bool) -> Vec<u8> {
        DrillRecord {
            format: crate::jobs::drill_record::DRILL_FORMAT,
            kind: Default::default(),
            rehearsal: false,
            drill_id: drill_id.into(),
            set_id: set_id.parse().unwrap(),
            set_snapshot_time: at - Span::hours(5),
            started_at: at,
            finished_at: at + Span::minutes(20),
            host: "db1".into(),
            initiator: "cli".into(),
            lifeboat_version: "0.1.0".into(),
            pg_restore_version: "17".into(),
            target: "scratch".into(),
            phases: Vec::new(),
            checks: Vec::new(),
            manual: Vec::new(),
            rto_seconds: Some(600.0),
            rpo_data_seconds: None,
            newest_data: None,
            rpo_snapshot_seconds: 18_000.0,
            restored_bytes: 0,
            rto_target_seconds: 3600.0,
            rpo_target_seconds: 86_400.0,
            passed,
            reasons: Vec::new(),
            cancelled: false,
            freshness_query: None,
        }
        .to_json()
    }

    fn spec(root: &Path, local: &Path, drill_every: Duration) -> StatusSpec {
        StatusSpec {
            repository: RepositorySpec::new(root.to_string_lossy()),
            paths: LocalPaths::under(local),
            spool_dir: None,
            stale_after: status::DEFAULT_STALE_AFTER,
            drill_every,
            verify_stale_after: status::DEFAULT_VERIFY_STALE_AFTER,
            wal: None,
        }
    }

    /// The verdict from the full scan and from the preview's partial inventory, as of `now()`.
    async fn both(
        spec: &StatusSpec,
        journal: &JournalView,
        spooled: &[String],
    ) -> (StatusReport, StatusReport) {
        let repo = Repository::open(&spec.repository).unwrap();
        let full = inventory::scan(&repo).await.unwrap();
        let drill = status::newest_drill(&repo, &full).await;
        let full = status::evaluate_at(
            spec,
            Ok(&full),
            journal,
            spooled.to_vec(),
            drill,
            None,
            now(),
        );
        let partial = partial_inventory(spec, &repo, journal)
            .await
            .unwrap()
            .expect("a preview within the read budget");
        let preview = status::evaluate_at(
            spec,
            Ok(&partial.inventory),
            journal,
            spooled.to_vec(),
            partial.drill,
            None,
            now(),
        );
        (full, preview)
    }

    /// A report as the preliminary dashboard shows it: without the counts and sizes (and the
    /// incomplete-folder message) the preview does not know.
    fn shown(report: &StatusReport) -> serde_json::Value {
        let mut v = serde_json::to_value(report).unwrap();
        let map = v.as_object_mut().unwrap();
        for unknown in ["complete_sets", "incomplete_sets", "repository_bytes"] {
            map.remove(unknown);
        }
        let messages: Vec<&String> = report
            .messages
            .iter()
            .filter(|m| !m.contains("incomplete set folder"))
            .collect();
        map.insert("messages".into(), serde_json::to_value(messages).unwrap());
        v
    }

    /// Random repositories and journals: complete, incomplete, corrupt, misnamed and empty set
    /// folders; runs (failed ones spooled, their sets uploaded later or not), verifications of
    /// present and pruned sets with equal times, drills in the repository (some unreadable) and
    /// in the journal. Where sets finish in the order they start, the preview shows exactly
    /// what the full load shows; where one finishes out of order, every alert it raises is
    /// one the full load raises.
    #[tokio::test]
    async fn the_preview_agrees_with_the_full_scan() {
        let seed = 0x5eed_2026_u64;
        eprintln!("seed {seed:#x}");
        let mut rng = StdRng::seed_from_u64(seed);
        let (mut exact, mut sound) = (0, 0);
        for case in 0..120 {
            let dir = tempfile::tempdir().unwrap();
            let root = dir.path().join("repo");
            std::fs::create_dir_all(&root).unwrap();
            let drill_every = if rng.random_bool(0.5) { 1 } else { 30 };
            let spec = spec(
                &root,
                &dir.path().join("local"),
                Duration::from_secs(drill_every * 86_400),
            );
            let url = spec.repository.url.clone();
            let mut at = now() - Span::hours(rng.random_range(24..24 * 20));
            let mut ids = Vec::new();
            let mut in_order = true;
            for n in 0..rng.random_range(0..8) {
                at += Span::hours(rng.random_range(1..60));
                if at > now() {
                    break;
                }
                let id = set_id(at, n);
                let folder = match rng.random_range(0..8) {
                    0 => Folder::NoManifest,
                    1 => Folder::Corrupt,
                    2 => Folder::WrongSet,
                    3 => Folder::Empty,
                    _ => Folder::Complete,
                };
                let mut finished = at + Span::minutes(rng.random_range(1..30));
                if rng.random_bool(0.1) {
                    // A run that finished long after later ones started.
                    finished += Span::days(rng.random_range(2..10));
                    in_order = false;
                }
                write_set(&root, &id, folder, finished, rng.random_range(1..5000));
                ids.push(id);
            }
            let mut names = ids.clone();
            names.push(set_id(now() - Span::days(40), 0xdead)); // pruned long ago
            let pick = |rng: &mut StdRng| names[rng.random_range(0..names.len())].clone();
            let time = |rng: &mut StdRng| now() - Span::hours(rng.random_range(0..4) * 50);
            let mut journal = JournalView::default();
            for r in 0..rng.random_range(0..4) {
                let failed = rng.random_bool(0.5);
                journal.runs.push(RunRecord {
                    run_id: format!("run-{r}"),
                    kind: if rng.random_bool(0.9) {
                        RunKind::Backup
                    } else {
                        RunKind::Prune
                    },
                    status: if failed {
                        RunStatus::Failed
                    } else {
                        RunStatus::Completed
                    },
                    initiator: Initiator::Schedule,
                    host: "db1".into(),
                    pid: 1,
                    process_start: None,
                    started_at: time(&mut rng) + Span::minutes(r),
                    finished_at: None,
                    set_id: rng.random_bool(0.8).then(|| pick(&mut rng)),
                    bytes: None,
                    destination: if rng.random_bool(0.9) {
                        url.clone()
                    } else {
                        "s3://elsewhere/app".into()
                    },
                    sha256: None,
                    error: failed.then(|| "upload failed".into()),
                    spooled_at: (failed && rng.random_bool(0.7)).then(|| "/spool".into()),
                    purpose: None,
                    restore: None,
                });
            }
            for _ in 0..rng.random_range(0..5) {
                journal.verifications.push(VerificationRecord {
                    set_id: pick(&mut rng),
                    at: time(&mut rng),
                    level: VerifyLevel::Stored,
                    ok: rng.random_bool(0.8),
                    repository: url.clone(),
                    problems: Vec::new(),
                    initiator: None,
                });
            }
            if rng.random_bool(0.3) {
                journal.drills.push(DrillSummary {
                    drill_id: "journal-drill".into(),
                    set_id: pick(&mut rng),
                    at: time(&mut rng),
                    passed: rng.random_bool(0.7),
                    rto_seconds: Some(60.0),
                    rpo_seconds: Some(60.0),
                    repository: url.clone(),
                });
            }
            for d in 0..rng.random_range(0..3) {
                let when = time(&mut rng);
                let path = format!("drills/{}-d{d}.json", when.format("%Y%m%dT%H%M%SZ"));
                let body = if rng.random_bool(0.8) {
                    drill_record(
                        &format!("d{d}"),
                        &pick(&mut rng),
                        when,
                        rng.random_bool(0.7),
                    )
                } else {
                    b"{not a drill".to_vec()
                };
                write(&root, &path, &body);
            }
            let spooled = if rng.random_bool(0.2) {
                vec![set_id(now(), 0xbeef)]
            } else {
                Vec::new()
            };
            let (full, preview) = both(&spec, &journal, &spooled).await;
            let context = format!(
                "case {case} (seed {seed:#x}), sets {ids:?}, journal {journal:#?}\nfull {:#}\npreview {:#}",
                shown(&full),
                shown(&preview)
            );
            assert!(
                preview.alerts.iter().all(|a| full.alerts.contains(a)),
                "the preview raised an alert the full load does not: {context}"
            );
            if in_order {
                assert_eq!(shown(&preview), shown(&full), "{context}");
                exact += 1;
            } else {
                sound += 1;
            }
        }
        eprintln!("{exact} cases compared exactly, {sound} for sound alerts only");
        assert!(exact > 60 && sound > 5, "{exact} exact, {sound} sound");
    }

    /// The one place the preview can know less: before the first drill, the drill clock starts
    /// at the earliest finish of any complete set, and the preview reads only the oldest and
    /// the newest. It then misses the alert; it never invents one.
    #[tokio::test]
    async fn a_set_that_finished_out_of_order_can_only_hide_an_alert() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        let spec = spec(
            &root,
            &dir.path().join("local"),
            Duration::from_secs(7 * 86_400),
        );
        let (a, b, c) = (
            now() - Span::days(20),
            now() - Span::days(19),
            now() - Span::hours(3),
        );
        // The oldest set ran for 19 days; the middle one finished first.
        write_set(
            &root,
            &set_id(a, 1),
            Folder::Complete,
            now() - Span::days(1),
            10,
        );
        write_set(
            &root,
            &set_id(b, 2),
            Folder::Complete,
            b + Span::minutes(5),
            10,
        );
        write_set(
            &root,
            &set_id(c, 3),
            Folder::Complete,
            c + Span::minutes(5),
            10,
        );
        let journal = JournalView {
            verifications: vec![VerificationRecord {
                set_id: set_id(c, 3),
                at: now() - Span::hours(1),
                level: VerifyLevel::Stored,
                ok: true,
                repository: spec.repository.url.clone(),
                problems: Vec::new(),
                initiator: None,
            }],
            ..Default::default()
        };
        let (full, preview) = both(&spec, &journal, &[]).await;
        assert_eq!(full.alerts, [Health::DrillOverdue], "{full:#?}");
        assert_eq!(preview.alerts, [], "{preview:#?}");
    }

    /// Without a verification of the newest set, the dashboard shows the latest verification
    /// of a complete set; of two at the same time, the later journal line, as the full load.
    #[tokio::test]
    async fn the_verification_shown_is_the_full_loads_even_on_a_tie() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        let spec = spec(
            &root,
            &dir.path().join("local"),
            Duration::from_secs(30 * 86_400),
        );
        let ids: Vec<String> = (0..4)
            .map(|n| set_id(now() - Span::hours(40 - 10 * n as i64), n))
            .collect();
        for (n, id) in ids.iter().enumerate() {
            let finished = SetId::parse(id).unwrap().time() + Span::minutes(5);
            let folder = if n == 2 {
                Folder::Corrupt
            } else {
                Folder::Complete
            };
            write_set(&root, id, folder, finished, 10);
        }
        let verification = |set: &str, hours: i64| VerificationRecord {
            set_id: set.into(),
            at: now() - Span::hours(hours),
            level: VerifyLevel::Stored,
            ok: true,
            repository: spec.repository.url.clone(),
            problems: Vec::new(),
            initiator: None,
        };
        let mut journal = JournalView {
            verifications: vec![
                verification(&ids[2], 1), // the newest, but its set is incomplete
                verification(&ids[0], 5),
                verification(&ids[1], 5),
                verification(&ids[0], 9),
            ],
            ..Default::default()
        };
        for _ in 0..2 {
            let (full, preview) = both(&spec, &journal, &[]).await;
            assert!(full.newest_verification.is_some(), "{full:#?}");
            assert_eq!(shown(&preview), shown(&full));
            journal.verifications.swap(1, 2);
        }
    }

    /// A failed run whose set is in the repository (uploaded later by `backup --resume`) is no
    /// failure, though its set is neither the newest nor the oldest.
    #[tokio::test]
    async fn a_failed_run_whose_set_was_uploaded_later_is_no_failure() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        let spec = spec(
            &root,
            &dir.path().join("local"),
            Duration::from_secs(30 * 86_400),
        );
        let ids: Vec<String> = (0..3)
            .map(|n| set_id(now() - Span::hours(30 - 10 * n as i64), n))
            .collect();
        for id in &ids {
            let finished = SetId::parse(id).unwrap().time() + Span::minutes(5);
            write_set(&root, id, Folder::Complete, finished, 10);
        }
        let run = RunRecord {
            run_id: "r".into(),
            kind: RunKind::Backup,
            status: RunStatus::Failed,
            initiator: Initiator::Schedule,
            host: "db1".into(),
            pid: 1,
            process_start: None,
            started_at: now() - Span::hours(1),
            finished_at: None,
            set_id: Some(ids[1].clone()),
            bytes: None,
            destination: spec.repository.url.clone(),
            sha256: None,
            error: Some("upload failed".into()),
            spooled_at: Some("/spool".into()),
            purpose: None,
            restore: None,
        };
        let journal = JournalView {
            runs: vec![run],
            ..Default::default()
        };
        let (full, preview) = both(&spec, &journal, &[]).await;
        assert!(
            !full.alerts.contains(&Health::LastRunFailed),
            "{:#?}",
            full.alerts
        );
        assert_eq!(shown(&preview), shown(&full));
        // Once the set is gone, the run's failure stands, in both.
        std::fs::remove_dir_all(root.join("sets").join(&ids[1])).unwrap();
        let (full, preview) = both(&spec, &journal, &[]).await;
        assert!(full.alerts.contains(&Health::LastRunFailed), "{full:#?}");
        assert_eq!(shown(&preview), shown(&full));
    }

    /// Incomplete folders cost one read each: past the budget there is no preview (the full
    /// load still comes), within it the newest complete set is found below them.
    #[tokio::test]
    async fn many_incomplete_newest_folders_give_no_preview() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        let spec = spec(
            &root,
            &dir.path().join("local"),
            Duration::from_secs(86_400),
        );
        let repo = Repository::open(&spec.repository).unwrap();
        let start = now() - Span::days(3);
        write_set(&root, &set_id(start, 0), Folder::Complete, start, 10);
        for n in 1..MAX_MANIFEST_READS {
            write_set(&root, &set_id(start, n), Folder::NoManifest, start, 10);
        }
        let journal = JournalView::default();
        let partial = partial_inventory(&spec, &repo, &journal).await.unwrap();
        let partial = partial.expect("the complete set is within the budget");
        assert_eq!(partial.set_folders, Some(MAX_MANIFEST_READS));
        assert_eq!(partial.manifests_read, MAX_MANIFEST_READS);
        let newest = partial.inventory.latest(now()).map(|s| s.id.to_string());
        assert_eq!(newest, Some(set_id(start, 0)));
        write_set(
            &root,
            &set_id(start, MAX_MANIFEST_READS),
            Folder::Corrupt,
            start,
            10,
        );
        let partial = partial_inventory(&spec, &repo, &journal).await.unwrap();
        assert!(
            partial.is_none(),
            "{} incomplete folders above the newest complete set",
            MAX_MANIFEST_READS
        );
    }

    /// A listing that fails is the full load's to report.
    #[tokio::test]
    async fn an_unreadable_sets_folder_fails_the_preview() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        write(&root, "sets", b"not a folder");
        let spec = spec(
            &root,
            &dir.path().join("local"),
            Duration::from_secs(86_400),
        );
        let repo = Repository::open(&spec.repository).unwrap();
        let journal = JournalView::default();
        assert!(preview(&spec, &repo, &journal, Vec::new(), None)
            .await
            .is_err());
    }

    /// The preview as the console gets it: the verdict, and no counts it cannot know.
    #[tokio::test]
    async fn the_preview_leaves_counts_and_sizes_unknown() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        let spec = spec(
            &root,
            &dir.path().join("local"),
            Duration::from_secs(86_400),
        );
        let newest = now() - Span::hours(2);
        write_set(
            &root,
            &set_id(newest - Span::days(1), 1),
            Folder::Complete,
            newest,
            7,
        );
        write_set(&root, &set_id(newest, 2), Folder::Complete, newest, 1234);
        write_set(
            &root,
            &set_id(newest + Span::hours(1), 3),
            Folder::NoManifest,
            newest,
            7,
        );
        let repo = Repository::open(&spec.repository).unwrap();
        let p = preview(&spec, &repo, &JournalView::default(), Vec::new(), None)
            .await
            .unwrap()
            .expect("a preview");
        assert_eq!(p.set_folders, Some(3));
        assert_eq!(
            p.manifests_read, 3,
            "the incomplete, the newest and the oldest"
        );
        let n = p.status.newest_set.as_ref().expect("the newest set");
        assert_eq!(n.set_id, set_id(newest, 2));
        let manifest = root.join(format!("sets/{}/manifest.json", n.set_id));
        let manifest = std::fs::metadata(manifest).unwrap().len();
        assert_eq!(n.stored_bytes, 1234 + manifest, "its objects, listed");
        assert_eq!(
            (
                p.status.complete_sets,
                p.status.incomplete_sets,
                p.status.repository_bytes
            ),
            (0, 0, 0)
        );
        assert!(
            !p.status.messages.iter().any(|m| m.contains("incomplete")),
            "{:?}",
            p.status.messages
        );
    }

    /// The first look lists only recent folders by their date: a repository whose newest set
    /// is from an earlier month (nothing today or this month) still gives it, read from its
    /// manifest, and the later steps agree with it.
    #[tokio::test]
    async fn the_first_look_finds_a_set_from_an_earlier_month() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        let spec = spec(
            &root,
            &dir.path().join("local"),
            Duration::from_secs(86_400),
        );
        let repo = Repository::open(&spec.repository).unwrap();
        let journal = JournalView::default();
        let real_now = Utc::now();
        assert!(
            first_look(&spec, &repo, &journal).await.unwrap().is_none(),
            "an empty repository has no newest set"
        );
        let old = real_now - Span::days(100);
        let newest = real_now - Span::days(40);
        write_set(&root, &set_id(old, 0), Folder::Complete, old, 10);
        write_set(&root, &set_id(newest, 1), Folder::Complete, newest, 10);
        let first = first_look(&spec, &repo, &journal)
            .await
            .unwrap()
            .expect("the set of 40 days ago is found");
        assert_eq!(first.set_folders, None, "sets/ was not listed");
        let shown: Vec<String> = first
            .inventory
            .sets
            .iter()
            .map(|s| s.id.to_string())
            .collect();
        assert_eq!(shown, vec![set_id(newest, 1)], "the newest set only");
        assert_eq!(
            first.inventory.sets[0].objects.len(),
            2,
            "its folder listed for its size"
        );
        let second = partial_inventory(&spec, &repo, &journal)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            second.inventory.latest(real_now).map(|s| s.id.to_string()),
            Some(set_id(newest, 1))
        );
        assert_eq!(second.set_folders, Some(2));
        // Older than two calendar years: the first look gives way, the second step finds it.
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        let spec = super::tests::spec(&root, &dir.path().join("local"), Duration::from_secs(1));
        let repo = Repository::open(&spec.repository).unwrap();
        let ancient = real_now - Span::days(800);
        write_set(&root, &set_id(ancient, 0), Folder::Complete, ancient, 10);
        assert!(first_look(&spec, &repo, &journal).await.unwrap().is_none());
        let second = partial_inventory(&spec, &repo, &journal).await.unwrap();
        assert_eq!(second.map(|p| p.inventory.sets.len()), Some(1));
    }

    /// What the first look shows is read from the manifests: a newer folder whose manifest is
    /// corrupt, one whose manifest names another set (forged or misplaced), one without a
    /// manifest and one dated in the future are not shown as sets; the newest complete set
    /// under them is.
    #[tokio::test]
    async fn a_forged_or_corrupt_newest_manifest_is_not_shown_as_a_set() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("repo");
        let spec = spec(
            &root,
            &dir.path().join("local"),
            Duration::from_secs(86_400),
        );
        let repo = Repository::open(&spec.repository).unwrap();
        let real_now = Utc::now();
        let good = real_now - Span::minutes(50);
        write_set(&root, &set_id(good, 0), Folder::Complete, good, 10);
        let folders = [
            (Folder::Corrupt, 40),
            (Folder::WrongSet, 30),
            (Folder::NoManifest, 20),
        ];
        for (n, (folder, ago)) in folders.into_iter().enumerate() {
            let at = real_now - Span::minutes(ago);
            write_set(&root, &set_id(at, n + 1), folder, at, 10);
        }
        let future = real_now + Span::days(3);
        write_set(&root, &set_id(future, 9), Folder::Complete, future, 10);
        let journal = JournalView::default();
        let first = first_look(&spec, &repo, &journal)
            .await
            .unwrap()
            .expect("the complete set under the broken ones");
        let shown: Vec<String> = first
            .inventory
            .sets
            .iter()
            .map(|s| s.id.to_string())
            .collect();
        assert_eq!(shown, vec![set_id(good, 0)]);
        assert_eq!(
            first.manifests_read, 4,
            "three broken folders, then the set"
        );
        let p = previewed(&spec, &journal, Vec::new(), first);
        assert_eq!(p.status.newest_set.map(|n| n.set_id), Some(set_id(good, 0)));
        assert_eq!(p.set_folders, None);
    }

    /// The windows the first look lists: today, this month, the month before (across a year
    /// end too), this year, the year before; the current ones end at now and the tolerance.
    #[test]
    fn the_first_look_lists_recent_windows_newest_first() {
        let at = Utc.with_ymd_and_hms(2026, 1, 3, 10, 0, 0).unwrap();
        let windows = recent_windows(at);
        let prefixes: Vec<&str> = windows.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(prefixes, ["20260103", "202601", "202512", "2026", "2025"]);
        assert_eq!(windows[0].1, "20260103T100500Z~");
        assert_eq!(windows[2].1, "202512~");
        assert_eq!(windows[4].1, "2025~");
    }
}
