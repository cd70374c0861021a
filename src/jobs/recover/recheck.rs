//! `recover --resume`: finds the runbook of the recovery that did not finish, and before it
//! continues re-checks what the finished steps left behind: the downloaded objects' hashes, the
//! cluster running and the database there holding the restored tables, the file trees
//! present. A step whose result is gone is done again (and said); the decrypted dump never
//! outlives a process, so it is decrypted again when pg_restore still needs it. A pg_restore
//! that was cut off into a target that now holds data is not repeated without the typed
//! confirmation: the resumption says exactly what the target holds.

use super::plan::roots_spec;
use super::runbook::{Runbook, StepState};
use super::{target, RecoverError};
use crate::jobs::fetch::{self, Fetched};
use crate::jobs::progress::Reporter;
use crate::storage::local_cluster::{self, LocalCluster};
use crate::storage::manifest::{ComponentKind, Manifest};
use crate::storage::paths::LocalPaths;
use crate::storage::repository::Repository;
use crate::storage::roots;
use serde::Serialize;
use sha2::{Digest, Sha256};
use std::path::PathBuf;

/// A recovery about to continue, and what the re-checks found.
#[derive(Debug, Clone, Serialize)]
pub struct Resumption {
    pub book: Runbook,
    #[serde(skip)]
    pub manifest: Option<Manifest>,
    pub path: PathBuf,
    /// The first step that did not finish when it stopped.
    pub stopped_at: String,
    /// What each re-check found, one line each.
    pub rechecked: Vec<String>,
    /// pg_restore must be redone into a target that holds data: what it holds. Going on
    /// needs the typed confirmation.
    pub target_holds: Option<String>,
}

/// The first object whose bytes on disk are not what the manifest recorded, and why.
pub(super) fn rehash(fetched: &[Fetched]) -> Option<String> {
    for f in fetched {
        let mut file = match std::fs::File::open(&f.path) {
            Ok(file) => file,
            Err(e) => {
                return Some(format!(
                    "`{}` ({}): {e}",
                    f.component.object,
                    f.path.display()
                ))
            }
        };
        let mut hasher = Sha256::new();
        if let Err(e) = std::io::copy(&mut file, &mut hasher) {
            return Some(format!("`{}`: {e}", f.component.object));
        }
        let got = hex::encode(hasher.finalize());
        if got != f.component.stored_sha256 {
            return Some(format!(
                "`{}`: SHA-256 {got}, the manifest says {}",
                f.component.object, f.component.stored_sha256
            ));
        }
    }
    None
}

fn pending(book: &mut Runbook, name: &str) {
    if let Some(s) = book.step_mut(name) {
        s.state = StepState::Pending;
    }
}

/// Loads the runbook (`id`, or the newest unfinished one) and re-checks the finished steps.
pub async fn resume(
    paths: &LocalPaths,
    id: Option<&str>,
    reporter: &Reporter,
) -> Result<Resumption, RecoverError> {
    let dir = super::recoveries_dir(paths);
    let (path, book) = match id {
        Some(id) => {
            let p = Runbook::path_in(&dir, id);
            let b = Runbook::load(&p);
            (p, b)
        }
        None => Runbook::newest_unfinished(&dir)
            .ok_or_else(|| RecoverError::NothingToResume(dir.clone()))?,
    };
    let book = book.map_err(|source| RecoverError::Runbook {
        path: path.clone(),
        source,
    })?;
    if let super::worker::Worker::Running(pid) = super::worker::status(&dir, &book.id) {
        return Err(RecoverError::Locked {
            id: book.id.clone(),
            pid,
        });
    }
    if book.finished() {
        return Err(RecoverError::Usage(format!(
            "recovery {} finished at {}; there is nothing to resume",
            book.id,
            book.finished_at.map(|t| t.to_rfc3339()).unwrap_or_default()
        )));
    }
    let stopped_at = book
        .first_unfinished()
        .map(|s| s.name.clone())
        .unwrap_or_default();
    reporter.phase("re-check");
    let data = Repository::open(&book.spec.data_repository())?;
    let manifest = fetch::read_manifest(&data, &book.set_id)
        .await
        .map_err(|e| RecoverError::Usage(format!("set {}: {e}", book.set_id)))?;
    let (checked, out) = {
        let manifest = manifest.clone();
        tokio::task::spawn_blocking(move || {
            let mut book = book;
            let out = recheck(&mut book, &manifest);
            (book, out)
        })
        .await
        .map_err(|e| RecoverError::Usage(e.to_string()))?
    };
    let mut book = checked;
    let (rechecked, target_holds) = out?;
    book.error = None;
    Ok(Resumption {
        book,
        manifest: Some(manifest),
        path,
        stopped_at,
        rechecked,
        target_holds,
    })
}

