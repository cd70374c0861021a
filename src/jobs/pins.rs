//! Pins: the operator's "never delete this set" (a legal hold, the set before a migration). A pin
//! is a small JSON object, `pins/<set-id>.json` in the data repository, so it survives the host
//! that wrote it; prune reads every pin before it plans and again just before it deletes a set.
//! A pin that cannot be read is an error, never "not pinned": it might be the one that matters.

use crate::jobs::inventory::Inventory;
use crate::storage::layout::PINS_DIR;
use crate::storage::lock::{this_host, LockError, RepoLock};
use crate::storage::repository::{RepoError, Repository, RepositorySpec};
use crate::storage::setid::SetId;
use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A pin record is a few hundred bytes; anything much bigger is not one of ours.
const PIN_MAX_BYTES: u64 = 64 * 1024;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pin {
    pub set_id: String,
    /// Why the set is kept; shown as the reason ("pinned: legal hold").
    pub note: String,
    /// `user@host` of whoever pinned it.
    pub by: String,
    pub at: DateTime<Utc>,
}

#[derive(Debug, thiserror::Error)]
pub enum PinError {
    #[error(transparent)]
    Repo(#[from] RepoError),
    #[error(transparent)]
    Lock(#[from] LockError),
    #[error("set {set} is not a complete set in {repository}; `lifeboat list` shows the sets that can be pinned")]
    NoSuchSet { set: String, repository: String },
    #[error("set {set} is not pinned in {repository} (no {PINS_DIR}{set}.json)")]
    NotPinned { set: String, repository: String },
    #[error(
        "--note is empty: say why the set is pinned (the note is shown as the reason it is kept)"
    )]
    EmptyNote,
    #[error("`{path}` in {repository} is not a readable pin ({problem}); repair it, or remove it with `lifeboat unpin SET`")]
    Unreadable {
        path: String,
        repository: String,
        problem: String,
    },
}

pub fn pin_path(set_id: &str) -> String {
    format!("{PINS_DIR}{set_id}.json")
}

/// Who is acting, for the record: `user@host`.
pub fn operator() -> String {
    let user = std::env::var("USER")
        .or_else(|_| std::env::var("LOGNAME"))
        .unwrap_or_else(|_| {
            // SAFETY: getuid has no preconditions and cannot fail.
            format!("uid {}", unsafe { libc::getuid() })
        });
    format!("{user}@{}", this_host())
}

/// Holds the repository lock (`locks`: the host's lock directory) around a pin or unpin, so no
/// prune plans with a pin being written or removed, and two hosts do not pin at once.
pub async fn locked<T, F>(locks: &Path, spec: &RepositorySpec, change: F) -> Result<T, PinError>
where
    F: std::future::Future<Output = Result<T, PinError>>,
{
    let lock = RepoLock::acquire::<PinError>(locks, spec, "pin").await?;
    lock.warnings().iter().for_each(|w| tracing::warn!("{w}"));
    let result = change.await;
    // A lock object left behind is logged; the pin itself is done (or failed) either way.
    let _ = lock.release().await;
    result
}

/// Pins a complete set (or replaces the note of a pinned one).
pub async fn pin(
    repo: &Repository,
    inventory: &Inventory,
    id: &SetId,
    note: &str,
) -> Result<Pin, PinError> {
    let note = note.trim();
    if note.is_empty() {
        return Err(PinError::EmptyNote);
    }
    if !inventory.find(id).is_some_and(|s| s.is_complete()) {
        return Err(PinError::NoSuchSet {
            set: id.to_string(),
            repository: repo.url().to_string(),
        });
    }
    let record = Pin {
        set_id: id.to_string(),
        note: note.to_string(),
        by: operator(),
        at: Utc::now(),
    };
    let mut bytes = serde_json::to_vec_pretty(&record).map_err(|e| PinError::Unreadable {
        path: pin_path(id.as_str()),
        repository: repo.url().to_string(),
        problem: e.to_string(),
    })?;
    bytes.push(b'\n');
    repo.put(&pin_path(id.as_str()), bytes).await?;
    Ok(record)
}

/// Removes a pin; returns what it said, or `None` when it was unreadable (removing a damaged pin
/// is how the operator un-blocks prune, so it must not need the pin to parse).
pub async fn unpin(repo: &Repository, id: &SetId) -> Result<Option<Pin>, PinError> {
    let path = pin_path(id.as_str());
    if !repo.exists(&path).await? {
        return Err(PinError::NotPinned {
            set: id.to_string(),
            repository: repo.url().to_string(),
        });
    }
    let record = match read(repo, &path).await {
        Ok(pin) => Some(pin),
        Err(PinError::Unreadable { .. }) => None,
        Err(e) => return Err(e),
    };
    repo.delete(&path).await?;
    Ok(record)
}

