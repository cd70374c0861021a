//! Why a drill did not start, and why one that started did not get through its phases. Their
//! text is what the operator reads: the error of a drill that did not run, or the first of a
//! failed drill's reasons in its record.

use super::target::TargetError;
use crate::jobs::fetch::FetchError;
use crate::jobs::restore::RestoreError;
use crate::jobs::restore_db::DbError;
use crate::storage::gpg::GpgError;
use crate::storage::pg::PgError;
use crate::storage::roots::RootsError;
use crate::storage::setid::SetId;

/// The drill could not start: nothing was restored, so nothing is recorded as a drill.
#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error("cannot read the manifest of set {set}: {source}")]
    Manifest { set: SetId, source: Box<FetchError> },
    #[error("cannot reach the drill server {server}: {reason} (check [drill].server_url)")]
    Server { server: String, reason: PgError },
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
}

/// The phase that stopped a drill, and why.
#[derive(Debug, thiserror::Error)]
pub enum DrillFailure {
    /// The scratch directory for the downloads and the dump could not be made.
    #[error(transparent)]
    Scratch(Box<RestoreError>),
    #[error(transparent)]
    Fetch(Box<FetchError>),
    #[error(transparent)]
    Gpg(#[from] GpgError),
    /// An object did not read back whole (see `restore::decrypt_with`).
    #[error(transparent)]
    ReadBack(Box<RestoreError>),
    /// An archive the restore would refuse to place under the configured roots.
    #[error("{object}: {source}")]
    Placement { object: String, source: RootsError },
    /// The throwaway cluster or scratch database could not be made.
    #[error(transparent)]
    Target(#[from] TargetError),
    /// pg_restore, or the role decisions before it, failed on the throwaway target.
    #[error(transparent)]
    Restore(#[from] DbError),
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
    #[error("cancelled")]
    Cancelled,
}

impl From<FetchError> for DrillFailure {
    fn from(e: FetchError) -> Self {
        DrillFailure::Fetch(Box::new(e))
    }
}
