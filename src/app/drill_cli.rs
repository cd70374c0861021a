//! `lifeboat drill`: run a drill headless (manual steps recorded as not done), list the drill
//! history, and render a record as Markdown for an auditor.

use super::cli::{DrillAction, ReportFormat};
use super::config::Config;
use super::exit;
use crate::jobs::drill;
use crate::jobs::drill_record::{self, DrillRecord};
use crate::jobs::progress::{JobEvent, Reporter};
use crate::jobs::CancellationToken;
use crate::storage::layout;
use crate::storage::manifest::Initiator;
use crate::storage::paths::LocalPaths;
use crate::storage::repository::Repository;
use crate::storage::setid::SetId;
use crate::ui::format;
use std::io::IsTerminal;

pub async fn run(
    config: &Config,
    paths: &LocalPaths,
    action: Option<DrillAction>,
    set: Option<String>,
    initiator: Initiator,
    json: bool,
) -> i32 {
    let repo = match config
        .data_repository()
        .map_err(|e| e.to_string())
        .and_then(|s| Repository::open(&s).map_err(|e| e.to_string()))
    {
        Ok(r) => r,
        Err(e) => {
            eprintln!("lifeboat: {e}");
            return exit::CONFIG;
        }
    };
    match action {
        Some(DrillAction::List { json }) => {
            let (records, problems) = match drill_record::load_all(&repo).await {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("lifeboat: {e}");
                    return exit::FAILED;
                }
            };
            for p in &problems {
                eprintln!("warning: {p}");
            }
            if json {
                println!(
                    "{}",
                    serde_json::to_string_pretty(&records).unwrap_or_default()
                );
            } else {
                println!(
                    "{:<25} {:<25} {:<9} {:>10} {:>10}",
                    "drill", "set", "result", "RTO", "RPO"
                );
                for r in &records {
                    println!(
                        "{:<25} {:<25} {:<9} {:>10} {:>10}",
                        r.drill_id,
                        r.set_id,
                        if r.passed {
                            "✓ pass"
                        } else if r.cancelled {
                            "cancelled"
                        } else {
                            "✗ FAIL"
                        },
                        r.rto_seconds
                            .map(|s| format::age_secs(s as i64))
                            .unwrap_or_else(|| "-".into()),
                        format::age_secs(r.rpo_seconds() as i64)
                    );
                }
            }
            exit::OK
        }
        Some(DrillAction::Report { drill, format: fmt }) => {
            let path = if drill == "latest" {
                match drill_record::load_all(&repo).await {
                    Ok((records, _)) => match records.first() {
                        Some(r) => format!("{}{}.json", layout::DRILLS_DIR, r.drill_id),
                        None => {
                            eprintln!("lifeboat: no drill recorded in {}", repo.url());
                            return exit::FAILED;
                        }
                    },
                    Err(e) => {
                        eprintln!("lifeboat: {e}");
                        return exit::FAILED;
                    }
                }
            } else {
                if SetId::parse(&drill).is_err() {
                    eprintln!("lifeboat: `{drill}` is not a drill id (see `lifeboat drill list`)");
                    return exit::CONFIG;
                }
                format!("{}{drill}.json", layout::DRILLS_DIR)
            };
            let record = match repo
                .get_small(&path, 4 * 1024 * 1024)
                .await
                .map_err(|e| e.to_string())
                .and_then(|b| DrillRecord::parse(&b))
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("lifeboat: {e}");
                    return exit::FAILED;
                }
            };
            match fmt {
                ReportFormat::Markdown => print!("{}", drill_record::markdown(&record)),
                ReportFormat::Json => println!(
                    "{}",
                    serde_json::to_string_pretty(&record).unwrap_or_default()
                ),
            }
            exit::OK
        }
        None => {
            // Resolved before the drill starts: a set that is not there is a usage error,
            // never a drill record.
            let set = match set {
                Some(text) => match super::restore_cli::resolve_set(config, &text).await {
                    Ok(id) => Some(id),
                    Err(code) => return code,
                },
                None => None,
            };
            let spec = match config.drill_spec(paths, set, initiator) {
                Ok(s) => s,
                Err(e) => {
                    eprintln!("lifeboat: {e}");
                    return exit::CONFIG;
                }
            };
            let (reporter, mut rx) = Reporter::channel();
            let tty = std::io::stderr().is_terminal();
            let printer = tokio::spawn(async move {
                while let Some(e) = rx.recv().await {
                    match e {
                        JobEvent::Phase(p) if tty => eprintln!("== {p}"),
                        JobEvent::Log(l) if tty => eprintln!("   {l}"),
                        JobEvent::Warning(w) => eprintln!("warning: {w}"),
                        _ => {}
                    }
                }
            });
            let cancel = CancellationToken::new();
            let c = cancel.clone();
            tokio::spawn(async move {
                if tokio::signal::ctrl_c().await.is_ok() {
                    c.cancel();
                }
            });
            let result = drill::run(spec, reporter, cancel).await;
            let _ = printer.await;
            notify_drill(config, &result).await;
            match result {
                Ok(record) => {
                    if json {
                        println!(
                            "{}",
                            serde_json::to_string_pretty(&record).unwrap_or_default()
                        );
                    } else {
                        print!("{}", drill_record::markdown(&record));
                    }
                    if record.passed {
                        exit::OK
                    } else if record.cancelled {
                        exit::INTERRUPTED
                    } else {
                        exit::FAILED
                    }
                }
                Err(e @ drill::DrillError::NoSuchSet(_)) => {
                    eprintln!("lifeboat: {e}");
                    exit::CONFIG
                }
                Err(e @ drill::DrillError::Setup(_)) => {
                    eprintln!("lifeboat: the drill did not run (nothing recorded): {e}");
                    exit::FAILED
                }
                Err(e) => {
                    eprintln!("lifeboat: drill failed: {e}");
                    exit::FAILED
                }
            }
        }
    }
}

/// `[notify].on_drill`: every finished drill, passed or failed, and one that could not run.
async fn notify_drill(config: &Config, result: &Result<DrillRecord, drill::DrillError>) {
    let mut event = super::notify::Event::new("drill", &config.repository.url);
    match result {
        Ok(r) => {
            event.set_id = Some(r.set_id.clone());
            event.drill_id = Some(r.drill_id.clone());
            event.passed = Some(r.passed);
            event.rto_seconds = r.rto_seconds;
            event.rpo_seconds = Some(r.rpo_seconds());
            event.error = (!r.reasons.is_empty()).then(|| r.reasons.join("; "));
        }
        Err(e) => {
            event.passed = Some(false);
            event.error = Some(e.to_string());
        }
    }
    super::notify::send(&config.notify.on_drill, &event).await;
}