/// Every pin the inventory lists, oldest set first. Any pin that cannot be read or parsed, or
/// whose name does not match its set, fails the whole load.
pub async fn load(repo: &Repository, inventory: &Inventory) -> Result<Vec<Pin>, PinError> {
    let mut pins = Vec::new();
    for object in &inventory.pins {
        pins.push(read(repo, &object.path).await?);
    }
    pins.sort_by(|a, b| a.set_id.cmp(&b.set_id));
    Ok(pins)
}

/// Whether a set is pinned right now (prune asks again just before deleting).
pub async fn is_pinned(repo: &Repository, set_id: &str) -> Result<bool, RepoError> {
    repo.exists(&pin_path(set_id)).await
}

async fn read(repo: &Repository, path: &str) -> Result<Pin, PinError> {
    let bytes = repo.get_small(path, PIN_MAX_BYTES).await?;
    parse(path, &bytes).map_err(|problem| PinError::Unreadable {
        path: path.to_string(),
        repository: repo.url().to_string(),
        problem,
    })
}

fn parse(path: &str, bytes: &[u8]) -> Result<Pin, String> {
    let value: serde_json::Value =
        serde_json::from_slice(bytes).map_err(|e| format!("not a pin record: {e}"))?;
    if let Some(field) = crate::storage::control_text::find(&value, &['\n', '\t']) {
        return Err(format!(
            "a control character in `{field}`; lifeboat writes none there, so the pin was altered"
        ));
    }
    let pin = Pin::deserialize(value).map_err(|e| format!("not a pin record: {e}"))?;
    let expected = format!("{PINS_DIR}{}.json", pin.set_id);
    if path != expected {
        return Err(format!(
            "it pins set {} but is named `{path}`, not `{expected}`",
            pin.set_id
        ));
    }
    SetId::parse(&pin.set_id).map_err(|e| e.to_string())?;
    Ok(pin)
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID: &str = "20261122T020000Z-3f9a";

    fn record(set: &str) -> Vec<u8> {
        serde_json::to_vec(&Pin {
            set_id: set.into(),
            note: "legal hold".into(),
            by: "ops@db1".into(),
            at: Utc::now(),
        })
        .unwrap()
    }

    #[test]
    fn a_pin_must_match_its_name_and_be_a_pin() {
        let path = format!("pins/{ID}.json");
        assert_eq!(parse(&path, &record(ID)).unwrap().note, "legal hold");
        let other = parse("pins/20261122T030000Z-0000.json", &record(ID)).unwrap_err();
        assert!(other.contains("is named"), "{other}");
        assert!(parse(&path, b"{}").unwrap_err().contains("not a pin"));
        assert!(parse("pins/x.json", &record("x")).is_err());
        let escaped = String::from_utf8(record(ID))
            .unwrap()
            .replace("legal hold", "legal hold\\u001b]0;owned\\u0007");
        let err = parse(&path, escaped.as_bytes()).unwrap_err();
        assert!(err.contains("control character in `note`"), "{err}");
    }

    #[tokio::test]
    async fn pin_and_unpin_round_trip_in_a_local_repository() {
        let dir = tempfile::tempdir().unwrap();
        let spec = crate::storage::repository::RepositorySpec::new(dir.path().to_string_lossy());
        let repo = Repository::open(&spec).unwrap();
        let id = SetId::parse(ID).unwrap();
        let empty = Inventory::default();
        assert!(matches!(
            pin(&repo, &empty, &id, "hold").await,
            Err(PinError::NoSuchSet { .. })
        ));
        repo.put(&pin_path(id.as_str()), record(ID)).await.unwrap();
        let inventory = crate::jobs::inventory::scan(&repo).await.unwrap();
        assert_eq!(inventory.pins.len(), 1);
        assert!(inventory.strays.is_empty());
        assert_eq!(load(&repo, &inventory).await.unwrap()[0].set_id, ID);
        assert!(is_pinned(&repo, ID).await.unwrap());
        assert_eq!(
            unpin(&repo, &id).await.unwrap().map(|p| p.note),
            Some("legal hold".to_string())
        );
        assert!(!is_pinned(&repo, ID).await.unwrap());
        assert!(matches!(
            unpin(&repo, &id).await,
            Err(PinError::NotPinned { .. })
        ));
        // A damaged pin blocks prune, so unpin must remove it without parsing it.
        repo.put(&pin_path(id.as_str()), b"{not json".to_vec())
            .await
            .unwrap();
        let inventory = crate::jobs::inventory::scan(&repo).await.unwrap();
        assert!(matches!(
            load(&repo, &inventory).await,
            Err(PinError::Unreadable { .. })
        ));
        assert_eq!(unpin(&repo, &id).await.unwrap(), None);
        assert!(!is_pinned(&repo, ID).await.unwrap());
    }
}
