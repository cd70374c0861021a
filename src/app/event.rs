//! Events that reach `update`: keys already resolved to actions, the clock, the terminal's
//! size, and what background tasks report (loads, preflights, job progress and results).

use super::action::Action;
use super::reload::ConsoleSettings;
use super::state::Snapshot;
use crate::jobs::index::LoadProgress;
use crate::jobs::preflight::PreflightReport;
use crate::jobs::progress::JobEvent;
use crate::jobs::prune_plan::PrunePlan;
use crate::jobs::restore::RestorePlan;
use crate::jobs::status_preview::StatusPreview;
use crate::storage::retention::Candidate;
use crate::storage::setid::SetId;
use chrono::{DateTime, Utc};

#[derive(Debug)]
pub enum AppEvent {
    Action(Action),
    /// A character typed while the filter prompt is open.
    FilterChar(char),
    FilterBackspace,
    Tick(DateTime<Utc>),
    /// The reload interval passed: `update` decides whether to load again.
    ReloadDue,
    Resize(u16, u16),
    Scroll(i16),
    /// The dashboard's preliminary verdict, read before the full listing (first load only).
    Previewed(Box<StatusPreview>),
    /// What a load knows so far (a remote repository's cached index, or a cold load's sets
    /// read so far with their count); the load goes on.
    Partial(Box<Snapshot>, Option<LoadProgress>),
    Loaded(Result<Box<Snapshot>, String>),
    Preflight(Box<PreflightReport>),
    Job {
        id: u64,
        event: JobEvent,
    },
    JobDone {
        id: u64,
        outcome: JobOutcome,
    },
    RetentionLoaded(Result<(Box<PrunePlan>, Vec<Candidate>), String>),
    /// A one-line result for the status bar.
    Notice(String),
    /// A pin was added or removed (the notice says which): the preview must be reloaded.
    PinsChanged(String),
    /// A restore dry run finished: the plan, and the name the operator must type to go on.
    RestorePlanned {
        id: u64,
        plan: Box<RestorePlan>,
        database: String,
    },
    /// The config was read again (`R`): what the console shows from it, or why it failed.
    ConfigReloaded(Result<Box<ConsoleSettings>, String>),
}

/// Defined beside the jobs it carries the results of, so `report` words it without importing
/// `app`.
pub use crate::jobs::runnable::JobOutcome;

/// What `update` asks the runtime to do. Executed outside `update`; results come back as events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    Load,
    /// Read the config file again, then answer with `AppEvent::ConfigReloaded`.
    ReloadConfig,
    Preflight,
    StartBackup {
        job: u64,
    },
    StartVerify {
        job: u64,
        set_id: SetId,
        decrypt: bool,
    },
    CancelJob {
        job: u64,
    },
    StartDrill {
        job: u64,
        set_id: Option<SetId>,
    },
    TickManual {
        job: u64,
        index: usize,
    },
    FinishManual {
        job: u64,
    },
    LoadRetention,
    Pin {
        set_id: SetId,
        note: String,
    },
    Unpin {
        set_id: SetId,
    },
    StartPrune {
        job: u64,
    },
    StartRestorePlan {
        job: u64,
        set_id: SetId,
    },
    StartRestore {
        job: u64,
        set_id: SetId,
    },
    Quit,
}
