//! `schedule install | status | uninstall` with several applications (`apps/NAME.toml` in
//! the config directory): each application gets units and a crontab block of its own, named
//! after it, that run it with its own file; `--app NAME` installs or removes that
//! application's alone, no `--app` installs each. Units go to a unit directory of the test's
//! (no systemd needed) and are read back as text, as tests/ops.rs does for one application.
//!
//! CI budget: 5 s (about 0.3 s after the build). No long variant.

mod common;

use common::text;
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const APPS: [&str; 2] = ["shop", "wiki"];

/// A config directory with `apps/shop.toml` and `apps/wiki.toml`, each its own repository.
fn config_dir(dir: &Path) -> PathBuf {
    let config = dir.join("config");
    std::fs::create_dir_all(config.join("apps")).expect("create apps/");
    for app in APPS {
        std::fs::write(
            config.join("apps").join(format!("{app}.toml")),
            format!(
                "[source]\ndatabase_url = \"postgresql://{app}@127.0.0.1:1/{app}\"\n[repository]\nurl = \"file://{}/repo-{app}\"\n[encryption]\nmode = \"passphrase\"\npassphrase_file = \"/etc/lifeboat-test/pass\"\n",
                dir.display()
            ),
        )
        .expect("write an application's file");
    }
    config
}

/// `lifeboat ARGS` with `config` as the config directory and nothing of the host's.
fn lifeboat(dir: &Path, config: &Path, args: &[&str]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
    for k in [
        "LIFEBOAT_CONFIG",
        "GNUPGHOME",
        "PGHOST",
        "PGPORT",
        "PGDATABASE",
        "PGUSER",
    ] {
        cmd.env_remove(k);
    }
    cmd.args(args)
        .env("LIFEBOAT_CONFIG_DIR", config)
        .env("LIFEBOAT_DATA_DIR", dir.join("data"))
        .env("LIFEBOAT_STATE_DIR", dir.join("state"))
        .env("TZ", "UTC")
        .env("NO_COLOR", "1")
        .output()
        .expect("run lifeboat")
}

fn ok(out: Output, what: &str) -> Output {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{what}: exit {:?}\nstdout:\n{}\nstderr:\n{}",
        out.status.code(),
        text(&out.stdout),
        text(&out.stderr)
    );
    out
}

fn names_in(units: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(units)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    names
}

#[test]
fn each_application_gets_units_of_its_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config_dir(dir.path());
    let units = dir.path().join("units");
    let unit_dir = units.to_str().expect("utf-8");

    // No --app: every application, each with its own units running its own file.
    ok(
        lifeboat(
            dir.path(),
            &config,
            &[
                "schedule",
                "install",
                "--unit-dir",
                unit_dir,
                "--backup",
                "daily",
            ],
        ),
        "install for every application",
    );
    let expected: Vec<String> = APPS
        .iter()
        .flat_map(|app| {
            [
                format!("lifeboat-{app}-backup.service"),
                format!("lifeboat-{app}-backup.timer"),
            ]
        })
        .collect();
    assert_eq!(names_in(&units), expected);
    for app in APPS {
        let service = std::fs::read_to_string(units.join(format!("lifeboat-{app}-backup.service")))
            .expect("the service");
        let file = std::fs::canonicalize(config.join("apps").join(format!("{app}.toml")))
            .expect("the application's file");
        let exec = format!("--config {} backup --initiator schedule", file.display());
        assert!(service.contains(&exec), "{exec} missing:\n{service}");
        let other = APPS.iter().find(|a| **a != app).expect("the other one");
        assert!(!service.contains(&format!("{other}.toml")), "{service}");
    }

    // --app shop: only shop's change; a job it no longer names goes, wiki's stay as they were.
    let wiki_before =
        std::fs::read_to_string(units.join("lifeboat-wiki-backup.timer")).expect("wiki's timer");
    ok(
        lifeboat(
            dir.path(),
            &config,
            &[
                "--app",
                "shop",
                "schedule",
                "install",
                "--unit-dir",
                unit_dir,
                "--verify",
                "hourly",
            ],
        ),
        "install for shop",
    );
    assert_eq!(
        names_in(&units),
        [
            "lifeboat-shop-verify.service",
            "lifeboat-shop-verify.timer",
            "lifeboat-wiki-backup.service",
            "lifeboat-wiki-backup.timer",
        ]
    );
    assert_eq!(
        std::fs::read_to_string(units.join("lifeboat-wiki-backup.timer")).expect("wiki's timer"),
        wiki_before
    );

    // Status names the application of each job.
    let out = ok(
        lifeboat(
            dir.path(),
            &config,
            &["schedule", "status", "--unit-dir", unit_dir, "--json"],
        ),
        "status",
    );
    let entries: Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    let listed: Vec<(String, String)> = entries
        .as_array()
        .expect("a list")
        .iter()
        .map(|e| {
            (
                e["app"].as_str().unwrap_or("-").to_string(),
                e["job"].as_str().unwrap_or("-").to_string(),
            )
        })
        .collect();
    assert_eq!(
        listed,
        [
            ("shop".to_string(), "verify".to_string()),
            ("wiki".to_string(), "backup".to_string())
        ],
        "{entries:#}"
    );

    // Uninstall --app wiki removes wiki's alone; uninstall without --app removes the rest.
    ok(
        lifeboat(
            dir.path(),
            &config,
            &[
                "--app",
                "wiki",
                "schedule",
                "uninstall",
                "--unit-dir",
                unit_dir,
            ],
        ),
        "uninstall wiki",
    );
    assert_eq!(
        names_in(&units),
        ["lifeboat-shop-verify.service", "lifeboat-shop-verify.timer"]
    );
    ok(
        lifeboat(
            dir.path(),
            &config,
            &["schedule", "uninstall", "--unit-dir", unit_dir],
        ),
        "uninstall",
    );
    assert!(names_in(&units).is_empty(), "{:?}", names_in(&units));

    // An unknown application is refused, naming the known ones, and writes nothing.
    let out = lifeboat(
        dir.path(),
        &config,
        &[
            "--app",
            "blog",
            "schedule",
            "install",
            "--unit-dir",
            unit_dir,
        ],
    );
    assert_eq!(out.status.code(), Some(2), "{}", text(&out.stderr));
    assert!(
        text(&out.stderr).contains("shop, wiki"),
        "{}",
        text(&out.stderr)
    );
    assert!(names_in(&units).is_empty());
}

