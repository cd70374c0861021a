//! `lifeboat status`: the health verdict for monitoring, as text (the default), JSON (a stable,
//! versioned document described by `docs/status.schema.json`) or Prometheus text exposition
//! for node_exporter's textfile collector. `--output FILE` replaces FILE atomically and
//! world-readable, because the collector runs as another user and must never read half a file.
//! A stale backup runs the `[notify].on_stale` hooks. The exit code is the verdict's.

use crate::app::apps::AppEntry;
use crate::app::config::Config;
use crate::app::exit;
use crate::app::fleet;
use crate::app::notify;
use crate::jobs::status::{self, Health, StatusReport};
use crate::report;
use crate::storage::paths::LocalPaths;
use chrono::{DateTime, Utc};
use clap::ValueEnum;
use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, ValueEnum)]
pub enum StatusFormat {
    #[default]
    Text,
    Json,
    Prometheus,
}

pub fn render(report: &StatusReport, format: StatusFormat, now: DateTime<Utc>) -> String {
    match format {
        StatusFormat::Text => report::status::text(report),
        StatusFormat::Json => report::status::json(report, now),
        StatusFormat::Prometheus => report::metrics::prometheus(report, now),
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
    if let Err(code) = emit(output.as_deref(), &text) {
        return code;
    }
    if is_stale(&report) {
        notify::send(&config.notify.on_stale, &stale_event(&report)).await;
    }
    report.health.exit_code()
}

/// To `--output FILE` (atomically) or stdout; a file that cannot be written is exit 1.
fn emit(output: Option<&Path>, text: &str) -> Result<(), i32> {
    match output {
        Some(path) => write_atomically(path, text).map_err(|e| {
            eprintln!(
                "lifeboat: cannot write the status to {}: {e} (check the directory exists and is writable)",
                path.display()
            );
            exit::FAILED
        }),
        None => {
            print!("{text}");
            Ok(())
        }
    }
}

fn is_stale(report: &StatusReport) -> bool {
    report
        .alerts
        .iter()
        .any(|h| matches!(h, Health::Stale | Health::NoBackup))
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

/// `status --all`: every application's row (a broken one is a row with its error), in one
/// document, and the worst exit code (`jobs::exit_code::FLEET_SEVERITY`).
pub async fn run_all(apps: Vec<AppEntry>, format: StatusFormat, output: Option<PathBuf>) -> i32 {
    let rows = fleet::evaluate(&apps).await;
    let statuses: Vec<_> = rows.iter().map(|(row, _)| row.as_status()).collect();
    let now = Utc::now();
    let text = match format {
        StatusFormat::Text => report::status::fleet_text(&statuses),
        StatusFormat::Json => report::status::fleet_json(&statuses, now),
        StatusFormat::Prometheus => report::metrics::prometheus_fleet(&statuses, now),
    };
    if let Err(code) = emit(output.as_deref(), &text) {
        return code;
    }
    for (row, config) in &rows {
        if let (Ok(report), Some(config)) = (&row.outcome, config) {
            if is_stale(report) {
                notify::send(&config.notify.on_stale, &stale_event(report)).await;
            }
        }
    }
    report::status::fleet_exit_code(&statuses)
}
