//! What happens when things go wrong, end to end with real parts: damaged or missing objects
//! found by `verify`, an S3 endpoint that is down (spool, then resume), a backup killed with
//! SIGKILL, two backups racing for the lock, a timeout (also while stuck on a table lock), a
//! database with no tables, a file root that does not exist, the wrong decryption keys, and
//! a malformed configuration.
//!
//! Each test drives the real `lifeboat` binary against a `TestApp` (a throwaway PostgreSQL
//! cluster, files, a repository on disk or in `s3s-fs`) and checks exit codes, JSON reports,
//! the repository and the run journal.

mod common;

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Output};
use std::time::{Duration, Instant};

use common::app::{AppOptions, Enc, RepoKind, TestApp};
use common::GpgHome;
use serde_json::Value;

/// Exit codes, from the one table (tests/readme.rs pins it to the README's).
use lifeboat::jobs::exit_code::{
    CONFIG as EXIT_CONFIG, DAMAGED as EXIT_DAMAGED, FAILED as EXIT_FAILED,
    INTERRUPTED as EXIT_INTERRUPTED, LOCKED as EXIT_LOCKED, OK as EXIT_OK, SPOOLED as EXIT_SPOOLED,
};

const MIB: u64 = 1024 * 1024;

// --- helpers ------------------------------------------------------------------------------------

fn exit_code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Asserts the exit code, showing everything the command printed when it differs.
fn assert_exit(out: &Output, expected: i32, what: &str) {
    assert_eq!(
        exit_code(out),
        expected,
        "{what}: expected exit {expected}\nstdout:\n{}\nstderr:\n{}",
        stdout(out),
        stderr(out)
    );
}

fn app(repo: RepoKind, encryption: Enc, secrets: bool) -> TestApp {
    TestApp::new(AppOptions {
        repo,
        encryption,
        secrets,
    })
}

/// `verify <set> --json`: the exit code and the one set report.
fn verify_set(app: &TestApp, set: &str, extra: &[&str]) -> (i32, Value) {
    let mut args = vec!["verify", set];
    args.extend_from_slice(extra);
    let (code, report) = app.lifeboat_json(&args);
    let sets = report["sets"].as_array().cloned().unwrap_or_default();
    assert_eq!(sets.len(), 1, "verify {set} reported {report:#}");
    assert_eq!(sets[0]["set_id"], set, "{report:#}");
    (code, sets[0].clone())
}

