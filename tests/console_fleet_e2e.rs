//! The fleet screen end to end: the built binary in tmux at 80x24, no `--config`, a config
//! directory with three real applications (one healthy, one stale, one whose last drill
//! failed; real backups on a real PostgreSQL cluster). The operator reads each verdict in a
//! word and a symbol (NO_COLOR is set, so nothing rides on colour), opens one application's
//! console with Enter, comes back with Esc, opens the help, and quits with q.

mod common;
mod console_support;

use common::fleet::Fleet;
use console_support::{fleet_row as line_of, Console};
use std::time::Duration;

const SCREEN_TIMEOUT: Duration = Duration::from_secs(30);

#[test]
fn fleet_screen_reads_opens_an_application_and_returns() {
    let fleet = Fleet::build();
    let dir = fleet.config_dir.display().to_string();
    let console = Console::start_with_args(
        &fleet.app,
        "fleet",
        &[("LIFEBOAT_CONFIG_DIR", dir.as_str())],
        "",
    );
    let screen = console.wait_for_text(
        &["fleet: 3 applications", "✓ ok", "! stale", "✗ failed drill"],
        SCREEN_TIMEOUT,
    );
    eprintln!("{screen}");
    assert!(!screen.contains("loading"), "{screen}");
    assert!(line_of(&screen, "healthy").contains("✓ ok"), "{screen}");
    assert!(line_of(&screen, "stale").contains("! stale"), "{screen}");
    assert!(
        line_of(&screen, "faildrill").contains("✗ failed drill"),
        "{screen}"
    );
    // The drill column marks the failed drill, the detail pane judges it against targets.
    assert!(line_of(&screen, "faildrill").contains("✗ "), "{screen}");
    assert!(screen.contains("✗ FAILED"), "{screen}");
    assert!(screen.contains("RTO"), "{screen}");
    // Every line fits 80 columns.
    assert!(screen.lines().all(|l| l.chars().count() <= 80), "{screen}");

    // Down to "healthy" (the rows are in name order), Enter opens its console.
    console.keys(&["j", "Enter"]);
    // Its own repository (once loaded), its name and the way back in the status bar.
    let dashboard = console.wait_for_text(
        &[
            "1 Dashboard",
            "Can the application",
            "repos/healthy",
            "healthy  Esc fleet",
        ],
        SCREEN_TIMEOUT,
    );
    assert!(!dashboard.contains("fleet: 3 applications"), "{dashboard}");

    // Esc on its dashboard returns to the fleet, the cursor still on it.
    console.keys(&["Escape"]);
    let back = console.wait_for_text(&["fleet: 3 applications", "✓ ok"], SCREEN_TIMEOUT);
    assert!(line_of(&back, "healthy").starts_with("│>"), "{back}");

    // ? shows the fleet's keys; ? again closes it.
    console.keys(&["?"]);
    let help = console.wait_for_text(&["Fleet keys", "back to the fleet"], SCREEN_TIMEOUT);
    assert!(help.contains("Enter") && help.contains("open"), "{help}");
    console.keys(&["?"]);
    console.wait_for("the help to close", SCREEN_TIMEOUT, |s| {
        (!s.contains("Fleet keys")).then_some(())
    });

    console.keys(&["q"]);
    assert_eq!(console.wait_for_exit(SCREEN_TIMEOUT), 0);
}
