//! Cancellation reaches a running pg_restore. The dump holds an index whose expression sleeps
//! per row, so pg_restore is busy in the server for many seconds with a dump of a few KiB;
//! the test cancels once the server is building that index (seen in `pg_stat_activity`).
//!
//! - `lifeboat restore` and `lifeboat drill`, sent SIGINT (lifeboat alone, not its process
//!   group), stop pg_restore within 2 s, drop the database pg_restore wrote into, leave the
//!   target as it was, record the run as cancelled and exit 6.
//! - `lifeboat backup`, sent SIGINT while its snapshot session or pg_dump waits on a lock,
//!   stops them within 2 s through the same guard and exits 6 with no complete-looking set.
//! - In the console, `x` on the running restore job and Ctrl-c during a drill's restore phase
//!   do the same.
//!
//! pg_restore processes of a run are told apart by the run's environment: every child of a
//! lifeboat inherits its `LIFEBOAT_DATA_DIR`, which is the test app's own directory.

mod common;
mod console_support;

use common::app::{AppOptions, TestApp};
use common::describe;
use console_support::Console;
use serde_json::Value;
use std::process::Output;
use std::time::{Duration, Instant};

/// pg_restore must be gone this soon after the cancel (the issue's bound).
const STOP_BOUND: Duration = Duration::from_secs(2);
/// Everything else (a backup, a restore reaching its index, a console screen) may be slow on
/// a contended machine.
const WAIT: Duration = Duration::from_secs(120);
/// Rows of the slow table; each costs [`SLEEP_PER_ROW`] of index build in the restore.
const SLOW_ROWS: u32 = 600;
const SLEEP_PER_ROW: &str = "0.05";

/// A table with an expression index that sleeps per row, unless the session turns it off
/// (this setup does; pg_restore's sessions do not): restoring it takes SLOW_ROWS × 50 ms.
fn add_slow_index(app: &TestApp) {
    app.psql(&format!(
        "CREATE FUNCTION public.slow_key(int) RETURNS int LANGUAGE plpgsql IMMUTABLE AS $$ \
         BEGIN \
           IF coalesce(current_setting('lifeboat_test.fast', true), '') <> 'on' THEN \
             PERFORM pg_catalog.pg_sleep({SLEEP_PER_ROW}); \
           END IF; \
           RETURN $1; \
         END $$; \
         SET lifeboat_test.fast = 'on'; \
         CREATE TABLE public.slow (id int PRIMARY KEY); \
         INSERT INTO public.slow SELECT generate_series(1, {SLOW_ROWS}); \
         CREATE INDEX slow_by_key ON public.slow (public.slow_key(id));"
    ));
}

/// The pg_restore processes (leader and workers) of lifeboats started for `app`.
fn pg_restores(app: &TestApp) -> Vec<u32> {
    common::procs::tagged("LIFEBOAT_DATA_DIR", &app.data_dir().display().to_string())
        .into_iter()
        .filter(|p| p.comm == "pg_restore")
        .map(|p| p.pid)
        .collect()
}

