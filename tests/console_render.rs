//! Render snapshots of the console: every screen and every dialog at 80x24 (the baseline) and
//! 120x40, the dashboard's variants, NO_COLOR, and a terminal too small to use. Each frame is
//! drawn by `ui::render` into ratatui's `TestBackend` from fixture state (fixed clock, no I/O)
//! and kept as text, one line per row, in `tests/snapshots/`.

#![allow(clippy::unwrap_used)]

mod console_fixtures;

use console_fixtures as fx;
use lifeboat::app::keymap::Keymap;
use lifeboat::app::state::{AppState, Modal, Screen, WizardStep};
use lifeboat::ui;
use ratatui::backend::TestBackend;
use ratatui::buffer::Buffer;
use ratatui::style::Color;
use ratatui::Terminal;

const SMALL: (u16, u16) = (80, 24);
const LARGE: (u16, u16) = (120, 40);

fn draw(state: &AppState, (width, height): (u16, u16)) -> Buffer {
    let mut state = state.clone();
    state.width = width;
    state.height = height;
    let keymap = Keymap::default_keymap();
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| ui::render(frame, &state, &keymap))
        .unwrap();
    terminal.backend().buffer().clone()
}

/// The buffer as text: one line per row, trailing spaces trimmed.
fn text(buffer: &Buffer) -> String {
    let area = buffer.area;
    let mut out = String::new();
    for y in area.top()..area.bottom() {
        let mut line = String::new();
        for x in area.left()..area.right() {
            line.push_str(buffer[(x, y)].symbol());
        }
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn render(state: &AppState, size: (u16, u16)) -> String {
    text(&draw(state, size))
}

/// Snapshots `name` at 80x24 and at 120x40.
fn both_sizes(name: &str, state: &AppState) {
    for (w, h) in [SMALL, LARGE] {
        insta::assert_snapshot!(format!("{name}_{w}x{h}"), render(state, (w, h)));
    }
}

fn on(screen: Screen, mut state: AppState) -> AppState {
    state.screen = screen;
    state
}

fn with_modal(modal: Modal, mut state: AppState) -> AppState {
    state.modal = Some(modal);
    state
}

fn inventory_expanded() -> AppState {
    let mut state = on(Screen::Inventory, fx::state());
    state.expanded.insert(fx::SET_NEWEST.into());
    state.inventory.selected = 2;
    state
}

// Screens.

#[test]
fn dashboard() {
    both_sizes("dashboard", &fx::state());
}

#[test]
fn history() {
    let mut state = on(Screen::History, fx::state());
    state.history.selected = 1;
    both_sizes("history", &state);
}

#[test]
fn history_while_typing_a_filter() {
    let mut state = on(Screen::History, fx::state());
    state.filter_input = Some("fail".into());
    state.history.filter = "fail".into();
    insta::assert_snapshot!("history_filter_80x24", render(&state, SMALL));
}

#[test]
fn inventory_with_a_set_expanded() {
    both_sizes("inventory_expanded", &inventory_expanded());
}

#[test]
fn jobs_with_a_running_backup() {
    both_sizes(
        "jobs_running",
        &on(Screen::Jobs, fx::with_jobs(fx::state())),
    );
}

#[test]
fn retention() {
    both_sizes(
        "retention",
        &on(Screen::Retention, fx::with_retention(fx::state())),
    );
}

#[test]
fn retention_without_a_policy() {
    both_sizes(
        "retention_without_a_policy",
        &on(Screen::Retention, fx::state()),
    );
}

#[test]
fn drills() {
    both_sizes("drills", &on(Screen::Drills, fx::state()));
}

// Dialogs.

#[test]
fn help() {
    both_sizes("help", &with_modal(Modal::Help, fx::state()));
}

#[test]
fn detail_of_the_newest_set() {
    let state = on(Screen::History, fx::with_jobs(fx::state()));
    let row = 0;
    assert_eq!(
        state.snapshot.as_ref().unwrap().history[row]
            .set_id
            .as_deref(),
        Some(fx::SET_NEWEST)
    );
    both_sizes("detail", &with_modal(Modal::Detail { row }, state));
}

#[test]
fn detail_of_a_failed_run() {
    let state = on(Screen::History, fx::state());
    let row = state
        .snapshot
        .as_ref()
        .unwrap()
        .history
        .iter()
        .position(|r| r.status == "failed")
        .unwrap();
    insta::assert_snapshot!(
        "detail_failed_80x24",
        render(&with_modal(Modal::Detail { row }, state), SMALL)
    );
}

#[test]
fn confirm_quit() {
    both_sizes(
        "confirm_quit",
        &with_modal(Modal::ConfirmQuit, fx::with_jobs(fx::state())),
    );
}

#[test]
fn confirm_cancel() {
    both_sizes(
        "confirm_cancel",
        &with_modal(
            Modal::ConfirmCancel { job: 3 },
            on(Screen::Jobs, fx::with_jobs(fx::state())),
        ),
    );
}

#[test]
fn wizard_checking() {
    both_sizes(
        "wizard_checking",
        &with_modal(Modal::Wizard(WizardStep::Checking), fx::state()),
    );
}

#[test]
fn wizard_ready_ok() {
    both_sizes(
        "wizard_ready_ok",
        &with_modal(
            Modal::Wizard(WizardStep::Ready(Box::new(fx::preflight_ok()))),
            fx::state(),
        ),
    );
}

#[test]
fn wizard_ready_failing() {
    both_sizes(
        "wizard_ready_failing",
        &with_modal(
            Modal::Wizard(WizardStep::Ready(Box::new(fx::preflight_failing()))),
            fx::state(),
        ),
    );
}

#[test]
fn offer_verify() {
    both_sizes(
        "offer_verify",
        &with_modal(
            Modal::OfferVerify {
                set_id: fx::id(fx::SET_NEWEST),
            },
            on(Screen::Jobs, fx::with_jobs(fx::state())),
        ),
    );
}

// Dashboard variants at the baseline size.

#[test]
fn dashboard_of_an_empty_repository() {
    insta::assert_snapshot!("dashboard_empty_80x24", render(&fx::empty_state(), SMALL));
}

#[test]
fn dashboard_of_an_unreachable_repository() {
    insta::assert_snapshot!(
        "dashboard_unreachable_80x24",
        render(&fx::unreachable_state(), SMALL)
    );
}

#[test]
fn dashboard_when_nothing_could_be_loaded() {
    insta::assert_snapshot!(
        "dashboard_load_error_80x24",
        render(&fx::load_error_state(), SMALL)
    );
}

#[test]
fn dashboard_of_a_stale_backup() {
    insta::assert_snapshot!("dashboard_stale_80x24", render(&fx::stale_state(), SMALL));
}

#[test]
fn dashboard_with_spooled_sets() {
    insta::assert_snapshot!(
        "dashboard_spooled_80x24",
        render(&fx::spooled_state(), SMALL)
    );
}

/// An interrupted restore leads, with what its target may be in; a set dated in the future is
/// flagged and is not the newest set; the safety backup is not the newest set either.
#[test]
fn dashboard_after_an_interrupted_restore_with_a_future_set() {
    both_sizes(
        "dashboard_restore_interrupted",
        &fx::restore_interrupted_state(),
    );
}

/// History marks the safety backup (`safety` as who took it) and the future-dated set.
#[test]
fn history_marks_safety_and_future_sets() {
    insta::assert_snapshot!(
        "history_safety_future_120x40",
        render(&on(Screen::History, fx::restore_interrupted_state()), LARGE)
    );
}

#[test]
fn inventory_with_spooled_sets() {
    insta::assert_snapshot!(
        "inventory_spooled_80x24",
        render(&on(Screen::Inventory, fx::spooled_state()), SMALL)
    );
}

#[test]
fn dashboard_while_another_process_holds_the_lock() {
    insta::assert_snapshot!("dashboard_locked_80x24", render(&fx::locked_state(), SMALL));
}

// NO_COLOR.

/// Every screen and dialog, for the colour checks.
fn every_view() -> Vec<(&'static str, AppState)> {
    let jobs = fx::with_jobs(fx::state());
    vec![
        ("dashboard", fx::state()),
        ("dashboard empty", fx::empty_state()),
        ("dashboard unreachable", fx::unreachable_state()),
        ("dashboard stale", fx::stale_state()),
        ("dashboard spooled", fx::spooled_state()),
        ("dashboard locked", fx::locked_state()),
        ("history", on(Screen::History, fx::state())),
        ("inventory", inventory_expanded()),
        ("jobs", on(Screen::Jobs, jobs.clone())),
        ("retention", on(Screen::Retention, fx::state())),
        ("drills", on(Screen::Drills, fx::state())),
        ("help", with_modal(Modal::Help, fx::state())),
        (
            "detail",
            with_modal(Modal::Detail { row: 0 }, on(Screen::History, jobs.clone())),
        ),
        ("confirm quit", with_modal(Modal::ConfirmQuit, jobs.clone())),
        (
            "confirm cancel",
            with_modal(Modal::ConfirmCancel { job: 3 }, jobs.clone()),
        ),
        (
            "wizard checking",
            with_modal(Modal::Wizard(WizardStep::Checking), fx::state()),
        ),
        (
            "wizard ok",
            with_modal(
                Modal::Wizard(WizardStep::Ready(Box::new(fx::preflight_ok()))),
                fx::state(),
            ),
        ),
        (
            "wizard failing",
            with_modal(
                Modal::Wizard(WizardStep::Ready(Box::new(fx::preflight_failing()))),
                fx::state(),
            ),
        ),
        (
            "offer verify",
            with_modal(
                Modal::OfferVerify {
                    set_id: fx::id(fx::SET_NEWEST),
                },
                jobs,
            ),
        ),
    ]
}

fn coloured_cells(buffer: &Buffer) -> Vec<(u16, u16, Color, Color)> {
    let area = buffer.area;
    let mut found = Vec::new();
    for y in area.top()..area.bottom() {
        for x in area.left()..area.right() {
            let cell = &buffer[(x, y)];
            if cell.fg != Color::Reset || cell.bg != Color::Reset {
                found.push((x, y, cell.fg, cell.bg));
            }
        }
    }
    found
}

#[test]
fn no_color_draws_no_colour_anywhere() {
    for (name, mut state) in every_view() {
        state.no_color = true;
        for size in [SMALL, LARGE] {
            let buffer = draw(&state, size);
            let coloured = coloured_cells(&buffer);
            assert!(
                coloured.is_empty(),
                "{name} at {size:?} has coloured cells under NO_COLOR, e.g. {:?}\n{}",
                &coloured[..coloured.len().min(5)],
                text(&buffer)
            );
        }
    }
}

#[test]
fn colour_only_repeats_what_the_words_say() {
    // With colour on, the frame's text is the same as under NO_COLOR: meaning never rides on
    // colour alone.
    for (name, state) in every_view() {
        let mut plain = state.clone();
        plain.no_color = true;
        for size in [SMALL, LARGE] {
            let coloured = draw(&state, size);
            assert_eq!(
                text(&coloured),
                text(&draw(&plain, size)),
                "{name} at {size:?}"
            );
            if name == "dashboard" {
                assert!(
                    !coloured_cells(&coloured).is_empty(),
                    "colour is on by default"
                );
            }
        }
    }
}

#[test]
fn no_color_jobs_snapshot() {
    let mut state = on(Screen::Jobs, fx::with_jobs(fx::state()));
    state.no_color = true;
    insta::assert_snapshot!("jobs_running_no_color_80x24", render(&state, SMALL));
}

// Too small.

#[test]
fn too_small_terminal_says_so_in_one_line() {
    let frame = render(&fx::state(), (50, 10));
    insta::assert_snapshot!("too_small_50x10", frame);
    let used: Vec<&str> = frame.lines().filter(|l| !l.is_empty()).collect();
    assert_eq!(used.len(), 1, "{frame}");
}

/// The first load's preview, while the full listing runs: the verdict so far, said to be
/// preliminary, no YES yet, counts unknown.
#[test]
fn dashboard_preliminary() {
    both_sizes("dashboard_preliminary", &fx::preview_state());
}

/// A preview that already found a problem says it, and that more may follow.
#[test]
fn dashboard_preliminary_stale() {
    insta::assert_snapshot!(
        "dashboard_preliminary_stale_80x24",
        render(&fx::stale_preview_state(), SMALL)
    );
}

// Details that Enter opens outside History, and an inventory filter without a match.

/// An inventory filter that matches nothing says so (it is no empty repository).
#[test]
fn inventory_filter_without_a_match() {
    let mut state = on(Screen::Inventory, fx::state());
    state.inventory.filter = "zzz-nothing".into();
    let frame = render(&state, SMALL);
    insta::assert_snapshot!("inventory_no_match_80x24", frame);
    assert!(frame.contains("Nothing matches `zzz-nothing`"), "{frame}");
    assert!(!frame.contains("The repository is empty"), "{frame}");
}

#[test]
fn object_detail() {
    let mut state = inventory_expanded();
    let row = lifeboat::app::inventory_tree::row(&state, state.inventory.selected).unwrap();
    state.modal = Some(Modal::ObjectDetail(Box::new(row)));
    both_sizes("object_detail", &state);
}

/// A drill record's report, as `lifeboat drill report` writes it, scrolled by the list keys.
#[test]
fn drill_report() {
    let state = with_modal(
        Modal::DrillReport {
            index: 0,
            scroll: 0,
        },
        on(Screen::Drills, fx::state()),
    );
    both_sizes("drill_report", &state);
    let frame = render(&state, LARGE);
    assert!(frame.contains(fx::DRILL_ID), "{frame}");
    let scrolled = with_modal(
        Modal::DrillReport {
            index: 0,
            scroll: 3,
        },
        state.clone(),
    );
    assert_ne!(render(&scrolled, SMALL), render(&state, SMALL));
}
