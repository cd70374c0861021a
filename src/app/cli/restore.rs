//! `lifeboat restore`: the dry run prints the plan and changes nothing; the real restore needs
//! `--yes` or the target database's name typed at the prompt.

use super::codes;
use super::common::{cancel_on_ctrl_c, resolve_set, stderr_reporter};
use crate::app::config::{Config, RestoreOptions};
use crate::app::exit;
use crate::jobs::restore;
use crate::report;
use crate::storage::paths::LocalPaths;
use std::io::{BufRead, IsTerminal, Write};

fn confirmed_by_typing(database: &str) -> bool {
    eprint!("This replaces the database `{database}` and the files in place. Type the database name to go on: ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).is_ok() && line.trim() == database
}

pub async fn run(
    config: &Config,
    paths: &LocalPaths,
    set: &str,
    options: RestoreOptions,
    dry_run: bool,
    yes: bool,
    json: bool,
) -> i32 {
    let id = match resolve_set(config, set).await {
        Ok(id) => id,
        Err(code) => {
            return code;
        }
    };
    let spec = match config.restore_spec(paths, id, options) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("lifeboat: {e}");
            return exit::CONFIG;
        }
    };
    let cancel = cancel_on_ctrl_c();
    let (rep, printer) = stderr_reporter();
    if dry_run {
        let result = restore::dry_run(&spec, &rep, &cancel).await;
        drop(rep);
        let _ = printer.await;
        return match result {
            Ok((plan, _prepared)) => {
                if json {
                    println!(
                        "{}",
                        serde_json::to_string_pretty(&plan).unwrap_or_default()
                    );
                } else {
                    print!("{}", report::restore::plan_text(&plan));
                }
                if plan.ok() {
                    exit::OK
                } else {
                    exit::FAILED
                }
            }
            Err(e) => {
                if json {
                    println!(
                        "{}",
                        serde_json::json!({ "ok": false, "error": e.to_string() })
                    );
                }
                eprintln!("lifeboat: restore dry run failed: {e}");
                codes::restore(&e)
            }
        };
    }
    if !yes {
        let name = restore::target_database_name(&spec.target).unwrap_or_default();
        if !std::io::stdin().is_terminal() || name.is_empty() || !confirmed_by_typing(&name) {
            eprintln!("lifeboat: a real restore needs --yes, or the target database's name typed at the prompt; run with --dry-run to see the plan");
            return exit::CONFIG;
        }
    }
    let result = restore::run(spec, rep, cancel).await;
    let _ = printer.await;
    match result {
        Ok(outcome) => {
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&outcome).unwrap_or_default()
                );
            } else {
                print!("{}", report::restore::outcome_text(&outcome));
            }
            exit::OK
        }
        Err(e) => {
            if json {
                println!(
                    "{}",
                    serde_json::json!({ "ok": false, "error": e.to_string() })
                );
            }
            eprintln!("lifeboat: {}", report::outcome::restore_error_line(&e));
            codes::restore(&e)
        }
    }
}
