//! Actions: what a key (or a click) asks for. Named in `assets/keymap.toml`, so bindings are
//! data, and the help overlay and status-bar hints are generated from the same table.

use serde::Deserialize;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Quit,
    /// Ctrl-c: like quit, but from anywhere, including modals and the filter prompt.
    Interrupt,
    NextScreen,
    PrevScreen,
    ShowDashboard,
    ShowHistory,
    ShowInventory,
    ShowJobs,
    ShowRetention,
    ShowDrills,
    Up,
    Down,
    PageUp,
    PageDown,
    Top,
    Bottom,
    Open,
    Back,
    Filter,
    Help,
    Refresh,
    GuidedBackup,
    Verify,
    VerifyDecrypt,
    CancelJob,
    StartDrill,
    Restore,
    Pin,
    Prune,
    SimulateLonger,
    SimulateShorter,
    SimulateStop,
    TickStep,
    FinishSteps,
    Confirm,
    Deny,
}
