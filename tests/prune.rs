//! Retention and prune against real parts (a PostgreSQL cluster, s3s-fs, gpg): a failed
//! listing or read deletes nothing; a prune killed between a set's manifest and its objects
//! leaves garbage, never a broken complete set, and the next prune finishes; pins, the newest
//! set and the newest verified set survive; `backup --prune` applies the policy; the simulator
//! reads the same repository.

mod common;

use common::{describe, text};

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Output};

use common::app::{AppOptions, RepoKind, TestApp};
use serde_json::Value;

use lifeboat::jobs::exit_code::{CONFIG as EXIT_CONFIG, FAILED as EXIT_FAILED, OK as EXIT_OK};

fn code(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

/// Appends a `[retention]` table to the app's configuration.
fn with_retention(app: &TestApp, body: &str) {
    app.write_raw_config(&format!("{}\n[retention]\n{body}\n", app.config_text()));
}

/// Every file under `root` (symlinks included, not followed) with its size.
fn files(root: &Path) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let mut dirs = vec![root.to_path_buf()];
    while let Some(dir) = dirs.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries {
            let entry = entry.expect("read a directory entry");
            let meta = std::fs::symlink_metadata(entry.path()).expect("lstat");
            if meta.is_dir() {
                dirs.push(entry.path());
            } else {
                let rel = entry
                    .path()
                    .strip_prefix(root)
                    .expect("under root")
                    .to_owned();
                out.insert(rel.display().to_string(), meta.len());
            }
        }
    }
    out
}

fn bytes_under(dir: &Path) -> u64 {
    files(dir).values().sum()
}

/// Complete set ids from `list --json`, sorted (two sets taken in the same second sort by their
/// random suffix, so the listing order is not the order they were taken in).
fn listed(app: &TestApp) -> Vec<String> {
    let (code, list) = app.lifeboat_json(&["list"]);
    assert_eq!(code, EXIT_OK, "{list:#}");
    list["sets"]
        .as_array()
        .expect("sets")
        .iter()
        .map(|s| s["set_id"].as_str().expect("set_id").to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect()
}

fn sorted<const N: usize>(ids: [&String; N]) -> Vec<String> {
    let mut v: Vec<String> = ids.into_iter().cloned().collect();
    v.sort();
    v
}

fn strings(value: &Value) -> Vec<String> {
    value
        .as_array()
        .unwrap_or_else(|| panic!("not an array: {value}"))
        .iter()
        .map(|v| v.as_str().expect("a string").to_string())
        .collect()
}

fn verdict<'a>(plan: &'a Value, id: &str) -> &'a Value {
    plan["sets"]
        .as_array()
        .and_then(|sets| sets.iter().find(|s| s["set_id"] == id))
        .unwrap_or_else(|| panic!("set {id} is not in the plan: {plan:#}"))
}

fn reasons(plan: &Value, id: &str) -> Vec<String> {
    strings(&verdict(plan, id)["reasons"])
}

/// `prune --json` (a preview), asserting it succeeded; returns the plan.
fn preview(app: &TestApp) -> Value {
    let (code, doc) = app.lifeboat_json(&["prune"]);
    assert_eq!(code, EXIT_OK, "{doc:#}");
    assert_eq!(
        doc["outcome"],
        Value::Null,
        "a preview deletes nothing: {doc:#}"
    );
    doc["plan"].clone()
}

/// `prune --yes --json`, asserting it succeeded; returns (plan, outcome).
fn prune_yes(app: &TestApp) -> (Value, Value) {
    let (code, doc) = app.lifeboat_json(&["prune", "--yes"]);
    assert_eq!(code, EXIT_OK, "{doc:#}");
    assert_eq!(doc["ok"], true, "{doc:#}");
    (doc["plan"].clone(), doc["outcome"].clone())
}

/// `prune --yes` must fail naming `needle` and leave both repositories exactly as they were.
fn assert_refused(app: &TestApp, needle: &str, before: &[(&Path, BTreeMap<String, u64>)]) {
    let out = app.lifeboat(&["prune", "--yes"]);
    assert_eq!(code(&out), EXIT_FAILED, "{}", describe(&out));
    let stderr = text(&out.stderr);
    assert!(stderr.contains(needle), "{needle}: {}", describe(&out));
    assert!(stderr.contains("nothing was deleted"), "{}", describe(&out));
    for (root, files_before) in before {
        assert_eq!(&files(root), files_before, "{} changed", root.display());
    }
}