/// The re-checks, in step order; marks a step whose result is gone as pending again.
fn recheck(
    book: &mut Runbook,
    manifest: &Manifest,
) -> Result<(Vec<String>, Option<String>), RecoverError> {
    let mut said = Vec::new();
    let fetched: Vec<Fetched> = book
        .fetched
        .iter()
        .filter_map(|f| {
            let c = manifest.components.iter().find(|c| c.object == f.object)?;
            Some(Fetched {
                component: c.clone(),
                path: f.path.clone(),
            })
        })
        .collect();
    if book.is_done("fetch") {
        match rehash(&fetched) {
            None if fetched.len() == manifest.components.len() => said.push(format!(
                "fetch: {} downloaded objects still match the manifest's hashes",
                fetched.len()
            )),
            problem => {
                said.push(format!(
                    "fetch: {}; fetching again",
                    problem.unwrap_or_else(|| "objects are missing".into())
                ));
                pending(book, "fetch");
                pending(book, "decrypt");
            }
        }
    }
    if book.is_done("decrypt") && !book.is_done("pg_restore") {
        said.push(
            "decrypt: the decrypted dump never outlives a process; it is decrypted again before pg_restore"
                .into(),
        );
        pending(book, "decrypt");
    }
    let (conn, tools) = target::resolve(&book.spec, manifest)?;
    if book.is_done("create target") {
        if let super::TargetChoice::NewCluster(dir) = &book.spec.target {
            let bin = tools
                .program("initdb")
                .parent()
                .map(PathBuf::from)
                .unwrap_or_default();
            match local_cluster::is_cluster(dir).then(|| LocalCluster::ensure(dir, &bin)) {
                Some(Ok(_)) => said.push(format!(
                    "create target: the cluster in {} runs",
                    dir.display()
                )),
                Some(Err(e)) => {
                    return Err(RecoverError::Step {
                        step: "create target",
                        reason: e.to_string(),
                        state: "the cluster made earlier does not start".into(),
                    })
                }
                None => {
                    said.push(format!(
                        "create target: no cluster in {}; creating it again",
                        dir.display()
                    ));
                    pending(book, "create target");
                }
            }
        }
    }
    let state = if book.is_done("create target") {
        Some(
            target::inspect(&book.spec, &tools, &conn).map_err(|e| RecoverError::Step {
                step: "create target",
                reason: e,
                state: "the target cannot be inspected".into(),
            })?,
        )
    } else {
        None
    };
    let mut target_holds = None;
    match (&state, book.is_done("pg_restore")) {
        (Some(s), true) if s.holds_data() => said.push(format!(
            "pg_restore: the target holds the restored data ({})",
            s.describe()
        )),
        (_, true) => {
            said.push(
                "pg_restore: the target no longer holds the restored tables; restoring again"
                    .into(),
            );
            pending(book, "pg_restore");
            pending(book, "decrypt");
        }
        (Some(s), false)
            if s.holds_data() && book.step("pg_restore").is_some_and(|p| p.attempts > 0) =>
        {
            target_holds = Some(format!(
                "pg_restore was cut off; the target database {} holds {}",
                conn.display(),
                s.describe()
            ));
        }
        _ => {}
    }
    let roots = roots_spec(&book.spec, manifest);
    for (name, kind) in [
        ("files", ComponentKind::Files),
        ("secrets", ComponentKind::Secrets),
    ] {
        if !book.is_done(name) || manifest.component(kind).is_none() {
            continue;
        }
        let present = roots::place(kind, manifest, &roots)
            .map(|p| p.roots.iter().all(|r| r.dest.exists()))
            .unwrap_or(false);
        if present {
            said.push(format!("{name}: the restored tree is in place"));
        } else {
            said.push(format!(
                "{name}: the restored tree is gone; extracting again"
            ));
            pending(book, name);
        }
    }
    Ok((said, target_holds))
}
