//! `lifeboat drill`: run a drill headless (manual steps recorded as not done), list the drill
//! history, and render a record as Markdown for an auditor.

use super::args::{DrillAction, ReportFormat};
use super::common::{cancel_on_ctrl_c, open_data_repository, resolve_set, stderr_reporter};
use crate::app::config::Config;
use crate::app::exit;
use crate::app::notify;
use crate::jobs::drill;
use crate::jobs::drill_record::{self, DrillRecord};
use crate::report;
use crate::storage::layout;
use crate::storage::manifest::Initiator;
use crate::storage::paths::LocalPaths;
use crate::storage::setid::SetId;

pub async fn run(
    config: &Config,
    paths: &LocalPaths,
    action: Option<DrillAction>,
    set: Option<String>,
    initiator: Initiator,
    json: bool,
) -> i32 {
    let repo = match open_data_repository(config) {
        Ok(r) => r,
        Err(code) => return code,
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
                    serde_json::to_string_pretty(&report::drill::list_json(&records))
                        .unwrap_or_default()
                );
            } else {
                print!("{}", report::drill::list_text(&records));
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
                .and_then(|b| DrillRecord::parse(&b).map_err(|e| e.to_string()))
            {
                Ok(r) => r,
                Err(e) => {
                    eprintln!("lifeboat: {e}");
                    return exit::FAILED;
                }
            };
            match fmt {
                ReportFormat::Markdown => print!("{}", report::drill::markdown(&record)),
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
                Some(text) => match resolve_set(config, &text).await {
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
            let (reporter, printer) = stderr_reporter();
            let cancel = cancel_on_ctrl_c();
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
                        print!("{}", report::drill::markdown(&record));
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
    let mut event = notify::Event::new("drill", &config.repository.url);
    match result {
        Ok(r) => {
            event.set_id = Some(r.set_id.to_string());
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
    notify::send(&config.notify.on_drill, &event).await;
}
