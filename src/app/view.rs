//! What the console's drawing code (`ui`) may name besides `state`: the job-layer types that
//! the state carries, and the few derived views ui shows. ui imports app only (this, `state`,
//! `keymap`, `inventory_tree`) and the report module, so the job layer can change shape
//! without ui following it.

pub use crate::jobs::drill_record::{DrillRecord, RecordKind};
pub use crate::jobs::progress::Progress;
pub use crate::jobs::restore::RestorePlan;
pub use crate::jobs::status::Health;
pub use crate::jobs::wal::WalState;
pub use crate::storage::journal::DrillSummary;

pub use super::dialog_layout;
pub use super::fleet::{FleetRow, RowError};
pub use super::screens::fleet::{verdict as fleet_verdict, FleetState, Severity};
pub use super::screens::recover::{
    Field, PlanView, Prompt, RecoverState, RunView, Stage as RecoverStage, F_KEY, F_LIST,
    F_PASSFILE, T_DATADIR, T_KIND, T_PLAN, T_URL,
};
pub use super::set_log::lines as set_log;
pub use crate::jobs::recover::worker::Worker;
pub use crate::jobs::recover::{RemoteSet, Runbook, StepRecord, StepState, DEFAULT_MANUAL_STEPS};

/// A drill record's report, as the auditor reads it (`lifeboat drill report` prints the same).
pub fn drill_report(record: &DrillRecord) -> String {
    crate::report::drill::markdown(record)
}
