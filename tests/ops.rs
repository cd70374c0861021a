//! Headless operations end to end, with real parts: schedules written into a unit directory
//! and a crontab file (and checked by `systemd-analyze` where it exists), every `status` exit
//! code produced by its real condition (a stale set, a failed run, a stopped S3 server, a
//! spooled set, an overdue or failing drill, a stale verification, a PostgreSQL whose
//! `archive_command` fails), the Prometheus and JSON outputs checked by a real parser and by
//! docs/status.schema.json, the notify hooks, and `keys check` against real gpg keyrings.

mod common;

use common::text;

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::app::{AppOptions, Enc, RepoKind, TestApp};
use common::GpgHome;
use lifeboat::storage::pg_cluster::ClusterOptions;
use serde_json::Value;

/// Exit codes of `status`, from the one table (tests/readme.rs pins it to the README's).
use lifeboat::jobs::exit_code::{
    DRILL_FAILING, DRILL_OVERDUE, LAST_RUN_FAILED, OFFSITE_LAG, OK, STALE, UNREACHABLE,
    VERIFICATION_STALE, WAL_ARCHIVING_FAILING as WAL_FAILING,
};

const SCHEMA: &str = include_str!("../docs/status.schema.json");

// --- helpers ------------------------------------------------------------------------------------

fn exit_of(out: &Output) -> i32 {
    out.status.code().unwrap_or(-1)
}

fn show(out: &Output) -> String {
    format!(
        "exit {}\nstdout:\n{}\nstderr:\n{}",
        exit_of(out),
        text(&out.stdout),
        text(&out.stderr)
    )
}

fn run_ok(app: &TestApp, args: &[&str]) -> Output {
    let out = app.lifeboat(args);
    assert_eq!(exit_of(&out), 0, "lifeboat {args:?}: {}", show(&out));
    out
}

/// `lifeboat` with a configuration file of its own and no app around it.
fn lifeboat(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_lifeboat"));
    cmd.arg("--config").arg(config).args(args);
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
    cmd.envs(env.iter().copied()).env("NO_COLOR", "1");
    cmd.output().expect("run lifeboat")
}

/// Validates a `status --json` document against docs/status.schema.json.
fn assert_schema(doc: &Value) {
    let schema: Value = serde_json::from_str(SCHEMA).expect("docs/status.schema.json parses");
    let validator = jsonschema::validator_for(&schema).expect("the schema is a valid schema");
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{} at {}", e, e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
}

/// Parses Prometheus text exposition, insisting on HELP and TYPE for every family.
fn parse_metrics(body: &str) -> prometheus_parse::Scrape {
    let lines = body.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("the exposition parses");
    for sample in &scrape.samples {
        let family = sample.metric.as_str();
        assert!(
            scrape.docs.contains_key(family),
            "{family} has no HELP:\n{body}"
        );
        assert!(
            body.contains(&format!("# TYPE {family} ")),
            "{family} has no TYPE:\n{body}"
        );
        assert!(
            sample.labels.get("repository").is_some(),
            "{family} has no repository label"
        );
    }
    scrape
}

fn metric(scrape: &prometheus_parse::Scrape, name: &str, label: Option<(&str, &str)>) -> f64 {
    let sample = scrape
        .samples
        .iter()
        .find(|s| s.metric == name && label.is_none_or(|(k, v)| s.labels.get(k) == Some(v)))
        .unwrap_or_else(|| panic!("no sample {name} {label:?}"));
    match sample.value {
        prometheus_parse::Value::Gauge(v)
        | prometheus_parse::Value::Counter(v)
        | prometheus_parse::Value::Untyped(v) => v,
        _ => panic!("{name} is not a plain value"),
    }
}

/// Runs `status` in all three formats; checks they agree on the exit code and that the JSON
/// and the metrics are well formed. Returns the exit code, the JSON and the metrics.
fn status(app: &TestApp) -> (i32, Value, prometheus_parse::Scrape) {
    let text_out = app.lifeboat(&["status"]);
    let (json_code, doc) = app.lifeboat_json(&["status"]);
    let prom_out = app.lifeboat(&["status", "--format", "prometheus"]);
    let body = text(&prom_out.stdout);
    assert_eq!(
        exit_of(&text_out),
        json_code,
        "text and JSON agree: {}",
        show(&text_out)
    );
    assert_eq!(exit_of(&prom_out), json_code, "prometheus and JSON agree");
    assert_eq!(doc["exit_code"], json_code, "{doc:#}");
    assert_schema(&doc);
    let scrape = parse_metrics(&body);
    assert_eq!(
        metric(&scrape, "lifeboat_status_exit_code", None),
        f64::from(json_code)
    );
    let health = doc["health"].as_str().expect("health");
    assert_eq!(
        metric(&scrape, "lifeboat_health", Some(("state", health))),
        1.0
    );
    assert!(
        text(&text_out.stdout).contains(&format!("(exit {json_code})")),
        "{}",
        show(&text_out)
    );
    (json_code, doc, scrape)
}

