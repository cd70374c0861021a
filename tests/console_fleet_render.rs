//! The fleet screen drawn into ratatui's `TestBackend` from fixture reports (fixed clock, no
//! I/O), without colour: at 80x24 every verdict reads in a symbol and a word and is never cut,
//! even next to a name far too long for the row (the name gives way); the help overlay lists
//! the keys the keymap binds. Snapshots at 80x24 and 120x40 in `tests/snapshots/`.

#![allow(clippy::unwrap_used)]

mod console_fixtures;

use console_fixtures as fx;
use lifeboat::app::keymap::Keymap;
use lifeboat::app::view::{FleetRow, FleetState, RowError};
use lifeboat::jobs::status::StatusReport;
use lifeboat::ui;
use ratatui::backend::TestBackend;
use ratatui::Terminal;

const LONG: &str = "a-very-long-application-name-that-cannot-fit-in-eighty-columns";

fn row(app: &str, outcome: Result<StatusReport, RowError>) -> FleetRow {
    FleetRow {
        app: app.into(),
        config_path: format!("/etc/lifeboat/apps/{app}.toml").into(),
        outcome,
        rto_target_seconds: Some(1800.0),
        rpo_target_seconds: Some(86_400.0),
    }
}

fn report(state: lifeboat::app::state::AppState) -> StatusReport {
    state.snapshot.unwrap().status
}

fn fleet() -> FleetState {
    let rows = vec![
        row("shop", Ok(report(fx::state()))),
        row("wiki", Ok(report(fx::stale_state()))),
        row("notes", Ok(report(fx::unreachable_state()))),
        row(
            LONG,
            Err(RowError {
                exit_code: 2,
                message: "configuration file /etc/lifeboat/apps/x.toml: at line 1".into(),
            }),
        ),
    ];
    let mut state = FleetState::new(
        rows.iter().map(|r| r.app.clone()).collect(),
        "/etc/lifeboat/apps".into(),
        fx::now(),
    );
    lifeboat::app::screens::fleet::on_loaded(&mut state, rows);
    state.no_color = true;
    state
}

fn render(state: &FleetState, (width, height): (u16, u16)) -> String {
    let keymap = Keymap::default_keymap();
    let mut terminal = Terminal::new(TestBackend::new(width, height)).unwrap();
    terminal
        .draw(|frame| ui::fleet::render(frame, state, &keymap))
        .unwrap();
    let buffer = terminal.backend().buffer();
    let mut out = String::new();
    for y in 0..height {
        let line: String = (0..width).map(|x| buffer[(x, y)].symbol()).collect();
        out.push_str(line.trim_end());
        out.push('\n');
    }
    out
}

fn line_of<'a>(screen: &'a str, needle: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(needle) && l.starts_with('│'))
        .unwrap_or_else(|| panic!("no row with {needle}:\n{screen}"))
}

#[test]
fn every_verdict_reads_in_words_and_symbols_at_80x24() {
    let state = fleet();
    let screen = render(&state, (80, 24));
    for (app, verdict) in [
        ("shop", "✓ ok"),
        ("wiki", "! stale"),
        ("notes", "✗ unreachable"),
        ("a-very-long", "? error"),
    ] {
        assert!(line_of(&screen, app).contains(verdict), "{app}:\n{screen}");
    }
    // The long name is cut, its verdict is not.
    assert!(!screen.contains(LONG), "{screen}");
    assert!(screen.contains("fleet: 4 applications"), "{screen}");
    assert!(
        screen.contains("Enter open") && screen.contains("q quit"),
        "{screen}"
    );
    insta::assert_snapshot!("fleet_80x24", screen);
    insta::assert_snapshot!("fleet_120x40", render(&state, (120, 40)));
}

#[test]
fn the_help_overlay_lists_the_keymaps_keys() {
    let mut state = fleet();
    state.help = true;
    let screen = render(&state, (80, 24));
    assert!(screen.contains("Fleet keys"), "{screen}");
    for needle in [
        "Enter  open",
        "q  quit",
        "Esc  (in an application's dashboard)",
    ] {
        assert!(screen.contains(needle), "{needle}:\n{screen}");
    }
}
