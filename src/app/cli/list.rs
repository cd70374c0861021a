//! `lifeboat list` (complete sets, newest first, with their last verification) and
//! `lifeboat inventory` (every object grouped by set, incomplete sets, strays, open multipart
//! uploads), as text or `--json`.

use super::common::print_json;
use crate::app::config::Config;
use crate::app::exit;
use crate::jobs::{index, open_uploads};
use crate::report;
use crate::storage::journal::Journal;
use crate::storage::paths::LocalPaths;
use crate::storage::repository::Repository;

pub async fn run(config: &Config, paths: &LocalPaths, json: bool, everything: bool) -> i32 {
    let spec = match config.data_repository() {
        Ok(s) => s,
        Err(e) => {
            eprintln!("lifeboat: {e}");
            return exit::CONFIG;
        }
    };
    // Every object listed, manifests read only when new or changed (`jobs::index`).
    let scanned = match Repository::open(&spec) {
        Ok(repo) => index::load(&repo, paths, index::Freshness::Full, None)
            .await
            .map(|indexed| indexed.inventory),
        Err(e) => Err(e),
    };
    let inventory = match scanned {
        Ok(i) => i,
        Err(e) => {
            eprintln!("lifeboat: {e}");
            return exit::FAILED;
        }
    };
    let journal = Journal::new(paths.journal()).read().unwrap_or_default();
    match (everything, json) {
        (false, true) => print_json(&report::inventory::list_json(&inventory, &journal)),
        (false, false) => print!("{}", report::inventory::list_text(&inventory, &journal)),
        (true, true) => {
            let mut value = report::inventory::inventory_json(&inventory);
            let open = open_uploads::list(&spec).await;
            report::inventory::add_open_uploads_json(&mut value, &open);
            print_json(&value);
        }
        (true, false) => {
            print!("{}", report::inventory::inventory_text(&inventory));
            print!(
                "{}",
                report::inventory::open_uploads_text(&open_uploads::list(&spec).await)
            );
        }
    }
    exit::OK
}
