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

/// The detail pane of history row `row` of `state`.
fn detail_of(state: &AppState, row: usize) -> Modal {
    Modal::Detail {
        row,
        started_at: state.snapshot.as_ref().expect("a snapshot").history[row].started_at,
    }
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
    both_sizes("help", &with_modal(Modal::Help { scroll: 0 }, fx::state()));
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
    both_sizes("detail", &with_modal(detail_of(&state, row), state));
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
        render(&with_modal(detail_of(&state, row), state), SMALL)
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
            Modal::Wizard(WizardStep::Ready {
                report: Box::new(fx::preflight_ok()),
                scroll: 0,
            }),
            fx::state(),
        ),
    );
}

#[test]
fn wizard_ready_failing() {
    both_sizes(
        "wizard_ready_failing",
        &with_modal(
            Modal::Wizard(WizardStep::Ready {
                report: Box::new(fx::preflight_failing()),
                scroll: 0,
            }),
            fx::state(),
        ),
    );
}

/// A real restore's plan over an existing database, as `restore::plan` words it: a long target
/// URL (password masked), hooks, the swap, files and secrets, a health check.
fn long_restore_plan() -> lifeboat::jobs::restore::RestorePlan {
    use lifeboat::jobs::restore::{PlanStep, RestorePlan};
    let target = "postgresql://app_owner:***@db-primary.internal.example.com:5432/app_production?sslmode=verify-full&sslrootcert=/etc/ssl/certs/internal-ca.pem";
    let steps = [
        format!("safety backup of {target} (and the file roots) into the repository"),
        "pre-restore hook: systemctl stop app-web app-worker app-scheduler".into(),
        "create the database app_production_restore_20261122 like app_production (encoding, locale, tablespace, owner app_owner)".into(),
        "pg_restore --no-owner -j 4 into app_production_restore_20261122 (215.1 MiB dump, 42 tables); owners dropped (--restore-owners keeps them); if it fails, app_production_restore_20261122 is dropped and app_production is not touched".into(),
        "carry 3 database-level setting(s), comment and grants of app_production over to app_production_restore_20261122 (pg_dump leaves them out)".into(),
        "swap: refuse new connections to app_production, disconnect its 2 other session(s), rename app_production to app_production_old_20261122, rename app_production_restore_20261122 to app_production".into(),
        "extract 5230 files into /var/lib/app/uploads with their modes (owners and set-id bits not restored: --restore-owners)".into(),
        "extract 2 secret files into /etc/app with their modes (owners and set-id bits not restored: --restore-owners)".into(),
        "post-restore hook: systemctl start app-web app-worker app-scheduler".into(),
        "health check: http://127.0.0.1:3000/api/health".into(),
        "drop app_production_old_20261122 (the previous database, kept until every step above passed)".into(),
    ];
    RestorePlan {
        set_id: fx::id(fx::SET_NEWEST),
        snapshot_time: fx::now(),
        target: target.into(),
        toc: Default::default(),
        dump_bytes: 220_258 * 1024,
        files: None,
        secrets: None,
        checks: Vec::new(),
        steps: steps
            .into_iter()
            .map(|step| PlanStep {
                step,
                projected_seconds: None,
            })
            .collect(),
        problems: Vec::new(),
        database: None,
    }
}

fn confirm_restore_state(typed: &str) -> AppState {
    with_modal(
        Modal::ConfirmRestore {
            plan: Box::new(long_restore_plan()),
            database: "app_production".into(),
            typed: typed.into(),
            scroll: 0,
        },
        on(Screen::History, fx::state()),
    )
}

#[test]
fn confirm_restore() {
    both_sizes("confirm_restore", &confirm_restore_state("app_prod"));
}

/// At 80x24 the whole target URL and the set are on screen (wrapped, not cut), and the
/// typed-name line and the answer keys stay in view whatever else gives way.
#[test]
fn confirm_restore_shows_the_whole_target_and_keeps_the_typed_name_at_80x24() {
    let screen = render(&confirm_restore_state("app_prod"), SMALL);
    let joined: String = screen
        .lines()
        .map(|l| l.trim_matches(|c| c == '│' || c == ' '))
        .collect();
    let target = long_restore_plan().target;
    assert!(joined.contains(&target), "target not whole:\n{screen}");
    assert!(screen.contains(fx::SET_NEWEST), "{screen}");
    assert!(
        screen.contains("Type the database name `app_production` to restore: app_prod▏"),
        "{screen}"
    );
    assert!(
        screen.contains("Enter restores when the name matches"),
        "{screen}"
    );
    // What did not fit scrolls, and a row says which rows are in view and which keys move.
    assert!(
        screen.contains("rows 1-") && screen.contains("Up/Down ctrl-u/ctrl-d scroll"),
        "{screen}"
    );
    assert!(!screen.contains("11. drop"), "{screen}");
    // At 120x40 everything fits: every step, no scrolling.
    let tall = render(&confirm_restore_state("app_prod"), LARGE);
    assert!(
        tall.contains("11. drop app_production_old_20261122"),
        "{tall}"
    );
    assert!(!tall.contains(" scroll"), "{tall}");
}

