//! The manifest index against a real S3 server (`s3s-fs` on loopback): a second load issues
//! far fewer requests than a cold one and gives the same sets (and the same as a plain scan);
//! a stale index cannot make prune delete a set that is newer or pinned in the repository.
//! No PostgreSQL: the sets are written straight into the bucket's directory, which `s3s-fs`
//! serves. Requests are counted by the repository's fault layer (every storage call).
//!
//! CI budget: 10 s (about 2 s after the build).

mod common;

use chrono::{Duration as Span, Utc};
use common::{describe, S3Server, S3_REGION};
use lifeboat::jobs::index::{self, Freshness, Indexed};
use lifeboat::jobs::inventory::{self, Inventory};
use lifeboat::storage::fault::Faults;
use lifeboat::storage::manifest::{
    Component, ComponentKind, Compression, Encryption, Initiator, Manifest, RepositoryRole,
    SourceFacts, MANIFEST_FORMAT,
};
use lifeboat::storage::paths::LocalPaths;
use lifeboat::storage::repository::{Repository, RepositorySpec};
use std::path::Path;
use std::process::Command;
use std::sync::Arc;

const PREFIX: &str = "app";

fn manifest(set: &str, age_hours: i64) -> Vec<u8> {
    let finished_at = Utc::now() - Span::hours(age_hours);
    Manifest {
        format: MANIFEST_FORMAT,
        set_id: set.parse().expect("a set id"),
        snapshot_time: finished_at - Span::minutes(2),
        started_at: finished_at - Span::minutes(2),
        finished_at,
        initiator: Initiator::Schedule,
        purpose: None,
        host: "db1".into(),
        lifeboat_version: "0.1.0".into(),
        source: SourceFacts::default(),
        components: vec![Component {
            kind: ComponentKind::Db,
            object: "db.dump.zst".into(),
            repository: RepositoryRole::Data,
            stored_bytes: 3,
            stored_sha256: "0".repeat(64),
            plaintext_bytes: 3,
            plaintext_sha256: "0".repeat(64),
            source_bytes: 3,
            compression: Compression {
                codec: "zstd".into(),
                level: 3,
            },
            encryption: Encryption {
                mode: "none".into(),
                recipients: Vec::new(),
            },
        }],
    }
    .to_json()
}

fn write(root: &Path, key: &str, bytes: &[u8]) {
    let file = root.join(key);
    std::fs::create_dir_all(file.parent().expect("a key has a folder"))
        .unwrap_or_else(|e| panic!("create the folder of {key}: {e}"));
    std::fs::write(&file, bytes).unwrap_or_else(|e| panic!("write {}: {e}", file.display()));
}

/// A set `age_hours` old, its id from its time so ids sort as the sets do.
fn add_set(root: &Path, age_hours: i64, n: usize) -> String {
    let at = Utc::now() - Span::hours(age_hours) - Span::minutes(2);
    let id = format!("{}-{n:04x}", at.format("%Y%m%dT%H%M%SZ"));
    write(root, &format!("sets/{id}/db.dump.zst"), b"abc");
    write(
        root,
        &format!("sets/{id}/manifest.json"),
        &manifest(&id, age_hours),
    );
    id
}

fn spec(s3: &S3Server) -> RepositorySpec {
    RepositorySpec {
        endpoint: Some(s3.endpoint()),
        region: Some(S3_REGION.into()),
        ..RepositorySpec::new(format!("s3://{}/{PREFIX}", s3.bucket()))
    }
}

/// What a caller sees of an inventory: each set's id, completeness, manifest and objects.
type Seen = (String, bool, Option<Manifest>, Vec<(String, u64)>);

fn seen(i: &Inventory) -> Vec<Seen> {
    i.sets
        .iter()
        .map(|s| {
            let objects = s.objects.iter().map(|o| (o.path.clone(), o.size)).collect();
            (
                s.id.to_string(),
                s.is_complete(),
                s.manifest.clone(),
                objects,
            )
        })
        .collect()
}

