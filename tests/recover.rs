//! `lifeboat recover` on a bare host: an empty HOME and XDG directories, no configuration,
//! only the AWS environment, a passphrase file and the repository on a real S3 server
//! (s3s-fs). Real PostgreSQL (the source cluster, and the new cluster the recovery makes),
//! real gpg.
//!
//! - The recovery gives an identical sorted data dump, byte-identical file trees (modes,
//!   links), the secrets with their modes, a configuration `config check` accepts, and a
//!   `lifeboat backup` with it lands in the same repository. The record (kind `recovery`) is
//!   in the repository and `drill report` renders it.
//! - Refusals name the cause and change nothing: a wrong key, a set that fails verification
//!   (the next verified set is named), a pg_restore older than the dump, a target that holds
//!   data without the typed confirmation; a forged set whose manifest names system locations
//!   (`/etc/cron.d`, `/root/.ssh`) as its roots, unless `--files-prefix` puts them under a
//!   directory.
//! - Kill sweep: SIGKILL at step boundaries and in the middle of pg_restore, then `recover
//!   --resume` reaches the same end state; a cut-off pg_restore into a target holding data
//!   is not redone without the confirmation.
#![allow(clippy::unwrap_used)]

mod common;

use common::app::{AppOptions, RepoKind, TestApp, APP_DB, S3_PREFIX};
use common::{describe, text};
use lifeboat::storage::local_cluster::LocalCluster;
use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// A bare host: its own HOME and XDG directories, nothing in them.
struct Bare {
    dir: tempfile::TempDir,
    env: Vec<(String, String)>,
}

impl Bare {
    fn new(app: &TestApp) -> Bare {
        let dir = tempfile::Builder::new()
            .prefix("lb-bare-")
            .tempdir_in("/tmp")
            .unwrap();
        // The new cluster's server runs as `postgres` when we are root: it must reach its dir.
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o755)).unwrap();
        let mut env: Vec<(String, String)> = vec![
            ("HOME".into(), dir.path().join("home").display().to_string()),
            (
                "XDG_CONFIG_HOME".into(),
                dir.path().join("xdg/config").display().to_string(),
            ),
            (
                "XDG_DATA_HOME".into(),
                dir.path().join("xdg/data").display().to_string(),
            ),
            (
                "XDG_STATE_HOME".into(),
                dir.path().join("xdg/state").display().to_string(),
            ),
            (
                "XDG_CACHE_HOME".into(),
                dir.path().join("xdg/cache").display().to_string(),
            ),
            ("NO_COLOR".into(), "1".into()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
        ];
        env.extend(app.s3().expect("an S3 repository").env());
        for d in ["home", "xdg/config", "xdg/data", "xdg/state", "xdg/cache"] {
            std::fs::create_dir_all(dir.path().join(d)).unwrap();
        }
        Bare { dir, env }
    }

    fn path(&self, rel: &str) -> PathBuf {
        self.dir.path().join(rel)
    }

    fn config_path(&self) -> PathBuf {
        self.path("xdg/config/lifeboat/config.toml")
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
        cmd.args(args).env_clear().stdin(Stdio::null());
        cmd.env("PATH", std::env::var("PATH").unwrap_or_default());
        cmd.envs(self.env.iter().cloned());
        cmd
    }

    fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run lifeboat")
    }
}

/// The recover flags for `app`'s repositories and key, into a new cluster at `datadir`.
fn recover_args(app: &TestApp, datadir: &Path, prefix: &Path) -> Vec<String> {
    let s3 = app.s3().unwrap();
    vec![
        "recover".into(),
        "--repository".into(),
        format!("s3://{}/{S3_PREFIX}", s3.bucket()),
        "--endpoint".into(),
        s3.endpoint(),
        "--secrets-repository".into(),
        format!("file://{}", app.secrets_repo_dir().display()),
        "--passphrase-file".into(),
        app.passphrase_file()
            .map(|p| p.display().to_string())
            .unwrap_or_default(),
        "--new-cluster".into(),
        datadir.display().to_string(),
        "--files-prefix".into(),
        prefix.display().to_string(),
        "--freshness-query".into(),
        "SELECT max(created_at) FROM audit_log".into(),
        "--jobs".into(),
        "2".into(),
    ]
}

fn strs(v: &[String]) -> Vec<&str> {
    v.iter().map(String::as_str).collect()
}

/// Stops a cluster the recovery left running, whatever the test did.
struct StopCluster(PathBuf, PathBuf);

impl Drop for StopCluster {
    fn drop(&mut self) {
        let c = LocalCluster {
            data_dir: self.0.clone(),
            bin_dir: self.1.clone(),
        };
        if c.running() {
            let _ = c.stop();
        }
    }
}

