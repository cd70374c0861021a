//! The console end to end: the built binary in tmux at 80x24, against a real PostgreSQL
//! cluster with sample data, an S3 repository served by s3s-fs, a local secrets repository and
//! real gpg (passphrase mode). An operator opens the dashboard, takes a guided backup and
//! watches its gauge advance, verifies the new set from the completion dialog, finds it in
//! History and Inventory, and quits; the terminal is left as it was found.

mod common;
mod console_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use common::app::{AppOptions, RepoKind, TestApp};
use console_support::{fill_random_files, gauge_percent, Console};

/// Random (incompressible) files added to the file root, so the backup runs for a few
/// seconds. An unoptimised build moves ~15-20 MB/s on two cores, a release build ~100 MB/s.
const BIG_FILES_BYTES: u64 = if cfg!(debug_assertions) { 128 } else { 384 } * 1024 * 1024;
const BIG_FILE_BYTES: u64 = 16 * 1024 * 1024;

const SCREEN_TIMEOUT: Duration = Duration::from_secs(20);
const JOB_TIMEOUT: Duration = Duration::from_secs(90);

/// The one set folder in the data repository (the bucket's prefix on disk).
fn only_set(app: &TestApp) -> String {
    let sets = app.data_repo_root().join("sets");
    let names: Vec<String> = std::fs::read_dir(&sets)
        .unwrap_or_else(|e| panic!("read {}: {e}", sets.display()))
        .map(|e| {
            e.expect("read a set folder entry")
                .file_name()
                .to_string_lossy()
                .into_owned()
        })
        .collect();
    assert_eq!(names.len(), 1, "expected exactly one set, found {names:?}");
    names.into_iter().next().expect("one set")
}

/// `stty -a` output as words: `icanon`, `-echo`, `intr = ^C`, ...
fn stty_flags(stty: &str) -> BTreeSet<String> {
    stty.split(|c: char| c.is_whitespace() || c == ';')
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn guided_backup_verify_history_inventory_and_a_restored_terminal() {
    let t0 = Instant::now();
    let app = TestApp::new(AppOptions {
        repo: RepoKind::S3,
        ..AppOptions::default()
    });
    fill_random_files(
        &app.files_dir().join("big"),
        BIG_FILES_BYTES,
        BIG_FILE_BYTES,
    );
    eprintln!("setup: {:?}", t0.elapsed());

    let console = Console::start(&app, "e2e");
    let dashboard = console.wait_for_text(
        &[
            "Can the application be brought back?",
            "NO: there is no complete backup",
        ],
        SCREEN_TIMEOUT,
    );
    assert!(dashboard.contains("1 Dashboard"), "{dashboard}");

    // The guided backup: preflight first, every check passing, then the keys to start.
    console.keys(&["b"]);
    let preflight = console.wait_for_text(&["Enter start the backup"], SCREEN_TIMEOUT);
    for check in [
        "✓ database reachable",
        "✓ tables present",
        "✓ pg_dump version",
        "✓ file roots readable",
        "✓ encryption key usable",
        "✓ repository reachable",
    ] {
        assert!(preflight.contains(check), "no `{check}` in:\n{preflight}");
    }
    assert!(
        !preflight.contains('✗'),
        "a preflight check failed:\n{preflight}"
    );
    eprintln!("preflight shown: {:?}", t0.elapsed());

    // Start it: the Jobs screen shows the gauge, which advances before the set completes.
    console.keys(&["Enter"]);
    let mut seen: Vec<u32> = Vec::new();
    let complete = console.wait_for("the Backup complete dialog", JOB_TIMEOUT, |screen| {
        if let Some(p) = gauge_percent(screen, "backup") {
            if p < 100 && seen.last() != Some(&p) {
                seen.push(p);
            }
        }
        screen
            .contains("Backup complete")
            .then(|| screen.to_string())
    });
    eprintln!("backup done: {:?}; gauge readings {seen:?}", t0.elapsed());
    let distinct: BTreeSet<u32> = seen.iter().copied().collect();
    assert!(
        distinct.len() >= 2,
        "the gauge showed fewer than two values below 100% before completion: {seen:?}"
    );
    assert!(
        seen.windows(2).all(|w| w[0] <= w[1]),
        "the gauge went backwards: {seen:?}"
    );
    let set_id = only_set(&app);
    assert!(
        complete.contains(&format!("Set {set_id} is complete")),
        "the dialog does not name set {set_id}:\n{complete}"
    );
    assert!(complete.contains("y verify"), "{complete}");

    // Verify from the dialog: a verify job that succeeds.
    console.keys(&["y"]);
    let jobs = console.wait_for_text(
        &[&format!("✓ #2 verify {set_id}"), "every object matches"],
        JOB_TIMEOUT,
    );
    assert!(
        jobs.contains(&format!("✓ #1 backup  set {set_id} complete")),
        "{jobs}"
    );
    eprintln!("verified: {:?}\n{jobs}", t0.elapsed());

    // History: the set, completed and verified.
    console.keys(&["2"]);
    let history = console.wait_for("the set verified in History", SCREEN_TIMEOUT, |s| {
        s.lines()
            .find(|l| {
                l.contains(&set_id) && l.contains("✓ completed") && l.matches('✓').count() >= 2
            })
            .map(|_| s.to_string())
    });
    assert!(history.contains("History"), "{history}");
    eprintln!("{history}");

    // Inventory: the set, complete.
    console.keys(&["3"]);
    console.wait_for("the set in Inventory", SCREEN_TIMEOUT, |s| {
        s.lines()
            .find(|l| l.contains(&set_id) && l.contains("complete") && !l.contains('✗'))
            .map(|_| ())
    });

    // Quit: nothing runs, so no question; the terminal comes back cooked and on the main screen.
    console.keys(&["q"]);
    assert_eq!(
        console.wait_for_exit(SCREEN_TIMEOUT),
        0,
        "console exit code"
    );
    let flags = stty_flags(&console.stty_after_exit());
    for (on, off) in [("icanon", "-icanon"), ("echo", "-echo")] {
        assert!(
            flags.contains(on) && !flags.contains(off),
            "the terminal was left with {off}: {flags:?}"
        );
    }
    assert_eq!(console.alternate_on(), "0", "still on the alternate screen");

    // The headless verify agrees.
    let out = app.lifeboat(&["verify", &set_id]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "lifeboat verify {set_id}:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    eprintln!("total: {:?}", t0.elapsed());
}
