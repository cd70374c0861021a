//! Jobs: plain async functions `(spec, dependencies, progress reporter, cancellation token) ->
//! outcome`, and for the long ones the same as a `job::Job` (see `runnable`) that one spawn
//! function runs. They use `storage` and never import `app` or `ui`; the console and the CLI
//! run the same jobs.

pub mod backup;
pub mod download;
pub mod drill;
pub mod drill_record;
pub mod exit_code;
pub mod fetch;
pub mod index;
pub mod inventory;
pub mod job;
pub mod leftovers;
pub mod open_uploads;
pub mod pins;
pub mod pipeline;
pub mod preflight;
pub mod progress;
pub mod prune;
pub mod prune_plan;
pub mod readback;
pub mod recover;
pub mod restore;
pub mod restore_db;
pub mod restore_journal;
pub mod restore_roles;
pub mod retention_sim;
pub mod runnable;
pub mod scratch;
pub mod set_choice;
pub mod spool;
pub mod status;
pub mod status_preview;
pub mod tar_source;
pub mod upload;
pub mod verify;
pub mod wal;

pub use tokio_util::sync::CancellationToken;
