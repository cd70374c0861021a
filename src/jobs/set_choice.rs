//! Which set a command means: `latest` or a set id, checked against the repository's listing.
//! `verify`, `restore` and `drill` (and the console's drill) all resolve through here, so a
//! missing set reads the same everywhere and is a usage error before any work or record.

use super::inventory::{self, Inventory};
use crate::storage::repository::Repository;
use crate::storage::setid::SetId;

#[derive(Debug, thiserror::Error)]
pub enum SetChoiceError {
    /// `reason` says what a set id looks like (the text is named once, not twice).
    #[error("`{text}` is not a set id or `latest` ({reason}; see `lifeboat list`)")]
    NotAnId { text: String, reason: String },
    #[error("no set `{id}` in {repository} (see `lifeboat list` for the sets there)")]
    NoSuchSet { id: String, repository: String },
    #[error(
        "no complete set in {0} that can be `latest` (safety backups and sets dated in the future never are: name the set)"
    )]
    NoLatest(String),
    #[error("cannot list {repository}: {reason}")]
    Unlisted { repository: String, reason: String },
}

impl SetChoiceError {
    /// The operator named something that is not there: a usage error, not a failure.
    pub fn is_usage(&self) -> bool {
        !matches!(self, SetChoiceError::Unlisted { .. })
    }
}

/// The set `text` names in `inventory`: `latest`, or an id that has objects in the repository
/// (an incomplete set is found, so that verify and restore can say what is wrong with it).
pub fn choose(inventory: &Inventory, url: &str, text: &str) -> Result<SetId, SetChoiceError> {
    if text == "latest" {
        return inventory
            .latest(chrono::Utc::now())
            .map(|s| s.id.clone())
            .ok_or_else(|| SetChoiceError::NoLatest(url.to_string()));
    }
    let id = SetId::parse(text).map_err(|_| SetChoiceError::NotAnId {
        text: text.to_string(),
        reason: format!("expected {}", crate::storage::setid::SET_ID_FORMAT),
    })?;
    match inventory.find(&id) {
        Some(_) => Ok(id),
        None => Err(SetChoiceError::NoSuchSet {
            id: id.to_string(),
            repository: url.to_string(),
        }),
    }
}

/// [`choose`] after listing `repo`.
pub async fn resolve(repo: &Repository, text: &str) -> Result<SetId, SetChoiceError> {
    let inventory = inventory::scan(repo)
        .await
        .map_err(|e| SetChoiceError::Unlisted {
            repository: repo.url().to_string(),
            reason: e.to_string(),
        })?;
    choose(&inventory, repo.url(), text)
}