#[test]
fn a_failed_listing_or_read_on_s3_deletes_nothing() {
    let mut app = TestApp::new(AppOptions {
        repo: RepoKind::S3,
        ..AppOptions::default()
    });
    let ids = [app.backup(), app.backup(), app.backup()];
    with_retention(&app, "keep_last = 1\nmin_age = \"0s\"");
    let data = app.data_repo_root();
    let secrets = app.secrets_repo_dir();
    let snapshot = || {
        [
            (data.as_path(), files(&data)),
            (secrets.as_path(), files(&secrets)),
        ]
    };
    let before = snapshot();

    // s3s-fs serves files from disk and does not follow symlinks while listing: a manifest
    // replaced by a symlink to a directory is listed as an object, but reading it fails (500).
    let manifest = app.set_dir_local(&ids[1]).join("manifest.json");
    let saved = app.set_dir_local(&ids[1]).join("manifest.saved");
    std::fs::rename(&manifest, &saved).expect("move the manifest aside");
    std::os::unix::fs::symlink(app.set_dir_local(&ids[0]), &manifest).expect("symlink");
    let broken = snapshot();
    assert_refused(&app, &format!("sets/{}/manifest.json", ids[1]), &broken);
    std::fs::remove_file(&manifest).expect("remove the symlink");
    std::fs::rename(&saved, &manifest).expect("put the manifest back");

    // A pin that cannot be read might be a legal hold: it stops the prune the same way.
    let pins = data.join("pins");
    std::fs::create_dir_all(&pins).expect("mkdir pins");
    let pin = pins.join(format!("{}.json", ids[0]));
    std::os::unix::fs::symlink(app.set_dir_local(&ids[0]), &pin).expect("symlink");
    let broken = snapshot();
    assert_refused(&app, &format!("pins/{}.json", ids[0]), &broken);
    std::fs::remove_file(&pin).expect("remove the pin symlink");
    std::fs::remove_dir(&pins).expect("rmdir pins");

    // An unreachable repository.
    app.s3_mut().expect("s3").stop();
    assert_refused(&app, "repository s3://", &before);
    app.s3_mut().expect("s3").restart();

    // Everything readable again, the same prune deletes the two expired sets: the refusals
    // above came from the failures, not from a policy that keeps everything.
    assert_eq!(snapshot(), before);
    let (_, outcome) = prune_yes(&app);
    assert_eq!(
        strings(&outcome["deleted_sets"]),
        [ids[0].as_str(), ids[1].as_str()]
    );
    assert_eq!(listed(&app), sorted([&ids[2]]));
}

