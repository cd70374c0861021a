//! `lifeboat prune`, `pin`, `unpin`, `retention simulate` and `backup --prune`: config into a
//! `PruneSpec`, the prune and pin jobs run, their results printed (text from `prune_text`, or
//! one JSON document with `--json`) and an exit code from `exit`.

use super::cli::{cancel_on_ctrl_c, print_json, stderr_reporter};
use super::config::{Config, ConfigError};
use super::exit;
use super::prune_text;
use crate::jobs::backup::{self, BackupError};
use crate::jobs::inventory;
use crate::jobs::pins::{self, PinError};
use crate::jobs::prune::{self, PruneError, PruneReport, PruneSpec};
use crate::jobs::retention_sim::{self, SimSpec};
use crate::storage::manifest::Initiator;
use crate::storage::paths::LocalPaths;
use crate::storage::repository::Repository;
use crate::storage::retention::{Policy, RetentionConfig};
use crate::storage::setid::SetId;
use crate::ui::report;
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
        #[arg(long)]
        json: bool,
    },
}

pub fn prune_spec(
    config: &Config,
    paths: &LocalPaths,
    initiator: Initiator,
) -> Result<PruneSpec, ConfigError> {
    Ok(PruneSpec {
        repository: config.data_repository()?,
        secrets_repository: config.secrets_repository()?,
        policy: config.retention_policy()?,
        paths: paths.clone(),
        spool_dir: config.backup.spool_dir.clone(),
        initiator,
    })
}

fn prune_code(e: &PruneError) -> i32 {
    match e {
        PruneError::Lock(_) => exit::LOCKED,
        PruneError::Cancelled { .. } => exit::INTERRUPTED,
        _ => exit::FAILED,
    }
}

fn prune_json(result: &Result<PruneReport, PruneError>) -> serde_json::Value {
    match result {
        Ok(r) => json!({ "ok": true, "plan": r.plan, "outcome": r.outcome }),
        Err(e) => json!({ "ok": false, "error": e.to_string() }),
    }
}

fn print_prune_text(result: &Result<PruneReport, PruneError>) {
    match result {
        Ok(r) => {
            print!("{}", prune_text::plan_text(&r.plan, Utc::now()));
            match &r.outcome {
                Some(o) => print!("{}", prune_text::outcome_text(&r.plan, o)),
                None => println!("Nothing was deleted: `lifeboat prune --yes` deletes what is marked expired and the garbage."),
            }
        }
        Err(e) => eprintln!("lifeboat: prune failed: {e}"),
    }
}

pub async fn run_prune(config: &Config, paths: &LocalPaths, yes: bool, json: bool) -> i32 {
    let spec = match prune_spec(config, paths, Initiator::Cli) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("lifeboat: prune refused: {e}");
            return exit::CONFIG;
        }
    };
    let result = prune::run(&spec, yes, cancel_on_ctrl_c()).await;
    let warnings = result
        .iter()
        .flat_map(|r| r.outcome.iter().flat_map(|o| &o.warnings));
    warnings.for_each(|w| eprintln!("warning: {w}"));
    if json {
        print_json(&prune_json(&result));
        if let Err(e) = &result {
            eprintln!("lifeboat: prune failed: {e}");
        }
    } else {
        print_prune_text(&result);
    }
    result.as_ref().map_or_else(prune_code, |_| exit::OK)
}

/// The same exit codes as `lifeboat backup`.
fn backup_code(result: &Result<backup::BackupOutcome, BackupError>) -> i32 {
    match result {
        Ok(_) => exit::OK,
        Err(BackupError::Lock(_)) => exit::LOCKED,
        Err(BackupError::Spooled { .. }) => exit::SPOOLED,
        Err(BackupError::Cancelled | BackupError::TimedOut(_)) => exit::INTERRUPTED,
        Err(BackupError::Config(_)) => exit::CONFIG,
        Err(_) => exit::FAILED,
    }
}

