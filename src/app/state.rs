//! The console's state: plain data, written only by `update`, read by `ui`. No channels, no
//! handles, no I/O: everything here can be built in a test and rendered to a buffer.

use super::history::HistoryRow;
use super::inventory_tree::TreeRow;
use super::keymap::Keymap;
use super::retention_state::RetentionState;
use crate::jobs::drill_record::DrillRecord;
use crate::jobs::inventory::Inventory;
use crate::jobs::preflight::PreflightReport;
use crate::jobs::progress::Progress;
use crate::jobs::restore::RestorePlan;
use crate::jobs::status::StatusReport;
use crate::jobs::status_preview::StatusPreview;
use crate::storage::journal::JournalView;
use crate::storage::setid::SetId;
use chrono::{DateTime, Utc};
use std::collections::{BTreeSet, VecDeque};

pub const JOB_LOG_LINES: usize = 500;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    Dashboard,
    History,
    Inventory,
    Jobs,
    Retention,
    Drills,
}

impl Screen {
    pub const ALL: [Screen; 6] = [
        Screen::Dashboard,
        Screen::History,
        Screen::Inventory,
        Screen::Jobs,
        Screen::Retention,
        Screen::Drills,
    ];

    pub fn title(self) -> &'static str {
        match self {
            Screen::Dashboard => "Dashboard",
            Screen::History => "History",
            Screen::Inventory => "Inventory",
            Screen::Jobs => "Jobs",
            Screen::Retention => "Retention",
            Screen::Drills => "Drills",
        }
    }

    pub fn index(self) -> usize {
        Screen::ALL.iter().position(|s| *s == self).unwrap_or(0)
    }

    pub fn next(self) -> Screen {
        Screen::ALL[(self.index() + 1) % Screen::ALL.len()]
    }

    pub fn prev(self) -> Screen {
        Screen::ALL[(self.index() + Screen::ALL.len() - 1) % Screen::ALL.len()]
    }
}

/// What the repository and the journal said at the last load.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub status: StatusReport,
    pub inventory: Option<Inventory>,
    pub journal: JournalView,
    pub history: Vec<HistoryRow>,
    /// Drill records from the repository, newest first.
    pub drills: Vec<DrillRecord>,
    pub loaded_at: DateTime<Utc>,
}

/// What the config says about drills, for the Drills screen.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DrillSettings {
    pub rto_target_seconds: f64,
    pub rpo_target_seconds: f64,
    pub every_seconds: u64,
    pub manual_steps: Vec<String>,
}

/// A phase of a running job, for live timers.
#[derive(Debug, Clone, PartialEq)]
pub struct PhaseTiming {
    pub name: String,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The job's own measure once it finished (a drill's record); until then the console
    /// times the phase from its events.
    pub seconds: Option<f64>,
    /// False for a phase the job's record marks failed.
    pub ok: bool,
}

