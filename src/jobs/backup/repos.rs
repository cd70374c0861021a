//! The repositories a backup writes to, each with its local spool when it is remote: opening
//! them, clearing and resuming what earlier runs left, and writing a set's checksums and
//! manifests last.

use super::{BackupError, BackupSpec};
use crate::jobs::leftovers;
use crate::jobs::open_uploads::{self, SweepError};
use crate::jobs::progress::Reporter;
use crate::jobs::spool;
use crate::storage::checksums::Checksums;
use crate::storage::hashing::sha256_hex;
use crate::storage::journal::Journal;
use crate::storage::layout;
use crate::storage::manifest::{ComponentKind, Manifest, RepositoryRole};
use crate::storage::paths::LocalPaths;
use crate::storage::repository::{Location, RepoError, Repository, RepositorySpec};
use crate::storage::setid::SetId;
use chrono::{DateTime, Utc};
use std::path::PathBuf;

pub(super) struct Repos {
    pub(super) data: Repository,
    pub(super) data_spool: Option<(Repository, PathBuf)>,
    pub(super) secrets: Option<Repository>,
    pub(super) secrets_spool: Option<(Repository, PathBuf)>,
}

pub(super) fn open_with_spool(
    spec: &RepositorySpec,
    paths: &LocalPaths,
    spool_override: Option<&PathBuf>,
) -> Result<(Repository, Option<(Repository, PathBuf)>), RepoError> {
    let repo = Repository::open(spec)?;
    if repo.is_local() {
        return Ok((repo, None));
    }
    let dir = spool::spool_dir(paths, spool_override, repo.identity());
    let spool = spool::open_spool(&dir)?;
    Ok((repo, Some((spool, dir))))
}

/// Removes what killed runs left in the spools and local repositories (see `leftovers`).
pub(super) fn clear_leftovers(
    spec: &BackupSpec,
    repos: &Repos,
    set_id: &SetId,
    reporter: &Reporter,
) {
    let spools: Vec<&std::path::Path> = [&repos.data_spool, &repos.secrets_spool]
        .into_iter()
        .flatten()
        .map(|(_, dir)| dir.as_path())
        .collect();
    let locals: Vec<&std::path::Path> = [Some(&repos.data), repos.secrets.as_ref()]
        .into_iter()
        .flatten()
        .filter_map(|r| match r.location() {
            Location::Local(dir) => Some(dir.as_path()),
            Location::S3 { .. } => None,
        })
        .collect();
    let journal = Journal::new(spec.paths.journal());
    let cleared = leftovers::clear(&journal, set_id.as_str(), &spools, &locals);
    if !cleared.is_empty() {
        let sets = if cleared.spooled_sets.is_empty() {
            String::new()
        } else {
            format!(
                " (spooled copies of unfinished sets {})",
                cleared.spooled_sets.join(", ")
            )
        };
        reporter.log(format!(
            "removed {} files ({} bytes) left by interrupted runs{sets}",
            cleared.files, cleared.bytes
        ));
    }
}

/// Aborts the multipart uploads killed runs left open in the data repository (see
/// `open_uploads` for which). Never fails the backup: the uploads cost money, not
/// correctness. A server that cannot list them is noted in the log only; `inventory` says so.
pub(super) async fn abort_open_uploads(
    spec: &BackupSpec,
    set_id: &SetId,
    started_at: DateTime<Utc>,
    reporter: &Reporter,
) {
    let journal = Journal::new(spec.paths.journal());
    let swept = open_uploads::sweep(
        &spec.repository,
        &journal,
        Some(set_id.as_str()),
        started_at,
    )
    .await;
    match swept {
        Ok(swept) => {
            if swept.unsupported {
                tracing::debug!(
                    "repository {}: the server does not list open multipart uploads",
                    spec.repository.url
                );
            }
            // A warning, so the CLI prints it: something was left behind, as a stale lock is.
            for upload in &swept.aborted {
                reporter.warn(format!(
                    "aborted the multipart upload {} left open by an interrupted run",
                    open_uploads::describe(upload)
                ));
            }
            for failure in swept.failures {
                reporter.warn(failure);
            }
        }
        // A server that does not answer fails the upload soon enough, and says so then.
        Err(SweepError::Uploads(e)) if e.unreachable => {
            tracing::info!("open multipart uploads were left as they are: {e}")
        }
        Err(e) => reporter.warn(format!("open multipart uploads were left as they are: {e}")),
    }
}

pub(super) async fn resume_spooled(
    repos: &Repos,
    reporter: &Reporter,
) -> (Vec<SetId>, Vec<String>) {
    let mut resumed = Vec::new();
    let mut warnings = Vec::new();
    // Secrets first: a data manifest must never point at secrets that are not there yet.
    let pairs = [
        (repos.secrets_spool.as_ref(), repos.secrets.as_ref()),
        (repos.data_spool.as_ref(), Some(&repos.data)),
    ];
    for (spool, remote) in pairs {
        let (Some((spool, _)), Some(remote)) = (spool, remote) else {
            continue;
        };
        let pending = match spool::pending(spool).await {
            Ok(p) => p,
            Err(e) => {
                warnings.push(format!("cannot read the spool: {e}"));
                continue;
            }
        };
        for id in pending {
            match spool::upload_set(spool, remote, &id, reporter).await {
                Ok(_) => {
                    if remote.url() == repos.data.url() {
                        resumed.push(id);
                    }
                }
                Err(e) => warnings.push(format!("spooled set {id} is still waiting: {e}")),
            }
        }
    }
    (resumed, warnings)
}

pub(super) fn plan_repo_url(repos: &Repos, role: RepositoryRole) -> String {
    match role {
        RepositoryRole::Data => repos.data.url().to_string(),
        RepositoryRole::Secrets => repos
            .secrets
            .as_ref()
            .map(|r| r.url().to_string())
            .unwrap_or_default(),
    }
}

/// Writes checksums and manifests: the secrets repository first, the data manifest last.
/// Returns the SHA-256 of the data repository's `checksums.sha256`.
pub(super) async fn finish_set(
    repos: &Repos,
    id: &SetId,
    manifest: &Manifest,
    to_spool: bool,
) -> Result<String, BackupError> {
    let pick = |repo: &Repository, spool: &Option<(Repository, PathBuf)>| -> Repository {
        match (to_spool, spool) {
            (true, Some((s, _))) => s.clone(),
            _ => repo.clone(),
        }
    };
    let data = pick(&repos.data, &repos.data_spool);
    let checksums_for = |role: RepositoryRole| {
        Checksums(
            manifest
                .components
                .iter()
                .filter(|c| c.repository == role)
                .map(|c| (c.object.clone(), c.stored_sha256.clone()))
                .collect(),
        )
        .render()
    };
    let manifest_bytes = manifest.to_json();
    if let Some(secrets) = &repos.secrets {
        if manifest.component(ComponentKind::Secrets).is_some() {
            let target = pick(secrets, &repos.secrets_spool);
            target
                .put(
                    &layout::checksums_path(id),
                    checksums_for(RepositoryRole::Secrets).into_bytes(),
                )
                .await?;
            target
                .put(&layout::manifest_path(id), manifest_bytes.clone())
                .await?;
        }
    }
    let checksums = checksums_for(RepositoryRole::Data);
    let checksums_sha = sha256_hex(checksums.as_bytes());
    data.put(&layout::checksums_path(id), checksums.into_bytes())
        .await?;
    data.put(&layout::manifest_path(id), manifest_bytes).await?;
    data.sync_dir(&layout::set_dir(id));
    Ok(checksums_sha)
}