/// `backup --prune`: a backup, then (only if it succeeded) `prune --yes`. With `--json`, one
/// document: the backup's, with the prune's under `"prune"`.
pub async fn backup_then_prune(
    config: &Config,
    paths: &LocalPaths,
    initiator: Initiator,
    json: bool,
) -> i32 {
    // Refused before the backup: a run that cannot prune must not look as if it had.
    let (prune_spec, backup_spec) = match (
        prune_spec(config, paths, initiator),
        config.backup_spec(paths, initiator),
    ) {
        (Ok(p), Ok(b)) => (p, b),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("lifeboat: {e}");
            return exit::CONFIG;
        }
    };
    let cancel = cancel_on_ctrl_c();
    let (reporter, printer) = stderr_reporter();
    let backed_up = backup::run(backup_spec, reporter, cancel.clone()).await;
    let _ = printer.await;
    let pruned = match &backed_up {
        Ok(_) => Some(prune::run(&prune_spec, true, cancel).await),
        Err(_) => None,
    };
    if json {
        let mut doc = report::backup_json(&backed_up);
        doc["prune"] = pruned.as_ref().map_or(serde_json::Value::Null, prune_json);
        print_json(&doc);
    } else {
        match &backed_up {
            Ok(outcome) => print!("{}", report::backup_text(outcome)),
            Err(e) => eprintln!("lifeboat: backup failed: {e}; nothing was pruned"),
        }
        if let Some(result) = &pruned {
            print_prune_text(result);
        }
    }
    if let Err(e) = &backed_up {
        super::notify::backup_failed(config, e, backup_code(&backed_up)).await;
    }
    match pruned {
        Some(Err(e)) => {
            if json {
                eprintln!("lifeboat: prune failed: {e}");
            }
            prune_code(&e)
        }
        _ => backup_code(&backed_up),
    }
}

fn pin_code(e: &PinError) -> i32 {
    match e {
        PinError::EmptyNote => exit::CONFIG,
        PinError::Lock(_) => exit::LOCKED,
        _ => exit::FAILED,
    }
}

/// `pin SET --note NOTE` (with a note) or `unpin SET` (without).
pub async fn run_pin(
    config: &Config,
    paths: &LocalPaths,
    set: &str,
    note: Option<&str>,
    json: bool,
) -> i32 {
    let id = match SetId::parse(set) {
        Ok(id) => id,
        Err(e) => {
            eprintln!("lifeboat: {e}");
            return exit::CONFIG;
        }
    };
    let (spec, repo) = match config.data_repository() {
        Ok(spec) => match Repository::open(&spec) {
            Ok(r) => (spec, r),
            Err(e) => {
                eprintln!("lifeboat: {e}");
                return exit::FAILED;
            }
        },
        Err(e) => {
            eprintln!("lifeboat: {e}");
            return exit::CONFIG;
        }
    };
    let change = async {
        match note {
            Some(note) => match inventory::scan(&repo).await {
                Ok(inventory) => pins::pin(&repo, &inventory, &id, note).await.map(Some),
                Err(e) => Err(e.into()),
            },
            None => pins::unpin(&repo, &id).await,
        }
    };
    let result = pins::locked(&paths.locks(), &spec, change).await;
    let pinned = note.is_some();
    match &result {
        Ok(pin) => {
            if json {
                print_json(
                    &json!({ "ok": true, "set_id": id.to_string(), "pinned": pinned, "pin": pin }),
                );
            } else {
                print!(
                    "{}",
                    prune_text::pin_text(id.as_str(), pinned, pin.as_ref())
                );
            }
            exit::OK
        }
        Err(e) => {
            if json {
                print_json(
                    &json!({ "ok": false, "set_id": id.to_string(), "error": e.to_string() }),
                );
            }
            eprintln!("lifeboat: {e}");
            pin_code(e)
        }
    }
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

pub async fn run_retention(config: &Config, paths: &LocalPaths, action: RetentionAction) -> i32 {
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
            "policy": crate::jobs::prune_plan::describe(&policy),
            "from": now,
            "projection": projection,
        }));
    } else {
        print!("{}", prune_text::simulation_text(&policy, now, &projection));
    }
    exit::OK
}
