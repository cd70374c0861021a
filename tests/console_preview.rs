//! The console's first-load preview over a real S3 repository (`s3s-fs` on loopback): first the
//! newest sets from a listing of recent folders, then the set folders from one delimited
//! listing and a few manifests read, and the dashboard they give agrees with the full load's; `lifeboat status` still reads everything. No PostgreSQL:
//! the sets are written straight into the bucket's directory, which `s3s-fs` serves.
//!
//! CI budget: 5 s (measured about 1 s after the build). No long variant.

mod common;

use chrono::{DateTime, Duration as Span, Utc};
use common::{describe, S3Server, S3_REGION};
use lifeboat::app::config::Config;
use lifeboat::app::event::AppEvent;
use lifeboat::app::runtime::load_staged;
use lifeboat::storage::journal::{Journal, JournalEntry, VerificationRecord, VerifyLevel};
use lifeboat::storage::manifest::{
    Component, ComponentKind, Compression, Encryption, Initiator, Manifest, RepositoryRole,
    SourceFacts, MANIFEST_FORMAT,
};
use lifeboat::storage::paths::LocalPaths;
use lifeboat::storage::repository::Repository;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

const PREFIX: &str = "app";

fn manifest(set: &str, finished_at: DateTime<Utc>) -> Vec<u8> {
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

#[test]
fn the_preview_over_s3_agrees_with_the_full_load() {
    let s3 = S3Server::start();
    let mut env = s3.env();
    env.push(("AWS_EC2_METADATA_DISABLED".into(), "true".into()));
    // The only test in this file: nothing else reads the environment meanwhile.
    for (name, value) in &env {
        std::env::set_var(name, value);
    }
    let dir = tempfile::tempdir().expect("a temporary directory");
    let bucket = s3.root_dir().join(PREFIX);
    let now = Utc::now();
    // Three complete sets a day apart, and a newer folder without its manifest (a backup that
    // died uploading): the preview must look past it.
    let ids: Vec<String> = (0..4)
        .map(|n| {
            let at = now - Span::days(3 - n);
            format!("{}-{n:04x}", at.format("%Y%m%dT%H%M%SZ"))
        })
        .collect();
    for (n, id) in ids.iter().enumerate() {
        write(&bucket, &format!("sets/{id}/db.dump.zst"), b"abc");
        if n < 3 {
            let finished = now - Span::days(3 - n as i64) + Span::minutes(5);
            write(
                &bucket,
                &format!("sets/{id}/manifest.json"),
                &manifest(id, finished),
            );
        }
    }
    let config_path = dir.path().join("config.toml");
    std::fs::write(
        &config_path,
        format!(
            "[source]\n[repository]\nurl = \"s3://{}/{PREFIX}\"\nendpoint = \"{}\"\n\
             region = \"{S3_REGION}\"\ntimeout = \"30s\"\n[encryption]\nmode = \"none\"\n",
            s3.bucket(),
            s3.endpoint()
        ),
    )
    .expect("write the config");
    let config = Config::load(&config_path).expect("the config loads");
    let paths = LocalPaths::under(dir.path());
    // The newest complete set was never verified; the one before was.
    Journal::new(paths.journal())
        .append(&JournalEntry::Verification(VerificationRecord {
            set_id: ids[1].clone(),
            at: now - Span::hours(30),
            level: VerifyLevel::Stored,
            ok: true,
            repository: config.repository.url.clone(),
            problems: Vec::new(),
            initiator: None,
        }))
        .expect("append to the journal");

    let runtime = tokio::runtime::Runtime::new().expect("a runtime");
    let (first, preview, snapshot) = runtime.block_on(async {
        let repo = Repository::open(&config.data_repository().expect("a repository spec"))
            .expect("open the repository");
        let folders = repo.list_dirs("sets/").await.expect("list the set folders");
        assert_eq!(folders, ids, "one delimited listing names every set folder");
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let snapshot = load_staged(&config, &paths, Some(&tx))
            .await
            .expect("the full load");
        // The previews come before the full pass; the sets as they arrive (the first one
        // told at once) after them, made off the read loop, so perhaps after the load returns.
        let mut previews = Vec::new();
        let mut partial = None;
        while partial.is_none() {
            match tokio::time::timeout(Duration::from_secs(10), rx.recv()).await {
                Ok(Some(AppEvent::Previewed(p))) => previews.push(*p),
                Ok(Some(AppEvent::Partial(snapshot, progress))) => {
                    partial = Some((snapshot, progress))
                }
                Ok(Some(_)) => {}
                Ok(None) | Err(_) => break,
            }
        }
        let (so_far, progress) = partial.expect("the sets as they arrive, with the count");
        let progress = progress.expect("a cold load says how far it is");
        assert_eq!(progress.total, 3, "three folders with a manifest to read");
        assert!((1..=3).contains(&progress.loaded), "{progress:?}");
        let shown = so_far.inventory.as_ref().map_or(0, |i| i.sets.len());
        assert!(shown >= 1, "the sets read so far are shown");
        let [first, preview] = <[_; 2]>::try_from(previews).unwrap_or_else(|p| {
            panic!(
                "not the first look then the preview: {} previews (the log of s3s-fs:\n{})",
                p.len(),
                s3.log()
            )
        });
        (first, preview, snapshot)
    });
    // The first look, before `sets/` was listed: the newest set and the verified one, read
    // from their manifests past the folder without one.
    let (f, full) = (&first.status, &snapshot.status);
    assert_eq!(first.set_folders, None);
    assert_eq!(json(&f.newest_set), json(&full.newest_set));
    assert_eq!(
        json(&f.newest_verification),
        json(&full.newest_verification)
    );
    assert_eq!(
        first.manifests_read, 3,
        "the incomplete folder, the newest complete set, the verified one"
    );
    assert!(
        f.alerts.iter().all(|a| full.alerts.contains(a)),
        "first look {:?}, full {:?}",
        f.alerts,
        full.alerts
    );
    let p = &preview.status;
    assert_eq!(preview.set_folders, Some(4));
    assert_eq!(
        preview.manifests_read, 4,
        "the incomplete folder, the newest complete set, the oldest, the verified one"
    );
    assert_eq!(p.health, full.health, "preview {p:#?}\nfull {full:#?}");
    assert_eq!(p.alerts, full.alerts);
    assert_eq!(json(&p.newest_set), json(&full.newest_set));
    assert_eq!(
        p.newest_set.as_ref().map(|n| n.set_id.as_str()),
        Some(ids[2].as_str())
    );
    assert_eq!(
        json(&p.newest_verification),
        json(&full.newest_verification)
    );
    assert_eq!(
        p.newest_verification.as_ref().map(|v| v.set_id.as_str()),
        Some(ids[1].as_str())
    );
    assert_eq!(p.drill_due, full.drill_due);
    assert_eq!((full.complete_sets, full.incomplete_sets), (3, 1));

    // `lifeboat status` reads the whole repository, as before.
    let out = Command::new(env!("CARGO_BIN_EXE_lifeboat"))
        .arg("--config")
        .arg(&config_path)
        .args(["status", "--json"])
        .env("LIFEBOAT_DATA_DIR", &paths.data_dir)
        .env("LIFEBOAT_STATE_DIR", &paths.state_dir)
        .envs(env)
        .output()
        .expect("run lifeboat status");
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("status --json is not JSON ({e}): {}", describe(&out)));
    assert_eq!(
        out.status.code(),
        Some(full.health.exit_code()),
        "{}",
        describe(&out)
    );
    assert_eq!(doc["complete_sets"], 3, "{doc:#}");
    assert_eq!(doc["incomplete_sets"], 1, "{doc:#}");
    assert_eq!(doc["health"], full.health.as_str(), "{doc:#}");
}

/// Report parts compared as JSON: they have no `PartialEq`.
fn json<T: serde::Serialize>(value: &T) -> serde_json::Value {
    serde_json::to_value(value).unwrap_or_else(|e| panic!("serialize: {e}"))
}
