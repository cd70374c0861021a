//! Time and restores, on the real parts (PostgreSQL 15, gpg, a local repository):
//! - two backups started in the same second list in start order, and `latest` is the later;
//! - a set dated in the future (a real set copied under a future id, as someone with write
//!   access to the bucket could) is flagged by `status` and `list`, and neither `restore
//!   latest` nor a default drill takes it;
//! - a restore's safety backup is marked as such (manifest, journal, `list`) and is not latest;
//! - a restore killed with SIGKILL while pg_restore runs is shown by `status` as interrupted,
//!   with what its target may be in (exit 18).

mod common;

use chrono::{DateTime, Duration as Span, SubsecRound, Utc};
use common::app::{AppOptions, TestApp};
use common::forge::copy_set;
use common::{describe, text};
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON ({e}): {}", describe(out)))
}

/// The complete sets `lifeboat list --json` shows, newest first, and the one marked latest.
fn listed(app: &TestApp) -> (Vec<String>, Option<String>, Value) {
    let (code, list) = app.lifeboat_json(&["list"]);
    assert_eq!(code, 0, "{list:#}");
    let sets = list["sets"].as_array().expect("sets").clone();
    let ids = sets
        .iter()
        .map(|s| s["set_id"].as_str().expect("set_id").to_string())
        .collect();
    let latest = sets
        .iter()
        .find(|s| s["latest"] == true)
        .map(|s| s["set_id"].as_str().expect("set_id").to_string());
    (ids, latest, list)
}

/// The set `restore latest --dry-run` plans to restore.
fn planned_latest(app: &TestApp) -> String {
    let out = app.lifeboat(&["restore", "latest", "--dry-run", "--json"]);
    let plan = json(&out);
    assert_eq!(out.status.code(), Some(0), "{plan:#}\n{}", describe(&out));
    plan["set_id"]
        .as_str()
        .or_else(|| plan["plan"]["set_id"].as_str())
        .unwrap_or_else(|| panic!("the plan names its set: {plan:#}"))
        .to_string()
}

fn status_json(app: &TestApp) -> (i32, Value) {
    let out = app.lifeboat(&["status", "--json"]);
    (out.status.code().unwrap_or(-1), json(&out))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).expect("create the folder");
    for entry in std::fs::read_dir(from).expect("list the folder") {
        let entry = entry.expect("an entry");
        std::fs::copy(entry.path(), to.join(entry.file_name())).expect("copy an object");
    }
}

/// Waits until the wall clock is early in a second, so that two runs started now start in
/// the same second (unless the machine stalls: the caller checks, and tries again).
fn early_in_a_second() {
    loop {
        let now = Utc::now();
        let into = now - now.trunc_subsecs(0);
        if into < Span::milliseconds(100) {
            return;
        }
        std::thread::sleep(
            (Span::milliseconds(1005) - into)
                .to_std()
                .expect("positive"),
        );
    }
}

