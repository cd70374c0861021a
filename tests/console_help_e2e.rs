//! Help and keys in the console, end to end: the built binary in tmux at 80x24. The help
//! overlay shows every binding on one screen with no two texts alike (the "Retention" and
//! "Retention simulator" lines used to read the same once shortened); an operator's
//! `keymap.toml` moves a key and the help and hints follow it; a conflicting one stops the
//! console before it opens, naming the file, the key and both actions.

mod common;
mod console_support;

use common::app::{AppOptions, TestApp};
use console_support::Console;
use lifeboat::app::keymap::Keymap;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(90);

/// The rows of the help overlay, between its title and its bottom border.
fn help_rows(screen: &str) -> Vec<String> {
    screen
        .lines()
        .skip_while(|l| !l.contains("Keys (? or Esc closes)"))
        .skip(1)
        .take_while(|l| !l.contains("└"))
        .map(str::to_string)
        .collect()
}

#[test]
fn help_is_whole_and_unique_and_follows_the_operators_keymap() {
    let app = TestApp::new(AppOptions::default());
    app.backup();
    let xdg = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(xdg.path().join("lifeboat")).unwrap();
    std::fs::write(
        xdg.path().join("lifeboat/keymap.toml"),
        "[[binding]]\naction = \"verify\"\nkeys = [\"w\"]\n",
    )
    .unwrap();
    let xdg_path = xdg.path().display().to_string();
    let console = Console::start_with_env(&app, "help", &[("XDG_CONFIG_HOME", &xdg_path)]);
    console.wait_for_text(&["Can the application be brought back?"], WAIT);
    console.keys(&["?"]);
    // Its first and last rows: a frame caught half drawn would miss one of them.
    let screen = console.wait_for_text(
        &[
            "Keys (? or Esc closes)",
            "Quit from anywhere",
            "No, in a dialog",
        ],
        WAIT,
    );
    let rows = help_rows(&screen);
    let help = rows.join("\n");
    // Every binding is on screen, in its full or its short text; nothing is cut with `…`.
    let keymap = Keymap::default_keymap();
    assert_eq!(rows.len(), keymap.bindings.len().div_ceil(2), "{screen}");
    for b in &keymap.bindings {
        assert!(
            help.contains(&b.help) || help.contains(&b.short),
            "{:?} missing:\n{screen}",
            b.action
        );
    }
    assert!(!help.contains('…'), "{screen}");
    // "Retention" once (the screen); the simulator's three keys each read differently.
    assert_eq!(help.matches("Retention").count(), 1, "{screen}");
    for text in [
        "Simulator: further",
        "Simulator: nearer",
        "Simulator: stop/go",
    ] {
        assert_eq!(help.matches(text).count(), 1, "{text}:\n{screen}");
    }
    // The override: verify is on `w`, and `v` is no longer listed.
    assert!(
        rows.iter()
            .any(|r| r.contains(" w ") && r.contains("Verify a set")),
        "{screen}"
    );
    assert!(!rows.iter().any(|r| r.contains(" v ")), "{screen}");
    // `?` closes it as well as Esc does, and cannot be read as Alt with the next key.
    console.keys(&["?"]);
    console.wait_for("the help to close", WAIT, |s| {
        (!s.contains("Keys (? or Esc closes)")).then_some(())
    });
    console.keys(&["2"]);
    // The hints follow the merged map, and the new key verifies the selected set.
    let screen = console.wait_for_text(&["┌ History", "w verify"], WAIT);
    assert!(!screen.contains("v verify"), "{screen}");
    console.keys(&["w"]);
    console.wait_for_text(&["every object matches"], WAIT);
    console.keys(&["q"]);
    assert_eq!(console.wait_for_exit(WAIT), 0);
}

#[test]
fn a_conflicting_keymap_stops_the_console_and_names_the_file_the_key_and_both_actions() {
    let app = TestApp::new(AppOptions::default());
    let xdg = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(xdg.path().join("lifeboat")).unwrap();
    let file = xdg.path().join("lifeboat/keymap.toml");
    std::fs::write(&file, "[[binding]]\naction = \"verify\"\nkeys = [\"b\"]\n").unwrap();
    let xdg_path = xdg.path().display().to_string();
    let console = Console::start_with_env(&app, "conflict", &[("XDG_CONFIG_HOME", &xdg_path)]);
    assert_ne!(console.wait_for_exit(WAIT), 0);
    let screen = console.screen().replace('\n', "");
    for needle in [
        file.display().to_string(),
        "key `b`".to_string(),
        "`guided_backup`".to_string(),
        "`verify`".to_string(),
    ] {
        assert!(screen.contains(&needle), "{needle}:\n{}", console.screen());
    }
}
