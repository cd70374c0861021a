//! The console's load: what the dashboard, history, inventory and drills show, read in one
//! listing (a remote repository through the manifest index, `jobs::index`), as a job the
//! runtime spawns like any other (`LoadJob`).

use super::config::Config;
use super::event::AppEvent;
use super::history;
use super::state::Snapshot;
use crate::jobs::drill_record::DrillRecord;
use crate::jobs::index::{self, Freshness, Indexed, LoadProgress};
use crate::jobs::inventory::Inventory;
use crate::jobs::job::Job;
use crate::jobs::progress::Reporter;
use crate::jobs::status::StatusSpec;
use crate::jobs::{inventory, status, status_preview, CancellationToken};
use crate::storage::journal::{DrillSummary, Journal, JournalView};
use crate::storage::paths::LocalPaths;
use crate::storage::repository::{RepoError, Repository};
use chrono::Utc;
use tokio::sync::mpsc::UnboundedSender;

/// One load of the console. With `previews`, the preliminary verdict is sent first (see
/// [`load_staged`]).
pub struct LoadJob {
    pub config: Config,
    pub paths: LocalPaths,
    pub previews: Option<UnboundedSender<AppEvent>>,
}

impl Job for LoadJob {
    type Output = Result<Snapshot, String>;

    /// Reads only, so it has nothing to stop early for: a reload is never cancelled.
    async fn run(self, _reporter: Reporter, _cancel: CancellationToken) -> Self::Output {
        load_staged(&self.config, &self.paths, self.previews.as_ref()).await
    }
}

/// Loads what the dashboard, history and inventory show, in one listing.
pub async fn load_snapshot(config: &Config, paths: &LocalPaths) -> Result<Snapshot, String> {
    load_staged(config, paths, None).await
}

/// The console's load. With `previews`, the dashboard's preliminary verdict (a few reads, see
/// `status_preview`) is sent as `AppEvent::Previewed` before the full listing starts: with
/// 10,000 sets the listing takes half a second, the preview a few milliseconds. The journal is
/// read once for both.
pub async fn load_staged(
    config: &Config,
    paths: &LocalPaths,
    previews: Option<&UnboundedSender<AppEvent>>,
) -> Result<Snapshot, String> {
    let spec = config.status_spec(paths).map_err(|e| e.to_string())?;
    let journal = Journal::new(paths.journal())
        .read()
        .map_err(|e| e.to_string())?;
    let opened = Repository::open(&spec.repository);
    if let Some(repo) = opened.as_ref().ok().filter(|r| !r.is_local()) {
        return load_indexed(&spec, repo, journal, previews).await;
    }
    let (listed, spooled, drill, drills) = match opened {
        Ok(repo) => {
            let spooled = status::spooled_sets(&spec, &repo).await;
            if let Some(tx) = previews {
                // No preview (a failed read, too many incomplete folders) is no error: the full
                // load below reports what it finds.
                if let Ok(Some(p)) =
                    status_preview::preview(&spec, &repo, &journal, spooled.clone(), None).await
                {
                    let _ = tx.send(AppEvent::Previewed(Box::new(p)));
                }
            }
            let listed = inventory::scan(&repo).await;
            let (drill, drills) = match &listed {
                Ok(i) => (
                    status::newest_drill(&repo, i).await,
                    crate::jobs::drill_record::load_listed(&repo, i).await.0,
                ),
                Err(_) => (None, Vec::new()),
            };
            (listed, spooled, drill, drills)
        }
        Err(e) => (Err(e), Vec::new(), None, Vec::new()),
    };
    let mut snapshot = snapshot_of(&spec, listed, journal, spooled, drill, drills);
    probe_wal(&spec, &mut snapshot).await;
    Ok(snapshot)
}