#[test]
fn a_prune_killed_after_a_manifest_leaves_garbage_that_the_next_prune_removes() {
    let app = TestApp::new(AppOptions::default());
    let ids = [app.backup(), app.backup(), app.backup()];
    with_retention(&app, "keep_last = 1\nmin_age = \"0s\"");

    // What a prune killed right after its first delete leaves: the expired set's data-repository
    // manifest is gone, its other objects and its secrets folder are still there.
    std::fs::remove_file(app.set_dir_local(&ids[0]).join("manifest.json")).expect("rm manifest");
    assert_eq!(
        listed(&app),
        sorted([&ids[1], &ids[2]]),
        "an incomplete set is not a backup"
    );
    let (_, inventory) = app.lifeboat_json(&["inventory"]);
    let entry = inventory["sets"]
        .as_array()
        .and_then(|sets| sets.iter().find(|s| s["set_id"] == ids[0].as_str()))
        .unwrap_or_else(|| panic!("{} is not in the inventory: {inventory:#}", ids[0]));
    assert_eq!(entry["complete"], false, "{entry:#}");

    // Within the 24-hour grace period it is held back (a backup elsewhere may be writing it).
    let plan = preview(&app);
    assert_eq!(plan["garbage"], serde_json::json!([]), "{plan:#}");
    let held = plan["held"]
        .as_array()
        .and_then(|h| h.iter().find(|h| h["name"] == ids[0].as_str()))
        .unwrap_or_else(|| panic!("{} is not held: {plan:#}", ids[0]));
    assert!(
        held["why"]
            .as_str()
            .unwrap_or_default()
            .contains("grace period"),
        "{held:#}"
    );
    assert_eq!(verdict(&plan, &ids[1])["keep"], false);

    // Two days later, the next prune finishes the job in both repositories.
    let touch = Command::new("touch")
        .arg("-d")
        .arg("2 days ago")
        .args(
            files(&app.set_dir_local(&ids[0]))
                .keys()
                .map(|f| app.set_dir_local(&ids[0]).join(f)),
        )
        .args(
            files(&app.secrets_set_dir(&ids[0]))
                .keys()
                .map(|f| app.secrets_set_dir(&ids[0]).join(f)),
        )
        .output()
        .expect("run touch");
    assert!(touch.status.success(), "{}", describe(&touch));
    let (plan, outcome) = prune_yes(&app);
    assert_eq!(plan["garbage"][0]["kind"], "incomplete_set", "{plan:#}");
    assert_eq!(strings(&outcome["deleted_sets"]), [ids[1].as_str()]);
    assert_eq!(strings(&outcome["deleted_garbage"]), [ids[0].as_str()]);
    for id in &ids[..2] {
        assert!(
            !app.set_dir_local(id).exists(),
            "{id} is still in the data repository"
        );
        assert!(
            !app.secrets_set_dir(id).exists(),
            "{id} is still in the secrets repository"
        );
    }
    assert_eq!(listed(&app), sorted([&ids[2]]));

    // The journal says what went, when and by whom.
    let journal = std::fs::read_to_string(app.journal_path()).expect("read the journal");
    let prunes: Vec<Value> = journal
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|e| e["kind"] == "prune" && e["status"] == "completed")
        .collect();
    for id in &ids[..2] {
        let r = prunes
            .iter()
            .find(|r| r["set_id"] == id.as_str())
            .unwrap_or_else(|| panic!("no prune record for {id}: {journal}"));
        assert!(r["finished_at"].is_string() && r["host"].is_string() && r["pid"].is_u64());
    }
    let run = prunes
        .iter()
        .find(|r| r["set_id"].is_null())
        .unwrap_or_else(|| panic!("no prune run record: {journal}"));
    assert_eq!(run["run_id"], outcome["run_id"]);
    assert_eq!(
        run["bytes"],
        plan["freed"]["data_bytes"].as_u64().unwrap()
            + plan["freed"]["secrets_bytes"].as_u64().unwrap()
    );
}

