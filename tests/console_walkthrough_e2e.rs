//! Issue 14's acceptance walk, end to end: the built console in tmux at 80x24 against a real
//! cluster (reached by a long URL with a password), a real repository and real gpg.
//!
//! - The lines `schedule install --cron` writes are run as cron would run them (a bare
//!   environment), and the console shows their verification in the set's log.
//! - The restore dialog shows the whole target URL, its password masked.
//! - Help shows every binding with a text no other binding has.
//! - A drill cancelled from the Jobs screen is listed as cancelled, not failed, and the
//!   dashboard's verdict and last drill stay what they were.

mod common;
mod console_support;

use common::app::{random_token, AppOptions, TestApp, APP_DB};
use common::{describe, text};
use console_support::Console;
use lifeboat::app::keymap::Keymap;
use std::process::{Command, Stdio};
use std::time::Duration;

const WAIT: Duration = Duration::from_secs(60);
/// The role the long URL logs in as, with a password (scram over TCP).
const ROLE: &str = "lifeboat_walk";

const DRILL: &str = r#"
[drill]
rto_target = "30m"
rpo_target = "48h"
freshness_query = "SELECT max(created_at) FROM audit_log"
"#;

const MANUAL_STEP: &str = r#"
[[drill.manual]]
step = "Log in as a 2FA user on the restored instance"
"#;

/// A URL longer than the dialog is wide, whose password the server really asks for.
fn long_password_url(app: &TestApp, password: &str) -> String {
    app.psql(&format!(
        "CREATE ROLE {ROLE} LOGIN SUPERUSER PASSWORD '{password}'"
    ));
    let hba = app.cluster().data_dir().join("pg_hba.conf");
    let rules = std::fs::read_to_string(&hba).expect("read pg_hba.conf");
    // First match wins: this line goes before the cluster's trust rules.
    std::fs::write(
        &hba,
        format!("host all {ROLE} 127.0.0.1/32 scram-sha-256\n{rules}"),
    )
    .expect("write pg_hba.conf");
    app.psql("SELECT pg_reload_conf()");
    format!(
        "postgresql://{ROLE}:{password}@127.0.0.1:{}/{APP_DB}?application_name=lifeboat-console-walkthrough&connect_timeout=10&sslmode=disable",
        app.cluster().port()
    )
}

/// The screen's text with every space and border gone, so that a wrapped line reads whole.
fn squash(text: &str) -> String {
    text.chars()
        .filter(|c| !c.is_whitespace() && !matches!(c, '│' | '┌' | '┐' | '└' | '┘' | '─'))
        .collect()
}

/// The dashboard's verdict: the row under its title.
fn verdict(screen: &str) -> String {
    screen
        .lines()
        .skip_while(|l| !l.contains("Can the application be brought back?"))
        .nth(1)
        .unwrap_or_default()
        .to_string()
}

/// The help texts on screen, one per binding: each half of a help row (two columns at 80x24)
/// without its keys.
fn help_texts(screen: &str, keymap: &Keymap) -> Vec<String> {
    let rows: Vec<&str> = screen
        .lines()
        .skip_while(|l| !l.contains("Keys (? or Esc closes)"))
        .skip(1)
        // The dialog's rows: its left border is the second column (the screen behind frames it).
        .take_while(|l| l.chars().nth(1) == Some('│'))
        .collect();
    let mut texts = Vec::new();
    for row in rows {
        let inner: Vec<char> = row.chars().skip(2).collect();
        let inner = &inner[..inner.len().saturating_sub(2)];
        for half in inner.chunks(inner.len().div_ceil(2)) {
            let half: String = half.iter().collect();
            let half = half.trim();
            if half.is_empty() {
                continue;
            }
            let keys = keymap
                .bindings
                .iter()
                .map(|b| b.labels.join(" "))
                .filter(|k| half.starts_with(&format!("{k} ")))
                .max_by_key(|k| k.len())
                .unwrap_or_else(|| panic!("no binding's keys lead {half:?}:\n{screen}"));
            texts.push(half[keys.len()..].trim().to_string());
        }
    }
    texts
}