#[test]
fn a_warm_load_makes_few_requests_and_sees_what_a_cold_one_sees() {
    let s3 = S3Server::start();
    for (name, value) in s3.env() {
        // The only test in this file that reads the environment in-process.
        std::env::set_var(name, value);
    }
    let root = s3.root_dir().join(PREFIX);
    const SETS: usize = 40;
    for n in 0..SETS {
        add_set(&root, (SETS - n) as i64 * 24, n);
    }
    // A folder without a manifest: a backup still uploading.
    write(&root, "sets/20200101T000000Z-dead/db.dump.zst", b"abc");
    let dir = tempfile::tempdir().expect("a temporary directory");
    let paths = LocalPaths::under(dir.path());
    let log = dir.path().join("calls.log");
    let faults = Arc::new(Faults::new(None, Some(log.clone())).expect("a call counter"));
    let repo = Repository::open_with(&spec(&s3), Some(faults.clone())).expect("open");
    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    // Storage calls that read an object (a GET, counted per open and per chunk, or a stat):
    // the fault layer counts a listing once per entry, so reads are what a warm load avoids.
    let reads_after = |before: u64| -> u64 {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        text.lines()
            .filter(|l| l.split('\t').next().and_then(|n| n.parse::<u64>().ok()) > Some(before))
            .filter(|l| matches!(l.split('\t').nth(1), Some("read" | "stat")))
            .count() as u64
    };
    let load = |freshness| -> (Indexed, u64) {
        let before = faults.calls();
        let indexed = runtime
            .block_on(index::load(&repo, &paths, freshness, None))
            .unwrap_or_else(|e| panic!("load {freshness:?}: {e}\n{}", s3.log()));
        (indexed, reads_after(before))
    };
    let (cold, cold_calls) = load(Freshness::Full);
    assert_eq!(cold.inventory.sets.len(), SETS + 1);
    assert_eq!(cold.inventory.incomplete().count(), 1);
    assert!(
        cold_calls >= SETS as u64,
        "every manifest read: {cold_calls}"
    );
    let scanned = runtime.block_on(inventory::scan(&repo)).expect("scan");
    assert_eq!(
        seen(&cold.inventory),
        seen(&scanned),
        "the index agrees with a scan"
    );

    let (warm, warm_calls) = load(Freshness::Full);
    assert_eq!(warm_calls, 0, "no manifest read again");
    assert_eq!(seen(&warm.inventory), seen(&cold.inventory));
    let (newest, newest_calls) = load(Freshness::Newest);
    assert!(
        newest_calls <= 3,
        "only the newest manifest stat-ed: {newest_calls}"
    );
    assert_eq!(seen(&newest.inventory), seen(&cold.inventory));
    let (cached, cached_calls) = load(Freshness::Cached);
    assert_eq!(cached_calls, 0, "no request at all");
    assert_eq!(seen(&cached.inventory), seen(&cold.inventory));

    // A new set and a finished upload: the newest pass sees both in a few requests.
    let newer = add_set(&root, 0, 999);
    write(
        &root,
        "sets/20200101T000000Z-dead/manifest.json",
        &manifest("20200101T000000Z-dead", 24 * 400),
    );
    let (newest, newest_calls) = load(Freshness::Newest);
    assert!(
        newest_calls <= 9,
        "a stat and two manifests: {newest_calls}"
    );
    assert_eq!(newest.inventory.sets[0].id.as_str(), newer);
    assert_eq!(newest.inventory.incomplete().count(), 0);
    let scanned = runtime.block_on(inventory::scan(&repo)).expect("scan");
    assert_eq!(seen(&newest.inventory), seen(&scanned));
}

fn lifeboat(s3: &S3Server, config: &Path, state: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lifeboat"))
        .arg("--config")
        .arg(config)
        .args(args)
        .env("LIFEBOAT_DATA_DIR", state.join("data"))
        .env("LIFEBOAT_STATE_DIR", state.join("state"))
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .envs(s3.env())
        .output()
        .expect("run lifeboat")
}

#[test]
fn a_stale_index_cannot_make_prune_delete_a_newer_or_pinned_set() {
    let s3 = S3Server::start();
    let root = s3.root_dir().join(PREFIX);
    let dir = tempfile::tempdir().expect("a temporary directory");
    let old = add_set(&root, 72, 1);
    let middle = add_set(&root, 48, 2);
    let config = dir.path().join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[source]\n[repository]\nurl = \"s3://{}/{PREFIX}\"\nendpoint = \"{}\"\n\
             region = \"{S3_REGION}\"\ntimeout = \"30s\"\n[encryption]\nmode = \"none\"\n\
             [retention]\nkeep_last = 1\nmin_age = \"0s\"\n",
            s3.bucket(),
            s3.endpoint()
        ),
    )
    .expect("write the config");
    let out = lifeboat(&s3, &config, dir.path(), &["list", "--json"]);
    assert!(out.status.success(), "{}", describe(&out));
    // Behind the index's back: a newer set arrives, and the middle one is pinned.
    let newest = add_set(&root, 1, 3);
    let out = lifeboat(
        &s3,
        &config,
        dir.path(),
        &["pin", &middle, "--note", "hold"],
    );
    assert!(out.status.success(), "{}", describe(&out));
    let out = lifeboat(&s3, &config, dir.path(), &["prune", "--yes", "--json"]);
    assert!(out.status.success(), "{}", describe(&out));
    let present = |id: &str| root.join(format!("sets/{id}/manifest.json")).exists();
    assert!(
        present(&newest),
        "the newest set is kept: {}",
        describe(&out)
    );
    assert!(
        present(&middle),
        "the pinned set is kept: {}",
        describe(&out)
    );
    assert!(!present(&old), "the expired set goes: {}", describe(&out));
}
