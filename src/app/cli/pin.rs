//! `lifeboat pin SET --note NOTE` and `unpin SET`: a pin in the repository keeps a set from
//! every prune; the result as text or `--json`.

use super::codes;
use super::common::print_json;
use crate::app::config::Config;
use crate::app::exit;
use crate::jobs::inventory;
use crate::jobs::pins;
use crate::report;
use crate::storage::paths::LocalPaths;
use crate::storage::repository::Repository;
use crate::storage::setid::SetId;
use serde_json::json;

/// `pin SET --note NOTE` (with a note) or `unpin SET` (without).
pub async fn run(
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
                    report::prune::pin_text(id.as_str(), pinned, pin.as_ref())
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
            codes::pin(e)
        }
    }
}
