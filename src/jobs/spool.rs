//! The upload spool: for a remote repository, every object is also written to a local copy
//! (a local repository with the same layout, under the XDG data directory). When the remote
//! write fails the spooled set is finished locally and kept; `backup --resume` (or the next
//! backup) uploads it, manifest last, and then removes the local copy.

use super::progress::Reporter;
use crate::storage::layout::{self, MANIFEST_NAME};
use crate::storage::manifest::MANIFEST_MAX_BYTES;
use crate::storage::paths::LocalPaths;
use crate::storage::repository::{Location, RepoError, Repository, RepositorySpec};
use crate::storage::setid::SetId;
use futures::StreamExt;
use std::collections::BTreeSet;
use std::path::PathBuf;

/// The spool folder of the repository with this identity ([`Repository::identity`]: URL and
/// endpoint). A folder from before the endpoint was part of the key (keyed by the URL alone) is
/// adopted by the first repository that asks for it.
pub fn spool_dir(
    paths: &LocalPaths,
    override_dir: Option<&PathBuf>,
    repository_identity: &str,
) -> PathBuf {
    let base = override_dir.cloned().unwrap_or_else(|| paths.spool());
    let key = |text: &str| crate::storage::hashing::sha256_hex(text.as_bytes())[..16].to_string();
    let dir = base.join(key(repository_identity));
    if let Some((url, _)) = repository_identity.rsplit_once(" at ") {
        let legacy = base.join(key(url));
        if !dir.exists() && legacy.is_dir() {
            let _ = std::fs::rename(&legacy, &dir);
        }
    }
    dir
}

pub fn open_spool(dir: &std::path::Path) -> Result<Repository, RepoError> {
    Repository::open(&RepositorySpec::new(dir.to_string_lossy()))
}

/// Complete spooled sets (manifest present), oldest first.
pub async fn pending(spool: &Repository) -> Result<Vec<SetId>, RepoError> {
    if let Location::Local(dir) = spool.location() {
        if !dir.join(layout::SETS_DIR).exists() {
            return Ok(Vec::new());
        }
    }
    let objects = spool.list(layout::SETS_DIR).await?;
    let complete: BTreeSet<SetId> = objects
        .iter()
        .filter_map(|o| layout::parse_object_path(&o.path))
        .filter(|(_, name)| *name == MANIFEST_NAME)
        .map(|(id, _)| id)
        .collect();
    Ok(complete.into_iter().collect())
}

async fn copy_object(from: &Repository, to: &Repository, path: &str) -> Result<u64, RepoError> {
    let mut stream = from.stream(path).await?;
    let mut writer = to.writer(path).await?;
    let mut bytes = 0u64;
    let fail = |source: opendal::Error| to.storage_error("upload", path, source);
    while let Some(chunk) = stream.next().await {
        let chunk = chunk?;
        bytes += chunk.len() as u64;
        if let Err(e) = writer.write(chunk).await {
            let _ = writer.abort().await;
            return Err(fail(e));
        }
    }
    if let Err(e) = writer.close().await {
        let _ = writer.abort().await;
        return Err(fail(e));
    }
    let stored = to.stat(path).await?.size;
    if stored != bytes {
        return Err(fail(opendal::Error::new(
            opendal::ErrorKind::Unexpected,
            format!("uploaded {bytes} bytes but the repository holds {stored}"),
        )));
    }
    Ok(bytes)
}

/// Uploads one spooled set, manifest last, then removes the local copy.
pub async fn upload_set(
    spool: &Repository,
    remote: &Repository,
    id: &SetId,
    reporter: &Reporter,
) -> Result<u64, RepoError> {
    let objects = spool.list(&layout::set_dir(id)).await?;
    let mut total = 0;
    for object in objects.iter().filter(|o| !o.path.ends_with(MANIFEST_NAME)) {
        reporter.log(format!("uploading spooled {}", object.path));
        total += copy_object(spool, remote, &object.path).await?;
    }
    let manifest = spool
        .get_small(&layout::manifest_path(id), MANIFEST_MAX_BYTES as u64)
        .await?;
    remote.put(&layout::manifest_path(id), manifest).await?;
    if let Location::Local(dir) = spool.location() {
        let _ = std::fs::remove_dir_all(dir.join(layout::set_dir(id)));
    }
    reporter.log(format!("spooled set {id} is now in {}", remote.url()));
    Ok(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Two servers with a bucket and prefix of the same name never share a spool; a spool from
    /// before the endpoint was in the key is adopted, not lost.
    #[test]
    fn the_spool_is_keyed_by_the_endpoint_too() {
        let root = tempfile::tempdir().unwrap();
        let paths = LocalPaths::under(root.path());
        let spec = |endpoint: Option<&str>| {
            let mut spec = RepositorySpec::new("s3://backups/app");
            spec.endpoint = endpoint.map(str::to_string);
            spec.identity()
        };
        let a = spool_dir(&paths, None, &spec(Some("http://127.0.0.1:9000")));
        let b = spool_dir(&paths, None, &spec(Some("http://127.0.0.1:9001")));
        let aws = spool_dir(&paths, None, &spec(None));
        assert_ne!(a, b);
        assert_ne!(a, aws);
        assert_eq!(
            a,
            spool_dir(&paths, None, &spec(Some("http://127.0.0.1:9000")))
        );
        // Local repositories ignore an endpoint.
        let mut local = RepositorySpec::new("/var/backups/app");
        local.endpoint = Some("http://x".into());
        assert_eq!(local.identity(), "/var/backups/app");

        // The old key: the URL alone.
        std::fs::create_dir_all(aws.join("sets/x")).unwrap();
        let adopted = spool_dir(&paths, None, &spec(Some("http://127.0.0.1:9002")));
        assert!(adopted.join("sets/x").is_dir());
        assert!(!aws.exists());
    }
}