#[test]
fn the_console_walkthrough_at_80x24() {
    let mut app = TestApp::new(AppOptions {
        secrets: false,
        ..AppOptions::default()
    });
    let password = format!("pw{}", random_token(8));
    let url = long_password_url(&app, &password);
    app.set_database_url(&url);
    let mut config = app.config_text();
    config.push_str(DRILL);
    app.write_raw_config(&config);
    app.backup();
    // A passing drill, so the dashboard has a verdict and a last drill to keep.
    let out = app.lifeboat(&["drill"]);
    assert_eq!(out.status.code(), Some(0), "drill: {}", describe(&out));

    // The schedule's lines, run as cron runs them: `sh -c` with next to no environment.
    let out = app.lifeboat(&[
        "schedule",
        "install",
        "--cron",
        "--crontab",
        "/nonexistent/tab",
        "--dry-run",
    ]);
    assert_eq!(out.status.code(), Some(0), "schedule: {}", describe(&out));
    let block = text(&out.stdout);
    let lines: Vec<&str> = block
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 2, "a backup and a verification: {block}");
    for line in &lines {
        let command = line.splitn(6, ' ').nth(5).expect("five time fields");
        let ran = Command::new("/bin/sh")
            .arg("-c")
            .arg(command)
            .env_clear()
            .env("PATH", "/usr/bin:/bin")
            .env("HOME", app.root())
            .stdin(Stdio::null())
            .output()
            .expect("run sh");
        assert_eq!(
            ran.status.code(),
            Some(0),
            "the crontab line `{line}`: {}",
            describe(&ran)
        );
    }

    // The console's drill will wait on a manual step: there to be cancelled.
    config.push_str(MANUAL_STEP);
    app.write_raw_config(&config);
    let console = Console::start(&app, "walk");
    // The verdict of the full load, not the preview's "preliminary" one.
    let screen = console.wait_for("the dashboard's full verdict", WAIT, |s| {
        (s.contains("Last drill") && s.contains("passed") && !s.contains("preliminary"))
            .then(|| s.to_string())
    });
    let before = verdict(&screen);
    assert!(!before.trim().is_empty(), "{screen}");

    // The scheduled verification, in the newest set's log (History, Enter).
    console.keys(&["2"]);
    console.wait_for_text(&["┌ History"], WAIT);
    console.keys(&["Enter"]);
    let screen = console.wait_for("the set's log with the scheduled runs", WAIT, |s| {
        let s = squash(s);
        (s.contains(&squash("backup by schedule: completed"))
            && s.contains(&squash(
                "verify (decrypted) by schedule: ✓ every object matches",
            )))
        .then_some(s)
    });
    assert!(screen.contains("Setdetail"), "{screen}");
    // Each Esc is awaited: Esc and the next key sent at once read as Alt and that key.
    console.keys(&["Escape"]);
    console.wait_for("the detail to close", WAIT, |s| {
        (!s.contains("Set detail")).then_some(())
    });

    // The restore dialog: the whole target, its password masked, the typed-name line in view.
    console.keys(&["r"]);
    let screen = console.wait_for_text(
        &["Restore: this replaces data", "Type the database name"],
        WAIT,
    );
    // Masked by leaving it out: the target as shown never holds the password.
    let masked = url.replace(&format!(":{password}"), "");
    assert!(
        squash(&screen).contains(&squash(&masked)),
        "{masked} not whole:\n{screen}"
    );
    assert!(!screen.contains(&password), "{screen}");
    // Taller than the screen, it scrolls to its last row; the typed-name line stays.
    if screen.contains(" scroll") {
        console.keys(&["PageDown", "PageDown", "PageDown"]);
        console.wait_for("the dialog scrolled to its end", WAIT, |s| {
            let at_end = s.lines().any(|l| {
                let Some((_, rest)) = l.split_once(" rows ") else {
                    return false;
                };
                let Some((range, rest)) = rest.split_once(" of ") else {
                    return false;
                };
                let total = rest.split_whitespace().next().unwrap_or_default();
                range.split_once('-').map(|(_, last)| last) == Some(total)
            });
            (at_end && s.contains("Type the database name")).then_some(())
        });
    }
    console.keys(&["Escape"]);
    console.wait_for("the dialog to close", WAIT, |s| {
        (!s.contains("Restore: this replaces data")).then_some(())
    });

    // Help: every binding once, no two texts alike.
    console.keys(&["?"]);
    let screen = console.wait_for_text(
        &[
            "Keys (? or Esc closes)",
            "Quit from anywhere",
            "No, in a dialog",
        ],
        WAIT,
    );
    let keymap = Keymap::default_keymap();
    let texts = help_texts(&screen, &keymap);
    assert_eq!(texts.len(), keymap.bindings.len(), "{texts:?}\n{screen}");
    let mut unique = texts.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        texts.len(),
        "two help lines read the same: {texts:?}"
    );
    console.keys(&["?"]);
    console.wait_for("the help to close", WAIT, |s| {
        (!s.contains("Keys (? or Esc closes)")).then_some(())
    });

    // A drill, cancelled while it waits on its manual step.
    console.keys(&["6"]);
    console.wait_for_text(&["Drill history"], WAIT);
    console.keys(&["d"]);
    console.wait_for_text(&["[ ] Log in as a 2FA user"], WAIT);
    console.keys(&["4"]);
    console.wait_for_text(&["┌ Jobs"], WAIT);
    console.keys(&["x"]);
    console.wait_for_text(&["Cancel job"], WAIT);
    console.keys(&["y"]);
    console.wait_for_text(&["drill cancelled"], WAIT);
    // Listed as cancelled once the repository is read again, never as a failure.
    console.keys(&["6"]);
    let screen = console.wait_for_text(&["– cancel", "✓ pass"], WAIT);
    assert!(!screen.contains("✗ FAIL"), "{screen}");
    console.keys(&["1"]);
    let screen = console.wait_for_text(
        &["Can the application be brought back?", "Last drill"],
        WAIT,
    );
    assert_eq!(verdict(&screen), before, "{screen}");
    let last_drill = screen
        .lines()
        .find(|l| l.contains("Last drill"))
        .unwrap_or_default();
    assert!(last_drill.contains("passed"), "{screen}");
    console.keys(&["q"]);
    assert_eq!(console.wait_for_exit(WAIT), 0);
}
