//! The one place state changes: `update(state, event) -> effects`. Pure: no I/O, no awaiting,
//! no clock reads (time arrives with `Tick`). The runtime executes the effects and feeds their
//! results back as events. This file only dispatches: each screen's state and reducer live in
//! `screens/` (Retention's in `retention_state`).

use super::action::Action;
use super::event::{AppEvent, Effect};
use super::reload;
use super::retention_state;
use super::screens::{self, drills, history, inventory, jobs, modals, notice};
use super::state::{AppState, Modal, Screen, WizardStep};

pub fn update(state: &mut AppState, event: AppEvent) -> Vec<Effect> {
    match event {
        AppEvent::Action(action) => on_action(state, action),
        AppEvent::FilterChar(c) => {
            if let Some(Modal::ConfirmRestore { typed, .. } | Modal::PinNote { typed, .. }) =
                state.modal.as_mut()
            {
                typed.push(c);
                return Vec::new();
            }
            if let Some(text) = state.filter_input.as_mut() {
                text.push(c);
                screens::apply_filter(state);
            }
            Vec::new()
        }
        AppEvent::FilterBackspace => {
            if let Some(Modal::ConfirmRestore { typed, .. } | Modal::PinNote { typed, .. }) =
                state.modal.as_mut()
            {
                typed.pop();
                return Vec::new();
            }
            if let Some(text) = state.filter_input.as_mut() {
                text.pop();
                screens::apply_filter(state);
            }
            Vec::new()
        }
        AppEvent::Tick(now) => {
            state.now = now;
            notice::on_tick(state);
            Vec::new()
        }
        AppEvent::ReloadDue => reload_due(state),
        AppEvent::Resize(w, h) => {
            state.width = w;
            state.height = h;
            Vec::new()
        }
        AppEvent::Scroll(delta) => {
            let action = if delta < 0 { Action::Up } else { Action::Down };
            (0..delta.unsigned_abs())
                .flat_map(|_| on_action(state, action))
                .collect()
        }
        AppEvent::Previewed(preview) => {
            // A full snapshot, even an older one, says more than a preview.
            if state.snapshot.is_none() {
                state.preview = Some(*preview);
            }
            Vec::new()
        }
        AppEvent::Partial(snapshot, progress) => {
            // A partial view arriving after the load ended must not replace the full one.
            if state.loading {
                state.snapshot = Some(*snapshot);
                state.preview = None;
                state.load_progress = progress.map(|p| (p.loaded, p.total));
                screens::clamp_selections(state);
                history::follow_detail(state);
            }
            Vec::new()
        }
        AppEvent::Loaded(result) => {
            state.loading = false;
            state.load_progress = None;
            // The full load replaces the preview; a failed one must not leave it on screen.
            state.preview = None;
            match result {
                Ok(snapshot) => {
                    state.snapshot = Some(*snapshot);
                    state.load_error = None;
                    screens::clamp_selections(state);
                    history::follow_detail(state);
                }
                Err(e) => state.load_error = Some(e),
            }
            Vec::new()
        }
        AppEvent::Preflight(report) => {
            if matches!(state.modal, Some(Modal::Wizard(WizardStep::Checking))) {
                state.modal = Some(Modal::Wizard(WizardStep::Ready { report, scroll: 0 }));
            }
            Vec::new()
        }
        AppEvent::Job { id, event } => {
            jobs::on_event(state, id, event);
            Vec::new()
        }
        AppEvent::JobDone { id, outcome } => jobs::on_done(state, id, outcome),
        AppEvent::RetentionLoaded(loaded) => {
            retention_state::on_loaded(state, loaded);
            Vec::new()
        }
        AppEvent::Notice(text) => {
            notice::say(state, text);
            Vec::new()
        }
        AppEvent::PinsChanged(text) => {
            notice::say(state, text);
            state.retention.plan = None;
            retention_state::on_enter(state)
        }
        AppEvent::RestorePlanned { id, plan, database } => {
            jobs::on_restore_planned(state, id, plan, database);
            Vec::new()
        }
        AppEvent::ConfigReloaded(result) => reload::on_reloaded(state, result),
    }
}

/// A reload is due: one load at a time (a slow repository must not pile loads up).
fn reload_due(state: &mut AppState) -> Vec<Effect> {
    if state.loading {
        return Vec::new();
    }
    state.loading = true;
    vec![Effect::Load]
}

/// What a screen needs when it opens (the Retention preview is loaded on first view).
fn entered(state: &mut AppState) -> Vec<Effect> {
    match state.screen {
        Screen::Retention => retention_state::on_enter(state),
        _ => Vec::new(),
    }
}

fn request_quit(state: &mut AppState) -> Vec<Effect> {
    if state.running_jobs() > 0 {
        state.modal = Some(Modal::ConfirmQuit);
        Vec::new()
    } else {
        state.should_quit = true;
        vec![Effect::Quit]
    }
}

/// Leaves this application's console for the fleet screen; a running job would be cut off,
/// so it must finish (or be cancelled) first.
fn back_to_fleet(state: &mut AppState) -> Vec<Effect> {
    if state.running_jobs() > 0 {
        let key = notice::key_for(state, Action::ShowJobs);
        notice::say(
            state,
            format!(
                "a job is running: wait for it or cancel it ({key}) before going back to the fleet"
            ),
        );
        return Vec::new();
    }
    state.back_to_fleet = true;
    state.should_quit = true;
    vec![Effect::Quit]
}

