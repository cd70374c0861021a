//! One backup at a time, between the console and the headless command: whichever starts
//! first runs, the other is refused and names it. The built console runs in tmux at 80x24
//! against a real PostgreSQL cluster, a local repository and real gpg; the file root is big
//! enough that each backup runs for several seconds.

mod common;
mod console_support;

use std::process::Child;
use std::time::{Duration, Instant};

use common::app::{AppOptions, TestApp};
use console_support::{fill_random_files, gauge_percent, Console};

/// Random (incompressible) files added to the file root, so a backup lasts several seconds.
const BIG_FILES_BYTES: u64 = if cfg!(debug_assertions) { 128 } else { 512 } * 1024 * 1024;
const BIG_FILE_BYTES: u64 = 16 * 1024 * 1024;
/// `lifeboat backup` exits with this when another run holds the repository lock.
use lifeboat::jobs::exit_code::LOCKED as EXIT_LOCKED;

const SCREEN_TIMEOUT: Duration = Duration::from_secs(20);
const JOB_TIMEOUT: Duration = Duration::from_secs(90);

/// Waits until the gauge of the running backup has shown two different values below 100%.
fn wait_for_moving_gauge(console: &Console) -> Vec<u32> {
    let mut seen: Vec<u32> = Vec::new();
    console.wait_for("the backup gauge to move", JOB_TIMEOUT, |screen| {
        assert!(
            !screen.contains("Backup complete"),
            "the backup finished before its gauge was seen moving ({seen:?}); \
             make the file root bigger:\n{screen}"
        );
        if let Some(p) = gauge_percent(screen, "backup") {
            if p < 100 && seen.last() != Some(&p) {
                seen.push(p);
            }
        }
        (seen.len() >= 2).then(|| seen.clone())
    })
}

