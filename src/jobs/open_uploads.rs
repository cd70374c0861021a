//! Which open multipart uploads a backup or prune aborts, while it holds the repository lock.
//! A run that fails aborts its own upload; one that is SIGKILLed cannot, and its parts stay on
//! the server (billed, invisible to listings) until someone aborts them.
//!
//! Whose upload is it? The key says: `sets/<set-id>/...`, and a set id is the run id of the
//! backup that wrote it.
//! - A set id that this host's journal records as a run to this repository: that run is dead,
//!   since this caller holds the lock every run of this host takes for this repository. Its
//!   upload is aborted whatever its age (no clock is involved).
//! - Anything else (another host's run, or a key outside a set folder): this host cannot tell
//!   a live writer from a dead one, so only an upload older than [`FOREIGN_MIN_AGE`] when this
//!   run started goes: longer than any backup runs (the default `[backup].timeout` is far
//!   shorter), with room for any clock skew. Older by both clocks that say: the server's
//!   `Initiated` and, under a set folder, the set id (the writing run's start, which no upload
//!   of it precedes). Some servers report a made-up `Initiated` (moto: always 2010), so that
//!   alone never condemns a recent set's upload.

use crate::storage::journal::{Journal, RunKind};
use crate::storage::layout;
use crate::storage::lock::this_host;
use crate::storage::repository::{RepoError, RepositorySpec};
use crate::storage::s3_uploads::{Listing, OpenUpload, S3Uploads, UploadsError};
use chrono::{DateTime, Utc};
use std::collections::HashSet;
use std::time::Duration;