/// The list keys scroll the restore dialog to its last step at 80x24, the reducer stops at the
/// end (Up after too many Downs moves at once), and the typed-name line never scrolls away.
#[test]
fn confirm_restore_scrolls_to_the_last_step_with_the_typed_name_in_view() {
    use lifeboat::app::action::Action;
    use lifeboat::app::event::AppEvent;
    use lifeboat::app::update::update;
    let mut state = confirm_restore_state("app_prod");
    (state.width, state.height) = SMALL;
    for _ in 0..3 {
        update(&mut state, AppEvent::Action(Action::PageDown));
    }
    let bottom = render(&state, SMALL);
    insta::assert_snapshot!("confirm_restore_scrolled_80x24", bottom);
    assert!(
        bottom.contains("11. drop app_production_old_20261122"),
        "{bottom}"
    );
    assert!(
        bottom.contains("Type the database name `app_production` to restore: app_prod▏"),
        "{bottom}"
    );
    let Some(Modal::ConfirmRestore { scroll: max, .. }) = state.modal.clone() else {
        panic!("the dialog closed");
    };
    update(&mut state, AppEvent::Action(Action::Up));
    let Some(Modal::ConfirmRestore { scroll, .. }) = state.modal.clone() else {
        panic!("the dialog closed");
    };
    assert_eq!(scroll + 1, max, "the scroll stops at the last row");
    update(&mut state, AppEvent::Action(Action::Top));
    assert_eq!(
        render(&state, SMALL),
        render(&confirm_restore_state("app_prod"), SMALL)
    );
}

/// At 60x15 help scrolls: every binding can be brought into view with the list keys, each
/// once, and the row under them says where the view is.
#[test]
fn help_scrolls_at_60x15() {
    use lifeboat::app::action::Action;
    use lifeboat::app::event::AppEvent;
    use lifeboat::app::update::update;
    let mut state = with_modal(Modal::Help { scroll: 0 }, fx::state());
    (state.width, state.height) = (60, 15);
    let first = render(&state, (60, 15));
    insta::assert_snapshot!("help_60x15", first);
    assert!(first.contains("rows 1-"), "{first}");
    let keymap = Keymap::default_keymap();
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..keymap.bindings.len() {
        // The dialog's rows only: the tab bar behind it names digits too.
        let screen: String = render(&state, (60, 15))
            .lines()
            .skip(1)
            .take(13)
            .collect::<Vec<_>>()
            .join("\n");
        for b in &keymap.bindings {
            if screen.contains(&format!(" {} ", b.labels.join(" "))) {
                seen.insert(b.labels.join(" "));
            }
        }
        update(&mut state, AppEvent::Action(Action::Down));
    }
    let all: std::collections::BTreeSet<String> =
        keymap.bindings.iter().map(|b| b.labels.join(" ")).collect();
    assert_eq!(seen, all, "bindings never shown at 60x15");
    let last = render(&state, (60, 15));
    insta::assert_snapshot!("help_60x15_bottom", last);
}