#[test]
fn each_application_gets_a_crontab_block_of_its_own() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = config_dir(dir.path());
    let tab = dir.path().join("crontab");
    let mine = "MAILTO=ops@example.com\n0 1 * * * /usr/local/bin/other-job\n";
    std::fs::write(&tab, mine).expect("write the crontab");
    let tab_arg = tab.to_str().expect("utf-8");
    let install = [
        "schedule",
        "install",
        "--crontab",
        tab_arg,
        "--backup",
        "daily",
    ];
    ok(lifeboat(dir.path(), &config, &install), "install");
    let first = std::fs::read_to_string(&tab).expect("the crontab");
    assert!(first.starts_with(mine), "{first}");
    for app in APPS {
        assert_eq!(
            first
                .matches(&format!("# BEGIN lifeboat app={app} "))
                .count(),
            1,
            "{first}"
        );
        let file = std::fs::canonicalize(config.join("apps").join(format!("{app}.toml")))
            .expect("the application's file");
        assert!(
            first.contains(&format!("--config {} backup", file.display())),
            "{first}"
        );
    }
    // Installing again changes nothing; --app shop replaces shop's block alone.
    ok(lifeboat(dir.path(), &config, &install), "install again");
    assert_eq!(std::fs::read_to_string(&tab).expect("the crontab"), first);
    let mut shop = vec!["--app", "shop"];
    shop.extend([
        "schedule",
        "install",
        "--crontab",
        tab_arg,
        "--backup",
        "hourly",
    ]);
    ok(lifeboat(dir.path(), &config, &shop), "install shop");
    let second = std::fs::read_to_string(&tab).expect("the crontab");
    let block_of = |text: &str, app: &str| -> String {
        text.lines()
            .skip_while(|l| !l.starts_with(&format!("# BEGIN lifeboat app={app} ")))
            .take_while(|l| *l != "# END lifeboat")
            .collect::<Vec<_>>()
            .join("\n")
    };
    assert_eq!(block_of(&second, "wiki"), block_of(&first, "wiki"));
    assert!(block_of(&second, "shop").contains("0 * * * * "), "{second}");
    ok(
        lifeboat(
            dir.path(),
            &config,
            &["schedule", "uninstall", "--crontab", tab_arg],
        ),
        "uninstall",
    );
    assert_eq!(
        std::fs::read_to_string(&tab)
            .expect("the crontab")
            .trim_end(),
        mine.trim_end()
    );
}
