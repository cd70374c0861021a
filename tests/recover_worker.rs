//! A recovery's worker is detectable as alive: while a process holds the recovery's lock
//! (`jobs::recover::worker`), `lifeboat recover --resume` of that recovery refuses with exit 4
//! ("locked") naming the holder's pid and changes nothing (the runbook is byte-identical);
//! once the holder is gone the same command gets past the lock. A new recovery's
//! `--recovery ID` must be a fresh, file-safe name. Without a terminal, a bare host's
//! `lifeboat` keeps the "no configuration file" error (the recovery screen needs one).
#![allow(clippy::unwrap_used)]

mod common;

use common::{describe, text};
use lifeboat::jobs::exit_code;
use lifeboat::jobs::recover::{worker, KeySource, RecoverSpec, RepoArgs, Runbook, TargetChoice};
use lifeboat::storage::setid::SetId;
use std::path::Path;
use std::process::{Command, Stdio};

fn lifeboat(state: &Path, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_lifeboat"))
        .args(args)
        .env("LIFEBOAT_STATE_DIR", state)
        .env("LIFEBOAT_DATA_DIR", state.join("data"))
        .env("LIFEBOAT_CACHE_DIR", state.join("cache"))
        .env("LIFEBOAT_CONFIG_DIR", state.join("config"))
        .env("NO_COLOR", "1")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

fn spec(repo: &Path) -> RecoverSpec {
    RecoverSpec {
        repository: RepoArgs {
            url: format!("file://{}", repo.display()),
            ..Default::default()
        },
        secrets_repository: None,
        key: KeySource::Keyring,
        set: None,
        target: TargetChoice::NewCluster(repo.join("pgdata")),
        files_prefix: None,
        config_out: repo.join("config.toml"),
        pg_bin_dir: None,
        jobs: 1,
        create_roles: false,
        post_restore: Vec::new(),
        health: None,
        freshness_query: None,
        manual: Vec::new(),
        rehearse: false,
    }
}

#[test]
fn resume_refuses_a_recovery_whose_worker_is_alive_naming_its_pid() {
    let state = tempfile::tempdir().unwrap();
    let dir = state.path().join("recoveries");
    let id = "20261205T080000Z-ab12";
    let book = Runbook::new(
        id.into(),
        spec(&state.path().join("repo")),
        SetId::parse("20261204T000000Z-a1b2").unwrap(),
        "app".into(),
        "postgresql:///app".into(),
    );
    book.save(&dir).unwrap();
    let path = Runbook::path_in(&dir, id);
    let before = std::fs::read(&path).unwrap();

    // This test process plays the worker; the refusal comes from a separate `lifeboat`
    // process, across the flock, as it would for a detached worker.
    let held = worker::hold(&dir, id).unwrap();
    let out = lifeboat(state.path(), &["recover", "--resume", "--recovery", id]);
    assert_eq!(
        out.status.code(),
        Some(exit_code::LOCKED),
        "{}",
        describe(&out)
    );
    let err = text(&out.stderr);
    assert!(
        err.contains(&format!("pid {}", std::process::id())) && err.contains(id),
        "{err}"
    );
    assert_eq!(std::fs::read(&path).unwrap(), before, "the runbook changed");
    assert_eq!(
        worker::status(&dir, id),
        worker::Worker::Running(std::process::id())
    );

    drop(held);
    assert_eq!(worker::status(&dir, id), worker::Worker::Stopped);
    let out = lifeboat(state.path(), &["recover", "--resume", "--recovery", id]);
    assert_ne!(
        out.status.code(),
        Some(exit_code::LOCKED),
        "{}",
        describe(&out)
    );
    assert!(!text(&out.stderr).contains("running in another process"));
}

#[test]
fn a_new_recoverys_id_must_be_fresh_and_file_safe() {
    let state = tempfile::tempdir().unwrap();
    let repo = state.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    let base = |id: &str| {
        vec![
            "recover".to_string(),
            "--repository".into(),
            repo.display().to_string(),
            "--new-cluster".into(),
            state.path().join("pgdata").display().to_string(),
            "--recovery".into(),
            id.into(),
        ]
    };
    let run = |id: &str| {
        let args = base(id);
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        lifeboat(state.path(), &args)
    };
    let out = run("../escape");
    assert_eq!(
        out.status.code(),
        Some(exit_code::CONFIG),
        "{}",
        describe(&out)
    );
    assert!(
        text(&out.stderr).contains("letters, digits"),
        "{}",
        describe(&out)
    );

    let dir = state.path().join("recoveries");
    let id = "20261205T080000Z-cd34";
    Runbook::new(
        id.into(),
        spec(&repo),
        SetId::parse("20261204T000000Z-a1b2").unwrap(),
        "app".into(),
        "postgresql:///app".into(),
    )
    .save(&dir)
    .unwrap();
    let out = run(id);
    assert_eq!(
        out.status.code(),
        Some(exit_code::CONFIG),
        "{}",
        describe(&out)
    );
    assert!(text(&out.stderr).contains("--resume"), "{}", describe(&out));
}

#[test]
fn without_a_terminal_a_bare_host_still_gets_the_missing_configuration_error() {
    let state = tempfile::tempdir().unwrap();
    // stdout is a pipe here: the recovery screen needs a terminal, so the error stays.
    let out = lifeboat(state.path(), &[]);
    assert_eq!(
        out.status.code(),
        Some(exit_code::CONFIG),
        "{}",
        describe(&out)
    );
    assert!(
        text(&out.stderr).contains("no configuration file"),
        "{}",
        describe(&out)
    );
    assert!(!state.path().join("recoveries").exists());
}