/// The archiver's state when the source archives WAL (bounded: a dead source costs at most
/// the probe's timeout, and this runs off the render path).
async fn probe_wal(spec: &StatusSpec, snapshot: &mut Snapshot) {
    if let Some(probe) = &spec.wal {
        status::apply_wal(
            &mut snapshot.status,
            Some(crate::jobs::wal::probe(probe).await),
        );
    }
}

/// What the screens show from a listing (or its failure), before the WAL probe.
fn snapshot_of(
    spec: &StatusSpec,
    listed: Result<Inventory, RepoError>,
    journal: JournalView,
    spooled: Vec<String>,
    drill: Option<DrillSummary>,
    drills: Vec<DrillRecord>,
) -> Snapshot {
    let report = status::evaluate(spec, listed.as_ref(), &journal, spooled, drill);
    let inventory = listed.ok();
    let history = history::rows(inventory.as_ref(), &journal, &spec.repository.url);
    Snapshot {
        status: report,
        inventory,
        journal,
        history,
        drills,
        loaded_at: Utc::now(),
    }
}

/// The console's load of a remote repository, through the manifest index. With `previews`
/// (the first load), what is known is shown at each step: the cached index at once (no
/// request), then with the sets newer than it (a request or two), or on a cold load the sets
/// as their manifests arrive with the count so far; the full pass (every object listed) ends
/// the load.
async fn load_indexed(
    spec: &StatusSpec,
    repo: &Repository,
    journal: JournalView,
    previews: Option<&UnboundedSender<AppEvent>>,
) -> Result<Snapshot, String> {
    let spooled = status::spooled_sets(spec, repo).await;
    let show = |indexed: Indexed, progress: Option<LoadProgress>| {
        if let Some(tx) = previews {
            let snapshot = snapshot_of(
                spec,
                Ok(indexed.inventory),
                journal.clone(),
                spooled.clone(),
                indexed.newest_drill,
                indexed.drills,
            );
            let _ = tx.send(AppEvent::Partial(Box::new(snapshot), progress));
        }
    };
    if let Some(tx) = previews {
        if let Some(cached) = index::cached(repo, &spec.paths) {
            show(cached, None);
            if let Ok(newer) = index::load(repo, &spec.paths, Freshness::Newest, None).await {
                show(newer, None);
            }
        } else {
            // No index yet: the dashboard's verdict from a few reads, while the sets stream in;
            // the newest sets' first, before every set folder is listed.
            let first = |p| {
                let _ = tx.send(AppEvent::Previewed(Box::new(p)));
            };
            if let Ok(Some(p)) =
                status_preview::preview(spec, repo, &journal, spooled.clone(), Some(&first)).await
            {
                let _ = tx.send(AppEvent::Previewed(Box::new(p)));
            }
        }
    }
    let on_progress = |so_far: &Inventory, progress: LoadProgress| {
        let Some(tx) = previews else {
            return;
        };
        // This runs in the loop that reads the manifests: only the copy is made here, the
        // verdict and history rows of up to 10,000 sets off it (a late one is dropped: the
        // console takes no partial view once the load has ended).
        let (inventory, tx) = (so_far.clone(), tx.clone());
        let (spec, journal, spooled) = (spec.clone(), journal.clone(), spooled.clone());
        tokio::task::spawn_blocking(move || {
            let snapshot = snapshot_of(&spec, Ok(inventory), journal, spooled, None, Vec::new());
            let _ = tx.send(AppEvent::Partial(Box::new(snapshot), Some(progress)));
        });
    };
    let tell: Option<index::OnProgress> = previews.map(|_| &on_progress as index::OnProgress);
    let (listed, drill, drills) = match index::load(repo, &spec.paths, Freshness::Full, tell).await
    {
        Ok(i) => (Ok(i.inventory), i.newest_drill, i.drills),
        Err(e) => (Err(e), None, Vec::new()),
    };
    let mut snapshot = snapshot_of(spec, listed, journal, spooled, drill, drills);
    probe_wal(spec, &mut snapshot).await;
    Ok(snapshot)
}