/// Every entry under `root`: kind, mode, and the content or link text.
fn tree(root: &Path) -> BTreeMap<String, (String, u32, Vec<u8>)> {
    let mut out = BTreeMap::new();
    let mut stack = vec![root.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for e in std::fs::read_dir(&dir).unwrap() {
            let p = e.unwrap().path();
            let m = std::fs::symlink_metadata(&p).unwrap();
            let rel = p.strip_prefix(root).unwrap().display().to_string();
            let mode = m.mode() & 0o7777;
            if m.file_type().is_symlink() {
                let link = std::fs::read_link(&p).unwrap();
                out.insert(
                    rel,
                    ("link".into(), 0, link.display().to_string().into_bytes()),
                );
            } else if m.is_dir() {
                out.insert(rel, ("dir".into(), mode, Vec::new()));
                stack.push(p);
            } else {
                out.insert(rel, ("file".into(), mode, std::fs::read(&p).unwrap()));
            }
        }
    }
    out
}

fn under(prefix: &Path, original: &Path) -> PathBuf {
    prefix.join(original.strip_prefix("/").unwrap())
}

fn s3_app() -> TestApp {
    let app = TestApp::new(AppOptions {
        repo: RepoKind::S3,
        ..Default::default()
    });
    // Something for pg_restore to chew on, so a kill can land in its middle.
    app.psql("CREATE TABLE filler AS SELECT g AS id, md5(g::text) AS v FROM generate_series(1, 200000) g; CREATE INDEX ON filler (v);");
    app
}

fn assert_recovered(app: &TestApp, datadir: &Path, prefix: &Path) {
    let cluster = LocalCluster {
        data_dir: datadir.to_path_buf(),
        bin_dir: app.cluster().bin_dir().to_path_buf(),
    };
    assert_recovered_at(app, &cluster.url(APP_DB), prefix);
}

/// The recovered database at `url`, and the files and secrets under `prefix`, are the source's.
fn assert_recovered_at(app: &TestApp, url: &str, prefix: &Path) {
    assert_eq!(
        app.data_dump_of(url),
        app.data_dump(),
        "the recovered database differs from the source"
    );
    assert_eq!(
        tree(&under(prefix, &app.files_dir())),
        tree(&app.files_dir()),
        "the recovered file tree differs"
    );
    for secret in [app.cert_path(), app.env_file_path()] {
        let got = under(prefix, &secret);
        assert_eq!(
            std::fs::read(&got).unwrap(),
            std::fs::read(&secret).unwrap()
        );
        assert_eq!(
            std::fs::metadata(&got).unwrap().mode() & 0o7777,
            std::fs::metadata(&secret).unwrap().mode() & 0o7777,
            "{} mode",
            got.display()
        );
    }
}

#[test]
fn a_bare_host_recovers_into_a_new_cluster_and_backs_up_into_the_same_repository() {
    let app = s3_app();
    let set = app.backup();
    let bare = Bare::new(&app);
    let datadir = bare.path("pgdata");
    let prefix = bare.path("restored");
    let _stop = StopCluster(datadir.clone(), app.cluster().bin_dir().to_path_buf());
    let mut args = recover_args(&app, &datadir, &prefix);
    args.push("--yes".into());
    let out = bare.run(&strs(&args));
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains(&set) && stderr.contains("old host"),
        "{stderr}"
    );
    assert_recovered(&app, &datadir, &prefix);

    // The configuration: nothing secret, accepted, and backing up into the same repository.
    let config = std::fs::read_to_string(bare.config_path()).expect("config written");
    let pass = std::fs::read_to_string(app.passphrase_file().unwrap()).unwrap();
    assert!(!config.contains(pass.trim()), "{config}");
    assert!(!config.contains(common::S3_SECRET_KEY), "{config}");
    let check = bare.run(&["config", "check"]);
    assert_eq!(check.status.code(), Some(0), "{}", describe(&check));
    // `keys check` prints the command that recovers this repository, and nothing secret.
    let keys = bare.run(&["keys", "check"]);
    let kit = text(&keys.stdout);
    let s3 = app.s3().unwrap();
    assert!(
        kit.contains(&format!(
            "lifeboat recover --repository s3://{}/{S3_PREFIX} --endpoint {}",
            s3.bucket(),
            s3.endpoint()
        )) && kit.contains("--passphrase-file"),
        "{}",
        describe(&keys)
    );
    assert!(!kit.contains(pass.trim()) && !kit.contains(common::S3_SECRET_KEY));
    let backup = bare.run(&["backup", "--json"]);
    assert_eq!(backup.status.code(), Some(0), "{}", describe(&backup));
    let doc: serde_json::Value = serde_json::from_slice(&backup.stdout).unwrap();
    let new_set = doc["set_id"].as_str().unwrap().to_string();
    let keys = app.s3().unwrap().list_keys();
    assert!(
        keys.iter()
            .any(|k| k == &format!("{S3_PREFIX}/sets/{new_set}/manifest.json")),
        "{keys:?}"
    );
    // The record, beside the drills, of kind recovery; drill report renders it.
    let recorded: Vec<&String> = keys
        .iter()
        .filter(|k| k.starts_with(&format!("{S3_PREFIX}/drills/")))
        .collect();
    assert_eq!(recorded.len(), 1, "{keys:?}");
    let record: serde_json::Value = serde_json::from_slice(
        &std::fs::read(app.s3().unwrap().root_dir().join(recorded[0])).unwrap(),
    )
    .unwrap();
    assert_eq!(record["kind"], "recovery", "{record:#}");
    assert!(record["rto_seconds"].as_f64().unwrap() > 0.0);
    assert!(record["rpo_data_seconds"].as_f64().is_some(), "{record:#}");
    assert_eq!(record["phases"].as_array().unwrap().len(), 10, "{record:#}");
    let report = bare.run(&["drill", "report", "latest"]);
    assert_eq!(report.status.code(), Some(0), "{}", describe(&report));
    assert!(text(&report.stdout).contains(record["drill_id"].as_str().unwrap()));
    // `drill list` names it a recovery, in its kind column and its JSON.
    let list = bare.run(&["drill", "list"]);
    let row = text(&list.stdout)
        .lines()
        .find(|l| l.contains(record["drill_id"].as_str().unwrap()))
        .map(str::to_string)
        .unwrap_or_else(|| panic!("{}", describe(&list)));
    assert!(row.contains("recovery"), "{row}");
    let list = bare.run(&["drill", "list", "--json"]);
    let listed: serde_json::Value = serde_json::from_slice(&list.stdout).unwrap();
    assert_eq!(listed[0]["label"], "recovery", "{listed:#}");
    assert_eq!(listed[0]["kind"], "recovery", "{listed:#}");

    // A second recovery refuses to overwrite that configuration, changing nothing.
    let again = bare.run(&strs(&args));
    assert_ne!(again.status.code(), Some(0));
    assert!(
        text(&again.stderr).contains("refusing to overwrite"),
        "{}",
        describe(&again)
    );
}

