//! Where the repository lock object lives and the conditional operations on it: create only if
//! absent, replace or delete only if unchanged since read. On S3 these are `If-None-Match: *`
//! and `If-Match: <etag>`; on a local repository an exclusive create (a hard link of a complete
//! temporary file, so a reader never sees half a record) and a compare under an `flock` of a
//! guard file beside the lock, held only for the compare and the write.

use super::lease::{LeaseRecord, LeaseTimes};
use crate::storage::repository::{parse_location, Location, RepoError, Repository, RepositorySpec};
use chrono::{DateTime, Utc};
use std::io::Write;
use std::os::fd::AsRawFd;
use std::path::{Path, PathBuf};

/// The lock object, relative to the repository root.
pub const LOCK_OBJECT: &str = "locks/repository.lock";
/// A lock record is a few hundred bytes.
const MAX_BYTES: u64 = 16 * 1024;

/// The lock object as read, with what identifies this version of it.
#[derive(Debug, Clone)]
pub struct Seen {
    pub record: LeaseRecord,
    /// The S3 ETag, or the local file's bytes.
    pub tag: String,
    pub modified: Option<DateTime<Utc>>,
}

/// How a conditional operation ended.
#[derive(Debug)]
pub enum Cond {
    /// Done; the new version's tag when the server said it.
    Done(Option<String>),
    /// The condition failed: someone else created or changed the object.
    Conflict,
    /// The server refused the condition itself (it does not implement it).
    Unsupported(String),
}

pub enum Store {
    Local {
        dir: PathBuf,
        /// Always true outside tests; false stands for a server that ignores the conditions.
        conditions: bool,
    },
    S3 {
        repo: Box<Repository>,
    },
}

impl Store {
    pub fn open(spec: &RepositorySpec) -> Result<Store, RepoError> {
        Ok(match parse_location(&spec.url)? {
            Location::Local(root) => Store::Local {
                dir: root.join("locks"),
                conditions: true,
            },
            Location::S3 { .. } => Store::S3 {
                repo: Box::new(Repository::open(spec)?),
            },
        })
    }

    /// Names the lock object for messages.
    pub fn describe(&self) -> String {
        match self {
            Store::Local { dir, .. } => dir.join("repository.lock").display().to_string(),
            Store::S3 { repo } => format!("{}/{LOCK_OBJECT}", repo.url().trim_end_matches('/')),
        }
    }

    pub async fn read(&self, times: LeaseTimes) -> Result<Option<Seen>, RepoError> {
        match self {
            Store::Local { dir, .. } => {
                let dir = dir.clone();
                let read = tokio::task::spawn_blocking(move || local_read(&dir)).await;
                let (bytes, modified) = match read {
                    Ok(Ok(Some(found))) => found,
                    Ok(Ok(None)) => return Ok(None),
                    Ok(Err(e)) => return Err(local_error("read", e)),
                    Err(e) => return Err(local_error("read", std::io::Error::other(e))),
                };
                let tag = String::from_utf8_lossy(&bytes).into_owned();
                Ok(Some(seen(&bytes, tag, modified, times)))
            }
            Store::S3 { repo } => s3_read(repo, times).await,
        }
    }

    pub async fn create(&self, record: &LeaseRecord) -> Result<Cond, RepoError> {
        let bytes = to_bytes(record);
        match self {
            Store::Local { dir, conditions } => {
                let (dir, run_id, conditions) = (dir.clone(), record.run_id.clone(), *conditions);
                blocking(move || match conditions {
                    true => local_create(&dir, &run_id, &bytes),
                    false => local_replace(&dir, &run_id, &bytes, None),
                })
                .await
            }
            Store::S3 { repo } => {
                let write = repo
                    .operator()
                    .write_with(LOCK_OBJECT, bytes)
                    .if_not_exists(true)
                    .await;
                s3_cond(repo, "create", write.map(|m| m.etag().map(str::to_string)))
            }
        }
    }

