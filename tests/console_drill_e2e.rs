//! The drill walkthrough in the console, end to end: the built binary in tmux at 80x24 against a
//! real cluster, a real repository and real gpg. It starts a drill from the keyboard, watches the
//! phases tick by, ticks the manual step, and reads the verdict with RPO and RTO on the Drills
//! screen and on the dashboard.

mod common;
mod console_support;

use common::app::{AppOptions, TestApp};
use console_support::Console;
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(90);

#[test]
fn a_drill_walkthrough_ticks_a_manual_step_and_shows_the_verdict() {
    let app = TestApp::new(AppOptions::default());
    let mut config = app.config_text();
    config.push_str(
        "\n[drill]\nrto_target = \"30m\"\nrpo_target = \"48h\"\n\
         freshness_query = \"SELECT max(created_at) FROM audit_log\"\n\
         [[drill.check]]\nname = \"invoices gapless\"\n\
         sql = \"SELECT count(*) FROM (SELECT number - lag(number) OVER (ORDER BY number) AS d FROM billing.invoices) g WHERE d <> 1\"\n\
         expect = \"0\"\n\
         [[drill.manual]]\nstep = \"Log in as a 2FA user on the restored instance\"\n",
    );
    app.write_raw_config(&config);
    let set = app.backup();

    let console = Console::start(&app, "drill");
    console.wait_for_text(&["Can the application be brought back?"], WAIT);
    console.keys(&["6"]);
    console.wait_for_text(&["No drill recorded yet"], WAIT);
    console.keys(&["d"]);
    // The walkthrough: phases appear with timers, then the run waits for the manual step.
    let screen = console.wait_for_text(&["manual steps", "[ ] Log in as a 2FA user"], WAIT);
    assert!(screen.contains("fetch and verify"), "{screen}");
    assert!(screen.contains("restore"), "{screen}");
    assert!(screen.contains("checks"), "{screen}");
    // Tick it: the drill finishes, the verdict carries RTO and RPO.
    console.keys(&["t"]);
    let screen = console.wait_for_text(&["drill passed: RTO"], WAIT);
    assert!(screen.contains("[x] Log in as a 2FA user"), "{screen}");
    assert!(screen.contains("RPO"), "{screen}");
    // The history (reloaded after the job) shows the drill with its verdict.
    let screen = console.wait_for_text(&["✓ pass", &set], WAIT);
    assert!(screen.contains("Drill history"), "{screen}");
    // And the dashboard's drill line.
    console.keys(&["1"]);
    let screen = console.wait_for_text(&["Last drill", "passed", "RTO", "RPO"], WAIT);
    assert!(screen.contains("next due"), "{screen}");
    console.keys(&["q"]);
    assert_eq!(console.wait_for_exit(WAIT), 0);

    // The record is in the repository, with the manual step done.
    let (code, records) = app.lifeboat_json(&["drill", "list"]);
    assert_eq!(code, 0);
    let record = &records.as_array().unwrap()[0];
    assert_eq!(record["passed"], true);
    assert_eq!(record["set_id"], set.as_str());
    assert_eq!(record["manual"][0]["done"], true);
    assert!(record["rto_seconds"].as_f64().unwrap() > 0.0);
}