#[test]
fn refusals_name_the_cause_and_change_nothing() {
    let app = s3_app();
    let older = app.backup();
    let newest = app.backup();
    let bare = Bare::new(&app);
    let datadir = bare.path("pgdata");
    let prefix = bare.path("restored");
    let _stop = StopCluster(datadir.clone(), app.cluster().bin_dir().to_path_buf());
    let untouched = |out: &Output| {
        assert!(!datadir.exists(), "a cluster was made: {}", describe(out));
        assert!(!prefix.exists(), "files were written: {}", describe(out));
        assert!(!bare.config_path().exists(), "a config was written");
    };

    // A wrong key.
    let wrong = bare.path("wrong-pass");
    std::fs::write(&wrong, "not the passphrase\n").unwrap();
    std::fs::set_permissions(&wrong, std::fs::Permissions::from_mode(0o600)).unwrap();
    let mut args = recover_args(&app, &datadir, &prefix);
    let i = args.iter().position(|a| a == "--passphrase-file").unwrap();
    args[i + 1] = wrong.display().to_string();
    args.push("--yes".into());
    let out = bare.run(&strs(&args));
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("key cannot decrypt"),
        "{}",
        describe(&out)
    );
    untouched(&out);

    // A pg_restore older than the dump.
    let fake = bare.path("fake-bin");
    std::fs::create_dir_all(&fake).unwrap();
    std::fs::write(
        fake.join("pg_restore"),
        "#!/bin/sh\necho 'pg_restore (PostgreSQL) 9.6.24'\n",
    )
    .unwrap();
    std::fs::set_permissions(
        fake.join("pg_restore"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    let mut args = recover_args(&app, &datadir, &prefix);
    args.extend([
        "--pg-bin-dir".into(),
        fake.display().to_string(),
        "--yes".into(),
    ]);
    let out = bare.run(&strs(&args));
    assert_ne!(out.status.code(), Some(0));
    assert!(
        text(&out.stderr).contains("is older than"),
        "{}",
        describe(&out)
    );
    untouched(&out);

    // A set that fails verification: the next verified set is named.
    let object = app
        .s3()
        .unwrap()
        .root_dir()
        .join(format!("{S3_PREFIX}/sets/{newest}/db.dump.zst.gpg"));
    let mut bytes = std::fs::read(&object).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::write(&object, bytes).unwrap();
    let mut args = recover_args(&app, &datadir, &prefix);
    args.extend(["--set".into(), newest.clone(), "--yes".into()]);
    let out = bare.run(&strs(&args));
    assert_eq!(out.status.code(), Some(3), "{}", describe(&out));
    let said = text(&out.stderr);
    assert!(
        said.contains(&newest) && said.contains(&format!("--set {older}")),
        "{said}"
    );
    untouched(&out);

    // A target that holds data, without the typed confirmation: the source database itself.
    let before = app.data_dump();
    let mut args = recover_args(&app, &datadir, &prefix);
    let i = args.iter().position(|a| a == "--new-cluster").unwrap();
    args[i] = "--target".into();
    args[i + 1] = app.url();
    args.extend(["--set".into(), older, "--yes".into()]);
    let out = bare.run(&strs(&args));
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    assert!(
        text(&out.stderr).contains("tables") && text(&out.stderr).contains("--replace-target app"),
        "{}",
        describe(&out)
    );
    assert_eq!(app.data_dump(), before);
    assert!(!prefix.exists() && !bare.config_path().exists());
}

/// A forged set (a real one copied under a newer id, its manifest claiming other roots, as
/// whoever can write the bucket can do: the manifest is hashed by nothing) cannot make a bare
/// host's recovery write into system locations at their own paths; under --files-prefix it
/// may, since everything lands under that directory.
#[test]
fn a_forged_set_naming_system_locations_is_refused_unless_under_a_prefix() {
    let app = s3_app();
    let set = app.backup();
    let bare = Bare::new(&app);
    let datadir = bare.path("pgdata");
    let prefix = bare.path("restored");
    let _stop = StopCluster(datadir.clone(), app.cluster().bin_dir().to_path_buf());
    let time = set.split('-').next().unwrap().to_string();
    let cases: [(&str, &[&str], &[&str], &str); 3] = [
        ("c001", &["/etc/cron.d"], &["/srv/app/.env"], "/etc/cron.d"),
        (
            "c002",
            &["/srv/app/uploads"],
            &["/root/.ssh/authorized_keys"],
            "/root",
        ),
        (
            "c003",
            &["/home/deploy"],
            &["/srv/app/.env"],
            "home directory",
        ),
    ];
    for (suffix, files, secrets, says) in cases {
        let id = format!("{time}-{suffix}");
        common::forge::copy_set(&app, &set, &id);
        common::forge::set_manifest_roots(&app, &id, files, Some(secrets));
        let mut args = without(recover_args(&app, &datadir, &prefix), "--files-prefix");
        args.extend(["--set".into(), id.clone(), "--yes".into()]);
        let out = bare.run(&strs(&args));
        assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
        let err = text(&out.stderr);
        assert!(
            err.contains(says) && err.contains("--files-prefix") && err.contains("nothing"),
            "{}",
            describe(&out)
        );
        assert!(!datadir.exists(), "a cluster was made: {}", describe(&out));
        assert!(!bare.config_path().exists(), "a config was written");
        assert!(try_runbook(&bare).is_none(), "a runbook was started");

        // Under a prefix the same set plans: its roots land beneath the directory.
        let mut args = recover_args(&app, &datadir, &prefix);
        args.extend(["--set".into(), id.clone(), "--dry-run".into()]);
        let out = bare.run(&strs(&args));
        assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
        // The plan goes to stderr, as every progress line does.
        let plan = text(&out.stderr);
        let first = prefix.join(files[0].trim_start_matches('/'));
        assert!(
            plan.contains(&first.display().to_string()),
            "{}",
            describe(&out)
        );
        assert!(!prefix.exists() && !datadir.exists(), "a dry run wrote");
    }
}

/// The runbook of the newest recovery on `bare`.
fn runbook(bare: &Bare) -> serde_json::Value {
    try_runbook(bare).expect("a runbook")
}

fn try_runbook(bare: &Bare) -> Option<serde_json::Value> {
    let dir = bare.path("xdg/state/lifeboat/recoveries");
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .ok()?
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    files.sort();
    serde_json::from_slice(&std::fs::read(files.last()?).ok()?).ok()
}

fn attempts(book: &serde_json::Value, step: &str) -> u64 {
    book["steps"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == step)
        .unwrap()["attempts"]
        .as_u64()
        .unwrap()
}

#[test]
fn a_recovery_killed_at_each_step_boundary_resumes_to_the_same_end() {
    let app = s3_app();
    app.backup();
    let points = [
        "fetch:end",
        "decrypt:end",
        "create target:end",
        "pg_restore:start",
        "pg_restore:end",
        "files:end",
        "secrets:start",
        "health check:start",
        "write config:start",
    ];
    for (n, point) in points.iter().enumerate() {
        let bare = Bare::new(&app);
        let datadir = bare.path("pgdata");
        let prefix = bare.path("restored");
        let _stop = StopCluster(datadir.clone(), app.cluster().bin_dir().to_path_buf());
        let mut args = recover_args(&app, &datadir, &prefix);
        args.push("--yes".into());
        let out = bare
            .command(&strs(&args))
            .env("LIFEBOAT_TEST_KILL_AT", point)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            None,
            "{point}: not killed: {}",
            describe(&out)
        );
        let before = runbook(&bare);
        let resumed = bare.run(&["recover", "--resume"]);
        assert_eq!(
            resumed.status.code(),
            Some(0),
            "{point}: {}",
            describe(&resumed)
        );
        assert_recovered(&app, &datadir, &prefix);
        assert!(bare.config_path().exists(), "{point}");
        let after = runbook(&bare);
        // No step that finished before the kill ran again (decrypt's product never outlives
        // a process, so it is redone, and said, when pg_restore still needs it).
        for s in before["steps"].as_array().unwrap() {
            let name = s["name"].as_str().unwrap();
            if s["state"] == "done" && name != "decrypt" {
                assert_eq!(attempts(&after, name), 1, "{point}: {name} was redone");
            }
        }
        if n == 0 {
            assert!(
                text(&resumed.stderr).contains("still match"),
                "{}",
                describe(&resumed)
            );
        }
    }
}