/// Two backups started in the same second (into two repositories at once, since the lock
/// keeps two backups of one repository apart), their sets then brought into one repository:
/// they list in the order they started, and `latest` (list, status, `restore latest`) is the
/// one started later.
#[test]
fn two_backups_started_in_the_same_second_order_by_their_start() {
    let app = TestApp::new(AppOptions {
        secrets: false,
        ..Default::default()
    });
    let other_repo = app.root().join("other-repo");
    let other_config = app.root().join("other.toml");
    let main_repo = app.repo_dir().display().to_string();
    std::fs::write(
        &other_config,
        app.config_text()
            .replace(&main_repo, &other_repo.display().to_string()),
    )
    .expect("write the second configuration");
    let mut pair = None;
    for _attempt in 0..10 {
        early_in_a_second();
        let a = app.spawn_lifeboat(&["backup", "--json"]);
        let b = app
            .command_with_config(&other_config, &["backup", "--json"])
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("spawn the second backup");
        let (a, b) = (
            a.wait_with_output().expect("first backup"),
            b.wait_with_output().expect("second backup"),
        );
        assert_eq!(a.status.code(), Some(0), "{}", describe(&a));
        assert_eq!(b.status.code(), Some(0), "{}", describe(&b));
        let id = |o: &std::process::Output| json(o)["set_id"].as_str().expect("set_id").to_string();
        let (a, b) = (id(&a), id(&b));
        // Same second: the ids agree up to the milliseconds (`YYYYMMDDTHHMMSS.`). Two starts
        // in the same millisecond (possible only across repositories: one lock per
        // repository) tell nothing about ordering: try again.
        if a[..16] == b[..16] && a[16..19] != b[16..19] {
            pair = Some((a, b));
            break;
        }
    }
    let (a, b) = pair.expect(
        "two backups started in the same second (not the same millisecond) in one of ten tries",
    );
    copy_dir(
        &other_repo.join("sets").join(&b),
        &app.repo_dir().join("sets").join(&b),
    );
    let (first, second) = if a < b { (a, b) } else { (b, a) };
    assert_ne!(first[16..19], second[16..19], "{first} {second}");
    let started = |id: &str| -> DateTime<Utc> {
        let m: Value = serde_json::from_slice(
            &std::fs::read(app.set_dir_local(id).join("manifest.json")).expect("manifest"),
        )
        .expect("manifest.json");
        m["started_at"]
            .as_str()
            .expect("started_at")
            .parse()
            .expect("a time")
    };
    assert!(
        started(&first) < started(&second),
        "{first} started before {second} by its manifest"
    );
    let (ids, latest, _) = listed(&app);
    // Earlier tries (same millisecond) leave sets of their own, older than these two.
    assert_eq!(
        ids[..2],
        [second.clone(), first.clone()],
        "newest first: {ids:?}"
    );
    assert_eq!(latest.as_deref(), Some(second.as_str()));
    let (_, status) = status_json(&app);
    assert_eq!(
        status["newest_set"]["set_id"],
        second.as_str(),
        "{status:#}"
    );
    assert_eq!(planned_latest(&app), second);
}

/// A real set copied under an id two days ahead (a forged set, or one from a host whose
/// clock is wrong): `status` says so (exit 19, `future_sets`), `list` marks it, and neither
/// `restore latest` nor a drill without a set takes it.
#[test]
fn a_set_dated_in_the_future_is_flagged_and_never_latest() {
    let app = TestApp::new(AppOptions::default());
    let real = app.backup();
    let future = format!(
        "{}-f0f0",
        (Utc::now() + Span::days(2)).format("%Y%m%dT%H%M%S%.3fZ")
    );
    copy_set(&app, &real, &future);

    let (code, status) = status_json(&app);
    assert_eq!(code, 19, "{status:#}");
    assert_eq!(status["health"], "future_set");
    assert_eq!(status["exit_code"], 19);
    assert_eq!(status["newest_set"]["set_id"], real.as_str(), "{status:#}");
    assert_eq!(status["future_sets"][0]["set_id"], future.as_str());
    assert!(
        status["future_sets"][0]["ahead_seconds"]
            .as_i64()
            .expect("seconds")
            > 86_400
    );
    assert!(
        status["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .any(|m| m.as_str().is_some_and(|m| m.starts_with('✗')
                && m.contains(&future)
                && m.contains("dated in the future"))),
        "{status:#}"
    );
    common::assert_status_schema(&status);
    let out = app.lifeboat(&["status"]);
    assert_eq!(out.status.code(), Some(19));
    assert!(
        text(&out.stdout).contains(&format!("newest set   {real}")),
        "{}",
        describe(&out)
    );

    let (ids, latest, list) = listed(&app);
    assert_eq!(ids, vec![future.clone(), real.clone()], "{list:#}");
    assert_eq!(latest.as_deref(), Some(real.as_str()));
    assert_eq!(list["sets"][0]["dated_in_future"], true);
    assert_eq!(list["sets"][1]["dated_in_future"], false);
    let out = app.lifeboat(&["list"]);
    let line = text(&out.stdout)
        .lines()
        .find(|l| l.starts_with(&future))
        .unwrap_or_else(|| panic!("list shows the set: {}", describe(&out)))
        .to_string();
    assert!(line.contains("✗ FUTURE"), "{line}");

    assert_eq!(planned_latest(&app), real);
    let out = app.lifeboat(&["drill", "--json"]);
    let record = json(&out);
    assert_eq!(
        record["set_id"],
        real.as_str(),
        "{record:#}\n{}",
        describe(&out)
    );
}

