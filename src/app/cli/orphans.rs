//! The start of every lifeboat command that opens the state: remove what killed runs left
//! outside the repositories (`storage::orphans`: throwaway clusters, scratch directories,
//! private GNUPGHOMEs) and say so, on stderr and in the log. Only leftovers whose owning
//! process is gone are touched, so a run that is still going (a drill in another terminal, a
//! scheduled backup) keeps everything.

use crate::app::config::{self, Config};
use crate::storage::orphans;
use crate::storage::paths::LocalPaths;
use std::path::{Path, PathBuf};

/// Sweeps, reading the scratch directory from the configuration at `config_flag` (or the
/// default one); an unreadable configuration still gets the default scratch directory swept,
/// and the command itself then reports the configuration's problem.
pub fn sweep(config_flag: Option<&PathBuf>, paths: &LocalPaths) -> Vec<orphans::Removed> {
    let configured = Config::load(&config::resolve_path(config_flag.map(PathBuf::as_path)))
        .ok()
        .and_then(|c| c.restore.scratch_dir);
    let default = paths.data_dir.join("scratch");
    let mut parents: Vec<&Path> = vec![&default];
    if let Some(dir) = configured.as_deref().filter(|d| *d != default) {
        parents.push(dir);
    }
    let removed = orphans::sweep(&parents);
    for r in &removed {
        tracing::warn!("{r}");
        eprintln!("lifeboat: {r}");
    }
    removed
}
