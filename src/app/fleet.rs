//! Every application's status at once, for `status --all` and the console's fleet screen.
//! Applications are evaluated in parallel, a few at a time (each status reads a repository,
//! a journal and maybe a database), and the rows keep the configured order. An application
//! whose configuration is broken, or whose status cannot be taken, is a row with its error and
//! exit code: one broken file never hides the others.

use super::apps::AppEntry;
use super::config::Config;
use super::exit;
use crate::jobs::status::{self, StatusReport};
use crate::report::status::AppStatus;
use futures::StreamExt;
use std::path::PathBuf;

/// Applications evaluated at the same time.
pub const PARALLEL_APPS: usize = 4;

/// Why an application has no report: its exit code (2 for its configuration, 1 when the
/// status run failed) and the message naming the file and the fix.
#[derive(Debug, Clone, PartialEq)]
pub struct RowError {
    pub exit_code: i32,
    pub message: String,
}

/// One application's row.
#[derive(Debug, Clone)]
pub struct FleetRow {
    pub app: String,
    pub config_path: PathBuf,
    pub outcome: Result<StatusReport, RowError>,
    /// `[drill].rto_target` and `rpo_target`, to judge the last drill against.
    pub rto_target_seconds: Option<f64>,
    pub rpo_target_seconds: Option<f64>,
}

impl FleetRow {
    pub fn exit_code(&self) -> i32 {
        match &self.outcome {
            Ok(r) => r.health.exit_code(),
            Err(e) => e.exit_code,
        }
    }

    /// The row as `report` renders it.
    pub fn as_status(&self) -> (&str, AppStatus<'_>) {
        let status = match &self.outcome {
            Ok(r) => AppStatus::Report(r),
            Err(e) => AppStatus::Error {
                exit_code: e.exit_code,
                error: &e.message,
            },
        };
        (self.app.as_str(), status)
    }
}

/// One application, loaded and evaluated; its configuration too, for `[notify]`.
pub async fn evaluate_one(app: &AppEntry) -> (FleetRow, Option<Config>) {
    let mut row = FleetRow {
        app: app.name.clone(),
        config_path: app.config_path.clone(),
        outcome: Err(RowError {
            exit_code: exit::CONFIG,
            message: String::new(),
        }),
        rto_target_seconds: None,
        rpo_target_seconds: None,
    };
    let config = match app.load() {
        Ok(c) => c,
        Err(e) => {
            row.outcome = Err(RowError {
                exit_code: exit::CONFIG,
                message: e.to_string(),
            });
            return (row, None);
        }
    };
    if let Ok((rto, rpo, _)) = config.drill_targets() {
        row.rto_target_seconds = Some(rto.as_secs_f64());
        row.rpo_target_seconds = Some(rpo.as_secs_f64());
    }
    row.outcome = match config.status_spec(&app.paths) {
        Err(e) => Err(RowError {
            exit_code: exit::CONFIG,
            message: e.to_string(),
        }),
        Ok(spec) => status::run(&spec).await.map_err(|e| RowError {
            exit_code: exit::FAILED,
            message: e.to_string(),
        }),
    };
    (row, Some(config))
}

/// Every application, [`PARALLEL_APPS`] at a time, in the order given.
pub async fn evaluate(apps: &[AppEntry]) -> Vec<(FleetRow, Option<Config>)> {
    futures::stream::iter(apps.iter().map(evaluate_one))
        .buffered(PARALLEL_APPS)
        .collect()
        .await
}
