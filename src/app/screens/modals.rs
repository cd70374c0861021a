//! The dialogs' reducer: while a modal is open, every action goes to it. Confirmations start
//! their job on yes and close on no; typed confirmations (restore, pin note) check the text;
//! detail panes and reports close on Back and hand verify/restore over to their screen.

use super::{jobs, notice};
use crate::app::action::Action;
use crate::app::dialog_layout;
use crate::app::event::Effect;
use crate::app::state::{AppState, JobKind, Modal, Screen, WizardStep};

pub fn on_action(state: &mut AppState, modal: Modal, action: Action) -> Vec<Effect> {
    let yes = matches!(action, Action::Confirm | Action::Open);
    let no = matches!(action, Action::Deny | Action::Back);
    match modal {
        Modal::Help { scroll } => {
            if matches!(action, Action::Help | Action::Back | Action::Quit) {
                state.modal = None;
                return Vec::new();
            }
            let layout = dialog_layout::help(&state.keymap, state.width, state.height);
            let scroll = scrolled(scroll, action, layout.visible, layout.max_scroll());
            state.modal = Some(Modal::Help { scroll });
            Vec::new()
        }
        Modal::ConfirmQuit => {
            if yes || action == Action::Interrupt {
                state.modal = None;
                state.should_quit = true;
                let mut effects: Vec<Effect> = state
                    .jobs
                    .iter()
                    .filter(|j| j.status.is_running())
                    .map(|j| Effect::CancelJob { job: j.id })
                    .collect();
                effects.push(Effect::Quit);
                return effects;
            }
            if no {
                state.modal = None;
            }
            Vec::new()
        }
        Modal::ConfirmCancel { job } => {
            if yes {
                state.modal = None;
                if let Some(j) = state.job_mut(job) {
                    j.push_log("cancelling…".into());
                }
                return vec![Effect::CancelJob { job }];
            }
            if no {
                state.modal = None;
            }
            Vec::new()
        }
        Modal::Wizard(WizardStep::Ready { report, scroll }) if is_scroll(action) => {
            let layout = dialog_layout::preflight(&report, state.width, state.height);
            let scroll = scrolled(scroll, action, layout.visible, layout.max_scroll());
            state.modal = Some(Modal::Wizard(WizardStep::Ready { report, scroll }));
            Vec::new()
        }
        Modal::Wizard(step) => on_wizard(state, step, yes, no),
        Modal::OfferVerify { set_id } => {
            if yes {
                state.modal = None;
                let job = jobs::new_job(
                    state,
                    JobKind::Verify {
                        set_id: set_id.clone(),
                        decrypt: false,
                    },
                );
                return vec![Effect::StartVerify {
                    job,
                    set_id,
                    decrypt: false,
                }];
            }
            if no {
                state.modal = None;
            }
            Vec::new()
        }
        Modal::PinNote { set_id, typed } => {
            if action == Action::Back {
                state.modal = None;
            } else if action == Action::Open {
                if typed.trim().is_empty() {
                    notice::say(
                        state,
                        "✗ a pin needs a note (why it is kept), e.g. legal hold".into(),
                    );
                    return Vec::new();
                }
                state.modal = None;
                return vec![Effect::Pin {
                    set_id,
                    note: typed,
                }];
            }
            Vec::new()
        }
        Modal::ConfirmPrune { .. } => {
            if yes {
                state.modal = None;
                let job = jobs::new_job(state, JobKind::Prune);
                state.screen = Screen::Jobs;
                return vec![Effect::StartPrune { job }];
            }
            if no {
                state.modal = None;
            }
            Vec::new()
        }
        Modal::ConfirmRestore {
            plan,
            database,
            typed,
            scroll,
        } => {
            if is_scroll(action) {
                // Letters type the name: only the named keys (arrows, pages) arrive as actions.
                let layout = dialog_layout::restore(&plan, &database, state.width, state.height);
                let scroll = scrolled(scroll, action, layout.visible, layout.max_scroll());
                state.modal = Some(Modal::ConfirmRestore {
                    plan,
                    database,
                    typed,
                    scroll,
                });
                return Vec::new();
            }
            if action == Action::Back {
                state.modal = None;
                return Vec::new();
            }
            if action == Action::Open {
                if typed != database {
                    let back = notice::key_for(state, Action::Back);
                    notice::say(
                        state,
                        format!("✗ type `{database}` exactly to restore, or {back} to cancel"),
                    );
                    return Vec::new();
                }
                state.modal = None;
                let set_id = plan.set_id.clone();
                let job = jobs::new_job(
                    state,
                    JobKind::Restore {
                        set_id: set_id.clone(),
                    },
                );
                state.screen = Screen::Jobs;
                return vec![Effect::StartRestore { job, set_id }];
            }
            Vec::new()
        }
        Modal::Detail { .. } => match action {
            Action::Back | Action::Open => {
                state.modal = None;
                Vec::new()
            }
            Action::Verify => jobs::start_verify(state, false),
            Action::VerifyDecrypt => jobs::start_verify(state, true),
            Action::Restore => {
                // The detail pane hands over to its screen; it stays open if nothing started.
                let modal = state.modal.take();
                let effects = jobs::request_restore(state);
                if state.modal.is_none() && effects.is_empty() {
                    state.modal = modal;
                }
                effects
            }
            _ => Vec::new(),
        },
        Modal::ObjectDetail(_) => {
            if matches!(action, Action::Back | Action::Open) {
                state.modal = None;
            }
            Vec::new()
        }
        Modal::DrillReport { index, scroll } => {
            let scroll = match action {
                Action::Back | Action::Open => {
                    state.modal = None;
                    return Vec::new();
                }
                Action::Up => scroll.saturating_sub(1),
                Action::Down => scroll + 1,
                Action::PageUp => scroll.saturating_sub(state.list_height()),
                Action::PageDown => scroll + state.list_height(),
                Action::Top => 0,
                _ => scroll,
            };
            state.modal = Some(Modal::DrillReport { index, scroll });
            Vec::new()
        }
    }
}

fn is_scroll(action: Action) -> bool {
    matches!(
        action,
        Action::Up
            | Action::Down
            | Action::PageUp
            | Action::PageDown
            | Action::Top
            | Action::Bottom
    )
}

/// `scroll` moved by a list key over a dialog showing `page` rows, within `0..=max`.
fn scrolled(scroll: usize, action: Action, page: usize, max: usize) -> usize {
    let scroll = scroll.min(max);
    match action {
        Action::Up => scroll.saturating_sub(1),
        Action::Down => scroll + 1,
        Action::PageUp => scroll.saturating_sub(page.max(1)),
        Action::PageDown => scroll + page.max(1),
        Action::Top => 0,
        Action::Bottom => max,
        _ => scroll,
    }
    .min(max)
}

fn on_wizard(state: &mut AppState, step: WizardStep, yes: bool, no: bool) -> Vec<Effect> {
    if no {
        state.modal = None;
        return Vec::new();
    }
    match step {
        WizardStep::Ready { report, .. } if yes => {
            if !report.ok() {
                notice::say(state, "preflight failed: fix the ✗ items first".into());
                return Vec::new();
            }
            state.modal = None;
            let job = jobs::new_job(state, JobKind::Backup);
            state.screen = Screen::Jobs;
            vec![Effect::StartBackup { job }]
        }
        _ => Vec::new(),
    }
}
