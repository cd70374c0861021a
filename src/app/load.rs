//! The console's load: what the dashboard, history, inventory and drills show, read in one
//! listing, as a job the runtime spawns like any other (`LoadJob`).

use super::config::Config;
use super::event::AppEvent;
use super::history;
use super::state::Snapshot;
use crate::jobs::job::Job;
use crate::jobs::progress::Reporter;
use crate::jobs::{inventory, status, status_preview, CancellationToken};
use crate::storage::journal::Journal;
use crate::storage::paths::LocalPaths;
use crate::storage::repository::Repository;
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
    let (listed, spooled, drill, drills) = match Repository::open(&spec.repository) {
        Ok(repo) => {
            let spooled = status::spooled_sets(&spec, &repo).await;
            if let Some(tx) = previews {
                // No preview (a failed read, too many incomplete folders) is no error: the full
                // load below reports what it finds.
                if let Ok(Some(p)) =
                    status_preview::preview(&spec, &repo, &journal, spooled.clone()).await
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
    let mut report = status::evaluate(&spec, listed.as_ref(), &journal, spooled, drill);
    // The archiver's state when the source archives WAL (bounded: a dead source costs at most
    // the probe's timeout, and this runs off the render path).
    if let Some(probe) = &spec.wal {
        status::apply_wal(&mut report, Some(crate::jobs::wal::probe(probe).await));
    }
    let inventory = listed.ok();
    let history = history::rows(inventory.as_ref(), &journal, &spec.repository.url);
    Ok(Snapshot {
        status: report,
        inventory,
        journal,
        history,
        drills,
        loaded_at: Utc::now(),
    })
}