/// A restore over an existing database takes a safety backup first: that set says so in its
/// manifest and its journal line, `list` marks it, and it is not latest (list, status,
/// `restore latest`), though it is the newest set in the repository.
#[test]
fn a_restores_safety_backup_is_marked_and_never_latest() {
    let app = TestApp::new(AppOptions::default());
    let set = app.backup();
    let out = app.lifeboat(&["restore", &set, "--yes", "--json"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let safety = json(&out)["safety_backup"]
        .as_str()
        .unwrap_or_else(|| panic!("a safety backup was taken: {}", describe(&out)))
        .to_string();

    let manifest: Value = serde_json::from_slice(
        &std::fs::read(app.set_dir_local(&safety).join("manifest.json")).expect("manifest"),
    )
    .expect("manifest.json");
    assert_eq!(manifest["purpose"], "safety", "{manifest:#}");
    let regular: Value = serde_json::from_slice(
        &std::fs::read(app.set_dir_local(&set).join("manifest.json")).expect("manifest"),
    )
    .expect("manifest.json");
    assert!(regular.get("purpose").is_none(), "{regular:#}");

    let journal = std::fs::read_to_string(app.journal_path()).expect("read the journal");
    let lines: Vec<Value> = journal
        .lines()
        .map(|l| serde_json::from_str(l).expect("a journal line"))
        .collect();
    let safety_run = lines
        .iter()
        .rev()
        .find(|l| l["kind"] == "backup" && l["set_id"] == safety.as_str())
        .expect("the safety backup's run is journaled");
    assert_eq!(safety_run["purpose"], "safety");
    assert_eq!(safety_run["status"], "completed");
    let restore_run = lines
        .iter()
        .rev()
        .find(|l| l["kind"] == "restore")
        .expect("the restore is journaled");
    assert_eq!(restore_run["status"], "completed", "{restore_run:#}");
    assert_eq!(restore_run["set_id"], set.as_str());
    assert_eq!(restore_run["restore"]["safety_set"], safety.as_str());
    assert!(restore_run["finished_at"].is_string());
    let steps: Vec<&str> = lines
        .iter()
        .filter(|l| l["run_id"] == restore_run["run_id"])
        .filter_map(|l| l["restore"]["step"].as_str())
        .collect();
    assert_eq!(
        steps,
        [
            "prepare",
            "safety backup",
            "pg_restore",
            "restore files",
            "restore secrets",
            "done"
        ],
        "a running record at each step, then the final one"
    );

    let (ids, latest, list) = listed(&app);
    assert_eq!(ids, vec![safety.clone(), set.clone()], "{list:#}");
    assert_eq!(latest.as_deref(), Some(set.as_str()));
    assert_eq!(list["sets"][0]["purpose"], "safety");
    assert_eq!(list["sets"][1]["purpose"], Value::Null);
    let out = app.lifeboat(&["list"]);
    let line = text(&out.stdout)
        .lines()
        .find(|l| l.starts_with(&safety))
        .expect("list shows the safety backup")
        .to_string();
    assert!(line.contains("[safety backup"), "{line}");
    let (code, status) = status_json(&app);
    assert_eq!(code, 0, "{status:#}");
    assert_eq!(status["newest_set"]["set_id"], set.as_str());
    assert_eq!(status["last_restore"]["status"], "completed");
    common::assert_status_schema(&status);
    assert_eq!(planned_latest(&app), set);

    // Retention: the safety backup takes no rule's place and is not the newest floor; it is
    // kept by its own rule.
    app.write_raw_config(&format!(
        "{}\n[retention]\nkeep_last = 1\nmin_age = \"0s\"\n",
        app.config_text()
    ));
    let (code, prune) = app.lifeboat_json(&["prune"]);
    assert_eq!(code, 0, "{prune:#}");
    let sets = prune["sets"]
        .as_array()
        .or_else(|| prune["plan"]["sets"].as_array())
        .unwrap_or_else(|| panic!("the preview lists the sets: {prune:#}"));
    let reasons = |id: &str| -> Vec<String> {
        sets.iter()
            .find(|s| s["set_id"] == id)
            .unwrap_or_else(|| panic!("{id} in the preview: {prune:#}"))["reasons"]
            .as_array()
            .expect("reasons")
            .iter()
            .map(|r| r.as_str().expect("a reason").to_string())
            .collect()
    };
    assert_eq!(
        reasons(&safety),
        ["safety backup, kept 14days"],
        "{prune:#}"
    );
    assert_eq!(reasons(&set), ["last 1/1", "newest"], "{prune:#}");
}

/// A restore SIGKILLed while pg_restore runs leaves its running record: `status` (text and
/// JSON) says the restore was interrupted during pg_restore and the database may be partly
/// restored, with exit 18; the next restore that finishes clears it.
#[test]
fn a_restore_killed_during_pg_restore_is_shown_as_interrupted() {
    let app = TestApp::new(AppOptions::default());
    // Enough rows that pg_restore takes a while (COPY and an index build).
    app.psql(
        "CREATE TABLE bulk AS SELECT g AS id, md5(g::text) AS h FROM generate_series(1, 800000) g; \
         CREATE INDEX bulk_h ON bulk (h);",
    );
    let set = app.backup();
    let mut child = app.spawn_lifeboat(&["restore", &set, "--yes", "--no-safety-backup"]);
    let deadline = Instant::now() + Duration::from_secs(180);
    let in_pg_restore = |journal: &str| {
        journal.lines().any(|l| {
            serde_json::from_str::<Value>(l)
                .is_ok_and(|v| v["kind"] == "restore" && v["restore"]["step"] == "pg_restore")
        })
    };
    loop {
        let journal = std::fs::read_to_string(app.journal_path()).unwrap_or_default();
        if in_pg_restore(&journal) {
            break;
        }
        if let Some(exit) = child.try_wait().expect("poll the restore") {
            panic!("the restore ended ({exit}) before pg_restore was seen");
        }
        assert!(Instant::now() < deadline, "pg_restore never began");
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().expect("SIGKILL the restore");
    child.wait().expect("reap the restore");
    let journal = std::fs::read_to_string(app.journal_path()).expect("journal");
    let last: Value = journal
        .lines()
        .rev()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .find(|v| v["kind"] == "restore")
        .expect("a restore record");
    assert_eq!(last["status"], "running", "no final record after SIGKILL");
    assert_eq!(
        last["restore"]["step"], "pg_restore",
        "killed within pg_restore (the dump takes seconds to restore)"
    );

    let (code, status) = status_json(&app);
    assert_eq!(code, 18, "{status:#}");
    assert_eq!(status["health"], "restore_interrupted");
    assert_eq!(status["last_restore"]["status"], "failed");
    assert_eq!(status["last_restore"]["finished_at"], Value::Null);
    assert_eq!(status["last_restore"]["restore"]["step"], "pg_restore");
    let first = status["messages"][0].as_str().expect("a message");
    assert!(
        first.starts_with(&format!(
            "✗ restore of {set} into app interrupted during pg_restore at "
        )) && first.contains("the database app is untouched until the swap"),
        "{first}"
    );
    common::assert_status_schema(&status);
    let out = app.lifeboat(&["status"]);
    assert_eq!(out.status.code(), Some(18));
    assert!(
        text(&out.stdout).contains("interrupted during pg_restore"),
        "{}",
        describe(&out)
    );

    // Restoring again, to the end, is the way out.
    let out = app.lifeboat(&["restore", &set, "--yes", "--no-safety-backup"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let (code, status) = status_json(&app);
    assert_eq!(code, 0, "{status:#}");
    assert_eq!(status["last_restore"]["status"], "completed");
}
