//! `lifeboat prune [--yes]`: config into a `PruneSpec`, the prune job run (a preview, or the
//! deletion under the repository lock), the result as text or `--json`, and its exit code.

use super::codes;
use super::common::{cancel_on_ctrl_c, print_json};
use crate::app::config::Config;
use crate::app::exit;
use crate::jobs::progress::Reporter;
use crate::jobs::prune;
use crate::report;
use crate::storage::manifest::Initiator;
use crate::storage::paths::LocalPaths;
use chrono::Utc;

pub async fn run(config: &Config, paths: &LocalPaths, yes: bool, json: bool) -> i32 {
    let spec = match config.prune_spec(paths, Initiator::Cli) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("lifeboat: prune refused: {e}");
            return exit::CONFIG;
        }
    };
    let result = prune::run(&spec, yes, &Reporter::silent(), cancel_on_ctrl_c()).await;
    let warnings = result
        .iter()
        .flat_map(|r| r.outcome.iter().flat_map(|o| &o.warnings));
    warnings.for_each(|w| eprintln!("warning: {w}"));
    if json {
        print_json(&report::prune::json(&result));
        if let Err(e) = &result {
            eprintln!("lifeboat: {}", report::outcome::prune_error_line(e));
        }
    } else {
        match &result {
            Ok(r) => print!("{}", report::prune::report_text(r, Utc::now())),
            Err(e) => eprintln!("lifeboat: {}", report::outcome::prune_error_line(e)),
        }
    }
    result.as_ref().map_or_else(codes::prune, |_| exit::OK)
}