    /// Replaces the object if it is still the version `tag` names.
    pub async fn replace(&self, record: &LeaseRecord, tag: &str) -> Result<Cond, RepoError> {
        let bytes = to_bytes(record);
        match self {
            Store::Local { dir, conditions } => {
                let (dir, run_id, tag) = (dir.clone(), record.run_id.clone(), tag.to_string());
                let conditions = *conditions;
                blocking(move || {
                    local_replace(&dir, &run_id, &bytes, conditions.then_some(tag.as_str()))
                })
                .await
            }
            Store::S3 { repo } => {
                let write = repo
                    .operator()
                    .write_with(LOCK_OBJECT, bytes)
                    .if_match(tag)
                    .await;
                s3_cond(repo, "replace", write.map(|m| m.etag().map(str::to_string)))
            }
        }
    }

    /// Writes the object whatever is there: only on a server without conditional writes.
    pub async fn overwrite(&self, record: &LeaseRecord) -> Result<Option<String>, RepoError> {
        let bytes = to_bytes(record);
        match self {
            Store::Local { dir, .. } => {
                let (dir, run_id) = (dir.clone(), record.run_id.clone());
                match blocking(move || local_replace(&dir, &run_id, &bytes, None)).await? {
                    Cond::Done(tag) => Ok(tag),
                    _ => Ok(None),
                }
            }
            Store::S3 { repo } => repo
                .operator()
                .write(LOCK_OBJECT, bytes)
                .await
                .map(|m| m.etag().map(str::to_string))
                .map_err(|e| repo.storage_error("write", LOCK_OBJECT, e)),
        }
    }

    /// Deletes the object if it is still the version `tag` names (on S3 servers that ignore
    /// `If-Match` on a delete, the caller has just compared the run id).
    pub async fn delete(&self, tag: &str) -> Result<Cond, RepoError> {
        match self {
            Store::Local { dir, .. } => {
                let (dir, tag) = (dir.clone(), tag.to_string());
                blocking(move || local_delete(&dir, &tag)).await
            }
            Store::S3 { repo } => {
                let deleted = repo.operator().delete_with(LOCK_OBJECT).if_match(tag).await;
                s3_cond(repo, "delete", deleted.map(|()| None))
            }
        }
    }
}

fn to_bytes(record: &LeaseRecord) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(record).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

fn seen(bytes: &[u8], tag: String, modified: Option<DateTime<Utc>>, times: LeaseTimes) -> Seen {
    let record =
        serde_json::from_slice(bytes).unwrap_or_else(|_| LeaseRecord::unreadable(modified, times));
    Seen {
        record,
        tag,
        modified,
    }
}

async fn s3_read(repo: &Repository, times: LeaseTimes) -> Result<Option<Seen>, RepoError> {
    let op = repo.operator();
    // Stat then read that very version: a takeover between the two makes the read fail its
    // condition, and the loop looks again.
    for _ in 0..3 {
        let meta = match op.stat(LOCK_OBJECT).await {
            Ok(meta) => meta,
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(repo.storage_error("stat", LOCK_OBJECT, e)),
        };
        if meta.content_length() > MAX_BYTES {
            return Err(RepoError::TooLarge {
                url: repo.url().to_string(),
                path: LOCK_OBJECT.into(),
                size: meta.content_length(),
                max: MAX_BYTES,
            });
        }
        let modified = meta
            .last_modified()
            .map(|t| std::time::SystemTime::from(t).into());
        let read = match meta.etag() {
            Some(etag) => op.read_with(LOCK_OBJECT).if_match(etag).await,
            None => op.read(LOCK_OBJECT).await,
        };
        let bytes = match read {
            Ok(buffer) => buffer.to_vec(),
            Err(e) if e.kind() == opendal::ErrorKind::ConditionNotMatch => continue,
            Err(e) if e.kind() == opendal::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(repo.storage_error("read", LOCK_OBJECT, e)),
        };
        // Without an ETag the content stands in for one (compared before a release only).
        let tag = meta.etag().map_or_else(
            || String::from_utf8_lossy(&bytes).into_owned(),
            str::to_string,
        );
        return Ok(Some(seen(&bytes, tag, modified, times)));
    }
    Err(repo.storage_error(
        "read",
        LOCK_OBJECT,
        opendal::Error::new(
            opendal::ErrorKind::Unexpected,
            "the lock object changed under every read",
        ),
    ))
}

fn s3_cond(
    repo: &Repository,
    action: &'static str,
    result: opendal::Result<Option<String>>,
) -> Result<Cond, RepoError> {
    match result {
        Ok(tag) => Ok(Cond::Done(tag)),
        Err(e) if e.kind() == opendal::ErrorKind::ConditionNotMatch => Ok(Cond::Conflict),
        Err(e) if is_unsupported(&e) => Ok(Cond::Unsupported(e.to_string())),
        Err(e) => Err(repo.storage_error(action, LOCK_OBJECT, e)),
    }
}

