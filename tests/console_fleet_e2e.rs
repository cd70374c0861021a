//! The fleet screen end to end: the built binary in tmux at 80x24, no `--config`, a config
//! directory with three real applications (one healthy, one stale, one whose last drill
//! failed; real backups on a real PostgreSQL cluster). The operator reads each verdict in a
//! word and a symbol (NO_COLOR is set, so nothing rides on colour), opens one application's
//! console with Enter, comes back with Esc, opens the help, and quits with q.

mod common;
mod console_support;

use common::fleet::Fleet;
use console_support::Console;
use std::time::Duration;

const SCREEN_TIMEOUT: Duration = Duration::from_secs(30);

/// The screen line naming `app` in the table.
fn line_of<'a>(screen: &'a str, app: &str) -> &'a str {
    screen
        .lines()
        .find(|l| l.contains(&format!(" {app} ")) && l.contains('│'))
        .unwrap_or_else(|| panic!("no row for {app}:\n{screen}"))
}

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

/// `lifeboat demo --fleet`, as the README offers it: the fleet screen opens on the demo's three
/// applications (app healthy, wiki stale, crm with a failed drill), Enter opens crm's console,
/// whose dashboard shows the failed drill, and Esc comes back.
#[test]
fn the_fleet_demo_opens_on_three_applications() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("demo");
    let path = |rel: &str| home.path().join(rel).display().to_string();
    let env = [
        ("HOME", path("")),
        ("XDG_CONFIG_HOME", path("config")),
        ("XDG_CACHE_HOME", path("cache")),
        ("NO_COLOR", "1".into()),
    ]
    .map(|(k, v)| (k.to_string(), v));
    let console = Console::start_in(
        &env,
        "fleet-demo",
        &format!(
            "demo --fleet --dir {}",
            console_support::sh_quote(&dir.display().to_string())
        ),
    );
    // The demo builds three applications first (backups, verifications, two drills).
    let screen = console.wait_for_text(
        &["fleet: 3 applications", "✓ ok", "! stale", "✗ failed drill"],
        Duration::from_secs(180),
    );
    assert!(line_of(&screen, "app").contains("✓ ok"), "{screen}");
    assert!(line_of(&screen, "wiki").contains("! stale"), "{screen}");
    assert!(
        line_of(&screen, "crm").contains("✗ failed drill"),
        "{screen}"
    );

    // apps/*.toml in name order, then config.toml: the cursor starts on crm, and Enter opens
    // its console, which shows the failed drill.
    assert!(line_of(&screen, "crm").starts_with("│>"), "{screen}");
    console.keys(&["Enter"]);
    let dashboard = console.wait_for_text(&["1 Dashboard", "crm  Esc fleet"], SCREEN_TIMEOUT);
    assert!(dashboard.contains("FAIL"), "{dashboard}");
    console.keys(&["Escape"]);
    let back = console.wait_for_text(&["fleet: 3 applications"], SCREEN_TIMEOUT);
    assert!(line_of(&back, "crm").starts_with("│>"), "{back}");
    console.keys(&["q"]);
    assert_eq!(console.wait_for_exit(SCREEN_TIMEOUT), 0);
    assert!(dir.join("apps/crm.toml").is_file() && dir.join("apps/wiki.toml").is_file());
}
