//! `lifeboat retention simulate`: the policy (configured, or from `--policy FILE`) projected
//! forward over the repository's sets, day by day, as text or `--json`.

use super::common::print_json;
use crate::app::config::Config;
use crate::app::exit;
use crate::jobs::prune::{self, PruneSpec};
use crate::jobs::prune_plan;
use crate::jobs::retention_sim::{self, SimSpec};
use crate::report;
use crate::storage::manifest::Initiator;
use crate::storage::paths::LocalPaths;
use crate::storage::retention::{Policy, RetentionConfig};
use chrono::Utc;
use clap::Subcommand;
use serde_json::json;
use std::path::{Path, PathBuf};

#[derive(Debug, Subcommand)]
pub enum RetentionAction {
    /// Project the policy forward: sets kept each day, then what differs from today.
    Simulate {
        /// How many days to project.
        #[arg(long, value_name = "N", value_parser = clap::value_parser!(u32).range(1..=i64::from(retention_sim::MAX_DAYS)))]
        days: u32,
        /// Backups stop after D days (default: they continue on their observed schedule).
        #[arg(long, value_name = "D")]
        stop_after: Option<u32>,
        /// Use the [retention] table of this TOML file instead of the configuration's.
        #[arg(long, value_name = "FILE")]
        policy: Option<PathBuf>,
        /// Print one JSON document on stdout instead of the text summary.
        #[arg(long)]
        json: bool,
    },
}

/// The `[retention]` table of a TOML file (a whole config, or just the table).
fn policy_from_file(path: &Path) -> Result<Policy, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read the policy file {}: {e}", path.display()))?;
    let bad = |e: &dyn std::fmt::Display| format!("policy file {}: {e}", path.display());
    let table: toml::Table = toml::from_str(&text).map_err(|e| bad(&e))?;
    let retention = table.get("retention").cloned().ok_or_else(|| {
        bad(&"has no [retention] table; write one like the [retention] of `lifeboat config example`")
    })?;
    let config: RetentionConfig = retention.try_into().map_err(|e| bad(&e))?;
    Policy::from_config(&config).map_err(|e| bad(&e))
}

pub async fn run(config: &Config, paths: &LocalPaths, action: RetentionAction) -> i32 {
    let RetentionAction::Simulate {
        days,
        stop_after,
        policy,
        json,
    } = action;
    let chosen = match &policy {
        Some(file) => policy_from_file(file),
        None => config.retention_policy().map_err(|e| e.to_string()),
    };
    let repository = config.data_repository().map_err(|e| e.to_string());
    let (policy, repository) = match (chosen, repository) {
        (Ok(p), Ok(r)) => (p, r),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("lifeboat: retention simulate refused: {e}");
            return exit::CONFIG;
        }
    };
    // Only the data repository is read: the projection needs the sets and their floors.
    let spec = PruneSpec {
        repository,
        secrets_repository: None,
        policy: policy.clone(),
        paths: paths.clone(),
        spool_dir: config.backup.spool_dir.clone(),
        initiator: Initiator::Cli,
    };
    let today = match prune::candidates(&spec).await {
        Ok(c) => c,
        Err(e) => {
            eprintln!("lifeboat: {e}");
            return exit::FAILED;
        }
    };
    let now = Utc::now();
    let projection = retention_sim::project(&policy, &today, now, SimSpec { days, stop_after });
    if json {
        print_json(&json!({
            "policy": prune_plan::describe(&policy),
            "from": now,
            "projection": projection,
        }));
    } else {
        print!(
            "{}",
            report::prune::simulation_text(&policy, now, &projection)
        );
    }
    exit::OK
}