/// `object -> status` of a set report, in report order.
fn statuses(set: &Value) -> Vec<(String, String)> {
    set["objects"]
        .as_array()
        .expect("objects in the set report")
        .iter()
        .map(|o| {
            (
                o["object"].as_str().unwrap_or_default().to_string(),
                o["status"].as_str().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn object<'a>(set: &'a Value, name: &str) -> &'a Value {
    set["objects"]
        .as_array()
        .and_then(|objects| objects.iter().find(|o| o["object"] == name))
        .unwrap_or_else(|| panic!("no object {name} in {set:#}"))
}

/// Asserts `damaged` has status `status` and every other object is ok; exit 3.
fn assert_only_damaged(code: i32, set: &Value, damaged: &str, status: &str) {
    assert_eq!(code, EXIT_DAMAGED, "{set:#}");
    assert_eq!(set["ok"], false, "{set:#}");
    for (name, got) in statuses(set) {
        let want = if name == damaged { status } else { "ok" };
        assert_eq!(got, want, "object {name} (damaged: {damaged}): {set:#}");
    }
    assert!(
        statuses(set).iter().any(|(name, _)| name == damaged),
        "{damaged} is not in the report: {set:#}"
    );
}

fn assert_clean(code: i32, set: &Value) {
    assert_eq!(code, EXIT_OK, "{set:#}");
    assert_eq!(set["ok"], true, "{set:#}");
    for (name, status) in statuses(set) {
        assert_eq!(status, "ok", "object {name}: {set:#}");
    }
    assert_eq!(set["problems"], serde_json::json!([]), "{set:#}");
}

/// Where each stored object of set `id` is on disk, from a clean verify report: objects of
/// the data repository (as `list --json` names it) under `set_dir_local`, the secrets
/// repository's under its own set folder.
fn object_files(app: &TestApp, id: &str, report: &Value) -> Vec<(String, PathBuf)> {
    let (_, list) = app.lifeboat_json(&["list"]);
    let data_url = list["repository"]
        .as_str()
        .expect("repository in list --json")
        .to_string();
    report["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| {
            let name = o["object"].as_str().expect("object name").to_string();
            let dir = if o["repository"] == data_url.as_str() {
                app.set_dir_local(id)
            } else {
                app.secrets_set_dir(id)
            };
            let path = dir.join(&name);
            assert!(path.is_file(), "{} is not on disk", path.display());
            (name, path)
        })
        .collect()
}

/// XORs the byte at `offset` with 0xff (so it surely changes); returns the original byte.
fn flip_byte(path: &Path, offset: u64) -> u8 {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap_or_else(|e| panic!("open {}: {e}", path.display()));
    let mut byte = [0u8; 1];
    file.seek(SeekFrom::Start(offset)).expect("seek");
    file.read_exact(&mut byte).expect("read the byte");
    file.seek(SeekFrom::Start(offset)).expect("seek");
    file.write_all(&[byte[0] ^ 0xff])
        .expect("write the flipped byte");
    file.sync_all().expect("fsync");
    byte[0]
}

fn put_byte(path: &Path, offset: u64, byte: u8) {
    let mut file = OpenOptions::new().write(true).open(path).expect("open");
    file.seek(SeekFrom::Start(offset)).expect("seek");
    file.write_all(&[byte]).expect("restore the byte");
    file.sync_all().expect("fsync");
}

fn set_ids(value: &Value) -> Vec<String> {
    value["sets"]
        .as_array()
        .unwrap_or_else(|| panic!("no sets array in {value:#}"))
        .iter()
        .map(|s| s["set_id"].as_str().expect("set_id").to_string())
        .collect()
}

/// Complete sets as `lifeboat list --json` shows them.
fn listed_sets(app: &TestApp) -> Vec<String> {
    let (code, list) = app.lifeboat_json(&["list"]);
    assert_eq!(code, EXIT_OK, "list: {list:#}");
    set_ids(&list)
}

/// The journal's runs, folded by `run_id` to their latest line, oldest first.
fn journal_runs(app: &TestApp) -> Vec<Value> {
    let text = std::fs::read_to_string(app.journal_path()).unwrap_or_default();
    let mut runs: Vec<Value> = Vec::new();
    for line in text.lines().filter(|l| !l.trim().is_empty()) {
        let entry: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("journal line is not JSON ({e}): {line}"));
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

fn last_run(app: &TestApp) -> Value {
    journal_runs(app)
        .pop()
        .unwrap_or_else(|| panic!("the journal {} has no run", app.journal_path().display()))
}

/// Rewrites the config with `from` replaced by `to` (which must occur).
fn edit_config(app: &TestApp, from: &str, to: &str) {
    let text = app.config_text();
    assert!(
        text.contains(from),
        "`{from}` is not in the config:\n{text}"
    );
    app.write_raw_config(&text.replacen(from, to, 1));
}

fn hostname() -> String {
    gethostname::gethostname().to_string_lossy().into_owned()
}

/// Polls `cond` every 10 ms for up to `limit`.
fn wait_for(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits for a child with a deadline, killing it if it hangs.
fn wait_output(mut child: Child, limit: Duration, what: &str) -> Output {
    let deadline = Instant::now() + limit;
    loop {
        if child.try_wait().expect("try_wait").is_some() {
            return child.wait_with_output().expect("collect output");
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let out = child.wait_with_output().expect("collect output");
            panic!(
                "{what} did not finish within {limit:?}\nstdout:\n{}\nstderr:\n{}",
                stdout(&out),
                stderr(&out)
            );
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

// --- 1. verify finds damage ---------------------------------------------------------------------

/// Flips one byte (random offset) in each object in turn, then deletes, truncates and garbles:
/// verify names exactly the damaged object, with the right status, and exits 3.
fn damage_each_object_in_turn(app: &TestApp, id: &str) {
    let (code, clean) = verify_set(app, id, &[]);
    assert_clean(code, &clean);
    let files = object_files(app, id, &clean);
    let names: Vec<&str> = files.iter().map(|(n, _)| n.as_str()).collect();
    assert!(
        names.iter().any(|n| n.starts_with("db.dump"))
            && names.iter().any(|n| n.starts_with("files.tar")),
        "{names:?}"
    );

    for (name, path) in &files {
        let len = std::fs::metadata(path).expect("stat").len();
        let offset = rand::random_range(0..len);
        let original = flip_byte(path, offset);
        let (code, report) = verify_set(app, id, &[]);
        assert_only_damaged(code, &report, name, "hash_mismatch");
        let damaged = object(&report, name);
        assert_ne!(damaged["actual_sha256"], damaged["expected_sha256"]);
        assert_eq!(damaged["actual_bytes"], damaged["expected_bytes"]);
        put_byte(path, offset, original);
    }
    let (code, report) = verify_set(app, id, &[]);
    assert_clean(code, &report);

    // A missing object.
    let (db_name, db_path) = files
        .iter()
        .find(|(n, _)| n.starts_with("db.dump"))
        .expect("db object");
    let saved = std::fs::read(db_path).expect("read db object");
    std::fs::remove_file(db_path).expect("delete db object");
    let (code, report) = verify_set(app, id, &[]);
    assert_only_damaged(code, &report, db_name, "missing");
    std::fs::write(db_path, &saved).expect("put the db object back");

    // A truncated object (one byte short).
    let (files_name, files_path) = files
        .iter()
        .find(|(n, _)| n.starts_with("files.tar"))
        .expect("files object");
    let saved = std::fs::read(files_path).expect("read files object");
    OpenOptions::new()
        .write(true)
        .open(files_path)
        .and_then(|f| f.set_len(saved.len() as u64 - 1))
        .expect("truncate");
    let (code, report) = verify_set(app, id, &[]);
    assert_only_damaged(code, &report, files_name, "size_mismatch");
    let truncated = object(&report, files_name);
    assert_eq!(
        truncated["actual_bytes"],
        saved.len() as u64 - 1,
        "{report:#}"
    );
    std::fs::write(files_path, &saved).expect("put the files object back");

    let (code, report) = verify_set(app, id, &[]);
    assert_clean(code, &report);

    // checksums.sha256: one line garbled, then one hash changed.
    let checksums = app.set_dir_local(id).join("checksums.sha256");
    let original = std::fs::read_to_string(&checksums).expect("read checksums.sha256");
    let first_line = original.lines().next().expect("a line").to_string();
    std::fs::write(
        &checksums,
        original.replacen(&first_line, "this is not a checksum line", 1),
    )
    .expect("garble checksums.sha256");
    let (code, report) = verify_set(app, id, &[]);
    assert_eq!(code, EXIT_DAMAGED, "{report:#}");
    assert_eq!(report["ok"], false);
    let problems = report["problems"].to_string();
    assert!(problems.contains("checksums.sha256"), "{report:#}");

    let (hash, listed) = first_line.split_once("  ").expect("sha256sum format");
    let other = if hash.starts_with('0') { "1" } else { "0" };
    let wrong_hash = format!("{other}{}", &hash[1..]);
    std::fs::write(&checksums, original.replacen(hash, &wrong_hash, 1))
        .expect("change a hash in checksums.sha256");
    let (code, report) = verify_set(app, id, &[]);
    assert_only_damaged(code, &report, listed, "checksums_disagree");
    let detail = object(&report, listed)["detail"].to_string();
    assert!(detail.contains("checksums.sha256"), "{report:#}");

    std::fs::write(&checksums, &original).expect("restore checksums.sha256");
    let (code, report) = verify_set(app, id, &[]);
    assert_clean(code, &report);
}

#[test]
fn verify_names_each_damaged_object_in_a_local_repository() {
    let app = app(RepoKind::Local, Enc::Passphrase, true);
    let id = app.backup();
    damage_each_object_in_turn(&app, &id);
}

#[test]
fn verify_names_each_damaged_object_in_an_s3_repository() {
    let app = app(RepoKind::S3, Enc::Passphrase, false);
    let id = app.backup();
    let s3 = app.s3().expect("s3 repository");
    let keys = s3.list_keys();
    assert!(
        keys.contains(&format!("app/sets/{id}/manifest.json")),
        "{keys:?}"
    );
    damage_each_object_in_turn(&app, &id);
}

// --- 2. the S3 endpoint is down -----------------------------------------------------------------

#[test]
fn s3_down_spools_the_set_and_resume_uploads_it() {
    let mut app = app(RepoKind::S3, Enc::Passphrase, true);
    let repository = {
        let s3 = app.s3().expect("s3");
        format!("s3://{}/app", s3.bucket())
    };
    app.s3_mut().expect("s3").stop();

    let started = Instant::now();
    let (code, result) = app.lifeboat_json(&["backup"]);
    assert_eq!(code, EXIT_SPOOLED, "{result:#}");
    assert!(
        started.elapsed() < Duration::from_secs(60),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(result["ok"], false, "{result:#}");
    let error = result["error"].as_str().expect("error").to_string();
    assert!(error.contains(&repository), "names the repository: {error}");
    assert!(
        error.contains("kept locally"),
        "says the copy is kept: {error}"
    );
    let id = result["set_id"].as_str().expect("set_id").to_string();
    let spooled_at = PathBuf::from(result["spooled_at"].as_str().expect("spooled_at"));
    assert!(error.contains(&id), "{error}");
    assert!(
        spooled_at.starts_with(app.data_dir()),
        "the spool is under the data directory: {}",
        spooled_at.display()
    );
    assert!(
        spooled_at.join("manifest.json").is_file() && spooled_at.join("checksums.sha256").is_file(),
        "the spooled set is finished locally: {}",
        spooled_at.display()
    );

    let run = last_run(&app);
    assert_eq!(run["run_id"], id.as_str(), "{run:#}");
    assert_eq!(run["status"], "failed", "{run:#}");
    let run_error = run["error"].as_str().expect("journal error");
    assert!(run_error.contains(&repository), "{run:#}");
    assert!(run_error.contains("upload to"), "{run:#}");
    assert_eq!(
        run["spooled_at"],
        spooled_at.display().to_string(),
        "{run:#}"
    );

    // With the endpoint down, list fails rather than show anything.
    let out = app.lifeboat(&["list", "--json"]);
    assert_ne!(exit_code(&out), EXIT_OK, "list while the endpoint is down");

    app.s3_mut().expect("s3").restart();
    assert!(
        listed_sets(&app).is_empty(),
        "nothing incomplete is listed as complete"
    );
    let keys = app.s3().expect("s3").list_keys();
    assert!(
        !keys.iter().any(|k| k.ends_with("manifest.json")),
        "no manifest reached the bucket: {keys:?}"
    );
    let (status_code, status) = app.lifeboat_json(&["status"]);
    assert_ne!(status_code, EXIT_OK, "{status:#}");
    assert_eq!(
        status["spooled_sets"],
        serde_json::json!([id]),
        "{status:#}"
    );

    let (code, resumed) = app.lifeboat_json(&["backup", "--resume"]);
    assert_eq!(code, EXIT_OK, "{resumed:#}");
    assert_eq!(resumed["resumed"], serde_json::json!([id]), "{resumed:#}");
    let keys = app.s3().expect("s3").list_keys();
    assert!(
        keys.contains(&format!("app/sets/{id}/manifest.json")),
        "{keys:?}"
    );
    assert_eq!(listed_sets(&app), vec![id.clone()]);
    let (code, report) = verify_set(&app, &id, &[]);
    assert_clean(code, &report);
    assert!(
        !spooled_at.exists(),
        "the spool still holds {}",
        spooled_at.display()
    );
}

// --- 3. SIGKILL in the middle of a backup -------------------------------------------------------

/// A set folder with at least one object in the local repository, while a `.tmp` write is
/// under way: the backup is in the middle.
fn partial_set(app: &TestApp) -> Option<String> {
    let repo = app.repo_dir();
    let writing = std::fs::read_dir(repo.join(".tmp"))
        .ok()?
        .filter_map(Result::ok)
        .any(|e| e.metadata().map(|m| m.len() > 0).unwrap_or(false));
    if !writing {
        return None;
    }
    std::fs::read_dir(repo.join("sets"))
        .ok()?
        .filter_map(Result::ok)
        .find(|e| {
            std::fs::read_dir(e.path())
                .map(|mut d| d.next().is_some())
                .unwrap_or(false)
        })
        .map(|e| e.file_name().to_string_lossy().into_owned())
}

#[test]
fn sigkill_mid_backup_leaves_an_incomplete_set_and_the_next_backup_succeeds() {
    let app = app(RepoKind::Local, Enc::None, false);
    let bulk = app.add_bulk_files(4, 40 * MIB);

    let mut child = app
        .command(&["backup"])
        .process_group(0)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("spawn lifeboat backup");
    let pid = child.id();
    let mut partial = None;
    wait_for(Duration::from_secs(30), "a partial set folder", || {
        if let Ok(Some(status)) = child.try_wait() {
            panic!("the backup ended ({status}) before it could be killed");
        }
        partial = partial_set(&app);
        partial.is_some()
    });
    let partial = partial.expect("partial set");
    // SAFETY: signalling the process group we just created (pgid == the child's pid).
    let rc = unsafe { libc::kill(-(pid as libc::pid_t), libc::SIGKILL) };
    assert_eq!(rc, 0, "kill the backup's process group");
    let status = child.wait().expect("wait for the killed backup");
    assert_eq!(
        std::os::unix::process::ExitStatusExt::signal(&status),
        Some(libc::SIGKILL)
    );
    assert!(
        !app.set_dir_local(&partial).join("manifest.json").exists(),
        "killed before the manifest"
    );

    assert!(listed_sets(&app).is_empty(), "no complete set");
    let (code, inventory) = app.lifeboat_json(&["inventory"]);
    assert_eq!(code, EXIT_OK, "{inventory:#}");
    let sets = inventory["sets"].as_array().expect("sets");
    assert_eq!(sets.len(), 1, "{inventory:#}");
    assert_eq!(sets[0]["set_id"], partial.as_str(), "{inventory:#}");
    assert_eq!(sets[0]["complete"], false, "{inventory:#}");

    let out = app.lifeboat(&["status"]);
    assert_ne!(
        exit_code(&out),
        EXIT_OK,
        "status after a killed backup: {}",
        stdout(&out)
    );
    let (_, status) = app.lifeboat_json(&["status"]);
    assert_ne!(status["health"], "ok", "{status:#}");
    assert_eq!(status["last_run"]["status"], "failed", "{status:#}");
    assert_eq!(status["last_run"]["pid"], pid, "{status:#}");
    let why = status["last_run"]["error"].as_str().unwrap_or_default();
    assert!(why.contains("interrupted"), "{status:#}");
    assert_eq!(status["incomplete_sets"], 1, "{status:#}");

    // The next backup takes over the dead run's lock (without the bulk, to stay quick).
    std::fs::remove_dir_all(&bulk).expect("remove bulk files");
    let out = app.lifeboat(&["backup", "--json"]);
    assert_exit(&out, EXIT_OK, "the backup after the kill");
    let err = stderr(&out);
    assert!(
        err.contains("stale lock") && err.contains(&format!("pid {pid}")),
        "warns about the stale lock of pid {pid}: {err}"
    );
    let result: Value = serde_json::from_slice(&out.stdout).expect("backup JSON");
    let id = result["set_id"].as_str().expect("set_id").to_string();
    assert_ne!(id, partial);
    assert_eq!(listed_sets(&app), vec![id.clone()]);
    let (code, report) = verify_set(&app, &id, &[]);
    assert_clean(code, &report);
    let (code, status) = app.lifeboat_json(&["status"]);
    assert_eq!(status["last_run"]["status"], "completed", "{status:#}");
    assert_eq!(code, EXIT_OK, "{status:#}");
}

// --- 4. two backups at once ---------------------------------------------------------------------

#[test]
fn two_backups_at_once_one_runs_and_the_other_is_refused_naming_the_holder() {
    let app = app(RepoKind::Local, Enc::None, false);
    app.add_bulk_files(1, 48 * MIB);

    let first = app.spawn_lifeboat(&["backup"]);
    let second = app.spawn_lifeboat(&["backup"]);
    let pids = [first.id(), second.id()];
    let outs = [
        wait_output(first, Duration::from_secs(60), "first backup"),
        wait_output(second, Duration::from_secs(60), "second backup"),
    ];
    let codes: Vec<i32> = outs.iter().map(exit_code).collect();
    let winner = codes.iter().position(|&c| c == EXIT_OK);
    let loser = codes.iter().position(|&c| c == EXIT_LOCKED);
    let (Some(winner), Some(loser)) = (winner, loser) else {
        panic!(
            "expected one 0 and one 4, got {codes:?}\nfirst stderr:\n{}\nsecond stderr:\n{}",
            stderr(&outs[0]),
            stderr(&outs[1])
        );
    };
    let refused = stderr(&outs[loser]);
    assert!(refused.contains("locked"), "{refused}");
    assert!(
        refused.contains(&format!("pid {}", pids[winner])),
        "names the winner's pid {}: {refused}",
        pids[winner]
    );
    assert!(refused.contains(&hostname()), "names the host: {refused}");
    assert!(
        stdout(&outs[winner]).contains("complete"),
        "{}",
        stdout(&outs[winner])
    );

    let sets = listed_sets(&app);
    assert_eq!(sets.len(), 1, "{sets:?}");
    let runs = journal_runs(&app);
    assert_eq!(runs.len(), 1, "only the winner ran: {runs:?}");
    assert_eq!(runs[0]["status"], "completed");
    assert_eq!(runs[0]["pid"], pids[winner]);
}

// --- 5. timeout ---------------------------------------------------------------------------------

#[test]
fn a_backup_that_exceeds_its_timeout_is_interrupted_and_marks_nothing_complete() {
    let app = app(RepoKind::Local, Enc::None, false);
    let bulk = app.add_bulk_files(4, 40 * MIB);
    edit_config(&app, "timeout = \"5m\"", "timeout = \"1s\"");

    let started = Instant::now();
    let (code, result) = app.lifeboat_json(&["backup"]);
    let took = started.elapsed();
    assert_eq!(code, EXIT_INTERRUPTED, "{result:#}");
    assert!(took < Duration::from_secs(30), "stopped promptly: {took:?}");
    let error = result["error"].as_str().expect("error");
    assert!(error.contains("did not finish within"), "{error}");

    let run = last_run(&app);
    assert_eq!(run["status"], "failed", "{run:#}");
    assert!(
        run["error"]
            .as_str()
            .unwrap_or_default()
            .contains("did not finish within"),
        "{run:#}"
    );
    assert!(
        listed_sets(&app).is_empty(),
        "nothing complete after a timeout"
    );
    let (_, inventory) = app.lifeboat_json(&["inventory"]);
    for set in inventory["sets"].as_array().expect("sets") {
        assert_eq!(set["complete"], false, "{inventory:#}");
    }

    // Stuck before any data moves (the snapshot session waits on a table lock): the timeout
    // still ends the run on time.
    std::fs::remove_dir_all(&bulk).expect("remove bulk files");
    let mut holder = std::process::Command::new(app.pg_program("psql"))
        .args(["-X", "-q", "-d", &app.url(), "-c"])
        .arg("BEGIN; LOCK TABLE \"User\" IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(120); COMMIT;")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .expect("start psql holding a lock");
    wait_for(Duration::from_secs(20), "the table lock", || {
        app.psql("SELECT count(*) FROM pg_locks WHERE mode = 'AccessExclusiveLock' AND relation = '\"User\"'::regclass") == "1"
    });
    let started = Instant::now();
    let child = app.spawn_lifeboat(&["backup", "--json"]);
    let out = wait_output(child, Duration::from_secs(60), "backup waiting on a lock");
    let took = started.elapsed();
    let _ = holder.kill();
    let _ = holder.wait();
    assert_exit(&out, EXIT_INTERRUPTED, "backup stuck on a table lock");
    assert!(
        took < Duration::from_secs(15),
        "a 1s timeout ended a stuck backup only after {took:?}"
    );
    let result: Value = serde_json::from_slice(&out.stdout).expect("backup JSON");
    assert!(
        result["error"]
            .as_str()
            .unwrap_or_default()
            .contains("did not finish within"),
        "{result:#}"
    );
    let run = last_run(&app);
    assert_eq!(run["status"], "failed", "{run:#}");
    assert!(listed_sets(&app).is_empty());
}

// --- 6. a database without tables ---------------------------------------------------------------

#[test]
fn a_database_with_no_tables_fails_the_backup() {
    let mut app = app(RepoKind::Local, Enc::Passphrase, false);
    app.cluster()
        .create_database("emptydb")
        .expect("create an empty database");
    let url = app.cluster().url("emptydb");
    app.set_database_url(&url);

    let out = app.lifeboat(&["backup"]);
    assert_exit(&out, EXIT_FAILED, "backup of an empty database");
    let err = stderr(&out);
    assert!(
        err.contains("emptydb") && err.contains("no tables"),
        "{err}"
    );

    let (code, result) = app.lifeboat_json(&["backup"]);
    assert_eq!(code, EXIT_FAILED, "{result:#}");
    let error = result["error"].as_str().expect("error");
    assert!(
        error.contains("emptydb") && error.contains("no tables"),
        "{error}"
    );

    assert!(listed_sets(&app).is_empty());
    let (_, inventory) = app.lifeboat_json(&["inventory"]);
    assert_eq!(inventory["sets"], serde_json::json!([]), "{inventory:#}");
    let run = last_run(&app);
    assert_eq!(run["status"], "failed", "{run:#}");
    assert!(run["error"]
        .as_str()
        .unwrap_or_default()
        .contains("no tables"));
}

// --- 7. a file root that does not exist ---------------------------------------------------------

#[test]
fn a_missing_file_root_fails_the_backup_naming_the_path() {
    let app = app(RepoKind::Local, Enc::Passphrase, false);
    let missing = app.root().join("no-such-uploads");
    edit_config(
        &app,
        &format!("files = [\"{}\"]", app.files_dir().display()),
        &format!("files = [\"{}\"]", missing.display()),
    );

    let out = app.lifeboat(&["backup"]);
    assert_exit(&out, EXIT_FAILED, "backup with a missing file root");
    let err = stderr(&out);
    assert!(err.contains(&missing.display().to_string()), "{err}");

    assert!(listed_sets(&app).is_empty());
    let run = last_run(&app);
    assert_eq!(run["status"], "failed", "{run:#}");
    assert!(run["error"]
        .as_str()
        .unwrap_or_default()
        .contains(&missing.display().to_string()));
}

// --- 8. the wrong keys --------------------------------------------------------------------------

#[test]
fn verify_decrypt_with_the_wrong_passphrase_names_each_object() {
    let app = app(RepoKind::Local, Enc::Passphrase, true);
    let id = app.backup();
    let (code, report) = verify_set(&app, &id, &["--decrypt"]);
    assert_clean(code, &report);

    let pass_file = app.passphrase_file().expect("passphrase file");
    std::fs::write(pass_file, "not-the-passphrase\n").expect("change the passphrase");
    let (code, report) = verify_set(&app, &id, &["--decrypt"]);
    assert_eq!(code, EXIT_DAMAGED, "{report:#}");
    let objects = statuses(&report);
    assert!(objects.len() >= 3, "db, files and secrets: {report:#}");
    for (name, status) in objects {
        assert_eq!(status, "decrypt_failed", "{name}: {report:#}");
        let detail = object(&report, &name)["detail"].to_string();
        assert!(detail.contains(&name), "the detail names {name}: {detail}");
    }

    // Stored hashes need no keys: still fine.
    let (code, report) = verify_set(&app, &id, &[]);
    assert_clean(code, &report);
}

#[test]
fn verify_decrypt_without_the_secret_key_says_so() {
    let app = app(RepoKind::Local, Enc::Recipients, false);
    let id = app.backup();
    let (code, report) = verify_set(&app, &id, &["--decrypt"]);
    assert_clean(code, &report);

    let empty = GpgHome::empty();
    let out = app
        .command(&["verify", &id, "--decrypt", "--json"])
        .env("GNUPGHOME", empty.path())
        .output()
        .expect("run verify");
    assert_exit(&out, EXIT_DAMAGED, "verify --decrypt with an empty keyring");
    let report: Value = serde_json::from_slice(&out.stdout).expect("verify JSON");
    let set = &report["sets"][0];
    let objects = statuses(set);
    assert!(objects.len() >= 2, "{report:#}");
    for (name, status) in objects {
        assert_eq!(status, "decrypt_failed", "{name}: {report:#}");
        let detail = object(set, &name)["detail"].to_string();
        assert!(detail.contains(&name), "{detail}");
        assert!(detail.contains("secret key"), "{detail}");
    }

    let out = app
        .command(&["verify", &id, "--json"])
        .env("GNUPGHOME", empty.path())
        .output()
        .expect("run verify");
    assert_exit(&out, EXIT_OK, "verify (stored hashes) needs no keys");
}

// --- 9. a malformed configuration ---------------------------------------------------------------

#[test]
fn an_unknown_config_key_is_refused_naming_the_file_and_line() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("config.toml");
    let repo = dir.path().join("repo");
    let text = format!(
        "[source]\n\
         database_url = \"postgresql://postgres@127.0.0.1:1/app\"\n\
         \n\
         [repository]\n\
         url = \"file://{}\"\n\
         \n\
         [encryption]\n\
         mode = \"none\"\n\
         \n\
         [backup]\n\
         compresion_level = 9\n",
        repo.display()
    );
    std::fs::write(&config, text).expect("write config");
    for args in [
        &["backup"][..],
        &["verify", "--all"],
        &["list"],
        &["inventory"],
        &["status"],
        &["config", "check"],
    ] {
        let out = std::process::Command::new(env!("CARGO_BIN_EXE_lifeboat"))
            .arg("--config")
            .arg(&config)
            .args(args)
            .env("LIFEBOAT_DATA_DIR", dir.path().join("data"))
            .env("LIFEBOAT_STATE_DIR", dir.path().join("state"))
            .env_remove("LIFEBOAT_CONFIG")
            .stdin(std::process::Stdio::null())
            .output()
            .expect("run lifeboat");
        assert_exit(&out, EXIT_CONFIG, &format!("lifeboat {args:?}"));
        let err = stderr(&out);
        assert!(
            err.contains(&config.display().to_string()),
            "{args:?}: {err}"
        );
        assert!(err.contains("line 11"), "{args:?}: {err}");
        assert!(err.contains("compresion_level"), "{args:?}: {err}");
    }
    assert!(!repo.exists(), "nothing was attempted");
    assert!(
        !dir.path().join("data/journal.jsonl").exists(),
        "no run was recorded"
    );
}

/// `[repository].timeout` bounds each storage call with its retries: against a server that
/// stops answering (SIGSTOP: the kernel still accepts connections), `list` fails within the
/// timeout plus slack, naming the endpoint and the setting. Before, each attempt had its own
/// 30 s, four attempts per call.
#[test]
fn a_stalled_s3_server_fails_within_the_repository_timeout() {
    let app = app(RepoKind::S3, Enc::Passphrase, false);
    app.write_raw_config(
        &app.config_text()
            .replace("timeout = \"30s\"", "timeout = \"3s\""),
    );
    let endpoint = app.s3().expect("s3").endpoint();
    let paused = app.s3().expect("s3").pause();
    let started = Instant::now();
    let out = app.lifeboat(&["list"]);
    let took = started.elapsed();
    drop(paused);
    assert_ne!(exit_code(&out), EXIT_OK, "{}", stdout(&out));
    assert!(
        took >= Duration::from_secs(3) && took < Duration::from_secs(15),
        "took {took:?} with timeout = \"3s\"\nstderr:\n{}",
        stderr(&out)
    );
    let said = stderr(&out);
    assert!(said.contains(&endpoint), "names the endpoint: {said}");
    assert!(
        said.contains("[repository].timeout") && said.contains("3s"),
        "names the setting: {said}"
    );
    // Once the server answers again, the same command works.
    assert_exit(&app.lifeboat(&["list"]), EXIT_OK, "list after SIGCONT");
}

/// With `RUST_BACKTRACE=1`, retries against a failing endpoint are logged one line each,
/// without a backtrace (OpenDAL's own retry log printed its errors' `Debug`, backtrace and all).
#[test]
fn retries_are_logged_without_backtraces() {
    let mut app = app(RepoKind::S3, Enc::Passphrase, false);
    app.s3_mut().expect("s3").stop();
    let out = app
        .command(&["list"])
        .env("RUST_BACKTRACE", "1")
        .output()
        .expect("run lifeboat list");
    assert_ne!(exit_code(&out), EXIT_OK, "{}", stdout(&out));
    let log = std::fs::read_to_string(app.log_path()).expect("read lifeboat.log");
    assert!(log.contains("retrying"), "the retries are logged:\n{log}");
    for needle in ["stack backtrace", "Backtrace", "backtrace"] {
        assert!(!log.contains(needle), "{needle} in the log:\n{log}");
    }
    assert!(!stderr(&out).contains("acktrace"), "{}", stderr(&out));
}

/// The multipart uploads of s3s-fs that are still open: it keeps each one's record
/// (`.upload-<id>.json`) and parts (`.upload_id-<id>.part-<n>`) beside the buckets until it is
/// completed or aborted.
fn open_multipart_uploads(app: &TestApp) -> Vec<String> {
    let mut open: Vec<String> = walkdir::WalkDir::new(app.s3().expect("s3").data_dir())
        .into_iter()
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_string_lossy().into_owned();
            (name.starts_with(".upload-") || name.starts_with(".upload_id-")).then_some(name)
        })
        .collect();
    open.sort();
    open
}

/// A remote write that fails in the middle of a multipart upload leaves no open upload on
/// the server (S3 keeps, and bills, the parts of an upload never completed nor aborted): the
/// run aborts it.
#[test]
fn a_failed_multipart_upload_is_aborted_by_the_run() {
    let app = app(RepoKind::S3, Enc::None, false);
    // Past two 5 MiB parts: files.tar goes up as a multipart upload.
    app.add_bulk_files(3, 4 * MIB);
    let log = app.root().join("calls.log");
    let out = app
        .command(&["backup", "--json"])
        .env("LIFEBOAT_FAULT_LOG", &log)
        .output()
        .expect("run lifeboat backup");
    assert_exit(&out, EXIT_OK, "the unfaulted backup");
    assert!(open_multipart_uploads(&app).is_empty());
    let calls = std::fs::read_to_string(&log).expect("read the call log");
    let remote_parts: Vec<String> = calls
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split('\t').collect();
            let part = f.len() == 4
                && (f[1] == "write" || f[1] == "close")
                && f[2].starts_with("s3://")
                && f[3].ends_with("files.tar.zst");
            part.then(|| f[0].to_string())
        })
        .collect();
    assert!(
        remote_parts.len() > 2,
        "files.tar went up in one piece:\n{calls}"
    );
    // The spool's writes interleave with the repository's, so a call number lands on either
    // from one run to the next: try the repository's, a few rounds, until one hits it.
    let mut hit = None;
    for k in remote_parts
        .iter()
        .rev()
        .cycle()
        .take(5 * remote_parts.len())
    {
        let out = app
            .command(&["backup", "--json"])
            .env("LIFEBOAT_FAULT_INJECT", k)
            .output()
            .expect("run lifeboat backup");
        let said = format!("{}{}", stdout(&out), stderr(&out));
        if said
            .lines()
            .any(|l| l.contains("injected fault") && l.contains("files.tar.zst` in s3://"))
        {
            assert_ne!(exit_code(&out), EXIT_OK, "{said}");
            hit = Some(k.clone());
            break;
        }
    }
    let hit = hit.expect("no injected fault landed on an upload of files.tar to S3");
    assert_eq!(
        open_multipart_uploads(&app),
        Vec::<String>::new(),
        "the run that failed at call {hit} left multipart uploads open"
    );
}
