//! Corruption suite (issue 7): damage stored objects of a real backup and check that nothing
//! lets it through.
//!
//! - 50 trials, each flipping one random byte at a random offset of a random stored object
//!   (db, files, secrets) of one backup: `verify --json` exits 3 and names the object every
//!   time; the byte is put back after each trial (no new backup between trials).
//! - A truncated object and a swapped object (two sets' db objects exchanged): verify names it.
//! - `restore --dry-run` and a real `restore --yes --no-safety-backup` refuse a truncated, a
//!   swapped and a flipped object as damaged (exit 3) before touching the target: the
//!   database's `pg_dump` output is the same afterwards. A drill of the flipped object fails in
//!   its decrypt phase, naming it, and never runs pg_restore.
//!
//! The RNG seed is fixed (`SEED`, or `LIFEBOAT_CORRUPTION_SEED` to try others) and printed in
//! every failure message.

mod common;

use common::describe;

use std::fs::OpenOptions;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use common::app::{AppOptions, TestApp};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde_json::Value;

use lifeboat::jobs::exit_code::{DAMAGED as EXIT_DAMAGED, OK as EXIT_OK};
const SEED: u64 = 0x11fe_b0a7_0007;
const TRIALS: usize = 50;

fn seed() -> u64 {
    std::env::var("LIFEBOAT_CORRUPTION_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(SEED)
}

/// `verify <set> --json`: the exit code and the one set report.
fn verify_set(app: &TestApp, set: &str) -> (i32, Value) {
    let (code, report) = app.lifeboat_json(&["verify", set]);
    let sets = report["sets"].as_array().cloned().unwrap_or_default();
    assert_eq!(sets.len(), 1, "verify {set} reported {report:#}");
    (code, sets[0].clone())
}

fn status_of(report: &Value, name: &str) -> String {
    report["objects"]
        .as_array()
        .and_then(|objects| objects.iter().find(|o| o["object"] == name))
        .and_then(|o| o["status"].as_str())
        .unwrap_or_else(|| panic!("no object {name} in {report:#}"))
        .to_string()
}

/// Every stored object of set `id` and where it is on disk (data or secrets repository).
fn stored_objects(app: &TestApp, id: &str, report: &Value) -> Vec<(String, PathBuf)> {
    report["objects"]
        .as_array()
        .expect("objects")
        .iter()
        .map(|o| {
            let name = o["object"].as_str().expect("object name").to_string();
            let data = app.set_dir_local(id).join(&name);
            let path = if data.is_file() {
                data
            } else {
                app.secrets_set_dir(id).join(&name)
            };
            assert!(path.is_file(), "{} is not on disk", path.display());
            (name, path)
        })
        .collect()
}

fn flip_byte(path: &Path, offset: u64, mask: u8) -> u8 {
    let mut file = OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .expect("open the object");
    let mut byte = [0u8; 1];
    file.seek(SeekFrom::Start(offset)).expect("seek");
    file.read_exact(&mut byte).expect("read the byte");
    file.seek(SeekFrom::Start(offset)).expect("seek");
    file.write_all(&[byte[0] ^ mask]).expect("flip the byte");
    byte[0]
}

fn put_byte(path: &Path, offset: u64, byte: u8) {
    let mut file = OpenOptions::new().write(true).open(path).expect("open");
    file.seek(SeekFrom::Start(offset)).expect("seek");
    file.write_all(&[byte]).expect("restore the byte");
}

/// `pg_dump` of the application database (plain SQL), without the random `\restrict` lines.
fn dump(app: &TestApp) -> String {
    let out = Command::new(app.pg_program("pg_dump"))
        .args(["--no-password", "-d"])
        .arg(app.url())
        .stdin(Stdio::null())
        .output()
        .expect("run pg_dump");
    assert!(out.status.success(), "pg_dump: {}", describe(&out));
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| !l.starts_with("\\restrict") && !l.starts_with("\\unrestrict"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Dry run and real restore both refuse `set` naming `object`, and the database is unchanged.
fn restore_refuses(app: &TestApp, set: &str, object: &str, what: &str, before: &str) {
    for args in [
        vec!["restore", set, "--dry-run"],
        vec!["restore", set, "--yes", "--no-safety-backup"],
    ] {
        let out = app.lifeboat(&args);
        assert_eq!(
            out.status.code(),
            Some(EXIT_DAMAGED),
            "{what}: lifeboat {args:?} did not refuse it as damaged: {}",
            describe(&out)
        );
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            all.contains(object),
            "{what}: lifeboat {args:?} does not name {object}: {}",
            describe(&out)
        );
        assert!(
            dump(app) == before,
            "{what}: lifeboat {args:?} changed the database before refusing"
        );
    }
}

/// A drill of a damaged local set fails in the pass that decrypts it (the only read of the
/// object), naming it, and never reaches pg_restore.
fn drill_refuses(app: &TestApp, set: &str, object: &str, what: &str) {
    let (code, record) = app.lifeboat_json(&["drill", set]);
    assert_ne!(code, EXIT_OK, "{what}: the drill passed: {record:#}");
    assert_eq!(record["passed"], false, "{what}: {record:#}");
    let reasons = record["reasons"].to_string();
    assert!(
        reasons.contains(object) && reasons.contains("SHA-256 differs"),
        "{what}: the reasons do not name {object} as damaged: {record:#}"
    );
    let phases: Vec<(&str, bool)> = record["phases"]
        .as_array()
        .expect("phases")
        .iter()
        .map(|p| (p["name"].as_str().unwrap_or(""), p["ok"] == true))
        .collect();
    assert!(
        phases.contains(&("decrypt", false)) && !phases.iter().any(|(n, _)| *n == "restore"),
        "{what}: pg_restore was not kept from it: {phases:?}"
    );
}

#[test]
fn every_damaged_byte_is_found_and_no_damaged_set_is_restored() {
    let seed = seed();
    let mut rng = StdRng::seed_from_u64(seed);
    let app = TestApp::new(AppOptions::default());
    let set = app.backup();
    let (code, clean) = verify_set(&app, &set);
    assert_eq!(code, EXIT_OK, "seed {seed}: {clean:#}");
    let objects = stored_objects(&app, &set, &clean);
    let names: Vec<&str> = objects.iter().map(|(n, _)| n.as_str()).collect();
    for kind in ["db.dump", "files.tar", "secrets.tar"] {
        assert!(names.iter().any(|n| n.starts_with(kind)), "{names:?}");
    }

    // 50 single-byte flips, each put back before the next.
    let mut per_object = std::collections::BTreeMap::<String, usize>::new();
    for trial in 0..TRIALS {
        let (name, path) = &objects[rng.random_range(0..objects.len())];
        let len = std::fs::metadata(path).expect("stat").len();
        let offset = rng.random_range(0..len);
        let mask: u8 = rng.random_range(1..=255);
        let original = flip_byte(path, offset, mask);
        let (code, report) = verify_set(&app, &set);
        let context = format!("seed {seed}, trial {trial}: {name} byte {offset} ^ {mask:#04x}");
        assert_eq!(code, EXIT_DAMAGED, "{context}: {report:#}");
        assert_eq!(report["ok"], false, "{context}: {report:#}");
        assert_eq!(
            status_of(&report, name),
            "hash_mismatch",
            "{context}: {report:#}"
        );
        for (other, _) in &objects {
            if other != name {
                assert_eq!(status_of(&report, other), "ok", "{context}: {report:#}");
            }
        }
        put_byte(path, offset, original);
        *per_object.entry(name.clone()).or_default() += 1;
    }
    eprintln!("seed {seed}: {TRIALS} flips detected, per object {per_object:?}");
    let (code, report) = verify_set(&app, &set);
    assert_eq!(code, EXIT_OK, "seed {seed}: restored bytes: {report:#}");

    let before = dump(&app);
    let (db_name, db_path) = objects
        .iter()
        .find(|(n, _)| n.starts_with("db.dump"))
        .cloned()
        .expect("db object");

    // A truncated object.
    let saved = std::fs::read(&db_path).expect("read the db object");
    let cut = rng.random_range(1..saved.len() as u64);
    std::fs::write(&db_path, &saved[..cut as usize]).expect("truncate");
    let (code, report) = verify_set(&app, &set);
    let context = format!("seed {seed}: {db_name} truncated to {cut} bytes");
    assert_eq!(code, EXIT_DAMAGED, "{context}: {report:#}");
    assert_eq!(
        status_of(&report, &db_name),
        "size_mismatch",
        "{context}: {report:#}"
    );
    restore_refuses(&app, &set, &db_name, &context, &before);
    std::fs::write(&db_path, &saved).expect("put the db object back");

    // One flipped byte, through restore.
    let offset = rng.random_range(0..saved.len() as u64);
    let original = flip_byte(&db_path, offset, 0x01);
    let context = format!("seed {seed}: {db_name} byte {offset} flipped");
    restore_refuses(&app, &set, &db_name, &context, &before);
    drill_refuses(&app, &set, &db_name, &context);
    put_byte(&db_path, offset, original);

    // Two sets' db objects exchanged.
    let second = app.backup();
    let (code, report) = verify_set(&app, &second);
    assert_eq!(code, EXIT_OK, "seed {seed}: second set: {report:#}");
    let other_path = app.set_dir_local(&second).join(&db_name);
    let other = std::fs::read(&other_path).expect("read the second db object");
    assert_ne!(other, saved, "two backups have different dumps");
    std::fs::write(&db_path, &other).expect("swap");
    std::fs::write(&other_path, &saved).expect("swap");
    for id in [&set, &second] {
        let (code, report) = verify_set(&app, id);
        let context = format!("seed {seed}: {db_name} swapped between {set} and {second}");
        assert_eq!(code, EXIT_DAMAGED, "{context}: {report:#}");
        let status = status_of(&report, &db_name);
        assert!(
            status == "hash_mismatch" || status == "size_mismatch",
            "{context}: {report:#}"
        );
    }
    let context = format!("seed {seed}: {db_name} swapped between {set} and {second}");
    restore_refuses(&app, &set, &db_name, &context, &before);
    std::fs::write(&db_path, &saved).expect("unswap");
    std::fs::write(&other_path, &other).expect("unswap");
    let (code, report) = verify_set(&app, &set);
    assert_eq!(code, EXIT_OK, "seed {seed}: {report:#}");
}
