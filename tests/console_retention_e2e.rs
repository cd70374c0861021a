//! Retention in the console, end to end: the built binary in tmux at 80x24 against a real
//! cluster and repository. It pins a set with a note, reads the prune preview, confirms the
//! prune, and finds the result in History (the pruned set marked) and Inventory (gone), with
//! the pinned set kept.

mod common;
mod console_support;

use common::app::{AppOptions, TestApp};
use console_support::Console;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(90);

#[test]
fn pin_preview_and_confirm_a_prune_from_the_console() {
    let app = TestApp::new(AppOptions::default());
    let mut config = app.config_text();
    config.push_str("\n[retention]\nkeep_last = 1\nmin_age = \"1s\"\n");
    app.write_raw_config(&config);
    // Set ids order by the second they start in: a second apart, the order is the creation order.
    let oldest = app.backup();
    std::thread::sleep(Duration::from_millis(1100));
    let middle = app.backup();
    std::thread::sleep(Duration::from_millis(1100));
    let newest = app.backup();
    // Sets younger than min_age are never deleted.
    std::thread::sleep(Duration::from_secs(2));

    let console = Console::start(&app, "retention");
    console.wait_for_text(&["Can the application be brought back?"], WAIT);
    console.keys(&["5"]);
    let screen = console.wait_for_text(&["Sets, newest first", &newest], WAIT);
    assert!(screen.contains("2 of 3 sets expire"), "{screen}");
    // The oldest set is the last row: pin it.
    console.keys(&["G", "p"]);
    console.wait_for_text(&["Pin a set", "Why is it kept?"], WAIT);
    console.keys(&["legal", "Space", "hold"]);
    console.keys(&["Enter"]);
    let screen = console.wait_for_text(&["pinned: legal hold", "1 of 3 sets expire"], WAIT);
    assert!(screen.contains(&oldest), "{screen}");
    // Prune: the confirmation says exactly what goes.
    console.keys(&["P"]);
    console.wait_for_text(&["Prune?", "Delete 1 expired set(s)"], WAIT);
    console.keys(&["y"]);
    // The prune says each deletion in the job's log, as it is done.
    let deleted = format!("deleted set {middle}");
    console.wait_for_text(&["pruned 1 set(s)", &deleted], WAIT);
    // History marks the pruned set; the others are still complete.
    console.keys(&["2"]);
    let screen = console.wait_for_text(&["┌ History", "· pruned", &middle], WAIT);
    assert!(screen.contains(&oldest), "{screen}");
    // Inventory no longer lists it, and shows the pin.
    console.keys(&["3"]);
    let screen = console.wait_for_text(&["set / object", &newest], WAIT);
    assert!(!screen.contains(&middle), "{screen}");
    assert!(screen.contains(&oldest), "{screen}");
    assert!(screen.contains("pin"), "{screen}");
    console.keys(&["q"]);
    assert_eq!(console.wait_for_exit(WAIT), 0);

    let (code, list) = app.lifeboat_json(&["list"]);
    assert_eq!(code, 0);
    let ids: Vec<&str> = list["sets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["set_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [newest.as_str(), oldest.as_str()]);
}

/// `R` reloads the configuration as well as the repository: a `[retention]` policy added while
/// the console runs turns Retention's refusal into the prune preview.
#[test]
fn r_reloads_the_config_so_a_new_retention_policy_shows() {
    let app = TestApp::new(AppOptions::default());
    let config = app.config_text();
    app.write_raw_config(&config);
    let set = app.backup();

    let console = Console::start(&app, "reload");
    console.wait_for_text(&["Can the application be brought back?"], WAIT);
    console.keys(&["5"]);
    console.wait_for_text(&["Prune is refused"], WAIT);
    app.write_raw_config(&format!("{config}\n[retention]\nkeep_last = 1\n"));
    console.keys(&["R"]);
    let screen = console.wait_for_text(&["Sets, newest first", &set], WAIT);
    assert!(!screen.contains("Prune is refused"), "{screen}");
    assert!(screen.contains("configuration reloaded"), "{screen}");
    console.keys(&["q"]);
    assert_eq!(console.wait_for_exit(WAIT), 0);
}