/// Waits until the server builds the slow index in a database named like `db_like`, with a
/// pg_restore of the app running.
fn wait_for_index_build(app: &TestApp, db_like: &str, still_running: &dyn Fn() -> bool) {
    let deadline = Instant::now() + WAIT;
    loop {
        let building = app.psql_db(
            "postgres",
            &format!(
                "SELECT count(*) FROM pg_stat_activity WHERE datname LIKE '{db_like}' \
                 AND query LIKE 'CREATE INDEX slow_by_key%'"
            ),
        );
        if building != "0" && !pg_restores(app).is_empty() {
            return;
        }
        assert!(
            still_running(),
            "the run ended before pg_restore built the index"
        );
        assert!(
            Instant::now() < deadline,
            "pg_restore never reached the index"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

/// Waits until no pg_restore of the app is left; returns how long that took.
fn time_until_pg_restore_gone(app: &TestApp, since: Instant) -> Duration {
    loop {
        if pg_restores(app).is_empty() {
            return since.elapsed();
        }
        assert!(
            since.elapsed() < WAIT,
            "pg_restore {:?} still runs {:?} after the cancel",
            pg_restores(app),
            since.elapsed()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn databases_like(app: &TestApp, pattern: &str) -> String {
    app.psql_db(
        "postgres",
        &format!("SELECT coalesce(string_agg(datname, ', '), '') FROM pg_database WHERE datname LIKE '{pattern}'"),
    )
}

/// The journal's runs, folded by `run_id` to their latest line, oldest first.
fn journal_runs(app: &TestApp) -> Vec<Value> {
    let text = std::fs::read_to_string(app.journal_path()).unwrap_or_default();
    let mut runs: Vec<Value> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let entry: Value = serde_json::from_str(line).expect("journal line is JSON");
        if entry["type"] != "run" {
            continue;
        }
        match runs.iter_mut().find(|r| r["run_id"] == entry["run_id"]) {
            Some(slot) => *slot = entry,
            None => runs.push(entry),
        }
    }
    runs
}

fn last_restore(app: &TestApp) -> Value {
    journal_runs(app)
        .into_iter()
        .rev()
        .find(|r| r["kind"] == "restore")
        .unwrap_or_else(|| panic!("no restore in {}", app.journal_path().display()))
}

/// The server finishes with the killed restore's sessions too (DROP DATABASE ... FORCE).
fn assert_no_slow_sessions(app: &TestApp) {
    let deadline = Instant::now() + WAIT;
    loop {
        let left = app.psql_db(
            "postgres",
            "SELECT count(*) FROM pg_stat_activity WHERE query LIKE 'CREATE INDEX slow_by_key%'",
        );
        if left == "0" {
            return;
        }
        assert!(Instant::now() < deadline, "{left} index builds still run");
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn sigint(pid: u32) {
    // SAFETY: kill(2) on a child this test started.
    let rc = unsafe { libc::kill(pid as libc::pid_t, libc::SIGINT) };
    assert_eq!(rc, 0, "SIGINT to {pid}");
}

/// Starts `lifeboat ARGS`, cancels it with SIGINT once the server builds the slow index in a
/// database like `db_like`; returns its output and how long pg_restore outlived the signal.
fn interrupt_during_pg_restore(app: &TestApp, args: &[&str], db_like: &str) -> (Output, Duration) {
    let mut child = app.spawn_lifeboat(args);
    let pid = child.id();
    let running = || std::path::Path::new(&format!("/proc/{pid}/cmdline")).exists();
    wait_for_index_build(app, db_like, &running);
    let sent = Instant::now();
    sigint(pid);
    let gone_after = time_until_pg_restore_gone(app, sent);
    let deadline = Instant::now() + WAIT;
    while child.try_wait().expect("poll lifeboat").is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("lifeboat {args:?} still runs {WAIT:?} after SIGINT");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    (
        child.wait_with_output().expect("lifeboat output"),
        gone_after,
    )
}

fn app_with_slow_restore() -> (TestApp, String) {
    let app = TestApp::new(AppOptions {
        secrets: false,
        ..AppOptions::default()
    });
    add_slow_index(&app);
    let set = app.backup();
    (app, set)
}

#[test]
fn sigint_stops_a_headless_restore_in_pg_restore() {
    let (app, set) = app_with_slow_restore();
    let before = app.data_dump();
    let (out, gone_after) = interrupt_during_pg_restore(
        &app,
        &["restore", &set, "--yes", "--no-safety-backup"],
        "app\\_lifeboat\\_new\\_%",
    );
    assert!(
        gone_after < STOP_BOUND,
        "pg_restore outlived SIGINT by {gone_after:?}"
    );
    assert_eq!(out.status.code(), Some(6), "{}", describe(&out));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("cancelled"), "{stderr}");
    assert!(stderr.contains("was dropped"), "{stderr}");
    assert!(!stderr.contains("cannot run"), "{stderr}");
    // Said once, as a cancel: not "restore failed: cancelled; … the job was cancelled".
    let said = stderr
        .lines()
        .find(|l| l.starts_with("lifeboat: "))
        .unwrap_or_default();
    let (head, tail) = said
        .split_once(" was dropped)")
        .unwrap_or_else(|| panic!("{stderr}"));
    assert_eq!(
        head.rsplit_once("app_lifeboat_new_").map(|(h, _)| h),
        Some("lifeboat: restore cancelled; pg_restore was stopped before it finished (the new database "),
        "{stderr}"
    );
    assert_eq!(tail, "; the database app was not touched", "{stderr}");
    assert_eq!(
        databases_like(&app, "app\\_lifeboat\\_%"),
        "",
        "the new database is dropped"
    );
    assert_eq!(app.data_dump(), before, "the target is untouched");
    let run = last_restore(&app);
    assert_eq!(run["status"], "cancelled", "{run:#}");
    assert_no_slow_sessions(&app);
}

#[test]
fn sigint_stops_a_headless_drill_in_pg_restore() {
    let (app, _set) = app_with_slow_restore();
    let mut config = app.config_text();
    config.push_str(&format!(
        "\n[drill]\nserver_url = {}\nrto_target = \"30m\"\nrpo_target = \"48h\"\n",
        serde_json::to_string(&app.url()).expect("a string")
    ));
    app.write_raw_config(&config);
    let (out, gone_after) =
        interrupt_during_pg_restore(&app, &["drill", "--json"], "app\\_drill\\_%");
    assert!(
        gone_after < STOP_BOUND,
        "pg_restore outlived SIGINT by {gone_after:?}"
    );
    assert_eq!(out.status.code(), Some(6), "{}", describe(&out));
    let record: Value = serde_json::from_slice(&out.stdout).expect("the drill record");
    assert_eq!(record["cancelled"], true, "{record:#}");
    let phases: Vec<&str> = record["phases"]
        .as_array()
        .expect("phases")
        .iter()
        .filter_map(|p| p["name"].as_str())
        .collect();
    assert_eq!(phases.last(), Some(&"teardown"), "{phases:?}");
    assert!(!phases.contains(&"checks"), "{phases:?}");
    assert_eq!(
        databases_like(&app, "app\\_drill\\_%"),
        "",
        "the scratch database is dropped"
    );
    assert_no_slow_sessions(&app);
}

/// `x` then `y` on the Jobs screen while the console's restore is in pg_restore.
#[test]
fn x_on_a_console_restore_stops_pg_restore() {
    let (app, set) = app_with_slow_restore();
    let before = app.data_dump();
    let console = Console::start(&app, "pgcancel-restore");
    console.wait_for_text(&["Can the application be brought back?"], WAIT);
    console.keys(&["2"]);
    console.wait_for_text(&[&set], WAIT);
    console.keys(&["r"]);
    console.wait_for_text(&["Type the database name"], WAIT);
    for c in ["a", "p", "p", "Enter"] {
        console.keys(&[c]);
    }
    let pid = console.pid();
    let running = || std::path::Path::new(&format!("/proc/{pid}/cmdline")).exists();
    wait_for_index_build(&app, "app\\_lifeboat\\_new\\_%", &running);
    console.keys(&["4"]);
    console.wait_for_text(&["Jobs", "restore"], WAIT);
    console.keys(&["x"]);
    console.wait_for_text(&["Cancel job"], WAIT);
    let sent = Instant::now();
    console.keys(&["y"]);
    let gone_after = time_until_pg_restore_gone(&app, sent);
    assert!(
        gone_after < STOP_BOUND,
        "pg_restore outlived the cancel by {gone_after:?}"
    );
    let deadline = Instant::now() + WAIT;
    while last_restore(&app)["status"] == "running" {
        assert!(Instant::now() < deadline, "the restore never ended");
        std::thread::sleep(Duration::from_millis(50));
    }
    let run = last_restore(&app);
    assert_eq!(run["status"], "cancelled", "{run:#}");
    assert_eq!(
        databases_like(&app, "app\\_lifeboat\\_%"),
        "",
        "the new database is dropped"
    );
    assert_eq!(app.data_dump(), before, "the target is untouched");
    assert_no_slow_sessions(&app);
    console.keys(&["q"]);
    assert_eq!(console.wait_for_exit(WAIT), 0);
}

/// Ctrl-c in the console while its drill runs pg_restore (into the drill's own cluster).
#[test]
fn ctrl_c_in_the_console_stops_a_drill_in_pg_restore() {
    let (app, set) = app_with_slow_restore();
    let mut config = app.config_text();
    config.push_str("\n[drill]\nrto_target = \"30m\"\nrpo_target = \"48h\"\n");
    app.write_raw_config(&config);
    let console = Console::start(&app, "pgcancel-drill");
    console.wait_for_text(&["Can the application be brought back?"], WAIT);
    console.keys(&["6"]);
    console.wait_for_text(&["No drill recorded yet"], WAIT);
    console.keys(&["d"]);
    // The drill's cluster is private: the index build is seen through pg_restore's own
    // process, alive for a while after the phase began.
    let deadline = Instant::now() + WAIT;
    let first = loop {
        if !pg_restores(&app).is_empty()
            && console.screen().contains("restore")
            && common::procs::tagged("LIFEBOAT_DATA_DIR", &app.data_dir().display().to_string())
                .iter()
                .any(|p| p.comm == "pg_restore" && p.args.iter().any(|a| a.starts_with("--jobs")))
        {
            break Instant::now();
        }
        assert!(
            Instant::now() < deadline,
            "the drill never reached pg_restore"
        );
        std::thread::sleep(Duration::from_millis(20));
    };
    // Well into the index build (the table's data takes a moment; the index many seconds).
    while first.elapsed() < Duration::from_secs(2) {
        std::thread::sleep(Duration::from_millis(20));
    }
    assert!(!pg_restores(&app).is_empty(), "pg_restore ended on its own");
    // Ctrl-c asks first while a job runs; `y` cancels it and quits.
    console.keys(&["C-c"]);
    console.wait_for_text(&["Quit while a job runs?"], WAIT);
    let sent = Instant::now();
    console.keys(&["y"]);
    let gone_after = time_until_pg_restore_gone(&app, sent);
    assert!(
        gone_after < STOP_BOUND,
        "pg_restore outlived Ctrl-c by {gone_after:?}"
    );
    assert_eq!(console.wait_for_exit(WAIT), 0);
    // The drill's cluster went with it (the app's own server is the test's, not the run's).
    let servers: Vec<u32> =
        common::procs::tagged("LIFEBOAT_DATA_DIR", &app.data_dir().display().to_string())
            .into_iter()
            .filter(|p| p.comm == "postgres")
            .map(|p| p.pid)
            .collect();
    assert!(
        servers.is_empty(),
        "the drill's cluster still runs: {servers:?}"
    );
    let (code, records) = app.lifeboat_json(&["drill", "list"]);
    assert_eq!(code, 0);
    let record = &records.as_array().expect("records")[0];
    assert_eq!(record["cancelled"], true, "{record:#}");
    assert_eq!(record["set_id"], set.as_str());
}

/// The psql and pg_dump processes of lifeboats started for `app`.
fn pg_clients(app: &TestApp) -> Vec<(u32, String)> {
    common::procs::tagged("LIFEBOAT_DATA_DIR", &app.data_dir().display().to_string())
        .into_iter()
        .filter(|p| p.comm == "pg_dump" || p.comm == "psql")
        .map(|p| (p.pid, p.comm))
        .collect()
}

/// A backup cancelled while it waits on the database: another session holds an ACCESS
/// EXCLUSIVE lock on a table, so the backup's snapshot session (psql) or pg_dump blocks on it
/// for as long as the test wants. SIGINT stops every psql and pg_dump of the run within the
/// bound through the adapter's guard (no pid is signalled by hand), the backup exits 6, and
/// no set looks complete.
#[test]
fn sigint_stops_a_headless_backup_waiting_on_the_database() {
    let app = TestApp::new(AppOptions {
        secrets: false,
        ..AppOptions::default()
    });
    app.psql("CREATE TABLE public.held (id int); INSERT INTO public.held VALUES (1);");
    let (_, before) = app.lifeboat_json(&["list"]);
    let mut holder = std::process::Command::new(app.pg_program("psql"))
        .arg(app.url())
        .args(["-X", "-q", "-v", "ON_ERROR_STOP=1"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::null())
        .spawn()
        .expect("psql holding the lock");
    {
        use std::io::Write as _;
        let stdin = holder.stdin.as_mut().expect("psql stdin");
        writeln!(
            stdin,
            "BEGIN; LOCK TABLE public.held IN ACCESS EXCLUSIVE MODE; SELECT 1;"
        )
        .expect("lock statement");
        stdin.flush().expect("flush");
    }
    let mut child = app.spawn_lifeboat(&["backup", "--json"]);
    let pid = child.id();
    let deadline = Instant::now() + WAIT;
    loop {
        let waiting = app.psql_db(
            "postgres",
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' \
             AND datname <> 'postgres'",
        );
        if waiting != "0" && !pg_clients(&app).is_empty() {
            break;
        }
        assert!(
            child.try_wait().expect("poll").is_none(),
            "the backup ended before pg_dump waited for the lock: {}",
            describe(&child.wait_with_output().expect("output"))
        );
        assert!(
            Instant::now() < deadline,
            "the backup never waited for the lock"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let sent = Instant::now();
    sigint(pid);
    loop {
        if pg_clients(&app).is_empty() {
            break;
        }
        assert!(
            sent.elapsed() < WAIT,
            "{:?} still run {:?} after the cancel",
            pg_clients(&app),
            sent.elapsed()
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let gone_after = sent.elapsed();
    let _ = holder.kill();
    let _ = holder.wait();
    let out = child.wait_with_output().expect("lifeboat output");
    assert!(
        gone_after < STOP_BOUND,
        "the backup's psql/pg_dump outlived SIGINT by {gone_after:?}"
    );
    assert_eq!(out.status.code(), Some(6), "{}", describe(&out));
    let (_, after) = app.lifeboat_json(&["list"]);
    assert_eq!(
        after["sets"], before["sets"],
        "a cancelled backup leaves no set that looks complete"
    );
    let run = journal_runs(&app)
        .into_iter()
        .rev()
        .find(|r| r["kind"] == "backup")
        .expect("the backup's run in the journal");
    assert_eq!(run["status"], "cancelled", "{run:#}");
}