/// A manual drill step as the operator sees it while the drill runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChecklistItem {
    pub step: String,
    pub done: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobKind {
    Backup,
    Verify { set_id: SetId, decrypt: bool },
    Drill { set_id: Option<SetId> },
    RestorePlan { set_id: SetId },
    Restore { set_id: SetId },
    Prune,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum JobStatus {
    Running,
    Succeeded(String),
    Failed(String),
    Cancelled(String),
}

impl JobStatus {
    pub fn is_running(&self) -> bool {
        matches!(self, JobStatus::Running)
    }
}

#[derive(Debug, Clone)]
pub struct JobState {
    pub id: u64,
    pub kind: JobKind,
    pub phase: String,
    pub progress: Option<Progress>,
    pub log: VecDeque<String>,
    pub status: JobStatus,
    pub started_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
    /// The set a backup produced, once known.
    pub set_id: Option<SetId>,
    /// Phases seen so far, with their times (drills show them as a checklist).
    pub phases: Vec<PhaseTiming>,
    /// A drill's manual steps.
    pub checklist: Vec<ChecklistItem>,
    /// The cursor in the checklist.
    pub checklist_cursor: usize,
}

impl JobState {
    pub fn title(&self) -> String {
        match &self.kind {
            JobKind::Backup => "backup".into(),
            JobKind::Drill { set_id: Some(id) } => format!("drill {id}"),
            JobKind::Drill { set_id: None } => "drill (newest set)".into(),
            JobKind::RestorePlan { set_id } => format!("restore dry run {set_id}"),
            JobKind::Prune => "prune".into(),
            JobKind::Restore { set_id } => format!("RESTORE {set_id}"),
            JobKind::Verify {
                set_id,
                decrypt: false,
            } => format!("verify {set_id}"),
            JobKind::Verify {
                set_id,
                decrypt: true,
            } => format!("verify+decrypt {set_id}"),
        }
    }

    pub fn push_log(&mut self, line: String) {
        if self.log.len() == JOB_LOG_LINES {
            self.log.pop_front();
        }
        self.log.push_back(line);
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum WizardStep {
    Checking,
    /// The report, scrolled by `scroll` rows where the terminal is too short for all of it.
    Ready {
        report: Box<PreflightReport>,
        scroll: usize,
    },
}

#[derive(Debug, Clone, PartialEq)]
pub enum Modal {
    /// The keys, scrolled by `scroll` rows where the terminal is too short for all of them.
    Help {
        scroll: usize,
    },
    /// The detail pane of one history row (by index into the unfiltered history), and when
    /// that run started: a reload that adds rows above it finds the same run again by it.
    Detail {
        row: usize,
        started_at: DateTime<Utc>,
    },
    ConfirmQuit,
    ConfirmCancel {
        job: u64,
    },
    Wizard(WizardStep),
    OfferVerify {
        set_id: SetId,
    },
    /// The note for a new pin, being typed.
    PinNote {
        set_id: SetId,
        typed: String,
    },
    /// Prune: exactly what goes.
    ConfirmPrune {
        sets: usize,
        garbage: usize,
        bytes: u64,
    },
    /// The dry run passed: the operator types the target database's name to restore.
    ConfirmRestore {
        plan: Box<RestorePlan>,
        database: String,
        typed: String,
        /// Rows of the plan scrolled out of view above (the typed-name line never scrolls).
        scroll: usize,
    },
    /// The detail of one inventory object (an object of a set, a pin, a stray, a spooled set).
    ObjectDetail(Box<TreeRow>),
    /// A drill record's report (by index into the snapshot's drills), scrolled by `scroll` lines.
    DrillReport {
        index: usize,
        scroll: usize,
    },
}

/// A list's cursor and filter.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ListCursor {
    pub selected: usize,
    pub filter: String,
}

#[derive(Debug, Clone)]
pub struct AppState {
    pub screen: Screen,
    pub snapshot: Option<Snapshot>,
    /// The dashboard's preliminary verdict while the first full load runs (never beside a
    /// snapshot).
    pub preview: Option<StatusPreview>,
    pub loading: bool,
    /// A cold load of a remote repository: manifests read, of set folders found.
    pub load_progress: Option<(usize, usize)>,
    pub load_error: Option<String>,
    pub history: ListCursor,
    pub inventory: ListCursor,
    /// Set ids whose objects are shown in the inventory tree.
    pub expanded: BTreeSet<String>,
    pub jobs: Vec<JobState>,
    pub selected_job: usize,
    pub modal: Option<Modal>,
    /// While typing a filter: the text so far.
    pub filter_input: Option<String>,
    pub width: u16,
    pub height: u16,
    pub no_color: bool,
    pub should_quit: bool,
    /// Opened from the fleet screen (this application's name): the back key on the dashboard
    /// returns there.
    pub fleet_app: Option<String>,
    /// Set with `should_quit` when the operator goes back to the fleet.
    pub back_to_fleet: bool,
    pub next_job_id: u64,
    pub repository: String,
    pub config_path: String,
    /// The clock as of the last tick; rendering uses it, so a frame is a pure function of state.
    pub now: DateTime<Utc>,
    /// A one-line notice in the status bar (the last error or result).
    pub notice: Option<String>,
    /// When the notice was said (it expires, see `screens::notice`).
    pub notice_since: Option<DateTime<Utc>>,
    /// The job the notice is about; a later job's start takes it away.
    pub notice_job: Option<u64>,
    /// The keys as bound, so notices and hints name the operator's keys.
    pub keymap: Keymap,
    pub drill_settings: DrillSettings,
    /// The cursor in the drill history.
    pub selected_drill: usize,
    pub retention: RetentionState,
}

impl AppState {
    pub fn new(repository: String, config_path: String, now: DateTime<Utc>) -> AppState {
        AppState {
            screen: Screen::Dashboard,
            snapshot: None,
            preview: None,
            loading: false,
            load_progress: None,
            load_error: None,
            history: ListCursor::default(),
            inventory: ListCursor::default(),
            expanded: BTreeSet::new(),
            jobs: Vec::new(),
            selected_job: 0,
            modal: None,
            filter_input: None,
            width: 80,
            height: 24,
            no_color: false,
            should_quit: false,
            fleet_app: None,
            back_to_fleet: false,
            next_job_id: 1,
            repository,
            config_path,
            now,
            notice: None,
            notice_since: None,
            notice_job: None,
            keymap: Keymap::default_keymap(),
            drill_settings: DrillSettings::default(),
            selected_drill: 0,
            retention: RetentionState::default(),
        }
    }

    /// Keys type text (the filter prompt, the restore confirmation) instead of acting.
    pub fn text_input_active(&self) -> bool {
        self.filter_input.is_some()
            || matches!(
                self.modal,
                Some(Modal::ConfirmRestore { .. } | Modal::PinNote { .. })
            )
    }

    pub fn running_jobs(&self) -> usize {
        self.jobs.iter().filter(|j| j.status.is_running()).count()
    }

    /// The running drill job, if any.
    pub fn running_drill(&self) -> Option<u64> {
        self.jobs
            .iter()
            .find(|j| j.status.is_running() && matches!(j.kind, JobKind::Drill { .. }))
            .map(|j| j.id)
    }

    pub fn job(&self, id: u64) -> Option<&JobState> {
        self.jobs.iter().find(|j| j.id == id)
    }

    pub fn job_mut(&mut self, id: u64) -> Option<&mut JobState> {
        self.jobs.iter_mut().find(|j| j.id == id)
    }

    /// Body rows available to lists (screen minus tab bar, status bar and borders).
    pub fn list_height(&self) -> usize {
        usize::from(self.height.saturating_sub(6)).max(1)
    }
}