fn alerts(doc: &Value) -> Vec<String> {
    doc["alerts"]
        .as_array()
        .expect("alerts")
        .iter()
        .filter_map(|a| a.as_str().map(str::to_string))
        .collect()
}

fn wait_for(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + limit;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// The app's configuration with `extra` TOML appended.
fn configure(app: &TestApp, extra: &str) {
    app.write_raw_config(&format!("{}\n{extra}\n", app.config_text()));
}

fn read_event(path: &Path) -> Value {
    let body = std::fs::read_to_string(path)
        .unwrap_or_else(|e| panic!("the hook wrote no event to {}: {e}", path.display()));
    serde_json::from_str(&body).unwrap_or_else(|e| panic!("event is not JSON ({e}): {body}"))
}

// --- 1. schedules -------------------------------------------------------------------------------

fn minimal_config(dir: &Path) -> PathBuf {
    let config = dir.join("config.toml");
    std::fs::write(
        &config,
        format!(
            "[source]\ndatabase_url = \"postgresql://app@127.0.0.1:1/app\"\n[repository]\nurl = \"file://{}/repo\"\n[encryption]\nmode = \"passphrase\"\npassphrase_file = \"/etc/lifeboat-test/pass\"\n",
            dir.display()
        ),
    )
    .expect("write config");
    config
}

fn systemd_analyze_verify(files: &[PathBuf]) {
    let available = Command::new("sh")
        .args(["-c", "command -v systemd-analyze"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !available {
        eprintln!("note: systemd-analyze is not installed; the unit files were not verified by systemd (apt-get install systemd)");
        return;
    }
    let out = Command::new("systemd-analyze")
        .arg("verify")
        .arg("--man=no")
        .args(files)
        .output()
        .expect("run systemd-analyze");
    let stderr = text(&out.stderr);
    // Only complaints about our own files count; the host's other units are not ours to judge.
    let ours: Vec<&str> = stderr.lines().filter(|l| l.contains("lifeboat-")).collect();
    assert!(
        out.status.success() && ours.is_empty(),
        "systemd-analyze verify: {}\n{stderr}",
        out.status
    );
}

/// `systemd-analyze calendar`'s next elapse for `expr` in UTC, e.g. `2026-11-23 02:30:00 UTC`.
fn systemd_next(expr: &str) -> Option<String> {
    let out = Command::new("systemd-analyze")
        .args(["calendar", expr])
        .env("TZ", "UTC")
        .output()
        .ok()?;
    let text = text(&out.stdout);
    let line = text
        .lines()
        .find(|l| l.trim_start().starts_with("Next elapse:"))?;
    // "Next elapse: Mon 2026-11-23 02:30:00 UTC"
    let words: Vec<&str> = line.split_whitespace().collect();
    Some(words.get(3..)?.join(" "))
}

#[test]
fn schedules_install_as_systemd_units_and_a_crontab_block_and_uninstall() {
    let dir = tempfile::tempdir().expect("tempdir");
    let config = minimal_config(dir.path());
    let units = dir.path().join("units");
    let data_dir = dir.path().join("data");
    let data = data_dir.to_str().expect("utf-8");
    let env = [("LIFEBOAT_DATA_DIR", data), ("TZ", "UTC")];
    let binary = std::fs::canonicalize(env!("CARGO_BIN_EXE_lifeboat")).expect("binary path");
    let config_abs = std::fs::canonicalize(&config).expect("config path");
    let unit_dir = units.to_str().expect("utf-8");
    let install = [
        "schedule",
        "install",
        "--systemd",
        "--unit-dir",
        unit_dir,
        "--backup",
        "hourly",
        "--verify",
        "30 2 * * 1-5",
        "--drill",
        "monthly",
        "--prune",
    ];

    // A dry run prints the units and writes nothing.
    let mut dry = install.to_vec();
    dry.push("--dry-run");
    let out = lifeboat(&config, &dry, &env);
    assert_eq!(exit_of(&out), 0, "{}", show(&out));
    assert!(text(&out.stdout).contains("[Timer]"), "{}", show(&out));
    assert!(!units.exists(), "a dry run wrote {}", units.display());

    let out = lifeboat(&config, &install, &env);
    assert_eq!(exit_of(&out), 0, "{}", show(&out));
    assert!(
        text(&out.stdout).contains("systemctl link"),
        "says how to activate units outside systemd's directory: {}",
        show(&out)
    );
    let read = |name: &str| {
        std::fs::read_to_string(units.join(name)).unwrap_or_else(|e| panic!("{name}: {e}"))
    };
    let service = read("lifeboat-backup.service");
    let exec = format!(
        "ExecStart={} --config {} backup --initiator schedule --prune",
        binary.display(),
        config_abs.display()
    );
    for needle in [
        exec.as_str(),
        "Type=oneshot",
        "Nice=10",
        "IOSchedulingClass=idle",
        &format!("Environment=\"LIFEBOAT_DATA_DIR={data}\""),
    ] {
        assert!(service.contains(needle), "{needle} missing:\n{service}");
    }
    let timer = read("lifeboat-backup.timer");
    for needle in [
        "OnCalendar=hourly",
        "Persistent=true",
        "RandomizedDelaySec=6min",
        "WantedBy=timers.target",
    ] {
        assert!(timer.contains(needle), "{needle} missing:\n{timer}");
    }
    let verify_timer = read("lifeboat-verify.timer");
    assert!(
        verify_timer.contains("OnCalendar=Mon..Fri *-*-* 02:30:00"),
        "{verify_timer}"
    );
    assert!(
        read("lifeboat-verify.service").contains("verify --latest --decrypt --initiator schedule"),
        "passphrase mode verifies by decrypting"
    );
    assert!(read("lifeboat-drill.service").contains(" drill --initiator schedule"));
    assert!(read("lifeboat-drill.timer").contains("OnCalendar=monthly"));
    let files: Vec<PathBuf> = ["backup", "verify", "drill"]
        .iter()
        .flat_map(|j| {
            [
                units.join(format!("lifeboat-{j}.service")),
                units.join(format!("lifeboat-{j}.timer")),
            ]
        })
        .collect();
    systemd_analyze_verify(&files);

    // Installing again changes nothing.
    let before: Vec<String> = files
        .iter()
        .map(|f| read(f.file_name().unwrap().to_str().unwrap()))
        .collect();
    let out = lifeboat(&config, &install, &env);
    assert_eq!(exit_of(&out), 0, "{}", show(&out));
    let after: Vec<String> = files
        .iter()
        .map(|f| read(f.file_name().unwrap().to_str().unwrap()))
        .collect();
    assert_eq!(before, after, "reinstalling rewrote the units differently");

    // Status computes the next fire times; they match systemd's own reading of OnCalendar.
    let out = lifeboat(
        &config,
        &[
            "schedule",
            "status",
            "--systemd",
            "--unit-dir",
            unit_dir,
            "--json",
        ],
        &env,
    );
    assert_eq!(exit_of(&out), 0, "{}", show(&out));
    let entries: Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    let verify = entries
        .as_array()
        .expect("a list")
        .iter()
        .find(|e| e["job"] == "verify")
        .unwrap_or_else(|| panic!("no verify entry: {entries:#}"));
    assert_eq!(verify["next_from"], "computed", "{verify:#}");
    assert_eq!(verify["on_calendar"], "Mon..Fri *-*-* 02:30:00");
    if let Some(expected) = systemd_next("Mon..Fri *-*-* 02:30:00") {
        // Both in UTC; systemd names the zone, lifeboat gives the offset.
        let next = verify["next"].as_str().expect("next");
        assert_eq!(next.get(..19), expected.get(..19), "{verify:#}");
    }

    // A narrower install removes the jobs it no longer names.
    let out = lifeboat(
        &config,
        &[
            "schedule",
            "install",
            "--unit-dir",
            unit_dir,
            "--backup",
            "daily",
        ],
        &env,
    );
    assert_eq!(exit_of(&out), 0, "{}", show(&out));
    assert!(read("lifeboat-backup.timer").contains("OnCalendar=daily"));
    assert!(!units.join("lifeboat-verify.timer").exists());
    assert!(!units.join("lifeboat-drill.service").exists());

    // What systemd cannot say is refused, saying why; cron takes it.
    let out = lifeboat(
        &config,
        &[
            "schedule",
            "install",
            "--unit-dir",
            unit_dir,
            "--backup",
            "0 3 1 * 1",
        ],
        &env,
    );
    assert_eq!(exit_of(&out), 2, "{}", show(&out));
    assert!(
        text(&out.stderr).contains("OR the day of week"),
        "{}",
        show(&out)
    );

    let out = lifeboat(
        &config,
        &["schedule", "uninstall", "--unit-dir", unit_dir],
        &env,
    );
    assert_eq!(exit_of(&out), 0, "{}", show(&out));
    assert!(
        std::fs::read_dir(&units)
            .expect("unit dir")
            .next()
            .is_none(),
        "uninstall left units behind"
    );

    // The crontab block: other lines stay, reinstalling is idempotent, uninstall removes it.
    let tab = dir.path().join("crontab");
    let mine = "MAILTO=ops@example.com\n0 1 * * * /usr/local/bin/other-job\n";
    std::fs::write(&tab, mine).expect("write crontab");
    let tab_arg = tab.to_str().expect("utf-8");
    let cron_install = [
        "schedule",
        "install",
        "--cron",
        "--crontab",
        tab_arg,
        "--backup",
        "0 3 1 * 1",
        "--verify",
        "daily",
    ];
    let out = lifeboat(&config, &cron_install, &env);
    assert_eq!(exit_of(&out), 0, "{}", show(&out));
    let first = std::fs::read_to_string(&tab).expect("crontab");
    assert!(first.starts_with(mine), "{first}");
    let block: Vec<&str> = first
        .lines()
        .skip_while(|l| !l.starts_with("# BEGIN lifeboat"))
        .collect();
    assert_eq!(block.last(), Some(&"# END lifeboat"), "{first}");
    let backup_line = format!("0 3 1 * 1 LIFEBOAT_DATA_DIR={data} nice -n 10 ");
    assert!(first.contains(&backup_line), "{first}");
    assert!(
        first.contains(&format!(
            "{} --config {} backup --initiator schedule >/dev/null",
            binary.display(),
            config_abs.display()
        )),
        "{first}"
    );
    assert!(first.contains("0 0 * * * "), "daily as cron: {first}");
    let out = lifeboat(&config, &cron_install, &env);
    assert_eq!(exit_of(&out), 0, "{}", show(&out));
    assert_eq!(std::fs::read_to_string(&tab).expect("crontab"), first);
    let out = lifeboat(
        &config,
        &[
            "schedule",
            "status",
            "--cron",
            "--crontab",
            tab_arg,
            "--json",
        ],
        &env,
    );
    let entries: Value = serde_json::from_slice(&out.stdout).expect("status JSON");
    assert_eq!(entries.as_array().map(Vec::len), Some(2), "{entries:#}");
    assert!(entries[0]["next"].is_string(), "{entries:#}");
    let out = lifeboat(
        &config,
        &["schedule", "uninstall", "--crontab", tab_arg],
        &env,
    );
    assert_eq!(exit_of(&out), 0, "{}", show(&out));
    assert_eq!(
        std::fs::read_to_string(&tab).expect("crontab").trim_end(),
        mine.trim_end()
    );
}

// --- 2. status exit codes -----------------------------------------------------------------------

#[test]
fn status_ok_then_verification_stale_drill_overdue_and_stale_each_with_its_code() {
    let app = TestApp::new(AppOptions::default());
    let hook_out = app.root().join("stale-event.json");
    let set = app.backup();
    run_ok(&app, &["verify", "--latest"]);

    let (code, doc, scrape) = status(&app);
    assert_eq!(code, OK, "{doc:#}");
    assert!(alerts(&doc).is_empty(), "{doc:#}");
    assert_eq!(doc["newest_set"]["set_id"], set.as_str());
    assert!(doc["last_verified_at"].is_string(), "{doc:#}");
    assert!(
        doc["wal"]["state"] == "off",
        "the test cluster does not archive: {doc:#}"
    );
    let components: Vec<&str> = doc["newest_set"]["components"]
        .as_array()
        .expect("components")
        .iter()
        .filter_map(|c| c["component"].as_str())
        .collect();
    assert_eq!(components, ["db", "files", "secrets"], "{doc:#}");
    // Each component records its own source size, not the job's running total.
    let secrets_source = doc["newest_set"]["components"][2]["source_bytes"]
        .as_u64()
        .expect("source_bytes");
    assert!(secrets_source < 64 * 1024, "{doc:#}");
    assert!(
        metric(
            &scrape,
            "lifeboat_component_bytes",
            Some(("component", "db"))
        ) > 0.0
    );
    assert!(metric(&scrape, "lifeboat_last_backup_size_bytes", None) > 0.0);
    assert!(metric(&scrape, "lifeboat_last_backup_duration_seconds", None) > 0.0);
    assert!(metric(&scrape, "lifeboat_verification_age_seconds", None) >= 0.0);
    let last = metric(&scrape, "lifeboat_last_success_timestamp_seconds", None);
    assert!((chrono::Utc::now().timestamp() as f64 - last).abs() < 120.0);

    // Metrics written atomically to a file the collector (another user) can read.
    let prom = app.root().join("textfile").join("lifeboat.prom");
    std::fs::create_dir(prom.parent().expect("parent")).expect("mkdir");
    let out = app.lifeboat(&[
        "status",
        "--format",
        "prometheus",
        "--output",
        prom.to_str().expect("utf-8"),
    ]);
    assert_eq!(exit_of(&out), OK, "{}", show(&out));
    assert!(out.stdout.is_empty());
    let mode = std::fs::metadata(&prom)
        .expect("metrics file")
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o644);
    parse_metrics(&std::fs::read_to_string(&prom).expect("metrics"));

    // Each threshold at one second, one at a time, after two seconds.
    std::thread::sleep(Duration::from_millis(2100));
    configure(&app, "[status]\nverify_stale_after = \"1s\"");
    let (code, doc, scrape) = status(&app);
    assert_eq!(code, VERIFICATION_STALE, "{doc:#}");
    assert_eq!(alerts(&doc), ["verification_stale"]);
    assert_eq!(
        metric(
            &scrape,
            "lifeboat_alert",
            Some(("condition", "verification_stale"))
        ),
        1.0
    );

    configure(&app, "[drill]\nevery = \"1s\"");
    let (code, doc, _) = status(&app);
    assert_eq!(code, DRILL_OVERDUE, "{doc:#}");
    assert!(doc["drill_due"].is_string(), "{doc:#}");

    configure(
        &app,
        &format!(
            "[status]\nstale_after = \"1s\"\n[drill]\nevery = \"1s\"\n[notify]\non_stale = [\"cat > '{}'\", \"exit 9\"]",
            hook_out.display()
        ),
    );
    let (code, doc, _) = status(&app);
    assert_eq!(
        code, STALE,
        "the stale backup outranks the overdue drill: {doc:#}"
    );
    assert_eq!(alerts(&doc), ["stale", "drill_overdue"], "{doc:#}");
    let event = read_event(&hook_out);
    assert_eq!(event["event"], "stale", "{event:#}");
    assert_eq!(event["set_id"], set.as_str(), "{event:#}");
    assert_eq!(event["repository"], doc["repository"], "{event:#}");
    assert!(event["error"]
        .as_str()
        .is_some_and(|e| e.contains("no successful backup")));
    assert!(event["at"].is_string());
    let out = app.lifeboat(&["status"]);
    assert!(
        text(&out.stderr).contains("notify hook `exit 9` (stale event) failed: exit 9"),
        "a failing hook is a warning: {}",
        show(&out)
    );
}

#[test]
fn a_failed_backup_runs_the_failure_hook_and_status_says_the_last_run_failed() {
    let mut app = TestApp::new(AppOptions::default());
    let hook_out = app.root().join("failure-event.json");
    app.backup();
    // Nobody listens on port 1: the backup fails at once, and so does the WAL probe.
    app.set_database_url("postgresql://postgres@127.0.0.1:1/app");
    configure(
        &app,
        &format!(
            "[notify]\non_failure = [\"exit 3\", \"cat > '{}'\"]",
            hook_out.display()
        ),
    );
    let out = app.lifeboat(&["backup"]);
    assert_eq!(
        exit_of(&out),
        1,
        "a hook never changes the outcome: {}",
        show(&out)
    );
    assert!(
        text(&out.stderr).contains("notify hook `exit 3`"),
        "{}",
        show(&out)
    );
    let event = read_event(&hook_out);
    assert_eq!(event["event"], "failure", "{event:#}");
    assert!(
        event["error"].as_str().is_some_and(|e| !e.is_empty()),
        "{event:#}"
    );
    assert_eq!(event["exit_code"], 1);
    assert!(event["repository"]
        .as_str()
        .is_some_and(|r| r.starts_with("file://")));

    let (code, doc, _) = status(&app);
    assert_eq!(code, LAST_RUN_FAILED, "{doc:#}");
    assert_eq!(
        doc["wal"]["state"], "unreachable",
        "an unreachable source is said, not an alert: {doc:#}"
    );
    assert!(doc["wal"]["error"].as_str().is_some_and(|e| !e.is_empty()));
    assert_eq!(alerts(&doc), ["last_run_failed"]);
}

#[test]
fn s3_down_is_unreachable_and_a_spooled_set_is_off_site_lag() {
    let mut app = TestApp::new(AppOptions {
        repo: RepoKind::S3,
        ..AppOptions::default()
    });
    // Fail fast while the endpoint is down.
    let short = app
        .config_text()
        .replace("timeout = \"30s\"", "timeout = \"5s\"");
    app.write_raw_config(&short);
    app.backup();
    let (code, doc, _) = status(&app);
    assert_eq!(code, OK, "{doc:#}");

    app.s3_mut().expect("s3").stop();
    let (code, doc, scrape) = status(&app);
    assert_eq!(code, UNREACHABLE, "{doc:#}");
    assert!(doc["newest_set"].is_null());
    assert_eq!(
        metric(&scrape, "lifeboat_health", Some(("state", "unreachable"))),
        1.0
    );

    let out = app.lifeboat(&["backup"]);
    assert_eq!(exit_of(&out), 5, "the set is spooled: {}", show(&out));
    app.s3_mut().expect("s3").restart();
    let (code, doc, scrape) = status(&app);
    assert_eq!(code, OFFSITE_LAG, "{doc:#}");
    assert_eq!(
        alerts(&doc),
        ["offsite_lag"],
        "the upload failure is the lag, not a failed run: {doc:#}"
    );
    assert_eq!(metric(&scrape, "lifeboat_spooled_sets", None), 1.0);

    run_ok(&app, &["backup", "--resume"]);
    let (code, doc, _) = status(&app);
    assert_eq!(code, OK, "uploaded later, all is well: {doc:#}");
}

#[test]
fn a_failing_drill_runs_the_drill_hook_and_status_says_so() {
    let app = TestApp::new(AppOptions {
        secrets: false,
        ..AppOptions::default()
    });
    let hook_out = app.root().join("drill-event.json");
    configure(
        &app,
        &format!(
            "[[drill.check]]\nname = \"impossible\"\nsql = \"SELECT 1\"\nexpect = \"2\"\n[notify]\non_drill = [\"cat > '{}'\"]",
            hook_out.display()
        ),
    );
    let set = app.backup();
    let out = app.lifeboat(&["drill", "--json", "--initiator", "schedule"]);
    assert_eq!(exit_of(&out), 1, "{}", show(&out));
    let record: Value = serde_json::from_slice(&out.stdout).expect("drill JSON");
    assert_eq!(record["initiator"], "schedule", "{record:#}");
    let event = read_event(&hook_out);
    assert_eq!(event["event"], "drill", "{event:#}");
    assert_eq!(event["passed"], false);
    assert_eq!(event["set_id"], set.as_str());
    assert!(event["drill_id"].is_string());

    let (code, doc, scrape) = status(&app);
    assert_eq!(code, DRILL_FAILING, "{doc:#}");
    assert_eq!(metric(&scrape, "lifeboat_drill_passed", None), 0.0);
    assert!(metric(&scrape, "lifeboat_drill_rpo_seconds", None) >= 0.0);
}

// --- 3. WAL archiving ---------------------------------------------------------------------------

fn archiving_app(archive_command: &str) -> TestApp {
    TestApp::with_cluster(
        AppOptions {
            secrets: false,
            ..AppOptions::default()
        },
        ClusterOptions {
            extra_settings: vec![
                ("archive_mode".into(), "on".into()),
                ("archive_command".into(), archive_command.into()),
                ("wal_level".into(), "replica".into()),
            ],
            ..Default::default()
        },
    )
}

fn switch_wal(app: &TestApp) {
    app.psql("CREATE TABLE IF NOT EXISTS wal_probe (n int); INSERT INTO wal_probe VALUES (1)");
    app.psql_db("postgres", "SELECT pg_switch_wal()");
}

#[test]
fn failing_wal_archiving_is_its_own_alert() {
    let app = archiving_app("false");
    app.backup();
    switch_wal(&app);
    wait_for(Duration::from_secs(30), "a failed archive attempt", || {
        app.psql_db("postgres", "SELECT failed_count FROM pg_stat_archiver") != "0"
    });
    let (code, doc, scrape) = status(&app);
    assert_eq!(code, WAL_FAILING, "{doc:#}");
    assert_eq!(doc["wal"]["state"], "failing", "{doc:#}");
    assert!(doc["wal"]["failed_count"].as_u64().is_some_and(|n| n > 0));
    assert!(
        doc["messages"]
            .as_array()
            .expect("messages")
            .iter()
            .any(|m| m
                .as_str()
                .is_some_and(|m| m.contains("WAL archiving is FAILING"))),
        "{doc:#}"
    );
    assert_eq!(
        metric(
            &scrape,
            "lifeboat_wal_archiving",
            Some(("state", "failing"))
        ),
        1.0
    );
    assert!(metric(&scrape, "lifeboat_wal_archive_failures_total", None) > 0.0);
    let out = app.lifeboat(&["status"]);
    assert!(
        text(&out.stdout).contains("WAL archiving is FAILING"),
        "{}",
        show(&out)
    );
}

#[test]
fn working_wal_archiving_sets_the_effective_rpo() {
    let archive = tempfile::Builder::new()
        .prefix("lifeboat-wal-")
        .tempdir()
        .expect("archive dir");
    // The server may run as the postgres user (tests as root): let it write here.
    std::fs::set_permissions(archive.path(), std::fs::Permissions::from_mode(0o777))
        .expect("chmod the archive");
    let app = archiving_app(&format!("cp %p {}/%f", archive.path().display()));
    app.backup();
    switch_wal(&app);
    wait_for(Duration::from_secs(30), "an archived segment", || {
        app.psql_db("postgres", "SELECT archived_count FROM pg_stat_archiver") != "0"
    });
    let (code, doc, scrape) = status(&app);
    assert_eq!(code, OK, "{doc:#}");
    let wal = &doc["wal"];
    assert_eq!(wal["state"], "ok", "{doc:#}");
    assert_eq!(wal["archive_mode"], "on");
    let archived: chrono::DateTime<chrono::Utc> = wal["last_archived_time"]
        .as_str()
        .expect("last_archived_time")
        .parse()
        .expect("a time");
    let age = (chrono::Utc::now() - archived).num_seconds();
    assert!((0..60).contains(&age), "archived {age}s ago: {doc:#}");
    let rpo = wal["effective_rpo_seconds"]
        .as_i64()
        .expect("effective RPO");
    assert!(rpo < 60, "{doc:#}");
    let segment = wal["last_archived_wal"].as_str().expect("segment");
    assert!(
        archive.path().join(segment).is_file(),
        "{segment} is in the archive"
    );
    assert!(metric(&scrape, "lifeboat_wal_effective_rpo_seconds", None) < 60.0);
    assert_eq!(metric(&scrape, "lifeboat_wal_source_up", None), 1.0);
}

// --- 4. key custody -----------------------------------------------------------------------------

fn keys_check(app: &TestApp) -> (i32, Value, Output) {
    let out = app.lifeboat(&["keys", "check", "--json"]);
    let value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (exit_of(&out), value, out)
}

fn failed_checks(report: &Value) -> Vec<String> {
    report["checks"]
        .as_array()
        .map(|checks| {
            checks
                .iter()
                .filter(|c| c["level"] == "failed")
                .map(|c| format!("{}: {}", c["check"], c["detail"]))
                .collect()
        })
        .unwrap_or_default()
}

#[test]
fn keys_check_catches_missing_and_expiring_keys_and_passes_a_good_keyring() {
    let app = TestApp::new(AppOptions {
        encryption: Enc::Recipients,
        secrets: false,
        ..AppOptions::default()
    });
    let gpg = app.gpg_home().expect("gpg home");

    let (code, report, out) = keys_check(&app);
    assert_eq!(code, 0, "{}", show(&out));
    assert!(failed_checks(&report).is_empty(), "{report:#}");
    assert_eq!(report["recipients"][0]["has_secret"], true);
    // The README's by-hand command, with this keyring, opened a fresh envelope.
    let by_hand = report["checks"]
        .as_array()
        .and_then(|c| c.iter().find(|c| c["check"] == "by-hand decryption"))
        .unwrap_or_else(|| panic!("no by-hand check: {report:#}"));
    assert_eq!(by_hand["level"], "ok", "{report:#}");
    assert!(
        by_hand["detail"]
            .as_str()
            .is_some_and(|d| d.contains("`gpg --batch --decrypt keys-check.gpg`")),
        "{report:#}"
    );
    let text_out = app.lifeboat(&["keys", "check"]);
    let body = text(&text_out.stdout);
    assert!(body.contains("Recovery kit"), "{body}");
    assert!(
        body.contains(gpg.fingerprint()),
        "names the key to keep: {body}"
    );
    assert!(body.contains("sha256sum -c checksums.sha256"), "{body}");
    // `lifeboat keys` alone is still the console's key table.
    let table = run_ok(&app, &["keys"]);
    assert!(text(&table.stdout).contains("| keys |"), "{}", show(&table));

    // A key that stops encrypting in ten days.
    let made = gpg
        .gpg()
        .args([
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
            "--quick-gen-key",
            "Soon <soon@lifeboat.invalid>",
            "future-default",
            "default",
            "10d",
        ])
        .output()
        .expect("gpg");
    assert!(made.status.success(), "{}", show(&made));
    let soon = app
        .config_text()
        .replace(gpg.fingerprint(), "soon@lifeboat.invalid");
    app.write_raw_config(&soon);
    let (code, report, out) = keys_check(&app);
    assert_eq!(code, 1, "{}", show(&out));
    let failed = failed_checks(&report).join("\n");
    assert!(failed.contains("under 30"), "{failed}");

    let missing = app
        .config_text()
        .replace(gpg.fingerprint(), "nobody@lifeboat.invalid");
    app.write_raw_config(&missing);
    let (code, report, out) = keys_check(&app);
    assert_eq!(code, 1, "{}", show(&out));
    assert!(
        failed_checks(&report).join("\n").contains("no such key"),
        "{report:#}"
    );

    // An encrypt-only host (public key alone): a warning, not a failure.
    app.write_config();
    let public_only = GpgHome::empty();
    let exported = gpg
        .gpg()
        .args(["--export", "--armor", gpg.fingerprint()])
        .output()
        .expect("export");
    let mut import = public_only.gpg();
    import.arg("--import").stdin(std::process::Stdio::piped());
    let mut child = import.spawn().expect("import");
    std::io::Write::write_all(child.stdin.as_mut().expect("stdin"), &exported.stdout)
        .expect("write key");
    drop(child.stdin.take());
    assert!(child.wait().expect("import").success());
    let out = app
        .command(&["keys", "check"])
        .env("GNUPGHOME", public_only.path())
        .output()
        .expect("keys check");
    assert_eq!(exit_of(&out), 0, "{}", show(&out));
    assert!(
        text(&out.stdout).contains("encrypt-only host: decryption needs the secret key elsewhere"),
        "{}",
        show(&out)
    );
}

#[test]
fn keys_check_catches_a_readable_passphrase_and_secrets_in_the_data_target() {
    let app = TestApp::new(AppOptions::default());
    let pass = app
        .passphrase_file()
        .expect("passphrase file")
        .to_path_buf();
    let (code, report, out) = keys_check(&app);
    assert_eq!(code, 0, "{}", show(&out));
    assert!(failed_checks(&report).is_empty(), "{report:#}");

    std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o644)).expect("chmod");
    let (code, report, out) = keys_check(&app);
    assert_eq!(code, 1, "{}", show(&out));
    assert!(
        failed_checks(&report).join("\n").contains("mode 0644"),
        "{report:#}"
    );
    std::fs::set_permissions(&pass, std::fs::Permissions::from_mode(0o600)).expect("chmod");

    let secrets_url = format!("file://{}", app.secrets_repo_dir().display());
    let data_url = format!("file://{}", app.repo_dir().display());
    // The same directory with a trailing slash: refused as soon as the config is read.
    let same = app
        .config_text()
        .replace(&format!("\"{secrets_url}\""), &format!("\"{data_url}/\""));
    app.write_raw_config(&same);
    let out = app.lifeboat(&["keys", "check"]);
    assert_eq!(exit_of(&out), 2, "{}", show(&out));
    assert!(text(&out.stderr).contains("same target"), "{}", show(&out));

    // Through a symlink it looks different on paper; keys check follows it.
    let link = app.root().join("repo-link");
    std::os::unix::fs::symlink(app.repo_dir(), &link).expect("symlink");
    let linked = app.config_text().replace(
        &format!("\"{secrets_url}\""),
        &format!("\"file://{}\"", link.display()),
    );
    app.write_raw_config(&linked);
    let (code, report, out) = keys_check(&app);
    assert_eq!(code, 1, "{}", show(&out));
    assert!(
        failed_checks(&report).join("\n").contains("same target"),
        "{report:#}"
    );

    app.write_config();
    let (code, _, out) = keys_check(&app);
    assert_eq!(code, 0, "back to good: {}", show(&out));
}