/// The filter prompt is open: Enter keeps the filter, Esc clears it, other actions wait.
fn on_filter_prompt(state: &mut AppState, action: Action) {
    match action {
        Action::Open => state.filter_input = None,
        Action::Back => {
            state.filter_input = Some(String::new());
            screens::apply_filter(state);
            state.filter_input = None;
        }
        _ => {}
    }
}

fn show(state: &mut AppState, screen: Screen) -> Vec<Effect> {
    state.screen = screen;
    entered(state)
}

fn on_action(state: &mut AppState, action: Action) -> Vec<Effect> {
    if action == Action::Interrupt && !matches!(state.modal, Some(Modal::ConfirmQuit)) {
        state.filter_input = None;
        return request_quit(state);
    }
    if let Some(modal) = state.modal.clone() {
        return modals::on_action(state, modal, action);
    }
    if state.filter_input.is_some() {
        on_filter_prompt(state, action);
        return Vec::new();
    }
    match action {
        Action::Quit | Action::Interrupt => request_quit(state),
        Action::NextScreen => show(state, state.screen.next()),
        Action::PrevScreen => show(state, state.screen.prev()),
        Action::ShowDashboard => show(state, Screen::Dashboard),
        Action::ShowHistory => show(state, Screen::History),
        Action::ShowInventory => show(state, Screen::Inventory),
        Action::ShowJobs => show(state, Screen::Jobs),
        Action::ShowRetention => show(state, Screen::Retention),
        Action::ShowDrills => show(state, Screen::Drills),
        Action::Up
        | Action::Down
        | Action::PageUp
        | Action::PageDown
        | Action::Top
        | Action::Bottom => {
            screens::move_cursor(state, action);
            Vec::new()
        }
        Action::Open => {
            match state.screen {
                Screen::History => history::open(state),
                Screen::Inventory => inventory::open(state),
                Screen::Drills => drills::open(state),
                _ => {}
            }
            Vec::new()
        }
        Action::Back => {
            if state.screen == Screen::Inventory {
                inventory::back(state);
            }
            if state.screen == Screen::Dashboard && state.fleet_app.is_some() {
                return back_to_fleet(state);
            }
            Vec::new()
        }
        Action::Filter => {
            let current = match state.screen {
                Screen::Inventory => Some(state.inventory.filter.clone()),
                Screen::History => Some(state.history.filter.clone()),
                _ => None,
            };
            if current.is_some() {
                state.filter_input = current;
            }
            Vec::new()
        }
        Action::Help => {
            state.modal = Some(Modal::Help { scroll: 0 });
            Vec::new()
        }
        Action::Refresh => reload::request(state),
        Action::GuidedBackup => jobs::guided_backup(state),
        Action::Verify => jobs::start_verify(state, false),
        Action::VerifyDecrypt => jobs::start_verify(state, true),
        Action::StartDrill => drills::start(state),
        Action::Pin if state.screen == Screen::Retention => retention_state::request_pin(state),
        Action::Prune if state.screen == Screen::Retention => retention_state::request_prune(state),
        Action::SimulateLonger | Action::SimulateShorter if state.screen == Screen::Retention => {
            retention_state::slide(state, action == Action::SimulateLonger);
            Vec::new()
        }
        Action::SimulateStop if state.screen == Screen::Retention => {
            retention_state::toggle_stop(state);
            Vec::new()
        }
        Action::Pin
        | Action::Prune
        | Action::SimulateLonger
        | Action::SimulateShorter
        | Action::SimulateStop => {
            let key = notice::key_for(state, Action::ShowRetention);
            notice::say(
                state,
                format!("that key works on the Retention screen ({key})"),
            );
            Vec::new()
        }
        Action::Restore => jobs::request_restore(state),
        Action::TickStep => drills::tick_step(state),
        Action::FinishSteps => drills::finish_steps(state),
        Action::CancelJob => {
            jobs::request_cancel(state);
            Vec::new()
        }
        Action::Confirm | Action::Deny => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::app::state::JobKind;
    use chrono::Utc;

    fn from_fleet() -> AppState {
        let mut state = AppState::new("file:///r".into(), "/c/apps/shop.toml".into(), Utc::now());
        state.fleet_app = Some("shop".into());
        state
    }

    #[test]
    fn back_on_the_dashboard_returns_to_the_fleet_only_when_opened_from_it() {
        let mut state = from_fleet();
        update(&mut state, AppEvent::Action(Action::Back));
        assert!(state.should_quit && state.back_to_fleet);

        let mut alone = AppState::new("file:///r".into(), "/c/config.toml".into(), Utc::now());
        update(&mut alone, AppEvent::Action(Action::Back));
        assert!(!alone.should_quit && !alone.back_to_fleet);

        // Elsewhere than the dashboard, back keeps its screen's meaning.
        let mut state = from_fleet();
        state.screen = Screen::History;
        update(&mut state, AppEvent::Action(Action::Back));
        assert!(!state.should_quit);
    }

    #[test]
    fn a_running_job_keeps_the_operator_in_the_application() {
        let mut state = from_fleet();
        screens::jobs::new_job(&mut state, JobKind::Backup);
        update(&mut state, AppEvent::Action(Action::Back));
        assert!(!state.should_quit && !state.back_to_fleet);
        assert!(
            state
                .notice
                .as_deref()
                .is_some_and(|n| n.contains("a job is running")),
            "{:?}",
            state.notice
        );
    }
}
