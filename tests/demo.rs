//! `lifeboat demo`, as a newcomer runs it: the built binary builds a whole installation from
//! real parts, prints how to reach it again, keeps its log in its own directory, and ships a
//! retention policy under which `lifeboat prune` has an expired set to show; `demo --fleet`
//! opens the fleet screen on three applications (in tmux at 80x24).

mod common;
mod console_support;

use console_support::{fleet_row as line_of, Console};
use std::process::Command;
use std::time::Duration;

const SCREEN_TIMEOUT: Duration = Duration::from_secs(30);

#[test]
fn the_demo_prints_its_environment_keeps_its_log_and_has_a_retention_policy() {
    let home = tempfile::tempdir().unwrap();
    let dir = home.path().join("demo");
    let bin = env!("CARGO_BIN_EXE_lifeboat");
    let out = Command::new(bin)
        .args(["demo", "--no-console", "--dir"])
        .arg(&dir)
        // The operator's own directories: nothing of the demo may land there.
        .env("HOME", home.path())
        .env("XDG_STATE_HOME", home.path().join("state"))
        .env("XDG_DATA_HOME", home.path().join("data"))
        .env_remove("LIFEBOAT_CONFIG")
        .env_remove("LIFEBOAT_DATA_DIR")
        .env_remove("LIFEBOAT_STATE_DIR")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let export = stdout
        .lines()
        .find(|l| l.trim_start().starts_with("export LIFEBOAT_CONFIG="))
        .unwrap_or_else(|| panic!("no export line:\n{stdout}"));
    let env: Vec<(String, String)> = export
        .trim_start()
        .trim_start_matches("export ")
        .split(' ')
        .map(|kv| {
            let (k, v) = kv.split_once('=').unwrap();
            (k.to_string(), v.to_string())
        })
        .collect();
    assert_eq!(env.len(), 3, "{export}");
    assert!(dir.join("state/logs/lifeboat.log").is_file());
    assert!(
        !home.path().join("state").exists(),
        "the demo logged outside its directory"
    );

    // The printed environment reaches the demo, and its policy expires the older set.
    let out = Command::new(bin)
        .args(["prune", "--json"])
        .envs(env)
        .output()
        .unwrap();
    let json: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: {}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    assert!(out.status.success(), "{json}");
    assert_eq!(json["plan"]["freed"]["sets"], 1, "{json}");
    let keep: Vec<bool> = json["plan"]["sets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["keep"].as_bool().unwrap())
        .collect();
    assert_eq!(
        keep,
        [true, false],
        "the newest kept, the older expired: {json}"
    );
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
    // Once loaded, its dashboard shows the failed drill.
    console.wait_for_text(&["1 Dashboard", "crm  Esc fleet", "FAIL"], SCREEN_TIMEOUT);
    console.keys(&["Escape"]);
    let back = console.wait_for_text(&["fleet: 3 applications"], SCREEN_TIMEOUT);
    assert!(line_of(&back, "crm").starts_with("│>"), "{back}");
    console.keys(&["q"]);
    assert_eq!(console.wait_for_exit(SCREEN_TIMEOUT), 0);
    assert!(dir.join("apps/crm.toml").is_file() && dir.join("apps/wiki.toml").is_file());
}
