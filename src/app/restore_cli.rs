//! `lifeboat restore`: the dry run prints the plan and changes nothing; the real restore needs
//! `--yes` or the target database's name typed at the prompt.

use super::config::{Config, RestoreOptions};
use super::exit;
use crate::jobs::fetch::FetchError;
use crate::jobs::progress::{JobEvent, Reporter};
use crate::jobs::restore::{self, RestoreError};
use crate::jobs::set_choice;
use crate::jobs::CancellationToken;
use crate::storage::paths::LocalPaths;
use crate::storage::repository::Repository;
use crate::storage::setid::SetId;
use crate::ui::report;
use std::io::{BufRead, IsTerminal, Write};

/// The set named on the command line, resolved as `verify` and `drill` resolve it.
pub async fn resolve_set(config: &Config, text: &str) -> Result<SetId, i32> {
    let opened = config
        .data_repository()
        .map_err(|e| e.to_string())
        .and_then(|spec| Repository::open(&spec).map_err(|e| e.to_string()));
    let repo = match opened {
        Ok(r) => r,
        Err(e) => {
            eprintln!("lifeboat: {e}");
            return Err(exit::CONFIG);
        }
    };
    set_choice::resolve(&repo, text).await.map_err(|e| {
        eprintln!("lifeboat: {e}");
        if e.is_usage() {
            exit::CONFIG
        } else {
            exit::FAILED
        }
    })
}

fn reporter() -> (Reporter, tokio::task::JoinHandle<()>) {
    let (reporter, mut rx) = Reporter::channel();
    let tty = std::io::stderr().is_terminal();
    let task = tokio::spawn(async move {
        while let Some(event) = rx.recv().await {
            match event {
                JobEvent::Phase(p) if tty => eprintln!("== {p}"),
                JobEvent::Warning(w) => eprintln!("warning: {w}"),
                JobEvent::Log(l) if tty => eprintln!("   {l}"),
                _ => {}
            }
        }
    });
    (reporter, task)
}

fn code_for(e: &RestoreError) -> i32 {
    match e {
        RestoreError::Fetch(FetchError::Damaged { .. }) => exit::DAMAGED,
        RestoreError::Unreadable { .. } | RestoreError::Damaged { .. } => exit::DAMAGED,
        RestoreError::Cancelled(_) => exit::INTERRUPTED,
        _ => exit::FAILED,
    }
}

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
    let cancel = CancellationToken::new();
    let c = cancel.clone();
    tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            c.cancel();
        }
    });
    let (rep, printer) = reporter();
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
                    print!("{}", report::restore_plan_text(&plan));
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
                code_for(&e)
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
                print!("{}", report::restore_plan_text(&outcome.plan));
                println!(
                    "✓ restored set {} in {:.1} s",
                    outcome.plan.set_id, outcome.seconds
                );
                for step in &outcome.steps_done {
                    println!("  ✓ {step}");
                }
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
            eprintln!("lifeboat: restore failed: {e}");
            code_for(&e)
        }
    }
}