/// A server that does not implement a conditional header says so with 501 Not Implemented (or
/// OpenDAL knows the service lacks it).
fn is_unsupported(e: &opendal::Error) -> bool {
    e.kind() == opendal::ErrorKind::Unsupported
        || e.to_string().contains("NotImplemented")
        || e.to_string().contains("501")
}

fn local_error(action: &'static str, e: std::io::Error) -> RepoError {
    RepoError::Storage {
        url: String::new(),
        action,
        path: LOCK_OBJECT.into(),
        source: Box::new(opendal::Error::new(
            opendal::ErrorKind::Unexpected,
            e.to_string(),
        )),
    }
}

async fn blocking(
    f: impl FnOnce() -> std::io::Result<Cond> + Send + 'static,
) -> Result<Cond, RepoError> {
    match tokio::task::spawn_blocking(f).await {
        Ok(Ok(cond)) => Ok(cond),
        Ok(Err(e)) => Err(local_error("write", e)),
        Err(e) => Err(local_error("write", std::io::Error::other(e))),
    }
}

fn lock_file(dir: &Path) -> PathBuf {
    dir.join("repository.lock")
}

/// The lock file's bytes and modification time.
type Found = (Vec<u8>, Option<DateTime<Utc>>);

fn local_read(dir: &Path) -> std::io::Result<Option<Found>> {
    let path = lock_file(dir);
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => return Err(e),
    };
    let modified = std::fs::metadata(&path)
        .and_then(|m| m.modified())
        .ok()
        .map(DateTime::<Utc>::from);
    Ok(Some((bytes, modified)))
}

/// Holds an exclusive `flock` on the guard file while it lives: every compare-and-write of the
/// local lock file happens under it, and the kernel drops it if the process dies.
struct Guard(#[allow(dead_code)] std::fs::File);

fn guard(dir: &Path) -> std::io::Result<Guard> {
    std::fs::create_dir_all(dir)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join("repository.lock.guard"))?;
    // SAFETY: flock on a file descriptor we own; blocks for another holder's compare-and-write.
    if unsafe { libc::flock(file.as_raw_fd(), libc::LOCK_EX) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(Guard(file))
}

fn write_temp(dir: &Path, run_id: &str, bytes: &[u8]) -> std::io::Result<PathBuf> {
    let tmp = dir.join(format!("repository.lock.{run_id}.tmp"));
    let mut file = std::fs::File::create(&tmp)?;
    file.write_all(bytes)?;
    file.sync_all()?;
    Ok(tmp)
}

fn local_create(dir: &Path, run_id: &str, bytes: &[u8]) -> std::io::Result<Cond> {
    let _guard = guard(dir)?;
    let tmp = write_temp(dir, run_id, bytes)?;
    // A hard link fails if the name exists: the exclusive create, of a complete file.
    let linked = std::fs::hard_link(&tmp, lock_file(dir));
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(Cond::Done(Some(
            String::from_utf8_lossy(bytes).into_owned(),
        ))),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(Cond::Conflict),
        Err(e) => Err(e),
    }
}

fn local_replace(
    dir: &Path,
    run_id: &str,
    bytes: &[u8],
    tag: Option<&str>,
) -> std::io::Result<Cond> {
    let _guard = guard(dir)?;
    if let Some(tag) = tag {
        match local_read(dir)? {
            Some((now, _)) if String::from_utf8_lossy(&now) == tag => {}
            _ => return Ok(Cond::Conflict),
        }
    }
    let tmp = write_temp(dir, run_id, bytes)?;
    std::fs::rename(&tmp, lock_file(dir))?;
    Ok(Cond::Done(Some(
        String::from_utf8_lossy(bytes).into_owned(),
    )))
}

fn local_delete(dir: &Path, tag: &str) -> std::io::Result<Cond> {
    let _guard = guard(dir)?;
    match local_read(dir)? {
        Some((now, _)) if String::from_utf8_lossy(&now) == tag => {
            std::fs::remove_file(lock_file(dir))?;
            Ok(Cond::Done(None))
        }
        _ => Ok(Cond::Conflict),
    }
}
