//! Several applications on one host: `--app NAME` on the commands, the refusal to guess one,
//! and `lifeboat status --all` over three real applications (one healthy, one stale, one whose
//! last drill failed), each with a real repository made by a real backup on a real
//! PostgreSQL cluster: the fleet's exit code is the worst, the JSON matches the schema's
//! `fleet` definition, every Prometheus sample carries its application, and a broken file is
//! a row with its error rather than a crash.

mod common;

use common::fleet::{Fleet, APPS};
use serde_json::Value;

const SCHEMA: &str = include_str!("../docs/status.schema.json");
const SCHEMA_ID: &str = "https://lifeboat.invalid/status.schema.json";

/// Validates a `status --all --json` document against the schema's `fleet` definition.
fn assert_fleet_schema(doc: &Value) {
    let schema: Value = serde_json::from_str(SCHEMA).expect("the schema parses");
    let registry = jsonschema::Registry::new()
        .add(SCHEMA_ID, schema)
        .expect("the schema registers")
        .prepare()
        .expect("the registry prepares");
    let validator = jsonschema::options()
        .with_registry(&registry)
        .build(&serde_json::json!({ "$ref": format!("{SCHEMA_ID}#/$defs/fleet") }))
        .expect("the fleet definition compiles");
    let errors: Vec<String> = validator
        .iter_errors(doc)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}\n{doc:#}");
}

fn json(out: &std::process::Output) -> Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON ({e}):\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn row<'a>(doc: &'a Value, app: &str) -> &'a Value {
    doc["apps"]
        .as_array()
        .expect("apps")
        .iter()
        .find(|r| r["app"] == app)
        .unwrap_or_else(|| panic!("no row for {app}: {doc:#}"))
}

#[test]
fn status_all_over_three_real_applications() {
    let fleet = Fleet::build();

    // Several applications and no --app: a command acting on one refuses, naming them all.
    for args in [&["list"][..], &["status"][..], &["status", "--json"][..]] {
        let out = fleet.lifeboat(args);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{args:?}: {stderr}");
        assert!(
            stderr.contains("faildrill, healthy, stale") && stderr.contains("--app"),
            "{args:?}: {stderr}"
        );
        assert!(out.stdout.is_empty(), "{args:?} printed something");
    }
    // --app picks one; an unknown or malformed name is refused with the list or the rule.
    let out = fleet.lifeboat(&["--app", "healthy", "list", "--json"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(json(&out)["sets"].as_array().map(Vec::len), Some(1));
    let out = fleet.lifeboat(&["--app", "nope", "list"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("no application `nope`"));
    let out = fleet.lifeboat(&["--app", "../x", "list"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not an application name"));
    // Each application has its own journal: healthy's verify is not faildrill's.
    assert!(fleet
        .root()
        .join("data/apps/healthy/journal.jsonl")
        .is_file());
    assert!(fleet.root().join("data/apps/stale/journal.jsonl").is_file());
    assert!(fleet
        .root()
        .join("state/apps/healthy/logs/lifeboat.log")
        .is_file());
    assert!(!fleet.root().join("data/journal.jsonl").exists());

    // The fleet: stale (10) is worse than a failed drill (14), which is worse than ok.
    let out = fleet.lifeboat(&["status", "--all", "--json"]);
    let doc = json(&out);
    assert_fleet_schema(&doc);
    assert_eq!(out.status.code(), Some(10), "{doc:#}");
    assert_eq!(doc["exit_code"], 10);
    let names: Vec<&str> = doc["apps"]
        .as_array()
        .expect("apps")
        .iter()
        .map(|r| r["app"].as_str().expect("app"))
        .collect();
    assert_eq!(names, APPS);
    assert_eq!(row(&doc, "healthy")["health"], "ok", "{doc:#}");
    assert_eq!(row(&doc, "healthy")["exit_code"], 0);
    assert_eq!(row(&doc, "stale")["health"], "stale");
    assert_eq!(row(&doc, "faildrill")["health"], "drill_failing");
    assert_eq!(row(&doc, "faildrill")["exit_code"], 14);
    assert_eq!(row(&doc, "faildrill")["newest_drill"]["passed"], false);

    // Prometheus: one HELP per family, an app label on every sample.
    let out = fleet.lifeboat(&["status", "--all", "--format", "prometheus"]);
    assert_eq!(out.status.code(), Some(10));
    let body = String::from_utf8_lossy(&out.stdout).into_owned();
    let lines = body.lines().map(|l| Ok(l.to_string()));
    let scrape = prometheus_parse::Scrape::parse(lines).expect("the exposition parses");
    assert!(!scrape.samples.is_empty());
    for s in &scrape.samples {
        assert!(
            APPS.contains(&s.labels.get("app").unwrap_or("")),
            "{} has no app label:\n{body}",
            s.metric
        );
    }
    assert_eq!(body.matches("# HELP lifeboat_health ").count(), 1, "{body}");
    for (app, code) in [("healthy", 0), ("stale", 10), ("faildrill", 14)] {
        assert!(
            scrape.samples.iter().any(|s| s.metric == "lifeboat_status_exit_code"
                && s.labels.get("app") == Some(app)
                && matches!(s.value, prometheus_parse::Value::Gauge(v) if v == f64::from(code))),
            "{app} exit {code}:\n{body}"
        );
    }

    // A broken file is a row with its error (exit 2, which outranks stale), never a crash.
    std::fs::write(fleet.app_path("broken"), "[source\n").expect("write broken.toml");
    let out = fleet.lifeboat(&["status", "--all", "--json"]);
    let doc = json(&out);
    assert_fleet_schema(&doc);
    assert_eq!(out.status.code(), Some(2), "{doc:#}");
    let broken = row(&doc, "broken");
    assert_eq!(broken["exit_code"], 2);
    assert!(
        broken["error"]
            .as_str()
            .is_some_and(|e| e.contains("apps/broken.toml")),
        "{doc:#}"
    );
    assert_eq!(row(&doc, "healthy")["health"], "ok");
    let text = fleet.lifeboat(&["status", "--all"]);
    assert_eq!(text.status.code(), Some(2));
    let text = String::from_utf8_lossy(&text.stdout).into_owned();
    assert!(
        text.contains("broken") && text.contains("fleet  exit 2"),
        "{text}"
    );

    // --config still names one file, and a file in apps/ keeps that application's journal.
    let out = fleet.lifeboat(&[
        "--config",
        &fleet.app_path("stale").display().to_string(),
        "status",
        "--json",
    ]);
    assert_eq!(out.status.code(), Some(10));
    assert_eq!(json(&out)["last_run"]["status"], "completed");
}