/// A database that is down gives a long error, and a host may have more checks than the
/// screen has rows: at 80x24 the preflight dialog scrolls (never cuts), says which rows are in
/// view, keeps its footer, and the list keys reach every check, the last one included.
#[test]
fn wizard_with_a_long_database_error_scrolls_to_every_check_at_80x24() {
    use lifeboat::app::action::Action;
    use lifeboat::app::event::AppEvent;
    use lifeboat::app::update::update;
    let mut report = fx::preflight_failing();
    report.checks[0].detail = "connection to server on socket \"/var/run/postgresql/.s.PGSQL.5432\" failed: No such file or directory. Is the server running locally and accepting connections on that socket? (libpq: could not connect to server)".into();
    // More checks than fit: the last is the one lost before (the secrets repository).
    let last = report.checks.pop().unwrap();
    assert_eq!(last.name, "secrets repository reachable");
    for i in 1..=4 {
        let mut extra = report.checks[1].clone();
        extra.name = format!("file root {i} readable");
        extra.detail = format!("/srv/app/root{i} (12 files)");
        report.checks.push(extra);
    }
    report.checks.push(last);
    let names: Vec<String> = report.checks.iter().map(|c| c.name.clone()).collect();
    let mut state = with_modal(
        Modal::Wizard(WizardStep::Ready {
            report: Box::new(report),
            scroll: 0,
        }),
        fx::state(),
    );
    (state.width, state.height) = SMALL;
    let first = render(&state, SMALL);
    insta::assert_snapshot!("wizard_long_error_80x24", first);
    assert!(first.contains(" rows 1-"), "{first}");
    assert!(!first.contains("secrets repository reachable"), "{first}");
    let mut seen = first.clone();
    let mut screen = first;
    for _ in 0..40 {
        update(&mut state, AppEvent::Action(Action::Down));
        screen = render(&state, SMALL);
        assert!(screen.contains("Fix the items marked"), "{screen}");
        seen.push_str(&screen);
    }
    insta::assert_snapshot!("wizard_long_error_80x24_bottom", screen);
    // The bottom is the last check; Down past it stays there, so one Up moves at once.
    assert!(screen.contains("secrets repository reachable"), "{screen}");
    let Some(Modal::Wizard(WizardStep::Ready { scroll, .. })) = state.modal.clone() else {
        panic!("the wizard closed");
    };
    update(&mut state, AppEvent::Action(Action::Up));
    assert!(
        matches!(&state.modal, Some(Modal::Wizard(WizardStep::Ready { scroll: s, .. })) if *s + 1 == scroll),
        "{:?}",
        state.modal
    );
    for name in &names {
        assert!(seen.contains(name.as_str()), "{name} never in view");
    }
    // The failing check keeps its whole detail, to its last word.
    assert!(seen.contains("to server)"), "{seen}");
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

/// At the smallest usable size (60x15) the dashboard's headline wraps under its mark: the
/// answer is read whole, not cut at the border.
#[test]
fn dashboard_headline_wraps_at_60x15() {
    let screen = render(&fx::restore_interrupted_state(), (60, 15));
    insta::assert_snapshot!("dashboard_restore_interrupted_60x15", screen);
    let joined: String = screen
        .lines()
        .map(|l| l.trim_matches(|c| c == '│' || c == ' '))
        .collect::<Vec<_>>()
        .join(" ");
    assert!(
        joined.contains("✗ DAMAGED?: a restore was interrupted; its target may be partly restored"),
        "{screen}"
    );
}

/// At 60x15 History keeps the status and the whole set id; the duration gives way first.
#[test]
fn history_keeps_status_and_set_id_whole_at_60x15() {
    let screen = render(&on(Screen::History, fx::state()), (60, 15));
    insta::assert_snapshot!("history_60x15", screen);
    assert!(screen.contains(fx::SET_NEWEST), "{screen}");
    assert!(screen.contains("✓ completed"), "{screen}");
    assert!(!screen.contains("took"), "{screen}");
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
        ("help", with_modal(Modal::Help { scroll: 0 }, fx::state())),
        (
            "detail",
            with_modal(detail_of(&jobs, 0), on(Screen::History, jobs.clone())),
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
                Modal::Wizard(WizardStep::Ready {
                    report: Box::new(fx::preflight_ok()),
                    scroll: 0,
                }),
                fx::state(),
            ),
        ),
        (
            "wizard failing",
            with_modal(
                Modal::Wizard(WizardStep::Ready {
                    report: Box::new(fx::preflight_failing()),
                    scroll: 0,
                }),
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

/// A finished drill's panel on the Drills screen shows the record's numbers, not the times the
/// console saw its phase events arrive: the record's seconds for each phase, its failed phase
/// marked ✗, and a manual step the operator never ticked as not done (as the record says).
#[test]
fn a_finished_drill_panel_shows_the_records_timings_and_unticked_steps() {
    use lifeboat::app::action::Action;
    use lifeboat::app::event::{AppEvent, Effect, JobOutcome};
    use lifeboat::app::update::update;
    use lifeboat::jobs::drill_record::ManualStep;
    use lifeboat::jobs::progress::JobEvent;
    let mut state = on(Screen::Drills, fx::state());
    state.drill_settings.manual_steps = vec![
        "log in as admin and open the newest invoice".into(),
        "send a test e-mail".into(),
    ];
    let job = match update(&mut state, AppEvent::Action(Action::StartDrill)).as_slice() {
        [Effect::StartDrill { job, .. }] => *job,
        other => panic!("no drill started: {other:?}"),
    };
    // The console sees the phases begin on its ticks: times that are not the record's.
    for (phase, tick) in [("fetch", 1), ("restore", 2), ("files", 3), ("checks", 4)] {
        update(
            &mut state,
            AppEvent::Tick(fx::now() + chrono::Duration::seconds(tick)),
        );
        update(
            &mut state,
            AppEvent::Job {
                id: job,
                event: JobEvent::Phase(phase.into()),
            },
        );
    }
    let mut record = fx::drill_record();
    record.phases[3].ok = false;
    record.passed = false;
    record.reasons = vec!["check billing.invoices: expected 40211, got 0".into()];
    record.manual.push(ManualStep {
        step: "send a test e-mail".into(),
        done: false,
        at: None,
        by: None,
        note: None,
    });
    update(
        &mut state,
        AppEvent::JobDone {
            id: job,
            outcome: JobOutcome::Drill(Box::new(Ok(record))),
        },
    );
    let screen = render(&state, SMALL);
    insta::assert_snapshot!("drill_finished_panel_80x24", screen);
    for line in [
        "✓ fetch                3m 32s",
        "✓ restore             11m 24s",
        "✓ files                2m 11s",
        "✗ checks               1m 35s",
        "[x] log in as admin and open the newest invoice",
        "[ ] send a test e-mail (not done)",
    ] {
        assert!(screen.contains(line), "{line:?} not in:\n{screen}");
    }
}

/// A finished restore's log lists the steps it took before its last line, "restored … in N s",
/// which covers them all (the files and secrets steps included).
#[test]
fn a_restores_log_ends_with_its_total_after_the_files_and_secrets_steps() {
    use lifeboat::app::action::Action;
    use lifeboat::app::event::{AppEvent, Effect, JobOutcome};
    use lifeboat::app::update::update;
    use lifeboat::jobs::restore::RestoreOutcome;
    let mut state = confirm_restore_state("app_production");
    let job = match update(&mut state, AppEvent::Action(Action::Open)).as_slice() {
        [Effect::StartRestore { job, .. }] => *job,
        other => panic!("no restore started: {other:?}"),
    };
    let steps = [
        "safety backup 20261122T120000Z-77aa",
        "database restored",
        "files: 5230 files into /var/lib/app/uploads",
        "secrets: 2 files into /etc/app",
        "health: 200 OK",
    ];
    let outcome = || RestoreOutcome {
        plan: long_restore_plan(),
        safety_backup: Some("20261122T120000Z-77aa".into()),
        steps_done: steps.iter().map(|s| s.to_string()).collect(),
        seconds: 12.3,
    };
    update(
        &mut state,
        AppEvent::JobDone {
            id: job,
            outcome: JobOutcome::Restore {
                set_id: fx::id(fx::SET_NEWEST),
                result: Box::new(Ok(outcome())),
            },
        },
    );
    // The headless text says it in the same order.
    let text = lifeboat::report::restore::outcome_text(&outcome());
    let total = text.find("✓ restored set").expect("the total");
    for step in steps {
        let at = text.find(&format!("  ✓ {step}")).expect("each step");
        assert!(at < total, "{step:?} after the total:\n{text}");
    }
    let log: Vec<String> = state
        .job(job)
        .expect("the job")
        .log
        .iter()
        .cloned()
        .collect();
    let expected: Vec<String> = steps
        .iter()
        .map(|s| format!("✓ {s}"))
        .chain([format!(
            "✓ restored set {} in 12.3 s (safety backup 20261122T120000Z-77aa)",
            fx::SET_NEWEST
        )])
        .collect();
    assert_eq!(log[log.len() - expected.len()..], expected[..], "{log:#?}");
}

/// A drill the operator cancelled reached no verdict: the history lists it as cancelled, never
/// as a failure.
#[test]
fn a_cancelled_drill_is_listed_as_cancelled_not_failed() {
    let mut state = on(Screen::Drills, fx::state());
    let snapshot = state.snapshot.as_mut().expect("a snapshot");
    let mut cancelled = fx::drill_record();
    cancelled.drill_id = "20261122T100000Z-cc01".into();
    cancelled.started_at = fx::at("2026-11-22T10:00:00Z");
    cancelled.passed = false;
    cancelled.cancelled = true;
    cancelled.reasons = vec!["cancelled by the operator".into()];
    snapshot.drills.insert(0, cancelled);
    let screen = render(&state, SMALL);
    assert!(screen.contains("2026-11-22 10:00 – cancel"), "{screen}");
    assert!(!screen.contains("FAIL"), "{screen}");
}