#[test]
fn pins_the_newest_and_the_newest_verified_set_survive_and_bytes_freed_are_reported() {
    let app = TestApp::new(AppOptions::default());
    let a = app.backup();
    let b = app.backup();
    let verify = app.lifeboat(&["verify", &b]);
    assert_eq!(code(&verify), EXIT_OK, "{}", describe(&verify));
    let c = app.backup();
    let d = app.backup();

    // No policy, no prune: it refuses with the reason instead of deleting everything.
    let refused = app.lifeboat(&["prune", "--yes"]);
    assert_eq!(code(&refused), EXIT_CONFIG, "{}", describe(&refused));
    assert!(
        text(&refused.stderr).contains("would delete every backup"),
        "{}",
        describe(&refused)
    );
    with_retention(&app, "keep_last = 1\nmin_age = \"0s\"");

    // Pin and unpin round trip; the pin lives in the repository.
    let pin_file = |id: &str| app.data_repo_root().join("pins").join(format!("{id}.json"));
    let (status, pinned) = app.lifeboat_json(&["pin", &c, "--note", "before the migration"]);
    assert_eq!(status, EXIT_OK, "{pinned:#}");
    assert_eq!(pinned["pin"]["note"], "before the migration");
    let stored: Value =
        serde_json::from_slice(&std::fs::read(pin_file(&c)).expect("the pin is in the repository"))
            .expect("the pin is JSON");
    assert_eq!(stored["set_id"], c.as_str());
    assert!(
        stored["by"].as_str().unwrap_or_default().contains('@'),
        "{stored:#}"
    );
    assert!(stored["at"].is_string(), "{stored:#}");
    let out = app.lifeboat(&["unpin", &c]);
    assert_eq!(code(&out), EXIT_OK, "{}", describe(&out));
    assert!(!pin_file(&c).exists());
    let out = app.lifeboat(&["unpin", &c]);
    assert_eq!(code(&out), EXIT_FAILED, "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("not pinned"),
        "{}",
        describe(&out)
    );
    let out = app.lifeboat(&["pin", "20200101T000000Z-dead", "--note", "x"]);
    assert_eq!(code(&out), EXIT_FAILED, "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("not a complete set"),
        "{}",
        describe(&out)
    );
    let out = app.lifeboat(&["pin", &a, "--note", "legal hold"]);
    assert_eq!(code(&out), EXIT_OK, "{}", describe(&out));

    // The preview: every set with its reasons, C expired, and what that frees in each repository.
    let plan = preview(&app);
    assert_eq!(reasons(&plan, &d), ["last 1/1", "newest"]);
    assert_eq!(reasons(&plan, &b), ["newest verified"]);
    assert_eq!(reasons(&plan, &a), ["pinned: legal hold"]);
    assert_eq!(verdict(&plan, &c)["keep"], false);
    let data_bytes = bytes_under(&app.set_dir_local(&c));
    let secrets_bytes = bytes_under(&app.secrets_set_dir(&c));
    assert!(data_bytes > 0 && secrets_bytes > 0);
    assert_eq!(plan["freed"]["data_bytes"], data_bytes, "{plan:#}");
    assert_eq!(plan["freed"]["secrets_bytes"], secrets_bytes, "{plan:#}");
    let shown = app.lifeboat(&["prune"]);
    let shown_text = text(&shown.stdout);
    assert_eq!(code(&shown), EXIT_OK, "{}", describe(&shown));
    for needle in [
        "pinned: legal hold",
        "newest verified",
        "✗ expired",
        "Frees",
        "Nothing was deleted",
    ] {
        assert!(shown_text.contains(needle), "{needle}:\n{shown_text}");
    }
    assert_eq!(listed(&app).len(), 4, "a preview deletes nothing");

    let (_, outcome) = prune_yes(&app);
    assert_eq!(strings(&outcome["deleted_sets"]), [c.as_str()]);
    assert_eq!(outcome["freed"]["data_bytes"], data_bytes);
    assert_eq!(outcome["freed"]["secrets_bytes"], secrets_bytes);
    assert_eq!(listed(&app), sorted([&a, &b, &d]));
    assert!(pin_file(&a).exists());
    assert!(!app.secrets_set_dir(&c).exists());
}

#[test]
fn backup_with_prune_keeps_the_policy_and_the_simulator_reads_the_same_sets() {
    let app = TestApp::new(AppOptions::default());
    with_retention(&app, "keep_last = 2\nmin_age = \"0s\"");
    for _ in 0..3 {
        app.backup();
    }
    let (status, doc) = app.lifeboat_json(&["backup", "--prune"]);
    assert_eq!(status, EXIT_OK, "{doc:#}");
    assert_eq!(doc["ok"], true, "{doc:#}");
    assert_eq!(doc["prune"]["ok"], true, "{doc:#}");
    let newest = doc["set_id"].as_str().expect("set_id").to_string();
    let sets = listed(&app);
    assert_eq!(sets.len(), 2, "{sets:?}");
    assert!(sets.contains(&newest), "{sets:?}");
    assert_eq!(
        doc["prune"]["outcome"]["deleted_sets"]
            .as_array()
            .map(Vec::len),
        Some(2)
    );

    // The same policy projected: two kept every day. A wider policy from a file keeps more.
    let (status, sim) = app.lifeboat_json(&["retention", "simulate", "--days", "3"]);
    assert_eq!(status, EXIT_OK, "{sim:#}");
    let days = sim["projection"]["days"].as_array().expect("days");
    assert_eq!(days.len(), 3);
    assert!(days.iter().all(|d| d["kept"] == 2), "{sim:#}");
    assert_eq!(sim["projection"]["gone"].as_array().map(Vec::len), Some(2));
    let policy = app.root().join("wider.toml");
    std::fs::write(&policy, "[retention]\nkeep_last = 5\nmin_age = \"0s\"\n").expect("write");
    let policy = policy.to_str().expect("utf-8");
    let (status, sim) =
        app.lifeboat_json(&["retention", "simulate", "--days", "2", "--policy", policy]);
    assert_eq!(status, EXIT_OK, "{sim:#}");
    assert_eq!(sim["projection"]["kept_now"], 2, "{sim:#}");
    assert_eq!(sim["projection"]["days"][1]["kept"], 5, "{sim:#}");
}