/// An upload this host cannot attribute is left alone until it is this old (as a local
/// repository's temporaries are, see `leftovers`).
pub const FOREIGN_MIN_AGE: Duration = Duration::from_secs(24 * 3600);

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Swept {
    pub aborted: Vec<OpenUpload>,
    /// Open uploads left alone (a live run's, maybe), or whose abort failed.
    pub kept: Vec<OpenUpload>,
    /// Aborts that failed, as messages.
    pub failures: Vec<String>,
    /// The server cannot list open uploads.
    pub unsupported: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum SweepError {
    #[error(transparent)]
    Repository(#[from] RepoError),
    #[error(transparent)]
    Uploads(#[from] UploadsError),
}

/// The set ids of this host's runs to `repository_url`, as the journal records them (an
/// unreadable journal attributes nothing: only the age rule applies then).
pub fn own_set_ids(journal: &Journal, repository_url: &str) -> HashSet<String> {
    let host = this_host();
    journal
        .read()
        .map(|view| {
            view.runs
                .into_iter()
                .filter(|r| {
                    r.kind == RunKind::Backup && r.host == host && r.destination == repository_url
                })
                .filter_map(|r| r.set_id)
                .collect()
        })
        .unwrap_or_default()
}

/// Whether the caller, holding the lock, may abort `upload`; `own_run` is the caller's own set
/// id (never aborted), `started_at` when the caller's run began.
pub fn abandoned(
    upload: &OpenUpload,
    own_sets: &HashSet<String>,
    own_run: Option<&str>,
    started_at: DateTime<Utc>,
) -> bool {
    let set = layout::parse_object_path(&upload.path).map(|(id, _)| id);
    if let Some(set) = &set {
        if Some(set.as_str()) == own_run {
            return false;
        }
        if own_sets.contains(set.as_str()) {
            return true;
        }
    }
    let min_age = chrono::Duration::from_std(FOREIGN_MIN_AGE).unwrap_or(chrono::Duration::MAX);
    let old = |t: DateTime<Utc>| t < started_at - min_age;
    upload.initiated.is_some_and(old) && set.is_none_or(|set| old(set.time()))
}

/// Lists the open uploads of the repository in `spec` and aborts the abandoned ones. A local
/// repository has none.
pub async fn sweep(
    spec: &RepositorySpec,
    journal: &Journal,
    own_run: Option<&str>,
    started_at: DateTime<Utc>,
) -> Result<Swept, SweepError> {
    let mut swept = Swept::default();
    let Some(uploads) = S3Uploads::open(spec)? else {
        return Ok(swept);
    };
    let open = match uploads.list().await? {
        Listing::Open(open) => open,
        Listing::Unsupported => {
            swept.unsupported = true;
            return Ok(swept);
        }
    };
    if open.is_empty() {
        return Ok(swept);
    }
    let own_sets = own_set_ids(journal, &spec.url);
    for upload in open {
        if !abandoned(&upload, &own_sets, own_run, started_at) {
            swept.kept.push(upload);
            continue;
        }
        match uploads.abort(&upload).await {
            Ok(()) => swept.aborted.push(upload),
            Err(e) => {
                swept.failures.push(e.to_string());
                swept.kept.push(upload);
            }
        }
    }
    Ok(swept)
}

/// What `inventory` shows about open uploads.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Listed {
    /// A local repository: no such thing.
    NotApplicable,
    Open(Vec<OpenUpload>),
    /// The server cannot list them.
    Unsupported,
    /// The listing failed, with why.
    Failed(String),
}

/// Lists the open uploads of the repository in `spec`, aborting nothing (`inventory` takes no
/// lock, so it cannot tell a live writer's upload from a dead one's).
pub async fn list(spec: &RepositorySpec) -> Listed {
    let uploads = match S3Uploads::open(spec) {
        Ok(Some(uploads)) => uploads,
        Ok(None) => return Listed::NotApplicable,
        Err(e) => return Listed::Failed(e.to_string()),
    };
    match uploads.list().await {
        Ok(Listing::Open(open)) => Listed::Open(open),
        Ok(Listing::Unsupported) => Listed::Unsupported,
        Err(e) => Listed::Failed(e.to_string()),
    }
}

/// One line naming an upload, for logs and listings.
pub fn describe(upload: &OpenUpload) -> String {
    let initiated = upload
        .initiated
        .map(|t| t.format("%Y-%m-%d %H:%M:%SZ").to_string())
        .unwrap_or_else(|| "at an unknown time".into());
    format!(
        "`{}` (upload id {}, initiated {initiated})",
        upload.path, upload.upload_id
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::storage::setid::SetId;

    fn upload(path: &str, hours_ago: i64, now: DateTime<Utc>) -> OpenUpload {
        OpenUpload {
            path: path.into(),
            upload_id: "u".into(),
            initiated: Some(now - chrono::Duration::hours(hours_ago)),
        }
    }

    #[test]
    fn only_dead_runs_of_this_host_and_old_foreign_uploads_go() {
        let now = Utc::now();
        let own: HashSet<String> = ["20261204T100000Z-aaaa".to_string()].into();
        let mine = "20261204T120000Z-bbbb";
        // A dead run of this host: aborted even if it began a second ago.
        let dead = upload("sets/20261204T100000Z-aaaa/db.dump.zst", 0, now);
        assert!(abandoned(&dead, &own, Some(mine), now));
        // This run's own upload: never.
        let running = upload(&format!("sets/{mine}/db.dump.zst"), 30, now);
        let with_mine: HashSet<String> = [mine.to_string()].into();
        assert!(!abandoned(&running, &with_mine, Some(mine), now));
        // Another host's (unknown set id): only once older than a day, by the server's
        // clock and by the set id's.
        let set_at = |hours_ago: i64| SetId::new(now - chrono::Duration::hours(hours_ago));
        let foreign = upload(&format!("sets/{}/db.dump.zst", set_at(3)), 3, now);
        assert!(!abandoned(&foreign, &own, Some(mine), now));
        let stale = upload(&format!("sets/{}/db.dump.zst", set_at(26)), 25, now);
        assert!(abandoned(&stale, &own, Some(mine), now));
        let made_up = upload(&format!("sets/{}/db.dump.zst", set_at(1)), 24 * 365, now);
        assert!(!abandoned(&made_up, &own, Some(mine), now));
        // Outside any set folder, or with no initiation time: the age rule, or kept.
        assert!(!abandoned(&upload("stray", 3, now), &own, None, now));
        let undated = OpenUpload {
            initiated: None,
            ..upload("stray", 0, now)
        };
        assert!(!abandoned(&undated, &own, None, now));
    }
}
