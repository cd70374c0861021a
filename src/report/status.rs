//! `lifeboat status`'s verdict as text, and the versioned JSON document monitors read
//! (`docs/status.schema.json`). The Prometheus form is `metrics`.

use super::format;
use crate::jobs::status::StatusReport;
use chrono::{DateTime, Utc};
use serde::Serialize;
use std::fmt::Write;

/// Bumped only when a field is removed or changes meaning; new fields do not bump it.
pub const SCHEMA_VERSION: u32 = 1;

/// The JSON document: the report plus what a monitor needs to read it on its own.
#[derive(Debug, Serialize)]
pub struct StatusDocument<'a> {
    pub schema_version: u32,
    pub generated_at: DateTime<Utc>,
    pub exit_code: i32,
    #[serde(flatten)]
    pub report: &'a StatusReport,
}

pub fn text(report: &StatusReport) -> String {
    let mut out = String::new();
    for m in &report.messages {
        let _ = writeln!(out, "{m}");
    }
    let _ = writeln!(
        out,
        "repository   {} ({} complete sets, {})",
        report.repository,
        report.complete_sets,
        format::bytes(report.repository_bytes)
    );
    match &report.newest_set {
        Some(n) => {
            let _ = writeln!(
                out,
                "newest set   {} ({} ago, {})",
                n.set_id,
                format::age_secs(n.age_seconds),
                format::bytes(n.stored_bytes)
            );
        }
        None => {
            let _ = writeln!(out, "newest set   none");
        }
    }
    match &report.newest_verification {
        Some(v) => {
            let _ = writeln!(
                out,
                "verified     {} {} at {} ({})",
                if v.ok { "✓" } else { "✗" },
                v.set_id,
                v.at.format("%Y-%m-%d %H:%M UTC"),
                v.level.as_str()
            );
        }
        None => {
            let _ = writeln!(out, "verified     never");
        }
    }
    if let Some(r) = &report.last_run {
        let _ = writeln!(
            out,
            "last run     {} {} ({})",
            r.status.as_str(),
            r.started_at.format("%Y-%m-%d %H:%M UTC"),
            r.initiator.as_str()
        );
    }
    if let Some(h) = &report.lock_holder {
        let _ = writeln!(out, "running      {h}");
    }
    if let Some(line) = drill_line(report) {
        out.push_str(&line);
    }
    let _ = writeln!(
        out,
        "health       {} (exit {})",
        report.health.as_str(),
        report.health.exit_code()
    );
    out
}

/// The last drill and the next due date.
fn drill_line(report: &StatusReport) -> Option<String> {
    let due = report
        .drill_due
        .map(|d| format!("; next due {}", d.format("%Y-%m-%d")))
        .unwrap_or_default();
    let secs = |s: Option<f64>| s.map(format::elapsed).unwrap_or_else(|| "-".into());
    match &report.newest_drill {
        Some(d) => Some(format!(
            "last drill   {} {} at {} (RTO {}, RPO {}){due}\n",
            if d.passed { "✓ passed" } else { "✗ FAILED" },
            d.drill_id,
            d.at.format("%Y-%m-%d %H:%M UTC"),
            secs(d.rto_seconds),
            secs(d.rpo_seconds),
        )),
        None if report.drill_due.is_some() => Some(format!("last drill   never{due}\n")),
        None => None,
    }
}

/// `status --format json`: the [`StatusDocument`], pretty-printed, ending in a newline.
pub fn json(report: &StatusReport, now: DateTime<Utc>) -> String {
    let doc = StatusDocument {
        schema_version: SCHEMA_VERSION,
        generated_at: now,
        exit_code: report.health.exit_code(),
        report,
    };
    match serde_json::to_string_pretty(&doc) {
        Ok(mut text) => {
            text.push('\n');
            text
        }
        Err(e) => format!("{{\"error\": \"cannot render JSON: {e}\"}}\n"),
    }
}

/// One application's row in `status --all`: its report, or why there is none (a broken
/// configuration is exit 2, a status run that failed exit 1).
#[derive(Debug, Clone, Copy)]
pub enum AppStatus<'a> {
    Report(&'a StatusReport),
    Error { exit_code: i32, error: &'a str },
}

impl AppStatus<'_> {
    pub fn exit_code(&self) -> i32 {
        match self {
            AppStatus::Report(r) => r.health.exit_code(),
            AppStatus::Error { exit_code, .. } => *exit_code,
        }
    }
}

/// The fleet's exit code: the worst of its applications' (`jobs::exit_code::FLEET_SEVERITY`).
pub fn fleet_exit_code(apps: &[(&str, AppStatus<'_>)]) -> i32 {
    crate::jobs::exit_code::worst(apps.iter().map(|(_, s)| s.exit_code()))
}

#[derive(Debug, Serialize)]
struct FleetDocument<'a> {
    schema_version: u32,
    generated_at: DateTime<Utc>,
    exit_code: i32,
    apps: Vec<FleetRowDocument<'a>>,
}

#[derive(Debug, Serialize)]
#[serde(untagged)]
enum FleetRowDocument<'a> {
    Report {
        app: &'a str,
        #[serde(flatten)]
        status: StatusDocument<'a>,
    },
    Error {
        app: &'a str,
        exit_code: i32,
        error: &'a str,
    },
}

/// `status --all --json`: `{ "apps": [ {"app": NAME, ...one status document...} ] }` plus the
/// fleet's own version, time and worst exit code (the `fleet` definition in the schema).
pub fn fleet_json(apps: &[(&str, AppStatus<'_>)], now: DateTime<Utc>) -> String {
    let doc = FleetDocument {
        schema_version: SCHEMA_VERSION,
        generated_at: now,
        exit_code: fleet_exit_code(apps),
        apps: apps
            .iter()
            .map(|(app, status)| match status {
                AppStatus::Report(report) => FleetRowDocument::Report {
                    app,
                    status: StatusDocument {
                        schema_version: SCHEMA_VERSION,
                        generated_at: now,
                        exit_code: report.health.exit_code(),
                        report,
                    },
                },
                AppStatus::Error { exit_code, error } => FleetRowDocument::Error {
                    app,
                    exit_code: *exit_code,
                    error,
                },
            })
            .collect(),
    };
    match serde_json::to_string_pretty(&doc) {
        Ok(mut text) => {
            text.push('\n');
            text
        }
        Err(e) => format!("{{\"error\": \"cannot render JSON: {e}\"}}\n"),
    }
}

/// `status --all`: one line per application (verdict, exit code, newest set), then the fleet's.
pub fn fleet_text(apps: &[(&str, AppStatus<'_>)]) -> String {
    let width = apps.iter().map(|(a, _)| a.len()).max().unwrap_or(0);
    let mut out = String::new();
    for (app, status) in apps {
        let detail = match status {
            AppStatus::Report(r) => match &r.newest_set {
                Some(n) => format!(
                    "{} (exit {}), newest set {} ({} ago)",
                    r.health.as_str(),
                    r.health.exit_code(),
                    n.set_id,
                    format::age_secs(n.age_seconds)
                ),
                None => format!(
                    "{} (exit {}), no set",
                    r.health.as_str(),
                    r.health.exit_code()
                ),
            },
            AppStatus::Error { exit_code, error } => format!("error (exit {exit_code}): {error}"),
        };
        let _ = writeln!(out, "{app:width$}  {detail}");
    }
    let _ = writeln!(out, "fleet  exit {}", fleet_exit_code(apps));
    out
}