#[test]
fn a_pg_restore_cut_off_into_a_target_holding_data_is_not_redone_without_the_confirmation() {
    let app = s3_app();
    app.backup();
    let bare = Bare::new(&app);
    let datadir = bare.path("pgdata");
    let prefix = bare.path("restored");
    let _stop = StopCluster(datadir.clone(), app.cluster().bin_dir().to_path_buf());
    let mut args = recover_args(&app, &datadir, &prefix);
    args.push("--yes".into());
    let mut child = bare
        .command(&strs(&args))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let cluster = LocalCluster {
        data_dir: datadir.clone(),
        bin_dir: app.cluster().bin_dir().to_path_buf(),
    };
    let deadline = Instant::now() + Duration::from_secs(120);
    // Kill once pg_restore is running and the target holds some tables.
    loop {
        assert!(Instant::now() < deadline, "pg_restore never seen running");
        assert!(
            child.try_wait().unwrap().is_none(),
            "the recovery finished before the kill"
        );
        let running = try_runbook(&bare).is_some_and(|b| b["steps"][3]["state"] == "running");
        if running {
            let out = Command::new(app.pg_program("psql"))
                .args([
                    "-XAtc",
                    "SELECT count(*) FROM pg_tables WHERE schemaname = 'public'",
                ])
                .arg(cluster.url(APP_DB))
                .output()
                .unwrap();
            if text(&out.stdout).trim().parse::<u32>().unwrap_or(0) > 0 {
                break;
            }
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(runbook(&bare)["steps"][3]["state"], "running");

    let refused = bare.run(&["recover", "--resume"]);
    assert_eq!(refused.status.code(), Some(2), "{}", describe(&refused));
    assert!(
        text(&refused.stderr).contains("holds")
            && text(&refused.stderr).contains("--replace-target app"),
        "{}",
        describe(&refused)
    );
    assert!(
        !prefix.exists(),
        "the files step ran without the confirmation"
    );

    let resumed = bare.run(&["recover", "--resume", "--replace-target", APP_DB]);
    assert_eq!(resumed.status.code(), Some(0), "{}", describe(&resumed));
    assert_recovered(&app, &datadir, &prefix);
    assert_eq!(attempts(&runbook(&bare), "pg_restore"), 2);
}

#[path = "console_fixtures/mod.rs"]
mod console_fixtures;

/// The dashboard names the last recovery on a line of its own, and the last drill stays the
/// last drill (a recovery's record is not taken for one). Rendered at 80x24.
#[test]
fn the_dashboard_shows_the_last_recovery_beside_the_last_drill() {
    use lifeboat::jobs::drill_record::RecordKind;
    use ratatui::backend::TestBackend;
    let mut state = console_fixtures::state();
    let mut r = console_fixtures::drill_record();
    r.kind = RecordKind::Recovery;
    r.drill_id = "20261204T050000Z-beef".into();
    r.rto_seconds = Some(754.0);
    let snapshot = state.snapshot.as_mut().unwrap();
    snapshot.drills.insert(0, r);
    state.width = 80;
    state.height = 24;
    let keymap = lifeboat::app::keymap::Keymap::default_keymap();
    let mut terminal = ratatui::Terminal::new(TestBackend::new(80, 24)).unwrap();
    terminal
        .draw(|f| lifeboat::ui::render(f, &state, &keymap))
        .unwrap();
    let buffer = terminal.backend().buffer().clone();
    let shown: String = (0..buffer.area.height)
        .map(|y| {
            (0..buffer.area.width)
                .map(|x| buffer[(x, y)].symbol().to_string())
                .collect::<String>()
                + "\n"
        })
        .collect();
    let line = shown
        .lines()
        .find(|l| l.contains("Recovered"))
        .unwrap_or_else(|| panic!("no recovery line:\n{shown}"));
    assert!(
        line.contains("20261204T050000Z-beef") && line.contains("RTO"),
        "{line}"
    );
    assert!(shown.contains("Last drill"), "{shown}");
}

/// `drill list` tells drills, recoveries and rehearsals apart: a kind column in the text, a
/// `label` in the JSON (where `kind` stays the stored one, `recovery` for a rehearsal).
#[test]
fn drill_list_names_each_records_kind() {
    use lifeboat::jobs::drill_record::RecordKind;
    let drill = console_fixtures::drill_record();
    let mut recovery = drill.clone();
    recovery.kind = RecordKind::Recovery;
    recovery.drill_id = "20261204T050000Z-beef".into();
    let mut rehearsal = recovery.clone();
    rehearsal.rehearsal = true;
    rehearsal.drill_id = "20261204T060000Z-cafe".into();
    let records = vec![rehearsal, recovery, drill.clone()];
    let listed = lifeboat::report::drill::list_text(&records);
    let header = listed.lines().next().unwrap();
    assert!(header.contains("kind"), "{listed}");
    let kind_of = |id: &str| {
        let row = listed.lines().find(|l| l.contains(id)).unwrap();
        row.split_whitespace().nth(1).unwrap().to_string()
    };
    assert_eq!(kind_of("20261204T060000Z-cafe"), "rehearsal", "{listed}");
    assert_eq!(kind_of("20261204T050000Z-beef"), "recovery", "{listed}");
    assert_eq!(kind_of(&drill.drill_id), "drill", "{listed}");
    let json = lifeboat::report::drill::list_json(&records);
    let labels: Vec<&str> = json
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["label"].as_str().unwrap())
        .collect();
    assert_eq!(labels, ["rehearsal", "recovery", "drill"]);
    assert_eq!(json[0]["kind"], "recovery");
    assert_eq!(json[0]["rehearsal"], true);
}

#[test]
fn a_rehearsal_runs_the_whole_runbook_into_a_throwaway_target_and_tears_it_down() {
    let app = s3_app();
    app.backup();
    let bare = Bare::new(&app);
    let s3 = app.s3().unwrap();
    let out = bare.run(&[
        "recover",
        "--rehearse",
        "--repository",
        &format!("s3://{}/{S3_PREFIX}", s3.bucket()),
        "--endpoint",
        &s3.endpoint(),
        "--secrets-repository",
        &format!("file://{}", app.secrets_repo_dir().display()),
        "--passphrase-file",
        app.passphrase_file().unwrap().to_str().unwrap(),
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let book = &doc["runbook"];
    assert_eq!(book["record"]["kind"], "recovery", "{doc:#}");
    assert_eq!(book["record"]["rehearsal"], true, "{doc:#}");
    let rto = book["record"]["rto_seconds"].as_f64().unwrap();
    eprintln!("rehearsal RTO {rto:.1} s; steps:");
    for s in book["steps"].as_array().unwrap() {
        eprintln!("  {} {} s", s["name"], s["seconds"]);
    }
    let data = PathBuf::from(book["spec"]["target"]["new_cluster"].as_str().unwrap());
    let _stop = StopCluster(data.clone(), app.cluster().bin_dir().to_path_buf());
    assert!(
        !data.parent().unwrap().exists(),
        "the rehearsal's cluster and files were left in {}",
        data.display()
    );
    assert!(
        !bare.config_path().exists(),
        "a rehearsal wrote a configuration"
    );
    let keys = s3.list_keys();
    assert!(
        keys.iter()
            .any(|k| k.starts_with(&format!("{S3_PREFIX}/drills/"))),
        "{keys:?}"
    );
}

#[test]
fn a_recovery_killed_in_the_middle_of_the_files_step_resumes_to_the_same_end() {
    let app = s3_app();
    app.add_bulk_files(64, 1 << 20);
    app.backup();
    let bare = Bare::new(&app);
    let datadir = bare.path("pgdata");
    let prefix = bare.path("restored");
    let _stop = StopCluster(datadir.clone(), app.cluster().bin_dir().to_path_buf());
    let mut args = recover_args(&app, &datadir, &prefix);
    args.push("--yes".into());
    let mut child = bare
        .command(&strs(&args))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let bulk = under(&prefix, &app.files_dir()).join("bulk");
    let deadline = Instant::now() + Duration::from_secs(120);
    // Kill once the files step runs and has written part of the tree.
    loop {
        assert!(
            Instant::now() < deadline,
            "the files step never seen running"
        );
        assert!(
            child.try_wait().unwrap().is_none(),
            "the recovery finished before the kill"
        );
        let running = try_runbook(&bare).is_some_and(|b| b["steps"][4]["state"] == "running");
        if running && std::fs::read_dir(&bulk).is_ok_and(|d| d.count() > 0) {
            break;
        }
        std::thread::sleep(Duration::from_millis(2));
    }
    child.kill().unwrap();
    child.wait().unwrap();
    let before = runbook(&bare);
    assert_eq!(before["steps"][4]["state"], "running", "{before:#}");
    let resumed = bare.run(&["recover", "--resume"]);
    assert_eq!(resumed.status.code(), Some(0), "{}", describe(&resumed));
    assert_recovered(&app, &datadir, &prefix);
    let after = runbook(&bare);
    assert_eq!(attempts(&after, "files"), 2);
    for done in ["fetch", "create target", "pg_restore"] {
        assert_eq!(attempts(&after, done), 1, "{done} was redone");
    }
}

/// `args` without `flag` and its value.
fn without(mut args: Vec<String>, flag: &str) -> Vec<String> {
    if let Some(i) = args.iter().position(|a| a == flag) {
        args.drain(i..i + 2);
    }
    args
}

/// `args` aimed at the database `url` instead of a new cluster.
fn into_url(args: Vec<String>, url: &str) -> Vec<String> {
    let mut args = without(args, "--new-cluster");
    args.extend(["--target".into(), url.to_string(), "--create-roles".into()]);
    args
}

/// The plan's view of the target (`--dry-run --json`), changing nothing.
fn planned_target_state(bare: &Bare, args: &[String]) -> String {
    let mut args = args.to_vec();
    args.extend(["--dry-run".into(), "--json".into()]);
    let out = bare.run(&strs(&args));
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let doc: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    doc["plan"]["target_state"]["state"]
        .as_str()
        .unwrap_or_else(|| panic!("no target state: {doc:#}"))
        .to_string()
}

/// "Empty" is a database that exists and holds no user tables (ordinary or partitioned,
/// outside the system schemas): the plan accepts it as it is, with no confirmation, and one
/// that does not exist yet is created. Both on a second server (a real cluster of its own, as
/// a new host's PostgreSQL would be), reached by `--target URL`.
#[test]
fn a_bare_host_recovers_into_an_existing_empty_database_and_creates_an_absent_one() {
    let app = s3_app();
    let set = app.backup();
    let server = lifeboat::storage::pg_cluster::EphemeralCluster::start(
        lifeboat::storage::pg_cluster::ClusterOptions::default(),
    )
    .unwrap_or_else(|e| panic!("start a second PostgreSQL cluster: {e}"));
    server.create_database(APP_DB).unwrap();

    // An existing database with no tables.
    let bare = Bare::new(&app);
    let prefix = bare.path("restored");
    let url = server.url(APP_DB);
    let args = into_url(recover_args(&app, &bare.path("unused"), &prefix), &url);
    assert_eq!(planned_target_state(&bare, &args), "empty");
    assert!(!prefix.exists() && !bare.config_path().exists());
    let mut run = args.clone();
    run.push("--yes".into());
    let out = bare.run(&strs(&run));
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(text(&out.stderr).contains(&set), "{}", describe(&out));
    assert_recovered_at(&app, &url, &prefix);
    let config = std::fs::read_to_string(bare.config_path()).expect("config written");
    assert!(
        config.contains("/app?") && config.contains(&format!("port={}", server.port())),
        "the configuration names the target: {config}"
    );
    let check = bare.run(&["config", "check"]);
    assert_eq!(check.status.code(), Some(0), "{}", describe(&check));
    assert_eq!(attempts(&runbook(&bare), "pg_restore"), 1);

    // A database that does not exist yet, on the same server: created, then restored into.
    let absent = "app_recovered";
    let bare = Bare::new(&app);
    let prefix = bare.path("restored");
    let url = server.url(absent);
    let args = into_url(recover_args(&app, &bare.path("unused"), &prefix), &url);
    assert_eq!(planned_target_state(&bare, &args), "absent");
    assert_eq!(
        server
            .psql(
                "postgres",
                &format!("SELECT count(*) FROM pg_database WHERE datname = '{absent}'")
            )
            .unwrap(),
        "0",
        "the dry run created the database"
    );
    let mut run = args;
    run.push("--yes".into());
    let out = bare.run(&strs(&run));
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert!(
        text(&out.stdout).contains(&format!("database {absent} created"))
            || text(&out.stderr).contains(&format!("database {absent} created")),
        "{}",
        describe(&out)
    );
    assert_recovered_at(&app, &url, &prefix);
    let check = bare.run(&["config", "check"]);
    assert_eq!(check.status.code(), Some(0), "{}", describe(&check));
}

/// Recipients mode on a bare host whose only key is the secret key imported into a fresh
/// GNUPGHOME (no passphrase file anywhere); and a keyring holding only the public key (an
/// encrypt-only host) is refused, naming the missing key, changing nothing.
#[test]
fn a_bare_host_recovers_with_only_the_secret_key_in_a_fresh_keyring() {
    let app = TestApp::new(AppOptions {
        repo: RepoKind::S3,
        encryption: common::app::Enc::Recipients,
        ..Default::default()
    });
    app.backup();
    let home = app.gpg_home().unwrap();
    let fingerprint = home.fingerprint().to_string();
    let export = |what: &str| {
        let out = home
            .gpg()
            .args([
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
                "--armor",
                what,
            ])
            .arg(&fingerprint)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        out.stdout
    };
    let keyring_with = |key: Vec<u8>| {
        let fresh = common::GpgHome::empty();
        let file = fresh.path().join("key.asc");
        std::fs::write(&file, key).unwrap();
        let out = fresh
            .gpg()
            .args([
                "--pinentry-mode",
                "loopback",
                "--passphrase",
                "",
                "--import",
            ])
            .arg(&file)
            .output()
            .unwrap();
        assert!(out.status.success(), "{}", describe(&out));
        std::fs::remove_file(&file).unwrap();
        fresh
    };

    // Only the public key: refused before anything is made.
    let public_only = keyring_with(export("--export"));
    let mut bare = Bare::new(&app);
    bare.env
        .push(("GNUPGHOME".into(), public_only.path().display().to_string()));
    let datadir = bare.path("pgdata");
    let prefix = bare.path("restored");
    let _stop = StopCluster(datadir.clone(), app.cluster().bin_dir().to_path_buf());
    let mut args = without(recover_args(&app, &datadir, &prefix), "--passphrase-file");
    args.push("--yes".into());
    let out = bare.run(&strs(&args));
    assert_eq!(out.status.code(), Some(2), "{}", describe(&out));
    let said = text(&out.stderr);
    assert!(
        said.contains("no secret key") && said.contains(&fingerprint),
        "{}",
        describe(&out)
    );
    assert!(!datadir.exists() && !prefix.exists() && !bare.config_path().exists());
    assert!(try_runbook(&bare).is_none(), "a runbook was started");

    // The secret key alone, imported into a fresh keyring.
    let secret = keyring_with(export("--export-secret-keys"));
    let mut bare = Bare::new(&app);
    bare.env
        .push(("GNUPGHOME".into(), secret.path().display().to_string()));
    let datadir = bare.path("pgdata");
    let prefix = bare.path("restored");
    let _stop2 = StopCluster(datadir.clone(), app.cluster().bin_dir().to_path_buf());
    let mut args = without(recover_args(&app, &datadir, &prefix), "--passphrase-file");
    args.push("--yes".into());
    let out = bare.run(&strs(&args));
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    assert_recovered(&app, &datadir, &prefix);
    let config = std::fs::read_to_string(bare.config_path()).expect("config written");
    assert!(
        config.contains("recipients") && config.contains(&fingerprint),
        "{config}"
    );
    assert!(!config.contains("passphrase_file"), "{config}");
    let check = bare.run(&["config", "check"]);
    assert_eq!(check.status.code(), Some(0), "{}", describe(&check));
}

/// `lifeboat --app NAME recover` rebuilds that one application: its file is
/// `$XDG_CONFIG_HOME/lifeboat/apps/NAME.toml` (not the single-application config.toml) and its
/// runbook is in its own state directory, unless `--config-out` says where; a name that is no
/// application name is refused before anything is made.
#[test]
fn with_app_the_recovery_writes_that_applications_file() {
    let app = s3_app();
    app.backup();
    let bare = Bare::new(&app);
    let datadir = bare.path("pgdata");
    let prefix = bare.path("restored");
    let _stop = StopCluster(datadir.clone(), app.cluster().bin_dir().to_path_buf());
    let with_app = |name: &str, extra: &[&str]| {
        let mut args: Vec<String> = vec!["--app".into(), name.into()];
        args.extend(recover_args(&app, &datadir, &prefix));
        args.extend(extra.iter().map(|s| s.to_string()));
        bare.run(&strs(&args))
    };

    let bad = with_app("Shop!", &["--yes"]);
    assert_eq!(bad.status.code(), Some(2), "{}", describe(&bad));
    assert!(
        text(&bad.stderr).contains("not an application name"),
        "{}",
        describe(&bad)
    );
    assert!(!datadir.exists() && !prefix.exists());

    let elsewhere = bare.path("elsewhere.toml");
    let planned = with_app(
        "shop",
        &[
            "--config-out",
            elsewhere.to_str().unwrap(),
            "--dry-run",
            "--json",
        ],
    );
    assert_eq!(planned.status.code(), Some(0), "{}", describe(&planned));
    let doc: serde_json::Value = serde_json::from_slice(&planned.stdout).unwrap();
    assert_eq!(
        doc["plan"]["config_out"],
        elsewhere.display().to_string(),
        "{doc:#}"
    );

    let out = with_app("shop", &["--yes"]);
    assert_eq!(out.status.code(), Some(0), "{}", describe(&out));
    let file = bare.path("xdg/config/lifeboat/apps/shop.toml");
    assert!(file.exists(), "{}", describe(&out));
    assert!(
        !bare.config_path().exists(),
        "the single-application file was written"
    );
    assert!(!elsewhere.exists());
    assert!(
        bare.path("xdg/state/lifeboat/apps/shop/recoveries")
            .read_dir()
            .is_ok_and(|mut d| d.next().is_some()),
        "the runbook is not in the application's state directory"
    );
    assert_recovered(&app, &datadir, &prefix);
    let check = bare.run(&["--app", "shop", "config", "check"]);
    assert_eq!(check.status.code(), Some(0), "{}", describe(&check));
}
