//! The fleet screen's state and reducer: one row per configured application, the cursor, the
//! help overlay, and what the operator asked for (open an application, quit). The loop in
//! `app::fleet_console` loads the rows (`app::fleet`) and runs an application's console on
//! Enter; `ui::fleet` draws. Pure: no I/O, no clock reads.

use crate::app::action::Action;
use crate::app::fleet::FleetRow;
use crate::jobs::status::Health;
use chrono::{DateTime, Utc};

#[derive(Debug, Clone)]
pub struct FleetState {
    /// The applications' names, in the order shown (known before their status is).
    pub apps: Vec<String>,
    /// Their rows once loaded (same order); None while the first load runs.
    pub rows: Option<Vec<FleetRow>>,
    pub selected: usize,
    pub loading: bool,
    pub help: bool,
    pub no_color: bool,
    pub now: DateTime<Utc>,
    /// Where the application files are, for the title.
    pub config_dir: String,
    /// Set by Enter: the loop opens this application's console.
    pub open: Option<usize>,
    pub should_quit: bool,
}

/// What the loop does after an action.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FleetEffect {
    None,
    Reload,
    Open(usize),
    Quit,
}

/// How bad a verdict is, for its symbol and colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Severity {
    Good,
    Warn,
    Bad,
}

impl FleetState {
    pub fn new(apps: Vec<String>, config_dir: String, now: DateTime<Utc>) -> FleetState {
        FleetState {
            apps,
            rows: None,
            selected: 0,
            loading: true,
            help: false,
            no_color: false,
            now,
            config_dir,
            open: None,
            should_quit: false,
        }
    }

    pub fn row(&self, i: usize) -> Option<&FleetRow> {
        self.rows.as_ref()?.get(i)
    }
}

pub fn on_loaded(state: &mut FleetState, rows: Vec<FleetRow>) {
    state.apps = rows.iter().map(|r| r.app.clone()).collect();
    state.selected = state.selected.min(rows.len().saturating_sub(1));
    state.rows = Some(rows);
    state.loading = false;
}

pub fn on_action(state: &mut FleetState, action: Action) -> FleetEffect {
    if state.help {
        if matches!(action, Action::Help | Action::Back | Action::Quit) {
            state.help = false;
        }
        return FleetEffect::None;
    }
    let last = state.apps.len().saturating_sub(1);
    match action {
        Action::Up => state.selected = state.selected.saturating_sub(1),
        Action::Down => state.selected = (state.selected + 1).min(last),
        Action::Top | Action::PageUp => state.selected = 0,
        Action::Bottom | Action::PageDown => state.selected = last,
        Action::Help => state.help = true,
        Action::Refresh if !state.loading => {
            state.loading = true;
            return FleetEffect::Reload;
        }
        Action::Open if !state.apps.is_empty() => {
            state.open = Some(state.selected);
            return FleetEffect::Open(state.selected);
        }
        Action::Quit | Action::Interrupt => {
            state.should_quit = true;
            return FleetEffect::Quit;
        }
        _ => {}
    }
    FleetEffect::None
}

/// The verdict as a symbol and a word, so it reads without colour: ✓ ok, ! for what is
/// growing stale or overdue, ✗ for what says a restore may fail, ? for an application whose
/// state cannot be read (its configuration or its status run failed).
pub fn verdict(row: &FleetRow) -> (&'static str, &'static str, Severity) {
    let health = match &row.outcome {
        Ok(r) => r.health,
        Err(_) => return ("?", "error", Severity::Bad),
    };
    match health {
        Health::Ok => ("✓", "ok", Severity::Good),
        Health::Stale => ("!", "stale", Severity::Warn),
        Health::NoBackup => ("!", "no backup", Severity::Warn),
        Health::DrillOverdue => ("!", "drill overdue", Severity::Warn),
        Health::VerificationStale => ("!", "verify stale", Severity::Warn),
        Health::OffsiteLag => ("!", "offsite lag", Severity::Warn),
        Health::DrillFailing => ("✗", "failed drill", Severity::Bad),
        Health::LastRunFailed => ("✗", "run failed", Severity::Bad),
        Health::Unreachable => ("✗", "unreachable", Severity::Bad),
        Health::WalArchivingFailing => ("✗", "wal failing", Severity::Bad),
        Health::RestoreInterrupted => ("✗", "restore cut", Severity::Bad),
        Health::FutureSet => ("✗", "future set", Severity::Bad),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::fleet::RowError;

    fn state(n: usize) -> FleetState {
        let names = (0..n).map(|i| format!("app{i}")).collect();
        FleetState::new(names, "/c".into(), Utc::now())
    }

    #[test]
    fn the_cursor_stays_on_the_rows_and_enter_opens_the_selected_one() {
        let mut s = state(3);
        on_action(&mut s, Action::Up);
        assert_eq!(s.selected, 0);
        for _ in 0..5 {
            on_action(&mut s, Action::Down);
        }
        assert_eq!(s.selected, 2);
        assert_eq!(on_action(&mut s, Action::Open), FleetEffect::Open(2));
        assert_eq!(on_action(&mut s, Action::Quit), FleetEffect::Quit);
        assert!(s.should_quit);
    }

    #[test]
    fn help_swallows_keys_until_closed() {
        let mut s = state(2);
        on_action(&mut s, Action::Help);
        assert!(s.help);
        assert_eq!(on_action(&mut s, Action::Down), FleetEffect::None);
        assert_eq!(s.selected, 0);
        on_action(&mut s, Action::Back);
        assert!(!s.help);
    }

    #[test]
    fn a_broken_application_reads_as_an_error() {
        let row = FleetRow {
            app: "x".into(),
            config_path: "/c/apps/x.toml".into(),
            outcome: Err(RowError {
                exit_code: 2,
                message: "bad".into(),
            }),
            rto_target_seconds: None,
            rpo_target_seconds: None,
        };
        assert_eq!(verdict(&row).1, "error");
    }
}
