//! `lifeboat backup` (and `--resume`, `--prune`): config into a `BackupSpec`, the backup job
//! run with the stderr reporter, the result printed as text or `--json`, a failure sent to the
//! `[notify].on_failure` hooks, and its exit code.

use super::codes;
use super::common::{cancel_on_ctrl_c, print_json, stderr_reporter};
use crate::app::config::Config;
use crate::app::exit;
use crate::app::notify;
use crate::jobs::backup;
use crate::jobs::progress::Reporter;
use crate::jobs::prune;
use crate::report;
use crate::storage::manifest::Initiator;
use crate::storage::paths::LocalPaths;
use chrono::Utc;

pub async fn run(
    config: &Config,
    paths: &LocalPaths,
    initiator: Initiator,
    resume: bool,
    json: bool,
) -> i32 {
    let mut spec = match config.backup_spec(paths, initiator) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("lifeboat: {e}");
            return exit::CONFIG;
        }
    };
    spec.resume_only = resume;
    let (reporter, printer) = stderr_reporter();
    let result = backup::run(spec, reporter, cancel_on_ctrl_c()).await;
    let _ = printer.await;
    let code = codes::backup(&result);
    if json {
        print_json(&report::backup::json(&result));
    } else {
        match &result {
            Ok(outcome) => print!("{}", report::backup::text(outcome)),
            Err(e) => eprintln!("lifeboat: {}", report::outcome::backup_error_line(e)),
        }
    }
    if let Err(e) = &result {
        notify::backup_failed(config, e, code).await;
    }
    code
}

/// `backup --prune`: a backup, then (only if it succeeded) `prune --yes`. With `--json`, one
/// document: the backup's, with the prune's under `"prune"`.
pub async fn run_then_prune(
    config: &Config,
    paths: &LocalPaths,
    initiator: Initiator,
    json: bool,
) -> i32 {
    // Refused before the backup: a run that cannot prune must not look as if it had.
    let (prune_spec, backup_spec) = match (
        config.prune_spec(paths, initiator),
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
        Ok(_) => Some(prune::run(&prune_spec, true, &Reporter::silent(), cancel).await),
        Err(_) => None,
    };
    if json {
        let mut doc = report::backup::json(&backed_up);
        doc["prune"] = pruned
            .as_ref()
            .map_or(serde_json::Value::Null, report::prune::json);
        print_json(&doc);
    } else {
        match &backed_up {
            Ok(outcome) => print!("{}", report::backup::text(outcome)),
            Err(e) => eprintln!(
                "lifeboat: {}; nothing was pruned",
                report::outcome::backup_error_line(e)
            ),
        }
        match &pruned {
            Some(Ok(r)) => print!("{}", report::prune::report_text(r, Utc::now())),
            Some(Err(e)) => eprintln!("lifeboat: {}", report::outcome::prune_error_line(e)),
            None => {}
        }
    }
    if let Err(e) = &backed_up {
        notify::backup_failed(config, e, codes::backup(&backed_up)).await;
    }
    match pruned {
        Some(Err(e)) => {
            if json {
                eprintln!("lifeboat: {}", report::outcome::prune_error_line(&e));
            }
            codes::prune(&e)
        }
        _ => codes::backup(&backed_up),
    }
}
