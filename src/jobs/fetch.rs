//! Fetching a set's objects for a restore or a drill, checked against the manifest (and
//! `checksums.sha256`): objects of a remote repository are downloaded into a scratch directory,
//! local ones stay where they are. Here each object's size is checked; its hash is checked by
//! the one pass that decrypts it (`restore::decrypt_with`). Nothing is decrypted here.

use super::download;
use super::progress::Meter;
use crate::storage::checksums::Checksums;
use crate::storage::hashing::CountingReader;
use crate::storage::layout;
use crate::storage::manifest::{Component, Manifest, RepositoryRole, MANIFEST_MAX_BYTES};
use crate::storage::repository::{Location, RepoError, Repository};
use crate::storage::setid::SetId;
use std::io::Write;
use std::path::{Path, PathBuf};
use tokio_util::sync::CancellationToken;

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error("set {0} has no manifest.json: it is incomplete and cannot be restored")]
    Incomplete(String),
    #[error("{0}")]
    Manifest(String),
    #[error("`{object}` in {repository}: {problem}; refusing to restore from it")]
    Damaged {
        object: String,
        repository: String,
        problem: String,
    },
    #[error("`{object}` lives in the secrets repository, which is not configured ([secrets_repository])")]
    NoSecretsRepository { object: String },
    #[error("scratch directory {path}: {source}")]
    Scratch {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cancelled")]
    Cancelled,
}

pub async fn read_manifest(repo: &Repository, id: &SetId) -> Result<Manifest, FetchError> {
    let bytes = match repo
        .get_small(&layout::manifest_path(id), MANIFEST_MAX_BYTES as u64)
        .await
    {
        Ok(b) => b,
        Err(e) if e.is_not_found() => return Err(FetchError::Incomplete(id.to_string())),
        Err(e) => return Err(e.into()),
    };
    Manifest::parse(id.as_str(), &bytes).map_err(|e| FetchError::Manifest(e.to_string()))
}

/// A stored object, verified, readable from a local file.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub component: Component,
    pub path: PathBuf,
}

/// Fetches and verifies every component of `manifest` whose repository is available.
pub async fn fetch_set(
    data: &Repository,
    secrets: Option<&Repository>,
    manifest: &Manifest,
    scratch: &Path,
    meter: &mut Meter,
    cancel: &CancellationToken,
) -> Result<Vec<Fetched>, FetchError> {
    let id = manifest.set_id.clone();
    let listed = match data
        .get_small(&layout::checksums_path(&id), MANIFEST_MAX_BYTES as u64)
        .await
    {
        Ok(bytes) => {
            Checksums::parse(&String::from_utf8_lossy(&bytes)).map_err(|e| FetchError::Damaged {
                object: layout::CHECKSUMS_NAME.into(),
                repository: data.url().into(),
                problem: e.to_string(),
            })?
        }
        Err(e) => return Err(e.into()),
    };
    let mut fetched = Vec::new();
    for component in &manifest.components {
        let repo = match component.repository {
            RepositoryRole::Data => data,
            RepositoryRole::Secrets => secrets.ok_or_else(|| FetchError::NoSecretsRepository {
                object: component.object.clone(),
            })?,
        };
        if component.repository == RepositoryRole::Data
            && listed.0.get(&component.object) != Some(&component.stored_sha256)
        {
            return Err(FetchError::Damaged {
                object: component.object.clone(),
                repository: repo.url().into(),
                problem: format!(
                    "{} and manifest.json disagree about its hash",
                    layout::CHECKSUMS_NAME
                ),
            });
        }
        let path = layout::object_path(&id, &component.object);
        let damaged = |problem: String| FetchError::Damaged {
            object: component.object.clone(),
            repository: repo.url().into(),
            problem,
        };
        // Either way the object is hashed by the one pass that decrypts it, which refuses before
        // anything reaches the target: hashing it here too would read it twice (0.3 s of a 1 GiB
        // drill). A local object is read where it is; a remote one is downloaded into the
        // scratch dir. Its size is checked now, so a truncated object fails at once.
        let (local_copy, size) = match repo.location() {
            Location::Local(root) => (root.join(&path), repo.stat(&path).await?.size),
            _ => {
                let file = scratch.join(&component.object);
                let size = download(repo, &path, &file, meter, cancel)
                    .await?
                    .map_err(|e| damaged(e.to_string()))?;
                (file, size)
            }
        };
        if size != component.stored_bytes {
            return Err(damaged(format!(
                "{size} bytes stored, the manifest says {}",
                component.stored_bytes
            )));
        }
        fetched.push(Fetched {
            component: component.clone(),
            path: local_copy,
        });
    }
    Ok(fetched)
}

/// Downloads `path` into `file`; returns the bytes written. The outer error is the
/// repository's or a cancellation; the inner one a failed read or write of the bytes.
async fn download(
    repo: &Repository,
    path: &str,
    file: &Path,
    meter: &mut Meter,
    cancel: &CancellationToken,
) -> Result<Result<u64, std::io::Error>, FetchError> {
    let counter = meter.counter();
    let (reader, feeder) = download::open(repo, path, cancel.clone());
    let file = file.to_path_buf();
    let written = tokio::task::spawn_blocking(move || -> Result<_, std::io::Error> {
        let mut counted = CountingReader::new(reader, counter);
        let mut out = std::io::BufWriter::new(std::fs::File::create(&file)?);
        let n = std::io::copy(&mut counted, &mut out)?;
        out.flush()?;
        Ok(n)
    })
    .await
    .map_err(|e| FetchError::Manifest(e.to_string()))?;
    if cancel.is_cancelled() {
        return Err(FetchError::Cancelled);
    }
    if let Ok(Err(e)) = feeder.await {
        return Err(e.into());
    }
    Ok(written)
}
