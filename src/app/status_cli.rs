//! `lifeboat status`: the health verdict for monitoring, as text (the default), JSON (a stable,
//! versioned document described by `docs/status.schema.json`) or Prometheus text exposition
//! for node_exporter's textfile collector. `--output FILE` replaces FILE atomically and
//! world-readable, because the collector runs as another user and must never read half a file.
//! A stale backup runs the `[notify].on_stale` hooks. The exit code is the verdict's.

use super::config::Config;
use super::exit;
use super::{metrics, notify};
use crate::jobs::status::{self, Health, StatusReport};
use crate::storage::paths::LocalPaths;
use crate::ui::{format, report};
use chrono::{DateTime, Utc};
use clap::ValueEnum;
use serde::Serialize;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

/// Bumped only when a field is removed or changes meaning; new fields do not bump it.
pub const SCHEMA_VERSION: u32 = 1;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum StatusFormat {
    #[default]
    Text,
    Json,
    Prometheus,
}

/// The JSON document: the report plus what a monitor needs to read it on its own.
#[derive(Debug, Serialize)]
pub struct StatusDocument<'a> {
    pub schema_version: u32,
    pub generated_at: DateTime<Utc>,
    pub exit_code: i32,
    #[serde(flatten)]
    pub report: &'a StatusReport,
}

pub fn render(report: &StatusReport, format: StatusFormat, now: DateTime<Utc>) -> String {
    match format {
        StatusFormat::Text => {
            let mut text = report::status_text(report);
            if let Some(line) = drill_line(report) {
                text.push_str(&line);
            }
            text.push_str(&format!(
                "health       {} (exit {})\n",
                report.health.as_str(),
                report.health.exit_code()
            ));
            text
        }
        StatusFormat::Json => {
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
        StatusFormat::Prometheus => metrics::prometheus(report, now),
    }
}

/// The last drill and the next due date (the shared status text predates drills).
fn drill_line(report: &StatusReport) -> Option<String> {
    let due = report
        .drill_due
        .map(|d| format!("; next due {}", d.format("%Y-%m-%d")))
        .unwrap_or_default();
    let secs = |s: Option<f64>| {
        s.map(|s| format::age_secs(s as i64))
            .unwrap_or_else(|| "-".into())
    };
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

/// Writes `text` to `path` through a temporary file in the same directory and a rename.
fn write_atomically(path: &Path, text: &str) -> std::io::Result<()> {
    let dir = path
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut tmp = tempfile::Builder::new()
        .prefix(".lifeboat-status-")
        .tempfile_in(dir)?;
    tmp.write_all(text.as_bytes())?;
    tmp.as_file().sync_all()?;
    // Metrics are not secret, and the collector reading them is another user.
    std::fs::set_permissions(tmp.path(), std::fs::Permissions::from_mode(0o644))?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

pub async fn run(
    config: &Config,
    paths: &LocalPaths,
    format: StatusFormat,
    output: Option<PathBuf>,
) -> i32 {
    let spec = match config.status_spec(paths) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("lifeboat: {e}");
            return exit::CONFIG;
        }
    };
    let report = match status::run(&spec).await {
        Ok(r) => r,
        Err(e) => {
            eprintln!("lifeboat: {e}");
            return exit::FAILED;
        }
    };
    let text = render(&report, format, Utc::now());
    match &output {
        Some(path) => {
            if let Err(e) = write_atomically(path, &text) {
                eprintln!(
                    "lifeboat: cannot write the status to {}: {e} (check the directory exists and is writable)",
                    path.display()
                );
                return exit::FAILED;
            }
        }
        None => print!("{text}"),
    }
    if report
        .alerts
        .iter()
        .any(|h| matches!(h, Health::Stale | Health::NoBackup))
    {
        notify::send(&config.notify.on_stale, &stale_event(&report)).await;
    }
    report.health.exit_code()
}

fn stale_event(report: &StatusReport) -> notify::Event {
    let mut event = notify::Event::new("stale", &report.repository);
    event.set_id = report.newest_set.as_ref().map(|n| n.set_id.clone());
    event.age_seconds = report.newest_set.as_ref().map(|n| n.age_seconds);
    event.error = report.messages.iter().find(|m| m.starts_with('✗')).cloned();
    event.health = Some(report.health.as_str().to_string());
    event.exit_code = Some(report.health.exit_code());
    event
}