/// Polls `lifeboat status --json` until the lock holder is `pid`.
fn wait_for_lock_holder(app: &TestApp, pid: u32, cli: &mut Child) {
    let deadline = Instant::now() + JOB_TIMEOUT;
    loop {
        let (_, status) = app.lifeboat_json(&["status"]);
        if status["lock_holder"]["pid"].as_u64() == Some(u64::from(pid)) {
            return;
        }
        if let Ok(Some(exit)) = cli.try_wait() {
            panic!("lifeboat backup exited ({exit}) before it was seen holding the lock");
        }
        assert!(
            Instant::now() < deadline,
            "lifeboat backup (pid {pid}) never held the lock: {status:#}"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn the_console_and_the_cli_never_back_up_at_the_same_time() {
    let t0 = Instant::now();
    let app = TestApp::new(AppOptions::default());
    fill_random_files(
        &app.files_dir().join("big"),
        BIG_FILES_BYTES,
        BIG_FILE_BYTES,
    );
    let console = Console::start(&app, "lock");
    let console_pid = console.pid();
    console.wait_for_text(
        &[
            "Can the application be brought back?",
            "NO: there is no complete backup",
        ],
        SCREEN_TIMEOUT,
    );
    eprintln!("console up (pid {console_pid}): {:?}", t0.elapsed());

    // 1. The console first: a guided backup, and while its gauge moves, `lifeboat backup`.
    console.keys(&["b"]);
    console.wait_for_text(&["Enter start the backup"], SCREEN_TIMEOUT);
    console.keys(&["Enter"]);
    let moving = wait_for_moving_gauge(&console);
    eprintln!("console backup moving {moving:?}: {:?}", t0.elapsed());

    let (code, refused) = app.lifeboat_json(&["backup"]);
    assert_eq!(code, EXIT_LOCKED, "lifeboat backup --json: {refused:#}");
    assert_eq!(refused["ok"], false, "{refused:#}");
    let error = refused["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("is locked by") && error.contains(&format!("pid {console_pid} ")),
        "the refusal does not name the console (pid {console_pid}): {error}"
    );

    // The dashboard shows who holds the lock: the console itself.
    console.keys(&["1", "R"]);
    let dashboard = console.wait_for("the lock holder on the dashboard", JOB_TIMEOUT, |s| {
        assert!(
            !s.contains("Backup complete"),
            "the console's backup finished before the dashboard showed its lock:\n{s}"
        );
        s.lines()
            .any(|l| l.contains("Running") && l.contains("⟳ backup"))
            .then_some(())
            .filter(|_| s.contains(&format!("pid {console_pid} ")))
            .map(|_| s.to_string())
    });
    eprintln!(
        "dashboard names the holder: {:?}\n{dashboard}",
        t0.elapsed()
    );

    // Let the console's backup finish; decline the verification it offers.
    console.wait_for_text(&["Backup complete"], JOB_TIMEOUT);
    console.keys(&["n"]);
    eprintln!("console backup done: {:?}", t0.elapsed());

    // 2. The reverse: `lifeboat backup` first, then the guided backup in the console.
    let mut cli = app.spawn_lifeboat(&["backup", "--json"]);
    let cli_pid = cli.id();
    wait_for_lock_holder(&app, cli_pid, &mut cli);
    eprintln!(
        "cli backup (pid {cli_pid}) holds the lock: {:?}",
        t0.elapsed()
    );
    console.keys(&["b"]);
    let outcome = console.wait_for("the preflight's verdict", SCREEN_TIMEOUT, |s| {
        if s.contains("Fix the items marked ✗") {
            Some((true, s.to_string()))
        } else if s.contains("Enter start the backup") {
            Some((false, s.to_string()))
        } else {
            None
        }
    });
    match outcome {
        (true, preflight) => {
            let line = preflight
                .lines()
                .find(|l| l.contains("✗ no other backup running"))
                .unwrap_or_else(|| panic!("no ✗ on `no other backup running`:\n{preflight}"));
            assert!(
                line.contains(&format!("locked by backup (pid {cli_pid} ")),
                "the preflight does not name the CLI (pid {cli_pid}):\n{preflight}"
            );
            eprintln!("preflight refused: {:?}\n{preflight}", t0.elapsed());
            console.keys(&["Escape"]);
        }
        (false, _) => {
            // The CLI took the lock after the preflight looked: the job itself is refused.
            console.keys(&["Enter"]);
            let failed = console.wait_for_text(&["✗ #3 backup  failed:"], JOB_TIMEOUT);
            assert!(
                failed.contains("is locked by") && failed.contains(&format!("pid {cli_pid}")),
                "the failed job does not name the CLI (pid {cli_pid}):\n{failed}"
            );
            eprintln!("console job refused: {:?}\n{failed}", t0.elapsed());
        }
    }

    // The CLI's backup is the one that ran, and it completed.
    let out = cli.wait_with_output().expect("wait for lifeboat backup");
    assert_eq!(
        out.status.code(),
        Some(0),
        "the CLI backup failed:\nstdout:\n{}\nstderr:\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let done: serde_json::Value =
        serde_json::from_slice(&out.stdout).expect("backup --json prints JSON");
    assert_eq!(done["ok"], true, "{done:#}");

    // Two complete sets: one by the console (operator), one by the CLI. Nothing else ran.
    let (_, list) = app.lifeboat_json(&["list"]);
    let mut initiators: Vec<&str> = list["sets"]
        .as_array()
        .map(|sets| {
            sets.iter()
                .filter_map(|s| s["initiator"].as_str())
                .collect()
        })
        .unwrap_or_default();
    initiators.sort_unstable();
    assert_eq!(initiators, ["cli", "operator"], "{list:#}");
    assert_eq!(list["sets"][0]["set_id"], done["set_id"], "{list:#}");
    console.keys(&["q"]);
    assert_eq!(
        console.wait_for_exit(SCREEN_TIMEOUT),
        0,
        "console exit code"
    );
    eprintln!("total: {:?}", t0.elapsed());
}
